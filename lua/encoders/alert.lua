--[[
alert (SandboxEncoder): an alert as readable text, for e-mail, chat webhooks or a file.

    Alert: HTTP Status (from http_status on web1)
    Time: 2026-11-26 10:15:00 UTC

    HTTP Status HTTP_5xx: rate of change: ...

Input: the alerts filters send with the alert module (payload_type "alert"); any other
message is written the same way from its Logger, Hostname, Timestamp and Payload.
Config: `subject_prefix` (string, default "Alert: ").
--]]

local prefix = read_config("subject_prefix") or "Alert: "

function process_message()
    local name = read_message("Fields[payload_name]")
    local logger = read_message("Logger") or ""
    local host = read_message("Hostname") or ""
    if name == nil or name == "" then name = logger end
    local ts = read_message("Timestamp") or 0
    local text = string.format("%s%s (from %s on %s)\nTime: %s\n\n%s\n", prefix, name, logger, host,
        os.date("!%Y-%m-%d %H:%M:%S UTC", math.floor(ts / 1e9)), read_message("Payload") or "")
    inject_payload("txt", "alert", text)
    return 0
end
