/*
 * Home Assistant MQTT discovery: a plug model's property table (src/devices/property.h) ->
 * the per-entity discovery messages Zigbee2MQTT 2.x publishes for it (same topics, unique_ids,
 * payloads), plus the bridge device. Pure: builds (topic, payload) strings, no MQTT, no I/O.
 * Payloads are compact JSON with sorted keys, as Zigbee2MQTT's stringify() writes them; publish
 * them retained with QoS 1. An empty payload clears a config.
 *
 * Facts from zigbee2mqtt 2.14.1 lib/extension/homeassistant.ts (discover(), getDevicePayload(),
 * getBridgeEntity(), exposeToConfig()).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/property.h"

typedef struct DiscConfig {
        const char *base_topic;                 /* mqtt base topic, "zigbee2mqtt" */
        const char *discovery_prefix;           /* "homeassistant" */
        const char *bridge_ieee;                /* coordinator IEEE, "0x00124b00120144ae" */
        const char *coordinator_type;           /* bridge hw_version = "<type> <revision>" */
        const char *coordinator_revision;
        const char *version;                    /* NULL: PACKAGE_VERSION (bridge sw_version, origin sw) */
        const char *origin_url;                 /* NULL: PACKAGE_URL */
} DiscConfig;

typedef struct DiscDevice {
        const char *ieee;                       /* "0x00158d0001a2b3c4" as Zigbee2MQTT writes it */
        const char *friendly_name;
        const char *sw_version;                 /* Basic swBuildId; NULL: omitted */
        int hw_version;                         /* Basic hwVersion; < 0: omitted */
        bool availability;                      /* availability feature enabled for this device */
        bool disabled;                          /* Zigbee2MQTT's "disabled": always unavailable */
        uint32_t extras;                        /* bit per row index: rows with ha.extra to discover
                                                 * (beyond Zigbee2MQTT; 0: exactly Zigbee2MQTT's set) */
} DiscDevice;

typedef struct DiscMessage {
        char *topic;
        char *payload;                          /* "" clears the config */
} DiscMessage;

typedef struct DiscMessages {
        DiscMessage *items;
        size_t n, allocated;
} DiscMessages;

/* Bridge entities (Zigbee2MQTT publishes all of them). */
enum {
        DISC_BRIDGE_CONNECTION_STATE   = 1 << 0,
        DISC_BRIDGE_RESTART_REQUIRED   = 1 << 1,
        DISC_BRIDGE_RESTART            = 1 << 2,
        DISC_BRIDGE_LOG_LEVEL          = 1 << 3,
        DISC_BRIDGE_VERSION            = 1 << 4,
        DISC_BRIDGE_COORDINATOR_VERSION = 1 << 5,
        DISC_BRIDGE_NETWORK_MAP        = 1 << 6,
        DISC_BRIDGE_PERMIT_JOIN        = 1 << 7,
        DISC_BRIDGE_ALL                = 0xFF,
};

/* Append a plug's configs, in Zigbee2MQTT's order (exposes, linkquality, update). -EINVAL on a
 * missing field or a friendly name/IEEE that cannot be part of a topic, -ENOMEM. */
int disc_device_messages(const DiscConfig *cfg, const PlugModel *m, const DiscDevice *dev, DiscMessages *out);
/* Append the bridge device's configs (entities selected by mask). */
int disc_bridge_messages(const DiscConfig *cfg, unsigned mask, DiscMessages *out);
/* Append empty payloads for every config topic of a plug (removal). Topics depend only on the
 * IEEE, so a rename republishes on the same topics. */
int disc_device_clear_messages(const DiscConfig *cfg, const PlugModel *m, const char *ieee, DiscMessages *out);
/* Empty payloads for the extra rows (ha.extra) selected by the extras bits. */
int disc_device_clear_extra_messages(const DiscConfig *cfg, const PlugModel *m, const char *ieee, uint32_t extras,
                                     DiscMessages *out);
int disc_bridge_clear_messages(const DiscConfig *cfg, unsigned mask, DiscMessages *out);

/* Whether a retained config found under the prefix belongs to us (Zigbee2MQTT's rule: its first
 * availability topic starts with "<base_topic>/"), so stale ones may be cleared at start. */
bool disc_payload_is_ours(const DiscConfig *cfg, const char *payload);

void disc_messages_done(DiscMessages *msgs);

/* Compact JSON with keys sorted at every level, strings escaped as JSON.stringify does. */
char *disc_json_sorted(json_object *obj);
/* "zigbee2mqtt" -> "1221051039810110150109113116116" (UTF-16 code units in decimal). */
char *disc_encode_base_topic(const char *base_topic);
