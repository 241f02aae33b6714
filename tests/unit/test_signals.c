/* test_signals.c: the stop backstop. Once a stop begins (SIGTERM, or signals_stop_begun()), the
 * process ends --stop-timeout plus STOP_MARGIN_USEC later with the stop's exit code, whatever else
 * happens: here the "agent" is a child that never returns and keeps signalling, as a user hitting
 * Ctrl-C or a supervisor repeating SIGTERM would. Each test times a child of its own. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signals.h"
#include "unit.h"

#define GRACE_USEC 2000000ULL
#define DUE_USEC (GRACE_USEC + STOP_MARGIN_USEC)
/* A loaded machine makes the exit later, never earlier; twice the grace would be 5 s. */
#define LATE_USEC (DUE_USEC + 1200000ULL)

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void pause_usec(long usec) {
        struct timespec ts = { usec / 1000000, (usec % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) != 0)
                ;
}

/* Waits up to 8 s for the child; returns its wait status and sets *ret_usec to when it ended
 * (from started), or kills it and fails. */
static int wait_child(pid_t pid, uint64_t started, uint64_t *ret_usec) {
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                ck_assert_int_ge(r, 0);
                if (r == pid) {
                        *ret_usec = mono_usec() - started;
                        return status;
                }
                if (mono_usec() - started > 8000000) {
                        kill(pid, SIGKILL);
                        (void)waitpid(pid, &status, 0);
                        ck_abort_msg("the backstop never ended the stop (8 s, due after %.1f s)", DUE_USEC / 1e6);
                }
                pause_usec(10000);
        }
}

/* A stop begun without a signal (idle exit, sys.exit() in a handler), then begun again and again:
 * the clock runs from the first, and the process exits with the first stop's code. */
START_TEST(backstop_counts_from_the_first_stop) {
        uint64_t started = mono_usec(), took;
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (signals_backstop_start(GRACE_USEC) < 0)
                        _exit(90);
                signals_stop_begun(3);
                for (;;) { /* an agent that never returns, and more stops asked for */
                        pause_usec(300000);
                        signals_stop_begun(3);
                }
        }
        status = wait_child(pid, started, &took);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 3, "wait status 0x%x, want exit 3", status);
        ck_assert_msg(took >= DUE_USEC - 100000, "ended after %.2f s, before the grace and margin (%.1f s)",
                      took / 1e6, DUE_USEC / 1e6);
        ck_assert_msg(took <= LATE_USEC, "ended after %.2f s; due after %.1f s", took / 1e6, DUE_USEC / 1e6);
}
END_TEST

/* SIGTERM itself begins the stop (in serve() mode nothing else would tell the backstop), and a
 * SIGTERM repeated every 0.3 s does not postpone it. */
START_TEST(backstop_starts_at_sigterm_and_is_not_postponed) {
        uint64_t started = mono_usec(), took;
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (signals_init() < 0 || signals_backstop_start(GRACE_USEC) < 0)
                        _exit(90);
                for (;;) {
                        raise(SIGTERM); /* only a byte on the pipe: nobody reads it here */
                        while (signals_next() != -EAGAIN)
                                ;
                        pause_usec(300000);
                }
        }
        status = wait_child(pid, started, &took);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x, want exit 0", status);
        ck_assert_msg(took <= LATE_USEC, "ended after %.2f s; due after %.1f s", took / 1e6, DUE_USEC / 1e6);
}
END_TEST

static Suite *signals_suite(void) {
        Suite *s = suite_create("signals");
        TCase *tc = tcase_create("backstop");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, backstop_counts_from_the_first_stop);
        tcase_add_test(tc, backstop_starts_at_sigterm_and_is_not_postponed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(signals_suite());
}
