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
_dropping = False  # inside an overlong command: skip up to its newline


def run(command: str) -> None:
    """Act on one command: log it, and append it to LOG_FILE."""
    print(f"control: {command}", file=sys.stderr, flush=True)
    if LOG_FILE:
        with open(LOG_FILE, "a", encoding="utf-8") as f:
            f.write(command + "\n")


def dropped() -> None:
    print(f"control: dropped a command longer than {MAX_COMMAND} bytes", file=sys.stderr, flush=True)


def handle(pipe) -> None:
    """Called when the FIFO is readable: read what was written, run each complete line."""
    global _pending, _dropping
    data = pipe.read()  # non-blocking: None when nothing is left
    if not data:
        return
    *lines, rest = (_pending + data).split(b"\n")
    for line in lines:
        if _dropping:  # the end of an overlong command: dropped with the rest of it
            _dropping = False
        elif len(line) > MAX_COMMAND:
            dropped()
        else:
            command = line.decode("utf-8", "replace").strip()
            if command:
                run(command)
    _pending = b"" if _dropping else rest
    if len(_pending) > MAX_COMMAND:
        # Its end has not come yet: drop what is here, and whatever comes up to its newline.
        dropped()
        _pending, _dropping = b"", True
