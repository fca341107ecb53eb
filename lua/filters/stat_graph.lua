--[[
stat_graph (SandboxFilter): StatsD aggregates (StatAccumInput's heka.statmetric messages)
into a circular buffer, one column per stat: the graph's data.

Matcher: message_matcher = "Type == 'heka.statmetric'".

Config (read_config):
  - stats (string, required): the stat paths to graph, separated by spaces, e.g.
      "stats.counters.app.requests.rate stats.timers.app.latency.upper_90"
  - stat_labels (string): column names for them, separated by spaces (default: each
    path's last two elements).
  - title (string, default "Stats"), rows (default 1440), sec_per_row (default 60).
  - stat_aggregation (string, default "sum"): how a row combines several values of the
    same stat: sum, min, max or none (keep the last).

It reads the carbon lines of the Payload (`path value timestamp`) and, when the
StatAccumInput emits them, the fields named by the paths. Output on every timer_event:
inject_payload("cbuf", title, the buffer).
--]]

require "circular_buffer"

local title = read_config("title") or "Stats"
local rows = read_config("rows") or 1440
local sec_per_row = read_config("sec_per_row") or 60
local aggregation = read_config("stat_aggregation") or "sum"
local wanted = {}
for path in (read_config("stats") or error("stat_graph: the 'stats' setting is required")):gmatch("%S+") do
    wanted[#wanted + 1] = path
end
assert(#wanted > 0, "stat_graph: 'stats' names no stat")
local labels = {}
for label in (read_config("stat_labels") or ""):gmatch("%S+") do labels[#labels + 1] = label end

graph = circular_buffer.new(rows, #wanted, sec_per_row)
local column = {}
for i, path in ipairs(wanted) do
    column[path] = i
    local label = labels[i] or path:match("([^.]+%.[^.]+)$") or path
    graph:set_header(i, label, "count", aggregation == "none" and "none" or aggregation)
end

local function record(col, ts, value)
    if aggregation == "sum" then graph:add(ts, col, value) else graph:set(ts, col, value) end
end

function process_message()
    local payload = read_message("Payload")
    local seen = false
    if payload then
        for path, value, ts in payload:gmatch("(%S+) (%S+) (%d+)\n") do
            local col = column[path]
            local v = tonumber(value)
            if col and v then
                record(col, tonumber(ts) * 1e9, v)
                seen = true
            end
        end
    end
    if not seen then
        local ts = read_message("Timestamp")
        for path, col in pairs(column) do
            local v = read_message("Fields[" .. path .. "]")
            if type(v) == "number" then record(col, ts, v) end
        end
    end
    return 0
end

function timer_event(ns)
    inject_payload("cbuf", title, graph)
end
