#!/usr/bin/env python3
"""Scenario: the manual page, launcher/pylaunchd.1, says what the program does.

Held to the running program, so the two cannot drift: every option `pylaunchd --help` lists is in
the page's OPTIONS, and every option the page's OPTIONS lists is in --help; every command the
program knows (its usage lines, and the list its "unknown command" error gives) has an item in
COMMANDS, and every option that command's own --help lists appears there; every exit status in
launcher/exitcode.h has an item in EXIT STATUS, and no other number does. The page renders
without a warning (groff -ww, and man-db's `man --warnings` where it is installed).
"""

import os
import re
import shutil
import subprocess

import harness

SOURCE_DIR = os.path.dirname(os.path.abspath(harness.AGENT_DIR)) if harness.AGENT_DIR else ""
PAGE = os.path.join(SOURCE_DIR, "launcher", "pylaunchd.1")
EXITCODE_H = os.path.join(SOURCE_DIR, "launcher", "exitcode.h")

#: A long option anywhere; a short one only where an option list names it ("  -c, --max..."), since
#: running text also says "as python -X dev".
LONG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SHORT = re.compile(r"^\s+(-[A-Za-z])\b(?=[ ,])", re.M)


def options_in(help_text: str) -> set:
    return set(LONG.findall(help_text)) | set(SHORT.findall(help_text))


def has_option(text: str, option: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])", text) is not None


def groff() -> str:
    path = shutil.which("groff")
    if not path:
        raise AssertionError("groff is missing: apt-get install groff-base")
    return path


def render(page: str) -> str:
    """The page as plain text, one paragraph a line (a 1000-column page never breaks or hyphenates a word)."""
    r = subprocess.run([groff(), "-mdoc", "-Tascii", "-P-cbou", "-rLL=1000n", page], capture_output=True, text=True,
                       timeout=harness.DEADLINE)
    if r.returncode != 0:
        raise AssertionError(f"groff failed on {page}:\n{r.stderr}")
    return r.stdout


def sections(text: str) -> dict:
    """{SECTION NAME: its text} of a rendered page: headings are lines in capitals at column 0."""
    out, name = {}, None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Z ]+", line):
            name = line
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


class ManPage(harness.E2ETestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.path.isfile(PAGE):
            raise AssertionError(f"no manual page at {PAGE}")
        cls.text = render(PAGE)
        cls.sections = sections(cls.text)
        with open(PAGE, encoding="utf-8") as f:
            cls.source = f.read()

    def help(self, *args: str) -> str:
        r = harness.run([harness.BINARY, *args, "--help"])
        self.assertEqual(r.returncode, 0, f"pylaunchd {' '.join(args)} --help: {r.stderr.decode()}")
        return r.stdout.decode()

    def commands(self) -> set:
        """The subcommands the program names: its usage lines, and its unknown-command error."""
        usage = self.help()
        found = set(re.findall(r"^\s*(?:Usage:)?\s*\S*pylaunchd ([a-z]+)\b", usage, re.M))
        r = harness.run([harness.BINARY, "no-such-command"])
        m = re.search(r"the commands are ([a-z, ]+?) and ([a-z]+)\b", r.stderr.decode())
        if m:
            found |= {w.strip() for w in m.group(1).split(",")} | {m.group(2)}
        self.assertIn("install", found, f"no commands found in --help:\n{usage}")
        return found

    def test_renders_without_warnings(self):
        r = subprocess.run([groff(), "-mdoc", "-ww", "-z", PAGE], capture_output=True, text=True, timeout=harness.DEADLINE)
        self.assertEqual((r.returncode, r.stderr), (0, ""), "groff -mdoc -ww warned")
        if shutil.which("man"):
            r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", PAGE], capture_output=True,
                               text=True, timeout=harness.DEADLINE,
                               env=harness.clean_env({"MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": "0"}))
            self.assertEqual((r.returncode, r.stderr), (0, ""), "man --warnings warned")
        for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS",
                     "EXAMPLES", "SEE ALSO"):
            self.assertIn(name, self.sections, f"the page has no {name} section")

    def test_every_option_of_help_is_in_the_page_and_back(self):
        # The usage lines of the commands ("pylaunchd install --name NAME ...") are COMMANDS' business.
        helped = options_in(re.sub(r"(?m)^\s*(Usage:)?\s*\S*pylaunchd [a-z]+\b.*$", "", self.help()))
        self.assertGreater(len(helped), 25, f"too few options found in --help: {sorted(helped)}")
        documented = self.sections["OPTIONS"]
        missing = sorted(o for o in helped if not has_option(documented, o))
        self.assertEqual(missing, [], "options in `pylaunchd --help` that the man page's OPTIONS lacks")
        # Back: each option the page describes (an item's head: "-c, --max-connections N") is real.
        heads = set()
        for line in documented.splitlines():
            head = re.match(r"^ {5}(-.*?)(?: {2,}|$)", line)  # a short head shares its line with the text
            if head:
                heads |= set(LONG.findall(head.group(1))) | set(re.findall(r"(?<![\w-])-[A-Za-z](?![\w-])", head.group(1)))
        self.assertGreater(len(heads), 25)
        self.assertEqual(sorted(heads - helped), [], "options in the man page that `pylaunchd --help` does not list")

    def test_every_command_and_its_options_are_in_the_page(self):
        commands_text = self.sections["COMMANDS"]
        for command in sorted(self.commands()):
            with self.subTest(command=command):
                self.assertTrue(re.search(rf"(?m)^\.It Cm {command}\b", self.source),
                                f"the man page's COMMANDS has no item (.It Cm {command}) for `pylaunchd {command}`")
                helped = options_in(self.help(command))
                missing = sorted(o for o in helped if not has_option(commands_text, o))
                self.assertEqual(missing, [], f"options in `pylaunchd {command} --help` missing from COMMANDS")
                self.assertTrue(re.search(rf"pylaunchd {command}\b", self.sections["SYNOPSIS"]),
                                f"SYNOPSIS does not show `pylaunchd {command}`")

    def test_every_exit_status(self):
        with open(EXITCODE_H, encoding="utf-8") as f:
            codes = {int(v) for v in re.findall(r"\bEXIT_[A-Z_]+\s*=\s*(\d+)", f.read())}
        self.assertGreaterEqual(len(codes), 8, f"too few exit codes found in {EXITCODE_H}")
        documented = {int(n) for n in re.findall(r"(?m)^ {5}(\d+) ", self.sections["EXIT STATUS"])}
        self.assertEqual(sorted(documented), sorted(codes),
                         "EXIT STATUS items and launcher/exitcode.h differ")
        # The agent's own sys.exit(n) is the rest.
        self.assertRegex(self.sections["EXIT STATUS"], r"(?m)^ {5}n +The agent called sys\.exit\(n\)")


if __name__ == "__main__":
    harness.main()
