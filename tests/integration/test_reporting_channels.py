"""Reports by channel and context reuse: sessions on voice, chat and
callback, a linked call and a handoff, plus counters and an event written
the way the release before channels wrote them, must show up exactly in
/v1/reports/summary (channel filter, byChannel, contextReused and
contextReuseRate) and /v1/reports/interactions (channel filter, channel in
every item) and in both CSVs. Bad channel parameters are 400 naming the
field.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_reporting_channels.py -v
"""

import csv
import io
import time
import unittest
import urllib.parse

import harness as h
from harness import ANA, JIN, new_id

HANDOFF_KEY = "itest-handoff-key-reports-0123"
SECRET = "itest-handoff-secret-reports-not-for-production-0123"
ANA_ANI = "tel:+13175550116"


class ChannelMix(h.StackTestCase):
    """Eight sessions (one recorded as before channels existed):

    | session | line     | channel          | how                    | outcome   |
    | v1      | retail   | (none) = voice   | ANI + answer           | verified  |
    | v2      | retail   | voice            | opt-out                | opted_out |
    | ch1     | retail   | chat             | ANI + answer           | verified  |
    | cb1     | retail   | callback         | linked to ch1          | verified  |
    | v3      | retail   | (none) = voice   | handoff code           | verified  |
    | cb2     | noverify | callback         | opt-out                | opted_out |
    | ch2     | retail   | chat             | started only           | pending   |
    | old     | retail   | (none recorded)  | written as before      | opted_out |
    """

    SERVICE_LINES = {"retail": h.service_line(),
                     "noverify": h.service_line(verification=False)}

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["handoffKeys"] = [HANDOFF_KEY]
        cfg["handoff"] = {"secret": SECRET}
        return cfg

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = cls.stack.svcs[0]
        cls.t0 = int(time.time())
        cls.ids = {}
        cls.drive()
        cls.t1 = int(time.time()) + 1

    def reset_stack(self):
        """Every test reads the one mix drive() made: nothing is flushed."""
        self.assertTrue(self.a.alive(), "authflow died; log:\n" + self.a.log_text()[-3000:])

    @classmethod
    def ok(cls, response, **expected):
        return h.expect_step(response, **expected)

    @classmethod
    def start(cls, tag, line="retail", channel=None, **fields):
        conv = cls.ids[tag] = new_id("rch-" + tag)
        body = {"conversationId": conv, "serviceLine": line}
        if channel is not None:
            body["channel"] = channel
        body.update(fields)
        return conv, cls.a.request("POST", "/v1/sessions", body)

    @classmethod
    def drive(cls):
        a = cls.a
        conv, r = cls.start("v1", ani=ANA_ANI)
        cls.ok(r, state="awaiting_security")
        cls.ok(a.security(conv, ANA["answer"]), outcome="verified")
        conv, r = cls.start("v2", channel="voice")
        cls.ok(r, state="awaiting_identifier")
        cls.ok(a.opt_out(conv), outcome="opted_out")
        conv, r = cls.start("ch1", channel="chat", ani=ANA_ANI)
        cls.ok(r, state="awaiting_security")
        cls.ok(a.security(conv, ANA["answer"]), outcome="verified")
        _, r = cls.start("cb1", channel="callback", ani=ANA_ANI,
                         linkedConversationId=cls.ids["ch1"])
        cls.ok(r, outcome="verified", identificationMethod="linked")
        status, _, made = a.request("POST", "/v1/handoffs",
                                    {"customerId": JIN["id"], "customerName": JIN["name"],
                                     "verified": True, "channel": "app"}, key=HANDOFF_KEY)
        if status != 201:
            raise AssertionError("handoff creation failed: %s %r" % (status, made))
        conv, r = cls.start("v3")
        cls.ok(r, state="awaiting_identifier")
        cls.ok(a.request("POST", "/v1/sessions/%s/handoff" % conv, {"code": made["code"]}),
               outcome="verified", identificationMethod="handoff")
        conv, r = cls.start("cb2", line="noverify", channel="callback")
        cls.ok(r, state="awaiting_identifier")
        cls.ok(a.opt_out(conv), outcome="opted_out")
        _, r = cls.start("ch2", channel="chat")
        cls.ok(r, state="awaiting_identifier")
        cls.write_as_before_channels()

    @classmethod
    def write_as_before_channels(cls):
        """One opted-out call recorded the way the release before channels
        did: all-channels counters only, an event with no channel field."""
        now = time.time()
        key = h.KEY_PREFIX + "report:h:" + time.strftime("%Y%m%d%H", time.gmtime(now))
        for counter in ("started", "completed", "opted_out"):
            cls.stack.redis.command("HINCRBY", key, "retail|" + counter, 1)
        conv = cls.ids["old"] = new_id("rch-old")
        cls.stack.redis.command(
            "XADD", h.KEY_PREFIX + "report:events", "*",
            "conversationId", conv, "serviceLine", "retail", "outcome", "opted_out",
            "authStatus", "not_identified", "identificationMethod", "none",
            "identifyAttempts", "0", "verifyAttempts", "0", "attempts", "0",
            "durationMs", "5", "timeMs", str(int(now * 1000)), "aniMasked", "")

    # -- reading ------------------------------------------------------------

    def get(self, path, params):
        params = dict(params)
        params.setdefault("from", h.iso(self.t0 - 10))
        params.setdefault("to", h.iso(self.t1 + 10))
        return self.a.request("GET", path + "?" + urllib.parse.urlencode(params))

    def summary(self, **params):
        status, _, body = self.get("/v1/reports/summary", params)
        self.assertEqual(status, 200, body)
        return body

    def interactions(self, **params):
        status, _, body = self.get("/v1/reports/interactions", params)
        self.assertEqual(status, 200, body)
        return body

    def assert_counts(self, counts, started, completed, reused):
        self.assertEqual((counts["started"], counts["completed"], counts["contextReused"]),
                         (started, completed, reused), counts)
        if completed:
            self.assertAlmostEqual(counts["contextReuseRate"], reused / completed)
        else:
            self.assertIsNone(counts["contextReuseRate"])

    # -- summary ------------------------------------------------------------

    def test_all_channels_total_and_by_channel(self):
        s = self.summary()
        self.assertEqual(s["channel"], "all")
        self.assert_counts(s["total"], 8, 7, 2)
        self.assertEqual(s["total"]["outcomes"]["verified"], 4)
        self.assertEqual(s["total"]["outcomes"]["opted_out"], 3)
        by = {c["channel"]: c for c in s["byChannel"]}
        self.assertEqual([c["channel"] for c in s["byChannel"]], ["callback", "chat", "voice"])
        self.assert_counts(by["callback"], 2, 2, 1)
        self.assert_counts(by["chat"], 2, 1, 0)
        # voice: v1, v2, v3 and the call recorded before channels.
        self.assert_counts(by["voice"], 4, 4, 1)
        self.assertEqual(by["voice"]["outcomes"]["opted_out"], 2)
        for c in s["byChannel"]:
            self.assertEqual((c["start"], c["end"]), (s["total"]["start"], s["total"]["end"]))
        # Every counts object has the new keys, buckets too.
        for counts in s["buckets"]:
            self.assertIn("contextReused", counts)
            self.assertIn("contextReuseRate", counts)
        self.assertEqual(sum(b["contextReused"] for b in s["buckets"]), 2)
        for key in ("started", "completed", "contextReused", "transferred", "identified"):
            self.assertEqual(sum(c[key] for c in s["byChannel"]), s["total"][key], key)

    def test_channel_filter(self):
        voice = self.summary(channel="voice", bucket="day")
        self.assertEqual(voice["channel"], "voice")
        self.assert_counts(voice["total"], 4, 4, 1)
        self.assertEqual(sum(b["started"] for b in voice["buckets"]), 4)
        # The filter narrows the counts, not the list of channels.
        self.assertEqual([c["channel"] for c in voice["byChannel"]],
                         ["callback", "chat", "voice"])
        self.assert_counts(self.summary(channel="callback")["total"], 2, 2, 1)
        chat = self.summary(channel="chat")["total"]
        self.assert_counts(chat, 2, 1, 0)
        self.assertEqual(chat["verificationRate"], 1.0)
        none = self.summary(channel="web")
        self.assert_counts(none["total"], 0, 0, 0)
        self.assertEqual(len(none["byChannel"]), 3)

    def test_channel_and_service_line_together(self):
        s = self.summary(serviceLine="noverify")
        self.assertEqual([c["channel"] for c in s["byChannel"]], ["callback"])
        self.assert_counts(s["total"], 1, 1, 0)
        self.assert_counts(self.summary(serviceLine="retail", channel="callback")["total"],
                           1, 1, 1)
        self.assert_counts(self.summary(serviceLine="noverify", channel="voice")["total"],
                           0, 0, 0)

    def test_summary_csv(self):
        status, headers, body = self.get("/v1/reports/summary", {"format": "csv"})
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/csv"))
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        for column in ("channel", "contextReused", "contextReuseRate"):
            self.assertIn(column, rows[0])
        total = [r for r in rows if r["scope"] == "total"]
        self.assertEqual(len(total), 1)
        self.assertEqual((total[0]["channel"], total[0]["started"], total[0]["contextReused"],
                          total[0]["contextReuseRate"]), ("all", "8", "2", "%.4f" % (2 / 7)))
        self.assertTrue(all(r["channel"] == "all" for r in rows if r["scope"] == "bucket"))
        per = {r["channel"]: r for r in rows if r["scope"] == "channel"}
        self.assertEqual(sorted(per), ["callback", "chat", "voice"])
        self.assertEqual((per["callback"]["contextReused"], per["callback"]["contextReuseRate"]),
                         ("1", "0.5000"))
        self.assertEqual(per["voice"]["started"], "4")
        status, _, body = self.get("/v1/reports/summary", {"format": "csv", "channel": "chat"})
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        total = [r for r in rows if r["scope"] == "total"][0]
        self.assertEqual((total["channel"], total["started"], total["contextReuseRate"]),
                         ("chat", "2", "0.0000"))

    # -- interactions -------------------------------------------------------

    def test_interactions_carry_and_filter_the_channel(self):
        items = self.interactions()["items"]
        got = {i["conversationId"]: i for i in items}
        want = {"v1": "voice", "v2": "voice", "ch1": "chat", "cb1": "callback",
                "v3": "voice", "cb2": "callback", "old": "voice"}
        self.assertEqual({t: got[self.ids[t]]["channel"] for t in want}, want)
        self.assertNotIn(self.ids["ch2"], got)  # pending: no event yet
        self.assertEqual(got[self.ids["cb1"]]["identificationMethod"], "linked")
        self.assertEqual(got[self.ids["v3"]]["identificationMethod"], "handoff")
        for channel in ("voice", "chat", "callback"):
            page = self.interactions(channel=channel)["items"]
            self.assertEqual({i["conversationId"] for i in page},
                             {self.ids[t] for t, c in want.items() if c == channel}, channel)
            self.assertTrue(all(i["channel"] == channel for i in page))
        self.assertEqual(self.interactions(channel="web")["items"], [])
        both = self.interactions(channel="callback", serviceLine="noverify")["items"]
        self.assertEqual([i["conversationId"] for i in both], [self.ids["cb2"]])

    def test_interactions_csv_has_the_channel(self):
        status, _, body = self.get("/v1/reports/interactions", {"format": "csv"})
        self.assertEqual(status, 200)
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        by_id = {r["conversationId"]: r for r in rows}
        self.assertEqual(by_id[self.ids["cb1"]]["channel"], "callback")
        self.assertEqual(by_id[self.ids["old"]]["channel"], "voice")
        status, _, body = self.get("/v1/reports/interactions",
                                   {"format": "csv", "channel": "chat"})
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        self.assertEqual([r["conversationId"] for r in rows], [self.ids["ch1"]])

    def test_bad_channel_is_400_naming_the_field(self):
        for path in ("/v1/reports/summary", "/v1/reports/interactions"):
            for bad in ("Voice", "web-chat", "x" * 33, "a b", "%", "voice@x"):
                with self.subTest(path=path, channel=bad):
                    status, _, body = self.get(path, {"channel": bad})
                    self.assertEqual(status, 400, body)
                    self.assertEqual(body["error"], "invalid_request")
                    self.assertIn("channel", body["message"])


if __name__ == "__main__":
    unittest.main()
