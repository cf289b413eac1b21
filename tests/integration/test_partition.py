#!/usr/bin/python3
"""Partitions and healing (SPEC section 6): a node that stops answering
(SIGSTOP, so its TCP connections stay open) is declared down, and routes
across it are gone from every node within dead_after_ms + 2 x heartbeat_ms;
once it runs again (SIGCONT) the mesh heals by itself."""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import msg_line, QuiltTestCase, free_port, wait_routes  # noqa: E402

HEARTBEAT_MS = 100
DEAD_AFTER_MS = 500
TOLERANCE_S = 0.5  # scheduling slack (SPEC bounds are for an idle machine)
WITHDRAW_S = (DEAD_AFTER_MS + 2 * HEARTBEAT_MS) / 1000 + TOLERANCE_S
HEAL_S = 10.0


def verbose(text):
    if os.environ.get("QUILT_TEST_VERBOSE"):
        sys.stderr.write(text + "\n")


class PartitionTest(QuiltTestCase):
    def start_all(self, nodes, links):
        for node in nodes:
            node.start(pty=True)
        done, wrong = wait_routes(nodes, links, 10)
        self.assertIsNotNone(done, "never converged:\n%s" % wrong)

    def resume_at_cleanup(self, node):
        # Resume a node a failed test left stopped before the harness kills
        # it (SIGKILL would end it anyway; this keeps the teardown plain).
        self.addCleanup(lambda: node.alive() and node.resume())

    def test_line_cut_in_the_middle(self):
        pb, pc = free_port(), free_port()
        a = self.node("a", peers=[pb], heartbeat_ms=HEARTBEAT_MS,
                      dead_after_ms=DEAD_AFTER_MS)
        b = self.node("b", port=pb, peers=[pc], heartbeat_ms=HEARTBEAT_MS,
                      dead_after_ms=DEAD_AFTER_MS)
        c = self.node("c", port=pc, heartbeat_ms=HEARTBEAT_MS,
                      dead_after_ms=DEAD_AFTER_MS)
        line = [("a", "b"), ("b", "c")]
        self.start_all([a, b, c], line)
        self.assertEqual(a.routes(), {"b": ("b", 1), "c": ("b", 2)})
        self.assertRegex(a.ping("c"), r"^pong from c in ")

        # b freezes: a and c are cut off from each other (and from b).
        self.resume_at_cleanup(b)
        stopped_at = b.pause()
        done, wrong = wait_routes([a, c], [], WITHDRAW_S + 5)
        self.assertIsNotNone(done, "routes across a frozen b remain:\n%s"
                             % wrong)
        verbose("routes withdrawn %.3fs after SIGSTOP" % (done - stopped_at))
        self.assertLessEqual(done - stopped_at, WITHDRAW_S,
                             "routes withdrawn only %.3fs after SIGSTOP"
                             % (done - stopped_at))
        self.assertEqual(a.routes(), {})
        self.assertEqual(a.block("/routes").strip().splitlines()[-1:],
                         ["no routes"])
        self.assertEqual(a.ping("c"), "no pong from c: unreachable")
        self.assertEqual(c.ping("a"), "no pong from a: unreachable")
        self.assertTrue(a.wait_peer_state("b", "down", 1), a.tail())
        self.assertTrue(c.wait_peer_state("b", "down", 1), c.tail())
        # Still cut off a while later: nothing resurrects the routes.
        time.sleep(3 * HEARTBEAT_MS / 1000)
        self.assertEqual(a.routes(), {})
        self.assertEqual(c.routes(), {})

        # b runs again: the mesh heals without help.
        resumed_at = b.resume()
        done, wrong = wait_routes([a, b, c], line, HEAL_S + 5)
        self.assertIsNotNone(done, "the line never healed:\n%s" % wrong)
        verbose("healed %.3fs after SIGCONT" % (done - resumed_at))
        self.assertLessEqual(done - resumed_at, HEAL_S,
                             "healed only %.3fs after SIGCONT"
                             % (done - resumed_at))
        self.assertRegex(a.ping("c"), r"^pong from c in ")
        self.assertRegex(c.ping("a"), r"^pong from a in ")
        hops, reached, text = a.traceroute("c")
        self.assertEqual(hops, [(1, "b"), (2, "c")], text)
        self.assertTrue(reached, text)

    def test_ring_split_in_two(self):
        names = ["n%d" % i for i in range(6)]
        ring = [(names[i], names[(i + 1) % 6]) for i in range(6)]
        ports = [free_port() for _ in names]
        n = [self.node(name, port=ports[i], peers=[ports[(i + 1) % 6]],
                       heartbeat_ms=HEARTBEAT_MS, dead_after_ms=DEAD_AFTER_MS)
             for i, name in enumerate(names)]
        self.start_all(n, ring)
        self.assertEqual(n[0].routes()["n2"], ("n1", 2))
        self.assertEqual(n[0].routes()["n4"], ("n5", 2))

        # Freezing two opposite nodes (n1, n4) leaves two halves:
        # {n2, n3} and {n5, n0}.
        for x in (n[1], n[4]):
            self.resume_at_cleanup(x)
        stopped_at = n[1].pause()
        n[4].pause()
        halves = [("n2", "n3"), ("n5", "n0")]
        live = [n[0], n[2], n[3], n[5]]
        done, wrong = wait_routes(live, halves, WITHDRAW_S + 5)
        self.assertIsNotNone(done, "the split ring kept routes:\n%s" % wrong)
        verbose("ring split %.3fs after SIGSTOP" % (done - stopped_at))
        self.assertLessEqual(done - stopped_at, WITHDRAW_S,
                             "routes withdrawn only %.3fs after SIGSTOP"
                             % (done - stopped_at))
        self.assertEqual(n[0].routes(), {"n5": ("n5", 1)})
        self.assertEqual(n[2].routes(), {"n3": ("n3", 1)})
        # Within a half: fine. Across: nothing gets through.
        self.assertRegex(n[0].ping("n5"), r"^pong from n5 in ")
        self.assertRegex(n[3].ping("n2"), r"^pong from n2 in ")
        for src, dst in ((n[0], n[2]), (n[0], n[3]), (n[2], n[5]),
                         (n[3], n[0]), (n[5], n[3])):
            self.assertEqual(src.ping(dst.name),
                             "no pong from %s: unreachable" % dst.name)
        n[0].command("n3 across", r"^not sent to n3: unreachable$")
        text = "half broadcast %d" % time.monotonic_ns()
        n[2].command("all %s" % text, r"^sent to all \(id \d+\)$")
        self.assertIsNotNone(n[3].out.wait(msg_line("n2", "all", text), 5))
        time.sleep(3 * HEARTBEAT_MS / 1000)
        for other in (n[0], n[5]):
            self.assertNotIn(text, other.out.text)

        # Both run again: the whole ring's shortest paths come back.
        resumed_at = n[1].resume()
        n[4].resume()
        done, wrong = wait_routes(n, ring, HEAL_S + 5)
        self.assertIsNotNone(done, "the ring never healed:\n%s" % wrong)
        verbose("ring healed %.3fs after SIGCONT" % (done - resumed_at))
        self.assertLessEqual(done - resumed_at, HEAL_S,
                             "healed only %.3fs after SIGCONT"
                             % (done - resumed_at))
        for src, dst in ((n[0], n[3]), (n[3], n[0]), (n[2], n[5]),
                         (n[5], n[2]), (n[1], n[4]), (n[4], n[1])):
            self.assertRegex(src.ping(dst.name),
                             r"^pong from %s in " % dst.name)
        hops, reached, text = n[1].traceroute("n4")
        self.assertEqual(len(hops), 3, text)
        self.assertEqual(hops[-1], (3, "n4"), text)
        self.assertTrue(reached, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
