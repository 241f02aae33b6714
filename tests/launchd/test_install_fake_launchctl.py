"""`pylaunchd install/uninstall --target launchd` for real, on Linux, with a fake `launchctl` on
PATH that records its arguments and what the files looked like when it ran: the files written
are the ones the dry run prints, with private modes, bootstrap sees the finished plist, a
failing bootout ("not loaded") is ignored and a failing bootstrap is not (and undoes the install:
nothing left of a first one, the previous plist back and loaded again), re-install replaces
pylaunchd's own plist, and uninstall removes what install made. list, status, logs and restart
read `launchctl print` and the log file, in the same shape as for systemd."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plistcheck  # noqa: E402
from test_install_dry_run import (AGENT_ABS, AGENT_ARG, LABEL, NAME, PYLAUNCHD, SOURCE_DIR,  # noqa: E402
                                  UID, Output, expected_paths)

FAKE_LAUNCHCTL = """#!{python}
# A stand-in for macOS's launchctl: one JSON line per call, then the status the test asked for.
import json, os, sys
home = os.environ["HOME"]
plist = os.path.join(home, "Library", "LaunchAgents", "{label}.plist")
agent = os.path.join(home, "Library", "Application Support", "pylaunchd", "{name}", "Agent.py")
record = {{"argv": sys.argv[1:], "plist_exists": os.path.exists(plist),
          "agent_exists": os.path.exists(agent)}}
if os.path.exists(plist):
    with open(plist, "rb") as f:
        record["plist"] = f.read().decode("utf-8")
with open(os.environ["FAKE_LAUNCHCTL_LOG"], "a") as f:
    f.write(json.dumps(record) + "\\n")
status = int(os.environ.get("FAKE_LAUNCHCTL_" + sys.argv[1].upper(), "0"))
if sys.argv[1] == "print" and not status:
    print(os.environ.get("FAKE_LAUNCHCTL_PRINT_TEXT", ""))
if status:
    print("Boot-out failed: 3: No such process" if sys.argv[1] == "bootout" else "Bootstrap failed: 5: Input/output error")
sys.exit(status)
"""


class FakeLaunchctl(unittest.TestCase):
    def setUp(self) -> None:
        if not PYLAUNCHD or not os.access(PYLAUNCHD, os.X_OK):
            self.fail("PYLAUNCHD must name the built pylaunchd binary (ctest sets it)")
        self.tmp = tempfile.mkdtemp(prefix="pylaunchd-launchctl-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.home = os.path.join(self.tmp, "it's my home")
        os.mkdir(self.home)
        self.paths = expected_paths(self.home)
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        fake = os.path.join(bindir, "launchctl")
        with open(fake, "w") as f:
            f.write(FAKE_LAUNCHCTL.format(python=sys.executable, label=LABEL, name=NAME))
        os.chmod(fake, 0o755)
        self.log = os.path.join(self.tmp, "launchctl.log")
        self.env = dict(os.environ, HOME=self.home, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                        FAKE_LAUNCHCTL_LOG=self.log, PYTHONDONTWRITEBYTECODE="1")

    def pylaunchd(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([PYLAUNCHD, *args], cwd=SOURCE_DIR, env=dict(self.env, **env), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def install(self, *options: str, **env: str) -> subprocess.CompletedProcess:
        return self.pylaunchd("install", "--target", "launchd", "--name", NAME, *options, AGENT_ARG, **env)

    def calls(self) -> list:
        """The launchctl calls since the last one, and forget them."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            out = [json.loads(line) for line in f]
        os.unlink(self.log)
        return out

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def test_install_writes_what_the_dry_run_prints(self):
        dry = self.install("--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        printed = Output(dry.stdout).file(self.paths["plist"])
        self.assertEqual(self.calls(), [], "a dry run ran launchctl")

        r = self.install()
        self.assertEqual(r.returncode, 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        written = self.read(self.paths["plist"])
        self.assertEqual(written, printed)
        plist = plistcheck.parse_both(written)
        self.assertEqual(plistcheck.schema_problems(plist, "unix"), [])
        self.assertEqual(plist["ProgramArguments"][-1], self.paths["agent"])

        calls = self.calls()
        self.assertEqual([c["argv"] for c in calls], [
            ["bootout", f"gui/{UID}/{LABEL}"],
            ["bootstrap", f"gui/{UID}", self.paths["plist"]],
        ])
        self.assertFalse(calls[0]["plist_exists"] or calls[0]["agent_exists"],
                         "bootout must come before anything is copied or written")
        self.assertTrue(calls[1]["agent_exists"], "bootstrap before the agent was copied")
        self.assertEqual(calls[1].get("plist", "").encode(), written, "bootstrap saw a partial plist")

        # The copy is the agent, private to the user, in a private directory.
        self.assertEqual(self.read(self.paths["agent"]), self.read(AGENT_ABS))
        self.assertEqual(stat.S_IMODE(os.stat(self.paths["agent"]).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.paths["support"]).st_mode), 0o700)
        self.assertTrue(os.path.isdir(os.path.dirname(self.paths["log"])),
                        "launchd does not create StandardErrorPath's directory")
        leftovers = [f for d, _, files in os.walk(self.home) for f in files if f.endswith(".tmp")]
        self.assertEqual(leftovers, [])

    def test_bootout_not_loaded_is_ignored(self):
        r = self.install(FAKE_LAUNCHCTL_BOOTOUT="3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([c["argv"][0] for c in self.calls()], ["bootout", "bootstrap"])
        self.assertTrue(os.path.exists(self.paths["plist"]))

    def test_bootstrap_failure_fails(self):
        r = self.install(FAKE_LAUNCHCTL_BOOTSTRAP="5")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("bootstrap", r.stderr)
        self.assertIn("every file was put back", r.stderr)
        self.assertFalse(os.path.exists(self.paths["plist"]), "a failed first install left its plist")
        self.assertFalse(os.path.exists(self.paths["support"]), "a failed first install left the agent's copy")

    def test_failed_reinstall_puts_the_previous_back(self):
        self.assertEqual(self.install().returncode, 0)
        before = self.read(self.paths["plist"])
        self.calls()
        r = self.install("--idle-timeout", "5", FAKE_LAUNCHCTL_BOOTSTRAP="5")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertEqual(self.read(self.paths["plist"]), before)
        self.assertEqual([c["argv"][0] for c in self.calls()], ["bootout", "bootstrap", "bootstrap"],
                         "the previous plist must be loaded again")

    def test_list_status_logs_restart(self):
        self.assertEqual(self.install().returncode, 0)
        self.calls()
        with open(self.paths["log"], "w") as f:
            f.write("pylaunchd: agent failed to import:\nTraceback (most recent call last):\n"
                    '  File "Agent.py", line 2\n    x = (\n        ^\nSyntaxError: \'(\' was never closed\n')
        printed = (f"gui/{UID}/{LABEL} = {{\n\tactive count = 0\n\tstate = not running\n"
                   "\tsockets = {\n\t\tstate = active\n\t}\n\tlast exit code = 65\n}")
        r = self.pylaunchd("list", "--target", "launchd", FAKE_LAUNCHCTL_PRINT_TEXT=printed)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, row = r.stdout.splitlines()
        self.assertEqual(head.split(), ["NAME", "SOCKET", "SERVICE", "LAST", "EXIT", "LISTEN"])
        self.assertRegex(row, rf"^{NAME}\s+loaded\s+not running\s+65 \(the agent could not be imported\)\s+"
                              rf"{re.escape(self.paths['sock'])}$")
        r = self.pylaunchd("status", "--target", "launchd", NAME, "-v", FAKE_LAUNCHCTL_PRINT_TEXT=printed)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{NAME} (launchd)\n", r.stdout)
        self.assertIn(f"  agent:      {self.paths['agent']}\n", r.stdout)
        self.assertIn("  last error: SyntaxError: '(' was never closed\n", r.stdout)
        self.assertIn(f"  log:        {self.paths['log']} (pylaunchd logs {NAME})\n", r.stdout)
        self.assertIn(f"$ launchctl print gui/{UID}/{LABEL}", r.stderr)
        r = self.pylaunchd("logs", "--target", "launchd", NAME, "-n", "1")
        self.assertEqual((r.returncode, r.stdout), (0, "SyntaxError: '(' was never closed\n"), r.stderr)
        self.calls()
        r = self.pylaunchd("restart", "--target", "launchd", NAME, FAKE_LAUNCHCTL_PRINT_TEXT=printed)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([c["argv"] for c in self.calls()][:2],
                         [["print", f"gui/{UID}/{LABEL}"], ["kill", "SIGTERM", f"gui/{UID}/{LABEL}"]])

    def test_reinstall_replaces_own_plist(self):
        self.assertEqual(self.install().returncode, 0)
        self.calls()
        r = self.install("--idle-timeout", "5")
        self.assertEqual(r.returncode, 0, f"re-install refused:\n{r.stderr}")
        plist = plistcheck.parse_both(self.read(self.paths["plist"]))
        self.assertEqual(plist["ThrottleInterval"], 5)
        calls = self.calls()
        self.assertEqual([c["argv"][0] for c in calls], ["bootout", "bootstrap"])
        self.assertTrue(calls[0]["plist_exists"], "the old job is booted out while its plist exists")

    def test_uninstall(self):
        self.assertEqual(self.install().returncode, 0)
        self.calls()
        r = self.pylaunchd("uninstall", "--target", "launchd", "--name", NAME)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([c["argv"] for c in self.calls()], [["bootout", f"gui/{UID}/{LABEL}"]])
        self.assertFalse(os.path.exists(self.paths["plist"]))
        self.assertFalse(os.path.exists(self.paths["support"]))

    def test_uninstall_nothing_installed(self):
        r = self.pylaunchd("uninstall", "--target", "launchd", "--name", NAME)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.calls(), [])
        self.assertIn(NAME, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
