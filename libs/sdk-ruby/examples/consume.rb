# frozen_string_literal: true

# Triggers a run of the named task with input {} and prints its stream to
# stdout exactly as published (no newline added). Used by the cross-language
# tests: ruby -I../lib consume.rb <task-name>
require "chute"

abort "usage: ruby consume.rb <task-name>" unless ARGV.size == 1

$stdout.sync = true
$stdout.binmode

client = Chute::Client.new
run_id = client.runs.trigger(ARGV[0], {})
# raw: bytes chunks are written as the bytes they are, text chunks as their UTF-8.
client.runs.subscribe_to_stream(run_id, raw: true) { |chunk| $stdout.write(chunk) }
