"""The CRM connector's transport options: TLS verification (on by default),
crm.tls.caFile, mutual TLS with crm.tls.clientCert/clientKey, and
crm.proxy (plain forwarding and CONNECT tunnels, the OAuth2 token fetch
included).

A throw-away CA, server certificate (SAN IP:127.0.0.1) and client
certificate are made with the openssl CLI in a temporary directory at run
time; no key is ever committed. The stubs serve https with Python's ssl
module; the proxy is a stdlib forward proxy that counts what it carries.
A transport failure must look like any CRM failure to the caller: the
fallback path, no attempt spent, inside the budget.
"""
import json
import os
import shutil
import ssl
import subprocess
import time
import unittest

import harness as h
from harness import assert_ok, new_id
from crm_stubs import (SF_CLIENT_ID, SF_CLIENT_SECRET, TOKEN, ForwardProxy,
                       NumericCrm, SalesforceCrm)

SOURCE = (os.environ.get("AUTHFLOW_SOURCE_DIR") or
          os.path.join(os.path.dirname(__file__), "..", ".."))
NUMERIC = os.path.join(SOURCE, "deploy", "config", "crm-404-numeric.example.json")
SALESFORCE = os.path.join(SOURCE, "deploy", "config", "crm-salesforce.example.json")
BUDGET_S = 4.0
ANI = "tel:+13175550116"


def make_pki(directory):
    """CA, server and client key pairs (EC P-256, valid 2 days) under
    `directory`; returns their paths."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise AssertionError("the openssl CLI is needed (apt-get install openssl)")
    p = {k: os.path.join(directory, k) for k in
         ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key")}

    def run(*args):
        out = subprocess.run([openssl, *args], capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise AssertionError("openssl %s failed: %s" % (args[0], out.stderr))

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", p["ca.key"], "-out", p["ca.pem"], "-days", "2",
        "-subj", "/CN=authflow test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for who, usage, cn, san in (("server", "serverAuth", "127.0.0.1",
                                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
                                ("client", "clientAuth", "authflow-client", "")):
        csr = os.path.join(directory, who + ".csr")
        ext = os.path.join(directory, who + ".ext")
        with open(ext, "w", encoding="ascii") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=%s\n%s" % (usage, san))
        run("req", "-new", *ec, "-keyout", p[who + ".key"], "-out", csr, "-subj", "/CN=" + cn)
        run("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
            "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
            "-extfile", ext, "-out", p[who + ".pem"])
    return p


def server_context(pki, require_client_cert=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["server.pem"], pki["server.key"])
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki["ca.pem"])
    return ctx


def numeric_config(redis, crm, **crm_overrides):
    with open(NUMERIC, encoding="utf-8") as f:
        crm_cfg = json.load(f)["crm"]
    crm_cfg["baseUrl"] = crm.url
    crm_cfg.update(crm_overrides)
    cfg = h.base_config(redis, crm.url)
    cfg["crm"] = crm_cfg
    return cfg


def charged(testcase, svc, cid, field):
    for entry in svc.log_entries():
        if entry.get("msg") == "session completed" and entry.get("conversationId") == cid:
            return entry[field]
    testcase.fail("no 'session completed' log line for %s" % cid)
    return None


class TransportCase(h.StackTestCase):
    """Per test: its own stack -- Redis, the CRM stub(s) the test starts
    with part(), and the authflow it launches (so TLS sessions, tokens and
    the breaker start fresh); one PKI per class."""

    PER_TEST = True
    INSTANCES = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = make_pki(h.Stack(cls.addClassCleanup).tempdir("authflow-pki-"))

    @classmethod
    def start_crm(cls, stack):
        return None  # each test starts its own stub with part()

    def part(self, thing):
        return self.stack.start(thing)

    def launch(self, cfg, env=None):
        self.svc = self.stack.authflow(cfg, env=dict({"CRM_TOKEN": TOKEN}, **(env or {})))
        return self.svc

    def assert_works(self, svc):
        cid = new_id("tls-ok")
        assert_ok(self, svc.start_session(cid, ani=ANI), identified=True,
                  customerId="100234", state="awaiting_security")
        assert_ok(self, svc.security(cid, "1234"), outcome="verified")

    def assert_crm_unreachable(self, svc):
        """The CRM cannot be reached: a start asks for an identifier
        (crm_error, nothing spent), and an identifier completes
        crm_unavailable, charging no attempt; each within the budget."""
        cid = new_id("tls-fail")
        t0 = time.monotonic()
        assert_ok(self, svc.start_session(cid, ani=ANI), state="awaiting_identifier",
                  lastResult="crm_error", attemptsRemaining=3, identified=False)
        assert_ok(self, svc.identifier(cid, "100234"), state="completed",
                  outcome="crm_unavailable", nextAction="transfer_to_agent",
                  lastResult="crm_error")
        self.assertLess(time.monotonic() - t0, 2 * BUDGET_S)
        self.assertEqual(charged(self, svc, cid, "identifyAttempts"), 0)


class Tls(TransportCase):
    def test_verification_on_by_default_rejects_an_unknown_ca(self):
        crm = self.part(NumericCrm(server_context(self.pki)))
        svc = self.launch(numeric_config(self.redis, crm))
        self.assert_crm_unreachable(svc)
        self.assertEqual(crm.requests, 0, "a request reached an unverified server")
        self.assertGreaterEqual(crm.tls_failures, 1)

    def test_ca_file_trusts_the_server(self):
        crm = self.part(NumericCrm(server_context(self.pki)))
        svc = self.launch(numeric_config(self.redis, crm, tls={"caFile": self.pki["ca.pem"]}))
        self.assert_works(svc)
        self.assertEqual(crm.requests, 2)
        self.assertEqual(crm.tls_failures, 0)

    def test_ca_file_from_a_secret_reference(self):
        """File paths may come from the environment too."""
        crm = self.part(NumericCrm(server_context(self.pki)))
        svc = self.launch(numeric_config(self.redis, crm, tls={"caFile": "${env:CRM_CA}"}),
                          env={"CRM_CA": self.pki["ca.pem"]})
        self.assert_works(svc)

    def test_verify_false_accepts_any_server(self):
        crm = self.part(NumericCrm(server_context(self.pki)))
        svc = self.launch(numeric_config(self.redis, crm, tls={"verify": False}))
        self.assert_works(svc)

    def test_mtls_fails_without_the_client_certificate(self):
        crm = self.part(NumericCrm(server_context(self.pki, require_client_cert=True)))
        svc = self.launch(numeric_config(self.redis, crm, tls={"caFile": self.pki["ca.pem"]}))
        self.assert_crm_unreachable(svc)
        self.assertEqual(crm.requests, 0)
        self.assertGreaterEqual(crm.tls_failures, 1)

    def test_mtls_works_with_the_client_certificate(self):
        crm = self.part(NumericCrm(server_context(self.pki, require_client_cert=True)))
        svc = self.launch(numeric_config(self.redis, crm, tls={
            "caFile": self.pki["ca.pem"], "clientCert": self.pki["client.pem"],
            "clientKey": self.pki["client.key"]}))
        self.assert_works(svc)
        self.assertEqual(crm.tls_failures, 0)
        self.assertIn("authflow-client", crm.server.peer_names)


class Proxy(TransportCase):
    def test_calls_go_through_the_proxy(self):
        """crm.proxy carries every CRM call, even with NO_PROXY naming the
        CRM's host in authflow's environment (the config decides)."""
        crm = self.part(NumericCrm())
        proxy = self.part(ForwardProxy())
        svc = self.launch(numeric_config(self.redis, crm, proxy=proxy.url),
                          env={"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"})
        self.assert_works(svc)
        self.assertEqual(proxy.requests, 2)
        self.assertEqual(crm.requests, 2)
        self.assertIn("%s/v2/contacts/by-phone/%%2B13175550116" % crm.url, proxy.targets)
        self.assertIn("%s/v2/contacts/100234/pin-check" % crm.url, proxy.targets)

    def test_https_through_the_proxy_tunnel(self):
        crm = self.part(NumericCrm(server_context(self.pki)))
        proxy = self.part(ForwardProxy())
        svc = self.launch(numeric_config(self.redis, crm, proxy=proxy.url,
                                         tls={"caFile": self.pki["ca.pem"]}))
        self.assert_works(svc)
        self.assertGreaterEqual(proxy.connects, 1)
        self.assertEqual(proxy.requests, 0)
        self.assertIn("CONNECT 127.0.0.1:%d" % crm.port, proxy.targets)

    def test_oauth2_token_fetch_uses_tls_and_proxy_too(self):
        crm = self.part(SalesforceCrm(server_context(self.pki)))
        proxy = self.part(ForwardProxy())
        with open(SALESFORCE, encoding="utf-8") as f:
            crm_cfg = json.load(f)["crm"]
        crm_cfg.update(baseUrl=crm.url, proxy=proxy.url, tls={"caFile": self.pki["ca.pem"]})
        cfg = h.base_config(self.redis, crm.url)
        cfg["crm"] = crm_cfg
        svc = self.launch(cfg, env={"SF_CLIENT_ID": SF_CLIENT_ID,
                                    "SF_CLIENT_SECRET": SF_CLIENT_SECRET})
        cid = new_id("sf-proxy")
        assert_ok(self, svc.start_session(cid, ani=ANI), identified=True,
                  customerId="003Dn00000AnaG1IAJ")
        self.assertEqual(crm.count("token_ok"), 1)
        self.assertEqual(crm.count("query"), 1)
        self.assertGreaterEqual(proxy.connects, 1)
        self.assertEqual(crm.tls_failures, 0)

    def test_environment_proxy_ignored_without_crm_proxy(self):
        """No crm.proxy means a direct connection, whatever http_proxy says."""
        crm = self.part(NumericCrm())
        proxy = self.part(ForwardProxy())
        svc = self.launch(numeric_config(self.redis, crm),
                          env={"http_proxy": proxy.url, "HTTP_PROXY": proxy.url,
                               "https_proxy": proxy.url, "ALL_PROXY": proxy.url})
        self.assert_works(svc)
        self.assertEqual(proxy.requests + proxy.connects, 0)

    def test_proxy_down_is_a_crm_failure(self):
        crm = self.part(NumericCrm())
        svc = self.launch(numeric_config(self.redis, crm,
                                         proxy="http://127.0.0.1:%d" % h.free_port()))
        self.assert_crm_unreachable(svc)
        self.assertEqual(crm.requests, 0)


if __name__ == "__main__":
    unittest.main()
