/* signals.h: signals become bytes on a pipe that the accept loop polls (the self-pipe trick). */
#pragma once

/* Installs the handlers for SIGTERM, SIGINT and SIGHUP and ignores SIGPIPE. Returns 0 or -errno.
 * Called again in a forked child, it gives the child a pipe of its own. */
int signals_init(void);
/* The read end, for poll(). */
int signals_fd(void);
/* The next pending signal number, -EAGAIN when none. */
int signals_next(void);
/* Also deliver signo through the pipe (the --workers master watches SIGCHLD). */
int signals_watch(int signo);
