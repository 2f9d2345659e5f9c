"""Redis high availability with Sentinel (issue: run it in production).

On loopback: a Redis master, one replica and three redis-sentinel processes
watching them. authflow is configured with the sentinels and the master
name only. The master is killed in the middle of a call, while a security
step waits on a slow CRM; the step and the rest of the call complete on the
promoted replica.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_sentinel.py -v
"""

import os
import signal
import subprocess
import threading
import time
import unittest

import harness as h
from harness import ANA, assert_ok, new_id

MASTER_NAME = "authflow-test"


class Node:
    """A redis-server (data node or sentinel) on a loopback port."""

    def __init__(self, args, conf=None):
        self.port = h.free_port()
        self.dir = h.make_tempdir("authflow-ha-")
        self.args = args
        self.conf = conf
        self.proc = None

    def start(self):
        argv = [h.REDIS_BIN]
        if self.conf is not None:
            path = os.path.join(self.dir, "sentinel.conf")
            with open(path, "w") as f:
                f.write(self.conf % {"port": self.port})
            argv += [path, "--sentinel"]
        else:
            argv += ["--port", str(self.port), "--bind", h.LOOPBACK,
                     "--save", "", "--appendonly", "no", "--dir", self.dir]
        argv += self.args
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = h._track(subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))
        log.close()
        h.wait_until(self.ping, h.START_TIMEOUT, what="redis on %d" % self.port)
        return self

    def ping(self):
        try:
            return h.redis_command(self.port, "PING", timeout=0.5) == "PONG"
        except (OSError, h.RedisError):
            return False

    def command(self, *args):
        return h.redis_command(self.port, *args)

    def kill(self):
        h._kill_group(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=h.STOP_TIMEOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            h._kill_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=h.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()


SENTINEL_CONF = """port %%(port)d
bind 127.0.0.1
sentinel monitor %(name)s 127.0.0.1 %(master)d 2
sentinel down-after-milliseconds %(name)s 1000
sentinel failover-timeout %(name)s 10000
sentinel parallel-syncs %(name)s 1
"""


class SentinelFailover(unittest.TestCase):

    def setUp(self):
        self.master = Node([]).start()
        self.replica = Node(["--replicaof", h.LOOPBACK, str(self.master.port)]).start()
        h.wait_until(self._replica_in_sync, 15, what="replica in sync")
        conf = SENTINEL_CONF % {"name": MASTER_NAME, "master": self.master.port}
        self.sentinels = [Node([], conf=conf).start() for _ in range(3)]
        h.wait_until(self._sentinels_see_replica, 15, what="sentinels know the replica")
        self.crm = h.DemoCrm().start()
        redis_stub = type("R", (), {"url": "redis://127.0.0.1:1/0"})()
        config = h.base_config(redis_stub, self.crm.url)
        config["redis"]["sentinels"] = ["127.0.0.1:%d" % s.port for s in self.sentinels]
        config["redis"]["masterName"] = MASTER_NAME
        config["redis"]["failoverWaitMs"] = 15000
        config["crm"]["timeoutMs"] = 5000
        self.af = h.Authflow(config).start()

    def tearDown(self):
        rc = self.af.stop()
        for node in self.sentinels + [self.replica, self.master]:
            node.stop()
        self.crm.stop()
        self.af.assert_clean_exit(self, rc)

    def _replica_in_sync(self):
        info = self.replica.command("INFO", "replication").decode()
        return "master_link_status:up" in info

    def _sentinels_see_replica(self):
        for s in self.sentinels:
            replicas = s.command("SENTINEL", "REPLICAS", MASTER_NAME)
            if not replicas:
                return False
        return True

    def _master_port_per_sentinel(self):
        addr = self.sentinels[0].command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return int(addr[1])

    def test_call_completes_on_promoted_replica(self):
        """The master dies while a security step waits on the CRM. The step
        still answers 200 (verified) once the sentinels promote the replica,
        and the session and later steps live on the new master."""
        self.assertEqual(self._master_port_per_sentinel(), self.master.port)
        conv = new_id("ha")
        body = assert_ok(self, self.af.start_session(conv, ani="tel:+13175550116"))
        self.assertEqual(body["nextAction"], "ask_security")
        self.assertEqual(body["customerId"], ANA["id"])

        self.crm.set(delay_ms=1500)
        result = {}

        def security():
            result["answer"] = self.af.security(conv, ANA["answer"], timeout=30)

        t = threading.Thread(target=security, daemon=True)
        started = time.monotonic()
        t.start()
        # Let the step take its lock and count its attempt (both replicate
        # asynchronously within milliseconds), then kill the master.
        time.sleep(0.4)
        self.master.kill()
        t.join(timeout=40)
        self.assertFalse(t.is_alive(), "the security step never answered")
        elapsed = time.monotonic() - started

        body = assert_ok(self, result["answer"])
        self.assertEqual(body["outcome"], "verified")
        self.assertEqual(body["authStatus"], "identified_verified")
        self.assertLess(elapsed, 30)

        # The sentinels moved the master to the replica, and the session is
        # there, completed.
        self.assertEqual(self._master_port_per_sentinel(), self.replica.port)
        stored = self.replica.command("HGET", h.KEY_PREFIX + "session:" + conv, "outcome")
        self.assertEqual(stored, b"verified")
        again = assert_ok(self, self.af.get(conv))
        self.assertEqual(again["outcome"], "verified")

        # New calls work on the promoted master.
        self.crm.normal()
        conv2 = new_id("ha")
        body = assert_ok(self, self.af.start_session(conv2, ani="tel:+13175550116"))
        self.assertEqual(body["nextAction"], "ask_security")
        body = assert_ok(self, self.af.security(conv2, ANA["answer"]))
        self.assertEqual(body["outcome"], "verified")
        ready = self.af.request("GET", "/readyz", key=None)
        self.assertEqual(ready[0], 200)


if __name__ == "__main__":
    unittest.main()
