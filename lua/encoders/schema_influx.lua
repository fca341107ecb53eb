--[=[
InfluxDB 0.8 JSON series (SandboxEncoder), compatible with Heka's schema_influx.lua: a
message's headers and dynamic fields as the columns of one point, for an HttpOutput to
InfluxDB's /db/<name>/series (InfluxDB before 0.9; for later versions use
schema_influx_line.lua).

Config (as Heka's):
  - series (string, default "series"): the series name. "%{name}" is replaced by the
    header Type, Payload, Hostname, Pid, Logger, Severity or EnvVersion of that name,
    else by the first value of Fields[name]; when neither exists it stays as written.
  - skip_fields (string, default ""): space-separated names left out: headers (Type,
    Payload, Hostname, Pid, Logger, Severity, EnvVersion) or dynamic fields.
  - multi_series (bool, default false): one series per dynamic field instead of one per
    message, named <series>.<field name>, with the field's (first) value in a column
    "value" after the header columns (bytes fields left out).
  - exclude_base_fields (bool, default false): no header columns at all.

Columns: "time" (the Timestamp in milliseconds, a float), then the headers in the order
Type, Payload, Hostname, Pid, Logger, Severity, EnvVersion (a missing string is "", a
missing Pid 0), then the dynamic fields in message order. In one series per message,
bytes fields and fields named "Timestamp" are left out, a field with several values is
an array, and a repeated name gets its occurrence number appended ("status",
"status2"). Numbers are written as Heka's cjson wrote them (%.14g).

Example Heka TOML:

    [influxdb]
    type = "SandboxEncoder"
    filename = "lua_encoders/schema_influx.lua"
        [influxdb.config]
        series = "heka.%{Logger}"
        skip_fields = "Pid EnvVersion"

    [InfluxOutput]
    type = "HttpOutput"
    message_matcher = "Type == 'influxdb'"
    encoder = "influxdb"
    address = "http://influxdb.example.com:8086/db/metrics/series"

Output (one line, no newline):

    [{"points":[[1409378221000,"log","test","web1","TcpInput",5,1,"test"]],"name":"heka.TcpInput","columns":["time","Type","Payload","Hostname","Logger","Severity","syslogfacility","programname"]}]
--]=]

local cjson = require "cjson"

local series_template = read_config("series") or "series"
local multi_series = read_config("multi_series") or false
local exclude_base_fields = read_config("exclude_base_fields") or false
local skip_fields_str = read_config("skip_fields")

if type(series_template) ~= "string" then error("schema_influx: 'series' must be a string") end
if type(skip_fields_str) ~= "string" and skip_fields_str ~= nil then error("schema_influx: 'skip_fields' must be a string") end

local interpolate_series = string.find(series_template, "%%{[%w%p]-}") ~= nil

local BASE_FIELDS = {"Type", "Payload", "Hostname", "Pid", "Logger", "Severity", "EnvVersion"}
local IS_BASE = {}
for _, name in ipairs(BASE_FIELDS) do IS_BASE[name] = true end

-- Skipped base fields leave the header list; the rest of skip_fields names dynamic fields.
local header_columns, skip = {}, {}
for name in string.gmatch(skip_fields_str or "", "%S+") do skip[name] = true end
for _, name in ipairs(BASE_FIELDS) do
    if skip[name] then skip[name] = nil else header_columns[#header_columns + 1] = name end
end
if exclude_base_fields then header_columns = {} end

local function header_value(name)
    local v = read_message(name)
    if v == nil then
        if name == "Pid" then return 0 end
        if name == "Severity" then return 7 end
        return ""
    end
    return v
end

local function series_name()
    if not interpolate_series then return series_template end
    return (string.gsub(series_template, "%%{([%w%p]-)}", function(key)
        if IS_BASE[key] then return tostring(header_value(key)) end
        local v = read_message("Fields[" .. key .. "]")
        if v == nil then return nil end  -- kept as written
        if type(v) == "boolean" then return tostring(v) end
        if math.type(v) == "float" and v == math.floor(v) and v > -1e15 and v < 1e15 then
            return string.format("%d", math.tointeger(v))
        end
        return v
    end))
end

local function series_json(name, columns, values)
    local cols, vals = {}, {}
    for i, c in ipairs(columns) do cols[i] = cjson.encode(c) end
    for i = 1, #columns do vals[i] = cjson.encode(values[i]) end
    return '{"points":[[' .. table.concat(vals, ",") .. ']],"name":' .. cjson.encode(name)
        .. ',"columns":[' .. table.concat(cols, ",") .. "]}"
end

-- All values of occurrence `occurrence` of field `name`.
local function all_values(name, occurrence, count)
    local values = {}
    for i = 1, count do values[i] = read_message("Fields[" .. name .. "]", occurrence, i - 1) end
    return values
end

function process_message()
    local columns, values = {"time"}, {read_message("Timestamp") / 1e6}
    for _, name in ipairs(header_columns) do
        columns[#columns + 1] = name
        values[#values + 1] = header_value(name)
    end
    local series = series_name()
    local out = {}

    if multi_series then
        local place = #columns + 1
        while true do
            local typ, name, value = read_next_field()
            if not typ then break end
            if typ ~= 1 and not skip[name] then
                columns[place], values[place] = "value", value
                if value == nil then values[place] = cjson.null end
                out[#out + 1] = series_json(series .. "." .. name, columns, values)
            end
        end
    else
        local seen, occurrences = {}, {}
        while true do
            local typ, name, value, _, count = read_next_field()
            if not typ then break end
            local occurrence = occurrences[name] or 0
            occurrences[name] = occurrence + 1
            if name ~= "Timestamp" and typ ~= 1 and not skip[name] then
                local n = (seen[name] or 0) + 1
                seen[name] = n
                columns[#columns + 1] = n == 1 and name or name .. n
                if count == 1 then
                    values[#columns] = value
                else
                    values[#columns] = all_values(name, occurrence, count)
                end
            end
        end
        out[1] = series_json(series, columns, values)
    end

    inject_payload("json", "influx_message", "[" .. table.concat(out, ",") .. "]")
    return 0
end
