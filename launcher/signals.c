/* signals.c: the handlers only write the signal number to a pipe; the loop does the work.
 *
 * Two guarantees that do not depend on that loop, because an agent can stall it (an import that
 * blocks during a reload, a C extension or a runaway regex holding the GIL):
 *  - the backstop: once a stop begins, a C thread that never touches Python ends the process at
 *    most --stop-timeout plus STOP_MARGIN_USEC later, whatever else is going on;
 *  - forks the agent makes: the child gets the default dispositions back (SIGTERM ends it; it
 *    must not write into its parent's pipe), and its pid is recorded, so the parent can see to
 *    it that no such child outlives a stop (signals_forked_children()). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "signals.h"

static int sig_pipe[2] = { -1, -1 };
static pid_t sig_pid;
static void (*volatile forward_fn)(int signo);

/* The backstop's own pipe: 'S' a stop began, 'N' exit as soon as now_deadline says. */
static int backstop_pipe[2] = { -1, -1 };
static pid_t backstop_pid;
static uint64_t backstop_grace_usec;
static atomic_uint_fast64_t backstop_soon; /* signals_backstop_soon()'s deadline, 0 none */
static atomic_int backstop_code;

/* Forked children of the agent write their pid here (from the atfork handler, in the child). */
static int children_pipe[2] = { -1, -1 };
static atomic_bool agent_forks; /* forks from here on are the agent's (Python is running) */

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void on_signal(int signo) {
        int saved = errno;
        unsigned char b = (unsigned char)signo;
        void (*fwd)(int) = forward_fn;

        /* A full pipe already holds a wake-up; losing this byte loses nothing the loop needs. */
        (void)!write(sig_pipe[1], &b, 1);
        if (signo == SIGTERM || signo == SIGINT) {
                (void)!write(backstop_pipe[1], "S", 1);
                if (fwd)
                        fwd(signo);
        }
        errno = saved;
}

static int set_flags(int fd) {
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

/* pipe() then fcntl(), not pipe2(): macOS has no pipe2. */
static int make_pipe(int p[2]) {
        int r;

        if (p[0] >= 0) {
                close(p[0]);
                close(p[1]);
        }
        p[0] = p[1] = -1;
        if (pipe(p) < 0)
                return -errno;
        if ((r = set_flags(p[0])) < 0 || (r = set_flags(p[1])) < 0)
                return r;
        return 0;
}

/* In the child of a fork the agent made (os.fork(), multiprocessing's fork start method): the
 * signals are its own again, and its parent learns its pid. Async-signal-safe calls only. */
static void after_fork_child(void) {
        struct sigaction sa;
        pid_t pid;

        if (!atomic_load(&agent_forks))
                return; /* one of our own forks (--daemon, --workers): it calls signals_init() */
        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = SIG_DFL;
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGHUP, &sa, NULL);
        forward_fn = NULL;
        pid = getpid();
        (void)!write(children_pipe[1], &pid, sizeof pid);
}

int signals_init(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        struct sigaction sa;
        int r;

        (void)pthread_once(&once, signals_register_atfork);
        /* A forked worker or daemon gets pipes of its own: the ones it inherited are its parent's. */
        if (sig_pipe[0] < 0 || sig_pid != getpid()) {
                if ((r = make_pipe(sig_pipe)) < 0 || (r = make_pipe(children_pipe)) < 0)
                        return r;
        }
        sig_pid = getpid();
        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
            sigaction(SIGHUP, &sa, NULL) < 0)
                return -errno;
        /* A peer that goes away must cost an EPIPE in the handler, not the whole process. */
        sa.sa_handler = SIG_IGN;
        sa.sa_flags = 0;
        if (sigaction(SIGPIPE, &sa, NULL) < 0)
                return -errno;
        return 0;
}

void signals_register_atfork(void) {
        (void)pthread_atfork(NULL, NULL, after_fork_child);
}

int signals_fd(void) {
        return sig_pipe[0];
}

int signals_next(void) {
        unsigned char b;
        ssize_t n = read(sig_pipe[0], &b, 1);

        if (n == 1)
                return b;
        return n < 0 && errno != EAGAIN ? -errno : -EAGAIN;
}

int signals_watch(int signo) {
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
        return sigaction(signo, &sa, NULL) < 0 ? -errno : 0;
}

int signals_take_back(void) {
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
                return -errno;
        return 0;
}

void signals_forward(void (*fn)(int signo)) {
        forward_fn = fn;
}

/* --- the backstop ------------------------------------------------------------------------- */

static void backstop_fire(uint64_t began) {
        uint64_t now = mono_usec();

        if (began)
                log_error("still running %.1f s after the stop began (--stop-timeout %.1f s): something in the "
                          "agent does not return (a handler, an import or C code holding the interpreter); "
                          "exiting now, abandoning it",
                          (double)(now - began) / 1e6, (double)backstop_grace_usec / 1e6);
        else
                log_error("the interpreter did not become free in time to finish cleanly; exiting now");
        _exit(atomic_load(&backstop_code));
}

static void *backstop_thread(void *arg) {
        uint64_t began = 0, deadline = 0;
        char buf[64];

        (void)arg;
        for (;;) {
                struct pollfd p = { .fd = backstop_pipe[0], .events = POLLIN };
                uint64_t now = mono_usec(), soon = atomic_load(&backstop_soon), due = deadline;
                int timeout = -1;

                if (soon && (!due || soon < due))
                        due = soon;
                if (due) {
                        if (now >= due)
                                backstop_fire(due == deadline ? began : 0);
                        timeout = (int)((due - now + 999) / 1000);
                }
                if (poll(&p, 1, timeout) > 0) {
                        ssize_t n = read(backstop_pipe[0], buf, sizeof buf);
                        for (ssize_t i = 0; i < n; i++)
                                if (buf[i] == 'S' && !began) {
                                        began = mono_usec();
                                        deadline = began + backstop_grace_usec + STOP_MARGIN_USEC;
                                }
                }
        }
        return NULL;
}

int signals_backstop_start(uint64_t grace_usec) {
        pthread_attr_t attr;
        pthread_t t;
        sigset_t all, old;
        int r;

        if (backstop_pipe[0] >= 0 && backstop_pid == getpid())
                return 0; /* running already in this process */
        if ((r = make_pipe(backstop_pipe)) < 0)
                return r;
        backstop_pid = getpid();
        backstop_grace_usec = grace_usec;
        atomic_store(&backstop_soon, 0);
        /* No signal is ever delivered to this thread: it would only interrupt its poll(). */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        r = pthread_create(&t, &attr, backstop_thread, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -r;
}

void signals_stop_begun(int exit_code) {
        atomic_store(&backstop_code, exit_code);
        if (backstop_pipe[1] >= 0)
                (void)!write(backstop_pipe[1], "S", 1);
}

void signals_backstop_soon(uint64_t usec) {
        atomic_store(&backstop_soon, mono_usec() + usec);
        if (backstop_pipe[1] >= 0)
                (void)!write(backstop_pipe[1], "N", 1);
}

/* --- the agent's forks ---------------------------------------------------------------------- */

void signals_agent_forks(void) {
        atomic_store(&agent_forks, true);
}

size_t signals_forked_children(pid_t *ret, size_t max) {
        size_t n = 0;
        pid_t pid;

        while (n < max && read(children_pipe[0], &pid, sizeof pid) == (ssize_t)sizeof pid)
                ret[n++] = pid;
        return n;
}
