#!/usr/bin/python3
"""cmake --install and cpack -G DEB (SPEC section 11).

Installs each component of the build (QUILT_BUILD_DIR) with --prefix /usr
into a temporary DESTDIR and checks the layout file by file: the three
programs in bin/, every config/*.toml of the source (QUILT_SOURCE_DIR) in
share/quilt/, the docs, and quiltd@.service in lib/systemd/system/, nothing
else (no tests, no benchmarks). The INSTALLED programs must work on their
own: two nodes from the installed alpha and beta configs (moved to free
ports) link up, the installed console pings across, and SIGTERM stops
them with exit 0, with stdin at /dev/null as under systemd; the installed
quilt-sim runs the installed demo scenario. The unit is checked key by key
and with `systemd-analyze verify` (scripts/setup.sh installs systemd for
it; it needs no running systemd). Then one
`cpack -G DEB`: its control fields (Depends from dpkg-shlibdeps), its file
list, and the programs extracted from it with `dpkg-deb -x`, run the same
way.

cpack first builds the `preinstall` target, which depends on `all`: after
the usual full build that is a no-op of a few seconds.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quilt_harness import REPO, forget, free_port, spawn  # noqa: E402

BUILD = os.environ.get("QUILT_BUILD_DIR") or os.path.join(REPO, "build")
SOURCE = os.environ.get("QUILT_SOURCE_DIR") or REPO
CMAKE = os.environ.get("CMAKE_COMMAND") or shutil.which("cmake")
CPACK = os.environ.get("CPACK_COMMAND") or shutil.which("cpack")

PROGRAMS = ["quiltd", "quilt-console", "quilt-sim"]
UNIT = "lib/systemd/system/quiltd@.service"
DOCS = ["README.md", "CHANGELOG.md", "PROTOCOL.md", "ARCHITECTURE.md"]


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*quilt\s+VERSION\s+([0-9.]+)", f.read())
    assert m, "no project(quilt VERSION ...) in CMakeLists.txt"
    return m.group(1)


def examples():
    return sorted(f for f in os.listdir(os.path.join(SOURCE, "config"))
                  if f.endswith(".toml"))


def expected_files(components=("runtime", "examples", "service")):
    """Paths relative to the prefix /usr."""
    files = set()
    if "runtime" in components:
        files |= {"bin/" + p for p in PROGRAMS}
        files |= {"share/doc/quilt/" + d for d in DOCS}
    if "examples" in components:
        files |= {"share/quilt/" + e for e in examples()}
    if "service" in components:
        files.add(UNIT)
    return files


def tree(root):
    """Every file and symlink under root, relative to it."""
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def run(argv, timeout=60, **kw):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout, **kw)
    return p


def check_run(argv, timeout=60, **kw):
    p = run(argv, timeout, **kw)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s"
                             % (" ".join(argv), p.returncode, p.stdout,
                                p.stderr))
    return p


def install(destdir, component=None):
    """cmake --install BUILD --prefix /usr [--component C], DESTDIR set:
    never into the real /usr."""
    assert destdir and os.path.isabs(destdir)
    argv = [CMAKE, "--install", BUILD, "--prefix", "/usr"]
    if component:
        argv += ["--component", component]
    env = dict(os.environ, DESTDIR=destdir)
    check_run(argv, env=env)


def parse_unit(path):
    """A systemd unit as {section: {key: [values]}} (keys may repeat)."""
    sections = {}
    current = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, eq, value = line.partition("=")
            assert eq and current is not None, "bad unit line %r" % line
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_bytes(value):
    """A systemd size (1024-based K, M, G, T suffixes) in bytes."""
    m = re.fullmatch(r"(\d+)([KMGT]?)", value)
    assert m, "not a size in bytes: %r" % value
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2) or " "))


def elf_dynamic(path):
    return check_run(["readelf", "-d", path]).stdout


def adapt_config(text, ports):
    """The example config with every `port = N` line (listen, peers,
    console) moved to ports[N]; a port the map lacks fails the test."""
    def repl(m):
        old = int(m.group(2))
        assert old in ports, "unexpected port %d in an example config" % old
        return m.group(1) + str(ports[old])
    return re.sub(r"^(\s*port\s*=\s*)(\d+)", repl, text, flags=re.M)


class InstalledNode:
    """An installed quiltd run as systemd would: stdin at /dev/null, logs
    on stderr (to a file here)."""

    def __init__(self, quiltd, config, workdir, name):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = spawn([quiltd, config], stdin=subprocess.DEVNULL,
                          stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status (None if it hung, then killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        forget(self.proc)
        self.log.close()
        return rc


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert CMAKE and CPACK, "cmake/cpack not found"
        assert os.path.isfile(os.path.join(BUILD, "CMakeCache.txt")), \
            "QUILT_BUILD_DIR=%s is not a build directory" % BUILD
        cls.tmp = tempfile.mkdtemp(prefix="quilt-install-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.full = os.path.join(cls.tmp, "full")
        install(cls.full)
        cls.usr = os.path.join(cls.full, "usr")

    def bin(self, root, program):
        return os.path.join(root, "bin", program)

    # -- layout ---------------------------------------------------------------

    def test_layout(self):
        self.assertEqual(tree(self.full), {"usr/" + f
                                           for f in expected_files()})
        for p in PROGRAMS:
            path = self.bin(self.usr, p)
            self.assertTrue(os.access(path, os.X_OK), path)
            # libquilt is static and CAF/libzmq are system libraries: an
            # installed program must not point back into the build tree.
            dyn = elf_dynamic(path)
            self.assertNotRegex(dyn, r"\((RPATH|RUNPATH)\)", p)
            self.assertNotIn("libquilt", dyn, p)
        for e in examples():
            with open(os.path.join(SOURCE, "config", e), "rb") as a, \
                    open(os.path.join(self.usr, "share/quilt", e), "rb") as b:
                self.assertEqual(a.read(), b.read(), e)

    def test_components(self):
        """Each component installs its part only; together, everything."""
        union = set()
        for c in ("runtime", "examples", "service"):
            root = os.path.join(self.tmp, "component-" + c)
            install(root, c)
            got = tree(root)
            self.assertEqual(got, {"usr/" + f for f in expected_files([c])},
                             c)
            union |= got
        self.assertEqual(union, tree(self.full))

    # -- the unit -------------------------------------------------------------

    def test_unit(self):
        path = os.path.join(self.usr, UNIT)
        with open(path) as f:
            text = f.read()
        self.assertNotRegex(text, r"@[A-Z_]+@", "unsubstituted placeholder")
        unit = parse_unit(path)
        svc = unit["Service"]
        one = {k: v[-1] for k, v in svc.items()}
        self.assertEqual(svc["ExecStart"],
                         ["/usr/bin/quiltd /etc/quilt/%i.toml"])
        self.assertEqual(one.get("Restart"), "on-failure")
        # systemctl reload: SIGHUP to quiltd (SPEC section 15).
        self.assertEqual(svc.get("ExecReload"), ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(one.get("KillSignal", "SIGTERM"), "SIGTERM")
        self.assertEqual(one.get("StandardInput", "null"), "null")
        self.assertNotIn("TTYPath", svc)
        self.assertEqual(one.get("DynamicUser"), "yes")
        self.assertEqual(one.get("NoNewPrivileges"), "yes")
        self.assertEqual(one.get("ProtectSystem"), "strict")
        self.assertEqual(one.get("PrivateTmp"), "yes")
        self.assertIn("multi-user.target", unit["Install"]["WantedBy"])
        # The node's bounds (README "Installing as a service"): descriptors
        # for limits.max_peers' 1024 unconfigured peers at about 5 each
        # (systemd's default of 1024 is far too few), and memory for what
        # libzmq holds where the node cannot count it.
        self.assertRegex(one.get("LimitNOFILE", ""), r"^\d+$")
        self.assertGreaterEqual(int(one["LimitNOFILE"]), 5 * 1024 + 1024)
        self.assertIn("MemoryMax", one)
        max_bytes = unit_bytes(one["MemoryMax"])
        self.assertGreaterEqual(max_bytes, 512 << 20)  # above the node's own
        if "MemoryHigh" in one:
            self.assertLess(unit_bytes(one["MemoryHigh"]), max_bytes)

        analyze = shutil.which("systemd-analyze")
        self.assertTrue(analyze, "systemd-analyze missing: apt-get install "
                        "systemd (scripts/setup.sh)")
        # verify insists that ExecStart's program exists: point it at the
        # DESTDIR copy, everything else as installed.
        vdir = os.path.join(self.tmp, "verify")
        os.makedirs(vdir, exist_ok=True)
        vpath = os.path.join(vdir, "quiltd@.service")
        with open(vpath, "w") as f:
            f.write(text.replace("ExecStart=/usr/bin/quiltd ",
                                 "ExecStart=%s " % self.bin(self.usr,
                                                            "quiltd")))
        p = run([analyze, "verify", vpath])
        # Unknown keys and bad values are only warnings (exit 0): any
        # output is a failure.
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    # -- the installed programs work ------------------------------------------

    def run_mesh(self, usr):
        """alpha and beta from usr/share/quilt on free ports, linked; the
        console of usr pings beta from alpha; SIGTERM stops both with 0."""
        work = tempfile.mkdtemp(prefix="mesh-", dir=self.tmp)
        etc = os.path.join(work, "etc", "quilt")
        os.makedirs(etc)
        # gamma's ports stay closed: beta keeps dialling it, harmlessly.
        ports = {p: free_port() for p in (5501, 5502, 5503, 6501, 6502)}
        configs = {}
        for name in ("alpha", "beta"):
            with open(os.path.join(usr, "share/quilt", name + ".toml")) as f:
                text = adapt_config(f.read(), ports)
            configs[name] = os.path.join(etc, name + ".toml")
            with open(configs[name], "w") as f:
                f.write(text)
        console = self.bin(usr, "quilt-console")
        nodes = [InstalledNode(self.bin(usr, "quiltd"), configs[n], work, n)
                 for n in ("alpha", "beta")]
        try:
            status = None
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                r = run([console, "--port", str(ports[6501]), "--json",
                         "ping", "beta"], timeout=10)
                if r.returncode == 0:
                    break
                for n in nodes:
                    self.assertIsNone(n.proc.poll(), "%s exited:\n%s"
                                      % (n.name, n.text()))
                time.sleep(0.2)
            self.assertEqual(r.returncode, 0,
                             "no ping alpha -> beta: %s %s\n%s\n%s"
                             % (r.stdout, r.stderr, nodes[0].text(),
                                nodes[1].text()))
            ping = json.loads(r.stdout)
            self.assertEqual((ping["target"], ping["received"]), ("beta", 1))
            status = json.loads(check_run(
                [console, "--port", str(ports[6502]), "--json",
                 "status"]).stdout)
            self.assertEqual(status["name"], "beta")
            self.assertEqual(status["listen"], "tcp://127.0.0.1:%d"
                             % ports[5502])
            self.assertEqual(status["version"], project_version())
        finally:
            rcs = [n.stop() for n in nodes]
        for n, rc in zip(nodes, rcs):
            self.assertEqual(rc, 0, "%s after SIGTERM:\n%s"
                             % (n.name, n.text()))
            self.assertRegex(n.text(), r"\] stopped$", n.name)

    def test_installed_programs_run(self):
        self.run_mesh(self.usr)
        report = os.path.join(self.tmp, "sim-demo.json")
        check_run([self.bin(self.usr, "quilt-sim"),
                   os.path.join(self.usr, "share/quilt/sim-demo.toml"),
                   "--report", report], timeout=60)
        with open(report) as f:
            doc = json.load(f)
        self.assertEqual(doc["duplicate_deliveries"], 0)
        self.assertTrue(all(e["ok"] for e in doc["events"]), doc["events"])

    # -- the Debian package -------------------------------------------------------

    def test_deb(self):
        for tool in ("dpkg-deb", "dpkg-shlibdeps"):
            self.assertTrue(shutil.which(tool), "%s missing: apt-get install "
                            "dpkg-dev (scripts/setup.sh)" % tool)
        out = os.path.join(self.tmp, "package")
        check_run([CPACK, "-G", "DEB", "-B", out], timeout=100, cwd=BUILD)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, debs)
        deb = os.path.join(out, debs[0])

        def field(name):
            return check_run(["dpkg-deb", "-f", deb, name]).stdout.strip()

        self.assertEqual(field("Package"), "quilt")
        self.assertEqual(field("Version"), project_version())
        self.assertRegex(field("Maintainer"), r"^.+ <[^@>]+@[^>]+>$")
        self.assertTrue(field("Description"))
        depends = {d.split()[0] for d in field("Depends").split(", ")}
        for lib in ("libc6", "libzmq5", "libcaf-core0.17", "libcaf-io0.17",
                    "libcaf-openssl0.17", "libssl3", "libstdc++6"):
            self.assertIn(lib, depends)
        self.assertTrue(check_run(["dpkg-deb", "-I", deb]).stdout)

        root = os.path.join(self.tmp, "deb-root")
        check_run(["dpkg-deb", "-x", deb, root])
        self.assertEqual(tree(root), tree(self.full))
        for p in PROGRAMS:
            sections = check_run(["readelf", "-S", self.bin(
                os.path.join(root, "usr"), p)]).stdout
            self.assertNotIn(".debug_info", sections, "%s not stripped" % p)
        with open(os.path.join(root, "usr", UNIT)) as a, \
                open(os.path.join(self.usr, UNIT)) as b:
            self.assertEqual(a.read(), b.read())
        self.run_mesh(os.path.join(root, "usr"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
