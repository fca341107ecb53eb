--[[
MySQL slow query log decoder (SandboxDecoder), compatible with Heka's
mysql_slow_query.lua. For MariaDB's variant of the log use mariadb_slow_query.lua.

Each input record must be one whole multi-line entry of the slow log (split the file
on "# User@Host:", see the example), parsed with slow_query_grammar of
lua/modules/mysql.lua:

    # Time: 140507 15:51:28
    # User@Host: syncrw[syncrw] @  [127.0.0.1]
    # Query_time: 7.249660  Lock_time: 0.047038 Rows_sent: 5001  Rows_examined: 16458
    use weave0;
    SET timestamp=1399500688;
    /* [queryName=FIND_ITEMS] */ SELECT bso.userid, bso.collection, ...;

Config (read_config):
- truncate_sql (integer, optional, default unset: no truncation): when the SQL is
  longer than this many bytes, keep that many and append "..." (bytes, not UTF-8
  characters). As in Heka, a negative value n keeps the statement up to its |n|th byte
  from the end (string.sub(sql, 1, n)) and appends "...".

Example (Heka TOML):

    [MySqlSlowQueryInput]
    type = "LogstreamerInput"
    log_directory = "/var/log/mysql"
    file_match = 'mysql-slow\.log'
    splitter = "MySqlSlowQuerySplitter"
    decoder = "MySqlSlowQueryDecoder"

    [MySqlSlowQuerySplitter]
    type = "RegexSplitter"
    delimiter = '\n(# User@Host:)'
    delimiter_eol = false

    [MySqlSlowQueryDecoder]
    type = "SandboxDecoder"
    filename = "lua_decoders/mysql_slow_query.lua"

        [MySqlSlowQueryDecoder.config]
        truncate_sql = 64

Output message:
    Type        "mysql.slow-query"
    Timestamp   from "SET timestamp=" (seconds, as nanoseconds)
    Hostname    the client address of "# User@Host:" ("127.0.0.1")
    Payload     the SQL statement, ";" included (truncated per truncate_sql)
    Fields      Query_time, Lock_time (double, representation "s"), Rows_sent,
                Rows_examined (double)
Logger, Pid and Severity come from the input message. A record that does not parse
makes process_message return -1 ("Failed to parse"); nothing is injected.
--]]

local mysql = require "mysql"

process_message = mysql.slow_query_decoder("mysql_slow_query", mysql.slow_query_grammar, "mysql.slow-query", read_config("truncate_sql"))
