#!/usr/bin/env python3
"""An SMTP sink for luapiped's tests (aiosmtpd): writes each e-mail it accepts to
DIR/mail-N.eml (envelope sender and recipients in X-Envelope-* headers first). Accepts
AUTH PLAIN for user "alerts" with password "secret" (over plain text, on loopback).
Exits at once on SIGTERM or SIGINT (the tests stop it with SIGTERM).

Usage: smtp_sink.py PORT DIR"""
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, directory = int(sys.argv[1]), sys.argv[2]
count = 0


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        head = "X-Envelope-From: %s\nX-Envelope-To: %s\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))
        with open(os.path.join(directory, "mail-%d.eml" % count), "wb") as f:
            f.write(head.encode() + envelope.original_content)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts" and auth_data.password == b"secret"
    return AuthResult(success=ok)


controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator,
                        auth_require_tls=False, auth_required=False)
stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
# Started by the Swift tests, it inherits the blocked signals of the thread that started
# it (SIGTERM among them): unblock them, before the controller's thread starts, or
# SIGTERM never comes.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
controller.start()
try:
    stopping.wait()
finally:
    controller.stop()
