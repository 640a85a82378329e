# frozen_string_literal: true

module Chute
  # What a task's block gets besides its input. Names follow Hatchet's SDKs.
  class Context
    def initialize(attempt)
      @attempt = attempt
    end

    # The run this attempt belongs to.
    def run_id
      @attempt.run_id
    end
    alias workflow_run_id run_id

    # 1 for the first attempt, 2 for the first retry, and so on.
    def attempt
      @attempt.number
    end

    # The worker running this attempt (the id the gateway gave it).
    def worker_id
      @attempt.worker_id
    end

    # When the platform times the attempt out unless it ends first (a Time).
    def deadline_at
      @attempt.deadline_at
    end

    # Publishes +chunk+ (a String) to the run's stream, in call order; every
    # chunk is sent before the run is reported finished. Text goes as UTF-8;
    # a binary String (Encoding::BINARY, e.g. from +String#b+ or +File.binread+)
    # goes as bytes (base64 on the wire). Raises ChunkTooLargeError for a chunk
    # over the gateway's limit (nothing is sent), and Cancelled once the attempt
    # is cancelled.
    def put_stream(chunk)
      @attempt.put_stream(chunk)
    end

    # True once the attempt is cancelled (run cancelled or timed out, run given
    # to another worker, gateway lost): the task should stop. A task that does
    # not stop gets Cancelled raised in its thread after the worker's cancel_grace.
    def cancelled?
      @attempt.cancelled?
    end

    # Why the attempt was cancelled, or nil.
    def cancel_reason
      @attempt.cancel_reason
    end
  end
end
