/* activity.h: handlers in flight and when one last started or ended, for idle exit; shared
 * between processes under --workers, so a worker leaves only when all of them are idle. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct activity {
        atomic_uint busy;
        atomic_uint_fast64_t last_active; /* CLOCK_MONOTONIC usec, the same clock in every process */
};

/* shared: in memory that forked children share (MAP_SHARED); otherwise private. NULL on ENOMEM. */
struct activity *activity_new(bool shared);
/* Frees what activity_new() made, either kind. */
void activity_free(struct activity *a, bool shared);
uint64_t activity_now(void);
void activity_enter(struct activity *a);
void activity_leave(struct activity *a);
/* When the launcher becomes idle with nothing in flight (0 while something is), given idle_usec. */
uint64_t activity_idle_at(struct activity *a, uint64_t idle_usec);
