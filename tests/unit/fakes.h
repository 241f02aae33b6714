/* fakes.h: scripted service managers behind struct activation_ops, for the check-in tests. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "activation.h"

/* sd_listen_fds_with_names(): returns ret; when ret > 0 hands out names[0..ret-1] in a fresh
 * strv as libsystemd does (or NULL when no_names). Records how it was called. */
struct fake_systemd {
        int ret;
        const char *names[8];
        bool no_names;
        int calls;
        int unset_environment;
};

/* launch_activate_socket(): per Sockets key, an errno or the fds, in a malloc'd array as launchd
 * gives it. A key not in the script gets ENOENT, as from launchd. Records the keys asked for. */
struct fake_launchd_socket {
        const char *name;
        int err;
        int fds[4];
        size_t count;
};
struct fake_launchd {
        struct fake_launchd_socket sockets[4];
        size_t n;
        const char *calls[8];
        size_t n_calls;
};

/* The notify sender: returns ret, keeps the last state sent and the address it went to. */
struct fake_notify {
        int ret;
        int calls;
        struct notify_address address;
        char last[2048];
};

extern struct fake_systemd fake_systemd;
extern struct fake_notify fake_notify;
extern struct fake_launchd fake_launchd;
/* All the fakes; fake_ops_systemd, fake_ops_launchd and fake_ops_notify have one each. */
extern const struct activation_ops fake_ops, fake_ops_systemd, fake_ops_launchd, fake_ops_notify;

/* Clears the scripts and the LISTEN_* environment. */
void fake_reset(void);
