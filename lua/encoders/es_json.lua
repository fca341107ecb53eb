--[[
ESJsonEncoder (Heka 0.10's native encoder of that name, as a bundled SandboxEncoder): a
message as an ElasticSearch Bulk API "index" action line and a clean JSON document, for
an ElasticSearchOutput (or an HttpOutput to /_bulk). A Heka section
`[ES] type = "ESJsonEncoder"` runs this script with the section's keys as its config.

Config (lua/modules/elasticsearch.lua says exactly how each works):
  - index (string, default "heka-%{%Y.%m.%d}"): the _index; "%{Type}", "%{Hostname}",
    "%{Pid}", "%{UUID}", "%{Logger}", "%{EnvVersion}", "%{Severity}", "%{field name}" or
    "%{strftime format}" are replaced; the result is lower-cased.
  - type_name (string, default "message"): the _type, interpolated the same way.
  - id (string, default none): the _id, interpolated; left out when it cannot be.
  - es_index_from_timestamp (bool, default false): dates in index, type_name and id come
    from the message's Timestamp, not the current time.
  - fields (array of strings, default all of "Uuid", "Timestamp", "Type", "Logger",
    "Severity", "Payload", "EnvVersion", "Pid", "Hostname", "DynamicFields"): what goes
    into the document, in this order ("DynamicFields": the message's Fields).
  - timestamp (string, default "%Y-%m-%dT%H:%M:%S"): strftime format of the Timestamp,
    in UTC (%L milliseconds, %f microseconds, %N nanoseconds).
  - dynamic_fields (array of strings, default every field): which message fields to
    write; needs "DynamicFields" in fields.
  - raw_bytes_fields (array of strings): fields written verbatim, e.g. ones holding JSON.
  - field_mappings (table): document key of each header, e.g. Timestamp = "@timestamp";
    keys Timestamp, Uuid, Type, Logger, Severity, Payload, EnvVersion, Pid, Hostname.

Example Heka TOML:

    [ESJsonEncoder]
    index = "%{Type}-%{%Y.%m.%d}"
    es_index_from_timestamp = true
    type_name = "%{Type}"
        [ESJsonEncoder.field_mappings]
        Timestamp = "@timestamp"
        Severity = "level"

    [ElasticSearchOutput]
    message_matcher = "Type == 'nginx.access'"
    encoder = "ESJsonEncoder"

Output (two lines, each ending in a newline), e.g. with the defaults:

    {"index":{"_index":"heka-2026.11.24","_type":"message"}}
    {"Uuid":"6fd4cf4a-0e49-4bb4-a1d3-1c7b2b4a3f0e","Timestamp":"2026-11-24T10:00:00","Type":"nginx.access","Logger":"nginx","Severity":7,"Payload":"","EnvVersion":"","Pid":0,"Hostname":"web1","status":200,"remote_addr":"192.0.2.10"}
--]]

local elasticsearch = require "elasticsearch"

local encode = elasticsearch.new_json_encoder()  -- the settings from read_config

function process_message()
    inject_payload("json", "es_json", encode())
    return 0
end
