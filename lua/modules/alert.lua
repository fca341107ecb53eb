--[[
alert: throttled alerts from filters (Heka's alert module).

    local alert = require "alert"
    alert.set_throttle(5 * 60e9)        -- at most one alert per 5 minutes (default: 1 hour)
    if alert.send(ns, "5xx ratio 12% over the last 5 minutes") then ... end

An alert is a message injected with inject_payload("alert", name, text): Type
"heka.sandbox-output", Fields payload_type "alert" and payload_name, Payload the text.
Match it with `Fields[payload_type] == 'alert'` and deliver it with an output (HttpOutput,
SmtpOutput, or a file) and the bundled `alert` encoder.

  alert.send(ns, text [, name])   sends now unless throttled; returns true when sent
  alert.queue(ns, text)           collects text for the next send_queue
  alert.send_queue(ns [, name])   sends everything queued as one alert (newline separated)
                                  unless throttled (the queue is then kept); true when sent
  alert.set_throttle(ns)          minimum time between two alerts, in nanoseconds
  alert.throttled(ns)             whether an alert sent at ns would be held back

The time of the last alert and the throttle live in the global table `alert_state`, so
`preserve_data` keeps them across restarts, and hot reloads carry them over: a reloaded
filter does not alert again inside the throttle window.
--]]

local inject_payload = inject_payload
local table = table

local M = {}

-- Created on require; preserved state restored afterwards replaces it.
alert_state = alert_state or {throttle = 60 * 60 * 1e9, queue = {}}  -- last: set by the first alert

local function state()
    local s = alert_state
    s.queue = s.queue or {}
    return s
end

function M.set_throttle(ns)
    assert(type(ns) == "number" and ns >= 0, "set_throttle: nanoseconds >= 0 expected")
    state().throttle = ns
end

function M.throttled(ns)
    local s = state()
    return s.last ~= nil and ns - s.last < s.throttle
end

function M.send(ns, text, name)
    if M.throttled(ns) then return false end
    inject_payload("alert", name or "", text)
    state().last = ns
    return true
end

function M.queue(ns, text)
    local q = state().queue
    q[#q + 1] = text
end

function M.send_queue(ns, name)
    local s = state()
    if #s.queue == 0 or M.throttled(ns) then return false end
    inject_payload("alert", name or "", table.concat(s.queue, "\n"))
    s.queue = {}
    s.last = ns
    return true
end

return M
