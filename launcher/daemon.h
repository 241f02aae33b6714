/* daemon.h: --daemon and --pidfile, for machines without a service manager. Done in C before
 * Python starts, so no interpreter is forked. */
#pragma once
#include <stdbool.h>

#include "activation.h"
#include "options.h"

/* Takes the pidfile's lock: a second instance is refused, naming the PID that holds it. First
 * thing, before binding anything, so that refusal is what a second start reports. */
int daemon_lock(const struct options *opts);
/* Writes the pidfile and drops privileges; with --daemon, first detaches: the starting process waits until the daemon reports ready or failed,
 * copies the daemon's messages until then, and exits with its result (it never returns). Returns
 * an exit code in the daemon (EXIT_OK to go on). */
int daemon_start(const struct options *opts, const struct listener_set *set);
/* In the daemon, once the agent is imported and the listeners serve: the starting process exits
 * 0, and stderr moves to --log (or /dev/null). No-op without --daemon. */
void daemon_ready(void);
/* In the daemon, when it ends before daemon_ready(): the starting process exits with code. */
void daemon_failed(int code);
/* At exit: removes the pidfile (ours: we hold its lock). */
void daemon_finish(void);
