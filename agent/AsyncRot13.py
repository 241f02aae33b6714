"""The ROT13 agent as an asyncio server that runs its own loop: serve(listeners).

pylaunchd hands over the activated sockets (real socket.socket objects with a .name); asyncio
serves on them as they are, without binding anything. SIGTERM arrives as KeyboardInterrupt,
which asyncio.run turns into a clean stop. Unlike handle(conn) agents, a serve() agent runs its
own idle exit: pylaunchd.idle_timeout says how long (None: never).
"""

import asyncio
import socket

import pylaunchd
from Agent import MAX_LINE, rot13


class Idle:
    """Counts open connections and says when the agent has had none for idle_timeout seconds."""

    def __init__(self, timeout) -> None:
        self.timeout = timeout
        self.open = 0
        self.changed = asyncio.Event()

    def enter(self) -> None:
        self.open += 1
        self.changed.set()

    def leave(self) -> None:
        self.open -= 1
        self.changed.set()

    async def wait(self) -> None:
        """Returns once nothing has been open for `timeout` seconds."""
        while True:
            self.changed.clear()
            if self.open == 0:
                try:
                    await asyncio.wait_for(self.changed.wait(), self.timeout)
                except asyncio.TimeoutError:
                    return
            else:
                await self.changed.wait()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle: Idle) -> None:
    idle.enter()
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as e:
                line = e.partial  # the last line, without its newline
            except asyncio.LimitOverrunError:
                writer.write(b"error: line longer than %d bytes\n" % MAX_LINE)
                break
            if not line:
                break
            writer.write(rot13(line))
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        idle.leave()


async def main(listeners: list) -> None:
    idle = Idle(pylaunchd.idle_timeout)
    servers = []
    for sock in listeners:
        start = asyncio.start_unix_server if sock.family == socket.AF_UNIX else asyncio.start_server
        servers.append(await start(lambda r, w: answer(r, w, idle), sock=sock, limit=MAX_LINE))
    if idle.timeout is None:
        await asyncio.gather(*(s.serve_forever() for s in servers))
        return
    await idle.wait()
    for s in servers:
        s.close()  # the service manager keeps the socket; the next connection starts us again


def serve(listeners: list) -> None:
    asyncio.run(main(listeners))
