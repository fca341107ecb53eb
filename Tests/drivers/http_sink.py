#!/usr/bin/env python3
"""An HTTP sink for luapiped's tests: records every request's body, one JSON line each,
in DIR/received.jsonl. Answers 400 to a body containing "reject-me", 503 (or the status
in DIR/fail_status) while the file DIR/fail_next holds a number above 0 (decremented each
time), else 200; while DIR/hang exists it answers nothing (until it is removed). Exits at
once on SIGTERM or SIGINT (the tests stop it with SIGTERM).

While DIR/bulk_mode exists, a POST to /_bulk answers as Elasticsearch's bulk API does (200 with one item per
document): a document containing "reject-me" gets a 400 mapper_parsing_exception item,
the first N documents get 429 while DIR/busy_items holds N > 0; the documents stored are
recorded one line each in DIR/bulk.jsonl.

Usage: http_sink.py PORT DIR"""
import gzip
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, directory = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        while os.path.exists(os.path.join(directory, "hang")):
            time.sleep(0.05)
        if self.path.startswith("/_bulk") and os.path.exists(os.path.join(directory, "bulk_mode")):
            return self.bulk(body)
        fail = os.path.join(directory, "fail_next")
        if os.path.exists(fail):
            n = int(open(fail).read() or 0)
            if n > 0:
                open(fail, "w").write(str(n - 1))
                status_file = os.path.join(directory, "fail_status")
                self.send_response(int(open(status_file).read()) if os.path.exists(status_file) else 503)
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

    def bulk(self, body):
        lines = body.decode("utf-8").splitlines()
        busy_file = os.path.join(directory, "busy_items")
        busy = int(open(busy_file).read() or 0) if os.path.exists(busy_file) else 0
        items, errors, stored = [], False, []
        for action, doc in zip(lines[0::2], lines[1::2]):
            if busy > 0:
                busy -= 1
                errors = True
                items.append({"index": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}})
            elif "reject-me" in doc:
                errors = True
                items.append({"index": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse"}}})
            else:
                stored.append(doc)
                items.append({"index": {"_index": "logs", "status": 201, "result": "created"}})
        if os.path.exists(busy_file):
            open(busy_file, "w").write(str(busy))
        with open(os.path.join(directory, "bulk.jsonl"), "a") as f:
            for doc in stored:
                f.write(doc + "\n")
        answer = json.dumps({"took": 1, "errors": errors, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

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
