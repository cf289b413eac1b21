"""Helpers for driving quilt-console (SPEC section 8) against quiltd
processes started by quilt_harness.

    node = ConsoleNode(workdir, "a", peers=[...])   # [console] on a free port
    node.start(pty=False)
    r = console(node, "status")                       # --json by default
    r.rc, r.doc, r.stdout, r.stderr, r.elapsed

    with ConsolePrompt(node) as p:                    # interactive, on a pty
        p.type("status"); p.expect(r"name\\s+a")

quilt_harness.Node writes `[console] port = 0`; ConsoleNode rewrites that
section of the generated file, so everything else the harness writes (and
may come to write) stays as it is.
"""

import codecs
import json
import os
import pty
import re
import select
import subprocess
import threading
import time

from quilt_harness import Node, binary_path, forget, free_port, spawn


def console_path():
    return binary_path("QUILT_CONSOLE", "apps", "quilt-console",
                       "quilt-console")


class ConsoleNode(Node):
    """A quilt_harness.Node whose config opens the remote console on
    `console_host`:`console_port` (a free port unless given)."""

    def __init__(self, workdir, name, console_port=None,
                 console_host="127.0.0.1", **kw):
        # Set before Node.__init__, which writes the config.
        self.console_host = console_host
        self.console_port = console_port or free_port()
        super().__init__(workdir, name, **kw)

    def write_config(self):
        super().write_config()
        with open(self.config_path) as f:
            text = f.read()
        section = '[console]\nhost = "%s"\nport = %d\n' % (self.console_host,
                                                          self.console_port)
        text, n = re.subn(r"(?m)^\[console\]\n(?:port = \d+\n)", section, text)
        if n != 1:
            raise RuntimeError("console_harness: cannot find the [console] "
                               "section quilt_harness writes in:\n" + text)
        with open(self.config_path, "w") as f:
            f.write(text)

    def start(self, pty=False, args=(), wait_ready=True):
        """Starts quiltd (stdin /dev/null by default: no line interface)
        and, with `wait_ready`, waits until its console is published."""
        super().start(pty=pty, args=args, wait_ready=wait_ready)
        if wait_ready and not self.wait_log(r"\] console on ", timeout=10):
            raise AssertionError("%s did not open its console:\n%s"
                                 % (self.name, self.tail()))
        return self


class Result:
    """One run of quilt-console."""

    def __init__(self, argv, rc, stdout, stderr, elapsed):
        self.argv, self.rc = argv, rc
        self.stdout, self.stderr, self.elapsed = stdout, stderr, elapsed
        self._doc = None

    @property
    def doc(self):
        """stdout as the one JSON document it must be (AssertionError
        otherwise)."""
        if self._doc is None:
            self._doc = single_json(self.stdout, self)
        return self._doc

    def __repr__(self):
        return ("quilt-console %s -> exit %s in %.2f s\nstdout: %r\nstderr: %r"
                % (" ".join(self.argv[1:]), self.rc, self.elapsed,
                   self.stdout[-3000:], self.stderr[-3000:]))


def single_json(text, what=""):
    """Parses `text` as exactly one JSON document on one line (SPEC 8:
    with --json, stdout holds exactly one JSON document)."""
    lines = text.splitlines()
    if len(lines) != 1 or not text.endswith("\n"):
        raise AssertionError("stdout is not one line ending in a newline: %r"
                             % (what,))
    try:
        return json.loads(text)  # rejects trailing garbage ("Extra data")
    except ValueError as e:
        raise AssertionError("stdout is not one JSON document (%s): %r"
                             % (e, what))


def run_console(port, args, host="127.0.0.1", json_out=True, timeout=30,
                extra_opts=()):
    """Runs `quilt-console --host HOST --port PORT [--json] OPTS... ARGS...`
    to completion (killed after `timeout` s, which fails the test)."""
    argv = [console_path()]
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    if json_out:
        argv.append("--json")
    argv += list(extra_opts) + list(args)
    return run_argv(argv, timeout)


def run_argv(argv, timeout=30):
    t0 = time.monotonic()
    p = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        forget(p)
        raise AssertionError("quilt-console %s hung for %s s; stdout %r "
                             "stderr %r" % (" ".join(argv[1:]), timeout,
                                            out, err))
    forget(p)
    return Result(argv, p.returncode, out.decode("utf-8", "replace"),
                  err.decode("utf-8", "replace"), time.monotonic() - t0)


def console(node, *args, **kw):
    """run_console against a ConsoleNode's console."""
    return run_console(node.console_port, args, **kw)


def poll_console(node, args, predicate, timeout, interval=0.05):
    """Runs `console(node, *args)` until predicate(result) is true or
    `timeout` s passed; returns the last result and whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        r = console(node, *args)
        ok = r.rc == 0 and predicate(r)
        if ok or time.monotonic() > deadline:
            return r, bool(ok)
        time.sleep(interval)


# -- the interactive prompt ------------------------------------------------------

_ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Z0-9]|[=>])")


class ConsolePrompt:
    """quilt-console with no command, on a pseudo-terminal (readline needs
    one). Output is kept as plain text: carriage returns and escape
    sequences are removed."""

    def __init__(self, port, host="127.0.0.1", extra=()):
        self.argv = [console_path(), "--host", host, "--port", str(port)]
        self.argv += list(extra)
        self.text = ""
        self.closed = False
        self.cond = threading.Condition()
        master, slave = pty.openpty()
        env = dict(os.environ, TERM="dumb")
        self.proc = spawn(self.argv, stdin=slave, stdout=slave, stderr=slave,
                          env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            try:
                r, _, _ = select.select([self.master], [], [], 0.2)
                if not r:
                    if self.proc.poll() is not None:
                        # Drain what is left, then stop.
                        r, _, _ = select.select([self.master], [], [], 0.1)
                        if not r:
                            break
                    continue
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the slave end is closed
                break
            if not data:
                break
            chunk = _ANSI.sub("", decoder.decode(data).replace("\r", ""))
            with self.cond:
                self.text += chunk
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.text)

    def expect(self, pattern, timeout=10, since=0):
        """Waits for `pattern` (re.M) in text[since:]; returns the match or
        raises AssertionError with the output so far."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(self.text, since)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError("no %r from the console prompt "
                                         "within %s s; output:\n%s"
                                         % (pattern, timeout, self.text))
                self.cond.wait(left)

    def type(self, line):
        os.write(self.master, (line + "\n").encode())

    def command(self, line, timeout=10):
        """Waits for the prompt, types `line`, and returns what the console
        printed up to its next prompt (or its end)."""
        since = self.mark()
        self.type(line)
        rx = re.compile(r"quilt> ")
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                # The echo of the line itself comes first; its prompt is
                # already in text[:since].
                m = rx.search(self.text, since)
                if m or self.closed:
                    end = m.start() if m else len(self.text)
                    return self.text[since:end]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%r: no next prompt within %s s; "
                                         "output:\n%s"
                                         % (line, timeout, self.text))
                self.cond.wait(left)

    def wait_exit(self, timeout=5):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        try:
            os.close(self.master)
        except OSError:
            pass
        forget(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
