/* sockinfo.c: find out what an inherited fd is before trusting it (family, type, role). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sockinfo.h"

static int getsockopt_int(int fd, int opt, int *ret) {
        socklen_t len = sizeof *ret;
        return getsockopt(fd, SOL_SOCKET, opt, ret, &len) < 0 ? -errno : 0;
}

int sockinfo_get(int fd, struct sockinfo *ret) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        struct sockinfo info = {};
        struct stat st;
        int listening = 0, r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISFIFO(st.st_mode)) {
                info.role = SOCK_ROLE_FIFO;
                *ret = info;
                return 0;
        }
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        /* getsockname, not SO_DOMAIN: the same call answers on Linux and on macOS. */
        memset(&ss, 0, sizeof ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
                return -errno;
        info.family = ss.ss_family;
        if (info.family != AF_UNIX && info.family != AF_INET && info.family != AF_INET6)
                return -EPROTONOSUPPORT;
        if ((r = getsockopt_int(fd, SO_TYPE, &info.type)) < 0)
                return r;
#ifdef SO_PROTOCOL
        if ((r = getsockopt_int(fd, SO_PROTOCOL, &info.protocol)) < 0)
                return r;
#endif
        switch (info.type) {
        case SOCK_DGRAM:
                info.role = SOCK_ROLE_DATAGRAM;
                break;
        case SOCK_STREAM:
        case SOCK_SEQPACKET:
                if ((r = getsockopt_int(fd, SO_ACCEPTCONN, &listening)) < 0)
                        return r;
                if (listening)
                        info.role = SOCK_ROLE_LISTENING;
                else {
                        /* Not listening: serve it only if a peer is really there (inetd style). */
                        sslen = sizeof ss;
                        if (getpeername(fd, (struct sockaddr *)&ss, &sslen) < 0)
                                return -errno;
                        info.role = SOCK_ROLE_CONNECTED;
                }
                break;
        default:
                return -EPROTONOSUPPORT;
        }
        *ret = info;
        return 0;
}

const char *sock_role_name(enum sock_role role) {
        switch (role) {
        case SOCK_ROLE_LISTENING:
                return "listening";
        case SOCK_ROLE_CONNECTED:
                return "connected";
        case SOCK_ROLE_DATAGRAM:
                return "datagram";
        case SOCK_ROLE_FIFO:
                return "fifo";
        }
        return "unknown";
}

const char *sock_family_name(int family) {
        switch (family) {
        case AF_UNIX:
                return "unix";
        case AF_INET:
                return "ipv4";
        case AF_INET6:
                return "ipv6";
        case 0:
                return "fifo";
        }
        return "unknown";
}

int socket_cloexec(int family, int type) {
#ifdef SOCK_CLOEXEC
        return socket(family, type | SOCK_CLOEXEC, 0);
#else
        int fd = socket(family, type, 0);
        if (fd >= 0)
                (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        return fd;
#endif
}
