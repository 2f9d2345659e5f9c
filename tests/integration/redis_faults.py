"""Paced load of complete calls, a reply-dropping Redis proxy, and the
checks that nothing was applied twice: shared by the Redis fault suites
(test_redis_restart, test_sentinel, test_store_retry).

A complete call is one of three kinds, each step checked as it answers:

  A  start with Ana's ANI -> a wrong security answer -> the right one
     (completed, verified) -> GET
  B  start without ANI -> identifier (Jin's customer id) -> a wrong
     answer -> GET (2 verify attempts left) -> DELETE
  C  POST /v1/handoffs (offload thread, blocking store) -> start -> redeem
     the code (completed, verified)

After the load, check_applied_once() reads Redis and finds every attempt,
lockout and limit counter, report counter and event, and handoff
redemption counted exactly once per step that was answered.
"""

import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import harness as h
from harness import ANA, JIN, KEY_PREFIX, new_id

HANDOFF_KEY = "itest-handoff-key-0123456789"
HANDOFF_SECRET = "itest-handoff-secret-not-for-production-0123456789"
WRONG = "0000"


def fault_config(cfg):
    """The suites' config: limits that never trip under the load (so every
    failure is counted, never refused), handoffs on."""
    cfg["lockout"] = {"maxFailures": 100, "windowSeconds": 600,
                      "globalMaxFailuresPerMinute": 1000000,
                      "callerMaxFailures": 10000}
    cfg["handoffKeys"] = [HANDOFF_KEY]
    cfg["handoff"] = {"secret": HANDOFF_SECRET}
    return cfg


class Tally:
    """What the load sent and what it got back."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = {"A": [], "B": [], "C": []}
        self.failures = []  # (kind, step, status, body)
        self.steps = 0

    def step(self, kind, name, response, want):
        status, _, body = response
        with self.lock:
            self.steps += 1
            if status != want:
                self.failures.append((kind, name, status, body))
        return status == want, body


def _call_a(svc, tally):
    conv = new_id("ldA")
    ok, _ = tally.step("A", "start", svc.start_session(conv, ani=ANA["phones"][0],
                                                       timeout=30), 200)
    ok = ok and tally.step("A", "wrong", svc.security(conv, WRONG, timeout=30), 200)[0]
    ok = ok and tally.step("A", "right", svc.security(conv, ANA["answer"], timeout=30), 200)[0]
    ok = ok and tally.step("A", "get", svc.get(conv, timeout=30), 200)[0]
    with tally.lock:
        tally.calls["A"].append((conv, ok))


def _call_b(svc, tally):
    conv = new_id("ldB")
    ok = tally.step("B", "start", svc.start_session(conv, timeout=30), 200)[0]
    ok = ok and tally.step("B", "identifier",
                           svc.identifier(conv, JIN["id"], timeout=30), 200)[0]
    ok = ok and tally.step("B", "wrong", svc.security(conv, WRONG, timeout=30), 200)[0]
    if ok:
        good, body = tally.step("B", "get", svc.get(conv, timeout=30), 200)
        if good and body.get("attemptsRemaining") != 2:
            with tally.lock:
                tally.failures.append(("B", "attempts", 200, body))
        ok = good and tally.step("B", "delete", svc.delete(conv, timeout=30), 204)[0]
    with tally.lock:
        tally.calls["B"].append((conv, ok))


def _call_c(svc, tally):
    conv = new_id("ldC")
    payload = {"customerId": JIN["id"], "customerName": JIN["name"], "verified": True}
    ok, body = tally.step("C", "handoff", svc.request("POST", "/v1/handoffs", payload,
                                                      key=HANDOFF_KEY, timeout=30), 201)
    code = body.get("code") if ok else None
    ok = ok and tally.step("C", "start", svc.start_session(conv, timeout=30), 200)[0]
    if ok:
        good, answer = tally.step("C", "redeem", svc.request(
            "POST", "/v1/sessions/%s/handoff" % conv, {"code": code}, timeout=30), 200)
        ok = good and answer.get("outcome") == "verified"
    with tally.lock:
        tally.calls["C"].append((conv, ok))


CALLS = {"A": _call_a, "B": _call_b, "C": _call_c}
MIX = "AABAC"  # the kinds in turn


def paced_calls(svc, rate, seconds, during=None, at=None, workers=24):
    """Start `rate` complete calls a second for `seconds` (kinds in MIX
    order); at `at` seconds in, run during() on this thread (the fault).
    Returns the Tally once every call has finished."""
    tally = Tally()
    total = int(rate * seconds)
    fired = during is None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        t0 = time.monotonic()
        futures = []
        for i in range(total):
            due = t0 + i / rate
            if not fired and time.monotonic() - t0 >= at:
                during()
                fired = True
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(CALLS[MIX[i % len(MIX)]], svc, tally))
        if not fired:
            during()
        for f in futures:
            f.result(timeout=120)
    return tally


def _int(value):
    return int(value) if value is not None else 0


def _sum_keys(redis, pattern):
    total, cursor = 0, b"0"
    while True:
        cursor, keys = redis.command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        for key in keys:
            total += _int(redis.command("GET", key))
        if cursor in (b"0", 0, "0"):
            return total


def hour_counters(redis):
    out, cursor = {}, b"0"
    while True:
        cursor, keys = redis.command("SCAN", cursor, "MATCH", KEY_PREFIX + "report:h:*")
        for key in keys:
            raw = redis.command("HGETALL", key)
            for i in range(0, len(raw), 2):
                f = raw[i].decode()
                # "<quarter>|<line>|<counter>": the quarter of the hour
                # does not matter here.
                if f[:1].isdigit() and f[1:2] == "|":
                    f = f[2:]
                out[f] = out.get(f, 0) + int(raw[i + 1])
        if cursor in (b"0", 0, "0"):
            return out


def check_applied_once(testcase, redis, tally):
    """Zero failed steps, and every effect in Redis counted once."""
    testcase.assertEqual(tally.failures, [], "failed steps")
    a = [c for c, ok in tally.calls["A"] if ok]
    b = [c for c, ok in tally.calls["B"] if ok]
    c = [c for c, ok in tally.calls["C"] if ok]
    for conv in a:
        s = h.stored_session(redis.command, KEY_PREFIX + "session:" + conv)
        testcase.assertEqual((s["identifyAttempts"], s["verifyAttempts"], s["state"]),
                             ("0", "2", "completed"), conv)
    for conv in b:
        testcase.assertIsNone(redis.command("GET", KEY_PREFIX + "session:" + conv))
        testcase.assertIsNotNone(redis.command("GET", KEY_PREFIX + "deleted:" + conv))
    for conv in c:
        s = h.stored_session(redis.command, KEY_PREFIX + "session:" + conv)
        testcase.assertEqual((s["state"], s["outcome"]), ("completed", "verified"), conv)
    # One wrong answer per A and B call: the line's counter (a fixed minute,
    # longer than the load), the caller counters (A's numbers; B has no
    # ANI, so the shared withheld bucket), Jin's lockout counter (B; Ana's
    # is cleared by her right answer).
    testcase.assertEqual(
        _int(redis.command("GET", KEY_PREFIX + "limit:global:retail")), len(a) + len(b))
    testcase.assertEqual(
        _int(redis.command("GET", KEY_PREFIX + "limit:caller:withheld")), len(b))
    testcase.assertEqual(_sum_keys(redis, KEY_PREFIX + "limit:caller:*"), len(a) + len(b))
    testcase.assertEqual(_int(redis.command("GET", KEY_PREFIX + "lockout:" + JIN["id"])),
                         len(b))
    testcase.assertIsNone(redis.command("GET", KEY_PREFIX + "lockout:" + ANA["id"]))
    # Every handoff redeemed once: no failed redemption, none left.
    testcase.assertIsNone(redis.command("GET", KEY_PREFIX + "handoff:failures"))
    testcase.assertEqual(redis.keys(KEY_PREFIX + "handoff:code:*"), [])
    testcase.assertEqual(_int(redis.command("ZCARD", KEY_PREFIX + "handoff:live")), 0)
    counters = hour_counters(redis)
    testcase.assertEqual(counters.get("retail|started", 0), len(a) + len(b) + len(c))
    testcase.assertEqual(counters.get("retail|completed", 0), len(a) + len(c))
    testcase.assertEqual(_int(redis.command("XLEN", KEY_PREFIX + "report:events")),
                         len(a) + len(c))
    testcase.assertIsNone(redis.command("GET", KEY_PREFIX + "report:dropped"))


class RedisProxy:
    """A TCP proxy on loopback before a Redis on `upstream_port`.

    arm(marker, nth): the nth command from now whose bytes contain marker
    is passed on to Redis; Redis's reply is read (so the command ran) and
    thrown away, and both sides of that connection are closed: the reply
    is lost after the command was written. forwarded(marker): how many
    chunks containing marker reached Redis. cut_all(): close every
    connection now.
    """

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.marker, self.left = None, 0
        self.dropped = 0
        self.sent = []
        self.socks = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((h.LOOPBACK, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = "redis://%s:%d/0" % (h.LOOPBACK, self.port)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        self.listener.close()
        self.cut_all()

    def arm(self, marker, nth=1):
        with self.lock:
            self.marker, self.left = marker.encode(), nth

    def armed(self):
        with self.lock:
            return self.marker is not None

    def forwarded(self, marker):
        with self.lock:
            return sum(chunk.count(marker.encode()) > 0 for chunk in self.sent)

    def cut_all(self):
        with self.lock:
            pairs, self.socks = self.socks, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((h.LOOPBACK, self.upstream_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.socks.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client, upstream):
        drop = False
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 60)
                if not ready:
                    return
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    with self.lock:
                        self.sent.append(data)
                        if self.marker and self.marker in data:
                            self.left -= 1
                            if self.left == 0:
                                self.marker, drop = None, True
                    upstream.sendall(data)
                if upstream in ready:
                    data = upstream.recv(65536)
                    if not data:
                        return
                    if drop:
                        with self.lock:
                            self.dropped += 1
                        return  # Redis ran it and answered; the client never hears
                    client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()
