#!/usr/bin/env python3
"""Scenario: another local user gets no answer from the owner's agent, on any kind of socket.

Two real local users from the ctest fixture local_users (tests/users.py): pylaunchd-owner runs
the launcher and its clients; pylaunchd-other is the attacker, whose primary group differs from
its uid and who is in pylaunchd-team only as a supplementary group. Before this, a loopback TCP
agent answered every local user (200 silent connections of the attacker's shut the owner out), a
datagram socket (an abstract one has no file mode at all) took anyone's datagrams, and
--allow-gid ignored supplementary groups.
"""

import grp
import json
import os
import signal
import uuid

import agentside
import harness
from harness import EXIT_OK, rot13

#: Answers each line with its ROT13, on a stream connection; or, handed a datagram socket, each
#: datagram with its ROT13 to its sender. Logs whom it served, so a test can tell that a
#: refused peer never reached it.
AGENT = """
import sys

_U = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_L = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_U + _L, _U[13:] + _U[:13] + _L[13:] + _L[:13])

def handle(conn):
    if conn.type == 2:  # SOCK_DGRAM
        data, sender = conn.recvfrom(65536)
        print(f"agent: datagram {data!r}", file=sys.stderr, flush=True)
        conn.sendto(data.translate(_ROT13), sender)
        return
    with conn.makefile("rb") as f:
        for line in f:
            print(f"agent: line {line!r}", file=sys.stderr, flush=True)
            conn.sendall(line.translate(_ROT13))
"""

#: Run as a user: one exchange over ADDRESS ("tcp:HOST:PORT", "udp:HOST:PORT", "unix:PATH",
#: "unixdgram:PATH", "@abstract" forms as unixdgram:@NAME), or with "--silent N" N connections
#: that say nothing and are held until stdin closes. Prints one JSON line.
CLIENT = r"""
import json, os, socket, sys, tempfile

def sockaddr(addr):
    kind, _, rest = addr.partition(":")
    if kind in ("tcp", "udp"):
        host, _, port = rest.rpartition(":")
        host = host.strip("[]")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        return kind, fam, (host, int(port))
    return kind, socket.AF_UNIX, ("\0" + rest[1:]) if rest.startswith("@") else rest

kind, fam, sa = sockaddr(sys.argv[1])
out = {"uid": os.getuid(), "answer": None, "error": None}
if len(sys.argv) > 3 and sys.argv[2] == "--silent":
    held = []
    for _ in range(int(sys.argv[3])):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.connect(sa)
        held.append(s)
    print(json.dumps({"held": len(held)}), flush=True)
    sys.stdin.read()
    sys.exit(0)
line = sys.argv[2].encode()
try:
    if kind in ("udp", "unixdgram"):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_UNIX:  # a reply needs an address to go to
            s.bind("\0pylaunchd-e2e-client-%d" % os.getpid())
        s.settimeout(float(sys.argv[3]))
        s.sendto(line, sa)
        out["answer"] = s.recv(65536).decode("latin-1")
    else:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(float(sys.argv[3]))
        s.connect(sa)
        s.sendall(line + b"\n")
        out["answer"] = s.makefile("rb").readline().decode("latin-1")
except (OSError, socket.timeout) as e:
    out["error"] = type(e).__name__
print(json.dumps(out))
"""

#: How long a client waits for an answer that must not come.
SILENCE = 2.0


class Peers(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.owner = harness.local_user(harness.OWNER_USER)
        self.other = harness.local_user(harness.OTHER_USER)
        self.team = grp.getgrnam(harness.TEAM_GROUP)
        os.chmod(self.tmp, 0o755)
        self.agent = self.write_agent("peer_agent.py", AGENT)
        # The owner's directory, reachable by everyone: what is tested is the launcher's check.
        self.home = self.path("owner")
        os.mkdir(self.home)
        os.chmod(self.home, 0o755)
        os.chown(self.home, self.owner.pw_uid, self.owner.pw_gid)

    def client(self, user: str, address: str, line: str, timeout: float = harness.DEADLINE) -> dict:
        r = harness.run([*harness.as_user(user), harness.system_python(), "-I", "-c", CLIENT, address, line,
                         str(timeout)], cwd="/", timeout=timeout + harness.DEADLINE)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, f"client as {user}: {out}{r.stderr.decode(errors='replace')}")
        return json.loads(out)

    def serve_as_owner(self, listen: str, options=()) -> harness.Launched:
        proc = self.start([*harness.exec_as_user(harness.OWNER_USER), harness.BINARY, *options, "--listen", listen,
                           self.agent], name="pylaunchd", cwd="/")
        harness.wait_for(lambda: self.client(harness.OWNER_USER, listen, "probe", 2)["answer"],
                         f"{listen} to answer its owner", proc=proc)
        return proc

    def assertServed(self, got: dict, line: str, what: str, datagram: bool = False) -> None:
        want = rot13(line.encode()).decode() + ("" if datagram else "\n")
        self.assertEqual(got["answer"], want, f"{what}: served; got {got}")

    def assertRefused(self, got: dict, proc, line: str, what: str) -> None:
        self.assertFalse(got["answer"], f"{what}: no answer; got {got}")
        self.assertNotIn(repr(line.encode()), proc.stderr(), f"{what}: the agent never saw it")

    # --- loopback TCP ---------------------------------------------------------------------------

    def tcp_rows(self, host: str):
        port = harness.free_tcp_port(host)
        bracket = f"[{host}]" if ":" in host else host
        listen = f"tcp:{bracket}:{port}"
        proc = self.serve_as_owner(listen)
        got = self.client(harness.OTHER_USER, listen, "Intruder", SILENCE)
        self.assertRefused(got, proc, "Intruder", f"{listen}: the other user")
        err = proc.wait_for_stderr("refused a connection")
        self.assertInStderr([f"from uid {self.other.pw_uid}", f"only uid {self.owner.pw_uid} may connect"], err,
                            "the refusal names the peer's uid")
        self.assertServed(self.client(harness.OWNER_USER, listen, "Owner"), "Owner", f"{listen}: the owner")

    def test_tcp_ipv4_loopback(self):
        self.tcp_rows("127.0.0.1")

    def test_tcp_ipv6_loopback(self):
        if not harness.ipv6_loopback_works():
            self.fail("IPv6 loopback does not work on this machine")
        self.tcp_rows("::1")

    def test_tcp_allow_options(self):
        port = harness.free_tcp_port()
        listen = f"tcp:127.0.0.1:{port}"
        rows = (
            (("--allow-uid", str(self.other.pw_uid)), True),
            (("--allow-gid", str(self.other.pw_gid)), True),
            (("--allow-gid", str(self.team.gr_gid)), True),     # a supplementary group: membership counts
            (("--allow-gid", str(self.other.pw_uid)), False),   # the uid's number, as a gid: nobody's group
            (("--allow-uid", str(self.owner.pw_uid + 424242)), False),
        )
        for options, served in rows:
            with self.subTest(options=options):
                proc = self.serve_as_owner(listen, options)
                got = self.client(harness.OTHER_USER, listen, "Member", harness.DEADLINE if served else SILENCE)
                if served:
                    self.assertServed(got, "Member", f"{options}")
                else:
                    self.assertRefused(got, proc, "Member", f"{options}")
                proc.send_signal(signal.SIGTERM)
                self.assertExitStatus(proc, EXIT_OK, f"{options}: stop")

    def test_silent_connections_of_another_user_do_not_shut_the_owner_out(self):
        port = harness.free_tcp_port()
        listen = f"tcp:127.0.0.1:{port}"
        proc = self.serve_as_owner(listen)
        # 200 silent connections, held open by the attacker (with the default 64 handlers).
        holder = self.start([*harness.as_user(harness.OTHER_USER), harness.system_python(), "-I", "-c", CLIENT,
                             listen, "--silent", "200"], name="holder", stdin=-1, cwd="/")
        harness.wait_for(lambda: b"held" in holder.stdout_bytes(), "the attacker's 200 connections", proc=holder)
        for i in range(20):
            self.assertServed(self.client(harness.OWNER_USER, listen, f"Owner {i}"), f"Owner {i}",
                              f"the owner's request {i}, among 200 silent connections of another user")
        holder.proc.stdin.close()
        self.assertInStderr("refused a connection", proc.stderr(), "the attacker's connections were refused")
        self.assertTrue(proc.alive(), "the launcher serves on")

    # --- datagrams --------------------------------------------------------------------------------

    def datagram_rows(self, address: str, listen_arg: str, extra: list):
        sa = self.start([*harness.exec_as_user(harness.OWNER_USER), "systemd-socket-activate", "--datagram", *extra,
                         "-l", listen_arg, harness.BINARY, self.agent], name="systemd-socket-activate", cwd="/")
        harness.wait_for(lambda: "Listening on" in sa.stderr(), "systemd-socket-activate to listen", proc=sa)
        if listen_arg.startswith("/"):
            os.chmod(listen_arg, 0o666)  # what is tested is the launcher's check, not the file mode
        got = self.client(harness.OTHER_USER, address, "Intruder", SILENCE)
        self.assertRefused(got, sa, "Intruder", f"{address}: the other user's datagram")
        self.assertServed(self.client(harness.OWNER_USER, address, "Owner"), "Owner", f"{address}: the owner's",
                          datagram=True)
        # Interleaved: the owner's datagrams are answered, in order, the other's dropped unread.
        for i in range(3):
            self.assertRefused(self.client(harness.OTHER_USER, address, f"Intruder {i}", SILENCE), sa,
                               f"Intruder {i}", f"{address}: the other user's datagram {i}")
            self.assertServed(self.client(harness.OWNER_USER, address, f"Owner {i}"), f"Owner {i}", address,
                              datagram=True)
        err = harness.wait_for(lambda: "dropped a datagram" in sa.stderr() and sa.stderr(), "the drop logged")
        self.assertInStderr(f"from uid {self.other.pw_uid}", err, "the drop names the sender")

    def test_abstract_unix_datagram(self):
        name = f"@pylaunchd-e2e-dgram-{uuid.uuid4().hex[:12]}"
        self.datagram_rows(f"unixdgram:{name}", name, [])

    def test_unix_datagram_path(self):
        path = os.path.join(self.home, "dgram.sock")
        self.datagram_rows(f"unixdgram:{path}", path, [])

    def test_udp_loopback(self):
        port = agentside.free_udp_port()
        self.datagram_rows(f"udp:127.0.0.1:{port}", f"127.0.0.1:{port}", [])


if __name__ == "__main__":
    harness.main()
