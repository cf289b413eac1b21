"""Helpers for driving quilt-sim (SPEC sections 8-9) from Python tests.

Standard library only (plus quilt_harness); run with /usr/bin/python3.

    path = write_scenario(workdir, "ring.toml",
                          simulation={"transport": "direct", "settle_ms": 200},
                          defaults=FAST, topology={"kind": "ring", "nodes": 8},
                          events=[{"at_ms": 0, "action": "ping",
                                   "from": "n0", "to": "n4",
                                   "expect": "delivered"}])
    r = run_sim([path, "--seed", "3"])          # to completion
    r.rc, r.report, r.stdout, r.stderr, r.progress, r.elapsed

    s = start_sim([path, "--report", out])      # in the background
    ...; r = s.finish(timeout=30)

Every process started here is tracked by quilt_harness.spawn, so it is
killed when the test process exits.
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

from quilt_harness import forget, free_port, sim_path, spawn, stacks

# Real-time timing small enough for tests (SPEC 7's ranges): a dead
# neighbour is noticed after 500 ms, its routes are gone within 700 ms.
FAST = {"heartbeat_ms": 100, "dead_after_ms": 500}

REPORT_KEYS = {"scenario", "seed", "transport", "deterministic", "nodes",
               "links", "topology", "converged_ms", "events", "messages",
               "deliveries", "duplicate_deliveries", "drops",
               "network_lost", "false_downs", "peak_rss_bytes", "wall_ms",
               "timeline"}
EVENT_KEYS = {"at_ms", "action", "ok", "detail", "latency_us"}
# Fault events (SPEC 13) also report how long the routes took to heal.
FAULT_ACTIONS = {"kill", "restart", "cut", "heal", "partition", "heal_all",
                 "degrade", "stall"}
SAMPLE_KEYS = {"t_ms", "nodes_converged", "messages", "lost"}
MESSAGE_KEYS = {"server_connect", "ping", "pong", "msg", "error",
                "link_state", "link_ack", "link_summary", "msg_ack"}
DROP_KEYS = {"invalid", "duplicate", "loop", "ttl", "unroutable",
             "queue_full", "overload", "spoofed"}
# What may differ between two deterministic runs (SPEC 9).
VOLATILE_KEYS = ("wall_ms", "peak_rss_bytes")


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


# -- scenarios ----------------------------------------------------------------


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string for what tests write
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError("no TOML for %r" % (v,))


def scenario_toml(simulation=None, defaults=None, topology=None, nodes=(),
                  links=(), events=()):
    """The text of a scenario file (SPEC 9). `simulation`, `defaults` and
    `topology` are dicts (left out when None); `nodes` names, `links`
    (a, b) pairs, `events` dicts, in the order given."""
    out = []

    def table(header, d):
        out.append(header)
        for k, v in d.items():
            out.append("%s = %s" % (k, toml_value(v)))
        out.append("")

    if simulation is not None:
        table("[simulation]", simulation)
    if defaults is not None:
        table("[defaults]", defaults)
    if topology is not None:
        table("[topology]", topology)
    for n in nodes:
        table("[[nodes]]", {"name": n})
    for a, b in links:
        table("[[links]]", {"a": a, "b": b})
    for ev in events:
        table("[[events]]", ev)
    return "\n".join(out)


def write_scenario(workdir, filename, **kw):
    path = os.path.join(workdir, filename)
    with open(path, "w") as f:
        f.write(scenario_toml(**kw))
    return path


def rewrite_simulation(text, **settings):
    """A scenario's text with keys of its [simulation] section replaced or
    added (e.g. transport = "tcp" for config/sim-faults.toml)."""
    m = re.search(r"(?m)^\[simulation\][ \t]*(#.*)?\n", text)
    if not m:
        raise AssertionError("no [simulation] section in:\n" + text)
    end = re.compile(r"(?m)^\[").search(text, m.end())
    end = end.start() if end else len(text)
    body = text[m.end():end]
    for key, value in settings.items():
        line = "%s = %s" % (key, toml_value(value))
        body, n = re.subn(r"(?m)^%s[ \t]*=.*$" % re.escape(key), line, body)
        if n == 0:
            body = line + "\n" + body
    return text[:m.end()] + body + text[end:]


# -- ports --------------------------------------------------------------------

_port_lock = threading.Lock()
_held = []  # sockets reserving tcp ports for this process
_rng = random.Random(os.getpid() ^ int(time.time() * 1000))


def _reserve(port):
    # As quilt_harness: bound without SO_REUSEADDR (fails if taken), then
    # SO_REUSEADDR so ZeroMQ's listener may share the port with this idle
    # socket, while another test process's check fails.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def free_port_block(count, lo=30000, hi=39000):
    """A random base port in lo..hi such that base .. base+count-1 are all
    free on 127.0.0.1 now; they stay reserved for this process (the
    transport = "tcp" nodes listen on base_port + i)."""
    with _port_lock:
        for _ in range(200):
            base = _rng.randint(lo, hi - count)
            got = []
            for p in range(base, base + count):
                s = _reserve(p)
                if s is None:
                    break
                got.append(s)
            if len(got) == count:
                _held.extend(got)
                return base
            for s in got:
                s.close()
    raise RuntimeError("no %d free ports in a row in %d-%d" % (count, lo, hi))


def free_console_port():
    """A port for --console-port: quilt_harness.free_port (reserved for
    this process; quilt-sim's check and CAF's publish both set
    SO_REUSEADDR, as quiltd's console does)."""
    return free_port()


# -- running ------------------------------------------------------------------

PROGRESS_PREFIX = "quilt-sim: "


class SimResult:
    """One finished run of quilt-sim."""

    def __init__(self, argv, rc, stdout, stderr, elapsed, report_path=None):
        self.argv, self.rc = argv, rc
        self.stdout, self.stderr, self.elapsed = stdout, stderr, elapsed
        self.report_path = report_path
        self._report = None

    @property
    def report(self):
        """The JSON report: from --report's file when given, else stdout
        (which must then be exactly one JSON document)."""
        if self._report is None:
            if self.report_path:
                with open(self.report_path) as f:
                    text = f.read()
            else:
                text = self.stdout
            try:
                self._report = json.loads(text)
            except ValueError as e:
                raise AssertionError("the report is not one JSON document "
                                     "(%s): %r" % (e, self))
        return self._report

    @property
    def progress(self):
        return self.stderr.splitlines()

    def event_lines(self):
        """The progress lines of events: (at_ms, action, line)."""
        rx = re.compile(r"^quilt-sim: t=(\d+) ms (\w+)\b")
        out = []
        for line in self.progress:
            m = rx.match(line)
            if m:
                out.append((int(m.group(1)), m.group(2), line))
        return out

    def __repr__(self):
        return ("quilt-sim %s -> exit %s in %.2f s\nstdout: %r\nstderr:\n%s"
                % (" ".join(self.argv[1:]), self.rc, self.elapsed,
                   self.stdout[-3000:], self.stderr[-5000:]))


def _report_path_of(args):
    args = list(args)
    for i, a in enumerate(args):
        if a == "--report" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--report="):
            return a[len("--report="):]
    return None


class SimProcess:
    """quilt-sim running in the background; stdout and stderr are read by
    threads, so progress can be waited for."""

    def __init__(self, args, cwd=None):
        self.argv = [sim_path()] + [str(a) for a in args]
        self.report_path = _report_path_of(self.argv[1:])
        if self.report_path and cwd and not os.path.isabs(self.report_path):
            self.report_path = os.path.join(cwd, self.report_path)
        self.cond = threading.Condition()
        self.out = []
        self.err = []
        self.started = time.monotonic()
        self.proc = spawn(self.argv, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout,
                                                      self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr,
                                                      self.err), daemon=True),
        ]
        for t in self.threads:
            t.start()
        self.result = None

    def _read(self, f, chunks):
        while True:
            data = f.read1(65536)
            if not data:
                break
            with self.cond:
                chunks.append(data)
                self.cond.notify_all()

    def stderr_text(self):
        with self.cond:
            return b"".join(self.err).decode("utf-8", "replace")

    def wait_progress(self, pattern, timeout):
        """The first match of `pattern` (re.M) in stderr so far, waiting up
        to `timeout` s; None on timeout or when the process ended without
        it."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(b"".join(self.err).decode("utf-8", "replace"))
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(
                        t.is_alive() for t in self.threads)):
                    return None
                self.cond.wait(min(left, 0.2))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def finish(self, timeout):
        """Waits for the end (killing it after `timeout` s, which fails
        the test) and returns the SimResult."""
        if self.result is not None:
            return self.result
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            where = stacks(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            for t in self.threads:
                t.join(timeout=5)
            forget(self.proc)
            raise AssertionError("quilt-sim %s still running after %s s\n"
                                 "stderr:\n%s\n%s"
                                 % (" ".join(self.argv[1:]), timeout,
                                    self.stderr_text()[-5000:], where))
        for t in self.threads:
            t.join(timeout=5)
        # A reader still blocked (something else holds the pipe open) is
        # left to its daemon thread: closing under it would block.
        if not any(t.is_alive() for t in self.threads):
            for f in (self.proc.stdout, self.proc.stderr):
                f.close()
        forget(self.proc)
        with self.cond:
            out = b"".join(self.out).decode("utf-8", "replace")
            err = b"".join(self.err).decode("utf-8", "replace")
        self.result = SimResult(self.argv, rc, out, err,
                                time.monotonic() - self.started,
                                self.report_path)
        return self.result

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self.finish(timeout=10)
        except AssertionError:
            pass


def start_sim(args, cwd=None):
    return SimProcess(args, cwd=cwd)


def run_sim(args, timeout=60, cwd=None):
    """Runs quilt-sim with `args` to completion; a hang fails the test."""
    return SimProcess(args, cwd=cwd).finish(timeout)


def stable_report(report):
    """The report without what SPEC 9 lets differ between two
    deterministic runs."""
    r = dict(report)
    for k in VOLATILE_KEYS:
        r.pop(k, None)
    return r
