/* notify.c: telling the service manager how we are, through the seam (so the unit tests can record
 * what would be sent). NOTIFY_SOCKET is read once and removed from the environment before Python
 * starts, as LISTEN_* are: the agent and its subprocesses never see it, so none of them can tell
 * systemd READY=1, STOPPING=1 or MAINPID= in the service's name. Whatever the way the sockets
 * came (socket activation, --listen, inetd style), a service started with NOTIFY_SOCKET
 * (Type=notify) is told. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "notify.h"
#include "parse.h"

static int (*notify_fn)(const struct notify_address *address, const char *state);
static struct notify_address notify_address;
static uint64_t watchdog_usec;
static bool notify_failed_logged;

void notify_init(const struct activation_ops *ops) {
        const char *pid = getenv("WATCHDOG_PID"), *usec = getenv("WATCHDOG_USEC");
        long long v = 0, p = 0;

        const char *socket = getenv("NOTIFY_SOCKET");
        int r;

        notify_fn = NULL;
        if (socket && ops->notify) {
                r = parse_notify_socket(socket, &notify_address);
                if (r < 0)
                        log_errno(LOG_LEVEL_WARNING, r, "NOTIFY_SOCKET=%s is not an address pylaunchd can send to; "
                                  "not notifying the service manager", socket);
                else
                        notify_fn = ops->notify;
        }
        unsetenv("NOTIFY_SOCKET");
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
        r = notify_fn(&notify_address, state);
        if (r < 0 && !notify_failed_logged) {
                notify_failed_logged = true;
                log_errno(LOG_LEVEL_WARNING, r, "cannot notify the service manager, ignoring");
        }
        return r;
}
