--[[
JSON decoder (SandboxDecoder), compatible with Heka's json.lua: the Payload holds one
JSON object, whose members become message fields; chosen members can fill the message
headers instead.

    {"msg":"Start Request","event":"artemis.web.ensure-running",
     "extra":{"workspace-id":"cN907xLngi"},"time":"2015-05-06T20:40:05.509926234Z",
     "severity":1}

Config (read_config):
- type (string, default "json"): the message Type (the Type mapping below wins).
- payload_keep (bool, default false): keep the JSON text as the Payload.
- map_fields (bool, default false): fill headers from the members named by the
  settings below (each the name of a top-level member; the member is then not a field).
  A member of the wrong type stays a field and the header keeps its default.
    Payload     string member -> Payload (wins over payload_keep)
    Uuid        string member -> Uuid (36 characters with dashes, 32 hex or 16 bytes)
    Type        string member -> Type (wins over type)
    Logger      string member -> Logger
    Hostname    string member -> Hostname
    Severity    number member -> Severity
    Pid         number member -> Pid
    EnvVersion  number member -> EnvVersion, written as Heka wrote it (2 -> "2"); a
                string member is taken as is (Heka left a string in the fields)
- Timestamp (string, optional): the member holding the time; read whether or not
  map_fields is set, and never a field.
- timestamp_format (string, optional): strftime format of the Timestamp member, parsed
  with the date_time module's build_strftime_grammar (e.g. "%Y-%m-%dT%H:%M:%S%z",
  "%d/%b/%Y:%H:%M:%S %z"; see lua/modules/date_time.lua). As in Heka the format only
  has to match the start of the value, so "%Y-%m-%dT%H:%M:%S" reads
  "2015-05-06T20:40:05.509926234Z" as 20:40:05 UTC, the fraction dropped. Times without
  an offset are UTC.
  Without timestamp_format the member must be nanoseconds since the epoch (a number,
  or a string of digits, read exactly); luapiped also takes an RFC 3339 string
  ("2015-05-06T20:40:05.509926234Z", "2015-05-06T22:40:05.5+02:00", with nanoseconds)
  where Heka failed.
  A Timestamp member that cannot be read makes the decode fail ("Failed to decode
  timestamp."). null or a missing member keeps the input's Timestamp.

Example (Heka TOML):

    [ArtemisLogInput]
    type = "LogstreamerInput"
    log_directory = "/srv/artemis/current/logs"
    file_match = 'artemis\.log'
    decoder = "JsonDecoder"

    [JsonDecoder]
    type = "SandboxDecoder"
    filename = "lua_decoders/json.lua"

        [JsonDecoder.config]
        type = "artemis"
        payload_keep = true
        map_fields = true
        Severity = "severity"
        Timestamp = "time"

Output message, for the sample above with this configuration:
    Type "artemis", Severity 1, Timestamp 1430944805509926234, the JSON text as Payload;
    Fields msg "Start Request", event "artemis.web.ensure-running",
    extra.workspace-id "cN907xLngi".
Nested objects are flattened into dotted names ("extra.workspace-id"), arrays by
position from 1 ("tags.1", "tags.2"), as Heka's util.table_to_fields did; numbers are
double fields (JSON numbers, as in Heka), true/false bool fields, null members are left
out. Headers not set here (Hostname, Logger, Pid, Severity, Timestamp) come from the
input message.

Failures (process_message returns -1, nothing injected): text that is not JSON or not
an object ("Failed to decode JSON."), an unreadable Timestamp member ("Failed to decode
timestamp."), and a message inject_message refuses, such as an invalid Uuid ("Failed to
inject message.").
--]]

local cjson  = require "cjson.safe"
local util   = require "util"
local dt     = require "date_time"
local string = require "string"
local math   = require "math"
local lpeg   = require "lpeg"

local function config_string(key)
    local v = read_config(key)
    if v ~= nil and type(v) ~= "string" then
        error("json: " .. key .. " must be a string")
    end
    return v
end

local msg_type         = config_string("type") or "json"
local payload_keep     = read_config("payload_keep")
local map_fields       = read_config("map_fields")
local timestamp_key    = config_string("Timestamp")
local timestamp_format = config_string("timestamp_format")

local ts_grammar
if timestamp_format then
    ts_grammar = dt.build_strftime_grammar(timestamp_format)
end

-- header -> expected Lua type of the member (EnvVersion is handled apart)
local HEADER_TYPES = {
    Payload = "string", Uuid = "string", Type = "string", Logger = "string",
    Hostname = "string", Severity = "number", Pid = "number", EnvVersion = "number",
}
local header_map = {}   -- header -> member name, for the configured ones
for header in pairs(HEADER_TYPES) do
    header_map[header] = config_string(header)
end

local null = cjson.null
local rfc3339_only = dt.rfc3339 * -1
local digits_only  = lpeg.R"09"^1 * -1

local function env_version(v)
    if type(v) == "number" then return string.format("%.14g", v) end
    return v
end

-- nanoseconds from the Timestamp member, or nil
local function timestamp_of(v)
    if ts_grammar then
        local t = ts_grammar:match(type(v) == "number" and string.format("%.14g", v) or tostring(v))
        if not t then return nil end
        return dt.time_to_ns(t)
    end
    if type(v) == "number" then
        if not (v > -9.2e18 and v < 9.2e18) then return nil end  -- NaN, out of int64
        return v
    end
    if type(v) ~= "string" then return nil end
    if digits_only:match(v) then return math.tointeger(tonumber(v)) end
    local t = rfc3339_only:match(v)
    if t then return dt.time_to_ns(t) end
    return nil
end

function process_message()
    local raw = read_message("Payload")
    local json = cjson.decode(raw)
    if type(json) ~= "table" or json[1] ~= nil then return -1, "Failed to decode JSON." end

    local msg = {Type = msg_type}
    if payload_keep then msg.Payload = raw end

    if map_fields then
        for header, member in pairs(header_map) do
            local v = json[member]
            local t = type(v)
            if t == HEADER_TYPES[header] or (header == "EnvVersion" and t == "string") then
                msg[header] = header == "EnvVersion" and env_version(v) or v
                json[member] = nil
            end
        end
    end

    if timestamp_key then
        local v = json[timestamp_key]
        if v ~= nil and v ~= null then
            local ns = timestamp_of(v)
            if not ns then return -1, "Failed to decode timestamp." end
            msg.Timestamp = ns
        end
        json[timestamp_key] = nil
    end

    msg.Fields = util.table_to_fields(json, {})

    if not pcall(inject_message, msg) then return -1, "Failed to inject message." end
    return 0
end
