# frozen_string_literal: true

require "base64"
require "json"
require_relative "context"
require_relative "errors"
require_relative "web_socket"

module Chute
  # One attempt of a run on this worker: runs the task's block in its own
  # thread and reports started, its chunks, then completed or failed over the
  # connection it was assigned on.
  #
  # Cancelling is cooperative first: Context#cancelled? turns true, put_stream
  # raises Cancelled, and nothing more is sent for the attempt. A task still
  # running after +cancel_grace+ seconds gets Cancelled raised in its thread
  # (Thread#raise). The SDK's own sections (sending a message, the end of the
  # attempt) defer that exception with Thread.handle_interrupt, so it can only
  # land in the task's code, never halfway through a frame on the socket.
  class Attempt
    MAX_ERROR_TEXT = 64 * 1024

    attr_reader :run_id, :number, :deadline_at, :cancel_reason

    # +assignment+ is the gateway's `assigned` message; +on_end+ is called
    # (with this attempt) when its thread is done.
    def initialize(assignment, task:, connection:, cancel_grace:, logger:, &on_end)
      @run_id = assignment.fetch("runId")
      @number = assignment.fetch("attempt")
      @task_name = assignment.fetch("task")
      @input = assignment["input"]
      @deadline_at = Time.at(assignment.fetch("deadlineAt") / 1000.0)
      @task = task
      @connection = connection
      @cancel_grace = cancel_grace
      @logger = logger
      @on_end = on_end
      @lock = Mutex.new
      @cancel_reason = nil
    end

    def key
      "#{@run_id}/#{@number}"
    end

    def worker_id
      @connection.worker_id
    end

    def cancelled?
      !@cancel_reason.nil?
    end

    # Starts the task's thread. Cancelled stays deferred from the thread's first
    # instruction (a new thread inherits the mask it is created under).
    def start
      Thread.handle_interrupt(Cancelled => :never) do
        @thread = Thread.new do
          Thread.handle_interrupt(Cancelled => :never) { execute }
        end
      end
      self
    end

    # Stops the attempt: nothing more is sent for it, and its thread gets
    # Cancelled after the grace period if the task has not ended by then.
    def cancel(reason)
      @lock.synchronize do
        return if cancelled?

        @cancel_reason = reason
      end
      @logger.info("attempt #{key} cancelled: #{reason}")
      Thread.new do
        sleep @cancel_grace
        @thread.raise(Cancelled, "attempt #{key} cancelled: #{reason}") if @thread&.alive?
      end
    end

    # Waits up to +timeout+ seconds for the thread; true when it has ended.
    def join(timeout)
      !@thread.join(timeout).nil?
    end

    # @api private: Context#put_stream.
    def put_stream(chunk)
      raise TypeError, "put_stream takes a String, got #{chunk.class}" unless chunk.is_a?(String)

      message = chunk_message(chunk)
      # Checked after the encoding: the limit is on the bytes the gateway decodes.
      size = chunk.encoding == Encoding::BINARY ? chunk.bytesize : message["data"].bytesize
      limit = @connection.max_chunk_bytes
      raise ChunkTooLargeError.new(size, limit) if size > limit

      sent = Thread.handle_interrupt(Cancelled => :never) { deliver(message) }
      raise Cancelled, "attempt #{key} cancelled: #{@cancel_reason}" unless sent

      nil
    end

    private

    def execute
      return unless deliver(ref("started"))

      outcome = begin
        raise NonRetryableError, "this worker does not serve task #{@task_name.inspect}" unless @task

        output = Thread.handle_interrupt(Cancelled => :immediate) { @task.call(@input, Context.new(self)) }
        ref("completed").merge("output" => json(output))
      rescue Cancelled
        nil
      rescue Exception => e # rubocop:disable Lint/RescueException -- any failure of the task is data for the run
        ref("failed").merge("error" => task_error(e))
      end
      deliver(outcome) if outcome
    ensure
      @on_end.call(self)
    end

    # Sends +message+ unless the attempt is cancelled; false when it is not sent.
    # Holding the lock while sending keeps a cancel from slipping in between
    # the check and the send.
    def deliver(message)
      @lock.synchronize do
        return false if cancelled?

        @connection.send_message(message)
        true
      end
    rescue WebSocket::ClosedError => e
      # The connection is gone; it cancels every attempt it carried.
      @lock.synchronize { @cancel_reason ||= "connection to the gateway lost: #{e.message}" }
      false
    end

    def ref(type)
      { "type" => type, "runId" => @run_id, "attempt" => @number }
    end

    def chunk_message(chunk)
      if chunk.encoding == Encoding::BINARY
        return ref("chunk").merge("data" => Base64.strict_encode64(chunk), "encoding" => "base64")
      end

      text = chunk.encoding == Encoding::UTF_8 ? chunk : chunk.encode(Encoding::UTF_8)
      unless text.valid_encoding?
        raise ArgumentError, "put_stream: chunk is not valid UTF-8; to send bytes, pass a binary String (chunk.b)"
      end

      ref("chunk").merge("data" => text, "encoding" => "utf8")
    end

    # The task's return value as JSON; a value that is not JSON fails the attempt for good.
    def json(value)
      JSON.parse(JSON.generate(value))
    rescue JSON::GeneratorError, JSON::NestingError => e
      raise NonRetryableError, "task output is not JSON-serializable: #{e.message}"
    end

    def task_error(error)
      {
        "name" => (error.class.name || "Error")[0, 200],
        "message" => utf8(error.message)[0, MAX_ERROR_TEXT],
        "stack" => utf8((error.backtrace || []).join("\n"))[0, MAX_ERROR_TEXT],
        "nonRetryable" => error.is_a?(NonRetryableError)
      }
    end

    # JSON takes only valid UTF-8; an error message may be anything.
    def utf8(text)
      text.to_s.dup.force_encoding(Encoding::UTF_8).scrub
    end
  end
end
