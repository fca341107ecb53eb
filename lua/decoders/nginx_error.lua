--[[
nginx error log decoder (SandboxDecoder), compatible with Heka's nginx_error.lua.

Parses the lines of nginx's error_log, whose format nginx does not let one configure:

    2014/03/01 11:29:39 [notice] 16842#0: *8878 using inherited sockets from "6;"
    <date and time>     [level]  pid#tid: [*connection] message

Config (read_config):
- type (string, default "nginx.error"): the message Type header.
- tz (string, default UTC): the zone of the logged times (nginx writes local time
  without an offset), an IANA name like America/Los_Angeles; applied by the host to the
  decoded Timestamp. The script itself reads the times as UTC.
- payload_keep (bool, default false): make the whole line the Payload instead of the
  message part (as later Heka versions did).

Example (Heka TOML):

    [NginxErrorDecoder]
    type = "SandboxDecoder"
    filename = "lua_decoders/nginx_error.lua"

    [NginxErrorDecoder.config]
    tz = "America/Los_Angeles"

Output:
- Timestamp: the logged time (nanoseconds).
- Severity: nginx's level as a syslog severity: emerg 0, alert 1, crit 2, error 3,
  warn 4, notice 5, info 6, debug 7.
- Pid: the nginx worker's process id.
- Payload: the message, everything after "pid#tid: " and the optional "*connection ",
  including any ", client: ..., server: ..., request: ..." suffix nginx appends (a
  line end is dropped).
- Fields: tid (double, the thread id) and connection (double, the connection number;
  only when the line has one), doubles as in Heka.

A line that does not fit makes process_message return -1 with "Failed to parse"
(nothing is injected).
--]]

local lpeg = require "lpeg"
local dt   = require "date_time"

local P, R, S, C, Cc, Cg, Ct = lpeg.P, lpeg.R, lpeg.S, lpeg.C, lpeg.Cc, lpeg.Cg, lpeg.Ct

local msg_type = read_config("type") or "nginx.error"
local payload_keep = read_config("payload_keep")

local digit = R"09"
local space = S" \t"

local level = P"debug" * Cc(7) + P"info" * Cc(6) + P"notice" * Cc(5) + P"warn" * Cc(4)
            + P"error" * Cc(3) + P"crit" * Cc(2) + P"alert" * Cc(1) + P"emerg" * Cc(0)

local function as_double(s) return tonumber(s) + 0.0 end

local grammar = Ct(
    Cg(dt.build_strftime_grammar("%Y/%m/%d %H:%M:%S") / dt.time_to_ns, "Timestamp")
    * space * "[" * Cg(level, "Severity") * "]"
    * space * Cg(digit^1 / tonumber, "Pid") * "#"
    * Cg(Ct(Cg(digit^1 / as_double, "tid") * ":" * space^-1
            * ("*" * Cg(digit^1 / as_double, "connection") * space)^-1), "Fields")
    * Cg(P(1)^0 / function(s) return (string.gsub(s, "\r?\n$", "")) end, "Payload"))

function process_message()
    local line = read_message("Payload")
    if not line then return -1, "Failed to parse" end
    local msg = grammar:match(line)
    if not msg then return -1, "Failed to parse" end
    msg.Type = msg_type
    if payload_keep then msg.Payload = line end
    inject_message(msg)
    return 0
end
