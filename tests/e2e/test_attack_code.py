#!/usr/bin/env python3
"""Scenario: another local user cannot make the agent run their code, speak for the service, or
flood its log.

Two real local users from the ctest fixture local_users (tests/users.py): pylaunchd-owner runs
the agent, pylaunchd-other is the attacker. The attacker plants, in a directory others can write
(a root-owned sticky one, as /tmp), what Python would import in place of the agent or of a
module it imports: a package named like the agent (Agent/__init__.py), a standard module's name
(json.py), a .pyc in __pycache__ made to match the agent's source. Each must be refused or
ignored; before this, each ran as the owner (and json.py as root under --daemon).

Also: NOTIFY_SOCKET never reaches the agent or its subprocesses (they could tell systemd
READY=1 or STOPPING=1 in the service's name), while the launcher still notifies; and a flood of
refused connections is logged with a count, not a line each.
"""

import marshal
import os
import re
import signal
import socket
import struct

import harness
from harness import EXIT_OK

EXIT_AGENT_UNSAFE = 77
#: launcher/log.h.
LOG_RATELIMIT_BURST = 10

#: What the attacker plants: answers "EVIL" and leaves a mark, whoever imports it.
EVIL = """
import os
open(os.environ.get("PWNED_MARK", "/nonexistent/x"), "w").write("pwned by uid %d" % os.getuid())
def handle(conn):
    conn.sendall(b"EVIL\\n")
"""

#: An agent that imports a standard module (json) before it answers, and says who ran it.
JSON_AGENT = """
import json, os

def handle(conn):
    conn.recv(64)
    conn.sendall(json.dumps({"uid": os.getuid(), "json": json.__file__}).encode() + b"\\n")
"""


def rot13_source() -> str:
    with open(harness.ROT13_AGENT, encoding="utf-8") as f:
        return f.read()


def pyc_for(source_path: str, evil_source: str) -> bytes:
    """A .pyc of evil_source whose header matches source_path's mtime and size: what Python's
    loader checks before it trusts a cached file over the source."""
    st = os.stat(source_path)
    code = compile(evil_source, source_path, "exec")
    import importlib.util
    return importlib.util.MAGIC_NUMBER + struct.pack("<III", 0, int(st.st_mtime) & 0xFFFFFFFF,
                                                     st.st_size & 0xFFFFFFFF) + marshal.dumps(code)


class Users(harness.E2ETestCase):
    """Helpers for running things as the owner and as the attacker."""

    def setUp(self):
        super().setUp()
        self.owner = harness.local_user(harness.OWNER_USER)
        self.other = harness.local_user(harness.OTHER_USER)
        os.chmod(self.tmp, 0o755)
        # Where planted code leaves its mark, whoever it runs as.
        marks = self.path("marks")
        os.mkdir(marks)
        os.chmod(marks, 0o1777)
        self.mark = os.path.join(marks, "pwned")
        # The attacker's workplace: root's and sticky, writable by everyone, as /tmp.
        self.shared = self.path("shared")
        os.mkdir(self.shared)
        os.chmod(self.shared, 0o1777)
        # The owner's own directory, for sockets and the logs the owner writes.
        self.home = self.path("owner")
        os.mkdir(self.home, 0o700)
        os.chown(self.home, self.owner.pw_uid, self.owner.pw_gid)

    def as_other(self, argv):
        r = harness.run([*harness.as_user(harness.OTHER_USER), *argv], cwd="/")
        self.assertEqual(r.returncode, 0, f"the attacker's {argv[:3]} failed: {r.stderr.decode(errors='replace')}")

    def plant(self, rel: str, text, mode: int = 0o644) -> None:
        """As the attacker: write text (str or bytes) at shared/REL, making directories."""
        data = text.encode() if isinstance(text, str) else text
        script = ("import os, sys\np = sys.argv[1]\nos.makedirs(os.path.dirname(p), exist_ok=True)\n"
                  "open(p, 'wb').write(sys.stdin.buffer.read())\nos.chmod(p, int(sys.argv[2], 8))\n")
        r = harness.run([*harness.as_user(harness.OTHER_USER), harness.system_python(), "-I", "-c", script,
                         os.path.join(self.shared, rel), oct(mode)[2:]], input=data, cwd="/")
        self.assertEqual(r.returncode, 0, f"planting {rel}: {r.stderr.decode(errors='replace')}")

    def owner_file(self, path: str, text: str) -> str:
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(path, 0o644)
        return path

    def launch_as_owner(self, agent: str, options=(), env=None) -> tuple:
        """pylaunchd as the owner; --allow-uid 0 lets this test (root) be its client."""
        addr = harness.Address.unix(os.path.join(self.home, "agent.sock"))
        env = harness.clean_env({"PWNED_MARK": self.mark, **(env or {})})
        proc = self.start([*harness.as_user(harness.OWNER_USER), harness.BINARY, "--allow-uid", "0", *options,
                           "--listen", addr.listen_arg(), agent], name="pylaunchd", env=env, cwd="/")
        return proc, addr

    def assertNotPwned(self, what: str) -> None:
        if os.path.exists(self.mark):
            with open(self.mark) as f:
                self.fail(f"{what}: the attacker's code ran ({f.read()})")


class PlantedCode(Users):
    def test_package_beside_the_agent_in_a_shared_dir(self):
        agent = self.owner_file(os.path.join(self.shared, "Agent.py"), rot13_source())
        self.plant("Agent/__init__.py", EVIL)
        proc, addr = self.launch_as_owner(agent)
        self.assertExitStatus(proc, EXIT_AGENT_UNSAFE, "an agent in a directory others can create files in")
        self.assertInStderr([f"refusing agent {agent}", self.shared, "others can create files", "mkdir -m 700",
                             "--no-strict-modes"], proc.stderr(), "the refusal names the directory and the fix")
        self.assertNotPwned("refused agent")

    def test_stdlib_name_beside_the_agent_as_root(self):
        # Root's --daemon: a planted json.py must not run as uid 0.
        agent = os.path.join(self.shared, "JsonAgent.py")
        with open(agent, "w") as f:
            f.write(JSON_AGENT)
        self.plant("json.py", EVIL)
        addr = harness.Address.unix(self.path("root.sock"))
        r = harness.run([harness.BINARY, "--daemon", "--pidfile", self.path("root.pid"), "--listen",
                         addr.listen_arg(), agent], env=harness.clean_env({"PWNED_MARK": self.mark}))
        if r.returncode == 0:  # it started: stop it, then fail below
            with open(self.path("root.pid")) as f:
                self.addCleanup(os.kill, int(f.read()), signal.SIGTERM)
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, EXIT_AGENT_UNSAFE, f"root refuses an agent in a shared directory:\n{err}")
        self.assertInStderr(["others can create files", self.shared], err, "the refusal")
        self.assertNotPwned("root's daemon")

    def test_no_strict_modes_still_loads_the_agents_own_file(self):
        # The owner opts out of StrictModes: the directory is used, but the agent is its own file
        # (never a package found by name), and no .pyc there is read or written.
        agent = self.owner_file(os.path.join(self.shared, "Agent.py"), rot13_source())
        self.plant("Agent/__init__.py", EVIL)
        self.plant("__pycache__/Agent.cpython-311.pyc", pyc_for(agent, EVIL))
        proc, addr = self.launch_as_owner(agent, options=["--no-strict-modes"])
        harness.wait_for_socket(addr, proc=proc)
        self.assertServesRot13(addr, "the agent's own file, not the planted package or .pyc")
        self.assertNotPwned("--no-strict-modes")
        cached = sorted(os.listdir(os.path.join(self.shared, "__pycache__")))
        self.assertEqual(cached, ["Agent.cpython-311.pyc"], "nothing written into the shared __pycache__")

    def test_venv_others_can_write_refused(self):
        venv = self.path("venv")
        os.makedirs(os.path.join(venv, "bin"))
        os.makedirs(os.path.join(venv, "lib", "python3.11", "site-packages"))
        with open(os.path.join(venv, "pyvenv.cfg"), "w") as f:
            f.write("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n")
        os.symlink("/usr/bin/python3.11", os.path.join(venv, "bin", "python3"))
        site = os.path.join(venv, "lib", "python3.11", "site-packages")
        os.chown(site, self.other.pw_uid, self.other.pw_gid)  # the attacker's directory
        agent = self.owner_file(os.path.join(self.home, "Agent.py"), rot13_source())
        proc, addr = self.launch_as_owner(agent, options=["--venv", venv])
        self.assertExitStatus(proc, EXIT_AGENT_UNSAFE, "a venv whose site-packages another user owns")
        self.assertInStderr([site, "is on sys.path", f"belongs to uid {self.other.pw_uid}"], proc.stderr(),
                            "the refusal names the directory")

    def test_owners_own_directory_serves_with_neighbours(self):
        # The control row: the agent in the owner's own directory imports its neighbour.
        self.owner_file(os.path.join(self.home, "helper.py"), "def shout(b):\n    return b.upper()\n")
        agent = self.owner_file(os.path.join(self.home, "Shout.py"),
                                "import helper\ndef handle(conn):\n    conn.sendall(helper.shout(conn.recv(64)))\n")
        proc, addr = self.launch_as_owner(agent)
        harness.wait_for_socket(addr, proc=proc)
        s = addr.connect()
        with s:
            s.sendall(b"hi")
            self.assertEqual(s.recv(64), b"HI")
        self.assertNotIn("refusing", proc.stderr())

    def test_site_packages_of_the_system_accepted(self):
        agent = self.owner_file(os.path.join(self.home, "Agent.py"), rot13_source())
        proc, addr = self.launch_as_owner(agent, options=["--site"])
        harness.wait_for_socket(addr, proc=proc)
        self.assertServesRot13(addr, "--site with root's site-packages")


#: Reports what the agent and a subprocess of it see of the notify protocol.
ENV_AGENT = """
import json, os, subprocess, sys
import pylaunchd

def handle(conn):
    child = subprocess.run([sys.executable, "-I", "-c", "import os; print(os.environ.get('NOTIFY_SOCKET'))"],
                           capture_output=True, text=True).stdout.strip()
    conn.sendall(json.dumps({"agent": os.environ.get("NOTIFY_SOCKET"), "subprocess": child,
                             "notify": pylaunchd.notify(STATUS="from the agent")}).encode() + b"\\n")
"""


class NotifySocket(harness.E2ETestCase):
    def test_notify_socket_reaches_neither_the_agent_nor_its_children(self):
        notify_path = self.path("notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        ns.bind(notify_path)
        ns.settimeout(harness.DEADLINE)
        agent = self.write_agent("env_agent.py", ENV_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], env=harness.clean_env({"NOTIFY_SOCKET": notify_path}))
        got = []
        while not any(m.startswith("READY=1") for m in got):
            got.append(ns.recv(4096).decode())
        d = harness.fetch_json(addr)
        self.assertEqual((d["agent"], d["subprocess"]), (None, "None"),
                         "NOTIFY_SOCKET is unset before Python starts: the agent and its subprocesses never see it")
        self.assertTrue(d["notify"], "pylaunchd.notify() still reaches the manager, through the launcher")
        while "STATUS=from the agent" not in got:
            got.append(ns.recv(4096).decode())
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "stop")


class LogFlood(Users):
    def test_refused_connections_counted_not_logged_each(self):
        agent = self.write_agent("quiet.py", "def handle(conn):\n    conn.sendall(b'hi')\n")
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr])
        os.chmod(addr.path, 0o666)
        n = 300
        flood = ("import socket, sys\nfor _ in range(int(sys.argv[2])):\n"
                 "    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1); s.close()\n")
        r = harness.run([*harness.as_user(harness.OTHER_USER), harness.system_python(), "-I", "-c", flood,
                         addr.path, str(n)], cwd="/", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "stop")
        err = server.stderr()
        shown = err.count("refused a connection")
        counts = [int(m) for m in re.findall(r"(\d+) similar message\(s\) suppressed[^\n]*refused a connection", err)]
        self.assertLessEqual(shown, LOG_RATELIMIT_BURST + len(counts),
                             f"{n} refused connections: a few lines, not one each:\n{err[:3000]}")
        self.assertTrue(counts, f"the rest are counted:\n{err[-3000:]}")
        self.assertEqual(shown - len(counts) + sum(counts), n, f"every refusal shown or counted:\n{err[-3000:]}")


if __name__ == "__main__":
    harness.main()
