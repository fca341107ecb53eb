--[[
rsyslog file decoder (SandboxDecoder), compatible with Heka's rsyslog.lua.

Parses lines that rsyslog wrote with a given template (lua/modules/syslog.lua,
build_rsyslog_grammar), e.g. /var/log/syslog or /var/log/auth.log.

Config (read_config):
- template (string, default rsyslog's RSYSLOG_TraditionalFileFormat template,
  '%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n'):
  the template string from rsyslog.conf, or the name of an rsyslog built-in template
  (RSYSLOG_TraditionalFileFormat, RSYSLOG_FileFormat, RSYSLOG_TraditionalForwardFormat,
  RSYSLOG_ForwardFormat, RSYSLOG_SyslogProtocol23Format). Heka required the template
  string; the default and the names are luapiped additions. A template that does not
  parse, or uses an unknown property, fails the load.
- type (string, optional): the message Type header (unset: the input's Type is kept).
- hostname_keep (bool, default false): keep the input message's Hostname (set by the
  input) instead of the line's %HOSTNAME% / %source%, which then stay in Fields.
- tz (string, default UTC): the zone of timestamps that carry no offset (rsyslog's
  traditional "Feb 10 12:58:58"), an IANA name like America/Los_Angeles; applied by the
  host to the decoded Timestamp. The script itself reads such times as UTC.

Example (Heka TOML):

    [RsyslogDecoder]
    type = "SandboxDecoder"
    filename = "lua_decoders/rsyslog.lua"

    [RsyslogDecoder.config]
    type = "RSYSLOG_TraditionalFileFormat"
    template = '%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n'
    tz = "America/Los_Angeles"

Output, for "Feb 10 12:58:58 trink-x230 sshd[1234]: Accepted publickey for trink":
- Timestamp: from %TIMESTAMP% / %timereported% (nanoseconds; the traditional format has
  no year: the current year is used, as in Heka); left as the input's when the template
  has none.
- Severity: from %PRI% (pri % 8), else %syslogseverity%, %syslogseverity-text%,
  %syslogpriority% or %syslogpriority-text%; those fields are then removed.
- Hostname: %HOSTNAME%, else %source% (unless hostname_keep).
- Pid: the pid of %syslogtag% ("sshd[1234]:"), when there is one.
- Payload: %msg% ("Accepted publickey for trink").
- Fields: programname (string, from %syslogtag%), syslogfacility (integer, from %PRI%),
  and any other property of the template under its name (timegenerated, app-name,
  procid, msgid, structured-data, fromhost-ip ...; see lua/modules/syslog.lua).

A line that does not fit the template makes process_message return -1 with "Failed to
parse" (nothing is injected).
--]]

local syslog = require "syslog"

local template = read_config("template")
if template == nil then template = "RSYSLOG_TraditionalFileFormat" end
if type(template) ~= "string" then error("rsyslog: template must be a string") end
local msg_type = read_config("type")
local hostname_keep = read_config("hostname_keep")

local grammar = syslog.build_rsyslog_grammar(template)

function process_message()
    local line = read_message("Payload")
    if not line then return -1, "Failed to parse" end
    local fields = grammar:match(line)
    if not fields then return -1, "Failed to parse" end

    local msg = {Type = msg_type}

    if fields.timestamp then
        msg.Timestamp = fields.timestamp
        fields.timestamp = nil
    end

    if fields.pri then
        msg.Severity = fields.pri.severity
        fields.syslogfacility = fields.pri.facility
        fields.pri = nil
    else
        msg.Severity = fields.syslogseverity or fields["syslogseverity-text"]
                       or fields.syslogpriority or fields["syslogpriority-text"]
        fields.syslogseverity = nil
        fields["syslogseverity-text"] = nil
        fields.syslogpriority = nil
        fields["syslogpriority-text"] = nil
    end

    local tag = fields.syslogtag
    if tag then
        fields.programname = tag.programname
        msg.Pid = tag.pid
        fields.syslogtag = nil
    end

    if not hostname_keep then
        msg.Hostname = fields.hostname or fields.source
        fields.hostname = nil
        fields.source = nil
    end

    msg.Payload = fields.msg
    fields.msg = nil

    msg.Fields = fields
    local ok, err = pcall(inject_message, msg)
    if not ok then return -1, err end
    return 0
end
