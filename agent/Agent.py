"""The ROT13 agent: every line a client sends comes back ROT13'd.

pylaunchd calls handle(conn) for each connection. This file imports nothing but pylaunchd (built
into the launcher, already loaded): whatever an agent imports at the top is paid on every cold
start, before the first byte is answered.
"""

import pylaunchd

#: A line longer than this is refused: a client must not make the agent buffer without bound.
MAX_LINE = 64 * 1024
#: A client that sends nothing for this long is disconnected.
IDLE_TIMEOUT = 300.0

# Every connection starts with this limit on each recv and send (the kernel's SO_RCVTIMEO and
# SO_SNDTIMEO, set once for all: not conn.settimeout(), which adds a poll() to every call).
pylaunchd.set_connection_timeout(IDLE_TIMEOUT)

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_UPPER + _LOWER, _UPPER[13:] + _UPPER[:13] + _LOWER[13:] + _LOWER[:13])


def rot13(data: bytes) -> bytes:
    """ROT13 of the ASCII letters in data; every other byte is unchanged."""
    return data.translate(_ROT13)


def handle(conn) -> None:
    """Answer each complete line with its ROT13, until the client closes its side."""
    pending = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            pending += chunk
            end = pending.rfind(b"\n") + 1
            if end:
                conn.sendall(rot13(pending[:end]))
                pending = pending[end:]
            if len(pending) > MAX_LINE:
                conn.sendall(b"error: line longer than %d bytes\n" % MAX_LINE)
                return
        # A last line without its newline is still answered.
        if pending:
            conn.sendall(rot13(pending))
    except BlockingIOError:  # silent, or not reading our answers, for IDLE_TIMEOUT seconds
        return
