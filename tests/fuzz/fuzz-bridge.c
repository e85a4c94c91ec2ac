/*
 * Fuzz target: MQTT messages to every topic the daemon subscribes, through the bridge
 * (src/bridge/bridge.h): <base>/<name>/set[/<key>], /get[/<key>], <base>/bridge/request/...,
 * the Home Assistant status topic and retained discovery configs; interleaved with the plug's
 * answers to the actions they cause, its reports, and the passing of time.
 *
 * Input: records separated by NUL bytes, each a topic line and a payload:
 *
 *   zigbee2mqtt/kitchen/set\n{"state":"ON"}       an MQTT message (topic as published)
 *   @answer\n<ZCL frame>                          the plug answers the oldest pending action
 *   @fail\n                                       the oldest pending action or ping times out
 *   @report\n<endpoint><cluster LE><ZCL frame>    a frame from the plug
 *   @tick\n                                       61 s pass
 *
 * Each input starts from a fresh bridge with one ZNCZ04LM paired as 0x00158d0004a1b2c3 and named
 * "kitchen". Everything published must be under the base topic or the discovery prefix, and every
 * bridge/response must be a JSON object with a "status" of "ok" or "error". Time is simulated and
 * the database is never saved, so runs are deterministic and touch no files.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "bridge/bridge.h"
#include "fuzz.h"
#include "util/log.h"

#define SEC 1000000ULL
#define PLUG_IEEE 0x00158d0004a1b2c3ULL
#define PLUG_NWK 0x5a3e
#define PENDING_MAX 512

typedef struct Env {
        uint64_t now;
        uint64_t pending[PENDING_MAX];
        size_t n_pending;
        unsigned published;
} Env;

static Env E;

static int on_publish(void *u, const char *topic, const void *payload, size_t len, bool retain, int qos) {
        FUZZ_CHECK(topic && (payload || len == 0));
        FUZZ_CHECK(qos >= 0 && qos <= 2);
        FUZZ_CHECK(strncmp(topic, "zigbee2mqtt/", 12) == 0 || strncmp(topic, "homeassistant/", 14) == 0);
        if (strncmp(topic, "zigbee2mqtt/bridge/response/", 28) == 0) {
                json_tokener *tok = json_tokener_new();
                json_object *o, *status;

                FUZZ_CHECK(tok);
                o = json_tokener_parse_ex(tok, payload, (int) len);
                FUZZ_CHECK(o && json_object_is_type(o, json_type_object));
                FUZZ_CHECK(json_object_object_get_ex(o, "status", &status));
                FUZZ_CHECK(strcmp(json_object_get_string(status), "ok") == 0 ||
                           strcmp(json_object_get_string(status), "error") == 0);
                json_object_put(o);
                json_tokener_free(tok);
        }
        E.published++;
        return 0;
}

static int on_subscribe(void *u, const char *topic) {
        FUZZ_CHECK(topic && topic[0]);
        return 0;
}

static int remember(uint64_t token) {
        if (E.n_pending >= PENDING_MAX)
                return -ENOBUFS;
        E.pending[E.n_pending++] = token;
        return 0;
}

static int on_send_action(void *u, uint64_t ieee, uint16_t nwk, const PlugAction *a, uint64_t token) {
        uint8_t buf[256];

        FUZZ_CHECK(plug_action_build_frame(a, 1, buf, sizeof(buf)) >= 3);
        return remember(token);
}

static int on_ping(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) {
        return remember(token);
}

static int on_permit_join(void *u, unsigned seconds, uint64_t token) {
        FUZZ_CHECK(seconds <= 254);
        return remember(token);
}

static int on_remove_device(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) {
        return remember(token);
}

static uint64_t on_now(void *u) {
        return E.now;
}

static void on_restart(void *u) {
}

static void on_devdb_changed(void *u, bool urgent) {
}

static const BridgeMqttOps mqtt_ops = { on_publish, on_subscribe, on_subscribe };
static const BridgeZigbeeOps zigbee_ops = { on_send_action, on_ping, on_permit_join, on_remove_device };
static const BridgeOwnerOps owner_ops = { on_now, on_restart, on_devdb_changed, NULL };

static void pair_plug(Bridge *b) {
        static const char rename[] = "{\"from\":\"0x00158d0004a1b2c3\",\"to\":\"kitchen\"}";
        InterviewResult r = {
                .ieee = PLUG_IEEE, .nwk = PLUG_NWK, .success = true, .failed_step = INTERVIEW_DONE,
                .node = { .logical_type = 1, .mac_capabilities = 0x8e, .manufacturer_code = 0x115f },
                .n_endpoints = 2, .basic_endpoint = 1,
                .endpoints = {
                        { .endpoint = 1, .profile = 260, .device_id = 0x51, .n_in = 7,
                          .in = { 0x0000, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0xFCC0 },
                          .n_out = 2, .out = { 0x000A, 0x0019 } },
                        { .endpoint = 21, .profile = 260, .device_id = 0x51, .n_in = 1, .in = { 0x000C } },
                },
                .have = (1u << INTERVIEW_ATTR_MODEL_ID) | (1u << INTERVIEW_ATTR_MANUFACTURER_NAME),
                .model_id = "lumi.plug.mmeu01", .manufacturer_name = "LUMI",
        };

        FUZZ_CHECK(bridge_on_device_joined(b, PLUG_IEEE, PLUG_NWK) == 0);
        FUZZ_CHECK(bridge_on_interview_started(b, PLUG_IEEE, PLUG_NWK) == 0);
        FUZZ_CHECK(bridge_on_interview_done(b, &r) == 0);
        FUZZ_CHECK(bridge_on_mqtt_message(b, "zigbee2mqtt/bridge/request/device/rename", rename,
                                          sizeof(rename) - 1) == 0);
}

static void complete_oldest(Bridge *b, int error, const uint8_t *zcl, size_t len) {
        uint64_t token;

        if (E.n_pending == 0)
                return;
        token = E.pending[0];
        memmove(E.pending, E.pending + 1, (E.n_pending - 1) * sizeof(E.pending[0]));
        E.n_pending--;
        bridge_complete(b, token, error, zcl, len);
}

static void handle_record(Bridge *b, const uint8_t *rec, size_t len) {
        const uint8_t *nl = memchr(rec, '\n', len);
        char topic[256];
        size_t tlen;
        const uint8_t *payload;
        size_t plen;

        if (!nl)
                return;
        tlen = (size_t) (nl - rec);
        if (tlen >= sizeof(topic))
                return;
        memcpy(topic, rec, tlen);
        topic[tlen] = 0;
        payload = nl + 1;
        plen = len - tlen - 1;

        if (strcmp(topic, "@answer") == 0)
                complete_oldest(b, 0, payload, plen);
        else if (strcmp(topic, "@fail") == 0)
                complete_oldest(b, -ETIMEDOUT, NULL, 0);
        else if (strcmp(topic, "@report") == 0) {
                if (plen >= 3)
                        FUZZ_CHECK(bridge_on_zcl(b, PLUG_IEEE, payload[0], (uint16_t) (payload[1] | (payload[2] << 8)),
                                                 payload + 3, plen - 3, 0x6e) >= 0);
        } else if (strcmp(topic, "@tick") == 0) {
                E.now += 61 * SEC;
                bridge_tick(b);
        } else if (tlen > 0) {
                /* An MQTT topic is UTF-8 without NUL, wildcards and (as received) never empty. */
                if (strpbrk(topic, "+#"))
                        return;
                FUZZ_CHECK(bridge_on_mqtt_message(b, topic, payload, plen) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool quiet;
        const BridgeConfig cfg = {
                .base_topic = "zigbee2mqtt", .retain_state = true, .availability = true, .homeassistant = true,
                .discovery_prefix = "homeassistant", .ha_status_topic = "homeassistant/status", .log_level = "info",
        };
        BridgeCoordinator coord = {
                .ieee = 0x00124b0024c2a7f1ULL, .type = "ZStack3x0", .transportrev = 2, .product = 1, .majorrel = 2,
                .minorrel = 7, .maintrel = 1, .revision = 20240710, .channel = 15, .pan_id = 0x1a62,
                .ext_pan_id = 0x00124b0001020304ULL, .n_endpoints = 1, .endpoints = { { .id = 1, .profile = 260 } },
        };
        DevDb *db = NULL;
        Bridge *b = NULL;
        unsigned records = 0;

        if (!quiet) {
                /* bad input is logged by design; the fuzzer wants no output */
                log_set_max_level(LOG_EMERG);
                quiet = true;
        }
        if (size > 64 * 1024)
                return 0;

        E = (Env) { .now = 1764390000ULL * SEC };
        /* never loaded nor saved: the directory is only a name */
        FUZZ_CHECK(devdb_new(&db, "/nonexistent/lumiplugd-fuzz-bridge") == 0);
        FUZZ_CHECK(bridge_new(&b, &cfg, db, &mqtt_ops, &zigbee_ops, &owner_ops, NULL) == 0);
        bridge_set_coordinator(b, &coord);
        FUZZ_CHECK(bridge_on_mqtt_connected(b) == 0);
        pair_plug(b);

        while (size > 0 && records++ < 256) {
                const uint8_t *z = memchr(data, 0, size);
                size_t len = z ? (size_t) (z - data) : size;

                handle_record(b, data, len);
                if (!z)
                        break;
                size -= len + 1;
                data = z + 1;
        }

        /* the payloads the bridge builds on request stay well-formed after all that */
        free(bridge_devices_payload(b));
        free(bridge_info_payload(b));
        free(bridge_state_payload(b, PLUG_IEEE));
        (void) bridge_last_error(b);

        bridge_free(b);
        devdb_free(db);
        return 0;
}
