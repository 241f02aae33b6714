#!/usr/bin/env python3
"""Scenario: the embedded Python runs in UTF-8 mode whatever the locale.

An agent that print()s "café" on every connection must not crash with UnicodeEncodeError (the
isolated config alone would give ASCII stdio under LC_ALL=C), and its output arrives as UTF-8.
"""

import os
import signal

import harness
from harness import EXIT_OK, fetch_json

CAFE_AGENT = """
import json, os, sys

def handle(conn):
    print("café ☕ naïve")
    sys.stderr.write("stderr: crème brûlée\\n")
    name = os.path.join(os.path.dirname(__file__), "données-été.txt")
    with open(name, "w") as f:
        f.write("écrit\\n")
    conn.sendall(json.dumps({
        "stdout": sys.stdout.encoding,
        "stderr": sys.stderr.encoding,
        "fs": sys.getfilesystemencoding(),
        "utf8_mode": sys.flags.utf8_mode,
        "preferred": __import__("locale").getpreferredencoding(False),
    }).encode())
"""

LOCALES = {
    "C": {"LC_ALL": "C", "LANG": "C"},
    "POSIX": {"LC_ALL": "POSIX"},
    "unset": {},
    "C.UTF-8": {"LC_ALL": "C.UTF-8"},
}


class Utf8Mode(harness.E2ETestCase):
    def run_cafe(self, locale_name, options=()):
        env = {k: v for k, v in harness.clean_env().items() if not k.startswith("LC_") and k != "LANG"}
        env.update(LOCALES[locale_name])
        agent = self.write_agent("cafe_agent.py", CAFE_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], options=options, env=env)
        return server, addr

    def check_locale(self, locale_name):
        server, addr = self.run_cafe(locale_name)
        for i in range(3):
            info = fetch_json(addr)
            self.assertEqual((info["stdout"], info["stderr"], info["fs"], info["utf8_mode"], info["preferred"]),
                             ("utf-8", "utf-8", "utf-8", 1, "utf-8"),
                             f"LC_ALL={locale_name}: stdio, file names and open() are UTF-8 (connection {i})")
        self.assertTrue(server.alive(), f"LC_ALL={locale_name}: print('café') did not crash the launcher")
        self.assertTrue(os.path.exists(self.path("données-été.txt")), "a non-ASCII file name is created as UTF-8")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, f"LC_ALL={locale_name}: SIGTERM after printing")
        # The probe connection printed too, so at least the 3 checked ones are there.
        out = server.stdout_bytes().decode("utf-8")
        self.assertGreaterEqual(out.count("café ☕ naïve\n"), 3, f"stdout holds the printed lines as UTF-8: {out!r}")
        err = server.stderr()
        self.assertIn("stderr: crème brûlée", err)
        self.assertNotIn("UnicodeEncodeError", err)

    def test_c_locale(self):
        self.check_locale("C")

    def test_posix_locale(self):
        self.check_locale("POSIX")

    def test_no_locale_variables(self):
        self.check_locale("unset")

    def test_utf8_locale(self):
        self.check_locale("C.UTF-8")

    def test_unbuffered_output_appears_while_running(self):
        server, addr = self.run_cafe("C", options=["--unbuffered"])
        fetch_json(addr)
        harness.wait_for(lambda: "café ☕ naïve\n".encode() in server.stdout_bytes(),
                         "--unbuffered: print() output in the stdout file while the launcher runs", proc=server)


if __name__ == "__main__":
    harness.main()
