/* replay.c: a main() for the fuzz targets without libFuzzer, so the normal compiler can build
 * them and every CI run replays the committed corpus as ordinary tests:
 *     fuzz_NAME_replay DIR_OR_FILE...
 * runs LLVMFuzzerTestOneInput once per regular file (a directory's files in name order), and
 * fails when a target aborts (a violated property, or a crash) or when a directory is empty
 * (a corpus path gone wrong must not pass as "nothing to replay"). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Captured before any target can repoint stderr (fuzz_options does, to silence options_parse). */
static FILE *out;

static int run_file(const char *path) {
        FILE *f = fopen(path, "rb");
        uint8_t *data = NULL;
        size_t size = 0, cap = 0, n;

        if (!f) {
                fprintf(out, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                if (size == cap) {
                        cap = cap ? 2 * cap : 4096;
                        data = realloc(data, cap);
                        if (!data)
                                abort();
                }
                n = fread(data + size, 1, cap - size, f);
                if (n == 0)
                        break;
                size += n;
        }
        if (ferror(f)) {
                fprintf(out, "replay: %s: read error\n", path);
                fclose(f);
                free(data);
                return -1;
        }
        fclose(f);
        /* libFuzzer hands over a buffer of exactly the input's size: so do we, so that ASan
         * (when the replay is built with it) catches a read one past the end. */
        {
                uint8_t *exact = malloc(size ? size : 1);
                if (!exact)
                        abort();
                memcpy(exact, data, size);
                free(data);
                fprintf(out, "replay: %s (%zu bytes)\n", path, size);
                fflush(out);
                LLVMFuzzerTestOneInput(exact, size);
                free(exact);
        }
        return 0;
}

static int by_name(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *ret_count) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char **names = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        if (!d) {
                fprintf(out, "replay: %s: %s\n", dir, strerror(errno));
                return -1;
        }
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue; /* ., .. and hidden files (editor droppings, .gitkeep) */
                if (n == cap) {
                        cap = cap ? 2 * cap : 64;
                        names = realloc(names, cap * sizeof *names);
                        if (!names)
                                abort();
                }
                if (asprintf(&names[n++], "%s/%s", dir, e->d_name) < 0)
                        abort();
        }
        closedir(d);
        qsort(names, n, sizeof *names, by_name);
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_file(names[i]) < 0)
                                r = -1;
                        else
                                (*ret_count)++;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        size_t total = 0;
        int r = 0;

        out = stderr;
        if (argc < 2) {
                fprintf(out, "usage: %s DIR_OR_FILE...\n", argv[0]);
                return 2;
        }
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++) {
                struct stat st;
                size_t count = 0;

                if (stat(argv[i], &st) < 0) {
                        fprintf(out, "replay: %s: %s\n", argv[i], strerror(errno));
                        r = 1;
                } else if (S_ISDIR(st.st_mode)) {
                        if (run_dir(argv[i], &count) < 0)
                                r = 1;
                        if (count == 0) {
                                fprintf(out, "replay: %s: no inputs in the directory\n", argv[i]);
                                r = 1;
                        }
                        total += count;
                } else if (run_file(argv[i]) < 0)
                        r = 1;
                else
                        total++;
        }
        fprintf(out, "replay: %zu inputs, %s\n", total, r ? "FAILED" : "all passed");
        return r;
}
