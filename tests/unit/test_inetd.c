/* test_inetd.c: activation_inetd takes a connection on fd 0 off 0-2 and leaves /dev/null there. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation.h"
#include "unit.h"

static int saved[3] = { -1, -1, -1 };

/* Tests put things on 0 and 1; the runner gets its own back after each. */
static void setup(void) {
        fflush(stdout);
        for (int fd = 0; fd < 3; fd++)
                saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, UNIT_RESERVED_FDS);
}

static void teardown(void) {
        for (int fd = 0; fd < 3; fd++)
                if (saved[fd] >= 0) {
                        dup2(saved[fd], fd);
                        close(saved[fd]);
                        saved[fd] = -1;
                }
}

static bool same_file(int fd, const struct stat *before) {
        struct stat st;
        return fstat(fd, &st) == 0 && st.st_dev == before->st_dev && st.st_ino == before->st_ino;
}

/* systemd-socket-activate --inetd and inetd itself: the connection on 0 and 1. */
START_TEST(connection_on_0_and_1) {
        struct listener_set set = {};
        struct stat err_before;
        char buf[8] = "";
        int sv[2], fd;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(dup2(sv[0], 0), 0);
        ck_assert_int_eq(dup2(sv[0], 1), 1);
        close(sv[0]);
        ck_assert_int_eq(fstat(2, &err_before), 0);

        ck_assert_int_eq(activation_inetd(&set), 1);
        ck_assert_uint_eq(set.n, 1);
        fd = set.v[0].fd;
        ck_assert_str_eq(set.v[0].name, "connection");
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_CONNECTED);
        ck_assert_int_eq(set.v[0].info.family, AF_UNIX);
        ck_assert_int_ge(fd, 3);
        ck_assert(unit_fd_cloexec(fd));
        /* A stray print() now goes nowhere instead of into the client's stream. */
        ck_assert_msg(unit_fd_is_path(0, "/dev/null"), "fd 0 is not /dev/null");
        ck_assert_msg(unit_fd_is_path(1, "/dev/null"), "fd 1 is not /dev/null");
        ck_assert_msg(same_file(2, &err_before), "fd 2 was not the connection but changed");
        /* And the listener's fd is the conversation. */
        ck_assert_int_eq(write(sv[1], "ping", 4), 4);
        ck_assert_int_eq(read(fd, buf, sizeof buf), 4);
        ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
        listener_set_free(&set);
        ck_assert(unit_fd_closed(fd));
        /* Every copy is gone: the client sees end of file. */
        ck_assert_int_eq(read(sv[1], buf, sizeof buf), 0);
        close(sv[1]);
}
END_TEST

START_TEST(connection_on_0_only) {
        struct listener_set set = {};
        struct stat out_before;
        int sv[2], p[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        unit_place_fd(sv[0], 0);
        unit_place_fd(p[1], 1);
        ck_assert_int_eq(fstat(1, &out_before), 0);
        ck_assert_int_eq(activation_inetd(&set), 1);
        ck_assert(unit_fd_is_path(0, "/dev/null"));
        ck_assert_msg(same_file(1, &out_before), "fd 1 was a pipe, not the connection, but changed");
        listener_set_free(&set);
        close(sv[1]);
        close(p[0]);
}
END_TEST

START_TEST(tcp_connection_on_0) {
        struct listener_set set = {};
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int l = unit_inet_listener(AF_INET, SOCK_STREAM), c;

        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *)&ss, &len), 0);
        c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(connect(c, (struct sockaddr *)&ss, len), 0);
        unit_place_fd(accept4(l, NULL, NULL, SOCK_CLOEXEC), 0);
        ck_assert_int_eq(activation_inetd(&set), 1);
        ck_assert_int_eq(set.v[0].info.family, AF_INET);
        listener_set_free(&set);
        close(c);
        close(l);
}
END_TEST

/* inetd's "wait" mode (systemd-socket-activate --inetd without --accept execs us with the
 * listening socket on fds 0 and 1): a listener, moved off fd 0, fds 0-1 pointed at /dev/null. */
START_TEST(listening_socket_on_0_and_1) {
        struct listener_set set = {};
        int l = unit_unix_listener(SOCK_STREAM, NULL);

        ck_assert_int_ge(l, 0);
        unit_place_fd(l, 0);
        ck_assert_int_eq(dup2(0, 1), 1);
        ck_assert_int_eq(activation_inetd(&set), 1);
        ck_assert_uint_eq(set.n, 1);
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_LISTENING);
        ck_assert_str_eq(set.v[0].name, "stdin");
        ck_assert_int_ge(set.v[0].fd, 3);
        ck_assert(unit_fd_cloexec(set.v[0].fd));
        for (int fd = 0; fd < 2; fd++)
                ck_assert_msg(unit_fd_is_path(fd, "/dev/null"), "fd %d is not /dev/null", fd);
        listener_set_free(&set);
}
END_TEST

/* Anything else on fd 0 is not an inetd socket: 0, and fd 0 left as it was. */
static int stdin_pipe(int *keep) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        *keep = p[1];
        return p[0];
}

static int stdin_dev_null(int *keep) { (void)keep; return open("/dev/null", O_RDONLY | O_CLOEXEC); }
static int stdin_file(int *keep) { (void)keep; return unit_regular_file(); }

static int stdin_datagram(int *keep) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        *keep = sv[1];
        return sv[0];
}

static const struct stdin_row {
        const char *what;
        int (*make)(int *keep); /* NULL: fd 0 closed */
} stdin_rows[] = {
        { "pipe", stdin_pipe },
        { "datagram socket", stdin_datagram },
        { "/dev/null", stdin_dev_null },
        { "regular file", stdin_file },
        { "closed", NULL },
};

START_TEST(not_a_connection_table) {
        const struct stdin_row *row = &stdin_rows[_i];
        struct listener_set set = {};
        struct stat before;
        int keep = -1;
        char what[64];

        snprintf(what, sizeof what, "fd 0 row %d (%s)", _i, row->what);
        if (row->make) {
                unit_place_fd(row->make(&keep), 0);
                ck_assert_int_eq(fstat(0, &before), 0);
        } else
                close(0);
        ROW_INT(what, activation_inetd(&set), 0);
        ROW_INT(what, set.n, 0);
        if (row->make)
                ck_assert_msg(same_file(0, &before), "%s: fd 0 changed", what);
        else
                ck_assert_msg(unit_fd_closed(0), "%s: fd 0 was opened", what);
        if (keep >= 0)
                close(keep);
}
END_TEST

static Suite *inetd_suite(void) {
        Suite *s = suite_create("inetd");
        TCase *tc = tcase_create("inetd");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, connection_on_0_and_1);
        tcase_add_test(tc, connection_on_0_only);
        tcase_add_test(tc, tcp_connection_on_0);
        tcase_add_test(tc, listening_socket_on_0_and_1);
        tcase_add_loop_test(tc, not_a_connection_table, 0, (int)(sizeof stdin_rows / sizeof stdin_rows[0]));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(inetd_suite());
}
