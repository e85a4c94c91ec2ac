/*
 * Socket activation (see listen-fds.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "control/listen-fds.h"
#include "util/log.h"

static bool is_listening_stream(int fd) {
        return sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0;
}

int listen_fds_take(int *ret_control, int *ret_metrics) {
        char **names = NULL;
        int n, control = -1, metrics = -1;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0) {
                *ret_control = *ret_metrics = -1;
                return log_error_errno(n, "Cannot take the sockets passed by systemd: %m");
        }
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "unknown";
                int *slot = strcmp(name, "control") == 0 ? &control :
                            strcmp(name, "metrics") == 0 ? &metrics : NULL;

                if (!slot)
                        log_warning("Closing socket %d passed by systemd with the unknown name '%s' "
                                    "(expected 'control' or 'metrics')", fd, name);
                else if (*slot >= 0)
                        log_warning("Closing socket %d: systemd passed more than one socket named '%s'", fd, name);
                else if (!is_listening_stream(fd))
                        log_warning("Closing socket %d named '%s': not a listening stream socket", fd, name);
                else {
                        *slot = fd;
                        continue;
                }
                (void) close(fd);
        }
        if (names)
                for (int i = 0; i < n; i++)
                        free(names[i]);
        free(names);
        *ret_control = control;
        *ret_metrics = metrics;
        return 0;
}
