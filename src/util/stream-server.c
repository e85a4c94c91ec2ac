/* See stream-server.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "util/stream-server.h"

int stream_server_make_nonblocking(int fd, const char *what) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Cannot make the %s non-blocking: %m", what);
        return 0;
}

int stream_server_accept(int listen_fd, bool have_slot, const char *busy_reply, const char *what) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "%s: accept failed: %m", what);
                return -1;
        }
        if (!have_slot) {
                log_warning("%s: every client place is taken, refusing another", what);
                (void) send(fd, busy_reply, strlen(busy_reply), MSG_NOSIGNAL | MSG_DONTWAIT);
                (void) close(fd);
                return -1;
        }
        return fd;
}
