/*
 * The parts every local stream server of the daemon shares (the control socket, the metrics
 * endpoint): a passed socket made non-blocking, and one connection accepted into a free client slot
 * or refused with a short reply when every slot is taken. The servers keep their own clients.
 */
#pragma once

#include <stdbool.h>

/* 0, or -errno (logged, naming what). */
int stream_server_make_nonblocking(int fd, const char *what);

/* Accepts one waiting connection on listen_fd. Returns its fd (non-blocking, close-on-exec) when
 * have_slot; otherwise sends busy_reply, closes it, logs it (naming what) and returns -1. -1 as well
 * when nothing could be accepted (a failure other than EAGAIN is logged). */
int stream_server_accept(int listen_fd, bool have_slot, const char *busy_reply, const char *what);
