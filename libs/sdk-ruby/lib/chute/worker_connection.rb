# frozen_string_literal: true

require "json"
require_relative "attempt"
require_relative "errors"
require_relative "web_socket"

module Chute
  # One registered socket of the worker protocol
  # (schemas/src/worker-protocol.ts): registers, heartbeats, runs what is
  # assigned on it and cancels what the gateway cancels. The attempts it
  # carries live and die with it: when the socket closes they are cancelled
  # here, and the platform gives their runs to other workers.
  class WorkerConnection
    # Close codes of the worker protocol, and what each means for the worker.
    CLOSE_MEANINGS = {
      1000 => "closed normally",
      1001 => "the gateway is going away",
      1007 => "the gateway got a frame that is not JSON (a bug in this SDK)",
      1008 => "the gateway got a message that breaks the protocol (a bug in this SDK)",
      1009 => "the gateway got a frame too large",
      1013 => "the gateway cannot reach the log; try again later"
    }.freeze

    attr_reader :worker_id, :max_chunk_bytes

    # +tasks+ maps a task's name to its Task.
    def initialize(socket, name:, tasks:, slots:, logger:, cancel_grace:)
      @socket = socket
      @name = name
      @tasks = tasks
      @slots = slots
      @logger = logger
      @cancel_grace = cancel_grace
      @attempts = {}
      @lock = Mutex.new
      @changed = ConditionVariable.new
      @closing = false
      @served = false
      @last_error = nil
    end

    # Sends `register` and waits for `registered`; raises Error when the
    # gateway refuses or does not answer within +timeout+ seconds.
    def register(timeout:)
      send_message("type" => "register", "name" => @name, "tasks" => @tasks.keys, "slots" => @slots)
      kind, payload, reason = @socket.receive(timeout: timeout)
      raise Error, "gateway closed the socket (#{payload} #{reason}) instead of answering register" if kind == :close

      message = JSON.parse(payload)
      unless message["type"] == "registered"
        raise Error, "gateway answered register with #{message['type']}: #{message['code']} #{message['message']}"
      end

      @worker_id = message.fetch("workerId")
      @max_chunk_bytes = message.fetch("maxChunkBytes")
      @heartbeat_interval = message.fetch("heartbeatIntervalMs") / 1000.0
      self
    rescue WebSocket::ReceiveTimeout
      raise Error, "gateway did not answer register within #{timeout} s"
    rescue JSON::ParserError, KeyError => e
      raise Error, "gateway answered register with a malformed message: #{e.message}"
    end

    # Serves assignments until the socket closes; then cancels every attempt
    # still running. Returns a sentence saying how the connection ended.
    def serve
      heartbeat = Thread.new { beat }
      read_until_closed
    rescue WebSocket::ReceiveTimeout
      "the gateway answered nothing for #{liveness_timeout} s"
    rescue WebSocket::ClosedError => e
      e.message
    ensure
      @lock.synchronize do
        @served = true
        @changed.broadcast
      end
      # Closed first: a heartbeat stuck writing to a dead socket then ends too.
      @socket.terminate
      heartbeat&.join
      attempts.each { |attempt| attempt.cancel("connection to the gateway lost") }
    end

    # Stops taking work: sends `drain`, waits up to +timeout+ seconds for the
    # attempts running, cancels any still running, then closes the socket (1000).
    def drain(timeout)
      begin
        send_message("type" => "drain")
      rescue WebSocket::ClosedError
        return # the connection is gone, and its attempts with it
      end
      deadline = monotonic + timeout
      @lock.synchronize { wait_until(deadline) { @attempts.empty? || @served } }
      left = attempts
      unless left.empty?
        @logger.warn("drain deadline of #{timeout} s passed with #{left.size} attempts running; giving them up")
        left.each { |attempt| attempt.cancel("the worker is stopping") }
      end
      close
    end

    # Closes the socket (1000) and waits a moment for the gateway's answer.
    def close
      @socket.close(1000, "worker stopping")
      @lock.synchronize do
        @closing = true
        @changed.broadcast
        wait_until(monotonic + 2) { @served }
      end
      @socket.terminate
    end

    # Sends one message of the protocol (a Hash) as a JSON text frame.
    def send_message(message)
      @socket.send_text(JSON.generate(message))
    end

    private

    def attempts
      @lock.synchronize { @attempts.values }
    end

    def read_until_closed
      loop do
        kind, payload, reason = @socket.receive(timeout: liveness_timeout)
        return closed(payload, reason) if kind == :close

        dispatch(payload)
      end
    end

    # The gateway answers our pings: silence this long means the network is gone.
    def liveness_timeout
      [@heartbeat_interval * 3, 15].max
    end

    # Sends `heartbeat` (and a ping, which proves the gateway alive) every
    # interval, through the drain, until the socket closes.
    def beat
      due = monotonic
      loop do
        due += @heartbeat_interval
        ended = @lock.synchronize { wait_until(due) { @closing || @served } }
        return if ended

        send_message("type" => "heartbeat")
        @socket.ping
      end
    rescue WebSocket::ClosedError
      nil # The reader sees the same broken socket and ends the connection.
    end

    # Waits (holding the lock) until the block is true or +deadline+ passes; returns the block's value.
    def wait_until(deadline)
      until yield
        left = deadline - monotonic
        return false unless left.positive?

        @changed.wait(@lock, left)
      end
      true
    end

    def dispatch(payload)
      message = JSON.parse(payload)
      case message["type"]
      when "assigned" then assigned(message)
      when "cancel" then @lock.synchronize { @attempts["#{message['runId']}/#{message['attempt']}"] }&.cancel(message["reason"])
      when "error"
        @last_error = "#{message['code']}: #{message['message']}"
        @logger.error("gateway error #{@last_error}")
      else @logger.warn("ignoring an unexpected #{message['type'].inspect} message from the gateway")
      end
    rescue JSON::ParserError => e
      @logger.warn("ignoring a frame from the gateway that is not JSON: #{e.message}")
    end

    def assigned(message)
      attempt = Attempt.new(message, task: @tasks[message["task"]], connection: self,
                                     cancel_grace: @cancel_grace, logger: @logger) do |done|
        @lock.synchronize do
          @attempts.delete(done.key) if @attempts[done.key].equal?(done)
          @changed.broadcast
        end
      end
      @lock.synchronize do
        return @logger.warn("ignoring a second assignment of #{attempt.key}") if @attempts.key?(attempt.key)

        @attempts[attempt.key] = attempt
      end
      attempt.start
    end

    def closed(code, reason)
      meaning = CLOSE_MEANINGS.fetch(code, "closed")
      text = "gateway closed the socket with #{code} (#{meaning})#{reason.empty? ? '' : ": #{reason}"}"
      text += "; its last error: #{@last_error}" if @last_error
      # A protocol violation means this SDK is broken: say so loudly.
      @logger.error(text) if [1007, 1008].include?(code)
      text
    end

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
