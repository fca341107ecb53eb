--[[
Apache access log decoder (SandboxDecoder), compatible with Heka's apache_access.lua.

Parses each line with a grammar built from Apache's LogFormat directive
(lua/modules/common_log_format.lua, build_apache_grammar). Apache's specifiers are named
as nginx's variables where one exists (%h -> remote_addr, %>s -> status, %O ->
body_bytes_sent, %{Referer}i -> http_referer ...), so the same filters and outputs serve
both servers; %t sets the message Timestamp (nanoseconds since the Unix epoch, UTC).

Config (read_config):
- log_format (string, required, as in Heka): the LogFormat directive, e.g. combined:
    '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
  or vhost_combined: '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
- type (string, optional): the message Type header (unset: the input's Type is kept).
- user_agent_transform, user_agent_keep, user_agent_conditional (bool, default false):
  as in lua/decoders/nginx_access.lua.
- payload_keep (bool, default false): keep the line as the Payload.

A line that does not fit the format makes process_message return -1 with "Failed to
parse" (a counted failure; nothing is injected).
--]]

local clf = require "common_log_format"

local log_format   = read_config("log_format")
if type(log_format) ~= "string" then error("apache_access: log_format must be set to Apache's LogFormat directive") end
local msg_type     = read_config("type")
local ua_transform = read_config("user_agent_transform")
local ua_keep      = read_config("user_agent_keep")
local ua_cond      = read_config("user_agent_conditional")
local payload_keep = read_config("payload_keep")

local grammar = clf.build_apache_grammar(log_format)
local transform_user_agent = clf.transform_user_agent

local msg = {Timestamp = nil, Type = msg_type, Payload = nil, Fields = nil}

function process_message()
    local line = read_message("Payload")
    local fields = grammar:match(line)
    if not fields then return -1, "Failed to parse" end
    msg.Timestamp = fields.time
    fields.time = nil
    msg.Payload = payload_keep and line or nil
    if ua_transform then transform_user_agent(fields, ua_keep, ua_cond) end
    msg.Fields = fields
    inject_message(msg)
    return 0
end
