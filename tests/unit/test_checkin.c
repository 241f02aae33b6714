/* test_checkin.c: activation_checkin's order (systemd, launchd, --listen, inetd) and its exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation.h"
#include "exitcode.h"
#include "fakes.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int saved[3] = { -1, -1, -1 };

static void setup(void) {
        fake_reset();
        fflush(stdout);
        for (int fd = 0; fd < 3; fd++)
                saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, UNIT_RESERVED_FDS);
        unit_null_fd(0);
}

static void teardown(void) {
        for (int fd = 0; fd < 3; fd++)
                if (saved[fd] >= 0) {
                        dup2(saved[fd], fd);
                        close(saved[fd]);
                        saved[fd] = -1;
                }
        for (int fd = 3; fd < 6; fd++)
                unit_release_fd(fd);
        fake_reset();
}

/* Parses a command line as main() does; --listen PATH when path is not NULL; mode: NULL, or
 * "--launchd" or "--inetd". */
static void parse_mode(struct options *o, const char *path, const char *socket_name, const char *mode) {
        char listen[256];
        char *argv[8];
        int argc = 0;

        argv[argc++] = (char *)"pylaunchd";
        if (mode)
                argv[argc++] = (char *)mode;
        if (path) {
                snprintf(listen, sizeof listen, "unix:%s", path);
                argv[argc++] = (char *)"--listen";
                argv[argc++] = listen;
        }
        if (socket_name) {
                argv[argc++] = (char *)"--socket-name";
                argv[argc++] = (char *)socket_name;
        }
        argv[argc++] = (char *)"Agent.py";
        argv[argc] = NULL;
        ck_assert_int_eq(options_parse(argc, argv, o), OPTIONS_RUN);
        /* listen[] is a copy; argv may go. */
}

static void parse(struct options *o, const char *path, const char *socket_name) {
        parse_mode(o, path, socket_name, NULL);
}

static bool exists(const char *p) {
        struct stat st;
        return lstat(p, &st) == 0;
}

enum listen_arg { NO_LISTEN, LISTEN_OK, LISTEN_MISSING_DIR, LISTEN_ON_FILE };
enum stdin_kind { STDIN_NULL, STDIN_CONNECTION };
#define LAUNCHD_FD 0 /* in a row's launchd: one socket under "Listeners"; else the errno */

static const struct checkin_row {
        const char *what;
        int systemd; /* the fake's return: > 0 that many sockets on 3.. */
        int launchd;
        enum listen_arg listen;
        enum stdin_kind in;
        int exit;
        enum origin origin;
        bool warns;       /* "--listen ignored" */
        const char *mode; /* NULL, "--launchd" or "--inetd" */
} rows[] = {
        { "systemd beats everything", 1, LAUNCHD_FD, LISTEN_OK, STDIN_CONNECTION, EXIT_OK, ORIGIN_SYSTEMD, true, NULL },
        { "systemd alone", 2, ESRCH, NO_LISTEN, STDIN_NULL, EXIT_OK, ORIGIN_SYSTEMD, false, NULL },
        { "systemd garbage", -EINVAL, LAUNCHD_FD, LISTEN_OK, STDIN_CONNECTION, EXIT_ACTIVATION, ORIGIN_NONE, false, NULL },
        /* An explicit --listen never asks launchd (and so never depends on what it answers). */
        { "--listen: launchd not asked", 0, LAUNCHD_FD, LISTEN_OK, STDIN_CONNECTION, EXIT_OK, ORIGIN_LISTEN, false, NULL },
        { "launchd alone", 0, LAUNCHD_FD, NO_LISTEN, STDIN_NULL, EXIT_OK, ORIGIN_LAUNCHD, false, NULL },
        /* Asked on the chance, no such socket: maybe not launchd's at all; a note, not an error. */
        { "launchd without the key", 0, ENOENT, NO_LISTEN, STDIN_NULL, EXIT_USAGE, ORIGIN_NONE, false, NULL },
        { "launchd without the key, fd 0", 0, ENOENT, NO_LISTEN, STDIN_CONNECTION, EXIT_OK, ORIGIN_INETD, false, NULL },
        { "launchd refuses", 0, EPERM, NO_LISTEN, STDIN_NULL, EXIT_ACTIVATION, ORIGIN_NONE, false, NULL },
        { "not launchd: --listen", 0, ESRCH, LISTEN_OK, STDIN_CONNECTION, EXIT_OK, ORIGIN_LISTEN, false, NULL },
        { "--listen in a missing dir", 0, ESRCH, LISTEN_MISSING_DIR, STDIN_NULL, EXIT_OS, ORIGIN_NONE, false, NULL },
        { "--listen on a regular file", 0, ESRCH, LISTEN_ON_FILE, STDIN_NULL, EXIT_OS, ORIGIN_NONE, false, NULL },
        { "connection on fd 0: inetd", 0, ESRCH, NO_LISTEN, STDIN_CONNECTION, EXIT_OK, ORIGIN_INETD, false, NULL },
        { "nothing to serve", 0, ESRCH, NO_LISTEN, STDIN_NULL, EXIT_USAGE, ORIGIN_NONE, false, NULL },
        /* The plists say how: --launchd asks launchd alone, and every error is one. */
        { "--launchd", 1, LAUNCHD_FD, NO_LISTEN, STDIN_CONNECTION, EXIT_OK, ORIGIN_LAUNCHD, false, "--launchd" },
        { "--launchd, not launchd's", 0, ESRCH, NO_LISTEN, STDIN_CONNECTION, EXIT_ACTIVATION, ORIGIN_NONE, false, "--launchd" },
        { "--launchd, no such key", 0, ENOENT, NO_LISTEN, STDIN_NULL, EXIT_ACTIVATION, ORIGIN_NONE, false, "--launchd" },
        /* --inetd: fd 0 alone (an inetdCompatibility child never calls launch_activate_socket). */
        { "--inetd", 1, LAUNCHD_FD, NO_LISTEN, STDIN_CONNECTION, EXIT_OK, ORIGIN_INETD, false, "--inetd" },
        { "--inetd, nothing on fd 0", 0, LAUNCHD_FD, NO_LISTEN, STDIN_NULL, EXIT_ACTIVATION, ORIGIN_NONE, false, "--inetd" },
};

START_TEST(checkin_table) {
        const struct checkin_row *row = &rows[_i];
        struct listener_set set = {};
        char what[128], path[256], err[4096];
        struct options o;
        struct stat in_before;
        int sv[2] = { -1, -1 }, launchd_fd = -1, code;

        snprintf(what, sizeof what, "checkin row %d (%s)", _i, row->what);
        snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), row->listen == LISTEN_MISSING_DIR ? "gone/a.sock" : "a.sock");
        if (row->listen == LISTEN_ON_FILE)
                unit_write_file(path, "");
        parse_mode(&o, row->listen != NO_LISTEN ? path : NULL, NULL, row->mode);
        for (int i = 0; i < row->systemd; i++)
                unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3 + i);
        fake_systemd.ret = row->systemd;
        fake_systemd.names[0] = "sd0";
        fake_systemd.names[1] = "sd1";
        if (row->launchd == LAUNCHD_FD) {
                launchd_fd = unit_unix_listener(SOCK_STREAM, NULL);
                fake_launchd.sockets[fake_launchd.n++] =
                        (struct fake_launchd_socket){ .name = "Listeners", .fds = { launchd_fd }, .count = 1 };
        } else
                fake_launchd.sockets[fake_launchd.n++] =
                        (struct fake_launchd_socket){ .name = "Listeners", .err = row->launchd };
        if (row->in == STDIN_CONNECTION) {
                ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
                unit_place_fd(sv[0], 0);
        }
        ck_assert_int_eq(fstat(0, &in_before), 0);

        unit_capture_begin(STDERR_FILENO);
        code = activation_checkin(&o, &fake_ops, &set);
        if (code == ACTIVATION_NONE) {
                /* Nothing logged yet: main() explains, after checking for a missing agent. */
                ck_assert_msg(!*unit_capture_end(STDERR_FILENO), "%s: logged before explaining", what);
                unit_capture_begin(STDERR_FILENO);
                activation_explain_none();
                code = EXIT_USAGE;
        }
        snprintf(err, sizeof err, "%s", unit_capture_end(STDERR_FILENO));

        ROW_INT(what, code, row->exit);
        /* An explicit mode asks nobody else; otherwise systemd first, and launchd only when
         * systemd did not answer either way and no --listen was given. */
        ROW_INT(what, fake_systemd.calls, !row->mode);
        ROW_INT(what, fake_launchd.n_calls,
                row->mode ? !strcmp(row->mode, "--launchd") : row->systemd == 0 && row->listen == NO_LISTEN);
        ck_assert_msg(!!strstr(err, "--listen ignored") == row->warns, "%s: stderr '%s'", what, err);
        if (code == EXIT_OK) {
                ROW_INT(what, set.origin, row->origin);
                ck_assert_msg(set.n > 0, "%s: EXIT_OK with no listeners", what);
        }
        if (row->listen == LISTEN_OK)
                ck_assert_msg(exists(path) == (row->origin == ORIGIN_LISTEN), "%s: --listen path %s", what,
                              exists(path) ? "created" : "missing");
        if (row->origin != ORIGIN_INETD) {
                struct stat st;
                ck_assert_msg(fstat(0, &st) == 0 && st.st_ino == in_before.st_ino, "%s: fd 0 was touched", what);
        }
        if (row->exit == EXIT_USAGE)
                ck_assert_msg(strstr(err, "no sockets to serve"), "%s: stderr '%s'", what, err);
        if (row->exit == EXIT_USAGE && row->launchd == ENOENT)
                ck_assert_msg(strstr(err, "launchd has no socket named 'Listeners'"), "%s: the note: '%s'", what, err);
        listener_set_free(&set);
        if (launchd_fd >= 0 && row->origin != ORIGIN_LAUNCHD)
                close(launchd_fd);
        if (sv[1] >= 0)
                close(sv[1]);
        if (row->listen == LISTEN_OK)
                ck_assert_msg(!exists(path), "%s: %s left behind", what, path);
}
END_TEST

START_TEST(launchd_asked_for_each_socket_name) {
        const char *argv[] = { "pylaunchd", "-s", "Web", "-s", "Admin", "Agent.py", NULL };
        struct listener_set set = {};
        struct options o;
        int web = unit_unix_listener(SOCK_STREAM, NULL), admin = unit_unix_listener(SOCK_STREAM, NULL);

        ck_assert_int_eq(options_parse(6, (char **)argv, &o), OPTIONS_RUN);
        fake_launchd.sockets[0] = (struct fake_launchd_socket){ .name = "Web", .fds = { web }, .count = 1 };
        fake_launchd.sockets[1] = (struct fake_launchd_socket){ .name = "Admin", .fds = { admin }, .count = 1 };
        fake_launchd.n = 2;
        ck_assert_int_eq(activation_checkin(&o, &fake_ops, &set), EXIT_OK);
        ck_assert_int_eq(set.origin, ORIGIN_LAUNCHD);
        ck_assert_uint_eq(fake_launchd.n_calls, 2);
        ck_assert_str_eq(fake_launchd.calls[0], "Web");
        ck_assert_str_eq(fake_launchd.calls[1], "Admin");
        ck_assert_str_eq(set.v[1].name, "Admin");
        listener_set_free(&set);
}
END_TEST

/* With the production seam: what main() gets on this platform. */
START_TEST(real_garbage_environment) {
        struct listener_set set = {};
        struct options o;
        char pid[32];

        parse(&o, NULL, NULL);
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "garbage", 1);
        ck_assert_int_eq(activation_checkin(&o, &activation_ops_real, &set), EXIT_ACTIVATION);
        ck_assert_ptr_null(getenv("LISTEN_FDS"));
        listener_set_free(&set);
}
END_TEST

START_TEST(real_activated) {
        struct listener_set set = {};
        struct options o;
        char pid[32];

        parse(&o, NULL, NULL);
        unit_place_fd(unit_unix_listener(SOCK_STREAM, NULL), 3);
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_FDNAMES", "agent", 1);
        ck_assert_int_eq(activation_checkin(&o, &activation_ops_real, &set), EXIT_OK);
        ck_assert_int_eq(set.origin, ORIGIN_SYSTEMD);
        ck_assert_str_eq(set.v[0].name, "agent");
        ck_assert_ptr_null(getenv("LISTEN_PID"));
        listener_set_free(&set);
}
END_TEST

START_TEST(real_nothing) {
        struct listener_set set = {};
        struct options o;

        parse(&o, NULL, NULL);
        unit_capture_begin(STDERR_FILENO);
        ck_assert_int_eq(activation_checkin(&o, &activation_ops_real, &set), ACTIVATION_NONE);
        ck_assert_str_eq(unit_capture_end(STDERR_FILENO), "");
        unit_capture_begin(STDERR_FILENO);
        activation_explain_none();
        ck_assert(strstr(unit_capture_end(STDERR_FILENO), "--listen unix:"));
        ck_assert_uint_eq(set.n, 0);
}
END_TEST

static Suite *checkin_suite(void) {
        Suite *s = suite_create("checkin");
        TCase *tc = tcase_create("order");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, checkin_table, 0, N_ROWS(rows));
        tcase_add_test(tc, launchd_asked_for_each_socket_name);
        suite_add_tcase(s, tc);

        tc = tcase_create("real");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, real_garbage_environment);
        tcase_add_test(tc, real_activated);
        tcase_add_test(tc, real_nothing);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(checkin_suite());
}
