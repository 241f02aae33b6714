/* parse.c: pure parsers (no I/O, no globals); see parse.h for the contract of each. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

/* NOTIFY_SOCKET=vsock:... is systemd's, so Linux's: macOS defines AF_VSOCK too, but its SDK has
 * no <linux/vm_sockets.h> (tests/macos cross-compiles this file). */
#if defined(__linux__) && defined(AF_VSOCK)
#include <linux/vm_sockets.h>
#define PARSE_HAVE_VSOCK 1
#endif

int parse_int_range(const char *s, long long min, long long max, long long *ret) {
        long long v;
        char *end;

        if (!s || !*s || isspace((unsigned char)*s))
                return -EINVAL;
        if ((*s == '+') || (*s == '-' && min >= 0))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end != '\0')
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_port(const char *s, uint16_t *ret) {
        long long v;
        int r = parse_int_range(s, 1, 65535, &v);

        if (r < 0)
                return r;
        *ret = (uint16_t)v;
        return 0;
}

static int parse_tcp(const char *s, struct address *a) {
        const char *colon;
        size_t hostlen;

        if (*s == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                hostlen = (size_t)(close - s - 1);
                if (hostlen == 0 || memchr(s + 1, '[', hostlen))
                        return -EINVAL;
                s++;
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                hostlen = (size_t)(colon - s);
                /* An IPv6 literal must be bracketed, or its port is ambiguous. */
                if (memchr(s, ':', hostlen) || memchr(s, ']', hostlen))
                        return -EINVAL;
        }
        if (hostlen == 0 || hostlen >= sizeof a->host)
                return -EINVAL;
        for (size_t i = 0; i < hostlen; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr(".-_:%", s[i]))
                        return -EINVAL;
        memcpy(a->host, s, hostlen);
        a->host[hostlen] = '\0';
        return parse_port(colon + 1, &a->port);
}

int parse_address(const char *s, struct address *ret) {
        struct address a;
        int r;

        if (!s)
                return -EINVAL;
        memset(&a, 0, sizeof a);
        if (strncmp(s, "unix:", 5) == 0) {
                size_t len = strlen(s + 5);
                a.kind = ADDRESS_UNIX;
                /* sun_path needs a terminating NUL for a path; an abstract name does not, but
                 * one byte goes to the leading NUL that replaces '@'. */
                if (len == 0 || len >= sizeof a.path || (s[5] == '@' && len < 2))
                        return -EINVAL;
                memcpy(a.path, s + 5, len + 1);
        } else if (strncmp(s, "fifo:", 5) == 0) {
                size_t len = strlen(s + 5);
                a.kind = ADDRESS_FIFO;
                if (len == 0 || len >= sizeof a.path || s[5] == '@')
                        return -EINVAL;
                memcpy(a.path, s + 5, len + 1);
        } else if (strncmp(s, "tcp:", 4) == 0) {
                a.kind = ADDRESS_TCP;
                r = parse_tcp(s + 4, &a);
                if (r < 0)
                        return r;
        } else
                return -EINVAL;
        *ret = a;
        return 0;
}

int parse_duration_usec(const char *s, uint64_t *ret_usec) {
        const uint64_t max_sec = 10ULL * 366 * 24 * 3600;
        uint64_t sec = 0, frac = 0, scale = 1000000;
        const char *p = s;
        int digits = 0;

        if (!s || !*s)
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++, digits++) {
                sec = sec * 10 + (uint64_t)(*p - '0');
                if (sec > max_sec)
                        return -ERANGE;
        }
        if (*p == '.') {
                p++;
                for (; isdigit((unsigned char)*p); p++, digits++) {
                        /* Digits past the microsecond are accepted and dropped. */
                        if (scale > 1) {
                                scale /= 10;
                                frac += (uint64_t)(*p - '0') * scale;
                        }
                }
        }
        if (*p != '\0' || digits == 0)
                return -EINVAL;
        *ret_usec = sec * 1000000 + frac;
        return 0;
}

int parse_umask(const char *s, mode_t *ret) {
        unsigned v = 0;
        size_t n = 0;

        if (!s)
                return -EINVAL;
        for (; s[n]; n++) {
                if (s[n] < '0' || s[n] > '7' || n >= 4)
                        return -EINVAL;
                v = v * 8 + (unsigned)(s[n] - '0');
        }
        if (n == 0 || v > 0777)
                return -EINVAL;
        *ret = (mode_t)v;
        return 0;
}

int parse_journal_stream(const char *s, uint64_t *ret_dev, uint64_t *ret_ino) {
        unsigned long long dev, ino;
        char *end;

        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        dev = strtoull(s, &end, 10);
        if (errno || *end != ':' || !isdigit((unsigned char)end[1]))
                return -EINVAL;
        ino = strtoull(end + 1, &end, 10);
        if (errno || *end != '\0')
                return -EINVAL;
        *ret_dev = dev;
        *ret_ino = ino;
        return 0;
}

static int parse_major_minor(const char *p, int *ret_major, int *ret_minor) {
        long long major, minor;
        char num[16];
        size_t n;

        for (int part = 0; part < 2; part++) {
                for (n = 0; isdigit((unsigned char)p[n]) && n < sizeof num - 1; n++)
                        num[n] = p[n];
                if (isdigit((unsigned char)p[n]))
                        return -EINVAL; /* more digits than any version has: not cut short */
                num[n] = '\0';
                if (parse_int_range(num, 0, 999, part ? &minor : &major) < 0)
                        return -EINVAL;
                p += n;
                if (part == 0 && *p++ != '.')
                        return -EINVAL;
        }
        *ret_major = (int)major;
        *ret_minor = (int)minor;
        return 0;
}

int parse_pyvenv_version(const char *cfg, int *ret_major, int *ret_minor) {
        static const char *const keys[] = { "version", "version_info" };

        /* A line is "KEY = VALUE"; spaces around '=' are optional (the venv module writes them). */
        for (const char *line = cfg; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                for (size_t k = 0; k < 2; k++) {
                        size_t len = strlen(keys[k]);
                        const char *p = line;

                        if (strncmp(p, keys[k], len) != 0)
                                continue;
                        p += len;
                        while (*p == ' ' || *p == '\t')
                                p++;
                        if (*p++ != '=')
                                continue;
                        while (*p == ' ' || *p == '\t')
                                p++;
                        return parse_major_minor(p, ret_major, ret_minor);
                }
        }
        return -ENOENT;
}

bool module_name_valid(const char *s) {
        static const char *const keywords[] = {
                "False", "None", "True", "and", "as", "assert", "async", "await", "break",
                "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
                "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
                "pass", "raise", "return", "try", "while", "with", "yield",
        };

        if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
                return false;
        for (const char *p = s; *p; p++)
                if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p >= 0x80)
                        return false;
        for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
                if (strcmp(s, keywords[i]) == 0)
                        return false;
        return true;
}

int agent_module_name(const char *path, char *ret, size_t size) {
        const char *base, *slash;
        char name[256];
        size_t len;

        if (!path)
                return -EINVAL;
        slash = strrchr(path, '/');
        base = slash ? slash + 1 : path;
        len = strlen(base);
        if (len <= 3 || strcmp(base + len - 3, ".py") != 0)
                return -EINVAL;
        len -= 3;
        if (len >= size || len >= sizeof name)
                return -ENAMETOOLONG;
        memcpy(name, base, len);
        name[len] = '\0';
        if (!module_name_valid(name))
                return -EINVAL;
        memcpy(ret, name, len + 1);
        return 0;
}

static int parse_notify_unix(const char *s, struct notify_address *ret) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ret->ss;
        size_t len = strlen(s);

        /* An abstract name may use the whole of sun_path; a path needs room for its NUL. */
        if (len < 2 || len > sizeof un->sun_path - (s[0] == '/'))
                return -EINVAL;
        memset(ret, 0, sizeof *ret);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, s, len);
        if (s[0] == '@')
                un->sun_path[0] = '\0';
        ret->type = SOCK_DGRAM;
        ret->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (s[0] == '/'));
        return 0;
}

#ifdef PARSE_HAVE_VSOCK
static int parse_vsock_cid(const char *s, size_t n, unsigned *ret) {
        static const struct {
                const char *name;
                unsigned cid;
        } names[] = { { "hypervisor", VMADDR_CID_HYPERVISOR }, { "local", 1 }, { "host", VMADDR_CID_HOST } };
        char buf[16];
        long long v;

        if (n == 0 || n >= sizeof buf)
                return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = '\0';
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (strcmp(buf, names[i].name) == 0) {
                        *ret = names[i].cid;
                        return 0;
                }
        /* VMADDR_CID_ANY (UINT32_MAX) names no peer: refused, as libsystemd does. */
        if (parse_int_range(buf, 0, UINT32_MAX - 1, &v) < 0)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_notify_vsock(const char *s, struct notify_address *ret) {
        static const struct {
                const char *prefix;
                int type;
        } forms[] = { { "vsock:", 0 }, { "vsock-dgram:", SOCK_DGRAM }, { "vsock-seqpacket:", SOCK_SEQPACKET },
                      { "vsock-stream:", SOCK_STREAM } };
        struct sockaddr_vm *vm = (struct sockaddr_vm *)&ret->ss;
        const char *cid = NULL, *colon;
        unsigned c;
        long long port;
        int type = 0;

        for (size_t i = 0; i < sizeof forms / sizeof forms[0] && !cid; i++)
                if (strncmp(s, forms[i].prefix, strlen(forms[i].prefix)) == 0) {
                        cid = s + strlen(forms[i].prefix);
                        type = forms[i].type;
                }
        if (!cid || !(colon = strchr(cid, ':')))
                return -EINVAL;
        /* VMADDR_PORT_ANY (UINT32_MAX) is no port to send to. */
        if (parse_vsock_cid(cid, (size_t)(colon - cid), &c) < 0 || parse_int_range(colon + 1, 0, UINT32_MAX - 1, &port) < 0)
                return -EINVAL;
        memset(ret, 0, sizeof *ret);
        vm->svm_family = AF_VSOCK;
        vm->svm_cid = c;
        vm->svm_port = (unsigned)port;
        ret->type = type;
        ret->len = sizeof *vm;
        return 0;
}
#endif

int parse_notify_socket(const char *s, struct notify_address *ret) {
        if (!s)
                return -EINVAL;
        if (s[0] == '/' || s[0] == '@')
                return parse_notify_unix(s, ret);
        if (strncmp(s, "vsock", 5) != 0)
                return -EINVAL;
#ifdef PARSE_HAVE_VSOCK
        return parse_notify_vsock(s, ret);
#else
        return -EAFNOSUPPORT;
#endif
}

/* Optimal string alignment distance of a and b, capped: words longer than 64 bytes are never
 * close to anything here. */
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), d[65][65];

        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t i = 0; i <= la; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = a[i - 1] != b[j - 1], best = d[i - 1][j - 1] + cost;
                        if (d[i - 1][j] + 1 < best)
                                best = d[i - 1][j] + 1;
                        if (d[i][j - 1] + 1 < best)
                                best = d[i][j - 1] + 1;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                                best = d[i - 2][j - 2] + 1;
                        d[i][j] = best;
                }
        return d[la][lb];
}

const char *parse_nearest(const char *word, const char *const *candidates, size_t n) {
        size_t len = word ? strlen(word) : 0, limit = len <= 4 ? 1 : len <= 8 ? 2 : 3, best = SIZE_MAX;
        const char *found = NULL;

        if (!word || !*word)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                size_t dist = edit_distance(word, candidates[i]);
                if (dist <= limit && dist < best) {
                        best = dist;
                        found = candidates[i];
                }
        }
        return found;
}

void parse_strv_free(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

/* names split at every ':' (none coalesced: "a::b" is three, "" one empty name), or n times
 * "unknown" without them; NULL on ENOMEM. *ret_count is the number of names. */
static char **split_names(const char *names, int n, int *ret_count) {
        size_t count = names ? 1 : (size_t)n, k = 0;
        char **v;

        for (const char *p = names; p && *p; p++)
                count += *p == ':';
        if (!(v = calloc(count + 1, sizeof *v)))
                return NULL;
        for (const char *p = names; names && k < count; k++) {
                size_t len = strcspn(p, ":");
                if (!(v[k] = strndup(p, len)))
                        goto oom;
                p += len + (p[len] == ':');
        }
        for (; !names && k < count; k++)
                if (!(v[k] = strdup("unknown")))
                        goto oom;
        *ret_count = (int)count;
        return v;
oom:
        parse_strv_free(v);
        return NULL;
}

static int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_listen_env(const struct listen_env *env, pid_t self, uint64_t self_pidfdid) {
        long long pid, n;
        uint64_t pidfdid;
        int r;

        if (!env->pid)
                return 0;
        if ((r = parse_int_range(env->pid, 1, INT32_MAX, &pid)) < 0)
                return r; /* 0 or past an int is out of range, as libsystemd says */
        if (pid != (long long)self)
                return 0;
        /* A pid is reused; a pidfd's inode id never is (pidfs, Linux 6.9), so systemd 256+ also
         * names the process that way. */
        if (env->pidfdid) {
                if (parse_u64(env->pidfdid, &pidfdid) < 0)
                        return -EINVAL;
                if (self_pidfdid && pidfdid != self_pidfdid)
                        return 0;
        }
        if (!env->fds)
                return 0;
        /* As libsystemd: a number beyond an int is out of range, one no int can be as a count
         * (0, negative, past INT_MAX - 3) is invalid. */
        if ((r = parse_int_range(env->fds, INT32_MIN, INT32_MAX, &n)) < 0)
                return r;
        if (n <= 0 || n > INT32_MAX - 3)
                return -EINVAL;
        return (int)n;
}

int parse_listen_fdnames(const char *fdnames, int n, char ***ret_names) {
        char **names;
        int count;

        if (n <= 0)
                return -EINVAL;
        if (!(names = split_names(fdnames, n, &count)))
                return -ENOMEM;
        if (count != n) {
                parse_strv_free(names);
                return -EINVAL;
        }
        *ret_names = names;
        return 0;
}
