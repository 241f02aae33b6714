"""What launchd.plist(5) requires of a pylaunchd agent's plist, checked on Linux.

Two independent parsers read every plist: Python's plistlib and libplist's plistutil (Debian
package libplist-utils). Then a small schema table checks the keys, the value types and the
values pylaunchd relies on, for each of the three variants in plist/: the check-in mode right
after the executable (--launchd, or --inetd), stdout in the log, a PATH. tree_problems holds the
copy of the agent's directory to owner-only modes. Shared by the launchd_*
tests; not a test itself.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import skips  # noqa: E402,F401  (tests/skips.py: the launchd tests' main, under the skip policy)

# The top-level keys launchd.plist(5) documents. Anything else is almost surely a typo, which
# launchd would ignore without a word (a misspelt "RunAtLoad" silently means the default).
TOP_LEVEL_KEYS = frozenset("""
    Label Disabled UserName GroupName inetdCompatibility LimitLoadToHosts LimitLoadFromHosts
    LimitLoadToSessionType LimitLoadToHardware LimitLoadFromHardware Program ProgramArguments
    EnableGlobbing EnableTransactions EnablePressuredExit OnDemand ServiceIPC KeepAlive RunAtLoad
    RootDirectory WorkingDirectory EnvironmentVariables Umask TimeOut ExitTimeOut
    ThrottleInterval InitGroups WatchPaths QueueDirectories StartOnMount StartInterval
    StartCalendarInterval StandardInPath StandardOutPath StandardErrorPath Debug WaitForDebugger
    SoftResourceLimits HardResourceLimits Nice ProcessType AbandonProcessGroup LowPriorityIO
    LowPriorityBackgroundIO MaterializeDatalessFiles LaunchOnlyOnce MachServices Sockets
    LaunchEvents SessionCreate LegacyTimers AssociatedBundleIdentifiers
""".split())

# The keys of one entry of the Sockets dictionary, launchd.plist(5) "Sockets".
SOCKET_KEYS = frozenset("""
    SockType SockPassive SockNodeName SockServiceName SockFamily SockProtocol SockPathName
    SecureSocketWithKey SockPathOwner SockPathGroup SockPathMode Bonjour MulticastGroup
""".split())

INETD_KEYS = frozenset({"Wait"})
PROCESS_TYPES = frozenset({"Background", "Standard", "Adaptive", "Interactive"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
VARIANTS = ("unix", "tcp", "inetd")

_COMMON = {
    "Label": str,
    "ProgramArguments": list,
    "Sockets": dict,
    "RunAtLoad": bool,
    "KeepAlive": bool,
    "ProcessType": str,
    "StandardErrorPath": str,
    # launchd's own PATH is /usr/bin:/bin:/usr/sbin:/sbin: every plist sets one, and --env's.
    "EnvironmentVariables": dict,
    # launchd's SIGKILL after SIGTERM must leave pylaunchd its stop timeout.
    "ExitTimeOut": int,
}

# variant -> the top-level keys it must have and their types. The inetd variant has no
# ThrottleInterval requirement: launchd starts one process per connection there. The listening
# variants keep stdout (print) in the log: without StandardOutPath it is lost.
REQUIRED = {
    "unix": {**_COMMON, "ThrottleInterval": int, "StandardOutPath": str},
    "tcp": {**_COMMON, "ThrottleInterval": int, "StandardOutPath": str},
    "inetd": {**_COMMON, "inetdCompatibility": dict},
}

# variant -> the launcher option right after the executable that says how it checks in (the
# launcher's --launchd: launchd alone, every error an error; --inetd: the connection on fd 0).
# None of the other ways may be on the command line.
MODE = {"unix": "--launchd", "tcp": "--launchd", "inetd": "--inetd"}
NEVER_IN_ARGS = ("--launchd", "--inetd", "--listen", "-l")

# variant -> top-level keys it must not have. In inetd mode stdout is the connection: a
# StandardOutPath would take it away from the client.
FORBIDDEN = {"unix": set(), "tcp": set(), "inetd": {"StandardOutPath"}}

# variant -> the keys each listener must have (with types), and the keys it must not have.
LISTENER_REQUIRED = {
    "unix": {"SockPathName": str, "SockPathMode": int},
    "tcp": {"SockNodeName": str, "SockServiceName": str, "SockType": str},
    "inetd": {"SockPathName": str, "SockPathMode": int},
}
LISTENER_FORBIDDEN = {
    "unix": {"SockNodeName", "SockServiceName"},
    "tcp": {"SockPathName", "SockPathMode"},
    "inetd": {"SockNodeName", "SockServiceName"},
}

# The type every optional key must have when present (a subset: the ones a pylaunchd plist might
# plausibly grow). bool is checked by exact type, so True never passes for an integer.
OPTIONAL_TYPES = {
    "Disabled": bool, "Program": str, "WorkingDirectory": str, "EnvironmentVariables": dict,
    "Umask": int, "ExitTimeOut": int, "StandardOutPath": str, "StandardInPath": str,
    "Nice": int, "AbandonProcessGroup": bool, "LowPriorityIO": bool,
}
SOCKET_OPTIONAL_TYPES = {"SockType": str, "SockPassive": bool, "SockFamily": str,
                         "SockProtocol": str, "SockPathOwner": int, "SockPathGroup": int}


def _type_problem(where: str, value, expected: type):
    # type() is, not isinstance: plistlib gives bool for <true/>, and bool is an int subclass.
    if type(value) is not expected:
        return f"{where}: {type(value).__name__} {value!r}, launchd.plist(5) wants {expected.__name__}"
    return None


def schema_problems(plist, variant: str) -> list:
    """Every way PLIST falls short of VARIANT's schema, as readable strings; [] when it is right."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    if type(plist) is not dict:
        return [f"top level: {type(plist).__name__}, a launchd plist is a dict"]
    out = []
    for key in sorted(set(plist) - TOP_LEVEL_KEYS):
        out.append(f"{key}: not a launchd.plist(5) key (a typo?)")
    for key, expected in REQUIRED[variant].items():
        if key not in plist:
            out.append(f"{key}: missing (required for the {variant} variant)")
        else:
            p = _type_problem(key, plist[key], expected)
            if p:
                out.append(p)
    for key, expected in OPTIONAL_TYPES.items():
        if key in plist and key not in REQUIRED[variant]:
            p = _type_problem(key, plist[key], expected)
            if p:
                out.append(p)
    for key in sorted(FORBIDDEN[variant] & set(plist)):
        out.append(f"{key}: must not be set in the {variant} variant")
    if "inetdCompatibility" in plist and variant != "inetd":
        out.append(f"inetdCompatibility: only the inetd variant has it, not {variant}")

    label = plist.get("Label")
    if type(label) is str and not label:
        out.append("Label: empty")
    args = plist.get("ProgramArguments")
    if type(args) is list:
        if not args:
            out.append("ProgramArguments: empty")
        for i, arg in enumerate(args):
            p = _type_problem(f"ProgramArguments[{i}]", arg, str)
            if p:
                out.append(p)
    for key in ("RunAtLoad", "KeepAlive"):
        if type(plist.get(key)) is bool and plist[key] is not False:
            out.append(f"{key}: {plist[key]!r}, must be false (started on demand, exits when idle)")
    ptype = plist.get("ProcessType")
    if type(ptype) is str and ptype not in PROCESS_TYPES:
        out.append(f"ProcessType: {ptype!r}, not one of {sorted(PROCESS_TYPES)}")
    throttle = plist.get("ThrottleInterval")
    if type(throttle) is int and throttle <= 0:
        out.append(f"ThrottleInterval: {throttle}, must be positive")
    stderr_path = plist.get("StandardErrorPath")
    if type(stderr_path) is str and not stderr_path:
        out.append("StandardErrorPath: empty")
    stdout_path = plist.get("StandardOutPath")
    if type(stdout_path) is str and stdout_path != stderr_path:
        out.append(f"StandardOutPath: {stdout_path!r}, must be the log, StandardErrorPath {stderr_path!r}")
    if type(args) is list and args:
        out.extend(_mode_problems(args, variant))
    env = plist.get("EnvironmentVariables")
    if type(env) is dict:
        for key, value in env.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                out.append(f"EnvironmentVariables.{key}: not a variable name")
            p = _type_problem(f"EnvironmentVariables.{key}", value, str)
            if p:
                out.append(p)
        if type(env.get("PATH")) is not str or not env["PATH"]:
            out.append("EnvironmentVariables.PATH: missing (launchd's own PATH has no Homebrew, no ~/.local/bin)")
    exit_timeout = plist.get("ExitTimeOut")
    if type(exit_timeout) is int and exit_timeout <= 10:
        out.append(f"ExitTimeOut: {exit_timeout}, must be more than pylaunchd's default stop timeout (10 s)")

    inetd = plist.get("inetdCompatibility")
    if type(inetd) is dict:
        for key in sorted(set(inetd) - INETD_KEYS):
            out.append(f"inetdCompatibility.{key}: not a launchd.plist(5) key")
        if "Wait" not in inetd:
            out.append("inetdCompatibility.Wait: missing")
        else:
            p = _type_problem("inetdCompatibility.Wait", inetd["Wait"], bool)
            if p:
                out.append(p)
            elif inetd["Wait"] is not False:
                out.append("inetdCompatibility.Wait: true, must be false (one process per connection)")

    sockets = plist.get("Sockets")
    if type(sockets) is dict:
        if not sockets:
            out.append("Sockets: empty")
        for name, listener in sockets.items():
            out.extend(_listener_problems(f"Sockets.{name}", listener, variant))
    return out


# The agents folder's watcher (plist/pylaunchd-sync.plist.in, `pylaunchd sync --watch-install`):
# no socket; it runs `pylaunchd sync` when the folder changes and once at load.
WATCHER_REQUIRED = {"Label": str, "ProgramArguments": list, "WatchPaths": list, "RunAtLoad": bool,
                    "KeepAlive": bool, "ProcessType": str, "ThrottleInterval": int, "EnvironmentVariables": dict,
                    "StandardOutPath": str, "StandardErrorPath": str}


def watcher_problems(plist) -> list:
    """Every way PLIST falls short of the watcher's schema; [] when it is right."""
    if type(plist) is not dict:
        return [f"top level: {type(plist).__name__}, a launchd plist is a dict"]
    out = [f"{key}: not a launchd.plist(5) key (a typo?)" for key in sorted(set(plist) - TOP_LEVEL_KEYS)]
    for key, expected in WATCHER_REQUIRED.items():
        if key not in plist:
            out.append(f"{key}: missing (required for the watcher)")
        else:
            p = _type_problem(key, plist[key], expected)
            if p:
                out.append(p)
    for key in ("Sockets", "inetdCompatibility", "StartInterval", "QueueDirectories"):
        if key in plist:
            out.append(f"{key}: the watcher is started by WatchPaths alone")
    args = plist.get("ProgramArguments")
    if type(args) is list:
        if [type(a) for a in args] != [str] * len(args):
            out.append("ProgramArguments: every item must be a string")
        elif len(args) < 2 or args[1] != "sync" or any(a.startswith("--watch") for a in args):
            out.append(f"ProgramArguments: {args!r}, must run `pylaunchd sync` (and never install a watcher)")
    paths = plist.get("WatchPaths")
    if type(paths) is list:
        if not paths:
            out.append("WatchPaths: empty")
        for i, path in enumerate(paths):
            if type(path) is not str or not path.startswith("/"):
                out.append(f"WatchPaths[{i}]: {path!r}, must be an absolute path")
    if plist.get("KeepAlive") is not False:
        out.append("KeepAlive: must be false (a sync ends; WatchPaths starts the next)")
    if type(plist.get("ThrottleInterval")) is int and plist["ThrottleInterval"] <= 0:
        out.append(f"ThrottleInterval: {plist['ThrottleInterval']}, must be positive")
    if plist.get("StandardOutPath") != plist.get("StandardErrorPath"):
        out.append("StandardOutPath: must be the log, StandardErrorPath (sync reports on stdout)")
    env = plist.get("EnvironmentVariables")
    if type(env) is dict and (type(env.get("PATH")) is not str or not env["PATH"]):
        out.append("EnvironmentVariables.PATH: missing (sync runs launchctl)")
    if type(plist.get("ProcessType")) is str and plist["ProcessType"] not in PROCESS_TYPES:
        out.append(f"ProcessType: {plist['ProcessType']!r}, not one of {sorted(PROCESS_TYPES)}")
    return out


def _mode_problems(args: list, variant: str) -> list:
    """The check-in mode right after the executable, and no other way of getting sockets."""
    want = MODE[variant]
    if len(args) < 2 or args[1] != want:
        return [f"ProgramArguments[1]: {args[1:2]}, must be {want!r} (how the {variant} variant checks in)"]
    # The agent's own arguments come after its path: only the launcher's part is checked.
    end = next((i for i, a in enumerate(args) if type(a) is str and a.endswith(".py")), len(args))
    return [f"ProgramArguments[{i}]: {a!r} beside {want}: one way of getting sockets, said once"
            for i, a in enumerate(args[2:end], 2) if type(a) is str and (a in NEVER_IN_ARGS or a.startswith("--listen="))]


def _listener_problems(where: str, listener, variant: str) -> list:
    if type(listener) is not dict:
        # launchd also allows an array of dicts; pylaunchd's plists always use a single dict.
        return [f"{where}: {type(listener).__name__}, want a dict of socket keys"]
    out = []
    for key in sorted(set(listener) - SOCKET_KEYS):
        out.append(f"{where}.{key}: not a launchd.plist(5) socket key (a typo?)")
    for key, expected in LISTENER_REQUIRED[variant].items():
        if key not in listener:
            out.append(f"{where}.{key}: missing (required for the {variant} variant)")
        else:
            p = _type_problem(f"{where}.{key}", listener[key], expected)
            if p:
                out.append(p)
    for key, expected in SOCKET_OPTIONAL_TYPES.items():
        if key in listener and key not in LISTENER_REQUIRED[variant]:
            p = _type_problem(f"{where}.{key}", listener[key], expected)
            if p:
                out.append(p)
    for key in sorted(LISTENER_FORBIDDEN[variant] & set(listener)):
        out.append(f"{where}.{key}: must not be set in the {variant} variant")
    if type(listener.get("SockPathMode")) is int and listener["SockPathMode"] != 0o600:
        out.append(f"{where}.SockPathMode: {listener['SockPathMode']} (0{listener['SockPathMode']:o}),"
                   f" must be 384 (0600): only the user may connect")
    if type(listener.get("SockType")) is str and listener["SockType"] != "stream":
        out.append(f"{where}.SockType: {listener['SockType']!r}, must be \"stream\"")
    for key in ("SockPathName", "SockServiceName"):
        if type(listener.get(key)) is str and not listener[key]:
            out.append(f"{where}.{key}: empty")
    node = listener.get("SockNodeName")
    if variant == "tcp" and type(node) is str and node not in LOOPBACK_NAMES:
        out.append(f"{where}.SockNodeName: {node!r}, must be a loopback name "
                   f"({', '.join(sorted(LOOPBACK_NAMES))})")
    return out


# ---------------------------------------------------------------------------------------------
# the copy of the agent's directory

# Never in the copy (install.py's COPY_SKIP_DIRS, the ones a test makes), nor a virtualenv.
NEVER_COPIED = frozenset({".git", "__pycache__", "node_modules"})


def tree_problems(root: str) -> list:
    """Every way the copy at ROOT falls short: the launcher's StrictModes refuses what others
    can write, and ROOT is the agent's sys.path[0], where nobody else may create a file. So:
    directories 0700, files 0600 or 0700, all the user's, no links (a link could point anywhere
    the job cannot read), nothing that is never copied."""
    out = []
    uid = os.getuid()
    for top, dirs, files in os.walk(root):
        for path in [top] + [os.path.join(top, f) for f in dirs + files]:
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if st.st_uid != uid:
                out.append(f"{rel}: owned by uid {st.st_uid}, not {uid}")
            if stat.S_ISLNK(st.st_mode):
                out.append(f"{rel}: a link")
            elif stat.S_ISDIR(st.st_mode):
                if mode != 0o700:
                    out.append(f"{rel}: directory mode {mode:04o}, must be 0700")
                if os.path.basename(path) in NEVER_COPIED or os.path.exists(os.path.join(path, "pyvenv.cfg")):
                    out.append(f"{rel}: must not be copied")
            elif mode not in (0o600, 0o700):
                out.append(f"{rel}: file mode {mode:04o}, must be 0600 or 0700")
    return out


# ---------------------------------------------------------------------------------------------
# plistutil

def plistutil() -> str:
    path = shutil.which("plistutil")
    if path is None:
        raise AssertionError("plistutil not found: install the libplist-utils package")
    return path


def _run_plistutil(args: list) -> subprocess.CompletedProcess:
    return subprocess.run([plistutil()] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30)


def plistutil_parse(data: bytes) -> dict:
    """DATA (an XML plist) as libplist reads it, raising AssertionError if libplist rejects it.

    plistutil 2.2 copies an XML input to XML output byte for byte without parsing it, and exits
    0 even when it prints "ERROR: Failed to convert input file.", so neither `-f xml` nor the
    exit status alone proves anything. The real test is a conversion to the binary format and
    back: that parses the XML, and the XML libplist writes is then read with plistlib.
    """
    with tempfile.TemporaryDirectory(prefix="plistcheck-") as tmp:
        src, binary = os.path.join(tmp, "in.plist"), os.path.join(tmp, "out.bplist")
        with open(src, "wb") as f:
            f.write(data)
        r = _run_plistutil(["-i", src, "-f", "xml"])
        if r.returncode != 0 or b"ERROR" in r.stderr:
            raise AssertionError(f"plistutil -f xml: status {r.returncode}: {r.stderr.decode(errors='replace')}")
        r = _run_plistutil(["-i", src, "-f", "bin", "-o", binary])
        if r.returncode != 0 or r.stderr.strip() or not os.path.exists(binary):
            raise AssertionError(f"plistutil rejects the plist (status {r.returncode}): "
                                 f"{r.stderr.decode(errors='replace').strip()}")
        with open(binary, "rb") as f:
            if not f.read(8) == b"bplist00":
                raise AssertionError("plistutil -f bin did not write a binary plist")
        r = _run_plistutil(["-i", binary, "-f", "xml"])
        if r.returncode != 0 or r.stderr.strip():
            raise AssertionError(f"plistutil bin -> xml: status {r.returncode}: "
                                 f"{r.stderr.decode(errors='replace').strip()}")
        return plistlib.loads(r.stdout)


def parse_both(data: bytes) -> dict:
    """DATA read by plistlib and by plistutil, which must agree; the plistlib result."""
    ours = plistlib.loads(data)
    theirs = plistutil_parse(data)
    if ours != theirs:
        raise AssertionError(f"plistlib and plistutil disagree:\n{ours!r}\n{theirs!r}")
    return ours
