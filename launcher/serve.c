/* serve.c: the accept loop and dispatch to handle(conn).
 *
 * Leader/followers, with the leader handling inline: worker threads take turns as the one leader
 * that polls the listeners and accepts, and the leader calls handle() itself, so a connection is
 * never passed between threads, and a stream of short requests runs on one thread with no
 * handoff at all (handing the leadership on at every accept cost a context switch each and, with
 * threads waiting for the GIL counted as busy, grew the pool to --max-connections and a GIL
 * convoy: 25 context switches per request, measured). When a handler has run for PROMOTE_USEC,
 * the supervisor (the main thread) hands the leadership on: to an idle thread, or a new one up to
 * --max-connections; with every thread busy, nobody accepts and new connections wait in the
 * kernel's queue. A handler blocked in recv() releases the GIL, so a slow or silent client stalls
 * only its own thread.
 *
 * Signals (handle mode): the C side owns SIGTERM, SIGINT and SIGHUP; they arrive as bytes on the
 * self-pipe, which the main thread (the supervisor) polls, so a signal is seen even while every
 * worker is busy in a handler. The leader polls a wake pipe of its own beside the listeners, which
 * the supervisor writes to when it is time to stop. In serve() mode Python owns the signals. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accept_errors.h"
#include "access.h"
#include "activity.h"
#include "exitcode.h"
#include "log.h"
#include "module.h"
#include "notify.h"
#include "serve.h"
#include "signals.h"
#include "status.h"

#define ACCEPT_BACKOFF_MS 100
/* A handler running longer than this no longer keeps others from being accepted. */
#define PROMOTE_USEC 2000ULL
/* A thread with nothing to do for this long goes away: a burst of slow clients grows the pool up
 * to --max-connections, and the threads (their stacks, their Python thread states) must not stay. */
#define THREAD_IDLE_USEC 5000000ULL
/* Forked children of the agent we keep track of, at most. */
#define MAX_CHILDREN 4096

struct server {
        struct listener_set *set;
        struct agent *agent;
        const struct serve_config *cfg;
        PyInterpreterState *interp;
        PyObject *str_close, *str_detach;
        const struct access_policy *policy; /* who may connect */
        pid_t pid;                          /* ours: a forked child of the agent is not us */

        pthread_mutex_t lock;
        pthread_cond_t follow; /* idle threads wait here to lead */
        int leader_wake[2];    /* a byte here wakes the leader from poll() */
        int sup_wake[2];       /* a byte here wakes the supervisor: a worker ended, a stop */
        bool have_leader;
        uint64_t leader_gen;    /* leaderships handed out: a demoted leader sees a newer one */
        bool leader_inline;     /* the leader is running a handler itself ... */
        uint64_t inline_since;  /* ... since then */
        bool sup_sleeping;      /* the supervisor sleeps past PROMOTE_USEC: wake it for that */
        /* Stopping with sockets we bound ourselves: nobody else keeps their queue for a next
         * instance, so the connections already queued are accepted and served first. */
        bool draining;
        unsigned nthreads, busy;
        unsigned others;        /* threads with a Python thread state outside the pool: a reload, a
                                 * thread on its way out; the interpreter outlives them */
        unsigned exited;        /* threads gone idle since the supervisor last returned memory */
        bool reloading;         /* a SIGHUP reload runs in a thread of its own */
        char reload_error[256]; /* why the last reload failed, for STATUS=; "" after a success */
        bool status_dirty;      /* STATUS= is owed though the counts did not change */
        pthread_t pinger;       /* WATCHDOG=1, sent with the GIL just taken */
        pthread_cond_t pinger_cv;
        bool pinger_running;
        atomic_bool pinger_stop;
        pid_t *children;        /* the agent's forked children, to end at a stop */
        size_t n_children;
        uint64_t handled;
        struct activity *activity; /* for idle exit; shared between processes under --workers */
        bool own_activity;         /* made here (not the workers' shared one): freed here */
        atomic_bool stopping;
        int exit_code;

        bool *readable_busy;   /* per listener: a handler is reading this FIFO or datagram socket */
        bool has_readable;
        size_t live;           /* listeners that can still deliver (a pipe with no writer left cannot) */

        /* Used only by the current leader. */
        struct pollfd *pfds; /* [0] the signal pipe, then one per listener */
        size_t npfds, next;
        bool backoff;
        size_t hot;          /* the listener (pfds index) whose queue last had a connection, or 0 */
        unsigned hot_streak; /* accepts from it in a row without a poll() */
};

static uint64_t now_usec(void) {
        return activity_now();
}

static void wake(int fd) {
        /* A full pipe already holds a wake-up: losing this byte loses nothing. */
        (void)!write(fd, "", 1);
}

static void drain(int fd) {
        char buf[64];
        while (read(fd, buf, sizeof buf) > 0)
                ;
}

static void request_stop_locked(struct server *s, int code) {
        if (!atomic_load(&s->stopping)) {
                if (s->set->origin == ORIGIN_LISTEN) {
                        listener_set_unlink(s->set); /* no new clients; the queued ones are served */
                        s->draining = true;
                }
                atomic_store(&s->stopping, true);
                s->exit_code = code;
                signals_stop_begun(code); /* from now on the process ends in time, whatever happens */
                pthread_cond_broadcast(&s->follow);
        }
        wake(s->leader_wake[1]); /* the leader may be asleep in poll() */
        wake(s->sup_wake[1]);
}

static void request_stop(struct server *s, int code) {
        pthread_mutex_lock(&s->lock);
        request_stop_locked(s, code);
        pthread_mutex_unlock(&s->lock);
}

/* A FIFO or a datagram socket is not accepted on: it is handed to handle() itself when readable,
 * and not polled again until that handler returns (it would poll readable again at once). */
static bool is_readable_role(enum sock_role role) {
        return role == SOCK_ROLE_FIFO || role == SOCK_ROLE_DATAGRAM;
}

/* Which listeners the leader polls: not during an accept back-off, and not a FIFO or datagram
 * socket that a handler is still reading. */
static void set_events(struct server *s) {
        if (s->has_readable)
                pthread_mutex_lock(&s->lock);
        for (size_t i = 1; i < s->npfds; i++) {
                bool readable = is_readable_role(s->set->v[i - 1].info.role);
                bool off = readable ? s->readable_busy[i - 1] : s->backoff;
                s->pfds[i].events = off ? 0 : POLLIN;
        }
        if (s->has_readable)
                pthread_mutex_unlock(&s->lock);
}

static void set_backoff(struct server *s, bool on) {
        s->backoff = on;
        set_events(s);
}

/* Accepts on listener i. Returns the fd, -EAGAIN for "poll again", or -1 to stop. */
static int accept_one(struct server *s, size_t i) {
        int lfd = s->pfds[i].fd, fd;

#ifdef SOCK_CLOEXEC
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
#else
        fd = accept(lfd, NULL, NULL);
        if (fd >= 0) {
                /* BSD accept() copies O_NONBLOCK from the listener; handlers expect blocking. */
                (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
                (void)fcntl(fd, F_SETFL, 0);
        }
#endif
        if (fd >= 0)
                return fd;
        switch (accept_error_action(errno)) {
        case ACCEPT_RETRY:
                return -EAGAIN;
        case ACCEPT_BACKOFF: {
                /* Out of fds or memory: the connection stays queued; pause accepting, not dying. */
                char e[128];
                log_ratelimited(LOG_LEVEL_WARNING, "accept on '%s' failed, pausing accepts for %d ms: %s",
                                s->set->v[i - 1].name, ACCEPT_BACKOFF_MS, log_strerror(errno, e, sizeof e));
                set_backoff(s, true);
                return -EAGAIN;
        }
        case ACCEPT_STOP:
        default:
                log_errno(LOG_LEVEL_ERR, errno, "accept on '%s' failed, stopping", s->set->v[i - 1].name);
                request_stop(s, EXIT_RUNTIME);
                return -1;
        }
}

/* One line, rate limited, about a peer kept out: refused (r == 0) or not to be named (r < 0). A
 * flood of refused connections or datagrams is another user's to make; our log is not. */
static void log_kept_out(struct server *s, const struct listener *l, const struct access_peer *peer, int r,
                         bool datagram) {
        static struct log_ratelimit rl = LOG_RATELIMIT_INIT;
        const char *hint = r < 0 ? access_error_hint(r) : "";
        char line[1024], who[160], e[128];

        if (r < 0)
                snprintf(line, sizeof line, "cannot tell who %s on '%s' (%s); %s%s%s",
                         datagram ? "sent a datagram" : "connected", l->name, log_strerror(r, e, sizeof e),
                         datagram ? "dropped it" : "refusing the connection", *hint ? ": " : "", hint);
        else
                snprintf(line, sizeof line, "%s on '%s' from %s: only uid %ld may %s; --allow-uid or --allow-gid let "
                         "others in%s",
                         datagram ? "dropped a datagram" : "refused a connection", l->name,
                         access_peer_describe(peer, who, sizeof who), (long)s->policy->owner,
                         datagram ? "send" : "connect",
                         datagram && !peer->known && !peer->addr[0]
                                 ? " (a datagram queued before pylaunchd started carries no sender: give the "
                                   ".socket unit PassCredentials=yes)"
                                 : "");
        if (log_ratelimit_pass(&rl, LOG_LEVEL_WARNING, line))
                log_warning("%s", line);
}

/* A per-user agent answers only its own user (access.c): a peer of another uid, not let in by
 * --allow-uid or --allow-gid, is closed before the agent sees it: on unix sockets by its
 * credentials, on TCP by the owner of the other end when that is on this host. */
static bool peer_allowed(struct server *s, int fd, const struct listener *l) {
        struct access_peer peer;
        int r = access_check_stream(s->policy, fd, l->info.family, &peer);

        if (r > 0)
                return true;
        log_kept_out(s, l, &peer, r, false);
        return false;
}

/* A datagram socket is handed to handle() only with a datagram from an allowed sender at the
 * head of its queue; datagrams of others are taken off and dropped here. Returns true when one
 * waits for the agent. */
static bool datagram_ready(struct server *s, const struct listener *l) {
        for (int n = 0; n < 1024; n++) {
                struct access_peer peer;
                int r = access_check_datagram(s->policy, l->fd, l->info.family, &peer);

                if (r > 0)
                        return true;
                if (r == -EAGAIN || r == -EWOULDBLOCK)
                        return false;
                log_kept_out(s, l, &peer, r, true);
                if (r < 0 && r != -EPERM && r != -ENOENT)
                        return false; /* not ours to keep trying on: poll again later */
        }
        return false; /* a flood: let the others have the leader for a while */
}

/* A FIFO that reports end-of-file (a pipe whose last writer is gone; a FIFO we or systemd hold
 * open read-write never does) can never deliver again: reported once and dropped, or it would
 * be polled readable, and handed to handle(), in a busy loop. */
static void drop_listener(struct server *s, size_t i) {
        log_warning("listener '%s' can never deliver again (a pipe with no writer left); no longer serving it",
                    s->set->v[i - 1].name);
        s->pfds[i].fd = -1; /* poll() ignores it from now on */
        pthread_mutex_lock(&s->lock);
        if (--s->live == 0) {
                log_error("no listener left that can deliver; stopping");
                request_stop_locked(s, EXIT_RUNTIME);
        }
        pthread_mutex_unlock(&s->lock);
}

/* The leader's loop: returns an accepted fd and its listener, or -1 when serving stops. */
/* Stopping, with sockets of our own: the next connection still queued on one, or -1 when none is
 * left (then the drain is over for every thread). */
static int drain_queue(struct server *s, const struct listener **ret_l) {
        for (size_t i = 1; i < s->npfds; i++) {
                int fd;

                if (s->set->v[i - 1].info.role != SOCK_ROLE_LISTENING)
                        continue;
                while ((fd = accept_one(s, i)) >= 0) {
                        if (!peer_allowed(s, fd, &s->set->v[i - 1])) {
                                close(fd);
                                continue;
                        }
                        *ret_l = &s->set->v[i - 1];
                        return fd;
                }
        }
        pthread_mutex_lock(&s->lock);
        s->draining = false;
        pthread_cond_broadcast(&s->follow);
        pthread_mutex_unlock(&s->lock);
        return -1;
}

static bool draining(struct server *s) {
        bool d;

        pthread_mutex_lock(&s->lock);
        d = s->draining;
        pthread_mutex_unlock(&s->lock);
        return d;
}

/* Under load a listener's queue is rarely empty when a handler returns: accepting straight away
 * spares the poll() that would only say so. Once it is empty (EAGAIN), or after HOT_STREAK_MAX
 * accepts in a row (so the other listeners are polled too), the leader polls again. Returns an
 * accepted fd, -EAGAIN to poll, or -1 to stop. */
#define HOT_STREAK_MAX 16
static int accept_hot(struct server *s, const struct listener **ret_l) {
        size_t i = s->hot;
        int fd;

        while (i && !s->backoff && s->hot_streak < HOT_STREAK_MAX) {
                s->hot_streak++;
                fd = accept_one(s, i);
                if (fd == -1)
                        return -1;
                if (fd < 0)
                        break;
                if (!peer_allowed(s, fd, &s->set->v[i - 1])) {
                        close(fd);
                        continue;
                }
                *ret_l = &s->set->v[i - 1];
                return fd;
        }
        s->hot = 0;
        return -EAGAIN;
}

static int lead(struct server *s, const struct listener **ret_l) {
        for (;;) {
                int n, fd;

                if (atomic_load(&s->stopping))
                        return draining(s) ? drain_queue(s, ret_l) : -1;
                if ((fd = accept_hot(s, ret_l)) != -EAGAIN)
                        return fd;

                if (s->has_readable)
                        set_events(s);
                n = poll(s->pfds, (nfds_t)s->npfds, s->backoff ? ACCEPT_BACKOFF_MS : -1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_errno(LOG_LEVEL_ERR, errno, "poll failed, stopping");
                        request_stop(s, EXIT_RUNTIME);
                        return -1;
                }
                if (s->pfds[0].revents & POLLIN)
                        drain(s->pfds[0].fd);
                if (n == 0 && s->backoff)
                        set_backoff(s, false);
                /* Start where the last accept left off, so a busy listener cannot starve another. */
                for (size_t k = 0; k < s->npfds - 1 && !atomic_load(&s->stopping); k++) {
                        size_t i = 1 + (s->next + k) % (s->npfds - 1);
                        short re = s->pfds[i].revents;

                        if (re & (POLLERR | POLLNVAL)) {
                                log_error("listener '%s' failed (poll revents 0x%x), stopping", s->set->v[i - 1].name,
                                          (unsigned)re);
                                request_stop(s, EXIT_RUNTIME);
                                return -1;
                        }
                        if (!(re & (POLLIN | POLLHUP)))
                                continue;
                        if (s->set->v[i - 1].info.role == SOCK_ROLE_FIFO && !(re & POLLIN)) {
                                drop_listener(s, i);
                                continue;
                        }
                        if (s->set->v[i - 1].info.role == SOCK_ROLE_DATAGRAM && !datagram_ready(s, &s->set->v[i - 1]))
                                continue;
                        if (is_readable_role(s->set->v[i - 1].info.role)) {
                                pthread_mutex_lock(&s->lock);
                                s->readable_busy[i - 1] = true;
                                pthread_mutex_unlock(&s->lock);
                                *ret_l = &s->set->v[i - 1];
                                return s->set->v[i - 1].fd;
                        }
                        fd = accept_one(s, i);
                        if (fd == -1)
                                return -1;
                        if (fd >= 0 && !peer_allowed(s, fd, &s->set->v[i - 1])) {
                                close(fd);
                                continue;
                        }
                        if (fd >= 0) {
                                s->next = (i - 1 + 1) % (s->npfds - 1);
                                s->hot = i;
                                s->hot_streak = 0;
                                *ret_l = &s->set->v[i - 1];
                                return fd;
                        }
                }
        }
        return -1;
}

/* handle() returned (or raised) in a child the agent forked in it (os.fork()): that child is a
 * copy of this thread alone, and must not go back to leading the accept loop of its parent's
 * sockets. It ends here, as a forked child of a socketserver does (os._exit()), with the status
 * its handler gives (0, 1 after a traceback, or sys.exit()'s). Python's buffered stdio is not
 * flushed: a lock another thread of the parent held at the fork stays held in the child for
 * ever, and flushing then hung (seen under AddressSanitizer). GIL held. */
static void forked_child_exit(PyObject *r) {
        int status = 0;

        if (!r) {
                status = interp_exception_status("handle() raised in a forked child");
                if (status < 0)
                        status = 1;
        }
        _exit(status);
}

/* handle(conn) for one accepted fd, in the calling thread, taking the GIL with ts. */
static void handle_one(struct server *s, PyThreadState *ts, int fd, const struct listener *l) {
        PyObject *args[4], *conn, *handler, *r;
        bool fifo = l->info.role == SOCK_ROLE_FIFO, shared = is_readable_role(l->info.role);
        int status;

        PyEval_RestoreThread(ts);
        if (fifo) {
                conn = PyObject_CallMethod(s->agent->launcher, "_pipe", "is", fd, l->name);
        } else {
                args[0] = PyLong_FromLong(l->info.family);
                args[1] = PyLong_FromLong(l->info.type);
                args[2] = PyLong_FromLong(l->info.protocol);
                args[3] = PyLong_FromLong(fd);
                /* A datagram socket's recv*() check each sender (pylaunchd.Datagram). */
                conn = args[3] ? PyObject_Vectorcall(l->info.role == SOCK_ROLE_DATAGRAM ? s->agent->dgram_type
                                                                                         : s->agent->conn_type,
                                                     args, 4, NULL)
                               : NULL;
                for (size_t i = 0; i < 4; i++)
                        Py_XDECREF(args[i]);
        }
        if (!conn) {
                if (!shared)
                        close(fd);
                interp_exception_status("cannot wrap an accepted connection, closing it");
                goto out;
        }
        /* Our own reference: a reload may replace agent->handle while this one runs. */
        handler = Py_NewRef(s->agent->handle);
        r = PyObject_CallOneArg(handler, conn);
        Py_DECREF(handler);
        if (getpid() != s->pid)
                forked_child_exit(r); /* never returns */
        if (!r) {
                static struct log_ratelimit raised = LOG_RATELIMIT_INIT;
                char what[512];
                snprintf(what, sizeof what, "handle() raised on a connection to '%s'; closed it, serving goes on",
                         l->name);
                /* A traceback per failing connection is what a client can make us print at will. */
                if (!PyErr_ExceptionMatches(PyExc_SystemExit) && !log_ratelimit_pass(&raised, LOG_LEVEL_ERR, what))
                        PyErr_Clear();
                status = interp_exception_status(what);
                if (status >= 0) {
                        log_info("handle() called sys.exit(%d): stopping", status);
                        PyEval_SaveThread();
                        request_stop(s, status);
                        PyEval_RestoreThread(ts);
                }
        }
        Py_XDECREF(r);
        /* The launcher closes a connection (a handler that wants to keep it calls detach()), but
         * keeps a FIFO or a datagram socket open for what comes next. */
        if (fifo)
                r = Py_NewRef(Py_None);
        else
                r = PyObject_CallMethodNoArgs(conn, shared ? s->str_detach : s->str_close);
        if (!r)
                interp_exception_status("closing a connection failed");
        Py_XDECREF(r);
        Py_DECREF(conn);
out:
        PyEval_SaveThread();
        if (shared) {
                pthread_mutex_lock(&s->lock);
                s->readable_busy[l - s->set->v] = false;
                pthread_mutex_unlock(&s->lock);
                wake(s->leader_wake[1]); /* the leader polls it again */
        }
}

static void *worker(void *arg);

/* With s->lock held: start one more worker thread. */
static void spawn_locked(struct server *s) {
        pthread_attr_t attr;
        pthread_t t;
        int r;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&t, &attr, worker, s);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                log_errno(LOG_LEVEL_WARNING, r, "cannot start another worker thread (%u running), going on with those",
                          s->nthreads);
                return;
        }
        s->nthreads++;
}

/* With s->lock held: waits as a follower until it may lead (true), or until it has had nothing
 * to do for THREAD_IDLE_USEC while another thread leads (false: it goes away). The realtime
 * clock, since macOS has no pthread_condattr_setclock: a clock step only changes when an idle
 * thread leaves, nothing else. */
static bool follow(struct server *s) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(THREAD_IDLE_USEC / 1000000);
        /* While stopping, a thread goes on only to drain our own sockets' queue. */
        while (s->have_leader && !(atomic_load(&s->stopping) && !s->draining))
                if (pthread_cond_timedwait(&s->follow, &s->lock, &until) == ETIMEDOUT && s->have_leader &&
                    !atomic_load(&s->stopping) && s->nthreads > 1)
                        return false;
        return true;
}

static void *worker(void *arg) {
        struct server *s = arg;
        PyThreadState *ts = PyThreadState_New(s->interp);
        bool idle = false;

        /* No signal is blocked here: the handlers only write a byte to the self-pipe, which is
         * safe in any thread, and a blocked mask would be inherited by every subprocess a handler
         * starts (subprocess does not reset it), which then could not be stopped with SIGTERM. */

        pthread_mutex_lock(&s->lock);
        for (;;) {
                const struct listener *l = NULL;
                uint64_t gen;
                int fd;

                if (!follow(s)) {
                        /* Out of the pool at once, so promote() never counts on it. */
                        idle = true;
                        s->nthreads--;
                        s->others++;
                        break;
                }
                if (atomic_load(&s->stopping) && !s->draining)
                        break;
                s->have_leader = true;
                gen = ++s->leader_gen;
                /* Lead, handle inline, lead again: until stopped, or demoted while handling. */
                for (;;) {
                        pthread_mutex_unlock(&s->lock);
                        fd = lead(s, &l);
                        pthread_mutex_lock(&s->lock);
                        if (fd < 0) {
                                s->have_leader = false;
                                pthread_cond_broadcast(&s->follow);
                                break;
                        }
                        s->busy++;
                        activity_enter(s->activity);
                        s->leader_inline = true;
                        s->inline_since = now_usec();
                        if (s->sup_sleeping) {
                                s->sup_sleeping = false;
                                wake(s->sup_wake[1]);
                        }
                        pthread_mutex_unlock(&s->lock);

                        if (s->cfg->verbose)
                                log_info("connection on '%s'", l->name);
                        module_connection_timeout(fd, &l->info);
                        handle_one(s, ts, fd, l);

                        pthread_mutex_lock(&s->lock);
                        s->busy--;
                        s->handled++;
                        activity_leave(s->activity);
                        if (s->leader_gen != gen)
                                break; /* demoted while handling: another thread leads now */
                        s->leader_inline = false;
                }
        }
        pthread_mutex_unlock(&s->lock);

        PyEval_RestoreThread(ts);
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();

        pthread_mutex_lock(&s->lock);
        if (idle) {
                s->others--;
                s->exited++;
        } else
                s->nthreads--;
        wake(s->sup_wake[1]);
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

static void start_reload(struct server *s);

/* With s->lock held: sleeps until the CLOCK_MONOTONIC time `until` (usec), a signal, or a wake-up,
 * then acts on the signals that came. Never takes the GIL: whatever the agent does, the
 * supervisor sees SIGTERM and keeps the stop's clock. */
static void wait_until(struct server *s, uint64_t until) {
        uint64_t now = now_usec();
        int timeout = until > now ? (int)((until - now + 999) / 1000) : 0, sig;
        struct pollfd p[2] = { { .fd = signals_fd(), .events = POLLIN }, { .fd = s->sup_wake[0], .events = POLLIN } };

        pthread_mutex_unlock(&s->lock);
        (void)poll(p, 2, timeout);
        drain(s->sup_wake[0]);
        pthread_mutex_lock(&s->lock);
        while ((sig = signals_next()) >= 0) {
                if (sig == SIGTERM || sig == SIGINT) {
                        if (atomic_load(&s->stopping))
                                log_ratelimited(LOG_LEVEL_INFO, "%s: already stopping, %u connection(s) in flight",
                                                sig == SIGTERM ? "SIGTERM" : "SIGINT", s->busy);
                        else
                                log_info("%s: no longer accepting; finishing %u connection(s) in flight",
                                         sig == SIGTERM ? "SIGTERM" : "SIGINT", s->busy);
                        request_stop_locked(s, EXIT_OK);
                } else if (sig == SIGHUP && !atomic_load(&s->stopping))
                        start_reload(s);
        }
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

/* A thread of its own with a Python thread state of its own. Detached ones are counted in
 * s->others, so the supervisor waits for them and the interpreter outlives them; a joinable one
 * (ret) is joined by whoever started it. Returns false when none could be started. */
static bool spawn_other_locked(struct server *s, void *(*fn)(void *), pthread_t *ret) {
        pthread_attr_t attr;
        pthread_t t;
        int r;

        pthread_attr_init(&attr);
        if (!ret)
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(ret ? ret : &t, &attr, fn, s);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                log_errno(LOG_LEVEL_WARNING, r, "cannot start a thread");
                return false;
        }
        if (!ret)
                s->others++;
        return true;
}

static void other_done(struct server *s) {
        pthread_mutex_lock(&s->lock);
        s->others--;
        wake(s->sup_wake[1]);
        pthread_mutex_unlock(&s->lock);
}

/* SIGHUP: the agent's file imported afresh, in a thread of its own, so that new code whose import
 * blocks holds up nothing but itself: the supervisor still sees SIGTERM and ends the stop on time. */
static void *reload_thread(void *arg) {
        struct server *s = arg;
        PyThreadState *ts = PyThreadState_New(s->interp);
        char error[sizeof s->reload_error];
        int r;

        PyEval_RestoreThread(ts);
        r = interp_reload_agent(s->agent);
        snprintf(error, sizeof error, "%s", r < 0 ? s->agent->error : "");
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
        pthread_mutex_lock(&s->lock);
        s->reloading = false;
        /* What systemctl status shows: a failed reload changes nothing else anyone could see. */
        snprintf(s->reload_error, sizeof s->reload_error, "%s", error);
        s->status_dirty = true;
        pthread_mutex_unlock(&s->lock);
        other_done(s);
        return NULL;
}

static void start_reload(struct server *s) {
        if (s->reloading) {
                log_warning("SIGHUP: the previous reload is still importing the agent; ignoring this one");
                return;
        }
        s->reloading = spawn_other_locked(s, reload_thread, NULL);
}

/* WATCHDOG=1 at half of WATCHDOG_USEC, each sent with the GIL just taken: a wedged interpreter stops
 * the pings, and systemd restarts a service that can no longer run Python. A thread of its own,
 * so that the supervisor never waits for the GIL. */
static void *pinger_thread(void *arg) {
        struct server *s = arg;
        PyThreadState *ts = PyThreadState_New(s->interp);
        uint64_t every = s->cfg->watchdog_usec / 2;

        pthread_mutex_lock(&s->lock);
        while (!atomic_load(&s->pinger_stop)) {
                struct timespec until;
                uint64_t ns;

                clock_gettime(CLOCK_REALTIME, &until);
                ns = (uint64_t)until.tv_nsec + (every % 1000000) * 1000;
                until.tv_sec += (time_t)(every / 1000000 + ns / 1000000000);
                until.tv_nsec = (long)(ns % 1000000000);
                if (pthread_cond_timedwait(&s->pinger_cv, &s->lock, &until) != ETIMEDOUT)
                        continue;
                pthread_mutex_unlock(&s->lock);
                PyEval_RestoreThread(ts);
                notify_send("WATCHDOG=1");
                PyEval_SaveThread();
                pthread_mutex_lock(&s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        PyEval_RestoreThread(ts);
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
        return NULL;
}

static void stop_pinger(struct server *s) {
        if (!s->pinger_running)
                return;
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->pinger_stop, true);
        pthread_cond_broadcast(&s->pinger_cv);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->pinger, NULL);
        s->pinger_running = false;
}

#define STATUS_TICK_USEC 1000000ULL

/* With s->lock held: the leader has been in a handler for PROMOTE_USEC; someone else accepts
 * meanwhile. With every thread busy and --max-connections reached, nobody does until one returns. */
static void promote(struct server *s) {
        s->have_leader = false;
        s->leader_inline = false;
        s->leader_gen++; /* the busy leader sees it is one no more */
        if (s->nthreads > s->busy)
                pthread_cond_signal(&s->follow);
        else if (s->nthreads < s->cfg->max_connections)
                spawn_locked(s);
}

/* --- the agent's forked children ------------------------------------------------------------- */

/* Still our child and still running (not exited, not reaped by the agent). waitid(WNOWAIT) looks
 * without reaping, and only ever at our own children, so a reused pid is never mistaken. */
static bool child_running(pid_t pid) {
        siginfo_t si;

        memset(&si, 0, sizeof si);
        return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* A fork that went on to exec another program (subprocess) is not a copy of us serving: it is
 * left alone, as it would be by any launcher. */
static bool child_is_copy(pid_t pid) {
#ifdef __linux__
        char path[64];
        struct stat a, b;

        snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
        return stat(path, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
#else
        (void)pid;
        return true;
#endif
}

/* With s->lock held: the pids the agent's forks reported, the gone ones forgotten. */
static void collect_children(struct server *s) {
        pid_t got[64];
        size_t n, k = 0;

        while ((n = signals_forked_children(got, 64)) > 0)
                for (size_t i = 0; i < n; i++)
                        if (s->n_children < MAX_CHILDREN)
                                s->children[s->n_children++] = got[i];
        for (size_t i = 0; i < s->n_children; i++)
                if (child_running(s->children[i]))
                        s->children[k++] = s->children[i];
        s->n_children = k;
}

/* At the end of a stop: a forked copy of the agent that is still running gets SIGTERM (its default
 * action again: it ends), then SIGKILL at the deadline. None outlives the stop. */
static void end_children(struct server *s, uint64_t deadline) {
        size_t n = 0;

        pthread_mutex_lock(&s->lock);
        collect_children(s);
        for (size_t i = 0; i < s->n_children; i++)
                if (child_is_copy(s->children[i]) && kill(s->children[i], SIGTERM) == 0)
                        s->children[n++] = s->children[i];
        s->n_children = n;
        pthread_mutex_unlock(&s->lock);
        if (n == 0)
                return;
        log_info("stopping %zu forked child process(es) of the agent", n);
        for (;;) {
                size_t alive = 0;
                for (size_t i = 0; i < n; i++)
                        alive += child_running(s->children[i]);
                if (alive == 0)
                        break;
                if (now_usec() >= deadline) {
                        log_warning("%zu forked child process(es) still running at the end of the stop; killing them",
                                    alive);
                        for (size_t i = 0; i < n; i++)
                                if (child_running(s->children[i]))
                                        (void)kill(s->children[i], SIGKILL);
                        break;
                }
                usleep(10000);
        }
        for (size_t i = 0; i < n; i++)
                (void)waitpid(s->children[i], NULL, 0);
}

/* Threads that went idle freed their stacks and thread states; give the heap back too. */
static void return_memory(struct server *s) {
        if (s->exited == 0 || s->busy > 0)
                return;
        s->exited = 0;
#ifdef __GLIBC__
        malloc_trim(0);
#endif
}

/* The main thread while workers serve: idle exit, STATUS, reload, the stop grace period, and the
 * agent's forked children. Returns true when handlers had to be abandoned after the grace period. */
static bool supervise(struct server *s, uint64_t *ret_stop_deadline) {
        uint64_t start = now_usec(), stop_deadline = 0, shown_handled = 0;
        char status[STATUS_TEXT_MAX];
        unsigned shown_busy = 0;
        bool abandoned = false;

        pthread_mutex_lock(&s->lock);
        while (s->nthreads > 0 || s->others > 0) {
                uint64_t now = now_usec(), wake = now + STATUS_TICK_USEC, idle_at;

                if (atomic_load(&s->stopping)) {
                        if (!stop_deadline)
                                stop_deadline = now + s->cfg->stop_grace_usec;
                        if (now >= stop_deadline) {
                                log_warning("%u handler(s)%s still running after the %.1f s stop grace period; "
                                            "abandoning them",
                                            s->busy, s->reloading ? " and a reload of the agent" : "",
                                            (double)s->cfg->stop_grace_usec / 1e6);
                                abandoned = true;
                                break;
                        }
                        wake = min_u64(wake, stop_deadline);
                } else if (s->cfg->idle_usec && (idle_at = activity_idle_at(s->activity, s->cfg->idle_usec))) {
                        /* Not before --min-uptime: the units' start limit counts on that. */
                        if (idle_at < start + s->cfg->min_uptime_usec)
                                idle_at = start + s->cfg->min_uptime_usec;
                        if (now >= idle_at) {
                                if (s->cfg->verbose)
                                        log_info("idle for %.3f s: exiting, the service manager keeps the socket",
                                                 (double)(now + s->cfg->idle_usec - idle_at) / 1e6);
                                request_stop_locked(s, EXIT_OK);
                                continue;
                        }
                        wake = min_u64(wake, idle_at);
                }
                /* Also while a stop drains our own sockets' queue: every thread helps. */
                if (s->have_leader && s->leader_inline && (!atomic_load(&s->stopping) || s->draining)) {
                        uint64_t due = s->inline_since + PROMOTE_USEC;
                        if (now >= due)
                                promote(s);
                        else
                                wake = min_u64(wake, due);
                }
                /* Once the agent sets its own STATUS= (pylaunchd.status), it keeps it. */
                if ((s->handled != shown_handled || s->busy != shown_busy || s->status_dirty) &&
                    !module_agent_owns_status()) {
                        shown_handled = s->handled;
                        shown_busy = s->busy;
                        s->status_dirty = false;
                        status_format(status, sizeof status, s->cfg->what, shown_handled, shown_busy,
                                      s->reload_error);
                        notify_send("STATUS=%s", status);
                }
                collect_children(s);
                return_memory(s);
                log_flush_suppressed(now);
                s->sup_sleeping = wake > now + PROMOTE_USEC;
                wait_until(s, wake);
        }
        pthread_mutex_unlock(&s->lock);
        *ret_stop_deadline = stop_deadline ? stop_deadline : now_usec() + s->cfg->stop_grace_usec;
        return abandoned;
}

/* Connected sockets (inetd style, Accept=yes) get one handle() each and the launcher exits; they
 * cannot be mixed with sockets to keep serving on. */
static int check_roles(const struct listener_set *set, bool *ret_connected) {
        size_t connected = 0;

        for (size_t i = 0; i < set->n; i++)
                connected += set->v[i].info.role == SOCK_ROLE_CONNECTED;
        if (connected && connected < set->n) {
                log_error("given both connected sockets and sockets to listen on; pass one kind");
                return -EINVAL;
        }
        *ret_connected = connected > 0;
        return 0;
}

/* inetd style: one handle(conn) per connected socket, in this thread, then done. */
static int serve_connected(struct server *s) {
        PyThreadState *ts = PyThreadState_Get();

        for (size_t i = 0; i < s->set->n && !atomic_load(&s->stopping); i++) {
                struct listener *l = &s->set->v[i];
                int fd = l->fd;

                l->fd = -1; /* the Connection object owns it now */
                PyEval_SaveThread();
                if (peer_allowed(s, fd, l)) {
                        module_connection_timeout(fd, &l->info);
                        handle_one(s, ts, fd, l);
                } else
                        close(fd);
                PyEval_RestoreThread(ts);
        }
        return s->exit_code;
}

/* pipe() and fcntl(), not pipe2(): macOS has none. */
static int make_pipe(int p[2]) {
        if (pipe(p) < 0)
                return -errno;
        for (int i = 0; i < 2; i++)
                if (fcntl(p[i], F_SETFD, FD_CLOEXEC) < 0 || fcntl(p[i], F_SETFL, O_NONBLOCK) < 0)
                        return -errno;
        return 0;
}

static int server_init(struct server *s, struct listener_set *set, struct agent *agent,
                       const struct serve_config *cfg) {
        *s = (struct server){ .set = set, .agent = agent, .cfg = cfg, .interp = PyInterpreterState_Get(),
                              .policy = cfg->policy, .pid = getpid(), .live = set->n,
                              .activity = cfg->activity ? cfg->activity : activity_new(false),
                              .own_activity = !cfg->activity };
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->follow, NULL);
        pthread_cond_init(&s->pinger_cv, NULL);
        s->leader_wake[0] = s->leader_wake[1] = s->sup_wake[0] = s->sup_wake[1] = -1;
        s->children = calloc(MAX_CHILDREN, sizeof *s->children);
        if (!s->activity || !s->children)
                return -ENOMEM;
        if (make_pipe(s->leader_wake) < 0 || make_pipe(s->sup_wake) < 0)
                return log_errno(LOG_LEVEL_ERR, errno, "cannot make the wake pipes");
        s->str_close = PyUnicode_InternFromString("close");
        s->str_detach = PyUnicode_InternFromString("detach");
        if (!s->str_close || !s->str_detach)
                return -ENOMEM;
        s->npfds = set->n + 1;
        s->pfds = calloc(s->npfds, sizeof *s->pfds);
        s->readable_busy = calloc(set->n + 1, sizeof *s->readable_busy);
        if (!s->pfds || !s->readable_busy)
                return -ENOMEM;
        s->pfds[0] = (struct pollfd){ .fd = s->leader_wake[0], .events = POLLIN };
        for (size_t i = 0; i < set->n; i++) {
                /* Non-blocking, so a connection another process took first (several launchers on
                 * one socket) cannot block the leader in accept(). */
                s->has_readable = s->has_readable || is_readable_role(set->v[i].info.role);
                if (set->v[i].info.role == SOCK_ROLE_LISTENING || set->v[i].info.role == SOCK_ROLE_FIFO) {
                        int fl = fcntl(set->v[i].fd, F_GETFL);
                        if (fl < 0 || fcntl(set->v[i].fd, F_SETFL, fl | O_NONBLOCK) < 0)
                                return log_errno(LOG_LEVEL_ERR, errno, "cannot make '%s' non-blocking", set->v[i].name);
                }
                s->pfds[i + 1] = (struct pollfd){ .fd = set->v[i].fd, .events = POLLIN };
        }
        return 0;
}

static void server_free(struct server *s) {
        if (s->own_activity)
                activity_free(s->activity, false);
        Py_XDECREF(s->str_close);
        Py_XDECREF(s->str_detach);
        free(s->pfds);
        free(s->readable_busy);
        free(s->children);
        for (int i = 0; i < 2; i++) {
                if (s->leader_wake[i] >= 0)
                        close(s->leader_wake[i]);
                if (s->sup_wake[i] >= 0)
                        close(s->sup_wake[i]);
        }
        pthread_cond_destroy(&s->follow);
        pthread_cond_destroy(&s->pinger_cv);
        pthread_mutex_destroy(&s->lock);
}

static int serve_handle(struct listener_set *set, struct agent *agent, const struct serve_config *cfg,
                        bool connected, bool *ret_abandoned) {
        PyThreadState *main_ts;
        struct server *s;
        int code;

        /* On the heap: abandoned workers may still look at it after this returns. */
        s = calloc(1, sizeof *s);
        if (!s || server_init(s, set, agent, cfg) < 0) {
                log_error("cannot set up the accept loop: out of memory");
                if (s)
                        server_free(s);
                free(s);
                return EXIT_RUNTIME;
        }
        if (connected) {
                code = serve_connected(s);
                server_free(s);
                free(s);
                return code;
        }
        main_ts = PyEval_SaveThread();
        pthread_mutex_lock(&s->lock);
        spawn_locked(s);
        code = s->nthreads == 0 ? EXIT_OS : EXIT_OK;
        if (code == EXIT_OK && cfg->watchdog_usec)
                s->pinger_running = spawn_other_locked(s, pinger_thread, &s->pinger);
        pthread_mutex_unlock(&s->lock);
        if (code == EXIT_OK) {
                uint64_t deadline;
                *ret_abandoned = supervise(s, &deadline);
                code = s->exit_code;
                end_children(s, deadline);
        }
        /* What was abandoned may hold the interpreter for good (C code holding the GIL): the
         * flush below needs it, so give it only the margin, then the backstop ends the process. */
        if (*ret_abandoned)
                signals_backstop_soon(STOP_MARGIN_USEC);
        stop_pinger(s);
        PyEval_RestoreThread(main_ts);
        log_flush_suppressed(0);
        if (module_agent_owns_status())
                notify_send("STOPPING=1");
        else
                notify_send("STOPPING=1\nSTATUS=Stopped after %llu connection(s)", (unsigned long long)s->handled);
        if (cfg->verbose)
                log_info("stopped after %llu connection(s)", (unsigned long long)s->handled);
        if (!*ret_abandoned) {
                server_free(s);
                free(s);
        }
        return code;
}

/* From the signal handler: the signal as Python's own handler would have taken it (the function
 * is async-signal-safe, and needs no thread state). */
static void forward_to_python(int signo) {
        (void)PyErr_SetInterruptEx(signo);
}

/* serve(listeners) mode: the agent runs its own loop; Python owns SIGTERM and SIGINT. */
static int serve_agent_loop(struct listener_set *set, struct agent *agent) {
        PyObject *specs, *listeners = NULL, *r = NULL;
        int status;

        specs = PyList_New((Py_ssize_t)set->n);
        for (size_t i = 0; specs && i < set->n; i++) {
                const struct listener *l = &set->v[i];
                PyObject *t = Py_BuildValue("(isiii)", l->fd, l->name, l->info.family, l->info.type, l->info.protocol);
                if (!t)
                        Py_CLEAR(specs);
                else
                        PyList_SET_ITEM(specs, (Py_ssize_t)i, t);
        }
        if (specs)
                listeners = PyObject_CallMethod(agent->launcher, "_listener_sockets", "O", specs);
        Py_XDECREF(specs);
        if (!listeners) {
                interp_exception_status("cannot hand the listeners to serve()");
                return EXIT_AGENT_FAILED;
        }
        for (size_t i = 0; i < set->n; i++)
                set->v[i].fd = -1; /* the Python objects own them now */
        r = PyObject_CallMethod(agent->launcher, "_serve_signals", NULL);
        if (r) {
                Py_DECREF(r);
                /* Python's handlers raise KeyboardInterrupt in the main thread; ours go back in front
                 * of them, passing the signal on, so the backstop still ends a stop on time. */
                signals_forward(forward_to_python);
                if (signals_take_back() < 0)
                        log_warning("cannot watch SIGTERM beside the agent's loop; a stop then has no time limit");
                r = PyObject_CallOneArg(agent->serve, listeners);
        }
        Py_DECREF(listeners);
        if (r) {
                Py_DECREF(r);
                return EXIT_OK;
        }
        if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
                /* SIGTERM or SIGINT while the agent's loop ran: a normal stop. */
                PyErr_Clear();
                return EXIT_OK;
        }
        status = interp_exception_status("serve() raised");
        return status >= 0 ? status : EXIT_AGENT_FAILED;
}

int serve_run(struct listener_set *set, struct agent *agent, const struct serve_config *cfg,
              bool *ret_abandoned) {
        bool connected = false;

        *ret_abandoned = false;
        for (size_t i = 0; i < set->n; i++)
                connected = connected || set->v[i].info.role == SOCK_ROLE_CONNECTED;
        /* A listening agent with serve() runs its own loop; a handed-over connection needs handle(). */
        if (agent->serve && !connected)
                return serve_agent_loop(set, agent);
        if (!agent->handle) {
                log_error("agent %s has serve() but no handle(conn), and was started with one connection "
                          "(inetd style, or Accept=yes); add handle(conn)",
                          agent->path);
                return EXIT_AGENT_NO_HANDLER;
        }
        if (check_roles(set, &connected) < 0)
                return EXIT_ACTIVATION;
        return serve_handle(set, agent, cfg, connected, ret_abandoned);
}
