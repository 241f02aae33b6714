/* options.c: the command line. Parsing is separate from acting so each option has a table test. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "options.h"

enum { OPT_BACKLOG = 0x100, OPT_SITE, OPT_IDLE_TIMEOUT, OPT_MIN_UPTIME, OPT_STOP_TIMEOUT, OPT_ALLOW_UID, OPT_ALLOW_GID,
       OPT_DEV, OPT_FAULTHANDLER, OPT_IMPORT_TIME, OPT_VENV, OPT_WORKERS,
       OPT_DAEMON, OPT_PIDFILE, OPT_CHDIR, OPT_UMASK, OPT_KEEP_FD, OPT_LOG, OPT_CORE_DUMPS, OPT_USER, OPT_GROUP, OPT_NO_STRICT,
       OPT_LAUNCHD, OPT_INETD };

static const struct option long_options[] = {
        { "listen", required_argument, NULL, 'l' },
        { "socket-name", required_argument, NULL, 's' },
        { "launchd", no_argument, NULL, OPT_LAUNCHD },
        { "inetd", no_argument, NULL, OPT_INETD },
        { "max-connections", required_argument, NULL, 'c' },
        { "backlog", required_argument, NULL, OPT_BACKLOG },
        { "workers", required_argument, NULL, OPT_WORKERS },
        { "daemon", no_argument, NULL, OPT_DAEMON },
        { "pidfile", required_argument, NULL, OPT_PIDFILE },
        { "chdir", required_argument, NULL, OPT_CHDIR },
        { "umask", required_argument, NULL, OPT_UMASK },
        { "keep-fd", required_argument, NULL, OPT_KEEP_FD },
        { "log", required_argument, NULL, OPT_LOG },
        { "core-dumps", no_argument, NULL, OPT_CORE_DUMPS },
        { "user", required_argument, NULL, OPT_USER },
        { "group", required_argument, NULL, OPT_GROUP },
        { "allow-uid", required_argument, NULL, OPT_ALLOW_UID },
        { "allow-gid", required_argument, NULL, OPT_ALLOW_GID },
        { "site", no_argument, NULL, OPT_SITE },
        { "no-strict-modes", no_argument, NULL, OPT_NO_STRICT },
        { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
        { "min-uptime", required_argument, NULL, OPT_MIN_UPTIME },
        { "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
        { "unbuffered", no_argument, NULL, 'u' },
        { "warnings", required_argument, NULL, 'W' },
        { "dev", no_argument, NULL, OPT_DEV },
        { "faulthandler", no_argument, NULL, OPT_FAULTHANDLER },
        { "import-time", no_argument, NULL, OPT_IMPORT_TIME },
        { "venv", required_argument, NULL, OPT_VENV },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        {},
};

/* "; did you mean '--idle-timeout'?" for a long option that is close to one of ours, else "". */
static const char *suggest_long_option(const char *arg, char *buf, size_t size) {
        const char *names[sizeof long_options / sizeof long_options[0]], *near;
        char word[64];
        size_t n = 0;

        for (const struct option *o = long_options; o->name; o++)
                names[n++] = o->name;
        snprintf(word, sizeof word, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
        near = parse_nearest(word, names, n);
        if (!near)
                return "";
        snprintf(buf, size, "; did you mean '--%s'?", near);
        return buf;
}

static bool known_long_option(const char *name, size_t len) {
        for (const struct option *o = long_options; o->name; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                        return true;
        return false;
}

void options_usage(FILE *f, const char *program) {
        fprintf(f,
                "Usage: %1$s [OPTIONS] AGENT.py [AGENT ARGS...]\n"
                "       %1$s install --name NAME [INSTALL OPTIONS] [OPTIONS] AGENT.py [-- ARGS...]\n"
                "       %1$s uninstall NAME\n"
                "       %1$s list | status NAME | logs NAME [-f] | restart NAME\n"
                "       %1$s sync [--dry-run] [--watch-install | --watch-remove]\n"
                "\n"
                "Serve a Python agent's handle(conn) or serve(listeners) on sockets that a service\n"
                "manager owns. It runs in one of three ways:\n"
                "  socket-activated by systemd   systemd-socket-activate -l PATH %1$s AGENT.py\n"
                "                                (or a .socket unit; Accept=yes works too)\n"
                "  checked in with launchd       a LaunchAgent plist with Sockets (see --socket-name)\n"
                "  binding its own sockets       %1$s --listen unix:/tmp/agent.sock AGENT.py\n"
                "\n"
                "Options:\n"
                "  -l, --listen ADDR           bind and listen on ADDR: unix:PATH, unix:@ABSTRACT,\n"
                "                              tcp:HOST:PORT, tcp:[V6ADDR]:PORT, fifo:PATH (repeatable)\n"
                "  -s, --socket-name NAME      launchd Sockets key to check in (repeatable;\n"
                "                              default Listeners)\n"
                "      --launchd               check in with launchd only (in a LaunchAgent plist's\n"
                "                              ProgramArguments; without it launchd is asked too)\n"
                "      --inetd                 serve the socket on fd 0 only (inetd, launchd's\n"
                "                              inetdCompatibility)\n"
                "  -c, --max-connections N     connections handled at once (default %2$d); beyond\n"
                "                              that, new ones wait in the kernel's queue\n"
                "      --allow-uid UID         let this uid connect (or send datagrams) too\n"
                "      --allow-gid GID         let members of this group connect too (both\n"
                "                              repeatable; by default only our own uid may)\n"
                "      --workers N             N processes, each with its own interpreter, share the\n"
                "                              sockets (for CPU-bound agents; default 1)\n"
                "      --backlog N             listen() backlog for --listen sockets (default 128)\n"
                "      --idle-timeout SECONDS  when socket-activated, exit after this long with no\n"
                "                              connection in flight (fractions allowed; default never);\n"
                "                              the service manager starts it again on the next one\n"
                "      --min-uptime SECONDS    never idle-exit sooner than this after start\n"
                "                              (default 0.25, under the units' start limit)\n"
                "      --stop-timeout SECONDS  on SIGTERM, how long handlers in flight may finish\n"
                "                              (default 10; keep it under TimeoutStopSec=)\n"
                "      --no-strict-modes       run the agent even if others could write it or a\n"
                "                              directory above it (refused by default, exit 77)\n"
                "      --site                  import site, so site-packages are importable\n"
                "                              (costs start-up time; off by default)\n"
                "      --venv DIR              import packages from the virtualenv DIR (made by the\n"
                "                              same Python minor version; implies --site)\n"
                "  -u, --unbuffered            unbuffered stdout and stderr, as python -u\n"
                "  -W, --warnings ARG          a warnings filter, as python -W (repeatable)\n"
                "      --dev                   Python's development mode, as python -X dev\n"
                "      --faulthandler          tracebacks on a crash, as python -X faulthandler\n"
                "      --import-time           print import times, as python -X importtime\n"
                "  -v, --verbose               log each connection\n"
                "\n"
                "Without a service manager (see README):\n"
                "      --daemon                detach; the command returns once the agent serves\n"
                "      --pidfile PATH          lock PATH and write the PID to it; a second instance\n"
                "                              is refused\n"
                "      --chdir DIR             the daemon's working directory (default /)\n"
                "      --umask MODE            octal, default 077\n"
                "      --keep-fd N             keep this inherited fd open (repeatable)\n"
                "      --log FILE              the daemon's stdout and stderr (default /dev/null)\n"
                "      --core-dumps            allow core dumps (off by default)\n"
                "      --user USER, --group GROUP  drop to these after binding (when root)\n"
                "  -h, --help                  show this help\n"
                "  -V, --version               show the version and the embedded Python\n"
                "\n"
                "`%1$s install --help` shows how to install an agent as a per-user service;\n"
                "`%1$s sync --help`, how a folder of agents is kept installed.\n"
                "\n"
                "The agent defines handle(conn), called once per connection, or serve(listeners)\n"
                "to run its own loop. Exit codes: 0 ok, 1 runtime error, 64 usage, 65 agent failed\n"
                "to import, 66 agent missing, 69 no handle/serve, 70 agent failed, 71 OS error,\n"
                "77 a file pylaunchd trusts is writable by others, 78 unusable activation sockets.\n",
                program, OPTIONS_DEFAULT_MAX_CONNECTIONS);
}

PL_PRINTF(2, 3) static int bad(const char *program, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help' for more information.\n", program);
        return -EINVAL;
}

int options_parse(int argc, char **argv, struct options *ret) {
        const char *program = argc > 0 && argv[0] ? argv[0] : "pylaunchd";
        struct options o = { .max_connections = OPTIONS_DEFAULT_MAX_CONNECTIONS,
                             .backlog = 128,
                             .workers = 1,
                             .umask = 077,
                             .min_uptime_usec = OPTIONS_DEFAULT_MIN_UPTIME_USEC,
                             .stop_timeout_usec = OPTIONS_DEFAULT_STOP_TIMEOUT_USEC };
        long long v;
        char hint[96];
        int c;

        opterr = 0;
        optind = 0; /* 0, not 1: glibc then re-initialises, so tests may call this repeatedly */
        /* '+': stop at the agent's path, so the agent's own options reach it untouched; ':' makes a
         * missing value return ':' rather than '?'. */
        while ((c = getopt_long(argc, argv, "+:l:s:c:uW:vhV", long_options, NULL)) != -1) {
                switch (c) {
                case 'l':
                        if (o.n_listen >= OPTIONS_MAX_LISTEN)
                                return bad(program, "too many --listen addresses (at most 16): %s", optarg);
                        if (parse_address(optarg, &o.listen[o.n_listen]) < 0)
                                return bad(program,
                                           "--listen '%s' is not an address; use unix:PATH, unix:@NAME, "
                                           "tcp:HOST:PORT, tcp:[V6ADDR]:PORT or fifo:PATH",
                                           optarg);
                        o.n_listen++;
                        break;
                case 's':
                        if (o.n_socket_names >= OPTIONS_MAX_SOCKET_NAMES)
                                return bad(program, "too many --socket-name values (at most 16): %s", optarg);
                        if (!*optarg)
                                return bad(program, "--socket-name needs a non-empty launchd Sockets key");
                        o.socket_names[o.n_socket_names++] = optarg;
                        break;
                case 'c':
                        if (parse_int_range(optarg, 1, OPTIONS_MAX_MAX_CONNECTIONS, &v) < 0)
                                return bad(program, "--max-connections '%s' must be a whole number from 1 to 4096", optarg);
                        o.max_connections = (unsigned)v;
                        break;
                case OPT_ALLOW_UID:
                        if (o.n_allow_uid >= OPTIONS_MAX_ALLOW || parse_int_range(optarg, 0, UINT32_MAX - 1, &v) < 0)
                                return bad(program, "--allow-uid '%s' must be a numeric uid (at most 16 of them)", optarg);
                        o.allow_uid[o.n_allow_uid++] = (uid_t)v;
                        break;
                case OPT_ALLOW_GID:
                        if (o.n_allow_gid >= OPTIONS_MAX_ALLOW || parse_int_range(optarg, 0, UINT32_MAX - 1, &v) < 0)
                                return bad(program, "--allow-gid '%s' must be a numeric gid (at most 16 of them)", optarg);
                        o.allow_gid[o.n_allow_gid++] = (gid_t)v;
                        break;
                case OPT_LAUNCHD:
                case OPT_INETD:
                        if (o.checkin != CHECKIN_AUTO && o.checkin != (c == OPT_LAUNCHD ? CHECKIN_LAUNCHD : CHECKIN_INETD))
                                return bad(program, "--launchd and --inetd exclude each other: a process checks in one way");
                        o.checkin = c == OPT_LAUNCHD ? CHECKIN_LAUNCHD : CHECKIN_INETD;
                        break;
                case OPT_DAEMON:
                        o.daemon = true;
                        break;
                case OPT_PIDFILE:
                        o.pidfile = optarg;
                        break;
                case OPT_CHDIR:
                        o.chdir = optarg;
                        break;
                case OPT_UMASK:
                        if (parse_umask(optarg, &o.umask) < 0)
                                return bad(program, "--umask '%s' must be an octal mode from 000 to 777, e.g. 077", optarg);
                        if (o.umask == 0)
                                fprintf(stderr, "%s: warning: --umask 0 makes the daemon's files writable by "
                                        "everyone\n", program);
                        break;
                case OPT_KEEP_FD:
                        if (o.n_keep_fd >= OPTIONS_MAX_ALLOW || parse_int_range(optarg, 3, 65535, &v) < 0)
                                return bad(program, "--keep-fd '%s' must be an fd number from 3 (at most 16 of them)", optarg);
                        o.keep_fd[o.n_keep_fd++] = (int)v;
                        break;
                case OPT_LOG:
                        o.log = optarg;
                        break;
                case OPT_CORE_DUMPS:
                        o.core_dumps = true;
                        break;
                case OPT_USER:
                        o.user = optarg;
                        break;
                case OPT_GROUP:
                        o.group = optarg;
                        break;
                case OPT_WORKERS:
                        if (parse_int_range(optarg, 1, OPTIONS_MAX_WORKERS, &v) < 0)
                                return bad(program, "--workers '%s' must be a whole number from 1 to 64", optarg);
                        o.workers = (unsigned)v;
                        break;
                case OPT_BACKLOG:
                        if (parse_int_range(optarg, 1, 65535, &v) < 0)
                                return bad(program, "--backlog '%s' must be a whole number from 1 to 65535", optarg);
                        o.backlog = (int)v;
                        break;
                case OPT_IDLE_TIMEOUT:
                        if (parse_duration_usec(optarg, &o.idle_timeout_usec) < 0 || o.idle_timeout_usec == 0)
                                return bad(program, "--idle-timeout '%s' must be a positive number of seconds, e.g. 30 or 0.5", optarg);
                        break;
                case OPT_MIN_UPTIME:
                        if (parse_duration_usec(optarg, &o.min_uptime_usec) < 0)
                                return bad(program, "--min-uptime '%s' must be a number of seconds, e.g. 0.25", optarg);
                        break;
                case OPT_STOP_TIMEOUT:
                        if (parse_duration_usec(optarg, &o.stop_timeout_usec) < 0)
                                return bad(program, "--stop-timeout '%s' must be a number of seconds, e.g. 10", optarg);
                        break;
                case OPT_NO_STRICT:
                        o.no_strict_modes = true;
                        break;
                case OPT_SITE:
                        o.site = true;
                        break;
                case 'u':
                        o.unbuffered = true;
                        break;
                case 'v':
                        o.verbose = true;
                        break;
                case 'W':
                        if (o.n_warnings >= OPTIONS_MAX_ALLOW)
                                return bad(program, "too many --warnings filters (at most 16): %s", optarg);
                        o.warnings[o.n_warnings++] = optarg;
                        break;
                case OPT_DEV:
                        o.dev_mode = true;
                        break;
                case OPT_FAULTHANDLER:
                        o.faulthandler = true;
                        break;
                case OPT_IMPORT_TIME:
                        o.import_time = true;
                        break;
                case OPT_VENV:
                        if (!*optarg)
                                return bad(program, "--venv needs the virtualenv's directory");
                        o.venv = optarg;
                        o.site = true;
                        break;
                case 'h':
                        options_usage(stdout, program);
                        return OPTIONS_HELP;
                case 'V':
                        printf("pylaunchd %s (embedded Python %s, %s)\n", PYLAUNCHD_VERSION,
                               PYLAUNCHD_PYTHON_VERSION, PYLAUNCHD_PYTHON);
                        return OPTIONS_VERSION;
                case ':':
                        return bad(program, "option '%s' needs a value", argv[optind - 1]);
                default:
                        /* A long option (--verbose=1: a value it does not take, or unknown) is
                         * named as written; a bad short option may sit inside a group (-Zv), so
                         * name its letter. */
                        if (optind > 0 && strncmp(argv[optind - 1], "--", 2) == 0) {
                                const char *arg = argv[optind - 1], *eq = strchr(arg, '=');
                                if (eq && known_long_option(arg + 2, (size_t)(eq - arg - 2)))
                                        return bad(program, "option '%s': %.*s takes no value", arg,
                                                   (int)(eq - arg), arg);
                                return bad(program, "unknown option '%s'%s", arg,
                                           suggest_long_option(arg, hint, sizeof hint));
                        }
                        if (optopt > 0x20 && optopt < 0x7f)
                                return bad(program, "unknown option '-%c'", optopt);
                        /* Not a printable letter: name the whole group that holds it. */
                        for (int i = 1; i <= optind && i < argc; i++)
                                if (argv[i][0] == '-' && argv[i][1] != '-' && strchr(argv[i] + 1, (char)optopt))
                                        return bad(program, "unknown option '%s'", argv[i]);
                        return bad(program, "unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return bad(program, "no agent given: name the agent's .py file");
        if (o.checkin != CHECKIN_AUTO && o.n_listen)
                return bad(program, "--%s and --listen exclude each other: the sockets come from %s, or are bound here",
                           o.checkin == CHECKIN_LAUNCHD ? "launchd" : "inetd",
                           o.checkin == CHECKIN_LAUNCHD ? "launchd" : "fd 0");
        o.agent = argv[optind];
        o.agent_argv = argv + optind;
        o.agent_argc = argc - optind;
        if (o.n_socket_names == 0)
                o.socket_names[o.n_socket_names++] = "Listeners";
        *ret = o;
        return OPTIONS_RUN;
}
