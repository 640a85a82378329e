# frozen_string_literal: true

require_relative "test_helper"

# The SDK's RFC 6455 framing, read and written by Debian's ruby-websocket on the other end.
class WebSocketTest < Minitest::Test
  def setup
    @ours, @theirs = UNIXSocket.pair
    @socket = Chute::WebSocket.new(@ours)
  end

  def teardown
    [@ours, @theirs].each { |io| io.close unless io.closed? }
  end

  def server_frame(type, data = "", **options)
    WebSocket::Frame::Outgoing::Server.new(version: 13, type: type, data: data, **options).to_s
  end

  def read_client_frames(bytes)
    parser = WebSocket::Frame::Incoming::Server.new(version: 13)
    parser << @theirs.readpartial(bytes + 14) until (frame = parser.next)
    frame
  end

  def test_masks_text_frames_of_every_length_form
    ["", "x" * 125, "é" * 100, "y" * 70_000].each do |text|
      @socket.send_text(text)
      parser = WebSocket::Frame::Incoming::Server.new(version: 13)
      parser << @theirs.readpartial(100_000) until (frame = parser.next)
      refute parser.error?, parser.error.inspect
      assert_equal text.b, frame.data.to_s.b
    end
  end

  def test_mask_is_its_own_inverse_and_handles_a_tail
    key = "\x01\x02\x03\x04".b
    payload = "hello, world!".b
    masked = Chute::WebSocket.mask(payload, key)
    refute_equal payload, masked
    assert_equal payload, Chute::WebSocket.mask(masked, key)
  end

  def test_receives_text_joins_fragments_and_answers_pings
    @theirs.write(server_frame(:text, "hello"))
    assert_equal [:text, "hello"], @socket.receive(timeout: 1)

    # A fragmented message, with a ping between its fragments.
    @theirs.write("#{[0x01, 3].pack('CC')}abc#{[0x89, 2].pack('CC')}hi#{[0x80, 3].pack('CC')}def")
    assert_equal [:text, "abcdef"], @socket.receive(timeout: 1)
    pong = read_client_frames(10)
    assert_equal [:pong, "hi"], [pong.type, pong.data.to_s]
  end

  def test_receive_times_out
    assert_raises(Chute::WebSocket::ReceiveTimeout) { @socket.receive(timeout: 0.05) }
  end

  def test_a_close_from_the_server_is_answered_and_reported
    @theirs.write("#{[0x88, 6, 1013].pack('CCn')}busy")
    assert_equal [:close, 1013, "busy"], @socket.receive(timeout: 1)
    # The echo, read by hand: ruby-websocket does not know 1013.
    echo = @theirs.read(8)
    assert_equal [0x88, 0x82], echo.unpack("CC")
    assert_equal 1013, Chute::WebSocket.mask(echo.byteslice(6, 2), echo.byteslice(2, 4)).unpack1("n")
    assert @ours.closed?
  end

  def test_a_broken_connection_raises_closed_error
    @theirs.close
    assert_raises(Chute::WebSocket::ClosedError) { @socket.receive(timeout: 1) }
  end
end
