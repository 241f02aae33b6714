/* signals.c: the handlers only write the signal number to a pipe; the loop does the work. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

static int sig_pipe[2] = { -1, -1 };
static pid_t sig_pid;

static void on_signal(int signo) {
        int saved = errno;
        unsigned char b = (unsigned char)signo;
        /* A full pipe already holds a wake-up; losing this byte loses nothing the loop needs. */
        (void)!write(sig_pipe[1], &b, 1);
        errno = saved;
}

static int set_flags(int fd) {
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

int signals_init(void) {
        struct sigaction sa;
        int r;

        /* A forked worker gets a pipe of its own: the one it inherited is its master's. */
        if (sig_pipe[0] >= 0 && sig_pid != getpid()) {
                close(sig_pipe[0]);
                close(sig_pipe[1]);
                sig_pipe[0] = sig_pipe[1] = -1;
        }
        sig_pid = getpid();
        /* pipe() then fcntl(), not pipe2(): macOS has no pipe2. Nothing else runs yet. */
        if (sig_pipe[0] < 0) {
                if (pipe(sig_pipe) < 0)
                        return -errno;
                if ((r = set_flags(sig_pipe[0])) < 0 || (r = set_flags(sig_pipe[1])) < 0)
                        return r;
        }
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
