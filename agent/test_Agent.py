# The ROT13 agent tested without the launcher: PYTHONPATH=PREFIX/share/pylaunchd/python pytest agent/
from pylaunchd.testing import connect
import Agent

def test_rot13():
    with connect(Agent) as c: c.sendall(b"Hello\n"); assert c.recv(100) == b"Uryyb\n"
