#!/usr/bin/env python3
"""Scenario: the ROT13 agent answers correctly however pylaunchd got its socket.

The same conversations run against each way of starting: systemd-socket-activate (Accept=no and
--accept, unix and TCP), --listen unix:PATH, unix:@ABSTRACT, tcp:127.0.0.1:PORT and tcp:[::1]:PORT.
"""

import os
import random
import signal
import socket
import sys
import unittest

import harness
from harness import Address, converse, rot13


class Rot13Conversations:
    """The conversations; a subclass says how the server is started (start_server)."""

    def start_server(self) -> Address:
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.addr = self.start_server()

    def test_one_line(self):
        c = self.client(self.addr)
        self.assertEqual(c.exchange(b"Hello, World!"), b"Uryyb, Jbeyq!", "one line, one ROT13 answer")

    def test_thousand_lines_on_one_connection(self):
        rng = random.Random(1)
        c = self.client(self.addr)
        for i in range(1000):
            line = f"line {i} {rng.getrandbits(64):x} AbCdEfGhIjKlMnOpQrStUvWxYz".encode()
            self.assertEqual(c.exchange(line), rot13(line), f"answer to line {i} of 1000 on one connection")

    def test_thousand_lines_in_one_stream(self):
        # Everything at once: the answers come back in order, one per line, nothing lost or doubled.
        lines = [f"{i}: the quick brown fox jumps over the lazy dog".encode() for i in range(1000)]
        data = b"\n".join(lines) + b"\n"
        self.assertEqual(converse(self.addr, data), rot13(data), "1000 lines sent in one stream")

    def test_lines_split_across_sends(self):
        c = self.client(self.addr)
        if self.addr.kind == "tcp":
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A line delivered one byte per send.
        line = b"Split Across Many Sends, One Byte At A Time"
        for b in line:
            c.send(bytes([b]))
        c.send(b"\n")
        self.assertEqual(c.readline(), rot13(line) + b"\n", "a line sent one byte per send()")
        # A send that ends one line and starts the next.
        c.send(b"Hel")
        c.send(b"lo Wor")
        c.send(b"ld\nsec")
        self.assertEqual(c.readline(), b"Uryyb Jbeyq\n", "line completed across three sends")
        c.send(b"ond line\n")
        self.assertEqual(c.readline(), b"frpbaq yvar\n", "the rest of a line begun in the previous send")

    def test_several_lines_in_one_send(self):
        c = self.client(self.addr)
        c.send(b"one\ntwo\nthree\n\nfive\n")
        got = [c.readline() for _ in range(5)]
        self.assertEqual(got, [b"bar\n", b"gjb\n", b"guerr\n", b"\n", b"svir\n"],
                         "five lines (one empty) in one send, five answers in order")

    def test_all_byte_values_except_newline(self):
        data = bytes(b for b in range(256) if b != 0x0A)
        answer = converse(self.addr, data + b"\n")
        self.assertEqual(len(answer), 256, "one answer byte per byte sent")
        for sent, got in zip(data, answer):
            self.assertEqual(got, harness._rot13_byte(sent), f"byte 0x{sent:02x} answered as 0x{got:02x}")
        self.assertEqual(answer[-1:], b"\n")

    def test_utf8_text_is_unchanged_except_ascii_letters(self):
        text = "Café crème, naïve Ærøskøbing — 東京 🐍 Zürich".encode("utf-8")
        answer = converse(self.addr, text + b"\n")
        self.assertEqual(answer, rot13(text) + b"\n", "UTF-8 text: only ASCII letters change")
        self.assertEqual(answer.decode("utf-8"), "Pnsé peèzr, anïir Æeøfxøovat — 東京 🐍 Müevpu\n",
                         "the answer is still valid UTF-8 with every non-ASCII character intact")

    def test_final_line_without_newline_answered_at_eof(self):
        self.assertEqual(converse(self.addr, b"first\nno newline at the end"), b"svefg\nab arjyvar ng gur raq",
                         "a last line without newline is answered when the client closes its side")

    def test_empty_conversation(self):
        self.assertEqual(converse(self.addr, b""), b"", "a client that sends nothing gets nothing and EOF")

    def test_overlong_line_refused(self):
        # One byte past Agent.MAX_LINE (64 KiB), exactly: the agent reads it all before refusing,
        # so the close is clean on TCP too (no unread data, no RST racing the error line).
        answer = converse(self.addr, b"x" * (64 * 1024 + 1))
        self.assertEqual(answer, b"error: line longer than 65536 bytes\n",
                         "a line longer than the agent's limit is refused, and the connection closed")
        self.assertServesRot13(self.addr, "after refusing an overlong line")

    def test_concurrent_clients(self):
        def client(i):
            rng = random.Random(i)
            with harness.LineClient(self.addr) as c:
                for j in range(20):
                    line = f"client {i} line {j} {rng.getrandbits(48):x} Hello".encode()
                    got = c.exchange(line)
                    if got != rot13(line):
                        raise AssertionError(f"line {j}: sent {line!r}, got {got!r}")

        failures = harness.run_concurrently(client, 50)
        self.assertEqual(failures, [], "50 concurrent clients x 20 lines, every answer correct")
        self.assertServesRot13(self.addr, "after 50 concurrent clients")

    def test_socat_client(self):
        text = b"Hello from socat\nsecond line, no newline"
        r = harness.run(["socat", "-t", "5", "-", self.addr.socat_arg()], input=text)
        self.assertEqual(r.returncode, 0, f"socat failed: {r.stderr.decode(errors='replace')}")
        self.assertEqual(r.stdout, rot13(text), "socat as the client")

    def test_example_client(self):
        r = harness.run([sys.executable, os.path.join(harness.AGENT_DIR, "client.py"),
                         self.addr.listen_arg(), "Hello,", "World"])
        self.assertEqual(r.returncode, 0, f"agent/client.py failed: {r.stderr.decode(errors='replace')}")
        self.assertEqual(r.stdout, b"Uryyb, Jbeyq\n", "the project's own client.py")


class SystemdUnix(Rot13Conversations, harness.E2ETestCase):
    """systemd-socket-activate -l PATH pylaunchd Agent.py (Accept=no: one process, many connections)."""

    def start_server(self):
        addr = self.unix_address()
        self.server = self.activate(harness.ROT13_AGENT, listen=[addr])
        return addr

    def test_one_process_serves_every_connection(self):
        self.assertServesRot13(self.addr, "first connection")
        self.assertServesRot13(self.addr, "second connection")
        self.assertTrue(self.server.alive(), "Accept=no: the launcher keeps running between connections")


class SystemdTcp(Rot13Conversations, harness.E2ETestCase):
    """systemd-socket-activate -l 127.0.0.1:PORT pylaunchd Agent.py."""

    def start_server(self):
        addr = self.tcp_address()
        self.activate(harness.ROT13_AGENT, listen=[addr])
        return addr


class SystemdAcceptUnix(Rot13Conversations, harness.E2ETestCase):
    """systemd-socket-activate --accept: a new pylaunchd per connection, handed the connection."""

    def start_server(self):
        addr = self.unix_address()
        self.activate(harness.ROT13_AGENT, listen=[addr], accept=True)
        return addr


class SystemdAcceptTcp(Rot13Conversations, harness.E2ETestCase):
    """systemd-socket-activate --accept -l 127.0.0.1:PORT."""

    def start_server(self):
        addr = self.tcp_address()
        self.activate(harness.ROT13_AGENT, listen=[addr], accept=True)
        return addr


class ListenUnix(Rot13Conversations, harness.E2ETestCase):
    """pylaunchd --listen unix:PATH Agent.py."""

    def start_server(self):
        addr = self.unix_address()
        self.server = self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        return addr

    def test_socket_file_is_private(self):
        mode = os.stat(self.addr.path).st_mode & 0o777
        self.assertEqual(mode, 0o600, f"--listen unix socket mode is {mode:o}; the owner alone may connect")


class ListenAbstract(harness.E2ETestCase):
    """pylaunchd --listen unix:@NAME: Linux's abstract namespace, no file at all."""

    def test_abstract_socket_answers(self):
        name = "pylaunchd-e2e-" + os.path.basename(self.tmp)
        server = self.launch(harness.ROT13_AGENT, options=["--listen", f"unix:@{name}"])
        addr = Address.unix("\0" + name)
        harness.wait_for_socket(addr, proc=server)
        self.assertEqual(converse(addr, b"Abstract\n"), b"Nofgenpg\n", "ROT13 on an abstract unix socket")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, harness.EXIT_OK, "SIGTERM on an abstract-socket launcher")
        with self.assertRaises(ConnectionRefusedError, msg="the abstract name is released at exit"):
            addr.connect().close()


class ListenTcp4(Rot13Conversations, harness.E2ETestCase):
    """pylaunchd --listen tcp:127.0.0.1:PORT Agent.py."""

    def start_server(self):
        addr = self.tcp_address()
        self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        return addr


@unittest.skipUnless(harness.ipv6_loopback_works(), "IPv6 loopback (::1) is not usable on this machine")
class ListenTcp6(Rot13Conversations, harness.E2ETestCase):
    """pylaunchd --listen tcp:[::1]:PORT Agent.py."""

    def start_server(self):
        addr = self.tcp_address("::1")
        self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        return addr


class ListenSeveral(harness.E2ETestCase):
    """Several --listen addresses in one launcher: each one answers."""

    def test_unix_and_tcp_together(self):
        addrs = [self.unix_address("a.sock"), self.unix_address("b.sock"), self.tcp_address()]
        server = self.serve_listen(harness.ROT13_AGENT, listen=addrs)
        for a in addrs:
            self.assertServesRot13(a, "one of three --listen addresses")
        # One line says where it serves, once it does: what a developer looks for first.
        lines = [ln for ln in server.stderr().splitlines() if "listening on" in ln]
        self.assertEqual(lines, [f"pylaunchd: listening on {', '.join(a.listen_arg() for a in addrs)}"],
                         f"one 'listening on' line naming every address; stderr:\n{server.stderr()}")


if __name__ == "__main__":
    harness.main()
