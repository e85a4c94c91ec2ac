/*
 * The MQTT device bridge: plug state and commands, bridge requests, events, availability and the
 * timing of Home Assistant discovery, as Zigbee2MQTT 2.14 does them. See bridge.h.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridge/bridge-private.h"
#include "util/log.h"
#include "util/macro.h"

#define SECOND_USEC 1000000ull
#define PING_RETRY_USEC (3 * SECOND_USEC)       /* Zigbee2MQTT sleeps 3 s between ping attempts */

/*
 * Small helpers
 */

uint64_t bridge_now(const Bridge *b) {
        return b->owner.now ? b->owner.now(b->userdata) : 0;
}

void bridge_format_ieee(uint64_t ieee, char buf[static 19]) {
        snprintf(buf, 19, "0x%016" PRIx64, ieee);
}

BridgePlug *bridge_find_plug(const Bridge *b, uint64_t ieee) {
        for (size_t i = 0; i < b->n_plugs; i++)
                if (b->plugs[i]->ieee == ieee)
                        return b->plugs[i];
        return NULL;
}

static uint64_t availability_timeout(const Bridge *b) {
        return b->cfg.availability_timeout_usec ?: BRIDGE_AVAILABILITY_TIMEOUT_USEC;
}

static void record_error(Bridge *b, const Device *d, const char *fmt, ...) _printf_(3, 4);
static void record_error(Bridge *b, const Device *d, const char *fmt, ...) {
        char ieee[19] = "";
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(b->last_error, sizeof(b->last_error), fmt, ap);
        va_end(ap);
        b->n_errors++;
        if (d)
                bridge_format_ieee(d->ieee, ieee);
        log_fields(LOG_ERR, 0, &((LogFields) { .device = d ? ieee : NULL, .name = d ? d->friendly_name : NULL }),
                   "%s", b->last_error);
}

const char *bridge_last_error(const Bridge *b) {
        return b->last_error;
}

unsigned bridge_error_count(const Bridge *b) {
        return b->n_errors;
}

static const char *error_text(int error) {
        switch (-error) {
        case ETIMEDOUT:    return "Timeout - the plug did not answer";
        case EHOSTUNREACH: return "Delivery failed - the plug could not be reached";
        case ECONNRESET:   return "The coordinator was reset or lost";
        case ENOBUFS:      return "Too many requests queued for this plug";
        case EIO:          return "The coordinator refused the request";
        default:           return strerror(-error);
        }
}

static const char *zcl_status_name(uint8_t s) {
        switch (s) {
        case ZCL_STATUS_FAILURE:               return "FAILURE";
        case ZCL_STATUS_MALFORMED_COMMAND:     return "MALFORMED_COMMAND";
        case ZCL_STATUS_UNSUP_COMMAND:         return "UNSUP_COMMAND";
        case ZCL_STATUS_UNSUPPORTED_ATTRIBUTE: return "UNSUPPORTED_ATTRIBUTE";
        case ZCL_STATUS_INVALID_VALUE:         return "INVALID_VALUE";
        case ZCL_STATUS_READ_ONLY:             return "READ_ONLY";
        case ZCL_STATUS_INVALID_DATA_TYPE:     return "INVALID_DATA_TYPE";
        default:                               return "UNKNOWN";
        }
}

static int publish(Bridge *b, const char *topic, const char *payload, bool retain, int qos) {
        int r;

        if (!b->connected || !b->mqtt.publish)
                return 0;
        r = b->mqtt.publish(b->userdata, topic, payload, strlen(payload), retain, qos);
        if (r < 0)
                log_warning_errno(r, "Failed to publish to '%s', ignoring: %m", topic);
        return r;
}

static int publish_under_base(Bridge *b, const char *suffix, const char *payload, bool retain, int qos) {
        _cleanup_free_ char *topic = NULL;

        if (asprintf(&topic, "%s/%s", b->cfg.base_topic, suffix) < 0)
                return -ENOMEM;
        return publish(b, topic, payload, retain, qos);
}

static int publish_json(Bridge *b, const char *suffix, json_object *o, bool retain, int qos) {
        _cleanup_free_ char *s = NULL;

        if (!o)
                return -ENOMEM;
        s = disc_json_sorted(o);
        if (!s)
                return -ENOMEM;
        return publish_under_base(b, suffix, s, retain, qos);
}

static Device *plug_device(const Bridge *b, const BridgePlug *p) {
        return devdb_find_by_ieee(b->db, p->ieee);
}

static bool device_option_bool(const Device *d, const char *key, bool def) {
        json_object *v;

        if (d && d->options && json_object_object_get_ex(d->options, key, &v) && json_object_is_type(v, json_type_boolean))
                return json_object_get_boolean(v);
        return def;
}

static int device_option_int(const Device *d, const char *key, int def) {
        json_object *v;

        if (d && d->options && json_object_object_get_ex(d->options, key, &v) && json_object_is_type(v, json_type_int))
                return json_object_get_int(v);
        return def;
}

/* Device options object -> plug options; keys that are not plug options (retain, qos, ...) are
 * Zigbee2MQTT device options and ignored here. */
static void plug_load_options(BridgePlug *p, const Device *d) {
        p->options = (PlugOptions) {};
        if (!d->options)
                return;
        json_object_object_foreach(d->options, k, v)
                (void) plug_options_set(&p->options, p->model, k, v, NULL, 0);
}

static int plug_add(Bridge *b, Device *d, BridgePlug **ret) {
        const PlugModel *m;
        BridgePlug *p, **a;

        if (!d->supported || d->interview != DEV_INTERVIEW_SUCCESSFUL)
                return 0;
        m = plug_model_find(d->basic.model_id);
        if (!m)
                return 0;
        p = bridge_find_plug(b, d->ieee);
        if (!p) {
                a = reallocarray(b->plugs, b->n_plugs + 1, sizeof(BridgePlug *));
                if (!a)
                        return -ENOMEM;
                b->plugs = a;
                p = calloc(1, sizeof(BridgePlug));
                if (!p)
                        return -ENOMEM;
                b->plugs[b->n_plugs++] = p;
                p->ieee = d->ieee;
                p->backoff = 1;
        }
        p->model = m;
        plug_load_options(p, d);
        if (d->state && plug_state_from_json(&p->state, m, d->state) >= 0)
                for (size_t i = 0; i < m->n_properties; i++)
                        p->have_state = p->have_state || p->state.known[i];
        if (!p->last_seen)
                p->last_seen = d->last_seen_usec;
        if (ret)
                *ret = p;
        return 1;
}

static void plug_drop(Bridge *b, uint64_t ieee) {
        for (size_t i = 0; i < b->n_plugs; i++)
                if (b->plugs[i]->ieee == ieee) {
                        free(b->plugs[i]);
                        memmove(b->plugs + i, b->plugs + i + 1, (b->n_plugs - i - 1) * sizeof(BridgePlug *));
                        b->n_plugs--;
                        break;
                }
        /* completions still on their way are ignored from now on */
        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (b->pending[i].token && b->pending[i].ieee == ieee &&
                    (b->pending[i].kind == PENDING_ACTION || b->pending[i].kind == PENDING_PING))
                        b->pending[i] = (Pending) {};
}

static void devdb_changed(Bridge *b, bool urgent) {
        if (b->owner.devdb_changed)
                b->owner.devdb_changed(b->userdata, urgent);
}

/* Device by friendly name, else by IEEE address string (Zigbee2MQTT's resolveEntity). */
static Device *resolve_device(Bridge *b, const char *id) {
        Device *d = devdb_find_by_name(b->db, id);
        uint64_t ieee;

        if (d)
                return d;
        if (devdb_parse_ieee(id, &ieee) >= 0)
                return devdb_find_by_ieee(b->db, ieee);
        return NULL;
}

/*
 * Pending work
 */

static Pending *pending_new(Bridge *b, PendingKind kind, uint64_t ieee) {
        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (!b->pending[i].token) {
                        Pending *p = &b->pending[i];
                        *p = (Pending) { .token = ++b->next_token, .kind = kind, .ieee = ieee };
                        return p;
                }
        return NULL;
}

static void pending_free(Pending *p) {
        if (p->request)
                json_object_put(p->request);
        *p = (Pending) {};
}

static Pending *pending_find(Bridge *b, uint64_t token) {
        if (token == 0)
                return NULL;
        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (b->pending[i].token == token)
                        return &b->pending[i];
        return NULL;
}

/*
 * State and availability
 */

static int publish_availability(Bridge *b, BridgePlug *p, Availability a, bool force) {
        Device *d = plug_device(b, p);
        _cleanup_free_ char *suffix = NULL;

        if (!b->cfg.availability || !d)
                return 0;
        if (!force && p->published == a)
                return 0;
        p->published = a;
        if (asprintf(&suffix, "%s/availability", d->friendly_name) < 0)
                return -ENOMEM;
        return publish_under_base(b, suffix, a == AVAILABILITY_ONLINE ? "{\"state\":\"online\"}" : "{\"state\":\"offline\"}",
                                  true, 1);
}

static void schedule_check(Bridge *b, BridgePlug *p, uint64_t now) {
        p->next_check = now + (uint64_t) ((double) (availability_timeout(b) + SECOND_USEC) * p->backoff);
}

/* Anything received from the plug: it is there. */
static void plug_seen(Bridge *b, BridgePlug *p) {
        uint64_t now = bridge_now(b);
        Device *d = plug_device(b, p);

        p->last_seen = now;
        p->backoff = 1;
        p->ping_attempts_left = 0;
        schedule_check(b, p, now);
        if (d)
                devdb_touch(b->db, d, now);
        (void) publish_availability(b, p, AVAILABILITY_ONLINE, false);
}

static bool plug_recently_seen(const Bridge *b, const BridgePlug *p, uint64_t now) {
        return p->last_seen != 0 && now >= p->last_seen && now - p->last_seen < availability_timeout(b);
}

static int publish_state(Bridge *b, BridgePlug *p, const PlugUpdate *u) {
        _cleanup_(bridge_json_putp) json_object *o = NULL;
        Device *d = plug_device(b, p);
        int r;

        if (!d)
                return 0;
        /* the database keeps what is known; the topic gets Zigbee2MQTT's nulls with discovery on */
        o = plug_state_to_json(&p->state, p->model, false, NULL);
        if (!o)
                return -ENOMEM;
        r = devdb_set_state(b->db, d, TAKE_PTR(o));
        if (r < 0)
                return r;
        devdb_changed(b, false);
        p->have_state = true;

        o = plug_state_to_json(&p->state, p->model, b->cfg.homeassistant, u);
        return publish_json(b, d->friendly_name, o,
                            device_option_bool(d, "retain", b->cfg.retain_state),
                            device_option_int(d, "qos", b->cfg.state_qos));
}

char *bridge_state_payload(Bridge *b, uint64_t ieee) {
        _cleanup_(bridge_json_putp) json_object *o = NULL;
        BridgePlug *p = bridge_find_plug(b, ieee);

        if (!p)
                return NULL;
        o = plug_state_to_json(&p->state, p->model, b->cfg.homeassistant, NULL);
        return o ? disc_json_sorted(o) : NULL;
}

/*
 * Home Assistant discovery
 */

DiscConfig bridge_disc_config(const Bridge *b) {
        return (DiscConfig) {
                .base_topic = b->cfg.base_topic,
                .discovery_prefix = b->cfg.discovery_prefix,
                .bridge_ieee = b->have_coordinator ? b->coordinator_ieee : NULL,
                .coordinator_type = b->coordinator.type,
                .coordinator_revision = b->have_coordinator ? b->coordinator_revision : NULL,
                .version = b->cfg.version,
        };
}

static int plug_disc_messages(Bridge *b, const BridgePlug *p, const Device *d, DiscMessages *out) {
        DiscConfig cfg = bridge_disc_config(b);
        char ieee[19];
        DiscDevice dev;

        bridge_format_ieee(d->ieee, ieee);
        dev = (DiscDevice) {
                .ieee = ieee,
                .friendly_name = d->friendly_name,
                .sw_version = d->basic.sw_build_id,
                .hw_version = d->basic.hw_version,
                .availability = b->cfg.availability,
        };
        return disc_device_messages(&cfg, p->model, &dev, out);
}

static void publish_messages(Bridge *b, const DiscMessages *msgs) {
        for (size_t i = 0; i < msgs->n; i++)
                (void) publish(b, msgs->items[i].topic, msgs->items[i].payload, true, 1);
}

static void discover_plug(Bridge *b, BridgePlug *p) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        Device *d = plug_device(b, p);
        int r;

        if (!b->cfg.homeassistant || !d || b->discovery_due)
                return;         /* during the wait for retained configs everything comes at its end */
        r = plug_disc_messages(b, p, d, &msgs);
        if (r < 0) {
                log_warning_errno(r, "Cannot build the discovery of '%s', ignoring: %m", d->friendly_name);
                return;
        }
        publish_messages(b, &msgs);
}

static void undiscover_plug(Bridge *b, const PlugModel *m, uint64_t ieee) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        DiscConfig cfg = bridge_disc_config(b);
        char s[19];

        if (!b->cfg.homeassistant)
                return;
        bridge_format_ieee(ieee, s);
        if (disc_device_clear_messages(&cfg, m, s, &msgs) >= 0)
                publish_messages(b, &msgs);
}

static void discover_all(Bridge *b) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        DiscConfig cfg = bridge_disc_config(b);

        if (!b->cfg.homeassistant)
                return;
        if (b->have_coordinator && disc_bridge_messages(&cfg, DISC_BRIDGE_ALL, &msgs) >= 0)
                publish_messages(b, &msgs);
        for (size_t i = 0; i < b->n_plugs; i++)
                discover_plug(b, b->plugs[i]);
}

static bool messages_have_topic(const DiscMessages *msgs, const char *topic) {
        for (size_t i = 0; i < msgs->n; i++)
                if (strcmp(msgs->items[i].topic, topic) == 0)
                        return true;
        return false;
}

/* A retained config seen while we wait at start: ours but for nothing we would publish -> clear
 * (Zigbee2MQTT's onMQTTMessage in homeassistant.js). */
static void on_discovery_message(Bridge *b, const char *topic, const char *payload) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        _cleanup_free_ char *node = NULL;
        DiscConfig cfg = bridge_disc_config(b);
        const char *rest = topic + strlen(b->cfg.discovery_prefix) + 1, *s1, *s2, *s3, *id;
        uint64_t ieee;
        bool keep = false;

        if (!b->discovery_due || payload[0] == 0 || !disc_payload_is_ours(&cfg, payload))
                return;
        /* <component>/<node_id>/<object_id>/config */
        s1 = strchr(rest, '/');
        s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        s3 = s2 ? strchr(s2 + 1, '/') : NULL;
        if (!s3 || strcmp(s3, "/config") != 0)
                return;
        node = strndup(s1 + 1, (size_t) (s2 - s1 - 1));
        if (!node)
                return;
        id = strchr(node, '_') ? strchr(node, '_') + 1 : node;

        if (b->have_coordinator && strcmp(id, b->coordinator_ieee) == 0)
                keep = disc_bridge_messages(&cfg, DISC_BRIDGE_ALL, &msgs) >= 0 && messages_have_topic(&msgs, topic);
        else if (devdb_parse_ieee(id, &ieee) >= 0) {
                BridgePlug *p = bridge_find_plug(b, ieee);
                Device *d = devdb_find_by_ieee(b->db, ieee);

                keep = p && d && plug_disc_messages(b, p, d, &msgs) >= 0 && messages_have_topic(&msgs, topic);
        }
        if (!keep) {
                log_debug("Clearing outdated Home Assistant config '%s'", topic);
                (void) publish(b, topic, "", true, 1);
        }
}

/*
 * Bridge topics
 */

static int publish_devices(Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *o = bridge_devices_json(b);
        return publish_json(b, "bridge/devices", o, true, 0);
}

static int publish_info(Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *o = bridge_info_json(b);
        return publish_json(b, "bridge/info", o, true, 0);
}

static int publish_event(Bridge *b, const char *type, json_object *data) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();

        if (!o || !data) {
                json_object_put(data);
                return -ENOMEM;
        }
        if (json_object_object_add(o, "type", json_object_new_string(type)) < 0 ||
            json_object_object_add(o, "data", data) < 0)
                return -ENOMEM;
        return publish_json(b, "bridge/event", o, false, 0);
}

static json_object *event_data(const Device *d, uint64_t ieee) {
        json_object *o = json_object_new_object();
        char s[19];

        if (!o)
                return NULL;
        bridge_format_ieee(ieee, s);
        (void) json_object_object_add(o, "friendly_name", json_object_new_string(d ? d->friendly_name : s));
        (void) json_object_object_add(o, "ieee_address", json_object_new_string(s));
        return o;
}

int bridge_republish_all(Bridge *b) {
        uint64_t now = bridge_now(b);

        (void) publish_under_base(b, "bridge/state", "{\"state\":\"online\"}", true, 1);
        (void) publish_info(b);
        (void) publish_devices(b);
        for (size_t i = 0; i < b->n_plugs; i++) {
                BridgePlug *p = b->plugs[i];

                if (p->have_state)
                        (void) publish_state(b, p, NULL);
                if (b->cfg.availability) {
                        bool up = plug_recently_seen(b, p, now);

                        (void) publish_availability(b, p, up ? AVAILABILITY_ONLINE : AVAILABILITY_OFFLINE, true);
                        /* an active device that is not available at start is checked at once */
                        if (!p->ping_pending)
                                p->next_check = up ? p->last_seen + availability_timeout(b) + SECOND_USEC : now;
                }
        }
        return 0;
}

int bridge_on_mqtt_connected(Bridge *b) {
        _cleanup_free_ char *all = NULL, *disc = NULL;
        int r;

        b->connected = true;
        if (asprintf(&all, "%s/#", b->cfg.base_topic) < 0)
                return -ENOMEM;
        if (b->mqtt.subscribe) {
                r = b->mqtt.subscribe(b->userdata, all);
                if (r < 0)
                        return r;
        }
        if (b->cfg.homeassistant && b->mqtt.subscribe) {
                r = b->mqtt.subscribe(b->userdata, b->cfg.ha_status_topic);
                if (r < 0)
                        return r;
                /* collect our retained configs for a while, then clear the stale ones and discover */
                if (asprintf(&disc, "%s/#", b->cfg.discovery_prefix) < 0)
                        return -ENOMEM;
                r = b->mqtt.subscribe(b->userdata, disc);
                if (r < 0)
                        return r;
                b->discovery_due = bridge_now(b) + BRIDGE_DISCOVERY_WAIT_USEC;
        }
        return bridge_republish_all(b);
}

void bridge_on_mqtt_disconnected(Bridge *b) {
        b->connected = false;
}

/*
 * /set and /get
 */

typedef struct DeviceEndpoints {
        PlugEndpoint eps[DEVDB_ENDPOINTS_MAX];
        size_t n;
} DeviceEndpoints;

static void device_endpoints(const Device *d, DeviceEndpoints *ret) {
        ret->n = 0;
        for (size_t i = 0; i < d->n_endpoints && i < DEVDB_ENDPOINTS_MAX; i++)
                ret->eps[ret->n++] = (PlugEndpoint) {
                        .id = d->endpoints[i].id,
                        .in_clusters = d->endpoints[i].in,
                        .n_in_clusters = d->endpoints[i].n_in,
                };
}

static void start_action(Bridge *b, BridgePlug *p, Device *d, const PlugAction *a, bool is_get, const char *key) {
        const char *type = is_get ? "get" : "set";
        Pending *pd;
        int r;

        if (!b->zigbee.send_action) {
                record_error(b, d, "Publish '%s' '%s' to '%s' failed: 'no Zigbee link'", type, key, d->friendly_name);
                return;
        }
        pd = pending_new(b, PENDING_ACTION, p->ieee);
        if (!pd) {
                record_error(b, d, "Publish '%s' '%s' to '%s' failed: 'too many requests in flight'",
                             type, key, d->friendly_name);
                return;
        }
        pd->action = *a;
        pd->is_get = is_get;
        snprintf(pd->key, sizeof(pd->key), "%s", key);
        r = b->zigbee.send_action(b->userdata, p->ieee, d->nwk, a, pd->token);
        if (r < 0) {
                pending_free(pd);
                record_error(b, d, "Publish '%s' '%s' to '%s' failed: '%s'", type, key, d->friendly_name, error_text(r));
        }
}

static void handle_set_get(Bridge *b, const char *name, bool is_get, const char *key, const char *payload, size_t len) {
        const char *type = is_get ? "get" : "set";
        DeviceEndpoints eps;
        PlugRequest req;
        BridgePlug *p;
        Device *d;
        int r;

        d = resolve_device(b, name);
        if (!d) {
                record_error(b, NULL, "Entity '%s' is unknown", name);
                return;
        }
        p = bridge_find_plug(b, d->ieee);
        if (!p) {
                record_error(b, d, "Cannot publish to unsupported device '%s'", d->friendly_name);
                return;
        }
        device_endpoints(d, &eps);
        if (is_get)
                r = plug_parse_get(p->model, key, payload, len, eps.eps, eps.n, &req);
        else
                r = plug_parse_set(p->model, key, payload, len, &p->state, eps.eps, eps.n, &req);
        if (r == -ENOMEM)
                return;

        for (size_t i = 0; i < req.n_errors; i++) {
                const PlugRequestError *e = &req.errors[i];

                if (e->key[0])
                        record_error(b, d, "Publish '%s' '%s' to '%s' failed: '%s'", type, e->key, d->friendly_name,
                                     e->message);
                else
                        record_error(b, d, "Invalid message to '%s' (%s): %s", d->friendly_name, type, e->message);
        }
        for (size_t i = 0; i < req.n_actions; i++)
                start_action(b, p, d, &req.actions[i], is_get, req.actions[i].property->name);
}

static void action_failed(Bridge *b, BridgePlug *p, Device *d, const Pending *pd, const char *reason) {
        record_error(b, d, "Publish '%s' '%s' to '%s' failed: '%s'", pd->is_get ? "get" : "set", pd->key,
                     d->friendly_name, reason);
}

static void complete_action(Bridge *b, Pending *pd, int error, const uint8_t *zcl, size_t len) {
        BridgePlug *p = bridge_find_plug(b, pd->ieee);
        Device *d = devdb_find_by_ieee(b->db, pd->ieee);
        uint8_t status;
        char reason[128];
        int r;

        if (!p || !d)
                return;
        if (error < 0) {
                action_failed(b, p, d, pd, error_text(error));
                /* commands that do not reach the plug make it unavailable until it talks again */
                if (error == -ETIMEDOUT || error == -EHOSTUNREACH)
                        (void) publish_availability(b, p, AVAILABILITY_OFFLINE, false);
                return;
        }
        if (!zcl) {
                action_failed(b, p, d, pd, "no answer from the plug");
                return;
        }
        r = plug_action_response_status(&pd->action, zcl, len, &status);
        if (r < 0) {
                action_failed(b, p, d, pd, r == -ENOMSG ? "the plug's answer does not match the request" :
                                                          "the plug's answer is malformed");
                return;
        }
        plug_seen(b, p);        /* it answered */
        if (status != ZCL_STATUS_SUCCESS) {
                snprintf(reason, sizeof(reason), "Status '%s' (0x%02x)", zcl_status_name(status), status);
                action_failed(b, p, d, pd, reason);
                return;
        }

        if (pd->action.kind == PLUG_ACTION_READ) {
                size_t lq = SIZE_MAX;
                PlugUpdate u = {};
                bool lq_known = false;
                double lq_value = 0;

                /* a read response carries no link quality of its own: keep the last one */
                if (plug_model_property(p->model, "linkquality", &lq)) {
                        lq_known = p->state.known[lq];
                        lq_value = p->state.value[lq];
                }
                r = plug_state_apply_frame(&p->state, p->model, &p->options, pd->action.endpoint, pd->action.cluster,
                                           zcl, len, 0, &u);
                if (lq != SIZE_MAX) {
                        p->state.known[lq] = lq_known;
                        p->state.value[lq] = lq_value;
                }
                if (r < 0) {
                        action_failed(b, p, d, pd, "the plug's read response is malformed");
                        return;
                }
                (void) publish_state(b, p, &u);
                return;
        }

        if (!pd->action.requested_known) {
                /* TOGGLE of a plug whose state we did not know: ask it what it is now */
                DeviceEndpoints eps;
                PlugRequest req;

                device_endpoints(d, &eps);
                if (plug_parse_get(p->model, pd->key, "{\"state\":\"\"}", strlen("{\"state\":\"\"}"),
                                   eps.eps, eps.n, &req) >= 0 && req.n_actions == 1)
                        start_action(b, p, d, &req.actions[0], true, pd->key);
                return;
        }
        r = plug_state_apply_confirmed(&p->state, p->model, &pd->action);
        if (r < 0) {
                action_failed(b, p, d, pd, "confirmed value cannot be stored");
                return;
        }
        (void) publish_state(b, p, NULL);
}

/*
 * Availability checks
 */

static void complete_ping(Bridge *b, Pending *pd, int error);

static void start_ping(Bridge *b, BridgePlug *p) {
        Device *d = plug_device(b, p);
        Pending *pd;
        int r;

        if (!d || !b->zigbee.ping)
                return;
        if (p->ping_attempts_left == 0)
                p->ping_attempts_left = p->published == AVAILABILITY_ONLINE ? 2 : 1;
        pd = pending_new(b, PENDING_PING, p->ieee);
        if (!pd)
                return;         /* tried again at the next tick */
        p->ping_pending = true;
        r = b->zigbee.ping(b->userdata, p->ieee, d->nwk, pd->token);
        if (r < 0) {
                /* a link that refuses to send counts as a failed check */
                Pending copy = *pd;

                pending_free(pd);
                complete_ping(b, &copy, r);
        }
}

static void complete_ping(Bridge *b, Pending *pd, int error) {
        BridgePlug *p = bridge_find_plug(b, pd->ieee);
        uint64_t now = bridge_now(b);
        bool was_online;

        if (!p)
                return;
        p->ping_pending = false;
        if (error >= 0) {
                plug_seen(b, p);
                return;
        }
        if (p->ping_attempts_left > 1) {
                p->ping_attempts_left--;
                p->next_check = now + PING_RETRY_USEC;
                return;
        }
        p->ping_attempts_left = 0;
        was_online = p->published == AVAILABILITY_ONLINE;
        if (!plug_recently_seen(b, p, now))
                (void) publish_availability(b, p, AVAILABILITY_OFFLINE, false);
        /* Zigbee2MQTT's backoff: the next check comes later after each failure */
        p->backoff *= was_online ? 1.5 : 2;
        schedule_check(b, p, now);
}

/*
 * Bridge requests
 */

static int respond(Bridge *b, const char *name, json_object *request, json_object *data, const char *error) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();
        _cleanup_(bridge_json_putp) json_object *owned_data = data;
        _cleanup_free_ char *suffix = NULL;
        json_object *t;

        if (!o)
                return -ENOMEM;
        if (error) {
                if (json_object_object_add(o, "data", json_object_new_object()) < 0 ||
                    json_object_object_add(o, "status", json_object_new_string("error")) < 0 ||
                    json_object_object_add(o, "error", json_object_new_string(error)) < 0)
                        return -ENOMEM;
                record_error(b, NULL, "Request '%s/bridge/request/%s' failed with error: '%s'", b->cfg.base_topic, name, error);
        } else {
                if (json_object_object_add(o, "data", owned_data ? TAKE_PTR(owned_data) : json_object_new_object()) < 0 ||
                    json_object_object_add(o, "status", json_object_new_string("ok")) < 0)
                        return -ENOMEM;
        }
        if (json_object_is_type(request, json_type_object) && json_object_object_get_ex(request, "transaction", &t))
                if (json_object_object_add(o, "transaction", json_object_get(t)) < 0)
                        return -ENOMEM;
        if (asprintf(&suffix, "bridge/response/%s", name) < 0)
                return -ENOMEM;
        return publish_json(b, suffix, o, false, 0);
}

static int respondf(Bridge *b, const char *name, json_object *request, const char *fmt, ...) _printf_(4, 5);
static int respondf(Bridge *b, const char *name, json_object *request, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return respond(b, name, request, NULL, msg);
}

/* JavaScript's Number.parseInt(String(v), 10): leading integer, else NaN (false). */
static bool js_parse_int(json_object *v, double *ret) {
        const char *s;
        char *end;
        long long n;

        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
                double d = json_object_get_double(v);
                if (!isfinite(d))
                        return false;
                *ret = trunc(d);
                return true;
        }
        if (!json_object_is_type(v, json_type_string))
                return false;
        s = json_object_get_string(v);
        while (isspace((unsigned char) *s))
                s++;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (end == s || errno != 0)
                return false;
        *ret = (double) n;
        return true;
}

static int request_permit_join(Bridge *b, const char *name, json_object *req) {
        json_object *v = req;
        double t = 0;
        bool valid;
        Pending *pd;
        int r;

        if (json_object_is_type(req, json_type_object)) {
                json_object *dev;

                if (!json_object_object_get_ex(req, "time", &v))
                        return respondf(b, name, req, "Invalid payload");
                if (json_object_object_get_ex(req, "device", &dev) && dev &&
                    !(json_object_is_type(dev, json_type_string) && json_object_get_string_len(dev) == 0)) {
                        const char *id = json_object_get_string(dev);
                        if (!resolve_device(b, id))
                                return respondf(b, name, req, "Device '%s' does not exist", id);
                        return respondf(b, name, req, "Permit join through a specific device is not supported");
                }
        }
        valid = js_parse_int(v, &t);
        /* herdsman: anything not > 0 (NaN too) closes; more than 254 is refused */
        if (valid && t > 254)
                return respondf(b, name, req, "Cannot permit join for more than 254 seconds.");
        if (!b->zigbee.permit_join)
                return respondf(b, name, req, "No Zigbee link");
        pd = pending_new(b, PENDING_PERMIT_JOIN, 0);
        if (!pd)
                return respondf(b, name, req, "Too many requests in flight");
        pd->request = json_object_get(req);
        snprintf(pd->topic_suffix, sizeof(pd->topic_suffix), "%s", name);
        pd->seconds = valid && t > 0 ? (unsigned) t : 0;
        pd->block = !valid;     /* answer "time": null as JSON.stringify(NaN) */
        r = b->zigbee.permit_join(b->userdata, pd->seconds, pd->token);
        if (r < 0) {
                pending_free(pd);
                return respondf(b, name, req, "%s", error_text(r));
        }
        return 0;
}

static void complete_permit_join(Bridge *b, Pending *pd, int error) {
        json_object *data;

        if (error < 0) {
                (void) respondf(b, pd->topic_suffix, pd->request, "%s", error_text(error));
                return;
        }
        data = json_object_new_object();
        if (data)
                (void) json_object_object_add(data, "time", pd->block ? NULL : json_object_new_int((int) pd->seconds));
        (void) respond(b, pd->topic_suffix, pd->request, data, NULL);
}

/* Zigbee2MQTT's validateFriendlyName (first error). */
static const char *friendly_name_error(const char *name, char *buf, size_t size) {
        size_t n = strlen(name), i;

        if (n == 0)
                return "friendly_name must be at least 1 char long";
        if (name[0] == '/' || name[n - 1] == '/')
                return "friendly_name is not allowed to end or start with /";
        for (i = 0; i < n; i++)
                if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f)
                        return "friendly_name is not allowed to contain control char";
        for (i = n; i > 0 && isdigit((unsigned char) name[i - 1]); i--)
                ;
        if (i > 0 && name[i - 1] == '/') {
                snprintf(buf, size, "Friendly name cannot end with a \"/DIGIT\" ('%s')", name);
                return buf;
        }
        if (strchr(name, '#') || strchr(name, '+')) {
                snprintf(buf, size, "MQTT wildcard (+ and #) not allowed in friendly_name ('%s')", name);
                return buf;
        }
        if (n > DEVDB_NAME_MAX) {
                snprintf(buf, size, "friendly_name is longer than %d bytes", DEVDB_NAME_MAX);
                return buf;
        }
        return NULL;
}

static const char *js_typeof(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:    return "object";
        case json_type_boolean: return "boolean";
        case json_type_double:
        case json_type_int:     return "number";
        case json_type_string:  return "string";
        default:                return "object";
        }
}

static int request_rename(Bridge *b, const char *name, json_object *req) {
        _cleanup_free_ char *to = NULL, *old = NULL, *old_avail = NULL;
        json_object *from_v = NULL, *to_v = NULL, *last_v, *ha_v, *data;
        bool last = false, ha_rename = false;
        char buf[256];
        const char *from, *err;
        uint64_t from_ieee = 0;
        BridgePlug *p;
        Device *d;
        int r;

        if (json_object_is_type(req, json_type_object)) {
                last = json_object_object_get_ex(req, "last", &last_v) && json_object_is_type(last_v, json_type_boolean) &&
                       json_object_get_boolean(last_v);
                if (!json_object_object_get_ex(req, "from", &from_v))
                        from_v = NULL;
                if (!json_object_object_get_ex(req, "to", &to_v))
                        to_v = NULL;
        }
        if (!json_object_is_type(req, json_type_object) || (!from_v && !last) || !json_object_object_get_ex(req, "to", NULL))
                return respondf(b, name, req, "Invalid payload");
        if (last && !b->last_joined)
                return respondf(b, name, req, "No device has joined since start");
        if (!json_object_is_type(to_v, json_type_string))
                return respondf(b, name, req, "to is not a string, got %s (%s)", js_typeof(to_v),
                                to_v ? json_object_to_json_string_ext(to_v, JSON_C_TO_STRING_PLAIN) : "null");
        if (last) {
                from_ieee = b->last_joined;
                d = devdb_find_by_ieee(b->db, from_ieee);
                bridge_format_ieee(from_ieee, buf);
                from = buf;
        } else {
                from = json_object_get_string(from_v);
                d = from ? resolve_device(b, from) : NULL;
        }
        if (!d)
                return respondf(b, name, req, "Device '%s' does not exist", from ? from : "null");

        /* the new name, trimmed as JavaScript's String.trim() */
        {
                const char *s = json_object_get_string(to_v);
                size_t n = strlen(s);
                while (n > 0 && isspace((unsigned char) *s))
                        s++, n--;
                while (n > 0 && isspace((unsigned char) s[n - 1]))
                        n--;
                to = strndup(s, n);
                if (!to)
                        return -ENOMEM;
        }
        ha_rename = json_object_object_get_ex(req, "homeassistant_rename", &ha_v) && json_object_get_boolean(ha_v);

        err = friendly_name_error(to, buf, sizeof(buf));
        if (err)
                return respondf(b, name, req, "%s", err);
        if (devdb_find_by_name(b->db, to))
                return respondf(b, name, req, "friendly_name '%s' is already in use", to);

        old = strdup(d->friendly_name);
        if (!old)
                return -ENOMEM;
        r = devdb_rename(b->db, d, to);
        if (r < 0)
                return respondf(b, name, req, "Cannot rename '%s' to '%s': %s", old, to, strerror(-r));
        devdb_changed(b, true);

        /* the old retained state (and availability) go; everything is published under the new name */
        (void) publish_under_base(b, old, "", true, 0);
        p = bridge_find_plug(b, d->ieee);
        if (p && b->cfg.availability) {
                if (asprintf(&old_avail, "%s/availability", old) < 0)
                        return -ENOMEM;
                (void) publish_under_base(b, old_avail, "", true, 1);
                (void) publish_availability(b, p, p->published == AVAILABILITY_UNKNOWN ? AVAILABILITY_ONLINE : p->published,
                                            true);
        }
        if (p && b->cfg.homeassistant) {
                if (ha_rename) {
                        /* clear first so that Home Assistant forgets the entity ids, then rediscover after
                         * a pause (zigbee2mqtt#12610: otherwise "_2" entities appear) */
                        undiscover_plug(b, p->model, p->ieee);
                        p->rediscover_at = bridge_now(b) + BRIDGE_HA_RENAME_DELAY_USEC;
                } else
                        discover_plug(b, p);
        }
        (void) publish_devices(b);
        (void) publish_info(b);
        if (p && p->have_state)
                (void) publish_state(b, p, NULL);

        data = json_object_new_object();
        if (!data)
                return -ENOMEM;
        (void) json_object_object_add(data, "from", json_object_new_string(old));
        (void) json_object_object_add(data, "to", json_object_new_string(to));
        (void) json_object_object_add(data, "homeassistant_rename", json_object_new_boolean(ha_rename));
        return respond(b, name, req, data, NULL);
}

/* The device goes: retained topics and discovery cleared, record dropped. */
static void drop_device(Bridge *b, Device *d) {
        _cleanup_free_ char *avail = NULL;
        BridgePlug *p = bridge_find_plug(b, d->ieee);
        uint64_t ieee = d->ieee;

        if (p) {
                undiscover_plug(b, p->model, ieee);
                if (b->cfg.availability && asprintf(&avail, "%s/availability", d->friendly_name) >= 0)
                        (void) publish_under_base(b, avail, "", true, 1);
        }
        (void) publish_under_base(b, d->friendly_name, "", true, 0);
        plug_drop(b, ieee);
        (void) devdb_remove(b->db, ieee);
        devdb_changed(b, true);
        if (b->last_joined == ieee)
                b->last_joined = 0;
        (void) publish_devices(b);
        (void) publish_info(b);
}

static json_object *remove_data(const Pending *pd) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        (void) json_object_object_add(o, "id", json_object_new_string(pd->id));
        (void) json_object_object_add(o, "block", json_object_new_boolean(pd->block));
        (void) json_object_object_add(o, "force", json_object_new_boolean(pd->force));
        (void) json_object_object_add(o, "keep_config", json_object_new_boolean(false));
        (void) json_object_object_add(o, "clear_cache", json_object_new_boolean(false));
        return o;
}

static int request_remove(Bridge *b, const char *name, json_object *req) {
        const char *id = NULL;
        json_object *v;
        Pending *pd;
        Device *d;
        int r;

        if (json_object_is_type(req, json_type_object)) {
                if (json_object_object_get_ex(req, "id", &v) && json_object_is_type(v, json_type_string))
                        id = json_object_get_string(v);
        } else if (json_object_is_type(req, json_type_string))
                id = json_object_get_string(req);
        if (!id)
                return respondf(b, name, req, "Invalid payload");
        d = resolve_device(b, id);
        if (!d)
                return respondf(b, name, req, "Device '%s' does not exist", id);

        pd = pending_new(b, PENDING_REMOVE, d->ieee);
        if (!pd)
                return respondf(b, name, req, "Too many requests in flight");
        pd->request = json_object_get(req);
        snprintf(pd->topic_suffix, sizeof(pd->topic_suffix), "%s", name);
        snprintf(pd->id, sizeof(pd->id), "%s", id);
        snprintf(pd->name, sizeof(pd->name), "%s", d->friendly_name);
        if (json_object_is_type(req, json_type_object)) {
                pd->block = json_object_object_get_ex(req, "block", &v) && json_object_get_boolean(v);
                pd->force = json_object_object_get_ex(req, "force", &v) && json_object_get_boolean(v);
        }
        if (pd->block) {
                pending_free(pd);
                return respondf(b, name, req, "Blocking devices is not supported");
        }
        if (pd->force) {
                /* force: only our database forgets it, the plug is not asked to leave */
                log_info("Removing device '%s' (force)", d->friendly_name);
                drop_device(b, d);
                r = respond(b, name, pd->request, remove_data(pd), NULL);
                pending_free(pd);
                return r;
        }
        if (!b->zigbee.remove_device) {
                pending_free(pd);
                return respondf(b, name, req, "No Zigbee link");
        }
        r = b->zigbee.remove_device(b->userdata, d->ieee, d->nwk, pd->token);
        if (r < 0) {
                bridge_complete(b, pd->token, r, NULL, 0);
                return 0;
        }
        return 0;
}

static void complete_remove(Bridge *b, Pending *pd, int error) {
        Device *d = devdb_find_by_ieee(b->db, pd->ieee);

        if (error < 0) {
                (void) respondf(b, pd->topic_suffix, pd->request,
                                "Failed to remove device '%s' (block: %s, force: %s, keep config: false, clear cache: false) "
                                "(Error: %s)", pd->name, pd->block ? "true" : "false", pd->force ? "true" : "false",
                                error_text(error));
                return;
        }
        if (d)
                drop_device(b, d);
        (void) respond(b, pd->topic_suffix, pd->request, remove_data(pd), NULL);
}

static int check_device_option(const BridgePlug *p, const char *key, json_object *v, char *err, size_t errlen) {
        PlugOptions scratch = {};
        int r;

        if (strcmp(key, "retain") == 0 || strcmp(key, "disabled") == 0 || strcmp(key, "optimistic") == 0) {
                if (!json_object_is_type(v, json_type_boolean)) {
                        snprintf(err, errlen, "%s must be boolean", key);
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "qos") == 0) {
                if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 0 || json_object_get_int(v) > 2) {
                        snprintf(err, errlen, "qos must be equal to one of the allowed values (0, 1, 2)");
                        return -EINVAL;
                }
                return 0;
        }
        if (!p)
                return 1;       /* not a plug: Zigbee2MQTT keeps what it does not know */
        r = plug_options_set(&scratch, p->model, key, v, err, errlen);
        if (r == -ENOENT)
                return 1;
        return r;
}

static int request_options(Bridge *b, const char *name, json_object *req) {
        _cleanup_(bridge_json_putp) json_object *from = NULL, *to = NULL;
        json_object *id_v, *opts, *data;
        char err[192];
        const char *id;
        BridgePlug *p;
        Device *d;
        int r;

        if (!json_object_is_type(req, json_type_object) || !json_object_object_get_ex(req, "id", &id_v) ||
            !json_object_object_get_ex(req, "options", &opts))
                return respondf(b, name, req, "Invalid payload");
        id = json_object_get_string(id_v);
        d = id ? resolve_device(b, id) : NULL;
        if (!d)
                return respondf(b, name, req, "Device '%s' does not exist", id ? id : "null");
        if (!json_object_is_type(opts, json_type_object))
                return respondf(b, name, req, "Invalid payload");
        p = bridge_find_plug(b, d->ieee);

        /* validate everything first: a refused option changes nothing */
        json_object_object_foreach(opts, k, v) {
                if (strcmp(k, "friendly_name") == 0 || strcmp(k, "devices") == 0)
                        continue;
                r = check_device_option(p, k, v, err, sizeof(err));
                if (r < 0)
                        return respondf(b, name, req, "%s", err);
                if (r > 0)
                        log_warning("Device '%s' does not support option '%s'", id, k);
        }

        if (d->options) {
                if (json_object_deep_copy(d->options, &from, NULL) < 0)
                        return -ENOMEM;
        } else if (!(from = json_object_new_object()))
                return -ENOMEM;
        if (json_object_deep_copy(from, &to, NULL) < 0)
                return -ENOMEM;
        json_object_object_foreach(opts, k2, v2) {
                if (strcmp(k2, "friendly_name") == 0 || strcmp(k2, "devices") == 0)
                        continue;
                if (!v2)
                        json_object_object_del(to, k2);         /* null removes, as Zigbee2MQTT's merge */
                else if (json_object_object_add(to, k2, json_object_get(v2)) < 0)
                        return -ENOMEM;
        }
        r = devdb_set_options(b->db, d, json_object_get(to));
        if (r < 0)
                return respondf(b, name, req, "Cannot store the options: %s", strerror(-r));
        devdb_changed(b, true);
        if (p)
                plug_load_options(p, d);        /* applied from the next report */
        (void) publish_info(b);

        data = json_object_new_object();
        if (!data)
                return -ENOMEM;
        (void) json_object_object_add(data, "from", TAKE_PTR(from));
        (void) json_object_object_add(data, "to", TAKE_PTR(to));
        (void) json_object_object_add(data, "id", json_object_get(id_v));
        (void) json_object_object_add(data, "restart_required", json_object_new_boolean(false));
        return respond(b, name, req, data, NULL);
}

static int handle_request(Bridge *b, const char *name, const char *payload, size_t len) {
        _cleanup_(bridge_json_putp) json_object *req = NULL;
        _cleanup_free_ char *lower = strdup(name);
        struct json_tokener *tok;

        if (!lower)
                return -ENOMEM;
        for (char *c = lower; *c; c++)
                *c = (char) tolower((unsigned char) *c);

        /* utils.parseJSON(message, message): the JSON value, else the text itself */
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        req = json_tokener_parse_ex(tok, payload, (int) len);
        if (json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
                json_object_put(req);
                req = json_object_new_string_len(payload, (int) len);
        }
        json_tokener_free(tok);

        if (strcmp(lower, "permit_join") == 0)
                return request_permit_join(b, name, req);
        if (strcmp(lower, "device/rename") == 0)
                return request_rename(b, name, req);
        if (strcmp(lower, "device/remove") == 0)
                return request_remove(b, name, req);
        if (strcmp(lower, "device/options") == 0)
                return request_options(b, name, req);
        if (strcmp(lower, "health_check") == 0) {
                json_object *data = json_object_new_object();
                if (!data)
                        return -ENOMEM;
                (void) json_object_object_add(data, "healthy", json_object_new_boolean(true));
                return respond(b, name, req, data, NULL);
        }
        if (strcmp(lower, "restart") == 0) {
                int r = respond(b, name, req, NULL, NULL);
                log_info("Restarting on request");
                if (b->owner.restart)
                        b->owner.restart(b->userdata);
                return r;
        }
        return respondf(b, name, req, "Request '%s' is not supported by lumiplugd", name);
}

/*
 * Incoming MQTT
 */

/* Zigbee2MQTT's ^<base>/(?!bridge)(.+?)/(get|set)(?:/(.+))?$ : the shortest name followed by
 * "/get" or "/set" and then the end or "/<key>". */
static bool parse_set_get_topic(const char *rest, char **ret_name, bool *ret_get, char **ret_key) {
        if (strncmp(rest, "bridge", 6) == 0)
                return false;
        for (const char *s = rest + 1; *s; s++) {
                if (s[-1] == 0 || *s != '/')
                        continue;
                if ((strncmp(s, "/set", 4) == 0 || strncmp(s, "/get", 4) == 0) && (s[4] == 0 || (s[4] == '/' && s[5]))) {
                        *ret_name = strndup(rest, (size_t) (s - rest));
                        *ret_get = s[1] == 'g';
                        *ret_key = s[4] ? strdup(s + 5) : NULL;
                        return *ret_name && (s[4] == 0 || *ret_key);
                }
        }
        return false;
}

int bridge_on_mqtt_message(Bridge *b, const char *topic, const void *payload, size_t len) {
        _cleanup_free_ char *text = NULL, *name = NULL, *key = NULL;
        size_t blen = strlen(b->cfg.base_topic), dlen = strlen(b->cfg.discovery_prefix);
        bool is_get;

        if (!topic)
                return 0;
        if (!payload)
                len = 0;
        text = malloc(len + 1);
        if (!text)
                return -ENOMEM;
        if (len)
                memcpy(text, payload, len);
        text[len] = 0;

        if (b->cfg.homeassistant && strcmp(topic, b->cfg.ha_status_topic) == 0) {
                if (strcasecmp(text, "online") == 0)
                        b->ha_online_due = bridge_now(b) + BRIDGE_HA_ONLINE_DELAY_USEC;
                return 0;
        }
        if (b->cfg.homeassistant && strncmp(topic, b->cfg.discovery_prefix, dlen) == 0 && topic[dlen] == '/') {
                if (strlen(text) == len)
                        on_discovery_message(b, topic, text);
                return 0;
        }
        if (strncmp(topic, b->cfg.base_topic, blen) != 0 || topic[blen] != '/')
                return 0;
        topic += blen + 1;

        if (strncmp(topic, "bridge/request/", 15) == 0 && topic[15])
                return handle_request(b, topic + 15, text, len) == -ENOMEM ? -ENOMEM : 0;
        if (parse_set_get_topic(topic, &name, &is_get, &key))
                handle_set_get(b, name, is_get, key, text, len);
        return 0;
}

/*
 * Zigbee events
 */

int bridge_on_zcl(Bridge *b, uint64_t ieee, uint8_t endpoint, uint16_t cluster, const uint8_t *zcl, size_t len,
                  uint8_t lqi) {
        BridgePlug *p = bridge_find_plug(b, ieee);
        Device *d = devdb_find_by_ieee(b->db, ieee);
        PlugUpdate u = {};
        int r;

        if (!p) {
                if (d)
                        devdb_touch(b->db, d, bridge_now(b));
                return 0;
        }
        plug_seen(b, p);
        r = plug_state_apply_frame(&p->state, p->model, &p->options, endpoint, cluster, zcl, len, lqi, &u);
        if (r < 0) {
                char s[19];
                bridge_format_ieee(ieee, s);
                log_fields(LOG_DEBUG, r, &((LogFields) { .device = s }),
                           "Malformed ZCL frame from '%s' (cluster 0x%04x), ignoring what follows the bad record: %m",
                           d ? d->friendly_name : s, cluster);
        }
        if (u.converted)
                return publish_state(b, p, &u);
        return 0;
}

static int device_seen_with_address(Bridge *b, uint64_t ieee, uint16_t nwk, Device **ret) {
        Device *d = devdb_find_by_ieee(b->db, ieee);
        int r;

        if (!d) {
                r = devdb_add(b->db, ieee, nwk, &d);
                if (r < 0)
                        return r;
                devdb_changed(b, true);
        } else if (devdb_set_nwk(b->db, d, nwk) > 0)
                devdb_changed(b, true);
        *ret = d;
        return 0;
}

int bridge_on_device_joined(Bridge *b, uint64_t ieee, uint16_t nwk) {
        Device *d;
        int r;

        r = device_seen_with_address(b, ieee, nwk, &d);
        if (r < 0)
                return r;
        b->last_joined = ieee;
        (void) publish_devices(b);
        return publish_event(b, "device_joined", event_data(d, ieee));
}

int bridge_on_device_announced(Bridge *b, uint64_t ieee, uint16_t nwk) {
        BridgePlug *p;
        Device *d;
        int r;

        r = device_seen_with_address(b, ieee, nwk, &d);
        if (r < 0)
                return r;
        p = bridge_find_plug(b, ieee);
        if (p)
                plug_seen(b, p);
        (void) publish_devices(b);
        return publish_event(b, "device_announce", event_data(d, ieee));
}

int bridge_on_device_left(Bridge *b, uint64_t ieee) {
        _cleanup_(bridge_json_putp) json_object *data = NULL;
        Device *d = devdb_find_by_ieee(b->db, ieee);

        if (!d)
                return 0;       /* herdsman: a leave of an unknown or already deleted device is not reported */
        log_notice("Device '%s' left the network", d->friendly_name);
        data = event_data(d, ieee);
        if (!data)
                return -ENOMEM;
        /* as herdsman: the device is forgotten (its retained topics and discovery stay) */
        plug_drop(b, ieee);
        (void) devdb_remove(b->db, ieee);
        devdb_changed(b, true);
        (void) publish_devices(b);
        return publish_event(b, "device_leave", TAKE_PTR(data));
}

int bridge_on_interview_started(Bridge *b, uint64_t ieee, uint16_t nwk) {
        json_object *data;
        Device *d;
        int r;

        r = device_seen_with_address(b, ieee, nwk, &d);
        if (r < 0)
                return r;
        d->interview = DEV_INTERVIEW_IN_PROGRESS;
        devdb_mark_dirty(b->db);
        (void) publish_devices(b);
        data = event_data(d, ieee);
        if (data)
                (void) json_object_object_add(data, "status", json_object_new_string("started"));
        return publish_event(b, "device_interview", data);
}

static int store_interview(Bridge *b, Device *d, const InterviewResult *res) {
        DevEndpoint eps[INTERVIEW_ENDPOINTS_MAX];
        const PlugModel *m;
        int r;

        d->logical_type = res->node.logical_type <= 2 ? (DevLogicalType) res->node.logical_type : DEV_LOGICAL_UNKNOWN;
        d->manufacturer_code = res->node.manufacturer_code;
        d->node_power = res->node.mac_capabilities & 0x04 ? DEV_NODE_POWER_MAINS : DEV_NODE_POWER_BATTERY;
        for (size_t i = 0; i < res->n_endpoints && i < INTERVIEW_ENDPOINTS_MAX; i++) {
                const SimpleDescriptor *sd = &res->endpoints[i];

                eps[i] = (DevEndpoint) { .id = sd->endpoint, .profile = sd->profile, .device_id = sd->device_id,
                                         .n_in = MIN(sd->n_in, DEVDB_CLUSTERS_MAX), .n_out = MIN(sd->n_out, DEVDB_CLUSTERS_MAX) };
                memcpy(eps[i].in, sd->in, eps[i].n_in * sizeof(uint16_t));
                memcpy(eps[i].out, sd->out, eps[i].n_out * sizeof(uint16_t));
        }
        r = devdb_set_endpoints(b->db, d, eps, MIN(res->n_endpoints, INTERVIEW_ENDPOINTS_MAX));
        if (r < 0)
                return r;
        if ((interview_has(res, INTERVIEW_ATTR_MODEL_ID) && (r = devdb_set_string(b->db, &d->basic.model_id, res->model_id)) < 0) ||
            (interview_has(res, INTERVIEW_ATTR_MANUFACTURER_NAME) &&
             (r = devdb_set_string(b->db, &d->basic.manufacturer_name, res->manufacturer_name)) < 0) ||
            (interview_has(res, INTERVIEW_ATTR_DATE_CODE) && (r = devdb_set_string(b->db, &d->basic.date_code, res->date_code)) < 0) ||
            (interview_has(res, INTERVIEW_ATTR_SW_BUILD_ID) &&
             (r = devdb_set_string(b->db, &d->basic.sw_build_id, res->sw_build_id)) < 0))
                return r;
        d->basic.power_source = interview_has(res, INTERVIEW_ATTR_POWER_SOURCE) ? res->power_source & 0x7f : -1;
        d->basic.zcl_version = interview_has(res, INTERVIEW_ATTR_ZCL_VERSION) ? res->zcl_version : -1;
        d->basic.app_version = interview_has(res, INTERVIEW_ATTR_APP_VERSION) ? res->app_version : -1;
        d->basic.stack_version = interview_has(res, INTERVIEW_ATTR_STACK_VERSION) ? res->stack_version : -1;
        d->basic.hw_version = interview_has(res, INTERVIEW_ATTR_HW_VERSION) ? res->hw_version : -1;
        m = plug_model_find(d->basic.model_id);
        d->supported = m != NULL;
        r = devdb_set_string(b->db, &d->model, m ? m->model : NULL);
        if (r < 0)
                return r;
        d->interview = DEV_INTERVIEW_SUCCESSFUL;
        devdb_mark_dirty(b->db);
        return 0;
}

int bridge_on_interview_done(Bridge *b, const InterviewResult *res) {
        json_object *data;
        BridgePlug *p = NULL;
        Device *d;
        int r;

        r = device_seen_with_address(b, res->ieee, res->nwk, &d);
        if (r < 0)
                return r;
        if (res->success) {
                r = store_interview(b, d, res);
                if (r < 0)
                        return r;
                r = plug_add(b, d, &p);
                if (r < 0)
                        return r;
        } else {
                d->interview = DEV_INTERVIEW_FAILED;
                devdb_mark_dirty(b->db);
                log_warning("Interview of '%s' failed: %s", d->friendly_name, res->reason);
        }
        devdb_changed(b, true);
        (void) publish_devices(b);

        data = event_data(d, res->ieee);
        if (!data)
                return -ENOMEM;
        (void) json_object_object_add(data, "status", json_object_new_string(res->success ? "successful" : "failed"));
        if (res->success) {
                const PlugModel *m = plug_model_find(d->basic.model_id);

                (void) json_object_object_add(data, "supported", json_object_new_boolean(m != NULL));
                if (m)
                        (void) json_object_object_add(data, "definition", bridge_definition_json(m));
        }
        r = publish_event(b, "device_interview", data);
        if (p) {
                plug_seen(b, p);
                discover_plug(b, p);
        }
        return r;
}

int bridge_on_address_changed(Bridge *b, uint64_t ieee, uint16_t nwk) {
        Device *d = devdb_find_by_ieee(b->db, ieee);

        if (!d || devdb_set_nwk(b->db, d, nwk) <= 0)
                return 0;
        devdb_changed(b, true);
        return publish_devices(b);
}

void bridge_on_coordinator_lost(Bridge *b) {
        for (size_t i = 0; i < b->n_plugs; i++) {
                b->plugs[i]->ping_attempts_left = 0;
                (void) publish_availability(b, b->plugs[i], AVAILABILITY_OFFLINE, false);
        }
}

void bridge_on_coordinator_restored(Bridge *b) {
        uint64_t now = bridge_now(b);

        /* every plug is checked at once; its answer (or any message) brings it back */
        for (size_t i = 0; i < b->n_plugs; i++) {
                b->plugs[i]->backoff = 1;
                b->plugs[i]->next_check = now;
        }
}

void bridge_on_permit_join_changed(Bridge *b, unsigned seconds) {
        b->permit_join_seconds = seconds;
        b->permit_join_end = seconds > 0 ? bridge_now(b) + (uint64_t) seconds * SECOND_USEC : 0;
        (void) publish_info(b);
}

void bridge_complete(Bridge *b, uint64_t token, int error, const uint8_t *zcl, size_t len) {
        Pending *pd = pending_find(b, token);
        Pending copy;

        if (!pd)
                return;
        /* the slot is freed before the work continues, which may start new work */
        copy = *pd;
        *pd = (Pending) {};
        switch (copy.kind) {
        case PENDING_ACTION:
                complete_action(b, &copy, error, zcl, len);
                break;
        case PENDING_PING:
                complete_ping(b, &copy, error);
                break;
        case PENDING_PERMIT_JOIN:
                complete_permit_join(b, &copy, error);
                break;
        case PENDING_REMOVE:
                complete_remove(b, &copy, error);
                break;
        default:
                break;
        }
        if (copy.request)
                json_object_put(copy.request);
}

/*
 * Time
 */

void bridge_tick(Bridge *b) {
        uint64_t now = bridge_now(b);

        if (b->discovery_due && now >= b->discovery_due) {
                _cleanup_free_ char *disc = NULL;

                b->discovery_due = 0;
                if (b->mqtt.unsubscribe && asprintf(&disc, "%s/#", b->cfg.discovery_prefix) >= 0)
                        (void) b->mqtt.unsubscribe(b->userdata, disc);
                if (b->connected)
                        discover_all(b);
        }
        if (b->ha_online_due && now >= b->ha_online_due) {
                b->ha_online_due = 0;
                /* bridge state first so Home Assistant marks the entities available, then the states */
                (void) publish_under_base(b, "bridge/state", "{\"state\":\"online\"}", true, 1);
                for (size_t i = 0; i < b->n_plugs; i++)
                        if (b->plugs[i]->have_state)
                                (void) publish_state(b, b->plugs[i], NULL);
        }
        for (size_t i = 0; i < b->n_plugs; i++) {
                BridgePlug *p = b->plugs[i];

                if (p->rediscover_at && now >= p->rediscover_at) {
                        p->rediscover_at = 0;
                        discover_plug(b, p);
                }
                if (b->cfg.availability && b->connected && !p->ping_pending && p->next_check && now >= p->next_check)
                        start_ping(b, p);
        }
}

uint64_t bridge_next_wakeup(const Bridge *b) {
        uint64_t t = UINT64_MAX;

        if (b->discovery_due)
                t = MIN(t, b->discovery_due);
        if (b->ha_online_due)
                t = MIN(t, b->ha_online_due);
        for (size_t i = 0; i < b->n_plugs; i++) {
                const BridgePlug *p = b->plugs[i];

                if (p->rediscover_at)
                        t = MIN(t, p->rediscover_at);
                if (b->cfg.availability && !p->ping_pending && p->next_check)
                        t = MIN(t, p->next_check);
        }
        return t;
}

/*
 * Life cycle
 */

void bridge_set_coordinator(Bridge *b, const BridgeCoordinator *c) {
        b->coordinator = *c;
        if (b->coordinator.n_endpoints > BRIDGE_COORDINATOR_ENDPOINTS_MAX)
                b->coordinator.n_endpoints = BRIDGE_COORDINATOR_ENDPOINTS_MAX;
        b->have_coordinator = true;
        bridge_format_ieee(c->ieee, b->coordinator_ieee);
        snprintf(b->coordinator_revision, sizeof(b->coordinator_revision), "%" PRIu32, c->revision);
        if (b->connected) {
                (void) publish_info(b);
                (void) publish_devices(b);
        }
}

int bridge_new(Bridge **ret, const BridgeConfig *cfg, DevDb *db, const BridgeMqttOps *mqtt, const BridgeZigbeeOps *zigbee,
               const BridgeOwnerOps *owner, void *userdata) {
        _cleanup_(bridge_freep) Bridge *b = NULL;
        int r;

        if (!ret || !cfg || !db || !mqtt || !zigbee || !owner || !cfg->base_topic || !*cfg->base_topic)
                return -EINVAL;
        b = calloc(1, sizeof(Bridge));
        if (!b)
                return -ENOMEM;
        b->cfg = *cfg;
        if (!b->cfg.discovery_prefix)
                b->cfg.discovery_prefix = "homeassistant";
        if (!b->cfg.ha_status_topic)
                b->cfg.ha_status_topic = "homeassistant/status";
        if (!b->cfg.log_level)
                b->cfg.log_level = "info";
        b->db = db;
        b->mqtt = *mqtt;
        b->zigbee = *zigbee;
        b->owner = *owner;
        b->userdata = userdata;

        for (size_t i = 0; i < devdb_count(db); i++) {
                r = plug_add(b, devdb_get(db, i), NULL);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

Bridge *bridge_free(Bridge *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (b->pending[i].token)
                        pending_free(&b->pending[i]);
        for (size_t i = 0; i < b->n_plugs; i++)
                free(b->plugs[i]);
        free(b->plugs);
        free(b);
        return NULL;
}
