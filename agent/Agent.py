"""The ROT13 agent: every line a client sends comes back ROT13'd.

pylaunchd calls handle(conn) once per connection, in a thread of its own. This file imports
nothing: whatever an agent imports at the top is paid on every cold start, before the first
byte is answered.
"""

#: A line longer than this is refused: a client must not make the agent buffer without bound.
MAX_LINE = 64 * 1024
#: A client that sends nothing for this long is disconnected.
IDLE_TIMEOUT = 300.0

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_UPPER + _LOWER, _UPPER[13:] + _UPPER[:13] + _LOWER[13:] + _LOWER[:13])


def rot13(data: bytes) -> bytes:
    """ROT13 of the ASCII letters in data; every other byte is unchanged."""
    return data.translate(_ROT13)


def handle(conn) -> None:
    """Answer each complete line with its ROT13, until the client closes its side."""
    conn.settimeout(IDLE_TIMEOUT)
    pending = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            return
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
