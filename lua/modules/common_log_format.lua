-- common_log_format: LPeg grammars for web server access logs.
--
-- Builds, once, a parser from the log format the server was configured with:
--
--   local clf = require "common_log_format"
--   local g = clf.build_nginx_grammar('$remote_addr - $remote_user [$time_local] "$request" $status')
--   local fields = g:match(line)      -- a table of fields, or nil when the line does not fit
--
-- Field names and value types follow Heka's common_log_format module, so a message made
-- from `fields` looks like the one Heka's nginx_access decoder produced:
--
--   time            $time_local, $time_iso8601 or $msec: integer nanoseconds since the
--                   Unix epoch (UTC, the logged offset applied). Decoders move it to the
--                   message Timestamp.
--   integers        status (exactly three digits), connection, connection_requests, pid,
--                   remote_port, server_port, proxy_protocol_port, tcpinfo_*; Lua integers.
--   bytes           body_bytes_sent, bytes_sent, request_length, content_length,
--                   upstream_response_length, upstream_bytes_received/_sent:
--                   {value = <integer>, representation = "B"}
--   seconds         request_time, upstream_response_time, upstream_connect_time,
--                   upstream_header_time: {value = <float>, representation = "s"}
--   addresses       remote_addr, server_addr, proxy_protocol_addr, realip_remote_addr,
--                   host, hostname, server_name:
--                   {value = <string>, representation = "ipv4" | "ipv6" | "hostname"}
--   upstream_status integer
--   everything else a string, exactly as logged ($request stays one string, as in Heka;
--                   it is not split into method/uri/protocol).
--
-- A lone "-" where a number, time or address is expected (nginx's "no value") leaves
-- that field out of the table instead of failing the line. Upstream variables that list
-- several upstreams ("0.004, 0.010 : 0.002") give an array value; a "-" inside such a
-- list counts as 0.
--
-- Literal text of the format must appear in the line byte for byte. A string variable
-- runs up to the first character of the literal text that follows it (a backslash
-- escapes that character when it is a double quote); a string variable at the end of
-- the format runs to the end of the line (a trailing "\r" or "\n" is not included).
-- Text after the end of the format is ignored, as in Heka.
--
-- Functions
--   build_nginx_grammar(log_format)   -> LPeg pattern (errors on an unusable format)
--   build_apache_grammar(log_format)  -> LPeg pattern for an Apache LogFormat string
--   normalize_user_agent(ua)          -> browser, version (integer), os (each may be nil)
--   transform_user_agent(fields, keep, conditional)
--                                     -> the decoders' user_agent_transform: sets
--                                        user_agent_browser/_version/_os from
--                                        fields.http_user_agent and drops it unless keep
--                                        (or conditional and no browser was recognised)
--   clf_to_ns(s)                      -> nanoseconds for "24/Nov/2026:10:00:00 +0000"
--   days_from_civil(y, m, d)          -> days since 1970-01-01 (proleptic Gregorian)

local lpeg   = require "lpeg"
local string = require "string"
local table  = require "table"

local P, S, R, C, Cc, Ct = lpeg.P, lpeg.S, lpeg.R, lpeg.C, lpeg.Cc, lpeg.Ct
local byte, sub, find, lower, gsub = string.byte, string.sub, string.find,
                                     string.lower, string.gsub
local concat = table.concat
local tonumber, type, error, ipairs = tonumber, type, error, ipairs

local M = {}

local NS_PER_SEC = 1000000000

---------------------------------------------------------------------------------------
-- Time arithmetic (no os.time: independent of the local time zone)
---------------------------------------------------------------------------------------

-- Days between 1970-01-01 and the given proleptic Gregorian date. Works by shifting the
-- year to start in March so the leap day is the last day of the shifted year, then
-- counting whole 400-year cycles (146097 days each).
local function days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = y // 400
    local yoe = y - era * 400                          -- 0 .. 399
    local mp = (m + 9) % 12                            -- March = 0 .. February = 11
    local doy = (153 * mp + 2) // 5 + d - 1            -- 0 .. 365
    local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
end
M.days_from_civil = days_from_civil

local MONTH_NUMBER = {
    Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
    Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12,
}

local function d2(s, i) -- two ASCII digits at i
    local a, b = byte(s, i, i + 1)
    return (a - 48) * 10 + (b - 48)
end

-- "24/Nov/2026:10:00:00 +0000" (validated by the grammar) -> integer nanoseconds.
-- Log lines arrive in time order, many within the same second: remember the last one.
local last_clf, last_clf_ns
local function clf_to_ns(s)
    if s == last_clf then return last_clf_ns end
    local month = MONTH_NUMBER[sub(s, 4, 6)]
    if not month then return nil end
    local year = d2(s, 8) * 100 + d2(s, 10)
    local secs = days_from_civil(year, month, d2(s, 1)) * 86400
               + d2(s, 13) * 3600 + d2(s, 16) * 60 + d2(s, 19)
    local off = d2(s, 23) * 3600 + d2(s, 25) * 60
    if byte(s, 22) == 45 then secs = secs + off else secs = secs - off end -- 45 = '-'
    local ns = secs * NS_PER_SEC
    last_clf, last_clf_ns = s, ns
    return ns
end
M.clf_to_ns = clf_to_ns

-- "2026-11-24T10:00:00+00:00", optionally with a fraction and "Z" or "+hhmm".
local last_iso, last_iso_ns
local function iso8601_to_ns(s)
    if s == last_iso then return last_iso_ns end
    local secs = days_from_civil(d2(s, 1) * 100 + d2(s, 3), d2(s, 6), d2(s, 9)) * 86400
               + d2(s, 12) * 3600 + d2(s, 15) * 60 + d2(s, 18)
    local frac = 0
    local i = 20
    if byte(s, i) == 46 then -- '.'
        local j = i + 1
        local digits = 0
        while true do
            local c = byte(s, j)
            if not c or c < 48 or c > 57 then break end
            if digits < 9 then frac = frac * 10 + (c - 48); digits = digits + 1 end
            j = j + 1
        end
        while digits < 9 do frac = frac * 10; digits = digits + 1 end
        i = j
    end
    local c = byte(s, i)
    if c == 43 or c == 45 then -- '+' / '-'
        local oh = d2(s, i + 1)
        local k = i + 3
        if byte(s, k) == 58 then k = k + 1 end -- ':'
        local off = oh * 3600 + d2(s, k) * 60
        if c == 45 then secs = secs + off else secs = secs - off end
    end
    local ns = secs * NS_PER_SEC + frac
    last_iso, last_iso_ns = s, ns
    return ns
end

-- "1795514400.123" -> integer nanoseconds
local function msec_to_ns(secs, frac)
    local f = sub(frac .. "000000000", 1, 9)
    return tonumber(secs) * NS_PER_SEC + tonumber(f)
end

---------------------------------------------------------------------------------------
-- Building blocks
---------------------------------------------------------------------------------------

local digit  = R"09"
local xdigit = R("09", "af", "AF")
local alpha  = R("az", "AZ")
local alnum  = alpha + digit
local dash   = P"-"
local d2p    = digit * digit
local eol    = S"\r\n"

local month_name = P"Jan" + "Feb" + "Mar" + "Apr" + "May" + "Jun"
                 + "Jul" + "Aug" + "Sep" + "Oct" + "Nov" + "Dec"
local clf_pattern = d2p * "/" * month_name * "/" * d2p * d2p * ":" * d2p * ":" * d2p
                  * ":" * d2p * " " * S"+-" * d2p * d2p
local clf_time = C(clf_pattern) / clf_to_ns

local iso_pattern = d2p * d2p * "-" * d2p * "-" * d2p * "T" * d2p * ":" * d2p * ":" * d2p
                  * ("." * digit^1)^-1 * (P"Z" + S"+-" * d2p * P":"^-1 * d2p)
local iso_time = C(iso_pattern) / iso8601_to_ns
local msec_time = C(digit^1) * "." * C(digit^1) / msec_to_ns

local int_value = C(digit^1) / tonumber -- tonumber of a digit string is a Lua integer
local function to_float(s) return tonumber(s) + 0.0 end
local float_value = C(digit^1 * ("." * digit^1)^-1) / to_float

-- wrap the single value produced by p as {value = v, representation = rep}
local function represented(p, rep)
    return p / function(v) return {value = v, representation = rep} end
end

-- IP addresses (RFC 3986 IPv4address / IPv6address)
local dec_octet = P"25" * R"05" + "2" * R"04" * digit + "1" * digit * digit
                + R"19" * digit + digit
local ipv4 = dec_octet * "." * dec_octet * "." * dec_octet * "." * dec_octet

local h16 = xdigit * xdigit^-3
local h16c = h16 * ":"
local ls32 = ipv4 + h16 * ":" * h16
local function times(p, n)
    local r = P(true)
    for _ = 1, n do r = r * p end
    return r
end
-- up to n groups "h16(:h16)*" before a "::"
local function before(n)
    if n == 0 then return P(true) end
    return (h16 * (":" * h16)^-(n - 1))^-1
end
local ipv6 = times(h16c, 6) * ls32
           + "::" * times(h16c, 5) * ls32
           + before(1) * "::" * times(h16c, 4) * ls32
           + before(2) * "::" * times(h16c, 3) * ls32
           + before(3) * "::" * times(h16c, 2) * ls32
           + before(4) * "::" * h16c * ls32
           + before(5) * "::" * ls32
           + before(6) * "::" * h16
           + before(7) * "::"

local host_char = alnum + S"-._~!$&'()*+,;=" + P"%" * xdigit * xdigit
local host = represented(C(ipv4) * -host_char, "ipv4")
           + represented(C(ipv6) * -host_char, "ipv6")
           + represented(C(host_char^1) - (dash * -host_char), "hostname") -- lone "-": absent

-- upstream variables: "a, b : c" -> a, or {a, b, c} when several
local upstream_sep = P", " + P" : "
local function list_of(item)
    return Ct(item * (upstream_sep * item)^0) / function(t)
        if t[2] == nil then return t[1] end
        return t
    end
end
local up_seconds = float_value + dash * Cc(0.0)
local up_int     = int_value + dash * Cc(0)
local up_status  = C(digit * digit * digit) / tonumber + dash * Cc(0)

---------------------------------------------------------------------------------------
-- nginx variables
---------------------------------------------------------------------------------------

local status_value = C(digit * digit * digit) / tonumber
-- one function capture converts and wraps (cheaper than converting, then wrapping)
local bytes_value  = C(digit^1) / function(s)
    return {value = tonumber(s), representation = "B"}
end
local secs_value   = C(digit^1 * ("." * digit^1)^-1) / function(s)
    return {value = tonumber(s) + 0.0, representation = "s"}
end

-- name -> pattern producing the field's single value; `-` alone means "absent"
local nginx_typed = {
    status                   = status_value,
    connection               = int_value,
    connection_requests      = int_value,
    pid                      = int_value,
    remote_port              = int_value,
    server_port              = int_value,
    proxy_protocol_port      = int_value,
    tcpinfo_rtt              = int_value,
    tcpinfo_rttvar           = int_value,
    tcpinfo_snd_cwnd         = int_value,
    tcpinfo_rcv_space        = int_value,

    body_bytes_sent          = bytes_value,
    bytes_sent               = bytes_value,
    request_length           = bytes_value,
    content_length           = bytes_value,

    request_time             = secs_value,

    remote_addr              = host,
    realip_remote_addr       = host,
    server_addr              = host,
    proxy_protocol_addr      = host,
    host                     = host,
    hostname                 = host,
    server_name              = host,

    upstream_response_time   = represented(list_of(up_seconds), "s"),
    upstream_connect_time    = represented(list_of(up_seconds), "s"),
    upstream_header_time     = represented(list_of(up_seconds), "s"),
    upstream_response_length = represented(list_of(up_int), "B"),
    upstream_bytes_received  = represented(list_of(up_int), "B"),
    upstream_bytes_sent      = represented(list_of(up_int), "B"),
    upstream_status          = list_of(up_status),
}

local nginx_time = {
    time_local   = clf_time,
    time_iso8601 = iso_time,
    msec         = msec_time,
}

-- Every variable of a format produces exactly one capture value, in order; the final
-- function capture (see `sequence`) stores them under their names. (A positional
-- capture list plus one presized table is markedly cheaper than lpeg.Ct with named
-- groups, which grows its table one key at a time.)

-- A typed value, or nil (field absent) for a lone "-" (not the start of a list such as
-- "-, 0.004" nor of a name).
local lone_dash = dash * -(alnum + S"-._" + upstream_sep)
local function typed_field(p)
    return lone_dash * Cc(nil) + p
end

-- A string value running up to `stop` (first byte of the next literal, or nil = line end)
local function string_field(stop)
    local body
    if stop == nil then
        body = (1 - eol)^0
    elseif stop == '"' then
        local plain = (1 - S'"\\')^0              -- a span: fast path, no escapes
        body = plain * (P"\\" * 1 * plain)^0
    else
        body = (1 - P(stop))^0
    end
    return C(body)
end

-- Splits a format into {lit = "text"} and {var = "name"} tokens.
local function tokenize(fmt, var_at)
    local toks = {}
    local buf = {}
    local i, n = 1, #fmt
    while i <= n do
        local e, tok = var_at(fmt, i)
        if e then
            if #buf > 0 then
                toks[#toks + 1] = {lit = concat(buf)}
                buf = {}
            end
            toks[#toks + 1] = tok
            i = e + 1
        else
            buf[#buf + 1] = sub(fmt, i, i)
            i = i + 1
        end
    end
    if #buf > 0 then toks[#toks + 1] = {lit = concat(buf)} end
    return toks
end

-- the first byte of the literal after token i (skipping variables), or nil
local function stop_after(toks, i)
    for j = i + 1, #toks do
        local lit = toks[j].lit
        if lit then return sub(lit, 1, 1) end
    end
    return nil
end

local function nginx_var_at(fmt, i)
    if byte(fmt, i) ~= 36 then return nil end -- '$'
    local _, e, name = find(fmt, "^%$([%w_]+)", i)
    if not e then _, e, name = find(fmt, "^%${([%w_]+)}", i) end
    if not e then return nil end
    return e, {var = name}
end

-- Table makers whose constructors presize the hash part (assigning nil to a missing key
-- inserts nothing, so the placeholders cost no memory beyond the reserved slots).
local function new4() return {a = nil, b = nil, c = nil, d = nil} end
local function new8()
    return {a = nil, b = nil, c = nil, d = nil, e = nil, f = nil, g = nil, h = nil}
end
local function new16()
    return {a = nil, b = nil, c = nil, d = nil, e = nil, f = nil, g = nil, h = nil,
            i = nil, j = nil, k = nil, l = nil, m = nil, n = nil, o = nil, p = nil}
end
local function new32()
    return {a = nil, b = nil, c = nil, d = nil, e = nil, f = nil, g = nil, h = nil,
            i = nil, j = nil, k = nil, l = nil, m = nil, n = nil, o = nil, p = nil,
            q = nil, r = nil, s = nil, t = nil, u = nil, v = nil, w = nil, x = nil,
            y = nil, z = nil, A = nil, B = nil, C = nil, D = nil, E = nil, F = nil}
end

-- names[i] is the field name of the i-th capture value
local function sequence(parts, names)
    local g = P(true)
    for _, p in ipairs(parts) do g = g * p end
    local n = #names
    local distinct = {}
    local count = 0
    for _, name in ipairs(names) do
        if not distinct[name] then distinct[name] = true; count = count + 1 end
    end
    local new = count <= 4 and new4 or count <= 8 and new8 or count <= 16 and new16 or new32
    if n > 16 then
        return g / function(...)
            local v = {...}
            local t = new()
            for i = 1, n do t[names[i]] = v[i] end
            return t
        end
    end
    -- up to 16 values: fixed parameters, no vararg table. Unused slots write nil under
    -- "_", which inserts nothing.
    local k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15, k16 =
        names[1] or "_", names[2] or "_", names[3] or "_", names[4] or "_",
        names[5] or "_", names[6] or "_", names[7] or "_", names[8] or "_",
        names[9] or "_", names[10] or "_", names[11] or "_", names[12] or "_",
        names[13] or "_", names[14] or "_", names[15] or "_", names[16] or "_"
    return g / function(v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15, v16)
        local t = new()
        t[k1] = v1; t[k2] = v2; t[k3] = v3; t[k4] = v4
        t[k5] = v5; t[k6] = v6; t[k7] = v7; t[k8] = v8
        if n > 8 then
            t[k9] = v9; t[k10] = v10; t[k11] = v11; t[k12] = v12
            t[k13] = v13; t[k14] = v14; t[k15] = v15; t[k16] = v16
        end
        return t
    end
end

function M.build_nginx_grammar(log_format)
    if type(log_format) ~= "string" or log_format == "" then
        error("log_format must be a non-empty string", 2)
    end
    local toks = tokenize(log_format, nginx_var_at)
    local parts, names = {}, {}
    for i, t in ipairs(toks) do
        local p
        if t.lit then
            p = P(t.lit)
        else
            local name = t.var
            if nginx_time[name] then
                p = typed_field(nginx_time[name])
                name = "time"
            elseif nginx_typed[name] then
                p = typed_field(nginx_typed[name])
            else
                p = string_field(stop_after(toks, i))
            end
            names[#names + 1] = name
        end
        parts[#parts + 1] = p
    end
    return sequence(parts, names)
end

---------------------------------------------------------------------------------------
-- Apache LogFormat (mod_log_config); same field names as the nginx grammar
---------------------------------------------------------------------------------------

local apache_simple = {
    a = {"remote_addr", host},       h = {"remote_addr", host},
    A = {"server_addr", host},
    B = {"body_bytes_sent", bytes_value},
    -- Apache writes "-" for zero bytes with %b
    b = {"body_bytes_sent", represented(int_value + dash * Cc(0), "B"), always = true},
    D = {"request_time", represented(int_value, "us")},
    T = {"request_time", represented(int_value, "s")},
    f = {"request_filename"},
    H = {"server_protocol"},
    I = {"request_length", bytes_value},
    O = {"response_length", bytes_value},
    S = {"total_length", bytes_value},
    k = {"connection_requests", int_value},
    l = {"remote_user"},             -- as Heka: %l and %u share the name, %u comes later
    L = {"request_log_id"},
    m = {"request_method"},
    p = {"server_port", int_value},
    P = {"pid", int_value},
    q = {"query_string"},
    r = {"request"},
    R = {"request_handler"},
    s = {"status", status_value},
    t = {"time", clf_time, brackets = true},
    u = {"remote_user"},
    U = {"uri"},
    v = {"server_name", host},       V = {"server_name", host},
    X = {"connection_status"},
}

local function header_name(prefix)
    return function(arg) return prefix .. gsub(lower(arg), "-", "_") end
end

local apache_with_arg = {
    i = header_name("http_"),
    o = header_name("sent_http_"),
    C = function(arg) return "cookie_" .. arg end,
    e = function(arg) return "env_" .. arg end,
    n = function(arg) return "module_" .. arg end,
    x = function(arg) return (gsub(lower(arg), "-", "_")) end,
    a = function(arg) return {"remote_addr", host} end,
    p = function(arg)
        if arg == "remote" then return {"remote_port", int_value} end
        if arg == "canonical" or arg == "local" then return {"server_port", int_value} end
        error("unsupported port format: " .. arg)
    end,
    P = function(arg)
        if arg == "pid" then return {"pid", int_value} end
        if arg == "tid" then return {"tid", int_value} end
        if arg == "hextid" then
            return {"tid", C(xdigit^1) / function(h) return tonumber(h, 16) end}
        end
        error("unsupported pid format: " .. arg)
    end,
    T = function(arg)
        if arg == "s" then return {"request_time", represented(int_value, "s")} end
        if arg == "ms" then return {"request_time", represented(int_value, "ms")} end
        if arg == "us" then return {"request_time", represented(int_value, "us")} end
        error("unsupported time unit: " .. arg)
    end,
    t = function(arg)
        local a = gsub(gsub(arg, "^begin:", ""), "^end:", "")
        if a == "sec" then
            return {"time", C(digit^1) / function(s) return tonumber(s) * NS_PER_SEC end}
        elseif a == "msec" then
            return {"time", C(digit^1) / function(s) return tonumber(s) * 1000000 end}
        elseif a == "usec" then
            return {"time", C(digit^1) / function(s) return tonumber(s) * 1000 end}
        elseif a == "%d/%b/%Y:%H:%M:%S %z" then
            return {"time", clf_time}
        end
        error("unsupported %{...}t format: " .. arg)
    end,
}

local apache_escapes = {t = "\t", n = "\n", ['"'] = '"', ["\\"] = "\\"}

local function apache_var_at(fmt, i)
    if byte(fmt, i) ~= 37 then return nil end -- '%'
    if byte(fmt, i + 1) == 37 then return i + 1, {lit = "%"} end
    -- optional status condition (%400,501{..}i / %!200{..}i) and < > modifiers
    local _, e = find(fmt, "^!?%d%d%d[,%d]*", i + 1)
    local j = (e or i) + 1
    local _, e1 = find(fmt, "^[<>]", j)
    if e1 then j = e1 + 1 end
    local _, e2, arg = find(fmt, "^{([^}]*)}", j)
    if e2 then j = e2 + 1 end
    local _, e3 = find(fmt, "^[<>]", j)
    if e3 then j = e3 + 1 end
    local letter = sub(fmt, j, j)
    if not find(letter, "^%a$") then return nil end
    local spec
    if arg then
        local f = apache_with_arg[letter]
        if not f then error("unsupported LogFormat directive: %{" .. arg .. "}" .. letter) end
        spec = f(arg)
        if type(spec) == "string" then spec = {spec} end
    else
        spec = apache_simple[letter]
        if not spec then error("unsupported LogFormat directive: %" .. letter) end
    end
    return j, {var = spec[1], spec = spec}
end

function M.build_apache_grammar(log_format)
    if type(log_format) ~= "string" or log_format == "" then
        error("log_format must be a non-empty string", 2)
    end
    -- the configuration string may carry C-like escapes
    log_format = gsub(log_format, "\\(.)", function(c) return apache_escapes[c] end)
    local toks = tokenize(log_format, apache_var_at)
    -- merge adjacent literals ("%%" makes its own literal token)
    local merged = {}
    for _, t in ipairs(toks) do
        local prev = merged[#merged]
        if t.lit and prev and prev.lit then
            prev.lit = prev.lit .. t.lit
        else
            merged[#merged + 1] = t
        end
    end
    toks = merged
    local parts, names = {}, {}
    for i, t in ipairs(toks) do
        local p
        if t.lit then
            p = P(t.lit)
        else
            local spec = t.spec
            local value = spec[2]
            if not value then
                p = string_field(stop_after(toks, i))
            elseif spec.always then
                p = value
            else
                p = typed_field(value)
            end
            if spec.brackets then p = "[" * p * "]" end
            names[#names + 1] = spec[1]
        end
        parts[#parts + 1] = p
    end
    return sequence(parts, names)
end

---------------------------------------------------------------------------------------
-- Coarse user agent classification
---------------------------------------------------------------------------------------

-- first substring found decides the operating system
local os_rules = {
    {"iPod", "iPod"}, {"iPad", "iPad"}, {"iPhone", "iPhone"},
    {"Android", "Android"}, {"BlackBerry", "BlackBerry"},
    {"Linux", "Linux"}, {"Macintosh", "Macintosh"},
    {"Mozilla/5.0 (Mobile;", "FirefoxOS"},
    {"Windows NT 10.0", "Windows 10"}, {"Windows NT 6.3", "Windows 8.1"},
    {"Windows NT 6.2", "Windows 8"}, {"Windows NT 6.1", "Windows 7"},
    {"Windows NT 6.0", "Windows Vista"}, {"Windows NT 5.1", "Windows XP"},
    {"Windows NT 5.0", "Windows 2000"},
}

-- leading integer right after `token` in ua
local function number_after(ua, token)
    local _, e = find(ua, token, 1, true)
    if not e then return nil end
    local d = ua:match("^%d+", e + 1)
    return d and tonumber(d)
end

-- major version of the last "product/version" token
local function last_product_version(ua)
    local v
    for d in ua:gmatch("/(%d+)") do v = d end
    return v and tonumber(v)
end

-- first substring found decides the browser; the function finds its major version
local browser_rules = {
    {"Edge/", "Edge", function(ua) return number_after(ua, "Edge/") end},
    {"Edg/", "Edge", function(ua) return number_after(ua, "Edg/") end},
    {"OPR/", "Opera", function(ua) return number_after(ua, "OPR/") end},
    {"Chrome/", "Chrome", function(ua) return number_after(ua, "Chrome/") end},
    {"Opera Mini", "Opera Mini", last_product_version},
    {"Opera Mobi", "Opera Mobi", last_product_version},
    {"Opera", "Opera", last_product_version},
    {"MSIE ", "MSIE", function(ua) return number_after(ua, "MSIE ") end},
    {"Trident/7.0", "MSIE", function() return 11 end},
    {"Firefox/", "Firefox", function(ua) return number_after(ua, "Firefox/") end},
    {"Safari", "Safari", function(ua)
        return number_after(ua, "Version/") or last_product_version(ua)
    end},
}

function M.normalize_user_agent(ua)
    if type(ua) ~= "string" then return nil end
    local os_name, browser, version
    for _, r in ipairs(os_rules) do
        if find(ua, r[1], 1, true) then os_name = r[2]; break end
    end
    for _, r in ipairs(browser_rules) do
        if find(ua, r[1], 1, true) then
            browser, version = r[2], r[3](ua)
            break
        end
    end
    return browser, version, os_name
end

function M.transform_user_agent(fields, keep, conditional)
    local ua = fields.http_user_agent
    if not ua then return end
    local browser, version, os_name = M.normalize_user_agent(ua)
    fields.user_agent_browser = browser
    fields.user_agent_version = version
    fields.user_agent_os = os_name
    if not (keep or (conditional and not browser)) then fields.http_user_agent = nil end
end

return M
