"""Process-level test harness for quiltd (SPEC sections 3-8).

Standard library plus pyzmq only; run with /usr/bin/python3.

    node = Node(workdir, "alpha", peers=[beta.port])
    node.start()                        # pseudo-terminal on stdin/stdout
    node.wait_log(r"peer beta .* is up")
    node.ping("beta")                   # -> "pong from beta in 0.412 ms"
    node.stats()["rx"]

Every process a Node starts is killed when the Node is stopped, when the
test case ends (QuiltTestCase) and, as a last resort, when this Python
process exits (atexit) or dies (the child's parent-death signal).
"""

import atexit
import codecs
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

try:
    import zmq
except ImportError:  # pragma: no cover - explains the usual mistake
    sys.stderr.write("pyzmq is missing: run the tests with /usr/bin/python3\n")
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def binary_path(env, *parts):
    """$ENV (ctest sets it), else the program under build/ (the README's
    build) or build-lead/. A missing binary fails the test rather than
    skipping it."""
    candidates = [os.environ.get(env)] if os.environ.get(env) else [
        os.path.join(REPO, d, *parts) for d in ("build", "build-lead")]
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise RuntimeError("%s not found at %s (build it, or set %s)"
                       % (parts[-1], " or ".join(candidates), env))


def quiltd_path():
    return binary_path("QUILTD", "apps", "quiltd", "quiltd")


def sim_path():
    return binary_path("QUILT_SIM", "apps", "quilt-sim", "quilt-sim")


# -- ports ------------------------------------------------------------------
#
# A port handed out stays reserved by this process until it exits: a socket
# bound to it with SO_REUSEADDR but never listening. quiltd's and pyzmq's
# listeners (which set SO_REUSEADDR too) can still bind it, while the
# free-port check of another test process (a bind without SO_REUSEADDR)
# fails. So tests running in parallel never pick the same port, not even a
# port whose node is down for a moment (and is being redialled).

_ports_lock = threading.Lock()
_reserved = {}  # port -> reserving socket
_rng = random.Random(os.getpid() ^ int(time.time() * 1000))


def _reserve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))  # no SO_REUSEADDR yet: fails if taken
    except OSError:
        s.close()
        return None
    # Set after the bind: the check above was atomic, and from now on a
    # listener with SO_REUSEADDR may share the port with this idle socket.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def free_port():
    """A random TCP port in 20000-29999, free on 127.0.0.1 now, and
    reserved for this process from now on (see above)."""
    with _ports_lock:
        for _ in range(1000):
            port = _rng.randint(20000, 29999)
            if port in _reserved:
                continue
            s = _reserve(port)
            if s is not None:
                _reserved[port] = s
                return port
    raise RuntimeError("no free port in 20000-29999")


# -- processes --------------------------------------------------------------

_live = set()
_live_lock = threading.Lock()


def _kill_all():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        try:
            p.kill()
            p.wait(timeout=5)
        except Exception:
            pass


atexit.register(_kill_all)

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup():
    # Dies with this process, even if it is killed with SIGKILL.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv, **kw):
    """subprocess.Popen that is tracked and killed at exit."""
    kw.setdefault("preexec_fn", _child_setup)
    p = subprocess.Popen(argv, **kw)
    with _live_lock:
        _live.add(p)
    return p


def forget(p):
    with _live_lock:
        _live.discard(p)


def stacks(pid):
    """Every thread's backtrace of a running process (for a hang), or a
    note why there is none."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "(no gdb to show where it hangs)"
    try:
        p = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx",
                            "-ex", "thread apply all bt"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        return p.stdout[-20000:]
    except Exception as e:  # pragma: no cover
        return "(gdb failed: %s)" % e


# -- log lines ----------------------------------------------------------------

LOG_RE = re.compile(r"^(\d+)\.(\d{3}) (\w+) \[([^\]]*)\] (.*)$")


class LogLine:
    """One stderr line of quiltd: "<epoch>.<ms> <level> [<node>] text"."""

    def __init__(self, raw, received):
        self.raw = raw
        self.received = received  # time.time() when the harness read it
        m = LOG_RE.match(raw)
        if m:
            self.stamp = int(m.group(1)) + int(m.group(2)) / 1000.0
            self.level, self.who, self.text = m.group(3), m.group(4), m.group(5)
        else:
            self.stamp = None
            self.level = self.who = None
            self.text = raw

    def __repr__(self):
        return "LogLine(%r)" % self.raw


class _Stream:
    """Text accumulated by a reader thread, with waiting."""

    def __init__(self):
        self.cond = threading.Condition()
        self.text = ""
        self.closed = False

    def append(self, chunk):
        with self.cond:
            self.text += chunk
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.text)

    def wait(self, pattern, timeout, since=0, flags=re.M):
        """First match of `pattern` in the complete lines of text[since:],
        waiting up to `timeout` s; None on timeout or end of stream."""
        rx = re.compile(pattern, flags)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                end = self.text.rfind("\n") + 1
                m = rx.search(self.text, since, max(end, since))
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(left)


class Node:
    """One quiltd process with a generated config in `workdir`."""

    def __init__(self, workdir, name, port=None, peers=(), heartbeat_ms=100,
                 dead_after_ms=500, max_message_bytes=None, default_ttl=None,
                 log_level="info", processors=2, extra_toml="",
                 peer_keys=()):
        self.workdir = workdir
        self.name = name
        self.port = port or free_port()
        self.peer_ports = list(peers)
        self.heartbeat_ms = heartbeat_ms
        self.dead_after_ms = dead_after_ms
        self.max_message_bytes = max_message_bytes
        self.default_ttl = default_ttl
        # QUILT_LOG_LEVEL=debug shows every dropped message when debugging.
        self.log_level = os.environ.get("QUILT_LOG_LEVEL") or log_level
        self.processors = processors
        self.extra_toml = extra_toml
        # CURVE public keys of the peers, in the order of `peers`.
        self.peer_keys = list(peer_keys)
        self.config_path = os.path.join(workdir, "%s.toml" % name)
        self.proc = None
        self.master = None
        self.logs = []
        self._log_cond = threading.Condition()
        self.out = _Stream()
        self._threads = []
        self._sentinel = 0
        self.hang_report = ""
        self.write_config()

    @property
    def endpoint(self):
        return "tcp://127.0.0.1:%d" % self.port

    def write_config(self):
        lines = [
            "[node]",
            'name = "%s"' % self.name,
            'host = "127.0.0.1"',
            "port = %d" % self.port,
            "processors = %d" % self.processors,
            "",
        ]
        for i, p in enumerate(self.peer_ports):
            lines += ["[[peers]]", 'address = "127.0.0.1"', "port = %d" % p]
            if i < len(self.peer_keys):
                lines.append('public_key = "%s"' % self.peer_keys[i])
            lines.append("")
        lines += ["[console]", "port = 0", "",
                  "[timing]",
                  "heartbeat_ms = %d" % self.heartbeat_ms,
                  "dead_after_ms = %d" % self.dead_after_ms, "",
                  "[limits]"]
        if self.max_message_bytes is not None:
            lines.append("max_message_bytes = %d" % self.max_message_bytes)
        if self.default_ttl is not None:
            lines.append("default_ttl = %d" % self.default_ttl)
        lines += ["", "[log]", 'level = "%s"' % self.log_level, ""]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + self.extra_toml)

    # -- process ------------------------------------------------------------

    def command_prefix(self):
        """Words put before quiltd's command line; a subclass runs quiltd
        through a wrapper that execs it (the pid stays quiltd's), e.g.
        `ip netns exec NS` (test_multihost.py)."""
        return []

    def start(self, pty=True, args=(), wait_ready=True):
        """Starts quiltd; with `pty` its stdin/stdout are a pseudo-terminal
        (line interface), else stdin is /dev/null. Waits for "listening on"
        (and the line interface's banner with a pty)."""
        assert self.proc is None or self.proc.poll() is not None
        self.logs = []
        self.out = _Stream()
        argv = self.command_prefix() + [quiltd_path(), self.config_path] + list(args)
        if pty:
            import pty as pty_mod
            master, slave = pty_mod.openpty()
            attrs = termios.tcgetattr(slave)
            attrs[3] &= ~termios.ECHO  # our commands are not echoed back
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            self.proc = spawn(argv, stdin=slave, stdout=slave,
                              stderr=subprocess.PIPE, start_new_session=True)
            os.close(slave)
            self.master = master
            t = threading.Thread(target=self._read_pty, args=(master, self.out),
                                 daemon=True)
        else:
            self.master = None
            self.proc = spawn(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)
            t = threading.Thread(target=self._read_pipe,
                                 args=(self.proc.stdout, self.out), daemon=True)
        t.start()
        self._threads.append(t)
        t = threading.Thread(target=self._read_stderr, args=(self.proc.stderr,),
                             daemon=True)
        t.start()
        self._threads.append(t)
        self.started_at = time.time()
        if wait_ready:
            if not self.wait_log(r"listening on ", timeout=10):
                raise AssertionError("%s did not start:\n%s"
                                     % (self.name, self.tail()))
            if pty and not self.out.wait(r"-- /help for commands", 10):
                raise AssertionError("%s printed no banner:\n%s"
                                     % (self.name, self.tail()))
        return self

    def _read_pty(self, fd, stream):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: every slave end is closed
                break
            if not data:
                break
            stream.append(decoder.decode(data).replace("\r", ""))
        stream.close()

    def _read_pipe(self, f, stream):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            data = f.read1(65536)
            if not data:
                break
            stream.append(decoder.decode(data))
        stream.close()

    def _read_stderr(self, f):
        for raw in iter(f.readline, b""):
            line = LogLine(raw.decode("utf-8", "replace").rstrip("\n"),
                           time.time())
            with self._log_cond:
                self.logs.append(line)
                self._log_cond.notify_all()
        with self._log_cond:
            self._log_cond.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5):
        """Signals quiltd and waits; kills it if it does not end. Returns
        the exit status (None if it was not running)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            try:
                self.proc.send_signal(sig)
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        self._cleanup()
        return rc

    def kill9(self):
        """SIGKILL; returns time.time() just before the signal."""
        t = time.time()
        self.proc.kill()
        self.proc.wait(timeout=5)
        self._cleanup()
        return t

    def wait_exit(self, timeout):
        """Exit status, or None if quiltd is still running after `timeout`
        s (then self.hang_report holds its threads' stacks, if gdb is
        installed)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.hang_report = stacks(self.proc.pid)
            return None
        self._cleanup()
        return rc

    def _cleanup(self):
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass
            self.master = None
        if self.proc is not None:
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()
            forget(self.proc)

    # -- stderr log ---------------------------------------------------------

    def log_mark(self):
        with self._log_cond:
            return len(self.logs)

    def wait_log(self, pattern, timeout=5, since=0):
        """First log line from index `since` on whose text matches
        `pattern` (re.search), waiting up to `timeout` s; None if none."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = since
        with self._log_cond:
            while True:
                while i < len(self.logs):
                    if rx.search(self.logs[i].raw):
                        return self.logs[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc and self.proc.poll() is not None
                                 and not any(t.is_alive()
                                             for t in self._threads)):
                    return None
                self._log_cond.wait(min(left, 0.2))

    def find_logs(self, pattern, since=0):
        rx = re.compile(pattern)
        with self._log_cond:
            return [l for l in self.logs[since:] if rx.search(l.raw)]

    def tail(self, n=40):
        with self._log_cond:
            logs = "\n".join(l.raw for l in self.logs[-n:])
        out = self.out.text[-3000:]
        return ("--- %s stderr (last %d) ---\n%s\n--- %s stdout (tail) ---\n%s"
                % (self.name, n, logs, self.name, out))

    # -- line interface -----------------------------------------------------

    def send_line(self, line):
        assert self.master is not None, "node started without a pty"
        os.write(self.master, (line + "\n").encode())

    def command(self, line, expect, timeout=5):
        """Types `line` and waits for `expect` (a regex) in the output that
        follows; returns the match. Fails the test on timeout."""
        mark = self.out.mark()
        self.send_line(line)
        m = self.out.wait(expect, timeout, since=mark)
        if m is None:
            raise AssertionError("%s: no %r after %r within %ss\n%s"
                                 % (self.name, expect, line, timeout,
                                    self.tail()))
        return m

    def block(self, line, timeout=5):
        """Output of a command that prints several lines: `line` is
        followed by an unknown command whose answer ends the block."""
        self._sentinel += 1
        token = "/zz-end-%d" % self._sentinel
        mark = self.out.mark()
        self.send_line(line)
        self.send_line(token)
        m = self.out.wait(r"^unknown command %s \(try /help\)$" % re.escape(token),
                          timeout, since=mark)
        if m is None:
            raise AssertionError("%s: %r gave no complete answer within %ss\n%s"
                                 % (self.name, line, timeout, self.tail()))
        return self.out.text[mark:m.start()]

    def stats(self):
        text = self.block("/stats")
        result = {}
        for line in text.splitlines():
            m = re.match(r"^([a-z_]+)\s+(\d+)\s*$", line)
            if m:
                result[m.group(1)] = int(m.group(2))
        return result

    def peers(self):
        """Rows of /peers as dicts name, address ("host:port", "host:?"
        before the port is known, "-" for an incoming-only peer), state,
        rtt, last_seen. The table has quilt-console's columns: NAME
        ADDRESS PORT STATE RTT LAST SEEN."""
        text = self.block("/peers")
        rows = []
        for line in text.splitlines():
            m = re.match(r"^(\S+)\s+(\S+)\s+(\S+)\s+(connecting|up|down|auth_failed)\s+"
                         r"(-|[\d.]+ ms)\s+(.*)$", line)
            if m:
                host, port = m.group(2), m.group(3)
                address = "-" if host == "-" else "%s:%s" % (
                    host, "?" if port == "-" else port)
                rows.append(dict(name=m.group(1), address=address,
                                 state=m.group(4), rtt=m.group(5),
                                 last_seen=m.group(6).strip()))
        return rows

    def peer_state(self, name):
        for row in self.peers():
            if row["name"] == name:
                return row["state"]
        return None

    def wait_peer_state(self, name, state, timeout):
        deadline = time.monotonic() + timeout
        while True:
            current = self.peer_state(name)
            if current == state:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def ping(self, target, timeout=8):
        """/ping TARGET; returns the answer line ("pong from ..." or
        "no pong from ...")."""
        m = self.command("/ping %s" % target,
                         r"^(pong from \S+ in [\d.]+ ms|no pong from .*|"
                         r"ping failed: .*)$", timeout)
        return m.group(1)

    # -- routing (SPEC section 6) -------------------------------------------

    def routes(self):
        """/routes as {destination: (next_hop, hops)}; {} for "no routes".
        Fails the test if the answer is neither a table nor "no routes"."""
        text = self.block("/routes")
        result = {}
        header = empty = False
        for line in text.splitlines():
            if re.match(r"^DESTINATION\s+NEXT HOP\s+HOPS\s*$", line):
                header = True
                continue
            if line == "no routes":
                empty = True
                continue
            m = re.match(r"^(\S+)\s+(\S+)\s+(\d+)\s*$", line)
            if m and header:
                result[m.group(1)] = (m.group(2), int(m.group(3)))
        if not header and not empty:
            raise AssertionError("%s: /routes printed neither a table nor "
                                 "\"no routes\": %r" % (self.name, text))
        if empty and result:
            raise AssertionError("%s: /routes printed rows and \"no routes\": "
                                 "%r" % (self.name, text))
        return result

    def traceroute(self, target, timeout=20):
        """/traceroute TARGET as (hops, reached, text): hops a list of
        (hop number, node name or None for "*") in printed order, reached
        True for "reached TARGET", False for "did not reach TARGET"."""
        text = self.block("/traceroute %s" % target, timeout=timeout)
        lines = text.splitlines()
        try:
            start = lines.index("traceroute to %s" % target)
        except ValueError:
            raise AssertionError("%s: no \"traceroute to %s\" in %r"
                                 % (self.name, target, text))
        hops, reached = [], None
        for line in lines[start + 1:]:
            m = re.match(r"^\s*(\d+)  (\S+)\s*(?:([\d.]+) ms)?\s*$", line)
            if m:
                name = m.group(2)
                if name == "*":
                    if m.group(3):
                        raise AssertionError("silent hop with a time: %r"
                                             % line)
                    hops.append((int(m.group(1)), None))
                else:
                    if not m.group(3):
                        raise AssertionError("hop without a time: %r" % line)
                    hops.append((int(m.group(1)), name))
                continue
            if line == "reached %s" % target:
                reached = True
                break
            if line == "did not reach %s" % target:
                reached = False
                break
        if reached is None:
            raise AssertionError("%s: traceroute to %s has no final line: %r"
                                 % (self.name, target, text))
        return hops, reached, text

    def pause(self):
        """SIGSTOP; returns time.time() just before the signal."""
        t = time.time()
        self.proc.send_signal(signal.SIGSTOP)
        return t

    def resume(self):
        """SIGCONT; returns time.time() just before the signal."""
        t = time.time()
        self.proc.send_signal(signal.SIGCONT)
        return t

    def listening_stamp(self):
        """The time stamp of this run's "listening on" log line (when its
        port accepts connections), or None."""
        for line in self.find_logs(r"listening on "):
            return line.stamp if line.stamp is not None else line.received
        return None


# -- expected routes -----------------------------------------------------------


def shortest_routes(links, source):
    """What `source`'s /routes must hold in the undirected graph `links`
    (pairs of names): {destination: (set of acceptable next hops, hops)};
    a next hop is acceptable when it starts some shortest path."""
    adj = {}
    for x, y in links:
        adj.setdefault(x, set()).add(y)
        adj.setdefault(y, set()).add(x)
    dist = {source: 0}
    first = {source: set()}
    frontier = [source]
    while frontier:
        nxt = []
        for u in frontier:
            for v in sorted(adj.get(u, ())):
                hop = {v} if u == source else first[u]
                if v not in dist:
                    dist[v] = dist[u] + 1
                    first[v] = set(hop)
                    nxt.append(v)
                elif dist[v] == dist[u] + 1:
                    first[v] |= hop
        frontier = nxt
    return {d: (first[d], dist[d]) for d in dist if d != source}


def route_mismatch(actual, expected):
    """None when the /routes table `actual` ({dest: (next_hop, hops)})
    fits `expected` (from shortest_routes), else a description."""
    problems = []
    for d in sorted(set(actual) - set(expected)):
        problems.append("unexpected route to %s %r" % (d, actual[d]))
    for d in sorted(set(expected) - set(actual)):
        problems.append("no route to %s" % d)
    for d in sorted(set(actual) & set(expected)):
        hop, hops = actual[d]
        ok_hops, want = expected[d]
        if hop not in ok_hops or hops != want:
            problems.append("%s via %s in %d, want via %s in %d"
                            % (d, hop, hops, "/".join(sorted(ok_hops)), want))
    return "; ".join(problems) or None


def wait_routes(nodes, links, timeout, interval=0.05):
    """Polls /routes on every node until each fits shortest_routes(links);
    returns (time.time() when they all did, None) or (None, description of
    what was still wrong at the deadline)."""
    expected = {n.name: shortest_routes(links, n.name) for n in nodes}
    deadline = time.monotonic() + timeout
    while True:
        wrong = []
        for n in nodes:
            why = route_mismatch(n.routes(), expected[n.name])
            if why:
                wrong.append("%s: %s" % (n.name, why))
        if not wrong:
            return time.time(), None
        if time.monotonic() > deadline:
            return None, "\n".join(wrong)
        time.sleep(interval)


def msg_line(frm, to, text):
    """The line interface's line for a delivered msg (the table form of
    quilt-console watch): `HH:MM:SS.mmm msg from=F to=T id=N text=TEXT`."""
    return (r"(?m)^\d\d:\d\d:\d\d\.\d{3} msg from=%s to=%s id=\d+ text=%s$"
            % (re.escape(frm), re.escape(to), re.escape(text)))


def wait_until(predicate, timeout, interval=0.05):
    """Calls `predicate` until it returns something true or `timeout` s
    have passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- ZeroMQ helpers ------------------------------------------------------------

_ctx = None


def context():
    global _ctx
    if _ctx is None:
        _ctx = zmq.Context()
    return _ctx


def b(x):
    return x if isinstance(x, bytes) else str(x).encode()


def req(endpoint, frames, timeout_ms=3000):
    """Sends `frames` on a fresh REQ socket; returns the reply's frames, or
    None if no reply came within `timeout_ms`."""
    s = context().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.setsockopt(zmq.SNDTIMEO, timeout_ms)
    try:
        s.connect(endpoint)
        s.send_multipart([b(f) for f in frames])
        try:
            return s.recv_multipart()
        except zmq.Again:
            return None
    finally:
        s.close()


def stop_all(nodes):
    """Ends every node with SIGTERM (all signalled first, then each waited
    for, SIGKILL after 5 s), so that a sanitized quiltd runs its exit-time
    checks (LeakSanitizer) and a clean shutdown is exercised after every
    test."""
    for n in nodes:
        try:
            if n.alive():
                n.proc.send_signal(signal.SIGTERM)
        except Exception:
            pass
    for n in nodes:
        try:
            n.stop(signal.SIGTERM)
        except Exception:
            pass


class QuiltTestCase(unittest.TestCase):
    """Gives each test a temp dir and stops its nodes afterwards; on a
    failure, prints the nodes' logs. Nodes made with class_node() in
    setUpClass are shared by the class's tests and stopped after them."""

    class_nodes = []

    @classmethod
    def setUpClass(cls):
        cls.class_workdir = tempfile.mkdtemp(prefix="quilt-it-")
        cls.class_nodes = []
        cls.addClassCleanup(cls._class_cleanup)

    @classmethod
    def class_node(cls, name, **kw):
        n = Node(cls.class_workdir, name, **kw)
        cls.class_nodes.append(n)
        return n

    @classmethod
    def _class_cleanup(cls):
        stop_all(cls.class_nodes)
        shutil.rmtree(cls.class_workdir, ignore_errors=True)

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="quilt-it-")
        self.nodes = []
        self.addCleanup(self._cleanup)

    def node(self, name, **kw):
        n = Node(self.workdir, name, **kw)
        self.nodes.append(n)
        return n

    def _failed(self):
        """Whether this test (or one of its subtests) failed so far."""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return False
        for test, _ in (list(getattr(result, "failures", []))
                        + list(getattr(result, "errors", []))):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return False

    def _cleanup(self):
        failed = self._failed()
        if failed or os.environ.get("QUILT_TEST_VERBOSE"):
            for n in self.class_nodes:
                sys.stderr.write("\n" + n.tail(80) + "\n")
        stop_all(self.nodes)
        for n in self.nodes:
            if failed or os.environ.get("QUILT_TEST_VERBOSE"):
                sys.stderr.write("\n" + n.tail(80) + "\n")
        shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    unittest.main(verbosity=2)
