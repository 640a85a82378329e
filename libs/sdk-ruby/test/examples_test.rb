# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "rbconfig"

# The example programs, run as their users run them, against the fake gateway.
class ExamplesTest < Minitest::Test
  include GatewayTest

  EXAMPLES = File.expand_path("../examples", __dir__)
  SEED_TEXT = <<~TEXT
    Happy families are all alike; every unhappy family is unhappy in its own way.

    Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
  TEXT

  def env
    { "CHUTE_GATEWAY_URL" => @gateway.url, "CHUTE_TOKEN" => "example-token" }
  end

  def ruby(*args)
    [RbConfig.ruby, "-W0", "-I../lib", *args]
  end

  def test_seed_worker_streams_the_seed_text_and_drains_on_sigterm
    pid = Process.spawn(env, *ruby("seed_worker.rb"), chdir: EXAMPLES, err: File::NULL)
    session = @gateway.next_worker(timeout: 10)
    assert_equal({ "type" => "register", "name" => "stream-worker", "tasks" => ["stream_task"], "slots" => 5 },
                 session.next_message)
    assert_equal "Bearer example-token", session.headers["authorization"]
    session.assign(RUN_ID, "stream_task")
    assert_equal "started", session.next_message["type"]
    Process.kill("TERM", pid) # mid-run: the worker drains, the run still completes

    assert_equal({ "type" => "drain" }, session.next_message)
    chunks = []
    while (message = session.next_message(timeout: 10))["type"] == "chunk"
      chunks << message.fetch("data")
    end
    assert_equal "completed", message["type"]
    # The seed's Ruby task, run verbatim: `.` does not match a newline, so
    # its chunks carry the text without its line breaks.
    assert_equal SEED_TEXT.scan(/.{1,10}/), chunks
    assert_equal SEED_TEXT.delete("\n"), chunks.join
    _, status = Process.wait2(pid)
    assert status.success?, "the worker exits 0 after draining"
    assert_equal 1000, (session.wait_closed && session.close_code)
  ensure
    Process.kill("KILL", pid) if pid && !status
  end

  def serve_seed_stream(task)
    @gateway.route("POST", %r{\A/api/v1/tasks/#{task}/runs\z}) { [201, { "runId" => RUN_ID }] }
    @gateway.route("GET", %r{\A/api/v1/runs/#{RUN_ID}/stream\z}) do |request|
      @gateway.sse(request) do |sse|
        SEED_TEXT.scan(/.{1,10}/m).each_with_index { |chunk, i| sse.chunk(i, chunk) }
        sse.end_stream
      end
    end
  end

  def test_seed_consumer_prints_the_stream
    serve_seed_stream("stream_task")

    out, err, status = Open3.capture3(env, *ruby("seed_consumer.rb"), chdir: EXAMPLES)
    assert status.success?, err
    assert_equal SEED_TEXT, out
    assert_equal({ "input" => {} }, @gateway.next_request.body)
  end

  def test_consume_prints_the_named_tasks_stream_exactly
    serve_seed_stream("stream-example")

    out, err, status = Open3.capture3(env, *ruby("consume.rb", "stream-example"), chdir: EXAMPLES)
    assert status.success?, err
    assert_equal SEED_TEXT, out
    assert_equal ["/api/v1/tasks/stream-example/runs", { "input" => {} }], @gateway.next_request.to_h.values_at(:path, :body)
  end
end
