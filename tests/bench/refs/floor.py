"""The floor: the least Python can do to serve ROT13 on a socket-activated fd 3.

Imports only `_socket` (the C module under `socket`; `import socket` itself costs more than
starting the interpreter). One connection at a time, a blocking accept loop. Given a connected
socket (systemd Accept=yes, `systemd-socket-activate --accept`) it serves that one and exits.

    python3.11 -I -S floor.py [--idle-timeout SECONDS]

--idle-timeout: exit when no connection arrives for that long (a timeout on accept), so that
under a service manager every connection spaced further apart starts a new process.
"""

import _socket
import sys

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_UPPER + _LOWER, _UPPER[13:] + _UPPER[:13] + _LOWER[13:] + _LOWER[:13])


def handle(conn):
    """Answer each complete line with its ROT13 until EOF, as agent/Agent.py does."""
    pending = b""
    while chunk := conn.recv(65536):
        pending += chunk
        end = pending.rfind(b"\n") + 1
        if end:
            conn.sendall(pending[:end].translate(_ROT13))
            pending = pending[end:]
    if pending:
        conn.sendall(pending.translate(_ROT13))


def main(argv):
    idle = float(argv[2]) if len(argv) == 3 and argv[1] == "--idle-timeout" else None
    sock = _socket.socket(fileno=3)
    if not sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
        handle(sock)  # a connection, not a listener: Accept=yes
        return
    if idle:
        sock.settimeout(idle)
    while True:
        try:
            fd, _addr = sock._accept()
        except TimeoutError:
            return
        conn = _socket.socket(fileno=fd)
        try:
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()


main(sys.argv)
