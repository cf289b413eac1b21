#!/usr/bin/python3
"""Multi-hop routing on a line of five (SPEC sections 5, 6):
n0 - n1 - n2 - n3 - n4, each node configured with the next one as its only
[[peers]] entry, so every route beyond a neighbour is learnt from link_state
advertisements."""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import (msg_line, QuiltTestCase, free_port, route_mismatch,  # noqa: E402
                           shortest_routes, wait_routes)

HEARTBEAT_MS = 100
DEAD_AFTER_MS = 500
NAMES = ["n0", "n1", "n2", "n3", "n4"]
LINKS = list(zip(NAMES, NAMES[1:]))
# SPEC 6: full routes within 5 s of the last node's listen port accepting
# connections.
CONVERGE_S = 5.0


class Line5Test(QuiltTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ports = [free_port() for _ in NAMES]
        cls.n = []
        for i, name in enumerate(NAMES):
            peers = [ports[i + 1]] if i + 1 < len(NAMES) else []
            cls.n.append(cls.class_node(name, port=ports[i], peers=peers,
                                        heartbeat_ms=HEARTBEAT_MS,
                                        dead_after_ms=DEAD_AFTER_MS))
        # n0 first: each node dials a peer that is not listening yet, so
        # convergence includes the dialler's reconnect back-off.
        for node in cls.n:
            node.start(pty=True)
        cls.last_listening = max(node.listening_stamp() for node in cls.n)
        # Poll past the SPEC bound (so a slow convergence is reported with
        # its time, not as a hang); test_routes_converge_in_time judges it.
        cls.converged_at, cls.not_converged = wait_routes(
            cls.n, LINKS, CONVERGE_S + 5)

    def require_converged(self):
        if self.converged_at is None:
            self.fail("routes never converged:\n" + self.not_converged)

    def test_routes_converge_in_time(self):
        self.require_converged()
        took = self.converged_at - self.last_listening
        if os.environ.get("QUILT_TEST_VERBOSE"):
            sys.stderr.write("line of 5 converged %.3fs after the last node "
                             "listened\n" % took)
        self.assertLessEqual(took, CONVERGE_S,
                             "full routes only %.3fs after the last node "
                             "started" % took)

    def test_routes_on_n0(self):
        self.require_converged()
        routes = self.n[0].routes()
        self.assertEqual(routes, {"n1": ("n1", 1), "n2": ("n1", 2),
                                  "n3": ("n1", 3), "n4": ("n1", 4)})
        # The printed table: header, then one row per destination.
        text = self.n[0].block("/routes")
        self.assertRegex(text, r"(?m)^DESTINATION\s+NEXT HOP\s+HOPS$")
        self.assertRegex(text, r"(?m)^n4\s+n1\s+4$")

    def test_routes_everywhere(self):
        self.require_converged()
        # Every node routes both ways along the line, e.g. n2: n0 and n1
        # via n1, n3 and n4 via n3.
        self.assertEqual(self.n[2].routes(), {"n0": ("n1", 2), "n1": ("n1", 1),
                                              "n3": ("n3", 1), "n4": ("n3", 2)})
        self.assertEqual(self.n[4].routes(), {"n3": ("n3", 1), "n2": ("n3", 2),
                                              "n1": ("n3", 3), "n0": ("n3", 4)})
        for node in self.n:
            self.assertIsNone(route_mismatch(node.routes(),
                                             shortest_routes(LINKS, node.name)),
                              node.name)

    def test_ping_end_to_end(self):
        self.require_converged()
        self.assertRegex(self.n[0].ping("n4"), r"^pong from n4 in \d+\.\d{3} ms$")
        self.assertRegex(self.n[4].ping("n0"), r"^pong from n0 in \d+\.\d{3} ms$")
        self.assertRegex(self.n[1].ping("n3"), r"^pong from n3 in ")

    def test_msg_end_to_end(self):
        self.require_converged()
        text = "four hops %d" % time.monotonic_ns()
        self.n[0].command("n4 %s" % text, r"^sent to n4 \(id \d+\)$")
        line = msg_line("n0", "n4", text)
        self.assertIsNotNone(self.n[4].out.wait(line, 5), self.n[4].tail())
        # Relays forward it without printing it.
        for node in self.n[1:4]:
            self.assertNotRegex(node.out.text, line)
        # And a reply the other way.
        text = "back %d" % time.monotonic_ns()
        self.n[4].command("n0 %s" % text, r"^sent to n0 \(id \d+\)$")
        self.assertIsNotNone(
            self.n[0].out.wait(msg_line("n4", "n0", text), 5),
            self.n[0].tail())

    def test_traceroute(self):
        self.require_converged()
        hops, reached, text = self.n[0].traceroute("n4")
        self.assertEqual(hops, [(1, "n1"), (2, "n2"), (3, "n3"), (4, "n4")],
                         text)
        self.assertTrue(reached, text)
        self.assertRegex(text, r"(?m)^  1  n1\s+\d+\.\d{3} ms$")
        self.assertRegex(text, r"(?m)^reached n4$")
        # From the middle, one hop each way.
        hops, reached, text = self.n[2].traceroute("n0")
        self.assertEqual(hops, [(1, "n1"), (2, "n0")], text)
        self.assertTrue(reached, text)

    def test_unknown_destination_is_unreachable(self):
        self.require_converged()
        self.assertEqual(self.n[0].ping("nowhere"),
                         "no pong from nowhere: unreachable")
        self.n[0].command("nowhere hello",
                          r"^not sent to nowhere: unreachable$")
        hops, reached, text = self.n[0].traceroute("nowhere")
        self.assertFalse(reached, text)
        self.assertRegex(text, r"(?m)^did not reach nowhere$")
        self.assertNotIn("nowhere", self.n[0].routes())


if __name__ == "__main__":
    unittest.main(verbosity=2)
