/*
 * MQTT client on sd-event: libmosquitto's non-threaded API driven by an io source on its socket and
 * a one-second timer, reconnecting for as long as the daemon runs: every second during the first
 * reconnect_max seconds of an outage, then with a backoff doubling up to reconnect_max.
 * MQTT 5 by default, <base_topic>/# subscribed with No Local (our own messages do not come back),
 * falling back to MQTT 3.1.1 for good when a broker does not speak 5 ([mqtt] version).
 * Owns <base_topic>/bridge/state (last will "offline", "online" on every connect), a registry of
 * subscriptions that is replayed on every reconnect, hooks that republish retained state after a
 * reconnect, and a bounded queue of what is published while the broker is away.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config/configuration.h"
#include "util/macro.h"

#define MQTT_SUBSCRIPTIONS_MAX 64
#define MQTT_HOOKS_MAX 16
#define MQTT_PENDING_MAX 256            /* publishes kept while disconnected */
#define MQTT_PENDING_BYTES_MAX (32u << 20)      /* ... and their payloads, in bytes */
/* Largest payload published: bridge/devices lists every device with its definition, about 6 KiB a
 * plug, so DEVDB_DEVICES_MAX (512) of them take about 3 MiB; anything bigger is a bug (-EMSGSIZE). */
#define MQTT_PUBLISH_MAX (16u << 20)
/* Publishes libmosquitto may hold on a live connection (not yet written or acknowledged): a broker
 * that stops reading cannot grow our memory without limit before keepalive notices it. */
#define MQTT_IN_FLIGHT_MAX 4096u
#define MQTT_RECONNECT_MIN_USEC (1ULL * 1000000ULL)
#define MQTT_RECONNECT_FAST_USEC (500ULL * 1000ULL)     /* the tries of an outage's first reconnect_max seconds */
#define MQTT_SHUTDOWN_TIMEOUT_USEC (3ULL * 1000000ULL)

typedef struct Mqtt Mqtt;

typedef enum MqttState {
        MQTT_STATE_IDLE,                /* not started */
        MQTT_STATE_CONNECTING,          /* TCP/TLS/CONNECT under way */
        MQTT_STATE_CONNECTED,           /* CONNACK accepted */
        MQTT_STATE_WAITING,             /* down, reconnect timer armed */
        MQTT_STATE_STOPPING,
        MQTT_STATE_STOPPED,
} MqttState;

/* A message on a topic matching a registered filter. */
typedef void (*MqttMessageFn)(Mqtt *mqtt, const char *topic, const void *payload, size_t len,
                              bool retained, void *userdata);
/* Called after every successful (re)connect, after the subscriptions were renewed: republish here. */
typedef void (*MqttConnectHookFn)(Mqtt *mqtt, void *userdata);
/* State changes; retry_usec is the reconnect delay in MQTT_STATE_WAITING; reason is a short text. */
typedef void (*MqttStateFn)(Mqtt *mqtt, MqttState state, uint64_t retry_usec, const char *reason,
                            void *userdata);
typedef void (*MqttStoppedFn)(Mqtt *mqtt, void *userdata);
/* The broker acknowledged (SUBACK) the SUBSCRIBE of filter sent on this connection. A broker handles
 * a client's packets in order, so everything it answered to earlier packets came before. */
typedef void (*MqttSubscribedFn)(Mqtt *mqtt, const char *filter, void *userdata);

/* Copies what it needs from config (the password goes straight into libmosquitto). */
int mqtt_new(Mqtt **ret, sd_event *event, const MqttConfig *config);
Mqtt *mqtt_free(Mqtt *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Mqtt *, mqtt_free);

void mqtt_set_state_callback(Mqtt *m, MqttStateFn fn, void *userdata);
/* Begins connecting; never fails because the broker is unreachable (that is retried). */
int mqtt_start(Mqtt *m);
/* Publishes {"state":"offline"} (retained), waits for it to leave (at most
 * MQTT_SHUTDOWN_TIMEOUT_USEC), disconnects, then calls done. done may run before this returns. */
int mqtt_shutdown(Mqtt *m, MqttStoppedFn done, void *userdata);

int mqtt_subscribe(Mqtt *m, const char *filter, int qos, MqttMessageFn fn, void *userdata);
void mqtt_set_subscribed_callback(Mqtt *m, MqttSubscribedFn fn, void *userdata);     /* fn NULL: none */
int mqtt_unsubscribe(Mqtt *m, const char *filter, MqttMessageFn fn, void *userdata);
int mqtt_add_connect_hook(Mqtt *m, MqttConnectHookFn fn, void *userdata);
void mqtt_remove_connect_hook(Mqtt *m, MqttConnectHookFn fn, void *userdata);

/* Queued (bounded in count and bytes, oldest non-retained dropped first) while disconnected. -EINVAL
 * for a bad topic, -EMSGSIZE for a payload over MQTT_PUBLISH_MAX. */
int mqtt_publish(Mqtt *m, const char *topic, const void *payload, size_t len, int qos, bool retain);
int mqtt_publish_string(Mqtt *m, const char *topic, const char *payload, int qos, bool retain);

MqttState mqtt_get_state(const Mqtt *m);
const char *mqtt_base_topic(const Mqtt *m);
const char *mqtt_describe(const Mqtt *m);        /* "host:port" */
size_t mqtt_pending_count(const Mqtt *m);
/* Messages handed to libmosquitto on this connection and not done yet (QoS 0: not written; QoS 1/2:
 * not acknowledged). libmosquitto holds each one in memory until then. */
size_t mqtt_in_flight(const Mqtt *m);
uint64_t mqtt_reconnect_count(const Mqtt *m);   /* successful connections after the first */
/* The protocol level of the connection (of the next attempt while down): 5, or 4 (MQTT 3.1.1) when
 * configured or after a broker did not speak MQTT 5. */
int mqtt_protocol_version(const Mqtt *m);
const char *mqtt_state_to_string(MqttState s);
