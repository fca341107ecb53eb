#!/usr/bin/env python3
"""An HTTP sink for luapiped's tests: records every request's body, one JSON line each,
in DIR/received.jsonl. Answers 400 to a body containing "reject-me", 503 while the file
DIR/fail_next holds a number above 0 (decremented each time), else 200. Exits at once on
SIGTERM or SIGINT (the tests stop it with SIGTERM).

Usage: http_sink.py PORT DIR"""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, directory = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fail = os.path.join(directory, "fail_next")
        if os.path.exists(fail):
            n = int(open(fail).read() or 0)
            if n > 0:
                open(fail, "w").write(str(n - 1))
                self.send_response(503)
                self.end_headers()
                return
        if b"reject-me" in body:
            self.send_response(400)
            self.end_headers()
            return
        with open(os.path.join(directory, "received.jsonl"), "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                "type": self.headers.get("Content-Type"), "x": self.headers.get("X-Team"),
                                "body": body.decode("utf-8")}) + "\n")
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST

    def log_message(self, *args):
        pass


def stop(signum, frame):
    # serve_forever() would have to be shut down from another thread; nothing is left
    # to flush (every request's line is written before it is answered): just exit.
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
# Started by the Swift tests, it inherits the blocked signals of the thread that started
# it (SIGTERM among them): unblock them, before any thread starts, or SIGTERM never comes.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
