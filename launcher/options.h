/* options.h: the command line, parsed into one struct before anything else happens. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "parse.h"

#define OPTIONS_MAX_LISTEN 16
#define OPTIONS_MAX_SOCKET_NAMES 16
#define OPTIONS_MAX_ALLOW 16
#define OPTIONS_DEFAULT_MAX_CONNECTIONS 64
#define OPTIONS_MAX_MAX_CONNECTIONS 4096
#define OPTIONS_MAX_WORKERS 64
/* With the units' StartLimitBurst=50 per StartLimitIntervalSec=10s, a start every 0.25 s at most
 * (40 per 10 s) can never hit the start limit, however short the idle timeout. */
#define OPTIONS_DEFAULT_MIN_UPTIME_USEC 250000ULL
#define OPTIONS_DEFAULT_STOP_TIMEOUT_USEC 10000000ULL

/* How check-in goes: tried in order, or named by the plist (or inetd.conf) that starts us. */
enum checkin_mode {
        CHECKIN_AUTO,    /* systemd, launchd (unless --listen), --listen, fd 0 */
        CHECKIN_LAUNCHD, /* --launchd: launchd alone, its errors are errors */
        CHECKIN_INETD,   /* --inetd: the connection (or listening socket) on fd 0 alone */
};

struct options {
        struct address listen[OPTIONS_MAX_LISTEN];
        size_t n_listen;
        const char *socket_names[OPTIONS_MAX_SOCKET_NAMES]; /* launchd Sockets keys */
        enum checkin_mode checkin;
        size_t n_socket_names;
        unsigned max_connections;
        unsigned workers;           /* processes, each with its own interpreter; 1: no master */
        /* Who may connect over unix sockets besides our own uid. */
        uid_t allow_uid[OPTIONS_MAX_ALLOW];
        size_t n_allow_uid;
        gid_t allow_gid[OPTIONS_MAX_ALLOW];
        size_t n_allow_gid;
        uint64_t idle_timeout_usec; /* 0: never idle-exit */
        uint64_t min_uptime_usec;   /* no idle exit sooner than this after start */
        uint64_t stop_timeout_usec; /* grace for handlers in flight at a stop */
        int backlog;
        bool verbose;
        bool site;          /* import site (site-packages); off for speed */
        bool no_strict_modes; /* run an agent others could write (off: refused) */
        bool unbuffered;    /* unbuffered stdout/stderr, as python -u */
        bool dev_mode;      /* -X dev */
        bool faulthandler;  /* -X faulthandler */
        bool import_time;   /* -X importtime */
        const char *warnings[OPTIONS_MAX_ALLOW]; /* -W */
        size_t n_warnings;
        const char *venv;   /* a virtualenv whose packages the agent may import */
        /* Without a service manager (daemon.c). */
        bool daemon;
        const char *pidfile;
        const char *chdir;  /* default "/" */
        mode_t umask;       /* default 077: 0 would make the daemon's files world-writable */
        int keep_fd[OPTIONS_MAX_ALLOW];
        size_t n_keep_fd;
        const char *log;
        bool core_dumps;
        const char *user, *group;
        const char *agent;  /* the agent file as given */
        char **agent_argv;  /* sys.argv: the agent path, then the arguments after it */
        int agent_argc;
};

enum options_result {
        OPTIONS_RUN = 0,     /* go on and serve */
        OPTIONS_HELP = 1,    /* --help was printed: exit 0 */
        OPTIONS_VERSION = 2, /* --version was printed: exit 0 */
};

/* Parses argv into *ret. Returns an options_result, or -EINVAL after printing what is wrong
 * and how to fix it (the only output it makes besides --help and --version). */
int options_parse(int argc, char **argv, struct options *ret);
void options_usage(FILE *f, const char *program);
