/* strictmodes.c: whoever can write the agent, or a directory on its path, can run code as the
 * agent's user; so, as sshd does for authorized_keys, pylaunchd refuses such an agent. The same
 * rule guards the directories pylaunchd creates its own files in (safefile.c). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/xattr.h>
#endif
#ifdef __APPLE__
#include <sys/acl.h>
#endif

#include "acl.h"
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

/* The file whose ACL is read: by path (following links, as stat() does) or by an open fd. */
struct target {
        const char *path; /* for the reason, and for reading when fd < 0 */
        int fd;
};

#ifdef __linux__
/* Linux keeps the access ACL in an xattr (acl.h). Returns 1 with an ACL in buf, 0 without one
 * (or on a filesystem without ACLs), -errno. */
static int read_acl(const struct target *t, unsigned char *buf, size_t size, size_t *ret_len) {
        ssize_t n = t->fd >= 0 ? fgetxattr(t->fd, ACL_XATTR_NAME, buf, size)
                               : getxattr(t->path, ACL_XATTR_NAME, buf, size);

        if (n < 0)
                return errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP ? 0 : -errno;
        *ret_len = (size_t)n;
        return 1;
}

/* With an ACL, the group mode bits show the mask, not the group's own permission: the ACL
 * decides for the file's group and for every named user and group. Returns 1 when it has
 * decided (0 = safe, or -EPERM through *ret_r), 0 when there is no ACL. */
static int check_acl(const struct target *t, const struct stat *st, uid_t uid, char *ret, size_t size, int *ret_r) {
        /* 8 KiB holds over 1000 entries; ext4 and tmpfs store far fewer. */
        unsigned char buf[8192];
        struct acl_xattr_writer w;
        size_t len = 0, cursor = 0;
        int r = read_acl(t, buf, sizeof buf, &len);

        if (r == -ERANGE) {
                *ret_r = why(ret, size, t->path, "has an ACL too large to check");
                return 1;
        }
        if (r <= 0) {
                *ret_r = r;
                return r < 0;
        }
        while ((r = acl_xattr_next_writer(buf, len, &cursor, &w)) > 0) {
                if (w.tag == ACL_XATTR_USER && w.id != uid && w.id != 0) {
                        *ret_r = why(ret, size, t->path, "has an ACL that lets uid %lu write", (unsigned long)w.id);
                        return 1;
                }
                if (w.tag != ACL_XATTR_USER) {
                        gid_t gid = w.tag == ACL_XATTR_GROUP_OBJ ? st->st_gid : (gid_t)w.id;
                        if (!private_group(gid, uid)) {
                                *ret_r = why(ret, size, t->path, "has an ACL that lets group %lu write",
                                             (unsigned long)gid);
                                return 1;
                        }
                }
        }
        *ret_r = r < 0 ? why(ret, size, t->path, "has an ACL pylaunchd cannot read") : 0;
        return 1;
}
#elif defined(__APPLE__)
/* macOS ACLs are not POSIX ones: entries allow or deny rights to a user or group named by UUID,
 * and the mode bits do not show them. Conservatively, an entry that allows anyone to write the
 * file or change the directory's entries is refused, even one naming us (mapping its UUID to a
 * uid is left out on purpose); `chmod -N PATH` removes an ACL. */
static int check_acl(const struct target *t, const struct stat *st, uid_t uid, char *ret, size_t size, int *ret_r) {
        static const acl_perm_t writes[] = { ACL_WRITE_DATA, ACL_APPEND_DATA, ACL_ADD_FILE, ACL_ADD_SUBDIRECTORY,
                                             ACL_DELETE_CHILD };
        acl_t acl = t->fd >= 0 ? acl_get_fd_np(t->fd, ACL_TYPE_EXTENDED) : acl_get_link_np(t->path, ACL_TYPE_EXTENDED);
        acl_entry_t e;
        int id = ACL_FIRST_ENTRY;

        (void)st, (void)uid;
        *ret_r = 0;
        if (!acl)
                return 0; /* none (ENOENT), or a filesystem without them */
        while (*ret_r == 0 && acl_get_entry(acl, id, &e) == 0) {
                acl_tag_t tag;
                acl_permset_t perms;

                id = ACL_NEXT_ENTRY;
                if (acl_get_tag_type(e, &tag) < 0 || acl_get_permset(e, &perms) < 0) {
                        *ret_r = why(ret, size, t->path, "has an ACL pylaunchd cannot read");
                        break;
                }
                if (tag != ACL_EXTENDED_ALLOW)
                        continue;
                for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
                        if (acl_get_perm_np(perms, writes[i]) != 0) {
                                *ret_r = why(ret, size, t->path, "has an ACL that lets others write (ls -le)");
                                break;
                        }
        }
        acl_free(acl);
        return 0; /* the mode's group bits still decide for the group */
}
#else
static int check_acl(const struct target *t, const struct stat *st, uid_t uid, char *ret, size_t size, int *ret_r) {
        (void)t, (void)st, (void)uid, (void)ret, (void)size;
        *ret_r = 0;
        return 0;
}
#endif

/* The rule for one file or directory, given its stat: owned by uid or root, and writable by
 * nobody else, by the mode bits or an ACL. sticky_ok: a root-owned sticky directory passes. */
static int check_stat(const struct target *t, const struct stat *st, uid_t uid, bool sticky_ok, char *ret,
                      size_t size) {
        int r = 0;

        if (st->st_uid != uid && st->st_uid != 0)
                return why(ret, size, t->path, "belongs to uid %lu, not to us or root", (unsigned long)st->st_uid);
        /* A root-owned sticky directory (/tmp) is safe to pass through: nobody else may rename or
         * replace what we own inside it. */
        if (sticky_ok && S_ISDIR(st->st_mode) && st->st_uid == 0 && (st->st_mode & S_ISVTX))
                return 0;
        if (st->st_mode & S_IWOTH)
                return why(ret, size, t->path, "is writable by everyone (mode %04lo)",
                           (unsigned long)(st->st_mode & 07777));
        if (check_acl(t, st, uid, ret, size, &r) || r < 0)
                return r;
        if ((st->st_mode & S_IWGRP) && !private_group(st->st_gid, uid))
                return why(ret, size, t->path, "is writable by its group (mode %04lo)",
                           (unsigned long)(st->st_mode & 07777));
        return 0;
}

static int check_one(const char *path, uid_t uid, bool sticky_ok, char *ret, size_t size) {
        const struct target t = { .path = path, .fd = -1 };
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        return check_stat(&t, &st, uid, sticky_ok, ret, size);
}

/* Each directory above the absolute path in buf (which it shortens), up to / included. */
static int check_above(char *buf, uid_t uid, char *ret_why, size_t size) {
        char *slash;
        int r;

        while ((slash = strrchr(buf, '/'))) {
                if (slash == buf) {
                        if (buf[1] == '\0')
                                return 0; /* buf was "/" itself */
                        buf[1] = '\0';
                        return check_one(buf, uid, true, ret_why, size);
                }
                *slash = '\0';
                if ((r = check_one(buf, uid, true, ret_why, size)) < 0)
                        return r;
        }
        return 0;
}

int strictmodes_check(const char *path, uid_t uid, char *ret_why, size_t size) {
        char buf[PATH_MAX];
        int r;

        if (strlen(path) >= sizeof buf || path[0] != '/')
                return -EINVAL;
        strcpy(buf, path);
        if ((r = check_one(buf, uid, false, ret_why, size)) < 0)
                return r;
        return check_above(buf, uid, ret_why, size);
}

int strictmodes_check_dir(const char *dir, uid_t uid, bool allow_sticky, char *ret_why, size_t size) {
        char buf[PATH_MAX];
        struct stat st;
        int r;

        if (strlen(dir) >= sizeof buf || dir[0] != '/')
                return -EINVAL;
        strcpy(buf, dir);
        if (stat(buf, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if ((r = check_one(buf, uid, allow_sticky, ret_why, size)) < 0)
                return r;
        return check_above(buf, uid, ret_why, size);
}

int strictmodes_check_fd(int fd, const char *name, uid_t uid, char *ret_why, size_t size) {
        const struct target t = { .path = name, .fd = fd };
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        return check_stat(&t, &st, uid, false, ret_why, size);
}
