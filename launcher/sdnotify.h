/* sdnotify.h: sending sd_notify(3) messages ourselves, to an address parsed from NOTIFY_SOCKET. */
#pragma once
#include <stdbool.h>

#include "parse.h"

/* Sends state ("READY=1\nSTATUS=...") as one message to a. Returns 1 when sent, or -errno. */
int sdnotify_send(const struct notify_address *a, const char *state);
