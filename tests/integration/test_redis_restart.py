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


if __name__ == "__main__":
    unittest.main()
