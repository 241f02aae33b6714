/* test_notify.c: notify.c through the seam (a recording sender), NOTIFY_SOCKET's forms, and the
 * in-tree sender on real sockets, byte for byte against libsystemd's sd_notify. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/vm_sockets.h>
#endif

#include "sdnotify.h"

#include "fakes.h"
#include "notify.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define FAKE_NOTIFY_SOCKET "/run/pylaunchd-unit/notify"

static void setup(void) {
        fake_reset();
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        setenv("NOTIFY_SOCKET", FAKE_NOTIFY_SOCKET, 1);
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
        ck_assert_str_eq(((struct sockaddr_un *)&fake_notify.address.ss)->sun_path, FAKE_NOTIFY_SOCKET);
        fake_notify.ret = -EIO;
        ck_assert_int_eq(notify_send("STOPPING=1"), -EIO);
}
END_TEST

/* Read once and removed at once, before Python starts: the agent and its children must never
 * speak for the service (READY=1, STOPPING=1, MAINPID=). Sending still works afterwards. */
START_TEST(notify_socket_unset_at_init) {
        notify_init(&fake_ops_notify);
        ck_assert_msg(!getenv("NOTIFY_SOCKET"), "NOTIFY_SOCKET still set after notify_init");
        fake_notify.ret = 1;
        ck_assert_int_eq(notify_send("READY=1"), 1);
        ck_assert_int_eq(fake_notify.calls, 1);
}
END_TEST

/* A NOTIFY_SOCKET that is not an address: a warning, nothing sent, and still unset. */
START_TEST(notify_socket_invalid) {
        const char *err;

        setenv("NOTIFY_SOCKET", "relative/path", 1);
        unit_capture_begin(STDERR_FILENO);
        notify_init(&fake_ops_notify);
        err = unit_capture_end(STDERR_FILENO);
        ck_assert_msg(strstr(err, "NOTIFY_SOCKET=relative/path is not an address"), "warning: '%s'", err);
        ck_assert_msg(!getenv("NOTIFY_SOCKET"), "NOTIFY_SOCKET still set");
        ck_assert_int_eq(notify_send("READY=1"), 0);
        ck_assert_int_eq(fake_notify.calls, 0);
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
        /* A sender, but no NOTIFY_SOCKET: not started as a notify service. */
        setenv("NOTIFY_SOCKET", FAKE_NOTIFY_SOCKET, 1);
        unsetenv("NOTIFY_SOCKET");
        notify_init(&fake_ops_notify);
        ck_assert_int_eq(notify_send("READY=1"), 0);
        ck_assert_int_eq(fake_notify.calls, 0);
}
END_TEST

/* NOTIFY_SOCKET's forms (sd_notify(3)), parsed without I/O. */
static const struct notify_row {
        const char *in;
        int rc;
        int family, type;
        socklen_t len;      /* for unix: offsetof(sun_path) + this */
        unsigned cid, port; /* vsock */
} notify_rows[] = {
        { "/run/user/1000/systemd/notify", 0, AF_UNIX, SOCK_DGRAM, sizeof "/run/user/1000/systemd/notify", 0, 0 },
        { "@/org/freedesktop/systemd1/notify/123", 0, AF_UNIX, SOCK_DGRAM, sizeof "@/org/freedesktop/systemd1/notify/123" - 1, 0, 0 },
        { "/x", 0, AF_UNIX, SOCK_DGRAM, 3, 0, 0 },
        { "@x", 0, AF_UNIX, SOCK_DGRAM, 2, 0, 0 },
        { "/", -EINVAL, 0, 0, 0, 0, 0 },
        { "@", -EINVAL, 0, 0, 0, 0, 0 },
        { "", -EINVAL, 0, 0, 0, 0, 0 },
        { "relative", -EINVAL, 0, 0, 0, 0, 0 },
        { "unix:/run/x", -EINVAL, 0, 0, 0, 0, 0 },
#ifdef AF_VSOCK
        { "vsock:2:1234", 0, AF_VSOCK, 0, 0, 2, 1234 },
        { "vsock:host:1", 0, AF_VSOCK, 0, 0, VMADDR_CID_HOST, 1 },
        { "vsock:hypervisor:0", 0, AF_VSOCK, 0, 0, VMADDR_CID_HYPERVISOR, 0 },
        { "vsock:local:7", 0, AF_VSOCK, 0, 0, 1, 7 },
        { "vsock-dgram:3:9", 0, AF_VSOCK, SOCK_DGRAM, 0, 3, 9 },
        { "vsock-seqpacket:3:9", 0, AF_VSOCK, SOCK_SEQPACKET, 0, 3, 9 },
        { "vsock-stream:4294967294:4294967294", 0, AF_VSOCK, SOCK_STREAM, 0, 4294967294u, 4294967294u },
        { "vsock:4294967295:1", -EINVAL, 0, 0, 0, 0, 0 }, /* VMADDR_CID_ANY names nobody */
        { "vsock:2:4294967295", -EINVAL, 0, 0, 0, 0, 0 }, /* VMADDR_PORT_ANY */
        { "vsock:2", -EINVAL, 0, 0, 0, 0, 0 },
        { "vsock::1", -EINVAL, 0, 0, 0, 0, 0 },
        { "vsock:x:1", -EINVAL, 0, 0, 0, 0, 0 },
        { "vsock:2:", -EINVAL, 0, 0, 0, 0, 0 },
        { "vsock:-1:1", -EINVAL, 0, 0, 0, 0, 0 },
        { "vsock-raw:2:1", -EINVAL, 0, 0, 0, 0, 0 },
#endif
};

/* sun_path's 108 bytes: a path needs one of them for its NUL, an abstract name does not. */
START_TEST(notify_socket_length_limits) {
        const size_t size = sizeof(((struct sockaddr_un *)0)->sun_path);
        struct notify_address a;
        char s[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];

        memset(s, 'x', sizeof s);
        s[0] = '/';
        s[size - 1] = '\0'; /* a path of size - 1 bytes */
        ck_assert_int_eq(parse_notify_socket(s, &a), 0);
        ck_assert_uint_eq(a.len, offsetof(struct sockaddr_un, sun_path) + size);
        s[size - 1] = 'x';
        s[size] = '\0'; /* size bytes: no room for the NUL */
        ck_assert_int_eq(parse_notify_socket(s, &a), -EINVAL);
        s[0] = '@'; /* the same length abstract: the whole of sun_path */
        ck_assert_int_eq(parse_notify_socket(s, &a), 0);
        ck_assert_uint_eq(a.len, offsetof(struct sockaddr_un, sun_path) + size);
        s[size] = 'x';
        s[size + 1] = '\0';
        ck_assert_int_eq(parse_notify_socket(s, &a), -EINVAL);
}
END_TEST

START_TEST(notify_socket_table) {
        const struct notify_row *row = &notify_rows[_i];
        struct notify_address a = { .type = 12345 };
        char what[128];
        int rc = parse_notify_socket(row->in, &a);

        snprintf(what, sizeof what, "NOTIFY_SOCKET '%s'", row->in);
        ROW_INT(what, rc, row->rc);
        if (rc < 0) {
                ROW_INT(what, a.type, 12345); /* untouched */
                return;
        }
        ROW_INT(what, a.ss.ss_family, row->family);
        ROW_INT(what, a.type, row->type);
        if (row->family == AF_UNIX) {
                const struct sockaddr_un *un = (const struct sockaddr_un *)&a.ss;
                ROW_INT(what, a.len, offsetof(struct sockaddr_un, sun_path) + row->len);
                ROW_INT(what, un->sun_path[0], row->in[0] == '@' ? 0 : '/');
                ck_assert_msg(memcmp(un->sun_path + 1, row->in + 1, strlen(row->in) - 1) == 0, "%s: path", what);
        }
#ifdef AF_VSOCK
        if (row->family == AF_VSOCK) {
                const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&a.ss;
                ROW_INT(what, vm->svm_cid, row->cid);
                ROW_INT(what, vm->svm_port, row->port);
                ROW_INT(what, a.len, sizeof *vm);
        }
#endif
}
END_TEST

/* The in-tree sender and libsystemd's sd_notify, each to its own datagram socket standing in for
 * systemd's, path and abstract: the same bytes arrive, and neither leaves NOTIFY_SOCKET behind
 * in our environment. */
static void receive(int fd, char *buf, size_t size) {
        ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

        ck_assert_msg(n > 0, "nothing received (%zd)", n);
        buf[n] = '\0';
}

static void compare_with_libsystemd(const char *ours_addr, int ours_fd, const char *ref_addr, int ref_fd) {
        static const char *const states[] = { "READY=1", "READY=1\nSTATUS=Serving Agent.py on 'rot13.sock'",
                                              "STATUS=caf\xc3\xa9 \xe2\x9c\x93", "WATCHDOG=1", "STOPPING=1\nSTATUS=Stopped",
                                              "ERRNO=8\nSTATUS=Failed: x" };
        char got[2048], want[2048];

        setenv("NOTIFY_SOCKET", ours_addr, 1);
        notify_init(&activation_ops_real);
        ck_assert_msg(!getenv("NOTIFY_SOCKET"), "NOTIFY_SOCKET still set");
        for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
                ck_assert_int_gt(notify_send("%s", states[i]), 0);
                receive(ours_fd, got, sizeof got);
                setenv("NOTIFY_SOCKET", ref_addr, 1);
                ck_assert_int_gt(sd_notify(1, states[i]), 0);
                receive(ref_fd, want, sizeof want);
                ck_assert_str_eq(got, want);
                ck_assert_str_eq(got, states[i]);
        }
}

START_TEST(real_send_path) {
        char ours[160], ref[160];
        int a, b;

        snprintf(ours, sizeof ours, "%s/ours", unit_tmpdir());
        snprintf(ref, sizeof ref, "%s/libsystemd", unit_tmpdir());
        a = unit_unix_bound(SOCK_DGRAM, ours);
        b = unit_unix_bound(SOCK_DGRAM, ref);
        ck_assert_int_ge(a, 0);
        ck_assert_int_ge(b, 0);
        unsetenv("NOTIFY_SOCKET");
        notify_init(&activation_ops_real);
        ck_assert_int_eq(notify_send("READY=1"), 0); /* no NOTIFY_SOCKET: nobody to tell */
        compare_with_libsystemd(ours, a, ref, b);
        close(a);
        close(b);
}
END_TEST

static int abstract_bound(const char *name) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        size_t len = strlen(name);

        ck_assert_int_ge(fd, 0);
        memcpy(sa.sun_path, name, len);
        sa.sun_path[0] = '\0';
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
        return fd;
}

START_TEST(real_send_abstract) {
        char ours[96], ref[96];
        int a, b;

        snprintf(ours, sizeof ours, "@pylaunchd-unit-ours-%d", (int)getpid());
        snprintf(ref, sizeof ref, "@pylaunchd-unit-ref-%d", (int)getpid());
        a = abstract_bound(ours);
        b = abstract_bound(ref);
        compare_with_libsystemd(ours, a, ref, b);
        close(a);
        close(b);
}
END_TEST

/* Nobody at the address: an error, not a hang or a crash. */
START_TEST(real_send_nobody_listens) {
        char path[160];

        snprintf(path, sizeof path, "%s/nobody", unit_tmpdir());
        setenv("NOTIFY_SOCKET", path, 1);
        notify_init(&activation_ops_real);
        ck_assert_int_lt(notify_send("READY=1"), 0);
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
        tcase_add_test(tc, notify_socket_unset_at_init);
        tcase_add_test(tc, notify_socket_invalid);
        tcase_add_loop_test(tc, notify_socket_table, 0, N_ROWS(notify_rows));
        tcase_add_test(tc, notify_socket_length_limits);
        tcase_add_test(tc, real_send_path);
        tcase_add_test(tc, real_send_abstract);
        tcase_add_test(tc, real_send_nobody_listens);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(notify_suite());
}
