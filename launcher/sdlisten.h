/* sdlisten.h: sd_listen_fds_with_names(3), in-tree. */
#pragma once
#include <stdint.h>

/* As libsystemd's: the number of fds passed from 3 on (0: none for this process), close-on-exec
 * set on each, *ret_names their names (free with parse_strv_free); with unset_environment,
 * LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS and LISTEN_FDNAMES are gone after, whatever the result.
 * A negative errno for a malformed environment or an fd that is not open. */
int sdlisten_fds_with_names(int unset_environment, char ***ret_names);
/* This process's pidfd inode id (pidfs, Linux 6.9+), or 0 where the kernel has none. */
uint64_t sdlisten_self_pidfdid(void);
