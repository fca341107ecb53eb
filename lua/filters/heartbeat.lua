--[[
heartbeat (SandboxFilter): alerts when a source stops sending (missing data).

Every message counts as a sign of life from its source: the value of `field` (default
Hostname). On each timer_event, a source silent for more than `timeout` seconds is
reported once (one alert listing every source that went silent); when it is heard from
again, a recovery is reported and it is watched again.

Config (read_config), all optional:
  - field (string, default "Hostname"): what names a source (a header or Fields[name]).
  - timeout (integer seconds, default 300).
  - expected (string): comma-separated sources that must report even if never heard from
    since start-up (they are watched from the first timer_event).
  - alert_throttle (integer seconds, default 0): minimum time between two alerts.
--]]

local alert = require "alert"

local field = read_config("field") or "Hostname"
local timeout = (read_config("timeout") or 300) * 1e9
alert.set_throttle((read_config("alert_throttle") or 0) * 1e9)

-- last_seen[source] = ns; silent[source] = true once reported
last_seen = {}
silent = {}
local expected = {}
for name in (read_config("expected") or ""):gmatch("[^,%s]+") do expected[#expected + 1] = name end

function process_message()
    local source = read_message(field)
    if source == nil then return -1, field .. " missing" end
    source = tostring(source)
    last_seen[source] = read_message("Timestamp")
    if silent[source] then
        silent[source] = nil
        alert.queue(last_seen[source], source .. " is sending again")
    end
    return 0
end

function timer_event(ns)
    for _, name in ipairs(expected) do
        if last_seen[name] == nil then last_seen[name] = ns end
    end
    local names = {}
    for source in pairs(last_seen) do names[#names + 1] = source end
    table.sort(names)
    for _, source in ipairs(names) do
        if not silent[source] and ns - last_seen[source] > timeout then
            silent[source] = true
            alert.queue(ns, string.format("%s: no data for %d s", source, math.floor((ns - last_seen[source]) / 1e9)))
        end
    end
    alert.send_queue(ns, "heartbeat")
end
