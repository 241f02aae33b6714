#!/usr/bin/env python3
"""Scenario: running without a service manager: --daemon, --pidfile, fifo: control, init scripts.

What users come from is python-daemon's DaemonContext and the FreeBSD named-pipe daemon: a
double fork, a locked pidfile, safe defaults (cwd /, umask 077, no inherited fds, no terminal, no
core dumps) and a FIFO a control program writes into. Each test runs the real binary the way an
init script does and checks the promises from the outside, through /proc:

  * the starting command returns only once the agent serves (no retry loop after it), or relays
    the daemon's error and its exit code, and leaves nothing behind;
  * the daemon is detached (not a session leader, no controlling terminal, reparented), in /,
    with umask 077, stdio on /dev/null or --log, no inherited fd but --keep-fd, no core dumps;
  * the pidfile holds its pid, refuses a second instance naming that pid, is taken over when
    stale and removed on a clean exit; every file the daemon creates is 0600;
  * --user drops privileges after binding; fifo: feeds agent/Control.py from agent/control.py;
  * the rendered sysvinit script (build/units/rot13.init) drives it all: start, status, a
    refused second start, reload, stop, and a pidfile left by a killed daemon.

This process makes itself a child subreaper, so every daemon is reparented to it: a thread reaps
each one the moment it exits (as init would, so `kill -0` in the init script tells the truth),
its exit status is known, and every daemon a test started is stopped in addCleanup.
"""

import fcntl
import os
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import harness
from harness import BINARY, DEADLINE, EXIT_AGENT_BROKEN, EXIT_OK, ROT13_AGENT, converse, rot13, wait_for

UNITS_DIR = os.path.join(os.path.dirname(BINARY), "units")
INIT_SCRIPT = os.path.join(UNITS_DIR, "rot13.init")
RC_SCRIPT = os.path.join(UNITS_DIR, "rot13.rc")
CONTROL_AGENT = os.path.join(harness.AGENT_DIR, "Control.py")
CONTROL_CLIENT = os.path.join(harness.AGENT_DIR, "control.py")

#: A user that exists on the test machine; the tests run as root.
#: The user --user drops to: an ordinary user from the ctest fixture local_users.
TEST_USER = harness.OWNER_USER

LINE = b"The Quick Brown Fox, 1234!"

#: The core-file limit the starting process gets, so that "the daemon's is 0" means something.
STARTER_CORE_LIMIT = 1 << 20

#: Execs argv[3:] after setting RLIMIT_CORE (argv[1], -1: unchanged) and, as argv[2] lists:
#: "ctty" takes fd 0 (a pty) as the controlling terminal (the process runs in a new session, so
#: the starting pylaunchd is a session leader with a terminal, as from a login shell); "onecpu"
#: pins it, and so the daemon it forks, to one CPU, as on a one-CPU machine.
TRAMPOLINE = r"""
import fcntl, os, resource, sys, termios
core, flags = int(sys.argv[1]), sys.argv[2].split(",")
if core >= 0:
    resource.setrlimit(resource.RLIMIT_CORE, (core, resource.RLIM_INFINITY))
if "ctty" in flags:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
if "onecpu" in flags:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
os.execv(sys.argv[3], sys.argv[3:])
"""

#: Imports slowly, then leaves a mark: the starter must not return before the mark exists.
SLOW_IMPORT_AGENT = """
import sys, time
time.sleep(1.0)
with open(sys.argv[1], "w") as f:
    f.write("imported\\n")

def handle(conn):
    data = b""
    while not data.endswith(b"\\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    conn.sendall(data.swapcase())
"""

#: Creates a file of its own at import (path in argv[1]); ROT13 on sockets, drains a FIFO.
CREATES_FILE_AGENT = """
import sys
with open(sys.argv[1], "w") as f:
    f.write("created by the agent\\n")

_T = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                     b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")

def handle(conn):
    if not hasattr(conn, "recv"):
        conn.read()
        return
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    conn.sendall(data.translate(_T))
"""

#: Prints on stdout and stderr while handling a connection, once more without a flush.
PRINTING_AGENT = """
import sys

def handle(conn):
    conn.recv(4096)
    print("agent-stdout-in-handle", flush=True)
    print("agent-stderr-in-handle", file=sys.stderr, flush=True)
    print("agent-stdout-unflushed")
    conn.sendall(b"done\\n")
"""

#: Does not compile: line 2 never closes its bracket.
SYNTAX_ERROR_AGENT = "import sys\nbroken = (\n"


# --- this process as the daemons' reaper: harness.become_subreaper(), harness.children() ---


class Daemon:
    """A daemon reparented to this process. A thread reaps it as soon as it exits."""

    def __init__(self, pid: int):
        self.pid = pid
        self.status = None
        self.error = None
        self._done = threading.Event()
        threading.Thread(target=self._reap, name=f"reap-{pid}", daemon=True).start()

    def _reap(self):
        try:
            _, st = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(st)
        except ChildProcessError as e:
            self.error = e
        self._done.set()

    def alive(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float = DEADLINE):
        """The exit status (negative: killed by that signal), or None if still running."""
        self._done.wait(timeout)
        if self.error is not None:
            raise AssertionError(f"daemon {self.pid} could not be reaped: {self.error}")
        return self.status

    def signal(self, signo: int) -> None:
        if self.alive():
            os.kill(self.pid, signo)

    def stop(self) -> None:
        """Cleanup: SIGTERM, then SIGKILL if it does not go; always reaped."""
        for signo in (signal.SIGTERM, signal.SIGKILL):
            if not self.alive():
                return
            try:
                os.kill(self.pid, signo)
            except ProcessLookupError:
                pass
            self._done.wait(DEADLINE)


# --- /proc ------------------------------------------------------------------------------------------

def proc_stat(pid: int) -> dict:
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]), "session": int(rest[3]),
            "tty_nr": int(rest[4])}


def proc_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def core_limit(limits_text: str) -> str:
    """The soft "Max core file size" of a /proc/PID/limits text."""
    m = re.search(r"^Max core file size\s+(\S+)\s+(\S+)", limits_text, re.M)
    if not m:
        raise AssertionError(f"no core limit in:\n{limits_text}")
    return m.group(1)


def proc_limits(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as f:
        return f.read()


def fd_targets(pid: int) -> dict:
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            pass
    return out


def read_pid(pidfile: str) -> int:
    with open(pidfile) as f:
        text = f.read()
    if not re.fullmatch(r"[0-9]+\n", text):
        raise AssertionError(f"pidfile {pidfile} should hold one PID and a newline, holds {text!r}")
    return int(text)


def mode(path: str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def pid_max() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


def free_privileged_port() -> int:
    """A loopback TCP port below 1024 that nobody listens on: only root may bind it."""
    for port in range(1023, 600, -1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024 on 127.0.0.1")


def converse_as(uid: int, gid: int, path, data: bytes) -> bytes:
    """converse() on a unix socket path (or a harness.Address) from a child process running as
    uid:gid. Returns the answer; raises AssertionError with the child's error when it could not
    connect."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no Python cleanup, no unittest, only _exit
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            family, where = ((socket.AF_UNIX, path) if isinstance(path, str)
                             else (path.family, path.sockaddr()))
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(DEADLINE)
                s.connect(where)
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                answer = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            os.write(w, b"OK" + answer)
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported to the parent through the pipe
            os.write(w, f"ERR{type(e).__name__}: {e}".encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    os.waitpid(pid, 0)
    if not out.startswith(b"OK"):
        raise AssertionError(f"a client running as uid {uid} on {path}: {out[3:].decode('utf-8', 'replace')}")
    return out[2:]


# --- the base class -------------------------------------------------------------------------------

class DaemonTestCase(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.daemons = {}
        # Registered first, so it runs last: whatever a failed scenario left behind is killed.
        self.addCleanup(self.sweep_leftovers)

    def sweep_leftovers(self):
        for pid in harness.pylaunchd_children() - set(self.daemons):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def adopt(self, pid: int, what: str) -> Daemon:
        """Track a daemon reparented to us: reaped when it exits, stopped at cleanup."""
        if pid in self.daemons:
            return self.daemons[pid]
        self.assertIn(pid, harness.children(), f"{what}: the daemon (pid {pid}) should have been reparented to this "
                                       "test process, a child subreaper")
        d = Daemon(pid)
        self.daemons[pid] = d
        self.addCleanup(d.stop)
        return d

    def adopt_new(self, what: str) -> list:
        """Every pylaunchd reparented to us since the last look."""
        return [self.adopt(pid, what) for pid in sorted(harness.pylaunchd_children() - set(self.daemons))]

    def launcher(self, options, agent=ROT13_AGENT, agent_args=(), core=None, ctty=None, umask=-1, cwd=None,
                 pass_fds=(), env=None, argv=None, one_cpu=False) -> subprocess.CompletedProcess:
        """Run pylaunchd OPTIONS AGENT ARGS to completion in a session of its own.

        core: RLIMIT_CORE for it; ctty: a pty slave fd it takes as stdin and controlling terminal;
        one_cpu: pinned to one CPU with the daemon it forks.
        Its stdout and stderr are pipes: a daemon that kept them would make this time out."""
        argv = list(argv) if argv is not None else [BINARY, *options, agent, *agent_args]
        stdin = subprocess.DEVNULL
        flags = [name for name, on in (("ctty", ctty is not None), ("onecpu", one_cpu)) if on]
        if core is not None or flags:
            argv = [sys.executable, "-c", TRAMPOLINE, str(-1 if core is None else core), ",".join(flags) or "-",
                    *argv]
            if ctty is not None:
                stdin = ctty
        start = time.monotonic()
        with subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=harness.clean_env() if env is None else env, cwd=cwd, pass_fds=pass_fds,
                              umask=umask, start_new_session=True) as p:
            try:
                out, err = p.communicate(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                raise AssertionError(f"{argv} did not return within {DEADLINE:.0f} s (does the daemon keep the "
                                     f"starter's stdout or stderr open?); stderr:\n"
                                     f"{err.decode('utf-8', 'replace')}") from None
        r = subprocess.CompletedProcess(argv, p.returncode, out, err)
        r.pid = p.pid
        r.elapsed = time.monotonic() - start
        r.err = err.decode("utf-8", "replace")
        return r

    def start_daemon(self, options, agent=ROT13_AGENT, agent_args=(), pidfile=None, what="--daemon start",
                     **kwargs):
        """launcher(--daemon --pidfile PIDFILE OPTIONS ...), asserting it returned 0; returns the
        run and the adopted Daemon whose pid the pidfile holds."""
        pidfile = pidfile or self.path("agent.pid")
        r = self.launcher(["--daemon", "--pidfile", pidfile, *options], agent, agent_args, **kwargs)
        # Adopt first, so that a daemon is stopped even when the assertions below fail.
        fresh = self.adopt_new(what)
        self.assertEqual(r.returncode, EXIT_OK, f"{what}: exit status {r.returncode}; stderr:\n{r.err}")
        pid = read_pid(pidfile)
        d = self.adopt(pid, what)
        self.assertEqual([x.pid for x in fresh], [pid], f"{what}: exactly one process should remain, the one "
                                                         "the pidfile names")
        return r, d

    def stop_via_pidfile(self, pidfile: str, d: Daemon, what: str) -> None:
        """kill -TERM $(cat PIDFILE), as an administrator would; the daemon must exit 0."""
        r = subprocess.run(["sh", "-c", 'kill -TERM "$(cat "$1")"', "sh", pidfile], capture_output=True,
                           timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, f"{what}: kill -TERM $(cat {pidfile}) failed: {r.stderr!r}")
        status = d.wait()
        self.assertEqual(status, EXIT_OK, f"{what}: the daemon should exit 0 on SIGTERM, got {status}")

    def assertServesAtOnce(self, addr: harness.Address, what: str) -> None:
        """One connect, no retry: readiness is the launcher's promise, not the test's poll."""
        try:
            answer = converse(addr, LINE + b"\n")
        except OSError as e:
            self.fail(f"{what}: the socket {addr} does not answer right after the start returned: {e}")
        self.assertEqual(answer, rot13(LINE) + b"\n", f"{what}: ROT13 answer on {addr}")

    def assertMode0600(self, path: str, kind, what: str) -> None:
        st = os.lstat(path)
        self.assertTrue(kind(st.st_mode), f"{what}: {path} has the wrong file type ({oct(st.st_mode)})")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                         f"{what}: {path} should be created 0600, is {oct(stat.S_IMODE(st.st_mode))}")


# --- starting: detached, ready, safe defaults ---------------------------------------------------------

class Start(DaemonTestCase):
    def test_returns_serving_and_detached_with_safe_defaults(self):
        addr = self.unix_address()
        pidfile = self.path("agent.pid")
        extra = open(self.path("inherited.txt"), "w")
        self.addCleanup(extra.close)
        pipe_r, pipe_w = os.pipe()
        self.addCleanup(os.close, pipe_r)
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)

        # Negative control: the same start gives a process a terminal and a core limit, so the
        # daemon's lack of both below is the launcher's doing.
        ctl = self.launcher((), argv=["/bin/cat", "/proc/self/stat", "/proc/self/limits"], core=STARTER_CORE_LIMIT,
                            ctty=slave)
        self.assertEqual(ctl.returncode, 0, ctl.err)
        stat_line, _, limits = ctl.stdout.decode().partition("\n")
        self.assertNotEqual(int(stat_line[stat_line.rindex(")") + 2:].split()[4]), 0,
                            "control: a process started this way has a controlling terminal")
        self.assertEqual(core_limit(limits), str(STARTER_CORE_LIMIT), "control: and a core limit")

        r, d = self.start_daemon(["--listen", addr.listen_arg()], pidfile=pidfile, core=STARTER_CORE_LIMIT,
                                 ctty=slave, umask=0, cwd=self.tmp, pass_fds=(extra.fileno(), pipe_w))
        self.assertServesAtOnce(addr, "right after --daemon returned")
        os.close(pipe_w)

        self.assertNotEqual(d.pid, r.pid, "the daemon is not the process that was started")
        st = proc_stat(d.pid)
        self.assertEqual(st["ppid"], os.getpid(),
                         "the daemon is an orphan: its parent is the nearest subreaper (this test), "
                         f"not the starting process; /proc/{d.pid}/stat: {st}")
        self.assertEqual(st["tty_nr"], 0, "the daemon has no controlling terminal")
        self.assertNotEqual(st["session"], d.pid, "the daemon is not a session leader (the second fork)")
        self.assertNotEqual(st["session"], os.getsid(0), "the daemon is in a session of its own")
        self.assertEqual(os.readlink(f"/proc/{d.pid}/cwd"), "/", "the daemon's cwd is /")
        self.assertEqual(proc_status(d.pid)["Umask"], "0077", "the daemon's umask is 077")
        self.assertEqual(core_limit(proc_limits(d.pid)), "0", "core dumps are off by default")

        fds = fd_targets(d.pid)
        for fd in (0, 1, 2):
            self.assertEqual(fds.get(fd), "/dev/null", f"fd {fd} of the daemon points at /dev/null; fds: {fds}")
        inherited_pipe = f"pipe:[{os.fstat(pipe_r).st_ino}]"
        self.assertNotIn(extra.name, fds.values(), f"an inherited file (fd {extra.fileno()}) was closed; "
                                                   f"fds: {fds}")
        self.assertNotIn(inherited_pipe, fds.values(), f"an inherited pipe was closed; fds: {fds}")
        self.assertFalse(any(t.startswith("/dev/pts/") or t == "/dev/ptmx" for t in fds.values()),
                         f"no fd on the starting terminal; fds: {fds}")
        # And so the pipe's reader sees end-of-file at once: nobody holds its other end.
        ready, _, _ = select.select([pipe_r], [], [], DEADLINE)
        self.assertTrue(ready and os.read(pipe_r, 1) == b"", "an inherited pipe reads EOF once the starter is gone")

    def test_keep_fd_log_core_dumps_and_chdir(self):
        addr = self.unix_address()
        log = self.path("daemon.log")
        workdir = os.path.join(self.tmp, "work")
        os.mkdir(workdir)
        kept = open(self.path("kept.txt"), "w")
        dropped = open(self.path("dropped.txt"), "w")
        for f in (kept, dropped):
            self.addCleanup(f.close)
        _, d = self.start_daemon(["--listen", addr.listen_arg(), "--keep-fd", str(kept.fileno()), "--log", log,
                                  "--core-dumps", "--chdir", workdir],
                                 core=STARTER_CORE_LIMIT, pass_fds=(kept.fileno(), dropped.fileno()))
        self.assertServesAtOnce(addr, "with --keep-fd, --log, --core-dumps, --chdir")
        fds = fd_targets(d.pid)
        self.assertEqual(fds.get(0), "/dev/null", f"stdin is /dev/null; fds: {fds}")
        self.assertEqual(fds.get(1), log, f"stdout is the --log file; fds: {fds}")
        self.assertEqual(fds.get(2), log, f"stderr is the --log file; fds: {fds}")
        self.assertEqual(fds.get(kept.fileno()), kept.name, f"--keep-fd {kept.fileno()} stays open; fds: {fds}")
        self.assertNotIn(dropped.name, fds.values(), f"an inherited fd not named by --keep-fd is closed; fds: {fds}")
        self.assertEqual(core_limit(proc_limits(d.pid)), str(STARTER_CORE_LIMIT),
                         "--core-dumps leaves the inherited core limit alone")
        self.assertEqual(os.readlink(f"/proc/{d.pid}/cwd"), workdir, "--chdir DIR is the daemon's cwd")

    def test_returns_only_once_the_agent_is_imported(self):
        addr = self.unix_address()
        mark = self.path("imported.mark")
        agent = self.write_agent("slow_import.py", SLOW_IMPORT_AGENT)
        r, _ = self.start_daemon(["--listen", addr.listen_arg()], agent, (mark,))
        self.assertTrue(os.path.exists(mark), "--daemon returned before the agent's import finished")
        self.assertGreaterEqual(r.elapsed, 1.0, "the agent sleeps 1 s at import: the start cannot be quicker")
        self.assertEqual(converse(addr, b"Ready?\n"), b"rEADY?\n", "and it answers at once")


# --- the pidfile ------------------------------------------------------------------------------------

class Pidfile(DaemonTestCase):
    def test_second_start_refused_naming_the_pid(self):
        addr = self.unix_address()
        pidfile = self.path("agent.pid")
        _, d = self.start_daemon(["--listen", addr.listen_arg()], pidfile=pidfile)
        for what, sock in (("a second start on another socket", self.path("second.sock")),
                           ("a second start on the same socket", addr.path)):
            with self.subTest(what):
                r = self.launcher(["--daemon", "--pidfile", pidfile, "--listen", f"unix:{sock}"], ROT13_AGENT)
                strays = self.adopt_new(what)
                self.assertNotEqual(r.returncode, EXIT_OK, f"{what} must be refused; stderr:\n{r.err}")
                self.assertRegex(r.err, rf"\b{d.pid}\b", f"{what}: the message names the running PID")
                self.assertEqual(strays, [], f"{what}: no second daemon remains")
                self.assertEqual(read_pid(pidfile), d.pid, f"{what}: the pidfile still names the first daemon")
                if sock != addr.path:
                    self.assertFalse(os.path.exists(sock), f"{what}: the pidfile is checked before anything is bound")
                self.assertTrue(d.alive(), f"{what}: the first daemon is still running")
                self.assertServesAtOnce(addr, f"the first daemon after {what}")

    def test_stop_via_pidfile_removes_it_and_the_socket(self):
        addr = self.unix_address()
        pidfile = self.path("agent.pid")
        _, d = self.start_daemon(["--listen", addr.listen_arg()], pidfile=pidfile)
        self.assertServesAtOnce(addr, "before the stop")
        self.stop_via_pidfile(pidfile, d, "kill -TERM $(cat pidfile)")
        self.assertFalse(os.path.exists(pidfile), "the pidfile is removed on a clean exit")
        self.assertFalse(os.path.exists(addr.path), "the socket file is removed on a clean exit")

    def test_stale_pidfile_taken_over(self):
        cases = (
            ("the pid of no process", f"{pid_max()}\nand some trailing junk from another program\n"),
            ("a live pid that holds no lock (this test's)", f"{os.getpid()}\n"),
            ("an empty file", ""),
        )
        for what, content in cases:
            with self.subTest(what):
                addr = self.unix_address(f"agent{len(self.daemons)}.sock")
                pidfile = self.path(f"stale{len(self.daemons)}.pid")
                with open(pidfile, "w") as f:
                    f.write(content)
                _, d = self.start_daemon(["--listen", addr.listen_arg()], pidfile=pidfile, what=what)
                with open(pidfile) as f:
                    self.assertEqual(f.read(), f"{d.pid}\n", f"{what}: rewritten with the new PID and nothing else")
                self.assertServesAtOnce(addr, what)

    def test_pidfile_locked_by_another_process_refused(self):
        # The lock decides, not the number: a file another process holds locked is in use, even
        # when the pid written in it runs nothing.
        addr = self.unix_address()
        pidfile = self.path("held.pid")
        holder = open(pidfile, "w+")
        self.addCleanup(holder.close)
        holder.write(f"{pid_max()}\n")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX)
        r = self.launcher(["--daemon", "--pidfile", pidfile, "--listen", addr.listen_arg()], ROT13_AGENT)
        strays = self.adopt_new("a locked pidfile")
        self.assertNotEqual(r.returncode, EXIT_OK, f"a pidfile locked by another process is in use; stderr:\n{r.err}")
        self.assertIn(str(pid_max()), r.err, "the message names the PID in the file")
        self.assertEqual(strays, [], "no daemon remains")
        self.assertFalse(os.path.exists(addr.path), "nothing was bound")
        with open(pidfile) as f:
            self.assertEqual(f.read(), f"{pid_max()}\n", "the other process's pidfile is untouched")


# --- files, output, failures -------------------------------------------------------------------------

class Files(DaemonTestCase):
    def test_created_files_are_0600_under_the_default_umask(self):
        addr = self.unix_address()
        fifo = self.path("control.fifo")
        log = self.path("daemon.log")
        pidfile = self.path("agent.pid")
        created = self.path("agent-made.txt")
        agent = self.write_agent("creates_file.py", CREATES_FILE_AGENT)
        # The starter's own umask is 0: whatever is 0600 below, the launcher made it so.
        self.start_daemon(["--listen", addr.listen_arg(), "--listen", f"fifo:{fifo}", "--log", log], agent,
                          (created,), pidfile=pidfile, umask=0)
        self.assertServesAtOnce(addr, "an agent that created a file")
        self.assertMode0600(pidfile, stat.S_ISREG, "the pidfile")
        self.assertMode0600(log, stat.S_ISREG, "the --log file")
        self.assertMode0600(addr.path, stat.S_ISSOCK, "the unix socket")
        self.assertMode0600(fifo, stat.S_ISFIFO, "the fifo: named pipe")
        self.assertMode0600(created, stat.S_ISREG, "a file the agent created")

    def test_umask_option(self):
        agent = self.write_agent("creates_file.py", CREATES_FILE_AGENT)
        for umask, file_mode, warns in (("027", 0o640, False), ("0", 0o666, True)):
            with self.subTest(umask=umask):
                addr = self.unix_address(f"umask{umask}.sock")
                created = self.path(f"made-under-{umask}.txt")
                r, d = self.start_daemon(["--umask", umask, "--listen", addr.listen_arg()], agent, (created,),
                                         pidfile=self.path(f"umask{umask}.pid"), umask=0o022)
                self.assertEqual(proc_status(d.pid)["Umask"], f"{int(umask, 8):04o}", f"--umask {umask} is honoured")
                self.assertEqual(mode(created), file_mode, f"--umask {umask}: the agent's file")
                self.assertEqual(mode(addr.path), 0o600, f"--umask {umask}: the socket is 0600 whatever the umask")
                if warns:
                    self.assertInStderr(["warning", "--umask 0"], r.err, "--umask 0 is a security hole")
                else:
                    self.assertNotIn("warning", r.err, f"--umask {umask} is no reason to warn")

    def test_log_gets_the_agents_output_not_the_terminal(self):
        addr = self.unix_address()
        agent = self.write_agent("printing.py", PRINTING_AGENT)
        pidfile = self.path("agent.pid")
        # Relative: --log names a file where the command was started, although the daemon is in /.
        r, d = self.start_daemon(["--listen", addr.listen_arg(), "--log", "daemon.log"], agent, pidfile=pidfile,
                                 cwd=self.tmp)
        log = self.path("daemon.log")
        self.assertEqual(converse(addr, b"go\n"), b"done\n")

        def logged():
            with open(log, encoding="utf-8", errors="replace") as f:
                return f.read()

        wait_for(lambda: "agent-stderr-in-handle" in logged() and "agent-stdout-in-handle" in logged(),
                 "the agent's prints in the --log file")
        self.stop_via_pidfile(pidfile, d, "stopping the printing agent")
        self.assertIn("agent-stdout-unflushed", logged(), "what the agent printed is flushed on a clean exit")
        out = r.stdout.decode() + r.err
        self.assertNotIn("agent-", out, "nothing the agent printed reaches the starting terminal")

    def test_broken_agent_relays_the_error_and_leaves_nothing(self):
        addr = self.unix_address()
        pidfile = self.path("agent.pid")
        bad = self.write_agent("broken.py", SYNTAX_ERROR_AGENT)
        # Repeated, and on one CPU where the starter and the failing daemon compete for it: what
        # the starter promises must hold at the instant it returns, every time, not most times.
        for attempt in range(20):
            r = self.launcher(["--daemon", "--pidfile", pidfile, "--listen", addr.listen_arg()], bad, one_cpu=True)
            left = {"pidfile": os.path.exists(pidfile), "socket": os.path.exists(addr.path)}
            failed = self.adopt_new("a broken agent")
            what = f"attempt {attempt + 1}"
            self.assertEqual(r.returncode, EXIT_AGENT_BROKEN, f"{what}: exit status; stderr:\n{r.err}")
            self.assertInStderr(["SyntaxError", f'File "{bad}", line 2'], r.err,
                                f"{what}: the daemon's traceback is relayed by the starting process")
            self.assertEqual(left, {"pidfile": False, "socket": False},
                             f"{what}: when the start returns 65, the failed daemon must already have removed "
                             "its pidfile and socket (and let go of the lock): otherwise `status` says running "
                             "and an immediate restart is refused as 'already running'")
            for dead in failed:
                self.assertEqual(dead.wait(), EXIT_AGENT_BROKEN, f"{what}: the failed daemon (pid {dead.pid}) "
                                                                  "exits with the same code")
        # And the fixed agent starts at once in its place.
        self.start_daemon(["--listen", addr.listen_arg()], pidfile=pidfile, what="the start after the failures")
        self.assertServesAtOnce(addr, "the fixed agent")


# --- --user -------------------------------------------------------------------------------------------

class User(DaemonTestCase):
    def setUp(self):
        super().setUp()
        pw = harness.local_user(TEST_USER)
        if os.geteuid() != 0:
            self.fail("the --user scenarios need to run as root")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # The agent must be readable by the user: a 0755 directory, a 0644 file.
        os.chmod(self.tmp, 0o755)
        self.agent = self.path("Agent.py")
        with open(ROT13_AGENT, "rb") as src, open(self.agent, "wb") as dst:
            dst.write(src.read())
        os.chmod(self.agent, 0o644)
        # Where the daemon's files go: owned by the user, as the rc.d script's prestart does it.
        self.run_dir = self.path("run")
        os.mkdir(self.run_dir, 0o755)
        os.chown(self.run_dir, self.uid, self.gid)

    def assertRunsAsUser(self, d: Daemon) -> None:
        st = proc_status(d.pid)
        self.assertEqual(st["Uid"].split(), [str(self.uid)] * 4, f"real, effective, saved, fs uid; {st['Uid']}")
        self.assertEqual(st["Gid"].split(), [str(self.gid)] * 4, f"real, effective, saved, fs gid; {st['Gid']}")
        self.assertNotIn("0", st["Groups"].split(), "root's supplementary groups are dropped")

    def test_binds_as_root_then_runs_as_the_user(self):
        # Only root may bind a port below 1024: serving there proves it bound before the drop.
        port = free_privileged_port()
        addr = harness.Address.tcp("127.0.0.1", port)
        pidfile = os.path.join(self.run_dir, "agent.pid")
        _, d = self.start_daemon(["--user", TEST_USER, "--listen", addr.listen_arg()], self.agent, pidfile=pidfile)
        # Its client is its user: on loopback TCP too, a per-user agent answers only its owner.
        self.assertEqual(converse_as(self.uid, self.gid, addr, LINE + b"\n"), rot13(LINE) + b"\n",
                         f"--user on privileged port {port}: the user's client is answered")
        self.assertRunsAsUser(d)
        self.stop_via_pidfile(pidfile, d, "stopping the --user daemon")
        self.assertFalse(os.path.exists(pidfile), "the pidfile in the user's run directory is removed")

    def test_its_user_reaches_its_unix_socket(self):
        # By default a daemon answers only its own uid on a unix socket: after --user that is the
        # user, who must then be able to connect to the socket the launcher bound as root.
        sock = os.path.join(self.run_dir, "agent.sock")
        pidfile = os.path.join(self.run_dir, "agent.pid")
        log = self.path("daemon.log")
        _, d = self.start_daemon(["--user", TEST_USER, "--listen", f"unix:{sock}", "--log", log], self.agent,
                                 pidfile=pidfile)
        self.assertRunsAsUser(d)
        st = os.stat(sock)
        try:
            answer = converse_as(self.uid, self.gid, sock, LINE + b"\n")
        except AssertionError as e:
            with open(log, errors="replace") as f:
                self.fail(f"--user {TEST_USER}: its own user cannot use the daemon's socket (owner uid {st.st_uid}, "
                          f"mode {oct(stat.S_IMODE(st.st_mode))}): {e}; daemon log:\n{f.read()}")
        self.assertEqual(answer, rot13(LINE) + b"\n", f"ROT13 for uid {self.uid}")
        self.stop_via_pidfile(pidfile, d, "stopping the --user daemon")
        self.assertFalse(os.path.exists(sock), "the socket is removed at exit")

    def test_pidfile_handed_to_the_user_and_removed_at_exit(self):
        # The launcher hands the pidfile it opened as root to the --user (daemon.c,
        # drop_privileges), so the daemon can remove it at exit. This used to run in a sticky
        # directory (/tmp-like, where only a file's owner may remove it); a pidfile there is now
        # refused, since another user could plant a link at its name first (test_attack_paths.py),
        # so it runs in the user's own run directory, as rc.d makes it.
        pidfile = os.path.join(self.run_dir, "agent.pid")
        log = self.path("daemon.log")
        addr = harness.Address.tcp("127.0.0.1", harness.free_tcp_port())
        _, d = self.start_daemon(["--user", TEST_USER, "--listen", addr.listen_arg(), "--log", log], self.agent,
                                 pidfile=pidfile)
        self.assertRunsAsUser(d)
        self.assertEqual(os.stat(pidfile).st_uid, self.uid, "the pidfile is handed to the --user")
        self.stop_via_pidfile(pidfile, d, "stopping the --user daemon")
        if os.path.exists(pidfile):
            st = os.stat(pidfile)
            with open(log, errors="replace") as f:
                self.fail(f"the pidfile {pidfile} (owner uid {st.st_uid}) remains after a clean exit; daemon log:\n"
                          f"{f.read()}")


# --- fifo: and the example control channel ----------------------------------------------------------

class Fifo(DaemonTestCase):
    def control(self, fifo: str, *words: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, CONTROL_CLIENT, fifo, *words], capture_output=True, timeout=DEADLINE,
                              env=harness.clean_env())

    def test_control_client_commands_reach_the_daemon_in_order(self):
        fifo = self.path("control.fifo")
        pidfile = self.path("control.pid")
        commands_log = self.path("commands.log")
        _, d = self.start_daemon(["--listen", f"fifo:{fifo}"], CONTROL_AGENT, (commands_log,), pidfile=pidfile)
        self.assertMode0600(fifo, stat.S_ISFIFO, "the control FIFO")
        commands = ["reload config", "rotate logs", "say héllo wörld", "stop-accepting"]
        for c in commands:
            r = self.control(fifo, *c.split())
            self.assertEqual(r.returncode, 0, f"control.py {c!r}: {r.stderr!r}")
        expected = "".join(c + "\n" for c in commands)

        def logged():
            try:
                with open(commands_log, encoding="utf-8") as f:
                    return f.read()
            except FileNotFoundError:
                return ""

        wait_for(lambda: logged() == expected or len(logged()) >= len(expected), "the commands in the agent's log")
        self.assertEqual(logged(), expected, "every command, once, in the order written")
        self.stop_via_pidfile(pidfile, d, "stopping the control daemon")
        self.assertFalse(os.path.exists(fifo), "the FIFO is removed on exit")
        self.assertFalse(os.path.exists(pidfile), "the pidfile is removed on exit")
        r = self.control(fifo, "anyone there?")
        self.assertEqual(r.returncode, 1, "control.py fails once the daemon is gone")
        self.assertIn(fifo, r.stderr.decode(), "naming the FIFO")

    def test_fifo_left_by_an_earlier_run_is_reused(self):
        fifo = self.path("control.fifo")
        os.mkfifo(fifo, 0o600)
        commands_log = self.path("commands.log")
        self.start_daemon(["--listen", f"fifo:{fifo}"], CONTROL_AGENT, (commands_log,))
        self.assertEqual(self.control(fifo, "hello").returncode, 0)
        def logged():
            try:
                with open(commands_log) as f:
                    return f.read()
            except FileNotFoundError:
                return ""

        wait_for(lambda: logged() == "hello\n", "the command through a reused FIFO")

    def test_path_that_is_not_a_fifo_refused(self):
        path = self.path("not-a-fifo")
        with open(path, "w") as f:
            f.write("precious\n")
        pidfile = self.path("agent.pid")
        r = self.launcher(["--daemon", "--pidfile", pidfile, "--listen", f"fifo:{path}"], CONTROL_AGENT)
        strays = self.adopt_new("fifo: on a regular file")
        self.assertNotEqual(r.returncode, EXIT_OK, f"a regular file is not a FIFO; stderr:\n{r.err}")
        self.assertInStderr([path, "not a FIFO"], r.err, "the refusal names the path and the problem")
        self.assertEqual(strays, [], "no daemon remains")
        self.assertTrue(stat.S_ISREG(os.lstat(path).st_mode), "the file is left as it was")
        with open(path) as f:
            self.assertEqual(f.read(), "precious\n", "and its content too")
        self.assertFalse(os.path.exists(pidfile), "no pidfile remains")


# --- the init scripts ---------------------------------------------------------------------------------

class InitScript(DaemonTestCase):
    def setUp(self):
        super().setUp()
        for script in (INIT_SCRIPT, RC_SCRIPT):
            self.assertTrue(os.path.isfile(script), f"{script} should be rendered by the build")
        run = os.path.join(self.tmp, "run")
        self.sock = harness.Address.unix(os.path.join(run, "rot13.sock"))
        self.pidfile = os.path.join(run, "rot13.pid")
        self.log = self.path("rot13.log")
        self.env = harness.clean_env({"PYLAUNCHD_SOCKET": self.sock.path, "PYLAUNCHD_PIDFILE": self.pidfile,
                                      "PYLAUNCHD_LOG": self.log})
        self.env.pop("PYLAUNCHD_USER", None)

    def init(self, command: str) -> subprocess.CompletedProcess:
        try:
            r = subprocess.run(["sh", INIT_SCRIPT, command], capture_output=True, timeout=DEADLINE, env=self.env)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"rot13.init {command} did not finish within {DEADLINE:.0f} s") from None
        r.out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
        return r

    def init_start(self, what: str) -> Daemon:
        r = self.init("start")
        fresh = self.adopt_new(what)
        self.assertEqual(r.returncode, 0, f"{what}: rot13.init start: {r.out}")
        self.assertServesAtOnce(self.sock, f"{what}: right after rot13.init start")
        pid = read_pid(self.pidfile)
        self.assertEqual([d.pid for d in fresh], [pid], f"{what}: one daemon, the one the pidfile names")
        return self.daemons[pid]

    def assertStatus(self, code: int, words, what: str) -> None:
        r = self.init("status")
        self.assertEqual(r.returncode, code, f"{what}: rot13.init status exits {r.returncode}: {r.out}")
        self.assertInStderr(words, r.out, f"{what}: rot13.init status")

    def logged(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def test_scripts_parse_and_are_rendered(self):
        for script in (INIT_SCRIPT, RC_SCRIPT):
            r = subprocess.run(["sh", "-n", script], capture_output=True, timeout=DEADLINE)
            self.assertEqual(r.returncode, 0, f"sh -n {script}: {r.stderr!r}")
            with open(script) as f:
                text = f.read()
            self.assertIsNone(re.search(r"@[A-Z_]+@", text), f"{script} has a placeholder left")
            self.assertIn(BINARY, text, f"{script} runs the built pylaunchd")
            self.assertIn("--daemon --pidfile", text, f"{script} uses --daemon --pidfile")

    def test_start_status_reload_stop(self):
        d = self.init_start("start")
        self.assertStatus(0, [f"running (pid {d.pid})"], "while running")

        r = self.init("start")
        self.assertEqual(self.adopt_new("a second start"), [], "a second start leaves no second daemon")
        self.assertNotEqual(r.returncode, 0, f"a second start is refused: {r.out}")
        self.assertRegex(r.out, rf"\b{d.pid}\b", "the refusal names the running PID")
        self.assertServesAtOnce(self.sock, "after the refused second start")

        r = self.init("reload")
        self.assertEqual(r.returncode, 0, f"rot13.init reload: {r.out}")
        wait_for(lambda: "reloaded agent" in self.logged(), "the daemon to log its reload")
        self.assertTrue(d.alive(), "reload (SIGHUP) does not stop the daemon")
        self.assertEqual(read_pid(self.pidfile), d.pid, "same daemon after the reload")
        self.assertServesAtOnce(self.sock, "after reload")

        r = self.init("stop")
        self.assertEqual(r.returncode, 0, f"rot13.init stop: {r.out}")
        # stop polls kill -0 until it fails, i.e. until the process was reaped.
        self.assertFalse(os.path.exists(f"/proc/{d.pid}"), "the daemon is gone when stop returns")
        self.assertEqual(d.wait(), EXIT_OK, "and exited 0")
        self.assertFalse(os.path.exists(self.pidfile), "the pidfile is removed")
        self.assertFalse(os.path.exists(self.sock.path), "the socket is removed")
        self.assertStatus(3, ["not running"], "after stop")

    def test_pidfile_of_a_killed_daemon(self):
        d = self.init_start("start")
        d.signal(signal.SIGKILL)
        self.assertEqual(d.wait(), -signal.SIGKILL, "killed")
        self.assertTrue(os.path.exists(self.pidfile), "a killed daemon cannot remove its pidfile")
        self.assertStatus(1, ["dead but", self.pidfile, "remains"], "after SIGKILL")

        d2 = self.init_start("the start after SIGKILL takes the pidfile over")
        self.assertNotEqual(d2.pid, d.pid)
        self.assertStatus(0, [f"running (pid {d2.pid})"], "the new daemon")
        r = self.init("stop")
        self.assertEqual(r.returncode, 0, f"rot13.init stop: {r.out}")
        self.assertEqual(d2.wait(), EXIT_OK, "the new daemon exited 0")
        self.assertFalse(os.path.exists(self.pidfile), "the pidfile is removed")


if __name__ == "__main__":
    harness.become_subreaper()
    harness.main()
