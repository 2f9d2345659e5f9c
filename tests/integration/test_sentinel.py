"""Redis high availability with Sentinel (issue: run it in production).

On loopback: a Redis master, one replica and three redis-sentinel processes
watching them. authflow is configured with the sentinels and the master
name only. The master is killed in the middle of a call, while a security
step waits on a slow CRM; the step and the rest of the call complete on the
promoted replica. And under paced complete calls (redis_faults), authflow at
its defaults, the master hangs and then dies: no step fails, and nothing is
applied twice (the steps written to the hung master are sent again on the
promoted replica with their idempotency keys).

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_sentinel.py -v
"""

import threading
import time
import unittest

import harness as h
import redis_faults as rf
from harness import ANA, assert_ok, new_id

MASTER_NAME = "authflow-test"


SENTINEL_CONF = """port %%(port)d
bind 127.0.0.1
sentinel monitor %(name)s 127.0.0.1 %(master)d 2
sentinel down-after-milliseconds %(name)s %(down_after)d
sentinel failover-timeout %(name)s 10000
sentinel parallel-syncs %(name)s 1
"""


def _replica_in_sync(replica):
    info = replica.command("INFO", "replication").decode()
    return "master_link_status:up" in info


def _sentinels_see_replica(sentinels):
    return all(s.command("SENTINEL", "REPLICAS", MASTER_NAME) for s in sentinels)


class _SentinelStack(h.StackTestCase):
    """Per test (the master is killed): master, replica, three sentinels,
    the demo CRM and authflow configured with the sentinels only."""

    PER_TEST = True
    CRM_TIMEOUT_MS = 5000
    DOWN_AFTER_MS = 1000  # sentinel down-after-milliseconds

    @classmethod
    def start_redis(cls, stack):
        stack.master = stack.start(h.Redis())
        stack.replica = stack.start(h.Redis(args=["--replicaof", h.LOOPBACK,
                                                  str(stack.master.port)]))
        h.wait_until(lambda: _replica_in_sync(stack.replica), 15, what="replica in sync")
        conf = SENTINEL_CONF % {"name": MASTER_NAME, "master": stack.master.port,
                                "down_after": cls.DOWN_AFTER_MS}
        stack.sentinels = [stack.start(h.Redis(sentinel_conf=conf)) for _ in range(3)]
        h.wait_until(lambda: _sentinels_see_replica(stack.sentinels), 15,
                     what="sentinels know the replica")
        return None  # authflow knows the sentinels, not a Redis URL

    @classmethod
    def make_config(cls, stack, **overrides):
        stack.redis = type("R", (), {"url": "redis://127.0.0.1:1/0"})()
        cfg = super().make_config(stack, **overrides)
        stack.redis = None
        cfg["redis"]["sentinels"] = ["127.0.0.1:%d" % s.port for s in stack.sentinels]
        cfg["redis"]["masterName"] = MASTER_NAME
        cfg["redis"]["failoverWaitMs"] = 15000
        cfg["server"] = {"threads": 4}
        return cfg

    master = property(lambda self: self.stack.master)
    replica = property(lambda self: self.stack.replica)
    sentinels = property(lambda self: self.stack.sentinels)

    def _master_port_per_sentinel(self):
        addr = self.sentinels[0].command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return int(addr[1])

    def _readyz_all_threads(self):
        """40 /readyz at once, so every worker thread answers some (and
        keeps a connection to the master of now); their statuses."""
        statuses = []
        lock = threading.Lock()

        def probe():
            status = self.svc.request("GET", "/readyz", key=None)[0]
            with lock:
                statuses.append(status)
        threads = [threading.Thread(target=probe) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return statuses



class SentinelFailover(_SentinelStack):

    def test_call_completes_on_promoted_replica(self):
        """The master dies while a security step waits on the CRM. The step
        still answers 200 (verified) once the sentinels promote the replica,
        and the session and later steps live on the new master."""
        self.assertEqual(self._master_port_per_sentinel(), self.master.port)
        conv = new_id("ha")
        body = assert_ok(self, self.svc.start_session(conv, ani="tel:+13175550116"))
        self.assertEqual(body["nextAction"], "ask_security")
        self.assertEqual(body["customerId"], ANA["id"])
        self.assertEqual(self._readyz_all_threads(), [200] * 40)

        self.crm.set(delay_ms=1500)
        result = {}

        def security():
            result["answer"] = self.svc.security(conv, ANA["answer"], timeout=30)

        t = threading.Thread(target=security, daemon=True)
        started = time.monotonic()
        t.start()
        # Let the step take its lock and count its attempt (both replicate
        # asynchronously within milliseconds), then kill the master.
        time.sleep(0.4)
        self.master.kill()
        t.join(timeout=40)
        self.assertFalse(t.is_alive(), "the security step never answered")
        elapsed = time.monotonic() - started

        body = assert_ok(self, result["answer"])
        self.assertEqual(body["outcome"], "verified")
        self.assertEqual(body["authStatus"], "identified_verified")
        self.assertLess(elapsed, 30)

        # The sentinels moved the master to the replica, and the session is
        # there, completed.
        self.assertEqual(self._master_port_per_sentinel(), self.replica.port)
        stored = h.stored_session(self.replica.command, h.KEY_PREFIX + "session:" + conv)
        self.assertEqual(stored["outcome"], "verified")
        again = assert_ok(self, self.svc.get(conv))
        self.assertEqual(again["outcome"], "verified")

        # New calls work on the promoted master.
        self.crm.normal()
        conv2 = new_id("ha")
        body = assert_ok(self, self.svc.start_session(conv2, ani="tel:+13175550116"))
        self.assertEqual(body["nextAction"], "ask_security")
        body = assert_ok(self, self.svc.security(conv2, ANA["answer"]))
        self.assertEqual(body["outcome"], "verified")
        # Every worker is ready at once, including those whose connection
        # still went to the dead master: readiness is the store's state,
        # not a leftover connection's.
        ready = [self.svc.request("GET", "/readyz", key=None)[0] for _ in range(40)]
        self.assertEqual(ready, [200] * 40)


class FailoverUnderLoad(_SentinelStack):
    """The same master, replica and sentinels; authflow at its defaults
    (no failoverWaitMs of its own) under paced complete calls while the
    master is killed: zero failed steps, nothing applied twice. The
    sentinels call the master down after 500 ms; the failover (kill to
    promotion, the sentinels' election included) takes about 2.5 s here,
    and a step's reserve waits 3 s at the defaults (config_step_reserve_ms:
    the default CRM timeout, so the default CRM budget)."""

    DOWN_AFTER_MS = 500
    CRM_TIMEOUT_MS = 3000

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = rf.fault_config(super().make_config(stack, **overrides))
        del cfg["redis"]["failoverWaitMs"]
        return cfg

    def test_failover_under_load(self):
        """The master hangs mid-load (SIGSTOP: commands written to it get
        no answer, as on a machine that froze) and is killed once the
        replica is promoted. The steps written to it are sent again on the
        promoted replica after the command timeout (before issue 24 they
        failed 503), those arriving meanwhile wait for it within their
        budget."""
        killed = {}

        def hang_master():
            self.master.pause()
            killed["at"] = time.monotonic()

            def watch():
                while self._master_port_per_sentinel() != self.replica.port:
                    time.sleep(0.02)
                killed["promoted_after"] = time.monotonic() - killed["at"]
                self.master.kill()
            threading.Thread(target=watch, daemon=True).start()
        tally = rf.paced_calls(self.svc, rate=15, seconds=6, during=hang_master, at=1.5)
        h.wait_until(lambda: "promoted_after" in killed, 10, what="promotion seen")
        self.assertLess(killed["promoted_after"], 2.9)
        self.assertEqual(self._master_port_per_sentinel(), self.replica.port)
        self.assertGreater(tally.steps, 300)
        rf.check_applied_once(self, self.replica, tally)


if __name__ == "__main__":
    unittest.main()
