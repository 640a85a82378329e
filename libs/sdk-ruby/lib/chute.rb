# frozen_string_literal: true

# Chute's Ruby SDK: tasks that stream their output, workers that run them
# through the gateway's worker protocol, and consumers that trigger runs and
# read their streams. Only the standard library is used.
module Chute
end

require_relative "chute/version"
require_relative "chute/errors"
require_relative "chute/client"
