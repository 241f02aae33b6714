/* safefile.h: the files pylaunchd creates or opens by a path it was given (--pidfile, --log,
 * --listen unix: and fifo:, the crash guard's counts): never through a link someone planted,
 * never a file someone else made, never in a directory someone else can write. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* "Ours": a file of uid's or root's. uid is the effective uid, or, when root starts a daemon
 * that becomes another user (--user USER), that user's (see safefile_owner). Every function
 * here returns 0 (or a count) on success, -EPERM with what is wrong and its fix in ret_why
 * when the path is unsafe (exit 77), or another -errno (nothing written to ret_why). */

/* The uid whose files count as ours: user's when we run as root and user is given (the daemon
 * ends up as user), else the effective uid. An unknown user gives the effective uid: whoever
 * drops privileges reports it. */
uid_t safefile_owner(const char *user);

/* Checks the directory that holds path's last component (path may be relative): every
 * symbolic link on the way to it must be uid's or root's, in a directory that passes
 * strictmodes_check_dir(sticky allowed), since its owner chooses where it leads; and the
 * directory it resolves to must pass strictmodes_check_dir(allow_sticky). allow_sticky is
 * for bind() and mkfifo(), which only ever create a new name: a regular file may already be
 * there, as a link, so its directory must be one nobody else can write at all. */
int safefile_check_parent(const char *path, uid_t uid, bool allow_sticky, char *ret_why, size_t why_size);

/* Opens the regular file path, creating it with mode when missing; flags as open(2)'s, to
 * which O_NOFOLLOW, O_NONBLOCK (a FIFO put there cannot block us) and O_CLOEXEC are added.
 * The directory must pass safefile_check_parent(allow_sticky false); it is opened, checked to
 * be the directory checked, and the file opened in it. On the open fd: a regular file, uid's
 * or root's, with one link (a hard link would write another file too), writable by nobody
 * else. O_TRUNC, if asked, is done only after those checks; O_NONBLOCK is cleared again.
 * Returns 0 and the fd in *ret_fd. */
int safefile_open_regular(const char *path, int flags, mode_t mode, uid_t uid, int *ret_fd, char *ret_why,
                          size_t why_size);

/* A FIFO at path, made 0600 (less the umask) when missing, opened O_RDWR | O_NONBLOCK |
 * O_CLOEXEC without following a link. The directory must pass safefile_check_parent(allow_sticky
 * true). On the open fd: a FIFO, uid's or root's, with one link, writable by nobody else (mode
 * bits or ACL). Returns 0 and the fd in *ret_fd; -EEXIST (logged by nobody, ret_why unset) when
 * path is something other than a FIFO or a link. */
int safefile_open_fifo(const char *path, uid_t uid, int *ret_fd, char *ret_why, size_t why_size);

/* Before bind(path): its directory must pass safefile_check_parent(allow_sticky true), and what
 * is at path now decides: nothing, 0; a socket of uid's or root's, 1 (the caller tells a stale
 * one, safe to remove, from a live one); something that is not a socket, -EEXIST; a link or
 * someone else's socket, -EPERM. */
int safefile_check_socket_path(const char *path, uid_t uid, char *ret_why, size_t why_size);

/* While still root, before becoming uid: gives uid:gid (-1: unchanged) the socket file that
 * bind() made at path, as lstat() saw it then (dev, ino). Only that file, a socket of root's
 * with one link, is changed: a link or another file put there since, by whoever can write the
 * directory (uid, when it is uid's), is refused with -EPERM and left alone. */
int safefile_chown_socket(const char *path, dev_t dev, ino_t ino, uid_t uid, gid_t gid);
