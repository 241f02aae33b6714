"""pylaunchd: the module the launcher gives every agent (``import pylaunchd``).

Compiled into the launcher and loaded before the agent, so it must stay cheap: it imports
only ``_socket`` and the launcher's C half, ``_pylaunchd``. The full ``socket`` module costs more
than starting Python (about 12 ms), so it is imported only when an agent asks for something
that needs it (``makefile``, ``sendfile``, the listeners handed to ``serve``).

Also installed as a package (share/pylaunchd/python/pylaunchd/), so an agent's tests can import
it without the launcher: there ``_pylaunchd`` is the pure-Python _pylaunchd.py beside it.
"""

import _io
import _socket

import _pylaunchd

__all__ = [
    "Connection", "Datagram", "JournalHandler", "ListenerInfo", "Pipe", "idle_timeout", "listeners",
    "notify", "peer", "set_idle_timeout", "started_by", "status", "version",
]

version: str = _pylaunchd.version
#: How the launcher got its sockets: "systemd", "launchd", "inetd" or "listen"; "none" without one.
started_by: str = _pylaunchd.started_by
#: Seconds of idleness after which the launcher exits (--idle-timeout), None when it never does.
idle_timeout = _pylaunchd.idle_timeout


def notify(state: str = "", **fields) -> bool:
    """Send sd_notify(3) fields to the service manager: ``notify("RELOADING=1")`` or
    ``notify(STATUS="warming up")``. True when sent; False when no manager listens (not
    started by systemd, or launchd); OSError when sending failed."""
    parts = [state] if state else []
    parts += [f"{key}={value}" for key, value in fields.items()]
    return _pylaunchd.notify("\n".join(parts))


def status(text: str) -> bool:
    """Set the STATUS= that ``systemctl status`` shows. From then on the launcher no longer
    writes its own (connections handled); returns as notify()."""
    return _pylaunchd.notify("STATUS=" + text)


def set_idle_timeout(conn, seconds: float) -> None:
    """Let conn wait at most `seconds` in any one recv or send; past that, the call raises
    BlockingIOError (EAGAIN). 0 means no limit. Unlike conn.settimeout(), which makes every call a
    poll() and then the call (two trips through the GIL), this is the kernel's SO_RCVTIMEO and
    SO_SNDTIMEO: a blocking socket, and nothing added to each call."""
    _pylaunchd.set_idle_timeout(conn, seconds)


def set_connection_timeout(seconds: float) -> None:
    """Every stream connection handed to handle() from now on starts with set_idle_timeout(conn,
    seconds) already done, by the launcher, before it takes the GIL: call it once, at the top of
    the agent, instead of in each handle(). 0: no limit (the default)."""
    _pylaunchd.set_connection_timeout(seconds)


def peer(conn) -> tuple:
    """(pid, uid, gid) of the process at the other end of a unix socket (a connection or an fd).
    pid is 0 where the platform cannot tell. OSError(EAFNOSUPPORT) for a TCP socket."""
    return _pylaunchd.peer(conn)


class ListenerInfo:
    """One socket or FIFO the launcher serves, as it checked it in."""

    __slots__ = ("name", "fd", "family", "kind", "role")

    def __init__(self, name: str, fd: int, family: str, kind: str, role: str) -> None:
        #: FileDescriptorName=, the launchd Sockets key, or the --listen address.
        self.name = name
        self.fd = fd
        #: "unix", "ipv4", "ipv6" or "fifo".
        self.family = family
        #: "stream", "datagram", "seqpacket" or "fifo".
        self.kind = kind
        #: "listening", "connected", "datagram" or "fifo".
        self.role = role

    def __repr__(self) -> str:
        return (f"ListenerInfo(name={self.name!r}, fd={self.fd}, family={self.family!r}, "
                f"kind={self.kind!r}, role={self.role!r})")


def listeners() -> list:
    """The sockets and FIFOs the launcher serves, with their names, families and kinds."""
    return [ListenerInfo(*t) for t in _pylaunchd.listeners()]


def __getattr__(name: str):
    # JournalHandler needs logging, which costs more to import than starting Python: it is made
    # on first use, so an agent that does not log pays nothing.
    if name == "JournalHandler":
        handler = _make_journal_handler()
        globals()["JournalHandler"] = handler
        return handler
    raise AttributeError(f"module 'pylaunchd' has no attribute {name!r}")


def _make_journal_handler():
    import logging
    import sys

    class JournalHandler(logging.Handler):
        """A logging handler for stderr that keeps each record's priority in the journal.

        Under systemd (stderr is the journal) every line gets a "<N>" sd-daemon prefix mapped
        from the record's level: CRITICAL 2, ERROR 3, WARNING 4, INFO 6, DEBUG 7. Elsewhere
        the lines are written plain. ``logging.getLogger().addHandler(pylaunchd.JournalHandler())``
        """

        def __init__(self, level=logging.NOTSET, stream=None) -> None:
            super().__init__(level)
            self.stream = stream
            self.journal = _pylaunchd.journal if stream is None else False

        @staticmethod
        def priority(levelno: int) -> int:
            if levelno >= logging.CRITICAL:
                return 2
            if levelno >= logging.ERROR:
                return 3
            if levelno >= logging.WARNING:
                return 4
            if levelno >= logging.INFO:
                return 6
            return 7

        def emit(self, record) -> None:
            try:
                text = self.format(record)
                if self.journal:
                    prefix = f"<{self.priority(record.levelno)}>"
                    text = "\n".join(prefix + line for line in text.split("\n"))
                stream = self.stream if self.stream is not None else sys.stderr
                stream.write(text + "\n")
                stream.flush()
            except Exception:
                self.handleError(record)

    JournalHandler.__qualname__ = "JournalHandler"
    JournalHandler.__module__ = "pylaunchd"
    return JournalHandler


class Connection(_socket.socket):
    """The connected socket given to ``handle(conn)``.

    A ``_socket.socket`` (the type under ``socket.socket``) with the parts of ``socket.socket``
    that live in Python added back: ``with``, ``makefile`` and ``sendfile``. ``family`` and
    ``type`` are plain ints rather than enums. The launcher closes it after ``handle`` returns;
    call ``detach()`` to keep the file descriptor past that.
    """

    # Class-level defaults instead of __init__: creating a Connection costs no Python call.
    # socket.socket.makefile() keeps its count of open file objects in these two.
    _io_refs = 0
    _closed = False

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def makefile(self, mode="r", buffering=None, *, encoding=None, errors=None, newline=None):
        import socket

        return socket.socket.makefile(self, mode, buffering, encoding=encoding, errors=errors, newline=newline)

    def sendfile(self, file, offset=0, count=None):
        import socket

        return socket.socket.sendfile(self, file, offset, count)

    def close(self) -> None:
        # As socket.socket.close: the fd stays open while a makefile() object still uses it.
        self._closed = True
        if self._io_refs <= 0:
            _socket.socket.close(self)

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()


class Datagram(Connection):
    """The datagram socket given to ``handle(conn)`` when a datagram waits (unix or UDP).

    A ``Connection`` whose ``recv``, ``recvfrom``, ``recv_into``, ``recvfrom_into``, ``recvmsg``
    and ``recvmsg_into`` first make sure the datagram they read comes from the owner (or from
    whoever ``--allow-uid``/``--allow-gid`` let in): the kernel names each datagram's sender, and
    datagrams of anyone else are dropped unread, as connections of anyone else are refused.
    Reply with ``sendto``. The launcher keeps the socket open after ``handle`` returns.
    """

    def _checked(self, flags: int) -> None:
        timeout = 0.0 if flags & _MSG_DONTWAIT else self.gettimeout()
        _pylaunchd.check_datagram(self, self.family, timeout)

    def recv(self, bufsize, flags=0):
        self._checked(flags)
        return _socket.socket.recv(self, bufsize, flags)

    def recvfrom(self, bufsize, flags=0):
        self._checked(flags)
        return _socket.socket.recvfrom(self, bufsize, flags)

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._checked(flags)
        return _socket.socket.recv_into(self, buffer, nbytes, flags)

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        self._checked(flags)
        return _socket.socket.recvfrom_into(self, buffer, nbytes, flags)

    def recvmsg(self, bufsize, ancbufsize=0, flags=0):
        self._checked(flags)
        return _socket.socket.recvmsg(self, bufsize, ancbufsize, flags)

    def recvmsg_into(self, buffers, ancbufsize=0, flags=0):
        self._checked(flags)
        return _socket.socket.recvmsg_into(self, buffers, ancbufsize, flags)


_MSG_DONTWAIT = getattr(_socket, "MSG_DONTWAIT", 0)


class Pipe(_io.FileIO):
    """A named pipe (systemd ListenFIFO=) given to ``handle(pipe)`` when a writer has written.

    Non-blocking and unbuffered: ``read()`` returns the bytes written so far, or None when none
    are left. ``name`` is the name the service manager gave it. The launcher keeps the pipe
    open across calls and does not poll it again until ``handle`` returns.
    """

    def __repr__(self) -> str:
        return f"<pylaunchd.Pipe name={self.name!r} fd={self.fileno()}>"


def _pipe(fd: int, name: str) -> Pipe:
    p = Pipe(fd, "rb", closefd=False)
    p.name = name
    return p


def _listener_sockets(specs):
    """Wrap (fd, name, family, type, proto) tuples as socket.socket objects for serve()."""
    import socket

    class Listener(socket.socket):
        """An activated socket: a real socket.socket, plus the name the service manager gave it."""

        name: str = ""

        def __repr__(self) -> str:
            return f"<pylaunchd.Listener name={self.name!r} {socket.socket.__repr__(self)[1:-1]}>"

    out = []
    for fd, name, family, kind, proto in specs:
        if family == 0:  # a FIFO
            p = Pipe(fd, "rb", closefd=True)
            p.name = name
            out.append(p)
            continue
        s = Listener(family, kind, proto, fd)
        s.name = name
        out.append(s)
    return out


def _load_agent(name: str, path: str, from_source: bool):
    """Import the agent from its own file, as module `name`: a spec made from the path, never a
    search of sys.path by name (where a package or module planted beside the agent could win).

    The frozen bootstrap is already loaded, so this costs about 0.1 ms (importlib.util would
    import more modules first). from_source: compile the file itself and neither read nor write
    __pycache__ (for an agent in a directory others can write, run with --no-strict-modes, where
    a planted .pyc could stand in for the source). On failure sys.modules is left as it was.
    """
    import sys
    from _frozen_importlib import module_from_spec
    from _frozen_importlib_external import spec_from_file_location

    spec = spec_from_file_location(name, path)
    module = module_from_spec(spec)
    old = sys.modules.get(name)
    sys.modules[name] = module
    try:
        if from_source:
            with open(path, "rb") as f:
                code = compile(f.read(), path, "exec", dont_inherit=True)
            exec(code, module.__dict__)
        else:
            spec.loader.exec_module(module)
    except BaseException:
        # A half-imported module must not stay behind for the next import to find.
        if sys.modules.get(name) is module:
            if old is None:
                del sys.modules[name]
            else:
                sys.modules[name] = old
        raise
    return sys.modules.get(name, module)


def _fresh_import(name: str, path: str):
    """SIGHUP: execute the agent's file as a new module; sys.modules keeps the old one on failure.

    Compiled from the source, not from __pycache__: a pyc is matched by the source's mtime in
    whole seconds and its size, so an edit within the same second could reload stale code.
    """
    return _load_agent(name, path, True)


def _serve_signals() -> None:
    """serve() mode: Python owns SIGTERM and SIGINT; both raise KeyboardInterrupt in the main thread."""
    import _signal

    _signal.signal(_signal.SIGTERM, _signal.default_int_handler)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
