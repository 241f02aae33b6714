"""What a user writes from the classic blog recipe: check LISTEN_PID, `socket.socket(fileno=3)`,
an accept loop serving one connection at a time, ROT13 with the same table as agent/Agent.py.
Given a connected socket (Accept=yes, `systemd-socket-activate --accept`) it serves that one.

    python3.11 -I -S classic.py [--idle-timeout SECONDS]

--idle-timeout: exit when no connection arrives for that long (a timeout on accept).
"""

import os
import socket
import sys

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_UPPER + _LOWER, _UPPER[13:] + _UPPER[:13] + _LOWER[13:] + _LOWER[:13])
SD_LISTEN_FDS_START = 3


def handle(conn):
    pending = b""
    while chunk := conn.recv(65536):
        pending += chunk
        end = pending.rfind(b"\n") + 1
        if end:
            conn.sendall(pending[:end].translate(_ROT13))
            pending = pending[end:]
    if pending:
        conn.sendall(pending.translate(_ROT13))


def main():
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        sys.exit("not socket-activated (LISTEN_PID is not ours)")
    idle = float(sys.argv[2]) if sys.argv[1:2] == ["--idle-timeout"] else None
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        with sock:
            handle(sock)
        return
    sock.settimeout(idle)
    while True:
        try:
            conn, _addr = sock.accept()
        except socket.timeout:
            return
        with conn:
            try:
                handle(conn)
            except OSError:
                pass


if __name__ == "__main__":
    main()
