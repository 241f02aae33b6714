/* peercred.c: SO_PEERCRED on Linux; getpeereid() and LOCAL_PEERPID on macOS and the BSDs. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/ucred.h>
#endif

#include "peercred.h"

int peercred_get(int fd, struct peercred *ret) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;

        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return -errno;
        if (ss.ss_family != AF_UNIX)
                return -EAFNOSUPPORT;
        return peercred_get_unix(fd, ret);
}

int peercred_get_unix(int fd, struct peercred *ret) {
#ifdef SO_PEERCRED
        struct ucred uc;
        socklen_t len = sizeof uc;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        *ret = (struct peercred){ .pid = uc.pid, .uid = uc.uid, .gid = uc.gid };
        return 0;
#else
        struct peercred pc = {};

        if (getpeereid(fd, &pc.uid, &pc.gid) < 0)
                return -errno;
#ifdef LOCAL_PEERPID
        socklen_t len = sizeof pc.pid;
        if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pc.pid, &len) < 0)
                pc.pid = 0; /* the pid is a courtesy; uid and gid are what access depends on */
#endif
        *ret = pc;
        return 0;
#endif
}
