"""Stub CRMs for the configurable connector (stdlib http.server, loopback).

NumericCrm speaks deploy/config/crm-404-numeric.example.json: 404 for no
match, numeric ids, 403 for a wrong PIN, a bearer token required. Its
`mode` makes it fail: "ok", "error" (500), "garbage", "hang".
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "stub-token-not-secret"
CONTACTS = {"+13175550116": {"contactNo": 100234, "firstName": "Ana",
                             "lastName": "Garc\u00eda", "pin": "1234"}}


class NumericCrm:
    def __init__(self):
        self.mode = "ok"
        self.requests = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with stub.lock:
                    stub.requests += 1
                    mode = stub.mode
                if mode == "hang":
                    time.sleep(6)
                    return self.reply(200, {})
                if mode == "error":
                    return self.reply(500, {"error": "down"})
                if mode == "garbage":
                    return self.reply(200, "<html>oops")
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    return self.reply(401, {"error": "auth"})
                parts = self.path.split("/")
                if self.path.startswith("/v2/contacts/by-phone/"):
                    from urllib.parse import unquote
                    c = CONTACTS.get(unquote(parts[4]))
                    if not c:
                        return self.reply(404, {"error": "no contact"})
                    return self.reply(200, {"contact": {k: v for k, v in c.items() if k != "pin"}})
                if self.path.endswith("/pin-check"):
                    pin = json.loads(body or b"{}").get("pin")
                    for c in CONTACTS.values():
                        if str(c["contactNo"]) == parts[3]:
                            if pin == c["pin"]:
                                return self.reply(200, {"match": True})
                            return self.reply(403, {"error": "wrong pin"})
                    return self.reply(404, {})
                return self.reply(404, {})

            do_GET = handle_any
            do_POST = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
