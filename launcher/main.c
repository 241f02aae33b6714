/* main.c: glue. Parse the command line, check in, start Python, serve, exit with one code. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "activity.h"
#include "crashguard.h"
#include "daemon.h"
#include "exitcode.h"
#include "interp.h"
#include "log.h"
#include "module.h"
#include "notify.h"
#include "options.h"
#include "serve.h"
#include "signals.h"
#include "workers.h"

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

/* What systemctl status shows for a failed start: STATUS= text and an ERRNO= it can name. */
static void notify_failed(int code, const char *why) {
        static const struct {
                int code, err;
                const char *what;
        } table[] = {
                { EXIT_USAGE, EINVAL, "bad command line" },
                { EXIT_AGENT_BROKEN, ENOEXEC, "the agent failed to import" },
                { EXIT_AGENT_MISSING, ENOENT, "the agent file is missing or unreadable" },
                { EXIT_AGENT_NO_HANDLER, ENOSYS, "the agent defines neither handle() nor serve()" },
                { EXIT_AGENT_FAILED, EIO, "the agent or the interpreter failed" },
                { EXIT_OS, EIO, "the system refused a resource" },
                { EXIT_AGENT_UNSAFE, EPERM, "a file pylaunchd would trust could be written by someone else" },
                { EXIT_ACTIVATION, EBADF, "the sockets passed are unusable" },
        };

        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                if (table[i].code == code) {
                        notify_send("STATUS=Failed: %s (exit %d), see the log\nERRNO=%d", why ? why : table[i].what,
                                    code, table[i].err);
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

int main(int argc, char **argv) {
        struct options opts;
        struct listener_set set = {};
        struct agent agent;
        struct activity *activity = NULL;
        struct access_policy policy;
        pid_t self;
        const char *failed_why = NULL;
        bool abandoned = false, managed;
        char what[512];
        int r, code;

        ensure_std_fds();
        log_init("pylaunchd");
        /* `pylaunchd install|uninstall ...`: the installer, Python compiled into the binary. */
        if (argc > 1 && (strcmp(argv[1], "install") == 0 || strcmp(argv[1], "uninstall") == 0))
                return interp_run_tool("_pylaunchd_install", argc - 1, argv + 1);
        r = options_parse(argc, argv, &opts);
        if (r < 0)
                return EXIT_USAGE;
        if (r != OPTIONS_RUN)
                return EXIT_OK;
        notify_init(&activation_ops_real);
        code = daemon_lock(&opts);
        if (code != EXIT_OK)
                return code;
        /* Check in first: before Python starts, so nothing in the interpreter sees or inherits
         * the activation environment; and before we open any fd of our own, so that a descriptor
         * systemd promised but did not pass (a closed fd 3) is reported, not mistaken for ours. */
        code = activation_checkin(&opts, &activation_ops_real, &set);
        if (code != EXIT_OK)
                goto failed;
        code = start_signals();
        if (code != EXIT_OK)
                goto failed;
        managed = set.origin == ORIGIN_SYSTEMD || set.origin == ORIGIN_LAUNCHD;
        if (opts.idle_timeout_usec && !managed)
                log_warning("--idle-timeout ignored: only a socket-activated launcher may exit when idle, "
                            "nothing would start it again");
        code = agent_locate(opts.agent, !opts.no_strict_modes, run_as_uid(&opts), &agent);
        if (code != EXIT_OK)
                goto failed;
        /* --daemon, --user: before the workers fork, so the master is the one daemon. */
        code = daemon_start(&opts, &set);
        if (code != EXIT_OK)
                goto failed;
        if (opts.daemon && (code = start_signals()) != EXIT_OK)
                goto failed;
        if (opts.workers > 1 && !has_connected(&set)) {
                /* Fork here, before Python starts: no interpreter is ever forked. */
                bool worker;
                activity = activity_new(true);
                code = activity ? workers_run(opts.workers, &set, activity, &worker) : EXIT_OS;
                if (!activity || !worker)
                        return leave(&set, code, code != EXIT_OK); /* the master, done */
                if ((code = start_signals()) != EXIT_OK)
                        goto failed;
        }
        /* An agent that crashes while importing leaves the connection queued, and the socket
         * starts us again at once: count the starts, and give up after a few (crashguard.c). */
        if (managed && crashguard_begin(&set) < 0) {
                code = EXIT_AGENT_FAILED;
                failed_why = "the agent kept crashing while imported; the waiting connections were closed";
                goto failed;
        }
        /* Privileges are what they will stay: the owner is who we are now. */
        policy = (struct access_policy){ .owner = geteuid(), .allow_uid = opts.allow_uid, .n_allow_uid = opts.n_allow_uid,
                                         .allow_gid = opts.allow_gid, .n_allow_gid = opts.n_allow_gid };
        module_set_origin(set.origin);
        module_set_listeners(&set);
        module_set_access(&policy);
        module_set_idle_timeout(managed ? opts.idle_timeout_usec : 0);
        /* From here on, whatever the agent does (an import that blocks, C code holding the GIL), a
         * stop ends within --stop-timeout and a margin; and its forks are its own (signals.c). */
        if ((r = signals_backstop_start(opts.stop_timeout_usec)) < 0)
                log_errno(LOG_LEVEL_WARNING, r, "cannot start the stop backstop; a stop then has no time limit");
        self = getpid();
        signals_agent_forks();
        code = interp_start(&opts, &agent);
        if (code != EXIT_OK)
                goto failed;
        code = interp_load_agent(&agent);
        if (getpid() != self) {
                /* The agent forked while it was imported, and this is the child: a copy of the
                 * launcher must never go on to serve its parent's sockets. */
                interp_flush();
                _exit(agent.exit_requested ? code : EXIT_OK);
        }
        if (agent.exit_requested) {
                /* Not a failure to report: the agent's own decision, with its own status. */
                interp_finish(&agent);
                return leave(&set, code, true);
        }
        if (code != EXIT_OK) {
                crashguard_clear(); /* a failure we saw, not a crash: the drain below stops the loop */
                interp_finish(&agent);
                goto failed;
        }
        crashguard_clear();
        describe(&set, &agent, what, sizeof what);
        workers_ready();
        daemon_ready();
        notify_send("READY=1\nSTATUS=Serving %s", what);
        {
                struct serve_config cfg = { .max_connections = opts.max_connections,
                                            .stop_grace_usec = opts.stop_timeout_usec,
                                            .idle_usec = managed ? opts.idle_timeout_usec : 0,
                                            .min_uptime_usec = opts.min_uptime_usec,
                                            .watchdog_usec = notify_watchdog_usec(),
                                            .what = what,
                                            .policy = &policy,
                                            .activity = activity,
                                            .verbose = opts.verbose };
                code = serve_run(&set, &agent, &cfg, &abandoned);
        }
        notify_send("STOPPING=1");
        if (abandoned) {
                /* Handlers still hold Python thread states: finalizing would wait on or pull the
                 * interpreter from under them. Flush what was printed and leave. */
                interp_flush();
                _exit(leave(&set, code, false));
        }
        interp_finish(&agent);
        return leave(&set, code, false);

failed:
        notify_failed(code, failed_why);
        if (set.origin == ORIGIN_SYSTEMD || set.origin == ORIGIN_LAUNCHD) {
                /* Queued clients would start us again at once, and again: close them instead. */
                size_t n = listener_set_drain(&set);
                if (n)
                        log_warning("closed %zu waiting connection(s): the agent cannot run until fixed", n);
        }
        return leave(&set, code, true);
}
