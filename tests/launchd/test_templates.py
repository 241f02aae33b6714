"""The plist templates in plist/ parse with plistutil and plistlib and have launchd.plist(5)'s
keys and value types for their variant; each says how pylaunchd checks in (--launchd right after
the executable, --inetd for inetdCompatibility), keeps stdout in the log and sets a PATH; and the
schema checker itself fails when it should."""

from __future__ import annotations

import copy
import glob
import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plistcheck  # noqa: E402

SOURCE_DIR = os.environ.get("PYLAUNCHD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
PLIST_DIR = os.path.join(SOURCE_DIR, "plist")

# template file -> the variant its schema is checked against. A new template must be added
# here (test_every_template_is_known), so none goes unchecked.
VARIANT_OF = {
    "agent.plist.in": "unix",
    "agent-tcp.plist.in": "tcp",
    "agent-inetd.plist.in": "inetd",
}


# Templates that are no agent's: the agents folder's watcher, checked by its own schema.
WATCHERS = ("pylaunchd-sync.plist.in",)


def templates() -> list:
    """The agents' templates."""
    return sorted(p for p in glob.glob(os.path.join(PLIST_DIR, "*.plist.in")) if os.path.basename(p) not in WATCHERS)


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Templates(unittest.TestCase):
    def test_every_template_is_known(self):
        names = [os.path.basename(p) for p in glob.glob(os.path.join(PLIST_DIR, "*.plist.in"))]
        self.assertEqual(sorted(names), sorted([*VARIANT_OF, *WATCHERS]),
                         f"plist/ has {names}; VARIANT_OF or WATCHERS in this test must list each one")

    def test_watcher_template(self):
        # Read by both parsers, held to the watcher's schema; the folder given in WatchPaths, the
        # sync's arguments in place of "@ARGS@".
        for name in WATCHERS:
            with self.subTest(template=name):
                text = read(os.path.join(PLIST_DIR, name))
                data = plistcheck.parse_both(text)
                self.assertEqual(data["WatchPaths"], ["@FOLDER@"])
                self.assertEqual(data["ProgramArguments"], ["@PYLAUNCHD@", "sync", "@ARGS@"])
                data["WatchPaths"] = ["/Users/u/Library/Application Support/pylaunchd/agents"]
                self.assertEqual(plistcheck.watcher_problems(data), [])
                self.assertIs(data["RunAtLoad"], True)

    def test_plistutil_xml_exit_0(self):
        # The literal check from the issue. plistutil 2.2 passes XML through unparsed, so this
        # alone proves little: test_plistutil_parses is the real one.
        for path in templates():
            with self.subTest(template=os.path.basename(path)):
                r = subprocess.run([plistcheck.plistutil(), "-i", path, "-f", "xml"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
                self.assertNotIn(b"ERROR", r.stdout + r.stderr)
                self.assertEqual(plistlib.loads(r.stdout), plistlib.loads(read(path)))

    def test_plistutil_parses(self):
        # XML -> binary -> XML through libplist, read back: must equal what plistlib reads.
        for path in templates():
            with self.subTest(template=os.path.basename(path)):
                plistcheck.parse_both(read(path))

    def test_plistlib_load(self):
        for path in templates():
            with self.subTest(template=os.path.basename(path)):
                with open(path, "rb") as f:
                    data = plistlib.load(f)
                self.assertIs(type(data), dict)
                self.assertEqual(plistlib.loads(plistlib.dumps(data)), data)

    def test_schema(self):
        for path in templates():
            name = os.path.basename(path)
            variant = VARIANT_OF.get(name)
            if variant is None:
                continue  # test_every_template_is_known reports it
            with self.subTest(template=name, variant=variant):
                # For agent-tcp.plist.in this includes SockNodeName being a loopback name: the
                # TCP variant is the loopback variant (issue 4: "SockNodeName localhost").
                self.assertEqual(plistcheck.schema_problems(plistlib.loads(read(path)), variant), [])

    def test_inetd_template_keeps_stdout_for_the_connection(self):
        data = plistlib.loads(read(os.path.join(PLIST_DIR, "agent-inetd.plist.in")))
        self.assertNotIn("StandardOutPath", data)
        self.assertNotIn("StandardInPath", data)
        self.assertIs(data["inetdCompatibility"]["Wait"], False)

    def test_explicit_check_in_mode(self):
        # The launcher is told how it gets its sockets, so nothing rests on a guess: the listening
        # variants (TCP too: launchd binds the port, SockNodeName/SockServiceName) --launchd, the
        # inetd one --inetd; "@ARGS@" (the rest, the agent last) after it.
        for path in templates():
            name = os.path.basename(path)
            with self.subTest(template=name):
                args = plistlib.loads(read(path))["ProgramArguments"]
                mode = "--inetd" if VARIANT_OF[name] == "inetd" else "--launchd"
                self.assertEqual(args, ["@PYLAUNCHD@", mode, "@ARGS@"])

    def test_stdout_and_environment(self):
        for path in templates():
            name = os.path.basename(path)
            with self.subTest(template=name):
                data = plistlib.loads(read(path))
                self.assertEqual(data["EnvironmentVariables"], {"PATH": "@PATH@"})
                self.assertEqual(data["StandardErrorPath"], "@LOG@")
                if VARIANT_OF[name] != "inetd":
                    self.assertEqual(data["StandardOutPath"], "@LOG@", "print() output would be lost")

    def test_on_demand(self):
        for path in templates():
            with self.subTest(template=os.path.basename(path)):
                data = plistlib.loads(read(path))
                self.assertIs(data["RunAtLoad"], False)
                self.assertIs(data["KeepAlive"], False)
                for listener in data["Sockets"].values():
                    if "SockPathName" in listener:
                        self.assertEqual(listener["SockPathMode"], 0o600)


class SchemaCheckerFails(unittest.TestCase):
    """The checker is only worth something if it rejects a broken plist: break a good one in
    each way the schema guards against and expect a complaint that names the key."""

    def good(self, variant: str = "unix") -> dict:
        name = {v: k for k, v in VARIANT_OF.items()}[variant]
        plist = plistlib.loads(read(os.path.join(PLIST_DIR, name)))
        if variant == "tcp":
            # The template has a placeholder there (test_schema reports it); these tests are
            # about the checker, so start from a copy the way install renders it.
            plist["Sockets"]["Listeners"]["SockNodeName"] = "localhost"
        return plist

    def assertRejected(self, plist, variant: str, key: str):
        problems = plistcheck.schema_problems(plist, variant)
        self.assertTrue(problems, f"schema accepted a plist with {key} broken")
        self.assertTrue(any(key in p for p in problems), f"no complaint names {key}: {problems}")

    def test_good_copy_passes(self):
        for variant in plistcheck.VARIANTS:
            with self.subTest(variant=variant):
                self.assertEqual(plistcheck.schema_problems(self.good(variant), variant), [])

    def test_string_where_an_int_belongs(self):
        broken = self.good()
        broken["Sockets"]["Listeners"]["SockPathMode"] = "384"
        self.assertRejected(broken, "unix", "SockPathMode")
        broken = self.good()
        broken["ThrottleInterval"] = "10"
        self.assertRejected(broken, "unix", "ThrottleInterval")

    def test_bool_where_an_int_belongs(self):
        broken = self.good()
        broken["ThrottleInterval"] = True
        self.assertRejected(broken, "unix", "ThrottleInterval")

    def test_int_where_a_bool_belongs(self):
        broken = self.good()
        broken["RunAtLoad"] = 0
        self.assertRejected(broken, "unix", "RunAtLoad")

    def test_missing_label(self):
        broken = self.good()
        del broken["Label"]
        self.assertRejected(broken, "unix", "Label")

    def test_unknown_top_level_key(self):
        broken = self.good()
        broken["RunAtLaod"] = broken.pop("RunAtLoad")
        self.assertRejected(broken, "unix", "RunAtLaod")

    def test_unknown_socket_key(self):
        broken = self.good()
        broken["Sockets"]["Listeners"]["SockPathMod"] = 384
        self.assertRejected(broken, "unix", "SockPathMod")

    def test_wrong_values(self):
        cases = [
            ("unix", ("Sockets", "Listeners", "SockPathMode"), 0o666, "SockPathMode"),
            ("unix", ("RunAtLoad",), True, "RunAtLoad"),
            ("unix", ("KeepAlive",), True, "KeepAlive"),
            ("unix", ("ProcessType",), "Backgroud", "ProcessType"),
            ("unix", ("ProgramArguments",), [], "ProgramArguments"),
            ("unix", ("ProgramArguments",), ["/bin/pylaunchd", 5], "ProgramArguments[1]"),
            ("tcp", ("Sockets", "Listeners", "SockNodeName"), "0.0.0.0", "SockNodeName"),
            ("tcp", ("Sockets", "Listeners", "SockType"), "dgram", "SockType"),
            ("tcp", ("Sockets", "Listeners", "SockServiceName"), 7013, "SockServiceName"),
            ("inetd", ("inetdCompatibility", "Wait"), True, "Wait"),
        ]
        for variant, keys, value, named in cases:
            with self.subTest(variant=variant, key=".".join(keys), value=value):
                broken = self.good(variant)
                node = broken
                for k in keys[:-1]:
                    node = node[k]
                node[keys[-1]] = value
                self.assertRejected(broken, variant, named)

    def test_stdout_lost_or_elsewhere(self):
        for variant in ("unix", "tcp"):
            with self.subTest(variant=variant):
                broken = self.good(variant)
                del broken["StandardOutPath"]
                self.assertRejected(broken, variant, "StandardOutPath")
                broken = self.good(variant)
                broken["StandardOutPath"] = "/tmp/elsewhere.log"
                self.assertRejected(broken, variant, "StandardOutPath")

    def test_environment(self):
        broken = self.good()
        del broken["EnvironmentVariables"]
        self.assertRejected(broken, "unix", "EnvironmentVariables")
        for env, named in (({}, "PATH"), ({"PATH": "/bin", "N": 5}, "EnvironmentVariables.N"),
                           ({"PATH": "/bin", "A B": "x"}, "EnvironmentVariables.A B")):
            with self.subTest(env=env):
                broken = self.good()
                broken["EnvironmentVariables"] = env
                self.assertRejected(broken, "unix", named)

    def test_check_in_mode(self):
        cases = [
            ("unix", ["/bin/pylaunchd", "@ARGS@"], "ProgramArguments[1]"),
            ("unix", ["/bin/pylaunchd", "--inetd", "a.py"], "ProgramArguments[1]"),
            ("tcp", ["/bin/pylaunchd", "--listen", "tcp:127.0.0.1:7013", "a.py"], "ProgramArguments[1]"),
            ("tcp", ["/bin/pylaunchd", "--launchd", "--listen", "tcp:127.0.0.1:7013", "a.py"], "ProgramArguments[2]"),
            ("inetd", ["/bin/pylaunchd", "--launchd", "a.py"], "ProgramArguments[1]"),
            ("inetd", ["/bin/pylaunchd", "--inetd", "--launchd", "a.py"], "ProgramArguments[2]"),
        ]
        for variant, args, named in cases:
            with self.subTest(variant=variant, args=args):
                broken = self.good(variant)
                broken["ProgramArguments"] = args
                self.assertRejected(broken, variant, named)
        # The agent's own arguments may be anything.
        good = self.good()
        good["ProgramArguments"] = ["/bin/pylaunchd", "--launchd", "a.py", "--listen", "--inetd"]
        self.assertEqual(plistcheck.schema_problems(good, "unix"), [])

    def test_exit_timeout_too_short(self):
        broken = self.good()
        broken["ExitTimeOut"] = 5
        self.assertRejected(broken, "unix", "ExitTimeOut")

    def test_variant_mixups(self):
        inetd = self.good("inetd")
        inetd["StandardOutPath"] = "/tmp/out"
        self.assertRejected(inetd, "inetd", "StandardOutPath")
        self.assertRejected(self.good("inetd"), "unix", "inetdCompatibility")
        self.assertRejected(self.good("unix"), "inetd", "inetdCompatibility")
        self.assertRejected(self.good("unix"), "tcp", "SockNodeName")
        tcp = self.good("tcp")
        self.assertRejected(tcp, "unix", "SockPathName")
        both = copy.deepcopy(tcp)
        both["Sockets"]["Listeners"]["SockPathName"] = "/tmp/x.sock"
        self.assertRejected(both, "tcp", "SockPathName")

    def test_plistutil_rejects_broken_xml(self):
        # An unclosed <string>: plistutil exits 0 here, so only the conversion shows the error.
        with self.assertRaises(AssertionError):
            plistcheck.plistutil_parse(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                       b'<plist version="1.0"><dict><key>Label</key>'
                                       b'<string>x</dict></plist>\n')
        with self.assertRaises(AssertionError):
            plistcheck.plistutil_parse(b"not a plist")

    def test_parsers_must_agree(self):
        # libplist reads <integer>x</integer> as 0 where plistlib refuses it: parse_both fails.
        with self.assertRaises((AssertionError, ValueError)):
            plistcheck.parse_both(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                  b'<plist version="1.0"><dict><key>ThrottleInterval</key>'
                                  b'<integer>x</integer></dict></plist>\n')


class TreeCheckerFails(unittest.TestCase):
    """plistcheck.tree_problems, which the install tests hold the copy to, rejects a tree others
    could write into, a link, and what is never copied."""

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="pylaunchd-tree-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.root, True)
        os.mkdir(os.path.join(self.root, "pkg"), 0o700)
        for rel, mode in (("Agent.py", 0o600), ("run.sh", 0o700), ("pkg/m.py", 0o600)):
            with open(os.path.join(self.root, rel), "w"):
                pass
            os.chmod(os.path.join(self.root, rel), mode)
        os.chmod(self.root, 0o700)

    def test_good_tree_passes(self):
        self.assertEqual(plistcheck.tree_problems(self.root), [])

    def test_broken(self):
        cases = [
            (lambda: os.chmod(os.path.join(self.root, "pkg"), 0o755), "pkg: directory mode 0755"),
            (lambda: os.chmod(self.root, 0o770), ".: directory mode 0770"),
            (lambda: os.chmod(os.path.join(self.root, "Agent.py"), 0o644), "Agent.py: file mode 0644"),
            (lambda: os.chmod(os.path.join(self.root, "run.sh"), 0o755), "run.sh: file mode 0755"),
            (lambda: os.symlink("/etc/passwd", os.path.join(self.root, "pkg", "link")), "pkg/link: a link"),
            (lambda: os.mkdir(os.path.join(self.root, ".git"), 0o700), ".git: must not be copied"),
        ]
        for breakage, named in cases:
            with self.subTest(named=named):
                self.setUp()
                breakage()
                problems = plistcheck.tree_problems(self.root)
                self.assertTrue(any(named in p for p in problems), f"no complaint names {named!r}: {problems}")


if __name__ == "__main__":
    plistcheck.skips.main()
