#!/usr/bin/env python3
"""Scenario: `cmake --install BUILD --prefix P` installs files that point at P.

Installs the build tree this pylaunchd was built in twice: with --prefix into a temporary
directory, and staged with DESTDIR under another prefix. Then every installed unit, init script
and file that names the launcher or an agent names the prefix's own (never /usr/local, the
default the files were rendered with before, nor the build or source tree, nor DESTDIR); the
units pass `systemd-analyze --user verify` (which checks that ExecStart= is executable); the
python/ tree is there, its fallback names the installed launcher and templates, and the README's
example (agent/test_Agent.py, installed with the agents) passes against it with
/usr/bin/python3.11; the man page is installed. The build tree's install_manifest.txt, which
`cmake --install` rewrites, is put back as it was.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness
from test_testing import RUN_TESTS, SYSTEM_PYTHON

BUILD_DIR = os.path.dirname(harness.BINARY)
SOURCE_DIR = os.path.dirname(os.path.abspath(harness.AGENT_DIR)) if harness.AGENT_DIR else ""
UNITS = ("rot13.socket", "rot13.service", "rot13-accept.socket", "rot13-accept@.service",
         "rot13-control.socket", "rot13-control.service")


def cmake_command() -> str:
    """The cmake that configured BUILD_DIR (CMakeCache.txt says which), else the one on PATH."""
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt"), encoding="utf-8") as f:
            m = re.search(r"^CMAKE_COMMAND:INTERNAL=(.+)$", f.read(), re.M)
        if m and os.access(m.group(1), os.X_OK):
            return m.group(1)
    except OSError:
        pass
    found = shutil.which("cmake")
    if not found:
        raise AssertionError("no cmake to run `cmake --install` with")
    return found


def text_files(root: str) -> dict:
    """{path: text} of every installed file that is text (the binary is left out)."""
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                data = f.read()
            if b"\0" not in data:
                out[path] = data.decode("utf-8", "replace")
    return out


class InstallPrefix(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not harness.BINARY or not os.path.isfile(os.path.join(BUILD_DIR, "cmake_install.cmake")):
            raise AssertionError(f"PYLAUNCHD={harness.BINARY!r} is not in a configured build tree; run through ctest")
        cls.tmp = tempfile.mkdtemp(prefix="pylaunchd-e2e-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.destdir = os.path.join(cls.tmp, "stage")
        cls.staged_prefix = "/opt/pylaunchd-e2e"
        manifest = os.path.join(BUILD_DIR, "install_manifest.txt")
        saved = None
        if os.path.exists(manifest):
            with open(manifest, "rb") as f:
                saved = f.read()
        try:
            cls.install_out = cls.install(["--prefix", cls.prefix], {}).stdout
            cls.staged_out = cls.install(["--prefix", cls.staged_prefix], {"DESTDIR": cls.destdir}).stdout
            cls.bad_prefix = os.path.join(cls.tmp, "with space")
            cls.bad = cls.install(["--prefix", cls.bad_prefix], {}, check=False)
        finally:
            if saved is None:
                if os.path.exists(manifest):
                    os.unlink(manifest)
            else:
                with open(manifest, "wb") as f:
                    f.write(saved)

    @classmethod
    def install(cls, args: list, env: dict, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([cmake_command(), "--install", BUILD_DIR, *args], capture_output=True, text=True,
                           env=harness.clean_env(env), timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"cmake --install {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return r

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def p(self, *parts: str) -> str:
        return os.path.join(self.prefix, *parts)

    def test_units_start_the_installed_launcher_and_agents(self):
        exe = self.p("bin", "pylaunchd")
        for unit in UNITS:
            with self.subTest(unit=unit), open(self.p("lib", "systemd", "user", unit), encoding="utf-8") as f:
                text = f.read()
                if unit.endswith(".socket"):
                    self.assertRegex(text, r"(?m)^Listen(Stream|FIFO)=%t/rot13")
                    if "ListenStream=" in text:
                        self.assertRegex(text, r"(?m)^SocketMode=0600$", f"{unit}: a unix socket only its user may use")
                self.assertNotRegex(text, r"@[A-Z_]+@", f"{unit}: a placeholder left unfilled")
                if unit.endswith(".socket"):
                    continue
                exec_start = re.search(r"(?m)^ExecStart=(.*)$", text).group(1)
                self.assertTrue(exec_start.startswith(exe + " "), f"{unit}: ExecStart={exec_start}")
                agent = exec_start.split(" ")[-1]
                self.assertTrue(exec_start.endswith(self.p("share", "pylaunchd", "agent") + "/" + os.path.basename(agent)),
                                f"{unit}: ExecStart={exec_start}")

    def test_init_scripts_start_the_installed_launcher(self):
        exe = self.p("bin", "pylaunchd")
        agent = self.p("share", "pylaunchd", "agent", "Agent.py")
        init = self.p("share", "pylaunchd", "init", "rot13.init")
        rc = self.p("share", "pylaunchd", "init", "rot13.rc")
        with open(init, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(f"\nDAEMON={exe}\n", text)
        self.assertIn(f"\nAGENT={agent}\n", text)
        with open(rc, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(f'\ncommand="{exe}"\n', text)
        self.assertIn(f" {agent}\"\n", text)
        for script in (init, rc):
            self.assertTrue(os.access(script, os.X_OK), f"{script} is not executable")
            r = subprocess.run(["sh", "-n", script], capture_output=True, text=True, timeout=harness.DEADLINE)
            self.assertEqual((r.returncode, r.stderr), (0, ""), f"sh -n {script}")

    def test_every_installed_file_names_the_prefix(self):
        """Whatever an installed file says about where pylaunchd's files are, it says P."""
        files = text_files(self.prefix)
        self.assertGreater(len(files), 20)
        # /usr/local/etc/rc.d is FreeBSD's place for rc scripts, not ours: the rc script says to copy it there.
        ours = re.compile(r"(/[^\s\"'=]*?)/(bin/pylaunchd|share/pylaunchd/[\w.-]+|lib/systemd/user)\b")
        named = 0
        for path, text in files.items():
            for m in ours.finditer(text.replace(self.prefix, "PREFIX")):
                with self.subTest(file=os.path.relpath(path, self.prefix), names=m.group(0)):
                    self.fail(f"{path} names {m.group(0)}, outside the prefix {self.prefix}")
            named += text.count(self.prefix)
            for elsewhere in (BUILD_DIR, SOURCE_DIR + "/", "/usr/local/bin/pylaunchd", "/usr/local/share/pylaunchd"):
                self.assertNotIn(elsewhere, text, f"{path} names {elsewhere}")
        self.assertGreaterEqual(named, 10, "the units, init scripts and _pylaunchd.py name the prefix")

    def test_units_verify(self):
        if not shutil.which("systemd-analyze"):
            self.fail("systemd-analyze is missing (package systemd)")
        runtime = tempfile.mkdtemp(prefix="pylaunchd-e2e-runtime-")
        self.addCleanup(shutil.rmtree, runtime, True)
        units = [self.p("lib", "systemd", "user", u) for u in UNITS]
        # As root no user manager runs; verify needs only a runtime directory to start its own.
        r = subprocess.run(["systemd-analyze", "--user", "verify", *units], capture_output=True, text=True,
                           env=harness.clean_env({"XDG_RUNTIME_DIR": runtime}), timeout=60)
        self.assertEqual((r.returncode, r.stdout.strip(), r.stderr.strip()), (0, "", ""),
                         "systemd-analyze --user verify complained about the installed units")

    def test_python_tree(self):
        tree = self.p("share", "pylaunchd", "python")
        self.assertEqual(sorted(os.listdir(tree)), ["_pylaunchd.py", "pylaunchd"])
        self.assertEqual(sorted(os.listdir(os.path.join(tree, "pylaunchd"))), ["__init__.py", "testing.py"])
        for installed, source in (("pylaunchd/__init__.py", "launcher/pylaunchd.py"),
                                  ("pylaunchd/testing.py", "launcher/pylaunchd_testing.py")):
            with open(os.path.join(tree, installed), "rb") as a, open(os.path.join(SOURCE_DIR, source), "rb") as b:
                self.assertEqual(a.read(), b.read(), f"{installed} is not {source}")
        probe = ("import _pylaunchd, pylaunchd, pylaunchd.testing\n"
                 "print(_pylaunchd.__file__); print(pylaunchd.__file__); print(_pylaunchd.executable)\n"
                 "print(len(_pylaunchd.template('agent.socket.in')), len(_pylaunchd.template('agent.plist.in')))")
        r = harness.run([SYSTEM_PYTHON, "-c", probe], env=harness.clean_env({"PYTHONPATH": tree,
                                                                              "PYTHONDONTWRITEBYTECODE": "1"}))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[:3], [os.path.join(tree, "_pylaunchd.py"), os.path.join(tree, "pylaunchd", "__init__.py"),
                                     self.p("bin", "pylaunchd")])
        self.assertEqual(lines[3], f"{os.path.getsize(self.p('share', 'pylaunchd', 'units', 'agent.socket.in'))} "
                                   f"{os.path.getsize(self.p('share', 'pylaunchd', 'plist', 'agent.plist.in'))}")
        self.assertTrue(os.access(self.p("bin", "pylaunchd"), os.X_OK))

    def test_readme_example_against_the_installation(self):
        agents = self.p("share", "pylaunchd", "agent")
        out = harness.run([SYSTEM_PYTHON, "-c", RUN_TESTS, os.path.join(agents, "test_Agent.py")], cwd=agents,
                          env=harness.clean_env({"PYTHONPATH": self.p("share", "pylaunchd", "python"),
                                                 "PYTHONDONTWRITEBYTECODE": "1"}))
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn(b"passed test_rot13", out.stdout)

    def test_man_page(self):
        with open(self.p("share", "man", "man1", "pylaunchd.1"), "rb") as a, \
                open(os.path.join(SOURCE_DIR, "launcher", "pylaunchd.1"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_destdir_stages_files_that_name_the_final_prefix(self):
        staged = self.destdir + self.staged_prefix
        with open(os.path.join(staged, "lib/systemd/user/rot13.service"), encoding="utf-8") as f:
            self.assertIn(f"\nExecStart={self.staged_prefix}/bin/pylaunchd --idle-timeout 30 "
                          f"{self.staged_prefix}/share/pylaunchd/agent/Agent.py\n", f.read())
        with open(os.path.join(staged, "share/pylaunchd/python/_pylaunchd.py"), encoding="utf-8") as f:
            self.assertIn(f'\nexecutable = "{self.staged_prefix}/bin/pylaunchd"\n', f.read())
        for path, text in text_files(self.destdir).items():
            self.assertNotIn(self.destdir, text, f"{path} names the staging directory")
        self.assertFalse(os.path.exists(self.staged_prefix), "DESTDIR was ignored: files went to the prefix itself")
        self.assertIn(f"Installing: {staged}/lib/systemd/user/rot13.service", self.staged_out)

    def test_a_prefix_the_units_cannot_name_is_refused(self):
        self.assertNotEqual(self.bad.returncode, 0, "an install whose units would split the launcher's path succeeded")
        self.assertIn("cannot install to", self.bad.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.bad_prefix, "lib", "systemd", "user", "rot13.service")))


if __name__ == "__main__":
    harness.main()
