"""`pylaunchd install --target launchd --dry-run` against the real binary: the plist it prints
(parsed with plistlib and plistutil, checked against launchd.plist(5)), the paths under a home
directory with spaces, quotes and '$' in it, the exact launchctl commands and their order, the
variants (TCP, inetd, idle timeouts, agent arguments), the errors, and that nothing is written.
The job runs a copy of the agent's directory (what is copied, what is left out, --copy, the size
limit), a pylaunchd installed outside its build tree (refused otherwise), says how it checks in
(--launchd, --inetd), keeps stdout in the log and has a PATH. One systemd dry run at the end
shows the launchd options did not break the default target.

The build tree's pylaunchd is refused for launchd, so these tests run a copy of it staged under
/tmp (staged_pylaunchd()), as `cmake --install` would put it; BuildTree runs the build tree's."""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plistcheck  # noqa: E402

BUILT = os.environ.get("PYLAUNCHD", "")  # in its build tree
_staged = []


def staged_pylaunchd() -> str:
    """The built pylaunchd copied once per test process to a directory outside any build tree."""
    if not _staged and BUILT and os.access(BUILT, os.X_OK):
        bindir = tempfile.mkdtemp(prefix="pylaunchd-launchd-bin-", dir="/tmp")
        atexit.register(shutil.rmtree, bindir, True)
        path = os.path.join(bindir, "pylaunchd")
        shutil.copy2(BUILT, path)
        _staged.append(path)
    return _staged[0] if _staged else ""


PYLAUNCHD = staged_pylaunchd()
SOURCE_DIR = os.environ.get("PYLAUNCHD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT_ARG = os.path.join("agent", "Agent.py")  # relative, as in the issue's command; cwd=SOURCE_DIR
AGENT_ABS = os.path.realpath(os.path.join(SOURCE_DIR, AGENT_ARG))
NAME = "rot13"
LABEL = "local.pylaunchd.rot13"
UID = os.getuid()
EX_USAGE = 64

# Home directories the paths must survive: spaces (every macOS "Application Support" path has
# one anyway), a single quote and '$' (shell quoting), and XML's special characters.
HOMES = ["home with spaces", "it's $HOME here", 'amp & <lt> "dq"']


def expected_paths(home: str, name: str = NAME) -> dict:
    support = f"{home}/Library/Application Support/pylaunchd/{name}"
    return {
        "support": support,
        "copy": f"{support}/agent",
        "agent": f"{support}/agent/Agent.py",
        "sock": f"{support}/{name}.sock",
        "plist": f"{home}/Library/LaunchAgents/local.pylaunchd.{name}.plist",
        "log": f"{home}/Library/Logs/pylaunchd/{name}.log",
    }


def expected_path(home: str) -> str:
    """The PATH every plist sets: launchd's own has neither ~/.local/bin nor Homebrew."""
    return f"{home}/.local/bin:/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


class Output:
    """A dry run's stdout: the files it would write, the commands it would run, in order."""

    def __init__(self, stdout: str) -> None:
        self.text = stdout
        self.lines = stdout.splitlines()

    def index(self, line: str) -> int:
        try:
            return self.lines.index(line)
        except ValueError:
            raise AssertionError(f"no line {line!r} in the output:\n{self.text}") from None

    def copied(self) -> tuple:
        """(the `--- copy SRC -> DEST (...)` line, [the files listed under it])."""
        at = next((i for i, line in enumerate(self.lines) if line.startswith("--- copy ")), None)
        if at is None:
            raise AssertionError(f"no --- copy line in the output:\n{self.text}")
        files = []
        for line in self.lines[at + 1:]:
            if not line.startswith("    "):
                break
            files.append(line[4:])
        return self.lines[at], files

    def summary(self) -> list:
        """The closing lines that say where it listens and where it logs: [(socket, agent), log]."""
        m = re.search(r"^# it would listen on (.*); the first connection starts (.*)\n"
                      r"# its log \(stdout and stderr\): (.*); see it with: ", self.text, re.M)
        if not m:
            raise AssertionError(f"no summary in the output:\n{self.text}")
        return [shlex.split(m.group(1)), shlex.split(m.group(2)), shlex.split(m.group(3))]

    def file(self, path: str) -> bytes:
        """The text after the `--- PATH` header, through the line that closes </plist>."""
        start = self.index(f"--- {path}") + 1
        for end in range(start, len(self.lines)):
            if self.lines[end].strip() == "</plist>":
                return ("\n".join(self.lines[start:end + 1]) + "\n").encode("utf-8")
        raise AssertionError(f"no </plist> after --- {path}:\n{self.text}")

    def commands(self) -> list:
        """[(line number, argv)] of every `$ command` line, argv as a POSIX shell splits it."""
        return [(i, shlex.split(line[2:])) for i, line in enumerate(self.lines) if line.startswith("$ ")]


class DryRunCase(unittest.TestCase):
    def setUp(self) -> None:
        if not PYLAUNCHD or not os.access(PYLAUNCHD, os.X_OK):
            self.fail("PYLAUNCHD must name the built pylaunchd binary (ctest sets it)")
        # Under /tmp, not $TMPDIR: the socket path must stay within macOS's 104 bytes for the
        # ordinary cases, and a long TMPDIR would push it over.
        self.tmp = tempfile.mkdtemp(prefix="pylaunchd-launchd-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def make_home(self, name: str = "home with spaces") -> str:
        home = os.path.join(self.tmp, name)
        os.mkdir(home)
        # Whatever happens in the test, a dry run must leave the home directory empty.
        self.addCleanup(self.assertHomeEmpty, home)
        return home

    def assertHomeEmpty(self, home: str) -> None:
        found = [os.path.join(d, f) for d, dirs, files in os.walk(home) for f in dirs + files]
        self.assertEqual(found, [], "--dry-run wrote into HOME")

    def pylaunchd(self, home: str, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, HOME=home, PYTHONDONTWRITEBYTECODE="1")
        env.pop("XDG_CONFIG_HOME", None)
        return subprocess.run([PYLAUNCHD, *args], cwd=SOURCE_DIR, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def install(self, home: str, *options: str, agent: str = AGENT_ARG, agent_args=()) -> subprocess.CompletedProcess:
        return self.pylaunchd(home, "install", "--target", "launchd", "--dry-run", "--name", NAME,
                              *options, agent, *agent_args)

    def install_ok(self, home: str, *options: str, variant: str = "unix", **kw):
        """Run a dry install that must succeed; the parsed, schema-checked plist and the output."""
        r = self.install(home, *options, **kw)
        self.assertEqual(r.returncode, 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        out = Output(r.stdout)
        plist = plistcheck.parse_both(out.file(expected_paths(home)["plist"]))
        self.assertEqual(plistcheck.schema_problems(plist, variant), [])
        return plist, out, r

    def assertPair(self, args: list, option: str, value: str) -> None:
        """OPTION VALUE appear together among the launcher's options (before the agent)."""
        agent_at = next(i for i, a in enumerate(args) if a.endswith("/Agent.py"))
        launcher = args[:agent_at]
        self.assertIn(option, launcher, f"{option} not among the launcher options {launcher}")
        self.assertEqual(launcher[launcher.index(option) + 1], value, f"{option} in {launcher}")


class Install(DryRunCase):
    def test_unix_socket_agent(self):
        for home_name in HOMES:
            with self.subTest(home=home_name):
                home = self.make_home(home_name)
                p = expected_paths(home)
                plist, out, r = self.install_ok(home)
                self.assertEqual(r.stderr, "")

                self.assertEqual(plist["Label"], LABEL)
                args = plist["ProgramArguments"]
                self.assertTrue(os.path.isabs(args[0]), args[0])
                self.assertEqual(os.path.realpath(args[0]), os.path.realpath(PYLAUNCHD))
                self.assertEqual(args[-1], p["agent"], "the job must run the copy, not the checkout")
                listener = plist["Sockets"]["Listeners"]
                self.assertEqual(listener["SockPathName"], p["sock"])
                self.assertTrue(listener["SockPathName"].startswith(p["support"] + "/"))
                self.assertEqual(listener["SockPathMode"], 384)
                self.assertEqual(plist["StandardErrorPath"], p["log"])
                self.assertEqual(plist["StandardOutPath"], p["log"], "print() output would be lost")
                self.assertEqual(args[1], "--launchd", "the plist must say how pylaunchd checks in")
                self.assertEqual(plist["EnvironmentVariables"], {"PATH": expected_path(home)})

                # bootout first (before anything is copied or written), bootstrap last.
                commands = out.commands()
                self.assertEqual([argv for _, argv in commands], [
                    ["launchctl", "bootout", f"gui/{UID}/{LABEL}"],
                    ["launchctl", "bootstrap", f"gui/{UID}", p["plist"]],
                ])
                # The agent's directory is copied, not the agent alone: its modules come along.
                line, files = out.copied()
                self.assertTrue(line.startswith(f"--- copy {os.path.dirname(AGENT_ABS)} -> {p['copy']} ("), line)
                self.assertIn("Agent.py", files)
                self.assertIn("client.py (executable)", files)
                self.assertFalse([f for f in files if "__pycache__" in f], files)
                copy_at = out.index(line)
                plist_at = out.index(f"--- {p['plist']}")
                self.assertLess(commands[0][0], copy_at)
                self.assertLess(commands[0][0], plist_at)
                self.assertGreater(commands[1][0], copy_at)
                self.assertGreater(commands[1][0], plist_at)
                # Where it listens and logs, shell-quoted ("Application Support" has a space).
                self.assertEqual(out.summary(), [[p["sock"]], [p["agent"]], [p["log"]]])

    def test_issue_command_for_the_current_user(self):
        # The issue's own command line, with this user's real uid in the launchctl domain.
        home = self.make_home()
        r = self.pylaunchd(home, "install", "--target", "launchd", "--dry-run", "--name", "rot13",
                           "agent/Agent.py")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"$ launchctl bootout gui/{UID}/local.pylaunchd.rot13\n", r.stdout)
        self.assertIn("<key>Label</key>", r.stdout)

    def test_default_idle_timeout(self):
        home = self.make_home()
        plist, _, _ = self.install_ok(home)
        self.assertEqual(plist["ThrottleInterval"], 10)
        self.assertPair(plist["ProgramArguments"], "--idle-timeout", "30")
        self.assertPair(plist["ProgramArguments"], "--min-uptime", "10")

    def test_idle_timeout_5(self):
        home = self.make_home()
        plist, _, _ = self.install_ok(home, "--idle-timeout", "5")
        self.assertEqual(plist["ThrottleInterval"], 5)
        self.assertPair(plist["ProgramArguments"], "--idle-timeout", "5")
        self.assertPair(plist["ProgramArguments"], "--min-uptime", "5")

    def test_agent_arguments_come_last(self):
        # Arguments after `--` are the agent's, even when they look like launcher options.
        home = self.make_home()
        extra = ["--verbose", "two words", "-c", "$HOME"]
        plist, _, _ = self.install_ok(home, agent_args=["--"] + extra)
        args = plist["ProgramArguments"]
        self.assertEqual(args[-5:], [expected_paths(home)["agent"]] + extra)
        self.assertNotIn("--verbose", args[:-5])
        self.assertNotIn("-c", args[:-5])
        # Without `--`, an option after the agent's path is refused, and nothing is written.
        r = self.install(home, agent_args=extra)
        self.assertEqual(r.returncode, EX_USAGE, r.stdout)
        self.assertIn("'--verbose' comes after the agent's path", r.stderr)
        self.assertNotIn("$ launchctl", r.stdout)

    def test_launcher_options_env_log_file_and_socket_name(self):
        home = self.make_home()
        log = os.path.join(self.tmp, "logs", "agent.log")
        plist, _, _ = self.install_ok(home, "--workers", "2", "--allow-uid", "501", "-s", "Web", "--env", "A=b c",
                                      "--env", "GREETING=$HOME 100%", "--log-file", log)
        args = plist["ProgramArguments"]
        self.assertPair(args, "--workers", "2")
        self.assertPair(args, "--allow-uid", "501")
        self.assertPair(args, "--socket-name", "Web")
        self.assertEqual(list(plist["Sockets"]), ["Web"], "the Sockets key must be the one checked in")
        self.assertEqual(plist["EnvironmentVariables"],
                         {"PATH": expected_path(home), "A": "b c", "GREETING": "$HOME 100%"})
        self.assertEqual((plist["StandardErrorPath"], plist["StandardOutPath"]), (log, log))
        self.assertEqual(Output(self.install(home, "--log-file", log).stdout).summary()[2], [log])

    def test_env_path_replaces_the_default(self):
        home = self.make_home()
        plist, _, _ = self.install_ok(home, "--env", "PATH=/opt/tools/bin:/usr/bin", "--env", "LANG=en_US.UTF-8")
        self.assertEqual(plist["EnvironmentVariables"], {"PATH": "/opt/tools/bin:/usr/bin", "LANG": "en_US.UTF-8"})

    def test_stop_timeout_sets_exit_timeout(self):
        # launchd's SIGKILL comes ExitTimeOut after its SIGTERM: pylaunchd's stop timeout must fit.
        home = self.make_home()
        plist, _, _ = self.install_ok(home)
        self.assertEqual(plist["ExitTimeOut"], 15)
        plist, _, _ = self.install_ok(home, "--stop-timeout", "20.5")
        self.assertPair(plist["ProgramArguments"], "--stop-timeout", "20.5")
        self.assertEqual(plist["ExitTimeOut"], 26)

    def test_privacy_protected_paths_are_called_out(self):
        home = self.make_home()
        log = os.path.join(home, "Documents", "rot13.log")
        plist, _, r = self.install_ok(home, "--log-file", log)
        self.assertIn(f"--log-file {log} is in ~/Documents", r.stderr)
        self.assertIn("Privacy & Security", r.stderr)

    def test_refused_options(self):
        home = self.make_home()
        for options, words in ((("--listen", f"fifo:{self.tmp}/ctl"), "launchd has no FIFO sockets"),
                               (("-s", "A", "-s", "B"), "one socket per install"),
                               (("--daemon",), "--daemon is for running without a service manager"),
                               (("--workers", "0"), "--workers '0' must be a whole number")):
            with self.subTest(options=options):
                r = self.install(home, *options)
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn(words, r.stderr)
                self.assertNotIn("$ launchctl", r.stdout)

    def test_tcp_variant(self):
        # launchd binds the port (Sockets with SockNodeName/SockServiceName) and the launcher checks
        # in for it with --launchd: it never binds the port itself (--listen).
        for listen, node in (("tcp:127.0.0.1:7013", "127.0.0.1"), ("tcp:localhost:7013", "localhost"),
                             ("tcp:[::1]:7013", "::1")):
            with self.subTest(listen=listen):
                home = self.make_home(listen.replace(":", " "))
                plist, out, _ = self.install_ok(home, "--listen", listen, variant="tcp")
                self.assertEqual(plist["ProgramArguments"][1], "--launchd")
                self.assertFalse([a for a in plist["ProgramArguments"] if a.startswith(("--listen", "tcp:"))])
                self.assertEqual(out.summary()[0], [listen[4:]])
                listener = plist["Sockets"]["Listeners"]
                self.assertEqual(listener["SockNodeName"], node)
                self.assertEqual(listener["SockServiceName"], "7013")
                self.assertEqual(listener["SockType"], "stream")
                self.assertNotIn("SockPathName", listener)
                self.assertNotIn("SockPathMode", listener)
                self.assertEqual(plist["ThrottleInterval"], 10)
                self.assertEqual(plist["Label"], LABEL)
                self.assertEqual([argv[1] for _, argv in out.commands()], ["bootout", "bootstrap"])

    def test_tcp_port_out_of_range(self):
        # The systemd target refuses these; a SockServiceName of "70000" would fail only on the Mac.
        home = self.make_home()
        for listen in ("tcp:127.0.0.1:70000", "tcp:127.0.0.1:0"):
            with self.subTest(listen=listen):
                r = self.install(home, "--listen", listen)
                self.assertNotEqual(r.returncode, 0, f"{listen} accepted:\n{r.stdout}")
                self.assertIn("--listen", r.stderr)
                self.assertNotIn("$ launchctl", r.stdout)

    def test_tcp_not_loopback_is_called_out(self):
        # The TCP variant is the loopback variant; another host must at least be warned about,
        # as the systemd target does ("... is not a loopback address ...").
        home = self.make_home()
        r = self.install(home, "--listen", "tcp:0.0.0.0:7013")
        self.assertIn("loopback", r.stderr, f"status {r.returncode}, no warning for 0.0.0.0")

    def test_unix_listen_path_must_be_absolute(self):
        # launchd binds SockPathName from its own working directory, /, not from the user's.
        home = self.make_home()
        r = self.install(home, "--listen", "unix:rot13.sock")
        self.assertNotEqual(r.returncode, 0, f"a relative socket path was accepted:\n{r.stdout}")
        self.assertIn("--listen", r.stderr)

    def test_inetd_variant(self):
        home = self.make_home()
        p = expected_paths(home)
        plist, out, _ = self.install_ok(home, "--accept", variant="inetd")
        self.assertIs(plist["inetdCompatibility"]["Wait"], False)
        self.assertEqual(plist["ProgramArguments"][1], "--inetd", "the connection is on fd 0: say so")
        self.assertNotIn("--launchd", plist["ProgramArguments"])
        self.assertNotIn("StandardOutPath", plist)
        self.assertEqual(plist["EnvironmentVariables"], {"PATH": expected_path(home)})
        self.assertEqual(plist["StandardErrorPath"], p["log"])
        self.assertEqual(plist["Sockets"]["Listeners"]["SockPathName"], p["sock"])
        self.assertEqual(plist["ProgramArguments"][-1], p["agent"])
        self.assertEqual([argv for _, argv in out.commands()], [
            ["launchctl", "bootout", f"gui/{UID}/{LABEL}"],
            ["launchctl", "bootstrap", f"gui/{UID}", p["plist"]],
        ])


class Copy(DryRunCase):
    """The job runs a copy made at install (launchd cannot read ~/Documents and the like without
    consent): the agent's whole directory, so that `import helper` beside it works, less what is
    never needed (.git, __pycache__, virtualenvs, node_modules), within a size limit."""

    def make_project(self) -> str:
        root = os.path.join(self.tmp, "my project")
        for rel, text in (("app/Main.py", "import helper\n"), ("app/helper.py", "X = 1\n"),
                          ("app/pkg/__init__.py", ""), ("app/pkg/data.json", "{}\n"), ("app/run.sh", "#!/bin/sh\n"),
                          ("app/.git/HEAD", "ref\n"), ("app/__pycache__/helper.cpython-311.pyc", ""),
                          ("app/.venv/pyvenv.cfg", "version = 3.11.2\n"), ("app/.venv/lib/x.py", ""),
                          ("app/env2/pyvenv.cfg", "version = 3.11.2\n"), ("app/node_modules/m/index.js", ""),
                          ("app/pkg/__pycache__/x.pyc", ""), ("README", "hi\n")):
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        os.chmod(os.path.join(root, "app", "run.sh"), 0o755)
        return root

    def test_the_agents_directory(self):
        home = self.make_home()
        root = self.make_project()
        p = expected_paths(home)
        plist, out, _ = self.install_ok(home, agent=os.path.join(root, "app", "Main.py"))
        self.assertEqual(plist["ProgramArguments"][-1], f"{p['copy']}/Main.py")
        line, files = out.copied()
        self.assertEqual(files, ["Main.py", "helper.py", "pkg/__init__.py", "pkg/data.json", "run.sh (executable)"])
        self.assertTrue(line.startswith(f"--- copy {root}/app -> {p['copy']} (5 files, "), line)
        for left_out in (".git/", "__pycache__/", ".venv/ (a virtualenv)", "env2/ (a virtualenv)",
                         "node_modules/", "pkg/__pycache__/"):
            self.assertIn(left_out, line)

    def test_copy_a_directory_that_holds_the_agent(self):
        home = self.make_home()
        root = self.make_project()
        p = expected_paths(home)
        plist, out, _ = self.install_ok(home, "--copy", root, agent=os.path.join(root, "app", "Main.py"))
        self.assertEqual(plist["ProgramArguments"][-1], f"{p['copy']}/app/Main.py")
        self.assertIn("README", out.copied()[1])
        self.assertIn("app/helper.py", out.copied()[1])

    def test_copy_the_agent_alone(self):
        home = self.make_home()
        root = self.make_project()
        agent = os.path.join(root, "app", "Main.py")
        plist, out, _ = self.install_ok(home, "--copy", agent, agent=agent)
        self.assertEqual(out.copied()[1], ["Main.py"])
        self.assertEqual(plist["ProgramArguments"][-1], expected_paths(home)["copy"] + "/Main.py")

    def test_copy_refused(self):
        home = self.make_home()
        root = self.make_project()
        agent = os.path.join(root, "app", "Main.py")
        for copy, words in ((os.path.join(root, "app", "pkg"), "is not inside"),
                            (os.path.join(root, "app", "helper.py"), "must be the agent itself"),
                            (os.path.join(root, "nothing"), "does not exist")):
            with self.subTest(copy=copy):
                r = self.install(home, "--copy", copy, agent=agent)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(words, r.stderr)
                self.assertNotIn("$ launchctl", r.stdout)
        r = self.pylaunchd(home, "install", "--dry-run", "--name", NAME, "--copy", root, agent)
        self.assertEqual(r.returncode, EX_USAGE, r.stdout)
        self.assertIn("--copy is for launchd", r.stderr)

    def test_too_big(self):
        # Over the limit, nothing runs; the message names what is big and how to slim the copy.
        home = self.make_home()
        root = self.make_project()
        agent = os.path.join(root, "app", "Main.py")
        with open(os.path.join(root, "app", "pkg", "model.bin"), "wb") as f:
            f.truncate(51_000_000)  # sparse: the size counts, not the disk
        r = self.install(home, agent=agent)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stdout, "", "nothing may run before the check")
        self.assertIn(f"{root}/app is too big to copy for launchd", r.stderr)
        self.assertIn("the biggest: pkg/ (51.0 MB, 3 files)", r.stderr)
        self.assertIn("--copy DIR", r.stderr)
        self.assertIn(f"--copy '{agent}'", r.stderr)
        # Naming what to copy is the way out.
        self.install_ok(home, "--copy", agent, agent=agent)

    def test_too_many_files(self):
        home = self.make_home()
        root = self.make_project()
        many = os.path.join(root, "app", "cache")
        os.mkdir(many)
        for i in range(5001):
            open(os.path.join(many, str(i)), "w").close()
        r = self.install(home, agent=os.path.join(root, "app", "Main.py"))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("5006 files", r.stderr)
        self.assertIn("the biggest: cache/ (0 bytes, 5001 files)", r.stderr)


class BuildTree(DryRunCase):
    """A plist naming a binary in a CMake build tree breaks with the next clean build, long after
    install: launchd refuses it (unless --allow-build-tree) and shows how to install; systemd
    warns and goes on."""

    def setUp(self) -> None:
        super().setUp()
        self.tree = os.path.dirname(os.path.realpath(BUILT))
        if not os.path.isfile(os.path.join(self.tree, "CMakeCache.txt")):
            self.skipTest(f"{BUILT} is not in a CMake build tree")

    def run_built(self, home: str, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, HOME=home, PYTHONDONTWRITEBYTECODE="1")
        return subprocess.run([BUILT, *args], cwd=SOURCE_DIR, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def test_launchd_refuses(self):
        home = self.make_home()
        r = self.run_built(home, "install", "--target", "launchd", "--dry-run", "--name", NAME, AGENT_ARG)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stdout, "")
        self.assertIn(f"is in a CMake build tree ({self.tree})", r.stderr)
        self.assertIn(f"cmake --install {shlex.quote(self.tree)} --prefix ~/.local", r.stderr)
        self.assertIn(f"~/.local/bin/pylaunchd install --target launchd --dry-run --name {NAME} {AGENT_ARG}", r.stderr)
        self.assertIn("--allow-build-tree", r.stderr)

    def test_launchd_allowed(self):
        home = self.make_home()
        r = self.run_built(home, "install", "--target", "launchd", "--dry-run", "--allow-build-tree",
                           "--name", NAME, AGENT_ARG)
        self.assertEqual(r.returncode, 0, r.stderr)
        plist = plistcheck.parse_both(Output(r.stdout).file(expected_paths(home)["plist"]))
        self.assertEqual(plist["ProgramArguments"][0], os.path.realpath(BUILT))

    def test_systemd_warns(self):
        home = self.make_home()
        r = self.run_built(home, "install", "--target", "systemd", "--dry-run", "--name", NAME, AGENT_ARG)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning:", r.stderr)
        self.assertIn(f"cmake --install {shlex.quote(self.tree)} --prefix ~/.local", r.stderr)
        r = self.run_built(home, "install", "--dry-run", "--allow-build-tree", "--name", NAME, AGENT_ARG)
        self.assertEqual((r.returncode, r.stderr), (0, ""))


class SocketPathLimit(DryRunCase):
    """sockaddr_un.sun_path is 104 bytes on macOS, the NUL included: 103 bytes of path."""

    def assertTooLong(self, r: subprocess.CompletedProcess) -> None:
        self.assertNotEqual(r.returncode, 0, f"accepted:\n{r.stdout}")
        self.assertRegex(r.stderr, r"\b10[34]\b", "the message must name the limit")
        self.assertIn("--listen", r.stderr, "the message must say how to fix it")
        self.assertNotIn("$ launchctl", r.stdout, "nothing may run before the check")

    def test_long_home(self):
        base = self.tmp + "/"
        home = self.make_home("h" * (120 - len(base)))
        self.assertEqual(len(home), 120)
        self.assertTooLong(self.install(home))

    def test_boundary(self):
        home = self.make_home()
        prefix = self.tmp + "/"
        for length, ok in ((103, True), (104, False)):
            with self.subTest(bytes=length):
                path = prefix + "s" * (length - len(prefix))
                r = self.install(home, "--listen", "unix:" + path)
                if ok:
                    self.assertEqual(r.returncode, 0, r.stderr)
                    plist = plistcheck.parse_both(Output(r.stdout).file(expected_paths(home)["plist"]))
                    self.assertEqual(plist["Sockets"]["Listeners"]["SockPathName"], path)
                else:
                    self.assertTooLong(r)

    def test_limit_is_in_bytes(self):
        # 102 characters, one of them two bytes in UTF-8: 103 bytes, the most that fits.
        home = self.make_home()
        prefix = self.tmp + "/\u00e9"
        fits = prefix + "s" * (102 - len(prefix))
        self.assertEqual(len(fits.encode()), 103)
        self.assertEqual(self.install(home, "--listen", "unix:" + fits).returncode, 0)
        self.assertTooLong(self.install(home, "--listen", "unix:" + fits + "s"))


class Uninstall(DryRunCase):
    def test_uninstall(self):
        for home_name in HOMES:
            with self.subTest(home=home_name):
                home = self.make_home(home_name)
                p = expected_paths(home)
                r = self.pylaunchd(home, "uninstall", "--target", "launchd", "--dry-run", "--name", NAME)
                self.assertEqual(r.returncode, 0, r.stderr)
                out = Output(r.stdout)
                commands = out.commands()
                self.assertEqual([argv for _, argv in commands],
                                 [["launchctl", "bootout", f"gui/{UID}/{LABEL}"]])
                plist_at = out.index(f"--- remove {p['plist']}")
                support_at = out.index(f"--- remove {p['support']}")
                self.assertLess(commands[0][0], min(plist_at, support_at), "bootout before removing")


class BadInput(DryRunCase):
    def test_name_with_a_space(self):
        home = self.make_home()
        r = self.pylaunchd(home, "install", "--target", "launchd", "--dry-run", "--name", "rot 13", AGENT_ARG)
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        self.assertIn("--name", r.stderr)
        self.assertIn("rot 13", r.stderr)
        self.assertNotIn("$ launchctl", r.stdout)
        r = self.pylaunchd(home, "uninstall", "--target", "launchd", "--dry-run", "--name", "rot 13")
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        self.assertIn("--name", r.stderr)

    def test_missing_agent(self):
        home = self.make_home()
        missing = os.path.join(self.tmp, "no such dir", "Nope.py")
        r = self.install(home, agent=missing)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(missing, r.stderr)
        self.assertNotIn("$ launchctl", r.stdout)


class HandWrittenPlist(DryRunCase):
    """install.py: "it writes only files that carry its own marker line, so a hand-written unit
    or plist of the same name is never overwritten". The systemd target refuses, in a dry run
    too; the launchd target must as well, and name the file."""

    def setUp(self) -> None:
        super().setUp()
        self.home = os.path.join(self.tmp, "home with spaces")
        self.plist = expected_paths(self.home)["plist"]
        os.makedirs(os.path.dirname(self.plist))
        self.mine = (b'<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict>'
                     b"<key>Label</key><string>local.pylaunchd.rot13</string>"
                     b"<key>Program</key><string>/usr/local/bin/my-own</string></dict></plist>\n")
        with open(self.plist, "wb") as f:
            f.write(self.mine)

    def tearDown(self) -> None:
        with open(self.plist, "rb") as f:
            self.assertEqual(f.read(), self.mine)

    def test_install_refuses(self):
        r = self.install(self.home)
        self.assertNotEqual(r.returncode, 0, f"would overwrite a hand-written plist:\n{r.stdout}")
        self.assertIn(self.plist, r.stderr)

    def test_uninstall_refuses(self):
        r = self.pylaunchd(self.home, "uninstall", "--target", "launchd", "--dry-run", "--name", NAME)
        self.assertNotEqual(r.returncode, 0, f"would remove a hand-written plist:\n{r.stdout}")
        self.assertIn(self.plist, r.stderr)


class SystemdUnaffected(DryRunCase):
    def test_systemd_dry_run(self):
        home = self.make_home()
        for target in ((), ("--target", "systemd")):
            with self.subTest(target=target):
                r = self.pylaunchd(home, "install", *target, "--dry-run", "--name", "x", AGENT_ARG)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("ListenStream=%t/x.sock", r.stdout.splitlines())
                self.assertNotIn("launchctl", r.stdout)
                self.assertNotIn("<plist", r.stdout)


if __name__ == "__main__":
    plistcheck.skips.main()
