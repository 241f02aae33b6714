/* test_sockinfo.c: sockinfo_get on real fds of every kind an activation could hand over. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockinfo.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Each maker returns the fd to look at and may leave up to two fds in keep[] to close after. */
typedef int (*make_fd)(int keep[2]);

static int make_socketpair(int type, int keep[2]) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
        keep[0] = sv[1];
        return sv[0];
}

static int stream_pair(int keep[2]) { return make_socketpair(SOCK_STREAM, keep); }
static int dgram_pair(int keep[2]) { return make_socketpair(SOCK_DGRAM, keep); }
static int seqpacket_pair(int keep[2]) { return make_socketpair(SOCK_SEQPACKET, keep); }
static int unix_listener(int keep[2]) { (void)keep; return unit_unix_listener(SOCK_STREAM, NULL); }
static int seqpacket_listener(int keep[2]) { (void)keep; return unit_unix_listener(SOCK_SEQPACKET, NULL); }
static int unix_bound(int keep[2]) { (void)keep; return unit_unix_bound(SOCK_STREAM, NULL); }
static int unix_fresh(int keep[2]) { (void)keep; return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); }
static int udp4(int keep[2]) { (void)keep; return unit_inet_listener(AF_INET, SOCK_DGRAM); }
static int tcp4_listener(int keep[2]) { (void)keep; return unit_inet_listener(AF_INET, SOCK_STREAM); }

static int tcp4_connected(int keep[2]) {
        struct sockaddr_in sin;
        socklen_t len = sizeof sin;
        int l = unit_inet_listener(AF_INET, SOCK_STREAM), c, a;

        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &len), 0);
        c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(connect(c, (struct sockaddr *)&sin, len), 0);
        a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(a, 0);
        keep[0] = l;
        keep[1] = c;
        return a;
}

static int fifo(int keep[2]) {
        char path[160];

        (void)keep;
        snprintf(path, sizeof path, "%s/fifo", unit_tmpdir());
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        /* O_RDWR: a FIFO opened for reading alone would wait for a writer. */
        return open(path, O_RDWR | O_CLOEXEC);
}

static int pipe_end(int keep[2]) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        keep[0] = p[1];
        return p[0];
}

static int regular_file(int keep[2]) { (void)keep; return unit_regular_file(); }
static int directory(int keep[2]) { (void)keep; return open(unit_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); }
static int dev_null(int keep[2]) { (void)keep; return open("/dev/null", O_RDWR | O_CLOEXEC); }
static int netlink(int keep[2]) { (void)keep; return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

static int closed_fd(int keep[2]) {
        int fd = dev_null(keep);
        close(fd);
        return fd;
}

static const struct sockinfo_row {
        const char *what;
        make_fd make;
        int rc;
        int family, type, protocol;
        enum sock_role role;
} rows[] = {
        { "socketpair stream", stream_pair, 0, AF_UNIX, SOCK_STREAM, 0, SOCK_ROLE_CONNECTED },
        { "socketpair datagram", dgram_pair, 0, AF_UNIX, SOCK_DGRAM, 0, SOCK_ROLE_DATAGRAM },
        { "socketpair seqpacket", seqpacket_pair, 0, AF_UNIX, SOCK_SEQPACKET, 0, SOCK_ROLE_CONNECTED },
        { "unix stream listener", unix_listener, 0, AF_UNIX, SOCK_STREAM, 0, SOCK_ROLE_LISTENING },
        { "unix seqpacket listener", seqpacket_listener, 0, AF_UNIX, SOCK_SEQPACKET, 0, SOCK_ROLE_LISTENING },
        { "udp on 127.0.0.1", udp4, 0, AF_INET, SOCK_DGRAM, IPPROTO_UDP, SOCK_ROLE_DATAGRAM },
        { "tcp listener on 127.0.0.1:0", tcp4_listener, 0, AF_INET, SOCK_STREAM, IPPROTO_TCP, SOCK_ROLE_LISTENING },
        { "accepted tcp connection", tcp4_connected, 0, AF_INET, SOCK_STREAM, IPPROTO_TCP, SOCK_ROLE_CONNECTED },
        { "fifo", fifo, 0, 0, 0, 0, SOCK_ROLE_FIFO },
        { "pipe", pipe_end, 0, 0, 0, 0, SOCK_ROLE_FIFO },
        /* A stream socket neither listening nor connected has nobody to serve. */
        { "unix stream bound, not listening", unix_bound, -ENOTCONN },
        { "unix stream never bound", unix_fresh, -ENOTCONN },
        { "regular file", regular_file, -ENOTSOCK },
        { "directory", directory, -ENOTSOCK },
        { "/dev/null", dev_null, -ENOTSOCK },
        { "netlink socket", netlink, -EPROTONOSUPPORT },
        { "closed fd", closed_fd, -EBADF },
};

START_TEST(sockinfo_table) {
        const struct sockinfo_row *row = &rows[_i];
        struct sockinfo info, sentinel;
        int keep[2] = { -1, -1 }, fd, r;
        char what[128];

        snprintf(what, sizeof what, "sockinfo row %d (%s)", _i, row->what);
        fd = row->make(keep);
        ck_assert_msg(fd >= 0, "%s: cannot make the fd: %s", what, strerror(fd < -1 ? -fd : errno));
        memset(&info, 0xa5, sizeof info);
        sentinel = info;
        r = sockinfo_get(fd, &info);
        ROW_INT(what, r, row->rc);
        if (r < 0)
                ck_assert_msg(memcmp(&info, &sentinel, sizeof info) == 0, "%s: ret written on failure", what);
        else {
                ROW_INT(what, info.family, row->family);
                ROW_INT(what, info.type, row->type);
                ROW_INT(what, info.protocol, row->protocol);
                ROW_INT(what, info.role, row->role);
        }
        if (row->make != closed_fd) {
                /* Looking must not close or change the fd. */
                ck_assert_msg(!unit_fd_closed(fd), "%s: sockinfo_get closed the fd", what);
                close(fd);
        }
        for (int k = 0; k < 2; k++)
                if (keep[k] >= 0)
                        close(keep[k]);
}
END_TEST

START_TEST(tcp6_listener) {
        struct sockinfo info;
        int fd = unit_inet_listener(AF_INET6, SOCK_STREAM);

        if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)
                return; /* no IPv6 here: nothing to check */
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(sockinfo_get(fd, &info), 0);
        ck_assert_int_eq(info.family, AF_INET6);
        ck_assert_int_eq(info.role, SOCK_ROLE_LISTENING);
        close(fd);
}
END_TEST

START_TEST(names) {
        ck_assert_str_eq(sock_role_name(SOCK_ROLE_LISTENING), "listening");
        ck_assert_str_eq(sock_role_name(SOCK_ROLE_CONNECTED), "connected");
        ck_assert_str_eq(sock_role_name(SOCK_ROLE_DATAGRAM), "datagram");
        ck_assert_str_eq(sock_role_name(SOCK_ROLE_FIFO), "fifo");
        ck_assert_str_eq(sock_role_name((enum sock_role)42), "unknown");
        ck_assert_str_eq(sock_family_name(AF_UNIX), "unix");
        ck_assert_str_eq(sock_family_name(AF_INET), "ipv4");
        ck_assert_str_eq(sock_family_name(AF_INET6), "ipv6");
        ck_assert_str_eq(sock_family_name(0), "fifo");
        ck_assert_str_eq(sock_family_name(AF_NETLINK), "unknown");
}
END_TEST

static Suite *sockinfo_suite(void) {
        Suite *s = suite_create("sockinfo");
        TCase *tc = tcase_create("sockinfo");

        tcase_add_loop_test(tc, sockinfo_table, 0, N_ROWS(rows));
        tcase_add_test(tc, tcp6_listener);
        tcase_add_test(tc, names);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(sockinfo_suite());
}
