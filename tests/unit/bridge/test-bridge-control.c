/*
 * The bridge's calls for the control socket (bridge.h, bridge-control.c) against fake MQTT and
 * Zigbee ops: set/get answered when the plug answered (or did not), the first error with its code,
 * bridge requests answered through the caller's callback as well as on MQTT (also when the Zigbee
 * work completes later), cancelled calls never called back, and the read-only views.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bridge/bridge.h"
#include "util/log.h"

#define BASE "zigbee2mqtt"
#define PLUG1 0x00158d0001a2b301ull
#define SEC 1000000ull

typedef struct Sent {
        uint64_t token, ieee;
        PlugAction a;
} Sent;

static struct {
        char last_topic[256], last_payload[4096];
        unsigned n_published;
        Sent actions[64];
        size_t n_actions;
        uint64_t pj_token, rm_token;
        uint64_t now;
        char dir[64];
        DevDb *db;
        Bridge *b;
        /* the calls' answers */
        unsigned n_answers;
        uint64_t answered_call;
        char answer[4096];
} E;

static int fake_publish(void *u, const char *topic, const void *payload, size_t len, bool retain, int qos) {
        snprintf(E.last_topic, sizeof(E.last_topic), "%s", topic);
        snprintf(E.last_payload, sizeof(E.last_payload), "%.*s", (int) len, (const char *) payload);
        E.n_published++;
        return 0;
}
static int fake_subscribe(void *u, const char *topic) { return 0; }
static int fake_send_action(void *u, uint64_t ieee, uint16_t nwk, const PlugAction *a, uint64_t token) {
        assert(E.n_actions < 64);
        E.actions[E.n_actions++] = (Sent) { .token = token, .ieee = ieee, .a = *a };
        return 0;
}
static int fake_ping(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) { return 0; }
static int fake_permit_join(void *u, unsigned seconds, uint64_t token) { E.pj_token = token; return 0; }
static int fake_remove(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) { E.rm_token = token; return 0; }
static uint64_t fake_now(void *u) { return E.now; }

static const BridgeMqttOps mqtt_ops = { fake_publish, fake_subscribe, NULL };
static const BridgeZigbeeOps zigbee_ops = { fake_send_action, fake_ping, fake_permit_join, fake_remove };
static const BridgeOwnerOps owner_ops = { .now = fake_now };

static void on_answer(void *userdata, uint64_t call, json_object *response) {
        assert(userdata == &E);
        E.n_answers++;
        E.answered_call = call;
        snprintf(E.answer, sizeof(E.answer), "%s",
                 response ? json_object_to_json_string_ext(response, JSON_C_TO_STRING_PLAIN) : "(null)");
}

static void env_new(void) {
        static const BridgeConfig cfg = { .base_topic = BASE, .retain_state = true, .availability = true };
        BridgeCoordinator c = { .ieee = 0x00124b0029a1b2c3ull, .type = "ZStack3x0", .channel = 11 };
        InterviewResult r = {
                .ieee = PLUG1, .nwk = 0x1234, .success = true, .failed_step = INTERVIEW_DONE,
                .node = { .logical_type = 1, .mac_capabilities = 0x8e, .manufacturer_code = 0x115f },
                .n_endpoints = 2, .basic_endpoint = 1,
                .endpoints = {
                        { .endpoint = 1, .profile = 260, .device_id = 0x51, .n_in = 7,
                          .in = { 0x0000, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0xFCC0 } },
                        { .endpoint = 21, .profile = 260, .device_id = 0x51, .n_in = 1, .in = { 0x000C } },
                },
        };

        memset(&E, 0, sizeof(E));
        snprintf(E.dir, sizeof(E.dir), "/tmp/test-bridge-control-XXXXXX");
        assert(mkdtemp(E.dir));
        assert(devdb_new(&E.db, E.dir) == 0);
        E.now = 1700000000ull * SEC;
        assert(bridge_new(&E.b, &cfg, E.db, &mqtt_ops, &zigbee_ops, &owner_ops, NULL) == 0);
        bridge_set_coordinator(E.b, &c);
        assert(bridge_on_mqtt_connected(E.b) == 0);

        r.have = 1u << INTERVIEW_ATTR_MODEL_ID;
        snprintf(r.model_id, sizeof(r.model_id), "lumi.plug.mmeu01");
        assert(bridge_on_device_joined(E.b, PLUG1, 0x1234) == 0);
        assert(bridge_on_interview_started(E.b, PLUG1, 0x1234) == 0);
        assert(bridge_on_interview_done(E.b, &r) == 0);
        assert(bridge_on_mqtt_message(E.b, BASE "/bridge/request/device/rename", "{\"from\":\"0x00158d0001a2b301\",\"to\":\"plug1\"}",
                                      strlen("{\"from\":\"0x00158d0001a2b301\",\"to\":\"plug1\"}")) == 0);
}

static void env_free(void) {
        char cmd[128];

        E.b = bridge_free(E.b);
        E.db = devdb_free(E.db);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
        assert(system(cmd) == 0);
}

static void answer_default_rsp(const Sent *s, uint8_t status) {
        uint8_t f[] = { 0x18, 0x01, 0x0B, s->a.command, status };

        bridge_complete(E.b, s->token, 0, f, sizeof(f));
        assert(bridge_on_zcl(E.b, s->ieee, s->a.endpoint, s->a.cluster, f, sizeof(f), 80) == 0);
}

static void test_set_is_answered_when_the_plug_confirmed(void) {
        static const char on[] = "{\"state\":\"ON\"}";

        env_new();
        assert(bridge_call_set_get(E.b, "plug1", false, on, strlen(on), 11, on_answer, &E) == 0);
        assert(E.n_actions == 1 && E.n_answers == 0);           /* waits for the plug */
        answer_default_rsp(&E.actions[0], 0);
        assert(E.n_answers == 1 && E.answered_call == 11);
        assert(strcmp(E.answer, "{\"status\":\"ok\"}") == 0);
        /* MQTT saw the confirmed state, as after <name>/set */
        assert(strcmp(E.last_topic, BASE "/plug1") == 0 && strstr(E.last_payload, "\"state\":\"ON\""));

        /* the plug refuses: its status is the error */
        assert(bridge_call_set_get(E.b, "0x00158d0001a2b301", false, on, strlen(on), 12, on_answer, &E) == 0);
        answer_default_rsp(&E.actions[1], 0x87);
        assert(E.n_answers == 2 && E.answered_call == 12);
        assert(strstr(E.answer, "\"code\":\"bad-value\"") && strstr(E.answer, "INVALID_VALUE"));
        env_free();
}

static void test_set_errors_have_their_codes(void) {
        static const char bad[] = "{\"state\":\"MAYBE\"}";
        static const char two[] = "{\"state\":\"ON\",\"overload_protection\":99999}";
        static const char on[] = "{\"state\":\"ON\"}";

        env_new();
        /* refused before anything is sent: answered at once */
        assert(bridge_call_set_get(E.b, "plug1", false, bad, strlen(bad), 1, on_answer, &E) == 0);
        assert(E.n_actions == 0 && E.n_answers == 1 && E.answered_call == 1);
        assert(strstr(E.answer, "\"code\":\"bad-value\"") && strstr(E.answer, "state"));

        /* one good and one bad key: the good one still goes out; the answer is the error, after the plug */
        assert(bridge_call_set_get(E.b, "plug1", false, two, strlen(two), 2, on_answer, &E) == 0);
        assert(E.n_actions == 1 && E.n_answers == 1);
        answer_default_rsp(&E.actions[0], 0);
        assert(E.n_answers == 2 && strstr(E.answer, "overload_protection"));

        /* no answer from the plug */
        assert(bridge_call_set_get(E.b, "plug1", false, on, strlen(on), 3, on_answer, &E) == 0);
        bridge_complete(E.b, E.actions[1].token, -ETIMEDOUT, NULL, 0);
        assert(E.n_answers == 3 && strstr(E.answer, "\"code\":\"timeout\""));

        /* unknown device, unknown key, duplicate id */
        assert(bridge_call_set_get(E.b, "nosuch", false, on, strlen(on), 4, on_answer, &E) == -ENOENT);
        assert(bridge_call_set_get(E.b, "plug1", true, "{\"bogus\":\"\"}", 12, 5, on_answer, &E) == 0);
        assert(E.n_answers == 4 && strstr(E.answer, "\"code\":\"bad-argument\""));
        assert(bridge_call_set_get(E.b, "plug1", false, on, strlen(on), 6, on_answer, &E) == 0);
        assert(bridge_call_set_get(E.b, "plug1", false, on, strlen(on), 6, on_answer, &E) == -EINVAL);
        env_free();
}

static void test_a_cancelled_call_is_never_answered(void) {
        static const char on[] = "{\"state\":\"ON\"}";

        env_new();
        assert(bridge_call_set_get(E.b, "plug1", false, on, strlen(on), 7, on_answer, &E) == 0);
        bridge_call_cancel(E.b, 7);
        answer_default_rsp(&E.actions[0], 0);
        assert(E.n_answers == 0);
        assert(strstr(E.last_payload, "\"state\":\"ON\""));   /* MQTT still sees what the plug did */
        bridge_call_cancel(E.b, 12345);                     /* unknown: ignored */
        bridge_call_cancel(NULL, 7);
        env_free();
}

static void test_bridge_requests_answer_the_caller_too(void) {
        json_object *req;

        env_new();
        /* answered at once (a refusal) */
        req = json_tokener_parse("{\"from\":\"plug1\",\"to\":\"bad+name\"}");
        assert(bridge_call_request(E.b, "device/rename", req, 21, on_answer, &E) == 0);
        assert(E.n_answers == 1 && E.answered_call == 21 && strstr(E.answer, "\"status\":\"error\""));
        assert(strstr(E.answer, "\"transaction\":\"lumiplugctl-21\""));
        assert(strcmp(E.last_topic, BASE "/bridge/response/device/rename") == 0);  /* MQTT sees it too */
        json_object_put(req);

        /* answered when the Zigbee side completes */
        req = json_tokener_parse("{\"time\":60}");
        assert(bridge_call_request(E.b, "permit_join", req, 22, on_answer, &E) == 0);
        assert(E.n_answers == 1);
        bridge_complete(E.b, E.pj_token, 0, NULL, 0);
        assert(E.n_answers == 2 && E.answered_call == 22 && strstr(E.answer, "\"data\":{\"time\":60}"));
        json_object_put(req);

        req = json_tokener_parse("{\"id\":\"plug1\"}");
        assert(bridge_call_request(E.b, "device/remove", req, 23, on_answer, &E) == 0);
        bridge_complete(E.b, E.rm_token, 0, NULL, 0);
        assert(E.n_answers == 3 && strstr(E.answer, "\"status\":\"ok\"") && !devdb_find_by_name(E.db, "plug1"));
        json_object_put(req);

        /* a request the bridge does not know still answers */
        req = json_tokener_parse("{\"id\":\"x\"}");
        assert(bridge_call_request(E.b, "device/frobnicate", req, 24, on_answer, &E) == 0);
        assert(E.n_answers == 4 && strstr(E.answer, "not supported"));
        json_object_put(req);
        /* an MQTT client's own response with another transaction reaches nobody */
        assert(bridge_on_mqtt_message(E.b, BASE "/bridge/request/health_check", "{\"transaction\":\"lumiplugctl-99\"}",
                                      strlen("{\"transaction\":\"lumiplugctl-99\"}")) == 0);
        assert(E.n_answers == 4);
        env_free();
}

static void test_views_list_the_devices(void) {
        BridgeSummary s;
        json_object *v, *d, *x;

        env_new();
        bridge_get_summary(E.b, &s);
        assert(s.n_devices == 1 && s.n_plugs == 1 && s.coordinator && s.mqtt_connected);
        v = bridge_devices_view(E.b);
        assert(v && json_object_array_length(v) == 1);
        d = json_object_array_get_idx(v, 0);
        assert(json_object_object_get_ex(d, "name", &x) && strcmp(json_object_get_string(x), "plug1") == 0);
        assert(json_object_object_get_ex(d, "ieee", &x) && strcmp(json_object_get_string(x), "0x00158d0001a2b301") == 0);
        assert(json_object_object_get_ex(d, "model", &x) && strcmp(json_object_get_string(x), "ZNCZ04LM") == 0);
        assert(json_object_object_get_ex(d, "state", &x) && json_object_is_type(x, json_type_object));
        json_object_put(v);
        v = bridge_device_view(E.b, "0x00158d0001a2b301");
        assert(v);
        json_object_put(v);
        assert(!bridge_device_view(E.b, "nosuch"));
        env_free();
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        test_set_is_answered_when_the_plug_confirmed();
        test_set_errors_have_their_codes();
        test_a_cancelled_call_is_never_answered();
        test_bridge_requests_answer_the_caller_too();
        test_views_list_the_devices();
        return 0;
}
