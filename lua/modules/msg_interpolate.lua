--[[
Message values in a string, compatible with Heka's msg_interpolate module.

interpolate_from_msg(value, secs)
    Replaces each "%{name}" in `value` by, in this order:
    - a header of the message being processed: Type, Hostname, Pid, UUID (the text
      form read_message gives, as in Heka), Logger, EnvVersion, Severity;
    - else Fields[name] (booleans as "true"/"false", numbers as Lua 5.1 printed them,
      so 3.0 is "3");
    - else an strftime conversion of `secs` (seconds since the epoch; the current time
      when nil), in UTC like every date in the sandbox: "%{%Y-%m-%d}";
    - else it is left as it is.
    Returns the new string and the number of "%{...}" found, as string.gsub does (and
    as Heka's returned); `value` unchanged (and 0) when it has none.
--]]

local M = {}

local HEADERS = {Type = "Type", Hostname = "Hostname", Pid = "Pid", UUID = "Uuid", Logger = "Logger",
                 EnvVersion = "EnvVersion", Severity = "Severity"}

local secs_now

local function text(v)
    if type(v) == "boolean" then return tostring(v) end
    if math.type(v) == "float" then return string.format("%.14g", v) end
    return v
end

local function replace(name)
    local header = HEADERS[name]
    if header then return text(read_message(header)) end
    local v = read_message("Fields[" .. name .. "]")
    if v ~= nil then return text(v) end
    local ok, date = pcall(os.date, name, secs_now)
    if ok and date ~= name then return date end
    return nil  -- kept as written
end

function M.interpolate_from_msg(value, secs)
    if not string.find(value, "%%{[%w%p]-}") then return value, 0 end
    secs_now = secs
    return string.gsub(value, "%%{(.-)}", replace)
end

return M
