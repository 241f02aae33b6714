/* fuzz.h: what every fuzz target shares: a NUL-terminated copy of the input, a property check
 * that aborts (so libFuzzer and the replay both report it), and the invariants of a parsed
 * struct address, which both fuzz_address and fuzz_options check. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Where a violated property is reported. Captured before a target may point the stdio streams
 * at /dev/null (fuzz_options does), so reports always reach the real fd 2. */
static FILE *fuzz_report_stream;

static inline FILE *fuzz_report(void) {
        return fuzz_report_stream ? fuzz_report_stream : stderr;
}

/* The input, escaped, so a report can be pasted into a table test. */
static inline void fuzz_print_escaped(FILE *f, const uint8_t *data, size_t size) {
        fputc('"', f);
        for (size_t i = 0; i < size && i < 512; i++) {
                uint8_t c = data[i];
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c >= 0x20 && c < 0x7f)
                        fputc(c, f);
                else
                        fprintf(f, "\\x%02x\"\"", c); /* "" ends the escape: "\x01" "a" */
        }
        fputs(size > 512 ? "\"...\n" : "\"\n", f);
}

/* The input being run, for reports. */
static const uint8_t *fuzz_data;
static size_t fuzz_size;

__attribute__((format(printf, 3, 4), noreturn)) static inline void fuzz_fail(const char *file, int line,
                                                                              const char *fmt, ...) {
        FILE *f = fuzz_report();
        va_list ap;

        fprintf(f, "%s:%d: property violated: ", file, line);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        fputs("\ninput: ", f);
        fuzz_print_escaped(f, fuzz_data, fuzz_size);
        fflush(f);
        abort();
}

/* Remember the input being run, for reports; every target calls this (or fuzz_cstr) first. */
static inline void fuzz_begin(const uint8_t *data, size_t size) {
        fuzz_data = data;
        fuzz_size = size;
}

/* FUZZ_CHECK(cond, "what, with %d", args): a property of the parser; abort() if it is false. */
#define FUZZ_CHECK(cond, ...)                                          \
        do {                                                           \
                if (!(cond))                                           \
                        fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);    \
        } while (0)

/* The input as a C string in a buffer of exactly size + 1 bytes (so ASan sees any read past
 * its NUL), or NULL when the input holds a NUL: no C string can carry one, and every parser
 * here takes its text from argv, the environment or a file read as a string. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
        char *s;

        fuzz_begin(data, size);
        if (memchr(data, '\0', size))
                return NULL;
        s = malloc(size + 1);
        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

/* True when the n bytes at p hold a NUL. */
static inline bool fuzz_terminated(const char *p, size_t n) {
        return memchr(p, '\0', n) != NULL;
}

/* The invariants of any address parse_address accepted. */
static inline void fuzz_check_address(const struct address *a) {
        size_t n;

        FUZZ_CHECK(fuzz_terminated(a->path, sizeof a->path), "path not NUL-terminated");
        FUZZ_CHECK(fuzz_terminated(a->host, sizeof a->host), "host not NUL-terminated");
        switch (a->kind) {
        case ADDRESS_UNIX:
        case ADDRESS_FIFO:
                n = strlen(a->path);
                FUZZ_CHECK(n > 0 && n < sizeof a->path, "%s path of length %zu",
                           a->kind == ADDRESS_UNIX ? "unix" : "fifo", n);
                /* An abstract name needs at least one byte after the '@' that becomes NUL. */
                FUZZ_CHECK(a->path[0] != '@' || (a->kind == ADDRESS_UNIX && n >= 2),
                           "bad abstract name \"%s\" (kind %d)", a->path, (int)a->kind);
                FUZZ_CHECK(a->host[0] == '\0' && a->port == 0, "a path address with a host or port");
                break;
        case ADDRESS_TCP:
                n = strlen(a->host);
                FUZZ_CHECK(n > 0 && n < sizeof a->host, "tcp host of length %zu", n);
                FUZZ_CHECK(a->port > 0, "tcp port 0 accepted");
                FUZZ_CHECK(a->path[0] == '\0', "a tcp address with a path");
                for (size_t i = 0; i < n; i++)
                        FUZZ_CHECK((a->host[i] >= 'a' && a->host[i] <= 'z') || (a->host[i] >= 'A' && a->host[i] <= 'Z') ||
                                           (a->host[i] >= '0' && a->host[i] <= '9') || strchr(".-_:%", a->host[i]),
                                   "tcp host \"%s\" has a character outside [A-Za-z0-9.-_:%%]", a->host);
                break;
        default:
                FUZZ_CHECK(false, "address kind %d", (int)a->kind);
        }
}
