--[[
anomaly: anomaly detection on circular buffers (Heka's anomaly module), configured by a
string so users tune it without touching code:

    local anomaly = require "anomaly"
    local cfg = anomaly.parse_config(read_config("anomaly_config"))
    -- e.g. 'roc("HTTP Status", 2, 15, 0, 1.5, true, false) mww("HTTP Status", 5, 20, 4, 0.001, "increasing")'
    ...
    local msg, annos = anomaly.detect(ns, "HTTP Status", cb, cfg)
    if msg then alert.queue(ns, msg) end

Tests (each names the graph, i.e. the cbuf's title, it applies to, and a column). Only
complete rows are analysed: the row holding `ns` is still filling and is left out.

roc(title, col, win, hwin, sd, loss_of_data, start_of_data)
    Rate of change, for roughly normal data (e.g. requests per minute): the mean of the
    last `win` rows is compared with the `hwin` rows before them (0: every row before
    them); an anomaly when it is more than `sd` standard deviations away from their
    mean. With loss_of_data, a window without data after a history with data is an
    anomaly; with start_of_data, data after a history without any.

mww(title, col, win, nwin, pvalue, trend)
    Mann-Whitney-Wilcoxon: the last `win` rows against the `(nwin - 1) * win` rows before
    them; an anomaly when the one-sided p-value is below `pvalue` and the change goes the
    `trend` way ("increasing", "decreasing" or "any"). Needs `win` >= 20 to mean much.

mww_nonparametric(title, col, win, nwin, pstat, trend)
    The same samples, judged by the probability that a value of the last window exceeds
    one before it (U / (n1 * n2)): above `pstat` is an increasing trend, below
    `1 - pstat` a decreasing one (0.5 means no change).

detect(ns, title, cbuf, cfg) returns nil when nothing is anomalous, else a text
describing every anomaly found (one line each) and a list of annotations
({ns, col, type = "alert", text}) for annotation.concat or cbuf:annotate.

alert_on(ns, title, cbuf, cfg) does what a graph filter's timer_event does with that:
detect, then annotate the graph and send the text with alert.send (throttled), under the
graph's title. Returns the text, or nil when nothing is anomalous.
--]]

local string = string
local math = math
local table = table
local tonumber = tonumber

local M = {}

local function parse_args(s)
    local args = {}
    for a in (s .. ","):gmatch("%s*(.-)%s*,") do
        if a:match('^".*"$') or a:match("^'.*'$") then args[#args + 1] = a:sub(2, -2)
        elseif a == "true" then args[#args + 1] = true
        elseif a == "false" then args[#args + 1] = false
        else
            local n = tonumber(a)
            if n == nil then error("anomaly_config: cannot read the argument '" .. a .. "'") end
            args[#args + 1] = n
        end
    end
    return args
end

local function positive(v, what)
    if type(v) ~= "number" or v <= 0 then error("anomaly_config: " .. what .. " must be a positive number") end
    return v
end

local parsers = {
    roc = function(a)
        return {test = "roc", col = positive(a[2], "col"), win = positive(a[3], "win"), hwin = a[4] or 0,
                sd = positive(a[5], "sd"), loss_of_data = a[6] == true, start_of_data = a[7] == true}
    end,
    mww = function(a)
        local trend = a[6] or "any"
        if trend ~= "increasing" and trend ~= "decreasing" and trend ~= "any" then
            error("anomaly_config: trend must be increasing, decreasing or any")
        end
        return {test = "mww", col = positive(a[2], "col"), win = positive(a[3], "win"), nwin = positive(a[4], "nwin"),
                pvalue = positive(a[5], "pvalue"), trend = trend}
    end,
}
parsers.mww_nonparametric = function(a)
    local c = parsers.mww(a)
    c.test = "mww_nonparametric"
    c.pstat = c.pvalue
    if c.pstat <= 0.5 or c.pstat >= 1 then error("anomaly_config: pstat must be between 0.5 and 1") end
    return c
end

--- Parses the config string into {title = {cfg, ...}}; nil for nil or "".
function M.parse_config(s)
    if s == nil or s:match("^%s*$") then return nil end
    local cfg = {}
    local rest = s:gsub("([%w_]+)%s*(%b())", function(name, body)
        local p = parsers[name]
        if not p then error("anomaly_config: unknown test '" .. name .. "'") end
        local args = parse_args(body:sub(2, -2))
        if type(args[1]) ~= "string" then error("anomaly_config: " .. name .. "() needs the graph's title first") end
        local c = p(args)
        c.title = args[1]
        cfg[c.title] = cfg[c.title] or {}
        table.insert(cfg[c.title], c)
        return ""
    end)
    if not rest:match("^%s*$") then error("anomaly_config: cannot read '" .. rest .. "'") end
    return cfg
end

local function window(cb, ns, rows_back, count)
    -- the complete rows [last - rows_back - count + 1, last - rows_back] as ns bounds;
    -- a buffer that has not reached ns yet ends at its newest row (still filling)
    local _, _, spr = cb:get_configuration()
    local step = spr * 1e9
    local newest = cb:current_time()
    if ns > newest + step - 1 then ns = newest end
    local last = ns - ns % step - step
    local e = last - rows_back * step
    return e - (count - 1) * step, e
end

local function stats(values)
    local n, sum = 0, 0
    for _, v in ipairs(values) do if v == v then n = n + 1; sum = sum + v end end
    if n == 0 then return 0, nil, nil end
    local mean = sum / n
    local ss = 0
    for _, v in ipairs(values) do if v == v then ss = ss + (v - mean) ^ 2 end end
    return n, mean, math.sqrt(ss / n)
end

local function roc(ns, cb, c)
    local rows = cb:get_configuration()
    local cs, ce = window(cb, ns, 0, c.win)
    local hwin = c.hwin > 0 and c.hwin or rows - c.win - 1
    local hs, he = window(cb, ns, c.win, hwin)
    local cur, hist = cb:get_range(c.col, cs, ce), cb:get_range(c.col, hs, he)
    if not cur or not hist then return nil end
    local cn, cmean = stats(cur)
    local hn, hmean, hsd = stats(hist)
    if cn == 0 then
        if c.loss_of_data and hn > 0 then return "no data in the last " .. c.win .. " intervals" end
        return nil
    end
    if hn == 0 then
        if c.start_of_data then return "data started" end
        return nil
    end
    if hn < 2 then return nil end
    local dev = math.abs(cmean - hmean)
    if dev > c.sd * hsd and dev > 0 then
        return string.format("rate of change: mean %.6g over the last %d intervals, %.6g before (sd %.6g, threshold %g sd)",
            cmean, c.win, hmean, hsd, c.sd)
    end
end

local function samples(ns, cb, c)
    local xs, xe = window(cb, ns, 0, c.win)
    local ys, ye = window(cb, ns, c.win, (c.nwin - 1) * c.win)
    local x, y = cb:get_range(c.col, xs, xe), cb:get_range(c.col, ys, ye)
    if not x or not y then return nil end
    return x, y, xs, xe, ys, ye
end

local function direction_ok(trend, increasing)
    return trend == "any" or (trend == "increasing") == increasing
end

local function mww(ns, cb, c)
    local x, y, xs, xe, ys, ye = samples(ns, cb, c)
    if not x then return nil end
    local nx, mx = stats(x)
    local ny, my = stats(y)
    if nx == 0 or ny == 0 then return nil end
    local u, p = cb:mannwhitneyu(c.col, xs, xe, ys, ye)
    if not u then return nil end
    if p < c.pvalue and mx ~= my and direction_ok(c.trend, mx > my) then
        return string.format("mww: %s trend, p-value %.3g < %g (mean %.6g over the last %d intervals, %.6g before)",
            mx > my and "increasing" or "decreasing", p, c.pvalue, mx, c.win, my)
    end
end

local function mww_nonparametric(ns, cb, c)
    local x, y = samples(ns, cb, c)
    if not x then return nil end
    local greater, pairs_ = 0, 0
    for _, a in ipairs(x) do
        if a == a then
            for _, b in ipairs(y) do
                if b == b then
                    pairs_ = pairs_ + 1
                    if a > b then greater = greater + 1 elseif a == b then greater = greater + 0.5 end
                end
            end
        end
    end
    if pairs_ == 0 then return nil end
    local p = greater / pairs_
    local increasing = p > 0.5
    if (p > c.pstat or p < 1 - c.pstat) and direction_ok(c.trend, increasing) then
        return string.format("mww_nonparametric: %s trend, P(last > before) = %.3f (threshold %g)",
            increasing and "increasing" or "decreasing", p, c.pstat)
    end
end

local tests = {roc = roc, mww = mww, mww_nonparametric = mww_nonparametric}

--- Runs every test configured for `title` on `cb` at time `ns`.
function M.detect(ns, title, cb, cfg)
    if not cfg or not cfg[title] then return nil end
    local found, annos = {}, {}
    for _, c in ipairs(cfg[title]) do
        local why = tests[c.test](ns, cb, c)
        if why then
            local name = cb:get_header(c.col)
            found[#found + 1] = title .. " " .. name .. ": " .. why
            local _, _, spr = cb:get_configuration()
            local step = spr * 1e9
            annos[#annos + 1] = {ns = ns - ns % step - step, col = c.col, type = "alert", text = why}
        end
    end
    if #found == 0 then return nil end
    return table.concat(found, "\n"), annos
end

--- detect, then annotate `cb` and send the alert (throttled by the alert module).
function M.alert_on(ns, title, cb, cfg)
    local msg, annos = M.detect(ns, title, cb, cfg)
    if not msg then return nil end
    for _, a in ipairs(annos) do cb:annotate(a.ns, a.col, a.type, a.text) end
    require("alert").send(ns, msg, title)
    return msg
end

return M
