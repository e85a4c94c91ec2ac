/*
 * The MQTT device bridge against fake MQTT and Zigbee ops: every line of issue 5's proof that can be
 * shown at this layer, and bridge/devices + the plug state compared with Zigbee2MQTT 2.14.1's
 * captures in tests/peer/reference.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bridge/bridge.h"
#include "util/log.h"

#define BASE "zigbee2mqtt"
#define PLUG1 0x00158d0001a2b301ull
#define PLUG1_S "0x00158d0001a2b301"
#define COORD 0x00124b0029a1b2c3ull
#define MINUTE 60000000ull
#define SEC 1000000ull

typedef struct Msg {
        char *topic, *payload;
        bool retain;
        int qos;
} Msg;

typedef struct Sent {
        uint64_t token, ieee;
        PlugAction a;
} Sent;

static struct {
        Msg msgs[20000];
        size_t n_msgs;
        char subs[16][128];
        size_t n_subs, n_unsubs;
        Sent actions[256];
        size_t n_actions;
        uint64_t pings[64];
        size_t n_pings;
        uint64_t pj_token;
        unsigned pj_seconds;
        uint64_t rm_token, rm_ieee;
        uint64_t now;
        int restarts, saves, plugs_changed;
        uint64_t forgotten;
        char dir[64];
        DevDb *db;
        Bridge *b;
        BridgeConfig cfg;
} E;

/* fake ops */

static int fake_publish(void *u, const char *topic, const void *payload, size_t len, bool retain, int qos) {
        Msg *m;

        assert(E.n_msgs < ELEMENTSOF(E.msgs));
        m = &E.msgs[E.n_msgs++];
        m->topic = strdup(topic);
        m->payload = strndup(payload, len);
        assert(strlen(m->payload) == len);
        m->retain = retain;
        m->qos = qos;
        return 0;
}

static int fake_subscribe(void *u, const char *topic) {
        assert(E.n_subs < ELEMENTSOF(E.subs));
        snprintf(E.subs[E.n_subs++], sizeof(E.subs[0]), "%s", topic);
        return 0;
}

/* E.subs is the list the MQTT client keeps (and renews in order at a reconnect) */
static int fake_unsubscribe(void *u, const char *topic) {
        E.n_unsubs++;
        for (size_t i = 0; i < E.n_subs; i++)
                if (strcmp(E.subs[i], topic) == 0) {
                        memmove(E.subs[i], E.subs[i + 1], (E.n_subs - i - 1) * sizeof(E.subs[0]));
                        E.n_subs--;
                        break;
                }
        return 0;
}

static int fake_send_action(void *u, uint64_t ieee, uint16_t nwk, const PlugAction *a, uint64_t token) {
        uint8_t buf[64];

        assert(plug_action_build_frame(a, 1, buf, sizeof(buf)) > 0);
        assert(E.n_actions < ELEMENTSOF(E.actions));
        E.actions[E.n_actions++] = (Sent) { .token = token, .ieee = ieee, .a = *a };
        return 0;
}

static int fake_ping(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) {
        assert(E.n_pings < ELEMENTSOF(E.pings));
        E.pings[E.n_pings++] = token;
        return 0;
}

static int fake_permit_join(void *u, unsigned seconds, uint64_t token) {
        E.pj_token = token;
        E.pj_seconds = seconds;
        return 0;
}

static int fake_remove(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) {
        E.rm_token = token;
        E.rm_ieee = ieee;
        return 0;
}

static uint64_t fake_now(void *u) {
        return E.now;
}

static void fake_restart(void *u) {
        E.restarts++;
}

static void fake_devdb_changed(void *u, bool urgent) {
        E.saves++;
}

static void fake_plugs_changed(void *u) {
        E.plugs_changed++;
}

static void fake_forgotten(void *u, uint64_t ieee) {
        E.forgotten = ieee;
}

static const BridgeMqttOps mqtt_ops = { fake_publish, fake_subscribe, fake_unsubscribe };
static const BridgeZigbeeOps zigbee_ops = { fake_send_action, fake_ping, fake_permit_join, fake_remove };
static const BridgeOwnerOps owner_ops = { fake_now, fake_restart, fake_devdb_changed, fake_plugs_changed };

static void check_plugs(unsigned plugs, unsigned online) {
        unsigned n, o;

        bridge_count_plugs(E.b, &n, &o);
        assert(n == plugs && o == online);
}

/* helpers */

static const char *last(const char *topic) {
        for (size_t i = E.n_msgs; i > 0; i--)
                if (strcmp(E.msgs[i - 1].topic, topic) == 0)
                        return E.msgs[i - 1].payload;
        return NULL;
}

static const Msg *last_msg(const char *topic) {
        for (size_t i = E.n_msgs; i > 0; i--)
                if (strcmp(E.msgs[i - 1].topic, topic) == 0)
                        return &E.msgs[i - 1];
        return NULL;
}

static size_t count(const char *topic) {
        size_t n = 0;
        for (size_t i = 0; i < E.n_msgs; i++)
                n += strcmp(E.msgs[i].topic, topic) == 0;
        return n;
}

static void clear_msgs(void) {
        for (size_t i = 0; i < E.n_msgs; i++) {
                free(E.msgs[i].topic);
                free(E.msgs[i].payload);
        }
        E.n_msgs = 0;
}

static void mqtt(const char *topic, const char *payload) {
        assert(bridge_on_mqtt_message(E.b, topic, payload, strlen(payload)) == 0);
}

static const Sent *last_action(void) {
        assert(E.n_actions > 0);
        return &E.actions[E.n_actions - 1];
}

static void check_error(const char *expected) {
        if (strcmp(bridge_last_error(E.b), expected) != 0) {
                fprintf(stderr, "error:    %s\nexpected: %s\n", bridge_last_error(E.b), expected);
                assert(false);
        }
}

static void check_payload(const char *topic, const char *expected) {
        const char *p = last(topic);
        if (!p || strcmp(p, expected) != 0) {
                fprintf(stderr, "%s:\n  got      %s\n  expected %s\n", topic, p ? p : "(nothing)", expected);
                assert(false);
        }
}

static json_object *state_of(const char *name) {
        char topic[256];
        json_object *o;

        snprintf(topic, sizeof(topic), BASE "/%s", name);
        assert(last(topic));
        o = json_tokener_parse(last(topic));
        assert(o);
        return o;
}

static const char *state_value(const char *name, const char *key) {
        static char buf[256];
        json_object *o = state_of(name), *v;

        if (!json_object_object_get_ex(o, key, &v))
                snprintf(buf, sizeof(buf), "(absent)");
        else
                snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return buf;
}

static void env_start(bool availability, bool homeassistant) {
        BridgeCoordinator c = {
                .ieee = COORD, .type = "ZStack3x0", .transportrev = 2, .product = 1, .majorrel = 2, .minorrel = 7,
                .maintrel = 1, .revision = 20240710, .channel = 11, .pan_id = 6754, .ext_pan_id = 0xdddddddddddddd11ull,
        };
        static const uint8_t coord_eps[] = { 1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 47, 110, 239, 242 };

        for (size_t i = 0; i < ELEMENTSOF(coord_eps); i++)
                c.endpoints[c.n_endpoints++] = (DevEndpoint) { .id = coord_eps[i] };
        c.endpoints[8] = (DevEndpoint) { .id = 11, .n_in = 2, .in = { 0x0501, 0x000A }, .n_out = 2, .out = { 0x0500, 0x0502 } };
        c.endpoints[10] = (DevEndpoint) { .id = 13, .n_in = 1, .in = { 0x0019 } };

        E.cfg = (BridgeConfig) {
                .base_topic = BASE, .retain_state = true, .availability = availability,
                .homeassistant = homeassistant, .discovery_prefix = "homeassistant",
                .ha_status_topic = "homeassistant/status", .log_level = "debug",
        };
        assert(bridge_new(&E.b, &E.cfg, E.db, &mqtt_ops, &zigbee_ops, &owner_ops, NULL) == 0);
        bridge_set_forget_callback(E.b, fake_forgotten);
        bridge_set_coordinator(E.b, &c);
        assert(bridge_on_mqtt_connected(E.b) == 0);
}

static void env_new(bool availability, bool homeassistant) {
        snprintf(E.dir, sizeof(E.dir), "/tmp/test-bridge-XXXXXX");
        assert(mkdtemp(E.dir));
        assert(devdb_new(&E.db, E.dir) == 0);
        E.now = 1700000000ull * SEC;
        env_start(availability, homeassistant);
}

static void env_stop(void) {
        E.b = bridge_free(E.b);
        clear_msgs();
        E.n_subs = E.n_unsubs = E.n_actions = E.n_pings = 0;
}

static void env_free(void) {
        char cmd[128];

        env_stop();
        E.db = devdb_free(E.db);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
        assert(system(cmd) == 0);
}

static void interview_result(InterviewResult *r, uint64_t ieee, uint16_t nwk, const char *model) {
        *r = (InterviewResult) {
                .ieee = ieee, .nwk = nwk, .success = true, .failed_step = INTERVIEW_DONE,
                .node = { .logical_type = 1, .mac_capabilities = 0x8e, .manufacturer_code = 0x115f },
                .n_endpoints = 4, .basic_endpoint = 1,
                .endpoints = {
                        { .endpoint = 1, .profile = 260, .device_id = 0x51, .n_in = 7,
                          .in = { 0x0000, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0xFCC0 },
                          .n_out = 2, .out = { 0x000A, 0x0019 } },
                        { .endpoint = 21, .profile = 260, .device_id = 0x51, .n_in = 1, .in = { 0x000C } },
                        { .endpoint = 22, .profile = 260, .device_id = 0x51, .n_in = 1, .in = { 0x000C } },
                        { .endpoint = 242, .profile = 0xA1E0, .device_id = 0x61, .n_out = 1, .out = { 0x0021 } },
                },
                .power_source = 1, .hw_version = 1, .zcl_version = 1, .app_version = 22,
        };
        r->have = (1u << INTERVIEW_ATTR_MODEL_ID) | (1u << INTERVIEW_ATTR_MANUFACTURER_NAME) |
                  (1u << INTERVIEW_ATTR_POWER_SOURCE) | (1u << INTERVIEW_ATTR_HW_VERSION) |
                  (1u << INTERVIEW_ATTR_DATE_CODE) | (1u << INTERVIEW_ATTR_ZCL_VERSION) | (1u << INTERVIEW_ATTR_APP_VERSION);
        snprintf(r->model_id, sizeof(r->model_id), "%s", model);
        snprintf(r->manufacturer_name, sizeof(r->manufacturer_name), "LUMI");
        snprintf(r->date_code, sizeof(r->date_code), "09-06-2019");
}

static void pair(uint64_t ieee, uint16_t nwk, const char *name) {
        InterviewResult r;
        char req[256];

        interview_result(&r, ieee, nwk, "lumi.plug.mmeu01");
        assert(bridge_on_device_joined(E.b, ieee, nwk) == 0);
        assert(bridge_on_interview_started(E.b, ieee, nwk) == 0);
        assert(bridge_on_interview_done(E.b, &r) == 0);
        if (name) {
                snprintf(req, sizeof(req), "{\"from\":\"0x%016llx\",\"to\":\"%s\"}", (unsigned long long) ieee, name);
                mqtt(BASE "/bridge/request/device/rename", req);
                assert(strstr(last(BASE "/bridge/response/device/rename"), "\"status\":\"ok\""));
        }
}

/* ZCL answers of the plug, delivered as the host does: the transaction completes, then the frame
 * goes up like any other */
#define ANSWER_LQI 66
static void answer(const Sent *s, const uint8_t *frame, size_t len) {
        bridge_complete(E.b, s->token, 0, frame, len);
        assert(bridge_on_zcl(E.b, s->ieee, s->a.endpoint, s->a.cluster, frame, len, ANSWER_LQI) == 0);
}

static void answer_default_rsp(const Sent *s, uint8_t status) {
        uint8_t f[] = { 0x18, 0x01, 0x0B, s->a.command, status };
        answer(s, f, sizeof(f));
}

static void answer_write_rsp(const Sent *s, uint8_t status) {
        uint8_t ok[] = { 0x1C, 0x5F, 0x11, 0x01, 0x04, 0x00 };
        uint8_t bad[] = { 0x1C, 0x5F, 0x11, 0x01, 0x04, status, s->a.attribute & 0xff, s->a.attribute >> 8 };
        if (status == 0)
                answer(s, ok, sizeof(ok));
        else
                answer(s, bad, sizeof(bad));
}

static void answer_read_bool(const Sent *s, bool v) {
        uint8_t lumi[] = { 0x1C, 0x5F, 0x11, 0x01, 0x01, s->a.attribute & 0xff, s->a.attribute >> 8, 0x00, 0x10, v };
        uint8_t std[] = { 0x18, 0x01, 0x01, s->a.attribute & 0xff, s->a.attribute >> 8, 0x00, 0x10, v };
        if (s->a.manufacturer)
                answer(s, lumi, sizeof(lumi));
        else
                answer(s, std, sizeof(std));
}

static void answer_read_single(const Sent *s, float v) {
        uint8_t f[16];
        size_t n = 0;

        if (s->a.manufacturer) {
                f[n++] = 0x1C; f[n++] = 0x5F; f[n++] = 0x11;
        } else
                f[n++] = 0x18;
        f[n++] = 0x01; f[n++] = 0x01;
        f[n++] = s->a.attribute & 0xff; f[n++] = s->a.attribute >> 8; f[n++] = 0x00; f[n++] = 0x39;
        memcpy(f + n, &v, 4);   /* little-endian host, as the test machines are */
        n += 4;
        answer(s, f, n);
}

static void report_onoff(uint64_t ieee, bool on, uint8_t lqi) {
        uint8_t f[] = { 0x18, 0x22, 0x0A, 0x00, 0x00, 0x10, on };
        assert(bridge_on_zcl(E.b, ieee, 1, 0x0006, f, sizeof(f), lqi) == 0);
}

/* Lumi 0x00F7 TLV report from the reference notes (example 1: 26 degC, 0 W, ~229 V) */
static const uint8_t tlv_report[] = {
        0x1C, 0x5F, 0x11, 0x10, 0x0A, 0xF7, 0x00, 0x41, 61,
        0x64, 0x10, 0x00, 0x03, 0x28, 0x1A, 0x98, 0x39, 0x00, 0x00, 0x00, 0x00,
        0x95, 0x39, 0x44, 0x1D, 0x34, 0x3F, 0x96, 0x39, 0x00, 0x80, 0x13, 0x45,
        0x97, 0x39, 0x00, 0x00, 0x00, 0x00, 0x05, 0x21, 0x01, 0x00, 0x9A, 0x20, 0x00,
        0x08, 0x21, 0x16, 0x01, 0x07, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x09, 0x21, 0x00, 0x04, 0x0B, 0x20, 0x00, 0x9B, 0x10, 0x00,
};

static void report_tlv(uint64_t ieee) {
        assert(bridge_on_zcl(E.b, ieee, 1, 0xFCC0, tlv_report, sizeof(tlv_report), 120) == 0);
}

static json_object *read_reference(const char *file) {
        const char *root = getenv("LUMI_SOURCE_ROOT");
        char path[1024];
        json_object *o;

        snprintf(path, sizeof(path), "%s/tests/peer/reference/%s", root ? root : "../..", file);
        o = json_object_from_file(path);
        if (!o)
                fprintf(stderr, "cannot read %s\n", path);
        assert(o);
        return o;
}

/* Deep equality that names the first difference. */
static bool json_same(json_object *a, json_object *b, const char *path) {
        char sub[512];

        if (json_object_get_type(a) != json_object_get_type(b) &&
            !(json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_double)) &&
            !(json_object_is_type(a, json_type_double) && json_object_is_type(b, json_type_int))) {
                fprintf(stderr, "%s: type %s vs %s\n", path, json_type_to_name(json_object_get_type(a)),
                        json_type_to_name(json_object_get_type(b)));
                return false;
        }
        switch (json_object_get_type(a)) {
        case json_type_object: {
                json_object_object_foreach(a, k, v) {
                        json_object *w;
                        snprintf(sub, sizeof(sub), "%s.%s", path, k);
                        if (!json_object_object_get_ex(b, k, &w)) {
                                fprintf(stderr, "%s: only in ours\n", sub);
                                return false;
                        }
                        if (!json_same(v, w, sub))
                                return false;
                }
                json_object_object_foreach(b, k2, v2) {
                        (void) v2;
                        if (!json_object_object_get_ex(a, k2, NULL)) {
                                fprintf(stderr, "%s.%s: only in the reference\n", path, k2);
                                return false;
                        }
                }
                return true;
        }
        case json_type_array:
                if (json_object_array_length(a) != json_object_array_length(b)) {
                        fprintf(stderr, "%s: %zu vs %zu elements\n", path, json_object_array_length(a),
                                json_object_array_length(b));
                        return false;
                }
                for (size_t i = 0; i < json_object_array_length(a); i++) {
                        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                        if (!json_same(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i), sub))
                                return false;
                }
                return true;
        case json_type_null:
                return true;
        case json_type_double:
        case json_type_int:
                if (json_object_get_double(a) != json_object_get_double(b)) {
                        fprintf(stderr, "%s: %g vs %g\n", path, json_object_get_double(a), json_object_get_double(b));
                        return false;
                }
                return true;
        default:
                if (strcmp(json_object_get_string(a), json_object_get_string(b)) != 0) {
                        fprintf(stderr, "%s: '%s' vs '%s'\n", path, json_object_get_string(a), json_object_get_string(b));
                        return false;
                }
                return true;
        }
}

/* Every key we publish exists in the reference at the same path with the same JSON type. */
static bool json_shape_within(json_object *ours, json_object *ref, const char *path) {
        char sub[512];

        if (!json_object_is_type(ours, json_type_object))
                return json_object_get_type(ours) == json_object_get_type(ref) ||
                       (json_object_is_type(ours, json_type_int) && json_object_is_type(ref, json_type_double));
        if (!json_object_is_type(ref, json_type_object)) {
                fprintf(stderr, "%s: object vs %s\n", path, json_type_to_name(json_object_get_type(ref)));
                return false;
        }
        json_object_object_foreach(ours, k, v) {
                json_object *w;
                snprintf(sub, sizeof(sub), "%s.%s", path, k);
                if (!json_object_object_get_ex(ref, k, &w)) {
                        fprintf(stderr, "%s: not in Zigbee2MQTT's bridge/info\n", sub);
                        return false;
                }
                if (!json_shape_within(v, w, sub)) {
                        fprintf(stderr, "%s: type differs\n", sub);
                        return false;
                }
        }
        return true;
}

/*
 * Tests
 */

static void test_pairing_publishes_zigbee2mqtt_events_and_devices(void) {
        env_new(false, true);
        clear_msgs();
        assert(bridge_on_device_joined(E.b, PLUG1, 23878) == 0);
        check_payload(BASE "/bridge/event",
                      "{\"data\":{\"friendly_name\":\"" PLUG1_S "\",\"ieee_address\":\"" PLUG1_S "\"},\"type\":\"device_joined\"}");
        assert(!last_msg(BASE "/bridge/event")->retain);
        assert(last_msg(BASE "/bridge/devices")->retain);
        assert(bridge_on_interview_started(E.b, PLUG1, 23878) == 0);
        check_payload(BASE "/bridge/event",
                      "{\"data\":{\"friendly_name\":\"" PLUG1_S "\",\"ieee_address\":\"" PLUG1_S "\",\"status\":\"started\"},"
                      "\"type\":\"device_interview\"}");
        assert(strstr(last(BASE "/bridge/devices"), "\"interview_state\":\"IN_PROGRESS\""));

        InterviewResult r;
        interview_result(&r, PLUG1, 23878, "lumi.plug.mmeu01");
        assert(bridge_on_interview_done(E.b, &r) == 0);
        {
                json_object *ev = json_tokener_parse(last(BASE "/bridge/event")), *data, *v;
                assert(ev);
                assert(json_object_object_get_ex(ev, "data", &data));
                assert(json_object_object_get_ex(data, "status", &v) && strcmp(json_object_get_string(v), "successful") == 0);
                assert(json_object_object_get_ex(data, "supported", &v) && json_object_get_boolean(v));
                assert(json_object_object_get_ex(data, "definition", &v));
                assert(json_object_object_get_ex(v, "model", &v) && strcmp(json_object_get_string(v), "ZNCZ04LM") == 0);
                json_object_put(ev);
        }
        assert(strstr(last(BASE "/bridge/devices"), "\"interview_state\":\"SUCCESSFUL\""));
        /* discovery waits for the retained configs of the last run, then comes */
        assert(!last("homeassistant/switch/" PLUG1_S "/switch/config"));
        E.now += 5 * SEC;
        bridge_tick(E.b);
        assert(E.n_unsubs == 1);
        assert(strstr(last("homeassistant/switch/" PLUG1_S "/switch/config"), "\"command_topic\":\"" BASE "/" PLUG1_S "/set\""));
        assert(last_msg("homeassistant/switch/" PLUG1_S "/switch/config")->retain);
        assert(last("homeassistant/binary_sensor/1221051039810110150109113116116_0x00124b0029a1b2c3/connection_state/config"));

        /* an unsupported device is recorded and listed, without definition */
        interview_result(&r, 0x0011223344556677ull, 0x1234, "lumi.sensor_magnet");
        assert(bridge_on_device_joined(E.b, r.ieee, r.nwk) == 0);
        assert(bridge_on_interview_done(E.b, &r) == 0);
        assert(strstr(last(BASE "/bridge/event"), "\"supported\":false"));
        mqtt(BASE "/0x0011223344556677/set", "{\"state\":\"ON\"}");
        check_error("Cannot publish to unsupported device '0x0011223344556677'");

        /* leave: event, and the device is gone from bridge/devices */
        assert(bridge_on_device_left(E.b, r.ieee) == 0);
        check_payload(BASE "/bridge/event", "{\"data\":{\"friendly_name\":\"0x0011223344556677\",\"ieee_address\":"
                                            "\"0x0011223344556677\"},\"type\":\"device_leave\"}");
        assert(!strstr(last(BASE "/bridge/devices"), "0x0011223344556677"));
        assert(E.forgotten == 0x0011223344556677ull);
        env_free();
}

static void test_bridge_devices_and_info_match_zigbee2mqtt(void) {
        json_object *ref, *ours, *info, *ref_info, *v, *w;

        env_new(false, true);
        pair(PLUG1, 23878, "plug1");
        ref = read_reference("bridge-devices.json");
        ours = json_tokener_parse(last(BASE "/bridge/devices"));
        assert(ours && json_object_array_length(ours) == 2 && json_object_array_length(ref) == 2);
        assert(json_same(json_object_array_get_idx(ours, 0), json_object_array_get_idx(ref, 0), "coordinator"));
        assert(json_same(json_object_array_get_idx(ours, 1), json_object_array_get_idx(ref, 1), "plug1"));
        json_object_put(ours);
        json_object_put(ref);

        ref_info = read_reference("bridge-info.json");
        info = json_tokener_parse(last(BASE "/bridge/info"));
        assert(info);
        assert(json_object_object_get_ex(info, "coordinator", &v) && json_object_object_get_ex(ref_info, "coordinator", &w));
        assert(json_same(v, w, "coordinator"));
        assert(json_object_object_get_ex(info, "network", &v) && json_object_object_get_ex(ref_info, "network", &w));
        assert(json_same(v, w, "network"));
        assert(json_object_object_get_ex(info, "log_level", &v) && json_object_object_get_ex(ref_info, "log_level", &w));
        assert(json_same(v, w, "log_level"));
        /* the reference has the volatile keys removed; everything else we say, Zigbee2MQTT says too */
        json_object_object_del(info, "permit_join");
        json_object_object_del(info, "restart_required");
        assert(json_shape_within(info, ref_info, "info"));
        json_object_put(info);
        json_object_put(ref_info);
        env_free();
}

static void test_state_has_zigbee2mqtts_keys(void) {
        json_object *ref, *ours;

        env_new(false, true);
        pair(PLUG1, 23878, "plug1");
        report_tlv(PLUG1);
        report_onoff(PLUG1, true, 120);
        ref = read_reference("plug1-state.json");
        ours = state_of("plug1");
        /* values are volatile (README); keys and types of the fixed ones are compared */
        json_object_object_foreach(ref, k, v) {
                json_object *w;
                if (!json_object_object_get_ex(ours, k, &w)) {
                        fprintf(stderr, "state lacks '%s'\n", k);
                        assert(false);
                }
                if (strcmp(k, "update") == 0)
                        assert(json_same(w, v, "update"));
        }
        json_object_object_foreach(ours, k2, v2) {
                (void) v2;
                assert(json_object_object_get_ex(ref, k2, NULL));
        }
        assert(strcmp(state_value("plug1", "device_temperature"), "26") == 0);
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);
        assert(strcmp(state_value("plug1", "linkquality"), "120") == 0);
        assert(last_msg(BASE "/plug1")->retain);
        json_object_put(ref);
        json_object_put(ours);
        env_free();
}

static void test_set_publishes_only_what_the_plug_confirmed(void) {
        size_t n;

        env_new(false, false);
        pair(PLUG1, 23878, "plug1");
        report_onoff(PLUG1, false, 100);
        n = count(BASE "/plug1");

        /* state ON, case-insensitive */
        mqtt(BASE "/plug1/set", "{\"state\":\"on\"}");
        assert(last_action()->a.kind == PLUG_ACTION_COMMAND && last_action()->a.command == 1 &&
               last_action()->a.cluster == 0x0006 && last_action()->a.endpoint == 1 && last_action()->ieee == PLUG1);
        assert(count(BASE "/plug1") == n);              /* not optimistic */
        answer_default_rsp(last_action(), 0);
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);

        /* a refused command changes nothing and says why */
        n = count(BASE "/plug1");
        mqtt(BASE "/plug1/set", "{\"state\":\"OFF\"}");
        answer_default_rsp(last_action(), 0x01);
        assert(count(BASE "/plug1") == n);
        check_error("Publish 'set' 'state' to 'plug1' failed: 'Status 'FAILURE' (0x01)'");
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);

        /* TOGGLE of a known state */
        mqtt(BASE "/plug1/set", "{\"state\":\"TOGGLE\"}");
        assert(last_action()->a.command == 2);
        answer_default_rsp(last_action(), 0);
        assert(strcmp(state_value("plug1", "state"), "\"OFF\"") == 0);
        /* bare word on /set, as Home Assistant's switch sends it */
        mqtt(BASE "/plug1/set", "TOGGLE");
        assert(last_action()->a.command == 2);
        answer_default_rsp(last_action(), 0);
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);

        /* the binary settings: Write Attributes to 0xFCC0 with Lumi's manufacturer code */
        static const struct { const char *key; uint16_t attr; } bins[] = {
                { "led_disabled_night", 0x0203 }, { "power_outage_memory", 0x0201 }, { "auto_off", 0x0202 },
        };
        for (size_t i = 0; i < ELEMENTSOF(bins); i++) {
                char payload[128];

                snprintf(payload, sizeof(payload), "{\"%s\":true}", bins[i].key);
                mqtt(BASE "/plug1/set", payload);
                assert(last_action()->a.kind == PLUG_ACTION_WRITE && last_action()->a.cluster == 0xFCC0 &&
                       last_action()->a.attribute == bins[i].attr && last_action()->a.manufacturer == 0x115F);
                assert(strcmp(state_value("plug1", bins[i].key), "(absent)") == 0);
                answer_write_rsp(last_action(), 0);
                assert(strcmp(state_value("plug1", bins[i].key), "true") == 0);

                snprintf(payload, sizeof(payload), "{\"%s\":false}", bins[i].key);
                mqtt(BASE "/plug1/set", payload);
                answer_write_rsp(last_action(), 0x86);
                assert(strcmp(state_value("plug1", bins[i].key), "true") == 0);
                answer_write_rsp(last_action(), 0);            /* a second answer to the same token is ignored */
                assert(strcmp(state_value("plug1", bins[i].key), "true") == 0);
        }
        check_error("Publish 'set' 'auto_off' to 'plug1' failed: 'Status 'UNSUPPORTED_ATTRIBUTE' (0x86)'");

        /* overload_protection: single float */
        mqtt(BASE "/plug1/set", "{\"overload_protection\":1500}");
        assert(last_action()->a.attribute == 0x020B && last_action()->a.value.type == 0x39);
        answer_write_rsp(last_action(), 0);
        assert(strcmp(state_value("plug1", "overload_protection"), "1500") == 0);

        /* several keys at once: one action each, each published once confirmed */
        size_t before = E.n_actions;
        mqtt(BASE "/plug1/set", "{\"state\":\"OFF\",\"led_disabled_night\":false,\"overload_protection\":1000}");
        assert(E.n_actions == before + 3);
        for (size_t i = before; i < E.n_actions; i++) {
                if (E.actions[i].a.kind == PLUG_ACTION_COMMAND)
                        answer_default_rsp(&E.actions[i], 0);
                else
                        answer_write_rsp(&E.actions[i], 0);
        }
        assert(strcmp(state_value("plug1", "state"), "\"OFF\"") == 0);
        assert(strcmp(state_value("plug1", "led_disabled_night"), "false") == 0);
        assert(strcmp(state_value("plug1", "overload_protection"), "1000") == 0);

        /* /set/<key> with a bare value, JSON or not */
        mqtt(BASE "/plug1/set/overload_protection", "1200");
        answer_write_rsp(last_action(), 0);
        assert(strcmp(state_value("plug1", "overload_protection"), "1200") == 0);
        mqtt(BASE "/plug1/set/state", "ON");
        assert(last_action()->a.command == 1);
        answer_default_rsp(last_action(), 0);
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);
        mqtt(BASE "/plug1/set/power_outage_memory", "false");
        answer_write_rsp(last_action(), 0);
        assert(strcmp(state_value("plug1", "power_outage_memory"), "false") == 0);

        /* a timeout is an error, nothing published */
        n = count(BASE "/plug1");
        mqtt(BASE "/plug1/set", "{\"state\":\"OFF\"}");
        bridge_complete(E.b, last_action()->token, -ETIMEDOUT, NULL, 0);
        assert(count(BASE "/plug1") == n);
        check_error("Publish 'set' 'state' to 'plug1' failed: 'Timeout - the plug did not answer'");

        /* the plug can be addressed by its IEEE address too */
        mqtt(BASE "/" PLUG1_S "/set", "{\"state\":\"OFF\"}");
        assert(last_action()->ieee == PLUG1 && last_action()->a.command == 0);
        env_free();
}

static void test_toggle_of_an_unknown_state_reads_it_back(void) {
        env_new(false, false);
        pair(PLUG1, 23878, "plug1");
        mqtt(BASE "/plug1/set", "{\"state\":\"toggle\"}");
        assert(last_action()->a.command == 2);
        answer_default_rsp(last_action(), 0);
        assert(!last(BASE "/plug1"));
        assert(last_action()->a.kind == PLUG_ACTION_READ && last_action()->a.cluster == 0x0006);
        answer_read_bool(last_action(), true);
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);
        env_free();
}

static void test_get_reads_the_plug(void) {
        static const struct { const char *key; uint16_t cluster, attr; uint8_t ep; } gets[] = {
                { "state", 0x0006, 0x0000, 1 }, { "power", 0x000C, 0x0055, 21 },
                { "led_disabled_night", 0xFCC0, 0x0203, 1 }, { "power_outage_memory", 0xFCC0, 0x0201, 1 },
                { "overload_protection", 0xFCC0, 0x020B, 1 }, { "auto_off", 0xFCC0, 0x0202, 1 },
        };

        env_new(false, false);
        pair(PLUG1, 23878, "plug1");
        report_onoff(PLUG1, false, 77);
        for (size_t i = 0; i < ELEMENTSOF(gets); i++) {
                char payload[128];

                snprintf(payload, sizeof(payload), "{\"%s\":\"\"}", gets[i].key);
                mqtt(BASE "/plug1/get", payload);
                assert(last_action()->a.kind == PLUG_ACTION_READ && last_action()->a.cluster == gets[i].cluster &&
                       last_action()->a.attribute == gets[i].attr && last_action()->a.endpoint == gets[i].ep);
                if (strcmp(gets[i].key, "power") == 0 || strcmp(gets[i].key, "overload_protection") == 0)
                        answer_read_single(last_action(), 120.5f);
                else
                        answer_read_bool(last_action(), true);
        }
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);
        assert(strcmp(state_value("plug1", "power"), "120.5") == 0);
        assert(strcmp(state_value("plug1", "led_disabled_night"), "true") == 0);
        assert(strcmp(state_value("plug1", "power_outage_memory"), "true") == 0);
        assert(strcmp(state_value("plug1", "auto_off"), "true") == 0);
        assert(strcmp(state_value("plug1", "linkquality"), "66") == 0);        /* the answer's */

        /* /get/<key>; the answer is published once */
        size_t n = count(BASE "/plug1");
        mqtt(BASE "/plug1/get/state", "");
        assert(last_action()->a.kind == PLUG_ACTION_READ && last_action()->a.cluster == 0x0006);
        assert(count(BASE "/plug1") == n);
        answer_read_bool(last_action(), false);
        assert(count(BASE "/plug1") == n + 1);
        assert(strcmp(state_value("plug1", "state"), "\"OFF\"") == 0);
        /* an unsupported attribute: the error, nothing published */
        mqtt(BASE "/plug1/get", "{\"auto_off\":\"\"}");
        {
                uint8_t f[] = { 0x1C, 0x5F, 0x11, 0x01, 0x01, 0x02, 0x02, 0x86 };
                answer(last_action(), f, sizeof(f));
        }
        assert(count(BASE "/plug1") == n + 1);
        check_error("Publish 'get' 'auto_off' to 'plug1' failed: 'Status 'UNSUPPORTED_ATTRIBUTE' (0x86)'");
        env_free();
}

static void test_bad_input_is_refused_with_its_reason(void) {
        size_t n;

        env_new(false, false);
        pair(PLUG1, 23878, "plug1");
        n = E.n_actions;

        mqtt(BASE "/plug1/set", "{\"state\":");
        check_error("Invalid message to 'plug1' (set): payload is not valid JSON");
        mqtt(BASE "/nope/set", "{\"state\":\"ON\"}");
        check_error("Entity 'nope' is unknown");
        mqtt(BASE "/plug1/set", "{\"bogus\":1}");
        check_error("Publish 'set' 'bogus' to 'plug1' failed: 'unknown property 'bogus' for ZNCZ04LM'");
        mqtt(BASE "/plug1/set", "{\"led_disabled_night\":\"yes\"}");
        check_error("Publish 'set' 'led_disabled_night' to 'plug1' failed: 'property 'led_disabled_night' expects true or "
                    "false, got \"yes\"'");
        mqtt(BASE "/plug1/set", "{\"state\":\"maybe\"}");
        check_error("Publish 'set' 'state' to 'plug1' failed: 'property 'state' expects ON, OFF or TOGGLE, got \"maybe\"'");
        mqtt(BASE "/plug1/set", "{\"overload_protection\":5000}");
        check_error("Publish 'set' 'overload_protection' to 'plug1' failed: 'property 'overload_protection' must be between "
                    "100 and 2300, got 5000'");
        mqtt(BASE "/plug1/set", "{\"power\":5}");
        check_error("Publish 'set' 'power' to 'plug1' failed: 'property 'power' is read-only'");
        mqtt(BASE "/plug1/get", "{\"energy\":\"\"}");
        check_error("Publish 'get' 'energy' to 'plug1' failed: 'property 'energy' cannot be read (get)'");
        mqtt(BASE "/plug1/set", "[1,2]");
        check_error("Invalid message to 'plug1' (set): payload must be a JSON object, got [1,2]");
        assert(E.n_actions == n);       /* none of it reached the plug */

        /* valid keys of the same payload still apply */
        unsigned errors = bridge_error_count(E.b);
        mqtt(BASE "/plug1/set", "{\"bogus\":1,\"state\":\"ON\",\"overload_protection\":99}");
        assert(E.n_actions == n + 1 && last_action()->a.command == 1);
        assert(bridge_error_count(E.b) == errors + 2);

        /* binary garbage in a payload and topic noise do not hurt */
        static const char junk[] = { '{', 0, '"', 0x7f, (char) 0xff };
        assert(bridge_on_mqtt_message(E.b, BASE "/plug1/set", junk, sizeof(junk)) == 0);
        assert(bridge_on_mqtt_message(E.b, BASE "/plug1/set/", "1", 1) == 0);
        assert(bridge_on_mqtt_message(E.b, BASE "/bridge/request/", "1", 1) == 0);
        assert(bridge_on_mqtt_message(E.b, "other/plug1/set", "ON", 2) == 0);
        assert(bridge_on_mqtt_message(E.b, BASE "/plug1/set", NULL, 0) == 0);
        /* unknown tokens are ignored */
        bridge_complete(E.b, 987654, 0, NULL, 0);
        env_free();
}

static void test_oversized_payloads_are_refused_and_errors_reach_bridge_logging(void) {
        size_t n, big = BRIDGE_PAYLOAD_MAX + 1;
        char *payload = malloc(big);

        env_new(false, false);
        pair(PLUG1, 23878, "plug1");
        n = E.n_actions;

        /* a valid JSON object, only too big: refused before it is parsed, the limit named */
        assert(payload);
        memset(payload, ' ', big);
        memcpy(payload, "{\"state\":\"ON\"", 13);
        payload[big - 1] = '}';
        assert(bridge_on_mqtt_message(E.b, BASE "/plug1/set", payload, big) == 0);
        check_error("Invalid message to 'plug1' (set): the payload of 65537 bytes is larger than the 65536-byte limit");
        assert(E.n_actions == n);
        check_payload(BASE "/bridge/logging",
                      "{\"level\":\"error\",\"message\":\"Invalid message to 'plug1' (set): the payload of 65537 bytes is "
                      "larger than the 65536-byte limit\",\"namespace\":\"z2m\"}");
        /* exactly at the limit it is parsed */
        payload[BRIDGE_PAYLOAD_MAX - 1] = '}';
        assert(bridge_on_mqtt_message(E.b, BASE "/plug1/set", payload, BRIDGE_PAYLOAD_MAX) == 0);
        assert(E.n_actions == n + 1);

        /* a request: an error response, also on bridge/logging; the same error twice is sent twice */
        assert(bridge_on_mqtt_message(E.b, BASE "/bridge/request/device/rename", payload, big) == 0);
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{},\"error\":\"The payload of 65537 bytes is larger than the 65536-byte limit\","
                      "\"status\":\"error\"}");
        size_t logged = count(BASE "/bridge/logging");
        assert(bridge_on_mqtt_message(E.b, BASE "/bridge/request/device/rename", payload, big) == 0);
        assert(count(BASE "/bridge/logging") == logged + 1);

        /* Home Assistant's topics: ignored */
        logged = count(BASE "/bridge/logging");
        assert(bridge_on_mqtt_message(E.b, "homeassistant/status", payload, big) == 0);
        assert(count(BASE "/bridge/logging") == logged);
        free(payload);
        env_free();
}

static void test_options_apply_from_the_next_report(void) {
        env_new(false, false);
        pair(PLUG1, 23878, "plug1");
        report_tlv(PLUG1);
        assert(strcmp(state_value("plug1", "device_temperature"), "26") == 0);

        mqtt(BASE "/bridge/request/device/options",
             "{\"id\":\"plug1\",\"options\":{\"device_temperature_calibration\":-3,\"state_action\":true},\"transaction\":7}");
        check_payload(BASE "/bridge/response/device/options",
                      "{\"data\":{\"from\":{},\"id\":\"plug1\",\"restart_required\":false,\"to\":{\"device_temperature_calibration\":"
                      "-3,\"state_action\":true}},\"status\":\"ok\",\"transaction\":7}");
        assert(strcmp(state_value("plug1", "device_temperature"), "26") == 0);          /* not before */
        report_tlv(PLUG1);
        assert(strcmp(state_value("plug1", "device_temperature"), "23") == 0);
        report_onoff(PLUG1, true, 99);
        assert(strcmp(state_value("plug1", "action"), "\"on\"") == 0);
        /* persisted */
        assert(json_object_object_get_ex(devdb_find_by_name(E.db, "plug1")->options, "state_action", NULL));

        mqtt(BASE "/bridge/request/device/options", "{\"id\":\"plug1\",\"options\":{\"power_precision\":7}}");
        check_payload(BASE "/bridge/response/device/options",
                      "{\"data\":{},\"error\":\"option 'power_precision' must be between 0 and 3, got 7\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/options", "{\"id\":\"plug1\",\"options\":{\"retain\":\"yes\"}}");
        check_payload(BASE "/bridge/response/device/options",
                      "{\"data\":{},\"error\":\"retain must be boolean\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/options", "{\"id\":\"nope\",\"options\":{}}");
        check_payload(BASE "/bridge/response/device/options",
                      "{\"data\":{},\"error\":\"Device 'nope' does not exist\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/options", "{\"id\":\"plug1\"}");
        check_payload(BASE "/bridge/response/device/options", "{\"data\":{},\"error\":\"Invalid payload\",\"status\":\"error\"}");

        /* retain: false stops retaining the state */
        mqtt(BASE "/bridge/request/device/options", "{\"id\":\"plug1\",\"options\":{\"retain\":false}}");
        report_onoff(PLUG1, false, 99);
        assert(!last_msg(BASE "/plug1")->retain);
        env_free();
}

static void test_ten_plugs_have_their_own_topics(void) {
        char name[32], topic[64];

        env_new(false, false);
        for (unsigned i = 0; i < 10; i++) {
                snprintf(name, sizeof(name), "plug %u", i);
                pair(PLUG1 + i, (uint16_t) (0x1000 + i), name);
        }
        for (unsigned i = 0; i < 10; i++)
                report_onoff(PLUG1 + i, i % 2, (uint8_t) (10 + i));
        for (unsigned i = 0; i < 10; i++) {
                snprintf(name, sizeof(name), "plug %u", i);
                assert(strcmp(state_value(name, "state"), i % 2 ? "\"ON\"" : "\"OFF\"") == 0);
                snprintf(topic, sizeof(topic), "%u", 10 + i);
                assert(strcmp(state_value(name, "linkquality"), topic) == 0);
                snprintf(topic, sizeof(topic), BASE "/%s", name);
                assert(count(topic) == 1);
        }
        json_object *devs = json_tokener_parse(last(BASE "/bridge/devices"));
        assert(devs && json_object_array_length(devs) == 11);
        json_object_put(devs);
        mqtt(BASE "/plug 7/set", "{\"state\":\"ON\"}");
        assert(last_action()->ieee == PLUG1 + 7);
        env_free();
}

static void test_rename_moves_the_topics(void) {
        const Msg *m;

        env_new(true, true);
        E.now += 5 * SEC;
        bridge_tick(E.b);
        pair(PLUG1, 23878, "plug1");
        report_onoff(PLUG1, true, 50);
        clear_msgs();

        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"plug1\",\"to\":\" kitchen \",\"transaction\":\"t1\"}");
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{\"from\":\"plug1\",\"homeassistant_rename\":false,\"to\":\"kitchen\"},\"status\":\"ok\","
                      "\"transaction\":\"t1\"}");
        m = last_msg(BASE "/plug1");
        assert(m && m->retain && m->payload[0] == 0);           /* old retained state cleared */
        m = last_msg(BASE "/plug1/availability");
        assert(m && m->retain && m->payload[0] == 0);
        assert(strcmp(state_value("kitchen", "state"), "\"ON\"") == 0);
        assert(last_msg(BASE "/kitchen")->retain);
        check_payload(BASE "/kitchen/availability", "{\"state\":\"online\"}");
        assert(strstr(last("homeassistant/switch/" PLUG1_S "/switch/config"), "\"state_topic\":\"" BASE "/kitchen\""));
        assert(strstr(last(BASE "/bridge/devices"), "\"friendly_name\":\"kitchen\""));
        assert(devdb_find_by_name(E.db, "kitchen") && !devdb_find_by_name(E.db, "plug1"));
        mqtt(BASE "/kitchen/set", "{\"state\":\"OFF\"}");
        assert(last_action()->ieee == PLUG1);

        /* refusals, with Zigbee2MQTT's texts */
        pair(PLUG1 + 1, 0x2222, "hall");
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"hall\",\"to\":\"kitchen\"}");
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{},\"error\":\"friendly_name 'kitchen' is already in use\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"hall\",\"to\":\"a+b\"}");
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{},\"error\":\"MQTT wildcard (+ and #) not allowed in friendly_name ('a+b')\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"hall\",\"to\":\"room/2\"}");
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{},\"error\":\"Friendly name cannot end with a \\\"/DIGIT\\\" ('room/2')\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"hall\",\"to\":\"/x\"}");
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{},\"error\":\"friendly_name is not allowed to end or start with /\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"nope\",\"to\":\"x\"}");
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{},\"error\":\"Device 'nope' does not exist\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"hall\",\"to\":5}");
        check_payload(BASE "/bridge/response/device/rename",
                      "{\"data\":{},\"error\":\"to is not a string, got number (5)\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/device/rename", "not json");
        check_payload(BASE "/bridge/response/device/rename", "{\"data\":{},\"error\":\"Invalid payload\",\"status\":\"error\"}");
        assert(devdb_find_by_name(E.db, "hall"));

        /* {"last": true} renames the last device that joined */
        mqtt(BASE "/bridge/request/device/rename", "{\"last\":true,\"to\":\"hall2\"}");
        assert(strstr(last(BASE "/bridge/response/device/rename"), "\"status\":\"ok\""));
        assert(devdb_find_by_ieee(E.db, PLUG1 + 1) == devdb_find_by_name(E.db, "hall2"));

        /* homeassistant_rename: configs cleared now, republished 2 s later */
        clear_msgs();
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"kitchen\",\"to\":\"den\",\"homeassistant_rename\":true}");
        check_payload("homeassistant/switch/" PLUG1_S "/switch/config", "");
        E.now += 2 * SEC;
        assert(bridge_next_wakeup(E.b) <= E.now);
        bridge_tick(E.b);
        assert(strstr(last("homeassistant/switch/" PLUG1_S "/switch/config"), "\"state_topic\":\"" BASE "/den\""));
        env_free();
}

static void test_remove_clears_everything(void) {
        const Msg *m;

        env_new(true, true);
        E.now += 5 * SEC;
        bridge_tick(E.b);
        pair(PLUG1, 23878, "plug1");
        pair(PLUG1 + 1, 0x2222, "plug2");
        report_onoff(PLUG1, true, 50);
        clear_msgs();

        /* a leave request that fails keeps the device */
        mqtt(BASE "/bridge/request/device/remove", "{\"id\":\"plug1\"}");
        assert(E.rm_ieee == PLUG1 && devdb_find_by_name(E.db, "plug1"));
        bridge_complete(E.b, E.rm_token, -ETIMEDOUT, NULL, 0);
        check_payload(BASE "/bridge/response/device/remove",
                      "{\"data\":{},\"error\":\"Failed to remove device 'plug1' (block: false, force: false, keep config: false, "
                      "clear cache: false) (Error: Timeout - the plug did not answer)\",\"status\":\"error\"}");
        assert(devdb_find_by_name(E.db, "plug1"));

        mqtt(BASE "/bridge/request/device/remove", "{\"id\":\"plug1\",\"transaction\":1}");
        assert(!last(BASE "/plug1"));
        bridge_complete(E.b, E.rm_token, 0, NULL, 0);
        check_payload(BASE "/bridge/response/device/remove",
                      "{\"data\":{\"block\":false,\"clear_cache\":false,\"force\":false,\"id\":\"plug1\",\"keep_config\":false},"
                      "\"status\":\"ok\",\"transaction\":1}");
        m = last_msg(BASE "/plug1");
        assert(m && m->retain && m->payload[0] == 0);
        m = last_msg("homeassistant/switch/" PLUG1_S "/switch/config");
        assert(m && m->retain && m->payload[0] == 0);
        assert(!devdb_find_by_ieee(E.db, PLUG1));
        assert(E.forgotten == PLUG1);
        check_plugs(1, 1);        /* plug2 is left */
        assert(!strstr(last(BASE "/bridge/devices"), PLUG1_S));
        mqtt(BASE "/plug1/set", "{\"state\":\"ON\"}");
        check_error("Entity 'plug1' is unknown");

        /* force: gone at once, no leave request; a bare string id works too */
        E.rm_token = 0;
        mqtt(BASE "/bridge/request/device/remove", "{\"id\":\"plug2\",\"force\":true}");
        assert(E.rm_token == 0 && !devdb_find_by_name(E.db, "plug2"));
        assert(strstr(last(BASE "/bridge/response/device/remove"), "\"force\":true"));
        mqtt(BASE "/bridge/request/device/remove", "plug2");
        check_payload(BASE "/bridge/response/device/remove",
                      "{\"data\":{},\"error\":\"Device 'plug2' does not exist\",\"status\":\"error\"}");
        env_free();
}

static void test_availability_goes_offline_and_back(void) {
        env_new(true, false);
        check_plugs(0, 0);
        pair(PLUG1, 23878, "plug1");
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");
        assert(last_msg(BASE "/plug1/availability")->retain && last_msg(BASE "/plug1/availability")->qos == 1);
        check_plugs(1, 1);
        assert(E.plugs_changed >= 2);   /* added, then online */
        int changes = E.plugs_changed;

        /* heard within the timeout: no check */
        E.now += 9 * MINUTE;
        report_onoff(PLUG1, true, 40);
        E.now += 9 * MINUTE;
        bridge_tick(E.b);
        assert(E.n_pings == 0);
        /* silent for timeout + 1 s: pinged, twice as it was online, then offline */
        E.now += 1 * MINUTE + 1 * SEC;
        assert(bridge_next_wakeup(E.b) <= E.now);
        bridge_tick(E.b);
        assert(E.n_pings == 1);
        bridge_tick(E.b);
        assert(E.n_pings == 1);                 /* one check at a time */
        bridge_complete(E.b, E.pings[0], -ETIMEDOUT, NULL, 0);
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");
        E.now += 3 * SEC;
        bridge_tick(E.b);
        assert(E.n_pings == 2);
        assert(E.plugs_changed == changes);     /* nothing changed yet: no news for the owner */
        check_plugs(1, 1);
        bridge_complete(E.b, E.pings[1], -ETIMEDOUT, NULL, 0);
        check_payload(BASE "/plug1/availability", "{\"state\":\"offline\"}");
        check_plugs(1, 0);
        assert(E.plugs_changed == changes + 1);
        /* backoff: the next check is later than the timeout */
        E.now += 10 * MINUTE + 2 * SEC;
        bridge_tick(E.b);
        assert(E.n_pings == 2);
        E.now += 10 * MINUTE;
        bridge_tick(E.b);
        assert(E.n_pings == 3);
        /* the next message brings it back, and its state is read 2 s later */
        size_t acts = E.n_actions;
        report_onoff(PLUG1, true, 40);
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");
        bridge_tick(E.b);
        assert(E.n_actions == acts);
        E.now += 2 * SEC;
        bridge_tick(E.b);
        assert(E.n_actions == acts + 1 && last_action()->a.kind == PLUG_ACTION_READ && last_action()->a.cluster == 0x0006);
        answer_read_bool(last_action(), true);
        bridge_complete(E.b, E.pings[2], 0, NULL, 0);
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");

        /* a command that does not reach the plug makes it offline; its answer to a ping brings it back */
        mqtt(BASE "/plug1/set", "{\"state\":\"OFF\"}");
        bridge_complete(E.b, last_action()->token, -EHOSTUNREACH, NULL, 0);
        check_payload(BASE "/plug1/availability", "{\"state\":\"offline\"}");
        mqtt(BASE "/plug1/get", "{\"state\":\"\"}");
        answer_read_bool(last_action(), false);
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");
        assert(strcmp(state_value("plug1", "state"), "\"OFF\"") == 0);

        /* coordinator lost: offline; back: every plug checked at once */
        size_t pings = E.n_pings;
        bridge_on_coordinator_lost(E.b);
        check_payload(BASE "/plug1/availability", "{\"state\":\"offline\"}");
        check_plugs(1, 0);
        bridge_on_coordinator_restored(E.b);
        bridge_tick(E.b);
        assert(E.n_pings == pings + 1);
        bridge_complete(E.b, E.pings[pings], 0, NULL, 0);
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");

        /* a new network address is recorded and listed */
        assert(bridge_on_address_changed(E.b, PLUG1, 0x4321) == 0);
        assert(devdb_find_by_ieee(E.db, PLUG1)->nwk == 0x4321);
        assert(strstr(last(BASE "/bridge/devices"), "\"network_address\":17185"));
        /* announces (which come in bursts) lead to one read of the state */
        acts = E.n_actions;
        assert(bridge_on_device_announced(E.b, PLUG1, 0x4321) == 0);
        E.now += 1 * SEC;
        assert(bridge_on_device_announced(E.b, PLUG1, 0x4321) == 0);
        E.now += 1 * SEC;
        bridge_tick(E.b);
        assert(E.n_actions == acts);
        E.now += 1 * SEC;
        bridge_tick(E.b);
        assert(E.n_actions == acts + 1 && last_action()->a.kind == PLUG_ACTION_READ);
        assert(strstr(last(BASE "/bridge/event"), "device_announce"));
        /* a leave from a device nobody knows is not reported (herdsman) */
        size_t events = count(BASE "/bridge/event");
        assert(bridge_on_device_left(E.b, 0x1111111111111111ull) == 0);
        assert(count(BASE "/bridge/event") == events);
        env_free();
}

static void test_restart_restores_the_retained_state(void) {
        char *before;

        env_new(true, true);
        pair(PLUG1, 23878, "plug1");
        report_tlv(PLUG1);
        report_onoff(PLUG1, true, 88);
        mqtt(BASE "/plug1/set", "{\"overload_protection\":1800}");
        answer_write_rsp(last_action(), 0);
        mqtt(BASE "/bridge/request/device/options", "{\"id\":\"plug1\",\"options\":{\"power_precision\":0}}");
        before = strdup(last(BASE "/plug1"));
        assert(before && E.saves > 0);
        assert(devdb_save(E.db) == 0);

        /* a new process: database loaded from disk, bridge created, MQTT connected */
        env_stop();
        E.db = devdb_free(E.db);
        assert(devdb_new(&E.db, E.dir) == 0);
        assert(devdb_load(E.db) == 0);
        E.now += 2 * MINUTE;
        env_start(true, true);
        check_payload(BASE "/plug1", before);
        assert(last_msg(BASE "/plug1")->retain);
        assert(!last(BASE "/bridge/state"));                   /* the MQTT client's */
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");       /* seen 2 min ago */
        assert(strstr(last(BASE "/bridge/devices"), "\"friendly_name\":\"plug1\""));
        /* subscriptions: for a while Home Assistant's configs, first (the others' SUBACKs fence its retained
         * messages), everything under the base topic, Home Assistant's status */
        assert(E.n_subs == 3);
        assert(strcmp(E.subs[0], "homeassistant/+/+/+/config") == 0 && strcmp(E.subs[1], BASE "/#") == 0 &&
               strcmp(E.subs[2], "homeassistant/status") == 0);
        /* the options survived too */
        E.now += 1 * SEC;
        report_tlv(PLUG1);
        assert(strstr(last(BASE "/plug1"), "\"power\":0"));

        /* a reconnect republishes all */
        clear_msgs();
        bridge_on_mqtt_disconnected(E.b);
        report_onoff(PLUG1, false, 88);
        assert(!last(BASE "/plug1"));
        assert(bridge_on_mqtt_connected(E.b) == 0);
        assert(strcmp(state_value("plug1", "state"), "\"OFF\"") == 0);
        assert(E.n_subs == 3);                                  /* not subscribed twice */
        free(before);

        /* after a long silence a restart says offline and checks the plug at once */
        env_stop();
        E.now += 30 * MINUTE;
        env_start(true, false);
        check_payload(BASE "/plug1/availability", "{\"state\":\"offline\"}");
        bridge_tick(E.b);
        assert(E.n_pings == 1);
        bridge_complete(E.b, E.pings[0], 0, NULL, 0);
        check_payload(BASE "/plug1/availability", "{\"state\":\"online\"}");
        env_free();
}

static void test_bridge_requests(void) {
        env_new(false, false);
        clear_msgs();
        mqtt(BASE "/bridge/request/permit_join", "{\"time\":60,\"transaction\":\"x\"}");
        assert(E.pj_seconds == 60 && !last(BASE "/bridge/response/permit_join"));
        bridge_complete(E.b, E.pj_token, 0, NULL, 0);
        check_payload(BASE "/bridge/response/permit_join", "{\"data\":{\"time\":60},\"status\":\"ok\",\"transaction\":\"x\"}");
        assert(!last_msg(BASE "/bridge/response/permit_join")->retain);
        bridge_on_permit_join_changed(E.b, 60);
        assert(strstr(last(BASE "/bridge/info"), "\"permit_join\":true"));
        assert(strstr(last(BASE "/bridge/info"), "\"permit_join_end\":1700000060000"));
        bridge_on_permit_join_changed(E.b, 0);
        assert(strstr(last(BASE "/bridge/info"), "\"permit_join\":false"));
        assert(!strstr(last(BASE "/bridge/info"), "permit_join_end"));

        mqtt(BASE "/bridge/request/permit_join", "0");
        assert(E.pj_seconds == 0);
        bridge_complete(E.b, E.pj_token, 0, NULL, 0);
        check_payload(BASE "/bridge/response/permit_join", "{\"data\":{\"time\":0},\"status\":\"ok\"}");
        mqtt(BASE "/bridge/request/permit_join", "{\"time\":\"120\"}");
        assert(E.pj_seconds == 120);
        bridge_complete(E.b, E.pj_token, -EIO, NULL, 0);
        check_payload(BASE "/bridge/response/permit_join",
                      "{\"data\":{},\"error\":\"The coordinator refused the request\",\"status\":\"error\"}");
        /* Number.parseInt gives NaN: herdsman closes, the answer says null */
        mqtt(BASE "/bridge/request/permit_join", "abc");
        assert(E.pj_seconds == 0);
        bridge_complete(E.b, E.pj_token, 0, NULL, 0);
        check_payload(BASE "/bridge/response/permit_join", "{\"data\":{\"time\":null},\"status\":\"ok\"}");
        mqtt(BASE "/bridge/request/permit_join", "{\"time\":255}");
        check_payload(BASE "/bridge/response/permit_join",
                      "{\"data\":{},\"error\":\"Cannot permit join for more than 254 seconds.\",\"status\":\"error\"}");
        mqtt(BASE "/bridge/request/permit_join", "{\"value\":true}");
        check_payload(BASE "/bridge/response/permit_join", "{\"data\":{},\"error\":\"Invalid payload\",\"status\":\"error\"}");
        check_error("Request '" BASE "/bridge/request/permit_join' failed with error: 'Invalid payload'");

        mqtt(BASE "/bridge/request/health_check", "");
        check_payload(BASE "/bridge/response/health_check", "{\"data\":{\"healthy\":true},\"status\":\"ok\"}");
        mqtt(BASE "/bridge/request/restart", "{\"transaction\":3}");
        check_payload(BASE "/bridge/response/restart", "{\"data\":{},\"status\":\"ok\",\"transaction\":3}");
        assert(E.restarts == 1);
        mqtt(BASE "/bridge/request/group/add", "{\"friendly_name\":\"g\"}");
        check_payload(BASE "/bridge/response/group/add",
                      "{\"data\":{},\"error\":\"Request 'group/add' is not supported by lumiplugd\",\"status\":\"error\"}");
        env_free();
}

static void test_stale_discovery_is_cleared_at_start(void) {
        static const char ours[] = "{\"availability\":[{\"topic\":\"" BASE "/bridge/state\"}],\"name\":null}";
        static const char foreign[] = "{\"availability\":[{\"topic\":\"other/bridge/state\"}],\"name\":null}";
        char *keep;

        env_new(false, true);
        pair(PLUG1, 23878, "plug1");
        E.now += 5 * SEC;
        bridge_tick(E.b);
        keep = strdup(last("homeassistant/switch/" PLUG1_S "/switch/config"));
        env_stop();

        env_start(false, true);
        clear_msgs();
        /* retained configs arrive: ours for a plug that no longer exists, ours with an object we do not
         * publish, ours that is current, somebody else's */
        mqtt("homeassistant/switch/0x0000000000000099/switch/config", ours);
        check_payload("homeassistant/switch/0x0000000000000099/switch/config", "");
        mqtt("homeassistant/sensor/" PLUG1_S "/obsolete/config", ours);
        check_payload("homeassistant/sensor/" PLUG1_S "/obsolete/config", "");
        mqtt("homeassistant/switch/" PLUG1_S "/switch/config", keep);
        assert(!last("homeassistant/switch/" PLUG1_S "/switch/config"));
        mqtt("homeassistant/switch/0x0000000000000098/switch/config", foreign);
        assert(!last("homeassistant/switch/0x0000000000000098/switch/config"));
        /* ours, current topic, another payload (an older version): published again */
        mqtt("homeassistant/sensor/" PLUG1_S "/power/config", ours);
        assert(!last("homeassistant/sensor/" PLUG1_S "/power/config"));
        E.now += 5 * SEC;
        bridge_tick(E.b);
        /* the current one the broker holds is not sent again (Zigbee2MQTT: "already discovered"), the
         * others are */
        assert(!last("homeassistant/switch/" PLUG1_S "/switch/config"));
        assert(last("homeassistant/sensor/" PLUG1_S "/power/config") &&
               strcmp(last("homeassistant/sensor/" PLUG1_S "/power/config"), ours) != 0);
        assert(last("homeassistant/sensor/" PLUG1_S "/energy/config"));
        /* once the wait is over, configs are no longer judged */
        mqtt("homeassistant/switch/0x0000000000000097/switch/config", ours);
        assert(!last("homeassistant/switch/0x0000000000000097/switch/config"));
        free(keep);

        /* Home Assistant's birth: 30 s later the bridge state and every state are published again */
        report_onoff(PLUG1, true, 10);
        clear_msgs();
        mqtt("homeassistant/status", "online");
        bridge_tick(E.b);
        assert(!last(BASE "/plug1"));
        E.now += 30 * SEC;
        bridge_tick(E.b);
        check_payload(BASE "/bridge/state", "{\"state\":\"online\"}");
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);
        /* a rename sends everything, the skipped one too */
        clear_msgs();
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"plug1\",\"to\":\"plug9\"}");
        E.now += 3 * SEC;
        bridge_tick(E.b);
        assert(last("homeassistant/switch/" PLUG1_S "/switch/config") &&
               strstr(last("homeassistant/switch/" PLUG1_S "/switch/config"), "plug9"));
        env_free();
}

static bool subscribed(const char *filter) {
        for (size_t i = 0; i < E.n_subs; i++)
                if (strcmp(E.subs[i], filter) == 0)
                        return true;
        return false;
}

/* The wait for retained configs ends once the broker acknowledged the subscriptions sent after the
 * wildcard (mosquitto sends a QoS 0 subscription's retained messages before it reads the next packet)
 * and none came for a short while; at every connect. */
static void test_discovery_wait_ends_at_the_broker_fence(void) {
        static const char *const wildcard = "homeassistant/+/+/+/config";
        static const char *const plug_topic = "homeassistant/switch/" PLUG1_S "/switch/config";
        uint64_t t0, end;
        char *current;

        env_new(false, true);
        pair(PLUG1, 23878, "plug1");
        E.now += 5 * SEC;
        bridge_tick(E.b);
        current = strdup(last(plug_topic));
        env_stop();

        env_start(false, true);
        clear_msgs();
        t0 = E.now;
        assert(E.n_subs == 3 && strcmp(E.subs[0], wildcard) == 0);
        /* SUBACKs of the wildcard (its own comes before its messages) and of <base>/#: not the fence */
        bridge_on_mqtt_subscribed(E.b, wildcard);
        bridge_on_mqtt_subscribed(E.b, BASE "/#");
        E.now += BRIDGE_DISCOVERY_QUIET_USEC;
        bridge_tick(E.b);
        assert(subscribed(wildcard) && !last("homeassistant/sensor/" PLUG1_S "/power/config"));
        mqtt(plug_topic, current);
        E.now += 10 * 1000;
        bridge_on_mqtt_subscribed(E.b, "homeassistant/status"); /* the fence */
        end = E.now + BRIDGE_DISCOVERY_QUIET_USEC;
        assert(bridge_next_background_wakeup(E.b) <= end && bridge_next_wakeup(E.b) <= end);
        /* a config after the fence (brokers that send them after the SUBACK): the quiet time starts over */
        E.now += 50 * 1000;
        mqtt("homeassistant/sensor/0x0000000000000099/power/config", "{\"availability\":[{\"topic\":\"" BASE "/bridge/state\"}]}");
        check_payload("homeassistant/sensor/0x0000000000000099/power/config", "");
        end = E.now + BRIDGE_DISCOVERY_QUIET_USEC;
        assert(bridge_next_background_wakeup(E.b) <= end);
        E.now = end - 1;
        bridge_tick(E.b);
        assert(subscribed(wildcard) && !last("homeassistant/sensor/" PLUG1_S "/power/config"));
        E.now = end;
        bridge_tick(E.b);
        assert(!subscribed(wildcard) && E.n_subs == 2);
        assert(last("homeassistant/sensor/" PLUG1_S "/power/config"));
        assert(!last(plug_topic));                              /* the broker holds it as it is */

        /* the broker goes away: the wildcard is first again for the reconnect */
        bridge_on_mqtt_disconnected(E.b);
        assert(E.n_subs == 3 && strcmp(E.subs[0], wildcard) == 0 && strcmp(E.subs[1], BASE "/#") == 0 &&
               strcmp(E.subs[2], "homeassistant/status") == 0);
        clear_msgs();
        assert(bridge_on_mqtt_connected(E.b) == 0);
        assert(!last(plug_topic) && !last("homeassistant/sensor/" PLUG1_S "/power/config"));
        /* a broker restarted without its store: nothing retained, so everything goes out again */
        bridge_on_mqtt_subscribed(E.b, "homeassistant/status");
        E.now += BRIDGE_DISCOVERY_QUIET_USEC;
        bridge_tick(E.b);
        check_payload(plug_topic, current);
        assert(last("homeassistant/sensor/" PLUG1_S "/power/config"));
        assert(!subscribed(wildcard));

        /* a reconnect that never gets the fence (a broker that does not answer): the 5 s cap */
        bridge_on_mqtt_disconnected(E.b);
        E.now += 10 * SEC;
        bridge_tick(E.b);                                       /* away: the wait waits for the broker */
        clear_msgs();
        t0 = E.now;
        assert(bridge_on_mqtt_connected(E.b) == 0);
        mqtt(plug_topic, current);
        E.now = t0 + BRIDGE_DISCOVERY_WAIT_USEC - 1;
        bridge_tick(E.b);
        assert(!last("homeassistant/sensor/" PLUG1_S "/power/config") && subscribed(wildcard));
        E.now = t0 + BRIDGE_DISCOVERY_WAIT_USEC;
        bridge_tick(E.b);
        assert(last("homeassistant/sensor/" PLUG1_S "/power/config") && !last(plug_topic));
        free(current);
        env_free();
}

/* The discovery configs published so far (non-empty, under the prefix), in order. */
static size_t configs(Msg *out, size_t max) {
        size_t n = 0;

        for (size_t i = 0; i < E.n_msgs; i++)
                if (strncmp(E.msgs[i].topic, "homeassistant/", 14) == 0 && E.msgs[i].payload[0]) {
                        assert(n < max);
                        out[n++] = E.msgs[i];
                }
        return n;
}

static void test_home_assistant_birth_republishes_every_config(void) {
        Msg before[128], after[128];
        size_t n_before, n_after, n_bridge = 0, n_plug1 = 0, n_plug2 = 0;

        env_new(false, true);
        pair(PLUG1, 23878, "plug1");
        pair(PLUG1 + 1, 23879, "plug2");
        E.now += 5 * SEC;
        bridge_tick(E.b);
        n_before = configs(before, ELEMENTSOF(before));
        for (size_t i = 0; i < n_before; i++) {
                assert(before[i].retain && before[i].qos == 1);
                n_bridge += strstr(before[i].topic, "_0x00124b0029a1b2c3/") != NULL;     /* node: <name>_<ieee> */
                n_plug1 += strstr(before[i].topic, "/" PLUG1_S "/") != NULL;
                n_plug2 += strstr(before[i].topic, "/0x00158d0001a2b302/") != NULL;
        }
        assert(n_bridge > 0 && n_plug1 > 0 && n_plug2 == n_plug1 && n_bridge + n_plug1 + n_plug2 == n_before);
        /* keep copies: clear_msgs() frees the strings */
        for (size_t i = 0; i < n_before; i++) {
                before[i].topic = strdup(before[i].topic);
                before[i].payload = strdup(before[i].payload);
                assert(before[i].topic && before[i].payload);
        }
        report_onoff(PLUG1, true, 10);

        /* its last will, or anything but "online", changes nothing, now or later */
        clear_msgs();
        mqtt("homeassistant/status", "offline");
        mqtt("homeassistant/status", "");
        mqtt("homeassistant/status", "online please");
        E.now += 31 * SEC;
        bridge_tick(E.b);
        assert(E.n_msgs == 0);

        /* the birth ("online" in any case): every config at once, the same, retained, QoS 1 */
        mqtt("homeassistant/status", "ONLINE");
        n_after = configs(after, ELEMENTSOF(after));
        assert(n_after == n_before);
        for (size_t i = 0; i < n_before; i++) {
                const Msg *m = last_msg(before[i].topic);

                assert(m && m->retain && m->qos == 1);
                if (strcmp(m->payload, before[i].payload) != 0) {
                        fprintf(stderr, "%s:\n  got      %s\n  expected %s\n", m->topic, m->payload, before[i].payload);
                        assert(false);
                }
                assert(count(before[i].topic) == 1);
        }
        /* the states as Zigbee2MQTT: bridge/state and the known states 30 s later */
        assert(!last(BASE "/bridge/state") && !last(BASE "/plug1"));
        E.now += 30 * SEC;
        bridge_tick(E.b);
        check_payload(BASE "/bridge/state", "{\"state\":\"online\"}");
        assert(last_msg(BASE "/bridge/state")->retain && last_msg(BASE "/bridge/state")->qos == 1);
        assert(strcmp(state_value("plug1", "state"), "\"ON\"") == 0);
        assert(configs(after, ELEMENTSOF(after)) == n_before);     /* nothing more */

        /* a birth during the wait for retained configs at start: they all come once, at its end */
        env_stop();
        env_start(false, true);
        clear_msgs();
        mqtt("homeassistant/status", "online");
        assert(configs(after, ELEMENTSOF(after)) == 0);
        E.now += 5 * SEC;
        bridge_tick(E.b);
        assert(configs(after, ELEMENTSOF(after)) == n_before);
        for (size_t i = 0; i < n_before; i++)
                assert(count(before[i].topic) == 1);

        /* discovery off: the status topic is not even ours */
        env_stop();
        env_start(false, false);
        clear_msgs();
        mqtt("homeassistant/status", "online");
        E.now += 31 * SEC;
        bridge_tick(E.b);
        assert(configs(after, ELEMENTSOF(after)) == 0 && !last(BASE "/bridge/state"));

        for (size_t i = 0; i < n_before; i++) {
                free(before[i].topic);
                free(before[i].payload);
        }
        env_free();
}

static size_t fake_backlog_value;
static size_t fake_backlog(void *u) {
        return fake_backlog_value;
}

/* The configs of many plugs go out a plug at a time while the MQTT client holds many messages, all
 * at once when it holds few, and the tick (due at once, bridge_next_background_wakeup) finishes them. */
static void test_discovery_is_paced_by_the_mqtt_backlog(void) {
        static Msg all[20000];
        size_t per_plug, n;

        env_new(false, true);
        bridge_set_mqtt_backlog_callback(E.b, fake_backlog);
        for (unsigned i = 0; i < 10; i++)
                pair(PLUG1 + i, (uint16_t) (0x1000 + i), NULL);
        assert(configs(all, ELEMENTSOF(all)) == 0);             /* during the wait for retained configs */
        assert(bridge_next_background_wakeup(E.b) <= E.now + 5 * SEC);  /* its end is kept to the microsecond */

        /* a full client: the bridge's configs and one plug's per tick */
        fake_backlog_value = BRIDGE_DISCOVERY_BACKLOG_MAX;
        E.now += 5 * SEC;
        bridge_tick(E.b);
        n = configs(all, ELEMENTSOF(all));
        per_plug = 0;
        for (size_t i = 0; i < n; i++)
                per_plug += strstr(all[i].topic, "/" PLUG1_S "/") != NULL;
        assert(per_plug > 0);
        for (size_t i = 0; i < n; i++)
                assert(!strstr(all[i].topic, "/0x00158d0001a2b302/"));  /* the second plug waits */
        assert(bridge_next_background_wakeup(E.b) == 0);         /* due now */
        bridge_tick(E.b);
        assert(configs(all, ELEMENTSOF(all)) == n + per_plug);

        /* the client drained: the other eight at once */
        fake_backlog_value = 0;
        bridge_tick(E.b);
        assert(configs(all, ELEMENTSOF(all)) == n + 9 * per_plug);
        assert(bridge_next_background_wakeup(E.b) != 0);
        bridge_tick(E.b);
        assert(configs(all, ELEMENTSOF(all)) == n + 9 * per_plug);     /* nothing twice */

        /* Home Assistant's birth: the same pacing, every plug once */
        clear_msgs();
        fake_backlog_value = BRIDGE_DISCOVERY_BACKLOG_MAX;
        mqtt("homeassistant/status", "online");
        for (unsigned i = 0; i < 10; i++)
                bridge_tick(E.b);
        assert(bridge_next_background_wakeup(E.b) != 0);
        n = configs(all, ELEMENTSOF(all));
        for (unsigned i = 0; i < 10; i++) {
                char s[32];
                size_t k = 0;

                snprintf(s, sizeof(s), "/0x%016" PRIx64 "/", (uint64_t) (PLUG1 + i));
                for (size_t j = 0; j < n; j++)
                        k += strstr(all[j].topic, s) != NULL;
                assert(k == per_plug);
        }
        fake_backlog_value = 0;
        env_free();
}

static void test_the_configuration_names_and_configures_plugs(void) {
        BridgeDeviceConfig dc = { .ieee = PLUG1, .friendly_name = "ini plug" };

        dc.options = json_tokener_parse("{\"device_temperature_calibration\":-3}");
        assert(dc.options);
        env_new(false, false);
        env_stop();
        E.cfg.devices = &dc;
        E.cfg.n_devices = 1;
        assert(bridge_new(&E.b, &E.cfg, E.db, &mqtt_ops, &zigbee_ops, &owner_ops, NULL) == 0);
        assert(bridge_on_mqtt_connected(E.b) == 0);
        pair(PLUG1, 23878, NULL);
        assert(devdb_find_by_name(E.db, "ini plug"));
        report_tlv(PLUG1);
        assert(strcmp(state_value("ini plug", "device_temperature"), "23") == 0);

        /* a rename over MQTT wins over the configuration at the next start */
        mqtt(BASE "/bridge/request/device/rename", "{\"from\":\"ini plug\",\"to\":\"renamed\"}");
        E.b = bridge_free(E.b);
        assert(bridge_new(&E.b, &E.cfg, E.db, &mqtt_ops, &zigbee_ops, &owner_ops, NULL) == 0);
        assert(devdb_find_by_name(E.db, "renamed") && !devdb_find_by_name(E.db, "ini plug"));
        json_object_put(dc.options);
        env_free();
}

int main(void) {
        log_set_max_level(LOG_CRIT);    /* the rejected inputs are checked through bridge_last_error() */

        test_pairing_publishes_zigbee2mqtt_events_and_devices();
        test_bridge_devices_and_info_match_zigbee2mqtt();
        test_state_has_zigbee2mqtts_keys();
        test_set_publishes_only_what_the_plug_confirmed();
        test_toggle_of_an_unknown_state_reads_it_back();
        test_get_reads_the_plug();
        test_bad_input_is_refused_with_its_reason();
        test_oversized_payloads_are_refused_and_errors_reach_bridge_logging();
        test_options_apply_from_the_next_report();
        test_ten_plugs_have_their_own_topics();
        test_rename_moves_the_topics();
        test_remove_clears_everything();
        test_availability_goes_offline_and_back();
        test_restart_restores_the_retained_state();
        test_bridge_requests();
        test_stale_discovery_is_cleared_at_start();
        test_discovery_wait_ends_at_the_broker_fence();
        test_the_configuration_names_and_configures_plugs();
        test_home_assistant_birth_republishes_every_config();
        test_discovery_is_paced_by_the_mqtt_backlog();
        return 0;
}
