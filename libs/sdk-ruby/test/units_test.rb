# frozen_string_literal: true

require_relative "test_helper"

class SseParserTest < Minitest::Test
  def events(*pieces)
    parser = Chute::SseParser.new
    pieces.flat_map { |piece| [].tap { |out| parser.feed(piece) { |event| out << event.to_h } } }
  end

  def test_events_split_anywhere_with_comments_crlf_and_multiline_data
    body = ": keepalive\r\n\r\nid: 2:7\r\nevent: chunk\r\ndata: {\"a\":\r\ndata: \"é\"}\r\n\r\nevent: end\ndata: {}\n\n"
    split = body.b.chars.each_slice(3).map(&:join) # even through a multibyte character
    expected = [{ name: "chunk", data: "{\"a\":\n\"é\"}", id: "2:7" }, { name: "end", data: "{}", id: nil }]
    assert_equal expected, events(*split)
    assert_equal expected, events(body)
  end
end

class Utf8DecoderTest < Minitest::Test
  def test_keeps_a_character_split_between_chunks_whole
    decoder = Chute::Utf8Decoder.new
    bytes = "a€b😀".b
    out = bytes.chars.map { |byte| decoder.decode(byte) }
    assert_equal "a€b😀", out.join
    assert(out.all?(&:valid_encoding?))
  end

  def test_replaces_invalid_bytes
    assert_equal "a\uFFFDb", Chute::Utf8Decoder.new.decode("a\xFFb".b)
  end
end

class TaskTest < Minitest::Test
  def runs
    nil
  end

  def test_validates_names_retries_and_durations
    assert_raises(ArgumentError) { Chute::Task.new(name: "bad name", runs: runs) { nil } }
    assert_raises(ArgumentError) { Chute::Task.new(name: "ok", runs: runs, retries: 101) { nil } }
    assert_raises(ArgumentError) { Chute::Task.new(name: "ok", runs: runs) }
    assert_raises(ArgumentError) { Chute::Task.new(name: "ok", runs: runs, execution_timeout: "soon") { nil } }
    durations = ["250ms", "30s", "5m", "2h", 1.5].map { |d| Chute::Task.milliseconds(d) }
    assert_equal [250, 30_000, 300_000, 7_200_000, 1500], durations
  end
end

class ClientTest < Minitest::Test
  def test_reads_the_environment_and_keywords_override_it
    ENV["CHUTE_GATEWAY_URL"] = "http://a:1/, http://b:2"
    client = Chute::Client.new
    assert_equal ["http://a:1", "http://b:2"], client.gateways.urls
    assert_equal ["http://c:3"], Chute::Client.new(gateway_url: "http://c:3").gateways.urls
    ENV.delete("CHUTE_GATEWAY_URL")
    assert_equal ["http://127.0.0.1:8080"], Chute::Client.new.gateways.urls
  ensure
    ENV.delete("CHUTE_GATEWAY_URL")
  end

  def test_an_unreachable_gateway_is_an_api_error
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    server.close
    error = assert_raises(Chute::ApiError) { Chute::Client.new(gateway_url: "http://127.0.0.1:#{port}").runs.get("x") }
    assert_equal "UNREACHABLE", error.code
  end
end

class SchemasTest < Minitest::Test
  def test_the_published_schemas_use_only_keywords_checked_the_same_in_draft7
    %w[worker-protocol.schema.json stream.schema.json].each do |file|
      unknown = Schemas.keywords(Schemas.document(file)).to_a - Schemas::KEYWORDS
      assert_empty unknown, "#{file} uses keywords the draft-7 validator may not check"
    end
  end

  def test_the_validator_rejects_what_the_gateway_would
    bad = [
      { "type" => "register", "name" => "w", "tasks" => [], "slots" => 1 },
      { "type" => "chunk", "runId" => "not-a-uuid", "attempt" => 1, "data" => "x" },
      { "type" => "completed", "runId" => GatewayTest::RUN_ID, "attempt" => 0 },
      { "type" => "heartbeat", "extra" => true }
    ]
    bad.each { |message| refute_empty Schemas.problems(Schemas::WORKER_MESSAGE, message), message.inspect }
  end
end
