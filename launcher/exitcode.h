/* exitcode.h: every exit status pylaunchd chooses, in one place. README lists the same table. */
#pragma once

/* sysexits(3) values, so units can say RestartPreventExitStatus= for the ones a restart
 * cannot fix. An agent's own sys.exit(n) ends the launcher with n, whatever n is. */
enum exit_code {
        EXIT_OK = 0,               /* clean stop, idle exit, inetd conversation finished */
        EXIT_RUNTIME = 1,          /* a failure while serving (listener broke, out of memory) */
        EXIT_USAGE = 64,           /* bad command line, or no socket to serve */
        EXIT_AGENT_BROKEN = 65,    /* the agent raised while importing: syntax or import error */
        EXIT_AGENT_MISSING = 66,   /* the agent file does not exist or cannot be read */
        EXIT_AGENT_NO_HANDLER = 69,/* the agent defines neither handle() nor serve() */
        EXIT_AGENT_FAILED = 70,    /* the agent's serve() raised, or the interpreter failed */
        EXIT_OS = 71,              /* the OS refused: bind, listen, thread creation */
        /* A file or directory pylaunchd would trust (the agent, a directory above it, a path it
         * creates or opens: --pidfile, --log, --listen unix: and fifo:) could be written or
         * replaced by someone else (sysexits' EX_NOPERM). */
        EXIT_AGENT_UNSAFE = 77,
        EXIT_ACTIVATION = 78,      /* the sockets we were given are not usable as described */
};
