"""Redis restarting under a running authflow costs no caller a 503.

Every worker thread keeps its own Redis connection. After Redis restarts,
those connections are dead; the first use of each must be retried on a
fresh connection instead of failing the caller's step (through Genesys, a
503 sends the caller to an agent).

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


if __name__ == "__main__":
    unittest.main()
