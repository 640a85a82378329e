# frozen_string_literal: true

require_relative "test_helper"

class RunsTest < Minitest::Test
  include GatewayTest

  STREAM_PATH = %r{\A/api/v1/runs/#{RUN_ID}/stream\z}

  def run_view(status, output: nil, error: nil)
    { "runId" => RUN_ID, "task" => "echo", "status" => status, "input" => {}, "output" => output, "error" => error,
      "attempt" => 1, "retries" => 0, "workerId" => nil, "createdAt" => "", "updatedAt" => "",
      "startedAt" => nil, "finishedAt" => nil }
  end

  def trigger_route
    @gateway.route("POST", %r{\A/api/v1/tasks/[^/]+/runs\z}) { [201, { "runId" => RUN_ID }] }
  end

  def test_run_no_wait_triggers_with_the_input_and_the_task_options
    trigger_route
    task = @client.task(name: "echo", retries: 2, execution_timeout: "1.5m") { nil }

    ref = task.run_no_wait
    request = @gateway.next_request
    assert_equal RUN_ID, ref.workflow_run_id
    assert_equal ["POST", "/api/v1/tasks/echo/runs", {}], [request.verb, request.path, request.query]
    assert_equal({ "input" => {}, "retries" => 2, "executionTimeoutMs" => 90_000 }, request.body)
    assert_equal "Bearer secret-token", request.headers["authorization"]

    @client.task(name: "plain") { nil }.run_no_wait({ "topic" => "x" })
    assert_equal({ "input" => { "topic" => "x" } }, @gateway.next_request.body)
  end

  def test_a_run_that_ends_within_the_wait_costs_one_request
    @gateway.serve_runs { |id| FakeGateway.run_view(id, "COMPLETED", output: { "answer" => 42 }) }
    task = @client.task(name: "echo", retries: 1) { nil }

    assert_equal({ "answer" => 42 }, task.run({ "q" => 1 }))
    request = @gateway.next_request
    assert_equal({ "input" => { "q" => 1 }, "retries" => 1 }, request.body, "the body is run_no_wait's")
    assert_equal "Bearer secret-token", request.headers["authorization"]
    assert_equal ["POST", "/api/v1/tasks/echo/runs", { "waitMs" => "30000" }], [request.verb, request.path, request.query]
    assert_empty request_log, "no request but the waited trigger"
  end

  def test_after_a_202_the_run_is_waited_for_on_result
    run_ids = @gateway.serve_runs(pending: 2) { |id| FakeGateway.run_view(id, "COMPLETED", output: "late") }

    assert_equal "late", @client.task(name: "echo") { nil }.run
    result = "GET /api/v1/runs/#{run_ids.first}/result?timeoutMs=30000"
    assert_equal ["POST /api/v1/tasks/echo/runs?waitMs=30000", result, result], request_log
  end

  def test_against_a_gateway_without_wait_ms_the_run_long_polls_the_result
    trigger_route # answers 201 {runId}, whatever the query
    polls = 0
    @gateway.route("GET", %r{/result\z}) do |request|
      assert_equal "30000", request.query["timeoutMs"]
      (polls += 1) < 3 ? [202, run_view("RUNNING")] : [200, run_view("COMPLETED", output: { "answer" => 42 })]
    end

    assert_equal({ "answer" => 42 }, @client.task(name: "echo") { nil }.run({ "q" => 1 }))
    assert_equal 3, polls
  end

  def test_the_result_loop_rides_out_a_gateway_that_is_briefly_unavailable
    trigger_route
    answers = [[503, { "code" => "UNAVAILABLE", "message" => "log unreachable" }], [202, run_view("RUNNING")],
               [200, run_view("COMPLETED", output: "done")]]
    @gateway.route("GET", %r{/result\z}) { answers.shift }

    assert_equal "done", @client.task(name: "echo") { nil }.run
    assert_empty answers
  end

  def test_run_raises_run_failed_error_with_status_and_error
    error = { "name" => "ArgumentError", "message" => "bad input", "nonRetryable" => true }
    [0, 1].each do |pending|
      run_ids = @gateway.serve_runs(pending: pending) { |id| FakeGateway.run_view(id, "FAILED", error: error) }

      failure = assert_raises(Chute::RunFailedError) { @client.task(name: "echo") { nil }.run }
      assert_equal [run_ids.last, "FAILED", error], [failure.run_id, failure.status, failure.error]
      assert_equal "run #{run_ids.last} ended FAILED: ArgumentError: bad input", failure.message
    end
  end

  def test_result_of_a_reference_waits_on_result
    run_ids = @gateway.serve_runs(pending: 1)

    ref = @client.task(name: "echo") { nil }.run_no_wait
    assert_equal "done", ref.result
    result = "GET /api/v1/runs/#{run_ids.first}/result?timeoutMs=30000"
    assert_equal ["POST /api/v1/tasks/echo/runs", result, result], request_log
  end

  def test_gateway_errors_raise_api_error_with_status_and_code
    @gateway.route("POST", %r{/runs\z}) { [400, { "code" => "BAD_REQUEST", "message" => "input: too large" }] }

    error = assert_raises(Chute::ApiError) { @client.runs.trigger("echo", {}) }
    assert_equal [400, "BAD_REQUEST", "BAD_REQUEST: input: too large"], [error.status, error.code, error.message]
    error = assert_raises(Chute::ApiError) { @client.task(name: "echo") { nil }.run }
    assert_equal [400, "BAD_REQUEST"], [error.status, error.code]
  end

  def test_subscribe_yields_chunks_in_order_reports_attempts_and_ends_at_end
    @gateway.route("GET", STREAM_PATH) do |request|
      assert_equal "text/event-stream", request.headers["accept"]
      @gateway.sse(request) do |sse|
        sse.comment("keepalive")
        sse.chunk(0, "Happy ")
        sse.write("id: 1\nevent: chunk\nda")
        sse.write("ta: {\"seq\":1,\"attempt\":1,\"data\":\"fami\"}\n\n") # an event split across writes
        sse.attempt(2)
        sse.chunk(0, "Happy families", attempt: 2)
        sse.end_stream
        sse.chunk(1, "never read", attempt: 2)
      end
    end
    attempts = []

    chunks = []
    result = @client.runs.subscribe_to_stream(RUN_ID, on_attempt: ->(n) { attempts << n }) { |chunk| chunks << chunk }
    assert_nil result
    assert_equal ["Happy ", "fami", "Happy families"], chunks
    assert_equal [2], attempts
  end

  def test_the_default_on_attempt_is_a_line_on_stderr
    @gateway.route("GET", STREAM_PATH) do |request|
      @gateway.sse(request) do |sse|
        sse.attempt(3)
        sse.end_stream("FAILED")
      end
    end

    _, stderr = capture_io { @client.runs.subscribe_to_stream(RUN_ID) { nil } }
    assert_equal "chute: run #{RUN_ID} was retried; the stream continues with attempt 3\n", stderr
  end

  def test_without_a_block_it_is_an_enumerator
    @gateway.route("GET", STREAM_PATH) do |request|
      @gateway.sse(request) do |sse|
        3.times { |i| sse.chunk(i, "c#{i}") }
        sse.end_stream
      end
    end

    stream = @client.runs.subscribe_to_stream(RUN_ID)
    assert_kind_of Enumerator, stream
    assert_equal %w[c0 c1 c2], stream.to_a
    assert_equal %w[C0 C1], @client.runs.subscribe_to_stream(RUN_ID).first(2).map(&:upcase)
  end

  def test_a_dropped_stream_resumes_after_the_last_chunk_with_nothing_lost_or_repeated
    connections = []
    @gateway.route("GET", STREAM_PATH) do |request|
      connections << request.query["after"]
      @gateway.sse(request) do |sse|
        case connections.size
        when 1
          sse.chunk(0, "a")
          sse.chunk(1, "b")
          sse.drop
        when 2
          sse.attempt(2)
          sse.chunk(0, "A", attempt: 2)
          sse.drop
        else
          sse.chunk(1, "B", attempt: 2)
          sse.end_stream
        end
      end
    end

    chunks = @client.runs.subscribe_to_stream(RUN_ID, on_attempt: ->(_) {}).to_a
    assert_equal %w[a b A B], chunks
    assert_equal [nil, "1", "2:0"], connections
  end

  def test_a_stream_that_ends_without_end_is_resumed_too
    calls = 0
    @gateway.route("GET", STREAM_PATH) do |request|
      calls += 1
      @gateway.sse(request) do |sse|
        calls == 1 ? sse.chunk(0, "x") : sse.end_stream
      end
    end

    assert_equal ["x"], @client.runs.subscribe_to_stream(RUN_ID).to_a
    assert_equal 2, calls
  end

  def test_gives_up_after_max_reconnects_drops_in_a_row
    calls = 0
    @gateway.route("GET", STREAM_PATH) do |request|
      calls += 1
      @gateway.sse(request, &:drop)
    end

    error = assert_raises(Chute::StreamDisconnectedError) do
      @client.runs.subscribe_to_stream(RUN_ID, max_reconnects: 2).to_a
    end
    assert_equal 3, calls
    assert_match(/dropped 3 times in a row/, error.message)
  end

  def test_a_refused_stream_raises_at_once
    @gateway.route("GET", STREAM_PATH) { [404, { "code" => "RUN_NOT_FOUND", "message" => "no run #{RUN_ID}" }] }

    error = assert_raises(Chute::ApiError) { @client.runs.subscribe_to_stream(RUN_ID).to_a }
    assert_equal [404, "RUN_NOT_FOUND"], [error.status, error.code]
    @gateway.next_request
    assert @gateway.requests.empty?, "no second connection"
  end

  def test_an_error_raised_by_the_callers_block_is_not_taken_for_a_drop
    @gateway.route("GET", STREAM_PATH) do |request|
      @gateway.sse(request) do |sse|
        sse.chunk(0, "x")
        sse.end_stream
      end
    end

    assert_raises(Errno::EPIPE) { @client.runs.subscribe_to_stream(RUN_ID) { raise Errno::EPIPE } }
    @gateway.next_request
    assert @gateway.requests.empty?, "no second connection"
  end

  def test_base64_chunks_are_decoded_keeping_characters_split_between_chunks
    bytes = "naïve € ✓".b
    @gateway.route("GET", STREAM_PATH) do |request|
      @gateway.sse(request) do |sse|
        [bytes[0, 3], bytes[3, 6], bytes[9..]].each_with_index do |piece, i|
          sse.chunk(i, Base64.strict_encode64(piece), encoding: "base64")
        end
        sse.end_stream
      end
    end

    text = @client.runs.subscribe_to_stream(RUN_ID).to_a
    assert_equal "naïve € ✓", text.join
    assert(text.all? { |t| t.encoding == Encoding::UTF_8 && t.valid_encoding? })
    assert_equal bytes, @client.runs.subscribe_to_stream(RUN_ID, raw: true).to_a.join.b
  end

  def test_resume_options_are_sent_as_query
    queries = []
    @gateway.route("GET", STREAM_PATH) do |request|
      queries << request.query
      @gateway.sse(request, &:end_stream)
    end

    @client.runs.subscribe_to_stream(RUN_ID, after: "2:5").to_a
    @client.runs.subscribe_to_stream(RUN_ID, from: :start).to_a
    assert_equal [{ "after" => "2:5" }, { "from" => "start" }], queries
  end
end
