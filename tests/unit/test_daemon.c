/* test_daemon.c: dropping privileges for --user and --group (daemon_start without --daemon, in a
 * child of the test's, as root): every id becomes the user's, and none of the starter's
 * supplementary groups stays, even when the starter had some (root's shell often has none, so
 * the e2e scenarios cannot tell). */
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "exitcode.h"
#include "unit.h"

/* Supplementary groups the starter holds: root's own and an unrelated one (4242). */
static const gid_t starter_groups[] = { 0, 4242 };

/* In the child: 0 when the drop went as it should, or which check failed. */
static int drop_and_check(const char *user, const char *group, uid_t want_uid, gid_t want_gid) {
        struct options o = { .user = user, .group = group };
        struct listener_set set = {};
        gid_t got[64];
        uid_t ru, eu, su;
        gid_t rg, eg, sg;
        int n;

        if (setgroups(2, starter_groups) < 0)
                return 10;
        if (daemon_start(&o, &set) != EXIT_OK)
                return 11;
        if (getresuid(&ru, &eu, &su) < 0 || ru != want_uid || eu != want_uid || su != want_uid)
                return 12;
        if (getresgid(&rg, &eg, &sg) < 0 || rg != want_gid || eg != want_gid || sg != want_gid)
                return 13;
        if ((n = getgroups(64, got)) < 0)
                return 14;
        for (int i = 0; i < n; i++)
                if (got[i] == 0 || got[i] == 4242)
                        return 15; /* a starter's group kept */
        return 0;
}

static int run_child(const char *user, const char *group, uid_t want_uid, gid_t want_gid) {
        int status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(drop_and_check(user, group, want_uid, want_gid));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "the child died: 0x%x", status);
        return WEXITSTATUS(status);
}

START_TEST(user_drops_every_starter_group) {
        const struct passwd *pw = getpwnam("nobody");

        ck_assert_msg(geteuid() == 0, "dropping privileges needs root (CI runs as root)");
        ck_assert_ptr_nonnull(pw);
        ck_assert_int_eq(run_child("nobody", NULL, pw->pw_uid, pw->pw_gid), 0);
}
END_TEST

START_TEST(group_alone_drops_every_starter_group) {
        const struct group *gr = getgrnam("nogroup");

        ck_assert_msg(geteuid() == 0, "dropping privileges needs root (CI runs as root)");
        ck_assert_ptr_nonnull(gr);
        /* --group without --user: the uid stays root's, the groups go. */
        ck_assert_int_eq(run_child(NULL, "nogroup", 0, gr->gr_gid), 0);
}
END_TEST

static Suite *daemon_suite(void) {
        Suite *s = suite_create("daemon");
        TCase *tc = tcase_create("drop_privileges");

        tcase_add_test(tc, user_drops_every_starter_group);
        tcase_add_test(tc, group_alone_drops_every_starter_group);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(daemon_suite());
}
