-- Plain-Lua baseline for scripts/bench.
--
--   lua5.4 scripts/bench-baseline.lua FILE [modules_dir]
--
-- Parses an nginx access log line by line exactly as lua/decoders/nginx_access.lua does
-- with its default configuration (same common_log_format module, same grammar, same
-- message table), without a sandbox and without injecting anything, and prints
--
--   parsed=N failed=M
--
-- modules_dir defaults to lua/modules next to this script's directory.
-- Set NGINX_LOG_FORMAT in the environment to parse with another log_format.
--
-- Modes (third argument): "count" also counts statuses, as the bench's counting filter
-- does; "pattern" and "pattern-count" parse with the single string.match of
-- scripts/bench-pattern-decoder.lua instead of the grammar.

local file, modules_dir, mode = arg[1], arg[2], arg[3]  -- mode "count": also count statuses
if not file then
    io.stderr:write("usage: lua5.4 scripts/bench-baseline.lua FILE [modules_dir]\n")
    os.exit(2)
end
if not modules_dir then
    local here = arg[0]:match("^(.*)[/\\][^/\\]*$") or "."
    modules_dir = here .. "/../lua/modules"
end
package.path = modules_dir .. "/?.lua;" .. package.path

local grammar
if mode == "pattern" or mode == "pattern-count" then
    -- the pattern decoder's work: one match, a fields table like the one it injects
    local PATTERN = '^(%S+) %S+ (%S+) %[([^%]]+)%] "([^"]*)" (%d+) (%d+) "([^"]*)" "([^"]*)"'
    local t = {}
    grammar = {match = function(_, line)
        local addr, user, time, request, status, bytes, referer, agent = line:match(PATTERN)
        if not addr then return nil end
        t.remote_addr, t.remote_user, t.time_local, t.request = addr, user, time, request
        t.status, t.body_bytes_sent = tonumber(status), tonumber(bytes)
        t.http_referer, t.http_user_agent = referer, agent
        return t
    end}
else
    local clf = require "common_log_format"
    local COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status '
                  .. '$body_bytes_sent "$http_referer" "$http_user_agent"'
    grammar = clf.build_nginx_grammar(os.getenv("NGINX_LOG_FORMAT") or COMBINED)
end

-- the decoder's message table (default config: no Type, no Payload kept)
local msg = {Timestamp = nil, Type = nil, Payload = nil, Fields = nil}

local parsed, failed = 0, 0
local counts = {}
local counting = mode == "count" or mode == "pattern-count"
local fh = assert(io.open(file, "rb"))
for line in fh:lines() do
    local fields = grammar:match(line)
    if fields then
        msg.Timestamp = fields.time
        fields.time = nil
        msg.Fields = fields
        parsed = parsed + 1
        if counting then
            local st = fields.status
            counts[st] = (counts[st] or 0) + 1
        end
    else
        failed = failed + 1
    end
end
fh:close()
io.write(string.format("parsed=%d failed=%d\n", parsed, failed))
