/*
 * Corpus replay without libFuzzer: runs a fuzz target's LLVMFuzzerTestOneInput() once over every
 * file named on the command line, and over every regular file of every directory named (in name
 * order, so a run is reproducible). Built with any compiler, it turns the seed corpora and the
 * crash regressions into ordinary unit tests, under ASan/UBSan when the build has them.
 *
 * Fails when no input was found at all, so an emptied corpus directory cannot pass silently.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int read_whole_file(const char *path, uint8_t **ret, size_t *ret_len) {
        FILE *f = fopen(path, "rbe");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;

        if (!f)
                return -errno;
        for (;;) {
                if (len == cap) {
                        uint8_t *n;

                        cap = cap ? cap * 2 : 4096;
                        n = realloc(buf, cap);
                        if (!n) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = n;
                }
                size_t k = fread(buf + len, 1, cap - len, f);
                len += k;
                if (k == 0)
                        break;
        }
        if (ferror(f)) {
                free(buf);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int run_one(const char *path) {
        uint8_t *buf = NULL;
        size_t len = 0;
        int r;

        r = read_whole_file(path, &buf, &len);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        /* libFuzzer hands the target a buffer of exactly len bytes; so do we (ASan sees overreads). */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
                free(buf);
                return -ENOMEM;
        }
        memcpy(exact, buf, len);
        free(buf);
        (void) LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, unsigned *count) {
        struct dirent **names = NULL;
        int n, r = 0;

        n = scandir(dir, &names, NULL, by_name);
        if (n < 0) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                char path[4096];
                struct stat st;

                if (names[i]->d_name[0] != '.' &&
                    snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < (int) sizeof(path) &&
                    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_one(path) < 0)
                                r = -EIO;
                        else
                                (*count)++;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;
        int r = 0;

        if (LLVMFuzzerInitialize)
                (void) LLVMFuzzerInitialize(&argc, &argv);

        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        r = -ENOENT;
                } else if (S_ISDIR(st.st_mode)) {
                        if (run_dir(argv[i], &count) < 0)
                                r = -EIO;
                } else if (run_one(argv[i]) < 0)
                        r = -EIO;
                else
                        count++;
        }
        if (count == 0) {
                fprintf(stderr, "no corpus input found\n");
                return EXIT_FAILURE;
        }
        printf("%u inputs replayed\n", count);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
