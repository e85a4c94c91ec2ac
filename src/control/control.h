/*
 * The local control socket (lumiplugctl): an AF_UNIX stream socket, passed by systemd
 * (lumiplugd.socket, FileDescriptorName=control) or created at [control] socket. One JSON request
 * per line, one reply per request (control-request.h). Bounded and non-blocking on sd-event: at most
 * CONTROL_CLIENTS_MAX clients, CONTROL_REQUEST_MAX bytes per request, an idle timeout, and a client
 * that reads slowly, stalls or half-closes never holds up the loop. Commands go through the same
 * bridge code as their MQTT counterparts (bridge_call_*), so MQTT sees the same effects.
 */
#pragma once

#include "util/macro.h"

#define CONTROL_CLIENTS_MAX 16u
#define CONTROL_IDLE_TIMEOUT_USEC (60ull * 1000000ull)  /* a client that neither sends nor reads */
#define CONTROL_OUTPUT_MAX (8u << 20)                   /* queued reply bytes per client */
#define CONTROL_BACKLOG_MAX (64u << 10)                 /* no more requests read while more is queued */

typedef struct Manager Manager;
typedef struct Control Control;

/* fd >= 0: a listening socket from systemd (taken, also on failure). fd < 0: create path (mode 0660,
 * replacing a stale socket file; -EADDRINUSE if a live daemon listens there), removed again by
 * control_free(). fd < 0 and path NULL: no control socket, *ret = NULL. */
int control_new(Control **ret, Manager *m, int fd, const char *path);
Control *control_free(Control *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Control *, control_free);
