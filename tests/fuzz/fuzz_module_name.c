/* fuzz_module_name.c: module_name_valid and agent_module_name on arbitrary text. A valid name is
 * an ASCII identifier that is not one of Python 3.11's keywords; agent_module_name accepts a
 * path exactly when its base name is such a name plus ".py" and fits the buffer (and the 256
 * bytes the interpreter keeps), writes that name NUL-terminated, and otherwise leaves the buffer
 * untouched. */
#include <errno.h>

#include "fuzz.h"

/* keyword.kwlist of Python 3.11, soft keywords (match, case, _) excluded: they are valid names. */
static const char *const keywords[] = {
        "False", "None",     "True",     "and",    "as",     "assert", "async", "await",  "break",
        "class", "continue", "def",      "del",    "elif",   "else",   "except", "finally", "for",
        "from",  "global",   "if",       "import", "in",     "is",     "lambda", "nonlocal", "not",
        "or",    "pass",     "raise",    "return", "try",    "while",  "with",   "yield",
};

static bool ident_start(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool reference_valid(const char *s) {
        if (!ident_start(*s))
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!ident_start(*p) && !(*p >= '0' && *p <= '9'))
                        return false;
        for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
                if (strcmp(s, keywords[i]) == 0)
                        return false;
        return true;
}

/* The buffer sizes agent_module_name is tried with, around the name's length and the 256 bytes
 * the interpreter keeps for it. */
static const size_t sizes[] = { 0, 1, 2, 3, 4, 8, 64, 255, 256, 257, 400 };

#define GUARD 'X'

static void check_agent_name(const char *path) {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        size_t len = strlen(base), stem = len > 3 ? len - 3 : 0;
        char stem_text[512];
        bool py = len > 3 && strcmp(base + len - 3, ".py") == 0;
        bool valid = false;

        if (py && stem < sizeof stem_text) {
                memcpy(stem_text, base, stem);
                stem_text[stem] = '\0';
                valid = reference_valid(stem_text);
        }
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                size_t size = sizes[i];
                char buf[400 + 1];
                int r, want;

                memset(buf, GUARD, sizeof buf);
                r = agent_module_name(path, buf, size);
                if (!py)
                        want = -EINVAL;
                else if (stem >= size || stem >= 256)
                        want = -ENAMETOOLONG;
                else
                        want = valid ? 0 : -EINVAL;
                FUZZ_CHECK(r == want, "agent_module_name(size %zu) returned %d, want %d", size, r, want);
                if (r == 0) {
                        FUZZ_CHECK(fuzz_terminated(buf, size) && strlen(buf) == stem &&
                                           memcmp(buf, base, stem) == 0,
                                   "agent_module_name(size %zu) wrote \"%.*s\", want \"%.*s\"", size, (int)size, buf,
                                   (int)stem, base);
                        FUZZ_CHECK(module_name_valid(buf), "agent_module_name gave \"%s\", which is not a module name",
                                   buf);
                        for (size_t j = stem + 1; j < sizeof buf; j++)
                                FUZZ_CHECK(buf[j] == GUARD, "agent_module_name(size %zu) wrote byte %zu", size, j);
                } else
                        for (size_t j = 0; j < sizeof buf; j++)
                                FUZZ_CHECK(buf[j] == GUARD, "a failed agent_module_name(size %zu) wrote byte %zu", size,
                                           j);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_cstr(data, size);
        char *py;
        bool valid;

        if (!s)
                return 0;
        valid = module_name_valid(s);
        FUZZ_CHECK(valid == reference_valid(s), "module_name_valid says %s", valid ? "valid" : "invalid");
        check_agent_name(s);
        /* The same text as a file name: NAME.py is an agent exactly when NAME is a module name. */
        if (!strchr(s, '/')) {
                if (asprintf(&py, "%s.py", s) < 0)
                        abort();
                check_agent_name(py);
                free(py);
        }
        free(s);
        return 0;
}
