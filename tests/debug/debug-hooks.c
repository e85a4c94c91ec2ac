/*
 * lumiplugd-debug's hooks (see debug-hooks.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "debug-hooks.h"
#include "util/log.h"

static unsigned stall_seconds(void) {
        const char *e = getenv("LUMIPLUGD_DEBUG_STALL_SEC");
        char *end;
        unsigned long v;

        if (!e || !*e)
                return 5;
        v = strtoul(e, &end, 10);
        return *end || v == 0 || v > 600 ? 5 : (unsigned) v;
}

static int on_sigusr2(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct timespec left = { .tv_sec = stall_seconds() };

        log_warning("Debug hook: stalling the event loop for %u s", (unsigned) left.tv_sec);
        (void) sd_notify(false, "X_LUMIPLUGD_DEBUG=stall-begin");
        /* the whole process sleeps: no event, no timer, no watchdog ping runs meanwhile */
        while (nanosleep(&left, &left) < 0 && errno == EINTR)
                ;
        (void) sd_notify(false, "X_LUMIPLUGD_DEBUG=stall-end");
        log_warning("Debug hook: the event loop runs again");
        return 0;
}

int debug_hooks_install(sd_event *event) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR2);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        return sd_event_add_signal(event, NULL, SIGUSR2, on_sigusr2, NULL);
}
