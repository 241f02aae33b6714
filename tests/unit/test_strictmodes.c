/* test_strictmodes.c: strictmodes_check and strictmodes_check_dir, on real files and directories
 * with real modes, owners and POSIX ACLs. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl.h"
#include "strictmodes.h"
#include "unit.h"

/* dir/sub/Agent.py under a fresh temp dir, with the modes given. */
static void make_tree(char *dir, char *sub, char *file, size_t size, mode_t dir_mode, mode_t file_mode) {
        snprintf(dir, size, "%s", unit_tmpdir());
        snprintf(sub, size, "%s/sub", dir);
        snprintf(file, size, "%s/Agent.py", sub);
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        unit_write_file(file, "def handle(conn): pass\n");
        ck_assert_int_eq(chown(sub, 0, 4242), 0);
        ck_assert_int_eq(chown(file, 0, 4242), 0);
        ck_assert_int_eq(chmod(sub, dir_mode), 0);
        ck_assert_int_eq(chmod(file, file_mode), 0);
}

static const struct mode_row {
        mode_t dir, file;
        int rc;
        const char *why; /* part of the reason, for a refusal */
} mode_rows[] = {
        { 0755, 0644, 0, NULL },
        { 0700, 0600, 0, NULL },
        { 0755, 0444, 0, NULL },
        { 0777, 0644, -EPERM, "sub is writable by everyone (mode 0777)" },
        { 0757, 0644, -EPERM, "writable by everyone" },
        { 0755, 0666, -EPERM, "Agent.py is writable by everyone (mode 0666)" },
        { 0755, 0646, -EPERM, "writable by everyone" },
        /* Group-writable, with the group (gid 4242, see make_tree) nobody's private group. */
        { 0775, 0644, -EPERM, "sub is writable by its group (mode 0775)" },
        { 0755, 0664, -EPERM, "Agent.py is writable by its group" },
};

START_TEST(mode_table) {
        const struct mode_row *row = &mode_rows[_i];
        char dir[512], sub[512], file[512], why[1024] = "";
        int rc;

        ck_assert_msg(geteuid() == 0, "these rows assume root (CI runs as root)");
        make_tree(dir, sub, file, sizeof dir, row->dir, row->file);
        rc = strictmodes_check(file, 0, why, sizeof why);
        ck_assert_msg(rc == row->rc, "row %d (dir %04o file %04o): rc %d, want %d (%s)", _i, row->dir, row->file,
                      rc, row->rc, why);
        if (row->why)
                ck_assert_msg(strstr(why, row->why), "row %d: reason '%s' lacks '%s'", _i, why, row->why);
}
END_TEST

/* A file of another user's, even read-only, is refused; a root-owned one is fine. */
START_TEST(owner) {
        char dir[512], sub[512], file[512], why[1024] = "";

        make_tree(dir, sub, file, sizeof dir, 0755, 0644);
        ck_assert_int_eq(chown(file, 4242, 4242), 0);
        ck_assert_int_eq(strictmodes_check(file, 0, why, sizeof why), -EPERM);
        ck_assert_msg(strstr(why, "belongs to uid 4242"), "reason: %s", why);
        /* Checked for uid 4242, the file is fine, but the directories are root's: also fine. */
        ck_assert_int_eq(strictmodes_check(file, 4242, why, sizeof why), 0);
        /* A directory of a third user's is not. */
        ck_assert_int_eq(chown(sub, 5353, 5353), 0);
        ck_assert_int_eq(strictmodes_check(file, 4242, why, sizeof why), -EPERM);
        ck_assert_msg(strstr(why, "sub belongs to uid 5353"), "reason: %s", why);
}
END_TEST

/* A user private group writing is the user writing (umask 002 makes every directory so): root's
 * own group "root" has no other members, so it counts as root's private group. */
START_TEST(private_group) {
        char dir[512], sub[512], file[512], why[1024] = "";

        make_tree(dir, sub, file, sizeof dir, 0775, 0664);
        ck_assert_int_eq(chown(sub, 0, 0), 0);
        ck_assert_int_eq(chown(file, 0, 0), 0);
        ck_assert_msg(strictmodes_check(file, 0, why, sizeof why) == 0, "refused: %s", why);
}
END_TEST

/* A memberless primary group is the user's own only when it bears the user's name: Debian's
 * nobody has nogroup, which every daemon running as nobody shares. */
START_TEST(primary_group_of_another_name) {
        char dir[512], sub[512], file[512], why[1024] = "";
        const struct passwd *pw = getpwnam("nobody");
        const struct group *gr;

        ck_assert_msg(pw != NULL, "no user nobody here");
        gr = getgrgid(pw->pw_gid);
        ck_assert_msg(gr && strcmp(gr->gr_name, pw->pw_name) != 0 && !gr->gr_mem[0],
                      "nobody's primary group here is not a memberless group of another name");
        make_tree(dir, sub, file, sizeof dir, 0755, 0664);
        ck_assert_int_eq(chown(file, pw->pw_uid, pw->pw_gid), 0);
        ck_assert_int_eq(strictmodes_check(file, pw->pw_uid, why, sizeof why), -EPERM);
        ck_assert_msg(strstr(why, "Agent.py is writable by its group"), "reason: %s", why);
}
END_TEST

/* A user's own group (its primary group, named after it) that has another member is not private:
 * that member writing is not the user writing. A user and group of this test's own, made with
 * useradd and removed before anything is asserted. */
START_TEST(own_group_with_another_member) {
        char name[32], cmd[512], dir[512], sub[512], file[512], why_alone[1024] = "", why[1024] = "";
        const struct passwd *pw;
        int made, alone = 1, shared = 1;

        make_tree(dir, sub, file, sizeof dir, 0755, 0664);
        snprintf(name, sizeof name, "pylaunchd-sg%ld", (long)getpid());
        /* Under the lock tests/users.py takes to choose ids, so no fixture picks the same ones. */
        snprintf(cmd, sizeof cmd,
                 "mkdir -p -m 700 /run/pylaunchd-tests && flock /run/pylaunchd-tests/ids.lock "
                 "sh -c 'groupadd %s && useradd -M -N -s /usr/sbin/nologin -g %s %s'", name, name, name);
        made = system(cmd);
        if (made == 0 && (pw = getpwnam(name)) && chown(file, pw->pw_uid, pw->pw_gid) == 0) {
                uid_t uid = pw->pw_uid;
                alone = strictmodes_check(file, uid, why_alone, sizeof why_alone);
                snprintf(cmd, sizeof cmd, "gpasswd -M nobody %s >/dev/null", name);
                if (system(cmd) == 0)
                        shared = strictmodes_check(file, uid, why, sizeof why);
        }
        snprintf(cmd, sizeof cmd, "userdel %s 2>/dev/null; groupdel %s 2>/dev/null", name, name);
        (void)!system(cmd);
        ck_assert_msg(made == 0, "cannot make the user %s", name);
        ck_assert_msg(alone == 0, "its own group alone: refused: %s", why_alone);
        ck_assert_int_eq(shared, -EPERM);
        ck_assert_msg(strstr(why, "Agent.py is writable by its group"), "reason: %s", why);
}
END_TEST

/* /tmp itself (root's, sticky, world-writable) may be passed through. */
START_TEST(root_sticky_dir) {
        char dir[] = "/tmp/pylaunchd-strict-XXXXXX", file[512], why[1024] = "";
        struct stat st;

        ck_assert_int_eq(stat("/tmp", &st), 0);
        ck_assert_msg(st.st_uid == 0 && (st.st_mode & S_ISVTX), "/tmp is not root's sticky directory here");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(file, sizeof file, "%s/Agent.py", dir);
        unit_write_file(file, "x = 1\n");
        ck_assert_int_eq(chmod(file, 0644), 0);
        ck_assert_msg(strictmodes_check(file, geteuid(), why, sizeof why) == 0, "refused: %s", why);
        unlink(file);
        rmdir(dir);
}
END_TEST

/* --- POSIX ACLs, set with setxattr() as setfacl does ------------------------------------------ */

struct ace {
        uint16_t tag, perm;
        uint32_t id;
};

#define NO_ID 0xffffffffu

/* Sets path's access ACL to the entries given, in the kernel's order (by tag); the mode's group
 * bits become the mask. */
static void set_acl(const char *path, const struct ace *e, size_t n) {
        unsigned char v[4 + 8 * 8] = { 2, 0, 0, 0 };
        size_t len = 4;

        ck_assert_uint_le(n, 8);
        for (size_t i = 0; i < n; i++, len += 8) {
                v[len] = (unsigned char)e[i].tag, v[len + 1] = (unsigned char)(e[i].tag >> 8);
                v[len + 2] = (unsigned char)e[i].perm, v[len + 3] = 0;
                for (int b = 0; b < 4; b++)
                        v[len + 4 + b] = (unsigned char)(e[i].id >> (8 * b));
        }
        ck_assert_msg(setxattr(path, ACL_XATTR_NAME, v, len, 0) == 0, "setxattr %s: %s", path, strerror(errno));
}

static const struct acl_row {
        const char *what;
        bool on_dir; /* the ACL on the directory sub, else on Agent.py */
        struct ace e[6];
        size_t n;
        int rc;
        const char *why;
} acl_rows[] = {
        { "uid 4242 may write the agent", false,
          { { ACL_XATTR_USER_OBJ, 6, NO_ID }, { ACL_XATTR_USER, 6, 4242 }, { ACL_XATTR_GROUP_OBJ, 4, NO_ID },
            { ACL_XATTR_MASK, 6, NO_ID }, { ACL_XATTR_OTHER, 4, NO_ID } }, 5,
          -EPERM, "Agent.py has an ACL that lets uid 4242 write" },
        { "uid 4242's write, masked away", false,
          { { ACL_XATTR_USER_OBJ, 6, NO_ID }, { ACL_XATTR_USER, 6, 4242 }, { ACL_XATTR_GROUP_OBJ, 4, NO_ID },
            { ACL_XATTR_MASK, 4, NO_ID }, { ACL_XATTR_OTHER, 4, NO_ID } }, 5,
          0, NULL },
        { "uid 4242 may only read", false,
          { { ACL_XATTR_USER_OBJ, 6, NO_ID }, { ACL_XATTR_USER, 4, 4242 }, { ACL_XATTR_GROUP_OBJ, 4, NO_ID },
            { ACL_XATTR_MASK, 6, NO_ID }, { ACL_XATTR_OTHER, 4, NO_ID } }, 5,
          0, NULL },
        /* The group bits show the mask (rw), but the group itself may only read: not "writable by
         * its group", which the mode bits alone would have said. */
        { "root named with write, the group read-only", false,
          { { ACL_XATTR_USER_OBJ, 6, NO_ID }, { ACL_XATTR_USER, 6, 0 }, { ACL_XATTR_GROUP_OBJ, 4, NO_ID },
            { ACL_XATTR_MASK, 6, NO_ID }, { ACL_XATTR_OTHER, 4, NO_ID } }, 5,
          0, NULL },
        { "group 5353 may write the agent", false,
          { { ACL_XATTR_USER_OBJ, 6, NO_ID }, { ACL_XATTR_GROUP_OBJ, 4, NO_ID }, { ACL_XATTR_GROUP, 6, 5353 },
            { ACL_XATTR_MASK, 6, NO_ID }, { ACL_XATTR_OTHER, 4, NO_ID } }, 5,
          -EPERM, "Agent.py has an ACL that lets group 5353 write" },
        { "the file's group (4242) may write, through the ACL", false,
          { { ACL_XATTR_USER_OBJ, 6, NO_ID }, { ACL_XATTR_USER, 4, 77 }, { ACL_XATTR_GROUP_OBJ, 6, NO_ID },
            { ACL_XATTR_MASK, 6, NO_ID }, { ACL_XATTR_OTHER, 4, NO_ID } }, 5,
          -EPERM, "Agent.py has an ACL that lets group 4242 write" },
        { "uid 4242 may add files to the agent's directory", true,
          { { ACL_XATTR_USER_OBJ, 7, NO_ID }, { ACL_XATTR_USER, 7, 4242 }, { ACL_XATTR_GROUP_OBJ, 5, NO_ID },
            { ACL_XATTR_MASK, 7, NO_ID }, { ACL_XATTR_OTHER, 5, NO_ID } }, 5,
          -EPERM, "sub has an ACL that lets uid 4242 write" },
        { "the directory's ACL, masked to read and search", true,
          { { ACL_XATTR_USER_OBJ, 7, NO_ID }, { ACL_XATTR_USER, 7, 4242 }, { ACL_XATTR_GROUP_OBJ, 5, NO_ID },
            { ACL_XATTR_MASK, 5, NO_ID }, { ACL_XATTR_OTHER, 5, NO_ID } }, 5,
          0, NULL },
};

START_TEST(acl_table) {
        const struct acl_row *row = &acl_rows[_i];
        char dir[512], sub[512], file[512], why[1024] = "";
        int rc;

        make_tree(dir, sub, file, sizeof dir, 0755, 0644);
        set_acl(row->on_dir ? sub : file, row->e, row->n);
        rc = strictmodes_check(file, 0, why, sizeof why);
        ck_assert_msg(rc == row->rc, "%s: rc %d, want %d (%s)", row->what, rc, row->rc, why);
        if (row->why)
                ck_assert_msg(strstr(why, row->why), "%s: reason '%s' lacks '%s'", row->what, why, row->why);
        if (row->on_dir) {
                rc = strictmodes_check_dir(sub, 0, false, why, sizeof why);
                ck_assert_msg(rc == row->rc, "%s, strictmodes_check_dir: rc %d, want %d (%s)", row->what, rc, row->rc,
                              why);
        }
}
END_TEST

/* Checked for uid 4242, an ACL naming 4242 is the owner's own business. */
START_TEST(acl_naming_us) {
        static const struct ace e[] = { { ACL_XATTR_USER_OBJ, 6, NO_ID }, { ACL_XATTR_USER, 6, 4242 },
                                        { ACL_XATTR_GROUP_OBJ, 4, NO_ID }, { ACL_XATTR_MASK, 6, NO_ID },
                                        { ACL_XATTR_OTHER, 4, NO_ID } };
        char dir[512], sub[512], file[512], why[1024] = "";

        make_tree(dir, sub, file, sizeof dir, 0755, 0644);
        set_acl(file, e, 5);
        ck_assert_msg(strictmodes_check(file, 4242, why, sizeof why) == 0, "refused: %s", why);
        ck_assert_int_eq(strictmodes_check(file, 5353, why, sizeof why), -EPERM);
}
END_TEST

/* --- strictmodes_check_dir ------------------------------------------------------------------------ */

static const struct dir_row {
        const char *what;
        mode_t mode;
        uid_t owner;
        gid_t group;
        bool allow_sticky;
        uid_t uid; /* checked for */
        int rc;
        const char *why;
} dir_rows[] = {
        { "root's 0755", 0755, 0, 0, false, 0, 0, NULL },
        { "root's 0755, for uid 4242", 0755, 0, 0, false, 4242, 0, NULL },
        { "4242's 0700, for 4242", 0700, 4242, 4242, false, 4242, 0, NULL },
        { "4242's 0700, for 5353", 0700, 4242, 4242, false, 5353, -EPERM, "d belongs to uid 4242, not to us or root" },
        { "4242's 0700, for root", 0700, 4242, 4242, false, 0, -EPERM, "d belongs to uid 4242" },
        { "0777", 0777, 0, 0, false, 0, -EPERM, "d is writable by everyone (mode 0777)" },
        { "0777, sticky allowed: not sticky", 0777, 0, 0, true, 0, -EPERM, "d is writable by everyone (mode 0777)" },
        { "root's 1777", 01777, 0, 0, false, 0, -EPERM, "d is writable by everyone (mode 1777)" },
        { "root's 1777, sticky allowed", 01777, 0, 0, true, 0, 0, NULL },
        { "root's 1777, sticky allowed, for 4242", 01777, 0, 0, true, 4242, 0, NULL },
        { "4242's 1777, sticky allowed, for 4242", 01777, 4242, 4242, true, 4242, -EPERM,
          "d is writable by everyone (mode 1777)" },
        { "0775, group 4242 nobody's private group", 0775, 0, 4242, false, 0, -EPERM,
          "d is writable by its group (mode 0775)" },
        { "0775, group root (root's private group)", 0775, 0, 0, false, 0, 0, NULL },
};

START_TEST(dir_table) {
        const struct dir_row *row = &dir_rows[_i];
        char d[512], why[1024] = "";
        int rc;

        snprintf(d, sizeof d, "%s/d", unit_tmpdir());
        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_eq(chown(d, row->owner, row->group), 0);
        ck_assert_int_eq(chmod(d, row->mode), 0);
        rc = strictmodes_check_dir(d, row->uid, row->allow_sticky, why, sizeof why);
        ck_assert_msg(rc == row->rc, "%s: rc %d, want %d (%s)", row->what, rc, row->rc, why);
        if (row->why)
                ck_assert_msg(strstr(why, row->why), "%s: reason '%s' lacks '%s'", row->what, why, row->why);
}
END_TEST

/* The directories above are checked too, each with strictmodes_check's rule (sticky root fine). */
START_TEST(dir_above) {
        char top[512], d[600], why[1024] = "";

        snprintf(top, sizeof top, "%s/top", unit_tmpdir());
        snprintf(d, sizeof d, "%s/d", top);
        ck_assert_int_eq(mkdir(top, 0755), 0);
        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_eq(chmod(top, 0777), 0);
        ck_assert_int_eq(strictmodes_check_dir(d, 0, false, why, sizeof why), -EPERM);
        ck_assert_msg(strstr(why, "top is writable by everyone (mode 0777)"), "reason: %s", why);
        /* Root's sticky directory above is fine, with or without allow_sticky for d itself. */
        ck_assert_int_eq(chmod(top, 01777), 0);
        ck_assert_msg(strictmodes_check_dir(d, 0, false, why, sizeof why) == 0, "refused: %s", why);
        ck_assert_int_eq(chown(top, 4242, 0), 0);
        ck_assert_int_eq(strictmodes_check_dir(d, 0, false, why, sizeof why), -EPERM);
        ck_assert_msg(strstr(why, "top belongs to uid 4242"), "reason: %s", why);
        ck_assert_int_eq(strictmodes_check_dir("/", 0, false, why, sizeof why), 0);
}
END_TEST

START_TEST(dir_bad_arguments) {
        char f[512], why[64];

        snprintf(f, sizeof f, "%s/file", unit_tmpdir());
        unit_write_file(f, "x");
        ck_assert_int_eq(strictmodes_check_dir("relative/dir", 0, false, why, sizeof why), -EINVAL);
        ck_assert_int_eq(strictmodes_check_dir("/nonexistent-pylaunchd/dir", 0, false, why, sizeof why), -ENOENT);
        ck_assert_int_eq(strictmodes_check_dir(f, 0, false, why, sizeof why), -ENOTDIR);
}
END_TEST

START_TEST(bad_arguments) {
        char why[64];

        ck_assert_int_eq(strictmodes_check("relative/Agent.py", 0, why, sizeof why), -EINVAL);
        ck_assert_int_eq(strictmodes_check("/nonexistent-pylaunchd/Agent.py", 0, why, sizeof why), -ENOENT);
}
END_TEST

int main(void) {
        Suite *s = suite_create("strictmodes");
        TCase *tc = tcase_create("strictmodes");

        tcase_add_loop_test(tc, mode_table, 0, (int)(sizeof mode_rows / sizeof mode_rows[0]));
        tcase_add_test(tc, owner);
        tcase_add_test(tc, private_group);
        tcase_add_test(tc, primary_group_of_another_name);
        tcase_add_test(tc, own_group_with_another_member);
        tcase_add_test(tc, root_sticky_dir);
        tcase_add_test(tc, bad_arguments);
        tcase_add_loop_test(tc, acl_table, 0, (int)(sizeof acl_rows / sizeof acl_rows[0]));
        tcase_add_test(tc, acl_naming_us);
        tcase_add_loop_test(tc, dir_table, 0, (int)(sizeof dir_rows / sizeof dir_rows[0]));
        tcase_add_test(tc, dir_above);
        tcase_add_test(tc, dir_bad_arguments);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
