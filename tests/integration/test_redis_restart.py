"""Redis restarting under a running authflow costs no caller a 503.

Every event loop keeps its own non-blocking Redis connection. When Redis
restarts, each loop reconnects without blocking; a step that arrives
meanwhile waits for the new connection (up to redis.connectTimeoutMs)
instead of failing (through Genesys, a 503 sends the caller to an agent),
and the loop goes on serving everything else.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_redis_restart.py -v
"""

import threading
import unittest

import harness as h
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


if __name__ == "__main__":
    unittest.main()
