/* log.h: one line per event on stderr, with sd-daemon priority prefixes under the journal. */
#pragma once
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PL_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

/* Decide once whether stderr is the journal (JOURNAL_STREAM matches fd 2): then each line gets
 * a "<N>" prefix so journald keeps its priority. */
void log_init(const char *program);
int log_is_journal(void);

void log_msg(enum log_level level, const char *fmt, ...) PL_PRINTF(2, 3);
/* Logs "<message>: <strerror(err)>" and returns -|err|, so a caller can `return log_errno(...)`. */
int log_errno(enum log_level level, int err, const char *fmt, ...) PL_PRINTF(3, 4);

/* strerror(|err|), thread-safe, into buf. */
const char *log_strerror(int err, char *buf, size_t size);

/* Lines about events a client or another process can repeat at will (refused peers, signals,
 * accept errors, handler exceptions) go through a rate limit per call site, as journald and
 * syslog limit a flood: LOG_RATELIMIT_BURST lines per LOG_RATELIMIT_INTERVAL_USEC, then nothing
 * until the interval ends; the next line, or log_flush_suppressed() (the supervisor calls it
 * every second), says how many were suppressed. */
#define LOG_RATELIMIT_BURST 10
#define LOG_RATELIMIT_INTERVAL_USEC 10000000ULL

struct log_ratelimit {
        pthread_mutex_t lock;
        uint64_t begin;       /* CLOCK_MONOTONIC usec the interval began; 0 never used */
        unsigned printed;     /* in this interval */
        unsigned suppressed;  /* not printed, in this interval */
        enum log_level level; /* of the last line */
        char last[256];       /* the last line suppressed, for the summary */
        struct log_ratelimit *next; /* registered on first use, for log_flush_suppressed() */
        bool registered;
};
#define LOG_RATELIMIT_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/* Returns true when the caller may log this line now (and then counts it). */
bool log_ratelimit_pass(struct log_ratelimit *rl, enum log_level level, const char *what);
/* Reports, once, each interval that ended with lines suppressed: "N similar message(s)
 * suppressed in the last 10 s; the last: ...". now 0: report every pending count at once (at exit). */
void log_flush_suppressed(uint64_t now);

/* log_msg/log_errno through a rate limit of the call site's own. */
#define log_ratelimited(level, ...)                                                                 \
        do {                                                                                        \
                static struct log_ratelimit rl_ = LOG_RATELIMIT_INIT;                               \
                char rl_buf_[1536];                                                                 \
                snprintf(rl_buf_, sizeof rl_buf_, __VA_ARGS__);                                     \
                if (log_ratelimit_pass(&rl_, (level), rl_buf_))                                     \
                        log_msg((level), "%s", rl_buf_);                                            \
        } while (0)

#define log_error(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
