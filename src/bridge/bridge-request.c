/*
 * bridge/request/<name> -> bridge/response/<name>, as Zigbee2MQTT's bridge extension answers them:
 * permit_join, device/rename, device/remove, device/options, health_check, restart (and
 * device/ota_update/..., bridge-ota.c).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge-private.h"
#include "util/log.h"
#include "util/macro.h"

/* The device a request is about ("id", "from" or "last": true), for the fields of its error log. */
static const Device *request_device(Bridge *b, json_object *request) {
        json_object *v;

        if (!json_object_is_type(request, json_type_object))
                return NULL;
        if ((json_object_object_get_ex(request, "id", &v) || json_object_object_get_ex(request, "from", &v)) &&
            json_object_is_type(v, json_type_string))
                return bridge_resolve_device(b, json_object_get_string(v));
        if (json_object_object_get_ex(request, "last", &v) && json_object_get_boolean(v) && b->last_joined)
                return devdb_find_by_ieee(b->db, b->last_joined);
        return NULL;
}

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
                char topic[BRIDGE_TOPIC_MAX];

                snprintf(topic, sizeof(topic), "%s/bridge/request/%s", b->cfg.base_topic, name);
                bridge_record_error(b, request_device(b, request), topic, "request-failed",
                                    "Request '%s' failed with error: '%s'", topic, error);
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
        return bridge_publish_json(b, suffix, o, false, 0);
}

int bridge_respond(Bridge *b, const char *name, json_object *request, json_object *data, const char *error) {
        return respond(b, name, request, data, error);
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
                        if (!bridge_resolve_device(b, id))
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
        pd = bridge_pending_new(b, PENDING_PERMIT_JOIN, 0);
        if (!pd)
                return respondf(b, name, req, "Too many requests in flight");
        pd->request = json_object_get(req);
        snprintf(pd->topic_suffix, sizeof(pd->topic_suffix), "%s", name);
        pd->seconds = valid && t > 0 ? (unsigned) t : 0;
        pd->time_is_nan = !valid;
        r = b->zigbee.permit_join(b->userdata, pd->seconds, pd->token);
        if (r < 0) {
                bridge_pending_free(pd);
                return respondf(b, name, req, "%s", bridge_error_text(r));
        }
        return 0;
}

void bridge_complete_permit_join(Bridge *b, Pending *pd, int error) {
        json_object *data;

        if (error < 0) {
                (void) respondf(b, pd->topic_suffix, pd->request, "%s", bridge_error_text(error));
                return;
        }
        data = json_object_new_object();
        if (data)
                (void) json_object_object_add(data, "time", pd->time_is_nan ? NULL : json_object_new_int((int) pd->seconds));
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
                d = from ? bridge_resolve_device(b, from) : NULL;
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
        bridge_devdb_changed(b, true);
        {
                char s[19];

                log_fields(LOG_INFO, 0, bridge_device_fields(d, s, NULL), "Renamed '%s' to '%s'", old, to);
        }

        /* the old retained state (and availability) go; everything is published under the new name */
        (void) bridge_publish_under_base(b, old, "", true, 0);
        p = bridge_find_plug(b, d->ieee);
        if (p && b->cfg.availability) {
                if (asprintf(&old_avail, "%s/availability", old) < 0)
                        return -ENOMEM;
                (void) bridge_publish_under_base(b, old_avail, "", true, 1);
                (void) bridge_publish_availability(b, p, p->published == AVAILABILITY_UNKNOWN ? AVAILABILITY_ONLINE : p->published,
                                            true);
        }
        if (p && b->cfg.homeassistant) {
                if (ha_rename) {
                        /* clear first so that Home Assistant forgets the entity ids, then rediscover after
                         * a pause (zigbee2mqtt#12610: otherwise "_2" entities appear) */
                        bridge_undiscover_plug(b, p->model, p->ieee);
                        p->rediscover_at = bridge_now(b) + BRIDGE_HA_RENAME_DELAY_USEC;
                        bridge_plug_timer_armed(b, p->rediscover_at);
                } else
                        bridge_discover_plug(b, p);
        }
        (void) bridge_publish_devices(b);
        (void) bridge_publish_info(b);
        if (p && p->have_state)
                (void) bridge_publish_state(b, p, NULL);

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
                bridge_undiscover_plug(b, p->model, ieee);
                if (b->cfg.availability && asprintf(&avail, "%s/availability", d->friendly_name) >= 0)
                        (void) bridge_publish_under_base(b, avail, "", true, 1);
        }
        (void) bridge_publish_under_base(b, d->friendly_name, "", true, 0);
        bridge_plug_drop(b, ieee);
        (void) devdb_remove(b->db, ieee);
        bridge_devdb_changed(b, true);
        if (b->forget)
                b->forget(b->userdata, ieee);
        if (b->last_joined == ieee)
                b->last_joined = 0;
        (void) bridge_publish_devices(b);
        (void) bridge_publish_info(b);
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
        d = bridge_resolve_device(b, id);
        if (!d)
                return respondf(b, name, req, "Device '%s' does not exist", id);

        pd = bridge_pending_new(b, PENDING_REMOVE, d->ieee);
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
                bridge_pending_free(pd);
                return respondf(b, name, req, "Blocking devices is not supported");
        }
        if (pd->force) {
                /* force: only our database forgets it, the plug is not asked to leave */
                char s[19];

                log_fields(LOG_INFO, 0, bridge_device_fields(d, s, NULL), "Removing device '%s' (force)", d->friendly_name);
                drop_device(b, d);
                r = respond(b, name, pd->request, remove_data(pd), NULL);
                bridge_pending_free(pd);
                return r;
        }
        if (!b->zigbee.remove_device) {
                bridge_pending_free(pd);
                return respondf(b, name, req, "No Zigbee link");
        }
        r = b->zigbee.remove_device(b->userdata, d->ieee, d->nwk, pd->token);
        if (r < 0) {
                bridge_complete(b, pd->token, r, NULL, 0);
                return 0;
        }
        return 0;
}

void bridge_complete_remove(Bridge *b, Pending *pd, int error) {
        Device *d = devdb_find_by_ieee(b->db, pd->ieee);

        if (error < 0) {
                (void) respondf(b, pd->topic_suffix, pd->request,
                                "Failed to remove device '%s' (block: %s, force: %s, keep config: false, clear cache: false) "
                                "(Error: %s)", pd->name, pd->block ? "true" : "false", pd->force ? "true" : "false",
                                bridge_error_text(error));
                return;
        }
        if (d) {
                char s[19];

                log_fields(LOG_INFO, 0, bridge_device_fields(d, s, NULL), "Removed device '%s'", d->friendly_name);
                drop_device(b, d);
        }
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
        d = id ? bridge_resolve_device(b, id) : NULL;
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
                if (r > 0) {
                        char s[19];

                        log_fields(LOG_WARNING, 0, bridge_device_fields(d, s, "unsupported-option"),
                                   "Device '%s' does not support option '%s'", id, k);
                }
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
        bridge_devdb_changed(b, true);
        if (p)
                bridge_plug_load_options(p, d);        /* applied from the next report */
        (void) bridge_publish_info(b);

        data = json_object_new_object();
        if (!data)
                return -ENOMEM;
        (void) json_object_object_add(data, "from", TAKE_PTR(from));
        (void) json_object_object_add(data, "to", TAKE_PTR(to));
        (void) json_object_object_add(data, "id", json_object_get(id_v));
        (void) json_object_object_add(data, "restart_required", json_object_new_boolean(false));
        return respond(b, name, req, data, NULL);
}

int bridge_handle_request(Bridge *b, const char *name, const char *payload, size_t len) {
        _cleanup_(bridge_json_putp) json_object *req = NULL;
        _cleanup_free_ char *lower = strdup(name);
        struct json_tokener *tok;

        if (!lower)
                return -ENOMEM;
        for (char *c = lower; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        if (len > BRIDGE_PAYLOAD_MAX)
                return respondf(b, name, NULL, "The payload of %zu bytes is larger than the %u-byte limit", len,
                                BRIDGE_PAYLOAD_MAX);

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
        if (strncmp(lower, "device/ota_update/", 18) == 0)
                return bridge_handle_ota_request(b, name, req);
        if (strcmp(lower, "health_check") == 0) {
                json_object *data = json_object_new_object();
                if (!data)
                        return -ENOMEM;
                (void) json_object_object_add(data, "healthy", json_object_new_boolean(true));
                return respond(b, name, req, data, NULL);
        }
        if (strcmp(lower, "restart") == 0) {
                int r = respond(b, name, req, NULL, NULL);
                char topic[BRIDGE_TOPIC_MAX];

                snprintf(topic, sizeof(topic), "%s/bridge/request/%s", b->cfg.base_topic, name);
                log_fields(LOG_INFO, 0, &((LogFields) { .topic = topic }), "Restarting on request (%s)", topic);
                if (b->owner.restart)
                        b->owner.restart(b->userdata);
                return r;
        }
        return respondf(b, name, req, "Request '%s' is not supported by lumiplugd", name);
}
