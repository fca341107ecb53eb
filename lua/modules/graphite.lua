--[[
Graphite (carbon plaintext) metric lines, compatible with Heka's graphite module.

Every function returns text in carbon's plaintext protocol, one "path value timestamp"
line each, newline-terminated, for a CarbonOutput, a TcpOutput to carbon's port 2003, or
an encoder to hand on. Timestamps are whole seconds (`ns_to_sec`).

count_rate(bucket, count, ticker_interval, now_sec)
    stats.counters.<bucket>.count <count> <now>
    stats.counters.<bucket>.rate  <count / ticker_interval> <now>

multi_counts_rates(counts, ticker_interval, now_sec)
    count_rate for each bucket = count of the table `counts`, concatenated (in the
    table's order, as Heka's).

timeseries_metrics(bucket, times, ticker_interval, percent_thresh, now_sec)
    StatsD's timer summary of the values in `times` (sorted in place):
    stats.timers.<bucket>.count, .count_ps (count / ticker_interval), .lower, .upper,
    .sum, .mean, .mean_<percent_thresh> and .upper_<percent_thresh> (the mean and the
    largest of the lowest percent_thresh percent of the values). Without values every
    figure is 0.

multi_timeseries_metrics(timers, ticker_interval, percent_thresh, now_sec)
    timeseries_metrics for each bucket = times of `timers`, concatenated.

ns_to_sec(ns)
    Whole seconds of a nanosecond timestamp (rounded down; exact for an integer, where
    Heka's Lua 5.1 divided a double and could round .999999999 up).

Counts are written as integers and the other figures with six decimals ("%f"), as Heka
wrote them.
--]]

local M = {}

local floor = math.floor
local format = string.format
local concat = table.concat
local sort = table.sort

local function int(x) return floor(x) end

function M.ns_to_sec(ns)
    if math.type(ns) == "integer" then return ns // 1000000000 end  -- exact, where a double rounds up
    return floor(ns / 1e9)
end

function M.count_rate(bucket, count, ticker_interval, now_sec)
    local now = int(now_sec)
    return format("stats.counters.%s.count %d %d\nstats.counters.%s.rate %f %d\n",
                  bucket, int(count), now, bucket, count / ticker_interval, now)
end

function M.multi_counts_rates(counts, ticker_interval, now_sec)
    local out = {}
    for bucket, count in pairs(counts) do out[#out + 1] = M.count_rate(bucket, count, ticker_interval, now_sec) end
    return concat(out)
end

function M.timeseries_metrics(bucket, times, ticker_interval, percent_thresh, now_sec)
    local count = #times
    local lower, upper, sum, mean, rate, mean_pct, upper_pct = 0, 0, 0, 0, 0, 0, 0
    if count > 0 then
        sort(times)
        rate = count / ticker_interval
        lower, upper = times[1], times[count]
        local running = {[0] = 0}
        for i = 1, count do running[i] = running[i - 1] + times[i] end
        mean_pct, upper_pct = lower, upper
        if count > 1 then
            local within = count - floor((100 - percent_thresh) / 100 * count + 0.5)
            if within > 0 then
                mean_pct = running[within] / within
                upper_pct = times[within]
            end
        end
        sum = running[count]
        mean = sum / count
    end
    local now = int(now_sec)
    local p = int(percent_thresh)
    local prefix = "stats.timers." .. bucket
    return format("%s.count %d %d\n%s.count_ps %f %d\n%s.lower %f %d\n%s.upper %f %d\n%s.sum %f %d\n"
                  .. "%s.mean %f %d\n%s.mean_%d %f %d\n%s.upper_%d %f %d\n",
                  prefix, count, now, prefix, rate, now, prefix, lower, now, prefix, upper, now,
                  prefix, sum, now, prefix, mean, now, prefix, p, mean_pct, now, prefix, p, upper_pct, now)
end

function M.multi_timeseries_metrics(timers, ticker_interval, percent_thresh, now_sec)
    local out = {}
    for bucket, times in pairs(timers) do
        out[#out + 1] = M.timeseries_metrics(bucket, times, ticker_interval, percent_thresh, now_sec)
    end
    return concat(out)
end

return M
