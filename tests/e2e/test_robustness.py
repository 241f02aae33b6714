#!/usr/bin/env python3
"""Scenario: one bad client or one failing handler never costs the other clients their service.

A handler that raises, a client that vanishes mid-reply (SIGPIPE must be ignored), a client
that resets, clients that connect and say nothing, --max-connections holding new connections in
the kernel's queue, and running out of file descriptors (accepting pauses, the process lives).
"""

import re
import resource
import socket
import struct

import harness
from harness import DEADLINE, converse, rot13

#: Echoes lines; the line "boom" makes handle() raise.
BOOM_AGENT = """
def handle(conn):
    pending = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        pending += chunk
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            if line == b"boom":
                raise RuntimeError("boom: the test asked this handler to fail")
            conn.sendall(line + b"\\n")
"""


def recv_until_eof(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class RaisingHandler(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.addr = self.unix_address()
        self.server = self.serve_listen(self.write_agent("boom_agent.py", BOOM_AGENT), listen=[self.addr])

    def test_traceback_logged_connection_closed_others_served(self):
        bystander = self.client(self.addr)
        self.assertEqual(bystander.exchange(b"before"), b"before", "a client connected before the failure")
        victim = self.client(self.addr)
        self.assertEqual(victim.exchange(b"hello"), b"hello", "echo before boom")
        victim.send(b"boom\n")
        self.assertEqual(victim.readline(), b"", "the connection whose handler raised is closed (EOF)")
        err = self.server.wait_for_stderr("boom: the test asked")
        self.assertInStderr(["Traceback (most recent call last)", "RuntimeError"], err,
                            "the handler's exception is printed with its traceback")
        self.assertTrue(self.server.alive(), "a raising handler does not end the launcher")
        self.assertEqual(bystander.exchange(b"still here"), b"still here",
                         "a client connected before the failure is still served")
        with harness.LineClient(self.addr) as later:
            self.assertEqual(later.exchange(b"after"), b"after", "a client connecting after the failure is served")

    def test_many_failures_in_a_row(self):
        for i in range(20):
            self.assertEqual(converse(self.addr, b"ok\nboom\nnever answered\n"), b"ok\n",
                             f"failure {i}: answers up to the raise, then EOF")
        self.assertTrue(self.server.alive(), "20 raising handlers do not end the launcher")
        self.assertEqual(converse(self.addr, b"fine\n"), b"fine\n", "served after 20 failures")
        # A client can make a handler fail at will, so the tracebacks are rate limited like every
        # line a client can repeat (log.h): the first LOG_RATELIMIT_BURST in full, then a count.
        err = harness.wait_for(lambda: "similar message(s) suppressed" in self.server.stderr() and self.server.stderr(),
                               "the count of suppressed tracebacks", deadline=15, proc=self.server)
        shown = err.count("RuntimeError: boom")
        self.assertEqual(shown, LOG_RATELIMIT_BURST, f"the first {LOG_RATELIMIT_BURST} tracebacks in full; stderr:\n{err}")
        m = re.search(r"(\d+) similar message\(s\) suppressed in the last 10 s; the last: handle\(\) raised", err)
        self.assertIsNotNone(m, f"a count of the rest, naming what they were; stderr:\n{err}")
        self.assertEqual(shown + int(m.group(1)), 20, f"every failure shown or counted; stderr:\n{err}")


#: launcher/log.h: lines a client can repeat, per call site, before they are only counted.
LOG_RATELIMIT_BURST = 10


class VanishingClients(harness.E2ETestCase):
    """Clients that go away while the handler writes to them."""

    def setUp(self):
        super().setUp()
        self.unix, self.tcp = self.unix_address(), self.tcp_address()
        self.server = self.serve_listen(harness.ROT13_AGENT, listen=[self.unix, self.tcp])

    def send_until_stuck_then_close(self, addr):
        """Send lines without reading the answers until the buffers are full, then close: the
        handler is left writing to a peer that is gone."""
        s = addr.connect()
        s.settimeout(1.0)  # "stuck" means no progress for a second; not a performance assertion
        block = b"x" * 1023 + b"\n"
        sent = 0
        try:
            while sent < 64 * 1024 * 1024:
                s.sendall(block * 64)
                sent += len(block) * 64
        except socket.timeout:
            pass
        finally:
            s.close()
        self.assertGreater(sent, 0, "the client sent something before closing")

    def assert_write_error_logged_and_serving(self, what):
        err = harness.wait_for(
            lambda: any(e in self.server.stderr() for e in ("BrokenPipeError", "ConnectionResetError"))
            and self.server.stderr(),
            f"{what}: the handler's write error on stderr", proc=self.server)
        self.assertTrue(self.server.alive(), f"{what}: the launcher survives a peer that vanished "
                                             f"(SIGPIPE must be ignored); stderr:\n{err}")
        self.assertServesRot13(self.unix, f"{what}: unix clients served afterwards")
        self.assertServesRot13(self.tcp, f"{what}: TCP clients served afterwards")

    def test_unix_client_disconnects_mid_reply(self):
        self.send_until_stuck_then_close(self.unix)
        self.assert_write_error_logged_and_serving("unix client gone mid-reply")

    def test_tcp_client_disconnects_mid_reply(self):
        self.send_until_stuck_then_close(self.tcp)
        self.assert_write_error_logged_and_serving("TCP client gone mid-reply")

    def test_tcp_reset(self):
        s = self.tcp.connect()
        s.sendall(b"partial line, then a reset")
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        for _ in range(3):
            self.assertServesRot13(self.tcp, "after a client reset its connection")
        self.assertTrue(self.server.alive(), "a reset connection does not end the launcher")

    def test_connect_and_close_at_once(self):
        for _ in range(100):
            self.unix.connect().close()
        self.assertServesRot13(self.unix, "after 100 connections closed without a word")
        self.assertTrue(self.server.alive())


class SilentClients(harness.E2ETestCase):
    """Clients that connect and never send: each occupies one handler, nobody else waits."""

    def test_others_served_while_silent_clients_hold_connections(self):
        addr = self.unix_address()
        self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        silent = [self.client(addr) for _ in range(3)]
        half = self.client(addr)
        half.send(b"half a line, never finished")

        def client(i):
            line = f"client {i} while 4 others are silent".encode()
            got = converse(addr, line + b"\n")
            if got != rot13(line) + b"\n":
                raise AssertionError(f"wrong answer {got!r}")

        self.assertEqual(harness.run_concurrently(client, 10), [], "10 clients served while silent ones hold on")
        # The silent ones are still connected and still get answers once they speak.
        for i, c in enumerate(silent):
            self.assertEqual(c.exchange(b"finally"), b"svanyyl", f"silent client {i} answered when it speaks")
        half.send(b"\n")
        self.assertEqual(half.readline(), rot13(b"half a line, never finished") + b"\n",
                         "the half line is completed and answered")


class MaxConnections(harness.E2ETestCase):
    """--max-connections N: the N+1th connection waits in the kernel's queue until one ends."""

    def test_third_connection_waits_for_a_free_handler(self):
        addr = self.unix_address()
        self.serve_listen(harness.ROT13_AGENT, listen=[addr], options=["--max-connections", "2"])
        # Each held client exchanges one line first: proof that a handler is busy with it.
        held = [self.client(addr) for _ in range(2)]
        for i, c in enumerate(held):
            self.assertEqual(c.exchange(b"held"), b"uryq", f"held client {i} is being handled")
        third = addr.connect()
        self.addCleanup(third.close)  # connect() succeeded: the kernel queued it
        third.sendall(b"third\n")
        third.settimeout(1.0)
        with self.assertRaises(socket.timeout, msg="with 2 of 2 handlers busy, the third connection must "
                                                   "not be answered"):
            got = third.recv(100)
            self.fail(f"the third connection was answered while both handlers were busy: {got!r}")
        held[0].close()
        third.settimeout(DEADLINE)
        third.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_until_eof(third), b"guveq\n", "answered once a handler is free")
        self.assertEqual(held[1].exchange(b"still"), b"fgvyy", "the other held client is still served")

    def test_one_at_a_time(self):
        addr = self.unix_address()
        self.serve_listen(harness.ROT13_AGENT, listen=[addr], options=["--max-connections", "1"])

        def client(i):
            line = f"client {i}".encode()
            got = converse(addr, line + b"\n")
            if got != rot13(line) + b"\n":
                raise AssertionError(f"wrong answer {got!r}")

        self.assertEqual(harness.run_concurrently(client, 20), [],
                         "--max-connections 1: 20 concurrent clients are all served, one after another")


class OutOfFileDescriptors(harness.E2ETestCase):
    """EMFILE on accept pauses accepting; the launcher neither dies nor drops the queue."""

    def test_emfile_pauses_accepting(self):
        addr = self.unix_address()

        def low_fd_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))

        server = self.start([harness.BINARY, "--listen", addr.listen_arg(), harness.ROT13_AGENT],
                            name="pylaunchd", preexec_fn=low_fd_limit)
        harness.wait_for_socket(addr, proc=server)
        silent = [self.client(addr) for _ in range(40)]
        err = server.wait_for_stderr("pausing accepts")
        self.assertInStderr("Too many open files", err, "the EMFILE warning carries the errno text")
        self.assertTrue(server.alive(), "out of fds, the launcher keeps running")
        for c in silent:
            c.close()
        for i in range(3):
            self.assertServesRot13(addr, f"served again once fds are free ({i})")
        self.assertTrue(server.alive())


if __name__ == "__main__":
    harness.main()
