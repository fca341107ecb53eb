--[[
annotation: notes on a graph's data points, kept per graph name (Heka's annotation
module). luapiped's circular buffers carry their own annotations (cbuf:annotate), which
travel in the cbuf header; this module is for graphs a filter builds itself, and for
anomaly.detect's results.

  annotation.add(name, ns, col, type, text)   type: "alert" or "info"
  annotation.remove(name, ns, col)
  annotation.concat(name, annos)              adds a list returned by anomaly.detect
  annotation.prune(name, ns)                  drops notes older than the prune window
  annotation.set_prune(name, ns_duration)     (default: 24 hours)
  annotation.json(name)                       the notes as a JSON array, oldest first:
      [{"x":MILLISECONDS,"col":N,"shortText":"A","text":"..."}]
  annotation.apply(name, cbuf)                copies the notes onto a circular buffer

State lives in the global table `annotation_state` (kept by preserve_data).
--]]

local string = string
local table = table
local pairs = pairs

local M = {}

annotation_state = annotation_state or {}

local function graph(name)
    local g = annotation_state[name]
    if not g then
        g = {prune = 24 * 3600 * 1e9, notes = {}}
        annotation_state[name] = g
    end
    return g
end

local function key(ns, col) return string.format("%d:%d", math.floor(ns / 1e9), col) end

function M.add(name, ns, col, type, text)
    assert(type == "alert" or type == "info", "annotation type must be 'alert' or 'info'")
    graph(name).notes[key(ns, col)] = {t = math.floor(ns / 1e9), col = col, type = type, text = text}
end

function M.remove(name, ns, col)
    graph(name).notes[key(ns, col)] = nil
end

function M.concat(name, annos)
    for _, a in ipairs(annos or {}) do M.add(name, a.ns, a.col, a.type, a.text) end
end

function M.set_prune(name, ns) graph(name).prune = ns end

function M.prune(name, ns)
    local g = graph(name)
    local oldest = math.floor((ns - g.prune) / 1e9)
    for k, n in pairs(g.notes) do
        if n.t < oldest then g.notes[k] = nil end
    end
end

local function sorted(name)
    local list = {}
    for _, n in pairs(graph(name).notes) do list[#list + 1] = n end
    table.sort(list, function(a, b) return a.t < b.t or (a.t == b.t and a.col < b.col) end)
    return list
end

local function json_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
        return string.format("\\u%04x", c:byte())
    end) .. '"'
end

function M.json(name)
    local parts = {}
    for _, n in ipairs(sorted(name)) do
        parts[#parts + 1] = string.format('{"x":%d,"col":%d,"shortText":"%s","text":%s}',
            n.t * 1000, n.col, n.type == "alert" and "A" or "I", json_string(n.text))
    end
    return "[" .. table.concat(parts, ",") .. "]"
end

function M.apply(name, cb)
    for _, n in ipairs(sorted(name)) do cb:annotate(n.t * 1e9, n.col, n.type, n.text) end
end

return M
