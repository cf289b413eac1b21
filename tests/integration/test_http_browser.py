#!/usr/bin/python3
"""The mesh page (SPEC section 15) in a real browser: headless Chromium
(Debian's chromium, which scripts/setup.sh installs) loads a's `/`, runs
its script, and the rendered DOM must name every node of the mesh a sees,
with its neighbours' state; a screenshot is saved (to $QUILT_SCREENSHOT
when set, which is how docs/img/http-mesh.png is made:
QUILT_SCREENSHOT=docs/img/http-mesh.png python3 tests/integration/test_http_browser.py)."""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import QuiltTestCase, free_port, wait_until  # noqa: E402
from http_harness import HttpNode, request  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") \
    or "/usr/bin/chromium"


def chromium(workdir, url, *what):
    """Runs headless Chromium on `url` with `what` (--dump-dom or
    --screenshot=PATH); the flags keep it off the network (this machine's
    is closed) and give the page's script 8 s of virtual time."""
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + os.path.join(workdir, "chr"),
            "--window-size=1200,820", "--virtual-time-budget=8000"]
    return subprocess.run(argv + list(what) + [url], capture_output=True,
                          text=True, timeout=90)


class BrowserTest(QuiltTestCase):
    def test_page_draws_the_mesh(self):
        self.assertTrue(os.access(CHROMIUM, os.X_OK),
                        "%s missing: scripts/setup.sh installs chromium"
                        % CHROMIUM)
        # A ring of four (a-b-c-d-a) plus e behind c, and a peer of a that
        # never answers (a configured port nobody listens on).
        names = "bcde"
        nodes = {n: self.node(n, heartbeat_ms=200, dead_after_ms=1000)
                 for n in names}
        nodes["b"].peer_ports = [nodes["c"].port]
        nodes["c"].peer_ports = [nodes["d"].port, nodes["e"].port]
        for n in names:
            nodes[n].write_config()
        silent = free_port()  # reserved, and nobody listens there
        a = HttpNode(self.workdir, "a", heartbeat_ms=200, dead_after_ms=1000,
                     peers=[nodes["b"].port, nodes["d"].port, silent])
        self.nodes.append(a)
        for n in names:
            nodes[n].start(pty=False)
        a.start(pty=False)
        self.assertTrue(wait_until(
            lambda: len(json.loads(request(a, "/routes")[2])) == 4, 10),
            a.tail())

        r = chromium(self.workdir, a.url + "/", "--dump-dom")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        dom = r.stdout
        self.assertIn("<title>Quilt: a</title>", dom)
        self.assertIn("Quilt node a", dom)
        # Every node drawn in the SVG, by name.
        for n in "abcde":
            self.assertRegex(dom, r'<g class="node" data-name="%s">' % n)
            self.assertRegex(dom, r"<text [^>]*>%s</text>" % n)
        # Neighbours b and d up, c and e reachable through them.
        self.assertIn("<title>b (neighbour, up)</title>", dom)
        self.assertIn("<title>d (neighbour, up)</title>", dom)
        self.assertIn("<title>e (reachable)</title>", dom)
        # The peer that never answers: drawn apart, by its endpoint.
        self.assertIn("<title>127.0.0.1:%d (connecting)</title>" % silent,
                      dom)
        # The tables are filled: a peer row, a route row, a counter row.
        self.assertRegex(dom, r"<td>b</td><td>127\.0\.0\.1</td>")
        self.assertRegex(dom, r"<td>e</td><td>[bd]</td><td class=\"n\">3</td>")
        self.assertRegex(dom, r"<td>peers_up</td><td class=\"n\">2</td>")
        self.assertNotRegex(dom, r'<div id="error">[^<]')

        shot = os.environ.get("QUILT_SCREENSHOT") or os.path.join(
            self.workdir, "mesh.png")
        shot = os.path.abspath(shot)
        r = chromium(self.workdir, a.url + "/", "--screenshot=" + shot)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(shot), 10000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
