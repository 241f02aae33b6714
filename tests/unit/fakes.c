/* fakes.c: the scripted systemd, launchd and sd_notify of fakes.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "unit.h"

struct fake_systemd fake_systemd;
struct fake_launchd fake_launchd;
struct fake_notify fake_notify;

static int fake_listen_fds_with_names(int unset_environment, char ***ret_names) {
        fake_systemd.calls++;
        fake_systemd.unset_environment = unset_environment;
        if (unset_environment) {
                /* What libsystemd 252 unsets; LISTEN_PIDFDID is left for the caller, as there. */
                unsetenv("LISTEN_PID");
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_FDNAMES");
        }
        if (fake_systemd.ret > 0 && !fake_systemd.no_names) {
                char **v = calloc((size_t)fake_systemd.ret + 1, sizeof *v);

                ck_assert_ptr_nonnull(v);
                for (int i = 0; i < fake_systemd.ret; i++) {
                        v[i] = strdup(fake_systemd.names[i] ? fake_systemd.names[i] : "unknown");
                        ck_assert_ptr_nonnull(v[i]);
                }
                *ret_names = v;
        }
        return fake_systemd.ret;
}

static int fake_activate_socket(const char *name, int **ret_fds, size_t *ret_count) {
        if (fake_launchd.n_calls < sizeof fake_launchd.calls / sizeof fake_launchd.calls[0])
                fake_launchd.calls[fake_launchd.n_calls++] = name;
        for (size_t i = 0; i < fake_launchd.n; i++) {
                const struct fake_launchd_socket *s = &fake_launchd.sockets[i];
                int *fds;

                if (strcmp(s->name, name) != 0)
                        continue;
                if (s->err)
                        return s->err;
                fds = malloc((s->count ? s->count : 1) * sizeof *fds);
                ck_assert_ptr_nonnull(fds);
                memcpy(fds, s->fds, s->count * sizeof *fds);
                *ret_fds = fds;
                *ret_count = s->count;
                return 0;
        }
        return ENOENT;
}

static int fake_sd_notify(const struct notify_address *address, const char *state) {
        fake_notify.calls++;
        fake_notify.address = *address;
        snprintf(fake_notify.last, sizeof fake_notify.last, "%s", state);
        return fake_notify.ret;
}

const struct activation_ops fake_ops = {
        .listen_fds_with_names = fake_listen_fds_with_names,
        .activate_socket = fake_activate_socket,
        .notify = fake_sd_notify,
};
const struct activation_ops fake_ops_systemd = { .listen_fds_with_names = fake_listen_fds_with_names };
const struct activation_ops fake_ops_launchd = { .activate_socket = fake_activate_socket };
const struct activation_ops fake_ops_notify = { .notify = fake_sd_notify };

void fake_reset(void) {
        memset(&fake_systemd, 0, sizeof fake_systemd);
        memset(&fake_launchd, 0, sizeof fake_launchd);
        memset(&fake_notify, 0, sizeof fake_notify);
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        unsetenv("LISTEN_PIDFDID");
}
