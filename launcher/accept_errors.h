/* accept_errors.h: what the serving loop does when accept() fails, by errno. */
#pragma once

enum accept_action {
        ACCEPT_RETRY,   /* nothing lost: poll again (EAGAIN, EINTR, a peer that left early) */
        ACCEPT_BACKOFF, /* out of fds or memory: leave the connection queued, pause accepting */
        ACCEPT_STOP,    /* the listener itself is broken: stop serving */
};

enum accept_action accept_error_action(int err);
