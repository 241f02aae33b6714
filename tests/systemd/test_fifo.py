#!/usr/bin/env python3
"""The FIFO control channel under a real systemd --user manager.

The units are units/agent-fifo.socket.in and units/agent.service.in, rendered here the way
`pylaunchd install` renders its templates, for agent/Control.py with a log file. Writing a
command with agent/control.py starts the service on demand and the command reaches the log; the
next commands follow in order; with the socket unit stopped the FIFO is gone (RemoveOnStop=yes)
and control.py fails at once. Needs the fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import os
import stat
import sys
import unittest
from pathlib import Path

import usermgr

NAME = "pylaunchd-test-ctl"
SOCKET, SERVICE = f"{NAME}.socket", f"{NAME}.service"
DEADLINE = 10.0  # seconds for any one state change


class Fifo(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.src = Path(os.environ["PYLAUNCHD_SOURCE_DIR"])
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.agent = cls.mgr.stage(cls.src / "agent" / "Control.py")
        cls.control = cls.mgr.stage(cls.src / "agent" / "control.py")
        cls.fifo = cls.mgr.runtime_dir / f"{NAME}.fifo"
        cls.log = cls.mgr.stage_dir / f"{NAME}-commands.log"  # in the user's home

    @classmethod
    def tearDownClass(cls) -> None:
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(30)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)
        values = {"NAME": NAME, "LISTEN": f"%t/{NAME}.fifo", "EXEC": f"{self.exe} {self.agent} {self.log}",
                  "GENERATED": "Rendered by tests/systemd/test_fifo.py",
                  # Whole-line placeholders pylaunchd install fills with --env and --log-file.
                  "ENVIRONMENT": "", "LOGGING": ""}
        self.units = {SOCKET: self.render("agent-fifo.socket.in", values),
                      SERVICE: self.render("agent.service.in", values)}
        for unit, text in self.units.items():
            self.mgr.install_unit(unit, text)
        self.mgr.daemon_reload()

    def cleanup(self) -> None:
        self.mgr.systemctl("stop", SOCKET, SERVICE, check=False)
        self.mgr.systemctl("reset-failed", SOCKET, SERVICE, check=False)
        for unit in (SOCKET, SERVICE):
            self.mgr.remove_unit(unit)
        self.mgr.daemon_reload()
        self.fifo.unlink(missing_ok=True)  # RemoveOnStop=yes removes it, unless a test failed first
        self.log.unlink(missing_ok=True)

    def render(self, template: str, values: dict[str, str]) -> str:
        text = (self.src / "units" / template).read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        self.assertNotRegex(text, r"@[A-Z_]+@", f"{template}: a placeholder this test does not fill")
        return text

    def state(self, unit: str) -> str:
        return self.mgr.show(unit, "ActiveState")["ActiveState"]

    def send(self, *words: str, check: bool = True):
        """agent/control.py FIFO WORDS... as the test user."""
        return self.mgr.run_as_user([self.mgr.user_python, self.control, str(self.fifo), *words],
                                    check=check, timeout=DEADLINE)

    def logged(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def wait_logged(self, expected: list[str]) -> None:
        self.mgr.wait_for(lambda: self.logged() == expected, DEADLINE,
                          f"the log to be {expected} (it is {self.logged()})")

    def test_units_verify(self) -> None:
        paths = [str(self.mgr.unit_path(u)) for u in self.units]
        proc = self.mgr.analyze("verify", *paths, check=False)
        self.assertEqual((proc.returncode, proc.stdout.strip(), proc.stderr.strip()), (0, "", ""))

    def test_commands_start_the_agent_and_arrive_in_order(self) -> None:
        self.mgr.systemctl("start", SOCKET)
        self.mgr.wait_for(lambda: self.state(SOCKET) == "active", DEADLINE, f"{SOCKET} to listen")
        st = self.fifo.stat()
        self.assertTrue(stat.S_ISFIFO(st.st_mode))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.mgr.uid, 0o600))
        self.assertEqual(self.state(SERVICE), "inactive", "started before anything was written")

        self.send("hello", "agent")
        self.mgr.wait_for(lambda: self.state(SERVICE) == "active", DEADLINE, f"{SERVICE} to start")
        self.wait_logged(["hello agent"])
        pid = self.mgr.show(SERVICE, "MainPID")["MainPID"]
        status = self.mgr.show(SERVICE, "StatusText")["StatusText"]
        self.assertTrue(status.startswith(f"Serving Control.py on '{NAME}'"), status)

        self.send("second")
        self.send("third", "command")
        self.wait_logged(["hello agent", "second", "third command"])
        self.assertEqual(self.mgr.show(SERVICE, "MainPID")["MainPID"], pid, "one agent read them all")

        # Stopped: the socket takes the service with it (Requires=), nobody reads the FIFO.
        self.mgr.systemctl("stop", SOCKET)
        self.mgr.wait_for(lambda: self.state(SERVICE) == "inactive", DEADLINE, f"{SERVICE} to stop")
        self.assertEqual(self.mgr.show(SERVICE, "Result")["Result"], "success")
        self.assertFalse(self.fifo.exists(), "the FIFO is left behind (RemoveOnStop=yes removes it)")
        proc = self.send("nobody", "listens", check=False)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("No such file", proc.stderr)
        self.assertEqual(self.logged(), ["hello agent", "second", "third command"])


if __name__ == "__main__":
    usermgr.scenario_main()
