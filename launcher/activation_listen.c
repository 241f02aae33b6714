/* activation_listen.c: --listen, binding our own sockets when no service manager passed any. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "activation.h"
#include "log.h"
#include "safefile.h"

static char *absolute_path(const char *path) {
        char cwd[PATH_MAX], *out;

        if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
                return strdup(path);
        out = malloc(strlen(cwd) + strlen(path) + 2);
        if (out)
                sprintf(out, "%s/%s", cwd, path);
        return out;
}

/* The system's EPERM becomes EACCES: -EPERM is how this file says "unsafe path" (exit 77). */
static int os_error(int err) {
        return err == -EPERM ? -EACCES : err;
}

/* Why a --listen path is refused, logged once; returns -EPERM. */
static int refuse(const char *label, const char *why) {
        log_error("refusing --listen %s: %s", label, why);
        return -EPERM;
}

/* A socket file left by a process of ours that died is removed; a live one, another user's, or
 * any other file, is not. Whose it is comes first: safefile_check_socket_path. */
static int clear_stale_socket(const char *path, const char *label, uid_t owner, const struct sockaddr_un *sa,
                              socklen_t len) {
        char why[PATH_MAX + 256];
        int fd, r = safefile_check_socket_path(path, owner, why, sizeof why);

        if (r == -EPERM)
                return refuse(label, why);
        if (r == -EEXIST)
                return log_errno(LOG_LEVEL_ERR, EEXIST, "%s exists and is not a socket; remove it or choose another path",
                                 path);
        if (r < 0)
                return os_error(log_errno(LOG_LEVEL_ERR, r, "cannot listen on %s", label));
        if (r == 0)
                return 0;
        fd = socket_cloexec(AF_UNIX, SOCK_STREAM);
        if (fd < 0)
                return os_error(log_errno(LOG_LEVEL_ERR, errno, "socket()"));
        /* Non-blocking: a live server whose accept queue is full must read as "in use" (EAGAIN),
         * not leave us waiting for it forever. */
        (void)fcntl(fd, F_SETFL, O_NONBLOCK);
        r = connect(fd, (const struct sockaddr *)sa, len) == 0 ? 0 : -errno;
        close(fd);
        if (r == -EAGAIN || r == -EINPROGRESS)
                r = 0;
        if (r == 0)
                return log_errno(LOG_LEVEL_ERR, EADDRINUSE, "another process is serving %s; stop it first", path);
        if (r != -ECONNREFUSED)
                return os_error(log_errno(LOG_LEVEL_ERR, r, "cannot tell whether %s is in use", path));
        /* Ours, in a directory nobody else can change (or root's sticky one, where nobody else
         * may rename our file): still the socket just probed. */
        if (unlink(path) < 0 && errno != ENOENT)
                return os_error(log_errno(LOG_LEVEL_ERR, errno, "cannot remove stale socket %s", path));
        log_info("removed stale socket %s", path);
        return 0;
}

/* Remembers the file bind() made, so that dropping privileges hands over that file and no
 * other (safefile_chown_socket). */
static void remember_file(struct listener *l) {
        struct stat st;

        if (lstat(l->unlink_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
                l->file_dev = st.st_dev;
                l->file_ino = st.st_ino;
        }
}

static int listen_unix(const struct address *a, int backlog, const char *label, uid_t owner,
                       struct listener_set *set) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        bool abstract = a->path[0] == '@';
        size_t len = strlen(a->path);
        socklen_t salen;
        struct sockinfo info = { .family = AF_UNIX, .type = SOCK_STREAM, .role = SOCK_ROLE_LISTENING };
        mode_t old_umask;
        int fd, r;

        memcpy(sa.sun_path, a->path, len);
        if (abstract)
                sa.sun_path[0] = '\0'; /* Linux abstract namespace: no file, no stale state */
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (abstract ? 0 : 1));
        if (!abstract && (r = clear_stale_socket(a->path, label, owner, &sa, salen)) < 0)
                return r;
        fd = socket_cloexec(AF_UNIX, SOCK_STREAM);
        if (fd < 0)
                return os_error(log_errno(LOG_LEVEL_ERR, errno, "socket(AF_UNIX)"));
        /* The file is created 0600: a per-user agent answers only its own user. Nothing else runs
         * yet, so changing the process umask for the bind() is safe. bind() makes a new name or
         * fails (EADDRINUSE): it never follows a link put at the path. */
        old_umask = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, salen) < 0 ? -errno : 0;
        umask(old_umask);
        if (r == 0 && listen(fd, backlog) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return os_error(log_errno(LOG_LEVEL_ERR, r, "cannot listen on %s", label));
        }
        if ((r = listener_set_add(set, fd, label, &info)) < 0) {
                close(fd);
                return r;
        }
        /* Absolute, so an agent's os.chdir() cannot make the exit remove another file. */
        if (!abstract) {
                set->v[set->n - 1].unlink_path = absolute_path(a->path);
                if (set->v[set->n - 1].unlink_path)
                        remember_file(&set->v[set->n - 1]);
        }
        return 1;
}

static int listen_tcp(const struct address *a, int backlog, const char *label, struct listener_set *set) {
        struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
        struct addrinfo *res = NULL;
        char port[8];
        int n = 0, r;

        snprintf(port, sizeof port, "%u", (unsigned)a->port);
        r = getaddrinfo(a->host, port, &hints, &res);
        if (r != 0) {
                log_error("--listen %s: cannot resolve '%s': %s", label, a->host, gai_strerror(r));
                return -EINVAL;
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                struct sockinfo info = { .family = ai->ai_family, .type = SOCK_STREAM, .protocol = IPPROTO_TCP,
                                         .role = SOCK_ROLE_LISTENING };
                int one = 1, fd = socket_cloexec(ai->ai_family, SOCK_STREAM);

                if (fd < 0) {
                        r = log_errno(LOG_LEVEL_ERR, errno, "socket() for %s", label);
                        break;
                }
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                /* "localhost" gives 127.0.0.1 and ::1: each gets its own socket, so v6 stays v6. */
                if (ai->ai_family == AF_INET6)
                        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
                        r = log_errno(LOG_LEVEL_ERR, errno, "cannot listen on %s", label);
                        close(fd);
                        break;
                }
                if ((r = listener_set_add(set, fd, label, &info)) < 0) {
                        close(fd);
                        break;
                }
                n++;
        }
        freeaddrinfo(res);
        return r < 0 ? r : n;
}

/* fifo:PATH: a named pipe we create (or one left by an earlier run), removed at exit. Opened
 * read-write so it never reads end-of-file when the last writer goes. Whoever can write to it
 * sends the agent commands: an existing one must be ours and writable by nobody else, which
 * safefile_open_fifo checks on the opened fd. */
static int listen_fifo(const struct address *a, const char *label, uid_t owner, struct listener_set *set) {
        struct sockinfo info = { .role = SOCK_ROLE_FIFO };
        char why[PATH_MAX + 256];
        int fd = -1, r = safefile_open_fifo(a->path, owner, &fd, why, sizeof why);

        if (r == -EPERM)
                return refuse(label, why);
        if (r == -EEXIST)
                return log_errno(LOG_LEVEL_ERR, EEXIST, "%s exists and is not a FIFO; remove it or choose another path",
                                 a->path);
        if (r < 0)
                return os_error(log_errno(LOG_LEVEL_ERR, r, "cannot create or open FIFO %s", a->path));
        if ((r = listener_set_add(set, fd, label, &info)) < 0) {
                close(fd);
                return r;
        }
        set->v[set->n - 1].unlink_path = absolute_path(a->path);
        return 1;
}

int activation_listen(const struct address *addrs, size_t n, int backlog, uid_t owner, struct listener_set *set) {
        int total = 0;

        for (size_t i = 0; i < n; i++) {
                char label[512];
                int r;

                if (addrs[i].kind == ADDRESS_UNIX) {
                        snprintf(label, sizeof label, "unix:%s", addrs[i].path);
                        r = listen_unix(&addrs[i], backlog, label, owner, set);
                } else if (addrs[i].kind == ADDRESS_FIFO) {
                        snprintf(label, sizeof label, "fifo:%s", addrs[i].path);
                        r = listen_fifo(&addrs[i], label, owner, set);
                } else {
                        snprintf(label, sizeof label, strchr(addrs[i].host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u",
                                 addrs[i].host, (unsigned)addrs[i].port);
                        r = os_error(listen_tcp(&addrs[i], backlog, label, set));
                }
                if (r < 0)
                        return r;
                total += r;
        }
        return total;
}
