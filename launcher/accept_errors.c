/* accept_errors.c: which accept() failures are the peer's, which are ours for a while, and which
 * end the launcher. A pure table, unit-tested row by row: dying on EMFILE would hand a load spike
 * to the service manager's start limit, and retrying at once would spin on a full fd table. */
#include <errno.h>

#include "accept_errors.h"

enum accept_action accept_error_action(int err) {
        switch (err) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
        case EINTR:
        case ECONNABORTED: /* the peer gave up before we got to it */
        case EPROTO:
                return ACCEPT_RETRY;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
                return ACCEPT_BACKOFF;
        default:
                return ACCEPT_STOP;
        }
}
