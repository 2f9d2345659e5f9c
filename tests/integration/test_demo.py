"""deploy/local/demo.sh, run as a user runs it (detached, with the test
build's binaries instead of its own Release build): it prints the dashboard,
the binary and the supervisors' report key, which works; a session survives
--stop and a restart (Redis persists to the state directory); every printed
curl command works, and again after a restart; --config takes
another file; a bad config is refused in authflow's own words and leaves
nothing running; --reset deletes the data.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_demo.py -v
"""

import json
import os
import re
import shutil
import subprocess
import unittest

import harness as h

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO = os.path.join(ROOT, "deploy", "local", "demo.sh")
DEMO_CONFIG = os.path.join(ROOT, "deploy", "local", "authflow.demo.json")
API_KEY = "demo-key-not-secret"
REPORT_KEY = "demo-supervisor-key-not-secret"
HANDOFF_KEY = "demo-handoff-key-not-secret"


class Demo(h.StackTestCase):
    """demo.sh starts its own processes (as a user runs it); the stack is
    the state dir it is given, removed after demo.sh --stop."""

    PER_TEST = True

    @classmethod
    def start_stack(cls, stack):
        stack.dir = stack.tempdir("authflow-demo-")

    def setUp(self):
        if not shutil.which("redis-cli") or not shutil.which("curl"):
            self.skipTest("the demo needs redis-cli and curl")
        super().setUp()
        self.dir = self.stack.dir
        self.port = h.free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHFLOW_")}
        self.env.update(AUTHFLOW_DEMO_DIR=self.dir, AUTHFLOW_DEMO_PORT=str(self.port),
                        AUTHFLOW_DEMO_BIN=os.environ["AUTHFLOW_BIN"],
                        AUTHFLOW_DEMO_CRM_BIN=os.environ["AUTHFLOW_DEMO_CRM_BIN"],
                        ASAN_OPTIONS="abort_on_error=0:detect_leaks=0")
        self.addCleanup(self.demo, "--stop")

    def demo(self, *args, env=None):
        return subprocess.run([DEMO, *args], env=dict(self.env, **(env or {})), cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    def pids(self):
        run = os.path.join(self.dir, "run")
        out = {}
        for name in ("authflow", "crm", "redis"):
            p = os.path.join(run, name + ".pid")
            if os.path.exists(p):
                with open(p, encoding="utf-8") as f:
                    out[name] = int(f.read())
        return out

    def alive(self, pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def call(self, method, path, body=None, key=API_KEY):
        return h.http_request(self.port, method, path, body=body, key=key)

    def test_runs_survives_a_restart_and_stops(self):
        r = self.demo("--detach")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        base = "http://127.0.0.1:%d" % self.port
        self.assertIn("Dashboard for supervisors: %s/dashboard" % base, r.stdout)
        self.assertIn(REPORT_KEY, r.stdout)
        self.assertIn(os.environ["AUTHFLOW_BIN"] + " --check-config", r.stdout)
        self.assertIn("--stop", r.stdout)
        status, _, body = self.call("POST", "/v1/sessions",
                                    {"conversationId": "demo-keep-1", "serviceLine": "banking",
                                     "ani": "tel:+13175550116"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.call("POST", "/v1/sessions/demo-keep-1/security",
                                   {"answer": "1234"})[2]["outcome"], "verified")
        # The supervisors' key reads reports and nothing else.
        status, _, body = self.call("GET", "/v1/reports/summary", key=REPORT_KEY)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["total"]["completed"], 1)
        # A valid key outside its scope is 403 forbidden.
        self.assertEqual(self.call("GET", "/v1/sessions/demo-keep-1", key=REPORT_KEY)[0], 403)

        first = self.pids()
        r = self.demo("--stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.pids(), {})
        for name, pid in first.items():
            self.assertFalse(self.alive(pid), name + " still running after --stop")

        # Restarted: the session and the report are still there.
        r = self.demo("--detach")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status, _, body = self.call("GET", "/v1/sessions/demo-keep-1")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["outcome"], "verified")
        self.assertEqual(self.call("GET", "/v1/reports/summary", key=REPORT_KEY)[2]["total"]["completed"], 1)

        # --reset deletes the data.
        self.assertEqual(self.demo("--reset").returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "data")))
        self.assertEqual(self.demo("--detach").returncode, 0)
        self.assertEqual(self.call("GET", "/v1/sessions/demo-keep-1")[0], 404)

    def test_linked_call_and_handoff_walks(self):
        """The printed linked-call and handoff walks work with the demo's keys."""
        r = self.demo("--detach")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('"linkedConversationId":"demo-call-1"', r.stdout)
        self.assertIn("/v1/handoffs", r.stdout)
        self.assertIn(HANDOFF_KEY, r.stdout)
        self.call("POST", "/v1/sessions", {"conversationId": "demo-walk-1",
                                           "serviceLine": "banking", "ani": "tel:+13175550116"})
        self.assertEqual(self.call("POST", "/v1/sessions/demo-walk-1/security",
                                   {"answer": "1234"})[2]["outcome"], "verified")
        status, _, body = self.call("POST", "/v1/sessions",
                                    {"conversationId": "demo-walk-2", "serviceLine": "banking",
                                     "ani": "tel:+13175550116", "channel": "callback",
                                     "linkedConversationId": "demo-walk-1"})
        self.assertEqual((status, body["identificationMethod"], body["outcome"]),
                         (200, "linked", "verified"), body)
        status, _, made = self.call("POST", "/v1/handoffs",
                                    {"customerId": "100234", "verified": True, "channel": "app"},
                                    key=HANDOFF_KEY)
        self.assertEqual(status, 201, made)
        self.call("POST", "/v1/sessions", {"conversationId": "demo-walk-3",
                                           "serviceLine": "banking", "ani": "anonymous"})
        status, _, body = self.call("POST", "/v1/sessions/demo-walk-3/handoff",
                                    {"code": made["code"]})
        self.assertEqual((status, body["identificationMethod"], body["outcome"]),
                         (200, "handoff", "verified"), body)
        # The handoff key opens nothing else.
        self.assertEqual(self.call("GET", "/v1/sessions/demo-walk-3", key=HANDOFF_KEY)[0], 403)

    def walk(self, stdout):
        """Runs every command the demo printed, in order, in one shell (the
        handoff walk keeps its code in $code): [(command, output)]."""
        cmds = [line.strip() for line in stdout.splitlines()
                if line.startswith("   curl ") or line.startswith("   code=")]
        self.assertGreater(len(cmds), 15, stdout)
        script = "".join("%s\necho; echo '@@@'\n" % c for c in cmds)
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        outs = [o.strip() for o in r.stdout.split("@@@")[:len(cmds)]]
        return list(zip(cmds, outs))

    def check_walk(self, steps, ids):
        """Every printed step answered as its comment says; the five calls
        end as the demo describes them."""
        last = {}
        for cmd, out in steps:
            if out.startswith("{"):
                body = json.loads(out.splitlines()[0])
                if "# 409" in cmd:
                    self.assertEqual(body.get("error"), "wrong_state", (cmd, out))
                    continue
                self.assertNotIn("error", body, (cmd, out))
                if "conversationId" in body:
                    last[body["conversationId"]] = body
        want = [("verified", "ani"), ("identify_failed", "none"), ("opted_out", "identifier"),
                ("verified", "linked"), ("verified", "handoff")]
        for cid, (outcome, method) in zip(ids, want):
            self.assertIn(cid, last, steps)
            self.assertEqual((last[cid]["outcome"], last[cid]["identificationMethod"]),
                             (outcome, method), last[cid])
        self.assertEqual(steps[-1][1], "204", steps[-1])

    def test_printed_walk_works_and_works_again_after_a_restart(self):
        """A user runs every printed curl command, restarts the demo (the
        data is kept) and runs the new ones: both walks succeed, because a
        restart's calls get IDs of their own. The printed --check-crm
        command reaches the demo CRM."""
        r = self.demo("--detach")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.check_walk(self.walk(r.stdout), ["demo-call-%d" % i for i in range(1, 6)])
        crm = re.search(r"^CRM check: (.*)$", r.stdout, re.M)
        self.assertIsNotNone(crm, r.stdout)
        c = subprocess.run(["bash", "-c", crm.group(1)], capture_output=True, text=True,
                           env=self.env, timeout=60)
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
        self.assertIn('matches=1 customerId="100234"', c.stdout)

        self.assertEqual(self.demo("--stop").returncode, 0)
        r = self.demo("--detach")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("demo-call-1-run2", r.stdout)
        self.check_walk(self.walk(r.stdout), ["demo-call-%d-run2" % i for i in range(1, 6)])
        # The first run's calls are still there.
        status, _, body = self.call("GET", "/v1/sessions/demo-call-3")
        self.assertEqual((status, body["outcome"]), (200, "opted_out"), body)

        # --reset starts the IDs again.
        self.assertEqual(self.demo("--reset").returncode, 0)
        r = self.demo("--detach")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("-run", r.stdout)
        self.check_walk(self.walk(r.stdout), ["demo-call-%d" % i for i in range(1, 6)])

    def test_readme_example_answer_is_the_real_one(self):
        """README's session answer example is what the demo answers."""
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            text = f.read()
        block = re.search(r"\*\*Every session answer\*\*.*?```json\n(.*?)```", text, re.S)
        example = json.loads(block.group(1))
        r = self.demo("--detach")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status, _, body = self.call("POST", "/v1/sessions",
                                    {"conversationId": example["conversationId"],
                                     "ani": "tel:+13175550116",
                                     "serviceLine": example["serviceLine"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, example)

    def test_config_option_and_environment(self):
        with open(DEMO_CONFIG, encoding="utf-8") as f:
            cfg = json.load(f)
        cfg["serviceLines"]["insurance"] = dict(cfg["serviceLines"]["banking"])
        mine = os.path.join(self.dir, "mine.json")
        with open(mine, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        for args, env in ((["--config", mine], None), ([], {"AUTHFLOW_DEMO_CONFIG": mine})):
            r = self.demo("--detach", *args, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(mine, r.stdout)
            status, _, body = self.call("POST", "/v1/sessions",
                                        {"conversationId": h.new_id("cfg"), "serviceLine": "insurance"})
            self.assertEqual(status, 200, body)
            self.assertEqual(self.demo("--stop").returncode, 0)

    def test_bad_config_says_why_and_leaves_nothing_running(self):
        with open(DEMO_CONFIG, encoding="utf-8") as f:
            cfg = json.load(f)
        cfg["serviceLines"]["banking"]["maxIdentifyAttempts"] = 99
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        r = self.demo("--detach", "--config", bad)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("serviceLines.banking.maxIdentifyAttempts", r.stderr)
        self.assertNotIn("did not come up", r.stderr)
        self.assertEqual(self.pids(), {})

    def test_a_service_that_dies_at_start_is_reported_and_cleaned_up(self):
        # The config is valid, but the port is taken: authflow exits at start.
        blocker = __import__("socket").socket()
        blocker.bind(("127.0.0.1", self.port))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        r = self.demo("--detach")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("did not come up", r.stderr)
        self.assertIn("Its last log lines", r.stderr)
        self.assertEqual(self.pids(), {})


if __name__ == "__main__":
    unittest.main()
