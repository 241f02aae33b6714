"""ROT13 over multiprocessing.connection, the protocol of the original PyLaunchd sample app.

A client does, as that sample did:

    from multiprocessing.connection import Client
    with Client("/run/user/1000/mprot13.sock") as c:
        c.send("Hello")
        print(c.recv())          # Uryyb

Messages are pickles. Unpickling what a client sends could run code of its choosing, so this
agent accepts only str and bytes: anything that needs a class to unpickle is refused. (Only the
user's own processes get in at all: pylaunchd checks the peer's uid.)
"""

import codecs
import io
import pickle
from multiprocessing.connection import Connection as MpConnection

from Agent import MAX_LINE, rot13


class StringsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"{module}.{name} refused: send str or bytes")


def handle(conn) -> None:
    channel = MpConnection(conn.detach())
    with channel:
        while True:
            try:
                data = channel.recv_bytes(MAX_LINE)
            except (EOFError, OSError):
                return
            try:
                message = StringsOnly(io.BytesIO(data)).load()
            except (pickle.UnpicklingError, EOFError, ValueError) as e:
                channel.send(f"error: {e}")
                continue
            if isinstance(message, bytes):
                channel.send(rot13(message))
            elif isinstance(message, str):
                channel.send(codecs.encode(message, "rot13"))
            else:
                channel.send("error: send str or bytes")
