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

static char guard_path[PATH_MAX];

static int read_count(const char *path) {
        char buf[32];
        long long v;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return parse_int_range(buf, 0, 1000, &v) == 0 ? (int)v : 0;
}

static void write_count(const char *path, int count) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d\n", count);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0)
                return;
        (void)!write(fd, buf, (size_t)n);
        close(fd);
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
        count = read_count(guard_path);
        if (count >= CRASHGUARD_LIMIT) {
                /* Give up for this round; the next connection gets CRASHGUARD_LIMIT tries again. */
                unlink(guard_path);
                guard_path[0] = '\0';
                log_error("the last %d starts died while importing the agent (before it was ready); not starting "
                          "it again for the connections waiting now. Run the agent by hand to see why.",
                          count);
                return -ELOOP;
        }
        write_count(guard_path, count + 1);
        return 0;
}

void crashguard_clear(void) {
        if (guard_path[0])
                (void)unlink(guard_path);
        guard_path[0] = '\0';
}
