--[[
counter (SandboxFilter): the smallest useful filter, a demo to copy. Counts the messages it
receives and reports, on every timer_event, the total and the rate since the last report.

Output: inject_payload("txt", "counter", "N messages, R per second").
--]]

count = 0            -- globals are the filter's state (kept across reloads)
local last_count, last_ns = 0, nil

function process_message()
    count = count + 1
    return 0
end

function timer_event(ns)
    local rate = 0
    if last_ns and ns > last_ns then rate = (count - last_count) / ((ns - last_ns) / 1e9) end
    inject_payload("txt", "counter", string.format("%d messages, %.1f per second", count, rate))
    last_count, last_ns = count, ns
end
