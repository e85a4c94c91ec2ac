/*
 * Discovery generator: exact payloads of ha-discovery.md C.2, naming rules, serialisation.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "devices/plug.h"
#include "ha-discovery.h"

static const DiscConfig cfg = {
        .base_topic = "zigbee2mqtt", .discovery_prefix = "homeassistant",
        .bridge_ieee = "0x00124b00120144ae", .coordinator_type = "z-Stack", .coordinator_revision = "20190425",
        .version = "2.12.1", .origin_url = "https://example.org/lumiplugd",
};

static const char *payload_of(const DiscMessages *m, const char *topic) {
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->items[i].topic, topic) == 0)
                        return m->items[i].payload;
        return NULL;
}

#define DEVICE "\"device\":{\"hw_version\":1,\"identifiers\":[\"zigbee2mqtt_0x00158d0001a2b3c4\"]," \
        "\"manufacturer\":\"Xiaomi\",\"model\":\"Mi smart plug EU\",\"model_id\":\"ZNCZ04LM\",\"name\":\"plug1\"," \
        "\"sw_version\":\"09-06-2019\",\"via_device\":\"zigbee2mqtt_bridge_0x00124b00120144ae\"}"
#define ORIGIN "\"origin\":{\"name\":\"lumiplugd\",\"sw\":\"2.12.1\",\"url\":\"https://example.org/lumiplugd\"}"
#define AVAIL "\"availability\":[{\"topic\":\"zigbee2mqtt/bridge/state\",\"value_template\":\"{{ value_json.state }}\"}]"

static void test_switch_and_energy_payloads_are_exactly_zigbee2mqtts(void) {
        DiscDevice dev = { .ieee = "0x00158d0001a2b3c4", .friendly_name = "plug1", .sw_version = "09-06-2019", .hw_version = 1 };
        DiscMessages m = {};
        const char *p;

        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &m) == 0);
        assert(m.n == 13);

        p = payload_of(&m, "homeassistant/switch/0x00158d0001a2b3c4/switch/config");
        assert(p);
        assert(strcmp(p, "{" AVAIL ",\"command_topic\":\"zigbee2mqtt/plug1/set\",\"default_entity_id\":\"switch.plug1\","
                      DEVICE ",\"name\":null,\"object_id\":\"plug1\"," ORIGIN ",\"payload_off\":\"OFF\",\"payload_on\":\"ON\","
                      "\"state_topic\":\"zigbee2mqtt/plug1\",\"unique_id\":\"0x00158d0001a2b3c4_switch_zigbee2mqtt\","
                      "\"value_template\":\"{{ value_json[\\\"state\\\"] }}\"}") == 0);

        p = payload_of(&m, "homeassistant/sensor/0x00158d0001a2b3c4/energy/config");
        assert(p);
        assert(strcmp(p, "{" AVAIL ",\"default_entity_id\":\"sensor.plug1_energy\"," DEVICE ",\"device_class\":\"energy\","
                      "\"enabled_by_default\":true,\"object_id\":\"plug1_energy\"," ORIGIN ",\"state_class\":\"total_increasing\","
                      "\"state_topic\":\"zigbee2mqtt/plug1\",\"unique_id\":\"0x00158d0001a2b3c4_energy_zigbee2mqtt\","
                      "\"unit_of_measurement\":\"kWh\",\"value_template\":\"{{ value_json[\\\"energy\\\"] }}\"}") == 0);

        /* Zigbee2MQTT's order: exposes, linkquality, update */
        assert(strstr(m.items[0].topic, "/switch/config"));
        assert(strstr(m.items[11].topic, "/linkquality/config"));
        assert(strstr(m.items[12].topic, "homeassistant/update/0x00158d0001a2b3c4/update/config"));
        disc_messages_done(&m);
        assert(m.n == 0 && m.items == NULL);
}

static void test_unknown_versions_are_omitted_and_defaults_name_us(void) {
        DiscConfig c = cfg;
        DiscDevice dev = { .ieee = "0x00158d0001a2b3c4", .friendly_name = "plug1", .hw_version = -1 };
        DiscMessages m = {};
        char origin[256];

        c.version = NULL;
        c.origin_url = NULL;
        assert(disc_device_messages(&c, &plug_model_zncz04lm, &dev, &m) == 0);
        snprintf(origin, sizeof(origin), "\"origin\":{\"name\":\"lumiplugd\",\"sw\":\"%s\",\"url\":\"%s\"}",
                 PACKAGE_VERSION, PACKAGE_URL);
        for (size_t i = 0; i < m.n; i++) {
                assert(strstr(m.items[i].payload, origin));
                assert(!strstr(m.items[i].payload, "sw_version"));
                assert(!strstr(m.items[i].payload, "hw_version"));
        }
        disc_messages_done(&m);
}

/* Issue 12: energy_device is discovered only when enabled, diagnostic, with a unique_id that no
 * Zigbee2MQTT entity can have; removal of the extras clears exactly them. */
static void test_extra_entities_only_when_enabled(void) {
        DiscDevice dev = { .ieee = "0x00158d0001a2b3c4", .friendly_name = "plug1", .hw_version = -1 };
        DiscMessages plain = {}, extra = {}, clear = {};
        size_t row;
        const char *p;

        assert(plug_model_property(&plug_model_zncz04lm, "energy_device", &row));
        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &plain) == 0);
        assert(!payload_of(&plain, "homeassistant/sensor/0x00158d0001a2b3c4/energy_device/config"));
        dev.extras = UINT32_C(1) << row;
        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &extra) == 0);
        assert(extra.n == plain.n + 1);
        p = payload_of(&extra, "homeassistant/sensor/0x00158d0001a2b3c4/energy_device/config");
        assert(p);
        assert(strstr(p, "\"unique_id\":\"0x00158d0001a2b3c4_energy_device_zigbee2mqtt_lumiplugd\""));
        assert(strstr(p, "\"entity_category\":\"diagnostic\""));
        assert(strstr(p, "\"device_class\":\"energy\"") && strstr(p, "\"state_class\":\"total_increasing\""));
        assert(strstr(p, "\"unit_of_measurement\":\"kWh\""));
        assert(strstr(p, "\"value_template\":\"{{ value_json[\\\"energy_device\\\"] }}\""));
        /* Zigbee2MQTT's own entities are untouched */
        for (size_t i = 0; i < plain.n; i++)
                assert(strcmp(payload_of(&extra, plain.items[i].topic), plain.items[i].payload) == 0);
        assert(disc_device_clear_extra_messages(&cfg, &plug_model_zncz04lm, dev.ieee, dev.extras, &clear) == 0);
        assert(clear.n == 1 && strcmp(clear.items[0].topic, "homeassistant/sensor/0x00158d0001a2b3c4/energy_device/config") == 0);
        assert(strcmp(clear.items[0].payload, "") == 0);
        disc_messages_done(&plain);
        disc_messages_done(&extra);
        disc_messages_done(&clear);
}

static void test_object_ids_follow_the_friendly_name(void) {
        DiscDevice dev = { .ieee = "0x00158d0001a2b3c4", .friendly_name = "Kitchen  Plug\tA", .hw_version = -1,
                           .availability = true, .disabled = true };
        DiscMessages m = {};
        const char *p;

        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &m) == 0);
        p = payload_of(&m, "homeassistant/switch/0x00158d0001a2b3c4/switch_auto_off/config");
        assert(p);
        assert(strstr(p, "\"object_id\":\"kitchen_plug_a_auto_off\""));
        assert(strstr(p, "\"default_entity_id\":\"switch.kitchen_plug_a_auto_off\""));
        assert(strstr(p, "\"unique_id\":\"0x00158d0001a2b3c4_switch_auto_off_zigbee2mqtt\""));
        assert(strstr(p, "\"command_topic\":\"zigbee2mqtt/Kitchen  Plug\\tA/set/auto_off\""));
        assert(strstr(p, "\"availability_mode\":\"all\""));
        assert(strstr(p, "{\"topic\":\"zigbee2mqtt/Kitchen  Plug\\tA/availability\",\"value_template\":\"{{ \\\"offline\\\" }}\"}"));
        p = payload_of(&m, "homeassistant/update/0x00158d0001a2b3c4/update/config");
        assert(p && strstr(p, "\"object_id\":\"kitchen_plug_a\""));
        disc_messages_done(&m);
}

static void test_removal_clears_every_topic(void) {
        DiscDevice dev = { .ieee = "0x00158d0001a2b3c4", .friendly_name = "plug1", .hw_version = -1 };
        DiscMessages m = {}, c = {};

        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &m) == 0);
        assert(disc_device_clear_messages(&cfg, &plug_model_zncz04lm, dev.ieee, &c) == 0);
        assert(m.n == c.n);
        for (size_t i = 0; i < c.n; i++) {
                assert(strcmp(m.items[i].topic, c.items[i].topic) == 0);
                assert(strcmp(c.items[i].payload, "") == 0);
        }
        disc_messages_done(&m);
        disc_messages_done(&c);
        assert(disc_bridge_clear_messages(&cfg, DISC_BRIDGE_ALL, &c) == 0 && c.n == 8);
        disc_messages_done(&c);
}

static void test_bridge_entities(void) {
        DiscMessages m = {};
        const char *p;

        assert(disc_bridge_messages(&cfg, DISC_BRIDGE_CONNECTION_STATE | DISC_BRIDGE_PERMIT_JOIN, &m) == 0);
        assert(m.n == 2);
        p = payload_of(&m, "homeassistant/binary_sensor/1221051039810110150109113116116_0x00124b00120144ae/connection_state/config");
        assert(p && !strstr(p, "availability"));
        assert(strstr(p, "\"unique_id\":\"bridge_0x00124b00120144ae_connection_state_zigbee2mqtt\""));
        assert(strstr(p, "\"object_id\":\"zigbee2mqtt_bridge_connection_state\""));
        assert(strstr(p, "\"hw_version\":\"z-Stack 20190425\""));
        p = payload_of(&m, "homeassistant/switch/1221051039810110150109113116116_0x00124b00120144ae/permit_join/config");
        assert(p && strstr(p, "\"availability_mode\":\"all\"") && strstr(p, "\"payload_on\":\"{\\\"time\\\": 254}\""));
        disc_messages_done(&m);
}

static void test_bad_input_is_refused(void) {
        DiscDevice dev = { .ieee = "0x00158d0001a2b3c4", .friendly_name = "plug1", .hw_version = -1 };
        DiscMessages m = {};
        DiscConfig c = cfg;

        dev.friendly_name = "plug/+";
        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &m) == -EINVAL);
        dev.friendly_name = "";
        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &m) == -EINVAL);
        dev.friendly_name = "plug1";
        dev.ieee = "0x00158d/0001";
        assert(disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &m) == -EINVAL);
        c.base_topic = "z2m/#";
        assert(disc_bridge_messages(&c, DISC_BRIDGE_ALL, &m) == -EINVAL);
        assert(m.n == 0);
}

static void test_sorted_serialisation(void) {
        json_object *o = json_tokener_parse("{\"b\":[3,{\"z\":1,\"a\":null}],\"a\":\"x\\n\\u0001/\\u00e9\",\"c\":1.5,\"d\":false}");
        char *s;

        assert(o);
        s = disc_json_sorted(o);
        assert(s && strcmp(s, "{\"a\":\"x\\n\\u0001/\xc3\xa9\",\"b\":[3,{\"a\":null,\"z\":1}],\"c\":1.5,\"d\":false}") == 0);
        free(s);
        json_object_put(o);
}

static void test_base_topic_encoding(void) {
        char *s = disc_encode_base_topic("zigbee2mqtt");

        assert(s && strcmp(s, "1221051039810110150109113116116") == 0);
        free(s);
        s = disc_encode_base_topic("\xc3\xa9\xf0\x9f\x98\x80");     /* é U+1F600 -> 233 55357 56832 */
        assert(s && strcmp(s, "2335535756832") == 0);
        free(s);
        assert(disc_encode_base_topic("\xff") == NULL);
}

static void test_only_our_retained_configs_are_ours(void) {
        assert(disc_payload_is_ours(&cfg, "{\"availability\":[{\"topic\":\"zigbee2mqtt/bridge/state\"}]}"));
        assert(!disc_payload_is_ours(&cfg, "{\"availability\":[{\"topic\":\"zigbee2mqtt2/bridge/state\"}]}"));
        assert(!disc_payload_is_ours(&cfg, "{\"state_topic\":\"zigbee2mqtt/x\"}"));
        assert(!disc_payload_is_ours(&cfg, "not json"));
        assert(!disc_payload_is_ours(&cfg, ""));
}

int main(void) {
        test_switch_and_energy_payloads_are_exactly_zigbee2mqtts();
        test_unknown_versions_are_omitted_and_defaults_name_us();
        test_object_ids_follow_the_friendly_name();
        test_removal_clears_every_topic();
        test_extra_entities_only_when_enabled();
        test_bridge_entities();
        test_bad_input_is_refused();
        test_sorted_serialisation();
        test_base_topic_encoding();
        test_only_our_retained_configs_are_ours();
        return 0;
}
