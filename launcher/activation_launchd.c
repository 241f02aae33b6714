/* activation_launchd.c: check in with launchd (launch_activate_socket), one call per Sockets key.
 * Compiled everywhere and driven through the seam; only launchd_apple.c touches <launch.h>.
 *
 * What launch_activate_socket() returns to a process launchd did not start (one run from
 * Terminal), or to the per-connection child of an inetdCompatibility job, is not documented by
 * Apple: ESRCH is what its header describes for "not managed by launchd", ENOENT for a name the
 * job has no socket for. So the plists pylaunchd renders say which way a process checks in
 * (--launchd, --inetd), and only a process started without either asks launchd on the chance:
 * then ESRCH and ENOENT mean "not for us" and the other ways are tried. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "activation.h"
#include "log.h"

static int add_fds(const char *name, int *fds, size_t count, struct listener_set *set) {
        int r = 0;
        size_t i;

        for (i = 0; i < count; i++) {
                struct sockinfo info;

                r = sockinfo_get(fds[i], &info);
                if (r < 0) {
                        log_errno(LOG_LEVEL_ERR, r, "fd %d of launchd socket '%s' is not a socket pylaunchd can serve",
                                  fds[i], name);
                        break;
                }
                r = listener_set_add(set, fds[i], name, &info);
                if (r < 0) {
                        log_errno(LOG_LEVEL_ERR, r, "cannot keep fd %d", fds[i]);
                        break;
                }
        }
        /* The fds not handed to the set would leak: close them. */
        for (; i < count; i++)
                close(fds[i]);
        return r;
}

/* Asked on the chance (no --launchd): a launchd that does not know us, or has no such socket
 * for us, is not an error, only a note for the message that says nothing could be served. */
static char note[320];

const char *activation_launchd_note(void) {
        return note;
}

int activation_launchd(const struct activation_ops *ops, const char *const *names, size_t n_names, bool strict,
                       struct listener_set *set) {
        int total = 0;

        if (!ops->activate_socket) {
                if (strict)
                        return log_errno(LOG_LEVEL_ERR, EAFNOSUPPORT,
                                         "--launchd: this pylaunchd was built without launchd (it is for macOS "
                                         "LaunchAgents); use a systemd socket unit or --listen here");
                return 0;
        }
        for (size_t k = 0; k < n_names; k++) {
                int *fds = NULL;
                size_t count = 0;
                int err = ops->activate_socket(names[k], &fds, &count);
                int r;

                switch (err) {
                case 0:
                        break;
                case ESRCH:
                        /* Not a launchd job at all: let the other check-ins have their turn. */
                        if (total == 0 && !strict)
                                return 0;
                        if (total == 0)
                                return log_errno(LOG_LEVEL_ERR, err,
                                                 "--launchd: launchd does not know this process; --launchd belongs "
                                                 "in a LaunchAgent plist's ProgramArguments (pylaunchd install "
                                                 "--target launchd writes one), not on a command line");
                        return log_errno(LOG_LEVEL_ERR, err, "launchd socket '%s': launchd no longer knows this job",
                                         names[k]);
                case ENOENT:
                        if (total == 0 && !strict) {
                                snprintf(note, sizeof note,
                                         "launchd has no socket named '%s' for this process (if it runs under launchd: "
                                         "add it to the plist's Sockets and --launchd to its ProgramArguments)",
                                         names[k]);
                                return 0;
                        }
                        return log_errno(LOG_LEVEL_ERR, err,
                                         "launchd has no socket named '%s' for this job: add it under the plist's "
                                         "Sockets dictionary, or pass --socket-name with a key the plist has",
                                         names[k]);
                case EALREADY:
                        return log_errno(LOG_LEVEL_ERR, err,
                                         "launchd socket '%s' was already checked in by this process: each "
                                         "Sockets key may be given once to --socket-name",
                                         names[k]);
                default:
                        return log_errno(LOG_LEVEL_ERR, err, "launch_activate_socket('%s') failed", names[k]);
                }
                r = add_fds(names[k], fds, count, set);
                free(fds);
                if (r < 0)
                        return r;
                total += (int)count;
        }
        return total;
}
