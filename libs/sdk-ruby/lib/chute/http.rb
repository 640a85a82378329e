# frozen_string_literal: true

require "json"
require "net/http"
require "openssl"
require "uri"
require_relative "errors"

module Chute
  # A small JSON client for the gateway's HTTP API. Errors come back as
  # ApiError with the gateway's {code, message}; a gateway that cannot be
  # reached at all is skipped for the next one in the list (the request never
  # reached it, so sending it elsewhere cannot run it twice).
  class Http
    # Errors that prove the request never reached the gateway.
    UNREACHABLE = [Errno::ECONNREFUSED, Errno::EHOSTUNREACH, Errno::ENETUNREACH, Net::OpenTimeout, SocketError].freeze
    # Errors of a connection that broke once the request was sent: it may have been acted on.
    BROKEN = [IOError, SystemCallError, Net::ReadTimeout, Net::WriteTimeout, Net::HTTPBadResponse,
              OpenSSL::SSL::SSLError].freeze

    def initialize(gateways, token)
      @gateways = gateways
      @token = token
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
      base = { "Accept" => "application/json", "User-Agent" => "chute-ruby/#{VERSION}" }
      base["Authorization"] = "Bearer #{@token}" if @token && !@token.empty?
      base.merge(extra)
    end

    # Opens a connection to the current gateway (the next ones if it cannot be
    # reached) and yields it with the URI of +path+ on that gateway.
    # +max_retries+ is Net::HTTP's silent resend of an idempotent request that
    # failed, which a stream must not have: it would resend the request from
    # the top while the caller has already read part of the body.
    def connect(path, read_timeout:, max_retries: 1)
      attempts = 0
      begin
        uri = URI("#{@gateways.current}#{path}")
        Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https", open_timeout: 10,
                                            read_timeout: read_timeout, max_retries: max_retries) do |http|
          yield http, uri
        end
      rescue *UNREACHABLE => e
        attempts += 1
        if attempts >= @gateways.urls.size
          raise ApiError.new(0, "UNREACHABLE",
                             "no gateway answered (last: #{uri}: #{e.message})")
        end

        @gateways.rotate
        retry
      end
    end

    private

    def perform(method, path, body, read_timeout)
      connect(path, read_timeout: read_timeout, max_retries: 0) do |http, uri|
        request = (method == "POST" ? Net::HTTP::Post : Net::HTTP::Get).new(uri, headers)
        if body
          request["Content-Type"] = "application/json"
          request.body = JSON.generate(body)
        end
        response = http.request(request)
        [response.code.to_i, response.body.to_s]
      end
    rescue *BROKEN => e
      raise ApiError.new(0, "CONNECTION_LOST", "#{method} #{path}: the connection to the gateway broke: #{e.message}")
    end

    def parse(status, text)
      return nil if text.empty?

      JSON.parse(text)
    rescue JSON::ParserError
      raise ApiError.new(status, "INVALID_RESPONSE", "gateway answered #{status} with non-JSON: #{text[0, 200]}")
    end
  end
end
