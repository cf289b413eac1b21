#!/usr/bin/python3
"""Link security (SPEC section 10) from outside: quiltd --keygen, a mesh
whose every link is CURVE, pyzmq clients refused or served by their key,
the dial policy, and the configuration errors of [security]."""

import os
import random
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
from quilt_harness import (QuiltTestCase, b, context, free_port, msg_line,  # noqa: E402
                           quiltd_path, wait_until)


def keygen(path):
    r = subprocess.run([quiltd_path(), "--keygen", path],
                       capture_output=True, text=True, timeout=10)
    return r


def read_key(path):
    with open(path) as f:
        return f.read().strip()


class KeygenTest(QuiltTestCase):
    def test_writes_a_pair_and_never_overwrites(self):
        path = os.path.join(self.workdir, "alpha.key")
        r = keygen(path)
        self.assertEqual(r.returncode, 0, r)
        secret, public = read_key(path), read_key(path + ".pub")
        self.assertEqual(len(secret), 40)
        self.assertEqual(len(public), 40)
        self.assertNotEqual(secret, public)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        # The public key is the one libzmq derives from the secret key.
        self.assertEqual(zmq.curve_public(secret.encode()).decode(), public)
        # Neither file is overwritten: exit 1, both unchanged.
        r = keygen(path)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("exists", r.stderr)
        self.assertEqual(read_key(path), secret)
        os.unlink(path)
        r = keygen(path)  # PATH.pub still there
        self.assertEqual(r.returncode, 1, r)
        self.assertFalse(os.path.exists(path))
        self.assertEqual(read_key(path + ".pub"), public)


class ConfigErrorsTest(QuiltTestCase):
    """Each bad [security] is one FILE:LINE line and exit 2."""

    def run_config(self, text, name="bad.toml"):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([quiltd_path(), path], capture_output=True,
                           text=True, timeout=10)
        return path, r

    def test_errors(self):
        good = os.path.join(self.workdir, "good.key")
        self.assertEqual(keygen(good).returncode, 0)
        pub = read_key(good + ".pub")
        with open(os.path.join(self.workdir, "bad.key"), "w") as f:
            f.write("\n  \nnot-a-key\n")
        # zmq_z85_decode stops at a NUL: such a key must still be refused.
        with open(os.path.join(self.workdir, "nul.key"), "w") as f:
            f.write("rq:rM>}U?@\0" + "~" * 29 + "\n")
        with open(os.path.join(self.workdir, "authorized"), "w") as f:
            f.write("# comment\n%s alpha\n\nshort beta\n" % pub)
        head = '[node]\nport = %d\n' % free_port()
        cases = [
            (head + "[security]\ncurve = true\n",
             r"bad\.toml:4: security\.curve = true needs "
             r"security\.secret_key_file"),
            (head + '[security]\ncurve = true\nsecret_key_file = "good.key"\n'
             '[[peers]]\naddress = "127.0.0.1"\nport = 5\n',
             r"bad\.toml:6: peers\.public_key is required"),
            (head + '[security]\ncurve = true\nsecret_key_file = "none.key"\n',
             r"bad\.toml:5: security\.secret_key_file: .*none\.key: cannot "
             r"open: No such file or directory"),
            (head + '[security]\ncurve = true\nsecret_key_file = "bad.key"\n',
             r"^\S*bad\.key:3: not a CURVE secret key"),
            (head + '[security]\ncurve = true\nsecret_key_file = "good.key"\n'
             'authorized_keys = "authorized"\n',
             r"^\S*authorized:4: not a CURVE public key: 'short'"),
            (head + '[[peers]]\naddress = "127.0.0.1"\nport = 5\n'
             'public_key = "abc"\n',
             r"bad\.toml:6: peers\.public_key must be a CURVE public key"),
            (head + '[security]\ndial_allow = ["10.0.0.0/8",\n "10.1.0.0/40"]\n',
             r"bad\.toml:5: security\.dial_allow: '10\.1\.0\.0/40': the "
             r"prefix length must be at most 32"),
            (head + '[security]\ndial_allow = ["bad host!"]\n',
             r"bad\.toml:4: security\.dial_allow: 'bad host!': not a CIDR"),
            (head + '[security]\ncurve = "yes"\n',
             r"bad\.toml:4: security\.curve must be true or false"),
            (head + '[security]\ncurv = true\n',
             r"bad\.toml:4: unknown key 'curv' in \[security\]"),
            (head + '[security]\ncurve = true\nsecret_key_file = "good.key"\n'
             'authorized_keys = "/dev/zero"\n',
             r"bad\.toml:6: security\.authorized_keys: /dev/zero is not a "
             r"regular file"),
            (head + '[security]\ncurve = true\nsecret_key_file = "nul.key"\n',
             r"^\S*nul\.key:1: not a CURVE secret key"),
        ]
        for text, pattern in cases:
            path, r = self.run_config(text)
            self.assertEqual(r.returncode, 2, (text, r))
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, (text, r.stderr))
            self.assertRegex(lines[0], pattern, text)
            self.assertEqual(r.stdout, "")


def curve_client(kind, endpoint, server_key, keys=None):
    """A pyzmq socket that is a CURVE client of `server_key` with `keys`
    (a fresh pair when None)."""
    public, secret = keys or zmq.curve_keypair()
    s = context().socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    # A refused handshake ends the connection; a send with no connection
    # left would wait for ever (a hang, not a failure, when the node is
    # quick to refuse and the test is slow to send).
    s.setsockopt(zmq.SNDTIMEO, 5000)
    s.curve_serverkey = b(server_key)
    s.curve_publickey = public
    s.curve_secretkey = secret
    s.connect(endpoint)
    return s


class CurveMeshTest(QuiltTestCase):
    """Four nodes in a square a-b-c-d-a, every link CURVE. A pyzmq client
    whose key is in a's authorized_keys may talk to a; any other is refused
    in the handshake and counted."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        names = "abcd"
        keys = {}
        for n in names:
            path = os.path.join(cls.class_workdir, "%s.key" % n)
            assert keygen(path).returncode == 0
            keys[n] = read_key(path + ".pub")
        cls.keys = keys
        cls.client_public, cls.client_secret = zmq.curve_keypair()
        with open(os.path.join(cls.class_workdir, "authorized"), "w") as f:
            f.write("# pyzmq test client\n%s the-client\n"
                    % cls.client_public.decode())
        ports = {n: free_port() for n in names}
        square = {"a": "bd", "b": "c", "c": "d", "d": ""}
        cls.n = {}
        for n in names:
            security = ('\n[security]\ncurve = true\nsecret_key_file = "%s.key"\n'
                        % n)
            if n == "a":
                security += 'authorized_keys = "authorized"\n'
            peers = square[n]
            # Links are dialled both ways; a node also has to admit the
            # keys of the peers that dial it, so each lists all neighbours'
            # keys through [[peers]] (dialled) or authorized_keys.
            cls.n[n] = cls.class_node(
                n, port=ports[n], peers=[ports[p] for p in peers],
                peer_keys=[keys[p] for p in peers], extra_toml=security)
        # Nodes that others dial must admit their keys: b, c, d learn
        # their dialler's key from authorized_keys written per node.
        for n, dialers in {"b": "a", "c": "b", "d": "ac"}.items():
            path = os.path.join(cls.class_workdir, "%s.auth" % n)
            with open(path, "w") as f:
                for d in dialers:
                    f.write("%s %s\n" % (keys[d], d))
            cls.n[n].extra_toml += 'authorized_keys = "%s.auth"\n' % n
            cls.n[n].write_config()
        for n in names:
            cls.n[n].start()
        # Every test starts from a converged square.
        for n in names:
            x = cls.n[n]
            assert wait_until(lambda x=x: len(x.routes()) == 3, 8), x.tail()

    def test_mesh_converges_routes_broadcasts_and_reroutes(self):
        a, b_, c, d = (self.n[x] for x in "abcd")
        for x in (a, b_, c, d):
            self.assertTrue(wait_until(lambda x=x: len(x.routes()) == 3, 8),
                            x.tail())
        self.assertRegex(a.ping("c"), r"^pong from c")
        text = "curve broadcast %d" % time.monotonic_ns()
        a.command("all %s" % text, r"^sent to all \(id \d+\)$")
        line = msg_line("a", "all", text)
        for x in (b_, c, d):
            self.assertIsNotNone(x.out.wait(line, 5), x.tail())
        time.sleep(0.4)
        for x in (b_, c, d):
            self.assertEqual(len(re.findall(line, x.out.text, re.M)), 1)
        # Nothing was refused inside the mesh (a also serves the refused
        # clients of the other tests).
        for x in (b_, c, d):
            self.assertEqual(x.stats()["rejected_auth"], 0, x.name)
        # b dies: a reaches c through d.
        b_.stop(signal.SIGKILL)
        self.addCleanup(b_.start)
        self.assertTrue(wait_until(
            lambda: a.routes().get("c", (None,))[0] == "d", 5), a.tail())
        self.assertRegex(a.ping("c"), r"^pong from c")

    def pump_rejections(self, node, before, timeout=5):
        return wait_until(lambda: node.stats()["rejected_auth"] > before,
                          timeout)

    def test_plain_client_is_refused(self):
        a = self.n["a"]
        before = a.stats()
        s = context().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDTIMEO, 1000)
        s.connect(a.endpoint)
        for i in range(5):
            try:
                s.send_multipart([b"a", b"msg", b"intruder", b(1000 + i),
                                  b"2", b"plain text"])
            except zmq.Again:
                break  # refused already: no connection left to send on
        self.assertTrue(self.pump_rejections(a, before["rejected_auth"]))
        s.close()
        time.sleep(0.2)
        self.assertNotIn("plain text", a.out.text)
        # Refused before any frame was read: nothing counted as invalid.
        self.assertEqual(a.stats()["dropped_invalid"],
                         before["dropped_invalid"])

    def test_client_with_another_key_is_refused(self):
        a = self.n["a"]
        before = a.stats()["rejected_auth"]
        s = curve_client(zmq.REQ, a.endpoint, self.keys["a"])
        s.setsockopt(zmq.RCVTIMEO, 1000)
        with self.assertRaises(zmq.Again):  # the send too, once refused
            s.send_multipart([b"a", b"msg", b"stranger", b"77", b"2",
                              b"other key"])
            s.recv_multipart()
        s.close()
        self.assertTrue(self.pump_rejections(a, before))
        self.assertNotIn("other key", a.out.text)

    def test_client_with_wrong_server_key_gets_nothing(self):
        # A client that expects another server cannot complete the
        # handshake either (the node's key is the proof of who it is).
        a = self.n["a"]
        s = curve_client(zmq.REQ, a.endpoint, self.keys["b"],
                         (self.client_public, self.client_secret))
        s.setsockopt(zmq.RCVTIMEO, 1000)
        with self.assertRaises(zmq.Again):  # the send too, once refused
            s.send_multipart([b"a", b"msg", b"stranger", b"78", b"2",
                              b"wrong"])
            s.recv_multipart()
        s.close()
        self.assertNotIn("stranger -> a: wrong", a.out.text)

    def test_authorized_req_client_is_served(self):
        a = self.n["a"]
        s = curve_client(zmq.REQ, a.endpoint, self.keys["a"],
                         (self.client_public, self.client_secret))
        s.setsockopt(zmq.RCVTIMEO, 3000)
        text = "authorized %d" % random.randrange(10 ** 9)
        s.send_multipart([b"a", b"msg", b"client", b"79", b"2", b(text)])
        self.assertEqual(s.recv_multipart(), [b"ack"])
        s.close()
        self.assertIsNotNone(a.out.wait(msg_line("client", "a", text), 3))

    def test_an_authorized_key_cannot_take_over_a_known_name(self):
        # The client's key is authorized, but b's name belongs to b's key
        # (SPEC section 12): a server_connect claiming to be b from the
        # client's connection is refused (rejected_auth), and a keeps b
        # where it is. (A connection named b is RoutingIdTakeoverTest's
        # matter.)
        a = self.n["a"]
        before = a.stats()["rejected_auth"]
        rows = {p["name"]: p["address"] for p in a.peers()}
        port = free_port()
        mark = a.log_mark()
        s = curve_client(zmq.DEALER, a.endpoint, self.keys["a"],
                         (self.client_public, self.client_secret))
        s.setsockopt(zmq.ROUTING_ID, b"impostor")
        try:
            s.send_multipart([b"*", b"server_connect", b"b", b"6", b"1",
                              b"127.0.0.1", b(port), b"quilt/1"])
            self.assertTrue(wait_until(
                lambda: a.stats()["rejected_auth"] == before + 1, 5),
                a.tail())
        finally:
            s.close()
        self.assertIsNotNone(a.wait_log(
            r"refusing a server_connect from b .* is not the key", 3,
            since=mark), a.tail())
        after = {p["name"]: p["address"] for p in a.peers()}
        self.assertEqual(after.get("b"), rows.get("b"))

    def test_authorized_peer_is_dialled_back_with_its_key(self):
        # A foreign CURVE peer: its ROUTER is a CURVE server with its own
        # key pair; a must dial back with that key as the server key.
        a = self.n["a"]
        port = free_port()
        router = context().socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.curve_server = True
        router.curve_secretkey = self.client_secret
        router.bind("tcp://127.0.0.1:%d" % port)
        dealer = curve_client(zmq.DEALER, a.endpoint, self.keys["a"],
                              (self.client_public, self.client_secret))
        dealer.setsockopt(zmq.ROUTING_ID, b"py-curve")
        try:
            dealer.send_multipart([b"*", b"server_connect", b"py-curve",
                                   b"5", b"1", b"127.0.0.1", b(port),
                                   b"quilt/1"])
            router.setsockopt(zmq.RCVTIMEO, 5000)
            frames = router.recv_multipart()
            self.assertEqual(frames[0], b"a")  # a's routing id: its name
            self.assertEqual(frames[1:3], [b"py-curve", b"server_connect"])
        finally:
            dealer.close()
            router.close()


class HandshakeFailureTest(QuiltTestCase):
    """SPEC section 12: a DEALER whose CURVE handshake fails (a wrong
    public_key for its peer) shows the peer as auth_failed and logs one
    warning naming its address and port, not one per retry."""

    def test_wrong_server_key_is_auth_failed_with_one_warning(self):
        keys = {}
        for n in ("a", "b", "wrong"):
            path = os.path.join(self.workdir, "%s.key" % n)
            self.assertEqual(keygen(path).returncode, 0)
            keys[n] = read_key(path + ".pub")
        with open(os.path.join(self.workdir, "b.auth"), "w") as f:
            f.write("%s a\n" % keys["a"])
        bnode = self.node("b", extra_toml=(
            '\n[security]\ncurve = true\nsecret_key_file = "b.key"\n'
            'authorized_keys = "b.auth"\n'))
        bnode.start()
        # a has the key of "wrong" where b's belongs.
        a = self.node("a", peers=[bnode.port], peer_keys=[keys["wrong"]],
                      extra_toml=('\n[security]\ncurve = true\n'
                                  'secret_key_file = "a.key"\n'))
        started = time.monotonic()
        a.start()
        address = "127.0.0.1:%d" % bnode.port

        def state():
            for row in a.peers():
                if row["address"] == address:
                    return row["state"]
            return None

        self.assertTrue(wait_until(lambda: state() == "auth_failed", 5),
                        (a.peers(), a.tail()))
        # The handshake really fails, again and again, on b's side.
        self.assertTrue(wait_until(
            lambda: bnode.stats()["rejected_auth"] >= 3, 5), bnode.tail())
        # About 7 handshakes a second fail for 5 s: still one warning.
        time.sleep(max(0.0, started + 5 - time.monotonic()))
        self.assertEqual(state(), "auth_failed")
        warnings = [l for l in a.find_logs(re.escape(address))
                    if l.level == "warning"]
        self.assertEqual(len(warnings), 1, a.tail())


class RoutingIdTakeoverTest(QuiltTestCase):
    """SPEC section 12, issue 15 experiment 3: with CURVE, a DEALER with an
    authorized key that is not b's, and routing id "b", cannot take b's
    place at a: b stays up and answers pings, and after a restart b is
    back at once while the impostor is still connected."""

    def setUp(self):
        super().setUp()
        keys = {}
        for n in ("a", "b", "c"):
            path = os.path.join(self.workdir, "%s.key" % n)
            self.assertEqual(keygen(path).returncode, 0)
            keys[n] = read_key(path + ".pub")
        self.keys = keys
        # An operator's tool key: authorized at a, bound to no node.
        self.tool = zmq.curve_keypair()
        with open(os.path.join(self.workdir, "a.auth"), "w") as f:
            f.write("%s tool\n" % self.tool[0].decode())
        ports = {n: free_port() for n in "abc"}
        # a - b - c, every link configured both ways.
        peers = {"a": "b", "b": "ac", "c": "b"}
        self.n = {}
        for n in "abc":
            extra = ('\n[security]\ncurve = true\nsecret_key_file = "%s.key"\n'
                     % n)
            if n == "a":
                extra += 'authorized_keys = "a.auth"\n'
            self.n[n] = self.node(
                n, port=ports[n], peers=[ports[p] for p in peers[n]],
                peer_keys=[keys[p] for p in peers[n]], extra_toml=extra)
        for n in "abc":
            self.n[n].start()
        a = self.n["a"]
        self.assertTrue(wait_until(lambda: "c" in a.routes(), 8), a.tail())

    def impostor(self):
        """A DEALER named b with the tool's key, once a admitted it."""
        public, secret = self.tool
        s = context().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.ROUTING_ID, b"b")
        s.curve_serverkey = b(self.keys["a"])
        s.curve_publickey = public
        s.curve_secretkey = secret
        monitor = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        s.connect(self.n["a"].endpoint)
        self.addCleanup(s.close)
        self.assertTrue(monitor.poll(5000), "a never admitted the impostor")
        s.disable_monitor()
        monitor.close()
        return s

    def start_sending(self, sock):
        """Pings and advertisements as b ("b has no neighbours"), every
        20 ms until the test ends; returns how many were sent."""
        stop = [False]
        sent = [0]

        def run():
            seq = 2 ** 64 - 1
            while not stop[0]:
                i = sent[0]
                try:
                    sock.send_multipart([b"a", b"ping", b"b", b(10 ** 9 + i),
                                         b"1"], zmq.DONTWAIT)
                    sock.send_multipart([b"all", b"link_state", b"b",
                                         b(seq - i), b"32", b""],
                                        zmq.DONTWAIT)
                    sent[0] += 1
                except zmq.Again:
                    pass  # a does not read it: its queue is full
                time.sleep(0.02)

        t = threading.Thread(target=run, daemon=True)
        t.start()

        def halt():
            stop[0] = True
            t.join(2)
        self.addCleanup(halt)
        return sent

    def hold_for(self, seconds):
        """b stays up at a, a pings b and c, and c stays routed through b,
        all through `seconds`."""
        a = self.n["a"]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertEqual(a.peer_state("b"), "up", a.tail())
            self.assertRegex(a.ping("b", timeout=3), r"^pong from b", a.tail())
            self.assertEqual(a.routes().get("c", (None,))[0], "b", a.tail())
            time.sleep(0.2)

    def restart_b(self):
        a, bnode = self.n["a"], self.n["b"]
        bnode.kill9()
        self.assertTrue(a.wait_peer_state("b", "down", 5), a.tail())
        restarted = time.monotonic()
        bnode.start()
        self.assertTrue(a.wait_peer_state("b", "up", 5), a.tail())
        self.assertRegex(a.ping("b", timeout=3), r"^pong from b", a.tail())
        # a may route to c through b at once on b's former advertisement,
        # which it still holds, and lose the route when the new b's first
        # one comes (it lists a only: b has not heard c yet). Back means b
        # has c up and a routes through it.
        self.assertTrue(wait_until(
            lambda: bnode.peer_state("c") == "up"
            and a.routes().get("c", (None,))[0] == "b", 5), a.tail())
        took = time.monotonic() - restarted
        # Then a new advertisement of b's, listing c, follows within its
        # minimum interval: the route has to hold from there.
        steady = time.monotonic()
        while time.monotonic() - steady < 1.5:
            if a.routes().get("c", (None,))[0] != "b":
                steady = time.monotonic()
            self.assertLess(time.monotonic() - restarted, 15, a.tail())
            time.sleep(0.1)
        return took

    def test_a_talking_impostor_changes_nothing(self):
        sent = self.start_sending(self.impostor())
        self.hold_for(10)
        self.assertGreater(sent[0], 0)
        took = self.restart_b()
        sys.stderr.write("b back at a %.2f s after its restart\n" % took)
        self.hold_for(3)

    def test_a_silent_impostor_changes_nothing(self):
        self.impostor()
        self.hold_for(10)
        self.restart_b()
        self.hold_for(3)


def wait_frames(sock, predicate, timeout=3):
    """Reads `sock` until a message matches `predicate`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate(sock.recv_multipart()):
                return True
        except zmq.Again:
            pass
    return False


class DialPolicyTest(QuiltTestCase):
    """server_connect names an address; the node dials it only when it is
    the connection's own address, a configured peer's, or in dial_allow.
    Clients pick their source address with libzmq's "src;dst" syntax."""

    def foreign(self, node, source, name):
        s = context().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.ROUTING_ID, b(name))
        s.connect("tcp://%s:0;127.0.0.1:%d" % (source, node.port))
        self.addCleanup(s.close)
        return s

    def server_connect(self, sock, name, address, port, mid):
        sock.send_multipart([b"*", b"server_connect", b(name), b(mid), b"1",
                             b(address), b(port), b"quilt/1"])

    def test_policy(self):
        listen = {}
        peer_port = free_port()
        # A configured peer at 127.0.0.5, which makes that address allowed.
        a = self.node("a", extra_toml=(
            '\n[security]\ndial_allow = ["127.0.0.8/30"]\n'
            '\n[[peers]]\naddress = "127.0.0.5"\nport = %d\n' % peer_port))
        # The routers the node may dial back, one per allowed case.
        for host in ("127.0.0.3", "127.0.0.5", "127.0.0.9"):
            r = context().socket(zmq.ROUTER)
            r.setsockopt(zmq.LINGER, 0)
            port = peer_port if host == "127.0.0.5" else free_port()
            r.bind("tcp://%s:%d" % (host, port))
            r.setsockopt(zmq.RCVTIMEO, 3000)
            self.addCleanup(r.close)
            listen[host] = (r, port)
        a.start()
        before = a.stats()
        # Allowed: the connection's own address; a configured peer's; a
        # dial_allow block.
        for i, (source, host) in enumerate([("127.0.0.3", "127.0.0.3"),
                                            ("127.0.0.4", "127.0.0.5"),
                                            ("127.0.0.4", "127.0.0.9")]):
            name = "ok%d" % i
            s = self.foreign(a, source, name)
            r, port = listen[host]
            self.server_connect(s, name, host, port, 100 + i)
            # Skip what else comes (a's own announcement to its peer).
            self.assertTrue(wait_frames(
                r, lambda f, name=name: f[:3] == [b"a", b(name),
                                                   b"server_connect"]),
                (source, host))
        # Refused: 127.0.0.6 is none of those for a client at 127.0.0.4.
        s = self.foreign(a, "127.0.0.4", "intruder")
        self.server_connect(s, "intruder", "127.0.0.6", free_port(), 200)
        self.assertIsNotNone(a.wait_log(r"not dialling 127\.0\.0\.6:\d+ for "
                                        r"intruder \(connection from "
                                        r"127\.0\.0\.4\)", 3), a.tail())
        after = a.stats()
        self.assertEqual(after["rejected_dial"] - before["rejected_dial"], 1)
        self.assertNotIn("intruder", [p["name"] for p in a.peers()])

    def test_rejection_error_reaches_a_routable_origin(self):
        # p is a proper foreign peer of b; a (loopback-only default policy
        # narrowed to nothing) refuses p's server_connect naming another
        # address, and its `error rejected <id> dial_not_allowed` travels
        # a -> b -> p.
        bnode = self.node("b")
        bnode.start()
        a = self.node("a", peers=[bnode.port],
                      extra_toml="\n[security]\ndial_allow = []\n")
        a.start()
        self.assertIsNotNone(a.wait_log(r"peer b .* is up", 5))
        port = free_port()
        router = context().socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind("tcp://127.0.0.1:%d" % port)
        self.addCleanup(router.close)
        to_b = context().socket(zmq.DEALER)
        to_b.setsockopt(zmq.LINGER, 0)
        to_b.setsockopt(zmq.ROUTING_ID, b"p")
        to_b.connect(bnode.endpoint)
        self.addCleanup(to_b.close)
        self.server_connect(to_b, "p", "127.0.0.1", port, 1)
        # Answer b's heartbeats so p stays up, until a has a route to p.
        deadline = time.monotonic() + 8
        got_route = False
        router.setsockopt(zmq.RCVTIMEO, 50)
        while time.monotonic() < deadline and not got_route:
            try:
                f = router.recv_multipart()
                if f[2] == b"ping":
                    to_b.send_multipart([f[3], b"pong", b"p", b"9", b"1", f[4]])
            except zmq.Again:
                pass
            got_route = "p" in a.routes()
        self.assertTrue(got_route, a.tail())
        s = self.foreign(a, "127.0.0.1", "p")
        mid = random.randrange(10 ** 9, 10 ** 10)
        self.server_connect(s, "p", "127.0.0.7", free_port(), mid)
        deadline = time.monotonic() + 5
        error = None
        while time.monotonic() < deadline and error is None:
            try:
                f = router.recv_multipart()
            except zmq.Again:
                continue
            if f[2] == b"ping":
                to_b.send_multipart([f[3], b"pong", b"p", b"9", b"1", f[4]])
            elif f[2] == b"error":
                error = f
        self.assertIsNotNone(error, a.tail())
        self.assertEqual(error[1], b"p")
        self.assertEqual(error[3], b"a")
        self.assertEqual(error[6:], [b"rejected", b(mid), b"dial_not_allowed"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
