# frozen_string_literal: true

# The seed's Ruby consumer ("Consuming Streams"), verbatim: triggers
# stream_task and prints its stream as it comes.
#   ruby -I../lib seed_consumer.rb
require_relative "seed_worker" # HATCHET and STREAM_TASK; the worker is not started

$stdout.sync = true

ref = STREAM_TASK.run_no_wait

HATCHET.runs.subscribe_to_stream(ref.workflow_run_id) do |chunk|
  print chunk
end
