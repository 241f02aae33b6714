/* systemd_real.c: the production side of the seam on Linux. Both protocols are spoken in-tree
 * (sdlisten.c, sdnotify.c); -DPYLAUNCHD_LIBSYSTEMD=ON takes the fds from libsystemd instead. */
#include "activation.h"
#include "sdnotify.h"

#ifdef PYLAUNCHD_USE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#define LISTEN_FDS_WITH_NAMES sd_listen_fds_with_names
#else
#include "sdlisten.h"
#define LISTEN_FDS_WITH_NAMES sdlisten_fds_with_names
#endif

const struct activation_ops activation_ops_real = {
        .listen_fds_with_names = LISTEN_FDS_WITH_NAMES,
        .notify = sdnotify_send,
};
