/* test_safefile.c: safefile.c on real files, links, hard links, FIFOs, sockets and directories
 * with real modes, owners and ACLs (root runs these, so chown to uid 4242 works); and its
 * callers that create files: daemon_lock (--pidfile) and the crash guard. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl.h"
#include "crashguard.h"
#include "daemon.h"
#include "exitcode.h"
#include "safefile.h"
#include "unit.h"

#define OTHER_UID 4242
#define SECRET "root's secret\n"

static char dir[256], why[8192];

static void setup(void) {
        ck_assert_msg(geteuid() == 0, "these tests chown files to other uids: run them as root");
        snprintf(dir, sizeof dir, "%s", unit_tmpdir());
        why[0] = '\0';
        /* A refusal must never hang on a FIFO: fail instead. Check's own SIGALRM is not ours. */
        signal(SIGALRM, SIG_DFL);
        alarm(20);
}

/* d/name, in one of a few rotating buffers (so in(in(d, "a"), "b") works). */
static const char *in(const char *d, const char *name) {
        static char buf[16][512];
        static int n;
        char joined[512];
        char *p = buf[n++ % 16];

        snprintf(joined, sizeof joined, "%s/%s", d, name);
        memcpy(p, joined, sizeof joined);
        return p;
}

/* A root-only file (0600) holding SECRET: what a planted link points at. */
static const char *secret_file(void) {
        static char p[512];
        const char *other = unit_tmpdir();

        snprintf(p, sizeof p, "%s/secret", other);
        unit_write_file(p, SECRET);
        ck_assert_int_eq(chmod(p, 0600), 0);
        return p;
}

/* path still holds SECRET, root's, 0600, one link. */
static void assert_secret_intact(const char *path) {
        char buf[64] = "";
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_ge(read(fd, buf, sizeof buf - 1), 0);
        close(fd);
        ck_assert_str_eq(buf, SECRET);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
}

static bool is_link(const char *p) {
        struct stat st;
        return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

static bool exists(const char *p) {
        struct stat st;
        return lstat(p, &st) == 0;
}

static void assert_why(const char *what) {
        ck_assert_msg(strstr(why, what), "reason '%s' lacks '%s'", why, what);
}

static void set_acl_user_write(const char *path, uint32_t uid, uint16_t mask) {
        unsigned char v[4 + 5 * 8] = { 2, 0, 0, 0 };
        const uint16_t tags[] = { ACL_XATTR_USER_OBJ, ACL_XATTR_USER, ACL_XATTR_GROUP_OBJ, ACL_XATTR_MASK,
                                  ACL_XATTR_OTHER };
        const uint16_t perms[] = { 6, 6, 4, mask, 4 };

        for (int i = 0; i < 5; i++) {
                unsigned char *e = v + 4 + 8 * i;
                uint32_t id = tags[i] == ACL_XATTR_USER ? uid : 0xffffffffu;
                e[0] = (unsigned char)tags[i], e[1] = 0, e[2] = (unsigned char)perms[i], e[3] = 0;
                for (int b = 0; b < 4; b++)
                        e[4 + b] = (unsigned char)(id >> (8 * b));
        }
        ck_assert_msg(setxattr(path, ACL_XATTR_NAME, v, sizeof v, 0) == 0, "setxattr: %s", strerror(errno));
}

/* --- regular files: the pidfile, --log, the crash guard's counts ------------------------------ */

START_TEST(regular_created) {
        const char *p = in(dir, "agent.pid");
        struct stat st;
        int fd = -1, fl;

        ck_assert_int_eq(safefile_open_regular(p, O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), 0);
        ck_assert(unit_fd_is_path(fd, p));
        ck_assert(unit_fd_cloexec(fd));
        fl = fcntl(fd, F_GETFL);
        ck_assert_msg(!(fl & O_NONBLOCK), "O_NONBLOCK left on");
        ck_assert_int_eq(fl & O_ACCMODE, O_RDWR);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 0777, 0644 & ~(mode_t)umask(umask(0)));
        close(fd);
}
END_TEST

/* The flags asked for hold, and O_TRUNC acts only on a file that passed. */
START_TEST(regular_existing_truncated_and_appended) {
        const char *p = in(dir, "old.pid");
        char buf[32] = "";
        int fd = -1;

        unit_write_file(p, "12345\n");
        ck_assert_int_eq(safefile_open_regular(p, O_RDWR | O_CREAT | O_TRUNC, 0644, 0, &fd, why, sizeof why), 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
        close(fd);
        unit_write_file(p, "one\n");
        ck_assert_int_eq(safefile_open_regular(p, O_WRONLY | O_CREAT | O_APPEND, 0600, 0, &fd, why, sizeof why), 0);
        ck_assert(fcntl(fd, F_GETFL) & O_APPEND);
        ck_assert_int_eq(write(fd, "two\n", 4), 4);
        close(fd);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(read(fd, buf, sizeof buf - 1), 8);
        ck_assert_str_eq(buf, "one\ntwo\n");
        close(fd);
}
END_TEST

/* The attack of the issue: a link planted at the pidfile's path, to a root-only file. Nothing
 * is followed, truncated or created, whatever the flags. */
START_TEST(regular_symlink_refused) {
        static const int flags[] = { O_RDWR | O_CREAT, O_RDWR | O_CREAT | O_TRUNC, O_WRONLY | O_CREAT | O_APPEND };
        const char *target = secret_file(), *p = in(dir, "agent.pid"), *dangling = in(dir, "dangling.pid"),
                   *missing = in(dir, "created-through-link");
        int fd = -1;

        ck_assert_int_eq(symlink(target, p), 0);
        ck_assert_int_eq(symlink(missing, dangling), 0);
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
                ck_assert_int_eq(safefile_open_regular(p, flags[i], 0644, 0, &fd, why, sizeof why), -EPERM);
                assert_why("agent.pid is a symbolic link");
                assert_why("remove it");
                ck_assert_int_eq(safefile_open_regular(dangling, flags[i], 0644, 0, &fd, why, sizeof why), -EPERM);
        }
        ck_assert_int_eq(fd, -1);
        assert_secret_intact(target);
        ck_assert(is_link(p));
        ck_assert_msg(!exists(missing), "created a file through a dangling link");
}
END_TEST

/* A hard link is the other file itself: writing it writes that file. */
START_TEST(regular_hard_link_refused) {
        const char *target = secret_file(), *p = in(dir, "agent.pid");
        int fd = -1;

        ck_assert_int_eq(link(target, p), 0);
        ck_assert_int_eq(safefile_open_regular(p, O_RDWR | O_CREAT | O_TRUNC, 0644, 0, &fd, why, sizeof why), -EPERM);
        assert_why("has 2 hard links");
        assert_secret_intact(target);
}
END_TEST

/* A FIFO put at the path must not block us (O_NONBLOCK) and is refused; so are the rest. */
START_TEST(regular_wrong_kind_refused) {
        const char *fifo = in(dir, "fifo.log"), *sub = in(dir, "dir.log");
        int fd = -1;

        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
        ck_assert_int_eq(safefile_open_regular(fifo, O_WRONLY | O_CREAT | O_APPEND, 0600, 0, &fd, why, sizeof why),
                         -EPERM);
        assert_why("is a FIFO, not a regular file");
        ck_assert_int_eq(safefile_open_regular(sub, O_WRONLY | O_CREAT, 0600, 0, &fd, why, sizeof why), -EPERM);
        assert_why("is a directory");
        ck_assert_int_eq(safefile_open_regular("/dev/null", O_WRONLY | O_CREAT, 0600, 0, &fd, why, sizeof why), -EPERM);
        assert_why("is a device");
}
END_TEST

/* Ours: uid's or root's. */
START_TEST(regular_owner) {
        const char *p = in(dir, "agent.pid");
        int fd = -1;

        unit_write_file(p, "");
        ck_assert_int_eq(chown(p, OTHER_UID, OTHER_UID), 0);
        ck_assert_int_eq(safefile_open_regular(p, O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), -EPERM);
        assert_why("belongs to uid 4242, not to us or root");
        /* For --user 4242 (uid 4242) the file is ours; root's private directory above is fine. */
        ck_assert_int_eq(safefile_open_regular(p, O_RDWR | O_CREAT, 0644, OTHER_UID, &fd, why, sizeof why), 0);
        close(fd);
        ck_assert_int_eq(chown(p, 0, 0), 0);
        ck_assert_int_eq(safefile_open_regular(p, O_RDWR | O_CREAT, 0644, OTHER_UID, &fd, why, sizeof why), 0);
        close(fd);
}
END_TEST

/* Someone else could write the PID an init script will kill: refused, by mode or by ACL. */
START_TEST(regular_writable_by_others) {
        const char *p = in(dir, "agent.pid"), *q = in(dir, "acl.pid");
        int fd = -1;

        unit_write_file(p, "1\n");
        ck_assert_int_eq(chmod(p, 0666), 0);
        ck_assert_int_eq(safefile_open_regular(p, O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), -EPERM);
        assert_why("is writable by everyone (mode 0666)");
        unit_write_file(q, "1\n");
        set_acl_user_write(q, OTHER_UID, 6);
        ck_assert_int_eq(safefile_open_regular(q, O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), -EPERM);
        assert_why("has an ACL that lets uid 4242 write");
        set_acl_user_write(q, OTHER_UID, 4);
        ck_assert_int_eq(safefile_open_regular(q, O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), 0);
        close(fd);
}
END_TEST

static const struct dir_row {
        const char *what;
        mode_t mode;
        uid_t owner;
        uid_t uid; /* ours */
        bool regular_ok, special_ok; /* a regular file; a socket or FIFO (sticky allowed) */
        const char *why;
} dir_rows[] = {
        { "root's 0755", 0755, 0, 0, true, true, NULL },
        { "root's 0700, for --user 4242", 0700, 0, OTHER_UID, true, true, NULL },
        { "4242's 0755, for --user 4242", 0755, OTHER_UID, OTHER_UID, true, true, NULL },
        { "4242's 0755, for root", 0755, OTHER_UID, 0, false, false, "belongs to uid 4242" },
        { "root's 0777", 0777, 0, 0, false, false, "is writable by everyone (mode 0777)" },
        { "root's 1777 (/tmp)", 01777, 0, 0, false, true, "is writable by everyone (mode 1777)" },
        { "4242's 1777", 01777, OTHER_UID, OTHER_UID, false, false, "is writable by everyone (mode 1777)" },
        { "root's 0775, group 4242", 0775, 0, 0, false, false, "is writable by its group (mode 0775)" },
};

/* The directory the file is made in: only we (or root) may change its entries; sockets and
 * FIFOs, made new by bind() and mkfifo(), may also go in root's sticky /tmp. */
START_TEST(directory_table) {
        const struct dir_row *row = &dir_rows[_i];
        const char *d = in(dir, "d");
        int fd = -1, r;

        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_eq(chown(d, row->owner, row->mode == 0775 ? OTHER_UID : row->owner), 0);
        ck_assert_int_eq(chmod(d, row->mode), 0);
        r = safefile_open_regular(in(d, "x.pid"), O_RDWR | O_CREAT, 0644, row->uid, &fd, why, sizeof why);
        ck_assert_msg(r == (row->regular_ok ? 0 : -EPERM), "%s, regular file: %d (%s)", row->what, r, why);
        if (!row->regular_ok) {
                ck_assert_msg(strstr(why, d) && strstr(why, row->why), "%s: reason '%s'", row->what, why);
                ck_assert_msg(strstr(why, "use /run/NAME/ or another directory only you"), "%s: no fix in '%s'",
                              row->what, why);
                ck_assert_msg(!exists(in(d, "x.pid")), "%s: created the file anyway", row->what);
        } else
                close(fd);
        fd = -1;
        r = safefile_open_fifo(in(d, "x.fifo"), row->uid, &fd, why, sizeof why);
        ck_assert_msg(r == (row->special_ok ? 0 : -EPERM), "%s, FIFO: %d (%s)", row->what, r, why);
        if (fd >= 0)
                close(fd);
        else
                ck_assert_msg(strstr(why, row->why) && strstr(why, "sticky one such as /tmp"), "%s: reason '%s'",
                              row->what, why);
        r = safefile_check_socket_path(in(d, "x.sock"), row->uid, why, sizeof why);
        ck_assert_msg(r == (row->special_ok ? 0 : -EPERM), "%s, socket: %d (%s)", row->what, r, why);
}
END_TEST

/* A link on the way to the directory leads where its owner says: fine when that is us or root
 * (/var/run -> /run) in a directory nobody else can change; not otherwise. */
START_TEST(directory_links) {
        const char *real = in(dir, "real"), *mine = in(dir, "mine"), *theirs = in(dir, "theirs"),
                   *open_dir = in(dir, "open"), *in_open;
        int fd = -1;

        ck_assert_int_eq(mkdir(real, 0755), 0);
        ck_assert_int_eq(symlink(real, mine), 0);
        ck_assert_int_eq(safefile_open_regular(in(mine, "a.pid"), O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), 0);
        close(fd);
        ck_assert(exists(in(real, "a.pid")));
        ck_assert_int_eq(symlink(real, theirs), 0);
        ck_assert_int_eq(lchown(theirs, OTHER_UID, OTHER_UID), 0);
        ck_assert_int_eq(safefile_open_regular(in(theirs, "b.pid"), O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why),
                         -EPERM);
        assert_why("theirs is a symbolic link of uid 4242's");
        ck_assert_int_eq(safefile_check_socket_path(in(theirs, "b.sock"), 0, why, sizeof why), -EPERM);
        ck_assert(!exists(in(real, "b.pid")));
        /* Root's own link, but in a directory everyone can write: it could be swapped. */
        ck_assert_int_eq(mkdir(open_dir, 0777), 0);
        ck_assert_int_eq(chmod(open_dir, 0777), 0);
        in_open = in(open_dir, "link");
        ck_assert_int_eq(symlink(real, in_open), 0);
        ck_assert_int_eq(safefile_open_regular(in(in_open, "c.pid"), O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why),
                         -EPERM);
        assert_why("could replace the symbolic link");
        ck_assert(!exists(in(real, "c.pid")));
}
END_TEST

START_TEST(relative_and_bad_paths) {
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1;

        ck_assert_int_eq(chdir(dir), 0);
        ck_assert_int_eq(safefile_open_regular("rel.pid", O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), 0);
        close(fd);
        ck_assert(exists(in(dir, "rel.pid")));
        ck_assert_int_eq(safefile_open_regular("sub/", O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why), -EISDIR);
        ck_assert_int_eq(safefile_open_regular("no/such/x.pid", O_RDWR | O_CREAT, 0644, 0, &fd, why, sizeof why),
                         -ENOENT);
        ck_assert_int_eq(fchdir(cwd), 0);
        close(cwd);
}
END_TEST

/* --- FIFOs: --listen fifo: ----------------------------------------------------------------------- */

START_TEST(fifo_created_and_reused) {
        const char *p = in(dir, "ctl");
        struct stat st;
        int fd = -1, fl;

        ck_assert_int_eq(safefile_open_fifo(p, 0, &fd, why, sizeof why), 0);
        ck_assert(unit_fd_is_path(fd, p));
        ck_assert(unit_fd_cloexec(fd));
        fl = fcntl(fd, F_GETFL);
        ck_assert_int_eq(fl & O_ACCMODE, O_RDWR);
        ck_assert(fl & O_NONBLOCK);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISFIFO(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        close(fd);
        /* Left by an earlier run: ours, 0600. */
        ck_assert_int_eq(safefile_open_fifo(p, 0, &fd, why, sizeof why), 0);
        close(fd);
}
END_TEST

static const struct fifo_row {
        const char *what;
        mode_t mode;
        uid_t owner;
        gid_t group;
        uid_t uid;
        int rc;
        const char *why;
} fifo_rows[] = {
        { "ours, 0600", 0600, 0, 0, 0, 0, NULL },
        { "ours, 0644 (others may read only)", 0644, 0, 0, 0, 0, NULL },
        { "root's, for --user 4242", 0600, 0, 0, OTHER_UID, 0, NULL },
        { "4242's, for --user 4242", 0600, OTHER_UID, OTHER_UID, OTHER_UID, 0, NULL },
        { "another user's, 0666", 0666, OTHER_UID, OTHER_UID, 0, -EPERM, "belongs to uid 4242, not to us or root" },
        { "another user's, 0600", 0600, OTHER_UID, OTHER_UID, 0, -EPERM, "belongs to uid 4242" },
        { "ours, 0622", 0622, 0, 0, 0, -EPERM, "is writable by everyone (mode 0622)" },
        { "ours, 0602", 0602, 0, 0, 0, -EPERM, "is writable by everyone (mode 0602)" },
        { "ours, 0620, group 4242", 0620, 0, OTHER_UID, 0, -EPERM, "is writable by its group (mode 0620)" },
};

START_TEST(fifo_table) {
        const struct fifo_row *row = &fifo_rows[_i];
        const char *p = in(dir, "ctl");
        int fd = -1, r;

        ck_assert_int_eq(mkfifo(p, 0600), 0);
        ck_assert_int_eq(chown(p, row->owner, row->group), 0);
        ck_assert_int_eq(chmod(p, row->mode), 0);
        r = safefile_open_fifo(p, row->uid, &fd, why, sizeof why);
        ck_assert_msg(r == row->rc, "%s: %d, want %d (%s)", row->what, r, row->rc, why);
        if (r == 0)
                close(fd);
        else {
                ck_assert_msg(strstr(why, row->why) && strstr(why, p), "%s: reason '%s'", row->what, why);
                ck_assert_int_eq(fd, -1);
        }
}
END_TEST

START_TEST(fifo_acl) {
        const char *p = in(dir, "ctl");
        int fd = -1;

        ck_assert_int_eq(mkfifo(p, 0600), 0);
        set_acl_user_write(p, OTHER_UID, 6);
        ck_assert_int_eq(safefile_open_fifo(p, 0, &fd, why, sizeof why), -EPERM);
        assert_why("ctl has an ACL that lets uid 4242 write");
        set_acl_user_write(p, OTHER_UID, 4);
        ck_assert_int_eq(safefile_open_fifo(p, 0, &fd, why, sizeof why), 0);
        close(fd);
}
END_TEST

/* A link at the path, even to a FIFO of ours, is not followed; a hard link is another name. */
START_TEST(fifo_links_refused) {
        const char *real = in(dir, "real.fifo"), *sym = in(dir, "sym.fifo"), *hard = in(dir, "hard.fifo");
        int fd = -1;

        ck_assert_int_eq(mkfifo(real, 0600), 0);
        ck_assert_int_eq(symlink(real, sym), 0);
        ck_assert_int_eq(safefile_open_fifo(sym, 0, &fd, why, sizeof why), -EPERM);
        assert_why("sym.fifo is a symbolic link");
        ck_assert(is_link(sym));
        ck_assert_int_eq(link(real, hard), 0);
        ck_assert_int_eq(safefile_open_fifo(hard, 0, &fd, why, sizeof why), -EPERM);
        assert_why("has 2 hard links");
}
END_TEST

START_TEST(fifo_not_a_fifo) {
        const char *p = in(dir, "plain");
        int fd = -1;

        unit_write_file(p, "precious");
        ck_assert_int_eq(safefile_open_fifo(p, 0, &fd, why, sizeof why), -EEXIST);
        ck_assert_int_eq(fd, -1);
}
END_TEST

/* --- sockets: --listen unix: ----------------------------------------------------------------------- */

START_TEST(socket_path) {
        const char *p = in(dir, "s.sock"), *plain = in(dir, "plain"), *sym = in(dir, "sym.sock");
        int fd;

        ck_assert_int_eq(safefile_check_socket_path(p, 0, why, sizeof why), 0);
        fd = unit_unix_listener(SOCK_STREAM, p);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(safefile_check_socket_path(p, 0, why, sizeof why), 1);
        ck_assert_int_eq(safefile_check_socket_path(p, OTHER_UID, why, sizeof why), 1); /* root's: ours */
        ck_assert_int_eq(chown(p, OTHER_UID, OTHER_UID), 0);
        ck_assert_int_eq(safefile_check_socket_path(p, 0, why, sizeof why), -EPERM);
        assert_why("is a socket of uid 4242's; pylaunchd removes only a stale socket of its own");
        ck_assert_int_eq(safefile_check_socket_path(p, OTHER_UID, why, sizeof why), 1);
        close(fd);
        unit_write_file(plain, "x");
        ck_assert_int_eq(safefile_check_socket_path(plain, 0, why, sizeof why), -EEXIST);
        ck_assert_int_eq(symlink(p, sym), 0);
        ck_assert_int_eq(safefile_check_socket_path(sym, 0, why, sizeof why), -EPERM);
        assert_why("is a symbolic link");
}
END_TEST

/* Root hands the socket it bound to --user only if it is still that socket: a hard link to a
 * root file put there instead keeps its owner. */
START_TEST(socket_chown) {
        const char *p = in(dir, "s.sock"), *target = secret_file();
        struct stat st;
        int fd = unit_unix_listener(SOCK_STREAM, p);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_int_eq(safefile_chown_socket(p, st.st_dev, st.st_ino + 1, OTHER_UID, OTHER_UID), -EPERM);
        ck_assert_int_eq(safefile_chown_socket(p, st.st_dev, st.st_ino, OTHER_UID, OTHER_UID), 0);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, OTHER_UID);
        /* Now 4242's: a second hand-over (not root's any more) is refused. */
        ck_assert_int_eq(safefile_chown_socket(p, st.st_dev, st.st_ino, 0, 0), -EPERM);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(link(target, p), 0);
        ck_assert_int_eq(safefile_chown_socket(p, st.st_dev, st.st_ino, OTHER_UID, OTHER_UID), -EPERM);
        ck_assert_int_eq(unlink(p), 0);
        assert_secret_intact(target);
        ck_assert_int_eq(symlink(target, p), 0);
        ck_assert_int_eq(safefile_chown_socket(p, st.st_dev, st.st_ino, OTHER_UID, OTHER_UID), -EPERM);
        assert_secret_intact(target);
        close(fd);
}
END_TEST

/* --- callers: daemon_lock (--pidfile) and the crash guard --------------------------------------- */

START_TEST(pidfile_symlink_exit_77) {
        const char *target = secret_file(), *p = in(dir, "agent.pid");
        struct options o = { .pidfile = p };

        ck_assert_int_eq(symlink(target, p), 0);
        unit_capture_begin(2);
        ck_assert_int_eq(daemon_lock(&o), EXIT_AGENT_UNSAFE);
        ck_assert_msg(strstr(unit_capture_end(2), "refusing --pidfile"), "no refusal logged");
        assert_secret_intact(target);
}
END_TEST

START_TEST(pidfile_in_sticky_dir_exit_77) {
        const char *d = in(dir, "tmp");
        struct options o = { .pidfile = in(d, "agent.pid") };
        const char *err;

        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_eq(chmod(d, 01777), 0);
        unit_capture_begin(2);
        ck_assert_int_eq(daemon_lock(&o), EXIT_AGENT_UNSAFE);
        err = unit_capture_end(2);
        ck_assert_msg(strstr(err, d) && strstr(err, "(mode 1777)") && strstr(err, "/run/NAME/"), "logged: %s", err);
        ck_assert(!exists(o.pidfile));
}
END_TEST

START_TEST(pidfile_ok) {
        struct options o = { .pidfile = in(dir, "agent.pid") };

        ck_assert_int_eq(daemon_lock(&o), EXIT_OK);
        ck_assert(exists(o.pidfile));
        daemon_finish();
        ck_assert(!exists(o.pidfile));
}
END_TEST

/* A set with one listening socket; the guard's file is named after its inode. */
static int guard_set(struct listener_set *set, char *guard, size_t size, const char *run) {
        struct sockinfo info = { .family = AF_UNIX, .type = SOCK_STREAM, .role = SOCK_ROLE_LISTENING };
        struct stat st;
        int fd = unit_unix_listener(SOCK_STREAM, NULL);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(listener_set_add(set, fd, "guard", &info), 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        snprintf(guard, size, "%s/pylaunchd/starting-%llu-%llu", run, (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino);
        return fd;
}

START_TEST(crashguard_counts) {
        struct listener_set set = {};
        char guard[512], buf[16] = "";
        int fd;

        setenv("XDG_RUNTIME_DIR", dir, 1);
        guard_set(&set, guard, sizeof guard, dir);
        ck_assert_int_eq(crashguard_begin(&set), 0);
        ck_assert_int_eq(crashguard_begin(&set), 0);
        fd = open(guard, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_gt(read(fd, buf, sizeof buf - 1), 0);
        close(fd);
        ck_assert_str_eq(buf, "2\n");
        ck_assert_int_eq(crashguard_begin(&set), 0);
        ck_assert_int_eq(crashguard_begin(&set), -ELOOP);
        listener_set_free(&set);
}
END_TEST

/* A link planted where the guard writes its count is not followed; neither is a FIFO waited on. */
START_TEST(crashguard_planted_link) {
        struct listener_set set = {};
        const char *target = secret_file();
        char guard[512];

        setenv("XDG_RUNTIME_DIR", dir, 1);
        ck_assert_int_eq(mkdir(in(dir, "pylaunchd"), 0700), 0);
        guard_set(&set, guard, sizeof guard, dir);
        ck_assert_int_eq(symlink(target, guard), 0);
        unit_capture_begin(2);
        ck_assert_int_eq(crashguard_begin(&set), 0);
        ck_assert_msg(strstr(unit_capture_end(2), "is a symbolic link"), "no warning");
        assert_secret_intact(target);
        ck_assert(is_link(guard));
        ck_assert_int_eq(unlink(guard), 0);
        ck_assert_int_eq(mkfifo(guard, 0600), 0);
        ck_assert_int_eq(crashguard_begin(&set), 0); /* alarm(): a blocked open fails the test */
        listener_set_free(&set);
}
END_TEST

/* $XDG_RUNTIME_DIR/pylaunchd made by someone else (XDG_RUNTIME_DIR=/tmp): the guard stays off. */
START_TEST(crashguard_foreign_dir) {
        struct listener_set set = {};
        char guard[512];

        setenv("XDG_RUNTIME_DIR", dir, 1);
        ck_assert_int_eq(mkdir(in(dir, "pylaunchd"), 0777), 0);
        ck_assert_int_eq(chown(in(dir, "pylaunchd"), OTHER_UID, OTHER_UID), 0);
        guard_set(&set, guard, sizeof guard, dir);
        unit_capture_begin(2);
        ck_assert_int_eq(crashguard_begin(&set), 0);
        ck_assert_msg(strstr(unit_capture_end(2), "belongs to uid 4242"), "no warning");
        ck_assert(!exists(guard));
        listener_set_free(&set);
}
END_TEST

int main(void) {
        Suite *s = suite_create("safefile");
        TCase *tc = tcase_create("safefile");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, regular_created);
        tcase_add_test(tc, regular_existing_truncated_and_appended);
        tcase_add_test(tc, regular_symlink_refused);
        tcase_add_test(tc, regular_hard_link_refused);
        tcase_add_test(tc, regular_wrong_kind_refused);
        tcase_add_test(tc, regular_owner);
        tcase_add_test(tc, regular_writable_by_others);
        tcase_add_loop_test(tc, directory_table, 0, (int)(sizeof dir_rows / sizeof dir_rows[0]));
        tcase_add_test(tc, directory_links);
        tcase_add_test(tc, relative_and_bad_paths);
        tcase_add_test(tc, fifo_created_and_reused);
        tcase_add_loop_test(tc, fifo_table, 0, (int)(sizeof fifo_rows / sizeof fifo_rows[0]));
        tcase_add_test(tc, fifo_acl);
        tcase_add_test(tc, fifo_links_refused);
        tcase_add_test(tc, fifo_not_a_fifo);
        tcase_add_test(tc, socket_path);
        tcase_add_test(tc, socket_chown);
        tcase_add_test(tc, pidfile_symlink_exit_77);
        tcase_add_test(tc, pidfile_in_sticky_dir_exit_77);
        tcase_add_test(tc, pidfile_ok);
        tcase_add_test(tc, crashguard_counts);
        tcase_add_test(tc, crashguard_planted_link);
        tcase_add_test(tc, crashguard_foreign_dir);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
