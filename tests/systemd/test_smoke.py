#!/usr/bin/env python3
"""Smoke scenario: a real systemd --user manager socket-activates pylaunchd serving Agent.py.

Proves the harness end to end: units installed for the test user, the socket started, a client
running as that user gets the ROT13 answer, the service shows up active, and everything is
stopped and removed again. Needs the fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import os
import sys
import unittest

import usermgr

SOCKET = "pylaunchd-test-smoke.socket"
SERVICE = "pylaunchd-test-smoke.service"
SOCK_NAME = "pylaunchd-test-smoke.sock"
DEADLINE = 10.0  # seconds for any one state change


class Smoke(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        src = os.environ["PYLAUNCHD_SOURCE_DIR"]
        # The build and source trees may be unreadable to the test user (a clone under /root).
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.agent = cls.mgr.stage(os.path.join(src, "agent", "Agent.py"))
        cls.client = cls.mgr.stage(os.path.join(src, "agent", "client.py"))
        cls.sock_path = cls.mgr.runtime_dir / SOCK_NAME

    @classmethod
    def tearDownClass(cls) -> None:
        # ctest shows this only when the test failed (--output-on-failure).
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(20)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.remove_units)
        self.socket_file = self.mgr.install_unit(SOCKET, f"""\
[Unit]
Description=pylaunchd smoke test: the ROT13 agent's socket

[Socket]
ListenStream=%t/{SOCK_NAME}
SocketMode=0600
""")
        self.service_file = self.mgr.install_unit(SERVICE, f"""\
[Unit]
Description=pylaunchd smoke test: the ROT13 agent

[Service]
Type=simple
ExecStart={self.exe} {self.agent}
""")
        self.mgr.daemon_reload()

    def remove_units(self) -> None:
        self.mgr.systemctl("stop", SOCKET, SERVICE, check=False)
        self.mgr.systemctl("reset-failed", SOCKET, SERVICE, check=False)
        self.mgr.remove_unit(SOCKET)
        self.mgr.remove_unit(SERVICE)
        self.mgr.daemon_reload()
        self.sock_path.unlink(missing_ok=True)  # RemoveOnStop=no leaves it behind
        self.assertEqual(self.state(SERVICE), "inactive")

    def state(self, unit: str) -> str:
        return self.mgr.show(unit, "ActiveState")["ActiveState"]

    def ask(self, line: str) -> str:
        """Run agent/client.py as the test user: one line to the socket, the answer back."""
        proc = self.mgr.run_as_user([self.mgr.user_python, self.client, f"unix:{self.sock_path}", line])
        return proc.stdout.rstrip("\n")

    def test_units_verify(self) -> None:
        proc = self.mgr.analyze("verify", str(self.socket_file), str(self.service_file))
        self.assertEqual(proc.stdout.strip(), "")
        self.assertEqual(proc.stderr.strip(), "", "systemd-analyze verify complained")

    def test_rot13_via_socket_activation(self) -> None:
        self.assertFalse(self.sock_path.exists(), "the socket exists before its unit started")
        with self.assertRaises(usermgr.CommandFailed, msg="a client connected to no socket"):
            self.ask("nobody listens")

        self.mgr.systemctl("start", SOCKET)
        self.mgr.wait_for(lambda: self.state(SOCKET) == "active", DEADLINE, f"{SOCKET} to listen")
        st = self.sock_path.stat()
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.mgr.uid, 0o600))
        self.assertEqual(self.state(SERVICE), "inactive", "started before the first connection")

        self.assertEqual(self.ask("Hello, world"), "Uryyb, jbeyq")
        self.mgr.wait_for(lambda: self.state(SERVICE) == "active", DEADLINE, f"{SERVICE} to be active")
        pid = int(self.mgr.show(SERVICE, "MainPID")["MainPID"])
        self.assertNotEqual(pid, 0)
        with open(f"/proc/{pid}/status") as status:
            uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
        self.assertEqual({int(u) for u in uids}, {self.mgr.uid}, "the service runs as another user")
        # The same process answers the next connection: Accept=no, one long-lived server.
        self.assertEqual(self.ask("Uryyb, jbeyq"), "Hello, world")
        self.assertEqual(int(self.mgr.show(SERVICE, "MainPID")["MainPID"]), pid)

        self.mgr.systemctl("stop", SOCKET, SERVICE)
        self.mgr.wait_for(lambda: self.state(SERVICE) == "inactive", DEADLINE, f"{SERVICE} to stop")
        self.assertEqual(self.state(SOCKET), "inactive")
        # The file stays (RemoveOnStop=no is the default), but nobody listens on it.
        with self.assertRaises(usermgr.CommandFailed, msg="a client connected after stop"):
            self.ask("still there?")


if __name__ == "__main__":
    usermgr.scenario_main()
