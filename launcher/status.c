/* status.c: the STATUS= text the launcher keeps up to date while it serves, pure so the unit
 * tests hold its words (systemctl status and pylaunchd status show them to users). */
#include <stdbool.h>
#include <stdio.h>

#include "status.h"

size_t status_format(char *buf, size_t len, const char *what, uint64_t handled, unsigned in_flight,
                     const char *reload_error) {
        bool failed = reload_error && *reload_error;
        int n;

        if (len == 0)
                return 0;
        n = snprintf(buf, len, "Serving %s: %llu connection(s) handled, %u in flight%s%s%s", what,
                     (unsigned long long)handled, in_flight,
                     failed ? "; the last reload failed, the code already loaded serves: " : "",
                     failed ? reload_error : "", failed ? " (fix it, then systemctl reload)" : "");
        if (n < 0) {
                buf[0] = '\0';
                return 0;
        }
        return (size_t)n < len ? (size_t)n : len - 1;
}
