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

static int socket_cloexec(int family, int type) {
#ifdef SOCK_CLOEXEC
        return socket(family, type | SOCK_CLOEXEC, 0);
#else
        int fd = socket(family, type, 0);
        if (fd >= 0)
                (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        return fd;
#endif
}

static char *absolute_path(const char *path) {
        char cwd[PATH_MAX], *out;

        if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
                return strdup(path);
        out = malloc(strlen(cwd) + strlen(path) + 2);
        if (out)
                sprintf(out, "%s/%s", cwd, path);
        return out;
}

/* A socket file left by a process that died is removed; a live one, or any other file, is not. */
static int clear_stale_socket(const char *path, const struct sockaddr_un *sa, socklen_t len) {
        struct stat st;
        int fd, r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : log_errno(LOG_LEVEL_ERR, errno, "cannot stat %s", path);
        if (!S_ISSOCK(st.st_mode))
                return log_errno(LOG_LEVEL_ERR, EEXIST, "%s exists and is not a socket; remove it or choose another path",
                                 path);
        fd = socket_cloexec(AF_UNIX, SOCK_STREAM);
        if (fd < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "socket()");
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
                return log_errno(LOG_LEVEL_ERR, r, "cannot tell whether %s is in use", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot remove stale socket %s", path);
        log_info("removed stale socket %s", path);
        return 0;
}

static int listen_unix(const struct address *a, int backlog, const char *label, struct listener_set *set) {
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
        if (!abstract && (r = clear_stale_socket(a->path, &sa, salen)) < 0)
                return r;
        fd = socket_cloexec(AF_UNIX, SOCK_STREAM);
        if (fd < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "socket(AF_UNIX)");
        /* The file is created 0600: a per-user agent answers only its own user. Nothing else runs
         * yet, so changing the process umask for the bind() is safe. */
        old_umask = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, salen) < 0 ? -errno : 0;
        umask(old_umask);
        if (r == 0 && listen(fd, backlog) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return log_errno(LOG_LEVEL_ERR, r, "cannot listen on %s", label);
        }
        if ((r = listener_set_add(set, fd, label, &info)) < 0) {
                close(fd);
                return r;
        }
        /* Absolute, so an agent's os.chdir() cannot make the exit remove another file. */
        if (!abstract)
                set->v[set->n - 1].unlink_path = absolute_path(a->path);
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
 * read-write so it never reads end-of-file when the last writer goes. */
static int listen_fifo(const struct address *a, const char *label, struct listener_set *set) {
        struct sockinfo info = { .role = SOCK_ROLE_FIFO };
        struct stat st;
        int fd, r;

        if (lstat(a->path, &st) == 0) {
                if (!S_ISFIFO(st.st_mode))
                        return log_errno(LOG_LEVEL_ERR, EEXIST, "%s exists and is not a FIFO; remove it or choose another path",
                                         a->path);
        } else if (errno != ENOENT || mkfifo(a->path, 0600) < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot create FIFO %s", a->path);
        fd = open(a->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot open FIFO %s", a->path);
        if ((r = listener_set_add(set, fd, label, &info)) < 0) {
                close(fd);
                return r;
        }
        set->v[set->n - 1].unlink_path = absolute_path(a->path);
        return 1;
}

int activation_listen(const struct address *addrs, size_t n, int backlog, struct listener_set *set) {
        int total = 0;

        for (size_t i = 0; i < n; i++) {
                char label[512];
                int r;

                if (addrs[i].kind == ADDRESS_UNIX) {
                        snprintf(label, sizeof label, "unix:%s", addrs[i].path);
                        r = listen_unix(&addrs[i], backlog, label, set);
                } else if (addrs[i].kind == ADDRESS_FIFO) {
                        snprintf(label, sizeof label, "fifo:%s", addrs[i].path);
                        r = listen_fifo(&addrs[i], label, set);
                } else {
                        snprintf(label, sizeof label, strchr(addrs[i].host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u",
                                 addrs[i].host, (unsigned)addrs[i].port);
                        r = listen_tcp(&addrs[i], backlog, label, set);
                }
                if (r < 0)
                        return r;
                total += r;
        }
        return total;
}
