#!/usr/bin/python3
"""Several hosts (issue 8, item 7): quiltd nodes in separate network
namespaces, each bound to its own address and advertising it, link, route
and broadcast across "hosts"; one host's interface goes down (a partition)
and comes back (the mesh heals), within SPEC section 6's bounds; once with
plain links, once with CURVE (SPEC section 10: keys from quiltd --keygen,
one authorized_keys file listing every host). Neither ever trips the dial
policy (rejected_dial stays 0).

Needs root and `ip netns` (iproute2); without them it skips, saying why
(QUILT_REQUIRE_NETNS=1 turns the skip into a failure). CI runs as root.
The partition lasts HOLD_S (5 s: long enough for TCP's retransmission
timer to back off a few times, so healing is not just the next retransmit);
QUILT_MH_HOLD_S=S makes it S seconds, to see how healing depends on the
partition's length.

The lab, all of it inside namespaces of its own (named after this process's
pid, so parallel runs never meet; nothing is added to the root namespace's
interfaces, addresses or routes):

    quilt-mh<pid>-br   a bridge br0 with one veth leg per host (leg0..leg4)
    quilt-mh<pid>-h<i> eth0 = the other end of leg<i>, 10.213.7.<i+1>/24,
                       and lo (up, for nothing but tidiness)

So every host has exactly one interface and one address, as a machine on a
LAN: its connections come from the address it advertises, which is what
the dial policy of SPEC section 10 accepts without any `dial_allow`.

Quilt's topology is a ring h0-h1-h2-h3-h4-h0 (each node has only the next
one as a configured peer, the previous one learns it from server_connect):
the bridge would let any host reach any other, but each node links only to
its neighbours, so h0 -> h2 is routed through h1, and with h2 cut off,
h1 -> h3 goes the long way round (h0, h4).

How the test talks to the nodes: through each quiltd's line interface on a
pseudo-terminal (quilt_harness.Node), with quiltd started as `ip netns exec
NS quiltd ...` (which execs quiltd: the pid is quiltd's). A terminal does
not care about network namespaces, so the test itself stays in the root
namespace and needs no route, no host-side veth and no client process
inside the namespaces; the consoles are off.

Cleanup: the test case stops its nodes and deletes its namespaces (also on
failure); if this process dies without that (SIGKILL by a ctest timeout, an
interrupt), a guardian process (its own session, so a signal to the
test's process group does not reach it) sees its pipe close and kills
whatever still runs in the namespaces, then deletes them. Namespaces left
by a dead earlier run (pid gone) are removed at start.
"""

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import (Node, QuiltTestCase, msg_line, quiltd_path,  # noqa: E402
                           wait_routes)

HEARTBEAT_MS = 100
DEAD_AFTER_MS = 500
TOLERANCE_S = 0.5  # scheduling slack (SPEC bounds are for an idle machine)
# SPEC section 6: routes across a dead link are gone within dead_after_ms
# + 2 x heartbeat_ms; a node that comes back is routed to again within its
# peers' reconnect back-off (at most 5 s) plus 5 s; full routes within 5 s
# of the last node's listen port.
WITHDRAW_S = (DEAD_AFTER_MS + 2 * HEARTBEAT_MS) / 1000 + TOLERANCE_S
HEAL_S = 10.0
CONVERGE_S = 5.0 + TOLERANCE_S

HOLD_S = 30.0  # how long the partition lasts (see the docstring)

PORT = 5501  # every host uses the same port: they are separate machines
SUBNET = "10.213.7"  # exists only inside this test's namespaces
HOSTS = 5
PREFIX = "quilt-mh"
IP_TIMEOUT_S = 10


def verbose(text):
    if os.environ.get("QUILT_TEST_VERBOSE"):
        sys.stderr.write(text + "\n")


def run_ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: exit %d: %s" % (" ".join(args),
                                                    p.returncode,
                                                    p.stderr.strip()))
    return p


def netns_pids(ns):
    p = run_ip("netns", "pids", ns, check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def remove_netns(ns):
    """Kills what runs in `ns`, then deletes it; quiet if it is gone."""
    for pid in netns_pids(ns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run_ip("netns", "del", ns, check=False)


# Runs in its own session; argv: the namespaces. Waits for its stdin (a
# pipe whose other end only the test process holds) to close, then does
# what remove_netns does.
GUARDIAN = r"""
import os, signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.stdin.buffer.read()
for ns in sys.argv[1:]:
    p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                       text=True, timeout=10)
    for pid in p.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass
    subprocess.run(["ip", "netns", "del", ns], capture_output=True,
                   timeout=10)
"""


def reap_stale_namespaces():
    """Deletes namespaces of earlier runs of this test whose process is
    gone (only names of this test's pattern)."""
    p = run_ip("netns", "list", check=False)
    for line in p.stdout.splitlines():
        m = re.match(r"^(%s(\d+)-\S+)" % re.escape(PREFIX), line)
        if m and not os.path.exists("/proc/%s" % m.group(2)):
            remove_netns(m.group(1))


class Lab:
    """The namespaces, the bridge and the veth pairs described above."""

    def __init__(self, hosts):
        tag = "%s%d" % (PREFIX, os.getpid())
        self.bridge_ns = tag + "-br"
        self.host_ns = ["%s-h%d" % (tag, i) for i in range(hosts)]
        self.address = ["%s.%d" % (SUBNET, i + 1) for i in range(hosts)]
        self.created = []
        self.guardian = None

    def all_namespaces(self):
        return [self.bridge_ns] + self.host_ns

    def build(self):
        # The guardian first, so that nothing created below can outlive us.
        r, w = os.pipe()
        self.guardian = subprocess.Popen(
            [sys.executable, "-c", GUARDIAN] + self.all_namespaces(),
            stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, pass_fds=())
        os.close(r)
        self.guardian_pipe = w
        for ns in self.all_namespaces():
            run_ip("netns", "add", ns)
            self.created.append(ns)
        br = self.bridge_ns
        run_ip("-n", br, "link", "add", "name", "br0", "type", "bridge")
        run_ip("-n", br, "link", "set", "br0", "up")
        for i, ns in enumerate(self.host_ns):
            leg = "leg%d" % i
            # Created inside the bridge's namespace, the peer end moved
            # straight into the host's: never in the root namespace.
            run_ip("-n", br, "link", "add", "name", leg, "type", "veth",
                   "peer", "name", "eth0", "netns", ns)
            run_ip("-n", br, "link", "set", leg, "master", "br0", "up")
            run_ip("-n", ns, "addr", "add", "%s/24" % self.address[i],
                   "dev", "eth0")
            run_ip("-n", ns, "link", "set", "eth0", "up")
            run_ip("-n", ns, "link", "set", "lo", "up")

    def set_link(self, host, up):
        """eth0 of host `host` up or down, inside its namespace."""
        run_ip("-n", self.host_ns[host], "link", "set", "eth0",
               "up" if up else "down")

    def listening(self, host):
        """The local addresses of TCP sockets listening on PORT in host
        `host`'s namespace (from /proc/net/tcp, read inside it)."""
        p = subprocess.run(["ip", "netns", "exec", self.host_ns[host],
                            "cat", "/proc/net/tcp", "/proc/net/tcp6"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=IP_TIMEOUT_S)
        found = []
        for line in p.stdout.splitlines()[1:]:
            f = line.split()
            if len(f) < 4 or f[3] != "0A" or ":" not in f[1]:
                continue  # not LISTEN (or a header line)
            addr, port = f[1].rsplit(":", 1)
            if int(port, 16) != PORT:
                continue
            # Hex of 32-bit words in host (little-endian) order.
            raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1]
                           for i in range(0, len(addr), 8))
            ip = ipaddress.ip_address(raw)
            # libzmq with ZMQ_IPV6 binds "0.0.0.0" as ::ffff:0.0.0.0.
            mapped = getattr(ip, "ipv4_mapped", None)
            found.append(str(mapped or ip))
        return found

    def close(self):
        for ns in reversed(self.created):
            remove_netns(ns)
        self.created = []
        if self.guardian is not None:
            os.close(self.guardian_pipe)  # the guardian finds nothing left
            try:
                self.guardian.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.guardian.kill()
                self.guardian.wait()
            self.guardian = None


class HostNode(Node):
    """quiltd in one host's namespace: its own address, `advertise`, the
    same port as every other host, peers by address."""

    def __init__(self, workdir, lab, host, peer_hosts, bind_any=False,
                 default_name=False, keys=None):
        self.lab = lab
        # keys: None (plain links), or {host: (secret key file, public key)}
        # and "authorized": the file with every host's public key.
        self.keys = keys
        self.host = host
        self.peer_hosts = list(peer_hosts)
        self.bind_any = bind_any
        self.default_name = default_name
        self.address = lab.address[host]
        # Name by SPEC section 2: "<advertise>:<port>" when none is given.
        name = ("%s:%d" % (self.address, PORT) if default_name
                else "h%d" % host)
        super().__init__(workdir, name, port=PORT,
                         heartbeat_ms=HEARTBEAT_MS,
                         dead_after_ms=DEAD_AFTER_MS)

    def command_prefix(self):
        return ["ip", "netns", "exec", self.lab.host_ns[self.host]]

    def write_config(self):
        lines = ["[node]"]
        if not self.default_name:
            lines.append('name = "%s"' % self.name)
        if self.bind_any:
            # Every interface, and the one address peers can reach.
            lines += ['host = "0.0.0.0"', 'advertise = "%s"' % self.address]
        elif self.default_name:
            lines.append('host = "%s"' % self.address)  # advertise = host
        else:
            lines += ['host = "%s"' % self.address,
                      'advertise = "%s"' % self.address]
        lines += ["port = %d" % PORT, "processors = 2", ""]
        if self.keys:
            # The ring's previous node dials us without being our peer: it
            # is admitted through authorized_keys (README, "Running across
            # machines").
            lines += ["[security]", "curve = true",
                      'secret_key_file = "%s"' % self.keys[self.host][0],
                      'authorized_keys = "%s"' % self.keys["authorized"], ""]
        for h in self.peer_hosts:
            lines += ["[[peers]]", 'address = "%s"' % self.lab.address[h],
                      "port = %d" % PORT]
            if self.keys:
                lines.append('public_key = "%s"' % self.keys[h][1])
            lines.append("")
        lines += ["[console]", "port = 0", "",
                  "[timing]", "heartbeat_ms = %d" % self.heartbeat_ms,
                  "dead_after_ms = %d" % self.dead_after_ms, "",
                  "[log]", 'level = "%s"' % self.log_level, ""]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines))


def skip_or_fail(test, why):
    if os.environ.get("QUILT_REQUIRE_NETNS") == "1":
        test.fail("QUILT_REQUIRE_NETNS=1 but " + why)
    test.skipTest(why)


class MultiHostTest(QuiltTestCase):
    def setUp(self):
        if os.geteuid() != 0:
            skip_or_fail(self, "needs root to create network namespaces "
                         "(CI runs as root; try sudo)")
        if shutil.which("ip") is None:
            skip_or_fail(self, "no `ip` (iproute2) on PATH")
        reap_stale_namespaces()
        self.lab = Lab(HOSTS)
        # Registered before the harness's own cleanup, so it runs after it:
        # nodes stopped first, then their namespaces deleted.
        self.addCleanup(self.lab.close)
        try:
            self.lab.build()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            if not self.lab.created:
                skip_or_fail(self, "`ip netns` is not usable here: %s" % e)
            raise
        super().setUp()

    def broadcast(self, sender, receivers, others):
        """`all TEXT` from `sender`: every node of `receivers` shows it
        exactly once, `sender` and `others` never."""
        text = "across hosts %d" % time.monotonic_ns()
        sender.command("all %s" % text, r"^sent to all \(id \d+\)$")
        line = msg_line(sender.name, "all", text)
        for n in receivers:
            self.assertIsNotNone(n.out.wait(line, 5),
                                 "%s never got %r from %s\n%s"
                                 % (n.name, text, sender.name, n.tail()))
        # Late copies have the time of a few heartbeats to turn up.
        time.sleep(3 * HEARTBEAT_MS / 1000)
        for n in receivers:
            self.assertEqual(len(re.findall(line, n.out.text, re.M)), 1,
                             "%s got %r more than once" % (n.name, text))
        for n in [sender] + list(others):
            self.assertNotIn(text, n.out.text, "%s got %r" % (n.name, text))

    def assert_pong(self, src, dst):
        self.assertRegex(src.ping(dst.name),
                         r"^pong from %s in " % re.escape(dst.name))

    def test_ring_of_hosts_links_routes_partitions_heals(self):
        self.ring_of_hosts(curve=False)

    def test_ring_of_hosts_with_curve(self):
        """The same over CURVE links: each node dials back with the key the
        server_connect's connection authenticated with, across hosts."""
        self.ring_of_hosts(curve=True)

    def make_keys(self):
        keys = {}
        pubs = []
        for i in range(HOSTS):
            path = os.path.join(self.workdir, "h%d.key" % i)
            r = subprocess.run([quiltd_path(), "--keygen", path],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(path + ".pub") as f:
                pub = f.read().strip()
            keys[i] = (os.path.basename(path), pub)
            pubs.append("%s h%d" % (pub, i))
        with open(os.path.join(self.workdir, "authorized"), "w") as f:
            f.write("# every host of the ring\n" + "\n".join(pubs) + "\n")
        keys["authorized"] = "authorized"
        return keys

    def ring_of_hosts(self, curve):
        lab = self.lab
        keys = self.make_keys() if curve else None
        # h0 binds every interface (advertising its address), h4 has no
        # name and no `advertise` (both derived from its address), the
        # others bind and advertise their own address.
        n = []
        for i in range(HOSTS):
            node = HostNode(self.workdir, lab, i, [(i + 1) % HOSTS],
                            bind_any=(i == 0), default_name=(i == HOSTS - 1),
                            keys=keys)
            self.nodes.append(node)
            n.append(node)
        names = [x.name for x in n]
        ring = [(names[i], names[(i + 1) % HOSTS]) for i in range(HOSTS)]
        self.assertEqual(names[-1], "%s.%d:%d" % (SUBNET, HOSTS, PORT))

        # -- link ------------------------------------------------------
        for node in n:
            node.start(pty=True)
        last_listening = max(x.listening_stamp() or x.started_at for x in n)
        done, wrong = wait_routes(n, ring, CONVERGE_S + 5)
        self.assertIsNotNone(done, "the ring of hosts never converged:\n%s"
                             % wrong)
        verbose("full routes %.3fs after the last listen port"
                % (done - last_listening))
        self.assertLessEqual(done - last_listening, CONVERGE_S,
                             "full routes only %.3fs after the last node "
                             "listened" % (done - last_listening))

        # Each listens where its config says, in its own namespace only.
        self.assertEqual(lab.listening(0), ["0.0.0.0"])
        for i in range(1, HOSTS):
            self.assertEqual(lab.listening(i), [lab.address[i]],
                             "h%d listens elsewhere" % i)
        # Each knows its two neighbours by the address they advertise
        # (the incoming-only one from its server_connect), all up.
        for i, node in enumerate(n):
            rows = {r["name"]: r for r in node.peers()}
            want = {names[(i - 1) % HOSTS], names[(i + 1) % HOSTS]}
            self.assertEqual(set(rows), want, node.block("/peers"))
            for peer in want:
                j = names.index(peer)
                self.assertEqual(rows[peer]["address"],
                                 "%s:%d" % (lab.address[j], PORT),
                                 node.block("/peers"))
                self.assertEqual(rows[peer]["state"], "up")
            self.assertNotIn("127.0.0.1", node.block("/peers"))

        # -- route -----------------------------------------------------
        for src in n:
            for dst in n:
                if src is not dst:
                    self.assert_pong(src, dst)
        hops, reached, text = n[0].traceroute(names[2])
        self.assertEqual(hops, [(1, names[1]), (2, names[2])], text)
        self.assertTrue(reached, text)
        hops, reached, text = n[4].traceroute(names[2])
        self.assertEqual(hops, [(1, names[3]), (2, names[2])], text)
        self.assertTrue(reached, text)

        # -- broadcast -------------------------------------------------
        self.broadcast(n[0], n[1:], [])
        self.broadcast(n[4], n[:4], [])

        # -- partition: h2's interface goes down -------------------------
        rest = [n[3], n[4], n[0], n[1]]
        line = [(names[3], names[4]), (names[4], names[0]),
                (names[0], names[1])]
        down_at = time.time()
        lab.set_link(2, up=False)
        done, wrong = wait_routes(rest, line, WITHDRAW_S + 5)
        self.assertIsNotNone(done, "routes across the cut host remain:\n%s"
                             % wrong)
        done2, wrong = wait_routes([n[2]], [], WITHDRAW_S + 5)
        self.assertIsNotNone(done2, "the cut host kept routes:\n%s" % wrong)
        done = max(done, done2)
        verbose("partition: routes withdrawn/rerouted %.3fs after link down"
                % (done - down_at))
        self.assertLessEqual(done - down_at, WITHDRAW_S,
                             "routes withdrawn only %.3fs after link down"
                             % (done - down_at))
        self.assertTrue(n[1].wait_peer_state(names[2], "down", 1), n[1].tail())
        self.assertTrue(n[3].wait_peer_state(names[2], "down", 1), n[3].tail())
        self.assertTrue(n[2].wait_peer_state(names[1], "down", 1), n[2].tail())
        self.assertTrue(n[2].wait_peer_state(names[3], "down", 1), n[2].tail())
        # h1 -> h3 now goes round the other way, three hosts.
        self.assert_pong(n[1], n[3])
        hops, reached, text = n[1].traceroute(names[3])
        self.assertEqual(hops, [(1, names[0]), (2, names[4]), (3, names[3])],
                         text)
        self.assertTrue(reached, text)
        for src, dst in ((n[0], n[2]), (n[3], n[2]), (n[2], n[1]),
                         (n[2], n[4])):
            self.assertEqual(src.ping(dst.name),
                             "no pong from %s: unreachable" % dst.name)
        self.broadcast(n[1], [n[0], n[4], n[3]], [n[2]])
        # Still partitioned a while later: nothing resurrects h2's routes.
        time.sleep(3 * HEARTBEAT_MS / 1000)
        self.assertEqual(n[2].routes(), {})
        self.assertNotIn(names[2], n[0].routes())

        hold = float(os.environ.get("QUILT_MH_HOLD_S", HOLD_S))
        time.sleep(max(0.0, down_at + hold - time.time()))
        self.assertEqual(n[2].routes(), {})

        # -- heal: the interface comes back -----------------------------
        up_at = time.time()
        lab.set_link(2, up=True)
        done, wrong = wait_routes(n, ring, HEAL_S + 5)
        self.assertIsNotNone(done, "the ring never healed:\n%s" % wrong)
        verbose("healed %.3fs after link up (down for %.3fs)"
                % (done - up_at, up_at - down_at))
        self.assertLessEqual(done - up_at, HEAL_S,
                             "healed only %.3fs after link up"
                             % (done - up_at))
        for src, dst in ((n[0], n[2]), (n[2], n[0]), (n[2], n[4]),
                         (n[4], n[2]), (n[1], n[3])):
            self.assert_pong(src, dst)
        hops, reached, text = n[1].traceroute(names[3])
        self.assertEqual(hops, [(1, names[2]), (2, names[3])], text)
        self.assertTrue(reached, text)
        self.broadcast(n[2], [n[3], n[4], n[0], n[1]], [])

        # The dial policy (SPEC section 10) never had to refuse anything:
        # every node advertises the address its connections come from. No
        # handshake was refused either.
        for node in n:
            stats = node.stats()
            self.assertEqual(stats.get("rejected_dial"), 0,
                             "%s: %r" % (node.name, stats))
            self.assertEqual(stats.get("rejected_auth"), 0,
                             "%s: %r" % (node.name, stats))


if __name__ == "__main__":
    unittest.main(verbosity=2)
