#!/usr/bin/python3
"""quilt-console watch and stats --prometheus (SPEC section 11).

A ring a-b-c-d-a with a watched: killing b (SIGKILL) and restarting it must
show up in a's event stream as peer and route events whose fields, applied
to a's routes from before, give a's routes after; a msg to a shows with its
from, to, id and text; SIGINT ends the watch with exit 0 and nothing on
stderr."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import QuiltTestCase, forget, spawn, wait_until  # noqa: E402
from console_harness import ConsoleNode, console, console_path  # noqa: E402

EVENTS = {"peer_up", "peer_down", "route_added", "route_changed",
          "route_removed", "msg"}
TABLE_TIME = r"\d\d:\d\d:\d\d\.\d{3}"


class Watch:
    """A running `quilt-console watch`, its stdout collected line by line."""

    def __init__(self, node, json_out=True):
        argv = [console_path(), "--port", str(node.console_port)]
        if json_out:
            argv.append("--json")
        argv.append("watch")
        self.proc = spawn(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8"))
                self.cond.notify_all()

    def wait(self, predicate, timeout):
        """The first line (from the start) that predicate accepts."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def events(self):
        with self.cond:
            return [json.loads(line) for line in self.lines]

    def interrupt(self, timeout=5):
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            forget(self.proc)
        self.reader.join(2)
        return rc, self.proc.stderr.read().decode("utf-8", "replace")


def route_table(node):
    r = console(node, "routes")
    assert r.rc == 0, r
    return {e["destination"]: (e["next_hop"], e["hops"]) for e in r.doc}


class WatchTest(QuiltTestCase):
    def setUp(self):
        super().setUp()
        kw = dict(heartbeat_ms=100, dead_after_ms=500)
        self.b = self.console_node("b", **kw)
        self.c = self.console_node("c", peers=[self.b.port], **kw)
        self.d = self.console_node("d", peers=[self.c.port], **kw)
        self.a = self.console_node("a", peers=[self.b.port, self.d.port],
                                   **kw)
        for n in (self.b, self.c, self.d, self.a):
            n.start()
        # Converged: c is two hops away, through b (ties go to the name
        # that sorts first).
        self.assertTrue(wait_until(lambda: route_table(self.a) == {
            "b": ("b", 1), "c": ("b", 2), "d": ("d", 1)}, 10),
            route_table(self.a))

    def console_node(self, name, **kw):
        n = ConsoleNode(self.workdir, name, **kw)
        self.nodes.append(n)
        return n

    def send(self, sender, dest, text):
        r = console(sender, "send", dest, text)
        self.assertEqual(r.rc, 0, r)
        return r.doc["id"]

    def wait_msg(self, watch, text, timeout=5):
        return watch.wait(lambda l: json.loads(l).get("text") == text,
                          timeout)

    def until_watching(self, watch, text, json_out=True, timeout=10):
        """Sends `text` from c to a again and again until the watch shows
        it: the console connects and subscribes on its own time, and a
        message sent before that is (rightly) not in its stream. Returns
        the line and the id it carried."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mid = self.send(self.c, "a", text)
            if json_out:
                line = watch.wait(lambda l: json.loads(l).get("id") == mid,
                                  0.5)
            else:
                line = watch.wait(lambda l: ("id=%s " % mid) in l, 0.5)
            if line is not None:
                return line, mid
        self.fail("the watch never showed %r: %r" % (text, watch.lines))

    def test_watch_json_stream(self):
        before = route_table(self.a)
        w = Watch(self.a)
        # A first message proves the subscription is in place.
        line, first = self.until_watching(w, "first")
        self.assertEqual(json.loads(line)["id"], first)
        self.assertEqual(json.loads(line)["text"], "first")

        self.b.kill9()
        gone = w.wait(lambda l: json.loads(l).get("event") == "route_removed"
                      and json.loads(l)["destination"] == "b", 10)
        self.assertIsNotNone(gone, w.lines)
        self.assertTrue(wait_until(
            lambda: route_table(self.a).get("c") == ("d", 2), 10))
        self.b.start()
        self.assertTrue(wait_until(lambda: route_table(self.a) == before, 15),
                        route_table(self.a))
        text = "hello, watcher \u00e9"
        mid = self.send(self.d, "a", text)
        self.assertIsNotNone(self.wait_msg(w, text), w.lines)
        # The last route events (after the msg) have had time to come.
        time.sleep(0.3)
        rc, err = w.interrupt()
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")

        events = w.events()
        for e in events:
            self.assertIn(e["event"], EVENTS, e)
            self.assertIsInstance(e["ts_ms"], int, e)
        stamps = [e["ts_ms"] for e in events]
        self.assertEqual(stamps, sorted(stamps))
        self.assertLess(abs(stamps[-1] / 1000 - time.time()), 60)

        def index(pred, start=0):
            for i in range(start, len(events)):
                if pred(events[i]):
                    return i
            self.fail("no such event after %d in %s" % (start, events))

        down = index(lambda e: e == {"ts_ms": e["ts_ms"], "event": "peer_down",
                                     "peer": "b"})
        up = index(lambda e: e == {"ts_ms": e["ts_ms"], "event": "peer_up",
                                   "peer": "b"}, down)
        removed = index(lambda e: e["event"] == "route_removed"
                        and e["destination"] == "b")
        self.assertIsNone(events[removed]["hops"])
        self.assertIsInstance(events[removed]["next_hop"], str)
        # (c may learn of b's death first: its advertisement can come
        # before a's own detection.)
        index(lambda e: e["event"] == "route_changed"
              and e["destination"] == "c" and e["next_hop"] == "d"
              and e["hops"] == 2)
        added = index(lambda e: e["event"] == "route_added"
                      and e["destination"] == "b", removed)
        self.assertGreater(added, down)
        self.assertGreater(up, removed)

        # Applied in order to the routes from before, the route events give
        # the routes after: none is missing, none is made up.
        table = dict(before)
        for e in events:
            dest = e.get("destination")
            if e["event"] == "route_added":
                self.assertNotIn(dest, table, e)
                table[dest] = (e["next_hop"], e["hops"])
            elif e["event"] == "route_changed":
                self.assertIn(dest, table, e)
                self.assertNotEqual(table[dest], (e["next_hop"], e["hops"]), e)
                table[dest] = (e["next_hop"], e["hops"])
            elif e["event"] == "route_removed":
                self.assertIn(dest, table, e)
                del table[dest]
        self.assertEqual(table, route_table(self.a))

        msgs = [e for e in events if e["event"] == "msg"]
        self.assertEqual(msgs[-1], {"ts_ms": msgs[-1]["ts_ms"], "event": "msg",
                                    "from": "d", "to": "a", "id": mid,
                                    "text": text})
        self.assertEqual(msgs[0]["from"], "c")

    def test_watch_table_lines(self):
        w = Watch(self.a, json_out=False)
        self.until_watching(w, "warm up", json_out=False)
        mid = self.send(self.c, "all", "to all = everyone")
        pattern = (r"^%s msg from=c to=all id=%s text=to all = everyone$"
                   % (TABLE_TIME, mid))
        self.assertIsNotNone(w.wait(lambda l: re.match(pattern, l), 5),
                             w.lines)
        self.d.kill9()
        self.assertIsNotNone(w.wait(lambda l: re.match(
            r"^%s peer_down peer=d$" % TABLE_TIME, l), 10), w.lines)
        self.assertIsNotNone(w.wait(lambda l: re.match(
            r"^%s route_removed destination=d next_hop=\w+ hops=-$"
            % TABLE_TIME, l), 10), w.lines)
        rc, err = w.interrupt()
        self.assertEqual((rc, err), (0, ""))

    def test_dead_watcher_is_dropped(self):
        # A watch killed outright leaves nothing behind: the node keeps
        # serving other watchers and commands.
        w = Watch(self.a)
        self.until_watching(w, "one")
        w.proc.kill()
        w.proc.wait()
        forget(w.proc)
        for i in range(20):
            self.send(self.c, "a", "after %d" % i)
        w2 = Watch(self.a)
        self.until_watching(w2, "two")
        self.assertEqual(w2.interrupt()[0], 0)
        self.assertTrue(self.a.alive())

    def test_watch_usage(self):
        r = console(self.a, "watch", "extra")
        self.assertEqual(r.rc, 2, r)


PROM_SAMPLE = re.compile(r'^(quilt_[a-z_]+_total)\{node="((?:[^"\\\n]|\\.)*)"\}'
                         r' (0|[1-9][0-9]*)$')
PROM_TYPE = re.compile(r"^# TYPE (quilt_[a-z_]+_total) counter$")
PROM_GAUGE_SAMPLE = re.compile(r'^(quilt_[a-z_]+)\{node="((?:[^"\\\n]|\\.)*)"\}'
                               r' (0|[1-9][0-9]*)(\.[0-9]+)?$')
PROM_GAUGE_TYPE = re.compile(r"^# TYPE (quilt_[a-z_]+) gauge$")


def parse_prometheus(test, text, node, gauges=()):
    """Strict: every sample right after its TYPE line, each name once,
    the node label as given; returns {key: value}. Counters come first
    (quilt_KEY_total, integers); then exactly the `gauges` named (HTTP
    /metrics, SPEC section 15), in that order, under their own names, each
    a decimal number."""
    test.assertTrue(text.endswith("\n"), text)
    lines = text.splitlines()
    test.assertEqual(len(lines) % 2, 0, text)
    values = {}
    counters = len(lines) - 2 * len(gauges)
    for i in range(0, counters, 2):
        t = PROM_TYPE.match(lines[i])
        s = PROM_SAMPLE.match(lines[i + 1])
        test.assertIsNotNone(t, lines[i])
        test.assertIsNotNone(s, lines[i + 1])
        test.assertEqual(t.group(1), s.group(1))
        test.assertEqual(s.group(2), node)
        key = s.group(1)[len("quilt_"):-len("_total")]
        test.assertNotIn(key, values)
        values[key] = int(s.group(3))
    for j, name in enumerate(gauges):
        i = counters + 2 * j
        t = PROM_GAUGE_TYPE.match(lines[i])
        s = PROM_GAUGE_SAMPLE.match(lines[i + 1])
        test.assertIsNotNone(t, lines[i])
        test.assertIsNotNone(s, lines[i + 1])
        test.assertEqual(t.group(1), "quilt_" + name)
        test.assertEqual(s.group(1), "quilt_" + name)
        test.assertEqual(s.group(2), node)
        test.assertNotIn(name, values)
        values[name] = float(s.group(3) + (s.group(4) or ""))
    return values


class PrometheusTest(QuiltTestCase):
    def test_stats_prometheus_matches_json(self):
        a = ConsoleNode(self.workdir, "a", heartbeat_ms=1000,
                        dead_after_ms=5000)
        self.nodes.append(a)
        a.start()
        self.assertEqual(console(a, "send", "a", "x").rc, 0)
        for json_flag in (False, True):
            # Counters only grow: JSON before, text, JSON after bound it.
            lo = console(a, "stats").doc
            r = console(a, "stats", "--prometheus", json_out=json_flag)
            hi = console(a, "stats").doc
            self.assertEqual((r.rc, r.stderr), (0, ""), r)
            values = parse_prometheus(self, r.stdout, "a")
            self.assertEqual(set(values), set(lo), r.stdout)
            for k, v in values.items():
                self.assertTrue(lo[k] <= v <= hi[k], (k, lo[k], v, hi[k]))
            # rx and delivered stay put while nobody talks to the node.
            self.assertEqual(values["delivered"], lo["delivered"])
        self.assertEqual(console(a, "stats", "--bogus").rc, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
