#!/usr/bin/env python3
"""Scenario: `pylaunchd install`'s command line, and its refusal to write without a manager.

No service manager is needed: --dry-run prints the units it would write, and every other case
here must end before anything is written. Each launcher option is checked by the launcher's own
C parser (_pylaunchd.check_options), so a bad value is refused with the launcher's message; the
options for running without a manager are refused saying why; an option after the agent's path is
refused showing the right order, while `--` passes the agent's own; an unknown option names the
nearest one; --name's .service suffix is dropped with a note. The units say what they mean: no
SocketMode= on TCP, RemoveOnStop=, the FIFO template, Environment= quoted, no Restart= nor
RestartPreventExitStatus=. Without a user manager (root with no session, the local user
pylaunchd-owner with no runtime directory) install writes nothing and says what to do. The same
scenarios under a real manager are tests/systemd/test_install_options.py and test_manage.py.
"""

import os
import re
import shutil
import subprocess

import harness
from harness import BINARY, EXIT_USAGE, OWNER_USER

SYSTEM_PYTHON = "/usr/bin/python3.11"
AGENT = """
def handle(conn):
    conn.sendall(b"hi\\n")
"""


def unit_text(out: str, path: str) -> str:
    """The text a dry run prints after `--- PATH`, up to the next `--- ` or `$ ` line."""
    lines = out.splitlines()
    try:
        start = lines.index(f"--- {path}") + 1
    except ValueError:
        raise AssertionError(f"no --- {path} in the dry run:\n{out}") from None
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(("--- ", "$ "))), len(lines))
    return "\n".join(lines[start:end]) + "\n"


def values(text: str, key: str) -> list:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


class InstallCli(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.home = self.path("home")
        os.mkdir(self.home)
        self.agent = self.write_agent("Echo.py", AGENT)
        self.unit_dir = os.path.join(self.home, ".config", "systemd", "user")

    def pylaunchd(self, *args, env=None, cwd=None) -> subprocess.CompletedProcess:
        base = {"HOME": self.home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        r = harness.run([BINARY, *args], env=dict(base, **(env or {})), cwd=cwd or self.tmp)
        return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())

    def dry_run(self, *options, agent_args=(), name="echo"):
        r = self.pylaunchd("install", "--dry-run", "--name", name, *options, self.agent, *agent_args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def units(self, out: str, name="echo", service=None) -> tuple:
        return (unit_text(out, os.path.join(self.unit_dir, f"{name}.socket")),
                unit_text(out, os.path.join(self.unit_dir, service or f"{name}.service")))

    def exec_start(self, service: str) -> list:
        (line,) = values(service, "ExecStart")
        return line.split(" ")

    def assertNothingWritten(self, r, what: str) -> None:
        self.assertFalse(os.path.exists(os.path.join(self.home, ".config")),
                         f"{what}: something was written under HOME:\n{r.stdout}\n{r.stderr}")
        self.assertNotIn("$ systemctl", r.stdout, f"{what}: a systemctl command ran")

    def assertRefused(self, r, *words, code=EXIT_USAGE, what="") -> None:
        self.assertEqual(r.returncode, code, f"{what}: status {r.returncode}\n{r.stdout}\n{r.stderr}")
        for w in words:
            self.assertIn(w, r.stderr, what)
        self.assertNothingWritten(r, what)

    # Point 1: every launcher option a service can use, checked by the launcher's parser.

    def test_launcher_options_are_passed_on_in_order(self):
        venv = self.path("venv")
        r = harness.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", venv], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.dry_run("--workers", "2", "--allow-uid", "0", "--allow-gid", "0", "-c", "5", "--backlog", "9",
                         "--min-uptime", "1", "--stop-timeout", "3", "--no-strict-modes", "--site", "--venv", "venv",
                         "-u", "-W", "error", "--dev", "--faulthandler", "--import-time", "-v")
        _, service = self.units(r.stdout)
        words = self.exec_start(service)
        self.assertEqual(words[1:3], ["--idle-timeout", "30"])
        self.assertEqual(words[3:-1], [
            "--workers", "2", "--allow-uid", "0", "--allow-gid", "0", "--max-connections", "5", "--backlog", "9",
            "--min-uptime", "1", "--stop-timeout", "3", "--no-strict-modes", "--site", "--venv", venv,
            "--unbuffered", "--warnings", "error", "--dev", "--faulthandler", "--import-time", "--verbose"])
        self.assertEqual(words[-1], os.path.realpath(self.agent))

    def test_bad_values_get_the_launchers_own_message(self):
        for option, value, words in (("--workers", "99", "--workers '99' must be a whole number from 1 to 64"),
                                     ("-c", "0", "--max-connections '0' must be a whole number from 1 to 4096"),
                                     ("--allow-uid", "bob", "--allow-uid 'bob' must be a numeric uid"),
                                     ("--stop-timeout", "soon", "--stop-timeout 'soon' must be a number"),
                                     ("--idle-timeout", "1x", "--idle-timeout '1x'")):
            with self.subTest(option=option):
                r = self.pylaunchd("install", "--name", "echo", option, value, self.agent)
                self.assertRefused(r, words, what=f"{option} {value}")

    def test_venv_becomes_absolute_and_must_be_a_venv(self):
        venv = self.path("venv")
        self.assertEqual(harness.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", venv], timeout=60).returncode, 0)
        r = self.pylaunchd("install", "--dry-run", "--name", "echo", "--venv", "venv", self.agent, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        words = self.exec_start(self.units(r.stdout)[1])
        self.assertEqual(words[words.index("--venv") + 1], venv)
        r = self.pylaunchd("install", "--name", "echo", "--venv", self.home, self.agent)
        self.assertRefused(r, f"--venv {self.home} is not a virtualenv", "-m venv", code=1)
        with open(os.path.join(venv, "pyvenv.cfg")) as f:
            cfg = re.sub(r"^version\s*=.*\n", "", f.read(), flags=re.M) + "version = 3.7.1\n"
        with open(os.path.join(venv, "pyvenv.cfg"), "w") as f:
            f.write(cfg)
        r = self.pylaunchd("install", "--name", "echo", "--venv", venv, self.agent)
        self.assertRefused(r, "made by Python 3.7", code=1)

    def test_daemon_only_options_are_refused_saying_why(self):
        for option, value, why in (("--daemon", None, "the service manager starts and tracks the process"),
                                   ("--pidfile", "/tmp/x.pid", "tracks the process itself"),
                                   ("--log", "/tmp/x.log", "use --log-file FILE"),
                                   ("--user", "nobody", "runs as the user who installs it"),
                                   ("--chdir", "/", "WorkingDirectory="),
                                   ("--umask", "022", "UMask=0077"),
                                   ("--keep-fd", "5", "passes the sockets"),
                                   ("--core-dumps", None, "LimitCORE="),
                                   ("--group", "x", "groups")):
            with self.subTest(option=option):
                r = self.pylaunchd("install", "--name", "echo", option, *([value] if value else []), self.agent)
                self.assertRefused(r, f"{option} is for running without a service manager", why, what=option)

    def test_env_is_quoted_for_systemd(self):
        r = self.dry_run("--env", "GREETING=two words \"q\" $HOME 100% back\\slash", "--env", "EMPTY=")
        _, service = self.units(r.stdout)
        self.assertEqual(values(service, "Environment"),
                         ['"GREETING=two words \\"q\\" $HOME 100%% back\\\\slash"', '"EMPTY="'])
        for bad in ("NOEQUALS", "1X=y", "A-B=c", "=x"):
            with self.subTest(env=bad):
                self.assertRefused(self.pylaunchd("install", "--name", "echo", "--env", bad, self.agent),
                                   "--env", "KEY=VALUE")
        r = self.pylaunchd("install", "--name", "echo", "--env", "A=line\nbreak", self.agent)
        self.assertRefused(r, "control characters", code=1)
        r = self.dry_run("--env", "PYTHONUNBUFFERED=1")
        self.assertIn("ignores PYTHON* variables", r.stderr)

    def test_log_file_is_absolute(self):
        r = self.pylaunchd("install", "--dry-run", "--name", "echo", "--log-file", "logs/echo.log", self.agent,
                           cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, service = self.units(r.stdout)
        log = self.path("logs/echo.log")
        self.assertEqual(values(service, "StandardOutput"), [f"append:{log}"])
        self.assertEqual(values(service, "StandardError"), [f"append:{log}"])
        self.assertFalse(os.path.exists(self.path("logs")), "--dry-run made the log's directory")

    # Point 1: the order of options and the agent's arguments.

    def test_install_option_after_the_agent_is_refused_showing_the_order(self):
        r = self.pylaunchd("install", "--name", "x", self.agent, "--dry-run")
        self.assertRefused(r, "'--dry-run' comes after the agent's path",
                           f"pylaunchd install --name x --dry-run {self.agent}\n")
        r = self.pylaunchd("install", "--name", "x", self.agent, "one", "--workers", "2", "two")
        self.assertRefused(r, f"pylaunchd install --name x --workers 2 {self.agent} one two\n")

    def test_agent_options_go_after_double_dash(self):
        r = self.pylaunchd("install", "--name", "x", self.agent, "--loud", "y")
        self.assertRefused(r, "arguments for the agent that begin with '-' go after '--'",
                           f"pylaunchd install --name x {self.agent} -- --loud y\n")
        # An option both could mean: the message shows both orders.
        r = self.pylaunchd("install", "--name", "x", self.agent, "--verbose", "y")
        self.assertRefused(r, f"pylaunchd install --name x --verbose {self.agent} y\n",
                           f"pylaunchd install --name x {self.agent} -- --verbose y\n")
        r = self.dry_run(agent_args=("plain", "--", "--verbose", "two words", "-c", "--"))
        words = self.units(r.stdout)[1]
        (line,) = values(words, "ExecStart")
        self.assertTrue(line.endswith(f'{os.path.realpath(self.agent)} plain --verbose "two words" -c --'), line)
        self.assertNotIn("--max-connections", line)
        # `--` before the agent: the next word is the agent, the rest its arguments.
        r = self.pylaunchd("install", "--dry-run", "--name", "echo", "--", self.agent, "--x")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(values(self.units(r.stdout)[1], "ExecStart")[0].endswith(" --x"))

    def test_unknown_option_names_the_nearest(self):
        for typo, near in (("--wrkers", "--workers"), ("--dryrun", "--dry-run"), ("--max-conections", "--max-connections"),
                           ("--log-flie", "--log-file"), ("--venf", "--venv")):
            with self.subTest(typo=typo):
                r = self.pylaunchd("install", "--name", "x", typo, "2", self.agent)
                self.assertRefused(r, f"unknown option '{typo}'; did you mean {near}?")
        for verb, typo, near in (("list", "--verbos", "--verbose"), ("logs", "--folow", "--follow"),
                                 ("uninstall", "--dry-rn", "--dry-run")):
            with self.subTest(verb=verb):
                r = self.pylaunchd(verb, *(["x"] if verb != "list" else []), typo)
                self.assertEqual(r.returncode, EXIT_USAGE, r.stderr)
                self.assertIn(f"did you mean {near}?", r.stderr)

    def test_name_suffix_is_dropped_and_a_bad_name_refused(self):
        r = self.dry_run(name="echo.service")
        self.assertIn("note: --name echo.service: using echo", r.stderr)
        self.units(r.stdout)  # echo.socket and echo.service
        self.assertNotIn("echo.service.socket", r.stdout)
        r = self.dry_run(name="echo.socket")
        self.assertIn("using echo", r.stderr)
        for bad in ("x@.service", "../x", "-x", ".service", "a b"):
            with self.subTest(name=bad):
                self.assertRefused(self.pylaunchd("install", "--name", bad, self.agent), "--name")

    # Point 7: the units.

    def test_units_say_what_they_mean(self):
        socket, service = self.units(self.dry_run().stdout)
        self.assertEqual(values(socket, "SocketMode"), ["0600"])
        self.assertEqual(values(socket, "RemoveOnStop"), ["yes"])
        self.assertEqual(values(service, "Restart"), [])
        self.assertEqual(values(service, "RestartPreventExitStatus"), [])
        self.assertNotIn("\n\n\n", socket + service, "an empty placeholder left blank lines")

        out = self.dry_run("--listen", "tcp:127.0.0.1:7013").stdout
        socket, _ = self.units(out)
        self.assertEqual(values(socket, "ListenStream"), ["127.0.0.1:7013"])
        self.assertEqual(values(socket, "SocketMode"), [], "a TCP socket has no file mode")
        socket, _ = self.units(self.dry_run("--listen", "tcp:[::1]:7013", "--accept").stdout, service="echo@.service")
        self.assertEqual(values(socket, "ListenStream"), ["[::1]:7013"])
        self.assertEqual(values(socket, "SocketMode"), [])
        self.assertEqual(values(socket, "RemoveOnStop"), ["yes"])

        fifo = self.path("ctl")
        socket, service = self.units(self.dry_run("--listen", f"fifo:{fifo}").stdout)
        self.assertEqual(values(socket, "ListenFIFO"), [fifo])
        self.assertEqual(values(socket, "RemoveOnStop"), ["yes"])
        self.assertEqual(values(service, "Type"), ["notify"])

    def test_addresses_systemd_would_refuse_are_refused_first(self):
        for address, words in (("tcp:localhost:7013", "systemd listens on an IP address, not a name"),
                               ("tcp:::1:7013", "--listen"), ("tcp:127.0.0.1:0", "port from 1 to 65535"),
                               ("unix:rel.sock", "must be absolute"), ("fifo:rel", "must be absolute"),
                               ("unix:/" + "x" * 120, "107 bytes at most"), ("udp:127.0.0.1:1", "use unix:PATH")):
            with self.subTest(address=address):
                r = self.pylaunchd("install", "--name", "echo", "--listen", address, self.agent)
                self.assertRefused(r, words, code=1, what=address)
        r = self.pylaunchd("install", "--name", "echo", "--accept", "--listen", f"fifo:{self.path('f')}", self.agent)
        self.assertRefused(r, "a FIFO has no connections", code=1)
        r = self.pylaunchd("install", "--name", "echo", "-s", "Web", self.agent)
        self.assertRefused(r, "--socket-name names a launchd Sockets key")

    # Point 2: no manager, nothing written.

    def assertNoManagerNothingWritten(self, r, unit_dir: str, user: str) -> None:
        self.assertEqual(r.returncode, 1, f"{r.stdout}\n{r.stderr}")
        self.assertIn(f"no systemd user manager answers for {user}", r.stderr)
        self.assertIn("so nothing was written", r.stderr)
        self.assertIn("loginctl enable-linger", r.stderr)
        self.assertIn("--dry-run", r.stderr)
        self.assertNotIn("Failed to connect to bus", r.stdout + r.stderr)
        self.assertNotIn("$ systemctl", r.stdout)
        self.assertFalse(os.path.exists(unit_dir), f"{unit_dir} was made")

    def test_root_without_a_manager_writes_nothing(self):
        probe = subprocess.run(["systemctl", "--user", "is-system-running"], capture_output=True, text=True,
                               env={"HOME": self.home, "PATH": "/usr/bin:/bin"})
        if os.geteuid() != 0 or probe.stdout.strip() in ("running", "degraded") or os.path.isdir("/run/user/0"):
            self.skipTest("needs root without a user manager of its own (no /run/user/0)")
        r = self.pylaunchd("install", "--name", "echo", self.agent)
        self.assertNoManagerNothingWritten(r, self.unit_dir, "root")
        self.assertIn("you are root", r.stderr)
        for verb in ("list", "status", "restart"):
            with self.subTest(verb=verb):
                r = self.pylaunchd(verb, *(["echo"] if verb != "list" else []))
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("no systemd user manager answers", r.stderr)

    def test_user_without_a_session_writes_nothing(self):
        owner = harness.local_user(OWNER_USER)
        if os.path.isdir(f"/run/user/{owner.pw_uid}"):
            self.skipTest(f"{OWNER_USER} has a runtime directory: a manager may run for it")
        work = self.path("owner")
        os.mkdir(work, 0o700)
        os.chown(work, owner.pw_uid, owner.pw_gid)
        agent = os.path.join(work, "Echo.py")
        shutil.copy(self.agent, agent)
        os.chown(agent, owner.pw_uid, owner.pw_gid)
        os.chmod(self.tmp, 0o755)
        home = os.path.join(work, "home")  # HOME as su leaves it for a user without a session
        os.mkdir(home)
        os.chown(home, owner.pw_uid, owner.pw_gid)
        env = {"HOME": home, "USER": OWNER_USER, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        r = harness.run(harness.as_user(OWNER_USER) + [BINARY, "install", "--name", "echo", agent], env=env, cwd=work)
        r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())
        self.assertNoManagerNothingWritten(r, os.path.join(home, ".config", "systemd", "user"), OWNER_USER)
        # Which check fails first depends on whether a test user manager runs beside this test
        # (it makes /run/systemd/system): either way the message names what is missing.
        self.assertTrue(f"/run/user/{owner.pw_uid} does not exist" in r.stderr or
                        "not booted with systemd" in r.stderr, f"what is missing: {r.stderr}")
        self.assertIn(f"loginctl enable-linger {OWNER_USER}", r.stderr)


if __name__ == "__main__":
    harness.main()
