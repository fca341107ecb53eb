--[[
mysql: LPeg grammars for MySQL and MariaDB slow query log records, with the names of
Heka's mysql module (lua_sandbox), so Heka decoders and custom scripts work unchanged.

    local mysql = require "mysql"
    local msg = mysql.slow_query_grammar:match(record)   -- a message table, or nil
    if msg then inject_message(msg) end

A record is one whole multi-line entry of the slow log, as an input splitting the log on
"# User@Host:" delivers it (see lua/decoders/mysql_slow_query.lua):

    # Time: 140507 15:51:28                        (optional; MySQL writes it when the
                                                      second changes)
    # User@Host: syncrw[syncrw] @  [127.0.0.1]
    # Query_time: 7.249660  Lock_time: 0.047038 Rows_sent: 5001  Rows_examined: 16458
    use weave0;                                     (optional)
    SET timestamp=1399500688;
    SELECT ... ;                                    (up to the first ";" at a line end)

Grammars (each returns a table ready for inject_message):
    slow_query_grammar                 the record above
    short_slow_query_grammar           the same without the "# Time:" and "# User@Host:"
                                       lines (a record starting at "# Query_time:")
    mariadb_slow_query_grammar         MariaDB's record: a "# Thread_id: N  Schema: S
                                       QC_hit: Yes|No" line after "# User@Host:", and
                                       optionally log_slow_verbosity=query_plan's
                                       "# Full_scan: ..." and "# Filesort: ..." lines
    mariadb_short_slow_query_grammar   MariaDB's record from "# Thread_id:" on

The table:
    Timestamp   integer nanoseconds, from "SET timestamp=<seconds>;"
    Hostname    the client address in the brackets of "# User@Host:" (the host name
                before them when the brackets are empty, as for "localhost []"); absent
                in the short grammars
    Payload     the SQL statement, from after the SET line to the first ";" ending a
                line, the ";" included; for "# administrator command: Quit;" records
                without a statement, that line
    Fields      Query_time, Lock_time   {value = <double>, representation = "s"}
                Rows_sent, Rows_examined                          double
                MariaDB only: Thread_id (double), Schema (string), QC_hit (string
                "Yes"/"No") and, with the query-plan lines, Full_scan, Full_join,
                Tmp_table, Tmp_table_on_disk, Filesort, Filesort_on_disk (strings
                "Yes"/"No") and Merge_passes (double)
Numbers are doubles, as Heka typed them.

Beyond Heka's grammar, records of current servers also parse (with the same fields):
user names with digits or "_", host names with digits, dots or dashes, an empty address
"[]", MySQL 5.6+'s "Id: N" after the address, extra "Key: value" text after
Rows_examined (MariaDB's Rows_affected, MySQL 8's log_slow_extra), and other "# ..."
comment lines (Percona's, MariaDB's Rows_affected/Bytes_sent lines) before the "use"/
"SET" lines. Their values are not captured. Lines before the record that do not start
with "# " are skipped: a leading newline (from a splitter without Heka's capture group),
the banner the server writes when it starts ("/usr/sbin/mysqld, Version: ...").
--]]

local lpeg   = require "lpeg"
local string = require "string"

local P, R, S, C, Cc, Ct, Cg = lpeg.P, lpeg.R, lpeg.S, lpeg.C, lpeg.Cc, lpeg.Ct, lpeg.Cg
local tonumber = tonumber

local M = {}

local digit = R"09"
local nl    = P"\n"
local blank = S" \t"
local sp    = blank^1
local rest  = (1 - nl)^0 * nl                -- the remainder of a line, newline included

local function to_double(s) return tonumber(s) + 0.0 end
local double  = C(digit^1 * ("." * digit^1)^-1) / to_double
local seconds = double / function(v) return {value = v, representation = "s"} end
local yes_no  = C(P"Yes" + "No")

-- "# Time: 140507 15:51:28" (5.5) or "# Time: 2019-07-19T08:21:51.123456Z" (5.7+)
local time_line = P"# Time:" * rest

-- "# User@Host: app[app] @ web-1.example.com [10.0.0.5]  Id:    42"
local user_part = (1 - S"[]\n")^0
local host_name = (R("az", "AZ", "09") + S"-._")^1
local address   = (1 - S"]\n")^1
local host      = Cg(host_name, "Hostname")^-1 * blank^0 * "[" * Cg(address, "Hostname") * "]"
                + Cg(host_name, "Hostname") * blank^0 * "[]"
                + blank^0 * "[" * "]"
local user_line = P"# User@Host: " * user_part * "[" * user_part * "]" * sp * "@" * blank^0
                * host * (sp * "Id:" * blank^0 * digit^1)^-1 * blank^0 * nl

-- "# Query_time: 7.249660  Lock_time: 0.047038 Rows_sent: 5001  Rows_examined: 16458"
local query_line = P"# Query_time: " * Cg(seconds, "Query_time")
                 * sp * "Lock_time: " * Cg(seconds, "Lock_time")
                 * sp * "Rows_sent: " * Cg(double, "Rows_sent")
                 * sp * "Rows_examined: " * Cg(double, "Rows_examined")
                 * rest

-- MariaDB: "# Thread_id: 110804  Schema: weave0  QC_hit: No"
local thread_line = P"# Thread_id: " * Cg(double, "Thread_id")
                  * sp * "Schema: " * Cg((1 - S" \t\n")^0, "Schema")
                  * sp * "QC_hit: " * Cg(yes_no, "QC_hit") * rest

-- MariaDB log_slow_verbosity=query_plan
local plan_lines = P"# Full_scan: " * Cg(yes_no, "Full_scan")
                 * sp * "Full_join: " * Cg(yes_no, "Full_join")
                 * sp * "Tmp_table: " * Cg(yes_no, "Tmp_table")
                 * sp * "Tmp_table_on_disk: " * Cg(yes_no, "Tmp_table_on_disk") * rest
                 * "# Filesort: " * Cg(yes_no, "Filesort")
                 * sp * "Filesort_on_disk: " * Cg(yes_no, "Filesort_on_disk")
                 * sp * "Merge_passes: " * Cg(double, "Merge_passes") * rest

-- comment lines this module does not read ("# ..." and MariaDB's bare "#" around its
-- "# explain:" lines)
local comment = P"#" * (P" " + #nl)
local skip_before_query = ((comment - P"# Query_time:" - P"# administrator command:") * rest)^0
local skip_after_query  = ((comment - P"# Full_scan:" - P"# administrator command:") * rest)^0
local skip_after_plan   = ((comment - P"# administrator command:") * rest)^0

local use_line = P"use " * rest

local function to_ns(s) return tonumber(s) * 1000000000 end
local set_line = P"SET " * (P"last_insert_id=" * digit^1 * ",")^-1
               * (P"insert_id=" * digit^1 * ",")^-1
               * "timestamp=" * Cg(C(digit * digit^-11) / to_ns, "Timestamp") * ";" * rest

local sql_end   = P";" * (nl + -1)
local statement = (1 - sql_end)^0 * ";"
local admin     = P"# administrator command: " * (1 - nl)^0
local sql       = admin * nl * Cg(C(statement), "Payload")
                + Cg(C(admin), "Payload")
                + Cg(C(statement), "Payload")

local tail = use_line^0 * set_line * sql

-- text before the record: the newline a splitter kept, the server's start-up banner
local lead = (-comment * rest)^0

M.slow_query_grammar = Ct(lead * time_line^-1 * user_line * skip_before_query
                          * Cg(Ct(query_line), "Fields") * skip_after_plan * tail)

M.short_slow_query_grammar = Ct(Cg(Ct(query_line), "Fields") * skip_after_plan * tail)

local mariadb_fields = Ct(thread_line * query_line * skip_after_query * plan_lines^-1)

M.mariadb_slow_query_grammar = Ct(lead * time_line^-1 * user_line * Cg(mariadb_fields, "Fields")
                                  * skip_after_plan * tail)

M.mariadb_short_slow_query_grammar = Ct(Cg(mariadb_fields, "Fields") * skip_after_plan * tail)

-- The slow-query decoders' process_message: parses a record with `grammar`, sets Type to
-- `msg_type`, cuts the SQL to `truncate_sql` bytes (then "...") and injects it; a record
-- that does not parse returns -1. `name` is the decoder's, for the config error.
function M.slow_query_decoder(name, grammar, msg_type, truncate_sql)
    if truncate_sql ~= nil and math.type(truncate_sql) ~= "integer" then
        error(name .. ": truncate_sql must be an integer (bytes)", 3)
    end
    return function()
        local msg = grammar:match(read_message("Payload"))
        if not msg then return -1, "Failed to parse" end
        msg.Type = msg_type
        if truncate_sql and #msg.Payload > truncate_sql then
            msg.Payload = string.sub(msg.Payload, 1, truncate_sql) .. "..."
        end
        inject_message(msg)
        return 0
    end
end

return M
