# frozen_string_literal: true

require "base64"
require "digest/sha1"
require "json"
require "securerandom"
require "socket"
require "timeout"
require "uri"
require "websocket" # Debian's ruby-websocket: an independent reading of the SDK's frames
require_relative "schemas"
require_relative "timed_queue"

# A stand-in for Chute's gateway on 127.0.0.1 (an ephemeral port): the worker
# protocol's WebSocket and scripted HTTP routes (JSON and SSE), over
# keep-alive connections as Node's server keeps them. Every message the SDK
# sends, and every stream message the fake sends, is checked against
# schemas/json; #problems lists what did not match. #serve_runs serves the
# trigger and result routes as the gateway does.
class FakeGateway
  Request = Struct.new(:verb, :path, :query, :headers, :body, :io, keyword_init: true)

  TRIGGER_PATH = %r{\A/api/v1/tasks/[^/]+/runs\z}
  RESULT_PATH = %r{\A/api/v1/runs/([^/]+)/result\z}

  attr_reader :port, :problems, :requests, :connections
  attr_accessor :heartbeat_interval_ms, :max_chunk_bytes, :answer_register, :keep_alive

  def initialize(heartbeat_interval_ms: 100, max_chunk_bytes: 1024)
    @heartbeat_interval_ms = heartbeat_interval_ms
    @max_chunk_bytes = max_chunk_bytes
    @answer_register = true
    @keep_alive = true
    @server = TCPServer.new("127.0.0.1", 0)
    @port = @server.addr[1]
    @routes = []
    @problems = []
    @requests = TimedQueue.new
    @sessions = TimedQueue.new
    @threads = []
    @registrations = 0
    @connections = 0
    @idle = []
    @lock = Mutex.new
    @acceptor = Thread.new { accept_loop }
  end

  # A run as the gateway shows it (RunView).
  def self.run_view(run_id, status, output: nil, error: nil)
    { "runId" => run_id, "task" => "echo", "status" => status, "input" => {}, "output" => output, "error" => error,
      "attempt" => 1, "retries" => 0, "workerId" => nil, "createdAt" => "", "updatedAt" => "",
      "startedAt" => nil, "finishedAt" => nil }
  end

  # Serves POST /api/v1/tasks/:name/runs and GET /api/v1/runs/:id/result as
  # the gateway does. Without waitMs a trigger answers 201 {runId}; with it,
  # and on result, the run as it stands once "waited": 200 if it has ended,
  # 202 if not. A run ends at its (+pending+ + 1)-th wait, so with pending 0
  # the waited trigger answers 200. The block gives an ended run's view
  # (default: COMPLETED with output "done"). Returns the ids of the runs
  # triggered, in order, as a list that grows.
  def serve_runs(pending: 0, &ended)
    ended ||= ->(run_id) { FakeGateway.run_view(run_id, "COMPLETED", output: "done") }
    waits = {}
    triggered = []
    lock = Mutex.new
    wait = lambda do |run_id|
      done = lock.synchronize { (waits[run_id] += 1) > pending }
      done ? [200, ended.call(run_id)] : [202, FakeGateway.run_view(run_id, "RUNNING")]
    end
    route("POST", TRIGGER_PATH) do |request|
      run_id = SecureRandom.uuid
      lock.synchronize do
        waits[run_id] = 0
        triggered << run_id
      end
      wait_ms = request.query["waitMs"]
      # The gateway's bound (schemas/src/api.ts, TriggerRunQuery).
      if wait_ms.nil? then [201, { "runId" => run_id }]
      elsif !/\A\d+\z/.match?(wait_ms) || wait_ms.to_i > 120_000
        [400, { "code" => "BAD_REQUEST", "message" => "waitMs must be an integer from 0 to 120000" }]
      else
        wait.call(run_id)
      end
    end
    route("GET", RESULT_PATH) do |request|
      run_id = request.path[RESULT_PATH, 1]
      next [404, { "code" => "RUN_NOT_FOUND", "message" => "no run #{run_id}" }] unless lock.synchronize { waits.key?(run_id) }

      wait.call(run_id)
    end
    triggered
  end

  # How many kept connections wait for their next request.
  def idle_connections
    @lock.synchronize { @idle.size }
  end

  # Closes the kept connections that wait for their next request, as a
  # gateway does with those idle past its keep-alive timeout.
  def close_idle_connections
    idle = @lock.synchronize { @idle.dup }
    idle.each(&:close)
    idle.size
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
      @lock.synchronize { @connections += 1 }
      @threads << Thread.new { handle(io) }
    end
  rescue IOError
    nil
  end

  # Serves the connection's requests, one after another, until the client
  # closes it, a route answers by itself (a stream, a dropped connection), or
  # either side asks for Connection: close.
  def handle(io)
    while (request_line = next_request_line(io))
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
      break unless answer(request)
    end
  rescue IOError, SystemCallError
    nil
  ensure
    io.close unless io.closed?
  end

  def next_request_line(io)
    @lock.synchronize { @idle << io }
    io.gets
  ensure
    @lock.synchronize { @idle.delete(io) }
  end

  def read_headers(io)
    headers = {}
    while (line = io.gets) && line != "\r\n"
      name, value = line.split(":", 2)
      headers[name.strip.downcase] = value.strip
    end
    headers
  end

  # Answers the request; true when the connection may carry another one.
  def answer(request)
    _, _, handler = @routes.find { |method, pattern, _| method == request.verb && pattern.match?(request.path) }
    status, json = if handler
                     handler.call(request)
                   else
                     [404, { "code" => "NOT_FOUND", "message" => "no route #{request.path}" }]
                   end
    # A route that wrote its answer itself leaves the connection in a state only it knows.
    return false unless status

    keep = @keep_alive && !request.headers["connection"]&.casecmp?("close")
    respond(request.io, status, json, keep: keep)
    keep
  end

  def respond(io, status, json, keep: false)
    body = JSON.generate(json)
    io.write("HTTP/1.1 #{status} X\r\nContent-Type: application/json\r\nContent-Length: #{body.bytesize}\r\n" \
             "Connection: #{keep ? 'keep-alive' : 'close'}\r\n\r\n#{body}")
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
