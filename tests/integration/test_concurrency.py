"""Races and a slow CRM (SPEC section 6: "Attempt limits hold under
concurrency"; section 4: "a slow CRM must not stall other calls").

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_concurrency.py -v
"""

import threading
import time
import unittest

import harness as h
from harness import ANA, JIN, LENA, assert_ok, new_id

RACERS = 50
MAX_ATTEMPTS = 3


def race(n, call):
    """Run call(i) in n threads released together; returns the results in order.

    Each call makes its own HTTP connection. An exception becomes the result.
    """
    barrier = threading.Barrier(n, timeout=20)
    results = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = call(i)
        except Exception as e:  # noqa: BLE001 - reported by the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if any(t.is_alive() for t in threads):
        raise AssertionError("racing requests did not finish within 60 s")
    return results


class Concurrency(h.StackTestCase):
    SERVICE_LINES = {"retail": h.service_line(maxIdentifyAttempts=MAX_ATTEMPTS,
                                              maxVerifyAttempts=MAX_ATTEMPTS)}
    # High enough that the cross-call lockout never interferes here.
    LOCKOUT = {"maxFailures": 100, "windowSeconds": 600}
    CRM_TIMEOUT_MS = 8000

    def check_race(self, results, crm_calls):
        """Every racer got 200 or 409 (busy, or wrong_state once completed); the
        CRM saw no more calls than the limit and exactly one per 200 answer; the
        200 answers each show a different number of attempts left."""
        ok = []
        for r in results:
            self.assertNotIsInstance(r, Exception, "a racing request failed: %r" % (r,))
            status, _, body = r
            if status == 200:
                ok.append(h.assert_session_answer(body))
                continue
            self.assertEqual(status, 409, "racer got %s %r" % (status, body))
            self.assertIn(body.get("error"), ("busy", "wrong_state"), body)
            if body["error"] == "wrong_state":
                self.assertEqual(body.get("state"), "completed", body)
        self.assertGreaterEqual(len(ok), 1, "no racer got through")
        self.assertLessEqual(crm_calls, MAX_ATTEMPTS, "the CRM saw more calls than the limit")
        self.assertEqual(len(ok), crm_calls, "CRM calls without a 200 answer (or vice versa)")
        remaining = [b["attemptsRemaining"] for b in ok]
        self.assertEqual(len(set(remaining)), len(remaining),
                         "two 200 answers consumed the same attempt: %s" % remaining)
        return ok

    def test_parallel_wrong_answers_respect_max_verify_attempts(self):
        """50 simultaneous wrong answers on one session (no CRM delay, and with a
        100 ms CRM delay): at most maxVerifyAttempts verifications reach the CRM,
        and the session stays consistent; finishing it sequentially uses exactly
        maxVerifyAttempts verifications in all."""
        for delay in (0, 100):
            with self.subTest(crm_delay_ms=delay):
                cid = new_id("racesec")
                assert_ok(self, self.svc.start_session(cid, ani="+13175550116"),
                          state="awaiting_security", attemptsRemaining=MAX_ATTEMPTS)
                self.crm.set(delay_ms=delay)
                self.crm.reset()
                results = race(RACERS, lambda i: self.svc.security(cid, "%04d" % (9000 + i)))
                used = self.crm.stats()["verifications"]
                ok = self.check_race(results, used)

                final = assert_ok(self, self.svc.get(cid), verified=False,
                                  customerId=ANA["id"])
                if used == MAX_ATTEMPTS:
                    h.assert_session_answer(final, state="completed", outcome="verify_failed",
                                            nextAction="transfer_to_agent")
                else:
                    h.assert_session_answer(final, state="awaiting_security",
                                            attemptsRemaining=MAX_ATTEMPTS - used)
                    if len(ok) == 1:
                        self.assertEqual(final, ok[0])
                # Finish the session one answer at a time.
                for _ in range(MAX_ATTEMPTS):
                    _, _, body = self.svc.security(cid, "0000")
                    if body.get("state") == "completed" or body.get("error"):
                        break
                assert_ok(self, self.svc.get(cid), state="completed", outcome="verify_failed")
                self.assertEqual(self.crm.stats()["verifications"], MAX_ATTEMPTS)

    def test_parallel_identifiers_respect_max_identify_attempts(self):
        """50 simultaneous unknown identifiers on one session: at most
        maxIdentifyAttempts lookups reach the CRM and the session is consistent."""
        for delay in (0, 100):
            with self.subTest(crm_delay_ms=delay):
                cid = new_id("raceid")
                assert_ok(self, self.svc.start_session(cid), state="awaiting_identifier")
                self.crm.set(delay_ms=delay)
                self.crm.reset()
                results = race(RACERS, lambda i: self.svc.identifier(cid, "%06d" % (900000 + i)))
                used = self.crm.stats()["lookups"]
                self.check_race(results, used)
                final = assert_ok(self, self.svc.get(cid), identified=False)
                if used == MAX_ATTEMPTS:
                    h.assert_session_answer(final, state="completed", outcome="identify_failed")
                else:
                    h.assert_session_answer(final, state="awaiting_identifier",
                                            lastResult="no_match",
                                            attemptsRemaining=MAX_ATTEMPTS - used)

    def test_parallel_right_and_wrong_answers(self):
        """The right answer racing 49 wrong ones: whatever wins, the CRM sees at
        most maxVerifyAttempts verifications and the final state agrees with the
        answers returned (verified only if a 200 said so)."""
        cid = new_id("racemix")
        assert_ok(self, self.svc.start_session(cid, ani=JIN["phones"][0]),
                  state="awaiting_security")
        self.crm.set(delay_ms=20)
        self.crm.reset()
        results = race(RACERS, lambda i: self.svc.security(
            cid, JIN["answer"] if i == RACERS // 2 else "%04d" % i))
        used = self.crm.stats()["verifications"]
        ok = self.check_race(results, used)
        final = assert_ok(self, self.svc.get(cid))
        said_verified = any(b["verified"] for b in ok)
        self.assertEqual(final["verified"], said_verified)
        if said_verified:
            h.assert_session_answer(final, state="completed", outcome="verified")

    def test_slow_crm_does_not_stall_other_calls(self):
        """While one step waits 2 s on the CRM, /healthz, GET of another session,
        a start that needs no CRM, and a second step on the busy session (409
        busy) all answer in under 300 ms; the slow step then completes."""
        other = new_id("other")
        assert_ok(self, self.svc.start_session(other), state="awaiting_identifier")
        slow = new_id("slow")
        assert_ok(self, self.svc.start_session(slow, ani="+13175550116"),
                  state="awaiting_security")
        self.crm.set(delay_ms=2000)
        self.crm.reset()

        outcome = {}

        def slow_step():
            t0 = time.monotonic()
            outcome["response"] = self.svc.security(slow, ANA["answer"], timeout=15)
            outcome["elapsed"] = time.monotonic() - t0

        worker = threading.Thread(target=slow_step, daemon=True)
        worker.start()
        try:
            h.wait_until(lambda: self.crm.stats()["inFlight"] >= 1, 3.0,
                         what="the slow verification to reach the CRM")
            checks = [
                ("healthz", lambda: self.svc.request("GET", "/healthz", key=None), 200),
                ("get other", lambda: self.svc.get(other), 200),
                ("start without CRM", lambda: self.svc.start_session(new_id("fast")), 200),
                ("busy session", lambda: self.svc.security(slow, "0000"), 409),
            ]
            for _ in range(3):
                for name, call, want in checks:
                    t0 = time.monotonic()
                    status, _, body = call()
                    took = time.monotonic() - t0
                    self.assertEqual(status, want, "%s: %r" % (name, body))
                    if want == 409:
                        self.assertEqual(body.get("error"), "busy")
                    self.assertLess(took, 0.3, "%s took %.0f ms during a slow CRM call"
                                    % (name, took * 1000))
            self.assertGreaterEqual(self.crm.stats()["inFlight"], 1,
                                    "the slow step finished before the checks ran")
        finally:
            worker.join(timeout=15)
        self.assertFalse(worker.is_alive(), "the slow step never answered")
        assert_ok(self, outcome["response"], state="completed", outcome="verified")
        self.assertGreaterEqual(outcome["elapsed"], 1.9)
        self.assertEqual(self.crm.stats()["verifications"], 1)

    def test_slow_crm_calls_run_in_parallel(self):
        """Ten steps on ten sessions each waiting 1 s on the CRM overlap: all ten
        finish in well under ten seconds and the CRM sees them in flight together."""
        sessions = []
        for i in range(10):
            cid = new_id("par%d" % i)
            customer = (ANA, JIN, LENA)[i % 3]
            assert_ok(self, self.svc.start_session(cid, ani=customer["phones"][0]),
                      state="awaiting_security")
            sessions.append((cid, customer))
        self.crm.set(delay_ms=1000)
        self.crm.reset()
        t0 = time.monotonic()
        results = race(len(sessions), lambda i: self.svc.security(
            sessions[i][0], sessions[i][1]["answer"], timeout=15))
        took = time.monotonic() - t0
        for r in results:
            self.assertNotIsInstance(r, Exception)
            assert_ok(self, r, state="completed", outcome="verified")
        self.assertLess(took, 3.0, "10 x 1 s CRM calls took %.1f s: serialised?" % took)
        self.assertGreaterEqual(self.crm.stats()["maxInFlight"], 5)


if __name__ == "__main__":
    unittest.main()
