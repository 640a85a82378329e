# frozen_string_literal: true

require "base64"
require "json"
require "net/http"
require "openssl"
require "uri"
require_relative "errors"

module Chute
  # Splits a text/event-stream body into events, whatever the boundaries of
  # the pieces it is fed (a line, even a character, may come in two pieces).
  class SseParser
    Event = Struct.new(:name, :data, :id, keyword_init: true)

    def initialize
      @buffer = String.new(encoding: Encoding::BINARY)
      reset
    end

    # Feeds a piece of the body; yields each event it completes.
    def feed(piece)
      @buffer << piece.b
      while (index = @buffer.index("\n"))
        line = @buffer.slice!(0, index + 1).chomp.force_encoding(Encoding::UTF_8)
        event = take(line)
        yield event if event
      end
    end

    private

    def reset
      @name = nil
      @data = nil
      @id = nil
    end

    # One line of the body; returns the event a blank line completes.
    def take(line)
      if line.empty?
        event = @data && Event.new(name: @name || "message", data: @data, id: @id)
        reset
        return event
      end
      return if line.start_with?(":") # a comment (the gateway's keepalive)

      field, value = line.split(":", 2)
      value = value&.delete_prefix(" ") || ""
      case field
      when "event" then @name = value
      when "data" then @data = @data ? "#{@data}\n#{value}" : value
      when "id" then @id = value
      end
      nil
    end
  end

  # Decodes the bytes of consecutive base64 chunks as UTF-8, carrying a
  # character split between two chunks over to the next one.
  class Utf8Decoder
    # A character's length in bytes, by the smallest lead byte of that length.
    LEAD_BYTES = [[4, 0xF0], [3, 0xE0], [2, 0xC0]].freeze

    def initialize
      @pending = String.new(encoding: Encoding::BINARY)
    end

    def decode(bytes)
      @pending << bytes.b
      cut = complete_prefix_length(@pending)
      text = @pending.slice!(0, cut).force_encoding(Encoding::UTF_8)
      text.valid_encoding? ? text : text.scrub
    end

    private

    # The length of +bytes+ without a trailing incomplete UTF-8 sequence.
    def complete_prefix_length(bytes)
      size = bytes.bytesize
      back = 1
      while back <= [3, size].min
        byte = bytes.getbyte(size - back)
        if byte & 0xC0 != 0x80 # not a continuation byte: the lead of the last character
          needed = LEAD_BYTES.find { |_, lead| byte >= lead }&.first || 1
          return needed > back ? size - back : size
        end
        back += 1
      end
      size
    end
  end

  # One subscription to a run's stream over SSE, resumed after the last chunk
  # received when the connection drops, so nothing is lost or repeated.
  class StreamSubscription
    # Errors of the connection (not of the caller's block) that a resume mends.
    DROPS = [IOError, EOFError, SystemCallError, Net::ReadTimeout, Net::OpenTimeout, Net::HTTPBadResponse,
             OpenSSL::SSL::SSLError, SocketError].freeze

    # +on_attempt+ defaults to a line on $stderr; see Runs#subscribe_to_stream.
    def initialize(http, run_id, after: nil, from: nil, raw: false, max_reconnects: 5, on_attempt: nil)
      @http = http
      @run_id = run_id
      @after = after
      @from_start = from.to_s == "start" && after.nil?
      @raw = raw
      @max_reconnects = max_reconnects
      @on_attempt = on_attempt || method(:announce_attempt)
    end

    # Yields each chunk until the stream's end.
    def each(&block)
      decoder = Utf8Decoder.new
      failures = 0
      loop do
        outcome = connect_once(decoder) do |chunk|
          failures = 0
          block.call(chunk)
        end
        return if outcome == :end

        failures += 1
        if failures > @max_reconnects
          raise StreamDisconnectedError, "stream of run #{@run_id} dropped #{failures} times in a row (last: #{outcome})"
        end

        sleep([2.0, 0.1 * (2**(failures - 1))].min)
      end
    end

    private

    def announce_attempt(attempt)
      warn "chute: run #{@run_id} was retried; the stream continues with attempt #{attempt}"
    end

    # Streams until the end (returns :end) or a drop (returns what happened).
    def connect_once(decoder, &on_chunk)
      caller_error = nil
      @http.connect(stream_path, read_timeout: 60, max_retries: 0) do |connection, uri|
        request = Net::HTTP::Get.new(uri, @http.headers("Accept" => "text/event-stream", "Accept-Encoding" => "identity"))
        connection.request(request) do |response|
          status = response.code.to_i
          return refused(status, response.body.to_s) unless status == 200

          # The caller's block may raise anything, even a "network" error of its
          # own (EPIPE writing to a closed stdout): remembered here so it is
          # raised to the caller, not taken for a dropped stream.
          deliver = lambda do |chunk|
            on_chunk.call(chunk)
          rescue Exception => e # rubocop:disable Lint/RescueException
            caller_error = e
            raise
          end
          parser = SseParser.new
          response.read_body do |piece|
            parser.feed(piece) do |event|
              ended = handle(event, decoder, &deliver)
              return :end if ended
            end
          end
        end
      end
      "the connection ended before the stream's end"
    rescue *DROPS, ApiError => e
      raise if e.equal?(caller_error) || (e.is_a?(ApiError) && e.status.between?(400, 499))

      "#{e.class}: #{e.message}"
    end

    def stream_path
      query = if @after then "?after=#{URI.encode_www_form_component(@after)}"
              elsif @from_start then "?from=start"
              else
                ""
              end
      "/api/v1/runs/#{URI.encode_www_form_component(@run_id)}/stream#{query}"
    end

    # A refusal: 4xx is the caller's mistake (raised), 5xx is worth another try.
    def refused(status, body)
      parsed = begin
        JSON.parse(body)
      rescue JSON::ParserError
        nil
      end
      error = if parsed.is_a?(Hash) && parsed["code"]
                ApiError.new(status, parsed["code"], parsed["message"].to_s)
              else
                ApiError.new(status, "HTTP_ERROR", "stream of run #{@run_id} refused with #{status}")
              end
      raise error
    end

    # Acts on one event; true at the stream's end.
    def handle(event, decoder)
      case event.name
      when "chunk"
        message = JSON.parse(event.data)
        # The position to resume after: the SSE id as the gateway wrote it.
        @after = event.id || position(message)
        @from_start = false
        yield chunk_text(message, decoder)
      when "attempt" then @on_attempt.call(JSON.parse(event.data)["attempt"])
      when "end" then return true
      end
      false
    end

    def chunk_text(message, decoder)
      return message["data"] unless message["encoding"] == "base64"

      bytes = Base64.strict_decode64(message["data"])
      @raw ? bytes : decoder.decode(bytes)
    end

    def position(message)
      message["attempt"] == 1 ? message["seq"].to_s : "#{message['attempt']}:#{message['seq']}"
    end
  end
end
