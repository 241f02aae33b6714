/* systemd_real.c: the production side of the seam on Linux: libsystemd's
 * sd_listen_fds_with_names, and the notify protocol spoken in-tree (sdnotify.c). */
#include <systemd/sd-daemon.h>

#include "activation.h"
#include "sdnotify.h"

const struct activation_ops activation_ops_real = {
        .listen_fds_with_names = sd_listen_fds_with_names,
        .notify = sdnotify_send,
};
