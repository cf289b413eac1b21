#!/usr/bin/python3
"""The console over TLS (SPEC section 10) against real quiltd processes.

setUpClass makes a small PKI with the `openssl` command: a CA, a server
certificate and a client certificate signed by it, and a client certificate
signed by another CA. Nodes a and b (linked) publish their consoles over TLS
with the server certificate, naming the files relative to their config
files. The tests check that a client with the CA's certificate runs every
command, that a client without TLS, with the other CA's certificate, or
without any certificate cannot get in (exit 3, one plain stderr line), that
the nodes keep working, and quiltd's and quilt-console's checks of the
files."""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import QuiltTestCase, free_port, quiltd_path  # noqa: E402
from console_harness import (ConsoleNode, ConsolePrompt,  # noqa: E402
                             run_argv, run_console)

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def openssl(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, timeout=20,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_ca(folder, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", name + ".key", "-out", name + ".pem",
            "-subj", "/CN=quilt test " + name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def make_cert(folder, name, ca, usage):
    """A key and a certificate for `name` signed by `ca`, for `usage`
    (serverAuth or clientAuth)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=quilt test " + name, cwd=folder)
    with open(os.path.join(folder, name + ".ext"), "w") as f:
        f.write("extendedKeyUsage=%s\n" % usage)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
            "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
            "-out", name + ".pem", "-extfile", name + ".ext", cwd=folder)


class TlsConsoleNode(ConsoleNode):
    """A ConsoleNode whose [console] names the TLS files as `tls` (a
    (certificate, key, cafile) triple of paths relative to the config
    file)."""

    def __init__(self, workdir, name, tls, **kw):
        self.tls = tls
        super().__init__(workdir, name, **kw)

    def write_config(self):
        super().write_config()
        with open(self.config_path) as f:
            text = f.read()
        keys = ('tls_certificate = "%s"\ntls_key = "%s"\ntls_cafile = "%s"\n'
                % self.tls)
        if text.count("[console]\n") != 1:
            raise RuntimeError("no single [console] section in:\n" + text)
        with open(self.config_path, "w") as f:
            f.write(text.replace("[console]\n", "[console]\n" + keys))


class ConsoleTlsTest(QuiltTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pki = cls.pki = os.path.join(cls.class_workdir, "tls")
        os.mkdir(pki)
        make_ca(pki, "ca")
        make_ca(pki, "otherca")
        make_cert(pki, "server", "ca", "serverAuth")
        make_cert(pki, "client", "ca", "clientAuth")
        make_cert(pki, "rogue", "otherca", "clientAuth")
        cls.server_files = ("tls/server.pem", "tls/server.key", "tls/ca.pem")

        def mk(name, **kw):
            n = TlsConsoleNode(cls.class_workdir, name, cls.server_files, **kw)
            cls.class_nodes.append(n)
            return n

        pa, pb = free_port(), free_port()
        cls.b = mk("b", port=pb)
        cls.a = mk("a", port=pa, peers=[pb])
        for n in (cls.b, cls.a):
            n.start()
        r, ok = cls.poll(cls.a, ["routes"],
                         lambda r: any(x["destination"] == "b"
                                       for x in r.doc), 10)
        if not ok:
            raise AssertionError("a never had a route to b, asked over its "
                                 "TLS console: %r\n%s" % (r, cls.a.tail()))

    # -- helpers ------------------------------------------------------------

    @classmethod
    def flags(cls, cert="client", cafile="ca"):
        p = cls.pki
        return ["--tls-certificate", os.path.join(p, cert + ".pem"),
                "--tls-key", os.path.join(p, cert + ".key"),
                "--tls-cafile", os.path.join(p, cafile + ".pem")]

    @classmethod
    def tls_console(cls, node, *args, cert="client", cafile="ca", **kw):
        """quilt-console over TLS against `node` (--json unless json_out=False)."""
        return run_console(node.console_port, args, timeout=15,
                           extra_opts=cls.flags(cert, cafile), **kw)

    @classmethod
    def poll(cls, node, args, predicate, timeout):
        deadline = time.monotonic() + timeout
        while True:
            r = cls.tls_console(node, *args)
            ok = r.rc == 0 and predicate(r)
            if ok or time.monotonic() > deadline:
                return r, bool(ok)
            time.sleep(0.05)

    def assert_refused(self, r, pattern):
        """Exit 3 within 5 s; with --json one {"error", "detail"} document,
        else nothing on stdout and one plain line on stderr."""
        self.assertEqual(r.rc, 3, r)
        self.assertLess(r.elapsed, 5, r)
        if "--json" in r.argv:
            self.assertEqual(set(r.doc), {"error", "detail"}, r)
            self.assertEqual(r.doc["error"], "unreachable", r)
            self.assertRegex(r.doc["detail"], pattern, r)
        else:
            self.assertEqual(r.stdout, "", r)
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, r)
            self.assertRegex(lines[0], pattern, r)
            # Plain words, not a dump of CAF's error type.
            self.assertNotRegex(lines[0], r"system_error|sec::", r)

    def first_bytes(self, node, cert=None):
        """What `node`'s console sends first to a TLS client made with
        Python's ssl module, with `cert` (a name in the PKI) or without a
        client certificate: bytes (b"" if it closes), or the ssl.SSLError
        that ended the handshake or the read."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(os.path.join(self.pki, "ca.pem"))
        if cert:
            ctx.load_cert_chain(os.path.join(self.pki, cert + ".pem"),
                                os.path.join(self.pki, cert + ".key"))
        raw = socket.create_connection(("127.0.0.1", node.console_port),
                                       timeout=3)
        self.addCleanup(raw.close)
        try:
            s = ctx.wrap_socket(raw)
            self.addCleanup(s.close)
            return s.recv(64)
        except ssl.SSLError as e:
            return e
        except ConnectionResetError:
            return b""

    # -- a client with the CA's certificate -------------------------------------

    def test_every_command_with_a_good_certificate(self):
        a, b = self.a, self.b
        r = self.tls_console(a, "status")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc["name"], "a", r)
        self.assertEqual(r.doc["listen"], "tcp://127.0.0.1:%d" % a.port, r)
        r = self.tls_console(a, "peers")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([p["name"] for p in r.doc], ["b"], r)
        r = self.tls_console(a, "routes")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc, [{"destination": "b", "next_hop": "b",
                                  "hops": 1}], r)
        r = self.tls_console(a, "topology")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sorted(r.doc["nodes"]), ["a", "b"], r)
        self.assertEqual([sorted(l) for l in r.doc["links"]], [["a", "b"]], r)
        r = self.tls_console(a, "topology", "--dot", json_out=False)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r'"?a"?\s*--\s*"?b"?|"?b"?\s*--\s*"?a"?', r)
        r = self.tls_console(a, "ping", "b", "2")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.doc["sent"], r.doc["received"]), (2, 2), r)
        r = self.tls_console(a, "traceroute", "b")
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.doc["reached"], r)
        self.assertEqual([h["node"] for h in r.doc["hops"]], ["b"], r)
        r = self.tls_console(a, "connect", "127.0.0.1", str(b.port))
        self.assertEqual((r.rc, r.doc), (0, {"accepted": True}), r)
        # A message from a's console to b, read from b's console.
        r = self.tls_console(a, "send", "b", "over", "tls")
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.doc["accepted"], r)
        sent_id = r.doc["id"]
        r, ok = self.poll(b, ["inbox"],
                          lambda r: any(m["id"] == sent_id for m in r.doc), 5)
        self.assertTrue(ok, r)
        m = [m for m in r.doc if m["id"] == sent_id][0]
        self.assertEqual((m["from"], m["to"], m["text"]),
                         ("a", "b", "over tls"), r)
        r = self.tls_console(b, "stats")
        self.assertEqual(r.rc, 0, r)
        self.assertGreaterEqual(r.doc["delivered"], 1, r)
        # Answered by the node (exit 1), not a connection failure (exit 3).
        r = self.tls_console(a, "nodes")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.doc.get("error"), "not_a_simulation", r)
        r = self.tls_console(a, "status", json_out=False)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r"(?m)^name\s+a$", r)

    def test_interactive_prompt_over_tls(self):
        with ConsolePrompt(self.a.console_port, extra=self.flags()) as p:
            p.expect(r"connected to 127\.0\.0\.1:%d over TLS"
                     % self.a.console_port)
            p.expect(r"quilt> ")
            out = p.command("status")
            self.assertRegex(out, r"(?m)^name\s+a\s*$", p.text)
            p.type("quit")
            self.assertEqual(p.wait_exit(5), 0, p.text)

    def test_shutdown_over_tls(self):
        n = TlsConsoleNode(self.workdir, "s", self.server_files)
        self.nodes.append(n)
        # The node's files are relative to its own config file's folder.
        shutil.copytree(self.pki, os.path.join(self.workdir, "tls"))
        n.start()
        r = self.tls_console(n, "shutdown")
        self.assertEqual((r.rc, r.doc), (0, {"accepted": True}), r)
        self.assertEqual(n.wait_exit(5), 0, n.tail())

    def test_files_changed_while_running(self):
        # The node serves with the files as they were at start: CAF reloads
        # them at each connection and would end the process on a bad one.
        shutil.copytree(self.pki, os.path.join(self.workdir, "tls"))
        n = TlsConsoleNode(self.workdir, "f", self.server_files)
        self.nodes.append(n)
        n.start()
        os.remove(os.path.join(self.workdir, "tls", "server.key"))
        with open(os.path.join(self.workdir, "tls", "server.pem"), "w") as f:
            f.write("not a certificate\n")
        r = self.tls_console(n, "status")
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(n.alive(), n.tail())

    # -- clients that must not get in -------------------------------------------

    def test_client_without_tls_exits_3(self):
        for json_out in (True, False):
            with self.subTest(json_out=json_out):
                r = run_console(self.a.console_port, ["status"],
                                json_out=json_out, timeout=15)
                self.assert_refused(r, r"(?i)TLS")

    def test_client_of_another_ca_exits_3(self):
        for json_out in (True, False):
            with self.subTest(json_out=json_out):
                r = self.tls_console(self.a, "status", cert="rogue",
                                     json_out=json_out)
                self.assert_refused(r, r"(?i)refused this certificate")

    def test_client_that_does_not_trust_the_node_exits_3(self):
        r = self.tls_console(self.a, "status", cafile="otherca",
                             json_out=False)
        self.assert_refused(r, r"(?i)node's certificate does not verify")

    def test_node_demands_a_certificate_signed_by_its_ca(self):
        # Below quilt-console: a TLS client with no certificate, or with the
        # other CA's, completes its side of a TLS 1.3 handshake and is then
        # turned away with an alert; it never gets a byte of CAF's protocol.
        # With the CA's certificate the node speaks first (its CAF
        # handshake), so the same read tells the cases apart.
        got = self.first_bytes(self.a, "client")
        self.assertIsInstance(got, bytes, got)
        self.assertTrue(got, "the node closed a good client's connection")
        for cert in (None, "rogue"):
            with self.subTest(cert=cert):
                got = self.first_bytes(self.a, cert)
                if isinstance(got, bytes):
                    self.assertEqual(got, b"", "the node sent data to a "
                                     "client with certificate %r" % cert)
                else:
                    self.assertRegex(str(got), r"(?i)alert|certificate", got)
        # A client that is not TLS gets a TLS alert record (0x15) at most;
        # a plain console would send its CAF handshake unasked.
        raw = socket.create_connection(("127.0.0.1", self.a.console_port),
                                       timeout=3)
        self.addCleanup(raw.close)
        raw.sendall(b"\x00" * 64)
        try:
            data = raw.recv(64)
        except ConnectionResetError:
            data = b""
        self.assertTrue(data == b"" or data[0] == 0x15, data)

    def test_nodes_keep_working_after_refused_clients(self):
        for _ in range(3):
            run_console(self.a.console_port, ["status"], timeout=15)
            self.tls_console(self.a, "status", cert="rogue")
        self.assertTrue(self.a.alive(), self.a.tail())
        r = self.tls_console(self.a, "ping", "b")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc["received"], 1, r)
        self.assertTrue(self.a.find_logs(r"console on 127\.0\.0\.1:%d \(TLS"
                                         % self.a.console_port), self.a.tail())

    # -- checks at start --------------------------------------------------------

    def test_tls_console_off_loopback_does_not_warn(self):
        shutil.copytree(self.pki, os.path.join(self.workdir, "tls"))
        n = TlsConsoleNode(self.workdir, "wide", self.server_files,
                           console_host="0.0.0.0")
        self.nodes.append(n)
        n.start()
        self.assertEqual(n.find_logs(r"(?i)warn|not loopback"), [], n.tail())
        r = self.tls_console(n, "status")
        self.assertEqual(r.rc, 0, r)

    def test_quiltd_checks_the_files(self):
        os.mkdir(os.path.join(self.workdir, "tls"))
        for f in ("server.pem", "server.key", "ca.pem", "rogue.key"):
            shutil.copy(os.path.join(self.pki, f),
                        os.path.join(self.workdir, "tls"))
        path = os.path.join(self.workdir, "bad.toml")
        head = "[node]\nport = %d\n[console]\n" % free_port()
        cases = [
            ("only a key", 'tls_key = "tls/server.key"\n',
             ":4: console.tls_certificate, console.tls_key and "
             "console.tls_cafile go together: console.tls_certificate and "
             "console.tls_cafile are missing"),
            ("a missing file",
             'tls_certificate = "tls/server.pem"\ntls_key = "tls/nope.key"\n'
             'tls_cafile = "tls/ca.pem"\n',
             ":5: console.tls_key: cannot open %s/tls/nope.key: No such file "
             "or directory" % self.workdir),
            ("a key of another certificate",
             'tls_certificate = "tls/server.pem"\ntls_key = "tls/rogue.key"\n'
             'tls_cafile = "tls/ca.pem"\n',
             ":5: console.tls_key: %s/tls/rogue.key is not the key of "
             "%s/tls/server.pem" % (self.workdir, self.workdir)),
        ]
        for label, keys, message in cases:
            with self.subTest(label):
                with open(path, "w") as f:
                    f.write(head + keys)
                p = subprocess.run([quiltd_path(), path],
                                   stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=10)
                self.assertEqual(p.returncode, 2, p)
                self.assertEqual(p.stderr, path + message + "\n", p)

    def test_console_checks_its_flags(self):
        port = self.a.console_port
        f = self.flags()
        # (label, options, command): usage errors whatever the console at
        # the port would say.
        cases = [
            ("only a certificate", f[:2], ["status"]),
            ("certificate and key", f[:4], ["status"]),
            ("a flag without a file", f[:5], []),
            ("a missing file", f[:3] + ["/nonexistent/key.pem"] + f[4:],
             ["status"]),
            ("a key of another certificate",
             f[:3] + [os.path.join(self.pki, "rogue.key")] + f[4:],
             ["status"]),
        ]
        for label, opts, args in cases:
            with self.subTest(label):
                r = run_console(port, args, extra_opts=opts, timeout=15)
                self.assertEqual(r.rc, 2, r)
                self.assertEqual(set(r.doc), {"error", "detail"}, r)
                self.assertRegex(r.doc["detail"], r"--tls-", r)
                r = run_argv(r.argv[:1] + ["--port", str(port)] + opts
                             + args, timeout=15)
                self.assertEqual(r.rc, 2, r)
                self.assertEqual(r.stdout, "", r)
                self.assertEqual(len(r.stderr.splitlines()), 1, r)


if __name__ == "__main__":
    unittest.main()
