/* serve.h: dispatching connections to the agent, and running an agent's own loop. */
#pragma once
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include "access.h"
#include "activation.h"
#include "interp.h"

struct serve_config {
        unsigned max_connections; /* handlers running at once; beyond it, accept() waits */
        uint64_t stop_grace_usec; /* how long a stop waits for handlers in flight */
        uint64_t idle_usec;       /* exit after this long with nothing in flight; 0 never */
        uint64_t min_uptime_usec; /* but never sooner than this after start */
        uint64_t watchdog_usec;   /* WATCHDOG=1 owed this often; 0 off */
        const char *what;         /* for STATUS=: "Agent.py on 'rot13.sock'" */
        const struct access_policy *policy; /* who may connect: us, --allow-uid, --allow-gid */
        struct activity *activity;    /* shared with the other workers; NULL: a private one */
        bool verbose;
};

/* Serves until stopped. GIL held on entry and on return. An agent with serve() runs its own loop
 * over the listeners (Python then owns SIGTERM and SIGINT); otherwise handle(conn) is called per
 * connection, or once for a connection handed over inetd style. Returns the exit code: EXIT_OK
 * after a signal, the status of an agent's sys.exit(), or an error code. *ret_abandoned is set
 * when handlers were still running at the end of the grace period: the interpreter must then
 * not be finalized. */
int serve_run(struct listener_set *set, struct agent *agent, const struct serve_config *cfg,
              bool *ret_abandoned);
