--[=[
ElasticSearch Bulk API documents, for the ESJsonEncoder and ESLogstashV0Encoder scripts
(lua/encoders/es_json.lua, lua/encoders/es_logstash_v0.lua), which behave as Heka 0.10's
native encoders of those names, and for scripts of one's own.

Every encoder output is two lines, each ending in "\n": the Bulk API action line and the
document, e.g.

    {"index":{"_index":"heka-2026.11.24","_type":"message"}}
    {"Uuid":"0a1b...","Timestamp":"2026-11-24T10:00:00","Type":"nginx.access",...}

new_json_encoder([cfg]), new_logstash_v0_encoder([cfg])
    Check `cfg` (a table holding the encoder's settings as plain Lua values, nil meaning
    Heka's default; without `cfg`, each setting is read with read_config) and return a function that encodes the current message (call it from
    process_message) into the two lines. Bad settings raise an error. Settings:
    - index (string): the `_index`, interpolated (below) and lower-cased.
      Default "heka-%{%Y.%m.%d}" (logstash: "logstash-%{%Y.%m.%d}").
    - type_name (string, default "message"): the `_type`, interpolated.
    - id (string, default none): the `_id`, interpolated; left out when empty or when a
      `%{name}` in it could not be resolved, so ElasticSearch generates one.
    - es_index_from_timestamp (boolean, default false): date conversions in index,
      type_name and id use the message's Timestamp instead of the current time.
    - fields (array of strings): which parts of the message make the document, in that
      order: "Uuid", "Timestamp", "Type", "Logger", "Severity", "Payload", "EnvVersion",
      "Pid", "Hostname" and "DynamicFields" (the message's Fields; "Fields" is accepted
      too). Case does not matter. Default: all ten in that order.
    - timestamp (string, default "%Y-%m-%dT%H:%M:%S"): strftime format of the Timestamp
      (UTC); see strftime below.
    - dynamic_fields (array of strings, default all): only these message fields go into
      the document; needs "DynamicFields" in `fields`.
    - raw_bytes_fields (array of strings): string and bytes fields written as they are,
      without quotes or escaping (fields holding JSON).
    - field_mappings (table, json encoder only): document key of each header, e.g.
      {Timestamp = "@timestamp", Severity = "level"}; keys Timestamp, Uuid, Type, Logger,
      Severity, Payload, EnvVersion, Pid, Hostname (any case); unset ones keep their name.
    - use_message_type (boolean, logstash encoder only, default false): "@type" is the
      message's Type instead of the interpolated type_name.
    Array settings may also be given as one string of space-separated names, and
    field_mappings as "Timestamp=@timestamp Severity=level" (for `luapiped test --config`).

    The JSON document: Uuid as 8-4-4-4-12 hex, Severity and Pid as numbers (a missing Pid
    is 0), missing strings as "". Fields are written under their own names in message
    order: one value as a JSON value, several as an array; integers in decimal, doubles
    in the shortest form that reads back (Go's %g: 0.5, 42, 1e+06, 1.5e-07; NaN and
    infinities as null), booleans as true/false, strings quoted; a bytes field's single
    value as a string (bytes that are not UTF-8 become U+FFFD), several values as base64
    strings. Representations are not written. In strings, '"', '\' and control
    characters are written as \u00XX, invalid UTF-8 as U+FFFD, all else as it is. The
    logstash document uses the keys @uuid, @timestamp, @type, @logger, @severity,
    @message (the Payload), @envversion, @pid, @source_host (the Hostname) and
    @fields (an object holding the message's fields).

interpolate(template, ns)
    Replaces each "%{name}" in template, as the encoders do: Type, Hostname, Pid, UUID
    (8-4-4-4-12 hex), Logger, EnvVersion, Severity; else the first value of Fields[name];
    else `name` as a strftime format of the time `ns` (nanoseconds). Returns the text
    and false when some "%{name}" could not be resolved (no field, no conversion in it).

strftime(format, ns)
    The time `ns` (nanoseconds since the epoch) in UTC: %Y %m %d %H %M %S, %y %C %j %e %k
    %l %I %p %P, %a %A %b %B %h, %F %T %R %r %D %v, %s, %f (microseconds), %L
    (milliseconds), %N (nanoseconds), %w, %Z ("UTC"), %z ("+0000"), %n %t %%. Other
    conversions are kept as written.

bulkapi_index_json(index, type_name, id, ns)
    As Heka's elasticsearch Lua module: the action line (no newline) for the given
    index, type and id (each nil to leave it out), each interpolated with msg_interpolate
    using the time `ns` (nanoseconds; nil: now).

json_string(s), go_float(x), base64(s)
    Helpers: a JSON string as the documents write it, a double as Go's %g writes it,
    standard base64 with padding.
--]=]

local M = {}

local msg_interpolate = require "msg_interpolate"

local concat, format, byte, char = table.concat, string.format, string.byte, string.char

-- Strings -------------------------------------------------------------------------------

local REPLACEMENT = "\239\191\189"  -- U+FFFD

-- `s` with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD.
local function valid_utf8(s)
    if utf8.len(s) then return s end
    local out, i, n = {}, 1, #s
    while i <= n do
        local ok, bad = utf8.len(s, i)
        if ok then
            out[#out + 1] = string.sub(s, i)
            break
        end
        out[#out + 1] = string.sub(s, i, bad - 1)
        out[#out + 1] = REPLACEMENT
        i = bad + 1
    end
    return concat(out)
end

local DOC_ESCAPES = {['"'] = "\\u0022", ["\\"] = "\\u005c"}
for b = 0, 31 do DOC_ESCAPES[char(b)] = format("\\u%04x", b) end

-- A quoted JSON string as the documents write it.
local function json_string(s)
    s = valid_utf8(s)
    return '"' .. (string.gsub(s, '[%z\1-\31"\\]', DOC_ESCAPES)) .. '"'
end
M.json_string = json_string

local ACTION_ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                        ["\b"] = "\\b", ["\f"] = "\\f"}
for b = 0, 31 do ACTION_ESCAPES[char(b)] = ACTION_ESCAPES[char(b)] or format("\\u%04x", b) end
ACTION_ESCAPES["\127"] = "\\u007f"

-- A quoted JSON string as the action line writes it (short escapes where JSON has them).
local function action_string(s)
    s = valid_utf8(s)
    return '"' .. (string.gsub(s, '[%z\1-\31"\\\127]', ACTION_ESCAPES)) .. '"'
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function M.base64(s)
    local out, n = {}, #s
    for i = 1, n, 3 do
        local a, b, c = byte(s, i, i + 2)
        local v = (a << 16) | ((b or 0) << 8) | (c or 0)
        local c1, c2 = (v >> 18) & 63, (v >> 12) & 63
        local c3, c4 = (v >> 6) & 63, v & 63
        out[#out + 1] = string.sub(B64, c1 + 1, c1 + 1) .. string.sub(B64, c2 + 1, c2 + 1)
            .. (b and string.sub(B64, c3 + 1, c3 + 1) or "=") .. (c and string.sub(B64, c4 + 1, c4 + 1) or "=")
    end
    return concat(out)
end

-- Numbers -------------------------------------------------------------------------------

-- A double as Go's strconv.FormatFloat(x, 'g', -1, 64): the fewest digits that read back,
-- in exponent form when the exponent is below -4 or at least 6 ("1e+06", "1.5e-07").
local function go_float(x)
    if x ~= x or x == math.huge or x == -math.huge then return "null" end
    if x == 0 then return (1 / x < 0) and "-0" or "0" end
    local s
    for p = 0, 16 do
        s = format("%." .. p .. "e", x)
        if tonumber(s) == x then break end
    end
    local first, rest, exp = string.match(s, "^-?(%d)%.?(%d*)e([-+]%d+)$")
    local digits = string.gsub(first .. rest, "0+$", "")
    local nd, e = #digits, tonumber(exp)
    if nd == 0 then nd = 1 end
    if e < -4 or e >= 6 then
        return format("%." .. (nd - 1) .. "e", x)
    end
    return format("%." .. math.max(nd - (e + 1), 0) .. "f", x)
end
M.go_float = go_float

-- Time ----------------------------------------------------------------------------------

local DAYS = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
local MONTHS = {"January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"}

local function hour12(h)
    h = h % 12
    return h == 0 and 12 or h
end

local CONVERSIONS = {
    A = function(t) return DAYS[t.wday] end,
    a = function(t) return string.sub(DAYS[t.wday], 1, 3) end,
    B = function(t) return MONTHS[t.month] end,
    b = function(t) return string.sub(MONTHS[t.month], 1, 3) end,
    h = function(t) return string.sub(MONTHS[t.month], 1, 3) end,
    C = function(t) return format("%02d", t.year // 100) end,
    D = function(t) return format("%02d/%02d/%02d", t.month, t.day, t.year % 100) end,
    d = function(t) return format("%02d", t.day) end,
    e = function(t) return format("%2d", t.day) end,
    F = function(t) return format("%04d-%02d-%02d", t.year, t.month, t.day) end,
    f = function(t) return format("%06d", t.nsec // 1000) end,
    H = function(t) return format("%02d", t.hour) end,
    I = function(t) return format("%02d", hour12(t.hour)) end,
    j = function(t) return format("%03d", t.yday) end,
    k = function(t) return format("%2d", t.hour) end,
    L = function(t) return format("%03d", t.nsec // 1000000) end,
    l = function(t) return format("%2d", hour12(t.hour)) end,
    M = function(t) return format("%02d", t.min) end,
    m = function(t) return format("%02d", t.month) end,
    N = function(t) return format("%09d", t.nsec) end,
    n = function() return "\n" end,
    P = function(t) return t.hour < 12 and "am" or "pm" end,
    p = function(t) return t.hour < 12 and "AM" or "PM" end,
    R = function(t) return format("%02d:%02d", t.hour, t.min) end,
    r = function(t) return format("%02d:%02d:%02d %s", hour12(t.hour), t.min, t.sec, t.hour < 12 and "AM" or "PM") end,
    S = function(t) return format("%02d", t.sec) end,
    s = function(t) return format("%d", t.secs) end,
    T = function(t) return format("%02d:%02d:%02d", t.hour, t.min, t.sec) end,
    t = function() return "\t" end,
    v = function(t) return format("%2d-%s-%04d", t.day, string.sub(MONTHS[t.month], 1, 3), t.year) end,
    w = function(t) return format("%d", t.wday - 1) end,
    Y = function(t) return format("%04d", t.year) end,
    y = function(t) return format("%02d", t.year % 100) end,
    Z = function() return "UTC" end,
    z = function() return "+0000" end,
    ["%"] = function() return "%" end,
}

local function strftime(fmt, ns)
    if not string.find(fmt, "%", 1, true) then return fmt end
    ns = math.tointeger(ns) or math.floor(ns)
    local secs = ns // 1000000000
    local ok, t = pcall(os.date, "*t", secs)
    if not ok or type(t) ~= "table" then return fmt end
    t.secs, t.nsec = secs, ns % 1000000000
    return (string.gsub(fmt, "%%(.?)", function(c)
        local conv = CONVERSIONS[c]
        if conv then return conv(t) end
        return "%" .. c
    end))
end
M.strftime = strftime

local function now_ns()
    return os.time() * 1000000000
end

-- Message values ------------------------------------------------------------------------

local function uuid_string()
    local u = read_message("Uuid")
    if type(u) == "string" and #u == 36 then return u end  -- the text form read_message gives
    if type(u) ~= "string" or #u ~= 16 then return "" end
    local h = string.gsub(u, ".", function(c) return format("%02x", byte(c)) end)
    return string.sub(h, 1, 8) .. "-" .. string.sub(h, 9, 12) .. "-" .. string.sub(h, 13, 16) .. "-"
        .. string.sub(h, 17, 20) .. "-" .. string.sub(h, 21, 32)
end

local function header_text(name)
    return read_message(name) or ""
end

local function value_text(v)
    local t = math.type(v)
    if t == "integer" then return format("%d", v) end
    if t == "float" then return go_float(v) end
    return tostring(v)
end

local INTERP_HEADERS = {
    Type = function() return header_text("Type") end,
    Hostname = function() return header_text("Hostname") end,
    Pid = function() return format("%d", read_message("Pid") or 0) end,
    UUID = uuid_string,
    Logger = function() return header_text("Logger") end,
    EnvVersion = function() return header_text("EnvVersion") end,
    Severity = function() return format("%d", read_message("Severity") or 7) end,
}

-- `s` with every plain occurrence of `what` replaced by `with`.
local function replace_all(s, what, with)
    local out, pos = {}, 1
    while true do
        local a, b = string.find(s, what, pos, true)
        if not a then break end
        out[#out + 1] = string.sub(s, pos, a - 1)
        out[#out + 1] = with
        pos = b + 1
    end
    out[#out + 1] = string.sub(s, pos)
    return concat(out)
end

-- Splits on "%{"; in each piece, the text up to the first "}" is the name.
local function interpolate(template, ns)
    if not string.find(template, "}", 1, true) and not string.find(template, "%{", 1, true) then
        return template, true
    end
    local pieces, pos = {}, 1
    while true do
        local a, b = string.find(template, "%{", pos, true)
        if not a then break end
        pieces[#pieces + 1] = string.sub(template, pos, a - 1)
        pos = b + 1
    end
    pieces[#pieces + 1] = string.sub(template, pos)
    local ok = true
    for i, piece in ipairs(pieces) do
        local close = string.find(piece, "}", 1, true)
        if close then
            local name = string.sub(piece, 1, close - 1)
            local value
            local header = INTERP_HEADERS[name]
            if header then
                value = header()
            else
                local v = read_message("Fields[" .. name .. "]")
                if v ~= nil then
                    value = value_text(v)
                else
                    value = strftime(name, ns or now_ns())
                end
            end
            local replaced = replace_all(piece, string.sub(piece, 1, close), value)
            if replaced == name then ok = false end
            pieces[i] = replaced
        end
    end
    return concat(pieces), ok
end
M.interpolate = interpolate

-- The Bulk API action line (no newline).
local function action_line(coord)
    local ns
    if coord.from_timestamp then ns = read_message("Timestamp") end
    if not ns then ns = now_ns() end
    local index = interpolate(coord.index, ns)
    local type_name = interpolate(coord.type_name, ns)
    local parts = {'{"index":{"_index":', action_string(string.lower(index)), ',"_type":', action_string(type_name)}
    if coord.id ~= "" then
        local id, ok = interpolate(coord.id, ns)
        if ok then
            parts[#parts + 1] = ',"_id":'
            parts[#parts + 1] = action_string(id)
        end
    end
    parts[#parts + 1] = "}}"
    return concat(parts), ns
end

function M.bulkapi_index_json(index, type_name, id, ns)
    local secs = nil
    if ns then secs = (math.tointeger(ns) or math.floor(ns)) // 1000000000 end
    local parts = {}
    local function add(key, template)
        if template == nil then return end
        parts[#parts + 1] = '"' .. key .. '":' .. action_string(tostring(
            (msg_interpolate.interpolate_from_msg(template, secs))))
    end
    add("_index", index)
    add("_type", type_name)
    add("_id", id)
    return '{"index":{' .. concat(parts, ",") .. "}}"
end

-- Dynamic fields ------------------------------------------------------------------------

-- Writes the value(s) of the field just read by read_next_field into `out`.
local function field_json(out, typ, name, value, count, occurrence, raw)
    if count == 0 then
        out[#out + 1] = "[]"
        return
    end
    local values = {value}
    for i = 2, count do
        values[i] = read_message("Fields[" .. name .. "]", occurrence, i - 1)
    end
    local several = count > 1
    for i = 1, count do
        local v, text = values[i]
        if v == nil then
            text = "null"
        elseif typ == 0 then
            text = raw and v or json_string(v)
        elseif typ == 1 then
            if raw then
                text = v
            elseif several then
                text = '"' .. M.base64(v) .. '"'
            else
                text = json_string(v)
            end
        elseif typ == 2 then
            text = format("%d", v)
        elseif typ == 3 then
            text = go_float(v)
        else
            text = v and "true" or "false"
        end
        values[i] = text
    end
    if several then
        out[#out + 1] = "[" .. concat(values, ",") .. "]"
    else
        out[#out + 1] = values[1]
    end
end

-- Appends `"name":value` of each selected field of the current message; returns whether
-- any was written.
local function write_dynamic_fields(out, first, only, raw)
    local seen = {}
    while true do
        local typ, name, value, _, count = read_next_field()
        if not typ then break end
        local occurrence = seen[name] or 0
        seen[name] = occurrence + 1
        if not only or only[name] then
            if not first then out[#out + 1] = "," end
            out[#out + 1] = json_string(name)
            out[#out + 1] = ":"
            field_json(out, typ, name, value, count, occurrence, raw[name])
            first = false
        end
    end
    return not first
end

-- Settings ------------------------------------------------------------------------------

local FIELD_CHOICES = {"Uuid", "Timestamp", "Type", "Logger", "Severity", "Payload", "EnvVersion", "Pid",
                       "Hostname", "DynamicFields"}
local CHOICE_BY_LOWER = {}
for _, f in ipairs(FIELD_CHOICES) do CHOICE_BY_LOWER[string.lower(f)] = f end
CHOICE_BY_LOWER.fields = "DynamicFields"
M.FIELD_CHOICES = FIELD_CHOICES

local MAPPABLE = {"Timestamp", "Uuid", "Type", "Logger", "Severity", "Payload", "EnvVersion", "Pid", "Hostname"}

local function opt_string(cfg, key, default)
    local v = cfg[key]
    if v == nil then return default end
    if type(v) ~= "string" then error(format("%s: '%s' must be a string", cfg._plugin, key), 0) end
    return v
end

local function opt_bool(cfg, key)
    local v = cfg[key]
    if v == nil then return false end
    if type(v) ~= "boolean" then error(format("%s: '%s' must be true or false", cfg._plugin, key), 0) end
    return v
end

-- An array of strings: a Lua sequence, or one string of space-separated names.
local function opt_list(cfg, key)
    local v = cfg[key]
    if v == nil then return nil end
    local list = {}
    if type(v) == "string" then
        for name in string.gmatch(v, "%S+") do list[#list + 1] = name end
        return list
    end
    if type(v) ~= "table" then error(format("%s: '%s' must be an array of strings", cfg._plugin, key), 0) end
    for i, name in ipairs(v) do
        if type(name) ~= "string" then
            error(format("%s: '%s' must be an array of strings (item %d is a %s)", cfg._plugin, key, i, type(name)), 0)
        end
        list[i] = name
    end
    for k in pairs(v) do
        if math.type(k) ~= "integer" or k < 1 or k > #list then
            error(format("%s: '%s' must be an array of strings", cfg._plugin, key), 0)
        end
    end
    return list
end

local function as_set(list)
    local set = {}
    for _, name in ipairs(list or {}) do set[name] = true end
    return set
end

-- The canonical names of `fields`, checked; and whether DynamicFields is among them.
local function check_fields(cfg)
    local list = opt_list(cfg, "fields")
    if not list then
        list = {}
        for i, f in ipairs(FIELD_CHOICES) do list[i] = f end
    end
    local out, dynamic = {}, false
    for i, f in ipairs(list) do
        local canonical = CHOICE_BY_LOWER[string.lower(f)]
        if not canonical then
            error(format("%s: unknown name \"%s\" in 'fields' (choose from %s)", cfg._plugin, f,
                concat(FIELD_CHOICES, ", ")), 0)
        end
        if canonical == "DynamicFields" then dynamic = true end
        out[i] = canonical
    end
    local only = opt_list(cfg, "dynamic_fields")
    if only and #only > 0 and not dynamic then
        error(format("%s: 'dynamic_fields' needs \"DynamicFields\" in the 'fields' list", cfg._plugin), 0)
    end
    if only and #only == 0 then only = nil end
    return out, only and as_set(only) or nil
end

local function check_mappings(cfg)
    local mappings = {}
    for _, f in ipairs(MAPPABLE) do mappings[f] = f end
    local v = cfg.field_mappings
    if v == nil then return mappings end
    local given = {}
    if type(v) == "string" then
        for pair in string.gmatch(v, "%S+") do
            local k, name = string.match(pair, "^([^=]+)=(.*)$")
            if not k then error(format("%s: 'field_mappings' entries are KEY=NAME, not '%s'", cfg._plugin, pair), 0) end
            given[k] = name
        end
    elseif type(v) == "table" then
        given = v
    else
        error(format("%s: 'field_mappings' must be a table", cfg._plugin), 0)
    end
    local by_lower = {}
    for _, f in ipairs(MAPPABLE) do by_lower[string.lower(f)] = f end
    for k, name in pairs(given) do
        local f = type(k) == "string" and by_lower[string.lower(k)]
        if not f then
            error(format("%s: unknown key '%s' in 'field_mappings' (choose from %s)", cfg._plugin, tostring(k),
                concat(MAPPABLE, ", ")), 0)
        end
        if type(name) ~= "string" then
            error(format("%s: field_mappings.%s must be a string", cfg._plugin, tostring(k)), 0)
        end
        mappings[f] = name
    end
    return mappings
end

local function check_common(cfg, default_index)
    local coord = {
        index = opt_string(cfg, "index", default_index),
        type_name = opt_string(cfg, "type_name", "message"),
        id = opt_string(cfg, "id", ""),
        from_timestamp = opt_bool(cfg, "es_index_from_timestamp"),
    }
    local fields, only = check_fields(cfg)
    return {
        coord = coord,
        fields = fields,
        only = only,
        raw = as_set(opt_list(cfg, "raw_bytes_fields")),
        timestamp = opt_string(cfg, "timestamp", "%Y-%m-%dT%H:%M:%S"),
    }
end

-- The keys the encoders read with read_config when given no settings table.
local CONFIG_KEYS = {"index", "type_name", "id", "es_index_from_timestamp", "fields", "timestamp", "dynamic_fields",
                     "raw_bytes_fields", "field_mappings", "use_message_type"}

local function settings(cfg, plugin)
    if cfg ~= nil and type(cfg) ~= "table" then error(plugin .. ": the settings must be a table", 2) end
    local c = {_plugin = plugin}
    if cfg == nil then
        for _, k in ipairs(CONFIG_KEYS) do c[k] = read_config(k) end
    end
    for k, v in pairs(cfg or {}) do c[k] = v end
    return c
end

-- Encoders ------------------------------------------------------------------------------

-- The document value of each header, by canonical name.
local function header_values(timestamp_format)
    return {
        Uuid = function() return json_string(uuid_string()) end,
        Timestamp = function() return json_string(strftime(timestamp_format, read_message("Timestamp") or 0)) end,
        Type = function() return json_string(header_text("Type")) end,
        Logger = function() return json_string(header_text("Logger")) end,
        Severity = function() return format("%d", read_message("Severity") or 7) end,
        Payload = function() return json_string(header_text("Payload")) end,
        EnvVersion = function() return json_string(header_text("EnvVersion")) end,
        Pid = function() return format("%d", read_message("Pid") or 0) end,
        Hostname = function() return json_string(header_text("Hostname")) end,
    }
end

function M.new_json_encoder(cfg)
    cfg = settings(cfg, "ESJsonEncoder")
    local s = check_common(cfg, "heka-%{%Y.%m.%d}")
    local mappings = check_mappings(cfg)
    local values = header_values(s.timestamp)
    local keys = {}
    for f, name in pairs(mappings) do keys[f] = json_string(name) end

    return function()
        local out = {(action_line(s.coord)), "\n{"}
        local first = true
        for _, f in ipairs(s.fields) do
            if f == "DynamicFields" then
                if write_dynamic_fields(out, first, s.only, s.raw) then first = false end
            else
                if not first then out[#out + 1] = "," end
                out[#out + 1] = keys[f]
                out[#out + 1] = ":"
                out[#out + 1] = values[f]()
                first = false
            end
        end
        out[#out + 1] = "}\n"
        return concat(out)
    end
end

local LOGSTASH_KEYS = {Uuid = '"@uuid"', Timestamp = '"@timestamp"', Type = '"@type"', Logger = '"@logger"',
                       Severity = '"@severity"', Payload = '"@message"', EnvVersion = '"@envversion"',
                       Pid = '"@pid"', Hostname = '"@source_host"'}

function M.new_logstash_v0_encoder(cfg)
    cfg = settings(cfg, "ESLogstashV0Encoder")
    local s = check_common(cfg, "logstash-%{%Y.%m.%d}")
    local use_message_type = opt_bool(cfg, "use_message_type")
    local values = header_values(s.timestamp)
    local type_name = s.coord.type_name

    return function()
        local action, ns = action_line(s.coord)
        local out = {action, "\n{"}
        local first = true
        for _, f in ipairs(s.fields) do
            if not first then out[#out + 1] = "," end
            first = false
            if f == "DynamicFields" then
                out[#out + 1] = '"@fields":{'
                write_dynamic_fields(out, true, s.only, s.raw)
                out[#out + 1] = "}"
            else
                out[#out + 1] = LOGSTASH_KEYS[f]
                out[#out + 1] = ":"
                if f == "Type" and not use_message_type and type_name ~= "" then
                    local t, ok = interpolate(type_name, ns)
                    if t == "" or not ok then t = type_name end
                    out[#out + 1] = json_string(t)
                else
                    out[#out + 1] = values[f]()
                end
            end
        end
        out[#out + 1] = "}\n"
        return concat(out)
    end
end

return M
