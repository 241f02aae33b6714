#!/usr/bin/env python3
"""Two test runs on one machine do not break each other.

Each run's fixture (usermgr.py start) has a user, a manager and cgroups of its own, named after
its state file (two build trees, two names); what they share, /run/systemd/system, is reference
counted. So a second run's manager starts beside this run's, and its stop leaves this one
running, with its units in place. Before, both used one user, and the second start killed the
first's manager as a "leftover of an earlier run".

Needs the fixture of usermgr.py (ctest -R systemd runs it), and root (it starts a second manager).
"""

from __future__ import annotations

import os
import pwd
import tempfile
import unittest
from pathlib import Path

import usermgr


class ParallelRuns(unittest.TestCase):
    def test_a_second_run_starts_and_stops_beside_this_one(self) -> None:
        mine = usermgr.Manager.from_state()
        if os.geteuid() != 0:
            self.fail("a second manager needs root (the fixture itself ran as root here)")
        with tempfile.TemporaryDirectory(prefix="pylaunchd-second-run-") as d:
            state = Path(d) / "user_manager.json"
            self.addCleanup(usermgr.cmd_stop, state)
            self.assertEqual(usermgr.cmd_start(state), 0, "a second run's manager starts")
            other = usermgr.Manager.from_state(state)
            self.assertNotEqual(other.user, mine.user, "each run has a user of its own")
            self.assertNotEqual(other.uid, mine.uid)
            self.assertEqual(other.is_system_running(), "running")
            self.assertEqual(mine.is_system_running(), "running", "this run's manager survived the second start")
            self.assertTrue(Path("/run/systemd/system").is_dir())
            self.assertEqual(usermgr.cmd_stop(state), 0)
            self.assertEqual(mine.is_system_running(), "running", "this run's manager survived the second stop")
            self.assertTrue(Path("/run/systemd/system").is_dir(), "still there for this run")
            with self.assertRaises(KeyError, msg="the second run's user went with its stop"):
                pwd.getpwnam(other.user)


if __name__ == "__main__":
    usermgr.scenario_main()
