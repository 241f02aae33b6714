/* strictmodes.c: whoever can write the agent, or a directory on its path, can run code as the
 * agent's user; so, as sshd does for authorized_keys, pylaunchd refuses such an agent. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "strictmodes.h"

__attribute__((format(printf, 4, 5))) static int why(char *ret, size_t size, const char *path, const char *fmt,
                                                      ...) {
        char what[128];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(ret, size, "%s %s", path, what);
        return -EPERM;
}

/* A user private group (the user's own, with no other members, as Debian and Ubuntu make them)
 * writing is the user writing: with umask 002 every directory is group-writable. */
static bool private_group(gid_t gid, uid_t uid) {
        struct passwd pw, *pwr = NULL;
        struct group gr, *grr = NULL;
        char pbuf[4096], gbuf[8192];

        if (getpwuid_r(uid, &pw, pbuf, sizeof pbuf, &pwr) != 0 || !pwr || pw.pw_gid != gid)
                return false;
        if (getgrgid_r(gid, &gr, gbuf, sizeof gbuf, &grr) != 0 || !grr)
                return false;
        for (char **m = gr.gr_mem; *m; m++)
                if (strcmp(*m, pw.pw_name) != 0)
                        return false;
        return strcmp(gr.gr_name, pw.pw_name) == 0;
}

static int check_one(const char *path, uid_t uid, bool is_dir, char *ret, size_t size) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (st.st_uid != uid && st.st_uid != 0)
                return why(ret, size, path, "belongs to uid %lu, not to us or root", (unsigned long)st.st_uid);
        /* A root-owned sticky directory (/tmp) is safe to pass through: nobody else may rename or
         * replace what we own inside it. */
        if (is_dir && st.st_uid == 0 && (st.st_mode & S_ISVTX))
                return 0;
        if (st.st_mode & S_IWOTH)
                return why(ret, size, path, "is writable by everyone (mode %04lo)", (unsigned long)(st.st_mode & 07777));
        if ((st.st_mode & S_IWGRP) && !private_group(st.st_gid, uid))
                return why(ret, size, path, "is writable by its group (mode %04lo)", (unsigned long)(st.st_mode & 07777));
        return 0;
}

int strictmodes_check(const char *path, uid_t uid, char *ret_why, size_t size) {
        char buf[PATH_MAX];
        char *slash;
        int r;

        if (strlen(path) >= sizeof buf || path[0] != '/')
                return -EINVAL;
        strcpy(buf, path);
        if ((r = check_one(buf, uid, false, ret_why, size)) < 0)
                return r;
        /* Then each directory up to /, the last one included. */
        while ((slash = strrchr(buf, '/'))) {
                if (slash == buf) {
                        buf[1] = '\0';
                        return check_one(buf, uid, true, ret_why, size);
                }
                *slash = '\0';
                if ((r = check_one(buf, uid, true, ret_why, size)) < 0)
                        return r;
        }
        return 0;
}
