"""What an operator sees: CRM failures in the log (operation, reason,
latency, attempts; repeats rate-limited with a count of what was left out),
breaker transitions, a start that does not ask for digits while the breaker
is open (unless the line says askWhenCrmDown), 401 with WWW-Authenticate,
/healthz and /readyz bodies ending in a newline, no libmicrohttpd warning at
start, --help naming --check-crm, and --check-config warning when a step
could outlast the Genesys data action's timeout.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_operator.py -v
"""

import json
import os
import subprocess
import time
import unittest

import harness as h
from harness import assert_ok, new_id

ANI = "tel:+13175550116"


def warn_lines(svc, msg):
    return [e for e in svc.log_entries() if e.get("msg") == msg]


class CrmFailureLogs(h.StackTestCase):
    """Breaker off, so every failure reaches the CRM and is logged by kind.
    A fresh stack per test: the log's rate limiter starts empty."""

    PER_TEST = True
    CRM_TIMEOUT_MS = 1000

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["crm"]["breaker"] = {"failures": 0}
        cfg["crm"]["lookupRetries"] = 1
        return cfg

    def failing_starts(self, n, svc=None):
        for _ in range(n):
            status, _, body = (svc or self.svc).start_session(new_id("fail"), ani=ANI)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["lastResult"], "crm_error", body)

    def test_each_failure_kind_is_logged_without_pii(self):
        for fault, reason in (("error", "http_status"), ("garbage", "unparseable")):
            with self.subTest(fault=fault):
                self.crm.set(fault=fault)
                mark = len(warn_lines(self.svc, "crm call failed"))
                self.failing_starts(1)
                lines = h.wait_until(
                    lambda: warn_lines(self.svc, "crm call failed")[mark:] or None, 5,
                    what="a crm call failed line")
                self.assertEqual(len(lines), 1, lines)
                e = lines[0]
                self.assertEqual(e["level"], "warn")
                self.assertEqual(e["operation"], "lookupPhone")
                self.assertEqual(e["reason"], reason)
                self.assertEqual(e["attempts"], 2, "one retry was configured")
                self.assertIsInstance(e["latencyMs"], (int, float))
                self.assertEqual(e["suppressed"], 0)
                if reason == "http_status":
                    self.assertEqual(e["httpStatus"], 503)
                text = json.dumps(e)
                self.assertNotIn("5550116", text)

    def test_refused_connection(self):
        port = h.free_port()  # nothing listens there
        cfg = h.base_config(self.redis, "http://127.0.0.1:%d" % port)
        cfg["crm"]["breaker"] = {"failures": 0}
        svc = self.extra_stack().authflow(cfg)
        self.failing_starts(1, svc)
        line = h.wait_until(lambda: warn_lines(svc, "crm call failed") or None, 5,
                            what="a crm call failed line")[0]
        self.assertEqual(line["reason"], "refused")
        self.assertEqual(line["httpStatus"], 0)

    def test_an_outage_does_not_flood_the_log(self):
        """30 failures in a burst: a few lines, then silence; after the
        window the next line says how many were left out, and every failure
        is accounted for."""
        self.crm.set(fault="error")
        self.failing_starts(30)
        burst = warn_lines(self.svc, "crm call failed")
        self.assertGreaterEqual(len(burst), 1)
        self.assertLess(len(burst), 10, "an outage floods the log")
        time.sleep(5.5)  # the limiter's window (5 s) ends
        self.failing_starts(1)
        lines = h.wait_until(
            lambda: (warn_lines(self.svc, "crm call failed")
                     if len(warn_lines(self.svc, "crm call failed")) > len(burst) else None),
            5, what="the line after the window")
        self.assertGreater(lines[-1]["suppressed"], 0, lines[-1])
        self.assertEqual(len(lines) + sum(e["suppressed"] for e in lines), 31)


class BreakerOpen(h.StackTestCase):
    CRM_TIMEOUT_MS = 1000
    SERVICE_LINES = {"retail": h.service_line(),
                     "noani": h.service_line(aniLookup=False),
                     "stubborn": h.service_line(askWhenCrmDown=True)}

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["crm"]["breaker"] = {"failures": 2, "openMs": 600000}
        return cfg

    def trip(self):
        self.crm.set(fault="error")
        for _ in range(2):
            self.svc.start_session(new_id("trip"), ani=ANI)
        h.wait_until(lambda: warn_lines(self.svc, "crm breaker opened") or None, 5,
                     what="crm breaker opened")

    def test_start_transfers_instead_of_asking(self):
        self.trip()
        opened = warn_lines(self.svc, "crm breaker opened")[0]
        self.assertEqual(opened["level"], "warn")
        self.assertEqual(opened["failures"], 2)
        before = self.crm.stats()["requests"]
        for line, ani in (("retail", ANI), ("retail", None), ("noani", None)):
            with self.subTest(line=line, ani=ani):
                status, _, body = self.svc.start_session(new_id("down"), line, ani=ani)
                self.assertEqual(status, 200, body)
                self.assertEqual(body["state"], "completed", body)
                self.assertEqual(body["outcome"], "crm_unavailable")
                self.assertEqual(body["nextAction"], "transfer_to_agent")
                self.assertEqual(body["promptId"], "transfer_crm_unavailable")
                self.assertEqual(body["lastResult"], "crm_error")
        self.assertEqual(self.crm.stats()["requests"], before, "an open breaker sends nothing")
        fast = [e for e in warn_lines(self.svc, "crm call failed")
                if e.get("reason") == "breaker_open" and e.get("operation") == "start"]
        self.assertTrue(fast, "the transfer is logged")
        # askWhenCrmDown: the caller is asked anyway.
        status, _, body = self.svc.start_session(new_id("ask"), "stubborn", ani=ANI)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["nextAction"], "ask_identifier", body)
        self.assertEqual(body["lastResult"], "crm_error")


class BreakerCloses(h.StackTestCase):
    CRM_TIMEOUT_MS = 1000

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["crm"]["breaker"] = {"failures": 1, "openMs": 300}
        return cfg

    def test_open_then_closed_are_logged(self):
        self.crm.set(fault="error")
        assert_ok(self, self.svc.start_session(new_id("b"), ani=ANI))
        h.wait_until(lambda: warn_lines(self.svc, "crm breaker opened") or None, 5,
                     what="crm breaker opened")
        self.crm.normal()
        time.sleep(0.4)  # past openMs: the next call is the probe
        assert_ok(self, self.svc.start_session(new_id("b"), ani=ANI))
        closed = h.wait_until(lambda: warn_lines(self.svc, "crm breaker closed") or None, 5,
                              what="crm breaker closed")
        self.assertEqual(closed[0]["level"], "info")
        self.assertTrue(warn_lines(self.svc, "crm breaker half-open"))


class Surface(h.StackTestCase):
    def test_401_carries_www_authenticate(self):
        for method, path in (("GET", "/v1/sessions/x-1"), ("POST", "/v1/sessions"),
                             ("GET", "/metrics"), ("GET", "/v1/reports/summary"),
                             ("GET", "/v1/reports/interactions")):
            for key in (None, "wrong-key-123456"):
                with self.subTest(path=path, key=key):
                    status, headers, _ = self.svc.request(method, path, key=key,
                                                          body={} if method == "POST" else None)
                    self.assertEqual(status, 401)
                    self.assertEqual(headers.get("WWW-Authenticate"), 'Bearer realm="authflow"')
        status, headers, _ = self.svc.request("GET", "/healthz", key=None)
        self.assertEqual(status, 200)
        self.assertNotIn("WWW-Authenticate", headers)

    def test_health_bodies_end_with_a_newline(self):
        for path in ("/healthz", "/readyz"):
            with self.subTest(path=path):
                status, _, _ = self.svc.request("GET", path, key=None)
                self.assertEqual(status, 200)
        # Through http.client too, byte for byte.
        import http.client
        for path in ("/healthz", "/readyz"):
            conn = http.client.HTTPConnection("127.0.0.1", self.svc.port, timeout=5)
            conn.request("GET", path)
            body = conn.getresponse().read()
            conn.close()
            self.assertTrue(body.endswith(b"}\n"), body)
            json.loads(body)

    def test_start_log_has_no_libmicrohttpd_warning(self):
        text = self.svc.log_text()
        self.assertIn('"listening"', text)
        self.assertNotIn("MHD_OPTION_EXTERNAL_LOGGER", text)
        self.assertNotIn("is not the first option", text)

    def test_help_names_every_option(self):
        out = subprocess.run([h.AUTHFLOW_BIN, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        for opt in ("--config", "--check-config", "--check-crm", "--check-crm-value",
                    "--healthcheck", "--version", "--help"):
            self.assertIn(opt, out.stdout)


class CheckConfigTimeout(unittest.TestCase):
    def check(self, cfg):
        d = h.Stack(self.addCleanup).tempdir("authflow-cc-")
        path = os.path.join(d, "c.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        return h.check_config(path)

    def test_budget_past_the_action_timeout_is_warned(self):
        base = {"serviceLines": {"retail": h.service_line()}}
        rc, out = self.check(base)
        self.assertEqual(rc, 0, out)
        self.assertNotIn("timeoutSeconds", out)
        slow = dict(base, crm={"timeoutMs": 7000, "budgetMs": 7000})
        rc, out = self.check(slow)
        self.assertEqual(rc, 0, "a warning, not an error: " + out)
        self.assertIn("warning", out)
        self.assertIn("crm.budgetMs", out)
        self.assertIn("genesys.dataActionTimeoutSeconds", out)
        # Raised to match actions whose timeoutSeconds is 12: no warning.
        rc, out = self.check(dict(slow, genesys={"dataActionTimeoutSeconds": 12}))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("warning", out)
        # Sentinel failover wait counts too.
        rc, out = self.check(dict(base, redis={"sentinels": ["127.0.0.1:26379"],
                                               "masterName": "m", "failoverWaitMs": 5000}))
        self.assertIn("redis.failoverWaitMs", out)


if __name__ == "__main__":
    unittest.main()
