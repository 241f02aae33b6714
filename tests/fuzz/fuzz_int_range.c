/* fuzz_int_range.c: parse_int_range on arbitrary text, against each of the ranges pylaunchd uses
 * and the extremes. A reference parser written from parse.h's contract ("decimal integer in
 * [min, max], the whole string, no sign unless min < 0") must agree on the return code and the
 * value, and a failed parse must leave ret untouched. */
#include <errno.h>
#include <limits.h>

#include "fuzz.h"

static const struct range {
        long long min, max;
} ranges[] = {
        { 0, 10 },
        { 1, 65535 },                   /* ports, --backlog */
        { 1, 4096 },                    /* --max-connections */
        { 1, 64 },                      /* --workers */
        { 3, 65535 },                   /* --keep-fd */
        { 0, (long long)UINT32_MAX - 1 }, /* --allow-uid, --allow-gid */
        { 0, 999 },                     /* pyvenv.cfg versions */
        { -10, 10 },
        { -1, -1 },
        { LLONG_MIN, LLONG_MAX },
        { 0, LLONG_MAX },
        { LLONG_MIN, 0 },
};

/* The contract, spelled out: returns 0, -EINVAL or -ERANGE and the value. */
static int reference(const char *s, long long min, long long max, long long *ret) {
        const char *p = s;
        bool negative = false;
        unsigned __int128 mag = 0;
        __int128 v;

        if (*p == '-' && min < 0) {
                negative = true;
                p++;
        }
        if (!*p)
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                mag = mag * 10 + (unsigned)(*p - '0');
                if (mag > (unsigned __int128)1 << 64)
                        mag = ((unsigned __int128)1 << 64) + 1; /* saturate: out of every range */
        }
        v = negative ? -(__int128)mag : (__int128)mag;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (long long)v;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_cstr(data, size);

        if (!s)
                return 0;
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
                const long long sentinel = 0x5a5a5a5a5a5aLL;
                long long v = sentinel, want = 0;
                int r = parse_int_range(s, ranges[i].min, ranges[i].max, &v);
                int rw = reference(s, ranges[i].min, ranges[i].max, &want);

                FUZZ_CHECK(r == rw, "in [%lld, %lld]: returned %d, the contract says %d", ranges[i].min, ranges[i].max,
                           r, rw);
                if (r < 0)
                        FUZZ_CHECK(v == sentinel, "in [%lld, %lld]: a failed parse (%d) wrote %lld", ranges[i].min,
                                   ranges[i].max, r, v);
                else
                        FUZZ_CHECK(v == want && v >= ranges[i].min && v <= ranges[i].max,
                                   "in [%lld, %lld]: parsed %lld, the contract says %lld", ranges[i].min,
                                   ranges[i].max, v, want);
        }
        free(s);
        return 0;
}
