#!/usr/bin/env python3
"""Two real local users for the tests that need another user: the ctest fixture `local_users`.

    users.py create    make the users and groups below (root only), replacing leftovers
    users.py remove    delete them, their homes and whatever they still run (when no other
                       test run still uses them)

The users (see README.md in this directory):

  pylaunchd-owner   an ordinary user who owns agents in the scenarios that run as someone other
                    than root; primary group pylaunchd-owner, a private group.
  pylaunchd-other   the other local user, the attacker of the security scenarios; its primary
                    group pylaunchd-other, and a member of pylaunchd-team as a supplementary
                    group only.

Each user's uid differs from its gid, and from every other id here, so a check that compares
a uid where it should compare a gid (or the reverse) cannot pass by accident.

Several test runs on one machine share the users: each `create` takes a reference (a count in
REFS, under an flock), and the users go with the last `remove`. Leftovers of a run that died
(users without a count) are replaced.

Without root, `create` cannot make users: it says so and fails (tests/skips.py: a skipped
fixture would let the security scenarios pass untested), or exits 77, ctest's skip code, when
PYLAUNCHD_ALLOW_SKIPS=1 allows skips.
Standard library only.
"""

import fcntl
import grp
import os
import pwd
import signal
import subprocess
import sys
import time

import skips  # tests/skips.py, beside this file

OWNER = "pylaunchd-owner"
OTHER = "pylaunchd-other"
TEAM = "pylaunchd-team"
#: Ids searched from here; each user's gid is chosen apart from every uid.
FIRST_ID = 23100
EXIT_SKIP = 77
#: How many test runs use the users now; the lock file beside it serializes create and remove.
REFS = "/run/pylaunchd-tests/users.refs"


class _Refs:
    """The reference count, read and written under an exclusive flock."""

    def __enter__(self):
        os.makedirs(os.path.dirname(REFS), mode=0o700, exist_ok=True)
        self.fd = os.open(REFS + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)

    def get(self) -> int:
        try:
            with open(REFS) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def set(self, n: int) -> None:
        with open(REFS, "w") as f:
            f.write(f"{n}\n")


#: Held by everything in the tests that makes a user or a group (this file, usermgr.py, the unit
#: tests' useradd): ids are chosen from a look at /etc/passwd and /etc/group, and another creator
#: between the look and groupadd would take the same id (a fixture started beside this one by
#: ctest -j2 did).
IDS_LOCK = os.path.join(os.path.dirname(REFS), "ids.lock")


class ids_locked:
    """An exclusive flock on IDS_LOCK for the with block."""

    def __enter__(self):
        os.makedirs(os.path.dirname(IDS_LOCK), mode=0o700, exist_ok=True)
        self.fd = os.open(IDS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _users_exist() -> bool:
    try:
        pwd.getpwnam(OWNER), pwd.getpwnam(OTHER), grp.getgrnam(TEAM)
        return True
    except KeyError:
        return False


def _run(argv) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"users.py: {' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")


def _free_id(taken: set) -> int:
    n = FIRST_ID
    while n in taken:
        n += 1
    taken.add(n)
    return n


def _taken_ids() -> set:
    return {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}


def _pids_of(uid: int) -> list:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except OSError:
            pass
    return pids


def _kill_all_of(uid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_of(uid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 5
        while _pids_of(uid) and time.monotonic() < end:
            time.sleep(0.05)


def remove() -> None:
    for name in (OTHER, OWNER):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        _kill_all_of(pw.pw_uid)
        _run(["userdel", "-r", "-f", name])
    for name in (TEAM, OTHER, OWNER):
        try:
            grp.getgrnam(name)
        except KeyError:
            continue
        _run(["groupdel", name])


def create() -> int:
    if os.geteuid() != 0:
        return skips.fixture_cannot("users.py create", f"making the test users {OWNER} and {OTHER} needs root",
                                    EXIT_SKIP)
    with _Refs() as refs:
        n = refs.get()
        if n > 0 and _users_exist():
            refs.set(n + 1)
            print(f"users.py: {OWNER} and {OTHER} exist, used by {n} other run(s)")
            return 0
        remove()  # leftovers of a run that died
        _make()
        refs.set(1)
    return 0


def _make() -> None:
    with ids_locked():
        _make_locked()


def _make_locked() -> None:
    taken = _taken_ids()
    team_gid = _free_id(taken)
    _run(["groupadd", "-g", str(team_gid), TEAM])
    for name, extra in ((OWNER, []), (OTHER, ["-G", TEAM])):
        uid = _free_id(taken)
        gid = _free_id(taken)
        _run(["groupadd", "-g", str(gid), name])
        _run(["useradd", "-m", "-s", "/bin/sh", "-c", "pylaunchd tests", "-u", str(uid), "-g", str(gid),
              *extra, name])
        pw = pwd.getpwnam(name)
        assert pw.pw_uid != pw.pw_gid, f"{name}: uid and gid must differ"
        print(f"users.py: created {name} (uid {pw.pw_uid}, gid {pw.pw_gid})")
    print(f"users.py: {OTHER} is in {TEAM} (gid {team_gid}) as a supplementary group")


def release() -> None:
    with _Refs() as refs:
        n = refs.get()
        if n > 1:
            refs.set(n - 1)
            print(f"users.py: {n - 1} other run(s) still use {OWNER} and {OTHER}; kept")
            return
        remove()
        refs.set(0)


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ("create", "remove"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "create":
        return create()
    if os.geteuid() == 0:
        release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
