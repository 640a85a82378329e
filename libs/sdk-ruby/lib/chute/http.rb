# frozen_string_literal: true

require "json"
require "net/http"
require "openssl"
require "uri"
require_relative "connection_pool"
require_relative "errors"

module Chute
  # A small JSON client for the gateway's HTTP API, over persistent
  # connections (ConnectionPool). Errors come back as ApiError with the
  # gateway's {code, message}; a gateway that cannot be reached at all is
  # skipped for the next one in the list (the request never reached it, so
  # sending it elsewhere cannot run it twice).
  class Http
    # Errors that prove the request never reached the gateway.
    UNREACHABLE = [Errno::ECONNREFUSED, Errno::EHOSTUNREACH, Errno::ENETUNREACH, Net::OpenTimeout, SocketError].freeze
    # Errors of a connection that broke once the request was sent: it may have been acted on.
    BROKEN = [IOError, SystemCallError, Net::ReadTimeout, Net::WriteTimeout, Net::HTTPBadResponse,
              OpenSSL::SSL::SSLError].freeze
    # What a kept connection the gateway closed meanwhile gives (a timeout is not one of them).
    STALE = [EOFError, Errno::ECONNRESET, Errno::EPIPE, Errno::ECONNABORTED].freeze

    def initialize(gateways, token)
      @gateways = gateways
      @headers = { "Accept" => "application/json", "User-Agent" => "chute-ruby/#{VERSION}" }
      @headers["Authorization"] = "Bearer #{token}" if token && !token.empty?
      @headers.freeze
      @post_headers = @headers.merge("Content-Type" => "application/json").freeze
      @pool = ConnectionPool.new
    end

    # Sends +body+ (JSON) and returns [status, parsed JSON]; raises ApiError
    # unless the status is one of +accept+.
    def request(method, path, body: nil, accept: [200, 201, 202], read_timeout: 60)
      status, text = perform(method, path, body, read_timeout)
      json = parse(status, text)
      return [status, json] if accept.include?(status)

      raise ApiError.new(status, json["code"], json["message"].to_s) if json.is_a?(Hash) && json["code"].is_a?(String)

      raise ApiError.new(status, "HTTP_ERROR", "gateway answered #{status} to #{method} #{path}")
    end

    # The headers every request carries.
    def headers(extra = {})
      extra.empty? ? @headers : @headers.merge(extra)
    end

    # Closes the idle kept connections (later requests open new ones).
    def close
      @pool.close
    end

    # Opens a connection of its own to the current gateway (the next ones if
    # it cannot be reached) and yields it with the URI of +path+ on that
    # gateway; it is closed afterwards. For streams: a kept connection would
    # gain nothing on a request that lasts minutes.
    # +max_retries+ is Net::HTTP's silent resend of an idempotent request that
    # failed, which a stream must not have: it would resend the request from
    # the top while the caller has already read part of the body.
    def connect(path, read_timeout:, max_retries: 1, &)
      failover(path) do |base|
        uri = URI("#{base}#{path}")
        Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https", open_timeout: 10,
                                            read_timeout: read_timeout, max_retries: max_retries) do |http|
          yield http, uri
        end
      end
    end

    private

    # Yields the current gateway's URL; moves on to the next one while they
    # cannot be reached, until each was tried.
    def failover(path)
      attempts = 0
      begin
        base = @gateways.current
        yield base
      rescue *UNREACHABLE => e
        attempts += 1
        if attempts >= @gateways.urls.size
          raise ApiError.new(0, "UNREACHABLE", "no gateway answered (last: #{base}#{path}: #{e.message})")
        end

        @gateways.rotate
        retry
      end
    end

    def perform(method, path, body, read_timeout)
      payload = body && JSON.generate(body)
      failover(path) { |base| exchange(base, method, path, payload, read_timeout) }
    rescue *BROKEN => e
      raise ApiError.new(0, "CONNECTION_LOST", "#{method} #{path}: the connection to the gateway broke: #{e.message}")
    end

    # One request on a kept connection. A GET that met a kept connection the
    # gateway had closed (it noticed too late for Net::HTTP's check) is sent
    # once more on a new one: a GET may be repeated. A POST never is: the
    # gateway may have received it before the connection broke, and a second
    # trigger would start a second run.
    def exchange(base, method, path, payload, read_timeout)
      fresh = false
      begin
        reused = false
        @pool.with(base, read_timeout: read_timeout, fresh: fresh) do |http, prefix, kept|
          reused = kept
          response = http.request(build(method, "#{prefix}#{path}", payload))
          [response.code.to_i, response.body.to_s]
        end
      rescue *STALE
        raise unless method == "GET" && reused

        fresh = true
        retry
      end
    end

    def build(method, full_path, payload)
      return Net::HTTP::Get.new(full_path, @headers) unless method == "POST"
      return Net::HTTP::Post.new(full_path, @headers) unless payload

      request = Net::HTTP::Post.new(full_path, @post_headers)
      request.body = payload
      request
    end

    def parse(status, text)
      return nil if text.empty?

      JSON.parse(text)
    rescue JSON::ParserError
      raise ApiError.new(status, "INVALID_RESPONSE", "gateway answered #{status} with non-JSON: #{text[0, 200]}")
    end
  end
end
