/* fuzz_address.c: parse_address ("unix:PATH", "unix:@NAME", "tcp:HOST:PORT", "tcp:[V6]:PORT",
 * "fifo:PATH") on arbitrary text. Besides not crashing: a failed parse leaves ret untouched; an
 * accepted address is well formed (fuzz_check_address); the path or host and port it holds are
 * the ones in the text; and its canonical spelling parses back to the same address. */
#include <errno.h>
#include <stdio.h>

#include "fuzz.h"

static bool same_address(const struct address *a, const struct address *b) {
        return a->kind == b->kind && strcmp(a->path, b->path) == 0 && strcmp(a->host, b->host) == 0 &&
               a->port == b->port;
}

/* The decimal port text after the host: digits only (leading zeros allowed), equal to port. */
static void check_port_text(const char *text, unsigned port) {
        unsigned long v = 0;

        FUZZ_CHECK(*text, "empty port text accepted");
        for (const char *p = text; *p; p++) {
                FUZZ_CHECK(*p >= '0' && *p <= '9', "port text \"%s\" is not all digits", text);
                v = v * 10 + (unsigned long)(*p - '0');
                FUZZ_CHECK(v <= 65535, "port text \"%s\" is above 65535", text);
        }
        FUZZ_CHECK(v == port, "port text \"%s\" parsed as %u", text, port);
}

static void check_tcp_text(const char *s, const struct address *a) {
        size_t hostlen = strlen(a->host);
        char canon[sizeof a->host + 16];
        struct address again;
        bool bracketed = s[0] == '[';

        if (bracketed) {
                FUZZ_CHECK(strncmp(s + 1, a->host, hostlen) == 0 && s[1 + hostlen] == ']' && s[2 + hostlen] == ':',
                           "host \"%s\" is not what the brackets hold", a->host);
                check_port_text(s + 3 + hostlen, a->port);
        } else {
                FUZZ_CHECK(strncmp(s, a->host, hostlen) == 0 && s[hostlen] == ':', "host \"%s\" is not the text's",
                           a->host);
                /* An IPv6 literal must be bracketed, or its port would be ambiguous. */
                FUZZ_CHECK(!strchr(a->host, ':'), "unbracketed host \"%s\" holds a ':'", a->host);
                check_port_text(s + hostlen + 1, a->port);
        }
        snprintf(canon, sizeof canon, strchr(a->host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", a->host, a->port);
        FUZZ_CHECK(parse_address(canon, &again) == 0 && same_address(a, &again),
                   "canonical form \"%s\" does not parse back to the same address", canon);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_cstr(data, size);
        struct address a, sentinel;
        int r;

        if (!s)
                return 0;
        memset(&a, 0xa5, sizeof a);
        sentinel = a;
        r = parse_address(s, &a);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE, "unexpected return %d", r);
        if (r < 0) {
                FUZZ_CHECK(memcmp(&a, &sentinel, sizeof a) == 0, "a failed parse (%d) wrote ret", r);
                goto finish;
        }
        fuzz_check_address(&a);
        switch (a.kind) {
        case ADDRESS_UNIX:
                FUZZ_CHECK(strncmp(s, "unix:", 5) == 0 && strcmp(a.path, s + 5) == 0, "unix path is not the text's");
                break;
        case ADDRESS_FIFO:
                FUZZ_CHECK(strncmp(s, "fifo:", 5) == 0 && strcmp(a.path, s + 5) == 0, "fifo path is not the text's");
                break;
        case ADDRESS_TCP:
                FUZZ_CHECK(strncmp(s, "tcp:", 4) == 0, "tcp address without tcp:");
                check_tcp_text(s + 4, &a);
                break;
        }
finish:
        free(s);
        return 0;
}
