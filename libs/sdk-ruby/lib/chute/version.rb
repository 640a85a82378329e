# frozen_string_literal: true

module Chute
  VERSION = "0.1.0"
end
