/* activity.c: the idle clock, in memory forked workers share. Lock-free: atomics only, so it is
 * safe across processes as well as threads. */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "activity.h"

uint64_t activity_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct activity *activity_new(bool shared) {
        struct activity *a;

        if (shared) {
                a = mmap(NULL, sizeof *a, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                if (a == MAP_FAILED)
                        return NULL;
        } else if (!(a = calloc(1, sizeof *a)))
                return NULL;
        atomic_init(&a->busy, 0);
        atomic_init(&a->last_active, activity_now());
        return a;
}

void activity_free(struct activity *a, bool shared) {
        if (!a)
                return;
        if (shared)
                munmap(a, sizeof *a);
        else
                free(a);
}

static void touch(struct activity *a) {
        uint64_t now = activity_now(), seen = atomic_load(&a->last_active);

        /* Keep the latest time: another worker may have written a later one meanwhile. */
        while (seen < now && !atomic_compare_exchange_weak(&a->last_active, &seen, now))
                ;
}

void activity_enter(struct activity *a) {
        atomic_fetch_add(&a->busy, 1);
        touch(a);
}

void activity_leave(struct activity *a) {
        touch(a);
        atomic_fetch_sub(&a->busy, 1);
}

uint64_t activity_idle_at(struct activity *a, uint64_t idle_usec) {
        if (atomic_load(&a->busy) > 0)
                return 0;
        return atomic_load(&a->last_active) + idle_usec;
}
