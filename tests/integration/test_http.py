#!/usr/bin/python3
"""The HTTP endpoint (SPEC section 15) from outside: status codes and
content types of every path and method, /metrics through the strict
Prometheus parser of test_watch.py, the JSON documents equal to the
console's, the port in use (exit 1) and bad [http] keys (exit 2,
FILE:LINE)."""

import json
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import (QuiltTestCase, free_port, quiltd_path,  # noqa: E402
                           wait_until)
from console_harness import console  # noqa: E402
from http_harness import HttpNode, request  # noqa: E402
from test_watch import parse_prometheus  # noqa: E402

GAUGES = ("peers_up", "routes", "uptime_seconds")
# Fields that change between two reads of the same document.
VOLATILE = {"status": ("uptime_ms",), "peers": ("rtt_us", "last_seen_ms")}


def without(doc, fields):
    if isinstance(doc, list):
        return [without(x, fields) for x in doc]
    return {k: v for k, v in doc.items() if k not in fields}


class HttpEndpointTest(QuiltTestCase):
    """A line a-b-c; a serves HTTP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.class_node("c", heartbeat_ms=200, dead_after_ms=1000)
        b = cls.class_node("b", peers=[c.port], heartbeat_ms=200,
                           dead_after_ms=1000)
        cls.a = HttpNode(cls.class_workdir, "a", peers=[b.port],
                         heartbeat_ms=200, dead_after_ms=1000)
        cls.class_nodes.append(cls.a)
        for n in (c, b, cls.a):
            n.start(pty=False)
        assert wait_until(lambda: len(cls.a.routes_http()) == 2, 10), \
            cls.a.tail()

    def test_paths_methods_status_and_types(self):
        a = self.a
        for path, ctype in (("/metrics", "text/plain; version=0.0.4"),
                            ("/healthz", "text/plain; charset=utf-8"),
                            ("/status", "application/json"),
                            ("/peers", "application/json"),
                            ("/routes", "application/json"),
                            ("/topology", "application/json"),
                            ("/", "text/html; charset=utf-8")):
            status, got, body = request(a, path)
            self.assertEqual((status, got), (200, ctype), (path, body))
            if ctype == "application/json":
                json.loads(body)
        self.assertEqual(request(a, "/healthz")[2], "ok\n")
        # A query string does not change the path.
        self.assertEqual(request(a, "/healthz?x=1")[0], 200)
        for path in ("/nope", "/metrics/", "/status.json", "//", "/index.html"):
            self.assertEqual(request(a, path)[0], 404, path)
        for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD"):
            for path in ("/metrics", "/", "/nope"):
                status = request(a, path, method=method)[0]
                self.assertEqual(status, 405, (method, path))

    def test_page_loads_nothing_from_elsewhere(self):
        body = request(self.a, "/")[2]
        # No src= or href= at all: script and style are inline, and the
        # script fetches only this endpoint's own paths.
        self.assertNotRegex(body, r"(?i)\b(src|href)\s*=")
        self.assertNotRegex(body, r"(?i)https?://(?!www\.w3\.org/2000/svg)")
        for path in ("/status", "/peers", "/routes", "/topology", "/metrics"):
            self.assertIn('"%s"' % path, body)

    def test_metrics_strict_prometheus_and_gauges(self):
        a = self.a
        lo = console(a, "stats").doc
        status, ctype, text = request(a, "/metrics")
        hi = console(a, "stats").doc
        self.assertEqual(status, 200)
        values = parse_prometheus(self, text, "a", gauges=GAUGES)
        counters = {k: v for k, v in values.items() if k not in GAUGES}
        self.assertEqual(set(counters), set(lo))
        for k, v in counters.items():
            self.assertTrue(lo[k] <= v <= hi[k], (k, lo[k], v, hi[k]))
        st = console(a, "status").doc
        self.assertEqual(values["peers_up"], st["peers_up"])
        self.assertEqual(values["routes"], st["routes"])
        self.assertGreater(values["uptime_seconds"], 0)
        self.assertLessEqual(values["uptime_seconds"], st["uptime_ms"] / 1000)
        # The console's own exposition is the counters' part of /metrics.
        prom = console(a, "stats", "--prometheus", json_out=False).stdout
        self.assertEqual([l.split("{")[0] for l in prom.splitlines()],
                         [l.split("{")[0] for l in text.splitlines()][
                             :len(prom.splitlines())])

    def test_json_equals_the_console(self):
        a = self.a
        for doc in ("status", "peers", "routes", "topology"):
            fields = VOLATILE.get(doc, ())
            got = json.loads(request(a, "/" + doc)[2])
            want = console(a, doc).doc
            self.assertEqual(without(got, fields), without(want, fields), doc)
            if doc == "peers":
                # Same fields, null where the console has null.
                self.assertEqual([sorted(p) for p in got],
                                 [sorted(p) for p in want])
        topo = json.loads(request(a, "/topology")[2])
        self.assertEqual(sorted(topo["nodes"]), ["a", "b", "c"])


def _routes_http(self):
    status, _, body = request(self, "/routes")
    return json.loads(body) if status == 200 else []


HttpNode.routes_http = _routes_http


class HttpStartTest(QuiltTestCase):
    def run_quiltd(self, text, name="h.toml"):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run([quiltd_path(), name], capture_output=True,
                              text=True, timeout=20, cwd=self.workdir,
                              stdin=subprocess.DEVNULL)

    def test_port_in_use_exits_1_with_one_line(self):
        port = free_port()
        holder = socket.socket()
        # The harness keeps the port reserved with SO_REUSEADDR.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        try:
            r = self.run_quiltd("[node]\nport = %d\n[console]\nport = 0\n"
                                "[http]\nport = %d\n" % (free_port(), port))
        finally:
            holder.close()
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stderr,
                         "quiltd: cannot open HTTP on 127.0.0.1:%d: Address "
                         "already in use\n" % port)

    def test_bad_http_keys_exit_2_with_file_and_line(self):
        head = "[node]\nport = %d\n[console]\nport = 0\n" % free_port()
        for body, want in (
                ("[http]\nport = 70000\n",
                 r"^h\.toml:6: http\.port must be 0\.\.65535, got 70000$"),
                ("[http]\nhost = 5\n",
                 r"^h\.toml:6: http\.host must be a string, got integer$"),
                ("[http]\nhost = \"\"\n",
                 r"^h\.toml:6: http\.host must not be empty$"),
                ("[http]\nport = 9464\npath = \"/m\"\n",
                 r"^h\.toml:7: unknown key 'path' in \[http\]$"),
                ("[http]\nport = \"9464\"\n",
                 r"^h\.toml:6: http\.port must be an integer, got string$"),
                ("[http]\nport = 9464\n[http.tls]\ncert = \"x\"\n",
                 r"^h\.toml:7: unknown key 'tls' in \[http\]$")):
            r = self.run_quiltd(head + body)
            self.assertEqual(r.returncode, 2, (body, r))
            self.assertEqual(r.stdout, "")
            self.assertRegex(r.stderr.rstrip("\n"), want)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        r = self.run_quiltd("http = 5\n" + head)
        self.assertEqual((r.returncode, r.stderr),
                         (2, "h.toml:1: http must be a table, got integer\n"))

    def test_off_unless_port_set(self):
        a = HttpNode(self.workdir, "a")
        self.nodes.append(a)
        with open(a.config_path) as f:
            text = f.read()
        with open(a.config_path, "w") as f:
            f.write(re.sub(r"(?m)^port = %d\n" % a.http_port, "", text))
        a.start(pty=False, wait_ready=False)
        self.assertTrue(a.wait_log(r"\] console on ", timeout=10), a.tail())
        self.assertEqual(a.find_logs(r"HTTP on"), [])
        with self.assertRaises(OSError):
            request(a, "/healthz", timeout=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
