/* safefile.c: the files pylaunchd creates or opens by a path it was given, opened so that
 * another local user cannot redirect them: a directory is trusted only when nobody else can
 * change its entries (strictmodes.c decides), the last component is opened relative to that
 * directory's fd without following a link, and what was opened is checked on the fd, so there
 * is no window between the check and the use. The kernel's protected_symlinks and friends
 * would stop some of this, but pylaunchd must be safe where they are off. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefile.h"
#include "strictmodes.h"

__attribute__((format(printf, 3, 4))) static int unsafe(char *ret, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(ret, size, fmt, ap);
        va_end(ap);
        return -EPERM;
}

uid_t safefile_owner(const char *user) {
        struct passwd pw, *pwr = NULL;
        char buf[4096];

        if (geteuid() == 0 && user && getpwnam_r(user, &pw, buf, sizeof buf, &pwr) == 0 && pwr)
                return pw.pw_uid;
        return geteuid();
}

static bool ours(uid_t owner, uid_t uid) {
        return owner == uid || owner == 0;
}

static const char *kind(mode_t mode) {
        if (S_ISDIR(mode))
                return "a directory";
        if (S_ISFIFO(mode))
                return "a FIFO";
        if (S_ISSOCK(mode))
                return "a socket";
        if (S_ISCHR(mode) || S_ISBLK(mode))
                return "a device";
        if (S_ISLNK(mode))
                return "a symbolic link";
        return S_ISREG(mode) ? "a regular file" : "an unknown kind of file";
}

/* path's directory part into dir ("." when there is none) and its last component. */
static int split(const char *path, char *dir, size_t size, const char **ret_name) {
        const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
        size_t n = slash ? (size_t)(slash - path) : 0;

        if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return -EISDIR;
        if (n + 2 > size)
                return -ENAMETOOLONG;
        if (!slash)
                strcpy(dir, ".");
        else if (n == 0)
                strcpy(dir, "/");
        else {
                memcpy(dir, path, n);
                dir[n] = '\0';
        }
        *ret_name = name;
        return 0;
}

/* A symbolic link on the way to the directory: its owner decides where it leads, and whoever
 * can write the directory holding it can replace it. So it must be ours, in a directory that
 * only we (or root) can change, or root's sticky one. */
static int check_link(const char *link, const struct stat *st, uid_t uid, char *why, size_t size) {
        char holder[PATH_MAX], resolved[PATH_MAX], reason[PATH_MAX + 128];
        char *slash;
        int r;

        if (!ours(st->st_uid, uid))
                return unsafe(why, size,
                              "%s is a symbolic link of uid %lu's, who chooses where it leads: give the directory it "
                              "points to, if you trust it",
                              link, (unsigned long)st->st_uid);
        snprintf(holder, sizeof holder, "%s", link);
        slash = strrchr(holder, '/');
        slash[slash == holder ? 1 : 0] = '\0';
        if (!realpath(holder, resolved))
                return -errno;
        r = strictmodes_check_dir(resolved, uid, true, reason, sizeof reason);
        if (r == -EPERM)
                return unsafe(why, size, "%s, so another user could replace the symbolic link %s in it: give the "
                              "directory it points to", reason, link);
        return r;
}

/* Each prefix of the absolute form of dir that is a symbolic link passes check_link. */
static int check_links(const char *dir, uid_t uid, char *why, size_t size) {
        char abs[PATH_MAX];
        struct stat st;
        int r;

        if (dir[0] == '/')
                r = snprintf(abs, sizeof abs, "%s", dir);
        else {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof cwd))
                        return -errno;
                r = snprintf(abs, sizeof abs, "%s/%s", cwd, dir);
        }
        if (r < 0 || (size_t)r >= sizeof abs)
                return -ENAMETOOLONG;
        for (char *p = abs + 1;; p++) {
                char c = *p;

                if (c != '/' && c != '\0')
                        continue;
                if (p[-1] != '/') {
                        *p = '\0';
                        if (lstat(abs, &st) < 0)
                                return -errno;
                        if (S_ISLNK(st.st_mode) && (r = check_link(abs, &st, uid, why, size)) < 0)
                                return r;
                        *p = c;
                }
                if (c == '\0')
                        return 0;
        }
}

/* The directory part of path, checked; its resolved form in resolved (PATH_MAX). */
static int check_dir_part(const char *path, uid_t uid, bool allow_sticky, char *resolved, const char **ret_name,
                          char *why, size_t size) {
        char dir[PATH_MAX], reason[PATH_MAX + 128];
        int r;

        if ((r = split(path, dir, sizeof dir, ret_name)) < 0)
                return r;
        if ((r = check_links(dir, uid, why, size)) < 0)
                return r;
        /* Links resolved (/var/run is /run), so each real directory above is the one checked. */
        if (!realpath(dir, resolved))
                return -errno;
        r = strictmodes_check_dir(resolved, uid, allow_sticky, reason, sizeof reason);
        if (r != -EPERM)
                return r;
        if (allow_sticky)
                return unsafe(why, size,
                              "%s, so another user could put a file of theirs at that name: use a directory only you "
                              "can write, such as $XDG_RUNTIME_DIR, or a root-owned sticky one such as /tmp",
                              reason);
        return unsafe(why, size,
                      "%s, so another user could put a link to another file at that name: use /run/NAME/ or "
                      "another directory only you (or root) can write",
                      reason);
}

int safefile_check_parent(const char *path, uid_t uid, bool allow_sticky, char *ret_why, size_t why_size) {
        char resolved[PATH_MAX];
        const char *name;

        return check_dir_part(path, uid, allow_sticky, resolved, &name, ret_why, why_size);
}

/* check_dir_part, then the directory opened and shown to be the one checked. */
static int open_dir_part(const char *path, uid_t uid, bool allow_sticky, int *ret_dirfd, const char **ret_name,
                         char *why, size_t size) {
        char resolved[PATH_MAX];
        struct stat fd_st, path_st;
        int r, fd;

        if ((r = check_dir_part(path, uid, allow_sticky, resolved, ret_name, why, size)) < 0)
                return r;
        fd = open(resolved, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &fd_st) < 0 || stat(resolved, &path_st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        /* Only root or uid can change those directories: this fails only if one of them just did. */
        if (fd_st.st_dev != path_st.st_dev || fd_st.st_ino != path_st.st_ino) {
                close(fd);
                return unsafe(why, size, "%s changed while pylaunchd checked it; try again", resolved);
        }
        *ret_dirfd = fd;
        return 0;
}

/* Before opening: a link or a file of the wrong kind is refused by name, with a clear reason,
 * and never opened (opening a device can have effects). Returns 1 when nothing is there. */
static int precheck(int dirfd, const char *name, const char *path, mode_t want, char *why, size_t size) {
        struct stat st;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 1 : -errno;
        if (S_ISLNK(st.st_mode))
                return unsafe(why, size,
                              "%s is a symbolic link, which pylaunchd does not follow here: remove it, or give the "
                              "path it points to",
                              path);
        if ((st.st_mode & S_IFMT) != want)
                return want == S_IFIFO ? -EEXIST
                                       : unsafe(why, size, "%s is %s, not a regular file: remove it or choose another path",
                                                path, kind(st.st_mode));
        return 0;
}

/* What was opened, on its fd: of the kind wanted, ours, one link, writable by nobody else. */
static int check_opened(int fd, const char *path, mode_t want, uid_t uid, char *why, size_t size) {
        char reason[PATH_MAX + 128];
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if ((st.st_mode & S_IFMT) != want)
                return unsafe(why, size, "%s is %s, not %s: remove it or choose another path", path, kind(st.st_mode),
                              kind(want));
        if (!ours(st.st_uid, uid))
                return unsafe(why, size, "%s belongs to uid %lu, not to us or root: remove it or choose another path",
                              path, (unsigned long)st.st_uid);
        if (st.st_nlink != 1)
                return unsafe(why, size,
                              "%s has %lu hard links, so writing it would change another file too: remove it or "
                              "choose another path",
                              path, (unsigned long)st.st_nlink);
        r = strictmodes_check_fd(fd, path, uid, reason, sizeof reason);
        if (r == -EPERM)
                return unsafe(why, size, "%s, so someone else could write what pylaunchd reads there: chmod go-w it, "
                              "or remove it", reason);
        return r;
}

/* Opens name in dirfd with flags (never following a link), and checks what was opened on its fd
 * (check_opened). A link there is reported as precheck() reports it. Returns the fd or -errno. */
static int open_checked(int dirfd, const char *name, const char *path, int flags, mode_t mode, mode_t want, uid_t uid,
                        char *why, size_t size) {
        int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode), r;

        if (fd < 0) {
                r = errno == ELOOP ? precheck(dirfd, name, path, want, why, size) : -errno;
                return r < 0 ? r : -ELOOP;
        }
        if ((r = check_opened(fd, path, want, uid, why, size)) < 0) {
                close(fd);
                return r;
        }
        return fd;
}

int safefile_open_regular(const char *path, int flags, mode_t mode, uid_t uid, int *ret_fd, char *ret_why,
                          size_t why_size) {
        const char *name;
        int dirfd, fd = -1, r;

        if ((r = open_dir_part(path, uid, false, &dirfd, &name, ret_why, why_size)) < 0)
                return r;
        if ((r = precheck(dirfd, name, path, S_IFREG, ret_why, why_size)) < 0)
                goto finish;
        /* O_TRUNC would act before the checks: it waits for them. */
        if ((r = fd = open_checked(dirfd, name, path, flags & ~O_TRUNC, mode, S_IFREG, uid, ret_why, why_size)) < 0)
                goto finish;
        if (((flags & O_TRUNC) && ftruncate(fd, 0) < 0) || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
                r = -errno;
                goto finish;
        }
        *ret_fd = fd;
        fd = -1;
        r = 0;
finish:
        if (fd >= 0)
                close(fd);
        close(dirfd);
        return r;
}

/* mkfifoat() makes a new name or fails: it never follows or reuses one. macOS has it from 13 on
 * (its SDK marks it so); before that, mkfifo() on the whole path, which never follows a last
 * component that is a link either (EEXIST), and what it made is used only if open_checked() then
 * finds it in the directory already checked, through dirfd. */
static int make_fifo(int dirfd, const char *name, const char *path) {
#ifdef __APPLE__
#ifdef __MAC_13_0 /* an SDK that declares mkfifoat */
        if (__builtin_available(macOS 13.0, *))
                return mkfifoat(dirfd, name, 0600);
#endif
        (void)dirfd, (void)name;
        return mkfifo(path, 0600);
#else
        (void)path;
        return mkfifoat(dirfd, name, 0600);
#endif
}

int safefile_open_fifo(const char *path, uid_t uid, int *ret_fd, char *ret_why, size_t why_size) {
        const char *name;
        int dirfd, r;

        if ((r = open_dir_part(path, uid, true, &dirfd, &name, ret_why, why_size)) < 0)
                return r;
        if ((r = precheck(dirfd, name, path, S_IFIFO, ret_why, why_size)) < 0)
                goto finish;
        if (r == 1 && make_fifo(dirfd, name, path) < 0 && errno != EEXIST) {
                r = -errno;
                goto finish;
        }
        /* O_RDWR: a FIFO opened so never reads end-of-file when the last writer goes. */
        if ((r = open_checked(dirfd, name, path, O_RDWR, 0, S_IFIFO, uid, ret_why, why_size)) >= 0) {
                *ret_fd = r;
                r = 0;
        }
finish:
        close(dirfd);
        return r;
}

int safefile_check_socket_path(const char *path, uid_t uid, char *ret_why, size_t why_size) {
        struct stat st;
        int r;

        if ((r = safefile_check_parent(path, uid, true, ret_why, why_size)) < 0)
                return r;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISLNK(st.st_mode))
                return unsafe(ret_why, why_size,
                              "%s is a symbolic link; pylaunchd binds only a name of its own: remove it or choose "
                              "another path",
                              path);
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        /* In a directory others cannot change (checked above), this socket stays what we saw. */
        if (!ours(st.st_uid, uid))
                return unsafe(ret_why, why_size,
                              "%s is a socket of uid %lu's; pylaunchd removes only a stale socket of its own: ask "
                              "them to remove it, or choose another path",
                              path, (unsigned long)st.st_uid);
        return 1;
}

#ifdef O_PATH
int safefile_chown_socket(const char *path, dev_t dev, ino_t ino, uid_t uid, gid_t gid) {
        struct stat st;
        int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        /* The fd pins the file checked, so the chown cannot land on another one. */
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (!S_ISSOCK(st.st_mode) || st.st_uid != 0 || st.st_nlink != 1 || st.st_dev != dev || st.st_ino != ino)
                r = -EPERM;
        else
                r = fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 ? -errno : 0;
        close(fd);
        return r;
}
#else
/* Without O_PATH (macOS) a socket file cannot be opened: a check, then lchown(), which never
 * follows a link. Only uid (the --user) could swap the file in between, in its own directory;
 * a deliberate shortcut where no daemon runs as root with --user (launchd does that itself). */
int safefile_chown_socket(const char *path, dev_t dev, ino_t ino, uid_t uid, gid_t gid) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode) || st.st_uid != 0 || st.st_nlink != 1 || st.st_dev != dev || st.st_ino != ino)
                return -EPERM;
        return lchown(path, uid, gid) < 0 ? -errno : 0;
}
#endif
