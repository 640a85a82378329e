# frozen_string_literal: true

module Chute
  # A run that was triggered; names follow Hatchet's WorkflowRunRef.
  class WorkflowRunRef
    attr_reader :workflow_run_id

    def initialize(workflow_run_id, runs)
      @workflow_run_id = workflow_run_id
      @runs = runs
    end

    alias run_id workflow_run_id

    # Waits for the run's end: its output, or RunFailedError.
    def result
      @runs.result(@workflow_run_id)
    end

    # The run's stream; see Runs#subscribe_to_stream.
    def stream(**options, &)
      @runs.subscribe_to_stream(@workflow_run_id, **options, &)
    end
  end

  # A task: a name and the block a worker runs for it. What Client#task returns.
  class Task
    NAME = /\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\z/
    DURATION = /\A(\d+(?:\.\d+)?)(ms|s|m|h)\z/
    UNIT_SECONDS = { "ms" => 0.001, "s" => 1, "m" => 60, "h" => 3600 }.freeze

    attr_reader :name, :retries, :execution_timeout_ms

    # +retries+: retries after a failed attempt (the platform's default, 0, when nil).
    # +execution_timeout+: one attempt's budget, in seconds or as "30s", "5m", "1h", "500ms"
    # (the platform's default, 5 minutes, when nil).
    def initialize(name:, runs:, retries: nil, execution_timeout: nil, &block)
      raise ArgumentError, "task #{name.inspect} needs a block: { |input, ctx| ... }" unless block
      unless name.is_a?(String) && NAME.match?(name)
        raise ArgumentError, "task name #{name.inspect} must be 1-128 letters, digits, \".\", \"_\", \":\" or \"-\""
      end
      unless retries.nil? || (retries.is_a?(Integer) && retries.between?(0, 100))
        raise ArgumentError, "retries must be 0-100, got #{retries.inspect}"
      end

      @name = name
      @retries = retries
      @execution_timeout_ms = execution_timeout && self.class.milliseconds(execution_timeout)
      @block = block
      @runs = runs
    end

    # Runs the task's block (on a worker).
    def call(input, ctx)
      @block.call(input, ctx)
    end

    # Triggers a run and returns at once with its reference.
    def run_no_wait(input = {})
      WorkflowRunRef.new(@runs.trigger(self, input), @runs)
    end

    # Triggers a run and waits for its output (RunFailedError if it does not
    # complete). A run that ends within 30 s costs one HTTP exchange.
    def run(input = {})
      @runs.run(self, input)
    end

    def self.milliseconds(duration)
      seconds = case duration
                when Numeric then duration
                when DURATION then Regexp.last_match(1).to_f * UNIT_SECONDS.fetch(Regexp.last_match(2))
                else raise ArgumentError, "execution_timeout must be seconds or a duration like \"30s\", got #{duration.inspect}"
                end
      raise ArgumentError, "execution_timeout must be positive, got #{duration.inspect}" unless seconds.positive?

      (seconds * 1000).round
    end
  end
end
