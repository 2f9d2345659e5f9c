"""Metrics, logs, request IDs and graceful shutdown (run it in production).

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_observability.py -v
"""

import http.client
import json
import re
import shutil
import subprocess
import threading
import time
import unittest

import harness as h
from harness import ANA, assert_ok, new_id

# One Prometheus text-format sample line: name{labels} value
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? -?[0-9.eE+]+$')


def metric(text, name, **labels):
    """The value of one sample, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_exposition(text):
    """Parse Prometheus text into {(name, sorted label pairs): value}.
    Refuses what Prometheus refuses and promtool lets through: the same
    series twice, a family declared twice, a sample before its TYPE."""
    series, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name in types:
                raise AssertionError("family %s declared twice" % name)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        name, labels = m.group(1), m.group(2) or ""
        pairs = LABEL.findall(labels)
        if ",".join('%s="%s"' % p for p in pairs) != labels:
            raise AssertionError("bad label list: %r" % line)
        names = [k for k, _ in pairs]
        if len(set(names)) != len(names):
            raise AssertionError("a label twice: %r" % line)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and family not in types:
            raise AssertionError("sample before its TYPE: %r" % line)
        key = (name, tuple(sorted(pairs)))
        if key in series:
            raise AssertionError("series twice: %r" % line)
        series[key] = float(m.group(3))
    return series


class Observability(h.StackTestCase):
    """One stack for the class: Redis, the demo CRM, authflow at info level."""

    def metrics_text(self):
        status, headers, body = self.svc.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain"))
        return body if isinstance(body, str) else body.decode()

    def test_metrics_format_and_counters(self):
        """/metrics is valid Prometheus text (promtool when installed, and a
        line-by-line check always), and a verified call moves the counters
        for requests, CRM calls and sessions."""
        before = self.metrics_text()
        conv = new_id("obs")
        assert_ok(self, self.svc.start_session(conv, ani="tel:+13175550116"))
        assert_ok(self, self.svc.security(conv, ANA["answer"]))
        # The per-request counters move as the connection completes, just
        # before its request log line is written (just after the answer
        # went out): wait for that line, then read.
        h.wait_until(lambda: any(e.get("conversationId") == conv and e.get("msg") == "request"
                                 and e.get("route") == "/v1/sessions/{id}/security"
                                 for e in self.svc.log_entries()), 5, what="request log line")
        text = self.metrics_text()

        for line in text.splitlines():
            if line.startswith("#"):
                self.assertRegex(line, r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$")
            else:
                self.assertRegex(line, SAMPLE)
        parse_exposition(text)
        promtool = shutil.which("promtool")
        if promtool:
            out = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

        def delta(name, **labels):
            return (metric(text, name, **labels) or 0) - (metric(before, name, **labels) or 0)

        self.assertEqual(delta("authflow_sessions_started_total",
                               service_line="retail", method="ani"), 1)
        self.assertEqual(delta("authflow_sessions_completed_total",
                               service_line="retail", outcome="verified"), 1)
        self.assertEqual(delta("authflow_crm_requests_total", operation="lookup",
                               result="ok"), 1)
        self.assertEqual(delta("authflow_crm_requests_total", operation="verify",
                               result="ok"), 1)
        self.assertEqual(delta("authflow_http_requests_total",
                               route="/v1/sessions/{id}/security", status="200"), 1)
        self.assertGreaterEqual(
            delta("authflow_http_request_duration_seconds_count", route="/v1/sessions"), 1)
        self.assertIsNotNone(metric(text, "authflow_build_info"))
        self.assertIsNotNone(metric(text, "authflow_redis_errors_total"))

    def test_metrics_series_are_unique(self):
        """GET and DELETE on one path share a route template: the method
        label keeps their series apart, so no series appears twice."""
        for method in ("GET", "DELETE"):
            status, _, _ = self.svc.request(method, "/v1/sessions/%s" % new_id("nobody"))
            self.assertEqual(status, 404)
        conv = new_id("uniq")
        assert_ok(self, self.svc.start_session(conv))
        self.assertEqual(self.svc.request("DELETE", "/v1/sessions/" + conv)[0], 204)
        h.wait_until(lambda: any(e.get("conversationId") == conv and e.get("status") == 204
                                 for e in self.svc.log_entries()), 5, what="the DELETE's log line")
        series = parse_exposition(self.metrics_text())

        def value(name, **labels):
            return series.get((name, tuple(sorted(labels.items()))))
        route = "/v1/sessions/{id}"
        self.assertEqual(value("authflow_http_requests_total", method="GET", route=route,
                               status="404"), 1)
        self.assertEqual(value("authflow_http_requests_total", method="DELETE", route=route,
                               status="404"), 1)
        self.assertEqual(value("authflow_http_requests_total", method="DELETE", route=route,
                               status="204"), 1)
        self.assertEqual(value("authflow_http_request_duration_seconds_count",
                               method="DELETE", route=route), 2)
        self.assertEqual(value("authflow_http_request_duration_seconds_count",
                               method="GET", route=route), 1)
        # The parser refuses what it must.
        with self.assertRaises(AssertionError):
            parse_exposition("# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n")

    def test_metrics_need_a_key(self):
        """Operational data is not public: /metrics without a key is 401."""
        status, _, body = self.svc.request("GET", "/metrics", key=None)
        self.assertEqual(status, 401)
        self.assertEqual(body["error"], "unauthorized")

    def test_request_id_echoed_and_logged(self):
        """X-Request-Id and ININ-Correlation-Id are echoed and appear in the
        request's log line; a request without one gets a generated ID; an
        unsafe one is replaced."""
        for header in ("X-Request-Id", "ININ-Correlation-Id"):
            rid = "corr-%s" % new_id("rid")
            status, headers, _ = self.svc.request("GET", "/healthz", headers={header: rid},
                                                 key=None)
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-request-id"), rid)
            h.wait_until(lambda: any(e.get("requestId") == rid and e.get("msg") == "request"
                                     for e in self.svc.log_entries()), 5, what="log line")
        status, headers, _ = self.svc.request("GET", "/healthz", key=None)
        self.assertRegex(headers.get("x-request-id", ""), r"^[0-9a-f]{24}$")
        bad = "x\"y" + "z" * 100
        status, headers, _ = self.svc.request("GET", "/healthz", headers={"X-Request-Id": bad},
                                             key=None)
        self.assertNotEqual(headers.get("x-request-id"), bad)

    def test_log_lines_are_json_with_required_fields(self):
        """Every log line is one JSON object with time, level and msg; request
        lines carry method, route, status, latency and request ID."""
        conv = new_id("log")
        assert_ok(self, self.svc.start_session(conv))
        # The request line is written when the connection completes, just
        # after the answer went out: wait for it rather than race it.
        h.wait_until(lambda: any(e.get("conversationId") == conv and e.get("msg") == "request"
                                 for e in self.svc.log_entries()), 5, what="request log line")
        text = self.svc.log_text()
        lines = [l for l in text.splitlines() if l.strip()]
        self.assertTrue(lines)
        requests = 0
        for line in lines:
            entry = json.loads(line)
            for key in ("time", "level", "msg"):
                self.assertIn(key, entry)
            self.assertIn(entry["level"], ("debug", "info", "warn", "error"))
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            if entry["msg"] == "request":
                requests += 1
                for key in ("requestId", "method", "route", "status", "latencyMs",
                            "conversationId", "outcome"):
                    self.assertIn(key, entry)
        self.assertGreater(requests, 0)


class LogLevel(h.StackTestCase):
    PER_TEST = True
    LOG_LEVEL = "warn"

    def test_warn_level_hides_request_lines(self):
        """AUTHFLOW_LOG_LEVEL=warn keeps info lines (per request) out.

        Absence is proved by order, not by waiting: after the quiet requests
        a later request must log a warning (a report event dropped), which
        proves warn lines are written; then SIGTERM, and the "stopped" line
        comes only after every connection has completed -- so any request
        line would be in the log before it."""
        assert_ok(self, self.svc.start_session(new_id("quiet")))
        status, _, _ = self.svc.request("GET", "/healthz", key=None)
        self.assertEqual(status, 200)
        self.redis.command("SET", h.KEY_PREFIX + "report:events", "not-a-stream")
        loud = new_id("loud")
        assert_ok(self, self.svc.start_session(loud))
        assert_ok(self, self.svc.opt_out(loud), outcome="opted_out")
        dropped = self.svc.wait_for_log("report event dropped")
        self.assertEqual(dropped.get("level"), "warn", dropped)
        rc = self.svc.stop()
        self.svc.assert_clean_exit(self, rc)
        msgs = [e.get("msg") for e in self.svc.log_entries()]
        self.assertIn("stopped", msgs)
        self.assertEqual([e for e in self.svc.log_entries() if e.get("msg") == "request"], [])
        self.assertEqual([e for e in self.svc.log_entries() if e.get("level") == "info"
                          and e.get("msg") not in ("listening", "draining", "stopped")], [])


class GracefulShutdown(h.StackTestCase):
    PER_TEST = True
    GATED_CRM = True  # the draining step waits at the gate until released
    CRM_TIMEOUT_MS = 20000

    def test_sigterm_drains(self):
        """On SIGTERM: /readyz answers 503 at once (on a kept-alive
        connection) while a step is still held on its way to the CRM; that
        step, released, still gets its 200; the process exits 0 within 10 s."""
        af = self.svc
        conv = new_id("drain")
        assert_ok(self, af.start_session(conv, ani="tel:+13175550116"))
        keep = http.client.HTTPConnection(h.LOOPBACK, af.port, timeout=10)
        keep.request("GET", "/readyz")
        first = keep.getresponse()
        first.read()
        self.assertEqual(first.status, 200)

        self.gate.hold("/verify")
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=af.security(conv, ANA["answer"], timeout=20)), daemon=True)
        t.start()
        self.assertTrue(self.gate.wait_held(1), "the verification never reached the CRM")
        sent = time.monotonic()
        af.terminate()
        af.wait_for_log("draining")
        keep.request("GET", "/readyz")
        ready = keep.getresponse()
        ready.read()
        keep.close()
        self.assertEqual(ready.status, 503)
        self.assertTrue(t.is_alive() and self.gate.waiting == 1,
                        "the step was not in flight any more: %r" % result)
        self.gate.release()

        t.join(timeout=20)
        body = assert_ok(self, result["r"])
        self.assertEqual(body["outcome"], "verified")
        rc = af.proc.wait(timeout=12)
        self.assertLess(time.monotonic() - sent, 10)
        af.assert_clean_exit(self, rc)


if __name__ == "__main__":
    unittest.main()
