#!/usr/bin/env python3
"""Idle exit and re-activation under a real systemd --user manager: nothing lost, never failed.

The issue's heart: `pylaunchd install --idle-timeout 0.05` (--min-uptime stays 0.25 s), and
connections timed to land when the service exits. The agent answers each line with its ROT13
and the identity of the process that answered, so the test counts idle-exit/activation cycles.

Phase 1, one client: after each reply it waits so that about half of the next connections land
within 60 ms of the moment the service is expected to exit (0.30 s after the connection that
started it, or 50 ms after the last one), the rest anywhere 0-0.6 s later. It goes on until at
least 110 connections and 100 cycles. Phase 2: four client threads at once, each with a random
pause of up to 0.5 s between connections, while the service keeps cycling.

Asserted: no connection refused, none without its correct answer, >= 100 cycles; the socket
unit is polled all along (a monitor thread) and at the end, and is never `failed` and ends with
Result=success; the service never hits its start limit and every instance exits cleanly.
Needs the fixture of usermgr.py (ctest -R systemd runs it).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import unittest

import usermgr
from usermgr import stage_text

NAME = "pylaunchd-test-idle"
SOCKET, SERVICE = f"{NAME}.socket", f"{NAME}.service"
DEADLINE = 10.0  # seconds for any one state change
MIN_CONNECTIONS = 110
MIN_CYCLES = 100
PHASE1_SECONDS = 80  # at most; it ends as soon as both minimums are reached
PHASE2_SECONDS = 12
PHASE2_THREADS = 4

# Each line is answered with its ROT13, the pid and a token unique to this process (pids wrap).
AGENT = """\
import os
import time

IDENTITY = b"%d %d" % (os.getpid(), time.monotonic_ns())
_ROT13 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")


def handle(conn):
    pending = b""
    while chunk := conn.recv(4096):
        pending += chunk
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            conn.sendall(line.translate(_ROT13) + b" " + IDENTITY + b"\\n")
"""

# Runs as the test user; prints one JSON object with the counts at the end.
DRIVER = r"""
import errno, json, random, socket, sys, threading, time

path = sys.argv[1]
min_conns, min_cycles, phase1_s, phase2_s, nthreads = map(float, sys.argv[2:7])
EXPECTED_EXIT = 0.30   # after the connection that started an instance
IDLE = 0.05
JITTER = 0.06
ROT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")
lock = threading.Lock()
seen = {}              # identity -> time of the first connection it answered
counts = {}
failures = []
rng = random.Random()


def count(phase, what):
    with lock:
        counts.setdefault(phase, {"made": 0, "served": 0, "refused": 0, "lost": 0, "cycles": 0})
        counts[phase][what] += 1


def one(phase, i):
    # One connection on a fresh socket: (identity or None, time of connect, time of close).
    text = "phase %s line %d: Hello, World" % (phase, i)
    count(phase, "made")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    t0 = time.monotonic()
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        count(phase, "refused")
        with lock:
            failures.append("%s #%d: connect: %r" % (phase, i, e))
        return None, t0, time.monotonic()
    data = b""
    try:
        s.sendall(text.encode() + b"\n")
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        data += b" <%r>" % e
    finally:
        s.close()
    t1 = time.monotonic()
    words = data.decode("utf-8", "replace").rstrip("\n").rsplit(" ", 2)
    if len(words) != 3 or words[0] != text.translate(ROT) or not data.endswith(b"\n"):
        count(phase, "lost")
        with lock:
            failures.append("%s #%d: answer %r" % (phase, i, data))
        return None, t0, t1
    count(phase, "served")
    ident = words[1] + " " + words[2]
    with lock:
        if ident not in seen:
            seen[ident] = t0
            counts[phase]["cycles"] += 1
    return ident, t0, t1


# Phase 1: one client, connections timed for the exit window.
start = time.monotonic()
targeted = 0
i = 0
while True:
    c = counts.get("1", {})
    if c.get("made", 0) >= min_conns and c.get("cycles", 0) >= min_cycles:
        break
    if time.monotonic() - start > phase1_s:
        break
    ident, t0, t1 = one("1", i)
    i += 1
    if ident is not None and rng.random() < 0.5:
        exit_at = max(seen[ident] + EXPECTED_EXIT, t1 + IDLE)
        when = exit_at + rng.uniform(-JITTER, JITTER)
        targeted += 1
    else:
        when = t1 + rng.uniform(0, 0.6)
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)
phase1_seconds = time.monotonic() - start


# Phase 2: several clients at once while the service cycles.
def hammer(k):
    end = time.monotonic() + phase2_s
    j = 0
    while time.monotonic() < end:
        one("2", k * 100000 + j)
        j += 1
        time.sleep(rng.uniform(0, 0.5))

threads = [threading.Thread(target=hammer, args=(k,)) for k in range(int(nthreads))]
for t in threads:
    t.start()
for t in threads:
    t.join()

print(json.dumps({"counts": counts, "targeted": targeted, "phase1_seconds": round(phase1_seconds, 1),
                  "pids": len({k.split()[0] for k in seen}), "cycles": len(seen),
                  "failures": failures[:20]}), flush=True)
"""


class IdleExit(unittest.TestCase):
    mgr: usermgr.Manager

    @classmethod
    def setUpClass(cls) -> None:
        cls.mgr = usermgr.Manager.from_state()
        cls.exe = cls.mgr.stage(os.environ["PYLAUNCHD"])
        cls.agent = stage_text(cls.mgr, "IdleAgent.py", AGENT)
        cls.driver = stage_text(cls.mgr, "idle_driver.py", DRIVER)
        cls.sock_path = cls.mgr.runtime_dir / f"{NAME}.sock"

    @classmethod
    def tearDownClass(cls) -> None:
        print(f"--- manager log (tail) ---\n{cls.mgr.manager_log(30)}", file=sys.stderr)

    def setUp(self) -> None:
        self.addCleanup(self.cleanup)

    def cleanup(self) -> None:
        self.mgr.remove_agent(self.exe, NAME, self.sock_path, stop=(SOCKET, SERVICE), remove=(SOCKET, SERVICE))

    def test_rapid_idle_cycling_loses_nothing(self) -> None:
        self.mgr.run_as_user([self.exe, "install", "--name", NAME, "--idle-timeout", "0.05", self.agent])
        exec_start = self.mgr.show(SERVICE, "ExecStart")["ExecStart"]
        self.assertIn("--idle-timeout 0.05 ", exec_start)
        self.assertNotIn("--min-uptime", exec_start, "this scenario is about the default minimum uptime")
        self.assertEqual(self.mgr.show(SOCKET, "ActiveState")["ActiveState"], "active")

        # Poll the units all the time the clients run: a `failed` socket must not go unseen.
        seen = {"socket": set(), "socket_result": set(), "service_result": set()}
        polls = [0]
        errors: list[str] = []
        done = threading.Event()

        def monitor() -> None:
            try:
                while not done.is_set():
                    s = self.mgr.show(SOCKET, "ActiveState", "Result")
                    r = self.mgr.show(SERVICE, "Result")
                    seen["socket"].add(s["ActiveState"])
                    seen["socket_result"].add(s["Result"])
                    seen["service_result"].add(r["Result"])
                    polls[0] += 1
                    done.wait(0.02)
            except Exception as exc:  # reported by the test, not lost in a thread
                errors.append(repr(exc))

        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        try:
            proc = self.mgr.run_as_user(
                [self.mgr.user_python, self.driver, str(self.sock_path), str(MIN_CONNECTIONS),
                 str(MIN_CYCLES), str(PHASE1_SECONDS), str(PHASE2_SECONDS), str(PHASE2_THREADS)],
                timeout=PHASE1_SECONDS + PHASE2_SECONDS + 20)
        finally:
            done.set()
            watcher.join(timeout=DEADLINE)
        report = json.loads(proc.stdout)
        # The last instance idle-exits, and the socket is back to listening (not failed).
        end = self.mgr.wait_for(
            lambda: (e := self.mgr.show(SOCKET, "ActiveState", "SubState", "Result"))["SubState"] != "running" and e,
            DEADLINE, f"the last instance to idle-exit and {SOCKET} to listen again")
        svc = self.mgr.show(SERVICE, "Result", "NRestarts")

        c1, c2 = report["counts"]["1"], report["counts"]["2"]
        total = {k: c1[k] + c2[k] for k in c1}
        print(f"\nphase 1 (one client, {report['targeted']} connections aimed at the exit, "
              f"{report['phase1_seconds']} s): made {c1['made']}, served {c1['served']}, "
              f"refused {c1['refused']}, lost {c1['lost']}, cycles {c1['cycles']}")
        print(f"phase 2 ({PHASE2_THREADS} clients at once, {PHASE2_SECONDS} s): made {c2['made']}, "
              f"served {c2['served']}, refused {c2['refused']}, lost {c2['lost']}, cycles {c2['cycles']}")
        print(f"total: made {total['made']}, served {total['served']}, refused {total['refused']}, "
              f"lost {total['lost']}; {report['cycles']} idle-exit/activation cycles "
              f"({report['pids']} distinct pids)")
        print(f"monitor: {polls[0]} polls; socket states {sorted(seen['socket'])}, socket results "
              f"{sorted(seen['socket_result'])}, service results {sorted(seen['service_result'])}; "
              f"at the end socket {end['ActiveState']}/{end['SubState']} Result={end['Result']}, "
              f"service Result={svc['Result']} NRestarts={svc['NRestarts']}")
        for line in report["failures"]:
            print("  failure:", line)

        self.assertEqual((total["refused"], total["lost"]), (0, 0), "connections refused or lost")
        self.assertEqual(total["served"], total["made"])
        self.assertGreaterEqual(c1["made"], MIN_CONNECTIONS)
        self.assertGreaterEqual(c1["cycles"], MIN_CYCLES, "too few idle-exit/activation cycles")
        self.assertGreater(c2["cycles"], 1, "the service did not cycle under concurrent clients")
        self.assertEqual(errors, [], "polling the units failed")
        self.assertGreater(polls[0], 0)
        self.assertNotIn("failed", seen["socket"])
        self.assertEqual(seen["socket_result"], {"success"})
        self.assertNotIn("start-limit-hit", seen["service_result"])
        self.assertEqual(seen["service_result"], {"success"}, "an instance did not exit cleanly")
        self.assertEqual((end["ActiveState"], end["SubState"], end["Result"]), ("active", "listening", "success"))
        self.assertEqual((svc["Result"], svc["NRestarts"]), ("success", "0"))


if __name__ == "__main__":
    usermgr.scenario_main()
