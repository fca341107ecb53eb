--[[
InfluxDB line protocol encoder (SandboxEncoder), compatible with Heka's
schema_influx_line.lua: every dynamic field of a message becomes a measurement line
(lua/modules/ts_line_protocol.lua says how), for an HttpOutput to InfluxDB's /write.

Config (as Heka's): decimal_precision ("6"), name_prefix (with "%{field}"),
name_prefix_delimiter, skip_fields ("**all_base** FilePath ..."), source_value_field,
tag_fields (default "**all_base**"), timestamp_precision ("ms", "s", "m" or "h"),
multi_fields (false), value_field_key ("value").

e.g. with tag_fields = "Hostname", timestamp_precision = "s":
    1MinAvg,Hostname=myhost value=0.110000 1434932024
--]]

local ts_line_protocol = require "ts_line_protocol"

local config = ts_line_protocol.set_config({
    decimal_precision = read_config("decimal_precision"),
    name_prefix = read_config("name_prefix"),
    name_prefix_delimiter = read_config("name_prefix_delimiter"),
    skip_fields_str = read_config("skip_fields"),
    source_value_field = read_config("source_value_field"),
    tag_fields_str = read_config("tag_fields"),
    timestamp_precision = read_config("timestamp_precision"),
    multi_fields = read_config("multi_fields"),
    value_field_key = read_config("value_field_key"),
})

function process_message()
    local lines = ts_line_protocol.influxdb_line_msg(config)
    inject_payload("txt", "influx_line", table.concat(lines, "\n") .. "\n")
    return 0
end
