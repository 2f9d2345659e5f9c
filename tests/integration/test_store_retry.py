"""A reply lost after the command was written costs the caller nothing
and applies nothing twice.

authflow talks to Redis through a TCP proxy on loopback (redis_faults.
RedisProxy) that passes a chosen command on to Redis, waits for Redis's
reply (so the script ran) and then closes the connection instead of
passing the reply back. authflow sends the command again on a new
connection with the same idempotency key, and Redis answers it with the
reply it kept: the step succeeds, and the attempt, the lockout and limit
counters, the report counters and event and the handoff redemption are
each applied once. This is done at every point of a complete call: each
script of each kind of call (create, reserve, handoff redemption, commit,
GET, DELETE, and the handoff creation on the offload thread's blocking
connection) loses its reply in turn. Then the same under paced load, the
proxy dropping a reply every few commands.

Before issue 24 the lost reply was a 503 (the command might have run).

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_store_retry.py -v
"""

import threading
import time
import unittest

import harness as h
import redis_faults as rf
from harness import ANA, new_id


class StoreRetry(h.StackTestCase):
    PER_TEST = True  # each test steers its own proxy

    @classmethod
    def start_redis(cls, stack):
        stack.real_redis = stack.start(h.Redis())
        stack.proxy = stack.start(rf.RedisProxy(stack.real_redis.port))
        return stack.real_redis

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = rf.fault_config(super().make_config(stack, **overrides))
        cfg["redis"]["url"] = stack.proxy.url
        cfg["server"] = {"threads": 1}
        return cfg

    proxy = property(lambda self: self.stack.proxy)

    def _lose(self, marker, nth, run):
        """Arm the proxy to lose the reply of the nth command holding marker,
        run the call, and check the reply was lost and the command sent
        again (one chunk more than commands)."""
        before = self.proxy.dropped
        self.proxy.arm(marker, nth)
        run()
        self.assertFalse(self.proxy.armed(), "the call sent fewer commands than %d" % nth)
        self.assertEqual(self.proxy.dropped, before + 1, "no reply was lost")

    def test_every_point_of_a_call(self):
        """Each command of each kind of call loses its reply in turn: every
        step answers as without the loss, and nothing is applied twice."""
        tally = rf.Tally()

        def one(kind):
            rf.CALLS[kind](self.svc, tally)

        # Commands per call holding its conversation id (create, commit,
        # then reserve and commit per step, GET, DELETE).
        points = {"A": 7, "B": 8, "C": 4}
        for kind, n in points.items():
            for nth in range(1, n + 1):
                marker = "ld%s-" % kind
                self._lose(marker, nth, lambda kind=kind: one(kind))
        # The handoff's own scripts: its creation (blocking connection of
        # the offload thread) and its redemption (the loop's).
        for nth in (1, 2):
            self._lose("handoff:code:", nth, lambda: one("C"))
        rf.check_applied_once(self, self.redis, tally)
        self.assertEqual(len(tally.calls["A"]), 7)
        self.assertEqual(len(tally.calls["C"]), 6)

    def test_lost_replies_under_load(self):
        """Paced complete calls while the proxy loses a reply every few
        commands: zero failed steps, everything applied once."""
        stop = threading.Event()

        def keep_losing():
            while not stop.is_set():
                if not self.proxy.armed():
                    self.proxy.arm("EVALSHA", 7)
                time.sleep(0.01)
        t = threading.Thread(target=keep_losing, daemon=True)
        t.start()
        try:
            tally = rf.paced_calls(self.svc, rate=15, seconds=4)
        finally:
            stop.set()
            t.join(5)
        self.assertGreater(self.proxy.dropped, 5)
        rf.check_applied_once(self, self.redis, tally)

    def test_connection_closed_while_idle_is_replaced(self):
        """Every connection is closed while idle (as by a Redis restart): the
        next step succeeds at once, and /readyz is 200 after another cut."""
        conv = new_id("idle")
        h.assert_ok(self, self.svc.start_session(conv, ani=ANA["phones"][0]),
                    state="awaiting_security")
        self.proxy.cut_all()
        h.assert_ok(self, self.svc.security(conv, ANA["answer"]), outcome="verified")
        self.proxy.cut_all()
        status, _, body = self.svc.request("GET", "/readyz", key=None)
        self.assertEqual(status, 200, body)


if __name__ == "__main__":
    unittest.main()
