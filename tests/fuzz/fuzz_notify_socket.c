/* fuzz_notify_socket.c: parse_notify_socket, NOTIFY_SOCKET's forms, on arbitrary text: a unix
 * address exactly for "/..." or "@..." that fits sun_path, its bytes copied and its length right;
 * a vsock address only for the vsock forms; a failure leaves ret untouched. */
#include <errno.h>
#include <sys/un.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct notify_address a, sentinel;
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a.ss;
        char *s = fuzz_cstr(data, size);
        size_t len;
        bool unix_ok;
        int r;

        if (!s)
                return 0;
        memset(&sentinel, 0xa5, sizeof sentinel);
        a = sentinel;
        len = strlen(s);
        unix_ok = (s[0] == '/' || s[0] == '@') && len >= 2 && len <= sizeof un->sun_path - (s[0] == '/');
        r = parse_notify_socket(s, &a);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EAFNOSUPPORT, "unexpected return %d", r);
        if (s[0] == '/' || s[0] == '@') {
                FUZZ_CHECK((r == 0) == unix_ok, "returned %d for a unix address of %zu bytes", r, len);
                if (r == 0) {
                        FUZZ_CHECK(a.ss.ss_family == AF_UNIX && a.type == SOCK_DGRAM, "family %d type %d",
                                   a.ss.ss_family, a.type);
                        FUZZ_CHECK(a.len == offsetof(struct sockaddr_un, sun_path) + len + (s[0] == '/'), "length %u",
                                   (unsigned)a.len);
                        FUZZ_CHECK(memcmp(un->sun_path + 1, s + 1, len - 1) == 0, "address bytes differ");
                        FUZZ_CHECK(un->sun_path[0] == (s[0] == '@' ? '\0' : '/'), "first byte %d", un->sun_path[0]);
                }
        } else if (r == 0) {
                FUZZ_CHECK(strncmp(s, "vsock", 5) == 0, "accepted '%s', which is no vsock form", s);
                FUZZ_CHECK(a.len <= sizeof a.ss, "length %u", (unsigned)a.len);
        }
        if (r != 0)
                FUZZ_CHECK(memcmp(&a, &sentinel, sizeof a) == 0, "a failed parse wrote ret");
        free(s);
        return 0;
}
