/* log.h: one line per event on stderr, with sd-daemon priority prefixes under the journal. */
#pragma once
#include <errno.h>

#define PL_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

/* Decide once whether stderr is the journal (JOURNAL_STREAM matches fd 2): then each line gets
 * a "<N>" prefix so journald keeps its priority. */
void log_init(const char *program);
int log_is_journal(void);

void log_msg(enum log_level level, const char *fmt, ...) PL_PRINTF(2, 3);
/* Logs "<message>: <strerror(err)>" and returns -|err|, so a caller can `return log_errno(...)`. */
int log_errno(enum log_level level, int err, const char *fmt, ...) PL_PRINTF(3, 4);

#define log_error(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
