#!/usr/bin/env python3
"""`systemctl --user reload` (SIGHUP: re-import the agent) under a real systemd --user manager.

A changed agent answers differently from the next connection on, served by the same process;
an agent that no longer compiles, or no longer defines handle(conn), is refused with a log line
and the code already loaded keeps serving. The service's output goes to a file (a drop-in), so
the test waits for the launcher's own "reloaded" / "keeping" line rather than guessing when the
signal was handled. Needs the fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import os
import sys
import unittest

import usermgr
from usermgr import stage_text

NAME = "pylaunchd-test-reload"
SOCKET, SERVICE = f"{NAME}.socket", f"{NAME}.service"
DEADLINE = 10.0  # seconds for any one state change

AGENT = """\
PREFIX = b"%s"
_ROT13 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")


def handle(conn):
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
        if data.endswith(b"\\n"):
            conn.sendall(PREFIX + data.translate(_ROT13))
            data = b""
"""
BROKEN = "def handle(conn)\n    pass\n"  # a SyntaxError
NO_HANDLER = "def serve(listeners):\n    pass\n"


class Reload(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        src = os.environ["PYLAUNCHD_SOURCE_DIR"]
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.client = cls.mgr.stage(os.path.join(src, "agent", "client.py"))
        cls.sock_path = cls.mgr.runtime_dir / f"{NAME}.sock"
        cls.output_log = cls.mgr.stage_dir / f"{NAME}-output.log"
        cls.dropin = cls.mgr.unit_dir / f"{SERVICE}.d" / "test-output.conf"

    @classmethod
    def tearDownClass(cls) -> None:
        out = cls.output_log.read_text() if cls.output_log.exists() else "(none)"
        print(f"--- the service's output ---\n{out}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        self.mgr.remove_agent(self.exe, NAME, self.sock_path, stop=(SOCKET, SERVICE), remove=(SOCKET, SERVICE),
                              dropin=self.dropin)

    def write_agent(self, text: str) -> str:
        """Replace the agent file (atomically, as a deploy would)."""
        return stage_text(self.mgr, "ReloadAgent.py", text)

    def ask(self, line: str) -> str:
        proc = self.mgr.run_as_user([self.mgr.user_python, self.client, f"unix:{self.sock_path}", line])
        return proc.stdout.rstrip("\n")

    def output(self) -> str:
        return self.output_log.read_text() if self.output_log.exists() else ""

    def reload_and_wait(self, line: str) -> None:
        """systemctl reload, then wait for one more `line` in the service's output."""
        before = self.output().count(line)
        self.mgr.systemctl("reload", SERVICE)
        self.mgr.wait_for(lambda: self.output().count(line) > before, DEADLINE,
                          f"the service to log {line!r} (output: {self.output()!r})")

    def status_text(self) -> str:
        return self.mgr.show(SERVICE, "StatusText")["StatusText"]

    def assert_serving(self, pid: str) -> None:
        p = self.mgr.show(SERVICE, "ActiveState", "SubState", "MainPID")
        self.assertEqual((p["ActiveState"], p["SubState"], p["MainPID"]), ("active", "running", pid))

    def test_reload_good_then_broken_agent(self) -> None:
        self.output_log.unlink(missing_ok=True)
        agent = self.write_agent(AGENT % "one: ")
        self.mgr.run_as_user([self.exe, "install", "--name", NAME, "--idle-timeout", "0", agent])
        self.mgr.write_as_user(self.dropin, f"[Service]\nStandardOutput=append:{self.output_log}\n"
                                            f"StandardError=append:{self.output_log}\n")
        self.mgr.daemon_reload()

        self.assertEqual(self.ask("Hello"), "one: Uryyb")
        pid = self.mgr.show(SERVICE, "MainPID")["MainPID"]
        self.assertNotEqual(pid, "0")

        self.write_agent(AGENT % "two: ")
        self.reload_and_wait(f"reloaded agent {agent}\n")
        self.assertEqual(self.ask("Hello"), "two: Uryyb")
        self.assert_serving(pid)

        self.write_agent(BROKEN)
        self.reload_and_wait("reloading the agent failed; keeping the code already loaded")
        self.assertIn("SyntaxError", self.output())
        self.assertEqual(self.ask("Hello"), "two: Uryyb")
        self.assert_serving(pid)
        # A failed reload changes nothing a user could see but this: systemctl status says so.
        status = self.mgr.wait_for(lambda: "last reload failed" in (t := self.status_text()) and t, DEADLINE,
                                   "STATUS= to report the failed reload")
        self.assertIn("SyntaxError: ", status, "the exception's own words")
        self.assertIn("the code already loaded serves", status)
        self.assertIn("last reload failed", self.mgr.systemctl("status", SERVICE, check=False).stdout)

        self.write_agent(NO_HANDLER)
        self.reload_and_wait("lacks the handle(conn) the running loop calls; keeping the code already loaded")
        self.assertEqual(self.ask("Hello"), "two: Uryyb")
        self.assert_serving(pid)

        self.assertIn("lacks the handle(conn)", self.mgr.wait_for(
            lambda: "lacks the handle" in (t := self.status_text()) and t, DEADLINE, "STATUS= for the second failure"))

        # Fixed again: the next reload takes, and STATUS= no longer reports a failure.
        self.write_agent(AGENT % "three: ")
        self.reload_and_wait(f"reloaded agent {agent}\n")
        self.assertEqual(self.ask("Hello"), "three: Uryyb")
        self.assert_serving(pid)
        self.mgr.wait_for(lambda: "reload failed" not in self.status_text(), DEADLINE, "STATUS= to clear")
        self.assertEqual(self.mgr.show(SERVICE, "NRestarts")["NRestarts"], "0")


if __name__ == "__main__":
    usermgr.scenario_main()
