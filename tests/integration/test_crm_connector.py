"""The configurable CRM connector against a stub CRM that speaks
deploy/config/crm-404-numeric.example.json (404 = no match, numeric ids,
403 = wrong PIN, bearer token from ${env:CRM_TOKEN}): whole flows, CRM
faults that cost no attempt and stay inside the budget, the breaker
opening and closing (seen in /metrics), and --check-crm.
"""
import json
import os
import subprocess
import time
import unittest

import harness as h
from harness import assert_ok, new_id
from crm_stubs import TOKEN, NumericCrm

EXAMPLE = os.path.join(os.environ.get("AUTHFLOW_SOURCE_DIR") or
                       os.path.join(os.path.dirname(__file__), "..", ".."),
                       "deploy", "config", "crm-404-numeric.example.json")
BUDGET_S = 4.0


def metric(svc, name):
    status, _, body = svc.request("GET", "/metrics")
    text = body.decode() if isinstance(body, bytes) else str(body)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics (status %s)" % (name, status))


class NumericCrmFlows(h.StackTestCase):
    AUTHFLOW_ENV = {"CRM_TOKEN": TOKEN}

    @classmethod
    def start_crm(cls, stack):
        return stack.start(NumericCrm())

    @classmethod
    def make_config(cls, stack, **overrides):
        with open(EXAMPLE, encoding="utf-8") as f:
            crm_cfg = json.load(f)["crm"]
        crm_cfg["baseUrl"] = stack.crm.url
        crm_cfg["breaker"] = {"failures": 3, "openMs": 1000}
        cfg = super().make_config(stack, **overrides)
        cfg["crm"] = crm_cfg
        return cfg

    def reset_stack(self):
        self.crm.mode = "ok"
        super().reset_stack()

    def test_identify_and_verify(self):
        cid = new_id("num")
        assert_ok(self, self.svc.start_session(cid, ani="tel:+13175550116"),
                  state="awaiting_security", identified=True,
                  customerId="100234", customerName="Ana Garc\u00eda")
        assert_ok(self, self.svc.security(cid, "0000"), lastResult="wrong_answer",
                  attemptsRemaining=2)
        assert_ok(self, self.svc.security(cid, "1234"), verified=True,
                  outcome="verified")

    def test_404_is_no_match(self):
        cid = new_id("nomatch")
        assert_ok(self, self.svc.start_session(cid, ani="tel:+13175550199"),
                  state="awaiting_identifier", lastResult="no_match",
                  attemptsRemaining=3)

    def test_faults_cost_nothing_and_stay_in_budget(self):
        for mode in ("error", "garbage", "hang"):
            with self.subTest(mode=mode):
                self.crm.mode = mode
                t0 = time.monotonic()
                cid = new_id("fault")
                assert_ok(self, self.svc.start_session(cid, ani="tel:+13175550116"),
                          state="awaiting_identifier", lastResult="crm_error",
                          attemptsRemaining=3)
                self.assertLess(time.monotonic() - t0, BUDGET_S + 1.0)
                self.crm.mode = "ok"
                time.sleep(1.2)  # let a breaker opened by earlier modes half-open
                assert_ok(self, self.svc.start_session(new_id("after"),
                                                       ani="tel:+13175550116"),
                          identified=True)

    def test_breaker_opens_and_closes(self):
        self.crm.mode = "error"
        for _ in range(3):
            assert_ok(self, self.svc.start_session(new_id("brk"), ani="tel:+13175550116"),
                      lastResult="crm_error")
        self.assertEqual(metric(self.svc, "authflow_crm_breaker_state"), 1)
        before = self.crm.requests
        t0 = time.monotonic()
        # With the CRM known down, a start does not ask for digits that
        # could not be checked: it transfers at once (askWhenCrmDown false).
        assert_ok(self, self.svc.start_session(new_id("fast"), ani="tel:+13175550116"),
                  lastResult="crm_error", state="completed", outcome="crm_unavailable",
                  nextAction="transfer_to_agent")
        self.assertLess(time.monotonic() - t0, 0.5, "an open breaker fails fast")
        self.assertEqual(self.crm.requests, before, "an open breaker sends nothing")
        self.crm.mode = "ok"
        time.sleep(1.2)
        assert_ok(self, self.svc.start_session(new_id("probe"), ani="tel:+13175550116"),
                  identified=True)
        self.assertEqual(metric(self.svc, "authflow_crm_breaker_state"), 0)

    def test_check_crm(self):
        path = os.path.join(self.svc.dir, "check.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.svc.config, f)
        env = dict(os.environ, CRM_TOKEN=TOKEN)
        out = subprocess.run([h.AUTHFLOW_BIN, "--check-crm", "--config", path],
                             capture_output=True, text=True, timeout=15, env=env)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("GET %s/v2/contacts/by-phone/%%2B13175550116" % self.crm.url,
                      out.stdout)
        self.assertIn("Authorization: Bearer ***", out.stdout)
        self.assertNotIn(TOKEN, out.stdout + out.stderr)
        self.assertIn('customerId="100234"', out.stdout)

    def test_check_crm_hides_url_credentials(self):
        """A password in crm.baseUrl is a secret too: --check-crm masks it
        as --check-config does."""
        cfg = json.loads(json.dumps(self.svc.config))
        cfg["crm"]["baseUrl"] = self.crm.url.replace("://", "://svcuser:Hunter2pw@")
        path = os.path.join(self.svc.dir, "check-cred.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        env = dict(os.environ, CRM_TOKEN=TOKEN)
        out = subprocess.run([h.AUTHFLOW_BIN, "--check-crm", "--config", path],
                             capture_output=True, text=True, timeout=15, env=env)
        self.assertIn("GET http://***@127.0.0.1:%d/v2/contacts/by-phone/" % self.crm.port,
                      out.stdout, out.stdout + out.stderr)
        self.assertNotIn("Hunter2pw", out.stdout + out.stderr)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
