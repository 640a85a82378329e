# frozen_string_literal: true

require_relative "lib/chute/version"

Gem::Specification.new do |spec|
  spec.name = "chute"
  spec.version = Chute::VERSION
  spec.summary = "Chute's Ruby SDK: tasks that stream their output, workers, and stream consumers"
  spec.description = "Defines tasks whose output streams to consumers in real time, runs them in a worker " \
                     "connected to Chute's gateway over its WebSocket worker protocol, and triggers runs and " \
                     "reads their streams over HTTP/SSE. Standard library only."
  spec.authors = ["Chute"]
  spec.license = "MIT"
  spec.homepage = "https://github.com/chute-dev/chute/tree/main/libs/sdk-ruby"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir["lib/**/*.rb"] + ["README.md"]
  spec.require_paths = ["lib"]
  spec.metadata["rubygems_mfa_required"] = "true"
end
