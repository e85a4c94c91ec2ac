/*
 * ZNCZ04LM property table: every property both ways, the reference report vectors, options,
 * set/get parsing with every error text.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "devices/plug.h"
#include "util/macro.h"

static const PlugModel *M;

static size_t row(const char *name) {
        size_t i;
        assert(plug_model_property(M, name, &i));
        return i;
}

/* The published JSON text of one key, "" when absent. */
static const char *published(const PlugState *s, const char *key, const PlugUpdate *u) {
        static char buf[256];
        json_object *obj = plug_state_to_json(s, M, false, u), *v;

        assert(obj);
        buf[0] = 0;
        if (json_object_object_get_ex(obj, key, &v))
                snprintf(buf, sizeof(buf), "%s",
                         json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(obj);
        return buf;
}

static int apply(PlugState *s, const PlugOptions *o, uint8_t ep, uint16_t cluster,
                 const uint8_t *frame, size_t len, PlugUpdate *u) {
        return plug_state_apply_frame(s, M, o, ep, cluster, frame, len, 120, u);
}

static void test_registry_knows_the_plug(void) {
        assert(plug_model_find("lumi.plug.mmeu01") == &plug_model_zncz04lm);
        assert(plug_model_find("lumi.plug.maeu01") == NULL);
        assert(plug_model_find(NULL) == NULL);
        assert(strcmp(M->vendor, "Xiaomi") == 0 && strcmp(M->model, "ZNCZ04LM") == 0);
        assert(strcmp(M->description, "Mi smart plug EU") == 0);
        assert(M->ota);
}

static void test_table_invariants(void) {
        for (size_t i = 0; i < M->n_properties; i++) {
                const PlugProperty *p = &M->properties[i];

                assert(p->name && p->label);
                assert(p->scale != 0);
                if (p->access & (PROP_ACCESS_SET | PROP_ACCESS_GET))
                        assert(p->source == PROP_SOURCE_ATTRIBUTE);
                if (p->source == PROP_SOURCE_TLV)
                        assert(p->tlv_tag >= 0);
                if (plug_property_is_exposed(p))
                        assert(p->ha.component && p->ha.object_id);
                /* Zigbee2MQTT: the expose category becomes the entity category (config -> diagnostic on sensors) */
                if (p->category && strcmp(p->category, "config") == 0)
                        assert(p->access & PROP_ACCESS_SET);
                if (p->category && p->ha.component)
                        assert(p->ha.entity_category && strcmp(p->ha.entity_category, p->category) == 0);
                if (!p->category)
                        assert(!p->ha.entity_category);
                for (size_t j = 0; j < i; j++)
                        assert(strcmp(p->name, M->properties[j].name) != 0);
        }
}

/* Every property from each Zigbee form it can arrive in -> the JSON Zigbee2MQTT publishes. */
typedef struct InCase {
        const char *name;
        uint8_t endpoint;
        uint16_t cluster;
        uint8_t frame[24];
        size_t len;
        const char *json;
} InCase;

static const InCase in_cases[] = {
        { "state", 1, 0x0006, { 0x18, 0x01, 0x0A, 0x00, 0x00, 0x10, 0x01 }, 7, "\"ON\"" },
        { "state", 1, 0x0006, { 0x08, 0x01, 0x0A, 0x00, 0x00, 0x10, 0x00 }, 7, "\"OFF\"" },
        { "state", 1, 0x0006, { 0x18, 0x01, 0x01, 0x00, 0x00, 0x00, 0x10, 0x01 }, 8, "\"ON\"" },     /* read rsp */
        /* fw 22 On/Off report with Lumi's extra 0x00F5 uint32 after onOff */
        { "state", 1, 0x0006, { 0x08, 0x01, 0x0A, 0x00, 0x00, 0x10, 0x01, 0xF5, 0x00, 0x23, 0x01, 0x02, 0x03, 0x04 }, 14, "\"ON\"" },
        { "state", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x03, 0x64, 0x10, 0x01 }, 12, "\"ON\"" },
        /* 112.7 W on EP 21; 0x42E16666 = 112.7f */
        { "power", 21, 0x000C, { 0x18, 0x02, 0x0A, 0x55, 0x00, 0x39, 0x66, 0x66, 0xE1, 0x42 }, 10, "112.7" },
        { "power", 31, 0x000C, { 0x18, 0x02, 0x01, 0x55, 0x00, 0x00, 0x39, 0x00, 0x00, 0x00, 0x00 }, 11, "0" },
        { "power", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x06, 0x98, 0x39, 0xCD, 0xCC, 0x8C, 0x3F }, 15, "1.1" },
        /* 12.345f kWh -> 12.35 (2 decimals); consumption keeps the float */
        { "energy", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x06, 0x95, 0x39, 0x1F, 0x85, 0x45, 0x41 }, 15, "12.35" },
        { "consumption", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x06, 0x95, 0x39, 0x1F, 0x85, 0x45, 0x41 }, 15, "12.345000267028809" },
        { "device_temperature", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x03, 0x03, 0x28, 0xF6 }, 12, "-10" },
        /* 2271.0 raw -> 227.1 V */
        { "voltage", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x06, 0x96, 0x39, 0x00, 0xF0, 0x0D, 0x45 }, 15, "227.1" },
        /* 487 mA -> 0.49 A */
        { "current", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x06, 0x97, 0x39, 0x00, 0x80, 0xF3, 0x43 }, 15, "0.49" },
        { "power_outage_count", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0xF7, 0x00, 0x41, 0x04, 0x05, 0x21, 0xBF, 0x06 }, 13, "1726" },
        { "consumer_connected", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0x07, 0x02, 0x10, 0x01 }, 9, "true" },
        { "led_disabled_night", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0x03, 0x02, 0x10, 0x01 }, 9, "true" },
        { "power_outage_memory", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x01, 0x01, 0x02, 0x00, 0x10, 0x00 }, 10, "false" },
        { "auto_off", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x0A, 0x02, 0x02, 0x10, 0x01 }, 9, "true" },
        /* 1234.567f -> 1234.57 */
        { "overload_protection", 1, 0xFCC0, { 0x1C, 0x5F, 0x11, 1, 0x01, 0x0B, 0x02, 0x00, 0x39, 0x45, 0x52, 0x9A, 0x44 }, 13, "1234.57" },
        /* Basic 0xFF01 char string with the same TLV (older Lumi form) */
        { "device_temperature", 1, 0x0000, { 0x18, 0x01, 0x0A, 0x01, 0xFF, 0x42, 0x06, 0x03, 0x28, 0x21, 0x64, 0x10, 0x01 }, 13, "33" },
        { "linkquality", 1, 0x0006, { 0x18, 0x01, 0x0A, 0x00, 0x00, 0x10, 0x01 }, 7, "120" },
};

static void test_every_property_from_zigbee_to_json(void) {
        for (size_t k = 0; k < ELEMENTSOF(in_cases); k++) {
                const InCase *c = &in_cases[k];
                PlugState s = {};
                PlugUpdate u;

                assert(apply(&s, NULL, c->endpoint, c->cluster, c->frame, c->len, &u) == 0);
                if (strcmp(published(&s, c->name, NULL), c->json) != 0) {
                        fprintf(stderr, "case %zu %s: got '%s', want '%s'\n", k, c->name, published(&s, c->name, NULL), c->json);
                        assert(false);
                }
                if (strcmp(c->name, "linkquality") != 0)
                        assert(u.converted & (1u << row(c->name)));
        }
}

static const uint8_t example1_frame[] = {
        0x1C, 0x5F, 0x11, 0x10, 0x0A, 0xF7, 0x00, 0x41, 61,
        0x64, 0x10, 0x00, 0x03, 0x28, 0x1A, 0x98, 0x39, 0x00, 0x00, 0x00, 0x00,
        0x95, 0x39, 0x44, 0x1D, 0x34, 0x3F, 0x96, 0x39, 0x00, 0x80, 0x13, 0x45,
        0x97, 0x39, 0x00, 0x00, 0x00, 0x00, 0x05, 0x21, 0x01, 0x00, 0x9A, 0x20, 0x00,
        0x08, 0x21, 0x16, 0x01, 0x07, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x09, 0x21, 0x00, 0x04, 0x0B, 0x20, 0x00, 0x9B, 0x10, 0x00,
};

static const uint8_t example2_frame[] = {
        0x1C, 0x5F, 0x11, 0x11, 0x0A, 0xF7, 0x00, 0x41, 52,
        0x64, 0x10, 0x01, 0x03, 0x28, 0x1E, 0x98, 0x39, 0x00, 0x00, 0x00, 0x00,
        0x96, 0x39, 0x00, 0x00, 0x00, 0x00, 0x97, 0x39, 0x00, 0x00, 0x00, 0x00,
        0x05, 0x21, 0xBF, 0x06, 0x9A, 0x20, 0x10, 0x08, 0x21, 0x18, 0x01, 0x09, 0x21, 0x00, 0x07,
        0x0B, 0x20, 0x00, 0x9B, 0x10, 0x01, 0x0A, 0x21, 0x00, 0x00, 0x0C, 0x20, 0x01,
};

static const char *state_text(const PlugState *s) {
        static char buf[1024];
        json_object *obj = plug_state_to_json(s, M, false, NULL);

        assert(obj);
        snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(obj);
        return buf;
}

static void test_example_1_and_2_reports_publish_what_zigbee2mqtt_publishes(void) {
        PlugState s = {};
        PlugUpdate u;

        assert(apply(&s, NULL, 1, 0xFCC0, example1_frame, sizeof(example1_frame), &u) == 0);
        assert(strcmp(state_text(&s),
                      "{\"state\":\"OFF\",\"power\":0,\"energy\":0.7,\"device_temperature\":26,\"voltage\":236,"
                      "\"current\":0,\"linkquality\":120,\"consumption\":0.7035715579986572,\"power_outage_count\":0}") == 0);

        /* example 2 carries no energy: the last value stays */
        assert(apply(&s, NULL, 1, 0xFCC0, example2_frame, sizeof(example2_frame), &u) == 0);
        assert(strcmp(state_text(&s),
                      "{\"state\":\"ON\",\"power\":0,\"energy\":0.7,\"device_temperature\":30,\"voltage\":0,"
                      "\"current\":0,\"linkquality\":120,\"consumption\":0.7035715579986572,\"power_outage_count\":1726}") == 0);
        assert(!(u.converted & (1u << row("energy"))));
        assert(u.converted & (1u << row("power_outage_count")));
}

static void test_truncated_blob_changes_nothing(void) {
        uint8_t frame[sizeof(example1_frame)];
        PlugState s = {};
        PlugUpdate u;

        memcpy(frame, example1_frame, sizeof(frame));
        frame[8] = 61;
        /* cut inside the power record: length byte says 61 but only 10 bytes follow */
        assert(apply(&s, NULL, 1, 0xFCC0, frame, 9 + 10, &u) == -EBADMSG);
        assert(u.converted == 0);
        assert(strcmp(state_text(&s), "{\"linkquality\":120}") == 0);
}

static void test_malformed_frames_are_rejected_without_effect(void) {
        static const uint8_t shorthdr[] = { 0x18, 0x01 };
        static const uint8_t cmd_other[] = { 0x18, 0x01, 0x0B, 0x01, 0x00 };
        static const uint8_t cut_value[] = { 0x18, 0x01, 0x0A, 0x55, 0x00, 0x39, 0x66, 0x66 };
        static const uint8_t cluster_cmd[] = { 0x01, 0x01, 0x00 };
        PlugState s = {};
        PlugUpdate u;

        assert(apply(&s, NULL, 1, 0x0006, shorthdr, sizeof(shorthdr), &u) == -EBADMSG && u.converted == 0);
        assert(apply(&s, NULL, 1, 0x0006, cmd_other, sizeof(cmd_other), &u) == 0 && u.converted == 0);
        assert(apply(&s, NULL, 21, 0x000C, cut_value, sizeof(cut_value), &u) == -EBADMSG && u.converted == 0);
        assert(apply(&s, NULL, 1, 0x0006, cluster_cmd, sizeof(cluster_cmd), &u) == 0 && u.converted == 0);
        assert(!s.known[row("power")] && !s.known[row("state")]);
}

static void test_options_calibrate_and_round_like_zigbee2mqtt(void) {
        static const uint8_t power[] = { 0x18, 0x02, 0x0A, 0x55, 0x00, 0x39, 0x66, 0x66, 0xE1, 0x42 };
        char err[128];
        PlugOptions o = {};
        PlugState s = {};

        /* percent: 112.7 + 10% = 123.97, precision 0 -> 124 */
        assert(plug_options_set_string(&o, M, "power_calibration", "10", err, sizeof(err)) == 0);
        assert(plug_options_set_string(&o, M, "power_precision", "0", err, sizeof(err)) == 0);
        assert(apply(&s, &o, 21, 0x000C, power, sizeof(power), NULL) == 0);
        assert(strcmp(published(&s, "power", NULL), "124") == 0);
        /* precision 3 without calibration: the float's value to 3 decimals */
        assert(plug_options_set(&o, M, "power_calibration", NULL, err, sizeof(err)) == 0);
        assert(plug_options_set_string(&o, M, "power_precision", "3", err, sizeof(err)) == 0);
        assert(apply(&s, &o, 21, 0x000C, power, sizeof(power), NULL) == 0);
        assert(strcmp(published(&s, "power", NULL), "112.7") == 0);

        /* absolute for temperature: 26 - 2.5 = 23.5, default precision 0 -> 24 (halves go up) */
        assert(plug_options_set_string(&o, M, "device_temperature_calibration", "-2.5", err, sizeof(err)) == 0);
        assert(apply(&s, &o, 1, 0xFCC0, example1_frame, sizeof(example1_frame), NULL) == 0);
        assert(strcmp(published(&s, "device_temperature", NULL), "24") == 0);
        assert(plug_options_set_string(&o, M, "device_temperature_precision", "1", err, sizeof(err)) == 0);
        assert(apply(&s, &o, 1, 0xFCC0, example1_frame, sizeof(example1_frame), NULL) == 0);
        assert(strcmp(published(&s, "device_temperature", NULL), "23.5") == 0);
        /* energy precision 3 applies to energy, never to consumption */
        assert(plug_options_set_string(&o, M, "energy_precision", "3", err, sizeof(err)) == 0);
        assert(plug_options_set_string(&o, M, "voltage_calibration", "-1", err, sizeof(err)) == 0);
        assert(apply(&s, &o, 1, 0xFCC0, example1_frame, sizeof(example1_frame), NULL) == 0);
        assert(strcmp(published(&s, "energy", NULL), "0.704") == 0);
        assert(strcmp(published(&s, "consumption", NULL), "0.7035715579986572") == 0);
        assert(strcmp(published(&s, "voltage", NULL), "233.64") == 0);
}

static void test_bad_options_are_refused_with_a_reason(void) {
        static const struct { const char *key, *value, *message; int error; } cases[] = {
                { "power_precision", "4", "option 'power_precision' must be between 0 and 3, got 4", -ERANGE },
                { "power_precision", "1.5", "option 'power_precision' expects an integer 0..3, got 1.5", -EINVAL },
                { "energy_calibration", "abc", "option 'energy_calibration' expects a number, got \"abc\"", -EINVAL },
                { "linkquality_precision", "1", "unknown option 'linkquality_precision' for ZNCZ04LM", -ENOENT },
                { "overload_protection_calibration", "1", "unknown option 'overload_protection_calibration' for ZNCZ04LM", -ENOENT },
                { "state_action", "yes", "option 'state_action' expects true or false, got \"yes\"", -EINVAL },
                { "frobnicate", "1", "unknown option 'frobnicate' for ZNCZ04LM", -ENOENT },
        };
        PlugOptions o = {};
        char err[160];

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                err[0] = 0;
                assert(plug_options_set_string(&o, M, cases[k].key, cases[k].value, err, sizeof(err)) == cases[k].error);
                if (strcmp(err, cases[k].message) != 0) {
                        fprintf(stderr, "got '%s'\n", err);
                        assert(false);
                }
        }
        assert(plug_options_set_string(&o, M, "state_action", "true", err, sizeof(err)) == 0 && o.state_action);
}

static void test_state_action_adds_an_action_for_on_off_reports_only(void) {
        static const uint8_t on[] = { 0x18, 0x01, 0x0A, 0x00, 0x00, 0x10, 0x01 };
        PlugOptions o = { .state_action = true };
        PlugState s = {};
        PlugUpdate u;

        assert(apply(&s, &o, 1, 0x0006, on, sizeof(on), &u) == 0);
        assert(u.action && strcmp(u.action, "on") == 0);
        assert(strcmp(published(&s, "action", &u), "\"on\"") == 0);
        assert(strcmp(published(&s, "action", NULL), "") == 0);
        assert(apply(&s, &o, 1, 0xFCC0, example1_frame, sizeof(example1_frame), &u) == 0);
        assert(u.action == NULL);
}

static void test_fill_nulls_lists_every_exposed_key(void) {
        PlugState s = {};
        json_object *obj = plug_state_to_json(&s, M, true, NULL);

        assert(obj);
        assert(strcmp(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN),
                      "{\"state\":null,\"power\":null,\"energy\":null,\"device_temperature\":null,\"voltage\":null,"
                      "\"current\":null,\"consumer_connected\":null,\"led_disabled_night\":null,"
                      "\"power_outage_memory\":null,\"auto_off\":null,\"overload_protection\":null,\"linkquality\":null,"
                      "\"update\":{\"state\":null,\"installed_version\":-1,\"latest_version\":-1}}") == 0);
        json_object_put(obj);
}

static void test_state_survives_a_json_roundtrip(void) {
        PlugState s = {}, t = {};
        json_object *obj;

        assert(apply(&s, NULL, 1, 0xFCC0, example1_frame, sizeof(example1_frame), NULL) == 0);
        s.value[row("auto_off")] = 1;
        s.known[row("auto_off")] = true;
        obj = plug_state_to_json(&s, M, false, NULL);
        assert(plug_state_from_json(&t, M, obj) == 0);
        json_object_put(obj);
        assert(strcmp(state_text(&t), state_text(&s)) == 0);
        assert(plug_state_from_json(&t, M, NULL) == -EINVAL);
}

static void test_numbers_print_as_javascript_does(void) {
        static const struct { double v; const char *s; } cases[] = {
                { 0, "0" }, { -0.0, "0" }, { 236, "236" }, { 0.7, "0.7" }, { 112.7, "112.7" },
                { 0.1 + 0.2, "0.30000000000000004" }, { 1e-7, "1e-7" }, { 0.000001, "0.000001" },
                { 123456789012345680000.0, "123456789012345680000" }, { 1e21, "1e+21" }, { -0.5, "-0.5" },
                { 2360.0 * 0.1, "236" }, { 1.5e300, "1.5e+300" },
        };
        char buf[64];

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                assert(plug_format_number(cases[k].v, buf, sizeof(buf)) > 0);
                if (strcmp(buf, cases[k].s) != 0) {
                        fprintf(stderr, "%.17g: got %s want %s\n", cases[k].v, buf, cases[k].s);
                        assert(false);
                }
        }
        assert(plug_format_number(NAN, buf, sizeof(buf)) == -EDOM);
        assert(plug_format_number(236, buf, 3) == -ENOBUFS);
        assert(plug_round(2.675, 2) == 2.68 || plug_round(2.675, 2) == 2.67);    /* binary value decides */
        assert(plug_round(0.5, 0) == 1 && plug_round(-0.5, 0) == 0 && plug_round(-1.5, 0) == -1);
        assert(plug_round(0.49999999999999994, 0) == 0);
}

/* set: the frames of zncz04lm.md section 5 */
typedef struct SetCase {
        const char *key;        /* NULL: payload is the whole object */
        const char *payload;
        uint8_t frame[16];
        size_t len;
        double requested;
} SetCase;

static const SetCase set_cases[] = {
        { NULL, "{\"state\": \"ON\"}", { 0x01, 0x42, 0x01 }, 3, 1 },
        { NULL, "{\"state\": \"off\"}", { 0x01, 0x42, 0x00 }, 3, 0 },
        { NULL, "{\"state\": \"Toggle\"}", { 0x01, 0x42, 0x02 }, 3, 0 },
        { NULL, "ON", { 0x01, 0x42, 0x01 }, 3, 1 },
        { NULL, " toggle", { 0 }, 0, 0 },       /* not JSON and not exactly a state word */
        { "state", "OFF", { 0x01, 0x42, 0x00 }, 3, 0 },
        { "state", "\"on\"", { 0x01, 0x42, 0x01 }, 3, 1 },
        { NULL, "{\"power_outage_memory\": true}", { 0x14, 0x5F, 0x11, 0x42, 0x02, 0x01, 0x02, 0x10, 0x01 }, 9, 1 },
        { NULL, "{\"auto_off\": false}", { 0x14, 0x5F, 0x11, 0x42, 0x02, 0x02, 0x02, 0x10, 0x00 }, 9, 0 },
        { "led_disabled_night", "true", { 0x14, 0x5F, 0x11, 0x42, 0x02, 0x03, 0x02, 0x10, 0x01 }, 9, 1 },
        { NULL, "{\"overload_protection\": 2300}", { 0x14, 0x5F, 0x11, 0x42, 0x02, 0x0B, 0x02, 0x39, 0x00, 0xC0, 0x0F, 0x45 }, 12, 2300 },
        { "overload_protection", " 100 ", { 0x14, 0x5F, 0x11, 0x42, 0x02, 0x0B, 0x02, 0x39, 0x00, 0x00, 0xC8, 0x42 }, 12, 100 },
};

static void test_set_builds_the_frames_zigbee2mqtt_sends(void) {
        PlugState cur = {};

        cur.known[row("state")] = true;
        cur.value[row("state")] = 1;            /* TOGGLE from ON leads to OFF */
        for (size_t k = 0; k < ELEMENTSOF(set_cases); k++) {
                const SetCase *c = &set_cases[k];
                PlugRequest req;
                uint8_t buf[32];
                int r, n;

                r = plug_parse_set(M, c->key, c->payload, strlen(c->payload), &cur, NULL, 0, &req);
                if (c->len == 0) {
                        assert(r == -EINVAL && req.n_actions == 0 && req.n_errors == 1);
                        assert(strcmp(req.errors[0].message, "payload is not valid JSON") == 0);
                        continue;
                }
                assert(r == 0 && req.n_errors == 0 && req.n_actions == 1);
                n = plug_action_build_frame(&req.actions[0], 0x42, buf, sizeof(buf));
                assert(n == (int) c->len && memcmp(buf, c->frame, c->len) == 0);
                assert(req.actions[0].endpoint == 1);
                assert(req.actions[0].requested_known && req.actions[0].requested == c->requested);
        }
}

static void test_toggle_of_unknown_state_has_no_expected_value(void) {
        PlugRequest req;

        assert(plug_parse_set(M, NULL, "{\"state\":\"TOGGLE\"}", 18, NULL, NULL, 0, &req) == 0);
        assert(req.n_actions == 1 && !req.actions[0].requested_known && req.actions[0].want_default_rsp);
}

static void test_several_keys_apply_and_bad_ones_are_reported(void) {
        static const char payload[] =
                "{\"state\":\"ON\",\"power\":5,\"led_disabled_night\":\"yes\",\"overload_protection\":50,"
                "\"colour\":1,\"auto_off\":true,\"overload_protection_x\":null,\"state_x\":1}";
        static const struct { const char *key, *message; int error; } want[] = {
                { "power", "property 'power' is read-only", -EACCES },
                { "led_disabled_night", "property 'led_disabled_night' expects true or false, got \"yes\"", -EINVAL },
                { "overload_protection", "property 'overload_protection' must be between 100 and 2300, got 50", -ERANGE },
                { "colour", "unknown property 'colour' for ZNCZ04LM", -ENOENT },
                { "overload_protection_x", "unknown property 'overload_protection_x' for ZNCZ04LM", -ENOENT },
                { "state_x", "unknown property 'state_x' for ZNCZ04LM", -ENOENT },
        };
        PlugRequest req;

        assert(plug_parse_set(M, NULL, payload, strlen(payload), NULL, NULL, 0, &req) == 0);
        assert(req.n_actions == 2);
        assert(strcmp(req.actions[0].property->name, "state") == 0);
        assert(strcmp(req.actions[1].property->name, "auto_off") == 0);
        assert(req.n_errors == ELEMENTSOF(want));
        for (size_t k = 0; k < ELEMENTSOF(want); k++) {
                assert(strcmp(req.errors[k].key, want[k].key) == 0);
                assert(req.errors[k].error == want[k].error);
                if (strcmp(req.errors[k].message, want[k].message) != 0) {
                        fprintf(stderr, "got '%s'\n", req.errors[k].message);
                        assert(false);
                }
        }
}

static void test_every_set_error_text(void) {
        static const struct { const char *key, *payload, *message; } cases[] = {
                { NULL, "{\"state\": 1}", "property 'state' expects ON, OFF or TOGGLE, got 1" },
                { NULL, "{\"state\": \"open\"}", "property 'state' expects ON, OFF or TOGGLE, got \"open\"" },
                { NULL, "{\"auto_off\": 1}", "property 'auto_off' expects true or false, got 1" },
                { NULL, "{\"power_outage_memory\": \"false\"}", "property 'power_outage_memory' expects true or false, got \"false\"" },
                { NULL, "{\"overload_protection\": \"1500\"}", "property 'overload_protection' expects a number, got \"1500\"" },
                { NULL, "{\"overload_protection\": 2300.5}", "property 'overload_protection' must be between 100 and 2300, got 2300.5" },
                { NULL, "{\"overload_protection\": null}", "property 'overload_protection' expects a number, got null" },
                { NULL, "{\"energy\": 1}", "property 'energy' is read-only" },
                { NULL, "{\"consumption\": 1}", "property 'consumption' is read-only" },
                { NULL, "{\"linkquality\": 1}", "property 'linkquality' is read-only" },
                { "overload_protection", "abc", "property 'overload_protection' expects a number, got \"abc\"" },
                { "auto_off", "", "property 'auto_off' expects true or false, got \"\"" },
                { "nope", "1", "unknown property 'nope' for ZNCZ04LM" },
        };

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                PlugRequest req;
                const char *p = cases[k].payload;

                assert(plug_parse_set(M, cases[k].key, p, strlen(p), NULL, NULL, 0, &req) == 0);
                assert(req.n_actions == 0 && req.n_errors == 1);
                if (strcmp(req.errors[0].message, cases[k].message) != 0) {
                        fprintf(stderr, "case %zu: got '%s'\n", k, req.errors[0].message);
                        assert(false);
                }
        }
}

static void test_unusable_payloads_are_refused_as_a_whole(void) {
        static const struct { const char *payload; const char *message; } cases[] = {
                { "{\"state\":", "payload is not valid JSON" },
                { "{'state':'ON'}", "payload is not valid JSON" },
                { "[1,2]", "payload must be a JSON object, got [1,2]" },
                { "5", "payload must be a JSON object, got 5" },
                { "null", "payload must be a JSON object, got null" },
                { "{\"state\":\"ON\"} x", "payload is not valid JSON" },
                { "", "payload is not valid JSON" },
        };
        char big[1024];
        size_t o = 0;
        PlugRequest req;

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                assert(plug_parse_set(M, NULL, cases[k].payload, strlen(cases[k].payload), NULL, NULL, 0, &req) == -EINVAL);
                assert(req.n_actions == 0 && req.n_errors == 1);
                if (strcmp(req.errors[0].message, cases[k].message) != 0) {
                        fprintf(stderr, "case %zu: got '%s'\n", k, req.errors[0].message);
                        assert(false);
                }
        }
        /* an embedded NUL is not text */
        assert(plug_parse_set(M, NULL, "{\"state\":\"ON\"}\0", 15, NULL, NULL, 0, &req) == -EINVAL);

        o += (size_t) snprintf(big + o, sizeof(big) - o, "{");
        for (int i = 0; i < PLUG_REQUEST_MAX + 1; i++)
                o += (size_t) snprintf(big + o, sizeof(big) - o, "%s\"k%d\":1", i ? "," : "", i);
        snprintf(big + o, sizeof(big) - o, "}");
        assert(plug_parse_set(M, NULL, big, strlen(big), NULL, NULL, 0, &req) == -EINVAL);
        assert(strcmp(req.errors[0].message, "too many properties in one request (at most 16)") == 0);
}

static void test_get_reads_from_the_right_endpoint(void) {
        static const uint16_t ep1[] = { 0x0000, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0xFCC0 };
        static const uint16_t ep21[] = { 0x000C };
        static const uint16_t ep31[] = { 0x000C };
        const PlugEndpoint eps[] = { { 1, ep1, ELEMENTSOF(ep1) }, { 21, ep21, 1 }, { 31, ep31, 1 }, { 242, NULL, 0 } };
        static const struct { const char *payload; uint8_t endpoint; uint8_t frame[8]; size_t len; } cases[] = {
                { "{\"state\": \"\"}", 1, { 0x10, 0x07, 0x00, 0x00, 0x00 }, 5 },
                { "{\"power\": \"\"}", 21, { 0x10, 0x07, 0x00, 0x55, 0x00 }, 5 },
                { "{\"power_outage_memory\": \"\"}", 1, { 0x14, 0x5F, 0x11, 0x07, 0x00, 0x01, 0x02 }, 7 },
                { "{\"overload_protection\": \"\"}", 1, { 0x14, 0x5F, 0x11, 0x07, 0x00, 0x0B, 0x02 }, 7 },
                { "{\"led_disabled_night\": \"\"}", 1, { 0x14, 0x5F, 0x11, 0x07, 0x00, 0x03, 0x02 }, 7 },
                { "{\"auto_off\": \"\"}", 1, { 0x14, 0x5F, 0x11, 0x07, 0x00, 0x02, 0x02 }, 7 },
        };
        PlugRequest req;
        uint8_t buf[16];

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                assert(plug_parse_get(M, NULL, cases[k].payload, strlen(cases[k].payload), eps, ELEMENTSOF(eps), &req) == 0);
                assert(req.n_errors == 0 && req.n_actions == 1);
                assert(req.actions[0].kind == PLUG_ACTION_READ && req.actions[0].endpoint == cases[k].endpoint);
                assert(plug_action_build_frame(&req.actions[0], 7, buf, sizeof(buf)) == (int) cases[k].len);
                assert(memcmp(buf, cases[k].frame, cases[k].len) == 0);
        }
        /* without 0x000C anywhere, power is read on endpoint 1 */
        assert(plug_parse_get(M, "power", "", 0, eps, 1, &req) == 0 && req.n_actions == 1 && req.actions[0].endpoint == 1);
        assert(plug_parse_get(M, NULL, "on", 2, NULL, 0, &req) == 0 && req.n_actions == 1 && req.actions[0].cluster == 0x0006);
}

static void test_every_get_error_text(void) {
        static const char *unreadable[] = { "energy", "device_temperature", "voltage", "current", "consumer_connected",
                                            "linkquality", "consumption", "power_outage_count" };
        PlugRequest req;
        char payload[64], message[96];

        for (size_t k = 0; k < ELEMENTSOF(unreadable); k++) {
                snprintf(payload, sizeof(payload), "{\"%s\": \"\"}", unreadable[k]);
                snprintf(message, sizeof(message), "property '%s' cannot be read (get)", unreadable[k]);
                assert(plug_parse_get(M, NULL, payload, strlen(payload), NULL, 0, &req) == 0);
                assert(req.n_actions == 0 && req.n_errors == 1 && req.errors[0].error == -EACCES);
                assert(strcmp(req.errors[0].message, message) == 0);
        }
        assert(plug_parse_get(M, NULL, "{\"state\":\"\",\"bogus\":\"\"}", 23, NULL, 0, &req) == 0);
        assert(req.n_actions == 1 && req.n_errors == 1);
        assert(strcmp(req.errors[0].message, "unknown property 'bogus' for ZNCZ04LM") == 0);
        assert(plug_parse_get(M, NULL, "power", 5, NULL, 0, &req) == -EINVAL);
        assert(strcmp(req.errors[0].message, "payload is not valid JSON") == 0);
}

static void test_confirmed_write_becomes_state(void) {
        PlugRequest req;
        PlugState s = {};

        assert(plug_parse_set(M, NULL, "{\"overload_protection\": 1500.555, \"auto_off\": true}", 51, NULL, NULL, 0, &req) == 0);
        assert(req.n_actions == 2);
        assert(plug_state_apply_confirmed(&s, M, &req.actions[0]) == 0);
        assert(plug_state_apply_confirmed(&s, M, &req.actions[1]) == 0);
        assert(strcmp(published(&s, "overload_protection", NULL), "1500.56") == 0);
        assert(strcmp(published(&s, "auto_off", NULL), "true") == 0);
}

static void test_answers_to_actions_are_judged(void) {
        static const struct { const char *payload; bool get; uint8_t frame[16]; size_t len; int r; uint8_t status; } cases[] = {
                /* the plug's Default Response to "on": 18 tt 0B 01 00 */
                { "{\"state\":\"ON\"}", false, { 0x18, 0x42, 0x0B, 0x01, 0x00 }, 5, 0, 0x00 },
                { "{\"state\":\"ON\"}", false, { 0x18, 0x42, 0x0B, 0x00, 0x00 }, 5, -ENOMSG, 0 },   /* answers "off" */
                { "{\"state\":\"OFF\"}", false, { 0x18, 0x42, 0x0B, 0x00, 0x81 }, 5, 0, 0x81 },
                { "{\"auto_off\":true}", false, { 0x1C, 0x5F, 0x11, 0x42, 0x04, 0x00 }, 6, 0, 0x00 },
                { "{\"auto_off\":true}", false, { 0x1C, 0x5F, 0x11, 0x42, 0x04, 0x88, 0x02, 0x02 }, 8, 0, 0x88 },
                { "{\"auto_off\":true}", false, { 0x1C, 0x5F, 0x11, 0x42, 0x04, 0x88, 0x03, 0x02 }, 8, 0, 0x00 },
                { "{\"auto_off\":true}", false, { 0x18, 0x42, 0x0B, 0x02, 0x84 }, 5, 0, 0x84 },
                { "{\"auto_off\":true}", false, { 0x1C, 0x5F, 0x11, 0x42, 0x04, 0x88, 0x02 }, 7, -EBADMSG, 0 },
                { "{\"overload_protection\":\"\"}", true,
                  { 0x1C, 0x5F, 0x11, 0x42, 0x01, 0x0B, 0x02, 0x00, 0x39, 0x00, 0xC0, 0x0F, 0x45 }, 13, 0, 0x00 },
                { "{\"overload_protection\":\"\"}", true, { 0x1C, 0x5F, 0x11, 0x42, 0x01, 0x0B, 0x02, 0x86 }, 8, 0, 0x86 },
                { "{\"overload_protection\":\"\"}", true, { 0x1C, 0x5F, 0x11, 0x42, 0x01, 0x01, 0x02, 0x86 }, 8, -ENOMSG, 0 },
                { "{\"overload_protection\":\"\"}", true, { 0x1C, 0x5F, 0x11, 0x42, 0x0A, 0x0B, 0x02, 0x39, 0, 0, 0, 0 }, 12, -ENOMSG, 0 },
                { "{\"state\":\"\"}", true, { 0x18, 0x42 }, 2, -EBADMSG, 0 },
        };

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                PlugRequest req;
                uint8_t status = 0xEE;
                const char *p = cases[k].payload;

                if (cases[k].get)
                        assert(plug_parse_get(M, NULL, p, strlen(p), NULL, 0, &req) == 0);
                else
                        assert(plug_parse_set(M, NULL, p, strlen(p), NULL, NULL, 0, &req) == 0);
                assert(req.n_actions == 1);
                assert(plug_action_response_status(&req.actions[0], cases[k].frame, cases[k].len, &status) == cases[k].r);
                if (cases[k].r == 0)
                        assert(status == cases[k].status);
        }
}

static void test_random_requests_are_safe(void) {
        static const char alphabet[] = "{}[]\":,. 0123456789truefalsnON\\statepowroload_ction";
        uint32_t seed = 4242;
        char b[64];

        for (int round = 0; round < 20000; round++) {
                size_t len = seed % sizeof(b);
                PlugRequest req;
                uint8_t frame[32];

                for (size_t i = 0; i < len; i++) {
                        seed = seed * 1664525u + 1013904223u;
                        b[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
                }
                seed = seed * 1664525u + 1013904223u;
                (void) plug_parse_set(M, (seed & 1) ? NULL : "overload_protection", b, len, NULL, NULL, 0, &req);
                for (size_t k = 0; k < req.n_actions; k++)
                        assert(plug_action_build_frame(&req.actions[k], 1, frame, sizeof(frame)) > 0);
                (void) plug_parse_get(M, NULL, b, len, NULL, 0, &req);
        }
}

static void test_random_frames_are_safe(void) {
        static const uint16_t clusters[] = { 0x0000, 0x0006, 0x000C, 0xFCC0 };
        uint32_t seed = 99;
        uint8_t b[96];
        PlugState s = {};
        PlugOptions o = { .state_action = true };

        for (int round = 0; round < 20000; round++) {
                size_t len = seed % sizeof(b);
                PlugUpdate u;
                for (size_t i = 0; i < len; i++) {
                        seed = seed * 1664525u + 1013904223u;
                        b[i] = (uint8_t) (seed >> 24);
                }
                if (len > 4 && (seed & 1)) {
                        b[0] = (seed & 2) ? 0x18 : 0x1C;
                        b[(seed & 2) ? 2 : 4] = (seed & 4) ? 0x0A : 0x01;
                }
                seed = seed * 1664525u + 1013904223u;
                (void) apply(&s, &o, 1, clusters[seed % 4], b, len, &u);
                json_object_put(plug_state_to_json(&s, M, true, &u));
        }
}

static const char *get_text(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return "";
        return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void test_exposes_and_options_as_zigbee2mqtt_lists_them(void) {
        static const char *option_names[] = {
                "power_calibration", "power_precision", "energy_calibration", "energy_precision",
                "device_temperature_calibration", "voltage_calibration", "voltage_precision",
                "current_calibration", "current_precision", "state_action",
        };
        json_object *ex = plug_model_exposes_json(M), *op = plug_model_options_json(M), *e;

        assert(ex && json_object_array_length(ex) == 12);
        e = json_object_array_get_idx(ex, 0);
        assert(strcmp(get_text(e, "type"), "\"switch\"") == 0);
        assert(strcmp(json_object_to_json_string_ext(json_object_array_get_idx(json_object_object_get(e, "features"), 0),
                                                     JSON_C_TO_STRING_PLAIN),
                      "{\"type\":\"binary\",\"name\":\"state\",\"label\":\"State\",\"access\":7,\"property\":\"state\","
                      "\"description\":\"On\\/off state of the switch\",\"value_on\":\"ON\",\"value_off\":\"OFF\","
                      "\"value_toggle\":\"TOGGLE\"}") == 0);
        e = json_object_array_get_idx(ex, 1);
        assert(strcmp(get_text(e, "access"), "5") == 0 && strcmp(get_text(e, "unit"), "\"W\"") == 0);
        e = json_object_array_get_idx(ex, 6);
        assert(strcmp(get_text(e, "name"), "\"consumer_connected\"") == 0);
        assert(strcmp(get_text(e, "category"), "\"diagnostic\"") == 0 && strcmp(get_text(e, "value_on"), "true") == 0);
        e = json_object_array_get_idx(ex, 10);
        assert(strcmp(get_text(e, "value_min"), "100") == 0 && strcmp(get_text(e, "value_max"), "2300") == 0);
        assert(strcmp(get_text(e, "category"), "\"config\"") == 0);
        e = json_object_array_get_idx(ex, 11);
        assert(strcmp(get_text(e, "name"), "\"linkquality\"") == 0 && strcmp(get_text(e, "unit"), "\"lqi\"") == 0);

        assert(op && json_object_array_length(op) == ELEMENTSOF(option_names));
        for (size_t k = 0; k < ELEMENTSOF(option_names); k++) {
                char want[64];
                snprintf(want, sizeof(want), "\"%s\"", option_names[k]);
                assert(strcmp(get_text(json_object_array_get_idx(op, k), "name"), want) == 0);
        }
        e = json_object_array_get_idx(op, 0);
        assert(strcmp(get_text(e, "label"), "\"Power calibration\"") == 0 && strcmp(get_text(e, "value_step"), "0.1") == 0);
        assert(strcmp(get_text(e, "description"),
                      "\"Calibrates the power value (percentual offset), takes into effect on next report of device.\"") == 0);
        e = json_object_array_get_idx(op, 4);
        assert(strstr(get_text(e, "description"), "(absolute offset)"));
        json_object_put(ex);
        json_object_put(op);
}

int main(void) {
        M = &plug_model_zncz04lm;
        test_registry_knows_the_plug();
        test_table_invariants();
        test_every_property_from_zigbee_to_json();
        test_example_1_and_2_reports_publish_what_zigbee2mqtt_publishes();
        test_truncated_blob_changes_nothing();
        test_malformed_frames_are_rejected_without_effect();
        test_options_calibrate_and_round_like_zigbee2mqtt();
        test_bad_options_are_refused_with_a_reason();
        test_state_action_adds_an_action_for_on_off_reports_only();
        test_fill_nulls_lists_every_exposed_key();
        test_state_survives_a_json_roundtrip();
        test_numbers_print_as_javascript_does();
        test_set_builds_the_frames_zigbee2mqtt_sends();
        test_toggle_of_unknown_state_has_no_expected_value();
        test_several_keys_apply_and_bad_ones_are_reported();
        test_every_set_error_text();
        test_unusable_payloads_are_refused_as_a_whole();
        test_get_reads_from_the_right_endpoint();
        test_every_get_error_text();
        test_confirmed_write_becomes_state();
        test_exposes_and_options_as_zigbee2mqtt_lists_them();
        test_answers_to_actions_are_judged();
        test_random_requests_are_safe();
        test_random_frames_are_safe();
        return 0;
}
