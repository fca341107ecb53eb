--[[
A message's fields as time-series lines, compatible with Heka's ts_line_protocol module
(InfluxDB line protocol, Carbon plaintext), used by encoders/schema_influx_line.lua and
encoders/schema_carbon_line.lua.

set_config(client_config) -> config
    Defaults overridden by the keys `client_config` sets: carbon_format (false),
    decimal_precision ("6"), name_prefix (none; "%{name}" interpolated from the message,
    msg_interpolate), name_prefix_delimiter (none), skip_fields_str (none: keep every
    field; "**all_base**" and field names, space-separated), source_value_field (none),
    tag_fields_str ("**all_base**"), timestamp_precision ("ms"), multi_fields (false),
    value_field_key ("value"). Call it once, at load.

influxdb_line_msg(config) -> {line, ...}
    One line per dynamic field of the current message (all of them on one line with
    multi_fields): "<prefix><delimiter><field>[,<tags>] <value_field_key>=<value> <time>".
    Numbers are written as floats with decimal_precision decimals (InfluxDB refuses a
    series that changes between integer and float); strings quoted; names and tags
    escape spaces and commas. Tags: the base fields Type, Hostname, Severity and Logger
    that tag_fields names ("**all_base**" or "**all**": all four), then the dynamic
    fields it names ("**all**": all of them).

carbon_line_msg(config) -> {line, ...}
    "<prefix><delimiter><field> <value> <time>" for each dynamic field whose value is a
    non-negative number; non-word characters of a field name become "_".

Names: a field name seen again gets "_fidx_<n>", a field's further values "_vidx_<i>"
(appended one after another, as Heka did). With source_value_field, only that field,
named by the prefix alone. Lines come in name order (Heka's came in Lua's table order).
--]]

local interp = require "msg_interpolate"
local field_util = require "field_util"

local M = {}

local BASE_TAGS = {"Hostname", "Logger", "Severity", "Type"}  -- field_util.base_fields_tag_list, in a fixed order

local function escape(v)
    return (tostring(v):gsub("([ ,])", "\\%1"))
end

-- Lua 5.1's text for a number (3.0 is "3"), as Heka wrote them
local function number_text(v)
    if math.type(v) == "float" then return string.format("%.14g", v) end
    return tostring(v)
end

local function sorted_names(t)
    local names = {}
    for k in pairs(t) do names[#names + 1] = k end
    table.sort(names)
    return names
end

local function points_and_tags(config)
    local prefix = config.name_prefix or ""
    if config.interp_name_prefix then prefix = (interp.interpolate_from_msg(prefix)) end
    local delimiter = config.name_prefix_delimiter or ""
    local tags = {}
    if not config.carbon_format then
        for _, base in ipairs(BASE_TAGS) do
            if config.tag_fields_all or config.tag_fields_all_base or config.used_tag_fields[base] then
                tags[#tags + 1] = escape(base) .. "=" .. escape(read_message(base))
            end
        end
    end
    local points = {}
    local msg = decode_message(read_message("raw"))
    local seen = {}
    for _, entry in ipairs(msg.Fields or {}) do
        local field = entry.name
        if config.carbon_format then field = field:gsub("[^%w]", "_") end
        local index = (seen[field] or -1) + 1
        seen[field] = index
        local out_name = index > 0 and string.format("%s_fidx_%d", field, index) or field
        local values = type(entry.value) == "table" and entry.value or {entry.value}
        for i, value in ipairs(values) do
            if i > 1 then out_name = string.format("%s_vidx_%d", out_name, i - 1) end
            if not config.carbon_format and (config.tag_fields_all or config.used_tag_fields[field]) then
                tags[#tags + 1] = escape(out_name) .. "=" .. escape(value)
            end
            if config.source_value_field then
                if field == config.source_value_field then points[prefix] = value end
            elseif not config.skip_fields or not config.skip_fields[field] then
                if config.multi_fields then
                    points[out_name] = value
                else
                    points[prefix .. delimiter .. out_name] = value
                end
            end
        end
    end
    return points, tags
end

local function influx_value(config, value)
    if type(value) == "number" or (type(value) == "string" and value:match("^[%d.]+$")) then
        return string.format(config.decimal_format, tonumber(value))
    end
    if type(value) == "string" then return '"' .. value:gsub('"', '\\"') .. '"' end
    return tostring(value)
end

function M.influxdb_line_msg(config)
    local ts = field_util.message_timestamp(config.timestamp_precision)
    local points, tags = points_and_tags(config)
    local tag_text = #tags > 0 and ("," .. table.concat(tags, ",")) or ""
    local lines = {}
    if config.multi_fields then
        local fields = {}
        for _, name in ipairs(sorted_names(points)) do
            fields[#fields + 1] = name .. "=" .. influx_value(config, points[name])
        end
        lines[1] = string.format("%s%s %s %d", config.name_prefix or "", tag_text, table.concat(fields, ","), ts)
    else
        for _, name in ipairs(sorted_names(points)) do
            lines[#lines + 1] = string.format("%s%s %s=%s %d", escape(name), tag_text, config.value_field_key,
                                              influx_value(config, points[name]), ts)
        end
    end
    return lines
end

function M.carbon_line_msg(config)
    local ts = field_util.message_timestamp(config.timestamp_precision)
    local points = points_and_tags(config)
    local lines = {}
    for _, name in ipairs(sorted_names(points)) do
        local value = points[name]
        local text = type(value) == "number" and number_text(value) or tostring(value)
        if text:match("^[%d.]+$") then lines[#lines + 1] = string.format("%s %s %s", name, text, ts) end
    end
    return lines
end

function M.set_config(client_config)
    local config = {
        carbon_format = false, decimal_precision = "6", name_prefix = false, name_prefix_delimiter = false,
        skip_fields_str = false, source_value_field = false, tag_fields_str = "**all_base**",
        timestamp_precision = "ms", multi_fields = false, value_field_key = "value",
    }
    for option in pairs(config) do
        if client_config and client_config[option] then config[option] = client_config[option] end
    end
    config.decimal_format = "%." .. config.decimal_precision .. "f"
    if config.skip_fields_str then
        config.skip_fields, config.skip_fields_all_base = field_util.field_map(config.skip_fields_str)
    end
    config.used_tag_fields, config.tag_fields_all_base, config.tag_fields_all = field_util.field_map(config.tag_fields_str)
    config.interp_name_prefix = config.name_prefix and string.find(config.name_prefix, "%%{[%w%p]-}") ~= nil or false
    return config
end

return M
