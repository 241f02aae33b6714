#!/usr/bin/env python3
"""Scenario: every refusal to start exits with its documented code and says what is wrong.

Each case runs the real binary to completion and checks three things: the exit status
(launcher/exitcode.h), key words of the message on stderr, and, when --listen unix:PATH was
given, that no socket file is left behind. Positive neighbours (a stale socket is replaced,
another process's LISTEN_PID is ignored) sit beside the negative ones.
"""

import os
import signal
import socket

import harness
from harness import (EXIT_ACTIVATION, EXIT_AGENT_BROKEN, EXIT_AGENT_MISSING, EXIT_AGENT_NO_HANDLER, EXIT_OK,
                     EXIT_OS, EXIT_USAGE)


class BadStart(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.sock = self.unix_address("agent.sock")

    def run_launcher(self, argv, env=None, prefix=()):
        r = harness.run([*prefix, harness.BINARY, *argv], env=env)
        return r.returncode, r.stderr.decode("utf-8", "replace")

    def check(self, argv, code: int, words, what: str, env=None, prefix=(), listen=True):
        """Run pylaunchd [--listen unix:PATH] ARGV; assert the status, the words on stderr, and
        that PATH does not remain. Returns stderr."""
        full = (["--listen", self.sock.listen_arg()] if listen else []) + list(argv)
        got, err = self.run_launcher(full, env=env, prefix=prefix)
        self.assertEqual(got, code, f"{what}: exit status {got}, expected {code}; stderr:\n{err}")
        self.assertInStderr(words, err, what)
        if listen:
            self.assertFalse(os.path.exists(self.sock.path),
                             f"{what}: the --listen socket file {self.sock.path} must not remain")
        return err

    def agent(self, source: str, name: str = "bad_agent.py") -> str:
        return self.write_agent(name, source)

    # -- no sockets, bad command lines -------------------------------------------------------

    def test_no_activation_and_no_listen(self):
        err = self.check([harness.ROT13_AGENT], EXIT_USAGE, ["no sockets to serve"], "nothing to serve",
                         listen=False)
        self.assertInStderr(["systemd-socket-activate", "launchd", "--listen"], err,
                            "the message shows the three ways to run it")

    def test_missing_agent_said_before_no_sockets(self):
        # `pylaunchd Missing.py`, not activated: the missing file is what to fix first.
        missing = self.path("Missing.py")
        err = self.check([missing], EXIT_AGENT_MISSING, [f"agent {missing} cannot be found"], "a missing agent",
                         listen=False)
        self.assertNotIn("no sockets to serve", err, "the missing file is reported, not the missing sockets")

    def test_mistyped_commands_suggest_the_right_one(self):
        for argv, words in ((["help"], ["unknown command 'help'", "did you mean '--help'?"]),
                            (["instal", "--name", "x", harness.ROT13_AGENT], ["unknown command 'instal'",
                                                                              "did you mean 'install'?"]),
                            (["uninstal", "--name", "x"], ["did you mean 'uninstall'?"]),
                            (["stauts", "x"], ["did you mean 'status'?"]),
                            (["frobnicate"], ["unknown command 'frobnicate'", "install, uninstall, list"])):
            with self.subTest(argv=argv):
                err = self.check(argv, EXIT_USAGE, words, f"{argv[0]!r}", listen=False)
                self.assertNotIn("no sockets to serve", err, f"{argv[0]!r} is not taken for an agent")
        self.assertNotIn("did you mean", self.check(["frobnicate"], EXIT_USAGE, [], "far from any", listen=False))

    def test_launchd_mode_where_there_is_no_launchd(self):
        # --launchd is for a LaunchAgent plist; on Linux there is no launchd to check in with.
        self.check(["--launchd", harness.ROT13_AGENT], EXIT_ACTIVATION,
                   ["--launchd: this pylaunchd was built without launchd"], "--launchd on Linux", listen=False)

    def test_mistyped_option_suggests_the_right_one(self):
        self.check(["--idle-timout", "3", harness.ROT13_AGENT], EXIT_USAGE,
                   ["unknown option '--idle-timout'", "did you mean '--idle-timeout'?"], "a mistyped option")

    def test_no_agent_given(self):
        self.check([], EXIT_USAGE, ["no agent given"], "--listen but no agent")

    def test_unknown_option(self):
        self.check(["--no-such-option", harness.ROT13_AGENT], EXIT_USAGE,
                   ["unknown option", "--no-such-option", "--help"], "an unknown option")

    def test_option_without_its_value(self):
        # The last word: getopt finds --max-connections without the value it requires.
        self.check(["--max-connections"], EXIT_USAGE,
                   ["--max-connections", "needs a value"], "an option missing its value")

    def test_bad_option_values(self):
        for argv, word in ((["--max-connections", "0"], "--max-connections"),
                           (["--max-connections", "abc"], "--max-connections"),
                           (["--max-connections", "5000"], "--max-connections"),
                           (["--max-connections", "-3"], "--max-connections"),
                           (["--backlog", "0"], "--backlog"),
                           (["--backlog", "1e3"], "--backlog")):
            with self.subTest(argv=argv):
                self.check([*argv, harness.ROT13_AGENT], EXIT_USAGE, [word, argv[1]], f"bad value {argv}")

    def test_bad_listen_addresses(self):
        for address in ("unix:", "unix:@", "tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:127.0.0.1:0",
                        "tcp:127.0.0.1:65536", "tcp:127.0.0.1:http", "tcp::::1:80", "tcp:[::1:80",
                        "tcp::80", "udp:127.0.0.1:80", "/tmp/no-scheme.sock", "unix:" + "x" * 200, ""):
            with self.subTest(address=address):
                self.check(["--listen", address, harness.ROT13_AGENT], EXIT_USAGE,
                           ["is not an address", "unix:PATH", "tcp:HOST:PORT"], f"--listen {address!r}")

    # -- the agent file ----------------------------------------------------------------------

    def test_missing_agent(self):
        missing = self.path("no_such_agent.py")
        self.check([missing], EXIT_AGENT_MISSING, ["no_such_agent.py", "cannot be found"], "a missing agent")

    def test_agent_is_a_directory(self):
        d = self.path("dir_agent.py")
        os.mkdir(d)
        self.check([d], EXIT_AGENT_MISSING, ["dir_agent.py", "not a regular file"], "an agent that is a directory")

    def test_agent_file_name_not_a_module_name(self):
        for name in ("my-agent.py", "2fast.py", "agent.txt", "class.py"):
            with self.subTest(name=name):
                p = self.agent("def handle(conn):\n    pass\n", name)
                self.check([p], EXIT_AGENT_BROKEN, [name, "rename"], f"agent file named {name}")

    def test_agent_named_like_a_stdlib_module(self):
        p = self.agent("def handle(conn):\n    conn.sendall(b'never')\n", "socket.py")
        self.check([p], EXIT_AGENT_BROKEN, ["socket.py", "'socket'", "rename"],
                   "an agent named like a standard module")

    def test_syntax_error(self):
        p = self.agent("def handle(conn)\n    pass\n")
        self.check([p], EXIT_AGENT_BROKEN, ["SyntaxError", "bad_agent.py", "line 1"], "an agent with a syntax error")

    def test_import_error(self):
        p = self.agent("import no_such_module_e2e\n\ndef handle(conn):\n    pass\n")
        self.check([p], EXIT_AGENT_BROKEN, ["ModuleNotFoundError", "no_such_module_e2e", "Traceback"],
                   "an agent importing a module that does not exist")

    def test_exception_at_import(self):
        p = self.agent("raise ValueError('refusing to load: e2e')\n")
        self.check([p], EXIT_AGENT_BROKEN, ["ValueError", "refusing to load: e2e", "bad_agent.py"],
                   "an agent raising while imported")

    def test_neither_handle_nor_serve(self):
        p = self.agent("def helper(conn):\n    pass\n")
        self.check([p], EXIT_AGENT_NO_HANDLER, ["neither handle", "serve", "bad_agent.py"],
                   "an agent with neither handle() nor serve()")

    def test_handle_not_callable(self):
        p = self.agent("handle = 'not a function'\n")
        self.check([p], EXIT_AGENT_NO_HANDLER, ["not callable", "neither handle"], "handle that is not callable")

    def test_sys_exit_at_import(self):
        p = self.agent("import sys\nsys.exit(7)\n")
        self.check([p], 7, [], "an agent calling sys.exit(7) while imported: the launcher exits 7")

    def test_sys_exit_zero_at_import(self):
        # exitcode.h: "An agent's own sys.exit(n) ends the launcher with n, whatever n is."
        p = self.agent("import sys\nsys.exit(0)\n")
        err = self.check([p], EXIT_OK, [], "an agent calling sys.exit(0) while imported: the launcher exits 0")
        self.assertNotIn("handle", err, "a clean sys.exit(0) is not reported as a missing handler")

    # -- activation environment --------------------------------------------------------------

    def test_malformed_listen_fds(self):
        # sh sets LISTEN_PID to its own pid, then execs pylaunchd in that same process.
        prefix = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=abc exec "$0" "$@"']
        self.check([harness.ROT13_AGENT], EXIT_ACTIVATION, ["LISTEN_FDS=abc", "not valid"],
                   "LISTEN_FDS that is not a number", prefix=prefix)

    def test_listen_fds_on_a_regular_file(self):
        plain = self.path("plain.txt")
        with open(plain, "w") as f:
            f.write("not a socket\n")
        prefix = ["sh", "-c", 'exec 3<"$E2E_PLAIN"; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"']
        self.check([harness.ROT13_AGENT], EXIT_ACTIVATION, ["fd 3", "not a socket"],
                   "LISTEN_FDS=1 with fd 3 a regular file", prefix=prefix,
                   env=harness.clean_env({"E2E_PLAIN": plain}))

    def test_listen_fds_on_a_closed_fd(self):
        prefix = ["sh", "-c", 'exec 3<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"']
        self.check([harness.ROT13_AGENT], EXIT_ACTIVATION, ["LISTEN_FDS=1", "Bad file descriptor"],
                   "LISTEN_FDS=1 with fd 3 closed", prefix=prefix)

    def test_listen_fds_for_another_process_is_ignored(self):
        # LISTEN_PID names someone else: the variables are not ours, and --listen is used.
        server = self.launch(harness.ROT13_AGENT, listen=[self.sock],
                             env=harness.clean_env({"LISTEN_PID": "1", "LISTEN_FDS": "1"}))
        harness.wait_for_socket(self.sock, proc=server)
        self.assertServesRot13(self.sock, "LISTEN_PID of another process: --listen is served")
        info_agent = self.write_agent("info_agent.py", harness.INFO_AGENT)
        other = self.unix_address("other.sock")
        server2 = self.launch(info_agent, listen=[other],
                              env=harness.clean_env({"LISTEN_PID": "1", "LISTEN_FDS": "1"}))
        harness.wait_for_socket(other, proc=server2)
        self.assertEqual(harness.fetch_json(other)["started_by"], "listen")

    # -- --listen refusals -------------------------------------------------------------------

    def test_listen_path_is_a_regular_file(self):
        with open(self.sock.path, "w") as f:
            f.write("precious\n")
        got, err = self.run_launcher(["--listen", self.sock.listen_arg(), harness.ROT13_AGENT])
        self.assertEqual(got, EXIT_OS, f"a regular file where the socket should go; stderr:\n{err}")
        self.assertInStderr([self.sock.path, "not a socket"], err, "refusing to replace a regular file")
        with open(self.sock.path) as f:
            self.assertEqual(f.read(), "precious\n", "the regular file is left exactly as it was")

    def test_listen_path_served_by_another_process(self):
        first = self.serve_listen(harness.ROT13_AGENT, listen=[self.sock])
        got, err = self.run_launcher(["--listen", self.sock.listen_arg(), harness.ROT13_AGENT])
        self.assertEqual(got, EXIT_OS, f"a second launcher on a live socket; stderr:\n{err}")
        self.assertInStderr(["another process is serving", self.sock.path], err, "the socket is in use")
        self.assertTrue(os.path.exists(self.sock.path), "the live server's socket file is not removed")
        self.assertServesRot13(self.sock, "the first launcher still serves")
        self.assertTrue(first.alive())

    def test_stale_socket_file_is_replaced(self):
        # A socket file with nobody listening, as a crashed server leaves it.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(self.sock.path)
        server = self.serve_listen(harness.ROT13_AGENT, listen=[self.sock])
        self.assertServesRot13(self.sock, "served on a path that held a stale socket")
        self.assertInStderr("removed stale socket", server.stderr(), "the replacement is logged")

    def test_listen_directory_missing(self):
        self.check(["--listen", "unix:" + self.path("no/such/dir.sock"), harness.ROT13_AGENT], EXIT_OS,
                   ["cannot listen", "No such file or directory"], "a socket path in a missing directory",
                   listen=False)

    def test_second_listen_fails_first_is_removed(self):
        # The first --listen was bound before the second failed: it must be cleaned up too.
        self.check(["--listen", "unix:" + self.path("no/such/dir.sock"), harness.ROT13_AGENT], EXIT_OS,
                   ["cannot listen"], "the second of two --listen addresses fails")

    def test_tcp_port_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            self.check(["--listen", f"tcp:127.0.0.1:{port}", harness.ROT13_AGENT], EXIT_OS,
                       ["cannot listen", f"tcp:127.0.0.1:{port}", "Address already in use"], "a TCP port in use")

    def test_bad_start_under_systemd_holds_the_socket_until_fixed(self):
        # A broken start under a service manager holds the socket (broken.c): every connection is
        # closed at once, the log says why, and the launcher leaves when the file is fixed (exit 0:
        # the next connection starts it afresh), never unlinking the socket, which is systemd's.
        p = self.agent("def handle(conn)\n    pass\n")
        sa = self.activate(p, listen=[self.sock])  # its probe connection started the launcher
        err = sa.wait_for_stderr("holding the socket")
        self.assertInStderr(["SyntaxError", "closing connections until", p], err, "the hold says why")
        for i in range(3):
            try:
                got = harness.converse(self.sock, b"hello\n")
            except ConnectionResetError:
                got = b""  # closed with our line unread: the kernel says so with a reset
            self.assertEqual(got, b"", f"connection {i}: closed at once, never answered")
        self.assertTrue(sa.alive(), "holding, not exiting and starting again")
        with open(p, "w") as f:
            f.write(harness.INFO_AGENT)
        self.assertExitStatus(sa, harness.EXIT_OK, "the agent's file changed: the hold ends")
        self.assertTrue(os.path.exists(self.sock.path), "the inherited socket file is systemd's, left in place")

    def test_bad_start_hold_ends_on_sigterm_with_the_failure(self):
        p = self.agent("raise RuntimeError('e2e: broken at import')\n")
        sa = self.activate(p, listen=[self.sock])
        sa.wait_for_stderr("holding the socket")
        sa.send_signal(signal.SIGTERM)
        self.assertExitStatus(sa, EXIT_AGENT_BROKEN, "SIGTERM while holding: the start's own failure")


if __name__ == "__main__":
    harness.main()
