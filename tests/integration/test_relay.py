#!/usr/bin/python3
"""Relaying (SPEC sections 1, 5, 6): a line a -> b <- c, where a and c
are not linked, so everything between them goes through b."""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import msg_line, QuiltTestCase, free_port  # noqa: E402


class RelayTest(QuiltTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pb = free_port()
        cls.b = cls.class_node("b", port=pb)
        cls.a = cls.class_node("a", peers=[pb])
        cls.c = cls.class_node("c", peers=[pb])
        for n in (cls.b, cls.a, cls.c):
            n.start(pty=True)
        for n, other in ((cls.a, cls.b), (cls.c, cls.b), (cls.b, cls.a),
                         (cls.b, cls.c)):
            if n.wait_log(r"\] peer %s \(127\.0\.0\.1:%d\) is up$"
                          % (other.name, other.port), timeout=10) is None:
                raise AssertionError("%s never saw %s up\n%s"
                                     % (n.name, other.name, n.tail()))

    def test_a_and_c_are_not_neighbours(self):
        self.assertEqual({r["name"] for r in self.a.peers()}, {"b"})
        self.assertEqual({r["name"] for r in self.c.peers()}, {"b"})

    def test_broadcast_is_relayed(self):
        text = "relayed broadcast %d" % time.monotonic_ns()
        self.a.command("all %s" % text, r"^sent to all \(id \d+\)$")
        line = msg_line("a", "all", text)
        for n in (self.b, self.c):
            self.assertIsNotNone(n.out.wait(line, 5), n.tail())
        time.sleep(0.5)
        for n in (self.b, self.c):
            self.assertEqual(len(re.findall(line, n.out.text, re.M)), 1)

    def test_ping_two_hops(self):
        # SPEC 6: a mesh has full routes within 5 s of its last node's start.
        deadline = time.monotonic() + 6
        while True:
            answer = self.a.ping("c")
            if answer.startswith("pong") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertRegex(answer, r"^pong from c in ")

    def test_msg_two_hops(self):
        text = "via b %d" % time.monotonic_ns()
        deadline = time.monotonic() + 6
        while True:
            m = self.a.command("c %s" % text,
                               r"^(sent to c \(id \d+\)|not sent to c: .*)$")
            if m.group(1).startswith("sent") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertRegex(m.group(1), r"^sent to c ")
        self.assertIsNotNone(
            self.c.out.wait(msg_line("a", "c", text), 5),
            self.c.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
