--[[
Helpers for outputs choosing message fields, compatible with Heka's field_util module.

base_fields_list       {Type, Payload, Hostname, Pid, Logger, Severity, EnvVersion} = true
base_fields_tag_list   {Type, Hostname, Severity, Logger} = true

field_interp(field)
    `field` with its "%{name}" replaced from the current message (msg_interpolate).

field_map(fields_str)
    The space-separated names of `fields_str` as a set, then whether "**all_base**" and
    whether "**all**" were among them (either one adds every base field to the set).
    Nil or empty: base_fields_list itself, true, false.

message_timestamp(timestamp_precision)
    The current message's Timestamp in "ms" (the default, also for an unknown value),
    "s", "m" or "h", rounded down (exact, where Heka divided a double).

used_base_fields(skip_fields)
    The base fields not in the set `skip_fields`.
--]]

local M = {}

M.base_fields_list = {Type = true, Payload = true, Hostname = true, Pid = true, Logger = true,
                      Severity = true, EnvVersion = true}

M.base_fields_tag_list = {Type = true, Hostname = true, Severity = true, Logger = true}

local DIVISORS = {s = 1000000000, m = 60000000000, h = 3600000000000}

function M.field_interp(field)
    if not string.find(field, "%%{[%w%p]-}") then return field end
    return (require("msg_interpolate").interpolate_from_msg(field, nil))
end

function M.field_map(fields_str)
    if not fields_str or fields_str == "" then return M.base_fields_list, true, false end
    local fields, all_base, all = {}, false, false
    for name in string.gmatch(fields_str, "%S+") do
        fields[name] = true
        if name == "**all_base**" then all_base = true end
        if name == "**all**" then all = true end
    end
    if all_base or all then
        for name in pairs(M.base_fields_list) do fields[name] = true end
    end
    return fields, all_base, all
end

function M.message_timestamp(timestamp_precision)
    local ts = read_message("Timestamp")
    local divisor = DIVISORS[timestamp_precision] or 1000000
    if math.type(ts) == "integer" then return ts // divisor end
    return math.floor(ts / divisor)
end

function M.used_base_fields(skip_fields)
    local fields = {}
    for name in pairs(M.base_fields_list) do
        if not skip_fields[name] then fields[name] = true end
    end
    return fields
end

return M
