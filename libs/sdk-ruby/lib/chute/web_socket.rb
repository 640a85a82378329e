# frozen_string_literal: true

require "base64"
require "digest/sha1"
require "json"
require "openssl"
require "securerandom"
require "socket"
require "uri"
require_relative "errors"

module Chute
  # A WebSocket client connection (RFC 6455): the opening handshake, masked
  # text frames out, text/ping/pong/close frames in. Just what the worker
  # protocol needs, over the standard library, since Debian ships no client we
  # could depend on without pulling in an event loop.
  #
  # One thread reads (#receive); any thread may send: writes are serialised so
  # a frame is never interleaved with another.
  class WebSocket
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    OPCODES = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xA }.freeze
    # Incoming messages larger than this close the connection (1009) rather than exhaust memory.
    MAX_MESSAGE_BYTES = 64 * 1024 * 1024

    # The server refused the upgrade; +status+ and +code+ are its HTTP answer.
    class HandshakeError < ApiError; end

    # The connection is closed, or broke. +code+ is the close code when one was received.
    class ClosedError < Error
      attr_reader :code, :reason

      def initialize(message, code: nil, reason: nil)
        @code = code
        @reason = reason
        super(message)
      end
    end

    # Opens a connection to +url+ (ws, wss, http or https), with extra request +headers+.
    # Raises HandshakeError when the server answers anything but 101.
    def self.connect(url, headers: {}, timeout: 10)
      uri = URI(url)
      secure = %w[wss https].include?(uri.scheme)
      io = Socket.tcp(uri.host, uri.port || (secure ? 443 : 80), connect_timeout: timeout)
      io = start_tls(io, uri.host) if secure
      socket = new(io)
      socket.handshake(uri, headers, timeout)
      socket
    rescue StandardError
      io&.close
      raise
    end

    def self.start_tls(tcp, host)
      context = OpenSSL::SSL::SSLContext.new
      context.set_params(verify_mode: OpenSSL::SSL::VERIFY_PEER)
      ssl = OpenSSL::SSL::SSLSocket.new(tcp, context)
      ssl.hostname = host
      ssl.sync_close = true
      ssl.connect
      ssl.post_connection_check(host)
      ssl
    end
    private_class_method :start_tls

    def initialize(io)
      @io = io
      @buffer = String.new(encoding: Encoding::BINARY)
      @write_lock = Mutex.new
      @close_sent = false
    end

    # @api private: sends the upgrade request and checks the answer.
    def handshake(uri, headers, timeout)
      deadline = monotonic + timeout
      key = Base64.strict_encode64(SecureRandom.random_bytes(16))
      path = uri.request_uri
      host = uri.port == uri.default_port ? uri.host : "#{uri.host}:#{uri.port}"
      lines = ["GET #{path} HTTP/1.1", "Host: #{host}", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: #{key}", "Sec-WebSocket-Version: 13"]
      headers.each { |name, value| lines << "#{name}: #{value}" }
      @io.write("#{lines.join("\r\n")}\r\n\r\n")

      status, response_headers = read_response_head(deadline)
      refused(status, response_headers, deadline) unless status == 101
      expected = Base64.strict_encode64(Digest::SHA1.digest(key + GUID))
      return if response_headers["sec-websocket-accept"] == expected

      raise HandshakeError.new(status, "HANDSHAKE_FAILED", "the server's Sec-WebSocket-Accept does not match the key sent")
    end

    # The next message: [:text, String] or [:close, code, reason]. Answers pings
    # itself. With +timeout+ (seconds), raises ReceiveTimeout when no whole
    # message came in that time; the connection is then unusable (a frame may
    # be half read), so the caller drops it.
    def receive(timeout: nil)
      deadline = timeout && (monotonic + timeout)
      fragments = nil
      loop do
        fin, opcode, payload = read_frame(deadline)
        case opcode
        when OPCODES[:ping] then send_frame(OPCODES[:pong], payload)
        when OPCODES[:pong] then next
        when OPCODES[:close] then return on_close(payload)
        when OPCODES[:text], OPCODES[:binary], OPCODES[:continuation]
          fragments = fragments ? fragments << payload : payload
          too_large! if fragments.bytesize > MAX_MESSAGE_BYTES
          return [:text, fragments.force_encoding(Encoding::UTF_8)] if fin
        else
          close(1002, "unknown opcode #{opcode}")
          raise ClosedError, "the server sent an unknown opcode #{opcode}"
        end
      end
    end

    # Raised when #receive had nothing within its timeout.
    class ReceiveTimeout < Error; end

    def send_text(text)
      send_frame(OPCODES[:text], text.b)
    end

    def ping
      send_frame(OPCODES[:ping], "".b)
    end

    # Starts the closing handshake (once); the server's close then ends #receive.
    def close(code = 1000, reason = "")
      @write_lock.synchronize do
        return if @close_sent

        @close_sent = true
        write_frame(OPCODES[:close], [code].pack("n") + reason.b[0, 123])
      end
    rescue IOError, SystemCallError, OpenSSL::SSL::SSLError
      nil # The connection is already gone: nothing left to tell the server.
    end

    # Closes the TCP connection at once, without the closing handshake.
    def terminate
      @io.close unless @io.closed?
    rescue IOError, SystemCallError, OpenSSL::SSL::SSLError
      nil
    end

    def closed?
      @io.closed?
    end

    # Masks +payload+ with +key+ (4 bytes) as RFC 6455 5.3 says: word by word, then the tail.
    def self.mask(payload, key)
      words = payload.bytesize / 4
      mask_word = key.unpack1("N")
      masked = payload.unpack("N#{words}").map! { |word| word ^ mask_word }.pack("N*")
      tail = payload.byteslice(words * 4, 3).bytes.each_with_index.map { |byte, i| byte ^ key.getbyte(i) }
      masked << tail.pack("C*")
    end

    private

    def send_frame(opcode, payload)
      @write_lock.synchronize do
        raise ClosedError, "the WebSocket is closing" if @close_sent

        write_frame(opcode, payload)
      end
    rescue IOError, SystemCallError, OpenSSL::SSL::SSLError => e
      raise ClosedError, "the WebSocket broke while sending: #{e.message}"
    end

    # Client frames are always masked (RFC 6455 5.1).
    def write_frame(opcode, payload)
      length = payload.bytesize
      head = [0x80 | opcode].pack("C")
      head << case length
              when 0..125 then [0x80 | length].pack("C")
              when 126..65_535 then [0x80 | 126, length].pack("Cn")
              else [0x80 | 127, length].pack("CQ>")
              end
      key = SecureRandom.random_bytes(4)
      @io.write(head << key << self.class.mask(payload, key))
    end

    def read_frame(deadline)
      first, second = read_exact(2, deadline).unpack("CC")
      length = second & 0x7F
      length = read_exact(2, deadline).unpack1("n") if length == 126
      length = read_exact(8, deadline).unpack1("Q>") if length == 127
      too_large! if length > MAX_MESSAGE_BYTES
      key = read_exact(4, deadline) if second.anybits?(0x80)
      payload = read_exact(length, deadline)
      payload = self.class.mask(payload, key) if key
      [first.anybits?(0x80), first & 0x0F, payload]
    end

    def on_close(payload)
      code = payload.bytesize >= 2 ? payload.unpack1("n") : 1005
      reason = (payload.byteslice(2..) || "").force_encoding(Encoding::UTF_8)
      close(code == 1005 ? 1000 : code)
      terminate
      [:close, code, reason]
    end

    def too_large!
      close(1009, "message too large")
      raise ClosedError, "the server sent a message over #{MAX_MESSAGE_BYTES} bytes"
    end

    def read_response_head(deadline)
      status_line = read_line(deadline)
      status = status_line[%r{\AHTTP/1\.[01] (\d{3})}, 1]&.to_i or
        raise HandshakeError.new(0, "HANDSHAKE_FAILED", "not an HTTP answer: #{status_line[0, 80].inspect}")
      headers = {}
      while (line = read_line(deadline)) != ""
        name, value = line.split(":", 2)
        headers[name.strip.downcase] = value.to_s.strip
      end
      [status, headers]
    end

    # Turns a refused upgrade into an ApiError carrying the gateway's {code, message}.
    def refused(status, headers, deadline)
      length = headers["content-length"].to_i
      body = length.positive? ? read_exact([length, 64 * 1024].min, deadline) : ""
      parsed = begin
        JSON.parse(body)
      rescue JSON::ParserError
        {}
      end
      parsed = {} unless parsed.is_a?(Hash)
      raise HandshakeError.new(status, parsed["code"] || "HTTP_ERROR",
                               parsed["message"] || "the server refused the WebSocket upgrade with #{status}")
    end

    def read_line(deadline)
      until (index = @buffer.index("\r\n"))
        fill(deadline)
        raise HandshakeError.new(0, "HANDSHAKE_FAILED", "answer headers too long") if @buffer.bytesize > 64 * 1024
      end
      line = @buffer.slice!(0, index + 2)
      line.chomp!("\r\n")
      line.force_encoding(Encoding::UTF_8)
    end

    def read_exact(count, deadline)
      fill(deadline) while @buffer.bytesize < count
      @buffer.slice!(0, count)
    end

    # Reads what is available into the buffer, waiting until +deadline+ at most.
    def fill(deadline)
      loop do
        data = @io.read_nonblock(64 * 1024, exception: false)
        case data
        when :wait_readable then wait(deadline) { |left| @io.to_io.wait_readable(left) }
        when :wait_writable then wait(deadline) { |left| @io.to_io.wait_writable(left) }
        when nil then raise ClosedError, "the server closed the connection"
        else return @buffer << data
        end
      end
    rescue IOError, SystemCallError, OpenSSL::SSL::SSLError => e
      raise ClosedError, "the connection broke: #{e.message}"
    end

    # Waits for the socket (the block) until +deadline+, or forever without one.
    def wait(deadline)
      return yield(nil) unless deadline

      left = deadline - monotonic
      raise ReceiveTimeout, "nothing received in time" unless left.positive? && yield(left)
    end

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
