/* options.h: the command line, parsed into one struct before anything else happens. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "parse.h"

#define OPTIONS_MAX_LISTEN 16
#define OPTIONS_MAX_SOCKET_NAMES 16
#define OPTIONS_DEFAULT_MAX_CONNECTIONS 64
#define OPTIONS_MAX_MAX_CONNECTIONS 4096

struct options {
        struct address listen[OPTIONS_MAX_LISTEN];
        size_t n_listen;
        const char *socket_names[OPTIONS_MAX_SOCKET_NAMES]; /* launchd Sockets keys */
        size_t n_socket_names;
        unsigned max_connections;
        int backlog;
        bool verbose;
        bool site;          /* import site (site-packages); off for speed */
        bool unbuffered;    /* unbuffered stdout/stderr, as python -u */
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
