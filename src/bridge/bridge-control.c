/*
 * Calls from the local control socket into the bridge (see bridge.h): set/get run the very code of
 * <name>/set and <name>/get (bridge_set_get) with a call id on every action they start; bridge
 * requests are dispatched as if they came over MQTT, with a "transaction" of our own that every
 * response echoes, so whatever publishes on bridge/response/<name> -- now or when the Zigbee work
 * completes, and whichever request handler it is, also ones added later -- is recognised and
 * handed to the caller too. Also the read-only device views.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge-private.h"
#include "util/json-util.h"
#include "util/macro.h"

typedef struct BridgeCall {
        uint64_t id;                    /* 0: free slot */
        BridgeCallFn fn;
        void *userdata;
        char transaction[40];           /* bridge requests: "lumiplugctl-<id>" */
        unsigned holds;                 /* set/get: actions in flight, + 1 while starting */
        char code[24];                  /* first error, "" none */
        char message[320];
} BridgeCall;

struct BridgeCalls {
        BridgeCall calls[BRIDGE_CALLS_MAX];
};

static BridgeCall *call_find(Bridge *b, uint64_t id) {
        if (!b || id == 0 || !b->calls)
                return NULL;
        for (size_t i = 0; i < BRIDGE_CALLS_MAX; i++)
                if (b->calls->calls[i].id == id)
                        return &b->calls->calls[i];
        return NULL;
}

static BridgeCall *call_new(Bridge *b, uint64_t id, BridgeCallFn fn, void *userdata) {
        if (!b->calls) {
                b->calls = calloc(1, sizeof(*b->calls));
                if (!b->calls)
                        return NULL;
        }
        for (size_t i = 0; i < BRIDGE_CALLS_MAX; i++) {
                BridgeCall *c = &b->calls->calls[i];

                if (c->id)
                        continue;
                *c = (BridgeCall) { .id = id, .fn = fn, .userdata = userdata };
                return c;
        }
        return NULL;
}

/* The slot is freed before fn runs: fn may start (or cancel) calls. */
static void call_finish(BridgeCall *c, json_object *response) {
        BridgeCallFn fn = c->fn;
        void *userdata = c->userdata;
        uint64_t id = c->id;

        *c = (BridgeCall) {};
        if (fn)
                fn(userdata, id, response);
}

void bridge_call_cancel(Bridge *b, uint64_t call) {
        BridgeCall *c = call_find(b, call);

        if (c)
                *c = (BridgeCall) {};
}

void bridge_calls_free(Bridge *b) {
        free(b->calls);
        b->calls = NULL;
}

static void call_record(BridgeCall *c, const char *code, const char *message) {
        if (c->code[0] || !code)
                return;                 /* the first error is the answer */
        (void) snprintf(c->code, sizeof(c->code), "%s", code);
        (void) snprintf(c->message, sizeof(c->message), "%s", message ?: code);
}

static void call_complete_set_get(BridgeCall *c) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "status", c->code[0] ? "error" : "ok") < 0 ||
            (c->code[0] && (json_add_string(o, "error", c->message) < 0 ||
                            json_add_string(o, "code", c->code) < 0))) {
                json_object_put(TAKE_PTR(o));
                /* still tell the caller, or it would wait for ever */
                call_finish(c, NULL);
                return;
        }
        call_finish(c, o);
}

void bridge_call_hold(Bridge *b, uint64_t call) {
        BridgeCall *c = call_find(b, call);

        if (c)
                c->holds++;
}

void bridge_call_error(Bridge *b, uint64_t call, const char *code, const char *message) {
        BridgeCall *c = call_find(b, call);

        if (c)
                call_record(c, code, message);
}

void bridge_call_release(Bridge *b, uint64_t call, const char *code, const char *message) {
        BridgeCall *c = call_find(b, call);

        if (!c)
                return;
        call_record(c, code, message);
        if (c->holds > 0)
                c->holds--;
        if (c->holds == 0)
                call_complete_set_get(c);
}

int bridge_call_set_get(Bridge *b, const char *device, bool is_get, const char *payload, size_t len,
                        uint64_t id, BridgeCallFn fn, void *userdata) {
        BridgePlug *p;
        BridgeCall *c;
        Device *d;

        if (!b || !device || !payload || id == 0 || call_find(b, id))
                return -EINVAL;
        d = bridge_resolve_device(b, device);
        if (!d)
                return -ENOENT;
        p = bridge_find_plug(b, d->ieee);
        if (!p)
                return -EOPNOTSUPP;
        c = call_new(b, id, fn, userdata);
        if (!c)
                return b->calls ? -EBUSY : -ENOMEM;
        /* held while the actions start, so that one finishing at once does not end the call early */
        c->holds = 1;
        bridge_set_get(b, d, p, is_get, NULL, payload, len, id);
        bridge_call_release(b, id, NULL, NULL);
        return 0;
}

int bridge_call_request(Bridge *b, const char *name, json_object *payload, uint64_t id, BridgeCallFn fn,
                        void *userdata) {
        _cleanup_(bridge_json_putp) json_object *req = NULL;
        BridgeCall *c;
        const char *text;
        int r;

        if (!b || !name || !json_object_is_type(payload, json_type_object) || id == 0 || call_find(b, id))
                return -EINVAL;
        if (json_object_deep_copy(payload, &req, NULL) < 0)
                return -ENOMEM;
        c = call_new(b, id, fn, userdata);
        if (!c)
                return b->calls ? -EBUSY : -ENOMEM;
        (void) snprintf(c->transaction, sizeof(c->transaction), "lumiplugctl-%" PRIu64, id);
        if (json_add_string(req, "transaction", c->transaction) < 0) {
                bridge_call_cancel(b, id);
                return -ENOMEM;
        }
        text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
        if (!text) {
                bridge_call_cancel(b, id);
                return -ENOMEM;
        }
        r = bridge_handle_request(b, name, text, strlen(text));
        if (r < 0 && call_find(b, id)) {
                bridge_call_cancel(b, id);
                return r;
        }
        return 0;
}

/* Everything the bridge publishes passes here first (also while MQTT is down): a response on
 * <base>/bridge/response/... that echoes a transaction of ours answers that call, whichever code
 * published it. */
void bridge_call_on_publish(Bridge *b, const char *topic, const char *payload) {
        _cleanup_(bridge_json_putp) json_object *response = NULL;
        size_t blen = strlen(b->cfg.base_topic);
        const char *transaction;
        bool waiting = false;
        json_object *t;

        if (!b->calls || strncmp(topic, b->cfg.base_topic, blen) != 0 ||
            strncmp(topic + blen, "/bridge/response/", 17) != 0)
                return;
        for (size_t i = 0; i < BRIDGE_CALLS_MAX && !waiting; i++)
                waiting = b->calls->calls[i].id && b->calls->calls[i].transaction[0];
        if (!waiting)
                return;
        response = json_tokener_parse(payload);
        if (!json_object_object_get_ex(response, "transaction", &t) || !json_object_is_type(t, json_type_string))
                return;
        transaction = json_object_get_string(t);
        for (size_t i = 0; i < BRIDGE_CALLS_MAX; i++) {
                BridgeCall *c = &b->calls->calls[i];

                if (c->id && c->transaction[0] && strcmp(c->transaction, transaction) == 0) {
                        call_finish(c, response);
                        return;
                }
        }
}

/*
 * Views
 */

void bridge_get_summary(const Bridge *b, BridgeSummary *ret) {
        uint64_t now = bridge_now(b);

        *ret = (BridgeSummary) {
                .n_devices = devdb_count(b->db),
                .n_plugs = b->n_plugs,
                .coordinator = b->have_coordinator,
                .mqtt_connected = b->connected,
        };
        for (size_t i = 0; i < b->n_plugs; i++)
                if (b->plugs[i]->published == AVAILABILITY_ONLINE)
                        ret->n_online++;
        if (b->permit_join_end > now)
                ret->permit_join_remaining = (unsigned) ((b->permit_join_end - now + 999999) / 1000000);
}

static const char *availability_name(const BridgePlug *p) {
        if (!p)
                return "unknown";
        switch (p->published) {
        case AVAILABILITY_ONLINE:  return "online";
        case AVAILABILITY_OFFLINE: return "offline";
        default:                   return "unknown";
        }
}

static const char *interview_text(DevInterviewState s) {
        switch (s) {
        case DEV_INTERVIEW_IN_PROGRESS: return "in-progress";
        case DEV_INTERVIEW_SUCCESSFUL:  return "successful";
        case DEV_INTERVIEW_FAILED:      return "failed";
        default:                        return "pending";
        }
}

static json_object *device_view(Bridge *b, const Device *d) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();
        BridgePlug *p = bridge_find_plug(b, d->ieee);
        json_object *state = NULL, *lqi = NULL;
        uint64_t last_seen = p && p->last_seen ? p->last_seen : d->last_seen_usec;
        char ieee[19];

        if (!o)
                return NULL;
        bridge_format_ieee(d->ieee, ieee);
        if (p)
                state = plug_state_to_json(&p->state, p->model, false, NULL);
        else if (d->state)
                state = json_object_get(d->state);
        if (state && json_object_object_get_ex(state, "linkquality", &lqi))
                lqi = json_object_get(lqi);
        if (json_add_string(o, "name", d->friendly_name) < 0 ||
            json_add_string(o, "ieee", ieee) < 0 ||
            json_object_object_add(o, "model", d->model ? json_object_new_string(d->model) :
                                   d->basic.model_id ? json_object_new_string(d->basic.model_id) : NULL) < 0 ||
            json_add(o, "supported", json_object_new_boolean(p != NULL)) < 0 ||
            json_add_string(o, "interview", interview_text(d->interview)) < 0 ||
            json_add_string(o, "availability", availability_name(p)) < 0 ||
            json_object_object_add(o, "last_seen", last_seen ? json_object_new_int64((int64_t) (last_seen / 1000))
                                                            : NULL) < 0 ||
            json_object_object_add(o, "linkquality", lqi) < 0) {
                json_object_put(state);
                return NULL;
        }
        if (json_add(o, "state", state ?: json_object_new_object()) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_object *bridge_devices_view(Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < devdb_count(b->db); i++) {
                json_object *o = device_view(b, devdb_get(b->db, i));

                if (!o || json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        return NULL;
                }
        }
        return TAKE_PTR(a);
}

json_object *bridge_device_view(Bridge *b, const char *id) {
        const Device *d = id ? bridge_resolve_device(b, id) : NULL;

        return d ? device_view(b, d) : NULL;
}
