/* ownercheck.c: what the loopback TCP owner check costs per connection, measured on its own.
 *
 *   ownercheck [N]     N connections (default 2000); prints one JSON object
 *
 * For each of N loopback TCP connections (a client socket of this process, accepted here), times
 * access_check_stream() (getsockname, getpeername, one sock_diag netlink round trip, the policy)
 * and, as the scale it is read against, accept() plus close() of the same kind of connection.
 * run.py's owner-check row sets this cost against the warm TCP rate with the check, beside the
 * share it measures by difference with pylaunchd_nocheck (nocheck.c): this one is steadier on a
 * noisy machine, that one sees what the load adds. Medians in microseconds, CLOCK_MONOTONIC. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access.h"

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double median(double *v, int n) {
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int loopback_listener(struct sockaddr_in *addr) {
        socklen_t len = sizeof *addr;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        addr->sin_family = AF_INET;
        addr->sin_port = 0;
        addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0 || listen(fd, 64) < 0 ||
            getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
                perror("ownercheck: loopback listener");
                exit(1);
        }
        return fd;
}

/* One connection: the client end in *client, the accepted end returned; *accept_us its accept(). */
static int connection(int l, const struct sockaddr_in *addr, int *client, double *accept_us) {
        double t;
        int a;

        *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (*client < 0 || connect(*client, (const struct sockaddr *)addr, sizeof *addr) < 0) {
                perror("ownercheck: connect");
                exit(1);
        }
        t = now_us();
        a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        *accept_us = now_us() - t;
        if (a < 0) {
                perror("ownercheck: accept");
                exit(1);
        }
        return a;
}

int main(int argc, char **argv) {
        int n = argc > 1 ? atoi(argv[1]) : 2000, refused = 0;
        double *check = calloc((size_t)n, sizeof *check), *base = calloc((size_t)n, sizeof *base);
        struct access_policy policy = { .owner = getuid() };
        struct sockaddr_in addr;
        int l = loopback_listener(&addr);

        if (n < 1 || !check || !base) {
                fprintf(stderr, "usage: ownercheck [N >= 1]\n");
                return 64;
        }
        for (int i = 0; i < n; i++) {
                struct access_peer peer;
                double accept_us, t;
                int client, a = connection(l, &addr, &client, &accept_us);

                t = now_us();
                if (access_check_stream(&policy, a, AF_INET, &peer) != 1)
                        refused++;
                check[i] = now_us() - t;
                t = now_us();
                close(a);
                base[i] = accept_us + now_us() - t;
                close(client);
        }
        printf("{\"connections\": %d, \"refused\": %d, \"check_us\": %.2f, \"accept_close_us\": %.2f}\n", n,
               refused, median(check, n), median(base, n));
        return refused ? 1 : 0;
}
