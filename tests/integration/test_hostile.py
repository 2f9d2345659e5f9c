"""Hostile HTTP clients against the real binary (hardening issue, part 1).

Slowloris headers and bodies, thousands of idle connections, huge announced
and endless chunked bodies, hostile JSON, odd conversation IDs in the path and
header-injection attempts that could reach the CRM URL. In every case a normal
call (start -> right answer -> verified) must work during and after, and
nothing may touch another session.

Notes on what the server can and cannot do:
  * libmicrohttpd's connection timeout (server.connectionTimeoutSeconds) is an
    *idle* timeout: a client that stops sending is cut off, but one that
    trickles a byte faster than the timeout keeps its slot until
    server.maxConnections is reached. Such clients cost one file descriptor
    and one bounded memory pool each, and never a worker thread (epoll), so
    other callers are still served; that is what test_slowloris checks.
  * A body announced larger than server.maxBodyBytes is refused with 413 from
    the headers; a chunked body is read up to the cap, then up to 1 MiB more
    is discarded before the connection is closed.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_hostile.py -v
"""

import os
import resource
import select
import socket
import threading
import time
import unittest

import harness as h
from harness import ANA, API_KEY, assert_error, assert_ok, new_id

# Raise our soft descriptor limit to the hard limit *before* any child starts,
# so authflow (which inherits it) can hold as many connections as we open.
_SOFT, _HARD = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_HARD, _HARD))
except (ValueError, OSError):
    pass
FD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

CONN_TIMEOUT_S = 2
MAX_BODY = 256 * 1024  # so 100k '[' reaches the JSON parser; 1 MB is still 413


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def auth_head(method, path, extra=b""):
    return (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\n" % (method, path, API_KEY.encode())) + extra


def closed_by_peer(sock, timeout):
    """True when the server closes the socket within timeout (EOF or reset);
    any response bytes it sends first are drained."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True
    return False


class HostileBase(h.StackTestCase):
    SERVICE_LINES = {"retail": h.service_line()}
    SERVER = {"connectionTimeoutSeconds": CONN_TIMEOUT_S, "maxConnections": 100000,
              "maxBodyBytes": MAX_BODY}

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["server"] = dict(cls.SERVER)
        return cfg

    def normal_call(self, max_seconds=5.0):
        """A whole call works: ANI identifies Ana, her PIN verifies her."""
        t0 = time.monotonic()
        cid = new_id("normal")
        assert_ok(self, self.svc.start_session(cid, ani="tel:+13175550116"),
                  state="awaiting_security", customerId=ANA["id"])
        assert_ok(self, self.svc.security(cid, ANA["answer"]), outcome="verified")
        took = time.monotonic() - t0
        self.assertLess(took, max_seconds, "a normal call took %.2fs" % took)
        return took

    def tearDown(self):
        self.assertTrue(self.svc.alive(), "authflow died; log:\n" + self.svc.log_text()[-3000:])
        self.normal_call()


class SlowAndBig(HostileBase):

    def test_slowloris_headers_and_bodies_cut_off(self):
        """Clients that stall in their headers or half way through a body are cut
        off by the idle timeout (2 s here); a client trickling headers slower
        than the timeout is cut off too. Meanwhile normal calls are served
        promptly."""
        port = self.svc.port
        # Keys other tests of this class left (their sessions, failure
        # limiters): only what appears from here on is this test's.
        before = set(self.redis.keys(h.KEY_PREFIX + "*"))
        stalled = []
        for i in range(40):
            s = socket.create_connection((h.LOOPBACK, port), timeout=5)
            if i % 2 == 0:  # headers never finished
                s.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:  # body announced, partly sent, then silence
                s.sendall(auth_head(b"POST", b"/v1/sessions", b"Content-Length: 100\r\n\r\n")
                          + b'{"conversationId":')
            stalled.append(s)

        # A slow trickler: one header byte every 3 s (slower than the timeout).
        trickler_cut = []

        def trickle():
            with socket.create_connection((h.LOOPBACK, port), timeout=5) as s:
                for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n":
                    try:
                        s.sendall(bytes([b]))
                    except (BrokenPipeError, ConnectionResetError):
                        trickler_cut.append(True)
                        return
                    if closed_by_peer(s, 3.0):
                        trickler_cut.append(True)
                        return
        t = threading.Thread(target=trickle, daemon=True)
        t.start()

        # Normal calls while the hostile ones hang on.
        for _ in range(3):
            self.normal_call(max_seconds=2.0)

        t0 = time.monotonic()
        cut = [closed_by_peer(s, CONN_TIMEOUT_S + 6.0 - (time.monotonic() - t0))
               for s in stalled]
        for s in stalled:
            s.close()
        self.assertTrue(all(cut), "%d of %d stalled connections were not cut off"
                        % (cut.count(False), len(cut)))
        t.join(12)
        self.assertFalse(t.is_alive(), "the slow trickler was never cut off")
        self.assertEqual(trickler_cut, [True])
        # The normal session's own keys, the report counters/stream its
        # start and steps record, and the verify-failure limiters its security
        # step reserves on (before the CRM is asked; refunded to 0 when it
        # verifies) are expected.
        expected = (h.KEY_PREFIX + "report:", h.KEY_PREFIX + "limit:",
                    h.KEY_PREFIX + "idem:")
        stray = [k for k in set(self.redis.keys(h.KEY_PREFIX + "*")) - before
                 if "normal" not in k and not k.startswith(expected)]
        self.assertEqual(stray, [], "a stalled request wrote to Redis")

    def test_fast_trickler_does_not_block_others(self):
        """Clients that trickle header bytes faster than the idle timeout keep
        their connections (an idle timeout cannot see them), but they hold no
        worker: normal calls during them are served promptly.

        A fixed number of rounds (not a time window, so the count cannot
        depend on the machine's speed): each round every trickler sends one
        more header line and then one whole normal call must succeed. The
        rounds span more than twice the idle timeout; afterwards every one of
        the 50 tricklers still holds its connection, and finishing its
        headers gets it its /healthz answer."""
        port = self.svc.port
        pause = 0.5  # between rounds: well inside the idle timeout
        rounds = int(2 * CONN_TIMEOUT_S / pause) + 1  # together: > 2 idle timeouts
        socks = [socket.create_connection((h.LOOPBACK, port), timeout=5) for _ in range(50)]
        try:
            for s in socks:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            calls = 0
            for _ in range(rounds):
                for s in socks:
                    s.sendall(b"X-A: b\r\n")
                self.normal_call(max_seconds=2.0)
                calls += 1
                time.sleep(pause)
            # Every round's normal call was served while all 50 tricklers held on.
            self.assertEqual(calls, rounds)
            # A trickler's socket turns readable only if the server closed it
            # (its request is unfinished, so no answer can be pending).
            cut = select.select(socks, [], [], 0.2)[0]
            self.assertEqual(len(cut), 0, "%d tricklers were cut off" % len(cut))
            answered = 0
            for s in socks:
                s.sendall(b"Connection: close\r\n\r\n")
                buf = b""
                while b"\r\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                if buf.startswith(b"HTTP/1.1 200"):
                    answered += 1
            self.assertEqual(answered, len(socks), "not every trickler got its /healthz answer")
        finally:
            for s in socks:
                s.close()

    def _announced(self, length):
        return auth_head(b"POST", b"/v1/sessions",
                         b"Content-Length: %s\r\nConnection: close\r\n\r\n" % length) \
            + b'{"conversationId":"x"'

    def test_huge_announced_bodies_refused_unread(self):
        """Content-Length of 1 MB, 1 GB and absurd values: 413 from the headers,
        at once, while the client has sent only a few bytes of the body; RSS
        does not move."""
        pid = self.svc.proc.pid
        rss0 = vm_rss_kb(pid)
        for length in (b"1048576", b"1073741824", b"18446744073709551615",
                       b"99999999999999999999999999"):
            with self.subTest(length=length):
                t0 = time.monotonic()
                resp = h.raw_http(self.svc.port, self._announced(length), timeout=5.0)
                took = time.monotonic() - t0
                if length.startswith(b"9999"):
                    # Overflowing uint64: libmicrohttpd may refuse it as malformed.
                    self.assertIn(resp[0], (400, 413), resp)
                else:
                    assert_error(self, resp, 413, "payload_too_large")
                self.assertLess(took, 2.0, "413 took %.2fs: the body was waited for" % took)
        growth = vm_rss_kb(pid) - rss0
        self.assertLess(growth, 10 * 1024, "RSS grew %d kB" % growth)
        self.assertEqual(self.redis.keys(h.KEY_PREFIX + "*"), [])

    def test_endless_chunked_bodies_cut_off_memory_bounded(self):
        """Eight clients stream chunked bodies that never end: each is cut off
        (after the body cap plus at most 1 MiB discarded, plus socket
        buffers), and the server's RSS grows by less than 50 MB."""
        pid = self.svc.proc.pid
        rss0 = vm_rss_kb(pid)
        chunk = b"%x\r\n%s\r\n" % (65536, b"[" * 65536)
        limit = 64 * 1024 * 1024
        sent_by = []
        errors = []

        def stream():
            sent = 0
            try:
                with socket.create_connection((h.LOOPBACK, self.svc.port), timeout=5) as s:
                    s.sendall(auth_head(b"POST", b"/v1/sessions",
                                        b"Transfer-Encoding: chunked\r\n\r\n"))
                    while sent < limit:
                        s.sendall(chunk)
                        sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                sent_by.append(sent)
                return
            except socket.timeout:
                errors.append("send blocked for 5 s after %d bytes" % sent)
                return
            errors.append("the server read %d bytes without cutting off" % sent)

        threads = [threading.Thread(target=stream, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        self.normal_call(max_seconds=3.0)
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "a streaming client hung")
        self.assertEqual(errors, [])
        self.assertEqual(len(sent_by), 8)
        growth_kb = vm_rss_kb(pid) - rss0
        sys_msg = "RSS grew %.1f MB; bytes sent before cut-off: %s" % (growth_kb / 1024, sent_by)
        print("\n  endless chunked: " + sys_msg)
        self.assertLess(growth_kb, 50 * 1024, sys_msg)


class HostileJson(HostileBase):

    def post_raw(self, path, raw, **kw):
        return self.svc.request("POST", path, raw_body=raw, **kw)

    def live_session(self):
        cid = new_id("victim")
        body = assert_ok(self, self.svc.start_session(cid, ani="+13175550116"),
                         state="awaiting_security")
        return cid, body

    def test_invalid_utf8_is_400(self):
        cid, before = self.live_session()
        for raw in (b'{"conversationId":"\xc3\x28","serviceLine":"retail"}',
                    b'{"conversationId":"a\xc0\xaf","serviceLine":"retail"}',
                    b'{"conversationId":"\xed\xa0\x80x","serviceLine":"retail"}',
                    b'{"conversationId":"ok","serviceLine":"retail\xff"}',
                    b'{"conversationId":"ok\xf8\x88\x80\x80\x80","serviceLine":"retail"}',
                    b'{"conversationId":"ok","serviceLine":"retail","ani":"\xfe"}'):
            with self.subTest(raw=raw):
                assert_error(self, self.post_raw("/v1/sessions", raw), 400, "invalid_json")
        assert_error(self, self.post_raw("/v1/sessions/%s/security" % cid, b'{"answer":"12\xff4"}'),
                     400, "invalid_json")
        self.assertEqual(assert_ok(self, self.svc.get(cid)), before)

    def test_deeply_nested_json_is_400(self):
        """100k '[' (and '{"a":' x 20k) are refused quickly, without a crash."""
        cid, before = self.live_session()
        for raw in (b"[" * 100000, b'{"a":' * 20000, b"[" * 100000 + b"]" * 100000,
                    b'{"answer":' + b"[" * 50000 + b"]" * 50000 + b"}"):
            for path in ("/v1/sessions", "/v1/sessions/%s/security" % cid):
                with self.subTest(raw=raw[:12], n=len(raw), path=path):
                    t0 = time.monotonic()
                    resp = self.post_raw(path, raw)
                    self.assertLess(time.monotonic() - t0, 3.0)
                    self.assertEqual(resp[0], 400, resp)
                    self.assertIn(resp[2]["error"], ("invalid_json", "invalid_request"))
        self.assertEqual(assert_ok(self, self.svc.get(cid)), before)

    def test_duplicate_keys_are_400(self):
        cid, before = self.live_session()
        assert_error(self, self.post_raw(
            "/v1/sessions", b'{"conversationId":"a","conversationId":"b","serviceLine":"retail"}'),
            400, "invalid_json")
        assert_error(self, self.post_raw(
            "/v1/sessions/%s/security" % cid, b'{"answer":"0000","answer":"1234"}'),
            400, "invalid_json")
        assert_error(self, self.post_raw(
            "/v1/sessions/%s/security" % cid, b'{"answer":"1234","\\u0061nswer":"0000"}'),
            400, "invalid_json")
        self.assertEqual(assert_ok(self, self.svc.get(cid)), before)

    def test_numbers_and_other_types_where_strings_belong(self):
        cid, before = self.live_session()
        starts = [{"conversationId": 123, "serviceLine": "retail"},
                  {"conversationId": "n1", "serviceLine": 7},
                  {"conversationId": "n2", "serviceLine": "retail", "ani": 13175550116},
                  {"conversationId": "n3", "serviceLine": "retail", "language": ["en-US"]},
                  {"conversationId": {"id": "x"}, "serviceLine": "retail"},
                  {"conversationId": True, "serviceLine": "retail"}]
        for body in starts:
            with self.subTest(body=body):
                assert_error(self, self.svc.request("POST", "/v1/sessions", body),
                             400, "invalid_request")
        for body in ({"answer": 1234}, {"answer": 1.5e300},
                     {"answer": [ANA["answer"]]}, {"answer": {"v": "1234"}},
                     {"answer": True}):
            with self.subTest(body=body):
                assert_error(self, self.svc.request(
                    "POST", "/v1/sessions/%s/security" % cid, body), 400, "invalid_request")
        # A number too big for any integer type.
        resp = self.post_raw("/v1/sessions/%s/security" % cid, b'{"answer":1' + b"0" * 5000 + b"}")
        self.assertEqual(resp[0], 400, resp)
        resp = self.svc.request("POST", "/v1/sessions/%s/identifier" % cid, {"identifier": 100234})
        self.assertIn(resp[0], (400, 409), resp)
        self.assertEqual(assert_ok(self, self.svc.get(cid)), before)
        self.assertEqual(self.redis.keys(h.KEY_PREFIX + "session:n*"), [])


class HostilePaths(HostileBase):

    def test_odd_conversation_ids_never_touch_other_sessions(self):
        """Long, percent-encoded and traversal IDs get 400/404 (414 from the HTTP
        layer for a path past its buffer) and never read or change another
        session; the victim's answer and Redis keys are unchanged."""
        victim = "victim-" + new_id("v")
        other = "other-1"
        for cid in (victim, other):
            assert_ok(self, self.svc.start_session(cid, ani="+13175550116"),
                      state="awaiting_security")
        before = {c: assert_ok(self, self.svc.get(c)) for c in (victim, other)}
        keys_before = self.redis.keys("*")
        crm_before = self.crm.stats()

        ids = ["x" * 129, "x" * 5000, "..", ".", "%2e%2e", "%2E%2E", "%2e",
               "..%2F" + victim, "%2e%2e%2f" + victim, victim + "%2F..", victim + "%2f",
               "%2F" + victim, victim + "%00", "%00" + victim, "%00", victim + "%0d%0a",
               "%252e%252e", victim + "%2Fsecurity", "..%5c" + victim, victim + "%20",
               victim + "%", victim + "%zz", victim + "%2", "%u002e%u002e",
               "%c0%ae%c0%ae", victim + "*", victim + ";x"]
        # (A query string, "/v1/sessions/<id>?x=1", is the victim's own URL
        # with a query: the query is ignored, so it is not in this list.)
        raw_paths = ["/v1/sessions/../sessions/" + victim, "/v1/sessions/./" + victim,
                     "/v1/sessions//" + victim, "/v1//sessions/" + victim,
                     "/v1/sessions/" + victim + "/../" + other,
                     "/v1/sessions/" + victim + "/security/../opt-out",
                     "/v1/sessions/%2e%2e/sessions/" + victim,
                     "/v1/sessions/" + victim + "/"]
        paths = []
        for i in ids:
            paths.append("/v1/sessions/" + i)
            for step in ("security", "opt-out", "identifier"):
                paths.append("/v1/sessions/%s/%s" % (i, step))
        paths += raw_paths
        ok_statuses = (400, 404, 405, 414)
        for path in paths:
            for method, body in (("GET", None), ("DELETE", None),
                                 ("POST", b'{"answer":"1234","identifier":"100234"}')):
                with self.subTest(method=method, path=path[:80]):
                    req = auth_head(method.encode(), path.encode("latin-1"))
                    req += b"Connection: close\r\n"
                    if body is not None:
                        req += b"Content-Length: %d\r\n\r\n" % len(body) + body
                    else:
                        req += b"\r\n"
                    status = h.raw_http(self.svc.port, req, timeout=5.0)[0]
                    self.assertIn(status, ok_statuses, "%s %s -> %s" % (method, path, status))
        # A raw NUL in the request line: libmicrohttpd 0.9.75 ends the URL
        # there, so ".../<victim>\0/../<other>" is read as ".../<victim>". It
        # can only ever name the session before the NUL, never another one.
        for tail in ("\x00", "\x00/../" + other, "\x00%2F..%2F" + other):
            req = auth_head(b"GET", ("/v1/sessions/" + victim + tail).encode("latin-1"))
            status, _, body = h.raw_http(self.svc.port, req + b"Connection: close\r\n\r\n")
            if status == 200:
                self.assertEqual(body, before[victim], "a NUL path reached another session")
            else:
                self.assertIn(status, ok_statuses)
        for c in (victim, other):
            self.assertEqual(assert_ok(self, self.svc.get(c)), before[c],
                             "session %s changed" % c)
        self.assertEqual(self.redis.keys("*"), keys_before)
        self.assertEqual(self.crm_delta(crm_before, "requests"), 0)

    def test_valid_odd_ids_are_separate_sessions(self):
        """IDs made of the allowed punctuation are ordinary, separate sessions."""
        ids = ["a.b", "a:b", "a_b", "a-b", "...", "._:-", "x" * 128]
        for cid in ids:
            assert_ok(self, self.svc.start_session(cid), conversationId=cid,
                      state="awaiting_identifier")
        for cid in ids:
            assert_ok(self, self.svc.get(cid), conversationId=cid)
        self.assertEqual(len(self.redis.keys(h.KEY_PREFIX + "session:*")), len(ids))


class HeaderInjection(HostileBase):

    def test_crlf_in_values_never_reach_the_crm(self):
        """CR/LF, encoded CR/LF and other separators in the ANI, identifier,
        identifierType, language and answer never reach the CRM as a request
        (the CRM sees exactly the lookups of valid values), and no injected
        header shows in our answer."""
        payloads = ["100234\r\nX-Injected: 1", "100234%0d%0aX-Injected:%201",
                    "100234\nHost: evil", "100234\r\n\r\nGET /customers HTTP/1.1",
                    "100234 HTTP/1.1\r\nX: y", "100234&customerId=100300",
                    "100234#frag", "100234/../../_control/reset", "100234\x00300"]
        crm0 = self.crm.stats()
        for p in payloads:
            with self.subTest(payload=p):
                cid = new_id("inj")
                # ANI: not a usable number, so no lookup at all.
                resp = self.svc.start_session(cid, ani="tel:+1317555" + p)
                self.assertIn(resp[0], (200, 400), resp)
                if resp[0] == 200:
                    assert_ok(self, resp, state="awaiting_identifier", identified=False)
                else:
                    assert_ok(self, self.svc.start_session(cid), state="awaiting_identifier")
                # Identifier: invalid input, costs an attempt, no lookup (a raw
                # NUL is not even valid JSON for jansson: 400).
                resp = self.svc.identifier(cid, p)
                if "\x00" in p:
                    assert_error(self, resp, 400, "invalid_json")
                else:
                    assert_ok(self, resp, lastResult="invalid_input")
                for t in ("customer_id\r\nX: y", "customer_id%0d%0a"):
                    resp = self.svc.identifier(cid, "100234", identifier_type=t)
                    self.assertIn(resp[0], (400,), resp)
                resp = self.svc.request("POST", "/v1/sessions",
                                        {"conversationId": new_id("lang"), "serviceLine": "retail",
                                         "language": "en-US\r\nX: y"})
                self.assertIn(resp[0], (200, 400), resp)
                if resp[0] == 200:
                    self.assertNotIn("\n", resp[2]["language"])
        self.assertEqual(self.crm_delta(crm0, "requests"), 0,
                         "a hostile value reached the CRM as a request")

        # Answers with separators: refused before any verification.
        cid = new_id("inj")
        assert_ok(self, self.svc.start_session(cid, ani="+13175550116"), state="awaiting_security")
        crm1 = self.crm.stats()
        for p in ("1234\r\nX: y", "1234%0d%0a", "12\n34"):
            resp = self.svc.security(cid, p)
            if resp[0] == 200:
                self.assertNotEqual(resp[2]["outcome"], "verified", resp)
        self.assertEqual(self.crm_delta(crm1, "verifications"), 0)

    def test_request_id_header_injection_not_echoed(self):
        """An X-Request-Id holding CR/LF-looking text is not echoed back."""
        req = (auth_head(b"GET", b"/healthz")
               + b"X-Request-Id: abc%0d%0aSet-Cookie:x\r\nConnection: close\r\n\r\n")
        status, headers, _ = h.raw_http(self.svc.port, req)
        self.assertEqual(status, 200)
        self.assertNotIn("%", headers.get("x-request-id", ""))
        self.assertNotIn("set-cookie", headers)


class IdleConnections(HostileBase):
    """Thousands of idle connections, then a normal call (timeout long enough
    for them to stay open while we count)."""

    SERVER = {"connectionTimeoutSeconds": 60, "maxConnections": 100000,
              "threads": 4}

    def test_many_idle_connections_then_normal_request(self):
        target = min(10000, FD_LIMIT - 300)
        self.assertGreater(target, 500, "descriptor limit %d too low" % FD_LIMIT)
        pid = self.svc.proc.pid
        fds0 = open_fds(pid)
        socks = []
        t0 = time.monotonic()
        try:
            while len(socks) < target and time.monotonic() - t0 < 60:
                try:
                    socks.append(socket.create_connection((h.LOOPBACK, self.svc.port),
                                                          timeout=5))
                except OSError as e:
                    self.fail("connect %d failed: %r" % (len(socks), e))
            self.assertEqual(len(socks), target, "only %d connections in 60 s" % len(socks))
            # The server really holds them (accepted, not just in the backlog).
            held = h.wait_until(lambda: (open_fds(pid) - fds0 >= target * 0.95)
                                and open_fds(pid) - fds0, 20.0,
                                what="authflow to accept the idle connections")
            print("\n  idle connections opened: %d, authflow fds held: %d (limit %d)"
                  % (target, held, FD_LIMIT))
            self.normal_call(max_seconds=5.0)
            status, _, body = self.svc.request("GET", "/readyz", key=None)
            self.assertEqual(status, 200, body)
        finally:
            for s in socks:
                s.close()
        h.wait_until(lambda: open_fds(pid) - fds0 < 100, 20.0,
                     what="authflow to release the closed connections")


if __name__ == "__main__":
    unittest.main()
