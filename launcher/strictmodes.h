/* strictmodes.h: like sshd's StrictModes, refuse to run an agent that someone else could have
 * written: the file and every directory above it must belong to us or to root, and be writable
 * by nobody else. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Checks the absolute path for uid. Returns 0 when safe; otherwise -EPERM with the offending
 * path and what is wrong with it in ret_why (e.g. "/srv/agents is writable by group (mode 0775)",
 * "/srv/a/Agent.py has an ACL that lets uid 1001 write"). "Writable" counts the mode bits and
 * POSIX ACLs (a named user or group, or the file's group, with write the mask lets through); a
 * group write is fine when the group is uid's private group. */
int strictmodes_check(const char *path, uid_t uid, char *ret_why, size_t size);
/* For a directory whose entries matter (one on sys.path, or one pylaunchd creates files in):
 * nobody but uid or root may create, rename or remove entries in it. It must belong to uid or
 * root and be writable by nobody else (mode bits and ACLs); with allow_sticky, a root-owned
 * sticky directory (/tmp) is accepted too, for callers that only ever create a new name there
 * and never follow or reuse one (bind(), mkfifo()). Every directory above it is checked as
 * strictmodes_check() checks them. Returns 0, -EPERM with the reason in ret_why, or -errno
 * (-ENOENT when it does not exist, -ENOTDIR when it is no directory). */
int strictmodes_check_dir(const char *dir, uid_t uid, bool allow_sticky, char *ret_why, size_t size);
/* For a file already open (a FIFO pylaunchd was given by path): fd's file must belong to uid or
 * root and be writable by nobody else, as above (no directory is looked at); name is the path
 * the reason names. Returns 0, -EPERM with the reason in ret_why, or -errno. */
int strictmodes_check_fd(int fd, const char *name, uid_t uid, char *ret_why, size_t size);
