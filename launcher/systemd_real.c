/* systemd_real.c: the production side of the seam on Linux, libsystemd's sd-daemon calls. */
#include <systemd/sd-daemon.h>

#include "activation.h"

const struct activation_ops activation_ops_real = {
        .listen_fds_with_names = sd_listen_fds_with_names,
        .notify = sd_notify,
};
