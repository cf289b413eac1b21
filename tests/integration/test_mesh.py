#!/usr/bin/python3
"""Three quiltd processes over TCP loopback, linked as the demo ring
a -> b -> c -> a through [[peers]] and server_connect (SPEC sections 3, 5,
6, 8). Every node runs the line interface on a pseudo-terminal."""

import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import (msg_line, QuiltTestCase, free_port, req,  # noqa: E402
                           wait_until)


class MeshTest(QuiltTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pa, pb, pc = free_port(), free_port(), free_port()
        # Each node knows only the next one; server_connect links the rest.
        cls.a = cls.class_node("a", port=pa, peers=[pb], dead_after_ms=1000)
        cls.b = cls.class_node("b", port=pb, peers=[pc], dead_after_ms=1000)
        cls.c = cls.class_node("c", port=pc, peers=[pa], dead_after_ms=1000)
        for n in (cls.a, cls.b, cls.c):
            n.start(pty=True)
        # Every node hears from both others (each pair is linked both ways).
        for n in (cls.a, cls.b, cls.c):
            for other in (cls.a, cls.b, cls.c):
                if other is n:
                    continue
                line = n.wait_log(r"\] peer %s \(127\.0\.0\.1:%d\) is up$"
                                  % (other.name, other.port), timeout=10)
                if line is None:
                    raise AssertionError("%s never saw %s up\n%s"
                                         % (n.name, other.name, n.tail()))

    def test_peers_table_lists_both_neighbours_up(self):
        for n in (self.a, self.b, self.c):
            rows = {r["name"]: r for r in n.peers()}
            others = {o.name: o for o in (self.a, self.b, self.c) if o is not n}
            self.assertEqual(set(rows), set(others), n.tail())
            for name, o in others.items():
                self.assertEqual(rows[name]["state"], "up")
                self.assertEqual(rows[name]["address"], "127.0.0.1:%d" % o.port)

    def test_tables_have_the_console_columns(self):
        peers = self.a.block("/peers").splitlines()
        self.assertRegex(peers[0],
                         r"^NAME\s+ADDRESS\s+PORT\s+STATE\s+RTT\s+LAST SEEN$")
        routes = self.a.block("/routes").splitlines()
        self.assertRegex(routes[0], r"^DESTINATION\s+NEXT HOP\s+HOPS$")

    def test_ping_all_shows_every_answer(self):
        text = self.a.block("/ping all", timeout=8)
        answers = re.findall(r"^pong from (\S+) in \d+\.\d{3} ms$", text, re.M)
        self.assertEqual(sorted(answers), ["b", "c"], text)
        self.assertRegex(text, r"(?m)^2 nodes answered within 2 s$")

    def test_help_lists_every_command(self):
        text = self.a.block("/help")
        for cmd in ("/connect", "/ping", "/peers", "/routes", "/traceroute",
                    "/stats", "/help", "/quit", "DEST TEXT"):
            self.assertRegex(text, r"(?m)^  %s\b" % re.escape(cmd), text)

    def test_ping_neighbours(self):
        for target in ("b", "c"):
            answer = self.a.ping(target)
            self.assertRegex(answer, r"^pong from %s in \d+\.\d{3} ms$" % target)
        # And the other way round, from the node that only learnt of a
        # through server_connect.
        self.assertRegex(self.b.ping("a"), r"^pong from a in ")

    def test_ping_unknown_node_fails(self):
        answer = self.a.ping("nobody")
        self.assertRegex(answer, r"^no pong from nobody: ")

    def test_msg_to_one_node(self):
        text = "hello gamma %d" % time.monotonic_ns()
        m = self.a.command("c %s" % text, r"^sent to c \(id (\d+)\)$")
        self.assertGreater(int(m.group(1)), 0)
        line = msg_line("a", "c", text)
        self.assertIsNotNone(self.c.out.wait(line, 5), self.c.tail())
        # c logs it too; b never sees it; nothing is delivered twice.
        self.assertIsNotNone(self.c.wait_log(r"msg from a to c: %s$"
                                             % re.escape(text), 2))
        time.sleep(0.5)  # room for a duplicate to show up
        self.assertEqual(len(re.findall(line, self.c.out.text, re.M)), 1)
        self.assertNotIn(text, self.b.out.text)
        self.assertNotIn("to=c id", self.a.out.text)

    def test_forwarding_and_ttl_expiry(self):
        # A client hands b messages for c (SPEC 5, step 5): with ttl 2 b
        # forwards it (ttl 1) and c delivers it; with ttl 1 b drops it
        # (dropped_ttl). The client writes an origin of its own: one that
        # names a node of the mesh would be dropped as spoofed (SPEC 12).
        before = self.b.stats()
        mid = random.randrange(10 ** 12, 10 ** 15)
        text = "forwarded %d" % mid
        self.assertEqual(req(self.b.endpoint, ["c", "msg", "outsider", mid,
                                               "2", text]), [b"ack"])
        self.assertIsNotNone(
            self.c.out.wait(msg_line("outsider", "c", text), 5), self.c.tail())
        self.assertEqual(req(self.b.endpoint, ["c", "msg", "outsider",
                                               mid + 1, "1",
                                               "expiring %d" % mid]), [b"ack"])
        self.assertTrue(wait_until(
            lambda: self.b.stats()["dropped_ttl"] - before["dropped_ttl"] == 1,
            5), self.b.tail())
        self.assertNotIn("expiring %d" % mid, self.c.out.text)
        after = self.b.stats()
        self.assertGreaterEqual(after["forwarded"] - before["forwarded"], 1)
        self.assertEqual(after["dropped_ttl"] - before["dropped_ttl"], 1)
        self.assertEqual(after.get("dropped_spoofed", 0)
                         - before.get("dropped_spoofed", 0), 0)

    def test_broadcast_reaches_every_other_node_exactly_once(self):
        for word in ("all", "*"):
            text = "broadcast via %s %d" % (word, time.monotonic_ns())
            self.a.command("%s %s" % (word, text), r"^sent to %s \(id \d+\)$"
                           % re.escape(word))
            # A received broadcast is shown with "all" as its destination.
            line = msg_line("a", "all", text)
            for n in (self.b, self.c):
                self.assertIsNotNone(n.out.wait(line, 5), n.tail())
            # b and c also relay it to each other (ttl > 1); dedupe must
            # keep each delivery single. Wait several heartbeats.
            time.sleep(0.6)
            for n in (self.b, self.c):
                self.assertEqual(len(re.findall(line, n.out.text, re.M)), 1,
                                 n.tail())
            # The origin does not deliver its own broadcast.
            self.assertNotRegex(self.a.out.text, msg_line("a", "all", text))
        # The relayed copies were counted as duplicates somewhere.
        dups = sum(n.stats()["dropped_duplicate"] for n in (self.b, self.c))
        self.assertGreaterEqual(dups, 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
