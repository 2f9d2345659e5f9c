"""Every business path of the ID&V flow (SPEC sections 2 and 3), end to end.

The real authflow binary runs against a real redis-server and the demo CRM.
Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_flow_paths.py -v
"""

import re
import unittest

import harness as h
from harness import ANA, JIN, LENA, LUIS, OMAR, assert_error, assert_ok, new_id

HANGUL = re.compile("[\uac00-\ud7a3]")


class FlowPaths(h.StackTestCase):
    SERVICE_LINES = {
        # ANI lookup, verification, customer ID.
        "retail": h.service_line(),
        # Identification is enough; account numbers; two identify attempts.
        "billing": h.service_line(verification=False, identifierType="account_number",
                                  maxIdentifyAttempts=2),
        # No ANI lookup; tracking numbers; two verify attempts.
        "parcels": h.service_line(aniLookup=False, identifierType="tracking_number",
                                  maxVerifyAttempts=2),
        # Korean by default.
        "seoul": h.service_line(defaultLanguage="ko-KR"),
        # A prompt override.
        # Opts in to the name before verification (greetBeforeVerification).
        "custom": h.service_line(greetBeforeVerification=True, prompts={"en-US": {
            "ask_security": "Custom greeting for {firstName}: key your PIN."}}),
    }
    LOCKOUT = {"maxFailures": 3, "windowSeconds": 600}
    CRM_TIMEOUT_MS = 1000

    # -- helpers -----------------------------------------------------------

    def start(self, cid, line="retail", ani=None, language=None):
        return self.svc.start_session(cid, line, ani=ani, language=language)

    def identified_by_ani(self, customer, line="retail"):
        """A new session whose ANI identifies `customer`; returns its id."""
        cid = new_id("ani")
        assert_ok(self, self.start(cid, line, ani=customer["phones"][0]),
                  state="awaiting_security", customerId=customer["id"])
        return cid

    def identified_by_identifier(self, customer, line="retail"):
        cid = new_id("ident")
        assert_ok(self, self.start(cid, line), state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(cid, customer["customerId"]),
                  state="awaiting_security", customerId=customer["id"])
        return cid

    # -- ANI ---------------------------------------------------------------

    def test_ani_forms_identify_caller(self):
        """Each ANI form Genesys sends is normalised to E.164 and identifies the
        one customer with that number (method ani), asking for the security
        answer with a prompt that greets the caller by first name."""
        forms = ["tel:+13175550116", "tel: +1 317 555 0116",
                 "sip:+13175550116@edge.example.com", "+13175550116"]
        for ani in forms:
            with self.subTest(ani=ani):
                before = self.crm.stats()
                cid = new_id("aniform")
                body = assert_ok(
                    self, self.start(cid, ani=ani),
                    conversationId=cid, serviceLine="retail", language="en-US",
                    state="awaiting_security", nextAction="ask_security",
                    authStatus="identified", identified=True, verified=False,
                    identificationMethod="ani", outcome="pending", lastResult="match",
                    attemptsRemaining=3, promptId="ask_security",
                    customerId=ANA["id"], customerName=ANA["name"])
                # No name before verification (SPEC §6).
                self.assertNotIn("Ana", body["promptText"])
                self.assertEqual(self.crm_delta(before, "lookups"), 1)
                self.assertEqual(self.crm_delta(before, "verifications"), 0)

    def test_ani_match_then_right_answer_verifies(self):
        """ANI match followed by the right security answer completes the session
        verified, identified_verified, nextAction continue."""
        cid = self.identified_by_ani(ANA)
        before = self.crm.stats()
        body = assert_ok(
            self, self.svc.security(cid, ANA["answer"]),
            state="completed", outcome="verified", nextAction="continue",
            authStatus="identified_verified", identified=True, verified=True,
            identificationMethod="ani", lastResult="match", attemptsRemaining=0,
            promptId="welcome_verified", customerId=ANA["id"], customerName=ANA["name"])
        self.assertIn("Ana", body["promptText"])
        self.assertEqual(self.crm_delta(before, "verifications"), 1)

    def test_no_usable_ani_asks_identifier_without_lookup(self):
        """Anonymous, withheld, empty, unfilled-template and missing ANIs all mean
        'no ANI': the caller is asked for an identifier with every attempt
        left, and the CRM is not asked anything."""
        for ani in ["anonymous", "Anonymous", "withheld", "", "${input.ani}",
                    "sip:anonymous@anonymous.invalid", None]:
            with self.subTest(ani=ani):
                before = self.crm.stats()
                assert_ok(self, self.start(new_id("noani"), ani=ani),
                          state="awaiting_identifier", nextAction="ask_identifier",
                          authStatus="not_identified", identified=False,
                          identificationMethod="none", lastResult="none",
                          attemptsRemaining=3, promptId="ask_identifier",
                          customerId="", customerName="")
                self.assertEqual(self.crm_delta(before, "requests"), 0)

    def test_unknown_ani_asks_identifier(self):
        """An ANI no customer has: asked for an identifier, lastResult no_match,
        and the lookup costs no attempt."""
        assert_ok(self, self.start(new_id("unknown"), ani="tel:+13175550000"),
                  state="awaiting_identifier", lastResult="no_match",
                  attemptsRemaining=3, promptId="ask_identifier", identified=False)

    def test_shared_ani_asks_identifier(self):
        """An ANI shared by two customers does not identify anybody: lastResult
        multiple_matches, ask for an identifier; the identifier then picks the
        right one of the two."""
        cid = new_id("shared")
        assert_ok(self, self.start(cid, ani="+13175550199"),
                  state="awaiting_identifier", nextAction="ask_identifier",
                  lastResult="multiple_matches", identified=False, customerId="",
                  attemptsRemaining=3, promptId="ask_identifier")
        body = assert_ok(self, self.svc.identifier(cid, LUIS["customerId"]),
                         state="awaiting_security", identificationMethod="identifier",
                         customerId=LUIS["id"], customerName=LUIS["name"],
                         lastResult="match", attemptsRemaining=3)
        self.assertNotIn("Luis", body["promptText"])  # not before verification

    def test_crm_error_at_start_costs_no_attempt(self):
        """A CRM failure (5xx, garbage body) during the ANI lookup: ask for an
        identifier with lastResult crm_error and the full attempt budget; once
        the CRM is back the identifier step works normally."""
        for fault in ("error", "garbage"):
            with self.subTest(fault=fault):
                self.crm.set(fault=fault)
                cid = new_id("crmdown")
                assert_ok(self, self.start(cid, ani="tel:+13175550116"),
                          state="awaiting_identifier", lastResult="crm_error",
                          identified=False, attemptsRemaining=3,
                          promptId="ask_identifier")
                self.crm.set(fault="none")
                assert_ok(self, self.svc.identifier(cid, ANA["customerId"]),
                          state="awaiting_security", customerId=ANA["id"],
                          attemptsRemaining=3)

    def test_crm_unreachable_at_start_costs_no_attempt(self):
        """With nothing listening at the CRM URL (connection refused) start still
        answers 200: ask for an identifier, crm_error, every attempt left."""
        nowhere = "http://127.0.0.1:%d" % h.free_port()
        svc = self.extra_stack().authflow(
            self.make_config(self.stack, crm={"baseUrl": nowhere, "timeoutMs": 1000}))
        assert_ok(self, svc.start_session(new_id("nocrm"), "retail", ani="+13175550116"),
                  state="awaiting_identifier", lastResult="crm_error",
                  attemptsRemaining=3, identified=False)
        svc.assert_clean_exit(self, svc.stop())

    # -- identifier ----------------------------------------------------------

    def test_identifier_retries_then_identify_failed(self):
        """Failed identifiers (no match, non-digits, empty) each cost one attempt,
        counting down, with the retry prompt; the last one completes the session
        identify_failed / transfer_to_agent. Invalid input never reaches the CRM."""
        cid = new_id("idfail")
        assert_ok(self, self.start(cid), state="awaiting_identifier", attemptsRemaining=3)
        before = self.crm.stats()
        assert_ok(self, self.svc.identifier(cid, "999999"),
                  state="awaiting_identifier", lastResult="no_match",
                  attemptsRemaining=2, promptId="ask_identifier_retry")
        assert_ok(self, self.svc.identifier(cid, "12ab34"),
                  state="awaiting_identifier", lastResult="invalid_input",
                  attemptsRemaining=1, promptId="ask_identifier_retry")
        assert_ok(self, self.svc.identifier(cid, ""),
                  state="completed", outcome="identify_failed",
                  nextAction="transfer_to_agent", authStatus="not_identified",
                  identified=False, lastResult="invalid_input", attemptsRemaining=0,
                  promptId="transfer_to_agent", customerId="")
        self.assertEqual(self.crm_delta(before, "lookups"), 1)

    def test_identifier_matching_several_customers(self):
        """An identifier that matches several customers (a shared phone number)
        identifies nobody: multiple_matches, one attempt spent, ask again."""
        cid = new_id("multi")
        assert_ok(self, self.start(cid), state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(cid, "3175550199", identifier_type="phone"),
                  state="awaiting_identifier", lastResult="multiple_matches",
                  identified=False, attemptsRemaining=2, promptId="ask_identifier_retry")

    def test_identifier_type_override(self):
        """identifierType in the request overrides the service line's type:
        account number, tracking number and phone number all find the customer."""
        for kind, value in [("account_number", ANA["accountNumber"]),
                            ("tracking_number", ANA["trackingNumber"]),
                            ("phone", "3175550116")]:
            with self.subTest(identifierType=kind):
                cid = new_id("override")
                assert_ok(self, self.start(cid), state="awaiting_identifier")
                assert_ok(self, self.svc.identifier(cid, value, identifier_type=kind),
                          state="awaiting_security", identificationMethod="identifier",
                          customerId=ANA["id"], lastResult="match")
        cid = new_id("override")
        assert_ok(self, self.start(cid), state="awaiting_identifier")
        assert_error(self, self.svc.identifier(cid, "12345678", identifier_type="passport"),
                     400, "invalid_request", mentions="identifierType")

    def test_identifier_then_verify_on_customer_id_line(self):
        """Identification by identifier then the right answer: verified, method
        identifier."""
        cid = self.identified_by_identifier(JIN)
        assert_ok(self, self.svc.security(cid, JIN["answer"]),
                  state="completed", outcome="verified", identificationMethod="identifier",
                  authStatus="identified_verified", nextAction="continue")

    # -- opt-out -------------------------------------------------------------

    def test_opt_out_while_awaiting_identifier(self):
        """Opting out (empty body or {}) completes the session opted_out with
        nextAction continue, not identified."""
        for raw in (b"", b"{}"):
            with self.subTest(body=raw):
                cid = new_id("optout")
                assert_ok(self, self.start(cid), state="awaiting_identifier")
                assert_ok(self, self.svc.request("POST", "/v1/sessions/%s/opt-out" % cid,
                                                 raw_body=raw),
                          state="completed", outcome="opted_out", nextAction="continue",
                          authStatus="not_identified", identified=False,
                          promptId="opted_out", attemptsRemaining=0)

    def test_opt_out_while_awaiting_security_keeps_identification(self):
        """Opting out at the security question keeps who the caller is: completed
        opted_out / continue, identified but not verified, customerId kept."""
        cid = self.identified_by_ani(ANA)
        assert_ok(self, self.svc.opt_out(cid),
                  state="completed", outcome="opted_out", nextAction="continue",
                  authStatus="identified", identified=True, verified=False,
                  identificationMethod="ani", customerId=ANA["id"],
                  customerName=ANA["name"], promptId="opted_out")

    # -- verification --------------------------------------------------------

    def test_wrong_answers_until_verify_failed(self):
        """Wrong answers count down with the retry prompt; the last one completes
        verify_failed / transfer_to_agent, identified only. A non-digit answer is
        invalid_input, costs an attempt and never reaches the CRM."""
        cid = self.identified_by_ani(ANA)
        before = self.crm.stats()
        assert_ok(self, self.svc.security(cid, "0000"),
                  state="awaiting_security", lastResult="wrong_answer",
                  attemptsRemaining=2, promptId="ask_security_retry", verified=False)
        assert_ok(self, self.svc.security(cid, "12a4"),
                  state="awaiting_security", lastResult="invalid_input",
                  attemptsRemaining=1, promptId="ask_security_retry")
        assert_ok(self, self.svc.security(cid, "0001"),
                  state="completed", outcome="verify_failed",
                  nextAction="transfer_to_agent", authStatus="identified",
                  identified=True, verified=False, customerId=ANA["id"],
                  lastResult="wrong_answer", attemptsRemaining=0,
                  promptId="transfer_to_agent")
        self.assertEqual(self.crm_delta(before, "verifications"), 2)
        # The right answer after the limit is refused, not checked.
        assert_error(self, self.svc.security(cid, ANA["answer"]), 409, "wrong_state")
        self.assertEqual(self.crm_delta(before, "verifications"), 2)

    def test_line_without_verification_completes_identified_only(self):
        """On a line that needs no verification, identification completes the
        session identified_only / continue, by ANI or by identifier."""
        assert_ok(self, self.start(new_id("billing"), "billing", ani="+13175550116"),
                  state="completed", outcome="identified_only", nextAction="continue",
                  authStatus="identified", identified=True, verified=False,
                  identificationMethod="ani", customerId=ANA["id"],
                  promptId="welcome_identified", attemptsRemaining=0)
        cid = new_id("billing")
        body = assert_ok(self, self.start(cid, "billing"), state="awaiting_identifier",
                         attemptsRemaining=2)
        self.assertTrue(body["promptText"])
        assert_ok(self, self.svc.identifier(cid, JIN["accountNumber"]),
                  state="completed", outcome="identified_only", nextAction="continue",
                  identificationMethod="identifier", customerId=JIN["id"])

    def test_line_without_ani_lookup(self):
        """With aniLookup off a known ANI is not looked up: ask for the line's
        identifier (tracking number), then the security answer."""
        cid = new_id("parcels")
        before = self.crm.stats()
        assert_ok(self, self.start(cid, "parcels", ani="tel:+13175550116"),
                  state="awaiting_identifier", lastResult="none", identified=False,
                  attemptsRemaining=3)
        self.assertEqual(self.crm_delta(before, "requests"), 0)
        assert_ok(self, self.svc.identifier(cid, ANA["trackingNumber"]),
                  state="awaiting_security", customerId=ANA["id"], attemptsRemaining=2)
        assert_ok(self, self.svc.security(cid, ANA["answer"]),
                  state="completed", outcome="verified")

    # -- CRM failures during a step -------------------------------------------

    def test_crm_failure_during_identifier(self):
        """A CRM failure while checking an identifier completes the session
        crm_unavailable / transfer_to_agent (not identify_failed): the attempt is
        not counted against the caller."""
        cid = new_id("crmid")
        assert_ok(self, self.start(cid), state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(cid, "999999"), attemptsRemaining=2)
        self.crm.set(fault="error")
        assert_ok(self, self.svc.identifier(cid, ANA["customerId"]),
                  state="completed", outcome="crm_unavailable",
                  nextAction="transfer_to_agent", lastResult="crm_error",
                  identified=False, promptId="transfer_crm_unavailable")
        self._assert_logged_attempts(cid, "identifyAttempts", 1)

    def test_crm_failure_during_security(self):
        """A CRM failure (5xx, garbage or timeout) while checking the answer
        completes crm_unavailable / transfer_to_agent, keeping the
        identification. The request reached the CRM, so the attempt stays
        counted (guessing never pays, SPEC §6): 2 attempts spent."""
        for fault in ("error", "garbage", "hang"):
            with self.subTest(fault=fault):
                self.redis.flushall()  # earlier subtests' failures must not lock Ana
                self.crm.set(fault="none")
                cid = self.identified_by_ani(ANA)
                assert_ok(self, self.svc.security(cid, "0000"), attemptsRemaining=2)
                self.crm.set(fault=fault)
                assert_ok(self, self.svc.security(cid, ANA["answer"]),
                          state="completed", outcome="crm_unavailable",
                          nextAction="transfer_to_agent", lastResult="crm_error",
                          identified=True, verified=False, authStatus="identified",
                          customerId=ANA["id"], promptId="transfer_crm_unavailable")
                self._assert_logged_attempts(cid, "verifyAttempts", 2)
        self.crm.set(fault="none")

    def _assert_logged_attempts(self, cid, field, expected):
        """The 'session completed' log line (when the service writes one) shows
        the attempts actually charged."""
        for entry in self.svc.log_entries():
            if entry.get("conversationId") == cid and field in entry:
                self.assertEqual(entry[field], expected,
                                 "%s charged for a CRM failure: %r" % (field, entry))
                return

    # -- lockout ---------------------------------------------------------------

    def test_lockout_across_sessions(self):
        """lockout.maxFailures (3) wrong answers for one customer, spread over two
        calls, lock that customer: the next security step of either call, and a
        new call identifying them (by ANI or by identifier), complete 'locked' /
        transfer_to_agent without any CRM verification. Another customer is not
        affected."""
        first = self.identified_by_identifier(LENA)
        assert_ok(self, self.svc.security(first, "1111"), attemptsRemaining=2)
        assert_ok(self, self.svc.security(first, "2222"), attemptsRemaining=1)
        second = self.identified_by_identifier(LENA)  # 2 failures: not locked yet
        assert_ok(self, self.svc.security(second, "3333"), state="awaiting_security",
                  attemptsRemaining=2, lastResult="wrong_answer")

        before = self.crm.stats()
        for cid in (second, first):
            assert_ok(self, self.svc.security(cid, LENA["answer"]),
                      state="completed", outcome="locked", nextAction="transfer_to_agent",
                      verified=False, promptId="transfer_locked")
        self.assertEqual(self.crm_delta(before, "verifications"), 0,
                         "a locked customer's answer reached the CRM")

        by_identifier = new_id("locked")
        assert_ok(self, self.start(by_identifier), state="awaiting_identifier")
        assert_ok(self, self.svc.identifier(by_identifier, LENA["customerId"]),
                  state="completed", outcome="locked", nextAction="transfer_to_agent",
                  verified=False, promptId="transfer_locked")
        assert_ok(self, self.start(new_id("locked"), ani=LENA["phones"][0]),
                  state="completed", outcome="locked", nextAction="transfer_to_agent",
                  verified=False, promptId="transfer_locked")
        self.assertEqual(self.crm_delta(before, "verifications"), 0)

        other = self.identified_by_identifier(OMAR)
        assert_ok(self, self.svc.security(other, OMAR["answer"]), outcome="verified")

    # -- kept state --------------------------------------------------------------

    def test_second_start_returns_kept_state_without_crm(self):
        """A later start with the same conversationId (a transferred call) returns
        the kept state unchanged -- even with another ANI -- and calls no CRM;
        GET returns the same answer."""
        cid = self.identified_by_ani(ANA)
        _, _, after_wrong = self.svc.security(cid, "0000")
        self.crm.reset()
        again = assert_ok(self, self.start(cid, ani="+13175550199"))
        self.assertEqual(again, after_wrong)
        self.assertEqual(self.crm.stats()["requests"], 0, "a repeated start called the CRM")
        got = assert_ok(self, self.svc.get(cid))
        self.assertEqual(got, after_wrong)

    def test_session_survives_service_restart(self):
        """Sessions live in Redis: after SIGTERM (exit 0) and a new authflow
        process on the same Redis, the call carries on where it was."""
        extra = self.extra_stack()
        svc = extra.authflow(self.make_config(self.stack))
        cid = new_id("restart")
        started = assert_ok(self, svc.start_session(cid, "retail", ani="+13175550116"),
                            state="awaiting_security")
        svc.assert_clean_exit(self, svc.stop())
        svc2 = extra.authflow(self.make_config(self.stack))
        self.assertEqual(assert_ok(self, svc2.get(cid)), started)
        assert_ok(self, svc2.security(cid, ANA["answer"]),
                  state="completed", outcome="verified", customerId=ANA["id"])
        svc2.assert_clean_exit(self, svc2.stop())

    def test_get_and_delete(self):
        """GET answers the current state; DELETE answers 204 with no body, after
        which GET is 404 not_found and a new start with the same ID is 409
        wrong_state (a tombstone; no fresh attempts, no CRM call)."""
        cid = self.identified_by_ani(ANA)
        got = assert_ok(self, self.svc.get(cid), state="awaiting_security",
                        customerId=ANA["id"])
        self.assertEqual(got["conversationId"], cid)
        status, _, body = self.svc.delete(cid)
        self.assertEqual(status, 204)
        self.assertFalse(body, "204 carried a body: %r" % (body,))
        assert_error(self, self.svc.get(cid), 404, "not_found")
        assert_error(self, self.svc.security(cid, "1234"), 404, "not_found")
        before = self.crm.stats()
        assert_error(self, self.start(cid, ani="+13175550116"), 409, "wrong_state")
        self.assertEqual(self.crm_delta(before, "lookups"), 0)

    def test_get_unknown_session_is_404(self):
        """GET of a conversation that never started is 404 not_found."""
        assert_error(self, self.svc.get(new_id("never")), 404, "not_found")

    # -- languages and prompts ------------------------------------------------------

    def test_prompts_in_spanish_and_korean(self):
        """language is canonicalised ('es-es' -> 'es-ES', 'ko-kr' -> 'ko-KR'), prompts
        come from that language's set (the name only once verified); an unsupported language
        falls back to the line's default, as does a missing one."""
        english = assert_ok(self, self.start(new_id("en"), ani="+13175550116",
                                             language="en-US"), language="en-US")
        spanish = assert_ok(self, self.start(new_id("es"), ani="+13175550116",
                                             language="es-es"),
                            language="es-ES", promptId="ask_security")
        korean = assert_ok(self, self.start(new_id("ko"), ani="+13175550116",
                                            language="ko-KR"),
                           language="ko-KR", promptId="ask_security")
        self.assertNotIn("Ana", spanish["promptText"])
        self.assertNotEqual(spanish["promptText"], english["promptText"])
        self.assertRegex(korean["promptText"], HANGUL)
        self.assertNotIn("Ana", korean["promptText"])
        lower = assert_ok(self, self.start(new_id("ko"), language="ko-kr"), language="ko-KR")
        self.assertRegex(lower["promptText"], HANGUL)

        assert_ok(self, self.start(new_id("fr"), language="fr-FR"), language="en-US")
        assert_ok(self, self.start(new_id("def")), language="en-US")
        seoul = assert_ok(self, self.start(new_id("seoul"), "seoul"), language="ko-KR")
        self.assertRegex(seoul["promptText"], HANGUL)

        # The language stays with the session for later steps.
        cid = new_id("es")
        assert_ok(self, self.start(cid, ani="+13175550116", language="es-ES"))
        done = assert_ok(self, self.svc.security(cid, ANA["answer"]), language="es-ES",
                         promptId="welcome_verified")
        self.assertNotRegex(done["promptText"], "(?i)thank you")
        self.assertIn("Ana", done["promptText"])

    def test_prompt_override(self):
        """A service line's prompt override replaces the built-in text, with the
        caller's first name filled in (the line sets greetBeforeVerification)."""
        cid = new_id("custom")
        assert_ok(self, self.start(cid, "custom", ani="+13175550116"),
                  promptId="ask_security",
                  promptText="Custom greeting for Ana: key your PIN.")

    # -- wrong state -----------------------------------------------------------------

    def test_wrong_state(self):
        """A step not allowed in the session's state is 409 wrong_state carrying
        the state, and leaves the session as it was."""
        cid = new_id("ws")
        start = assert_ok(self, self.start(cid), state="awaiting_identifier")
        body = assert_error(self, self.svc.security(cid, "1234"), 409, "wrong_state")
        self.assertEqual(body.get("state"), "awaiting_identifier")
        self.assertEqual(assert_ok(self, self.svc.get(cid)), start)

        cid2 = self.identified_by_ani(ANA)
        body = assert_error(self, self.svc.identifier(cid2, "100234"), 409, "wrong_state")
        self.assertEqual(body.get("state"), "awaiting_security")

        assert_ok(self, self.svc.opt_out(cid), state="completed")
        for response in (self.svc.identifier(cid, "100234"),
                         self.svc.security(cid, "1234"),
                         self.svc.opt_out(cid)):
            body = assert_error(self, response, 409, "wrong_state")
            self.assertEqual(body.get("state"), "completed")
        assert_ok(self, self.svc.get(cid), state="completed", outcome="opted_out")


if __name__ == "__main__":
    unittest.main()
