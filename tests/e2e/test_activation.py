#!/usr/bin/env python3
"""Scenario: the sockets systemd passes (systemd-socket-activate) arrive as described.

--fdname names, two listeners in one process, Accept=yes one process per connection, -E
variables, what pylaunchd.started_by says, and that the activation variables never reach the agent.
"""

import os
import socket
import time

import harness
from harness import converse, fetch_json, rot13

#: serve(listeners): each listener answers every connection with its name, in a thread of its own.
NAMES_AGENT = """
import json, threading, time
import pylaunchd

def answer(listener):
    while True:
        conn, _ = listener.accept()
        try:
            conn.sendall(json.dumps({"name": listener.name, "started_by": pylaunchd.started_by}).encode() + b"\\n")
        except OSError:
            pass  # a readiness probe that did not wait for its answer
        finally:
            conn.close()

def serve(listeners):
    for l in listeners:
        threading.Thread(target=answer, args=(l,), daemon=True).start()
    while True:
        time.sleep(3600)  # SIGTERM raises KeyboardInterrupt here
"""


class StartedBy(harness.E2ETestCase):
    """pylaunchd.started_by tells the agent how the launcher got its sockets."""

    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("info_agent.py", harness.INFO_AGENT)

    def test_systemd_accept_no(self):
        addr = self.unix_address()
        self.activate(self.agent, listen=[addr])
        info = fetch_json(addr)
        self.assertEqual(info["started_by"], "systemd", "started by systemd-socket-activate")
        self.assertEqual(info["listen_env"], [],
                         "LISTEN_* must be unset before Python starts, so the agent's children never "
                         "think the sockets are theirs")
        self.assertEqual(info["conn_type"], "Connection", "handle() gets a pylaunchd.Connection")

    def test_systemd_accept_yes(self):
        addr = self.unix_address()
        self.activate(self.agent, listen=[addr], accept=True)
        info = fetch_json(addr)
        self.assertEqual(info["started_by"], "systemd", "--accept: still systemd's protocol, one connected fd")
        self.assertEqual(info["listen_env"], [], "LISTEN_* unset in Accept=yes mode too")

    def test_listen(self):
        addr = self.unix_address()
        self.serve_listen(self.agent, listen=[addr])
        self.assertEqual(fetch_json(addr)["started_by"], "listen", "bound its own socket with --listen")

    def test_setenv_reaches_agent(self):
        addr = self.unix_address()
        self.activate(self.agent, listen=[addr], setenv=["E2E_MARK=from -E"])
        self.assertEqual(fetch_json(addr)["e2e_mark"], "from -E",
                         "systemd-socket-activate -E VAR=VAL: the agent sees VAR (the environment is kept)")


class AcceptYes(harness.E2ETestCase):
    """systemd-socket-activate --accept: a new pylaunchd for each connection, which exits after it."""

    def test_one_process_per_connection(self):
        agent = self.write_agent("info_agent.py", harness.INFO_AGENT)
        addr = self.unix_address()
        # No readiness probe here: it would spawn a child of its own and muddle the count below.
        sa = self.activate(agent, listen=[addr], accept=True, wait=False)
        harness.wait_for(lambda: "Listening on" in sa.stderr(), "systemd-socket-activate to listen", proc=sa)
        pids = [fetch_json(addr)["pid"] for _ in range(3)]
        self.assertEqual(len(set(pids)), 3, f"three connections, three pylaunchd processes: {pids}")
        for pid in pids:
            sa.wait_for_stderr(f"Child {pid} died with code 0")

    def test_two_listeners(self):
        a, b = self.unix_address("a.sock"), self.tcp_address()
        self.activate(harness.ROT13_AGENT, listen=[a, b], accept=True)
        self.assertServesRot13(a, "--accept, first of two listeners")
        self.assertServesRot13(b, "--accept, second of two listeners")


class TwoListeners(harness.E2ETestCase):
    """Two -l in one systemd-socket-activate: one pylaunchd serves both."""

    def test_both_answer(self):
        a, b = self.unix_address("a.sock"), self.unix_address("b.sock")
        sa = self.activate(harness.ROT13_AGENT, listen=[a, b])
        for i in range(3):
            self.assertServesRot13(a, f"first listener, round {i}")
            self.assertServesRot13(b, f"second listener, round {i}")
        self.assertTrue(sa.alive(), "one launcher serves both listeners and keeps running")

    def test_unix_and_tcp(self):
        a, b = self.unix_address(), self.tcp_address()
        self.activate(harness.ROT13_AGENT, listen=[a, b])
        self.assertServesRot13(a, "unix listener beside a TCP one")
        self.assertServesRot13(b, "TCP listener beside a unix one")

    def test_both_answer_concurrently(self):
        addrs = [self.unix_address("a.sock"), self.unix_address("b.sock")]
        self.activate(harness.ROT13_AGENT, listen=addrs)

        def client(i):
            line = f"client {i} on listener {i % 2}".encode()
            got = converse(addrs[i % 2], line * 50 + b"\n")
            if got != rot13(line * 50) + b"\n":
                raise AssertionError(f"wrong answer {got[:60]!r}")

        self.assertEqual(harness.run_concurrently(client, 20), [], "20 clients spread over two listeners")


class FdNames(harness.E2ETestCase):
    """--fdname NAME[:NAME]: the names reach the launcher (LISTEN_FDNAMES) in order."""

    def test_names_reach_serve_listeners(self):
        agent = self.write_agent("names_agent.py", NAMES_AGENT)
        a, b = self.unix_address("a.sock"), self.unix_address("b.sock")
        self.activate(agent, listen=[a, b], fdnames=["first", "second"])
        self.assertEqual(fetch_json(a), {"name": "first", "started_by": "systemd"}, "first -l gets the first name")
        self.assertEqual(fetch_json(b), {"name": "second", "started_by": "systemd"}, "second -l gets the second name")

    def test_name_in_verbose_log(self):
        addr = self.unix_address()
        sa = self.activate(harness.ROT13_AGENT, listen=[addr], fdnames=["rot13"], options=["--verbose"])
        self.assertServesRot13(addr, "--fdname rot13")
        sa.wait_for_stderr("'rot13'")

    def test_two_names_both_answer(self):
        a, b = self.unix_address("a.sock"), self.tcp_address()
        sa = self.activate(harness.ROT13_AGENT, listen=[a, b], fdnames=["local", "net"], options=["--verbose"])
        self.assertServesRot13(a, "listener named 'local'")
        self.assertServesRot13(b, "listener named 'net'")
        err = sa.wait_for_stderr("'net'")
        self.assertInStderr("'local'", err, "--verbose names the listener of each connection")


class ActivationWins(harness.E2ETestCase):
    """Sockets from systemd take precedence: a --listen beside them is ignored, with a warning."""

    def test_listen_ignored_under_systemd(self):
        given, ignored = self.unix_address("given.sock"), self.unix_address("ignored.sock")
        sa = self.activate(harness.ROT13_AGENT, listen=[given], options=["--listen", ignored.listen_arg()])
        self.assertServesRot13(given, "the socket systemd passed")
        self.assertInStderr("--listen ignored", sa.wait_for_stderr("--listen ignored"), "warns about --listen")
        self.assertFalse(os.path.exists(ignored.path), "the ignored --listen path was not bound")


class IdleExit(harness.E2ETestCase):
    """--idle-timeout: a socket-activated launcher exits when idle; systemd keeps the socket."""

    def test_exits_when_idle_under_systemd(self):
        addr = self.unix_address()
        sa = self.activate(harness.ROT13_AGENT, listen=[addr], options=["--idle-timeout", "0.3"])
        self.assertServesRot13(addr, "before going idle")
        self.assertExitStatus(sa, harness.EXIT_OK, "idle exit under systemd-socket-activate")
        self.assertTrue(os.path.exists(addr.path), "the socket file is systemd's: it stays")

    def test_idle_clock_starts_when_the_last_connection_ends(self):
        # Idle time counts from the end of the last conversation, not from its start: after a
        # conversation longer than the timeout, the launcher still waits the whole timeout, then
        # leaves. (Counted from the start, it left the moment the client closed.)
        addr = self.unix_address()
        timeout = 3.0
        sa = self.activate(harness.ROT13_AGENT, listen=[addr], options=["--idle-timeout", str(timeout)])
        c = self.client(addr)
        begun = time.monotonic()
        while time.monotonic() - begun < timeout * 1.5:
            self.assertEqual(c.exchange(b"still here"), b"fgvyy urer", "the conversation goes on")
            time.sleep(0.25)  # the client's pace, not a wait for readiness
        self.assertTrue(sa.alive(), "no idle exit in the middle of a conversation")
        c.close()
        ended = time.monotonic()
        self.assertExitStatus(sa, harness.EXIT_OK, "idle exit after the conversation", timeout + harness.DEADLINE)
        stayed = time.monotonic() - ended
        # Only a lower bound: a loaded machine can make the exit later, never earlier.
        self.assertGreaterEqual(stayed, timeout * 0.8,
                                f"left {stayed:.2f} s after the last connection ended; --idle-timeout is {timeout} s")

    def test_min_uptime_holds_off_an_idle_exit(self):
        # --min-uptime: however short the idle timeout, no idle exit sooner than this after the
        # start (systemd's start limit counts starts, and a service that leaves at once is
        # restarted by the next connection, start after start).
        addr = self.unix_address()
        sa = self.activate(harness.ROT13_AGENT, listen=[addr], options=["--idle-timeout", "0.1", "--min-uptime", "3"])
        self.assertServesRot13(addr, "one short connection")  # the first connection starts it
        answered = time.monotonic()
        self.assertExitStatus(sa, harness.EXIT_OK, "idle exit after --min-uptime", 3 + harness.DEADLINE)
        stayed = time.monotonic() - answered
        # A lower bound only, with room for a slow start before the answer: a loaded machine
        # makes the exit later, never earlier. Without --min-uptime it leaves 0.1 s after.
        self.assertGreaterEqual(stayed, 1.5, f"left {stayed:.2f} s after its first answer; --min-uptime is 3 s")

    def test_ignored_with_listen(self):
        # Nothing would start a --listen launcher again: it must not exit when idle.
        addr = self.unix_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr], options=["--idle-timeout", "0.1"])
        self.assertInStderr("--idle-timeout ignored", server.wait_for_stderr("--idle-timeout ignored"),
                            "--idle-timeout with --listen")
        for i in range(3):
            self.assertServesRot13(addr, f"--listen with --idle-timeout keeps serving ({i})")
        self.assertTrue(server.alive())


#: handle(conn) on a datagram socket: conn is the shared, unconnected socket; one datagram per call.
DGRAM_AGENT = """
_U = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_L = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_U + _L, _U[13:] + _U[:13] + _L[13:] + _L[:13])

def handle(conn):
    data, peer = conn.recvfrom(65536)
    conn.sendto(data.translate(_ROT13), peer)
"""


class Datagram(harness.E2ETestCase):
    """systemd-socket-activate --datagram: handle(conn) is called with the datagram socket when it
    is readable, and the launcher keeps the socket for the next datagram."""

    def test_datagrams_answered(self):
        agent = self.write_agent("dgram_agent.py", DGRAM_AGENT)
        path = self.path("dgram.sock")
        sa = self.start(["systemd-socket-activate", "--datagram", "-l", path, harness.BINARY, agent],
                        name="systemd-socket-activate")
        harness.wait_for(lambda: os.path.exists(path), "the datagram socket", proc=sa)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(client.close)
        client.bind(self.path("client.sock"))  # an address to answer to
        client.settimeout(harness.DEADLINE)
        # Accept=no: systemd-socket-activate starts pylaunchd on the first datagram, which it reads.
        for i in range(5):
            msg = b"Datagram number %d" % i
            client.sendto(msg, path)
            self.assertEqual(client.recv(65536), rot13(msg), f"datagram {i} answered by handle()")
        self.assertTrue(sa.alive(), "the launcher keeps serving the datagram socket")


if __name__ == "__main__":
    harness.main()
