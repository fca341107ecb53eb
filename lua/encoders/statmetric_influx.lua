--[=[
StatAccumInput metrics as InfluxDB 0.7 JSON (SandboxEncoder), compatible with Heka's
statmetric_influx.lua, for an HttpOutput to InfluxDB's /db/<name>/series.

Input: heka.statmetric messages of a StatAccumInput with emit_in_fields = true (every
stat is a field, and the field "timestamp" holds the interval's time in seconds). Output:
one JSON array with a series per stat, in the message's field order:

    [{"name":"stats.counters.hits.count","columns":["time","value"],"points":[[1408404848000,78271]]}, ...]

The time is the timestamp field times 1000 (milliseconds), as Heka wrote it. A message
without the timestamp field is refused (process_message returns -1).
--]=]

local cjson = require "cjson"

function process_message()
    local ts = read_message("Fields[timestamp]")
    if not ts then return -1, "no timestamp field (StatAccumInput needs emit_in_fields = true)" end
    ts = ts * 1000
    local output = {}
    while true do
        local typ, name, value = read_next_field()
        if not typ then break end
        if name ~= "timestamp" then
            output[#output + 1] = {name = name, columns = {"time", "value"}, points = {{ts, value}}}
        end
    end
    inject_payload("json", "influx_stats", cjson.encode(output))
    return 0
end
