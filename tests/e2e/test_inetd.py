#!/usr/bin/env python3
"""Scenario: inetd style, a connected socket on fd 0: one conversation, then exit 0.

Started by hand with one end of a socketpair as stdin (as inetd or launchd's inetdCompatibility
would), and by systemd-socket-activate --inetd --accept. A print() in the agent must never reach
the client when stdout is the connection too.
"""

import json
import socket

import harness
from harness import EXIT_OK, rot13

#: Prints to stdout, then answers ROT13 (the conversation must carry only the answers).
NOISY_AGENT = """
import sys
import pylaunchd

print("noise on stdout: must not reach the client")
sys.stdout.flush()

def handle(conn):
    print("more noise from handle()", flush=True)
    pending = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        pending += chunk
    conn.sendall(pylaunchd.started_by.encode() + b" " + pending.translate(bytes.maketrans(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")))
"""


class Inetd(harness.E2ETestCase):
    def start_with_socket(self, agent, stdout_too=False):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(ours.close)
        try:
            proc = self.launch(agent, stdin=theirs, **({"stdout": theirs} if stdout_too else {}))
        finally:
            theirs.close()  # the child has its own copy; ours must go, or EOF never comes
        ours.settimeout(harness.DEADLINE)
        return proc, ours

    def talk(self, sock, data: bytes) -> bytes:
        """Send data, close our sending side, return all that comes back. The agent may answer
        and close before we are done sending: its answer is the result, not the EPIPE."""
        try:
            if data:
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def test_one_conversation_then_exit(self):
        proc, sock = self.start_with_socket(harness.ROT13_AGENT)
        data = b"".join(b"inetd line %d Hello\n" % i for i in range(200)) + b"last, no newline"
        self.assertEqual(self.talk(sock, data), rot13(data), "the whole conversation over the socket on fd 0")
        self.assertExitStatus(proc, EXIT_OK, "inetd style: exit 0 once the conversation is over")

    def test_started_by_inetd(self):
        proc, sock = self.start_with_socket(self.write_agent("info_agent.py", harness.INFO_AGENT))
        info = json.loads(self.talk(sock, b""))
        self.assertEqual(info["started_by"], "inetd", "a connected socket on fd 0 is inetd style")
        self.assertEqual(info["conn_type"], "Connection")
        self.assertExitStatus(proc, EXIT_OK, "inetd style, info agent")

    def test_client_closes_at_once(self):
        proc, sock = self.start_with_socket(harness.ROT13_AGENT)
        self.assertEqual(self.talk(sock, b""), b"", "nothing sent, nothing answered")
        self.assertExitStatus(proc, EXIT_OK, "inetd style, empty conversation")

    def test_stdout_on_the_connection_is_silenced(self):
        proc, sock = self.start_with_socket(self.write_agent("noisy_agent.py", NOISY_AGENT), stdout_too=True)
        self.assertEqual(self.talk(sock, b"Hello"), b"inetd Uryyb",
                         "with stdout on the connection too, print() output must not reach the client")
        self.assertExitStatus(proc, EXIT_OK, "inetd style with a printing agent")

    def test_systemd_socket_activate_inetd(self):
        addr = self.unix_address()
        sa = self.activate(harness.ROT13_AGENT, listen=[addr], accept=True, inetd=True)
        for i in range(3):
            line = b"inetd via systemd-socket-activate, connection %d" % i
            self.assertEqual(harness.converse(addr, line + b"\n"), rot13(line) + b"\n",
                             f"--inetd --accept, connection {i}")
        self.assertTrue(sa.alive())

    def test_systemd_socket_activate_inetd_wait_mode(self):
        # --inetd without --accept: inetd's "wait" mode. systemd-socket-activate execs the launcher
        # with the listening socket on fds 0 and 1 at the first connection; it serves it like any
        # listener (it used to say there were no sockets to serve).
        addr = self.unix_address()
        sa = self.activate(harness.ROT13_AGENT, listen=[addr], inetd=True, wait=False)
        harness.wait_for(lambda: "Listening on" in sa.stderr(), "systemd-socket-activate to listen", proc=sa)
        for i in range(3):
            line = b"inetd wait mode, connection %d" % i
            got = harness.converse(addr, line + b"\n", sock=harness.connect_when_ready(addr, proc=sa))
            self.assertEqual(got, rot13(line) + b"\n", f"--inetd without --accept, connection {i}")
        self.assertTrue(sa.alive(), "it keeps serving: nothing would start it again")
        self.assertNotIn("no sockets to serve", sa.stderr())

    def test_explicit_inetd_mode(self):
        # --inetd (what launchd's inetdCompatibility plists pass): fd 0 alone is asked.
        addr = self.unix_address()
        self.activate(harness.ROT13_AGENT, listen=[addr], accept=True, inetd=True, options=["--inetd"])
        line = b"explicit --inetd"
        self.assertEqual(harness.converse(addr, line + b"\n"), rot13(line) + b"\n")

    def test_explicit_inetd_mode_without_a_socket(self):
        r = harness.run([harness.BINARY, "--inetd", harness.ROT13_AGENT])
        self.assertEqual(r.returncode, harness.EXIT_ACTIVATION, r.stderr)
        self.assertIn(b"--inetd: fd 0 is not a socket", r.stderr)

    def test_systemd_socket_activate_inetd_started_by(self):
        addr = self.unix_address()
        self.activate(self.write_agent("info_agent.py", harness.INFO_AGENT), listen=[addr], accept=True,
                      inetd=True)
        self.assertEqual(harness.fetch_json(addr)["started_by"], "inetd", "--inetd passes the connection on fd 0")


if __name__ == "__main__":
    harness.main()
