# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "minitest/autorun"
require "logger"
require "stringio"
require "chute"
require_relative "support/fake_gateway"

# Shared set-up: a fake gateway per test, a client pointing at it, the worker
# log captured, and a check that every message exchanged matched its schema.
module GatewayTest
  RUN_ID = "0b7e2a56-5c1c-4f3e-9a57-1f8b3c4d5e6f"
  OTHER_RUN_ID = "5d1f7f4e-8a3b-4c2d-b1e0-9f8e7d6c5b4a"

  def setup
    super
    @gateway = FakeGateway.new
    @log = StringIO.new
    @client = Chute::Client.new(gateway_url: @gateway.url, token: "secret-token", logger: Logger.new(@log))
    @workers = []
  end

  def teardown
    @workers.each do |worker, thread|
      Thread.new { worker.stop }.join(5)
      thread.join(5)
      thread.kill
    end
    @gateway.stop
    assert_empty @gateway.problems, "messages that broke the published schemas"
    super
  end

  # Starts a worker in a thread; returns [worker, its first gateway session].
  def start_worker(tasks, slots: 5, **options)
    worker = @client.worker("test-worker", slots: slots, workflows: tasks, handle_signals: false, **options)
    thread = Thread.new { worker.start }
    thread.report_on_exception = false
    @workers << [worker, thread]
    [worker, @gateway.next_worker]
  end

  # Every request the fake received so far, as "VERB path?query".
  def request_log
    log = []
    log << @gateway.requests.pop(timeout: 0) until @gateway.requests.empty?
    log.map { |r| "#{r.verb} #{r.path}#{r.query.empty? ? '' : "?#{URI.encode_www_form(r.query)}"}" }
  end

  # Waits until the block is true (polling), failing after +timeout+ seconds.
  def eventually(timeout: 5, message: "condition never became true")
    deadline = Time.now + timeout
    until (value = yield)
      flunk message if Time.now > deadline
      sleep 0.01
    end
    value
  end
end
