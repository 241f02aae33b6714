#!/usr/bin/env python3
"""Scenario: the harness itself keeps its promises, so a green run means what it says.

- A hung scenario stops everything it started: the hang timer dumps the stacks, kills the
  servers (and their --accept children) and removes the temp directory, then fails. Before,
  faulthandler's exit left five pylaunchd and systemd-socket-activate processes behind.
- A skip that tests/skips.py does not list fails its script; a listed one passes as a skip and
  both are recorded for the summary ctest prints last.
"""

import json
import os
import sys
import textwrap
from pathlib import Path

import harness

HERE = os.path.dirname(os.path.abspath(__file__))

#: A scenario that starts a --listen server and an --accept child, writes their pids and its temp
#: directory where the outer test can read them, then hangs.
HANGING = """
import json, os, sys, time
sys.path.insert(0, {here!r})
import harness

class Hangs(harness.E2ETestCase):
    def test_hangs(self):
        served = self.unix_address("listen.sock")
        p = self.serve_listen(harness.ROT13_AGENT, listen=[served])
        activated = self.unix_address("accept.sock")
        a = self.activate(harness.ROT13_AGENT, listen=[activated], accept=True)
        c = self.client(activated)
        c.send(b"abc\\n")
        assert c.readline() == b"nop\\n"
        kids = sorted(harness.descendants(os.getpid()))
        with open({out!r}, "w") as f:
            json.dump({{"pids": kids, "tmp": self.tmp}}, f)
        time.sleep(600)

harness.main()
"""

#: One listed skip (IPv6 loopback) and one that nobody listed.
SKIPPING = """
import sys, unittest
sys.path.insert(0, {here!r})
import harness

class Skips(unittest.TestCase):
    def test_listed(self):
        self.skipTest("IPv6 loopback (::1) is not usable on this machine")

    {unlisted}

    def test_runs(self):
        pass

harness.main()
"""

UNLISTED = """def test_unlisted(self):
        self.skipTest("the feature is not ready")"""


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class HangCleanup(harness.E2ETestCase):
    def test_a_hang_stops_what_the_scenario_started(self):
        out = self.path("started.json")
        script = self.write_agent("hangs.py", HANGING.format(here=HERE, out=out))
        env = harness.clean_env({"PYLAUNCHD_E2E_HANG_DUMP": "8",
                                     "PYLAUNCHD_SKIP_RECORDS": self.path("records")})
        r = harness.run([sys.executable, script], timeout=60, env=env)
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 1, f"a hang must fail the script; stderr:\n{err}")
        self.assertIn("hung for 8 s", err)
        self.assertRegex(err, r'hangs\.py", line \d+ in test_hangs', "the stack dump shows where it hung")
        with open(out) as f:
            started = json.load(f)
        names = {pid: harness.comm(pid) for pid in started["pids"]}
        self.assertIn("pylaunchd", names.values(), f"the scenario should have started a pylaunchd: {names}")
        self.assertIn("systemd-socket-", " ".join(names.values()))
        harness.wait_for(lambda: not any(alive(p) for p in started["pids"]),
                         f"every process the hung scenario started ({names}) to be gone")
        self.assertFalse(os.path.exists(started["tmp"]), "the hung scenario's temp directory is removed")


class SkipPolicy(harness.E2ETestCase):
    def run_skipping(self, unlisted: str, allow: bool = False):
        script = self.write_agent("skipping.py", SKIPPING.format(here=HERE, unlisted=unlisted or "pass"))
        records = self.path("records")
        extra = {"PYLAUNCHD_SKIP_RECORDS": records}
        if allow:
            extra["PYLAUNCHD_ALLOW_SKIPS"] = "1"
        r = harness.run([sys.executable, script], env=harness.clean_env(extra))
        recs = [json.loads(Path(records, f).read_text()) for f in os.listdir(records)]
        return r, r.stderr.decode("utf-8", "replace"), recs

    def test_listed_skip_passes_and_is_recorded(self):
        r, err, recs = self.run_skipping("")
        self.assertEqual(r.returncode, 0, err)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["ran"], 2)
        self.assertEqual([s["listed"] for s in recs[0]["skipped"]], [True])

    def test_unlisted_skip_fails(self):
        r, err, recs = self.run_skipping(textwrap.dedent(UNLISTED).replace("\n", "\n    "))
        self.assertEqual(r.returncode, 1, f"an unlisted skip must fail; stderr:\n{err}")
        self.assertIn("not listed in tests/skips.py", err)
        self.assertIn("test_unlisted: the feature is not ready (NOT LISTED)", err)
        self.assertEqual(sorted(s["listed"] for s in recs[0]["skipped"]), [False, True])

    def test_unlisted_skip_passes_only_when_allowed_explicitly(self):
        r, err, recs = self.run_skipping(textwrap.dedent(UNLISTED).replace("\n", "\n    "), allow=True)
        self.assertEqual(r.returncode, 0, err)
        self.assertIn("NOT LISTED", err)

    def test_summary_names_each_reason(self):
        _, _, _ = self.run_skipping(textwrap.dedent(UNLISTED).replace("\n", "\n    "), allow=True)
        r = harness.run([sys.executable, os.path.join(os.path.dirname(HERE), "skips.py"), "summary",
                         self.path("records")])
        text = r.stdout.decode()
        self.assertIn("3 test methods ran in 1 Python scripts, 2 skipped:", text)
        self.assertIn("1 x the feature is not ready: NOT LISTED in tests/skips.py", text)
        self.assertIn("1 x IPv6 loopback (::1) is not usable on this machine: listed (", text)


if __name__ == "__main__":
    harness.main()
