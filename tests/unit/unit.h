/* unit.h: what the Check unit tests share: the runner, fd placement, temp dirs, real sockets. */
#pragma once
#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

/* fds 3 .. UNIT_RESERVED_FDS-1 are held on /dev/null before Check opens anything, so a test may
 * dup2 activation sockets onto 3, 4, ... without landing on Check's own result file. */
#define UNIT_RESERVED_FDS 16

/* Reserves the low fds, makes the temp root, runs the suite (CK_FORK and CK_VERBOSITY apply),
 * removes the temp root. Returns the process exit status. */
int unit_run(Suite *s);

/* Moves fd onto target (dup2, then closes fd); returns target. */
int unit_place_fd(int fd, int target);
/* Puts the /dev/null placeholder back on a reserved fd (after a test or the code closed it). */
void unit_release_fd(int target);
/* Points fd at /dev/null. */
void unit_null_fd(int fd);
bool unit_fd_closed(int fd);
/* How many of fds 0-1023 are open: a leak check around a call. */
int unit_count_fds(void);
bool unit_fd_cloexec(int fd);
/* fd and path are the same file (device and inode). */
bool unit_fd_is_path(int fd, const char *path);

/* A fresh directory under the run's temp root (removed by unit_run even after a failure);
 * the result lives until the next call. */
const char *unit_tmpdir(void);
/* Creates (or truncates) a file holding text; fails the test if it cannot. */
void unit_write_file(const char *path, const char *text);

/* Real sockets, close-on-exec. Each returns the fd, or -errno. */
int unit_unix_listener(int type, const char *path); /* path NULL: autobound abstract name */
int unit_unix_bound(int type, const char *path);    /* bound, not listening */
int unit_inet_listener(int family, int type);       /* loopback, port 0; listening if a stream */
int unit_connect_unix(const char *path);
int unit_regular_file(void);                         /* an unlinked temp file, O_RDWR */

/* --- a child process on the other end of a socket, talking to the test over a control pair --- */

struct unit_child {
        pid_t pid;
        int ctl; /* the test's end of the control socketpair */
};

/* Runs fn(ctl, arg) in a forked child, which then _exit(0)s; fn talks with unit_child_say() and
 * unit_child_hear() on ctl, and exits non-zero (unit_child_finish() reports it) when it fails. */
struct unit_child unit_child_spawn(void (*fn)(int ctl, const void *arg), const void *arg);
/* In the child: drops to uid:gid (no supplementary groups), or _exit(90). */
void unit_become(uid_t uid, gid_t gid);
/* In the child: one byte to the test, or _exit(91); one byte from it (0 at EOF). */
void unit_child_say(int ctl, char c);
char unit_child_hear(int ctl);
/* In the test: the child's next byte must be want. */
void unit_child_expect(struct unit_child *c, char want);
/* In the test: a byte the child waits for ("go on"). */
void unit_child_tell(struct unit_child *c);
/* In the test: closes the control pair and reaps the child, which must have exited 0. */
void unit_child_finish(struct unit_child *c);
/* getsockname(), which must succeed; returns the length. */
socklen_t unit_sockname(int fd, struct sockaddr_storage *ss);

/* Captures what is written to fd (1 or 2) between begin and end; end returns the text
 * (static buffer, valid until the next end). */
void unit_capture_begin(int fd);
const char *unit_capture_end(int fd);

/* Table assertions that name the row (`row` is a string saying which). */
#define ROW_INT(row, got, want)                                                                     \
        ck_assert_msg((long long)(got) == (long long)(want), "%s: %s is %lld, expected %lld", (row), #got, \
                      (long long)(got), (long long)(want))
#define ROW_STR(row, got, want)                                                                     \
        do {                                                                                        \
                const char *got_ = (got), *want_ = (want);                                          \
                ck_assert_msg((!got_ && !want_) || (got_ && want_ && strcmp(got_, want_) == 0),     \
                              "%s: %s is '%s', expected '%s'", (row), #got, got_ ? got_ : "(null)", \
                              want_ ? want_ : "(null)");                                            \
        } while (0)
