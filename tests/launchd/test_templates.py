"""The plist templates in plist/ parse with plistutil and plistlib and have launchd.plist(5)'s
keys and value types for their variant; and the schema checker itself fails when it should."""

from __future__ import annotations

import copy
import glob
import os
import plistlib
import subprocess
import sys
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


def templates() -> list:
    return sorted(glob.glob(os.path.join(PLIST_DIR, "*.plist.in")))


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Templates(unittest.TestCase):
    def test_every_template_is_known(self):
        names = [os.path.basename(p) for p in templates()]
        self.assertEqual(sorted(names), sorted(VARIANT_OF),
                         f"plist/ has {names}; VARIANT_OF in this test must list each one")

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

    def test_plistutil_json(self):
        if not plistcheck.plistutil_json_supported():
            self.skipTest("this plistutil has no -f json (libplist < 2.3); "
                          "the binary round trip in test_plistutil_parses stands in for it")
        for path in templates():
            with self.subTest(template=os.path.basename(path)):
                self.assertEqual(plistcheck.plistutil_json(read(path)), plistlib.loads(read(path)))

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
