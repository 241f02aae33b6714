#!/usr/bin/env python3
"""mutate.py: plants realistic bugs in launcher/, one at a time, and checks the suite catches each.

Run by hand or nightly, never by ctest (it rebuilds once per mutant; tests/README.md, Mutation
testing). It copies the source tree (build directories left out) into a scratch directory once,
configures and builds it once, runs the selected tests once unmutated (a test that already fails
there can kill nothing, so it is left out and named), then for each mutant: puts the bug in,
rebuilds incrementally, runs the tests the table names for it with ctest until the first one fails,
and puts the file back.

A mutant is KILLED when a test fails, STILLBORN when the build fails (not counted: every mutant
in the table is meant to compile), SURVIVED otherwise. Score = killed / (scored - stillborn),
where a mutant explained in the table as equivalent (no test can tell it from the original) is
reported but not scored. Exit status 1 when the score is below 95 %, 2 when the table has rotted
(a snippet that no longer occurs exactly once in its file).

    python3 tests/mutate.py                   # every mutant, its own tests
    python3 tests/mutate.py --list            # the table
    python3 tests/mutate.py --only access-gid-compares-uid --only parse-minus-sign
    python3 tests/mutate.py --all-tests       # the whole suite per mutant (hours)

Tests that need the local_users fixture (tests/users.py) run with the users created once, by
this script (root is needed, as for the suite), and `ctest -FA local_users`.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

SOURCE = Path(__file__).resolve().parent.parent
PASS_MARK = 95.0
EXCLUDED_DIRS = {".git", "__pycache__"}
UNIT = r"^unit_"  # every Check unit test, about 8 s in all (most of it unit_signals' timed backstops)


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    area: str
    file: str  # relative to the source tree
    find: str  # must occur exactly once in file
    replace: str
    bug: str  # the realistic bug it stands for
    tests: str  # ctest -R regex of the tests expected to kill it
    equivalent: str = ""  # why no test can tell it from the original: reported, not scored
    gap: str = ""  # a known survivor: the test that would kill it, not written yet (still scored)


M = Mutant
MUTANTS: list[Mutant] = [
    # ---- check-in: activation*.c, sdlisten.c, systemd_real.c, parse_listen_env ----
    M("listen-pid-ignored", "check-in", "launcher/parse.c",
      "        if (pid != (long long)self)\n                return 0;\n", "",
      "LISTEN_PID not compared with our pid: a child inherits its parent's sockets as its own",
      UNIT),
    M("listen-pidfdid-mismatch-ignored", "check-in", "launcher/parse.c",
      "                if (self_pidfdid && pidfdid != self_pidfdid)\n                        return 0;\n", "",
      "LISTEN_PIDFDID parsed but never compared: a reused pid takes another process's sockets",
      UNIT),
    M("sdlisten-no-cloexec", "check-in", "launcher/sdlisten.c",
      "fcntl(fd, F_SETFD, flags | FD_CLOEXEC)", "fcntl(fd, F_SETFD, flags)",
      "activated fds left inheritable: every subprocess of the agent holds the listening socket",
      UNIT),
    M("sdlisten-unset-inverted", "check-in", "launcher/sdlisten.c",
      "        if (unset_environment)\n", "        if (!unset_environment)\n",
      "LISTEN_* left in the environment when asked to unset them",
      UNIT),
    M("sdlisten-pidfdid-kept", "check-in", "launcher/sdlisten.c",
      '        unsetenv("LISTEN_PIDFDID");\n        unsetenv("LISTEN_FDS");', '        unsetenv("LISTEN_FDS");',
      "LISTEN_PIDFDID (systemd 256+) not unset with the others",
      UNIT),
    M("sdlisten-pidfd-never-asked", "check-in", "launcher/sdlisten.c",
      "env.pidfdid ? sdlisten_self_pidfdid() : 0", "0",
      "our own pidfd id never looked up: LISTEN_PIDFDID of another process accepted",
      UNIT),
    M("systemd-first-fd-skipped", "check-in", "launcher/activation_systemd.c",
      "for (int i = 0; i < n; i++) {", "for (int i = 1; i < n; i++) {",
      "off by one: the first activated fd (3) is never served",
      UNIT + "|^e2e_activation$"),
    M("systemd-names-not-indexed", "check-in", "launcher/activation_systemd.c",
      "names && names[i] ? names[i] : \"unknown\"", "names && names[0] ? names[0] : \"unknown\"",
      "every listener gets the first FileDescriptorName=",
      UNIT + "|^e2e_activation$"),
    M("systemd-bad-fd-not-reported", "check-in", "launcher/activation_systemd.c",
      "        return r < 0 ? r : n;\n", "        return n;\n",
      "an activated fd that is no socket is logged but the start goes on without it",
      UNIT + "|^e2e_bad_start$"),
    M("systemd-pidfdid-kept", "check-in", "launcher/activation_systemd.c",
      '        unsetenv("LISTEN_PIDFDID");\n', "",
      "LISTEN_PIDFDID left for the agent's children when the seam does not unset it (libsystemd 252)",
      UNIT + "|^e2e_(activation|sys)$"),
    M("systemd-real-no-notify", "check-in", "launcher/systemd_real.c",
      ".notify = sdnotify_send,", ".notify = NULL,",
      "the production seam has no notify sender: READY=1 never reaches systemd",
      r"^e2e_(module|attack_code)$"),
    M("checkin-unsafe-path-exit-code", "check-in", "launcher/activation.c",
      "r == -EINVAL ? EXIT_USAGE : r == -EPERM ? EXIT_AGENT_UNSAFE : EXIT_OS",
      "r == -EINVAL ? EXIT_USAGE : EXIT_OS",
      "a --listen path refused as unsafe exits 71 (OS error) instead of 77",
      UNIT + r"|^e2e_(attack_paths|bad_start)$"),
    M("checkin-no-passcred", "check-in", "launcher/activation.c",
      "if (l->info.role == SOCK_ROLE_DATAGRAM && (r = access_prepare_datagram",
      "if (l->info.role == SOCK_ROLE_FIFO && (r = access_prepare_datagram",
      "SO_PASSCRED/IP_PKTINFO never asked on datagram listeners: senders cannot be named",
      UNIT + r"|^e2e_(attack_peers|socket_kinds)$"),
    M("checkin-dead-fifo-accepted", "check-in", "launcher/activation.c",
      "poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)", "poll(&p, 1, 0) == 1 && (p.revents & POLLERR)",
      "a FIFO without writers is accepted and polled in a busy loop",
      UNIT + r"|^e2e_stops$"),
    M("checkin-origin-wrong", "check-in", "launcher/activation.c",
      "set->origin = ORIGIN_SYSTEMD;", "set->origin = ORIGIN_LISTEN;",
      "sockets from systemd recorded as self-bound (started_by, unlink at stop)",
      UNIT + r"|^e2e_activation$"),
    M("inetd-fd0-left-on-socket", "check-in", "launcher/activation_inetd.c",
      "i >= STDIN_FILENO; i--", "i > STDIN_FILENO; i--",
      "inetd style: fd 0 stays the client's socket, so input() reads the protocol stream",
      UNIT + r"|^e2e_inetd$"),
    M("listen-socket-umask", "check-in", "launcher/activation_listen.c",
      "old_umask = umask(0177);", "old_umask = umask(0);",
      "--listen unix: socket file created 0777 instead of 0600",
      UNIT + r"|^e2e_(activation|attack_paths)$"),
    M("listen-live-socket-replaced", "check-in", "launcher/activation_listen.c",
      "r = connect(fd, (const struct sockaddr *)sa, len) == 0 ? 0 : -errno;", "r = -ECONNREFUSED;",
      "the in-use probe skipped: a live server's socket is unlinked and taken over",
      UNIT + r"|^e2e_bad_start$"),
    # ---- peer checks: access.c, peercred.c, sockdiag.c ----
    M("access-gid-compares-uid", "peer", "launcher/access.c",
      "gid_listed(p->allow_gid, p->n_allow_gid, peer->gid)", "gid_listed(p->allow_gid, p->n_allow_gid, peer->uid)",
      "--allow-gid compares the peer's uid (issue 16, point 4)",
      UNIT + r"|^e2e_(access|attack_peers)$"),
    M("access-unknown-peer-allowed", "peer", "launcher/access.c",
      "        if (!peer->known)\n                return false;", "        if (!peer->known)\n                return true;",
      "a peer whose identity could not be learnt is let in (fail open)",
      UNIT + r"|^e2e_attack_peers$"),
    M("access-allow-uid-compares-gid", "peer", "launcher/access.c",
      "uid_listed(p->allow_uid, p->n_allow_uid, peer->uid)", "uid_listed(p->allow_uid, p->n_allow_uid, peer->gid)",
      "--allow-uid compares the peer's gid",
      UNIT + r"|^e2e_access$"),
    M("access-group-cache-any-user", "peer", "launcher/access.c",
      "e->used && e->uid == uid && now", "e->used && now",
      "the group cache answers for whichever user it last looked up",
      UNIT),
    M("access-supplementary-groups-ignored", "peer", "launcher/access.c",
      "        return user_in_groups(peer->uid, p->allow_gid, p->n_allow_gid);\n", "        return false;\n",
      "--allow-gid honours only the peer's primary gid, not group membership",
      UNIT + r"|^e2e_attack_peers$"),
    M("access-closed-socket-allowed", "peer", "launcher/access.c",
      "                peer->local = true;\n                return 0;\n", "                peer->local = true;\n                return 1;\n",
      "a local TCP peer already closed (TIME_WAIT, no owner) is let in",
      UNIT),
    M("access-vanished-local-peer-allowed", "peer", "launcher/access.c",
      "        return !peer->local;\n", "        return 1;\n",
      "a local peer that sock_diag no longer finds (RST, data queued) is let in",
      UNIT),
    M("access-datagram-creds-assumed", "peer", "launcher/access.c",
      "s->has_creds = uc.pid != 0;", "s->has_creds = true;",
      "a datagram queued before SO_PASSCRED is judged by the overflow uid 65534",
      UNIT),
    M("access-path-guard-group-write", "peer", "launcher/access.c",
      "!(st.st_mode & (S_IWGRP | S_IWOTH))", "!(st.st_mode & S_IWOTH)",
      "a group-writable datagram socket file is taken as proof only the owner could send",
      UNIT),
    M("access-refused-datagram-kept", "peer", "launcher/access.c",
      "        if (r <= 0)\n                drop_datagram(fd);", "        if (r < 0)\n                drop_datagram(fd);",
      "a refused datagram stays queued, for the agent's next recv() to read",
      UNIT + r"|^e2e_attack_peers$"),
    M("peercred-gid-is-uid", "peer", "launcher/peercred.c",
      ".uid = uc.uid, .gid = uc.gid", ".uid = uc.uid, .gid = uc.uid",
      "SO_PEERCRED's gid filled from the uid",
      UNIT + r"|^e2e_(module|attack_peers)$"),
    M("sockdiag-tcp-far-end-unchecked", "peer", "launcher/sockdiag.c",
      "same_addr(q->family, q->src, m->idiag_family, src) &&\n                       same_addr(q->family, q->dst, m->idiag_family, dst);",
      "same_addr(q->family, q->src, m->idiag_family, src);",
      "a TCP answer taken without checking its far end (a listener on the peer's port answers)",
      UNIT),
    M("sockdiag-timewait-is-root", "peer", "launcher/sockdiag.c",
      "        if (m.idiag_inode == 0)\n                return -EOWNERDEAD;\n", "",
      "a TIME_WAIT socket's uid 0 read as root",
      UNIT),
    M("sockdiag-udp-not-swapped", "peer", "launcher/sockdiag.c",
      "memcpy(r.id.idiag_src, q->dst, n);\n                memcpy(r.id.idiag_dst, q->src, n);",
      "memcpy(r.id.idiag_src, q->src, n);\n                memcpy(r.id.idiag_dst, q->dst, n);",
      "UDP lookup with src and dst as for TCP: the kernel answers with the wrong socket",
      UNIT + r"|^e2e_attack_peers$"),
    # ---- StrictModes: strictmodes.c, acl.c ----
    M("strictmodes-others-dirs-trusted", "strictmodes", "launcher/strictmodes.c",
      "if (st->st_uid != uid && st->st_uid != 0)", "if (st->st_uid != uid && st->st_uid != 0 && !S_ISDIR(st->st_mode))",
      "a directory on the path owned by another user passes",
      UNIT + r"|^e2e_access$"),
    M("strictmodes-own-sticky-dir", "strictmodes", "launcher/strictmodes.c",
      "S_ISDIR(st->st_mode) && st->st_uid == 0 && (st->st_mode & S_ISVTX)",
      "S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX)",
      "any sticky directory passes, not only root's (/tmp): our own world-writable one too",
      UNIT + r"|^e2e_access$"),
    M("strictmodes-group-writable-dir", "strictmodes", "launcher/strictmodes.c",
      "if ((st->st_mode & S_IWGRP) && !private_group(st->st_gid, uid))",
      "if ((st->st_mode & S_IWGRP) && !private_group(st->st_gid, uid) && !S_ISDIR(st->st_mode))",
      "a group-writable directory passes (others can plant a module beside the agent)",
      UNIT + r"|^e2e_access$"),
    M("strictmodes-shared-group-private", "strictmodes", "launcher/strictmodes.c",
      "                if (strcmp(*m, pw.pw_name) != 0)\n                        return false;\n",
      "                continue;\n",
      "a user's primary group with other members counts as private",
      UNIT + r"|^e2e_access$"),
    M("strictmodes-group-name-unchecked", "strictmodes", "launcher/strictmodes.c",
      "        return strcmp(gr.gr_name, pw.pw_name) == 0;\n", "        return true;\n",
      "any memberless primary group counts as the user's private group, whatever its name",
      UNIT),
    M("strictmodes-parents-ignored", "strictmodes", "launcher/strictmodes.c",
      "                if ((r = check_one(buf, uid, true, ret_why, size)) < 0)\n                        return r;\n",
      "                (void)check_one(buf, uid, true, ret_why, size);\n",
      "the directories above the agent are checked but their verdict dropped",
      UNIT + r"|^e2e_access$"),
    M("strictmodes-acl-user-tag", "strictmodes", "launcher/strictmodes.c",
      "w.tag == ACL_XATTR_USER && w.id != uid && w.id != 0", "w.tag == ACL_XATTR_USER_OBJ && w.id != uid && w.id != 0",
      "named-user ACL entries never refused (USER_OBJ confused with USER)",
      UNIT + r"|^e2e_attack_paths$"),
    M("acl-no-mask-means-no-writes", "strictmodes", "launcher/acl.c",
      "*ret_mask_writes = !has_mask || mask_writes;", "*ret_mask_writes = mask_writes;",
      "an ACL without a mask read as masking every write",
      UNIT),
    M("acl-named-group-skipped", "strictmodes", "launcher/acl.c",
      "if (tag != ACL_XATTR_USER && tag != ACL_XATTR_GROUP && tag != ACL_XATTR_GROUP_OBJ)",
      "if (tag != ACL_XATTR_USER && tag != ACL_XATTR_GROUP_OBJ)",
      "named-group ACL entries never reported as writers",
      UNIT + r"|^e2e_attack_paths$"),
    # ---- idle clock: activity.c, serve.c ----
    M("idle-from-last-start", "idle", "launcher/activity.c",
      "void activity_leave(struct activity *a) {\n        touch(a);\n", "void activity_leave(struct activity *a) {\n",
      "idle measured from the start of the last connection (issue 16, point 5)",
      UNIT + r"|^e2e_activation$"),
    M("idle-in-flight", "idle", "launcher/activity.c",
      "        if (atomic_load(&a->busy) > 0)\n                return 0;\n", "",
      "idle exit while a handler is in flight",
      UNIT + r"|^e2e_activation$"),
    M("idle-later-time-overwritten", "idle", "launcher/activity.c",
      "while (seen < now &&", "while (seen != now &&",
      "a worker overwrites another worker's later activity with an earlier time",
      UNIT),
    M("idle-timeout-units", "idle", "launcher/serve.c",
      "activity_idle_at(s->activity, s->cfg->idle_usec)", "activity_idle_at(s->activity, s->cfg->idle_usec / 1000)",
      "--idle-timeout taken as milliseconds by the supervisor: exits 1000 times too early",
      r"^e2e_(activation|signals)$"),
    M("idle-min-uptime-ignored", "idle", "launcher/serve.c",
      "                        if (idle_at < start + s->cfg->min_uptime_usec)\n"
      "                                idle_at = start + s->cfg->min_uptime_usec;\n", "",
      "--min-uptime not honoured: an idle exit before systemd's start limit interval",
      r"^e2e_(activation|signals)$|^systemd_idle$"),
    # ---- notify: notify.c, sdnotify.c, parse_notify_socket, the STATUS/READY/STOPPING lines ----
    M("notify-socket-inherited", "notify", "launcher/notify.c",
      '        unsetenv("NOTIFY_SOCKET");\n', "",
      "NOTIFY_SOCKET left for the agent: its children can send READY=1/STOPPING=1 as the service",
      UNIT + r"|^e2e_attack_code$"),
    M("notify-watchdog-inherited", "notify", "launcher/notify.c",
      '        unsetenv("WATCHDOG_USEC");\n', "",
      "WATCHDOG_USEC left for the agent's children",
      UNIT),
    M("notify-watchdog-pid-unchecked", "notify", "launcher/notify.c",
      "(!pid || (parse_int_range(pid, 1, INT32_MAX, &p) == 0 && p == (long long)getpid()))",
      "(!pid || parse_int_range(pid, 1, INT32_MAX, &p) == 0)",
      "a WATCHDOG_PID naming another process still turns the watchdog on",
      UNIT),
    M("notify-abstract-name", "notify", "launcher/parse.c",
      "        if (s[0] == '@')\n                un->sun_path[0] = '\\0';\n", "",
      "NOTIFY_SOCKET=@name sent to a socket literally named '@name'",
      UNIT),
    M("notify-sendto-length", "notify", "launcher/sdnotify.c",
      "(const struct sockaddr *)&a->ss, a->len);", "(const struct sockaddr *)&a->ss, sizeof a->ss);",
      "sendto() given the storage size, not the address length",
      UNIT),
    M("notify-no-ready", "notify", "launcher/main.c",
      'notify_send("READY=1\\nSTATUS=Serving %s", what);', 'notify_send("STATUS=Serving %s", what);',
      "READY=1 never sent: a Type=notify service times out starting",
      r"^e2e_(module|attack_code)$"),
    M("notify-no-stopping", "notify", "launcher/serve.c",
      'notify_send("STOPPING=1\\nSTATUS=Stopped after', 'notify_send("STATUS=Stopped after',
      "STOPPING=1 not sent at a stop",
      r"^e2e_(module|attack_code|signals)$"),
    M("notify-fields-joined-by-space", "notify", "launcher/pylaunchd.py",
      'return _pylaunchd.notify("\\n".join(parts))', 'return _pylaunchd.notify(" ".join(parts))',
      "pylaunchd.notify() joins fields with a space: one field with a garbled value",
      r"^e2e_module$"),
    M("notify-status-prefix", "notify", "launcher/pylaunchd.py",
      'return _pylaunchd.notify("STATUS=" + text)', "return _pylaunchd.notify(text)",
      "pylaunchd.status() sends the text without STATUS=",
      r"^e2e_module$"),
    M("journal-warning-priority", "notify", "launcher/pylaunchd.py",
      "            if levelno >= logging.WARNING:\n                return 4\n",
      "            if levelno >= logging.WARNING:\n                return 5\n",
      "JournalHandler logs warnings at <5> (notice)",
      r"^e2e_module$"),
    # ---- reload ----
    M("reload-half-module-kept", "reload", "launcher/pylaunchd.py",
      "            if old is None:\n                del sys.modules[name]\n",
      "            if old is None:\n                pass\n",
      "a failed first import leaves the half-imported module in sys.modules (only _load_agent's own "
      "contract shows it: the launcher never imports again after a failed first import)",
      UNIT + r"|^e2e_(signals|bad_start)$"),
    M("reload-failed-module-replaces-old", "reload", "launcher/pylaunchd.py",
      "            else:\n                sys.modules[name] = old\n", "",
      "a failed reload leaves the broken new module in sys.modules instead of the old one (issue 16, point 7)",
      UNIT + r"|^e2e_signals$"),
    M("reload-lacking-handle-taken", "reload", "launcher/interp.c",
      "if ((agent->handle && !handle) || (!agent->handle && !serve)) {", "if (!agent->handle && !serve) {",
      "a reloaded agent without handle() replaces the running one",
      r"^e2e_signals$"),
    M("reload-ignored-while-one-runs", "reload", "launcher/serve.c",
      "        s->reloading = spawn_other_locked(s, reload_thread, NULL);\n",
      "        (void)spawn_other_locked(s, reload_thread, NULL);\n",
      "overlapping SIGHUPs each start an import thread: two reloads race on sys.modules",
      r"^e2e_(signals|stops)$"),
    # ---- stop: signals.c (backstop, forks), serve.c ----
    M("stop-sigpipe-default", "stop", "launcher/signals.c",
      "        sa.sa_handler = SIG_IGN;\n", "        sa.sa_handler = SIG_DFL;\n",
      "SIGPIPE not ignored: a client that goes away kills the launcher",
      r"^e2e_(robustness|bad_input)$"),
    M("stop-fork-keeps-sigterm-handler", "stop", "launcher/signals.c",
      "        (void)sigaction(SIGTERM, &sa, NULL);\n", "",
      "a child the agent forks keeps our SIGTERM handler: it cannot be stopped and writes into our pipe",
      r"^e2e_stops$"),
    M("stop-backstop-restarts", "stop", "launcher/signals.c",
      "if (buf[i] == 'S' && !began) {", "if (buf[i] == 'S') {",
      "each further SIGTERM restarts the backstop's clock: repeated signals postpone the stop forever",
      UNIT + r"|^e2e_(stops|signals)$"),
    M("stop-backstop-grace-twice", "stop", "launcher/signals.c",
      "deadline = began + backstop_grace_usec + STOP_MARGIN_USEC;", "deadline = began + 2 * backstop_grace_usec + STOP_MARGIN_USEC;",
      "the backstop waits twice --stop-timeout",
      UNIT + r"|^e2e_(stops|signals)$"),
    M("stop-serve-mode-no-backstop", "stop", "launcher/signals.c",
      '                (void)!write(backstop_pipe[1], "S", 1);\n                if (fwd)',
      "                if (fwd)",
      "SIGTERM in serve() mode does not start the backstop: an agent that swallows it runs on",
      UNIT + r"|^e2e_stops$"),
    M("stop-backstop-exit-zero", "stop", "launcher/signals.c",
      "_exit(atomic_load(&backstop_code));", "_exit(0);",
      "the backstop exits 0, hiding why the stop was forced",
      UNIT + r"|^e2e_(stops|signals)$"),
    M("stop-grace-unenforced", "stop", "launcher/serve.c",
      "                        if (now >= stop_deadline) {\n", "                        if (now >= stop_deadline + 3600000000ULL) {\n",
      "the supervisor never abandons handlers after --stop-timeout (only the backstop ends it)",
      r"^e2e_(bad_input|signals|stops)$"),
    M("stop-children-not-signalled", "stop", "launcher/serve.c",
      "child_is_copy(s->children[i]) && kill(s->children[i], SIGTERM) == 0",
      "child_is_copy(s->children[i]) && kill(s->children[i], 0) == 0",
      "the agent's forked children get no SIGTERM at a stop (killed only at the deadline)",
      r"^e2e_stops$"),
    # ---- parsers: parse.c ----
    M("parse-minus-sign", "parser", "launcher/parse.c",
      "if ((*s == '+') || (*s == '-' && min >= 0))", "if (*s == '+')",
      "a minus sign on an unsigned number is a range error, not a syntax error",
      UNIT),
    M("parse-max-excluded", "parser", "launcher/parse.c",
      "v < min || v > max", "v < min || v >= max",
      "off by one: the maximum itself is refused (port 65535)",
      UNIT),
    M("parse-unbracketed-ipv6", "parser", "launcher/parse.c",
      "if (memchr(s, ':', hostlen) || memchr(s, ']', hostlen))", "if (memchr(s, ']', hostlen))",
      "tcp:::1:8080 accepted: an ambiguous unbracketed IPv6 address",
      UNIT),
    M("parse-empty-abstract", "parser", "launcher/parse.c",
      "(s[5] == '@' && len < 2)", "(s[5] == '@' && len < 1)",
      "unix:@ accepted: an empty abstract name",
      UNIT),
    M("parse-duration-no-digits", "parser", "launcher/parse.c",
      "if (*p != '\\0' || digits == 0)", "if (*p != '\\0')",
      "a duration of '.' parses as 0",
      UNIT),
    M("parse-umask-five-digits", "parser", "launcher/parse.c",
      "s[n] > '7' || n >= 4)", "s[n] > '7' || n >= 5)",
      "a five-digit umask accepted",
      UNIT),
    M("parse-fdnames-fewer", "parser", "launcher/parse.c",
      "        if (count != n) {\n", "        if (count < n) {\n",
      "LISTEN_FDNAMES with more names than fds accepted",
      UNIT),
    M("parse-keyword-off-by-one", "parser", "launcher/parse.c",
      "for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)",
      "for (size_t i = 1; i < sizeof keywords / sizeof keywords[0]; i++)",
      "off by one: False.py accepted as a module name",
      UNIT),
    M("parse-notify-path-no-nul-room", "parser", "launcher/parse.c",
      "len > sizeof un->sun_path - (s[0] == '/')", "len > sizeof un->sun_path",
      "a 108-byte NOTIFY_SOCKET path accepted with no room for its NUL",
      UNIT),
    M("parse-journal-stream-no-inode", "parser", "launcher/parse.c",
      "if (errno || *end != ':' || !isdigit((unsigned char)end[1]))", "if (errno || *end != ':')",
      "JOURNAL_STREAM=8: (no inode) or 8:-1 accepted",
      UNIT),
    M("parse-port-zero", "parser", "launcher/parse.c",
      "parse_int_range(s, 1, 65535, &v)", "parse_int_range(s, 0, 65535, &v)",
      "--listen tcp:HOST:0 accepted (a random port nobody can find)",
      UNIT),
    M("parse-nearest-too-loose", "parser", "launcher/parse.c",
      "limit = len <= 4 ? 1 : len <= 8 ? 2 : 3", "limit = len <= 4 ? 2 : len <= 8 ? 2 : 3",
      "'did you mean' suggests words two edits from a four-letter typo",
      UNIT),
    # ---- daemon mode: daemon.c ----
    M("daemon-pidfile-unlocked", "daemon", "launcher/daemon.c",
      "        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {\n", "        if (fd < 0) {\n",
      "the pidfile is never locked: a second daemon starts beside the first",
      r"^e2e_daemon$"),
    M("daemon-verdict-lost", "daemon", "launcher/daemon.c",
      "_exit(verdict == 'R' ? EXIT_OK : verdict);", "_exit(EXIT_OK);",
      "the starter exits 0 whatever the daemon's start-up failure",
      r"^e2e_daemon$"),
    M("daemon-no-chdir", "daemon", "launcher/daemon.c",
      'if (chdir(o->chdir ? o->chdir : "/") < 0) {', 'if (o->chdir && chdir(o->chdir) < 0) {',
      "the daemon keeps the starter's working directory (holds a mount busy)",
      r"^e2e_daemon$"),
    M("daemon-core-dumps-on", "daemon", "launcher/daemon.c",
      "        if (!o->core_dumps)\n                (void)setrlimit(RLIMIT_CORE, &core);\n", "",
      "core dumps left on by default (they may hold secrets)",
      r"^e2e_daemon$"),
    M("daemon-pidfile-left", "daemon", "launcher/daemon.c",
      "if (unlink(pid_path) < 0 && errno != ENOENT)", "if (access(pid_path, F_OK) < 0 && errno != ENOENT)",
      "the pidfile is not removed at exit",
      r"^e2e_daemon$"),
    M("daemon-root-groups-kept", "daemon", "launcher/daemon.c",
      "if ((pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) < 0 || setgid(gid) < 0 ||",
      "if (setgid(gid) < 0 ||",
      "--user drops uid and gid but keeps root's supplementary groups",
      UNIT + r"|^e2e_daemon$"),
    M("daemon-stdin-kept", "daemon", "launcher/daemon.c",
      "        (void)dup2(null, STDIN_FILENO);\n", "",
      "the daemon keeps the starter's stdin (a terminal)",
      r"^e2e_daemon$"),
    M("daemon-inherited-fds-kept", "daemon", "launcher/daemon.c",
      "        close_inherited(o, set, status_fd, -1);\n", "",
      "the daemon keeps every fd it inherited (a parent's pipe never sees EOF)",
      r"^e2e_daemon$"),
    M("daemon-pidfile-not-truncated", "daemon", "launcher/daemon.c",
      "if (ftruncate(pid_fd, 0) < 0 || pwrite(", "if (pwrite(",
      "a longer stale PID's tail stays in the pidfile after ours",
      r"^e2e_daemon$"),
    # ---- the module's Python half: pylaunchd.py ----
    M("conn-close-ignores-makefile", "module", "launcher/pylaunchd.py",
      "        if self._io_refs <= 0:\n            _socket.socket.close(self)\n",
      "        _socket.socket.close(self)\n",
      "Connection.close() closes the fd under open makefile() objects (issue 16, point 6)",
      r"^e2e_(module|rot13|examples)$"),
    M("datagram-recv-unchecked", "module", "launcher/pylaunchd.py",
      "        self._checked(flags)\n        return _socket.socket.recv(self, bufsize, flags)\n",
      "        return _socket.socket.recv(self, bufsize, flags)\n",
      "Datagram.recv() reads without checking the sender: anyone's datagram reaches the agent",
      UNIT + r"|^e2e_(attack_peers|socket_kinds)$"),
]


# ---- the scratch tree ----------------------------------------------------------------------

def is_build_dir(rel: Path) -> bool:
    return len(rel.parts) == 1 and (rel.name == "build" or rel.name.startswith("build-"))


def source_files(root: Path) -> Iterable[Path]:
    """Every file of the source tree, relative to it: build directories, .git and caches left out."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames
                             if d not in EXCLUDED_DIRS and not is_build_dir(rel_dir / d))
        for name in sorted(filenames):
            yield rel_dir / name


def sync_tree(source: Path, dest: Path) -> int:
    """Copies source to dest: only files whose bytes differ are written (with a fresh mtime, so an
    incremental build sees them), and files gone from source are removed. Returns files written."""
    written, wanted = 0, set()
    for rel in source_files(source):
        wanted.add(rel)
        src, dst = source / rel, dest / rel
        if src.is_symlink() or not src.is_file():
            continue
        data = src.read_bytes()
        if dst.is_file() and dst.read_bytes() == data:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        shutil.copymode(src, dst)
        written += 1
    if dest.exists():
        for rel in list(source_files(dest)):
            if rel not in wanted:
                (dest / rel).unlink()
    return written


class Stamp:
    """mtimes that only go forward: a mutated or restored file is always newer than its object,
    even when two edits fall in the same second or the build ran a moment ago."""

    def __init__(self, build: Path) -> None:
        newest = max((p.stat().st_mtime for p in build.rglob("*.o")), default=0.0)
        self.last = max(time.time(), newest)

    def touch(self, path: Path) -> None:
        self.last = max(time.time(), self.last + 1.0)
        os.utime(path, (self.last, self.last))


# ---- running things ------------------------------------------------------------------------

def become_subreaper() -> None:
    """Orphans of a stopped run (servers in sessions of their own) become ours, so that
    stop_group() finds them, as the e2e harness does (prctl PR_SET_CHILD_SUBREAPER, Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def descendants() -> list[int]:
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = [], [os.getpid()]
    while frontier:
        frontier = [pid for pid, ppid in parent.items() if ppid in frontier and pid not in found]
        found += frontier
    return found


def stop_group(proc: subprocess.Popen) -> None:
    """Stops a run and everything it started: SIGINT to its group first (ctest passes it on), then
    SIGKILL to whatever is left below us, each process's group included, and reaps them."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    for pid in descendants():
        try:
            pgid = os.getpgid(pid)
            os.killpg(pgid, signal.SIGKILL) if pgid != os.getpgrp() else os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.poll() is None:
        proc.wait()
    reap()


def reap() -> None:
    """Orphans that ended below us (we are their subreaper); only after our own child's wait()."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def run(cmd: list[str], log: Path, timeout: float, env: Optional[dict] = None,
        stop_when: Optional[Callable[[str], bool]] = None) -> int:
    """Runs cmd in a process group of its own, its output to log. stop_when(line) true for an
    output line ends the run there (the first failing test is all a mutant needs). On a timeout
    or an interruption everything it started is stopped (stop_group)."""
    deadline = time.monotonic() + timeout
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env, text=True, errors="replace", bufsize=1)
        stopped = False
        try:
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), True)
            while True:
                ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    out.write(f"\nmutate.py: timed out after {timeout:.0f} s\n")
                    stopped = True
                    return -1
                line = proc.stdout.readline()
                if not line:
                    break
                out.write(line)
                if stop_when and stop_when(line):
                    out.write("\nmutate.py: stopped at the first failure\n")
                    stopped = True
                    break
            return proc.wait() if not stopped else -2
        finally:
            if stopped or proc.poll() is None:
                stop_group(proc)
            else:
                proc.wait()
                reap()


TEST_LINE = re.compile(r"Test\s+#\d+: (\S+) \.*\s*(.*)$")


def ctest_results(log: Path) -> list[tuple[str, bool]]:
    """(test, passed) in the order ctest finished them."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = TEST_LINE.search(line)
        if m:
            out.append((m.group(1), m.group(2).startswith("Passed")))
    return out


def failed_line(line: str) -> bool:
    m = TEST_LINE.search(line)
    return bool(m) and not m.group(2).startswith("Passed")


@dataclasses.dataclass
class Runner:
    tree: Path
    build: Path
    logs: Path
    jobs: int
    fixtures: list[str]
    tmp: Path
    exclude: list[str] = dataclasses.field(default_factory=list)

    def build_cmd(self) -> list[str]:
        return ["cmake", "--build", str(self.build), f"-j{self.jobs}"]

    def ctest(self, regex: Optional[str], log: Path, stop_on_failure: bool) -> list[tuple[str, bool]]:
        cmd = ["ctest", "--test-dir", str(self.build), f"-j{self.jobs}", "--output-on-failure"]
        if regex:
            cmd += ["-R", regex]
        if self.exclude:
            cmd += ["-E", "|".join(f"^{re.escape(t)}$" for t in self.exclude)]
        for f in self.fixtures:
            cmd += ["-FA", f]
        # A temp directory per run, like /tmp (root's, sticky), emptied after it: a run stopped at
        # its first failure leaves no test's files behind.
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        os.chmod(self.tmp, 0o1777)
        env = dict(os.environ, TMPDIR=str(self.tmp))
        try:
            run(cmd, log, timeout=3600, env=env, stop_when=failed_line if stop_on_failure else None)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return ctest_results(log)


def check_table(mutants: list[Mutant], tree: Path) -> list[str]:
    """Every snippet must occur exactly once in its file: the table cannot rot silently."""
    problems, ids = [], set()
    for m in mutants:
        if m.id in ids:
            problems.append(f"{m.id}: duplicate id")
        ids.add(m.id)
        path = tree / m.file
        if not path.is_file():
            problems.append(f"{m.id}: {m.file} does not exist")
            continue
        n = path.read_text().count(m.find)
        if n != 1:
            problems.append(f"{m.id}: its snippet occurs {n} times in {m.file}, not once:\n    {m.find!r}")
        try:
            re.compile(m.tests)
        except re.error as e:
            problems.append(f"{m.id}: test regex {m.tests!r}: {e}")
    return problems


def list_tests(build: Path) -> dict[str, set[str]]:
    """Every test ctest knows, with the fixtures it requires."""
    out = subprocess.run(["ctest", "--test-dir", str(build), "--show-only=json-v1"], capture_output=True,
                         text=True, check=True).stdout
    data, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])  # the skip summary may follow
    tests = {}
    for t in data["tests"]:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        tests[t["name"]] = set(props.get("FIXTURES_REQUIRED", []))
    return tests


@dataclasses.dataclass
class Result:
    mutant: Mutant
    verdict: str  # killed, survived, stillborn, no-tests
    killer: str = ""
    seconds: float = 0.0


def mutate_one(m: Mutant, runner: Runner, stamp: Stamp, all_tests: bool) -> Result:
    path = runner.tree / m.file
    original = path.read_text()
    started = time.monotonic()
    log_base = runner.logs / m.id
    try:
        path.write_text(original.replace(m.find, m.replace, 1))
        stamp.touch(path)
        if run(runner.build_cmd(), log_base.with_suffix(".build.log"), timeout=1800) != 0:
            return Result(m, "stillborn", seconds=time.monotonic() - started)
        results = runner.ctest(None if all_tests else m.tests, log_base.with_suffix(".test.log"),
                               stop_on_failure=True)
        failed = [name for name, ok in results if not ok]
        if failed:
            return Result(m, "killed", failed[0], time.monotonic() - started)
        return Result(m, "survived" if results else "no-tests", seconds=time.monotonic() - started)
    finally:
        path.write_text(original)
        stamp.touch(path)


def describe(r: Result) -> str:
    if r.verdict == "killed":
        what = f"killed by {r.killer}"
    elif r.verdict == "stillborn":
        what = "STILLBORN (does not build)"
    elif r.verdict == "no-tests":
        what = "SURVIVED (no test selected)"
    else:
        what = "SURVIVED"
    if r.mutant.equivalent:
        what += " [equivalent]"
    return what


def summarize(results: list[Result], elapsed: float, excluded: list[str], command: str) -> tuple[str, float]:
    lines = [f"| mutant | area | file | result | s |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r.mutant.id} | {r.mutant.area} | {r.mutant.file} | {describe(r)} | {r.seconds:.0f} |")
    stillborn = [r for r in results if r.verdict == "stillborn"]
    equivalent = [r for r in results if r.mutant.equivalent and r.verdict != "killed" and r.verdict != "stillborn"]
    scored = [r for r in results if r not in stillborn and r not in equivalent]
    killed = [r for r in scored if r.verdict == "killed"]
    survivors = [r for r in scored if r.verdict != "killed"]
    score = 100.0 * len(killed) / len(scored) if scored else 0.0
    lines += ["", f"mutants: {len(results)}; killed {len(killed)}, survived {len(survivors)}, "
                  f"equivalent (explained, not scored) {len(equivalent)}, stillborn {len(stillborn)}",
              f"score: {len(killed)}/{len(scored)} = {score:.1f} % (pass mark {PASS_MARK:.0f} %)"]
    if survivors:
        lines += ["", "survivors (a test gap, or an equivalent mutant not yet explained in the table):"]
        lines += [f"- {r.mutant.id} ({r.mutant.file}): {r.mutant.bug}" +
                  (f"\n  known gap, the test that would kill it: {r.mutant.gap}" if r.mutant.gap else "")
                  for r in survivors]
    if equivalent:
        lines += ["", "equivalent mutants (survived; the table says why no test can kill them):"]
        lines += [f"- {r.mutant.id} ({r.mutant.file}): {r.mutant.equivalent}" for r in equivalent]
    if stillborn:
        lines += ["", "stillborn (fix the table: a mutant must compile):"]
        lines += [f"- {r.mutant.id}" for r in stillborn]
    if excluded:
        lines += ["", "left out, failing before any mutation: " + ", ".join(excluded)]
    lines += ["", f"run time: {elapsed / 60:.1f} min", f"reproduce: {command}"]
    return "\n".join(lines), score


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the table and check its snippets; run nothing")
    ap.add_argument("--only", action="append", metavar="ID", default=[],
                    help="run only this mutant (repeatable, or comma-separated)")
    ap.add_argument("--build-dir", type=Path, default=Path("/tmp/pylaunchd-mutate"),
                    help="scratch directory: the copied tree in src/, its build in build/ (default %(default)s)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel build and test jobs (default %(default)s)")
    ap.add_argument("--all-tests", action="store_true", help="run the whole suite for every mutant")
    ap.add_argument("--source", type=Path, default=SOURCE, help="the tree to copy (default: this checkout)")
    ap.add_argument("--report", type=Path, help="also write the summary to this file")
    args = ap.parse_args(argv)

    only = {i for o in args.only for i in o.split(",") if i}
    unknown = only - {m.id for m in MUTANTS}
    if unknown:
        ap.error("no such mutant: " + ", ".join(sorted(unknown)))
    mutants = [m for m in MUTANTS if not only or m.id in only]

    problems = check_table(mutants, args.source)
    if args.list:
        for m in mutants:
            eq = f"\n    equivalent: {m.equivalent}" if m.equivalent else ""
            eq += f"\n    known gap: {m.gap}" if m.gap else ""
            print(f"{m.id:38} {m.area:12} {m.file}\n    {m.bug}\n    tests: {m.tests}{eq}")
        print(f"{len(mutants)} mutants")
    if problems:
        print("mutate.py: the table has rotted:\n" + "\n".join(problems), file=sys.stderr)
        return 2
    if args.list:
        return 0

    # SIGTERM (a nightly job's timeout) unwinds like Ctrl-C: the mutated file is restored.
    signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(128 + signo))
    started = time.monotonic()
    scratch = args.build_dir.resolve()
    tree, build, logs = scratch / "src", scratch / "build", scratch / "logs"
    for d in (tree, logs):
        d.mkdir(parents=True, exist_ok=True)
    print(f"copying {args.source} to {tree} ...", flush=True)
    print(f"  {sync_tree(args.source.resolve(), tree)} files written", flush=True)
    problems = check_table(mutants, tree)
    if problems:
        print("mutate.py: the table has rotted:\n" + "\n".join(problems), file=sys.stderr)
        return 2
    print(f"configuring and building {build} ...", flush=True)
    if not (build / "CMakeCache.txt").exists():
        if run(["cmake", "-S", str(tree), "-B", str(build)], logs / "configure.log", timeout=600) != 0:
            print(f"mutate.py: configuring failed: {logs / 'configure.log'}", file=sys.stderr)
            return 2
    become_subreaper()
    runner = Runner(tree, build, logs, args.jobs, fixtures=[], tmp=scratch / "tmp")
    if run(runner.build_cmd(), logs / "build.log", timeout=3600) != 0:
        print(f"mutate.py: the unmutated tree does not build: {logs / 'build.log'}", file=sys.stderr)
        return 2

    # The local_users fixture, once for the whole run (the users are reference counted).
    users = [sys.executable, str(tree / "tests" / "users.py")]
    # The union of the mutants' tests, matched here: a CMake regex allows only 9 groups.
    every = list_tests(build)
    wanted = list(every) if args.all_tests else [t for t in every if any(re.search(m.tests, t) for m in mutants)]
    selected = "^(" + "|".join(re.escape(t) for t in wanted) + ")$"
    own_users = False
    if any("local_users" in every[t] for t in wanted):
        if os.geteuid() != 0:
            print("mutate.py: the selected tests need the local_users fixture, which needs root", file=sys.stderr)
            return 2
        if subprocess.run(users + ["create"]).returncode != 0:
            return 2
        own_users = True
        runner.fixtures.append("local_users")
    try:
        print("baseline: the selected tests, unmutated ...", flush=True)
        base = runner.ctest(selected, logs / "baseline.log", stop_on_failure=False)
        runner.exclude = sorted({t for t, ok in base if not ok})
        if runner.exclude:
            print(f"  failing before any mutation, left out: {', '.join(runner.exclude)}", flush=True)
        print(f"  {len(base) - len(runner.exclude)} tests pass", flush=True)

        stamp = Stamp(build)
        results: list[Result] = []
        for n, m in enumerate(mutants, 1):
            print(f"[{n}/{len(mutants)}] {m.id} ({m.file}): {m.bug}", flush=True)
            r = mutate_one(m, runner, stamp, args.all_tests)
            results.append(r)
            print(f"    {describe(r)} ({r.seconds:.0f} s)", flush=True)
        # Leave the tree built as it was copied.
        run(runner.build_cmd(), logs / "build.log", timeout=3600)
    finally:
        if own_users:
            subprocess.run(users + ["remove"])

    command = "python3 tests/mutate.py" + "".join(f" --only {i}" for i in sorted(only)) + \
        (" --all-tests" if args.all_tests else "")
    text, score = summarize(results, time.monotonic() - started, runner.exclude, command)
    print("\n" + text)
    if args.report:
        args.report.write_text(text + "\n")
    return 0 if score >= PASS_MARK else 1


if __name__ == "__main__":
    sys.exit(main())
