/* main.c: glue. Parse the command line, check in, start Python, serve, exit with one code. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "activation.h"
#include "exitcode.h"
#include "interp.h"
#include "log.h"
#include "module.h"
#include "options.h"
#include "serve.h"
#include "signals.h"

#define STOP_GRACE_USEC (10ULL * 1000000)

/* fds 0-2 must exist, or the first socket we open becomes "stderr" and a log line goes to a client. */
static void ensure_std_fds(void) {
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0) {
                        int null = open("/dev/null", O_RDWR);
                        if (null >= 0 && null != fd) {
                                dup2(null, fd);
                                close(null);
                        }
                }
}

int main(int argc, char **argv) {
        struct options opts;
        struct listener_set set = {};
        struct agent agent;
        bool abandoned = false;
        int r, code;

        ensure_std_fds();
        log_init("pylaunchd");
        r = options_parse(argc, argv, &opts);
        if (r < 0)
                return EXIT_USAGE;
        if (r != OPTIONS_RUN)
                return EXIT_OK;
        code = agent_locate(opts.agent, &agent);
        if (code != EXIT_OK)
                return code;
        r = signals_init();
        if (r < 0) {
                log_errno(LOG_LEVEL_ERR, r, "cannot set up signal handling");
                return EXIT_OS;
        }
        /* Check in before Python starts: nothing in the interpreter may see or inherit the
         * activation environment, and a bad socket costs no interpreter start-up. */
        code = activation_checkin(&opts, &activation_ops_real, &set);
        if (code != EXIT_OK)
                goto finish;
        module_set_origin(set.origin);
        code = interp_start(&opts, &agent);
        if (code != EXIT_OK)
                goto finish;
        code = interp_load_agent(&agent);
        if (code == EXIT_OK) {
                struct serve_config cfg = { .max_connections = opts.max_connections,
                                            .stop_grace_usec = STOP_GRACE_USEC,
                                            .verbose = opts.verbose };
                code = serve_run(&set, &agent, &cfg, &abandoned);
        }
        if (abandoned) {
                /* Handlers still hold Python thread states: finalizing would wait on or pull the
                 * interpreter from under them. Flush what was printed and leave. */
                interp_flush();
                listener_set_free(&set);
                _exit(code);
        }
        interp_finish(&agent);
finish:
        listener_set_free(&set);
        return code;
}
