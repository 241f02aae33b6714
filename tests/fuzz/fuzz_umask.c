/* fuzz_umask.c: parse_umask on arbitrary text: success exactly for one to four octal digits
 * worth at most 0777, with that value; a failure leaves ret untouched. */
#include <errno.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const mode_t sentinel = (mode_t)0xa5a5;
        mode_t m = sentinel;
        unsigned want = 0;
        char *s = fuzz_cstr(data, size);
        size_t n;
        bool ok;
        int r;

        if (!s)
                return 0;
        for (n = 0; s[n] >= '0' && s[n] <= '7'; n++)
                want = n < 8 ? want * 8 + (unsigned)(s[n] - '0') : 07777777;
        ok = s[n] == '\0' && n >= 1 && n <= 4 && want <= 0777;
        r = parse_umask(s, &m);
        FUZZ_CHECK(r == 0 || r == -EINVAL, "unexpected return %d", r);
        FUZZ_CHECK((r == 0) == ok, "returned %d, want %s", r, ok ? "success" : "-EINVAL");
        if (r == 0)
                FUZZ_CHECK(m == want && m <= 0777, "parsed %#o, want %#o", (unsigned)m, want);
        else
                FUZZ_CHECK(m == sentinel, "a failed parse wrote ret");
        free(s);
        return 0;
}
