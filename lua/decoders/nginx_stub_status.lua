--[[
nginx stub_status decoder (SandboxDecoder), compatible with Heka's nginx_stub_status.lua.

The Payload is the page nginx's ngx_http_stub_status_module serves:

    Active connections: 291
    server accepts handled requests
     16630948 16630948 31070465
    Reading: 6 Writing: 179 Waiting: 106

One message per page, with integer fields connections, accepts, handled, requests,
reading, writing and waiting.

Config:
- type (string, default "nginx_stub_status"): the message Type.
- payload_keep (bool, default false): keep the page as the Payload.

A payload in another format is rejected (process_message returns -1).
--]]

local payload_keep = read_config("payload_keep")

local fields = {}
local msg = {Type = read_config("type") or "nginx_stub_status", Payload = nil, Fields = fields}

local FORMAT = "^%s*Active connections:%s*(%d+)%s+server accepts handled requests%s+(%d+)%s+(%d+)%s+(%d+)"
    .. "%s+Reading:%s*(%d+)%s+Writing:%s*(%d+)%s+Waiting:%s*(%d+)"

function process_message()
    local data = read_message("Payload")
    local c, a, h, r, rd, wr, wt = data:match(FORMAT)
    if not c then return -1, "not an nginx stub_status page" end
    fields.connections = tonumber(c)
    fields.accepts = tonumber(a)
    fields.handled = tonumber(h)
    fields.requests = tonumber(r)
    fields.reading = tonumber(rd)
    fields.writing = tonumber(wr)
    fields.waiting = tonumber(wt)
    msg.Payload = payload_keep and data or nil
    inject_message(msg)
    return 0
end
