/* notify.h: telling the service manager how we are (sd_notify: READY, STATUS, STOPPING,
 * WATCHDOG, ERRNO). Silent no-ops when nothing listens (no NOTIFY_SOCKET, or launchd). */
#pragma once
#include <stdint.h>

#include "activation.h"
#include "log.h"

/* Reads NOTIFY_SOCKET (and unsets it: the agent's processes must not speak for the service) and
 * WATCHDOG_USEC; sends through ops->notify (the seam; NULL means no manager to tell). */
void notify_init(const struct activation_ops *ops);
/* A --workers worker: its master speaks to the service manager (NotifyAccess=main). */
void notify_disable(void);
/* The interval at which WATCHDOG=1 is owed, 0 when the watchdog is off. */
uint64_t notify_watchdog_usec(void);
/* Sends the fields, newline separated, e.g. "READY=1\nSTATUS=serving". Returns > 0 if sent,
 * 0 if there is no manager (no NOTIFY_SOCKET), < 0 on error (logged once, then ignored). */
int notify_send(const char *fmt, ...) PL_PRINTF(1, 2);
