#!/usr/bin/env python3
"""Scenario: the agent sees the sys module a `python3 AGENT.py ARGS` run would give it.

sys.executable is a real Python interpreter (so subprocess and multiprocessing's spawn start
Python, not the launcher), sys.argv[0] is the agent's absolute path and the arguments after it
arrive untouched (even ones that look like launcher options), sys.path[0] is the agent's directory.
"""

import os

import harness
from harness import fetch_json

SYS_AGENT = """
import json, os, subprocess, sys

def handle(conn):
    child = subprocess.run([sys.executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=20)
    import e2e_sibling  # a module beside the agent: sys.path[0] is the agent's directory
    conn.sendall(json.dumps({
        "executable": sys.executable,
        "argv": sys.argv,
        "path0": sys.path[0],
        "version": "%d.%d" % sys.version_info[:2],
        "child_version": child.stdout.strip(),
        "child_rc": child.returncode,
        "sibling": e2e_sibling.VALUE,
    }).encode())
"""

#: Starts children the usual ways and reports what they inherited and how they ended.
CHILDREN_AGENT = """
import json, subprocess

def handle(conn):
    status = subprocess.run(["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"],
                            capture_output=True, text=True).stdout
    sleeper = subprocess.Popen(["sleep", "60"])
    sleeper.terminate()
    try:
        rc = sleeper.wait(timeout=5)  # a hang guard, not a timing claim
    except subprocess.TimeoutExpired:
        sleeper.kill()
        rc = "still running 5 s after SIGTERM, killed: %d" % sleeper.wait()
    conn.sendall(json.dumps({"status": status, "terminate_rc": rc}).encode())
"""

MULTIPROCESSING_AGENT = """
import multiprocessing

def square(x):
    return x * x

def handle(conn):
    # spawn: a fresh interpreter started from sys.executable, which must be Python, and which
    # must import this module by name (mp_agent) to unpickle square.
    pool = multiprocessing.get_context("spawn").Pool(1)
    result = pool.apply_async(square, (32,)).get(timeout=20)
    # close() and join(), not terminate(): this checks the start method only. Stopping children
    # by signal is test_children_can_be_stopped_by_signals.
    pool.close()
    pool.join()
    conn.sendall(str(result).encode())
"""


class SysModule(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("sys_agent.py", SYS_AGENT)
        self.write_agent("e2e_sibling.py", "VALUE = 'beside the agent'\n")

    def check_info(self, info, args, what):
        exe = info["executable"]
        self.assertTrue(os.path.isabs(exe), f"{what}: sys.executable {exe!r} is absolute")
        self.assertTrue(os.path.basename(exe).startswith("python"),
                        f"{what}: sys.executable {exe!r} is a python interpreter, not the launcher")
        self.assertTrue(os.access(exe, os.X_OK), f"{what}: sys.executable {exe!r} exists and is executable")
        self.assertNotEqual(os.path.realpath(exe), os.path.realpath(harness.BINARY),
                            f"{what}: sys.executable is not pylaunchd")
        self.assertEqual((info["child_rc"], info["child_version"]), (0, info["version"]),
                         f"{what}: subprocess.run([sys.executable, ...]) starts the same Python version")
        self.assertEqual(info["argv"], [os.path.realpath(self.agent), *args],
                         f"{what}: sys.argv is the agent's absolute path, then its own arguments untouched")
        self.assertEqual(info["path0"], os.path.dirname(os.path.realpath(self.agent)),
                         f"{what}: sys.path[0] is the agent's directory")
        self.assertEqual(info["sibling"], "beside the agent", f"{what}: a module beside the agent imports")

    def test_listen_relative_agent_path_and_arguments(self):
        args = ["one", "--two", "-v", "--listen", "unix:/nowhere", "three four", "", "ünïcödé"]
        addr = self.unix_address()
        # Started from the agent's directory with a relative path: argv[0] still comes out absolute.
        self.serve_listen("sys_agent.py", *args, listen=[addr], cwd=self.tmp)
        self.check_info(fetch_json(addr), args, "--listen, relative agent path")

    def test_no_arguments(self):
        addr = self.unix_address()
        self.serve_listen(self.agent, listen=[addr])
        self.check_info(fetch_json(addr), [], "no agent arguments")

    def test_under_systemd_accept(self):
        addr = self.unix_address()
        self.activate(self.agent, "--flag", "value", listen=[addr], accept=True)
        self.check_info(fetch_json(addr), ["--flag", "value"], "systemd-socket-activate --accept")

    def test_agent_through_a_symlink(self):
        link_dir = self.path("links")
        os.mkdir(link_dir)
        link = os.path.join(link_dir, "linked_agent.py")
        os.symlink(self.agent, link)
        addr = self.unix_address()
        self.serve_listen(link, "x", listen=[addr])
        info = fetch_json(addr)
        self.assertEqual(info["argv"], [os.path.realpath(self.agent), "x"],
                         "sys.argv[0] is the resolved path of the agent file")
        self.assertEqual(info["sibling"], "beside the agent", "modules beside the real file import")

    def test_children_can_be_stopped_by_signals(self):
        # The launcher's worker threads block SIGTERM/SIGINT/SIGHUP for themselves; a child a
        # handler starts must not inherit that mask, or terminate() and Pool.terminate() hang.
        agent = self.write_agent("children_agent.py", CHILDREN_AGENT)
        addr = self.unix_address()
        self.serve_listen(agent, listen=[addr])
        info = fetch_json(addr)
        self.assertEqual(info["terminate_rc"], -15,
                         "subprocess.Popen(...).terminate() from a handler ends the child with SIGTERM")
        self.assertIn("SigBlk:\t0000000000000000", info["status"],
                      f"a handler's child starts with no signals blocked; /proc/self/status says:\n"
                      f"{info['status']}")

    def test_multiprocessing_spawn(self):
        agent = self.write_agent("mp_agent.py", MULTIPROCESSING_AGENT)
        addr = self.unix_address()
        self.serve_listen(agent, listen=[addr])
        self.assertEqual(harness.converse(addr, b""), b"1024",
                         "multiprocessing's spawn start method runs a function of the agent (sys.executable "
                         "is Python, and the child imports the agent's module by name)")


if __name__ == "__main__":
    harness.main()
