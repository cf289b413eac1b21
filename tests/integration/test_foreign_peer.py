#!/usr/bin/python3
"""A foreign ZeroMQ peer written in Python joins a node (SPEC sections 3,
4, 6): it binds its own ROUTER, connects a DEALER whose routing id is its
name, and introduces itself with server_connect. The node must connect
back, answer with its own server_connect, answer pings with pongs, and
heartbeat the new neighbour."""

import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
from quilt_harness import QuiltTestCase, context, free_port, b  # noqa: E402

ME = "py-peer"


class ForeignPeer:
    """A minimal Quilt peer: ROUTER to listen on, DEALER to talk on."""

    def __init__(self, node_endpoint, name=ME):
        self.name = name
        self.port = free_port()
        self.router = context().socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind("tcp://127.0.0.1:%d" % self.port)
        self.dealer = context().socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.ROUTING_ID, name.encode())
        self.dealer.connect(node_endpoint)
        self.next_id = random.randrange(1, 2 ** 62)
        self.received = []  # (time.monotonic(), [frames]) from the ROUTER
        self.auto_pong = True  # answer heartbeats like a Quilt node

    def close(self):
        self.router.close()
        self.dealer.close()

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def send(self, *frames):
        self.dealer.send_multipart([b(f) for f in frames])

    def server_connect(self, destination="*"):
        mid = self.new_id()
        self.send(destination, "server_connect", self.name, mid, 1,
                  "127.0.0.1", self.port, "quilt/1")
        return mid

    def pump(self, timeout):
        """Reads whatever arrives on the ROUTER for `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.router.poll(int(left * 1000) + 1):
                while True:
                    try:
                        frames = self.router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.received.append((time.monotonic(), frames))
                    if (self.auto_pong and len(frames) >= 6
                            and frames[1] == self.name.encode()
                            and frames[2] == b"ping"):
                        # [routing id, dest, ping, origin, id, ttl, ...]
                        self.send(frames[3], "pong", self.name, self.new_id(),
                                  32, frames[4])

    def wait_for(self, pred, timeout, since=0):
        """First received message at index >= since with pred(frames)."""
        i = self.wait_index(pred, timeout, since)
        return None if i is None else self.received[i][1]

    def wait_index(self, pred, timeout, since=0):
        """Index of the first received message at index >= since with
        pred(frames), or None."""
        deadline = time.monotonic() + timeout
        i = since
        while True:
            while i < len(self.received):
                if pred(self.received[i][1]):
                    return i
                i += 1
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.pump(min(left, 0.05))

    def mark(self):
        return len(self.received)


def text(frames):
    return [f.decode("utf-8", "replace") for f in frames]


class ForeignPeerTest(QuiltTestCase):
    # Heartbeats every 100 ms; but this Python peer only answers them while
    # it pumps its ROUTER, so the node is slow to call it down (except in
    # the test of exactly that), lest a loaded machine make it flap.
    DEAD_AFTER_MS = {"test_silent_foreign_peer_goes_down": 500}

    def setUp(self):
        super().setUp()
        dead_after = self.DEAD_AFTER_MS.get(self._testMethodName, 5000)
        self.n = self.node("qn", heartbeat_ms=100, dead_after_ms=dead_after)
        self.n.start(pty=True)
        self.py = ForeignPeer(self.n.endpoint)
        self.addCleanup(self.py.close)

    def join(self):
        """server_connect to *, then the node's answer on our ROUTER."""
        self.py.server_connect("*")
        answer = self.py.wait_for(
            lambda f: len(f) > 2 and f[2] == b"server_connect", 5)
        if answer is None:
            self.fail("no server_connect from the node; it got %r\n%s"
                      % (self.n.stats(), self.n.tail()))
        return text(answer)

    def test_node_connects_back_and_answers_server_connect(self):
        answer = self.join()
        # The node's DEALER carries its name as routing id (SPEC 3), and
        # the answer is addressed to us, ttl 1, with the node's endpoint.
        self.assertEqual(answer[0], "qn")
        self.assertEqual(answer[1:4], [ME, "server_connect", "qn"])
        self.assertRegex(answer[4], r"^(0|[1-9]\d*)$")
        self.assertEqual(answer[5], "1")
        self.assertEqual(answer[6:8], ["127.0.0.1", str(self.n.port)])
        self.assertTrue(answer[8].startswith("quilt/"), answer)
        self.assertEqual(len(answer), 9)
        self.assertIsNotNone(self.n.wait_log(
            r"\] peer %s \(127\.0\.0\.1:%d\) is up$" % (ME, self.py.port), 3))
        row = [r for r in self.n.peers() if r["name"] == ME]
        self.assertEqual(len(row), 1, self.n.tail())
        self.assertEqual(row[0]["state"], "up")
        self.assertEqual(row[0]["address"], "127.0.0.1:%d" % self.py.port)

    def test_ping_gets_pong(self):
        self.join()
        for nonce in (None, "nonce-42"):
            mark = self.py.mark()
            pid = self.py.new_id()
            extra = [] if nonce is None else [nonce]
            self.py.send("qn", "ping", ME, pid, 5, *extra)
            pong = self.py.wait_for(
                lambda f: len(f) > 2 and f[2] == b"pong", 5, since=mark)
            self.assertIsNotNone(pong, "no pong\n" + self.n.tail())
            pong = text(pong)
            # [routing id, destination, pong, origin, id, ttl, ping id(, nonce)]
            self.assertEqual(pong[0], "qn")
            self.assertEqual(pong[1:4], [ME, "pong", "qn"])
            self.assertRegex(pong[4], r"^(0|[1-9]\d*)$")
            self.assertRegex(pong[5], r"^(0|[1-9]\d*)$")
            self.assertGreaterEqual(int(pong[5]), 1)
            self.assertEqual(pong[6:], [str(pid)] + extra)

    def test_node_heartbeats_the_foreign_peer(self):
        self.join()
        # Listen for a second (pump() answers each heartbeat with a pong,
        # so the link stays up) and count what the node sends us.
        mark = self.py.mark()
        window = 1.0
        self.py.pump(window)
        beats = [text(f) for _, f in self.py.received[mark:]
                 if len(f) > 2 and f[2] == b"ping"]
        for hb in beats:
            # Destination the neighbour's name, ttl 1 (SPEC 6).
            self.assertEqual(hb[:4], ["qn", ME, "ping", "qn"])
            self.assertRegex(hb[4], r"^(0|[1-9]\d*)$")
            self.assertEqual(hb[5], "1")
            self.assertLessEqual(len(hb), 7)
        # About one every heartbeat_ms (100 ms): neither silent nor a flood.
        # (Counted over the window: arrival times of single messages say
        # little when this process is slow to read them.)
        self.assertGreaterEqual(len(beats), 3, self.n.tail())
        self.assertLessEqual(len(beats), 2 * window * 1000 / 100 + 2, beats)
        self.assertEqual(len({hb[4] for hb in beats}), len(beats),
                         "heartbeat ids repeat")
        # The pongs to the heartbeats give the node an RTT for us.
        deadline = time.monotonic() + 3
        while True:
            row = [r for r in self.n.peers() if r["name"] == ME]
            if (row and row[0]["rtt"] != "-") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertTrue(row and row[0]["state"] == "up", self.n.tail())
        self.assertRegex(row[0]["rtt"], r"^[\d.]+ ms$")

    def test_addressed_server_connect_on_an_up_link_is_not_answered(self):
        # SPEC 6: the node answers a server_connect addressed to it only
        # when it had no up link to the sender, so two nodes never answer
        # each other for ever.
        self.join()
        self.assertIsNotNone(self.n.wait_log(r"\] peer %s .* is up$" % ME, 3))
        self.assertEqual(self.n.peer_state(ME), "up")
        mark = self.py.mark()
        self.py.server_connect("qn")
        self.py.pump(0.5)  # answering heartbeats: the link stays up
        again = [f for _, f in self.py.received[mark:]
                 if len(f) > 2 and f[2] == b"server_connect"]
        self.assertEqual(again, [])
        self.assertEqual(self.n.peer_state(ME), "up")

    def test_silent_foreign_peer_goes_down(self):
        self.py.auto_pong = False
        self.join()
        up = self.n.wait_log(r"\] peer %s .* is up$" % ME, 3)
        self.assertIsNotNone(up)
        # We never answer the heartbeats: after dead_after_ms (500) the node
        # must call us down.
        down = self.n.wait_log(r"\] peer %s .* is down$" % ME, 3)
        self.assertIsNotNone(down, self.n.tail())
        self.assertEqual(self.n.peer_state(ME), "down")


if __name__ == "__main__":
    unittest.main(verbosity=2)
