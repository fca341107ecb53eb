--[[
MariaDB slow query log decoder (SandboxDecoder), compatible with Heka's
mariadb_slow_query.lua. For MySQL's log use mysql_slow_query.lua.

Each input record must be one whole multi-line entry of the slow log (split the file
on "# User@Host:", see the example), parsed with mariadb_slow_query_grammar of
lua/modules/mysql.lua:

    # User@Host: weave[weave] @  [10.0.0.5]
    # Thread_id: 110804  Schema: weave0  QC_hit: No
    # Query_time: 7.249660  Lock_time: 0.047038  Rows_sent: 5001  Rows_examined: 16458
    # Full_scan: Yes  Full_join: No  Tmp_table: No  Tmp_table_on_disk: No
    # Filesort: Yes  Filesort_on_disk: No  Merge_passes: 0
    SET timestamp=1399500688;
    SELECT ...;

The "# Full_scan:"/"# Filesort:" lines (log_slow_verbosity=query_plan) are optional.

Config (read_config):
- truncate_sql (integer, optional, default unset: no truncation): when the SQL is
  longer than this many bytes, keep that many and append "..." (bytes, not UTF-8
  characters). As in Heka, a negative value n keeps the statement up to its |n|th byte
  from the end (string.sub(sql, 1, n)) and appends "...".

Example (Heka TOML):

    [MariaDbSlowQueryInput]
    type = "LogstreamerInput"
    log_directory = "/var/log/mysql"
    file_match = 'mariadb-slow\.log'
    splitter = "MariaDbSlowQuerySplitter"
    decoder = "MariaDbSlowQueryDecoder"

    [MariaDbSlowQuerySplitter]
    type = "RegexSplitter"
    delimiter = '\n(# User@Host:)'
    delimiter_eol = false

    [MariaDbSlowQueryDecoder]
    type = "SandboxDecoder"
    filename = "lua_decoders/mariadb_slow_query.lua"

Output message:
    Type        "mariadb.slow-query"
    Timestamp   from "SET timestamp=" (seconds, as nanoseconds)
    Hostname    the client address of "# User@Host:"
    Payload     the SQL statement, ";" included (truncated per truncate_sql)
    Fields      Query_time, Lock_time (double, representation "s"), Rows_sent,
                Rows_examined, Thread_id (double), Schema, QC_hit ("Yes"/"No");
                with the query-plan lines also Full_scan, Full_join, Tmp_table,
                Tmp_table_on_disk, Filesort, Filesort_on_disk ("Yes"/"No") and
                Merge_passes (double)
A record that does not parse makes process_message return -1 ("Failed to parse").
--]]

local mysql = require "mysql"

process_message = mysql.slow_query_decoder("mariadb_slow_query", mysql.mariadb_slow_query_grammar, "mariadb.slow-query", read_config("truncate_sql"))
