#!/usr/bin/env python3
"""Scenario: the pylaunchd module outside the launcher, for an agent's own tests.

The build assembles BUILD/python/ (what `cmake --install` puts in share/pylaunchd/python/): the
package pylaunchd (launcher/pylaunchd.py and pylaunchd.testing) and _pylaunchd.py, the
pure-Python stand-in for the launcher's C module. Checked here:

* the fallback against real counterparts: notify() to a bound datagram socket (a path and an
  abstract name), peer() of a socketpair and of another process, set_idle_timeout()'s effect on
  recv() and the kernel's own SO_RCVTIMEO/SO_SNDTIMEO, the constants, journal detection;
* inside the real launcher the built-in _pylaunchd wins even with the fallback first on sys.path,
  and the two modules have the same names (so a new function in module.c's c_methods table
  fails this test until the fallback has it too), and the same templates;
* pylaunchd.testing.connect(): the ROT13 agent, the handler's exception raised in the test,
  timeouts both ways, the connection handle() gets;
* agent/test_Agent.py, the README's example, run as it is with /usr/bin/python3.11 and
  PYTHONPATH=BUILD/python (tests/e2e/test_install_prefix.py runs it against an installation).
"""

import errno
import hashlib
import importlib.util
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import types

import harness

BUILD_DIR = os.path.dirname(harness.BINARY)
#: BUILD/python/: what share/pylaunchd/python/ holds once installed.
TREE = os.path.join(BUILD_DIR, "python")
SOURCE_DIR = os.path.dirname(os.path.abspath(harness.AGENT_DIR)) if harness.AGENT_DIR else ""
SYSTEM_PYTHON = "/usr/bin/python3.11"

#: Runs every test_* function of the file named by argv[1], as pytest would, for a Python
#: without pytest; the file's directory is the working directory, so it imports its agent.
RUN_TESTS = """
import runpy, sys
ns = runpy.run_path(sys.argv[1], run_name="test_module")
names = sorted(n for n, f in ns.items() if n.startswith("test_") and callable(f))
if not names:
    sys.exit("no test_ functions in " + sys.argv[1])
for n in names:
    ns[n]()
    print("passed", n)
"""

def load_tree() -> tuple:
    """(pylaunchd, _pylaunchd, pylaunchd.testing) imported from BUILD/python in this process."""
    if not os.path.isfile(os.path.join(TREE, "_pylaunchd.py")):
        raise AssertionError(f"{TREE} has no _pylaunchd.py: the build assembles it (CMakeLists.txt, python/)")
    if TREE not in sys.path:
        sys.path.insert(0, TREE)
    import _pylaunchd
    import pylaunchd
    import pylaunchd.testing
    for m in (_pylaunchd, pylaunchd, pylaunchd.testing):
        if not os.path.realpath(m.__file__).startswith(os.path.realpath(TREE) + os.sep):
            raise AssertionError(f"{m.__name__} came from {m.__file__}, not from {TREE}")
    return pylaunchd, _pylaunchd, pylaunchd.testing


def public_names(module) -> dict:
    """{name: "callable" or "value"} of a module's names that are not _private or __dunder__."""
    return {n: "callable" if callable(getattr(module, n)) else "value" for n in dir(module) if not n.startswith("_")}


class EnvVar:
    """Set (or unset, with None) one environment variable for a with block."""

    def __init__(self, name: str, value):
        self.name, self.value = name, value

    def __enter__(self):
        self.old = os.environ.get(self.name)
        if self.value is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.value

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.old


class Fallback(harness.E2ETestCase):
    """_pylaunchd.py against the kernel, as the launcher's C module would be."""

    def setUp(self):
        super().setUp()
        self.pylaunchd, self.c, self.testing = load_tree()

    def datagram_server(self, address) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(address)
        s.settimeout(harness.DEADLINE)
        return s

    def test_notify_sends_one_datagram_to_notify_socket(self):
        path = self.path("notify.sock")
        server = self.datagram_server(path)
        with EnvVar("NOTIFY_SOCKET", path):
            self.assertIs(self.c.notify("READY=1\nSTATUS=warming up"), True)
            self.assertEqual(server.recv(4096), b"READY=1\nSTATUS=warming up")
            self.assertIs(self.pylaunchd.notify("RELOADING=1", STATUS="café"), True)
            self.assertEqual(server.recv(4096), "RELOADING=1\nSTATUS=café".encode())
            self.assertIs(self.pylaunchd.status("serving"), True)
            self.assertEqual(server.recv(4096), b"STATUS=serving")
            # As the launcher's C string in a 1024-byte buffer: up to a NUL, at most 1023 bytes.
            self.assertIs(self.c.notify("STATUS=a\0b"), True)
            self.assertEqual(server.recv(4096), b"STATUS=a")
            self.assertIs(self.c.notify("STATUS=" + "x" * 2000), True)
            self.assertEqual(len(server.recv(4096)), 1023)

    def test_journal_handler_priorities(self):
        # The level -> "<N>" table on its own, outside the launcher (test_module's Journal checks it
        # inside, on a real journal stream): each boundary and the levels between them.
        import io
        import logging

        rows = [(logging.CRITICAL + 5, 2), (logging.CRITICAL, 2), (logging.ERROR + 5, 3), (logging.ERROR, 3),
                (logging.WARNING + 5, 4), (logging.WARNING, 4), (logging.INFO + 5, 6), (logging.INFO, 6),
                (logging.DEBUG + 5, 7), (logging.DEBUG, 7), (1, 7)]
        out = io.StringIO()
        handler = self.pylaunchd.JournalHandler(stream=out)
        self.assertFalse(handler.journal, "a stream of the caller's own is no journal")
        handler.journal = True
        log = logging.Logger("pylaunchd-e2e-journal", level=1)
        log.addHandler(handler)
        for level, _ in rows:
            log.log(level, "level %d\nsecond line", level)
        want = "".join(f"<{prio}>level {level}\n<{prio}>second line\n" for level, prio in rows)
        self.assertEqual(out.getvalue(), want, "every line of every record carries its level's priority")
        handler.journal = False
        out.truncate(0)
        out.seek(0)
        log.error("plain")
        self.assertEqual(out.getvalue(), "plain\n", "no prefix when stderr is not the journal")

    def test_notify_to_an_abstract_name(self):
        name = f"pylaunchd-e2e-notify-{os.getpid()}-{time.monotonic_ns()}"
        server = self.datagram_server(b"\0" + name.encode())
        with EnvVar("NOTIFY_SOCKET", "@" + name):
            self.assertIs(self.c.notify("WATCHDOG=1"), True)
        self.assertEqual(server.recv(4096), b"WATCHDOG=1")

    def test_notify_without_a_manager_is_false(self):
        for value in (None, "", "relative/notify.sock", "@", "x" * 10, "vsock:nowhere", "/" + "p" * 200):
            with self.subTest(NOTIFY_SOCKET=value), EnvVar("NOTIFY_SOCKET", value):
                self.assertIs(self.c.notify("READY=1"), False)
                self.assertIs(self.pylaunchd.notify("READY=1"), False)

    def test_notify_to_nobody_listening_raises(self):
        with EnvVar("NOTIFY_SOCKET", self.path("nobody.sock")):
            with self.assertRaises(OSError) as cm:
                self.c.notify("READY=1")
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        with self.assertRaises(TypeError):
            self.c.notify(b"READY=1")

    def test_peer_of_a_socketpair_is_this_process(self):
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        me = (os.getpid(), os.getuid(), os.getgid())
        self.assertEqual(self.c.peer(a), me)
        self.assertEqual(self.pylaunchd.peer(b.fileno()), me)
        # The fd was only borrowed: still open and still a socket.
        self.assertEqual(b.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), socket.SOCK_STREAM)

    def test_peer_names_another_process(self):
        path = self.path("peer.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(harness.DEADLINE)
        client = self.start([sys.executable, "-c", "import socket, sys, time\n"
                             "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1)", path],
                            name="peer-client")
        conn, _ = listener.accept()
        with conn:
            self.assertEqual(self.c.peer(conn), (client.pid, os.getuid(), os.getgid()))

    def test_peer_refuses_what_is_not_a_unix_socket(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            with self.assertRaises(OSError) as cm:
                self.c.peer(tcp)
            self.assertEqual(cm.exception.errno, errno.EAFNOSUPPORT)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        with self.assertRaises(OSError) as cm:
            self.c.peer(r)
        self.assertEqual(cm.exception.errno, errno.ENOTSOCK)
        os.fstat(r)  # not closed by the attempt
        with self.assertRaises(ValueError):
            self.c.peer(-1)

    def test_set_idle_timeout_is_the_kernels_timeout(self):
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.pylaunchd.set_idle_timeout(a, 0.25)
        for opt in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            sec, usec = struct.unpack("ll", a.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("ll")))
            # The kernel keeps it in jiffies: 0.25 s reads back as, e.g., 0.252 s.
            self.assertAlmostEqual(sec + usec / 1e6, 0.25, delta=0.011, msg=f"socket option {opt}")
        self.assertIsNone(a.gettimeout(), "the socket stays blocking: no poll() added to each call")
        start = time.monotonic()
        with self.assertRaises(BlockingIOError):
            a.recv(1)
        waited = time.monotonic() - start
        self.assertGreaterEqual(waited, 0.2)
        self.assertLess(waited, harness.DEADLINE)
        b.sendall(b"x")
        self.assertEqual(a.recv(1), b"x", "data in time is read")
        self.c.set_idle_timeout(a.fileno(), 0)
        for opt in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            self.assertEqual(struct.unpack("ll", a.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("ll"))), (0, 0),
                             "0: no limit")

    def test_set_idle_timeout_refuses_what_the_launcher_refuses(self):
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        for bad in (-1, float("nan"), 2e9):
            with self.subTest(seconds=bad), self.assertRaises(ValueError):
                self.c.set_idle_timeout(a, bad)
        with self.assertRaises(TypeError):
            self.c.set_idle_timeout(a, "1")

    def test_values_without_a_launcher(self):
        self.assertEqual(self.c.started_by, "none")
        self.assertEqual(self.pylaunchd.started_by, "none")
        self.assertIsNone(self.pylaunchd.idle_timeout)
        self.assertEqual(self.c.listeners(), [])
        self.assertEqual(self.pylaunchd.listeners(), [])
        self.assertEqual(self.c.python, sys.executable)
        self.assertEqual(self.c.executable, harness.BINARY, "the launcher built with this tree")
        version = harness.run([harness.BINARY, "--version"]).stdout.decode()
        self.assertEqual(version.split()[:2], ["pylaunchd", self.pylaunchd.version])
        with self.assertRaises(NotImplementedError):
            self.c.check_options(["--workers", "2"])
        with open(os.path.join(SOURCE_DIR, "units", "agent.socket.in"), "rb") as f:
            self.assertEqual(self.c.template("agent.socket.in"), f.read())
        for name in ("no-such.in", "../units/agent.socket.in", ""):
            with self.subTest(template=name), self.assertRaises(KeyError):
                self.c.template(name)

    def test_journal_when_stderr_is_the_stream_named(self):
        probe = "import _pylaunchd, pylaunchd; print(_pylaunchd.journal, pylaunchd.JournalHandler().journal)"
        env = harness.clean_env({"PYTHONPATH": TREE})
        err_path = self.path("stderr")
        with open(err_path, "wb") as err:
            st = os.fstat(err.fileno())
            for stream, expected in ((f"{st.st_dev}:{st.st_ino}", "True True"), (f"{st.st_dev}:1", "False False"),
                                     ("junk", "False False")):
                with self.subTest(JOURNAL_STREAM=stream):
                    out = subprocess.run([SYSTEM_PYTHON, "-c", probe], stdout=subprocess.PIPE, stderr=err,
                                         env={**env, "JOURNAL_STREAM": stream}, timeout=harness.DEADLINE)
                    self.assertEqual(out.stdout.decode().strip(), expected)

    def test_datagram_recv_checks_nothing_outside_the_launcher(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(b.close)
        d = self.pylaunchd.Datagram(socket.AF_UNIX, socket.SOCK_DGRAM, 0, a.detach())
        self.addCleanup(d.close)
        b.send(b"one")
        self.assertEqual(d.recv(10), b"one")
        self.assertIsNone(self.c.check_datagram(d, socket.AF_UNIX, None))


#: Reports, from inside the launcher, where _pylaunchd and pylaunchd came from and what they hold,
#: with a copy of the fallback tree first on sys.path (the agent's own directory holds it).
INSIDE_AGENT = """
import hashlib, json, os, sys
import _pylaunchd, pylaunchd

def handle(conn):
    finders = [f.find_spec("_pylaunchd", None) for f in sys.meta_path if hasattr(f, "find_spec")]
    first = next(s for s in finders if s is not None)
    templates = {}
    for name in sys.argv[1:]:
        try:
            templates[name] = hashlib.sha256(_pylaunchd.template(name)).hexdigest()
        except KeyError:
            templates[name] = None
    conn.sendall(json.dumps({
        "sys_path0": sys.path[0],
        "fallback_beside": os.path.exists(os.path.join(sys.path[0], "_pylaunchd.py")),
        "origin": _pylaunchd.__spec__.origin,
        "found_first": first.origin,
        "pylaunchd_file": getattr(pylaunchd, "__file__", None),
        "started_by": pylaunchd.started_by,
        "names": {n: "callable" if callable(getattr(_pylaunchd, n)) else "value"
                  for n in dir(_pylaunchd) if not n.startswith("_")},
        "templates": templates,
    }).encode())
"""


class InsideTheLauncher(harness.E2ETestCase):
    """The built-in module wins inside the launcher, and the fallback mirrors it name for name."""

    def test_builtin_wins_and_names_match(self):
        _, fallback, _ = load_tree()
        # The agent's directory is sys.path[0]: put the whole fallback tree there.
        for rel in ("_pylaunchd.py", "pylaunchd/__init__.py", "pylaunchd/testing.py"):
            os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
            with open(os.path.join(TREE, rel), "rb") as src, open(self.path(rel), "wb") as dst:
                dst.write(src.read())
        templates = sorted(os.listdir(os.path.join(SOURCE_DIR, "units")) + os.listdir(os.path.join(SOURCE_DIR, "plist")))
        templates = [t for t in templates if t.endswith(".in")]
        agent = self.write_agent("inside_agent.py", INSIDE_AGENT)
        addr = self.unix_address()
        self.serve_listen(agent, *templates, listen=[addr])
        got = harness.fetch_json(addr)
        self.assertTrue(got["fallback_beside"], got)
        self.assertEqual(got["origin"], "built-in", "the agent imported the fallback, not the launcher's module")
        self.assertEqual(got["found_first"], "built-in",
                         "an import of _pylaunchd would find the fallback before the built-in module")
        self.assertFalse(os.path.exists(got["pylaunchd_file"] or ""),
                         f"pylaunchd came from {got['pylaunchd_file']}, not from the launcher")
        self.assertEqual(got["started_by"], "listen")
        self.assertEqual(public_names(fallback), got["names"],
                         "_pylaunchd.py (launcher/_pylaunchd.py.in) and the launcher's _pylaunchd (module.c) "
                         "must have the same public names, functions and values alike")
        for name in templates:
            with open(os.path.join(SOURCE_DIR, "units" if name in os.listdir(os.path.join(SOURCE_DIR, "units"))
                                   else "plist", name), "rb") as f:
                ours = hashlib.sha256(fallback.template(name)).hexdigest()
                self.assertEqual(got["templates"][name], ours, f"template {name}: launcher and fallback differ")
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), ours)


class Connect(harness.E2ETestCase):
    """pylaunchd.testing.connect() against the real ROT13 agent and small handlers."""

    def setUp(self):
        super().setUp()
        self.pylaunchd, self.c, self.testing = load_tree()
        spec = importlib.util.spec_from_file_location("Agent", harness.ROT13_AGENT)
        self.agent = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.agent)

    def test_rot13_agent(self):
        with self.testing.connect(self.agent) as c:
            c.sendall(b"Hello\n")
            self.assertEqual(c.recv(100), b"Uryyb\n")
            c.sendall(b"The Quick Brown Fox, 1234!\nand a last line")
            c.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := c.recv(65536):
                answer += chunk
            self.assertEqual(answer, harness.rot13(b"The Quick Brown Fox, 1234!\nand a last line"))
            self.assertIsInstance(c, socket.socket)

    def test_handle_gets_what_the_launcher_gives(self):
        seen = {}

        def handle(conn):
            seen.update(type=type(conn), timeout=conn.gettimeout(), family=conn.family, peer=self.pylaunchd.peer(conn),
                        thread=threading.current_thread() is not threading.main_thread())
            conn.sendall(b"hi")

        with self.testing.connect(handle) as c:
            self.assertEqual(c.recv(10), b"hi")
            self.assertEqual(c.recv(10), b"", "closed after handle() returns")
        self.assertIs(seen["type"], self.pylaunchd.Connection)
        self.assertIsNone(seen["timeout"], "blocking, as the launcher hands it over")
        self.assertEqual(seen["family"], socket.AF_UNIX)
        self.assertEqual(seen["peer"], (os.getpid(), os.getuid(), os.getgid()))
        self.assertTrue(seen["thread"], "handle() runs in a thread of its own")

    def test_handlers_exception_is_raised_in_the_test(self):
        def handle(conn):
            conn.recv(100)
            raise ValueError("the handler broke")

        try:
            with self.testing.connect(handle) as c:
                c.sendall(b"x\n")
                self.assertEqual(c.recv(100), b"Uryyb\n")  # fails: EOF, since the handler raised
        except ValueError as e:
            raised = e
        else:
            self.fail("the handler's ValueError was not raised in the test")
        self.assertEqual(str(raised), "the handler broke")
        self.assertIsInstance(raised.__context__, AssertionError, "the test's own failure stays visible")
        frames = []
        tb = raised.__traceback__
        while tb:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        self.assertIn("handle", frames, "the handler's traceback is kept")

    def test_handler_raising_after_a_passing_block(self):
        def handle(conn):
            conn.sendall(b"ok")
            sys.exit(3)

        with self.assertRaises(SystemExit) as cm:
            with self.testing.connect(handle) as c:
                self.assertEqual(c.recv(10), b"ok")
        self.assertEqual(cm.exception.code, 3)

    def test_a_handler_that_never_answers_times_out_the_tests_recv(self):
        with self.testing.connect(lambda conn: conn.recv(100), timeout=0.3) as c:
            start = time.monotonic()
            with self.assertRaises(TimeoutError):
                c.recv(100)
            self.assertLess(time.monotonic() - start, harness.DEADLINE)

    def test_a_handler_that_ignores_eof_times_out(self):
        release = threading.Event()
        self.addCleanup(release.set)

        def handle(conn):
            release.wait(harness.DEADLINE)

        start = time.monotonic()
        with self.assertRaises(TimeoutError) as cm:
            with self.testing.connect(handle, timeout=0.3):
                pass
        self.assertLess(time.monotonic() - start, harness.DEADLINE / 2)
        self.assertIn("handle() still running", str(cm.exception))

    def test_what_the_handler_sends_after_the_block_is_dropped(self):
        def handle(conn):
            while conn.recv(100):
                pass
            for _ in range(64):
                conn.sendall(b"x" * 65536)  # more than the socket buffers hold: only a reader ends this

        with self.testing.connect(handle, timeout=5) as c:
            c.sendall(b"go")

    def test_connection_timeout_set_at_import_is_on_each_connection(self):
        # agent/Agent.py calls set_connection_timeout(IDLE_TIMEOUT) when imported (setUp did).
        self.addCleanup(self.c.set_connection_timeout, self.c.connection_timeout())
        seen = []

        def handle(conn):
            sec, usec = struct.unpack("ll", conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.calcsize("ll")))
            seen.append(sec + usec / 1e6)

        with self.testing.connect(handle):
            pass
        self.assertAlmostEqual(seen[-1], self.agent.IDLE_TIMEOUT, delta=0.011, msg="the agent's own limit")
        self.pylaunchd.set_connection_timeout(0.25)
        with self.testing.connect(handle):
            pass
        self.assertAlmostEqual(seen[-1], 0.25, delta=0.011, msg="as set")
        self.pylaunchd.set_connection_timeout(0)
        with self.testing.connect(handle):
            pass
        self.assertEqual(seen[-1], 0, "0: none")
        for bad in (-1, float("nan"), 2e9):
            with self.subTest(seconds=bad), self.assertRaises(ValueError):
                self.pylaunchd.set_connection_timeout(bad)

    def test_detach_keeps_the_fd(self):
        kept = []

        def handle(conn):
            kept.append(conn.detach())

        with self.testing.connect(handle):
            pass
        self.addCleanup(os.close, kept[0])
        os.fstat(kept[0])

    def test_seqpacket_and_refusals(self):
        def handle(conn):
            conn.sendall(conn.recv(100).upper())

        with self.testing.connect(handle, type=socket.SOCK_SEQPACKET) as c:
            c.send(b"one")
            self.assertEqual(c.recv(100), b"ONE")
        with self.assertRaises(ValueError):
            with self.testing.connect(handle, type=socket.SOCK_DGRAM):
                pass
        with self.assertRaises(TypeError):
            with self.testing.connect(types.ModuleType("NoHandle")):
                pass


class ReadmeExample(harness.E2ETestCase):
    """agent/test_Agent.py, as the README shows it, with the system Python and BUILD/python."""

    def test_example_runs_with_the_build_tree(self):
        example = os.path.join(harness.AGENT_DIR, "test_Agent.py")
        out = harness.run([SYSTEM_PYTHON, "-c", RUN_TESTS, example], cwd=harness.AGENT_DIR,
                          env=harness.clean_env({"PYTHONPATH": TREE, "PYTHONDONTWRITEBYTECODE": "1"}))
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn(b"passed test_rot13", out.stdout)

    def test_example_fails_without_the_tree(self):
        example = os.path.join(harness.AGENT_DIR, "test_Agent.py")
        out = harness.run([SYSTEM_PYTHON, "-c", RUN_TESTS, example], cwd=harness.AGENT_DIR,
                          env=harness.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}))
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(b"No module named 'pylaunchd'", out.stderr)

    def test_readme_shows_the_example_as_it_is(self):
        with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "pylaunchd.testing" in b]
        self.assertTrue(blocks, "README.md should show agent/test_Agent.py as its pylaunchd.testing example")
        with open(os.path.join(harness.AGENT_DIR, "test_Agent.py"), encoding="utf-8") as f:
            example = f.read()

        def code(text):
            return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]

        self.assertIn(code(example), [code(b) for b in blocks], "README's example differs from agent/test_Agent.py")


if __name__ == "__main__":
    harness.main()
