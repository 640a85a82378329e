# frozen_string_literal: true

require "openssl"
require "socket"
require_relative "errors"
require_relative "web_socket"
require_relative "worker_connection"

module Chute
  # Serves tasks through the gateway's worker protocol: connects, registers,
  # runs what it is assigned (each attempt in its own thread), and reconnects
  # when the connection is lost. What Client#worker returns.
  #
  # - Lost connection: every attempt running is cancelled locally (the
  #   platform gives those runs to other workers), then the worker reconnects
  #   with back-off (0.1 s doubling to 5 s), moving to the next gateway of
  #   CHUTE_GATEWAY_URL's list each time, and registers again (a new worker id).
  # - Stop (#stop, or SIGINT/SIGTERM while #start runs): sends `drain`, waits
  #   up to +drain_timeout+ for the attempts running, closes the socket (1000).
  class Worker
    PATH = "/api/v1/workers/connect"
    FIRST_DELAY = 0.1
    MAX_DELAY = 5.0
    STOP_SIGNALS = %w[INT TERM].freeze

    attr_reader :name, :slots

    # +workflows+: the Tasks to serve. +slots+: attempts run at once (the
    # gateway never assigns more). +drain_timeout+: how long a stop waits for
    # running attempts. +cancel_grace+: how long a cancelled task may run on
    # before Cancelled is raised in its thread. +register_timeout+: how long to
    # wait for the gateway's `registered`. +handle_signals+: whether #start
    # stops the worker on SIGINT/SIGTERM (off when the host process handles them).
    def initialize(name, workflows:, gateways:, token:, logger:, slots: 100, drain_timeout: 30, cancel_grace: 5,
                   register_timeout: 10, handle_signals: true)
      raise ArgumentError, "a worker needs at least one task in workflows:" if workflows.empty?
      unless name.is_a?(String) && name.length.between?(1, 200) && !name.match?(/\p{Cc}/)
        raise ArgumentError, "worker name must be 1-200 characters without control characters, got #{name.inspect}"
      end
      raise ArgumentError, "slots must be 1-10000, got #{slots.inspect}" unless slots.is_a?(Integer) && slots.between?(1, 10_000)

      @name = name
      @tasks = workflows.to_h { |task| [task.name, task] }
      @slots = slots
      @gateways = gateways
      @token = token
      @logger = logger
      @drain_timeout = drain_timeout
      @cancel_grace = cancel_grace
      @register_timeout = register_timeout
      @handle_signals = handle_signals
      @lock = Mutex.new
      @changed = ConditionVariable.new
      @state = :new # :new -> :running -> :stopping -> :stopped
      @connection = nil
    end

    # Connects and serves until #stop (or SIGINT/SIGTERM) has drained the
    # worker. Raises ApiError when the gateway refuses the token (401/403).
    def start
      @lock.synchronize do
        raise Error, "worker #{@name} was already started" unless @state == :new

        @state = :running
      end
      previous_traps = install_traps if @handle_signals
      begin
        serve_until_stopped
      rescue StandardError
        @lock.synchronize do
          @state = :stopped
          @changed.broadcast
        end
        raise
      end
      @lock.synchronize { @changed.wait(@lock) until @state == :stopped }
    ensure
      previous_traps&.each { |signal, handler| Signal.trap(signal, handler) }
    end

    # Drains and stops the worker; returns once it has stopped. Safe to call
    # from any thread, and more than once.
    def stop
      connection = @lock.synchronize do
        unless @state == :running
          @changed.wait(@lock) until %i[new stopped].include?(@state)
          return
        end

        @state = :stopping
        @changed.broadcast
        @connection
      end
      @logger.info("worker #{@name} stopping: draining")
      connection&.drain(@drain_timeout)
      @lock.synchronize do
        @state = :stopped
        @changed.broadcast
      end
    end

    # The id the gateway gave the current connection, or nil when not connected.
    def worker_id
      @lock.synchronize { @connection&.worker_id }
    end

    private

    def serve_until_stopped
      url = @gateways.current
      delay = FIRST_DELAY
      while running?
        delay = FIRST_DELAY if session(url)
        break unless running?

        @logger.info("reconnecting in #{delay} s")
        @lock.synchronize { @changed.wait(@lock, delay) if @state == :running }
        delay = [delay * 2, MAX_DELAY].min
        url = @gateways.rotate
      end
    end

    # One connection's life; true when it got as far as registering.
    def session(url)
      connection = connect(url)
      adopted = @lock.synchronize { (@connection = connection) if @state == :running }
      unless adopted # stopped while it was registering
        connection.close
        return true
      end

      @logger.info("worker #{@name} registered at #{url} as #{connection.worker_id} (tasks: #{@tasks.keys.join(', ')})")
      ended = connection.serve
      @logger.warn("connection to #{url} ended: #{ended}") if running?
      true
    rescue WebSocket::HandshakeError => e
      raise if [401, 403].include?(e.status)

      @logger.warn("could not connect to #{url}: #{e.message}")
      false
    rescue Error, IOError, SystemCallError, SocketError, OpenSSL::SSL::SSLError => e
      @logger.warn("could not connect to #{url}: #{e.message}")
      false
    ensure
      @lock.synchronize { @connection = nil }
    end

    def connect(url)
      headers = @token && !@token.empty? ? { "Authorization" => "Bearer #{@token}" } : {}
      socket = WebSocket.connect("#{url}#{PATH}", headers: headers, timeout: @register_timeout)
      begin
        WorkerConnection.new(socket, name: @name, tasks: @tasks, slots: @slots, logger: @logger,
                                     cancel_grace: @cancel_grace).register(timeout: @register_timeout)
      rescue StandardError
        socket.terminate
        raise
      end
    end

    def running?
      @lock.synchronize { @state == :running }
    end

    # A signal handler may not take locks: it hands the stop to a thread.
    def install_traps
      STOP_SIGNALS.to_h do |signal|
        [signal, Signal.trap(signal) { Thread.new { stop } }]
      end
    end
  end
end
