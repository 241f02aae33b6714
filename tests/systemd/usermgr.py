#!/usr/bin/env python3
"""Run a real `systemd --user` manager for pylaunchd's scenario tests, and drive it from them.

    usermgr.py start --state FILE     start (or adopt) a user manager, write FILE
    usermgr.py stop  --state FILE     stop test units, end the manager we started, undo our setup
    usermgr.py run   --state FILE -- CMD...   run CMD as the test user, with its environment

Two ways to get a manager:

* As root (CI, containers; PID 1 need not be systemd): a user manager starts when it is given
  what it checks for: a dedicated user of this run's, `pylaunchd-test-` and 8 hex digits of
  the state file's path (so two test runs on one machine, from two build trees, never share a
  user or a manager, nor kill each other's), /run/user/UID, /run/systemd/system (sd_booted()
  looks for it; shared by concurrent runs through a reference count), a cgroup of its own in
  every mounted hierarchy that the user owns, and then `/lib/systemd/systemd --user` as that
  user, detached, in that cgroup.
* As a non-root user whose own manager already runs (a desktop): that manager is used as it is
  and is never killed; only units named `pylaunchd-test-*` are touched.

Otherwise `start` says why and fails, as do the scenarios (main()): a suite that skipped
them would pass without testing what it says. With PYLAUNCHD_ALLOW_SKIPS=1 (tests/skips.py)
it exits 77, ctest's skip code, and the scenarios skip too.

The spawned manager's parent is `runuser` (as su is in the recipe), so it is reaped as soon
as it exits. The manager's own messages go to STATE-manager.log next to the state file; there is
no journald, and "inherit" gives a service the manager's stdin (/dev/null) as its output, so a
scenario that needs a service's stderr adds a drop-in with StandardError=append:FILE. `stop` stops and deletes every pylaunchd-test-* unit, sends the
manager SIGTERM (it runs exit.target), SIGKILL after 10 s, kills what is left in its cgroups,
removes them and whatever else `start` created, the user included.
It is idempotent, and `start` runs it first if a state file is left from a crashed run.

Scenario scripts use the API:

    mgr = Manager.from_state()        # the file named by $PYLAUNCHD_USERMGR_STATE
    exe = mgr.stage(os.environ["PYLAUNCHD"])
    mgr.install_unit("pylaunchd-test-x.socket", "...")
    mgr.daemon_reload(); mgr.systemctl("start", "pylaunchd-test-x.socket")
    mgr.wait_for(lambda: mgr.show("pylaunchd-test-x.service", "ActiveState")["ActiveState"]
                 == "active", 5, "the service to start")

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import skips  # noqa: E402  (tests/skips.py: the one list of allowed skips)
import users  # noqa: E402  (tests/users.py: the lock every creator of test users holds)

#: The test user's name is this, then 8 hex digits of the state file's path (test_user_for()).
TEST_USER = "pylaunchd-test"
#: Every unit a scenario installs starts with this; stop removes whatever is left of them.
UNIT_PREFIX = "pylaunchd-test-"
#: The cgroup (in each hierarchy) the spawned manager lives in.
CGROUP_NAME = "pylaunchd-test"  # then the same 8 hex digits
#: Concurrent runs count their references to /run/systemd/system here, under an flock.
SD_BOOTED_REFS = Path("/run/pylaunchd-tests/run-systemd-system.refs")
SYSTEMD = "/lib/systemd/systemd"
#: ctest's SKIP_RETURN_CODE for these tests.
EXIT_SKIP = 77
#: A PATH with nothing under /root in it (pyenv shims there are unreadable to the test user).
USER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STATE_ENV = "PYLAUNCHD_USERMGR_STATE"

START_DEADLINE = 20.0  # seconds for the manager to reach `running`
STOP_DEADLINE = 10.0   # seconds for SIGTERM (exit.target) before SIGKILL
COMMAND_TIMEOUT = 30.0  # any one systemctl / client call

T = TypeVar("T")


class UserMgrError(Exception):
    """Setting up or tearing down the manager failed; the message says what and why."""


class Unavailable(Exception):
    """No manager can be had here (not root, no manager of our own): a skip, not a failure."""


class CommandFailed(subprocess.CalledProcessError):
    """A CalledProcessError whose message includes what the command printed."""

    def __str__(self) -> str:
        text = super().__str__()
        for label, data in (("stdout", self.stdout), ("stderr", self.stderr)):
            if data:
                if isinstance(data, bytes):
                    data = data.decode("utf-8", "replace")
                text += f"\n--- {label} ---\n{data.rstrip()}"
        return text


def log(msg: str) -> None:
    print(f"usermgr: {msg}", file=sys.stderr, flush=True)


def wait_for(predicate: Callable[[], T], deadline: float, what: str,
             interval: float = 0.02) -> T:
    """Poll predicate() until it returns something true, for at most `deadline` seconds.

    Returns that value; raises TimeoutError naming `what` (and the last exception the
    predicate raised, if any) when the deadline passes. An exception from the predicate counts
    as "not yet", except UserMgrError, which ends the wait at once (the thing waited for can
    no longer happen). The interval grows to 0.2 s, so a
    quick condition is seen quickly and a slow one does not spin.
    """
    end = time.monotonic() + deadline
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except UserMgrError:
            raise
        except Exception as exc:  # the condition may raise until it holds (ECONNREFUSED ...)
            last_exc = exc
        if time.monotonic() >= end:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {deadline:g} s waiting for {what}{detail}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)


# --- processes and cgroups ------------------------------------------------------------------

def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in ticks) of pid, or None if there is no such process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def _alive(pid: int, starttime: int | None = None) -> bool:
    """pid runs (a zombie does not count) and, if given, started at `starttime` (not reused)."""
    stat = _proc_stat(pid)
    if stat is None or stat[0] in "ZX":
        return False
    return starttime is None or stat[1] == starttime


def _pids_of_uid(uid: int, zombies: bool = False) -> list[int]:
    """Processes whose real uid is uid: live ones, and zombies too if asked."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1 ").split()[0]) == uid and (zombies or fields.get("State", "").split()[0] not in ("Z", "X")):
            pids.append(int(entry))
    return pids


def _kill_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def cgroup_roots() -> list[Path]:
    """Where the manager needs a cgroup of its own: every hierarchy systemd looks at.

    Pure cgroup v2: /sys/fs/cgroup. Hybrid (these machines): unified/ and systemd/. Legacy:
    systemd/ only.
    """
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return [base]
    return [base / name for name in ("unified", "systemd") if (base / name / "cgroup.procs").exists()]


def _cgroup_pids(top: Path) -> list[int]:
    pids: list[int] = []
    for dirpath, _dirs, _files in os.walk(top):
        try:
            pids += [int(p) for p in Path(dirpath, "cgroup.procs").read_text().split()]
        except OSError:
            pass
    return pids


def remove_cgroup(top: Path) -> None:
    """Kill what runs in cgroup `top` (all ours: the test user's), then rmdir it bottom-up.

    A process that will not die is moved to the hierarchy's root first: rmdir of a populated
    cgroup fails with EBUSY.
    """
    if not top.is_dir():
        return
    _kill_all(_cgroup_pids(top), signal.SIGKILL)
    try:
        wait_for(lambda: not [p for p in _cgroup_pids(top) if _alive(p)], 3.0,
                 f"processes in {top} to die")
    except TimeoutError:
        pass
    for pid in _cgroup_pids(top):
        try:
            (top.parent / "cgroup.procs").write_text(str(pid))
        except OSError as exc:
            log(f"cannot move pid {pid} out of {top}: {exc}, ignoring")

    def rmdir_all() -> bool:
        for dirpath, _dirs, _files in os.walk(top, topdown=False):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                return False
        return True

    try:
        wait_for(rmdir_all, 3.0, f"{top} to be removable")
    except (TimeoutError, OSError) as exc:
        log(f"cannot remove cgroup {top}: {exc}, ignoring")


# --- state ----------------------------------------------------------------------------------

@dataclasses.dataclass
class State:
    """What `start` did, so `stop` can undo exactly that and scenarios can find the manager."""

    mode: str                      # "spawned" (we run it), "existing" (a desktop's), "skipped"
    reason: str = ""               # why, when skipped
    user: str = ""
    uid: int = -1
    gid: int = -1
    home: str = ""
    runtime_dir: str = ""
    as_root: bool = False          # commands for the user go through runuser
    manager_pid: int | None = None
    keeper_pid: int | None = None  # runuser, the manager's parent
    keeper_starttime: int | None = None
    manager_starttime: int | None = None
    log_path: str = ""
    stage_dir: str = ""
    created_user: bool = False
    created_runtime_dir: bool = False
    created_run_systemd_system: bool = False
    cgroups: list[str] = dataclasses.field(default_factory=list)
    startup_seconds: float | None = None

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "State":
        data = json.loads(path.read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _state_path(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        path = os.environ.get(STATE_ENV)
        if not path:
            raise UserMgrError(f"${STATE_ENV} is not set: run under ctest, or pass the state file")
    return Path(path).absolute()


# --- the API scenarios use ------------------------------------------------------------------

class Manager:
    """A running user manager and the test user it belongs to."""

    def __init__(self, state: State) -> None:
        if state.mode == "skipped":
            raise Unavailable(state.reason)
        self.state = state
        self.user = state.user
        self.uid = state.uid
        self.gid = state.gid
        self.home = Path(state.home)
        self.runtime_dir = Path(state.runtime_dir)
        self.unit_dir = self.home / ".config/systemd/user"
        self.stage_dir = Path(state.stage_dir)
        self.log_path = Path(state.log_path) if state.log_path else None

    @classmethod
    def from_state(cls, path: str | os.PathLike[str] | None = None) -> "Manager":
        """The manager `usermgr.py start` recorded in `path` (default: $PYLAUNCHD_USERMGR_STATE)."""
        state_file = _state_path(path)
        try:
            return cls(State.load(state_file))
        except FileNotFoundError:
            raise UserMgrError(f"no state file {state_file}: run `usermgr.py start` first") from None

    # Running things as the user.

    @property
    def user_python(self) -> str:
        """A Python the test user can run (the one on root's PATH may live under /root)."""
        for candidate in ("/usr/bin/python3", shutil.which("python3", path=USER_PATH)):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
        return sys.executable

    def user_env(self) -> dict[str, str]:
        """The environment a command of the test user's gets: enough for `systemctl --user`."""
        if self.state.as_root:
            env = {"HOME": str(self.home), "USER": self.user, "LOGNAME": self.user,
                   "SHELL": "/bin/sh", "PATH": USER_PATH, "LANG": "C.UTF-8"}
        else:
            env = dict(os.environ)
        env["XDG_RUNTIME_DIR"] = str(self.runtime_dir)
        bus = self.runtime_dir / "bus"
        if "DBUS_SESSION_BUS_ADDRESS" not in env and bus.exists():
            env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={bus}"
        return env

    def user_argv(self, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        """argv, prefixed so that it runs as the test user."""
        prefix = ["runuser", "-u", self.user, "--"] if self.state.as_root else []
        return prefix + [os.fspath(a) for a in argv]

    def run_as_user(self, argv: Sequence[str | os.PathLike[str]], *, check: bool = True,
                    **kw: Any) -> subprocess.CompletedProcess:
        """subprocess.run(argv) as the test user, in its home, with user_env().

        Defaults differ from subprocess.run: output captured as text, a 30 s timeout, and
        check=True raising CommandFailed, whose message shows stdout and stderr.
        `env` entries given here are added to user_env().
        """
        env = self.user_env()
        env.update(kw.pop("env", None) or {})
        kw.setdefault("capture_output", "stdout" not in kw and "stderr" not in kw)
        kw.setdefault("text", True)
        kw.setdefault("timeout", COMMAND_TIMEOUT)
        kw.setdefault("cwd", self.home if self.home.is_dir() else "/")
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.run(self.user_argv(argv), env=env, **kw)
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def systemctl(self, *args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
        """`systemctl --user ARGS...` as the test user."""
        return self.run_as_user(["systemctl", "--user", "--no-pager", *args], check=check, **kw)

    def analyze(self, *args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
        """`systemd-analyze --user ARGS...` as the test user."""
        return self.run_as_user(["systemd-analyze", "--user", *args], check=check, **kw)

    def daemon_reload(self) -> None:
        self.systemctl("daemon-reload")

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """`systemctl --user show UNIT -p PROP...` as a dict (all properties if none named)."""
        args = ["show", unit]
        for prop in props:
            args += ["-p", prop]
        out = self.systemctl(*args).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    wait_for = staticmethod(wait_for)

    # Files the user's manager reads.

    def _makedirs_owned(self, path: Path) -> None:
        """mkdir -p path, every directory it creates owned by the test user."""
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o755)
            self._chown(directory)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    @staticmethod
    def _check_unit_name(name: str) -> None:
        if not name.startswith(UNIT_PREFIX) or "/" in name:
            raise ValueError(f"test unit names must start with {UNIT_PREFIX!r} and have no '/': {name!r}")

    def unit_path(self, name: str) -> Path:
        self._check_unit_name(name)
        return self.unit_dir / name

    def install_unit(self, name: str, text: str) -> Path:
        """Write unit `name` into ~USER/.config/systemd/user, owned by the user. Call daemon_reload() after."""
        path = self.unit_path(name)
        self._makedirs_owned(self.unit_dir)
        path.write_text(text)
        path.chmod(0o644)
        self._chown(path)
        return path

    def remove_unit(self, name: str) -> None:
        """Remove unit file `name` if it is there. Call daemon_reload() after."""
        self.unit_path(name).unlink(missing_ok=True)

    def write_as_user(self, path: str | os.PathLike[str], text: str) -> None:
        """Write text to path as the test user (a unit drop-in, say), making its directory."""
        self.run_as_user(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", str(path)], input=text)

    def remove_agent(self, exe: str, name: str, sock_path: Path, *, stop: Sequence[str],
                     remove: Sequence[str], dropin: Path | None = None) -> None:
        """Whatever a scenario left of the agent it installed as `name`: uninstall it, stop and
        reset the units in `stop` (globs allowed), delete the unit files in `remove`, a test
        drop-in, the enable link and the socket file (RemoveOnStop=no leaves it behind)."""
        self.run_as_user([exe, "uninstall", "--name", name], check=False)
        self.systemctl("stop", *stop, check=False)
        self.systemctl("reset-failed", *stop, check=False)
        for unit in remove:
            self.remove_unit(unit)
        if dropin is not None:
            dropin.unlink(missing_ok=True)
            if dropin.parent.is_dir():
                dropin.parent.rmdir()
        wants = self.unit_dir / "sockets.target.wants" / f"{name}.socket"
        if wants.is_symlink():
            wants.unlink()
        self.daemon_reload()
        sock_path.unlink(missing_ok=True)

    def stage(self, path: str | os.PathLike[str], name: str | None = None) -> str:
        """Copy a file (or a directory tree) where the test user can read it; return the copy's path.

        The source tree may be somewhere the user cannot enter (a clone under /root). The copy
        keeps its mode and is owned by the user; `name` renames it.
        """
        src = Path(path)
        self._makedirs_owned(self.stage_dir)
        dest = self.stage_dir / (name or src.name)
        if src.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
            for dirpath, dirs, files in os.walk(dest):
                for entry in [dirpath] + [os.path.join(dirpath, f) for f in dirs + files]:
                    self._chown(Path(entry))
        else:
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.copy2(src, tmp)
            self._chown(tmp)
            os.replace(tmp, dest)  # a running service may still use the old copy
        return str(dest)

    def manager_log(self, lines: int = 40) -> str:
        """The last lines of the spawned manager's log: what its services print.

        The manager itself writes next to nothing there, even with --log-level=debug (only
        its generators do); `systemctl --user status UNIT` shows a unit's state and result.
        """
        if not self.log_path or not self.log_path.exists():
            return "(no manager log: not a manager we started)"
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:]) if text.strip() else "(empty)"

    def leftover_units(self) -> list[str]:
        """Loaded units whose names start with UNIT_PREFIX."""
        out = self.systemctl("list-units", "--all", "--plain", "--no-legend", "--full",
                             UNIT_PREFIX + "*", check=False, timeout=10).stdout or ""
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def is_system_running(self) -> str:
        proc = self.systemctl("is-system-running", check=False, timeout=5)
        return (proc.stdout or "").strip() or (proc.stderr or "").strip()


def free_tcp_port() -> int:
    """A loopback port nobody listens on right now (for units that must name one)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exit_if_unavailable(path: str | os.PathLike[str] | None = None) -> None:
    """For scenario scripts: exit with ctest's skip code if `start` found no manager to use."""
    try:
        state = State.load(_state_path(path))
    except (FileNotFoundError, UserMgrError):
        return  # from_state() will say what is missing, as a failure
    if state.mode == "skipped":
        sys.exit(skips.fixture_cannot(os.path.basename(sys.argv[0]), state.reason, EXIT_SKIP))


def scenario_main() -> None:
    """A scenario script's main: no manager is a failure (or a skip, when skips are allowed);
    then its tests, under the skip policy of tests/skips.py."""
    exit_if_unavailable()
    skips.main()


# --- start ----------------------------------------------------------------------------------


def stage_text(mgr: "Manager", name: str, text: str) -> str:
    """Write text where the test user can read it, as `name`; return its path."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return mgr.stage(path)


def end_process(proc: subprocess.Popen) -> None:
    """Kill proc if it still runs, reap it and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()

def _run(argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", COMMAND_TIMEOUT)
    proc = subprocess.run(list(argv), **kw)
    if proc.returncode != 0:
        raise CommandFailed(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc


def run_id(state_file: Path) -> str:
    """8 hex digits of the state file's path: one test run's, apart from every other tree's."""
    return hashlib.sha256(str(state_file).encode()).hexdigest()[:8]


def test_user_for(state_file: Path) -> str:
    return f"{TEST_USER}-{run_id(state_file)}"


def _ensure_user(state: State, name: str) -> None:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        with users.ids_locked():  # tests/users.py chooses ids under the same lock
            _run(["useradd", "-m", "-s", "/bin/sh", "-c", "pylaunchd tests", name])
        state.created_user = True
        pw = pwd.getpwnam(name)
        log(f"created user {name} (uid {pw.pw_uid})")
    state.user, state.uid, state.gid, state.home = pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir
    if not os.path.isdir(state.home):
        raise UserMgrError(f"{name}'s home {state.home} does not exist")


def _sd_booted_ref(delta: int) -> bool:
    """Counts this run in (+1) or out (-1) of /run/systemd/system's users; makes it with the first
    and removes it (if a run of ours made it) with the last. Returns True when it was made here."""
    SD_BOOTED_REFS.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    sd_dir = Path("/run/systemd/system")
    fd = os.open(str(SD_BOOTED_REFS) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            n, ours = (int(x) for x in SD_BOOTED_REFS.read_text().split())
        except (OSError, ValueError):
            n, ours = 0, 0
        made = False
        if delta > 0:
            if not sd_dir.exists():
                sd_dir.mkdir(parents=True)
                ours = made = 1
            n += 1
        else:
            n = max(0, n - 1)
            if n == 0 and ours:
                try:
                    os.rmdir(sd_dir)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    log(f"cannot remove {sd_dir}: {exc}, ignoring")
                ours = 0
        SD_BOOTED_REFS.write_text(f"{n} {ours}\n")
        return made
    finally:
        os.close(fd)


def _wait_running(mgr: Manager, alive: Callable[[], bool]) -> str:
    """Poll is-system-running until running/degraded; fail early if the manager died."""
    def ready() -> str:
        if not alive():
            raise UserMgrError("the manager exited during start-up")
        status = mgr.is_system_running()
        return status if status in ("running", "degraded") else ""

    try:
        return wait_for(ready, START_DEADLINE, "`systemctl --user is-system-running` to say running")
    except UserMgrError:
        raise
    except TimeoutError as exc:
        raise UserMgrError(f"{exc}; it says: {mgr.is_system_running()!r}") from None


def _report_degraded(mgr: Manager) -> None:
    failed = mgr.systemctl("--failed", "--plain", "--no-legend", "--full", check=False).stdout
    log("the manager is degraded; failed units (ignored, tests do not depend on them):\n"
        + (failed or "").rstrip())


def _start_existing(state_file: Path) -> State:
    """Non-root: use the manager the invoking user already has, if there is one."""
    pw = pwd.getpwuid(os.getuid())
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{pw.pw_uid}"
    state = State(mode="existing", user=pw.pw_name, uid=pw.pw_uid, gid=pw.pw_gid, home=pw.pw_dir,
                  runtime_dir=runtime, as_root=False,
                  stage_dir=os.path.join(pw.pw_dir, ".cache", TEST_USER + "-" + run_id(state_file), "stage"))
    mgr = Manager(state)
    try:
        status = mgr.is_system_running()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"not root, and systemctl --user failed: {exc}") from None
    if status in ("initializing", "starting"):
        status = _wait_running(mgr, lambda: True)
    if status not in ("running", "degraded"):
        raise Unavailable(f"not root, and no systemd --user manager answers for {pw.pw_name} "
                          f"(is-system-running: {status!r}); run as root to start one")
    if status == "degraded":
        _report_degraded(mgr)
    log(f"using the running user manager of {pw.pw_name} (it will not be stopped)")
    return state


def _join_cgroups(cgroup_procs: list[Path]) -> Callable[[], None]:
    """preexec_fn: put the child (runuser, then the manager it forks) into our cgroups.

    It runs as root, between fork and exec: an unprivileged process may not move itself out of
    root's cgroup, so the manager could not do this for itself.
    """
    def preexec() -> None:
        pid = str(os.getpid())
        for procs in cgroup_procs:
            procs.write_text(pid)
    return preexec


def _children(pid: int) -> list[int]:
    """Processes whose parent is pid."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("PPid:"):
                    if int(line.split()[1]) == pid:
                        kids.append(int(entry))
                    break
    return kids


def _start_spawned(state_file: Path) -> State:
    """Root: the recipe in the module docstring, with a user of this run's own."""
    for tool in (SYSTEMD, shutil.which("systemctl"), shutil.which("runuser")):
        if not tool or not os.access(tool, os.X_OK):
            raise Unavailable(f"systemd is not installed here ({tool or 'systemctl/runuser'} missing)")
    roots = cgroup_roots()
    if not roots:
        raise Unavailable("no cgroup hierarchy mounted under /sys/fs/cgroup")

    state = State(mode="spawned", as_root=True,
                  log_path=str(state_file.with_name(state_file.stem + "-manager.log")))
    _ensure_user(state, test_user_for(state_file))
    state.stage_dir = os.path.join(state.home, ".cache", "pylaunchd-test", "stage")
    state.runtime_dir = f"/run/user/{state.uid}"

    # Only this run's user: another run's processes are never touched.
    leftovers = _pids_of_uid(state.uid)
    if leftovers:
        log(f"killing {len(leftovers)} leftover process(es) of {state.user} from an earlier run: {leftovers}")
        _kill_all(leftovers, signal.SIGKILL)
        wait_for(lambda: not _pids_of_uid(state.uid), 5.0, f"old processes of {state.user} to die")

    # From here on everything we make is recorded first, so stop can undo a half-done start.
    state.save(state_file)
    runtime = Path(state.runtime_dir)
    if not runtime.exists():
        runtime.mkdir(parents=True, mode=0o700)
        state.created_runtime_dir = True
    os.chown(runtime, state.uid, state.gid)
    runtime.chmod(0o700)
    # Counted, so that a concurrent run's stop does not take it away from under this one.
    _sd_booted_ref(+1)
    state.created_run_systemd_system = True  # meaning: counted in; stop counts out
    state.save(state_file)

    for root in roots:
        top = root / f"{CGROUP_NAME}-{run_id(state_file)}"
        remove_cgroup(top)  # a crashed run's leftovers
        try:
            top.mkdir()
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                # A container with a read-only cgroup file system: no manager can run here.
                raise Unavailable(f"cannot create a cgroup for the manager: {exc}") from None
            raise
        state.cgroups.append(str(top))
        state.save(state_file)
        for dirpath, _dirs, files in os.walk(top):
            os.chown(dirpath, state.uid, state.gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), state.uid, state.gid)

    mgr = Manager(state)
    argv = [SYSTEMD, "--user", "--log-target=console", "--log-color=no",
            # No journald here: services' stdout and stderr go to our log file, not nowhere.
            "--default-standard-output=inherit", "--default-standard-error=inherit"]
    env = {"HOME": state.home, "USER": state.user, "LOGNAME": state.user, "SHELL": "/bin/sh",
           "PATH": USER_PATH, "LANG": "C.UTF-8", "XDG_RUNTIME_DIR": state.runtime_dir}
    began = time.monotonic()
    # runuser stays the manager's parent (su would do as well), and reaps it when it
    # exits. Without it the manager's parent would be PID 1, which here reaps orphans only
    # every second or two: stop would leave a zombie of the test user behind for that long.
    with open(state.log_path, "wb") as logf:
        keeper = subprocess.Popen(
            ["runuser", "-u", state.user, "--", *argv], env=env, cwd=state.home,
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            start_new_session=True,  # setsid: its own session and process group, no terminal
            preexec_fn=_join_cgroups([Path(c) / "cgroup.procs" for c in state.cgroups]))
    state.keeper_pid = keeper.pid
    state.keeper_starttime = (_proc_stat(keeper.pid) or ("", None))[1]
    state.save(state_file)

    def forked() -> list[int]:
        kids = _children(keeper.pid)
        if not kids and keeper.poll() is not None:
            raise UserMgrError(f"runuser exited with status {keeper.returncode}")
        return kids

    try:
        pid = wait_for(forked, 5.0, "runuser to fork the manager")[0]
    except (UserMgrError, TimeoutError) as exc:
        raise UserMgrError(f"{exc}\n--- {state.log_path} ---\n{mgr.manager_log()}") from None
    stat = _proc_stat(pid)
    state.manager_pid = pid
    state.manager_starttime = stat[1] if stat else None
    state.save(state_file)

    try:
        status = _wait_running(mgr, lambda: _alive(pid))
    except UserMgrError as exc:
        raise UserMgrError(f"{exc}\n--- {state.log_path} ---\n{mgr.manager_log()}") from None
    state.startup_seconds = round(time.monotonic() - began, 3)
    if status == "degraded":
        _report_degraded(mgr)
    log(f"systemd --user running as {state.user} (uid {state.uid}), pid {pid}, "
        f"ready in {state.startup_seconds:.2f} s; log {state.log_path}")
    # runuser and the manager outlive us: the Popen is dropped without wait() on purpose.
    return state


def cmd_start(state_file: Path) -> int:
    if state_file.exists():
        log(f"{state_file} exists: cleaning up an earlier run first")
        cmd_stop(state_file)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        state = _start_spawned(state_file) if os.geteuid() == 0 else _start_existing(state_file)
    except Unavailable as exc:
        log(f"SKIP: {exc}")
        if state_file.exists():
            cmd_stop(state_file)  # undo a half-done set-up before forgetting it
        State(mode="skipped", reason=str(exc)).save(state_file)
        return skips.fixture_cannot("usermgr.py start", str(exc), EXIT_SKIP)
    except (UserMgrError, OSError, subprocess.SubprocessError, TimeoutError) as exc:
        log(f"cannot start a user manager: {exc}")
        if state_file.exists():
            log("undoing what was set up")
            cmd_stop(state_file)
        return 1
    state.save(state_file)
    return 0


# --- stop -----------------------------------------------------------------------------------

def _stop_test_units(mgr: Manager) -> None:
    """Stop and forget every pylaunchd-test-* unit, and delete their files."""
    try:
        left = mgr.leftover_units()
        if left:
            log(f"stopping units the tests left behind: {' '.join(left)}")
            mgr.systemctl("stop", UNIT_PREFIX + "*", check=False, timeout=STOP_DEADLINE)
            mgr.systemctl("reset-failed", UNIT_PREFIX + "*", check=False, timeout=5)
        files = sorted(mgr.unit_dir.glob(UNIT_PREFIX + "*")) if mgr.unit_dir.is_dir() else []
        for path in files:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)  # a drop-in directory
            else:
                path.unlink(missing_ok=True)
        if files:
            log(f"removed unit files: {' '.join(p.name for p in files)}")
            mgr.daemon_reload()
    except (OSError, subprocess.SubprocessError) as exc:
        log(f"cannot clean up test units: {exc}, ignoring")


def _end_manager(state: State) -> None:
    pid, start = state.manager_pid, state.manager_starttime
    if pid is None or not _alive(pid, start):
        return
    # A user manager starts exit.target on SIGTERM: units are stopped, then it exits.
    _kill_all([pid], signal.SIGTERM)
    try:
        wait_for(lambda: not _alive(pid, start), STOP_DEADLINE, f"manager pid {pid} to exit")
    except TimeoutError:
        log(f"manager pid {pid} ignored SIGTERM for {STOP_DEADLINE:g} s: SIGKILL")
        _kill_all([pid], signal.SIGKILL)
        try:
            wait_for(lambda: not _alive(pid, start), 3.0, f"manager pid {pid} to die")
        except TimeoutError as exc:
            log(f"{exc}, ignoring")
    # runuser reaps it at once and exits; until then the manager is a zombie of the test user.
    try:
        wait_for(lambda: (st := _proc_stat(pid)) is None or st[1] != start, 3.0,
                 f"manager pid {pid} to be reaped")
    except TimeoutError:
        log(f"manager pid {pid} exited but is not reaped yet (a zombie), ignoring")


def _end_keeper(state: State) -> None:
    """runuser normally exits with the manager; one left over (manager never forked) is ended."""
    pid, start = state.keeper_pid, state.keeper_starttime
    if pid is not None and _alive(pid, start):
        _kill_all([pid], signal.SIGKILL)


def cmd_stop(state_file: Path) -> int:
    try:
        state = State.load(state_file)
    except FileNotFoundError:
        log(f"no state file {state_file}: nothing to stop")
        return 0
    except (OSError, ValueError, TypeError) as exc:
        log(f"unreadable state file {state_file} ({exc}): removing it")
        state_file.unlink(missing_ok=True)
        return 0

    if state.mode != "skipped":
        mgr = Manager(state)
        if state.mode == "existing" or (state.manager_pid and _alive(state.manager_pid, state.manager_starttime)):
            _stop_test_units(mgr)
        if state.mode == "spawned":
            _end_manager(state)
            _end_keeper(state)
            for top in reversed(state.cgroups):
                remove_cgroup(Path(top))
            stray = _pids_of_uid(state.uid) if state.uid > 0 else []
            if stray:
                log(f"killing stray processes of {state.user}: {stray}")
                _kill_all(stray, signal.SIGKILL)
            if state.uid > 0 and _pids_of_uid(state.uid, zombies=True):
                # Processes orphaned by a manager that died are reaped by PID 1, which here
                # takes a second or two: wait, so nothing of the test user's is left in ps.
                try:
                    wait_for(lambda: not _pids_of_uid(state.uid, zombies=True), 5.0,
                             f"PID 1 to reap the processes of {state.user}")
                except TimeoutError as exc:
                    log(f"{exc}, ignoring")
            if state.created_runtime_dir:
                shutil.rmtree(state.runtime_dir, ignore_errors=True)
            if state.created_run_systemd_system:
                _sd_booted_ref(-1)
            for path in (state.home and Path(state.home, ".config/systemd/user"),):
                # Unit files of a crashed run; _stop_test_units only runs while the manager does.
                if path and path.is_dir():
                    for stale in path.glob(UNIT_PREFIX + "*"):
                        shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)
        if state.stage_dir:
            shutil.rmtree(state.stage_dir, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(state.stage_dir))  # ~/.cache/pylaunchd-test, if empty
            except OSError:
                pass
        if state.mode == "spawned" and state.created_user and state.user.startswith(TEST_USER + "-"):
            # The fixture that made the user removes it (its processes are gone by now).
            r = subprocess.run(["userdel", "-r", "-f", state.user], capture_output=True, text=True)
            if r.returncode != 0:
                log(f"cannot remove user {state.user}: {r.stderr.strip()}, ignoring")
    state_file.unlink(missing_ok=True)
    if state.mode == "spawned":
        log(f"stopped the user manager of {state.user}; cleaned up")
    elif state.mode == "existing":
        log(f"cleaned up; the user manager of {state.user} was not ours and keeps running")
    return 0


# --- CLI ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("start", "start or adopt a user manager"),
                            ("stop", "stop test units and the manager we started"),
                            ("run", "run a command as the test user, e.g. -- systemctl --user status")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--state", required=True, help="the JSON state file")
        if name == "run":
            p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    state_file = Path(args.state).absolute()
    if args.command == "start":
        return cmd_start(state_file)
    if args.command == "stop":
        return cmd_stop(state_file)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    try:
        mgr = Manager.from_state(state_file)
    except (Unavailable, UserMgrError) as exc:
        log(str(exc))
        return 1
    return subprocess.run(mgr.user_argv(cmd or ["sh"]), env=mgr.user_env(), cwd=mgr.home).returncode


if __name__ == "__main__":
    sys.exit(main())
