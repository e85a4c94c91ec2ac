/*
 * MQTT connection on sd-event (see mqtt.h). libmosquitto's callbacks fire from inside its loop
 * functions; they only record what happened, and the io/timer handlers act on it afterwards, so no
 * event source is freed while libmosquitto is still using the socket it belongs to.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "mqtt/mqtt.h"
#include "util/log.h"

#define USEC_PER_SEC 1000000ULL
#define BRIDGE_ONLINE "{\"state\":\"online\"}"
#define BRIDGE_OFFLINE "{\"state\":\"offline\"}"

typedef struct MqttSubscription {
        char *filter;
        int qos;
        MqttMessageFn fn;
        void *userdata;
        int mid;                        /* of its SUBSCRIBE on this connection until the SUBACK; 0: none */
        bool no_local;                  /* <base_topic>/#: MQTT 5 "No Local", see mqtt_send_subscribe() */
} MqttSubscription;

typedef struct MqttHook {
        MqttConnectHookFn fn;
        void *userdata;
} MqttHook;

typedef struct MqttPending {
        char *topic;
        void *payload;
        size_t len;
        int qos;
        bool retain;
} MqttPending;

struct Mqtt {
        sd_event *event;
        struct mosquitto *mosq;
        char *host;
        unsigned port;
        unsigned keepalive;
        bool tls;
        const char *tls_insecure;       /* why the broker is not fully verified; NULL: it is */
        char *base_topic;
        char *state_topic;
        char *base_all;                 /* "<base_topic>/#" */
        char describe[300];
        uint64_t reconnect_max_usec;

        MqttState state;
        bool lib_initialized;
        bool ever_connected;            /* mosquitto_connect_async() done once: later use reconnect */
        bool lost;                      /* set by on_disconnect, handled after the loop call */
        bool refused;                   /* CONNACK refused in this attempt */
        int connack;
        int protocol;                   /* MQTT_PROTOCOL_V5 or MQTT_PROTOCOL_V311, of this attempt */
        bool may_fall_back;             /* [mqtt] version = 5: 3.1.1 if the broker does not speak 5 */
        bool got_connack;               /* in this attempt */
        bool broker_wants_v311;         /* this attempt says the broker does not speak MQTT 5 */
        unsigned v5_hangups;            /* MQTT 5 attempts in a row closed by the broker before a CONNACK */
        char reason[160];
        uint64_t reconnect_delay;
        uint64_t connects;              /* accepted CONNACKs, for the metrics */
        size_t in_flight;               /* publishes libmosquitto has not finished (mqtt_in_flight) */
        unsigned refused_in_flight;     /* publishes refused since in_flight reached MQTT_IN_FLIGHT_MAX */
        uint64_t outage_start;          /* CLOCK_MONOTONIC usec of the first failed try of this outage */

        sd_event_source *io;
        sd_event_source *misc_timer;
        sd_event_source *reconnect_timer;
        sd_event_source *shutdown_timer;

        MqttStateFn state_fn;
        void *state_userdata;
        MqttSubscribedFn subscribed_fn;
        void *subscribed_userdata;

        MqttSubscription subs[MQTT_SUBSCRIPTIONS_MAX];
        size_t n_subs;
        MqttHook hooks[MQTT_HOOKS_MAX];
        size_t n_hooks;
        MqttPending *pending;           /* grown while the broker is away, up to MQTT_PENDING_MAX */
        size_t n_pending, pending_size;
        size_t pending_bytes;
        unsigned dropped;               /* publishes dropped in this outage */

        int shutdown_mid;
        bool shutdown_published;
        MqttStoppedFn stopped_fn;
        void *stopped_userdata;
};

static void mqtt_connection_lost(Mqtt *m);
static int mqtt_connect(Mqtt *m);

/* CONNACK codes as the protocol of the attempt defines them: MQTT 3.1.1 return codes 1..5, MQTT 5
 * reason codes from 128 (libmosquitto passes a 3.1.1 broker's "unacceptable protocol version"
 * answer to an MQTT 5 CONNECT on as 132). */
static const char *connack_to_string(int protocol, int code) {
        return protocol == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(code) : mosquitto_connack_string(code);
}

static bool connack_is_credentials(int protocol, int code) {
        if (protocol == MQTT_PROTOCOL_V5)
                return code == MQTT_RC_BAD_USERNAME_OR_PASSWORD || code == MQTT_RC_NOT_AUTHORIZED;
        return code == CONNACK_REFUSED_BAD_USERNAME_PASSWORD || code == CONNACK_REFUSED_NOT_AUTHORIZED;
}

/* 3.1.1's "unacceptable protocol version" (1) or MQTT 5's "unsupported protocol version" (132). */
static bool connack_is_protocol_version(int code) {
        return code == CONNACK_REFUSED_PROTOCOL_VERSION || code == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION;
}

/* <base_topic>/# is subscribed with MQTT 5's No Local: the broker does not send back what we publish
 * (every state message, bridge/devices...), which we would only read and drop. The broker still sends
 * the retained messages of earlier runs (mosquitto 2.0 filters only live messages by client id, see
 * subs__process and retain__process). Not on any other filter: the Home Assistant discovery wildcard
 * must see our own configs. On MQTT 3.1.1 the option bits do not exist: plain SUBSCRIBE. */
static int mqtt_send_subscribe(Mqtt *m, MqttSubscription *s) {
        int options = s->no_local && m->protocol == MQTT_PROTOCOL_V5 ? MQTT_SUB_OPT_NO_LOCAL : 0;

        return mosquitto_subscribe_v5(m->mosq, &s->mid, s->filter, s->qos, options, NULL);
}

const char *mqtt_state_to_string(MqttState s) {
        static const char *const names[] = {
                [MQTT_STATE_IDLE] = "idle",
                [MQTT_STATE_CONNECTING] = "connecting",
                [MQTT_STATE_CONNECTED] = "connected",
                [MQTT_STATE_WAITING] = "waiting",
                [MQTT_STATE_STOPPING] = "stopping",
                [MQTT_STATE_STOPPED] = "stopped",
        };

        return (size_t) s < ELEMENTSOF(names) ? names[s] : "?";
}

static void pending_done(MqttPending *p) {
        free(p->topic);
        free(p->payload);
        *p = (MqttPending) {};
}

static void pending_remove(Mqtt *m, size_t i) {
        m->pending_bytes -= m->pending[i].len;
        pending_done(&m->pending[i]);
        memmove(&m->pending[i], &m->pending[i + 1], (m->n_pending - i - 1) * sizeof(m->pending[0]));
        m->n_pending--;
}

static void mqtt_set_state(Mqtt *m, MqttState state, uint64_t retry_usec) {
        m->state = state;
        if (m->state_fn)
                m->state_fn(m, state, retry_usec, m->reason, m->state_userdata);
}

static void mqtt_drop_io(Mqtt *m) {
        m->io = sd_event_source_disable_unref(m->io);
        if (m->misc_timer)
                (void) sd_event_source_set_enabled(m->misc_timer, SD_EVENT_OFF);
}

static void mqtt_update_io(Mqtt *m) {
        if (!m->io)
                return;
        (void) sd_event_source_set_io_events(m->io, EPOLLIN | (mosquitto_want_write(m->mosq) ? EPOLLOUT : 0));
}

/* After every call into libmosquitto's loop: act on what its callbacks recorded. Some failures
 * (a TLS handshake error) close the socket without calling on_disconnect: a vanished socket is a
 * lost connection too. */
static void mqtt_after_loop(Mqtt *m, int rc) {
        if (!m->lost && m->io && mosquitto_socket(m->mosq) < 0) {
                log_debug("The MQTT socket is gone: rc=%d (%s)", rc, mosquitto_strerror(rc));
                m->lost = true;
                if (!m->reason[0])
                        (void) snprintf(m->reason, sizeof(m->reason), "%s",
                                        rc == MOSQ_ERR_ERRNO ? strerror(errno ?: EIO) : mosquitto_strerror(rc));
        }
        if (m->lost) {
                mqtt_connection_lost(m);
                return;
        }
        mqtt_update_io(m);
}

static int mqtt_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Mqtt *m = userdata;

        int rc = MOSQ_ERR_SUCCESS;

        /* Reading also drives a pending TLS handshake, which libmosquitto hides from want_write. */
        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) || m->state == MQTT_STATE_CONNECTING)
                rc = mosquitto_loop_read(m->mosq, 1);
        if (!m->lost && mosquitto_socket(m->mosq) >= 0 &&
            ((revents & EPOLLOUT) || mosquitto_want_write(m->mosq)))
                rc = mosquitto_loop_write(m->mosq, 1);
        mqtt_after_loop(m, rc);
        return 0;
}

static int mqtt_on_misc(sd_event_source *s, uint64_t usec, void *userdata) {
        Mqtt *m = userdata;

        /* Keepalive PINGREQs, retries of unacknowledged QoS>0 messages, and the keepalive timeout
         * that notices a silent broker (or a TCP connect that never completes). */
        int rc = MOSQ_ERR_SUCCESS;

        if (m->state == MQTT_STATE_CONNECTING)
                rc = mosquitto_loop_read(m->mosq, 1);
        if (!m->lost && mosquitto_socket(m->mosq) >= 0)
                rc = mosquitto_loop_misc(m->mosq);
        mqtt_after_loop(m, rc);
        if (m->io)
                (void) sd_event_source_set_time_relative(s, USEC_PER_SEC);
        return 0;
}

static int mqtt_on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        Mqtt *m = userdata;

        (void) mqtt_connect(m);
        return 0;
}

/* Every half second for the first reconnect_max seconds of an outage, so that a restarting broker is
 * used again within a second of its return (a try every second, as Zigbee2MQTT's, can miss it by
 * almost a second plus the connect), then doubling up to reconnect_max, so a broker that is gone for
 * good is not hammered nor the journal flooded. A refused CONNECT (wrong password, ...) will not mend
 * itself in a second: it backs off at once, from one second. */
static void mqtt_arm_reconnect(Mqtt *m) {
        struct timespec ts;
        uint64_t now;
        int r;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
        if (m->reconnect_delay == 0) {
                m->outage_start = now;
                m->reconnect_delay = m->refused ? MQTT_RECONNECT_MIN_USEC : MQTT_RECONNECT_FAST_USEC;
        } else if (!m->refused && now - m->outage_start < m->reconnect_max_usec)
                m->reconnect_delay = MQTT_RECONNECT_FAST_USEC;
        else
                m->reconnect_delay = MIN(m->reconnect_delay * 2, m->reconnect_max_usec);
        m->reconnect_delay = MIN(m->reconnect_delay, m->reconnect_max_usec);

        if (m->reconnect_timer) {
                r = sd_event_source_set_time_relative(m->reconnect_timer, m->reconnect_delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->reconnect_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(m->event, &m->reconnect_timer, CLOCK_MONOTONIC,
                                               m->reconnect_delay, 0, mqtt_on_reconnect, m);
        if (r < 0)
                log_error_errno(r, "Cannot arm the MQTT reconnect timer: %m");
}

static void mqtt_connection_lost(Mqtt *m) {
        bool was_connected = m->state == MQTT_STATE_CONNECTED;
        uint64_t previous_delay;
        char secs[16];
        int level;

        m->lost = false;
        mqtt_drop_io(m);

        if (m->state == MQTT_STATE_STOPPING) {
                MqttStoppedFn done = m->stopped_fn;

                m->state = MQTT_STATE_STOPPED;
                m->shutdown_timer = sd_event_source_disable_unref(m->shutdown_timer);
                m->stopped_fn = NULL;
                if (done)
                        done(m, m->stopped_userdata);
                return;
        }

        /* A broker without MQTT 5 (mosquitto before 1.6, some hosted ones) refuses the protocol level
         * or just hangs up: 3.1.1 from now on, for the life of this process, said once. The next
         * try comes as soon as after any first failure, and is not a refusal to back off from. */
        if (m->broker_wants_v311 && m->may_fall_back && m->protocol == MQTT_PROTOCOL_V5) {
                log_fields(LOG_NOTICE, 0, &((LogFields) { .error = "mqtt-protocol-fallback" }),
                           "MQTT broker %s does not speak MQTT 5 (%s): using MQTT 3.1.1 from now on, where our "
                           "own messages under %s/ come back to us ([mqtt] version = 4 skips the MQTT 5 try)",
                           m->describe, m->reason, m->base_topic);
                m->protocol = MQTT_PROTOCOL_V311;
                m->may_fall_back = false;
                (void) mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
                m->refused = false;
                mqtt_arm_reconnect(m);
                mqtt_set_state(m, MQTT_STATE_WAITING, m->reconnect_delay);
                return;
        }

        previous_delay = m->reconnect_delay;
        mqtt_arm_reconnect(m);
        /* "0.5s" in the fast phase, whole seconds after */
        if (m->reconnect_delay < USEC_PER_SEC)
                (void) snprintf(secs, sizeof(secs), "%.1fs", (double) m->reconnect_delay / USEC_PER_SEC);
        else
                (void) snprintf(secs, sizeof(secs), "%us",
                                (unsigned) ((m->reconnect_delay + USEC_PER_SEC / 2) / USEC_PER_SEC));
        /* The first failure of an outage and every change of the delay are warnings; the repeats of
         * the fast phase are debug messages, so an outage does not write two lines a second. */
        level = previous_delay == 0 || previous_delay != m->reconnect_delay ? LOG_WARNING : LOG_DEBUG;

        if (m->refused)
                log_fields(LOG_ERR, 0, &((LogFields) { .error = "mqtt-connack-refused" }),
                           "MQTT broker %s refused the connection: %s%s; retrying in %s", m->describe, m->reason,
                           connack_is_credentials(m->protocol, m->connack) ?
                           " (check [mqtt] username and password/password_file)" : "", secs);
        else if (was_connected)
                log_fields(LOG_WARNING, 0, &((LogFields) { .error = "mqtt-connection-lost" }),
                           "Lost the connection to MQTT broker %s (%s); reconnecting in %s", m->describe,
                           m->reason, secs);
        else
                log_fields(level, 0, &((LogFields) { .error = "mqtt-connect-failed" }),
                           "Cannot connect to MQTT broker %s (%s); retrying in %s", m->describe, m->reason,
                           secs);

        mqtt_set_state(m, MQTT_STATE_WAITING, m->reconnect_delay);
}

static void mqtt_on_log(struct mosquitto *mosq, void *userdata, int level, const char *str) {
        /* libmosquitto reports TLS failures (certificate verification, ...) only here. */
        if (level == MOSQ_LOG_ERR)
                log_warning("libmosquitto: %s", str);
        else if (level != MOSQ_LOG_DEBUG)
                log_debug("libmosquitto: %s", str);
}

static int mqtt_connect(Mqtt *m) {
        int r, fd;

        m->refused = false;
        m->connack = 0;
        m->got_connack = false;
        m->broker_wants_v311 = false;
        m->reason[0] = 0;
        m->lost = false;
        m->state = MQTT_STATE_CONNECTING;
        log_debug("Connecting to MQTT broker %s with MQTT %s", m->describe,
                  m->protocol == MQTT_PROTOCOL_V5 ? "5" : "3.1.1");
        /* libmosquitto formats a debug line for every packet when a log callback is set (most of
         * a report's instructions once lumiplugd's own work was cut); what we want from it, the
         * TLS errors, comes while connecting: the callback is there until the broker's CONNACK. */
        mosquitto_log_callback_set(m->mosq, mqtt_on_log);

        errno = 0;
        if (!m->ever_connected) {
                r = mosquitto_connect_bind_async(m->mosq, m->host, (int) m->port, (int) m->keepalive, NULL);
                if (r == MOSQ_ERR_SUCCESS)
                        m->ever_connected = true;
        } else
                r = mosquitto_reconnect_async(m->mosq);
        if (r != MOSQ_ERR_SUCCESS) {
                if (r == MOSQ_ERR_ERRNO)
                        (void) snprintf(m->reason, sizeof(m->reason), "%s", strerror(errno ?: EIO));
                else if (r == MOSQ_ERR_EAI)
                        (void) snprintf(m->reason, sizeof(m->reason), "cannot resolve host name '%s'", m->host);
                else
                        (void) snprintf(m->reason, sizeof(m->reason), "%s", mosquitto_strerror(r));
                mqtt_connection_lost(m);
                return 0;
        }

        fd = mosquitto_socket(m->mosq);
        if (fd < 0) {
                (void) snprintf(m->reason, sizeof(m->reason), "no socket");
                mqtt_connection_lost(m);
                return 0;
        }

        /* A new connection is a new fd: never keep a source for an old one. */
        m->io = sd_event_source_disable_unref(m->io);
        r = sd_event_add_io(m->event, &m->io, fd, EPOLLIN | EPOLLOUT, mqtt_on_io, m);
        if (r < 0) {
                (void) snprintf(m->reason, sizeof(m->reason), "%s", strerror(-r));
                mosquitto_disconnect(m->mosq);
                mqtt_connection_lost(m);
                return 0;
        }
        (void) sd_event_source_set_description(m->io, "mqtt-io");

        if (!m->misc_timer) {
                r = sd_event_add_time_relative(m->event, &m->misc_timer, CLOCK_MONOTONIC, USEC_PER_SEC, 0,
                                               mqtt_on_misc, m);
                if (r < 0)
                        return log_error_errno(r, "Cannot add the MQTT keepalive timer: %m");
                (void) sd_event_source_set_description(m->misc_timer, "mqtt-misc");
        } else
                (void) sd_event_source_set_time_relative(m->misc_timer, USEC_PER_SEC);
        (void) sd_event_source_set_enabled(m->misc_timer, SD_EVENT_ON);

        mqtt_set_state(m, MQTT_STATE_CONNECTING, 0);
        return 0;
}

/* ---------------- libmosquitto callbacks: record, act later ---------------- */

static void mqtt_send_pending(Mqtt *m) {
        for (size_t i = 0; i < m->n_pending; i++) {
                MqttPending *p = &m->pending[i];
                int r = mosquitto_publish(m->mosq, NULL, p->topic, (int) p->len, p->payload, p->qos, p->retain);

                if (r == MOSQ_ERR_SUCCESS)
                        m->in_flight++;
                else
                        log_fields(LOG_WARNING, 0, &((LogFields) { .topic = p->topic }),
                                   "Dropping queued MQTT message on %s: %s", p->topic, mosquitto_strerror(r));
                pending_done(p);
        }
        free(m->pending);               /* needed again only in the next outage */
        m->pending = NULL;
        m->n_pending = m->pending_size = 0;
        m->pending_bytes = 0;
        if (m->dropped > 0)
                log_fields(LOG_WARNING, 0, &((LogFields) { .error = "mqtt-queue-overflow" }),
                           "%u MQTT messages were dropped while the broker was unreachable (queue limit %d)",
                           m->dropped, MQTT_PENDING_MAX);
        m->dropped = 0;
}

static void mqtt_on_connect(struct mosquitto *mosq, void *userdata, int rc) {
        Mqtt *m = userdata;
        MqttHook hooks[MQTT_HOOKS_MAX];
        size_t n_hooks;

        m->got_connack = true;
        m->v5_hangups = 0;
        if (rc != 0) {
                m->refused = true;
                m->connack = rc;
                m->broker_wants_v311 = m->protocol == MQTT_PROTOCOL_V5 && connack_is_protocol_version(rc);
                (void) snprintf(m->reason, sizeof(m->reason), "%s", connack_to_string(m->protocol, rc));
                if (m->reason[0] && m->reason[strlen(m->reason) - 1] == '.')
                        m->reason[strlen(m->reason) - 1] = 0;
                return;         /* libmosquitto closes the socket next and calls on_disconnect */
        }

        mosquitto_log_callback_set(m->mosq, NULL);     /* see mqtt_connect() */
        m->reconnect_delay = 0;         /* the next outage starts over at the shortest delay */
        m->reason[0] = 0;
        if (m->tls_insecure)
                log_warning("Connected to MQTT broker %s (TLS, %s)", m->describe, m->tls_insecure);
        else
                log_info("Connected to MQTT broker %s%s", m->describe, m->tls ? " (TLS)" : "");

        /* a new count per connection: what a lost one held is written again or forgotten by libmosquitto,
         * and the count only paces publishers (never below 0, see mqtt_on_publish) */
        m->in_flight = 0;
        m->refused_in_flight = 0;
        if (mosquitto_publish(m->mosq, NULL, m->state_topic, (int) strlen(BRIDGE_ONLINE), BRIDGE_ONLINE, 1,
                              true) == MOSQ_ERR_SUCCESS)
                m->in_flight++;
        log_fields(LOG_DEBUG, 0, &((LogFields) { .topic = m->state_topic }), "Published %s to %s (retained)",
                   BRIDGE_ONLINE, m->state_topic);
        for (size_t i = 0; i < m->n_subs; i++) {
                int r = mqtt_send_subscribe(m, &m->subs[i]);

                if (r != MOSQ_ERR_SUCCESS)
                        log_fields(LOG_WARNING, 0, &((LogFields) { .topic = m->subs[i].filter }),
                                   "Cannot subscribe to %s: %s", m->subs[i].filter, mosquitto_strerror(r));
        }
        mqtt_send_pending(m);

        m->connects++;
        mqtt_set_state(m, MQTT_STATE_CONNECTED, 0);

        /* Hooks may add or remove hooks: run the ones registered now. */
        n_hooks = m->n_hooks;
        memcpy(hooks, m->hooks, n_hooks * sizeof(hooks[0]));
        for (size_t i = 0; i < n_hooks; i++)
                hooks[i].fn(m, hooks[i].userdata);
}

static void mqtt_on_disconnect(struct mosquitto *mosq, void *userdata, int rc) {
        Mqtt *m = userdata;

        log_debug("libmosquitto closed the connection: rc=%d (%s), errno=%d", rc, mosquitto_strerror(rc), errno);
        m->lost = true;
        /* Hung up on our MQTT 5 CONNECT, without a CONNACK, after the TCP connection was made (a
         * refused or unreachable port is ECONNREFUSED, EHOSTUNREACH...): what a broker does that
         * cannot parse the protocol level. Twice in a row, so that a broker going down in the middle of
         * one CONNECT is not taken for one without MQTT 5. An answer that is not an MQTT 5 CONNACK
         * (a 3.1.1 one accepting the connection has no properties) says it at once. */
        if (m->state == MQTT_STATE_CONNECTING && !m->got_connack && m->protocol == MQTT_PROTOCOL_V5) {
                if (rc == MOSQ_ERR_PROTOCOL || rc == MOSQ_ERR_MALFORMED_PACKET)
                        m->broker_wants_v311 = true;
                else if (rc == MOSQ_ERR_CONN_LOST || (rc == MOSQ_ERR_ERRNO && errno == ECONNRESET))
                        m->broker_wants_v311 = ++m->v5_hangups >= 2;
                else
                        m->v5_hangups = 0;
        }
        if (m->refused || m->reason[0])
                return;         /* keep the first, most precise reason */
        if (rc == MOSQ_ERR_ERRNO)
                (void) snprintf(m->reason, sizeof(m->reason), "%s", errno ? strerror(errno) : "connection closed");
        else if (rc == MOSQ_ERR_KEEPALIVE)
                (void) snprintf(m->reason, sizeof(m->reason), "no answer within the keepalive time");
        else if (rc == MOSQ_ERR_SUCCESS)
                (void) snprintf(m->reason, sizeof(m->reason), "disconnected");
        else
                (void) snprintf(m->reason, sizeof(m->reason), "%s", mosquitto_strerror(rc));
        /* drop the trailing full stop of libmosquitto's sentences */
        size_t n = strlen(m->reason);
        if (n > 0 && m->reason[n - 1] == '.')
                m->reason[n - 1] = 0;
}

static void mqtt_on_publish(struct mosquitto *mosq, void *userdata, int mid) {
        Mqtt *m = userdata;

        if (m->in_flight > 0)
                m->in_flight--;
        if (m->refused_in_flight > 0 && m->in_flight < MQTT_IN_FLIGHT_MAX / 2) {
                log_fields(LOG_NOTICE, 0, &((LogFields) { .error = "mqtt-queue-overflow" }),
                           "MQTT broker %s reads again: %u messages were refused meanwhile", m->describe,
                           m->refused_in_flight);
                m->refused_in_flight = 0;
        }

        if (m->state == MQTT_STATE_STOPPING && m->shutdown_published && mid == m->shutdown_mid) {
                m->shutdown_published = false;
                (void) mosquitto_disconnect(m->mosq);
        }
}

/* A SUBACK: the subscription it answers, found by mid. The callback may (un)subscribe: look again
 * after each call. */
static void mqtt_on_subscribe(struct mosquitto *mosq, void *userdata, int mid, int qos_count, const int *granted_qos) {
        Mqtt *m = userdata;

        for (size_t i = 0; mid != 0 && i < m->n_subs; i++) {
                _cleanup_free_ char *filter = NULL;

                if (m->subs[i].mid != mid)
                        continue;
                m->subs[i].mid = 0;
                if (!m->subscribed_fn)
                        continue;
                filter = strdup(m->subs[i].filter);
                if (!filter)
                        return;
                m->subscribed_fn(m, filter, m->subscribed_userdata);
                i = (size_t) -1;        /* from the start: the registry may have changed */
        }
}

static void mqtt_on_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *msg) {
        Mqtt *m = userdata;
        MqttSubscription match[MQTT_SUBSCRIPTIONS_MAX];
        size_t n = 0;

        if (!msg || !msg->topic)
                return;
        /* Callbacks may (un)subscribe: decide who gets it first, then call them. */
        for (size_t i = 0; i < m->n_subs; i++) {
                bool result = false;

                if (mosquitto_topic_matches_sub(m->subs[i].filter, msg->topic, &result) == MOSQ_ERR_SUCCESS &&
                    result)
                        match[n++] = m->subs[i];
        }
        if (n == 0) {
                log_fields(LOG_DEBUG, 0, &((LogFields) { .topic = msg->topic }),
                           "Ignoring MQTT message on %s: no subscriber", msg->topic);
                return;
        }
        for (size_t i = 0; i < n; i++)
                match[i].fn(m, msg->topic, msg->payload ?: "", (size_t) msg->payloadlen, msg->retain,
                            match[i].userdata);
}

/* ---------------- public API ---------------- */

int mqtt_new(Mqtt **ret, sd_event *event, const MqttConfig *config) {
        _cleanup_(mqtt_freep) Mqtt *m = NULL;
        int r;

        assert(ret && event && config && config->host && config->base_topic);

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->port = config->port;
        m->keepalive = config->keepalive;
        m->reconnect_max_usec = MAX((uint64_t) config->reconnect_max * USEC_PER_SEC, MQTT_RECONNECT_MIN_USEC);
        m->host = strdup(config->host);
        m->base_topic = strdup(config->base_topic);
        if (!m->host || !m->base_topic)
                return -ENOMEM;
        if (asprintf(&m->state_topic, "%s/bridge/state", m->base_topic) < 0) {
                m->state_topic = NULL;
                return -ENOMEM;
        }
        if (asprintf(&m->base_all, "%s/#", m->base_topic) < 0) {
                m->base_all = NULL;
                return -ENOMEM;
        }
        (void) snprintf(m->describe, sizeof(m->describe), "%s:%u", m->host, m->port);

        (void) mosquitto_lib_init();
        m->lib_initialized = true;
        m->mosq = mosquitto_new(config->client_id, true, m);
        if (!m->mosq)
                return errno > 0 ? -errno : -ENOMEM;

        /* MQTT 5 unless [mqtt] version = 4, for No Local (mqtt_send_subscribe); libmosquitto calls the
         * 3.1.1-style callbacks below on an MQTT 5 connection too. */
        m->protocol = config->version == 4 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
        m->may_fall_back = m->protocol == MQTT_PROTOCOL_V5;
        r = mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, m->protocol);
        if (r != MOSQ_ERR_SUCCESS)
                return log_error_errno(-EINVAL, "Cannot set the MQTT protocol version: %s", mosquitto_strerror(r));

        mosquitto_connect_callback_set(m->mosq, mqtt_on_connect);
        mosquitto_disconnect_callback_set(m->mosq, mqtt_on_disconnect);
        mosquitto_publish_callback_set(m->mosq, mqtt_on_publish);
        mosquitto_message_callback_set(m->mosq, mqtt_on_message);
        mosquitto_subscribe_callback_set(m->mosq, mqtt_on_subscribe);

        r = mosquitto_will_set(m->mosq, m->state_topic, (int) strlen(BRIDGE_OFFLINE), BRIDGE_OFFLINE, 1, true);
        if (r != MOSQ_ERR_SUCCESS)
                return -EINVAL;

        if (config->username || config->password) {
                r = mosquitto_username_pw_set(m->mosq, config->username ?: "", config->password);
                if (r != MOSQ_ERR_SUCCESS)
                        return r == MOSQ_ERR_NOMEM ? -ENOMEM : -EINVAL;
        }

        if (config->ca_file) {
                bool check_chain = config->tls_verify != MQTT_TLS_VERIFY_NONE;
                bool check_host = config->tls_verify == MQTT_TLS_VERIFY_FULL;

                /* By default the broker's certificate must chain to ca_file and name the host we
                 * connect to (libmosquitto checks the host name unless told it is insecure). Less
                 * only when [mqtt] tls_verify says so, and then loudly, at every connection. */
                r = mosquitto_tls_set(m->mosq, config->ca_file, NULL, config->cert_file, config->key_file, NULL);
                if (r != MOSQ_ERR_SUCCESS)
                        return log_full_errno_fields(LOG_ERR, -EINVAL, &((LogFields) { .error = "tls-config" }),
                                                     "Cannot use the TLS files of [mqtt]: %s",
                                                     mosquitto_strerror(r));
                r = mosquitto_tls_opts_set(m->mosq, check_chain ? 1 /* SSL_VERIFY_PEER */ : 0 /* SSL_VERIFY_NONE */,
                                           NULL, NULL);
                if (r != MOSQ_ERR_SUCCESS)
                        return log_error_errno(-EINVAL, "Cannot set TLS options: %s", mosquitto_strerror(r));
                r = mosquitto_tls_insecure_set(m->mosq, !check_host);
                if (r != MOSQ_ERR_SUCCESS)
                        return log_error_errno(-EINVAL, "Cannot set TLS options: %s", mosquitto_strerror(r));
                m->tls = true;
                if (!check_chain)
                        m->tls_insecure = "INSECURE: the broker's certificate is not verified at all "
                                          "([mqtt] tls_verify = none), anyone on the network path can pose as it";
                else if (!check_host)
                        m->tls_insecure = "INSECURE: the broker's host name is not verified "
                                          "([mqtt] tls_verify = no-hostname), any certificate of the CA can pose as it";
                if (m->tls_insecure)
                        log_warning("MQTT TLS: %s", m->tls_insecure);
        }

        *ret = TAKE_PTR(m);
        return 0;
}

Mqtt *mqtt_free(Mqtt *m) {
        if (!m)
                return NULL;
        m->io = sd_event_source_disable_unref(m->io);
        m->misc_timer = sd_event_source_disable_unref(m->misc_timer);
        m->reconnect_timer = sd_event_source_disable_unref(m->reconnect_timer);
        m->shutdown_timer = sd_event_source_disable_unref(m->shutdown_timer);
        if (m->mosq)
                mosquitto_destroy(m->mosq);
        if (m->lib_initialized)
                (void) mosquitto_lib_cleanup();
        for (size_t i = 0; i < m->n_subs; i++)
                free(m->subs[i].filter);
        for (size_t i = 0; i < m->n_pending; i++)
                pending_done(&m->pending[i]);
        free(m->pending);
        free(m->host);
        free(m->base_topic);
        free(m->state_topic);
        free(m->base_all);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

void mqtt_set_state_callback(Mqtt *m, MqttStateFn fn, void *userdata) {
        m->state_fn = fn;
        m->state_userdata = userdata;
}

int mqtt_start(Mqtt *m) {
        assert(m);
        if (m->state != MQTT_STATE_IDLE)
                return -EALREADY;
        return mqtt_connect(m);
}

static int mqtt_on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Mqtt *m = userdata;

        log_warning("MQTT broker %s did not acknowledge the offline state in time; disconnecting anyway",
                    m->describe);
        m->shutdown_published = false;
        (void) mosquitto_disconnect(m->mosq);
        m->lost = true;
        mqtt_after_loop(m, MOSQ_ERR_SUCCESS);
        return 0;
}

int mqtt_shutdown(Mqtt *m, MqttStoppedFn done, void *userdata) {
        int r;

        assert(m);

        m->reconnect_timer = sd_event_source_disable_unref(m->reconnect_timer);
        if (m->state != MQTT_STATE_CONNECTED) {
                /* Nothing to tell the broker: either it never saw us, or it already published our will. */
                if (m->state == MQTT_STATE_CONNECTING)
                        (void) mosquitto_disconnect(m->mosq);
                mqtt_drop_io(m);
                m->state = MQTT_STATE_STOPPED;
                if (done)
                        done(m, userdata);
                return 0;
        }

        m->state = MQTT_STATE_STOPPING;
        m->stopped_fn = done;
        m->stopped_userdata = userdata;
        r = mosquitto_publish(m->mosq, &m->shutdown_mid, m->state_topic, (int) strlen(BRIDGE_OFFLINE),
                              BRIDGE_OFFLINE, 1, true);
        if (r == MOSQ_ERR_SUCCESS)
                m->shutdown_published = true;
        else
                (void) mosquitto_disconnect(m->mosq);

        r = sd_event_add_time_relative(m->event, &m->shutdown_timer, CLOCK_MONOTONIC, MQTT_SHUTDOWN_TIMEOUT_USEC,
                                       0, mqtt_on_shutdown_timeout, m);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the MQTT shutdown timer, ignoring: %m");
        mqtt_update_io(m);
        return 0;
}

int mqtt_subscribe(Mqtt *m, const char *filter, int qos, MqttMessageFn fn, void *userdata) {
        char *copy;

        assert(m && filter && fn);
        if (mosquitto_sub_topic_check(filter) != MOSQ_ERR_SUCCESS || qos < 0 || qos > 2)
                return -EINVAL;
        if (m->n_subs >= MQTT_SUBSCRIPTIONS_MAX)
                return -ENOBUFS;
        copy = strdup(filter);
        if (!copy)
                return -ENOMEM;
        m->subs[m->n_subs++] = (MqttSubscription) { .filter = copy, .qos = qos, .fn = fn, .userdata = userdata,
                                                    .no_local = strcmp(filter, m->base_all) == 0 };
        if (m->state == MQTT_STATE_CONNECTED) {
                (void) mqtt_send_subscribe(m, &m->subs[m->n_subs - 1]);
                mqtt_update_io(m);
        }
        return 0;
}

void mqtt_set_subscribed_callback(Mqtt *m, MqttSubscribedFn fn, void *userdata) {
        m->subscribed_fn = fn;
        m->subscribed_userdata = userdata;
}

int mqtt_unsubscribe(Mqtt *m, const char *filter, MqttMessageFn fn, void *userdata) {
        bool still_used = false;
        int r = -ENOENT;

        assert(m && filter);
        for (size_t i = 0; i < m->n_subs; i++) {
                MqttSubscription *s = &m->subs[i];

                if (r == -ENOENT && strcmp(s->filter, filter) == 0 && s->fn == fn && s->userdata == userdata) {
                        free(s->filter);
                        memmove(s, s + 1, (m->n_subs - i - 1) * sizeof(*s));
                        m->n_subs--;
                        i--;
                        r = 0;
                } else if (strcmp(s->filter, filter) == 0)
                        still_used = true;
        }
        if (r == 0 && !still_used && m->state == MQTT_STATE_CONNECTED) {
                (void) mosquitto_unsubscribe(m->mosq, NULL, filter);
                mqtt_update_io(m);
        }
        return r;
}

int mqtt_add_connect_hook(Mqtt *m, MqttConnectHookFn fn, void *userdata) {
        assert(m && fn);
        if (m->n_hooks >= MQTT_HOOKS_MAX)
                return -ENOBUFS;
        m->hooks[m->n_hooks++] = (MqttHook) { .fn = fn, .userdata = userdata };
        return 0;
}

void mqtt_remove_connect_hook(Mqtt *m, MqttConnectHookFn fn, void *userdata) {
        for (size_t i = 0; i < m->n_hooks; i++)
                if (m->hooks[i].fn == fn && m->hooks[i].userdata == userdata) {
                        memmove(&m->hooks[i], &m->hooks[i + 1], (m->n_hooks - i - 1) * sizeof(m->hooks[0]));
                        m->n_hooks--;
                        return;
                }
}

static int mqtt_queue(Mqtt *m, const char *topic, const void *payload, size_t len, int qos, bool retain) {
        MqttPending p = { .len = len, .qos = qos, .retain = retain };

        /* A retained message replaces an older retained one on the same topic. */
        if (retain)
                for (size_t i = 0; i < m->n_pending; i++)
                        if (m->pending[i].retain && strcmp(m->pending[i].topic, topic) == 0) {
                                pending_remove(m, i);
                                break;
                        }

        while (m->n_pending > 0 && (m->n_pending >= MQTT_PENDING_MAX || m->pending_bytes + len > MQTT_PENDING_BYTES_MAX)) {
                size_t victim = 0;

                for (size_t i = 0; i < m->n_pending; i++)
                        if (!m->pending[i].retain) {
                                victim = i;
                                break;
                        }
                if (m->dropped++ == 0)
                        log_fields(LOG_WARNING, 0, &((LogFields) { .topic = m->pending[victim].topic,
                                                               .error = "mqtt-queue-overflow" }),
                                   "MQTT broker unreachable and %zu messages (%zu bytes) queued, the limit being "
                                   "%d messages or %u bytes: dropping the oldest (%s) and more as needed",
                                   m->n_pending, m->pending_bytes, MQTT_PENDING_MAX, MQTT_PENDING_BYTES_MAX,
                                   m->pending[victim].topic);
                pending_remove(m, victim);
        }

        p.topic = strdup(topic);
        p.payload = malloc(len ?: 1);
        if (!p.topic || !p.payload) {
                pending_done(&p);
                return -ENOMEM;
        }
        memcpy(p.payload, payload, len);
        if (m->n_pending == m->pending_size) {
                size_t n = MIN(MAX(m->pending_size * 2, (size_t) 8), (size_t) MQTT_PENDING_MAX);
                MqttPending *a = reallocarray(m->pending, n, sizeof(MqttPending));

                if (!a) {
                        pending_done(&p);
                        return -ENOMEM;
                }
                m->pending = a;
                m->pending_size = n;
        }
        m->pending[m->n_pending++] = p;
        m->pending_bytes += len;
        return 0;
}

int mqtt_publish(Mqtt *m, const char *topic, const void *payload, size_t len, int qos, bool retain) {
        int r;

        assert(m && topic && (payload || len == 0));

        if (mosquitto_pub_topic_check(topic) != MOSQ_ERR_SUCCESS || qos < 0 || qos > 2)
                return -EINVAL;
        if (len > MQTT_PUBLISH_MAX)
                return -EMSGSIZE;
        if (m->state == MQTT_STATE_STOPPING || m->state == MQTT_STATE_STOPPED)
                return -ESHUTDOWN;
        if (m->state != MQTT_STATE_CONNECTED)
                return mqtt_queue(m, topic, payload ?: "", len, qos, retain);

        if (m->in_flight >= MQTT_IN_FLIGHT_MAX) {
                if (m->refused_in_flight++ == 0)
                        log_fields(LOG_WARNING, 0, &((LogFields) { .topic = topic, .error = "mqtt-queue-overflow" }),
                                   "MQTT broker %s does not take our messages: %u are waiting, refusing more "
                                   "(first: %s) until it reads again", m->describe, MQTT_IN_FLIGHT_MAX, topic);
                return -ENOBUFS;
        }
        r = mosquitto_publish(m->mosq, NULL, topic, (int) len, payload, qos, retain);
        if (r == MOSQ_ERR_NO_CONN)
                return mqtt_queue(m, topic, payload ?: "", len, qos, retain);
        if (r != MOSQ_ERR_SUCCESS)
                return r == MOSQ_ERR_NOMEM ? -ENOMEM : -EIO;
        m->in_flight++;
        mqtt_update_io(m);
        return 0;
}

int mqtt_publish_string(Mqtt *m, const char *topic, const char *payload, int qos, bool retain) {
        return mqtt_publish(m, topic, payload, strlen(payload), qos, retain);
}

MqttState mqtt_get_state(const Mqtt *m) {
        return m->state;
}

const char *mqtt_base_topic(const Mqtt *m) {
        return m->base_topic;
}

const char *mqtt_describe(const Mqtt *m) {
        return m->describe;
}

size_t mqtt_pending_count(const Mqtt *m) {
        return m->n_pending;
}

size_t mqtt_in_flight(const Mqtt *m) {
        return m->in_flight;
}

uint64_t mqtt_reconnect_count(const Mqtt *m) {
        return m->connects > 1 ? m->connects - 1 : 0;
}

int mqtt_protocol_version(const Mqtt *m) {
        return m->protocol == MQTT_PROTOCOL_V5 ? 5 : 4;
}
