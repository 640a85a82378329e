# frozen_string_literal: true

require "uri"
require_relative "errors"
require_relative "stream"

module Chute
  # Runs, through the gateway's HTTP API: what Client#runs is.
  class Runs
    # How long a waited trigger and each result request wait at the gateway
    # for the run to end before answering 202 (and being asked again).
    WAIT_MS = 30_000
    # Long enough for the gateway's wait and then some: a read timeout is a
    # gateway that stopped answering, not a run that takes long.
    WAIT_READ_TIMEOUT = 90

    def initialize(http)
      @http = http
    end

    # Triggers a run of +task+ (a Task, or a task's name) with +input+ (JSON); returns its id.
    def trigger(task, input = {})
      name, body = trigger_request(task, input)
      _, json = @http.request("POST", "/api/v1/tasks/#{escape(name)}/runs", body: body, accept: [201])
      json.fetch("runId")
    end

    # Triggers a run and waits for its end; returns the run, like #wait_for_end.
    # The trigger itself waits (waitMs), so a run that ends within WAIT_MS
    # costs one exchange; a longer one is waited for as #wait_for_end does.
    # Like #trigger, the trigger is never sent twice: its answer comes only
    # once the run ended or the wait is over, and a connection that breaks
    # meanwhile raises ApiError (CONNECTION_LOST) with the run possibly
    # started.
    def trigger_and_wait(task, input = {})
      name, body = trigger_request(task, input)
      path = "/api/v1/tasks/#{escape(name)}/runs?waitMs=#{WAIT_MS}"
      status, run = @http.request("POST", path, body: body, read_timeout: WAIT_READ_TIMEOUT)
      return run if status == 200

      # 202: the run had not ended within the wait. (A gateway older than
      # waitMs ignores it and answers 201 with the id alone.)
      wait_for_end(run.fetch("runId"))
    end

    # Triggers a run and waits for its output (RunFailedError if it does not complete).
    def run(task, input = {})
      outcome(trigger_and_wait(task, input))
    end

    # The run as the gateway sees it (a Hash: "status", "output", "error", "attempt"...).
    def get(run_id)
      @http.request("GET", "/api/v1/runs/#{escape(run_id)}", accept: [200]).last
    end

    # Asks for the run to be cancelled; its task's context reports cancelled? and stops.
    def cancel(run_id)
      @http.request("POST", "/api/v1/runs/#{escape(run_id)}/cancel", body: {}, accept: [200, 202])
      nil
    end

    # Waits (long-polling the gateway) for the run's end and returns the run.
    # A gateway that is briefly away (restarting, or UNAVAILABLE) is asked
    # again, up to +max_failures+ times in a row.
    def wait_for_end(run_id, max_failures: 5)
      failures = 0
      loop do
        status, run = @http.request("GET", "/api/v1/runs/#{escape(run_id)}/result?timeoutMs=#{WAIT_MS}",
                                    read_timeout: WAIT_READ_TIMEOUT)
        return run if status == 200

        failures = 0
      rescue ApiError => e
        raise unless e.status.zero? || e.status >= 500
        raise if (failures += 1) > max_failures

        sleep([2.0, 0.1 * (2**(failures - 1))].min)
      end
    end

    # The output of a run that completed; RunFailedError for any other end.
    def result(run_id)
      outcome(wait_for_end(run_id), run_id)
    end

    # The chunks a run publishes from now on, as Strings, until its stream
    # ends. With a block, yields each chunk and returns nil; without one,
    # returns an Enumerator. Bytes chunks are decoded as UTF-8 (a character
    # split across chunks is kept whole) unless +raw+ is set, which yields them
    # as binary Strings.
    #
    # A connection that drops is resumed after the last chunk received (nothing
    # lost, nothing repeated); after +max_reconnects+ failures in a row,
    # StreamDisconnectedError. +after+ ("N" or "A:N") resumes after a chunk,
    # <tt>from: :start</tt> replays the stream from its beginning.
    #
    # +on_attempt+ is called with the attempt number when a retry begins: the
    # chunks that follow start the task's output over. Default: a line on $stderr.
    def subscribe_to_stream(run_id, after: nil, from: nil, raw: false, max_reconnects: 5, on_attempt: nil, &block)
      unless block
        return enum_for(:subscribe_to_stream, run_id, after: after, from: from, raw: raw,
                                                      max_reconnects: max_reconnects, on_attempt: on_attempt)
      end

      StreamSubscription.new(@http, run_id, after: after, from: from, raw: raw, max_reconnects: max_reconnects,
                                            on_attempt: on_attempt).each(&block)
      nil
    end

    private

    # The task's name and the trigger's body.
    def trigger_request(task, input)
      body = { "input" => input }
      return [task, body] unless task.is_a?(Task)

      body["retries"] = task.retries if task.retries
      body["executionTimeoutMs"] = task.execution_timeout_ms if task.execution_timeout_ms
      [task.name, body]
    end

    # An ended run's output; RunFailedError unless it completed.
    def outcome(run, run_id = run["runId"])
      return run["output"] if run["status"] == "COMPLETED"

      raise RunFailedError.new(run_id, run["status"], run["error"])
    end

    def escape(segment)
      URI.encode_www_form_component(segment).gsub("+", "%20")
    end
  end
end
