/* test_parse.c: table tests for the pure parsers of parse.c (addresses, numbers, durations, names). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "parse.h"
#include "unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* ---- parse_address ---- */

static const struct address_row {
        const char *in;
        int rc;
        enum address_kind kind;
        const char *path, *host;
        unsigned port;
} address_rows[] = {
        { "unix:/run/user/1000/agent.sock", 0, ADDRESS_UNIX, "/run/user/1000/agent.sock", "", 0 },
        { "unix:relative.sock", 0, ADDRESS_UNIX, "relative.sock", "", 0 },
        { "unix:@agent", 0, ADDRESS_UNIX, "@agent", "", 0 },
        { "unix:@", -EINVAL },
        { "unix:", -EINVAL },
        { "unix", -EINVAL },
        { "", -EINVAL },
        { "/tmp/agent.sock", -EINVAL },
        { "UNIX:/tmp/agent.sock", -EINVAL },
        { "udp:127.0.0.1:53", -EINVAL },
        { "tcp:127.0.0.1:8080", 0, ADDRESS_TCP, "", "127.0.0.1", 8080 },
        { "tcp:localhost:1", 0, ADDRESS_TCP, "", "localhost", 1 },
        { "tcp:my_host-1.example.com:65535", 0, ADDRESS_TCP, "", "my_host-1.example.com", 65535 },
        { "tcp:[::1]:8080", 0, ADDRESS_TCP, "", "::1", 8080 },
        { "tcp:[fe80::1%eth0]:80", 0, ADDRESS_TCP, "", "fe80::1%eth0", 80 },
        { "tcp:[::ffff:127.0.0.1]:80", 0, ADDRESS_TCP, "", "::ffff:127.0.0.1", 80 },
        /* An unbracketed IPv6 literal: which colon starts the port? */
        { "tcp:::1:8080", -EINVAL },
        { "tcp:fe80::1:80", -EINVAL },
        { "tcp:127.0.0.1:80:90", -EINVAL },
        { "tcp:[::1]", -EINVAL },
        { "tcp:[::1]:", -EINVAL },
        { "tcp:[::1]80", -EINVAL },
        { "tcp:[::1:80", -EINVAL },
        { "tcp:::1]:80", -EINVAL },
        { "tcp:[]:80", -EINVAL },
        { "tcp:[[::1]:80", -EINVAL },
        { "tcp:[::1]]:80", -EINVAL },
        { "tcp:[::1]:80:90", -EINVAL },
        { "tcp:a]b:80", -EINVAL },
        /* Ports: 1..65535, decimal, no sign, no spaces. */
        { "tcp:127.0.0.1:0", -ERANGE },
        { "tcp:[::1]:0", -ERANGE },
        { "tcp:127.0.0.1:65536", -ERANGE },
        { "tcp:127.0.0.1:99999999999999999999999", -ERANGE },
        { "tcp:127.0.0.1:http", -EINVAL },
        { "tcp:127.0.0.1:0x50", -EINVAL },
        { "tcp:127.0.0.1:+80", -EINVAL },
        { "tcp:127.0.0.1:-80", -EINVAL },
        { "tcp:127.0.0.1: 80", -EINVAL },
        { "tcp:127.0.0.1:80 ", -EINVAL },
        { "tcp:127.0.0.1", -EINVAL },
        { "tcp:127.0.0.1:", -EINVAL },
        { "tcp::80", -EINVAL },
        { "tcp:", -EINVAL },
        /* Host characters: letters, digits, . - _ (and : % inside brackets). */
        { "tcp:host name:80", -EINVAL },
        { "tcp:a/b:80", -EINVAL },
        { "tcp:a;b:80", -EINVAL },
        { "tcp:h\xc3\xa9:80", -EINVAL },
        { "tcp:[::1 ]:80", -EINVAL },
};

START_TEST(address_table) {
        const struct address_row *row = &address_rows[_i];
        struct address a, sentinel;
        char what[128];
        int r;

        snprintf(what, sizeof what, "parse_address row %d \"%s\"", _i, row->in);
        memset(&a, 0xa5, sizeof a);
        sentinel = a;
        r = parse_address(row->in, &a);
        ROW_INT(what, r, row->rc);
        if (r < 0) {
                ck_assert_msg(memcmp(&a, &sentinel, sizeof a) == 0, "%s: ret written on failure", what);
                return;
        }
        ROW_INT(what, a.kind, row->kind);
        ROW_STR(what, a.path, row->path);
        ROW_STR(what, a.host, row->host);
        ROW_INT(what, a.port, row->port);
}
END_TEST

START_TEST(address_null) {
        struct address a;
        ck_assert_int_eq(parse_address(NULL, &a), -EINVAL);
}
END_TEST

/* "unix:" then n copies of c, after an optional '@'. */
static int parse_unix_of_length(bool abstract, size_t n, struct address *ret) {
        char s[5 + 1 + 2 * SUN_PATH_SIZE + 1];

        ck_assert_uint_lt(n, 2 * SUN_PATH_SIZE);
        memcpy(s, "unix:", 5);
        if (abstract)
                s[5] = '@';
        memset(s + 5 + abstract, 'p', n);
        s[5 + abstract + n] = '\0';
        return parse_address(s, ret);
}

START_TEST(address_unix_path_length_boundary) {
        struct address a;

        /* A path takes sun_path with its NUL: SUN_PATH_SIZE - 1 characters fit, no more. */
        ck_assert_int_eq(parse_unix_of_length(false, SUN_PATH_SIZE - 1, &a), 0);
        ck_assert_uint_eq(strlen(a.path), SUN_PATH_SIZE - 1);
        ck_assert_int_eq(parse_unix_of_length(false, SUN_PATH_SIZE, &a), -EINVAL);
        ck_assert_int_eq(parse_unix_of_length(false, SUN_PATH_SIZE + 1, &a), -EINVAL);
        /* '@' plus a name: stored NUL-terminated here, so the same total of SUN_PATH_SIZE - 1. */
        ck_assert_int_eq(parse_unix_of_length(true, SUN_PATH_SIZE - 2, &a), 0);
        ck_assert_int_eq(a.path[0], '@');
        ck_assert_uint_eq(strlen(a.path), SUN_PATH_SIZE - 1);
        ck_assert_int_eq(parse_unix_of_length(true, SUN_PATH_SIZE - 1, &a), -EINVAL);
        ck_assert_int_eq(parse_unix_of_length(true, 1, &a), 0);
        ck_assert_int_eq(parse_unix_of_length(true, 0, &a), -EINVAL);
}
END_TEST

START_TEST(address_tcp_host_length_boundary) {
        struct address a;
        char s[4 + 300 + 4];
        size_t host_size = sizeof a.host;

        for (size_t n = host_size - 1; n <= host_size; n++) {
                memcpy(s, "tcp:", 4);
                memset(s + 4, 'h', n);
                memcpy(s + 4 + n, ":80", 4);
                ck_assert_msg(parse_address(s, &a) == (n < host_size ? 0 : -EINVAL), "host of %zu characters", n);
        }
        ck_assert_uint_eq(strlen(a.host), host_size - 1);
}
END_TEST

/* ---- parse_int_range ---- */

static const struct int_row {
        const char *in;
        long long min, max;
        int rc;
        long long value;
} int_rows[] = {
        { "0", 0, 10, 0, 0 },
        { "10", 0, 10, 0, 10 },
        { "11", 0, 10, -ERANGE },
        { "1", 2, 10, -ERANGE },
        { "007", 0, 10, 0, 7 },
        { "-5", -10, 10, 0, -5 },
        { "-10", -10, 10, 0, -10 },
        { "-11", -10, 10, -ERANGE },
        { "-0", -1, 1, 0, 0 },
        /* A sign only where min < 0; never '+'. */
        { "-5", 0, 10, -EINVAL },
        { "-0", 0, 10, -EINVAL },
        { "+5", 0, 10, -EINVAL },
        { "-", -10, 10, -EINVAL },
        { "--5", -10, 10, -EINVAL },
        { "", 0, 10, -EINVAL },
        { " 5", 0, 10, -EINVAL },
        { "\t5", 0, 10, -EINVAL },
        { "5 ", 0, 10, -EINVAL },
        { "5\n", 0, 10, -EINVAL },
        { "0x5", 0, 10, -EINVAL },
        { "5a", 0, 10, -EINVAL },
        { "1e3", 0, 10000, -EINVAL },
        { "1.0", 0, 10, -EINVAL },
        { "9223372036854775807", 0, LLONG_MAX, 0, LLONG_MAX },
        { "9223372036854775808", 0, LLONG_MAX, -ERANGE },
        { "-9223372036854775808", LLONG_MIN, 0, 0, LLONG_MIN },
        { "-9223372036854775809", LLONG_MIN, 0, -ERANGE },
        { "99999999999999999999999999", 0, 10, -ERANGE },
};

START_TEST(int_range_table) {
        const struct int_row *row = &int_rows[_i];
        long long v = 0x5a5a5a5a;
        char what[128];
        int r;

        snprintf(what, sizeof what, "parse_int_range row %d \"%s\" in [%lld, %lld]", _i, row->in, row->min, row->max);
        r = parse_int_range(row->in, row->min, row->max, &v);
        ROW_INT(what, r, row->rc);
        ROW_INT(what, v, r < 0 ? 0x5a5a5a5a : row->value);
}
END_TEST

START_TEST(int_range_null) {
        long long v = 3;
        ck_assert_int_eq(parse_int_range(NULL, 0, 10, &v), -EINVAL);
        ck_assert_int_eq(v, 3);
}
END_TEST

/* ---- parse_duration_usec ---- */

#define MAX_SEC (10ULL * 366 * 24 * 3600)

static const struct duration_row {
        const char *in;
        int rc;
        uint64_t usec;
} duration_rows[] = {
        { "0.05", 0, 50000 },
        { "2", 0, 2000000 },
        { "1.5", 0, 1500000 },
        { ".5", 0, 500000 },
        { "5.", 0, 5000000 },
        { "0", 0, 0 },
        { "0.000001", 0, 1 },
        { "007.25", 0, 7250000 },
        /* Digits past the microsecond are dropped, not rounded. */
        { "0.1234567", 0, 123456 },
        { "0.0000009", 0, 0 },
        { "1.99999999999999999999", 0, 1999999 },
        { "316224000", 0, MAX_SEC * 1000000 },
        { "316224000.5", 0, MAX_SEC * 1000000 + 500000 },
        { "316224001", -ERANGE },
        { "99999999999999999999999999", -ERANGE },
        { "", -EINVAL },
        { ".", -EINVAL },
        { "abc", -EINVAL },
        { "1e3", -EINVAL },
        { "-1", -EINVAL },
        { "+1", -EINVAL },
        { " 1", -EINVAL },
        { "1 ", -EINVAL },
        { "1s", -EINVAL },
        { "1.2.3", -EINVAL },
        { "1,5", -EINVAL },
        { "..5", -EINVAL },
        { "inf", -EINVAL },
        { "nan", -EINVAL },
};

START_TEST(duration_table) {
        const struct duration_row *row = &duration_rows[_i];
        const uint64_t sentinel = 0xa5a5a5a5a5a5ULL;
        uint64_t v = sentinel;
        char what[128];
        int r;

        snprintf(what, sizeof what, "parse_duration_usec row %d \"%s\"", _i, row->in);
        r = parse_duration_usec(row->in, &v);
        ROW_INT(what, r, row->rc);
        ck_assert_msg(v == (r < 0 ? sentinel : row->usec), "%s: %llu usec, expected %llu", what,
                      (unsigned long long)v, (unsigned long long)(r < 0 ? sentinel : row->usec));
}
END_TEST

START_TEST(duration_null) {
        uint64_t v = 9;
        ck_assert_int_eq(parse_duration_usec(NULL, &v), -EINVAL);
        ck_assert_uint_eq(v, 9);
}
END_TEST

/* ---- parse_umask ---- */

static const struct umask_row {
        const char *in;
        int rc;
        mode_t mask;
} umask_rows[] = {
        { "077", 0, 077 },
        { "0077", 0, 077 },
        { "022", 0, 022 },
        { "0", 0, 0 },
        { "777", 0, 0777 },
        { "0777", 0, 0777 },
        /* One to four octal digits, no more: a fifth is refused even when the value fits. */
        { "00022", -EINVAL },
        { "00000", -EINVAL },
        { "1000", -EINVAL }, /* the sticky bit is no umask */
        { "0778", -EINVAL },
        { "8", -EINVAL },
        { "", -EINVAL },
        { "-022", -EINVAL },
        { "+022", -EINVAL },
        { " 022", -EINVAL },
        { "022 ", -EINVAL },
        { "0x12", -EINVAL },
        { "u=rwx", -EINVAL },
};

START_TEST(umask_table) {
        const struct umask_row *row = &umask_rows[_i];
        mode_t v = 01234;
        char what[128];
        int r;

        snprintf(what, sizeof what, "parse_umask row %d \"%s\"", _i, row->in);
        r = parse_umask(row->in, &v);
        ROW_INT(what, r, row->rc);
        ROW_INT(what, v, r < 0 ? 01234 : row->mask);
}
END_TEST

START_TEST(umask_null) {
        mode_t v = 9;
        ck_assert_int_eq(parse_umask(NULL, &v), -EINVAL);
        ck_assert_uint_eq(v, 9);
}
END_TEST

/* ---- parse_journal_stream ---- */

static const struct journal_row {
        const char *in;
        int rc;
        uint64_t dev, ino;
} journal_rows[] = {
        { "8:12345", 0, 8, 12345 },
        { "0:0", 0, 0, 0 },
        { "18446744073709551615:18446744073709551615", 0, UINT64_MAX, UINT64_MAX },
        { "18446744073709551616:1", -EINVAL },
        { "1:18446744073709551616", -EINVAL },
        { "", -EINVAL },
        { "8", -EINVAL },
        { "8:", -EINVAL },
        { ":8", -EINVAL },
        { "8:1:2", -EINVAL },
        { "8:1 ", -EINVAL },
        { "8: 1", -EINVAL },
        { " 8:1", -EINVAL },
        { "-8:1", -EINVAL },
        { "8:-1", -EINVAL },
        { "+8:1", -EINVAL },
        { "8:+1", -EINVAL },
        { "a:1", -EINVAL },
        { "8:x", -EINVAL },
        { "8;1", -EINVAL },
};

START_TEST(journal_table) {
        const struct journal_row *row = &journal_rows[_i];
        uint64_t dev = 77, ino = 78;
        char what[128];
        int r;

        snprintf(what, sizeof what, "parse_journal_stream row %d \"%s\"", _i, row->in);
        r = parse_journal_stream(row->in, &dev, &ino);
        ROW_INT(what, r, row->rc);
        ck_assert_msg(dev == (r < 0 ? 77 : row->dev), "%s: dev %llu", what, (unsigned long long)dev);
        ck_assert_msg(ino == (r < 0 ? 78 : row->ino), "%s: ino %llu", what, (unsigned long long)ino);
}
END_TEST

START_TEST(journal_null) {
        uint64_t dev, ino;
        ck_assert_int_eq(parse_journal_stream(NULL, &dev, &ino), -EINVAL);
}
END_TEST

/* ---- module_name_valid ---- */

static const struct module_row {
        const char *in;
        bool valid;
} module_rows[] = {
        { "Agent", true },
        { "agent2", true },
        { "_private", true },
        { "_", true },
        { "__init__", true },
        { "snake_case_name", true },
        { "none", true },   /* keywords are case-sensitive */
        { "true", true },
        { "match", true },  /* soft keywords are fine as module names */
        { "case", true },
        { "type", true },
        { "print", true },  /* a builtin, not a keyword */
        { "", false },
        { "2fast", false },
        { "0", false },
        { "a-b", false },
        { "a.b", false },
        { "a b", false },
        { "a/b", false },
        { "a$", false },
        { "caf\xc3\xa9", false },
        { "\xc3\xa9t\xc3\xa9", false },
        { "\xe4\xbd\xa0\xe5\xa5\xbd", false },
        { "False", false },
        { "None", false },
        { "True", false },
        { "class", false },
        { "import", false },
        { "async", false },
        { "await", false },
        { "lambda", false },
        { "nonlocal", false },
        { "yield", false },
        { "pass", false },
};

START_TEST(module_name_table) {
        char what[128];

        snprintf(what, sizeof what, "module_name_valid row %d \"%s\"", _i, module_rows[_i].in);
        ROW_INT(what, module_name_valid(module_rows[_i].in), module_rows[_i].valid);
}
END_TEST

START_TEST(module_name_null) {
        ck_assert(!module_name_valid(NULL));
}
END_TEST

/* ---- agent_module_name ---- */

static const struct agent_row {
        const char *path;
        size_t size;
        int rc;
        const char *name;
} agent_rows[] = {
        { "Agent.py", 256, 0, "Agent" },
        { "./Agent.py", 256, 0, "Agent" },
        { "/usr/share/pylaunchd/agent/Agent.py", 256, 0, "Agent" },
        { "/a.b/c-d/my_agent.py", 256, 0, "my_agent" },
        { "dir.py/Agent.py", 256, 0, "Agent" },
        { "ab.py", 3, 0, "ab" },           /* exactly fits with its NUL */
        { "ab.py", 2, -ENAMETOOLONG },
        { "ab.py", 0, -ENAMETOOLONG },
        { ".py", 256, -EINVAL },
        { "/srv/.py", 256, -EINVAL },
        { "Agent", 256, -EINVAL },
        { "Agent.pyc", 256, -EINVAL },
        { "Agent.PY", 256, -EINVAL },
        { "Agent.py.txt", 256, -EINVAL },
        { "a-b.py", 256, -EINVAL },
        { "my.agent.py", 256, -EINVAL },
        { "2agent.py", 256, -EINVAL },
        { "class.py", 256, -EINVAL },
        { "caf\xc3\xa9.py", 256, -EINVAL },
        { "", 256, -EINVAL },
        { "/", 256, -EINVAL },
        { "agents/", 256, -EINVAL },
        { "Agent.py/", 256, -EINVAL },
};

START_TEST(agent_name_table) {
        const struct agent_row *row = &agent_rows[_i];
        char name[300], what[128];
        int r;

        snprintf(what, sizeof what, "agent_module_name row %d \"%s\" size %zu", _i, row->path, row->size);
        memset(name, 'X', sizeof name);
        name[sizeof name - 1] = '\0';
        r = agent_module_name(row->path, name, row->size);
        ROW_INT(what, r, row->rc);
        if (r == 0)
                ROW_STR(what, name, row->name);
        else
                ck_assert_msg(name[0] == 'X' && strlen(name) == sizeof name - 1, "%s: ret written on failure", what);
}
END_TEST

START_TEST(agent_name_long) {
        char path[300], name[300];

        /* 255 characters and ".py" is the longest: the interpreter's agent name holds 256. */
        memset(path, 'a', 255);
        memcpy(path + 255, ".py", 4);
        ck_assert_int_eq(agent_module_name(path, name, sizeof name), 0);
        ck_assert_uint_eq(strlen(name), 255);
        memset(path, 'a', 256);
        memcpy(path + 256, ".py", 4);
        ck_assert_int_eq(agent_module_name(path, name, sizeof name), -ENAMETOOLONG);
        ck_assert_int_eq(agent_module_name(NULL, name, sizeof name), -EINVAL);
}

/* ---- parse_pyvenv_version ---- */

static const struct pyvenv_row {
        const char *cfg;
        int rc, major, minor;
} pyvenv_rows[] = {
        { "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n", 0, 3, 11 },
        { "version=3.9.7", 0, 3, 9 },
        { "home = /usr/bin\nversion_info = 3.12.1.final.0\n", 0, 3, 12 },
        { "version = 3.11", 0, 3, 11 },
        { "version\t=\t10.0.0\n", 0, 10, 0 },
        { "home = /usr/bin\n", -ENOENT },
        { "", -ENOENT },
        { "executable = /usr/bin/python3.11\n", -ENOENT },
        { "version = three\n", -EINVAL },
        { "version = 3\n", -EINVAL },
        { "version = 3.\n", -EINVAL },
        { "version = .11\n", -EINVAL },
        { "version = 1234.5\n", -EINVAL },
        /* Only whole keys count: "versions" is not "version". */
        { "versions = 3.11\n", -ENOENT },
};

START_TEST(pyvenv_table) {
        const struct pyvenv_row *row = &pyvenv_rows[_i];
        int major = -1, minor = -1;
        int rc = parse_pyvenv_version(row->cfg, &major, &minor);

        ck_assert_msg(rc == row->rc, "row %d %s: rc %d, want %d", _i, row->cfg, rc, row->rc);
        if (rc == 0) {
                ck_assert_int_eq(major, row->major);
                ck_assert_int_eq(minor, row->minor);
        } else {
                ck_assert_msg(major == -1 && minor == -1, "row %d wrote its output on failure", _i);
        }
}
END_TEST

END_TEST

/* parse_nearest: the suggestion for a mistyped subcommand or option. */
static const char *const commands[] = { "install", "uninstall", "list", "status", "logs", "restart", "--help" };
static const char *const longopts[] = { "idle-timeout", "stop-timeout", "min-uptime", "listen", "allow-uid",
                                        "allow-gid", "no-strict-modes", "max-connections" };

static const struct nearest_row {
        const char *word;
        const char *const *candidates;
        size_t n;
        const char *want;
} nearest_rows[] = {
        { "instal", commands, 7, "install" },
        { "isntall", commands, 7, "install" },          /* a transposition is one edit */
        { "uninstal", commands, 7, "uninstall" },
        { "stauts", commands, 7, "status" },
        { "log", commands, 7, "logs" },
        { "help", commands, 7, NULL },                   /* "--help" is 2 edits away: too far for 4 letters */
        { "-help", commands, 7, "--help" },
        { "restrat", commands, 7, "restart" },
        { "xyz", commands, 7, NULL },
        { "", commands, 7, NULL },
        { "install", commands, 7, "install" },           /* exact */
        { "idle-timout", longopts, 8, "idle-timeout" },
        { "idletimeout", longopts, 8, "idle-timeout" },
        { "stop-timout", longopts, 8, "stop-timeout" },
        { "allow-user", longopts, 8, "allow-uid" },      /* 3 edits, and a 10-letter word allows 3 */
        { "allow-users", longopts, 8, NULL },            /* 4 edits */
        { "lisen", longopts, 8, "listen" },
        { "no-strict", longopts, 8, NULL },
        { "max-connection", longopts, 8, "max-connections" },
        { "allowuid", longopts, 8, "allow-uid" },
        { "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", longopts, 8, NULL },
};

START_TEST(nearest_table) {
        const struct nearest_row *row = &nearest_rows[_i];
        char what[160];

        snprintf(what, sizeof what, "nearest to '%s'", row->word);
        ROW_STR(what, parse_nearest(row->word, row->candidates, row->n), row->want);
}
END_TEST

static Suite *parse_suite(void) {
        Suite *s = suite_create("parse");
        TCase *tc;

        tc = tcase_create("address");
        tcase_add_loop_test(tc, address_table, 0, N_ROWS(address_rows));
        tcase_add_test(tc, address_null);
        tcase_add_test(tc, address_unix_path_length_boundary);
        tcase_add_test(tc, address_tcp_host_length_boundary);
        suite_add_tcase(s, tc);

        tc = tcase_create("int_range");
        tcase_add_loop_test(tc, int_range_table, 0, N_ROWS(int_rows));
        tcase_add_test(tc, int_range_null);
        suite_add_tcase(s, tc);

        tc = tcase_create("duration");
        tcase_add_loop_test(tc, duration_table, 0, N_ROWS(duration_rows));
        tcase_add_test(tc, duration_null);
        suite_add_tcase(s, tc);

        tc = tcase_create("umask");
        tcase_add_loop_test(tc, umask_table, 0, N_ROWS(umask_rows));
        tcase_add_test(tc, umask_null);
        suite_add_tcase(s, tc);

        tc = tcase_create("journal_stream");
        tcase_add_loop_test(tc, journal_table, 0, N_ROWS(journal_rows));
        tcase_add_test(tc, journal_null);
        suite_add_tcase(s, tc);

        tc = tcase_create("module_name");
        tcase_add_loop_test(tc, module_name_table, 0, N_ROWS(module_rows));
        tcase_add_test(tc, module_name_null);
        tcase_add_loop_test(tc, agent_name_table, 0, N_ROWS(agent_rows));
        tcase_add_test(tc, agent_name_long);
        tcase_add_loop_test(tc, pyvenv_table, 0, N_ROWS(pyvenv_rows));
        suite_add_tcase(s, tc);

        tc = tcase_create("nearest");
        tcase_add_loop_test(tc, nearest_table, 0, N_ROWS(nearest_rows));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(parse_suite());
}
