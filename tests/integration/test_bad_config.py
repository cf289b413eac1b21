#!/usr/bin/python3
"""quiltd's exit statuses (SPEC sections 7 and 8): a bad configuration or
command line exits 2 with one line "FILE:LINE: what is wrong" (or
"FILE: ..." where there is no line) without starting anything; a listen
port in use exits 1 with one line; SIGTERM and SIGINT shut down cleanly
with status 0."""

import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import QuiltTestCase, free_port, quiltd_path  # noqa: E402

NAME_RULE = ("(up to 64 letters, digits and . _ : -, starting with a letter "
             "or digit, not 'all')")
LEVEL_RULE = "trace, debug, info, warning (or warn), error"

# (label, file text, args, expected stderr line). "{P}" in the text is a
# free port; "{F}" in the message is the config path as given.
FILE_CASES = [
    # TOML syntax
    ("syntax: missing value", "[node]\nport = \n", [],
     "{F}:2: TOML syntax error in key-value pair: expected value, saw '\\n'"),
    ("syntax: duplicate key", "[node]\nport = {P}\nport = {P}\n", [],
     "{F}:3: TOML syntax error in key-value pair: cannot redefine existing "
     "integer 'port'"),
    ("syntax: unterminated string", "[node]\nport = {P}\nname = \"alpha\n", [],
     "{F}:3: TOML syntax error in string: unescaped control characters other "
     "than TAB (U+0009) are explicitly prohibited"),
    # unknown sections and keys
    ("unknown section", "# a node\n[nodes]\nport = {P}\n", [],
     "{F}:2: unknown section [nodes]"),
    ("unknown array section", "[node]\nport = {P}\n\n[[peer]]\naddress = "
     "\"x\"\n", [], "{F}:4: unknown section [[peer]]"),
    ("unknown key", "[node]\nname = \"alpha\"\nport = {P}\n\nprt = {P}\n", [],
     "{F}:5: unknown key 'prt' in [node]"),
    ("key in the wrong section", "[node]\nport = {P}\nheartbeat_ms = 100\n",
     [], "{F}:3: unknown key 'heartbeat_ms' in [node] (it belongs in "
     "[timing])"),
    ("key outside any section", "verbose = true\n[node]\nport = {P}\n", [],
     "{F}:1: unknown key 'verbose' outside any section"),
    ("unknown key in [console]", "[node]\nport = {P}\n[console]\ntimeout = "
     "3\n", [], "{F}:4: unknown key 'timeout' in [console]"),
    # wrong types
    ("port is a string", "[node]\nname = \"alpha\"\nport = \"{P}\"\n", [],
     "{F}:3: node.port must be an integer, got string"),
    ("port is a float", "[node]\nport = {P}.0\n", [],
     "{F}:2: node.port must be an integer, got float"),
    ("processors is a boolean", "[node]\nport = {P}\nprocessors = true\n", [],
     "{F}:3: node.processors must be an integer, got boolean"),
    ("host is an integer", "[node]\nport = {P}\nhost = 127\n", [],
     "{F}:3: node.host must be a string, got integer"),
    ("level is an integer", "[node]\nport = {P}\n[log]\nlevel = 3\n", [],
     "{F}:4: log.level must be a string, got integer"),
    ("section is a value", "timing = \"fast\"\n[node]\nport = {P}\n", [],
     "{F}:1: timing must be a table, got string"),
    ("empty host", "[node]\nport = {P}\nhost = \"\"\n", [],
     "{F}:3: node.host must not be empty"),
    # timing across keys: the dead_after_ms line is named
    ("dead_after_ms equal to heartbeat_ms",
     "[node]\nport = {P}\n[timing]\nheartbeat_ms = 1000\ndead_after_ms = "
     "1000\n", [], "{F}:5: timing.dead_after_ms must be greater than "
     "timing.heartbeat_ms (1000), got 1000"),
    ("dead_after_ms below heartbeat_ms, written first",
     "[node]\nport = {P}\n[timing]\ndead_after_ms = 2000\n\nheartbeat_ms = "
     "3000\n", [], "{F}:4: timing.dead_after_ms must be greater than "
     "timing.heartbeat_ms (3000), got 2000"),
    ("dead_after_ms below the default heartbeat_ms",
     "[node]\nport = {P}\n[timing]\ndead_after_ms = 999\n", [],
     "{F}:4: timing.dead_after_ms must be greater than timing.heartbeat_ms "
     "(1000), got 999"),
    # required keys
    ("missing node.port", "[node]\nname = \"alpha\"\n", [],
     "{F}: missing required key node.port"),
    ("empty file", "", [], "{F}: missing required key node.port"),
    # [[peers]]
    ("peer without port", "[node]\nport = {P}\n\n[[peers]]\naddress = "
     "\"127.0.0.1\"\n", [], "{F}:4: missing required key peers.port"),
    ("second peer without address", "[node]\nport = {P}\n\n[[peers]]\n"
     "address = \"a\"\nport = 1\n\n[[peers]]\nport = 9\n", [],
     "{F}:8: missing required key peers.address"),
    ("peer with unknown key", "[node]\nport = {P}\n[[peers]]\nadress = "
     "\"x\"\nport = 1\n", [], "{F}:4: unknown key 'adress' in [[peers]]"),
    ("peer port is a string", "[node]\nport = {P}\n[[peers]]\naddress = "
     "\"a\"\nport = \"9\"\n", [],
     "{F}:5: peers.port must be an integer, got string"),
    ("peers is not an array of tables", "peers = 1\n[node]\nport = {P}\n", [],
     "{F}:1: peers must be an array of tables ([[peers]]), got integer"),
    ("peers as a table", "[node]\nport = {P}\n[peers]\naddress = \"x\"\n"
     "port = 1\n", [],
     "{F}:3: peers must be an array of tables ([[peers]]), got table"),
    # log level and name
    ("bad log level", "[node]\nport = {P}\n\n[log]\nlevel = \"verbose\"\n", [],
     "{F}:5: log.level must be one of %s, got 'verbose'" % LEVEL_RULE),
    ("name all", "[node]\nport = {P}\nname = \"all\"\n", [],
     "{F}:3: node.name must be a valid node name %s, got 'all'" % NAME_RULE),
    ("name with a space", "[node]\nport = {P}\nname = \"two words\"\n", [],
     "{F}:3: node.name must be a valid node name %s, got 'two words'"
     % NAME_RULE),
    ("derived name is not a name", "[node]\nport = {P}\nadvertise = "
     "\"::1\"\n", [], "{F}:3: node.name is not set and its default "
     "'::1:{P}' (<advertise>:<port>) is not a valid node name %s; set "
     "node.name" % NAME_RULE),
    # the earliest line wins
    ("two problems", "[timing]\nheartbeat_ms = 0\n[node]\nport = 0\n", [],
     "{F}:2: timing.heartbeat_ms must be 10..60000, got 0"),
]

# Every integer key at both ends of its range: (section, key, lo, hi).
RANGES = [
    ("node", "port", 1, 65535),
    ("node", "processors", 1, 256),
    ("console", "port", 0, 65535),
    ("timing", "heartbeat_ms", 10, 60000),
    ("limits", "default_ttl", 1, 255),
    ("limits", "max_message_bytes", 256, 67108864),
    ("limits", "queue_limit", 1, 10000000),
]


def range_cases():
    cases = []
    for section, key, lo, hi in RANGES:
        for bad in (lo - 1, hi + 1):
            # The key is on line 3 of every file.
            text = "[%s]\n# the key\n%s = %d\n" % (section, key, bad)
            if section == "timing":
                text += "dead_after_ms = 600000\n"
            if section != "node":
                text += "[node]\n"
            if (section, key) != ("node", "port"):
                text += "port = {P}\n"
            cases.append(("%s.%s = %d" % (section, key, bad), text, [],
                          "{F}:3: %s.%s must be %d..%d, got %d"
                          % (section, key, lo, hi, bad)))
    cases.append(("timing.dead_after_ms = 600001",
                  "[node]\nport = {P}\n[timing]\ndead_after_ms = 600001\n", [],
                  "{F}:4: timing.dead_after_ms must be greater than "
                  "heartbeat_ms and at most 600000, got 600001"))
    cases.append(("timing.dead_after_ms = 0",
                  "[node]\nport = {P}\n[timing]\ndead_after_ms = 0\n", [],
                  "{F}:4: timing.dead_after_ms must be greater than "
                  "heartbeat_ms and at most 600000, got 0"))
    for bad in (0, 65536):
        cases.append(("peers.port = %d" % bad,
                      "[node]\nport = {P}\n\n[[peers]]\naddress = \"a\"\n"
                      "port = %d\n" % bad, [],
                      "{F}:6: peers.port must be 1..65535, got %d" % bad))
    return cases


GOOD = "[node]\nname = \"ok\"\nport = {P}\n[console]\nport = 0\n"

# Command-line mistakes: (label, args after the config path, message).
ARG_CASES = [
    ("--port abc", ["--port", "abc"], "--port: 'abc' is not a port 1..65535"),
    ("--port=0", ["--port=0"], "--port: '0' is not a port 1..65535"),
    ("--port 65536", ["--port", "65536"],
     "--port: '65536' is not a port 1..65535"),
    ("--name all", ["--name", "all"],
     "--name: 'all' is not a valid node name %s" % NAME_RULE),
    ("--name 'two words'", ["--name", "two words"],
     "--name: 'two words' is not a valid node name %s" % NAME_RULE),
    ("--log-level loud", ["--log-level", "loud"],
     "--log-level: 'loud' is not a log level (%s)" % LEVEL_RULE),
]


class BadConfigTest(QuiltTestCase):
    def run_quiltd(self, args, cwd=None, timeout=10):
        p = subprocess.run([quiltd_path()] + args, cwd=cwd or self.workdir,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def expect_exit_2(self, label, args, line, cwd=None):
        rc, out, err = self.run_quiltd(args, cwd)
        self.assertEqual(rc, 2, "%s: exit %s, stderr %r" % (label, rc, err))
        self.assertEqual(err, line + "\n",
                         "%s: stderr is not exactly the one line" % label)
        self.assertEqual(out, "", label)

    def write(self, name, text, port=None):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text.replace("{P}", str(port or free_port())))
        return path

    def test_bad_files(self):
        for i, (label, text, args, line) in enumerate(FILE_CASES + range_cases()):
            with self.subTest(label):
                # FILE is the path as given: relative here ...
                name = "case%d.toml" % i
                port = free_port()
                self.write(name, text, port)
                self.expect_exit_2(label, [name] + args,
                                   line.replace("{F}", name)
                                   .replace("{P}", str(port)))
        # ... and absolute, and not made canonical.
        label, text, args, line = FILE_CASES[0]
        path = self.write("abs.toml", text)
        os.mkdir(os.path.join(self.workdir, "sub"))
        for given in (path, os.path.join(self.workdir, "sub", "..",
                                         "abs.toml"), "./sub/../abs.toml"):
            with self.subTest(given):
                self.expect_exit_2(label, [given], line.replace("{F}", given))

    def test_missing_and_unreadable_file(self):
        self.expect_exit_2("missing", ["no-such.toml"],
                           "no-such.toml: cannot open: No such file or "
                           "directory")
        os.mkdir(os.path.join(self.workdir, "dir.toml"))
        self.expect_exit_2("directory", ["dir.toml"],
                           "dir.toml: cannot read: Is a directory")

    def test_bad_command_line_values(self):
        self.write("good.toml", GOOD)
        for label, args, line in ARG_CASES:
            with self.subTest(label):
                self.expect_exit_2(label, ["good.toml"] + args, line)
        # A bad override is reported before the file is even read.
        with self.subTest("bad --port and missing file"):
            self.expect_exit_2("bad --port, no file",
                               ["no-such.toml", "--port", "abc"],
                               "--port: 'abc' is not a port 1..65535")
        # Overrides do not hide the file's mistakes.
        with self.subTest("good overrides, bad file"):
            self.write("badname.toml", "[node]\nname = \"all\"\nport = 0\n")
            self.expect_exit_2("overrides", ["badname.toml", "--name", "x",
                                             "--port", "9"],
                               "badname.toml:2: node.name must be a valid "
                               "node name %s, got 'all'" % NAME_RULE)

    def test_bad_command_line_shape(self):
        # SPEC 8: exit 2 and one clear line on stderr.
        self.write("good.toml", GOOD)
        cases = [
            ("unknown option", ["good.toml", "--bogus"], r"--bogus"),
            ("no config", [], r"CONFIG"),
            ("option without value", ["good.toml", "--port"], r"--port"),
            ("two config files", ["good.toml", "other.toml"], r"other\.toml"),
        ]
        for label, args, must_mention in cases:
            with self.subTest(label):
                rc, out, err = self.run_quiltd(args)
                self.assertEqual(rc, 2, "%s: exit %s" % (label, rc))
                self.assertRegex(err, must_mention)
                self.assertEqual(len(err.splitlines()), 1,
                                 "%s: stderr is not one line: %r"
                                 % (label, err))

    def test_listen_port_in_use(self):
        port = free_port()
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        # SO_REUSEADDR: the harness keeps an idle reservation on the port.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        self.write("busy.toml", GOOD.replace("{P}", str(port)))
        start = time.monotonic()
        rc, out, err = self.run_quiltd(["busy.toml"])
        self.assertEqual(rc, 1, err)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(len(err.splitlines()), 1, repr(err))
        self.assertIn(str(port), err)
        self.assertRegex(err, r"(?i)in use")

    def test_listen_port_taken_by_another_node(self):
        first = self.node("first")
        first.start(pty=False)
        rc, out, err = self.run_quiltd([first.config_path, "--name", "second"])
        self.assertEqual(rc, 1, err)
        self.assertEqual(len(err.splitlines()), 1, repr(err))
        self.assertRegex(err, r"(?i)in use")
        self.assertTrue(first.alive())


class SignalTest(QuiltTestCase):
    def stop_within(self, node, sig, limit=3.0):
        t0 = time.monotonic()
        node.proc.send_signal(sig)
        rc = node.wait_exit(limit + 2)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, "%s: exit %s\n%s\n%s"
                         % (sig, rc, node.tail(), node.hang_report))
        self.assertLess(elapsed, limit, "%s took %.2fs" % (sig, elapsed))

    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            for pty in (False, True):
                with self.subTest(sig=sig.name, pty=pty):
                    n = self.node("sig%d%s" % (sig, "t" if pty else ""))
                    n.start(pty=pty)
                    self.stop_within(n, sig)

    def test_sigterm_with_live_links_and_port_reuse(self):
        a = self.node("a")
        b_ = self.node("b", peers=[a.port])
        a.start(pty=False)
        b_.start(pty=False)
        self.assertIsNotNone(a.wait_log(r"\] peer b .* is up$", 10), a.tail())
        self.stop_within(a, signal.SIGTERM)
        # The listen port is free again at once.
        a.start(pty=False)
        self.assertIsNotNone(a.wait_log(r"\] peer b .* is up$", 10), a.tail())
        self.stop_within(b_, signal.SIGINT)
        self.stop_within(a, signal.SIGTERM)

    def test_quit_command_exits_0(self):
        n = self.node("q")
        n.start(pty=True)
        t0 = time.monotonic()
        n.send_line("/quit")
        rc = n.wait_exit(5)
        self.assertEqual(rc, 0, n.tail() + "\n" + n.hang_report)
        self.assertLess(time.monotonic() - t0, 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
