--[[
Load average graph (SandboxFilter), compatible with Heka's loadavg.lua.

Graphs the fields 1MinAvg, 5MinAvg, 15MinAvg and NumProcesses of the messages
lua/decoders/linux_loadavg.lua makes (message_matcher = "Type == 'stats.loadavg'") in a
circular buffer titled "LoadAvg Stats": one column each, aggregation "max", unit
"Count", one row per sec_per_row. A message missing one of the four numbers is refused
(process_message returns -1) and changes nothing.

Config:
- sec_per_row (default 60), rows (default 1440): the graph's resolution and length.
- anomaly_config (string, optional): anomaly detection on the graph (docs/metrics.md);
  an anomaly annotates the graph and sends an alert (alert_throttle, default 3600 s).
- preservation_version (default 0): raise it when rows or sec_per_row change, so that a
  preserved graph of the old shape is not restored.

On every timer_event: inject_payload("cbuf", "LoadAvg Stats", <the graph>).
--]]

_PRESERVATION_VERSION = read_config("preservation_version") or 0

require "circular_buffer"
local alert = require "alert"
local anomaly = require "anomaly"

local title = "LoadAvg Stats"
local rows = read_config("rows") or 1440
local sec_per_row = read_config("sec_per_row") or 60
local anomaly_config = anomaly.parse_config(read_config("anomaly_config"))
alert.set_throttle((read_config("alert_throttle") or 3600) * 1e9)

local FIELDS = {"1MinAvg", "5MinAvg", "15MinAvg", "NumProcesses"}
local READS = {}
cbuf = circular_buffer.new(rows, #FIELDS, sec_per_row)
for i, name in ipairs(FIELDS) do
    READS[i] = "Fields[" .. name .. "]"
    cbuf:set_header(i, name, "Count", "max")
end

local values = {}

function process_message()
    for i, field in ipairs(READS) do
        local v = read_message(field)
        if type(v) ~= "number" then return -1, "no number in " .. field end
        values[i] = v
    end
    local ts = read_message("Timestamp")
    for i, v in ipairs(values) do cbuf:set(ts, i, v) end
    return 0
end

function timer_event(ns)
    if anomaly_config then anomaly.alert_on(ns, title, cbuf, anomaly_config) end
    inject_payload("cbuf", title, cbuf)
end
