/* main.c: glue. Parse the command line, check in, start Python, serve, exit with one code. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation.h"
#include "activity.h"
#include "broken.h"
#include "crashguard.h"
#include "daemon.h"
#include "exitcode.h"
#include "interp.h"
#include "log.h"
#include "module.h"
#include "notify.h"
#include "options.h"
#include "parse.h"
#include "serve.h"
#include "signals.h"
#include "workers.h"

/* The subcommands, all run by the installer, Python compiled into the binary (install.py). */
static const char *const tool_commands[] = { "install", "uninstall", "list", "status", "logs", "restart", "sync" };
#define N_TOOL_COMMANDS (sizeof tool_commands / sizeof tool_commands[0])

/* One run of the launcher, from the command line to the exit code. */
struct launch {
        struct options opts;
        struct listener_set set;
        struct agent agent;
        struct activity *activity; /* shared by --workers, NULL otherwise */
        struct access_policy policy;
        bool managed;              /* systemd or launchd owns the sockets (and starts us again) */
        char why[512];             /* for STATUS= when the start fails; "" for the generic reason */
};

/* fds 0-2 must exist, or the first socket we open becomes "stderr" and a log line goes to a client. */
static void ensure_std_fds(void) {
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0) {
                        int null = open("/dev/null", O_RDWR);
                        if (null >= 0 && null != fd) {
                                dup2(null, fd);
                                close(null);
                        }
                }
}

/* `pylaunchd install ...`, `list`, `status` ...: the tool. A first word that is neither one of
 * them nor an agent file (`pylaunchd instal ...`, `pylaunchd help`) is a mistyped command, not an
 * agent to look for sockets for. Returns the exit code, or -1 for a launcher command line. */
static int run_command(int argc, char **argv) {
        const char *word = argc > 1 ? argv[1] : "", *near;
        const char *known[N_TOOL_COMMANDS + 1];
        size_t len = strlen(word);
        struct stat st;

        if (!*word || word[0] == '-')
                return -1;
        for (size_t i = 0; i < N_TOOL_COMMANDS; i++)
                if (strcmp(word, tool_commands[i]) == 0)
                        return interp_run_tool("_pylaunchd_install", argc - 1, argv + 1);
        if ((len > 3 && strcmp(word + len - 3, ".py") == 0) || strchr(word, '/') || stat(word, &st) == 0)
                return -1;
        memcpy(known, tool_commands, sizeof tool_commands);
        known[N_TOOL_COMMANDS] = "--help";
        near = strcmp(word, "help") == 0 ? "--help" : parse_nearest(word, known, N_TOOL_COMMANDS + 1);
        log_error("unknown command '%s'%s%s%s; the commands are install, uninstall, list, status, logs, restart and sync, "
                  "and an agent is a .py file (pylaunchd --help shows both)",
                  word, near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
        return EXIT_USAGE;
}

/* What systemctl status shows for a failed start: STATUS= text and, where one fits, an ERRNO= it
 * can name. None for an agent that does not import: "Exec format error" would only mislead,
 * and STATUS= has the exception's own words. */
static void notify_failed(int code, const char *why) {
        static const struct {
                int code, err;
                const char *what;
        } table[] = {
                { EXIT_USAGE, EINVAL, "bad command line" },
                { EXIT_AGENT_BROKEN, 0, "the agent failed to import" },
                { EXIT_AGENT_MISSING, ENOENT, "the agent file is missing or unreadable" },
                { EXIT_AGENT_NO_HANDLER, ENOSYS, "the agent defines neither handle() nor serve()" },
                { EXIT_AGENT_FAILED, EIO, "the agent or the interpreter failed" },
                { EXIT_OS, EIO, "the system refused a resource" },
                { EXIT_AGENT_UNSAFE, EPERM, "a file pylaunchd would trust could be written by someone else" },
                { EXIT_ACTIVATION, EBADF, "the sockets passed are unusable" },
        };

        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                if (table[i].code == code) {
                        if (table[i].err)
                                notify_send("STATUS=Failed: %s (exit %d), see the log\nERRNO=%d",
                                            why && *why ? why : table[i].what, code, table[i].err);
                        else
                                notify_send("STATUS=Failed: %s (exit %d), see the log", why && *why ? why : table[i].what,
                                            code);
                        return;
                }
}

static bool has_connected(const struct listener_set *set) {
        for (size_t i = 0; i < set->n; i++)
                if (set->v[i].info.role == SOCK_ROLE_CONNECTED)
                        return true;
        return false;
}

static void describe(const struct listener_set *set, const struct agent *agent, char *buf, size_t size) {
        const char *base = strrchr(agent->path, '/');

        snprintf(buf, size, "%.200s on '%.200s'%s", base ? base + 1 : agent->path, set->n ? set->v[0].name : "?",
                 set->n > 1 ? " and others" : "");
}

/* --listen: one line once the sockets serve, naming them. */
static void log_listening(const struct listener_set *set) {
        char line[1024] = "";
        size_t len = 0;

        for (size_t i = 0; i < set->n && len < sizeof line; i++)
                if (i == 0 || strcmp(set->v[i].name, set->v[i - 1].name) != 0)
                        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", len ? ", " : "", set->v[i].name);
        log_info("listening on %s", line);
}

/* The user the agent will run as: --user's (root drops to it before Python starts), else ours.
 * An unknown --user is reported where privileges are dropped. */
static uid_t run_as_uid(const struct options *opts) {
        struct passwd *pw = opts->user ? getpwnam(opts->user) : NULL;

        return pw ? pw->pw_uid : geteuid();
}

/* The self-pipe for signals, in this process (a daemon or a worker is a new one). */
static int start_signals(void) {
        int r = signals_init();

        if (r < 0) {
                log_errno(LOG_LEVEL_ERR, r, "cannot set up signal handling");
                return EXIT_OS;
        }
        return EXIT_OK;
}

/* Everything of ours released: sockets (and self-bound files), the pidfile; then, last, the
 * --daemon starter told how it ended, so it returns only once nothing is left behind. */
static int leave(struct listener_set *set, int code, bool tell_starter) {
        listener_set_free(set);
        daemon_finish();
        if (tell_starter)
                daemon_failed(code);
        return code;
}

/* Check in first: before Python starts, so nothing in the interpreter sees or inherits the
 * activation environment; and before we open any fd of our own, so that a descriptor systemd
 * promised but did not pass (a closed fd 3) is reported, not mistaken for ours. With nothing
 * to serve, a missing agent file is the likelier mistake (`pylaunchd Missing.py`): said first. */
static int check_in(struct launch *l) {
        int code = activation_checkin(&l->opts, &activation_ops_real, &l->set);
        struct stat st;

        if (code == ACTIVATION_NONE) {
                if (stat(l->opts.agent, &st) < 0)
                        return agent_locate(l->opts.agent, false, geteuid(), &l->agent);
                activation_explain_none();
                return EXIT_USAGE;
        }
        if (code != EXIT_OK)
                return code;
        l->managed = l->set.origin == ORIGIN_SYSTEMD || l->set.origin == ORIGIN_LAUNCHD;
        if (l->opts.idle_timeout_usec && !l->managed)
                log_warning("--idle-timeout ignored: only a socket-activated launcher may exit when idle, "
                            "nothing would start it again");
        return start_signals();
}

/* Everything before Python: the agent file, --daemon and --user, --workers, the crash guard.
 * Returns EXIT_OK, or the code; *ret_master is set in a --workers master, which is done. */
static int prepare(struct launch *l, bool *ret_master) {
        int code = agent_locate(l->opts.agent, !l->opts.no_strict_modes, run_as_uid(&l->opts), &l->agent);

        *ret_master = false;
        if (code != EXIT_OK)
                return code;
        /* --daemon, --user: before the workers fork, so the master is the one daemon. */
        if ((code = daemon_start(&l->opts, &l->set)) != EXIT_OK)
                return code;
        if (l->opts.daemon && (code = start_signals()) != EXIT_OK)
                return code;
        if (l->opts.workers > 1 && !has_connected(&l->set)) {
                /* Fork here, before Python starts: no interpreter is ever forked. */
                bool worker;
                l->activity = activity_new(true);
                code = l->activity ? workers_run(l->opts.workers, &l->set, l->activity, &worker) : EXIT_OS;
                if (!l->activity || !worker) {
                        *ret_master = true;
                        return code;
                }
                if ((code = start_signals()) != EXIT_OK)
                        return code;
        }
        /* An agent that crashes while importing leaves the connection queued, and the socket
         * starts us again at once: count the starts, and give up after a few (crashguard.c). */
        if (l->managed && crashguard_begin(&l->set) < 0) {
                snprintf(l->why, sizeof l->why, "the agent kept crashing while imported");
                return EXIT_AGENT_FAILED;
        }
        return EXIT_OK;
}

/* The interpreter and the agent. Returns EXIT_OK with the agent ready, or the code (the agent's
 * own, with agent.exit_requested, when it called sys.exit() while imported). */
static int load(struct launch *l) {
        pid_t self;
        int code, r;

        /* Privileges are what they will stay: the owner is who we are now. */
        l->policy = (struct access_policy){ .owner = geteuid(), .allow_uid = l->opts.allow_uid,
                                            .n_allow_uid = l->opts.n_allow_uid, .allow_gid = l->opts.allow_gid,
                                            .n_allow_gid = l->opts.n_allow_gid };
        module_set_origin(l->set.origin);
        module_set_listeners(&l->set);
        module_set_access(&l->policy);
        module_set_idle_timeout(l->managed ? l->opts.idle_timeout_usec : 0);
        /* From here on, whatever the agent does (an import that blocks, C code holding the GIL), a
         * stop ends within --stop-timeout and a margin; and its forks are its own (signals.c). */
        if ((r = signals_backstop_start(l->opts.stop_timeout_usec)) < 0)
                log_errno(LOG_LEVEL_WARNING, r, "cannot start the stop backstop; a stop then has no time limit");
        self = getpid();
        signals_agent_forks();
        if ((code = interp_start(&l->opts, &l->agent)) != EXIT_OK)
                return code;
        code = interp_load_agent(&l->agent);
        if (getpid() != self) {
                /* The agent forked while it was imported, and this is the child: a copy of the
                 * launcher must never go on to serve its parent's sockets. */
                interp_flush();
                _exit(l->agent.exit_requested ? code : EXIT_OK);
        }
        if (code != EXIT_OK && !l->agent.exit_requested) {
                const char *base = strrchr(l->agent.path, '/');
                if (l->agent.error[0])
                        snprintf(l->why, sizeof l->why, "%.200s: %.300s", base ? base + 1 : l->agent.path,
                                 l->agent.error);
                crashguard_clear(); /* a failure we saw, not a crash: the hold below stops the loop */
                interp_finish(&l->agent);
        }
        return code;
}

/* Serves until stopped; returns the exit code. Does not return when handlers were abandoned. */
static int serve(struct launch *l) {
        char what[512];
        bool abandoned = false;
        int code;

        crashguard_clear();
        describe(&l->set, &l->agent, what, sizeof what);
        workers_ready();
        daemon_ready();
        notify_send("READY=1\nSTATUS=Serving %s", what);
        if (l->set.origin == ORIGIN_LISTEN)
                log_listening(&l->set);
        {
                struct serve_config cfg = { .max_connections = l->opts.max_connections,
                                            .stop_grace_usec = l->opts.stop_timeout_usec,
                                            .idle_usec = l->managed ? l->opts.idle_timeout_usec : 0,
                                            .min_uptime_usec = l->opts.min_uptime_usec,
                                            .watchdog_usec = notify_watchdog_usec(),
                                            .what = what,
                                            .policy = &l->policy,
                                            .activity = l->activity,
                                            .verbose = l->opts.verbose };
                code = serve_run(&l->set, &l->agent, &cfg, &abandoned);
        }
        notify_send("STOPPING=1");
        if (abandoned) {
                /* Handlers still hold Python thread states: finalizing would wait on or pull the
                 * interpreter from under them. Flush what was printed and leave. */
                interp_flush();
                _exit(leave(&l->set, code, false));
        }
        interp_finish(&l->agent);
        return leave(&l->set, code, false);
}

/* A start that failed: the manager is told why; under a manager that would start us again at
 * once for the next connection, the socket is held until the agent is fixed (broken.c). */
static int fail(struct launch *l, int code) {
        notify_failed(code, l->why);
        if (l->managed) {
                struct broken_config cfg = { .idle_usec = l->opts.idle_timeout_usec,
                                             .min_uptime_usec = l->opts.min_uptime_usec };
                char fallback[128];
                if (!l->why[0])
                        snprintf(fallback, sizeof fallback, "exit %d, see the log", code);
                code = broken_hold(&l->set, l->agent.path[0] ? l->agent.path : l->opts.agent, code,
                                   l->why[0] ? l->why : fallback, &cfg);
        }
        return leave(&l->set, code, true);
}

int main(int argc, char **argv) {
        static struct launch l; /* static: the agent's paths are large */
        bool master;
        int r, code;

        ensure_std_fds();
        log_init("pylaunchd");
        if ((code = run_command(argc, argv)) >= 0)
                return code;
        r = options_parse(argc, argv, &l.opts);
        if (r < 0)
                return EXIT_USAGE;
        if (r != OPTIONS_RUN)
                return EXIT_OK;
        notify_init(&activation_ops_real);
        if ((code = daemon_lock(&l.opts)) != EXIT_OK)
                return code;
        if ((code = check_in(&l)) != EXIT_OK)
                return fail(&l, code);
        code = prepare(&l, &master);
        if (master)
                return leave(&l.set, code, code != EXIT_OK);
        if (code != EXIT_OK)
                return fail(&l, code);
        code = load(&l);
        if (l.agent.exit_requested) {
                /* Not a failure to report: the agent's own decision, with its own status. */
                interp_finish(&l.agent);
                return leave(&l.set, code, true);
        }
        if (code != EXIT_OK)
                return fail(&l, code);
        return serve(&l);
}
