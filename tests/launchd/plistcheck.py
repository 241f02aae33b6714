"""What launchd.plist(5) requires of a pylaunchd agent's plist, checked on Linux.

Two independent parsers read every plist: Python's plistlib and libplist's plistutil (Debian
package libplist-utils). Then a small schema table checks the keys, the value types and the
values pylaunchd relies on, for each of the three variants in plist/. Shared by the launchd_*
tests; not a test itself.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import tempfile

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
}

# variant -> the top-level keys it must have and their types. The inetd variant has no
# ThrottleInterval requirement: launchd starts one process per connection there.
REQUIRED = {
    "unix": {**_COMMON, "ThrottleInterval": int},
    "tcp": {**_COMMON, "ThrottleInterval": int},
    "inetd": {**_COMMON, "inetdCompatibility": dict},
}

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


def plistutil_json_supported() -> bool:
    """libplist 2.3 added `-f json`; Debian 12's 2.2 has only bin and xml."""
    r = subprocess.run([plistutil(), "-i", "-", "-f", "json"], input=b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return b"Unsupported output format" not in r.stdout + r.stderr


def plistutil_json(data: bytes):
    """DATA converted to JSON by plistutil, parsed; only where plistutil_json_supported()."""
    import json
    r = subprocess.run([plistutil(), "-i", "-", "-f", "json"], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0 or r.stderr.strip():
        raise AssertionError(f"plistutil -f json: status {r.returncode}: "
                             f"{r.stderr.decode(errors='replace').strip()}")
    return json.loads(r.stdout)


def parse_both(data: bytes) -> dict:
    """DATA read by plistlib and by plistutil, which must agree; the plistlib result."""
    ours = plistlib.loads(data)
    theirs = plistutil_parse(data)
    if ours != theirs:
        raise AssertionError(f"plistlib and plistutil disagree:\n{ours!r}\n{theirs!r}")
    return ours
