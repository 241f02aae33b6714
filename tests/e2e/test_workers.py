#!/usr/bin/env python3
"""Scenario: --workers N, a master process and N worker processes sharing the listeners.

The agent answers each connection with "VERSION PID" and then holds it until the client closes;
run with --max-connections 1, a worker holding one connection does not accept another, so two
connections held at once are answered by two different workers: that is how the tests reach
every worker, without relying on which process the kernel wakes.

Covered: two distinct worker pids (children of the master); a worker killed with SIGKILL is
replaced (the master says "restarted", a new pid serves, the --listen socket file stays);
SIGTERM to the master stops every worker and exits 0 (nothing of the group is left, the socket
file is removed); SIGHUP reloads the agent in every worker; a worker's sys.exit(5) stops all,
status 5; socket-activated with --idle-timeout the whole group exits 0 once idle, and not while a
connection is in flight.
"""

import os
import re
import signal
import time

import harness
from harness import DEADLINE, EXIT_OK

#: "VERSION PID" on connect, then holds the connection until the client closes it; the line
#: "exit" makes the handler call sys.exit(5).
PID_AGENT = """
import os, sys

VERSION = "{version}"

def handle(conn):
    try:
        conn.sendall(("%s %d\\n" % (VERSION, os.getpid())).encode())
        while True:
            data = conn.recv(4096)
            if not data:
                return
            if data.strip() == b"exit":
                conn.sendall(b"bye\\n")
                sys.exit(5)
    except (BrokenPipeError, ConnectionResetError):
        return  # a readiness probe that did not stay for the answer
"""


def ppid_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def session_members(sid: int) -> list:
    """Processes (not zombies) whose session id is sid: the launcher and whatever it started."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            members.append(int(entry))
    return members


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Workers(harness.E2ETestCase):
    def start_workers(self, version="v1", options=(), activated=False):
        self.agent = self.write_agent("pid_agent.py", PID_AGENT.format(version=version))
        self.addr = self.unix_address()
        opts = ["--workers", "2", "--max-connections", "1", *options]
        if activated:
            server = self.activate(self.agent, listen=[self.addr], options=opts, wait=False)
        else:
            server = self.serve_listen(self.agent, listen=[self.addr], options=opts)
        return server

    def hold(self):
        """A connection and its "VERSION PID" answer, held open."""
        c = self.client(self.addr)
        line = c.readline()
        m = re.fullmatch(rb"(\S+) (\d+)\n", line)
        if not m:
            raise AssertionError(f"expected 'VERSION PID', got {line!r}")
        return c, m.group(1).decode(), int(m.group(2))

    def both_workers(self):
        """Two connections held at once: {pid: version} of the two workers that answered them."""
        (c1, v1, p1), (c2, v2, p2) = self.hold(), self.hold()
        c1.close()
        c2.close()
        return {p1: v1, p2: v2}

    def worker_pids(self, master: int):
        return {p for p in session_members(os.getsid(master)) if p != master and ppid_of(p) == master}

    def wait_workers(self, server, n=2):
        return harness.wait_for(lambda: len(self.worker_pids(server.pid)) == n and self.worker_pids(server.pid),
                                f"{n} worker processes", proc=server)

    def test_two_distinct_worker_pids(self):
        server = self.start_workers()
        workers = self.wait_workers(server)
        seen = self.both_workers()
        self.assertEqual(len(seen), 2, f"two connections held at once are served by two processes: {seen}")
        self.assertEqual(set(seen), workers, "served by the master's two workers")
        self.assertNotIn(server.pid, seen, "the master itself never serves")
        for pid in seen:
            self.assertEqual(ppid_of(pid), server.pid, f"worker {pid} is a child of the master")

    def test_killed_worker_is_replaced(self):
        server = self.start_workers()
        workers = self.wait_workers(server)
        victim, survivor = sorted(workers)
        os.kill(victim, signal.SIGKILL)
        err = server.wait_for_stderr("restarted")
        self.assertInStderr([f"worker {victim} was killed by signal 9"], err, "the death is logged")
        m = re.search(r"restarted it as worker (\d+)", err)
        self.assertIsNotNone(m, f"the master names the new worker:\n{err}")
        new = int(m.group(1))
        self.assertNotIn(new, workers, "a new process")
        self.assertTrue(os.path.exists(self.addr.path), "a worker's death leaves the --listen socket file alone")
        seen = harness.wait_for(lambda: (s := self.both_workers()) and set(s) == {survivor, new} and s,
                                "the new worker to serve beside the survivor", proc=server)
        self.assertEqual(set(seen), {survivor, new}, "serving continues with the survivor and the replacement")
        self.assertEqual(ppid_of(new), server.pid, "the replacement is the master's child")
        self.assertTrue(server.alive())

    def test_sigterm_stops_every_worker(self):
        server = self.start_workers()
        workers = self.wait_workers(server)
        self.assertEqual(len(self.both_workers()), 2)
        sid = os.getsid(server.pid)
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM to the master")
        harness.wait_for(lambda: not any(alive(p) for p in workers), "every worker to be gone")
        self.assertEqual(session_members(sid), [], "no process of the launcher's group is left")
        self.assertFalse(os.path.exists(self.addr.path), "the master removes the --listen socket file")

    def test_workers_follow_a_killed_master(self):
        # A worker must not outlive its master and go on serving unsupervised.
        server = self.start_workers()
        workers = self.wait_workers(server)
        server.send_signal(signal.SIGKILL)
        self.assertEqual(server.wait(), -signal.SIGKILL)
        harness.wait_for(lambda: not any(alive(p) for p in workers), "the workers to end with their master")

    def test_sighup_reloads_every_worker(self):
        server = self.start_workers("v1")
        workers = self.wait_workers(server)
        self.assertEqual(self.both_workers(), {p: "v1" for p in workers})
        self.write_agent("pid_agent.py", PID_AGENT.format(version="v2"))
        server.send_signal(signal.SIGHUP)
        harness.wait_for(lambda: server.stderr().count("reloaded agent") >= 2, "both workers to reload", proc=server)
        self.assertEqual(self.both_workers(), {p: "v2" for p in workers},
                         "after SIGHUP both workers (the same processes) run the new code")
        self.assertTrue(server.alive(), "a reload is not a restart")

    def test_worker_sys_exit_stops_all(self):
        server = self.start_workers()
        workers = self.wait_workers(server)
        sid = os.getsid(server.pid)
        c, _, pid = self.hold()
        c.send(b"exit\n")
        self.assertEqual(c.readline(), b"bye\n")
        self.assertExitStatus(server, 5, "a worker's sys.exit(5) is the master's status")
        self.assertInStderr(f"worker {pid} exited with status 5; stopping the others", server.stderr(),
                            "the master says why it stops")
        harness.wait_for(lambda: not any(alive(p) for p in workers), "every worker to be gone")
        self.assertEqual(session_members(sid), [], "no process of the launcher's group is left")
        self.assertFalse(os.path.exists(self.addr.path), "the master removes the --listen socket file")

    def test_idle_exit_socket_activated(self):
        sa = self.start_workers(options=("--idle-timeout", "0.5"), activated=True)
        sid = os.getsid(sa.pid)
        c = harness.connect_when_ready(self.addr, proc=sa)
        self.addCleanup(c.close)
        c.settimeout(DEADLINE)
        first = c.recv(100)
        self.assertRegex(first, rb"^v1 \d+\n$", "the held connection is answered")
        # Held for 1.5 s, three idle timeouts: the group must stay, since a connection is in flight.
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            self.assertTrue(sa.alive(), f"the master exited with a connection in flight; stderr:\n{sa.stderr()}")
            time.sleep(0.05)
        self.assertEqual(len(self.worker_pids(sa.pid)), 2, "both workers still there while one is busy")
        c.close()
        self.assertExitStatus(sa, EXIT_OK, "the idle group exits 0 by itself")
        harness.wait_for(lambda: session_members(sid) == [], "no process of the group left")
        self.assertTrue(os.path.exists(self.addr.path), "the socket file is systemd's: it stays")


if __name__ == "__main__":
    harness.main()
