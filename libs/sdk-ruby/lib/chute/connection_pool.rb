# frozen_string_literal: true

require "net/http"
require "openssl"
require "uri"

module Chute
  # Persistent Net::HTTP connections to the gateways, shared by the threads
  # of one client. Opening a connection per request costs a TCP (and TLS)
  # handshake and leaves a socket in TIME_WAIT each time; here a request takes
  # an idle connection, or opens one, and gives it back once its exchange
  # ended cleanly. A connection whose exchange raised is closed: its state is
  # unknown (a response half read, a Thread#raise mid-write).
  #
  # Net::HTTP itself reopens a kept connection before sending on it when the
  # gateway has closed it (it checks the socket for EOF) or when it has been
  # idle longer than its keep_alive_timeout (2 s, below the idle timeouts of
  # Node's and most proxies' servers), so a request is rarely sent on a dead
  # connection.
  class ConnectionPool
    # Idle connections kept per gateway; a connection given back beyond it is
    # closed. Each waiting run holds a connection, so this is the number of
    # concurrent calls that keep theirs between requests.
    MAX_IDLE = 64
    OPEN_TIMEOUT = 10

    # A gateway's address, parsed once.
    Endpoint = Struct.new(:host, :port, :ssl, :prefix)

    def initialize(max_idle: MAX_IDLE)
      @max_idle = max_idle
      @idle = {}
      @endpoints = {}
      @lock = Mutex.new
      @pid = Process.pid
    end

    # Yields a started connection to +base+ (a gateway's URL), the gateway's
    # path prefix, and whether the connection served a request before; with
    # +fresh+, a new one. Opening one raises what Net::HTTP#start raises
    # (Errno::ECONNREFUSED, Net::OpenTimeout...): the request did not reach
    # the gateway.
    def with(base, read_timeout:, fresh: false)
      endpoint = endpoint(base)
      http = take(base) unless fresh
      reused = !http.nil?
      http ||= connect(endpoint)
      http.read_timeout = read_timeout
      clean = false
      result = yield http, endpoint.prefix, reused
      clean = true
      result
    ensure
      clean ? give_back(base, http) : discard(http)
    end

    # Closes the idle connections. Connections in use are closed when their
    # request ends, if the pool is full; later requests open new ones.
    def close
      idle = @lock.synchronize do
        list = @idle.values.flatten
        @idle.clear
        list
      end
      idle.each { |http| discard(http) }
      nil
    end

    private

    def endpoint(base)
      @lock.synchronize do
        @endpoints[base] ||= begin
          uri = URI(base)
          Endpoint.new(uri.host, uri.port, uri.scheme == "https", uri.path.chomp("/")).freeze
        end
      end
    end

    # The most recently used idle connection (the likeliest to be alive), or nil.
    def take(base)
      @lock.synchronize do
        forget_parents_connections
        @idle[base]&.pop
      end
    end

    def connect(endpoint)
      http = Net::HTTP.new(endpoint.host, endpoint.port)
      http.use_ssl = endpoint.ssl
      http.open_timeout = OPEN_TIMEOUT
      # The caller decides what may be sent again (see Http): Net::HTTP would
      # resend a GET even after a read timeout.
      http.max_retries = 0
      http.start
    end

    def give_back(base, http)
      return discard(http) unless http.started?

      kept = @lock.synchronize do
        forget_parents_connections
        list = (@idle[base] ||= [])
        list.size < @max_idle && list.push(http)
      end
      discard(http) unless kept
    end

    def discard(http)
      http&.finish if http&.started?
    rescue IOError, SystemCallError, OpenSSL::SSL::SSLError
      nil
    end

    # A forked child shares its parent's sockets: it must not use them, nor
    # close them (that would end the parent's TLS sessions). It drops them and
    # opens its own.
    def forget_parents_connections
      return if @pid == Process.pid

      @idle.clear
      @pid = Process.pid
    end
  end
end
