/* fuzz_duration.c: parse_duration_usec on arbitrary text. A success is never above the
 * documented maximum (10 * 366 days, plus the fraction of its last second), agrees with a
 * reference parser of the grammar DIGITS [. DIGITS] (at least one digit; digits past the
 * microsecond dropped, not rounded), and a failure leaves ret untouched. */
#include <errno.h>

#include "fuzz.h"

#define MAX_SEC (10ULL * 366 * 24 * 3600)
#define MAX_USEC (MAX_SEC * 1000000 + 999999)

static bool digit(char c) {
        return c >= '0' && c <= '9';
}

/* 0 and the value, -EINVAL (not the grammar) or -ERANGE (too long). */
static int reference(const char *s, uint64_t *ret) {
        uint64_t sec = 0, frac = 0, scale = 100000;
        bool too_big = false;
        int digits = 0;

        for (; digit(*s); s++, digits++) {
                if (!too_big)
                        sec = sec * 10 + (uint64_t)(*s - '0');
                too_big = too_big || sec > MAX_SEC;
        }
        if (*s == '.')
                for (s++; digit(*s); s++, digits++) {
                        frac += (uint64_t)(*s - '0') * scale;
                        scale /= 10;
                }
        if (*s || digits == 0)
                return -EINVAL;
        if (too_big)
                return -ERANGE;
        *ret = sec * 1000000 + frac;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint64_t sentinel = 0xa5a5a5a5a5a5a5a5ULL;
        uint64_t v = sentinel, want = 0;
        char *s = fuzz_cstr(data, size);
        int r, rw;

        if (!s)
                return 0;
        r = parse_duration_usec(s, &v);
        rw = reference(s, &want);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE, "unexpected return %d", r);
        /* Which error a text both malformed and too long gets is the parser's choice. */
        FUZZ_CHECK((r == 0) == (rw == 0), "returned %d, the grammar says %d", r, rw);
        if (r == 0) {
                FUZZ_CHECK(v <= MAX_USEC, "%llu usec is above the documented maximum %llu", (unsigned long long)v,
                           (unsigned long long)MAX_USEC);
                FUZZ_CHECK(v == want, "parsed %llu usec, the grammar says %llu", (unsigned long long)v,
                           (unsigned long long)want);
        } else
                FUZZ_CHECK(v == sentinel, "a failed parse (%d) wrote ret", r);
        free(s);
        return 0;
}
