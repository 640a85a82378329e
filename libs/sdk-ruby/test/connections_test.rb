# frozen_string_literal: true

require_relative "test_helper"

# The HTTP calls' kept connections: reused, replaced when the gateway closed
# them, and what may be sent again when one breaks under a request.
class ConnectionsTest < Minitest::Test
  include GatewayTest

  def run_view(status)
    FakeGateway.run_view(RUN_ID, status)
  end

  def test_sequential_requests_reuse_one_connection
    @gateway.serve_runs(pending: 1)
    task = @client.task(name: "echo") { nil }

    5.times do
      assert_equal "done", task.run
      assert_equal "done", task.run_no_wait.result
      assert_raises(Chute::ApiError) { @client.runs.wait_for_end("unknown") }
    end
    assert_equal 30, request_log.size
    assert_equal 1, @gateway.connections
  end

  def test_concurrent_callers_each_keep_a_connection
    @gateway.serve_runs
    task = @client.task(name: "echo") { nil }

    threads = Array.new(6) { Thread.new { 10.times { task.run } } }
    threads.each(&:join)
    assert_operator @gateway.connections, :<=, 6
  end

  def test_a_connection_the_gateway_closed_while_idle_is_replaced
    @gateway.serve_runs
    task = @client.task(name: "echo") { nil }
    task.run

    eventually { @gateway.idle_connections == 1 }
    assert_equal 1, @gateway.close_idle_connections
    sleep 0.05 # the FIN reaches the client
    assert_equal "done", task.run
    assert_equal 2, request_log.size, "the trigger was sent once"
    assert_equal 2, @gateway.connections
  end

  def test_a_get_that_meets_a_connection_closed_under_it_is_sent_again_once
    answers = [->(_) { [200, run_view("QUEUED")] }, ->(request) { request.io.close && nil }, ->(_) { [200, run_view("RUNNING")] }]
    @gateway.route("GET", %r{\A/api/v1/runs/#{RUN_ID}\z}) { |request| answers.shift.call(request) }
    assert_equal "QUEUED", @client.runs.get(RUN_ID)["status"] # opens the connection to be kept

    assert_equal "RUNNING", @client.runs.get(RUN_ID)["status"]
    assert_equal 3, request_log.size
    assert_equal 2, @gateway.connections
  end

  def test_a_post_that_meets_a_connection_closed_under_it_is_never_sent_again
    trigger_calls = 0
    @gateway.route("POST", %r{\A/api/v1/tasks/echo/runs\z}) do |request|
      trigger_calls += 1
      trigger_calls == 1 ? [201, { "runId" => RUN_ID }] : request.io.close && nil
    end
    task = @client.task(name: "echo") { nil }
    task.run_no_wait

    error = assert_raises(Chute::ApiError) { task.run }
    assert_equal [0, "CONNECTION_LOST"], [error.status, error.code]
    assert_equal 2, trigger_calls, "the waited trigger was sent once"
  end

  def test_a_gateway_that_closes_every_connection_is_served_all_the_same
    @gateway.keep_alive = false
    @gateway.serve_runs(pending: 1)

    3.times { assert_equal "done", @client.task(name: "echo") { nil }.run }
    assert_equal 6, @gateway.connections
  end

  def test_a_gateway_that_cannot_be_reached_is_skipped_for_the_next
    dead = TCPServer.new("127.0.0.1", 0)
    dead_port = dead.addr[1]
    dead.close
    client = Chute::Client.new(gateway_url: "http://127.0.0.1:#{dead_port},#{@gateway.url}", token: "t")
    @gateway.serve_runs

    assert_equal "done", client.task(name: "echo") { nil }.run
    assert_equal "done", client.task(name: "echo") { nil }.run
    assert_equal 2, request_log.size
    assert_equal 1, @gateway.connections
  ensure
    client&.close
  end

  def test_close_closes_the_kept_connections
    @gateway.serve_runs
    @client.task(name: "echo") { nil }.run
    eventually { @gateway.idle_connections == 1 }
    @client.close

    eventually(message: "the gateway's end did not see the close") { @gateway.idle_connections.zero? }
    assert_equal "done", @client.task(name: "echo") { nil }.run
    assert_equal 2, @gateway.connections
  end
end
