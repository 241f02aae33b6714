/* log.c: one line per event on stderr; "<N>" priority prefixes when stderr is the journal. */
#include <stdarg.h>
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
