# frozen_string_literal: true

module Chute
  # The root of the SDK's errors, so `rescue Chute::Error` catches any of them.
  class Error < StandardError; end

  # The gateway answered with an error. +code+ is one of the platform's error
  # codes (docs/http-api.md in the repository: BAD_REQUEST, RUN_NOT_FOUND, UNAVAILABLE...),
  # +status+ the HTTP status (0 when no answer came at all).
  class ApiError < Error
    attr_reader :status, :code

    def initialize(status, code, message)
      @status = status
      @code = code
      super("#{code}: #{message}")
    end
  end

  # A stream dropped more times in a row than +max_reconnects+ allows.
  class StreamDisconnectedError < ApiError
    def initialize(message)
      super(0, "STREAM_DISCONNECTED", message)
    end
  end

  # A run ended without completing. +error+ is the task's failure as recorded
  # (a Hash with "name", "message", "stack", "nonRetryable"), or nil.
  class RunFailedError < Error
    attr_reader :run_id, :status, :error

    def initialize(run_id, status, error)
      @run_id = run_id
      @status = status
      @error = error
      detail = error ? ": #{error['name']}: #{error['message']}" : ""
      super("run #{run_id} ended #{status}#{detail}")
    end
  end

  # Raise from a task to fail its run at once, without spending its retries.
  class NonRetryableError < Error; end

  # Raised by Context#put_stream for a chunk over the gateway's limit. Nothing
  # is sent for that chunk; the task may split it and go on.
  class ChunkTooLargeError < Error
    attr_reader :bytes, :limit

    def initialize(bytes, limit)
      @bytes = bytes
      @limit = limit
      super("stream chunk of #{bytes} bytes exceeds the limit of #{limit} bytes; split it into smaller chunks")
    end
  end

  # Raised inside a task's thread when its attempt was cancelled (the run was
  # cancelled or timed out, went to another worker, or the worker lost its
  # gateway). It derives from Exception, not StandardError, for the same reason
  # Interrupt does: a task's `rescue => e` must not swallow it and run on.
  class Cancelled < Exception # rubocop:disable Lint/InheritException
  end
end
