#!/usr/bin/env python3
"""Scenario: every example agent in agent/ serves a real client.

AsyncRot13.py (asyncio serve(), socat and Python clients, its own idle exit under
systemd-socket-activate, SIGTERM), HttpHello.py (threaded http.server on the activated TCP socket,
urllib.request), MpRot13.py (multiprocessing.connection.Client, str and bytes, pickles that need a
class refused), Control.py with control.py (a FIFO control channel), Agent.py with client.py.
Each runs unmodified from the project's agent/ directory.
"""

import codecs
import errno
import fractions
import os
import signal
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
from multiprocessing.connection import Client

import agentside
import harness
from harness import EXIT_OK, converse, rot13

ASYNC_AGENT = os.path.join(harness.AGENT_DIR, "AsyncRot13.py")
HTTP_AGENT = os.path.join(harness.AGENT_DIR, "HttpHello.py")
MP_AGENT = os.path.join(harness.AGENT_DIR, "MpRot13.py")
CONTROL_AGENT = os.path.join(harness.AGENT_DIR, "Control.py")
CONTROL_CLIENT = os.path.join(harness.AGENT_DIR, "control.py")
ROT13_CLIENT = os.path.join(harness.AGENT_DIR, "client.py")

#: Agent.MAX_LINE, which AsyncRot13 and MpRot13 share.
MAX_LINE = 64 * 1024


def lines(n: int, tag: str) -> bytes:
    return b"".join(b"%s line %d: The Quick Brown Fox {%d}\n" % (tag.encode(), i, i * 7919) for i in range(n))


def summary(commands: list) -> list:
    """Commands as a failure message can show them: a long one as its start and its length."""
    return [c if len(c) <= 40 else f"{c[:20]}... ({len(c)} characters)" for c in commands]


# --- AsyncRot13.py ------------------------------------------------------------------------------

class AsyncRot13Conversations:
    """The conversations; a subclass says how the server is started (start_server)."""

    def setUp(self):
        super().setUp()
        self.addr = self.start_server()

    def test_socat_client(self):
        text = b"Hello from socat\n" + lines(200, "socat") + b"last line, no newline"
        r = harness.run(["socat", "-t", "5", "-", self.addr.socat_arg()], input=text)
        self.assertEqual(r.returncode, 0, f"socat failed: {r.stderr.decode(errors='replace')}")
        self.assertEqual(r.stdout, rot13(text), "socat as the client of the asyncio agent")

    def test_many_lines_one_by_one(self):
        with self.client(self.addr) as c:
            for i in range(300):
                line = b"line %d of 300: Hello, World" % i
                self.assertEqual(c.exchange(line), rot13(line), f"answer to line {i}")

    def test_many_lines_in_one_stream(self):
        data = lines(5000, "stream")
        self.assertEqual(converse(self.addr, data), rot13(data), "5000 lines sent without waiting for answers")

    def test_concurrent_clients(self):
        def client(i):
            with harness.LineClient(self.addr) as c:
                for j in range(20):
                    line = f"client {i} line {j}: Concurrent Hello".encode()
                    got = c.exchange(line)
                    if got != rot13(line):
                        raise AssertionError(f"line {j}: sent {line!r}, got {got!r}")

        self.assertEqual(harness.run_concurrently(client, 30), [], "30 concurrent clients x 20 lines")
        self.assertServesRot13(self.addr, "after 30 concurrent clients")

    def test_last_line_without_newline(self):
        self.assertEqual(converse(self.addr, b"first\nno newline at the end"), b"svefg\nab arjyvar ng gur raq",
                         "a last line without its newline is answered at EOF")

    def test_overlong_line_refused(self):
        with self.addr.connect() as s:
            s.sendall(b"x" * (MAX_LINE + 1))
            s.shutdown(socket.SHUT_WR)
            answer = agentside.recv_until_closed(s)
        self.assertEqual(answer, b"error: line longer than %d bytes\n" % MAX_LINE,
                         "a line longer than Agent.MAX_LINE is refused and the connection closed")
        self.assertServesRot13(self.addr, "after refusing an overlong line")


class AsyncRot13Listen(AsyncRot13Conversations, harness.E2ETestCase):
    """pylaunchd --listen unix:PATH AsyncRot13.py"""

    def start_server(self):
        addr = self.unix_address()
        self.server = self.serve_listen(ASYNC_AGENT, listen=[addr])
        return addr

    def test_sigterm_exits_0(self):
        self.assertServesRot13(self.addr, "before SIGTERM")
        with self.client(self.addr) as c:
            self.assertEqual(c.exchange(b"open while stopping"), rot13(b"open while stopping"))
            self.server.send_signal(signal.SIGTERM)
            self.assertExitStatus(self.server, EXIT_OK, "SIGTERM stops the asyncio agent (KeyboardInterrupt in serve)")
        self.assertFalse(os.path.exists(self.addr.path), "the --listen socket file is removed at exit")

    def test_no_idle_exit_under_listen(self):
        # idle_timeout is None under --listen: serve_forever, no exit after a connection ends.
        self.assertServesRot13(self.addr, "first connection")
        self.assertServesRot13(self.addr, "second connection")
        self.assertTrue(self.server.alive(), "no idle timeout under --listen")


class AsyncRot13Tcp(AsyncRot13Conversations, harness.E2ETestCase):
    """pylaunchd --listen tcp:127.0.0.1:PORT AsyncRot13.py (asyncio.start_server on the socket)"""

    def start_server(self):
        addr = self.tcp_address()
        self.server = self.serve_listen(ASYNC_AGENT, listen=[addr])
        return addr


class AsyncRot13Systemd(AsyncRot13Conversations, harness.E2ETestCase):
    """systemd-socket-activate -l PATH pylaunchd AsyncRot13.py"""

    def start_server(self):
        addr = self.unix_address()
        self.server = self.activate(ASYNC_AGENT, listen=[addr])
        return addr

    def test_sigterm_exits_0(self):
        self.assertServesRot13(self.addr, "before SIGTERM")
        self.server.send_signal(signal.SIGTERM)
        self.assertExitStatus(self.server, EXIT_OK, "SIGTERM under systemd-socket-activate")
        self.assertTrue(os.path.exists(self.addr.path), "systemd's socket file is never removed by the launcher")


class AsyncRot13IdleExit(harness.E2ETestCase):
    """--idle-timeout under systemd-socket-activate: AsyncRot13 reads pylaunchd.idle_timeout and
    ends its own loop once no connection has been open for that long; exit 0, socket kept."""

    def test_exits_by_itself_after_idling(self):
        addr = self.unix_address()
        sa = self.activate(ASYNC_AGENT, listen=[addr], options=["--idle-timeout", "0.3"])
        self.assertServesRot13(addr, "before going idle")
        self.assertExitStatus(sa, EXIT_OK, "AsyncRot13 exits by itself after 0.3 s idle")
        self.assertTrue(os.path.exists(addr.path), "the socket file is systemd's: it stays")

    def test_open_connection_keeps_it_running(self):
        addr = self.unix_address()
        sa = self.activate(ASYNC_AGENT, listen=[addr], options=["--idle-timeout", "0.3"])
        with self.client(addr) as c:
            self.assertEqual(c.exchange(b"first"), rot13(b"first"))
            # An open connection is not idleness: watch for four idle timeouts that it stays up.
            # (An absence is observed over a bounded window; the wait for the exit below is a poll.)
            end = time.monotonic() + 1.2
            while time.monotonic() < end:
                self.assertTrue(sa.alive(), f"exited with a connection open; stderr:\n{sa.stderr()}")
                time.sleep(0.05)
            self.assertEqual(c.exchange(b"still served"), rot13(b"still served"))
        self.assertExitStatus(sa, EXIT_OK, "idle exit once the last connection closed")


# --- HttpHello.py -------------------------------------------------------------------------------

class HttpHello(harness.E2ETestCase):
    """The threaded http.server on the activated TCP socket, fetched with urllib.request."""

    def setUp(self):
        super().setUp()
        self.version = agentside.launcher_versions()[0]

    def fetch(self, addr, path="/", method="GET"):
        req = urllib.request.Request(f"http://{addr.host}:{addr.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=harness.DEADLINE) as r:
            return r.status, r.headers, r.read().decode("utf-8")

    def check_hello(self, addr, started_by: str, path: str = "/hello?x=1"):
        status, headers, body = self.fetch(addr, path)
        self.assertEqual(status, 200, f"GET {path}")
        self.assertEqual(headers["Content-Type"], "text/plain; charset=utf-8")
        self.assertEqual(headers["Server"].split()[0], "pylaunchd-HttpHello")
        self.assertIn("pylaunchd", body)
        self.assertIn(self.version, body, "the body names pylaunchd.version")
        self.assertIn(f"({started_by})", body, "the body names pylaunchd.started_by")
        self.assertIn(f"path {path}", body)
        return body

    def concurrent_requests(self, addr, started_by: str, n: int = 20):
        def client(i):
            body = self.check_hello(addr, started_by, f"/request/{i}")
            if f"path /request/{i}\n" not in body:
                raise AssertionError(f"request {i} got the answer {body!r}")

        self.assertEqual(harness.run_concurrently(client, n), [], f"{n} concurrent requests")

    def test_systemd_socket_activate(self):
        addr = self.tcp_address()
        sa = self.activate(HTTP_AGENT, listen=[addr])
        self.check_hello(addr, "systemd")
        self.concurrent_requests(addr, "systemd")
        sa.send_signal(signal.SIGTERM)
        self.assertExitStatus(sa, EXIT_OK, "SIGTERM stops serve_forever (KeyboardInterrupt): exit 0")

    def test_listen(self):
        addr = self.tcp_address()
        server = self.serve_listen(HTTP_AGENT, listen=[addr])
        self.check_hello(addr, "listen")
        self.concurrent_requests(addr, "listen")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM under --listen: exit 0")

    def test_unsupported_method_then_still_serving(self):
        addr = self.tcp_address()
        server = self.serve_listen(HTTP_AGENT, listen=[addr])
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.fetch(addr, "/", method="POST")
        self.assertEqual(cm.exception.code, 501, "HttpHello defines only do_GET: POST is 501")
        cm.exception.close()
        self.check_hello(addr, "listen")
        self.assertTrue(server.alive())


# --- MpRot13.py ---------------------------------------------------------------------------------

#: A pickle that would run a command when unpickled without a find_class guard.
class _RunsCommand:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class MpRot13(harness.E2ETestCase):
    """multiprocessing.connection.Client(address), as the original PyLaunchd sample's client did."""

    def setUp(self):
        super().setUp()
        self.addr = self.unix_address("mprot13.sock")
        self.server = self.serve_listen(MP_AGENT, listen=[self.addr])

    def connect(self):
        c = Client(self.addr.path)
        self.addCleanup(c.close)
        return c

    def ask(self, c, message):
        c.send(message)
        self.assertTrue(c.poll(harness.DEADLINE), f"no answer to {message!r} within {harness.DEADLINE} s")
        return c.recv()

    def test_str_and_bytes(self):
        c = self.connect()
        self.assertEqual(self.ask(c, "Hello, World"), "Uryyb, Jbeyq", "str in, ROT13 str out")
        self.assertEqual(self.ask(c, b"Hello, World"), b"Uryyb, Jbeyq", "bytes in, ROT13 bytes out")
        text = "Grüße aus München, 1234 ☕"
        self.assertEqual(self.ask(c, text), codecs.encode(text, "rot13"), "only ASCII letters change")
        every = bytes(range(256))
        self.assertEqual(self.ask(c, every), rot13(every), "all byte values")
        for i in range(100):
            self.assertEqual(self.ask(c, f"message {i}"), codecs.encode(f"message {i}", "rot13"))

    def test_pickle_needing_a_class_refused_then_served(self):
        c = self.connect()
        answer = self.ask(c, fractions.Fraction(1, 3))
        self.assertIsInstance(answer, str)
        self.assertTrue(answer.startswith("error: ") and "refused" in answer and "fractions.Fraction" in answer,
                        f"a pickle that needs a class is refused, naming it: {answer!r}")
        self.assertEqual(self.ask(c, "still there"), "fgvyy gurer", "the same connection goes on")

    def test_pickle_that_would_run_code_refused(self):
        marker = self.path("pwned")
        c = self.connect()
        answer = self.ask(c, _RunsCommand(marker))
        self.assertTrue(answer.startswith("error: ") and "refused" in answer, f"refused: {answer!r}")
        self.assertFalse(os.path.exists(marker), "unpickling what a client sent must not run its code")
        self.assertEqual(self.ask(c, "Hello"), "Uryyb")

    def test_non_str_without_class_refused(self):
        c = self.connect()
        self.assertEqual(self.ask(c, {"a": 1}), "error: send str or bytes", "a dict needs no class, still refused")
        self.assertEqual(self.ask(c, 42), "error: send str or bytes")
        self.assertEqual(self.ask(c, "ok"), "bx")

    def test_overlong_message_closes_that_connection_only(self):
        c = self.connect()
        c.send("x" * (MAX_LINE + 1))
        with self.assertRaises((EOFError, ConnectionResetError)):
            c.poll(harness.DEADLINE)
            c.recv()
        self.assertEqual(self.ask(self.connect(), "next client"), "arkg pyvrag", "the agent serves others")

    def test_concurrent_clients(self):
        def client(i):
            with Client(self.addr.path) as c:
                for j in range(20):
                    msg = f"client {i} message {j}"
                    c.send(msg)
                    if not c.poll(harness.DEADLINE):
                        raise AssertionError(f"no answer to {msg!r}")
                    got = c.recv()
                    if got != codecs.encode(msg, "rot13"):
                        raise AssertionError(f"sent {msg!r}, got {got!r}")

        self.assertEqual(harness.run_concurrently(client, 20), [], "20 concurrent Client()s x 20 messages")

    def test_under_systemd_socket_activate(self):
        addr = self.unix_address("activated.sock")
        self.activate(MP_AGENT, listen=[addr])
        with Client(addr.path) as c:
            c.send("Socket activated")
            self.assertTrue(c.poll(harness.DEADLINE))
            self.assertEqual(c.recv(), "Fbpxrg npgvingrq")


# --- Control.py + control.py --------------------------------------------------------------------

class Control(harness.E2ETestCase):
    """pylaunchd --listen fifo:PATH Control.py LOG; agent/control.py writes the commands."""

    def setUp(self):
        super().setUp()
        self.fifo = self.path("control.fifo")
        self.log = self.path("commands.log")

    def start_agent(self):
        server = self.launch(CONTROL_AGENT, self.log, options=["--listen", f"fifo:{self.fifo}"])

        def reader_open():
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
                return True
            except OSError:  # not created yet (ENOENT), or not opened yet (ENXIO)
                return False

        harness.wait_for(reader_open, f"pylaunchd to hold {self.fifo} open", proc=server)
        return server

    def control(self, *words):
        return harness.run([sys.executable, CONTROL_CLIENT, self.fifo, *words])

    def send(self, *words):
        r = self.control(*words)
        self.assertEqual(r.returncode, 0, f"control.py {' '.join(words)}: {r.stderr.decode(errors='replace')}")

    def test_commands_arrive_in_order(self):
        server = self.start_agent()
        self.assertTrue(stat.S_ISFIFO(os.stat(self.fifo).st_mode), "--listen fifo:PATH made a FIFO")
        commands = [f"command {i} of 12" for i in range(12)] + ["reload now please"]
        for c in commands[:-1]:
            self.send(c)
        self.send("reload", "now", "please")  # the words are joined into one command
        got = agentside.wait_for_lines(self.log, len(commands), "every command in the log file", proc=server)
        self.assertEqual(got, commands, "the commands, in the order written, each once")
        err = server.wait_for_stderr("control: reload now please")
        self.assertInStderr([f"control: {c}" for c in commands], err, "each command logged to stderr")

    def test_burst_of_writes(self):
        server = self.start_agent()
        commands = [f"burst {i}" for i in range(200)]
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            for i, c in enumerate(commands):  # some split across writes, as a writer may do
                data = (c + "\n").encode()
                if i % 3 == 0:
                    os.write(fd, data[:3])
                    os.write(fd, data[3:])
                else:
                    os.write(fd, data)
        finally:
            os.close(fd)
        got = agentside.wait_for_lines(self.log, len(commands), "200 commands in the log", proc=server)
        self.assertEqual(got, commands, "a burst of commands, some split across writes, in order")

    def test_overlong_command_dropped(self):
        # Control.MAX_COMMAND is 4096: "A command line longer than this is dropped". Written in
        # one go, it must not run whole; the command after it must run.
        server = self.start_agent()
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"y" * 5000 + b"\nafter the long one\n")
        finally:
            os.close(fd)
        got = agentside.wait_for_lines(self.log, 1, "the command after the long one", proc=server)
        self.assertEqual(summary(got), ["after the long one"],
                         "a 5000-byte command line is dropped (Control.MAX_COMMAND), the next one runs")

    def test_overlong_command_split_across_writes_dropped_whole(self):
        # The first 5000 bytes arrive without a newline and are dropped; the rest of that same
        # line must not then run as a command of its own.
        server = self.start_agent()
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"z" * 5000)
            server.wait_for_stderr("dropped a command longer than 4096 bytes")
            os.write(fd, b"tail of the long line\nafter the long one\n")
        finally:
            os.close(fd)
        got = agentside.wait_for_lines(self.log, 1, "the command after the long one", proc=server)
        self.assertEqual(summary(got), ["after the long one"],
                         "the tail of a dropped command line is not a command")

    def test_command_with_newline_refused(self):
        self.start_agent()
        r = self.control("two\nlines")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"a command is one line", r.stderr)

    def test_no_agent_has_it_open(self):
        os.mkfifo(self.fifo, 0o600)  # a FIFO nobody reads: as after the .socket unit stopped
        r = self.control("hello")
        self.assertEqual(r.returncode, 1, f"control.py with no reader: {r.stderr!r}")
        self.assertIn(b"no agent has it open", r.stderr)
        self.assertFalse(os.path.exists(self.log))

    def test_after_sigterm(self):
        server = self.start_agent()
        self.send("before stop")
        agentside.wait_for_lines(self.log, 1, "the first command", proc=server)
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM with a FIFO listener")
        self.assertFalse(os.path.exists(self.fifo), "the FIFO pylaunchd made for --listen is removed at exit")
        r = self.control("after stop")
        self.assertEqual(r.returncode, 1, "control.py fails at once when the agent is gone")
        self.assertIn(os.strerror(errno.ENOENT).encode(), r.stderr)
        self.assertEqual(agentside.read_lines(self.log), ["before stop"])


# --- Agent.py + client.py -----------------------------------------------------------------------

class Rot13Client:
    """agent/client.py against Agent.py; a subclass says how the server is started."""

    def setUp(self):
        super().setUp()
        self.addr = self.start_server()

    def run_client(self, *args, **kwargs):
        """agent/client.py ARGS, to completion."""
        return harness.run([sys.executable, ROT13_CLIENT, *args], **kwargs)

    def test_argument_mode(self):
        r = self.run_client(self.addr.listen_arg(), "Hello,", "World")
        self.assertEqual((r.returncode, r.stdout), (0, b"Uryyb, Jbeyq\n"), r.stderr)

    def test_stdin_mode(self):
        text = "one\ntwo\nThree Four\n" + "".join(f"line {i}\n" for i in range(100))
        r = self.run_client(self.addr.listen_arg(), input=text.encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), codecs.encode(text, "rot13"), "one answer line per line typed")

    def test_stdin_mode_empty(self):
        r = self.run_client(self.addr.listen_arg(), input=b"")
        self.assertEqual((r.returncode, r.stdout), (0, b""), r.stderr)


class Rot13ClientUnixListen(Rot13Client, harness.E2ETestCase):
    def start_server(self):
        addr = self.unix_address()
        self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        return addr

    def test_bare_path(self):
        r = self.run_client(self.addr.path, "Bare", "path")
        self.assertEqual((r.returncode, r.stdout), (0, b"Oner cngu\n"), r.stderr)

    def test_nobody_listening(self):
        missing = self.path("nobody.sock")
        r = self.run_client(f"unix:{missing}", "hello")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"client.py: unix:{missing}:".encode(), r.stderr)

    def test_usage(self):
        r = self.run_client()
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"ADDRESS is unix:PATH", r.stderr, "no address: the usage text")


class Rot13ClientSystemdTcp(Rot13Client, harness.E2ETestCase):
    def start_server(self):
        addr = self.tcp_address()
        self.activate(harness.ROT13_AGENT, listen=[addr])
        return addr


if __name__ == "__main__":
    harness.main()
