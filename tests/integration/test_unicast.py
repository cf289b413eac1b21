#!/usr/bin/python3
"""Unicast with confirmation between real quiltd processes (SPEC section
14): `quilt-console send --wait` waits for the destination's msg_ack and
prints its round trip, or exits 1 with not_delivered when none comes within
limits.delivery_timeout_ms; a stopped destination that comes back stores
the retransmitted text once; a foreign peer that never confirms gets a few
copies, not a stream; the line interface says "delivered to X in N ms";
bad values of the new key exit 2 with FILE:LINE (quiltd and quilt-sim).

The shared mesh is the line a - b - c (heartbeat 100 ms, dead after 5 s,
so a stopped node stays routed for a while) with delivery_timeout_ms =
1500, and d (delivery_timeout_ms = 0) hanging off b."""

import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import (QuiltTestCase, free_port, quiltd_path,  # noqa: E402
                           sim_path, wait_routes)
from console_harness import ConsoleNode, console  # noqa: E402
from test_foreign_peer import ForeignPeer  # noqa: E402

TIMEOUT_MS = 1500


class ConfirmingNode(ConsoleNode):
    """A ConsoleNode whose [limits] sets delivery_timeout_ms."""

    def __init__(self, workdir, name, delivery_timeout_ms=TIMEOUT_MS, **kw):
        self.delivery_timeout_ms = delivery_timeout_ms
        super().__init__(workdir, name, **kw)

    def write_config(self):
        super().write_config()
        with open(self.config_path) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^\[limits\]\n",
                          "[limits]\ndelivery_timeout_ms = %d\n"
                          % self.delivery_timeout_ms, text)
        if n != 1:
            raise RuntimeError("no [limits] section in:\n" + text)
        with open(self.config_path, "w") as f:
            f.write(text)


def inbox_texts(node):
    r = console(node, "inbox", "1000")
    assert r.rc == 0, r
    return [(e["from"], e["text"]) for e in r.doc]


class UnicastTest(QuiltTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        kw = dict(heartbeat_ms=100, dead_after_ms=5000)
        cls.c = cls.add(ConfirmingNode(cls.class_workdir, "c", **kw))
        cls.b = cls.add(ConfirmingNode(cls.class_workdir, "b",
                                       peers=[cls.c.port], **kw))
        cls.a = cls.add(ConfirmingNode(cls.class_workdir, "a",
                                       peers=[cls.b.port], **kw))
        cls.d = cls.add(ConfirmingNode(cls.class_workdir, "d",
                                       peers=[cls.b.port],
                                       delivery_timeout_ms=0, **kw))
        # With a terminal: the harness reads routes through the line
        # interface, and a's is tested.
        for n in (cls.c, cls.b, cls.d, cls.a):
            n.start(pty=True)
        links = [("a", "b"), ("b", "c"), ("b", "d")]
        if not wait_routes([cls.a, cls.b, cls.c, cls.d], links, 15):
            raise AssertionError("no full routes:\n" + cls.a.tail())

    @classmethod
    def add(cls, node):
        cls.class_nodes.append(node)
        return node

    def test_send_wait_delivered_with_rtt(self):
        r = console(self.a, "send", "--wait", "c", "hello", "there")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(set(r.doc), {"accepted", "id", "delivered",
                                      "rtt_us"}, r)
        self.assertIs(r.doc["accepted"], True)
        self.assertIs(r.doc["delivered"], True)
        self.assertRegex(r.doc["id"], r"^[1-9]\d*$")
        rtt = r.doc["rtt_us"]
        self.assertIsInstance(rtt, int)
        self.assertGreater(rtt, 0)
        self.assertLess(rtt, TIMEOUT_MS * 1000)
        self.assertEqual(inbox_texts(self.c).count(("a", "hello there")), 1)
        # Without --json: one line.
        r = console(self.a, "send", "--wait", "c", "plain", json_out=False)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r"^delivered to c in [\d.]+ ms \(id \d+\)\n$")
        # Without --wait, unchanged.
        r = console(self.a, "send", "c", "no wait")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(set(r.doc), {"accepted", "id"}, r)

    def test_send_wait_to_a_stopped_node_is_not_delivered(self):
        before = console(self.a, "stats").doc
        self.c.pause()  # SIGSTOP: still routed for dead_after_ms (5 s)
        try:
            r = console(self.a, "send", "--wait", "c", "are you there")
        finally:
            self.c.resume()
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(set(r.doc), {"error", "detail", "id"}, r)
        self.assertEqual(r.doc["error"], "not_delivered")
        self.assertRegex(r.doc["id"], r"^[1-9]\d*$")
        self.assertIn("not delivered to c", r.doc["detail"])
        self.assertGreaterEqual(r.elapsed, TIMEOUT_MS / 1000 - 0.1, r)
        self.assertEqual(r.stderr.count("\n"), 1, r)
        after = console(self.a, "stats").doc
        self.assertGreaterEqual(after["not_delivered"],
                                before["not_delivered"] + 1)
        self.assertGreater(after["retransmitted"], before["retransmitted"])
        # c read every copy once it resumed: the text is stored once.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            texts = inbox_texts(self.c)
            if ("a", "are you there") in texts:
                break
            time.sleep(0.1)
        self.assertEqual(inbox_texts(self.c).count(("a", "are you there")),
                         1, self.c.tail())

    def test_send_wait_with_confirmation_off(self):
        r = console(self.d, "send", "--wait", "c", "unconfirmed")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.doc["error"], "confirmation_off", r)
        self.assertIn("delivery_timeout_ms is 0", r.doc["detail"])
        self.assertRegex(r.doc["id"], r"^[1-9]\d*$")

    def test_send_wait_usage(self):
        for args in (["send", "--wait"],
                     ["send", "--wait", "all", "hi"]):
            r = console(self.a, *args)
            self.assertEqual(r.rc, 2, r)
            self.assertEqual(r.doc["error"], "usage", r)

    def test_stats_counters(self):
        r = console(self.a, "stats")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("retransmitted", r.doc)
        self.assertIn("not_delivered", r.doc)
        r = console(self.a, "stats", "--prometheus", json_out=False)
        self.assertIn('quilt_retransmitted_total{node="a"} ', r.stdout)
        self.assertIn('quilt_not_delivered_total{node="a"} ', r.stdout)

    def test_line_interface_says_delivered(self):
        self.a.command("c from the line", r"^delivered to c in [\d.]+ ms$")

    def test_line_interface_says_not_delivered(self):
        self.c.pause()
        try:
            self.a.command("c while stopped", r"^not delivered to c \(no "
                           r"confirmation within delivery_timeout_ms\)$")
        finally:
            self.c.resume()


class ForeignUnicastTest(QuiltTestCase):
    def test_a_foreign_peer_that_never_confirms_gets_a_few_copies(self):
        n = ConfirmingNode(self.workdir, "qn", heartbeat_ms=100,
                           dead_after_ms=5000)
        self.nodes.append(n)
        n.start()
        py = ForeignPeer(n.endpoint)
        self.addCleanup(py.close)
        py.server_connect("*")
        self.assertIsNotNone(py.wait_for(
            lambda f: len(f) > 2 and f[2] == b"server_connect", 5), n.tail())
        self.assertIsNotNone(n.wait_log(r"\] peer py-peer \(.*\) is up$", 5))
        result = {}
        t = threading.Thread(target=lambda: result.update(r=console(
            n, "send", "--wait", "py-peer", "copy", "count")))
        t.start()
        # Keep answering heartbeats (and reading copies) meanwhile.
        while t.is_alive():
            py.pump(0.05)
        t.join()
        py.pump(0.5)
        r = result["r"]
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.doc["error"], "not_delivered", r)
        copies = [f for _, f in py.received
                  if len(f) > 6 and f[2] == b"msg"
                  and f[4] == r.doc["id"].encode()]
        # [routing id, destination, msg, origin, id, ttl, text]. A few
        # copies (at most 3), not one every 50 ms for 1.5 s.
        self.assertGreaterEqual(len(copies), 1)
        self.assertLessEqual(len(copies), 3, copies)
        self.assertEqual(copies[0][6:], [b"copy count"])


class DeliveryTimeoutConfigTest(QuiltTestCase):
    def run_quiltd(self, path):
        p = subprocess.run([quiltd_path(), path], cwd=self.workdir,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        return p.returncode, p.stderr.decode()

    def test_bad_values_exit_2_with_file_and_line(self):
        cases = [
            ("600001", "limits.delivery_timeout_ms must be 0..600000, "
                       "got 600001"),
            ("-1", "limits.delivery_timeout_ms must be 0..600000, got -1"),
            ('"10s"', "limits.delivery_timeout_ms must be an integer, "
                      "got string"),
        ]
        for value, what in cases:
            with self.subTest(value):
                path = os.path.join(self.workdir, "bad.toml")
                with open(path, "w") as f:
                    f.write("[node]\nport = %d\n[console]\nport = 0\n"
                            "[limits]\ndelivery_timeout_ms = %s\n"
                            % (free_port(), value))
                rc, err = self.run_quiltd("bad.toml")
                self.assertEqual(rc, 2, err)
                self.assertEqual(err, "bad.toml:6: %s\n" % what)

    def test_good_values_start(self):
        for value in (0, 600000):
            with self.subTest(value):
                path = os.path.join(self.workdir, "good%d.toml" % value)
                with open(path, "w") as f:
                    f.write("[node]\nname = \"ok\"\nport = %d\n[console]\n"
                            "port = 0\n[limits]\ndelivery_timeout_ms = %d\n"
                            % (free_port(), value))
                p = subprocess.Popen([quiltd_path(), path],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
                time.sleep(0.5)
                self.assertIsNone(p.poll(), p.stderr.read() if p.poll()
                                  is not None else "")
                p.terminate()
                self.assertEqual(p.wait(10), 0)

    def test_quilt_sim_defaults_key(self):
        path = os.path.join(self.workdir, "sim.toml")
        with open(path, "w") as f:
            f.write("[simulation]\ntransport = \"direct\"\n\n[defaults]\n"
                    "delivery_timeout_ms = 700000\n\n[topology]\n"
                    "kind = \"line\"\nnodes = 2\n")
        p = subprocess.run([sim_path(), "sim.toml"], cwd=self.workdir,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr.decode(),
                         "sim.toml:5: defaults.delivery_timeout_ms must be "
                         "0..600000, got 700000\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
