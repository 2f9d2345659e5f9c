"""A Redis command is run again only when it cannot have run.

authflow talks to Redis through a small TCP relay that the test steers:
* it can pass a command on to Redis, wait for Redis's reply (so the command
  ran) and then close the connection instead of passing the reply back: the
  step must fail as unavailable (503), and Redis must have run the script
  once, not a second time on a new connection (a begin run twice finds its
  own lock: 409 busy);
* it can close every connection while they are idle, as a Redis restart or
  an idle cut does: the next step and /readyz must succeed at once on a new
  connection, with every script run once.

One worker thread, so every request uses the same Redis connection.

Run by hand:
    AUTHFLOW_BIN=<build>/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_store_retry.py -v
"""

import select
import socket
import threading
import unittest

import harness as h
from harness import ANA, assert_ok, new_id


class RedisRelay:
    """A TCP relay before a Redis on `upstream_port`.

    drop_reply_after(marker): the next command whose bytes contain marker is
    passed on; Redis's reply is read and thrown away, and both sides of that
    connection are closed. cut_all(): close every open connection now.
    forwarded(marker): how many commands containing marker reached Redis.
    """

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.marker = None
        self.sent = []  # every chunk passed on to Redis
        self.socks = []  # (client, upstream) pairs open now
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((h.LOOPBACK, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = "redis://%s:%d/0" % (h.LOOPBACK, self.port)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        self.listener.close()
        self.cut_all()

    def drop_reply_after(self, marker):
        with self.lock:
            self.marker = marker.encode()

    def cut_all(self):
        with self.lock:
            pairs, self.socks = self.socks, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def forwarded(self, marker):
        with self.lock:
            return sum(1 for chunk in self.sent if marker.encode() in chunk)

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((h.LOOPBACK, self.upstream_port))
            with self.lock:
                self.socks.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client, upstream):
        drop_next_reply = False
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 60)
                if not ready:
                    return
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    with self.lock:
                        self.sent.append(data)
                        if self.marker and self.marker in data:
                            self.marker, drop_next_reply = None, True
                    upstream.sendall(data)
                if upstream in ready:
                    data = upstream.recv(65536)
                    if not data:
                        return
                    if drop_next_reply:
                        return  # Redis ran it and answered; the client never hears
                    client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


def evalsha_calls(redis):
    """How many EVALSHA commands this Redis has run."""
    info = redis.command("INFO", "commandstats").decode()
    for line in info.splitlines():
        if line.startswith("cmdstat_evalsha:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


class StoreRetry(h.StackTestCase):
    PER_TEST = True  # each test steers its own relay

    @classmethod
    def start_redis(cls, stack):
        stack.real_redis = stack.start(h.Redis())
        stack.relay = stack.start(RedisRelay(stack.real_redis.port))
        return stack.real_redis

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = super().make_config(stack, **overrides)
        cfg["redis"]["url"] = stack.relay.url
        cfg["server"] = {"threads": 1}
        return cfg

    relay = property(lambda self: self.stack.relay)

    def test_lost_reply_is_not_run_again(self):
        """The security step's begin script runs in Redis but its reply is
        lost: the step answers 503, and the script ran exactly once."""
        conv = new_id("lost")
        assert_ok(self, self.svc.start_session(conv, ani="+13175550116"),
                  state="awaiting_security")
        before, sent_before = evalsha_calls(self.redis), self.relay.forwarded(conv)
        self.relay.drop_reply_after(conv)
        status, _, body = self.svc.security(conv, ANA["answer"])
        self.assertEqual(status, 503, body)
        self.assertEqual(self.relay.forwarded(conv) - sent_before, 1,
                         "the begin script was sent to Redis again")
        self.assertEqual(evalsha_calls(self.redis) - before, 1)
        # It did run: the attempt is counted and the step's lock is held.
        session = h.KEY_PREFIX + "session:" + conv
        self.assertEqual(h.stored_session(self.redis.command, session)["verifyAttempts"], "1")
        self.assertIsNotNone(self.redis.command("GET", h.KEY_PREFIX + "lock:" + conv))
        # The service carries on on a new connection once the reconnect
        # backoff (100 ms) is over.
        h.wait_until(lambda: self.svc.request("GET", "/readyz", key=None)[0] == 200, 5.0,
                     what="authflow ready again")
        assert_ok(self, self.svc.start_session(new_id("next"), ani="+13175550116"),
                  state="awaiting_security")

    def test_connection_closed_while_idle_is_replaced(self):
        """Every connection is closed while idle (as by a Redis restart): the
        next step succeeds at once, each script run once, and /readyz is
        200 on the same worker's connection after another cut."""
        conv = new_id("idle")
        assert_ok(self, self.svc.start_session(conv, ani="+13175550116"),
                  state="awaiting_security")
        self.relay.cut_all()
        before = evalsha_calls(self.redis)
        assert_ok(self, self.svc.security(conv, ANA["answer"]), outcome="verified")
        self.assertEqual(evalsha_calls(self.redis) - before, 2)  # begin, commit
        self.relay.cut_all()
        status, _, body = self.svc.request("GET", "/readyz", key=None)
        self.assertEqual(status, 200, body)


if __name__ == "__main__":
    unittest.main()
