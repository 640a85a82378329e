# frozen_string_literal: true

require "logger"
require_relative "gateways"
require_relative "http"
require_relative "runs"
require_relative "task"
require_relative "worker"

module Chute
  # The client: defines tasks, triggers and follows runs, and creates workers.
  #
  #   HATCHET = Chute::Client.new
  #
  # reads the gateway's URL from CHUTE_GATEWAY_URL (default
  # http://127.0.0.1:8080; a comma-separated list names several gateways) and
  # the token from CHUTE_TOKEN; the keywords override them.
  class Client
    attr_reader :runs, :gateways, :logger

    # +logger+: where workers log (default: a Logger on $stderr at INFO).
    def initialize(gateway_url: ENV.fetch("CHUTE_GATEWAY_URL", Gateways::DEFAULT_URL), token: ENV.fetch("CHUTE_TOKEN", nil),
                   logger: nil)
      @gateways = Gateways.new(gateway_url)
      @token = token
      @logger = logger || Logger.new($stderr, progname: "chute")
      @http = Http.new(@gateways, token)
      @runs = Runs.new(@http)
    end

    # Closes the connections to the gateways kept open between requests. The
    # client stays usable: a later request opens a new one.
    def close
      @http.close
    end

    # Defines a task; its block gets the run's input (parsed JSON: a Hash with
    # String keys, or whatever JSON value the run was triggered with) and a
    # Context, and returns the output (any JSON value; nil for none).
    #
    #   task = client.task(name: "summarise", retries: 2, execution_timeout: "30s") do |input, ctx|
    #     ctx.put_stream("...")
    #   end
    def task(name:, retries: nil, execution_timeout: nil, &block)
      Task.new(name: name, runs: @runs, retries: retries, execution_timeout: execution_timeout, &block)
    end

    # A worker serving +workflows+ (Tasks); call #start to run it. Options:
    # see Worker#initialize.
    def worker(name, workflows:, slots: 100, **options)
      Worker.new(name, workflows: workflows, slots: slots, gateways: Gateways.new(@gateways.urls.join(",")),
                       token: @token, logger: @logger, **options)
    end
  end
end
