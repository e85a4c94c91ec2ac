/*
 * A driver of src/mqtt for test-mqtt-client.py: one Mqtt on sd-event, steered by lines on stdin,
 * reporting on stdout (one line per event):
 *   stdin:  start | subscribe FILTER | subscribe0 FILTER (QoS 0) | unsubscribe FILTER | publish TOPIC PAYLOAD [retain]
 *           burst PREFIX N [retain]  (N messages PREFIX/0..N-1, payload = index) | protocol | quit
 *   stdout: state NAME | message TOPIC PAYLOAD | subscribed FILTER (its SUBACK) | hook N | pending N | published |
 *           stopped | protocol N (mqtt_protocol_version) | error TEXT
 * Usage: mqtt-client PORT BASE_TOPIC [VERSION ([mqtt] version, default 5) [CLIENT_ID]]
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "config/configuration.h"
#include "mqtt/mqtt.h"
#include "util/log.h"

typedef struct Driver {
        sd_event *event;
        Mqtt *mqtt;
        unsigned hooks;
        char buf[4096];
        size_t len;
} Driver;

static void say(const char *format, ...) _printf_(1, 2);
static void say(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static void on_state(Mqtt *mqtt, MqttState state, uint64_t retry_usec, const char *reason, void *userdata) {
        say("state %s", mqtt_state_to_string(state));
}

static void on_message(Mqtt *mqtt, const char *topic, const void *payload, size_t len, bool retained,
                       void *userdata) {
        say("message %s %.*s", topic, (int) len, (const char *) payload);
}

static void on_subscribed(Mqtt *mqtt, const char *filter, void *userdata) {
        say("subscribed %s", filter);
}

static void on_connect_hook(Mqtt *mqtt, void *userdata) {
        Driver *d = userdata;
        char topic[256], payload[32];

        d->hooks++;
        snprintf(topic, sizeof(topic), "%s/hook", mqtt_base_topic(mqtt));
        snprintf(payload, sizeof(payload), "connect %u", d->hooks);
        (void) mqtt_publish_string(mqtt, topic, payload, 1, true);
        say("hook %u", d->hooks);
}

static void on_stopped(Mqtt *mqtt, void *userdata) {
        Driver *d = userdata;

        say("stopped");
        (void) sd_event_exit(d->event, 0);
}

static void run_command(Driver *d, char *line) {
        char *cmd = strtok(line, " "), *a = strtok(NULL, " "), *b = strtok(NULL, " "), *c = strtok(NULL, " ");
        int r = 0;

        if (!cmd)
                return;
        if (strcmp(cmd, "start") == 0)
                r = mqtt_start(d->mqtt);
        else if (strcmp(cmd, "subscribe") == 0 && a)
                r = mqtt_subscribe(d->mqtt, a, 1, on_message, d);
        else if (strcmp(cmd, "subscribe0") == 0 && a)
                r = mqtt_subscribe(d->mqtt, a, 0, on_message, d);
        else if (strcmp(cmd, "unsubscribe") == 0 && a)
                r = mqtt_unsubscribe(d->mqtt, a, on_message, d);
        else if (strcmp(cmd, "publish") == 0 && a && b) {
                r = mqtt_publish_string(d->mqtt, a, b, 1, c && strcmp(c, "retain") == 0);
                if (r >= 0)
                        say("published");
        } else if (strcmp(cmd, "burst") == 0 && a && b) {
                long n = strtol(b, NULL, 10);

                for (long i = 0; i < n && r >= 0; i++) {
                        char topic[256], payload[32];

                        snprintf(topic, sizeof(topic), "%s/%ld", a, i);
                        snprintf(payload, sizeof(payload), "%ld", i);
                        r = mqtt_publish_string(d->mqtt, topic, payload, 1, c && strcmp(c, "retain") == 0);
                }
                say("pending %zu", mqtt_pending_count(d->mqtt));
        } else if (strcmp(cmd, "protocol") == 0)
                say("protocol %d", mqtt_protocol_version(d->mqtt));
        else if (strcmp(cmd, "quit") == 0)
                r = mqtt_shutdown(d->mqtt, on_stopped, d);
        else {
                say("error unknown command %s", cmd);
                return;
        }
        if (r < 0)
                say("error %s: %s", cmd, strerror(-r));
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Driver *d = userdata;
        ssize_t n;
        char *nl;

        n = read(fd, d->buf + d->len, sizeof(d->buf) - 1 - d->len);
        if (n <= 0) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        d->len += (size_t) n;
        d->buf[d->len] = 0;
        while ((nl = strchr(d->buf, '\n'))) {
                *nl = 0;
                run_command(d, d->buf);
                memmove(d->buf, nl + 1, d->len - (size_t) (nl + 1 - d->buf) + 1);
                d->len -= (size_t) (nl + 1 - d->buf);
        }
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *config = NULL;
        Driver d = {};
        sd_event_source *in = NULL;
        int r;

        if (argc < 3 || argc > 5) {
                fprintf(stderr, "Usage: mqtt-client PORT BASE_TOPIC [VERSION [CLIENT_ID]]\n");
                return 2;
        }
        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(LOG_DEBUG);

        r = config_new(&config);
        if (r < 0)
                return 1;
        free(config->mqtt.host);
        free(config->mqtt.base_topic);
        config->mqtt.host = strdup("127.0.0.1");
        config->mqtt.base_topic = strdup(argv[2]);
        config->mqtt.port = (unsigned) atoi(argv[1]);
        config->mqtt.reconnect_max = 1;
        if (argc > 3)
                config->mqtt.version = (unsigned) atoi(argv[3]);
        if (argc > 4) {
                config->mqtt.client_id = strdup(argv[4]);
                if (!config->mqtt.client_id)
                        return 1;
        }
        if (!config->mqtt.host || !config->mqtt.base_topic)
                return 1;

        if (sd_event_new(&d.event) < 0)
                return 1;
        r = mqtt_new(&d.mqtt, d.event, &config->mqtt);
        if (r < 0)
                return 1;
        mqtt_set_state_callback(d.mqtt, on_state, &d);
        mqtt_set_subscribed_callback(d.mqtt, on_subscribed, &d);
        if (mqtt_add_connect_hook(d.mqtt, on_connect_hook, &d) < 0)
                return 1;
        if (sd_event_add_io(d.event, &in, STDIN_FILENO, EPOLLIN, on_stdin, &d) < 0)
                return 1;

        r = sd_event_loop(d.event);
        sd_event_source_disable_unref(in);
        mqtt_free(d.mqtt);
        sd_event_unref(d.event);
        return r < 0 ? 1 : 0;
}
