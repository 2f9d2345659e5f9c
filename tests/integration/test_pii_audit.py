"""PII audit (hardening issue, part 4).

Runs a full set of calls, one focused test per kind -- every ANI form, every
identifier type, no-match and invalid identifiers, wrong and right answers,
CRM errors and garbage in the middle of steps, a CRM timeout mid
verification, lockout, refused bodies that carry an answer, a step racing
one held at the CRM, a held step cut by SIGTERM -- at log level debug, with
customers whose numbers are distinctive. After each test's calls, once the
log holds the request line of every one of them (so nothing is scanned
before it is written), it scans:
  * the whole authflow log (every line, JSON or not) for the full ANI digits,
    the full identifiers and every answer it injected;
  * every error body it got back, for the answers (an answer is never
    returned, not even inside a JSON parser's error message);
  * /metrics, for any of them;
  * Redis, for the answers (they are never stored).
Any hit fails. Masked values keep their last 4 digits only, so every needle
below is longer than 4 digits.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_pii_audit.py -v
"""

import json
import threading
import unittest
from collections import Counter

import harness as h
from harness import assert_ok, new_id

# Distinctive values that appear nowhere else (not in timestamps, ports or ids).
PAT = {"id": "517283", "name": "Pat Quinlan", "phones": ["+14155550187"],
       "accountNumber": "83746291", "trackingNumber": "940061528374",
       "customerId": "517283", "answer": "60417395"}
ROB = {"id": "628394", "name": "Rob Ivers", "phones": ["+14155550163"],
       "accountNumber": "72635184", "trackingNumber": "940072639485",
       "customerId": "628394", "answer": "50396284"}
CUSTOMERS = [PAT, ROB]

WRONG_ANSWERS = ["28571946", "39481726", "47192635", "58203746", "69314857",
                 "70425968", "81536079"]
NO_MATCH_IDS = ["71829364", "82930475", "93041586"]
INVALID_IDS = ["5566778899x", "55667788-99a"]

NEEDLES = {
    "answer": [PAT["answer"], ROB["answer"]] + WRONG_ANSWERS,
    "ani": ["14155550187", "4155550187", "5550187", "4155550163", "5550163",
            "415) 555-0187", "415 555 0187"],
    "identifier": [PAT["accountNumber"], PAT["trackingNumber"], ROB["accountNumber"],
                   ROB["trackingNumber"], PAT["customerId"], ROB["customerId"],
                   "94006152", "52837"] + NO_MATCH_IDS + ["5566778899", "55667788"],
}


class PiiStack(h.StackTestCase):
    """Authflow at debug level before the demo CRM (with PAT and ROB) behind
    a gate; every call goes through call(), which remembers error bodies
    and how many requests each conversation made, for audit()."""

    LOG_LEVEL = "debug"
    SERVICE_LINES = {"retail": h.service_line(identifierType="customer_id"),
                     "post": h.service_line(aniLookup=False, identifierType="tracking_number")}
    LOCKOUT = {"maxFailures": 3, "windowSeconds": 600}
    CRM_TIMEOUT_MS = 1500
    GATED_CRM = True

    @classmethod
    def start_crm(cls, stack):
        return stack.start(h.DemoCrm(customers=CUSTOMERS))

    def setUp(self):
        super().setUp()
        self.errors = []  # every non-2xx body we got back
        self.sent = Counter()  # conversationId -> requests made for it

    def call(self, cid, response):
        """Record one response to a request about conversation cid (None
        when the request names none)."""
        if cid is not None:
            self.sent[cid] += 1
        if response[0] >= 300:
            self.errors.append(response[2])
        return response

    def metrics(self):
        body = self.svc.request("GET", "/metrics")[2]
        return body.decode() if isinstance(body, bytes) else json.dumps(body)

    def wait_logged(self):
        """Until the log holds a request line for every request call() saw
        (a line is written as its connection completes, just after the
        answer): only then can a scan prove a value is absent."""
        def complete():
            seen = Counter(e.get("conversationId") for e in self.svc.log_entries()
                           if e.get("msg") == "request")
            return all(seen[cid] >= n for cid, n in self.sent.items())
        h.wait_until(complete, 10, what="a request log line for every call")

    def audit(self, metrics=None, stored=None):
        """No needle in the log, /metrics or the error bodies, no answer in
        Redis. metrics/stored: taken earlier (before a stop); else now."""
        self.assertTrue(self.sent, "the test made no calls")
        self.wait_logged()
        metrics = self.metrics() if metrics is None else metrics
        stored = self.redis.dump_all_values() if stored is None else stored
        text = self.svc.log_text()
        self.assertTrue(any(e.get("level") == "debug" for e in self.svc.log_entries()),
                        "no debug lines: the audit did not run at debug level")
        errors = json.dumps(self.errors, ensure_ascii=False)
        hits = []
        for kind, values in NEEDLES.items():
            for v in values:
                if v in text:
                    line = next(ln for ln in text.splitlines() if v in ln)
                    hits.append("log holds %s %s: %s" % (kind, v, line[:300]))
                if v in metrics:
                    hits.append("/metrics holds %s %s" % (kind, v))
        for v in NEEDLES["answer"]:
            if v in errors:
                body = next(e for e in self.errors if v in json.dumps(e))
                hits.append("an error answer returned answer %s: %s" % (v, body))
            if v.encode() in stored:
                hits.append("Redis holds answer %s" % v)
        self.assertEqual(hits, [], "\n".join(hits))

    def start_pat(self, tag="pat"):
        """A call Pat's ANI identifies: awaiting her answer."""
        cid = new_id(tag)
        assert_ok(self, self.call(cid, self.svc.start_session(cid, ani="+14155550187")),
                  state="awaiting_security", customerId=PAT["id"])
        return cid


class PiiAudit(PiiStack):
    """Calls that leave the service running; one stack for the class."""

    def test_ani_forms_then_wrong_and_right_answers(self):
        svc, c = self.svc, self.call
        for ani in ("tel:+14155550187", "tel: +1 415 555 0187",
                    "sip:+14155550187@10.0.0.1;user=phone", "<sip:+14155550187@host>",
                    "+14155550187", "(415) 555-0187", "4155550187"):
            cid = new_id("ani")
            assert_ok(self, c(cid, svc.start_session(cid, ani=ani)), customerId=PAT["id"],
                      state="awaiting_security")
            assert_ok(self, c(cid, svc.security(cid, WRONG_ANSWERS[0])),
                      lastResult="wrong_answer")
            assert_ok(self, c(cid, svc.security(cid, PAT["answer"])), outcome="verified")
        self.audit()

    def test_every_identifier_type(self):
        svc, c = self.svc, self.call
        for ident, kind, who in ((PAT["accountNumber"], "account_number", PAT),
                                 (PAT["trackingNumber"], "tracking_number", PAT),
                                 ("415-555-0187", "phone", PAT),
                                 (ROB["customerId"], None, ROB),
                                 (ROB["accountNumber"], "account_number", ROB)):
            cid = new_id("ident")
            assert_ok(self, c(cid, svc.start_session(cid, ani="anonymous")),
                      state="awaiting_identifier")
            assert_ok(self, c(cid, svc.identifier(cid, ident, identifier_type=kind)),
                      customerId=who["id"])
            assert_ok(self, c(cid, svc.security(cid, who["answer"])), outcome="verified")
        cid = new_id("post")
        assert_ok(self, c(cid, svc.start_session(cid, "post", ani="+14155550163")),
                  state="awaiting_identifier")
        assert_ok(self, c(cid, svc.identifier(cid, ROB["trackingNumber"])),
                  customerId=ROB["id"])
        assert_ok(self, c(cid, svc.opt_out(cid)), outcome="opted_out")
        self.audit()

    def test_no_match_and_invalid_identifiers(self):
        svc, c = self.svc, self.call
        cid = new_id("nomatch")
        assert_ok(self, c(cid, svc.start_session(cid)), state="awaiting_identifier")
        assert_ok(self, c(cid, svc.identifier(cid, NO_MATCH_IDS[0])), lastResult="no_match")
        assert_ok(self, c(cid, svc.identifier(cid, INVALID_IDS[0])),
                  lastResult="invalid_input")
        assert_ok(self, c(cid, svc.identifier(cid, NO_MATCH_IDS[1])),
                  outcome="identify_failed")
        cid = new_id("nomatch")
        assert_ok(self, c(cid, svc.start_session(cid)), state="awaiting_identifier")
        assert_ok(self, c(cid, svc.identifier(cid, INVALID_IDS[1])),
                  lastResult="invalid_input")
        assert_ok(self, c(cid, svc.identifier(cid, NO_MATCH_IDS[2],
                                              identifier_type="account_number")),
                  lastResult="no_match")
        self.audit()

    def test_crm_error_and_garbage_mid_step(self):
        svc, crm, c = self.svc, self.crm, self.call
        for fault in ("error", "garbage"):
            crm.set(fault=fault)
            cid = new_id("crmfault")
            assert_ok(self, c(cid, svc.start_session(cid, ani="+14155550187")),
                      state="awaiting_identifier", lastResult="crm_error")
            assert_ok(self, c(cid, svc.identifier(cid, PAT["accountNumber"], "account_number")),
                      outcome="crm_unavailable")
            crm.set(fault="none")
            cid = self.start_pat("crmfault")
            crm.set(fault=fault)
            assert_ok(self, c(cid, svc.security(cid, PAT["answer"])), outcome="crm_unavailable")
            crm.set(fault="none")
        self.audit()

    def test_crm_timeout_mid_verification(self):
        """The verification is held at the gate: authflow gives up on its own
        timeout (crm.timeoutMs) while the request is provably still held,
        and answers crm_unavailable; only then is the gate opened."""
        cid = self.start_pat("crmslow")
        self.gate.hold("/verify")
        resp = self.call(cid, self.svc.security(cid, WRONG_ANSWERS[1]))
        self.assertEqual((self.gate.held, self.gate.waiting), (1, 1),
                         "the verification was not held when authflow answered")
        self.gate.release()
        assert_ok(self, resp, outcome="crm_unavailable")
        self.audit()

    def test_lockout_over_two_calls(self):
        """Rob: 3 wrong answers over two calls, then his right one is locked."""
        svc, c = self.svc, self.call
        cids = []
        for _ in range(2):
            cid = new_id("lock")
            assert_ok(self, c(cid, svc.start_session(cid, ani="+14155550163")),
                      state="awaiting_security")
            cids.append(cid)
        for i, w in enumerate(WRONG_ANSWERS[2:5]):
            cid = cids[i % 2]
            resp = c(cid, svc.security(cid, w))
            self.assertEqual(resp[0], 200, resp)
        assert_ok(self, c(cids[1], svc.security(cids[1], ROB["answer"])), outcome="locked")
        self.audit()

    def test_refused_bodies_holding_secrets(self):
        """Bodies refused before any step runs, each holding an answer, ANI
        or identifier: none of it comes back or is logged."""
        svc, c = self.svc, self.call
        cid = self.start_pat("refused")
        path = "/v1/sessions/%s/security" % cid
        for raw in ('{"answer":"%s",}' % WRONG_ANSWERS[5], '{"answer":"%s' % WRONG_ANSWERS[5],
                    '{"answer":"%s\x01"}' % WRONG_ANSWERS[6], '{"answer":%s}' % WRONG_ANSWERS[6],
                    '{"answer":"%s","answer":"1"}' % WRONG_ANSWERS[6],
                    '["%s"]' % PAT["answer"], '{"answer":["%s"]}' % PAT["answer"],
                    '{"answer":"%s"' % PAT["answer"], '{"answer":"%s"]' % PAT["answer"]):
            resp = c(cid, svc.request("POST", path, raw_body=raw.encode()))
            self.assertEqual(resp[0], 400, resp)
        for raw in ('{"identifier":%s}' % PAT["accountNumber"],
                    '{"identifier":"%s' % PAT["trackingNumber"]):
            c(cid, svc.request("POST", "/v1/sessions/%s/identifier" % cid,
                               raw_body=raw.encode()))
        for raw in ('{"conversationId":"x","serviceLine":"retail","ani":14155550187}',
                    '{"conversationId":"x","serviceLine":"retail","ani":"+14155550187'):
            resp = c(None, svc.request("POST", "/v1/sessions", raw_body=raw.encode()))
            self.assertEqual(resp[0], 400, resp)
        self.assertGreaterEqual(len(self.errors), 13)
        self.audit()


class PiiAuditHeldSteps(PiiStack):
    """A step held at the CRM gate while another races it, and while
    SIGTERM drains the service; a fresh stack per test (one stops
    authflow) with a CRM timeout long enough that only the gate decides
    when a held step goes on."""

    PER_TEST = True
    CRM_TIMEOUT_MS = 20000

    def held_security(self, cid, answer):
        """Send a security step in a thread and wait until it is held at the
        gate; returns (thread, result dict)."""
        self.gate.hold("/verify")
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=self.call(cid, self.svc.security(cid, answer, timeout=30))), daemon=True)
        t.start()
        self.assertTrue(self.gate.wait_held(1), "the verification never reached the CRM")
        return t, result

    def test_step_racing_a_held_step_is_busy(self):
        """While one step with an answer is held at the CRM, a racing step
        with another answer is 409 busy; released, the first completes."""
        cid = self.start_pat("busy")
        t, result = self.held_security(cid, WRONG_ANSWERS[5])
        resp = self.call(cid, self.svc.security(cid, WRONG_ANSWERS[6]))
        self.assertEqual(resp[0], 409, resp)
        self.assertTrue(t.is_alive() and self.gate.waiting == 1,
                        "the first step was no longer held when the race was answered")
        self.gate.release()
        t.join(30)
        self.assertFalse(t.is_alive(), "the held step never answered")
        assert_ok(self, result["r"], lastResult="wrong_answer", attemptsRemaining=2)
        self.audit()

    def test_sigterm_while_a_step_is_held(self):
        """SIGTERM while a verification is held at the CRM, so the drain path
        logs too; released, it completes and authflow exits cleanly."""
        cid = self.start_pat("drain")
        metrics = self.metrics()
        t, result = self.held_security(cid, PAT["answer"])
        self.svc.terminate()
        self.svc.wait_for_log("draining")
        self.gate.release()
        t.join(30)
        self.assertFalse(t.is_alive(), "the held step never answered")
        assert_ok(self, result["r"], outcome="verified")
        rc = self.svc.proc.wait(timeout=h.STOP_TIMEOUT)
        self.svc.assert_clean_exit(self, rc)
        stored = self.redis.dump_all_values()
        self.audit(metrics=metrics, stored=stored)
        self.assertIn("stopped", [e.get("msg") for e in self.svc.log_entries()])


if __name__ == "__main__":
    unittest.main()
