#!/usr/bin/env python3
"""Scenario: what handle() receives for each kind of activated socket, under systemd-socket-activate.

Stream sockets (unix path, abstract unix name, TCP over 127.0.0.1 and ::1) and seqpacket: an
accepted connection, a blocking pylaunchd.Connection with int family and type. Datagram sockets
(unix path, UDP): the activated socket itself, a Connection whose fd is the listener's, called once
per waiting datagram and kept open between calls. FIFOs (--listen fifo:PATH, and a FIFO passed as
fd 3 with LISTEN_FDS): a non-blocking pylaunchd.Pipe whose read() gives the bytes written, then None.
The agent describes what it got; the test asserts it.
"""

import errno
import json
import os
import signal
import socket
import uuid

import agentside
import harness
from harness import EXIT_OK, rot13

#: Describes the object handle() got. Stream: one line in, report + ROT13 line out. Seqpacket:
#: the report packet, then each message back ROT13'd as its own packet. Datagram: the report
#: with the ROT13 of the datagram, sent back with sendto. FIFO: a report line appended to argv[1].
KIND_AGENT = """
import json, sys
import pylaunchd

_U = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_L = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_U + _L, _U[13:] + _U[:13] + _L[13:] + _L[:13])

def address(a):
    return list(a) if isinstance(a, tuple) else repr(a)

def describe(obj):
    d = {
        "class": type(obj).__name__,
        "module": type(obj).__module__,
        "connection": isinstance(obj, pylaunchd.Connection),
        "pipe": isinstance(obj, pylaunchd.Pipe),
        "fileno": obj.fileno(),
        "started_by": pylaunchd.started_by,
        "listeners": [[l.name, l.fd, l.family, l.kind, l.role] for l in pylaunchd.listeners()],
    }
    if not d["pipe"]:
        d.update(family=obj.family, type=obj.type, int_family=type(obj.family) is int,
                 int_type=type(obj.type) is int, timeout=obj.gettimeout(), sockname=address(obj.getsockname()))
    return d

def handle(obj):
    if isinstance(obj, pylaunchd.Pipe):
        first = obj.read()
        second = obj.read()
        d = describe(obj)
        import io
        d.update(name=obj.name, data=first.decode(), then=repr(second), fileio=isinstance(obj, io.FileIO),
                 readable=obj.readable(), writable=obj.writable())
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps(d) + "\\n")
        return
    if obj.type == 2:  # SOCK_DGRAM: the socket itself, one datagram waiting
        data, addr = obj.recvfrom(65536)
        d = describe(obj)
        d["answer"] = data.translate(_ROT13).decode()
        obj.sendto(json.dumps(d).encode(), addr)
        return
    if obj.type == 5:  # SOCK_SEQPACKET: every message is its own recv
        messages = []
        while True:
            m = obj.recv(65536)
            if not m:
                break
            messages.append(m)
        d = describe(obj)
        d["peername"] = address(obj.getpeername())
        obj.send(json.dumps(d).encode())
        for m in messages:
            obj.send(m.translate(_ROT13))
        return
    line = b""
    while not line.endswith(b"\\n"):
        chunk = obj.recv(65536)
        if not chunk:
            return
        line += chunk
    d = describe(obj)
    d["peername"] = address(obj.getpeername())
    obj.sendall(json.dumps(d).encode() + b"\\n" + line.translate(_ROT13))
"""


class Kinds(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("kind_agent.py", KIND_AGENT)

    def activate_kind(self, listen_arg: str, name: str, extra=()):
        return agentside.socket_activate(self, [listen_arg], [harness.BINARY, self.agent, self.path("fifo.log")],
                                         extra=[*extra, f"--fdname={name}"])

    # -- stream ------------------------------------------------------------------------------

    def stream_exchange(self, family: int, sockaddr, proc) -> tuple:
        def connect():
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(harness.DEADLINE)
            try:
                s.connect(sockaddr)
            except OSError:
                s.close()
                return None
            return s

        s = harness.wait_for(connect, f"a connection to {sockaddr!r}", proc=proc)
        with s:
            line = b"Stream Kind, Hello\n"
            s.sendall(line)
            s.shutdown(socket.SHUT_WR)
            client_name = s.getsockname()
            data = agentside.recv_until_closed(s)
        report, _, answer = data.partition(b"\n")
        self.assertEqual(answer, rot13(line), "the ROT13 of the line, after the report")
        return json.loads(report), client_name

    def check_connection(self, d: dict, family: int, type_: int, listener: list):
        # A datagram socket is a Datagram: a Connection whose recv*() check each sender.
        cls = "Datagram" if type_ == socket.SOCK_DGRAM else "Connection"
        self.assertEqual((d["class"], d["module"], d["connection"], d["pipe"]),
                         (cls, "pylaunchd", True, False), f"handle() gets a pylaunchd.{cls}")
        self.assertEqual((d["family"], d["type"]), (family, type_))
        self.assertTrue(d["int_family"] and d["int_type"], "family and type are plain ints")
        self.assertIsNone(d["timeout"], "a blocking connection")
        self.assertEqual(d["listeners"], [listener])
        self.assertEqual(d["started_by"], "systemd")

    def test_stream_unix_path(self):
        path = self.path("stream.sock")
        sa = self.activate_kind(path, "unixstream")
        d, _ = self.stream_exchange(socket.AF_UNIX, path, sa)
        self.check_connection(d, socket.AF_UNIX, socket.SOCK_STREAM, ["unixstream", 3, "unix", "stream", "listening"])
        self.assertNotEqual(d["fileno"], 3, "an accepted connection, not the listening socket")
        self.assertEqual(d["sockname"], repr(path))

    def test_stream_abstract_unix_name(self):
        name = f"pylaunchd-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        sa = self.activate_kind(f"@{name}", "abstract")
        d, _ = self.stream_exchange(socket.AF_UNIX, "\0" + name, sa)
        self.check_connection(d, socket.AF_UNIX, socket.SOCK_STREAM, ["abstract", 3, "unix", "stream", "listening"])
        self.assertEqual(d["sockname"], repr(b"\0" + name.encode()), "the abstract name, no file")
        self.assertFalse(os.path.exists(name) or os.path.exists("@" + name))

    def test_stream_tcp_ipv4(self):
        port = harness.free_tcp_port()
        sa = self.activate_kind(f"127.0.0.1:{port}", "tcp4")
        d, client = self.stream_exchange(socket.AF_INET, ("127.0.0.1", port), sa)
        self.check_connection(d, socket.AF_INET, socket.SOCK_STREAM, ["tcp4", 3, "ipv4", "stream", "listening"])
        self.assertEqual(d["peername"], list(client), "the connection's peer is the client")

    def test_stream_tcp_ipv6(self):
        if not harness.ipv6_loopback_works():
            self.skipTest("no IPv6 loopback (::1) on this machine")
        port = harness.free_tcp_port("::1")
        sa = self.activate_kind(f"[::1]:{port}", "tcp6")
        d, client = self.stream_exchange(socket.AF_INET6, ("::1", port), sa)
        self.check_connection(d, socket.AF_INET6, socket.SOCK_STREAM, ["tcp6", 3, "ipv6", "stream", "listening"])
        self.assertEqual(d["peername"][:2], list(client[:2]), "the connection's peer is the client")

    # -- seqpacket ---------------------------------------------------------------------------

    def test_seqpacket_keeps_message_boundaries(self):
        path = self.path("seq.sock")
        sa = self.activate_kind(path, "seq", extra=["--seqpacket"])
        messages = [b"a", b"bb", b"Hello, World", b"x" * 1000, b"Last"]
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(s.close)
        s.settimeout(harness.DEADLINE)
        harness.wait_for(lambda: s.connect_ex(path) == 0, "the seqpacket socket", proc=sa)
        for m in messages:
            s.send(m)
        s.shutdown(socket.SHUT_WR)
        d = json.loads(s.recv(65536))
        self.check_connection(d, socket.AF_UNIX, socket.SOCK_SEQPACKET, ["seq", 3, "unix", "seqpacket", "listening"])
        got = []
        while True:
            m = s.recv(65536)
            if not m:
                break
            got.append(m)
        self.assertEqual(got, [rot13(m) for m in messages], "one recv per message, each answered as one packet")

    # -- datagram ----------------------------------------------------------------------------

    def datagrams(self, client: socket.socket, dest, proc, listener: list, family: int):
        client.settimeout(harness.DEADLINE)
        filenos = set()
        for i in range(5):
            msg = b"Datagram %d, one at a time" % i
            client.sendto(msg, dest)
            d = json.loads(client.recv(65536))
            self.assertEqual(d["answer"], rot13(msg).decode(), f"datagram {i} answered with sendto")
            self.check_connection(d, family, socket.SOCK_DGRAM, listener)
            filenos.add(d["fileno"])
        self.assertEqual(filenos, {3}, "each call gets the activated socket itself (fd 3), not a copy")
        # A burst: each waiting datagram is one more call, none lost.
        burst = [b"Burst datagram %d" % i for i in range(20)]
        for msg in burst:
            client.sendto(msg, dest)
        answers = sorted(json.loads(client.recv(65536))["answer"] for _ in burst)
        self.assertEqual(answers, sorted(rot13(m).decode() for m in burst), "20 datagrams sent at once, 20 answers")
        self.assertTrue(proc.alive(), "the launcher keeps serving the datagram socket")

    def test_datagram_unix_path(self):
        path = self.path("dgram.sock")
        sa = self.activate_kind(path, "unixdgram", extra=["--datagram"])
        client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(client.close)
        client.bind(self.path("client.sock"))  # an address to answer to
        self.datagrams(client, path, sa, ["unixdgram", 3, "unix", "datagram", "datagram"], socket.AF_UNIX)

    def test_datagram_udp(self):
        port = agentside.free_udp_port()
        sa = self.activate_kind(f"127.0.0.1:{port}", "udp", extra=["--datagram"])
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(client.close)
        client.bind(("127.0.0.1", 0))
        self.datagrams(client, ("127.0.0.1", port), sa, ["udp", 3, "ipv4", "datagram", "datagram"], socket.AF_INET)

    # -- FIFO --------------------------------------------------------------------------------

    def write_fifo(self, path: str, data: bytes, proc) -> None:
        def open_for_writing():
            try:
                return [os.open(path, os.O_WRONLY | os.O_NONBLOCK)]
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENXIO):  # not made yet, or nobody holds it open yet
                    return None
                raise

        fd = harness.wait_for(open_for_writing, f"a reader on {path}", proc=proc)[0]
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def check_fifo(self, proc, fifo: str, name: str, started_by: str):
        log = self.path("fifo.log")
        for i, data in enumerate([b"first write\n", b"second, no newline", b"third\nwith two lines\n"]):
            self.write_fifo(fifo, data, proc)
            d = json.loads(agentside.wait_for_lines(log, i + 1, f"the report of write {i}", proc=proc)[i])
            self.assertEqual((d["class"], d["module"], d["pipe"], d["connection"], d["fileio"]),
                             ("Pipe", "pylaunchd", True, False, True), "handle() gets a pylaunchd.Pipe (an io.FileIO)")
            self.assertEqual(d["data"], data.decode(), "read() gives what was written")
            self.assertEqual(d["then"], "None", "then None: non-blocking, nothing left")
            self.assertEqual((d["readable"], d["writable"]), (True, False))
            self.assertEqual(d["name"], name)
            self.assertEqual(d["started_by"], started_by)
            self.assertEqual([[n, f, k, r] for n, _, f, k, r in d["listeners"]], [[name, "fifo", "fifo", "fifo"]])
            self.assertEqual(d["listeners"][0][1], d["fileno"], "the FIFO's own fd, kept between calls")

    def test_fifo_listen(self):
        fifo = self.path("ctl.fifo")
        server = self.launch(self.agent, self.path("fifo.log"), options=["--listen", f"fifo:{fifo}"])
        self.check_fifo(server, fifo, f"fifo:{fifo}", "listen")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM with a FIFO")

    def test_fifo_listen_fds(self):
        # As systemd's ListenFIFO=: the FIFO open on fd 3, LISTEN_PID the pid that execs pylaunchd.
        fifo = self.path("activated.fifo")
        os.mkfifo(fifo, 0o600)
        server = self.start(["sh", "-c", 'exec 3<>"$E2E_FIFO"; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=ctl '
                             'exec "$0" "$@"', harness.BINARY, self.agent, self.path("fifo.log")],
                            name="pylaunchd", env=harness.clean_env({"E2E_FIFO": fifo}))
        self.check_fifo(server, fifo, "ctl", "systemd")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM with an activated FIFO")
        self.assertTrue(os.path.exists(fifo), "an inherited FIFO is never removed")


if __name__ == "__main__":
    harness.main()
