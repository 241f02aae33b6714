/* test_serving.c: the serving loop's pure parts: the STATUS= text users read in systemctl status
 * and pylaunchd status, and what each accept() failure leads to (the EMFILE back-off). */
#include <errno.h>
#include <string.h>

#include "accept_errors.h"
#include "status.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
        const char *what;
        unsigned long long handled;
        unsigned in_flight;
        const char *reload_error, *want;
} status_rows[] = {
        {"Agent.py on 'rot13'", 0, 0, "", "Serving Agent.py on 'rot13': 0 connection(s) handled, 0 in flight"},
        {"Agent.py on 'rot13'", 3, 1, NULL, "Serving Agent.py on 'rot13': 3 connection(s) handled, 1 in flight"},
        {"A.py", 18446744073709551615ULL, 64, "",
         "Serving A.py: 18446744073709551615 connection(s) handled, 64 in flight"},
        {"A.py", 2, 0, "SyntaxError: invalid syntax (A.py, line 3)",
         "Serving A.py: 2 connection(s) handled, 0 in flight; the last reload failed, the code already "
         "loaded serves: SyntaxError: invalid syntax (A.py, line 3) (fix it, then systemctl reload)"},
};

START_TEST(status_table) {
        char buf[STATUS_TEXT_MAX];
        size_t n = status_format(buf, sizeof buf, status_rows[_i].what, status_rows[_i].handled,
                                 status_rows[_i].in_flight, status_rows[_i].reload_error);

        ck_assert_str_eq(buf, status_rows[_i].want);
        ck_assert_uint_eq(n, strlen(status_rows[_i].want));
}
END_TEST

START_TEST(status_cut_to_the_buffer) {
        char buf[16];

        memset(buf, 'x', sizeof buf);
        ck_assert_uint_eq(status_format(buf, sizeof buf, "A.py", 1, 0, ""), 15);
        ck_assert_str_eq(buf, "Serving A.py: 1");
        ck_assert_uint_eq(status_format(buf, 0, "A.py", 1, 0, ""), 0);
        ck_assert_int_eq(buf[0], 'S'); /* a zero-length buffer is not written */
}
END_TEST

static const struct {
        int err;
        enum accept_action want;
} accept_rows[] = {
        {EAGAIN, ACCEPT_RETRY},     {EWOULDBLOCK, ACCEPT_RETRY}, {EINTR, ACCEPT_RETRY},
        {ECONNABORTED, ACCEPT_RETRY}, {EPROTO, ACCEPT_RETRY},
        {EMFILE, ACCEPT_BACKOFF},   {ENFILE, ACCEPT_BACKOFF},    {ENOBUFS, ACCEPT_BACKOFF},
        {ENOMEM, ACCEPT_BACKOFF},
        {EBADF, ACCEPT_STOP},       {EINVAL, ACCEPT_STOP},       {ENOTSOCK, ACCEPT_STOP},
        {EOPNOTSUPP, ACCEPT_STOP},  {EFAULT, ACCEPT_STOP},       {0, ACCEPT_STOP},
};

START_TEST(accept_table) {
        ck_assert_msg(accept_error_action(accept_rows[_i].err) == accept_rows[_i].want, "errno %d (%s): got %d, want %d",
                      accept_rows[_i].err, strerror(accept_rows[_i].err), accept_error_action(accept_rows[_i].err),
                      accept_rows[_i].want);
}
END_TEST

static Suite *serving_suite(void) {
        Suite *s = suite_create("serving");
        TCase *tc = tcase_create("serving");

        tcase_add_loop_test(tc, status_table, 0, N_ROWS(status_rows));
        tcase_add_test(tc, status_cut_to_the_buffer);
        tcase_add_loop_test(tc, accept_table, 0, N_ROWS(accept_rows));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(serving_suite());
}
