"""A real SMTP server on loopback for the scheduled-report tests.

Two halves in one file:

- run as a script (by Debian's /usr/bin/python3, which has python3-aiosmtpd)
  it serves SMTP with aiosmtpd on --port, stores every accepted message as
  <dir>/<n>.eml and appends one JSON line per event to <dir>/events.jsonl
  ("ready", "stall", "rcpt", "message"); knobs: --stall-rcpt SECONDS (the
  first transaction's first RCPT TO waits that long before its answer, so a
  client can be killed in the middle of a send), --refuse ADDRESS (RCPT TO
  that address gets 550), --auth USER:PASSWORD (AUTH required);
- imported (by the test, on any python3) SmtpStub starts and stops that
  script as a harness part.
"""

import json
import os
import subprocess
import sys
import time

SYSTEM_PYTHON = "/usr/bin/python3"


class SmtpStub:
    """The server as a harness part: start() waits for "ready"."""

    def __init__(self, directory, port, stall_rcpt=0, refuse=None, auth=None):
        self.dir = None  # the Stack removes its own temp dirs; this one is the test's
        self.data_dir = directory
        self.port = port
        self.args = ["--port", str(port), "--dir", directory]
        if stall_rcpt:
            self.args += ["--stall-rcpt", str(stall_rcpt)]
        if refuse:
            self.args += ["--refuse", refuse]
        if auth:
            self.args += ["--auth", auth]
        self.proc = None

    def start(self):
        import harness  # noqa: PLC0415 - the harness needs AUTHFLOW_BIN; import late
        log = open(os.path.join(self.data_dir, "smtp.log"), "ab")
        self.proc = harness._track(subprocess.Popen(
            [SYSTEM_PYTHON, os.path.abspath(__file__)] + self.args,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))
        log.close()
        start = len(self.events())
        harness.wait_until(lambda: any(e["event"] == "ready" for e in self.events()[start:])
                           or self.proc.poll() is not None, harness.START_TIMEOUT,
                           what="smtp stub on %d" % self.port)
        if self.proc.poll() is not None:
            with open(os.path.join(self.data_dir, "smtp.log"), encoding="utf-8") as f:
                raise AssertionError("smtp stub exited: " + f.read()[-2000:])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def events(self):
        path = os.path.join(self.data_dir, "events.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def messages_raw(self):
        """The files of the accepted messages, in order."""
        return [e["file"] for e in self.events() if e["event"] == "message"]

    def messages(self):
        """Every accepted message, parsed (email.message.Message), in order."""
        import email  # noqa: PLC0415
        from email import policy  # noqa: PLC0415
        out = []
        for e in self.events():
            if e["event"] == "message":
                with open(e["file"], "rb") as f:
                    msg = email.message_from_binary_file(f, policy=policy.default)
                msg.envelope_to = e["rcpt"]
                out.append(msg)
        return out


# ---------------------------------------------------------------------------
# The server (run by /usr/bin/python3).
# ---------------------------------------------------------------------------

def _serve(argv):
    import argparse  # noqa: PLC0415
    import asyncio  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from aiosmtpd.controller import Controller  # noqa: PLC0415
    from aiosmtpd.smtp import AuthResult  # noqa: PLC0415

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--stall-rcpt", type=float, default=0)
    ap.add_argument("--refuse", default=None)
    ap.add_argument("--auth", default=None)
    a = ap.parse_args(argv)
    lock = threading.Lock()

    def event(**kw):
        kw["t"] = time.time()
        with lock, open(os.path.join(a.dir, "events.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(kw) + "\n")

    class Handler:
        stalled = False

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if a.stall_rcpt and not Handler.stalled:
                Handler.stalled = True
                event(event="stall", peer=list(session.peer))
                await asyncio.sleep(a.stall_rcpt)
            if a.refuse and address == a.refuse:
                event(event="rcpt", address=address, code=550)
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            event(event="rcpt", address=address, code=250)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            with lock:
                n = len([f for f in os.listdir(a.dir) if f.endswith(".eml")])
                path = os.path.join(a.dir, "%d.eml" % (n + 1))
                with open(path, "wb") as f:
                    f.write(envelope.original_content or envelope.content)
            event(event="message", file=path, rcpt=envelope.rcpt_tos,
                  mail_from=envelope.mail_from, peer=list(session.peer))
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        user, _, password = a.auth.partition(":")
        ok = (auth_data.login.decode() == user and auth_data.password.decode() == password)
        event(event="auth", ok=ok)
        return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

    kw = {}
    if a.auth:
        kw = {"authenticator": authenticator, "auth_require_tls": False,
              "auth_required": True}
    c = Controller(Handler(), hostname="127.0.0.1", port=a.port, **kw)
    c.start()
    event(event="ready", port=a.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    c.stop()


if __name__ == "__main__":
    _serve(sys.argv[1:])
