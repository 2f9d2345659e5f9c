"""Brute force (hardening issue, part 2): guessing answers across many calls
and two authflow instances, guessing API keys, and a timing smoke check.

Two authflow instances share one Redis, as two replicas behind a load balancer
would. The cross-call lockout counter lives in Redis, so a caller who spreads
guesses over many calls and both instances still gets lockout.maxFailures
verifications at the CRM and no more.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_bruteforce.py -v
"""

import base64
import http.client
import statistics
import threading
import time
import unittest

import harness as h
from harness import OMAR, LENA, assert_ok, new_id

MAX_FAILURES = 5
# A long key makes a prefix-dependent comparison easier to see.
LONG_KEY = "k" * 40 + "-timing-0123456789abcdefghijklmnopqrstuvwxyz" * 4


class TwoInstances(h.StackTestCase):
    """One Redis, one demo CRM, two authflow instances (A and B)."""

    INSTANCES = 2
    SERVICE_LINES = {"retail": h.service_line(maxVerifyAttempts=3)}
    LOCKOUT = {"maxFailures": MAX_FAILURES, "windowSeconds": 600}

    @classmethod
    def make_config(cls, stack, **overrides):
        overrides.setdefault("apiKeys", [h.API_KEY, h.API_KEY_2, LONG_KEY])
        return super().make_config(stack, **overrides)

    @property
    def a(self):
        return self.svcs[0]

    @property
    def b(self):
        return self.svcs[1]

    def identified(self, svc, customer):
        cid = new_id("bf")
        assert_ok(self, svc.start_session(cid), state="awaiting_identifier")
        assert_ok(self, svc.identifier(cid, customer["customerId"]),
                  state="awaiting_security", customerId=customer["id"])
        return cid

    # -- lockout ---------------------------------------------------------------

    def test_lockout_across_20_sessions_and_two_instances(self):
        """20 calls for Omar, alternating instances per step, one wrong answer
        each: the CRM sees exactly maxFailures (5) verifications; every later
        call completes 'locked' without reaching the CRM, even with the right
        answer, on either instance. Another customer is unaffected."""
        outcomes = []
        for i in range(20):
            first, second = (self.a, self.b) if i % 2 == 0 else (self.b, self.a)
            cid = new_id("bf")
            resp = first.start_session(cid)
            assert_ok(self, resp, state="awaiting_identifier")
            resp = second.identifier(cid, OMAR["customerId"])
            body = assert_ok(self, resp)
            if body["state"] == "awaiting_security":
                body = assert_ok(self, first.security(cid, "%04d" % (9000 + i)))
            outcomes.append(body["outcome"] if body["state"] == "completed"
                            else body["lastResult"])
            if i >= MAX_FAILURES:
                h.assert_session_answer(body, outcome="locked", promptId="transfer_locked",
                                        nextAction="transfer_to_agent", verified=False)
        stats = self.crm.stats()
        self.assertEqual(stats["verifications"], MAX_FAILURES,
                         "outcomes: %s" % outcomes)
        self.assertEqual(outcomes[:MAX_FAILURES], ["wrong_answer"] * MAX_FAILURES)

        # The right answer does not get through either, on either instance.
        for svc in (self.a, self.b):
            cid = new_id("bf")
            assert_ok(self, svc.start_session(cid), state="awaiting_identifier")
            assert_ok(self, svc.identifier(cid, OMAR["customerId"]), outcome="locked")
        self.assertEqual(self.crm.stats()["verifications"], MAX_FAILURES)
        counter = self.redis.command("GET", h.KEY_PREFIX + "lockout:" + OMAR["id"])
        self.assertIsNotNone(counter, "no lockout counter in Redis")
        ttl = self.redis.command("TTL", h.KEY_PREFIX + "lockout:" + OMAR["id"])
        self.assertTrue(0 < ttl <= 600, "lockout TTL %s" % ttl)

        other = new_id("bf")
        assert_ok(self, self.b.start_session(other, ani="+13175550155"),
                  customerId=LENA["id"], state="awaiting_security")
        assert_ok(self, self.a.security(other, LENA["answer"]), outcome="verified")

    def test_parallel_guessing_across_sessions_is_bounded(self):
        """20 sessions for Omar opened first (all identified before any failure),
        then each sends wrong answers in parallel until completed, half through
        A and half through B. Each session's own limit (3) and the step lock
        hold, and a verify step counts its lockout failure in Redis before the
        CRM is asked (given back if no verification failed), so however the
        20 sessions race, the CRM sees exactly maxFailures verifications.
        Once locked, the count stops growing."""
        cids = [self.identified(self.a if i % 2 else self.b, OMAR) for i in range(20)]
        errors = []

        def guess(i, cid):
            svc = self.a if i % 2 else self.b
            for n in range(4):
                status, _, body = svc.security(cid, "%04d" % (1000 + 10 * i + n))
                if status != 200:
                    errors.append((status, body))
                    return
                if body["state"] == "completed":
                    return
        threads = [threading.Thread(target=guess, args=(i, c), daemon=True)
                   for i, c in enumerate(cids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        n = self.crm.stats()["verifications"]
        print("\n  parallel guessing: %d verifications reached the CRM (maxFailures %d, "
              "20 racing sessions)" % (n, MAX_FAILURES))
        self.assertEqual(n, MAX_FAILURES)
        # Locked now: more calls add nothing.
        for svc in (self.a, self.b):
            cid = new_id("bf")
            assert_ok(self, svc.start_session(cid), state="awaiting_identifier")
            assert_ok(self, svc.identifier(cid, OMAR["customerId"]), outcome="locked")
        self.assertEqual(self.crm.stats()["verifications"], n)
        for cid in cids:
            body = assert_ok(self, self.a.get(cid), state="completed")
            self.assertIn(body["outcome"], ("locked", "verify_failed"), body)

    # -- API keys --------------------------------------------------------------

    def test_wrong_or_missing_key_is_401_on_every_route(self):
        """Every /v1 route and /metrics, every method, on both instances: no
        key, wrong keys in every scheme, near misses (prefix, suffix, case,
        padding) are 401 and change nothing."""
        cid = self.identified(self.a, OMAR)
        before = assert_ok(self, self.a.get(cid))
        routes = [("POST", "/v1/sessions", {"conversationId": new_id("k"), "serviceLine": "retail"}),
                  ("GET", "/v1/sessions/" + cid, None),
                  ("DELETE", "/v1/sessions/" + cid, None),
                  ("POST", "/v1/sessions/%s/identifier" % cid, {"identifier": "300001"}),
                  ("POST", "/v1/sessions/%s/security" % cid, {"answer": OMAR["answer"]}),
                  ("POST", "/v1/sessions/%s/opt-out" % cid, {}),
                  ("GET", "/metrics", None),
                  ("GET", "/v1/sessions/unknown-id", None)]
        # (A wrong method on a known path is 405 before the key is looked at:
        # the route table is public, so that tells nothing.)
        k = h.API_KEY
        wrong = [
            {}, {"Authorization": ""}, {"Authorization": "Bearer"},
            {"Authorization": "Bearer "}, {"Authorization": "Bearer " + k[:-1]},
            {"Authorization": "Bearer " + k + "x"}, {"Authorization": "Bearer " + k.upper()},
            {"Authorization": "Bearer " + k[1:]}, {"Authorization": "Token " + k},
            {"Authorization": k}, {"Authorization": "Bearer  x " + k},
            {"X-API-Key": ""}, {"X-API-Key": k[:-1]}, {"X-API-Key": "Bearer " + k},
            {"X-Api-Token": k}, {"Authorization": "Basic " + k},
            {"Authorization": "Basic " + base64.b64encode(k.encode()).decode()},
            {"Authorization": "Basic " + base64.b64encode((k + ":").encode()).decode()},
            {"Authorization": "Basic " + base64.b64encode(("u:" + k[:-1]).encode()).decode()},
            {"Authorization": "Basic " + base64.b64encode(("u:" + k).encode()).decode() + "!"},
            {"Authorization": "Bearer " + h.API_KEY_2[:-1], "X-API-Key": k + " "},
        ]
        crm0 = self.crm.stats()
        for svc in (self.a, self.b):
            for method, path, body in routes:
                for hdrs in wrong:
                    with self.subTest(port=svc.port, method=method, path=path, hdrs=hdrs):
                        status, _, rbody = svc.request(method, path, body=body, key=None,
                                                       headers=hdrs)
                        self.assertEqual(status, 401, rbody)
                        self.assertEqual(rbody.get("error"), "unauthorized")
        self.assertEqual(assert_ok(self, self.a.get(cid)), before)
        self.assertEqual(self.crm.stats()["requests"], crm0["requests"])
        for path in ("/healthz", "/readyz"):
            self.assertEqual(self.a.request("GET", path, key=None)[0], 200)

    def test_key_timing_smoke_check(self):
        """Smoke check only: the median 401 latency for a wrong key that shares
        all but its last byte with a real (long) key, and for one that shares
        nothing, differ by less than 0.5 ms. Network and scheduler noise is far
        larger than a byte-by-byte comparison leak, so this can only catch a
        gross regression (e.g. a per-byte delay); the real guarantee is the
        constant-time comparison in service/core/auth.c (auth_equal_ct, unit
        tested), which touches every byte of every configured key."""
        near = LONG_KEY[:-1] + ("x" if LONG_KEY[-1] != "x" else "y")
        far = "Z" * len(LONG_KEY)
        conn = http.client.HTTPConnection(h.LOOPBACK, self.a.port, timeout=5)
        samples = {near: [], far: []}

        def one(key):
            t0 = time.perf_counter()
            conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + key})
            resp = conn.getresponse()
            resp.read()
            took = time.perf_counter() - t0
            self.assertEqual(resp.status, 401)
            return took
        try:
            for _ in range(50):  # warm up
                one(near)
                one(far)
            for _ in range(1500):
                samples[near].append(one(near))
                samples[far].append(one(far))
        finally:
            conn.close()
        m_near = statistics.median(samples[near]) * 1000
        m_far = statistics.median(samples[far]) * 1000
        print("\n  401 latency medians: shared prefix %.3f ms, no shared prefix %.3f ms "
              "(diff %.3f ms, 1500 samples each)" % (m_near, m_far, m_near - m_far))
        self.assertLess(abs(m_near - m_far), 0.5)
        # And the real key works on the same route.
        self.assertEqual(self.a.request("GET", "/metrics", key=LONG_KEY)[0], 200)


if __name__ == "__main__":
    unittest.main()
