#!/usr/bin/env python3
"""A small client for the ROT13 agent: sends what you type, prints what comes back.

    client.py unix:/run/user/1000/rot13.sock            interactive: one line in, one line out
    client.py tcp:127.0.0.1:7013 "Hello, world"          send the words, print the answer, exit

ADDRESS is unix:PATH, tcp:HOST:PORT or tcp:[V6ADDR]:PORT; a bare path means unix:PATH.
"""

import socket
import sys


def connect(address: str) -> socket.socket:
    """Open a stream connection to ADDRESS."""
    if address.startswith("tcp:"):
        host, _, port = address[4:].rpartition(":")
        return socket.create_connection((host.strip("[]"), int(port)))
    path = address[5:] if address.startswith("unix:") else address
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock


def exchange(reader, sock: socket.socket, line: str) -> str:
    """Send one line, return the answer line without its newline."""
    sock.sendall(line.encode("utf-8") + b"\n")
    answer = reader.readline()
    if not answer:
        raise ConnectionError("the agent closed the connection")
    return answer.decode("utf-8", "replace").rstrip("\n")


def main(argv: list) -> int:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with connect(argv[1]) as sock, sock.makefile("rb") as reader:
            if len(argv) > 2:
                print(exchange(reader, sock, " ".join(argv[2:])))
                return 0
            interactive = sys.stdin.isatty()
            while True:
                if interactive:
                    print("> ", end="", flush=True)
                line = sys.stdin.readline()
                if not line:
                    return 0
                print(exchange(reader, sock, line.rstrip("\n")), flush=True)
    except (OSError, ValueError) as e:
        print(f"client.py: {argv[1]}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
