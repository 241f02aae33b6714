/* test_notify.c: notify.c through the seam (a recording sd_notify), then the real one on a socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakes.h"
#include "notify.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void setup(void) {
        fake_reset();
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        unsetenv("NOTIFY_SOCKET");
}

enum pid_is { PID_UNSET, PID_OURS, PID_OTHER, PID_GARBAGE };

/* WATCHDOG_USEC counts only when WATCHDOG_PID, if set, is this process (as sd_watchdog_enabled). */
static const struct watchdog_row {
        const char *usec;
        enum pid_is pid;
        uint64_t expect;
} watchdog_rows[] = {
        { "30000000", PID_UNSET, 30000000 },
        { "30000000", PID_OURS, 30000000 },
        { "1", PID_OURS, 1 },
        { "30000000", PID_OTHER, 0 },
        { "30000000", PID_GARBAGE, 0 },
        { "0", PID_OURS, 0 },
        { "-5", PID_OURS, 0 },
        { "abc", PID_OURS, 0 },
        { "30s", PID_UNSET, 0 },
        { "", PID_UNSET, 0 },
        { NULL, PID_OURS, 0 },
};

START_TEST(watchdog_table) {
        const struct watchdog_row *row = &watchdog_rows[_i];
        char what[96], pid[32];

        snprintf(what, sizeof what, "watchdog row %d: WATCHDOG_USEC=%s pid %d", _i, row->usec ? row->usec : "(unset)",
                 (int)row->pid);
        snprintf(pid, sizeof pid, "%d", (int)(row->pid == PID_OTHER ? getppid() : getpid()));
        if (row->usec)
                setenv("WATCHDOG_USEC", row->usec, 1);
        if (row->pid != PID_UNSET)
                setenv("WATCHDOG_PID", row->pid == PID_GARBAGE ? "x1" : pid, 1);
        notify_init(&fake_ops_notify);
        ROW_INT(what, notify_watchdog_usec(), row->expect);
        /* The agent's children must not inherit our watchdog. */
        ck_assert_msg(!getenv("WATCHDOG_USEC") && !getenv("WATCHDOG_PID"), "%s: WATCHDOG_* still set", what);
}
END_TEST

START_TEST(send_formats_and_passes_result) {
        notify_init(&fake_ops_notify);
        fake_notify.ret = 1;
        ck_assert_int_eq(notify_send("READY=1\nSTATUS=Serving %s", "Agent.py"), 1);
        ck_assert_int_eq(fake_notify.calls, 1);
        ck_assert_str_eq(fake_notify.last, "READY=1\nSTATUS=Serving Agent.py");
        /* NOTIFY_SOCKET stays: READY is not the last thing we send. */
        ck_assert_int_eq(fake_notify.unset_environment, 0);
        fake_notify.ret = 0;
        ck_assert_int_eq(notify_send("STOPPING=1"), 0);
}
END_TEST

START_TEST(send_truncates_long_state) {
        char big[3000];

        notify_init(&fake_ops_notify);
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        (void)notify_send("STATUS=%s", big);
        ck_assert_uint_lt(strlen(fake_notify.last), 1024);
        ck_assert_int_eq(strncmp(fake_notify.last, "STATUS=aaa", 10), 0);
}
END_TEST

START_TEST(send_error_logged_once) {
        const char *err;
        int lines = 0;

        notify_init(&fake_ops_notify);
        fake_notify.ret = -ECONNREFUSED;
        unit_capture_begin(STDERR_FILENO);
        ck_assert_int_eq(notify_send("READY=1"), -ECONNREFUSED);
        ck_assert_int_eq(notify_send("STATUS=x"), -ECONNREFUSED);
        err = unit_capture_end(STDERR_FILENO);
        for (const char *p = err; (p = strstr(p, "ignoring")); p++)
                lines++;
        ck_assert_msg(lines == 1, "expected one warning, got '%s'", err);
}
END_TEST

START_TEST(no_manager) {
        const struct activation_ops none = {};

        notify_init(&none);
        ck_assert_int_eq(notify_send("READY=1"), 0);
        ck_assert_int_eq(fake_notify.calls, 0);
}
END_TEST

/* The real sd_notify, to a datagram socket standing in for systemd's. */
START_TEST(real_sd_notify) {
        char path[160], buf[256];
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "%s/notify", unit_tmpdir());
        fd = unit_unix_bound(SOCK_DGRAM, path);
        ck_assert_int_ge(fd, 0);
        notify_init(&activation_ops_real);
        ck_assert_int_eq(notify_send("READY=1"), 0); /* no NOTIFY_SOCKET: nobody to tell */
        setenv("NOTIFY_SOCKET", path, 1);
        ck_assert_int_gt(notify_send("READY=1\nSTATUS=Serving %d", 42), 0);
        n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        ck_assert_int_gt(n, 0);
        buf[n] = '\0';
        ck_assert_str_eq(buf, "READY=1\nSTATUS=Serving 42");
        ck_assert_str_eq(getenv("NOTIFY_SOCKET"), path);
        close(fd);
}
END_TEST

static Suite *notify_suite(void) {
        Suite *s = suite_create("notify");
        TCase *tc = tcase_create("notify");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_loop_test(tc, watchdog_table, 0, N_ROWS(watchdog_rows));
        tcase_add_test(tc, send_formats_and_passes_result);
        tcase_add_test(tc, send_truncates_long_state);
        tcase_add_test(tc, send_error_logged_once);
        tcase_add_test(tc, no_manager);
        tcase_add_test(tc, real_sd_notify);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(notify_suite());
}
