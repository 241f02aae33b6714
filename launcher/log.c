/* log.c: one line per event on stderr; "<N>" priority prefixes when stderr is the journal. */
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"

static const char *log_program = "pylaunchd";
static int log_journal;
static enum log_level log_max = LOG_LEVEL_INFO;

void log_init(const char *program) {
        struct stat st;
        uint64_t dev, ino;
        const char *js = getenv("JOURNAL_STREAM");

        if (program)
                log_program = program;
        /* systemd sets JOURNAL_STREAM for the service's own stderr; a child whose stderr was
         * redirected elsewhere inherits the variable, hence the device and inode comparison. */
        log_journal = js && parse_journal_stream(js, &dev, &ino) == 0 && fstat(STDERR_FILENO, &st) == 0 &&
                      (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

int log_is_journal(void) {
        return log_journal;
}

static void log_write(enum log_level level, const char *msg, const char *err) {
        char line[2048];
        int n;

        if (level > log_max)
                return;
        /* The journal already names the unit and time; a terminal wants the program name. */
        if (log_journal)
                n = snprintf(line, sizeof line, "<%d>%s%s%s\n", (int)level, msg, err ? ": " : "", err ? err : "");
        else
                n = snprintf(line, sizeof line, "%s: %s%s%s\n", log_program, msg, err ? ": " : "", err ? err : "");
        if (n < 0)
                return;
        if ((size_t)n >= sizeof line) {
                n = sizeof line - 1;
                line[n - 1] = '\n';
        }
        /* One write(2) per line so lines from several threads never interleave. */
        (void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_msg(enum log_level level, const char *fmt, ...) {
        char msg[1536];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_write(level, msg, NULL);
}

/* strerror_r is GNU-flavoured (returns char *) with _GNU_SOURCE on glibc and XSI (returns int)
 * on macOS; the overloads below take either result. */
static inline const char *strerror_result(int r, const char *buf) {
        return r == 0 ? buf : "unknown error";
}

static inline const char *strerror_result_gnu(const char *r, const char *buf) {
        (void)buf;
        return r;
}

#define errno_text(err, buf)                                                                        \
        _Generic(strerror_r((err), (buf), sizeof(buf)), int: strerror_result, default: strerror_result_gnu)( \
                strerror_r((err), (buf), sizeof(buf)), (buf))

const char *log_strerror(int err, char *buf, size_t size) {
        char ebuf[256];

        snprintf(buf, size, "%s", errno_text(err < 0 ? -err : err, ebuf));
        return buf;
}

int log_errno(enum log_level level, int err, const char *fmt, ...) {
        char msg[1536], ebuf[256];
        va_list ap;

        err = err < 0 ? -err : err;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_write(level, msg, errno_text(err, ebuf));
        return -err;
}

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Every rate limit used so far, for log_flush_suppressed(). Entries are static and never freed. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_ratelimit *registry;

static void report_suppressed_locked(struct log_ratelimit *rl) {
        if (rl->suppressed == 0)
                return;
        log_msg(rl->level, "%u similar message(s) suppressed in the last %llu s; the last: %s", rl->suppressed,
                (unsigned long long)(LOG_RATELIMIT_INTERVAL_USEC / 1000000), rl->last);
        rl->suppressed = 0;
}

bool log_ratelimit_pass(struct log_ratelimit *rl, enum log_level level, const char *what) {
        uint64_t now = mono_usec();
        bool pass;

        pthread_mutex_lock(&rl->lock);
        if (!rl->registered) {
                pthread_mutex_lock(&registry_lock);
                rl->next = registry;
                registry = rl;
                rl->registered = true;
                pthread_mutex_unlock(&registry_lock);
        }
        if (rl->begin == 0 || now >= rl->begin + LOG_RATELIMIT_INTERVAL_USEC) {
                report_suppressed_locked(rl);
                rl->begin = now;
                rl->printed = 0;
        }
        pass = rl->printed < LOG_RATELIMIT_BURST;
        if (pass)
                rl->printed++;
        else {
                rl->suppressed++;
                rl->level = level;
                snprintf(rl->last, sizeof rl->last, "%s", what);
        }
        pthread_mutex_unlock(&rl->lock);
        return pass;
}

void log_flush_suppressed(uint64_t now) {
        pthread_mutex_lock(&registry_lock);
        for (struct log_ratelimit *rl = registry; rl; rl = rl->next) {
                pthread_mutex_lock(&rl->lock);
                if (rl->suppressed && (now == 0 || now >= rl->begin + LOG_RATELIMIT_INTERVAL_USEC)) {
                        report_suppressed_locked(rl);
                        /* A new interval starts with the next line, which then prints. */
                        rl->begin = 0;
                }
                pthread_mutex_unlock(&rl->lock);
        }
        pthread_mutex_unlock(&registry_lock);
}
