/* fuzz_journal_stream.c: parse_journal_stream, JOURNAL_STREAM's "DEVICE:INODE", on arbitrary
 * text: success exactly for two decimal numbers that fit in 64 bits around one ':', with their
 * values; a failure writes neither output. */
#include <errno.h>

#include "fuzz.h"

/* One decimal number that fits in uint64_t, digits only; advances *p past it. */
static bool reference_number(const char **p, uint64_t *ret) {
        uint64_t v = 0;
        const char *s = *p;

        if (*s < '0' || *s > '9')
                return false;
        for (; *s >= '0' && *s <= '9'; s++) {
                if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        *p = s;
        *ret = v;
        return true;
}

static bool reference(const char *s, uint64_t *dev, uint64_t *ino) {
        return reference_number(&s, dev) && *s++ == ':' && reference_number(&s, ino) && *s == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint64_t sentinel = 0xa5a5a5a5a5a5a5a5ULL;
        uint64_t dev = sentinel, ino = sentinel, want_dev = 0, want_ino = 0;
        char *s = fuzz_cstr(data, size);
        bool ok;
        int r;

        if (!s)
                return 0;
        r = parse_journal_stream(s, &dev, &ino);
        ok = reference(s, &want_dev, &want_ino);
        FUZZ_CHECK(r == 0 || r == -EINVAL, "unexpected return %d", r);
        FUZZ_CHECK((r == 0) == ok, "returned %d, the format says %s", r, ok ? "valid" : "invalid");
        if (r == 0)
                FUZZ_CHECK(dev == want_dev && ino == want_ino, "parsed %llu:%llu, want %llu:%llu",
                           (unsigned long long)dev, (unsigned long long)ino, (unsigned long long)want_dev,
                           (unsigned long long)want_ino);
        else
                FUZZ_CHECK(dev == sentinel && ino == sentinel, "a failed parse wrote its outputs");
        free(s);
        return 0;
}
