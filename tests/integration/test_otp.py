"""One-time codes (SPEC section 9, issue 25) against the real binary, a real
redis-server, the demo CRM and a real HTTP SMS sink on loopback.

- Each verificationMethod: otp, answer_then_otp, otp_or_answer (and its
  fallbacks: no phone on file, a failed send), answer unchanged.
- The code: goes only to the phone on file, resend voids the old code,
  otp.maxSends, otp.maxChecks, expiry asks for a resend at no cost, single
  use under racing submissions.
- A wrong code costs a verify attempt and counts toward the lockout.
- Abuse limits: per customer per day, per phone per hour, the process-wide
  per-minute budget (fallback, metric and warning).
- Secrecy: no issued code in any Redis value, log line or report record.
"""

import csv
import io
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crm_stubs import SmsSink  # noqa: E402
from harness import (ANA, JIN, OMAR, StackTestCase, assert_error,  # noqa: E402
                     assert_session_answer, new_id, service_line)

SECRET = "itest-otp-secret-not-for-production-0123456789"
ANA_ANI = "tel:+13175550116"
JIN_ANI = "tel:+13125550142"


def otp_config(sink, **numbers):
    cfg = {"secret": SECRET,
           "send": {"method": "POST", "url": sink.url + "/sms",
                    "headers": ["Content-Type: application/json",
                                "Authorization: Bearer " + SmsSink.TOKEN],
                    "body": '{"to":"{phone}","text":"Your code is {code}. '
                            '({serviceLine}, {language})"}',
                    "status": {"ok": [200, 202]}}}
    cfg.update(numbers)
    return cfg


class OtpCase(StackTestCase):
    LOG_LEVEL = "debug"  # the secrecy scan reads every line, debug included
    OTP = {}
    LOCKOUT = {"maxFailures": 50, "windowSeconds": 600}
    SERVICE_LINES = {
        "otp": service_line(verificationMethod="otp"),
        "both": service_line(verificationMethod="answer_then_otp"),
        "either": service_line(verificationMethod="otp_or_answer"),
        "answer": service_line(),
    }

    @classmethod
    def make_config(cls, stack, **overrides):
        cls.sink = stack.start(SmsSink())
        cfg = super().make_config(stack, **overrides)
        cfg["otp"] = otp_config(cls.sink, **cls.OTP)
        return cfg

    def setUp(self):
        super().setUp()
        self.sink.reset()

    # -- helpers ----------------------------------------------------------

    def start(self, conv, line, ani=None):
        body = {"conversationId": conv, "serviceLine": line}
        if ani:
            body["ani"] = ani
        status, _, b = self.svc.request("POST", "/v1/sessions", body)
        self.assertEqual(status, 200, b)
        return assert_session_answer(b)

    def otp(self, conv, code=None, resend=False):
        body = {"resend": True} if resend else {"code": code}
        return self.svc.request("POST", "/v1/sessions/%s/otp" % conv, body)

    def code(self, conv, code):
        status, _, b = self.otp(conv, code)
        self.assertEqual(status, 200, b)
        return assert_session_answer(b)

    def wrong(self, right):
        return "%06d" % ((int(right) + 1) % 1000000)


class TestMethods(OtpCase):
    def test_otp_by_ani_sends_to_the_phone_on_file_and_verifies(self):
        conv = new_id("otp")
        b = self.start(conv, "otp", ANA_ANI)
        self.assertEqual(b["nextAction"], "ask_otp")
        self.assertEqual(b["state"], "awaiting_otp")
        self.assertEqual(b["promptId"], "ask_otp")
        self.assertIn("ending in 16", b["promptText"])
        self.assertEqual(b["verificationMethods"], [])
        self.assertEqual(self.sink.count(), 1)
        msg = self.sink.last()
        self.assertEqual(msg["to"], "+13175550116")
        self.assertIn("(otp, en-US)", msg["text"])
        self.assertEqual(len(msg["code"]), 6)
        self.assertNotIn(msg["code"], str(b))
        b = self.code(conv, self.wrong(msg["code"]))
        self.assertEqual((b["lastResult"], b["promptId"], b["attemptsRemaining"]),
                         ("wrong_code", "ask_otp_retry", 2))
        b = self.code(conv, msg["code"])
        self.assertEqual((b["outcome"], b["nextAction"], b["verified"]),
                         ("verified", "continue", True))
        self.assertEqual(b["verificationMethods"], ["otp"])
        status, _, g = self.svc.get(conv)
        self.assertEqual(g["verificationMethods"], ["otp"])
        # Single use: the session completed, the code is gone.
        status, _, b = self.otp(conv, msg["code"])
        self.assertEqual(status, 409)

    def test_identifier_then_code_goes_to_the_number_on_file_not_the_ani(self):
        conv = new_id("otp")
        b = self.start(conv, "otp", "tel:+19995550000")  # unknown caller
        self.assertEqual(b["nextAction"], "ask_identifier")
        self.assertEqual(self.sink.count(), 0)
        status, _, b = self.svc.identifier(conv, JIN["customerId"])
        self.assertEqual(b["nextAction"], "ask_otp", b)
        self.assertEqual(self.sink.last()["to"], "+13125550142")
        self.assertIn("42", b["promptText"])

    def test_answer_then_otp_needs_both(self):
        conv = new_id("both")
        b = self.start(conv, "both", ANA_ANI)
        self.assertEqual(b["nextAction"], "ask_security")
        self.assertEqual(self.sink.count(), 0)
        status, _, b = self.svc.security(conv, ANA["answer"])
        self.assertEqual((b["nextAction"], b["verified"]), ("ask_otp", False), b)
        self.assertEqual(b["verificationMethods"], ["answer"])
        b = self.code(conv, self.sink.last()["code"])
        self.assertEqual(b["outcome"], "verified")
        self.assertEqual(b["verificationMethods"], ["answer", "otp"])

    def test_otp_or_answer_without_a_phone_asks_for_the_answer(self):
        conv = new_id("either")
        self.start(conv, "either")
        status, _, b = self.svc.identifier(conv, OMAR["customerId"])
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "no_phone"), b)
        self.assertEqual(self.sink.count(), 0)
        status, _, b = self.svc.security(conv, OMAR["answer"])
        self.assertEqual(b["outcome"], "verified")
        self.assertEqual(b["verificationMethods"], ["answer"])

    def test_otp_without_a_phone_goes_to_an_agent(self):
        conv = new_id("otp")
        self.start(conv, "otp")
        status, _, b = self.svc.identifier(conv, OMAR["customerId"])
        self.assertEqual((b["nextAction"], b["outcome"], b["lastResult"]),
                         ("transfer_to_agent", "verify_failed", "no_phone"), b)

    def test_failed_send_falls_back_per_method(self):
        self.sink.mode = "error"
        conv = new_id("either")
        b = self.start(conv, "either", ANA_ANI)
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "send_failed"))
        conv = new_id("otp")
        b = self.start(conv, "otp", ANA_ANI)
        self.assertEqual((b["nextAction"], b["lastResult"]),
                         ("transfer_to_agent", "send_failed"))

    def test_answer_line_is_unchanged(self):
        conv = new_id("answer")
        b = self.start(conv, "answer", ANA_ANI)
        self.assertEqual(b["nextAction"], "ask_security")
        status, _, b = self.svc.security(conv, ANA["answer"])
        self.assertEqual(b["verificationMethods"], ["answer"])
        self.assertEqual(self.sink.count(), 0)

    def test_resend_voids_the_old_code_and_max_sends_holds(self):
        conv = new_id("otp")
        self.start(conv, "otp", ANA_ANI)
        first = self.sink.last()["code"]
        status, _, b = self.otp(conv, resend=True)
        self.assertEqual((status, b["promptId"], b["lastResult"]),
                         (200, "ask_otp_resent", "code_sent"), b)
        second = self.sink.last()["code"]
        self.assertEqual(self.sink.count(), 2)
        status, _, b = self.otp(conv, resend=True)  # the third and last
        third = self.sink.last()["code"]
        status, _, b = self.otp(conv, resend=True)  # otp.maxSends = 3
        self.assertEqual((b["lastResult"], b["promptId"]),
                         ("send_limited", "ask_otp_resend_failed"))
        self.assertEqual(self.sink.count(), 3)
        if first != third:
            b = self.code(conv, first)
            self.assertEqual(b["lastResult"], "wrong_code")
        if second != third:
            b = self.code(conv, second)
            self.assertEqual(b["lastResult"], "wrong_code")
        b = self.code(conv, third)
        self.assertEqual(b["outcome"], "verified")

    def test_wrong_codes_spend_verify_attempts_then_an_agent(self):
        conv = new_id("otp")
        self.start(conv, "otp", ANA_ANI)
        right = self.sink.last()["code"]
        for left in (2, 1):
            b = self.code(conv, self.wrong(right))
            self.assertEqual(b["attemptsRemaining"], left)
        b = self.code(conv, self.wrong(right))
        self.assertEqual((b["nextAction"], b["outcome"]), ("transfer_to_agent", "verify_failed"))
        self.assertEqual(b["verificationMethods"], [])

    def test_bad_bodies(self):
        conv = new_id("otp")
        self.start(conv, "otp", ANA_ANI)
        for body in ({}, {"code": 123456}, {"resend": "yes"},
                     {"code": "123456", "resend": True}):
            status, _, b = self.svc.request("POST", "/v1/sessions/%s/otp" % conv, body)
            self.assertEqual(status, 400, body)
        # A code where none is asked for is a wrong state.
        conv2 = new_id("answer")
        self.start(conv2, "answer", ANA_ANI)
        assert_error(self, self.otp(conv2, "123456"), 409, "wrong_state")

    def test_racing_submissions_of_the_right_code_verify_once(self):
        for _ in range(3):
            conv = new_id("race")
            self.start(conv, "otp", ANA_ANI)
            right = self.sink.last()["code"]
            results, gate = [], threading.Barrier(16)

            def go():
                gate.wait()
                status, _, b = self.otp(conv, right)
                results.append((status, b.get("outcome") if status == 200 else b.get("error")))

            threads = [threading.Thread(target=go) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wins = [r for r in results if r == (200, "verified")]
            self.assertEqual(len(wins), 1, results)
            for status, what in results:
                if (status, what) != (200, "verified"):
                    self.assertEqual(status, 409, results)


class TestLockout(OtpCase):
    LOCKOUT = {"maxFailures": 3, "windowSeconds": 600}

    def test_wrong_codes_count_toward_the_cross_call_lockout(self):
        conv = new_id("lock")
        self.start(conv, "otp", ANA_ANI)
        right = self.sink.last()["code"]
        for _ in range(3):
            b = self.code(conv, self.wrong(right))
        self.assertEqual(b["outcome"], "verify_failed")
        sent = self.sink.count()
        conv = new_id("lock")
        b = self.start(conv, "otp", ANA_ANI)
        self.assertEqual((b["outcome"], b["nextAction"]), ("locked", "transfer_to_agent"), b)
        self.assertEqual(self.sink.count(), sent, "a locked customer gets no code")
        status, _, text = self.svc.request("GET", "/metrics")
        text = text if isinstance(text, str) else str(text)
        self.assertIn('authflow_otp_sends_total{result="locked"} 1', text)


class TestExpiry(OtpCase):
    OTP = {"ttlSeconds": 5}

    def test_an_expired_code_asks_for_a_new_one_at_no_cost(self):
        conv = new_id("exp")
        self.start(conv, "otp", ANA_ANI)
        old = self.sink.last()["code"]
        time.sleep(5.5)
        b = self.code(conv, old)
        self.assertEqual((b["lastResult"], b["promptId"], b["attemptsRemaining"]),
                         ("code_expired", "ask_otp_expired", 3), b)
        self.assertIn("16", b["promptText"])
        status, _, b = self.otp(conv, resend=True)
        b = self.code(conv, self.sink.last()["code"])
        self.assertEqual(b["outcome"], "verified")


class TestLimits(OtpCase):
    OTP = {"maxSendsPerPhonePerHour": 2, "maxSendsPerCustomerPerDay": 3}

    def test_per_phone_per_hour(self):
        for _ in range(2):
            b = self.start(new_id("lim"), "either", ANA_ANI)
            self.assertEqual(b["nextAction"], "ask_otp")
        b = self.start(new_id("lim"), "either", ANA_ANI)
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "send_limited"))
        self.assertEqual(self.sink.count(), 2)
        self.assertIn("otp send limit reached", self.svc.log_text())


class TestCustomerLimit(OtpCase):
    OTP = {"maxSendsPerCustomerPerDay": 2, "maxSendsPerPhonePerHour": 0}

    def test_per_customer_per_day(self):
        conv = new_id("cust")
        self.start(conv, "otp", ANA_ANI)
        self.otp(conv, resend=True)
        status, _, b = self.otp(conv, resend=True)
        self.assertEqual(b["lastResult"], "send_limited")
        self.assertEqual(self.sink.count(), 2)


class TestBudget(OtpCase):
    OTP = {"maxSendsPerMinute": 2, "maxSendsPerPhonePerHour": 0,
           "maxSendsPerCustomerPerDay": 0}

    def test_process_budget_falls_back_with_metric_and_warning(self):
        for _ in range(2):
            self.start(new_id("bud"), "either", ANA_ANI)
        b = self.start(new_id("bud"), "either", ANA_ANI)
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "send_limited"))
        b = self.start(new_id("bud"), "otp", ANA_ANI)
        self.assertEqual(b["nextAction"], "transfer_to_agent")
        status, _, text = self.svc.request("GET", "/metrics")
        text = text if isinstance(text, str) else str(text)
        self.assertIn('authflow_otp_sends_total{result="budget"} 2', text)
        self.assertIn("otp send budget spent", self.svc.log_text())


class TestReports(OtpCase):
    def test_summary_counts_sends_failures_fallbacks_and_the_pass_rate(self):
        # passed on the second code; a wrong code to an agent; a failed send
        # that fell back to the answer; an answer-only line counts nothing.
        conv = new_id("rep")
        self.start(conv, "otp", ANA_ANI)
        self.otp(conv, resend=True)
        self.code(conv, self.sink.last()["code"])
        conv = new_id("rep")
        self.start(conv, "otp", JIN_ANI)
        right = self.sink.last()["code"]
        for _ in range(3):
            self.code(conv, self.wrong(right))
        self.sink.mode = "error"
        conv = new_id("rep")
        self.start(conv, "either", ANA_ANI)
        self.svc.security(conv, ANA["answer"])
        self.sink.mode = "ok"
        conv = new_id("rep")
        self.start(conv, "answer", ANA_ANI)
        self.svc.security(conv, ANA["answer"])
        status, _, body = self.svc.request("GET", "/v1/reports/summary")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["total"]["otp"], {
            "asked": 2, "sends": 3, "sendFailures": 1, "passed": 1,
            "fallbacks": 1, "passRate": 0.5}, body["total"])
        status, _, text = self.svc.request("GET", "/v1/reports/summary?format=csv")
        self.assertEqual(status, 200, text)
        text = text if isinstance(text, str) else text.decode()
        rows = list(csv.DictReader(io.StringIO(text)))
        total = [r for r in rows if r["scope"] == "total"][0]
        self.assertEqual((total["otpAsked"], total["otpSends"], total["otpSendFailures"],
                          total["otpPassed"], total["otpFallbacks"], total["otpPassRate"]),
                         ("2", "3", "1", "1", "1", "0.5000"), total)


class TestSlowGateway(OtpCase):
    OTP = {"timeoutMs": 1000}

    def test_a_hanging_gateway_is_cut_at_its_timeout_and_falls_back(self):
        self.sink.mode = "hang"
        t0 = time.monotonic()
        b = self.start(new_id("slow"), "either", ANA_ANI)
        took = time.monotonic() - t0
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "send_failed"))
        self.assertLess(took, 3.0)
        self.assertIn("otp send failed", self.svc.log_text())


class TestTwilioForm(OtpCase):
    """The shape of deploy/config/otp-twilio.example.json: form-encoded,
    basic auth; the E.164 '+' must arrive as '+', not as a space."""

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["otp"]["send"] = {
            "method": "POST", "url": cls.sink.url + "/sms",
            "headers": ["Content-Type: application/x-www-form-urlencoded"],
            "body": "To={phone}&From=%2B15005550006&Body=Your+code+is+{code}",
            "status": {"ok": [201, 202]}}
        cfg["otp"]["auth"] = {"type": "basic", "username": SmsSink.TWILIO_SID,
                              "password": SmsSink.TOKEN}
        return cfg

    def test_form_encoded_send(self):
        conv = new_id("tw")
        b = self.start(conv, "otp", ANA_ANI)
        self.assertEqual(b["nextAction"], "ask_otp")
        msg = self.sink.last()
        self.assertEqual(msg["to"], "+13175550116")
        self.assertEqual(msg["text"], "Your code is %s" % msg["code"])
        self.assertEqual(self.code(conv, msg["code"])["outcome"], "verified")


class TestSecrecy(OtpCase):
    OTP = {"length": 10}

    def test_no_issued_code_in_redis_logs_or_reports(self):
        issued = []
        for line in ("otp", "both", "either"):
            conv = new_id("sec")
            self.start(conv, line, ANA_ANI)
            if line == "both":
                self.svc.security(conv, ANA["answer"])
            self.otp(conv, resend=True)
            issued += self.sink.codes()
            self.sink.reset()
            right = issued[-1]
            self.code(conv, "9" * 10 if right != "9" * 10 else "8" * 10)
            self.code(conv, right)
        self.assertTrue(issued)
        blob = self.redis.dump_all_values()
        logs = self.svc.log_text()
        status, _, report = self.svc.request("GET", "/v1/reports/interactions?format=csv")
        report = report if isinstance(report, str) else str(report)
        for code in issued:
            self.assertEqual(len(code), 10)
            self.assertNotIn(code.encode(), blob)
            self.assertNotIn(code, logs)
            self.assertNotIn(code, report)
        self.assertNotIn(b"+13175550116", blob)


if __name__ == "__main__":
    unittest.main()
