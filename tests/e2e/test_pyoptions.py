#!/usr/bin/env python3
"""Scenario: the launcher options that stand in for the PYTHON* variables isolated Python ignores.

-u (output reaches a pipe at once, while the launcher still runs; without it, only at exit),
-W (a DeprecationWarning at import becomes an exception, exit 65; repeatable, the last filter
wins; without it the agent serves and Python's default filters apply), --dev (sys.flags.dev_mode,
as python -X dev), --faulthandler (faulthandler.is_enabled(), and a traceback when the agent
crashes), --import-time (the "import time:" table on stderr).
"""

import json
import os
import resource
import signal

import agentside
import harness
from harness import EXIT_AGENT_BROKEN, EXIT_OK, fetch_json

SYSTEM_PYTHON = "/usr/bin/python3.11"

#: Reports the interpreter's flags; prints "printed" to stdout (a line and a partial line).
FLAGS_AGENT = """
import faulthandler, json, sys

def handle(conn):
    sys.stdout.write("a full line\\n")
    sys.stdout.write("then a partial line")
    try:
        conn.sendall(json.dumps({
            "dev_mode": sys.flags.dev_mode,
            "faulthandler": faulthandler.is_enabled(),
            "warnoptions": sys.warnoptions,
            "write_through": sys.stdout.write_through,
            "line_buffering": sys.stdout.line_buffering,
        }).encode() + b"\\n")
    except OSError:
        pass  # a readiness probe that did not wait for its answer
"""

#: Warns at import: a DeprecationWarning (hidden by Python's default filters outside __main__),
#: then a UserWarning (shown by default).
WARN_AGENT = """
import json, sys, warnings
warnings.warn("e2e deprecated api", DeprecationWarning)
warnings.warn("e2e user warning", UserWarning)

def handle(conn):
    conn.sendall(json.dumps(sys.warnoptions).encode())
"""

#: Crashes the process (SIGSEGV) inside handle() when the client sends "crash".
CRASH_AGENT = """
import faulthandler

def handle(conn):
    if conn.recv(100).strip() == b"crash":
        faulthandler._sigsegv()
"""


def python_says(*args) -> object:
    """What the system Python prints (as JSON) for `python3.11 ARGS`: the reference the options
    are compared with."""
    r = harness.run([SYSTEM_PYTHON, *args])
    if r.returncode != 0:
        raise AssertionError(f"{SYSTEM_PYTHON} {args}: {r.stderr!r}")
    return json.loads(r.stdout)


class Unbuffered(harness.E2ETestCase):
    """-u: what the agent prints is in the pipe before its answer is. Without it stdout is
    line-buffered even on a pipe (the journal, a log file): each whole line at once, a partial
    line at the next newline or at exit."""

    def start_piped(self, options):
        agent = self.write_agent("flags_agent.py", FLAGS_AGENT)
        addr = self.unix_address()
        r, w = os.pipe()
        self.addCleanup(os.close, r)  # registered first: runs after the launcher is gone
        try:
            server = self.launch(agent, listen=[addr], options=options, stdout=w)
        finally:
            os.close(w)
        # One connection only: a readiness probe would print as well.
        answer = json.loads(harness.converse(addr, b"", sock=harness.connect_when_ready(addr, proc=server)))
        return server, r, answer

    def test_unbuffered_output_reaches_the_pipe_at_once(self):
        server, r, answer = self.start_piped(["-u"])
        self.assertTrue(answer["write_through"], "-u: sys.stdout writes through")
        # The agent wrote before it answered: unbuffered, the bytes are in the pipe already.
        self.assertEqual(agentside.read_ready(r), b"a full line\nthen a partial line",
                         "-u: a line and a partial line in the pipe while the launcher runs")
        self.assertTrue(server.alive())
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM")

    def test_long_option(self):
        server, r, answer = self.start_piped(["--unbuffered"])
        self.assertEqual(agentside.read_ready(r), b"a full line\nthen a partial line")

    def test_line_buffered_without_u(self):
        server, r, answer = self.start_piped([])
        self.assertFalse(answer["write_through"])
        self.assertTrue(answer["line_buffering"], "a pipe's stdout is line-buffered")
        self.assertEqual(agentside.read_ready(r), b"a full line\n",
                         "without -u a pipe gets each whole line when it is printed (it got nothing before the "
                         "next idle exit, once)")
        server.send_signal(signal.SIGTERM)
        self.assertExitStatus(server, EXIT_OK, "SIGTERM")
        self.assertEqual(agentside.read_ready(r, harness.DEADLINE), b"then a partial line",
                         "the partial line is flushed at exit, not lost")


class Warnings(harness.E2ETestCase):
    """-W/--warnings FILTER, as python -W, repeatable."""

    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("warn_agent.py", WARN_AGENT)
        self.addr = self.unix_address()

    def run_to_end(self, options) -> tuple:
        once = self.unix_address("once.sock")
        r = harness.run([harness.BINARY, *options, "--listen", once.listen_arg(), self.agent])
        return r.returncode, r.stderr.decode("utf-8", "replace")

    def test_error_filter_fails_the_import(self):
        for option in ("-W", "--warnings"):
            with self.subTest(option=option):
                code, err = self.run_to_end([option, "error::DeprecationWarning"])
                self.assertEqual(code, EXIT_AGENT_BROKEN, f"{option} error::DeprecationWarning: stderr:\n{err}")
                self.assertInStderr(["failed to import", "DeprecationWarning: e2e deprecated api"], err,
                                    "the warning became the exception that failed the import")

    def test_without_filter_serving(self):
        server = self.serve_listen(self.agent, listen=[self.addr])
        self.assertEqual(fetch_json(self.addr), [], "no warning options")
        err = server.stderr()
        self.assertIn("UserWarning: e2e user warning", err, "a warning is printed and the agent serves")
        self.assertNotIn("e2e deprecated api", err,
                         "Python's default filters hide a DeprecationWarning outside __main__, as python3 does")

    def test_default_filter_prints_and_serves(self):
        server = self.serve_listen(self.agent, listen=[self.addr], options=["-W", "default::DeprecationWarning"])
        self.assertEqual(fetch_json(self.addr), ["default::DeprecationWarning"])
        self.assertInStderr(["DeprecationWarning: e2e deprecated api", "UserWarning: e2e user warning"],
                            server.stderr(), "-W default::DeprecationWarning")

    def test_repeatable_last_wins(self):
        options = ["-W", "error::DeprecationWarning", "-W", "ignore::DeprecationWarning"]
        server = self.serve_listen(self.agent, listen=[self.addr], options=options)
        self.assertEqual(fetch_json(self.addr), ["error::DeprecationWarning", "ignore::DeprecationWarning"],
                         "every -W, in order, as sys.warnoptions")
        self.assertNotIn("e2e deprecated api", server.stderr())
        code, err = self.run_to_end(["-W", "ignore::DeprecationWarning", "-W", "error::DeprecationWarning"])
        self.assertEqual(code, EXIT_AGENT_BROKEN, f"the other order: the error filter wins; stderr:\n{err}")


class DevAndFaulthandler(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.agent = self.write_agent("flags_agent.py", FLAGS_AGENT)

    def flags(self, options) -> dict:
        addr = self.unix_address(f"flags{len(options)}.sock")
        self.serve_listen(self.agent, listen=[addr], options=options)
        return fetch_json(addr)

    def test_dev_mode(self):
        reference = python_says("-X", "dev", "-c", "import faulthandler, json, sys; print(json.dumps("
                                "[sys.flags.dev_mode, faulthandler.is_enabled(), sys.warnoptions]))")
        got = self.flags(["--dev"])
        self.assertEqual([got["dev_mode"], got["faulthandler"], got["warnoptions"]], reference,
                         "--dev gives what python -X dev gives")
        self.assertTrue(got["dev_mode"])

    def test_dev_mode_shows_deprecation_warnings(self):
        agent = self.write_agent("warn_agent.py", WARN_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], options=["--dev"])
        fetch_json(addr)
        self.assertIn("DeprecationWarning: e2e deprecated api", server.stderr())

    def test_faulthandler(self):
        self.assertTrue(self.flags(["--faulthandler"])["faulthandler"], "--faulthandler enables it")

    def test_neither(self):
        got = self.flags([])
        self.assertEqual((got["dev_mode"], got["faulthandler"], got["warnoptions"]), (False, False, []),
                         "by default: no dev mode, no fault handler")

    def crash(self, options) -> str:
        agent = self.write_agent("crash_agent.py", CRASH_AGENT)
        addr = self.unix_address("crash.sock")

        def no_core():
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        server = self.launch(agent, listen=[addr], options=options, cwd=self.tmp, preexec_fn=no_core)
        server.signals_sent.add(signal.SIGSEGV)  # the crash is this scenario's own doing
        sock = harness.connect_when_ready(addr, proc=server)
        harness.converse(addr, b"crash\n", sock=sock)
        code = server.wait()
        self.assertEqual(code, -signal.SIGSEGV, f"the agent crashed the process; stderr:\n{server.stderr()}")
        return server.stderr()

    def test_crash_traceback_with_faulthandler(self):
        err = self.crash(["--faulthandler"])
        self.assertInStderr(["Fatal Python error: Segmentation fault", "crash_agent.py", "in handle"], err,
                            "--faulthandler: a crash prints where each thread was")

    def test_crash_without_faulthandler(self):
        err = self.crash([])
        self.assertNotIn("Fatal Python error", err, "no fault handler unless asked")


class ImportTime(harness.E2ETestCase):
    def test_import_time(self):
        agent = self.write_agent("flags_agent.py", FLAGS_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr], options=["--import-time"])
        fetch_json(addr)
        err = server.stderr()
        self.assertIn("import time: self [us] | cumulative | imported package", err)
        self.assertRegex(err, r"(?m)^import time:\s+\d+ \|\s+\d+ \|\s+json$", "the agent's own imports are timed")

    def test_no_import_time_by_default(self):
        agent = self.write_agent("flags_agent.py", FLAGS_AGENT)
        addr = self.unix_address()
        server = self.serve_listen(agent, listen=[addr])
        fetch_json(addr)
        self.assertNotIn("import time:", server.stderr())


if __name__ == "__main__":
    harness.main()
