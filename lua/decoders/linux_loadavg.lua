--[[
/proc/loadavg decoder (SandboxDecoder), compatible with Heka's linux_loadavg.lua.

The Payload is the content of /proc/loadavg, e.g. "3.05 1.21 0.44 11/287 12345"
(Heka reads it with a FilePollingInput every ticker_interval). One message per payload:

  Type    stats.loadavg
  Fields  1MinAvg, 5MinAvg, 15MinAvg  (double) the load averages
          NumProcesses                (double) the number before the slash (runnable
                                      scheduling entities), as Heka reported it
          FilePath                    (string) copied from the input message's
                                      Fields[FilePath] when it has one

Config:
- payload_keep (bool, default false): keep the file content as the Payload.

A payload that is not /proc/loadavg's format is rejected (process_message returns -1).
--]]

local payload_keep = read_config("payload_keep")

local fields = {}
local msg = {Type = "stats.loadavg", Payload = nil, Fields = fields}

local FORMAT = "^(%d+%.%d+)%s+(%d+%.%d+)%s+(%d+%.%d+)%s+(%d+)/%d+%s+%d+"

function process_message()
    local data = read_message("Payload")
    local one, five, fifteen, running = data:match(FORMAT)
    if not one then return -1, "not the content of /proc/loadavg" end
    fields["1MinAvg"] = tonumber(one) + 0.0
    fields["5MinAvg"] = tonumber(five) + 0.0
    fields["15MinAvg"] = tonumber(fifteen) + 0.0
    fields.NumProcesses = tonumber(running) + 0.0  -- Heka's numbers were all doubles
    fields.FilePath = read_message("Fields[FilePath]")
    msg.Payload = payload_keep and data or nil
    inject_message(msg)
    return 0
end
