#!/usr/bin/python3
"""Soak (issue 8, item 5: faults survived): a mesh of 20 quiltd processes on
loopback tcp, a random connected graph of degree about 3.5, through rounds
of random faults: kill -9 and restart from the same config, SIGSTOP and
SIGCONT, sometimes two nodes at once, sometimes healed before anyone could
notice. Checked all along (SPEC sections 5, 6 and 8):

- during a fault, every live node's routes to a faulted node, and routes
  through one, are gone within dead_after_ms + 2 x heartbeat_ms (a stopped
  node, whose connections stay open, like a killed one), and every live
  node's table is the shortest paths of the graph that is left;
- after each heal, every node's table is the full graph's shortest paths
  within the reconnect back-off (5 s) + 5 s, and every live pair answers a
  ping;
- every message — broadcasts and unicasts sent just before a fault, at its
  moment, while it lasts (background traffic), and after the heal — is
  delivered at most once to each node over the whole run (a node's
  restarts included), never to its origin, a unicast only to its
  destination; and exactly once to every node its origin could reach once
  routes were back (SPEC 5.3);
- the counters (`quilt-console stats`) only grow within one run of
  a node, `dropped_invalid` and `name_conflicts` stay 0, and in a frozen
  mesh each node's `rx` is accounted for by the outcomes (see
  check_accounting below).

Two modes, one program:

    test_soak.py                    short (ctest integration.soak, 15-30 s)
    QUILT_SOAK=long test_soak.py    long (ctest soak.long, label slow):
                                    rounds for QUILT_SOAK_MINUTES (default 6)

QUILT_SOAK_SEED=N replays a run's choices (graph, victims, kinds of fault,
hold times, senders); the seed is printed at the start and in every failure.
QUILT_SOAK_ROUNDS=N overrides the number of rounds, QUILT_SOAK_TOLERANCE
the scheduling slack added to SPEC's bounds (seconds, default 0.5), and
QUILT_TEST_VERBOSE=1 prints each round's timings, and QUILT_SOAK_KEEP=1 keeps
the nodes' logs (the folder is printed at the end).
"""

import atexit
import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_harness import ConsoleNode, ConsolePrompt, console  # noqa: E402
from quilt_harness import free_port, shortest_routes, route_mismatch  # noqa: E402

MODE = os.environ.get("QUILT_SOAK", "short")
if MODE not in ("short", "long"):
    raise SystemExit("QUILT_SOAK must be short or long, not %r" % MODE)
LONG = MODE == "long"

NODES = 20
DEGREE = 3.5          # links per node on average: 35 links for 20 nodes
MAX_DEGREE = 5
HEARTBEAT_MS = 100
DEAD_AFTER_MS = 500
TOLERANCE_S = float(os.environ.get("QUILT_SOAK_TOLERANCE", "0.5"))
# SPEC 6: routes to a dead node, and a dead neighbour's routes, are gone
# from every node within dead_after_ms + 2 x heartbeat_ms ...
WITHDRAW_S = (DEAD_AFTER_MS + 2 * HEARTBEAT_MS) / 1000.0
# ... a restarted node is routed to again within its peers' reconnect
# back-off (at most 5 s) plus 5 s ...
HEAL_S = 5.0 + 5.0
# ... and a mesh of up to 50 nodes has full routes within 5 s of its last
# node's listen port accepting connections.
CONVERGE_S = 5.0
# How long a broadcast may take to reach every node (it takes milliseconds).
BROADCAST_S = 3.0
# Background traffic while a fault lasts: one message every CHATTER_S.
CHATTER_S = 0.05
# A fault healed this fast is over before anyone can notice it.
SHORT_HOLD_S = (0.05, 0.3)

if LONG:
    MINUTES = float(os.environ.get("QUILT_SOAK_MINUTES", "6"))
    ROUNDS = int(os.environ.get("QUILT_SOAK_ROUNDS", "100000"))
    FREEZE_EVERY = 8  # rounds between accounting checks of a frozen mesh
else:
    MINUTES = None
    ROUNDS = int(os.environ.get("QUILT_SOAK_ROUNDS", "10"))
    FREEZE_EVERY = None  # once, at the end


MSG_LOG = r"\] msg from \S+ to \S+: soak-"
MSG_LOG_RE = re.compile(r"\] msg from (\S+) to (\S+): (soak-\S+)$")
STATS_KEYS = ("rx", "tx", "forwarded", "delivered", "dropped_invalid",
              "dropped_duplicate", "dropped_loop", "dropped_ttl",
              "dropped_unroutable", "dropped_queue_full", "dropped_overload",
              "name_conflicts")
OUTCOMES = ("delivered", "dropped_invalid", "dropped_overload",
            "dropped_loop", "dropped_duplicate", "dropped_ttl",
            "dropped_spoofed")


def verbose(text):
    if os.environ.get("QUILT_TEST_VERBOSE"):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


# -- the mesh ---------------------------------------------------------------


def random_mesh(rng, n, degree, max_degree):
    """n names and a random connected graph on them with about n x degree
    / 2 links, no node above max_degree: a random spanning tree, then
    random extra links. Links are (a, b) with a < b."""
    names = ["s%02d" % i for i in range(n)]
    order = names[:]
    rng.shuffle(order)
    links = set()
    deg = dict.fromkeys(names, 0)

    def add(a, b):
        links.add((min(a, b), max(a, b)))
        deg[a] += 1
        deg[b] += 1

    for i in range(1, n):
        choices = [x for x in order[:i] if deg[x] < max_degree]
        add(order[i], rng.choice(choices))
    target = int(round(n * degree / 2))
    for _ in range(100000):
        if len(links) >= target:
            break
        a, b = rng.sample(names, 2)
        if ((min(a, b), max(a, b)) not in links and deg[a] < max_degree
                and deg[b] < max_degree):
            add(a, b)
    return names, sorted(links)


def components(names, links):
    """{name: frozenset of the names in its connected component}."""
    adj = {x: set() for x in names}
    for a, b in links:
        adj[a].add(b)
        adj[b].add(a)
    comp = {}
    for x in names:
        if x in comp:
            continue
        seen, todo = {x}, [x]
        while todo:
            u = todo.pop()
            for v in adj[u] - seen:
                seen.add(v)
                todo.append(v)
        for y in seen:
            comp[y] = frozenset(seen)
    return comp


def colouring(names, links):
    """Classes of names no two of which are linked (greedy colouring)."""
    adj = {x: set() for x in names}
    for a, b in links:
        adj[a].add(b)
        adj[b].add(a)
    colour = {}
    for x in sorted(names, key=lambda y: -len(adj[y])):
        used = {colour[y] for y in adj[x] if y in colour}
        colour[x] = next(c for c in range(len(names)) if c not in used)
    classes = {}
    for x, c in colour.items():
        classes.setdefault(c, []).append(x)
    return [sorted(v) for _, v in sorted(classes.items())]


class SoakNode(ConsoleNode):
    """A quiltd (no line interface) with its console open and one
    interactive `quilt-console --json` attached to it for each run: a
    command costs a round trip, not a process. What it logged about
    received messages in its earlier runs is kept."""

    def __init__(self, *a, **kw):
        self.past_msgs = []  # "msg from" log lines of earlier runs
        self.past_logs = []  # every line of earlier runs, with QUILT_SOAK_KEEP
        self.incarnation = 0
        self.stopped = False
        self.last_stats = None  # (incarnation, stats) of the last read
        self.prompt = None
        self.ask_lock = threading.Lock()
        super().__init__(*a, **kw)

    def start(self, **kw):
        if self.incarnation > 0:
            self.past_msgs += [(self.incarnation, l.raw)
                               for l in self.find_logs(MSG_LOG)]
            if os.environ.get("QUILT_SOAK_KEEP"):
                self.past_logs += self.all_logs()
        self.close_prompt()
        self.incarnation += 1
        self.stopped = False
        self.last_stats = None
        super().start(pty=False, **kw)
        self.prompt = ConsolePrompt(self.console_port, extra=("--json",))
        self.prompt.expect(r"quilt> ", timeout=10)
        return self

    def all_logs(self):
        """This run's log lines, each marked with the run."""
        return ["run %d: %s" % (self.incarnation, l.raw)
                for l in self.find_logs("")]

    def ask(self, line, timeout=15):
        """One console command; its JSON answer (a failure's is a dict with
        "error")."""
        with self.ask_lock:
            out = self.prompt.command(line, timeout=timeout)
        for text in reversed(out.splitlines()):
            text = text.strip()
            if text.startswith("{") or text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    break
        raise AssertionError("%s: console %r answered no JSON: %r"
                             % (self.name, line, out))

    def routes(self):
        """{destination: (next_hop, hops)}, as quilt_harness.Node.routes."""
        doc = self.ask("routes")
        if not isinstance(doc, list):
            raise AssertionError("%s: routes failed: %r" % (self.name, doc))
        return {r["destination"]: (r["next_hop"], r["hops"]) for r in doc}

    def stats(self):
        doc = self.ask("stats")
        if "rx" not in doc:
            raise AssertionError("%s: stats failed: %r" % (self.name, doc))
        return doc

    def ping(self, target):
        """The console's answer to one ping (2 s to reply)."""
        return self.ask("ping %s" % target)

    def pause(self):
        self.stopped = True
        return super().pause()

    def resume(self):
        self.stopped = False
        return super().resume()

    def kill9(self):
        t = super().kill9()  # SIGKILL ends a stopped process too
        self.stopped = False
        self.close_prompt()
        return t

    def running(self):
        return self.alive() and not self.stopped

    def messages(self):
        """[(origin, to, text)] of every soak message this node logged as
        received, over all its runs (log lines are written whole)."""
        return [key for _, key in self.messages_by_run()]

    def messages_by_run(self):
        """[(run, (origin, to, text))]: messages() with the run of each."""
        lines = self.past_msgs + [(self.incarnation, l.raw)
                                  for l in self.find_logs(MSG_LOG)]
        result = []
        for run, line in lines:
            m = MSG_LOG_RE.search(line)
            if m:
                result.append((run, m.groups()))
        return result

    def close_prompt(self):
        if self.prompt is not None:
            self.prompt.close()
            self.prompt = None

    def force_stop(self):
        """SIGCONT (a stopped process must not linger), then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
        self.stopped = False
        self.close_prompt()
        self.stop(signal.SIGKILL)


_all_nodes = []


def _continue_all():
    # Runs before quilt_harness's atexit SIGKILL (atexit is last in, first
    # out): no quiltd is left stopped, whatever way this process ends.
    for n in _all_nodes:
        if n.proc is not None and n.proc.poll() is None:
            try:
                os.kill(n.proc.pid, signal.SIGCONT)
            except OSError:
                pass


atexit.register(_continue_all)


def _terminate(signum, frame):
    raise SystemExit("soak: ended by signal %d" % signum)


class Chatter(threading.Thread):
    """Background traffic while a fault lasts: every CHATTER_S, a
    broadcast or a unicast `msg` from a random running node that is not a
    victim (their consoles are the main thread's) to all or to a random
    node. Only at most once is asked of these; they load the mesh while
    trees and routes change, and put copies in flight and in queues at the
    moment a node dies, stops or comes back."""

    def __init__(self, soak, victims, seed):
        super().__init__(daemon=True)
        self.soak, self.victims = soak, set(victims)
        self.rng = random.Random(seed)  # not the main one: timing decides
        self.done = threading.Event()
        self.error = None
        self.count = 0

    def run(self):
        try:
            while not self.done.wait(CHATTER_S):
                senders = [x for x in self.soak.live() if x not in self.victims]
                if not senders:
                    continue
                origin = self.rng.choice(senders)
                if self.rng.random() < 0.5:
                    dest = "all"
                else:
                    dest = self.rng.choice([x for x in self.soak.names
                                            if x != origin])
                if self.soak.send(origin, dest, "chatter", None, quiet=True):
                    self.count += 1
        except BaseException as e:  # reported by stop()
            self.error = e

    def stop(self):
        self.done.set()
        self.join(timeout=30)
        if self.is_alive():
            raise AssertionError("the chatter thread hangs")
        if self.error is not None:
            raise self.error


# -- the test -----------------------------------------------------------------


class SoakTest(unittest.TestCase):
    def setUp(self):
        seed = os.environ.get("QUILT_SOAK_SEED")
        self.seed = int(seed) if seed else random.SystemRandom().randrange(2**32)
        sys.stderr.write("\nsoak: %s mode, seed %d (replay with "
                         "QUILT_SOAK_SEED=%d)\n" % (MODE, self.seed, self.seed))
        sys.stderr.flush()
        self.rng = random.Random(self.seed)
        self.round = None
        self.faults = []      # [(round, [(name, kind)], hold)] so far
        self.msgs = {}        # text -> dict(origin, to, round, phase, must)
        self.lock = threading.Lock()  # msgs, sent: the chatter sends too
        self.chatter = None
        self.sent = 0
        self.workdir = tempfile.mkdtemp(prefix="quilt-soak-")
        self.nodes = {}
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=NODES)
        self.addCleanup(self.cleanup)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _terminate)

    def cleanup(self):
        if self.chatter is not None:
            self.chatter.done.set()
            self.chatter.join(timeout=30)
        for n in self.nodes.values():
            try:
                n.force_stop()
            except Exception as e:  # pragma: no cover
                sys.stderr.write("soak: stopping %s: %s\n" % (n.name, e))
        self.pool.shutdown(wait=True)
        if os.environ.get("QUILT_SOAK_KEEP"):
            for n in self.nodes.values():
                with open(os.path.join(self.workdir, n.name + ".log"), "w") as f:
                    f.write("\n".join(n.past_logs + n.all_logs()) + "\n")
            sys.stderr.write("soak: logs kept in %s\n" % self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- reporting ------------------------------------------------------------

    def where(self):
        last = self.faults[-3:]
        return ("seed %d (QUILT_SOAK_SEED=%d), %s mode, round %s; faults "
                "(round, [(node, kind)], hold s) so far, last 3: %s"
                % (self.seed, self.seed, MODE, self.round, last))

    def fail_with(self, what, names=()):
        """Fails the test with `what`, where in the run it happened, and
        the stats and log tails of the nodes named."""
        parts = ["soak failure: %s" % what, self.where()]
        for name in names:
            n = self.nodes[name]
            state = ("stopped" if n.stopped else "running" if n.alive()
                     else "dead")
            stats = "-"
            if n.running():
                try:
                    stats = n.stats()
                except AssertionError as e:
                    stats = "(no answer: %s)" % str(e).splitlines()[0]
            parts.append("%s (%s, run %d): stats %s" % (name, state,
                                                         n.incarnation, stats))
            parts.append(n.tail(30))
        self.fail("\n".join(parts))

    def parallel(self, fn, nodes):
        """{node name: fn(node)}, one thread per node; an exception in one
        is raised here."""
        futures = {n.name: self.pool.submit(fn, n) for n in nodes}
        return {name: f.result() for name, f in futures.items()}

    # -- state of the mesh ----------------------------------------------------

    def live(self):
        """Names of nodes running now (neither killed nor stopped)."""
        return [x for x in self.names if self.nodes[x].running()]

    def live_links(self):
        up = set(self.live())
        return [(a, b) for a, b in self.links if a in up and b in up]

    def wait_tables(self, names, links, timeout):
        """Polls /routes of `names` (a thread per node) until every table
        fits the shortest paths of `links` at once. Returns (the
        time.monotonic() when the last node's table first fitted, None) or
        (None, what was still wrong at the deadline)."""
        expected = {x: shortest_routes(links, x) for x in names}
        start = time.monotonic()
        deadline = start + timeout

        def first_fit(n):
            while True:
                why = route_mismatch(n.routes(), expected[n.name])
                now = time.monotonic()
                if why is None:
                    return now, None
                if now > deadline:
                    return None, why
                time.sleep(0.03)

        while True:
            got = self.parallel(first_fit, [self.nodes[x] for x in names])
            wrong = ["%s: %s" % (x, why) for x, (t, why) in sorted(got.items())
                     if t is None]
            if wrong:
                return None, "\n".join(wrong)
            # All at once: one more look at every table.
            again = self.parallel(
                lambda n: route_mismatch(n.routes(), expected[n.name]),
                [self.nodes[x] for x in names])
            if all(v is None for v in again.values()):
                return max(t for t, _ in got.values()), None
            if time.monotonic() > deadline:
                return None, "\n".join("%s: %s" % (x, why) for x, why
                                       in sorted(again.items()) if why)

    def wait_withdrawn(self, names, victims, timeout):
        """Polls /routes of `names` until none has a route to a victim.
        Returns (the time.monotonic() when the last one had none, None) or
        (None, the routes left at the deadline)."""
        start = time.monotonic()
        deadline = start + timeout

        def gone(n):
            while True:
                left = {d: r for d, r in n.routes().items() if d in victims}
                now = time.monotonic()
                if not left:
                    return now, None
                if now > deadline:
                    return None, left
                time.sleep(0.03)

        got = self.parallel(gone, [self.nodes[x] for x in names])
        wrong = ["%s still routes %s" % (x, left)
                 for x, (t, left) in sorted(got.items()) if t is None]
        if wrong:
            return None, "\n".join(wrong)
        return max(t for t, _ in got.values()), None

    # -- checks ---------------------------------------------------------------

    def check_pings(self, names, links, sample=None):
        """Every node of `names` pings every other one in its component of
        `links` (or `sample` of them, picked at random): each must answer.
        Returns the number of pings."""
        comp = components(names, links)
        targets = {}
        for x in names:
            others = sorted(comp[x] - {x})
            if sample is not None:
                others = self.rng.sample(others, min(sample, len(others)))
            targets[x] = others

        def ping_all(n):
            bad = []
            for dst in targets[n.name]:
                answer = n.ping(dst)
                if answer.get("received") != 1:
                    bad.append((n.name, dst, answer))
            return bad

        got = self.parallel(ping_all, [self.nodes[x] for x in names])
        bad = [b for v in got.values() for b in v]
        if bad:
            self.fail_with("%d live pairs did not answer a ping, e.g. %s -> "
                           "%s: %r; all: %s" % (len(bad), bad[0][0], bad[0][1],
                                                bad[0][2], bad),
                           sorted({bad[0][0], bad[0][1]}))
        return sum(len(v) for v in targets.values())

    def send(self, origin, dest, phase, must, quiet=False):
        """Sends a `msg` from `origin` to `dest` (a node or all) through its
        console; `must` is the set of nodes that have to get it exactly
        once (None: at most once is all that is asked). Returns its text,
        or None when the node refused it (only allowed with `quiet`, for a
        destination it cannot reach)."""
        with self.lock:
            self.sent += 1
            text = "soak-%d-r%s-%d-%s" % (self.seed,
                                          re.sub(r"\W+", "_", str(self.round)),
                                          self.sent, phase)
            # Recorded before it is sent: it may arrive before the answer.
            self.msgs[text] = dict(origin=origin, to=dest, round=self.round,
                                   phase=phase, must=None if must is None
                                   else frozenset(must) - {origin})
        doc = self.nodes[origin].ask("send %s %s" % (dest, text))
        if doc.get("accepted") is not True:
            if quiet and doc.get("error") == "unreachable":
                return None
            self.fail_with("%s did not send %r to %s: %r"
                           % (origin, text, dest, doc), [origin])
        return text

    def broadcast(self, origin, phase, must):
        return self.send(origin, "all", phase, must)

    def deliveries(self):
        """{node: [(origin, to, text)]} over every run of every node."""
        return {x: self.nodes[x].messages() for x in self.names}

    def check_broadcasts(self, texts, timeout=BROADCAST_S):
        """Waits until each of `texts` (broadcasts or not) reached every
        node that must have it, then checks every message so far
        (check_at_most_once)."""
        deadline = time.monotonic() + timeout
        while True:
            missing = []
            got = self.deliveries()
            for text in texts:
                info = self.msgs[text]
                for x in sorted(info["must"] or ()):
                    if (info["origin"], info["to"], text) not in got[x]:
                        missing.append((x, text))
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.check_at_most_once()
        if missing:
            x, text = missing[0]
            self.fail_with("%d deliveries missing after %.1f s, e.g. %s never "
                           "got %r (from %s to %s); all: %s"
                           % (len(missing), timeout, x, text,
                              self.msgs[text]["origin"], self.msgs[text]["to"],
                              missing),
                           [x, self.msgs[text]["origin"]])

    def check_at_most_once(self):
        """Every message so far was delivered at most once to each run of
        each node, never to its origin, and a unicast only to its
        destination; a unicast at most once over all the runs of a node.
        A broadcast may reach a node's next run once more: a neighbour that
        was stopped when the node restarted can resume with a copy owed to
        its former self before it sees the connection change (SPEC §14
        promises exactly once to nodes that stay reachable; issue 17's note
        has the race)."""
        # Deliveries first, then what was sent: a chatter message delivered
        # meanwhile is then known.
        by_run = {x: self.nodes[x].messages_by_run() for x in self.names}
        with self.lock:
            msgs = dict(self.msgs)
        for x in self.names:
            per_run = {}
            for run, key in by_run[x]:
                per_run[(run, key)] = per_run.get((run, key), 0) + 1
            seen = {}
            for (run, key), count in per_run.items():
                if key[1] == "all":
                    seen[key] = max(seen.get(key, 0), count)
                else:
                    seen[key] = seen.get(key, 0) + count
            for (origin, to, text), count in sorted(seen.items()):
                info = msgs.get(text)
                if info is None or (info["origin"], info["to"]) != (origin, to):
                    self.fail_with("%s logged a message nobody sent: %s -> %s: "
                                   "%s" % (x, origin, to, text), [x])
                if count > 1:
                    self.fail_with("%s got %r (from %s to %s, round %s, %s) %d "
                                   "times (its runs: %d)"
                                   % (x, text, origin, to, info["round"],
                                      info["phase"], count,
                                      self.nodes[x].incarnation), [x, origin])
                if origin == x:
                    self.fail_with("%s got its own message %r" % (x, text),
                                   [x])
                if to != "all" and to != x:
                    self.fail_with("%s got %r, a message for %s"
                                   % (x, text, to), [x, to])

    def read_stats(self, names):
        """stats of each node; checks that no counter went down since the
        last read in the same run of the node, that nothing invalid was
        received and no name conflicted, and that no outcome is counted
        for more messages than were received."""
        got = self.parallel(lambda n: n.stats(), [self.nodes[x] for x in names])
        for x, s in sorted(got.items()):
            n = self.nodes[x]
            # (More keys are allowed: SPEC 10 adds rejected_auth/_dial.)
            if not set(STATS_KEYS) <= set(s):
                self.fail_with("%s: stats lack SPEC 8's keys %s: %s"
                               % (x, sorted(set(STATS_KEYS) - set(s)), s), [x])
            if n.last_stats and n.last_stats[0] == n.incarnation:
                down = {k: (v, s.get(k)) for k, v in n.last_stats[1].items()
                        if s.get(k, v) < v}
                if down:
                    self.fail_with("%s: counters went down within one run "
                                   "(before, now): %s" % (x, down), [x])
            n.last_stats = (n.incarnation, s)
            if s["dropped_invalid"] or s["name_conflicts"]:
                self.fail_with("%s: dropped_invalid %d, name_conflicts %d in "
                               "a mesh of well-behaved quiltd (names unique, "
                               "restarts from the same config)"
                               % (x, s["dropped_invalid"], s["name_conflicts"]),
                               [x])
            # rx is counted when a message arrives, its outcome later: with
            # messages in flight rx can only be ahead.
            certain = sum(s[k] for k in OUTCOMES)
            if certain > s["rx"]:
                self.fail_with("%s: more outcomes than messages received: "
                               "%s = %d > rx %d" % (x, " + ".join(OUTCOMES),
                                                    certain, s["rx"]), [x])
        return got

    def check_accounting(self, x, s):
        """The identity between a frozen node's received messages and their
        outcomes. Every message a node receives has exactly one primary
        outcome:

          dropped_overload    refused at the door (protocol backlog full)
          dropped_invalid     failed validation (SPEC 3, 5.1)
          dropped_loop        its origin is this node
          dropped_duplicate   a broadcast or link_state seen before (or our
                              own advertisement come back)
          delivered           handled here as destination: a message to
                              this node, a new broadcast, a new link_state,
                              a server_connect
          forwarded           a unicast relayed to its next hop that the
                              link kept
          dropped_queue_full  a unicast relayed to a link with no room
          dropped_ttl         a unicast whose ttl ran out here
          dropped_unroutable  a unicast with no route from here

        But `forwarded` counts copies sent onward (SPEC 8), so a broadcast
        or link_state counts as delivered and once more per copy a link
        kept; `dropped_queue_full` also counts the node's own messages
        (heartbeats, copies of its broadcasts) that found no room, and
        `dropped_unroutable` its own messages with no route (docs/
        PROTOCOL.md, Counters). So the identity is two bounds:

          rx >= the first six (each counts received messages, once)
          rx <= all nine      (no received message goes uncounted)

        and equality where a node relays only unicasts and drops none of
        its own (test_flood checks that case). Returns a description of
        where a node is not exact, for the verbose report, or None."""
        certain = sum(s[k] for k in OUTCOMES)
        total = (certain + s["forwarded"] + s["dropped_unroutable"]
                 + s["dropped_queue_full"])
        if certain > s["rx"]:
            self.fail_with("%s (frozen): received messages counted twice: "
                           "%s = %d > rx %d; stats %s"
                           % (x, " + ".join(OUTCOMES), certain, s["rx"], s),
                           [x])
        if s["rx"] > total:
            self.fail_with("%s (frozen): %d received messages have no "
                           "outcome: rx %d > %s + forwarded + "
                           "dropped_unroutable + dropped_queue_full = %d; "
                           "stats %s"
                           % (x, s["rx"] - total, s["rx"], " + ".join(OUTCOMES),
                              total, s), [x])
        if s["rx"] != total:
            return ("%s: rx %d, outcomes %d (excess %d; forwarded %d, "
                    "dropped_unroutable %d, rx - first six = %d)"
                    % (x, s["rx"], total, total - s["rx"], s["forwarded"],
                       s["dropped_unroutable"], s["rx"] - certain))
        return None

    def settled_stats(self, n, timeout=5.0):
        """Stats of a node that receives nothing any more: read until rx and
        the outcomes stay the same for 0.3 s."""
        deadline = time.monotonic() + timeout
        last = n.stats()
        while True:
            time.sleep(0.3)
            s = n.stats()
            if s["rx"] == last["rx"] and all(s[k] == last[k] for k in OUTCOMES):
                return s
            if time.monotonic() > deadline:
                self.fail_with("%s kept receiving with every neighbour "
                               "stopped: %s then %s" % (n.name, last, s),
                               [n.name])
            last = s

    def freeze_and_account(self):
        """Stops every node, then lets one independent set (no two linked)
        at a time run: such a node only takes in what its neighbours had
        sent before they stopped, and then nothing; its counters are then
        final and must add up (check_accounting). Then every node runs
        again."""
        t0 = time.monotonic()
        for x in self.names:
            self.nodes[x].pause()
        violations = []
        for cls in colouring(self.names, self.links):
            group = [self.nodes[x] for x in cls]
            for n in group:
                n.resume()
            got = self.parallel(self.settled_stats, group)
            for x in cls:
                s = got[x]
                why = self.check_accounting(x, s)
                if why:
                    violations.append(why)
            for n in group:
                n.pause()
        for x in self.names:
            self.nodes[x].resume()
        verbose("soak: frozen mesh accounted for in %.1f s"
                % (time.monotonic() - t0))
        # Not exact (copies, own messages): expected; the bounds held.
        verbose("soak: frozen mesh, not exact on %d of %d nodes:\n    %s"
                % (len(violations), NODES, "\n    ".join(violations)))

    # -- phases ---------------------------------------------------------------

    def start_mesh(self):
        self.names, self.links = random_mesh(self.rng, NODES, DEGREE,
                                             MAX_DEGREE)
        sys.stderr.write("soak: %d nodes, %d links: %s\n"
                         % (len(self.names), len(self.links),
                            " ".join("%s-%s" % l for l in self.links)))
        ports = {x: free_port() for x in self.names}
        for x in self.names:
            # Each link is dialled by its first end; the other end learns of
            # it from the dialler's server_connect (also after a restart).
            dials = [ports[b] for a, b in self.links if a == x]
            n = SoakNode(self.workdir, x, port=ports[x], peers=dials,
                         heartbeat_ms=HEARTBEAT_MS,
                         dead_after_ms=DEAD_AFTER_MS)
            self.nodes[x] = n
            _all_nodes.append(n)
        self.parallel(lambda n: n.start(), self.nodes.values())
        t0 = time.monotonic()
        at, wrong = self.wait_tables(self.names, self.links,
                                     CONVERGE_S + TOLERANCE_S + 10)
        if at is None:
            self.fail_with("the mesh never converged:\n%s" % wrong)
        took = at - t0
        verbose("soak: converged %.2f s after the last start" % took)
        self.assertLessEqual(took, CONVERGE_S + TOLERANCE_S,
                             "converged only after %.2f s; %s"
                             % (took, self.where()))

    def plan(self, r):
        """The faults of round r: ([(victim, kind)], hold) where kind is
        kill, stop or stop_kill (stopped, then killed while stopped) and
        hold None means long enough to be noticed."""
        if not LONG and r < 5:
            # The short run covers each kind once: a kill, a stop, both at
            # once, then a kill and a stop healed before anyone noticed.
            kinds = [["kill"], ["stop"], ["kill", "stop"], ["kill"],
                     ["stop"]][r]
            quick = r >= 3
        else:
            k = 2 if self.rng.random() < 0.3 else 1
            kinds = [self.rng.choice(["kill", "kill", "stop", "stop",
                                      "stop_kill"] if LONG else
                                     ["kill", "stop"]) for _ in range(k)]
            quick = self.rng.random() < 0.2
            if quick:  # no time to be killed while stopped
                kinds = ["stop" if k == "stop_kill" else k for k in kinds]
        victims = self.rng.sample(self.names, len(kinds))
        hold = self.rng.uniform(*SHORT_HOLD_S) if quick else None
        return list(zip(victims, kinds)), hold

    def fault_round(self, r):
        self.round = r
        faults, hold = self.plan(r)
        self.faults.append((r, faults, None if hold is None
                            else round(hold, 3)))
        victims = {x for x, _ in faults}
        verbose("soak: round %d: %s%s" % (r, faults, "" if hold is None
                                          else ", healed after %.2f s" % hold))
        bystanders = [x for x in self.names if x not in victims]
        chatter = Chatter(self, victims, self.rng.randrange(2**32))
        self.chatter = chatter
        chatter.start()
        # A broadcast just before the fault: copies are on their way to and
        # through the victims as they go (a restarted victim must not get
        # one its former self had).
        texts = [self.broadcast(self.rng.choice(bystanders), "before", None)]
        t0 = time.monotonic()
        for x, kind in faults:
            n = self.nodes[x]
            if kind == "kill":
                n.kill9()
            else:
                n.pause()
        # A broadcast at the moment of the fault: trees through the victims
        # are broken until they are noticed, so at most once is all.
        texts.append(self.broadcast(self.rng.choice(bystanders), "fault", None))
        if hold is not None:
            time.sleep(max(0.0, hold - (time.monotonic() - t0)))
        else:
            live, links = self.live(), self.live_links()
            at, wrong = self.wait_withdrawn(live, victims,
                                            WITHDRAW_S + TOLERANCE_S + 5)
            if at is None:
                self.fail_with("routes to faulted nodes never withdrawn:\n%s"
                               % wrong, sorted(victims))
            if at - t0 > WITHDRAW_S + TOLERANCE_S:
                self.fail_with("routes to faulted nodes withdrawn only %.2f s "
                               "after the fault (SPEC 6: %.1f s + %.1f s slack)"
                               % (at - t0, WITHDRAW_S, TOLERANCE_S),
                               sorted(victims))
            withdrawn = at - t0
            at, wrong = self.wait_tables(live, links,
                                         WITHDRAW_S + TOLERANCE_S + 5)
            if at is None:
                self.fail_with("the live mesh never re-routed around %s:\n%s"
                               % (sorted(victims), wrong), sorted(victims))
            if at - t0 > WITHDRAW_S + TOLERANCE_S:
                self.fail_with("re-routed around %s only %.2f s after the "
                               "fault (SPEC 6: %.1f s + %.1f s slack)"
                               % (sorted(victims), at - t0, WITHDRAW_S,
                                  TOLERANCE_S), sorted(victims))
            elapsed = at - t0
            verbose("soak:   routes to victims gone after %.2f s, shortest "
                    "paths around them after %.2f s" % (withdrawn, elapsed))
            # Traffic takes the new routes: each live node pings one other
            # node of its part of the mesh.
            comp = components(live, links)
            self.check_pings(live, links, sample=1)
            # Routes are the shortest paths of what is left: a broadcast
            # (flooded while routes change, along the origin's tree once
            # they have settled) reaches the origin's part exactly once.
            origin = self.rng.choice(live)
            texts.append(self.broadcast(origin, "during", comp[origin]))
            self.check_broadcasts(texts)
            # A victim stopped a while may be killed while stopped.
            for x, kind in faults:
                if kind == "stop_kill":
                    time.sleep(self.rng.uniform(0, 0.5))
                    self.nodes[x].kill9()  # SIGKILL ends a stopped process
                    self.nodes[x].stopped = False
            time.sleep(self.rng.uniform(0.2, 1.5 if LONG else 0.5))
        self.heal(faults, texts)

    def heal(self, faults, texts):
        t0 = time.monotonic()
        for x, kind in faults:
            n = self.nodes[x]
            if n.alive():
                n.resume()
            else:
                n.start()
        at, wrong = self.wait_tables(self.names, self.links,
                                     HEAL_S + TOLERANCE_S + 5)
        chatter, self.chatter = self.chatter, None
        if chatter is not None:
            chatter.stop()
            verbose("soak:   %d messages of background traffic"
                    % chatter.count)
        if at is None:
            self.fail_with("the mesh never healed after %s:\n%s"
                           % (faults, wrong), [x for x, _ in faults])
        elapsed = at - t0
        if elapsed > HEAL_S + TOLERANCE_S:
            self.fail_with("healed only %.2f s after %s came back (SPEC 6: "
                           "%.1f s + %.1f s slack)" % (elapsed, faults, HEAL_S,
                                                       TOLERANCE_S),
                           [x for x, _ in faults])
        pings = self.check_pings(self.names, self.links)
        # Two broadcasts after the heal, one from a node that was faulted.
        a, b = self.rng.sample(self.names, 2)
        texts = texts + [
            self.send(a, b, "healed", [b]),
            self.broadcast(self.rng.choice(self.names), "healed", self.names),
            self.broadcast(self.rng.choice([x for x, _ in faults]
                                           or self.names), "healed",
                           self.names)]
        self.check_broadcasts(texts)
        self.read_stats(self.names)
        verbose("soak:   healed after %.2f s; %d pings, %d messages so far, "
                "round took %.1f s" % (elapsed, pings, len(self.msgs),
                                       time.monotonic() - t0))

    def test_soak(self):
        t_start = time.monotonic()
        self.start_mesh()
        self.read_stats(self.names)
        end = t_start + MINUTES * 60 if LONG else None
        r = 0
        while r < ROUNDS and (end is None or time.monotonic() < end):
            self.fault_round(r)
            r += 1
            if FREEZE_EVERY and r % FREEZE_EVERY == 0:
                self.round = "%d (frozen mesh)" % r
                self.freeze_and_account()
                self.heal([], [])
        self.round = "end (frozen mesh)"
        self.freeze_and_account()
        self.heal([], [])
        self.check_at_most_once()
        # The inbox (SPEC 8, at least 1,000 kept), asked for by a console
        # of its own, agrees with what each node logged in its current run.
        inboxes = self.parallel(lambda n: console(n, "inbox", "1000"),
                                self.nodes.values())
        for x, res in sorted(inboxes.items()):
            if res.rc != 0:
                self.fail_with("quilt-console inbox failed: %r" % res, [x])
            # Both in arrival order; the inbox keeps the last 1,000.
            inbox = [(e["from"], e["to"], e["text"]) for e in res.doc]
            logged = [m.groups() for m in
                      map(MSG_LOG_RE.search,
                          [l.raw for l in self.nodes[x].find_logs(MSG_LOG)])
                      if m][-1000:]
            if inbox != logged:
                self.fail_with("%s: the inbox (%d) is not the messages it "
                               "logged (%d): only in the inbox %s, only "
                               "logged %s"
                               % (x, len(inbox), len(logged),
                                  sorted(set(inbox) - set(logged))[:5],
                                  sorted(set(logged) - set(inbox))[:5]), [x])
        sys.stderr.write("soak: seed %d: %d rounds, %d faults, %d messages "
                         "in %.1f s\n" % (self.seed, r, sum(len(f[1]) for f
                                                            in self.faults),
                                          len(self.msgs),
                                          time.monotonic() - t_start))


if __name__ == "__main__":
    unittest.main(verbosity=2)
