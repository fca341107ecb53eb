-- Plain-Lua tests of the bundled nginx scripts.
--
--   lua5.4 Tests/lua/test_nginx.lua          (from the repository root)
--
-- Mocks Heka's sandbox API (read_config, read_message, inject_message, inject_payload)
-- as globals of the environment each script is loaded into, runs the scripts and
-- checks their output. Exits non-zero when a check fails.

local ROOT = (arg and arg[0] and arg[0]:match("^(.*)/Tests/lua/[^/]*$")) or "."
package.path = ROOT .. "/lua/modules/?.lua;" .. package.path

local passed, failed = 0, 0

local function fmt(v)
    if type(v) == "string" then return string.format("%q", v) end
    if math.type(v) == "float" then return string.format("%.17g (float)", v) end
    return tostring(v)
end

local function check(name, cond, detail)
    if cond then
        passed = passed + 1
    else
        failed = failed + 1
        print("FAIL: " .. name .. (detail and (" -- " .. detail) or ""))
    end
end

-- equal value and equal Lua type (integer vs float included)
local function eq(name, got, want)
    local same = got == want and type(got) == type(want) and math.type(got) == math.type(want)
    check(name, same, "got " .. fmt(got) .. ", want " .. fmt(want))
end

local function count_keys(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
end

local function deep_copy(v)
    if type(v) ~= "table" then return v end
    local t = {}
    for k, x in pairs(v) do t[k] = deep_copy(x) end
    return t
end

---------------------------------------------------------------------------------------
-- Sandbox mock
---------------------------------------------------------------------------------------

-- Loads `path` into a fresh environment with the sandbox API; returns the harness.
local function load_script(path, config)
    local h = {injected = {}, payloads = {}, current = nil}
    local env = setmetatable({}, {__index = _G})
    env.read_config = function(key) return config and config[key] end
    env.read_message = function(field)
        local m = h.current
        if not m then return nil end
        if field == "Payload" then return m.Payload end
        local name = field:match("^Fields%[(.-)%]$")
        if name then
            local v = m.Fields and m.Fields[name]
            if type(v) == "table" then v = v.value end
            return v
        end
        return m[field]
    end
    -- a host encodes the message during the call, so a snapshot is what it would keep
    env.inject_message = function(m) h.injected[#h.injected + 1] = deep_copy(m) end
    env.inject_payload = function(ptype, pname, ...)
        h.payloads[#h.payloads + 1] = {type = ptype, name = pname, data = table.concat({...})}
    end
    local chunk = assert(loadfile(ROOT .. "/" .. path, "t", env))
    chunk()
    h.env = env
    function h.process(m)
        h.current = m
        return env.process_message()
    end
    function h.decode(line)
        local before = #h.injected
        local rc, err = h.process({Payload = line})
        local msg = #h.injected > before and h.injected[#h.injected] or nil
        return rc, err, msg
    end
    return h
end

local COMBINED_LINE = '10.130.60.127 - - [24/Nov/2026:10:00:00 +0000] "POST /images/7364.png HTTP/1.1" '
                   .. '200 2014 "-" "Go-http-client/1.1"'
local TS = 1795514400 * 1000000000 -- 2026-11-24 10:00:00 UTC

---------------------------------------------------------------------------------------
-- Module: sandbox friendliness and time arithmetic
---------------------------------------------------------------------------------------

do
    -- load the module with only what a Heka sandbox offers: no io, os.execute, debug, load
    local allowed = {lpeg = true, string = true, table = true, math = true}
    local env = {
        tonumber = tonumber, tostring = tostring, type = type, error = error,
        ipairs = ipairs, pairs = pairs, select = select, assert = assert,
        setmetatable = setmetatable, next = next, pcall = pcall,
        string = string, table = table, math = math,
        os = {time = os.time, date = os.date},
        require = function(name)
            assert(allowed[name], "module requires " .. name)
            return require(name)
        end,
    }
    local chunk = assert(loadfile(ROOT .. "/lua/modules/common_log_format.lua", "t", env))
    local ok, M = pcall(chunk)
    check("module loads in a restricted environment", ok, tostring(M))
    local extra = {}
    for k in pairs(env) do
        if not ({tonumber = 1, tostring = 1, type = 1, error = 1, ipairs = 1, pairs = 1,
                 select = 1, assert = 1, setmetatable = 1, next = 1, pcall = 1, string = 1,
                 table = 1, math = 1, os = 1, require = 1})[k] then
            extra[#extra + 1] = k
        end
    end
    check("module creates no globals", #extra == 0, table.concat(extra, ","))
    check("module returns a table", type(M) == "table")
    if ok and type(M) == "table" then
        local g = M.build_nginx_grammar('$status')
        eq("restricted module parses", g:match("204").status, 204)
    end
end

local clf = require "common_log_format"

eq("days_from_civil epoch", clf.days_from_civil(1970, 1, 1), 0)
eq("days_from_civil 2000-03-01", clf.days_from_civil(2000, 3, 1), 11017)
eq("days_from_civil 1969-12-31", clf.days_from_civil(1969, 12, 31), -1)
do -- days_from_civil against plain day counting, every 1st and 28th of 1900..2200
    local function leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end
    local mdays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
    local days, bad = -25567, nil -- 1900-01-01
    for y = 1900, 2200 do
        for m = 1, 12 do
            if clf.days_from_civil(y, m, 1) ~= days then bad = bad or (y .. "-" .. m .. "-01") end
            if clf.days_from_civil(y, m, 28) ~= days + 27 then bad = bad or (y .. "-" .. m .. "-28") end
            days = days + mdays[m] + ((m == 2 and leap(y)) and 1 or 0)
        end
    end
    check("days_from_civil 1900..2200", bad == nil, bad)
end
eq("clf 1970", clf.clf_to_ns("01/Jan/1970:00:00:00 +0000"), 0)
eq("clf leap day", clf.clf_to_ns("29/Feb/2024:00:00:00 +0000"), 1709164800 * 1000000000)
eq("clf end of 1999", clf.clf_to_ns("31/Dec/1999:23:59:59 +0000"), 946684799 * 1000000000)
eq("clf +0200", clf.clf_to_ns("24/Nov/2026:12:00:00 +0200"), TS)
eq("clf -0130", clf.clf_to_ns("24/Nov/2026:08:30:00 -0130"), TS)
eq("clf offset crossing a day", clf.clf_to_ns("25/Nov/2026:01:00:00 +1500"), TS)
eq("clf cached value again", clf.clf_to_ns("25/Nov/2026:01:00:00 +1500"), TS)

---------------------------------------------------------------------------------------
-- Decoder: combined format (default config)
---------------------------------------------------------------------------------------

do
    local d = load_script("lua/decoders/nginx_access.lua", {})
    local rc, err, m = d.decode(COMBINED_LINE)
    eq("combined rc", rc, 0)
    eq("combined err", err, nil)
    check("combined injected", m ~= nil)
    m = m or {Fields = {}}
    local f = m.Fields or {}
    eq("Timestamp", m.Timestamp, TS)
    eq("Type unset by default (as Heka)", m.Type, nil)
    eq("Payload not kept by default", m.Payload, nil)
    eq("no time field left", f.time, nil)
    eq("remote_addr value", type(f.remote_addr) == "table" and f.remote_addr.value, "10.130.60.127")
    eq("remote_addr representation", type(f.remote_addr) == "table" and f.remote_addr.representation, "ipv4")
    eq("remote_user", f.remote_user, "-")
    eq("request", f.request, "POST /images/7364.png HTTP/1.1")
    eq("status integer", f.status, 200)
    eq("body_bytes_sent value integer", type(f.body_bytes_sent) == "table" and f.body_bytes_sent.value, 2014)
    eq("body_bytes_sent representation", type(f.body_bytes_sent) == "table" and f.body_bytes_sent.representation, "B")
    eq("http_referer", f.http_referer, "-")
    eq("http_user_agent", f.http_user_agent, "Go-http-client/1.1")
    eq("exactly the combined fields", count_keys(f), 7)
    local hdrs = {}
    for k in pairs(m) do hdrs[#hdrs + 1] = k end
    table.sort(hdrs)
    eq("headers set", table.concat(hdrs, ","), "Fields,Timestamp")

    -- timezone offsets
    local _, _, m2 = d.decode((COMBINED_LINE:gsub("24/Nov/2026:10:00:00 %+0000", "24/Nov/2026:12:00:00 +0200")))
    eq("+0200 Timestamp", m2 and m2.Timestamp, TS)
    local _, _, m3 = d.decode((COMBINED_LINE:gsub("24/Nov/2026:10:00:00 %+0000", "23/Nov/2026:23:00:00 -1100")))
    eq("-1100 Timestamp", m3 and m3.Timestamp, TS)
    local _, _, m4 = d.decode((COMBINED_LINE:gsub("10:00:00 %+0000", "10:00:01 +0000")))
    eq("next second", m4 and m4.Timestamp, TS + 1000000000)

    -- "-" for body_bytes_sent: the field is absent, the rest parses
    local rc5, _, m5 = d.decode((COMBINED_LINE:gsub(" 2014 ", " - ")))
    eq("dash bytes rc", rc5, 0)
    eq("dash bytes absent", m5 and m5.Fields.body_bytes_sent, nil)
    eq("dash bytes status still integer", m5 and m5.Fields.status, 200)

    -- trailing newline / CRLF are tolerated
    local rc6, _, m6 = d.decode(COMBINED_LINE .. "\n")
    eq("trailing newline rc", rc6, 0)
    eq("trailing newline user agent", m6 and m6.Fields.http_user_agent, "Go-http-client/1.1")
    eq("CRLF rc", (d.decode(COMBINED_LINE .. "\r\n")), 0)

    -- escaped quote inside a quoted value; IPv6 client
    local line7 = '2001:db8::1 - alice [24/Nov/2026:10:00:00 +0000] "GET /q?a=\\"b\\" HTTP/1.1" 404 0 "-" "x \\"y\\""'
    local rc7, _, m7 = d.decode(line7)
    eq("escaped quote rc", rc7, 0)
    eq("escaped quote request", m7 and m7.Fields.request, 'GET /q?a=\\"b\\" HTTP/1.1')
    eq("escaped quote ua", m7 and m7.Fields.http_user_agent, 'x \\"y\\"')
    eq("ipv6 representation", m7 and m7.Fields.remote_addr.representation, "ipv6")
    eq("remote_user alice", m7 and m7.Fields.remote_user, "alice")
    eq("zero bytes integer", m7 and m7.Fields.body_bytes_sent.value, 0)

    -- malformed lines: -1, counted failure, nothing injected
    local n = #d.injected
    local rc8, err8 = d.decode("garbage line 499 without the nginx shape")
    eq("malformed rc", rc8, -1)
    eq("malformed message", err8, "Failed to parse")
    eq("malformed not injected", #d.injected, n)
    eq("bad month", (d.decode((COMBINED_LINE:gsub("Nov", "Foo")))), -1)
    eq("non-numeric status", (d.decode((COMBINED_LINE:gsub(" 200 ", " abc ")))), -1)
    eq("literal mismatch", (d.decode((COMBINED_LINE:gsub(" %- %- ", " + - ")))), -1)
    eq("empty payload", (d.decode("")), -1)
    eq("missing payload", (d.process({})), -1)
    eq("nothing injected for failures", #d.injected, n)
end

---------------------------------------------------------------------------------------
-- Decoder: configuration
---------------------------------------------------------------------------------------

do
    local d = load_script("lua/decoders/nginx_access.lua", {
        type = "nginx.access",
        payload_keep = true,
        user_agent_transform = true,
    })
    local line = COMBINED_LINE:gsub('"Go%-http%-client/1.1"',
        '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"')
    local rc, _, m = d.decode(line)
    eq("config rc", rc, 0)
    eq("config Type", m and m.Type, "nginx.access")
    eq("config Payload kept", m and m.Payload, line)
    eq("ua browser", m and m.Fields.user_agent_browser, "Chrome")
    eq("ua version integer", m and m.Fields.user_agent_version, 120)
    eq("ua os", m and m.Fields.user_agent_os, "Linux")
    eq("ua removed", m and m.Fields.http_user_agent, nil)
    -- a second line must not keep the first one's fields or payload
    local rc2, _, m2 = d.decode(COMBINED_LINE)
    eq("reuse rc", rc2, 0)
    eq("reuse Payload replaced", m2 and m2.Payload, COMBINED_LINE)
    eq("reuse curl-less ua: browser absent", m2 and m2.Fields.user_agent_browser, nil)

    local dc = load_script("lua/decoders/nginx_access.lua", {
        user_agent_transform = true, user_agent_conditional = true,
    })
    local _, _, mc = dc.decode(COMBINED_LINE)
    eq("conditional keeps unrecognised ua", mc and mc.Fields.http_user_agent, "Go-http-client/1.1")
    local _, _, mc2 = dc.decode(line)
    eq("conditional drops recognised ua", mc2 and mc2.Fields.http_user_agent, nil)

    local dk = load_script("lua/decoders/nginx_access.lua", {
        user_agent_transform = true, user_agent_keep = true,
    })
    local _, _, mk = dk.decode(line)
    check("keep keeps ua", mk and mk.Fields.http_user_agent ~= nil)
    eq("keep adds browser", mk and mk.Fields.user_agent_browser, "Chrome")
end

---------------------------------------------------------------------------------------
-- Decoder: custom log_format
---------------------------------------------------------------------------------------

do
    local d = load_script("lua/decoders/nginx_access.lua", {
        log_format = '$remote_addr:$remote_port [$time_iso8601] "$request" $status $bytes_sent '
                  .. '$request_length $request_time $upstream_response_time "$http_x_forwarded_for" $host',
    })
    local line = '192.0.2.10:51234 [2026-11-24T12:00:00+02:00] "GET /api HTTP/2.0" 502 512 '
              .. '340 1.250 0.004, 0.010 "203.0.113.9, 198.51.100.2" api.example.com'
    local rc, _, m = d.decode(line)
    eq("custom rc", rc, 0)
    local f = m and m.Fields or {}
    eq("custom Timestamp", m and m.Timestamp, TS)
    eq("custom remote_port", f.remote_port, 51234)
    eq("custom status", f.status, 502)
    eq("custom bytes_sent", f.bytes_sent and f.bytes_sent.value, 512)
    eq("custom bytes_sent rep", f.bytes_sent and f.bytes_sent.representation, "B")
    eq("custom request_length", f.request_length and f.request_length.value, 340)
    eq("custom request_length rep", f.request_length and f.request_length.representation, "B")
    eq("custom request_time float", f.request_time and f.request_time.value, 1.25)
    eq("custom request_time rep", f.request_time and f.request_time.representation, "s")
    local urt = f.upstream_response_time or {}
    eq("upstream list 1", type(urt.value) == "table" and urt.value[1], 0.004)
    eq("upstream list 2", type(urt.value) == "table" and urt.value[2], 0.010)
    eq("upstream rep", urt.representation, "s")
    eq("x_forwarded_for string", f.http_x_forwarded_for, "203.0.113.9, 198.51.100.2")
    eq("host value", f.host and f.host.value, "api.example.com")
    eq("host rep", f.host and f.host.representation, "hostname")

    -- integer request_time still a float; single upstream time is a plain float
    local line2 = line:gsub(" 1%.250 0%.004, 0%.010 ", " 2 0.004 ")
    local _, _, m2 = d.decode(line2)
    eq("integral request_time is float", m2 and m2.Fields.request_time.value, 2.0)
    eq("single upstream time", m2 and m2.Fields.upstream_response_time.value, 0.004)
    -- "-" upstream time (no upstream) leaves the field out
    local line3 = line:gsub(" 0%.004, 0%.010 ", " - ")
    local rc3, _, m3 = d.decode(line3)
    eq("dash upstream rc", rc3, 0)
    eq("dash upstream absent", m3 and m3.Fields.upstream_response_time, nil)

    -- a "-" inside an upstream list counts as 0; upstream_status lists are integers
    local du = load_script("lua/decoders/nginx_access.lua", {
        log_format = '$status $upstream_response_time "$upstream_status" $upstream_addr',
    })
    local rcu, _, mu = du.decode('502 -, 0.010 "502, 200" 10.0.0.1:80, 10.0.0.2:80')
    eq("upstream dash list rc", rcu, 0)
    local uv = mu and mu.Fields.upstream_response_time.value or {}
    eq("upstream dash item", uv[1], 0.0)
    eq("upstream second item", uv[2], 0.010)
    local us = mu and mu.Fields.upstream_status or {}
    eq("upstream_status 1", us[1], 502)
    eq("upstream_status 2", us[2], 200)
    eq("upstream_addr string", mu and mu.Fields.upstream_addr, "10.0.0.1:80, 10.0.0.2:80")
    local _, _, mu2 = du.decode('200 0.002 "200" 10.0.0.1:80')
    eq("single upstream_status", mu2 and mu2.Fields.upstream_status, 200)

    local dm = load_script("lua/decoders/nginx_access.lua", {log_format = '$msec $status $request_time'})
    local _, _, mm = dm.decode("1795514400.123 200 0.000")
    eq("msec Timestamp", mm and mm.Timestamp, TS + 123000000)
    eq("request_time 0.000", mm and mm.Fields.request_time.value, 0.0)
    eq("msec format time field removed", mm and mm.Fields.time, nil)

    local ok = pcall(load_script, "lua/decoders/nginx_access.lua", {log_format = ""})
    check("empty log_format is rejected at load", not ok)
end

---------------------------------------------------------------------------------------
-- Apache grammar
---------------------------------------------------------------------------------------

do
    local g = clf.build_apache_grammar('%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-agent}i\\" %D')
    local f = g:match('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 - '
                   .. '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 1234') or {}
    eq("apache time", f.time, 971211336 * 1000000000)
    eq("apache user", f.remote_user, "frank")
    eq("apache status", f.status, 200)
    eq("apache %b dash is 0", f.body_bytes_sent and f.body_bytes_sent.value, 0)
    eq("apache referer", f.http_referer, "http://www.example.com/start.html")
    eq("apache ua", f.http_user_agent, "Mozilla/4.08 [en] (Win98; I ;Nav)")
    eq("apache %D", f.request_time and f.request_time.value, 1234)
    eq("apache %D rep", f.request_time and f.request_time.representation, "us")
end

---------------------------------------------------------------------------------------
-- Filter: http_status_count
---------------------------------------------------------------------------------------

do
    local flt = load_script("lua/filters/http_status_count.lua", {})
    local function feed(status, n)
        for _ = 1, n do
            local fields = status ~= nil and {status = status} or {}
            eq("filter rc", flt.process({Fields = fields}), 0)
        end
    end
    feed(200, 5); feed(404, 2); feed(500, 1); feed(301, 1); feed(101, 1)
    feed(200.0, 1)         -- a double status (e.g. from an old Heka) counts as 200
    feed("503", 1)         -- numeric string
    feed(nil, 2)           -- no status at all
    feed(999, 1)           -- out of the 1xx..5xx range
    feed("abc", 1)         -- not a number
    local env = flt.env
    eq("count 200", env.status_counts[200], 6)
    eq("count 404", env.status_counts[404], 2)
    eq("count 503", env.status_counts[503], 1)
    eq("count 999", env.status_counts[999], 1)
    eq("unknown (missing/non-numeric)", env.unknown_count, 3)
    eq("total", env.total_count, 16)

    env.timer_event(TS, false)
    eq("one payload", #flt.payloads, 1)
    local p = flt.payloads[1] or {}
    eq("payload type", p.type, "json")
    eq("payload name", p.name, "status_counts")
    eq("payload json", p.data,
       '{"total":16,"classes":{"1xx":1,"2xx":6,"3xx":1,"4xx":2,"5xx":2,"unknown":4},'
       .. '"statuses":{"101":1,"200":6,"301":1,"404":2,"500":1,"503":1,"999":1}}')
    local ok, cjson = pcall(require, "cjson")
    if ok then
        local okd, obj = pcall(cjson.decode, p.data or "")
        check("payload is valid JSON", okd and obj.classes["2xx"] == 6, tostring(obj))
    end

    eq("one message", #flt.injected, 1)
    local m = flt.injected[1] or {Fields = {}}
    eq("message Type", m.Type, "http_status_count")
    eq("message Timestamp", m.Timestamp, TS)
    eq("field total", m.Fields.total, 16)
    eq("field HTTP_2xx", m.Fields.HTTP_2xx, 6)
    eq("field HTTP_4xx", m.Fields.HTTP_4xx, 2)
    eq("field HTTP_5xx", m.Fields.HTTP_5xx, 2)
    eq("field HTTP_1xx", m.Fields.HTTP_1xx, 1)
    eq("field HTTP_UNKNOWN", m.Fields.HTTP_UNKNOWN, 4)
    eq("field HTTP_200", m.Fields.HTTP_200, 6)
    eq("field HTTP_999", m.Fields.HTTP_999, 1)
    eq("field count", count_keys(m.Fields), 7 + 7)

    -- counts are cumulative by default
    feed(200, 1)
    env.timer_event(TS + 1, true)
    eq("cumulative total", flt.injected[2] and flt.injected[2].Fields.total, 17)

    -- configured names, no message, per-interval counts
    local f2 = load_script("lua/filters/http_status_count.lua", {
        payload_name = "codes", emit_message = false, reset_on_emit = true,
    })
    f2.process({Fields = {status = 204}})
    f2.env.timer_event(TS, false)
    eq("custom payload name", f2.payloads[1] and f2.payloads[1].name, "codes")
    eq("no message when disabled", #f2.injected, 0)
    eq("reset after emit", f2.env.total_count, 0)
    f2.env.timer_event(TS, false)
    eq("empty report", f2.payloads[2] and f2.payloads[2].data,
       '{"total":0,"classes":{"1xx":0,"2xx":0,"3xx":0,"4xx":0,"5xx":0,"unknown":0},"statuses":{}}')

    -- the edges of "a usable status": a fractional number has no code; a numeric string
    -- counts as Lua reads it (spaces around, a decimal point with nothing after it)
    local f4 = load_script("lua/filters/http_status_count.lua", {})
    for _, v in ipairs({404.5, " 404 ", "404.0", "0x194", true}) do f4.process({Fields = {status = v}}) end
    eq("edge statuses: 404", f4.env.status_counts[404], 3)
    eq("edge statuses: unknown", f4.env.unknown_count, 2)
    eq("edge statuses: total", f4.env.total_count, 5)

    -- decoder output feeds the filter
    local d = load_script("lua/decoders/nginx_access.lua", {})
    local f3 = load_script("lua/filters/http_status_count.lua", {})
    local _, _, dm = d.decode(COMBINED_LINE)
    f3.process(dm)
    eq("decoder -> filter", f3.env.status_counts[200], 1)
end

---------------------------------------------------------------------------------------
-- Benchmark baseline script
---------------------------------------------------------------------------------------

do
    local tmp = os.tmpname()
    local fh = assert(io.open(tmp, "w"))
    fh:write(COMBINED_LINE, "\n", "garbage\n", COMBINED_LINE, "\n")
    fh:close()
    local cmd = string.format("lua5.4 %q %q %q 2>&1", ROOT .. "/scripts/bench-baseline.lua",
                              tmp, ROOT .. "/lua/modules")
    local p = io.popen(cmd)
    if p then
        local out = p:read("a")
        p:close()
        eq("bench-baseline output", out, "parsed=2 failed=1\n")
    end
    os.remove(tmp)
end

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
