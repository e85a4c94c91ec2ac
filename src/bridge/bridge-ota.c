/*
 * OTA updates on MQTT, as Zigbee2MQTT 2.14's otaUpdate extension (dist/extension/otaUpdate.js):
 * bridge/request/device/ota_update/check and .../update ({"id": "<friendly name or IEEE>"} or
 * the bare id) answered on bridge/response/device/ota_update/<check|update>, .../update/abort,
 * and the plug's "update" state object: state (available / updating / idle), installed_version,
 * latest_version, latest_source, latest_release_notes, and while updating progress (percent)
 * and remaining (seconds). The work itself is src/ota/ota-server.c's; this file turns its events
 * into states and responses, with Zigbee2MQTT's texts.
 *
 * The update object is kept in the device database with the state, so it survives a restart; an
 * update cut by a restart comes back as "available" (Zigbee2MQTT 2.14 says "idle"; the image is
 * still there and newer than what the plug runs, so it is offered again).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridge/bridge-private.h"
#include "ota/ota-server.h"
#include "util/json-text.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/round.h"

#define OTA_AUTO_CHECK_INTERVAL_USEC (24ull * 3600 * 1000000)      /* Zigbee2MQTT's update_check_interval */

typedef struct OtaRequest {
        uint64_t ieee;                  /* 0: free */
        bool update;
        json_object *request;
        char topic[48];                 /* "device/ota_update/check", as the request spelt it */
        char id[DEVDB_NAME_MAX + 1];
        char name[DEVDB_NAME_MAX + 1];
        char *from_sw_build_id, *from_date_code;
} OtaRequest;

struct BridgeOta {
        OtaServer *server;
        OtaRequest requests[OTA_SESSIONS_MAX];
};

static void request_clear(OtaRequest *q) {
        json_object_put(q->request);
        free(q->from_sw_build_id);
        free(q->from_date_code);
        *q = (OtaRequest) {};
}

void bridge_ota_free(Bridge *b) {
        if (!b->ota)
                return;
        for (size_t i = 0; i < OTA_SESSIONS_MAX; i++)
                if (b->ota->requests[i].ieee)
                        request_clear(&b->ota->requests[i]);
        free(b->ota);
        b->ota = NULL;
}

static struct BridgeOta *ota_get(Bridge *b) {
        if (!b->ota)
                b->ota = calloc(1, sizeof(struct BridgeOta));
        return b->ota;
}

void bridge_set_ota_server(Bridge *b, OtaServer *s) {
        struct BridgeOta *o = ota_get(b);

        if (o)
                o->server = s;
}

static OtaRequest *request_find(Bridge *b, uint64_t ieee) {
        for (size_t i = 0; b->ota && i < OTA_SESSIONS_MAX; i++)
                if (b->ota->requests[i].ieee == ieee)
                        return &b->ota->requests[i];
        return NULL;
}

/*
 * The "update" state object
 */

static json_object *version_json(int64_t v) {
        return json_object_new_int64(v);
}

int bridge_ota_decorate_state(const BridgePlug *p, json_object *o, bool for_database) {
        json_object *u;

        if (!p->ota.known || !o)
                return 0;
        u = json_object_new_object();
        if (!u)
                return -ENOMEM;
        if (json_object_object_add(u, "state", json_object_new_string(p->ota.state)) < 0 ||
            json_object_object_add(u, "installed_version", p->ota.installed >= 0 ? version_json(p->ota.installed) : NULL) < 0 ||
            json_object_object_add(u, "latest_version", p->ota.latest >= 0 ? version_json(p->ota.latest) : NULL) < 0 ||
            json_object_object_add(u, "latest_source", p->ota.source[0] ? json_object_new_string(p->ota.source) : NULL) < 0 ||
            json_object_object_add(u, "latest_release_notes", NULL) < 0) {
                json_object_put(u);
                return -ENOMEM;
        }
        if (!for_database && p->ota.have_progress &&
            (json_object_object_add(u, "progress", json_object_new_double(p->ota.progress)) < 0 ||
             json_object_object_add(u, "remaining", json_object_new_int64((int64_t) p->ota.remaining)) < 0)) {
                json_object_put(u);
                return -ENOMEM;
        }
        if (json_object_object_add(o, "update", u) < 0) {
                json_object_put(u);
                return -ENOMEM;
        }
        return 0;
}

/* The same object as compact JSON with sorted keys, for the state messages written without json-c
 * (plug_state_format_json). */
int bridge_ota_update_text(const BridgePlug *p, bool for_database, JsonText *t) {
        if (!p->ota.known)
                return 0;
        json_text_puts(t, "{\"installed_version\":");
        if (p->ota.installed >= 0)
                json_text_int(t, p->ota.installed);
        else
                json_text_puts(t, "null");
        json_text_puts(t, ",\"latest_release_notes\":null,\"latest_source\":");
        if (p->ota.source[0])
                json_text_string(t, p->ota.source, strlen(p->ota.source));
        else
                json_text_puts(t, "null");
        json_text_puts(t, ",\"latest_version\":");
        if (p->ota.latest >= 0)
                json_text_int(t, p->ota.latest);
        else
                json_text_puts(t, "null");
        if (!for_database && p->ota.have_progress) {
                json_text_puts(t, ",\"progress\":");
                json_text_number(t, p->ota.progress);
                json_text_puts(t, ",\"remaining\":");
                json_text_int(t, (int64_t) p->ota.remaining);
        }
        json_text_puts(t, ",\"state\":");
        json_text_string(t, p->ota.state, strlen(p->ota.state));
        json_text_puts(t, "}");
        return t->error < 0 ? t->error : 1;
}

void bridge_ota_load(BridgePlug *p, const Device *d) {
        json_object *u, *v;

        if (!d->state || !json_object_object_get_ex(d->state, "update", &u) || !json_object_is_type(u, json_type_object))
                return;
        if (!json_object_object_get_ex(u, "state", &v) || !json_object_is_type(v, json_type_string))
                return;
        p->ota = (BridgePlugOta) { .known = true, .installed = -1, .latest = -1 };
        snprintf(p->ota.state, sizeof(p->ota.state), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(u, "installed_version", &v) && json_object_is_type(v, json_type_int))
                p->ota.installed = json_object_get_int64(v);
        if (json_object_object_get_ex(u, "latest_version", &v) && json_object_is_type(v, json_type_int))
                p->ota.latest = json_object_get_int64(v);
        if (json_object_object_get_ex(u, "latest_source", &v) && json_object_is_type(v, json_type_string))
                snprintf(p->ota.source, sizeof(p->ota.source), "%s", json_object_get_string(v));
        /* cut by a restart: nothing was installed, the image is still on offer */
        if (strcmp(p->ota.state, "updating") == 0)
                snprintf(p->ota.state, sizeof(p->ota.state), "%s",
                         p->ota.latest > p->ota.installed ? "available" : "idle");
        if (strcmp(p->ota.state, "available") != 0 && strcmp(p->ota.state, "idle") != 0 &&
            strcmp(p->ota.state, "scheduled") != 0)
                snprintf(p->ota.state, sizeof(p->ota.state), "idle");
}

static void set_state(BridgePlug *p, const char *state) {
        if (!p->ota.known) {
                p->ota.known = true;
                p->ota.installed = p->ota.latest = -1;
        }
        snprintf(p->ota.state, sizeof(p->ota.state), "%s", state);
        p->ota.have_progress = false;
}

static void publish(Bridge *b, BridgePlug *p) {
        (void) bridge_publish_state(b, p, NULL);
}

/*
 * Requests
 */

static uint8_t ota_endpoint(const Device *d) {
        for (size_t i = 0; i < d->n_endpoints; i++)
                for (size_t j = 0; j < d->endpoints[i].n_out; j++)
                        if (d->endpoints[i].out[j] == OTA_CLUSTER)
                                return d->endpoints[i].id;
        return 1;       /* Zigbee2MQTT's lumiZigbeeOTA() puts the OTA client on endpoint 1 */
}

static int fail(Bridge *b, const char *topic, json_object *req, const char *fmt, ...) _printf_(4, 5);
static int fail(Bridge *b, const char *topic, json_object *req, const char *fmt, ...) {
        char msg[768];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return bridge_respond(b, topic, req, NULL, msg);
}

static char *strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

static json_object *id_data(const char *id) {
        json_object *data = json_object_new_object();

        if (data)
                (void) json_object_object_add(data, "id", json_object_new_string(id));
        return data;
}

int bridge_handle_ota_request(Bridge *b, const char *name, json_object *req) {
        char lower[64], topic[48], ieee_buf[19];
        const char *id = NULL, *rest;
        bool update, abort_it = false;
        struct BridgeOta *o = ota_get(b);
        OtaRequest *q = NULL;
        json_object *v;
        BridgePlug *p;
        Device *d;
        int r;

        if (!o)
                return -ENOMEM;
        snprintf(lower, sizeof(lower), "%s", name);
        for (char *c = lower; *c; c++)
                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        rest = lower + strlen("device/ota_update/");
        /* the response goes to the type as spelt ("check" / "update"), as Zigbee2MQTT's regex */
        if (strncmp(rest, "check", 5) == 0)
                update = false;
        else if (strncmp(rest, "update", 6) == 0)
                update = true;
        else if (strncmp(rest, "schedule", 8) == 0 || strncmp(rest, "unschedule", 10) == 0)
                return bridge_respond(b, name, req, NULL, "Scheduled OTA updates are not supported by lumiplugd");
        else
                return bridge_respond(b, name, req, NULL, "Invalid payload");
        snprintf(topic, sizeof(topic), "device/ota_update/%.*s", update ? 6 : 5, name + (rest - lower));
        rest += update ? 6 : 5;
        if (*rest == '/')
                rest++;
        if (strcmp(rest, "downgrade") == 0)
                return fail(b, topic, req, "Downgrades are not supported by lumiplugd");
        if (strcmp(rest, "abort") == 0 && update)
                abort_it = true;
        else if (*rest)
                return fail(b, name, req, "Invalid payload");

        if (json_object_is_type(req, json_type_object)) {
                if (json_object_object_get_ex(req, "id", &v) && (json_object_is_type(v, json_type_string) ||
                                                                  json_object_is_type(v, json_type_int)))
                        id = json_object_get_string(v);
                if (!id || !*id)
                        return fail(b, topic, req, "Invalid payload");
                if (json_object_object_get_ex(req, "url", NULL) || json_object_object_get_ex(req, "hex", NULL))
                        return fail(b, topic, req, "Images from 'url' or 'hex' are not supported by lumiplugd: put the "
                                    "image file into the OTA directory");
        } else if (json_object_is_type(req, json_type_string))
                id = json_object_get_string(req);
        if (!id || !*id)
                return fail(b, topic, req, "Invalid payload");

        d = bridge_resolve_device(b, id);
        p = d ? bridge_find_plug(b, d->ieee) : NULL;
        if (!d)
                return fail(b, topic, req, "Device '%s' does not exist", id);
        if (request_find(b, d->ieee) || (o->server && ota_server_busy(o->server, d->ieee))) {
                if (abort_it) {
                        char reason[96];

                        snprintf(reason, sizeof(reason), "OTA for device 0x%016" PRIx64 " was aborted", d->ieee);
                        log_fields(LOG_INFO, 0, bridge_device_fields(d, ieee_buf, NULL), "Aborting the OTA update of '%s'", d->friendly_name);
                        ota_server_cancel(o->server, d->ieee, reason);
                        return bridge_respond(b, name, req, id_data(id), NULL);
                }
                return fail(b, topic, req, "OTA update or check for update already in progress for '%s'", d->friendly_name);
        }
        if (abort_it)
                return fail(b, topic, req, "No OTA in progress to abort for device '%s'", d->friendly_name);
        if (!p || !p->model->ota)
                return fail(b, topic, req, "Device '%s' does not support OTA updates", d->friendly_name);
        if (!o->server)
                return fail(b, topic, req, "%s '%s' (%s)", update ? "OTA update of" : "Failed to check if OTA update available for",
                            d->friendly_name, "no Zigbee link");

        for (size_t i = 0; i < OTA_SESSIONS_MAX && !q; i++)
                if (!o->requests[i].ieee)
                        q = &o->requests[i];
        if (!q)
                return fail(b, topic, req, "Too many OTA updates and checks at once");

        if (update)
                log_fields(LOG_INFO, 0, bridge_device_fields(d, ieee_buf, NULL), "OTA updating '%s' to latest firmware", d->friendly_name);
        else
                log_fields(LOG_INFO, 0, bridge_device_fields(d, ieee_buf, NULL), "Checking if OTA update available for '%s'", d->friendly_name);
        r = update ? ota_server_update(o->server, d->ieee, ota_endpoint(d)) : ota_server_check(o->server, d->ieee, ota_endpoint(d));
        if (r < 0) {
                if (update)
                        return fail(b, topic, req, "OTA update of '%s' failed (%s)", d->friendly_name, bridge_error_text(r));
                return fail(b, topic, req, "Failed to check if OTA update available for '%s' (%s)", d->friendly_name,
                            bridge_error_text(r));
        }
        *q = (OtaRequest) { .ieee = d->ieee, .update = update, .request = json_object_get(req) };
        snprintf(q->topic, sizeof(q->topic), "%s", topic);
        snprintf(q->id, sizeof(q->id), "%s", id);
        snprintf(q->name, sizeof(q->name), "%s", d->friendly_name);
        q->from_sw_build_id = strdup_or_null(d->basic.sw_build_id);
        q->from_date_code = strdup_or_null(d->basic.date_code);
        return 0;
}

/* Zigbee2MQTT reads Basic dateCode and swBuildId in one request and keeps both only when the
 * read succeeds, i.e. when the device has both; the ZNCZ04LM has no swBuildId, so there it shows
 * file_version alone. The values here are the interview's. */
static json_object *firmware_json(uint32_t version, const char *sw, const char *date) {
        json_object *f = json_object_new_object();

        if (!f)
                return NULL;
        (void) json_object_object_add(f, "file_version", json_object_new_int64(version));
        if (sw && date) {
                (void) json_object_object_add(f, "software_build_id", json_object_new_string(sw));
                (void) json_object_object_add(f, "date_code", json_object_new_string(date));
        }
        return f;
}

static void apply_check(BridgePlug *p, const OtaEvent *ev) {
        set_state(p, ev->available ? "available" : "idle");
        p->ota.installed = ev->current_version;
        p->ota.latest = ev->latest_version;
        snprintf(p->ota.source, sizeof(p->ota.source), "%s", ev->source ? ev->source : "");
}

void bridge_on_ota_event(Bridge *b, uint64_t ieee, const OtaEvent *ev) {
        BridgePlug *p = bridge_find_plug(b, ieee);
        OtaRequest *q = request_find(b, ieee);
        Device *d = devdb_find_by_ieee(b->db, ieee);
        const char *name = d ? d->friendly_name : (q ? q->name : "?");
        char ieee_buf[19];
        json_object *data;

#define OTA_FIELDS_ERROR(err) \
        (&(LogFields) { .device = bridge_ieee_string(ieee, ieee_buf), .name = name, .error = (err) })
#define OTA_FIELDS OTA_FIELDS_ERROR(NULL)

        switch (ev->kind) {
        case OTA_EVENT_PROGRESS:
                if (!p)
                        return;
                set_state(p, "updating");
                if (ev->have_current) {         /* the start: what is installed, what comes */
                        p->ota.installed = ev->current_version;
                        p->ota.latest = ev->latest_version;
                        snprintf(p->ota.source, sizeof(p->ota.source), "%s", ev->source ? ev->source : "");
                }
                p->ota.have_progress = true;
                p->ota.progress = ev->progress;
                p->ota.remaining = ev->remaining > 0 ? round_half_away(ev->remaining) : 0;     /* Math.round */
                log_fields(LOG_INFO, 0, OTA_FIELDS, "OTA update of '%s' at %.2f%%, %.0f seconds remaining", name, ev->progress, p->ota.remaining);
                publish(b, p);
                if (ev->have_current)
                        bridge_devdb_changed(b, true);  /* on disk now: a restart must know it was updating */
                return;

        case OTA_EVENT_CHECKED:
                if (p && ev->unsolicited) {
                        /* the plug asked by itself: as Zigbee2MQTT's automatic check, at most once
                         * per update_check_interval (1 day); it got NO_IMAGE_AVAILABLE anyway */
                        uint64_t now = bridge_now(b);

                        if (p->ota.last_checked && now - p->ota.last_checked < OTA_AUTO_CHECK_INTERVAL_USEC)
                                return;
                        p->ota.last_checked = now;
                        apply_check(p, ev);
                        publish(b, p);
                        if (ev->available)
                                log_fields(LOG_INFO, 0, OTA_FIELDS, "OTA update available for '%s'", name);
                        return;
                }
                if (p) {
                        p->ota.last_checked = bridge_now(b);
                        apply_check(p, ev);
                        publish(b, p);
                }
                if (ev->unsolicited || !q)
                        return;
                log_fields(LOG_INFO, 0, OTA_FIELDS, "%sOTA update available for '%s'", ev->available ? "" : "No ", name);
                data = json_object_new_object();
                if (data) {
                        (void) json_object_object_add(data, "id", json_object_new_string(q->id));
                        (void) json_object_object_add(data, "update_available", json_object_new_boolean(ev->available));
                        (void) json_object_object_add(data, "downgrade", json_object_new_boolean(false));
                        if (ev->source)
                                (void) json_object_object_add(data, "source", json_object_new_string(ev->source));
                }
                (void) bridge_respond(b, q->topic, q->request, data, NULL);
                request_clear(q);
                return;

        case OTA_EVENT_INSTALLED:
                if (p) {
                        set_state(p, ev->available ? "available" : "idle");
                        p->ota.installed = ev->to_version;
                        p->ota.latest = ev->latest_version;
                        snprintf(p->ota.source, sizeof(p->ota.source), "%s", ev->source ? ev->source : "");
                        publish(b, p);
                }
                log_fields(LOG_INFO, 0, OTA_FIELDS, "Finished update of '%s'", name);
                log_fields(LOG_NOTICE, 0, OTA_FIELDS, "Device '%s' was OTA updated from '%" PRIu32 "' to '%" PRIu32 "'", name, ev->from_version,
                           ev->to_version);
                if (!q)
                        return;
                data = json_object_new_object();
                if (data) {
                        (void) json_object_object_add(data, "id", json_object_new_string(q->id));
                        (void) json_object_object_add(data, "from", firmware_json(ev->from_version, q->from_sw_build_id,
                                                                                  q->from_date_code));
                        /* the Basic attributes of the new firmware come with the interview that follows */
                        (void) json_object_object_add(data, "to", firmware_json(ev->to_version, NULL, NULL));
                }
                (void) bridge_respond(b, q->topic, q->request, data, NULL);
                request_clear(q);
                return;

        case OTA_EVENT_FAILED:
                if (p && ev->update) {
                        if (ev->no_image) {
                                /* Zigbee2MQTT publishes {available: false, current} */
                                set_state(p, "idle");
                                if (ev->have_current)
                                        p->ota.installed = p->ota.latest = ev->current_version;
                        } else {
                                set_state(p, "available");
                                if (p->ota.latest < 0 && ev->have_current)
                                        p->ota.installed = ev->current_version;
                        }
                        publish(b, p);
                }
                if (!q) {
                        log_fields(LOG_WARNING, 0, OTA_FIELDS_ERROR("ota-failed"), "OTA for '%s' ended: %s", name, ev->message);
                        return;
                }
                if (!q->update)
                        (void) fail(b, q->topic, q->request, "Failed to check if OTA update available for '%s' (%s)", q->name,
                                    ev->message);
                else if (ev->no_image)
                        (void) fail(b, q->topic, q->request, "Update of '%s' failed (%s)", q->name, ev->message);
                else
                        (void) fail(b, q->topic, q->request, "OTA update of '%s' failed (%s)", q->name, ev->message);
                request_clear(q);
                return;
        }
#undef OTA_FIELDS
#undef OTA_FIELDS_ERROR
}
