#!/usr/bin/env python3
"""valgrind_smoke.py: pylaunchd serving ROT13 under valgrind memcheck, once (ctest valgrind_smoke).

Starts the normal build's binary as
    valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
             --suppressions=valgrind-python.supp pylaunchd --listen unix:TMP/rot13.sock Agent.py
makes a few ROT13 connections (one after another, then several at once, so worker threads
start), stops it with SIGTERM, and requires a clean result: exit status 0 (valgrind turns any
memory error or definite leak into 1), "ERROR SUMMARY: 0 errors" and nothing definitely lost.
valgrind-python.supp says what it suppresses of CPython's and why. Stdlib only.

Environment (set by ctest): PYLAUNCHD (the binary), PYLAUNCHD_AGENT_DIR (agent/), VALGRIND_SUPP.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

#: Python starts tens of times slower under valgrind: generous, and only ever a bound on a hang.
DEADLINE = 90.0


def rot13(data: bytes) -> bytes:
    upper, lower = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"
    table = bytes.maketrans(upper + lower, upper[13:] + upper[:13] + lower[13:] + lower[:13])
    return data.translate(table)


def converse(path: str, lines) -> None:
    """One connection: send each line, check its ROT13 comes back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(DEADLINE)
        s.connect(path)
        for line in lines:
            s.sendall(line)
            got = b""
            while not got.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise AssertionError(f"connection closed after {got!r}, expected the ROT13 of {line!r}")
                got += chunk
            if got != rot13(line):
                raise AssertionError(f"sent {line!r}, got {got!r}, expected {rot13(line)!r}")


def wait_for_socket(path: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pylaunchd exited with {proc.returncode} before listening")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no listener on {path} after {DEADLINE:.0f} s")


def main() -> int:
    binary = os.environ["PYLAUNCHD"]
    agent = os.path.join(os.environ["PYLAUNCHD_AGENT_DIR"], "Agent.py")
    supp = os.environ["VALGRIND_SUPP"]
    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("valgrind_smoke: no valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
        return 1
    supps = [supp]
    known = os.path.join(os.path.dirname(supp), "valgrind-known-launcher-leaks.supp")
    if os.path.exists(known):
        supps.append(known)

    with tempfile.TemporaryDirectory(prefix="pylaunchd-valgrind-") as tmp:
        path = os.path.join(tmp, "rot13.sock")
        log = os.path.join(tmp, "valgrind.log")
        argv = [valgrind, "--error-exitcode=1", "--leak-check=full", "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite", "--num-callers=30", "-v", f"--log-file={log}",
                *[f"--suppressions={s}" for s in supps],
                binary, "--listen", f"unix:{path}", agent]
        print("valgrind_smoke:", " ".join(argv))
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stderr = []
        reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
        reader.start()
        try:
            wait_for_socket(path, proc)
            print(f"valgrind_smoke: listening after {time.monotonic() - started:.1f} s")
            for i in range(3):
                converse(path, [b"Hello, World\n", b"line %d: the quick brown fox\n" % i, bytes(range(1, 10)) + b"\n"])
            errors = []

            def client(n: int) -> None:
                try:
                    converse(path, [b"concurrent %d: abcxyz ABCXYZ\n" % n] * 5)
                except Exception as e:  # reported below, in the main thread
                    errors.append(e)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(DEADLINE)
            if errors:
                raise errors[0]
            print("valgrind_smoke: 7 connections answered; SIGTERM")
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(DEADLINE)
        with open(log, encoding="utf-8", errors="replace") as f:
            report = f.read()

    used = re.findall(r"used_suppression:\s+(\d+)\s+(.*?)\s+\S+:\d+", report)
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", report)
    definite = re.search(r"definitely lost: ([\d,]+) bytes", report)
    print(f"valgrind_smoke: exit {code} after {time.monotonic() - started:.1f} s; "
          f"{summary.group(0) if summary else 'no ERROR SUMMARY'}; "
          f"{definite.group(0) if definite else 'definitely lost: nothing'}")
    for count, name in used:
        print(f"valgrind_smoke: suppressed {count} x {name}")
    ok = code == 0 and summary is not None and summary.group(1) == "0" and (
        definite is None or definite.group(1) == "0")
    if not ok:
        print("valgrind_smoke: FAILED; pylaunchd's stderr:\n" + b"".join(stderr).decode(errors="replace"))
        print("valgrind_smoke: the valgrind log (errors and leaks):")
        # Without the "--PID--" lines of -v: what valgrind prints without it.
        print("\n".join(line for line in report.splitlines() if line.startswith("==")))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
