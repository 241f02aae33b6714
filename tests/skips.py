#!/usr/bin/env python3
"""Every skip the suite allows, in one place, and the rules that make any other skip a failure.

A skip is green in unittest and ctest alike, so a suite can pass without testing what it says
(the security scenarios once passed with seven methods skipped because their second user did not
exist). Here a skip counts only when ALLOWED lists it, with the reason it may happen and why that
is acceptable; any other skip fails the script that skipped. The fixtures that cannot set up (no
root to make users, no user manager) fail instead of returning ctest's skip code.

The one way out is explicit: `PYLAUNCHD_ALLOW_SKIPS=1` (a contributor without root, say) lets
unlisted skips pass as skips, and the summary still counts them. The README's test command and CI
never set it.

Each script writes what it ran and skipped to `$PYLAUNCHD_SKIP_RECORDS` (set by ctest to
`BUILD/Testing/skips`); ctest runs `skips.py clear` before the tests and `skips.py summary` after
them (CTestCustom.cmake), so the suite's last lines say how many ran, how many skipped and why.

Usage from a test script:  skips.main()  in place of unittest.main(verbosity=2).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import unittest
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Allowed:
    test: str     # fnmatch pattern on the unittest id (module.Class.method)
    reason: str   # text the skip's reason must contain
    why: str      # why this skip is acceptable, for the summary and for reviewers


#: The only skips the suite accepts. Each is a property of the machine that no fixture can
#: provide; none of them hides a security or activation check that could run here.
ALLOWED: tuple[Allowed, ...] = (
    Allowed("*", "IPv6 loopback",
            "some containers have no ::1; the IPv4 rows of the same tests still run"),
    Allowed("test_access.*", "/tmp is not root's sticky directory",
            "the row checks the real /tmp; a machine whose /tmp is not root's 1777 has nothing to check"),
    Allowed("test_install_cli.*", "needs root without a user manager of its own",
            "the 'no manager reachable' rows need a root with no /run/user/0; a desktop root has one"),
    Allowed("test_install_cli.*", "has a runtime directory",
            "the owner user must have no manager for the 'no manager reachable' row; a leftover login has one"),
)


class SkipPolicyError(Exception):
    pass


def strict() -> bool:
    """Unlisted skips fail unless the caller said otherwise, explicitly."""
    return os.environ.get("PYLAUNCHD_ALLOW_SKIPS", "") in ("", "0")


def listed(test_id: str, reason: str) -> Allowed | None:
    for a in ALLOWED:
        if fnmatch.fnmatchcase(test_id, a.test) and a.reason in reason:
            return a
    return None


def _records_dir() -> Path | None:
    d = os.environ.get("PYLAUNCHD_SKIP_RECORDS")
    return Path(d) if d else None


def record(script: str, ran: int, skipped: list[tuple[str, str]], fixture_skip: str = "") -> None:
    """One JSON file per script run; the summary reads them all. Best effort: no records dir
    (a script run by hand) writes nothing."""
    d = _records_dir()
    if d is None:
        return
    d.mkdir(parents=True, exist_ok=True)
    data = {"script": script, "ran": ran, "fixture_skip": fixture_skip,
            "skipped": [{"id": t, "reason": r, "listed": listed(t, r) is not None} for t, r in skipped]}
    (d / f"{script}.{os.getpid()}.json").write_text(json.dumps(data))


def fixture_cannot(script: str, why: str, skip_code: int = 77) -> int:
    """The exit status of a fixture that cannot set up: a failure naming why, unless skips are
    allowed explicitly, then ctest's skip code (and a record the summary counts)."""
    if strict():
        print(f"{script}: {why}.\nThe suite needs this; a skip here would pass tests it did not run. "
              "Run the suite as root (the README's test command does), or set PYLAUNCHD_ALLOW_SKIPS=1 "
              "to skip what needs it and see the count in the summary.", file=sys.stderr)
        return 1
    print(f"{script}: {why}; skipping (PYLAUNCHD_ALLOW_SKIPS is set)", file=sys.stderr)
    record(script, 0, [], fixture_skip=why)
    return skip_code


def main(module: str = "__main__") -> None:
    """unittest.main(verbosity=2), then the skip policy: an unlisted skip fails the script."""
    prog = Path(sys.argv[0]).stem
    result = unittest.main(module=module, verbosity=2, exit=False).result
    skipped = [(test.id(), reason) for test, reason in result.skipped]
    record(prog, result.testsRun, skipped)
    unlisted = [(t, r) for t, r in skipped if listed(t, r) is None]
    for t, r in skipped:
        print(f"skipped {t}: {r} ({'listed in tests/skips.py' if (t, r) not in unlisted else 'NOT LISTED'})",
              file=sys.stderr)
    if unlisted and strict():
        print(f"{prog}: {len(unlisted)} skip(s) not listed in tests/skips.py: a skip is a test that did not run. "
              "Make it run here, or list it in ALLOWED with why (PYLAUNCHD_ALLOW_SKIPS=1 lets skips pass).",
              file=sys.stderr)
        sys.exit(1)
    sys.exit(0 if result.wasSuccessful() else 1)


# --- ctest's pre- and post-test steps --------------------------------------------------------------

def clear(d: Path) -> None:
    if d.is_dir():
        for f in d.glob("*.json"):
            f.unlink()


def summary(d: Path) -> str:
    ran = scripts = 0
    reasons: Counter[tuple[str, bool]] = Counter()
    fixtures: list[str] = []
    for f in sorted(d.glob("*.json")) if d.is_dir() else []:
        data = json.loads(f.read_text())
        scripts += 1
        ran += data["ran"]
        if data["fixture_skip"]:
            fixtures.append(f"{data['script']}: {data['fixture_skip']}")
        for s in data["skipped"]:
            reasons[(s["reason"], s["listed"])] += 1
    n_skipped = sum(reasons.values())
    lines = [f"pylaunchd tests: {ran} test methods ran in {scripts} Python scripts, {n_skipped} skipped"
             + (":" if n_skipped else " (plus the C unit tests, counted by ctest above).")]
    for (reason, ok), n in sorted(reasons.items()):
        a = next((a for a in ALLOWED if a.reason in reason), None) if ok else None
        lines.append(f"  {n} x {reason}: " + (f"listed ({a.why})" if a else "NOT LISTED in tests/skips.py"))
    for f in fixtures:
        lines.append(f"  fixture not set up, its tests not run: {f}")
    return "\n".join(lines)


def _cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("clear", "summary", "list"))
    p.add_argument("dir", nargs="?", type=Path)
    a = p.parse_args(argv)
    if a.action == "list":
        for al in ALLOWED:
            print(f"{al.test}: '{al.reason}': {al.why}")
    elif a.dir is None:
        p.error(f"{a.action} needs the records directory")
    elif a.action == "clear":
        clear(a.dir)
    else:
        print(summary(a.dir))
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
