/* workers.h: --workers N, a master that pre-forks N worker processes, each embedding its own
 * interpreter, all serving the same listeners. The fork happens before Python starts, so no
 * interpreter is ever forked. */
#pragma once
#include <stdbool.h>

#include "activation.h"
#include "activity.h"

/* In the master: forks the workers and supervises them until they are all gone; returns the exit
 * code with *ret_worker false. In each worker: returns EXIT_OK at once with *ret_worker true, and
 * the worker goes on to start Python and serve. */
int workers_run(unsigned n, struct listener_set *set, struct activity *activity, bool *ret_worker);
/* A worker tells its master it has imported the agent and serves (no-op outside a worker). */
void workers_ready(void);
