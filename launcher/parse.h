/* parse.h: pure parsers for everything pylaunchd reads from a command line or the environment.
 * No I/O, no globals, no logging: each returns 0 or a negative errno and writes ret_* only on
 * success, so each has a table test and a fuzz target. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

enum address_kind { ADDRESS_UNIX, ADDRESS_TCP, ADDRESS_FIFO };

struct address {
        enum address_kind kind;
        /* unix: the path; an abstract name (Linux) starts with '@' here and with NUL in sockaddr */
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        char host[256]; /* tcp: a literal address or a name, without brackets */
        uint16_t port;
};

/* Where sd_notify(3) messages go: NOTIFY_SOCKET, parsed. */
struct notify_address {
        int type;      /* SOCK_DGRAM, or for vsock the type named (0: datagram, falling back to
                        * seqpacket and stream where the hypervisor has no vsock datagrams) */
        socklen_t len; /* of the address in ss */
        struct sockaddr_storage ss;
};

/* "unix:PATH", "unix:@NAME", "tcp:HOST:PORT", "tcp:[V6ADDR]:PORT", "fifo:PATH". */
int parse_address(const char *s, struct address *ret);
/* NOTIFY_SOCKET as systemd passes it (sd_notify(3)): "/PATH" (a unix datagram socket), "@NAME"
 * (abstract), or on Linux "vsock:CID:PORT" and "vsock-dgram:", "vsock-seqpacket:",
 * "vsock-stream:" forms, CID a number or hypervisor, local, host. -EINVAL otherwise, and
 * -EAFNOSUPPORT for vsock where there is none. */
int parse_notify_socket(const char *s, struct notify_address *ret);
/* The socket-activation environment (sd_listen_fds(3)), read as libsystemd reads it. */
struct listen_env {
        const char *pid, *pidfdid, *fds, *fdnames; /* LISTEN_PID, LISTEN_PIDFDID, ... ; NULL: unset */
};
/* 0 when it is not for this process: no LISTEN_PID, another pid, a LISTEN_PIDFDID other than
 * self_pidfdid (compared only when self_pidfdid is known, not 0: kernels before pidfs have no
 * such ids), no LISTEN_FDS. -EINVAL for a malformed LISTEN_PID, LISTEN_PIDFDID or LISTEN_FDS, or
 * a count outside 1 .. INT_MAX - 3 (-ERANGE beyond an int, as libsystemd); else the count. Numbers are plain decimal: libsystemd also
 * takes leading blanks, '+' and "0x", which no service manager writes. */
int parse_listen_env(const struct listen_env *env, pid_t self, uint64_t self_pidfdid);
/* The n names in LISTEN_FDNAMES (NULL: unset): split at every ':', empty names kept ("" is one
 * empty name), or "unknown" n times when unset; -EINVAL when they are not n. *ret_names is a
 * malloc'd, NULL-ended array that parse_strv_free() frees. -ENOMEM. Asked only once the n fds
 * are known to be open, so n is never larger than what is open. */
int parse_listen_fdnames(const char *fdnames, int n, char ***ret_names);
void parse_strv_free(char **v);
/* Decimal integer in [min, max], the whole string, no sign unless min < 0. */
int parse_int_range(const char *s, long long min, long long max, long long *ret);
/* Seconds, fractions allowed ("0.05", "2", "1.5"), to microseconds; at most about 10 years. */
int parse_duration_usec(const char *s, uint64_t *ret_usec);
/* An octal file mode creation mask, "077" or "0022": 0 to 0777. */
int parse_umask(const char *s, mode_t *ret);
/* JOURNAL_STREAM's "DEVICE:INODE". */
int parse_journal_stream(const char *s, uint64_t *ret_dev, uint64_t *ret_ino);
/* The Python version a virtualenv was made with, from its pyvenv.cfg text ("version = 3.11.2"
 * or "version_info = 3.11.2.final.0"): -ENOENT when there is no such line. */
int parse_pyvenv_version(const char *cfg, int *ret_major, int *ret_minor);
/* The candidate a mistyped word most likely meant (Damerau-Levenshtein distance, adjacent
 * transpositions counting one), if it is close enough to suggest: at most 1 edit for words of up
 * to 4 letters, 2 up to 8, 3 beyond. NULL when none is. Ties go to the first candidate. */
const char *parse_nearest(const char *word, const char *const *candidates, size_t n);
/* True when s is a usable Python module name: an ASCII identifier, not a keyword. */
bool module_name_valid(const char *s);
/* The module name for an agent path: the file's base name less ".py"; -EINVAL otherwise. */
int agent_module_name(const char *path, char *ret, size_t size);
