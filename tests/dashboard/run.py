"""Browser test of GET /dashboard: start Redis + demo CRM + authflow (the
integration harness), seed a known mix of sessions, then let Debian's
chromium (driven by playwright-core, dashboard.test.mjs) load the page,
enter the report key and check that the tiles, charts and table show the
seeded numbers. Saves tests/artifacts/dashboard.png.

    AUTHFLOW_BIN=... AUTHFLOW_DEMO_CRM_BIN=... python3 tests/dashboard/run.py
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness as h  # noqa: E402
from smtp_stub import SmtpStub  # noqa: E402

REPORT_KEY = "dashboard-report-key-1"


def ok(result, **expected):
    return h.expect_step(result, **expected)


BULK = 24  # opted-out sessions before the named ones: the table needs a second page


def seed(svc):
    """24 opt-outs, then three verified by ANI, one opt-out, one
    identify_failed and one pending: 29 completed, more than a page of 25."""
    bulk = []
    for _ in range(BULK):
        c = h.new_id("bulk")
        ok(svc.start_session(c, "retail"))
        ok(svc.opt_out(c), outcome="opted_out")
        bulk.append(c)
    ids = []
    for _ in range(3):
        c = h.new_id("dash")
        ok(svc.start_session(c, "retail", ani="tel:+13175550116"))
        ok(svc.security(c, "1234"), outcome="verified")
        ids.append(c)
    c = h.new_id("dash")
    ok(svc.start_session(c, "retail"))
    ok(svc.opt_out(c), outcome="opted_out")
    ids.append(c)
    c = h.new_id("dash")
    ok(svc.start_session(c, "retail"))
    for _ in range(3):
        body = ok(svc.identifier(c, "999999"))
    assert body["outcome"] == "identify_failed", body
    ids.append(c)
    ok(svc.start_session(h.new_id("dash"), "retail"))
    completed = BULK + 5
    return {"started": BULK + 6, "completed": completed, "aniIdentified": 3,
            "identified": 3, "transferred": 1,
            "outcomes": {"verified": 3, "opted_out": BULK + 1, "identify_failed": 1},
            "containment": "%.1f%%" % (100.0 * (completed - 1) / completed),
            "conversationIds": ids, "bulkIds": bulk}


def main():
    if subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                      cwd=HERE, timeout=180).returncode != 0:
        return 1
    cleanups = []
    stack = h.Stack(cleanups.append)
    rc = 1
    try:
        stack.redis = stack.start(h.Redis())
        stack.crm = stack.start(h.DemoCrm())
        cfg = h.base_config(stack.redis, stack.crm.url)
        cfg["reportKeys"] = [REPORT_KEY]
        # The zone the time-zone picker starts at; one schedule for the
        # schedules panel, mailing to a real SMTP server on loopback.
        smtp = stack.start(SmtpStub(stack.tempdir("authflow-smtp-"), h.free_port()))
        cfg["reporting"] = {
            "timeZone": "Asia/Kolkata", "scheduleTickSeconds": 1, "scheduleLeaseSeconds": 3,
            "schedules": [{"name": "daily-summary", "report": "summary", "format": "pdf",
                           "every": "day", "at": "07:00",
                           "to": ["supervisors@example.com"]}],
            "smtp": {"url": "smtp://127.0.0.1:%d" % smtp.port, "from": "authflow@example.com",
                     "tls": "none"}}
        svc = stack.authflow(cfg)
        expected = seed(svc)
        env = dict(os.environ, AUTHFLOW_URL="http://127.0.0.1:%d" % svc.port,
                   AUTHFLOW_REPORT_KEY=REPORT_KEY, EXPECTED=json.dumps(expected),
                   ARTIFACTS=os.path.join(HERE, "..", "artifacts"))
        rc = subprocess.run(["node", os.path.join(HERE, "dashboard.test.mjs")],
                            cwd=HERE, env=env, timeout=120).returncode
        # "Send now" in the schedules panel mailed exactly one report.
        mails = smtp.messages()
        if rc == 0 and [m["Subject"] for m in mails if "[run on demand]" in m["Subject"]] != \
                [m["Subject"] for m in mails] or rc == 0 and len(mails) != 1:
            print("dashboard test: expected one mail on demand, got %r"
                  % [m["Subject"] for m in mails], file=sys.stderr)
            rc = 1
    finally:
        try:
            for close in cleanups:
                close()
        except AssertionError as e:  # authflow exited badly or a part leaked
            print(e, file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
