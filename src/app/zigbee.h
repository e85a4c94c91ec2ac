/*
 * The Zigbee service: the Manager's Zigbee component. It owns the coordinator link (Transport, Znp,
 * Zstack, Host), the device database and the MQTT Bridge, and glues them together:
 *
 *   - opens [serial] port, runs the Z-Stack start-up with [zigbee] (explicit values, else what the
 *     state directory's network.json remembers, else "auto"), keeps a formed network in network.json,
 *     refuses a mismatching network unless --reform (the daemon then exits with status 1);
 *   - puts the bridge on MQTT once the coordinator has been up (Zigbee2MQTT connects only after its
 *     adapter started), publishes the coordinator in bridge/info, reports readiness and a STATUS=
 *     text to the Manager;
 *   - reconnects with capped exponential backoff after a coordinator reset or a lost port, with the
 *     plugs offline meanwhile, and recovers without a restart;
 *   - Host events (join, announce, leave, interview, ZCL, unknown devices) go to the Bridge; the
 *     Bridge's actions, pings, permit join and removals go to the Host;
 *   - saves the database at most 5 s after a change (state updates), and at once after pairing,
 *     interview, rename and remove.
 *   - runs the OTA Upgrade cluster server ([ota], src/ota/ota-server.h) for the Bridge's
 *     ota_update requests: cluster 0x0019 frames and announces go to it, it sends through the
 *     Host, and a device updated by it is interviewed again.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/macro.h"

typedef struct Manager Manager;
typedef struct ZigbeeService ZigbeeService;

/* Loads the device database and builds the bridge on m's Mqtt; nothing is opened yet. */
int zigbee_service_new(ZigbeeService **ret, Manager *m);
ZigbeeService *zigbee_service_free(ZigbeeService *z);  /* saves what is unsaved */
DEFINE_TRIVIAL_CLEANUP_FUNC(ZigbeeService *, zigbee_service_free);

/* Opens the coordinator (retried with backoff); reform replaces a mismatching network. */
int zigbee_service_start(ZigbeeService *z, bool reform);

/* The MQTT connection went down (the connect hook handles "up"). */
void zigbee_service_mqtt_disconnected(ZigbeeService *z);

/* For the control socket and the metrics (NULL-safe). */
typedef struct Bridge Bridge;
Bridge *zigbee_service_bridge(ZigbeeService *z);
const char *zigbee_service_coordinator_state(const ZigbeeService *z);  /* down, starting, ready, refused */
typedef struct ZigbeeCounters {
        uint64_t frames_in, frames_out;         /* MT frames, every coordinator link since start */
        uint64_t retries;                       /* AF resends */
} ZigbeeCounters;
void zigbee_service_get_counters(const ZigbeeService *z, ZigbeeCounters *ret);

/* Writes the device database now if anything changed. */
int zigbee_service_save(ZigbeeService *z);
