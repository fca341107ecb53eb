--[[
JSONEachRow encoder (SandboxEncoder) for ClickHouse: a message as one JSON object on one
line, a column per header and per field, for an HttpOutput that batches rows into
`INSERT INTO table FORMAT JSONEachRow` (docs/topology.md):

    [ClickHouse]
    type = "HttpOutput"
    message_matcher = "Type == 'nginx.access'"
    address = "http://127.0.0.1:8123/?query=INSERT%20INTO%20logs%20FORMAT%20JSONEachRow"
    encoder = "JsonEachRow"
    flush_count = 1000

    [JsonEachRow]
    type = "SandboxEncoder"
    filename = "lua/encoders/json_each_row.lua"
        [JsonEachRow.config]
        headers = "Uuid Timestamp Type Logger Hostname Severity Payload"

Config:
  - headers (string, default "Uuid Timestamp Type Logger Hostname Severity Payload"):
    the headers written, as columns of the same name (also EnvVersion, Pid).
  - fields (string, default all): the message fields written, space-separated.
  - timestamp_column (string, default "Timestamp"): the Timestamp's column name.
  - columns (table of name = column): other column names for headers or fields.

The Timestamp is whole seconds since the epoch (what a DateTime column takes), the Uuid
its 36-character text (for a UUID or String column), a field with several values an array.

    {"Uuid":"6fd4cf4a-0e49-4bb4-a1d3-1c7b2b4a3f0e","Timestamp":1796300000,"Type":"nginx.access","Logger":"nginx","Hostname":"web1","Severity":7,"Payload":"","status":200}
--]]

local es = require "elasticsearch"

local format, concat = string.format, table.concat

local function words(s)
    local out = {}
    for w in string.gmatch(s or "", "%S+") do out[#out + 1] = w end
    return out
end

local headers = words(read_config("headers") or "Uuid Timestamp Type Logger Hostname Severity Payload")
local only
if read_config("fields") then
    only = {}
    for _, f in ipairs(words(read_config("fields"))) do only[f] = true end
end
local columns = read_config("columns") or {}
columns.Timestamp = read_config("timestamp_column") or columns.Timestamp

local function column(name) return es.json_string(columns[name] or name) end

local function uuid_text()
    local u = read_message("Uuid") or ""
    if #u == 36 then return u end
    if #u ~= 16 then return "" end
    local h = string.gsub(u, ".", function(c) return format("%02x", string.byte(c)) end)
    return string.sub(h, 1, 8) .. "-" .. string.sub(h, 9, 12) .. "-" .. string.sub(h, 13, 16) .. "-"
        .. string.sub(h, 17, 20) .. "-" .. string.sub(h, 21, 32)
end

local HEADERS = {
    Uuid = function() return es.json_string(uuid_text()) end,
    Timestamp = function() return format("%d", (read_message("Timestamp") or 0) // 1000000000) end,
    Severity = function() return format("%d", read_message("Severity") or 7) end,
    Pid = function() return format("%d", read_message("Pid") or 0) end,
}

local function value_json(typ, v)
    if v == nil then return "null" end
    if typ == 2 then return format("%d", v) end
    if typ == 3 then
        if v ~= v or v == math.huge or v == -math.huge then return "null" end
        return format("%.17g", v)
    end
    if typ == 4 then return v and "true" or "false" end
    return es.json_string(v)
end

function process_message()
    local out = {}
    for _, h in ipairs(headers) do
        local f = HEADERS[h]
        out[#out + 1] = column(h) .. ":" .. (f and f() or es.json_string(read_message(h) or ""))
    end
    local seen = {}
    while true do
        local typ, name, value, _, count = read_next_field()
        if not typ then break end
        local occurrence = seen[name] or 0
        seen[name] = occurrence + 1
        if occurrence == 0 and (not only or only[name]) then
            local text
            if count == 1 then
                text = value_json(typ, value)
            else
                local values = {}
                for i = 1, count do
                    values[i] = value_json(typ, i == 1 and value or read_message("Fields[" .. name .. "]", 0, i - 1))
                end
                text = "[" .. concat(values, ",") .. "]"
            end
            out[#out + 1] = column(name) .. ":" .. text
        end
    end
    inject_payload("json", "json_each_row", "{" .. concat(out, ",") .. "}\n")
    return 0
end
