/*
 * Atomic file replacement for the state directory: a crash at any moment leaves either the old or
 * the new content, never a mix.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Writes data plus a final newline to <path>.tmp, fsyncs it, renames it over path and fsyncs dir
 * (the directory holding path). Run as root, the file is given to dir's owner. On failure the
 * temporary file is removed, err says what failed and a negative errno is returned. */
int atomic_file_write(const char *dir, const char *path, const char *data, mode_t mode, char *err, size_t errlen);

/* The same with the content written piece by piece: fill() calls atomic_file_append() (which
 * returns 0 or -errno, and remembers the first failure) and returns 0 or a negative errno; nothing
 * is renamed unless it returned 0. The final newline is added after it. */
typedef struct AtomicFileWriter {
        int fd;
        int error;
} AtomicFileWriter;
typedef int (*AtomicFileFill)(AtomicFileWriter *w, void *userdata);
int atomic_file_append(AtomicFileWriter *w, const char *data, size_t len);
int atomic_file_write_with(const char *dir, const char *path, mode_t mode, AtomicFileFill fill, void *userdata,
                           char *err, size_t errlen);
