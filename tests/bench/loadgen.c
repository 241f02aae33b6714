/* loadgen: the benchmarks' client: many threads send lines to a ROT13 server, check every
 * reply, and print one JSON object with the rate, the errors and the latency percentiles.
 *
 *   loadgen --connect ADDR --clients N --mode reconnect|persistent --duration S
 *           [--lines-per-conn K] [--warmup S] [--line TEXT]
 *   loadgen --connect ADDR --cold N [--interval-ms M] [--line TEXT]
 *
 * ADDR is unix:PATH, unix:@ABSTRACT or tcp:HOST:PORT. reconnect: connect, send one line (K
 * lines if given), read each whole reply, close; latency is from the start of connect() to the
 * last byte of the reply. persistent: each client keeps its connection and sends one line at a
 * time (K lines, then a new connection, if given). A reply that is not the ROT13 of the line is
 * a mismatch error and its connection is dropped. Only requests that both start and end inside
 * the measured window count; the warm-up is load that is not counted.
 *
 * --cold: N single connections one after the other, M ms of quiet after each (so a service
 * that exits when idle has gone); latency is from the start of connect() to the first byte of
 * the reply, the cost of starting the server. ECONNREFUSED is counted apart from other failures.
 *
 * Exit status: 0 when it ran (errors are in the JSON, for the caller to judge), 64 usage,
 * 71 the system refused (threads, memory).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 64
#define EXIT_OSERR 71
#define MAX_CLIENTS 4096
#define MAX_LINE 4096
/* A server that stops answering costs this long, not the whole run: --cold sets it on each
 * socket; under load a thread still blocked this long after the end is left behind, counted as
 * "stuck" (no per-connection setsockopt calls there: they would be a quarter of the client's
 * system calls in reconnect mode). */
#define IO_TIMEOUT_S 10

enum mode { MODE_RECONNECT, MODE_PERSISTENT };
enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

struct target {
        struct sockaddr_storage addr;
        socklen_t len;
        int family;
};

struct samples {
        uint64_t *ns;
        size_t n, cap;
};

struct client {
        pthread_t thread;
        uint64_t requests;
        uint64_t err_connect, err_refused, err_write, err_read, err_mismatch;
        struct samples lat;
        bool oom;
        bool stuck; /* still blocked IO_TIMEOUT_S after the end: left running, not read */
};

static struct target g_target;
static enum mode g_mode = MODE_RECONNECT;
static long g_lines_per_conn = -1; /* -1: the mode's default */
static const char *g_line = "Hello, World! The quick brown fox jumps over the lazy dog 0123456789";
static size_t g_line_len;
static char g_request[MAX_LINE + 1];
static char g_expected[MAX_LINE + 1];
static _Atomic int g_phase = PHASE_WARMUP;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns) {
        struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int samples_add(struct samples *s, uint64_t v) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 4096;
                uint64_t *p = realloc(s->ns, cap * sizeof *p);
                if (!p)
                        return -ENOMEM;
                s->ns = p;
                s->cap = cap;
        }
        s->ns[s->n++] = v;
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values, in microseconds; 0 when there are none. */
static double percentile_us(const uint64_t *sorted, size_t n, double q) {
        if (n == 0)
                return 0.0;
        size_t rank = (size_t)(q * (double)n + 0.999999999);
        if (rank < 1)
                rank = 1;
        if (rank > n)
                rank = n;
        return (double)sorted[rank - 1] / 1000.0;
}

/* --- parsing: pure functions, strtol/strtod with every error checked ----------------------- */

static int parse_long(const char *s, long min, long max, long *ret) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_seconds(const char *s, double max, double *ret) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= 0.0) || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* unix:PATH, unix:@ABSTRACT, tcp:HOST:PORT, tcp:[V6]:PORT. */
static int parse_target(const char *s, struct target *ret) {
        struct target t = { .len = 0 };
        if (strncmp(s, "unix:", 5) == 0) {
                const char *path = s + 5;
                size_t n = strlen(path);
                struct sockaddr_un *un = (struct sockaddr_un *)&t.addr;
                if (n == 0 || n >= sizeof un->sun_path)
                        return -EINVAL;
                un->sun_family = AF_UNIX;
                memcpy(un->sun_path, path, n);
                if (path[0] == '@') /* Linux abstract namespace: no terminating NUL counted */
                        un->sun_path[0] = '\0';
                else
                        n++;
                t.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
                t.family = AF_UNIX;
        } else if (strncmp(s, "tcp:", 4) == 0) {
                char host[256];
                const char *hp = s + 4, *colon;
                if (*hp == '[') {
                        const char *close = strchr(hp, ']');
                        if (!close || close[1] != ':' || (size_t)(close - hp - 1) >= sizeof host)
                                return -EINVAL;
                        memcpy(host, hp + 1, (size_t)(close - hp - 1));
                        host[close - hp - 1] = '\0';
                        colon = close + 1;
                } else {
                        colon = strrchr(hp, ':');
                        if (!colon || (size_t)(colon - hp) >= sizeof host || colon == hp)
                                return -EINVAL;
                        memcpy(host, hp, (size_t)(colon - hp));
                        host[colon - hp] = '\0';
                }
                long port;
                if (parse_long(colon + 1, 1, 65535, &port) < 0)
                        return -EINVAL;
                struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
                if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
                        return -EINVAL;
                memcpy(&t.addr, ai->ai_addr, ai->ai_addrlen);
                t.len = ai->ai_addrlen;
                t.family = ai->ai_family;
                freeaddrinfo(ai);
        } else {
                return -EINVAL;
        }
        *ret = t;
        return 0;
}

/* --- one connection ---------------------------------------------------------------------- */

/* A connected socket, or -errno. With timeouts, both are set first: a unix connect() to a
 * full backlog blocks for up to SO_SNDTIMEO. */
static int open_connection(bool timeouts) {
        int fd = socket(g_target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (timeouts) {
                struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        }
        if (connect(fd, (const struct sockaddr *)&g_target.addr, g_target.len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int send_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

enum reply { REPLY_OK, REPLY_READ_ERROR, REPLY_MISMATCH };

/* Read one reply line (exactly the request's length) and compare it with the expected ROT13.
 * *ret_first_ns, if given, is when its first byte arrived. */
static enum reply read_reply(int fd, uint64_t *ret_first_ns) {
        char buf[MAX_LINE + 1];
        size_t want = g_line_len + 1, got = 0;
        while (got < want) {
                ssize_t n = recv(fd, buf + got, want - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return REPLY_READ_ERROR;
                if (got == 0 && ret_first_ns)
                        *ret_first_ns = now_ns();
                /* A newline before the end is a short (wrong) reply: do not wait for more. */
                const char *nl = memchr(buf + got, '\n', (size_t)n);
                if (nl && nl != buf + want - 1)
                        return REPLY_MISMATCH;
                got += (size_t)n;
        }
        return memcmp(buf, g_expected, want) == 0 ? REPLY_OK : REPLY_MISMATCH;
}

/* --- the load ---------------------------------------------------------------------------- */

static void *client_main(void *arg) {
        struct client *c = arg;
        long per_conn = g_lines_per_conn >= 0 ? g_lines_per_conn : (g_mode == MODE_RECONNECT ? 1 : 0);
        int fd = -1;
        long sent_on_conn = 0;

        for (;;) {
                int phase = atomic_load(&g_phase);
                if (phase == PHASE_STOP)
                        break;
                bool counted = phase == PHASE_MEASURE;
                uint64_t t0 = now_ns();
                if (fd < 0) {
                        fd = open_connection(false);
                        if (fd < 0) {
                                if (counted) {
                                        if (fd == -ECONNREFUSED)
                                                c->err_refused++;
                                        else
                                                c->err_connect++;
                                }
                                fd = -1;
                                sleep_ns(1000000); /* a refusing server is not hammered */
                                continue;
                        }
                        sent_on_conn = 0;
                }
                if (send_all(fd, g_request, g_line_len + 1) < 0) {
                        if (counted)
                                c->err_write++;
                        close(fd);
                        fd = -1;
                        continue;
                }
                enum reply r = read_reply(fd, NULL);
                uint64_t t1 = now_ns();
                if (r != REPLY_OK) {
                        if (counted) {
                                if (r == REPLY_MISMATCH)
                                        c->err_mismatch++;
                                else
                                        c->err_read++;
                        }
                        close(fd);
                        fd = -1;
                        continue;
                }
                if (counted && atomic_load(&g_phase) == PHASE_MEASURE) {
                        c->requests++;
                        if (samples_add(&c->lat, t1 - t0) < 0)
                                c->oom = true;
                }
                if (per_conn > 0 && ++sent_on_conn >= per_conn) {
                        close(fd);
                        fd = -1;
                }
        }
        if (fd >= 0)
                close(fd);
        return NULL;
}

static void print_latency(const char *name, struct samples *all) {
        qsort(all->ns, all->n, sizeof *all->ns, cmp_u64);
        printf("\"%s\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"max\": %.1f}", name,
               percentile_us(all->ns, all->n, 0.50), percentile_us(all->ns, all->n, 0.90),
               percentile_us(all->ns, all->n, 0.99), percentile_us(all->ns, all->n, 1.0));
}

static int run_load(long nclients, double duration, double warmup) {
        struct client *clients = calloc((size_t)nclients, sizeof *clients);
        if (!clients) {
                fprintf(stderr, "loadgen: out of memory\n");
                return EXIT_OSERR;
        }
        long started = 0;
        for (; started < nclients; started++) {
                int r = pthread_create(&clients[started].thread, NULL, client_main, &clients[started]);
                if (r != 0) {
                        fprintf(stderr, "loadgen: cannot start client thread %ld: %s\n", started, strerror(r));
                        atomic_store(&g_phase, PHASE_STOP);
                        break;
                }
        }
        sleep_ns((uint64_t)(warmup * 1e9));
        atomic_store(&g_phase, PHASE_MEASURE);
        uint64_t begin = now_ns();
        sleep_ns((uint64_t)(duration * 1e9));
        atomic_store(&g_phase, PHASE_STOP);
        uint64_t end = now_ns();
        long stuck = 0;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += IO_TIMEOUT_S;
        for (long i = 0; i < started; i++) {
                if (pthread_timedjoin_np(clients[i].thread, NULL, &deadline) != 0) {
                        clients[i].stuck = true;
                        stuck++;
                }
        }
        if (started < nclients)
                _exit(EXIT_OSERR);

        struct client sum = { .requests = 0 };
        struct samples all = { 0 };
        bool oom = false;
        for (long i = 0; i < nclients; i++) {
                struct client *c = &clients[i];
                if (c->stuck)
                        continue;
                sum.requests += c->requests;
                sum.err_connect += c->err_connect;
                sum.err_refused += c->err_refused;
                sum.err_write += c->err_write;
                sum.err_read += c->err_read;
                sum.err_mismatch += c->err_mismatch;
                oom |= c->oom;
                for (size_t k = 0; k < c->lat.n && !oom; k++)
                        oom = samples_add(&all, c->lat.ns[k]) < 0;
                free(c->lat.ns);
        }
        if (!stuck)
                free(clients);
        if (oom) {
                fprintf(stderr, "loadgen: out of memory for latency samples\n");
                free(all.ns);
                return EXIT_OSERR;
        }
        double secs = (double)(end - begin) / 1e9;
        uint64_t errors = sum.err_connect + sum.err_refused + sum.err_write + sum.err_read + sum.err_mismatch +
                          (uint64_t)stuck;
        printf("{\"mode\": \"%s\", \"clients\": %ld, \"duration_s\": %.3f, \"requests\": %llu, "
               "\"requests_per_sec\": %.1f, \"errors\": {\"total\": %llu, \"stuck\": %ld, \"connect\": %llu, "
               "\"refused\": %llu, \"write\": %llu, \"read\": %llu, \"mismatch\": %llu}, ",
               g_mode == MODE_RECONNECT ? "reconnect" : "persistent", nclients, secs,
               (unsigned long long)sum.requests, secs > 0 ? (double)sum.requests / secs : 0.0,
               (unsigned long long)errors, stuck, (unsigned long long)sum.err_connect,
               (unsigned long long)sum.err_refused, (unsigned long long)sum.err_write,
               (unsigned long long)sum.err_read, (unsigned long long)sum.err_mismatch);
        print_latency("latency_us", &all);
        printf("}\n");
        free(all.ns);
        if (stuck) {
                fflush(stdout);
                _exit(0); /* threads still blocked in the server's socket: do not wait for them */
        }
        return 0;
}

/* N single connections, one after another, each timed from connect() to the first reply byte. */
static int run_cold(long n, long interval_ms) {
        struct samples lat = { 0 };
        uint64_t *each = calloc((size_t)n, sizeof *each); /* 0: failed */
        unsigned long long refused = 0, connect_err = 0, write_err = 0, read_err = 0, mismatch = 0;
        if (!each)
                return EXIT_OSERR;
        for (long i = 0; i < n; i++) {
                if (i > 0)
                        sleep_ns((uint64_t)interval_ms * 1000000u);
                uint64_t t0 = now_ns(), first = 0;
                int fd = open_connection(true);
                if (fd < 0) {
                        if (fd == -ECONNREFUSED)
                                refused++;
                        else
                                connect_err++;
                        continue;
                }
                if (send_all(fd, g_request, g_line_len + 1) < 0) {
                        write_err++;
                        close(fd);
                        continue;
                }
                enum reply r = read_reply(fd, &first);
                close(fd);
                if (r != REPLY_OK) {
                        if (r == REPLY_MISMATCH)
                                mismatch++;
                        else
                                read_err++;
                        continue;
                }
                each[i] = first - t0;
                if (samples_add(&lat, first - t0) < 0) {
                        free(each);
                        return EXIT_OSERR;
                }
        }
        unsigned long long failures = refused + connect_err + write_err + read_err + mismatch;
        printf("{\"mode\": \"cold\", \"connections\": %ld, \"interval_ms\": %ld, \"ok\": %zu, "
               "\"failures\": %llu, \"errors\": {\"total\": %llu, \"connect\": %llu, \"refused\": %llu, "
               "\"write\": %llu, \"read\": %llu, \"mismatch\": %llu}, \"samples_us\": [",
               n, interval_ms, lat.n, failures, failures, connect_err, refused, write_err, read_err, mismatch);
        for (long i = 0; i < n; i++)
                printf("%s%.1f", i ? ", " : "", each[i] ? (double)each[i] / 1000.0 : -1.0);
        printf("], ");
        qsort(lat.ns, lat.n, sizeof *lat.ns, cmp_u64);
        double median = 0.0;
        if (lat.n)
                median = lat.n % 2 ? (double)lat.ns[lat.n / 2] / 1000.0
                                   : ((double)lat.ns[lat.n / 2 - 1] + (double)lat.ns[lat.n / 2]) / 2000.0;
        printf("\"latency_us\": {\"median\": %.1f, \"p90\": %.1f, \"min\": %.1f, \"max\": %.1f}}\n", median,
               percentile_us(lat.ns, lat.n, 0.90), percentile_us(lat.ns, lat.n, 0.0),
               percentile_us(lat.ns, lat.n, 1.0));
        free(lat.ns);
        free(each);
        return 0;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: loadgen --connect ADDR --clients N --mode reconnect|persistent --duration S\n"
                "               [--lines-per-conn K] [--warmup S] [--line TEXT]\n"
                "       loadgen --connect ADDR --cold N [--interval-ms M] [--line TEXT]\n"
                "ADDR: unix:PATH, unix:@ABSTRACT, tcp:HOST:PORT. Prints one JSON object.\n");
}

int main(int argc, char **argv) {
        const char *connect_to = NULL;
        long clients = 16, cold = 0, interval_ms = 80;
        double duration = 2.0, warmup = 0.0;
        bool have_mode = false;

        for (int i = 1; i < argc; i++) {
                const char *opt = argv[i];
                if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
                        usage(stdout);
                        return 0;
                }
                if (i + 1 >= argc) {
                        fprintf(stderr, "loadgen: %s needs a value\n", opt);
                        usage(stderr);
                        return EXIT_USAGE;
                }
                const char *val = argv[++i];
                int r = 0;
                if (strcmp(opt, "--connect") == 0) {
                        connect_to = val;
                        r = parse_target(val, &g_target);
                } else if (strcmp(opt, "--clients") == 0) {
                        r = parse_long(val, 1, MAX_CLIENTS, &clients);
                } else if (strcmp(opt, "--mode") == 0) {
                        have_mode = true;
                        if (strcmp(val, "reconnect") == 0)
                                g_mode = MODE_RECONNECT;
                        else if (strcmp(val, "persistent") == 0)
                                g_mode = MODE_PERSISTENT;
                        else
                                r = -EINVAL;
                } else if (strcmp(opt, "--duration") == 0) {
                        r = parse_seconds(val, 86400, &duration);
                } else if (strcmp(opt, "--warmup") == 0) {
                        r = parse_seconds(val, 86400, &warmup);
                } else if (strcmp(opt, "--lines-per-conn") == 0) {
                        r = parse_long(val, 1, LONG_MAX, &g_lines_per_conn);
                } else if (strcmp(opt, "--line") == 0) {
                        g_line = val;
                } else if (strcmp(opt, "--cold") == 0) {
                        r = parse_long(val, 1, 1000000, &cold);
                } else if (strcmp(opt, "--interval-ms") == 0) {
                        r = parse_long(val, 0, 3600000, &interval_ms);
                } else {
                        fprintf(stderr, "loadgen: unknown option %s\n", opt);
                        usage(stderr);
                        return EXIT_USAGE;
                }
                if (r < 0) {
                        fprintf(stderr, "loadgen: bad value for %s: '%s'\n", opt, val);
                        return EXIT_USAGE;
                }
        }
        if (!connect_to) {
                fprintf(stderr, "loadgen: --connect is required\n");
                usage(stderr);
                return EXIT_USAGE;
        }
        if (cold && have_mode) {
                fprintf(stderr, "loadgen: --cold and --mode exclude each other\n");
                return EXIT_USAGE;
        }
        g_line_len = strlen(g_line);
        if (g_line_len == 0 || g_line_len >= MAX_LINE || memchr(g_line, '\n', g_line_len)) {
                fprintf(stderr, "loadgen: --line must be 1-%d bytes without a newline\n", MAX_LINE - 1);
                return EXIT_USAGE;
        }
        memcpy(g_request, g_line, g_line_len);
        g_request[g_line_len] = '\n';
        for (size_t k = 0; k <= g_line_len; k++) {
                unsigned char ch = (unsigned char)g_request[k];
                if (ch >= 'a' && ch <= 'z')
                        ch = (unsigned char)('a' + (ch - 'a' + 13) % 26);
                else if (ch >= 'A' && ch <= 'Z')
                        ch = (unsigned char)('A' + (ch - 'A' + 13) % 26);
                g_expected[k] = (char)ch;
        }
        signal(SIGPIPE, SIG_IGN);
        return cold ? run_cold(cold, interval_ms) : run_load(clients, duration, warmup);
}
