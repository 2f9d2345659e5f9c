"""Exports are never cut: a CSV of a range holds every interaction in it
(more than one internal page of the stream), a range past the export
maximum is refused with the reason, and a call completed in the current
second is in the interactions as it is in the summary.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_report_export.py -v
"""

import csv
import io
import unittest

import harness as h
from harness import assert_ok, new_id

REPORT_KEY = "itest-report-export-key"
SESSIONS = 620  # more than one 500-entry page of the event stream


class FullExport(h.StackTestCase):
    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["reportKeys"] = [REPORT_KEY]
        cfg["reporting"] = {"exportMaxRows": 1000}
        return cfg

    def completed(self, n):
        ids = []
        for _ in range(n):
            c = new_id("exp")
            assert_ok(self, self.svc.start_session(c))
            assert_ok(self, self.svc.opt_out(c))
            ids.append(c)
        return ids

    def get(self, path):
        return self.svc.request("GET", path, key=REPORT_KEY)

    def rows(self, path):
        status, headers, body = self.get(path)
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/csv"))
        return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))

    def test_csv_holds_every_interaction_and_is_refused_past_the_maximum(self):
        ids = self.completed(SESSIONS)
        rows = self.rows("/v1/reports/interactions?format=csv")
        self.assertEqual(len(rows), SESSIONS)
        self.assertEqual(sorted(r["conversationId"] for r in rows), sorted(ids))
        self.assertEqual(len({r["id"] for r in rows}), SESSIONS, "no row twice")
        # A limit or a cursor in the query does not cut a CSV either.
        self.assertEqual(len(self.rows("/v1/reports/interactions?format=csv&limit=5")), SESSIONS)
        # JSON still pages, with a cursor; a conversation can be looked up.
        status, _, body = self.get("/v1/reports/interactions")
        self.assertEqual(status, 200)
        self.assertEqual(body["count"], 50)
        self.assertIsNotNone(body["nextCursor"])
        status, _, body = self.get("/v1/reports/interactions?conversationId=" + ids[0])
        self.assertEqual([i["conversationId"] for i in body["items"]], [ids[0]])
        self.assertEqual(self.get("/v1/reports/interactions?conversationId=a%20b")[0], 400)

        # One more than exportMaxRows: refused with the reason, never cut.
        self.completed(1000 - SESSIONS + 1)
        status, _, body = self.get("/v1/reports/interactions?format=csv")
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"], "invalid_request")
        self.assertIn("1000", body["message"])
        self.assertIn("narrow", body["message"])
        # A filter that matches fewer is fine.
        rows = self.rows("/v1/reports/interactions?format=csv&outcome=verified")
        self.assertEqual(rows, [])


class CurrentSecond(h.StackTestCase):
    def test_a_call_completed_now_is_listed(self):
        c = new_id("now")
        assert_ok(self, self.svc.start_session(c))
        assert_ok(self, self.svc.opt_out(c))
        # No from/to: the default range ends after this second.
        status, _, items = self.svc.request("GET", "/v1/reports/interactions")
        self.assertEqual(status, 200, items)
        status, _, summary = self.svc.request("GET", "/v1/reports/summary")
        self.assertEqual(status, 200, summary)
        self.assertEqual([i["conversationId"] for i in items["items"]], [c])
        self.assertEqual(summary["total"]["completed"], 1)
        status, _, body = self.svc.request("GET", "/v1/reports/interactions?format=csv")
        self.assertIn(c, body.decode())


if __name__ == "__main__":
    unittest.main()
