/* fuzz_listen_env.c: parse_listen_env and parse_listen_fdnames, the socket-activation
 * environment, on arbitrary text. The input is up to four lines, LISTEN_PID, LISTEN_PIDFDID,
 * LISTEN_FDS, LISTEN_FDNAMES (a line "-" or a missing one: unset); this process is pid 4242 with
 * pidfd id 77. Properties: the result is 0, -EINVAL, -ERANGE or the count LISTEN_FDS says, never a count
 * unless the pid and id are ours, and always one when they are and the count is well formed; the
 * names are exactly that many and join with ':' back into LISTEN_FDNAMES (or are all "unknown"),
 * or are an error that hands out nothing. Names are asked for counts up to 4096, as sdlisten.c
 * asks only once that many fds are open. */
#include <errno.h>

#include "fuzz.h"

#define SELF_PID 4242
#define SELF_PIDFDID 77

/* Plain decimal, digits only, at most max; -1 otherwise. */
static long long reference_decimal(const char *s, long long max) {
        long long v = 0;

        if (!s || !*s)
                return -1;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
                        return -1;
                v = v * 10 + (*s - '0');
        }
        return v;
}

static void check_names(char **names, int n, const char *fdnames) {
        size_t used = 0, len = fdnames ? strlen(fdnames) : 0;

        for (int i = 0; i < n; i++) {
                FUZZ_CHECK(names[i] != NULL, "name %d of %d missing", i, n);
                if (!fdnames) {
                        FUZZ_CHECK(!strcmp(names[i], "unknown"), "name %d is '%s' without LISTEN_FDNAMES", i, names[i]);
                        continue;
                }
                FUZZ_CHECK(!strchr(names[i], ':'), "name %d holds a ':'", i);
                FUZZ_CHECK(used + strlen(names[i]) <= len && !memcmp(fdnames + used, names[i], strlen(names[i])),
                           "name %d is not the next part of LISTEN_FDNAMES", i);
                used += strlen(names[i]);
                FUZZ_CHECK(i == n - 1 ? used == len : fdnames[used] == ':', "names do not join back at %d", i);
                used++;
        }
        FUZZ_CHECK(names[n] == NULL, "the names are not NULL-ended");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_cstr(data, size), *field[4] = {}, *p, **names = NULL;
        struct listen_env env;
        long long pid, id, fds;
        int r, n_names;

        if (!s)
                return 0;
        p = s;
        for (int i = 0; i < 4 && p; i++) {
                field[i] = p;
                if ((p = strchr(p, '\n')))
                        *p++ = '\0';
                if (!strcmp(field[i], "-"))
                        field[i] = NULL;
        }
        env = (struct listen_env){ .pid = field[0], .pidfdid = field[1], .fds = field[2], .fdnames = field[3] };
        r = parse_listen_env(&env, SELF_PID, SELF_PIDFDID);
        pid = reference_decimal(env.pid, INT32_MAX);
        id = reference_decimal(env.pidfdid, INT64_MAX);
        fds = reference_decimal(env.fds, INT32_MAX - 3);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE || r > 0, "unexpected return %d", r);
        if (r > 0) {
                FUZZ_CHECK(pid == SELF_PID, "a count for pid line '%s'", env.pid);
                FUZZ_CHECK(!env.pidfdid || id == SELF_PIDFDID, "a count for id line '%s'", env.pidfdid);
                FUZZ_CHECK(r == fds, "count %d for LISTEN_FDS '%s'", r, env.fds);
        }
        if (pid == SELF_PID && (!env.pidfdid || id == SELF_PIDFDID) && fds > 0)
                FUZZ_CHECK(r == fds, "ours and well formed, yet %d", r);
        /* Not ours: 0, however malformed the rest. */
        if (!env.pid || (pid > 0 && pid != SELF_PID) || (pid == SELF_PID && id >= 0 && id != SELF_PIDFDID))
                FUZZ_CHECK(r == 0, "not ours, yet %d", r);
        if (r > 0 && r <= 4096) {
                size_t colons = 0;

                for (const char *c = env.fdnames; c && *c; c++)
                        colons += *c == ':';
                n_names = parse_listen_fdnames(env.fdnames, r, &names);
                FUZZ_CHECK(n_names == 0 || n_names == -EINVAL, "unexpected names result %d", n_names);
                FUZZ_CHECK((n_names == 0) == (!env.fdnames || colons + 1 == (size_t)r),
                           "names result %d for %zu colons and count %d", n_names, colons, r);
                if (n_names == 0)
                        check_names(names, r, env.fdnames);
                else
                        FUZZ_CHECK(names == NULL, "a failure handed out names");
                parse_strv_free(names);
        }
        free(s);
        return 0;
}
