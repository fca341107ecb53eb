--[[
http_status (SandboxFilter): HTTP status classes per interval in a circular buffer, the
graph's data, with optional anomaly detection and throttled alerts.

Input: messages with an integer Fields[status] (lua/decoders/nginx_access.lua makes them).
Matcher example: message_matcher = "Type == 'nginx.access'".

Config (read_config), all optional:
  - sec_per_row (integer, default 60): seconds each row covers.
  - rows (integer, default 1440): rows kept (the default: one day of minutes).
  - title (string, default "HTTP Status"): the graph's name (payload_name of the output).
  - anomaly_config (string): tests for the anomaly module, e.g.
      'roc("HTTP Status", 2, 15, 0, 1.5, true, false) mww_nonparametric("HTTP Status", 5, 15, 10, 0.8, "increasing")'
    (columns: 1 = 1xx, 2 = 2xx, 3 = 3xx, 4 = 4xx, 5 = 5xx, 6 = unknown).
  - alert_throttle (integer seconds, default 3600): at most one alert that often.

Output on every timer_event: inject_payload("cbuf", title, the buffer), and, when an
anomaly is found, an alert (inject_payload("alert", title, text)) and an annotation on
the graph. With preserve_data the buffer, its annotations and the alert throttle survive
restarts; a hot reload keeps them too.
--]]

require "circular_buffer"
local alert = require "alert"
local anomaly = require "anomaly"

local title = read_config("title") or "HTTP Status"
local rows = read_config("rows") or 1440
local sec_per_row = read_config("sec_per_row") or 60
local anomaly_config = anomaly.parse_config(read_config("anomaly_config"))
alert.set_throttle((read_config("alert_throttle") or 3600) * 1e9)

status = circular_buffer.new(rows, 6, sec_per_row)
local COLUMNS = {"HTTP_1xx", "HTTP_2xx", "HTTP_3xx", "HTTP_4xx", "HTTP_5xx", "HTTP_unknown"}
for i, name in ipairs(COLUMNS) do status:set_header(i, name, "count") end

function process_message()
    local ts = read_message("Timestamp")
    local code = read_message("Fields[status]")
    local col = 6
    if type(code) == "number" and code >= 100 and code < 600 then col = math.floor(code / 100) end
    status:add(ts, col, 1)
    return 0
end

function timer_event(ns)
    if anomaly_config then anomaly.alert_on(ns, title, status, anomaly_config) end
    inject_payload("cbuf", title, status)
end
