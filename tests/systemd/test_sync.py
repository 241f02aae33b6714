#!/usr/bin/env python3
"""The agents folder under a real systemd --user manager: `pylaunchd sync` and its watcher.

With the watcher installed (`sync --watch-install`: pylaunchd-sync.path and .service), a file
dropped in ~/.config/pylaunchd/agents answers on its socket with no command typed; a sub-folder
agent's settings literal edited to a new address moves it (the old socket goes, the new one
answers; the sub-folder is watched too); a file with a syntax error and one with a mistyped key
are listed with their errors by `pylaunchd list` while the others keep serving; a hand-written
unit of an agent's name is never touched (a conflict, listed); a second sync has nothing to do;
a burst of drops leaves the watcher and its service unfailed (no start limit hit); a file
deleted takes its units with it; a folder others can write is refused (exit 77), and nothing is
synced from it. Readiness is polled with generous deadlines, never timed. Needs the fixture of
usermgr.py (ctest -R systemd).
"""

from __future__ import annotations

import os
import re
import sys
import unittest

import usermgr

A = "pylaunchd_test_sync_upper"     # NAME.py: the name must be a module name
B = "pylaunchd-test-sync-b"         # NAME/Agent.py: any unit name
HAND = "pylaunchd-test-sync-hand"   # a hand-written unit has this name too
BROKEN, BADKEY = "pylaunchd_test_sync_broken", "pylaunchd_test_sync_badkey"
BURST = [f"pylaunchd_test_sync_burst{i}" for i in range(8)]
DEADLINE = 30.0  # a bound on a hang, never a speed claim

UPPER = """\
def handle(conn):
    conn.sendall(conn.recv(100).upper())
"""
CLIENT = """\
import socket, sys
with socket.socket(socket.AF_UNIX) as s:
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(sys.argv[2].encode())
    print(s.recv(100).decode())
"""


def with_settings(settings: str) -> str:
    return f"PYLAUNCHD = {settings}\n\n" + UPPER


class Sync(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.client = usermgr.stage_text(cls.mgr, "sync_client.py", CLIENT)
        cls.folder = cls.mgr.home / ".config" / "pylaunchd" / "agents"
        cls.state = cls.mgr.home / ".local" / "state" / "pylaunchd" / "sync-state.json"

    @classmethod
    def tearDownClass(cls) -> None:
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(30)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)
        self.cleanup()

    def cleanup(self) -> None:
        self.pylaunchd("sync", "--watch-remove", check=False)
        self.mgr.run_as_user(["rm", "-rf", str(self.folder)], check=False)
        self.pylaunchd("sync", check=False)  # the folder is gone: what it installed goes too
        for unit in (f"{HAND}.socket", "pylaunchd-sync.path", "pylaunchd-sync.service"):
            (self.mgr.unit_dir / unit).unlink(missing_ok=True)
        for name in (A, B, HAND, BROKEN, BADKEY, *BURST):
            for unit in (f"{name}.socket", f"{name}.service"):
                self.mgr.systemctl("stop", unit, check=False)
                (self.mgr.unit_dir / unit).unlink(missing_ok=True)
            (self.mgr.unit_dir / "sockets.target.wants" / f"{name}.socket").unlink(missing_ok=True)
        self.mgr.systemctl("reset-failed", "pylaunchd-sync.service", "pylaunchd-sync.path", check=False)
        self.mgr.daemon_reload()
        self.state.unlink(missing_ok=True)

    # Helpers.

    def pylaunchd(self, *args: str, check: bool = True):
        return self.mgr.run_as_user([self.exe, *args], check=check)

    def drop(self, entry: str, text: str) -> None:
        """Write a file into the folder as the user would (cat > FILE: created, written, closed)."""
        self.mgr.write_as_user(self.folder / entry, text)

    def drop_folder(self, name: str, text: str) -> None:
        """A sub-folder agent put in place whole (made aside, then renamed in, as a careful copy)."""
        tmp = self.folder.parent / f".{name}.tmp"
        self.mgr.write_as_user(tmp / "Agent.py", text)
        self.mgr.run_as_user(["mv", str(tmp), str(self.folder / name)])

    def ask(self, path: str, text: str = "hello") -> str:
        proc = self.mgr.run_as_user([self.mgr.user_python, self.client, path, text], check=False, timeout=15)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def answers(self, path: str, what: str) -> None:
        self.mgr.wait_for(lambda: self.ask(path) == "HELLO", DEADLINE, what)

    def sock(self, name: str) -> str:
        return f"{self.mgr.runtime_dir}/{name}.sock"

    def listed(self) -> str:
        return self.pylaunchd("list").stdout

    def folder_state(self, entry: str) -> str:
        """The STATE column `pylaunchd list` shows for a folder entry."""
        for line in self.listed().splitlines():
            if line.startswith(f"  {entry} "):
                return line.split(None, 2)[2]
        return ""

    def watcher_healthy(self) -> None:
        path = self.mgr.show("pylaunchd-sync.path", "ActiveState", "Result")
        service = self.mgr.show("pylaunchd-sync.service", "ActiveState", "Result")
        self.assertEqual((path["ActiveState"], path["Result"]), ("active", "success"), path)
        self.assertNotEqual(service["ActiveState"], "failed", service)
        self.assertEqual(service["Result"], "success", service)

    def verify(self, *units: str) -> None:
        paths = [str(self.mgr.unit_dir / u) for u in units]
        proc = self.mgr.analyze("verify", *paths, check=False)
        self.assertEqual((proc.returncode, proc.stdout.strip(), proc.stderr.strip()), (0, "", ""),
                         f"systemd-analyze --user verify {' '.join(units)} complained")

    # Scenarios.

    def test_the_folder_is_the_interface(self) -> None:
        hand_text = "[Socket]\nListenStream=%t/pylaunchd-test-sync-hand-own.sock\n"
        hand = self.mgr.install_unit(f"{HAND}.socket", hand_text)
        self.mgr.daemon_reload()
        out = self.pylaunchd("sync", "--watch-install", "--allow-build-tree").stdout
        self.assertIn(f"watching {self.folder}", out)
        self.assertEqual(os.stat(self.folder).st_mode & 0o777, 0o700)
        self.watcher_healthy()
        self.verify("pylaunchd-sync.path", "pylaunchd-sync.service")

        # Dropped: it answers on the default address, with nothing typed.
        self.drop(f"{A}.py", UPPER)
        self.answers(self.sock(A), "the dropped file's socket to answer")
        self.verify(f"{A}.socket", f"{A}.service")
        # A sub-folder agent with its own address.
        self.drop_folder(B, with_settings(f'{{"listen": "unix:{self.sock(B + "-1")}", "idle_timeout": 5}}'))
        self.answers(self.sock(B + "-1"), "the sub-folder agent to answer")

        # Its settings edited in place (the sub-folder is watched too): the old socket goes.
        self.drop(f"{B}/Agent.py", with_settings(f'{{"listen": "unix:{self.sock(B + "-2")}"}}'))
        self.answers(self.sock(B + "-2"), "the agent to answer on its new address")
        self.mgr.wait_for(lambda: not os.path.exists(self.sock(B + "-1")), DEADLINE, "the old socket to go")
        self.assertEqual(self.ask(self.sock(B + "-1")), "")

        # Broken files are listed with their errors; the others keep serving.
        self.drop(f"{BROKEN}.py", "def handle(conn):\n    x = (\n")
        self.drop(f"{BADKEY}.py", with_settings('{"idle_timeuot": 5}'))
        self.mgr.wait_for(lambda: "did you mean 'idle_timeout'" in self.folder_state(f"{BADKEY}.py"), DEADLINE,
                          "list to show the mistyped key")
        self.mgr.wait_for(lambda: "SyntaxError" in self.folder_state(f"{BROKEN}.py"), DEADLINE,
                          "list to show the syntax error")
        self.assertIn(f"{BADKEY}.py: PYLAUNCHD['idle_timeuot']: unknown key", self.folder_state(f"{BADKEY}.py"))
        self.assertIn(f"{BROKEN}.py, line 2: SyntaxError: '(' was never closed", self.folder_state(f"{BROKEN}.py"))
        self.assertFalse((self.mgr.unit_dir / f"{BROKEN}.socket").exists())
        self.assertFalse((self.mgr.unit_dir / f"{BADKEY}.socket").exists())
        self.assertEqual(self.ask(self.sock(A)), "HELLO")
        self.assertEqual(self.ask(self.sock(B + "-2")), "HELLO")
        self.assertRegex(self.folder_state(f"{A}.py"), r"^active \((listening|running)\)$")

        # A hand-written unit of an agent's name: never touched, a conflict in the list.
        self.drop_folder(HAND, UPPER)
        self.mgr.wait_for(lambda: "not written by pylaunchd" in self.folder_state(f"{HAND}/"), DEADLINE,
                          "list to show the conflict")
        self.assertEqual(hand.read_text(), hand_text)
        self.assertFalse((self.mgr.unit_dir / f"{HAND}.service").exists())

        # Nothing left to do: a second sync says so (and still names the files in error).
        proc = self.pylaunchd("sync", check=False)
        self.assertEqual(proc.returncode, 1, proc)
        self.assertRegex(proc.stdout, r"(?m)^nothing to do; 3 agent file\(s\) with errors")
        self.assertRegex(proc.stderr, rf"(?m)^error: {BROKEN}\.py, line 2:")

        # A burst of drops: each answers, and no start limit put the watcher in a failed state.
        for name in BURST:
            self.drop(f"{name}.py", UPPER)
        for name in BURST:
            self.answers(self.sock(name), f"{name} to answer")
        self.watcher_healthy()

        # Deleted: its units go, and the socket with them.
        self.mgr.run_as_user(["rm", str(self.folder / f"{A}.py")])
        self.mgr.wait_for(lambda: not (self.mgr.unit_dir / f"{A}.socket").exists()
                          and not (self.mgr.unit_dir / f"{A}.service").exists(), DEADLINE, "the units to go")
        self.mgr.wait_for(lambda: not os.path.exists(self.sock(A)), DEADLINE, "the socket to go")
        self.assertNotIn(A, self.pylaunchd("list").stdout)
        self.assertEqual(self.ask(self.sock(B + "-2")), "HELLO")
        self.watcher_healthy()

        # The watcher removed: the agents stay.
        self.pylaunchd("sync", "--watch-remove")
        self.assertFalse((self.mgr.unit_dir / "pylaunchd-sync.path").exists())
        self.assertEqual(self.ask(self.sock(B + "-2")), "HELLO")

    def test_sync_by_hand_is_idempotent_and_reports(self) -> None:
        self.mgr.run_as_user(["mkdir", "-p", "-m", "700", str(self.folder)])
        self.drop(f"{A}.py", with_settings('{"idle_timeout": 2, "env": {"GREETING": "hi there"}}'))
        proc = self.pylaunchd("sync")
        self.assertRegex(proc.stdout, rf"(?m)^installed {A} \({A}\.py\)$")
        self.assertIn(f"{A}.socket listens on {self.sock(A)}", proc.stdout)
        self.assertEqual(self.ask(self.sock(A)), "HELLO")
        env = self.mgr.show(f"{A}.service", "Environment")["Environment"]
        self.assertEqual(env, '"GREETING=hi there"')
        unit = (self.mgr.unit_dir / f"{A}.socket").read_text()
        self.assertIn(f"# Synced by pylaunchd sync from {self.folder}; ", unit)
        self.assertEqual(self.pylaunchd("sync").stdout.strip(), "nothing to do")
        self.drop(f"{A}.py", with_settings('{"idle_timeout": 3}'))
        self.assertRegex(self.pylaunchd("sync").stdout, rf"(?m)^updated {A} \({A}\.py\): its settings changed$")
        self.assertIn(f"--idle-timeout 3 ", (self.mgr.unit_dir / f"{A}.service").read_text())
        self.assertEqual(self.pylaunchd("sync").stdout.strip(), "nothing to do")

        # Installed by hand with `pylaunchd install`: not the folder's, so left alone (a conflict).
        self.mgr.run_as_user(["rm", str(self.folder / f"{A}.py")])
        self.assertRegex(self.pylaunchd("sync").stdout, rf"(?m)^removed {A}: its file is gone")
        other = usermgr.stage_text(self.mgr, "SyncOther.py", UPPER)
        self.pylaunchd("install", "--name", A, other)
        before = (self.mgr.unit_dir / f"{A}.service").read_text()
        self.drop(f"{A}.py", UPPER)
        proc = self.pylaunchd("sync", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("was installed by `pylaunchd install`, not from the folder", proc.stderr)
        self.assertEqual((self.mgr.unit_dir / f"{A}.service").read_text(), before)
        self.mgr.run_as_user(["rm", str(self.folder / f"{A}.py")])
        self.assertEqual(self.pylaunchd("sync").stdout.strip(), "nothing to do")
        self.assertEqual((self.mgr.unit_dir / f"{A}.service").read_text(), before)
        self.pylaunchd("uninstall", A)

    def test_a_folder_others_can_write_is_refused(self) -> None:
        self.mgr.run_as_user(["mkdir", "-p", "-m", "700", str(self.folder)])
        self.drop(f"{A}.py", UPPER)
        self.mgr.run_as_user(["chmod", "0777", str(self.folder)])
        proc = self.pylaunchd("sync", check=False)
        self.assertEqual(proc.returncode, 77, proc)
        self.assertRegex(proc.stderr, rf"refusing the agents folder {re.escape(str(self.folder))}: .*writable by")
        self.assertFalse((self.mgr.unit_dir / f"{A}.socket").exists())
        self.assertIn("sync error: refusing the agents folder", self.listed())
        # A file others can write, in a folder of the user's own: that agent alone is refused.
        self.mgr.run_as_user(["chmod", "0700", str(self.folder)])
        self.mgr.run_as_user(["chmod", "0666", str(self.folder / f"{A}.py")])
        proc = self.pylaunchd("sync", check=False)
        self.assertEqual(proc.returncode, 1, proc)
        self.assertIn(f"error: {A}.py: refused: ", proc.stderr)
        self.assertFalse((self.mgr.unit_dir / f"{A}.socket").exists())


if __name__ == "__main__":
    usermgr.scenario_main()
