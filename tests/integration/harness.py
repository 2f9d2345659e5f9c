"""Integration test harness for authflow.

Starts the REAL binaries -- a redis-server, the demo CRM and authflow -- on
loopback ports chosen at run time, and talks to them over plain sockets and
http.client. Python 3 standard library only.

The binaries come from the environment (ctest sets these):

    AUTHFLOW_BIN            path of the authflow executable
    AUTHFLOW_DEMO_CRM_BIN   path of authflow-demo-crm
    AUTHFLOW_SOURCE_DIR     the source tree (optional)

To run one file by hand from the source tree:

    cmake -S . -B build-itest -DAUTHFLOW_SANITIZE=ON && cmake --build build-itest -j2
    AUTHFLOW_BIN=$PWD/build-itest/service/authflow \\
    AUTHFLOW_DEMO_CRM_BIN=$PWD/build-itest/service/demo-crm/authflow-demo-crm \\
        python3 tests/integration/test_flow_paths.py -v

A test starts its processes one way: through a Stack (see StackTestCase),
which registers every part for teardown the moment it exists and stops them
all, and removes their temp dirs, on ONE path -- a unittest cleanup, which
runs even when setUp or setUpClass fails half way. Every child is in its own
process group. At exit, a child still running or a temp dir still on disk is
a leak: it is reported and the file exits non-zero (a backstop, not a second
teardown path).
"""

import atexit
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

# ---------------------------------------------------------------------------
# Binaries
# ---------------------------------------------------------------------------


def _require_env(name):
    value = os.environ.get(name)
    if not value:
        sys.stderr.write(
            "%s is not set. Run through ctest, or by hand:\n"
            "  AUTHFLOW_BIN=<build>/service/authflow "
            "AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm "
            "python3 %s -v\n" % (name, sys.argv[0]))
        sys.exit(2)
    if not os.access(value, os.X_OK):
        sys.stderr.write("%s=%s is not an executable file\n" % (name, value))
        sys.exit(2)
    return value


AUTHFLOW_BIN = _require_env("AUTHFLOW_BIN")
DEMO_CRM_BIN = _require_env("AUTHFLOW_DEMO_CRM_BIN")
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"

API_KEY = "itest-key-0123456789"
API_KEY_2 = "itest-rotated-key-9876543210"
KEY_PREFIX = "itest:"
LOOPBACK = "127.0.0.1"

# Generous for a sanitizer build on a busy machine, but bounded.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0

# ---------------------------------------------------------------------------
# Process bookkeeping: every child is killed at exit, whatever happens.
# ---------------------------------------------------------------------------

_children = []
_children_lock = threading.Lock()
_tempdirs = []
_kept = set()  # temp dirs kept on purpose (a sanitizer report, a bad exit)


def _track(proc):
    with _children_lock:
        _children.append(proc)
    return proc


def _kill_group(proc, sig=signal.SIGKILL):
    """Signal the child's own process group (it leads it: start_new_session)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


@atexit.register
def _check_for_leaks():
    """Backstop: a child still running or a temp dir still on disk at exit
    escaped its Stack. Kill/remove it, say so, and fail the file."""
    with _children_lock:
        procs = [p for p in _children if p.poll() is None]
    leaks = ["process %d (%s) still running" % (p.pid, os.path.basename(str(p.args[0])))
             for p in procs]
    for proc in procs:
        _kill_group(proc)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    for d in _tempdirs:
        if d not in _kept and os.path.exists(d):
            leaks.append("temp dir %s left behind" % d)
            remove_tempdir(d)
    if leaks:
        sys.stderr.write("LEAK (a part was not started through a Stack):\n  %s\n"
                         % "\n  ".join(leaks))
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(3)


def make_tempdir(prefix="authflow-itest-"):
    """A temp dir; a Stack removes it (use Stack.tempdir in tests)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tempdirs.append(d)
    return d


def keep_tempdir(d):
    """Keep d after the run (its logs explain a failure)."""
    _kept.add(d)


def remove_tempdir(d):
    if d in _kept or os.environ.get("AUTHFLOW_ITEST_KEEP"):
        return
    shutil.rmtree(d, ignore_errors=True)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


class RedisError(Exception):
    pass


# The session as the store keeps it: one packed string (see
# service/store/store_codec.h): "1", then "|" and each field in this order;
# a string field is "<length>:<bytes>", any other a token without "|".
SESSION_PACKED_FIELDS = (
    ("state", False), ("identifyAttempts", False), ("verifyAttempts", False),
    ("aniHash", True), ("customerId", True), ("conversationId", True),
    ("serviceLine", True), ("language", True), ("outcome", False),
    ("lastResult", False), ("method", False), ("identified", False),
    ("verified", False), ("customerName", True), ("aniMasked", True),
    ("createdMs", False), ("updatedMs", False), ("channel", True),
    ("contextMs", False), ("contextChannel", True),
    ("linkedConversationId", True), ("aniDigest", True))


def decode_session(raw):
    """The fields of a packed session value (bytes) as a dict of str, for
    tests that look at what Redis holds. Raises ValueError when it is not
    one."""
    if not isinstance(raw, bytes) or not raw.startswith(b"1"):
        raise ValueError("not a packed session: %r" % (raw,))
    out, at = {}, 1
    for name, is_string in SESSION_PACKED_FIELDS:
        if raw[at:at + 1] != b"|":
            raise ValueError("packed session ends before %s: %r" % (name, raw))
        at += 1
        if is_string:
            colon = raw.index(b":", at)
            n = int(raw[at:colon])
            out[name] = raw[colon + 1:colon + 1 + n].decode()
            at = colon + 1 + n
        else:
            bar = raw.find(b"|", at)
            end = len(raw) if bar < 0 else bar
            out[name] = raw[at:end].decode()
            at = end
    return out


def stored_session(command, key):
    """The packed session at `key`, read with `command` (a RedisServer's
    command method) and decoded; None when there is none."""
    raw = command("GET", key)
    return None if raw is None else decode_session(raw)


def _resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _RespReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RedisError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RedisError("bad reply %r" % line)


def redis_command(port, *args, timeout=2.0):
    """Run one Redis command on 127.0.0.1:port; returns the decoded reply."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(_resp_encode(args))
        return _RespReader(s).read()


class Redis:
    """A throw-away redis-server on a loopback port.

    Plain (no persistence) by default. aof=True persists every write
    (append-only, fsync always) in `directory`, so a restart on the same
    port and directory reloads it. sentinel_conf (a template with %(port)d)
    makes it a redis-sentinel. args are appended to the command line
    (e.g. ["--replicaof", host, port]).
    """

    def __init__(self, port=None, directory=None, aof=False, args=(), sentinel_conf=None):
        self.port = port or free_port()
        self.dir = directory or make_tempdir("authflow-redis-")
        self.aof = aof
        self.args = list(args)
        self.sentinel_conf = sentinel_conf
        self.proc = None

    @property
    def url(self):
        return "redis://%s:%d/0" % (LOOPBACK, self.port)

    def argv(self):
        if self.sentinel_conf is not None:
            path = os.path.join(self.dir, "sentinel.conf")
            with open(path, "w", encoding="ascii") as f:
                f.write(self.sentinel_conf % {"port": self.port})
            return [REDIS_BIN, path, "--sentinel"] + self.args
        persist = (["--appendonly", "yes", "--appendfsync", "always"] if self.aof
                   else ["--appendonly", "no"])
        return ([REDIS_BIN, "--port", str(self.port), "--bind", LOOPBACK, "--save", ""]
                + persist + ["--dir", self.dir, "--daemonize", "no"] + self.args)

    def start(self):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = _track(subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))
        log.close()
        wait_until(self._ping_or_dead, START_TIMEOUT, what="redis PING on %d" % self.port)
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited with %s" % self.proc.returncode)
        if self.aof:
            # PING answers while the AOF is still loading (-LOADING errors);
            # wait until a real command works.
            wait_until(self._loaded, START_TIMEOUT, what="redis to load its AOF")
        return self

    def _loaded(self):
        try:
            self.command("DBSIZE")
            return True
        except (OSError, RedisError):
            return False

    def _ping_or_dead(self):
        if self.proc.poll() is not None:
            return True
        try:
            return self.ping()
        except OSError:
            return False
        except RedisError:
            return False

    def ping(self):
        return redis_command(self.port, "PING", timeout=0.5) == "PONG"

    def command(self, *args):
        return redis_command(self.port, *args)

    def flushall(self):
        self.command("FLUSHALL")

    def keys(self, pattern="*"):
        return sorted(k.decode() for k in self.command("KEYS", pattern))

    def dump_all_values(self):
        """Every key (SCAN, not KEYS) and every value, dumped by type (stream
        entries included), as one bytes blob for secrecy audits. A key of a
        type it cannot read fails the audit instead of hiding its contents."""
        blob, cursor = [], b"0"
        while True:
            cursor, keys = self.command("SCAN", cursor, "COUNT", 1000)
            for key in keys:
                kind = self.command("TYPE", key)
                kind = kind.decode() if isinstance(kind, bytes) else kind
                blob.append(key)
                if kind == "string":
                    blob.append(self.command("GET", key) or b"")
                elif kind == "hash":
                    blob.extend(self.command("HGETALL", key))
                elif kind == "list":
                    blob.extend(self.command("LRANGE", key, 0, -1))
                elif kind == "set":
                    blob.extend(self.command("SMEMBERS", key))
                elif kind == "zset":
                    blob.extend(self.command("ZRANGE", key, 0, -1, "WITHSCORES"))
                elif kind == "stream":
                    for entry_id, fields in self.command("XRANGE", key, "-", "+"):
                        blob.append(entry_id)
                        blob.extend(fields)
                else:
                    raise AssertionError("key %r of unexpected type %r" % (key, kind))
            if cursor in (b"0", 0, "0"):
                break
        return b"\n".join(x if isinstance(x, bytes) else str(x).encode() for x in blob)

    def kill(self):
        """SIGKILL: Redis disappears at once, like a crashed server."""
        if self.proc:
            _kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)

    def pause(self):
        """SIGSTOP: the socket stays open but nothing answers."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGCONT)
            _kill_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()


# ---------------------------------------------------------------------------
# Demo CRM
# ---------------------------------------------------------------------------

# The customers every test can rely on. Phones are E.164 as a CRM stores them.
ANA = {"id": "100234", "name": "Ana García", "phones": ["+13175550116"],
       "accountNumber": "12345678", "trackingNumber": "940011112222",
       "customerId": "100234", "answer": "1234"}
# Two customers share one phone: an ANI lookup of it finds both.
LUIS = {"id": "100300", "name": "Luis Pérez", "phones": ["+13175550199"],
        "accountNumber": "55501234", "trackingNumber": "940033334444",
        "customerId": "100300", "answer": "4321"}
MARTA = {"id": "100301", "name": "Marta Pérez",
         "phones": ["+13175550199", "+13175550177"],
         "accountNumber": "55509876", "trackingNumber": "940055556666",
         "customerId": "100301", "answer": "8642"}
# A customer whose values are long and distinctive, for the log audit.
JIN = {"id": "200777", "name": "Jin Park", "phones": ["+13125550142"],
       "accountNumber": "48213957", "trackingNumber": "940077778888",
       "customerId": "200777", "answer": "73918264"}
# Customers reachable only by identifier (no phone), for lockout and races.
OMAR = {"id": "300001", "name": "Omar Haddad", "phones": [],
        "accountNumber": "66600001", "trackingNumber": "940099990001",
        "customerId": "300001", "answer": "2468"}
LENA = {"id": "300002", "name": "Lena Vogel", "phones": ["+13175550155"],
        "accountNumber": "66600002", "trackingNumber": "940099990002",
        "customerId": "300002", "answer": "1357"}

CUSTOMERS = [ANA, LUIS, MARTA, JIN, OMAR, LENA]


class DemoCrm:
    """authflow-demo-crm on a loopback port, with its control endpoints."""

    def __init__(self, customers=None):
        self.customers = customers if customers is not None else CUSTOMERS
        self.dir = make_tempdir("authflow-crm-")
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    def start(self):
        path = os.path.join(self.dir, "customers.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"customers": self.customers}, f, ensure_ascii=False)
        err = open(os.path.join(self.dir, "crm.log"), "ab")
        self.proc = _track(subprocess.Popen(
            [DEMO_CRM_BIN, "--port", "0", "--bind", LOOPBACK, "--customers", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            start_new_session=True))
        err.close()
        line = _readline_with_timeout(self.proc.stdout, START_TIMEOUT)
        if not line.startswith("listening on "):
            _kill_group(self.proc)
            raise AssertionError("demo CRM did not start: %r (log %s)" % (line, self.dir))
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def _call(self, method, path, body=None):
        status, _, parsed = http_request(self.port, method, path, body=body, key=None)
        if status != 200:
            raise AssertionError("CRM control %s %s -> %s %r" % (method, path, status, parsed))
        return parsed

    def stats(self):
        return self._call("GET", "/_control/stats")

    def reset(self):
        return self._call("POST", "/_control/reset", body={})

    def set(self, delay_ms=None, fault=None):
        body = {}
        if delay_ms is not None:
            body["delayMs"] = delay_ms
        if fault is not None:
            body["fault"] = fault
        return self._call("POST", "/_control", body=body)

    def normal(self):
        """No delay, no fault, counters zeroed."""
        self.set(delay_ms=0, fault="none")
        self.reset()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc)
                self.proc.wait(timeout=STOP_TIMEOUT)


def _readline_with_timeout(stream, timeout):
    result = []

    def read():
        try:
            result.append(stream.readline().decode("utf-8", "replace").strip())
        except Exception as e:  # noqa: BLE001 - reported below
            result.append("<read error %r>" % e)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    return result[0] if result else "<no line within %.0fs>" % timeout


# ---------------------------------------------------------------------------
# authflow
# ---------------------------------------------------------------------------


def service_line(**overrides):
    line = {"aniLookup": True, "verification": True,
            "identifierType": "customer_id", "maxIdentifyAttempts": 3,
            "maxVerifyAttempts": 3, "defaultLanguage": "en-US",
            "defaultCountryCode": "1"}
    line.update(overrides)
    return line


def base_config(redis, crm_url, service_lines=None, lockout=None, crm_timeout_ms=3000,
                api_keys=None):
    """A complete authflow config for this harness (the port comes from env)."""
    return {
        "apiKeys": api_keys if api_keys is not None else [API_KEY, API_KEY_2],
        "redis": {"url": redis.url, "keyPrefix": KEY_PREFIX},
        "lockout": lockout or {"maxFailures": 5, "windowSeconds": 600},
        "crm": {"baseUrl": crm_url, "timeoutMs": crm_timeout_ms},
        "serviceLines": service_lines or {"retail": service_line()},
    }


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


class Authflow:
    """One authflow process: config in a temp file, JSON logs in a file."""

    def __init__(self, config, env=None, log_level="info"):
        self.config = config
        self.extra_env = dict(env or {})
        self.log_level = log_level
        self.dir = make_tempdir("authflow-svc-")
        self.config_path = os.path.join(self.dir, "config.json")
        self.log_path = os.path.join(self.dir, "authflow.log")
        self.proc = None
        self.port = None
        self.killed = False  # SIGKILLed on purpose: its exit status means nothing
        self._log_offset = 0

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHFLOW_")}
        env["AUTHFLOW_PORT"] = "0"
        env["AUTHFLOW_LOG_LEVEL"] = self.log_level
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.update(self.extra_env)
        return env

    def start(self):
        with open(self.config_path, "w", encoding="utf-8") as f:
            json.dump(self.config, f, ensure_ascii=False, indent=1)
        log = open(self.log_path, "ab")
        self._log_offset = log.tell()
        self.proc = _track(subprocess.Popen(
            [AUTHFLOW_BIN, "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env(),
            start_new_session=True))
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            port = self._listening_port()
            if port:
                self.port = port
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        _kill_group(self.proc)
        self.proc.wait(timeout=STOP_TIMEOUT)
        self.killed = True
        keep_tempdir(self.dir)
        raise AssertionError("authflow did not report listening (exit %s); log kept at %s:\n%s"
                             % (self.proc.poll(), self.log_path, self.log_text()[-4000:]))

    def _listening_port(self):
        for entry in self.log_entries(since_start=True):
            if entry.get("msg") == "listening" and isinstance(entry.get("port"), int):
                return entry["port"]
        return None

    # -- logs --------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_entries(self, since_start=False):
        """Every JSON log line (non-JSON lines are skipped)."""
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(self._log_offset)
                data = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        out = []
        for line in data.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def sanitizer_reports(self):
        text = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in text]

    def exit_problem(self, rc):
        """None when exit status rc is a clean 0 with no sanitizer report, else a
        description (with the report's first lines). The temp dir is then kept."""
        reports = self.sanitizer_reports()
        if rc == 0 and not reports:
            return None
        keep_tempdir(self.dir)
        text = self.log_text()
        first = min([text.find(m) for m in reports] or [max(0, len(text) - 1500)])
        return ("authflow exit status %s after SIGTERM (expected 0), sanitizer reports %s; "
                "log kept at %s:\n%s" % (rc, reports, self.log_path, text[first:first + 1500]))

    def assert_clean_exit(self, testcase, rc):
        problem = self.exit_problem(rc)
        if problem:
            testcase.fail(problem)

    # -- lifecycle ---------------------------------------------------------

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """Send SIGTERM (does not wait)."""
        _kill_group(self.proc, signal.SIGTERM)

    def kill(self):
        """SIGKILL, like a crash, and wait for it; the exit status is not checked."""
        self.killed = True
        _kill_group(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)

    def wait_for_log(self, msg, timeout=START_TIMEOUT):
        """Wait until a log line with this msg has been written; returns it."""
        def find():
            return next((e for e in self.log_entries(since_start=True)
                         if e.get("msg") == msg), None)
        return wait_until(find, timeout, what="log line %r" % msg)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc)
            self.proc.wait(timeout=STOP_TIMEOUT)
            return None

    # -- HTTP shortcuts ----------------------------------------------------

    def request(self, method, path, body=None, **kw):
        return http_request(self.port, method, path, body=body, **kw)

    def start_session(self, conversation_id, service_line_name="retail", ani=None,
                      language=None, **kw):
        body = {"conversationId": conversation_id, "serviceLine": service_line_name}
        if ani is not None:
            body["ani"] = ani
        if language is not None:
            body["language"] = language
        return self.request("POST", "/v1/sessions", body, **kw)

    def identifier(self, conversation_id, identifier, identifier_type=None, **kw):
        body = {"identifier": identifier}
        if identifier_type is not None:
            body["identifierType"] = identifier_type
        return self.request("POST", "/v1/sessions/%s/identifier" % conversation_id, body, **kw)

    def security(self, conversation_id, answer, **kw):
        return self.request("POST", "/v1/sessions/%s/security" % conversation_id,
                            {"answer": answer}, **kw)

    def opt_out(self, conversation_id, body=None, **kw):
        return self.request("POST", "/v1/sessions/%s/opt-out" % conversation_id,
                            body if body is not None else {}, **kw)

    def get(self, conversation_id, **kw):
        return self.request("GET", "/v1/sessions/%s" % conversation_id, **kw)

    def delete(self, conversation_id, **kw):
        return self.request("DELETE", "/v1/sessions/%s" % conversation_id, **kw)


def run_authflow(args, timeout=STOP_TIMEOUT, env=None):
    """Run the authflow binary with args until it exits by itself (a
    one-shot command, or a start that must fail); the environment holds no
    AUTHFLOW_* variable but those in env. Returns (rc, stdout+stderr); rc
    is None when it was still running after timeout (it is then killed)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHFLOW_")}
    full_env.update(env or {})
    proc = _track(subprocess.Popen(
        [AUTHFLOW_BIN] + list(args),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=full_env, start_new_session=True))
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate(timeout=STOP_TIMEOUT)
        rc = None
    return rc, (out + err).decode("utf-8", "replace")


def check_config(path, timeout=STOP_TIMEOUT):
    """Run `authflow --check-config --config path`; returns (rc, stdout+stderr)."""
    rc, text = run_authflow(["--check-config", "--config", path], timeout=timeout)
    if rc is None:
        raise AssertionError("--check-config did not exit within %.0fs" % timeout)
    return rc, text


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class Headers(dict):
    """Response headers, looked up case-insensitively."""

    def __init__(self, pairs):
        super().__init__()
        for k, v in pairs:
            self[k.lower()] = v

    def get(self, key, default=None):
        return super().get(key.lower(), default)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())


def auth_headers(key=API_KEY, scheme="bearer"):
    if key is None:
        return {}
    if scheme == "bearer":
        return {"Authorization": "Bearer " + key}
    if scheme == "x-api-key":
        return {"X-API-Key": key}
    if scheme == "basic":
        token = base64.b64encode(("genesys:" + key).encode()).decode()
        return {"Authorization": "Basic " + token}
    raise ValueError(scheme)


def http_request(port, method, path, body=None, headers=None, key=API_KEY,
                 scheme="bearer", raw_body=None, content_type="application/json",
                 timeout=HTTP_TIMEOUT):
    """One request on its own connection.

    body is JSON-encoded; raw_body (bytes) is sent as is. Returns
    (status, headers, parsed) where parsed is the decoded JSON when the body
    parses as JSON, else the raw bytes.
    """
    hdrs = dict(auth_headers(key, scheme))
    data = None
    if raw_body is not None:
        data = raw_body
    elif body is not None:
        data = json.dumps(body).encode("utf-8")
    if data is not None and content_type is not None:
        hdrs["Content-Type"] = content_type
    if headers:
        hdrs.update(headers)
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        status, rheaders = resp.status, Headers(resp.getheaders())
    finally:
        conn.close()
    return status, rheaders, parse_body(raw)


def parse_body(raw):
    if not raw:
        return raw
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return raw


def raw_http(port, data, timeout=5.0, shutdown_write=False):
    """Send raw bytes on a fresh socket; returns (status, headers, parsed).

    Reads until the server closes or one full response (by Content-Length)
    has arrived. A send error (the server refused early and closed) is
    tolerated: whatever answer it sent is still read.
    """
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.settimeout(timeout)
        try:
            s.sendall(data)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            parsed = _parse_raw_response(buf)
            if parsed is not None:
                return parsed
    parsed = _parse_raw_response(buf, final=True)
    if parsed is None:
        raise AssertionError("no HTTP response; got %r" % buf[:300])
    return parsed


def _parse_raw_response(buf, final=False):
    if b"\r\n\r\n" not in buf:
        return None
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    pairs = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            pairs.append((k.strip(), v.strip()))
    headers = Headers(pairs)
    length = headers.get("content-length")
    if length is not None:
        if len(body) < int(length):
            return None
        body = body[:int(length)]
    elif not final:
        return None
    return status, headers, parse_body(body)


def new_id(tag="conv"):
    """A fresh conversationId in the form Genesys uses (a UUID), tagged."""
    return "%s-%s" % (tag, uuid.uuid4())


# ---------------------------------------------------------------------------
# The session answer contract (SPEC section 3)
# ---------------------------------------------------------------------------

# Every session answer has exactly these keys, with these JSON types. (The
# SPEC table lists sixteen keys.)
EXPECTED_KEYS = {
    "conversationId": str,
    "serviceLine": str,
    "language": str,
    "state": str,
    "nextAction": str,
    "authStatus": str,
    "identified": bool,
    "verified": bool,
    "identificationMethod": str,
    "outcome": str,
    "lastResult": str,
    "attemptsRemaining": int,
    "promptId": str,
    "promptText": str,
    "customerId": str,
    "customerName": str,
}

ENUMS = {
    "state": {"awaiting_identifier", "awaiting_security", "completed"},
    "nextAction": {"ask_identifier", "ask_security", "continue", "transfer_to_agent"},
    "authStatus": {"identified_verified", "identified", "not_identified"},
    "identificationMethod": {"ani", "identifier", "none", "linked", "handoff"},
    "outcome": {"pending", "verified", "identified_only", "opted_out", "identify_failed",
                "verify_failed", "locked", "crm_unavailable"},
    "lastResult": {"none", "match", "no_match", "multiple_matches", "invalid_input",
                   "wrong_answer", "crm_error"},
    "promptId": {"ask_identifier", "ask_identifier_retry", "ask_security",
                 "ask_security_retry", "welcome_verified", "welcome_identified",
                 "opted_out", "transfer_to_agent", "transfer_locked",
                 "transfer_crm_unavailable"},
}

ERROR_CODES = {"invalid_json", "invalid_request", "unauthorized", "not_found",
               "wrong_state", "busy", "payload_too_large", "unsupported_media_type",
               "method_not_allowed", "unavailable", "internal", "forbidden",
               "rate_limited"}


def _fail(msg, body):
    raise AssertionError("%s\nanswer: %s" % (msg, json.dumps(body, ensure_ascii=False)))


def assert_session_answer(body, **expected):
    """Check one session answer against SPEC section 3.

    Exactly the expected keys, the right JSON types, no nulls, values from the
    enumerations, and the invariants the table states (outcome is pending until
    completed, attemptsRemaining is 0 when completed, customerId is "" until
    identified, authStatus agrees with identified/verified). Any keyword
    arguments must equal the answer's values. Returns body.
    """
    if not isinstance(body, dict):
        _fail("session answer is not a JSON object", body)
    keys = set(body)
    if keys != set(EXPECTED_KEYS):
        _fail("keys differ: missing %s, unexpected %s"
              % (sorted(set(EXPECTED_KEYS) - keys), sorted(keys - set(EXPECTED_KEYS))), body)
    for key, kind in EXPECTED_KEYS.items():
        value = body[key]
        if value is None:
            _fail("%s is null" % key, body)
        if type(value) is not kind:  # noqa: E721 - bool must not pass as int
            _fail("%s is %s, expected %s" % (key, type(value).__name__, kind.__name__), body)
    for key, allowed in ENUMS.items():
        if body[key] not in allowed:
            _fail("%s=%r is not one of %s" % (key, body[key], sorted(allowed)), body)

    state = body["state"]
    if state == "completed":
        if body["outcome"] == "pending":
            _fail("completed session with outcome pending", body)
        if body["attemptsRemaining"] != 0:
            _fail("completed session with attemptsRemaining != 0", body)
        if body["nextAction"] not in ("continue", "transfer_to_agent"):
            _fail("completed session asks for more input", body)
    else:
        if body["outcome"] != "pending":
            _fail("session in %s with outcome %s" % (state, body["outcome"]), body)
        want = "ask_identifier" if state == "awaiting_identifier" else "ask_security"
        if body["nextAction"] != want:
            _fail("state %s with nextAction %s" % (state, body["nextAction"]), body)
        if body["attemptsRemaining"] < 1:
            _fail("session awaiting input with no attempts left", body)
    if body["attemptsRemaining"] < 0:
        _fail("negative attemptsRemaining", body)
    if not body["promptText"]:
        _fail("empty promptText", body)

    if body["identified"]:
        if not body["customerId"]:
            _fail("identified without a customerId", body)
        if body["identificationMethod"] == "none":
            _fail("identified with identificationMethod none", body)
    else:
        if body["customerId"] or body["verified"]:
            _fail("not identified but customerId/verified set", body)
        if body["identificationMethod"] != "none":
            _fail("not identified but identificationMethod set", body)
    auth = ("identified_verified" if body["identified"] and body["verified"]
            else "identified" if body["identified"] else "not_identified")
    if body["authStatus"] != auth:
        _fail("authStatus %s disagrees with identified/verified" % body["authStatus"], body)
    if state == "awaiting_security" and not body["identified"]:
        _fail("awaiting_security without an identified caller", body)

    for key, value in expected.items():
        if key not in EXPECTED_KEYS:
            raise KeyError(key)
        if body[key] != value:
            _fail("%s is %r, expected %r" % (key, body[key], value), body)
    return body


def assert_error(testcase, response, status, code, mentions=None):
    """A non-2xx answer: the status, {"error","message"} body, and the code.

    mentions: a text the message must contain (e.g. the field's name).
    """
    got_status, headers, body = response
    testcase.assertEqual(got_status, status, "body: %r" % (body,))
    testcase.assertIsInstance(body, dict, "error body is not JSON: %r" % (body,))
    testcase.assertEqual(body.get("error"), code, "body: %r" % (body,))
    testcase.assertIsInstance(body.get("message"), str, "body: %r" % (body,))
    testcase.assertTrue(body["message"], "empty error message")
    testcase.assertIn(code, ERROR_CODES)
    ctype = headers.get("content-type", "")
    testcase.assertTrue(ctype.startswith("application/json"),
                        "error Content-Type is %r" % ctype)
    if mentions is not None:
        testcase.assertIn(mentions, body["message"],
                          "message does not name %r: %r" % (mentions, body["message"]))
    return body


def assert_ok(testcase, response, **expected):
    """A 200 session answer that satisfies assert_session_answer."""
    status, headers, body = response
    testcase.assertEqual(status, 200, "body: %r" % (body,))
    ctype = headers.get("content-type", "")
    testcase.assertTrue(ctype.startswith("application/json"), "Content-Type %r" % ctype)
    testcase.assertTrue(headers.get("x-request-id"), "no X-Request-Id header")
    return assert_session_answer(body, **expected)


def expect_step(response, **expected):
    """A step that must succeed, for set-up code outside a TestCase method
    (setUpClass drives): 200 and a session answer satisfying
    assert_session_answer with `expected`; raises AssertionError otherwise.
    Returns the body."""
    status, _, body = response
    if status != 200:
        raise AssertionError("step failed: %s %r" % (status, body))
    return assert_session_answer(body, **expected)


def iso(t):
    """Unix seconds as the ISO 8601 UTC text the report endpoints take."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Stack:
    """The processes and temp dirs of one test stack, and their ONE teardown.

    Built with the unittest cleanup hook of its owner (TestCase.addCleanup
    for one test, addClassCleanup for a class); close() is registered there
    before anything starts, so whatever setUp/setUpClass started before it
    failed is still stopped. Every part is recorded the moment it exists.
    close() stops the authflow processes first (newest first; each must have
    exited 0 after SIGTERM with no sanitizer report, unless it was killed on
    purpose), then every other part (newest first), then removes the temp
    dirs (a failing authflow's dir is kept for its log). Problems are
    collected and raised together, so one failure does not leak the rest.

    Named parts live as attributes: redis, crm, svc (the first authflow),
    svcs (all of them), gate (a GatedFront before the CRM, if any); a suite
    may add its own (stack.replica, stack.sentinels, ...).
    """

    def __init__(self, add_cleanup):
        self._authflows = []
        self._parts = []
        self._dirs = []
        self.redis = self.crm = self.svc = self.gate = None
        self.svcs = []
        add_cleanup(self.close)

    def tempdir(self, prefix="authflow-itest-"):
        d = make_tempdir(prefix)
        self._dirs.append(d)
        return d

    def start(self, part):
        """Own part (anything with stop(); a `dir` attribute is removed at
        close) and start it if it has start() (a stub that serves from its
        constructor has none). Returns part."""
        self._parts.append(part)
        if getattr(part, "dir", None):
            self._dirs.append(part.dir)
        if hasattr(part, "start"):
            part.start()
        return part

    def authflow(self, config, env=None, log_level="info"):
        """Start one authflow process on config; returns it."""
        svc = Authflow(config, env=env, log_level=log_level)
        self._authflows.append(svc)
        self._dirs.append(svc.dir)
        return svc.start()

    def close(self):
        problems = []
        for svc in reversed(self._authflows):
            try:
                rc = svc.stop()
                problem = None if svc.killed else svc.exit_problem(rc)
            except Exception as e:  # noqa: BLE001 - reported below
                problem = "stopping authflow: %r" % e
            if problem:
                problems.append(problem)
        for part in reversed(self._parts):
            try:
                part.stop()
            except Exception as e:  # noqa: BLE001 - reported below
                problems.append("stopping %s: %r" % (type(part).__name__, e))
        for d in self._dirs:
            remove_tempdir(d)
        if problems:
            raise AssertionError("\n\n".join(problems))


def _stack_part(name):
    return property(lambda self: getattr(self.stack, name),
                    lambda self, value: setattr(self.stack, name, value))


class StackTestCase(unittest.TestCase):
    """Base class of every integration suite: the one way to start a stack.

    By default one stack per test class: a Redis, the demo CRM and
    INSTANCES authflow processes on make_config(); before every test
    reset_stack() checks authflow is alive, flushes Redis and puts the CRM
    back to normal, so tests do not see each other's sessions, lockouts or
    counters. PER_TEST = True gives every test a fresh stack instead (for
    tests that kill, pause, restart or stop a part).

    Knobs: SERVICE_LINES, LOCKOUT, CRM_TIMEOUT_MS, LOG_LEVEL, AUTHFLOW_ENV
    (extra environment, e.g. a CRM secret), INSTANCES (0: the test starts
    authflow itself with self.stack.authflow(...)), GATED_CRM (a GatedFront
    between authflow and the CRM, as self.gate, so a test can hold CRM calls
    until it releases them).

    Special needs override the hooks, each given the Stack: start_redis
    (AOF, Sentinel), start_crm (a stub CRM), make_config, or start_stack
    itself; whatever they start goes through stack.start() / authflow() /
    tempdir(), so it is torn down with the rest. A test that needs extra
    processes of its own takes them from extra_stack(), torn down after it.

    self.redis, self.crm, self.svc, self.svcs and self.gate are the stack's.
    """

    PER_TEST = False
    SERVICE_LINES = None
    LOCKOUT = None
    CRM_TIMEOUT_MS = 3000
    LOG_LEVEL = "info"
    AUTHFLOW_ENV = None
    INSTANCES = 1
    GATED_CRM = False

    stack = None
    redis = _stack_part("redis")
    crm = _stack_part("crm")
    svc = _stack_part("svc")
    svcs = _stack_part("svcs")
    gate = _stack_part("gate")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.PER_TEST:
            cls.stack = Stack(cls.addClassCleanup)
            cls.start_stack(cls.stack)

    def setUp(self):
        super().setUp()
        self._extra = None
        if self.PER_TEST:
            self.stack = Stack(self.addCleanup)
            self.start_stack(self.stack)
        else:
            self.reset_stack()

    # -- hooks -----------------------------------------------------------------

    @classmethod
    def start_stack(cls, stack):
        stack.redis = cls.start_redis(stack)
        stack.crm = cls.start_crm(stack)
        if cls.GATED_CRM:
            from crm_stubs import GatedFront  # noqa: PLC0415 - stubs need no harness
            stack.gate = stack.start(GatedFront(stack.crm.url))
        stack.svcs = [stack.authflow(cls.make_config(stack), env=cls.AUTHFLOW_ENV,
                                     log_level=cls.LOG_LEVEL)
                      for _ in range(cls.INSTANCES)]
        stack.svc = stack.svcs[0] if stack.svcs else None

    @classmethod
    def start_redis(cls, stack):
        return stack.start(Redis())

    @classmethod
    def start_crm(cls, stack):
        return stack.start(DemoCrm())

    @classmethod
    def crm_url(cls, stack):
        """Where authflow calls the CRM: the gate when there is one."""
        return (stack.gate or stack.crm).url

    @classmethod
    def make_config(cls, stack, **overrides):
        cfg = base_config(stack.redis, cls.crm_url(stack), service_lines=cls.SERVICE_LINES,
                          lockout=cls.LOCKOUT, crm_timeout_ms=cls.CRM_TIMEOUT_MS)
        cfg.update(overrides)
        return cfg

    def reset_stack(self):
        """Between tests on a shared stack."""
        for svc in self.svcs:
            self.assertTrue(svc.alive(), "authflow died; log:\n" + svc.log_text()[-3000:])
        if self.redis is not None:
            self.redis.flushall()
        if hasattr(self.crm, "normal"):
            self.crm.normal()
        if self.gate is not None:
            self.gate.release()

    # -- helpers ---------------------------------------------------------------

    def extra_stack(self):
        """A Stack for processes this test starts itself, torn down after it."""
        if self._extra is None:
            self._extra = Stack(self.addCleanup)
        return self._extra

    def crm_delta(self, before, key):
        return self.crm.stats()[key] - before[key]
