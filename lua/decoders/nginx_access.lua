--[[
nginx access log decoder (SandboxDecoder), compatible with Heka's nginx_access.lua.

Parses the message Payload with a grammar built from nginx's `log_format` directive
(lua/modules/common_log_format.lua) and injects one message per line.

Config (read_config):

- log_format (string, optional; Heka requires it)
    The log_format directive from nginx.conf. Default: nginx's predefined "combined":
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
    $time_local, $time_iso8601 or $msec sets the message Timestamp (nanoseconds since
    the Unix epoch, UTC).

- type (string, optional, default nil as in Heka)
    Sets the message Type header. When unset the Type header is not written, so the
    host keeps the input message's Type (Heka's header inheritance for decoders).

- user_agent_transform (bool, optional, default false)
    Replace http_user_agent by user_agent_browser (string), user_agent_version (integer)
    and user_agent_os (string); a part that cannot be determined is left out.
- user_agent_keep (bool, optional, default false)
    With user_agent_transform, keep http_user_agent as well.
- user_agent_conditional (bool, optional, default false)
    With user_agent_transform, keep http_user_agent only when no browser was recognised.

- payload_keep (bool, optional, default false)
    Keep the original log line as the message Payload (otherwise Payload is not set).

Injected message (one per parsed line):

    Timestamp  integer ns from the time variable (absent when the format has none)
    Type       the `type` config value (absent when not configured)
    Payload    the original line, only with payload_keep = true
    Fields     every variable of the log_format except the time one, typed as
               described in common_log_format.lua, e.g. for "combined":
                 remote_addr      string, representation "ipv4"/"ipv6"/"hostname"
                 remote_user      string
                 request          string
                 status           integer
                 body_bytes_sent  integer, representation "B"
                 http_referer     string
                 http_user_agent  string

A line that does not fit the format makes process_message return -1 with
"Failed to parse" (a counted failure; nothing is injected).
--]]

local clf = require "common_log_format"

local COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status '
              .. '$body_bytes_sent "$http_referer" "$http_user_agent"'

local log_format   = read_config("log_format") or COMBINED
local msg_type     = read_config("type")
local ua_transform = read_config("user_agent_transform")
local ua_keep      = read_config("user_agent_keep")
local ua_cond      = read_config("user_agent_conditional")
local payload_keep = read_config("payload_keep")

local grammar = clf.build_nginx_grammar(log_format)
local transform_user_agent = clf.transform_user_agent

-- reused for every line: inject_message encodes it before returning
local msg = {
    Timestamp = nil,
    Type      = msg_type,
    Payload   = nil,
    Fields    = nil,
}

function process_message()
    local log = read_message("Payload") -- a string, or nil when the message has none
    if not log then return -1, "Failed to parse" end
    local fields = grammar:match(log)
    if not fields then return -1, "Failed to parse" end

    msg.Timestamp = fields.time
    fields.time = nil

    if payload_keep then msg.Payload = log end

    if ua_transform then transform_user_agent(fields, ua_keep, ua_cond) end

    msg.Fields = fields
    inject_message(msg)
    return 0
end
