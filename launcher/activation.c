/* activation.c: decides how this process got its sockets, and keeps the set of listeners. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "activation.h"
#include "exitcode.h"
#include "log.h"
#include "safefile.h"

const char *origin_name(enum origin origin) {
        switch (origin) {
        case ORIGIN_SYSTEMD:
                return "systemd";
        case ORIGIN_LAUNCHD:
                return "launchd";
        case ORIGIN_INETD:
                return "inetd";
        case ORIGIN_LISTEN:
                return "listen";
        case ORIGIN_NONE:
                break;
        }
        return "none";
}

int listener_set_add(struct listener_set *set, int fd, const char *name, const struct sockinfo *info) {
        struct listener *v;
        char *copy = strdup(name ? name : "unknown");

        if (!copy)
                return -ENOMEM;
        v = realloc(set->v, (set->n + 1) * sizeof *v);
        if (!v) {
                free(copy);
                return -ENOMEM;
        }
        set->v = v;
        set->v[set->n++] = (struct listener){ .fd = fd, .name = copy, .info = *info };
        return 0;
}

size_t listener_set_drain(struct listener_set *set) {
        size_t n = 0;

        for (size_t i = 0; i < set->n; i++) {
                struct listener *l = &set->v[i];
                int fl, fd;

                if (l->fd < 0 || l->info.role != SOCK_ROLE_LISTENING)
                        continue;
                fl = fcntl(l->fd, F_GETFL);
                if (fl < 0 || fcntl(l->fd, F_SETFL, fl | O_NONBLOCK) < 0)
                        continue;
                /* Bounded: a flood must not keep a failed start alive. */
                while (n < 10000 && (fd = accept(l->fd, NULL, NULL)) >= 0) {
                        close(fd);
                        n++;
                }
        }
        return n;
}

void listener_set_unlink(struct listener_set *set) {
        for (size_t i = 0; i < set->n; i++) {
                struct listener *l = &set->v[i];
                if (l->unlink_path) {
                        (void)unlink(l->unlink_path);
                        free(l->unlink_path);
                        l->unlink_path = NULL;
                }
        }
}

void listener_set_free(struct listener_set *set) {
        for (size_t i = 0; i < set->n; i++) {
                struct listener *l = &set->v[i];
                if (l->fd >= 0)
                        close(l->fd);
                /* Only a socket file we created ourselves is ever removed (never an inherited one). */
                if (l->unlink_path)
                        (void)unlink(l->unlink_path);
                free(l->unlink_path);
                free(l->name);
        }
        free(set->v);
        *set = (struct listener_set){};
}

void activation_explain_none(void) {
        const char *note = activation_launchd_note();

        log_error("no sockets to serve: this process was not socket-activated and no --listen was given%s%s.\n"
                  "Run it in one of three ways:\n"
                  "  systemd:  systemd-socket-activate -l /run/user/$UID/agent.sock pylaunchd AGENT.py\n"
                  "            (or a .socket unit that starts a service running pylaunchd AGENT.py)\n"
                  "  launchd:  a LaunchAgent plist whose Sockets dictionary has a 'Listeners' entry, and\n"
                  "            pylaunchd --launchd AGENT.py in its ProgramArguments (pylaunchd install)\n"
                  "  directly: pylaunchd --listen unix:/tmp/agent.sock AGENT.py",
                  *note ? "; " : "", note);
}

static void warn_listen_ignored(const struct options *opts, enum origin origin) {
        if (opts->n_listen > 0)
                log_warning("--listen ignored: %s already passed the sockets to serve", origin_name(origin));
}

static int activation_checkin_one(const struct options *opts, const struct activation_ops *ops,
                                  struct listener_set *set);

/* What every listener needs, however it came: a pipe that can never deliver is refused (polled,
 * it would read end-of-file in a busy loop), and a unix datagram socket asks the kernel for each
 * sender's credentials, which the owner-only policy checks (access.c). Returns an exit code. */
static int prepare_listeners(struct listener_set *set) {
        for (size_t i = 0; i < set->n; i++) {
                struct listener *l = &set->v[i];
                struct pollfd p = { .fd = l->fd, .events = POLLIN };
                int r;

                if (l->info.role == SOCK_ROLE_FIFO && poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) &&
                    !(p.revents & POLLIN)) {
                        log_error("'%s' (fd %d) is a pipe whose writers are all gone: it can never deliver. Pass a "
                                  "FIFO that stays open for writing (ListenFIFO= and --listen fifo: do)",
                                  l->name, l->fd);
                        return EXIT_ACTIVATION;
                }
                if (l->info.role == SOCK_ROLE_DATAGRAM && (r = access_prepare_datagram(l->fd, l->info.family)) < 0) {
                        log_errno(LOG_LEVEL_ERR, r, "cannot ask for the senders' credentials on '%s'", l->name);
                        return EXIT_ACTIVATION;
                }
        }
        return EXIT_OK;
}

int activation_checkin(const struct options *opts, const struct activation_ops *ops,
                       struct listener_set *set) {
        int code = activation_checkin_one(opts, ops, set);

        return code == EXIT_OK ? prepare_listeners(set) : code;
}

/* --launchd or --inetd: the plist (or inetd.conf) says how this process gets its socket, so
 * nothing else is tried, and nothing rests on what launchd answers a process it did not start. */
static int checkin_explicit(const struct options *opts, const struct activation_ops *ops, struct listener_set *set) {
        int r;

        if (opts->checkin == CHECKIN_LAUNCHD) {
                r = activation_launchd(ops, opts->socket_names, opts->n_socket_names, true, set);
                if (r < 0)
                        return EXIT_ACTIVATION;
                if (r == 0) {
                        log_error("--launchd: launchd passed no socket for %s; the plist's Sockets needs an entry "
                                  "of that name", opts->socket_names[0]);
                        return EXIT_ACTIVATION;
                }
                set->origin = ORIGIN_LAUNCHD;
                return EXIT_OK;
        }
        r = activation_inetd(set);
        if (r < 0)
                return EXIT_ACTIVATION;
        if (r == 0) {
                log_error("--inetd: fd 0 is not a socket; --inetd is for a process inetd or launchd's "
                          "inetdCompatibility starts with the connection on standard input");
                return EXIT_ACTIVATION;
        }
        set->origin = ORIGIN_INETD;
        return EXIT_OK;
}

static int activation_checkin_one(const struct options *opts, const struct activation_ops *ops,
                                  struct listener_set *set) {
        int r;

        *set = (struct listener_set){};
        if (opts->checkin != CHECKIN_AUTO)
                return checkin_explicit(opts, ops, set);
        r = activation_systemd(ops, set);
        if (r < 0)
                return EXIT_ACTIVATION;
        if (r > 0) {
                set->origin = ORIGIN_SYSTEMD;
                warn_listen_ignored(opts, set->origin);
                return EXIT_OK;
        }
        r = opts->n_listen ? 0 : activation_launchd(ops, opts->socket_names, opts->n_socket_names, false, set);
        if (r < 0)
                return EXIT_ACTIVATION;
        if (r > 0) {
                set->origin = ORIGIN_LAUNCHD;
                warn_listen_ignored(opts, set->origin);
                return EXIT_OK;
        }
        if (opts->n_listen > 0) {
                r = activation_listen(opts->listen, opts->n_listen, opts->backlog, safefile_owner(opts->user), set);
                if (r < 0)
                        return r == -EINVAL ? EXIT_USAGE : r == -EPERM ? EXIT_AGENT_UNSAFE : EXIT_OS;
                set->origin = ORIGIN_LISTEN;
                return EXIT_OK;
        }
        r = activation_inetd(set);
        if (r < 0)
                return EXIT_ACTIVATION;
        if (r > 0) {
                set->origin = ORIGIN_INETD;
                return EXIT_OK;
        }
        return ACTIVATION_NONE;
}
