# frozen_string_literal: true

module Chute
  # The gateways a client may talk to: CHUTE_GATEWAY_URL is one URL or a
  # comma-separated list. Callers move to the next one when the current one
  # cannot be reached, and come round to the first again.
  class Gateways
    DEFAULT_URL = "http://127.0.0.1:8080"

    attr_reader :urls

    def initialize(spec)
      @urls = spec.to_s.split(",").map(&:strip).reject(&:empty?).map { |url| url.chomp("/") }
      raise ArgumentError, "no gateway URL given (CHUTE_GATEWAY_URL or gateway_url:)" if @urls.empty?

      @index = 0
      @lock = Mutex.new
    end

    def current
      @lock.synchronize { @urls[@index] }
    end

    # Moves on to the next gateway and returns it.
    def rotate
      @lock.synchronize do
        @index = (@index + 1) % @urls.size
        @urls[@index]
      end
    end
  end
end
