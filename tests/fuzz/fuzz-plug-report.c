/*
 * Fuzz target: a ZCL frame from a ZNCZ04LM into its state (plug_state_apply_frame(),
 * src/devices/plug.h), as the daemon applies every Report Attributes and Read Attributes Response.
 *
 * Input: endpoint u8, cluster u16 LE, an option byte, link quality u8, then the ZCL frame (header
 * included). The option byte turns on state_action and, per bit, a calibration and precision on
 * rows that have them, so the calibrated and rounded paths are fuzzed too. The resulting state is
 * published, restored from that JSON (as the database does at start), and published again: the
 * two publications must be identical. The frame is also judged as the plug's answer to a command,
 * a write and a read (plug_action_response_status()); besides -ENOMSG and -EBADMSG that may give
 * zcl.h's -EOPNOTSUPP for a record of an unknown data type.
 */
#include <errno.h>
#include <string.h>

#include "devices/plug.h"
#include "fuzz.h"

static void set_options(PlugOptions *o, const PlugModel *m, uint8_t bits) {
        o->state_action = bits & 0x01;
        for (size_t i = 0; i < m->n_properties && i < PLUG_PROPERTIES_MAX; i++) {
                if (m->properties[i].option == PROP_OPTION_NONE)
                        continue;
                if (bits & 0x02) {
                        o->prop[i].has_calibration = true;
                        o->prop[i].calibration = (bits & 0x04) ? -7.5 : 12.0;
                }
                if (bits & 0x08) {
                        o->prop[i].has_precision = true;
                        o->prop[i].precision = (bits >> 4) & 0x03;
                }
        }
}

/* One action of each kind, parsed once from requests Zigbee2MQTT users send. */
static void judge_as_answer(const uint8_t *zcl, size_t len) {
        static const char *const requests[] = {
                "{\"state\":\"ON\"}", "{\"overload_protection\":2300}", "{\"auto_off\":true}",
        };
        static const uint16_t ep1[] = { 0x0000, 0x0006, 0xFCC0 }, ep21[] = { 0x000C };
        const PlugEndpoint eps[] = { { 1, ep1, 3 }, { 21, ep21, 1 } };
        const PlugModel *m = &plug_model_zncz04lm;
        PlugRequest req;

        for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
                FUZZ_CHECK(plug_parse_set(m, NULL, requests[i], strlen(requests[i]), NULL, eps, 2, &req) == 0);
                FUZZ_CHECK(req.n_actions == 1);
                for (size_t k = 0; k < req.n_actions; k++) {
                        uint8_t status = 0xAA;
                        int r = plug_action_response_status(&req.actions[k], zcl, len, &status);

                        FUZZ_CHECK(r == 0 || r == -ENOMSG || r == -EBADMSG || r == -EOPNOTSUPP);
                }
        }
        FUZZ_CHECK(plug_parse_get(m, NULL, "{\"power\":\"\"}", 12, eps, 2, &req) == 0);
        FUZZ_CHECK(req.n_actions == 1);
        {
                uint8_t status;
                int r = plug_action_response_status(&req.actions[0], zcl, len, &status);

                FUZZ_CHECK(r == 0 || r == -ENOMSG || r == -EBADMSG || r == -EOPNOTSUPP);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const PlugModel *m = &plug_model_zncz04lm;
        PlugOptions o = {};
        PlugState s = {}, restored = {};
        PlugUpdate u = {};
        json_object *j, *again;
        uint16_t cluster;
        uint8_t endpoint, lqi;

        if (size < 5 || size > 5 + 300)
                return 0;
        endpoint = data[0];
        cluster = (uint16_t) (data[1] | (data[2] << 8));
        set_options(&o, m, data[3]);
        lqi = data[4];

        (void) plug_state_apply_frame(&s, m, &o, endpoint, cluster, data + 5, size - 5, lqi, &u);
        /* the same frame again, as a retransmission arrives */
        (void) plug_state_apply_frame(&s, m, &o, endpoint, cluster, data + 5, size - 5, lqi, &u);

        j = plug_state_to_json(&s, m, false, &u);
        FUZZ_CHECK(j);
        FUZZ_CHECK(plug_state_from_json(&restored, m, j) >= 0);
        again = plug_state_to_json(&restored, m, false, NULL);
        FUZZ_CHECK(again);
        {
                json_object *plain = plug_state_to_json(&s, m, false, NULL);
                const char *a, *b;

                FUZZ_CHECK(plain);
                a = json_object_to_json_string_ext(plain, JSON_C_TO_STRING_PLAIN);
                b = json_object_to_json_string_ext(again, JSON_C_TO_STRING_PLAIN);
                FUZZ_CHECK(a && b);
                FUZZ_CHECK(strcmp(a, b) == 0);
                json_object_put(plain);
        }
        json_object_put(again);
        json_object_put(j);

        j = plug_state_to_json(&s, m, true, NULL);
        FUZZ_CHECK(j);
        json_object_put(j);

        judge_as_answer(data + 5, size - 5);
        return 0;
}
