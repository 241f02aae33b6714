/* activation.h: the sockets pylaunchd serves and how it got them (check-in). All check-in happens
 * before Python starts; the service managers are reached through struct activation_ops, the
 * seam the unit tests script. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "options.h"
#include "sockinfo.h"

enum origin { ORIGIN_NONE, ORIGIN_SYSTEMD, ORIGIN_LAUNCHD, ORIGIN_INETD, ORIGIN_LISTEN };

struct listener {
        int fd;
        char *name;       /* FileDescriptorName=, the launchd Sockets key, or the address */
        struct sockinfo info;
        char *unlink_path; /* self-bound unix socket file to remove on exit; NULL otherwise */
        dev_t file_dev;    /* the socket file bind() made at unlink_path, for handing it to --user */
        ino_t file_ino;
};

struct listener_set {
        struct listener *v;
        size_t n;
        enum origin origin;
};

struct activation_ops {
        /* sd_listen_fds_with_names(): < 0 error, 0 not activated, > 0 fds from 3 on. */
        int (*listen_fds_with_names)(int unset_environment, char ***ret_names);
        /* launch_activate_socket(): 0 and a malloc'd array, or a positive errno as launchd does. */
        int (*activate_socket)(const char *name, int **ret_fds, size_t *ret_count);
        /* Sends an sd_notify(3) message to the address NOTIFY_SOCKET named: > 0 sent, < 0 error. */
        int (*notify)(const struct notify_address *address, const char *state);
};

/* The real service managers, for this platform (fields are NULL where there is none). */
extern const struct activation_ops activation_ops_real;

/* Each returns < 0 on error (already logged), 0 when this way does not apply, > 0 the number of
 * listeners appended to set. */
int activation_systemd(const struct activation_ops *ops, struct listener_set *set);
/* strict (--launchd): launchd is the only way, and every error is one. Otherwise asked on the
 * chance: ESRCH (not a launchd job) and ENOENT (no such socket) give 0, the latter with a note
 * for activation_explain_none(). */
int activation_launchd(const struct activation_ops *ops, const char *const *names, size_t n_names, bool strict,
                       struct listener_set *set);
const char *activation_launchd_note(void);
int activation_inetd(struct listener_set *set);
/* --listen: binds unix sockets and makes FIFOs only where owner (safefile_owner) or root alone
 * can change the name (safefile.h): -EPERM, logged, when a path is unsafe. */
int activation_listen(const struct address *addrs, size_t n, int backlog, uid_t owner, struct listener_set *set);

/* activation_checkin()'s answer when no way applies: nothing was logged, so that the caller can
 * first report a likelier mistake (a missing agent file), then activation_explain_none(). */
#define ACTIVATION_NONE (-1)

/* With --launchd, launchd alone; with --inetd, fd 0 alone. Otherwise tries systemd, then launchd
 * (not with --listen: an explicit --listen never depends on what launchd answers a process it
 * did not start), then --listen, then a socket on fd 0 (a connection, inetd style, or a
 * listening socket, inetd's "wait" mode). Returns an exit_code: EXIT_OK with set filled, the code
 * main() should exit with (logged), or ACTIVATION_NONE. */
int activation_checkin(const struct options *opts, const struct activation_ops *ops,
                       struct listener_set *set);
/* Logs that there is nothing to serve, and the three ways to run. */
void activation_explain_none(void);

int listener_set_add(struct listener_set *set, int fd, const char *name, const struct sockinfo *info);
/* After a failed start under a service manager: accepts and closes the connections already
 * queued on the listening sockets, so the socket does not start the service again at once and
 * again (a restart loop). Returns how many were closed. */
size_t listener_set_drain(struct listener_set *set);
/* At the start of a stop: removes the socket and FIFO files we created, so no new client finds
 * them while the queued ones are served (and the exit no longer removes them, in case another
 * instance has bound the path meanwhile). */
void listener_set_unlink(struct listener_set *set);
/* Closes the fds, removes self-bound socket files, frees everything. */
void listener_set_free(struct listener_set *set);
const char *origin_name(enum origin origin);
