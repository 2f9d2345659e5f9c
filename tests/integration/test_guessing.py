"""Guessing never pays (issue #16): each finding of the security review
reproduced against the real binary, a real redis-server and a stub CRM,
and shown fixed.

PinCrm speaks the reference CRM API (GET /customers?..., POST
/customers/{id}/verify) but answers a wrong PIN with 403, which the
reference profile does not map: before the fix every such answer was a
free "crm_unavailable" and 16 calls got 16 verifications at the CRM.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_guessing.py -v
"""
import json
import os
import re
import subprocess
import threading
import time
import unittest
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import harness as h
from harness import assert_ok, new_id

PIN = "1234"
ANI = "tel:+13175550116"
ANI_DIGITS = "3175550116"
# customer id -> (name, pin); "100234" is also found by ANI.
CUSTOMERS = {"100234": ("Ana García", PIN)}
for i in range(1, 13):
    CUSTOMERS["2000%02d" % i] = ("Cust%02d Test" % i, "%04d" % (1000 + i))


class PinCrm:
    """The reference CRM API; a wrong PIN is 403 (or 200 verified:false in
    mode "mapped"); mode "hang" holds a verify past authflow's timeout."""

    def __init__(self, port=0):
        self.mode = "403"
        self.verifies = Counter()  # customer id -> verify requests received
        self.lookups = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            # One request per connection: once stopped, nothing is left
            # open, so a later call really cannot connect.
            protocol_version = "HTTP/1.0"

            def log_message(self, *a):
                pass

            def reply(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                with stub.lock:
                    stub.lookups += 1
                found = []
                if q.get("phone") == "+1" + ANI_DIGITS:
                    found = ["100234"]
                elif q.get("customerId") in CUSTOMERS:
                    found = [q["customerId"]]
                self.reply(200, {"customers": [{"id": c, "name": CUSTOMERS[c][0]}
                                               for c in found]})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                m = re.match(r"^/customers/([^/]+)/verify$", self.path)
                if not m or unquote(m.group(1)) not in CUSTOMERS:
                    return self.reply(404, {})
                cid = unquote(m.group(1))
                with stub.lock:
                    stub.verifies[cid] += 1
                    mode = stub.mode
                if mode == "hang":
                    time.sleep(3)
                if body.get("answer") == CUSTOMERS[cid][1]:
                    return self.reply(200, {"verified": True})
                if mode == "mapped":
                    return self.reply(200, {"verified": False})
                return self.reply(403, {"error": "wrong pin"})

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def normal(self):
        """Between tests: answer 403 to wrong PINs, counts cleared."""
        with self.lock:
            self.mode = "403"
            self.verifies.clear()

    def total_verifies(self):
        with self.lock:
            return sum(self.verifies.values())

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def metric_value(svc, name, labels=""):
    status, _, body = svc.request("GET", "/metrics")
    text = body.decode() if isinstance(body, bytes) else str(body)
    want = name + labels
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def warn_lines(svc, msg):
    return [e for e in svc.log_entries() if e.get("msg") == msg]


class GuessingStack(h.StackTestCase):
    """Redis + PinCrm + authflow with the reference CRM profile (no
    wrongAnswer status mapped)."""

    LOCKOUT = {"maxFailures": 5, "windowSeconds": 600}
    SERVICE_LINES = {"retail": h.service_line(maxVerifyAttempts=3)}

    @classmethod
    def start_crm(cls, stack):
        return stack.start(PinCrm())

    @property
    def cfg(self):
        return self.make_config(self.stack)

    def stored_attempts(self, cid):
        """The session's verifyAttempts as Redis holds it."""
        key = h.KEY_PREFIX + "session:" + cid
        return h.stored_session(self.redis.command, key)["verifyAttempts"]

    def rcmd(self, *args):
        """A Redis command with a bytes answer decoded."""
        v = self.redis.command(*args)
        if isinstance(v, bytes):
            return v.decode()
        if isinstance(v, list):
            return [x.decode() if isinstance(x, bytes) else x for x in v]
        return v

    def lockout_key(self, cid="100234"):
        return h.KEY_PREFIX + "lockout:" + cid

    def call_and_guess(self, answer, ani=ANI, customer=None):
        """One call: start (by ANI, or by identifier), one guess."""
        cid = new_id("guess")
        status, _, body = self.svc.start_session(cid, ani=ani)
        self.assertEqual(status, 200, body)
        if customer:
            status, _, body = self.svc.identifier(cid, customer)
            self.assertEqual(status, 200, body)
        if body["state"] != "awaiting_security":
            return body
        status, _, body = self.svc.security(cid, answer)
        self.assertEqual(status, 200, body)
        return body


class WrongAnswerStatusIsNotFree(GuessingStack):
    """Finding 1: a 403 for a wrong PIN (not mapped) still counts."""

    def test_403_wrong_pins_over_12_calls_reach_crm_at_most_max_failures(self):
        outcomes = Counter()
        for _ in range(12):
            outcomes[self.call_and_guess("0000")["outcome"]] += 1
        received = self.crm.total_verifies()
        self.assertLessEqual(received, self.LOCKOUT["maxFailures"], outcomes)
        self.assertEqual(received, 5, outcomes)
        self.assertEqual(outcomes, Counter(crm_unavailable=5, locked=7))
        self.assertEqual(self.rcmd("GET", self.lockout_key()), "5")
        # The right PIN does not get through a lockout either.
        self.assertEqual(self.call_and_guess(PIN)["outcome"], "locked")
        self.assertEqual(self.crm.total_verifies(), 5)

    def test_attempt_stays_counted_after_a_403(self):
        cid = new_id("count")
        assert_ok(self, self.svc.start_session(cid, ani=ANI), state="awaiting_security")
        assert_ok(self, self.svc.security(cid, "0000"), outcome="crm_unavailable",
                  lastResult="crm_error")
        self.assertEqual(self.stored_attempts(cid), "1")
        self.assertEqual(self.rcmd("GET", self.lockout_key()), "1")

    def test_mapped_wrong_answer_still_works(self):
        self.crm.mode = "mapped"
        body = self.call_and_guess("0000")
        self.assertEqual(body["lastResult"], "wrong_answer")
        self.assertEqual(body["state"], "awaiting_security")

    def test_start_up_warns_when_no_wrong_answer_status_is_mapped(self):
        cfg = json.loads(json.dumps(self.cfg))
        cfg["crm"]["operations"] = {"verify": {
            "url": "{baseUrl}/customers/{customerId}/verify?v=2",
            "status": {"ok": [200]}}}
        svc = self.extra_stack().authflow(cfg)
        lines = warn_lines(svc, "crm verify maps no wrong answer")
        self.assertTrue(lines, svc.log_text()[-2000:])
        self.assertEqual(lines[0]["level"], "warn")
        # The reference profile (no crm.operations) does not warn.
        self.assertFalse(warn_lines(self.svc, "crm verify maps no wrong answer"))


class TimeoutAfterSendCounts(GuessingStack):
    """A verify that times out after it was sent reached the CRM: it counts
    (the documented choice)."""

    CRM_TIMEOUT_MS = 1000

    def test_timeout_counts(self):
        self.crm.mode = "hang"
        cid = new_id("hang")
        assert_ok(self, self.svc.start_session(cid, ani=ANI), state="awaiting_security")
        assert_ok(self, self.svc.security(cid, "0000"), outcome="crm_unavailable")
        self.assertEqual(self.rcmd("GET", self.lockout_key()), "1")
        self.assertEqual(self.stored_attempts(cid), "1")


class NothingSentIsFree(GuessingStack):
    """A verify that could not even connect is given back."""

    def test_connect_failure_is_refunded(self):
        cid = new_id("down")
        assert_ok(self, self.svc.start_session(cid, ani=ANI), state="awaiting_security")
        port = self.crm.port
        self.crm.stop()
        try:
            assert_ok(self, self.svc.security(cid, "0000"), outcome="crm_unavailable")
            self.assertIn(self.rcmd("GET", self.lockout_key()), (None, "0"))
            self.assertEqual(self.stored_attempts(cid), "0")
        finally:
            self.stack.crm = self.stack.start(PinCrm(port))


class EscalatingLockout(GuessingStack):
    """Finding 2: each lockout after the first lasts longer (doubling, capped)."""

    LOCKOUT = {"maxFailures": 2, "windowSeconds": 60, "maxLockSeconds": 200}

    def lock_once(self):
        self.crm.mode = "mapped"
        for _ in range(2):
            self.call_and_guess("0000")
        self.assertEqual(self.call_and_guess(PIN)["outcome"], "locked")
        return self.rcmd("TTL", self.lockout_key())

    def test_second_lockout_lasts_longer_and_is_capped(self):
        before = metric_value(self.svc, "authflow_lockouts_total")
        ttls = []
        for _ in range(4):
            ttls.append(self.lock_once())
            # The window passes: the failure counter expires, the customer's
            # lockout count stays.
            self.rcmd("DEL", self.lockout_key())
        self.assertTrue(0 < ttls[0] <= 60, ttls)
        self.assertTrue(60 < ttls[1] <= 120, ttls)
        self.assertTrue(120 < ttls[2] <= 200, ttls)
        self.assertTrue(120 < ttls[3] <= 200, ttls)  # capped at maxLockSeconds
        self.assertEqual(metric_value(self.svc, "authflow_lockouts_total") - before, 4)
        level = self.rcmd("GET", h.KEY_PREFIX + "lockouts:100234")
        self.assertEqual(level, "4")

    def test_success_clears_the_escalation(self):
        self.lock_once()
        self.rcmd("DEL", self.lockout_key())
        self.assertEqual(self.call_and_guess(PIN)["outcome"], "verified")
        self.assertIsNone(self.rcmd("GET", h.KEY_PREFIX + "lockouts:100234"))
        self.assertTrue(0 < self.lock_once() <= 60)


class PatientGuesser(GuessingStack):
    """Finding 2: staying one failure under the limit per lockout window does
    not pay. Failures count for lockout.failureMemorySeconds from the first
    (a day by default), far longer than a lockout (windowSeconds), so a
    guesser who waits out the window between batches still reaches the
    limit; a success clears the count."""

    LOCKOUT = {"maxFailures": 3, "windowSeconds": 60, "failureMemorySeconds": 3600,
               "maxLockSeconds": 200}

    def test_failures_outlive_the_lockout_window(self):
        self.crm.mode = "mapped"
        for _ in range(2):
            self.assertEqual(self.call_and_guess("0000")["lastResult"], "wrong_answer")
        self.assertEqual(self.rcmd("GET", self.lockout_key()), "2")
        ttl = self.rcmd("TTL", self.lockout_key())
        # Remembered for the failure memory, not the 60 s lockout window: a
        # guesser who comes back after 60 s still has both failures counted.
        self.assertTrue(3000 < ttl <= 3600, ttl)
        self.assertEqual(self.call_and_guess("0000")["lastResult"], "wrong_answer")
        # The third failure reached the limit: the customer is locked for the
        # first lockout's length, and a right answer is refused.
        self.assertTrue(0 < self.rcmd("TTL", self.lockout_key()) <= 60)
        self.assertEqual(self.call_and_guess(PIN)["outcome"], "locked")

    def test_a_success_clears_remembered_failures(self):
        self.crm.mode = "mapped"
        self.assertEqual(self.call_and_guess("0000")["lastResult"], "wrong_answer")
        self.assertEqual(self.call_and_guess(PIN)["outcome"], "verified")
        self.assertIsNone(self.rcmd("GET", self.lockout_key()))


class InFlightIsNotFailed(h.StackTestCase):
    """The global limit counts failed verifications, not verifications in
    flight: more callers than the limit waiting on the CRM at once are all
    verified (a slow CRM at peak must not turn into a wave of `locked`)."""

    GATED_CRM = True
    LOCKOUT = {"globalMaxFailuresPerMinute": 2, "callerMaxFailures": 0}

    def test_more_verifications_in_flight_than_the_limit_all_verify(self):
        callers = [h.ANA, h.JIN, h.LENA]
        cids = []
        for c in callers:
            cid = new_id("inflight")
            assert_ok(self, self.svc.start_session(cid, ani=c["phones"][0]),
                      state="awaiting_security", customerId=c["id"])
            cids.append(cid)
        self.gate.hold("/verify")
        answers = {}

        def verify(cid, answer):
            answers[cid] = self.svc.security(cid, answer)
        threads = [threading.Thread(target=verify, args=(cid, c["answer"]))
                   for cid, c in zip(cids, callers)]
        for t in threads:
            t.start()
        # All three are at the CRM at once, one more than the global limit.
        self.assertTrue(self.gate.wait_held(3), "not every verification reached the CRM")
        self.gate.release()
        for t in threads:
            t.join(15)
        for cid in cids:
            assert_ok(self, answers[cid], outcome="verified")


class GlobalLimiter(GuessingStack):
    """Finding 2: failed verifications across all customers per minute."""

    LOCKOUT = {"maxFailures": 5, "windowSeconds": 600,
               "globalMaxFailuresPerMinute": 3, "callerMaxFailures": 0}
    SERVICE_LINES = {"retail": h.service_line(aniLookup=False, maxVerifyAttempts=1)}

    def test_global_limit_trips(self):
        self.crm.mode = "mapped"
        before = metric_value(self.svc, "authflow_verify_limit_trips_total",
                              '{scope="global"}')
        outcomes = [self.call_and_guess("0000", customer="2000%02d" % i)["outcome"]
                    for i in range(1, 6)]
        self.assertEqual(outcomes[:3], ["verify_failed"] * 3)
        # Held (issue 21): to an agent as crm_unavailable, never `locked`,
        # and nothing recorded against customers who keyed nothing wrong.
        self.assertEqual(outcomes[3:], ["crm_unavailable"] * 2)
        self.assertEqual(self.crm.total_verifies(), 3)
        # A customer with no failures of their own is held too, right PIN or not.
        body = self.call_and_guess(CUSTOMERS["200009"][1], customer="200009")
        self.assertEqual((body["outcome"], body["lastResult"]), ("crm_unavailable", "none"))
        self.assertIn(self.rcmd("GET", self.lockout_key("200009")), (None, "0"))
        self.assertEqual(metric_value(self.svc, "authflow_verify_limit_trips_total",
                                      '{scope="global"}') - before, 3)
        lines = warn_lines(self.svc, "verification limit reached")
        self.assertTrue(any(e.get("scope") == "global" for e in lines))


class PerCallerLimiter(GuessingStack):
    """Finding 2: failed verifications per caller number (kept as a keyed
    hash, never the number)."""

    LOCKOUT = {"maxFailures": 5, "windowSeconds": 600, "callerMaxFailures": 3,
               "callerWindowSeconds": 600}
    SERVICE_LINES = {"retail": h.service_line(aniLookup=False, maxVerifyAttempts=1)}

    def test_per_caller_limit_trips_and_stores_no_number(self):
        self.crm.mode = "mapped"
        before = metric_value(self.svc, "authflow_verify_limit_trips_total",
                              '{scope="caller"}')
        spray = "tel:+13175550199"
        outcomes = [self.call_and_guess("0000", ani=spray,
                                        customer="2000%02d" % i)["outcome"]
                    for i in range(1, 6)]
        self.assertEqual(outcomes, ["verify_failed"] * 3 + ["locked"] * 2)
        self.assertEqual(self.crm.total_verifies(), 3)
        # Another number is not held.
        self.assertEqual(self.call_and_guess(CUSTOMERS["200010"][1], ani=ANI,
                                             customer="200010")["outcome"], "verified")
        self.assertEqual(metric_value(self.svc, "authflow_verify_limit_trips_total",
                                      '{scope="caller"}') - before, 2)
        self.assertTrue(any(e.get("scope") == "caller"
                            for e in warn_lines(self.svc, "verification limit reached")))
        dump = repr(self.redis.dump_all_values())
        self.assertNotIn("3175550199", dump)
        self.assertNotIn(ANI_DIGITS, dump)
        for line in self.svc.log_text().splitlines():
            self.assertNotIn("3175550199", line)


class NoNameBeforeVerification(GuessingStack):
    """Finding 3: the name is not spoken before the caller proves who they
    are, in any built-in language; the greeting after verification stays;
    a line may opt in."""

    SERVICE_LINES = {"retail": h.service_line(),
             "greet": h.service_line(greetBeforeVerification=True)}

    def test_prompts_before_and_after(self):
        self.crm.mode = "mapped"
        for lang, first in (("en-US", "Ana"), ("es-ES", "Ana"), ("ko-KR", "Ana García")):
            with self.subTest(lang=lang):
                cid = new_id("name")
                status, _, body = self.svc.start_session(cid, ani=ANI, language=lang)
                self.assertEqual(body["promptId"], "ask_security")
                self.assertNotIn("Ana", body["promptText"])
                self.assertNotIn("García", body["promptText"])
                # The agent's screen still gets the name (documented).
                self.assertEqual(body["customerName"], "Ana García")
                _, _, body = self.svc.security(cid, "0000")
                self.assertEqual(body["promptId"], "ask_security_retry")
                self.assertNotIn("Ana", body["promptText"])
                _, _, body = self.svc.security(cid, PIN)
                self.assertEqual(body["promptId"], "welcome_verified")
                self.assertIn(first, body["promptText"])

    def test_line_may_opt_in(self):
        status, _, body = self.svc.start_session(new_id("greet"), "greet", ani=ANI)
        self.assertEqual(status, 200, body)
        self.assertIn("Ana", body["promptText"])


class DeletedConversationStaysDeleted(GuessingStack):
    """Finding 7: DELETE then start again does not give fresh attempts."""

    SERVICE_LINES = {"retail": h.service_line(aniLookup=False)}

    def test_delete_then_start_is_409(self):
        cid = new_id("tomb")
        assert_ok(self, self.svc.start_session(cid), state="awaiting_identifier")
        for guess in ("999991", "999992"):
            self.svc.identifier(cid, guess)
        lookups = self.crm.lookups
        status, _, _ = self.svc.delete(cid)
        self.assertEqual(status, 204)
        status, _, body = self.svc.start_session(cid)
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"], "wrong_state")
        self.assertEqual(body["state"], "completed")
        status, _, _ = self.svc.identifier(cid, "999993")
        self.assertEqual(status, 404)
        self.assertEqual(self.crm.lookups, lookups, "no lookup after DELETE")
        # The tombstone holds no customer data and lives for the session TTL.
        keys = [k.decode() if isinstance(k, bytes) else k
                for k in self.redis.keys(h.KEY_PREFIX + "*" + cid)]
        self.assertEqual(keys, [h.KEY_PREFIX + "deleted:" + cid])
        self.assertEqual(self.rcmd("TYPE", keys[0]), "string")
        self.assertEqual(self.rcmd("GET", keys[0]), "1")
        self.assertGreater(self.rcmd("TTL", keys[0]), 0)


class ProcessAndHttpHardening(GuessingStack):
    """Findings 4, 5, 6, 8: no core dumps, a strict-JSON log whatever the
    method bytes, {answer} refused outside the body, masked --check-crm
    headers, dashboard security headers."""

    def test_no_core_dumps(self):
        with open("/proc/%d/limits" % self.svc.proc.pid) as f:
            limits = f.read()
        row = [line for line in limits.splitlines() if line.startswith("Max core file size")]
        self.assertEqual(len(row), 1, limits)
        self.assertEqual(row[0].split()[4:6], ["0", "0"], row[0])
        listening = [e for e in self.svc.log_entries() if e.get("msg") == "listening"]
        self.assertIs(listening[0].get("dumpable"), False, listening[0])
        if os.getuid() != 0:
            # Not dumpable: /proc/<pid> belongs to root.
            self.assertEqual(os.stat("/proc/%d" % self.svc.proc.pid).st_uid, 0)

    def test_non_utf8_method_keeps_the_log_strict(self):
        h.raw_http(self.svc.port, b"G\xffT /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        h.raw_http(self.svc.port, b"BREW /v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n")

        def requests():
            with open(self.svc.log_path, "rb") as f:
                raw = f.read()
            out = []
            for line in raw.splitlines():
                if line.startswith(b"{"):
                    entry = json.loads(line.decode("utf-8", "strict"))
                    if entry.get("msg") == "request":
                        out.append(entry)
            return out

        h.wait_until(lambda: sum(e.get("method") == "other" for e in requests()) >= 2,
                     5, what="two request lines with method other")
        for e in requests():
            self.assertIn(e["method"], ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS", "CONNECT", "TRACE", "other"))

    def check(self, cfg):
        path = os.path.join(self.svc.dir, "check-%s.json" % new_id("c"))
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        return h.check_config(path)

    def test_answer_only_in_the_verify_body(self):
        for where, op in (("url", {"url": "{baseUrl}/v/{customerId}?pin={answer}"}),
                          ("headers", {"headers": ["X-Pin: {answer}"]})):
            with self.subTest(where=where):
                cfg = json.loads(json.dumps(self.cfg))
                cfg["crm"]["operations"] = {"verify": op}
                rc, out = self.check(cfg)
                self.assertNotEqual(rc, 0, out)
                self.assertIn("crm.operations.verify." + where, out)
                self.assertIn("{answer}", out)
        cfg = json.loads(json.dumps(self.cfg))
        cfg["crm"]["operations"] = {"verify": {"body": '{"pin":"{answer}"}'}}
        rc, out = self.check(cfg)
        self.assertEqual(rc, 0, out)

    def test_check_config_names_the_new_keys(self):
        cases = [
            ({"lockout": {"windowSeconds": 900, "maxLockSeconds": 600}},
             "lockout.maxLockSeconds"),
            ({"lockout": {"windowSeconds": 900, "failureMemorySeconds": 600}},
             "lockout.failureMemorySeconds"),
            ({"lockout": {"maxLockSeconds": 86400, "escalationResetSeconds": 3600}},
             "lockout.escalationResetSeconds"),
            ({"lockout": {"globalMaxFailuresPerMinute": -1}},
             "lockout.globalMaxFailuresPerMinute"),
            ({"lockout": {"callerMaxFailures": 10001}}, "lockout.callerMaxFailures"),
            ({"lockout": {"callerWindowSeconds": 59}}, "lockout.callerWindowSeconds"),
            ({"serviceLines": {"retail": h.service_line(greetBeforeVerification="yes")}},
             "serviceLines.retail.greetBeforeVerification"),
        ]
        for overrides, key in cases:
            with self.subTest(key=key):
                cfg = json.loads(json.dumps(self.cfg))
                for section, value in overrides.items():
                    if section == "lockout":
                        cfg["lockout"] = dict(cfg["lockout"], **value)
                    else:
                        cfg[section] = value
                rc, out = self.check(cfg)
                self.assertNotEqual(rc, 0, out)
                self.assertIn(key, out)
        rc, out = self.check(self.cfg)
        self.assertEqual(rc, 0, out)

    def test_check_crm_masks_header_values(self):
        secret = "literal-" + new_id("s")
        cfg = json.loads(json.dumps(self.cfg))
        cfg["crm"]["headers"] = ["X-Api-Token: " + secret, "X-Tenant: acme-tenant-7"]
        path = os.path.join(self.svc.dir, "check-crm.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        out = subprocess.run([h.AUTHFLOW_BIN, "--check-crm", "--config", path],
                             capture_output=True, text=True, timeout=15)
        self.assertNotIn(secret, out.stdout + out.stderr)
        self.assertIn("X-Api-Token: ***", out.stdout, out.stdout + out.stderr)

    def test_dashboard_security_headers(self):
        status, headers, body = self.svc.request("GET", "/dashboard", key=None)
        self.assertEqual(status, 200)
        csp = headers.get("content-security-policy", "")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("script-src 'unsafe-inline'", csp)
        self.assertIn("style-src 'unsafe-inline'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(headers.get("x-frame-options"), "DENY")
        self.assertEqual(headers.get("x-content-type-options"), "nosniff")
        # The page loads its data from the same origin only.
        text = body.decode() if isinstance(body, bytes) else str(body)
        self.assertNotRegex(text, r"(src|href)=\"https?://")


if __name__ == "__main__":
    unittest.main()
