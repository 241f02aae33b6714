/* launchd_apple.c: the production side of the seam on macOS, the real launch_activate_socket. */
#include <launch.h>

#include "activation.h"

static int real_activate_socket(const char *name, int **ret_fds, size_t *ret_count) {
        return launch_activate_socket(name, ret_fds, ret_count);
}

const struct activation_ops activation_ops_real = {
        .activate_socket = real_activate_socket,
};
