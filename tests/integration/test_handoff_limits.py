"""Limits on creating handoff codes (issue 21, finding 7), against the real
binary, a real redis-server and the demo CRM.

A handoff key mints identities, verified ones included, so its use is
bounded where the guessing bound needs it:

- handoff.keyMaxPerMinute: creations per key a minute, counted in Redis
  (shared by every instance) under a keyed digest of the key; over it a
  429 rate_limited with Retry-After; another key is not affected.
- handoff.maxLiveCodes: at most this many codes live at once over every key
  and instance, held in one script (racing creations never pass it); a
  redeemed or expired code frees its place. README's guessing bound is
  computed from it.
- handoff.requirePhoneForVerified: a verified handoff must be bound to a
  phone (400 naming `phone` otherwise).
- Every refusal is counted in authflow_handoff_refused_total{reason} and
  the key itself never reaches Redis or the log.
"""

import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (API_KEY, JIN, KEY_PREFIX, StackTestCase, assert_error,  # noqa: E402
                     assert_ok, new_id)

KEY_A = "itest-handoff-key-a-0123456789abcdef"
KEY_B = "itest-handoff-key-b-0123456789abcdef"
SECRET = "itest-handoff-secret-not-for-production-0123456789"
JIN_ANI = "tel:+13125550142"


class LimitCase(StackTestCase):
    LOG_LEVEL = "debug"  # the secrecy check reads every log line
    HANDOFF = {}

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["handoffKeys"] = [KEY_A, KEY_B]
        cfg["handoff"] = dict({"secret": SECRET}, **cls.HANDOFF)
        return cfg

    def create(self, key=KEY_A, svc=None, **body):
        payload = {"customerId": JIN["id"], "customerName": JIN["name"], "verified": True}
        payload.update(body)
        return (svc or self.svc).request("POST", "/v1/handoffs", payload, key=key)

    def issued(self, response):
        status, headers, body = response
        self.assertEqual(status, 201, body)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        self.assertEqual(set(body), {"code", "expiresInSeconds"})
        self.assertRegex(body["code"], r"^[0-9]{10}$")
        return body["code"]

    def refused(self, response, limit_key):
        """A 429 rate_limited naming the limit, with a Retry-After."""
        status, headers, body = response
        assert_error(self, response, 429, "rate_limited")
        self.assertIn(limit_key, body["message"])
        self.assertRegex(headers.get("Retry-After", ""), r"^[1-9][0-9]*$", headers)
        return int(headers["Retry-After"])

    def metric(self, name, svc=None, **labels):
        status, _, body = (svc or self.svc).request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode() if isinstance(body, bytes) else str(body)
        want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        for line in text.splitlines():
            m = re.match(r"^%s(\{[^}]*\})? ([0-9.e+]+)$" % re.escape(name), line)
            if m and (m.group(1) or "{}")[1:-1] == want:
                return float(m.group(2))
        self.fail("no %s{%s} in /metrics" % (name, want))

    def redeem(self, conv, code, ani=None):
        body = {"conversationId": conv, "serviceLine": "retail"}
        if ani:
            body["ani"] = ani
        self.svc.request("POST", "/v1/sessions", body)
        return self.svc.request("POST", "/v1/sessions/%s/handoff" % conv, {"code": code})


class KeyRateLimitTest(LimitCase):
    """handoff.keyMaxPerMinute = 5, shared by two instances through Redis."""

    INSTANCES = 2
    HANDOFF = {"keyMaxPerMinute": 5}

    def test_a_key_over_its_rate_is_refused_with_retry_after(self):
        a, b = self.svcs
        before = self.metric("authflow_handoff_refused_total", reason="rate_limited")
        # Five creations, spread over both instances, all issued.
        for i in range(5):
            self.issued(self.create(svc=a if i % 2 else b))
        # The sixth, on either instance, is refused until the minute ends.
        for svc in (a, b):
            wait = self.refused(self.create(svc=svc), "handoff.keyMaxPerMinute")
            self.assertLessEqual(wait, 60)
        self.assertEqual(
            self.metric("authflow_handoff_refused_total", svc=a, reason="rate_limited")
            + self.metric("authflow_handoff_refused_total", svc=b, reason="rate_limited")
            - before, 2)
        # Another key has its own allowance.
        self.issued(self.create(key=KEY_B))
        # The counter is kept under a digest of the key, never the key.
        names = [k.decode() for k in self.redis.command("KEYS", KEY_PREFIX + "handoff:rate:*")]
        self.assertEqual(len(names), 2, names)
        for name in names:
            self.assertRegex(name, r"handoff:rate:[0-9a-f]{64}$")
        for svc in (a, b):
            self.assertNotIn(KEY_A, svc.log_text())
            self.assertIn("handoff refused: key over its rate limit", svc.log_text())

    def test_session_keys_are_not_rate_limited_by_handoff_keys(self):
        for _ in range(5):
            self.issued(self.create())
        self.refused(self.create(), "handoff.keyMaxPerMinute")
        # Callers' steps never go through the handoff limit.
        conv = new_id("rate")
        assert_ok(self, self.svc.start_session(conv, ani="tel:+13175550116"),
                  state="awaiting_security")


class LiveCapTest(LimitCase):
    """handoff.maxLiveCodes = 8, no per-key limit, codes live 3 s."""

    HANDOFF = {"maxLiveCodes": 8, "keyMaxPerMinute": 0, "ttlSeconds": 3}

    def test_racing_creations_never_pass_the_cap(self):
        before = self.metric("authflow_handoff_refused_total", reason="live_cap")
        results = []
        lock = threading.Lock()

        def one(key):
            r = self.create(key=key)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=one, args=(KEY_A if i % 2 else KEY_B,))
                   for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        issued = [r for r in results if r[0] == 201]
        refused = [r for r in results if r[0] != 201]
        self.assertEqual(len(issued), 8, [r[0] for r in results])
        for r in refused:
            wait = self.refused(r, "handoff.maxLiveCodes")
            self.assertLessEqual(wait, 3)
        self.assertEqual(self.metric("authflow_handoff_refused_total", reason="live_cap")
                         - before, 16)
        self.assertEqual(self.redis.command("ZCARD", KEY_PREFIX + "handoff:live"), 8)

    def test_a_redeemed_code_frees_its_place_and_expired_codes_leave(self):
        codes = [self.issued(self.create()) for _ in range(8)]
        self.refused(self.create(key=KEY_B), "handoff.maxLiveCodes")
        # Redeeming one frees one place.
        assert_ok(self, self.redeem(new_id("cap"), codes[0]), outcome="verified",
                  identificationMethod="handoff")
        self.assertEqual(self.redis.command("ZCARD", KEY_PREFIX + "handoff:live"), 7)
        self.issued(self.create(key=KEY_B))
        self.refused(self.create(), "handoff.maxLiveCodes")
        # Once the codes expire (3 s) the cap is free again.
        time.sleep(3.5)
        for _ in range(8):
            self.issued(self.create())


class RequirePhoneTest(LimitCase):
    """handoff.requirePhoneForVerified = true."""

    HANDOFF = {"requirePhoneForVerified": True}

    def test_a_verified_handoff_needs_a_phone(self):
        before = self.metric("authflow_handoff_refused_total", reason="phone_required")
        status, _, body = self.create()
        assert_error(self, (status, _, body), 400, "invalid_request")
        self.assertIn("phone", body["message"])
        self.assertIn("handoff.requirePhoneForVerified", body["message"])
        self.assertEqual(
            self.metric("authflow_handoff_refused_total", reason="phone_required") - before, 1)
        # Bound to the caller's number it is issued, and redeems verified
        # only from that number.
        code = self.issued(self.create(phone="+13125550142"))
        assert_ok(self, self.redeem(new_id("ph"), code, ani="tel:+13175550116"),
                  lastResult="no_match", verified=False)
        assert_ok(self, self.redeem(new_id("ph"), code, ani=JIN_ANI), outcome="verified",
                  identificationMethod="handoff")
        # An unverified handoff needs no phone: it only spares the identifier.
        self.issued(self.create(verified=False))

    def test_without_the_option_a_verified_handoff_needs_no_phone(self):
        # The same stack with the option off (the default): a separate
        # authflow on the same Redis.
        cfg = self.make_config(self.stack)
        cfg["handoff"].pop("requirePhoneForVerified")
        svc = self.extra_stack().authflow(cfg)
        self.issued(self.create(svc=svc))


class CreationAnswerTest(LimitCase):
    """The 201 answer is one line of JSON text (no jansson tree), and the
    session key never opens the route."""

    def test_201_body_is_exactly_the_code_and_its_lifetime(self):
        status, headers, raw = self.svc.request("POST", "/v1/handoffs",
                                                {"customerId": JIN["id"], "verified": False},
                                                key=KEY_A)
        self.assertEqual(status, 201)
        self.assertEqual(set(raw), {"code", "expiresInSeconds"})
        self.assertEqual(raw["expiresInSeconds"], 300)
        assert_error(self, self.create(key=API_KEY), 403, "forbidden")


if __name__ == "__main__":
    unittest.main()
