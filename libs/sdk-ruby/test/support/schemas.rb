# frozen_string_literal: true

require "json"
require "set" # json_schemer 0.2 (Debian's ruby-json-schemer) uses Set without requiring it
original_verbose = $VERBOSE
$VERBOSE = nil # json_schemer 0.2 warns under -w; our code is checked with warnings on
require "json_schemer"
$VERBOSE = original_verbose

# The published JSON Schemas of the worker protocol and the stream messages
# (schemas/json, generated from the zod schemas), as validators.
#
# Debian's json_schemer (0.2) knows drafts 4 to 7, and these files declare
# 2020-12. Every keyword they use means the same in draft 7 (`$defs` is only
# reached through `$ref` JSON pointers, which any draft resolves), so they
# are checked as draft 7; KEYWORDS lists what that reasoning covers, and a
# test fails if the schemas start using anything else.
module Schemas
  DIR = File.expand_path("../../../../schemas/json", __dir__)
  KEYWORDS = %w[
    $schema $id $ref $defs title type const enum required properties additionalProperties
    propertyNames oneOf anyOf items minItems maxItems minimum maximum exclusiveMinimum
    minLength maxLength pattern format default
  ].freeze

  def self.document(file)
    JSON.parse(File.read(File.join(DIR, file)))
  end

  # A validator of the definition +name+ in +file+.
  def self.validator(file, name)
    root = document(file).except("$schema")
    JSONSchemer::Schema::Draft7.new(root.merge("$ref" => "#/$defs/#{name}"))
  end

  WORKER_MESSAGE = validator("worker-protocol.schema.json", "workerMessage")
  GATEWAY_MESSAGE = validator("worker-protocol.schema.json", "gatewayMessage")
  STREAM_MESSAGE = validator("stream.schema.json", "streamMessage")

  # Problems of +message+ (parsed JSON) against +validator+: empty when valid.
  def self.problems(validator, message)
    return [] if validator.valid?(message)

    ["#{JSON.generate(message)[0, 300]} does not match its schema: " +
      validator.validate(message).map { |e| "#{e['data_pointer']} #{e['type']}" }.uniq.first(6).join(", ")]
  end

  # The keywords used anywhere in +node+ (a schema), property names aside.
  def self.keywords(node, found = Set.new)
    case node
    when Hash
      node.each do |key, value|
        found << key
        if %w[properties $defs].include?(key)
          value.each_value { |schema| keywords(schema, found) }
        else
          keywords(value, found)
        end
      end
    when Array then node.each { |item| keywords(item, found) }
    end
    found
  end
end
