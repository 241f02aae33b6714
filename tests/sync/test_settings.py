#!/usr/bin/env python3
"""The agents folder's settings literal, PYLAUNCHD = {...}, read by launcher/install.py: a table of
files and what each must give (the install options and the agent's arguments) or the error it must
raise, naming the file, the key and what the key accepts. Plus the keys against install's own
parser (one per option, none for the options sync decides), the names a folder entry may have, and
that reading a file never runs it.

install.py is imported from the source tree, with the build's pure-Python _pylaunchd (python/) in
place of the launcher's C module; nothing here needs a service manager.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get("PYLAUNCHD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.environ.get("PYLAUNCHD_PYTHON_DIR", os.path.join(SOURCE_DIR, "build", "python")))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests"))
import skips  # noqa: E402

_spec = importlib.util.spec_from_file_location("pylaunchd_install", os.path.join(SOURCE_DIR, "launcher", "install.py"))
install = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(install)

# (file text, install options, agent's arguments) for settings that are right.
GOOD = [
    ("def handle(conn): pass\n", [], []),
    ("PYLAUNCHD = {}\n", [], []),
    ('PYLAUNCHD = {"listen": "tcp:127.0.0.1:8080", "idle_timeout": 60}\n',
     ["--listen", "tcp:127.0.0.1:8080", "--idle-timeout", "60"], []),
    ('PYLAUNCHD = {"idle_timeout": 0.5}\n', ["--idle-timeout", "0.5"], []),
    ('PYLAUNCHD = {"env": {"A": "1", "B": "x y"}}\n', ["--env", "A=1", "--env", "B=x y"], []),
    ('PYLAUNCHD = {"env": ["A=1"]}\n', ["--env", "A=1"], []),
    ('PYLAUNCHD = {"workers": 2, "max_connections": 8}\n', ["--workers", "2", "--max-connections", "8"], []),
    ('PYLAUNCHD = {"allow_uid": [1000, "www-data"], "allow_gid": 50}\n',
     ["--allow-uid", "1000", "--allow-uid", "www-data", "--allow-gid", "50"], []),
    ('PYLAUNCHD = {"warnings": ["error", "ignore::DeprecationWarning"]}\n',
     ["--warnings", "error", "--warnings", "ignore::DeprecationWarning"], []),
    ('PYLAUNCHD = {"accept": True, "site": False, "venv": "/v"}\n', ["--accept", "--venv", "/v"], []),
    ('PYLAUNCHD = {"args": ["--flag", "x"], "verbose": True}\n', ["--verbose"], ["--flag", "x"]),
    ('PYLAUNCHD: dict = {"log_file": "/tmp/x.log"}\n', ["--log-file", "/tmp/x.log"], []),
    ('"""doc"""\nimport os\nPYLAUNCHD = {"min_uptime": 1, "stop_timeout": 2.5, "socket_name": "L"}\n'
     'def handle(conn): pass\n', ["--min-uptime", "1", "--stop-timeout", "2.5", "--socket-name", "L"], []),
    ("PYLAUNCHD = {'no_strict_modes': True, 'unbuffered': True, 'dev': True, 'faulthandler': True, "
     "'import_time': True, 'backlog': 5}\n",
     ["--no-strict-modes", "--unbuffered", "--dev", "--faulthandler", "--import-time", "--backlog", "5"], []),
    ("if True:\n    PYLAUNCHD = {'workers': 'x'}\n", [], []),  # not module level: not the settings
]

# (file text, what the error must say): each names the file and the key, and what it accepts.
BAD = [
    ("def handle(conn):\n    x = (\n", ["A.py, line 2: SyntaxError: '(' was never closed"]),
    ('PYLAUNCHD = {"idel_timeout": 5}\n', ["A.py: PYLAUNCHD['idel_timeout']: unknown key",
                                            "did you mean 'idle_timeout'?", "The keys: accept, "]),
    ('PYLAUNCHD = {"idle_timeout": "soon"}\n', ["PYLAUNCHD['idle_timeout']: 'soon' is a str",
                                                "idle_timeout takes an int or a float (--idle-timeout S:"]),
    ('PYLAUNCHD = {"workers": 2.5}\n', ["PYLAUNCHD['workers']: 2.5 is a float; workers takes an int"]),
    ('PYLAUNCHD = {"workers": True}\n', ["PYLAUNCHD['workers']: True is a bool; workers takes an int"]),
    ('PYLAUNCHD = {"accept": "yes"}\n', ["PYLAUNCHD['accept']: 'yes' is a str; accept takes True or False"]),
    ('PYLAUNCHD = {"listen": ["unix:/a", "unix:/b"]}\n', ["PYLAUNCHD['listen']: ['unix:/a', 'unix:/b'] is a list;",
                                                           "listen takes a string (-l, --listen ADDR"]),
    ('PYLAUNCHD = {"env": {"A": 1}}\n', ["PYLAUNCHD['env']: {'A': 1} is a dict; env takes a dict of strings"]),
    ('PYLAUNCHD = {"args": "x"}\n', ["PYLAUNCHD['args']: 'x' is a str; args takes a list of strings"]),
    ('PYLAUNCHD = {"daemon": True}\n', ["PYLAUNCHD['daemon']: --daemon is for running without a service manager"]),
    ('PYLAUNCHD = {"name": "x"}\n', ["PYLAUNCHD['name']: not a setting: the agent's name is its file's"]),
    ('PYLAUNCHD = {"copy": "/x"}\n', ["PYLAUNCHD['copy']: not a setting: launchd copies NAME.py alone"]),
    ('PYLAUNCHD = {1: 2}\n', ["PYLAUNCHD[1]: keys are strings"]),
    ('PYLAUNCHD = ["listen"]\n', ["A.py, line 1: PYLAUNCHD is a list; it must be a dict"]),
    ('PYLAUNCHD = dict(listen="x")\n', ["A.py, line 1: PYLAUNCHD must be a literal dict"]),
    ('PYLAUNCHD = {"listen": "unix:" + "/x"}\n', ["A.py, line 1: PYLAUNCHD must be a literal dict"]),
    ('PYLAUNCHD = {}\nPYLAUNCHD = {"workers": 2}\n', ["A.py, line 2: PYLAUNCHD is assigned again (first on line 1)"]),
]


def settings_of(text: str) -> tuple:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "A.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return install.settings_argv(install.read_settings(path, "A.py"), "A.py")


class Settings(unittest.TestCase):
    maxDiff = None

    def test_good(self):
        for text, options, args in GOOD:
            with self.subTest(text=text):
                self.assertEqual(settings_of(text), (options, args))

    def test_bad(self):
        for text, needles in BAD:
            with self.subTest(text=text):
                with self.assertRaises(install.SettingsError) as cm:
                    settings_of(text)
                for needle in needles:
                    self.assertIn(needle, str(cm.exception))

    def test_good_options_pass_install_parser(self):
        # What the settings give is a command line install's own parser takes as it is.
        for text, options, args in GOOD:
            with self.subTest(text=text):
                a = install.parse_install(options + ["--name", "x", "--target", "launchd" if "--socket-name" in options
                                                     else "systemd", "/a/A.py", "--", *args])
                self.assertEqual(a.args, args)

    def test_never_runs_the_file(self):
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, "ran")
            text = (f"open({marker!r}, 'w').close()\n"
                    f"PYLAUNCHD = {{'workers': 2}}\n"
                    f"raise SystemExit(3)\n")
            path = os.path.join(d, "A.py")
            with open(path, "w") as f:
                f.write(text)
            self.assertEqual(install.read_settings(path, "A.py"), {"workers": 2})
            self.assertFalse(os.path.exists(marker))

    def test_every_install_option_has_a_key(self):
        table = install.settings_table()
        p = install.install_parser()
        for action in p._actions:
            longs = [s for s in action.option_strings if s.startswith("--")]
            if not longs or action.help == install.argparse.SUPPRESS:
                continue
            key = longs[-1][2:].replace("-", "_")
            with self.subTest(option=longs[-1]):
                if longs[0] in install.NOT_SETTINGS:
                    self.assertNotIn(key, table)
                else:
                    self.assertIn(key, table)
                    self.assertEqual(table[key].flag, longs[-1])
        self.assertIn("args", table)

    def test_folder_names(self):
        ok = [("Upper", True), ("web_app", True), ("web-app", False), ("a.b", False), ("x" * 64, False)]
        bad = [("web-app", True, "module name"), ("2fast", True, "module name"), ("socket", True, "standard module"),
               ("café", True, "module name"), ("pylaunchd-sync", False, "reserved"), ("agents", False, "reserved"),
               ("x.socket", False, "suffix"), ("x" * 65, False, "at most 64"), ("a b", False, "letters, digits")]
        for name, single in ok:
            with self.subTest(name=name):
                self.assertEqual(install.folder_name_problem(name, single), "")
        for name, single, needle in bad:
            with self.subTest(name=name):
                self.assertIn(needle, install.folder_name_problem(name, single))

    def test_scan_folder(self):
        with tempfile.TemporaryDirectory() as d:
            for entry in ("A.py", "b.py", ".hidden.py", "A.py~", "README.md", "notes.txt"):
                open(os.path.join(d, entry), "w").close()
            for sub in ("web", "empty", "__pycache__", ".git", "b"):
                os.mkdir(os.path.join(d, sub))
            open(os.path.join(d, "web", "Agent.py"), "w").close()
            open(os.path.join(d, "b", "Agent.py"), "w").close()
            agents, watch = install.scan_folder(d)
            got = {a.entry: (a.name, a.error) for a in agents}
            self.assertEqual(sorted(got), ["A.py", "b.py", "b/", "empty/", "web/"])
            self.assertEqual(got["A.py"], ("A", ""))
            self.assertEqual(got["web/"], ("web", ""))
            self.assertIn("has no Agent.py", got["empty/"][1])
            self.assertIn("b/ and b.py are both the agent b", got["b.py"][1])
            self.assertIn("b/ and b.py are both the agent b", got["b/"][1])
            self.assertEqual(sorted(os.path.basename(w) for w in watch), ["b", "empty", "web"])


if __name__ == "__main__":
    skips.main()
