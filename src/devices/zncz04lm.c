/*
 * Xiaomi ZNCZ04LM "Mi smart plug EU" (lumi.plug.mmeu01): the property table.
 *
 * Facts from zigbee-herdsman-converters 26.105.0 (the version zigbee2mqtt 2.14.1 pins):
 * src/devices/lumi.ts (exposes, converters), src/lib/lumi.ts (TLV tags, 0x02xx attributes),
 * src/lib/exposes.ts (labels, categories), src/lib/utils.ts (default precisions) and
 * zigbee2mqtt lib/extension/homeassistant.ts (discovery lookups). Rows are in Zigbee2MQTT's
 * expose order, then linkquality (added by Zigbee2MQTT), then the keys it publishes without an
 * expose: consumption (the deprecated copy of energy, still set in numericAttributes2Payload,
 * never rounded) and power_outage_count (TLV tag 5 minus one). Last, lumiplugd's own keys beyond
 * Zigbee2MQTT, never published unless enabled: energy_device (the plug's raw energy counter while
 * [device] energy_monotonic makes energy the total that survives counter resets).
 */
#include "devices/plug.h"
#include "util/macro.h"
#include "zigbee/zcl.h"

#define ALL (PROP_ACCESS_STATE | PROP_ACCESS_SET | PROP_ACCESS_GET)

static const PlugProperty zncz04lm_properties[] = {
        {
                .name = "state", .label = "State", .description = "On/off state of the switch",
                .access = ALL, .kind = PROP_KIND_SWITCH, .source = PROP_SOURCE_ATTRIBUTE,
                .endpoint = 1, .cluster = ZCL_CLUSTER_ON_OFF, .attribute = 0x0000,
                .zcl_type = ZCL_TYPE_BOOL, .tlv_tag = 0x64,
                .scale = 1, .precision = PROP_NO_ROUNDING,
                .ha = { .component = "switch", .object_id = "switch", .name_null = true,
                        .enabled_by_default = -1 },
        },
        {
                .name = "power", .label = "Power", .description = "Instantaneous measured power",
                .access = PROP_ACCESS_STATE | PROP_ACCESS_GET, .kind = PROP_KIND_NUMERIC,
                .source = PROP_SOURCE_ATTRIBUTE,
                .endpoint = PROP_ENDPOINT_FIRST_WITH_CLUSTER,
                .cluster = ZCL_CLUSTER_ANALOG_INPUT, .attribute = 0x0055,
                .zcl_type = ZCL_TYPE_SINGLE, .tlv_tag = 0x98,
                .scale = 1, .unit = "W", .precision = 2, .option = PROP_OPTION_PERCENT,
                .ha = { .component = "sensor", .object_id = "power", .device_class = "power",
                        .state_class = "measurement", .enabled_by_default = 1 },
        },
        {
                .name = "energy", .label = "Energy", .description = "Sum of consumed energy",
                .access = PROP_ACCESS_STATE, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_TLV,
                .zcl_type = ZCL_TYPE_SINGLE, .tlv_tag = 0x95,
                .scale = 1, .unit = "kWh", .precision = 2, .option = PROP_OPTION_PERCENT,
                .ha = { .component = "sensor", .object_id = "energy", .device_class = "energy",
                        .state_class = "total_increasing", .enabled_by_default = 1 },
        },
        {
                .name = "device_temperature", .label = "Device temperature",
                .description = "Temperature of the device", .category = "diagnostic",
                .access = PROP_ACCESS_STATE, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_TLV,
                .zcl_type = ZCL_TYPE_INT8, .tlv_tag = 0x03,
                .scale = 1, .unit = "°C", .precision = 0, .option = PROP_OPTION_ABSOLUTE,
                .ha = { .component = "sensor", .object_id = "device_temperature",
                        .device_class = "temperature", .state_class = "measurement",
                        .entity_category = "diagnostic", .enabled_by_default = 1 },
        },
        {
                .name = "voltage", .label = "Voltage", .description = "Measured electrical potential value",
                .access = PROP_ACCESS_STATE, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_TLV,
                .zcl_type = ZCL_TYPE_SINGLE, .tlv_tag = 0x96,
                .scale = 0.1, .unit = "V", .precision = 2, .option = PROP_OPTION_PERCENT,
                .ha = { .component = "sensor", .object_id = "voltage", .device_class = "voltage",
                        .state_class = "measurement", .enabled_by_default = 1 },
        },
        {
                .name = "current", .label = "Current", .description = "Instantaneous measured electrical current",
                .access = PROP_ACCESS_STATE, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_TLV,
                .zcl_type = ZCL_TYPE_SINGLE, .tlv_tag = 0x97,
                .scale = 0.001, .unit = "A", .precision = 2, .option = PROP_OPTION_PERCENT,
                .ha = { .component = "sensor", .object_id = "current", .device_class = "current",
                        .state_class = "measurement", .enabled_by_default = 1 },
        },
        {
                .name = "consumer_connected", .label = "Consumer connected",
                .description = "Indicates whether a plug is physically attached. Device does not have to pull power or even "
                               "be connected electrically (state of this binary switch can be ON even if main power switch is OFF)",
                .category = "diagnostic",
                .access = PROP_ACCESS_STATE, .kind = PROP_KIND_BINARY, .source = PROP_SOURCE_ATTRIBUTE,
                .endpoint = 1, .cluster = ZCL_CLUSTER_LUMI, .attribute = 0x0207,
                .manufacturer = ZCL_MANUFACTURER_LUMI, .zcl_type = ZCL_TYPE_BOOL, .tlv_tag = PROP_NO_TLV,
                .scale = 1, .precision = PROP_NO_ROUNDING,
                .ha = { .component = "binary_sensor", .object_id = "consumer_connected",
                        .device_class = "plug", .entity_category = "diagnostic",
                        .enabled_by_default = -1 },
        },
        {
                .name = "led_disabled_night", .label = "LED disabled night",
                .description = "Enable/disable the LED at night", .category = "config",
                .access = ALL, .kind = PROP_KIND_BINARY, .source = PROP_SOURCE_ATTRIBUTE,
                .endpoint = 1, .cluster = ZCL_CLUSTER_LUMI, .attribute = 0x0203,
                .manufacturer = ZCL_MANUFACTURER_LUMI, .zcl_type = ZCL_TYPE_BOOL, .tlv_tag = PROP_NO_TLV,
                .scale = 1, .precision = PROP_NO_ROUNDING,
                .ha = { .component = "switch", .object_id = "switch_led_disabled_night",
                        .name = "LED disabled night", .entity_category = "config", .icon = "mdi:led-off",
                        .enabled_by_default = -1 },
        },
        {
                .name = "power_outage_memory", .label = "Power outage memory",
                .description = "Enable/disable the power outage memory, this recovers the on/off mode after power failure",
                .category = "config",
                .access = ALL, .kind = PROP_KIND_BINARY, .source = PROP_SOURCE_ATTRIBUTE,
                .endpoint = 1, .cluster = ZCL_CLUSTER_LUMI, .attribute = 0x0201,
                .manufacturer = ZCL_MANUFACTURER_LUMI, .zcl_type = ZCL_TYPE_BOOL, .tlv_tag = PROP_NO_TLV,
                .scale = 1, .precision = PROP_NO_ROUNDING,
                .ha = { .component = "switch", .object_id = "switch_power_outage_memory",
                        .name = "Power outage memory", .entity_category = "config", .icon = "mdi:memory",
                        .enabled_by_default = -1 },
        },
        {
                .name = "auto_off", .label = "Auto OFF",
                .description = "Turn the device automatically off when attached device consumes less than 2W for 20 minutes",
                .category = "config",
                .access = ALL, .kind = PROP_KIND_BINARY, .source = PROP_SOURCE_ATTRIBUTE,
                .endpoint = 1, .cluster = ZCL_CLUSTER_LUMI, .attribute = 0x0202,
                .manufacturer = ZCL_MANUFACTURER_LUMI, .zcl_type = ZCL_TYPE_BOOL, .tlv_tag = PROP_NO_TLV,
                .scale = 1, .precision = PROP_NO_ROUNDING,
                .ha = { .component = "switch", .object_id = "switch_auto_off",
                        .name = "Auto OFF", .entity_category = "config", .icon = "mdi:flash-auto",
                        .enabled_by_default = -1 },
        },
        {
                .name = "overload_protection", .label = "Overload protection",
                .description = "Maximum allowed load, turns off if exceeded", .category = "config",
                .access = ALL, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_ATTRIBUTE,
                .endpoint = 1, .cluster = ZCL_CLUSTER_LUMI, .attribute = 0x020B,
                .manufacturer = ZCL_MANUFACTURER_LUMI, .zcl_type = ZCL_TYPE_SINGLE, .tlv_tag = PROP_NO_TLV,
                .scale = 1, .unit = "W", .has_range = true, .min = 100, .max = 2300,
                .precision = 2,         /* the Lumi converter's precisionRound(value, 2) */
                .ha = { .component = "number", .object_id = "overload_protection",
                        .name = "Overload protection", .entity_category = "config", .icon = "mdi:flash",
                        .enabled_by_default = -1 },
        },
        {
                .name = "linkquality", .label = "Linkquality", .description = "Link quality (signal strength)", .category = "diagnostic",
                .access = PROP_ACCESS_STATE, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_LQI,
                .tlv_tag = PROP_NO_TLV,
                .scale = 1, .unit = "lqi", .has_range = true, .min = 0, .max = 255,
                .precision = PROP_NO_ROUNDING,
                .ha = { .component = "sensor", .object_id = "linkquality", .name = "Linkquality",
                        .state_class = "measurement", .entity_category = "diagnostic",
                        .icon = "mdi:signal", .enabled_by_default = 0 },
        },
        {
                .name = "consumption", .label = "Consumption", .description = "Deprecated copy of energy",
                .access = 0, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_TLV,
                .zcl_type = ZCL_TYPE_SINGLE, .tlv_tag = 0x95,
                .scale = 1, .unit = "kWh", .precision = PROP_NO_ROUNDING,
        },
        {
                .name = "power_outage_count", .label = "Power outage count",
                .description = "Number of mains losses",
                .access = 0, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_TLV,
                .zcl_type = ZCL_TYPE_UINT16, .tlv_tag = 0x05,
                .scale = 1, .offset = -1, .precision = PROP_NO_ROUNDING,
        },
        {
                /* Set by the bridge (src/bridge/bridge-energy.c) with energy_monotonic only, converted
                 * with energy's calibration and precision: what Zigbee2MQTT would publish as energy. */
                .name = "energy_device", .label = "Energy (device counter)",
                .description = "The plug's own energy counter, which may drop to zero", .category = "diagnostic",
                .access = 0, .kind = PROP_KIND_NUMERIC, .source = PROP_SOURCE_DERIVED,
                .tlv_tag = PROP_NO_TLV,
                .scale = 1, .unit = "kWh", .precision = 2,
                .ha = { .component = "sensor", .object_id = "energy_device", .name = "Energy device counter",
                        .device_class = "energy", .state_class = "total_increasing",
                        .entity_category = "diagnostic", .enabled_by_default = 1, .extra = true },
        },
};

_Static_assert(ELEMENTSOF(zncz04lm_properties) <= PLUG_PROPERTIES_MAX, "too many rows");

const PlugModel plug_model_zncz04lm = {
        .zigbee_model = "lumi.plug.mmeu01",
        .vendor = "Xiaomi",
        .model = "ZNCZ04LM",
        .description = "Mi smart plug EU",
        .properties = zncz04lm_properties,
        .n_properties = ELEMENTSOF(zncz04lm_properties),
        .ota = true,
};
