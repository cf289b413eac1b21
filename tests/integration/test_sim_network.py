#!/usr/bin/python3
"""quilt-sim's scenario keys for networks that are not perfect (SPEC 13),
as a user meets them: every bad [network] / [[network.links]] key and
range, every bad degrade / stall / within_ms / sample_ms, and the link
model on a transport other than "direct", each run through the real
quilt-sim binary (exit 2, nothing on stdout, one line "FILE:LINE: message"
on stderr); and good scenarios with [network] that load and run.

Each bad case is a scenario text whose offending line carries the comment
"# <-" (and, for a duplicate, the first entry "# first"), so the expected
line number is read from the text rather than counted by hand."""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_harness import FAST, run_sim  # noqa: E402

DIRECT = '[simulation]\ntransport = "direct"\n'
INPROC = '[simulation]\ntransport = "inproc"\n'
TCP = '[simulation]\ntransport = "tcp"\n'
# n0 - n1 - n2 - n3 - n0: n0-n2 is not a link.
RING4 = '[topology]\nkind = "ring"\nnodes = 4\n'
DEGRADE = '[[events]]  # <-\nat_ms = 1\naction = "degrade"\n'
STALL = '[[events]]  # <-\nat_ms = 1\naction = "stall"\n'
LINK = '[[network.links]]  # <-\n'

# (what, scenario text, message after "FILE:LINE: ")
BAD = [
    # -- simulation.sample_ms: 0 or 10..60000
    ("sample_ms 9", "[simulation]\nsample_ms = 9  # <-\n" + RING4,
     "simulation.sample_ms must be 0 or 10..60000, got 9"),
    ("sample_ms 1", "[simulation]\nsample_ms = 1  # <-\n" + RING4,
     "simulation.sample_ms must be 0 or 10..60000, got 1"),
    ("sample_ms 60001", "[simulation]\nsample_ms = 60001  # <-\n" + RING4,
     "simulation.sample_ms must be 0 or 10..60000, got 60001"),
    ("sample_ms -10", "[simulation]\nsample_ms = -10  # <-\n" + RING4,
     "simulation.sample_ms must be 0 or 10..60000, got -10"),
    ("sample_ms float", "[simulation]\nsample_ms = 100.0  # <-\n" + RING4,
     "simulation.sample_ms must be an integer, got float"),

    # -- [network]
    ("network not a table", "network = 1  # <-\n" + DIRECT + RING4,
     "network must be a table, got integer"),
    ("unknown key in [network]",
     DIRECT + RING4 + "[network]\nmtu = 1500  # <-\n",
     "unknown key 'mtu' in [network]"),
    ("a [simulation] key in [network]",
     DIRECT + RING4 + "[network]\nseed = 4  # <-\n",
     "unknown key 'seed' in [network] (it belongs in [simulation])"),
    ("a sub-table of [network]",
     DIRECT + RING4 + "[network.slow]  # <-\nlatency_ms = 1\n",
     "unknown key 'slow' in [network]"),
    ("latency_ms 60001",
     DIRECT + RING4 + "[network]\nlatency_ms = 60001  # <-\n",
     "network.latency_ms must be 0..60000, got 60001"),
    ("latency_ms -1",
     DIRECT + RING4 + "[network]\nlatency_ms = -1  # <-\n",
     "network.latency_ms must be 0..60000, got -1"),
    ("latency_ms float",
     DIRECT + RING4 + "[network]\nlatency_ms = 2.5  # <-\n",
     "network.latency_ms must be an integer, got float"),
    ("jitter_ms 60001",
     DIRECT + RING4 + "[network]\njitter_ms = 60001  # <-\n",
     "network.jitter_ms must be 0..60000, got 60001"),
    ("jitter_ms -1",
     DIRECT + RING4 + "[network]\njitter_ms = -1  # <-\n",
     "network.jitter_ms must be 0..60000, got -1"),
    ("jitter_ms string",
     DIRECT + RING4 + "[network]\njitter_ms = \"5\"  # <-\n",
     "network.jitter_ms must be an integer, got string"),
    ("loss 1.5", DIRECT + RING4 + "[network]\nloss = 1.5  # <-\n",
     "network.loss must be 0.0..1.0, got 1.5"),
    ("loss -0.01", DIRECT + RING4 + "[network]\nloss = -0.01  # <-\n",
     "network.loss must be 0.0..1.0, got -0.01"),
    ("loss 2 (integer)", DIRECT + RING4 + "[network]\nloss = 2  # <-\n",
     "network.loss must be 0.0..1.0, got 2"),
    ("loss nan", DIRECT + RING4 + "[network]\nloss = nan  # <-\n",
     "network.loss must be 0.0..1.0, got nan"),
    ("loss string", DIRECT + RING4 + "[network]\nloss = \"1%\"  # <-\n",
     "network.loss must be a number, got string"),
    ("bandwidth_kbps 10000001",
     DIRECT + RING4 + "[network]\nbandwidth_kbps = 10000001  # <-\n",
     "network.bandwidth_kbps must be 0..10000000, got 10000001"),
    ("bandwidth_kbps -1",
     DIRECT + RING4 + "[network]\nbandwidth_kbps = -1  # <-\n",
     "network.bandwidth_kbps must be 0..10000000, got -1"),
    ("bandwidth_kbps string",
     DIRECT + RING4 + "[network]\nbandwidth_kbps = \"1M\"  # <-\n",
     "network.bandwidth_kbps must be an integer, got string"),

    # -- [[network.links]]
    ("network.links as a table",
     DIRECT + RING4 + "[network.links]  # <-\na = \"n0\"\nb = \"n1\"\n"
     "loss = 0.1\n",
     "network.links must be an array of tables ([[network.links]]), "
     "got table"),
    ("a network.links entry that is not a table",
     DIRECT + RING4 + "[network]\nlinks = [\n  1,  # <-\n]\n",
     "each network.links entry must be a table, got integer"),
    ("link without a", DIRECT + RING4 + LINK + "b = \"n1\"\nloss = 0.1\n",
     "missing required key network.links.a"),
    ("link without b", DIRECT + RING4 + LINK + "a = \"n1\"\nloss = 0.1\n",
     "missing required key network.links.b"),
    ("link without any of the four keys",
     DIRECT + RING4 + LINK + "a = \"n0\"\nb = \"n1\"\n",
     "[[network.links]] needs one of latency_ms, jitter_ms, loss, "
     "bandwidth_kbps"),
    ("link unknown key",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
     "delay_ms = 5  # <-\n",
     "unknown key 'delay_ms' in [[network.links]]"),
    ("link a unknown",
     DIRECT + RING4 + "[[network.links]]\na = \"n4\"  # <-\nb = \"n1\"\n"
     "loss = 0.1\n",
     "unknown node 'n4' in network.links.a"),
    ("link b unknown",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"x\"  # <-\n"
     "loss = 0.1\n",
     "unknown node 'x' in network.links.b"),
    ("link a == b",
     DIRECT + RING4 + "[[network.links]]\na = \"n1\"\nb = \"n1\"  # <-\n"
     "loss = 0.1\n",
     "network.links.a and network.links.b are the same node 'n1'"),
    ("link not of the topology",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"n2\"  # <-\n"
     "loss = 0.1\n",
     "n0-n2 is not a link of the topology"),
    ("link listed twice",
     DIRECT + RING4 + "[[network.links]]  # first\na = \"n0\"\nb = \"n1\"\n"
     "loss = 0.1\n" + LINK + "a = \"n1\"\nb = \"n0\"\nlatency_ms = 3\n",
     "duplicate link n1-n0 (already listed at line {first})"),
    ("link latency_ms 60001",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
     "latency_ms = 60001  # <-\n",
     "network.links.latency_ms must be 0..60000, got 60001"),
    ("link jitter_ms -1",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
     "jitter_ms = -1  # <-\n",
     "network.links.jitter_ms must be 0..60000, got -1"),
    ("link loss 1.01",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
     "loss = 1.01  # <-\n",
     "network.links.loss must be 0.0..1.0, got 1.01"),
    ("link loss boolean",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
     "loss = false  # <-\n",
     "network.links.loss must be a number, got boolean"),
    ("link bandwidth_kbps 10000001",
     DIRECT + RING4 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
     "bandwidth_kbps = 10000001  # <-\n",
     "network.links.bandwidth_kbps must be 0..10000000, got 10000001"),

    # -- the link model needs transport = "direct"
    ("[network] with inproc",
     INPROC + RING4 + "[network]  # <-\nlatency_ms = 20\n",
     "[network] needs transport = \"direct\""),
    ("[network] with tcp",
     TCP + RING4 + "[network]  # <-\nloss = 0.01\n",
     "[network] needs transport = \"direct\""),
    ("[network] with the default transport",
     RING4 + "[network]  # <-\nbandwidth_kbps = 1000\n",
     "[network] needs transport = \"direct\""),
    ("[[network.links]] with inproc",
     INPROC + RING4 + LINK + "a = \"n0\"\nb = \"n1\"\nloss = 0.1\n",
     "[[network.links]] needs transport = \"direct\""),
    ("[[network.links]] with tcp",
     TCP + RING4 + LINK + "a = \"n0\"\nb = \"n1\"\njitter_ms = 1\n",
     "[[network.links]] needs transport = \"direct\""),
    ("degrade with inproc",
     INPROC + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"  # <-\n"
     "loss = 0.5\n",
     "events.action = \"degrade\" needs transport = \"direct\""),
    ("degrade with tcp",
     TCP + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"  # <-\n"
     "latency_ms = 50\n",
     "events.action = \"degrade\" needs transport = \"direct\""),

    # -- within_ms, every action
    ("within_ms 0",
     RING4 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
     "to = \"n2\"\nwithin_ms = 0  # <-\n",
     "events.within_ms must be 1..600000, got 0"),
    ("within_ms 600001",
     RING4 + "[[events]]\nat_ms = 1\naction = \"heal_all\"\n"
     "within_ms = 600001  # <-\n",
     "events.within_ms must be 1..600000, got 600001"),
    ("within_ms string",
     RING4 + "[[events]]\nat_ms = 1\naction = \"broadcast\"\nfrom = \"n0\"\n"
     "within_ms = \"2s\"  # <-\n",
     "events.within_ms must be an integer, got string"),

    # -- degrade
    ("degrade without any of the four keys",
     DIRECT + RING4 + DEGRADE + "a = \"n0\"\nb = \"n1\"\n",
     "action = \"degrade\" needs one of events.latency_ms, "
     "events.jitter_ms, events.loss, events.bandwidth_kbps"),
    ("degrade a without b",
     DIRECT + RING4 + DEGRADE + "a = \"n0\"\nloss = 0.5\n",
     "missing required key events.b for action = \"degrade\" with events.a "
     "(leave both out for every link)"),
    ("degrade b without a",
     DIRECT + RING4 + DEGRADE + "b = \"n0\"\nloss = 0.5\n",
     "missing required key events.a for action = \"degrade\" with events.b "
     "(leave both out for every link)"),
    ("degrade a unknown",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "a = \"n9\"  # <-\nb = \"n0\"\nloss = 0.5\n",
     "unknown node 'n9' in events.a"),
    ("degrade not a link",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "a = \"n1\"\nb = \"n3\"  # <-\nloss = 0.5\n",
     "n1-n3 is not a link of the topology"),
    ("degrade a == b",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "a = \"n1\"\nb = \"n1\"  # <-\nloss = 0.5\n",
     "events.a and events.b are the same node 'n1'"),
    ("degrade latency_ms 60001",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "latency_ms = 60001  # <-\n",
     "events.latency_ms must be 0..60000, got 60001"),
    ("degrade jitter_ms -1",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "jitter_ms = -1  # <-\n",
     "events.jitter_ms must be 0..60000, got -1"),
    ("degrade loss 1.25",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "loss = 1.25  # <-\n",
     "events.loss must be 0.0..1.0, got 1.25"),
    ("degrade loss string",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "loss = \"half\"  # <-\n",
     "events.loss must be a number, got string"),
    ("degrade bandwidth_kbps 10000001",
     DIRECT + RING4 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
     "bandwidth_kbps = 10000001  # <-\n",
     "events.bandwidth_kbps must be 0..10000000, got 10000001"),

    # -- stall
    ("stall without node", RING4 + STALL + "duration_ms = 100\n",
     "missing required key events.node for action = \"stall\""),
    ("stall without duration_ms", RING4 + STALL + "node = \"n1\"\n",
     "missing required key events.duration_ms for action = \"stall\""),
    ("stall node unknown",
     RING4 + "[[events]]\nat_ms = 1\naction = \"stall\"\n"
     "node = \"n7\"  # <-\nduration_ms = 100\n",
     "unknown node 'n7' in events.node"),
    ("stall duration_ms 0",
     RING4 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
     "duration_ms = 0  # <-\n",
     "events.duration_ms must be 1..600000, got 0"),
    ("stall duration_ms 600001",
     RING4 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
     "duration_ms = 600001  # <-\n",
     "events.duration_ms must be 1..600000, got 600001"),
    ("stall duration_ms string",
     RING4 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
     "duration_ms = \"3s\"  # <-\n",
     "events.duration_ms must be an integer, got string"),
]


def marked_line(text, mark):
    """The 1-based number of the line of `text` ending with `mark`."""
    found = [i + 1 for i, line in enumerate(text.splitlines())
             if line.rstrip().endswith(mark)]
    if len(found) != 1:
        raise AssertionError("want one line marked %r in:\n%s"
                             % (mark, text))
    return found[0]


class SimNetworkTestCase(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="quilt-sim-net-")
        self.addCleanup(shutil.rmtree, self.workdir, True)

    def write(self, filename, text):
        path = os.path.join(self.workdir, filename)
        with open(path, "w") as f:
            f.write(text)
        return path


class BadScenarioTest(SimNetworkTestCase):
    def test_every_bad_key_and_range(self):
        self.assertGreaterEqual(len(BAD), 60)
        for i, (what, text, message) in enumerate(BAD):
            with self.subTest(what=what):
                path = self.write("bad%02d.toml" % i, text)
                line = marked_line(text, "# <-")
                if "{first}" in message:
                    message = message.format(first=marked_line(text,
                                                               "# first"))
                r = run_sim([path], timeout=20)
                self.assertEqual(r.rc, 2, r)
                self.assertEqual(r.stdout, "", r)
                self.assertEqual(r.progress,
                                 ["%s:%d: %s" % (path, line, message)], r)

    def test_the_path_as_given(self):
        # Relative, run from the scenario's folder: FILE is as typed.
        text = DIRECT + RING4 + "[network]\nloss = 1.5  # <-\n"
        self.write("lossy.toml", text)
        r = run_sim(["lossy.toml"], timeout=20, cwd=self.workdir)
        self.assertEqual(r.rc, 2, r)
        self.assertEqual(r.progress,
                         ["lossy.toml:%d: network.loss must be 0.0..1.0, "
                          "got 1.5" % marked_line(text, "# <-")], r)


GOOD_NETWORK = """\
[network]
latency_ms = 10
jitter_ms = 2
loss = 0
bandwidth_kbps = 0

[[network.links]]
a = "n0"
b = "n1"
latency_ms = 30
loss = 0.0
"""


class GoodScenarioTest(SimNetworkTestCase):
    """A ring of 3 on "direct" with [network] and [[network.links]] loads
    and runs. Whether the model shapes the run is the simulator's tests'
    business (SPEC 13); here: the keys are accepted end to end and the run
    reports as usual."""

    def scenario(self, filename, simulation):
        text = "[simulation]\n"
        for k, v in simulation.items():
            text += "%s = %s\n" % (k, json.dumps(v))
        text += "[defaults]\n"
        for k, v in FAST.items():
            text += "%s = %d\n" % (k, v)
        text += "[topology]\nkind = \"ring\"\nnodes = 3\n" + GOOD_NETWORK
        return self.write(filename, text)

    def check_run(self, path, timeout):
        out = os.path.join(self.workdir, "report.json")
        r = run_sim([path, "--report", out], timeout=timeout)
        self.assertEqual(r.rc, 0, r)
        with open(out) as f:
            rep = json.load(f)
        self.assertEqual(rep["scenario"], path)
        self.assertEqual(rep["transport"], "direct")
        self.assertEqual((rep["nodes"], rep["links"]), (3, 3))
        self.assertEqual(rep["events"], [])
        return rep

    def test_deterministic_ring_with_network(self):
        path = self.scenario("det.toml", {
            "transport": "direct", "deterministic": True, "seed": 5,
            "settle_ms": 200, "sample_ms": 50})
        rep = self.check_run(path, timeout=60)
        self.assertTrue(rep["deterministic"])
        self.assertEqual(rep["seed"], 5)

    def test_real_time_ring_with_network(self):
        path = self.scenario("rt.toml", {
            "transport": "direct", "settle_ms": 100, "sample_ms": 0})
        rep = self.check_run(path, timeout=60)
        self.assertFalse(rep["deterministic"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
