/* test_listen.c: activation_listen binds --listen sockets, and never takes a path that is in use. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activation.h"
#include "unit.h"

static char path[200];

static void setup(void) {
        snprintf(path, sizeof path, "%s/agent.sock", unit_tmpdir());
}

/* parse_address(prefix + arg), as --listen would. */
static struct address address(const char *prefix, const char *arg) {
        struct address a;
        char s[256];

        snprintf(s, sizeof s, "%s%s", prefix, arg);
        ck_assert_msg(parse_address(s, &a) == 0, "parse_address(%s)", s);
        return a;
}

static bool exists(const char *p) {
        struct stat st;
        return lstat(p, &st) == 0;
}

START_TEST(unix_path) {
        struct address a = address("unix:", path);
        struct listener_set set = {};
        struct sockinfo info;
        char label[256];
        mode_t old = umask(0);
        struct stat st;
        int fd, c;

        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        /* The process umask is put back; the file is 0600 whatever the umask was. */
        ck_assert_int_eq(umask(old), 0);
        ck_assert_uint_eq(set.n, 1);
        fd = set.v[0].fd;
        snprintf(label, sizeof label, "unix:%s", path);
        ck_assert_str_eq(set.v[0].name, label);
        ck_assert_int_eq(set.v[0].info.family, AF_UNIX);
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_LISTENING);
        ck_assert_pstr_eq(set.v[0].unlink_path, path);
        ck_assert(unit_fd_cloexec(fd));
        ck_assert_int_eq(sockinfo_get(fd, &info), 0);
        ck_assert_int_eq(info.role, SOCK_ROLE_LISTENING);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        c = unit_connect_unix(path);
        ck_assert_int_ge(c, 0);
        close(c);
        listener_set_free(&set);
        ck_assert(unit_fd_closed(fd));
        ck_assert_msg(!exists(path), "%s left behind", path);
}
END_TEST

START_TEST(stale_socket_replaced) {
        struct address a = address("unix:", path);
        struct listener_set set = {};
        int dead = unit_unix_listener(SOCK_STREAM, path), c;

        ck_assert_int_ge(dead, 0);
        close(dead); /* the file stays, nobody behind it */
        ck_assert(exists(path));
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        c = unit_connect_unix(path);
        ck_assert_msg(c >= 0, "the new socket does not answer: %s", strerror(-c));
        close(c);
        listener_set_free(&set);
}
END_TEST

START_TEST(live_socket_kept) {
        struct address a = address("unix:", path);
        struct listener_set set = {};
        int live = unit_unix_listener(SOCK_STREAM, path), c, accepted;

        ck_assert_int_ge(live, 0);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), -EADDRINUSE);
        ck_assert_uint_eq(set.n, 0);
        ck_assert_msg(exists(path), "a live socket file was removed");
        /* Still the other server's: a client reaches it. */
        c = unit_connect_unix(path);
        ck_assert_int_ge(c, 0);
        accepted = accept4(live, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        /* The probe's own connection may come first: one of the two must be there. */
        ck_assert_int_ge(accepted, 0);
        close(accepted);
        close(c);
        close(live);
}
END_TEST

/* Regression: the probe connect() in clear_stale_socket once blocked, so a live server with a
 * full accept queue (alive but stuck) made pylaunchd hang at start instead of failing with
 * "another process is serving". The probe is non-blocking; EAGAIN means someone is there. */
START_TEST(live_socket_with_full_backlog) {
        struct address a = address("unix:", path);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int live = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), clients[8], n = 0, status;
        pid_t pid;

        ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
        memcpy(sa.sun_path, path, strlen(path));
        ck_assert_int_eq(bind(live, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(listen(live, 0), 0);
        for (; n < 8; n++) {
                clients[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (connect(clients[n], (struct sockaddr *)&sa, sizeof sa) < 0) {
                        ck_assert_int_eq(errno, EAGAIN); /* the queue is full now */
                        break;
                }
        }
        ck_assert_int_lt(n, 8);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct listener_set set = {};
                /* Check's own SIGALRM handler (inherited) would kill the whole test: not ours. */
                signal(SIGALRM, SIG_DFL);
                alarm(2);
                _exit(activation_listen(&a, 1, 16, geteuid(), &set) == -EADDRINUSE ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(!(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM),
                      "activation_listen hung on a live socket whose backlog is full");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "expected -EADDRINUSE");
        ck_assert(exists(path));
        for (int i = 0; i <= n; i++)
                close(clients[i]);
        close(live);
}
END_TEST

/* Regression: a relative --listen path was kept relative in unlink_path, so after a chdir (an
 * agent's os.chdir("/"), say) the exit removed whatever had that name in the new directory and
 * left our socket file behind. The path is made absolute at bind time. */
START_TEST(relative_path_after_chdir) {
        struct address a = address("unix:", "rel.sock");
        struct listener_set set = {};
        char bound_dir[160], other_dir[160], bound[200], other[200];
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ck_assert_int_ge(cwd, 0);
        snprintf(bound_dir, sizeof bound_dir, "%s", unit_tmpdir());
        snprintf(other_dir, sizeof other_dir, "%s", unit_tmpdir());
        snprintf(bound, sizeof bound, "%s/rel.sock", bound_dir);
        snprintf(other, sizeof other, "%s/rel.sock", other_dir);
        ck_assert_int_eq(chdir(bound_dir), 0);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        ck_assert(exists(bound));
        ck_assert_int_eq(chdir(other_dir), 0);
        unit_write_file("rel.sock", "not a socket, not ours");
        listener_set_free(&set);
        ck_assert_int_eq(fchdir(cwd), 0);
        close(cwd);
        ck_assert_msg(exists(other), "removed %s, a file pylaunchd did not create", other);
        ck_assert_msg(!exists(bound), "left its socket file %s behind", bound);
}
END_TEST

START_TEST(regular_file_untouched) {
        struct address a = address("unix:", path);
        struct listener_set set = {};
        char buf[32] = "";
        struct stat st;
        int fd;

        unit_write_file(path, "precious");
        ck_assert_int_eq(chmod(path, 0640), 0);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), -EEXIST);
        ck_assert_uint_eq(set.n, 0);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(read(fd, buf, sizeof buf - 1), 8);
        ck_assert_str_eq(buf, "precious");
        close(fd);
}
END_TEST

/* A link at the path is refused as unsafe (exit 77), never followed nor removed. */
START_TEST(symlink_untouched) {
        struct address a = address("unix:", path);
        struct listener_set set = {};
        struct stat st;

        ck_assert_int_eq(symlink("/nonexistent/target.sock", path), 0);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), -EPERM);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
}
END_TEST

/* Another user's socket file, even one nobody serves, is theirs: refused, not removed. */
START_TEST(stale_socket_of_another_user_kept) {
        struct address a = address("unix:", path);
        struct listener_set set = {};
        struct stat st;
        int dead = unit_unix_listener(SOCK_STREAM, path);

        ck_assert_int_ge(dead, 0);
        close(dead);
        ck_assert_int_eq(chown(path, 4242, 4242), 0);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), -EPERM);
        ck_assert_uint_eq(set.n, 0);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_uint_eq(st.st_uid, 4242);
        /* For --user 4242 (root starting a daemon that becomes 4242), it is ours: replaced. */
        ck_assert_int_eq(activation_listen(&a, 1, 16, 4242, &set), 1);
        listener_set_free(&set);
}
END_TEST

/* A directory everyone can write (not sticky): someone could put their file at the name first. */
START_TEST(unsafe_directory_refused) {
        struct address a[2];
        struct listener_set set = {};
        char d[256], sock[300], fifo[300];

        snprintf(d, sizeof d, "%s/open", unit_tmpdir());
        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_eq(chmod(d, 0777), 0);
        snprintf(sock, sizeof sock, "%s/agent.sock", d);
        snprintf(fifo, sizeof fifo, "%s/ctl", d);
        a[0] = address("unix:", sock);
        a[1] = address("fifo:", fifo);
        ck_assert_int_eq(activation_listen(&a[0], 1, 16, geteuid(), &set), -EPERM);
        ck_assert_int_eq(activation_listen(&a[1], 1, 16, geteuid(), &set), -EPERM);
        ck_assert_uint_eq(set.n, 0);
        ck_assert(!exists(sock) && !exists(fifo));
        /* Root's sticky directory (/tmp) is fine for both: bind() and mkfifo() only make new names. */
        ck_assert_int_eq(chmod(d, 01777), 0);
        ck_assert_int_eq(activation_listen(a, 2, 16, geteuid(), &set), 2);
        listener_set_free(&set);
}
END_TEST

/* fifo: on another user's FIFO (the attacker's, 0666): refused, not opened. */
START_TEST(fifo_of_another_user_refused) {
        struct address a;
        struct listener_set set = {};
        char fifo[300];

        snprintf(fifo, sizeof fifo, "%s/ctl", unit_tmpdir());
        ck_assert_int_eq(mkfifo(fifo, 0666), 0);
        ck_assert_int_eq(chown(fifo, 4242, 4242), 0);
        ck_assert_int_eq(chmod(fifo, 0666), 0);
        a = address("fifo:", fifo);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), -EPERM);
        ck_assert_uint_eq(set.n, 0);
        ck_assert(exists(fifo));
}
END_TEST

/* The socket file bind() made is remembered, for handing it to --user (daemon.c). */
START_TEST(socket_file_remembered) {
        struct address a = address("unix:", path);
        struct listener_set set = {};
        struct stat st;

        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(set.v[0].file_dev == st.st_dev && set.v[0].file_ino == st.st_ino);
        listener_set_free(&set);
}
END_TEST

START_TEST(missing_directory) {
        struct address a;
        struct listener_set set = {};
        char p[256];

        snprintf(p, sizeof p, "%s/no/such/dir/agent.sock", unit_tmpdir());
        a = address("unix:", p);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), -ENOENT);
        ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(abstract_name) {
        struct listener_set set = {};
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct address a;
        char name[64];
        int c;

        snprintf(name, sizeof name, "pylaunchd-unit-%d", (int)getpid());
        a = address("unix:@", name);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        ck_assert_ptr_null(set.v[0].unlink_path);
        ck_assert_msg(!exists(a.path), "abstract name created a file '%s'", a.path);
        /* Reachable under exactly that name: leading NUL, no trailing one. */
        memcpy(sa.sun_path + 1, name, strlen(name));
        c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))), 0);
        close(c);
        listener_set_free(&set);
}
END_TEST

static unsigned bound_port(int fd) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;

        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
        return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Port 0 (any free port) cannot come from the command line, which wants 1-65535. */
START_TEST(tcp_loopback_any_port) {
        struct address a = { .kind = ADDRESS_TCP, .host = "127.0.0.1", .port = 0 };
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct listener_set set = {};
        int c;

        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        ck_assert_str_eq(set.v[0].name, "tcp:127.0.0.1:0");
        ck_assert_int_eq(set.v[0].info.family, AF_INET);
        ck_assert_int_eq(set.v[0].info.role, SOCK_ROLE_LISTENING);
        ck_assert_int_eq(set.v[0].info.protocol, IPPROTO_TCP);
        ck_assert_ptr_null(set.v[0].unlink_path);
        ck_assert(unit_fd_cloexec(set.v[0].fd));
        sin.sin_port = htons((uint16_t)bound_port(set.v[0].fd));
        ck_assert_uint_ne(sin.sin_port, 0);
        c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(connect(c, (struct sockaddr *)&sin, sizeof sin), 0);
        close(c);
        listener_set_free(&set);
}
END_TEST

START_TEST(tcp_v6_loopback) {
        struct address a = { .kind = ADDRESS_TCP, .host = "::1", .port = 0 };
        struct listener_set set = {};
        int probe = unit_inet_listener(AF_INET6, SOCK_STREAM);

        if (probe < 0)
                return; /* no IPv6 here */
        close(probe);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        ck_assert_str_eq(set.v[0].name, "tcp:[::1]:0");
        ck_assert_int_eq(set.v[0].info.family, AF_INET6);
        listener_set_free(&set);
}
END_TEST

/* tcp:[::]:PORT is IPv6 only (the kernel sets V6ONLY itself for ::1, not for ::). */
START_TEST(tcp_v6_any_is_v6_only) {
        struct address a = { .kind = ADDRESS_TCP, .host = "::", .port = 0 };
        struct listener_set set = {};
        int probe = unit_inet_listener(AF_INET6, SOCK_STREAM), v6only = 0;
        socklen_t len = sizeof v6only;

        if (probe < 0)
                return; /* no IPv6 here */
        close(probe);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), 1);
        ck_assert_str_eq(set.v[0].name, "tcp:[::]:0");
        ck_assert_int_eq(getsockopt(set.v[0].fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
        ck_assert_int_eq(v6only, 1);
        listener_set_free(&set);
}
END_TEST

START_TEST(tcp_port_in_use) {
        int other = unit_inet_listener(AF_INET, SOCK_STREAM);
        struct address a = { .kind = ADDRESS_TCP, .host = "127.0.0.1" };
        struct listener_set set = {};

        ck_assert_int_ge(other, 0);
        a.port = (uint16_t)bound_port(other);
        ck_assert_int_eq(activation_listen(&a, 1, 16, geteuid(), &set), -EADDRINUSE);
        ck_assert_uint_eq(set.n, 0);
        close(other);
}
END_TEST

START_TEST(several_addresses) {
        struct address a[2] = { address("unix:", path), { .kind = ADDRESS_TCP, .host = "127.0.0.1" } };
        struct listener_set set = {};

        ck_assert_int_eq(activation_listen(a, 2, 16, geteuid(), &set), 2);
        ck_assert_int_eq(set.v[0].info.family, AF_UNIX);
        ck_assert_int_eq(set.v[1].info.family, AF_INET);
        listener_set_free(&set);
        ck_assert(!exists(path));
}
END_TEST

/* The second address fails: an error, and the first's socket file still goes with the set. */
START_TEST(second_address_fails) {
        char p[256];
        struct address a[2] = { address("unix:", path) };
        struct listener_set set = {};

        snprintf(p, sizeof p, "%s/missing/agent.sock", unit_tmpdir());
        a[1] = address("unix:", p);
        ck_assert_int_lt(activation_listen(a, 2, 16, geteuid(), &set), 0);
        listener_set_free(&set);
        ck_assert_msg(!exists(path), "%s left behind after a failed --listen", path);
}
END_TEST

static Suite *listen_suite(void) {
        Suite *s = suite_create("listen");
        TCase *tc = tcase_create("unix");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, unix_path);
        tcase_add_test(tc, stale_socket_replaced);
        tcase_add_test(tc, live_socket_kept);
        tcase_add_test(tc, live_socket_with_full_backlog);
        tcase_add_test(tc, relative_path_after_chdir);
        tcase_add_test(tc, regular_file_untouched);
        tcase_add_test(tc, symlink_untouched);
        tcase_add_test(tc, missing_directory);
        tcase_add_test(tc, stale_socket_of_another_user_kept);
        tcase_add_test(tc, unsafe_directory_refused);
        tcase_add_test(tc, fifo_of_another_user_refused);
        tcase_add_test(tc, socket_file_remembered);
        tcase_add_test(tc, abstract_name);
        suite_add_tcase(s, tc);

        tc = tcase_create("tcp");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, tcp_loopback_any_port);
        tcase_add_test(tc, tcp_v6_loopback);
        tcase_add_test(tc, tcp_v6_any_is_v6_only);
        tcase_add_test(tc, tcp_port_in_use);
        tcase_add_test(tc, several_addresses);
        tcase_add_test(tc, second_address_fails);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(listen_suite());
}
