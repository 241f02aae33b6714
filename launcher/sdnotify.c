/* sdnotify.c: the sd_notify(3) protocol, spoken here rather than through libsystemd. It is
 * small and documented as stable: one datagram of newline-separated KEY=VALUE fields to the
 * address NOTIFY_SOCKET named (notify.c reads and unsets it, parse.c parses it). Speaking it
 * here is what lets the variable be removed before the agent starts, so neither the agent nor
 * its children can send READY=1 or STOPPING=1 in the service's name. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sdnotify.h"
#include "sockinfo.h"

/* One datagram socket, opened on first use and kept: sendto() on it is safe from any thread. */
static pthread_mutex_t dgram_lock = PTHREAD_MUTEX_INITIALIZER;
static int dgram_fd = -1;

static int unix_socket(void) {
        int fd;

        pthread_mutex_lock(&dgram_lock);
        if (dgram_fd < 0)
                dgram_fd = socket_cloexec(AF_UNIX, SOCK_DGRAM);
        fd = dgram_fd;
        pthread_mutex_unlock(&dgram_lock);
        return fd < 0 ? -errno : fd;
}

static int send_all(int fd, const struct notify_address *a, const char *state, bool connected) {
        size_t len = strlen(state);
        ssize_t n;

        do
                n = connected ? send(fd, state, len, MSG_NOSIGNAL)
                              : sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&a->ss, a->len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 1 : -EIO;
}

/* vsock (a service manager outside a VM): datagrams where the hypervisor has them, else a
 * connection per message, ended by our shutdown and the manager's EOF, as libsystemd does. */
static int send_vsock(const struct notify_address *a, const char *state) {
        int types[] = { SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM }, fd = -1, type = a->type, r;
        char c;

        for (size_t i = 0; fd < 0 && i < sizeof types / sizeof types[0]; i++) {
                if (a->type && types[i] != a->type)
                        continue;
                type = types[i];
                fd = socket_cloexec(a->ss.ss_family, type);
                if (fd < 0 && errno != ENODEV && errno != EOPNOTSUPP && errno != ESOCKTNOSUPPORT &&
                    errno != EPROTONOSUPPORT)
                        return -errno;
        }
        if (fd < 0)
                return -errno;
        if (type != SOCK_DGRAM && connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        r = send_all(fd, a, state, type != SOCK_DGRAM);
        if (r > 0 && type != SOCK_DGRAM) {
                if (shutdown(fd, SHUT_WR) < 0 || recv(fd, &c, 1, 0) != 0)
                        r = -EPROTO;
        }
        close(fd);
        return r;
}

int sdnotify_send(const struct notify_address *a, const char *state) {
        int fd;

        if (!a || !state)
                return -EINVAL;
        if (a->ss.ss_family != AF_UNIX)
                return send_vsock(a, state);
        fd = unix_socket();
        if (fd < 0)
                return fd;
        return send_all(fd, a, state, false);
}
