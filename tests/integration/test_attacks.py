#!/usr/bin/python3
"""Who may steer the mesh (SPEC §12, issue 15): the attacks of the issue,
tried as an attacker would, with pyzmq on loopback against real quiltd
processes. Each test asserts what a user relies on when someone hostile can
reach a node's port:

- a forged `link_state` from a client (REQ, or a stranger DEALER, also one
  that borrows a neighbour's routing id) changes no route anywhere;
- a client cannot speak for a node of the mesh: a spoofed-origin `ping all`
  makes nobody pong that node, a spoofed `msg` lands in no inbox;
- a node takes back its name from a forged advertisement relayed by a
  neighbour, and the largest sequence number never installs;
- a flood of made-up names through a neighbour, or of `server_connect`s from
  a client, leaves memory, open files, the console and new peers fine;
- `limits.max_peers` refuses the peer past the limit with `error rejected
  <id> peer_limit` and leaves the peers already up alone.

Two ctest entries run this file (tests/CMakeLists.txt): RoutingTrustTest
(integration) and FloodTest (integration;timing: its RSS bounds cannot hold
under AddressSanitizer's shadow memory and quarantine).
"""

import collections
import os
import random
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
from quilt_harness import (QuiltTestCase, b, context, free_port,  # noqa: E402
                           msg_line, req, wait_routes, wait_until)
from console_harness import ConsoleNode, console  # noqa: E402

# The largest sequence number an advertisement can carry (2^64 - 1).
LARGEST = 18446744073709551615
MIB = 1024 * 1024


def clock_seq(ahead=0):
    """A sequence number as a node makes one now (SPEC §12: Unix
    microseconds x 1024), plus `ahead`."""
    return int(time.time() * 1000000) * 1024 + ahead


# -- what a process uses (/proc) ---------------------------------------------


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def open_files(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def open_files_limit(pid):
    """The soft RLIMIT_NOFILE of a process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no open files limit for pid %d" % pid)


class Usage:
    """Samples the RSS and open files of some nodes every 50 ms in a thread
    and keeps the largest values: a peak between two polls of a test would
    otherwise go unseen."""

    def __init__(self, nodes):
        self.nodes = list(nodes)
        self.base = {n.name: rss_bytes(n.proc.pid) for n in self.nodes}
        self.peak = dict(self.base)
        self.peak_fds = {n.name: open_files(n.proc.pid) for n in self.nodes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self):
        for n in self.nodes:
            try:
                pid = n.proc.pid
                self.peak[n.name] = max(self.peak[n.name], rss_bytes(pid))
                self.peak_fds[n.name] = max(self.peak_fds[n.name],
                                            open_files(pid))
            except (OSError, AssertionError):
                pass  # it died: the test's other checks say so

    def _run(self):
        while not self._stop.wait(0.05):
            self._sample()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()

    def growth(self, name):
        return self.peak[name] - self.base[name]

    def report(self):
        return ", ".join("%s %d -> %d MiB" % (n, self.base[n] // MIB,
                                              self.peak[n] // MIB)
                         for n in sorted(self.base))


# -- a peer written in Python ---------------------------------------------------


class FakeNeighbour:
    """A Quilt peer in Python that links to a node the way a real one does
    (its own ROUTER listening, a DEALER with its name as routing id,
    `server_connect` until the node dials back, pongs to heartbeats), so the
    node counts it as an up neighbour; what it sends besides is the attack.

    One thread owns all its sockets (a ZeroMQ socket is used by one thread
    only): it keeps answering heartbeats while the test thread queues
    messages with send() and reads what arrived with wait_for()."""

    def __init__(self, name, endpoint, source=None, advertise=None,
                 also=()):
        """`endpoint`: the listen endpoint (tcp://) of the node to link to;
        `source`: the local address to connect from (libzmq's "src;dst"),
        so that per-address limits see a client of its own; `advertise`:
        neighbour names to flood our own link_state with, again every
        second (None: we do not speak link-state); `also`: endpoints of
        other nodes to open a DEALER to (send(..., via=1...)) without
        announcing ourselves there."""
        self.name = name
        self.port = free_port()
        self.router = context().socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind("tcp://127.0.0.1:%d" % self.port)
        self.dealers = []
        for ep in [endpoint] + list(also):
            d = context().socket(zmq.DEALER)
            d.setsockopt(zmq.LINGER, 0)
            d.setsockopt(zmq.ROUTING_ID, name.encode())
            if source:
                ep = "tcp://%s:0;%s" % (source, ep[len("tcp://"):])
            d.connect(ep)
            self.dealers.append(d)
        self.advertise = advertise
        self.dialled_back = threading.Event()
        self._next_id = clock_seq()
        self._outbox = collections.deque()  # (dealer index, frames)
        self._lock = threading.Lock()
        self._received = []  # frames that arrived on the ROUTER
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def new_id(self):
        with self._lock:
            self._next_id += 1
            return self._next_id

    def send(self, *frames, via=0):
        self._outbox.append((via, [b(f) for f in frames]))

    def flush(self, timeout):
        """Whether everything queued was handed to libzmq in `timeout` s."""
        return wait_until(lambda: not self._outbox, timeout)

    def _run(self):
        dealer = self.dealers[0]
        next_announce = next_advert = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if not self.dialled_back.is_set() and now >= next_announce:
                    # As a node re-announces itself to a linked peer that
                    # is not up: until the node dials us back.
                    try:
                        dealer.send_multipart(
                            [b"*", b"server_connect", b(self.name),
                             b(self.new_id()), b"1", b"127.0.0.1",
                             b(self.port), b"quilt/1"], zmq.NOBLOCK)
                    except zmq.Again:
                        pass
                    next_announce = now + 0.3
                if (self.advertise is not None and now >= next_advert
                        and self.dialled_back.is_set()):
                    self._outbox.append((0, [
                        b"all", b"link_state", b(self.name), b(self.new_id()),
                        b"32", b(" ".join(sorted(self.advertise)))]))
                    next_advert = now + 1.0
                # A bounded share of the queue per round, so that pongs
                # to heartbeats never wait behind a flood.
                for _ in range(64):
                    if not self._outbox:
                        break
                    via, frames = self._outbox[0]
                    try:
                        self.dealers[via].send_multipart(frames, zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._outbox.popleft()
                if self.router.poll(2 if self._outbox else 20):
                    self._drain(dealer)
        finally:
            self.router.close()
            for d in self.dealers:
                d.close()

    def _drain(self, dealer):
        while True:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            with self._lock:
                self._received.append(frames)
            # [routing id, destination, command, origin, id, ttl, args...]
            if len(frames) < 6 or frames[1] != b(self.name):
                continue
            if frames[2] in (b"server_connect", b"ping"):
                self.dialled_back.set()
            if frames[2] == b"ping":
                try:
                    dealer.send_multipart([frames[3], b"pong", b(self.name),
                                           b(self.new_id()), b"32",
                                           frames[4]], zmq.NOBLOCK)
                except zmq.Again:
                    pass

    def mark(self):
        with self._lock:
            return len(self._received)

    def messages(self, since=0):
        with self._lock:
            return list(self._received[since:])

    def wait_for(self, pred, timeout, since=0):
        """The first message at index >= since with pred(frames), or None
        after `timeout` s."""
        def find():
            for f in self.messages(since):
                if pred(f):
                    return f
            return None
        return wait_until(find, timeout)


# -- nodes ------------------------------------------------------------------------


class LimitedNode(ConsoleNode):
    """A node with a remote console, started under an open-files limit of
    `nofile` (systemd's default for a service is 1024) and, optionally,
    `limits.max_peers`."""

    def __init__(self, workdir, name, nofile=1024, max_peers=None, **kw):
        self.nofile = nofile
        self.max_peers = max_peers
        super().__init__(workdir, name, **kw)

    def write_config(self):
        super().write_config()
        if self.max_peers is None:
            return
        with open(self.config_path) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^\[limits\]\n",
                          "[limits]\nmax_peers = %d\n" % self.max_peers, text)
        if n != 1:
            raise RuntimeError("no [limits] section in:\n" + text)
        with open(self.config_path, "w") as f:
            f.write(text)

    def command_prefix(self):
        # prlimit execs quiltd: the pid stays quiltd's.
        return ["prlimit", "--nofile=%d" % self.nofile, "--"]


class AttackCase(QuiltTestCase):

    def line_mesh(self, **kw):
        """Three nodes a - b - c (a and c each configured with b), with full
        routes."""
        bn = self.node("b", **kw).start()
        a = self.node("a", peers=[bn.port], **kw).start()
        c = self.node("c", peers=[bn.port], **kw).start()
        t, why = wait_routes([a, bn, c], [("a", "b"), ("b", "c")], 15)
        self.assertIsNotNone(t, why)
        return a, bn, c

    def fake(self, *args, **kw):
        f = FakeNeighbour(*args, **kw)
        self.addCleanup(f.close)
        return f

    def linked(self, node, fake, timeout=10):
        """Waits until `node` shows the fake neighbour up."""
        ok = node.wait_peer_state(fake.name, "up", timeout)
        self.assertTrue(ok, "%s never counted %s up: %r\n%s"
                        % (node.name, fake.name, node.peers(), node.tail()))

    def counter(self, node, key):
        return node.stats().get(key, 0)

    def wait_counter(self, node, key, at_least, timeout=5):
        got = wait_until(lambda: self.counter(node, key) >= at_least, timeout)
        if not got:
            self.fail("%s: %s is %d, want >= %d: %r\n%s"
                      % (node.name, key, self.counter(node, key), at_least,
                         node.stats(), node.tail()))

    def hold_routes(self, nodes, dest, seconds, what):
        """For `seconds`: every node keeps its route to `dest` and a ping
        from it gets a pong."""
        deadline = time.monotonic() + seconds
        rounds = 0
        while rounds == 0 or time.monotonic() < deadline:
            rounds += 1
            for n in nodes:
                routes = n.routes()
                if dest not in routes:
                    self.fail("after %s, %s lost its route to %s (round %d): "
                              "%r\n%s" % (what, n.name, dest, rounds, routes,
                                          n.tail()))
                answer = n.ping(dest)
                if not answer.startswith("pong from %s " % dest):
                    self.fail("after %s, /ping %s at %s: %r\n%s"
                              % (what, dest, n.name, answer, n.tail()))
            time.sleep(0.1)


class RoutingTrustTest(AttackCase):
    """Only neighbours steer the mesh; clients cannot speak for nodes."""

    def test_forged_link_state_from_req_client(self):
        a, bn, c = self.line_mesh()
        for label, seq in (("a clock-derived sequence number",
                            clock_seq(10 ** 9)),
                           ("the largest sequence number", LARGEST)):
            with self.subTest(label):
                before = self.counter(a, "dropped_spoofed")
                reply = req(a.endpoint, ["all", "link_state", "c", seq, 32,
                                         ""])
                # It passed validation: a lock-step client still gets ack.
                self.assertEqual(reply, [b"ack"])
                self.hold_routes([a, bn], "c", 2.0,
                                 "a REQ client's link_state for c with %s"
                                 % label)
                self.wait_counter(a, "dropped_spoofed", before + 1)

    def test_forged_link_state_from_stranger_dealer(self):
        # A stranger with a name of its own. One that calls itself b, a
        # connected neighbour, is the CURVE case (test_security.py,
        # RoutingIdTakeoverTest): in plain mode nothing ties a routing id
        # to anybody (docs/PROTOCOL.md, "What stays trusted").
        a, bn, c = self.line_mesh()
        for rid in ("mallory",):
            with self.subTest(routing_id=rid):
                before = self.counter(a, "dropped_spoofed")
                s = context().socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.ROUTING_ID, b(rid))
                s.connect(a.endpoint)
                self.addCleanup(s.close)
                for seq in (clock_seq(10 ** 9), LARGEST):
                    s.send_multipart([b"all", b"link_state", b"c", b(seq),
                                      b"32", b""])
                self.hold_routes([a, bn], "c", 2.0,
                                 "a DEALER with routing id %s sent a "
                                 "link_state for c" % rid)
                if rid == "mallory":
                    self.wait_counter(a, "dropped_spoofed", before + 2)
                else:
                    # Whether libzmq lets the impostor's connection in at
                    # all is the transport's business; the real b must stay
                    # up and keep its name.
                    self.assertEqual(a.peer_state("b"), "up", a.tail())

    def test_spoofed_origin_broadcast(self):
        # c is a node of the mesh that speaks link-state but is written in
        # Python, so that every pong sent to c is seen.
        bn = self.node("b").start()
        a = self.node("a", peers=[bn.port]).start()
        c = self.fake("c", bn.endpoint, advertise=["b"])
        self.linked(bn, c)
        ok = wait_until(lambda: a.routes().get("c") == ("b", 2), 10)
        self.assertTrue(ok, "a has no route to c: %r\n%s"
                        % (a.routes(), a.tail()))
        before = self.counter(a, "dropped_spoofed")
        mark = c.mark()
        ping_id = random.randrange(10 ** 12, 10 ** 13)
        text = "spoofed %d" % random.randrange(10 ** 9)
        marker = "marker %d" % random.randrange(10 ** 9)
        self.assertEqual(req(a.endpoint, ["all", "ping", "c", ping_id, 32]),
                         [b"ack"])
        self.assertEqual(req(a.endpoint, ["all", "msg", "c", ping_id + 1, 32,
                                          text]), [b"ack"])
        # A client with a name of its own keeps working: its broadcast
        # reaches a and b, so they took in what came before it too.
        self.assertEqual(req(a.endpoint, ["all", "msg", "client-x",
                                          ping_id + 2, 32, marker]),
                         [b"ack"])
        for n in (a, bn):
            self.assertIsNotNone(
                n.out.wait(msg_line("client-x", "all", marker), 5),
                "%s did not get a named client's broadcast\n%s"
                % (n.name, n.tail()))
        # Pongs would come within milliseconds; give them a second.
        pong = c.wait_for(lambda f: len(f) > 6 and f[2] == b"pong"
                          and f[6] == b(ping_id), 1.0, since=mark)
        self.assertIsNone(pong, "a node ponged c for a client's `ping all` "
                                "in c's name")
        for n in (a, bn):
            self.assertIsNone(
                re.search(msg_line("c", "all", text), n.out.text),
                "%s stored a client's msg in c's name" % n.name)
        self.wait_counter(a, "dropped_spoofed", before + 2)

    def fight_back_mesh(self):
        a, bn, c = self.line_mesh()
        f = self.fake("f", a.endpoint)
        self.linked(a, f)
        ok = wait_until(lambda: "f" in bn.routes() and "f" in c.routes(), 10)
        self.assertTrue(ok, "no route to f: %r %r" % (bn.routes(),
                                                        c.routes()))
        return a, bn, c, f

    def test_fight_back_reclaims_a_forged_name(self):
        a, bn, c, f = self.fight_back_mesh()
        before = self.counter(c, "name_conflicts")
        mark = c.log_mark()
        t0 = time.monotonic()
        # In the window a receiver accepts, and newer than c's own.
        f.send("all", "link_state", "c", clock_seq(10 ** 6), 32, "")
        # The forgery reaches c (through a and b), and c notices.
        noticed = wait_until(
            lambda: self.counter(c, "name_conflicts") > before, 5)
        self.assertTrue(noticed, "c never noticed an advertisement in its "
                                 "name: %r\n%s" % (c.stats(), c.tail()))

        def all_route():
            return all("c" in n.routes() for n in (a, bn))
        # 2 x heartbeat_ms (200 ms), plus scheduling slack.
        back = wait_until(all_route, max(0.0, t0 + 1.0 - time.monotonic()))
        elapsed = time.monotonic() - t0
        self.assertTrue(back, "routes to c not back %.2f s after a forged "
                              "advertisement: a %r, b %r"
                        % (elapsed, a.routes(), bn.routes()))
        self.hold_routes([a, bn], "c", 1.0, "c took its name back")
        self.assertIsNotNone(
            c.wait_log(r" warning \[c\] ", 2, since=mark),
            "c logged no warning about the forgery\n" + c.tail())

    def test_largest_sequence_number_never_installs(self):
        a, bn, c, f = self.fight_back_mesh()
        before = self.counter(a, "dropped_invalid")
        f.send("all", "link_state", "c", LARGEST, 32, "")
        self.hold_routes([a, bn], "c", 2.0,
                         "a neighbour relayed c's name with the largest "
                         "sequence number")
        # Refused at the first node, as far ahead of its clock.
        self.wait_counter(a, "dropped_invalid", before + 1)

    def test_max_peers(self):
        bn = self.node("b").start()
        a = LimitedNode(self.workdir, "a", max_peers=2, peers=[bn.port],
                        dead_after_ms=3000)
        self.nodes.append(a)
        a.start(pty=True)
        self.assertTrue(a.wait_peer_state("b", "up", 10), a.tail())
        # Two unconfigured peers, from addresses of their own.
        p1 = self.fake("p1", a.endpoint, source="127.0.0.11")
        p2 = self.fake("p2", a.endpoint, source="127.0.0.12")
        self.linked(a, p1)
        self.linked(a, p2)
        # p3 is b's neighbour, so an error from a finds its way to p3.
        p3 = self.fake("p3", bn.endpoint, also=[a.endpoint],
                       source="127.0.0.13")
        self.linked(bn, p3)
        ok = wait_until(lambda: "p3" in a.routes(), 10)
        self.assertTrue(ok, "a has no route to p3: %r" % a.routes())
        rejected = self.counter(a, "rejected_dial")
        mark = p3.mark()
        mid = p3.new_id()
        p3.send("*", "server_connect", "p3", mid, 1, "127.0.0.1", p3.port,
                "quilt/1", via=1)
        error = p3.wait_for(lambda f: len(f) > 2 and f[2] == b"error", 5,
                            since=mark)
        self.assertIsNotNone(error, "no error for a server_connect past "
                                    "max_peers: %r\n%s"
                             % (a.stats(), a.tail()))
        self.assertEqual(error[1:4], [b"p3", b"error", b"a"], error)
        self.assertEqual(error[6:], [b"rejected", b(mid), b"peer_limit"])
        self.wait_counter(a, "rejected_dial", rejected + 1)
        # The peers already up stay up; the third never is.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            states = {r["name"]: r["state"] for r in a.peers()}
            self.assertEqual(states.get("p1"), "up", states)
            self.assertEqual(states.get("p2"), "up", states)
            self.assertNotEqual(states.get("p3"), "up", states)
            time.sleep(0.1)


class FloodTest(AttackCase):
    """Floods through a neighbour and from a client keep a node within
    bounds (RSS, open files) and serving."""

    NAMES_ADVERTS = 1030
    NAMES_EACH = 4096
    SERVER_CONNECTS = 4200
    LIMIT = 128 * MIB

    def test_names_flood_through_a_fake_neighbour(self):
        # A slow dead_after_ms: the flood loads both cores, and a neighbour
        # that flaps is not what this measures.
        a, bn, c = self.line_mesh(dead_after_ms=3000)
        f = self.fake("f", a.endpoint)
        self.linked(a, f)
        # The made-up names, unique across all advertisements (about 30 MB
        # in all, as in the issue).
        base = random.randrange(1, 16) << 23
        adverts = []
        for i in range(self.NAMES_ADVERTS):
            first = base + i * self.NAMES_EACH
            names = " ".join("m%x" % (first + j)
                             for j in range(self.NAMES_EACH))
            adverts.append(("x%x" % (base + i), names))
        rx = self.counter(a, "rx")
        usage = Usage([a, bn, c])
        try:
            seq = clock_seq()
            for i, (origin, names) in enumerate(adverts):
                f.send("all", "link_state", origin, seq + i, 32, names)
            self.assertTrue(f.flush(60), "the flood did not go out")

            def taken_in():
                # Fails at once when a node outgrows the bound: on a node
                # that does not bound names that is where it ends.
                for n in (a, bn, c):
                    self.assertLess(usage.growth(n.name), self.LIMIT,
                                    "during the flood: " + usage.report())
                try:
                    return self.counter(a, "rx") >= rx + self.NAMES_ADVERTS
                except AssertionError:  # its line interface is busy
                    return False
            self.assertTrue(wait_until(taken_in, 60, interval=0.2),
                            "a did not take the flood in: %s\n%s"
                            % (usage.report(), a.tail()))
            # A new real node, after the flood: reachable both ways.
            d = self.node("d", peers=[bn.port], dead_after_ms=3000).start()
            for src, dst in ((a, "d"), (d, "a"), (c, "a"), (a, "c")):
                ok = wait_until(lambda: src.ping(dst)
                                .startswith("pong from %s " % dst), 20,
                                interval=0.2)
                self.assertTrue(ok, "%s cannot reach %s after the names "
                                    "flood: %r\n%s"
                                % (src.name, dst, src.routes(), src.tail()))
        finally:
            usage.stop()
        for n in (a, bn, c):
            self.assertLess(usage.growth(n.name), self.LIMIT,
                            "%s grew too much: %s" % (n.name, usage.report()))

    def test_server_connect_flood(self):
        a = LimitedNode(self.workdir, "a", nofile=1024)
        self.nodes.append(a)
        a.start(pty=False)
        # Distinct closed ports on 127.0.0.1 (the default dial policy
        # allows loopback): nothing listens there, every dial fails.
        ports = []
        for port in range(30000, 60000):
            if len(ports) == self.SERVER_CONNECTS:
                break
            s = socket.socket()
            try:
                s.bind(("0.0.0.0", port))
                ports.append(port)
            except OSError:
                pass
            finally:
                s.close()
        self.assertEqual(len(ports), self.SERVER_CONNECTS)
        limit = open_files_limit(a.proc.pid)
        self.assertEqual(limit, 1024)
        rx = console(a, "stats").doc["rx"]
        usage = Usage([a])
        try:
            # One client, from an address of its own, made-up names.
            s = context().socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDTIMEO, 10000)
            s.connect("tcp://127.0.0.66:0;127.0.0.1:%d" % a.port)
            self.addCleanup(s.close)
            mid = random.randrange(10 ** 12)
            for i, port in enumerate(ports):
                s.send_multipart([b"*", b"server_connect", b"flood%04d" % i,
                                  b(mid + i), b"1", b"127.0.0.1", b(port),
                                  b"quilt/1"])
            # The console answers while the node works through it...
            r = console(a, "status", timeout=20)
            self.assertEqual(r.rc, 0, r)
            self.assertLess(r.elapsed, 5.0, r)

            def within_bounds():
                self.assertLess(usage.growth("a"), self.LIMIT,
                                "during the flood: " + usage.report())
                self.assertLess(usage.peak_fds["a"], limit // 2,
                                "during the flood a had %d files open "
                                "(limit %d)" % (usage.peak_fds["a"], limit))

            def taken_in():
                within_bounds()
                r = console(a, "stats", timeout=20)
                return r.rc == 0 and r.doc["rx"] >= rx + len(ports)
            self.assertTrue(wait_until(taken_in, 30, interval=0.5),
                            "a did not take the flood in\n" + a.tail())
            # ... and after; no peer of the flood stays (dead_after_ms is
            # 500).
            flood_ports = set(ports)

            def forgotten():
                within_bounds()
                r = console(a, "peers", timeout=20)
                return r.rc == 0 and not [
                    p for p in r.doc if p["port"] in flood_ports
                    or (p["name"] or "").startswith("flood")]
            self.assertTrue(wait_until(forgotten, 0.5 + 5, interval=0.2),
                            "flood peers still listed: %r"
                            % console(a, "peers").stdout[:2000])
            r = console(a, "status", timeout=20)
            self.assertEqual(r.rc, 0, r)
            self.assertLess(r.elapsed, 5.0, r)
            # A real node that starts now links up with a.
            real = self.node("real", peers=[a.port]).start()
            self.assertTrue(real.wait_peer_state("a", "up", 15),
                            "%r\n%s" % (real.peers(), real.tail()))

            def a_has_real():
                r = console(a, "peers", timeout=20)
                return r.rc == 0 and any(p["name"] == "real"
                                         and p["state"] == "up"
                                         for p in r.doc)
            self.assertTrue(wait_until(a_has_real, 15, interval=0.2),
                            console(a, "peers").stdout[:2000] + a.tail())
            self.assertTrue(real.ping("a").startswith("pong from a "))
        finally:
            usage.stop()
        self.assertLess(usage.growth("a"), self.LIMIT, usage.report())
        self.assertLess(usage.peak_fds["a"], limit // 2,
                        "a had %d files open (limit %d)"
                        % (usage.peak_fds["a"], limit))


if __name__ == "__main__":
    unittest.main(verbosity=2)
