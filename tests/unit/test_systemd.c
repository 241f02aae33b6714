/* test_systemd.c: activation_systemd with a scripted sd_listen_fds_with_names, then the real one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation.h"
#include "fakes.h"
#include "sdlisten.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void setup(void) {
        fake_reset();
}

static void teardown(void) {
        for (int fd = 3; fd < 8; fd++)
                unit_release_fd(fd);
        fake_reset();
}

static bool env_clean(void) {
        return !getenv("LISTEN_FDS") && !getenv("LISTEN_PID") && !getenv("LISTEN_FDNAMES") && !getenv("LISTEN_PIDFDID");
}

/* ---- scripted ---- */

START_TEST(fake_two_sockets) {
        struct listener_set set = {};
        char path[160];
        struct stat st;

        snprintf(path, sizeof path, "%s/web.sock", unit_tmpdir());
        unit_place_fd(unit_unix_listener(SOCK_STREAM, path), 3);
        unit_place_fd(unit_inet_listener(AF_INET, SOCK_DGRAM), 4);
        fake_systemd = (struct fake_systemd){ .ret = 2, .names = { "web", "dns" } };
        setenv("LISTEN_PIDFDID", "4242", 1);

        ck_assert_int_eq(activation_systemd(&fake_ops_systemd, &set), 2);
        ck_assert_int_eq(fake_systemd.calls, 1);
        ck_assert_msg(fake_systemd.unset_environment, "the activation environment must be unset");
        ck_assert_ptr_null(getenv("LISTEN_PIDFDID"));
        ck_assert_uint_eq(set.n, 2);
        ck_assert_int_eq(set.v[0].fd, 3);
        ck_assert_str_eq(set.v[0].name, "web");
        ck_assert_int_eq(set.v[0].info.family, AF_UNIX);
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_LISTENING);
        ck_assert_ptr_null(set.v[0].unlink_path);
        ck_assert_int_eq(set.v[1].fd, 4);
        ck_assert_str_eq(set.v[1].name, "dns");
        ck_assert_int_eq(set.v[1].info.family, AF_INET);
        ck_assert_int_eq(set.v[1].info.role, SOCK_ROLE_DATAGRAM);
        listener_set_free(&set);
        ck_assert(unit_fd_closed(3));
        ck_assert(unit_fd_closed(4));
        /* The socket file belongs to systemd's .socket unit: never removed. */
        ck_assert_int_eq(lstat(path, &st), 0);
}
END_TEST

START_TEST(fake_fifo_and_seqpacket) {
        struct listener_set set = {};
        int p[2];

        ck_assert_int_eq(pipe(p), 0);
        unit_place_fd(p[0], 3);
        close(p[1]);
        unit_place_fd(unit_unix_listener(SOCK_SEQPACKET, NULL), 4);
        fake_systemd = (struct fake_systemd){ .ret = 2, .names = { "fifo", "seq" } };
        ck_assert_int_eq(activation_systemd(&fake_ops_systemd, &set), 2);
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_FIFO);
        ck_assert_int_eq(set.v[1].info.type, SOCK_SEQPACKET);
        ck_assert_int_eq(set.v[1].info.role, SOCK_ROLE_LISTENING);
        listener_set_free(&set);
}
END_TEST

START_TEST(fake_without_names) {
        struct listener_set set = {};

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        fake_systemd = (struct fake_systemd){ .ret = 1, .no_names = true };
        ck_assert_int_eq(activation_systemd(&fake_ops_systemd, &set), 1);
        ck_assert_str_eq(set.v[0].name, "unknown");
        listener_set_free(&set);
}
END_TEST

START_TEST(fake_error) {
        struct listener_set set = {};

        fake_systemd = (struct fake_systemd){ .ret = -EINVAL };
        setenv("LISTEN_PIDFDID", "4242", 1);
        ck_assert_int_eq(activation_systemd(&fake_ops_systemd, &set), -EINVAL);
        ck_assert_uint_eq(set.n, 0);
        ck_assert_ptr_null(getenv("LISTEN_PIDFDID"));
}
END_TEST

START_TEST(fake_not_activated) {
        struct listener_set set = {};

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        fake_systemd = (struct fake_systemd){ .ret = 0 };
        setenv("LISTEN_PIDFDID", "4242", 1);
        ck_assert_int_eq(activation_systemd(&fake_ops_systemd, &set), 0);
        ck_assert_int_eq(fake_systemd.calls, 1);
        ck_assert_uint_eq(set.n, 0);
        ck_assert_ptr_null(getenv("LISTEN_PIDFDID"));
        /* Not ours: left alone. */
        ck_assert(!unit_fd_closed(3));
}
END_TEST

START_TEST(fake_regular_file) {
        struct listener_set set = {};

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        unit_place_fd(unit_regular_file(), 4);
        fake_systemd = (struct fake_systemd){ .ret = 2, .names = { "good", "file" } };
        ck_assert_int_eq(activation_systemd(&fake_ops_systemd, &set), -ENOTSOCK);
        listener_set_free(&set);
}
END_TEST

START_TEST(fake_fd_missing) {
        struct listener_set set = {};

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        close(4);
        fake_systemd = (struct fake_systemd){ .ret = 2, .names = { "here", "gone" } };
        ck_assert_int_eq(activation_systemd(&fake_ops_systemd, &set), -EBADF);
        listener_set_free(&set);
}
END_TEST

START_TEST(no_systemd_here) {
        const struct activation_ops none = {};
        struct listener_set set = {};

        ck_assert_int_eq(activation_systemd(&none, &set), 0);
        ck_assert_uint_eq(set.n, 0);
}
END_TEST

/* ---- the real one (in-tree, or libsystemd's with -DPYLAUNCHD_LIBSYSTEMD=ON), through activation_ops_real ---- */

enum pid_is { PID_UNSET, PID_OURS, PID_OTHER, PID_GARBAGE };

static const struct env_row {
        const char *fds;   /* LISTEN_FDS, NULL: unset */
        enum pid_is pid;
        const char *names; /* LISTEN_FDNAMES, NULL: unset */
        int rc;            /* < 0: any error */
        const char *name0, *name1;
} env_rows[] = {
        { "2", PID_OURS, "a:b", 2, "a", "b" },
        { "2", PID_OURS, NULL, 2, "unknown", "unknown" },
        { "1", PID_OURS, "only", 1, "only", NULL },
        { "2", PID_OTHER, "a:b", 0 },
        { "2", PID_UNSET, "a:b", 0 },
        { NULL, PID_OURS, "a:b", 0 },
        { "garbage", PID_OURS, NULL, -1 },
        { "2x", PID_OURS, NULL, -1 },
        { "", PID_OURS, NULL, -1 },
        { "-1", PID_OURS, NULL, -1 },
        { "2", PID_GARBAGE, "a:b", -1 },
        { "2", PID_OURS, "a", -1 },
        { "2", PID_OURS, "a:b:c", -1 },
        { "1", PID_OURS, "a:b", -1 },
};

START_TEST(real_environment_table) {
        const struct env_row *row = &env_rows[_i];
        struct listener_set set = {};
        char what[160], pid[32], pidfdid[32];
        int r;

        snprintf(what, sizeof what, "real row %d: LISTEN_FDS=%s LISTEN_FDNAMES=%s pid %d", _i,
                 row->fds ? row->fds : "(unset)", row->names ? row->names : "(unset)", (int)row->pid);
        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        unit_place_fd(unit_inet_listener(AF_INET, SOCK_STREAM), 4);
        snprintf(pid, sizeof pid, "%d", (int)(row->pid == PID_OTHER ? getppid() : getpid()));
        if (row->pid != PID_UNSET)
                setenv("LISTEN_PID", row->pid == PID_GARBAGE ? "12ab" : pid, 1);
        if (row->fds)
                setenv("LISTEN_FDS", row->fds, 1);
        if (row->names)
                setenv("LISTEN_FDNAMES", row->names, 1);
        /* As systemd 256+ sets it (test_sdlisten checks the id against the one seen from outside). */
        snprintf(pidfdid, sizeof pidfdid, "%llu", (unsigned long long)sdlisten_self_pidfdid());
        setenv("LISTEN_PIDFDID", pidfdid, 1);

        r = activation_systemd(&activation_ops_real, &set);
        if (row->rc < 0)
                ck_assert_msg(r < 0, "%s: returned %d, expected an error", what, r);
        else
                ROW_INT(what, r, row->rc);
        /* Whatever happened, nothing started later may think these sockets are its own. */
        ck_assert_msg(env_clean(), "%s: LISTEN_* still set", what);
        if (r > 0) {
                ROW_INT(what, set.n, r);
                ROW_STR(what, set.v[0].name, row->name0);
                ROW_INT(what, set.v[0].fd, 3);
                ROW_INT(what, set.v[0].info.family, AF_UNIX);
                if (r > 1) {
                        ROW_STR(what, set.v[1].name, row->name1);
                        ROW_INT(what, set.v[1].info.family, AF_INET);
                }
        } else if (r == 0)
                ROW_INT(what, set.n, 0);
        listener_set_free(&set);
}
END_TEST

START_TEST(real_sets_cloexec) {
        struct listener_set set = {};
        char pid[32];

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 4);
        ck_assert(!unit_fd_cloexec(3)); /* as systemd passes them */
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "2", 1);
        setenv("LISTEN_FDNAMES", "a:b", 1);
        ck_assert_int_eq(activation_systemd(&activation_ops_real, &set), 2);
        ck_assert(unit_fd_cloexec(3));
        ck_assert(unit_fd_cloexec(4));
        listener_set_free(&set);
        ck_assert(unit_fd_closed(3));
        ck_assert(unit_fd_closed(4));
}
END_TEST

START_TEST(real_more_fds_than_passed) {
        struct listener_set set = {};
        char pid[32];

        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        close(4);
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "2", 1);
        ck_assert_int_lt(activation_systemd(&activation_ops_real, &set), 0);
        ck_assert(env_clean());
        listener_set_free(&set);
}
END_TEST

static Suite *systemd_suite(void) {
        Suite *s = suite_create("systemd");
        TCase *tc;

        tc = tcase_create("scripted");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, fake_two_sockets);
        tcase_add_test(tc, fake_fifo_and_seqpacket);
        tcase_add_test(tc, fake_without_names);
        tcase_add_test(tc, fake_error);
        tcase_add_test(tc, fake_not_activated);
        tcase_add_test(tc, fake_regular_file);
        tcase_add_test(tc, fake_fd_missing);
        tcase_add_test(tc, no_systemd_here);
        suite_add_tcase(s, tc);

        tc = tcase_create("real");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, real_environment_table, 0, N_ROWS(env_rows));
        tcase_add_test(tc, real_sets_cloexec);
        tcase_add_test(tc, real_more_fds_than_passed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(systemd_suite());
}
