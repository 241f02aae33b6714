#!/usr/bin/env python3
"""`pylaunchd install` with launcher options, without a manager, and failing part way, under a
real systemd --user manager, run as its user.

An agent with a dependency installed the way a user would: --venv (a real venv made by
/usr/bin/python3.11, with a package only it has), --workers 2, --env, --allow-uid 0 on a TCP
socket, --log-file and agent arguments after `--`; it answers root only because of --allow-uid
(without it, root's connection is closed unanswered). Without a reachable manager (the test user
with a runtime directory that holds none, and root) install writes nothing and says what to do.
A re-install that fails part way (the TCP port is taken: the socket cannot bind) puts the previous
install back as it was, still answering; a first install that fails leaves nothing. Needs the
fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import usermgr

NAME = "pylaunchd-test-opts"
SOCKET, SERVICE = f"{NAME}.socket", f"{NAME}.service"
OTHER = "pylaunchd-test-opts2"
SYSTEM_PYTHON = "/usr/bin/python3.11"
PACKAGE = "pylaunchd_test_venv_only"
DEADLINE = 10.0
GREETING = 'two words "quoted" $HOME 100% back\\slash'

AGENT = f"""\
import json, os, sys
import {PACKAGE}

def handle(conn):
    conn.recv(64)
    print("served", file=sys.stderr, flush=True)
    conn.sendall(json.dumps({{"argv": sys.argv[1:], "greeting": os.environ.get("GREETING"),
                              "package": {PACKAGE}.NAME, "executable": sys.executable}}).encode() + b"\\n")
"""


class InstallOptions(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.agent = usermgr.stage_text(cls.mgr, "OptAgent.py", AGENT)
        cls.rot13 = cls.mgr.stage(os.path.join(os.environ["PYLAUNCHD_SOURCE_DIR"], "agent", "Agent.py"))
        cls.client = cls.mgr.stage(os.path.join(os.environ["PYLAUNCHD_SOURCE_DIR"], "agent", "client.py"))
        cls.venv = cls.mgr.stage_dir / "venv"
        cls.mgr.run_as_user([SYSTEM_PYTHON, "-m", "venv", "--without-pip", cls.venv], timeout=60)
        purelib = cls.mgr.run_as_user([cls.venv / "bin" / "python3", "-c",
                                       "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
        cls.mgr.write_as_user(Path(purelib) / f"{PACKAGE}.py", 'NAME = "only in the venv"\n')
        cls.log = cls.mgr.stage_dir / "logs" / f"{NAME}.log"

    @classmethod
    def tearDownClass(cls) -> None:
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(30)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        for name in (NAME, OTHER):
            self.mgr.remove_agent(self.exe, name, self.mgr.runtime_dir / f"{name}.sock",
                                  stop=(f"{name}.socket", f"{name}.service"), remove=(f"{name}.socket", f"{name}.service"))

    def pylaunchd(self, *args: str, check: bool = True, env: dict | None = None):
        return self.mgr.run_as_user([self.exe, *args], check=check, env=env)

    def files(self) -> dict:
        """{name: bytes} of every file in the unit directory (links as their targets)."""
        out = {}
        for path in sorted(self.mgr.unit_dir.rglob("*")) if self.mgr.unit_dir.is_dir() else []:
            out[str(path.relative_to(self.mgr.unit_dir))] = (os.readlink(path).encode() if path.is_symlink()
                                                            else path.read_bytes() if path.is_file() else b"dir")
        return out

    def ask_tcp(self, port: int) -> bytes:
        """One line to 127.0.0.1:PORT as root; the answer (b"" when closed unanswered)."""
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            s.sendall(b"hello\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data

    def ask_unix(self, name: str, line: str) -> str:
        proc = self.mgr.run_as_user([self.mgr.user_python, self.client, f"unix:{self.mgr.runtime_dir}/{name}.sock",
                                     line])
        return proc.stdout.rstrip("\n")

    def verify(self, *units: str) -> None:
        proc = self.mgr.analyze("verify", *(str(self.mgr.unit_dir / u) for u in units), check=False)
        self.assertEqual((proc.returncode, proc.stdout.strip(), proc.stderr.strip()), (0, "", ""))

    # Scenarios.

    def test_every_option_kind_and_the_agent_answers(self) -> None:
        port = usermgr.free_tcp_port()
        out = self.pylaunchd("install", "--name", NAME, "--listen", f"tcp:127.0.0.1:{port}", "--venv",
                             str(self.venv), "--workers", "2", "--env", f"GREETING={GREETING}", "--allow-uid", "0",
                             "--log-file", str(self.log), self.agent, "--", "--flag", "two words")
        self.assertIn(f"its log: {self.log}", out.stdout)
        self.verify(SOCKET, SERVICE)
        socket_unit = (self.mgr.unit_dir / SOCKET).read_text()
        self.assertNotRegex(socket_unit, r"(?m)^SocketMode=", "a TCP socket has no file to give a mode to")

        answer = json.loads(self.mgr.wait_for(lambda: self.ask_tcp(port), DEADLINE, "an answer over TCP"))
        self.assertEqual(answer, {"argv": ["--flag", "two words"], "greeting": GREETING,
                                  "package": "only in the venv", "executable": f"{self.venv}/bin/python3"})
        # --workers 2: a master and two workers, each its own pylaunchd process.
        main_pid = int(self.mgr.show(SERVICE, "MainPID")["MainPID"])
        self.assertNotEqual(main_pid, 0)

        def workers() -> list[int]:
            kids = []
            for entry in os.listdir("/proc"):
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text() if entry.isdigit() else ""
                except OSError:
                    continue
                if stat and int(stat[stat.rindex(")") + 2:].split()[1]) == main_pid:
                    kids.append(int(entry))
            return kids
        self.assertEqual(len(self.mgr.wait_for(lambda: len(workers()) == 2 and workers(), DEADLINE, "two workers")), 2)
        self.mgr.wait_for(lambda: "served" in self.log.read_text(), DEADLINE, "the agent's stderr in --log-file")
        self.assertEqual(self.log.stat().st_uid, self.mgr.uid)

        # Without --allow-uid 0, root is refused: the connection is closed unanswered.
        self.pylaunchd("install", "--name", NAME, "--listen", f"tcp:127.0.0.1:{port}", "--venv", str(self.venv),
                       "--log-file", str(self.log), self.agent)
        self.assertEqual(self.mgr.wait_for(lambda: self.ask_tcp(port) == b"" and "refused" in self.log.read_text(),
                                           DEADLINE, "root to be refused"), True)

    def test_no_manager_no_files(self) -> None:
        before = self.files()
        # The test user, with a runtime directory that holds no manager (ssh without lingering).
        with tempfile.TemporaryDirectory() as empty:
            os.chown(empty, self.mgr.uid, self.mgr.gid)
            proc = self.pylaunchd("install", "--name", NAME, self.rot13, check=False,
                                  env={"XDG_RUNTIME_DIR": empty, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={empty}/bus"})
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn(f"no systemd user manager answers for {self.mgr.user}", proc.stderr)
        self.assertIn("nothing was written", proc.stderr)
        self.assertIn(f"loginctl enable-linger {self.mgr.user}", proc.stderr)
        self.assertIn("--dry-run", proc.stderr)
        self.assertNotIn("Failed to connect to bus", proc.stdout + proc.stderr)
        self.assertEqual(self.files(), before)
        self.assertEqual(self.mgr.show(SOCKET, "LoadState")["LoadState"], "not-found")

        # root: no runtime directory, no manager of its own (a HOME of its own, so nothing of the
        # test user's is touched either way).
        if os.geteuid() == 0 and not os.path.isdir("/run/user/0"):
            with tempfile.TemporaryDirectory() as home:
                proc = subprocess.run([os.environ["PYLAUNCHD"], "install", "--name", NAME, self.rot13],
                                      env={"HOME": home, "PATH": usermgr.USER_PATH}, capture_output=True, text=True,
                                      timeout=30)
                self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
                self.assertIn("you are root", proc.stderr)
                self.assertEqual(os.listdir(home), [], "install wrote into root's HOME")

    def test_failure_part_way_puts_the_previous_install_back(self) -> None:
        self.pylaunchd("install", "--name", NAME, self.rot13)
        self.assertEqual(self.ask_unix(NAME, "before"), "orsber")
        before = self.files()
        self.assertIn(f"sockets.target.wants/{SOCKET}", before)

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            proc = self.pylaunchd("install", "--name", NAME, "--listen", f"tcp:127.0.0.1:{port}", self.rot13,
                                  check=False)
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn(f"$ systemctl --user enable --now {SOCKET}", proc.stdout, "it did get that far")
            self.assertIn("could not bind its address", proc.stderr)
            self.assertIn("the previous install is back as it was", proc.stderr)
            self.assertEqual(self.files(), before, "the unit files are not as they were")
            p = self.mgr.show(SOCKET, "ActiveState", "Listen")
            self.assertEqual(p["ActiveState"], "active")
            self.assertEqual(p["Listen"], f"{self.mgr.runtime_dir}/{NAME}.sock (Stream)")
            self.assertEqual(self.ask_unix(NAME, "after"), "nsgre")

            # A first install that fails leaves nothing: no files, no enable link, no failed unit.
            proc = self.pylaunchd("install", "--name", OTHER, "--listen", f"tcp:127.0.0.1:{port}", self.rot13,
                                  check=False)
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("nothing is installed", proc.stderr)
            self.assertEqual(self.files(), before)
            p = self.mgr.show(f"{OTHER}.socket", "LoadState", "ActiveState")
            self.assertEqual((p["LoadState"], p["ActiveState"]), ("not-found", "inactive"))


if __name__ == "__main__":
    usermgr.scenario_main()
