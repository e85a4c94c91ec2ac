/*
 * The MQTT device bridge: plug state and commands, events, bridge topics, discovery timing and the
 * life cycle, as Zigbee2MQTT 2.14 does them. Requests: bridge-request.c; availability:
 * bridge-availability.c; bridge/devices and bridge/info: bridge-json.c. See bridge.h.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridge/bridge-private.h"
#include "util/json-text.h"
#include "util/log.h"
#include "util/macro.h"

#define SECOND_USEC 1000000ull

/*
 * Small helpers
 */

uint64_t bridge_now(const Bridge *b) {
        return b->owner.now ? b->owner.now(b->userdata) : 0;
}

void bridge_format_ieee(uint64_t ieee, char buf[static 19]) {
        snprintf(buf, 19, "0x%016" PRIx64, ieee);
}

const char *bridge_ieee_string(uint64_t ieee, char buf[static 19]) {
        bridge_format_ieee(ieee, buf);
        return buf;
}

BridgePlug *bridge_find_plug(const Bridge *b, uint64_t ieee) {
        if (!b->plug_index_incomplete)
                return ieee_index_get(&b->plug_index, ieee);
        for (size_t i = 0; i < b->n_plugs; i++)
                if (b->plugs[i]->ieee == ieee)
                        return b->plugs[i];
        return NULL;
}

/* Zigbee2MQTT publishes each log message that is not debug to bridge/logging as
 * {"level","message","namespace"} (its stringify sorts keys), not retained. The errors recorded here
 * (refused MQTT input, failed commands and requests) go there, each one: Zigbee2MQTT skips a payload
 * equal to the previous one, but with all its info lines in between that only drops immediate
 * repeats, while among errors alone it would hide a command that failed twice the same way. */
static void publish_logging(Bridge *b, const char *message) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();

        if (!o || json_object_object_add(o, "message", json_object_new_string(message)) < 0 ||
            json_object_object_add(o, "level", json_object_new_string("error")) < 0 ||
            json_object_object_add(o, "namespace", json_object_new_string("z2m")) < 0)
                return;
        (void) bridge_publish_json(b, "bridge/logging", o, false, 0);
}

void bridge_record_error(Bridge *b, const Device *d, const char *topic, const char *kind, const char *fmt, ...) {
        char ieee[19] = "";
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(b->last_error, sizeof(b->last_error), fmt, ap);
        va_end(ap);
        b->n_errors++;
        if (d)
                bridge_format_ieee(d->ieee, ieee);
        log_fields(LOG_ERR, 0, &((LogFields) { .device = d ? ieee : NULL, .name = d ? d->friendly_name : NULL,
                                               .topic = topic, .error = kind }),
                   "%s", b->last_error);
        publish_logging(b, b->last_error);
}

/* The short LUMIPLUGD_ERROR= kind of an error a Zigbee op completed with. */
const char *bridge_error_kind(int error) {
        switch (-error) {
        case ETIMEDOUT:    return "timeout";
        case EHOSTUNREACH: return "delivery-failed";
        case ENETUNREACH:  return "no-route";
        case EBUSY:        return "coordinator-busy";
        case ECONNRESET:   return "coordinator-lost";
        case ENOBUFS:      return "queue-full";
        case EIO:          return "coordinator-refused";
        case ENETDOWN:     return "coordinator-down";
        default:           return "failed";
        }
}

/* <base>/<name>/set or /get: where a command to d came from (for the logs of its end). */
void bridge_command_topic(const Bridge *b, const Device *d, bool is_get, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s/%s", b->cfg.base_topic, d->friendly_name, is_get ? "get" : "set");
}

const char *bridge_last_error(const Bridge *b) {
        return b->last_error;
}

unsigned bridge_error_count(const Bridge *b) {
        return b->n_errors;
}

const char *bridge_error_text(int error) {
        switch (-error) {
        case ETIMEDOUT:    return "Timeout - the plug did not answer";
        case EHOSTUNREACH: return "Delivery failed - the plug could not be reached";
        case ECONNRESET:   return "The coordinator was reset or lost";
        case ENOBUFS:      return "Too many requests queued for this plug";
        case EIO:          return "The coordinator refused the request";
        case ENETDOWN:     return "The coordinator is not connected";
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

int bridge_publish(Bridge *b, const char *topic, const char *payload, bool retain, int qos) {
        int r;

        bridge_call_on_publish(b, topic, payload);     /* a control socket client may wait for it too */
        if (!b->connected || !b->mqtt.publish)
                return 0;
        r = b->mqtt.publish(b->userdata, topic, payload, strlen(payload), retain, qos);
        if (r < 0)
                log_fields(LOG_WARNING, r, &((LogFields) { .topic = topic, .error = "publish-failed" }),
                           "Failed to publish to '%s', ignoring: %m", topic);
        return r;
}

int bridge_publish_under_base(Bridge *b, const char *suffix, const char *payload, bool retain, int qos) {
        _cleanup_free_ char *topic = NULL;

        if (asprintf(&topic, "%s/%s", b->cfg.base_topic, suffix) < 0)
                return -ENOMEM;
        return bridge_publish(b, topic, payload, retain, qos);
}

int bridge_publish_json(Bridge *b, const char *suffix, json_object *o, bool retain, int qos) {
        _cleanup_free_ char *s = NULL;

        if (!o)
                return -ENOMEM;
        s = disc_json_sorted(o);
        if (!s)
                return -ENOMEM;
        return bridge_publish_under_base(b, suffix, s, retain, qos);
}

void bridge_plug_timer_armed(Bridge *b, uint64_t at) {
        if (at)
                b->plug_timers_min = MIN(b->plug_timers_min, at);
}

/* discover_queued only through here: Bridge.n_discover_queued counts them */
static void set_discover_queued(Bridge *b, BridgePlug *p, bool queued) {
        if (p->discover_queued == queued)
                return;
        p->discover_queued = queued;
        if (queued)
                b->n_discover_queued++;
        else
                b->n_discover_queued--;
}

Device *bridge_plug_device(const Bridge *b, const BridgePlug *p) {
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
void bridge_plug_load_options(BridgePlug *p, const Device *d) {
        PlugOptions o = {};
        bool any = false;

        free(p->options);
        p->options = NULL;
        if (!d->options)
                return;
        json_object_object_foreach(d->options, k, v)
                if (plug_options_set(&o, p->model, k, v, NULL, 0) >= 0)
                        any = true;
        if (any) {
                p->options = malloc(sizeof(PlugOptions));
                if (p->options)
                        *p->options = o;
                else
                        log_error("Out of memory for the options of 0x%016" PRIx64 ", ignoring them", p->ieee);
        }
}

const PlugOptions *bridge_plug_options(const BridgePlug *p) {
        static const PlugOptions none = {};

        return p->options ?: &none;
}

void bridge_plug_free(BridgePlug *p) {
        if (!p)
                return;
        free(p->options);
        free(p);
}

/* What devices.json keeps of a plug's state: what is known (no nulls) as last published (a frame
 * that converts nothing, e.g. a bare linkquality change, is not kept, as Zigbee2MQTT's state cache
 * does not keep it), OTA without progress. */
static json_object *plug_db_state(const BridgePlug *p) {
        json_object *o = plug_state_to_json(&p->published_state, p->model, false, NULL);

        if (o && bridge_ota_decorate_state(p, o, true) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* The database's state provider (devdb_state_changed): asked only when devices.json is written. */
static json_object *db_state_provider(const Device *d, void *userdata) {
        Bridge *b = userdata;
        BridgePlug *p = bridge_find_plug(b, d->ieee);

        return p && p->model ? plug_db_state(p) : NULL;
}

/* The plug's live state handed to the database before the plug (or the bridge) goes away. */
static void plug_state_to_db(Bridge *b, BridgePlug *p) {
        Device *d = bridge_plug_device(b, p);
        json_object *o;

        if (!d || !d->state_live || !p->model)
                return;
        o = plug_db_state(p);
        if (o && devdb_set_state(b->db, d, o) < 0)
                json_object_put(o);
}

static int plug_add(Bridge *b, Device *d, BridgePlug **ret) {
        const PlugModel *m;
        BridgePlug *p, **a;
        bool live;

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
                if (ieee_index_put(&b->plug_index, p->ieee, p) < 0)
                        b->plug_index_incomplete = true;
                p->backoff = 1;
                bridge_plugs_changed(b);
        }
        /* known again (a new interview): its live state is newer than d->state (devdb_state_changed) */
        live = p->model && d->state_live;
        p->model = m;
        bridge_plug_load_options(p, d);
        if (!live && d->state && plug_state_from_json(&p->state, m, d->state) >= 0)
                for (size_t i = 0; i < m->n_properties; i++)
                        p->have_state = p->have_state || p->state.known[i];
        for (size_t i = 0; i < b->cfg.n_devices; i++)
                if (b->cfg.devices[i].ieee == d->ieee)
                        p->config = &b->cfg.devices[i];
        bridge_background_changed(b);   /* its poll interval */
        bridge_energy_plug_added(b, p, d);
        bridge_settings_request(b, p, 0);       /* read back once the coordinator is up and it is available */
        if (!p->last_seen)
                p->last_seen = d->last_seen_usec;
        if (!live)
                bridge_ota_load(p, d);
        if (ret)
                *ret = p;
        return 1;
}

void bridge_plug_drop(Bridge *b, uint64_t ieee) {
        for (size_t i = 0; i < b->n_plugs; i++)
                if (b->plugs[i]->ieee == ieee) {
                        plug_state_to_db(b, b->plugs[i]);
                        set_discover_queued(b, b->plugs[i], false);
                        (void) ieee_index_remove(&b->plug_index, ieee);
                        bridge_plug_free(b->plugs[i]);
                        memmove(b->plugs + i, b->plugs + i + 1, (b->n_plugs - i - 1) * sizeof(BridgePlug *));
                        b->n_plugs--;
                        bridge_plugs_changed(b);
                        break;
                }
        /* completions still on their way are ignored from now on */
        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++) {
                Pending *pd = b->pending[i];

                if (pd && pd->ieee == ieee &&
                    (pd->kind == PENDING_ACTION || pd->kind == PENDING_PING ||
                     pd->kind == PENDING_POLL || pd->kind == PENDING_SETTINGS))
                        bridge_pending_free(pd);
        }
}

void bridge_devdb_changed(Bridge *b, bool urgent) {
        if (b->owner.devdb_changed)
                b->owner.devdb_changed(b->userdata, urgent);
}

/* Device by friendly name, else by IEEE address string (Zigbee2MQTT's resolveEntity). */
Device *bridge_resolve_device(Bridge *b, const char *id) {
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

Pending *bridge_pending_new(Bridge *b, PendingKind kind, uint64_t ieee) {
        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (!b->pending[i]) {
                        Pending *p = malloc(sizeof(Pending));

                        if (!p)
                                return NULL;
                        *p = (Pending) { .slot = &b->pending[i], .token = ++b->next_token, .kind = kind, .ieee = ieee };
                        return b->pending[i] = p;
                }
        return NULL;
}

void bridge_pending_free(Pending *p) {
        if (!p)
                return;
        if (p->request)
                json_object_put(p->request);
        *p->slot = NULL;
        free(p);
}

static Pending *pending_find(Bridge *b, uint64_t token) {
        if (token == 0)
                return NULL;
        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (b->pending[i] && b->pending[i]->token == token)
                        return b->pending[i];
        return NULL;
}

/*
 * State and availability
 */

/* The state message, written straight from the PlugState (no json-c tree): byte for byte
 * disc_json_sorted() of plug_state_to_json() + bridge_ota_decorate_state(). */
char *bridge_state_text(const BridgePlug *p, bool fill_nulls, const PlugUpdate *u, bool for_database) {
        JsonText update = {}, t = {};
        int r;

        r = bridge_ota_update_text(p, for_database, &update);
        if (r >= 0)
                r = plug_state_format_json(&p->state, p->model, fill_nulls, u, r > 0 ? update.s : NULL, &t);
        json_text_done(&update);
        if (r < 0) {
                json_text_done(&t);
                return NULL;
        }
        return json_text_steal(&t);
}

int bridge_publish_state(Bridge *b, BridgePlug *p, const PlugUpdate *u) {
        _cleanup_free_ char *text = NULL;
        Device *d = bridge_plug_device(b, p);
        size_t base_len, name_len;
        char topic[512];
        bool retain;
        int qos;

        if (!d)
                return 0;
        /* the database asks for the state (plug_db_state: what is known, no nulls) when it writes */
        p->published_state = p->state;
        devdb_state_changed(b->db, d);
        /* urgent: saved now, before the publish (energy_monotonic's crash safety, bridge-energy.c) */
        bridge_devdb_changed(b, p->save_before_publish);
        p->save_before_publish = false;
        p->have_state = true;

        text = bridge_state_text(p, b->cfg.homeassistant, u, false);
        if (!text)
                return -ENOMEM;
        retain = device_option_bool(d, "retain", b->cfg.retain_state);
        qos = device_option_int(d, "qos", b->cfg.state_qos);
        /* <base>/<name> without asprintf (a report's every publish goes through here) */
        base_len = strlen(b->cfg.base_topic);
        name_len = strlen(d->friendly_name);
        if (base_len + name_len + 2 > sizeof(topic))
                return bridge_publish_under_base(b, d->friendly_name, text, retain, qos);
        memcpy(topic, b->cfg.base_topic, base_len);
        topic[base_len] = '/';
        memcpy(topic + base_len + 1, d->friendly_name, name_len + 1);
        return bridge_publish(b, topic, text, retain, qos);
}

char *bridge_state_payload(Bridge *b, uint64_t ieee) {
        BridgePlug *p = bridge_find_plug(b, ieee);

        if (!p)
                return NULL;
        return bridge_state_text(p, b->cfg.homeassistant, NULL, false);
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

int bridge_plug_disc_messages(Bridge *b, const BridgePlug *p, const Device *d, DiscMessages *out) {
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
                .extras = bridge_energy_discovery_extras(b, p),
        };
        return disc_device_messages(&cfg, p->model, &dev, out);
}

static void publish_messages(Bridge *b, const DiscMessages *msgs) {
        for (size_t i = 0; i < msgs->n; i++)
                (void) bridge_publish(b, msgs->items[i].topic, msgs->items[i].payload, true, 1);
}

/* The configs the broker does not hold already (Zigbee2MQTT's "Skipping discovery ..., already
 * discovered"). */
static void publish_changed_messages(Bridge *b, const DiscMessages *msgs) {
        for (size_t i = 0; i < msgs->n; i++)
                if (!bridge_retained_take(b, msgs->items[i].topic, msgs->items[i].payload))
                        (void) bridge_publish(b, msgs->items[i].topic, msgs->items[i].payload, true, 1);
}

void bridge_discover_plug(Bridge *b, BridgePlug *p) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        Device *d = bridge_plug_device(b, p);
        int r;

        set_discover_queued(b, p, false);
        if (!b->cfg.homeassistant || !d || b->discovery_due)
                return;         /* during the wait for retained configs everything comes at its end */
        r = bridge_plug_disc_messages(b, p, d, &msgs);
        if (r < 0) {
                char s[19];

                bridge_format_ieee(d->ieee, s);
                log_fields(LOG_WARNING, r, &((LogFields) { .device = s, .name = d->friendly_name, .error = "discovery-failed" }),
                           "Cannot build the discovery of '%s', ignoring: %m", d->friendly_name);
                return;
        }
        publish_changed_messages(b, &msgs);
}

void bridge_undiscover_plug(Bridge *b, const PlugModel *m, uint64_t ieee) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {}, extra = {};
        const BridgePlug *p = bridge_find_plug(b, ieee);
        DiscConfig cfg = bridge_disc_config(b);
        char s[19];

        if (!b->cfg.homeassistant)
                return;
        bridge_retained_clear(b);       /* what the broker held is going */
        bridge_format_ieee(ieee, s);
        if (disc_device_clear_messages(&cfg, m, s, &msgs) >= 0)
                publish_messages(b, &msgs);
        if (p && disc_device_clear_extra_messages(&cfg, m, s, bridge_energy_discovery_extras(b, p), &extra) >= 0)
                publish_messages(b, &extra);
}

/* Publishes the configs of queued plugs, one plug at least, then more while the MQTT client holds
 * fewer than BRIDGE_DISCOVERY_BACKLOG_MAX messages (a plug has about 20): 200 plugs' configs (about
 * 3 MB) never sit in its memory all at once. bridge_tick() goes on where this stopped. */
static void discover_queued_plugs(Bridge *b) {
        bool sent = false;

        if (!b->connected)
                return;
        for (size_t i = 0; i < b->n_plugs && b->n_discover_queued > 0; i++) {
                BridgePlug *p = b->plugs[i];

                if (!p->discover_queued)
                        continue;
                if (sent && b->mqtt_backlog && b->mqtt_backlog(b->userdata) >= BRIDGE_DISCOVERY_BACKLOG_MAX)
                        return;
                bridge_discover_plug(b, p);
                sent = true;
        }
        if (!b->discovery_due)
                bridge_retained_clear(b);       /* every plug is done: what is left is no longer current */
}

bool bridge_discovery_queued(const Bridge *b) {
        return b->connected && b->n_discover_queued > 0;
}

void bridge_discover_all(Bridge *b) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        DiscConfig cfg = bridge_disc_config(b);

        if (!b->cfg.homeassistant)
                return;
        if (b->have_coordinator && disc_bridge_messages(&cfg, DISC_BRIDGE_ALL, &msgs) >= 0)
                publish_changed_messages(b, &msgs);
        for (size_t i = 0; i < b->n_plugs; i++)
                set_discover_queued(b, b->plugs[i], true);      /* bridge_tick() goes on with them */
}

static char *discovery_filter(const Bridge *b) {
        char *s;

        return asprintf(&s, "%s/+/+/+/config", b->cfg.discovery_prefix) < 0 ? NULL : s;
}

/* Our subscriptions, in this order: the config wildcard first (when asked), then <base>/# and Home
 * Assistant's status topic. The broker answers a client's packets in order, and mosquitto writes a
 * QoS 0 subscription's retained messages before it reads the next packet: when the SUBACK of the last
 * one comes, the wildcard's retained configs have all come before it (bridge_on_mqtt_subscribed). The
 * MQTT client renews them in the same order after a reconnect. */
static int subscribe_all(Bridge *b, bool wildcard) {
        _cleanup_free_ char *all = NULL, *disc = NULL;
        int r;

        if (wildcard) {
                disc = discovery_filter(b);
                if (!disc)
                        return -ENOMEM;
                r = b->mqtt.subscribe(b->userdata, disc);
                if (r < 0)
                        return r;
                b->discovery_wildcard = true;
        }
        if (asprintf(&all, "%s/#", b->cfg.base_topic) < 0)
                return -ENOMEM;
        r = b->mqtt.subscribe(b->userdata, all);
        if (r < 0)
                return r;
        if (b->cfg.homeassistant)
                return b->mqtt.subscribe(b->userdata, b->cfg.ha_status_topic);
        return 0;
}

void bridge_unsubscribe_wildcard(Bridge *b) {
        _cleanup_free_ char *disc = NULL;

        if (!b->discovery_wildcard || !b->mqtt.unsubscribe)
                return;
        disc = discovery_filter(b);
        if (disc)
                (void) b->mqtt.unsubscribe(b->userdata, disc);
        b->discovery_wildcard = false;
}

/*
 * Bridge topics
 */

int bridge_publish_devices(Bridge *b) {
        char *s = bridge_devices_payload(b);
        int r;

        if (!s)
                return -ENOMEM;
        r = bridge_publish_under_base(b, "bridge/devices", s, true, 0);
        free(s);
        /* The largest message (~6 KiB a plug): give back to the kernel what building it freed in
         * the heap (VmRSS; the peak itself, VmHWM, is not changed by this). */
        (void) malloc_trim(0);
        return r;
}

int bridge_publish_info(Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *o = bridge_info_json(b);
        return bridge_publish_json(b, "bridge/info", o, true, 0);
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
        return bridge_publish_json(b, "bridge/event", o, false, 0);
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

        /* bridge/state belongs to the MQTT client (its last will and the "online" of every connect) */
        (void) bridge_publish_info(b);
        (void) bridge_publish_devices(b);
        for (size_t i = 0; i < b->n_plugs; i++) {
                BridgePlug *p = b->plugs[i];

                if (p->have_state)
                        (void) bridge_publish_state(b, p, NULL);
                if (b->cfg.availability) {
                        bool up = bridge_plug_recently_seen(b, p, now);

                        (void) bridge_publish_availability(b, p, up ? AVAILABILITY_ONLINE : AVAILABILITY_OFFLINE, true);
                        /* an active device that is not available at start is checked at once */
                        if (!p->ping_pending) {
                                p->next_check = up ? p->last_seen + bridge_availability_timeout(b) + SECOND_USEC : now;
                                bridge_plug_timer_armed(b, p->next_check);
                        }
                }
        }
        return 0;
}

int bridge_on_mqtt_connected(Bridge *b) {
        int r;

        b->connected = true;
        /* The MQTT client keeps subscriptions across reconnects: subscribe once. Only the shape of topic
         * we publish, <prefix>/<component>/<node>/<object>/config, and only while we wait for the
         * retained configs: our subscriptions are our own topics plus this. */
        if (!b->subscribed && b->mqtt.subscribe) {
                r = subscribe_all(b, b->cfg.homeassistant);
                if (r < 0)
                        return r;
                b->subscribed = true;
        }
        /* At every connect, collect our retained configs until the broker has sent them, clear the
         * stale ones and publish the others that it does not hold as they are: a broker that
         * restarted without persistence (mosquitto's default) lost them all and gets them all again
         * (Zigbee2MQTT sends only bridge/state then, and waits for Home Assistant's birth). */
        if (b->cfg.homeassistant)
                bridge_discovery_wait_start(b);
        return bridge_republish_all(b);
}

void bridge_on_mqtt_disconnected(Bridge *b) {
        _cleanup_free_ char *all = NULL;
        bool was = b->connected;

        b->connected = false;
        if (!was || !b->subscribed || !b->cfg.homeassistant || !b->mqtt.unsubscribe)
                return;
        /* The reconnect renews the subscriptions in their order: the wildcard first again. Nothing
         * is sent now (the client only keeps the list while the broker is away). */
        bridge_unsubscribe_wildcard(b);
        if (asprintf(&all, "%s/#", b->cfg.base_topic) < 0)
                return;
        (void) b->mqtt.unsubscribe(b->userdata, all);
        (void) b->mqtt.unsubscribe(b->userdata, b->cfg.ha_status_topic);
        if (subscribe_all(b, true) < 0)
                log_warning("Cannot renew the MQTT subscriptions for the reconnect");
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

static void start_action(Bridge *b, BridgePlug *p, Device *d, const PlugAction *a, bool is_get, const char *key,
                         uint64_t call) {
        const char *type = is_get ? "get" : "set";
        char topic[BRIDGE_TOPIC_MAX];
        Pending *pd;
        int r;

        bridge_command_topic(b, d, is_get, topic, sizeof(topic));
        if (!b->zigbee.send_action) {
                bridge_record_error(b, d, topic, "coordinator-down", "Publish '%s' '%s' to '%s' failed: 'no Zigbee link'",
                                    type, key, d->friendly_name);
                bridge_call_error(b, call, "failed", "no Zigbee link");
                return;
        }
        pd = bridge_pending_new(b, PENDING_ACTION, p->ieee);
        if (!pd) {
                bridge_record_error(b, d, topic, "queue-full", "Publish '%s' '%s' to '%s' failed: 'too many requests in flight'",
                             type, key, d->friendly_name);
                bridge_call_error(b, call, "busy", "too many requests in flight");
                return;
        }
        pd->action = *a;
        pd->is_get = is_get;
        pd->call = call;
        snprintf(pd->key, sizeof(pd->key), "%s", key);
        bridge_call_hold(b, call);
        r = b->zigbee.send_action(b->userdata, p->ieee, d->nwk, a, pd->token);
        if (r < 0) {
                bridge_pending_free(pd);
                bridge_record_error(b, d, topic, bridge_error_kind(r), "Publish '%s' '%s' to '%s' failed: '%s'", type, key,
                                    d->friendly_name, bridge_error_text(r));
                bridge_call_release(b, call, r == -ENOBUFS ? "busy" : "failed", bridge_error_text(r));
        }
}

void bridge_set_get(Bridge *b, Device *d, BridgePlug *p, bool is_get, const char *key, const char *payload,
                    size_t len, uint64_t call) {
        const char *type = is_get ? "get" : "set";
        char topic[BRIDGE_TOPIC_MAX];
        DeviceEndpoints eps;
        PlugRequest req;
        int r;

        bridge_command_topic(b, d, is_get, topic, sizeof(topic));
        device_endpoints(d, &eps);
        if (is_get)
                r = plug_parse_get(p->model, key, payload, len, eps.eps, eps.n, &req);
        else
                r = plug_parse_set(p->model, key, payload, len, &p->state, eps.eps, eps.n, &req);
        if (r == -ENOMEM) {
                bridge_call_error(b, call, "internal", "out of memory");
                return;
        }

        for (size_t i = 0; i < req.n_errors; i++) {
                const PlugRequestError *e = &req.errors[i];
                char msg[300];

                if (e->key[0])
                        bridge_record_error(b, d, topic, "invalid-value", "Publish '%s' '%s' to '%s' failed: '%s'", type,
                                            e->key, d->friendly_name, e->message);
                else
                        bridge_record_error(b, d, topic, "invalid-payload", "Invalid message to '%s' (%s): %s",
                                            d->friendly_name, type, e->message);
                (void) snprintf(msg, sizeof(msg), "%s%s%s", e->key, e->key[0] ? ": " : "", e->message);
                bridge_call_error(b, call, e->error == -ENOENT || e->error == -EACCES ? "bad-argument" : "bad-value", msg);
        }
        for (size_t i = 0; i < req.n_actions; i++)
                start_action(b, p, d, &req.actions[i], is_get, req.actions[i].property->name, call);
}

static void handle_set_get(Bridge *b, const char *topic, const char *name, bool is_get, const char *key,
                           const char *payload, size_t len) {
        BridgePlug *p;
        Device *d;

        d = bridge_resolve_device(b, name);
        if (!d) {
                bridge_record_error(b, NULL, topic, "unknown-entity", "Entity '%s' is unknown", name);
                return;
        }
        p = bridge_find_plug(b, d->ieee);
        if (!p) {
                bridge_record_error(b, d, topic, "unsupported-device", "Cannot publish to unsupported device '%s'",
                                    d->friendly_name);
                return;
        }
        bridge_set_get(b, d, p, is_get, key, payload, len, 0);
}

/* Debounced as Zigbee2MQTT's retrieveState(): announces come in bursts. */
void bridge_retrieve_state(Bridge *b, BridgePlug *p) {
        p->retrieve_at = bridge_now(b) + BRIDGE_RETRIEVE_DEBOUNCE_USEC;
        bridge_plug_timer_armed(b, p->retrieve_at);
}

static void read_state(Bridge *b, BridgePlug *p) {
        static const char payload[] = "{\"state\":\"\"}";
        Device *d = bridge_plug_device(b, p);
        DeviceEndpoints eps;
        PlugRequest req;

        if (!d)
                return;
        device_endpoints(d, &eps);
        if (plug_parse_get(p->model, NULL, payload, strlen(payload), eps.eps, eps.n, &req) >= 0 && req.n_actions == 1)
                start_action(b, p, d, &req.actions[0], true, "state", 0);
}

/* kind: the journal's LUMIPLUGD_ERROR; code: the control client's error code. */
static void action_failed(Bridge *b, BridgePlug *p, Device *d, const Pending *pd, const char *kind, const char *code,
                          const char *reason) {
        char topic[BRIDGE_TOPIC_MAX];

        bridge_command_topic(b, d, pd->is_get, topic, sizeof(topic));
        bridge_record_error(b, d, topic, kind, "Publish '%s' '%s' to '%s' failed: '%s'", pd->is_get ? "get" : "set",
                            pd->key, d->friendly_name, reason);
        bridge_call_release(b, pd->call, code, reason);
}

static void complete_action(Bridge *b, Pending *pd, int error, const uint8_t *zcl, size_t len) {
        BridgePlug *p = bridge_find_plug(b, pd->ieee);
        Device *d = devdb_find_by_ieee(b->db, pd->ieee);
        uint8_t status;
        char reason[128];
        int r;

        if (!p || !d) {
                bridge_call_release(b, pd->call, "unknown-device", "the device was removed meanwhile");
                return;
        }
        if (error < 0) {
                action_failed(b, p, d, pd, bridge_error_kind(error),
                              error == -ETIMEDOUT || error == -EHOSTUNREACH ? "timeout" :
                              error == -ENOBUFS ? "busy" : "failed", bridge_error_text(error));
                /* commands that do not reach the plug make it unavailable until it talks again */
                if (error == -ETIMEDOUT || error == -EHOSTUNREACH)
                        (void) bridge_publish_availability(b, p, AVAILABILITY_OFFLINE, false);
                return;
        }
        if (!zcl) {
                action_failed(b, p, d, pd, "no-answer", "timeout", "no answer from the plug");
                return;
        }
        r = plug_action_response_status(&pd->action, zcl, len, &status);
        if (r < 0) {
                action_failed(b, p, d, pd, "bad-answer", "failed",
                              r == -ENOMSG ? "the plug's answer does not match the request" : "the plug's answer is malformed");
                return;
        }
        bridge_plug_seen(b, p);        /* it answered */
        if (status != ZCL_STATUS_SUCCESS) {
                snprintf(reason, sizeof(reason), "Status '%s' (0x%02x)", zcl_status_name(status), status);
                action_failed(b, p, d, pd, "zcl-status", status == ZCL_STATUS_INVALID_VALUE ? "bad-value" : "failed", reason);
                return;
        }

        /* A read's value arrives as the Read Attributes Response frame itself, which the owner also
         * hands to bridge_on_zcl() (the host: transaction first, then zcl_received): applied and
         * published there once, with its link quality, as Zigbee2MQTT publishes a readResponse. */
        if (pd->action.kind == PLUG_ACTION_READ) {
                bridge_call_release(b, pd->call, NULL, NULL);
                return;
        }

        if (!pd->action.requested_known) {
                /* TOGGLE of a plug whose state we did not know: ask it what it is now */
                DeviceEndpoints eps;
                PlugRequest req;

                device_endpoints(d, &eps);
                if (plug_parse_get(p->model, pd->key, "{\"state\":\"\"}", strlen("{\"state\":\"\"}"),
                                   eps.eps, eps.n, &req) >= 0 && req.n_actions == 1)
                        start_action(b, p, d, &req.actions[0], true, pd->key, pd->call);
                bridge_call_release(b, pd->call, NULL, NULL);
                return;
        }
        r = plug_state_apply_confirmed(&p->state, p->model, &pd->action);
        if (r < 0) {
                action_failed(b, p, d, pd, "store-failed", "internal", "confirmed value cannot be stored");
                return;
        }
        (void) bridge_publish_state(b, p, NULL);
        bridge_call_release(b, pd->call, NULL, NULL);
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

/* Home Assistant's birth ("online", compared case-insensitively as Zigbee2MQTT does): a restarted
 * Home Assistant, or one behind a wiped broker, has lost the retained configs, so every config of
 * the bridge and of every plug is published again at once (issue 6; Zigbee2MQTT relies on the
 * retained copies and re-sends nothing but states). The states then follow as in Zigbee2MQTT:
 * bridge/state and every known plug state 30 s later (bridge_tick). Anything else (its last will
 * "offline") changes nothing. */
/* Every config of the bridge and of the plugs, again (not during the wait for retained configs at
 * start: its end publishes everything anyway). */
static void rediscover_all(Bridge *b) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        DiscConfig cfg = bridge_disc_config(b);

        if (!b->cfg.homeassistant || !b->connected || b->discovery_due)
                return;
        bridge_retained_clear(b);       /* every config, even those the broker holds */
        if (b->have_coordinator && disc_bridge_messages(&cfg, DISC_BRIDGE_ALL, &msgs) >= 0)
                publish_messages(b, &msgs);
        for (size_t i = 0; i < b->n_plugs; i++)
                if (!b->plugs[i]->rediscover_at)        /* a renamed plug's come at their time */
                        set_discover_queued(b, b->plugs[i], true);
        discover_queued_plugs(b);
}

static void on_ha_status(Bridge *b, const char *text) {
        if (strcasecmp(text, "online") != 0) {
                log_fields(LOG_DEBUG, 0, &((LogFields) { .topic = b->cfg.ha_status_topic }),
                           "Home Assistant status '%.64s' is not 'online', ignoring", text);
                return;
        }
        log_fields(LOG_INFO, 0, &((LogFields) { .topic = b->cfg.ha_status_topic }),
                   "Home Assistant is online, republishing its discovery configs");
        rediscover_all(b);
        b->ha_online_due = bridge_now(b) + BRIDGE_HA_ONLINE_DELAY_USEC;
}

int bridge_on_mqtt_message(Bridge *b, const char *topic, const void *payload, size_t len) {
        _cleanup_free_ char *text = NULL, *name = NULL, *key = NULL;
        size_t blen = strlen(b->cfg.base_topic), dlen = strlen(b->cfg.discovery_prefix);
        const char *full_topic = topic;
        bool is_get, oversized;

        if (!topic)
                return 0;
        if (!payload)
                len = 0;
        oversized = len > BRIDGE_PAYLOAD_MAX;
        if (!oversized) {
                text = malloc(len + 1);
                if (!text)
                        return -ENOMEM;
                if (len)
                        memcpy(text, payload, len);
                text[len] = 0;
        }

        if (b->cfg.homeassistant && (strcmp(topic, b->cfg.ha_status_topic) == 0 ||
                                     (strncmp(topic, b->cfg.discovery_prefix, dlen) == 0 && topic[dlen] == '/'))) {
                if (oversized)
                        log_warning("Ignoring a message of %zu bytes on '%s': larger than the %u-byte limit",
                                    len, topic, BRIDGE_PAYLOAD_MAX);
                else if (strcmp(topic, b->cfg.ha_status_topic) == 0)
                        on_ha_status(b, text);
                else if (strlen(text) == len)
                        bridge_on_discovery_message(b, topic, text);
                return 0;
        }
        if (strncmp(topic, b->cfg.base_topic, blen) != 0 || topic[blen] != '/')
                return 0;
        topic += blen + 1;

        /* an oversized request is refused by the request handler before it reads the payload */
        if (strncmp(topic, "bridge/request/", 15) == 0 && topic[15])
                return bridge_handle_request(b, topic + 15, oversized ? payload : text, len) == -ENOMEM ? -ENOMEM : 0;
        if (parse_set_get_topic(topic, &name, &is_get, &key)) {
                if (oversized)
                        bridge_record_error(b, NULL, full_topic, "payload-too-large",
                                            "Invalid message to '%s' (%s): the payload of %zu bytes is larger "
                                            "than the %u-byte limit", name, is_get ? "get" : "set", len,
                                            BRIDGE_PAYLOAD_MAX);
                else
                        handle_set_get(b, full_topic, name, is_get, key, text, len);
        }
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
        bridge_plug_seen(b, p);
        r = plug_state_apply_frame(&p->state, p->model, bridge_plug_options(p), endpoint, cluster, zcl, len, lqi, &u);
        bridge_energy_apply(b, p, &u);
        if (r < 0) {
                char s[19];
                bridge_format_ieee(ieee, s);
                log_fields(LOG_DEBUG, r, &((LogFields) { .device = s, .name = d ? d->friendly_name : NULL,
                                                         .error = "malformed-zcl" }),
                           "Malformed ZCL frame from '%s' (cluster 0x%04x), ignoring what follows the bad record: %m",
                           d ? d->friendly_name : s, cluster);
        }
        if (u.converted)
                return bridge_publish_state(b, p, &u);
        return 0;
}

static int apply_device_config(Bridge *b, Device *d) {
        const BridgeDeviceConfig *c = NULL;
        char def[19];
        int r;

        for (size_t i = 0; i < b->cfg.n_devices; i++)
                if (b->cfg.devices[i].ieee == d->ieee)
                        c = &b->cfg.devices[i];
        if (!c)
                return 0;
        bridge_format_ieee(d->ieee, def);
        if (c->friendly_name && strcmp(d->friendly_name, def) == 0 && strcmp(c->friendly_name, def) != 0) {
                r = devdb_rename(b->db, d, c->friendly_name);
                if (r < 0)
                        log_fields(LOG_WARNING, r, &((LogFields) { .device = def, .name = c->friendly_name,
                                                                   .error = "rename-failed" }),
                                   "Cannot name %s '%s' as the configuration says, ignoring: %m", def, c->friendly_name);
        }
        if (json_object_is_type(c->options, json_type_object)) {
                json_object *merged = NULL;

                if (d->options) {
                        if (json_object_deep_copy(d->options, &merged, NULL) < 0)
                                return -ENOMEM;
                } else if (!(merged = json_object_new_object()))
                        return -ENOMEM;
                json_object_object_foreach(c->options, k, v)
                        if (json_object_object_add(merged, k, json_object_get(v)) < 0) {
                                json_object_put(merged);
                                return -ENOMEM;
                        }
                r = devdb_set_options(b->db, d, merged);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int device_seen_with_address(Bridge *b, uint64_t ieee, uint16_t nwk, Device **ret) {
        Device *d = devdb_find_by_ieee(b->db, ieee);
        int r;

        if (!d) {
                r = devdb_add(b->db, ieee, nwk, &d);
                if (r < 0)
                        return r;
                r = apply_device_config(b, d);
                if (r < 0)
                        return r;
                bridge_devdb_changed(b, true);
        } else if (devdb_set_nwk(b->db, d, nwk) > 0)
                bridge_devdb_changed(b, true);
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
        (void) bridge_publish_devices(b);
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
        if (p) {
                bridge_plug_seen(b, p);
                bridge_retrieve_state(b, p);
                /* back from a power cycle or a rejoin: it may have lost its settings */
                bridge_settings_request(b, p, BRIDGE_RETRIEVE_DEBOUNCE_USEC);
        }
        (void) bridge_publish_devices(b);
        return publish_event(b, "device_announce", event_data(d, ieee));
}

int bridge_on_device_left(Bridge *b, uint64_t ieee) {
        _cleanup_(bridge_json_putp) json_object *data = NULL;
        Device *d = devdb_find_by_ieee(b->db, ieee);

        if (!d)
                return 0;       /* herdsman: a leave of an unknown or already deleted device is not reported */
        char s[19];

        log_fields(LOG_NOTICE, 0, bridge_device_fields(d, s, NULL), "Device '%s' left the network", d->friendly_name);
        data = event_data(d, ieee);
        if (!data)
                return -ENOMEM;
        /* as herdsman: the device is forgotten (its retained topics and discovery stay) */
        bridge_plug_drop(b, ieee);
        (void) devdb_remove(b->db, ieee);
        bridge_devdb_changed(b, true);
        if (b->forget)
                b->forget(b->userdata, ieee);
        (void) bridge_publish_devices(b);
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
        (void) bridge_publish_devices(b);
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
                char s[19];

                log_fields(LOG_WARNING, 0, bridge_device_fields(d, s, "interview-failed"), "Interview of '%s' failed: %s",
                           d->friendly_name, res->reason);
        }
        bridge_devdb_changed(b, true);
        (void) bridge_publish_devices(b);

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
                bridge_plug_seen(b, p);
                bridge_discover_plug(b, p);
        }
        return r;
}

int bridge_on_address_changed(Bridge *b, uint64_t ieee, uint16_t nwk) {
        Device *d = devdb_find_by_ieee(b->db, ieee);

        if (!d || devdb_set_nwk(b->db, d, nwk) <= 0)
                return 0;
        bridge_devdb_changed(b, true);
        return bridge_publish_devices(b);
}

void bridge_on_permit_join_changed(Bridge *b, unsigned seconds) {
        b->permit_join_seconds = seconds;
        b->permit_join_end = seconds > 0 ? bridge_now(b) + (uint64_t) seconds * SECOND_USEC : 0;
        (void) bridge_publish_info(b);
}

void bridge_complete(Bridge *b, uint64_t token, int error, const uint8_t *zcl, size_t len) {
        Pending *pd = pending_find(b, token);
        Pending copy;

        if (!pd)
                return;
        /* the slot is freed before the work continues, which may start new work */
        copy = *pd;
        pd->request = NULL;             /* now copy's */
        bridge_pending_free(pd);
        switch (copy.kind) {
        case PENDING_ACTION:
                complete_action(b, &copy, error, zcl, len);
                break;
        case PENDING_PING:
                bridge_complete_ping(b, &copy, error);
                break;
        case PENDING_PERMIT_JOIN:
                bridge_complete_permit_join(b, &copy, error);
                break;
        case PENDING_REMOVE:
                bridge_complete_remove(b, &copy, error);
                break;
        case PENDING_POLL:
                bridge_complete_poll(b, &copy, error, zcl, len);
                break;
        case PENDING_SETTINGS:
                bridge_complete_settings(b, &copy, error, zcl, len);
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

        if (b->discovery_due && now >= bridge_discovery_end(b))
                bridge_discovery_wait_end(b, now);      /* connected: the end is UINT64_MAX while away */
        if (b->ha_online_due && now >= b->ha_online_due) {
                b->ha_online_due = 0;
                /* bridge state first so Home Assistant marks the entities available, then the states */
                (void) bridge_publish_under_base(b, "bridge/state", "{\"state\":\"online\"}", true, 1);
                for (size_t i = 0; i < b->n_plugs; i++)
                        if (b->plugs[i]->have_state)
                                (void) bridge_publish_state(b, b->plugs[i], NULL);
        }
        if (now >= b->plug_timers_min) {
                uint64_t min = UINT64_MAX;

                /* Timers armed during the look lower it. One pass is enough: what a plug's timers
                 * run touches only that plug's timers (another plug's change arrives later, from
                 * the event loop), so each plug's times are final once it has had its turn. */
                b->plug_timers_min = UINT64_MAX;
                for (size_t i = 0; i < b->n_plugs; i++) {
                        BridgePlug *p = b->plugs[i];

                        if (p->rediscover_at && now >= p->rediscover_at) {
                                p->rediscover_at = 0;
                                bridge_discover_plug(b, p);
                        }
                        if (p->retrieve_at && now >= p->retrieve_at) {
                                p->retrieve_at = 0;
                                read_state(b, p);
                        }
                        if (b->cfg.availability && b->connected && !p->ping_pending && p->next_check && now >= p->next_check)
                                bridge_start_ping(b, p);
                        if (p->rediscover_at)
                                min = MIN(min, p->rediscover_at);
                        if (p->retrieve_at)
                                min = MIN(min, p->retrieve_at);
                        if (p->next_check)
                                min = MIN(min, p->next_check);
                }
                b->plug_timers_min = MIN(b->plug_timers_min, min);
        }
        discover_queued_plugs(b);
        bridge_settings_tick(b, now);
        bridge_poll_tick(b, now);
}

uint64_t bridge_next_wakeup(const Bridge *b) {
        uint64_t t = UINT64_MAX;

        t = MIN(t, bridge_discovery_end(b));
        if (b->ha_online_due)
                t = MIN(t, b->ha_online_due);
        for (size_t i = 0; i < b->n_plugs; i++) {
                const BridgePlug *p = b->plugs[i];

                if (p->rediscover_at)
                        t = MIN(t, p->rediscover_at);
                if (p->retrieve_at)
                        t = MIN(t, p->retrieve_at);
                if (b->cfg.availability && !p->ping_pending && p->next_check)
                        t = MIN(t, p->next_check);
        }
        t = MIN(t, bridge_settings_next_wakeup(b));
        t = MIN(t, bridge_poll_next_wakeup(b));
        return t;
}

/*
 * Life cycle
 */

void bridge_set_forget_callback(Bridge *b, void (*fn)(void *userdata, uint64_t ieee)) {
        b->forget = fn;
}

void bridge_set_mqtt_backlog_callback(Bridge *b, size_t (*fn)(void *userdata)) {
        b->mqtt_backlog = fn;
}

void bridge_set_coordinator(Bridge *b, const BridgeCoordinator *c) {
        b->coordinator = *c;
        if (b->coordinator.n_endpoints > BRIDGE_COORDINATOR_ENDPOINTS_MAX)
                b->coordinator.n_endpoints = BRIDGE_COORDINATOR_ENDPOINTS_MAX;
        b->have_coordinator = true;
        bridge_background_changed(b);   /* polls and read-backs wait for the coordinator */
        bridge_format_ieee(c->ieee, b->coordinator_ieee);
        snprintf(b->coordinator_revision, sizeof(b->coordinator_revision), "%" PRIu32, c->revision);
        if (b->connected) {
                (void) bridge_publish_info(b);
                (void) bridge_publish_devices(b);
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
        devdb_set_state_provider(db, db_state_provider, b);
        b->mqtt = *mqtt;
        b->zigbee = *zigbee;
        b->owner = *owner;
        b->userdata = userdata;

        for (size_t i = 0; i < devdb_count(db); i++) {
                r = apply_device_config(b, devdb_get(db, i));
                if (r < 0)
                        return r;
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
                bridge_pending_free(b->pending[i]);
        bridge_calls_free(b);
        for (size_t i = 0; i < b->n_plugs; i++) {
                plug_state_to_db(b, b->plugs[i]);
                bridge_plug_free(b->plugs[i]);
        }
        if (b->db)
                devdb_set_state_provider(b->db, NULL, NULL);
        free(b->plugs);
        bridge_ota_free(b);
        free(b->retained);
        free(b->our_topics);
        free(b);
        return NULL;
}
