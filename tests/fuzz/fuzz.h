/*
 * What every fuzz target and the corpus replay share: the libFuzzer entry points, and a check that
 * aborts (so libFuzzer and the replay both report it) when a property the target verifies is broken.
 * These are test invariants on our own outputs, never assertions on the input.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define FUZZ_CHECK(expr)                                                                        \
        do {                                                                                    \
                if (!(expr)) {                                                                  \
                        fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                                \
                }                                                                               \
        } while (0)

/* For the parsers that read a directory: a fresh private directory in /tmp per input, removed with
 * everything in it afterwards (the loaders may rename files aside). */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static inline void fuzz_tmpdir_new(char dir[static 64]) {
        strcpy(dir, "/tmp/lumi-fuzz-XXXXXX");
        FUZZ_CHECK(mkdtemp(dir));
}

static inline void fuzz_write_file(const char *dir, const char *name, const void *data, size_t len) {
        char path[256];
        int fd;

        FUZZ_CHECK(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int) sizeof(path));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(len == 0 || write(fd, data, len) == (ssize_t) len);
        close(fd);
}

static inline void fuzz_tmpdir_remove(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;

        FUZZ_CHECK(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        FUZZ_CHECK(unlinkat(dirfd(d), de->d_name, 0) == 0);
        closedir(d);
        FUZZ_CHECK(rmdir(dir) == 0);
}

/* Splits an input at NUL bytes: part i of at most n; returns the number of parts found. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens, size_t n) {
        size_t k = 0;

        while (k < n) {
                const uint8_t *z = memchr(data, 0, size);

                parts[k] = data;
                lens[k] = z ? (size_t) (z - data) : size;
                k++;
                if (!z)
                        break;
                size -= lens[k - 1] + 1;
                data = z + 1;
        }
        for (size_t i = k; i < n; i++) {
                parts[i] = NULL;
                lens[i] = 0;
        }
        return k;
}
