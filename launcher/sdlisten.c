/* sdlisten.c: systemd's socket-activation protocol, spoken in-tree (sd_listen_fds(3)).
 *
 * Why not libsystemd: linking it maps six more libraries (libgcrypt, liblzma, libzstd, liblz4,
 * libcap, libgpg-error) into every start, for two environment variables and a datagram;
 * measured in launcher/README.md. The protocol is documented and stable: LISTEN_PID (and,
 * since systemd 256, LISTEN_PIDFDID) names the process, LISTEN_FDS the count of fds from 3 on,
 * LISTEN_FDNAMES their names. The unit tests hold this against libsystemd itself, which the
 * CMake option PYLAUNCHD_LIBSYSTEMD links instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "parse.h"
#include "sdlisten.h"

#define SD_LISTEN_FDS_START 3
#define PIDFS_MAGIC 0x50494446 /* linux/magic.h, Linux 6.9 */

uint64_t sdlisten_self_pidfdid(void) {
#ifdef SYS_pidfd_open
        struct statfs sfs;
        struct stat st;
        uint64_t id = 0;
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

        if (fd < 0)
                return 0;
        /* Before pidfs every pidfd was the one anonymous inode: no id at all. */
        if (fstatfs(fd, &sfs) == 0 && sfs.f_type == PIDFS_MAGIC && fstat(fd, &st) == 0 && sizeof st.st_ino >= 8)
                id = (uint64_t)st.st_ino;
        close(fd);
        return id;
#else
        return 0;
#endif
}

static void unset_listen(void) {
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_PIDFDID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
}

int sdlisten_fds_with_names(int unset_environment, char ***ret_names) {
        const struct listen_env env = {
                .pid = getenv("LISTEN_PID"),
                .pidfdid = getenv("LISTEN_PIDFDID"),
                .fds = getenv("LISTEN_FDS"),
                .fdnames = getenv("LISTEN_FDNAMES"),
        };
        char **names = NULL;
        int n;

        /* The pidfd costs a syscall or three: only asked when the manager gave an id. */
        n = parse_listen_env(&env, getpid(), env.pidfdid ? sdlisten_self_pidfdid() : 0);
        /* Close-on-exec first, as libsystemd: the fds are ours even if their names are wrong, and
         * no child may inherit them. It also proves they are open before n names are made. */
        for (int fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++) {
                int flags = fcntl(fd, F_GETFD);

                if (flags < 0 || (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0))
                        n = -errno;
        }
        if (n > 0) {
                int r = parse_listen_fdnames(env.fdnames, n, &names);
                if (r < 0)
                        n = r;
        }
        if (unset_environment)
                unset_listen();
        if (n > 0)
                *ret_names = names;
        return n;
}
