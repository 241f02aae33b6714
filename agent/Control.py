"""A control-channel agent: a control program writes commands into a named pipe; this reads them.

After the FreeBSD named-pipe daemon write-up, with the fiddly parts moved out of the agent: the
FIFO belongs to the service manager (systemd ListenFIFO=), pylaunchd polls it, and handle(pipe)
runs only when a writer has written. Run it with units/agent-fifo.socket.in, and write with
agent/control.py.

Each command is one line. Every command is logged to stderr (the journal) and, when the agent
was started with a file argument (``pylaunchd Control.py /path/to/log``), appended to that file.
"""

import sys

#: A command line longer than this is dropped: a writer must not make the agent buffer forever.
MAX_COMMAND = 4096

LOG_FILE = sys.argv[1] if len(sys.argv) > 1 else None
_pending = b""  # a command whose end has not been written yet (pylaunchd calls handle serially)


def run(command: str) -> None:
    """Act on one command: log it, and append it to LOG_FILE."""
    print(f"control: {command}", file=sys.stderr, flush=True)
    if LOG_FILE:
        with open(LOG_FILE, "a", encoding="utf-8") as f:
            f.write(command + "\n")


def handle(pipe) -> None:
    """Called when the FIFO is readable: read what was written, run each complete line."""
    global _pending
    data = pipe.read()  # non-blocking: None when nothing is left
    if not data:
        return
    _pending += data
    *lines, _pending = _pending.split(b"\n")
    if len(_pending) > MAX_COMMAND:
        print(f"control: dropped a command longer than {MAX_COMMAND} bytes", file=sys.stderr)
        _pending = b""
    for line in lines:
        command = line.decode("utf-8", "replace").strip()
        if command:
            run(command)
