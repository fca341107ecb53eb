--[[
Memory graph (SandboxFilter), compatible with Heka's memstats.lua.

Graphs what lua/decoders/linux_memstats.lua reads from /proc/meminfo
(message_matcher = "Type == 'stats.memstats'") in a circular buffer titled "Memory
Stats": the columns MemFree, Cached, Active, Inactive, VmallocUsed, Shmem, SwapCached,
SwapFree and SwapUsed (SwapTotal - SwapFree), aggregation "max", unit "Count" (the
values are in kB, as /proc/meminfo gives them). A field a kernel does not report leaves
its column unset for that row.

Config:
- sec_per_row (default 60), rows (default 1440): the graph's resolution and length.
- anomaly_config (string, optional): anomaly detection on the graph (docs/metrics.md).
- preservation_version (default 0): raise it when rows or sec_per_row change.

On every timer_event: inject_payload("cbuf", "Memory Stats", <the graph>).
--]]

_PRESERVATION_VERSION = read_config("preservation_version") or 0

require "circular_buffer"
local alert = require "alert"
local anomaly = require "anomaly"

local title = "Memory Stats"
local rows = read_config("rows") or 1440
local sec_per_row = read_config("sec_per_row") or 60
local anomaly_config = anomaly.parse_config(read_config("anomaly_config"))
alert.set_throttle((read_config("alert_throttle") or 3600) * 1e9)

local FIELDS = {"MemFree", "Cached", "Active", "Inactive", "VmallocUsed", "Shmem", "SwapCached"}
local READS = {}
cbuf = circular_buffer.new(rows, #FIELDS + 2, sec_per_row)
for i, name in ipairs(FIELDS) do
    READS[i] = "Fields[" .. name .. "]"
    cbuf:set_header(i, name, "Count", "max")
end
local SWAP_FREE, SWAP_USED = #FIELDS + 1, #FIELDS + 2
cbuf:set_header(SWAP_FREE, "SwapFree", "Count", "max")
cbuf:set_header(SWAP_USED, "SwapUsed", "Count", "max")

function process_message()
    local ts = read_message("Timestamp")
    for i, field in ipairs(READS) do
        local v = read_message(field)
        if type(v) == "number" then cbuf:set(ts, i, v) end
    end
    local free, total = read_message("Fields[SwapFree]"), read_message("Fields[SwapTotal]")
    if type(free) == "number" then
        cbuf:set(ts, SWAP_FREE, free)
        if type(total) == "number" then cbuf:set(ts, SWAP_USED, total - free) end
    end
    return 0
end

function timer_event(ns)
    if anomaly_config then anomaly.alert_on(ns, title, cbuf, anomaly_config) end
    inject_payload("cbuf", title, cbuf)
end
