#!/usr/bin/env python3
"""Scenario: another local user cannot make pylaunchd write, truncate, hand over or listen on a
path they planted.

Two real local users from the ctest fixture local_users (tests/users.py): pylaunchd-owner runs
the agent (as itself, or as root's --daemon --user), pylaunchd-other is the attacker. The
attacker works in the shared directories this test makes: a root-owned sticky one (as /tmp) and
a non-sticky one everyone can write. Each row plants something there, starts pylaunchd, and
checks both the refusal (exit 77, a message naming the path, what is wrong and the fix) and
that the planted thing was not used: the file a link points to keeps its content, owner and
mode; a command written into a planted FIFO never reaches the agent; another user's socket file
stays. The positive rows (root's own directory, the owner's own directory, root's sticky
directory for a socket) still serve.

Before launcher/safefile.c, every refusal row here ran: root truncated and chowned the file a
link pointed to, appended its log to another, removed another user's socket, and served a FIFO
another user could write (launcher/activation_listen.c, daemon.c).
"""

import os
import signal
import stat
import struct
import time

import harness
from harness import DEADLINE, EXIT_OK

EXIT_AGENT_UNSAFE = 77  # launcher/exitcode.h
SECRET = b"root's secret, 0600\n"

#: Like agent/Agent.py, and prints on stdout at import, so a --log it was given gets a line.
PRINTING_AGENT = """
print("agent imported", flush=True)

def handle(conn):
    data = b""
    while not data.endswith(b"\\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    conn.sendall(data.translate(bytes.maketrans(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")))
"""

#: The attacker's writer: opens the FIFO for writing (retrying while nobody reads it), writes a
#: command, and exits. Killed at cleanup when pylaunchd (rightly) never opened it.
FIFO_WRITER = """
import os, sys, time
while True:
    try:
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
        break
    except OSError:
        time.sleep(0.02)
os.write(fd, b"pwned by the other user\\n")
"""

#: Binds a unix socket at argv[1] and exits: a socket file nobody serves, the attacker's.
STALE_SOCKET = """
import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(sys.argv[1])
"""

def stop_daemon(pid: int) -> int:
    """SIGTERM, then SIGKILL; reaped either way. Returns the exit status."""
    for signo in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, signo)
        except ProcessLookupError:
            pass
        end = time.monotonic() + DEADLINE / 2
        while time.monotonic() < end:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return -1
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
    return -1


def read(path: str) -> bytes:
    """path's content; b"" when it does not exist (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def acl_value(entries) -> bytes:
    """system.posix_acl_access: version 2, then (tag, perm, id) little-endian (launcher/acl.h)."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in entries)


def acl_letting_write(uid: int) -> bytes:
    """u::rw-, u:UID:-w-, g::---, m::-w-, o::---: the mode bits still read 0620."""
    none = 0xFFFFFFFF
    return acl_value([(0x01, 6, none), (0x02, 2, uid), (0x04, 0, none), (0x10, 2, none), (0x20, 0, none)])


class AttackPaths(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.owner = harness.local_user(harness.OWNER_USER)
        self.other = harness.local_user(harness.OTHER_USER)
        os.chmod(self.tmp, 0o755)
        # The attacker's workplaces: root's sticky one (as /tmp), and one everyone can write.
        self.sticky = self.mkdir("sticky", 0o1777)
        self.open = self.mkdir("open", 0o777)
        # Root's own directory (/run/NAME as the init script makes it), and a root-only one.
        self.run_dir = self.mkdir("run", 0o755)
        self.private = self.mkdir("private", 0o700)
        # The owner's: a private one, and a searchable one (rc.d's /var/run/NAME, owned by the user).
        self.home = self.mkdir("owner", 0o700, self.owner)
        self.pub = self.mkdir("owner-pub", 0o755, self.owner)

    def mkdir(self, name: str, mode: int, user=None) -> str:
        p = self.path(name)
        os.mkdir(p)
        os.chmod(p, mode)
        if user:
            os.chown(p, user.pw_uid, user.pw_gid)
        return p

    # --- what the attacker (or the owner) does by hand ---------------------------------------------

    def as_user(self, name: str, argv) -> None:
        r = harness.run([*harness.as_user(name), *argv], cwd="/")
        self.assertEqual(r.returncode, 0, f"{name}: {argv} failed: {r.stderr.decode(errors='replace')}")

    def as_other(self, *argv) -> None:
        self.as_user(harness.OTHER_USER, argv)

    def python_as(self, name: str, script: str, *args) -> None:
        self.as_user(name, [harness.system_python(), "-I", "-c", script, *args])

    def secret(self, name: str = "secret") -> str:
        """A root-only file (0600) in root's private directory: what a planted link points to."""
        p = os.path.join(self.private, name)
        with open(p, "wb") as f:
            f.write(SECRET)
        os.chmod(p, 0o600)
        return p

    def shared_rw(self) -> str:
        """A root file everyone may write (0666) where everyone can reach it: protected_hardlinks
        lets any user hard-link that one."""
        p = self.path("shared-rw")
        with open(p, "wb") as f:
            f.write(SECRET)
        os.chmod(p, 0o666)
        return p

    def assertUntouched(self, path: str, what: str, content: bytes = SECRET, mode: int = 0o600) -> None:
        st = os.stat(path)
        self.assertEqual((read(path), st.st_uid, stat.S_IMODE(st.st_mode)), (content, 0, mode),
                         f"{what}: {path} must keep its content, owner (root) and mode")

    # --- pylaunchd: as root with --daemon --user, and as the owner --------------------------------

    def daemon(self, options, agent: str = ""):
        """pylaunchd --daemon --user OWNER OPTIONS AGENT, as root, to completion; a daemon that
        started (it should not, in a refusal row) is stopped at cleanup."""
        before = harness.pylaunchd_children()
        r = harness.run([harness.BINARY, "--daemon", "--user", harness.OWNER_USER, "--allow-uid", "0", *options,
                         agent or harness.ROT13_AGENT], cwd="/")
        for pid in sorted(harness.pylaunchd_children() - before):
            self.addCleanup(stop_daemon, pid)
        r.err = r.stderr.decode("utf-8", "replace")
        return r

    def assertRefused(self, r, words, what: str) -> None:
        self.assertEqual(r.returncode, EXIT_AGENT_UNSAFE, f"{what}: exit status {r.returncode}, want 77; stderr:\n"
                                                          f"{r.err}")
        self.assertInStderr(words, r.err, what)

    def as_owner(self, *argv, env=None) -> harness.Launched:
        """pylaunchd as the owner; --allow-uid 0 lets this test (root) be its client."""
        return self.start([*harness.as_user(harness.OWNER_USER), harness.BINARY, "--allow-uid", "0", *argv],
                          name="pylaunchd", cwd="/", env=env)

    def control_agent(self, fifo: str, log: str) -> harness.Launched:
        return self.as_owner("--listen", f"fifo:{fifo}", os.path.join(harness.AGENT_DIR, "Control.py"), log)

    def assertExitsUnsafe(self, proc: harness.Launched, served: str, what: str) -> None:
        """proc must exit 77; fails at once (not after a timeout) when it serves served instead."""
        harness.wait_for(lambda: proc.poll() is not None or os.path.exists(served), f"{what}: pylaunchd to refuse")
        if proc.poll() is None and os.path.exists(served):
            time.sleep(0.2)  # the refusal may come right after the bind
        if proc.poll() is None:
            self.fail(f"{what}: pylaunchd serves {served}; stderr:\n{proc.stderr()}")
        self.assertExitStatus(proc, EXIT_AGENT_UNSAFE, what)

    def assertFifoRefused(self, fifo: str, words, what: str) -> None:
        """The owner's Control agent on fifo: while the attacker writes a command into it: it
        must exit 77 before anything reaches the agent."""
        log = os.path.join(self.home, "commands.log")
        proc = self.control_agent(fifo, log)
        self.start([*harness.as_user(harness.OTHER_USER), harness.system_python(), "-I", "-c", FIFO_WRITER, fifo],
                   name="attacker", cwd="/")
        harness.wait_for(lambda: proc.poll() is not None or os.path.exists(log),
                         "pylaunchd to refuse the FIFO (or the attacker's command to reach the agent)")
        if proc.poll() is None:
            self.fail(f"{what}: pylaunchd serves the FIFO and the attacker's command reached the agent: "
                      f"{read(log)!r}; stderr:\n{proc.stderr()}")
        self.assertExitStatus(proc, EXIT_AGENT_UNSAFE, what)
        self.assertInStderr([f"refusing --listen fifo:{fifo}", *words], proc.stderr(), what)
        self.assertFalse(os.path.exists(log), f"{what}: nothing reached the agent")

    # --- the pidfile and --log, opened as root ----------------------------------------------------

    def test_symlinked_pidfile_to_a_root_only_file(self):
        target = self.secret()
        pidfile = os.path.join(self.sticky, "agent.pid")
        self.as_other("ln", "-s", target, pidfile)
        r = self.daemon(["--pidfile", pidfile, "--listen", f"unix:{self.path('run/a.sock')}"])
        self.assertRefused(r, [f"refusing --pidfile {pidfile}", f"{self.sticky} is writable by everyone (mode 1777)",
                               "/run/NAME/"], "a pidfile in a sticky directory, linked by the attacker")
        self.assertUntouched(target, "the link's target")

    def test_symlinked_pidfile_in_the_users_own_directory(self):
        # rc.d makes /var/run/NAME the user's: that user may not use root to take a root file.
        target = self.secret()
        pidfile = os.path.join(self.pub, "agent.pid")
        self.as_user(harness.OWNER_USER, ["ln", "-s", target, pidfile])
        r = self.daemon(["--pidfile", pidfile, "--listen", f"unix:{self.path('run/a.sock')}"])
        self.assertRefused(r, [f"refusing --pidfile {pidfile}", "is a symbolic link", "remove it"],
                           "a link planted by the --user in its own run directory")
        self.assertUntouched(target, "the link's target")

    def test_hard_linked_pidfile(self):
        # A root file the user may write (protected_hardlinks lets it link that one) is still
        # root's: the daemon must not truncate it and give it to the user.
        target = self.shared_rw()
        pidfile = os.path.join(self.pub, "agent.pid")
        self.as_user(harness.OWNER_USER, ["ln", target, pidfile])
        r = self.daemon(["--pidfile", pidfile, "--listen", f"unix:{self.path('run/a.sock')}"])
        self.assertRefused(r, [f"refusing --pidfile {pidfile}", "has 2 hard links"], "a hard-linked pidfile")
        self.assertUntouched(target, "the hard link's other name", mode=0o666)

    def test_hard_link_by_the_attacker_in_a_sticky_directory(self):
        target = self.shared_rw()
        pidfile = os.path.join(self.sticky, "agent.pid")
        self.as_other("ln", target, pidfile)
        r = self.daemon(["--pidfile", pidfile, "--listen", f"unix:{self.path('run/a.sock')}"])
        self.assertRefused(r, [f"refusing --pidfile {pidfile}", self.sticky], "the attacker's hard link")
        self.assertUntouched(target, "the hard link's other name", mode=0o666)

    def test_pidfile_in_a_directory_others_can_write(self):
        for d in (self.open, self.sticky):
            with self.subTest(directory=d):
                pidfile = os.path.join(d, "agent.pid")
                r = self.daemon(["--pidfile", pidfile, "--listen", f"unix:{self.path('run/a.sock')}"])
                self.assertRefused(r, [f"refusing --pidfile {pidfile}", f"{d} is writable by everyone",
                                       "use /run/NAME/ or another directory only you"], "nothing planted yet")
                self.assertFalse(os.path.exists(pidfile), "no pidfile made there")

    def test_symlinked_log_to_another_file(self):
        agent = self.root_agent(PRINTING_AGENT)
        target = self.secret("victim.log")
        log = os.path.join(self.sticky, "agent.log")
        self.as_other("ln", "-s", target, log)
        r = self.daemon(["--pidfile", self.path("run/agent.pid"), "--log", log, "--listen",
                         f"unix:{self.path('run/a.sock')}"], agent)
        self.assertRefused(r, [f"refusing --log {log}", f"{self.sticky} is writable by everyone", "/run/NAME/"],
                           "a --log linked by the attacker")
        self.assertUntouched(target, "the link's target")

    def test_log_in_a_directory_others_can_write(self):
        log = os.path.join(self.open, "agent.log")
        r = self.daemon(["--pidfile", self.path("run/agent.pid"), "--log", log, "--listen",
                         f"unix:{self.path('run/a.sock')}"])
        self.assertRefused(r, [f"refusing --log {log}", f"{self.open} is writable by everyone (mode 0777)"],
                           "a --log in a directory everyone can write")
        self.assertFalse(os.path.exists(log))

    def root_agent(self, source: str) -> str:
        """An agent of root's in root's own directory (StrictModes accepts it for --user too)."""
        p = os.path.join(self.run_dir, "Printing.py")
        with open(p, "w") as f:
            f.write(source)
        os.chmod(p, 0o644)
        return p

    def test_pidfile_and_log_in_roots_own_directory_served(self):
        pidfile, log = self.path("run/agent.pid"), self.path("run/agent.log")
        addr = harness.Address.unix(os.path.join(self.home, "agent.sock"))
        r = self.daemon(["--pidfile", pidfile, "--log", log, "--listen", addr.listen_arg()],
                        self.root_agent(PRINTING_AGENT))
        self.assertEqual(r.returncode, EXIT_OK, f"root's own directory: stderr:\n{r.err}")
        with open(pidfile) as f:
            pid = int(f.read())
        self.assertIn(pid, harness.pylaunchd_children(), "the pidfile names the daemon")
        self.assertServesRot13(addr, "the daemon as the owner")
        st = os.lstat(addr.path)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (self.owner.pw_uid, 0o600),
                         "the socket is handed to the --user, 0600")
        harness.wait_for(lambda: b"agent imported" in read(log), "the agent's print in --log")
        self.assertEqual(stop_daemon(pid), EXIT_OK)

    # --- --listen unix: ----------------------------------------------------------------------------

    def test_socket_in_a_directory_others_can_write(self):
        sock = os.path.join(self.open, "agent.sock")
        proc = self.as_owner("--listen", f"unix:{sock}", harness.ROT13_AGENT)
        self.assertExitsUnsafe(proc, sock, "a socket in a non-sticky directory everyone can write")
        self.assertInStderr([f"refusing --listen unix:{sock}", f"{self.open} is writable by everyone (mode 0777)",
                             "sticky one such as /tmp"], proc.stderr(), "the refusal")
        self.assertFalse(os.path.exists(sock))

    def test_socket_in_roots_sticky_directory_served(self):
        addr = harness.Address.unix(os.path.join(self.sticky, "agent.sock"))
        proc = self.as_owner("--listen", addr.listen_arg(), harness.ROT13_AGENT)
        harness.wait_for_socket(addr, proc=proc)
        self.assertServesRot13(addr, "a socket in root's sticky directory")
        st = os.lstat(addr.path)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (self.owner.pw_uid, 0o600))

    def test_socket_in_the_owners_directory_served(self):
        addr = harness.Address.unix(os.path.join(self.home, "agent.sock"))
        proc = self.as_owner("--listen", addr.listen_arg(), harness.ROT13_AGENT)
        harness.wait_for_socket(addr, proc=proc)
        self.assertServesRot13(addr, "a socket in the owner's own directory")

    def test_stale_socket_of_the_attacker_kept(self):
        # Root used to remove any socket file nobody answered on, whoever's it was.
        sock = os.path.join(self.sticky, "agent.sock")
        self.python_as(harness.OTHER_USER, STALE_SOCKET, sock)
        r = self.daemon(["--pidfile", self.path("run/agent.pid"), "--listen", f"unix:{sock}"])
        self.assertRefused(r, [f"refusing --listen unix:{sock}", f"is a socket of uid {self.other.pw_uid}'s"],
                           "another user's stale socket")
        st = os.lstat(sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode) and st.st_uid == self.other.pw_uid, "still the attacker's socket")

    # --- --listen fifo: ----------------------------------------------------------------------------

    def test_planted_fifo_refused(self):
        fifo = os.path.join(self.sticky, "ctl")
        self.python_as(harness.OTHER_USER, "import os, sys; os.mkfifo(sys.argv[1]); os.chmod(sys.argv[1], 0o666)", fifo)
        self.assertFifoRefused(fifo, [f"belongs to uid {self.other.pw_uid}, not to us or root"],
                               "the attacker's FIFO, 0666")

    def test_owners_fifo_writable_by_others_refused(self):
        fifo = os.path.join(self.pub, "ctl")
        self.python_as(harness.OWNER_USER, "import os, sys; os.mkfifo(sys.argv[1]); os.chmod(sys.argv[1], 0o622)", fifo)
        self.assertFifoRefused(fifo, [f"{fifo} is writable by everyone (mode 0622)", "chmod go-w"],
                               "the owner's FIFO, 0622")

    def test_owners_fifo_writable_through_an_acl_refused(self):
        fifo = os.path.join(self.pub, "ctl")
        self.python_as(harness.OWNER_USER, "import os, sys; os.mkfifo(sys.argv[1], 0o600)", fifo)
        os.setxattr(fifo, "system.posix_acl_access", acl_letting_write(self.other.pw_uid))
        self.assertFifoRefused(fifo, [f"{fifo} has an ACL that lets uid {self.other.pw_uid} write"],
                               "the owner's FIFO, 0600 with an ACL for the other user")

    def test_owners_fifo_in_its_own_directory_served(self):
        fifo, log = os.path.join(self.home, "ctl"), os.path.join(self.home, "commands.log")
        proc = self.control_agent(fifo, log)

        def write_command():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return False
            with os.fdopen(fd, "wb") as f:
                f.write(b"hello from the owner\n")
            return True

        harness.wait_for(write_command, "the FIFO to have a reader", proc=proc)
        harness.wait_for(lambda: read(log) == b"hello from the owner\n",
                         "the command in the agent's log", proc=proc)
        st = os.lstat(fifo)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (self.owner.pw_uid, 0o600))

    # --- the agent -----------------------------------------------------------------------------------

    def test_agent_writable_through_an_acl_refused(self):
        agent = os.path.join(self.home, "Agent.py")
        with open(harness.ROT13_AGENT, "rb") as src, open(agent, "wb") as dst:
            dst.write(src.read())
        os.chown(agent, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(agent, 0o644)
        os.setxattr(agent, "system.posix_acl_access", acl_letting_write(self.other.pw_uid))
        sock = os.path.join(self.home, "agent.sock")
        proc = self.as_owner("--listen", f"unix:{sock}", agent)
        self.assertExitsUnsafe(proc, sock, "an agent the other user may write through an ACL")
        self.assertInStderr([f"refusing agent {agent}", f"has an ACL that lets uid {self.other.pw_uid} write"],
                            proc.stderr(), "the refusal")


if __name__ == "__main__":
    harness.become_subreaper()
    harness.main()
