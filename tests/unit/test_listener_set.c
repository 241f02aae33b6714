/* test_listener_set.c: listener_set_add copies what it keeps; _drain empties queues; _free closes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation.h"
#include "unit.h"

START_TEST(add_copies_name_and_info) {
        struct listener_set set = {};
        struct sockinfo info = { .family = AF_UNIX, .type = SOCK_STREAM, .role = SOCK_ROLE_LISTENING };
        char name[] = "Listeners";
        int fd = unit_unix_listener(SOCK_STREAM, NULL);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(listener_set_add(&set, fd, name, &info), 0);
        name[0] = 'X';
        info.role = SOCK_ROLE_FIFO;
        ck_assert_uint_eq(set.n, 1);
        ck_assert_int_eq(set.v[0].fd, fd);
        ck_assert_ptr_ne(set.v[0].name, name);
        ck_assert_str_eq(set.v[0].name, "Listeners");
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_LISTENING);
        ck_assert_int_eq(set.v[0].info.family, AF_UNIX);
        ck_assert_ptr_null(set.v[0].unlink_path);
        listener_set_free(&set);
}
END_TEST

START_TEST(add_without_name) {
        struct listener_set set = {};
        struct sockinfo info = { .role = SOCK_ROLE_DATAGRAM };

        ck_assert_int_eq(listener_set_add(&set, -1, NULL, &info), 0);
        ck_assert_str_eq(set.v[0].name, "unknown");
        listener_set_free(&set);
}
END_TEST

START_TEST(add_keeps_order) {
        struct listener_set set = {};
        struct sockinfo info = { .role = SOCK_ROLE_LISTENING };
        char name[16];

        for (int i = 0; i < 40; i++) {
                snprintf(name, sizeof name, "n%d", i);
                ck_assert_int_eq(listener_set_add(&set, -1, name, &info), 0);
        }
        ck_assert_uint_eq(set.n, 40);
        for (int i = 0; i < 40; i++) {
                snprintf(name, sizeof name, "n%d", i);
                ck_assert_str_eq(set.v[i].name, name);
        }
        listener_set_free(&set);
}
END_TEST

START_TEST(free_closes_fds_and_clears) {
        struct listener_set set = {};
        struct sockinfo info = { .role = SOCK_ROLE_LISTENING };
        int a = unit_unix_listener(SOCK_STREAM, NULL), b = unit_inet_listener(AF_INET, SOCK_STREAM);

        ck_assert_int_ge(a, 0);
        ck_assert_int_ge(b, 0);
        ck_assert_int_eq(listener_set_add(&set, a, "a", &info), 0);
        ck_assert_int_eq(listener_set_add(&set, b, "b", &info), 0);
        ck_assert_int_eq(listener_set_add(&set, -1, "closed already", &info), 0);
        set.origin = ORIGIN_LISTEN;
        listener_set_free(&set);
        ck_assert(unit_fd_closed(a));
        ck_assert(unit_fd_closed(b));
        ck_assert_uint_eq(set.n, 0);
        ck_assert_ptr_null(set.v);
        ck_assert_int_eq(set.origin, ORIGIN_NONE);
        /* Freeing an empty (or already freed) set is harmless. */
        listener_set_free(&set);
        ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(free_removes_only_own_socket_files) {
        struct listener_set set = {};
        struct sockinfo info = { .family = AF_UNIX, .type = SOCK_STREAM, .role = SOCK_ROLE_LISTENING };
        char own[160], inherited[160];
        const char *dir = unit_tmpdir();
        struct stat st;
        int a, b;

        snprintf(own, sizeof own, "%s/own.sock", dir);
        snprintf(inherited, sizeof inherited, "%s/inherited.sock", dir);
        a = unit_unix_listener(SOCK_STREAM, own);
        b = unit_unix_listener(SOCK_STREAM, inherited);
        ck_assert_int_ge(a, 0);
        ck_assert_int_ge(b, 0);
        ck_assert_int_eq(listener_set_add(&set, a, "own", &info), 0);
        set.v[0].unlink_path = strdup(own);
        ck_assert_int_eq(listener_set_add(&set, b, "inherited", &info), 0);
        listener_set_free(&set);
        ck_assert_msg(lstat(own, &st) < 0 && errno == ENOENT, "%s was not removed", own);
        ck_assert_msg(lstat(inherited, &st) == 0, "%s was removed: it was not ours", inherited);
}
END_TEST

/* After a failed start: the connections already queued are accepted and closed, so the clients
 * see the end at once instead of the socket starting the service again. */
START_TEST(drain_closes_queued_connections) {
        struct listener_set set = {};
        struct sockinfo listening = { .family = AF_UNIX, .type = SOCK_STREAM, .role = SOCK_ROLE_LISTENING };
        struct sockinfo connected = { .family = AF_UNIX, .type = SOCK_STREAM, .role = SOCK_ROLE_CONNECTED };
        char path[160], buf[8];
        int l, clients[3], sv[2];

        snprintf(path, sizeof path, "%s/drain.sock", unit_tmpdir());
        l = unit_unix_listener(SOCK_STREAM, path);
        ck_assert_int_ge(l, 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_ge(clients[i] = unit_connect_unix(path), 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(write(sv[1], "x", 1), 1);
        ck_assert_int_eq(listener_set_add(&set, sv[0], "conversation", &connected), 0);
        ck_assert_int_eq(listener_set_add(&set, l, "listener", &listening), 0);
        ck_assert_int_eq(listener_set_add(&set, -1, "gone", &listening), 0);

        ck_assert_uint_eq(listener_set_drain(&set), 3);
        for (int i = 0; i < 3; i++) {
                ck_assert_msg(read(clients[i], buf, sizeof buf) == 0, "client %d not closed", i);
                close(clients[i]);
        }
        /* Nothing left, and it does not wait for more. */
        ck_assert_uint_eq(listener_set_drain(&set), 0);
        /* A connection being served is not a queue: its data is still there. */
        ck_assert_int_eq(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), 1);
        ck_assert(!unit_fd_closed(l));
        listener_set_free(&set);
        close(sv[1]);
}
END_TEST

START_TEST(drain_empty) {
        struct listener_set set = {};
        ck_assert_uint_eq(listener_set_drain(&set), 0);
}
END_TEST

START_TEST(origin_names) {
        ck_assert_str_eq(origin_name(ORIGIN_NONE), "none");
        ck_assert_str_eq(origin_name(ORIGIN_SYSTEMD), "systemd");
        ck_assert_str_eq(origin_name(ORIGIN_LAUNCHD), "launchd");
        ck_assert_str_eq(origin_name(ORIGIN_INETD), "inetd");
        ck_assert_str_eq(origin_name(ORIGIN_LISTEN), "listen");
        ck_assert_str_eq(origin_name((enum origin)99), "none");
}
END_TEST

static Suite *listener_set_suite(void) {
        Suite *s = suite_create("listener_set");
        TCase *tc = tcase_create("listener_set");

        tcase_add_test(tc, add_copies_name_and_info);
        tcase_add_test(tc, add_without_name);
        tcase_add_test(tc, add_keeps_order);
        tcase_add_test(tc, free_closes_fds_and_clears);
        tcase_add_test(tc, free_removes_only_own_socket_files);
        tcase_add_test(tc, drain_closes_queued_connections);
        tcase_add_test(tc, drain_empty);
        tcase_add_test(tc, origin_names);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(listener_set_suite());
}
