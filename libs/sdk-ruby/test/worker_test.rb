# frozen_string_literal: true

require_relative "test_helper"

class WorkerTest < Minitest::Test
  include GatewayTest

  def echo_task
    @client.task(name: "echo") do |input, ctx|
      ctx.put_stream("one ")
      ctx.put_stream("two")
      { "echo" => input, "worker" => ctx.worker_id, "attempt" => ctx.attempt }
    end
  end

  def test_registers_its_tasks_and_slots_with_the_token_then_heartbeats
    _, session = start_worker([echo_task, @client.task(name: "other") { nil }], slots: 3)

    assert_equal({ "type" => "register", "name" => "test-worker", "tasks" => %w[echo other], "slots" => 3 },
                 session.next_message)
    assert_equal "Bearer secret-token", session.headers["authorization"]
    2.times { assert_equal "heartbeat", session.next_message(skip: []).fetch("type") }
  end

  def test_runs_an_assignment_started_chunks_in_order_then_completed_with_the_output
    _, session = start_worker([echo_task])
    session.next_message # register
    session.assign(RUN_ID, "echo", { "n" => 1 }, attempt: 2)

    ref = { "runId" => RUN_ID, "attempt" => 2 }
    assert_equal ref.merge("type" => "started"), session.next_message
    assert_equal ref.merge("type" => "chunk", "data" => "one ", "encoding" => "utf8"), session.next_message
    assert_equal ref.merge("type" => "chunk", "data" => "two", "encoding" => "utf8"), session.next_message
    output = { "echo" => { "n" => 1 }, "worker" => session.worker_id, "attempt" => 2 }
    assert_equal ref.merge("type" => "completed", "output" => output), session.next_message
  end

  def test_binary_strings_go_base64_and_nil_output_is_null
    task = @client.task(name: "bytes") do |_input, ctx|
      ctx.put_stream("\xFF\x00caf\xC3".b)
      ctx.put_stream("é")
      nil
    end
    _, session = start_worker([task])
    session.next_message
    session.assign(RUN_ID, "bytes")
    session.next_message # started

    chunk = session.next_message
    assert_equal "base64", chunk["encoding"]
    assert_equal "\xFF\x00caf\xC3".b, Base64.strict_decode64(chunk["data"])
    assert_equal %w[é utf8], session.next_message.values_at("data", "encoding")
    assert_equal({ "type" => "completed", "runId" => RUN_ID, "attempt" => 1, "output" => nil }, session.next_message)
  end

  def test_an_exception_fails_the_attempt_and_non_retryable_error_says_so
    tasks = [
      @client.task(name: "boom") { raise ArgumentError, "bad input" },
      @client.task(name: "final") { raise Chute::NonRetryableError, "give up" }
    ]
    _, session = start_worker(tasks)
    session.next_message
    session.assign(RUN_ID, "boom")
    session.assign(OTHER_RUN_ID, "final")

    failures = 4.times.map { session.next_message }.select { |m| m["type"] == "failed" }.to_h { |m| [m["runId"], m["error"]] }
    assert_equal ["ArgumentError", "bad input"], failures[RUN_ID].values_at("name", "message")
    assert_equal false, failures[RUN_ID]["nonRetryable"]
    assert_includes failures[RUN_ID]["stack"], "worker_test.rb"
    assert_equal ["Chute::NonRetryableError", "give up", true],
                 failures[OTHER_RUN_ID].values_at("name", "message", "nonRetryable")
  end

  def test_an_unknown_task_and_an_output_that_is_not_json_fail_for_good
    _, session = start_worker([@client.task(name: "nan") { Float::NAN }])
    session.next_message
    session.assign(RUN_ID, "nan")
    session.next_message
    error = session.next_message.fetch("error")
    assert_equal true, error["nonRetryable"]
    assert_match(/not JSON-serializable/, error["message"])

    session.assign(OTHER_RUN_ID, "missing")
    session.next_message
    assert_match(/does not serve task "missing"/, session.next_message.dig("error", "message"))
  end

  def test_a_chunk_over_the_limit_raises_chunk_too_large_and_sends_nothing
    @gateway.max_chunk_bytes = 8
    task = @client.task(name: "big") do |_input, ctx|
      # "é" * 5 is 10 bytes in 5 characters: the limit is in bytes.
      errors = ["x" * 9, "é" * 5].map do |chunk|
        ctx.put_stream(chunk)
      rescue Chute::ChunkTooLargeError => e
        [e.message, e.bytes, e.limit]
      end
      ctx.put_stream("12345678")
      errors
    end
    _, session = start_worker([task])
    session.next_message
    session.assign(RUN_ID, "big")
    session.next_message # started

    assert_equal "12345678", session.next_message["data"], "nothing was sent for the chunks over the limit"
    completed = session.next_message
    assert_equal "completed", completed["type"]
    (message, bytes, limit), (_, multibyte,) = completed["output"]
    assert_equal [9, 8, 10], [bytes, limit, multibyte]
    assert_match(/9 bytes exceeds the limit of 8 bytes/, message)
  end

  def test_cancel_sets_cancelled_and_nothing_more_is_sent_for_the_attempt
    seen = Queue.new
    task = @client.task(name: "loop") do |_input, ctx|
      ctx.put_stream("first")
      sleep 0.01 until ctx.cancelled?
      seen << ctx.cancel_reason
      ctx.put_stream("after cancel")
    rescue Chute::Cancelled
      seen << :raised_from_put_stream
      raise
    end
    _, session = start_worker([task])
    session.next_message
    session.assign(RUN_ID, "loop")
    2.times { session.next_message }
    session.send_json("type" => "cancel", "runId" => RUN_ID, "attempt" => 1, "reason" => "run cancelled")

    assert_equal "run cancelled", seen.pop
    assert_equal :raised_from_put_stream, seen.pop
    sleep 0.2
    assert_empty(session.drain_messages.reject { |m| m["type"] == "heartbeat" })
  end

  def test_a_task_that_ignores_cancel_gets_cancelled_raised_after_the_grace_period
    ended = Queue.new
    task = @client.task(name: "stuck") do
      sleep 30
    rescue StandardError
      ended << :rescued_as_standard_error
    ensure
      ended << $!.class # rubocop:disable Style/SpecialGlobalVars
    end
    _, session = start_worker([task], cancel_grace: 0.1)
    session.next_message
    session.assign(RUN_ID, "stuck")
    session.next_message
    started = Time.now
    session.send_json("type" => "cancel", "runId" => RUN_ID, "attempt" => 1, "reason" => "timed out")

    assert_equal Chute::Cancelled, ended.pop
    assert_operator Time.now - started, :<, 2
    sleep 0.2
    assert_empty(session.drain_messages.reject { |m| m["type"] == "heartbeat" })
  end

  def test_a_lost_socket_cancels_the_attempt_then_the_worker_reconnects_and_registers_again
    cancelled = Queue.new
    task = @client.task(name: "long") do |_input, ctx|
      sleep 0.01 until ctx.cancelled?
      cancelled << ctx.cancel_reason
      "late"
    end
    worker, session = start_worker([task])
    session.next_message
    first_id = worker.worker_id
    session.assign(RUN_ID, "long")
    session.next_message
    session.close(1001, "going away")

    assert_match(/connection to the gateway lost/, cancelled.pop)
    again = @gateway.next_worker
    assert_equal "register", again.next_message["type"]
    eventually { worker.worker_id && worker.worker_id != first_id }
    sleep 0.2
    assert_empty again.drain_messages.reject { |m| m["type"] == "heartbeat" }, "the old attempt sent nothing on the new socket"
  end

  def test_a_protocol_violation_close_is_logged_loudly_and_the_worker_still_reconnects
    _, session = start_worker([echo_task])
    session.next_message
    session.send_json("type" => "error", "code" => "INVALID_MESSAGE", "message" => "chunk: data: expected string")
    session.close(1008, "invalid message")

    assert_equal "register", @gateway.next_worker.next_message["type"]
    assert_match(/ERROR -- : gateway closed the socket with 1008 .*its last error: INVALID_MESSAGE: chunk: data: expected string/,
                 @log.string)
  end

  def test_rotates_through_the_gateway_list_and_waits_for_registered_before_giving_up_on_one
    dead = TCPServer.new("127.0.0.1", 0)
    dead_port = dead.addr[1]
    dead.close
    client = Chute::Client.new(gateway_url: "http://127.0.0.1:#{dead_port}, #{@gateway.url}", logger: Logger.new(@log))
    worker = client.worker("rotating", workflows: [echo_task], handle_signals: false, register_timeout: 0.3)
    @gateway.answer_register = false
    thread = Thread.new { worker.start }
    @workers << [worker, thread]

    silent = @gateway.next_worker
    assert_equal "register", silent.next_message["type"]
    @gateway.answer_register = true
    assert_equal "register", @gateway.next_worker.next_message["type"]
    assert_match(/did not answer register within 0.3 s/, @log.string)
    assert_match(%r{could not connect to http://127.0.0.1:#{dead_port}}, @log.string)
  end

  def test_a_refused_token_fails_start
    server = TCPServer.new("127.0.0.1", 0)
    thread = Thread.new do
      io = server.accept
      io.gets("\r\n\r\n")
      body = '{"code":"UNAUTHORIZED","message":"token lacks the workers scope"}'
      io.write("HTTP/1.1 401 Unauthorized\r\nContent-Length: #{body.bytesize}\r\n\r\n#{body}")
      io.close
    end
    client = Chute::Client.new(gateway_url: "http://127.0.0.1:#{server.addr[1]}", logger: Logger.new(@log))
    worker = client.worker("w", workflows: [echo_task], handle_signals: false)

    error = assert_raises(Chute::ApiError) { worker.start }
    assert_equal [401, "UNAUTHORIZED"], [error.status, error.code]
    assert_match(/workers scope/, error.message)
  ensure
    thread&.join
    server&.close
  end

  def test_stop_drains_waits_for_the_running_attempt_then_closes_the_socket_normally
    release = Queue.new
    task = @client.task(name: "slow") do |_input, ctx|
      release.pop
      ctx.put_stream("done")
      "finished"
    end
    worker, session = start_worker([task])
    session.next_message
    session.assign(RUN_ID, "slow")
    session.next_message
    stopper = Thread.new { worker.stop }

    assert_equal({ "type" => "drain" }, session.next_message)
    release << :go
    assert_equal "done", session.next_message["data"]
    assert_equal "finished", session.next_message["output"]
    assert stopper.join(5), "stop returned"
    assert session.wait_closed
    assert_equal 1000, session.close_code
    assert @workers.first.last.join(5), "start returned"
  end

  def test_the_drain_deadline_gives_up_on_attempts_still_running
    task = @client.task(name: "forever") { sleep 30 }
    worker, session = start_worker([task], drain_timeout: 0.2, cancel_grace: 0.1)
    session.next_message
    session.assign(RUN_ID, "forever")
    session.next_message

    assert Thread.new { worker.stop }.join(5)
    assert_equal 1000, (session.wait_closed && session.close_code)
    assert_match(/drain deadline of 0.2 s passed with 1 attempts running/, @log.string)
  end
end
