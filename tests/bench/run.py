#!/usr/bin/env python3
"""pylaunchd's benchmarks (issue 6): pylaunchd beside the references, in one invocation.

    python3 tests/bench/run.py --build build            # the full run, about 5 minutes
    python3 tests/bench/run.py --build build --quick    # fewer rounds, shorter runs, about 75 s

Every scenario starts pylaunchd and its references in this invocation and measures them in
interleaved rounds (A, B, C, then B, C, A ...). A figure is the median of its per-round values; a
ratio is the median of the per-round ratios, so each ratio compares runs made moments apart on a
machine whose absolute speed drifts. It prints the machine, the exact command and a Markdown
table: scenario, pylaunchd, reference (the goal's first, then the others with pylaunchd's ratio
to each), ratio (to the goal's reference), goal, met? Its header names the date (UTC), the CPU,
cores, kernel and Python; stdout is Markdown throughout (progress goes to stderr).

Scenarios (`--only` takes their keys, comma-separated):

  cold-accept      connect to first reply byte, `systemd-socket-activate --accept`: a new process
                   per connection. pylaunchd + agent/Agent.py vs refs/floor.py, refs/classic.py.
  cold-alternate   the same, strictly alternating (p f p f ...): one connection to pylaunchd, one
                   to the floor, each a fresh process, N pairs; the figures are the medians of
                   each side, the ratio the median of the pairs' ratios.
  cold-manager     the same under a real systemd --user manager (tests/systemd/usermgr.py), the
                   service exiting after 50 ms idle, so each connection starts a process.
                   pylaunchd with its own installer's units (`pylaunchd install --idle-timeout
                   0.05 --min-uptime 0`); the references with the same [Service] sandboxing and
                   StartLimitIntervalSec=0 / TriggerLimitIntervalSec=0.
  warm-reconnect   requests/s, 16 clients, one line per connection: pylaunchd vs the C epoll
                   server, asyncio, socketserver ThreadingMixIn, classic.
  warm-tcp         warm-reconnect over loopback TCP (127.0.0.1), with the launcher's owner check
                   of every local peer on (sock_diag), as it always is: pylaunchd vs classic and
                   C epoll over TCP.
  owner-check      the check's share of a warm TCP request's time, by difference: warm-tcp's load
                   against pylaunchd and pylaunchd_nocheck (the same launcher with the check
                   skipped, bench/nocheck.c, a bench-only binary) in back-to-back pairs; per pair
                   1 - req/s with / req/s without. Beside it, the check timed on its own
                   (bench/ownercheck.c) times the req/s with it: steadier, but without the load.
  warm-persistent  requests/s, 16 clients each keeping one connection: pylaunchd vs
                   ThreadingMixIn, the C epoll server.
  rss              VmRSS after one request, idle: pylaunchd vs floor.
  pss              the same as PSS (/proc/PID/smaps_rollup): pages shared with other processes
                   counted in part.
  workers          requests/s with a CPU-bound handler, `--workers 2` vs `--workers 1` (n/a
                   while pylaunchd has no --workers).

The Python references run as `/usr/bin/python3.11 -I -S` (the interpreter pylaunchd embeds).
Servers listen only on unix sockets in a private temporary directory, or on 127.0.0.1; everything started is
stopped (process groups, units) in `finally`. `--smoke` (for ctest) makes the runs tiny and
fails only when a scenario produced no numbers or any error: never on a timing.

Exit status: 0 done, 1 a scenario failed or saw errors, 64 usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent.parent
REFS = HERE / "refs"
sys.path.insert(0, str(SOURCE_DIR / "tests" / "systemd"))
import usermgr  # noqa: E402  (tests/systemd/usermgr.py: a real systemd --user manager)
import skips  # noqa: E402  (tests/skips.py, which usermgr put on sys.path)

SYSTEM_PYTHON = "/usr/bin/python3.11"
CLIENTS = 16
IDLE_TIMEOUT = "0.05"
UNIT_PREFIX = usermgr.UNIT_PREFIX + "bench-"
#: A CPU-bound agent for --workers: each line costs the same Python work before its answer.
CPU_AGENT = '''\
"""A ROT13 agent that burns CPU for each line: the --workers benchmark."""
_ROT13 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")


def handle(conn):
    pending = b""
    while chunk := conn.recv(65536):
        pending += chunk
        while (end := pending.find(b"\\n") + 1):
            sum(i * i for i in range(50000))
            conn.sendall(pending[:end].translate(_ROT13))
            pending = pending[end:]
'''


@dataclass
class Profile:
    """How long and how often: --smoke < --quick < the full run."""

    rounds: int
    warm_duration: float
    warm_warmup: float
    cold_accept_conns: int
    cold_accept_interval_ms: int
    cold_alternate_pairs: int
    owner_check_pairs: int          # warm TCP runs with and without the check, in pairs
    cold_manager_conns: int
    # 250 ms between connections keeps pylaunchd's own units (StartLimitBurst=50 per 10 s and
    # the socket's default TriggerLimitBurst=20 per 2 s) clear of their limits with
    # --min-uptime 0, so its installer's units can be used as they are.
    cold_manager_interval_ms: int
    workers_duration: float
    rss_settle: float


PROFILES = {
    "full": Profile(rounds=5, warm_duration=2.0, warm_warmup=0.5,
                    cold_accept_conns=16, cold_accept_interval_ms=50, cold_alternate_pairs=100,
                    owner_check_pairs=12, cold_manager_conns=10, cold_manager_interval_ms=250,
                    workers_duration=3.0, rss_settle=0.3),
    "quick": Profile(rounds=3, warm_duration=0.8, warm_warmup=0.3,
                     cold_accept_conns=6, cold_accept_interval_ms=40, cold_alternate_pairs=30,
                     owner_check_pairs=4, cold_manager_conns=4, cold_manager_interval_ms=250,
                     workers_duration=1.5, rss_settle=0.2),
    "smoke": Profile(rounds=1, warm_duration=0.2, warm_warmup=0.1,
                     cold_accept_conns=2, cold_accept_interval_ms=30, cold_alternate_pairs=2,
                     owner_check_pairs=1, cold_manager_conns=2, cold_manager_interval_ms=250,
                     workers_duration=1.0, rss_settle=0.1),
}


class BenchError(Exception):
    """A scenario could not run; the message says why."""


class Skip(Exception):
    """A scenario that cannot run here (no user manager, no --workers): not a failure."""


@dataclass
class Paths:
    pylaunchd: Path
    loadgen: Path
    epoll: Path
    ownercheck: Path
    nocheck: Path       # pylaunchd without the inet owner check (nocheck.c), bench only
    agent: Path
    python: str
    work: Path


@dataclass
class Row:
    """One line of the table."""

    key: str
    title: str
    unit: str                       # "ms", "req/s", "MiB"
    higher_is_better: bool
    goal_ref: str                   # the reference the goal's ratio is against
    goal: str                       # "<= 1.10x", ">= 0.90x"
    subject: str = "pylaunchd"      # the server whose figure is this project's
    values: dict[str, list[float]] = field(default_factory=dict)  # server -> per-round values
    errors: dict[str, int] = field(default_factory=dict)
    skipped: str = ""               # why there are no numbers
    notes: list[str] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)   # e.g. p99 latencies
    absolute: bool = False          # the goal bounds the figure itself (a share), not a ratio
    units: dict[str, str] = field(default_factory=dict)  # a server's own unit, when not `unit`

    def add(self, server: str, value: float, errors: int = 0, detail: dict | None = None) -> None:
        self.values.setdefault(server, []).append(value)
        self.errors[server] = self.errors.get(server, 0) + errors
        if errors and detail:
            kinds = ", ".join(f"{k} {v}" for k, v in detail.items() if k != "total" and v)
            self.notes.append(f"{server}, round {len(self.values[server])}: {errors} errors ({kinds})")

    def figure(self, server: str) -> float | None:
        vals = self.values.get(server)
        return statistics.median(vals) if vals else None

    def ratio(self, ref: str) -> float | None:
        """Median over rounds of subject/ref, each round's pair measured back to back."""
        mine, theirs = self.values.get(self.subject, []), self.values.get(ref, [])
        pairs = [a / b for a, b in zip(mine, theirs) if b]
        return statistics.median(pairs) if pairs else None

    def met(self) -> bool | None:
        r = self.figure(self.subject) if self.absolute else self.ratio(self.goal_ref)
        if r is None:
            return None
        op, _, num = self.goal.partition(" ")
        bound = float(num.rstrip("x%"))
        return {"<=": r <= bound, "<": r < bound, ">=": r >= bound, ">": r > bound}[op]

    def total_errors(self) -> int:
        return sum(self.errors.values())


# --- processes ------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def unix_listening(path: Path) -> bool:
    """Whether a unix socket listens at path (/proc/net/unix, flag __SO_ACCEPTCON). The file
    exists from bind() on, but a connect() before listen() is refused."""
    with open("/proc/net/unix") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == str(path) and int(fields[3], 16) & 0x10000:
                return True
    return False


def tcp_listening(port: int) -> bool:
    """Whether 127.0.0.1:port is in LISTEN state (/proc/net/tcp: state 0A)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(line.split()[1:2] == [want] and line.split()[3] == "0A" for line in f if line.strip())


def free_tcp_port() -> int:
    """A loopback port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred: Callable[[], object], deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while not pred():
        if time.monotonic() > end:
            raise BenchError(f"timed out after {deadline:g} s waiting for {what}")
        time.sleep(0.01)


class Server:
    """A server on a unix socket made by systemd-socket-activate (fd 3, LISTEN_FDS=1).

    Without --accept the tool execs the server on the first connection (same pid); with it,
    it forks one per connection. Its own session, so stop() ends all of it.
    """

    def __init__(self, name: str, argv: list[str], work: Path, accept: bool = False, tcp: bool = False) -> None:
        self.name = name
        self.argv = argv
        self.port = free_tcp_port() if tcp else 0
        self.sock = work / f"{name}.sock"
        self.log_path = work / f"{name}.log"
        self.accept = accept
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"tcp:127.0.0.1:{self.port}" if self.port else f"unix:{self.sock}"

    def listening(self) -> bool:
        return tcp_listening(self.port) if self.port else unix_listening(self.sock)

    def start(self) -> "Server":
        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()
        cmd = ["systemd-socket-activate", "-l", f"127.0.0.1:{self.port}" if self.port else str(self.sock)]
        if self.accept:
            cmd.append("--accept")
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd + self.argv, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, start_new_session=True)
        wait_until(lambda: self.listening() or self.proc.poll() is not None, 10,
                   f"{self.name}'s socket to listen")
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
        return self

    def log_tail(self, lines: int = 10) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if not self.proc:
            return
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # An --accept child may outlive the tool by a moment; its group is the tool's.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None
        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()


@contextlib.contextmanager
def servers(specs: list[Server], prime: Paths | None = None) -> Iterator[dict[str, Server]]:
    """Start them all; with `prime`, answer one request each first (the exec, imports, threads),
    so that no measured run includes a start-up."""
    started: list[Server] = []
    try:
        for s in specs:
            started.append(s.start())
        if prime:
            for s in started:
                res = loadgen(prime, ["--connect", s.address, "--cold", "1"], 60)
                if res["errors"]["total"]:
                    raise BenchError(f"{s.name} did not answer its first request: {res['errors']}\n{s.log_tail()}")
        yield {s.name: s for s in started}
    finally:
        for s in started:
            s.stop()


def loadgen(paths: Paths, args: list[str], timeout: float,
            runner: Callable[..., subprocess.CompletedProcess] | None = None,
            exe: Path | None = None) -> dict:
    """Run the load generator (exe, default paths.loadgen; through runner, e.g. as the test
    user) and return its JSON."""
    argv = [str(exe or paths.loadgen)] + args
    if runner is None:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    else:
        proc = runner(argv, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise BenchError(f"loadgen {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def rounds_order(names: list[str], r: int) -> list[str]:
    """Round r's order: the list rotated by r, so nobody always goes first."""
    k = r % len(names)
    return names[k:] + names[:k]


def cold_value(result: dict) -> tuple[float, int]:
    """(median connect-to-first-byte in ms, errors) of a loadgen --cold run."""
    ok = [s for s in result["samples_us"] if s >= 0]
    return (statistics.median(ok) / 1000.0 if ok else float("nan")), result["errors"]["total"]


def python_ref(paths: Paths, name: str, *args: str) -> list[str]:
    return [paths.python, "-I", "-S", str(REFS / name), *args]


# --- scenarios ------------------------------------------------------------------------------

def scenario_cold_accept(paths: Paths, prof: Profile, row: Row) -> None:
    specs = [Server("pylaunchd", [str(paths.pylaunchd), str(paths.agent)], paths.work, accept=True),
             Server("floor", python_ref(paths, "floor.py"), paths.work, accept=True),
             Server("classic", python_ref(paths, "classic.py"), paths.work, accept=True)]
    n, gap = prof.cold_accept_conns, prof.cold_accept_interval_ms
    with servers(specs) as running:
        for s in running.values():  # page cache, not measured
            loadgen(paths, ["--connect", s.address, "--cold", "2", "--interval-ms", str(gap)], 30)
        for r in range(prof.rounds):
            for name in rounds_order(list(running), r):
                res = loadgen(paths, ["--connect", running[name].address, "--cold", str(n),
                                      "--interval-ms", str(gap)], 30 + n * 5)
                row.add(name, *cold_value(res), detail=res["errors"])


def scenario_cold_alternate(paths: Paths, prof: Profile, row: Row) -> None:
    """One connection to pylaunchd, then one to the floor, strictly in turn (p f p f ...), each a
    new process: the two see the same moment of the machine, pair by pair, so the median of the
    per-pair ratios is free of the drift that rounds of several connections average over. A
    row's "round" here is one pair."""
    specs = [Server("pylaunchd-alt", [str(paths.pylaunchd), str(paths.agent)], paths.work, accept=True),
             Server("floor-alt", python_ref(paths, "floor.py"), paths.work, accept=True)]
    with servers(specs) as running:
        for s in running.values():  # page cache, not measured
            loadgen(paths, ["--connect", s.address, "--cold", "2"], 30)
        for _ in range(prof.cold_alternate_pairs):
            for name in ("pylaunchd", "floor"):
                res = loadgen(paths, ["--connect", running[f"{name}-alt"].address, "--cold", "1"], 30)
                row.add(name, *cold_value(res), detail=res["errors"])


#: The benchmark's own user for the manager it starts: `usermgr.py start` (ctest's fixture of
#: tests/systemd) kills everything its user runs, so a bench sharing that user while tests run
#: elsewhere on the machine would lose its manager mid-measurement.
BENCH_USER = "pylaunchd-bench"


@contextlib.contextmanager
def user_manager(work: Path) -> Iterator[usermgr.Manager]:
    """ctest's user manager (PYLAUNCHD_USERMGR_STATE), or one of our own, for BENCH_USER."""
    shared = os.environ.get(usermgr.STATE_ENV)
    if shared:
        try:
            mgr = usermgr.Manager.from_state(shared)
        except usermgr.Unavailable as exc:
            raise Skip(f"no systemd --user manager here: {exc}") from None
        yield mgr
        return
    # usermgr's recipe, run in this process for another user and cgroup than the tests'.
    usermgr.TEST_USER = usermgr.CGROUP_NAME = BENCH_USER
    state = work / "user_manager.json"
    try:
        code = usermgr.cmd_start(state)
        if code == usermgr.EXIT_SKIP:
            raise Skip(f"no systemd --user manager here: {usermgr.State.load(state).reason}")
        if code != 0:
            raise BenchError("usermgr start failed (its messages are above)")
        yield usermgr.Manager.from_state(state)
    finally:
        usermgr.cmd_stop(state)


def _sandboxing(service_text: str) -> list[str]:
    """The sandboxing lines of pylaunchd's generated [Service]: what the references get too."""
    keep, in_service = [], False
    for line in service_text.splitlines():
        s = line.strip()
        if s.startswith("["):
            in_service = s == "[Service]"
        elif in_service and s and not s.startswith("#") and s.split("=", 1)[0] not in (
                "Type", "ExecStart", "ExecReload", "TimeoutStopSec", "RestartPreventExitStatus"):
            keep.append(s)
    return keep


def scenario_cold_manager(paths: Paths, prof: Profile, row: Row) -> None:
    with contextlib.ExitStack() as stack:
        mgr = stack.enter_context(user_manager(paths.work))
        stage_src = paths.work / "stage"
        stage_src.mkdir(exist_ok=True)
        for src in (paths.pylaunchd, paths.loadgen, paths.agent, REFS / "floor.py", REFS / "classic.py"):
            shutil.copy2(src, stage_src / src.name)
        stage = Path(mgr.stage(stage_src, "bench"))
        exe, lg = stage / paths.pylaunchd.name, stage / paths.loadgen.name
        units: dict[str, Path] = {}   # server -> socket path
        installed: list[str] = []

        def cleanup() -> None:
            # Never raises: it must not hide why the scenario ended (e.g. the manager is gone).
            try:
                mgr.run_as_user([str(exe), "uninstall", "--name", UNIT_PREFIX + "pylaunchd"], check=False)
                for name in installed:
                    mgr.systemctl("stop", f"{name}.socket", f"{name}.service", check=False)
                    mgr.systemctl("reset-failed", f"{name}.socket", f"{name}.service", check=False)
                    mgr.remove_unit(f"{name}.socket")
                    mgr.remove_unit(f"{name}.service")
                mgr.systemctl("daemon-reload", check=False)
            except (OSError, subprocess.SubprocessError) as exc:
                log(f"cleaning up the user manager's units: {exc}, ignoring")
        stack.callback(cleanup)

        pl_name = UNIT_PREFIX + "pylaunchd"
        mgr.run_as_user([str(exe), "install", "--name", pl_name, "--idle-timeout", IDLE_TIMEOUT,
                         "--min-uptime", "0", str(stage / paths.agent.name)])
        listen = mgr.show(f"{pl_name}.socket", "Listen")["Listen"]
        units["pylaunchd"] = Path(listen.split()[0])
        sandbox = _sandboxing((mgr.unit_dir / f"{pl_name}.service").read_text())
        for ref in ("floor", "classic"):
            name = UNIT_PREFIX + ref
            installed.append(name)
            sock = mgr.runtime_dir / f"{name}.sock"
            mgr.install_unit(f"{name}.socket", textwrap.dedent(f"""\
                # pylaunchd benchmark: the {ref} reference's socket (tests/bench/run.py)
                [Socket]
                ListenStream={sock}
                SocketMode=0600
                TriggerLimitIntervalSec=0
                """))
            mgr.install_unit(f"{name}.service", textwrap.dedent(f"""\
                # pylaunchd benchmark: the {ref} reference, idle exit after {IDLE_TIMEOUT} s
                [Unit]
                Requires={name}.socket
                After={name}.socket
                StartLimitIntervalSec=0
                [Service]
                ExecStart={paths.python} -I -S {stage / (ref + '.py')} --idle-timeout {IDLE_TIMEOUT}
                """) + "\n".join(sandbox) + "\n")
            units[ref] = sock
        mgr.daemon_reload()
        for name in installed:
            mgr.systemctl("start", f"{name}.socket")
        row.notes.append("references' units carry pylaunchd's [Service] sandboxing: " + ", ".join(
            line.split("=")[0] for line in sandbox))

        def run(server: str, n: int) -> dict:
            return loadgen(paths, ["--connect", f"unix:{units[server]}", "--cold", str(n),
                            "--interval-ms", str(prof.cold_manager_interval_ms)],
                           60 + n * 5, runner=mgr.run_as_user, exe=lg)

        manager = (mgr.state.manager_pid, mgr.state.manager_starttime)

        def check_manager() -> None:
            # usermgr.py start (another ctest run of tests/systemd) kills whatever the test user
            # runs, this manager included, and starts its own: these numbers would be theirs.
            if manager[0] and not usermgr._alive(*manager):
                raise BenchError(f"the user manager (pid {manager[0]}) went away mid-run: another "
                                 "run of tests/systemd (usermgr.py start) replaces it; run alone")

        order = ["pylaunchd", "floor", "classic"]
        for server in order:
            run(server, 1)  # page cache and the manager's first start, not measured
        time.sleep(prof.cold_manager_interval_ms / 1000)
        for r in range(prof.rounds):
            for server in rounds_order(order, r):
                res = run(server, prof.cold_manager_conns)
                row.add(server, *cold_value(res), detail=res["errors"])
                check_manager()
                time.sleep(prof.cold_manager_interval_ms / 1000)
        for server in order:
            unit = pl_name if server == "pylaunchd" else UNIT_PREFIX + server
            state = mgr.show(f"{unit}.socket", "ActiveState", "Result")
            if state.get("ActiveState") != "active" or state.get("Result") != "success":
                row.errors[server] = row.errors.get(server, 0) + 1
                row.notes.append(f"{unit}.socket ended {state}")


def warm_argv(paths: Paths, name: str) -> list[str]:
    return {
        "pylaunchd": [str(paths.pylaunchd), str(paths.agent)],
        "nocheck": [str(paths.nocheck), str(paths.agent)],
        "epoll": [str(paths.epoll)],
        "asyncio": python_ref(paths, "asyncio_ref.py"),
        "threading": python_ref(paths, "threading_ref.py"),
        "classic": python_ref(paths, "classic.py"),
    }[name]


def warm_rate(paths: Paths, server: Server, mode: str, duration: float, warmup: float) -> dict:
    """One loadgen run of CLIENTS clients against a running server: its JSON."""
    return loadgen(paths, ["--connect", server.address, "--clients", str(CLIENTS), "--mode", mode,
                           "--duration", str(duration), "--warmup", str(warmup)],
                   duration + warmup + 60)


def scenario_warm(paths: Paths, prof: Profile, row: Row, mode: str, names: list[str], tcp: bool = False) -> None:
    specs = [Server(f"{n}-{mode}", warm_argv(paths, n), paths.work, tcp=tcp) for n in names]
    with servers(specs, prime=paths) as running:
        for r in range(prof.rounds):
            for name in rounds_order(names, r):
                res = warm_rate(paths, running[f"{name}-{mode}"], mode, prof.warm_duration, prof.warm_warmup)
                row.add(name, res["requests_per_sec"], res["errors"]["total"], res["errors"])
                row.extra.setdefault(f"{name} p99 us", []).append(res["latency_us"]["p99"])


def scenario_owner_check(paths: Paths, prof: Profile, row: Row) -> None:
    """The check's share of a warm TCP request's time, by difference: warm-tcp's load against
    pylaunchd and against pylaunchd_nocheck (the same launcher with the check skipped,
    nocheck.c), run in pairs back to back, in ABBA order so neither always goes first; per pair
    the share is 1 - (req/s with the check) / (req/s without), and the figure is their median.
    Pairs of short runs, not warm-tcp's rounds: a difference of two throughputs is only as good
    as the two runs are close in time. Beside it, the check timed alone (ownercheck.c, one
    connection at a time) times the req/s with it: steadier on a noisy machine, but blind to
    what the load adds (the check runs on the accepting thread, in series with every accept)."""
    duration = prof.warm_duration / 2
    names = ["pylaunchd", "nocheck"]
    specs = [Server(f"{n}-owner", warm_argv(paths, n), paths.work, tcp=True) for n in names]
    n_conns = 3000 if prof.rounds >= 5 else 500
    with servers(specs, prime=paths) as running:
        for i in range(prof.owner_check_pairs):
            rate = {}
            for name in names if i % 2 == 0 else names[::-1]:
                res = warm_rate(paths, running[f"{name}-owner"], "reconnect", duration, prof.warm_warmup)
                rate[name] = res["requests_per_sec"]
                row.errors[name] = row.errors.get(name, 0) + res["errors"]["total"]
            row.add("pylaunchd", (1 - rate["pylaunchd"] / rate["nocheck"]) * 100)
            row.add("with", rate["pylaunchd"])
            row.add("nocheck", rate["nocheck"])
            res = ownercheck(paths, n_conns)
            row.add("timed alone", res["check_us"] * rate["pylaunchd"] / 1e6 * 100)
            row.extra.setdefault("check us", []).append(res["check_us"])
            row.extra.setdefault("accept+close us", []).append(res["accept_close_us"])


def ownercheck(paths: Paths, n: int) -> dict:
    """bench/ownercheck's JSON: the median time of access_check_stream() over n connections."""
    out = subprocess.run([str(paths.ownercheck), str(n)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise BenchError(f"ownercheck exited {out.returncode}: {out.stdout.strip()} {out.stderr.strip()}")
    return json.loads(out.stdout)


def proc_kib(pid: int, path: str, key: str) -> int:
    for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/{path}")


def scenario_rss(paths: Paths, prof: Profile, row: Row, key: str = "VmRSS") -> None:
    argv = {"pylaunchd": [str(paths.pylaunchd), str(paths.agent)],
            "floor": python_ref(paths, "floor.py")}
    for r in range(prof.rounds):
        for name in rounds_order(list(argv), r):
            with servers([Server(f"{name}-rss", argv[name], paths.work)]) as running:
                s = running[f"{name}-rss"]
                res = loadgen(paths, ["--connect", s.address, "--cold", "1"], 30)
                if res["errors"]["total"]:
                    raise BenchError(f"{name} did not answer: {res['errors']}\n{s.log_tail()}")
                time.sleep(prof.rss_settle)  # idle: the handler has returned
                exe = os.path.basename(os.readlink(f"/proc/{s.proc.pid}/exe"))
                if exe == "systemd-socket-activate":
                    raise BenchError(f"{name} did not exec (still {exe})")
                source = "status" if key == "VmRSS" else "smaps_rollup"
                row.add(name, proc_kib(s.proc.pid, source, key) / 1024.0)


def has_workers(paths: Paths) -> bool:
    out = subprocess.run([str(paths.pylaunchd), "--help"], capture_output=True, text=True, timeout=10)
    return "--workers" in out.stdout + out.stderr


def scenario_workers(paths: Paths, prof: Profile, row: Row) -> None:
    if not has_workers(paths):
        raise Skip("n/a (no --workers yet)")
    agent = paths.work / "cpu" / "CpuAgent.py"
    agent.parent.mkdir(exist_ok=True)
    agent.write_text(CPU_AGENT)
    names = ["workers 2", "workers 1"]
    specs = [Server(f"w{n[-1]}", [str(paths.pylaunchd), "--workers", n[-1], str(agent)], paths.work)
             for n in names]
    with servers(specs, prime=paths) as running:
        for r in range(prof.rounds):
            for name in rounds_order(names, r):
                res = loadgen(paths, ["--connect", running[f"w{name[-1]}"].address, "--clients",
                                      str(CLIENTS), "--mode", "reconnect", "--duration",
                                      str(prof.workers_duration), "--warmup", str(prof.warm_warmup)],
                              prof.workers_duration + prof.warm_warmup + 60)
                row.add(name, res["requests_per_sec"], res["errors"]["total"], res["errors"])


# The goals are issue 14's: below the bare interpreter at start, above the best plain loop warm.
SCENARIOS: list[tuple[Row, Callable[[Paths, Profile, Row], None]]] = [
    (Row("cold-accept", "cold start, `systemd-socket-activate --accept`: connect to first byte",
         "ms", False, "floor", "<= 0.85x"), scenario_cold_accept),
    (Row("cold-alternate", "cold start, `--accept`, alternating with the floor, one process each",
         "ms", False, "floor", "<= 0.85x"), scenario_cold_alternate),
    (Row("cold-manager", "cold start, systemd --user manager, idle exit 50 ms: connect to first byte",
         "ms", False, "floor", "<= 0.90x"), scenario_cold_manager),
    (Row("rss", "idle RSS after one request (VmRSS)", "MiB", False, "floor", "<= 1.00x"), scenario_rss),
    (Row("pss", "idle PSS after one request (smaps_rollup)", "MiB", False, "floor", "<= 1.00x"),
     lambda p, f, r: scenario_rss(p, f, r, "Pss")),
    (Row("warm-reconnect", f"warm, one request per connection, {CLIENTS} clients",
         "req/s", True, "classic", ">= 1.15x"),
     lambda p, f, r: scenario_warm(p, f, r, "reconnect", ["pylaunchd", "classic", "epoll", "asyncio", "threading"])),
    (Row("warm-tcp", f"warm, one request per connection over loopback TCP, owner check on, {CLIENTS} clients",
         "req/s", True, "classic", ">= 1.10x"),
     lambda p, f, r: scenario_warm(p, f, r, "reconnect", ["pylaunchd", "classic", "epoll"], tcp=True)),
    (Row("owner-check", "the loopback TCP owner check: share of a warm TCP request's time, "
         "by difference with a build without it", "%", False, "with", "< 5%", absolute=True,
         units={"with": "req/s", "nocheck": "req/s"}), scenario_owner_check),
    (Row("warm-persistent", f"warm, persistent connections, {CLIENTS} clients",
         "req/s", True, "threading", ">= 1.30x"),
     lambda p, f, r: scenario_warm(p, f, r, "persistent", ["pylaunchd", "threading", "epoll"])),
    (Row("workers", f"CPU-bound handler, {CLIENTS} clients: `--workers 2` vs `--workers 1`",
         "req/s", True, "workers 1", ">= 1.60x", subject="workers 2"), scenario_workers),
]

REF_LABELS = {"floor": "floor", "classic": "classic", "epoll": "C epoll", "asyncio": "asyncio",
              "threading": "ThreadingMixIn", "workers 1": "1 worker",
              "with": "pylaunchd with the check", "nocheck": "without it",
              "timed alone": "the check timed alone (ownercheck.c)"}


# --- report ---------------------------------------------------------------------------------

def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:.1f} {unit}"


def machine(python: str) -> str:
    """CPU model, cores, kernel, the references' Python: what a figure depends on most."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, "
            f"{version_of([python, '--version'])}")


def version_of(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    return "?"


def references_cell(row: Row) -> str:
    """The goal's reference first (its ratio is the ratio column), then the others, each with
    pylaunchd's ratio to it; a share (absolute row) has no ratio to anything."""
    names = [n for n in row.values if n != row.subject]
    names.sort(key=lambda n: n != row.goal_ref)
    cells = []
    for name in names:
        text = f"{REF_LABELS.get(name, name)} {fmt(row.figure(name), row.units.get(name, row.unit))}"
        ratio = row.ratio(name)
        if name != row.goal_ref and not row.absolute and ratio is not None:
            text += f" ({ratio:.2f}x)"
        cells.append(text)
    return "; ".join(cells)


def table(rows: list[Row]) -> str:
    """Markdown, as pasted into the README's Performance section."""
    lines = ["| scenario | pylaunchd | reference | ratio | goal | met? |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if row.skipped:
            lines.append(f"| {row.title} | {row.skipped} | | | {row.goal} | n/a |")
            continue
        ratio = None if row.absolute else row.ratio(row.goal_ref)
        met = row.met()
        result = "-" if met is None else ("yes" if met else "no")
        if row.total_errors():
            result += f" ({row.total_errors()} errors)"
        subject = fmt(row.figure(row.subject), row.unit)
        if row.subject != "pylaunchd":
            subject = f"{row.subject}: {subject}"
        ratio_cell = "-" if ratio is None else f"{ratio:.2f}x {REF_LABELS[row.goal_ref]}"
        lines.append(f"| {row.title} | {subject} | {references_cell(row)} | {ratio_cell} | "
                     f"{row.goal} | {result} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="the CMake build directory (default: build)")
    p.add_argument("--quick", action="store_true", help="fewer rounds and shorter runs (about 75 s)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny runs; fail only on missing numbers or errors (ctest bench_smoke)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 5, --quick 3, --smoke 1)")
    p.add_argument("--only", help="comma-separated scenario keys: " + ", ".join(r.key for r, _ in SCENARIOS))
    p.add_argument("--json", metavar="FILE", help="also write every per-round value here")
    p.add_argument("--python", default=SYSTEM_PYTHON, help=f"Python for the references (default {SYSTEM_PYTHON})")
    p.add_argument("--pylaunchd", help="default: BUILD/pylaunchd")
    p.add_argument("--loadgen", help="default: BUILD/tests/bench/loadgen")
    p.add_argument("--epoll", help="default: BUILD/tests/bench/epoll_rot13")
    p.add_argument("--ownercheck", help="default: BUILD/tests/bench/ownercheck")
    p.add_argument("--nocheck", help="default: BUILD/tests/bench/pylaunchd_nocheck")
    args = p.parse_args(argv)
    # A SIGTERM (ctest's timeout, kill) unwinds like an exception, so every `finally` stops
    # what it started: servers run in sessions of their own and would outlive us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    prof = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.rounds:
        prof.rounds = args.rounds
    build = Path(args.build).resolve()
    exes = {"pylaunchd": Path(args.pylaunchd or build / "pylaunchd"),
            "loadgen": Path(args.loadgen or build / "tests/bench/loadgen"),
            "epoll": Path(args.epoll or build / "tests/bench/epoll_rot13"),
            "ownercheck": Path(args.ownercheck or build / "tests/bench/ownercheck"),
            "nocheck": Path(args.nocheck or build / "tests/bench/pylaunchd_nocheck")}
    for what, path in exes.items():
        if not os.access(path, os.X_OK):
            p.error(f"no {what} at {path}: build first (cmake --build {args.build}) or pass --{what}")
    if not shutil.which("systemd-socket-activate"):
        p.error("systemd-socket-activate is not installed (package systemd)")
    only = set(args.only.split(",")) if args.only else None
    keys = {r.key for r, _ in SCENARIOS}
    if only and not only <= keys:
        p.error(f"--only: unknown {', '.join(sorted(only - keys))}; known: {', '.join(sorted(keys))}")

    # Markdown from here to the end of stdout (progress goes to stderr): one paragraph, the
    # table, a list of per-round details, pastable as they are.
    print(f"pylaunchd benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on "
          f"{machine(args.python)}.  ")
    print(f"{version_of([str(exes['pylaunchd']), '--version'])}; references run as `{args.python} -I -S`.  ")
    print(f"`python3 {shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}`: {prof.rounds} "
          f"interleaved rounds; figures are medians of per-round values, ratios medians of "
          f"per-round ratios.", flush=True)

    rows: list[Row] = []
    failed = False
    work = Path(tempfile.mkdtemp(prefix="pylaunchd-bench-"))
    try:
        agent = work / "agent" / "Agent.py"   # a copy: its __pycache__ lands here, not in the tree
        agent.parent.mkdir()
        shutil.copy2(SOURCE_DIR / "agent" / "Agent.py", agent)
        paths = Paths(exes["pylaunchd"].resolve(), exes["loadgen"].resolve(), exes["epoll"].resolve(),
                      exes["ownercheck"].resolve(), exes["nocheck"].resolve(), agent, args.python, work)
        for row, fn in SCENARIOS:
            if only and row.key not in only:
                continue
            rows.append(row)
            began = time.monotonic()
            log(f"{row.key} ...")
            try:
                fn(paths, prof, row)
            except Skip as exc:
                row.skipped = str(exc)
                # A smoke run (ctest) that skips a scenario has not tested it (tests/skips.py).
                if args.smoke and skips.strict():
                    row.skipped = "failed: skipped: " + str(exc)
                    failed = True
            except (BenchError, OSError, subprocess.SubprocessError, usermgr.UserMgrError,
                    ValueError, KeyError) as exc:
                text = str(exc).strip()
                row.skipped = "failed: " + text.splitlines()[0] if text else f"failed: {exc!r}"
                if "\n" in text:
                    row.notes.append(text)
                failed = True
            log(f"{row.key} done in {time.monotonic() - began:.1f} s"
                + (f": {row.skipped}" if row.skipped else ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(table(rows))
    print()
    for row in rows:
        for note in row.notes:
            print(f"- {row.key}: {note}")
        for name, vals in row.extra.items():
            print(f"- {row.key}: {name} per round: {', '.join(f'{v:.4g}' for v in vals)}")
        if not row.skipped:
            print(f"- {row.key}: per round: " + "; ".join(
                f"{REF_LABELS.get(n, n)} " + ", ".join(f"{v:.4g}" for v in vals) for n, vals in row.values.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"key": r.key, "unit": r.unit, "values": r.values, "errors": r.errors,
              "skipped": r.skipped, "extra": r.extra, "notes": r.notes} for r in rows], indent=2) + "\n")

    errors = sum(r.total_errors() for r in rows)
    if errors:
        print(f"\nERRORS: {errors} (connect/read/mismatch or a failed unit): see the per-row counts")
        failed = True
    if args.smoke:
        for row in rows:
            # NaN, or 0 where a time or a rate must be positive; a share by difference (an
            # absolute row) may come out at or below 0 on a noisy machine: that is a timing.
            no_numbers = not row.skipped and any(
                not vals or any(not math.isfinite(v) or not (row.absolute or v > 0) for v in vals)
                for vals in row.values.values())
            if no_numbers or (not row.skipped and not row.values):
                print(f"SMOKE: {row.key} produced no numbers")
                failed = True
            if row.skipped.startswith("failed"):
                print(f"SMOKE: {row.key} {row.skipped}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
