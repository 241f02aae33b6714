/* strictmodes.h: like sshd's StrictModes, refuse to run an agent that someone else could have
 * written: the file and every directory above it must belong to us or to root, and be writable
 * by nobody else. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/* Checks the absolute path for uid. Returns 0 when safe; otherwise -EPERM with the offending
 * path and what is wrong with it in ret_why (e.g. "/srv/agents is writable by group (mode 0775)"). */
int strictmodes_check(const char *path, uid_t uid, char *ret_why, size_t size);
