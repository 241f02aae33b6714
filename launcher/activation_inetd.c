/* activation_inetd.c: started with a socket on fd 0. A connected one (launchd
 * inetdCompatibility, inetd "nowait", systemd-socket-activate --inetd --accept): one
 * conversation, then exit. A listening one (inetd "wait" mode, systemd-socket-activate --inetd
 * without --accept, which execs us on the first connection): served like any listener, until
 * stopped; nothing would start us again, so no idle exit. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation.h"
#include "log.h"

static bool same_file(int a, int b) {
        struct stat sa, sb;
        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int activation_inetd(struct listener_set *set) {
        struct sockinfo info;
        int fd, null, r;

        if (sockinfo_get(STDIN_FILENO, &info) < 0 ||
            (info.role != SOCK_ROLE_CONNECTED && info.role != SOCK_ROLE_LISTENING))
                return 0;
        /* The connection moves off fd 0, and any of 0-2 that is the socket points at /dev/null:
         * a stray print() must not write into the client's protocol stream. */
        fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot duplicate the connection on fd 0");
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0) {
                close(fd);
                return log_errno(LOG_LEVEL_ERR, errno, "cannot open /dev/null");
        }
        for (int i = STDERR_FILENO; i >= STDIN_FILENO; i--)
                if (same_file(i, fd))
                        (void)dup2(null, i);
        close(null);
        if ((r = listener_set_add(set, fd, info.role == SOCK_ROLE_CONNECTED ? "connection" : "stdin", &info)) < 0) {
                close(fd);
                return r;
        }
        return 1;
}
