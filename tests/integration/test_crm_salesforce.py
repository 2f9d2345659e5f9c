"""The CRM connector against a Salesforce stub speaking
deploy/config/crm-salesforce.example.json: SOQL lookups (records[], Id,
FirstName, LastName), an Apex REST verify, and OAuth2 client credentials
from ${env:SF_CLIENT_ID} / ${env:SF_CLIENT_SECRET}.

Whole flows (ANI match, each identifier type, wrong answer, no match,
several matches), SOQL quoting that a quote in the value cannot break,
--check-crm with the secret and token masked, and the token's life:
one fetch for 50 calls waiting on a slow token endpoint, proactive refresh
before expiry, one refresh and retry after a 401 (lookup and verify), and a
failing or hanging token endpoint giving the CRM-failure fallback within
the budget without costing the caller an attempt.
"""
import http.client
import json
import os
import subprocess
import threading
import time
import unittest

import harness as h
from harness import assert_ok, new_id
from crm_stubs import SF_CLIENT_ID, SF_CLIENT_SECRET, SalesforceCrm

EXAMPLE = os.path.join(os.environ.get("AUTHFLOW_SOURCE_DIR") or
                       os.path.join(os.path.dirname(__file__), "..", ".."),
                       "deploy", "config", "crm-salesforce.example.json")
ENV = {"SF_CLIENT_ID": SF_CLIENT_ID, "SF_CLIENT_SECRET": SF_CLIENT_SECRET}
BUDGET_S = 4.0  # the example's crm.budgetMs

ANA = {"ani": "tel:+13175550116", "id": "003Dn00000AnaG1IAJ",
       "name": "Ana Garc\u00eda", "customer": "100234", "account": "55501234",
       "tracking": "940011189922385530", "answer": "1234"}


def config(redis, crm, **crm_overrides):
    """The shipped example pointed at the stub, with three service lines:
    ANI + customer ID, account number, tracking number (no verification)."""
    with open(EXAMPLE, encoding="utf-8") as f:
        crm_cfg = json.load(f)["crm"]
    crm_cfg["baseUrl"] = crm.url
    crm_cfg.update(crm_overrides)
    cfg = h.base_config(redis, crm.url, service_lines={
        "retail": h.service_line(),
        "accounts": h.service_line(aniLookup=False, identifierType="account_number"),
        "parcels": h.service_line(aniLookup=False, verification=False,
                                  identifierType="tracking_number"),
    })
    cfg["crm"] = crm_cfg
    return cfg


def metric(svc, name):
    status, _, body = svc.request("GET", "/metrics")
    text = body.decode() if isinstance(body, bytes) else str(body)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics (status %s)" % (name, status))


def charged(testcase, svc, cid, field):
    """The attempts the 'session completed' log line says were charged."""
    for entry in svc.log_entries():
        if entry.get("msg") == "session completed" and entry.get("conversationId") == cid:
            return entry[field]
    testcase.fail("no 'session completed' log line for %s" % cid)
    return None


class SalesforceFlows(h.StackTestCase):
    """One authflow on the example for every flow."""

    AUTHFLOW_ENV = ENV

    @classmethod
    def start_crm(cls, stack):
        return stack.start(SalesforceCrm())

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = config(stack.redis, stack.crm)
        cfg.update(overrides)
        return cfg

    def test_ani_match_then_verified(self):
        cid = new_id("sf-ani")
        assert_ok(self, self.svc.start_session(cid, ani=ANA["ani"]),
                  state="awaiting_security", identified=True, identificationMethod="ani",
                  lastResult="match", customerId=ANA["id"], customerName=ANA["name"])
        assert_ok(self, self.svc.security(cid, ANA["answer"]), state="completed",
                  outcome="verified", verified=True, authStatus="identified_verified")
        self.assertEqual(self.crm.last_where, ("Phone", "+13175550116"))

    def test_identifier_paths(self):
        cid = new_id("sf-cust")
        assert_ok(self, self.svc.start_session(cid), state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(cid, ANA["customer"]), state="awaiting_security",
                  identificationMethod="identifier", customerId=ANA["id"])
        self.assertEqual(self.crm.last_where, ("Customer_Number__c", ANA["customer"]))
        assert_ok(self, self.svc.security(cid, ANA["answer"]), outcome="verified")

        cid = new_id("sf-acct")
        assert_ok(self, self.svc.start_session(cid, service_line_name="accounts"),
                  state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(cid, ANA["account"]), state="awaiting_security",
                  customerId=ANA["id"], customerName=ANA["name"])
        self.assertEqual(self.crm.last_where, ("Account.AccountNumber", ANA["account"]))

        cid = new_id("sf-parcel")
        assert_ok(self, self.svc.start_session(cid, service_line_name="parcels"),
                  state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(cid, ANA["tracking"]), state="completed",
                  outcome="identified_only", customerId=ANA["id"])
        self.assertEqual(self.crm.last_where, ("Tracking_Number__c", ANA["tracking"]))

    def test_wrong_answer(self):
        cid = new_id("sf-wrong")
        assert_ok(self, self.svc.start_session(cid, ani=ANA["ani"]), identified=True)
        before = self.crm.count("verify")
        assert_ok(self, self.svc.security(cid, "0000"), state="awaiting_security",
                  lastResult="wrong_answer", attemptsRemaining=2, verified=False)
        assert_ok(self, self.svc.security(cid, ANA["answer"]), outcome="verified")
        self.assertEqual(self.crm.count("verify") - before, 2)

    def test_no_match_and_several(self):
        cid = new_id("sf-none")
        assert_ok(self, self.svc.start_session(cid, ani="tel:+13175550199"),
                  state="awaiting_identifier", lastResult="no_match", attemptsRemaining=3)
        assert_ok(self, self.svc.identifier(cid, "999999"), state="awaiting_identifier",
                  lastResult="no_match", attemptsRemaining=2)
        cid = new_id("sf-two")
        assert_ok(self, self.svc.start_session(cid, ani="tel:+13175550177"),
                  state="awaiting_identifier", lastResult="multiple_matches",
                  identified=False)

    def _check_crm(self, *extra):
        path = os.path.join(self.svc.dir, "check.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.svc.config, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHFLOW_")}
        env.update(ENV)
        return subprocess.run([h.AUTHFLOW_BIN, "--check-crm", "--config", path, *extra],
                              capture_output=True, text=True, timeout=20, env=env)

    def test_check_crm_masks_secret_and_token(self):
        before = self.crm.snapshot()
        out = self._check_crm()
        text = out.stdout + out.stderr
        self.assertEqual(out.returncode, 0, text)
        self.assertIn("GET %s/services/data/v59.0/query?q=SELECT+Id,FirstName,LastName"
                      "+FROM+Contact+WHERE+Phone='%%2B13175550116'" % self.crm.url, out.stdout)
        self.assertIn("Authorization: Bearer ***", out.stdout)
        self.assertIn("token from: ", out.stdout)
        self.assertIn('customerId="%s"' % ANA["id"], out.stdout)
        self.assertIn("matches=1", out.stdout)
        # It really fetched a token and queried with it ...
        after = self.crm.snapshot()
        self.assertEqual(after["token_ok"] - before["token_ok"], 1)
        self.assertEqual(after["query"] - before["query"], 1)
        # ... and printed neither the client secret nor any token issued.
        self.assertNotIn(SF_CLIENT_SECRET, text)
        with self.crm.lock:
            issued = list(self.crm.tokens)
        self.assertTrue(issued)
        for token in issued:
            self.assertNotIn(token, text)
            self.assertNotIn(token.split("!", 1)[1], text)

    def test_soql_quote_cannot_break_the_literal(self):
        """A value holding quotes and backslashes reaches Salesforce as one
        string literal (the stub parses it back exactly); no MALFORMED_QUERY,
        no widened WHERE clause."""
        value = "x' OR Phone != '\\"
        before = self.crm.count("malformed")
        out = self._check_crm("--check-crm-value", value)
        self.assertIn("matches=0", out.stdout, out.stdout + out.stderr)
        self.assertEqual(self.crm.last_where, ("Phone", value))
        self.assertEqual(self.crm.count("malformed"), before)


class SalesforceTokens(h.StackTestCase):
    """The OAuth2 token's life. Each test has its own stack and starts its
    own authflow, so the token cache and the counters start empty."""

    PER_TEST = True
    INSTANCES = 0

    @classmethod
    def start_crm(cls, stack):
        return stack.start(SalesforceCrm())

    def launch(self, env=None, **crm_overrides):
        self.svc = self.stack.authflow(config(self.redis, self.crm, **crm_overrides),
                                       env=env or ENV)
        return self.svc

    def test_concurrent_calls_share_one_token_fetch(self):
        """50 starts of distinct calls arrive while the first token fetch is
        held open: they all wait on that one fetch, then all succeed."""
        svc = self.launch()
        gate = threading.Event()
        self.crm.set(token_gate=gate)
        conns = []
        try:
            for i in range(50):
                conn = http.client.HTTPConnection(h.LOOPBACK, svc.port, timeout=15)
                body = json.dumps({"conversationId": new_id("sf-50-%d" % i),
                                   "serviceLine": "retail", "ani": ANA["ani"]})
                conn.request("POST", "/v1/sessions", body=body,
                             headers=dict(h.auth_headers(), **{"Content-Type": "application/json"}))
                conns.append(conn)
            self.assertTrue(self.crm.token_started.wait(5), "no token fetch started")
            time.sleep(0.5)  # every start reaches the CRM thread and queues
            self.assertEqual(self.crm.count("token"), 1)
            self.assertEqual(self.crm.count("query"), 0, "a call went out without a token")
            gate.set()
            for conn in conns:
                resp = conn.getresponse()
                body = json.loads(resp.read())
                self.assertEqual(resp.status, 200, body)
                h.assert_session_answer(body, identified=True, customerId=ANA["id"],
                                        state="awaiting_security")
        finally:
            gate.set()
            for conn in conns:
                conn.close()
        self.assertEqual(self.crm.count("token"), 1)
        self.assertEqual(self.crm.count("query"), 50)
        self.assertEqual(self.crm.count("unauthorized"), 0)
        self.assertEqual(metric(svc, "authflow_crm_token_fetches_total"), 1)

    def test_token_refreshed_before_expiry(self):
        """expires_in 4 s: crm_client refreshes when refreshMarginMs (30 s)
        capped at half the lifetime (2 s) is left, so a call 2.3 s after
        the first fetches a new token before the old one expires (at 4 s)
        and is never refused."""
        svc = self.launch()
        self.crm.set(expires_in=4)
        t0 = time.monotonic()
        assert_ok(self, svc.start_session(new_id("sf-exp1"), ani=ANA["ani"]), identified=True)
        t1 = time.monotonic()
        self.assertLess(t1 - t0, 1.5, "the first call took too long for the timing below")
        assert_ok(self, svc.start_session(new_id("sf-exp2"), ani=ANA["ani"]), identified=True)
        self.assertEqual(self.crm.count("token"), 1, "refreshed long before the margin")
        # Past the refresh point (at most t1 + 2 s), well before expiry
        # (at least t0 + 4 s).
        time.sleep(max(0.0, t1 + 2.3 - time.monotonic()))
        assert_ok(self, svc.start_session(new_id("sf-exp3"), ani=ANA["ani"]), identified=True)
        self.assertLess(time.monotonic(), t0 + 4.0, "too slow to prove the refresh was early")
        self.assertEqual(self.crm.count("token"), 2)
        self.assertEqual(self.crm.count("unauthorized"), 0, "used the token until it was refused")
        self.assertEqual(metric(svc, "authflow_crm_token_fetches_total"), 2)

    def test_revoked_token_refreshed_once_and_retried(self):
        svc = self.launch()
        cid = new_id("sf-revoke")
        assert_ok(self, svc.start_session(new_id("sf-warm"), ani=ANA["ani"]), identified=True)
        self.assertEqual(self.crm.count("token"), 1)
        # A lookup with a revoked token: 401, one new token, one retry.
        self.crm.revoke()
        assert_ok(self, svc.start_session(cid, ani=ANA["ani"]), identified=True,
                  customerId=ANA["id"], attemptsRemaining=3)
        self.assertEqual(self.crm.count("token"), 2)
        self.assertEqual(self.crm.count("unauthorized"), 1)
        self.assertEqual(self.crm.count("query"), 3)
        # A verify too (never retried otherwise): the caller's step succeeds
        # and the answer is checked once, with the new token.
        self.crm.revoke()
        assert_ok(self, svc.security(cid, ANA["answer"]), outcome="verified", verified=True)
        self.assertEqual(self.crm.count("token"), 3)
        self.assertEqual(self.crm.count("unauthorized"), 2)
        self.assertEqual(self.crm.count("verify"), 2)
        self.assertEqual(charged(self, svc, cid, "verifyAttempts"), 1)
        # A token refused again right after a refresh is not refreshed in a
        # loop: one refresh and one retry per call, then the 401 is a CRM
        # error (which costs the caller nothing).
        self.crm.set(refuse_all=True)
        before = self.crm.snapshot()
        assert_ok(self, svc.start_session(new_id("sf-dead"), ani=ANA["ani"]),
                  lastResult="crm_error", state="awaiting_identifier", attemptsRemaining=3)
        after = self.crm.snapshot()
        self.assertEqual(after["token"] - before["token"], 1)
        self.assertEqual(after["unauthorized"] - before["unauthorized"], 2)

    def _assert_fallback_within_budget(self, svc, tag):
        """With no token to be had, a start falls back to asking for an
        identifier (crm_error, no attempt spent) and an identifier completes
        crm_unavailable with no attempt charged, each within the budget."""
        cid = new_id(tag)
        t0 = time.monotonic()
        assert_ok(self, svc.start_session(cid, ani=ANA["ani"]), state="awaiting_identifier",
                  lastResult="crm_error", attemptsRemaining=3, identified=False)
        self.assertLess(time.monotonic() - t0, BUDGET_S + 1.0)
        t0 = time.monotonic()
        assert_ok(self, svc.identifier(cid, ANA["customer"]), state="completed",
                  outcome="crm_unavailable", nextAction="transfer_to_agent",
                  lastResult="crm_error", promptId="transfer_crm_unavailable")
        self.assertLess(time.monotonic() - t0, BUDGET_S + 1.0)
        self.assertEqual(charged(self, svc, cid, "identifyAttempts"), 0)
        self.assertEqual(self.crm.count("query"), 0, "a data call went out without a token")
        self.assertEqual(metric(svc, "authflow_crm_token_fetches_total"), 0)

    def test_token_endpoint_error(self):
        svc = self.launch()
        self.crm.set(token_mode="error")
        self._assert_fallback_within_budget(svc, "sf-500")
        self.assertGreaterEqual(self.crm.count("token"), 1)

    def test_bad_client_credentials(self):
        svc = self.launch(env=dict(ENV, SF_CLIENT_SECRET="not-the-secret"))
        self._assert_fallback_within_budget(svc, "sf-cred")
        self.assertGreaterEqual(self.crm.count("token"), 1)
        self.assertEqual(self.crm.count("token_ok"), 0)

    def test_token_endpoint_hangs(self):
        svc = self.launch()
        self.crm.set(token_delay=10.0)
        self._assert_fallback_within_budget(svc, "sf-hang")


if __name__ == "__main__":
    unittest.main()
