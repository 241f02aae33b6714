#!/usr/bin/env python3
"""Scenario: every stop ends on time, whatever the agent does, and nothing it left behind serves.

A SIGTERM ends the process within --stop-timeout plus the backstop's margin (launcher/signals.h,
STOP_MARGIN_USEC) when the agent: blocks while a SIGHUP reload imports it; holds the GIL in C (a
runaway regular expression) in a handler; blocks while it is first imported; swallows the
KeyboardInterrupt of its own serve() loop. A child the agent forks in handle() and lets return
never serves and never outlives the stop. A pipe that can never deliver is refused at the start,
or dropped once while serving, never polled in a busy loop. The handler pool shrinks back after
a burst. Repeated SIGTERMs are logged with a count, not a line each.

The bounds below are deadlines against hangs (on main before this, each of these needed
SIGKILL), never a performance claim: they are generous multiples of what the launcher needs.
"""

import os
import signal
import socket
import time

import harness
from harness import EXIT_OK, converse

STOP_TIMEOUT = 1.0
#: launcher/signals.h STOP_MARGIN_USEC, in seconds.
STOP_MARGIN = 1.0
#: A stop must be over by then; on a loaded machine the process may also need time to be seen.
STOP_BOUND = STOP_TIMEOUT + STOP_MARGIN + 4.0
#: launcher/serve.c THREAD_IDLE_USEC, in seconds.
THREAD_IDLE = 5.0
EXIT_RUNTIME = 1
EXIT_ACTIVATION = 78

#: Version 1 answers "v1 LINE"; the test then replaces the file with BLOCKING_IMPORT.
RELOADABLE_AGENT = """
def handle(conn):
    with conn.makefile("rb") as f:
        for line in f:
            conn.sendall(b"v1 " + line)
"""

#: An import that never ends (a module waiting on a network share, a lock, a server).
BLOCKING_IMPORT = """
import sys, time
print("importing, and blocking", file=sys.stderr, flush=True)
time.sleep(3600)

def handle(conn):
    conn.sendall(b"v2\\n")
"""

#: "regex": a catastrophically backtracking match, which runs in C with the GIL held (the re
#: module never releases it): nothing else in the interpreter runs until it ends, in hours.
REGEX_AGENT = """
import re, sys

def handle(conn):
    line = conn.recv(64)
    if line.startswith(b"regex"):
        print("handler: starting the runaway regex", file=sys.stderr, flush=True)
        re.match(r"(a+)+$", "a" * 64 + "b")
    conn.sendall(b"done\\n")
"""

#: serve() that swallows the KeyboardInterrupt SIGTERM raises, and goes on.
STUBBORN_SERVE_AGENT = """
import sys, time

def serve(listeners):
    print("serving, stubbornly", file=sys.stderr, flush=True)
    while True:
        try:
            time.sleep(3600)
        except KeyboardInterrupt:
            print("KeyboardInterrupt swallowed", file=sys.stderr, flush=True)
"""

#: Forks in handle(): the child returns from handle() at once (its copy of the launcher must not
#: go on serving); the parent answers with both pids.
FORK_RETURN_AGENT = """
import os

def handle(conn):
    conn.recv(64)
    child = os.fork()
    if child == 0:
        return
    os.waitpid(child, 0)
    conn.sendall(f"{os.getpid()} {child}\\n".encode())
"""

#: Forks in handle(): the child ignores SIGTERM and sleeps on (a background job gone wrong).
FORK_LINGER_AGENT = """
import os, signal, time

def handle(conn):
    conn.recv(64)
    child = os.fork()
    if child == 0:
        conn.close()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
        os._exit(0)
    conn.sendall(f"{os.getpid()} {child}\\n".encode())
"""

#: Its forked child cleans up on SIGTERM (writes it down) and exits; REPORT is the file.
FORK_POLITE_AGENT = """
import os, signal, sys, time

def handle(conn):
    if not conn.recv(64):
        return  # a readiness probe: no child for it
    child = os.fork()
    if child == 0:
        conn.close()
        def cleanup(signo, frame):
            with open(REPORT, "a") as f:
                f.write(" SIGTERM")
            os._exit(0)
        signal.signal(signal.SIGTERM, cleanup)
        with open(REPORT, "w") as f:
            f.write("ready")
        time.sleep(3600)
        os._exit(0)
    conn.sendall(f"{os.getpid()} {child}\\n".encode())
"""

#: A FIFO listener's handler: counts its calls in a file, reads what is there.
PIPE_AGENT = """
import os, sys

def handle(pipe):
    data = pipe.read()
    with open(os.environ["CALLS_FILE"], "a") as f:
        f.write(f"{data!r}\\n")
"""


def alive(pid: int) -> bool:
    """Running (a zombie, reaped or not, has ended)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return False


def proc_status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class StopsOnTime(harness.E2ETestCase):
    def assertStopsInTime(self, proc, what: str, code: int = EXIT_OK) -> float:
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(STOP_BOUND + 10)
        took = time.monotonic() - start
        self.assertLess(took, STOP_BOUND, f"{what}: the stop took {took:.1f} s, over --stop-timeout {STOP_TIMEOUT} "
                                          f"+ margin; stderr:\n{proc.stderr()}")
        self.assertEqual(status, code, f"{what}: exit status; stderr:\n{proc.stderr()}")
        return took

    def test_reload_that_blocks_while_importing(self):
        agent = self.write_agent("reloadable.py", RELOADABLE_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], options=["--stop-timeout", str(STOP_TIMEOUT)])
        self.assertEqual(converse(addr, b"a\n"), b"v1 a\n")
        self.write_agent("reloadable.py", BLOCKING_IMPORT)
        server.send_signal(signal.SIGHUP)
        server.wait_for_stderr("importing, and blocking")
        # The reload blocks in a thread of its own: the code already loaded keeps serving.
        self.assertEqual(converse(addr, b"b\n"), b"v1 b\n", "served while the reload blocks")
        # A second SIGHUP meanwhile starts no second import racing the first on sys.modules.
        server.send_signal(signal.SIGHUP)
        server.wait_for_stderr("the previous reload is still importing")
        self.assertEqual(server.stderr().count("importing, and blocking"), 1, "the agent's file is imported once")
        self.assertStopsInTime(server, "SIGTERM while a reload blocks")

    def test_handler_holding_the_gil(self):
        agent = self.write_agent("regex.py", REGEX_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], options=["--stop-timeout", str(STOP_TIMEOUT)])
        c = addr.connect()
        self.addCleanup(c.close)
        c.sendall(b"regex\n")
        server.wait_for_stderr("starting the runaway regex")
        self.assertStopsInTime(server, "SIGTERM while a handler holds the GIL")
        self.assertInStderr("abandoning", server.stderr(), "the handler is logged as abandoned")

    def test_import_that_blocks(self):
        agent = self.write_agent("blocking.py", BLOCKING_IMPORT)
        addr = self.unix_address()
        server = self.launch(agent, listen=[addr], options=["--stop-timeout", str(STOP_TIMEOUT)])
        server.wait_for_stderr("importing, and blocking")
        self.assertStopsInTime(server, "SIGTERM while the agent's import blocks")
        self.assertInStderr("still running", server.stderr(), "the backstop says why it ended the process")

    def test_serve_loop_that_swallows_the_interrupt(self):
        agent = self.write_agent("stubborn.py", STUBBORN_SERVE_AGENT)
        addr = self.unix_address()
        server = self.launch(agent, listen=[addr], options=["--stop-timeout", str(STOP_TIMEOUT)])
        server.wait_for_stderr("serving, stubbornly")
        self.assertStopsInTime(server, "SIGTERM to a serve() loop that ignores it")
        self.assertInStderr("KeyboardInterrupt swallowed", server.stderr(),
                            "the agent's own loop was told first, as Python would tell it")

    def test_stop_with_the_watchdog_on_is_prompt(self):
        # The watchdog's pinger is a thread of its own: a stop must not wait for it (it did, for
        # the whole grace period, when it was counted among the threads the stop waits for).
        notify = self.path("notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        ns.bind(notify)
        addr = self.unix_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr],
                                   env=harness.clean_env({"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "200000"}))
        self.assertServesRot13(addr, "with the watchdog on")
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "stop")
        self.assertLess(time.monotonic() - start, 5.0, "the stop did not wait out the 10 s grace period")
        self.assertNotIn("abandoning", server.stderr())

    def test_repeated_sigterm_is_counted_not_repeated(self):
        # A handler that keeps the stop going for a while, and SIGTERM sent again and again.
        agent = self.write_agent("slow.py", "import time\ndef handle(conn):\n    conn.recv(8)\n    time.sleep(3)\n")
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr])
        c = addr.connect()
        self.addCleanup(c.close)
        c.sendall(b"x")
        time.sleep(0.3)  # the handler is in its sleep (nothing to poll for: it prints nothing)
        for _ in range(60):
            server.send_signal(signal.SIGTERM)
            time.sleep(0.01)
        self.assertExitStatus(server, EXIT_OK, "the stop after many SIGTERMs")
        err = server.stderr()
        lines = [ln for ln in err.splitlines() if "SIGTERM" in ln]
        self.assertLessEqual(len(lines), 12, f"a few lines and a count, not one per signal:\n{err}")
        self.assertIn("similar message(s) suppressed", err, f"the rest counted:\n{err}")


class ForkedChildren(harness.E2ETestCase):
    def test_child_returning_from_handle_never_serves(self):
        agent = self.write_agent("forker.py", FORK_RETURN_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr])
        children = set()
        for i in range(30):
            parent, child = map(int, converse(addr, b"hi\n").split())
            self.assertEqual(parent, server.pid, f"connection {i}: answered by the launcher itself, never by "
                                                 "a forked copy of it")
            children.add(child)
        self.assertEqual(len(children), 30)
        self.assertEqual([c for c in children if alive(c)], [], "every child ended when handle() returned")
        took = time.monotonic()
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "stop")
        took = time.monotonic() - took
        self.assertLess(took, 5.0, "the stop waits for nothing a child took with it (it used the whole "
                                   "10 s grace period before)")

    def test_child_never_outlives_a_stop(self):
        agent = self.write_agent("lingerer.py", FORK_LINGER_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], options=["--stop-timeout", str(STOP_TIMEOUT)])
        children = [int(converse(addr, b"hi\n").split()[1]) for _ in range(3)]
        self.addCleanup(lambda: [os.kill(c, signal.SIGKILL) for c in children if alive(c)])
        self.assertTrue(all(alive(c) for c in children), "the children run while the launcher serves")
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "stop", timeout=STOP_BOUND + 10)
        self.assertLess(time.monotonic() - start, STOP_BOUND)
        harness.wait_for(lambda: not any(alive(c) for c in children), "the children to be gone", deadline=5)
        self.assertInStderr("forked child process(es)", server.stderr(), "the launcher says it ended them")

    def test_children_are_told_first(self):
        # At a stop, the agent's forked children get SIGTERM at once, as the launcher did, and
        # SIGKILL only at the deadline: a child with cleanup to do does it.
        report = self.path("child-heard")
        agent = self.write_agent("polite.py", FORK_POLITE_AGENT.replace("REPORT", repr(report)))
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], options=["--stop-timeout", "30"])
        child = int(converse(addr, b"hi\n").split()[1])
        self.addCleanup(lambda: alive(child) and os.kill(child, signal.SIGKILL))
        harness.wait_for(lambda: os.path.exists(report), "the child to be ready")
        server.send_signal(signal.SIGTERM)
        harness.wait_for(lambda: open(report).read() == "ready SIGTERM", "the child to hear SIGTERM")
        self.assertExitStatus(server, EXIT_OK, "stop after the child ended on SIGTERM")

    def test_child_gets_sigterm_back(self):
        # A forked child has the default SIGTERM again: a plain kill ends it, and it does not
        # write into its parent's signal pipe (which would stop the parent).
        agent = self.write_agent("lingerer2.py", FORK_LINGER_AGENT.replace(
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)", "pass"))
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr])
        child = int(converse(addr, b"hi\n").split()[1])
        self.addCleanup(lambda: alive(child) and os.kill(child, signal.SIGKILL))
        os.kill(child, signal.SIGTERM)
        harness.wait_for(lambda: not alive(child), "the child to end on SIGTERM", deadline=5)
        time.sleep(0.3)
        self.assertTrue(server.alive(), "the launcher did not take its child's SIGTERM for its own")
        self.assertEqual(converse(addr, b"hi\n").split()[0], str(server.pid).encode())


#: Puts fd argv[1] on fd 3 and execs the rest with LISTEN_PID its own pid: what systemd does.
AS_SYSTEMD = """
import os, sys
fd = int(sys.argv[1])
os.dup2(fd, 3)
os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


class DeadPipes(harness.E2ETestCase):
    def start_with_pipe(self, agent: str, read_fd: int, calls: str) -> harness.Launched:
        """pylaunchd with fd 3 the pipe's read end, as systemd would pass a ListenFIFO=."""
        env = harness.clean_env({"LISTEN_FDS": "1", "LISTEN_FDNAMES": "control", "CALLS_FILE": calls})
        return self.start([harness.system_python(), "-I", "-c", AS_SYSTEMD, str(read_fd), harness.BINARY, agent],
                          name="pylaunchd", env=env, pass_fds=(read_fd,))

    def test_pipe_with_no_writer_refused_at_start(self):
        agent = self.write_agent("pipe_agent.py", PIPE_AGENT)
        r, w = os.pipe()
        os.close(w)
        proc = self.start_with_pipe(agent, r, self.path("calls"))
        os.close(r)
        self.assertExitStatus(proc, EXIT_ACTIVATION, "a pipe that can never deliver")
        self.assertInStderr(["'control'", "writers are all gone", "ListenFIFO="], proc.stderr(), "the refusal")
        self.assertFalse(os.path.exists(self.path("calls")), "handle() never called")

    def test_pipe_whose_writer_goes_is_dropped_once(self):
        agent = self.write_agent("pipe_agent.py", PIPE_AGENT)
        calls = self.path("calls")
        r, w = os.pipe()
        proc = self.start_with_pipe(agent, r, calls)
        os.close(r)
        os.write(w, b"one command\n")
        harness.wait_for(lambda: os.path.exists(calls) and os.path.getsize(calls), "the first call", proc=proc)
        os.close(w)
        self.assertExitStatus(proc, EXIT_RUNTIME, "no listener left that can deliver")
        with open(calls) as f:
            n = len(f.read().splitlines())
        self.assertLessEqual(n, 3, f"handle() called {n} times: a pipe at end-of-file must not be spun on")
        err = proc.stderr()
        self.assertEqual(err.count("can never deliver again"), 1, f"reported once:\n{err}")


class PoolShrinks(harness.E2ETestCase):
    def test_threads_and_memory_return_after_a_burst(self):
        addr = self.unix_address()
        server = self.serve_listen(harness.ROT13_AGENT, listen=[addr], options=["-c", "4096", "--backlog", "1024"])
        self.assertServesRot13(addr, "before the burst")
        idle_threads = proc_status(server.pid, "Threads")
        idle_rss = proc_status(server.pid, "VmRSS")
        # 600 silent clients: each holds a handler thread in recv().
        clients = []

        def connect_one():
            try:
                clients.append(addr.connect())
                return True
            except BlockingIOError:  # the queue is full for a moment: the pool is growing
                return False

        try:
            for _ in range(600):
                harness.wait_for(connect_one, "a connection", proc=server, interval=0.005)
            harness.wait_for(lambda: proc_status(server.pid, "Threads") >= 500, "the pool to grow", proc=server)
            peak_rss = proc_status(server.pid, "VmRSS")
        finally:
            for c in clients:
                c.close()
        harness.wait_for(lambda: proc_status(server.pid, "Threads") <= idle_threads + 1,
                         "the idle handler threads to go", deadline=THREAD_IDLE + 20, proc=server)
        self.assertServesRot13(addr, "after the burst")
        if "ASAN_OPTIONS" in os.environ:
            return  # AddressSanitizer keeps freed memory in quarantine on purpose: RSS means nothing
        rss = proc_status(server.pid, "VmRSS")
        self.assertLess(rss - idle_rss, (peak_rss - idle_rss) / 2,
                        f"VmRSS idle {idle_rss} kB, at the peak {peak_rss} kB, after {rss} kB: most of what the "
                        "burst took is given back")


if __name__ == "__main__":
    harness.main()
