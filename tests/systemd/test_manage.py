#!/usr/bin/env python3
"""`pylaunchd list`, `status`, `logs`, `restart` and the units install renders, under a real
systemd --user manager, run as its user.

list shows every agent install wrote (by its marker; a hand-written unit is not one) with its
socket's and service's state, last exit and address; status shows the socket and the service,
STATUS=, the result and last exit, connections handled, the last exception of a broken agent
(from its --log-file) and where the log is; logs prints the log file (-f follows it: a new line
appears while it runs) or runs journalctl; restart stops the service and re-arms the socket, and
the next connection starts a new process. With -v each prints the commands it runs.

The units: uninstall leaves no socket file (RemoveOnStop=yes), --listen fifo:PATH installs the
FIFO units and a command reaches the agent, --name NAME.service installs NAME.socket and
NAME.service, and every variant (unix, TCP, Accept=yes on both, FIFO, --env with --log-file)
passes `systemd-analyze --user verify`. Needs the fixture of usermgr.py (ctest -R systemd).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
import unittest

import usermgr

A, B, C = "pylaunchd-test-ma", "pylaunchd-test-mb", "pylaunchd-test-mc"
HAND = "pylaunchd-test-hand"
DEADLINE = 10.0

LOGGING_AGENT = """\
import sys

def handle(conn):
    line = conn.recv(100).decode().strip()
    print(f"agent saw {line}", file=sys.stderr, flush=True)
    conn.sendall(line.upper().encode() + b"\\n")
"""
BROKEN_AGENT = "def handle(conn):\n    x = (\n"


def read_until(proc: subprocess.Popen, text: str, deadline: float = DEADLINE) -> str:
    """What proc printed on stdout until `text` appeared; fails after `deadline` seconds."""
    fd, seen, end = proc.stdout.fileno(), b"", time.monotonic() + deadline
    while text.encode() not in seen:
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"{text!r} did not appear within {deadline:g} s; got {seen!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise AssertionError(f"stdout ended before {text!r}; got {seen!r}")
        seen += chunk
    return seen.decode()


class Manage(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        src = os.environ["PYLAUNCHD_SOURCE_DIR"]
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.rot13 = cls.mgr.stage(os.path.join(src, "agent", "Agent.py"))
        cls.control = cls.mgr.stage(os.path.join(src, "agent", "Control.py"))
        cls.control_client = cls.mgr.stage(os.path.join(src, "agent", "control.py"))
        cls.client = cls.mgr.stage(os.path.join(src, "agent", "client.py"))
        cls.logging_agent = usermgr.stage_text(cls.mgr, "Upper.py", LOGGING_AGENT)

    @classmethod
    def tearDownClass(cls) -> None:
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(30)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        for name in (A, B, C):
            self.mgr.remove_agent(self.exe, name, self.mgr.runtime_dir / f"{name}.sock",
                                  stop=(f"{name}.socket", f"{name}.service", f"{name}@*.service"),
                                  remove=(f"{name}.socket", f"{name}.service", f"{name}@.service"))
        self.mgr.remove_unit(f"{HAND}.socket")
        self.mgr.remove_unit(f"{HAND}.service")
        self.mgr.daemon_reload()
        for name in ("Broken.py", f"{C}.log", f"{A}.log", f"{C}.fifo-log"):
            (self.mgr.stage_dir / name).unlink(missing_ok=True)

    # Helpers.

    def pylaunchd(self, *args: str, check: bool = True, **kw):
        return self.mgr.run_as_user([self.exe, *args], check=check, **kw)

    def install(self, name: str, *args: str, agent: str | None = None, agent_args=()):
        return self.pylaunchd("install", "--name", name, *args, agent or self.rot13, *agent_args)

    def ask(self, name: str, line: str, check: bool = True):
        proc = self.mgr.run_as_user([self.mgr.user_python, self.client, f"unix:{self.mgr.runtime_dir}/{name}.sock",
                                     line], check=check)
        return proc.stdout.rstrip("\n") if check else proc

    def status(self, name: str) -> dict[str, str]:
        """`pylaunchd status NAME` as {label: value}; the first line under ''."""
        out = self.pylaunchd("status", name).stdout.splitlines()
        fields = {"": out[0]}
        for line in out[1:]:
            label, _, value = line.strip().partition(": ")
            fields[label] = value.strip()
        return fields

    def verify(self, *units: str) -> None:
        proc = self.mgr.analyze("verify", *(str(self.mgr.unit_dir / u) for u in units), check=False)
        self.assertEqual((proc.returncode, proc.stdout.strip(), proc.stderr.strip()), (0, "", ""),
                         f"systemd-analyze --user verify {' '.join(units)}")

    def main_pid(self, name: str) -> int:
        return int(self.mgr.show(f"{name}.service", "MainPID")["MainPID"])

    # list, status, logs, restart.

    def test_list(self) -> None:
        out = self.pylaunchd("list").stdout
        self.assertFalse(re.search(r"pylaunchd-test-m[abc]", out), out)
        port = usermgr.free_tcp_port()
        self.install(A)
        self.install(B, "--accept", "--listen", f"tcp:127.0.0.1:{port}")
        self.mgr.install_unit(f"{HAND}.socket", "[Socket]\nListenStream=%t/hand.sock\n")
        self.mgr.daemon_reload()
        self.assertEqual(self.ask(A, "abc"), "nop")
        self.mgr.wait_for(lambda: self.mgr.show(f"{A}.service", "ActiveState")["ActiveState"] == "active",
                          DEADLINE, f"{A}.service to run")

        proc = self.pylaunchd("list", "-v")
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "SOCKET", "SERVICE", "LAST", "EXIT", "LISTEN"])
        rows = {line.split()[0]: line for line in lines[1:]}
        self.assertNotIn(HAND, rows, "a unit install did not write is not listed")
        self.assertRegex(rows[A], rf"^{A}\s+active \(running\)\s+active \(running\)\s+-\s+"
                                  rf"{re.escape(str(self.mgr.runtime_dir))}/{A}\.sock$")
        self.assertRegex(rows[B], rf"^{B}\s+active \(listening\)\s+0 running \(Accept=yes\)\s+-\s+127\.0\.0\.1:{port}$")
        self.assertIn("$ systemctl --user show ", proc.stderr)
        self.assertIn(f" {A}.socket {A}.service {B}.socket", proc.stderr)

    def test_status_logs_and_restart_of_a_broken_agent(self) -> None:
        broken = usermgr.stage_text(self.mgr, "Broken.py", BROKEN_AGENT)
        log = self.mgr.stage_dir / f"{C}.log"
        self.install(C, "--log-file", str(log), agent=broken)
        self.assertEqual(self.status(C)["service"], "inactive (dead)")

        proc = self.ask(C, "hello", check=False)
        self.assertNotEqual(proc.returncode, 0, "a broken agent answered")
        self.mgr.wait_for(lambda: self.mgr.show(f"{C}.service", "StatusText")["StatusText"].startswith("Failed"),
                          DEADLINE, "STATUS=Failed: ...")
        s = self.status(C)
        self.assertEqual(s[""], f"{C} (systemd --user)")
        self.assertEqual(s["agent"], broken)
        self.assertEqual(s["listen"], f"{self.mgr.runtime_dir}/{C}.sock")
        self.assertEqual(s["socket"], "active (running)")
        self.assertTrue(s["status"].startswith("Failed: "), s)
        self.assertEqual(s["last error"], "SyntaxError: '(' was never closed")
        self.assertEqual(s["log"], f"{log} (pylaunchd logs {C})")

        # logs: the file, with where it is said on stderr; -v shows the command.
        proc = self.pylaunchd("logs", C, "-v")
        self.assertIn("SyntaxError: '(' was never closed", proc.stdout)
        self.assertIn(f"# {C} logs to {log}", proc.stderr)
        self.assertIn(f"$ tail -n 50 {log}", proc.stderr)

        # restart: the service stopped, the socket listening; the broken import's exit shown.
        proc = self.pylaunchd("restart", C, "-v")
        self.assertIn(f"$ systemctl --user stop {C}.service", proc.stderr)
        self.assertIn(f"$ systemctl --user start {C}.socket", proc.stderr)
        self.assertIn(f"restarted {C}: socket active (listening)", proc.stdout)
        s = self.status(C)
        self.assertEqual(s["socket"], "active (listening)")
        self.assertRegex(s["service"], r"^(inactive \(dead\)|failed \(exit-code\)) since ")
        self.assertEqual(s["last exit"], "65 (the agent could not be imported)")

        # Fixed: the next connection runs the new code; status counts what it handled.
        self.mgr.write_as_user(broken, "def handle(conn):\n    conn.sendall(b'fixed\\n')\n")
        self.mgr.wait_for(lambda: self.ask(C, "again", check=False).stdout.strip() == "fixed", DEADLINE,
                          "the fixed agent to answer")
        self.mgr.wait_for(lambda: self.status(C)["handled"] == "1 connection(s)", DEADLINE,
                          "status to count the connection")
        self.assertEqual(self.status(C)["service"].split(" since ")[0], "active (running)")

    def test_logs_follow_and_restart(self) -> None:
        log = self.mgr.stage_dir / f"{A}.log"
        self.install(A, "--log-file", str(log), agent=self.logging_agent)
        self.assertEqual(self.ask(A, "first"), "FIRST")
        first_pid = self.mgr.wait_for(lambda: self.main_pid(A), DEADLINE, f"{A}.service to run")
        self.mgr.wait_for(lambda: "agent saw first" in self.pylaunchd("logs", A).stdout, DEADLINE, "the first line")

        # logs -f: a line the agent writes while it runs shows up; killing it leaves nothing behind.
        follow = subprocess.Popen(self.mgr.user_argv([self.exe, "logs", A, "-f"]), env=self.mgr.user_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            self.assertIn("agent saw first", read_until(follow, "agent saw first"))
            self.assertEqual(self.ask(A, "second"), "SECOND")
            self.assertIn("agent saw second", read_until(follow, "agent saw second"))
            self.assertIsNone(follow.poll(), "logs -f returned")
        finally:
            os.killpg(follow.pid, signal.SIGTERM)
            _, err = follow.communicate(timeout=DEADLINE)
        self.assertIn(f"# {A} logs to {log}", err.decode())

        proc = self.pylaunchd("restart", A)
        self.assertIn(f"restarted {A}: socket active (listening), service inactive (dead)", proc.stdout)
        self.assertFalse(os.path.exists(f"/proc/{first_pid}") and
                         open(f"/proc/{first_pid}/stat").read().split(") ")[1][0] not in "ZX",
                         "the old process still runs")
        self.assertEqual(self.status(A)["last exit"], "0 (clean stop)")
        self.assertEqual(self.ask(A, "third"), "THIRD")
        self.assertNotEqual(self.mgr.wait_for(lambda: self.main_pid(A), DEADLINE, "a new process"), first_pid)

    def test_logs_of_the_journal(self) -> None:
        self.install(A)
        proc = self.pylaunchd("logs", A, "-v", check=False)
        self.assertIn(f"# {A} logs to the journal (journalctl --user -u {A}.service)", proc.stderr)
        self.assertIn(f"$ journalctl --user -u {A}.service -n 50 --no-pager", proc.stderr)
        self.assertIn(f"the journal: journalctl --user -u {A}.service", self.status(A)["log"])

    # The units.

    def test_uninstall_leaves_no_socket_file(self) -> None:
        sock = self.mgr.runtime_dir / f"{A}.sock"
        self.install(A)
        self.assertEqual(self.ask(A, "x"), "k")
        self.assertTrue(sock.exists())
        self.pylaunchd("uninstall", A)
        self.assertFalse(sock.exists(), "RemoveOnStop=yes should have removed the socket file")
        self.assertEqual(self.pylaunchd("status", A, check=False).returncode, 1)

    def test_fifo_install(self) -> None:
        fifo = self.mgr.runtime_dir / f"{C}.fifo"
        commands = self.mgr.stage_dir / f"{C}.fifo-log"
        out = self.install(C, "--listen", f"fifo:{fifo}", agent=self.control, agent_args=(str(commands),)).stdout
        self.assertIn(f"listens on {fifo}", out)
        self.assertEqual(oct(fifo.stat().st_mode), oct(0o10600))
        self.verify(f"{C}.socket", f"{C}.service")
        self.mgr.run_as_user([self.mgr.user_python, self.control_client, str(fifo), "hello", "fifo"])
        self.mgr.wait_for(lambda: commands.exists() and commands.read_text() == "hello fifo\n", DEADLINE,
                          "the command to reach the agent")
        self.assertEqual(self.status(C)["listen"], str(fifo))
        self.pylaunchd("uninstall", C)
        self.assertFalse(fifo.exists(), "RemoveOnStop=yes should have removed the FIFO")

    def test_service_suffix_is_dropped(self) -> None:
        proc = self.pylaunchd("install", "--name", f"{A}.service", self.rot13)
        self.assertIn(f"note: --name {A}.service: using {A}", proc.stderr)
        self.assertTrue((self.mgr.unit_dir / f"{A}.socket").exists())
        self.assertFalse((self.mgr.unit_dir / f"{A}.service.socket").exists())
        self.assertEqual(self.ask(A, "abc"), "nop")
        self.assertEqual(self.status(f"{A}.service")[""], f"{A} (systemd --user)")

    def test_every_variant_verifies(self) -> None:
        port = usermgr.free_tcp_port()
        log = self.mgr.stage_dir / f"{A}.log"
        for args, units in (((), ("socket", "service")),
                            (("--listen", f"tcp:127.0.0.1:{port}"), ("socket", "service")),
                            (("--accept",), ("socket", "@.service")),
                            (("--accept", "--listen", f"tcp:[::1]:{port}"), ("socket", "@.service")),
                            (("--listen", f"fifo:{self.mgr.runtime_dir}/{A}.fifo"), ("socket", "service")),
                            (("--env", "X=a b", "--env", "Y=%h", "--log-file", str(log), "--workers", "2",
                              "--listen", f"unix:{self.mgr.runtime_dir}/{A} dir/x.sock"), ("socket", "service"))):
            with self.subTest(args=args):
                self.install(A, *args)
                self.verify(*(f"{A}.{u}" if u[0] != "@" else f"{A}{u}" for u in units))
                socket_unit = (self.mgr.unit_dir / f"{A}.socket").read_text()
                tcp = any(a.startswith("tcp:") for a in args)
                self.assertEqual(bool(re.search(r"(?m)^SocketMode=0600$", socket_unit)), not tcp, socket_unit)
                self.assertRegex(socket_unit, r"(?m)^RemoveOnStop=yes$")
        env = self.mgr.show(f"{A}.service", "Environment")["Environment"]
        self.assertEqual(env, '"X=a b" Y=%h')


if __name__ == "__main__":
    usermgr.scenario_main()
