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
