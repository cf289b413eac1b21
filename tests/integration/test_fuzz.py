#!/usr/bin/python3
"""Fuzzing a node's listen port (SPEC sections 3-5): 10,000 random and
malformed multipart messages from DEALER and REQ sockets. The node must
survive, count every invalid message under dropped_invalid (and every
message under rx), answer each REQ with the right reason, and still work
as a mesh node afterwards.

Set QUILT_FUZZ_SEED to replay a run; a failure prints its seed."""

import collections
import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
from quilt_harness import QuiltTestCase, context  # noqa: E402

NODE = "fz"
MAX = 4096          # limits.max_message_bytes: every frame stays below it
TOTAL = 10000       # messages sent
REQ_SHARE = 0.1     # of them, through a REQ socket (reply checked)
VALID_SHARE = 0.08  # of them, valid messages (counted separately)

# -- a reference validator: SPEC 3 and 4, in SPEC 3's order ---------------------

NAME_RE = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
U64_RE = re.compile(rb"0|[1-9][0-9]{0,19}")
COMMANDS = {b"server_connect", b"ping", b"pong", b"msg", b"error"}
# Routing commands are the project's own (docs/PROTOCOL.md): the generator
# never produces them, so their argument rules need no mirror here.
ROUTING_COMMANDS = {b"link_state", b"link_ack", b"link_summary"}
ERROR_CODES = {b"unreachable", b"ttl_expired", b"rejected"}
# Unicode White_Space and Cc, which a server_connect address must not hold.
SPACE_OR_CONTROL = re.compile(
    "[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f"
    "\u205f\u3000]")


def is_name(x):
    return NAME_RE.fullmatch(x) is not None and x != b"all"


def is_destination(x):
    return x in (b"all", b"*") or is_name(x)


def is_u64(x):
    return U64_RE.fullmatch(x) is not None and int(x) < 2 ** 64


def is_utf8(x):
    try:
        x.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def check_args(cmd, args):
    n = len(args)
    if cmd == b"server_connect":
        return (n == 3 and args[0] != b""
                and not SPACE_OR_CONTROL.search(args[0].decode())
                and is_u64(args[1]) and 1 <= int(args[1]) <= 65535
                and args[2].startswith(b"quilt/"))
    if cmd == b"ping":
        return n <= 1
    if cmd == b"pong":
        return 1 <= n <= 2 and is_u64(args[0])
    if cmd == b"msg":
        return n == 1
    if cmd == b"error":
        return 2 <= n <= 3 and args[0] in ERROR_CODES and is_u64(args[1])
    raise AssertionError(cmd)


def classify(frames, self_name=NODE.encode(), max_bytes=MAX):
    """None for a valid message, else the SPEC 3 reason token."""
    if len(frames) < 5:
        return "too_few_frames"
    if len(frames) > 64:
        return "too_many_frames"
    if sum(len(f) for f in frames) > max_bytes:
        return "too_large"
    if not all(is_utf8(f) for f in frames):
        return "bad_utf8"
    dest, cmd = frames[0], frames[1]
    broadcast = dest in (b"all", b"*")
    if not is_destination(dest):
        return "bad_destination"
    if cmd in ROUTING_COMMANDS:
        raise AssertionError("the generator made a routing command")
    if cmd not in COMMANDS:
        return "bad_command"
    if broadcast and cmd in (b"pong", b"error"):
        return "bad_destination"
    if cmd == b"server_connect" and not broadcast and dest != self_name:
        return "bad_destination"
    if not is_name(frames[2]):
        return "bad_origin"
    if not is_u64(frames[3]):
        return "bad_id"
    if not (is_u64(frames[4]) and int(frames[4]) <= 255):
        return "bad_ttl"
    if not check_args(cmd, frames[5:]):
        return "bad_args"
    return None


def as_received(frames):
    """What the node validates of a DEALER message: an empty first frame
    followed by more is a REQ delimiter (SPEC 3), not a destination."""
    if len(frames) >= 2 and frames[0] == b"":
        return frames[1:], True
    return frames, False


# -- generators -------------------------------------------------------------------

TOKENS = [b"", b"fz", b"all", b"*", b"ping", b"pong", b"msg", b"error",
          b"server_connect", b"0", b"1", b"255", b"256", b"01", b"-1",
          b"18446744073709551615", b"18446744073709551616", b"quilt/1",
          b"\xff", b"\xc3\xa9", b"\xed\xa0\x80", b"\xc0\xaf", b"a b",
          b"unreachable", b"ttl_expired", b"rejected", b"192.0.2.1", b"9",
          "\u2603".encode(), b"x" * 64, b"x" * 65, b"\x00"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.next_id = self.r.randrange(1, 2 ** 60)

    def id(self):
        self.next_id += 1
        return str(self.next_id).encode()

    def name(self):
        r = self.r
        first = r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789")
        rest = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789._:-")
                       for _ in range(r.randint(0, 12)))
        n = (first + rest).encode()
        return n if n != b"all" else b"alx"

    def junk(self, maxlen=40):
        r = self.r
        kind = r.random()
        n = r.randint(0, maxlen)
        if kind < 0.35:
            return bytes(r.getrandbits(8) for _ in range(n))
        if kind < 0.7:
            return bytes(r.randint(0x20, 0x7e) for _ in range(n))
        return r.choice(TOKENS)

    def valid(self):
        """A valid message of any command but server_connect (a valid one
        would make the node dial out)."""
        r = self.r
        origin = self.name()
        k = r.randrange(5)
        ttl = str(r.randint(0, 255)).encode()
        dest = r.choice([NODE.encode(), b"all", b"*", self.name()])
        if k == 0:
            return [dest, b"ping", origin, self.id(), ttl]
        if k == 1:
            return [dest, b"ping", origin, self.id(), ttl, self.text()]
        if k == 2:
            return [dest, b"msg", origin, self.id(), ttl, self.text()]
        if dest in (b"all", b"*"):
            dest = NODE.encode()
        if k == 3:
            return [dest, b"pong", origin, self.id(), ttl, self.id()]
        return [dest, b"error", origin, self.id(), ttl,
                r.choice(sorted(ERROR_CODES)), self.id()]

    def text(self):
        r = self.r
        chars = "abc xyz 0123 \u00e9\u2713\U0001F600\n\t"
        return "".join(r.choice(chars) for _ in range(r.randint(0, 30))).encode()

    def template(self):
        """A valid message, server_connect included, to mutate."""
        if self.r.random() < 0.25:
            return [self.r.choice([NODE.encode(), b"*", b"all"]),
                    b"server_connect", self.name(), self.id(), b"1",
                    b"192.0.2.1", b"9", b"quilt/1"]
        return self.valid()

    # Each mutation breaks one rule of SPEC 4 by construction (on a message
    # an earlier mutation cut short, field mutations fall back to UTF-8).
    def mutate(self, f):
        m = self.r.randrange(11)
        try:
            return self._mutate(list(f), m)
        except IndexError:
            return self._mutate(list(f), 3)

    def _mutate(self, f, m):
        r = self.r
        if m == 0:  # too few frames
            return f[:r.randint(1, 4)]
        if m == 1:  # too many frames
            return f + [self.junk(8) for _ in range(r.randint(65, 70) - len(f))]
        if m == 2:  # too large, every frame below the limit
            per = r.randint(MAX // 3, MAX - 1)
            return f + [b"y" * per for _ in range(r.randint(2, 4))]
        if m == 3:  # invalid UTF-8 somewhere
            i = r.randrange(len(f))
            bad = r.choice([b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80",
                            b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"])
            pos = r.randint(0, len(f[i]))
            f[i] = f[i][:pos] + bad + f[i][pos:]
            return f
        if m == 4:  # destination
            f[0] = r.choice([b"", b"a b", b"-x", b".x", b"x" * 65, b"x/y",
                             b"al l", b"**"])
            return f
        if m == 5:  # command
            f[1] = r.choice([b"PING", b"Msg", b"", b"x" * 33, b"x_unknown",
                             b"ping ", b"p1ng", b"zz_" + self.name().lower()])
            return f
        if m == 6:  # origin
            f[2] = r.choice([b"", b"all", b"*", b"a b", b"-x", b"o" * 65])
            return f
        if m == 7:  # id
            f[3] = r.choice([b"", b"01", b"-1", b"+1", b"1.0", b"abc", b" 1",
                             b"18446744073709551616", b"9" * 21])
            return f
        if m == 8:  # ttl
            f[4] = r.choice([b"", b"256", b"01", b"-1", b"1000", b"x", b"2 "])
            return f
        if m == 9:  # argument count
            cmd = f[1]
            if cmd == b"ping":
                return f[:5] + [b"a", b"b"]
            if cmd == b"msg":
                return f[:5] if r.random() < 0.5 else f[:5] + [b"a", b"b"]
            if cmd == b"pong":
                return f[:5] if r.random() < 0.5 else f[:5] + [b"1", b"n", b"x"]
            if cmd == b"error":
                return f[:6]
            return f[:7]  # server_connect
        # argument content
        cmd = f[1]
        if cmd in (b"pong", b"error"):
            i = 5 if cmd == b"pong" else 6
            f[i] = r.choice([b"x", b"01", b"-2", b"18446744073709551616"])
            if cmd == b"error" and r.random() < 0.5:
                f[5] = r.choice([b"oops", b"UNREACHABLE", b""])
            return f
        if cmd == b"server_connect":
            j = r.randrange(3)
            if j == 0:
                f[5] = r.choice([b"", b"a b", b"x\ty"])
            elif j == 1:
                f[6] = r.choice([b"0", b"65536", b"x", b"09", b""])
            else:
                f[7] = r.choice([b"http/1", b"", b"QUILT/1", b"quilt"])
            return f
        return f[:5] + [b"a", b"b", b"c"]  # ping/msg: too many args

    def random_message(self):
        r = self.r
        return [self.junk() for _ in range(r.randint(1, 70))]

    def invalid(self):
        """A message that breaks at least one rule."""
        while True:
            if self.r.random() < 0.3:
                f = self.random_message()
            else:
                f = self.template()
                for _ in range(self.r.randint(1, 3)):
                    f = self.mutate(f)
            if any(len(x) >= MAX for x in f):
                continue  # libzmq would drop the connection (SPEC 3)
            if classify(f) is not None:
                return f


class FuzzTest(QuiltTestCase):
    def test_fuzz(self):
        seed = int(os.environ.get("QUILT_FUZZ_SEED") or
                   random.SystemRandom().randrange(2 ** 32))
        info = "QUILT_FUZZ_SEED=%d" % seed
        gen = Gen(seed)
        node = self.node(NODE, max_message_bytes=MAX, heartbeat_ms=100,
                         dead_after_ms=500)
        node.start(pty=True)
        ctx = context()

        dealers = []
        for _ in range(4):
            s = ctx.socket(zmq.DEALER)  # no routing id: a foreign client
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDTIMEO, 10000)
            s.connect(node.endpoint)
            dealers.append(s)
        rq = ctx.socket(zmq.REQ)
        rq.setsockopt(zmq.LINGER, 0)
        rq.setsockopt(zmq.RCVTIMEO, 5000)
        rq.connect(node.endpoint)
        self.addCleanup(lambda: [s.close() for s in dealers + [rq]])

        sent_invalid = 0
        sent_valid = 0
        reasons = collections.Counter()
        enveloped = [0] * len(dealers)  # DEALER messages that look like REQ
        bad_replies = []
        for i in range(TOTAL):
            frames = gen.valid() if gen.r.random() < VALID_SHARE else gen.invalid()
            if gen.r.random() < REQ_SHARE:
                rq.send_multipart(frames)
                try:
                    reply = rq.recv_multipart()
                except zmq.Again:
                    self.fail("%s: REQ got no reply to message %d %r\n%s"
                              % (info, i, frames, node.tail()))
                want = classify(frames)
                got = reply[0].decode("utf-8", "replace").split(" ")
                ok = len(reply) == 1 and (
                    got == ["ack"] if want is None else
                    (got[0] == "err" and len(got) > 1 and got[1] == want))
                if not ok and len(bad_replies) < 10:
                    bad_replies.append((frames, want, reply))
            else:
                k = i % len(dealers)
                dealers[k].send_multipart(frames)
                frames, req_like = as_received(frames)
                enveloped[k] += req_like
                want = classify(frames)
            if want is None:
                sent_valid += 1
            else:
                sent_invalid += 1
                reasons[want] += 1

        # Every message arrives (rx counts valid and invalid alike, when
        # they come in; the processors count the invalid ones a little
        # later, which a slow node, e.g. under ASan, shows).
        deadline = time.monotonic() + 30
        while True:
            stats = node.stats()
            if (stats.get("rx", 0) >= TOTAL
                    and stats.get("dropped_invalid", 0) >= sent_invalid) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.1)

        self.assertTrue(node.alive(), "%s: quiltd died\n%s" % (info, node.tail()))
        self.assertEqual(bad_replies, [], info)
        self.assertEqual(stats["rx"], TOTAL, "%s %r" % (info, stats))
        self.assertEqual(stats["dropped_invalid"], sent_invalid,
                         "%s: %r, sent %d invalid (%r) and %d valid"
                         % (info, stats, sent_invalid, dict(reasons),
                            sent_valid))
        self.assertGreater(sent_valid, 0)
        # Every rule was exercised.
        self.assertEqual(set(reasons), {
            "too_few_frames", "too_many_frames", "too_large", "bad_utf8",
            "bad_destination", "bad_command", "bad_origin", "bad_id",
            "bad_ttl", "bad_args"}, info)

        # DEALER messages in a REQ envelope got one reply each.
        for k, s in enumerate(dealers):
            got = 0
            while s.poll(200 if got < enveloped[k] else 20):
                s.recv_multipart()
                got += 1
            self.assertEqual(got, enveloped[k], info)

        # Still serving: a REQ ping is taken in ...
        rq.send_multipart([NODE.encode(), b"ping", b"client", b"1", b"5"])
        self.assertEqual(rq.recv_multipart(), [b"ack"])
        # ... and a new neighbour links up and is pinged both ways.
        peer = self.node("fz-peer", peers=[node.port], heartbeat_ms=100,
                         dead_after_ms=500)
        peer.start(pty=True)
        self.assertIsNotNone(
            node.wait_log(r"\] peer fz-peer \(127\.0\.0\.1:%d\) is up$"
                          % peer.port, 10), node.tail())
        self.assertRegex(node.ping("fz-peer"), r"^pong from fz-peer in ")
        self.assertRegex(peer.ping(NODE), r"^pong from %s in " % NODE)
        self.assertTrue(node.alive())


class ValidatorSelfTest(unittest.TestCase):
    """The reference validator agrees with SPEC 3's examples."""

    def test_examples(self):
        n = NODE.encode()
        self.assertIsNone(classify([n, b"ping", b"c", b"1", b"5"]))
        self.assertEqual(classify([n, b"ping", b"c", b"1"]), "too_few_frames")
        self.assertEqual(classify([b"\xff"] * 65), "too_many_frames")
        self.assertEqual(classify([n, b"msg", b"c", b"1", b"5",
                                   b"x" * MAX]), "too_large")
        self.assertEqual(classify([b"a b", b"ping", b"\xff", b"1", b"5"]),
                         "bad_utf8")
        self.assertEqual(classify([b"all", b"pong", b"c", b"1", b"5", b"1"]),
                         "bad_destination")
        self.assertEqual(classify([b"x", b"server_connect", b"c", b"1", b"1",
                                   b"a", b"1", b"quilt/1"]), "bad_destination")
        self.assertEqual(classify([n, b"PING", b"all", b"1", b"5"]),
                         "bad_command")
        self.assertEqual(classify([n, b"ping", b"all", b"x", b"5"]),
                         "bad_origin")
        self.assertEqual(classify([n, b"ping", b"c", b"01", b"x"]), "bad_id")
        self.assertEqual(classify([n, b"msg", b"c", b"1", b"256"]), "bad_ttl")
        self.assertEqual(classify([n, b"msg", b"c", b"1", b"255"]), "bad_args")
        self.assertIsNone(classify([n, b"ping", b"c",
                                    b"18446744073709551615", b"0"]))
        self.assertEqual(classify([n, b"ping", b"c",
                                   b"18446744073709551616", b"0"]), "bad_id")
        self.assertEqual(as_received([b"", b"a"]), ([b"a"], True))
        self.assertEqual(as_received([b""]), ([b""], False))


if __name__ == "__main__":
    unittest.main(verbosity=2)
