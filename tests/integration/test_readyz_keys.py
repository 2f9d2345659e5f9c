"""Small hardening (issue 21, finding 8), against the real binary and a real
redis-server:

- /readyz needs no key, so anyone can flood it: each event loop answers it
  from a 100 ms cache, so the flood costs Redis at most about ten PINGs a
  second per loop (counted with INFO commandstats), while every answer
  stays right.
- API keys shorter than 16 characters are refused at load (file and
  environment, --check-config and start-up alike), and keys shorter than
  32 are warned about, naming the list and position, never the key.
"""

import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402
from harness import StackTestCase  # noqa: E402

LOOPS = 2


def ping_calls(redis):
    """PINGs Redis has served since the last CONFIG RESETSTAT."""
    info = redis.command("INFO", "commandstats").decode()
    for line in info.splitlines():
        if line.startswith("cmdstat_ping:"):
            fields = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
            return int(fields["calls"])
    return 0


class ReadyzFloodTest(StackTestCase):
    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["server"] = {"threads": LOOPS}
        return cfg

    def flood(self, seconds, clients=8):
        """GET /readyz as fast as `clients` kept-alive connections can for
        `seconds`; returns the statuses and bodies seen."""
        seen = []
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def client():
            conn = http.client.HTTPConnection(h.LOOPBACK, self.svc.port, timeout=10)
            mine = []
            try:
                while time.monotonic() < stop:
                    conn.request("GET", "/readyz")
                    r = conn.getresponse()
                    mine.append((r.status, r.read()))
            finally:
                conn.close()
            with lock:
                seen.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return seen

    def test_a_readyz_flood_costs_redis_a_bounded_number_of_pings(self):
        self.redis.command("CONFIG", "RESETSTAT")
        t0 = time.monotonic()
        seen = self.flood(2.0)
        elapsed = time.monotonic() - t0
        pings = ping_calls(self.redis)
        # One PING per loop per 100 ms at most (plus the one a loop may
        # start as the flood ends).
        bound = LOOPS * (int(elapsed / 0.1) + 2)
        print("\n  %d /readyz in %.2f s on %d loops: %d PINGs at Redis (bound %d)"
              % (len(seen), elapsed, LOOPS, pings, bound))
        self.assertGreater(len(seen), 5 * bound, "the flood was too slow to prove anything")
        self.assertLessEqual(pings, bound)
        for status, body in seen:
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body), {"status": "ready", "redis": "ok"})

    def test_readiness_follows_redis_within_the_cache_time(self):
        self.assertEqual(self.svc.request("GET", "/readyz", key=None)[0], 200)
        self.redis.pause()
        try:
            # The cached "ready" lasts at most 100 ms; then the PING times
            # out (redis.commandTimeoutMs) and the answer is 503.
            h.wait_until(lambda: self.svc.request("GET", "/readyz", key=None)[0] == 503,
                         5.0, what="/readyz to turn 503 while Redis is frozen")
        finally:
            self.redis.resume()
        h.wait_until(lambda: self.svc.request("GET", "/readyz", key=None)[0] == 200, 5.0,
                     what="/readyz to turn 200 again")


class ApiKeyLengthTest(StackTestCase):
    """Key length floor (16) and warning (below 32) at --check-config and
    start-up."""

    SHORT = "0123456789abcde"            # 15: refused
    WEAK = "0123456789abcdef-key"        # 20: warned
    GOOD = "0123456789abcdef" * 4        # 64: quiet

    def write(self, cfg):
        d = self.extra_stack().tempdir()
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def config_with(self, **lists):
        cfg = self.make_config(self.stack)
        cfg.update(lists)
        return cfg

    def test_short_keys_are_refused_in_every_list_and_never_echoed(self):
        secret = {"secret": "itest-handoff-secret-not-for-production-0123456789"}
        for lists, named in (({"apiKeys": [self.GOOD, self.SHORT]}, "apiKeys[1]"),
                             ({"reportKeys": [self.SHORT]}, "reportKeys[0]"),
                             ({"handoffKeys": [self.SHORT], "handoff": secret},
                              "handoffKeys[0]")):
            with self.subTest(named=named):
                rc, out = h.check_config(self.write(self.config_with(**lists)))
                self.assertNotEqual(rc, 0, out)
                self.assertIn(named + ": must be 16..256", out)
                self.assertNotIn(self.SHORT, out)
        # The environment is held to the same floor.
        rc, out = h.run_authflow(["--check-config"],
                                 env={"AUTHFLOW_API_KEYS": self.GOOD + "," + self.SHORT})
        self.assertNotEqual(rc, 0, out)
        self.assertIn("AUTHFLOW_API_KEYS: must be 16..256", out)
        self.assertNotIn(self.SHORT, out)

    def test_keys_under_32_characters_are_warned_about(self):
        rc, out = h.check_config(self.write(self.config_with(apiKeys=[self.GOOD, self.WEAK])))
        self.assertEqual(rc, 0, out)
        self.assertIn("warning: apiKeys[1] is shorter than 32 characters", out)
        self.assertNotIn(self.WEAK, out)
        rc, out = h.check_config(self.write(self.config_with(apiKeys=[self.GOOD])))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("shorter than 32", out)
        # At start-up: one warn line, without the key.
        svc = self.extra_stack().authflow(self.config_with(apiKeys=[self.WEAK]))
        lines = [e for e in svc.log_entries() if e.get("msg") == "short API key"]
        self.assertEqual(len(lines), 1, svc.log_text()[-2000:])
        self.assertEqual(lines[0]["level"], "warn")
        self.assertNotIn(self.WEAK, svc.log_text())
        quiet = self.extra_stack().authflow(self.config_with(apiKeys=[self.GOOD]))
        self.assertFalse([e for e in quiet.log_entries() if e.get("msg") == "short API key"])


if __name__ == "__main__":
    unittest.main()
