/*
 * The STATUS= text (see status.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "app/status.h"
#include "util/macro.h"

typedef struct Text {
        char *buf;
        size_t size, n;
} Text;

_printf_(2, 3)
static void add(Text *t, const char *fmt, ...) {
        va_list ap;
        int k;

        if (t->n + 1 >= t->size)
                return;
        va_start(ap, fmt);
        k = vsnprintf(t->buf + t->n, t->size - t->n, fmt, ap);
        va_end(ap);
        if (k > 0)
                t->n = MIN(t->n + (size_t) k, t->size - 1);
}

/* " (reason)" when there is one */
static void add_reason(Text *t, const char *reason) {
        if (reason[0])
                add(t, " (%s)", reason);
}

const char *daemon_status_format(const DaemonStatus *s, char *buf, size_t size) {
        Text t = { .buf = buf, .size = size };

        if (size == 0)
                return buf;
        buf[0] = 0;

        add(&t, "%u plug%s", s->plugs, s->plugs == 1 ? "" : "s");
        if (s->online_known && s->plugs > 0)
                add(&t, ", %u online", s->online);

        switch (s->mqtt) {
        case STATUS_MQTT_CONNECTING:
                add(&t, ", mqtt connecting");
                break;
        case STATUS_MQTT_CONNECTED:
                add(&t, ", mqtt connected");
                break;
        case STATUS_MQTT_DOWN:
                add(&t, ", mqtt disconnected");
                add_reason(&t, s->mqtt_reason);
                if (s->mqtt_retry_usec < 1000000)
                        add(&t, ", retry in %.1f s", (double) s->mqtt_retry_usec / 1e6);
                else
                        add(&t, ", retry in %u s", (unsigned) ((s->mqtt_retry_usec + 500000) / 1000000));
                break;
        }

        switch (s->coordinator) {
        case STATUS_COORDINATOR_STARTING:
                add(&t, ", coordinator starting");
                break;
        case STATUS_COORDINATOR_READY:
                add(&t, ", coordinator ready");
                break;
        case STATUS_COORDINATOR_RESET:
                add(&t, ", coordinator reset, restarting it");
                break;
        case STATUS_COORDINATOR_LOST:
                add(&t, ", coordinator lost");
                add_reason(&t, s->coordinator_reason);
                add(&t, ", reconnecting in %u s", s->coordinator_retry_sec);
                break;
        case STATUS_COORDINATOR_REFUSED:
                add(&t, ", coordinator refused");
                add_reason(&t, s->coordinator_reason);
                break;
        }

        if (s->permit_join_sec > 0)
                add(&t, ", permit join open for %u s", s->permit_join_sec);
        return buf;
}
