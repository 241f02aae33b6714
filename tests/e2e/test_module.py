#!/usr/bin/env python3
"""Scenario: the pylaunchd module an agent imports, against real counterparts.

notify()/status() with a real notify socket (the test binds the AF_UNIX datagram socket that
NOTIFY_SOCKET names and reads what arrives: READY=1, STATUS=, STOPPING=1, WATCHDOG=1, a failed
start's STATUS=Failed and ERRNO=); peer() against clients whose pid, uid and gid the test knows,
one of them another local user (pylaunchd-other, through runuser); listeners(), started_by,
idle_timeout and version; JournalHandler's "<N>" priority prefixes when stderr is the journal
(JOURNAL_STREAM names it) and plain lines otherwise; and that importing pylaunchd imports none
of logging, socket or enum.
"""

import errno
import json
import os
import signal
import socket
import time

import agentside
import harness
from harness import EXIT_AGENT_BROKEN, EXIT_AGENT_MISSING, EXIT_AGENT_NO_HANDLER, EXIT_OK, fetch_json

#: WATCHDOG_USEC for the scenarios that use the watchdog: pings every 0.1 s.
WATCHDOG_USEC = 200000


class NotifySocket:
    """The service manager's side of sd_notify: a bound AF_UNIX datagram socket that keeps every
    message that arrives, as a list of its "KEY=VALUE" lines, with the time it was read."""

    def __init__(self, case: harness.E2ETestCase, name: str = "notify.sock"):
        self.path = case.path(name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        case.addCleanup(self.sock.close)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages = []
        self.times = []

    def drain(self) -> list:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.messages
            self.messages.append(data.decode("utf-8", "replace").split("\n"))
            self.times.append(time.monotonic())

    def shown(self, start: int = 0) -> str:
        tail = self.messages[start:]
        return "\n".join(repr(m) for m in (tail if len(tail) <= 40 else ["...", *tail[-40:]]))

    def wait_for(self, predicate, what: str, proc=None, start: int = 0) -> int:
        """The index of the first message from start on for which predicate(lines) is true."""
        def find():
            self.drain()
            for i in range(start, len(self.messages)):
                if predicate(self.messages[i]):
                    return [i]
            return None

        try:
            return harness.wait_for(find, what, proc=proc)[0]
        except AssertionError as e:
            raise AssertionError(f"{e}\nnotifications since #{start}:\n{self.shown(start)}") from None

    def wait_for_line(self, line: str, proc=None, start: int = 0) -> int:
        return self.wait_for(lambda m: line in m, f"a notification with {line!r}", proc, start)

    def wait_for_count(self, line: str, n: int, proc=None, start: int = 0) -> list:
        """Indexes of the first n messages from start on that hold line."""
        def enough():
            self.drain()
            found = [i for i in range(start, len(self.messages)) if line in self.messages[i]]
            return found[:n] if len(found) >= n else None

        try:
            return harness.wait_for(enough, f"{n} notifications with {line!r}", proc=proc)
        except AssertionError as e:
            raise AssertionError(f"{e}\nnotifications since #{start}:\n{self.shown(start)}") from None

    def env(self, extra=None) -> dict:
        return harness.clean_env({"NOTIFY_SOCKET": self.path, **(extra or {})})


def status_lines(message: list) -> list:
    return [line for line in message if line.startswith("STATUS=")]


#: Each line a client sends is a JSON command: ["notify", STATE, {FIELDS}], ["status", TEXT],
#: ["env"]. The answer is one JSON line: the call's return value, or the OSError it raised.
NOTIFY_AGENT = """
import os, sys
import pylaunchd

try:
    IMPORT_NOTIFY = pylaunchd.notify("X_E2E_IMPORTED=1")  # while imported: before the launcher's READY=1
except OSError as e:
    IMPORT_NOTIFY = {"error": "OSError", "errno": e.errno}
print("import notify ->", IMPORT_NOTIFY, file=sys.stderr, flush=True)

def run(cmd):
    try:
        if cmd[0] == "notify":
            return pylaunchd.notify(cmd[1], **cmd[2])
        if cmd[0] == "status":
            return pylaunchd.status(cmd[1])
        if cmd[0] == "env":
            return sorted(k for k in os.environ if k.startswith(("WATCHDOG_", "NOTIFY_", "LISTEN_")))
        if cmd[0] == "import":
            return IMPORT_NOTIFY
    except OSError as e:
        return {"error": "OSError", "errno": e.errno}
    return {"error": "unknown command"}

def handle(conn):
    import json
    with conn.makefile("rwb") as f:
        for line in f:
            f.write(json.dumps(run(json.loads(line))).encode() + b"\\n")
            f.flush()
"""


class NotifyCase(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.notify = NotifySocket(self)
        self.agent = self.write_agent("notify_agent.py", NOTIFY_AGENT)
        self.addr = self.unix_address()

    def command(self, *cmd, addr=None):
        with self.client(addr or self.addr) as c:
            return json.loads(c.exchange(json.dumps(cmd).encode()))


class Notify(NotifyCase):
    """notify(), status(), READY=1 and STOPPING=1 through a real NOTIFY_SOCKET."""

    def test_ready_after_import_under_listen(self):
        server = self.serve_listen(self.agent, listen=[self.addr], env=self.notify.env())
        ready = self.notify.wait_for_line("READY=1", server)
        self.assertEqual(status_lines(self.notify.messages[ready]),
                         [f"STATUS=Serving notify_agent.py on '{self.addr.listen_arg()}'"],
                         "READY=1 comes with a STATUS= naming the agent and its socket, in one message")
        imported = self.notify.wait_for(lambda m: m == ["X_E2E_IMPORTED=1"], "the agent's notify at import",
                                        server)
        self.assertLess(imported, ready, "READY=1 is sent only after the agent was imported")
        self.assertIn("import notify -> True", server.stderr(), "notify() returns True when it was sent")
        self.assertFalse([m for m in self.notify.drain() if "WATCHDOG=1" in m],
                         "no WATCHDOG_USEC, no watchdog pings")

    def test_ready_under_systemd_socket_activate(self):
        sa = self.activate(self.agent, listen=[self.addr], fdnames=["ctl"],
                           setenv=[f"NOTIFY_SOCKET={self.notify.path}"])
        ready = self.notify.wait_for_line("READY=1", sa)
        self.assertEqual(status_lines(self.notify.messages[ready]), ["STATUS=Serving notify_agent.py on 'ctl'"],
                         "under systemd the STATUS names the FileDescriptorName")
        self.assertEqual(self.command("import"), True)

    def test_status_fields_and_launcher_status_yields(self):
        # The watchdog (a ping every 0.1 s) is the clock here: after each ping the launcher's
        # supervising loop checks whether to update its own STATUS, so three pings after the last
        # connection ended prove that checks ran since, without guessing a sleep.
        server = self.serve_listen(self.agent, listen=[self.addr],
                                   env=self.notify.env({"WATCHDOG_USEC": str(WATCHDOG_USEC)}))
        ready = self.notify.wait_for_line("READY=1", server)

        self.assertEqual(self.command("notify", "X_STATE=1", {"FOO": "1", "BAR": "two words"}), True,
                         "notify() returns True when sent")
        foo = self.notify.wait_for(lambda m: m == ["X_STATE=1", "FOO=1", "BAR=two words"],
                                   "the agent's fields, in one message, in order", server, ready)
        self.assertEqual(self.command("notify", "", {"FOO": "1"}), True)
        foo = self.notify.wait_for(lambda m: m == ["FOO=1"], "notify(FOO='1') sends FOO=1", server, foo + 1)

        # Before the agent sets a STATUS, the launcher keeps its own up to date.
        handled = self.notify.wait_for(
            lambda m: any("connection(s) handled, 0 in flight" in s for s in status_lines(m)),
            "the launcher's own STATUS after connections", server, foo)

        self.assertEqual(self.command("status", "x"), True, "status() returns True when sent")
        mine = self.notify.wait_for(lambda m: m == ["STATUS=x"], "status('x') sends STATUS=x", server, handled)

        for i in range(3):
            self.assertEqual(self.command("notify", "", {"ROUND": str(i)}), True)
        last = self.notify.wait_for(lambda m: m == ["ROUND=2"], "the third round", server, mine)
        self.notify.wait_for_count("WATCHDOG=1", 3, server, last + 1)
        later = [m for m in self.notify.messages[mine + 1:] if status_lines(m)]
        self.assertEqual(later, [],
                         "once the agent set STATUS=x the launcher's periodic STATUS no longer overwrites it")

    def test_without_notify_socket_returns_false(self):
        self.serve_listen(self.agent, listen=[self.addr])
        self.assertEqual(self.command("import"), False, "no NOTIFY_SOCKET: notify() returns False")
        self.assertEqual(self.command("notify", "", {"FOO": "1"}), False)
        self.assertEqual(self.command("status", "x"), False)
        self.assertEqual(self.command("env"), [], "nothing of systemd's reaches the agent")

    def test_unreachable_notify_socket_raises(self):
        gone = self.path("nobody-listens.sock")
        server = self.serve_listen(self.agent, listen=[self.addr], env=harness.clean_env({"NOTIFY_SOCKET": gone}))
        self.assertEqual(self.command("notify", "", {"FOO": "1"}), {"error": "OSError", "errno": errno.ENOENT},
                         "a notify that could not be sent raises OSError")
        self.assertInStderr("ignoring", server.wait_for_stderr("cannot notify the service manager"),
                            "the launcher's own failed READY=1 is logged once, not fatal")
        self.assertEqual(self.command("import"), {"error": "OSError", "errno": errno.ENOENT},
                         "at import time too")
        self.assertTrue(server.alive(), "failing notifications never stop the launcher")
        self.assertEqual(server.stderr().count("cannot notify the service manager"), 1,
                         f"the failure is logged once, not per notification:\n{server.stderr()}")

    def test_stopping_on_sigterm_listen(self):
        server = self.serve_listen(self.agent, listen=[self.addr], env=self.notify.env())
        ready = self.notify.wait_for_line("READY=1", server)
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM")
        stopping = self.notify.wait_for_line("STOPPING=1", start=ready)
        message = self.notify.messages[stopping]
        self.assertTrue(any(s.startswith("STATUS=Stopped after ") for s in status_lines(message)),
                        f"STOPPING=1 says how many connections were handled: {message}")

    def test_stopping_on_sigterm_systemd(self):
        sa = self.activate(self.agent, listen=[self.addr], setenv=[f"NOTIFY_SOCKET={self.notify.path}"])
        ready = self.notify.wait_for_line("READY=1", sa)
        sa.send_signal(signal.SIGTERM)
        self.assertExitStatus(sa, EXIT_OK, "SIGTERM under systemd-socket-activate")
        self.notify.wait_for_line("STOPPING=1", start=ready)


class FailedStart(harness.E2ETestCase):
    """A start that fails tells the service manager why: STATUS=Failed... and ERRNO=, no READY=1."""

    CASES = [
        ("syntax error", "def handle(conn)\n    pass\n", EXIT_AGENT_BROKEN),
        ("exception at import", "raise RuntimeError('e2e at import')\n", EXIT_AGENT_BROKEN),
        ("neither handle nor serve", "X = 1\n", EXIT_AGENT_NO_HANDLER),
        ("missing file", None, EXIT_AGENT_MISSING),
    ]

    def test_failed_starts(self):
        for what, source, code in self.CASES:
            with self.subTest(what):
                notify = NotifySocket(self, f"notify-{code}-{len(what)}.sock")
                agent = self.write_agent(f"failing_{code}_{len(what)}.py", source) if source is not None \
                    else self.path("no_such_agent.py")
                r = harness.run([harness.BINARY, "--listen", f"unix:{self.path('failing.sock')}", agent],
                                env=notify.env())
                err = r.stderr.decode("utf-8", "replace")
                self.assertEqual(r.returncode, code, f"{what}: stderr:\n{err}")
                messages = notify.drain()
                self.assertFalse([m for m in messages if "READY=1" in m], f"{what}: never READY: {messages}")
                failed = [m for m in messages if any(s.startswith("STATUS=Failed") for s in status_lines(m))]
                self.assertEqual(len(failed), 1, f"{what}: one STATUS=Failed message: {messages}")
                self.assertIn(f"(exit {code})", status_lines(failed[0])[0], f"{what}: the STATUS names the exit code")
                errnos = [line[len("ERRNO="):] for line in failed[0] if line.startswith("ERRNO=")]
                if code == EXIT_AGENT_BROKEN:
                    # No errno fits an exception ("Exec format error" misled): STATUS= has its words.
                    self.assertEqual(errnos, [], f"{what}: no ERRNO=: {failed[0]}")
                    self.assertRegex(status_lines(failed[0])[0], r"^STATUS=Failed: failing_65_\d+\.py: [A-Za-z]+Error: ",
                                     f"{what}: the agent's file and the exception's last line")
                    continue
                self.assertEqual(len(errnos), 1, f"{what}: ERRNO= in the same message: {failed[0]}")
                self.assertTrue(errnos[0].isdigit() and int(errnos[0]) > 0,
                                f"{what}: ERRNO= a positive errno: {errnos}")


class Watchdog(NotifyCase):
    """WATCHDOG_USEC: the launcher pings WATCHDOG=1 at half the interval, if WATCHDOG_PID (when
    set) is its own pid; neither these variables nor NOTIFY_SOCKET reach the agent."""

    def check_pings(self, proc):
        ready = self.notify.wait_for_line("READY=1", proc)
        pings = self.notify.wait_for_count("WATCHDOG=1", 11, proc, ready)
        span = self.notify.times[pings[-1]] - self.notify.times[pings[0]]
        self.assertLess(span / 10, WATCHDOG_USEC / 1e6,
                        f"pings come more often than WATCHDOG_USEC on average: 10 intervals took {span:.2f} s")
        self.assertEqual(self.command("env"), [],
                         "WATCHDOG_USEC, WATCHDOG_PID and NOTIFY_SOCKET are unset before the agent runs")

    def test_watchdog_pid_unset(self):
        server = self.serve_listen(self.agent, listen=[self.addr],
                                   env=self.notify.env({"WATCHDOG_USEC": str(WATCHDOG_USEC)}))
        self.check_pings(server)

    def test_watchdog_pid_is_the_launcher(self):
        # sh sets WATCHDOG_PID to its own pid, then execs pylaunchd in that same process.
        server = self.start(["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', harness.BINARY,
                             "--listen", self.addr.listen_arg(), self.agent], name="pylaunchd",
                            env=self.notify.env({"WATCHDOG_USEC": str(WATCHDOG_USEC)}))
        harness.wait_for_socket(self.addr, proc=server)
        self.check_pings(server)

    def test_watchdog_pid_of_another_process(self):
        server = self.serve_listen(self.agent, listen=[self.addr],
                                   env=self.notify.env({"WATCHDOG_USEC": str(WATCHDOG_USEC), "WATCHDOG_PID": "1"}))
        ready = self.notify.wait_for_line("READY=1", server)
        # An absence, watched over ten would-be ping intervals.
        end = time.monotonic() + 10 * WATCHDOG_USEC / 2e6
        while time.monotonic() < end:
            self.notify.drain()
            time.sleep(0.02)
        self.assertEqual([m for m in self.notify.messages[ready:] if "WATCHDOG=1" in m], [],
                         "WATCHDOG_PID names another process: the watchdog is not ours")
        self.assertEqual(self.command("env"), [], "nor does NOTIFY_SOCKET, though the launcher notifies")


# --- peer() -------------------------------------------------------------------------------------

#: Answers each connection with pylaunchd.peer() of it (as a connection and as an fd); with the
#: argument "status", also sets STATUS= to the peer's uid and pid.
PEER_AGENT = """
import json, sys
import pylaunchd

def handle(conn):
    out = {}
    for label, arg in (("conn", conn), ("fd", conn.fileno())):
        try:
            out[label] = list(pylaunchd.peer(arg))
        except OSError as e:
            out[label] = {"error": type(e).__name__, "errno": e.errno}
    if sys.argv[1:] == ["status"] and isinstance(out["conn"], list):
        pid, uid, gid = out["conn"]
        out["status"] = pylaunchd.status(f"last client: uid {uid} pid {pid}")
    conn.sendall(json.dumps(out).encode() + b"\\n")
"""

#: A client in a process of its own: prints its pid, uid and gid, and what the agent answered.
PEER_CLIENT = """
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.shutdown(socket.SHUT_WR)
data = b""
while chunk := s.recv(65536):
    data += chunk
print(json.dumps({"me": [os.getpid(), os.getuid(), os.getgid()], "reply": data.decode()}))
"""

TEST_USER = harness.OTHER_USER


class Peer(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("peer_agent.py", PEER_AGENT)
        self.addr = self.unix_address()

    def test_own_process(self):
        self.serve_listen(self.agent, listen=[self.addr])
        got = fetch_json(self.addr)
        me = [os.getpid(), os.getuid(), os.getgid()]
        self.assertEqual(got, {"conn": me, "fd": me}, "peer(conn) and peer(conn.fileno()) are the client's ids")

    def test_client_process(self):
        self.serve_listen(self.agent, listen=[self.addr])
        r = harness.run(["/usr/bin/python3", "-c", PEER_CLIENT, self.addr.path])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertNotEqual(out["me"][0], os.getpid())
        self.assertEqual(json.loads(out["reply"])["conn"], out["me"], "the pid of a client in another process")

    def test_tcp_raises_oserror(self):
        addr = self.tcp_address()
        self.serve_listen(self.agent, listen=[addr])
        refused = {"error": "OSError", "errno": errno.EAFNOSUPPORT}
        self.assertEqual(fetch_json(addr), {"conn": refused, "fd": refused}, "TCP peers have no credentials")

    def other_user(self):
        if os.geteuid() != 0:
            self.skipTest("runuser needs root to run a client as another user")
        user = harness.local_user(TEST_USER)
        os.chmod(self.tmp, 0o755)  # the other user must reach the socket file
        return user

    def run_as(self, user) -> dict:
        r = harness.run(["runuser", "-u", user.pw_name, "--", "/usr/bin/python3", "-c", PEER_CLIENT, self.addr.path],
                        cwd=self.tmp)
        self.assertEqual(r.returncode, 0, f"the client run as {user.pw_name}: {r.stderr!r}")
        return json.loads(r.stdout)

    def test_other_user_uid_and_status(self):
        # Done means: an agent reads its peer's uid and sets the service STATUS through the module.
        user = self.other_user()
        notify = NotifySocket(self)
        server = self.serve_listen(self.agent, "status", listen=[self.addr], options=["--allow-uid", str(user.pw_uid)],
                                   env=notify.env())
        os.chmod(self.addr.path, 0o666)
        out = self.run_as(user)
        self.assertEqual(out["me"][1:], [user.pw_uid, user.pw_gid], f"the client ran as {user.pw_name}")
        reply = json.loads(out["reply"])
        self.assertEqual(reply["conn"], out["me"], "peer() gives the other user's pid, uid and gid")
        self.assertEqual(reply["status"], True)
        notify.wait_for(lambda m: m == [f"STATUS=last client: uid {user.pw_uid} pid {out['me'][0]}"],
                        "the STATUS the agent set from peer()", server)

    def test_other_user_refused_without_allow_uid(self):
        user = self.other_user()
        server = self.serve_listen(self.agent, listen=[self.addr])
        os.chmod(self.addr.path, 0o666)
        out = self.run_as(user)
        self.assertEqual(out["reply"], "", "another uid is closed before the agent sees it")
        server.wait_for_stderr(f"from uid {user.pw_uid}")


# --- listeners(), started_by, idle_timeout, version -----------------------------------------------

INFO_AGENT = """
import json
import pylaunchd

def handle(conn):
    ls = pylaunchd.listeners()
    conn.sendall(json.dumps({
        "listeners": [[l.name, l.fd, l.family, l.kind, l.role] for l in ls],
        "reprs": [repr(l) for l in ls],
        "started_by": pylaunchd.started_by,
        "idle_timeout": pylaunchd.idle_timeout,
        "idle_type": type(pylaunchd.idle_timeout).__name__,
        "version": pylaunchd.version,
    }).encode() + b"\\n")
"""


#: Closes the Connection while a makefile() object still uses it, as socket.socket allows: the file
#: keeps working, and the descriptor closes when the last file object does.
MAKEFILE_AGENT = """
import json, os

def handle(conn):
    f = conn.makefile("rwb")
    conn.close()
    line = f.readline()
    f.write(b"after close: " + line)
    f.flush()
    open_while_file_is = conn.fileno() != -1
    f.close()
    with open(os.environ["REPORT"], "w") as r:
        json.dump({"open_while_file_is": open_while_file_is, "closed_after": conn.fileno() == -1}, r)
"""


class MakefileClose(harness.E2ETestCase):
    def test_close_waits_for_makefile_objects(self):
        addr = self.unix_address()
        report = self.path("report.json")
        self.serve_listen(self.write_agent("makefile_agent.py", MAKEFILE_AGENT), listen=[addr],
                          env=harness.clean_env({"REPORT": report}))
        c = self.client(addr)
        c.send(b"hello\n")
        self.assertEqual(c.readline(), b"after close: hello\n", "the file outlives conn.close()")
        self.assertEqual(c.read_all(), b"", "then the connection ends")
        out = harness.wait_for(lambda: os.path.exists(report) and fetch_json_file(report), "the report")
        self.assertEqual(out, {"open_while_file_is": True, "closed_after": True})


def fetch_json_file(path: str):
    with open(path) as f:
        text = f.read()
    return json.loads(text) if text.endswith("}") else None


class ModuleInfo(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("info_agent.py", INFO_AGENT)

    def fetch_once(self, addr):
        """For a launcher that may exit when idle: the first connection that gets through is the one."""
        return json.loads(harness.converse(addr, b"", sock=harness.connect_when_ready(addr)))

    def test_two_listeners_under_systemd(self):
        a, b = self.unix_address("a.sock"), self.tcp_address()
        self.activate(self.agent, listen=[a, b], fdnames=["first", "second"])
        info = fetch_json(a)
        self.assertEqual(info["listeners"], [["first", 3, "unix", "stream", "listening"],
                                             ["second", 4, "ipv4", "stream", "listening"]],
                         "names from --fdname, families, kinds and roles, in LISTEN_FDS order")
        self.assertEqual(info["reprs"][0], "ListenerInfo(name='first', fd=3, family='unix', kind='stream', "
                                           "role='listening')")
        self.assertEqual(fetch_json(b)["listeners"], info["listeners"], "the same list on either socket")

    def test_listeners_under_listen(self):
        a, b = self.unix_address("a.sock"), self.tcp_address()
        self.serve_listen(self.agent, listen=[a, b])
        got = fetch_json(a)["listeners"]
        self.assertEqual([[n, f, k, r] for n, _, f, k, r in got],
                         [[a.listen_arg(), "unix", "stream", "listening"],
                          [b.listen_arg(), "ipv4", "stream", "listening"]],
                         "under --listen each listener is named by its address")
        self.assertEqual(len({fd for _, fd, *_ in got}), 2, f"two fds: {got}")

    def test_accept_yes_connected(self):
        addr = self.unix_address()
        # systemd names an Accept=yes connection "connection"; systemd-socket-activate only with --fdname.
        self.activate(self.agent, listen=[addr], accept=True, fdnames=["connection"])
        info = fetch_json(addr)
        self.assertEqual([[n, f, k, r] for n, _, f, k, r in info["listeners"]],
                         [["connection", "unix", "stream", "connected"]], "Accept=yes: one connected socket")
        self.assertEqual(info["started_by"], "systemd")

    def test_started_by(self):
        a = self.unix_address("systemd.sock")
        self.activate(self.agent, listen=[a])
        self.assertEqual(fetch_json(a)["started_by"], "systemd")
        b = self.unix_address("listen.sock")
        self.serve_listen(self.agent, listen=[b])
        self.assertEqual(fetch_json(b)["started_by"], "listen")
        c = self.unix_address("inetd.sock")
        self.activate(self.agent, listen=[c], accept=True, inetd=True)
        info = fetch_json(c)
        self.assertEqual(info["started_by"], "inetd", "a connected socket on fd 0")
        self.assertEqual(info["listeners"][0][2:], ["unix", "stream", "connected"])

    def test_version(self):
        b = self.unix_address()
        self.serve_listen(self.agent, listen=[b])
        self.assertEqual(fetch_json(b)["version"], agentside.launcher_versions()[0], "as pylaunchd --version says")

    def test_idle_timeout(self):
        cases = [
            ("--listen", [], False, None),
            ("--listen --idle-timeout 2 (ignored: nothing would start it again)", ["--idle-timeout", "2"], False, None),
            ("systemd-socket-activate", [], True, None),
            ("systemd-socket-activate --idle-timeout 2", ["--idle-timeout", "2"], True, 2.0),
        ]
        for i, (what, options, systemd, expected) in enumerate(cases):
            with self.subTest(what):
                addr = self.unix_address(f"idle{i}.sock")
                if systemd:
                    self.activate(self.agent, listen=[addr], options=options, wait=False)
                else:
                    self.launch(self.agent, listen=[addr], options=options)
                info = self.fetch_once(addr)
                self.assertEqual(info["idle_timeout"], expected, what)
                self.assertEqual(info["idle_type"], type(expected).__name__, what)


# --- JournalHandler -----------------------------------------------------------------------------

#: Notes what is imported before and after `import pylaunchd`, then logs through JournalHandler.
JOURNAL_AGENT = """
import sys
HEAVY = ("logging", "socket", "enum")
BEFORE = [m for m in HEAVY if m in sys.modules]
import pylaunchd
AFTER_IMPORT = [m for m in HEAVY if m in sys.modules]

def handle(conn):
    in_handle = [m for m in HEAVY if m in sys.modules]
    handler = pylaunchd.JournalHandler()
    after_handler = [m for m in HEAVY if m in sys.modules]
    import json, logging
    log = logging.getLogger("e2e")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    log.warning("warning one\\nwarning two")
    log.error("error one\\nerror two")
    log.info("info one\\ninfo two")
    log.debug("debug one\\ndebug two")
    log.critical("critical one")
    try:
        raise ValueError("e2e boom")
    except ValueError:
        log.exception("exception one")
    log.warning("last line")
    conn.sendall(json.dumps({
        "before": BEFORE, "after_import": AFTER_IMPORT, "in_handle": in_handle,
        "after_handler": after_handler, "journal": handler.journal,
        "class": [type(handler).__module__, type(handler).__name__],
        "is_handler": isinstance(handler, logging.Handler),
    }).encode() + b"\\n")
"""

EXPECTED_JOURNAL = ["<4>warning one", "<4>warning two", "<3>error one", "<3>error two", "<6>info one",
                    "<6>info two", "<7>debug one", "<7>debug two", "<2>critical one", "<3>exception one",
                    "<3>Traceback (most recent call last):"]


class Journal(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("journal_agent.py", JOURNAL_AGENT)
        self.addr = self.unix_address()
        self.journal = self.path("journal.err")
        open(self.journal, "wb").close()

    def start_journal(self, journal_stream):
        """pylaunchd -v with stderr appended to self.journal and JOURNAL_STREAM=journal_stream
        (None: not set)."""
        env = harness.clean_env({"E2E_JOURNAL": self.journal})
        if journal_stream is not None:
            env["JOURNAL_STREAM"] = journal_stream
        server = self.start(["sh", "-c", 'exec "$0" "$@" 2>>"$E2E_JOURNAL"', harness.BINARY, "-v",
                             "--listen", self.addr.listen_arg(), self.agent], name="pylaunchd", env=env)
        # One connection only: a readiness probe would log everything once more.
        info = json.loads(harness.converse(self.addr, b"", sock=harness.connect_when_ready(self.addr, proc=server)))
        return server, info

    def journal_lines(self, proc) -> list:
        harness.wait_for(lambda: "last line" in open(self.journal, encoding="utf-8").read(),
                         "the agent's last log line", proc=proc)
        with open(self.journal, encoding="utf-8") as f:
            return f.read().splitlines()

    def check_cheap_import(self, info):
        self.assertEqual((info["before"], info["after_import"], info["in_handle"]), ([], [], []),
                         "importing pylaunchd imports none of logging, socket, enum")
        self.assertIn("logging", info["after_handler"], "JournalHandler imports logging when first used")
        self.assertEqual(info["class"], ["pylaunchd", "JournalHandler"])
        self.assertTrue(info["is_handler"])

    def test_priorities_when_stderr_is_the_journal(self):
        st = os.stat(self.journal)
        server, info = self.start_journal(f"{st.st_dev}:{st.st_ino}")
        self.check_cheap_import(info)
        self.assertTrue(info["journal"], "JOURNAL_STREAM names our stderr: the handler writes priorities")
        lines = self.journal_lines(server)
        start = lines.index("<4>warning one")
        self.assertEqual(lines[start:start + len(EXPECTED_JOURNAL)], EXPECTED_JOURNAL,
                         "every line of a multi-line record carries its priority")
        rest = lines[start + len(EXPECTED_JOURNAL):]
        end = rest.index("<4>last line")
        self.assertTrue(rest[end - 1] == "<3>ValueError: e2e boom"
                        and all(line.startswith("<3>") for line in rest[:end]),
                        f"each traceback line is an error: {rest[:end + 1]}")
        self.assertIn(f"<6>connection on '{self.addr.listen_arg()}'", lines, "the launcher's own lines too")
        self.assertEqual([line for line in lines if not line[:1] == "<"], [],
                         "nothing reaches the journal without a priority")

    def test_plain_without_journal_stream(self):
        server, info = self.start_journal(None)
        self.check_cheap_import(info)
        self.assertFalse(info["journal"])
        lines = self.journal_lines(server)
        start = lines.index("warning one")
        self.assertEqual(lines[start:start + len(EXPECTED_JOURNAL)], [line[3:] for line in EXPECTED_JOURNAL],
                         "without the journal the lines are plain")
        self.assertEqual([line for line in lines if line.startswith("<")], [], "no priority prefixes")
        self.assertIn(f"pylaunchd: connection on '{self.addr.listen_arg()}'", lines)

    def test_plain_when_journal_stream_names_another_file(self):
        with open(self.path("elsewhere"), "wb"):
            pass
        st = os.stat(self.path("elsewhere"))
        server, info = self.start_journal(f"{st.st_dev}:{st.st_ino}")
        self.assertFalse(info["journal"], "JOURNAL_STREAM inherited from a parent whose stderr was the journal")
        lines = self.journal_lines(server)
        self.assertIn("warning two", lines)
        self.assertEqual([line for line in lines if line.startswith("<")], [], "no priority prefixes")


#: Sets a 0.3 s idle limit with pylaunchd.set_idle_timeout; says "timed out" when it struck.
IDLE_LIMIT_AGENT = """
import pylaunchd

def handle(conn):
    pylaunchd.set_idle_timeout(conn, 0.3)
    try:
        conn.sendall(b"hello\\n" + conn.recv(100))
    except BlockingIOError:
        conn.sendall(b"timed out\\n")
"""


class IdleLimit(harness.E2ETestCase):
    def test_set_idle_timeout_ends_a_silent_client(self):
        addr = self.unix_address()
        self.serve_listen(self.write_agent("idle_limit_agent.py", IDLE_LIMIT_AGENT), listen=[addr])
        silent = self.client(addr)
        silent.settimeout(harness.DEADLINE)
        self.assertEqual(silent.read_all(), b"timed out\n", "a client silent past the limit is told so and closed")
        self.assertEqual(harness.converse(addr, b"quick\n"), b"hello\nquick\n", "a client in time is answered")

    def test_set_idle_timeout_rejects_a_negative_limit(self):
        addr = self.unix_address()
        agent = self.write_agent("bad_limit_agent.py", IDLE_LIMIT_AGENT.replace("0.3", "-1"))
        server = self.serve_listen(agent, listen=[addr])
        self.assertEqual(harness.converse(addr, b""), b"", "the handler raised: the connection is closed")
        self.assertInStderr("ValueError", server.wait_for_stderr("ValueError"), "the bad limit is named")



#: set_connection_timeout(0.3) once, at import: every connection starts with the limit.
CONNECTION_LIMIT_AGENT = """
import pylaunchd

pylaunchd.set_connection_timeout(0.3)

def handle(conn):
    try:
        conn.sendall(b"hello\\n" + conn.recv(100))
    except BlockingIOError:
        conn.sendall(b"timed out\\n")
"""

#: The same handler with no limit set.
NO_LIMIT_AGENT = CONNECTION_LIMIT_AGENT.replace("pylaunchd.set_connection_timeout(0.3)", "")


class ConnectionLimit(harness.E2ETestCase):
    def assertLimited(self, addr, what):
        silent = self.client(addr)
        self.assertEqual(silent.read_all(), b"timed out\n", f"{what}: a silent client is cut off at the limit")
        self.assertEqual(harness.converse(addr, b"quick\n"), b"hello\nquick\n", f"{what}: a client in time is answered")

    def test_every_unix_connection_starts_with_the_limit(self):
        addr = self.unix_address()
        self.serve_listen(self.write_agent("limit_agent.py", CONNECTION_LIMIT_AGENT), listen=[addr])
        self.assertLimited(addr, "unix")
        self.assertLimited(addr, "unix, a second connection")

    def test_every_tcp_connection_starts_with_the_limit(self):
        addr = self.tcp_address()
        self.serve_listen(self.write_agent("limit_agent.py", CONNECTION_LIMIT_AGENT), listen=[addr])
        self.assertLimited(addr, "tcp")

    def test_a_handed_over_connection_has_it_too(self):
        addr = self.unix_address()
        self.activate(self.write_agent("limit_agent.py", CONNECTION_LIMIT_AGENT), listen=[addr], accept=True)
        self.assertLimited(addr, "Accept=yes")

    def run_on(self, listener: socket.socket, agent: str) -> harness.Launched:
        """pylaunchd AGENT on the test's own listener as fd 3, the way a manager keeps one."""
        script = f'exec 3<&{listener.fileno()}; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$1"'
        p = self.start(["sh", "-c", script, harness.BINARY, agent], name="pylaunchd", pass_fds=(listener.fileno(),))
        return p

    def test_a_tcp_listener_the_manager_keeps_forgets_a_past_limit(self):
        # Were the limit set on the listener for the kernel to copy to each TCP connection, the
        # manager's listener would carry it on to the next instance, and to the connections queued
        # before the agent set it (both seen): it must be each connection's own.
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        listener.setblocking(False)
        addr = harness.Address.tcp("127.0.0.1", listener.getsockname()[1])
        early = self.client(addr)  # queued before the launcher starts, as the one that starts it is
        first = self.run_on(listener, self.write_agent("limit_agent.py", CONNECTION_LIMIT_AGENT))
        self.assertEqual(early.read_all(), b"timed out\n", "a connection queued before the start has the limit")
        self.assertLimited(addr, "the first instance")
        first.send_signal(signal.SIGTERM)
        self.assertExitStatus(first, 0, "the first instance stops")
        self.run_on(listener, self.write_agent("no_limit_agent.py", NO_LIMIT_AGENT))
        slow = self.client(addr)
        time.sleep(1.0)  # three times the old limit
        slow.send(b"late\n")
        self.assertEqual(slow.readline(), b"hello\n", "an agent that sets no limit has none, whatever came before")

    def test_a_bad_limit_fails_the_import(self):
        addr = self.unix_address()
        server = self.launch(self.write_agent("bad_limit_agent.py", CONNECTION_LIMIT_AGENT.replace("0.3", "-1")),
                             listen=[addr])
        self.assertInStderr("ValueError", server.wait_for_stderr("ValueError"), "the bad limit is named")



#: What the interpreter says about itself: its paths, the frozen encodings, the collector.
START_AGENT = """
import codecs, encodings, gc, json, sys

AT_IMPORT = {"gc_enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}

def handle(conn):
    names = ("executable", "prefix", "exec_prefix", "base_prefix", "base_exec_prefix", "_stdlib_dir",
             "platlibdir")
    info = {name: getattr(sys, name) for name in names}
    info["path"] = sys.path[1:]  # [0] is the agent's directory
    info["python"] = sys.executable  # the embedded interpreter (no --venv here)
    info["encodings"] = {"origin": encodings.__spec__.origin, "path": list(encodings.__path__),
                         "file": encodings.__file__}
    info["codecs"] = [codecs.lookup(name).name for name in ("latin-1", "idna", "cp1252", "utf-8")]
    info["cp1252"] = "é€".encode("cp1252").hex()
    info.update(AT_IMPORT)
    conn.sendall(json.dumps(info).encode())
"""

SELF_REPORT = """
import json, sys
print(json.dumps({name: getattr(sys, name) for name in ("executable", "prefix", "exec_prefix", "base_prefix",
                  "base_exec_prefix", "_stdlib_dir", "platlibdir")} | {"path": sys.path}))
"""


class InterpreterStart(harness.E2ETestCase):
    """What the launcher changes in how the interpreter starts changes nothing an agent sees."""

    def setUp(self):
        super().setUp()
        self.addr = self.unix_address()
        self.serve_listen(self.write_agent("start_agent.py", START_AGENT), listen=[self.addr])
        self.info = fetch_json(self.addr)

    def test_paths_are_the_interpreters_own(self):
        own = json.loads(harness.run([self.info["python"], "-I", "-S", "-c", SELF_REPORT]).stdout)
        for name, value in own.items():
            self.assertEqual(self.info[name], value, f"sys.{name} as python -I -S has it")

    def test_frozen_encodings_are_the_standard_library_package(self):
        enc = self.info["encodings"]
        self.assertEqual(enc["origin"], "frozen", "compiled into the launcher")
        self.assertEqual(enc["path"], [os.path.join(self.info["_stdlib_dir"], "encodings")],
                         "its real directory, for the other codecs")
        self.assertEqual(enc["file"], os.path.join(self.info["_stdlib_dir"], "encodings", "__init__.py"))
        self.assertEqual(self.info["codecs"], ["iso8859-1", "idna", "cp1252", "utf-8"], "codecs load from disk")
        self.assertEqual(self.info["cp1252"], "e980")

    def test_the_collector_is_on_for_the_agent(self):
        self.assertTrue(self.info["gc_enabled"], "on when the agent is imported")
        self.assertGreater(self.info["frozen"], 1000, "what start-up made is in the permanent generation")


if __name__ == "__main__":
    harness.main()
