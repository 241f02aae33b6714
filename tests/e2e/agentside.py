"""agentside.py: what the scenarios of the agent's side share beyond harness.py.

Used by test_examples, test_module, test_socket_kinds, test_venv and test_pyoptions: starting
systemd-socket-activate with arguments harness.activate() does not take (--datagram, --seqpacket,
an abstract name) and waiting for its "Listening on" lines instead of probing with a stream
connect; files an agent writes, waited for line by line; a read that keeps what arrived before a
reset; a free UDP port; the version the launcher says it embeds. Stdlib only.
"""

import os
import re
import select
import socket

import harness


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody has bound right now (as harness.free_tcp_port, for datagrams)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def socket_activate(case: harness.E2ETestCase, listen_args, launcher_argv, extra=(), setenv=()) -> harness.Launched:
    """systemd-socket-activate [EXTRA] -l ARG... [-E KV]... LAUNCHER_ARGV, waiting until it has said
    "Listening on" for each -l. No probe connection is made: in Accept=no mode the first connection
    or datagram starts pylaunchd, and a probe would be the agent's first caller."""
    argv = ["systemd-socket-activate", *extra]
    for a in listen_args:
        argv += ["-l", a]
    for kv in setenv:
        argv += ["-E", kv]
    sa = case.start([*argv, *launcher_argv], name="systemd-socket-activate")
    harness.wait_for(lambda: sa.stderr().count("Listening on ") >= len(listen_args),
                     f"systemd-socket-activate to listen on {list(listen_args)}", proc=sa)
    return sa


def read_lines(path: str) -> list:
    """The complete lines of a text file, [] while it does not exist."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [line.decode("utf-8", "replace") for line in data.split(b"\n")[:-1]]


def wait_for_lines(path: str, n: int, what: str, proc=None) -> list:
    """Poll until path holds at least n complete lines; returns them all."""
    return harness.wait_for(lambda: len(read_lines(path)) >= n and read_lines(path), what, proc=proc)


def recv_until_closed(sock: socket.socket) -> bytes:
    """Everything the peer sent before it closed. A peer that closes with our bytes still unread
    resets the connection (ECONNRESET after the data on a unix socket): that is its close too."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_ready(fd: int, timeout: float = 0.0) -> bytes:
    """What a pipe holds now (waiting at most timeout for the first byte), b"" when nothing."""
    out = b""
    while select.select([fd], [], [], timeout)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        out += chunk
        timeout = 0.0
    return out


def launcher_versions() -> tuple:
    """(pylaunchd's version, the MAJOR.MINOR of the Python it embeds), as --version says them."""
    r = harness.run([harness.BINARY, "--version"])
    text = r.stdout.decode() + r.stderr.decode()
    m = re.search(r"pylaunchd (\S+) \(embedded Python (\d+\.\d+)", text)
    if r.returncode != 0 or not m:
        raise AssertionError(f"pylaunchd --version: status {r.returncode}, output {text!r}")
    return m.group(1), m.group(2)
