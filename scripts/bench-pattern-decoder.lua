-- The bench's plain pattern decoder (SandboxDecoder): one string.match per nginx
-- "combined" line, the same pattern and message table as scripts/bench-baseline.lua's
-- "pattern" mode, so luapiped and plain lua5.4 do the same Lua work.
local msg_type = read_config("type")
local fields = {}
local msg = {Type = msg_type, Fields = fields}

local PATTERN = '^(%S+) %S+ (%S+) %[([^%]]+)%] "([^"]*)" (%d+) (%d+) "([^"]*)" "([^"]*)"'

function process_message()
    local addr, user, time, request, status, bytes, referer, agent = read_message("Payload"):match(PATTERN)
    if not addr then return -1, "not an nginx combined line" end
    fields.remote_addr = addr
    fields.remote_user = user
    fields.time_local = time
    fields.request = request
    fields.status = tonumber(status)
    fields.body_bytes_sent = tonumber(bytes)
    fields.http_referer = referer
    fields.http_user_agent = agent
    inject_message(msg)
    return 0
end
