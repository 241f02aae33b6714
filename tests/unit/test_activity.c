/* test_activity.c: the idle clock. Idle time counts from the end of the last connection (not its
 * start), nothing is idle while a handler is in flight, and forked workers share one clock. */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activity.h"
#include "unit.h"

#define IDLE_USEC 1000000u

static void pause_usec(long usec) {
        struct timespec ts = {usec / 1000000, (usec % 1000000) * 1000};
        while (nanosleep(&ts, &ts) != 0)
                ;
}

START_TEST(idle_counts_from_the_last_end) {
        struct activity *a = activity_new(false);
        uint64_t ended;

        ck_assert_ptr_nonnull(a);
        activity_enter(a);
        pause_usec(30000); /* a conversation that lasts a while */
        activity_leave(a);
        ended = activity_now();
        /* Counted from the start, idle_at would be at least 30 ms earlier than this. */
        ck_assert_uint_ge(activity_idle_at(a, IDLE_USEC) + 1000, ended + IDLE_USEC);
        ck_assert_uint_le(activity_idle_at(a, IDLE_USEC), ended + IDLE_USEC);
        activity_free(a, false);
}
END_TEST

START_TEST(never_idle_in_flight) {
        struct activity *a = activity_new(false);

        ck_assert_ptr_nonnull(a);
        ck_assert_uint_ne(activity_idle_at(a, IDLE_USEC), 0); /* fresh: idle from creation on */
        activity_enter(a);
        activity_enter(a);
        ck_assert_uint_eq(activity_idle_at(a, IDLE_USEC), 0);
        activity_leave(a);
        ck_assert_uint_eq(activity_idle_at(a, IDLE_USEC), 0); /* one of two still in flight */
        activity_leave(a);
        ck_assert_uint_ne(activity_idle_at(a, IDLE_USEC), 0);
        activity_free(a, false);
}
END_TEST

START_TEST(workers_share_one_clock) {
        struct activity *a = activity_new(true);
        int status;
        pid_t pid;

        ck_assert_ptr_nonnull(a);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) { /* a worker with a connection in flight */
                activity_enter(a);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_uint_eq(activity_idle_at(a, IDLE_USEC), 0);
        activity_leave(a);
        ck_assert_uint_ne(activity_idle_at(a, IDLE_USEC), 0);
        activity_free(a, true);
}
END_TEST

START_TEST(a_later_time_is_never_overwritten) {
        struct activity *a = activity_new(false);
        uint64_t before;

        ck_assert_ptr_nonnull(a);
        activity_enter(a);
        activity_leave(a);
        before = activity_idle_at(a, 0);
        atomic_store(&a->last_active, before + 5000000); /* another worker, later */
        activity_enter(a);
        activity_leave(a);
        ck_assert_uint_eq(activity_idle_at(a, 0), before + 5000000);
        activity_free(a, false);
}
END_TEST

static Suite *activity_suite(void) {
        Suite *s = suite_create("activity");
        TCase *tc = tcase_create("activity");

        tcase_add_test(tc, idle_counts_from_the_last_end);
        tcase_add_test(tc, never_idle_in_flight);
        tcase_add_test(tc, workers_share_one_clock);
        tcase_add_test(tc, a_later_time_is_never_overwritten);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(activity_suite());
}
