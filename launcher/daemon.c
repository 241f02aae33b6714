/* daemon.c: the classic double fork, done once and right, as python-daemon's DaemonContext does
 * it in Python: setsid, chdir, umask 077, close inherited fds, stdio to /dev/null or a log, core
 * dumps off, privileges dropped after binding, and an flock'ed pidfile. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "exitcode.h"
#include "log.h"
#include "parse.h"
#include "safefile.h"

static int pid_fd = -1;          /* the locked pidfile */
static char *pid_path;
static int status_fd = -1;       /* daemon -> starter: 'R' ready, or the failing exit code */
static bool detached;

/* A pidfile is opened as root and handed to --user, and an init script kills the PID it holds:
 * one that someone else could link elsewhere, replace or write is refused (safefile.c). */
static int lock_pidfile(const char *path, uid_t owner) {
        char buf[32] = "", why[PATH_MAX + 256];
        ssize_t n;
        int fd = -1, r = safefile_open_regular(path, O_RDWR | O_CREAT, 0644, owner, &fd, why, sizeof why);

        if (r == -EPERM) {
                log_error("refusing --pidfile %s: %s", path, why);
                return r;
        }
        if (r < 0)
                return log_errno(LOG_LEVEL_ERR, r, "cannot open pidfile %s", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int err = errno;
                n = pread(fd, buf, sizeof buf - 1, 0);
                buf[n > 0 ? n : 0] = '\0';
                buf[strcspn(buf, "\n")] = '\0';
                close(fd);
                if (err == EWOULDBLOCK) {
                        log_error("already running as PID %s (it holds the lock on %s); stop it first",
                                  *buf ? buf : "?", path);
                        return -EEXIST;
                }
                return log_errno(LOG_LEVEL_ERR, err, "cannot lock pidfile %s", path);
        }
        /* Nobody holds the lock: any PID in it is stale, and the file is ours now. The fd moves
         * out of the way of the fds (3, 4, ...) a service manager passes, since this runs before
         * check-in; the path is kept absolute, since the daemon removes it after chdir(). */
        pid_fd = fcntl(fd, F_DUPFD_CLOEXEC, 64);
        close(fd);
        if (pid_fd < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot keep pidfile %s open", path);
        if (path[0] != '/') {
                char cwd[4096];
                pid_path = getcwd(cwd, sizeof cwd) ? malloc(strlen(cwd) + strlen(path) + 2) : NULL;
                if (pid_path)
                        sprintf(pid_path, "%s/%s", cwd, path);
        } else
                pid_path = strdup(path);
        return pid_path ? 0 : -ENOMEM;
}

static int write_pid(void) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

        if (ftruncate(pid_fd, 0) < 0 || pwrite(pid_fd, buf, (size_t)n, 0) != n)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot write pidfile %s", pid_path);
        return 0;
}

/* The starting process: copy the daemon's messages until it reports ready or failed, then exit
 * with that verdict. The verdict, not the end of the messages, decides: under --workers the
 * master keeps its stderr after the workers are ready. */
static void wait_for_daemon(int err_fd, int st_fd, pid_t child) {
        struct pollfd p[2] = { { .fd = err_fd, .events = POLLIN }, { .fd = st_fd, .events = POLLIN } };
        unsigned char verdict = 0;
        char buf[4096];
        ssize_t n;

        for (;;) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents) {
                        n = read(err_fd, buf, sizeof buf);
                        if (n > 0)
                                (void)!write(STDERR_FILENO, buf, (size_t)n);
                        else
                                p[0].fd = -1; /* EOF: keep waiting for the verdict */
                        continue;
                }
                if (p[1].revents) {
                        n = read(st_fd, &verdict, 1);
                        /* Copy what the daemon said before its verdict. */
                        (void)fcntl(err_fd, F_SETFL, O_NONBLOCK);
                        while (p[0].fd >= 0 && (n > 0 || n == 0) && (n = read(err_fd, buf, sizeof buf)) > 0)
                                (void)!write(STDERR_FILENO, buf, (size_t)n);
                        break;
                }
        }
        (void)waitpid(child, NULL, 0); /* the intermediate process, gone at once */
        if (verdict == 0) {
                log_error("the daemon exited before it was ready");
                _exit(EXIT_RUNTIME);
        }
        _exit(verdict == 'R' ? EXIT_OK : verdict);
}

static bool keep_fd(int fd, const struct options *o, const struct listener_set *set, int a, int b) {
        if (fd == a || fd == b || fd == pid_fd)
                return true;
        for (size_t i = 0; i < set->n; i++)
                if (set->v[i].fd == fd)
                        return true;
        for (size_t i = 0; i < o->n_keep_fd; i++)
                if (o->keep_fd[i] == fd)
                        return true;
        return false;
}

/* Inherited fds the daemon has no business keeping (a terminal, a parent's pipe). */
static void close_inherited(const struct options *o, const struct listener_set *set, int a, int b) {
        long max = sysconf(_SC_OPEN_MAX);

        if (max < 0 || max > 65536)
                max = 65536;
        for (int fd = 3; fd < max; fd++)
                if (!keep_fd(fd, o, set, a, b))
                        (void)close(fd);
}

/* Root changing the owner of a path in a directory --user can write would change whatever that
 * user put there meanwhile (a hard link to /etc/shadow): a FIFO is changed through the fd we
 * hold, a socket file only if it is still the one bind() made (safefile_chown_socket). */
static int hand_over(const struct listener *l, uid_t uid, gid_t gid) {
        if (l->info.role == SOCK_ROLE_FIFO)
                return fchown(l->fd, uid, gid) < 0 ? -errno : 0;
        return safefile_chown_socket(l->unlink_path, l->file_dev, l->file_ino, uid, gid);
}

static int drop_privileges(const char *user, const char *group, const struct listener_set *set) {
        struct passwd *pw = NULL;
        struct group *gr = NULL;
        gid_t gid;
        int r;

        if (!user && !group)
                return 0;
        if (geteuid() != 0)
                return log_errno(LOG_LEVEL_ERR, EPERM, "--user and --group need pylaunchd to start as root");
        if (user && !(pw = getpwnam(user)))
                return log_errno(LOG_LEVEL_ERR, ENOENT, "--user %s: no such user", user);
        if (group && !(gr = getgrnam(group)))
                return log_errno(LOG_LEVEL_ERR, ENOENT, "--group %s: no such group", group);
        gid = gr ? gr->gr_gid : pw->pw_gid;
        /* While still root: what we made as root becomes the new owner's. The pidfile, so the
         * daemon can remove it at exit; the sockets and FIFOs we bound, since a per-user agent
         * answers only its owner, who must be able to reach them. */
        if (pid_fd >= 0 && pw && fchown(pid_fd, pw->pw_uid, gid) < 0)
                log_errno(LOG_LEVEL_WARNING, errno, "cannot hand the pidfile to %s, ignoring", user);
        for (size_t i = 0; i < set->n; i++) {
                if (!set->v[i].unlink_path || (r = hand_over(&set->v[i], pw ? pw->pw_uid : (uid_t)-1, gid)) == 0)
                        continue;
                if (r == -EPERM) {
                        log_error("cannot hand %s to %s: it is no longer the socket pylaunchd made, someone replaced "
                                  "it; leaving it alone",
                                  set->v[i].unlink_path, user ? user : group);
                        return r;
                }
                return log_errno(LOG_LEVEL_ERR, r, "cannot hand %s to %s", set->v[i].unlink_path, user ? user : group);
        }
        if ((pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) < 0 || setgid(gid) < 0 ||
            (pw && setuid(pw->pw_uid) < 0))
                return log_errno(LOG_LEVEL_ERR, errno, "cannot drop privileges to %s:%s", user ? user : "-",
                                 group ? group : "-");
        return 0;
}

/* --log is opened as root, before privileges are dropped: never through a planted link. */
static int redirect_stdio(const char *log, uid_t owner) {
        char why[PATH_MAX + 256];
        int null = open("/dev/null", O_RDWR | O_CLOEXEC), out = -1, r = 0;

        if (null < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot open /dev/null");
        if (log)
                r = safefile_open_regular(log, O_WRONLY | O_CREAT | O_APPEND, 0600, owner, &out, why, sizeof why);
        else
                out = null;
        if (r < 0) {
                close(null);
                if (r == -EPERM) {
                        log_error("refusing --log %s: %s", log, why);
                        return r;
                }
                return log_errno(LOG_LEVEL_ERR, r, "cannot open --log %s", log);
        }
        (void)dup2(null, STDIN_FILENO);
        (void)dup2(out, STDOUT_FILENO);
        if (out != null)
                close(out);
        close(null);
        return 0;
}

int daemon_lock(const struct options *o) {
        int r;

        /* The daemon's umask from the start, so the pidfile is created under it too. */
        if (o->daemon)
                umask(o->umask);
        if (o->pidfile && (r = lock_pidfile(o->pidfile, safefile_owner(o->user))) < 0)
                return r == -EPERM ? EXIT_AGENT_UNSAFE : EXIT_RUNTIME;
        return EXIT_OK;
}

int daemon_start(const struct options *o, const struct listener_set *set) {
        int err_pipe[2], st_pipe[2], r;
        struct rlimit core = { 0, 0 };
        pid_t pid;

        if (!o->daemon) {
                if (o->pidfile && write_pid() < 0)
                        return EXIT_RUNTIME;
                if (o->user || o->group)
                        return drop_privileges(o->user, o->group, set) < 0 ? EXIT_OS : EXIT_OK;
                return EXIT_OK;
        }
        if (pipe(err_pipe) < 0 || pipe(st_pipe) < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "pipe"), EXIT_OS;
        pid = fork();
        if (pid < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "fork"), EXIT_OS;
        if (pid > 0) {
                close(err_pipe[1]);
                close(st_pipe[1]);
                wait_for_daemon(err_pipe[0], st_pipe[0], pid);
        }
        /* First child: a new session without a controlling terminal, then fork again so the
         * daemon is not a session leader and can never acquire one. */
        close(err_pipe[0]);
        close(st_pipe[0]);
        if (setsid() < 0)
                _exit(EXIT_OS);
        signal(SIGHUP, SIG_IGN);
        pid = fork();
        if (pid < 0)
                _exit(EXIT_OS);
        if (pid > 0)
                _exit(EXIT_OK);
        signal(SIGHUP, SIG_DFL);
        detached = true;
        status_fd = st_pipe[1];
        (void)fcntl(status_fd, F_SETFD, FD_CLOEXEC);
        /* Until ready, messages go back to whoever started us; after, to --log or nowhere. */
        (void)dup2(err_pipe[1], STDERR_FILENO);
        close(err_pipe[1]);
        umask(o->umask);
        if (!o->core_dumps)
                (void)setrlimit(RLIMIT_CORE, &core);
        close_inherited(o, set, status_fd, -1);
        /* The log first, so a relative --log names a file where we were started. */
        if ((r = redirect_stdio(o->log, safefile_owner(o->user))) < 0)
                return r == -EPERM ? EXIT_AGENT_UNSAFE : EXIT_OS;
        if (chdir(o->chdir ? o->chdir : "/") < 0) {
                log_errno(LOG_LEVEL_ERR, errno, "--chdir %s", o->chdir ? o->chdir : "/");
                return EXIT_OS;
        }
        if (drop_privileges(o->user, o->group, set) < 0)
                return EXIT_OS;
        if (o->pidfile && write_pid() < 0)
                return EXIT_RUNTIME;
        return EXIT_OK;
}

void daemon_ready(void) {
        int out;

        if (status_fd < 0)
                return;
        /* stderr joins stdout (--log or /dev/null) first, so the starter sees EOF, then 'R'. */
        out = dup(STDOUT_FILENO);
        if (out >= 0) {
                (void)dup2(out, STDERR_FILENO);
                close(out);
        }
        (void)!write(status_fd, "R", 1);
        close(status_fd);
        status_fd = -1;
}

void daemon_failed(int code) {
        /* 0: the agent chose to exit at once (sys.exit(0)); the starter exits 0 as well. */
        unsigned char c = code ? (unsigned char)code : 'R';

        if (status_fd < 0)
                return;
        (void)!write(status_fd, &c, 1);
        close(status_fd);
        status_fd = -1;
}

void daemon_finish(void) {
        if (pid_fd < 0)
                return;
        if (unlink(pid_path) < 0 && errno != ENOENT)
                log_errno(LOG_LEVEL_WARNING, errno, "cannot remove pidfile %s, ignoring", pid_path);
        close(pid_fd);
        pid_fd = -1;
        free(pid_path);
        pid_path = NULL;
}
