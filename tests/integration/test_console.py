#!/usr/bin/python3
"""quilt-console against real quiltd processes (SPEC section 8): every
command with --json (exact shapes), the human-readable tables, the
interactive prompt on a pseudo-terminal, exit statuses 0/1/2/3 (usage
errors, a closed port, something that is not a Quilt console), and quiltd's
[console] section (port in use, a non-loopback host).

The shared mesh is the line a - b - c (a and c are not linked); a also has
a configured peer on a closed port, which stays "connecting"."""

import json
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import (LOG_RE, REPO, QuiltTestCase, context,  # noqa: E402
                           free_port)
from console_harness import (ConsoleNode, ConsolePrompt, console,  # noqa: E402
                             poll_console, run_console)

import zmq  # noqa: E402

STATUS_KEYS = {"name", "listen", "processors", "uptime_ms", "peers_up",
               "routes", "version"}
PEER_KEYS = {"name", "address", "port", "state", "rtt_us", "last_seen_ms"}
ROUTE_KEYS = {"destination", "next_hop", "hops"}
INBOX_KEYS = {"from", "to", "id", "text", "received_ms"}
HOP_KEYS = {"hop", "node", "rtt_us"}
STATS_KEYS = {"rx", "tx", "forwarded", "delivered", "dropped_invalid",
              "dropped_duplicate", "dropped_loop", "dropped_ttl",
              "dropped_unroutable", "dropped_queue_full", "dropped_overload",
              "name_conflicts", "rejected_auth", "rejected_dial",
              "dropped_spoofed", "retransmitted", "not_delivered"}


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*quilt\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1) if m else None


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def columns(header_line, names):
    """Start offsets of the column titles `names` in a header line."""
    starts = []
    for name in names:
        i = header_line.find(name)
        if i < 0:
            raise AssertionError("no column %r in header %r"
                                 % (name, header_line))
        starts.append(i)
    if starts != sorted(starts):
        raise AssertionError("columns out of order in %r" % header_line)
    return starts


def cells(line, starts):
    """Splits a table row at the header's column offsets, checking that
    every cell starts exactly at its column (an aligned table)."""
    out = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(line)
        if s > 0 and (len(line) <= s or line[s - 1] != " " or line[s] == " "):
            raise AssertionError("cell %d of %r does not start at column %d"
                                 % (i, line, s))
        out.append(line[s:end].strip())
    return out


class ConsoleMeshTest(QuiltTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pa, pb, pc = free_port(), free_port(), free_port()
        # Reserved by the harness (bound, never listening): connections to
        # it are refused, so a's peer there is never reached.
        cls.closed = free_port()

        def mk(name, **kw):
            n = ConsoleNode(cls.class_workdir, name, **kw)
            cls.class_nodes.append(n)
            return n

        cls.c = mk("c", port=pc)
        cls.b = mk("b", port=pb, peers=[pc])
        cls.a = mk("a", port=pa, peers=[pb, cls.closed], processors=3)
        for n in (cls.c, cls.b, cls.a):
            n.start()
        # Full routes on both ends of the line, seen through the console.
        for n, far in ((cls.a, "c"), (cls.c, "a")):
            r, ok = poll_console(
                n, ["routes"],
                lambda r: any(x.get("destination") == far for x in r.doc), 10)
            if not ok:
                raise AssertionError("%s never had a route to %s: %r\n%s"
                                     % (n.name, far, r, n.tail()))

    # -- status, peers, routes, topology ----------------------------------------

    def test_status_json(self):
        before = time.time()
        r = console(self.a, "status")
        self.assertEqual(r.rc, 0, r)
        s = r.doc
        self.assertEqual(set(s), STATUS_KEYS, r)
        self.assertEqual(s["name"], "a")
        self.assertEqual(s["listen"], "tcp://127.0.0.1:%d" % self.a.port)
        self.assertEqual(s["processors"], 3)
        self.assertEqual(s["version"], project_version())
        for k in ("uptime_ms", "peers_up", "routes"):
            self.assertTrue(is_int(s[k]), "%s: %r" % (k, s[k]))
        self.assertEqual(s["peers_up"], 1, r)   # b; the closed port is not up
        self.assertEqual(s["routes"], 2, r)     # b and c
        age_ms = (before - self.a.started_at) * 1000
        self.assertGreaterEqual(s["uptime_ms"], 0)
        self.assertLessEqual(s["uptime_ms"], age_ms + 2000, r)
        self.assertGreaterEqual(s["uptime_ms"], age_ms - 2000, r)
        later = console(self.a, "status").doc
        self.assertGreaterEqual(later["uptime_ms"], s["uptime_ms"])

    def test_peers_json(self):
        def b_has_rtt(r):
            return any(p["name"] == "b" and p["rtt_us"] is not None
                       for p in r.doc)
        r, ok = poll_console(self.a, ["peers"], b_has_rtt, 5)
        self.assertTrue(ok, r)
        peers = r.doc
        self.assertIsInstance(peers, list)
        for p in peers:
            self.assertEqual(set(p), PEER_KEYS, r)
        self.assertEqual(len(peers), 2, r)
        by_port = {p["port"]: p for p in peers}
        b = by_port[self.b.port]
        self.assertEqual(b["name"], "b")
        self.assertEqual(b["address"], "127.0.0.1")
        self.assertEqual(b["state"], "up")
        self.assertTrue(is_int(b["rtt_us"]) and b["rtt_us"] >= 0, r)
        self.assertTrue(is_int(b["last_seen_ms"]), r)
        # Heard from every heartbeat_ms (100); well within dead_after_ms.
        self.assertLess(b["last_seen_ms"], 2000, r)
        # A configured peer never reached: no name, "connecting".
        never = by_port[self.closed]
        self.assertEqual(never, {"name": None, "address": "127.0.0.1",
                                 "port": self.closed, "state": "connecting",
                                 "rtt_us": None, "last_seen_ms": None}, r)

    def test_peers_json_middle_node(self):
        # b's config names only c; a reached it by server_connect, so a's
        # listen port is known too.
        r = console(self.b, "peers")
        self.assertEqual(r.rc, 0, r)
        got = {p["name"]: (p["address"], p["port"], p["state"]) for p in r.doc}
        self.assertEqual(got, {"a": ("127.0.0.1", self.a.port, "up"),
                               "c": ("127.0.0.1", self.c.port, "up")}, r)

    def test_routes_json(self):
        r = console(self.a, "routes")
        self.assertEqual(r.rc, 0, r)
        for e in r.doc:
            self.assertEqual(set(e), ROUTE_KEYS, r)
        got = {e["destination"]: (e["next_hop"], e["hops"]) for e in r.doc}
        self.assertEqual(got, {"b": ("b", 1), "c": ("b", 2)}, r)
        self.assertEqual(len(r.doc), 2, r)  # each destination once, no "a"
        r = console(self.b, "routes")
        got = {e["destination"]: (e["next_hop"], e["hops"]) for e in r.doc}
        self.assertEqual(got, {"a": ("a", 1), "c": ("c", 1)}, r)

    def test_topology_json(self):
        for n in (self.a, self.b, self.c):
            r = console(n, "topology")
            self.assertEqual(r.rc, 0, r)
            self.assertEqual(set(r.doc), {"nodes", "links"}, r)
            self.assertEqual(sorted(r.doc["nodes"]), ["a", "b", "c"], r)
            links = r.doc["links"]
            for link in links:
                self.assertIsInstance(link, list)
                self.assertEqual(len(link), 2, r)
            # Each link once, in either orientation.
            self.assertEqual(len(links), 2, r)
            self.assertEqual({frozenset(l) for l in links},
                             {frozenset("ab"), frozenset("bc")}, r)

    def test_topology_dot(self):
        r = console(self.a, "topology", "--dot", json_out=False)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r"(?s)\A\s*(strict\s+)?graph\b[^{]*\{.*\}\s*\Z")
        self.assertNotIn("->", r.stdout)
        edges = set()
        for m in re.finditer(r'"?([A-Za-z0-9._:-]+)"?\s*--\s*"?([A-Za-z0-9._:-]+)"?',
                             r.stdout):
            edges.add(frozenset((m.group(1), m.group(2))))
        self.assertEqual(edges, {frozenset("ab"), frozenset("bc")}, r)
        for name in "abc":
            self.assertRegex(r.stdout, r'"?\b%s\b"?' % name)

    # -- ping, traceroute --------------------------------------------------------

    def test_ping_count(self):
        r = console(self.a, "ping", "c", "3")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(set(r.doc), {"target", "sent", "received", "rtt_us"}, r)
        self.assertEqual(r.doc["target"], "c")
        self.assertEqual((r.doc["sent"], r.doc["received"]), (3, 3), r)
        self.assertEqual(len(r.doc["rtt_us"]), 3, r)
        for x in r.doc["rtt_us"]:
            self.assertTrue(is_int(x) and 0 <= x < 2000000, r)
        # 200 ms apart: the third ping leaves at least 400 ms after the first.
        self.assertGreaterEqual(r.elapsed, 0.4, r)
        # COUNT defaults to 1.
        r = console(self.c, "ping", "a")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.doc["sent"], r.doc["received"],
                          len(r.doc["rtt_us"])), (1, 1, 1), r)

    def test_ping_unknown_node_fails(self):
        r = console(self.a, "ping", "nobody")
        self.assertEqual(r.rc, 1, r)
        d = r.doc
        for k in ("error", "detail", "sent", "received"):
            self.assertIn(k, d, r)
        self.assertIsInstance(d["error"], str)
        self.assertTrue(d["error"])
        self.assertIsInstance(d["detail"], str)
        self.assertEqual(d["received"], 0, r)
        self.assertEqual(d["sent"], 1, r)
        # Without --json it still fails, saying so on stderr.
        r = console(self.a, "ping", "nobody", json_out=False)
        self.assertEqual(r.rc, 1, r)
        self.assertTrue(r.stderr.strip(), r)

    def test_traceroute(self):
        r = console(self.a, "traceroute", "c")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(set(r.doc), {"target", "reached", "hops"}, r)
        self.assertEqual(r.doc["target"], "c")
        self.assertIs(r.doc["reached"], True, r)
        hops = r.doc["hops"]
        for h in hops:
            self.assertEqual(set(h), HOP_KEYS, r)
            self.assertTrue(is_int(h["rtt_us"]), r)
        self.assertEqual([(h["hop"], h["node"]) for h in hops],
                         [(1, "b"), (2, "c")], r)
        # Human-readable: the same hops, in order.
        r = console(self.a, "traceroute", "c", json_out=False)
        self.assertEqual(r.rc, 0, r)
        b_at, c_at = r.stdout.find(" b "), r.stdout.rfind(" c ")
        self.assertTrue(0 <= b_at < c_at, r)

    # -- send, inbox ------------------------------------------------------------

    def wait_inbox(self, node, msg_id, timeout=5):
        r, ok = poll_console(node, ["inbox"],
                             lambda r: any(e["id"] == msg_id for e in r.doc),
                             timeout)
        self.assertTrue(ok, "%s never got message %s: %r\n%s"
                        % (node.name, msg_id, r, node.tail()))
        return [e for e in r.doc if e["id"] == msg_id][0]

    def send(self, node, dest, *words):
        r = console(node, "send", dest, *words)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(set(r.doc), {"accepted", "id"}, r)
        self.assertIs(r.doc["accepted"], True, r)
        self.assertIsInstance(r.doc["id"], str, r)
        self.assertRegex(r.doc["id"], r"^(0|[1-9][0-9]*)$")
        self.assertLess(int(r.doc["id"]), 2 ** 64)
        return r.doc["id"]

    def test_send_and_inbox(self):
        t0 = time.time() * 1000
        msg_id = self.send(self.a, "c", "hello", "from", "a")
        e = self.wait_inbox(self.c, msg_id)
        t1 = time.time() * 1000
        self.assertEqual(set(e), INBOX_KEYS, e)
        self.assertEqual((e["from"], e["to"], e["id"], e["text"]),
                         ("a", "c", msg_id, "hello from a"), e)
        self.assertTrue(is_int(e["received_ms"]), e)
        # Unix epoch milliseconds, now.
        self.assertGreaterEqual(e["received_ms"], t0 - 1000, e)
        self.assertLessEqual(e["received_ms"], t1 + 1000, e)
        # Reading does not clear.
        self.assertEqual(self.wait_inbox(self.c, msg_id), e)

    def test_inbox_last_n_oldest_first(self):
        ids = []
        for i in range(3):
            ids.append(self.send(self.a, "b", "note", str(i)))
            self.wait_inbox(self.b, ids[-1])  # arrival order = sending order
        for n, want in ((2, ids[1:]), (1, ids[2:]), (3, ids)):
            r = console(self.b, "inbox", str(n))
            self.assertEqual(r.rc, 0, r)
            self.assertEqual([e["id"] for e in r.doc], want, r)
            self.assertEqual([e["text"] for e in r.doc],
                             ["note %d" % ids.index(i) for i in want], r)
        r = console(self.b, "inbox")  # default 20: all three, oldest first
        got = [e["id"] for e in r.doc]
        self.assertEqual(got[-3:], ids, r)
        self.assertLessEqual(len(got), 20)

    # -- stats, nodes, --node -----------------------------------------------------

    def test_stats(self):
        r = console(self.b, "stats")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(set(r.doc), STATS_KEYS, r)
        for k, v in r.doc.items():
            self.assertTrue(is_int(v) and v >= 0, "%s: %r" % (k, v))
        # Heartbeats flow both ways.
        self.assertGreater(r.doc["rx"], 0, r)
        self.assertGreater(r.doc["tx"], 0, r)
        self.assertGreater(r.doc["delivered"], 0, r)

    def test_nodes_and_node_option_need_a_simulation(self):
        for extra, args in (((), ["nodes"]), (("--node", "b"), ["status"])):
            with self.subTest(extra=extra, args=args):
                r = console(self.a, *args, extra_opts=extra)
                self.assertEqual(r.rc, 1, r)
                self.assertEqual(r.doc.get("error"), "not_a_simulation", r)
                self.assertIsInstance(r.doc.get("detail"), str, r)
                r = console(self.a, *args, extra_opts=extra, json_out=False)
                self.assertEqual(r.rc, 1, r)
                self.assertRegex(r.stderr, r"(?i)simulation", r)

    # -- human-readable output ----------------------------------------------------

    def test_human_readable_tables(self):
        r = console(self.a, "status", json_out=False)
        self.assertEqual(r.rc, 0, r)
        lines = r.stdout.splitlines()
        self.assertRegex(r.stdout, r"(?m)^name\s+a$")
        self.assertRegex(r.stdout, r"(?m)^listen\s+tcp://127\.0\.0\.1:%d$"
                         % self.a.port)
        # Values aligned in one column.
        offsets = set()
        for l in lines:
            m = re.match(r"^\S+(?: \S+)*  +(\S)", l)
            self.assertIsNotNone(m, r)
            offsets.add(m.start(1))
        self.assertEqual(len(offsets), 1, r)

        r = console(self.a, "peers", json_out=False)
        self.assertEqual(r.rc, 0, r)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("NAME"), r)
        names = ["NAME", "ADDRESS", "PORT", "STATE"]
        starts = columns(lines[0], names)
        rows = [cells(l, starts) for l in lines[1:]]
        self.assertEqual(len(rows), 2, r)
        by_port = {row[2]: row for row in rows}
        self.assertEqual(by_port[str(self.b.port)][0], "b", r)
        self.assertEqual(by_port[str(self.b.port)][3].split()[0], "up", r)
        self.assertEqual(by_port[str(self.closed)][3].split()[0],
                         "connecting", r)

        r = console(self.a, "routes", json_out=False)
        self.assertEqual(r.rc, 0, r)
        lines = r.stdout.splitlines()
        starts = columns(lines[0], ["DESTINATION", "NEXT HOP", "HOPS"])
        rows = {tuple(cells(l, starts)) for l in lines[1:]}
        self.assertEqual(rows, {("b", "b", "1"), ("c", "b", "2")}, r)

        for args in (["topology"], ["stats"], ["inbox"], ["ping", "b"]):
            r = console(self.a, *args, json_out=False)
            self.assertEqual(r.rc, 0, r)
            self.assertTrue(r.stdout.strip(), r)
            with self.assertRaises(ValueError, msg=repr(r)):
                json.loads(r.stdout)

    # -- the interactive prompt -------------------------------------------------

    def test_interactive_prompt(self):
        with ConsolePrompt(self.a.console_port) as p:
            p.expect(r"connected to 127\.0\.0\.1:%d" % self.a.console_port)
            p.expect(r"quilt> ")
            out = p.command("status")
            self.assertRegex(out, r"(?m)^name\s+a\s*$", p.text)
            self.assertRegex(out, r"(?m)^listen\s+tcp://127\.0\.0\.1:%d\s*$"
                             % self.a.port, p.text)
            out = p.command("help")
            for word in ("status", "peers", "routes", "topology", "ping",
                         "traceroute", "connect", "send", "inbox", "stats",
                         "shutdown", "quit"):
                self.assertRegex(out, r"\b%s\b" % word, p.text)
            # A mistake is reported and the prompt goes on.
            out = p.command("frobnicate")
            self.assertRegex(out, r"(?i)unknown command", p.text)
            out = p.command("routes")
            self.assertRegex(out, r"(?m)^c\s+b\s+2\s*$", p.text)
            p.type("quit")
            rc = p.wait_exit(5)
            self.assertEqual(rc, 0, p.text)

    # -- not a Quilt console ------------------------------------------------------

    def test_zeromq_port_is_not_a_console(self):
        # The node's own ROUTER speaks ZMTP, not CAF's protocol.
        r = run_console(self.a.port, ["status"])
        self.assertEqual(r.rc, 3, r)
        self.assertLess(r.elapsed, 5, r)
        self.assertIn("error", r.doc, r)
        self.assertTrue(self.a.alive(), self.a.tail())
        # The node is unharmed.
        self.assertEqual(console(self.a, "status").rc, 0)


class ConsoleStandaloneTest(QuiltTestCase):
    def cnode(self, name, **kw):
        n = ConsoleNode(self.workdir, name, **kw)
        self.nodes.append(n)
        return n

    # -- connect, shutdown ---------------------------------------------------

    def test_connect_then_peer_shows_up(self):
        p = self.cnode("p").start()
        q = self.node("q").start(pty=False)  # a plain node, no console
        r = console(p, "peers")
        self.assertEqual((r.rc, r.doc), (0, []), r)
        r = console(p, "connect", "127.0.0.1", str(q.port))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc, {"accepted": True}, r)
        r, ok = poll_console(
            p, ["peers"],
            lambda r: any(x["name"] == "q" and x["state"] == "up"
                          and x["port"] == q.port for x in r.doc), 5)
        self.assertTrue(ok, r)
        self.assertEqual(len(r.doc), 1, r)
        self.assertEqual(r.doc[0]["address"], "127.0.0.1", r)
        r = console(p, "connect", "127.0.0.1", str(q.port), json_out=False)
        self.assertEqual(r.rc, 0, r)

    def test_shutdown(self):
        n = self.cnode("s").start()
        r = console(n, "shutdown")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc, {"accepted": True}, r)
        rc = n.wait_exit(5)
        self.assertEqual(rc, 0, "exit %s\n%s\n%s"
                         % (rc, n.tail(), n.hang_report))
        # Its console is gone with it.
        r = console(n, "status")
        self.assertEqual(r.rc, 3, r)

    def test_incoming_only_peer_port_null_until_server_connect(self):
        n = self.cnode("n", dead_after_ms=10000)
        n.start()
        dealer = context().socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.ROUTING_ID, b"zed")
        self.addCleanup(dealer.close)
        dealer.connect(n.endpoint)
        dealer.send_multipart([b"n", b"ping", b"zed", b"1000", b"1"])
        r, ok = poll_console(n, ["peers"],
                             lambda r: any(x["name"] == "zed" for x in r.doc), 5)
        self.assertTrue(ok, r)
        zed = [x for x in r.doc if x["name"] == "zed"][0]
        self.assertEqual(set(zed), PEER_KEYS, r)
        self.assertIsNone(zed["port"], r)
        self.assertEqual(zed["state"], "up", r)
        # "I am zed, reach me at 127.0.0.1:PORT".
        router = context().socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        self.addCleanup(router.close)
        zport = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.send_multipart([b"n", b"server_connect", b"zed", b"1001", b"1",
                               b"127.0.0.1", str(zport).encode(), b"quilt/1"])
        r, ok = poll_console(
            n, ["peers"],
            lambda r: any(x["name"] == "zed" and x["port"] == zport
                          for x in r.doc), 5)
        self.assertTrue(ok, r)

    # -- exit statuses -------------------------------------------------------

    def test_usage_errors_exit_2(self):
        closed = free_port()  # a console there would be exit 3, not 2
        cases = [
            ("unknown command", [], ["frobnicate"]),
            ("bad COUNT 0", [], ["ping", "b", "0"]),
            ("bad COUNT word", [], ["ping", "b", "three"]),
            ("bad COUNT negative", [], ["ping", "b", "-1"]),
            ("too many args", [], ["ping", "b", "1", "2"]),
            ("ping without NAME", [], ["ping"]),
            ("traceroute without NAME", [], ["traceroute"]),
            ("connect without PORT", [], ["connect", "127.0.0.1"]),
            ("connect bad PORT", [], ["connect", "127.0.0.1", "70000"]),
            ("send without DEST", [], ["send"]),
            ("inbox 0", [], ["inbox", "0"]),
            ("status with an argument", [], ["status", "now"]),
            ("topology bad flag", [], ["topology", "--svg"]),
            ("unknown option", ["--frob"], ["status"]),
            ("--port 0", ["--port", "0"], ["status"]),
            ("--port 70000", ["--port", "70000"], ["status"]),
            ("--port abc", ["--port", "abc"], ["status"]),
            ("--port without value", ["--port"], []),
            ("--host without value", ["--host"], []),
        ]
        for label, opts, args in cases:
            with self.subTest(label):
                r = run_console(closed, args, extra_opts=opts)
                self.assertEqual(r.rc, 2, r)
                self.assertEqual(set(r.doc), {"error", "detail"}, r)
                self.assertIsInstance(r.doc["detail"], str)
                r = run_console(closed, args, extra_opts=opts, json_out=False)
                self.assertEqual(r.rc, 2, r)
                self.assertEqual(r.stdout, "", r)
                self.assertTrue(r.stderr.strip(), r)

    def test_closed_port_exit_3(self):
        closed = free_port()  # reserved, never listening: refused
        for json_out in (True, False):
            r = run_console(closed, ["status"], json_out=json_out)
            self.assertEqual(r.rc, 3, r)
            self.assertLess(r.elapsed, 5, r)
            if json_out:
                self.assertEqual(set(r.doc), {"error", "detail"}, r)
            else:
                self.assertEqual(r.stdout, "", r)
                self.assertTrue(r.stderr.strip(), r)
        # The interactive prompt too gives up at once.
        r = run_console(closed, [], json_out=False)
        self.assertEqual(r.rc, 3, r)
        self.assertLess(r.elapsed, 5, r)

    def test_silent_server_exit_3(self):
        # Accepts connections and never says a word.
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        held = []
        stop = threading.Event()

        def accept():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(srv.accept()[0])
                except (socket.timeout, OSError):
                    continue

        t = threading.Thread(target=accept, daemon=True)
        t.start()

        def done():
            stop.set()
            t.join(2)
            for s in held:
                s.close()
        self.addCleanup(done)
        r = run_console(srv.getsockname()[1], ["status"], timeout=15)
        self.assertEqual(r.rc, 3, r)
        self.assertLess(r.elapsed, 5, r)
        self.assertEqual(set(r.doc), {"error", "detail"}, r)
        self.assertTrue(held, "the console never connected")

    # -- quiltd's [console] ----------------------------------------------------

    def test_console_port_in_use_exits_1(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        busy = holder.getsockname()[1]
        n = self.cnode("busy", console_port=busy)
        n.start(wait_ready=False)
        rc = n.wait_exit(10)
        self.assertEqual(rc, 1, "exit %s\n%s" % (rc, n.tail()))
        # Log lines ("<epoch> <level> [node] ...") aside, one line.
        plain = [l.raw for l in n.logs if not LOG_RE.match(l.raw)]
        self.assertEqual(len(plain), 1, n.tail())
        self.assertIn(str(busy), plain[0])
        self.assertRegex(plain[0], r"(?i)console")
        # "One clear line", as for a listen port in use (test_bad_config).
        self.assertRegex(plain[0], r"(?i)in use", plain[0])

    def test_console_on_all_interfaces_warns(self):
        n = self.cnode("wide", console_host="0.0.0.0")
        n.start()
        line = n.wait_log(r"\] console on ", timeout=1)
        warn = n.find_logs(r"(?i)warn.*(TLS|loopback)")
        self.assertTrue(warn, n.tail())
        self.assertEqual(warn[0].level, "warning", warn)
        self.assertIsNotNone(line)
        # And the console answers on loopback.
        r = console(n, "status")
        self.assertEqual(r.rc, 0, r)
        # A loopback console does not warn.
        quiet = self.cnode("narrow").start()
        self.assertEqual(quiet.find_logs(r"(?i)TLS|not loopback"), [],
                         quiet.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
