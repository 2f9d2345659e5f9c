"""One-time codes sent through a gateway that wants an OAuth2
client-credentials token (otp.auth type oauth2), against the real binary,
a real redis-server, the demo CRM, a real HTTP SMS sink and the OAuth2
token endpoint stub of crm_stubs (SalesforceCrm's, here the gateway's).

- N sends racing on several event loops while the first token fetch is
  held open cause one token fetch; every code then arrives.
- A token the gateway refuses (401: revoked or expired early) is refreshed
  once and the send made again: the code arrives once. A token past its
  refresh point is fetched anew before use, never refused.
- A token endpoint that fails or hangs makes the send fail: each line falls
  back per its verificationMethod within otp.timeoutMs, and a step of
  another call is not held up meanwhile.
- Neither the client secret nor a token reaches the log.
"""

import os
import secrets
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_otp as base  # noqa: E402
from crm_stubs import SF_TOKEN_PATH, SalesforceCrm, SmsSink  # noqa: E402
from harness import ANA, StackTestCase, new_id  # noqa: E402

CLIENT_ID = "sms-gateway-client"
CLIENT_SECRET = "sms-secret-" + secrets.token_hex(12)  # unique: searchable
TIMEOUT_MS = 1500


class OAuthGatewayCase(base.OtpCase):
    """Each test has its own stack: the token cache starts empty."""

    PER_TEST = True
    AUTHFLOW_ENV = {"SMS_CLIENT_SECRET": CLIENT_SECRET}
    # Per-phone and per-customer limits off: the races send to one phone.
    OTP = {"maxSendsPerPhonePerHour": 0, "maxSendsPerCustomerPerDay": 0,
           "timeoutMs": TIMEOUT_MS}

    @classmethod
    def make_config(cls, stack, **overrides):
        cls.issuer = stack.start(SalesforceCrm(client_id=CLIENT_ID,
                                               client_secret=CLIENT_SECRET))
        cls.sink = stack.start(SmsSink(issuer=cls.issuer))
        cfg = StackTestCase.make_config.__func__(cls, stack, **overrides)
        cfg["server"] = {"threads": 4}  # racing sends land on several loops
        cfg["otp"] = base.otp_config(cls.sink, **cls.OTP)
        cfg["otp"]["send"]["headers"] = ["Content-Type: application/json"]
        cfg["otp"]["auth"] = {"type": "oauth2",
                              "tokenUrl": cls.issuer.url + SF_TOKEN_PATH,
                              "clientId": CLIENT_ID,
                              "clientSecret": "${env:SMS_CLIENT_SECRET}",
                              "scope": "sms.send"}
        return cfg

    def setUp(self):
        super().setUp()
        self.issuer = type(self).issuer
        self.sink = type(self).sink

    def assert_secrets_not_logged(self):
        logs = self.svc.log_text()
        self.assertNotIn(CLIENT_SECRET, logs)
        for token in self.issuer.issued:
            self.assertNotIn(token, logs)
            self.assertNotIn(token.split("!", 1)[1], logs)


class TestTokenSharing(OAuthGatewayCase):
    N = 24

    def test_racing_sends_share_one_token_fetch_and_every_code_arrives(self):
        gate = threading.Event()
        self.issuer.set(token_gate=gate)
        results = []
        lock = threading.Lock()
        convs = [new_id("oa-race-%d" % i) for i in range(self.N)]

        def go(conv):
            b = self.start(conv, "otp", base.ANA_ANI)
            with lock:
                results.append((conv, b))

        threads = [threading.Thread(target=go, args=(c,)) for c in convs]
        try:
            for t in threads:
                t.start()
            self.assertTrue(self.issuer.token_started.wait(5), "no token fetch started")
            time.sleep(0.5)  # every send reaches its loop and waits
            self.assertEqual(self.issuer.count("token"), 1)
            self.assertEqual(self.sink.count(), 0, "a send went out without a token")
        finally:
            gate.set()
            for t in threads:
                t.join(15)
        self.assertEqual(len(results), self.N)
        for conv, b in results:
            self.assertEqual((b["nextAction"], b["state"]), ("ask_otp", "awaiting_otp"), b)
        self.assertEqual(self.issuer.count("token"), 1)
        self.assertEqual(self.issuer.count("unauthorized"), 0)
        self.assertEqual(self.sink.count(), self.N)
        # The code that arrived verifies the call it was sent for.
        conv = new_id("oa-one")
        self.start(conv, "otp", base.ANA_ANI)
        self.assertEqual(self.issuer.count("token"), 1, "the cached token was not reused")
        b = self.code(conv, self.sink.last()["code"])
        self.assertEqual((b["outcome"], b["verificationMethods"]), ("verified", ["otp"]))
        self.assert_secrets_not_logged()


class TestTokenRefresh(OAuthGatewayCase):
    def test_refused_token_is_refreshed_once_and_the_code_arrives_once(self):
        self.start(new_id("oa-warm"), "otp", base.ANA_ANI)
        self.assertEqual((self.issuer.count("token"), self.sink.count()), (1, 1))
        self.issuer.revoke()  # the gateway now refuses the cached token: 401
        self.sink.reset()
        conv = new_id("oa-401")
        b = self.start(conv, "otp", base.ANA_ANI)
        self.assertEqual(b["nextAction"], "ask_otp", b)
        self.assertEqual(self.issuer.count("token"), 2)
        self.assertEqual(self.issuer.count("unauthorized"), 1)
        self.assertEqual(self.sink.count(), 1)
        self.assertEqual(self.code(conv, self.sink.last()["code"])["outcome"], "verified")
        # A token refused again right after its refresh is not refreshed in
        # a loop: one refresh, one more try, then the send failed.
        self.issuer.set(refuse_all=True)
        before = self.issuer.snapshot()
        b = self.start(new_id("oa-dead"), "either", base.ANA_ANI)
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "send_failed"))
        after = self.issuer.snapshot()
        self.assertEqual(after["token"] - before["token"], 1)
        self.assertEqual(after["unauthorized"] - before["unauthorized"], 2)
        self.assert_secrets_not_logged()

    def test_token_past_its_refresh_point_is_fetched_anew_before_use(self):
        # expires_in 2 s: refreshed once half its life (the margin's cap) is
        # left, so a send 1.3 s later fetches a new one and is never refused.
        self.issuer.set(expires_in=2)
        self.start(new_id("oa-exp1"), "otp", base.ANA_ANI)
        self.assertEqual(self.issuer.count("token"), 1)
        time.sleep(1.3)
        b = self.start(new_id("oa-exp2"), "otp", base.ANA_ANI)
        self.assertEqual(b["nextAction"], "ask_otp", b)
        self.assertEqual(self.issuer.count("token"), 2)
        self.assertEqual(self.issuer.count("unauthorized"), 0)
        self.assertEqual(self.sink.count(), 2)


class TestTokenEndpointDown(OAuthGatewayCase):
    def test_failing_token_endpoint_falls_back_per_method(self):
        self.issuer.set(token_mode="error")
        b = self.start(new_id("oa-err"), "either", base.ANA_ANI)
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "send_failed"))
        b = self.start(new_id("oa-err"), "otp", base.ANA_ANI)
        self.assertEqual((b["nextAction"], b["lastResult"]),
                         ("transfer_to_agent", "send_failed"))
        self.assertEqual(self.sink.count(), 0)
        self.assertIn('"reason":"token"', self.svc.log_text())
        # Back up: the next send fetches a token and its code arrives.
        self.issuer.set(token_mode="ok")
        b = self.start(new_id("oa-up"), "otp", base.ANA_ANI)
        self.assertEqual(b["nextAction"], "ask_otp", b)
        self.assertEqual(self.sink.count(), 1)
        self.assert_secrets_not_logged()

    def test_hanging_token_endpoint_blocks_no_other_step(self):
        self.issuer.set(token_delay=6)
        out = {}

        def slow():
            t0 = time.monotonic()
            out["b"] = self.start(new_id("oa-hang"), "either", base.ANA_ANI)
            out["took"] = time.monotonic() - t0

        t = threading.Thread(target=slow)
        t.start()
        try:
            self.assertTrue(self.issuer.token_started.wait(5), "no token fetch started")
            # Meanwhile another call's steps go through at once, on every loop.
            for i in range(8):
                t0 = time.monotonic()
                conv = new_id("oa-answer-%d" % i)
                b = self.start(conv, "answer", base.ANA_ANI)
                self.assertEqual(b["nextAction"], "ask_security", b)
                status, _, b = self.svc.security(conv, ANA["answer"])
                self.assertEqual(b["outcome"], "verified", b)
                self.assertLess(time.monotonic() - t0, 1.0)
        finally:
            t.join(10)
        b = out["b"]
        self.assertEqual((b["nextAction"], b["lastResult"]), ("ask_security", "send_failed"))
        self.assertLess(out["took"], TIMEOUT_MS / 1000.0 + 1.0)
        self.assertEqual(self.sink.count(), 0)




if __name__ == "__main__":
    unittest.main()
