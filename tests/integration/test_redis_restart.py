"""Redis restarting under a running authflow costs no caller a 503.

Every event loop keeps its own non-blocking Redis connection. When Redis
restarts, each loop reconnects without blocking; a step that arrives
meanwhile waits for the new connection (within its step's budget) instead
of failing (through Genesys, a 503 sends the caller to an agent), a step
whose reply was lost is sent again with its idempotency key, and the loop
goes on serving everything else. Under paced load of complete calls: a
SHUTDOWN and restart from the AOF, and a kill -9 and restart with
appendfsync always, fail no step and apply nothing twice. The offload
thread's blocking connection (handoff creation, reports) waits the same way.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_redis_restart.py -v
"""

import threading
import time
import unittest

import harness as h
import redis_faults as rf
from harness import assert_ok, new_id


class RedisRestart(h.StackTestCase):
    PER_TEST = True  # Redis is killed and restarted

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["server"] = {"threads": 4}
        return cfg

    def test_no_503_after_restart(self):
        """Warm every worker's connection, restart Redis on the same port,
        then every request succeeds at once (no 503 while Redis is up)."""
        for _ in range(40):
            assert_ok(self, self.svc.start_session(new_id("warm")))
        self.redis.kill()
        self.redis.start()
        statuses = []
        for i in range(40):
            conv = new_id("after")
            statuses.append(self.svc.start_session(conv)[0])
            statuses.append(self.svc.get(conv)[0])
        self.assertEqual(set(statuses), {200}, statuses)


    def test_step_waits_through_a_restart(self):
        """Redis is down when the steps arrive: each waits for the loop's
        new connection (within redis.connectTimeoutMs, the reconnect grace)
        instead of failing, and every one is answered 200 once Redis is
        back. Ordered, not timed: Redis starts only after every request has
        been sent."""
        cfg = self.make_config(self.stack)
        cfg["redis"]["connectTimeoutMs"] = 5000
        svc = self.stack.authflow(cfg)
        for _ in range(8):
            assert_ok(self, svc.start_session(new_id("warm")))
        self.redis.kill()
        results = {}
        sent = threading.Barrier(9)

        def step(i):
            conv = new_id("during")
            sent.wait(timeout=10)
            results[i] = svc.start_session(conv, timeout=30)

        threads = [threading.Thread(target=step, args=(i,), daemon=True) for i in range(8)]
        for t in threads:
            t.start()
        sent.wait(timeout=10)
        self.redis.start()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(sorted(results), list(range(8)))
        statuses = [results[i][0] for i in range(8)]
        self.assertEqual(statuses, [200] * 8, [results[i] for i in range(8)])


    def test_reconnect_wait_holds_no_loop(self):
        """One event loop (server.threads 1) and Redis down: a step waits
        for the reconnect, and meanwhile the same loop still answers
        /healthz and a validation error (no Redis needed). Ordered: the
        step is still unanswered when those come back; then Redis starts
        and the step gets its 200."""
        cfg = self.make_config(self.stack)
        cfg["server"] = {"threads": 1}
        cfg["redis"]["connectTimeoutMs"] = 5000
        svc = self.stack.authflow(cfg)
        assert_ok(self, svc.start_session(new_id("warm")))
        self.redis.kill()
        result = {}
        waiting = threading.Thread(
            target=lambda: result.update(r=svc.start_session(new_id("held"), timeout=30)),
            daemon=True)
        waiting.start()
        status, _, _ = svc.request("GET", "/healthz", timeout=30)
        self.assertEqual(status, 200)
        status, _, body = svc.request("POST", "/v1/sessions", {"serviceLine": "retail"},
                                      timeout=30)
        self.assertEqual(status, 400, body)
        self.assertNotIn("r", result, "the step was answered before Redis came back")
        self.assertTrue(waiting.is_alive())
        self.redis.start()
        waiting.join(timeout=30)
        self.assertEqual(result["r"][0], 200, result["r"])


class OffloadRestart(h.StackTestCase):
    PER_TEST = True

    @classmethod
    def make_config(cls, stack, **overrides):
        return rf.fault_config(super().make_config(stack, **overrides))

    def test_offload_waits_through_a_restart(self):
        """The offload thread's blocking connection: a handoff creation and a
        report requested while Redis is down wait for it (within the step's
        budget, resending with the same idempotency key) instead of failing,
        and are answered once Redis is back, 1 s later."""
        payload = {"customerId": h.JIN["id"], "customerName": h.JIN["name"],
                   "verified": True}
        status, _, body = self.svc.request("POST", "/v1/handoffs", payload,
                                           key=rf.HANDOFF_KEY)
        self.assertEqual(status, 201, body)  # the offload connection is made
        now = time.time()
        report = "/v1/reports/summary?from=%s&to=%s" % (h.iso(now - 60), h.iso(now + 60))
        self.redis.kill()
        results = {}

        def handoff():
            results["handoff"] = self.svc.request("POST", "/v1/handoffs", payload,
                                                  key=rf.HANDOFF_KEY, timeout=30)

        def summary():
            results["report"] = self.svc.request("GET", report, timeout=30)
        threads = [threading.Thread(target=f, daemon=True) for f in (handoff, summary)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        self.assertEqual(results, {}, "answered while Redis was down")
        self.redis.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results["handoff"][0], 201, results["handoff"])
        self.assertEqual(results["report"][0], 200, results["report"])
        self.assertEqual(len(self.redis.keys(h.KEY_PREFIX + "handoff:code:*")), 1)


class _UnderLoad(h.StackTestCase):
    """Paced complete calls (redis_faults) while Redis goes away and comes
    back from its AOF, authflow at its defaults (4 loops): zero failed
    steps, and nothing applied twice (the steps in flight are sent again
    with their idempotency keys; the steps that arrive meanwhile wait
    within their budget)."""

    PER_TEST = True
    APPENDFSYNC = "always"

    @classmethod
    def start_redis(cls, stack):
        return stack.start(h.Redis(aof=True, args=["--appendfsync", cls.APPENDFSYNC]))

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = rf.fault_config(super().make_config(stack, **overrides))
        cfg["server"] = {"threads": 4}
        return cfg

    def _under_load(self, fault):
        tally = rf.paced_calls(self.svc, rate=20, seconds=4, during=fault, at=1.5)
        self.assertGreater(tally.steps, 300)
        rf.check_applied_once(self, self.redis, tally)
        return tally


class KillUnderLoad(_UnderLoad):
    APPENDFSYNC = "always"

    def test_kill9_and_restart_with_appendfsync_always(self):
        """kill -9 mid-load, then a restart from the AOF: with
        appendfsync always every acknowledged write is on disk."""
        down = {}

        def crash():
            self.redis.kill()
            t = time.monotonic()
            self.redis.start()
            down["ms"] = (time.monotonic() - t) * 1000
        self._under_load(crash)
        self.assertLess(down["ms"], 2000)


class ShutdownUnderLoad(_UnderLoad):
    APPENDFSYNC = "everysec"

    def test_shutdown_and_restart_from_the_aof(self):
        """SHUTDOWN (Redis writes and syncs its AOF, closes every
        connection) mid-load, then a restart from the AOF."""
        def restart():
            try:
                self.redis.command("SHUTDOWN")
            except (OSError, h.RedisError):
                pass  # the connection closes as Redis exits
            self.redis.proc.wait(timeout=10)
            self.redis.start()
        self._under_load(restart)


if __name__ == "__main__":
    unittest.main()
