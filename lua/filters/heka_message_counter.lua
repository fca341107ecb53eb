--[[
heka_message_counter (SandboxFilter): how many messages arrive from each source, as one
graph (circular buffer) per source: per Logger by default, or per Type, Hostname, or any
message variable. Self-monitoring: point it at everything ("TRUE") or at a family of
messages and see which input, decoder or host goes quiet or floods.

Each graph has one column, "messages" (unit count, aggregation sum): the messages whose
Timestamp falls in each row.

Config:
  - message_variable (string, default "Logger"): what tells sources apart, e.g. "Type",
    "Hostname", "Fields[service]". Messages without it (or with it empty) count as
    "-none-".
  - rows (integer, default 1440) and sec_per_row (integer, default 60): each graph's
    window (the default: one day of minutes).
  - max_sources (integer, default 100): at most this many graphs; the messages of
    further sources all count in one graph named "-other-".

Example Heka TOML:

    [MessageCounter]
    type = "SandboxFilter"
    filename = "lua_filters/heka_message_counter.lua"
    message_matcher = "Logger != 'MessageCounter'"
    ticker_interval = 60
    preserve_data = true

        [MessageCounter.config]
        message_variable = "Logger"
        sec_per_row = 60

Output on every timer_event, for each source in name order: the current row of its graph
is brought up to the timer's time (a quiet source shows 0, not a gap), then
inject_payload("cbuf", <source>, <graph>). With preserve_data the graphs survive restarts.
--]]

require "circular_buffer"

local message_variable = read_config("message_variable") or "Logger"
local rows = read_config("rows") or 1440
local sec_per_row = read_config("sec_per_row") or 60
local max_sources = read_config("max_sources") or 100

if type(message_variable) ~= "string" or message_variable == "" then
    error("heka_message_counter: 'message_variable' must be a message variable such as \"Type\"")
end
if math.type(rows) ~= "integer" or rows < 2 then error("heka_message_counter: 'rows' must be an integer > 1") end
if math.type(sec_per_row) ~= "integer" or sec_per_row < 1 or sec_per_row > 86400 then
    error("heka_message_counter: 'sec_per_row' must be an integer from 1 to 86400")
end
if math.type(max_sources) ~= "integer" or max_sources < 1 then
    error("heka_message_counter: 'max_sources' must be a positive integer")
end

local OTHER = "-other-"

sources = {}       -- source name -> circular buffer
source_count = 0

local function graph(name)
    local cb = sources[name]
    if cb then return cb end
    if source_count >= max_sources then
        name = OTHER
        cb = sources[name]
        if cb then return cb end
    end
    cb = circular_buffer.new(rows, 1, sec_per_row)
    cb:set_header(1, "messages", "count", "sum")
    sources[name] = cb
    if name ~= OTHER then source_count = source_count + 1 end
    return cb
end

function process_message()
    local v = read_message(message_variable)
    local name
    if v == nil or v == "" then name = "-none-" else name = tostring(v) end
    graph(name):add(read_message("Timestamp"), 1, 1)
    return 0
end

function timer_event(ns)
    local names = {}
    for name in pairs(sources) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
        local cb = sources[name]
        cb:add(ns, 1, 0)
        inject_payload("cbuf", name, cb)
    end
end
