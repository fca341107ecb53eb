--[[
Graylog Extended Log Format (GELF) decoder (SandboxDecoder), compatible with Heka's
graylog_extended.lua. The Payload must hold one GELF message (JSON, GELF 1.0 or 1.1),
as a GELF client sends it:

    {
      "version": "1.1",
      "host": "web-3.example.com",
      "short_message": "Payment declined for order 8812",
      "full_message": "PaymentError: card declined\n  at charge (billing.js:88)",
      "timestamp": 1385053862.3072,
      "level": 3,
      "_user_id": 9001,
      "_request_id": "c1f9e7a2"
    }

Config (read_config):
- type (string, optional, default unset: the input's Type is kept): the message Type.
- payload_keep (bool, default false): keep the JSON text as the message Payload.

Example (Heka TOML):

    [GelfInput]
    type = "UdpInput"
    address = "0.0.0.0:12201"
    decoder = "GraylogDecoder"

    [GraylogDecoder]
    type = "SandboxDecoder"
    filename = "lua_decoders/graylog_extended.lua"

        [GraylogDecoder.config]
        type = "gelf"
        payload_keep = true

Output message (as Heka's):
    Timestamp   "timestamp" (seconds since the epoch, with a fraction) in nanoseconds,
                rounded to the microsecond (a double carries no more at today's epoch)
    Hostname    "host"
    Severity    "level" (syslog levels 0..7)
    EnvVersion  "version" (a number is written as Heka wrote it: 1 -> "1")
    Payload     the JSON text with payload_keep, else absent
    Fields      every other member under its own name, the leading "_" of additional
                fields kept: short_message, full_message, _user_id, _request_id, and
                GELF 1.0's facility, file, line. Numbers are double fields, as in Heka;
                an array becomes one field with several values.
Headers GELF does not set (Logger, Pid, and Hostname, Severity when absent) come from the
input message.

A Payload that is not a JSON object, or a "timestamp" that is not a number, makes
process_message return -1 and injects nothing (so does a message inject_message
refuses). Where Heka failed, luapiped accepts: a missing "timestamp" keeps the input's
Timestamp (GELF 1.1 lets the receiver set it), a numeric string "timestamp" is read as a
number, null members are left out, and a nested object (not valid GELF) is flattened
into dotted names ("_http.status") as the json decoder does.
--]]

local cjson  = require "cjson.safe"
local util   = require "util"
local math   = require "math"
local string = require "string"

local msg_type     = read_config("type")
local payload_keep = read_config("payload_keep")
if msg_type ~= nil and type(msg_type) ~= "string" then
    error("graylog_extended: type must be a string")
end

local null = cjson.null

-- GELF's seconds (a double) as integer nanoseconds, to the microsecond
local function seconds_to_ns(ts)
    local s = math.floor(ts)
    local us = math.floor((ts - s) * 1e6 + 0.5)
    return math.tointeger(s) * 1000000000 + us * 1000
end

local function env_version(v)
    if type(v) == "number" then return string.format("%.14g", v) end
    return v
end

local function is_array(t)
    local n = #t
    if n == 0 then return next(t) == nil end
    return next(t, n) == nil
end

function process_message()
    local raw = read_message("Payload")
    local json = cjson.decode(raw)
    if type(json) ~= "table" then return -1, "Failed to decode JSON" end
    if json[1] ~= nil then return -1, "not a JSON object" end

    local msg = {Type = msg_type, Payload = payload_keep and raw or nil}

    local ts = json.timestamp
    if ts ~= nil and ts ~= null then
        ts = tonumber(ts)
        if not ts or not (ts > -9.2e9 and ts < 9.2e9) then  -- NaN, infinities, int64 ns range
            return -1, "timestamp is not a number"
        end
        msg.Timestamp = seconds_to_ns(ts)
    end
    if json.host ~= null then msg.Hostname = json.host end
    if json.level ~= null then msg.Severity = json.level end
    if json.version ~= null then msg.EnvVersion = env_version(json.version) end
    json.timestamp, json.host, json.level, json.version = nil, nil, nil, nil

    local fields = {}
    for k, v in pairs(json) do
        if type(v) == "table" and not is_array(v) then
            util.table_to_fields(v, fields, k)
        elseif type(v) == "table" then
            -- an array field holds its scalar values (nulls and nested values dropped)
            local values = {}
            for _, item in ipairs(v) do
                if item ~= null and type(item) ~= "table" then values[#values + 1] = item end
            end
            for i = 2, #values do  -- one field has one type: mixed values become text
                if type(values[i]) ~= type(values[1]) then
                    for j = 1, #values do
                        local x = values[j]
                        values[j] = type(x) == "number" and string.format("%.14g", x) or tostring(x)
                    end
                    break
                end
            end
            if #values > 0 then fields[k] = values end
        elseif v ~= null then
            fields[k] = v
        end
    end
    msg.Fields = fields

    if not pcall(inject_message, msg) then return -1, "Failed to inject the message" end
    return 0
end
