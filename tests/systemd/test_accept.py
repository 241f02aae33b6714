#!/usr/bin/env python3
"""Accept=yes under a real systemd --user manager: one pylaunchd per connection.

`pylaunchd install --accept` makes NAME.socket (Accept=yes) and NAME@.service. Ten clients
connect at once and keep their connections open: each gets its ROT13 from a process of its own,
and while they are open the manager shows ten NAME@... instances whose main PIDs are the ones
that answered. Needs the fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest

import usermgr
from usermgr import end_process, stage_text

NAME = "pylaunchd-test-accept"
SOCKET = f"{NAME}.socket"
CLIENTS = 10
DEADLINE = 10.0  # seconds for any one state change

# Answers each line with its ROT13 and the pid of the process that answered it.
AGENT = """\
import os

_ROT13 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")


def handle(conn):
    with conn.makefile("rwb") as f:
        for line in f:
            f.write(line.rstrip(b"\\n").translate(_ROT13) + b" %d\\n" % os.getpid())
            f.flush()
"""

# Runs as the test user: CLIENTS connections at once, one line each; prints what came back as
# one JSON line, keeps the connections open until a line arrives on stdin, then closes them.
DRIVER = """\
import json, socket, sys, threading

path, n = sys.argv[1], int(sys.argv[2])
results = [None] * n
socks = []

def client(i):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(path)
        socks.append(s)
        s.sendall(b"client %d\\n" % i)
        data = b""
        while not data.endswith(b"\\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        results[i] = data.decode()
    except OSError as e:
        results[i] = "error: %r" % e

threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results), flush=True)
sys.stdin.readline()
for s in socks:
    s.close()
"""


def rot13(text: str) -> str:
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                                        "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"))


class Accept(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.agent = stage_text(cls.mgr, "AcceptAgent.py", AGENT)
        cls.driver = stage_text(cls.mgr, "accept_driver.py", DRIVER)
        cls.sock_path = cls.mgr.runtime_dir / f"{NAME}.sock"

    @classmethod
    def tearDownClass(cls) -> None:
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(30)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        self.mgr.remove_agent(self.exe, NAME, self.sock_path, stop=(SOCKET, f"{NAME}@*.service"),
                              remove=(SOCKET, f"{NAME}@.service"))

    def instances(self, *states: str) -> list[str]:
        args = ["list-units", "--all", "--plain", "--no-legend", "--full"]
        args += [f"--state={s}" for s in states]
        out = self.mgr.systemctl(*args, f"{NAME}@*").stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def test_each_connection_gets_its_own_instance(self) -> None:
        self.mgr.run_as_user([self.exe, "install", "--name", NAME, "--accept", self.agent])
        self.assertEqual(self.mgr.show(SOCKET, "Accept")["Accept"], "yes")
        self.assertEqual(self.instances(), [], "instances before any connection")

        driver = subprocess.Popen(
            self.mgr.user_argv([self.mgr.user_python, self.driver, str(self.sock_path), str(CLIENTS)]),
            env=self.mgr.user_env(), cwd=self.mgr.home, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(end_process, driver)
        results = json.loads(driver.stdout.readline() or "null")
        self.assertIsNotNone(results, "the client driver died")

        pids = []
        for i, answer in enumerate(results):
            text, _, pid = answer.rstrip("\n").rpartition(" ")
            self.assertEqual(text, rot13(f"client {i}"), f"client {i} got {answer!r}")
            pids.append(int(pid))
        self.assertEqual(len(set(pids)), CLIENTS, f"connections shared a process: {sorted(pids)}")

        # While the ten connections are open, ten instances run, and they are the ones that answered.
        running = self.instances("active")
        print(f"instances while {CLIENTS} connections are open: {len(running)}: {' '.join(running)}")
        self.assertEqual(len(running), CLIENTS, running)
        main_pids = {int(self.mgr.show(unit, "MainPID")["MainPID"]) for unit in running}
        self.assertEqual(main_pids, set(pids))
        for unit in running:
            self.assertRegex(unit, rf"^{NAME}@\d+-\d+-\d+\.service$")

        driver.communicate("close\n", timeout=DEADLINE)
        self.assertEqual(driver.returncode, 0)
        self.mgr.wait_for(lambda: not self.instances("active", "activating", "deactivating"),
                          DEADLINE, "every instance to end when its connection closed")
        self.assertEqual(self.instances("failed"), [], "an instance failed")
        p = self.mgr.show(SOCKET, "ActiveState", "SubState", "NAccepted", "NConnections")
        self.assertEqual((p["ActiveState"], p["SubState"]), ("active", "listening"))
        self.assertEqual(p["NAccepted"], str(CLIENTS))
        self.assertEqual(p["NConnections"], "0")


if __name__ == "__main__":
    usermgr.scenario_main()
