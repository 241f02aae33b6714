/* status.h: the STATUS= text systemctl status shows while the launcher serves. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Longest text status_format() writes; longer is cut (STATUS= is one line for a human). */
#define STATUS_TEXT_MAX 512

/* "Serving WHAT: N connection(s) handled, M in flight", and when the last reload failed, what
 * failed and the fix. Always NUL-terminated; returns the length written. */
size_t status_format(char *buf, size_t len, const char *what, uint64_t handled, unsigned in_flight,
                     const char *reload_error);
