#!/usr/bin/env python3
"""Faults under a real systemd --user manager: SIGKILL in the middle of a load, and an agent that
crashes the interpreter while handling a connection.

SIGKILL: the connections the killed instance had accepted die with it (nothing can save those),
but the ones still queued in the socket are served, in full, by the next activation; the socket
keeps listening. os.abort() in a handler: that client loses its connection, the next connection
starts a new instance and is answered, and nothing restarts in a loop (two starts in all).
Needs the fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import unittest

import usermgr
from test_stop import AGENT, DRIVER, rot13
from usermgr import end_process, stage_text

NAME = "pylaunchd-test-faults"
SOCKET, SERVICE = f"{NAME}.socket", f"{NAME}.service"
CLIENTS = 16
IN_FLIGHT = 4
DEADLINE = 10.0

#: Answers each line upper-cased, with its pid; "crash" kills the interpreter.
CRASHER = """\
import os

def handle(conn):
    line = conn.recv(100).strip()
    if line == b"crash":
        os.abort()
    conn.sendall(line.upper() + b" %d\\n" % os.getpid())
"""

#: One connection as the test user: prints DATA <answer>, EOF or ERROR <what>.
ONE = """\
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
try:
    s.connect(sys.argv[1])
    s.sendall(sys.argv[2].encode() + b"\\n")
    data = s.recv(4096)
    print("DATA " + data.decode().strip() if data else "EOF")
except OSError as e:
    print("ERROR %r" % e)
"""


class Faults(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.slow = stage_text(cls.mgr, "FaultsSlow.py", AGENT)
        cls.crasher = stage_text(cls.mgr, "FaultsCrasher.py", CRASHER)
        cls.driver = stage_text(cls.mgr, "faults_driver.py", DRIVER)
        cls.one = stage_text(cls.mgr, "faults_one.py", ONE)
        cls.sock_path = cls.mgr.runtime_dir / f"{NAME}.sock"
        cls.handled_log = cls.mgr.stage_dir / f"{NAME}-handled.log"
        cls.exits_log = cls.mgr.stage_dir / f"{NAME}-exits.log"
        cls.dropin = cls.mgr.unit_dir / f"{SERVICE}.d" / "test-probe.conf"

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        self.mgr.remove_agent(self.exe, NAME, self.sock_path, stop=(SOCKET, SERVICE), remove=(SOCKET, SERVICE),
                              dropin=self.dropin)

    def install(self, *args: str) -> None:
        for path in (self.handled_log, self.exits_log):
            path.unlink(missing_ok=True)
        self.mgr.run_as_user([self.exe, "install", "--name", NAME, *args])
        # A probe only: how each instance ended (and so how many started).
        self.mgr.write_as_user(self.dropin, f"""\
[Service]
ExecStopPost=/bin/sh -c 'echo "$${{SERVICE_RESULT}} $${{EXIT_CODE}} $${{EXIT_STATUS}}" >> {self.exits_log}'
""")
        self.mgr.daemon_reload()

    def exits(self) -> list[str]:
        return self.exits_log.read_text().splitlines() if self.exits_log.exists() else []

    def started(self) -> list[tuple[int, str]]:
        if not self.handled_log.exists():
            return []
        return [(int(w[1]), w[2]) for w in (line.split(" ", 2) for line in self.handled_log.read_text().splitlines())
                if w[0] == "start"]

    def ask(self, line: str) -> str:
        return self.mgr.run_as_user([self.mgr.user_python, self.one, str(self.sock_path), line],
                                    timeout=30).stdout.strip()

    def test_sigkill_under_load_queued_connections_served_by_the_next_instance(self) -> None:
        self.install("-c", str(IN_FLIGHT), self.slow, str(self.handled_log))
        driver = subprocess.Popen(
            self.mgr.user_argv([self.mgr.user_python, self.driver, str(self.sock_path), str(CLIENTS)]),
            env=self.mgr.user_env(), cwd=self.mgr.home, text=True, stdout=subprocess.PIPE)
        self.addCleanup(end_process, driver)
        self.mgr.wait_for(lambda: len(self.started()) >= IN_FLIGHT, DEADLINE, f"{IN_FLIGHT} in flight")
        killed = int(self.mgr.show(SERVICE, "MainPID")["MainPID"])
        self.assertNotEqual(killed, 0)
        self.mgr.systemctl("kill", "--signal=SIGKILL", SERVICE)
        results = json.loads(driver.communicate(timeout=60)[0])

        in_flight = {line for pid, line in self.started() if pid == killed}
        served, lost, by_pid = 0, [], collections.Counter()
        for i, answer in enumerate(results):
            text, _, pid = answer.rstrip("\n").rpartition(" ")
            if text == rot13(f"client {i}") and answer.endswith("\n"):
                served += 1
                by_pid[int(pid)] += 1
            else:
                lost.append((f"client {i}", answer))
        print(f"\nSIGKILL with {len(in_flight)} in flight: made={CLIENTS} served={served} lost={len(lost)} "
              f"(in flight at the kill: {sorted(in_flight)}); answered by {dict(by_pid)}; ends {self.exits()}")
        self.assertEqual(sorted(c for c, _ in lost), sorted(in_flight),
                         "only the connections the killed instance had accepted may be lost")
        self.assertEqual(by_pid[killed], 0, "the killed instance answered after SIGKILL?")
        self.assertEqual(served, CLIENTS - len(in_flight), "every queued connection is served by the next instance")
        self.assertEqual(self.exits()[0], "signal killed KILL", "the killed instance")
        s = self.mgr.show(SOCKET, "ActiveState", "SubState")
        # "running" while the next instance it started runs, "listening" once that one is gone.
        self.assertEqual(s["ActiveState"], "active", "the socket did not fail")
        self.assertIn(s["SubState"], ("listening", "running"))

    def test_abort_in_a_handler_restarts_on_the_next_connection_without_a_loop(self) -> None:
        self.install(self.crasher)
        first = self.ask("hello")
        self.assertTrue(first.startswith("DATA HELLO "), first)
        crashed = self.ask("crash")
        self.assertIn(crashed.split(" ")[0], ("EOF", "ERROR"), f"the crashing connection: {crashed}")
        self.mgr.wait_for(lambda: len(self.exits()) >= 1, DEADLINE, "the crashed instance to end")
        # Nobody waits now: nothing may start again on its own.
        with self.assertRaises(TimeoutError, msg="the service restarted with nobody waiting"):
            self.mgr.wait_for(lambda: self.mgr.show(SERVICE, "ActiveState")["ActiveState"] == "active",
                              2.0, "a restart")
        after = self.ask("again")
        self.assertTrue(after.startswith("DATA AGAIN "), f"the next connection is answered: {after}")
        self.assertNotEqual(after.split(" ")[2], first.split(" ")[2], "by a new instance")
        ends = self.exits()
        print(f"\nos.abort() in a handler: ends {ends}; next connection: {after!r}")
        self.assertEqual(len(ends), 1, f"exactly one instance ended (the crashed one): {ends}")
        self.assertTrue(ends[0] in ("signal killed ABRT", "core-dump dumped ABRT"), ends)
        svc = self.mgr.show(SERVICE, "ActiveState", "NRestarts")
        self.assertEqual((svc["ActiveState"], svc["NRestarts"]), ("active", "0"))
        s = self.mgr.show(SOCKET, "ActiveState", "SubState")
        # "running" while the next instance it started runs, "listening" once that one is gone.
        self.assertEqual(s["ActiveState"], "active", "the socket did not fail")
        self.assertIn(s["SubState"], ("listening", "running"))


if __name__ == "__main__":
    usermgr.scenario_main()
