"""The classic "systemd socket activation in Python" example, done right: a threaded HTTP server
on the activated socket.

No fd 3 is assumed and nothing is re-bound: the listening socket comes from pylaunchd, which
checked it in (systemd, launchd or --listen), and replaces the one http.server would have made.
"""

import http.server

import pylaunchd


class Hello(http.server.BaseHTTPRequestHandler):
    server_version = "pylaunchd-HttpHello"

    def do_GET(self) -> None:
        body = f"Hello from pylaunchd {pylaunchd.version} ({pylaunchd.started_by}), path {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # one line per request is noise in the journal


def serve(listeners: list) -> None:
    sock = listeners[0]
    server = http.server.ThreadingHTTPServer(("", 0), Hello, bind_and_activate=False)
    server.socket.close()
    server.socket = sock  # the activated socket, already bound and listening
    server.server_address = sock.getsockname()
    server.daemon_threads = True
    try:
        server.serve_forever()  # SIGTERM raises KeyboardInterrupt here: pylaunchd exits 0
    finally:
        server.server_close()
