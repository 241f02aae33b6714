"""`pylaunchd install/uninstall/list/status/logs/restart --target launchd` for real, on Linux,
with a fake `launchctl` on PATH that keeps one gui/UID domain: it records its arguments and what
the files looked like when it ran, loads a plist at bootstrap (and makes its socket file, as
launchd does), refuses a second bootstrap and a bootout of what is not loaded as launchctl does,
and answers `print` in launchctl's own format (fake_print). The files written are the ones the
dry run prints, with private modes; the job runs a copy of the agent's directory, which a
re-install replaces whole and a failed one puts back; the copied agent imports the module beside
it and the launcher's StrictModes accepts the copy; a failing bootout ("not loaded") is ignored
and a failing bootstrap is not; uninstall removes what install made. list, status, logs and
restart read `launchctl print` and the log file, in the same shape as for systemd."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plistcheck  # noqa: E402
from test_install_dry_run import (AGENT_ABS, AGENT_ARG, LABEL, NAME, PYLAUNCHD, SOURCE_DIR,  # noqa: E402
                                  UID, Output, expected_paths)

# launchctl's own words and statuses, as macOS 13-15 print them (see fake_print for `print`).
FAKE_LAUNCHCTL = r'''#!{python}
# A stand-in for macOS's launchctl, for one gui/UID domain kept in $FAKE_LAUNCHCTL_STATE.
import json, os, plistlib, socket, sys
home = os.environ["HOME"]
plist = os.path.join(home, "Library", "LaunchAgents", "{label}.plist")
copy = os.path.join(home, "Library", "Application Support", "pylaunchd", "{name}", "agent")
record = {{"argv": sys.argv[1:], "plist_exists": os.path.exists(plist),
          "agent_exists": os.path.exists(os.path.join(copy, "Agent.py"))}}
if os.path.exists(plist):
    with open(plist, "rb") as f:
        record["plist"] = f.read().decode("utf-8")
with open(os.environ["FAKE_LAUNCHCTL_LOG"], "a") as f:
    f.write(json.dumps(record) + "\n")
sys.path.insert(0, {here!r})
from test_install_fake_launchctl import fake_print
state_file = os.environ["FAKE_LAUNCHCTL_STATE"]
try:
    with open(state_file) as f:
        jobs = json.load(f)
except FileNotFoundError:
    jobs = {{}}
verb, args = sys.argv[1], sys.argv[2:]
forced = int(os.environ.get("FAKE_LAUNCHCTL_" + verb.upper(), "0"))

def done(status, message=""):
    with open(state_file, "w") as f:
        json.dump(jobs, f)
    if message:
        print(message, file=sys.stderr)
    sys.exit(status)

def sock_path(job):
    listener = next(iter(job["plist"].get("Sockets", {{}}).values()), {{}})
    return listener.get("SockPathName")

label = args[-1].rsplit("/", 1)[-1]
domain = "gui/{uid}"
if verb == "bootstrap":
    with open(args[1], "rb") as f:
        data = plistlib.load(f)
    label = data["Label"]
    if forced or label in jobs:
        done(forced or 5, "Bootstrap failed: 5: Input/output error")
    job = {{"plist": data, "path": args[1], "state": "not running", "runs": 0}}
    path = sock_path(job)
    if path:  # launchd binds the job's sockets when it loads it
        if not os.path.isdir(os.path.dirname(path)):
            done(5, "Bootstrap failed: 5: Input/output error")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()
    jobs[label] = job
    done(0)
if label not in jobs and verb in ("bootout", "print", "kill", "kickstart"):
    if verb == "bootout":
        done(forced or 3, "Boot-out failed: 3: No such process")
    done(113, 'Bad request.\nCould not find service "%s" in domain for user gui: {uid}' % label)
job = jobs.get(label)
if forced:
    done(forced, f"{{verb}} failed: {{forced}}")
if verb == "bootout":
    path = sock_path(job)
    if path and os.path.exists(path):
        os.unlink(path)
    del jobs[label]
    done(0)
if verb == "print":
    print(fake_print(domain, label, job, home))
    done(0)
if verb == "kill":
    if job["state"] != "running":
        done(3, "Could not kill service: 3: No such process")
    signal = args[0]
    job.update(state="not running", pid=None, last_exit=None if signal == "SIGKILL" else "0",
               signal="Killed: 9" if signal == "SIGKILL" else None)
    done(0)
if verb == "kickstart":
    job.update(state="running", pid=job.get("pid") or 4242, runs=job["runs"] + 1)
    done(0)
done(64, "Unrecognized subcommand: " + verb)
'''


def fake_print(domain: str, label: str, job: dict, home: str) -> str:
    """What `launchctl print gui/UID/LABEL` says of a loaded job, abridged from macOS 14's
    (examples in public projects: the fields the installer reads are one tab in; blocks nest
    further, and some repeat a key, such as the coalitions' own "state = active"). A running
    job has "pid = N"; "last exit code = N" (or "78: EX_CONFIG", or "(never exited)") and, for a
    job a signal ended, "last terminating signal = Terminated: 15" instead."""
    data = job["plist"]
    lines = [f"{domain}/{label} = {{", f"\tactive count = {1 if job['state'] == 'running' else 0}",
             f"\tpath = {job['path']}", "\ttype = LaunchAgent", f"\tstate = {job['state']}", "",
             f"\tprogram = {data['ProgramArguments'][0]}", "\targuments = {"]
    lines += [f"\t\t{a}" for a in data["ProgramArguments"]] + ["\t}", ""]
    if "StandardOutPath" in data:
        lines.append(f"\tstdout path = {data['StandardOutPath']}")
    lines += [f"\tstderr path = {data['StandardErrorPath']}", "\tinherited environment = {",
              "\t\tSSH_AUTH_SOCK => /private/tmp/com.apple.launchd.x1Y2z3/Listeners", "\t}", "",
              "\tdefault environment = {", "\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin", "\t}", "",
              "\tenvironment = {"]
    lines += [f"\t\t{k} => {v}" for k, v in data.get("EnvironmentVariables", {}).items()]
    lines += [f"\t\tXPC_SERVICE_NAME => {label}", "\t}", "", f"\tdomain = {domain} [100005]",
              "\tasid = 100005", f"\tminimum runtime = {data.get('ThrottleInterval', 10)}",
              f"\texit timeout = {data.get('ExitTimeOut', 5)}", f"\truns = {job['runs']}"]
    if job.get("pid"):
        lines.append(f"\tpid = {job['pid']}")
    if job.get("signal"):
        lines.append(f"\tlast terminating signal = {job['signal']}")
    else:
        lines.append(f"\tlast exit code = {job.get('last_exit') or '(never exited)'}")
    lines += ["", "\tresource coalition = {", "\t\tID = 9275", "\t\ttype = resource", "\t\tstate = active",
              "\t\tactive count = 1", f"\t\tname = {label}", "\t}", "", "\tsockets = {"]
    for key, listener in data.get("Sockets", {}).items():
        lines += [f'\t\t"{key}" = {{', "\t\t\ttype = stream", "\t\t\tpassive = 1", "\t\t\tbonjour = 0"]
        lines += [f"\t\t\tpath = {listener['SockPathName']}"] if "SockPathName" in listener else []
        lines += ["\t\t}"]
    lines += ["\t}", "", "\tspawn type = daemon (3)", "\tjetsam priority = 40",
              "\tjob state = " + ("running" if job["state"] == "running" else "exited"), "",
              "\tproperties = inferred program" + (" | inetd-compatible" if "inetdCompatibility" in data else ""),
              "}"]
    return "\n".join(lines)


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
            f.write(FAKE_LAUNCHCTL.format(python=sys.executable, label=LABEL, name=NAME, uid=UID,
                                          here=os.path.dirname(os.path.abspath(__file__))))
        os.chmod(fake, 0o755)
        self.log = os.path.join(self.tmp, "launchctl.log")
        self.state = os.path.join(self.tmp, "launchd-state.json")
        self.env = dict(os.environ, HOME=self.home, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                        FAKE_LAUNCHCTL_LOG=self.log, FAKE_LAUNCHCTL_STATE=self.state, PYTHONDONTWRITEBYTECODE="1")

    def pylaunchd(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([PYLAUNCHD, *args], cwd=SOURCE_DIR, env=dict(self.env, **env), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def install(self, *options: str, agent: str = AGENT_ARG, **env: str) -> subprocess.CompletedProcess:
        return self.pylaunchd("install", "--target", "launchd", "--name", NAME, *options, agent, **env)

    def install_ok(self, *options: str, **kw) -> subprocess.CompletedProcess:
        r = self.install(*options, **kw)
        self.assertEqual(r.returncode, 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def calls(self) -> list:
        """The launchctl calls since the last one, and forget them."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            out = [json.loads(line) for line in f]
        os.unlink(self.log)
        return out

    def job(self, **fields) -> dict:
        """The fake domain's record of the job, changed by FIELDS (state, pid, last_exit, signal)."""
        with open(self.state) as f:
            jobs = json.load(f)
        jobs[LABEL].update(fields)
        with open(self.state, "w") as f:
            json.dump(jobs, f)
        return jobs[LABEL]

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def write(self, path: str, text: str) -> str:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def leftovers(self) -> list:
        return [f for _, dirs, files in os.walk(self.home) for f in dirs + files
                if f.endswith(".tmp") or f.startswith((".agent.new-", ".agent.old-"))]

    def test_install_writes_what_the_dry_run_prints(self):
        dry = self.install("--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        printed = Output(dry.stdout).file(self.paths["plist"])
        self.assertEqual(self.calls(), [], "a dry run ran launchctl")

        r = self.install_ok()
        written = self.read(self.paths["plist"])
        self.assertEqual(written, printed)
        plist = plistcheck.parse_both(written)
        self.assertEqual(plistcheck.schema_problems(plist, "unix"), [])
        self.assertEqual(plist["ProgramArguments"][-1], self.paths["agent"])
        self.assertEqual(plist["ProgramArguments"][1], "--launchd")

        calls = self.calls()
        self.assertEqual([c["argv"] for c in calls], [
            ["bootout", f"gui/{UID}/{LABEL}"],
            ["bootstrap", f"gui/{UID}", self.paths["plist"]],
        ])
        self.assertFalse(calls[0]["plist_exists"] or calls[0]["agent_exists"],
                         "bootout must come before anything is copied or written")
        self.assertTrue(calls[1]["agent_exists"], "bootstrap before the agent was copied")
        self.assertEqual(calls[1].get("plist", "").encode(), written, "bootstrap saw a partial plist")

        # The copy is the agent's directory, private to the user, in a private directory.
        copied = sorted(os.listdir(self.paths["copy"]))
        self.assertEqual(copied, sorted(f for f in os.listdir(os.path.dirname(AGENT_ABS)) if f != "__pycache__"))
        self.assertEqual(self.read(self.paths["agent"]), self.read(AGENT_ABS))
        self.assertEqual(plistcheck.tree_problems(self.paths["copy"]), [])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.paths["copy"], "client.py")).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(self.paths["support"]).st_mode), 0o700)
        self.assertTrue(os.path.isdir(os.path.dirname(self.paths["log"])),
                        "launchd does not create StandardErrorPath's directory")
        self.assertEqual(self.leftovers(), [])
        # Said like the systemd install: where it listens (quoted: "Application Support"), its log.
        self.assertIn(f"installed: gui/{UID}/{LABEL} listens on '{self.paths['sock']}'; "
                      f"the first connection starts '{self.paths['agent']}'\n", r.stdout.replace("'\"'\"'", "'"))
        self.assertIn(f"its log (stdout and stderr): '{self.paths['log']}'; see it with: pylaunchd status {NAME}",
                      r.stdout.replace("'\"'\"'", "'"))

    def test_copied_agent_imports_its_modules(self):
        # The launchd job runs the copy: an agent that imports a module beside it must find it
        # there (before, only the agent's file was copied: ModuleNotFoundError, exit 65, at the
        # first connection). Run the job's command line as launchd would, with --listen in place
        # of the check-in Linux cannot do, its environment and its log; the launcher's
        # StrictModes must accept the copy.
        project = os.path.join(self.tmp, "my project")
        agent = self.write(os.path.join(project, "Shout.py"),
                           "import os, sys\nimport shouting\nfrom words import upper\n"
                           "print('started with PATH', os.environ.get('PATH'), 'and', shouting.NOTE)\n"
                           "def handle(conn):\n    conn.sendall(upper(conn.recv(100)))\n")
        self.write(os.path.join(project, "shouting.py"), "NOTE = 'a module beside the agent'\n")
        self.write(os.path.join(project, "words", "__init__.py"), "def upper(b):\n    return b.upper()\n")
        os.chmod(project, 0o777)  # what others could write is not copied along
        self.install_ok("--env", "GREETING=hi", agent=agent)
        plist = plistcheck.parse_both(self.read(self.paths["plist"]))
        self.assertEqual(plistcheck.tree_problems(self.paths["copy"]), [])

        sock = os.path.join(self.tmp, "job.sock")
        args = plist["ProgramArguments"]
        argv = [args[0], "--listen", f"unix:{sock}"] + args[1 + (args[1] == "--launchd"):]
        with open(plist["StandardErrorPath"], "ab") as log:
            job = subprocess.Popen(argv, cwd="/", env=plist["EnvironmentVariables"], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log)
        self.addCleanup(job.wait, 10)
        self.addCleanup(job.terminate)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as c:
                    c.settimeout(10)
                    c.connect(sock)
                    c.sendall(b"hello\n")
                    answer = c.recv(100)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if job.poll() is not None or time.monotonic() > deadline:
                    self.fail(f"the job ended ({job.returncode}):\n{self.read(plist['StandardErrorPath']).decode()}")
                time.sleep(0.05)
        self.assertEqual(answer, b"HELLO\n", self.read(plist["StandardErrorPath"]).decode())
        job.terminate()
        self.assertEqual(job.wait(10), 0)
        log = self.read(plist["StandardErrorPath"]).decode()
        self.assertIn(f"started with PATH {plist['EnvironmentVariables']['PATH']} and a module beside the agent", log)

    def test_reinstall_replaces_the_copy(self):
        project = os.path.join(self.tmp, "proj")
        agent = self.write(os.path.join(project, "Main.py"), "import gone\ndef handle(conn): pass\n")
        self.write(os.path.join(project, "gone.py"), "")
        self.install_ok(agent=agent)
        self.assertTrue(os.path.exists(os.path.join(self.paths["copy"], "gone.py")))
        os.unlink(os.path.join(project, "gone.py"))
        self.write(agent, "def handle(conn): pass\n")
        self.install_ok(agent=agent)
        self.assertEqual(sorted(os.listdir(self.paths["copy"])), ["Main.py"], "the old copy must go, whole")
        self.assertEqual(self.read(os.path.join(self.paths["copy"], "Main.py")), b"def handle(conn): pass\n")
        self.assertEqual(sorted(os.listdir(self.paths["support"])), ["agent", f"{NAME}.sock"])
        self.assertEqual(self.leftovers(), [])

    def test_bootout_not_loaded_is_ignored(self):
        r = self.install_ok()
        self.assertEqual([c["argv"][0] for c in self.calls()], ["bootout", "bootstrap"])
        self.assertIn("Boot-out failed: 3: No such process", r.stdout + r.stderr)
        self.assertTrue(os.path.exists(self.paths["plist"]))

    def test_bootstrap_failure_fails(self):
        r = self.install(FAKE_LAUNCHCTL_BOOTSTRAP="5")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("bootstrap", r.stderr)
        self.assertIn("every file was put back", r.stderr)
        self.assertFalse(os.path.exists(self.paths["plist"]), "a failed first install left its plist")
        self.assertFalse(os.path.exists(self.paths["support"]), "a failed first install left the agent's copy")

    def test_failed_reinstall_puts_the_previous_back(self):
        project = os.path.join(self.tmp, "proj")
        agent = self.write(os.path.join(project, "Main.py"), "def handle(conn): pass\n")
        self.install_ok(agent=agent)
        before = self.read(self.paths["plist"])
        self.calls()
        self.write(agent, "def handle(conn): 1\n")
        self.write(os.path.join(project, "new.py"), "")
        r = self.install("--idle-timeout", "5", agent=agent, FAKE_LAUNCHCTL_BOOTSTRAP="5")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertEqual(self.read(self.paths["plist"]), before)
        self.assertEqual(sorted(os.listdir(self.paths["copy"])), ["Main.py"], "the previous copy must be back")
        self.assertEqual(self.read(os.path.join(self.paths["copy"], "Main.py")), b"def handle(conn): pass\n")
        self.assertEqual(self.leftovers(), [])
        self.assertEqual([c["argv"][0] for c in self.calls()], ["bootout", "bootstrap", "bootstrap"],
                         "the previous plist must be loaded again")

    def test_list_status_logs_restart(self):
        r = self.pylaunchd("list", "--target", "launchd")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertIn("no agents installed by pylaunchd install", r.stdout)
        self.install_ok()
        self.calls()
        sock = self.paths["sock"]

        # Loaded, never started: launchd holds the socket.
        r = self.pylaunchd("list", "--target", "launchd")
        self.assertEqual(r.returncode, 0, r.stderr)
        head, row = r.stdout.splitlines()
        self.assertEqual(head.split(), ["NAME", "SOCKET", "SERVICE", "LAST", "EXIT", "LISTEN"])
        self.assertRegex(row, rf"^{NAME}\s+listening\s+not running\s+-\s+{re.escape(sock)}$")

        # It ran and failed to import: the exit code and what it means, the exception from the log.
        with open(self.paths["log"], "w") as f:
            f.write("pylaunchd: agent failed to import:\nTraceback (most recent call last):\n"
                    '  File "Agent.py", line 2\n    x = (\n        ^\nSyntaxError: \'(\' was never closed\n')
        self.job(last_exit="65", runs=1)
        r = self.pylaunchd("list", "--target", "launchd")
        self.assertRegex(r.stdout.splitlines()[1], rf"^{NAME}\s+listening\s+not running\s+"
                                                   rf"65 \(the agent could not be imported\)\s+{re.escape(sock)}$")
        r = self.pylaunchd("status", "--target", "launchd", NAME, "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{NAME} (launchd)\n"
                                   f"  agent:      {self.paths['agent']}\n"
                                   f"  listen:     {sock}\n"
                                   "  socket:     listening\n"
                                   "  service:    not running\n"
                                   "  result:     started 1 time(s) since loaded\n"
                                   "  last exit:  65 (the agent could not be imported)\n"
                                   "  last error: SyntaxError: '(' was never closed\n"
                                   f"  log:        {self.paths['log']} (pylaunchd logs {NAME})\n")
        self.assertIn(f"$ launchctl print gui/{UID}/{LABEL}", r.stderr)
        self.job(last_exit="78: EX_CONFIG")
        self.assertIn("  last exit:  78 (the sockets given are unusable)\n",
                      self.pylaunchd("status", "--target", "launchd", NAME).stdout)

        # Running; then ended by a signal (launchd prints no exit code then).
        self.job(state="running", pid=4242, last_exit="0", runs=2)
        r = self.pylaunchd("status", "--target", "launchd", NAME)
        self.assertIn("  service:    running (pid 4242)\n", r.stdout)
        self.assertIn("  last exit:  0 (clean stop)\n", r.stdout)
        self.job(state="not running", pid=None, signal="Killed: 9")
        r = self.pylaunchd("list", "--target", "launchd")
        self.assertRegex(r.stdout.splitlines()[1], rf"^{NAME}\s+listening\s+not running\s+signal 9 \(SIGKILL\)\s+")

        r = self.pylaunchd("logs", "--target", "launchd", NAME, "-n", "1")
        self.assertEqual((r.returncode, r.stdout), (0, "SyntaxError: '(' was never closed\n"), r.stderr)
        self.assertIn(f"# {NAME} logs to {self.paths['log']}", r.stderr)

        # restart: SIGTERM to the running instance (handlers in flight finish, never kickstart -k's
        # SIGKILL), waits for it to stop; the next connection starts the copy afresh.
        self.job(state="running", pid=4242, signal=None)
        self.calls()
        r = self.pylaunchd("restart", "--target", "launchd", NAME)
        self.assertEqual(r.returncode, 0, r.stderr)
        target = f"gui/{UID}/{LABEL}"
        self.assertEqual([c["argv"] for c in self.calls()],
                         [["print", target], ["kill", "SIGTERM", target], ["print", target], ["print", target]])
        self.assertEqual(r.stdout, f"restarted {NAME}: socket listening, service not running; the next "
                                   "connection starts the agent afresh\n")
        # Not running: nothing to stop.
        self.pylaunchd("restart", "--target", "launchd", NAME)
        self.assertEqual([c["argv"][0] for c in self.calls()], ["print", "print"])

        # Booted out behind our back: list says so, restart loads it again.
        subprocess.run(["launchctl", "bootout", target], env=self.env, capture_output=True)
        self.calls()
        r = self.pylaunchd("list", "--target", "launchd")
        self.assertRegex(r.stdout.splitlines()[1], rf"^{NAME}\s+not loaded\s+not loaded \(pylaunchd restart "
                                                   rf"{NAME} loads it\)\s+-\s+")
        r = self.pylaunchd("restart", "--target", "launchd", NAME)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([c["argv"][0] for c in self.calls()], ["print", "print", "bootstrap", "print"])
        self.assertIn("socket listening", r.stdout)

        # The socket file gone while loaded: said, not hidden behind "loaded".
        os.unlink(sock)
        r = self.pylaunchd("status", "--target", "launchd", NAME)
        self.assertIn(f"  socket:     not listening: {sock} is missing\n", r.stdout)

    def test_logs_follow(self):
        self.install_ok()
        self.write(self.paths["log"], "first\n")
        logs = subprocess.Popen([PYLAUNCHD, "logs", "--target", "launchd", NAME, "-f", "-n", "1"], cwd=SOURCE_DIR,
                                env=self.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(logs.wait, 10)
        self.addCleanup(logs.kill)
        self.addCleanup(logs.stdout.close)
        self.assertEqual(logs.stdout.readline(), "first\n")
        with open(self.paths["log"], "a") as f:
            f.write("appended\n")
        self.assertEqual(logs.stdout.readline(), "appended\n")

    def test_status_unknown_name(self):
        r = self.pylaunchd("status", "--target", "launchd", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no agent named nope is installed", r.stderr)

    def test_reinstall_replaces_own_plist(self):
        self.install_ok()
        self.calls()
        self.install_ok("--idle-timeout", "5")
        plist = plistcheck.parse_both(self.read(self.paths["plist"]))
        self.assertEqual(plist["ThrottleInterval"], 5)
        calls = self.calls()
        self.assertEqual([c["argv"][0] for c in calls], ["bootout", "bootstrap"])
        self.assertTrue(calls[0]["plist_exists"], "the old job is booted out while its plist exists")

    def test_inetd_and_tcp(self):
        self.install_ok("--accept")
        plist = plistcheck.parse_both(self.read(self.paths["plist"]))
        self.assertEqual(plistcheck.schema_problems(plist, "inetd"), [])
        self.assertEqual(plist["ProgramArguments"][1], "--inetd")
        r = self.pylaunchd("status", "--target", "launchd", NAME)
        self.assertIn("one pylaunchd per connection (inetdCompatibility)", r.stdout)
        self.install_ok("--listen", "tcp:127.0.0.1:7013")
        plist = plistcheck.parse_both(self.read(self.paths["plist"]))
        self.assertEqual(plistcheck.schema_problems(plist, "tcp"), [])
        self.assertEqual(plist["ProgramArguments"][1], "--launchd")
        r = self.pylaunchd("list", "--target", "launchd")
        self.assertRegex(r.stdout.splitlines()[1], rf"^{NAME}\s+listening\s+not running\s+-\s+127\.0\.0\.1:7013$")

    def test_uninstall(self):
        self.install_ok()
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
    plistcheck.skips.main()
