--[[
Date and time grammars, compatible with the date_time module of Heka's sandbox.

    local dt = require "date_time"
    local t  = dt.rfc3339:match("2014-02-10T12:58:58.123456-08:00")
    local ns = dt.time_to_ns(t)      -- 1392065938123456000

A grammar matches the start of a string and returns a time table (or nil when the text
does not fit). The table holds what the text gave, as Heka's did: year, month, day,
hour, min, sec as strings ("2014", "02" or, from a month name, "2"); sec_frac as a number
(0.123456); offset_sign ("+" / "-"), offset_hour and offset_min as numbers; period ("AM" /
"PM") for 12-hour clocks; time_t (a number) for "%s"; yday (a string) for "%j".

Grammars (LPeg patterns; those marked * return a table, the others are pieces that set
named groups and are meant to be combined inside lpeg.Ct):
    date_fullyear     4-digit year                       -> year
    date_month        01..12                             -> month
    date_mabbr        Jan..Dec                           -> month ("1".."12")
    date_mfull        January..December                  -> month ("1".."12")
    date_mday         01..31                             -> day
    date_mday_sp      " 1"..31 (space padded)            -> day
    time_hour         00..23                             -> hour
    time_minute       00..59                             -> min
    time_second       00..60 (leap second)               -> sec
    time_secfrac      "." and digits                     -> sec_frac (number)
    timezone          UTC, GMT, Z and common abbreviations (PST, EDT, CET, JST ...);
                      any other run of up to 5 letters counts as offset 0, as in Heka
    timezone_offset   +hhmm / -hhmm                      -> offset_sign/_hour/_min
    rfc3339_time_numoffset  +hh:mm / -hh:mm
    rfc3339_time_offset     Z or +hh:mm
    rfc3339_partial_time    hh:mm:ss[.frac]
    rfc3339_full_date       yyyy-mm-dd
    rfc3339_full_time       hh:mm:ss[.frac] and the offset
  * rfc3339           2014-02-10T12:58:58.123456-08:00 ("T"/"t", "Z"/"z")
  * clf_timestamp     10/Feb/2014:12:58:58 -0800 (Common Log Format, strftime
                      "%d/%b/%Y:%H:%M:%S %z")
  * rfc3164_timestamp Feb 10 12:58:58, also "Feb  3" (space padded day): syslog's
                      timestamp has no year, so the current year (UTC) is set, as Heka
                      did (a December line read in January gets the new year)
  * mysql_timestamp   20140210125858 (rsyslog's date-mysql)
  * pgsql_timestamp   2014-02-10 12:58:58 (rsyslog's date-pgsql)

Functions
    build_strftime_grammar(format) -> a grammar (returning a table) for text printed with
        the strftime `format`. Each whitespace character of the format matches one
        whitespace character; other text must appear as is. Specifiers, as Heka's:
          %a %A  weekday name (abbreviated / full; not used for the time)
          %b %h  month name abbreviated, %B full         %c  "%a %b %e %H:%M:%S %Y"
          %C     century (2 digits, not used)            %d  day 01..31
          %D %x  "%m/%d/%y"                              %e  day, space padded
          %F     "%Y-%m-%d"                              %g %y  2-digit year (current century)
          %G %Y  4-digit year                            %H  hour 00..23
          %I     hour 01..12                             %j  day of the year 001..366
          %k     hour, space padded (" 0".."23")         %l  hour 1..12, space padded
          %m     month 01..12                            %M  minute
          %n     newline    %t  tab    %%  "%"
          %p     AM / PM (am / pm accepted too)          %r  "%I:%M:%S %p"
          %R     "%H:%M"                                 %s  seconds since the epoch
          %S     second 00..61                           %T %X  "%H:%M:%S"
          %u %w  weekday number, %U %V %W week number (not used for the time)
          %z     +hhmm (also +hh:mm and Z)               %Z  zone name, as `timezone`
        Any other specifier raises "unknown strftime specifier: <letter>"; an empty format
        raises "could not parse the strftime format".

    time_to_ns(t) -> nanoseconds since the Unix epoch for a time table, as a Lua
        integer (exact: luapiped keeps Timestamps as 64-bit integers, where Heka computed
        a double). Fields may be strings or numbers. Applied in this order: time_t when
        present (seconds since the epoch, plus nothing else); otherwise the calendar
        date (missing year: the current year; missing month or day: 1; "yday" used when
        both month and day are missing), the time (missing hour, min, sec: 0 - Heka's
        os.time made a missing hour noon), period (12 AM is hour 0, 1..11 PM add 12),
        sec_frac rounded to the nearest nanosecond, and the offset (times without one are
        UTC). Out-of-range values carry over (February 30 is March 2). Returns 0 when `t`
        is not a table, as Heka's did.

    seconds_to_ns(sec) -> nanoseconds for seconds since the epoch, a number or a numeric
        string ("1392065938.123456" is converted digit by digit, without rounding error);
        a Lua integer. Raises an error for anything else.
    milliseconds_to_ns(ms) -> the same for milliseconds.
    days_from_civil(y, m, d) -> days between 1970-01-01 and a proleptic Gregorian date.

Times are computed without os.time, so they do not depend on the host's time zone; a
decoder's `tz` setting (wall-clock times in another zone) is applied by the host.
--]]

local lpeg   = require "lpeg"
local string = require "string"
local os     = require "os"
local math   = require "math"
local table  = require "table"

local P, R, S, C, Cc, Cg, Ct = lpeg.P, lpeg.R, lpeg.S, lpeg.C, lpeg.Cc, lpeg.Cg, lpeg.Ct
local tonumber, type, error, ipairs, pairs, tostring = tonumber, type, error, ipairs, pairs, tostring
local floor, mtype, tointeger = math.floor, math.type, math.tointeger

local M = {}

local NS = 1000000000

---------------------------------------------------------------------------------------
-- Arithmetic
---------------------------------------------------------------------------------------

-- Days since 1970-01-01 of a proleptic Gregorian date (years start in March so that the
-- leap day ends the year; 400-year eras of 146097 days).
local function days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = y // 400
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = (153 * mp + 2) // 5 + d - 1
    local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
end
M.days_from_civil = days_from_civil

local function current_year()
    return os.date("!%Y")
end

-- A number, or a string holding one, as an integer and a fraction in [0, 1).
local function split_number(v)
    local n = tonumber(v)
    if not n then return nil end
    if mtype(n) == "integer" then return n, 0 end
    local i = floor(n)
    return tointeger(i) or i, n - i
end

-- A number of seconds (digits = 9) or milliseconds (digits = 6), or a string holding
-- one, as integer nanoseconds. Decimal strings are converted digit by digit, so
-- "1392065938.123456789" loses nothing to floating point.
-- Seconds plus a fraction as integer nanoseconds; beyond the int64 range (after 2262,
-- before 1677: sentinel dates such as 9999-12-31) the nearest representable value
-- instead of a wrapped one.
local LIMIT_S = 9223372035
local function clamp_ns(secs, frac)
    if secs > LIMIT_S then return math.maxinteger end
    if secs < -LIMIT_S then return math.mininteger end
    local ns = secs * NS
    if frac ~= 0 then ns = ns + floor(frac * NS + 0.5) end
    return tointeger(ns) or ns
end

local function decimal_to_ns(v, digits, what)
    local unit = digits == 9 and NS or 1000000
    if type(v) == "string" then
        local sign, int, frac = string.match(v, "^%s*([+-]?)(%d*)%.?(%d*)%s*$")
        if int and (int ~= "" or frac ~= "") and #int <= 18 then
            local whole = tonumber(int) or 0
            if whole > LIMIT_S * NS // unit then return sign == "-" and math.mininteger or math.maxinteger end
            local ns = whole * unit
            if frac ~= "" then
                ns = ns + tonumber(string.sub(frac .. string.rep("0", digits), 1, digits))
            end
            if sign == "-" then ns = -ns end
            return ns
        end
    end
    local n = tonumber(v)
    if not n then error(what .. "() expects a number, got " .. tostring(v), 3) end
    if mtype(n) == "integer" then
        if n > LIMIT_S * NS // unit or n < -(LIMIT_S * NS // unit) then return n > 0 and math.maxinteger or math.mininteger end
        return n * unit
    end
    local ns = floor(n * unit + 0.5)
    return tointeger(ns) or ns
end

function M.seconds_to_ns(sec)
    return decimal_to_ns(sec, 9, "seconds_to_ns")
end

function M.milliseconds_to_ns(msec)
    return decimal_to_ns(msec, 6, "milliseconds_to_ns")
end

function M.time_to_ns(t)
    if type(t) ~= "table" then return 0 end
    if t.time_t ~= nil then return M.seconds_to_ns(t.time_t) end

    local year = tonumber(t.year) or tonumber(current_year())
    local month = tonumber(t.month)
    local day = tonumber(t.day)
    local days
    if not month and not day and tonumber(t.yday) then
        days = days_from_civil(year, 1, 1) + tonumber(t.yday) - 1
    else
        month = month or 1
        day = day or 1
        -- carry months outside 1..12 into the year
        year = year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        days = days_from_civil(year, month, 1) + day - 1
    end

    local hour = tonumber(t.hour) or 0
    local period = t.period
    if type(period) == "string" then
        period = string.upper(period)
        if period == "AM" then
            if hour == 12 then hour = 0 end
        elseif period == "PM" then
            if hour < 12 then hour = hour + 12 end
        end
    end
    local min = tonumber(t.min) or 0
    local sec, sec_part = split_number(t.sec or 0)
    if not sec then sec, sec_part = 0, 0 end

    local secs = days * 86400 + hour * 3600 + min * 60 + sec
    if t.offset_hour ~= nil then
        local offset = (tonumber(t.offset_hour) or 0) * 3600 + (tonumber(t.offset_min) or 0) * 60
        if t.offset_sign == "-" then secs = secs + offset else secs = secs - offset end
    end

    local frac = sec_part
    local sf = t.sec_frac
    if sf ~= nil then
        if type(sf) == "string" then sf = tonumber((string.gsub(sf, "^,", "."))) end
        frac = frac + (tonumber(sf) or 0)
    end
    return clamp_ns(secs, frac)
end

---------------------------------------------------------------------------------------
-- Grammars
---------------------------------------------------------------------------------------

local digit = R"09"
local alpha = R("az", "AZ")
local alnum = alpha + digit
local space = S" \t\n\r\f\v"
local sp    = P" "

local function month_names(names)
    local p
    for i, name in ipairs(names) do
        local alt = P(name) / tostring(i)
        p = p and (p + alt) or alt
    end
    return p
end

M.date_fullyear = Cg(digit * digit * digit * digit, "year")
M.date_month    = Cg(P"0" * R"19" + "1" * R"02", "month")
M.date_mabbr    = Cg(month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}, "month")
M.date_mfull    = Cg(month_names{"January", "February", "March", "April", "May", "June",
                                 "July", "August", "September", "October", "November",
                                 "December"}, "month")
M.date_mday     = Cg(P"0" * R"19" + R"12" * digit + "3" * R"01", "day")
M.date_mday_sp  = Cg(P" " * R"19" + R"12" * digit + "3" * R"01", "day")
M.time_hour     = Cg(R"01" * digit + "2" * R"03", "hour")
M.time_minute   = Cg(R"05" * digit, "min")
M.time_second   = Cg(R"05" * digit + "60", "sec")
M.time_secfrac  = Cg(P"." * digit^1 / tonumber, "sec_frac")

local function offset_groups(sign, hour, min)
    return Cg(Cc(sign), "offset_sign") * Cg(Cc(hour), "offset_hour") * Cg(Cc(min), "offset_min")
end

-- Abbreviations with a fixed offset (hours, minutes). Longer names are tried first.
local ZONES = {
    UTC = {0, 0}, GMT = {0, 0}, UT = {0, 0}, Z = {0, 0},
    EST = {-5, 0}, EDT = {-4, 0}, CST = {-6, 0}, CDT = {-5, 0},
    MST = {-7, 0}, MDT = {-6, 0}, PST = {-8, 0}, PDT = {-7, 0},
    AKST = {-9, 0}, AKDT = {-8, 0}, HST = {-10, 0},
    WET = {0, 0}, WEST = {1, 0}, CET = {1, 0}, CEST = {2, 0}, EET = {2, 0}, EEST = {3, 0},
    MSK = {3, 0}, JST = {9, 0}, KST = {9, 0}, AEST = {10, 0}, AEDT = {11, 0},
    ACST = {9, 30}, ACDT = {10, 30}, AWST = {8, 0}, NZST = {12, 0}, NZDT = {13, 0},
}
do
    local names = {}
    for name in pairs(ZONES) do names[#names + 1] = name end
    table.sort(names, function(a, b) if #a ~= #b then return #a > #b end return a < b end)
    local p
    for _, name in ipairs(names) do
        local h, m = ZONES[name][1], ZONES[name][2]
        local alt = P(name) * -alpha * offset_groups(h < 0 and "-" or "+", math.abs(h), m)
        p = p and (p + alt) or alt
    end
    M.timezone = p + alpha^-5 * offset_groups("+", 0, 0)
end

local offset_hour = Cg((R"01" * digit + "2" * R"03") / tonumber, "offset_hour")
local offset_min = Cg(R"05" * digit / tonumber, "offset_min")

M.timezone_offset = Cg(S"+-", "offset_sign") * offset_hour * offset_min

M.rfc3339_time_numoffset = Cg(S"+-", "offset_sign") * offset_hour * ":" * offset_min
M.rfc3339_time_offset    = S"Zz" + M.rfc3339_time_numoffset
M.rfc3339_partial_time   = M.time_hour * ":" * M.time_minute * ":" * M.time_second * M.time_secfrac^-1
M.rfc3339_full_date      = M.date_fullyear * "-" * M.date_month * "-" * M.date_mday
M.rfc3339_full_time      = M.rfc3339_partial_time * M.rfc3339_time_offset
M.rfc3339                = Ct(M.rfc3339_full_date * S"Tt" * M.rfc3339_full_time)

---------------------------------------------------------------------------------------
-- strftime
---------------------------------------------------------------------------------------

local function two_digit_year(yy)
    return string.sub(current_year(), 1, 2) .. yy
end

local spec = {}
spec.a = P"Mon" + "Tue" + "Wed" + "Thu" + "Fri" + "Sat" + "Sun"
spec.A = P"Monday" + "Tuesday" + "Wednesday" + "Thursday" + "Friday" + "Saturday" + "Sunday"
spec.b = M.date_mabbr
spec.h = M.date_mabbr
spec.B = M.date_mfull
spec.C = digit * digit
spec.y = Cg((digit * digit) / two_digit_year, "year")
spec.g = spec.y
spec.Y = M.date_fullyear
spec.G = M.date_fullyear
spec.d = M.date_mday
spec.e = M.date_mday_sp
spec.m = M.date_month
spec.H = M.time_hour
spec.I = Cg(P"0" * R"19" + "1" * R"02", "hour")
spec.k = Cg((P" " * digit + "1" * digit + "2" * R"03") / function(s) return (string.gsub(s, " ", "")) end, "hour")
spec.l = Cg((P" " * R"19" + "1" * R"02") / function(s) return (string.gsub(s, " ", "")) end, "hour")
spec.j = Cg(P"00" * R"19" + "0" * R"19" * digit + S"12" * digit * digit + "3" * R"05" * digit
            + "36" * R"06", "yday")
spec.M = M.time_minute
spec.S = Cg(R"05" * digit + "6" * S"01", "sec")
spec.p = Cg(P"AM" + "PM" + "am" + "pm", "period")
spec.s = Cg(P"-"^-1 * digit^1 / tonumber, "time_t")
spec.n = P"\n"
spec.t = P"\t"
spec["%"] = P"%"
spec.u = R"17"
spec.w = R"06"
spec.U = R"04" * digit + "5" * R"03"
spec.V = spec.U
spec.W = spec.U
spec.T = M.time_hour * ":" * M.time_minute * ":" * M.time_second
spec.X = spec.T
spec.R = M.time_hour * ":" * M.time_minute
spec.r = spec.I * ":" * M.time_minute * ":" * M.time_second * " " * spec.p
spec.D = M.date_month * "/" * M.date_mday * "/" * spec.y
spec.x = spec.D
spec.F = M.date_fullyear * "-" * M.date_month * "-" * M.date_mday
spec.c = spec.a * " " * M.date_mabbr * " " * M.date_mday_sp * " " * spec.T * " " * M.date_fullyear
spec.z = S"Zz" * offset_groups("+", 0, 0)
       + Cg(S"+-", "offset_sign") * offset_hour * P":"^-1 * offset_min
spec.Z = M.timezone

function M.build_strftime_grammar(format)
    if type(format) ~= "string" or format == "" then
        error("could not parse the strftime format", 2)
    end
    local grammar = P(true)
    local literal = {}
    local function flush()
        if #literal > 0 then
            grammar = grammar * P(table.concat(literal))
            literal = {}
        end
    end
    local i, n = 1, #format
    while i <= n do
        local c = string.sub(format, i, i)
        if c == "%" then
            local v = string.sub(format, i + 1, i + 1)
            if v == "" then
                literal[#literal + 1] = "%" -- a trailing "%" stands for itself
            else
                local g = spec[v]
                if not g then error("unknown strftime specifier: " .. v, 2) end
                flush()
                grammar = grammar * g
            end
            i = i + 2
        elseif string.find(c, "^%s") then
            flush()
            grammar = grammar * space
            i = i + 1
        else
            literal[#literal + 1] = c
            i = i + 1
        end
    end
    flush()
    return Ct(grammar)
end

---------------------------------------------------------------------------------------
-- Log timestamps
---------------------------------------------------------------------------------------

M.clf_timestamp = Ct(M.date_mday * "/" * M.date_mabbr * "/" * M.date_fullyear * ":"
                     * spec.T * " " * M.timezone_offset)

-- several spaces are allowed between month and day, which covers rsyslog's
-- date-rfc3164-buggyday ("Feb 03") and the usual space padded day ("Feb  3")
M.rfc3164_timestamp = Ct(M.date_mabbr * sp^1 * Cg(digit * digit^-1, "day") * sp^1 * spec.T
                         * Cg(P(true) / current_year, "year"))

M.mysql_timestamp = Ct(M.date_fullyear * M.date_month * M.date_mday * M.time_hour
                       * M.time_minute * M.time_second)

M.pgsql_timestamp = Ct(M.rfc3339_full_date * sp * spec.T)

return M
