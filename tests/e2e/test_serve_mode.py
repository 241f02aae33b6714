#!/usr/bin/env python3
"""Scenario: an agent that defines serve(listeners) runs its own loop on the launcher's sockets.

The listeners are real socket.socket objects with a .name; a threaded socketserver on them answers
ROT13; SIGTERM and SIGINT stop it with status 0 (Python owns those signals in this mode); serve()
returning, raising or calling sys.exit(n) decide the exit status.
"""

import os
import signal

import harness
from harness import EXIT_AGENT_FAILED, EXIT_OK, converse, rot13

#: serve(listeners): a ThreadingMixIn socketserver on each listener; the line "whoami" describes
#: the listener, any other line comes back ROT13'd.
SOCKETSERVER_AGENT = """
import socket, socketserver, sys, threading
import pylaunchd

_U = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_L = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_U + _L, _U[13:] + _U[:13] + _L[13:] + _L[:13])


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            if line == b"whoami\\n":
                l = self.server.socket
                desc = f"{isinstance(l, socket.socket)} {l.name} {pylaunchd.started_by} {len(LISTENERS)}"
                self.wfile.write(desc.encode() + b"\\n")
            else:
                self.wfile.write(line.translate(_ROT13))


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True

    def __init__(self, listener):
        # An activated socket is already bound and listening: adopt it, bind nothing.
        socketserver.BaseServer.__init__(self, listener.getsockname(), Handler)
        self.socket = listener


LISTENERS = []


def serve(listeners):
    LISTENERS.extend(listeners)
    servers = [Server(l) for l in listeners]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("serving", len(servers), file=sys.stderr, flush=True)
    servers[0].serve_forever()  # SIGTERM raises KeyboardInterrupt here
"""

#: serve(listeners) answers one connection, then does what argv[1] says: return, raise, exit N.
ONESHOT_AGENT = """
import sys

def serve(listeners):
    conn, _ = listeners[0].accept()
    with conn:
        conn.sendall(b"once\\n")
    what = sys.argv[1]
    if what == "raise":
        raise RuntimeError("serve failed on purpose (e2e)")
    if what.startswith("exit"):
        sys.exit(int(what[4:]))
"""

#: Both entry points: serve() for listening sockets, handle() for one handed-over connection.
BOTH_AGENT = """
def serve(listeners):
    while True:
        conn, _ = listeners[0].accept()
        with conn:
            try:
                conn.sendall(b"from serve\\n")
            except OSError:
                pass  # a readiness probe that did not wait for its answer

def handle(conn):
    conn.sendall(b"from handle\\n")
"""


class SocketServerAgent(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("ss_agent.py", SOCKETSERVER_AGENT)

    def start_listen(self, *addrs):
        server = self.serve_listen(self.agent, listen=list(addrs))
        server.wait_for_stderr("serving")
        return server

    def test_answers(self):
        addr = self.unix_address()
        self.start_listen(addr)
        c = self.client(addr)
        self.assertEqual(c.exchange(b"Hello from serve mode"), b"Uryyb sebz freir zbqr", "ROT13 via serve()")
        self.assertEqual(c.exchange(b"whoami"), f"True unix:{addr.path} listen 1".encode(),
                         "the listener is a socket.socket with a .name, and started_by says 'listen'")
        data = b"".join(b"line %d of many\n" % i for i in range(500))
        self.assertEqual(converse(addr, data), rot13(data), "500 lines in one stream")

    def test_concurrent_clients(self):
        addr = self.tcp_address()
        self.start_listen(addr)

        def client(i):
            with harness.LineClient(addr) as c:
                for j in range(10):
                    line = f"client {i} line {j}".encode()
                    got = c.exchange(line)
                    if got != rot13(line):
                        raise AssertionError(f"got {got!r} for {line!r}")

        self.assertEqual(harness.run_concurrently(client, 20), [], "20 concurrent clients on serve()")

    def test_two_listeners(self):
        a, b = self.unix_address("a.sock"), self.tcp_address()
        self.start_listen(a, b)
        self.assertServesRot13(a, "serve(), first listener")
        self.assertServesRot13(b, "serve(), second listener")
        self.assertEqual(converse(b, b"whoami\n"), f"True {b.listen_arg()} listen 2\n".encode())

    def test_sigterm_stops_it(self):
        addr = self.unix_address()
        server = self.start_listen(addr)
        self.assertServesRot13(addr, "before SIGTERM")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM in serve() mode")
        self.assertFalse(os.path.exists(addr.path), "the --listen socket file is removed at exit")
        self.assertNotIn("Traceback", server.stderr(), "a stop by signal is not an error")

    def test_sigint_stops_it(self):
        addr = self.unix_address()
        server = self.start_listen(addr)
        server.send_signal(signal.SIGINT)
        self.assertExitStatus(server, EXIT_OK, "SIGINT in serve() mode")
        self.assertFalse(os.path.exists(addr.path), "the --listen socket file is removed at exit")

    def test_under_systemd_with_fdnames(self):
        a, b = self.unix_address("a.sock"), self.unix_address("b.sock")
        sa = self.activate(self.agent, listen=[a, b], fdnames=["alpha", "beta"])
        self.assertEqual(converse(a, b"whoami\n"), b"True alpha systemd 2\n", "first listener named by --fdname")
        self.assertEqual(converse(b, b"whoami\n"), b"True beta systemd 2\n", "second listener named by --fdname")
        self.assertServesRot13(b, "serve() under systemd-socket-activate")
        sa.send_signal(signal.SIGTERM)
        self.assertExitStatus(sa, EXIT_OK, "SIGTERM in serve() mode under systemd-socket-activate")


class ServeOutcome(harness.E2ETestCase):
    """What serve() does when it ends decides the exit status."""

    def run_oneshot(self, what):
        addr = self.unix_address()
        server = self.launch(self.write_agent("oneshot_agent.py", ONESHOT_AGENT), what, listen=[addr])
        # No readiness probe: the agent answers exactly one connection, and it must be ours.
        sock = harness.connect_when_ready(addr, proc=server)
        self.assertEqual(converse(addr, b"", sock=sock), b"once\n", "serve() answered")
        return server, addr

    def test_returns(self):
        server, addr = self.run_oneshot("return")
        self.assertExitStatus(server, EXIT_OK, "serve() returned")
        self.assertFalse(os.path.exists(addr.path), "socket file removed")

    def test_raises(self):
        server, addr = self.run_oneshot("raise")
        self.assertExitStatus(server, EXIT_AGENT_FAILED, "serve() raised")
        self.assertInStderr(["Traceback", "RuntimeError", "serve failed on purpose (e2e)"], server.stderr(),
                            "serve()'s exception is printed")
        self.assertFalse(os.path.exists(addr.path), "socket file removed")

    def test_sys_exit(self):
        server, addr = self.run_oneshot("exit4")
        self.assertExitStatus(server, 4, "serve() called sys.exit(4)")
        self.assertFalse(os.path.exists(addr.path), "socket file removed")


class BothEntryPoints(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("both_agent.py", BOTH_AGENT)

    def test_listening_socket_goes_to_serve(self):
        addr = self.unix_address()
        self.serve_listen(self.agent, listen=[addr])
        self.assertEqual(converse(addr, b""), b"from serve\n", "listening sockets: serve() runs the loop")

    def test_accepted_connection_goes_to_handle(self):
        addr = self.unix_address()
        self.activate(self.agent, listen=[addr], accept=True)
        self.assertEqual(converse(addr, b""), b"from handle\n", "Accept=yes, one connection: handle() is called")


if __name__ == "__main__":
    harness.main()
