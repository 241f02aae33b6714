#!/usr/bin/env python3
"""Write a command into an agent's control FIFO: control.py FIFO COMMAND [WORDS...]

The FIFO is opened without blocking, so when no agent has it open (the socket unit is stopped)
this fails at once instead of hanging.
"""

import errno
import os
import sys


def main(argv: list) -> int:
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, command = argv[1], " ".join(argv[2:])
    if "\n" in command:
        print("control.py: a command is one line", file=sys.stderr)
        return 2
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        hint = "no agent has it open: is its .socket unit started?" if e.errno == errno.ENXIO else e.strerror
        print(f"control.py: {path}: {hint}", file=sys.stderr)
        return 1
    try:
        os.write(fd, command.encode("utf-8") + b"\n")
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
