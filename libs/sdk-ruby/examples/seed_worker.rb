# frozen_string_literal: true

# Serves the seed's stream_task: ruby -I../lib seed_worker.rb
# (CHUTE_GATEWAY_URL, CHUTE_TOKEN from the environment). Ctrl-C drains and exits.
require_relative "seed_task"

HATCHET.worker("stream-worker", slots: 5, workflows: [STREAM_TASK]).start
