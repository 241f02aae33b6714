/* epoll_rot13: the benchmarks' practical limit: a single-threaded epoll server in C that
 * answers each line with its ROT13, as agent/Agent.py does (many lines per connection; a last
 * line without a newline is answered at EOF; a line over 64 KiB is refused with an error line).
 *
 *   epoll_rot13                    the sockets from systemd (LISTEN_FDS, sd_listen_fds)
 *   epoll_rot13 --listen ADDR      binds ADDR itself: unix:PATH or tcp:HOST:PORT
 *
 * SIGTERM and SIGINT arrive as a signalfd in the loop and end it with status 0. Exit codes as
 * pylaunchd's: 64 usage, 71 the system refused, 78 no usable socket.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#define EXIT_USAGE 64
#define EXIT_OSERR 71
#define EXIT_CONFIG 78
#define MAX_LINE (64 * 1024)
#define MAX_CONNS 4096
#define MAX_LISTENERS 16
#define BACKLOG 128
/* After EMFILE and friends, accepting pauses this long instead of spinning. */
#define ACCEPT_PAUSE_MS 100

enum kind { KIND_LISTENER, KIND_SIGNAL, KIND_CONN };

struct conn {
        enum kind kind; /* first: every epoll data.ptr points at an enum kind */
        int fd;
        bool eof;       /* the client closed its side: flush, then close */
        size_t inlen;
        char *out;      /* what the socket did not take yet */
        size_t outlen, outoff;
        char in[MAX_LINE];
};

struct listener {
        enum kind kind;
        int fd;
};

static int g_epoll = -1;
static size_t g_nconns;
static struct listener g_listeners[MAX_LISTENERS];
static size_t g_nlisteners;

static void rot13(char *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                unsigned char lower = c | 0x20;
                if (lower >= 'a' && lower <= 'z')
                        p[i] = (char)(lower <= 'm' ? c + 13 : c - 13);
        }
}

static void conn_close(struct conn *c) {
        close(c->fd); /* also removes it from the epoll set */
        free(c->out);
        free(c);
        g_nconns--;
}

static int conn_watch(struct conn *c, uint32_t events) {
        struct epoll_event ev = { .events = events, .data.ptr = c };
        return epoll_ctl(g_epoll, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

/* Send what is queued; 1 when all is out, 0 when the socket is full, < 0 on error. */
static int conn_flush(struct conn *c) {
        while (c->outoff < c->outlen) {
                ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                c->outoff += (size_t)n;
        }
        free(c->out);
        c->out = NULL;
        c->outlen = c->outoff = 0;
        return 1;
}

/* Answer buf[0..len): straight to the socket, the rest queued (the queue is empty here). */
static int conn_answer(struct conn *c, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        break;
                }
                buf += n;
                len -= (size_t)n;
        }
        if (len == 0)
                return 0;
        c->out = malloc(len);
        if (!c->out)
                return -ENOMEM;
        memcpy(c->out, buf, len);
        c->outlen = len;
        c->outoff = 0;
        return conn_watch(c, EPOLLOUT); /* stop reading until it is sent: bounded memory */
}

/* Readable: read what is there, answer complete lines. < 0: close the connection. */
static int conn_readable(struct conn *c) {
        for (;;) {
                if (c->inlen == sizeof c->in) {
                        static const char msg[] = "error: line longer than 65536 bytes\n";
                        (void)send(c->fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                        return -EMSGSIZE;
                }
                ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0) {
                        /* A last line without its newline is still answered, as Agent.py does. */
                        c->eof = true;
                        rot13(c->in, c->inlen);
                        int r = conn_answer(c, c->in, c->inlen);
                        c->inlen = 0;
                        if (r < 0)
                                return r;
                        return c->out ? 0 : -ECONNRESET;
                }
                size_t scan_from = c->inlen;
                c->inlen += (size_t)n;
                char *nl = memrchr(c->in + scan_from, '\n', c->inlen - scan_from);
                if (!nl)
                        continue;
                size_t end = (size_t)(nl - c->in) + 1;
                rot13(c->in, end);
                int r = conn_answer(c, c->in, end);
                memmove(c->in, c->in + end, c->inlen - end);
                c->inlen -= end;
                if (r < 0)
                        return r;
                if (c->out)
                        return 0; /* wait for EPOLLOUT before reading on */
                if ((size_t)n < sizeof c->in - scan_from)
                        return 0; /* a short read: the socket is most likely drained */
        }
}

static int conn_writable(struct conn *c) {
        int r = conn_flush(c);
        if (r <= 0)
                return r;
        if (c->eof)
                return -ECONNRESET; /* all answered: close */
        return conn_watch(c, EPOLLIN);
}

static void listeners_watch(bool on) {
        for (size_t i = 0; i < g_nlisteners; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &g_listeners[i] };
                (void)epoll_ctl(g_epoll, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, g_listeners[i].fd, &ev);
        }
}

/* Accept all that wait. Returns true when accepting must pause (out of fds or memory). */
static bool accept_all(struct listener *l) {
        for (;;) {
                if (g_nconns >= MAX_CONNS)
                        return true;
                int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                                continue;
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                                fprintf(stderr, "epoll_rot13: accept: %s, pausing\n", strerror(errno));
                                return true;
                        }
                        if (errno != EAGAIN)
                                fprintf(stderr, "epoll_rot13: accept: %s, ignoring\n", strerror(errno));
                        return false;
                }
                struct conn *c = malloc(sizeof *c);
                if (!c) {
                        close(fd);
                        return true;
                }
                c->kind = KIND_CONN;
                c->fd = fd;
                c->eof = false;
                c->inlen = 0;
                c->out = NULL;
                c->outlen = c->outoff = 0;
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                if (epoll_ctl(g_epoll, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        close(fd);
                        free(c);
                        continue;
                }
                g_nconns++;
        }
}

static int listen_on(const char *addr) {
        struct sockaddr_storage ss = { 0 };
        socklen_t len;
        int family;
        if (strncmp(addr, "unix:", 5) == 0) {
                struct sockaddr_un *un = (struct sockaddr_un *)&ss;
                size_t n = strlen(addr + 5);
                if (n == 0 || n >= sizeof un->sun_path)
                        return -EINVAL;
                un->sun_family = AF_UNIX;
                memcpy(un->sun_path, addr + 5, n + 1);
                len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
                family = AF_UNIX;
                (void)unlink(un->sun_path); /* a benchmark's own path: a stale file is ours */
        } else if (strncmp(addr, "tcp:", 4) == 0) {
                char host[256];
                const char *colon = strrchr(addr + 4, ':');
                if (!colon || (size_t)(colon - addr - 4) >= sizeof host)
                        return -EINVAL;
                memcpy(host, addr + 4, (size_t)(colon - addr - 4));
                host[colon - addr - 4] = '\0';
                struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
                if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
                        return -EINVAL;
                memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
                len = ai->ai_addrlen;
                family = ai->ai_family;
                freeaddrinfo(ai);
        } else {
                return -EINVAL;
        }
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        if (family != AF_UNIX)
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, BACKLOG) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int main(int argc, char **argv) {
        const char *listen_addr = NULL;
        if (argc == 3 && strcmp(argv[1], "--listen") == 0) {
                listen_addr = argv[2];
        } else if (argc != 1) {
                fprintf(stderr, "Usage: epoll_rot13 [--listen unix:PATH|tcp:HOST:PORT]\n"
                                "Without --listen, the sockets come from systemd (LISTEN_FDS).\n");
                return EXIT_USAGE;
        }

        if (listen_addr) {
                int fd = listen_on(listen_addr);
                if (fd < 0) {
                        fprintf(stderr, "epoll_rot13: cannot listen on %s: %s\n", listen_addr, strerror(-fd));
                        return fd == -EINVAL ? EXIT_USAGE : EXIT_OSERR;
                }
                g_listeners[g_nlisteners++] = (struct listener){ KIND_LISTENER, fd };
        } else {
                int n = sd_listen_fds(1);
                if (n <= 0) {
                        fprintf(stderr, "epoll_rot13: %s\n",
                                n < 0 ? strerror(-n) : "no sockets from systemd (LISTEN_FDS) and no --listen");
                        return n < 0 ? EXIT_CONFIG : EXIT_USAGE;
                }
                for (int i = 0; i < n && g_nlisteners < MAX_LISTENERS; i++) {
                        int fd = SD_LISTEN_FDS_START + i;
                        if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
                                fprintf(stderr, "epoll_rot13: fd %d is not a listening stream socket\n", fd);
                                return EXIT_CONFIG;
                        }
                        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
                        g_listeners[g_nlisteners++] = (struct listener){ KIND_LISTENER, fd };
                }
        }
        for (size_t i = 0; i < g_nlisteners; i++) {
                int fl = fcntl(g_listeners[i].fd, F_GETFL);
                if (fl < 0 || fcntl(g_listeners[i].fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                        fprintf(stderr, "epoll_rot13: fcntl: %s\n", strerror(errno));
                        return EXIT_OSERR;
                }
        }

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        signal(SIGPIPE, SIG_IGN);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                fprintf(stderr, "epoll_rot13: sigprocmask: %s\n", strerror(errno));
                return EXIT_OSERR;
        }
        static enum kind signal_kind = KIND_SIGNAL;
        int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        g_epoll = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &signal_kind };
        if (sfd < 0 || g_epoll < 0 || epoll_ctl(g_epoll, EPOLL_CTL_ADD, sfd, &sev) < 0) {
                fprintf(stderr, "epoll_rot13: cannot set up the loop: %s\n", strerror(errno));
                return EXIT_OSERR;
        }
        listeners_watch(true);

        bool paused = false;
        for (;;) {
                struct epoll_event evs[256];
                int n = epoll_wait(g_epoll, evs, 256, paused ? ACCEPT_PAUSE_MS : -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "epoll_rot13: epoll_wait: %s\n", strerror(errno));
                        return 1;
                }
                if (paused && g_nconns < MAX_CONNS) {
                        /* Try again after the pause (or as soon as a connection has gone). */
                        paused = false;
                        listeners_watch(true);
                }
                for (int i = 0; i < n; i++) {
                        enum kind *k = evs[i].data.ptr;
                        if (*k == KIND_SIGNAL)
                                return 0;
                        if (*k == KIND_LISTENER) {
                                if (!paused && accept_all((struct listener *)k)) {
                                        paused = true;
                                        listeners_watch(false);
                                }
                                continue;
                        }
                        struct conn *c = (struct conn *)k;
                        int r;
                        if (evs[i].events & EPOLLOUT)
                                r = conn_writable(c);
                        else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                                r = conn_readable(c);
                        else
                                r = 0;
                        if (r < 0)
                                conn_close(c);
                }
        }
}
