#!/usr/bin/env python3
"""Readiness, STATUS and the watchdog, seen through `systemctl --user show` of a real manager.

READY=1 comes only after the agent is imported: an agent that takes 1.5 s to import keeps the
Type=notify service `activating`, with no status, until then; it is `active` with "Serving ..."
after. STATUS then counts the connections handled. With WatchdogSec=2 (a drop-in the user
writes), an idle service without idle exit is pinged and lives on well past 2 s; a handler
that holds the interpreter stops the pings, and the watchdog ends it. Needs the fixture of
usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import unittest

import usermgr
from usermgr import end_process, stage_text

NAME = "pylaunchd-test-status"
SOCKET, SERVICE = f"{NAME}.socket", f"{NAME}.service"
DEADLINE = 10.0  # seconds for any one state change
WATCHED = 6.0    # seconds a pinged service is watched (three times WatchdogSec)

# Slow to import (argv[1] seconds); answers ROT13; a line "wedge" holds the GIL for good.
AGENT = """\
import re
import sys
import time

time.sleep(float(sys.argv[1]))
_ROT13 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")


def handle(conn):
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
        if data == b"wedge\\n":
            re.match(rb"(a*)*b", b"a" * 64)  # exponential, and the regex engine keeps the GIL
        if data.endswith(b"\\n"):
            conn.sendall(data.translate(_ROT13))
            data = b""
"""

# Runs as the test user: one line, print the answer (or what happened instead).
CLIENT = """\
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\\n")
try:
    data = s.recv(100)
    print("EOF" if not data else data.decode(errors="replace").rstrip("\\n"))
except ConnectionResetError:
    print("RESET")
except TimeoutError:
    print("TIMEOUT")
"""


class Status(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.agent = stage_text(cls.mgr, "StatusAgent.py", AGENT)
        cls.client_script = stage_text(cls.mgr, "status_client.py", CLIENT)
        cls.sock_path = cls.mgr.runtime_dir / f"{NAME}.sock"
        cls.dropin = cls.mgr.unit_dir / f"{SERVICE}.d" / "watchdog.conf"

    @classmethod
    def tearDownClass(cls) -> None:
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(30)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        self.mgr.remove_agent(self.exe, NAME, self.sock_path, stop=(SOCKET, SERVICE), remove=(SOCKET, SERVICE),
                              dropin=self.dropin)

    def install(self, import_seconds: float, watchdog: bool = False) -> None:
        self.mgr.run_as_user([self.exe, "install", "--name", NAME, "--idle-timeout", "0", self.agent,
                              str(import_seconds)])
        if watchdog:
            self.mgr.write_as_user(self.dropin, "[Service]\nWatchdogSec=2\n")
            self.mgr.daemon_reload()

    def client(self, line: str, timeout: float = DEADLINE) -> subprocess.Popen:
        proc = subprocess.Popen(
            self.mgr.user_argv([self.mgr.user_python, self.client_script, str(self.sock_path), line,
                                str(timeout)]),
            env=self.mgr.user_env(), cwd=self.mgr.home, text=True, stdout=subprocess.PIPE)
        self.addCleanup(end_process, proc)
        return proc

    def ask(self, line: str) -> str:
        proc = self.client(line)
        return proc.communicate(timeout=DEADLINE + 10)[0].strip()

    def show(self, *props: str) -> dict[str, str]:
        return self.mgr.show(SERVICE, *props)

    def test_ready_only_after_import_then_status_counts(self) -> None:
        self.install(1.5)
        first = self.client("Hello")
        states = []

        def active() -> bool:
            p = self.show("ActiveState", "SubState", "StatusText")
            states.append((p["ActiveState"], p["SubState"], p["StatusText"]))
            return p["ActiveState"] not in ("inactive", "activating")

        self.mgr.wait_for(active, DEADLINE, f"{SERVICE} to leave activating")
        activating = [s for s in states if s[0] == "activating"]
        print(f"\nstates seen while the agent imported: {len(activating)} x activating, then {states[-1]}")
        self.assertTrue(activating, f"never seen activating while the agent imported: {states}")
        self.assertEqual({s[2] for s in activating}, {""}, "a status was sent before the import ended")
        self.assertEqual(states[-1][:2], ("active", "running"))
        self.assertTrue(states[-1][2].startswith(f"Serving StatusAgent.py on '{NAME}'"), states[-1][2])
        self.assertEqual(first.communicate(timeout=DEADLINE + 10)[0].strip(), "Uryyb")

        self.assertEqual(self.ask("two"), "gjb")
        self.assertEqual(self.ask("three"), "guerr")
        text = self.mgr.wait_for(lambda: (t := self.show("StatusText")["StatusText"]).endswith(
            "3 connection(s) handled, 0 in flight") and t, DEADLINE, "STATUS to count 3 connections")
        print(f"StatusText after 3 connections: {text!r}")
        self.assertEqual(text, f"Serving StatusAgent.py on '{NAME}': 3 connection(s) handled, 0 in flight")

        self.mgr.systemctl("stop", SERVICE)
        p = self.show("ActiveState", "Result", "ExecMainStatus", "StatusText")
        self.assertEqual((p["ActiveState"], p["Result"], p["ExecMainStatus"]), ("inactive", "success", "0"))

    def test_watchdog_keeps_a_pinged_service_alive(self) -> None:
        self.install(0, watchdog=True)
        self.assertEqual(self.ask("watched"), "jngpurq")
        p = self.show("WatchdogUSec", "MainPID", "ActiveState")
        self.assertEqual((p["WatchdogUSec"], p["ActiveState"]), ("2s", "active"))
        pid = p["MainPID"]

        # Watched for three times WatchdogSec: still the same process, and the pings keep coming.
        pings = set()
        end = time.monotonic() + WATCHED
        while time.monotonic() < end:
            q = self.show("ActiveState", "MainPID", "WatchdogTimestampMonotonic")
            self.assertEqual((q["ActiveState"], q["MainPID"]), ("active", pid), "the watchdog ended it")
            pings.add(q["WatchdogTimestampMonotonic"])
            time.sleep(0.2)
        print(f"\nwatchdog pings seen in {WATCHED:g} s: {len(pings)}")
        self.assertGreaterEqual(len(pings), 3, "the watchdog timestamp did not advance")
        self.assertEqual(self.ask("still"), "fgvyy")

        self.mgr.systemctl("stop", SERVICE)
        q = self.show("ActiveState", "Result", "ExecMainStatus")
        self.assertEqual((q["ActiveState"], q["Result"], q["ExecMainStatus"]), ("inactive", "success", "0"))

    def test_watchdog_ends_a_wedged_interpreter(self) -> None:
        self.install(0, watchdog=True)
        self.assertEqual(self.ask("first"), "svefg")
        wedged = self.client("wedge", timeout=DEADLINE + 5)
        p = self.mgr.wait_for(lambda: (p := self.show("ActiveState", "Result"))["Result"] == "watchdog" and p,
                              DEADLINE, "the watchdog to end the wedged service")
        print(f"\nwedged handler: service {p['ActiveState']}, Result={p['Result']}")
        self.assertIn(wedged.communicate(timeout=DEADLINE + 10)[0].strip(), ("EOF", "RESET"))


if __name__ == "__main__":
    usermgr.scenario_main()
