/* interp.h: the embedded CPython: configuration, start, the agent's import, errors, finish. */
#pragma once
#include <Python.h>

#include "options.h"

struct agent {
        char path[4096];     /* absolute, symlinks resolved */
        char dir[4096];      /* becomes sys.path[0] */
        char name[256];      /* the module name: the file name less .py */
        PyObject *module;
        PyObject *handle;    /* callable or NULL */
        PyObject *serve;     /* callable or NULL */
        PyObject *launcher;  /* the pylaunchd module */
        PyObject *conn_type; /* pylaunchd.Connection */
        PyObject *dgram_type; /* pylaunchd.Datagram: a Connection whose recv*() check the sender */
        bool exit_requested; /* the agent called sys.exit() while being imported */
        bool dir_shared;     /* others can create files in dir (--no-strict-modes): no __pycache__ */
        char error[256];     /* why the last import or reload failed, one line ("SyntaxError: ..."),
                              * for STATUS=; "" after a success */
};

/* Checks the agent file before anything starts: exists, readable, a regular file, a usable module
 * name, and (strict) writable by nobody but uid or root, in a directory where nobody else can
 * create files. uid is the user the agent will run as. Returns EXIT_OK or the exit code, after
 * logging what to fix. */
int agent_locate(const char *arg, bool strict, uid_t uid, struct agent *ret);
/* Starts the interpreter (isolated, UTF-8, no signal handlers of its own) with sys.argv from the
 * command line and sys.path[0] the agent's directory. Unless --no-strict-modes, refuses (77) when
 * another user could create files in a directory on sys.path (--venv, --site). GIL held on
 * success. Returns an exit code. */
int interp_start(const struct options *opts, const struct agent *agent);
/* Imports pylaunchd and the agent, finds handle and serve. GIL held. Returns an exit code; when
 * the agent called sys.exit(n) while imported, n with agent->exit_requested set (n may be 0). */
int interp_load_agent(struct agent *agent);
/* SIGHUP: imports the agent's file afresh and switches to its handle/serve. If the new code
 * fails to import or has no handler, the old one stays and the reason is logged. GIL held.
 * Returns 0 or -1. */
int interp_reload_agent(struct agent *agent);
/* After a call into Python failed: a SystemExit gives its exit status (>= 0) and prints nothing
 * else; anything else is logged with `what` and its traceback, and gives -1. Clears the error. */
int interp_exception_status(const char *what);
/* `pylaunchd install ...`: runs main() of a Python tool compiled into the binary, with
 * sys.argv = argv. Returns its exit status. */
int interp_run_tool(const char *module, int argc, char **argv);
/* Flushes sys.stdout and sys.stderr (GIL held). */
void interp_flush(void);
/* Finalizes the interpreter (atexit handlers, non-daemon threads). GIL held. */
void interp_finish(struct agent *agent);
