"""Stub CRMs for the configurable connector (stdlib http.server, loopback,
port 0; optionally over TLS).

NumericCrm speaks deploy/config/crm-404-numeric.example.json: 404 for no
match, numeric ids, 403 for a wrong PIN, a bearer token required. Its
`mode` makes it fail: "ok", "error" (500), "garbage", "hang".

SalesforceCrm speaks deploy/config/crm-salesforce.example.json: an OAuth2
client-credentials token endpoint, SOQL queries and an Apex REST verify,
with knobs for token expiry, revocation, a slow or failing token endpoint,
and per-endpoint counters.

ForwardProxy is an HTTP forward proxy (absolute-form requests and CONNECT
tunnels) that counts what went through it.

GatedFront is a reverse proxy in front of a CRM (the demo CRM) that holds
chosen requests until the test releases them: an explicit gate, not a
timer, decides when a held CRM call goes on.

Every server takes an ssl.SSLContext (server side) to serve https; the TLS
handshake runs in the connection's own thread, failed handshakes are
counted in `tls_failures`, and client certificate CNs are kept in
`peer_names`.
"""
import base64
import http.client
import json
import re
import secrets
import select
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a deep accept queue (50 concurrent calls
    must not hit SYN retries) and TLS done per connection thread."""

    daemon_threads = True
    request_queue_size = 256
    ssl_context = None
    tls_failures = 0

    def handle_error(self, request, client_address):
        # A client that gave up (authflow's timeout) is expected here.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)

    def finish_request(self, request, client_address):
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(10)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.tls_failures += 1
            return None
        cert = tls.getpeercert() or {}
        for rdn in cert.get("subject", ()):
            self.peer_names.extend(v for k, v in rdn if k == "commonName")
        try:
            tls.settimeout(None)
            return super().finish_request(tls, client_address)
        finally:
            tls.close()


def _serve(handler, ssl_context=None):
    server = _Server(("127.0.0.1", 0), handler)
    server.ssl_context = ssl_context
    server.peer_names = []  # client certificate CNs seen (mutual TLS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


TOKEN = "stub-token-not-secret"
CONTACTS = {"+13175550116": {"contactNo": 100234, "firstName": "Ana",
                             "lastName": "Garc\u00eda", "pin": "1234"}}


class NumericCrm:
    def __init__(self, ssl_context=None):
        self.mode = "ok"
        self.requests = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(_Handler):
            def handle_any(self):
                body = self.body()
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

        self.server = _serve(Handler, ssl_context)
        self.port = self.server.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if ssl_context else "http", self.port)

    @property
    def tls_failures(self):
        return self.server.tls_failures

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# Salesforce
# ---------------------------------------------------------------------------

SF_CLIENT_ID = "3MVG9authflowTestClientId"
# Unique per run, so a test can search any output for it.
SF_CLIENT_SECRET = "sf-secret-" + secrets.token_hex(12)
SF_API = "/services/data/v59.0/query"
SF_TOKEN_PATH = "/services/oauth2/token"
SF_VERIFY_PATH = "/services/apexrest/authflow/v1/verify"

SF_CONTACTS = [
    {"Id": "003Dn00000AnaG1IAJ", "FirstName": "Ana", "LastName": "Garc\u00eda",
     "Phone": "+13175550116", "Customer_Number__c": "100234",
     "AccountNumber": "55501234", "Tracking": ["940011189922385530"],
     "answer": "1234"},
    # Two contacts share a phone: a lookup by it is ambiguous.
    {"Id": "003Dn00000BenK2IAJ", "FirstName": "Ben", "LastName": "Okafor",
     "Phone": "+13175550177", "Customer_Number__c": "100301",
     "AccountNumber": "55509876", "Tracking": [], "answer": "5678"},
    {"Id": "003Dn00000CarL3IAJ", "FirstName": "Carla", "LastName": "Okafor",
     "Phone": "+13175550177", "Customer_Number__c": "100302",
     "AccountNumber": "55505555", "Tracking": [], "answer": "9012"},
]

# The SOQL the example sends: one comparison with a '...' literal, plain
# or inside a semi-join on Case. Anything else is MALFORMED_QUERY, as
# Salesforce would answer a query whose literal was broken by a quote.
_SOQL = re.compile(
    r"^SELECT Id,FirstName,LastName FROM Contact WHERE "
    r"(?:Id IN \(SELECT ContactId FROM Case WHERE )?"
    r"([A-Za-z_.]+)='((?:[^'\\]|\\.)*)'(\)?)$")
_SOQL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def soql_unescape(literal):
    return re.sub(r"\\(.)", lambda m: _SOQL_ESCAPES.get(m.group(1), m.group(1)),
                  literal)


class SalesforceCrm:
    """Salesforce as the example config sees it.

    Knobs (set under .lock or with set()): expires_in (seconds, in the token
    answer and enforced here), token_delay (seconds before the token
    endpoint answers), token_gate (a threading.Event the token endpoint
    waits for before answering), token_mode ("ok", "error" = 500),
    refuse_all (every data call is refused with 401). revoke() kills
    every token issued so far. counts: "token" (token requests), "token_ok"
    (tokens issued), "query", "verify", "unauthorized" (401s sent),
    "malformed" (400 MALFORMED_QUERY). last_where holds the (field, value)
    of the last well-formed query, as Salesforce parsed it.
    """

    def __init__(self, ssl_context=None, client_id=SF_CLIENT_ID,
                 client_secret=SF_CLIENT_SECRET):
        self.lock = threading.Lock()
        self.client_id, self.client_secret = client_id, client_secret
        self.expires_in = 3600
        self.token_delay = 0.0
        self.token_mode = "ok"
        self.token_gate = None
        self.refuse_all = False  # every data call gets 401, fresh token or not
        self.tokens = {}  # access token -> monotonic expiry
        self.issued = []  # every token issued, revoked ones too
        self.counts = Counter()
        self.last_where = None
        self.token_started = threading.Event()
        stub = self

        class Handler(_Handler):
            def do_POST(self):
                path = urlsplit(self.path).path
                if path == SF_TOKEN_PATH:
                    return stub._token(self)
                if path == SF_VERIFY_PATH:
                    return stub._verify(self)
                self.body()
                return self.reply(404, [{"errorCode": "NOT_FOUND"}])

            def do_GET(self):
                if urlsplit(self.path).path == SF_API:
                    return stub._query(self)
                return self.reply(404, [{"errorCode": "NOT_FOUND"}])

        self.server = _serve(Handler, ssl_context)
        self.port = self.server.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if ssl_context else "http", self.port)

    # -- knobs ---------------------------------------------------------------

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if not hasattr(self, k):
                    raise AttributeError(k)
                setattr(self, k, v)

    def revoke(self):
        """Every token issued so far is refused from now on (401)."""
        with self.lock:
            self.tokens.clear()

    def count(self, key):
        with self.lock:
            return self.counts[key]

    def snapshot(self):
        with self.lock:
            return Counter(self.counts)

    @property
    def tls_failures(self):
        return self.server.tls_failures

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # -- endpoints -----------------------------------------------------------

    def _token(self, h):
        body = h.body()
        with self.lock:
            self.counts["token"] += 1
            delay, mode, gate = self.token_delay, self.token_mode, self.token_gate
        self.token_started.set()
        if gate is not None:
            gate.wait(30)
        if delay:
            time.sleep(delay)
        if mode == "error":
            return h.reply(500, {"error": "server_error"})
        if not h.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"):
            return h.reply(400, {"error": "invalid_request"})
        form = parse_qs(body.decode("ascii", "replace"), keep_blank_values=True)
        one = lambda k: (form.get(k) or [""])[0]  # noqa: E731
        if one("grant_type") != "client_credentials":
            return h.reply(400, {"error": "unsupported_grant_type"})
        if one("client_id") != self.client_id or one("client_secret") != self.client_secret:
            return h.reply(400, {"error": "invalid_client",
                                 "error_description": "invalid client credentials"})
        token = "00DTEST!" + secrets.token_urlsafe(24)
        with self.lock:
            expires_in = self.expires_in
            self.tokens[token] = time.monotonic() + expires_in
            self.issued.append(token)
            self.counts["token_ok"] += 1
        return h.reply(200, {"access_token": token, "token_type": "Bearer",
                             "instance_url": self.url, "expires_in": expires_in,
                             "issued_at": str(int(time.time() * 1000)),
                             "signature": "stub"})

    def bearer_ok(self, auth):
        """Whether an Authorization header carries a live token of ours
        (a refusal is counted as "unauthorized"). Also used by SmsSink when
        this stub is its gateway's token endpoint."""
        token = auth[7:] if auth.startswith("Bearer ") else None
        with self.lock:
            expiry = self.tokens.get(token)
            ok = (expiry is not None and time.monotonic() < expiry
                  and not self.refuse_all)
            if not ok:
                self.counts["unauthorized"] += 1
        return ok

    def _authorized(self, h):
        ok = self.bearer_ok(h.headers.get("Authorization", ""))
        if not ok:
            h.reply(401, [{"message": "Session expired or invalid",
                           "errorCode": "INVALID_SESSION_ID"}])
        return ok

    def _query(self, h):
        with self.lock:
            self.counts["query"] += 1
        if not self._authorized(h):
            return None
        q = (parse_qs(urlsplit(h.path).query).get("q") or [""])[0]
        m = _SOQL.match(q)
        semi = m and m.group(1) == "Tracking_Number__c"
        if not m or bool(m.group(3)) != bool(semi):
            with self.lock:
                self.counts["malformed"] += 1
            return h.reply(400, [{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}])
        field, value = m.group(1), soql_unescape(m.group(2))
        with self.lock:
            self.last_where = (field, value)
        key = {"Phone": "Phone", "Customer_Number__c": "Customer_Number__c",
               "Account.AccountNumber": "AccountNumber"}.get(field)
        if semi:
            found = [c for c in SF_CONTACTS if value in c["Tracking"]]
        elif key:
            found = [c for c in SF_CONTACTS if c[key] == value]
        else:
            return h.reply(400, [{"message": "No such column '%s'" % field,
                                  "errorCode": "INVALID_FIELD"}])
        records = [{"attributes": {"type": "Contact",
                                   "url": "/services/data/v59.0/sobjects/Contact/" + c["Id"]},
                    "Id": c["Id"], "FirstName": c["FirstName"], "LastName": c["LastName"]}
                   for c in found]
        return h.reply(200, {"totalSize": len(records), "done": True, "records": records})

    def _verify(self, h):
        body = h.body()
        with self.lock:
            self.counts["verify"] += 1
        if not self._authorized(h):
            return None
        try:
            req = json.loads(body)
        except ValueError:
            return h.reply(400, [{"errorCode": "JSON_PARSER_ERROR"}])
        for c in SF_CONTACTS:
            if c["Id"] == req.get("contactId"):
                return h.reply(200, {"verified": req.get("answer") == c["answer"],
                                     "locked": False})
        return h.reply(404, [{"errorCode": "NOT_FOUND"}])


# ---------------------------------------------------------------------------
# Forward proxy
# ---------------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
               "te", "trailer", "transfer-encoding", "upgrade"}


class ForwardProxy:
    """An HTTP forward proxy on loopback. Absolute-form requests
    ("GET http://host:port/path") are forwarded and counted in `requests`
    (with their target URLs in `targets`); CONNECT opens a tunnel, counted
    in `connects`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.connects = 0
        self.targets = []
        proxy = self

        class Handler(_Handler):
            def forward(self):
                body = self.body()
                url = urlsplit(self.path)
                if url.scheme != "http" or not url.hostname:
                    return self.reply(400, {"error": "absolute http URL expected"})
                with proxy.lock:
                    proxy.requests += 1
                    proxy.targets.append(self.path)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_BY_HOP}
                conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
                try:
                    target = url.path + ("?" + url.query if url.query else "")
                    conn.request(self.command, target, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.reply(502, {"error": "bad gateway"})
                finally:
                    conn.close()
                return None

            do_GET = do_POST = do_PUT = do_PATCH = forward

            def do_CONNECT(self):
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=10)
                except (OSError, ValueError):
                    return self.reply(502, {"error": "cannot connect"})
                with proxy.lock:
                    proxy.connects += 1
                    proxy.targets.append("CONNECT " + self.path)
                self.send_response(200, "Connection Established")
                self.end_headers()
                self.wfile.flush()
                pair = [self.connection, upstream]
                try:
                    while True:
                        ready, _, _ = select.select(pair, [], [], 10)
                        if not ready:
                            break
                        for s in ready:
                            data = s.recv(65536)
                            if not data:
                                return None
                            (upstream if s is self.connection else self.connection).sendall(data)
                except OSError:
                    return None
                finally:
                    upstream.close()
                    self.close_connection = True
                return None

        self.server = _serve(Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# Gated front
# ---------------------------------------------------------------------------


class GatedFront:
    """A reverse proxy before a CRM at upstream_url, with a gate.

    hold(path_part) closes the gate for requests whose path contains
    path_part (e.g. "/verify"): each one is counted in `held` as it arrives
    and then waits, its connection open and the CRM not yet asked, until
    release() opens the gate (a 60 s safety bound only keeps a forgotten
    gate from hanging the run). wait_held(n) blocks until n requests have
    arrived at the closed gate; `waiting` is how many wait there now.
    Everything else is forwarded at once. Not a timer: the test decides.
    """

    def __init__(self, upstream_url):
        up = urlsplit(upstream_url)
        self.upstream = (up.hostname, up.port)
        self.cond = threading.Condition()
        self.gate = None  # a closed threading.Event while holding
        self.path_part = None
        self.held = 0
        self.waiting = 0
        front = self

        class Handler(_Handler):
            def forward(self):
                body = self.body()
                front._pass_gate(self.path)
                conn = http.client.HTTPConnection(*front.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in _HOP_BY_HOP}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.reply(resp.status, data.decode("utf-8", "replace"),
                               resp.getheader("Content-Type") or "application/json")
                except OSError:
                    self.reply(502, {"error": "bad gateway"})
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self.server = _serve(Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def _pass_gate(self, path):
        with self.cond:
            gate = self.gate
            if gate is None or self.path_part not in path:
                return
            self.held += 1
            self.waiting += 1
            self.cond.notify_all()
        gate.wait(60)
        with self.cond:
            self.waiting -= 1
            self.cond.notify_all()

    def hold(self, path_part):
        """Close the gate for requests whose path contains path_part."""
        with self.cond:
            self.gate = threading.Event()
            self.path_part = path_part
            self.held = 0

    def wait_held(self, n, timeout=10.0):
        """Block until n requests arrived at the closed gate; False on timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: self.held >= n, timeout)

    def release(self):
        """Open the gate: every held request goes on to the CRM."""
        with self.cond:
            gate, self.gate = self.gate, None
        if gate is not None:
            gate.set()

    def stop(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# SMS sink: the otp.send endpoint of a one-time code (SPEC section 9).


class SmsSink:
    """An SMS gateway on loopback: POST /sms with a JSON {"to","text"} (the
    shape of deploy/config/otp-webhook.example.json, a bearer token
    required), or a form-encoded To=&Body= (Twilio's Messages API, basic
    auth TWILIO_SID:TOKEN required). Keeps every message; `mode` makes it
    fail: "ok", "error" (503), "hang" (answers after 6 s).

    issuer: a SalesforceCrm whose OAuth2 token endpoint the gateway trusts
    (otp.auth oauth2): a JSON send then needs "Bearer <a live token of
    its>" instead of TOKEN, and a refused one counts there as
    "unauthorized"."""

    TOKEN = "sms-token-not-secret"
    TWILIO_SID = "AC0123456789"

    def __init__(self, issuer=None):
        self.mode = "ok"
        self.issuer = issuer
        self.messages = []  # dicts: to, text, code (the digits in text)
        self.lock = threading.Lock()
        stub = self

        class Handler(_Handler):
            def do_POST(self):
                body = self.body()
                with stub.lock:
                    mode = stub.mode
                form = "x-www-form-urlencoded" in (self.headers.get("Content-Type") or "")
                basic = "Basic " + base64.b64encode(
                    ("%s:%s" % (SmsSink.TWILIO_SID, SmsSink.TOKEN)).encode()).decode()
                want = basic if form else "Bearer " + SmsSink.TOKEN
                got = self.headers.get("Authorization") or ""
                if stub.issuer is not None and not form:
                    if not stub.issuer.bearer_ok(got):
                        return self.reply(401, {"error": "invalid_token"})
                elif got != want:
                    return self.reply(401, {"error": "auth"})
                if mode == "hang":
                    time.sleep(6)
                    return self.reply(200, {})
                if mode == "error":
                    return self.reply(503, {"error": "down"})
                if form:
                    q = parse_qs(body.decode(), strict_parsing=True)
                    msg = {"to": q["To"][0], "text": q["Body"][0]}
                else:
                    try:
                        msg = json.loads(body)
                    except ValueError:
                        return self.reply(400, {"error": "json"})
                m = re.search(r"(\d{4,10})", msg.get("text", ""))
                with stub.lock:
                    stub.messages.append({"to": msg.get("to"), "text": msg.get("text"),
                                          "code": m.group(1) if m else None})
                return self.reply(202, {"queued": True})

        self.server = _serve(Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def codes(self):
        with self.lock:
            return [m["code"] for m in self.messages]

    def last(self):
        with self.lock:
            return self.messages[-1] if self.messages else None

    def count(self):
        with self.lock:
            return len(self.messages)

    def reset(self):
        with self.lock:
            self.messages = []
            self.mode = "ok"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
