--[[
HTTP status counter (SandboxFilter).

Counts the numeric Fields[status] of web server access log messages (for example those
injected by lua/decoders/nginx_access.lua), per status code and per class (1xx .. 5xx),
and reports the counts on every timer_event.

Counting rules:
  - an integral number (or a numeric string, e.g. from a decoder that kept it as text)
    counts under its code; codes 100..599 also count under their class "Nxx";
  - any other code (e.g. 0 or 999) counts under its code and under class "unknown";
  - a message without a usable status (absent, non-numeric, fractional) counts only
    under "unknown";
  - every processed message counts in "total". process_message always returns 0.

The counts live in globals (status_counts, unknown_count, total_count) so that
preserve_data = true carries them across restarts.

Config (read_config), all optional:
  - payload_name (string, default "status_counts"): name passed to inject_payload.
  - message_type (string, default "http_status_count"): Type of the injected message
    (the host may prefix it, as Heka does with "heka.sandbox.").
  - emit_message (bool, default true): also inject a message with integer fields.
  - reset_on_emit (bool, default false): clear the counts after each report, making
    every report cover one ticker interval instead of the whole run.

Output of timer_event(ns, shutdown):
  1. inject_payload("json", payload_name, JSON) with JSON like
       {"total":1000,"classes":{"1xx":0,"2xx":850,"3xx":70,"4xx":60,"5xx":20,"unknown":0},
        "statuses":{"200":850,"301":30,"304":40,"404":60,"500":20}}
     (statuses in ascending code order; all six classes always present).
  2. when emit_message is on, inject_message of
       {Timestamp = ns, Type = message_type,
        Fields = {total = N, HTTP_1xx = N, HTTP_2xx = N, HTTP_3xx = N, HTTP_4xx = N,
                  HTTP_5xx = N, HTTP_UNKNOWN = N, HTTP_200 = N, ...one per code seen}}
     with every value a Lua integer.
--]]

local payload_name  = read_config("payload_name") or "status_counts"
local message_type  = read_config("message_type") or "http_status_count"
local emit_message  = read_config("emit_message")
if emit_message == nil then emit_message = true end
local reset_on_emit = read_config("reset_on_emit")

local tointeger = math.tointeger
local format    = string.format
local concat    = table.concat
local sort      = table.sort

-- preserved state (globals on purpose)
status_counts = {}   -- integer code -> count
unknown_count = 0    -- messages without a usable status
total_count   = 0

function process_message()
    -- math.tointeger takes a number or a numeric string ("404", "404.0") and gives nil
    -- for anything else (absent, "abc", 404.5): one call instead of two type() tests
    local code = tointeger(read_message("Fields[status]"))
    if code then
        status_counts[code] = (status_counts[code] or 0) + 1
    else
        unknown_count = unknown_count + 1
    end
    total_count = total_count + 1
    return 0
end

local CLASS_NAMES = {"1xx", "2xx", "3xx", "4xx", "5xx"}

local function summarize()
    local codes = {}
    for code in pairs(status_counts) do codes[#codes + 1] = code end
    sort(codes)
    local classes = {0, 0, 0, 0, 0}
    local unknown = unknown_count
    for _, code in ipairs(codes) do
        local n = status_counts[code]
        if code >= 100 and code <= 599 then
            local c = code // 100
            classes[c] = classes[c] + n
        else
            unknown = unknown + n
        end
    end
    return codes, classes, unknown
end

local function json(codes, classes, unknown)
    local parts = {}
    for i, name in ipairs(CLASS_NAMES) do
        parts[#parts + 1] = format('"%s":%d', name, classes[i])
    end
    parts[#parts + 1] = format('"unknown":%d', unknown)
    local statuses = {}
    for _, code in ipairs(codes) do
        statuses[#statuses + 1] = format('"%d":%d', code, status_counts[code])
    end
    return format('{"total":%d,"classes":{%s},"statuses":{%s}}',
                  total_count, concat(parts, ","), concat(statuses, ","))
end

function timer_event(ns, shutdown)
    local codes, classes, unknown = summarize()
    inject_payload("json", payload_name, json(codes, classes, unknown))

    if emit_message then
        local fields = {total = total_count, HTTP_UNKNOWN = unknown}
        for i, name in ipairs(CLASS_NAMES) do fields["HTTP_" .. name] = classes[i] end
        for _, code in ipairs(codes) do fields["HTTP_" .. code] = status_counts[code] end
        inject_message({Timestamp = ns, Type = message_type, Fields = fields})
    end

    if reset_on_emit then
        status_counts = {}
        unknown_count = 0
        total_count = 0
    end
end
