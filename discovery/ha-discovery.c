/*
 * Home Assistant discovery messages, derived from the property table. See ha-discovery.h.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ha-discovery.h"
#include "util/json-text.h"

#define ORIGIN_NAME "lumiplugd"
#define UPDATE_PICTURE "https://github.com/Koenkk/zigbee2mqtt/raw/master/images/logo.png"
#define UPDATE_VALUE_TEMPLATE \
        "{\"latest_version\":\"{{ value_json['update']['latest_version'] }}\"," \
        "\"installed_version\":\"{{ value_json['update']['installed_version'] }}\"," \
        "\"update_percentage\":{{ value_json['update'].get('progress', 'null') }}," \
        "\"in_progress\":{{ (value_json['update']['state'] == 'updating')|lower }}}"

static void putp(json_object **p) {
        if (*p)
                json_object_put(*p);
}
#define _cleanup_json_ __attribute__((cleanup(putp)))

static void freep_(void *p) {
        free(*(void **) p);
}
#define _cleanup_str_ __attribute__((cleanup(freep_)))
#define _cleanup_text_ __attribute__((cleanup(json_text_done)))

/*
 * Sorted compact JSON
 */

static int cmp_keys(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void sorted_json(JsonText *t, json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                json_text_puts(t, "null");
                break;
        case json_type_boolean:
                json_text_puts(t, json_object_get_boolean(o) ? "true" : "false");
                break;
        case json_type_int:
                json_text_int(t, json_object_get_int64(o));
                break;
        case json_type_double:
                json_text_number(t, json_object_get_double(o));
                break;
        case json_type_string:
                json_text_string(t, json_object_get_string(o), (size_t) json_object_get_string_len(o));
                break;
        case json_type_array: {
                size_t n = json_object_array_length(o);
                json_text_puts(t, "[");
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                json_text_puts(t, ",");
                        sorted_json(t, json_object_array_get_idx(o, i));
                }
                json_text_puts(t, "]");
                break;
        }
        case json_type_object: {
                size_t n = (size_t) json_object_object_length(o), k = 0;
                const char **keys = calloc(n ? n : 1, sizeof(char *));
                if (!keys) {
                        t->error = -ENOMEM;
                        return;
                }
                json_object_object_foreach(o, key, val) {
                        (void) val;
                        keys[k++] = key;
                }
                qsort(keys, k, sizeof(char *), cmp_keys);
                json_text_puts(t, "{");
                for (size_t i = 0; i < k; i++) {
                        if (i)
                                json_text_puts(t, ",");
                        json_text_string(t, keys[i], strlen(keys[i]));
                        json_text_puts(t, ":");
                        sorted_json(t, json_object_object_get(o, keys[i]));
                }
                json_text_puts(t, "}");
                free(keys);
                break;
        }
        }
}

char *disc_json_sorted(json_object *obj) {
        JsonText t = {};

        sorted_json(&t, obj);
        return json_text_steal(&t);
}

char *disc_encode_base_topic(const char *base_topic) {
        const unsigned char *s = (const unsigned char *) base_topic;
        _cleanup_text_ JsonText t = {};
        char tmp[16];

        if (!base_topic)
                return NULL;
        json_text_puts(&t, "");
        while (*s) {
                uint32_t cp;
                int extra;

                if (*s < 0x80) {
                        cp = *s;
                        extra = 0;
                } else if ((*s & 0xE0) == 0xC0) {
                        cp = *s & 0x1F;
                        extra = 1;
                } else if ((*s & 0xF0) == 0xE0) {
                        cp = *s & 0x0F;
                        extra = 2;
                } else if ((*s & 0xF8) == 0xF0) {
                        cp = *s & 0x07;
                        extra = 3;
                } else {
                        return NULL;
                }
                s++;
                for (int i = 0; i < extra; i++, s++) {
                        if ((*s & 0xC0) != 0x80)
                                return NULL;
                        cp = (cp << 6) | (*s & 0x3F);
                }
                /* JavaScript's charCodeAt counts UTF-16 code units */
                if (cp >= 0x10000) {
                        cp -= 0x10000;
                        snprintf(tmp, sizeof(tmp), "%u%u", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
                } else
                        snprintf(tmp, sizeof(tmp), "%u", cp);
                json_text_puts(&t, tmp);
        }
        return json_text_steal(&t);
}

/*
 * Messages
 */

static int messages_add(DiscMessages *out, char *topic, char *payload) {
        if (out->n >= out->allocated) {
                size_t na = out->allocated ? out->allocated * 2 : 16;
                DiscMessage *p = realloc(out->items, na * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                out->items = p;
                out->allocated = na;
        }
        out->items[out->n++] = (DiscMessage) { .topic = topic, .payload = payload };
        return 0;
}

void disc_messages_done(DiscMessages *msgs) {
        if (!msgs)
                return;
        for (size_t i = 0; i < msgs->n; i++) {
                free(msgs->items[i].topic);
                free(msgs->items[i].payload);
        }
        free(msgs->items);
        *msgs = (DiscMessages) {};
}

static char *strprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
}

/* node_id/object_id must match [a-zA-Z0-9_-]+ for Home Assistant */
static bool valid_topic_id(const char *s) {
        if (!s || !*s)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '_' || *s == '-'))
                        return false;
        return true;
}

static bool valid_name(const char *s) {
        /* it becomes a topic level: no wildcards, not empty */
        return s && *s && !strpbrk(s, "+#");
}

static int add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* JSON null is the NULL object in json-c */
static int add_null(json_object *o, const char *key) {
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

static int add_str(json_object *o, const char *key, const char *s) {
        return add(o, key, json_object_new_string(s));
}

static int add_number(json_object *o, const char *key, double d) {
        if (d == floor(d) && fabs(d) < 9e15)
                return add(o, key, json_object_new_int64((int64_t) d));
        return add(o, key, json_object_new_double(d));
}

/* Zigbee2MQTT: lower-cased name with whitespace runs as "_" */
static char *entity_object_id(const char *name) {
        size_t n = strlen(name), o = 0;
        char *s = malloc(n + 1);
        bool in_space = false;

        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
                        if (!in_space)
                                s[o++] = '_';
                        in_space = true;
                        continue;
                }
                in_space = false;
                s[o++] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
        }
        s[o] = 0;
        return s;
}

/* The payload's object_id: the name, then the config object id's tail (Zigbee2MQTT's rule). */
static char *payload_object_id(const char *device_name, const char *component, const char *config_object_id) {
        _cleanup_str_ char *base = entity_object_id(device_name);
        size_t cl = strlen(component);

        if (!base)
                return NULL;
        if (strncmp(config_object_id, component, cl) == 0) {
                const char *us = strchr(config_object_id, '_');
                if (us)
                        return strprintf("%s_%s", base, us + 1);
                return strdup(base);
        }
        return strprintf("%s_%s", base, config_object_id);
}

static json_object *availability_item(const char *topic, bool offline) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || add_str(o, "topic", topic) < 0 ||
            add_str(o, "value_template", offline ? "{{ \"offline\" }}" : "{{ value_json.state }}") < 0)
                return NULL;
        json_object *r = o;
        o = NULL;
        return r;
}

static json_object *origin_json(const DiscConfig *cfg) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || add_str(o, "name", ORIGIN_NAME) < 0 ||
            add_str(o, "sw", cfg->version ? cfg->version : PACKAGE_VERSION) < 0 ||
            add_str(o, "url", cfg->origin_url ? cfg->origin_url : PACKAGE_URL) < 0)
                return NULL;
        json_object *r = o;
        o = NULL;
        return r;
}

/* Common part of every entity: topics, ids, device, origin, availability. */
static int finish_entity(json_object *p, const DiscConfig *cfg, const char *component, const char *config_object_id,
                         const char *entity_id, const char *device_name, json_object *device,
                         const char *state_topic, bool availability_list, bool device_availability,
                         const char *device_availability_topic, bool bridge_mode, bool offline) {
        _cleanup_str_ char *oid = payload_object_id(device_name, component, config_object_id);
        _cleanup_str_ char *dei = NULL, *uid = NULL, *bridge_state = NULL;
        int r;

        if (!oid)
                return -ENOMEM;
        dei = strprintf("%s.%s", component, oid);
        uid = strprintf("%s_%s_%s", entity_id, config_object_id, cfg->base_topic);
        bridge_state = strprintf("%s/bridge/state", cfg->base_topic);
        if (!dei || !uid || !bridge_state)
                return -ENOMEM;

        if (state_topic && (r = add_str(p, "state_topic", state_topic)) < 0)
                return r;
        if ((r = add_str(p, "object_id", oid)) < 0 || (r = add_str(p, "default_entity_id", dei)) < 0 ||
            (r = add_str(p, "unique_id", uid)) < 0)
                return r;
        if ((r = add(p, "device", json_object_get(device))) < 0 || (r = add(p, "origin", origin_json(cfg))) < 0)
                return r;

        if (availability_list) {
                json_object *list = json_object_new_array();
                if ((r = add(p, "availability", list)) < 0)
                        return r;
                if (json_object_array_add(list, availability_item(bridge_state, offline)) < 0)
                        return -ENOMEM;
                if (device_availability) {
                        if (json_object_array_add(list, availability_item(device_availability_topic, offline)) < 0)
                                return -ENOMEM;
                        if ((r = add_str(p, "availability_mode", "all")) < 0)
                                return r;
                } else if (bridge_mode && (r = add_str(p, "availability_mode", "all")) < 0)
                        return r;
        }
        return 0;
}

static int emit(DiscMessages *out, const DiscConfig *cfg, const char *component, const char *node_id,
                const char *config_object_id, json_object *payload) {
        char *topic = strprintf("%s/%s/%s/%s/config", cfg->discovery_prefix, component, node_id, config_object_id);
        char *s = payload ? disc_json_sorted(payload) : strdup("");
        int r;

        if (!topic || !s) {
                free(topic);
                free(s);
                return -ENOMEM;
        }
        r = messages_add(out, topic, s);
        if (r < 0) {
                free(topic);
                free(s);
        }
        return r;
}

static bool config_ok(const DiscConfig *cfg) {
        return cfg && valid_name(cfg->base_topic) &&
               cfg->discovery_prefix && *cfg->discovery_prefix && valid_topic_id(cfg->bridge_ieee);
}

static json_object *plug_device_json(const DiscConfig *cfg, const PlugModel *m, const DiscDevice *dev) {
        _cleanup_json_ json_object *d = json_object_new_object();
        _cleanup_str_ char *ident = strprintf("zigbee2mqtt_%s", dev->ieee);
        _cleanup_str_ char *via = strprintf("zigbee2mqtt_bridge_%s", cfg->bridge_ieee);
        json_object *ids;

        if (!d || !ident || !via)
                return NULL;
        ids = json_object_new_array();
        if (add(d, "identifiers", ids) < 0 || json_object_array_add(ids, json_object_new_string(ident)) < 0)
                return NULL;
        if (add_str(d, "name", dev->friendly_name) < 0 || add_str(d, "model", m->description) < 0 ||
            add_str(d, "model_id", m->model) < 0 || add_str(d, "manufacturer", m->vendor) < 0 ||
            add_str(d, "via_device", via) < 0)
                return NULL;
        if (dev->sw_version && add_str(d, "sw_version", dev->sw_version) < 0)
                return NULL;
        if (dev->hw_version >= 0 && add(d, "hw_version", json_object_new_int(dev->hw_version)) < 0)
                return NULL;
        json_object *r = d;
        d = NULL;
        return r;
}

static int property_payload(json_object *p, const PlugProperty *prop, const char *set_topic) {
        _cleanup_str_ char *tpl = NULL, *cmd = NULL;
        const PropHa *ha = &prop->ha;
        bool settable = prop->access & PROP_ACCESS_SET;
        int r = 0;

        if (ha->name_null)
                r = add_null(p, "name");
        else if (ha->name)
                r = add_str(p, "name", ha->name);
        if (r < 0)
                return r;

        switch (prop->kind) {
        case PROP_KIND_SWITCH:
                tpl = strprintf("{{ value_json[\"%s\"] }}", prop->name);
                if (!tpl || (r = add_str(p, "value_template", tpl)) < 0 || (r = add_str(p, "payload_on", "ON")) < 0 ||
                    (r = add_str(p, "payload_off", "OFF")) < 0 || (r = add_str(p, "command_topic", set_topic)) < 0)
                        return r < 0 ? r : -ENOMEM;
                break;
        case PROP_KIND_BINARY:
                if (settable) {
                        tpl = strprintf("{%% if value_json[\"%s\"] %%}true{%% else %%}false{%% endif %%}", prop->name);
                        cmd = strprintf("%s/%s", set_topic, prop->name);
                        if (!tpl || !cmd)
                                return -ENOMEM;
                        if ((r = add_str(p, "value_template", tpl)) < 0 || (r = add_str(p, "payload_on", "true")) < 0 ||
                            (r = add_str(p, "payload_off", "false")) < 0 || (r = add_str(p, "command_topic", cmd)) < 0)
                                return r;
                } else {
                        tpl = strprintf("{{ value_json[\"%s\"] }}", prop->name);
                        if (!tpl || (r = add_str(p, "value_template", tpl)) < 0 ||
                            (r = add(p, "payload_on", json_object_new_boolean(1))) < 0 ||
                            (r = add(p, "payload_off", json_object_new_boolean(0))) < 0)
                                return r < 0 ? r : -ENOMEM;
                }
                break;
        case PROP_KIND_NUMERIC:
                tpl = strprintf("{{ value_json[\"%s\"] }}", prop->name);
                if (!tpl || (r = add_str(p, "value_template", tpl)) < 0)
                        return r < 0 ? r : -ENOMEM;
                if (prop->unit && (r = add_str(p, "unit_of_measurement", prop->unit)) < 0)
                        return r;
                if (settable) {
                        cmd = strprintf("%s/%s", set_topic, prop->name);
                        if (!cmd || (r = add_str(p, "command_topic", cmd)) < 0)
                                return r < 0 ? r : -ENOMEM;
                        if (prop->has_range &&
                            ((r = add_number(p, "min", prop->min)) < 0 || (r = add_number(p, "max", prop->max)) < 0))
                                return r;
                }
                break;
        }

        if (ha->device_class && (r = add_str(p, "device_class", ha->device_class)) < 0)
                return r;
        if (ha->state_class && (r = add_str(p, "state_class", ha->state_class)) < 0)
                return r;
        if (ha->entity_category && (r = add_str(p, "entity_category", ha->entity_category)) < 0)
                return r;
        if (ha->icon && (r = add_str(p, "icon", ha->icon)) < 0)
                return r;
        if (ha->enabled_by_default >= 0 &&
            (r = add(p, "enabled_by_default", json_object_new_boolean(ha->enabled_by_default))) < 0)
                return r;
        return 0;
}

static int device_entities(const DiscConfig *cfg, const PlugModel *m, const DiscDevice *dev, DiscMessages *out,
                           bool clear, bool extras_only) {
        _cleanup_json_ json_object *device = NULL;
        _cleanup_str_ char *state_topic = NULL, *set_topic = NULL, *avail_topic = NULL;
        int r;

        if (!config_ok(cfg) || !m || !dev || !out || !valid_topic_id(dev->ieee))
                return -EINVAL;
        if (!clear) {
                if (!valid_name(dev->friendly_name))
                        return -EINVAL;
                device = plug_device_json(cfg, m, dev);
                state_topic = strprintf("%s/%s", cfg->base_topic, dev->friendly_name);
                set_topic = strprintf("%s/%s/set", cfg->base_topic, dev->friendly_name);
                avail_topic = strprintf("%s/%s/availability", cfg->base_topic, dev->friendly_name);
                if (!device || !state_topic || !set_topic || !avail_topic)
                        return -ENOMEM;
        }

        for (size_t i = 0; i < m->n_properties; i++) {
                const PlugProperty *prop = &m->properties[i];
                _cleanup_json_ json_object *p = NULL;

                if (!prop->ha.component)
                        continue;
                if (prop->ha.extra) {
                        /* beyond Zigbee2MQTT: only when enabled for this device */
                        if (i >= 32 || !(dev->extras & (UINT32_C(1) << i)))
                                continue;
                } else if (!plug_property_is_exposed(prop) || extras_only)
                        continue;
                if (!valid_topic_id(prop->ha.object_id))
                        return -EINVAL;
                if (!clear) {
                        p = json_object_new_object();
                        if (!p)
                                return -ENOMEM;
                        r = property_payload(p, prop, set_topic);
                        if (r < 0)
                                return r;
                        r = finish_entity(p, cfg, prop->ha.component, prop->ha.object_id, dev->ieee, dev->friendly_name,
                                          device, state_topic, true, dev->availability, avail_topic, false, dev->disabled);
                        if (r < 0)
                                return r;
                        if (prop->ha.extra) {
                                /* Zigbee2MQTT's unique_ids are <ieee>_<object_id>_<base_topic>; ours end in
                                 * "_lumiplugd", which no Zigbee2MQTT base topic plus object id can */
                                json_object *u;
                                _cleanup_str_ char *uid = NULL;

                                if (!json_object_object_get_ex(p, "unique_id", &u))
                                        return -EINVAL;
                                uid = strprintf("%s_lumiplugd", json_object_get_string(u));
                                if (!uid)
                                        return -ENOMEM;
                                if ((r = add_str(p, "unique_id", uid)) < 0)
                                        return r;
                        }
                }
                r = emit(out, cfg, prop->ha.component, dev->ieee, prop->ha.object_id, p);
                if (r < 0)
                        return r;
        }

        if (m->ota && !extras_only) {
                _cleanup_json_ json_object *p = NULL;

                if (!clear) {
                        _cleanup_str_ char *install = strprintf("{\"id\": \"%s\"}", dev->ieee);
                        _cleanup_str_ char *cmd = strprintf("%s/bridge/request/device/ota_update/update", cfg->base_topic);

                        p = json_object_new_object();
                        if (!p || !install || !cmd)
                                return -ENOMEM;
                        if ((r = add_null(p, "name")) < 0 ||
                            (r = add_str(p, "entity_picture", UPDATE_PICTURE)) < 0 ||
                            (r = add_str(p, "device_class", "firmware")) < 0 ||
                            (r = add_str(p, "entity_category", "config")) < 0 ||
                            (r = add_str(p, "command_topic", cmd)) < 0 ||
                            (r = add_str(p, "payload_install", install)) < 0 ||
                            (r = add_str(p, "value_template", UPDATE_VALUE_TEMPLATE)) < 0)
                                return r;
                        r = finish_entity(p, cfg, "update", "update", dev->ieee, dev->friendly_name, device,
                                          state_topic, true, dev->availability, avail_topic, false, dev->disabled);
                        if (r < 0)
                                return r;
                }
                r = emit(out, cfg, "update", dev->ieee, "update", p);
                if (r < 0)
                        return r;
        }
        return 0;
}

int disc_device_messages(const DiscConfig *cfg, const PlugModel *m, const DiscDevice *dev, DiscMessages *out) {
        return device_entities(cfg, m, dev, out, false, false);
}

int disc_device_clear_messages(const DiscConfig *cfg, const PlugModel *m, const char *ieee, DiscMessages *out) {
        DiscDevice dev = { .ieee = ieee, .hw_version = -1 };
        return device_entities(cfg, m, &dev, out, true, false);
}

int disc_device_clear_extra_messages(const DiscConfig *cfg, const PlugModel *m, const char *ieee, uint32_t extras,
                                     DiscMessages *out) {
        DiscDevice dev = { .ieee = ieee, .hw_version = -1, .extras = extras };
        return device_entities(cfg, m, &dev, out, true, true);
}

typedef struct BridgeEntity {
        unsigned flag;
        const char *component, *object_id, *name, *device_class, *entity_category, *icon;
        int enabled_by_default;
        const char *state_postfix;              /* NULL: no state_topic */
        const char *value_template;
        const char *command_postfix;            /* under <base>/bridge/ */
        bool availability;
} BridgeEntity;

static const BridgeEntity bridge_entities[] = {
        { DISC_BRIDGE_CONNECTION_STATE, "binary_sensor", "connection_state", "Connection state", "connectivity",
          "diagnostic", NULL, -1, "state", "{{ value_json.state }}", NULL, false },
        { DISC_BRIDGE_RESTART_REQUIRED, "binary_sensor", "restart_required", "Restart required", "problem",
          "diagnostic", NULL, 0, "info", "{{ value_json.restart_required }}", NULL, true },
        { DISC_BRIDGE_RESTART, "button", "restart", "Restart", "restart", NULL, NULL, -1,
          NULL, NULL, "request/restart", true },
        { DISC_BRIDGE_LOG_LEVEL, "select", "log_level", "Log level", NULL, "config", NULL, -1,
          "info", "{{ value_json.log_level | lower }}", "request/options", true },
        { DISC_BRIDGE_VERSION, "sensor", "version", "Version", NULL, "diagnostic", "mdi:zigbee", -1,
          "info", "{{ value_json.version }}", NULL, true },
        { DISC_BRIDGE_COORDINATOR_VERSION, "sensor", "coordinator_version", "Coordinator version", NULL,
          "diagnostic", "mdi:chip", 0, "info", "{{ value_json.coordinator.meta.revision }}", NULL, true },
        { DISC_BRIDGE_NETWORK_MAP, "sensor", "network_map", "Network map", NULL, "diagnostic", NULL, 0,
          "response/networkmap", "{{ now().strftime('%Y-%m-%d %H:%M:%S') }}", NULL, true },
        { DISC_BRIDGE_PERMIT_JOIN, "switch", "permit_join", "Permit join", NULL, NULL,
          "mdi:human-greeting-proximity", -1, "info", "{{ value_json.permit_join | lower }}",
          "request/permit_join", true },
};

static json_object *bridge_device_json(const DiscConfig *cfg) {
        _cleanup_json_ json_object *d = json_object_new_object();
        _cleanup_str_ char *ident = strprintf("zigbee2mqtt_bridge_%s", cfg->bridge_ieee);
        _cleanup_str_ char *hw = strprintf("%s %s", cfg->coordinator_type ? cfg->coordinator_type : "",
                                           cfg->coordinator_revision ? cfg->coordinator_revision : "");
        json_object *ids;

        if (!d || !ident || !hw)
                return NULL;
        ids = json_object_new_array();
        if (add(d, "identifiers", ids) < 0 || json_object_array_add(ids, json_object_new_string(ident)) < 0)
                return NULL;
        if (add_str(d, "name", "Zigbee2MQTT Bridge") < 0 || add_str(d, "model", "Bridge") < 0 ||
            add_str(d, "manufacturer", "Zigbee2MQTT") < 0 ||
            add_str(d, "sw_version", cfg->version ? cfg->version : PACKAGE_VERSION) < 0 ||
            add_str(d, "hw_version", hw) < 0)
                return NULL;
        json_object *r = d;
        d = NULL;
        return r;
}

static int bridge(const DiscConfig *cfg, unsigned mask, DiscMessages *out, bool clear) {
        _cleanup_json_ json_object *device = NULL;
        _cleanup_str_ char *encoded = NULL, *node = NULL, *entity_id = NULL;
        int r;

        if (!config_ok(cfg) || !out)
                return -EINVAL;
        encoded = disc_encode_base_topic(cfg->base_topic);
        if (!encoded)
                return -EINVAL;
        node = strprintf("%s_%s", encoded, cfg->bridge_ieee);
        entity_id = strprintf("bridge_%s", cfg->bridge_ieee);
        if (!node || !entity_id)
                return -ENOMEM;
        if (!clear) {
                device = bridge_device_json(cfg);
                if (!device)
                        return -ENOMEM;
        }

        for (size_t i = 0; i < sizeof(bridge_entities) / sizeof(bridge_entities[0]); i++) {
                const BridgeEntity *e = &bridge_entities[i];
                _cleanup_json_ json_object *p = NULL;
                _cleanup_str_ char *state = NULL, *cmd = NULL;

                if (!(mask & e->flag))
                        continue;
                if (!clear) {
                        p = json_object_new_object();
                        if (!p || add_str(p, "name", e->name) < 0)
                                return -ENOMEM;
                        if (e->device_class && add_str(p, "device_class", e->device_class) < 0)
                                return -ENOMEM;
                        if (e->entity_category && add_str(p, "entity_category", e->entity_category) < 0)
                                return -ENOMEM;
                        if (e->icon && add_str(p, "icon", e->icon) < 0)
                                return -ENOMEM;
                        if (e->enabled_by_default >= 0 &&
                            add(p, "enabled_by_default", json_object_new_boolean(e->enabled_by_default)) < 0)
                                return -ENOMEM;
                        if (e->value_template && add_str(p, "value_template", e->value_template) < 0)
                                return -ENOMEM;
                        if (e->state_postfix) {
                                state = strprintf("%s/bridge/%s", cfg->base_topic, e->state_postfix);
                                if (!state)
                                        return -ENOMEM;
                        }
                        if (e->command_postfix) {
                                cmd = strprintf("%s/bridge/%s", cfg->base_topic, e->command_postfix);
                                if (!cmd || add_str(p, "command_topic", cmd) < 0)
                                        return -ENOMEM;
                        }
                        switch (e->flag) {
                        case DISC_BRIDGE_CONNECTION_STATE:
                                if (add_str(p, "payload_on", "online") < 0 || add_str(p, "payload_off", "offline") < 0)
                                        return -ENOMEM;
                                break;
                        case DISC_BRIDGE_RESTART_REQUIRED:
                                if (add(p, "payload_on", json_object_new_boolean(1)) < 0 ||
                                    add(p, "payload_off", json_object_new_boolean(0)) < 0)
                                        return -ENOMEM;
                                break;
                        case DISC_BRIDGE_RESTART:
                                if (add_str(p, "payload_press", "") < 0)
                                        return -ENOMEM;
                                break;
                        case DISC_BRIDGE_LOG_LEVEL: {
                                static const char *levels[] = { "error", "warning", "info", "debug" };
                                json_object *opts = json_object_new_array();
                                if (add(p, "options", opts) < 0)
                                        return -ENOMEM;
                                for (size_t k = 0; k < 4; k++)
                                        if (json_object_array_add(opts, json_object_new_string(levels[k])) < 0)
                                                return -ENOMEM;
                                if (add_str(p, "command_template",
                                            "{\"options\": {\"advanced\": {\"log_level\": \"{{ value }}\" } } }") < 0)
                                        return -ENOMEM;
                                break;
                        }
                        case DISC_BRIDGE_NETWORK_MAP:
                                if (add_str(p, "json_attributes_topic", state) < 0 ||
                                    add_str(p, "json_attributes_template", "{{ value_json.data.value | tojson }}") < 0)
                                        return -ENOMEM;
                                break;
                        case DISC_BRIDGE_PERMIT_JOIN:
                                if (add_str(p, "state_on", "true") < 0 || add_str(p, "state_off", "false") < 0 ||
                                    add_str(p, "payload_on", "{\"time\": 254}") < 0 ||
                                    add_str(p, "payload_off", "{\"time\": 0}") < 0)
                                        return -ENOMEM;
                                break;
                        }
                        r = finish_entity(p, cfg, e->component, e->object_id, entity_id, "Zigbee2MQTT Bridge", device,
                                          state, e->availability, false, NULL, true, false);
                        if (r < 0)
                                return r;
                }
                r = emit(out, cfg, e->component, node, e->object_id, p);
                if (r < 0)
                        return r;
        }
        return 0;
}

int disc_bridge_messages(const DiscConfig *cfg, unsigned mask, DiscMessages *out) {
        return bridge(cfg, mask, out, false);
}

int disc_bridge_clear_messages(const DiscConfig *cfg, unsigned mask, DiscMessages *out) {
        return bridge(cfg, mask, out, true);
}

bool disc_payload_is_ours(const DiscConfig *cfg, const char *payload) {
        json_object *obj, *avail, *first, *topic;
        bool ours = false;
        size_t bl;

        if (!cfg || !cfg->base_topic || !payload || !*payload)
                return false;
        obj = json_tokener_parse(payload);
        if (!obj)
                return false;
        bl = strlen(cfg->base_topic);
        if (json_object_object_get_ex(obj, "availability", &avail) &&
            json_object_is_type(avail, json_type_array) && json_object_array_length(avail) > 0 &&
            (first = json_object_array_get_idx(avail, 0)) &&
            json_object_object_get_ex(first, "topic", &topic) && json_object_is_type(topic, json_type_string)) {
                const char *t = json_object_get_string(topic);
                ours = strncmp(t, cfg->base_topic, bl) == 0 && t[bl] == '/';
        }
        json_object_put(obj);
        return ours;
}
