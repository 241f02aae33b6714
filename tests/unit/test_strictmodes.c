/* test_strictmodes.c: strictmodes_check, on real files and directories with real modes and owners. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        tcase_add_test(tc, root_sticky_dir);
        tcase_add_test(tc, bad_arguments);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
