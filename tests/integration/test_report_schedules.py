"""Scheduled reports by e-mail (issue 22): a real SMTP server on loopback
(aiosmtpd, tests/integration/smtp_stub.py) receives exactly one mail per
period from authflow replicas sharing one Redis.

How a schedule is made testable in seconds, without a test hook in the
binary: the scheduler ticks every second (reporting.scheduleTickSeconds 1)
with a short lease (reporting.scheduleLeaseSeconds 3); each test picks a
zone whose wall clock is not near midnight and sets "at" to the minute
before now there, so yesterday's period is due a minute ago; and it writes
the schedule's first-seen record in Redis as the replicas would have
(report:schedule:<name>:seen) an hour before today's local midnight, as if
the schedule had been configured yesterday -- a schedule first seen now
would, rightly, mail nothing before tomorrow. The late-run test backdates
it three days, as if every replica had been down since.

Each mail's attachment is opened: a .pdf read back with pdftotext, an
.xlsx with openpyxl (Debian's python3-openpyxl, under /usr/bin/python3).
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import unittest
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import API_KEY, KEY_PREFIX, StackTestCase, free_port, wait_until  # noqa: E402
from smtp_stub import SYSTEM_PYTHON, SmtpStub  # noqa: E402

REPORT_KEY = "itest-report-key-0123456789"
ZONES = ["Asia/Seoul", "America/New_York", "Asia/Kolkata", "Europe/Madrid", "UTC",
         "Pacific/Auckland", "America/Los_Angeles"]


def pick_zone():
    """A zone whose local time is 00:15..23:40 now, and "at" = a minute ago
    there (so yesterday's period is due, and on time)."""
    for name in ZONES:
        now = datetime.datetime.now(ZoneInfo(name))
        if datetime.time(0, 15) <= now.time() <= datetime.time(23, 40):
            at = now - datetime.timedelta(minutes=1)
            return name, "%02d:%02d" % (at.hour, at.minute)
    raise AssertionError("no zone away from midnight")


def local_midnight(zone, days_ago=0):
    now = datetime.datetime.now(ZoneInfo(zone))
    day = now.date() - datetime.timedelta(days=days_ago)
    return int(datetime.datetime.combine(day, datetime.time(0), ZoneInfo(zone)).timestamp())


def day_label(zone, days_ago):
    now = datetime.datetime.now(ZoneInfo(zone))
    return (now.date() - datetime.timedelta(days=days_ago)).isoformat()


def attachment(msg):
    parts = [p for p in msg.iter_attachments()]
    if len(parts) != 1:
        raise AssertionError("expected one attachment, got %d" % len(parts))
    return parts[0].get_filename(), parts[0].get_content()


def check_attachment(testcase, msg, directory):
    """The attachment opens in a real reader; returns its text."""
    name, data = attachment(msg)
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    if name.endswith(".pdf"):
        out = subprocess.run(["pdftotext", path, "-"], capture_output=True, check=True)
        text = out.stdout.decode("utf-8", "replace")
        testcase.assertIn("Summary report", text)
        return text
    if name.endswith(".xlsx"):
        script = ("import openpyxl,sys; wb=openpyxl.load_workbook(sys.argv[1]); "
                  "print('\\n'.join(wb.sheetnames))")
        out = subprocess.run([SYSTEM_PYTHON, "-c", script, path], capture_output=True)
        testcase.assertEqual(out.returncode, 0, out.stderr.decode())
        return out.stdout.decode()
    raise AssertionError("unexpected attachment " + name)


class ScheduleCase(StackTestCase):
    PER_TEST = True
    INSTANCES = 0

    def setUp(self):
        super().setUp()
        self.zone, self.at = pick_zone()
        self.mail_dir = self.stack.tempdir("authflow-smtp-")
        self.smtp_port = free_port()

    def schedule(self, **kw):
        s = {"name": "daily-summary", "report": "summary", "format": "pdf", "every": "day",
             "at": self.at, "timeZone": self.zone,
             "to": ["supervisors@example.com", "manager@example.com"]}
        s.update(kw)
        return s

    def config(self, schedules=None, smtp=None, lease=3):
        cfg = self.make_config(self.stack)
        cfg["reportKeys"] = [REPORT_KEY]
        cfg["server"] = {"threads": 1}
        smtp_cfg = {"url": "smtp://127.0.0.1:%d" % self.smtp_port,
                    "from": "authflow@example.com", "tls": "none",
                    "retryInitialSeconds": 1, "retryMaxSeconds": 2, "maxAttempts": 30}
        smtp_cfg.update(smtp or {})
        cfg["reporting"] = {"scheduleTickSeconds": 1, "scheduleLeaseSeconds": lease,
                            "schedules": schedules if schedules is not None
                            else [self.schedule()],
                            "smtp": smtp_cfg}
        return cfg

    def first_seen(self, name="daily-summary", days=0):
        """As if the schedule had been seen first before yesterday's end."""
        self.redis.command("SET", "%sreport:schedule:%s:seen" % (KEY_PREFIX, name),
                           str(local_midnight(self.zone, days) - 3600))

    def smtp(self, **kw):
        return self.stack.start(SmtpStub(self.mail_dir, self.smtp_port, **kw))

    def wait_messages(self, smtp, n, timeout=30):
        return wait_until(lambda: len(smtp.messages()) >= n and smtp.messages(), timeout,
                          what="%d mail(s)" % n)

    def deliveries(self, svc, key=REPORT_KEY):
        status, _, body = svc.request("GET", "/v1/reports/deliveries", key=key)
        self.assertEqual(status, 200, body)
        return body

    def attempts_logged(self, svc):
        return [e for e in svc.log_entries() if e.get("msg") == "report delivery attempt"]


class TestExactlyOnce(ScheduleCase):

    def test_two_replicas_send_each_period_once(self):
        smtp = self.smtp()
        self.first_seen()
        cfg = self.config([self.schedule(format="xlsx")])
        a = self.stack.authflow(cfg)
        b = self.stack.authflow(cfg)
        msgs = self.wait_messages(smtp, 1)
        time.sleep(4)  # four more ticks of each replica: nothing more goes out
        msgs = smtp.messages()
        self.assertEqual(len(msgs), 1, [m["Subject"] for m in msgs])
        m = msgs[0]
        self.assertEqual(sorted(m.envelope_to),
                         ["manager@example.com", "supervisors@example.com"])
        self.assertIn(day_label(self.zone, 1), m["Subject"])
        self.assertNotIn("[late]", m["Subject"])
        self.assertEqual(m["Message-ID"],
                         "<authflow.daily-summary.d%s@authflow>" % day_label(self.zone, 1))
        body = m.get_body(("plain",)).get_content()
        self.assertIn("Started:", body)
        self.assertNotIn("LATE", body)
        name, _ = attachment(m)
        self.assertEqual(name, "authflow-summary_%s_%s_%s.xlsx" % (
            day_label(self.zone, 1), day_label(self.zone, 1), self.zone.replace("/", "-")))
        sheets = check_attachment(self, m, self.mail_dir)
        self.assertTrue(sheets.strip(), "the workbook has sheets")
        # "tls": "none" is warned about at start.
        self.assertTrue(any("plaintext" in e.get("msg", "") for e in a.log_entries()))
        # One attempt in all, logged with its SMTP reply code.
        attempts = self.attempts_logged(a) + self.attempts_logged(b)
        self.assertEqual(len(attempts), 1, attempts)
        self.assertEqual(attempts[0]["smtpCode"], 250)
        self.assertEqual(attempts[0]["result"], "sent")
        # Listed by either replica, and counted in /metrics.
        d = self.deliveries(b)
        self.assertEqual(len(d["deliveries"]), 1)
        rec = d["deliveries"][0]
        self.assertEqual((rec["schedule"], rec["result"], rec["attempts"], rec["smtpCode"],
                          rec["trigger"], rec["late"]),
                         ("daily-summary", "sent", 1, 250, "schedule", False))
        self.assertEqual(rec["period"]["label"], day_label(self.zone, 1))
        self.assertEqual(rec["recipients"], ["supervisors@example.com", "manager@example.com"])
        self.assertEqual(d["schedules"][0]["name"], "daily-summary")
        self.assertEqual(d["schedules"][0]["at"], self.at)
        # Yesterday's is due (sent): the next is today's, due tomorrow at "at".
        self.assertEqual(d["schedules"][0]["next"]["label"], day_label(self.zone, 0))
        tomorrow = (datetime.datetime.now(ZoneInfo(self.zone)).date()
                    + datetime.timedelta(days=1)).isoformat()
        self.assertTrue(d["schedules"][0]["next"]["due"].startswith(tomorrow + "T" + self.at),
                        d["schedules"][0]["next"])
        sent = 0
        for svc in (a, b):
            _, _, text = svc.request("GET", "/metrics")
            for line in text.decode().splitlines():
                if line.startswith('authflow_report_deliveries_total{result="sent"}'):
                    sent += int(line.split()[-1])
        self.assertEqual(sent, 1)

    def test_replica_killed_mid_send_is_replaced_after_the_lease(self):
        smtp = self.smtp(stall_rcpt=8)
        self.first_seen()
        cfg = self.config()
        a = self.stack.authflow(cfg)
        b = self.stack.authflow(cfg)
        wait_until(lambda: any(e["event"] == "stall" for e in smtp.events()), 20,
                   what="the first send to stall")
        claim_key = "%sreport:schedule:daily-summary:d%s:claim" % (
            KEY_PREFIX, day_label(self.zone, 1))
        holder = self.redis.command("GET", claim_key)
        holder = holder.decode() if isinstance(holder, bytes) else holder
        pid = int(holder.split("/")[1])
        victim, survivor = (a, b) if a.proc.pid == pid else (b, a)
        self.assertEqual(victim.proc.pid, pid, "the claim names one of the replicas")
        victim.kill()
        killed_at = time.time()
        msgs = self.wait_messages(smtp, 1, timeout=30)
        self.assertGreaterEqual(time.time() - killed_at, 2.0,
                                "the survivor waited for the lease to run out")
        time.sleep(4)
        msgs = smtp.messages()
        self.assertEqual(len(msgs), 1, [m["Subject"] for m in msgs])
        check_attachment(self, msgs[0], self.mail_dir)
        self.assertEqual(len(self.attempts_logged(survivor)), 1)
        rec = self.deliveries(survivor)["deliveries"]
        self.assertEqual([(r["result"], r["attempts"]) for r in rec], [("sent", 1)])

    def test_permanent_refusal_stops_retrying(self):
        smtp = self.smtp(refuse="manager@example.com")
        self.first_seen()
        svc = self.stack.authflow(self.config())
        rec = wait_until(lambda: self.deliveries(svc)["deliveries"], 20,
                         what="a delivery record")
        time.sleep(3)
        self.assertEqual([(r["result"], r["attempts"], r["smtpCode"]) for r in rec],
                         [("refused", 1, 550)])
        self.assertEqual(len([e for e in smtp.events() if e.get("code") == 550]), 1)
        self.assertEqual(smtp.messages(), [])
        logged = self.attempts_logged(svc)
        self.assertEqual([(e["result"], e["smtpCode"]) for e in logged], [("refused", 550)])


class TestReplica(ScheduleCase):
    """With reporting.redisUrl, a scheduled report reads the replica like
    every other report; only its claims and records go to the primary."""

    def test_scheduled_report_reads_the_replica(self):
        replica = self.stack.start(harness.Redis(args=["--replicaof", harness.LOOPBACK,
                                                       str(self.redis.port)]))
        wait_until(lambda: b"master_link_status:up" in replica.command("INFO", "replication"),
                   15, what="replica in sync")
        smtp = self.smtp()
        self.first_seen()
        cfg = self.config()
        cfg["reporting"]["redisUrl"] = "redis://%s:%d/0" % (harness.LOOPBACK, replica.port)
        self.redis.command("CONFIG", "RESETSTAT")
        replica.command("CONFIG", "RESETSTAT")
        self.stack.authflow(cfg)
        msgs = self.wait_messages(smtp, 1)
        check_attachment(self, msgs[0], self.mail_dir)
        primary = self.redis.command("INFO", "commandstats").decode()
        stats = replica.command("INFO", "commandstats").decode()
        self.assertNotIn("cmdstat_hgetall:", primary)
        self.assertIn("cmdstat_hgetall:", stats)
        self.assertIn("cmdstat_eval:", primary)  # the claim and the record


class TestRecovery(ScheduleCase):

    def test_late_run_after_downtime_says_so(self):
        smtp = self.smtp()
        self.first_seen(days=3)  # configured 3 days ago; no replica ran since
        svc = self.stack.authflow(self.config())
        self.wait_messages(smtp, 4)
        time.sleep(3)
        msgs = smtp.messages()
        labels = [day_label(self.zone, d) for d in (4, 3, 2, 1)]
        self.assertEqual(len(msgs), 4, [m["Subject"] for m in msgs])
        subjects = {m["Subject"]: m for m in msgs}
        for label in labels:
            s = [x for x in subjects if label in x]
            self.assertEqual(len(s), 1, (label, list(subjects)))
            m = subjects[s[0]]
            late = label != labels[-1]
            self.assertEqual("[late]" in s[0], late, s[0])
            self.assertEqual("LATE: this report was due" in m.get_body(("plain",)).get_content(),
                             late)
            check_attachment(self, m, self.mail_dir)
        recs = self.deliveries(svc)["deliveries"]
        self.assertEqual(sorted((r["period"]["label"], r["late"]) for r in recs),
                         [(x, x != labels[-1]) for x in labels])

    def test_smtp_down_then_back(self):
        self.first_seen()
        svc = self.stack.authflow(self.config())
        wait_until(lambda: len(self.attempts_logged(svc)) >= 2, 20,
                   what="two failed attempts while the mail server is down")
        failed = self.attempts_logged(svc)
        self.assertTrue(all(e["result"] == "retry" and e["smtpCode"] == 0 for e in failed),
                        failed)
        smtp = self.smtp()
        msgs = self.wait_messages(smtp, 1, timeout=20)
        time.sleep(3)
        msgs = smtp.messages()
        self.assertEqual(len(msgs), 1)
        check_attachment(self, msgs[0], self.mail_dir)
        rec = self.deliveries(svc)["deliveries"]
        self.assertEqual(len(rec), 1)
        self.assertEqual(rec[0]["result"], "sent")
        self.assertGreaterEqual(rec[0]["attempts"], 3)
        _, _, text = svc.request("GET", "/metrics")
        self.assertRegex(text.decode(), r'authflow_report_deliveries_total\{result="retry"\} [1-9]')


class TestRunOnDemand(ScheduleCase):

    def test_run_endpoint_takes_report_keys_only(self):
        smtp = self.smtp()
        # First seen now: nothing is due, so only the run on demand mails.
        self.many = ["recipient-%02d-%s@example.com" % (i, "x" * 200) for i in range(16)]
        later = datetime.datetime.now(ZoneInfo(self.zone)) + datetime.timedelta(minutes=3)
        svc = self.stack.authflow(self.config([
            self.schedule(), self.schedule(name="many", to=self.many),
            self.schedule(name="later", at="%02d:%02d" % (later.hour, later.minute))]))
        path = "/v1/reports/schedules/daily-summary/run"
        status, _, body = svc.request("POST", path, key=API_KEY)
        self.assertEqual(status, 403, body)
        status, _, body = svc.request("POST", "/v1/reports/schedules/nope/run", key=REPORT_KEY)
        self.assertEqual(status, 404, body)
        status, _, body = svc.request("POST", "/v1/reports/schedules/a%2Fb/run", key=REPORT_KEY)
        self.assertEqual(status, 400, body)
        status, _, body = svc.request("POST", path, key="not-a-key-at-all")
        self.assertEqual(status, 401, body)
        # Yesterday's was due a minute ago, before the schedule existed: it is
        # never sent by itself, and the next is today's.
        listed = self.deliveries(svc)["schedules"]
        self.assertEqual(listed[0]["next"]["label"], day_label(self.zone, 0))
        # One whose "at" is still to come today sends yesterday's next.
        self.assertEqual(listed[2]["next"]["label"], day_label(self.zone, 1))
        status, _, body = svc.request("POST", path, key=REPORT_KEY)
        self.assertEqual(status, 202, body)
        self.assertEqual(body["period"]["label"], day_label(self.zone, 1))
        msgs = self.wait_messages(smtp, 1)
        self.assertIn("[run on demand]", msgs[0]["Subject"])
        check_attachment(self, msgs[0], self.mail_dir)
        rec = wait_until(lambda: self.deliveries(svc, key=API_KEY)["deliveries"], 10,
                         what="the record")
        self.assertEqual((rec[0]["trigger"], rec[0]["result"]), ("manual", "sent"))
        time.sleep(2)
        self.assertEqual(len(smtp.messages()), 1, "a schedule first seen now mails nothing else")
        # Sixteen long addresses: all in the envelope and in a To: header whose
        # lines stay within RFC 5322's 998 characters (folded).
        status, _, body = svc.request("POST", "/v1/reports/schedules/many/run", key=REPORT_KEY)
        self.assertEqual(status, 202, body)
        msgs = self.wait_messages(smtp, 2)
        many = [m for m in msgs if "many:" in m["Subject"]][0]
        self.assertEqual(sorted(many.envelope_to), sorted(self.many))
        self.assertEqual(sorted(a.addr_spec for a in many["To"].addresses), sorted(self.many))
        with open(smtp.messages_raw()[-1], "rb") as f:
            self.assertTrue(all(len(line) <= 998 for line in f.read().split(b"\r\n")))
        status, _, body = svc.request("GET", "/v1/reports/deliveries?limit=0", key=REPORT_KEY)
        self.assertEqual(status, 400, body)


class TestCommands(ScheduleCase):

    def write(self, cfg):
        path = os.path.join(self.stack.tempdir(), "config.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        return path

    def test_check_config_names_the_key(self):
        bad = [
            (self.schedule(at="7:00"), "reporting.schedules[1].at"),
            (self.schedule(timeZone="Mars/Olympus_Mons"), "reporting.schedules[1].timeZone"),
            (self.schedule(every="fortnight"), "reporting.schedules[1].every"),
            (self.schedule(to=["not an address"]), "reporting.schedules[1].to[0]"),
            (self.schedule(name="daily-summary"), "reporting.schedules[1].name"),
            (self.schedule(serviceLine="nope"), "reporting.schedules[1].serviceLine"),
        ]
        for second, key in bad:
            s2 = dict(second)
            if key.endswith(".name"):
                s2["name"] = "daily-summary"
            else:
                s2["name"] = "second"
            rc, text = harness.check_config(self.write(self.config([self.schedule(), s2])))
            self.assertEqual(rc, 1, text)
            self.assertIn(key, text)
        rc, text = harness.check_config(self.write(self.config(smtp={"tls": "maybe"})))
        self.assertEqual(rc, 1)
        self.assertIn("reporting.smtp.tls", text)
        rc, text = harness.check_config(self.write(self.config()))
        self.assertEqual(rc, 0, text)
        self.assertIn("plaintext", text)

    def test_check_smtp_connects_authenticates_and_sends_nothing(self):
        smtp = self.smtp(auth="reports:s3cret-pass")
        env = {"SMTP_PASSWORD": "s3cret-pass"}
        good = self.write(self.config(smtp={"username": "reports",
                                            "password": "${env:SMTP_PASSWORD}"}))
        rc, text = harness.run_authflow(["--check-smtp", "--config", good], env=env)
        self.assertEqual(rc, 0, text)
        self.assertNotIn("s3cret", text)
        self.assertEqual([e["ok"] for e in smtp.events() if e["event"] == "auth"], [True])
        rc, text = harness.run_authflow(["--check-smtp", "--config", good],
                                        env={"SMTP_PASSWORD": "wrong-password"})
        self.assertEqual(rc, 1, text)
        self.assertEqual(smtp.messages(), [])
        # Without "tls": "none", a server that offers no STARTTLS is refused
        # before any credential is sent.
        strict = self.config(smtp={"username": "reports", "password": "${env:SMTP_PASSWORD}"})
        del strict["reporting"]["smtp"]["tls"]
        auths = len([e for e in smtp.events() if e["event"] == "auth"])
        rc, text = harness.run_authflow(["--check-smtp", "--config", self.write(strict)], env=env)
        self.assertEqual(rc, 1, text)
        self.assertIn("STARTTLS not supported", text)
        self.assertEqual(len([e for e in smtp.events() if e["event"] == "auth"]), auths)
        smtp.stop()
        rc, text = harness.run_authflow(["--check-smtp", "--config", good], env=env)
        self.assertEqual(rc, 1, text)


if __name__ == "__main__":
    if not os.access(SYSTEM_PYTHON, os.X_OK) or not shutil.which("pdftotext"):
        sys.exit("needs /usr/bin/python3 with python3-aiosmtpd and pdftotext")
    unittest.main()
