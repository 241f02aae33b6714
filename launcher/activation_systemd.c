/* activation_systemd.c: check in with systemd's socket activation (sd_listen_fds_with_names). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "log.h"
#include "parse.h"

#define SD_LISTEN_FDS_START 3

static const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);
        return v ? v : fallback;
}

int activation_systemd(const struct activation_ops *ops, struct listener_set *set) {
        char fds_env[64], pid_env[64], names_env[256];
        char **names = NULL;
        int n, r = 0;

        if (!ops->listen_fds_with_names)
                return 0;
        /* Kept for the message: the call below unsets them, so the agent's children never think
         * the sockets are theirs. */
        snprintf(fds_env, sizeof fds_env, "%s", env_or("LISTEN_FDS", "(unset)"));
        snprintf(pid_env, sizeof pid_env, "%s", env_or("LISTEN_PID", "(unset)"));
        snprintf(names_env, sizeof names_env, "%s", env_or("LISTEN_FDNAMES", "(unset)"));
        n = ops->listen_fds_with_names(1, &names);
        /* systemd 256+ also sets LISTEN_PIDFDID; libsystemd 252 (-DPYLAUNCHD_LIBSYSTEMD=ON) leaves it. */
        unsetenv("LISTEN_PIDFDID");
        if (n < 0)
                return log_errno(LOG_LEVEL_ERR, n,
                                 "socket activation environment is not valid (LISTEN_FDS=%s LISTEN_PID=%s "
                                 "LISTEN_FDNAMES=%s); it must come from systemd or systemd-socket-activate",
                                 fds_env, pid_env, names_env);
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "unknown";
                struct sockinfo info;

                r = sockinfo_get(fd, &info);
                if (r < 0) {
                        log_errno(LOG_LEVEL_ERR, r,
                                  "fd %d ('%s') from systemd is not a socket or FIFO pylaunchd can serve; "
                                  "check the .socket unit's Listen*= lines",
                                  fd, name);
                        break;
                }
                r = listener_set_add(set, fd, name, &info);
                if (r < 0) {
                        log_errno(LOG_LEVEL_ERR, r, "cannot keep fd %d", fd);
                        break;
                }
        }
        parse_strv_free(names);
        return r < 0 ? r : n;
}
