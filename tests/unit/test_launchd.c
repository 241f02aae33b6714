/* test_launchd.c: activation_launchd against a scripted launch_activate_socket, key by key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"
#include "fakes.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const listeners[] = { "Listeners" };

static void setup(void) {
        fake_reset();
}

static void script(const char *name, int err, int fd0, int fd1) {
        struct fake_launchd_socket *s = &fake_launchd.sockets[fake_launchd.n++];

        *s = (struct fake_launchd_socket){ .name = name, .err = err, .fds = { fd0, fd1 } };
        s->count = err ? 0 : fd1 >= 0 ? 2 : 1;
}

static int listener(void) {
        int fd = unit_unix_listener(SOCK_STREAM, NULL);
        ck_assert_int_ge(fd, 0);
        return fd;
}

START_TEST(one_name_one_fd) {
        struct listener_set set = {};
        int fd = listener();

        script("Listeners", 0, fd, -1);
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, listeners, 1, true, &set), 1);
        ck_assert_uint_eq(fake_launchd.n_calls, 1);
        ck_assert_str_eq(fake_launchd.calls[0], "Listeners");
        ck_assert_uint_eq(set.n, 1);
        ck_assert_int_eq(set.v[0].fd, fd);
        ck_assert_str_eq(set.v[0].name, "Listeners");
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_LISTENING);
        ck_assert_ptr_null(set.v[0].unlink_path);
        listener_set_free(&set);
        ck_assert(unit_fd_closed(fd));
}
END_TEST

START_TEST(two_names) {
        const char *const names[] = { "Web", "Admin" };
        struct listener_set set = {};
        int web = listener(), admin = unit_inet_listener(AF_INET, SOCK_DGRAM);

        script("Admin", 0, admin, -1);
        script("Web", 0, web, -1);
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, names, 2, true, &set), 2);
        ck_assert_uint_eq(fake_launchd.n_calls, 2);
        ck_assert_str_eq(fake_launchd.calls[0], "Web");
        ck_assert_str_eq(fake_launchd.calls[1], "Admin");
        ck_assert_str_eq(set.v[0].name, "Web");
        ck_assert_int_eq(set.v[0].fd, web);
        ck_assert_str_eq(set.v[1].name, "Admin");
        ck_assert_int_eq(set.v[1].fd, admin);
        ck_assert_int_eq(set.v[1].info.role, SOCK_ROLE_DATAGRAM);
        listener_set_free(&set);
}
END_TEST

/* SockFamily unset in the plist: launchd hands one key an IPv4 and an IPv6 socket. */
START_TEST(one_name_two_fds) {
        struct listener_set set = {};
        int v4 = unit_inet_listener(AF_INET, SOCK_STREAM), v6 = unit_inet_listener(AF_INET6, SOCK_STREAM);
        int v6_family = AF_INET6;

        ck_assert_int_ge(v4, 0);
        if (v6 < 0) { /* no IPv6 here: two IPv4 sockets make the same point */
                v6 = unit_inet_listener(AF_INET, SOCK_STREAM);
                v6_family = AF_INET;
        }
        ck_assert_int_ge(v6, 0);
        script("Listeners", 0, v4, v6);
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, listeners, 1, true, &set), 2);
        ck_assert_uint_eq(set.n, 2);
        ck_assert_str_eq(set.v[0].name, "Listeners");
        ck_assert_str_eq(set.v[1].name, "Listeners");
        ck_assert_int_eq(set.v[0].info.family, AF_INET);
        ck_assert_int_eq(set.v[1].info.family, v6_family);
        listener_set_free(&set);
        ck_assert(unit_fd_closed(v4));
        ck_assert(unit_fd_closed(v6));
}
END_TEST

/* An errno from launchd on the first key. With --launchd (strict) every one is an error: the
 * plist said this process is launchd's. Asked on the chance, ESRCH ("not a launchd job") and
 * ENOENT (no such socket for this process: what a process started from Terminal may get) let
 * the other ways have their turn; the rest are errors either way. */
static const struct errno_row {
        int err, rc, strict_rc;
        bool noted; /* leaves a note for the "no sockets to serve" message */
} errno_rows[] = {
        { ESRCH, 0, -ESRCH, false },
        { ENOENT, 0, -ENOENT, true },
        { EALREADY, -EALREADY, -EALREADY, false },
        { EPERM, -EPERM, -EPERM, false },
        { EINVAL, -EINVAL, -EINVAL, false },
};

START_TEST(errno_table) {
        const char *const names[] = { "First", "Second" };
        struct listener_set set = {};
        int fd = listener();
        char what[64];

        for (int strict = 0; strict <= 1; strict++) {
                snprintf(what, sizeof what, "errno row %d (%s)%s", _i, strerror(errno_rows[_i].err),
                         strict ? " with --launchd" : "");
                fake_reset();
                script("First", errno_rows[_i].err, -1, -1);
                script("Second", 0, fd, -1);
                ROW_INT(what, activation_launchd(&fake_ops_launchd, names, 2, strict, &set),
                        strict ? errno_rows[_i].strict_rc : errno_rows[_i].rc);
                ROW_INT(what, set.n, 0);
                /* It stops at the first key: nothing was handed out, nothing to clean up. */
                ROW_INT(what, fake_launchd.n_calls, 1);
                if (!strict)
                        ck_assert_msg(!!strstr(activation_launchd_note(), "no socket named 'First'") ==
                                              errno_rows[_i].noted,
                                      "%s: note '%s'", what, activation_launchd_note());
        }
        close(fd);
}
END_TEST

START_TEST(esrch_after_a_key_succeeded) {
        const char *const names[] = { "First", "Second" };
        struct listener_set set = {};
        int fd = listener();

        script("First", 0, fd, -1);
        script("Second", ESRCH, -1, -1);
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, names, 2, true, &set), -ESRCH);
        listener_set_free(&set);
}
END_TEST

START_TEST(unknown_second_key) {
        const char *const names[] = { "Listeners", "Typo" };
        struct listener_set set = {};
        int fd = listener();

        script("Listeners", 0, fd, -1);
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, names, 2, true, &set), -ENOENT);
        ck_assert_uint_eq(fake_launchd.n_calls, 2);
        listener_set_free(&set);
}
END_TEST

/* A non-socket in launchd's array: an error, and none of that array's remaining fds may leak. */
START_TEST(not_a_socket_closes_the_rest) {
        struct fake_launchd_socket *s = &fake_launchd.sockets[fake_launchd.n++];
        struct listener_set set = {};
        int good = listener(), file = unit_regular_file(), after = listener();

        ck_assert_int_ge(file, 0);
        *s = (struct fake_launchd_socket){ .name = "Listeners", .fds = { good, file, after }, .count = 3 };
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, listeners, 1, true, &set), -ENOTSOCK);
        ck_assert_msg(unit_fd_closed(file), "the bad fd %d leaked", file);
        ck_assert_msg(unit_fd_closed(after), "fd %d after the bad one leaked", after);
        /* The one before it is in the set, which the caller frees. */
        ck_assert_uint_eq(set.n, 1);
        ck_assert_int_eq(set.v[0].fd, good);
        listener_set_free(&set);
        ck_assert(unit_fd_closed(good));
}
END_TEST

START_TEST(closed_fd_in_array) {
        struct listener_set set = {};
        int fd = listener();

        close(fd);
        script("Listeners", 0, fd, -1);
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, listeners, 1, true, &set), -EBADF);
        ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(no_launchd_here) {
        const struct activation_ops none = {};
        struct listener_set set = {};

        /* Built without launchd: nothing to ask; with --launchd that is an error. */
        ck_assert_int_eq(activation_launchd(&none, listeners, 1, false, &set), 0);
        ck_assert_int_eq(activation_launchd(&none, listeners, 1, true, &set), -EAFNOSUPPORT);
        ck_assert_int_eq(activation_launchd(&fake_ops_launchd, listeners, 0, true, &set), 0);
        ck_assert_uint_eq(fake_launchd.n_calls, 0);
        ck_assert_uint_eq(set.n, 0);
}
END_TEST

static Suite *launchd_suite(void) {
        Suite *s = suite_create("launchd");
        TCase *tc = tcase_create("scripted");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, one_name_one_fd);
        tcase_add_test(tc, two_names);
        tcase_add_test(tc, one_name_two_fds);
        tcase_add_loop_test(tc, errno_table, 0, N_ROWS(errno_rows));
        tcase_add_test(tc, esrch_after_a_key_succeeded);
        tcase_add_test(tc, unknown_second_key);
        tcase_add_test(tc, not_a_socket_closes_the_rest);
        tcase_add_test(tc, closed_fd_in_array);
        tcase_add_test(tc, no_launchd_here);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(launchd_suite());
}
