"""A socketserver ThreadingMixIn ROT13 server on the socket-activated fd 3, as a user would write
it: the server is made with bind_and_activate=False and its socket replaced by the activated one;
a thread per connection, StreamRequestHandler reading lines.

    python3.11 -I -S threading_ref.py
"""

import socket
import socketserver

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_UPPER + _LOWER, _UPPER[13:] + _UPPER[:13] + _LOWER[13:] + _LOWER[:13])


class Rot13Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.translate(_ROT13))


def main():
    sock = socket.socket(fileno=3)
    base = socketserver.UnixStreamServer if sock.family == socket.AF_UNIX else socketserver.TCPServer

    class Server(socketserver.ThreadingMixIn, base):
        daemon_threads = True
        block_on_close = False

    server = Server(sock.getsockname(), Rot13Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
