--[[
/sys/block/DISK/stat decoder (SandboxDecoder), compatible with Heka's linux_diskstats.lua.

The Payload is the content of a /sys/block/<disk>/stat file: one line of counters. Its
first eleven columns become fields, all doubles as in Heka:

  ReadsCompleted ReadsMerged SectorsRead TimeReading WritesCompleted WritesMerged
  SectorsWritten TimeWriting NumIOInProgress TimeDoingIO WeightedTimeDoingIO

The discard and flush columns newer kernels add after them are ignored (Heka's grammar
stopped at eleven and refused longer lines). FilePath and TickerInterval are copied from
the input message's fields when it has them.

  Type    stats.diskstats

Config:
- payload_keep (bool, default false): keep the file content as the Payload.

A payload with fewer than eleven numeric columns is rejected (process_message returns -1).
--]]

local payload_keep = read_config("payload_keep")

local COLUMNS = {"ReadsCompleted", "ReadsMerged", "SectorsRead", "TimeReading", "WritesCompleted",
                 "WritesMerged", "SectorsWritten", "TimeWriting", "NumIOInProgress", "TimeDoingIO",
                 "WeightedTimeDoingIO"}

local fields = {}
local msg = {Type = "stats.diskstats", Payload = nil, Fields = fields}

function process_message()
    local data = read_message("Payload")
    local i = 0
    for number in data:gmatch("%S+") do
        i = i + 1
        if i > #COLUMNS then break end
        local v = number:match("^%d+$") and tonumber(number)
        if not v then return -1, "not a /sys/block/*/stat line" end
        fields[COLUMNS[i]] = v + 0.0
    end
    if i < #COLUMNS then return -1, "not a /sys/block/*/stat line" end
    fields.FilePath = read_message("Fields[FilePath]")
    fields.TickerInterval = read_message("Fields[TickerInterval]")
    msg.Payload = payload_keep and data or nil
    inject_message(msg)
    return 0
end
