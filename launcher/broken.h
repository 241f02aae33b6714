/* broken.h: a start that cannot serve holds the socket instead of failing again and again. */
#pragma once
#include <stdint.h>

#include "activation.h"

struct broken_config {
        uint64_t idle_usec;       /* leave after this long with no connection; 0 never */
        uint64_t min_uptime_usec; /* never leave sooner than this after the hold began */
};

/* Under a service manager, after the agent failed to start with code for the reason why: holds
 * the listening sockets (accepting and closing what arrives, with the reason in STATUS=) until
 * the agent's files change (returns EXIT_OK: the next connection starts a fresh launcher), a
 * SIGHUP (the same), the idle timeout or SIGTERM (returns code). Without a listening socket
 * (Accept=yes, inetd style) there is nothing to hold: returns code at once. */
int broken_hold(struct listener_set *set, const char *agent_path, int code, const char *why,
                const struct broken_config *cfg);
