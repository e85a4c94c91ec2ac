/*
 * The row type of a plug model's property table. One static const row per published key;
 * the Zigbee conversion (src/devices/plug.c), the get/set checks and Home Assistant discovery
 * (discovery/) all read the same rows. Adding a property is adding a row.
 *
 * This header is self-contained (no other project header) so that discovery/ can use it alone.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zigbee2MQTT's expose access bits (zigbee-herdsman-converters src/lib/exposes.ts). */
typedef enum PropAccess {
        PROP_ACCESS_STATE = 1 << 0,     /* published in the state */
        PROP_ACCESS_SET   = 1 << 1,     /* /set */
        PROP_ACCESS_GET   = 1 << 2,     /* /get */
} PropAccess;

typedef enum PropKind {
        PROP_KIND_SWITCH,               /* "ON"/"OFF"; set also takes "TOGGLE" (On/Off commands) */
        PROP_KIND_BINARY,               /* JSON true/false */
        PROP_KIND_NUMERIC,              /* JSON number */
} PropKind;

/* Where the value comes from, besides cluster/attribute. */
typedef enum PropSource {
        PROP_SOURCE_ATTRIBUTE,          /* (cluster, attribute) reports/read responses; tlv_tag too if >= 0 */
        PROP_SOURCE_TLV,                /* only the Lumi TLV blob (tlv_tag) */
        PROP_SOURCE_LQI,                /* link quality of every received frame */
        PROP_SOURCE_DERIVED,            /* computed by the bridge (energy_device), never from Zigbee */
} PropSource;

/* Which Zigbee2MQTT option pair applies (zhc src/lib/utils.ts calibrateAndPrecisionRoundOptions). */
typedef enum PropOption {
        PROP_OPTION_NONE,
        PROP_OPTION_PERCENT,            /* <name>_calibration is a percentage; <name>_precision */
        PROP_OPTION_ABSOLUTE,           /* <name>_calibration is an offset; <name>_precision */
} PropOption;

#define PROP_ENDPOINT_FIRST_WITH_CLUSTER 0     /* get: first endpoint with the cluster, else 1 */
#define PROP_NO_TLV (-1)
#define PROP_NO_ROUNDING (-1)

/* Home Assistant discovery hints, as Zigbee2MQTT 2.x publishes them for this expose. */
typedef struct PropHa {
        const char *component;          /* "switch", "sensor", "binary_sensor", "number"; NULL: none */
        const char *object_id;          /* config object id: "switch", "power", "switch_auto_off" */
        const char *name;               /* entity name; NULL: absent (unless name_null) */
        bool name_null;                 /* name is JSON null (the device's main feature) */
        const char *device_class, *state_class, *entity_category, *icon;
        int enabled_by_default;         /* -1 absent, 0 false, 1 true */
        bool extra;                     /* beyond Zigbee2MQTT: discovered only when the device enables
                                         * it, with a unique_id suffixed "_lumiplugd" */
} PropHa;

typedef struct PlugProperty {
        const char *name;               /* JSON key: "power" */
        const char *label;              /* Zigbee2MQTT expose label: "Power" */
        const char *description;       /* Zigbee2MQTT expose description */
        const char *category;           /* expose category: "config", "diagnostic" or NULL */
        uint8_t access;                 /* PropAccess bits; 0 = published but not an expose */
        PropKind kind;
        PropSource source;

        /* Zigbee side */
        uint8_t endpoint;               /* for get/set; PROP_ENDPOINT_FIRST_WITH_CLUSTER */
        uint16_t cluster, attribute;    /* reports from any endpoint are accepted */
        uint16_t manufacturer;          /* 0 unless manufacturer-specific */
        uint8_t zcl_type;               /* type written on set */
        int16_t tlv_tag;                /* tag in the 0x00F7 / 0xFF01 blob, PROP_NO_TLV */

        /* value = raw * scale + offset, then rounded */
        double scale, offset;
        const char *unit;
        bool has_range;
        double min, max;                /* set is checked against it */
        int precision;                  /* default decimals (PROP_NO_ROUNDING: published raw) */
        PropOption option;

        PropHa ha;
} PlugProperty;

typedef struct PlugModel {
        const char *zigbee_model;       /* Basic modelId: "lumi.plug.mmeu01" */
        const char *vendor;             /* "Xiaomi" */
        const char *model;              /* "ZNCZ04LM" */
        const char *description;        /* "Mi smart plug EU" */
        const PlugProperty *properties;
        size_t n_properties;
        bool ota;                       /* Zigbee2MQTT adds an update entity */
} PlugModel;

/* The number of rows a model may have (state arrays are sized by it). */
#define PLUG_PROPERTIES_MAX 32

static inline bool plug_property_is_exposed(const PlugProperty *p) {
        return p->access != 0;
}
