#!/usr/bin/env python3
"""One end-to-end run for scripts/bench: `luapiped run -c CONFIG` tails a copy of the
workload until its journal reaches the end of the file, then is stopped with SIGTERM.

    bench-e2e.py BINARY CONFIG JOURNAL SIZE

Prints one line: "wall cpu peak_rss_kib". BENCH_PRELOAD, when set, becomes the daemon's
LD_PRELOAD (and only the daemon's). The end of the work is the last 50 ms sample
in which the daemon still used CPU (the journal itself is written once a second, too
coarse to time a run); cpu is the daemon's user+system time up to the stop.
"""
import json
import os
import signal
import subprocess
import sys
import time

binary, config, journal, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ticks_per_second = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def journal_offset():
    try:
        with open(journal) as f:
            return json.load(f)["offset"]
    except (OSError, ValueError, KeyError):
        return 0


stderr = open(os.path.join(os.path.dirname(config), "stderr"), "w")
start = time.monotonic()
env = dict(os.environ)
if "BENCH_PRELOAD" in env:
    env["LD_PRELOAD"] = env.pop("BENCH_PRELOAD")
daemon = subprocess.Popen([binary, "run", "-c", config], stderr=stderr, cwd=os.path.dirname(config), env=env)
last_busy, ticks = start, 0
deadline = start + 600
try:
    while journal_offset() < size:
        time.sleep(0.05)
        if daemon.poll() is not None:
            sys.exit(f"luapiped exited early (status {daemon.returncode}); see {stderr.name}")
        if time.monotonic() > deadline:
            sys.exit("luapiped did not reach the end of the file in 600 s")
        now_ticks = cpu_ticks(daemon.pid)
        if now_ticks - ticks >= 2:  # busy: more than 20 ms of CPU in this 50 ms sample
            last_busy = time.monotonic()
        ticks = now_ticks
    cpu = cpu_ticks(daemon.pid) / ticks_per_second
    rss = peak_rss_kib(daemon.pid)
finally:
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
print(f"{last_busy - start:.3f} {cpu:.3f} {rss}")
