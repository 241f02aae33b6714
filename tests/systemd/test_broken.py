#!/usr/bin/env python3
"""A broken agent fails visibly, and does not restart in a loop, under a real systemd --user manager.

An agent with a syntax error: the connection that started it is closed at once without an
answer, the service is `failed` with a STATUS naming the problem and an ERRNO, the socket keeps
listening, and each connection costs one start, not a loop. Once the file is fixed, the next
connection is answered without any reset-failed. An agent that crashes at import (os.abort(),
before pylaunchd can close the waiting connection), at once or after a 0.3 s import, is started
CRASHGUARD_LIMIT times for a waiting connection; the next start gives up, closes the connection
and fails visibly (exit 70), and nothing starts again until another connection comes. The socket
keeps listening (rate limits alone missed the slower crash: it looped forever).

An ExecStopPost= probe in a drop-in records how each instance ended (and so how many started).
Needs the fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import os
import sys
import unittest

import usermgr
from usermgr import end_process, stage_text

NAME = "pylaunchd-test-broken"
ABORT = "pylaunchd-test-abort"
SLOW_ABORT = "pylaunchd-test-abort-slow"
DEADLINE = 10.0   # seconds for any one state change
LIMIT_DEADLINE = 30.0  # for a crash loop to be stopped
CRASHGUARD_LIMIT = 3   # launcher/crashguard.h: starts that may die importing before one gives up

BROKEN = "def handle(conn)\n    conn.sendall(b'never')\n"  # SyntaxError: expected ':'
FIXED = "def handle(conn):\n    conn.sendall(conn.recv(100).upper())\n"
CRASH = "import os\n\nos.abort()\n"
SLOW_CRASH = "import os\nimport time\n\ntime.sleep(0.3)\nos.abort()\n"

# Runs as the test user: connect, send a line unless told not to, and say what came back.
CLIENT = """\
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
s.connect(sys.argv[1])
if sys.argv[2]:
    s.sendall(sys.argv[2].encode() + b"\\n")
try:
    data = s.recv(100)
    print("EOF" if not data else "DATA " + data.decode(errors="replace"))
except ConnectionResetError:
    print("RESET")
except TimeoutError:
    print("TIMEOUT")
"""


class BrokenAgent(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.client = stage_text(cls.mgr, "broken_client.py", CLIENT)

    @classmethod
    def tearDownClass(cls) -> None:
        for name in (NAME, ABORT, SLOW_ABORT):
            log = cls.mgr.stage_dir / f"{name}-output.log"
            if log.exists():
                print(f"--- {name}: the service's output (tail) ---\n"
                      + "\n".join(log.read_text().splitlines()[-15:]), file=sys.stderr)

    # Helpers: an installed agent with the probe drop-in.

    def install(self, name: str, agent_text: str) -> str:
        """Install an agent under `name` with the probe; returns the agent's path."""
        agent = stage_text(self.mgr, f"{name.replace('-', '_')}.py", agent_text)
        self.addCleanup(self.cleanup, name)
        for log in (self.exits_log(name), self.output_log(name)):
            log.unlink(missing_ok=True)
        self.mgr.run_as_user([self.exe, "install", "--name", name, agent])
        self.mgr.write_as_user(self.dropin(name), f"""\
[Service]
ExecStopPost=/bin/sh -c 'echo "$${{SERVICE_RESULT}} $${{EXIT_CODE}} $${{EXIT_STATUS}}" >> {self.exits_log(name)}'
StandardOutput=append:{self.output_log(name)}
StandardError=append:{self.output_log(name)}
""")
        self.mgr.daemon_reload()
        return agent

    def cleanup(self, name: str) -> None:
        socket, service = f"{name}.socket", f"{name}.service"
        self.mgr.run_as_user([self.exe, "uninstall", "--name", name], check=False)
        self.mgr.systemctl("stop", socket, service, check=False)
        self.mgr.systemctl("reset-failed", socket, service, check=False)
        for unit in (socket, service):
            self.mgr.remove_unit(unit)
        dropin = self.dropin(name)
        dropin.unlink(missing_ok=True)
        if dropin.parent.is_dir():
            dropin.parent.rmdir()
        wants = self.mgr.unit_dir / "sockets.target.wants" / socket
        if wants.is_symlink():
            wants.unlink()
        self.mgr.daemon_reload()
        (self.mgr.runtime_dir / f"{name}.sock").unlink(missing_ok=True)

    def dropin(self, name: str):
        return self.mgr.unit_dir / f"{name}.service.d" / "test-probe.conf"

    def exits_log(self, name: str):
        return self.mgr.stage_dir / f"{name}-exits.log"

    def output_log(self, name: str):
        return self.mgr.stage_dir / f"{name}-output.log"

    def exits(self, name: str) -> list[str]:
        log = self.exits_log(name)
        return log.read_text().splitlines() if log.exists() else []

    def connect(self, name: str, line: str, timeout: float = DEADLINE) -> str:
        """One connection as the test user: EOF, RESET, TIMEOUT or DATA <answer>."""
        path = self.mgr.runtime_dir / f"{name}.sock"
        return self.mgr.run_as_user([self.mgr.user_python, self.client, str(path), line, str(timeout)],
                                    timeout=timeout + 10).stdout.strip()

    def show(self, unit: str, *props: str) -> dict[str, str]:
        return self.mgr.show(unit, *props)

    # Scenarios.

    def test_syntax_error_fails_visibly_without_a_loop(self) -> None:
        socket, service = f"{NAME}.socket", f"{NAME}.service"
        agent = self.install(NAME, BROKEN)
        for i in range(3):
            # Without sending anything (a clean EOF), and with a line (EOF, or a reset for the
            # line the agent never read): never an answer.
            answer = self.connect(NAME, "" if i == 0 else f"line {i}")
            self.assertIn(answer, ("EOF", "RESET") if i else ("EOF",), f"connection {i}")
            self.mgr.wait_for(lambda: len(self.exits(NAME)) > i, DEADLINE, f"start {i + 1} to end")
            p = self.mgr.wait_for(
                lambda: (p := self.show(service, "ActiveState", "Result", "StatusText", "StatusErrno",
                                        "ExecMainStatus", "NRestarts"))["ActiveState"] == "failed" and p,
                DEADLINE, f"{service} to be failed")
            self.assertIn("failed to import", p["StatusText"])
            self.assertNotEqual(p["StatusErrno"], "0")
            self.assertEqual((p["Result"], p["ExecMainStatus"], p["NRestarts"]), ("exit-code", "65", "0"))
            s = self.show(socket, "ActiveState", "SubState", "Result")
            self.assertEqual((s["ActiveState"], s["SubState"], s["Result"]), ("active", "listening", "success"),
                             "the socket did not keep listening")

        exits = self.exits(NAME)
        print(f"\n3 connections to an agent with a syntax error: {len(exits)} start(s), ended {exits}; "
              f"StatusText={p['StatusText']!r} StatusErrno={p['StatusErrno']}")
        self.assertLessEqual(len(exits), 3, "more starts than connections: a restart loop")
        self.assertEqual(set(exits), {"exit-code exited 65"})
        status = self.mgr.systemctl("status", service, check=False).stdout
        self.assertIn("failed to import", status, "systemctl --user status does not show why")
        self.assertIn("SyntaxError", self.output_log(NAME).read_text())

        # Fixed: the next connection starts it and is answered; no reset-failed needed.
        stage_text(self.mgr, os.path.basename(agent), FIXED)
        self.assertEqual(self.connect(NAME, "fixed"), "DATA FIXED")
        self.mgr.wait_for(lambda: self.show(service, "ActiveState")["ActiveState"] == "active",
                          DEADLINE, f"{service} to be active")
        self.assertEqual(self.show(service, "NRestarts")["NRestarts"], "0")

    def test_crash_at_import_is_stopped(self) -> None:
        self.crash_loop_is_stopped(ABORT, CRASH)

    def test_slower_crash_at_import_is_stopped_too(self) -> None:
        """The same crash after a 0.3 s import (an agent importing a large library): slower than
        both StartLimitBurst= per StartLimitIntervalSec= and the trigger limit allow, so those
        limits alone never stop it; the launcher's own count does."""
        self.crash_loop_is_stopped(SLOW_ABORT, SLOW_CRASH)

    def crash_loop_is_stopped(self, name: str, agent_text: str) -> None:
        socket, service = f"{name}.socket", f"{name}.service"
        self.install(name, agent_text)
        crashes = ("core-dump dumped ABRT", "signal killed ABRT")
        for round_ in (1, 2):
            # The agent dies before pylaunchd can close the waiting connection, so the socket
            # starts it again; after CRASHGUARD_LIMIT such starts, one gives up and closes it.
            answer = self.connect(name, f"crash {round_}", timeout=LIMIT_DEADLINE)
            self.assertIn(answer, ("EOF", "RESET"), f"round {round_}: the waiting client is closed")
            want = round_ * (CRASHGUARD_LIMIT + 1)
            self.mgr.wait_for(lambda: len(self.exits(name)) >= want, DEADLINE, f"{want} starts to end")
            exits = self.exits(name)
            self.assertEqual(len(exits), want, f"round {round_}: starts {exits}")
            last = exits[-(CRASHGUARD_LIMIT + 1):]
            self.assertTrue(all(e.startswith(crashes) for e in last[:-1]), f"round {round_}: {last}")
            self.assertEqual(last[-1], "exit-code exited 70", f"round {round_}: the start that gave up")
            svc = self.show(service, "ActiveState", "Result", "StatusText", "NRestarts")
            self.assertEqual((svc["ActiveState"], svc["Result"]), ("failed", "exit-code"))
            self.assertIn("kept crashing while imported", svc["StatusText"], "systemctl status says why")
            s = self.show(socket, "ActiveState", "SubState", "Result")
            self.assertEqual((s["ActiveState"], s["SubState"], s["Result"]), ("active", "listening", "success"),
                             "the socket keeps listening: only the waiting connections were given up")
            print(f"\n{name}: round {round_}: {len(last)} starts for one waiting connection, "
                  f"ends {last}; StatusText={svc['StatusText']!r}")
        # No connection waits: nothing starts again.
        settled = len(self.exits(name))
        with self.assertRaises(TimeoutError, msg="the service started again with nobody waiting"):
            self.mgr.wait_for(lambda: len(self.exits(name)) > settled, 3.0, "another start")
        # Fixed: the next connection is answered, with no reset-failed.
        stage_text(self.mgr, f"{name.replace('-', '_')}.py", FIXED)
        self.assertEqual(self.connect(name, "fixed"), "DATA FIXED")


if __name__ == "__main__":
    usermgr.exit_if_unavailable()
    unittest.main(verbosity=2)
