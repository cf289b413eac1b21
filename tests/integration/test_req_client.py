#!/usr/bin/python3
"""Lock-step clients (SPEC sections 3 and 4): a plain ZeroMQ REQ socket
injects a message into a node and gets exactly one one-frame reply, `ack`
or `err <reason>`, with the reasons reported in the order of SPEC 3."""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
from quilt_harness import msg_line, QuiltTestCase, context, req, b  # noqa: E402

MAX = 1024  # limits.max_message_bytes of the node under test
N = "rq"    # its name

REPLY_RE = re.compile(r"^err ([a-z0-9_]+)(?: (.*))?$", re.S)


def msg_of_size(total, origin="client"):
    """A valid msg to N whose frames add up to exactly `total` bytes."""
    head = [N, "msg", origin, "7", "5"]
    return head + ["t" * (total - sum(len(x) for x in head))]


# (label, frames, expected): expected is "ack" or a reason token.
ACCEPTED = [
    ("ping", [N, "ping", "client", "1", "5"]),
    ("ping with nonce, ttl 255", [N, "ping", "client", "2", "255", "n-1"]),
    ("largest id, ttl 0", [N, "ping", "client", "18446744073709551615", "0"]),
    ("id 0", [N, "ping", "client", "0", "3"]),
    ("broadcast ping", ["all", "ping", "client", "3", "1"]),
    ("broadcast msg via *, empty text", ["*", "msg", "client", "4", "1", ""]),
    ("utf-8 text", [N, "msg", "client", "5", "3", "h\u00e9llo \u2713 \U0001F600"]),
    ("pong", [N, "pong", "client", "6", "3", "123"]),
    ("pong with nonce", [N, "pong", "client", "7", "3", "123", "n"]),
    ("error", [N, "error", "client", "8", "3", "unreachable", "77"]),
    ("error with detail", [N, "error", "client", "9", "3", "ttl_expired",
                           "77", "at x"]),
    ("error rejected", [N, "error", "client", "10", "3", "rejected", "1"]),
    ("unroutable destination still acked", ["nobody", "msg", "client", "11",
                                            "5", "x"]),
    ("name with every allowed char", [N, "ping", "A-1.b_c:9", "12", "5"]),
    ("64-char origin", [N, "ping", "o" * 64, "13", "5"]),
    ("exactly max_message_bytes", msg_of_size(MAX)),
]

REJECTED = [
    # too_few_frames
    ("1 frame", [N], "too_few_frames"),
    ("1 empty frame", [""], "too_few_frames"),
    ("4 frames", [N, "ping", "client", "1"], "too_few_frames"),
    # too_many_frames
    ("65 frames", [N, "msg", "client", "1", "5"] + ["x"] * 60,
     "too_many_frames"),
    # too_large: every frame below the limit, the sum above it
    ("frames add up past the limit",
     [N, "msg", "client", "1", "5", "a" * 600, "b" * 600], "too_large"),
    ("one byte past the limit", msg_of_size(MAX + 1), "too_large"),
    # bad_utf8
    ("0xff in text", [N, "msg", "client", "1", "5", b"\xff\xfe"], "bad_utf8"),
    ("overlong", [N, "msg", "client", "1", "5", b"\xc0\xaf"], "bad_utf8"),
    ("surrogate", [N, "msg", "client", "1", "5", b"\xed\xa0\x80"], "bad_utf8"),
    ("truncated", [N, "msg", "client", "1", "5", b"ok\xe2\x82"], "bad_utf8"),
    ("above U+10FFFF", [N, "msg", "client", "1", "5", b"\xf4\x90\x80\x80"],
     "bad_utf8"),
    ("in destination", [b"r\xffq", "ping", "client", "1", "5"], "bad_utf8"),
    # bad_destination
    ("space in destination", ["r q", "ping", "client", "1", "5"],
     "bad_destination"),
    ("empty destination", ["", "ping", "client", "1", "5"], "bad_destination"),
    ("65-char destination", ["d" * 65, "ping", "client", "1", "5"],
     "bad_destination"),
    ("destination starts with -", ["-rq", "ping", "client", "1", "5"],
     "bad_destination"),
    ("pong to all", ["all", "pong", "client", "1", "5", "1"],
     "bad_destination"),
    ("error to *", ["*", "error", "client", "1", "5", "unreachable", "1"],
     "bad_destination"),
    ("server_connect to another node",
     ["other", "server_connect", "client", "1", "1", "127.0.0.1", "9",
      "quilt/1"], "bad_destination"),
    # bad_command
    ("upper case", [N, "PING", "client", "1", "5"], "bad_command"),
    ("unknown", [N, "frobnicate", "client", "1", "5"], "bad_command"),
    ("empty", [N, "", "client", "1", "5"], "bad_command"),
    ("33 chars", [N, "a" * 33, "client", "1", "5"], "bad_command"),
    # bad_origin
    ("origin all", [N, "ping", "all", "1", "5"], "bad_origin"),
    ("origin *", [N, "ping", "*", "1", "5"], "bad_origin"),
    ("empty origin", [N, "ping", "", "1", "5"], "bad_origin"),
    ("origin with space", [N, "ping", "a b", "1", "5"], "bad_origin"),
    ("65-char origin", [N, "ping", "o" * 65, "1", "5"], "bad_origin"),
    # bad_id
    ("empty id", [N, "ping", "client", "", "5"], "bad_id"),
    ("leading zero", [N, "ping", "client", "01", "5"], "bad_id"),
    ("negative", [N, "ping", "client", "-1", "5"], "bad_id"),
    ("plus sign", [N, "ping", "client", "+1", "5"], "bad_id"),
    ("2^64", [N, "ping", "client", "18446744073709551616", "5"], "bad_id"),
    ("not a number", [N, "ping", "client", "abc", "5"], "bad_id"),
    ("space", [N, "ping", "client", " 1", "5"], "bad_id"),
    # bad_ttl
    ("256", [N, "ping", "client", "1", "256"], "bad_ttl"),
    ("leading zero ttl", [N, "ping", "client", "1", "05"], "bad_ttl"),
    ("negative ttl", [N, "ping", "client", "1", "-1"], "bad_ttl"),
    ("empty ttl", [N, "ping", "client", "1", ""], "bad_ttl"),
    ("huge ttl", [N, "ping", "client", "1", "99999999999999999999999"],
     "bad_ttl"),
    # bad_args
    ("ping with 2 args", [N, "ping", "client", "1", "5", "a", "b"],
     "bad_args"),
    ("msg without text", [N, "msg", "client", "1", "5"], "bad_args"),
    ("msg with 2 texts", [N, "msg", "client", "1", "5", "a", "b"],
     "bad_args"),
    ("64 frames (msg with 59 args)", [N, "msg", "client", "1", "5"]
     + ["x"] * 59, "bad_args"),
    ("pong without id", [N, "pong", "client", "1", "5"], "bad_args"),
    ("pong id not decimal", [N, "pong", "client", "1", "5", "x1"], "bad_args"),
    ("pong with 3 args", [N, "pong", "client", "1", "5", "1", "n", "x"],
     "bad_args"),
    ("error bad code", [N, "error", "client", "1", "5", "oops", "1"],
     "bad_args"),
    ("error id not decimal", [N, "error", "client", "1", "5", "unreachable",
                              "01"], "bad_args"),
    ("error with 1 arg", [N, "error", "client", "1", "5", "unreachable"],
     "bad_args"),
    ("error with 4 args", [N, "error", "client", "1", "5", "unreachable", "1",
                           "d", "e"], "bad_args"),
    ("server_connect with 2 args", [N, "server_connect", "client", "1", "1",
                                    "127.0.0.1", "9"], "bad_args"),
    ("server_connect port 0", [N, "server_connect", "client", "1", "1",
                               "127.0.0.1", "0", "quilt/1"], "bad_args"),
    ("server_connect port 65536", [N, "server_connect", "client", "1", "1",
                                   "127.0.0.1", "65536", "quilt/1"],
     "bad_args"),
    ("server_connect other protocol", [N, "server_connect", "client", "1",
                                       "1", "127.0.0.1", "9", "http/1"],
     "bad_args"),
    ("server_connect empty address", [N, "server_connect", "client", "1", "1",
                                      "", "9", "quilt/1"], "bad_args"),
]

# Each message breaks two or more rules: the first in SPEC 3's order wins.
PRECEDENCE = [
    ("too_few over bad_utf8", [b"\xff", "PING"], "too_few_frames"),
    ("too_many over too_large and bad_utf8",
     [N, "msg", "client", "1", "5"] + [b"\xff" * 20] * 60, "too_many_frames"),
    ("too_large over bad_utf8 and bad_args",
     [b"\xff", "ping", "client", "1", "5", "a" * 600, "b" * 600],
     "too_large"),
    ("bad_utf8 over bad_destination", ["r q", "ping", b"\xff", "1", "5"],
     "bad_utf8"),
    ("bad_destination over bad_command", ["r q", "PING", "client", "1", "5"],
     "bad_destination"),
    ("bad_command over bad_origin", [N, "PING", "a b", "1", "5"],
     "bad_command"),
    ("bad_origin over bad_id", [N, "ping", "all", "x", "5"], "bad_origin"),
    ("bad_id over bad_ttl", [N, "ping", "client", "x", "999"], "bad_id"),
    ("bad_ttl over bad_args", [N, "msg", "client", "1", "999"], "bad_ttl"),
    ("everything from bad_destination on",
     ["r q", "PING", "a b", "x", "999", "1", "2"], "bad_destination"),
]


class ReqClientTest(QuiltTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = cls.class_node(N, max_message_bytes=MAX)
        cls.n.start(pty=True)

    def check_reply(self, label, frames, expected, reply):
        self.assertIsNotNone(reply, "%s: no reply" % label)
        self.assertEqual(len(reply), 1, "%s: reply %r is not one frame"
                         % (label, reply))
        text = reply[0].decode("utf-8")
        if expected == "ack":
            self.assertEqual(text, "ack", label)
        else:
            m = REPLY_RE.match(text)
            self.assertIsNotNone(m, "%s: %r is not 'err <reason>'"
                                 % (label, text))
            self.assertEqual(m.group(1), expected, "%s: %r" % (label, text))
            self.assertNotIn("\n", text, label)

    def test_1_every_case_gets_its_one_reply_and_counts(self):
        before = self.n.stats()
        cases = ([(l, f, "ack") for l, f in ACCEPTED] + REJECTED + PRECEDENCE)
        for label, frames, expected in cases:
            with self.subTest(label):
                self.check_reply(label, frames, expected,
                                 req(self.n.endpoint, frames))
        rejected = sum(1 for _, _, e in cases if e != "ack")
        after = self.wait_stats(lambda s: s["rx"] - before["rx"] >= len(cases))
        self.assertEqual(after["rx"] - before["rx"], len(cases))
        self.assertEqual(after["dropped_invalid"] - before["dropped_invalid"],
                         rejected)

    def test_2_one_socket_lock_step(self):
        # A REQ socket may be reused: one reply per request, in order.
        s = context().socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 3000)
        try:
            s.connect(self.n.endpoint)
            for label, frames, expected in [
                    ("a", ACCEPTED[0][1], "ack"), REJECTED[0],
                    ("b", ACCEPTED[4][1], "ack"), REJECTED[-1], PRECEDENCE[3]]:
                s.send_multipart([b(f) for f in frames])
                self.check_reply(label, frames, expected, s.recv_multipart())
        finally:
            s.close()

    def test_3_no_second_reply(self):
        # A DEALER speaking REQ's envelope sees exactly one reply each.
        s = context().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        try:
            s.connect(self.n.endpoint)
            cases = [("ack", ACCEPTED[0][1])] + [(e, f) for _, f, e in REJECTED]
            for _, frames in cases:
                s.send_multipart([b""] + [b(f) for f in frames])
            replies = []
            deadline = time.monotonic() + 5
            while len(replies) < len(cases) and time.monotonic() < deadline:
                if s.poll(100):
                    replies.append(s.recv_multipart())
            # Then silence: nothing beyond one reply per request.
            extra = []
            quiet_until = time.monotonic() + 0.5
            while time.monotonic() < quiet_until:
                if s.poll(50):
                    extra.append(s.recv_multipart())
            self.assertEqual(len(replies), len(cases))
            self.assertEqual(extra, [])
            for r in replies:
                self.assertEqual(len(r), 2)
                self.assertEqual(r[0], b"")
            got = sorted(r[1].split(b" ")[0 if r[1] == b"ack" else 1]
                         for r in replies)
            want = sorted(e.encode() for e, _ in cases)
            self.assertEqual(got, want)
        finally:
            s.close()

    def test_4_frame_above_max_message_bytes_drops_the_connection(self):
        # SPEC 3: ZMQ_MAXMSGSIZE makes libzmq drop a peer that sends a frame
        # larger than max_message_bytes: no reply, nothing counted, and the
        # node goes on serving everyone else.
        before = self.n.stats()
        reply = req(self.n.endpoint,
                    [N, "msg", "client", "1", "5", "x" * (MAX + 1)],
                    timeout_ms=1000)
        self.assertIsNone(reply)
        self.check_reply("after", ACCEPTED[0][1], "ack",
                         req(self.n.endpoint, ACCEPTED[0][1]))
        after = self.wait_stats(lambda s: s["rx"] > before["rx"])
        self.assertEqual(after["rx"], before["rx"] + 1)
        self.assertEqual(after["dropped_invalid"], before["dropped_invalid"])
        self.assertTrue(self.n.alive())

    def test_5_what_an_accepted_message_does(self):
        # `ack` only says the message was taken in (SPEC 3); what the node
        # then does with it follows SPEC 2 and 5.
        stamp = time.monotonic_ns()
        ack = lambda frames: self.check_reply(  # noqa: E731
            repr(frames), frames, "ack", req(self.n.endpoint, frames))
        before = self.n.stats()

        # ttl 0 addressed to this node is still delivered.
        ack([N, "msg", "client", stamp, "0", "ttl zero %d" % stamp])
        self.assertIsNotNone(self.n.out.wait(
            msg_line("client", N, "ttl zero %d" % stamp), 3), self.n.tail())

        # A broadcast is delivered once per (origin, id), shown to "all".
        bcast = ["*", "msg", "client", stamp + 1, "3", "bcast %d" % stamp]
        ack(bcast)
        ack(bcast)
        line = msg_line("client", "all", "bcast %d" % stamp)
        self.assertIsNotNone(self.n.out.wait(line, 3), self.n.tail())

        # This node's own name as origin: dropped_loop, never delivered.
        ack([N, "msg", N, stamp + 2, "3", "loop %d" % stamp])
        # Another address claiming this node's name: a name conflict too.
        ack(["*", "server_connect", N, stamp + 3, "1", "192.0.2.1", "9",
             "quilt/1"])
        # No route: dropped_unroutable.
        ack(["nobody", "msg", "client", stamp + 4, "5", "lost"])

        after = self.wait_stats(
            lambda s: s["rx"] - before["rx"] >= 6
            and s["dropped_unroutable"] > before["dropped_unroutable"])
        delta = {k: after[k] - before[k] for k in after}
        self.assertEqual(delta["rx"], 6, delta)
        self.assertEqual(delta["dropped_invalid"], 0, delta)
        self.assertEqual(delta["dropped_duplicate"], 1, delta)
        self.assertEqual(delta["dropped_loop"], 2, delta)
        self.assertEqual(delta["name_conflicts"], 1, delta)
        self.assertEqual(delta["dropped_unroutable"], 1, delta)
        self.assertEqual(delta["delivered"], 2, delta)
        self.assertIsNotNone(self.n.wait_log(r" error \[%s\] .*192\.0\.2\.1"
                                             % N, 3), self.n.tail())
        self.assertEqual(len(re.findall(line, self.n.out.text, re.M)), 1)
        self.assertNotIn("loop %d" % stamp, self.n.out.text)
        # The claimed name did not become a peer.
        self.assertEqual(self.n.peers(), [])

    def wait_stats(self, pred, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            s = self.n.stats()
            if pred(s) or time.monotonic() > deadline:
                return s
            time.sleep(0.05)


if __name__ == "__main__":
    unittest.main(verbosity=2)
