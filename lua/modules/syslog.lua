--[=[
rsyslog output grammars, compatible with the syslog module of Heka's sandbox.

    local syslog = require "syslog"
    local g = syslog.build_rsyslog_grammar("%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n")
    local t = g:match("Feb 10 12:58:58 trink-x230 sshd[1234]: Accepted publickey for trink")
    -- t.timestamp = <ns>, t.hostname = "trink-x230",
    -- t.syslogtag = {programname = "sshd", pid = 1234}, t.msg = "Accepted publickey for trink"

build_rsyslog_grammar(template)
    Turns an rsyslog template string (the `template` of rsyslog.conf's legacy
    "$template name,"..."" form) into an LPeg grammar that parses the lines rsyslog writes
    with it. The grammar returns a table of the properties found, or nil. `template` may
    also be the name of one of rsyslog's built-in templates, which stands for its text:
      RSYSLOG_TraditionalFileFormat   "%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n"
      RSYSLOG_FileFormat              "%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n"
      RSYSLOG_TraditionalForwardFormat "<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%"
      RSYSLOG_ForwardFormat           "<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%"
      RSYSLOG_SyslogProtocol23Format  "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%\n"
    (Heka took the template text only; the names are a luapiped addition.)

    Template syntax: literal text (escapes \n \t \r \" \' \\ \% \a \b \f \v and \ddd in
    decimal); each whitespace character matches one whitespace character; a property is
    %name%, %name:options% or %name:from:to:options% (names are case-insensitive).
    Trailing newlines of the template are optional in the line. Text after the end of
    the template is ignored, as in Heka, except after free text (%msg%, %rawmsg%): free
    text ends where the rest of the template matches up to the end of the line (or a
    newline), so '"%msg%" %HOSTNAME%' reads 'a "b" c host' as msg 'a "b" c'.
    A plain string property (hostname, programname, app-name ...) ends before the first
    character of the literal text that follows it, so "%HOSTNAME%|%programname%" works.

    Properties and what they give in the table (key: value):
      %msg%                 msg: the text up to the end of the line (or up to where the
                            rest of the template matches); the option sp-if-no-1st-sp
                            stands for the spaces rsyslog puts before it, drop-last-lf
                            and other options change nothing
      %rawmsg%              rawmsg: as msg
      %HOSTNAME% %source% %fromhost%   hostname / source / fromhost: string
      %fromhost-ip%         fromhost-ip: an IPv4 or IPv6 address (string)
      %syslogtag%           syslogtag: {programname = string, pid = integer or nil}
                            ("sshd[1234]:", "kernel:", "CRON[99]:")
      %programname%         programname: string
      %PRI%                 pri: {facility = integer, severity = integer}
      %pri-text%            pri as well, from "local0.info<134>" (Heka returned only the
                            facility, under "pri-text")
      %syslogfacility%      syslogfacility: integer
      %syslogfacility-text% syslogfacility-text: the facility's number (kern 0 ... local7 23)
      %syslogseverity% %syslogpriority%            syslogseverity / syslogpriority: integer
      %syslogseverity-text% %syslogpriority-text%  the same keys with "-text": the
                            severity's number (emerg 0 ... debug 7)
      %TIMESTAMP% %timereported%  timestamp: integer nanoseconds since the epoch
      %timegenerated%       timegenerated: the same
            date options: date-rfc3164 (the default; "Feb  3 12:58:58", current year),
            date-rfc3164-buggyday, date-rfc3339, date-mysql, date-pgsql,
            date-unixtimestamp (seconds) and date-subseconds (the fraction's digits,
            added to the same property's time when the template also has it; alone it
            gives "<key>-subseconds" as an integer). Times without an offset are UTC.
      %APP-NAME% %PROCID% %MSGID%  app-name / procid / msgid: string ("-" when nil)
      %STRUCTURED-DATA%     structured-data: the SD elements as written, or "-" (string)
      %protocol-version% %iut%   protocol-version / iut: digits (string)
      %inputname%           inputname: string
      %$year% %$month% %$day% %$hour% %$hhour% %$qhour% %$minute% %$now%  the same
                            keys: strings; %$bom% matches a UTF-8 BOM and gives nothing
    A position range (%syslogtag:1:32%) limits the length of plain string properties and
    is otherwise accepted as written. Errors: "invalid rsyslog property: 'name'",
    "could not parse the rsyslog template".

severity      grammar: a severity name (emerg, panic, alert, crit, err, error, warning,
              warn, notice, info, debug; lower or upper case) -> its number (0..7)
facility      grammar: a facility name (kern, user, ... authpriv, ... local7) -> 0..23
templates     table: rsyslog's built-in template names -> their text
]=]

local lpeg   = require "lpeg"
local string = require "string"
local table  = require "table"
local dt     = require "date_time"

local P, R, S, C, Cc, Cg, Ct = lpeg.P, lpeg.R, lpeg.S, lpeg.C, lpeg.Cc, lpeg.Cg, lpeg.Ct
local tonumber, type, error, ipairs, pairs, next = tonumber, type, error, ipairs, pairs, next

local M = {}

M.templates = {
    RSYSLOG_TraditionalFileFormat =
        "%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
    RSYSLOG_FileFormat =
        "%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
    RSYSLOG_TraditionalForwardFormat =
        "<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%",
    RSYSLOG_ForwardFormat =
        "<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%",
    RSYSLOG_SyslogProtocol23Format =
        "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%\\n",
}

---------------------------------------------------------------------------------------
-- Pieces
---------------------------------------------------------------------------------------

local digit        = R"09"
local xdigit       = R("09", "af", "AF")
local sp           = P" "
local space        = S" \t\n\r\f\v"
local printusascii = R"!~"
local newline      = P"\n"

-- name -> number, longest names first so that "authpriv" is not read as "auth"
local function name_grammar(names)
    local list = {}
    for name in pairs(names) do list[#list + 1] = name end
    table.sort(list, function(a, b) if #a ~= #b then return #a > #b end return a < b end)
    local p
    for _, name in ipairs(list) do
        local alt = (P(name) + P(string.upper(name))) * Cc(names[name])
        p = p and (p + alt) or alt
    end
    return p
end

M.severity = name_grammar{
    emerg = 0, panic = 0, alert = 1, crit = 2, err = 3, error = 3,
    warning = 4, warn = 4, notice = 5, info = 6, debug = 7,
}

M.facility = name_grammar{
    kern = 0, user = 1, mail = 2, daemon = 3, auth = 4, security = 4, syslog = 5, lpr = 6,
    news = 7, uucp = 8, cron = 9, authpriv = 10, ftp = 11, ntp = 12, audit = 13, alert = 14,
    clock = 15, local0 = 16, local1 = 17, local2 = 18, local3 = 19, local4 = 20,
    local5 = 21, local6 = 22, local7 = 23,
}

local function convert_pri(s)
    local pri = tonumber(s)
    return {facility = pri // 8, severity = pri % 8}
end
local pri = (digit * digit^-2) / convert_pri

local programname = (printusascii - S" :[")^0
local syslogtag = Ct(Cg(C(programname), "programname")
                     * ("[" * Cg(digit^1 / tonumber, "pid") * "]")^-1 * P":"^-1)

local ipv4 = digit^-3 * "." * digit^-3 * "." * digit^-3 * "." * digit^-3
local ipv6 = #((xdigit + ".")^0 * ":") * (xdigit + S":.")^1 * ("%" * (R("az", "AZ", "09") + S"._-")^1)^-1

local sd_name   = (printusascii - S'= ]"')^1
local sd_value  = ((P(1) - S'"\\]') + "\\" * P(1))^0
local sd_param  = sd_name * '="' * sd_value * '"'
local sd_element = "[" * sd_name * (sp * sd_param)^0 * "]"
local structured_data = C(P"-" + sd_element^1)

local bom = P"\239\187\191"

-- Plain string properties: {character class, minimum length, maximum length (nil: any)}
local plain = {
    hostname            = {printusascii, 1, 255},
    source              = {printusascii, 1, 255},
    fromhost            = {printusascii, 1, 255},
    programname         = {printusascii - S" :[", 0},
    ["app-name"]        = {printusascii, 1, 48},
    procid              = {printusascii, 1, 128},
    msgid               = {printusascii, 1, 32},
    inputname           = {printusascii, 0},
    ["protocol-version"] = {digit, 1},
    iut                 = {digit, 1},
}

-- class repeated min to max times (no limit when max is nil)
local function bounded(class, min, max)
    local p = P(true)
    for _ = 1, min do p = p * class end
    if max then
        if max > min then p = p * class^-(max - min) end
        return p
    end
    return p * class^0
end

-- Other properties: key and pattern producing one value (the key defaults to the name)
local special = {
    syslogtag               = {"syslogtag", syslogtag},
    pri                     = {"pri", pri},
    ["pri-text"]            = {"pri", (M.facility * "." * M.severity * "<" * pri * ">") / function(_, _, p) return p end},
    syslogfacility          = {"syslogfacility", (digit * digit^-2) / tonumber},
    ["syslogfacility-text"] = {"syslogfacility-text", M.facility},
    syslogseverity          = {"syslogseverity", digit / tonumber},
    ["syslogseverity-text"] = {"syslogseverity-text", M.severity},
    syslogpriority          = {"syslogpriority", digit / tonumber},
    ["syslogpriority-text"] = {"syslogpriority-text", M.severity},
    ["fromhost-ip"]         = {"fromhost-ip", C(ipv4 + ipv6)},
    ["structured-data"]     = {"structured-data", structured_data},
    ["$now"]                = {"$now", C(digit * digit * digit * digit * "-" * digit * digit * "-" * digit * digit)},
    ["$year"]               = {"$year", C(digit * digit * digit * digit)},
    ["$month"]              = {"$month", C(digit * digit)},
    ["$day"]                = {"$day", C(digit * digit)},
    ["$hour"]               = {"$hour", C(digit * digit)},
    ["$hhour"]              = {"$hhour", C(P"0" * S"01")},
    ["$qhour"]              = {"$qhour", C(P"0" * R"03")},
    ["$minute"]             = {"$minute", C(digit * digit)},
}

local time_props = {timestamp = "timestamp", timereported = "timestamp", timegenerated = "timegenerated"}

local time_formats = {
    ["date-rfc3164"]          = dt.rfc3164_timestamp / dt.time_to_ns,
    ["date-rfc3164-buggyday"] = dt.rfc3164_timestamp / dt.time_to_ns,
    ["date-rfc3339"]          = dt.rfc3339 / dt.time_to_ns,
    ["date-mysql"]            = dt.mysql_timestamp / dt.time_to_ns,
    ["date-pgsql"]            = dt.pgsql_timestamp / dt.time_to_ns,
    ["date-unixtimestamp"]    = P"-"^-1 * digit^1 / dt.seconds_to_ns,
}

---------------------------------------------------------------------------------------
-- Template parsing
---------------------------------------------------------------------------------------

local escapes = {t = "\t", n = "\n", r = "\r", ['"'] = '"', ["'"] = "'", ["\\"] = "\\",
                 ["%"] = "%", a = "\a", b = "\b", f = "\f", v = "\v"}

local function split_options(s)
    local list = {}
    for o in string.gmatch(string.lower(s or ""), "[^,]+") do
        list[#list + 1] = (string.gsub(o, "^%s*(.-)%s*$", "%1"))
    end
    return list
end

-- Template text -> list of tokens {kind = "lit", text} | {kind = "ws"} | {kind = "prop", ...}
local function tokenize(template)
    local tokens = {}
    local lit = {}
    local function flush()
        if #lit > 0 then
            tokens[#tokens + 1] = {kind = "lit", text = table.concat(lit)}
            lit = {}
        end
    end
    local i, n = 1, #template
    while i <= n do
        local c = string.sub(template, i, i)
        if c == "\\" then
            local e = string.sub(template, i + 1, i + 1)
            local d = string.match(template, "^%d%d?%d?", i + 1)
            if d then
                local code = tonumber(d)
                if code > 255 then error("could not parse the rsyslog template", 3) end
                lit[#lit + 1] = string.char(code)
                i = i + 1 + #d
            elseif escapes[e] then
                lit[#lit + 1] = escapes[e]
                i = i + 2
            else
                lit[#lit + 1] = "\\"
                i = i + 1
            end
        elseif c == "%" then
            local close = string.find(template, "%", i + 1, true)
            if not close then error("could not parse the rsyslog template", 3) end
            local body = string.sub(template, i + 1, close - 1)
            local parts = {}
            for part in string.gmatch(body .. ":", "([^:]*):") do parts[#parts + 1] = part end
            local name = parts[1]
            if not string.find(name, "^[%w%-%$]+$") then
                error("could not parse the rsyslog template", 3)
            end
            local prop = {kind = "prop", name = string.lower(name)}
            if #parts == 2 then
                prop.options = split_options(parts[2])
            else
                prop.from, prop.to = tonumber(parts[2]), tonumber(parts[3])
                prop.options = split_options(parts[4])
            end
            flush()
            tokens[#tokens + 1] = prop
            i = close + 1
        elseif string.find(c, "^%s") then
            flush()
            tokens[#tokens + 1] = {kind = "ws", text = c}
            i = i + 1
        else
            lit[#lit + 1] = c
            i = i + 1
        end
    end
    flush()
    return tokens
end

local function has_option(prop, option)
    for _, o in ipairs(prop.options) do
        if o == option then return true end
    end
    return false
end

-- The pattern of a property other than msg/rawmsg. `stop` is the first character of the
-- literal text that follows it in the template, if any: plain string properties end
-- there. `subseconds` collects the keys given date-subseconds.
local function property_pattern(prop, stop, subseconds)
    local name = prop.name
    if name == "$bom" then return bom end

    local key = time_props[name]
    if key then
        if has_option(prop, "date-subseconds") then
            subseconds[key] = true
            return Cg(digit^1, key .. "-subseconds")
        end
        local f = time_formats["date-rfc3164"]
        for _, o in ipairs(prop.options) do
            if time_formats[o] then f = time_formats[o]; break end
        end
        return Cg(f, key)
    end

    local p = plain[name]
    if p then
        local min, max = p[2], p[3]
        if prop.from and prop.to and prop.to >= prop.from then
            local len = prop.to - prop.from + 1
            if not max or len < max then max = len end
            if min > max then min = max end
        end
        local class = p[1]
        if stop then class = class - P(stop) end
        return Cg(C(bounded(class, min, max)), name)
    end

    local s = special[name]
    if s then return Cg(s[2], s[1]) end

    error(string.format("invalid rsyslog property: '%s'", name), 3)
end

-- Adds the date-subseconds digits to the time of the same property.
local function merge_subseconds(keys)
    return function(t)
        for key in pairs(keys) do
            local digits = t[key .. "-subseconds"]
            if digits then
                if t[key] then
                    t[key] = t[key] + dt.seconds_to_ns("0." .. digits)
                    t[key .. "-subseconds"] = nil
                else
                    t[key .. "-subseconds"] = tonumber(digits)
                end
            end
        end
        return t
    end
end

function M.build_rsyslog_grammar(template)
    if type(template) ~= "string" then
        error("build_rsyslog_grammar() expects the template string", 2)
    end
    template = M.templates[template] or template
    local tokens = tokenize(template)
    if #tokens == 0 then error("could not parse the rsyslog template", 2) end

    -- newlines ending the template are optional in the line
    local last = #tokens
    local optional_tail = P(true)
    while last >= 1 do
        local tk = tokens[last]
        if tk.kind == "ws" and tk.text == "\n" then
            last = last - 1
            optional_tail = newline^-1 * optional_tail
        elseif tk.kind == "lit" and string.find(tk.text, "\n$") then
            local text = string.gsub(tk.text, "\n+$", "")
            local count = #tk.text - #text
            for _ = 1, count do optional_tail = newline^-1 * optional_tail end
            if text ~= "" then
                tokens[last] = {kind = "lit", text = text}
                break
            end
            last = last - 1
        else
            break
        end
    end

    -- Built from the right: `g` parses (with captures) what follows the current token,
    -- `rest` checks that the remainder of the template matches up to the end of the line
    -- (used by free text to find where it stops).
    local subseconds = {}
    local g = optional_tail
    local rest = optional_tail * (#newline + -P(1))
    for i = last, 1, -1 do
        local tk = tokens[i]
        local p
        if tk.kind == "lit" then
            p = P(tk.text)
        elseif tk.kind == "ws" then
            p = space
        elseif has_option(tk, "sp-if-no-1st-sp") then
            p = sp^0
        elseif tk.name == "msg" or tk.name == "rawmsg" then
            p = Cg(C((P(1) - newline - rest)^0), tk.name)
        else
            local nxt = tokens[i + 1]
            local stop = i < last and nxt.kind == "lit" and string.sub(nxt.text, 1, 1) or nil
            p = property_pattern(tk, stop, subseconds)
        end
        g = p * g
        rest = p * rest
    end

    local grammar = Ct(g)
    if next(subseconds) then grammar = grammar / merge_subseconds(subseconds) end
    return grammar
end

return M
