#!/usr/bin/env python3
"""The demo's SMS gateway: shows the text message authflow would have sent.

authflow's otp.send (deploy/local/authflow.demo.json) posts
{"to": "+1...", "text": "..."} to http://127.0.0.1:<port>/sms; this prints
each message (to its log) and keeps them, so GET /messages lists them as
JSON [{"to", "text", "code"}]. Loopback only; Python 3 standard library.

    python3 deploy/local/sms_sink.py --port 8025
"""
import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGES = []  # the last 100


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path != "/sms":
            return self.reply(404, {"error": "not found"})
        n = int(self.headers.get("Content-Length") or 0)
        try:
            msg = json.loads(self.rfile.read(n) or b"{}")
            to, text = str(msg["to"]), str(msg["text"])
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"error": "expected {\"to\",\"text\"}"})
        m = re.search(r"\d{4,10}", text)
        MESSAGES.append({"to": to, "text": text, "code": m.group(0) if m else ""})
        del MESSAGES[:-100]
        print("SMS to %s: %s" % (to, text), flush=True)
        return self.reply(202, {"queued": True})

    def do_GET(self):
        if self.path != "/messages":
            return self.reply(404, {"error": "not found"})
        return self.reply(200, MESSAGES)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening on 127.0.0.1:%d" % args.port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
