"""Capacity under load, proved by ordering (no timed assertions): the CRM
connection pool (crm.maxConnections) and the queue in front of it, and
reports served apart from callers' steps.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_capacity.py -v
"""

import re
import socket
import threading
import time
import unittest

import harness as h
from harness import ANA, assert_ok, new_id

# Longer than the warning threshold for a wait at the CRM queue (100 ms).
HOLD_S = 0.3


def metric(text, name):
    """The value of an unlabelled sample `name` in Prometheus text."""
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("no %s in /metrics" % name)
    return float(m.group(1))


class CrmQueue(h.StackTestCase):
    """crm.maxConnections 1: a second call waits for the connection, and
    /metrics and the log say so."""

    PER_TEST = True
    GATED_CRM = True

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["crm"]["maxConnections"] = 1
        return cfg

    def metrics(self):
        status, _, body = self.svc.request("GET", "/metrics")
        self.assertEqual(status, 200)
        return body.decode("utf-8") if isinstance(body, bytes) else body

    def test_second_call_waits_for_the_only_connection(self):
        """Two verifications at once with one CRM connection: while the first
        is held at the CRM, the second waits in authflow (never reaching the
        CRM) and /metrics shows one call queued; released, both verify, the
        wait histogram counts every CRM attempt with exactly one that waited
        (held longer than the warning threshold, so one rate-limited
        warning is logged)."""
        convs = [new_id("q1"), new_id("q2")]
        for c in convs:
            assert_ok(self, self.svc.start_session(c, ani="+13175550116"),
                      state="awaiting_security")
        self.gate.hold("/verify")
        results = {}

        def step(c):
            results[c] = self.svc.security(c, ANA["answer"], timeout=20)

        threads = [threading.Thread(target=step, args=(c,), daemon=True) for c in convs]
        for t in threads:
            t.start()
        self.assertTrue(self.gate.wait_held(1), "no verification reached the CRM")
        h.wait_until(lambda: metric(self.metrics(), "authflow_crm_queue_length") == 1,
                     10.0, what="the second call to wait for a connection")
        self.assertEqual((self.gate.held, self.gate.waiting), (1, 1),
                         "the queued call reached the CRM")
        time.sleep(HOLD_S)  # a lower bound on the queued call's wait
        self.gate.release()
        for t in threads:
            t.join(timeout=20)
        for c in convs:
            assert_ok(self, results[c], outcome="verified")

        text = self.metrics()
        attempts = 4  # two lookups, two verifications
        self.assertEqual(metric(text, "authflow_crm_queue_wait_seconds_count"), attempts)
        self.assertEqual(metric(text, "authflow_crm_queued_total"), 1)
        self.assertEqual(metric(text, "authflow_crm_queue_length"), 0)
        self.assertEqual(metric(text, "authflow_crm_queue_expired_total"), 0)
        self.assertGreaterEqual(metric(text, "authflow_crm_queue_wait_seconds_sum"), HOLD_S)
        under = re.search(r'^authflow_crm_queue_wait_seconds_bucket\{le="0.1"\} (\d+)$',
                          text, re.M)
        self.assertIsNotNone(under, text)
        self.assertEqual(int(under.group(1)), attempts - 1)
        warned = [e for e in self.svc.log_entries()
                  if e.get("msg", "").startswith("CRM calls are waiting for a free connection")]
        self.assertEqual(len(warned), 1, warned)
        self.assertEqual(warned[0].get("maxConnections"), 1)
        self.assertGreaterEqual(warned[0].get("waitMs"), HOLD_S * 1000)


class CrmPoolDefault(h.StackTestCase):
    """With no crm.maxConnections in the file, the pool is sized for 1,000
    callers waiting on a slow CRM (deploy/config/README.md)."""

    GATED_CRM = True
    # A customer of its own for every call: one customer's lockout limits
    # the verifications in flight for it.
    POOL_CALLS = 80
    POOL_CUSTOMERS = [{"id": "5%05d" % i, "name": "Pool %d" % i,
                       "phones": ["+1317600%04d" % i], "answer": "1234"}
                      for i in range(POOL_CALLS)]

    @classmethod
    def start_crm(cls, stack):
        return stack.start(h.DemoCrm(customers=cls.POOL_CUSTOMERS))

    def test_default_pool_takes_many_held_calls_at_once(self):
        """Eighty verifications held at the CRM at once (more than the
        old default pool of 64): all reach it, none waits in authflow, and
        all verify once released."""
        n = self.POOL_CALLS
        convs = [new_id("pool") for _ in range(n)]
        for c, who in zip(convs, self.POOL_CUSTOMERS):
            assert_ok(self, self.svc.start_session(c, ani=who["phones"][0]),
                      state="awaiting_security")
        self.gate.hold("/verify")
        results = {}

        def step(c):
            results[c] = self.svc.security(c, "1234", timeout=30)

        threads = [threading.Thread(target=step, args=(c,), daemon=True) for c in convs]
        for t in threads:
            t.start()
        held = self.gate.wait_held(n, timeout=20)
        self.gate.release()
        for t in threads:
            t.join(timeout=30)
        self.assertTrue(held, "only %d of %d calls reached the CRM" % (self.gate.held, n))
        for c in convs:
            assert_ok(self, results[c], outcome="verified")


class RedisFront:
    """A TCP relay before Redis that can hold one command: hold(name)
    makes the first connection that sends that command (as a RESP bulk
    string, so a script's text never matches) stop there, Redis not yet
    asked, until release(). Every other connection, and everything else,
    is relayed at once. wait_held() blocks until the command arrived."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.cond = threading.Condition()
        self.pattern = None
        self.gate = None
        self.held = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((h.LOOPBACK, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = "redis://%s:%d/0" % (h.LOOPBACK, self.port)
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((h.LOOPBACK, self.upstream_port))
            self.socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pass(self, data):
        with self.cond:
            gate = self.gate
            if gate is None or self.pattern not in data:
                return
            self.gate = None  # one connection only
            self.held += 1
            self.cond.notify_all()
        gate.wait(60)

    def _pump(self, src, dst, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client:
                    self._pass(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def hold(self, command):
        name = command.encode()
        with self.cond:
            self.pattern = b"$%d\r\n%s\r\n" % (len(name), name)
            self.gate = threading.Event()
            self.released = self.gate
            self.held = 0

    def wait_held(self, timeout=10.0):
        with self.cond:
            return self.cond.wait_for(lambda: self.held >= 1, timeout)

    def release(self):
        with self.cond:
            self.gate = None
            released = getattr(self, "released", None)
        if released is not None:
            released.set()

    def stop(self):
        self.release()
        self.listener.close()
        for s in self.socks:
            s.close()


class ReportIsolation(h.StackTestCase):
    """One event loop (server.threads 1), and a report whose Redis scan is
    held at Redis: callers' steps are still answered on that loop."""

    PER_TEST = True
    INSTANCES = 0

    def test_step_answered_while_a_report_scan_is_held(self):
        """A report is mid-scan (its first read, the XRANGE that finds the
        stream's oldest entry, held before Redis) on a
        server with a single event loop; a caller's whole ANI ->
        security call is answered meanwhile, and the report still gets its
        200 once the scan goes on."""
        front = RedisFront(self.redis.port)
        self.addCleanup(front.stop)
        cfg = self.make_config(self.stack)
        cfg["redis"]["url"] = front.url
        cfg["redis"]["commandTimeoutMs"] = 5000
        cfg["server"] = {"threads": 1}
        svc = self.stack.authflow(cfg)

        front.hold("XRANGE")
        report = {}
        t = threading.Thread(target=lambda: report.update(
            r=svc.request("GET", "/v1/reports/interactions", timeout=30)), daemon=True)
        t.start()
        self.assertTrue(front.wait_held(), "the report never reached Redis")

        conv = new_id("iso")
        assert_ok(self, svc.start_session(conv, ani="+13175550116", timeout=30),
                  state="awaiting_security")
        assert_ok(self, svc.security(conv, ANA["answer"], timeout=30), outcome="verified")
        status, _, _ = svc.request("GET", "/healthz", timeout=30)
        self.assertEqual(status, 200)
        self.assertTrue(t.is_alive() and front.held == 1 and "r" not in report,
                        "the report was no longer held: %r" % report)
        front.release()
        t.join(timeout=30)
        status, _, body = report["r"]
        self.assertEqual(status, 200, body)

    def test_report_traffic_refuses_no_handoff_and_no_scrape(self):
        """The report thread is held (its Redis read held at Redis) and its
        queue overflows (503s); meanwhile POST /v1/handoffs and /metrics
        (their own queue and thread) and /dashboard (no queue) all answer
        at once, a no-key dashboard flood included."""
        front = RedisFront(self.redis.port)
        self.addCleanup(front.stop)
        cfg = self.make_config(self.stack)
        cfg["redis"]["url"] = front.url
        cfg["redis"]["commandTimeoutMs"] = 5000
        cfg["handoffKeys"] = ["itest-handoff-key-isolation-01"]
        cfg["handoff"] = {"secret": "itest-handoff-secret-isolation-not-for-production-01"}
        svc = self.stack.authflow(cfg)

        front.hold("XRANGE")
        answers = []
        lock = threading.Lock()

        def report():
            r = svc.request("GET", "/v1/reports/interactions?format=csv", timeout=60)
            with lock:
                answers.append(r[0])

        threads = [threading.Thread(target=report, daemon=True) for _ in range(80)]
        for t in threads:
            t.start()
        self.assertTrue(front.wait_held(), "the report never reached Redis")
        h.wait_until(lambda: answers.count(503) >= 80 - 1 - 64, 20,
                     what="the report queue to overflow")
        flood = [threading.Thread(target=lambda: svc.request("GET", "/dashboard", key=None),
                                  daemon=True) for _ in range(40)]
        for t in flood:
            t.start()
        for _ in range(10):
            started = time.monotonic()
            status, _, body = svc.request("POST", "/v1/handoffs", {
                "customerId": ANA["id"], "customerName": ANA["name"], "verified": True},
                key="itest-handoff-key-isolation-01", timeout=10)
            self.assertEqual(status, 201, body)
            status, _, body = svc.request("GET", "/metrics", timeout=10)
            self.assertEqual(status, 200, body)
            status, _, _ = svc.request("GET", "/dashboard", key=None, timeout=10)
            self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - started, 2.0)
        for t in flood:
            t.join(timeout=10)
        front.release()
        for t in threads:
            t.join(timeout=60)
        # Every report was answered (the held read may have timed out: 503).
        self.assertEqual(answers.count(200) + answers.count(503), 80, answers)


if __name__ == "__main__":
    unittest.main()
