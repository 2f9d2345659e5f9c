"""Context across channels (SPEC section 7), against the real binary, a real
redis-server and the demo CRM.

- Linked conversations: verified / identified-only carried with no CRM call;
  the window counts from the ORIGINAL proof across a chain of links; a
  customer locked out after the link completes as locked; every kind of
  unusable link is ignored and the linked session is never changed.
- Handoff codes: created by handoff keys only, redeemed once (racing
  redemptions from many sessions: exactly one wins), bound to a service line
  or a caller number, expired, wrong/used codes cost an identify attempt.
- Guessing must not pay: the global failed-redemption limit trips, refuses
  even a valid code without using it up, and lets it through once the window
  has passed.
- Key scopes, channel validation and recording, report counters, metrics.
- Secrecy: no issued code appears in any Redis value (SCAN of every key,
  dumped by type) or any log line.
"""

import json
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ANA, API_KEY, JIN, KEY_PREFIX, OMAR, StackTestCase,  # noqa: E402
                     Stack, assert_error, assert_ok, check_config, new_id,
                     service_line, stored_session)

HANDOFF_KEY = "itest-handoff-key-0123456789"
REPORT_KEY = "itest-report-key-0123456789"
SECRET = "itest-handoff-secret-not-for-production-0123456789"

ANA_ANI = "tel:+13175550116"
JIN_ANI = "tel:+13125550142"


class ContextCase(StackTestCase):
    LOG_LEVEL = "debug"  # the secrecy audit reads every log line, debug included
    HANDOFF = None
    SERVICE_LINES = {
        "retail": service_line(),
        "noverify": service_line(verification=False),
        "short": service_line(context={"reuseSeconds": 3}),
        "nolink": service_line(context={"reuseSeconds": 0}),
        "nohandoff": service_line(context={"handoff": False}),
    }

    @classmethod
    def setUpClass(cls):
        cls.issued = []
        super().setUpClass()

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["handoffKeys"] = [HANDOFF_KEY]
        cfg["reportKeys"] = [REPORT_KEY]
        cfg["handoff"] = dict({"secret": SECRET}, **(cls.HANDOFF or {}))
        return cfg

    # -- helpers ----------------------------------------------------------

    def start(self, conv, line="retail", ani=None, linked=None, channel=None, key=API_KEY,
              language=None):
        body = {"conversationId": conv, "serviceLine": line}
        if language is not None:
            body["language"] = language
        if ani is not None:
            body["ani"] = ani
        if linked is not None:
            body["linkedConversationId"] = linked
        if channel is not None:
            body["channel"] = channel
        return self.svc.request("POST", "/v1/sessions", body, key=key)

    def ok(self, response, **expected):
        # 200 with exactly the 16 keys, their JSON types, no null, the
        # enumerations and the invariants of SPEC section 3.
        return assert_ok(self, response, **expected)

    def verified_session(self, line="retail", channel=None):
        conv = new_id("ctx-a")
        self.ok(self.start(conv, line, ani=ANA_ANI, channel=channel),
                state="awaiting_security", identificationMethod="ani")
        self.ok(self.svc.security(conv, ANA["answer"]), outcome="verified")
        return conv

    def identified_session(self):
        """Identified by ANI on a line without verification."""
        conv = new_id("ctx-i")
        self.ok(self.start(conv, "noverify", ani=ANA_ANI), outcome="identified_only")
        return conv

    def create_handoff(self, **body):
        payload = {"customerId": JIN["id"], "customerName": JIN["name"], "verified": True}
        payload.update(body)
        status, _, answer = self.svc.request("POST", "/v1/handoffs", payload, key=HANDOFF_KEY)
        self.assertEqual(status, 201, answer)
        self.assertEqual(set(answer), {"code", "expiresInSeconds"})
        self.assertRegex(answer["code"], r"^[0-9]{10}$")
        type(self).issued.append(answer["code"])
        return answer

    def redeem(self, conv, code, key=API_KEY):
        return self.svc.request("POST", "/v1/sessions/%s/handoff" % conv, {"code": code},
                                key=key)

    def session_hash(self, conv):
        return stored_session(self.redis.command, KEY_PREFIX + "session:" + conv)

    def metric(self, name, **labels):
        status, _, body = self.svc.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode() if isinstance(body, bytes) else str(body)
        want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            m = re.match(r"^%s(\{[^}]*\})? ([0-9.e+]+)$" % re.escape(name), line)
            if not m:
                continue
            got = ",".join(sorted((m.group(1) or "{}")[1:-1].split(","))) if m.group(1) else ""
            if all(part in got.split(",") for part in want.split(",") if part):
                total += float(m.group(2))
        return total

    def hour_counters(self):
        out = {}
        cursor = b"0"
        while True:
            cursor, keys = self.redis.command("SCAN", cursor, "MATCH", KEY_PREFIX + "report:h:*")
            for key in keys:
                raw = self.redis.command("HGETALL", key)
                for i in range(0, len(raw), 2):
                    f = raw[i].decode()
                    # "<q>|<line>|<counter>": summed over the hour's quarters.
                    if f.count("|") == 2:
                        f = f.split("|", 1)[1]
                    out[f] = out.get(f, 0) + int(raw[i + 1])
            if cursor in (b"0", 0, "0"):
                return out

    def events(self):
        out = []
        for _id, fields in self.redis.command("XRANGE", KEY_PREFIX + "report:events", "-", "+"):
            out.append({fields[i].decode(): fields[i + 1].decode()
                        for i in range(0, len(fields), 2)})
        return out


class LinkedConversationTest(ContextCase):

    def test_verified_link_completes_verified_without_the_crm(self):
        before = self.verified_session()
        linked_before = self.session_hash(before)
        crm = self.crm.stats()
        conv = new_id("ctx-b")
        body = self.ok(self.start(conv, ani=ANA_ANI, linked=before, channel="callback"),
                       state="completed", outcome="verified", nextAction="continue",
                       identificationMethod="linked", customerId=ANA["id"],
                       customerName=ANA["name"], verified=True, lastResult="match")
        self.assertEqual(body["promptId"], "welcome_verified")
        self.assertEqual(self.crm_delta(crm, "requests"), 0, "a link costs no CRM call")
        self.assertEqual(self.session_hash(before), linked_before, "linked session changed")
        stored = self.session_hash(conv)
        self.assertEqual(stored["channel"], "callback")
        self.assertEqual(stored["linkedConversationId"], before)
        self.assertEqual(stored["contextMs"], self.session_hash(before)["contextMs"])
        # Recorded for reports: channel and method in the event, counters.
        event = [e for e in self.events() if e["conversationId"] == conv][0]
        self.assertEqual(event["channel"], "callback")
        self.assertEqual(event["identificationMethod"], "linked")
        counters = self.hour_counters()
        self.assertEqual(counters.get("retail|context_reused"), 1)
        self.assertEqual(counters.get("retail|context_reused@callback"), 1)
        self.assertEqual(counters.get("retail|completed@callback"), 1)
        self.assertEqual(counters.get("retail|completed@voice"), 1)
        self.assertEqual(counters.get("retail|completed"), 2)
        self.assertEqual(counters.get("retail|started@callback"), 1)

    def test_identified_only_link_asks_only_the_security_question(self):
        before = self.identified_session()
        crm = self.crm.stats()
        conv = new_id("ctx-b")
        self.ok(self.start(conv, "retail", linked=before), state="awaiting_security",
                identificationMethod="linked", customerId=ANA["id"], verified=False,
                promptId="ask_security")
        self.assertEqual(self.crm_delta(crm, "lookups"), 0)
        self.ok(self.svc.security(conv, ANA["answer"]), outcome="verified",
                identificationMethod="linked")
        # Verifying here is an original proof: the time moved on.
        self.assertGreater(int(self.session_hash(conv)["contextMs"]),
                           int(self.session_hash(before)["contextMs"]))

    def test_identified_only_link_on_a_line_without_verification(self):
        before = self.identified_session()
        self.ok(self.start(new_id("ctx-b"), "noverify", linked=before), state="completed",
                outcome="identified_only", identificationMethod="linked", verified=False)

    def test_window_counts_from_the_original_proof_across_a_chain(self):
        # "short" carries context for 3 s. A verifies; B links to A 1.5 s
        # later; C links to B 2 s after that: B itself is only 2 s old, but
        # the proof it carries is 3.5 s old, so C starts from scratch.
        a = self.verified_session("short")
        proof_ms = int(self.session_hash(a)["contextMs"])
        time.sleep(1.5)
        b = new_id("ctx-b")
        self.ok(self.start(b, "short", linked=a), outcome="verified",
                identificationMethod="linked")
        self.assertEqual(int(self.session_hash(b)["contextMs"]), proof_ms)
        time.sleep(2.0)
        self.assertGreaterEqual(time.time() * 1000 - proof_ms, 3000)
        self.assertLess(time.time() * 1000 - int(self.session_hash(b)["createdMs"]), 3000)
        c = new_id("ctx-c")
        crm = self.crm.stats()
        self.ok(self.start(c, "short", ani=ANA_ANI, linked=b), state="awaiting_security",
                identificationMethod="ani")
        self.assertEqual(self.crm_delta(crm, "lookups"), 1, "the start ran as without a link")
        self.assertEqual(self.session_hash(c)["linkedConversationId"], "")

    def test_customer_locked_out_after_the_link_completes_locked(self):
        before = self.verified_session()
        # Five wrong answers for Ana in five other calls lock her out.
        for _ in range(5):
            conv = new_id("ctx-lock")
            self.ok(self.start(conv, ani=ANA_ANI), state="awaiting_security")
            self.svc.security(conv, "0000")
        conv = new_id("ctx-b")
        crm = self.crm.stats()
        linked_before = self.session_hash(before)
        self.ok(self.start(conv, linked=before), state="completed", outcome="locked",
                nextAction="transfer_to_agent", verified=False,
                identificationMethod="linked", customerId=ANA["id"])
        self.assertEqual(self.crm_delta(crm, "requests"), 0)
        self.assertEqual(self.session_hash(before), linked_before, "linked session changed")
        self.assertGreaterEqual(self.metric("authflow_context_links_total", result="locked"), 1)

    def test_unusable_links_are_ignored_and_never_change_the_linked_session(self):
        in_progress = new_id("ctx-p")
        self.ok(self.start(in_progress, ani=ANA_ANI), state="awaiting_security")
        nobody = new_id("ctx-n")
        self.ok(self.start(nobody), state="awaiting_identifier")
        self.ok(self.svc.opt_out(nobody), outcome="opted_out")
        verified = self.verified_session()
        old = self.verified_session("short")
        time.sleep(3.2)
        cases = [("unknown", "retail", new_id("ctx-none")),
                 ("in_progress", "retail", in_progress),
                 ("not_identified", "retail", nobody),
                 ("expired", "short", old),
                 ("off", "nolink", verified)]
        for verdict, line, linked in cases:
            with self.subTest(verdict=verdict):
                before = self.session_hash(linked)
                metric_before = self.metric("authflow_context_links_total", result=verdict)
                crm = self.crm.stats()
                conv = new_id("ctx-x")
                self.ok(self.start(conv, line, ani=ANA_ANI, linked=linked),
                        state="awaiting_security", identificationMethod="ani")
                self.assertEqual(self.crm_delta(crm, "lookups"), 1)
                self.assertEqual(self.session_hash(linked), before, "linked session changed")
                self.assertEqual(self.metric("authflow_context_links_total", result=verdict),
                                 metric_before + 1)

    def test_a_link_to_itself_or_a_malformed_id(self):
        conv = new_id("ctx-self")
        self.ok(self.start(conv, ani=ANA_ANI, linked=conv), identificationMethod="ani")
        assert_error(self, self.start(new_id("ctx-bad"), linked="a/b"), 400, "invalid_request",
                     mentions="linkedConversationId")

    def test_a_later_start_keeps_its_state_and_never_relinks(self):
        # A start on an existing conversation answers its kept state: a link
        # given then (a usable one, or the conversation itself) is not read.
        verified = self.verified_session()
        conv = new_id("ctx-keep")
        self.ok(self.start(conv), state="awaiting_identifier", identificationMethod="none")
        used = self.metric("authflow_context_links_total", result="used")
        crm = self.crm.stats()
        for linked in (verified, conv):
            with self.subTest(linked=linked):
                self.ok(self.start(conv, ani=ANA_ANI, linked=linked),
                        state="awaiting_identifier", identificationMethod="none",
                        customerId="", attemptsRemaining=3)
        self.assertEqual(self.crm_delta(crm, "requests"), 0)
        self.assertEqual(self.session_hash(conv)["linkedConversationId"], "")
        # A linked conversation started again keeps the link it took.
        carried = new_id("ctx-keep")
        self.ok(self.start(carried, linked=verified), outcome="verified",
                identificationMethod="linked")
        other = self.identified_session()
        self.ok(self.start(carried, "noverify", linked=other), outcome="verified",
                serviceLine="retail", identificationMethod="linked")
        self.assertEqual(self.session_hash(carried)["linkedConversationId"], verified)
        self.assertEqual(self.metric("authflow_context_links_total", result="used"), used + 1)

    def test_deleted_conversations_carry_nothing_and_stay_deleted(self):
        verified = self.verified_session()
        # A link to a deleted conversation is a link to nothing: the
        # tombstone holds no customer.
        gone = self.verified_session()
        self.assertEqual(self.svc.delete(gone)[0], 204)
        self.ok(self.start(new_id("ctx-x"), ani=ANA_ANI, linked=gone),
                state="awaiting_security", identificationMethod="ani")
        # A deleted conversation cannot start again, not even with a usable
        # link, and a handoff code keyed on it finds no session (and is not
        # used up).
        dead = new_id("ctx-dead")
        self.ok(self.start(dead), state="awaiting_identifier")
        self.assertEqual(self.svc.delete(dead)[0], 204)
        crm = self.crm.stats()
        body = assert_error(self, self.start(dead, ani=ANA_ANI, linked=verified), 409,
                            "wrong_state")
        self.assertEqual(body["state"], "completed")
        code = self.create_handoff()["code"]
        assert_error(self, self.redeem(dead, code), 404, "not_found")
        assert_error(self, self.svc.get(dead), 404, "not_found")
        self.assertEqual(self.crm_delta(crm, "requests"), 0)
        self.assertEqual([k.decode() if isinstance(k, bytes) else k
                          for k in self.redis.keys(KEY_PREFIX + "*" + dead)],
                         [KEY_PREFIX + "deleted:" + dead])
        fresh = new_id("ctx-y")
        self.ok(self.start(fresh))
        self.ok(self.redeem(fresh, code), outcome="verified", customerId=JIN["id"])

    def test_channel_is_validated_and_defaults_to_voice(self):
        for bad in ("Voice", "x" * 33, "web-chat", "chat!"):
            with self.subTest(channel=bad):
                assert_error(self, self.start(new_id("ctx-ch"), channel=bad), 400,
                             "invalid_request", mentions="channel")
        conv = new_id("ctx-ch")
        self.ok(self.start(conv))
        self.assertEqual(self.session_hash(conv)["channel"], "voice")
        conv = new_id("ctx-ch")
        self.ok(self.start(conv, channel="web_chat_2"))
        self.assertEqual(self.session_hash(conv)["channel"], "web_chat_2")
        # "" is what the Genesys kit's silent form sends for an unset input:
        # absent, like "${input.channel}" (and so for linkedConversationId).
        for unset in ("", "${input.channel}"):
            conv = new_id("ctx-ch")
            self.ok(self.start(conv, channel=unset, linked=unset.replace("channel", "link")),
                    identificationMethod="none")
            self.assertEqual(self.session_hash(conv)["channel"], "voice")


class HandoffTest(ContextCase):
    # The races below fail dozens of redemptions on purpose: the guess limit
    # (tested on its own in GuessLimitTest) is raised out of their way.
    HANDOFF = {"maxFailedRedemptions": 10000}

    def fresh(self, line="retail", ani=None):
        conv = new_id("ho")
        self.ok(self.start(conv, line, ani=ani))
        return conv

    def test_verified_handoff_completes_verified_without_the_crm(self):
        redeemed = self.metric("authflow_handoff_redemptions_total", result="redeemed")
        answer = self.create_handoff(channel="app")
        self.assertEqual(answer["expiresInSeconds"], 300)
        conv = self.fresh()
        crm = self.crm.stats()
        self.ok(self.redeem(conv, answer["code"]), state="completed", outcome="verified",
                identificationMethod="handoff", customerId=JIN["id"],
                customerName=JIN["name"], lastResult="match")
        self.assertEqual(self.crm_delta(crm, "requests"), 0)
        self.assertEqual(self.session_hash(conv)["contextChannel"], "app")
        event = [e for e in self.events() if e["conversationId"] == conv][0]
        self.assertEqual(event["identificationMethod"], "handoff")
        self.assertEqual(event["contextChannel"], "app")
        self.assertEqual(self.hour_counters().get("retail|context_reused"), 1)
        self.assertEqual(self.metric("authflow_handoff_redemptions_total", result="redeemed"),
                         redeemed + 1)

    def test_unverified_handoff_asks_the_security_answer(self):
        code = self.create_handoff(verified=False)["code"]
        conv = self.fresh()
        self.ok(self.redeem(conv, code), state="awaiting_security",
                identificationMethod="handoff", customerId=JIN["id"], verified=False)
        self.ok(self.svc.security(conv, JIN["answer"]), outcome="verified")
        conv = self.fresh("noverify")
        code = self.create_handoff(verified=False)["code"]
        self.ok(self.redeem(conv, code), outcome="identified_only",
                identificationMethod="handoff")

    def test_redeem_while_awaiting_security_and_grouped_digits(self):
        code = self.create_handoff()["code"]
        conv = self.fresh(ani=ANA_ANI)  # identified as Ana by ANI
        grouped = "%s %s-%s" % (code[:3], code[3:6], code[6:])
        self.ok(self.redeem(conv, grouped), outcome="verified", customerId=JIN["id"])

    def test_a_code_works_once(self):
        code = self.create_handoff()["code"]
        self.ok(self.redeem(self.fresh(), code), outcome="verified")
        conv = self.fresh()
        self.ok(self.redeem(conv, code), state="awaiting_identifier", lastResult="no_match",
                attemptsRemaining=2, identificationMethod="none")

    def test_wrong_and_invalid_codes_cost_identify_attempts(self):
        conv = self.fresh()
        code = self.create_handoff()["code"]
        wrong = "%010d" % ((int(code) + 1) % 10 ** 10)
        self.ok(self.redeem(conv, wrong), lastResult="no_match", attemptsRemaining=2,
                promptId="ask_identifier_retry")
        self.ok(self.redeem(conv, "12ab"), lastResult="invalid_input", attemptsRemaining=1)
        self.ok(self.redeem(conv, "123"), state="completed", outcome="identify_failed",
                lastResult="invalid_input", nextAction="transfer_to_agent")
        assert_error(self, self.redeem(conv, code), 409, "wrong_state")
        # The code was never used up by those failures.
        self.ok(self.redeem(self.fresh(), code), outcome="verified")

    def test_a_wrong_code_while_asking_security_keeps_the_identification(self):
        conv = self.fresh(ani=ANA_ANI)
        self.ok(self.redeem(conv, "0000000000"), state="awaiting_security",
                lastResult="no_match", customerId=ANA["id"], identificationMethod="ani")

    def test_no_code_is_checked_once_the_identify_attempts_are_spent(self):
        # Identified on the last of its 3 identify attempts, the call is
        # asked for the security answer. A code keyed now would be a 4th
        # identify attempt: it is refused unchecked (no_match, to an agent),
        # neither used up nor counted as a failed redemption.
        code = self.create_handoff()["code"]
        conv = self.fresh()
        for wrong in ("999991", "999992"):
            self.ok(self.svc.identifier(conv, wrong), lastResult="no_match")
        self.ok(self.svc.identifier(conv, OMAR["customerId"]), state="awaiting_security",
                customerId=OMAR["id"])
        failures = self.redis.command("GET", KEY_PREFIX + "handoff:failures")
        self.ok(self.redeem(conv, code), state="completed", outcome="identify_failed",
                lastResult="no_match", customerId=OMAR["id"], verified=False,
                identificationMethod="identifier")
        self.assertEqual(self.redis.command("GET", KEY_PREFIX + "handoff:failures"), failures)
        self.assertGreaterEqual(
            self.metric("authflow_handoff_redemptions_total", result="no_attempts"), 1)
        self.ok(self.redeem(self.fresh(), code), outcome="verified", customerId=JIN["id"])
        # With attempts left, the same state still redeems (ANI: none spent).
        code = self.create_handoff()["code"]
        self.ok(self.redeem(self.fresh(ani=ANA_ANI), code), outcome="verified",
                customerId=JIN["id"])

    def test_a_handoff_for_a_line_that_refuses_handoffs_is_refused(self):
        assert_error(self, self.svc.request("POST", "/v1/handoffs",
                                            {"customerId": JIN["id"], "verified": True,
                                             "serviceLine": "nohandoff"}, key=HANDOFF_KEY),
                     400, "invalid_request", mentions="serviceLine")
        self.assertEqual(self.redis.keys(KEY_PREFIX + "handoff:code:*"), [])

    def test_service_line_binding(self):
        code = self.create_handoff(serviceLine="noverify")["code"]
        self.ok(self.redeem(self.fresh("retail"), code), lastResult="no_match")
        self.ok(self.redeem(self.fresh("noverify"), code), outcome="verified",
                identificationMethod="handoff")
        status, _, body = self.svc.request("POST", "/v1/handoffs",
                                           {"customerId": "1", "verified": True,
                                            "serviceLine": "nosuchline"}, key=HANDOFF_KEY)
        self.assertEqual(status, 400)
        self.assertIn("serviceLine", body["message"])

    def test_phone_binding(self):
        code = self.create_handoff(phone="+13125550142")["code"]
        self.ok(self.redeem(self.fresh(ani=ANA_ANI), code), lastResult="no_match")
        self.ok(self.redeem(self.fresh(), code), lastResult="no_match")  # no ANI at all
        self.ok(self.redeem(self.fresh(ani=JIN_ANI), code), outcome="verified",
                customerId=JIN["id"])
        status, _, body = self.svc.request("POST", "/v1/handoffs",
                                           {"customerId": "1", "verified": True,
                                            "phone": "not a number"}, key=HANDOFF_KEY)
        self.assertEqual(status, 400)
        self.assertIn("phone", body["message"])

    def test_a_line_without_handoffs_never_checks_the_code(self):
        code = self.create_handoff()["code"]
        self.ok(self.redeem(self.fresh("nohandoff"), code), lastResult="no_match",
                attemptsRemaining=2)
        self.ok(self.redeem(self.fresh(), code), outcome="verified")

    def test_racing_redemptions_of_one_code_exactly_one_wins(self):
        for round_ in range(3):
            code = self.create_handoff(customerId=OMAR["id"], customerName=OMAR["name"])["code"]
            convs = [self.fresh() for _ in range(24)]
            results = [None] * len(convs)
            barrier = threading.Barrier(len(convs))

            def go(i):
                barrier.wait()
                results[i] = self.redeem(convs[i], code)

            threads = [threading.Thread(target=go, args=(i,)) for i in range(len(convs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            statuses = [r[0] for r in results]
            self.assertEqual(statuses, [200] * len(convs), results)
            winners = [r[2] for r in results if r[2]["identified"]]
            losers = [r[2] for r in results if not r[2]["identified"]]
            self.assertEqual(len(winners), 1, "round %d: %d winners" % (round_, len(winners)))
            self.assertEqual(winners[0]["customerId"], OMAR["id"])
            self.assertTrue(all(b["lastResult"] == "no_match" for b in losers))

    def test_key_scopes(self):
        body = {"customerId": "1", "verified": True}
        conv = self.fresh()
        # A session key may not create handoffs; nor may a report key.
        for key in (API_KEY, REPORT_KEY):
            assert_error(self, self.svc.request("POST", "/v1/handoffs", body, key=key), 403,
                         "forbidden")
        self.assertEqual(self.svc.request("POST", "/v1/handoffs", body, key=None)[0], 401)
        self.assertEqual(self.svc.request("POST", "/v1/handoffs", body,
                                          key="not-a-key-at-all")[0], 401)
        # A handoff key may do nothing else.
        for method, path, payload in (
                ("POST", "/v1/sessions", {"conversationId": new_id(), "serviceLine": "retail"}),
                ("GET", "/v1/sessions/" + conv, None),
                ("DELETE", "/v1/sessions/" + conv, None),
                ("POST", "/v1/sessions/%s/handoff" % conv, {"code": "0123456789"}),
                ("POST", "/v1/sessions/%s/identifier" % conv, {"identifier": "100234"}),
                ("GET", "/metrics", None),
                ("GET", "/v1/reports/summary", None),
                ("GET", "/v1/reports/interactions", None)):
            with self.subTest(path=path, method=method):
                assert_error(self, self.svc.request(method, path, payload, key=HANDOFF_KEY),
                             403, "forbidden")
        # ... and the session was not touched by any of that.
        self.ok(self.svc.get(conv), state="awaiting_identifier", attemptsRemaining=3)
        # A report key on a session endpoint (or /metrics) is outside its
        # scope too, and a session key may read the reports.
        for method, path, payload in (
                ("POST", "/v1/sessions", {"conversationId": new_id(), "serviceLine": "retail"}),
                ("GET", "/v1/sessions/" + conv, None),
                ("DELETE", "/v1/sessions/" + conv, None),
                ("POST", "/v1/sessions/%s/handoff" % conv, {"code": "0123456789"}),
                ("POST", "/v1/sessions/%s/opt-out" % conv, {}),
                ("GET", "/metrics", None)):
            with self.subTest(path=path, method=method, key="report"):
                assert_error(self, self.svc.request(method, path, payload, key=REPORT_KEY),
                             403, "forbidden")
        self.assertEqual(self.svc.request("GET", "/v1/reports/summary", key=API_KEY)[0], 200)
        self.ok(self.svc.get(conv), state="awaiting_identifier", attemptsRemaining=3)

    def test_handoff_creation_validation(self):
        for payload, field in (({"verified": True}, "customerId"),
                               ({"customerId": "1"}, "verified"),
                               ({"customerId": "1", "verified": "yes"}, "verified"),
                               ({"customerId": "1", "verified": True, "channel": "App"},
                                "channel"),
                               ({"customerId": "x" * 65, "verified": True}, "customerId")):
            with self.subTest(field=field):
                assert_error(self, self.svc.request("POST", "/v1/handoffs", payload,
                                                    key=HANDOFF_KEY),
                             400, "invalid_request", mentions=field)

    def test_zz_codes_appear_nowhere(self):
        # Runs last in this class (unittest sorts by name): every code this
        # class issued, used or not, must appear in no Redis value and no log
        # line (the service logs at debug level here).
        self.create_handoff()  # one live, never redeemed
        code = self.create_handoff()["code"]
        self.ok(self.redeem(self.fresh(), code), outcome="verified")
        self.ok(self.redeem(self.fresh(), code), lastResult="no_match")
        self.assertGreater(len(self.issued), 10)
        dump = self.redis.dump_all_values()
        self.assertIn(b"handoff", dump)  # the store does hold handoffs
        logs = self.svc.log_text()
        self.assertIn("handoff", logs)
        for code in self.issued:
            self.assertNotIn(code.encode(), dump, "a code is stored in clear")
            self.assertNotIn(code, logs, "a code was logged")
            # nor in grouped form
            self.assertNotIn("%s %s" % (code[:3], code[3:6]), logs)


class GuessLimitTest(ContextCase):
    # A tiny limit and window so the test can trip the limiter and see it
    # reset; codes live 4 s so expiry can be seen too.
    HANDOFF = {"maxFailedRedemptions": 5, "failedRedemptionWindowSeconds": 2,
               "ttlSeconds": 4}

    def fresh(self):
        conv = new_id("guess")
        self.ok(self.start(conv))
        return conv

    def test_the_global_limit_trips_refuses_even_valid_codes_then_resets(self):
        answer = self.create_handoff()
        self.assertEqual(answer["expiresInSeconds"], 4)
        code = answer["code"]
        trips = self.metric("authflow_handoff_limiter_trips_total")
        # Five wrong codes from five different sessions trip the limit.
        for i in range(5):
            self.ok(self.redeem(self.fresh(), "%010d" % i), lastResult="no_match")
        self.assertEqual(self.metric("authflow_handoff_limiter_trips_total"), trips + 1)
        self.assertIn("handoff guess limit reached", self.svc.log_text())
        # While tripped even the right code fails, costs an attempt, and is
        # not used up; the caller falls back to normal ID&V.
        conv = self.fresh()
        self.ok(self.redeem(conv, code), lastResult="no_match", attemptsRemaining=2)
        self.ok(self.svc.identifier(conv, OMAR["customerId"]), state="awaiting_security")
        self.assertGreaterEqual(
            self.metric("authflow_handoff_redemptions_total", result="limited"), 1)
        # Once the window has passed the same code redeems: it was never
        # checked, let alone used up, while the limit held.
        time.sleep(2.2)
        self.ok(self.redeem(self.fresh(), code), outcome="verified",
                identificationMethod="handoff")

    def test_codes_expire(self):
        code = self.create_handoff()["code"]
        time.sleep(4.2)
        self.ok(self.redeem(self.fresh(), code), lastResult="no_match", attemptsRemaining=2,
                identificationMethod="none")
        self.assertEqual(self.redis_keys_like("handoff:*"), [])

    def redis_keys_like(self, pattern):
        return [k for k in self.redis.keys(KEY_PREFIX + pattern)
                if not k.startswith(KEY_PREFIX + "handoff:failures")]


PROMPT_IDS = ("ask_identifier", "ask_identifier_retry", "ask_security", "ask_security_retry",
              "welcome_verified", "welcome_identified", "opted_out", "transfer_to_agent",
              "transfer_locked", "transfer_crm_unavailable")
# Every prompt of the "custom" lines says the name if it is given one, so a
# prompt that got the name before verification would show it.
NAMED_PROMPTS = {lang: {pid: "%s %s[[ {customerName}]][[ ({firstName})]]." % (lang, pid)
                        for pid in PROMPT_IDS}
                 for lang in ("en-US", "es-ES", "ko-KR")}


class NoNameBeforeVerificationTest(ContextCase):
    """SPEC section 6: no customer data is spoken before verification. Every
    prompt a caller can hear while identified but not verified, in every
    built-in language, with the built-in prompts and with a line whose every
    prompt names the customer: ask_security and its retry, welcome_identified,
    the transfers (verify_failed, locked by lockout and by a locked link,
    crm_unavailable), a linked identified-only start and an unverified
    handoff. After verification the name is spoken (the check can fail)."""

    SERVICE_LINES = {
        "retail": service_line(),
        "noverify": service_line(verification=False),
        "custom": service_line(prompts=NAMED_PROMPTS),
        "customnv": service_line(verification=False, prompts=NAMED_PROMPTS),
    }

    def silent(self, response, names, **expected):
        body = self.ok(response, **expected)
        for name in names:
            self.assertNotIn(name, body["promptText"], "%s spoke the name" % body["promptId"])
        self.assertTrue(body["customerName"], "the agent's screen keeps the name")
        return body

    def one_language(self, lang, line, nv_line):
        self.redis.flushall()
        ana, jin = ("Ana", "García"), ("Jin", "Park")
        wrong = "0000"
        a = new_id("nm")
        self.silent(self.start(a, line, ani=ANA_ANI, language=lang), ana,
                    promptId="ask_security", language=lang)
        self.silent(self.svc.security(a, wrong), ana, promptId="ask_security_retry")
        self.svc.security(a, wrong)
        self.silent(self.svc.security(a, wrong), ana, outcome="verify_failed",
                    promptId="transfer_to_agent")  # 3 failures for Ana
        b = new_id("nm")
        self.silent(self.start(b, nv_line, ani=ANA_ANI, language=lang), ana,
                    outcome="identified_only", promptId="welcome_identified")
        c = new_id("nm")
        self.silent(self.start(c, line, linked=b, language=lang), ana,
                    identificationMethod="linked", promptId="ask_security")
        self.crm.set(fault="error")
        self.silent(self.svc.security(c, ANA["answer"]), ana, outcome="crm_unavailable",
                    promptId="transfer_crm_unavailable")  # sent: 4 failures
        self.crm.set(fault="none")
        d = new_id("nm")
        self.start(d, line, ani=ANA_ANI, language=lang)
        self.silent(self.svc.security(d, wrong), ana, promptId="ask_security_retry")  # 5: locked
        self.silent(self.start(new_id("nm"), line, ani=ANA_ANI, language=lang), ana,
                    outcome="locked", promptId="transfer_locked", identificationMethod="ani")
        self.silent(self.start(new_id("nm"), line, linked=b, language=lang), ana,
                    outcome="locked", promptId="transfer_locked",
                    identificationMethod="linked")
        g = new_id("nm")
        self.ok(self.start(g, line, language=lang))
        self.silent(self.redeem(g, self.create_handoff(verified=False)["code"]), jin,
                    identificationMethod="handoff", promptId="ask_security")
        # Verified: now the name is spoken (en/es the first name, ko the full
        # name, the custom prompts both).
        body = self.ok(self.svc.security(g, JIN["answer"]), outcome="verified",
                       promptId="welcome_verified")
        self.assertIn("Jin Park" if lang == "ko-KR" or line == "custom" else "Jin",
                      body["promptText"])

    def test_no_prompt_speaks_the_name_before_verification(self):
        for lang in ("en-US", "es-ES", "ko-KR"):
            for line, nv_line in (("retail", "noverify"), ("custom", "customnv")):
                with self.subTest(lang=lang, line=line):
                    self.one_language(lang, line, nv_line)


class CheckConfigTest(unittest.TestCase):
    """--check-config validates the new keys and names the bad one."""

    def setUp(self):
        self.stack = Stack(self.addCleanup)

    def check(self, cfg):
        path = os.path.join(self.stack.tempdir(), "config.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        return check_config(path)

    def test_bad_values_are_named(self):
        good_secret = "x" * 32
        cases = [
            ({"handoffKeys": [HANDOFF_KEY]}, "handoff.secret: required"),
            ({"handoff": {"secret": "short"}}, "handoff.secret: must be at least 16"),
            ({"handoff": {"secret": good_secret, "ttlSeconds": 0}}, "handoff.ttlSeconds"),
            ({"handoff": {"secret": good_secret, "maxFailedRedemptions": 0}},
             "handoff.maxFailedRedemptions"),
            ({"apiKeys": [HANDOFF_KEY], "handoffKeys": [HANDOFF_KEY],
              "handoff": {"secret": good_secret}}, "handoffKeys[0]"),
            ({"serviceLines": {"retail": {"context": {"reuseSeconds": -5}}}},
             "serviceLines.retail.context.reuseSeconds"),
            ({"serviceLines": {"retail": {"context": {"handoff": 1}}}},
             "serviceLines.retail.context.handoff"),
        ]
        for cfg, named in cases:
            with self.subTest(named=named):
                rc, out = self.check(cfg)
                self.assertNotEqual(rc, 0, out)
                self.assertIn(named, out)
                self.assertNotIn(good_secret, out)
        rc, out = self.check({"handoffKeys": [HANDOFF_KEY],
                              "handoff": {"secret": good_secret}})
        self.assertEqual(rc, 0, out)
        self.assertIn("handoffs on", out)
        self.assertNotIn(good_secret, out)
        self.assertNotIn("handoff.secret is shorter", out)
        # 16..31 bytes: accepted, with a warning (and never echoed).
        fair_secret = "y" * 20
        rc, out = self.check({"handoffKeys": [HANDOFF_KEY],
                              "handoff": {"secret": fair_secret}})
        self.assertEqual(rc, 0, out)
        self.assertIn("warning: handoff.secret is shorter than 32 bytes", out)
        self.assertNotIn(fair_secret, out)


if __name__ == "__main__":
    unittest.main()
