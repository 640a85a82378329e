# frozen_string_literal: true

require "base64"
require "digest/sha1"
require "json"
require "socket"
require "timeout"
require "uri"
require "websocket" # Debian's ruby-websocket: an independent reading of the SDK's frames
require_relative "schemas"
require_relative "timed_queue"

# A stand-in for Chute's gateway on 127.0.0.1 (an ephemeral port): the worker
# protocol's WebSocket and scripted HTTP routes (JSON and SSE). Every message
# the SDK sends, and every stream message the fake sends, is checked against
# schemas/json; #problems lists what did not match.
class FakeGateway
  Request = Struct.new(:verb, :path, :query, :headers, :body, :io, keyword_init: true)

  attr_reader :port, :problems, :requests
  attr_accessor :heartbeat_interval_ms, :max_chunk_bytes, :answer_register

  def initialize(heartbeat_interval_ms: 100, max_chunk_bytes: 1024)
    @heartbeat_interval_ms = heartbeat_interval_ms
    @max_chunk_bytes = max_chunk_bytes
    @answer_register = true
    @server = TCPServer.new("127.0.0.1", 0)
    @port = @server.addr[1]
    @routes = []
    @problems = []
    @requests = TimedQueue.new
    @sessions = TimedQueue.new
    @threads = []
    @registrations = 0
    @acceptor = Thread.new { accept_loop }
  end

  def url
    "http://127.0.0.1:#{@port}"
  end

  # Answers +method+ requests whose path matches +pattern+ with the block's
  # [status, json] (or nothing, when the block wrote the answer itself).
  def route(method, pattern, &handler)
    @routes.unshift([method, pattern, handler])
  end

  # The next worker socket that registered (or, with answer_register off, connected).
  def next_worker(timeout: 5)
    @sessions.pop(timeout: timeout) || raise("no worker connected within #{timeout} s")
  end

  def next_request(timeout: 5)
    @requests.pop(timeout: timeout) || raise("no HTTP request within #{timeout} s")
  end

  def record_problems(list)
    @problems.concat(list)
  end

  def next_worker_id
    "worker-#{@registrations += 1}"
  end

  def stop
    @server.close
    @acceptor.kill
    @threads.each(&:kill)
  end

  private

  def accept_loop
    loop do
      io = @server.accept
      @threads << Thread.new { handle(io) }
    end
  rescue IOError
    nil
  end

  def handle(io)
    request_line = io.gets or return
    method, target = request_line.split
    uri = URI(target)
    headers = read_headers(io)
    if headers["upgrade"]&.casecmp?("websocket") && uri.path == "/api/v1/workers/connect"
      return WorkerSession.new(self, io, headers).run { |session| @sessions << session }
    end

    body = headers["content-length"] ? io.read(headers["content-length"].to_i) : nil
    request = Request.new(verb: method, path: uri.path, query: URI.decode_www_form(uri.query || "").to_h,
                          headers: headers, body: body && !body.empty? ? JSON.parse(body) : nil, io: io)
    @requests << request
    answer(request)
  rescue IOError, SystemCallError
    nil
  ensure
    io.close unless io.closed?
  end

  def read_headers(io)
    headers = {}
    while (line = io.gets) && line != "\r\n"
      name, value = line.split(":", 2)
      headers[name.strip.downcase] = value.strip
    end
    headers
  end

  def answer(request)
    _, _, handler = @routes.find { |method, pattern, _| method == request.verb && pattern.match?(request.path) }
    return respond(request.io, 404, { "code" => "NOT_FOUND", "message" => "no route #{request.path}" }) unless handler

    status, json = handler.call(request)
    respond(request.io, status, json) if status
  end

  def respond(io, status, json)
    body = JSON.generate(json)
    io.write("HTTP/1.1 #{status} X\r\nContent-Type: application/json\r\nContent-Length: #{body.bytesize}\r\n" \
             "Connection: close\r\n\r\n#{body}")
  end

  public

  # Answers +request+ with an SSE stream (chunked, as the real gateway's Node
  # server sends it) and yields a writer of events.
  def sse(request)
    request.io.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    writer = SseWriter.new(self, request.io)
    yield writer
    writer.finish unless writer.dropped
    nil
  end

  # Writes the stream's events; #drop cuts the connection mid-stream.
  class SseWriter
    attr_reader :dropped

    def initialize(gateway, io)
      @gateway = gateway
      @io = io
      @dropped = false
    end

    def chunk(seq, data, attempt: 1, encoding: nil)
      body = { "seq" => seq, "attempt" => attempt, "data" => data }
      body["encoding"] = encoding if encoding
      event("chunk", body, id: attempt == 1 ? seq.to_s : "#{attempt}:#{seq}")
    end

    def attempt(number)
      event("attempt", { "attempt" => number })
    end

    def end_stream(status = "COMPLETED")
      event("end", { "status" => status })
    end

    def comment(text)
      write(": #{text}\n\n")
    end

    # Writes raw bytes of the body, to split an event anywhere.
    def write(text)
      @io.write("#{text.bytesize.to_s(16)}\r\n#{text}\r\n")
      @io.flush
    end

    def drop
      @dropped = true
      @io.close
    end

    def finish
      @io.write("0\r\n\r\n")
    end

    private

    def event(name, body, id: nil)
      @gateway.record_problems(Schemas.problems(Schemas::STREAM_MESSAGE, { "type" => name }.merge(body)))
      write("#{id ? "id: #{id}\n" : ''}event: #{name}\ndata: #{JSON.generate(body)}\n\n")
    end
  end

  # One worker's socket, server side.
  class WorkerSession
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    attr_reader :headers, :worker_id, :close_code, :messages

    def initialize(gateway, io, headers)
      @gateway = gateway
      @io = io
      @headers = headers
      @messages = TimedQueue.new
      @write_lock = Mutex.new
      @closed = TimedQueue.new
      @close_code = nil
    end

    def run
      accept = Base64.strict_encode64(Digest::SHA1.digest(@headers.fetch("sec-websocket-key") + GUID))
      @io.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                "Sec-WebSocket-Accept: #{accept}\r\n\r\n")
      yield self unless @gateway.answer_register
      read_loop { yield self }
    ensure
      @closed << true
    end

    # The next message of type other than +skip+ (parsed), or a failure.
    def next_message(timeout: 5, skip: %w[heartbeat])
      deadline = Time.now + timeout
      loop do
        message = @messages.pop(timeout: [deadline - Time.now, 0].max)
        raise "no message from the worker within #{timeout} s" unless message
        return message unless skip.include?(message["type"])
      end
    end

    # Every message received so far (heartbeats included), without waiting.
    def drain_messages
      list = []
      list << @messages.pop(timeout: 0) until @messages.empty?
      list
    end

    def send_json(message)
      @gateway.record_problems(Schemas.problems(Schemas::GATEWAY_MESSAGE, message))
      write_frame(0x1, JSON.generate(message))
    end

    def assign(run_id, task, input = {}, attempt: 1)
      send_json("type" => "assigned", "runId" => run_id, "attempt" => attempt, "task" => task, "input" => input,
                "deadlineAt" => ((Time.now.to_f + 60) * 1000).to_i)
    end

    # Closes the socket from the gateway's side with +code+ (no waiting for the worker's answer).
    def close(code = 1000, reason = "")
      write_frame(0x8, [code].pack("n") + reason)
      @io.close
    rescue IOError, SystemCallError
      nil
    end

    # Waits for the socket to end; true when it did.
    def wait_closed(timeout: 5)
      !@closed.pop(timeout: timeout).nil?
    end

    private

    # Server frames are never masked (RFC 6455 5.1).
    def write_frame(opcode, payload)
      payload = payload.b
      length = payload.bytesize
      head = [0x80 | opcode].pack("C")
      head << if length < 126 then [length].pack("C")
              elsif length < 65_536 then [126, length].pack("Cn")
              else
                [127, length].pack("CQ>")
              end
      @write_lock.synchronize { @io.write(head + payload) }
    end

    def read_loop(&)
      parser = WebSocket::Frame::Incoming::Server.new(version: 13)
      while (data = @io.readpartial(64 * 1024))
        parser << data
        while (frame = parser.next)
          return on_close(frame) if frame.type == :close

          write_frame(0xA, frame.data.to_s) if frame.type == :ping
          on_text(frame.data.to_s, &) if frame.type == :text
        end
        raise "invalid frame from the worker: #{parser.error}" if parser.error?
      end
    rescue IOError, SystemCallError # EOFError included
      nil
    end

    def on_text(text, &on_registered)
      message = JSON.parse(text)
      @gateway.record_problems(Schemas.problems(Schemas::WORKER_MESSAGE, message))
      @messages << message
      return unless message["type"] == "register" && @gateway.answer_register

      @worker_id = @gateway.next_worker_id
      send_json("type" => "registered", "workerId" => @worker_id,
                "heartbeatIntervalMs" => @gateway.heartbeat_interval_ms, "maxChunkBytes" => @gateway.max_chunk_bytes)
      on_registered.call
    end

    def on_close(frame)
      @close_code = frame.code
      write_frame(0x8, [frame.code || 1000].pack("n"))
    rescue IOError, SystemCallError
      nil
    end
  end
end
