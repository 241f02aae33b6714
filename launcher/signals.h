/* signals.h: signals become bytes on a pipe that the accept loop polls (the self-pipe trick), a
 * backstop that ends a stop on time whatever the agent does, and the agent's forks. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How long after --stop-timeout the backstop waits before it ends the process: time for the loop
 * to log and flush what it abandons, when the loop can still run. */
#define STOP_MARGIN_USEC 1000000ULL

/* Installs the handlers for SIGTERM, SIGINT and SIGHUP and ignores SIGPIPE. Returns 0 or -errno.
 * Called again in a forked child, it gives the child a pipe of its own. */
int signals_init(void);
/* The read end, for poll(). */
int signals_fd(void);
/* The next pending signal number, -EAGAIN when none. */
int signals_next(void);
/* Also deliver signo through the pipe (the --workers master watches SIGCHLD). */
int signals_watch(int signo);
/* serve() mode: after Python's own handlers were installed (they replace ours), ours go back for
 * SIGTERM and SIGINT, and forward them to fn (which hands them to Python), so the backstop still
 * sees them. */
int signals_take_back(void);
void signals_forward(void (*fn)(int signo));

/* Starts this process's backstop thread (again in a forked worker or daemon): once a stop begins
 * (SIGTERM, SIGINT, or signals_stop_begun()), the process exits at most grace_usec +
 * STOP_MARGIN_USEC later, from a thread that never needs the interpreter. Returns 0 or -errno. */
int signals_backstop_start(uint64_t grace_usec);
/* A stop began without a signal (idle exit, sys.exit() in a handler); exit_code is what the
 * backstop exits with if it has to. */
void signals_stop_begun(int exit_code);
/* Exit within usec from now, whatever happens: after handlers were abandoned, the last flush
 * needs the interpreter, which whatever was abandoned may hold forever. */
void signals_backstop_soon(uint64_t usec);
/* For pthread_atfork: registered once by signals_init(). */
void signals_register_atfork(void);

/* From now on a fork is the agent's (Python runs): its child gets SIGTERM, SIGINT and SIGHUP
 * back at their defaults and reports its pid to us. */
void signals_agent_forks(void);
/* The pids of the agent's forked children reported since the last call (at most max). */
size_t signals_forked_children(pid_t *ret, size_t max);
