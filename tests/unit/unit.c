/* unit.c: the shared runner and helpers the Check unit tests link (see unit.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

static char tmp_root[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st, (void)flag, (void)ftw;
        return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int null_on(int fd) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (null < 0 || null == fd)
                return null;
        if (dup2(null, fd) < 0)
                fd = -1;
        close(null);
        return fd;
}

int unit_run(Suite *s) {
        const char *tmp = getenv("TMPDIR");
        SRunner *sr;
        int failed;

        for (int fd = 3; fd < UNIT_RESERVED_FDS; fd++)
                if (fcntl(fd, F_GETFD) < 0 && null_on(fd) < 0) {
                        perror("reserving fds: /dev/null");
                        return EXIT_FAILURE;
                }
        /* sun_path is short: keep the root short too. */
        if (!tmp || strlen(tmp) > 24)
                tmp = "/tmp";
        snprintf(tmp_root, sizeof tmp_root, "%s/pylaunchd-unit.XXXXXX", tmp);
        if (!mkdtemp(tmp_root)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        (void)nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void unit_null_fd(int fd) {
        ck_assert_msg(null_on(fd) == fd, "/dev/null on fd %d: %s", fd, strerror(errno));
}

int unit_place_fd(int fd, int target) {
        ck_assert_msg(fd >= 0, "no fd to place on %d (%s)", target, strerror(-fd));
        if (fd != target) {
                ck_assert_int_eq(dup2(fd, target), target);
                close(fd);
        }
        return target;
}

void unit_release_fd(int target) {
        unit_null_fd(target);
}

bool unit_fd_closed(int fd) {
        return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

bool unit_fd_cloexec(int fd) {
        int flags = fcntl(fd, F_GETFD);
        return flags >= 0 && (flags & FD_CLOEXEC);
}

bool unit_fd_is_path(int fd, const char *path) {
        struct stat a, b;
        return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

const char *unit_tmpdir(void) {
        static char dir[128];

        snprintf(dir, sizeof dir, "%s/t.XXXXXX", tmp_root);
        ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
        return dir;
}

void unit_write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t len = strlen(text);

        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
        close(fd);
}

static int fail_close(int fd) {
        int r = -errno;
        close(fd);
        return r;
}

int unit_unix_bound(int type, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t len = sizeof(sa_family_t); /* no path: Linux autobinds an abstract name */
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (path) {
                if (strlen(path) >= sizeof sa.sun_path) {
                        close(fd);
                        return -ENAMETOOLONG;
                }
                memcpy(sa.sun_path, path, strlen(path));
                len = sizeof sa;
        }
        if (bind(fd, (struct sockaddr *)&sa, len) < 0)
                return fail_close(fd);
        return fd;
}

int unit_unix_listener(int type, const char *path) {
        int fd = unit_unix_bound(type, path);

        if (fd >= 0 && listen(fd, 16) < 0)
                return fail_close(fd);
        return fd;
}

int unit_inet_listener(int family, int type) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        int one = 1, fd = socket(family, type | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (family == AF_INET6 ? bind(fd, (struct sockaddr *)&sin6, sizeof sin6) < 0
                               : bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
                return fail_close(fd);
        if (type == SOCK_STREAM && listen(fd, 16) < 0)
                return fail_close(fd);
        return fd;
}

int unit_connect_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return fail_close(fd);
        return fd;
}

int unit_regular_file(void) {
        char path[128];
        int fd;

        snprintf(path, sizeof path, "%s/file.XXXXXX", tmp_root);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        unlink(path);
        return fd;
}

static int capture_saved[3] = { -1, -1, -1 }, capture_tmp[3] = { -1, -1, -1 };

void unit_capture_begin(int fd) {
        ck_assert(fd == STDOUT_FILENO || fd == STDERR_FILENO);
        fflush(stdout);
        fflush(stderr);
        capture_tmp[fd] = unit_regular_file();
        ck_assert_int_ge(capture_tmp[fd], 0);
        capture_saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, UNIT_RESERVED_FDS);
        ck_assert_int_ge(capture_saved[fd], 0);
        ck_assert_int_eq(dup2(capture_tmp[fd], fd), fd);
}

const char *unit_capture_end(int fd) {
        static char text[16384];
        ssize_t n;

        fflush(stdout);
        fflush(stderr);
        ck_assert_int_ge(capture_saved[fd], 0);
        ck_assert_int_eq(dup2(capture_saved[fd], fd), fd);
        close(capture_saved[fd]);
        n = pread(capture_tmp[fd], text, sizeof text - 1, 0);
        close(capture_tmp[fd]);
        capture_saved[fd] = capture_tmp[fd] = -1;
        text[n > 0 ? n : 0] = '\0';
        return text;
}

struct unit_child unit_child_spawn(void (*fn)(int ctl, const void *arg), const void *arg) {
        struct unit_child c;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        c.pid = fork();
        ck_assert_int_ge(c.pid, 0);
        if (c.pid == 0) {
                close(sv[0]);
                fn(sv[1], arg);
                _exit(0);
        }
        close(sv[1]);
        c.ctl = sv[0];
        return c;
}

void unit_become(uid_t uid, gid_t gid) {
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                _exit(90);
}

void unit_child_say(int ctl, char c) {
        if (write(ctl, &c, 1) != 1)
                _exit(91);
}

char unit_child_hear(int ctl) {
        char c = 0;
        return read(ctl, &c, 1) == 1 ? c : 0;
}

void unit_child_expect(struct unit_child *c, char want) {
        char got = unit_child_hear(c->ctl);
        ck_assert_msg(got == want, "the child said '%c', expected '%c'", got ? got : '0', want);
}

void unit_child_tell(struct unit_child *c) {
        ck_assert_int_eq(write(c->ctl, "g", 1), 1);
}

void unit_child_finish(struct unit_child *c) {
        int status;

        close(c->ctl);
        ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status 0x%x", status);
}

socklen_t unit_sockname(int fd, struct sockaddr_storage *ss) {
        socklen_t len = sizeof *ss;
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)ss, &len), 0);
        return len;
}

int unit_count_fds(void) {
        int n = 0;

        for (int fd = 0; fd < 1024; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}
