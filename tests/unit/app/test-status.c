/*
 * The STATUS= text: every state of each part, plurals, the online count only when it is known, and
 * truncation into a small buffer.
 */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "app/status.h"

static void check(const DaemonStatus *s, const char *expected) {
        char buf[256];

        daemon_status_format(s, buf, sizeof(buf));
        if (strcmp(buf, expected) != 0) {
                fprintf(stderr, "got      '%s'\nexpected '%s'\n", buf, expected);
                assert(!"status text differs");
        }
}

static void test_the_usual_running_daemon_reads_as_one_line(void) {
        DaemonStatus s = { .plugs = 3, .online = 3, .online_known = true, .mqtt = STATUS_MQTT_CONNECTED,
                           .coordinator = STATUS_COORDINATOR_READY };

        check(&s, "3 plugs, 3 online, mqtt connected, coordinator ready");
        s.online = 2;
        check(&s, "3 plugs, 2 online, mqtt connected, coordinator ready");
        s.plugs = 1;
        s.online = 1;
        check(&s, "1 plug, 1 online, mqtt connected, coordinator ready");
        s.plugs = s.online = 0;
        check(&s, "0 plugs, mqtt connected, coordinator ready");
        s.plugs = 2;
        s.online_known = false;         /* availability off: no count that would be a guess */
        check(&s, "2 plugs, mqtt connected, coordinator ready");
        s.permit_join_sec = 254;
        check(&s, "2 plugs, mqtt connected, coordinator ready, permit join open for 254 s");
}

static void test_start_up_and_trouble_name_the_reason_and_the_retry(void) {
        DaemonStatus s = {};

        check(&s, "0 plugs, mqtt connecting, coordinator starting");

        s.mqtt = STATUS_MQTT_DOWN;
        s.mqtt_retry_usec = 500000;
        snprintf(s.mqtt_reason, sizeof(s.mqtt_reason), "Connection refused");
        check(&s, "0 plugs, mqtt disconnected (Connection refused), retry in 0.5 s, coordinator starting");
        s.mqtt_retry_usec = 4000000;
        check(&s, "0 plugs, mqtt disconnected (Connection refused), retry in 4 s, coordinator starting");
        s.mqtt_reason[0] = 0;
        check(&s, "0 plugs, mqtt disconnected, retry in 4 s, coordinator starting");

        s.mqtt = STATUS_MQTT_CONNECTED;
        s.coordinator = STATUS_COORDINATOR_LOST;
        s.coordinator_retry_sec = 8;
        snprintf(s.coordinator_reason, sizeof(s.coordinator_reason), "No such file or directory");
        check(&s, "0 plugs, mqtt connected, coordinator lost (No such file or directory), reconnecting in 8 s");
        s.coordinator = STATUS_COORDINATOR_RESET;
        check(&s, "0 plugs, mqtt connected, coordinator reset, restarting it");
        s.coordinator = STATUS_COORDINATOR_REFUSED;
        snprintf(s.coordinator_reason, sizeof(s.coordinator_reason), "another network");
        check(&s, "0 plugs, mqtt connected, coordinator refused (another network)");
}

static void test_a_small_buffer_gets_a_terminated_prefix(void) {
        DaemonStatus s = { .plugs = 3, .online = 3, .online_known = true, .mqtt = STATUS_MQTT_CONNECTED,
                           .coordinator = STATUS_COORDINATOR_READY };
        char buf[12];

        memset(buf, 'x', sizeof(buf));
        assert(daemon_status_format(&s, buf, sizeof(buf)) == buf);
        assert(strcmp(buf, "3 plugs, 3 ") == 0);
        assert(daemon_status_format(&s, buf, 1) == buf && buf[0] == 0);
        buf[0] = 'x';
        daemon_status_format(&s, buf, 0);       /* nothing written */
        assert(buf[0] == 'x');
}

int main(void) {
        test_the_usual_running_daemon_reads_as_one_line();
        test_start_up_and_trouble_name_the_reason_and_the_retry();
        test_a_small_buffer_gets_a_terminated_prefix();
        return 0;
}
