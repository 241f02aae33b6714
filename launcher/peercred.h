/* peercred.h: who is at the other end of a unix socket (pid, uid, gid), from the kernel. */
#pragma once
#include <sys/types.h>

struct peercred {
        pid_t pid; /* 0 where the platform cannot tell */
        uid_t uid;
        gid_t gid;
};

/* -EAFNOSUPPORT for a socket that is not AF_UNIX, or another -errno. */
int peercred_get(int fd, struct peercred *ret);
/* The same for an fd the caller knows is an AF_UNIX socket (the accept path): one syscall less. */
int peercred_get_unix(int fd, struct peercred *ret);
