/* sockinfo.h: what an inherited fd really is, found out before it is trusted. */
#pragma once
#include <stdbool.h>

enum sock_role {
        SOCK_ROLE_LISTENING, /* a stream or seqpacket socket in listen(): accept on it */
        SOCK_ROLE_CONNECTED, /* a connected stream socket: inetd style, one conversation */
        SOCK_ROLE_DATAGRAM,  /* a datagram socket: readable means a message waits */
        SOCK_ROLE_FIFO,      /* a named pipe */
};

struct sockinfo {
        int family;  /* AF_UNIX, AF_INET, AF_INET6; 0 for a FIFO */
        int type;    /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET; 0 for a FIFO */
        int protocol;
        enum sock_role role;
};

/* Fills *ret for fd; -EBADF for a closed fd, -ENOTSOCK for anything that is neither a socket
 * nor a FIFO, -EPROTONOSUPPORT for a socket family or type pylaunchd cannot serve. */
int sockinfo_get(int fd, struct sockinfo *ret);
const char *sock_role_name(enum sock_role role);
const char *sock_family_name(int family);
/* socket(2), close-on-exec from the start (SOCK_CLOEXEC where there is one, macOS has none):
 * no socket of ours may leak into a program the agent runs. */
int socket_cloexec(int family, int type);
