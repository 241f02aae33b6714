# Type stub for `pylaunchd`, the module the launcher gives every agent. It is compiled into the
# launcher, so editors cannot find it on sys.path: point them here (mypy: MYPYPATH; pyright and
# pylance: stubPath / "python.analysis.stubPath").
import _socket
import io
import logging
from typing import Any, TextIO

version: str
started_by: str  # "systemd", "launchd", "inetd" or "listen"; "none" outside the launcher
idle_timeout: float | None

class Connection(_socket.socket):
    def __enter__(self) -> Connection: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def makefile(
        self,
        mode: str = ...,
        buffering: int | None = ...,
        *,
        encoding: str | None = ...,
        errors: str | None = ...,
        newline: str | None = ...,
    ) -> Any: ...
    def sendfile(self, file: io.IOBase, offset: int = ..., count: int | None = ...) -> int: ...
    def close(self) -> None: ...

class Datagram(Connection):
    """A datagram socket: every recv*() first drops datagrams of senders not allowed in."""

class Pipe(io.FileIO):
    name: str  # type: ignore[assignment]

class ListenerInfo:
    name: str
    fd: int
    family: str  # "unix", "ipv4", "ipv6", "fifo"
    kind: str  # "stream", "datagram", "seqpacket", "fifo"
    role: str  # "listening", "connected", "datagram", "fifo"
    def __init__(self, name: str, fd: int, family: str, kind: str, role: str) -> None: ...

def notify(state: str = ..., **fields: object) -> bool: ...
def status(text: str) -> bool: ...
def peer(conn: int | _socket.socket) -> tuple[int, int, int]: ...
def set_idle_timeout(conn: int | _socket.socket, seconds: float) -> None: ...
def set_connection_timeout(seconds: float) -> None: ...
def listeners() -> list[ListenerInfo]: ...

class JournalHandler(logging.Handler):
    journal: bool
    def __init__(self, level: int = ..., stream: TextIO | None = ...) -> None: ...
    @staticmethod
    def priority(levelno: int) -> int: ...
