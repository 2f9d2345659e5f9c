"""PII audit (hardening issue, part 4).

Runs a full set of calls -- every ANI form, every identifier type, no-match
and invalid identifiers, wrong and right answers, CRM errors and garbage in
the middle of steps, lockout, refused bodies that carry an answer, a slow
step cut by SIGTERM -- at log level debug, with customers whose numbers are
distinctive, then scans:
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
import time
import unittest

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


class PiiAudit(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = h.Redis().start()
        cls.crm = h.DemoCrm(customers=CUSTOMERS).start()
        lines = {"retail": h.service_line(identifierType="customer_id"),
                 "post": h.service_line(aniLookup=False, identifierType="tracking_number")}
        cfg = h.base_config(cls.redis, cls.crm.url, service_lines=lines,
                            lockout={"maxFailures": 3, "windowSeconds": 600},
                            crm_timeout_ms=1500)
        cls.svc = h.Authflow(cfg, log_level="debug").start()

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()
        cls.crm.stop()
        cls.redis.stop()

    def setUp(self):
        self.errors = []  # every non-2xx body we got back

    def call(self, response):
        if response[0] >= 300:
            self.errors.append(response[2])
        return response

    def test_full_set_of_calls_leaves_no_pii(self):
        svc, crm = self.svc, self.crm
        c = self.call

        # ANI forms that identify Pat, then wrong and right answers.
        for ani in ("tel:+14155550187", "tel: +1 415 555 0187",
                    "sip:+14155550187@10.0.0.1;user=phone", "<sip:+14155550187@host>",
                    "+14155550187", "(415) 555-0187", "4155550187"):
            cid = new_id("ani")
            assert_ok(self, c(svc.start_session(cid, ani=ani)), customerId=PAT["id"],
                      state="awaiting_security")
            assert_ok(self, c(svc.security(cid, WRONG_ANSWERS[0])), lastResult="wrong_answer")
            assert_ok(self, c(svc.security(cid, PAT["answer"])), outcome="verified")

        # Every identifier type.
        for ident, kind, who in ((PAT["accountNumber"], "account_number", PAT),
                                 (PAT["trackingNumber"], "tracking_number", PAT),
                                 ("415-555-0187", "phone", PAT),
                                 (ROB["customerId"], None, ROB),
                                 (ROB["accountNumber"], "account_number", ROB)):
            cid = new_id("ident")
            assert_ok(self, c(svc.start_session(cid, ani="anonymous")),
                      state="awaiting_identifier")
            assert_ok(self, c(svc.identifier(cid, ident, identifier_type=kind)),
                      customerId=who["id"])
            assert_ok(self, c(svc.security(cid, who["answer"])), outcome="verified")
        cid = new_id("post")
        assert_ok(self, c(svc.start_session(cid, "post", ani="+14155550163")),
                  state="awaiting_identifier")
        assert_ok(self, c(svc.identifier(cid, ROB["trackingNumber"])), customerId=ROB["id"])
        assert_ok(self, c(svc.opt_out(cid)), outcome="opted_out")

        # No match, invalid input, until identify_failed.
        cid = new_id("nomatch")
        assert_ok(self, c(svc.start_session(cid)), state="awaiting_identifier")
        assert_ok(self, c(svc.identifier(cid, NO_MATCH_IDS[0])), lastResult="no_match")
        assert_ok(self, c(svc.identifier(cid, INVALID_IDS[0])), lastResult="invalid_input")
        assert_ok(self, c(svc.identifier(cid, NO_MATCH_IDS[1])), outcome="identify_failed")
        cid = new_id("nomatch")
        assert_ok(self, c(svc.start_session(cid)), state="awaiting_identifier")
        assert_ok(self, c(svc.identifier(cid, INVALID_IDS[1])), lastResult="invalid_input")
        assert_ok(self, c(svc.identifier(cid, NO_MATCH_IDS[2], identifier_type="account_number")),
                  lastResult="no_match")

        # CRM errors and garbage with an answer / identifier in flight.
        for fault in ("error", "garbage"):
            crm.set(fault=fault)
            cid = new_id("crmfault")
            assert_ok(self, c(svc.start_session(cid, ani="+14155550187")),
                      state="awaiting_identifier", lastResult="crm_error")
            assert_ok(self, c(svc.identifier(cid, PAT["accountNumber"], "account_number")),
                      outcome="crm_unavailable")
            crm.set(fault="none")
            cid = new_id("crmfault")
            assert_ok(self, c(svc.start_session(cid, ani="+14155550187")),
                      state="awaiting_security")
            crm.set(fault=fault)
            assert_ok(self, c(svc.security(cid, PAT["answer"])), outcome="crm_unavailable")
            crm.set(fault="none")
        crm.set(delay_ms=3000)  # past crm.timeoutMs: a timeout mid-verification
        cid = new_id("crmslow")
        crm.set(delay_ms=0)
        assert_ok(self, c(svc.start_session(cid, ani="+14155550187")), state="awaiting_security")
        crm.set(delay_ms=3000)
        assert_ok(self, c(svc.security(cid, WRONG_ANSWERS[1])), outcome="crm_unavailable")
        crm.set(delay_ms=0)

        # Lockout of Rob: 3 wrong answers over two calls, then locked.
        cids = []
        for _ in range(2):
            cid = new_id("lock")
            assert_ok(self, c(svc.start_session(cid, ani="+14155550163")),
                      state="awaiting_security")
            cids.append(cid)
        for i, w in enumerate(WRONG_ANSWERS[2:5]):
            c(svc.security(cids[i % 2], w))
        assert_ok(self, c(svc.security(cids[1], ROB["answer"])), outcome="locked")

        # Refused bodies that hold an answer, ANI or identifier.
        cid = new_id("refused")
        assert_ok(self, c(svc.start_session(cid, ani="+14155550187")), state="awaiting_security")
        path = "/v1/sessions/%s/security" % cid
        for raw in ('{"answer":"%s",}' % WRONG_ANSWERS[5], '{"answer":"%s' % WRONG_ANSWERS[5],
                    '{"answer":"%s\x01"}' % WRONG_ANSWERS[6], '{"answer":%s}' % WRONG_ANSWERS[6],
                    '{"answer":"%s","answer":"1"}' % WRONG_ANSWERS[6],
                    '["%s"]' % PAT["answer"], '{"answer":["%s"]}' % PAT["answer"],
                    '{"answer":"%s"' % PAT["answer"], '{"answer":"%s"]' % PAT["answer"]):
            resp = c(svc.request("POST", path, raw_body=raw.encode()))
            self.assertEqual(resp[0], 400, resp)
        for raw in ('{"identifier":%s}' % PAT["accountNumber"],
                    '{"identifier":"%s' % PAT["trackingNumber"]):
            c(svc.request("POST", "/v1/sessions/%s/identifier" % cid, raw_body=raw.encode()))
        for raw in ('{"conversationId":"x","serviceLine":"retail","ani":14155550187}',
                    '{"conversationId":"x","serviceLine":"retail","ani":"+14155550187'):
            resp = c(svc.request("POST", "/v1/sessions", raw_body=raw.encode()))
            self.assertEqual(resp[0], 400, resp)
        # Busy: a racing step with an answer while another waits on the CRM
        # (1.5 s, so a loaded machine still sends the second step in time).
        crm.set(delay_ms=1500)
        t = threading.Thread(target=lambda: c(svc.security(cid, WRONG_ANSWERS[5])), daemon=True)
        t.start()
        h.wait_until(lambda: crm.stats()["inFlight"] >= 1, 3.0, interval=0.01,
                     what="a verification in flight")
        resp = c(svc.security(cid, WRONG_ANSWERS[6]))
        self.assertEqual(resp[0], 409, resp)
        t.join(5)
        crm.set(delay_ms=0)

        metrics = svc.request("GET", "/metrics")[2]
        metrics = metrics.decode() if isinstance(metrics, bytes) else json.dumps(metrics)
        stored = self.redis.dump_all_values()

        # SIGTERM while a verification waits on the CRM, so the drain path logs too.
        cid = new_id("drain")
        assert_ok(self, c(svc.start_session(cid, ani="+14155550187")), state="awaiting_security")
        crm.set(delay_ms=800)
        t = threading.Thread(target=lambda: c(svc.security(cid, PAT["answer"])), daemon=True)
        t.start()
        h.wait_until(lambda: crm.stats()["inFlight"] >= 1, 3.0, interval=0.01,
                     what="a verification in flight")
        rc = svc.stop()
        t.join(5)
        svc.assert_clean_exit(self, rc)

        text = svc.log_text()
        self.assertGreater(len(text.splitlines()), 80, "the log is suspiciously short")
        self.assertTrue(any(e.get("level") == "debug" for e in svc.log_entries()),
                        "no debug lines: the audit did not run at debug level")
        errors = json.dumps(self.errors, ensure_ascii=False)
        self.assertGreater(len(self.errors), 10)
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


if __name__ == "__main__":
    unittest.main()
