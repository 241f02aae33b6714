/* fuzz_options.c: options_parse on a command line made of the input split at NUL bytes (after
 * argv[0] "pylaunchd"), e.g. "--listen\0tcp:[::1]:80\0Agent.py\0-v". Besides not crashing:
 * it returns RUN, HELP, VERSION or -EINVAL; writes *ret only for RUN; never reorders argv; what
 * it accepted is within every documented limit, with the agent and its argv the tail of our
 * argv; and what it prints on stderr is one error exactly when it fails, in plain text when the
 * command line is, naming an option that is on the command line.
 * stdout and stderr are redirected once, at start: stdout (--help, --version) to /dev/null,
 * stderr into a buffer the checks read. Only the FILE pointers change: fd 2 stays for libFuzzer
 * and ASan. */
#include <errno.h>

#include "fuzz.h"
#include "options.h"

#define MAX_ARGS 64
/* parse.h: durations are at most about 10 years (10 * 366 days, and the last second's fraction). */
#define MAX_USEC ((10ULL * 366 * 24 * 3600) * 1000000 + 999999)

/* KNOWN BUG, reported: a long option that takes no value, given one ("--daemon=yes",
 * "--verbose=1"), is refused as "unknown option '-X'" where X is the option's getopt value: its
 * short letter ("-v" for --verbose=1) or, for a long-only option, a control character
 * ("--daemon=yes": '-\f'). options.c's default: branch prints optopt whenever it is set; glibc
 * sets it to the option's val in this case. While this is 1, such messages are let through
 * when a "--NAME=VALUE" argument is on the command line; 0 with the fix. */
#ifndef KNOWN_BUG_LONG_OPTION_WITH_VALUE
#define KNOWN_BUG_LONG_OPTION_WITH_VALUE 0
#endif

/* What options_parse printed on stderr for the current input. */
static char err_buf[1 << 16];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        FILE *null = fopen("/dev/null", "w"), *err = fmemopen(err_buf, sizeof err_buf, "w");

        (void)argc;
        (void)argv;
        if (!null || !err)
                abort();
        fuzz_report_stream = stderr;
        /* glibc's stdout and stderr are plain variables; the streams they named stay usable. */
        stdout = null;
        stderr = err;
        return 0;
}

/* True when p points into one of the argument strings (an option's value may start inside its
 * argument, as in -Wonce or --listen=ADDR). */
static bool into_argv(const char *p, char **argv, int argc) {
        uintptr_t q = (uintptr_t)p;

        for (int i = 0; i < argc; i++)
                if (q >= (uintptr_t)argv[i] && q <= (uintptr_t)argv[i] + strlen(argv[i]))
                        return true;
        return false;
}

static void check_run(const struct options *o, char **argv, int argc) {
        FUZZ_CHECK(o->agent_argv > argv && o->agent_argv < argv + argc, "agent_argv is not inside argv");
        FUZZ_CHECK(o->agent_argc == argc - (int)(o->agent_argv - argv), "agent_argc %d is not the tail's length",
                   o->agent_argc);
        FUZZ_CHECK(o->agent == o->agent_argv[0], "agent is not agent_argv[0]");
        FUZZ_CHECK(o->agent_argv[o->agent_argc] == NULL, "agent_argv is not NULL-terminated");
        FUZZ_CHECK(o->n_listen <= OPTIONS_MAX_LISTEN, "%zu listen addresses", o->n_listen);
        for (size_t i = 0; i < o->n_listen; i++)
                fuzz_check_address(&o->listen[i]);
        FUZZ_CHECK(o->n_socket_names >= 1 && o->n_socket_names <= OPTIONS_MAX_SOCKET_NAMES, "%zu socket names",
                   o->n_socket_names);
        for (size_t i = 0; i < o->n_socket_names; i++)
                FUZZ_CHECK(o->socket_names[i] && o->socket_names[i][0] &&
                                   (into_argv(o->socket_names[i], argv, argc) || strcmp(o->socket_names[i], "Listeners") == 0),
                           "socket name %zu is empty or not from argv", i);
        FUZZ_CHECK(o->max_connections >= 1 && o->max_connections <= OPTIONS_MAX_MAX_CONNECTIONS,
                   "max_connections %u", o->max_connections);
        FUZZ_CHECK(o->workers >= 1 && o->workers <= OPTIONS_MAX_WORKERS, "workers %u", o->workers);
        FUZZ_CHECK(o->backlog >= 1 && o->backlog <= 65535, "backlog %d", o->backlog);
        FUZZ_CHECK(o->n_allow_uid <= OPTIONS_MAX_ALLOW && o->n_allow_gid <= OPTIONS_MAX_ALLOW, "%zu uids, %zu gids",
                   o->n_allow_uid, o->n_allow_gid);
        /* (uid_t)-1 means "no change" to chown and setreuid: never a uid to allow. */
        for (size_t i = 0; i < o->n_allow_uid; i++)
                FUZZ_CHECK(o->allow_uid[i] != (uid_t)-1, "--allow-uid -1 accepted");
        for (size_t i = 0; i < o->n_allow_gid; i++)
                FUZZ_CHECK(o->allow_gid[i] != (gid_t)-1, "--allow-gid -1 accepted");
        FUZZ_CHECK(o->idle_timeout_usec <= MAX_USEC && o->min_uptime_usec <= MAX_USEC &&
                           o->stop_timeout_usec <= MAX_USEC,
                   "a duration above the documented maximum");
        FUZZ_CHECK(o->umask <= 0777, "umask %#o", (unsigned)o->umask);
        FUZZ_CHECK(o->n_keep_fd <= OPTIONS_MAX_ALLOW, "%zu keep-fds", o->n_keep_fd);
        for (size_t i = 0; i < o->n_keep_fd; i++)
                FUZZ_CHECK(o->keep_fd[i] >= 3 && o->keep_fd[i] <= 65535, "--keep-fd %d accepted", o->keep_fd[i]);
        FUZZ_CHECK(o->n_warnings <= OPTIONS_MAX_ALLOW, "%zu warnings", o->n_warnings);
        for (size_t i = 0; i < o->n_warnings; i++)
                FUZZ_CHECK(into_argv(o->warnings[i], argv, argc), "warning filter %zu points outside argv", i);
        FUZZ_CHECK(!o->venv || (o->venv[0] && o->site), "--venv empty, or without --site");
}

static bool printable(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((s[i] < 0x20 && s[i] != '\n') || s[i] >= 0x7f)
                        return false;
        return true;
}

static bool has_long_option_with_value(char **argv, int argc) {
        for (int i = 1; i < argc; i++)
                if (strncmp(argv[i], "--", 2) == 0 && argv[i][2] && strchr(argv[i], '='))
                        return true;
        return false;
}

/* The option an error names ("unknown option 'X'", "option 'X' needs a value") is on the
 * command line: an argument itself, or "-c" for a letter c in a group of short options. */
static void check_named_option(const char *err, char **argv, int argc) {
        static const char *const forms[] = { "pylaunchd: unknown option '", "pylaunchd: option '" };
        const char *name = NULL;

        for (size_t f = 0; f < 2 && !name; f++)
                if (strncmp(err, forms[f], strlen(forms[f])) == 0)
                        name = err + strlen(forms[f]);
        if (!name)
                return;
        for (int i = 1; i < argc; i++) {
                size_t len = strlen(argv[i]);

                /* An argument may itself hold a quote: compare whole arguments, then the quote. */
                if (strncmp(name, argv[i], len) == 0 && name[len] == '\'')
                        return;
                /* A letter of a group, even '-' ("-u-x" names '--'). */
                if (name[0] == '-' && name[1] && name[2] == '\'' && argv[i][0] == '-' && argv[i][1] &&
                    argv[i][1] != '-' && strchr(argv[i] + 1, name[1]))
                        return;
        }
        if (KNOWN_BUG_LONG_OPTION_WITH_VALUE && name[0] == '-' && name[1] && name[2] == '\'' &&
            has_long_option_with_value(argv, argc))
                return;
        FUZZ_CHECK(false, "the error names an option that is not on the command line: \"%s\"", err);
}

static void check_stderr(int r, char **argv, int argc) {
        static const char tail[] = "Try 'pylaunchd --help' for more information.\n";
        long pos;
        size_t n;
        bool plain_argv = true;

        fflush(stderr);
        pos = ftell(stderr);
        FUZZ_CHECK(pos >= 0, "stderr position %ld", pos);
        n = (size_t)pos;
        if (n >= sizeof err_buf - 1)
                return; /* longer than the buffer (a huge argument echoed): nothing to read */
        err_buf[n] = '\0';
        for (int i = 1; i < argc; i++)
                plain_argv = plain_argv && printable(argv[i], strlen(argv[i]));
        if (r == -EINVAL) {
                FUZZ_CHECK(n > sizeof tail && strncmp(err_buf, "pylaunchd: ", 11) == 0 &&
                                   strcmp(err_buf + n - (sizeof tail - 1), tail) == 0,
                           "a refusal without its message: \"%s\"", err_buf);
                check_named_option(err_buf, argv, argc);
        } else {
                /* Success prints nothing on stderr but warnings (--umask 0). */
                for (const char *line = err_buf; *line; line = strchr(line, '\n') + 1) {
                        FUZZ_CHECK(strncmp(line, "pylaunchd: warning: ", 20) == 0 && strchr(line, '\n'),
                                   "result %d with \"%s\" on stderr", r, err_buf);
                }
        }
        FUZZ_CHECK(!plain_argv || printable(err_buf, n) ||
                           (KNOWN_BUG_LONG_OPTION_WITH_VALUE && has_long_option_with_value(argv, argc)),
                   "control characters in the message for a plain command line: \"%s\"", err_buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *argv[MAX_ARGS + 2], *copy[MAX_ARGS + 2];
        struct options o, sentinel;
        int argc = 0, r;
        size_t start = 0;

        fuzz_begin(data, size);
        argv[argc++] = strdup("pylaunchd");
        /* Each argument in a buffer of its own exact size, so ASan sees a read past its NUL. */
        for (size_t i = 0; size > 0 && i <= size && argc <= MAX_ARGS; i++) {
                if (i < size && data[i] != '\0')
                        continue;
                if (i == size && start == size)
                        break; /* a trailing NUL ends the last argument, it does not add "" */
                argv[argc] = malloc(i - start + 1);
                if (!argv[argc])
                        abort();
                memcpy(argv[argc], data + start, i - start);
                argv[argc][i - start] = '\0';
                argc++;
                start = i + 1;
        }
        argv[argc] = NULL;
        memcpy(copy, argv, sizeof argv);

        memset(&o, 0xa5, sizeof o);
        sentinel = o;
        rewind(stderr);
        r = options_parse(argc, argv, &o);
        check_stderr(r, argv, argc);
        FUZZ_CHECK(r == OPTIONS_RUN || r == OPTIONS_HELP || r == OPTIONS_VERSION || r == -EINVAL,
                   "unexpected return %d", r);
        FUZZ_CHECK(memcmp(argv, copy, sizeof(char *) * (size_t)(argc + 1)) == 0, "options_parse reordered argv");
        if (r == OPTIONS_RUN)
                check_run(&o, argv, argc);
        else
                FUZZ_CHECK(memcmp(&o, &sentinel, sizeof o) == 0, "ret written although the result is %d", r);
        for (int i = 0; i < argc; i++)
                free(argv[i]);
        return 0;
}
