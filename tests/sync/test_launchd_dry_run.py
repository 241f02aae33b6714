#!/usr/bin/env python3
"""`pylaunchd sync --target launchd --dry-run` against the real binary, on Linux: for a folder in
~/Library/Application Support/pylaunchd/agents (under a home with spaces and quotes), the plists
sync would write (read with plistlib and plistutil, held to launchd.plist(5) by
tests/launchd/plistcheck.py, with sync's marker and the digest of what is copied), what each job
copies (NAME.py alone, NAME/ whole with its neighbours), the errors of broken files, and that
nothing is written. The watcher: `sync --watch-install` prints a LaunchAgent with WatchPaths on
the folder that runs `pylaunchd sync`, checked the same ways; `--watch-remove` boots it out.
Runs a copy of the binary outside its build tree, as an installed one (launchd refuses the build
tree's).
"""

from __future__ import annotations

import os
import plistlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get("PYLAUNCHD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "launchd"))
import plistcheck  # noqa: E402

UPPER = "def handle(conn):\n    conn.sendall(conn.recv(100).upper())\n"


def files_in(stdout: str) -> dict:
    """{path: text} of the files a dry run prints ('--- PATH' then the text, up to the next
    '--- ' or '$ ' line)."""
    out, path, lines = {}, None, []
    for line in stdout.splitlines(keepends=True):
        if line.startswith(("--- ", "$ ", "would be ", "error: ", "# ", "nothing to do", "watching")):
            if path is not None:
                out[path] = "".join(lines)
            path, lines = None, []
            if line.startswith("--- /"):
                path = line[4:].rstrip("\n")
            continue
        if path is not None:
            lines.append(line)
    if path is not None:
        out[path] = "".join(lines)
    return out


class DryRun(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls) -> None:
        cls.bindir = tempfile.mkdtemp(prefix="pylaunchd-sync-bin-", dir="/tmp")
        cls.exe = os.path.join(cls.bindir, "pylaunchd")
        shutil.copy2(os.environ["PYLAUNCHD"], cls.exe)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.bindir, ignore_errors=True)

    def setUp(self) -> None:
        top = tempfile.mkdtemp(prefix="pylaunchd-sync-")
        self.addCleanup(shutil.rmtree, top, True)
        self.home = os.path.join(top, "home with spaces, it's")
        os.mkdir(self.home, 0o700)
        self.folder = os.path.join(self.home, "Library", "Application Support", "pylaunchd", "agents")
        os.makedirs(self.folder, mode=0o700)
        for d in (os.path.dirname(self.folder), os.path.dirname(os.path.dirname(self.folder)),
                  os.path.join(self.home, "Library")):
            os.chmod(d, 0o700)

    def write(self, rel: str, text: str) -> None:
        path = os.path.join(self.folder, rel)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def pylaunchd(self, *args: str) -> subprocess.CompletedProcess:
        env = {"HOME": self.home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        return subprocess.run([self.exe, *args], capture_output=True, text=True, env=env, timeout=60,
                              cwd=self.home)

    def tree(self) -> list:
        return sorted(os.path.relpath(os.path.join(d, f), self.home)
                      for d, dirs, files in os.walk(self.home) for f in files + dirs)

    def test_sync_dry_run(self):
        self.write("Upper.py", 'PYLAUNCHD = {"listen": "tcp:127.0.0.1:8080", "idle_timeout": 5}\n' + UPPER)
        self.write("web/Agent.py", 'PYLAUNCHD = {"env": {"MODE": "x"}, "args": ["--port", "1"]}\nimport helper\n' + UPPER)
        self.write("web/helper.py", "X = 1\n")
        self.write("Broken.py", 'PYLAUNCHD = {"workers": "many"}\n')
        before = self.tree()
        r = self.pylaunchd("sync", "--target", "launchd", "--dry-run")
        self.assertEqual(r.returncode, 1, r.stderr)  # one file in error
        self.assertEqual(self.tree(), before, "a dry run wrote something")
        self.assertIn("error: Broken.py: PYLAUNCHD['workers']: 'many' is a str; workers takes an int", r.stderr)
        self.assertRegex(r.stdout, r"(?m)^would be installed Upper \(Upper\.py\)$")
        self.assertRegex(r.stdout, r"(?m)^would be installed web \(web/\)$")
        files = files_in(r.stdout)
        agents = os.path.join(self.home, "Library", "LaunchAgents")
        support = os.path.join(self.home, "Library", "Application Support", "pylaunchd")
        for name, variant in (("Upper", "tcp"), ("web", "unix")):
            with self.subTest(agent=name):
                text = files[os.path.join(agents, f"local.pylaunchd.{name}.plist")].encode()
                data = plistcheck.parse_both(text)
                self.assertEqual(plistcheck.schema_problems(data, variant), [])
                self.assertRegex(text.decode(), r"<!-- Synced by pylaunchd sync from the agents folder; "
                                                r"copy sha256 [0-9a-f]{64} -->")
                self.assertEqual(data["ProgramArguments"][0], self.exe)
        upper = plistlib.loads(files[os.path.join(agents, "local.pylaunchd.Upper.plist")].encode())
        self.assertEqual(upper["Sockets"]["Listeners"]["SockServiceName"], "8080")
        self.assertEqual(upper["ProgramArguments"][-1], os.path.join(support, "Upper", "agent", "Upper.py"))
        web = plistlib.loads(files[os.path.join(agents, "local.pylaunchd.web.plist")].encode())
        self.assertEqual(web["ProgramArguments"][-3:], [os.path.join(support, "web", "agent", "Agent.py"), "--port", "1"])
        self.assertEqual(web["EnvironmentVariables"]["MODE"], "x")
        # What is copied: the file alone for NAME.py (not its neighbours in the folder), NAME/ whole.
        self.assertIn(f"--- copy {self.folder}/Upper.py -> {support}/Upper/agent (1 file,", r.stdout)
        self.assertIn(f"--- copy {self.folder}/web -> {support}/web/agent (2 files,", r.stdout)
        self.assertRegex(r.stdout, rf"(?m)^\$ launchctl bootstrap gui/{os.getuid()} .*/LaunchAgents/local\.pylaunchd\.web\.plist'$")

    def test_watcher(self):
        before = self.tree()
        r = self.pylaunchd("sync", "--target", "launchd", "--dry-run", "--watch-install")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.tree(), before, "a dry run wrote something")
        path = os.path.join(self.home, "Library", "LaunchAgents", "local.pylaunchd-sync.plist")
        text = files_in(r.stdout)[path].encode()
        self.assertIn(b"<!-- Generated by pylaunchd install: the agents folder's watcher; pylaunchd sync removes it (its watch-remove option). -->", text)
        data = plistcheck.parse_both(text)
        self.assertEqual(plistcheck.watcher_problems(data), [])
        self.assertEqual(data["Label"], "local.pylaunchd-sync")
        self.assertEqual(data["ProgramArguments"], [self.exe, "sync"])
        self.assertEqual(data["WatchPaths"], [self.folder])
        self.assertIs(data["RunAtLoad"], True)
        self.assertEqual(data["StandardErrorPath"],
                         os.path.join(self.home, "Library", "Logs", "pylaunchd", "pylaunchd-sync.log"))
        domain = f"gui/{os.getuid()}"
        self.assertEqual(re.findall(r"(?m)^\$ .*$", r.stdout)[:2],
                         [f"$ launchctl bootout {domain}/local.pylaunchd-sync",
                          f"$ launchctl bootstrap {domain} {shlex.quote(path)}"])
        self.assertIn(f"# would watch {self.folder}", r.stdout)
        r = self.pylaunchd("sync", "--target", "launchd", "--dry-run", "--watch-remove")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"$ launchctl bootout {domain}/local.pylaunchd-sync", r.stdout)
        self.assertIn(f"--- remove {path}", r.stdout)

    def test_watcher_checker_rejects(self):
        good = {"Label": "l", "ProgramArguments": ["/p", "sync"], "WatchPaths": ["/f"], "RunAtLoad": True,
                "KeepAlive": False, "ProcessType": "Background", "ThrottleInterval": 2,
                "EnvironmentVariables": {"PATH": "/usr/bin"}, "StandardOutPath": "/l", "StandardErrorPath": "/l"}
        self.assertEqual(plistcheck.watcher_problems(good), [])
        for key, value in (("WatchPaths", ["relative"]), ("ProgramArguments", ["/p", "install"]),
                           ("KeepAlive", True), ("Sockets", {}), ("ThrottleInterval", 0), ("StandardOutPath", "/x"),
                           ("WachPaths", ["/f"])):
            with self.subTest(key=key):
                bad = dict(good, **{key: value})
                problems = plistcheck.watcher_problems(bad)
                self.assertTrue(any(key in p for p in problems), problems)


if __name__ == "__main__":
    plistcheck.skips.main()
