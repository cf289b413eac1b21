#!/usr/bin/python3
"""Bounded memory under a flood (issue 8): four raw libzmq senders push
2,000,000 messages as fast as libzmq takes them through a relay whose next
hop is stopped with SIGSTOP. The relay must stay under its memory bound,
count every message under an outcome (nothing is lost unseen: the senders
are pushed back, not dropped), keep answering pings, and recover once the
next hop is back.

    p --- r --- t (SIGSTOP)      flood: quilt_flood -> r, addressed to t
"""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import QuiltTestCase, binary_path  # noqa: E402

COUNT = int(os.environ.get("QUILT_FLOOD_COUNT", "2000000"))
# The documented bound (README, "Bounded memory"): a node holds at most
# inbound_limit messages between its socket and its protocol actor, and
# queue_limit per outgoing peer.
RSS_BOUND = 300 * 1024 * 1024

OUTCOMES = ("delivered", "forwarded", "dropped_invalid", "dropped_duplicate",
            "dropped_loop", "dropped_ttl", "dropped_unroutable",
            "dropped_queue_full", "dropped_overload")


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (key, pid))


class FloodTest(QuiltTestCase):
    def test_flood_through_a_relay_whose_next_hop_is_stopped(self):
        flood = binary_path("QUILT_FLOOD", "tests", "quilt_flood")
        t = self.node("t")
        t.start()
        r = self.node("r", peers=[t.port])
        r.start()
        p = self.node("p", peers=[r.port])
        p.start()
        for n, peer in ((r, "t"), (p, "r")):
            self.assertIsNotNone(n.wait_log(r"peer %s .* is up" % peer, 5))
        self.assertTrue(r.wait_peer_state("p", "up", 5))
        before = r.stats()
        t.pause()
        self.addCleanup(t.resume)
        result = {}

        def run():
            out = subprocess.run([flood, r.endpoint, "t", str(COUNT), "4",
                                  "16"], capture_output=True, text=True,
                                 timeout=600)
            result["proc"] = out

        sender = threading.Thread(target=run)
        sender.start()
        # While the flood runs, the relay still answers a neighbour's pings.
        pings = []
        forwarded = []  # a counter: it never goes down
        time.sleep(0.5)
        while sender.is_alive() and len(pings) < 5:
            pings.append(p.ping("r", timeout=10))
            forwarded.append(r.stats()["forwarded"])
            time.sleep(0.2)
        sender.join(620)
        out = result["proc"]
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual(report["sent"], COUNT)
        sys.stderr.write("flood: %s, pings during it: %s\n" % (report, pings))
        self.assertTrue(pings, "the flood ended before any ping was tried")
        for answer in pings:
            self.assertRegex(answer, r"^pong from r")
        # Every message reached the relay (blocking senders: pushed back,
        # never dropped on the way) and each has an outcome.
        deadline = time.monotonic() + 10
        while True:
            after = r.stats()
            rx = after["rx"] - before["rx"]
            outcomes = sum(after[k] - before[k] for k in OUTCOMES)
            if outcomes >= COUNT or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        sys.stderr.write("relay: rx %d, outcomes %d, stats %s\n"
                         % (rx, outcomes, after))
        self.assertGreaterEqual(rx, COUNT, after)
        self.assertGreaterEqual(outcomes, COUNT, after)
        # Heartbeats and link-state come on top of the flood; a few hundred
        # at most in these seconds.
        self.assertLess(abs(rx - outcomes), 200, (before, after))
        drops = sum(after[k] - before[k] for k in
                    ("dropped_queue_full", "dropped_unroutable"))
        self.assertGreater(drops, COUNT // 2, after)
        hwm = status_kib(r.proc.pid, "VmHWM") * 1024
        sys.stderr.write("relay peak RSS: %.1f MiB\n" % (hwm / 2 ** 20))
        self.assertLess(hwm, RSS_BOUND)
        # The copies queued for t expire (dead_after_ms) and are dropped:
        # they never counted as forwarded, so nothing is taken back.
        time.sleep(1.0)
        forwarded.append(r.stats()["forwarded"])
        self.assertEqual(forwarded, sorted(forwarded), forwarded)
        # The next hop comes back: the relay routes to it again.
        t.resume()
        deadline = time.monotonic() + 15
        answer = ""
        while time.monotonic() < deadline:
            answer = p.ping("t", timeout=3)
            if answer.startswith("pong from t"):
                break
        self.assertRegex(answer, r"^pong from t", r.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
