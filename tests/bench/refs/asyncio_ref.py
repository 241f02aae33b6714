"""An asyncio ROT13 server on the socket-activated fd 3, as a user would write it:
asyncio.start_unix_server (or start_server for TCP) with sock=, a readline loop per client.

    python3.11 -I -S asyncio_ref.py
"""

import asyncio
import socket

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_ROT13 = bytes.maketrans(_UPPER + _LOWER, _UPPER[13:] + _UPPER[:13] + _LOWER[13:] + _LOWER[:13])


async def handle(reader, writer):
    try:
        while line := await reader.readline():
            writer.write(line.translate(_ROT13))
            await writer.drain()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()


async def main():
    sock = socket.socket(fileno=3)
    if sock.family == socket.AF_UNIX:
        server = await asyncio.start_unix_server(handle, sock=sock)
    else:
        server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
