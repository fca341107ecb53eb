--[[
/proc/meminfo decoder (SandboxDecoder), compatible with Heka's linux_memstats.lua.

The Payload is the content of /proc/meminfo. Every "Name:   value [kB]" line becomes a
field of that name (MemTotal, MemFree, Active(anon), HugePages_Total, ...; the set
depends on the kernel) holding the value as a double, with representation "kB" when the
line has that unit and "" when it has none (the HugePages counters), as Heka wrote them.

  Type    stats.memstats
  Fields  one per line, as above; FilePath (string) copied from the input message's
          Fields[FilePath] when it has one

Config:
- payload_keep (bool, default false): keep the file content as the Payload.

A payload without any such line, or with a line that is not one, is rejected
(process_message returns -1).
--]]

local payload_keep = read_config("payload_keep")

local msg = {Type = "stats.memstats", Payload = nil, Fields = nil}

function process_message()
    local data = read_message("Payload")
    local fields = {}
    local lines = 0
    for line in data:gmatch("[^\n]+") do
        local name, value, unit = line:match("^([^:]+):%s+(%d+)%s*(%a*)%s*$")
        if not name or (unit ~= "" and unit ~= "kB") then
            return -1, "not a /proc/meminfo line: " .. line
        end
        fields[name] = {value = tonumber(value) + 0.0, representation = unit}
        lines = lines + 1
    end
    if lines == 0 then return -1, "no /proc/meminfo lines" end
    fields.FilePath = read_message("Fields[FilePath]")
    msg.Fields = fields
    msg.Payload = payload_keep and data or nil
    inject_message(msg)
    return 0
end
