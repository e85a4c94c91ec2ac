/*
 * Test-only hooks of lumiplugd-debug, a second build of src/main.c that is never installed (see
 * tests/debug/meson.build). The shipped lumiplugd is compiled without LUMIPLUGD_DEBUG_HOOKS and has
 * none of this.
 */
#pragma once

#include <systemd/sd-event.h>

/* SIGUSR2 blocks the event loop for $LUMIPLUGD_DEBUG_STALL_SEC seconds (default 5), to prove that a
 * stalled loop stops the WATCHDOG=1 pings. Around the stall it sends X_LUMIPLUGD_DEBUG=stall-begin
 * and =stall-end to $NOTIFY_SOCKET, so a test sees the stall in order with the pings. */
int debug_hooks_install(sd_event *event);
