#!/usr/bin/env python3
"""`systemctl --user stop` in the middle of a load under a real systemd --user manager.

The agent takes 0.5 s over each line and is installed with `-c 4`, so of 16 clients four are
being handled and the rest wait in the socket's queue when the service is stopped. Asserted:
every client gets its full, correct answer; the connections the stopped instance had accepted
are finished by it (its handlers log start and end), the queued ones by the next activation
(the socket keeps listening); the stopped instance exits cleanly (0, Result=success, recorded
by an ExecStopPost= probe in a drop-in, since the next activation resets the unit's own
properties). And the grace period: handlers that outlast --stop-timeout are abandoned after it,
with a log line, and the instance still exits 0 -- also when every --max-connections slot is
busy, so that no thread is free to lead the accept loop. Needs the fixture of usermgr.py
(ctest -R systemd runs it).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import unittest

import usermgr
from usermgr import end_process, stage_text

NAME = "pylaunchd-test-stop"
SOCKET, SERVICE = f"{NAME}.socket", f"{NAME}.service"
CLIENTS = 16
IN_FLIGHT = 4  # -c: connections handled at once
DEADLINE = 10.0  # seconds for any one state change

# Logs "start PID LINE" and "done PID LINE" around a pause (0.5 s, or argv[2]), then answers ROT13
# and its pid.
AGENT = """\
import os
import sys
import time

LOG = sys.argv[1]
DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
_ROT13 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")


def note(what, line):
    with open(LOG, "a") as f:
        f.write("%s %d %s\\n" % (what, os.getpid(), line.decode()))


def handle(conn):
    data = b""
    while not data.endswith(b"\\n"):
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    line = data.rstrip(b"\\n")
    note("start", line)
    time.sleep(DELAY)
    conn.sendall(line.translate(_ROT13) + b" %d\\n" % os.getpid())
    note("done", line)
"""

# Runs as the test user: CLIENTS threads, one line each, 20 s to get the answer; prints JSON.
DRIVER = """\
import json, socket, sys, threading

path, n = sys.argv[1], int(sys.argv[2])
results = [None] * n

def client(i):
    data = b""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(path)
        s.sendall(b"client %d\\n" % i)
        while not data.endswith(b"\\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        results[i] = data.decode()
    except OSError as e:
        results[i] = "%s<error: %r>" % (data.decode(), e)

threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results), flush=True)
"""


def rot13(text: str) -> str:
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                                        "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"))


class StopUnderLoad(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.agent = stage_text(cls.mgr, "StopAgent.py", AGENT)
        cls.driver = stage_text(cls.mgr, "stop_driver.py", DRIVER)
        cls.sock_path = cls.mgr.runtime_dir / f"{NAME}.sock"
        cls.handled_log = cls.mgr.stage_dir / f"{NAME}-handled.log"
        cls.exits_log = cls.mgr.stage_dir / f"{NAME}-exits.log"
        cls.output_log = cls.mgr.stage_dir / f"{NAME}-output.log"
        cls.dropin = cls.mgr.unit_dir / f"{SERVICE}.d" / "test-probe.conf"

    @classmethod
    def tearDownClass(cls) -> None:
        out = cls.output_log.read_text() if cls.output_log.exists() else "(none)"
        print(f"--- the service's output ---\n{out}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        self.mgr.remove_agent(self.exe, NAME, self.sock_path, stop=(SOCKET, SERVICE), remove=(SOCKET, SERVICE),
                              dropin=self.dropin)

    def handled(self) -> list[tuple[str, int, str]]:
        if not self.handled_log.exists():
            return []
        return [(w[0], int(w[1]), w[2]) for w in
                (line.split(" ", 2) for line in self.handled_log.read_text().splitlines())]

    def install(self, *options: str) -> None:
        """Install the agent with options and arguments, and the probe drop-in."""
        for path in (self.handled_log, self.exits_log, self.output_log):
            path.unlink(missing_ok=True)
        self.mgr.run_as_user([self.exe, "install", "--name", NAME, *options])
        # A probe only: it records how each instance ended, and keeps the service's output.
        self.mgr.write_as_user(self.dropin, f"""\
[Service]
ExecStopPost=/bin/sh -c 'echo "$${{SERVICE_RESULT}} $${{EXIT_CODE}} $${{EXIT_STATUS}}" >> {self.exits_log}'
StandardOutput=append:{self.output_log}
StandardError=append:{self.output_log}
""")
        self.mgr.daemon_reload()

    def clients(self, n: int) -> subprocess.Popen:
        driver = subprocess.Popen(
            self.mgr.user_argv([self.mgr.user_python, self.driver, str(self.sock_path), str(n)]),
            env=self.mgr.user_env(), cwd=self.mgr.home, text=True, stdout=subprocess.PIPE)
        self.addCleanup(end_process, driver)
        return driver

    def test_stop_during_load_completes_every_connection(self) -> None:
        self.install("-c", str(IN_FLIGHT), self.agent, str(self.handled_log))
        driver = self.clients(CLIENTS)

        # Stop once the first instance has all its slots busy.
        self.mgr.wait_for(lambda: len([h for h in self.handled() if h[0] == "start"]) >= IN_FLIGHT,
                          DEADLINE, f"{IN_FLIGHT} connections in flight")
        stopped_pid = int(self.mgr.show(SERVICE, "MainPID")["MainPID"])
        self.assertNotEqual(stopped_pid, 0)
        self.mgr.systemctl("stop", SERVICE)  # returns when the stop job is done
        self.assertEqual(self.mgr.show(SOCKET, "ActiveState")["ActiveState"], "active",
                         "the socket stopped listening")

        out, _ = driver.communicate(timeout=30)
        results = json.loads(out)
        pids = []
        for i, answer in enumerate(results):
            text, _, pid = answer.rstrip("\n").rpartition(" ")
            self.assertEqual(text, rot13(f"client {i}"), f"client {i} got {answer!r}")
            self.assertTrue(answer.endswith("\n"), f"client {i}: an incomplete answer {answer!r}")
            pids.append(int(pid))
        by_pid = collections.Counter(pids)
        started = [h for h in self.handled() if h[0] == "start"]
        finished = [h for h in self.handled() if h[0] == "done"]
        print(f"\n{CLIENTS} clients, {IN_FLIGHT} handled at once: {len(results)} answered correctly; "
              f"{by_pid[stopped_pid]} by the stopped instance (pid {stopped_pid}), "
              f"{CLIENTS - by_pid[stopped_pid]} by {len(by_pid) - 1} later activation(s) "
              f"{dict((p, n) for p, n in by_pid.items() if p != stopped_pid)}")

        # Whatever the stopped instance had begun, it finished and answered itself.
        begun = sorted(line for what, pid, line in started if pid == stopped_pid)
        ended = sorted(line for what, pid, line in finished if pid == stopped_pid)
        self.assertGreaterEqual(len(begun), IN_FLIGHT)
        self.assertEqual(begun, ended, "the stopped instance abandoned connections")
        self.assertEqual(by_pid[stopped_pid], len(begun))
        self.assertGreater(CLIENTS - by_pid[stopped_pid], 0,
                           "no connection was left queued for the next activation: not a stop under load")
        self.assertEqual(len(started), CLIENTS, "a connection was handled twice or not at all")

        exits = self.exits_log.read_text().splitlines()
        print(f"how the stopped instance ended (SERVICE_RESULT EXIT_CODE EXIT_STATUS): {exits[0]!r}")
        self.assertEqual(exits[0], "success exited 0")

    def test_stop_grace_ends_handlers_that_take_too_long(self) -> None:
        """Handlers that outlast --stop-timeout are abandoned after it, with a log line, and the
        instance still exits 0, whether or not every --max-connections slot is busy."""
        for slots in (4, 2):
            with self.subTest(max_connections=slots):
                self.install("-c", str(slots), "--stop-timeout", "1", self.agent, str(self.handled_log), "6")
                driver = self.clients(2)
                self.mgr.wait_for(lambda: len([h for h in self.handled() if h[0] == "start"]) == 2,
                                  DEADLINE, "2 connections in flight")
                pid = int(self.mgr.show(SERVICE, "MainPID")["MainPID"])
                self.mgr.systemctl("stop", SERVICE)
                out = self.output_log.read_text()
                exits = self.exits_log.read_text().splitlines()
                finished = [h for h in self.handled() if h[0] == "done" and h[1] == pid]
                print(f"\n-c {slots}, 2 handlers of 6 s, --stop-timeout 1: exit {exits}, "
                      f"handlers finished before the exit: {len(finished)}; output:\n{out.rstrip()}")
                self.assertEqual(finished, [], "the stop waited for handlers beyond the grace period")
                self.assertIn("SIGTERM: no longer accepting; finishing 2 connection(s) in flight", out)
                self.assertIn("2 handler(s) still running after the 1.0 s stop grace period; abandoning them", out)
                self.assertEqual(exits, ["success exited 0"])
                driver.communicate(timeout=30)
                self.cleanup()


if __name__ == "__main__":
    usermgr.scenario_main()
