"""pylaunchd.testing: an agent's handle(conn) driven from a test, without the launcher.

Installed as share/pylaunchd/python/pylaunchd/testing.py; with that directory on PYTHONPATH,
``import pylaunchd`` works outside the launcher (its C half is the pure-Python fallback,
_pylaunchd.py), and::

    from pylaunchd.testing import connect
    import Agent
    with connect(Agent) as c: c.sendall(b"Hello\\n"); assert c.recv(100) == b"Uryyb\\n"

connect() gives handle() what the launcher gives it: a real ``pylaunchd.Connection``, blocking
(with the agent's set_connection_timeout(), if any), on one end of a unix socketpair, in a thread of its own, closed when handle() returns (unless
it detached it). The test gets the other end, a ``socket.socket``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import types
from typing import Any, Callable, Iterator

import pylaunchd

__all__ = ["DEFAULT_TIMEOUT", "connect"]

#: Seconds a test's recv()/send() may wait, and handle() may take to return once the test is done.
DEFAULT_TIMEOUT = 10.0


def _handler(agent: Any) -> Callable[[Any], Any]:
    """agent.handle, or agent itself when it is the handle function."""
    handle = getattr(agent, "handle", None)
    if handle is None and callable(agent) and not isinstance(agent, types.ModuleType):
        handle = agent
    if not callable(handle):
        raise TypeError(f"{agent!r} has no handle(conn) to call: pass the agent's module, or its handle function")
    return handle


@contextlib.contextmanager
def connect(agent: Any, *, timeout: float = DEFAULT_TIMEOUT,
            type: int = socket.SOCK_STREAM) -> Iterator[socket.socket]:
    """Run ``agent.handle(conn)`` (or ``agent(conn)`` for a function) in a thread on one end of a
    unix socketpair; the with block gets the other end.

    The test's socket has ``timeout``: a recv() the agent never answers raises TimeoutError
    instead of hanging. When the block ends, the test's side is shut down for writing (handle()
    reads EOF), whatever handle() still sends is read and dropped, and handle() must return
    within ``timeout`` seconds, or TimeoutError. An exception handle() raised (SystemExit
    included) is raised again here, in the test, with its traceback; it wins over the block's
    own exception, which it usually caused (the block then saw an early EOF), and which stays
    visible as its context. ``type``: socket.SOCK_STREAM or socket.SOCK_SEQPACKET.
    """
    handle = _handler(agent)
    if type not in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
        raise ValueError("connect() makes stream or seqpacket connections (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)")
    ours, theirs = socket.socketpair(socket.AF_UNIX, type)
    try:
        conn = pylaunchd.Connection(socket.AF_UNIX, type, 0, theirs.detach())
    except BaseException:
        ours.close()
        raise
    conn.settimeout(None)  # blocking, as the launcher hands it over, whatever setdefaulttimeout() says
    seconds = pylaunchd._pylaunchd.connection_timeout()  # set_connection_timeout(), as the launcher does
    if seconds:
        pylaunchd.set_idle_timeout(conn, seconds)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            handle(conn)
        except BaseException as e:  # noqa: BLE001 - every outcome goes back to the test
            raised.append(e)
        finally:
            conn.close()  # as the launcher does after handle() returns; a no-op once detached

    worker = threading.Thread(target=run, name=f"pylaunchd.testing {getattr(handle, '__qualname__', 'handle')}",
                              daemon=True)
    ours.settimeout(timeout)
    worker.start()
    block_failed = False
    try:
        yield ours
    except BaseException:
        block_failed = True
        raise
    finally:
        _finish(ours, worker, timeout)
        if raised:
            error = raised[0]
            raised.clear()  # no reference cycle through the traceback
            raise error
        if worker.is_alive() and not block_failed:
            raise TimeoutError(f"handle() still running {timeout} s after the test's side was shut down")


def _finish(ours: socket.socket, worker: threading.Thread, timeout: float) -> None:
    """EOF for handle(), drop what it still sends, wait up to timeout for it to return, close our side."""
    end = time.monotonic() + timeout
    try:
        if ours.fileno() >= 0:
            ours.shutdown(socket.SHUT_WR)
            ours.settimeout(0.05)
            while worker.is_alive() and time.monotonic() < end:
                try:
                    if not ours.recv(65536):
                        break
                except TimeoutError:
                    continue
    except OSError:
        pass  # handle() closed first, or the test closed its side: nothing left to drain
    finally:
        worker.join(max(0.0, end - time.monotonic()))
        ours.close()
