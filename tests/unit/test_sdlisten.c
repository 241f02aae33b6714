/* test_sdlisten.c: the in-tree sd_listen_fds_with_names (sdlisten.c) held against libsystemd's,
 * row by row: the same count or error, the same names, the same fds made close-on-exec, the same
 * environment left behind. Then what libsystemd 252 cannot be the reference for: LISTEN_PIDFDID
 * (systemd 256+), checked against the id a parent sees for this process from outside, as systemd
 * does when it sets the variable. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "parse.h"
#include "sdlisten.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define N_FDS 3

enum pid_is { PID_UNSET, PID_OURS, PID_OTHER, PID_ZERO, PID_GARBAGE };

static const struct row {
        enum pid_is pid;
        const char *fds, *names; /* NULL: unset */
        int want;                /* what both must return; < 0: some error */
} rows[] = {
        { PID_OURS, "2", "a:b", 2 },
        { PID_OURS, "1", "only", 1 },
        { PID_OURS, "3", "a::c", 3 },       /* an empty name is kept, not coalesced */
        { PID_OURS, "2", ":", 2 },          /* two empty names */
        { PID_OURS, "3", NULL, 3 },         /* "unknown" each */
        { PID_OURS, "02", "a:b", 2 },       /* decimal, not octal */
        { PID_OTHER, "2", "a:b", 0 },
        { PID_UNSET, "2", "a:b", 0 },
        { PID_OURS, NULL, "a:b", 0 },
        { PID_OTHER, "garbage", "a", 0 },   /* not ours: LISTEN_FDS never read */
        { PID_ZERO, "2", "a:b", -1 },
        { PID_GARBAGE, "2", "a:b", -1 },
        { PID_OURS, "garbage", NULL, -1 },
        { PID_OURS, "2x", NULL, -1 },
        { PID_OURS, "", NULL, -1 },
        { PID_OURS, "0", NULL, -1 },
        { PID_OURS, "-1", NULL, -1 },
        { PID_OURS, "2147483645", NULL, -1 }, /* above INT_MAX - 3 */
        { PID_OURS, "99999999999", NULL, -1 },
        { PID_OURS, "2147483648", NULL, -1 }, /* beyond an int: ERANGE on both sides */
        { PID_OURS, "2", "a", -1 },
        { PID_OURS, "2", "a:b:c", -1 },
        { PID_OURS, "1", "", 1 },            /* one fd with an empty name */
        { PID_OURS, "2", "", -1 },
        { PID_OURS, "20", NULL, -1 },        /* fd 16 on is not open: EBADF */
};

struct outcome {
        int r;
        char names[N_FDS + 1][32];
        bool cloexec[N_FDS];
        bool env[3]; /* LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES still set */
};

static void setup_row(const struct row *row) {
        char pid[32];

        for (int i = 0; i < N_FDS; i++)
                unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3 + i);
        for (int fd = 3; fd < UNIT_RESERVED_FDS; fd++) /* as a manager passes them */
                ck_assert_int_eq(fcntl(fd, F_SETFD, 0), 0);
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_PIDFDID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        snprintf(pid, sizeof pid, "%d", (int)(row->pid == PID_OTHER ? getppid() : getpid()));
        if (row->pid == PID_ZERO)
                setenv("LISTEN_PID", "0", 1);
        else if (row->pid == PID_GARBAGE)
                setenv("LISTEN_PID", "12ab", 1);
        else if (row->pid != PID_UNSET)
                setenv("LISTEN_PID", pid, 1);
        if (row->fds)
                setenv("LISTEN_FDS", row->fds, 1);
        if (row->names)
                setenv("LISTEN_FDNAMES", row->names, 1);
}

static struct outcome run(int (*fn)(int, char ***), const struct row *row, int unset) {
        struct outcome o = {};
        char **names = NULL;

        setup_row(row);
        o.r = fn(unset, &names);
        for (int i = 0; o.r > 0 && i < o.r && i < N_FDS; i++)
                snprintf(o.names[i], sizeof o.names[i], "%s", names[i]);
        if (o.r > 0)
                ck_assert_ptr_null(names[o.r]);
        for (int i = 0; i < N_FDS; i++)
                o.cloexec[i] = unit_fd_cloexec(3 + i);
        o.env[0] = getenv("LISTEN_PID") != NULL;
        o.env[1] = getenv("LISTEN_FDS") != NULL;
        o.env[2] = getenv("LISTEN_FDNAMES") != NULL;
        parse_strv_free(o.r > 0 ? names : NULL);
        return o;
}

static void compare(const struct row *row, int unset, const char *what) {
        struct outcome ours = run(sdlisten_fds_with_names, row, unset);
        struct outcome ref = run(sd_listen_fds_with_names, row, unset);

        if (row->want < 0) {
                /* The same errno too: it is what the launcher's message names. */
                ck_assert_msg(ours.r < 0 && ours.r == ref.r, "%s: in-tree %d, libsystemd %d, want the same error",
                              what, ours.r, ref.r);
        } else {
                ck_assert_msg(ours.r == row->want && ref.r == row->want, "%s: in-tree %d, libsystemd %d, want %d",
                              what, ours.r, ref.r, row->want);
        }
        for (int i = 0; i < N_FDS; i++) {
                ck_assert_msg(!strcmp(ours.names[i], ref.names[i]), "%s: name %d: in-tree '%s', libsystemd '%s'", what,
                              i, ours.names[i], ref.names[i]);
                ck_assert_msg(ours.cloexec[i] == ref.cloexec[i], "%s: fd %d close-on-exec: in-tree %d, libsystemd %d",
                              what, 3 + i, ours.cloexec[i], ref.cloexec[i]);
        }
        const bool was_set[3] = { row->pid != PID_UNSET, row->fds != NULL, row->names != NULL };
        for (int i = 0; i < 3; i++)
                ck_assert_msg(ours.env[i] == ref.env[i] && ours.env[i] == (!unset && was_set[i]),
                              "%s: variable %d left set: in-tree %d, libsystemd %d", what, i, ours.env[i], ref.env[i]);
        /* Spot-check the reference itself, so a broken row cannot pass on both sides. */
        if (row->want > 0 && row->names && !strcmp(row->names, "a::c"))
                ck_assert_str_eq(ours.names[1], "");
        if (row->want > 0 && row->names && !*row->names)
                ck_assert_str_eq(ours.names[0], "");
        if (row->want > 0 && !row->names)
                ck_assert_str_eq(ours.names[0], "unknown");
        if (row->want > 0)
                ck_assert(ours.cloexec[0]);
}

START_TEST(same_as_libsystemd) {
        char what[160];

        snprintf(what, sizeof what, "row %d (pid %d, LISTEN_FDS=%s, LISTEN_FDNAMES=%s), unset", _i, (int)rows[_i].pid,
                 rows[_i].fds ? rows[_i].fds : "(unset)", rows[_i].names ? rows[_i].names : "(unset)");
        compare(&rows[_i], 1, what);
}
END_TEST

START_TEST(same_as_libsystemd_kept) {
        char what[160];

        snprintf(what, sizeof what, "row %d (pid %d, LISTEN_FDS=%s, LISTEN_FDNAMES=%s), kept", _i, (int)rows[_i].pid,
                 rows[_i].fds ? rows[_i].fds : "(unset)", rows[_i].names ? rows[_i].names : "(unset)");
        compare(&rows[_i], 0, what);
}
END_TEST

/* Where the in-tree reader is deliberately stricter: numbers no manager writes. */
START_TEST(stricter_numbers) {
        static const char *const odd[] = { " 2", "+2", "0x2", "2 " };
        const struct row row = { PID_OURS, NULL, "a:b", -1 };
        char **names = NULL;

        for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
                setup_row(&row);
                setenv("LISTEN_FDS", odd[i], 1);
                ck_assert_msg(sdlisten_fds_with_names(1, &names) == -EINVAL, "LISTEN_FDS='%s' accepted", odd[i]);
                ck_assert_ptr_null(getenv("LISTEN_FDS"));
        }
}
END_TEST

/* ---- LISTEN_PIDFDID: the id the manager saw from outside ---- */

static bool on_pidfs(int pidfd) {
        struct statfs sfs;
        return fstatfs(pidfd, &sfs) == 0 && sfs.f_type == 0x50494446;
}

/* The child's pidfd inode id as its parent sees it (what systemd puts in LISTEN_PIDFDID), or 0
 * on a kernel without pidfs. */
static unsigned long long id_from_outside(pid_t child) {
        int fd = (int)syscall(SYS_pidfd_open, child, 0);
        struct stat st;
        unsigned long long id = 0;

        ck_assert_int_ge(fd, 0);
        if (on_pidfs(fd) && fstat(fd, &st) == 0)
                id = (unsigned long long)st.st_ino;
        close(fd);
        return id;
}

/* In the child: LISTEN_PIDFDID=id (offset by delta), one fd; the result as the exit status. */
static int child_check(int rfd, long long delta) {
        unsigned long long id;
        char buf[32], pid[32];
        char **names = NULL;
        int r;

        if (read(rfd, &id, sizeof id) != (ssize_t)sizeof id)
                _exit(100);
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        snprintf(buf, sizeof buf, "%llu", id + (unsigned long long)delta);
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_PIDFDID", buf, 1);
        setenv("LISTEN_FDS", "1", 1);
        r = sdlisten_fds_with_names(1, &names);
        parse_strv_free(r > 0 ? names : NULL);
        if (getenv("LISTEN_PIDFDID"))
                _exit(101);
        if (id && sdlisten_self_pidfdid() != id)
                _exit(102);
        _exit(r < 0 ? 50 : r);
}

static int spawn_with_id(long long delta, unsigned long long *ret_id) {
        int p[2], status;
        pid_t pid;

        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[1]);
                child_check(p[0], delta);
        }
        close(p[0]);
        *ret_id = id_from_outside(pid);
        ck_assert_int_eq(write(p[1], ret_id, sizeof *ret_id), (ssize_t)sizeof *ret_id);
        close(p[1]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

START_TEST(pidfdid_ours) {
        unsigned long long id;

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        /* 1 fd: the id matched (or, without pidfs, could not be compared and LISTEN_PID decided). */
        ck_assert_int_eq(spawn_with_id(0, &id), 1);
}
END_TEST

START_TEST(pidfdid_other) {
        unsigned long long id;
        int r;

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        r = spawn_with_id(1, &id);
        if (id) /* the pid is ours, the process is not: a reused pid */
                ck_assert_int_eq(r, 0);
        else /* no pidfs: systemd 256+ also falls back to LISTEN_PID alone */
                ck_assert_int_eq(r, 1);
}
END_TEST

START_TEST(pidfdid_garbage) {
        char pid[32];
        char **names = NULL;

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_PIDFDID", "12ab", 1);
        setenv("LISTEN_FDS", "1", 1);
        ck_assert_int_eq(sdlisten_fds_with_names(1, &names), -EINVAL);
        ck_assert_ptr_null(getenv("LISTEN_PIDFDID"));
        ck_assert_ptr_null(getenv("LISTEN_PID"));
}
END_TEST

static Suite *sdlisten_suite(void) {
        Suite *s = suite_create("sdlisten");
        TCase *tc;

        tc = tcase_create("libsystemd");
        tcase_add_loop_test(tc, same_as_libsystemd, 0, N_ROWS(rows));
        tcase_add_loop_test(tc, same_as_libsystemd_kept, 0, N_ROWS(rows));
        tcase_add_test(tc, stricter_numbers);
        suite_add_tcase(s, tc);

        tc = tcase_create("pidfdid");
        tcase_add_test(tc, pidfdid_ours);
        tcase_add_test(tc, pidfdid_other);
        tcase_add_test(tc, pidfdid_garbage);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(sdlisten_suite());
}
