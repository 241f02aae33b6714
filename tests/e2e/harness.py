"""harness.py: what every end-to-end scenario needs to run the real pylaunchd binary.

Stdlib only. A scenario is a unittest.TestCase derived from E2ETestCase: it gets a temporary
directory of its own, starts processes with start()/launch()/activate(), and everything it
started is killed and reaped by addCleanup, whether the test passes or fails. Readiness is
always a poll with a deadline (wait_for, wait_for_socket), never a bare sleep.

The binary and the example agent come from the environment ctest sets:
    PYLAUNCHD            path of the built pylaunchd
    PYLAUNCHD_AGENT_DIR  the project's agent/ directory (Agent.py, client.py)
"""

import faulthandler
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import skips  # noqa: E402  (tests/skips.py: the one list of allowed skips)

BINARY = os.environ.get("PYLAUNCHD", "")
AGENT_DIR = os.environ.get("PYLAUNCHD_AGENT_DIR", "")
ROT13_AGENT = os.path.join(AGENT_DIR, "Agent.py")

#: The longest any single wait may take before the test fails. Generous on purpose: it only
#: bounds a hang on a loaded 2-core machine, it is never a performance claim.
DEADLINE = 20.0

#: Exit codes, as launcher/exitcode.h lists them.
EXIT_OK = 0
EXIT_USAGE = 64
EXIT_AGENT_BROKEN = 65
EXIT_AGENT_MISSING = 66
EXIT_AGENT_NO_HANDLER = 69
EXIT_AGENT_FAILED = 70
EXIT_OS = 71
EXIT_ACTIVATION = 78

#: Variables that would make a child think it was socket-activated, or log to a journal.
_SCRUBBED_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "NOTIFY_SOCKET",
                 "JOURNAL_STREAM", "WATCHDOG_PID", "WATCHDOG_USEC")


# --- the two local users (tests/users.py makes them: the ctest fixture local_users) ----------------

#: An ordinary user who owns agents in scenarios that must not run as root.
OWNER_USER = "pylaunchd-owner"
#: The other local user: the attacker of the security scenarios; a member of TEAM_GROUP.
OTHER_USER = "pylaunchd-other"
#: A group OTHER_USER is in as a supplementary group only.
TEAM_GROUP = "pylaunchd-team"


def local_user(name: str) -> pwd.struct_passwd:
    """The passwd entry of one of the fixture's users. Missing is a failure, never a skip: the
    scenarios that need it must not pass without running."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise AssertionError(f"the local user {name!r} does not exist: run the tests through ctest, whose "
                             "fixture local_users (tests/users.py create) makes it") from None


def system_python() -> str:
    """A python3 every user can run: the test's own may live under root's home (pyenv)."""
    for p in ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
        if os.access(p, os.X_OK):
            return p
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def as_user(name: str) -> list:
    """The argv prefix that runs a command as another local user (root only)."""
    return ["runuser", "-u", name, "--"]


def exec_as_user(name: str) -> list:
    """As as_user(), but the command replaces the prefix's process (setpriv execs it), so the pid
    a test holds is the command's own: for servers the test signals."""
    return ["setpriv", f"--reuid={name}", f"--regid={pwd.getpwnam(name).pw_gid}", "--init-groups", "--"]


# --- ROT13, the reference ---------------------------------------------------------------------

def _rot13_byte(b: int) -> int:
    # Written out by hand rather than shared with agent/Agent.py, so a bug there cannot hide.
    if 0x41 <= b <= 0x5A:
        return 0x41 + (b - 0x41 + 13) % 26
    if 0x61 <= b <= 0x7A:
        return 0x61 + (b - 0x61 + 13) % 26
    return b


_ROT13_TABLE = bytes(_rot13_byte(b) for b in range(256))


def rot13(data: bytes) -> bytes:
    """ROT13 of the ASCII letters in data; every other byte is unchanged."""
    return bytes(_ROT13_TABLE[b] for b in data)


# --- addresses --------------------------------------------------------------------------------

class Address:
    """Where a server listens: a unix socket path, or a TCP host and port."""

    def __init__(self, kind: str, path: str = "", host: str = "", port: int = 0):
        self.kind, self.path, self.host, self.port = kind, path, host, port

    @classmethod
    def unix(cls, path: str) -> "Address":
        return cls("unix", path=path)

    @classmethod
    def tcp(cls, host: str, port: int) -> "Address":
        return cls("tcp", host=host, port=port)

    @property
    def family(self) -> int:
        if self.kind == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def sockaddr(self):
        return self.path if self.kind == "unix" else (self.host, self.port)

    def _host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def listen_arg(self) -> str:
        """The form --listen takes."""
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self._host_port()}"

    def activate_arg(self) -> str:
        """The form systemd-socket-activate -l takes."""
        return self.path if self.kind == "unix" else self._host_port()

    def socat_arg(self) -> str:
        """The form socat takes."""
        if self.kind == "unix":
            return f"UNIX-CONNECT:{self.path}"
        return f"TCP6:{self._host_port()}" if ":" in self.host else f"TCP4:{self._host_port()}"

    def connect(self, timeout: float = DEADLINE) -> socket.socket:
        s = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect(self.sockaddr())
        except BaseException:
            s.close()
            raise
        return s

    def __repr__(self) -> str:
        return self.listen_arg()


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now: --listen cannot take port 0, so bind a probe to 0,
    read the port the kernel chose, and let it go."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
            s.listen(1)
            with socket.create_connection(s.getsockname()[:2], timeout=2):
                pass
        return True
    except OSError:
        return False


# --- polling ------------------------------------------------------------------------------------

def wait_for(predicate, what: str, deadline: float = DEADLINE, proc=None, interval: float = 0.02):
    """Poll predicate() until it returns something true, and return that. Fails after deadline
    seconds, or at once when proc (a Launched) has exited, with proc's stderr in the message."""
    end = time.monotonic() + deadline
    while True:
        result = predicate()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{proc.name} exited with status {proc.returncode} while waiting for {what}; "
                                 f"stderr:\n{proc.stderr()}")
        if time.monotonic() > end:
            extra = f"; stderr of {proc.name}:\n{proc.stderr()}" if proc is not None else ""
            raise AssertionError(f"timed out after {deadline:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def wait_for_socket(addr: Address, deadline: float = DEADLINE, proc=None) -> None:
    """Poll connect() on addr until it succeeds. The probe connection is closed at once without
    sending anything: every agent in these tests treats that as an empty conversation."""
    def try_connect():
        try:
            s = addr.connect(timeout=1.0)
        except OSError:
            return False
        with s:
            # A TCP connect to a free port in the ephemeral range can connect to itself
            # (simultaneous open) before the server binds: that is not readiness.
            return addr.kind == "unix" or s.getsockname() != s.getpeername()

    wait_for(try_connect, f"{addr} to accept connections", deadline, proc)


def connect_when_ready(addr: "Address", deadline: float = DEADLINE, proc=None) -> socket.socket:
    """Poll connect() on addr until it succeeds and return that connection: for servers that
    answer exactly one connection, where a readiness probe would use it up."""
    def try_connect():
        try:
            return addr.connect()
        except OSError:
            return None

    return wait_for(try_connect, f"{addr} to accept a connection", deadline, proc)


# --- processes ----------------------------------------------------------------------------------

def clean_env(extra=None) -> dict:
    """The test's environment without anything that looks like socket activation."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    if extra:
        env.update(extra)
    return env


class Launched:
    """A process started in a session of its own, stdout and stderr going to files.

    cleanup() kills the whole process group (so children, e.g. the per-connection pylaunchd
    processes of systemd-socket-activate --accept, go too) and reaps the leader."""

    def __init__(self, argv, workdir: str, name: str = "", env=None, stdin=subprocess.DEVNULL, stdout=None,
                 cwd=None, pass_fds=(), preexec_fn=None):
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        fd, self.stdout_path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".out", dir=workdir)
        self._out = os.fdopen(fd, "wb")
        fd, self.stderr_path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".err", dir=workdir)
        self._err = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=self._out if stdout is None else stdout,
                                     stderr=self._err,
                                     env=clean_env() if env is None else env, cwd=cwd, pass_fds=pass_fds,
                                     preexec_fn=preexec_fn, start_new_session=True)
        self.pid = self.proc.pid
        self.signals_sent = set()

    @property
    def returncode(self):
        return self.proc.returncode

    def poll(self):
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout_bytes(self) -> bytes:
        with open(self.stdout_path, "rb") as f:
            return f.read()

    def send_signal(self, signo: int) -> None:
        if self.proc.poll() is None:
            self.signals_sent.add(signo)
            os.kill(self.pid, signo)

    def wait(self, timeout: float = DEADLINE) -> int:
        """The exit status; fails the test (after killing the process) if it does not exit in time."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.cleanup()
            raise AssertionError(f"{self.name} did not exit within {timeout:.0f} s; stderr:\n{self.stderr()}")

    def wait_for_stderr(self, text: str, deadline: float = DEADLINE) -> str:
        """Poll until stderr contains text; returns the whole stderr."""
        return wait_for(lambda: text in self.stderr() and self.stderr(), f"{text!r} on {self.name}'s stderr",
                        deadline)

    def cleanup(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            pass
        for f in (self._out, self._err):
            if not f.closed:
                f.close()


def run(argv, timeout: float = DEADLINE, env=None, stdin=subprocess.DEVNULL, input=None, cwd=None,
        pass_fds=()) -> subprocess.CompletedProcess:
    """Run argv to completion (bytes in and out). A run that exceeds timeout is killed and fails."""
    kwargs = {"input": input} if input is not None else {"stdin": stdin}
    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout, env=clean_env() if env is None else env,
                              cwd=cwd, pass_fds=pass_fds, **kwargs)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{argv} did not finish within {timeout:.0f} s; stderr so far:\n"
                             f"{(e.stderr or b'').decode('utf-8', 'replace')}") from None


# --- daemons reparented to this process -------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """--daemon forks twice: as a child subreaper, this process gets the daemon and can stop it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def children(pid="self") -> set:
    """pid's children (ours by default: the reparented daemons among them), zombies included
    until reaped; empty once pid is gone."""
    pids = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return pids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except FileNotFoundError:
            pass
    return pids


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pylaunchd_children() -> set:
    return {pid for pid in children() if comm(pid) == "pylaunchd"}


# --- clients ------------------------------------------------------------------------------------

class LineClient:
    """A connection that speaks in lines."""

    def __init__(self, addr: Address, timeout: float = DEADLINE):
        self.sock = addr.connect(timeout)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readline(self) -> bytes:
        """One line with its newline; b"" at EOF."""
        return self.reader.readline()

    def exchange(self, line: bytes) -> bytes:
        """Send line plus a newline; return the answer line without its newline."""
        self.send(line + b"\n")
        answer = self.readline()
        if not answer.endswith(b"\n"):
            raise AssertionError(f"expected an answer line to {line[:60]!r}, got {answer[:60]!r} and EOF")
        return answer[:-1]

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def read_all(self) -> bytes:
        """Everything until the server closes."""
        return self.reader.read()

    def settimeout(self, t) -> None:
        self.sock.settimeout(t)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def converse(addr: Address, data: bytes, timeout: float = DEADLINE, sock=None) -> bytes:
    """Send data, close the sending side, and return everything received until EOF.

    The sending happens in a thread, so data of any size cannot deadlock against an answer that
    fills the socket buffers before the last byte is sent. A server that closes before reading
    everything (EPIPE, ECONNRESET on send) is not an error here: what it answered is the result.
    sock: a connection to addr already open (converse closes it)."""
    if sock is None:
        sock = addr.connect(timeout)
    errors = []

    def sender():
        try:
            if data:
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        t.join(timeout)
    finally:
        sock.close()
    if errors:
        raise errors[0]
    return b"".join(chunks)


def fetch_json(addr: Address, timeout: float = DEADLINE) -> dict:
    """Connect, read until EOF, parse the one JSON document the agent sent."""
    raw = converse(addr, b"", timeout)
    try:
        return json.loads(raw)
    except ValueError:
        raise AssertionError(f"expected one JSON document from {addr}, got {raw[:200]!r}") from None


def run_concurrently(fn, n: int, timeout: float = 4 * DEADLINE) -> list:
    """Run fn(i) in n threads at once; return the list of failures as strings (empty: all passed)."""
    failures = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def body(i):
        try:
            start.wait(DEADLINE)
            fn(i)
        except BaseException as e:  # noqa: BLE001 - every failure must be reported, not lost in a thread
            with lock:
                failures.append(f"client {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        failures.append(f"{stuck} client thread(s) still running after {timeout:.0f} s")
    return failures


# --- agents the tests write into their temp dir ------------------------------------------------

#: Answers each connection with one JSON line describing the process and then closes.
INFO_AGENT = """
import json, os, sys
import pylaunchd

def info(conn):
    return {
        "started_by": pylaunchd.started_by,
        "pid": os.getpid(),
        "argv": sys.argv,
        "executable": sys.executable,
        "path0": sys.path[0],
        "listen_env": sorted(k for k in os.environ if k.startswith("LISTEN_")),
        "e2e_mark": os.environ.get("E2E_MARK"),
        "conn_type": type(conn).__name__,
    }

def handle(conn):
    conn.sendall(json.dumps(info(conn)).encode() + b"\\n")
"""


# --- the base class --------------------------------------------------------------------------------

class E2ETestCase(unittest.TestCase):
    """Gives each test a temp dir and helpers whose processes and sockets are always cleaned up."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        # A missing binary is a failure, never a skip: a green run must mean the scenarios ran.
        if not BINARY or not os.access(BINARY, os.X_OK):
            raise AssertionError(f"PYLAUNCHD={BINARY!r} is not an executable pylaunchd; run through ctest, "
                                 "or set PYLAUNCHD and PYLAUNCHD_AGENT_DIR")
        if not os.path.isfile(ROT13_AGENT):
            raise AssertionError(f"PYLAUNCHD_AGENT_DIR has no Agent.py: {AGENT_DIR!r}")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pylaunchd-e2e-")
        _LIVE_TMPDIRS.add(self.tmp)
        self.addCleanup(_LIVE_TMPDIRS.discard, self.tmp)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # files and addresses

    def path(self, name: str) -> str:
        return os.path.join(self.tmp, name)

    def write_agent(self, name: str, source: str) -> str:
        """Write a test agent into the temp dir; returns its path."""
        p = self.path(name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(source))
        return p

    def unix_address(self, name: str = "agent.sock") -> Address:
        return Address.unix(self.path(name))

    def tcp_address(self, host: str = "127.0.0.1") -> Address:
        return Address.tcp(host, free_tcp_port(host))

    # processes

    def start(self, argv, **kwargs) -> Launched:
        p = Launched(argv, self.tmp, **kwargs)
        # Cleanups run last-in first-out: the crash check sees the process before cleanup kills it.
        self.addCleanup(p.cleanup)
        self.addCleanup(self.assertNotCrashed, p)
        return p

    def launch(self, agent: str, *agent_args, listen=(), options=(), **kwargs) -> Launched:
        """pylaunchd [OPTIONS] [--listen ADDR]... AGENT [ARGS], not waiting for readiness."""
        argv = [BINARY, *options]
        for a in listen:
            argv += ["--listen", a.listen_arg()]
        return self.start([*argv, agent, *agent_args], name="pylaunchd", **kwargs)

    def serve_listen(self, agent: str, *agent_args, listen, options=(), **kwargs) -> Launched:
        """launch() and wait until every --listen address accepts connections."""
        p = self.launch(agent, *agent_args, listen=listen, options=options, **kwargs)
        for a in listen:
            wait_for_socket(a, proc=p)
        return p

    def activate(self, agent: str, *agent_args, listen, accept=False, inetd=False, fdnames=(), setenv=(),
                 options=(), wait=True, **kwargs) -> Launched:
        """systemd-socket-activate -l ADDR... [--accept] [--fdname] [-E] pylaunchd [OPTIONS] AGENT [ARGS]."""
        argv = ["systemd-socket-activate"]
        for a in listen:
            argv += ["-l", a.activate_arg()]
        if accept:
            argv.append("--accept")
        if inetd:
            argv.append("--inetd")
        if fdnames:
            argv.append("--fdname=" + ":".join(fdnames))
        for kv in setenv:
            argv += ["-E", kv]
        argv += [BINARY, *options, agent, *agent_args]
        p = self.start(argv, name="systemd-socket-activate", **kwargs)
        if wait:
            for a in listen:
                wait_for_socket(a, proc=p)
        return p

    def client(self, addr: Address, timeout: float = DEADLINE) -> LineClient:
        c = LineClient(addr, timeout)
        self.addCleanup(c.close)
        return c

    # assertions

    def assertExitStatus(self, proc: Launched, expected: int, what: str, timeout: float = DEADLINE) -> None:
        code = proc.wait(timeout)
        self.assertEqual(code, expected, f"{what}: {proc.name} exited with {code}, expected {expected}; "
                                         f"stderr:\n{proc.stderr()}")

    def assertNotCrashed(self, proc: Launched) -> None:
        """Whatever the scenario expected, no process it started may die of a signal it did not
        send (SIGSEGV, SIGABRT, SIGPIPE ...), nor may an --accept child of systemd-socket-activate."""
        code = proc.poll()
        if code is not None and code < 0 and -code not in proc.signals_sent:
            self.fail(f"{proc.name} (pid {proc.pid}) died of signal {signal.Signals(-code).name}; "
                      f"stderr:\n{proc.stderr()}")
        if proc.name == "systemd-socket-activate":
            for line in proc.stderr().splitlines():
                if line.startswith("Child ") and " died with code " in line and not line.endswith(" code 0"):
                    self.fail(f"a pylaunchd started by systemd-socket-activate failed: {line!r}; "
                              f"stderr:\n{proc.stderr()}")

    def assertInStderr(self, words, stderr: str, what: str) -> None:
        for w in ([words] if isinstance(words, str) else words):
            self.assertIn(w, stderr, f"{what}: stderr should mention {w!r}; it was:\n{stderr}")

    def assertServesRot13(self, addr: Address, what: str) -> None:
        line = b"The Quick Brown Fox, 1234!"
        self.assertEqual(converse(addr, line + b"\n"), rot13(line) + b"\n", f"{what}: ROT13 answer on {addr}")


# --- a hang, and every other way out ----------------------------------------------------------------

#: Temporary directories of tests still running: a hang removes them as cleanups would.
_LIVE_TMPDIRS: set = set()


def descendants(root: int) -> list:
    """Every process below root (reparented daemons included, as we are their subreaper),
    parents before children."""
    found, frontier = [], [root]
    while frontier:
        kids = [k for pid in frontier for k in sorted(children(pid)) if k not in found]
        found += kids
        frontier = kids
    return found


def kill_everything_started() -> list:
    """SIGKILL every process this one started, and each one's process group (servers run in
    sessions of their own, so their --accept children and forks go too). Returns the pids."""
    pids = descendants(os.getpid())
    for pid in pids:
        try:
            pgid = os.getpgid(pid)
            if pgid == os.getpgrp():  # a plain child in our own group: not the group, or us too
                os.kill(pid, signal.SIGKILL)
            else:
                os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for d in list(_LIVE_TMPDIRS):
        shutil.rmtree(d, True)
    return pids


def _hang_watchdog(seconds: float) -> None:
    """After seconds: dump every thread's stack, stop everything the test started, exit 1.

    faulthandler's own exit=True would _exit() with the servers still running (five pylaunchd and
    systemd-socket-activate processes outlived one hang), so a thread does it: a test blocked in a
    syscall or a sleep has released the GIL. faulthandler stays armed a little later as the
    backstop for a thread that never releases it."""
    def fire() -> None:
        time.sleep(seconds)
        sys.stderr.write(f"\nharness: hung for {seconds:.0f} s; every thread's stack:\n")
        sys.stderr.flush()
        faulthandler.dump_traceback(all_threads=True)
        pids = kill_everything_started()
        sys.stderr.write(f"harness: stopped {len(pids)} process(es) the test started: {sorted(pids)}\n")
        sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=fire, name="hang-watchdog", daemon=True).start()
    faulthandler.dump_traceback_later(seconds + 5, exit=True)


def main() -> None:
    """Run the calling script's tests under the skip policy (tests/skips.py). A hang dumps every
    thread's stack and stops what the test started before ctest's timeout would kill only us."""
    _hang_watchdog(float(os.environ.get("PYLAUNCHD_E2E_HANG_DUMP", "110")))
    skips.main()
