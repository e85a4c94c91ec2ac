/*
 * Atomic file replacement (see atomic-file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/atomic-file.h"
#include "util/macro.h"

/*
 * Atomic replacement: <path>.tmp is written and fsync'ed, renamed over <path>, then the directory
 * is fsync'ed so the rename itself is durable. A crash before the rename leaves the old file; a
 * stale .tmp is never read.
 */
int atomic_file_append(AtomicFileWriter *w, const char *data, size_t len) {
        size_t done = 0;

        if (w->error < 0)
                return w->error;
        while (done < len) {
                ssize_t n = write(w->fd, data + done, len - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return (w->error = -errno);
                }
                done += (size_t) n;
        }
        return 0;
}

static int fill_string(AtomicFileWriter *w, void *userdata) {
        const char *data = userdata;

        return atomic_file_append(w, data, strlen(data));
}

int atomic_file_write(const char *dir, const char *path, const char *data, mode_t mode, char *err, size_t errlen) {
        return atomic_file_write_with(dir, path, mode, fill_string, (void *) data, err, errlen);
}

int atomic_file_write_with(const char *dir, const char *path, mode_t mode, AtomicFileFill fill, void *userdata,
                           char *err, size_t errlen) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1, dfd = -1;
        AtomicFileWriter w = {};
        int fr;

        if (asprintf(&tmp, "%s.tmp", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0) {
                int r = -errno;
                snprintf(err, errlen, "Cannot create '%s': %s", tmp, strerror(-r));
                return r;
        }
        if (fchmod(fd, mode) < 0)
                goto fail;
        /* Run as root (lumiplugd --import-z2m), the files must still belong to the daemon's user,
         * which owns the state directory; otherwise it could not read network.json (0600). */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                goto fail;
        if (geteuid() == 0) {
                struct stat st;

                if (fstat(dfd, &st) < 0)
                        goto fail;
                if (st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
                        goto fail;
        }
        w.fd = fd;
        fr = fill(&w, userdata);
        if (fr >= 0 && w.error < 0)
                fr = w.error;
        if (fr < 0) {
                if (w.error < 0) {
                        errno = -w.error;
                        goto fail;
                }
                snprintf(err, errlen, "Cannot write '%s': %s", tmp, strerror(-fr));
                (void) unlink(tmp);
                return fr;
        }
        if (write(fd, "\n", 1) != 1) {
                if (errno == 0)
                        errno = EIO;
                goto fail;
        }
        if (fsync(fd) < 0)
                goto fail;
        if (close(TAKE_FD(fd)) < 0)
                goto fail;
        if (rename(tmp, path) < 0)
                goto fail;

        if (fsync(dfd) < 0) {
                int r = -errno;
                snprintf(err, errlen, "Cannot sync directory '%s': %s", dir, strerror(-r));
                return r;
        }
        return 0;

fail:;
        int r = errno > 0 ? -errno : -EIO;
        snprintf(err, errlen, "Cannot write '%s': %s", tmp, strerror(-r));
        (void) unlink(tmp);
        return r;
}
