/* workers.c: the --workers master. It never starts Python: it forks the workers, passes SIGTERM,
 * SIGINT and SIGHUP on, speaks to the service manager for them (systemd listens to the main
 * process only), and restarts a worker that a signal killed. A worker that exits with a status
 * stops the others: 0 is an idle exit or a stop, anything else (an agent's sys.exit, a broken
 * agent) is the master's exit code too, since a restart would not change it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "exitcode.h"
#include "log.h"
#include "notify.h"
#include "signals.h"
#include "workers.h"

/* More restarts than this within RESTART_WINDOW_USEC and the master gives up: a crash loop. */
#define RESTART_BURST 5
#define RESTART_WINDOW_USEC (10ULL * 1000000)

static int ready_fd = -1; /* in a worker: the write end of its master's ready pipe */

struct master {
        struct listener_set *set;
        pid_t *pids;
        unsigned n, live, ready;
        int ready_pipe[2];
        bool stopping;
        int code;
        uint64_t restarts[RESTART_BURST];
        unsigned nrestarts;
};

void workers_ready(void) {
        if (ready_fd >= 0) {
                (void)!write(ready_fd, "r", 1);
                close(ready_fd);
                ready_fd = -1;
        }
}

/* Returns the child's pid in the master, 0 in the child, -errno on failure. */
static pid_t spawn(struct master *m, unsigned slot) {
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid > 0) {
                m->pids[slot] = pid;
                m->live++;
                return pid;
        }
#ifdef __linux__
        /* A worker must not outlive its master and keep serving unsupervised. */
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
                _exit(EXIT_OK);
#endif
        signal(SIGCHLD, SIG_DFL); /* the master's business, not the agent's */
        close(m->ready_pipe[0]);
        ready_fd = m->ready_pipe[1];
        /* The master removes self-bound socket files; a worker leaving must not. */
        for (size_t i = 0; i < m->set->n; i++) {
                free(m->set->v[i].unlink_path);
                m->set->v[i].unlink_path = NULL;
        }
        notify_disable();
        return 0;
}

static void stop_all(struct master *m, int sig) {
        m->stopping = true;
        for (unsigned i = 0; i < m->n; i++)
                if (m->pids[i] > 0)
                        (void)kill(m->pids[i], sig);
}

static bool restart_allowed(struct master *m) {
        uint64_t now = activity_now();

        if (m->nrestarts == RESTART_BURST) {
                if (now - m->restarts[0] < RESTART_WINDOW_USEC)
                        return false;
                memmove(m->restarts, m->restarts + 1, sizeof m->restarts[0] * (RESTART_BURST - 1));
                m->nrestarts--;
        }
        m->restarts[m->nrestarts++] = now;
        return true;
}

/* Reaps exited workers. Returns 1 in a freshly forked worker (the caller must return), 0 otherwise. */
static int reap(struct master *m) {
        int status;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                unsigned slot;

                for (slot = 0; slot < m->n && m->pids[slot] != pid; slot++)
                        ;
                if (slot == m->n)
                        continue;
                m->pids[slot] = 0;
                m->live--;
                if (WIFEXITED(status)) {
                        int code = WEXITSTATUS(status);
                        /* An exit is a decision (idle, stop, sys.exit, a broken agent): all follow it. */
                        if (code != EXIT_OK && m->code == EXIT_OK)
                                m->code = code;
                        if (!m->stopping && code != EXIT_OK) {
                                log_error("worker %ld exited with status %d; stopping the others", (long)pid, code);
                                stop_all(m, SIGTERM);
                        }
                        continue;
                }
                log_error("worker %ld was killed by signal %d (%s)", (long)pid, WTERMSIG(status),
                          strsignal(WTERMSIG(status)));
                if (m->stopping)
                        continue;
                if (!restart_allowed(m)) {
                        log_error("%d workers died within %llu s; giving up", RESTART_BURST,
                                  (unsigned long long)(RESTART_WINDOW_USEC / 1000000));
                        m->code = EXIT_AGENT_FAILED;
                        stop_all(m, SIGTERM);
                        continue;
                }
                pid = spawn(m, slot);
                if (pid == 0)
                        return 1;
                if (pid < 0)
                        log_errno(LOG_LEVEL_ERR, pid, "cannot restart a worker");
                else
                        log_info("restarted it as worker %ld", (long)pid);
        }
        return 0;
}

static void on_signal(struct master *m, int sig) {
        if (sig == SIGTERM || sig == SIGINT) {
                if (!m->stopping)
                        notify_send("STOPPING=1");
                /* Before the workers drain their queue, so it stops growing. */
                listener_set_unlink(m->set);
                stop_all(m, SIGTERM);
        } else if (sig == SIGHUP) {
                for (unsigned i = 0; i < m->n; i++)
                        if (m->pids[i] > 0)
                                (void)kill(m->pids[i], SIGHUP);
        }
}

static int supervise(struct master *m) {
        struct pollfd p[2] = { { .fd = signals_fd(), .events = POLLIN }, { .fd = m->ready_pipe[0], .events = POLLIN } };

        while (m->live > 0) {
                int sig;

                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        return log_errno(LOG_LEVEL_ERR, errno, "poll failed"), EXIT_RUNTIME;
                if (p[1].revents & POLLIN) {
                        char b;
                        if (read(m->ready_pipe[0], &b, 1) == 1 && ++m->ready == m->n)
                                notify_send("READY=1\nSTATUS=Serving with %u workers", m->n);
                }
                while ((sig = signals_next()) >= 0) {
                        if (sig == SIGCHLD) {
                                if (reap(m))
                                        return -1;
                        } else
                                on_signal(m, sig);
                }
        }
        return m->code;
}

int workers_run(unsigned n, struct listener_set *set, struct activity *activity, bool *ret_worker) {
        struct master m = { .set = set, .n = n };
        int r;

        (void)activity; /* shared through fork: the workers' idle clock */
        *ret_worker = false;
        m.pids = calloc(n, sizeof *m.pids);
        if (!m.pids || pipe(m.ready_pipe) < 0) {
                free(m.pids);
                return log_errno(LOG_LEVEL_ERR, errno, "cannot set up the workers"), EXIT_OS;
        }
        (void)fcntl(m.ready_pipe[0], F_SETFD, FD_CLOEXEC);
        (void)fcntl(m.ready_pipe[1], F_SETFD, FD_CLOEXEC);
        r = signals_watch(SIGCHLD);
        if (r < 0)
                return log_errno(LOG_LEVEL_ERR, r, "cannot watch the workers"), EXIT_OS;
        for (unsigned i = 0; i < n; i++) {
                pid_t pid = spawn(&m, i);
                if (pid == 0) {
                        free(m.pids);
                        *ret_worker = true;
                        return EXIT_OK;
                }
                if (pid < 0) {
                        log_errno(LOG_LEVEL_ERR, pid, "cannot start worker %u", i + 1);
                        m.code = EXIT_OS;
                        stop_all(&m, SIGTERM);
                        break;
                }
        }
        /* The write end stays open here too: a worker restarted later inherits it. */
        r = supervise(&m);
        if (r < 0) {
                /* A restarted worker comes back here, in the child: go and serve. */
                free(m.pids);
                *ret_worker = true;
                return EXIT_OK;
        }
        close(m.ready_pipe[0]);
        close(m.ready_pipe[1]);
        free(m.pids);
        return r;
}
