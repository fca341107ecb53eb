--[[
Carbon plaintext encoder (SandboxEncoder), compatible with Heka's schema_carbon_line.lua:
every numeric dynamic field of a message becomes a "path value seconds" line
(lua/modules/ts_line_protocol.lua), for a TcpOutput to carbon's port 2003.

Config (as Heka's): name_prefix (with "%{field}", e.g. "%{Hostname}.%{Type}"),
name_prefix_delimiter (default "."), skip_fields, source_value_field.

e.g. name_prefix = "%{Hostname}.%{Type}", skip_fields = "**all_base** FilePath":
    myhost.stats.loadavg.1MinAvg 0.12 1434932023
--]]

local ts_line_protocol = require "ts_line_protocol"

local config = ts_line_protocol.set_config({
    carbon_format = true,
    timestamp_precision = "s",
    name_prefix = read_config("name_prefix"),
    name_prefix_delimiter = read_config("name_prefix_delimiter") or ".",
    skip_fields_str = read_config("skip_fields"),
    source_value_field = read_config("source_value_field"),
})

function process_message()
    local lines = ts_line_protocol.carbon_line_msg(config)
    inject_payload("txt", "carbon_line", table.concat(lines, "\n") .. "\n")
    return 0
end
