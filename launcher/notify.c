/* notify.c: sd_notify through the seam, so the unit tests can record what would be sent. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "notify.h"
#include "parse.h"

static int (*notify_fn)(int unset_environment, const char *state);
static uint64_t watchdog_usec;
static bool notify_failed_logged;

void notify_init(const struct activation_ops *ops) {
        const char *pid = getenv("WATCHDOG_PID"), *usec = getenv("WATCHDOG_USEC");
        long long v = 0, p = 0;

        notify_fn = ops->notify;
        watchdog_usec = 0;
        /* As sd_watchdog_enabled(): WATCHDOG_PID, when set, must be ours. */
        if (usec && parse_int_range(usec, 1, INT64_MAX, &v) == 0 &&
            (!pid || (parse_int_range(pid, 1, INT32_MAX, &p) == 0 && p == (long long)getpid())))
                watchdog_usec = (uint64_t)v;
        /* The agent's children must not think the watchdog is theirs. */
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
}

void notify_disable(void) {
        notify_fn = NULL;
        watchdog_usec = 0;
}

uint64_t notify_watchdog_usec(void) {
        return watchdog_usec;
}

int notify_send(const char *fmt, ...) {
        char state[1024];
        va_list ap;
        int r;

        if (!notify_fn)
                return 0;
        va_start(ap, fmt);
        vsnprintf(state, sizeof state, fmt, ap);
        va_end(ap);
        r = notify_fn(0, state);
        if (r < 0 && !notify_failed_logged) {
                notify_failed_logged = true;
                log_errno(LOG_LEVEL_WARNING, r, "cannot notify the service manager, ignoring");
        }
        return r;
}
