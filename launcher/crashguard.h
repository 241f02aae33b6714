/* crashguard.h: break a crash loop that systemd's rate limits cannot see. */
#pragma once
#include "activation.h"

/* How many starts in a row may die while importing before the next one gives up. */
#define CRASHGUARD_LIMIT 3

/* Before the agent is imported, under a service manager that keeps the queue (a listening
 * socket): counts this start. Returns 0 to go on, or -ELOOP when the last CRASHGUARD_LIMIT starts
 * all died before the agent was ready (the caller then closes the waiting connections and fails).
 * A no-op (0) without XDG_RUNTIME_DIR or a listening socket. */
int crashguard_begin(const struct listener_set *set);
/* The agent is imported and serving: the count starts again from zero. */
void crashguard_clear(void);
