--[[
ESLogstashV0Encoder (Heka 0.10's native encoder of that name, as a bundled
SandboxEncoder): a message as an ElasticSearch Bulk API "index" action line and a
document in Logstash's original ("v0") schema, which Kibana's Logstash dashboards read.
A Heka section `[ES] type = "ESLogstashV0Encoder"` runs this script with the section's
keys as its config.

Config (lua/modules/elasticsearch.lua says exactly how each works):
  - index (string, default "logstash-%{%Y.%m.%d}"): the _index; "%{Type}",
    "%{Hostname}", "%{Pid}", "%{UUID}", "%{Logger}", "%{EnvVersion}", "%{Severity}",
    "%{field name}" or "%{strftime format}" are replaced; the result is lower-cased.
  - type_name (string, default "message"): the _type, interpolated the same way; also
    the document's @type unless use_message_type is set.
  - use_message_type (bool, default false): @type is the message's Type.
  - id (string, default none): the _id, interpolated; left out when it cannot be.
  - es_index_from_timestamp (bool, default false): dates in index, type_name and id come
    from the message's Timestamp, not the current time.
  - fields (array of strings, default all of "Uuid", "Timestamp", "Type", "Logger",
    "Severity", "Payload", "EnvVersion", "Pid", "Hostname", "DynamicFields"): what goes
    into the document, in this order.
  - timestamp (string, default "%Y-%m-%dT%H:%M:%S"): strftime format of @timestamp, UTC.
  - dynamic_fields (array of strings, default every field): which message fields go into
    @fields; needs "DynamicFields" in fields.
  - raw_bytes_fields (array of strings): fields written verbatim, e.g. ones holding JSON.

Document keys: @uuid, @timestamp, @type, @logger, @severity, @message (the Payload),
@envversion, @pid, @source_host (the Hostname), @fields (the message's fields).

Example Heka TOML:

    [ESLogstashV0Encoder]
    es_index_from_timestamp = true
    type_name = "%{Type}"

    [ElasticSearchOutput]
    message_matcher = "Type == 'nginx.access'"
    encoder = "ESLogstashV0Encoder"

Output (two lines, each ending in a newline):

    {"index":{"_index":"logstash-2026.11.24","_type":"nginx.access"}}
    {"@uuid":"6fd4cf4a-0e49-4bb4-a1d3-1c7b2b4a3f0e","@timestamp":"2026-11-24T10:00:00","@type":"nginx.access","@logger":"nginx","@severity":7,"@message":"","@envversion":"","@pid":0,"@source_host":"web1","@fields":{"status":200}}
--]]

local elasticsearch = require "elasticsearch"

local encode = elasticsearch.new_logstash_v0_encoder()  -- the settings from read_config

function process_message()
    inject_payload("json", "es_logstash_v0", encode())
    return 0
end
