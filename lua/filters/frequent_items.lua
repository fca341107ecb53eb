--[[
frequent_items (SandboxFilter), compatible with Heka's frequent_items.lua: the most
frequent values of one message variable (client addresses, user agents, URLs...) in a
stream too large to count every value, with bounded memory.

At most max_items values are tracked, each with a weight. A tracked value's weight grows
by one per message. A new value is tracked with weight 1 while there is room; when the
set is full, every weight drops by one instead (values reaching 0 are forgotten) and the
new value is not tracked (the Misra-Gries "frequent" algorithm Heka used: a value seen
more than 1/max_items of the time is never lost, and weights are lower bounds).

Config:
  - message_variable (string, required): what to count, e.g. "Fields[remote_addr]",
    "Hostname", "Type". A message without it is refused (process_message returns -1).
  - max_items (integer, default 1000): the most values tracked; more is more accurate.
  - min_output_weight (integer, default 100): only values weighing more are reported.
  - reset_days (integer, default 1): start afresh when a message's Timestamp reaches a
    new UTC day, counted in blocks of this many days since the last reset; messages
    from before the current block are ignored. 0: never reset.

Example Heka TOML:

    [FrequentClientIPs]
    type = "SandboxFilter"
    filename = "lua_filters/frequent_items.lua"
    ticker_interval = 60
    preserve_data = true
    message_matcher = "Type == 'nginx.access'"

        [FrequentClientIPs.config]
        message_variable = "Fields[remote_addr]"
        max_items = 10000
        min_output_weight = 100
        reset_days = 1

Output on every timer_event: inject_payload("tsv", "Weighting by <message_variable>",
text), a header line and one line per value, heaviest first (ties in value order):

    Fields[remote_addr]	Weight
    192.0.2.10	5230
    198.51.100.7	842

With preserve_data the tracked values survive restarts (globals items, items_size,
last_reset).
--]]

local message_variable = read_config("message_variable")
local max_items = read_config("max_items") or 1000
local min_output_weight = read_config("min_output_weight") or 100
local reset_days = read_config("reset_days") or 1

if type(message_variable) ~= "string" or message_variable == "" then
    error("frequent_items: the 'message_variable' setting is required (e.g. \"Fields[remote_addr]\")")
end
if math.type(max_items) ~= "integer" or max_items < 1 then
    error("frequent_items: 'max_items' must be a positive integer")
end
if type(min_output_weight) ~= "number" then error("frequent_items: 'min_output_weight' must be a number") end
if math.type(reset_days) ~= "integer" or reset_days < 0 then
    error("frequent_items: 'reset_days' must be an integer >= 0")
end

local NS_PER_DAY = 86400 * 1000000000

items = {}       -- value -> weight
items_size = 0
last_reset = 0   -- the day number (since the epoch) of the last reset

function process_message()
    local item = read_message(message_variable)
    if item == nil then return -1, message_variable .. " is missing" end

    if reset_days > 0 then
        local day = read_message("Timestamp") // NS_PER_DAY
        local days = day - last_reset
        if days < 0 then return 0 end  -- before the current block
        if days >= reset_days then
            last_reset = day
            items = {}
            items_size = 0
        end
    end

    local weight = items[item]
    if weight then
        items[item] = weight + 1
    elseif items_size < max_items then
        items[item] = 1
        items_size = items_size + 1
    else
        for k, w in pairs(items) do
            if w == 1 then
                items[k] = nil
                items_size = items_size - 1
            else
                items[k] = w - 1
            end
        end
    end
    return 0
end

local function heavier(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return tostring(a[1]) < tostring(b[1])
end

function timer_event(ns)
    local report = {}
    for k, w in pairs(items) do
        if w > min_output_weight then report[#report + 1] = {k, w} end
    end
    table.sort(report, heavier)
    add_to_payload(message_variable, "\tWeight\n")
    for _, kw in ipairs(report) do
        add_to_payload(tostring(kw[1]), "\t", kw[2], "\n")
    end
    inject_payload("tsv", "Weighting by " .. message_variable)
end
