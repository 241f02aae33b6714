#!/usr/bin/env python3
"""Scenario: --venv DIR makes a virtualenv's packages importable; a wrong one is refused.

A venv made by the system Python 3.11 (`-m venv --without-pip`, which works without the
python3.11-venv package's ensurepip) gets a small package that exists nowhere else. The agent
imports it under --venv (sys.executable and sys.prefix are the venv's, and a child started with
sys.executable sees the package too), and fails with ModuleNotFoundError (exit 65) without it.
A venv whose pyvenv.cfg names another Python version, and directories that are not venvs, are
refused with exit 64 and a message saying what pylaunchd embeds and how to fix it.
"""

import os
import re
import shutil

import agentside
import harness
from harness import EXIT_AGENT_BROKEN, EXIT_USAGE, fetch_json

SYSTEM_PYTHON = "/usr/bin/python3.11"
PACKAGE = "pylaunchd_e2e_venv_only"

VENV_AGENT = f"""
import json, subprocess, sys
import {PACKAGE}

def run_child():
    # From another directory, as after an os.chdir() or under --daemon: sys.executable must still work.
    try:
        child = subprocess.run([sys.executable, "-c", "import {PACKAGE}; print({PACKAGE}.GREETING)"],
                               capture_output=True, text=True, timeout=20, cwd="/")
    except OSError as e:
        return [repr(e), "", ""]
    return [child.returncode, child.stdout.strip(), child.stderr[-500:]]

def handle(conn):
    conn.sendall(json.dumps({{
        "greeting": {PACKAGE}.GREETING,
        "file": {PACKAGE}.__file__,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "child": run_child(),
    }}).encode())
"""


class Venv(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("venv_agent.py", VENV_AGENT)
        self.sock = self.unix_address()

    def make_venv(self, name: str = "venv") -> tuple:
        """A fresh venv with PACKAGE in its purelib; returns (dir, purelib). Failing to make one
        fails the test: the scenario must run, never be skipped."""
        venv = self.path(name)
        r = harness.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", venv], timeout=60)
        self.assertEqual(r.returncode, 0, f"{SYSTEM_PYTHON} -m venv --without-pip failed: {r.stderr!r}")
        r = harness.run([os.path.join(venv, "bin", "python3"), "-c",
                         "import sysconfig; print(sysconfig.get_path('purelib'))"])
        self.assertEqual(r.returncode, 0, r.stderr)
        purelib = r.stdout.decode().strip()
        self.assertTrue(purelib.startswith(venv + os.sep), f"purelib {purelib} inside {venv}")
        os.makedirs(os.path.join(purelib, PACKAGE))
        with open(os.path.join(purelib, PACKAGE, "__init__.py"), "w") as f:
            f.write('GREETING = "hello from the venv only"\n')
        return venv, purelib

    def check_imports(self, got: dict, venv: str, purelib: str):
        self.assertEqual(got["greeting"], "hello from the venv only")
        self.assertEqual(got["file"], os.path.join(purelib, PACKAGE, "__init__.py"), "imported from the venv")
        self.assertTrue(os.path.isabs(got["executable"]),
                        f"sys.executable is absolute: {got['executable']!r}; a child started with it from /: "
                        f"{got['child']}")
        self.assertEqual(os.path.realpath(os.path.dirname(os.path.dirname(got["executable"]))), os.path.realpath(venv),
                         f"sys.executable is the venv's python: {got['executable']}")
        self.assertEqual(os.path.realpath(got["prefix"]), os.path.realpath(venv), "sys.prefix is the venv")
        self.assertEqual(got["base_prefix"], "/usr", "sys.base_prefix is the system Python's")
        self.assertEqual(got["child"][:2], [0, "hello from the venv only"],
                         f"a child started with sys.executable, from /, imports the package: {got['child']}")

    def test_package_only_in_the_venv(self):
        venv, purelib = self.make_venv()
        self.serve_listen(self.agent, listen=[self.sock], options=["--venv", venv])
        self.check_imports(fetch_json(self.sock), venv, purelib)

    def test_under_systemd_socket_activate(self):
        venv, purelib = self.make_venv()
        self.activate(self.agent, listen=[self.sock], options=["--venv", venv])
        self.check_imports(fetch_json(self.sock), venv, purelib)

    def test_relative_venv_path(self):
        # As `python3 -m venv venv; pylaunchd --venv venv ...` from that directory: sys.executable
        # must still be absolute, or subprocess and multiprocessing break once the agent chdirs.
        venv, purelib = self.make_venv()
        self.serve_listen(self.agent, listen=[self.sock], options=["--venv", "venv"], cwd=self.tmp)
        self.check_imports(fetch_json(self.sock), venv, purelib)

    def test_without_venv_module_not_found(self):
        self.make_venv()
        for options in ([], ["--site"]):
            with self.subTest(options=options):
                r = harness.run([harness.BINARY, *options, "--listen", self.sock.listen_arg(), self.agent])
                err = r.stderr.decode("utf-8", "replace")
                self.assertEqual(r.returncode, EXIT_AGENT_BROKEN, f"without --venv the import fails: {err}")
                self.assertIn(f"ModuleNotFoundError: No module named '{PACKAGE}'", err)

    # -- refusals ----------------------------------------------------------------------------

    def refuse(self, venv: str, words, what: str) -> str:
        r = harness.run([harness.BINARY, "--venv", venv, "--listen", self.sock.listen_arg(), self.agent])
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, EXIT_USAGE, f"{what}: stderr:\n{err}")
        self.assertInStderr(words, err, what)
        self.assertFalse(os.path.exists(self.sock.path), f"{what}: no socket file left behind")
        self.assertNotIn("Traceback", err, f"{what}: refused before Python runs anything")
        return err

    def test_venv_of_another_python_version(self):
        venv, _ = self.make_venv()
        _, embedded = agentside.launcher_versions()
        for version in ("3.9.7", "3.12.1", "2.7.18"):
            with self.subTest(version=version):
                other = self.path(f"venv-{version}")
                shutil.copytree(venv, other, symlinks=True)
                cfg = os.path.join(other, "pyvenv.cfg")
                with open(cfg) as f:
                    text = f.read()
                with open(cfg, "w") as f:
                    f.write(re.sub(r"(?m)^version\s*=.*$", f"version = {version}", text))
                major_minor = ".".join(version.split(".")[:2])
                err = self.refuse(other, [f"Python {major_minor}", f"embeds Python {embedded}",
                                          f"python{embedded} -m venv"],
                                  f"a venv made by Python {version}")
                self.assertIn(other, err, "the message names the venv")

    def test_not_a_venv(self):
        plain = self.path("plain-dir")
        os.mkdir(plain)
        self.refuse(plain, ["not a virtualenv", "pyvenv.cfg", f"python{agentside.launcher_versions()[1]} -m venv"],
                    "a directory without pyvenv.cfg")
        self.refuse(self.path("does-not-exist"), ["pyvenv.cfg"], "a path that does not exist")
        with open(self.path("a-file"), "w") as f:
            f.write("not a directory\n")
        self.refuse(self.path("a-file"), ["pyvenv.cfg"], "a regular file")

    def test_pyvenv_cfg_without_version(self):
        venv, _ = self.make_venv()
        cfg = os.path.join(venv, "pyvenv.cfg")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(re.sub(r"(?m)^version\s*=.*\n", "", text))
        self.refuse(venv, ["pyvenv.cfg names no Python version"], "pyvenv.cfg without version")

    def test_venv_without_its_python(self):
        venv, _ = self.make_venv()
        os.unlink(os.path.join(venv, "bin", "python3"))
        self.refuse(venv, ["has no bin/python3"], "a venv whose bin/python3 is gone")


if __name__ == "__main__":
    harness.main()
