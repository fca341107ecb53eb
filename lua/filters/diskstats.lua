--[[
Disk IO graphs (SandboxFilter), compatible with Heka's diskstats.lua.

Graphs what lua/decoders/linux_diskstats.lua reads from /sys/block/<disk>/stat
(message_matcher = "Type == 'stats.diskstats'") in two circular buffers whose row size
is the input's TickerInterval field (FilePollingInput's ticker_interval):

- "Disk Stats": WritesCompleted, ReadsCompleted, SectorsWritten, SectorsRead,
  WritesMerged, ReadsMerged as the increase since the previous message (the kernel's
  counters are running totals), unit "per_<TickerInterval>_s" (cut to 7 bytes, as a
  circular buffer keeps them: "per_60_"), aggregation "none";
- "Time doing IO": TimeWriting, TimeReading, TimeDoingIO, WeightedTimeDoingIO as the
  running totals they are, unit "ms", aggregation "max".

The graphs are made with the first message. When TickerInterval changes (or rows, across
a restart with preserve_data), "Disk Stats" starts again with the new row size. A
message without TickerInterval or one of the numbers is refused (process_message
returns -1).

Config:
- rows (default 1440): the graphs' length.
- anomaly_config (string, optional): anomaly detection on both graphs (docs/metrics.md).

On every timer_event, once a message came: inject_payload("cbuf", TITLE, <graph>) for each.
--]]

require "circular_buffer"
local alert = require "alert"
local anomaly = require "anomaly"

local rows = read_config("rows") or 1440
local anomaly_config = anomaly.parse_config(read_config("anomaly_config"))
alert.set_throttle((read_config("alert_throttle") or 3600) * 1e9)

-- preserved with preserve_data: the graphs, the last counters and the shape they were made with
last_run = last_run or {rows = nil, sec_per_row = nil}
stats = stats or {
    {title = "Disk Stats", aggregation = "none", last = {},
     fields = {"WritesCompleted", "ReadsCompleted", "SectorsWritten", "SectorsRead", "WritesMerged", "ReadsMerged"}},
    {title = "Time doing IO", unit = "ms", aggregation = "max",
     fields = {"TimeWriting", "TimeReading", "TimeDoingIO", "WeightedTimeDoingIO"}},
}

local function make(stat, sec_per_row, unit)
    stat.cbuf = circular_buffer.new(rows, #stat.fields, sec_per_row)
    for i, name in ipairs(stat.fields) do stat.cbuf:set_header(i, name, unit, stat.aggregation) end
end

local values = {{}, {}}

function process_message()
    local sec_per_row = read_message("Fields[TickerInterval]")
    if type(sec_per_row) ~= "number" or sec_per_row < 1 then return -1, "no TickerInterval field" end
    sec_per_row = math.floor(sec_per_row)
    for s, stat in ipairs(stats) do
        for i, name in ipairs(stat.fields) do
            local v = read_message("Fields[" .. name .. "]")
            if type(v) ~= "number" then return -1, "no number in Fields[" .. name .. "]" end
            values[s][i] = v
        end
    end
    local counts, times = stats[1], stats[2]
    if not times.cbuf then make(times, sec_per_row, times.unit) end
    if not counts.cbuf or last_run.rows ~= rows or last_run.sec_per_row ~= sec_per_row then
        make(counts, sec_per_row, "per_" .. sec_per_row .. "_s")
        last_run.rows, last_run.sec_per_row = rows, sec_per_row
    end
    local ts = read_message("Timestamp")
    for i, v in ipairs(values[2]) do times.cbuf:set(ts, i, v) end
    for i, v in ipairs(values[1]) do
        if counts.last[i] then counts.cbuf:set(ts, i, v - counts.last[i]) end
        counts.last[i] = v
    end
    return 0
end

function timer_event(ns)
    for _, stat in ipairs(stats) do
        if stat.cbuf then
            if anomaly_config then anomaly.alert_on(ns, stat.title, stat.cbuf, anomaly_config) end
            inject_payload("cbuf", stat.title, stat.cbuf)
        end
    end
end
