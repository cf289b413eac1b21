#!/usr/bin/python3
"""quilt-sim (SPEC sections 8-9) as a user runs it: the report's shape and
counts, every event kind with its expectation (and a failed one), the same
fault drill on every transport, determinism and seeds, --dot, the progress
lines, the console of a running simulation, command-line and scenario
errors, and the example scenarios as shipped.

Scenarios are written into temp dirs. Most are deterministic (virtual time:
milliseconds of wall time); the real-time runs (a few seconds each, mostly
sleeping) are started together by setUpModule and checked by the tests that
need them, so they overlap with everything else."""

import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import REPO  # noqa: E402
from console_harness import run_console  # noqa: E402
from sim_harness import (DROP_KEYS, EVENT_KEYS, FAST,  # noqa: E402
                         FAULT_ACTIONS, SAMPLE_KEYS,
                         MESSAGE_KEYS, REPORT_KEYS, free_console_port,
                         free_port_block, is_int, rewrite_simulation,
                         run_sim, scenario_toml, stable_report, start_sim,
                         write_scenario)

DET = {"transport": "direct", "deterministic": True}


def names(n):
    return ["n%d" % i for i in range(n)]


def pairs(links):
    """Links as a set of frozensets (either way round)."""
    return {frozenset(l) for l in links}


def connected(nodes, links):
    adj = {n: set() for n in nodes}
    for a, b in links:
        adj[a].add(b)
        adj[b].add(a)
    seen, todo = {nodes[0]}, [nodes[0]]
    while todo:
        for m in adj[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return len(seen) == len(nodes)


def hop_count(detail):
    m = re.search(r"\b(\d+) hops?\b", detail)
    if not m:
        raise AssertionError("no hop count in traceroute detail %r" % detail)
    return int(m.group(1))


def reached(detail):
    """(k, n) from a broadcast's "reached k/n" detail."""
    m = re.search(r"reached (\d+)/(\d+)", detail)
    if not m:
        raise AssertionError("no 'reached k/n' in broadcast detail %r"
                             % detail)
    return int(m.group(1)), int(m.group(2))


# -- scenarios used by several tests ------------------------------------------

# A line n0 - n1 - ... - n5: every kind of message, all expected to work.
LINE_EVENTS = [
    {"at_ms": 0, "action": "ping", "from": "n0", "to": "n5",
     "expect": "delivered"},
    {"at_ms": 100, "action": "traceroute", "from": "n0", "to": "n5",
     "expect": "delivered"},
    {"at_ms": 200, "action": "traceroute", "from": "n4", "to": "n2",
     "expect": "delivered"},
    {"at_ms": 300, "action": "send", "from": "n1", "to": "n4",
     "text": "hello n4", "expect": "delivered"},
    {"at_ms": 400, "action": "broadcast", "from": "n2", "text": "hi all",
     "expect": "all"},
    {"at_ms": 500, "action": "ping", "from": "n5", "to": "n0"},
]


def ring_events(det):
    """A ring n0 .. n7 losing a node, a link and half of itself, and
    healing. `det`: exact SPEC bounds on virtual time; else with margins
    for real time."""
    gone = 700 if det else 1000  # dead_after_ms + 2 x heartbeat_ms (SPEC 6)
    return [
        {"at_ms": 0, "action": "ping", "from": "n0", "to": "n4",
         "expect": "delivered"},
        {"at_ms": 100, "action": "send", "from": "n0", "to": "n5",
         "text": "hello n5", "expect": "delivered"},
        {"at_ms": 200, "action": "broadcast", "from": "n3",
         "text": "hello all", "expect": "all"},
        {"at_ms": 300, "action": "kill", "node": "n2"},
        {"at_ms": 300 + gone, "action": "ping", "from": "n0", "to": "n2",
         "expect": "unreachable"},
        # n1 - n2 - n3 is gone: the long way round.
        {"at_ms": 1400, "action": "traceroute", "from": "n1", "to": "n3",
         "expect": "delivered"},
        {"at_ms": 1500, "action": "broadcast", "from": "n0",
         "text": "six of us", "expect": "all"},
        {"at_ms": 1600, "action": "restart", "node": "n2"},
        {"at_ms": 3600, "action": "ping", "from": "n0", "to": "n2",
         "expect": "delivered"},
        {"at_ms": 3700, "action": "cut", "a": "n0", "b": "n1"},
        {"at_ms": 4700, "action": "traceroute", "from": "n0", "to": "n1",
         "expect": "delivered"},
        {"at_ms": 4800, "action": "heal", "a": "n0", "b": "n1"},
        {"at_ms": 6300, "action": "traceroute", "from": "n0", "to": "n1",
         "expect": "delivered"},
        # Cuts n3-n4 and n7-n0.
        {"at_ms": 6400, "action": "partition",
         "side": ["n0", "n1", "n2", "n3"]},
        {"at_ms": 7400, "action": "ping", "from": "n0", "to": "n5",
         "expect": "unreachable"},
        {"at_ms": 7500, "action": "broadcast", "from": "n1",
         "text": "our side", "expect": "all"},
        {"at_ms": 7600, "action": "heal_all"},
        {"at_ms": 9100, "action": "ping", "from": "n0", "to": "n5",
         "expect": "delivered"},
        {"at_ms": 9200, "action": "broadcast", "from": "n5",
         "text": "whole again", "expect": "all"},
    ]


def ring_scenario(workdir, filename, det, **simulation):
    sim = dict(DET) if det else {"transport": "direct"}
    sim.update({"seed": 11, "settle_ms": 300})
    sim.update(simulation)
    return write_scenario(workdir, filename, simulation=sim, defaults=FAST,
                          topology={"kind": "ring", "nodes": 8},
                          events=ring_events(det))


def failing_scenario(workdir, det):
    """A line n0 - n1 - n2 - n3 where two expectations fail (events 1 and
    4 of 0..5)."""
    sim = dict(DET) if det else {"transport": "direct"}
    sim["settle_ms"] = 200
    gone = 700 if det else 1000
    return write_scenario(
        workdir, "fail-%s.toml" % det, simulation=sim, defaults=FAST,
        topology={"kind": "line", "nodes": 4},
        events=[
            {"at_ms": 0, "action": "ping", "from": "n0", "to": "n3",
             "expect": "delivered"},
            # Fails: the ping is answered.
            {"at_ms": 100, "action": "ping", "from": "n0", "to": "n3",
             "expect": "unreachable"},
            {"at_ms": 200, "action": "send", "from": "n0", "to": "n2",
             "text": "still fine", "expect": "delivered"},
            {"at_ms": 300, "action": "kill", "node": "n3"},
            # Fails: n3 is dead.
            {"at_ms": 300 + gone, "action": "ping", "from": "n0",
             "to": "n3", "expect": "delivered"},
            {"at_ms": 1400, "action": "broadcast", "from": "n0",
             "text": "the rest", "expect": "all"},
        ])
FAILING_OKS = [True, False, True, True, False, True]


def read_shipped(name):
    with open(os.path.join(REPO, "config", name)) as f:
        return f.read()


# -- the real-time runs, started together -------------------------------------

WORKDIR = None
BACKGROUND = {}  # name -> SimProcess
SIM_FAULTS_NODES = 16


def setUpModule():
    global WORKDIR
    WORKDIR = tempfile.mkdtemp(prefix="quilt-sim-it-")

    def start(name, args):
        BACKGROUND[name] = start_sim(args, cwd=WORKDIR)

    def report(name):
        return os.path.join(WORKDIR, name + ".json")

    start("demo", [os.path.join(REPO, "config", "sim-demo.toml"),
                   "--report", report("demo")])
    start("faults", [os.path.join(REPO, "config", "sim-faults.toml"),
                     "--report", report("faults")])
    faults = read_shipped("sim-faults.toml")
    for transport in ("inproc", "tcp", "direct"):
        settings = {"transport": transport}
        if transport == "tcp":
            settings["base_port"] = free_port_block(SIM_FAULTS_NODES)
        path = os.path.join(WORKDIR, "faults-%s.toml" % transport)
        with open(path, "w") as f:
            f.write(rewrite_simulation(faults, **settings))
        start("faults-" + transport, [path, "--report",
                                      report("faults-" + transport)])
    start("ring", [ring_scenario(WORKDIR, "ring-rt.toml", det=False),
                   "--report", report("ring"),
                   "--dot", os.path.join(WORKDIR, "ring.dot")])


def tearDownModule():
    for p in BACKGROUND.values():
        p.kill()
    shutil.rmtree(WORKDIR, ignore_errors=True)


def background(name, timeout=60):
    return BACKGROUND[name].finish(timeout)


class SimTestCase(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="quilt-sim-it-")
        self.addCleanup(shutil.rmtree, self.workdir, True)

    def scenario(self, filename="s.toml", **kw):
        return write_scenario(self.workdir, filename, **kw)

    def out(self, filename):
        return os.path.join(self.workdir, filename)

    def assertExit(self, r, rc):
        self.assertEqual(r.rc, rc, r)

    def assertEventsOk(self, r, want=None):
        """Every event ok, or ok as `want` says (a list of booleans)."""
        oks = [e["ok"] for e in r.report["events"]]
        self.assertEqual(oks, want or [True] * len(oks),
                         "\n".join("%s %s ok=%s: %s"
                                   % (e["at_ms"], e["action"], e["ok"],
                                      e["detail"])
                                   for e in r.report["events"]))

    def check_shape(self, rep, events):
        """SPEC 9's report: every key with its type."""
        self.assertEqual(set(rep), REPORT_KEYS)
        self.assertIsInstance(rep["scenario"], str)
        self.assertTrue(is_int(rep["seed"]) and rep["seed"] >= 0)
        self.assertIn(rep["transport"], ("inproc", "tcp", "direct"))
        self.assertIsInstance(rep["deterministic"], bool)
        for k in ("nodes", "links", "converged_ms", "deliveries",
                  "duplicate_deliveries", "network_lost", "false_downs",
                  "peak_rss_bytes", "wall_ms"):
            self.assertTrue(is_int(rep[k]) and rep[k] >= 0, (k, rep[k]))
        self.assertGreater(rep["peak_rss_bytes"], 0)
        self.assertEqual(rep["duplicate_deliveries"], 0)
        topo = rep["topology"]
        self.assertEqual(set(topo), {"nodes", "links"})
        self.assertTrue(all(isinstance(n, str) for n in topo["nodes"]))
        for l in topo["links"]:
            self.assertTrue(isinstance(l, list) and len(l) == 2
                            and all(isinstance(n, str) for n in l)
                            and l[0] != l[1], l)
            self.assertTrue(set(l) <= set(topo["nodes"]), l)
        self.assertEqual(len(pairs(topo["links"])), len(topo["links"]),
                         "a link listed twice")
        self.assertEqual(len(rep["events"]), len(events))
        for e, ev in zip(rep["events"], events):
            fault = e["action"] in FAULT_ACTIONS
            self.assertEqual(set(e), EVENT_KEYS | ({"reconverged_ms"}
                                                   if fault else set()))
            if fault:
                self.assertTrue(e["reconverged_ms"] is None
                                or (is_int(e["reconverged_ms"])
                                    and e["reconverged_ms"] >= 0), e)
            self.assertEqual(e["at_ms"], ev["at_ms"])
            self.assertEqual(e["action"], ev["action"])
            self.assertIsInstance(e["ok"], bool)
            self.assertIsInstance(e["detail"], str)
            self.assertTrue(e["detail"], e)
            self.assertTrue(e["latency_us"] is None
                            or (is_int(e["latency_us"])
                                and e["latency_us"] >= 0), e)
            if e["action"] not in ("ping", "traceroute", "send",
                                   "broadcast"):
                # Nothing travels: no latency to report.
                self.assertIsNone(e["latency_us"], e)
        self.assertIsInstance(rep["timeline"], list)
        for x in rep["timeline"]:
            self.assertEqual(set(x), SAMPLE_KEYS)
            self.assertTrue(is_int(x["t_ms"]))
            for k in ("nodes_converged", "messages", "lost"):
                self.assertTrue(is_int(x[k]) and x[k] >= 0, (k, x))
        self.assertEqual(set(rep["messages"]), MESSAGE_KEYS)
        self.assertEqual(set(rep["drops"]), DROP_KEYS)
        for d in (rep["messages"], rep["drops"]):
            for k, v in d.items():
                self.assertTrue(is_int(v) and v >= 0, (k, v))


# -- 1. the report ------------------------------------------------------------


class ReportTest(SimTestCase):
    def test_report_on_stdout_has_every_key(self):
        # Relative path, run from the scenario's directory: the report
        # names the scenario as given.
        self.scenario("line.toml", simulation=dict(DET, seed=3, settle_ms=100),
                      defaults=FAST, topology={"kind": "line", "nodes": 6},
                      events=LINE_EVENTS)
        r = run_sim(["line.toml"], cwd=self.workdir)
        self.assertExit(r, 0)
        rep = r.report  # stdout: exactly one JSON document
        self.check_shape(rep, LINE_EVENTS)
        self.assertEqual(rep["scenario"], "line.toml")
        self.assertEqual(rep["seed"], 3)
        self.assertEqual(rep["transport"], "direct")
        self.assertIs(rep["deterministic"], True)
        self.assertEqual((rep["nodes"], rep["links"]), (6, 5))
        self.assertEqual(rep["topology"]["nodes"], names(6))
        self.assertEqual(pairs(rep["topology"]["links"]),
                         pairs(zip(names(6), names(6)[1:])))
        self.assertNotIn("{", r.stderr, "the report belongs on stdout only")

        m, drops = rep["messages"], rep["drops"]
        # Heartbeats, link set-up and routing have all happened.
        self.assertGreaterEqual(m["server_connect"], rep["links"])
        self.assertGreater(m["ping"], 0)
        self.assertGreater(m["pong"], 0)
        self.assertGreater(m["link_state"], 0)
        # The send crosses 3 links, the broadcast reaches 5 nodes; the
        # traceroutes' early hops answer with error ttl_expired (4 + 1).
        self.assertGreaterEqual(m["msg"], 3 + 5)
        self.assertGreaterEqual(m["error"], 4 + 1)
        self.assertGreaterEqual(drops["ttl"], 4 + 1)
        self.assertEqual(drops["invalid"], 0)
        # Every pong, and the messages, are delivered to their destination.
        self.assertGreaterEqual(rep["deliveries"], 1 + 5)

    def test_report_file_and_empty_stdout(self):
        path = self.scenario(simulation=dict(DET, settle_ms=0),
                             defaults=FAST, topology={"kind": "star",
                                                      "nodes": 5})
        r = run_sim([path, "--report", self.out("r.json")])
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, "")
        self.check_shape(r.report, [])
        self.assertEqual(r.report["scenario"], path)
        self.assertEqual(r.report["seed"], 1)  # SPEC 9: default 1
        self.assertEqual(r.report["events"], [])

    def test_real_time_report_has_every_key(self):
        r = background("demo")
        self.assertExit(r, 0)
        self.check_shape(r.report, [{"at_ms": 0, "action": "ping"},
                                    {"at_ms": 100, "action": "traceroute"},
                                    {"at_ms": 200, "action": "send"},
                                    {"at_ms": 300, "action": "broadcast"}])
        self.assertIs(r.report["deterministic"], False)
        self.assertEqual(r.report["transport"], "inproc")
        self.assertLessEqual(r.report["converged_ms"], r.report["wall_ms"])

    def test_generators_node_and_link_counts(self):
        cases = [
            ("line", {"nodes": 7}, set(pairs(zip(names(7), names(7)[1:])))),
            ("ring", {"nodes": 7},
             pairs(list(zip(names(7), names(7)[1:])) + [("n6", "n0")])),
            ("star", {"nodes": 6}, pairs(("n0", n) for n in names(6)[1:])),
            # Row-major, the last row short: n0 n1 n2 / n3 n4 n5 / n6.
            ("grid", {"nodes": 7, "width": 3},
             pairs([("n0", "n1"), ("n1", "n2"), ("n3", "n4"), ("n4", "n5"),
                    ("n0", "n3"), ("n1", "n4"), ("n2", "n5"),
                    ("n3", "n6")])),
            ("full", {"nodes": 5},
             pairs((a, b) for i, a in enumerate(names(5))
                   for b in names(5)[i + 1:])),
            ("random", {"nodes": 14, "degree": 4}, None),
            ("scale-free", {"nodes": 14, "m": 2}, None),
        ]
        for kind, keys, want in cases:
            with self.subTest(kind=kind):
                topo = dict(kind=kind, **keys)
                path = self.scenario(kind + ".toml",
                                     simulation=dict(DET, settle_ms=0),
                                     defaults=FAST, topology=topo)
                r = run_sim([path])
                self.assertExit(r, 0)
                rep = r.report
                n = keys["nodes"]
                links = rep["topology"]["links"]
                self.assertEqual(rep["nodes"], n)
                self.assertEqual(rep["topology"]["nodes"], names(n))
                self.assertEqual(rep["links"], len(links))
                self.assertEqual(len(pairs(links)), len(links))
                self.assertTrue(connected(names(n), links), links)
                if want is not None:
                    self.assertEqual(pairs(links), want)
                elif kind == "random":
                    # About `degree` links per node.
                    avg = 2.0 * len(links) / n
                    self.assertTrue(3 <= avg <= 5, avg)
                else:
                    # Barabasi-Albert: m links for each new node.
                    self.assertTrue(2 * (n - 3) <= len(links) <= 2 * n,
                                    len(links))

    def test_explicit_topology(self):
        path = self.scenario(
            simulation=dict(DET, settle_ms=0), defaults=FAST,
            topology={"kind": "explicit"},
            nodes=["alpha", "beta", "gamma", "delta"],
            links=[("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha"),
                   ("gamma", "delta")],
            events=[{"at_ms": 0, "action": "traceroute", "from": "alpha",
                     "to": "delta", "expect": "delivered"}])
        r = run_sim([path])
        self.assertExit(r, 0)
        rep = r.report
        self.assertEqual((rep["nodes"], rep["links"]), (4, 4))
        self.assertEqual(set(rep["topology"]["nodes"]),
                         {"alpha", "beta", "gamma", "delta"})
        self.assertEqual(pairs(rep["topology"]["links"]),
                         pairs([("alpha", "beta"), ("beta", "gamma"),
                                ("gamma", "alpha"), ("gamma", "delta")]))
        self.assertEqual(hop_count(rep["events"][0]["detail"]), 2)


# -- 2. events and expectations -----------------------------------------------


class EventsTest(SimTestCase):
    def run_line(self, det):
        sim = dict(DET) if det else {"transport": "direct"}
        sim["settle_ms"] = 200
        path = self.scenario(simulation=sim, defaults=FAST,
                             topology={"kind": "line", "nodes": 6},
                             events=LINE_EVENTS)
        r = run_sim([path, "--report", self.out("r.json")])
        self.assertExit(r, 0)
        self.assertEventsOk(r)
        ev = r.report["events"]
        # ping n0 -> n5 delivered, with its round trip.
        self.assertTrue(is_int(ev[0]["latency_us"]), ev[0])
        self.assertIn("n5", ev[0]["detail"])
        # Traceroutes along the line: 5 hops and 2 hops, ending at the
        # target.
        self.assertEqual(hop_count(ev[1]["detail"]), 5, ev[1])
        self.assertTrue(ev[1]["detail"].rstrip().endswith("n5"), ev[1])
        self.assertEqual(hop_count(ev[2]["detail"]), 2, ev[2])
        self.assertTrue(ev[2]["detail"].rstrip().endswith("n2"), ev[2])
        # send delivered; broadcast reached all 5 other nodes.
        self.assertIn("n4", ev[3]["detail"])
        self.assertEqual(reached(ev[4]["detail"]), (5, 5))
        # An event without expect is ok when it ran.
        self.assertTrue(ev[5]["ok"])
        self.assertEqual(r.report["duplicate_deliveries"], 0)

    def test_line_deterministic(self):
        self.run_line(det=True)

    def test_line_real_time(self):
        self.run_line(det=False)

    def check_ring(self, r, det):
        self.assertExit(r, 0)
        self.assertEventsOk(r)
        gone = 300 + (700 if det else 1000)
        ev = {(e["at_ms"], e["action"]): e for e in r.report["events"]}
        self.assertEqual(len(ev), len(r.report["events"]))
        self.assertTrue(is_int(ev[(0, "ping")]["latency_us"]))
        self.assertIn("n5", ev[(100, "send")]["detail"])
        self.assertEqual(reached(ev[(200, "broadcast")]["detail"]), (7, 7))
        self.assertIn("n2", ev[(300, "kill")]["detail"])
        # The ping to the killed n2 is unreachable.
        dead_ping = ev[(gone, "ping")]
        self.assertIsNone(dead_ping["latency_us"])
        self.assertIn("unreachable", dead_ping["detail"])
        # n1 to n3 goes round the other way: n0 n7 n6 n5 n4 n3.
        self.assertEqual(hop_count(ev[(1400, "traceroute")]["detail"]), 6)
        self.assertEqual(reached(ev[(1500, "broadcast")]["detail"]), (6, 6))
        # Restarted n2 answers again.
        self.assertTrue(is_int(ev[(3600, "ping")]["latency_us"]))
        # n0-n1 cut: the way round is 7 hops; healed: 1 hop again.
        self.assertEqual(hop_count(ev[(4700, "traceroute")]["detail"]), 7)
        self.assertEqual(hop_count(ev[(6300, "traceroute")]["detail"]), 1)
        # Partitioned: n5 is unreachable from n0, and a broadcast from n1
        # reaches its side only (n0, n2, n3) and that counts as "all".
        self.assertIsNone(ev[(7400, "ping")]["latency_us"])
        self.assertEqual(reached(ev[(7500, "broadcast")]["detail"]), (3, 3))
        # Healed: across again, and everyone hears n5.
        self.assertTrue(is_int(ev[(9100, "ping")]["latency_us"]))
        self.assertEqual(reached(ev[(9200, "broadcast")]["detail"]), (7, 7))
        # The final topology is whole again.
        self.assertEqual(r.report["topology"]["nodes"], names(8))
        self.assertEqual(len(r.report["topology"]["links"]), 8)
        self.assertEqual(r.report["duplicate_deliveries"], 0)
        return dead_ping

    def test_ring_faults_deterministic(self):
        r = run_sim([ring_scenario(self.workdir, "ring.toml", det=True)])
        dead_ping = self.check_ring(r, det=True)
        # On virtual time the bound of SPEC 6 is exact: the dead node's
        # routes are gone dead_after_ms + 2 x heartbeat_ms after the kill,
        # so the ping is refused rather than left unanswered.
        self.assertNotIn("no answer", dead_ping["detail"], dead_ping)

    def test_ring_faults_real_time(self):
        self.check_ring(background("ring"), det=False)

    def test_failed_expectation_exit_1_report_written(self):
        for det in (True, False):
            with self.subTest(deterministic=det):
                path = failing_scenario(self.workdir, det)
                report = self.out("fail-%s.json" % det)
                r = run_sim([path, "--report", report])
                self.assertExit(r, 1)
                self.assertEqual(r.stdout, "")
                self.assertTrue(os.path.exists(report), r)
                self.check_shape(r.report, [{"at_ms": e["at_ms"],
                                             "action": e["action"]}
                                            for e in r.report["events"]])
                self.assertEventsOk(r, FAILING_OKS)
                self.assertEqual(reached(r.report["events"][5]["detail"]),
                                 (2, 2))
                self.assertRegex(r.stderr, r"(?m)^quilt-sim: .*FAILED")

    def test_failed_expectation_report_on_stdout(self):
        r = run_sim([failing_scenario(self.workdir, True)])
        self.assertExit(r, 1)
        self.assertEventsOk(r, FAILING_OKS)


# -- 3. every transport -------------------------------------------------------


class TransportTest(SimTestCase):
    """config/sim-faults.toml (a 4x4 grid losing a node, a link and half
    of itself) with only its transport changed."""

    def check(self, r, transport, det=False):
        self.assertExit(r, 0)
        self.assertEventsOk(r)
        rep = r.report
        self.assertEqual(rep["transport"], transport)
        self.assertIs(rep["deterministic"], det)
        self.assertEqual((rep["nodes"], rep["links"]), (16, 24))
        self.assertEqual(len(rep["events"]), 15)
        self.assertEqual(rep["duplicate_deliveries"], 0)
        self.assertEqual(rep["drops"]["invalid"], 0)

    def test_inproc(self):
        self.check(background("faults-inproc"), "inproc")

    def test_tcp(self):
        self.check(background("faults-tcp"), "tcp")

    def test_direct(self):
        self.check(background("faults-direct"), "direct")

    def test_direct_deterministic(self):
        path = self.out("faults-det.toml")
        with open(path, "w") as f:
            f.write(rewrite_simulation(read_shipped("sim-faults.toml"),
                                       transport="direct",
                                       deterministic=True))
        t0 = time.monotonic()
        r = run_sim([path])
        self.check(r, "direct", det=True)
        # About 8 s of simulated time, on virtual time.
        self.assertLess(time.monotonic() - t0, 5, r)


# -- 4. determinism and seeds -------------------------------------------------


class DeterminismTest(SimTestCase):
    def test_two_runs_identical_reports(self):
        path = ring_scenario(self.workdir, "ring.toml", det=True)
        a = run_sim([path])
        b = run_sim([path])
        self.assertExit(a, 0)
        self.assertExit(b, 0)
        self.assertEqual(stable_report(a.report), stable_report(b.report))
        # Byte-identical apart from wall_ms and peak_rss_bytes.
        strip = re.compile(r'"(wall_ms|peak_rss_bytes)":\s*\d+')
        self.assertEqual(strip.sub("", a.stdout), strip.sub("", b.stdout))

    def random_scenario(self, det=True, seed=5, events=()):
        sim = dict(DET) if det else {"transport": "direct"}
        sim.update({"seed": seed, "settle_ms": 0})
        return self.scenario("random-%s-%s.toml" % (det, seed),
                             simulation=sim, defaults=FAST,
                             topology={"kind": "random", "nodes": 12,
                                       "degree": 3},
                             events=list(events))

    def test_random_faults_identical_reports(self):
        events = [
            {"at_ms": 0, "action": "broadcast", "from": "n0", "text": "x",
             "expect": "all"},
            {"at_ms": 100, "action": "kill", "node": "n3"},
            {"at_ms": 900, "action": "ping", "from": "n0", "to": "n11"},
            {"at_ms": 1000, "action": "restart", "node": "n3"},
            {"at_ms": 1100, "action": "partition",
             "side": ["n0", "n1", "n2", "n3", "n4", "n5"]},
            {"at_ms": 2000, "action": "send", "from": "n0", "to": "n6",
             "text": "y"},
            {"at_ms": 2100, "action": "heal_all"},
            {"at_ms": 4000, "action": "traceroute", "from": "n0",
             "to": "n11"},
        ]
        path = self.random_scenario(events=events)
        a, b = run_sim([path]), run_sim([path])
        self.assertExit(a, 0)
        self.assertEqual(stable_report(a.report), stable_report(b.report))

    def test_seed_option(self):
        path = self.random_scenario()
        base = run_sim([path])
        other = run_sim([path, "--seed", "6"])
        same = run_sim([path, "--seed", "5"])
        for r in (base, other, same):
            self.assertExit(r, 0)
        self.assertEqual(base.report["seed"], 5)
        self.assertEqual(other.report["seed"], 6)
        # Another seed, another random graph of the same size.
        self.assertEqual(other.report["nodes"], 12)
        self.assertNotEqual(pairs(base.report["topology"]["links"]),
                            pairs(other.report["topology"]["links"]))
        # --seed equal to the file's: the same run.
        self.assertEqual(stable_report(base.report),
                         stable_report(same.report))
        # Any 64-bit seed.
        big = run_sim([path, "--seed", str(2 ** 64 - 1)])
        self.assertExit(big, 0)
        self.assertEqual(big.report["seed"], 2 ** 64 - 1)

    def test_generator_independent_of_transport(self):
        # Same kind, size and seed: same links, on virtual or real time.
        det = run_sim([self.random_scenario(det=True)])
        real = run_sim([self.random_scenario(det=False)])
        self.assertExit(det, 0)
        self.assertExit(real, 0)
        self.assertEqual(pairs(det.report["topology"]["links"]),
                         pairs(real.report["topology"]["links"]))


# -- 5. --dot -----------------------------------------------------------------

DOT_EDGE = re.compile(r'^\s*"?([\w.:-]+)"?\s*--\s*"?([\w.:-]+)"?\s*'
                      r'(\[[^\]]*\])?\s*;?\s*$')
DOT_NODE = re.compile(r'^\s*"?([\w.:-]+)"?\s*(\[[^\]]*\])?\s*;?\s*$')


def parse_dot(text):
    """{node: attrs} and {frozenset(a, b): attrs} of a Graphviz graph."""
    nodes, edges = {}, {}
    for line in text.splitlines():
        m = DOT_EDGE.match(line)
        if m:
            edges[frozenset((m.group(1), m.group(2)))] = m.group(3) or ""
            continue
        m = DOT_NODE.match(line)
        if m and m.group(1) not in ("graph", "node", "edge", "}", "{"):
            nodes[m.group(1)] = m.group(2) or ""
    return nodes, edges


def dashed(attrs):
    return re.search(r"style\s*=\s*\"?dashed", attrs) is not None


class DotTest(SimTestCase):
    def test_dot_dead_nodes_and_cut_links_dashed(self):
        events = [
            {"at_ms": 0, "action": "kill", "node": "n3"},
            {"at_ms": 100, "action": "cut", "a": "n0", "b": "n1"},
            {"at_ms": 200, "action": "cut", "a": "n4", "b": "n5"},
            {"at_ms": 300, "action": "heal", "a": "n4", "b": "n5"},
            {"at_ms": 400, "action": "kill", "node": "n1"},
            {"at_ms": 500, "action": "restart", "node": "n1"},
        ]
        path = self.scenario(simulation=dict(DET, settle_ms=100),
                             defaults=FAST, topology={"kind": "ring",
                                                      "nodes": 6},
                             events=events)
        dot = self.out("ring.dot")
        r = run_sim([path, "--dot", dot, "--report", self.out("r.json")])
        self.assertExit(r, 0)
        with open(dot) as f:
            text = f.read()
        self.assertRegex(text, r"^\s*(strict\s+)?graph\b")
        self.assertNotIn("->", text)  # undirected
        nodes, edges = parse_dot(text)
        self.assertEqual(set(nodes), set(names(6)), text)
        ring = pairs(list(zip(names(6), names(6)[1:])) + [("n5", "n0")])
        self.assertEqual(set(edges), ring, text)
        for n in names(6):
            self.assertEqual(dashed(nodes[n]), n == "n3", (n, text))
        broken = pairs([("n2", "n3"), ("n3", "n4"), ("n0", "n1")])
        for e in ring:
            self.assertEqual(dashed(edges[e]), e in broken,
                             (sorted(e), text))
        # The report's topology is the same final state, without the dead
        # node and the cut links.
        rep = r.report
        self.assertEqual(rep["topology"]["nodes"],
                         ["n0", "n1", "n2", "n4", "n5"])
        self.assertEqual(pairs(rep["topology"]["links"]), ring - broken)

    def test_dot_of_a_real_time_run(self):
        r = background("ring")
        self.assertExit(r, 0)
        with open(os.path.join(WORKDIR, "ring.dot")) as f:
            nodes, edges = parse_dot(f.read())
        self.assertEqual(set(nodes), set(names(8)))
        self.assertEqual(len(edges), 8)
        self.assertFalse(any(dashed(a) for a in nodes.values()))
        self.assertFalse(any(dashed(a) for a in edges.values()))


# -- 6. progress --------------------------------------------------------------


class ProgressTest(SimTestCase):
    def check_progress(self, r):
        lines = r.progress
        self.assertTrue(lines, r)
        for line in lines:
            self.assertTrue(line.startswith("quilt-sim: "), (line, r))
        up = [i for i, l in enumerate(lines) if "nodes up" in l]
        conv = [i for i, l in enumerate(lines)
                if re.search(r"\bconverged\b", l)]
        self.assertEqual(len(up), 1, r)
        self.assertEqual(len(conv), 1, r)
        self.assertLess(up[0], conv[0])
        events = r.report["events"]
        # One line per event, printed when its outcome is known (a ping
        # may end after later events have run).
        def verdict(line):
            return (False if re.search(r"\bFAILED\b", line)
                    else True if re.search(r"\bok\b", line) else None)

        got = r.event_lines()
        self.assertEqual(sorted((t, a, verdict(l)) for t, a, l in got),
                         sorted((e["at_ms"], e["action"], e["ok"])
                                for e in events), r)
        first_event = min(lines.index(l) for _, _, l in got)
        self.assertLess(conv[0], first_event)

    def test_progress_lines(self):
        path = self.scenario(simulation=dict(DET, settle_ms=100),
                             defaults=FAST, topology={"kind": "line",
                                                      "nodes": 6},
                             events=LINE_EVENTS)
        r = run_sim([path, "--report", self.out("r.json")])
        self.assertExit(r, 0)
        self.check_progress(r)
        self.assertRegex(r.stderr, r"\b6 nodes up\b")

    def test_progress_real_time_with_failure(self):
        self.check_progress(background("ring"))
        r = run_sim([failing_scenario(self.workdir, True)])
        self.assertExit(r, 1)
        self.check_progress(r)


# -- 7. the console -----------------------------------------------------------


class ConsoleTest(SimTestCase):
    def start_console_sim(self, transport="direct", events=None, nodes=5,
                          expect_exit=None):
        port = free_console_port()
        if events is None:
            events = [{"at_ms": 0, "action": "kill", "node": "n4"}]
        path = self.scenario("console-%s.toml" % transport,
                             simulation={"transport": transport,
                                         "settle_ms": 200},
                             defaults=FAST,
                             topology={"kind": "line", "nodes": nodes},
                             events=events)
        report = self.out("console-%s.json" % transport)
        s = start_sim([path, "--console-port", port, "--report", report])
        self.addCleanup(s.kill)
        if not s.wait_progress(r"still running", 30):
            self.fail("no 'still running' progress line:\n%s"
                      % s.stderr_text())
        self.assertTrue(os.path.exists(report), "report not yet written")
        return s, port

    def console(self, port, *args, json_out=True):
        return run_console(port, args, json_out=json_out, timeout=20)

    def test_console_commands_then_shutdown(self):
        s, port = self.start_console_sim("direct")
        # Line n0 - n1 - n2 - n3, n4 killed: one entry per running node;
        # wait until n3 has noticed n4 is gone.
        want = {"n0": (1, 3), "n1": (2, 3), "n2": (2, 3), "n3": (1, 3)}
        deadline = time.monotonic() + 10
        while True:
            r = self.console(port, "nodes")
            self.assertEqual(r.rc, 0, r)
            for entry in r.doc:
                self.assertEqual(set(entry), {"name", "peers_up", "routes"})
            got = {e["name"]: (e["peers_up"], e["routes"]) for e in r.doc}
            self.assertEqual(len(got), len(r.doc), r)
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(got, want, r)

        t = self.console(port, "nodes", json_out=False)
        self.assertEqual(t.rc, 0, t)
        rows = [l.split() for l in t.stdout.splitlines() if l.strip()]
        self.assertRegex(t.stdout.splitlines()[0], r"NAME\s+PEERS UP\s+ROUTES")
        self.assertEqual(sorted(row[0] for row in rows[1:]),
                         ["n0", "n1", "n2", "n3"], t)

        r = run_console(port, ["routes"], extra_opts=["--node", "n1"])
        self.assertEqual(r.rc, 0, r)
        routes = {e["destination"]: (e["next_hop"], e["hops"]) for e in r.doc}
        self.assertEqual(routes, {"n0": ("n0", 1), "n2": ("n2", 1),
                                  "n3": ("n2", 2)})
        t = run_console(port, ["routes"], json_out=False,
                        extra_opts=["--node", "n1"])
        self.assertEqual(t.rc, 0, t)
        self.assertRegex(t.stdout, r"(?m)^n3\s+n2\s+2\s*$")

        r = run_console(port, ["ping", "n3"], json_out=False,
                        extra_opts=["--node", "n1"])
        self.assertEqual(r.rc, 0, r)
        self.assertIn("n3", r.stdout)
        r = run_console(port, ["ping", "n3"], extra_opts=["--node", "n1"])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.doc["target"], r.doc["sent"], r.doc["received"]),
                         ("n3", 1, 1))

        r = run_console(port, ["status"], extra_opts=["--node", "n2"])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc["name"], "n2")
        self.assertEqual(r.doc["peers_up"], 2)
        self.assertEqual(r.doc["routes"], 3)

        # A node command needs --node; --node needs a node that exists.
        for cmd in (["status"], ["ping", "n3"], ["routes"]):
            r = self.console(port, *cmd)
            self.assertEqual(r.rc, 1, r)
            self.assertEqual(r.doc["error"], "needs_node", r)
        r = run_console(port, ["status"], extra_opts=["--node", "nope"])
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.doc["error"], "no_such_node", r)

        self.assertTrue(s.running(), "quilt-sim ended before shutdown")
        t0 = time.monotonic()
        r = self.console(port, "shutdown")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc, {"accepted": True})
        res = s.finish(timeout=10)
        self.assertExit(res, 0)
        self.assertLess(time.monotonic() - t0, 5, res)
        self.assertEventsOk(res)

    def test_sigterm_and_sigint_end_console_simulation(self):
        for sig, transport in ((signal.SIGTERM, "inproc"),
                               (signal.SIGINT, "direct")):
            with self.subTest(signal=sig.name, transport=transport):
                s, port = self.start_console_sim(transport)
                r = self.console(port, "nodes")
                self.assertEqual(r.rc, 0, r)
                self.assertEqual(len(r.doc), 4, r)
                t0 = time.monotonic()
                s.signal(sig)
                res = s.finish(timeout=10)
                self.assertExit(res, 0)
                self.assertLess(time.monotonic() - t0, 5, res)

    def test_failed_expectation_kept_after_shutdown(self):
        # Exit 1 (an expectation failed) also when the console ends it.
        s, port = self.start_console_sim(
            "direct", nodes=3,
            events=[{"at_ms": 0, "action": "ping", "from": "n0", "to": "n2",
                     "expect": "unreachable"}])
        r = self.console(port, "shutdown")
        self.assertEqual(r.rc, 0, r)
        res = s.finish(timeout=10)
        self.assertExit(res, 1)
        self.assertEventsOk(res, [False])

    def test_console_needs_real_time(self):
        path = self.scenario(simulation=dict(DET), defaults=FAST,
                             topology={"kind": "line", "nodes": 3})
        r = run_sim([path, "--console-port", free_console_port()], timeout=10)
        self.assertExit(r, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.progress), 1, r)
        self.assertTrue(r.stderr.startswith(path), r)
        self.assertIn("deterministic", r.stderr)

    def test_console_port_in_use(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        path = self.scenario(simulation={"transport": "direct",
                                         "settle_ms": 0},
                             defaults=FAST,
                             topology={"kind": "line", "nodes": 3})
        r = run_sim([path, "--console-port", port], timeout=20)
        self.assertExit(r, 1)
        self.assertIn(str(port), r.stderr)


# -- 8. command line and scenario errors --------------------------------------


class CommandLineTest(SimTestCase):
    def setUp(self):
        super().setUp()
        self.good = self.scenario("good.toml",
                                  simulation=dict(DET, settle_ms=0),
                                  defaults=FAST,
                                  topology={"kind": "line", "nodes": 3})

    def usage_error(self, args, words):
        r = run_sim(args, timeout=10)
        self.assertExit(r, 2)
        self.assertEqual(r.stdout, "", r)
        lines = r.progress
        self.assertTrue(lines, r)
        first = lines[0]
        self.assertTrue(first.startswith("quilt-sim: "), r)
        for w in words:
            self.assertIn(w, first, r)
        # Then at most the usage.
        for line in lines[1:]:
            self.assertTrue(line.startswith("usage:"), r)
        return r

    def test_usage_errors(self):
        cases = [
            ([], ["scenario"]),
            ([self.good, self.good + ".other"], ["one scenario"]),
            ([self.good, "--bogus"], ["--bogus"]),
            ([self.good, "--seed", "abc"], ["--seed", "abc"]),
            ([self.good, "--seed", "-1"], ["--seed"]),
            ([self.good, "--seed", str(2 ** 64)], ["--seed"]),
            ([self.good, "--console-port", "0"], ["--console-port", "0"]),
            ([self.good, "--console-port", "70000"],
             ["--console-port", "70000"]),
            ([self.good, "--report"], ["--report"]),
            ([self.good, "--dot"], ["--dot"]),
            ([self.good, "--seed"], ["--seed"]),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                self.usage_error(args, words)

    def scenario_error(self, path, line=None, words=(), cwd=None):
        r = run_sim([path], timeout=10, cwd=cwd)
        self.assertExit(r, 2)
        self.assertEqual(r.stdout, "", r)
        self.assertEqual(len(r.progress), 1, r)
        msg = r.progress[0]
        prefix = path + (":%d: " % line if line is not None else ": ")
        self.assertTrue(msg.startswith(prefix), (prefix, r))
        for w in words:
            self.assertIn(w, msg, r)
        return r

    def test_missing_file(self):
        self.scenario_error(self.out("nope.toml"), words=["nope.toml"])

    def test_toml_syntax_error(self):
        path = self.out("syntax.toml")
        with open(path, "w") as f:
            f.write('[simulation]\nseed = 1\ntransport = "direct\n'
                    '[topology]\nkind = "line"\nnodes = 3\n')
        self.scenario_error(path, line=3)

    def test_unknown_key(self):
        text = scenario_toml(simulation=dict(DET, settle_ms=0),
                             defaults=FAST,
                             topology={"kind": "line", "nodes": 3})
        text = text.replace("[topology]\n", "[topology]\nwidht = 3\n")
        line = text.splitlines().index("widht = 3") + 1
        with open(self.out("unknown.toml"), "w") as f:
            f.write(text)
        # The path as given: relative here.
        self.scenario_error("unknown.toml", line=line, words=["widht"],
                            cwd=self.workdir)

    def test_event_naming_unknown_node(self):
        path = self.scenario("event.toml", simulation=dict(DET),
                             defaults=FAST,
                             topology={"kind": "ring", "nodes": 4},
                             events=[{"at_ms": 0, "action": "ping",
                                      "from": "n0", "to": "n9"}])
        with open(path) as f:
            line = f.read().splitlines().index('to = "n9"') + 1
        self.scenario_error(path, line=line, words=["n9"])

    def test_help_and_version(self):
        r = run_sim(["--help"], timeout=10)
        self.assertExit(r, 0)
        self.assertIn("quilt-sim", r.stdout)
        self.assertIn("--console-port", r.stdout)
        r = run_sim(["--version"], timeout=10)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"^quilt-sim \d+\.\d+\.\d+\S*\n$")
        self.assertEqual(r.stderr, "")


# -- 9. the example scenarios as shipped --------------------------------------


class ShippedScenariosTest(SimTestCase):
    def test_sim_demo(self):
        r = background("demo")
        self.assertExit(r, 0)
        self.assertEventsOk(r)
        rep = r.report
        self.assertEqual((rep["nodes"], rep["links"]), (20, 20))
        self.assertEqual(rep["scenario"],
                         os.path.join(REPO, "config", "sim-demo.toml"))
        self.assertEqual(rep["duplicate_deliveries"], 0)
        self.assertEqual(reached(rep["events"][3]["detail"]), (19, 19))

    def test_sim_faults(self):
        r = background("faults")
        self.assertExit(r, 0)
        self.assertEventsOk(r)
        rep = r.report
        self.assertEqual((rep["nodes"], rep["links"]), (16, 24))
        self.assertEqual(rep["seed"], 7)
        self.assertEqual(len(rep["events"]), 15)
        self.assertEqual(rep["duplicate_deliveries"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
