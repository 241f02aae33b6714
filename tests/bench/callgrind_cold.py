#!/usr/bin/env python3
"""Where a cold start's instructions go, from exec to the handler's first recv(), by callgrind.

    python3 tests/bench/callgrind_cold.py --build build [--top 40] [--keep DIR]

Runs pylaunchd + agent/Agent.py, refs/floor.py and refs/classic.py (`python3.11 -I -S`) under
`systemd-socket-activate --accept`, each under `valgrind --tool=callgrind --dump-before=recv`, and
makes one connection: profile part 1 is everything from exec up to the first recv() call, the
moment the agent's handler starts reading (pylaunchd and the refs make no recv() before it).
Instruction counts repeat from run to run, unlike times on this machine, so a change to the
cold path can be proved here: it prints each one's count and its ratio to the floor, then
pylaunchd's biggest inclusive costs (named functions only: Debian's libpython has no symbols for
its static functions) and the dynamic loader's share.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent.parent
MARKERS = ("_dl_start ", "Py_InitializeFromConfig", "interp_start", "interp_load_agent",
           "module_load", "activation_checkin", "serve_run", "Py_RunMain", "_PyRun_SimpleFileObject",
           "PyImport_ImportModuleLevelObject ", "_PyCodec_Lookup", "PyType_Ready")


def profile(name: str, argv: list[str], work: Path, loadgen: Path) -> Path:
    """Part 1 (exec to first recv) of one callgrind run of argv, given one connection."""
    sock = work / f"{name}.sock"
    out = work / f"{name}.%p.out"
    cmd = ["systemd-socket-activate", "--accept", "-l", str(sock), "valgrind", "--tool=callgrind",
           "--dump-before=recv", f"--callgrind-out-file={out}"] + argv
    with open(work / f"{name}.log", "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
    try:
        end = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > end or proc.poll() is not None:
                raise SystemExit(f"{name}: systemd-socket-activate did not listen")
            time.sleep(0.01)
        res = subprocess.run([str(loadgen), "--connect", f"unix:{sock}", "--cold", "1"],
                             capture_output=True, text=True, timeout=120)
        if '"ok": 1' not in res.stdout:
            raise SystemExit(f"{name}: the connection failed: {res.stdout}{res.stderr}")
        end = time.monotonic() + 60  # valgrind writes the last part when the child exits
        while not list(work.glob(f"{name}.*.out")):
            if time.monotonic() > end:
                raise SystemExit(f"{name}: no callgrind output")
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    parts = sorted(work.glob(f"{name}.*.out.1"))
    if not parts:
        raise SystemExit(f"{name}: no profile part 1: recv() was never called")
    return parts[0]


def summary(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise SystemExit(f"no summary in {path}")


def inclusive(path: Path) -> list[tuple[int, str]]:
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", str(path)],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S.*)$", line)
        # Skip recursion levels (f'2) and inlined-code lines without an object file.
        if m and "=>" not in line and "'" not in m.group(2) and " [" in m.group(2):
            rows.append((int(m.group(1).replace(",", "")), m.group(2)))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--pylaunchd")
    p.add_argument("--loadgen")
    p.add_argument("--python", default="/usr/bin/python3.11")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--keep", metavar="DIR", help="keep the callgrind files here")
    args = p.parse_args()
    build = Path(args.build).resolve()
    exe = Path(args.pylaunchd or build / "pylaunchd")
    loadgen = Path(args.loadgen or build / "tests/bench/loadgen")
    for tool in ("valgrind", "callgrind_annotate", "systemd-socket-activate"):
        if not shutil.which(tool):
            p.error(f"{tool} is not installed")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pylaunchd-callgrind-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        agent = work / "agent" / "Agent.py"
        agent.parent.mkdir(exist_ok=True)
        shutil.copy2(SOURCE_DIR / "agent" / "Agent.py", agent)
        # Compiled once first, so the profile sees the cached bytecode a real cold start finds.
        subprocess.run([args.python, "-I", "-S", "-c", f"import py_compile; py_compile.compile({str(agent)!r})"],
                       check=True)
        runs = {
            "pylaunchd": [str(exe), str(agent)],
            "floor": [args.python, "-I", "-S", str(HERE / "refs" / "floor.py")],
            "classic": [args.python, "-I", "-S", str(HERE / "refs" / "classic.py")],
        }
        parts = {name: profile(name, argv, work, loadgen) for name, argv in runs.items()}
        counts = {name: summary(part) for name, part in parts.items()}
        print("instructions from exec to the handler's first recv() (callgrind, one connection, "
              "systemd-socket-activate --accept):")
        for name, n in counts.items():
            print(f"  {name:10s} {n:>12,d}  {n / counts['floor']:.2f}x floor")
        for name in ("pylaunchd", "floor"):
            rows = inclusive(parts[name])
            print(f"\n{name}: markers (inclusive)")
            for n, fn in rows:
                if any(m in fn + " " for m in MARKERS):
                    print(f"  {n:>12,d}  {n / counts[name] * 100:5.1f}%  {fn[:110]}")
        print(f"\npylaunchd: top {args.top} named functions (inclusive)")
        shown = 0
        for n, fn in inclusive(parts["pylaunchd"]):
            if "???:0x" in fn or fn.startswith(("PROGRAM", "events")):
                continue
            print(f"  {n:>12,d}  {n / counts['pylaunchd'] * 100:5.1f}%  {fn[:110]}")
            shown += 1
            if shown >= args.top:
                break
        print(f"\nfiles: {work}" if args.keep else "")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
