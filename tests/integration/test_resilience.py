"""Redis outages, SIGTERM, --check-config and the log audit (SPEC sections 5
and 6).

Each test builds its own Redis + CRM + authflow, because these tests kill,
pause and restart them.
Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_resilience.py -v
"""

import json
import os
import socket
import subprocess
import threading
import time
import unittest

import harness as h
from harness import ANA, JIN, assert_error, assert_ok, new_id


class FreshStack(h.StackTestCase):
    """A new Redis, CRM and authflow for every test."""

    PER_TEST = True
    CRM_TIMEOUT_MS = 5000

    def wait_recovered(self, probe, timeout=5.0):
        """Wait until probe() answers 200 several times in a row: the service has
        more than one worker thread, each with its own Redis connection that
        reconnects on its next use (after a short back-off)."""
        def steady():
            for _ in range(6):
                if probe()[0] != 200:
                    return False
                time.sleep(0.05)
            return True

        h.wait_until(steady, timeout, interval=0.1, what="authflow to use Redis again")

    def timed(self, call):
        t0 = time.monotonic()
        result = call()
        return result, time.monotonic() - t0


class RedisOutage(FreshStack):
    """Genesys's data action timeout is 3 s here: a step's budget is 2.5 s
    (config_step_budget_ms), the most a step waits for Redis to come back
    before its 503; once Redis has been away longer than that, answers are
    fast 503s."""

    BUDGET_S = 2.5

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["genesys"] = {"dataActionTimeoutSeconds": 3}
        return cfg

    def test_redis_killed_then_restarted(self):
        """With Redis gone every session request gets 503 unavailable: within
        the step's budget while the outage is younger than it, then in under
        1 s; /readyz is a fast 503 and /healthz stays 200. When Redis comes
        back on the same port, requests succeed again without restarting
        authflow."""
        cid = new_id("before")
        assert_ok(self, self.svc.start_session(cid, ani="+13175550116"))
        self.redis.kill()
        killed = time.monotonic()

        calls = {
            "start": lambda: self.svc.start_session(new_id("down")),
            "get": lambda: self.svc.get(cid),
            "security": lambda: self.svc.security(cid, ANA["answer"]),
            "delete": lambda: self.svc.delete(cid),
        }
        for _ in range(2):  # the second round: the outage is older than the budget
            for name, call in calls.items():
                young = time.monotonic() - killed < self.BUDGET_S
                response, took = self.timed(call)
                assert_error(self, response, 503, "unavailable")
                self.assertLess(took, self.BUDGET_S + 0.5 if young else 1.0,
                                "%s took %.2f s with Redis down" % (name, took))
        (status, _, body), took = self.timed(
            lambda: self.svc.request("GET", "/readyz", key=None))
        self.assertEqual(status, 503, body)
        self.assertLess(took, 1.0)
        status, _, _ = self.svc.request("GET", "/healthz", key=None)
        self.assertEqual(status, 200)
        self.assertEqual(self.crm.stats()["verifications"], 0,
                         "a step ran against the CRM without its session")

        self.redis = self.stack.start(h.Redis(port=self.redis.port))
        fresh = new_id("after")

        self.wait_recovered(lambda: self.svc.start_session(fresh, ani="+13175550116"))
        assert_ok(self, self.svc.security(fresh, ANA["answer"]), outcome="verified")
        status, _, _ = self.svc.request("GET", "/readyz", key=None)
        self.assertEqual(status, 200)
        self.assertTrue(self.svc.alive())

    def test_redis_unresponsive_is_a_bounded_503(self):
        """A Redis that accepts connections but never answers (SIGSTOP) must not
        hang requests: 503 unavailable within the step's budget (each copy of
        a command bounded by the command timeout, sent again until the
        budget is spent), /readyz within 2 s; after SIGCONT it works
        again."""
        cid = new_id("paused")
        assert_ok(self, self.svc.start_session(cid, ani="+13175550116"))
        self.redis.pause()
        try:
            for name, call, limit in [
                    ("get", lambda: self.svc.get(cid), self.BUDGET_S + 1.0),
                    ("start", lambda: self.svc.start_session(new_id("p")), self.BUDGET_S + 1.0),
                    ("readyz", lambda: self.svc.request("GET", "/readyz", key=None), 2.0)]:
                (status, _, body), took = self.timed(call)
                self.assertEqual(status, 503, "%s: %r" % (name, body))
                self.assertLess(took, limit, "%s took %.2f s against a stuck Redis" % (name, took))
        finally:
            self.redis.resume()

        self.wait_recovered(lambda: self.svc.get(cid))
        assert_ok(self, self.svc.security(cid, ANA["answer"]), outcome="verified")


class Shutdown(FreshStack):
    GATED_CRM = True  # the in-flight step waits at the gate, not on a timer
    CRM_TIMEOUT_MS = 20000

    def test_sigterm_finishes_in_flight_request(self):
        """SIGTERM while a step is held on its way to the CRM: new requests
        are not served while it is held, then (released) it still gets its
        200 answer, and the process exits 0 within 10 s."""
        cid = new_id("drain")
        assert_ok(self, self.svc.start_session(cid, ani="+13175550116"),
                  state="awaiting_security")
        self.gate.hold("/verify")
        outcome = {}

        def slow_step():
            try:
                outcome["response"] = self.svc.security(cid, ANA["answer"], timeout=15)
            except Exception as e:  # noqa: BLE001 - reported below
                outcome["error"] = e

        worker = threading.Thread(target=slow_step, daemon=True)
        worker.start()
        self.assertTrue(self.gate.wait_held(1), "the step never reached the CRM")
        t0 = time.monotonic()
        self.svc.terminate()
        h.wait_until(lambda: any(e.get("msg") == "draining" for e in self.svc.log_entries())
                     or not self.svc.alive(), 3.0, what="authflow to start draining")

        # A new request during the drain is not served a session answer.
        try:
            status, _, body = self.svc.start_session(new_id("late"), timeout=3)
            self.assertNotEqual(status, 200, "a new request was served while draining")
        except (ConnectionError, socket.timeout, OSError):
            pass  # refused: not accepting any more
        self.assertTrue(worker.is_alive() and self.gate.waiting == 1,
                        "the in-flight step was no longer held: %r" % outcome)
        self.gate.release()

        worker.join(timeout=15)
        self.assertFalse(worker.is_alive(), "the in-flight request never got an answer")
        self.assertNotIn("error", outcome, "in-flight request failed: %r" % outcome.get("error"))
        assert_ok(self, outcome["response"], state="completed", outcome="verified")
        try:
            rc = self.svc.proc.wait(timeout=max(0.1, 10 - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            self.fail("authflow did not exit within 10 s of SIGTERM")
        self.svc.assert_clean_exit(self, rc)


class CheckConfig(h.StackTestCase):
    """authflow run to its exit on a config file; the stack is a temp dir."""

    PER_TEST = True

    @classmethod
    def start_stack(cls, stack):
        stack.dir = stack.tempdir("authflow-cfg-")

    @property
    def dir(self):
        return self.stack.dir

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    VALID = {"apiKeys": [h.API_KEY], "redis": {"url": "redis://127.0.0.1:6399/0"},
             "crm": {"baseUrl": "http://127.0.0.1:8089", "timeoutMs": 2000},
             "lockout": {"maxFailures": 3, "windowSeconds": 600},
             "serviceLines": {"retail": {"aniLookup": True, "verification": True,
                                         "identifierType": "account_number",
                                         "maxIdentifyAttempts": 3, "maxVerifyAttempts": 3,
                                         "defaultLanguage": "es-ES"}}}

    def test_valid_file_exits_zero(self):
        """--check-config on a valid file exits 0 (no Redis or CRM needed)."""
        rc, out = h.check_config(self.write("valid.json", self.VALID))
        self.assertEqual(rc, 0, out)

    def test_invalid_files_exit_nonzero_naming_the_key(self):
        """--check-config on an invalid file exits non-zero and names the key."""
        retail = self.VALID["serviceLines"]["retail"]
        cases = [
            ("lockout.maxFailures", dict(self.VALID, lockout={"maxFailures": 0})),
            ("lockout.maxFailures", dict(self.VALID, lockout={"maxFailures": "three"})),
            ("serviceLines.retail.maxIdentifyAttempts",
             dict(self.VALID, serviceLines={"retail": dict(retail, maxIdentifyAttempts=-1)})),
            ("serviceLines.retail.identifierType",
             dict(self.VALID, serviceLines={"retail": dict(retail, identifierType="passport")})),
            ("serviceLines.retail.verification",
             dict(self.VALID, serviceLines={"retail": dict(retail, verification="yes")})),
            ("redis.url", dict(self.VALID, redis={"url": "http://127.0.0.1:6379"})),
            ("crm.baseUrl", dict(self.VALID, crm={"baseUrl": 5})),
            ("lockuot", dict(self.VALID, lockuot={"maxFailures": 3})),
        ]
        for i, (key, cfg) in enumerate(cases):
            with self.subTest(key=key, case=i):
                rc, out = h.check_config(self.write("bad%d.json" % i, cfg))
                self.assertNotEqual(rc, 0, "accepted an invalid file: %s" % out)
                self.assertIn(key, out)

    def test_unreadable_files_exit_nonzero(self):
        """A syntax error or a missing file is refused too."""
        rc, out = h.check_config(self.write("syntax.json", '{"apiKeys": ["x",]'))
        self.assertNotEqual(rc, 0, out)
        rc, out = h.check_config(os.path.join(self.dir, "missing.json"))
        self.assertNotEqual(rc, 0, out)

    def test_service_refuses_to_start_with_invalid_file(self):
        """Without --check-config an invalid file stops the service at once:
        non-zero exit, the key named, never listening."""
        path = self.write("bad.json", dict(self.VALID, lockout={"maxFailures": 0}))
        rc, text = h.run_authflow(["--config", path], timeout=10,
                                  env={"AUTHFLOW_PORT": "0"})
        self.assertIsNotNone(rc, "authflow kept running with an invalid configuration")
        self.assertNotEqual(rc, 0)
        self.assertIn("lockout.maxFailures", text)
        self.assertNotIn('"msg":"listening"', text)

    def test_port_in_use_exits_nonzero(self):
        """The port is taken by another socket (no SO_REUSEPORT): authflow
        says it cannot listen and exits non-zero instead of hanging with
        some loops started (every loop it started is undone first)."""
        taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for threads in (1, 3):
            cfg = dict(self.VALID, server={"bindAddress": "127.0.0.1", "port": port,
                                           "threads": threads})
            rc, text = h.run_authflow(["--config", self.write("busy.json", cfg)], timeout=10)
            self.assertIsNotNone(rc, "authflow hung when it could not listen (%d loops)"
                                 % threads)
            self.assertNotEqual(rc, 0)
            self.assertIn("could not listen", text)
            self.assertNotIn('"msg":"listening"', text)


class LogAudit(FreshStack):
    LOG_LEVEL = "debug"  # the most verbose level must still mask

    ANI_DIGITS = ["13125550142", "3125550142", "5550142"]  # more than the last 4
    SECRETS = ["73918264", "86420975"]  # the right and a wrong answer
    IDENTIFIERS = ["48213957"]  # JIN's account number

    def test_logs_hold_no_answers_ani_or_identifiers(self):
        """After full calls with a known ANI, an identifier and security answers,
        the log holds neither the answers nor the full ANI or identifier digits,
        Redis holds no answer, and every request left a request line with
        method, route, status and latency."""
        first = new_id("audit")
        assert_ok(self, self.svc.start_session(first, ani="tel:+13125550142"),
                  state="awaiting_security", customerId=JIN["id"])
        assert_ok(self, self.svc.security(first, "86420975"), lastResult="wrong_answer")
        assert_ok(self, self.svc.security(first, JIN["answer"]), outcome="verified")

        second = new_id("audit")
        assert_ok(self, self.svc.start_session(second, ani="anonymous"),
                  state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(second, JIN["accountNumber"],
                                            identifier_type="account_number"),
                  state="awaiting_security", customerId=JIN["id"])
        assert_ok(self, self.svc.security(second, JIN["answer"]), outcome="verified")

        third = new_id("audit")
        assert_ok(self, self.svc.start_session(third), state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(third, "312-555-0142", identifier_type="phone"),
                  state="awaiting_security", customerId=JIN["id"])
        # A refused request must not echo the answer either.
        assert_error(self, self.svc.request("POST", "/v1/sessions/%s/security" % third,
                                            raw_body=b'{"answer":"73918264",}'),
                     400, "invalid_json")
        assert_ok(self, self.svc.security(third, JIN["answer"]), outcome="verified")

        stored = self.redis.dump_all_values()
        for secret in self.SECRETS:
            self.assertNotIn(secret.encode(), stored, "a security answer is stored in Redis")

        self.svc.stop()
        text = self.svc.log_text()
        for value in self.SECRETS + self.ANI_DIGITS + self.IDENTIFIERS:
            self.assertNotIn(value, text, "the log holds %s" % value)

        entries = [e for e in self.svc.log_entries() if e.get("msg") == "request"]
        for cid, routes in [(first, {"/v1/sessions", "/v1/sessions/{id}/security"}),
                            (second, {"/v1/sessions", "/v1/sessions/{id}/identifier",
                                      "/v1/sessions/{id}/security"})]:
            mine = [e for e in entries if e.get("conversationId") == cid]
            self.assertEqual({e.get("route") for e in mine}, routes, mine)
            for e in mine:
                self.assertIn(e.get("method"), ("POST", "GET"))
                self.assertEqual(e.get("status"), 200, e)
                self.assertIsInstance(e.get("latencyMs"), (int, float), e)
                self.assertTrue(e.get("requestId"), e)
                self.assertIn("outcome", e)
        refused = [e for e in entries if e.get("conversationId") == third
                   and e.get("status") == 400]
        self.assertEqual(len(refused), 1, "the refused request was not logged with its status")


if __name__ == "__main__":
    unittest.main()
