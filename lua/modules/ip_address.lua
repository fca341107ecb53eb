--[[
ip_address: LPeg patterns for IP addresses and host names, with the names of Heka's
ip_address module (lua_sandbox), so grammars written for Heka work unchanged:

    local ip = require "ip_address"
    local addr = lpeg.C(ip.v4 + ip.v6)          -- capture an address
    (ip.v4 * -1):match("10.0.0.255")            -- anchored: 11 (the end position)

Patterns
    v4              an IPv4 address in dotted-quad form (RFC 3986 IPv4address): four
                    decimal octets 0..255, no leading zeros ("010.1.1.1" does not match).
                    Produces no capture.
    v6              an IPv6 address in any RFC 4291 text form: eight groups, "::"
                    compression, an embedded IPv4 tail ("::ffff:192.0.2.1"), hex digits
                    in either case. Produces no capture. It takes the longest valid
                    address at the position ("fe80::1" in "fe80::1]:8080").
    hostname        a URI reg-name (RFC 3986: letters, digits, "-._~", "%XX" escapes and
                    "!$&'()*+,;="); captures it in lower case.
    host            v6, v4 or hostname; captures only for a hostname (lower-cased).
    hostname_field  v6, v4 or hostname, captured as a message field table:
                    {value = "192.0.2.1", representation = "ipv4"} (or "ipv6",
                    "hostname"; a hostname's value is lower-cased).

Like Heka's, the patterns are not anchored: v4 matches the start of "1.2.3.45x" and
of "1.2.3.456" ("1.2.3.45"). Add `* -1` (or a delimiter) to require the whole string.
In host and hostname_field an address counts only when no host-name character follows
it, so "10.1.2.3.nip.io" is a hostname rather than the address 10.1.2.3.
--]]

local lpeg   = require "lpeg"
local string = require "string"

local P, R, S, C, Cc, Ct, Cg, Cmt = lpeg.P, lpeg.R, lpeg.S, lpeg.C, lpeg.Cc, lpeg.Ct,
                                    lpeg.Cg, lpeg.Cmt
local find, sub, lower, match, gsub = string.find, string.sub, string.lower, string.match, string.gsub

local M = {}

local digit  = R"09"
local xdigit = R("09", "af", "AF")

-- one octet, alternatives longest first so "250" is not taken as "25"
local octet = P"25" * R"05"
            + "2" * R"04" * digit
            + "1" * digit * digit
            + R"19" * digit
            + digit

M.v4 = octet * "." * octet * "." * octet * "." * octet

-- IPv6 ---------------------------------------------------------------------------------

local v4_only = M.v4 * -1

-- number of 16-bit groups in a ":"-separated list, or nil when malformed; the last
-- item may be a dotted quad (two groups) when allow_v4 is set
local function count_groups(s, allow_v4)
    if s == "" then return 0 end
    local n, start = 0, 1
    while true do
        local colon = find(s, ":", start, true)
        local item = sub(s, start, colon and colon - 1 or #s)
        if match(item, "^%x%x?%x?%x?$") then
            n = n + 1
        elseif not colon and allow_v4 and v4_only:match(item) then
            n = n + 2
        else
            return nil
        end
        if not colon then return n end
        start = colon + 1
    end
end

local function valid_v6(s)
    local dc = find(s, "::", 1, true)
    if not dc then
        return count_groups(s, true) == 8
    end
    if find(s, "::", dc + 1, true) or find(s, ":::", 1, true) then return false end
    local head = count_groups(sub(s, 1, dc - 1), false)
    local tail = count_groups(sub(s, dc + 2), true)
    return head ~= nil and tail ~= nil and head + tail <= 7
end

-- the longest text form is "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" (45 bytes)
local MAX_V6 = 45

-- match-time check: the longest valid address starting at pos
local function v6_at(subject, pos)
    -- An address has a ":" within its first five bytes and at least two in all: most
    -- positions of a line (words, hex hashes) are refused before any parsing.
    if not find(sub(subject, pos, pos + 4), ":", 1, true) then return false end
    local window = sub(subject, pos, pos + MAX_V6 - 1)
    local _, run_end = find(window, "^[%x:%.]+")
    if not run_end then return false end
    local _, colons = gsub(sub(window, 1, run_end), ":", "")
    if colons < 2 then return false end
    run_end = pos + run_end - 1
    for e = run_end, pos + 1, -1 do
        if valid_v6(sub(subject, pos, e)) then return e + 1 end
    end
    return false
end

M.v6 = Cmt(#S("0123456789abcdefABCDEF:"), v6_at)

-- host names ---------------------------------------------------------------------------

local alnum      = R("az", "AZ", "09")
local host_char  = alnum + S"-._~" + "%" * xdigit * xdigit + S"!$&'()*+,;="

M.hostname = C(host_char^1) / lower

local v4_word = M.v4 * -host_char
local v6_word = M.v6 * -host_char

M.host = v6_word + v4_word + M.hostname

local function field(p, rep)
    return Ct(Cg(p, "value") * Cg(Cc(rep), "representation"))
end

M.hostname_field = field(C(v6_word), "ipv6")
                 + field(C(v4_word), "ipv4")
                 + field(M.hostname, "hostname")

return M
