"""Supervisor reporting: a known mix of calls through TWO authflow instances
sharing one Redis must show up exactly in /v1/reports/summary,
/v1/reports/interactions and their CSV forms; report keys are scoped; a
recording failure never fails the caller's step and is counted.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_reporting.py -v
"""

import csv
import io
import time
import unittest
import urllib.parse

import harness as h
from harness import assert_ok, new_id

REPORT_KEY = "itest-report-only-key-1"
LINES = {"retail": h.service_line(), "billing": h.service_line()}


class ReportingMix(h.StackTestCase):
    """Six sessions: five completed (one per outcome kind), one left pending."""

    SERVICE_LINES = LINES
    INSTANCES = 2

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["reportKeys"] = [REPORT_KEY]
        return cfg

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a, cls.b = cls.stack.svcs
        cls.t0 = int(time.time())
        cls.ids = {}
        cls.completion_order = []
        cls.drive()
        cls.t1 = int(time.time()) + 1

    def reset_stack(self):
        """Every test reads the one mix drive() made: nothing is flushed."""
        for svc in self.svcs:
            self.assertTrue(svc.alive(), "authflow died; log:\n" + svc.log_text()[-3000:])

    @classmethod
    def step(cls, response, **expected):
        return h.expect_step(response, **expected)

    @classmethod
    def drive(cls):
        a, b = cls.a, cls.b
        # 1 retail: ANI identifies Ana, PIN right (start on A, verify on B).
        c = cls.ids["ani_verified"] = new_id("rep")
        cls.step(a.start_session(c, "retail", ani="tel:+13175550116"),
                 identificationMethod="ani")
        cls.step(b.security(c, "1234"), outcome="verified")
        cls.completion_order.append(c)
        # 2 retail: identifier, three wrong PINs -> verify_failed.
        c = cls.ids["verify_failed"] = new_id("rep")
        cls.step(b.start_session(c, "retail"))
        cls.step(a.identifier(c, "300001"), identified=True)
        cls.step(b.security(c, "0000"))
        cls.step(a.security(c, "0001"))
        cls.step(b.security(c, "0002"), outcome="verify_failed")
        cls.completion_order.append(c)
        # 3 retail: opt-out.
        c = cls.ids["opted_out"] = new_id("rep")
        cls.step(a.start_session(c, "retail"))
        cls.step(b.opt_out(c), outcome="opted_out")
        cls.completion_order.append(c)
        # 4 billing: three unknown identifiers -> identify_failed.
        c = cls.ids["identify_failed"] = new_id("rep")
        cls.step(b.start_session(c, "billing"))
        for svc in (a, b, a):
            body = cls.step(svc.identifier(c, "999999"))
        if body["outcome"] != "identify_failed":
            raise AssertionError("expected identify_failed: %r" % body)
        cls.completion_order.append(c)
        # 5 billing: ANI identifies Lena, PIN right.
        c = cls.ids["billing_verified"] = new_id("rep")
        cls.step(a.start_session(c, "billing", ani="+13175550155"),
                 identificationMethod="ani")
        cls.step(b.security(c, "1357"), outcome="verified")
        cls.completion_order.append(c)
        # 6 billing: CRM down during the identifier -> crm_unavailable.
        c = cls.ids["crm_unavailable"] = new_id("rep")
        cls.step(b.start_session(c, "billing"))
        cls.stack.crm.set(fault="error")
        try:
            cls.step(a.identifier(c, "300002"), outcome="crm_unavailable")
        finally:
            cls.stack.crm.normal()
        cls.completion_order.append(c)
        # 7 billing: started, still pending.
        c = cls.ids["pending"] = new_id("rep")
        cls.step(a.start_session(c, "billing"))

    def get(self, path, params=None, key=h.API_KEY, svc=None):
        query = "?" + urllib.parse.urlencode(params) if params else ""
        return (svc or self.a).request("GET", path + query, key=key)

    def summary(self, **params):
        params.setdefault("from", h.iso(self.t0 - 10))
        params.setdefault("to", h.iso(self.t1 + 10))
        status, headers, body = self.get("/v1/reports/summary", params)
        self.assertEqual(status, 200, body)
        return body

    def test_summary_totals_match_the_mix(self):
        total = self.summary()["total"]
        self.assertEqual(total["started"], 7)
        self.assertEqual(total["startedAniIdentified"], 2)
        self.assertEqual(total["completed"], 6)
        self.assertEqual(total["outcomes"], {
            "verified": 2, "identified_only": 0, "opted_out": 1,
            "identify_failed": 1, "verify_failed": 1, "locked": 0,
            "crm_unavailable": 1})
        self.assertEqual(total["identified"], 3)
        self.assertEqual(total["verified"], 2)
        self.assertEqual(total["transferred"], 3)
        self.assertEqual(total["crmErrors"], 1)
        self.assertAlmostEqual(total["aniIdentificationRate"], 2 / 7)
        self.assertAlmostEqual(total["identificationRate"], 3 / 6)
        self.assertAlmostEqual(total["verificationRate"], 2 / 6)
        self.assertAlmostEqual(total["containmentRate"], 3 / 6)
        self.assertAlmostEqual(total["transferRate"], 3 / 6)
        self.assertAlmostEqual(total["optOutRate"], 1 / 6)
        # attempts: 1 + (1+3) + 0 + 3 + 1 + 0 (the CRM failure is refunded)
        self.assertAlmostEqual(total["averageAttempts"], 9 / 6)

    def test_summary_per_service_line_and_buckets(self):
        both = self.summary(bucket="hour")
        self.assertEqual(sorted(both["serviceLines"]), ["billing", "retail"])
        self.assertEqual(sum(b["completed"] for b in both["buckets"]), 6)
        retail = self.summary(serviceLine="retail")["total"]
        self.assertEqual((retail["started"], retail["completed"]), (3, 3))
        self.assertEqual(retail["outcomes"]["opted_out"], 1)
        billing = self.summary(serviceLine="billing", bucket="day")
        self.assertEqual(billing["bucket"], "day")
        self.assertEqual(billing["total"]["started"], 4)
        self.assertEqual(billing["total"]["outcomes"]["identify_failed"], 1)
        self.assertEqual(sum(b["started"] for b in billing["buckets"]), 4)
        # Unix seconds work as well as ISO 8601; an empty range has no data
        # and null rates.
        secs = self.summary(**{"from": str(self.t0 - 10), "to": str(self.t1 + 10)})
        self.assertEqual(secs["total"]["completed"], 6)
        old = self.summary(**{"from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z"})
        self.assertEqual(old["total"]["started"], 0)
        self.assertIsNone(old["total"]["identificationRate"])

    def test_summary_from_the_other_instance_is_the_same(self):
        params = {"from": h.iso(self.t0 - 10), "to": h.iso(self.t1 + 10)}
        _, _, from_a = self.get("/v1/reports/summary", params, svc=self.a)
        _, _, from_b = self.get("/v1/reports/summary", params, svc=self.b)
        self.assertEqual(from_a["total"], from_b["total"])

    def test_summary_csv(self):
        params = {"from": h.iso(self.t0 - 10), "to": h.iso(self.t1 + 10), "format": "csv"}
        status, headers, body = self.get("/v1/reports/summary", params)
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/csv"))
        self.assertIn("attachment", headers["content-disposition"])
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        total = [r for r in rows if r["scope"] == "total"]
        self.assertEqual(len(total), 1)
        self.assertEqual(total[0]["started"], "7")
        self.assertEqual(total[0]["completed"], "6")
        self.assertEqual(total[0]["outcome_verified"], "2")
        self.assertEqual(total[0]["outcome_crm_unavailable"], "1")
        self.assertEqual(total[0]["containmentRate"], "0.5000")
        self.assertEqual(sum(int(r["completed"]) for r in rows if r["scope"] == "bucket"), 6)

    def interactions(self, **params):
        params.setdefault("from", h.iso(self.t0 - 10))
        params.setdefault("to", h.iso(self.t1 + 10))
        status, _, body = self.get("/v1/reports/interactions", params)
        self.assertEqual(status, 200, body)
        return body

    def test_interactions_newest_first_with_no_pii(self):
        body = self.interactions()
        ids = [i["conversationId"] for i in body["items"]]
        self.assertEqual(ids, list(reversed(self.completion_order)))
        self.assertIsNone(body["nextCursor"])
        by_id = {i["conversationId"]: i for i in body["items"]}
        first = by_id[self.ids["ani_verified"]]
        self.assertEqual((first["outcome"], first["authStatus"], first["identificationMethod"]),
                         ("verified", "identified_verified", "ani"))
        self.assertEqual(first["aniMasked"][-4:], "0116")
        self.assertNotIn("3175550116", first["aniMasked"])
        failed = by_id[self.ids["verify_failed"]]
        self.assertEqual((failed["identifyAttempts"], failed["verifyAttempts"], failed["attempts"]),
                         (1, 3, 4))
        self.assertGreaterEqual(failed["durationMs"], 0)
        # Nothing in the stream is an answer, a raw identifier or a customer.
        raw = self.redis.command("XRANGE", h.KEY_PREFIX + "report:events", "-", "+")
        values = [v.decode() for _, fields in raw for v in fields[1::2]]
        for secret in ("1234", "1357", "0000", "300001", "999999", "+13175550116",
                       "Ana García", "100234"):
            self.assertFalse([v for v in values if v == secret or secret in v and
                              not v.startswith("rep-")], secret)

    def test_interactions_filters_and_paging(self):
        verified = self.interactions(outcome="verified")["items"]
        self.assertEqual({i["conversationId"] for i in verified},
                         {self.ids["ani_verified"], self.ids["billing_verified"]})
        none = self.interactions(authStatus="not_identified")["items"]
        self.assertEqual({i["conversationId"] for i in none},
                         {self.ids["opted_out"], self.ids["identify_failed"],
                          self.ids["crm_unavailable"]})
        billing = self.interactions(serviceLine="billing")["items"]
        self.assertEqual(len(billing), 3)
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": "2"}
            if cursor:
                params["cursor"] = cursor
            page = self.interactions(**params)
            pages += 1
            self.assertLessEqual(len(page["items"]), 2)
            seen += [i["conversationId"] for i in page["items"]]
            cursor = page["nextCursor"]
            if not cursor or pages > 10:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, list(reversed(self.completion_order)))

    def test_interactions_csv(self):
        params = {"from": h.iso(self.t0 - 10), "to": h.iso(self.t1 + 10), "format": "csv"}
        status, headers, body = self.get("/v1/reports/interactions", params)
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/csv"))
        self.assertIn("attachment", headers["content-disposition"])
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        self.assertEqual([r["conversationId"] for r in rows],
                         list(reversed(self.completion_order)))
        self.assertEqual(sorted(r["outcome"] for r in rows),
                         sorted(["verified", "verify_failed", "opted_out",
                                 "identify_failed", "verified", "crm_unavailable"]))

    def test_bad_parameters_are_400(self):
        for path, params in (("/v1/reports/summary", {"from": "yesterday"}),
                             ("/v1/reports/summary", {"bucket": "week"}),
                             ("/v1/reports/summary", {"serviceLine": "nope"}),
                             ("/v1/reports/summary", {"from": "2024-01-02", "to": "2024-01-01"}),
                             ("/v1/reports/interactions", {"limit": "0"}),
                             ("/v1/reports/interactions", {"outcome": "pending"}),
                             ("/v1/reports/interactions", {"cursor": "x"}),
                             ("/v1/reports/interactions", {"format": "xml"})):
            status, _, body = self.get(path, params)
            self.assertEqual(status, 400, (path, params, body))
            self.assertEqual(body["error"], "invalid_request")

    def test_keys_are_scoped(self):
        self.assertEqual(self.get("/v1/reports/summary", key=None)[0], 401)
        self.assertEqual(self.get("/v1/reports/summary", key="wrong-key-123")[0], 401)
        self.assertEqual(self.get("/v1/reports/summary", key=REPORT_KEY)[0], 200)
        self.assertEqual(self.get("/v1/reports/interactions", key=REPORT_KEY)[0], 200)
        # A report key cannot drive or read sessions, nor read /metrics: a
        # valid key outside its scope is 403 forbidden (SPEC section 3).
        status, _, body = self.a.start_session(new_id("rep-x"), "retail", key=REPORT_KEY)
        self.assertEqual(status, 403)
        self.assertEqual(body["error"], "forbidden")
        self.assertEqual(self.a.get(self.ids["pending"], key=REPORT_KEY)[0], 403)
        self.assertEqual(self.get("/metrics", key=REPORT_KEY)[0], 403)

    def test_dashboard_needs_no_key_and_is_self_contained(self):
        status, headers, body = self.get("/dashboard", key=None)
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        html = body.decode()
        self.assertIn("/v1/reports/summary", html)
        self.assertIn("sessionStorage", html)
        self.assertNotIn("http://", html.replace("http://www.w3.org/2000/svg", ""))
        self.assertNotIn("https://", html)


class RecordingFailure(h.StackTestCase):
    """A report key of the wrong type: the step still commits, the event is
    counted as dropped, both in the process and in Redis."""

    def test_dropped_event_does_not_fail_the_step(self):
        self.redis.command("SET", h.KEY_PREFIX + "report:events", "not-a-stream")
        c = new_id("drop")
        assert_ok(self, self.svc.start_session(c, "retail"))
        assert_ok(self, self.svc.opt_out(c), outcome="opted_out", state="completed")
        status, _, body = self.svc.get(c)
        self.assertEqual((status, body["outcome"]), (200, "opted_out"))
        status, _, text = self.svc.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = text.decode()
        self.assertIn("authflow_report_events_dropped_total 1\n", text)
        self.assertIn("authflow_report_events_dropped_redis 1\n", text)
        # The counters were still written; the summary still answers.
        status, _, summary = self.svc.request("GET", "/v1/reports/summary")
        self.assertEqual(status, 200)
        self.assertEqual(summary["total"]["completed"], 1)
        # Reading the broken stream is a clean 503, not a crash.
        status, _, body = self.svc.request("GET", "/v1/reports/interactions")
        self.assertEqual(status, 503)


if __name__ == "__main__":
    unittest.main()
