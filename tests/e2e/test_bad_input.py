#!/usr/bin/env python3
"""Scenario: the bad-input matrix of issue 7, one table row per kind of bad input.

Every row states what is given, the exit code expected (or None: serving continues), and key
words of the message. Four tables:

  ENV_ROWS      the activation environment (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, fd 3, an
                unknown --socket-name): the launcher is exec'd by `sh -c 'LISTEN_PID=$$ ... exec'`,
                so LISTEN_PID is its own pid, with fd 3 set up by a small trampoline;
  AGENT_ROWS    an agent that cannot run, started by systemd-socket-activate with a client
                waiting: the exit code, the message, and the waiting client closed, not left hanging;
  HANDLER_ROWS  handlers that raise, block forever, call sys.exit, close the connection themselves;
  CLIENT_ROWS   clients that send binary and NUL bytes, an endless line, nothing at all, vanish
                mid-reply, or come 1000 at once.

After every row that keeps serving, the launcher's open fd count (/proc/PID/fd) must be back to
the baseline measured after its first request: no fd leaks. test_bad_start.py and
test_robustness.py hold the neighbouring cases (--listen refusals, one raising handler, EMFILE).
"""

import os
import resource
import selectors
import shlex
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import harness
from harness import (DEADLINE, EXIT_ACTIVATION, EXIT_AGENT_BROKEN, EXIT_AGENT_MISSING, EXIT_AGENT_NO_HANDLER,
                     EXIT_OK, EXIT_USAGE, converse, rot13)

#: The second local user, for the row where the agent is unreadable (root reads anything).
TEST_USER = harness.OWNER_USER

#: Put the given fds at 3, 4, ... ("devnull" opens /dev/null there), then exec the rest of argv.
#: dash cannot redirect from an fd above 9, and the test's sockets are usually above 9.
TRAMPOLINE = r"""
import fcntl, os, sys
specs = [s for s in sys.argv[1].split(",") if s]
high = [os.open(os.devnull, os.O_RDWR) if s == "devnull" else int(s) for s in specs]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in high]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
for fd in high:
    os.close(fd)
os.execvp(sys.argv[2], sys.argv[2:])
"""

#: ROT13 per line, with command lines that make the handler misbehave in one way each.
MATRIX_AGENT = """
import os, sys, threading

_U = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_L = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_U + _L, _U[13:] + _U[:13] + _L[13:] + _L[:13])

def handle(conn):
    pending = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        pending += chunk
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            if line == b"raise":
                raise RuntimeError("e2e: this handler raises on purpose")
            if line == b"block":
                conn.sendall(b"blocking\\n")
                threading.Event().wait()  # forever, whatever the client does
            if line == b"exit 4":
                conn.sendall(b"bye\\n")
                sys.exit(4)
            if line == b"close":
                conn.sendall(b"closing\\n")
                conn.close()
                return
            if line == b"detach":
                conn.sendall(b"detaching\\n")
                os.close(conn.detach())
                return
            conn.sendall(line.translate(_ROT13) + b"\\n")
    if pending:
        conn.sendall(pending.translate(_ROT13))
"""


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def connections_open(pid: int) -> int:
    """How many of pid's fds are connected unix sockets (/proc/net/unix state 03): connections a
    handler still holds, as opposed to listeners, pipes and files."""
    socket_inodes = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            socket_inodes.add(target[8:-1])
    connected = 0
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[5] == "03" and fields[6] in socket_inodes:
                connected += 1
    return connected


def fd_listing(pid: int) -> str:
    out = []
    for name in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            out.append(f"  {name} -> {os.readlink(f'/proc/{pid}/fd/{name}')}")
        except OSError:
            pass
    return "\n".join(out)


def test_user():
    return harness.local_user(TEST_USER)


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


# --- table 1: the activation environment --------------------------------------------------------

#: Placeholder for "the launcher's own pid" in LISTEN_PID (sh's $$, which exec keeps).
OWN_PID = "$$"
UNSET = None


@dataclass
class EnvRow:
    name: str
    fds: tuple             # what fds 3, 4, ... are: "socket" (a listening unix socket), "devnull"
    listen_fds: Optional[str]
    listen_pid: Optional[str] = OWN_PID
    fdnames: Optional[str] = UNSET
    code: Optional[int] = EXIT_ACTIVATION  # None: it must serve
    words: tuple = ()
    options: tuple = ()


ENV_ROWS = (
    # The control row: a well-formed environment is served.
    EnvRow("valid_one_socket", ("socket",), "1", fdnames="rot", code=None),
    EnvRow("fds_garbage", ("socket",), "1x", words=("LISTEN_FDS=1x", "not valid", "Invalid argument")),
    EnvRow("fds_empty", ("socket",), "", words=("LISTEN_FDS= ", "not valid", "Invalid argument")),
    EnvRow("fds_negative", ("socket",), "-1", words=("LISTEN_FDS=-1", "not valid")),
    EnvRow("fds_zero", ("socket",), "0", words=("LISTEN_FDS=0", "not valid")),
    # 99999 descriptors promised, one passed: fd 4 is not open.
    EnvRow("fds_huge", ("socket",), "99999", words=("LISTEN_FDS=99999", "not valid", "Bad file descriptor")),
    EnvRow("fds_beyond_int", ("socket",), "2147483648",
           words=("LISTEN_FDS=2147483648", "not valid", "out of range")),
    EnvRow("fds_second_missing", ("socket",), "2", words=("LISTEN_FDS=2", "not valid", "Bad file descriptor")),
    # Another process's variables: not activated, and with nothing else to serve that is usage.
    EnvRow("pid_of_another_process", ("socket",), "1", listen_pid="1", code=EXIT_USAGE,
           words=("no sockets to serve", "systemd-socket-activate", "--listen")),
    EnvRow("pid_of_another_process_fds_garbage", ("socket",), "abc", listen_pid="1", code=EXIT_USAGE,
           words=("no sockets to serve",)),
    EnvRow("pid_garbage", ("socket",), "1", listen_pid="abc", words=("LISTEN_PID=abc", "not valid")),
    EnvRow("pid_empty", ("socket",), "1", listen_pid="", words=("LISTEN_PID= ", "not valid")),
    EnvRow("pid_zero", ("socket",), "1", listen_pid="0", words=("LISTEN_PID=0", "not valid")),
    EnvRow("pid_negative", ("socket",), "1", listen_pid="-5", words=("LISTEN_PID=-5", "not valid")),
    EnvRow("fdnames_more_than_fds", ("socket",), "1", fdnames="a:b",
           words=("LISTEN_FDNAMES=a:b", "not valid", "Invalid argument")),
    EnvRow("fdnames_fewer_than_fds", ("socket", "socket"), "2", fdnames="only",
           words=("LISTEN_FDNAMES=only", "not valid", "Invalid argument")),
    EnvRow("fd3_is_dev_null", ("devnull",), "1", words=("fd 3", "not a socket", "Listen*=")),
    EnvRow("fd3_is_dev_null_named", ("devnull",), "1", fdnames="web", words=("fd 3 ('web')", "not a socket")),
    # launchd is not here: an unknown Sockets key finds nothing, which is usage, not a crash.
    EnvRow("unknown_socket_name", (), UNSET, listen_pid=UNSET, code=EXIT_USAGE,
           words=("no sockets to serve",), options=("--socket-name", "NoSuchKeyE2E")),
)


class ActivationEnvironment(harness.E2ETestCase):
    """ENV_ROWS: each row execs pylaunchd with a LISTEN_* environment and fds 3.. as described."""

    def listening_socket(self, name: str) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(self.path(name))
        s.listen(16)
        return s

    def argv(self, row: EnvRow, fd_specs) -> list:
        assigns = []
        for var, value in (("LISTEN_PID", row.listen_pid), ("LISTEN_FDS", row.listen_fds),
                           ("LISTEN_FDNAMES", row.fdnames)):
            if value is UNSET:
                continue
            assigns.append(f"{var}=$$" if value == OWN_PID else f"{var}={shlex.quote(value)}")
        script = " ".join(assigns + ['exec "$0" "$@"'])
        return [sys.executable, "-c", TRAMPOLINE, ",".join(fd_specs),
                "sh", "-c", script, harness.BINARY, *row.options, harness.ROT13_AGENT]

    def run_row(self, row: EnvRow) -> None:
        socks = [self.listening_socket(f"{row.name}-{i}.sock") for i, kind in enumerate(row.fds) if kind == "socket"]
        fd_specs, pass_fds, it = [], [], iter(socks)
        for kind in row.fds:
            if kind == "socket":
                s = next(it)
                fd_specs.append(str(s.fileno()))
                pass_fds.append(s.fileno())
            else:
                fd_specs.append(kind)
        argv = self.argv(row, fd_specs)
        what = f"row {row.name}: {argv[6]}"
        if row.code is not None:
            r = harness.run(argv, pass_fds=pass_fds)
            err = r.stderr.decode("utf-8", "replace")
            self.assertEqual(r.returncode, row.code, f"{what}: exit status; stderr:\n{err}")
            self.assertInStderr(list(row.words), err, what)
            self.assertNotIn("Traceback", err, f"{what}: refused before Python runs the agent")
            return
        # A row that must serve: the launcher takes fd 3 and answers on it.
        server = self.start(argv, name="pylaunchd", pass_fds=pass_fds)
        for s in socks:
            s.close()  # the launcher has its own copies; ours must not answer anything
        addr = harness.Address.unix(self.path(f"{row.name}-0.sock"))
        harness.wait_for_socket(addr, proc=server)
        self.assertServesRot13(addr, what)
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, f"{what}: SIGTERM after serving")

    def test_rows(self):
        for row in ENV_ROWS:
            with self.subTest(row=row.name):
                self.run_row(row)


# --- table 2: agents that cannot run ----------------------------------------------------------------

MISSING, UNREADABLE = object(), object()


@dataclass
class AgentRow:
    name: str
    source: object  # the agent's text, MISSING, or UNREADABLE (run as TEST_USER, file mode 000)
    code: int
    words: tuple


AGENT_ROWS = (
    AgentRow("missing", MISSING, EXIT_AGENT_MISSING, ("cannot be found", "No such file or directory")),
    AgentRow("unreadable", UNREADABLE, EXIT_AGENT_MISSING, ("cannot be read", "Permission denied",
                                                            "check its permissions")),
    AgentRow("syntax_error", "def handle(conn)\n    pass\n", EXIT_AGENT_BROKEN,
             ("failed to import", "SyntaxError", "line 1")),
    AgentRow("import_error", "import no_such_module_e2e\n\ndef handle(conn):\n    pass\n", EXIT_AGENT_BROKEN,
             ("failed to import", "ModuleNotFoundError", "no_such_module_e2e")),
    AgentRow("no_handler", "def helper(conn):\n    pass\n", EXIT_AGENT_NO_HANDLER,
             ("neither handle(conn) nor serve(listeners)",)),
)


class BrokenAgents(harness.E2ETestCase):
    """AGENT_ROWS, socket-activated: systemd-socket-activate starts pylaunchd for a waiting client;
    the agent cannot run, so pylaunchd closes the waiting client (never answering it) and holds
    the socket, closing whatever arrives, rather than letting each connection start a failing
    instance again (broken.c); told to stop, it exits with the row's code."""

    def run_row(self, row: AgentRow) -> None:
        what = f"row {row.name}"
        prefix = []
        if row.source is MISSING:
            agent = self.path("no_such_agent.py")
        else:
            agent = self.write_agent(f"{row.name}_agent.py",
                                     "def handle(conn):\n    conn.sendall(b'never')\n"
                                     if row.source is UNREADABLE else row.source)
        sockdir = self.tmp
        if row.source is UNREADABLE:
            user = test_user()  # root reads any file, so unreadable needs another user
            # The launcher runs as TEST_USER: it must reach the binary, the agent's directory and
            # the socket's, all owned by it or root and not writable by others (StrictModes).
            os.chmod(self.tmp, 0o755)
            sockdir = self.path(f"{row.name}-dir")
            os.mkdir(sockdir, 0o755)
            os.chown(sockdir, user.pw_uid, user.pw_gid)
            moved = os.path.join(sockdir, os.path.basename(agent))
            os.rename(agent, moved)
            agent = moved
            os.chown(agent, user.pw_uid, user.pw_gid)
            os.chmod(agent, 0)
            prefix = harness.exec_as_user(TEST_USER)  # execs: SIGTERM reaches the launcher itself
        addr = harness.Address.unix(os.path.join(sockdir, f"{row.name}.sock"))
        sa = self.start([*prefix, "systemd-socket-activate", "-l", addr.path, harness.BINARY, agent],
                        name="systemd-socket-activate")
        # The first connection starts pylaunchd: it is the waiting client.
        waiting = harness.connect_when_ready(addr, proc=sa)
        self.addCleanup(waiting.close)
        waiting.settimeout(DEADLINE)
        self.assertEqual(waiting.recv(100), b"", f"{what}: the waiting client is closed without an answer")
        sa.wait_for_stderr("holding the socket")
        sa.send_signal(signal.SIGTERM)
        self.assertExitStatus(sa, row.code, what)
        err = sa.stderr()
        self.assertInStderr([*row.words, "holding the socket and closing connections", "closed 1 connection(s)"],
                            err, what)
        self.assertTrue(os.path.exists(addr.path), f"{what}: the inherited socket file is left to systemd")

    def test_rows(self):
        for row in AGENT_ROWS:
            with self.subTest(row=row.name):
                self.run_row(row)


# --- tables 3 and 4: serving rows -------------------------------------------------------------------


@dataclass
class ServeRow:
    name: str
    agent: str                      # "rot13" (agent/Agent.py) or "matrix" (MATRIX_AGENT)
    client: Callable                # client(test, addr, server): does the bad thing, checks the answers
    exit_code: Optional[int] = None  # None: serving continues
    words: tuple = ()               # on the launcher's stderr
    not_words: tuple = ("Traceback",)  # never on its stderr
    held_fds: int = 0               # connections the row leaves legitimately open (a blocked handler)
    options: tuple = ()


def probe(addr, what: str) -> None:
    line = b"probe: Serving Continues"
    got = converse(addr, line + b"\n")
    if got != rot13(line) + b"\n":
        raise AssertionError(f"{what}: a later client got {got!r}")


def client_handler_raises(t, addr, server):
    for i in range(5):
        t.assertEqual(converse(addr, b"first\nraise\nnever answered\n"), b"svefg\n",
                      f"raise {i}: answered up to the raise, then closed")


def client_handler_blocks(t, addr, server):
    blocked = t.client(addr)
    t.assertEqual(blocked.exchange(b"block"), b"blocking", "the handler has started blocking")
    blocked.close()  # the handler blocks on, whatever this client does
    failures = harness.run_concurrently(lambda i: probe(addr, f"client {i} beside a blocked handler"), 20)
    t.assertEqual(failures, [], "other clients are served while a handler blocks forever")


def client_handler_blocks_then_sigterm(t, addr, server):
    client_handler_blocks(t, addr, server)
    server.send_signal(signal.SIGTERM)


def client_handler_exits(t, addr, server):
    probe(addr, "before sys.exit(4)")
    t.assertEqual(converse(addr, b"one\nexit 4\nnever\n"), b"bar\nbye\n",
                  "answered up to sys.exit(4), then closed")


def client_handler_closes(t, addr, server):
    # Many at once: if the launcher closed the fd number again after handle() returned, it would
    # close whichever connection reused that number, and one of these would fail.
    def one(i):
        kind = ("close", "detach", "Plain")[i % 3]
        want = {"close": b"closing\n", "detach": b"detaching\n", "Plain": b"Cynva\n"}[kind]
        got = converse(addr, kind.encode() + b"\nnever answered\n" if kind != "Plain" else b"Plain\n")
        if got != want:
            raise AssertionError(f"{kind}: got {got!r}, expected {want!r}")

    t.assertEqual(harness.run_concurrently(one, 60), [], "handlers closing or detaching their own connection")


def client_binary_nul(t, addr, server):
    every_byte = bytes(b for b in range(256) if b != 0x0A)
    data = (b"\0" * 5000 + b"\n" + every_byte * 40 + b"\n" + b"\0A\0b\0Z\0\n" + b"\n\n"
            + os.urandom(200_000).replace(b"\n", b"\0")[:60_000] + b"\n" + b"\0\0tail without newline\0")
    t.assertEqual(converse(addr, data), rot13(data), "binary and NUL bytes are answered byte-exact")


def client_endless_line(t, addr, server):
    s = addr.connect()
    stop = threading.Event()

    def endless():
        chunk = b"y" * 65536
        try:
            while not stop.is_set():
                s.sendall(chunk)  # never a newline
        except OSError:
            pass  # the agent closed: that is the point

    sender = threading.Thread(target=endless, daemon=True)
    sender.start()
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass  # unread bytes were left behind when the agent closed; what it sent came first
    finally:
        stop.set()
        sender.join(DEADLINE)
        s.close()
    t.assertEqual(got, b"error: line longer than 65536 bytes\n", "an endless line is refused with an error line")


def client_says_nothing(t, addr, server):
    for _ in range(50):
        addr.connect().close()
    t.assertEqual(converse(addr, b""), b"", "a client that only shuts down its side gets EOF")


def client_vanishes_mid_reply(t, addr, server):
    s = addr.connect()
    lines = b"".join(b"line %07d of a reply the client never finishes reading\n" % i for i in range(80_000))

    def send():
        try:
            s.sendall(lines)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    got = b""
    while len(got) < 65536:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    # Gone with most of the reply unread and maybe some of the request unsent. shutdown() first:
    # close() alone would leave the socket alive while the sender thread is blocked in it.
    s.shutdown(socket.SHUT_RDWR)
    sender.join(DEADLINE)
    s.close()
    t.assertGreaterEqual(len(got), 65536, "some of the reply arrived before the client left")
    t.assertEqual(got, rot13(lines[:len(got)]), "what arrived was right")
    harness.wait_for(lambda: any(e in server.stderr() for e in ("BrokenPipeError", "ConnectionResetError")),
                     "the handler's write error on the launcher's stderr", proc=server)


def client_thousand_at_once(t, addr, server):
    n = 1000
    raise_fd_limit(n + 256)
    socks = []
    try:
        # Every connection is made before any is sent a byte: 64 handlers wait in recv, and the
        # rest wait in the listen queue (--backlog 1024).
        for _ in range(n):
            socks.append(addr.connect())
        want, got = {}, {}
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            line = b"client %04d of %d, Connected At Once\n" % (i, n)
            want[i] = rot13(line)
            got[i] = b""
            s.sendall(line)
            s.shutdown(socket.SHUT_WR)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        end = time.monotonic() + 4 * DEADLINE
        open_ = n
        while open_ and time.monotonic() < end:
            for key, _ in sel.select(timeout=1.0):
                chunk = key.fileobj.recv(65536)
                if chunk:
                    got[key.data] += chunk
                else:
                    sel.unregister(key.fileobj)
                    open_ -= 1
        sel.close()
        wrong = [i for i in range(n) if got[i] != want[i]]
        t.assertEqual(open_, 0, f"{open_} of {n} clients never saw their answer end")
        t.assertEqual(wrong, [], f"{len(wrong)} of {n} clients got a wrong answer, e.g. "
                                 f"{[(i, got[i][:80]) for i in wrong[:3]]}")
    finally:
        for s in socks:
            s.close()


SERVE_ROWS = (
    # Handlers.
    ServeRow("handler_raises", "matrix", client_handler_raises,
             words=("handle() raised on a connection to", "serving goes on", "Traceback",
                    "RuntimeError: e2e: this handler raises on purpose"), not_words=()),
    ServeRow("handler_blocks_forever", "matrix", client_handler_blocks, held_fds=1),
    ServeRow("handler_blocks_forever_then_sigterm", "matrix", client_handler_blocks_then_sigterm,
             exit_code=EXIT_OK, options=("--stop-timeout", "1"),
             words=("SIGTERM", "1 handler(s) still running after the 1.0 s stop grace period", "abandoning")),
    ServeRow("handler_calls_sys_exit", "matrix", client_handler_exits, exit_code=4,
             words=("handle() called sys.exit(4): stopping",)),
    ServeRow("handler_closes_connection_itself", "matrix", client_handler_closes,
             not_words=("Traceback", "raised", "failed", "Bad file descriptor")),
    # Clients.
    ServeRow("client_binary_and_nul_bytes", "rot13", client_binary_nul),
    ServeRow("client_endless_line", "rot13", client_endless_line),
    ServeRow("client_sends_nothing", "rot13", client_says_nothing),
    ServeRow("client_disconnects_mid_reply", "rot13", client_vanishes_mid_reply,
             words=("handle() raised on a connection to", "serving goes on"), not_words=()),
    ServeRow("thousand_clients_at_once", "rot13", client_thousand_at_once),
)


class ServingRows(harness.E2ETestCase):
    """SERVE_ROWS: a fresh launcher per row (--listen unix, --backlog 1024); the row's client
    misbehaves; then the exit code, or: still alive, still serving, fd count back at baseline."""

    def run_row(self, row: ServeRow) -> None:
        what = f"row {row.name}"
        addr = self.unix_address(f"{row.name}.sock")
        agent = harness.ROT13_AGENT if row.agent == "rot13" else self.write_agent("matrix_agent.py", MATRIX_AGENT)
        server = self.serve_listen(agent, listen=[addr], options=["--backlog", "1024", *row.options])
        probe(addr, f"{what}: first request")
        # The baseline is taken with no connection open: the readiness probe's handler may still
        # be closing its connection, and would inflate it.
        harness.wait_for(lambda: connections_open(server.pid) == 0, "no connection in flight", proc=server)
        baseline = fd_count(server.pid)

        row.client(self, addr, server)

        if row.exit_code is not None:
            self.assertExitStatus(server, row.exit_code, what)
            self.assertFalse(os.path.exists(addr.path), f"{what}: the --listen socket file is removed")
        else:
            self.assertTrue(server.alive(), f"{what}: serving continues; stderr:\n{server.stderr()}")
            probe(addr, f"{what}: afterwards")
            want = baseline + row.held_fds
            try:
                harness.wait_for(lambda: fd_count(server.pid) == want, f"{want} open fds", proc=server)
            except AssertionError:
                self.fail(f"{what}: the launcher has {fd_count(server.pid)} fds open, expected {want} "
                          f"(baseline {baseline} + {row.held_fds} held): an fd leak\n{fd_listing(server.pid)}")
        err = server.stderr()
        self.assertInStderr(list(row.words), err, what)
        for w in row.not_words:
            self.assertNotIn(w, err, f"{what}: stderr must not mention {w!r}; it was:\n{err}")


def _serving_test(row: ServeRow):
    def test(self):
        self.run_row(row)
    test.__doc__ = f"serving row {row.name}"
    return test


for _row in SERVE_ROWS:
    setattr(ServingRows, f"test_{_row.name}", _serving_test(_row))


if __name__ == "__main__":
    harness.main()
