/* nocheck.c: a benchmark-only pylaunchd that skips the owner check of inet peers, to time the
 * check by difference (run.py's owner-check row: warm-tcp with the check against this).
 *
 * Linked only into tests/bench's pylaunchd_nocheck with -Wl,--wrap=access_check_stream: the
 * launcher's call in serve.c lands here, while launcher/access.c and the shipped pylaunchd stay as
 * they are (no build macro in the launcher, no option that turns the check off). Never installed.
 * Unix peers still go through the real check; an inet peer is let in with nothing looked up,
 * which is exactly the work the check adds per connection: getsockname, getpeername, one
 * sock_diag netlink round trip, the policy. */
#include <sys/socket.h>

#include "access.h"

int __real_access_check_stream(const struct access_policy *p, int fd, int family, struct access_peer *ret_peer);
int __wrap_access_check_stream(const struct access_policy *p, int fd, int family, struct access_peer *ret_peer);

int __wrap_access_check_stream(const struct access_policy *p, int fd, int family, struct access_peer *ret_peer) {
        if (family != AF_INET && family != AF_INET6)
                return __real_access_check_stream(p, fd, family, ret_peer);
        *ret_peer = (struct access_peer){ .uid = (uid_t)-1, .gid = (gid_t)-1 };
        return 1;
}
