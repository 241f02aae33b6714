#!/usr/bin/env python3
"""Scenario: only the owner gets in, and only the owner's code runs.

Who may connect (ACCESS_ROWS): on unix sockets pylaunchd reads the peer's credentials and serves
its own uid only, unless --allow-uid / --allow-gid let another in. The other uid is the second
local user, pylaunchd-other (made by the fixture local_users): its client runs under runuser.
The socket file is made reachable (0755 directory, socket chmod 0666) on purpose, so what is
tested is the launcher's own check, not file modes; the abstract-socket rows have no file mode.

What may run (STRICT_ROWS): like sshd's StrictModes, an agent file or a directory above it that
another user could write, or that belongs to another user, is refused with exit 77 and a message
naming the path and the fix; --no-strict-modes runs it anyway; passing through root's sticky
/tmp is fine, but the agent's own directory must be one nobody else can create files in.

And the --listen socket file is created 0600 whatever the umask.
"""

import grp
import json
import os
import shutil
import signal
import stat
import tempfile
import uuid
from dataclasses import dataclass
from typing import Optional

import harness
from harness import DEADLINE, EXIT_OK, rot13

#: The other local user, from the ctest fixture local_users (tests/users.py): its uid, gid and
#: supplementary group all differ, so no row can pass by comparing the wrong one.
TEST_USER = harness.OTHER_USER
EXIT_AGENT_UNSAFE = 77  # launcher/exitcode.h

#: Greets each connection first (so a refused client can tell EOF from "no answer yet"), then
#: answers each line with its ROT13. Logs the uid of every connection it is given, so a test can
#: tell that a refused peer never reached it.
GREETING_AGENT = """
import socket, struct, sys

_U = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_L = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_U + _L, _U[13:] + _U[:13] + _L[13:] + _L[:13])

def handle(conn):
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    print(f"agent given a connection from uid {uid} (pid {pid})", file=sys.stderr, flush=True)
    try:
        conn.sendall(b"hello\\n")
        pending = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            pending += chunk
            while b"\\n" in pending:
                line, pending = pending.split(b"\\n", 1)
                conn.sendall(line.translate(_ROT13) + b"\\n")
    except (BrokenPipeError, ConnectionResetError):
        return  # a readiness probe that did not stay for the greeting
"""

#: Run as the other user: connect, read the greeting (or EOF), exchange one line; report as JSON.
CLIENT = r"""
import json, os, socket, sys
address, line = sys.argv[1], sys.argv[2].encode()
out = {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(), "greeting": None, "answer": None,
       "error": None}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
try:
    s.connect("\0" + address[1:] if address.startswith("@") else address)
    f = s.makefile("rb")
    out["greeting"] = f.readline().decode("latin-1")
    if out["greeting"]:
        s.sendall(line + b"\n")
        out["answer"] = f.readline().decode("latin-1")
except OSError as e:
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


def other_python() -> str:
    return harness.system_python()


def other_user():
    return harness.local_user(TEST_USER)


# --- who may connect ------------------------------------------------------------------------------

@dataclass
class AccessRow:
    name: str
    started: str          # "listen" (--listen unix:PATH), "abstract" (--listen unix:@NAME), "activated"
    options: tuple        # "{uid}" / "{gid}" stand for the other user's
    client: str           # "other" (pylaunchd-other, through runuser) or "self" (this root process)
    served: bool


ACCESS_ROWS = (
    AccessRow("other_uid_refused_by_default", "listen", (), "other", False),
    AccessRow("other_uid_allowed_by_uid", "listen", ("--allow-uid", "{uid}"), "other", True),
    AccessRow("other_uid_allowed_by_gid", "listen", ("--allow-gid", "{gid}"), "other", True),
    AccessRow("allow_uid_of_someone_else", "listen", ("--allow-uid", "4242", "--allow-uid", "4243"), "other", False),
    AccessRow("allow_gid_of_another_group", "listen", ("--allow-gid", "4242"), "other", False),
    AccessRow("allow_both_second_matches", "listen", ("--allow-uid", "4242", "--allow-gid", "{gid}"), "other", True),
    # Membership, as sshd's AllowGroups: a supplementary group counts, not only the primary gid.
    AccessRow("other_uid_allowed_by_supplementary_gid", "listen", ("--allow-gid", "{team}"), "other", True),
    AccessRow("abstract_allowed_by_supplementary_gid", "abstract", ("--allow-gid", "{team}"), "other", True),
    # The other user's uid number given as a gid: no group of theirs, so refused (a check that
    # compared the peer's uid with --allow-gid would let it in; uid and gid differ on purpose).
    AccessRow("allow_gid_equal_to_the_peers_uid", "listen", ("--allow-gid", "{uid}"), "other", False),
    AccessRow("own_uid_served", "listen", (), "self", True),
    AccessRow("own_uid_served_with_allow_list", "listen", ("--allow-uid", "{uid}"), "self", True),
    # An abstract socket has no file mode: the credential check is all that stands in the way.
    AccessRow("abstract_other_uid_refused", "abstract", (), "other", False),
    AccessRow("abstract_other_uid_allowed", "abstract", ("--allow-uid", "{uid}"), "other", True),
    # The same check on a socket systemd passed.
    AccessRow("activated_other_uid_refused", "activated", (), "other", False),
    AccessRow("activated_other_uid_allowed", "activated", ("--allow-uid", "{uid}"), "other", True),
)


class WhoMayConnect(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.user = other_user()
        os.chmod(self.tmp, 0o755)  # the other user must reach the socket file

    def other_client(self, address: str, line: bytes) -> dict:
        r = harness.run(["runuser", "-u", TEST_USER, "--", other_python(), "-I", "-c", CLIENT, address,
                         line.decode(), str(DEADLINE)], cwd="/")
        out = r.stdout.decode("utf-8", "replace")
        if r.returncode != 0:
            raise AssertionError(f"the client as {TEST_USER} failed ({r.returncode}): {out}\n"
                                 f"{r.stderr.decode('utf-8', 'replace')}")
        return json.loads(out)

    def own_client(self, address: str, line: bytes) -> dict:
        addr = harness.Address.unix("\0" + address[1:] if address.startswith("@") else address)
        with harness.LineClient(addr) as c:
            greeting = c.readline().decode("latin-1")
            answer = c.exchange(line).decode("latin-1") + "\n" if greeting else None
        return {"pid": os.getpid(), "uid": os.getuid(), "greeting": greeting, "answer": answer, "error": None}

    def start_server(self, row: AccessRow, options):
        agent = self.write_agent("greeting_agent.py", GREETING_AGENT)
        if row.started == "activated":
            addr = self.unix_address(f"{row.name}.sock")
            server = self.activate(agent, listen=[addr], options=options, fdnames=("e2e-activated",))
            os.chmod(addr.path, 0o666)
            return server, addr.path, "'e2e-activated'"
        if row.started == "abstract":
            name = f"@pylaunchd-e2e-{os.getpid()}-{uuid.uuid4().hex[:12]}"
            server = self.launch(agent, options=[*options, "--listen", f"unix:{name}"])
            harness.wait_for_socket(harness.Address.unix("\0" + name[1:]), proc=server)
            return server, name, f"'unix:{name}'"
        addr = self.unix_address(f"{row.name}.sock")
        server = self.serve_listen(agent, listen=[addr], options=options)
        os.chmod(addr.path, 0o666)
        return server, addr.path, f"'unix:{addr.path}'"

    def run_row(self, row: AccessRow) -> None:
        what = f"row {row.name}"
        team = grp.getgrnam(harness.TEAM_GROUP).gr_gid
        options = [o.format(uid=self.user.pw_uid, gid=self.user.pw_gid, team=team) for o in row.options]
        server, address, listener_name = self.start_server(row, options)
        line = b"Only The Owner"
        got = (self.other_client if row.client == "other" else self.own_client)(address, line)
        uid = self.user.pw_uid if row.client == "other" else os.getuid()
        self.assertEqual(got["uid"], uid, f"{what}: the client ran as uid {uid}")
        self.assertIsNone(got["error"], f"{what}: the client's connection itself works: {got}")
        if row.served:
            self.assertEqual((got["greeting"], got["answer"]), ("hello\n", rot13(line).decode() + "\n"),
                             f"{what}: uid {uid} is served")
            self.assertNotIn("refused", server.stderr(), f"{what}: nothing refused")
            self.assertInStderr(f"agent given a connection from uid {uid} (pid {got['pid']})", server.stderr(),
                                f"{what}: the agent saw the connection")
        else:
            self.assertEqual(got["greeting"], "", f"{what}: uid {uid} gets EOF, not even the agent's greeting")
            err = server.wait_for_stderr("refused a connection")
            refusals = [ln for ln in err.splitlines() if "refused a connection" in ln]
            self.assertEqual(len(refusals), 1, f"{what}: one refusal, logged once; stderr:\n{err}")
            self.assertInStderr([f"on {listener_name}", f"from uid {uid} (pid {got['pid']})",
                                 f"only uid {os.getuid()} may connect", "--allow-uid"], refusals[0], what)
            self.assertNotIn(f"agent given a connection from uid {uid}", err,
                             f"{what}: the agent never sees a refused connection")
            self.assertNotIn("Traceback", err, what)
        # Either way the owner is served afterwards, and the launcher is fine.
        mine = self.own_client(address, b"owner after")
        self.assertEqual(mine["answer"], rot13(b"owner after").decode() + "\n", f"{what}: the owner is served after")
        self.assertTrue(server.alive(), f"{what}: the launcher keeps running")

    def test_rows(self):
        for row in ACCESS_ROWS:
            with self.subTest(row=row.name):
                self.run_row(row)

    def test_each_refusal_logged_once(self):
        # Three refused connections: three lines, one each, and serving goes on between them.
        agent = self.write_agent("greeting_agent.py", GREETING_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr])
        os.chmod(addr.path, 0o666)
        pids = []
        for i in range(3):
            got = self.other_client(addr.path, b"x")
            self.assertEqual(got["greeting"], "", f"refused connection {i}")
            pids.append(got["pid"])
            with harness.LineClient(addr) as c:
                self.assertEqual(c.readline(), b"hello\n", f"the owner is served between refusals ({i})")
        err = harness.wait_for(lambda: server.stderr().count("refused a connection") >= 3 and server.stderr(),
                               "three refusals logged", proc=server)
        self.assertEqual(err.count("refused a connection"), 3, f"one line per refused connection:\n{err}")
        for pid in pids:
            self.assertEqual(err.count(f"(pid {pid})"), 1, f"client pid {pid} named once:\n{err}")


# --- what may run -----------------------------------------------------------------------------------

@dataclass
class StrictRow:
    name: str
    dir_mode: int = 0o700
    dir_owner: str = "root"     # "root" or "other"
    file_mode: int = 0o644
    file_owner: str = "root"
    file_group: str = "root"    # "root" (root's own private group) or "other" (pylaunchd-other's)
    options: tuple = ()
    code: Optional[int] = None  # None: it serves
    culprit: str = ""           # "dir" or "file": the path the message must name
    words: tuple = ()


STRICT_ROWS = (
    StrictRow("private_file_in_private_dir"),  # the control row
    StrictRow("world_writable_dir", dir_mode=0o777, code=EXIT_AGENT_UNSAFE, culprit="dir",
              words=("is writable by everyone (mode 0777)", "chmod go-w", "--no-strict-modes")),
    StrictRow("world_writable_file", file_mode=0o666, code=EXIT_AGENT_UNSAFE, culprit="file",
              words=("is writable by everyone (mode 0666)", "chmod go-w")),
    StrictRow("file_writable_by_another_group", file_mode=0o664, file_group="other", code=EXIT_AGENT_UNSAFE,
              culprit="file", words=("is writable by its group (mode 0664)", "chmod go-w")),
    # root's group has no other members: a user private group, so group-writable is still only us.
    StrictRow("file_writable_by_own_private_group", file_mode=0o664),
    StrictRow("file_owned_by_another_uid", file_owner="other", code=EXIT_AGENT_UNSAFE, culprit="file",
              words=("belongs to uid {uid}, not to us or root", "chown")),
    StrictRow("dir_owned_by_another_uid", dir_mode=0o755, dir_owner="other", code=EXIT_AGENT_UNSAFE,
              culprit="dir", words=("belongs to uid {uid}, not to us or root",)),
    StrictRow("sticky_dir_of_another_uid", dir_mode=0o1777, dir_owner="other", code=EXIT_AGENT_UNSAFE,
              culprit="dir", words=("belongs to uid {uid}",)),
    # A root-owned sticky directory, as /tmp: nobody else can replace what we own in it, but anyone
    # can create files beside the agent, which Python would import (json.py, a package Agent/).
    StrictRow("root_sticky_dir", dir_mode=0o1777, code=EXIT_AGENT_UNSAFE, culprit="dir",
              words=("is writable by everyone (mode 1777)", "others can create files in the agent's directory",
                     "mkdir -m 700")),
    StrictRow("no_strict_modes_world_writable_dir", dir_mode=0o777, options=("--no-strict-modes",)),
    StrictRow("no_strict_modes_world_writable_file", file_mode=0o666, options=("--no-strict-modes",)),
    StrictRow("no_strict_modes_file_of_another_uid", file_owner="other", options=("--no-strict-modes",)),
)


class WhatMayRun(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.user = other_user()

    def make_agent(self, row: StrictRow):
        """agent/Agent.py copied into TMP/ROW/Agent.py with the row's owners and modes."""
        d = self.path(row.name)
        os.mkdir(d)
        agent = os.path.join(d, "Agent.py")
        shutil.copyfile(harness.ROT13_AGENT, agent)
        if row.dir_owner == "other":
            os.chown(d, self.user.pw_uid, self.user.pw_gid)
        if row.file_owner == "other" or row.file_group == "other":
            os.chown(agent, self.user.pw_uid if row.file_owner == "other" else 0,
                     self.user.pw_gid if row.file_group == "other" else 0)
        os.chmod(agent, row.file_mode)  # after chown, which may clear mode bits
        os.chmod(d, row.dir_mode)       # explicit: mkdir's mode is cut by the umask
        return d, agent

    def run_row(self, row: StrictRow) -> None:
        what = f"row {row.name}"
        d, agent = self.make_agent(row)
        addr = self.unix_address(f"{row.name}.sock")
        if row.code is None:
            server = self.serve_listen(agent, listen=[addr], options=row.options)
            self.assertServesRot13(addr, f"{what}: the agent runs")
            self.assertNotIn("refusing agent", server.stderr(), what)
            server.send_signal(signal.SIGTERM)
            self.assertExitStatus(server, EXIT_OK, what)
            return
        r = harness.run([harness.BINARY, *row.options, "--listen", addr.listen_arg(), agent])
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, row.code, f"{what}: exit status; stderr:\n{err}")
        culprit = d if row.culprit == "dir" else agent
        uid = self.user.pw_uid
        self.assertInStderr([f"refusing agent {agent}: {culprit} ", *(w.format(uid=uid) for w in row.words)], err,
                            what)
        self.assertFalse(os.path.exists(addr.path), f"{what}: nothing bound for a refused agent")

    def test_rows(self):
        for row in STRICT_ROWS:
            with self.subTest(row=row.name):
                self.run_row(row)

    def test_agent_directly_in_a_dir_under_tmp(self):
        # /tmp itself: root's, sticky, writable by everyone. Passing through it is fine.
        st = os.stat("/tmp")
        if st.st_uid != 0 or not st.st_mode & stat.S_ISVTX:
            self.skipTest("/tmp is not root's sticky directory here")
        d = tempfile.mkdtemp(prefix="pylaunchd-e2e-strict-", dir="/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        agent = os.path.join(d, "Agent.py")
        shutil.copyfile(harness.ROT13_AGENT, agent)
        addr = self.unix_address()
        self.serve_listen(agent, listen=[addr])
        self.assertServesRot13(addr, f"an agent in {d}, under root's sticky /tmp")


# --- the socket file's mode ---------------------------------------------------------------------------

class SocketFileMode(harness.E2ETestCase):
    def check_mode(self, umask: str, extra=()) -> None:
        addr = self.unix_address(f"umask{umask}.sock")
        argv = ["sh", "-c", f'umask {umask}; exec "$0" "$@"', harness.BINARY, *extra, "--listen", addr.listen_arg(),
                harness.ROT13_AGENT]
        server = self.start(argv, name="pylaunchd")
        harness.wait_for_socket(addr, proc=server)
        st = os.stat(addr.path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), "a socket file")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                         f"--listen socket created {stat.S_IMODE(st.st_mode):04o} under umask {umask} {list(extra)}; "
                         "only its owner may connect")
        self.assertEqual(st.st_uid, os.getuid(), "owned by the launcher's user")
        self.assertServesRot13(addr, "the 0600 socket serves its owner")

    def test_umask_000(self):
        self.check_mode("000")

    def test_umask_022(self):
        self.check_mode("022")

    def test_umask_000_with_workers(self):
        self.check_mode("000", ["--workers", "2"])


if __name__ == "__main__":
    harness.main()
