#!/usr/bin/python3
"""The three programs' command lines (SPEC sections 8 and 11): --help lists
every option on stdout with exit 0; --version prints one line "PROGRAM
VERSION"; an unknown option or a missing value is one stderr line naming
the option, with the usage status (2); and quilt-console's failures to
reach a console are one plain stderr line (exit 3), also with --json, whose
detail names no CAF internals."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import REPO, free_port, quiltd_path, sim_path  # noqa: E402
from console_harness import console_path  # noqa: E402

# Each program with every option its --help must list.
PROGRAMS = {
    "quiltd": (quiltd_path, ["--name", "--port", "--log-level", "--keygen",
                             "--help", "--version"]),
    "quilt-console": (console_path, ["--host", "--port", "--node", "--json",
                                     "--tls-certificate", "--tls-key",
                                     "--tls-cafile", "--help", "--version"]),
    "quilt-sim": (sim_path, ["--seed", "--report", "--dot", "--console-port",
                             "--help", "--version"]),
}

# Words that give away CAF's rendering of an error instead of plain words.
INTERNALS = re.compile(r"system_error|sec::|caf::|error\(")


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*quilt\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1)


def run(argv, timeout=20):
    t0 = time.monotonic()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    p.elapsed = time.monotonic() - t0
    p.out = p.stdout.decode("utf-8", "replace")
    p.err = p.stderr.decode("utf-8", "replace")
    return p


class HelpAndVersionTest(unittest.TestCase):
    def test_help_lists_every_option(self):
        for name, (path, options) in PROGRAMS.items():
            for flag in ("--help", "-h"):
                with self.subTest(program=name, flag=flag):
                    r = run([path(), flag])
                    self.assertEqual(r.returncode, 0, r)
                    self.assertEqual(r.err, "", r)
                    for opt in options:
                        self.assertRegex(r.out, r"(?m)%s\b" % re.escape(opt),
                                         (opt, r.out))

    def test_version_is_one_line(self):
        version = project_version()
        for name, (path, _) in PROGRAMS.items():
            with self.subTest(program=name):
                r = run([path(), "--version"])
                self.assertEqual(r.returncode, 0, r)
                self.assertEqual(r.out, "%s %s\n" % (name, version), r)
                self.assertEqual(r.err, "", r)


class UsageErrorTest(unittest.TestCase):
    def one_line(self, r, name):
        self.assertEqual(r.out, "", r)
        lines = r.err.splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertTrue(lines[0].startswith(name + ": "), r)
        self.assertNotRegex(lines[0], INTERNALS, r)
        return lines[0]

    def test_unknown_option(self):
        for name, (path, _) in PROGRAMS.items():
            for bad in ("--frobnicate", "--frobnicate=3", "-z"):
                with self.subTest(program=name, option=bad):
                    r = run([path(), bad])
                    self.assertEqual(r.returncode, 2, r)
                    line = self.one_line(r, name)
                    self.assertIn("unknown option " + bad.split("=")[0],
                                  line, r)

    def test_missing_value(self):
        cases = [("quiltd", ["x.toml", "--port"], "--port"),
                 ("quiltd", ["--keygen"], "--keygen"),
                 ("quilt-console", ["--host"], "--host"),
                 ("quilt-console", ["--port"], "--port"),
                 ("quilt-sim", ["x.toml", "--report"], "--report"),
                 ("quilt-sim", ["x.toml", "--seed"], "--seed")]
        for name, args, opt in cases:
            with self.subTest(program=name, args=args):
                r = run([PROGRAMS[name][0]()] + args)
                self.assertEqual(r.returncode, 2, r)
                self.assertIn(opt, self.one_line(r, name), r)

    def test_console_unknown_option_with_json(self):
        r = run([console_path(), "--json", "--frobnicate", "status"])
        self.assertEqual(r.returncode, 2, r)
        doc = json.loads(r.out)
        self.assertEqual(doc["error"], "usage", r)
        self.assertIn("--frobnicate", doc["detail"], r)

    def test_console_missing_value_with_json(self):
        r = run([console_path(), "--json", "--port"])
        self.assertEqual(r.returncode, 2, r)
        doc = json.loads(r.out)
        self.assertEqual(doc["error"], "usage", r)
        self.assertIn("--port", doc["detail"], r)

    def test_console_command_words_are_verbatim(self):
        # After COMMAND nothing is an option of the console's own: `--dot`
        # reaches topology, and `--help` is an argument (too many for status).
        port = free_port()
        r = run([console_path(), "--port", str(port), "status", "--help"])
        self.assertEqual(r.returncode, 2, r)
        self.assertEqual(r.out, "", r)
        r = run([console_path(), "--port", str(port), "topology", "--dot"])
        self.assertEqual(r.returncode, 3, r)


class UnreachableConsoleTest(unittest.TestCase):
    def expect_unreachable(self, argv, pattern):
        r = run(argv + ["status"])
        self.assertEqual(r.returncode, 3, r)
        self.assertLess(r.elapsed, 5, r)
        self.assertEqual(r.out, "", r)
        lines = r.err.splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertRegex(lines[0], pattern, r)
        self.assertNotRegex(lines[0], INTERNALS, r)
        r = run(argv + ["--json", "status"])
        self.assertEqual(r.returncode, 3, r)
        doc = json.loads(r.out)
        self.assertEqual(set(doc), {"error", "detail"}, r)
        self.assertEqual(doc["error"], "unreachable", r)
        self.assertRegex("quilt-console: " + doc["detail"], pattern, r)
        self.assertNotRegex(doc["detail"], INTERNALS, r)
        self.assertEqual(r.err.splitlines(), lines, "the same line with --json")

    def test_closed_port(self):
        port = free_port()  # reserved, never listening: refused
        self.expect_unreachable(
            [console_path(), "--port", str(port)],
            r"^quilt-console: cannot reach a Quilt console at 127\.0\.0\.1:%d:"
            r" connection refused$" % port)

    def test_silent_listener_times_out(self):
        # Accepts connections and never says a word.
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        srv.settimeout(0.2)
        held, stop = [], threading.Event()

        def accept():
            while not stop.is_set():
                try:
                    held.append(srv.accept()[0])
                except OSError:
                    pass

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        self.addCleanup(lambda: [c.close() for c in held])
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        port = srv.getsockname()[1]
        self.expect_unreachable(
            [console_path(), "--port", str(port)],
            r"^quilt-console: no Quilt console answered at 127\.0\.0\.1:%d "
            r"within 4 s$" % port)


if __name__ == "__main__":
    unittest.main(verbosity=2)
