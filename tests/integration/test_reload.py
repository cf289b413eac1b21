#!/usr/bin/python3
"""Reloading a running node's config (SPEC section 15): SIGHUP,
quilt-console reload and the line interface's /reload. Added [[peers]]
are dialled and removed ones closed while untouched links stay up; a
revoked CURVE key's connection is closed and refused from then on; a file
that fails to load is reported with FILE:LINE and changes nothing; a key
that needs a restart is named; the log level is applied."""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import (QuiltTestCase, context, free_port,  # noqa: E402
                           quiltd_path, wait_until)
from console_harness import ConsoleNode, console  # noqa: E402


def keygen(path):
    r = subprocess.run([quiltd_path(), "--keygen", path],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r
    with open(path + ".pub") as f:
        return f.read().strip()


class FakePeer:
    """A ROUTER that a node dials as a configured peer and that never
    answers or dials back: what arrives on it says whether the node still
    has a link to it."""

    def __init__(self):
        self.port = free_port()
        self.sock = context().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:%d" % self.port)

    def received(self, seconds):
        """Messages that arrive within `seconds`."""
        n = 0
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return n
            if self.sock.poll(int(left * 1000)):
                self.sock.recv_multipart()
                n += 1

    def close(self):
        self.sock.close()


def peer_states(node):
    return {p["name"] or "%s:%s" % (p["address"], p["port"]): p["state"]
            for p in console(node, "peers").doc}


def set_peers(node, ports):
    node.peer_ports = list(ports)
    node.write_config()


class ReloadPeersTest(QuiltTestCase):
    def test_added_dialled_removed_closed_untouched_stays_up(self):
        c = self.node("c", heartbeat_ms=100, dead_after_ms=600)
        b = self.node("b", heartbeat_ms=100, dead_after_ms=600)
        fake = FakePeer()
        self.addCleanup(fake.close)
        a = ConsoleNode(self.workdir, "a", peers=[c.port, fake.port],
                        heartbeat_ms=100, dead_after_ms=600)
        self.nodes.append(a)
        for n in (c, b, a):
            n.start(pty=False)
        self.assertTrue(wait_until(lambda: peer_states(a).get("c") == "up",
                                   10), a.tail())
        self.assertGreater(fake.received(0.5), 0)  # a dials the fake peer
        mark = a.log_mark()

        # b added, the fake peer removed, c untouched.
        set_peers(a, [c.port, b.port])
        a.proc.send_signal(signal.SIGHUP)
        self.assertTrue(a.wait_log(r"reloaded: peers added: 127\.0\.0\.1:%d; "
                                   r"peers removed: 127\.0\.0\.1:%d"
                                   % (b.port, fake.port), 10, since=mark),
                        a.tail())
        self.assertTrue(wait_until(lambda: peer_states(a).get("b") == "up",
                                   10), a.tail())
        # Nothing more for the removed peer once what was on its way is in.
        fake.received(0.5)
        self.assertEqual(fake.received(1.5), 0)
        states = peer_states(a)
        self.assertNotIn("127.0.0.1:%d" % fake.port, states)
        # c's link was never touched: it never went down, in a's log or c's.
        self.assertEqual(states.get("c"), "up")
        self.assertEqual(a.find_logs(r"peer c .* is down", since=mark), [])
        self.assertEqual(c.find_logs(r"peer a .* is down"), [])
        self.assertTrue(a.alive())


class ReloadConsoleTest(QuiltTestCase):
    def test_broken_file_keeps_running_config(self):
        b = self.node("b", heartbeat_ms=100, dead_after_ms=600)
        a = ConsoleNode(self.workdir, "a", peers=[b.port],
                        heartbeat_ms=100, dead_after_ms=600)
        self.nodes.append(a)
        b.start(pty=False)
        a.start(pty=False)
        self.assertTrue(wait_until(lambda: peer_states(a).get("b") == "up",
                                   10), a.tail())
        with open(a.config_path) as f:
            good = f.read()
        # The peer gone and a bad key on line 3: nothing may change.
        gone = re.sub(r"(?m)^\[\[peers\]\]\n.*\n.*\n", "", good)
        self.assertNotEqual(gone, good)
        lines = gone.splitlines()
        lines.insert(2, "colour = 5")
        with open(a.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        mark = a.log_mark()
        a.proc.send_signal(signal.SIGHUP)
        want = (r"reload failed, running configuration kept: %s:3: unknown "
                r"key 'colour' in \[node\]" % a.config_path)
        self.assertTrue(a.wait_log(want, 10, since=mark), a.tail())
        r = console(a, "reload")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.doc["error"], "bad_config")
        self.assertRegex(r.doc["detail"], "^%s:3: unknown key" % a.config_path)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        time.sleep(1)
        self.assertEqual(peer_states(a).get("b"), "up")
        self.assertTrue(a.alive())
        # Still at info: a sent msg logs nothing at debug.
        self.assertEqual(console(a, "send", "b", "before").rc, 0)
        time.sleep(0.3)
        self.assertEqual(a.find_logs(r"^\S+ debug "), [])

        # Fixed, with a key that needs a restart and another log level.
        with open(a.config_path, "w") as f:
            f.write(good.replace("heartbeat_ms = 100", "heartbeat_ms = 150")
                    .replace('level = "info"', 'level = "debug"'))
        r = console(a, "reload")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc, {"reloaded": True, "peers_added": [],
                                 "peers_removed": [], "links_revoked": 0,
                                 "log_level": "debug",
                                 "restart_needed": ["timing.heartbeat_ms"]})
        self.assertTrue(a.wait_log(r"warning \[a\] reload: timing\.heartbeat_ms "
                                   r"changed; the running node keeps the old "
                                   r"value until it is restarted", 5),
                        a.tail())
        # debug lines show from now on (a sent msg is logged at debug).
        self.assertEqual(console(a, "send", "b", "after").rc, 0)
        self.assertTrue(a.wait_log(r"^\S+ debug \[a\] ", 10), a.tail())
        text = console(a, "reload", json_out=False)
        self.assertEqual(text.rc, 0, text)
        self.assertIn("needs a restart to take effect: timing.heartbeat_ms",
                      text.stdout)
        self.assertEqual(console(a, "reload", "x").rc, 2)

    def test_line_interface_reload(self):
        b = self.node("b", heartbeat_ms=100, dead_after_ms=600)
        a = self.node("a", heartbeat_ms=100, dead_after_ms=600)
        b.start(pty=False)
        a.start(pty=True)
        set_peers(a, [b.port])
        a.send_line("/reload")
        self.assertTrue(a.out.wait(r"reloaded: peers added: 127\.0\.0\.1:%d"
                                   % b.port, 10), a.tail())
        a.wait_peer_state("b", "up", 10)


class ReloadKeysTest(QuiltTestCase):
    def test_revoked_key_closed_and_refused(self):
        keys = {n: keygen(os.path.join(self.workdir, "%s.key" % n))
                for n in "ab"}
        auth = os.path.join(self.workdir, "a.auth")
        with open(auth, "w") as f:
            f.write("%s b\n" % keys["b"])
        a = ConsoleNode(self.workdir, "a", heartbeat_ms=100, dead_after_ms=600,
                        extra_toml='\n[security]\ncurve = true\n'
                                   'secret_key_file = "a.key"\n'
                                   'authorized_keys = "a.auth"\n')
        self.nodes.append(a)
        # b dials a (a does not list b; b's key is in a's authorized_keys).
        b = self.node("b", peers=[a.port], peer_keys=[keys["a"]],
                      heartbeat_ms=100, dead_after_ms=600,
                      extra_toml='\n[security]\ncurve = true\n'
                                 'secret_key_file = "b.key"\n')
        a.start(pty=False)
        b.start(pty=False)
        self.assertTrue(wait_until(lambda: peer_states(a).get("b") == "up",
                                   10), a.tail() + b.tail())
        rejected = console(a, "stats").doc["rejected_auth"]

        with open(auth, "w") as f:
            f.write("# b revoked\n")
        r = console(a, "reload")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc["links_revoked"], 1, r.doc)
        self.assertTrue(a.wait_log(r"its key is no longer authorized", 5),
                        a.tail())
        # b's connection is shut down and its reconnections are refused.
        self.assertTrue(wait_until(
            lambda: console(a, "stats").doc["rejected_auth"] > rejected, 10),
            a.tail())
        self.assertTrue(b.wait_log(r"peer a .* is down", 10), b.tail())
        time.sleep(1)
        self.assertNotEqual(peer_states(a).get("b"), "up")

        # No new link to b from a either: b's key speaks for nobody now.
        self.assertEqual(a.find_logs(r"peer b .* is up"), a.find_logs(
            r"peer b .* is up")[:1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
