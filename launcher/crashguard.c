/* crashguard.c: an agent that crashes the interpreter while importing (os.abort(), a segfault in
 * an extension) never gets to close the connection that started it, so the socket starts the
 * service again at once, and again. The units' start limit stops that only when it is faster
 * than idle cycling may be (40 starts in 10 s): a crash 0.3 s into the import loops forever.
 * So each start is counted, in a file under $XDG_RUNTIME_DIR named after the socket (the same
 * inode across restarts), and cleared once the agent is ready. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashguard.h"
#include "log.h"
#include "parse.h"
#include "safefile.h"

static char guard_path[PATH_MAX];

/* The count in the guard file, and the count + 1 written back, through one fd opened without
 * following a link (safefile.c): the file lives in $XDG_RUNTIME_DIR, which is the user's own
 * under systemd, but may be a shared /tmp elsewhere. Returns the count before, or -errno. */
static int bump_count(const char *path) {
        char buf[32], why[PATH_MAX + 256];
        long long v;
        ssize_t n;
        int fd = -1, r = safefile_open_regular(path, O_RDWR | O_CREAT, 0600, geteuid(), &fd, why, sizeof why);

        if (r < 0) {
                /* Not fatal: the guard is a brake on crash loops, and refusing to start would let
                 * whoever planted the file stop the agent. */
                if (r == -EPERM)
                        log_warning("crash guard off for this start: %s, ignoring", why);
                return r;
        }
        n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        v = 0;
        if (parse_int_range(buf, 0, 1000, &v) < 0)
                v = 0;
        n = snprintf(buf, sizeof buf, "%d\n", (int)v + 1);
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
                r = -errno;
        close(fd);
        return r < 0 ? r : (int)v;
}

int crashguard_begin(const struct listener_set *set) {
        const char *run = getenv("XDG_RUNTIME_DIR");
        struct stat st;
        char dir[PATH_MAX - 64];
        int count;

        guard_path[0] = '\0';
        if (!run || run[0] != '/')
                return 0;
        for (size_t i = 0; i < set->n; i++)
                if (set->v[i].info.role == SOCK_ROLE_LISTENING && fstat(set->v[i].fd, &st) == 0)
                        goto found;
        return 0;
found:
        if ((size_t)snprintf(dir, sizeof dir, "%s/pylaunchd", run) >= sizeof dir ||
            (mkdir(dir, 0700) < 0 && errno != EEXIST))
                return 0;
        if ((size_t)snprintf(guard_path, sizeof guard_path, "%s/starting-%llu-%llu", dir,
                             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino) >= sizeof guard_path) {
                guard_path[0] = '\0';
                return 0;
        }
        count = bump_count(guard_path);
        if (count < 0) {
                guard_path[0] = '\0';
                return 0;
        }
        if (count >= CRASHGUARD_LIMIT) {
                /* Give up for this round; the next connection gets CRASHGUARD_LIMIT tries again. */
                unlink(guard_path);
                guard_path[0] = '\0';
                log_error("the last %d starts died while importing the agent (before it was ready); not starting "
                          "it again for the connections waiting now. Run the agent by hand to see why.",
                          count);
                return -ELOOP;
        }
        return 0;
}

void crashguard_clear(void) {
        if (guard_path[0])
                (void)unlink(guard_path);
        guard_path[0] = '\0';
}
