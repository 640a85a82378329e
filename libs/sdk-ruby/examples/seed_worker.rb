# frozen_string_literal: true

# The seed's Ruby task ("Publishing Stream Events"), verbatim but for the
# require and the client's construction, served by a worker:
#   ruby -I../lib seed_worker.rb   (CHUTE_GATEWAY_URL, CHUTE_TOKEN from the environment)
# Ctrl-C (or SIGTERM) drains and exits. seed_consumer.rb loads this file for
# STREAM_TASK without starting the worker.
require "chute"

HATCHET = Chute::Client.new

ANNA_KARENINA = <<~TEXT
  Happy families are all alike; every unhappy family is unhappy in its own way.

  Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
TEXT

STREAM_CHUNKS = ANNA_KARENINA.scan(/.{1,10}/)

STREAM_TASK = HATCHET.task(name: "stream_task") do |input, ctx|
  # Sleeping to avoid race conditions
  sleep 2

  STREAM_CHUNKS.each do |chunk|
    ctx.put_stream(chunk)
    sleep 0.20
  end
end

HATCHET.worker("stream-worker", slots: 5, workflows: [STREAM_TASK]).start if $PROGRAM_NAME == __FILE__
