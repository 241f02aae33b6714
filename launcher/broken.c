/* broken.c: what a start that cannot serve does under a service manager.
 *
 * An agent that does not import (a syntax error, a missing module, a crash while importing)
 * fails every start. Exiting at once would let the next connection start it again at once, and
 * a client retrying every 100 ms would reach systemd's start limit (StartLimitBurst=) and the
 * socket's trigger limit within seconds: the socket unit then fails, and stays failed after the
 * file is fixed, until someone runs `systemctl --user start NAME.socket` (measured: 553
 * connections refused in one run). So a broken start holds on instead: it says why in STATUS=,
 * accepts and closes the connections that arrive (each client sees its connection end at once,
 * not a hang), and watches the agent's files. It leaves when they change (the next connection
 * then starts a fresh launcher, which imports the new code), when nothing has arrived for the
 * idle timeout, or when told to stop. Whatever the load, that is one start per hold, never more
 * than one per --min-uptime. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activity.h"
#include "broken.h"
#include "exitcode.h"
#include "log.h"
#include "notify.h"
#include "signals.h"

#define WATCH_EVERY_MS 250

/* FNV-1a over the bytes given, continuing from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t n) {
        const unsigned char *p = data;

        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 1099511628211ULL;
        return h;
}

static uint64_t hash_stat(uint64_t h, const char *name, const struct stat *st) {
        const long long v[] = { (long long)st->st_dev, (long long)st->st_ino, (long long)st->st_size,
                                (long long)st->st_mtime, (long long)st->st_ctime, (long long)st->st_mode };

        h = fnv(h, name, strlen(name) + 1);
        return fnv(h, v, sizeof v);
}

/* What the agent's import depends on that a user edits: the agent file (or its absence), and
 * the Python files and package directories beside it. Any change gives another value. */
static uint64_t files_signature(const char *agent_path) {
        char dir[PATH_MAX];
        uint64_t h = 14695981039346656037ULL;
        struct stat st;
        struct dirent *e;
        char *slash;
        DIR *d;

        if (stat(agent_path, &st) == 0)
                h = hash_stat(h, agent_path, &st);
        snprintf(dir, sizeof dir, "%s", agent_path);
        slash = strrchr(dir, '/');
        if (!slash)
                return h;
        *slash = '\0';
        if (!(d = opendir(*dir ? dir : "/")))
                return h;
        while ((e = readdir(d))) {
                size_t len = strlen(e->d_name);
                bool py = len > 3 && strcmp(e->d_name + len - 3, ".py") == 0;
                if (e->d_name[0] == '.' || (!py && e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
                        continue;
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (py || S_ISDIR(st.st_mode)))
                        h = hash_stat(h, e->d_name, &st);
        }
        closedir(d);
        return h;
}

/* Accepts and closes what waits on each listening socket; returns how many. */
static unsigned close_waiting(struct listener_set *set) {
        unsigned n = 0;
        int fd;

        for (size_t i = 0; i < set->n; i++)
                if (set->v[i].info.role == SOCK_ROLE_LISTENING)
                        while (n < 10000 && (fd = accept(set->v[i].fd, NULL, NULL)) >= 0) {
                                close(fd);
                                n++;
                        }
        return n;
}

static bool can_hold(const struct listener_set *set) {
        for (size_t i = 0; i < set->n; i++)
                if (set->v[i].info.role == SOCK_ROLE_LISTENING)
                        return true;
        return false;
}

static void make_nonblocking(struct listener_set *set) {
        for (size_t i = 0; i < set->n; i++) {
                int fl = fcntl(set->v[i].fd, F_GETFL);
                if (fl >= 0)
                        (void)fcntl(set->v[i].fd, F_SETFL, fl | O_NONBLOCK);
        }
}

/* READY=1 with the first: the start is over, and a Type=notify service that never says so is
 * killed when TimeoutStartSec= runs out, and counted as a failed start. */
static void say_status(const char *why, int code, const char *agent_path, unsigned long long closed, bool first) {
        const char *base = strrchr(agent_path, '/');

        notify_send("%sSTATUS=Failed: %s (exit %d); %llu connection(s) closed while waiting for %s to change",
                    first ? "READY=1\n" : "", why, code, closed, base ? base + 1 : agent_path);
}

/* Waits up to WATCH_EVERY_MS for a connection or a signal. Returns the signal number that ends
 * the hold, 0 otherwise. */
static int wait_a_while(struct listener_set *set) {
        struct pollfd p[17];
        nfds_t n = 0;
        int sig;

        p[n++] = (struct pollfd){ .fd = signals_fd(), .events = POLLIN };
        for (size_t i = 0; i < set->n && n < 17; i++)
                if (set->v[i].info.role == SOCK_ROLE_LISTENING)
                        p[n++] = (struct pollfd){ .fd = set->v[i].fd, .events = POLLIN };
        (void)poll(p, n, WATCH_EVERY_MS);
        while ((sig = signals_next()) >= 0)
                if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
                        return sig;
        return 0;
}

int broken_hold(struct listener_set *set, const char *agent_path, int code, const char *why,
                const struct broken_config *cfg) {
        uint64_t start = activity_now(), last = start, sig0 = files_signature(agent_path);
        unsigned long long closed = 0, shown = 0;
        int sig;

        if (!can_hold(set))
                return code;
        make_nonblocking(set);
        log_error("the agent cannot run (%s); holding the socket and closing connections until %s changes", why,
                  agent_path);
        closed += close_waiting(set);
        say_status(why, code, agent_path, closed, true);
        for (;;) {
                uint64_t now;
                unsigned n;

                sig = wait_a_while(set);
                n = close_waiting(set);
                now = activity_now();
                closed += n;
                if (n)
                        last = now;
                if (closed != shown) {
                        say_status(why, code, agent_path, closed, false);
                        shown = closed;
                }
                if (sig == SIGTERM || sig == SIGINT)
                        break;
                if (now < start + cfg->min_uptime_usec)
                        continue; /* the units' start limit counts on this */
                if (sig == SIGHUP || files_signature(agent_path) != sig0) {
                        log_info("%s; exiting, so that the next connection starts the agent afresh",
                                 sig == SIGHUP ? "SIGHUP" : "the agent's files changed");
                        return EXIT_OK;
                }
                if (cfg->idle_usec && now >= last + cfg->idle_usec)
                        break;
        }
        log_info("closed %llu connection(s) while the agent could not run; exiting %d", closed, code);
        return code;
}
