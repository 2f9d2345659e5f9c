"""Bad input and authentication (SPEC sections 3 and 6: "Bad input gets a clear
error. Nothing crashes, and no session is corrupted.").

Every refusal must be a non-2xx JSON {"error","message"} answer with the right
code, must not create or change a session, and must leave the service healthy.
Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_bad_input.py -v
"""

import base64
import json
import unittest

import harness as h
from harness import ANA, API_KEY, API_KEY_2, assert_error, assert_ok, new_id


class BadInput(h.StackTestCase):
    SERVICE_LINES = {"retail": h.service_line()}

    # -- helpers -----------------------------------------------------------

    def post_raw(self, path, raw, content_type="application/json", **kw):
        return self.svc.request("POST", path, raw_body=raw, content_type=content_type, **kw)

    def session_keys(self):
        return self.redis.keys(h.KEY_PREFIX + "*")

    def assert_nothing_stored(self):
        self.assertEqual(self.session_keys(), [], "a refused request wrote to Redis")

    def live_session(self):
        """A session waiting for the security answer, and its current answer."""
        cid = new_id("ok")
        body = assert_ok(self, self.svc.start_session(cid, "retail", ani="+13175550116"),
                         state="awaiting_security")
        return cid, body

    def assert_unchanged(self, cid, before):
        self.assertEqual(assert_ok(self, self.svc.get(cid)), before,
                         "a refused request changed the session")

    # -- JSON ----------------------------------------------------------------

    def test_malformed_json(self):
        """Bodies that are not JSON get 400 invalid_json, on start and on the
        steps of a live session, which stays unchanged."""
        bad_bodies = [b'{"conversationId": ', b"{bad}", b"\xff\xfe{}",
                      b'{"conversationId":"a","serviceLine":"retail",}', b"nul"]
        for raw in bad_bodies:
            with self.subTest(body=raw):
                assert_error(self, self.post_raw("/v1/sessions", raw), 400, "invalid_json")
        self.assert_nothing_stored()

        cid, before = self.live_session()
        for suffix in ("identifier", "security", "opt-out"):
            with self.subTest(step=suffix):
                assert_error(self, self.post_raw("/v1/sessions/%s/%s" % (cid, suffix),
                                                 b'{"answer": 12'), 400, "invalid_json")
        self.assert_unchanged(cid, before)

    def test_empty_body_on_start(self):
        """An empty start body is a 400 (invalid_json or invalid_request)."""
        status, _, body = self.post_raw("/v1/sessions", b"")
        self.assertEqual(status, 400, body)
        self.assertIn(body.get("error"), ("invalid_json", "invalid_request"))
        self.assert_nothing_stored()

    def test_wrong_types_name_the_field(self):
        """A field of the wrong JSON type is 400 invalid_request whose message
        names the field."""
        good = {"conversationId": new_id("rej"), "serviceLine": "retail"}
        cases = [("conversationId", 123), ("conversationId", None), ("ani", 5),
                 ("ani", {"n": "+13175550116"}), ("serviceLine", True),
                 ("language", ["en-US"]), ("conversationId", ["a"])]
        for field, value in cases:
            with self.subTest(field=field, value=value):
                body = dict(good, **{field: value})
                assert_error(self, self.svc.request("POST", "/v1/sessions", body),
                             400, "invalid_request", mentions=field)
        self.assert_nothing_stored()

        cid, before = self.live_session()
        step_cases = [("security", {"answer": 1234}, "answer"),
                      ("security", {"answer": None}, "answer"),
                      ("security", {"answer": ["1234"]}, "answer"),
                      ("identifier", {"identifier": 100234}, "identifier"),
                      ("identifier", {"identifier": "100234", "identifierType": 3},
                       "identifierType")]
        for step, body, field in step_cases:
            with self.subTest(step=step, body=body):
                assert_error(self, self.svc.request(
                    "POST", "/v1/sessions/%s/%s" % (cid, step), body),
                    400, "invalid_request", mentions=field)
        assert_error(self, self.post_raw("/v1/sessions/%s/security" % cid, b"[]"),
                     400, "invalid_request")
        self.assert_unchanged(cid, before)

    def test_array_body(self):
        """A JSON array body is valid JSON of the wrong type: 400 invalid_request."""
        for raw in (b"[]", b'[{"conversationId":"x","serviceLine":"retail"}]'):
            with self.subTest(body=raw):
                assert_error(self, self.post_raw("/v1/sessions", raw), 400, "invalid_request")
        self.assert_nothing_stored()

    def test_scalar_body(self):
        """null, a string, a number or a boolean is valid JSON (RFC 8259) of the
        wrong type: 400 invalid_request, not invalid_json."""
        for raw in (b"null", b'"retail"', b"42", b"true"):
            with self.subTest(body=raw):
                assert_error(self, self.post_raw("/v1/sessions", raw), 400, "invalid_request")
        self.assert_nothing_stored()

    def test_missing_required_fields(self):
        """A missing required field is 400 invalid_request naming it."""
        for body, field in [({"serviceLine": "retail"}, "conversationId"),
                            ({"conversationId": new_id("rej")}, "serviceLine"),
                            ({}, "conversationId")]:
            with self.subTest(missing=field):
                assert_error(self, self.svc.request("POST", "/v1/sessions", body),
                             400, "invalid_request", mentions=field)
        self.assert_nothing_stored()
        cid, before = self.live_session()
        assert_error(self, self.svc.request("POST", "/v1/sessions/%s/security" % cid, {}),
                     400, "invalid_request", mentions="answer")
        assert_error(self, self.svc.request("POST", "/v1/sessions/%s/identifier" % cid,
                                            {"identifierType": "customer_id"}),
                     400, "invalid_request", mentions="identifier")
        self.assert_unchanged(cid, before)

    def test_unfilled_template_counts_as_absent(self):
        """'${input.x}' (a Genesys input left unfilled) for a required field is
        the same as a missing field: 400 naming it."""
        for body, field in [({"conversationId": new_id("rej"),
                              "serviceLine": "${input.serviceLine}"}, "serviceLine"),
                            ({"conversationId": "${input.conversationId}",
                              "serviceLine": "retail"}, "conversationId")]:
            with self.subTest(field=field):
                assert_error(self, self.svc.request("POST", "/v1/sessions", body),
                             400, "invalid_request", mentions=field)
        self.assert_nothing_stored()
        cid, before = self.live_session()
        assert_error(self, self.svc.request("POST", "/v1/sessions/%s/security" % cid,
                                            {"answer": "${input.answer}"}),
                     400, "invalid_request", mentions="answer")
        self.assert_unchanged(cid, before)

    def test_unknown_service_line(self):
        """A service line that is not configured is 400 naming serviceLine."""
        assert_error(self, self.svc.request("POST", "/v1/sessions",
                                            {"conversationId": new_id("rej"),
                                             "serviceLine": "nosuchline"}),
                     400, "invalid_request", mentions="serviceLine")
        self.assert_nothing_stored()

    def test_unknown_fields_are_ignored(self):
        """Fields the API does not know are ignored (Genesys may send extras)."""
        cid = new_id("ok")
        body = {"conversationId": cid, "serviceLine": "retail", "ani": "+13175550116",
                "extra": {"nested": [1, 2]}, "flowVersion": 7}
        assert_ok(self, self.svc.request("POST", "/v1/sessions", body),
                  conversationId=cid, state="awaiting_security")
        assert_ok(self, self.svc.request("POST", "/v1/sessions/%s/security" % cid,
                                         {"answer": ANA["answer"], "note": None}),
                  outcome="verified")

    # -- sizes and media types ---------------------------------------------------

    def test_body_too_large(self):
        """A 17 KB body announced by Content-Length is 413 payload_too_large, and a
        Content-Length of 1 MB is refused from the headers alone, without the
        body being sent."""
        big, head = self._big_request()
        port = self.svc.port

        fixed = head + b"Content-Length: %d\r\n\r\n" % len(big) + big
        assert_error(self, h.raw_http(port, fixed), 413, "payload_too_large")

        announced = head + b"Content-Length: 1048576\r\n\r\n" + b'{"conversationId":'
        assert_error(self, h.raw_http(port, announced, timeout=5.0), 413, "payload_too_large")
        self.assert_nothing_stored()

        # Just under the limit is fine.
        cid = new_id("ok")
        fits = {"conversationId": cid, "serviceLine": "retail", "pad": "y" * 15000}
        assert_ok(self, self.svc.request("POST", "/v1/sessions", fits), conversationId=cid)

    def _big_request(self):
        big = json.dumps({"conversationId": new_id("rej"), "serviceLine": "retail",
                          "pad": "x" * (17 * 1024)}).encode()
        head = ("POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                "Connection: close\r\n" % API_KEY).encode()
        return big, head

    def test_body_too_large_chunked(self):
        """A 17 KB body streamed with Transfer-Encoding: chunked (no
        Content-Length) also gets an HTTP 413 payload_too_large answer, not a
        dropped connection."""
        big, head = self._big_request()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 4096]), big[i:i + 4096])
                          for i in range(0, len(big), 4096)) + b"0\r\n\r\n"
        chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks
        assert_error(self, h.raw_http(self.svc.port, chunked), 413, "payload_too_large")
        self.assert_nothing_stored()
        self.assertTrue(self.svc.alive())

    def test_unsupported_media_type(self):
        """A body declared as something other than JSON is 415; JSON with a
        charset parameter is accepted."""
        body = json.dumps({"conversationId": new_id("rej"), "serviceLine": "retail"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "text/xml"):
            with self.subTest(content_type=ctype):
                assert_error(self, self.post_raw("/v1/sessions", body, content_type=ctype),
                             415, "unsupported_media_type")
        self.assert_nothing_stored()
        cid = new_id("ok")
        ok = json.dumps({"conversationId": cid, "serviceLine": "retail"}).encode()
        assert_ok(self, self.post_raw("/v1/sessions", ok,
                                      content_type="application/json; charset=utf-8"))

    # -- routes and methods ---------------------------------------------------------

    def test_unknown_route_is_json_404(self):
        """Paths the API does not have answer 404 not_found as JSON."""
        for method, path in [("GET", "/nope"), ("GET", "/v1/session"),
                             ("POST", "/v1/sessions/abc/unknown"), ("GET", "/v2/sessions"),
                             ("GET", "/v1/sessions/abc/security/extra")]:
            with self.subTest(method=method, path=path):
                assert_error(self, self.svc.request(method, path), 404, "not_found")

    def test_method_not_allowed_has_allow_header(self):
        """A known path with the wrong method is 405 method_not_allowed with an
        Allow header listing the methods it takes."""
        cases = [("PUT", "/v1/sessions", {"POST"}), ("GET", "/v1/sessions", {"POST"}),
                 ("DELETE", "/v1/sessions", {"POST"}),
                 ("GET", "/v1/sessions/abc/security", {"POST"}),
                 ("PUT", "/v1/sessions/abc/identifier", {"POST"}),
                 ("PATCH", "/v1/sessions/abc", {"GET", "DELETE"}),
                 ("POST", "/v1/sessions/abc", {"GET", "DELETE"}),
                 ("POST", "/healthz", {"GET"})]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                response = self.svc.request(method, path, {} if method != "GET" else None)
                assert_error(self, response, 405, "method_not_allowed")
                allow = response[1].get("allow", "")
                got = {m.strip() for m in allow.split(",") if m.strip()}
                self.assertTrue(allowed <= got, "Allow %r lacks %s" % (allow, allowed))
                self.assertNotIn(method, got)
        self.assert_nothing_stored()

    # -- conversation ids -------------------------------------------------------------

    BAD_PATH_IDS = ["a" * 129, "a%2Fb", "a%2fb", "..", ".", "%2e%2e", "%2E%2E", "%2e",
                    "caf%C3%A9", "%00", "a%00b", "a%20b", "%", "%zz", "a%2", "%3Cscript%3E"]

    def test_bad_conversation_id_in_path(self):
        """Path IDs that are too long, oddly encoded or not of [A-Za-z0-9._:-] get
        400 invalid_request on every session route, and nothing is stored."""
        for raw in self.BAD_PATH_IDS:
            for method, suffix, body in [("GET", "", None), ("DELETE", "", None),
                                         ("POST", "/security", {"answer": "1234"}),
                                         ("POST", "/identifier", {"identifier": "100234"}),
                                         ("POST", "/opt-out", {})]:
                with self.subTest(id=raw[:20], method=method, route=suffix):
                    path = "/v1/sessions/%s%s" % (raw, suffix)
                    assert_error(self, self.svc.request(method, path, body),
                                 400, "invalid_request")
        self.assert_nothing_stored()

    def test_raw_non_ascii_path_id(self):
        """A raw UTF-8 path ID (not percent-encoded) is refused with a 400."""
        request = ("GET /v1/sessions/caf\u00e9 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Authorization: Bearer %s\r\nConnection: close\r\n\r\n" % API_KEY)
        status, _, body = h.raw_http(self.svc.port, request.encode("utf-8"))
        self.assertEqual(status, 400, body)

    def test_bad_conversation_id_in_body(self):
        """Start refuses conversationIds that are empty, longer than 128
        characters, '.' or '..', or hold other characters: 400 naming the field.
        Exactly 128 allowed characters is accepted."""
        for cid in ["", "a" * 129, ".", "..", "a/b", "caf\u00e9", "a b", "x;y", "a\\b",
                    "\u4f1a\u8bdd"]:
            with self.subTest(conversationId=cid[:20]):
                assert_error(self, self.svc.start_session(cid), 400, "invalid_request",
                             mentions="conversationId")
        self.assert_nothing_stored()
        longest = ("Ab0._:-" * 19)[:128]
        assert_ok(self, self.svc.start_session(longest), conversationId=longest)
        assert_ok(self, self.svc.get(longest), conversationId=longest)

    # -- authentication -------------------------------------------------------------

    def v1_routes(self, cid):
        return [("POST", "/v1/sessions", {"conversationId": new_id("rej"),
                                          "serviceLine": "retail"}),
                ("POST", "/v1/sessions/%s/identifier" % cid, {"identifier": "100234"}),
                ("POST", "/v1/sessions/%s/security" % cid, {"answer": ANA["answer"]}),
                ("POST", "/v1/sessions/%s/opt-out" % cid, {}),
                ("GET", "/v1/sessions/%s" % cid, None),
                ("DELETE", "/v1/sessions/%s" % cid, None)]

    def test_missing_or_wrong_key_is_401_everywhere(self):
        """Every /v1 route answers 401 unauthorized (JSON error body) without a
        key or with a wrong one, in any scheme, and does nothing: the live
        session is neither advanced nor deleted."""
        cid, before = self.live_session()
        keys_before = self.session_keys()
        basic_wrong = base64.b64encode(b"genesys:not-the-key").decode()
        basic_key_as_user = base64.b64encode(("%s:" % API_KEY).encode()).decode()
        bad_auth = [{}, {"Authorization": "Bearer wrong-key-123"},
                    {"Authorization": "Bearer "}, {"X-API-Key": "wrong-key-123"},
                    {"X-API-Key": ""}, {"Authorization": "Basic " + basic_wrong},
                    {"Authorization": "Basic " + basic_key_as_user},
                    {"Authorization": "Basic !!!notbase64"},
                    {"Authorization": "Token " + API_KEY},
                    {"Authorization": "Bearer " + API_KEY[:-1]},
                    {"Authorization": "Bearer " + API_KEY + "x"}]
        for headers in bad_auth:
            for method, path, body in self.v1_routes(cid):
                with self.subTest(headers=headers, method=method, path=path):
                    assert_error(self, self.svc.request(method, path, body, key=None,
                                                        headers=headers),
                                 401, "unauthorized")
        self.assertEqual(self.session_keys(), keys_before)
        self.assert_unchanged(cid, before)

    def test_accepted_key_schemes_and_rotation(self):
        """Bearer, X-API-Key and Basic (key as the password) are all accepted,
        for each of the configured keys (rotation)."""
        for key in (API_KEY, API_KEY_2):
            for scheme in ("bearer", "x-api-key", "basic"):
                with self.subTest(key=key[:10], scheme=scheme):
                    cid = new_id("ok")
                    assert_ok(self, self.svc.start_session(cid, key=key, scheme=scheme),
                              conversationId=cid)
                    assert_ok(self, self.svc.get(cid, key=key, scheme=scheme),
                              conversationId=cid)

    def test_probes_need_no_key(self):
        """/healthz and /readyz answer 200 without any key."""
        status, headers, body = self.svc.request("GET", "/healthz", key=None)
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"status": "ok"})
        self.assertTrue(headers.get("content-type", "").startswith("application/json"))
        status, _, body = self.svc.request("GET", "/readyz", key=None)
        self.assertEqual(status, 200, body)
        self.assertIsInstance(body, dict)

    def test_metrics_with_key(self):
        """/metrics answers Prometheus text to an authorised caller."""
        assert_ok(self, self.svc.start_session(new_id("ok")))
        status, headers, body = self.svc.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain"))
        self.assertIsInstance(body, bytes)
        self.assertIn(b"# TYPE", body)

    def test_request_id_header(self):
        """Every answer carries X-Request-Id: the caller's X-Request-Id or
        ININ-Correlation-Id when sent, otherwise a fresh one -- errors too."""
        status, headers, _ = self.svc.start_session(new_id("ok"),
                                                    headers={"X-Request-Id": "req-abc-123"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-request-id"), "req-abc-123")
        _, headers, _ = self.svc.get(new_id("missing"),
                                     headers={"ININ-Correlation-Id": "inin-corr-42"})
        self.assertEqual(headers.get("x-request-id"), "inin-corr-42")
        seen = set()
        for response in (self.svc.request("GET", "/healthz", key=None),
                         self.svc.request("GET", "/v1/sessions/x", key=None),
                         self.svc.request("GET", "/nope")):
            rid = response[1].get("x-request-id")
            self.assertTrue(rid, "no X-Request-Id on status %s" % response[0])
            seen.add(rid)
        self.assertEqual(len(seen), 3, "request ids are not unique: %s" % seen)

    # -- afterwards -------------------------------------------------------------------

    def test_zz_service_healthy_after_bad_input(self):
        """After all the refusals above the process is alive, has no sanitizer
        report, and a whole normal call still works."""
        self.assertTrue(self.svc.alive())
        self.assertEqual(self.svc.sanitizer_reports(), [])
        cid = new_id("ok")
        assert_ok(self, self.svc.start_session(cid, ani="tel:+13175550116"),
                  state="awaiting_security")
        assert_ok(self, self.svc.security(cid, ANA["answer"]), outcome="verified")
        status, _, _ = self.svc.request("GET", "/readyz", key=None)
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
