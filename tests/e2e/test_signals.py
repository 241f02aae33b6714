#!/usr/bin/env python3
"""Scenario: signals and sys.exit() stop the launcher cleanly, in handle(conn) mode.

SIGTERM and SIGINT idle (exit 0, the --listen socket removed), SIGTERM while a reply is in flight
(the client still gets all of it), SIGHUP (the agent is reloaded, serving goes on), a handler that
never ends (abandoned after --stop-timeout), and a handler calling sys.exit(n) (the launcher exits n).
"""

import os
import signal

import harness
from harness import EXIT_OK, converse

#: On each line: "working", a one-second pause, then "done LINE".
SLOW_AGENT = """
import time

def handle(conn):
    pending = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        pending += chunk
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            conn.sendall(b"working\\n")
            time.sleep(1.0)
            conn.sendall(b"done " + line + b"\\n")
"""

#: Echoes lines; "exit ARG" calls sys.exit(ARG) (an int when ARG is one, else the string).
EXIT_AGENT = """
import sys

def handle(conn):
    pending = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        pending += chunk
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            if line.startswith(b"exit "):
                arg = line[5:].decode()
                conn.sendall(b"bye\\n")
                sys.exit(int(arg) if arg.lstrip("-").isdigit() else arg)
            conn.sendall(line + b"\\n")
"""


class Idle(harness.E2ETestCase):
    def stop_idle(self, signo):
        addr = self.unix_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        self.assertServesRot13(addr, "before the signal")
        server.send_signal(signo)
        self.assertExitStatus(server, EXIT_OK, f"{signal.Signals(signo).name} while idle")
        self.assertFalse(os.path.exists(addr.path), f"{signal.Signals(signo).name}: the --listen socket file "
                                                    "is removed at exit")

    def test_sigterm(self):
        self.stop_idle(signal.SIGTERM)

    def test_sigint(self):
        self.stop_idle(signal.SIGINT)

    def test_sigterm_before_any_connection(self):
        addr = self.unix_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM right after start")
        self.assertFalse(os.path.exists(addr.path), "socket file removed")

    def test_sigterm_tcp(self):
        addr = self.tcp_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr])
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM, --listen tcp")
        with self.assertRaises(ConnectionRefusedError, msg="the TCP port is closed after exit"):
            addr.connect().close()

    def test_sigterm_under_systemd_keeps_the_inherited_socket(self):
        addr = self.unix_address()
        server = self.activate(harness.ROT13_AGENT, listen=[addr])
        self.assertServesRot13(addr, "under systemd-socket-activate")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM under systemd-socket-activate")
        self.assertTrue(os.path.exists(addr.path), "an inherited socket file is systemd's: never unlinked")



#: Answers every connection with its version; the tests rewrite the file between SIGHUPs.
VERSIONED_AGENT = """
VERSION = {version!r}

def handle(conn):
    conn.sendall(VERSION.encode() + b"\\n")
"""


#: Answers with its own VERSION and the VERSION of the module sys.modules holds under its name.
NAMED_AGENT = """
import sys

VERSION = {version!r}

def handle(conn):
    conn.sendall(("%s %s\\n" % (VERSION, sys.modules[__name__].VERSION)).encode())
"""


class Reload(harness.E2ETestCase):
    """SIGHUP: the agent's file is imported afresh; the launcher keeps running and serving."""

    def setUp(self):
        super().setUp()
        self.addr = self.unix_address()
        self.agent = self.write_agent("versioned_agent.py", VERSIONED_AGENT.format(version="v1"))
        self.server = self.serve_listen(self.agent, listen=[self.addr])
        self.assertEqual(converse(self.addr, b""), b"v1\n")

    def test_sighup_reloads_the_agent(self):
        self.write_agent("versioned_agent.py", VERSIONED_AGENT.format(version="version two"))
        self.server.send_signal(signal.SIGHUP)
        self.server.wait_for_stderr("reloaded agent")
        self.assertEqual(converse(self.addr, b""), b"version two\n", "after SIGHUP, the new code answers")
        self.assertTrue(self.server.alive(), "SIGHUP does not stop the launcher")

    def test_sighup_with_a_broken_agent_keeps_the_old_code(self):
        self.write_agent("versioned_agent.py", "def handle(conn)\n    pass\n")
        self.server.send_signal(signal.SIGHUP)
        err = self.server.wait_for_stderr("keeping the code already loaded")
        self.assertInStderr("SyntaxError", err, "the failed reload says why")
        self.assertTrue(self.server.alive(), "a failed reload does not stop the launcher")
        self.assertEqual(converse(self.addr, b""), b"v1\n", "the code already loaded goes on serving")

    def test_failed_reload_leaves_no_half_module_in_sys_modules(self):
        # The new file runs half way (VERSION rebound) and then raises: the module the agent's
        # name maps to must still be the old one, not the half-imported one.
        self.write_agent("versioned_agent.py", NAMED_AGENT.format(version="v1"))
        self.server.send_signal(signal.SIGHUP)
        self.server.wait_for_stderr("reloaded agent")
        self.assertEqual(converse(self.addr, b""), b"v1 v1\n")
        self.write_agent("versioned_agent.py",
                         NAMED_AGENT.format(version="half") + "raise RuntimeError('half way through the import')\n")
        self.server.send_signal(signal.SIGHUP)
        self.assertInStderr("half way through", self.server.wait_for_stderr("keeping the code already loaded"),
                            "the failed reload says why")
        self.assertEqual(converse(self.addr, b""), b"v1 v1\n",
                         "the handler and sys.modules both still hold the code already loaded")

    def test_sighup_with_an_agent_lacking_handle_keeps_the_old_code(self):
        self.write_agent("versioned_agent.py", "def helper(conn):\n    pass\n")
        self.server.send_signal(signal.SIGHUP)
        self.server.wait_for_stderr("keeping the code already loaded")
        self.assertEqual(converse(self.addr, b""), b"v1\n", "the code already loaded goes on serving")


class InFlight(harness.E2ETestCase):
    def test_sigterm_during_slow_reply(self):
        addr = self.unix_address()
        server = self.serve_listen(self.write_agent("slow_agent.py", SLOW_AGENT), listen=[addr])
        c = self.client(addr)
        c.send(b"job\n")
        self.assertEqual(c.readline(), b"working\n", "the handler has started on the line")
        server.send_signal(signal.SIGTERM)
        self.assertEqual(c.readline(), b"done job\n", "the in-flight client gets its full answer after SIGTERM")
        self.assertTrue(server.alive(), "while the client keeps its connection open, the launcher waits for it")
        c.shutdown_write()
        self.assertEqual(c.read_all(), b"", "then the connection ends cleanly")
        self.assertExitStatus(server, EXIT_OK, "SIGTERM with a reply in flight: exit 0 once it is done")
        self.assertFalse(os.path.exists(addr.path), "socket file removed")
        self.assertInStderr("SIGTERM", server.stderr(), "the stop is logged")

    def test_sigterm_during_slow_replies_on_several_connections(self):
        addr = self.unix_address()
        server = self.serve_listen(self.write_agent("slow_agent.py", SLOW_AGENT), listen=[addr])
        clients = [self.client(addr) for _ in range(4)]
        for i, c in enumerate(clients):
            c.send(b"job %d\n" % i)
        for c in clients:
            self.assertEqual(c.readline(), b"working\n")
        server.send_signal(signal.SIGTERM)
        for i, c in enumerate(clients):
            self.assertEqual(c.readline(), b"done job %d\n" % i, f"in-flight client {i} gets its answer")
            c.close()
        self.assertExitStatus(server, EXIT_OK, "SIGTERM with 4 replies in flight")

    def test_handler_that_never_ends_is_abandoned_after_grace(self):
        # A client that keeps its connection open past SIGTERM: the launcher waits for its grace
        # period (--stop-timeout), then leaves anyway, still with status 0.
        addr = self.unix_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr], options=["--stop-timeout", "1"])
        held = self.client(addr)
        self.assertEqual(held.exchange(b"hold"), b"ubyq", "the handler is busy with the held client")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM with a handler that never returns")
        self.assertInStderr("abandoning", server.stderr(), "the abandoned handler is logged")
        self.assertFalse(os.path.exists(addr.path), "socket file removed even when a handler was abandoned")
        held.settimeout(harness.DEADLINE)
        self.assertEqual(held.readline(), b"", "the held connection is closed by the exit")

    def test_sigterm_is_seen_while_every_thread_is_busy(self):
        # Regression: only the accepting thread used to read the signal pipe, so with every
        # thread in a handler (--max-connections 1 and one silent client) SIGTERM went unseen
        # until a handler returned. The main thread reads it now.
        addr = self.unix_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr],
                                   options=["--max-connections", "1", "--stop-timeout", "1"])
        held = self.client(addr)
        self.assertEqual(held.exchange(b"hold"), b"ubyq", "the one thread is busy with the held client")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM with the only thread in a handler")
        self.assertInStderr("SIGTERM", server.stderr(), "the signal was seen")
        self.assertInStderr("abandoning", server.stderr(), "and the stop grace applied")
        held.close()


class HandlerExit(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.addr = self.unix_address()
        self.server = self.serve_listen(self.write_agent("exit_agent.py", EXIT_AGENT), listen=[self.addr])

    def test_sys_exit_3(self):
        self.assertEqual(converse(self.addr, b"hello\n"), b"hello\n", "served before the exit")
        self.assertEqual(converse(self.addr, b"before\nexit 3\nafter\n"), b"before\nbye\n",
                         "the handler answers up to sys.exit(3), then the connection closes")
        self.assertExitStatus(self.server, 3, "a handler's sys.exit(3) ends the launcher with 3")
        self.assertFalse(os.path.exists(self.addr.path), "socket file removed")
        self.assertNotIn("Traceback", self.server.stderr(), "SystemExit is not printed as an error")

    def test_sys_exit_0(self):
        self.assertEqual(converse(self.addr, b"exit 0\n"), b"bye\n")
        self.assertExitStatus(self.server, EXIT_OK, "a handler's sys.exit(0)")

    def test_sys_exit_string(self):
        self.assertEqual(converse(self.addr, b"exit fatal: e2e message\n"), b"bye\n")
        self.assertExitStatus(self.server, 1, "sys.exit('message') exits 1, as python does")
        self.assertInStderr("fatal: e2e message", self.server.stderr(), "and prints the message")

    def test_sys_exit_waits_for_other_connections(self):
        other = self.client(self.addr)
        self.assertEqual(other.exchange(b"in flight"), b"in flight")
        self.assertEqual(converse(self.addr, b"exit 5\n"), b"bye\n")
        # The launcher stops accepting but lets the other connection finish.
        self.assertEqual(other.exchange(b"still served"), b"still served",
                         "a connection in flight is served after another handler's sys.exit")
        other.close()
        self.assertExitStatus(self.server, 5, "sys.exit(5) with another connection in flight")


if __name__ == "__main__":
    harness.main()
