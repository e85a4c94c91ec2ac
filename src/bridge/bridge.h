/*
 * The MQTT side of the daemon: Zigbee2MQTT's topics and payloads for every plug in the device
 * database, its bridge API (bridge/state, info, devices, event, request -> response), availability
 * and the timing of Home Assistant discovery. Pure logic: it talks to MQTT and to the Zigbee host
 * only through the ops tables below, never blocks, and keeps no globals.
 *
 * Asynchronous work (a ZCL action, a ping, permit join, a leave request) is started through an op
 * that carries a token; the owner reports its end with bridge_complete(b, token, ...). A token the
 * bridge no longer knows (device removed meanwhile) is ignored, so completions can never reach freed
 * state. Time comes from owner->now (CLOCK_REALTIME, as devdb's last_seen and Zigbee2MQTT's
 * Date.now()); the owner calls bridge_tick() at least every second (or at bridge_next_wakeup()).
 *
 * Facts from zigbee2mqtt 2.14.1 dist/extension/{bridge,publish,availability,homeassistant}.js and
 * dist/util/{utils,settings,stringify}.js.
 *
 * Wiring (the owner):
 *   Host callbacks   device_joined -> bridge_on_device_joined (then host_interview_start +
 *                    bridge_on_interview_started); device_announced -> bridge_on_device_announced;
 *                    device_left -> bridge_on_device_left; interview_done -> bridge_on_interview_done;
 *                    zcl_received (ieee != 0, not group) -> bridge_on_zcl(ieee, src_endpoint, cluster,
 *                    frame, frame_len, lqi); unknown_device -> interview it as after a join;
 *                    permit_join_changed -> bridge_on_permit_join_changed; address_changed ->
 *                    bridge_on_address_changed; coordinator_lost -> bridge_on_coordinator_lost, and
 *                    after the re-initialisation bridge_set_coordinator + bridge_on_coordinator_restored.
 *   Zigbee ops       send_action: plug_action_build_frame(a, host_next_tsn()) + host_zcl_request(nwk,
 *                    a->endpoint, a->cluster) whose done calls bridge_complete(token, error,
 *                    response->frame, response->frame_len); ping: Read Attributes Basic 0x0000
 *                    (zclVersion) on endpoint 1; permit_join: host_permit_join; remove_device:
 *                    host_remove_device; bridge_set_forget_callback -> host_device_remove.
 *   MQTT             connect hook -> bridge_on_mqtt_connected; down -> bridge_on_mqtt_disconnected;
 *                    messages of the subscribed filters -> bridge_on_mqtt_message; SUBACKs ->
 *                    bridge_on_mqtt_subscribed, then bring the timer to bridge_next_background_wakeup().
 *   Time             owner->now = CLOCK_REALTIME; bridge_tick() from a timer (1 s, or at
 *                    bridge_next_wakeup()). devdb_changed -> arm the save timer (urgent: save now).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "devices/plug.h"
#include "host/interview.h"
#include "store/devdb.h"
#include "util/macro.h"

typedef struct Bridge Bridge;

#define BRIDGE_PENDING_MAX 256u                 /* tokens in flight, all devices */
/* Largest payload taken on a /set, /get or bridge/request topic. The biggest real one (every writable
 * key of a plug, or a device/options request) is well under 1 KiB; json-c builds a tree many times
 * the text's size, so a hostile publisher is stopped here (Zigbee2MQTT has no limit). */
#define BRIDGE_PAYLOAD_MAX (64u * 1024u)
#define BRIDGE_COORDINATOR_ENDPOINTS_MAX 16u
#define BRIDGE_AVAILABILITY_TIMEOUT_USEC (10ull * 60 * 1000000)   /* Zigbee2MQTT's active timeout */
#define BRIDGE_DISCOVERY_WAIT_USEC (5ull * 1000000)                /* retained configs are collected at most that long */
/* ... and once the broker acknowledged the subscriptions sent after the config wildcard, until none came
 * for this long (mosquitto sends them before that SUBACK; other brokers, e.g. EMQX, may send them after) */
#define BRIDGE_DISCOVERY_QUIET_USEC (150ull * 1000)
#define BRIDGE_DISCOVERY_BACKLOG_MAX 64u        /* MQTT messages held by the client before discovery waits */
#define BRIDGE_HA_ONLINE_DELAY_USEC (30ull * 1000000)              /* HA birth -> states (configs at once) */
#define BRIDGE_HA_RENAME_DELAY_USEC (2ull * 1000000)               /* cleared configs before the new ones */
#define BRIDGE_RETRIEVE_DEBOUNCE_USEC (2ull * 1000000)             /* state read after reconnect/announce */
#define BRIDGE_BACKGROUND_GAP_USEC (50ull * 1000)                  /* background reads (power polls, settings
                                                                    * read-back): at most 20 per second */
#define BRIDGE_POLLS_IN_FLIGHT_MAX 8u                               /* power polls waiting for an answer */

typedef struct BridgeMqttOps {
        /* 0 or -errno; the bridge logs a failure and carries on (MQTT reconnects republish all). */
        int (*publish)(void *userdata, const char *topic, const void *payload, size_t len, bool retain, int qos);
        int (*subscribe)(void *userdata, const char *topic);
        int (*unsubscribe)(void *userdata, const char *topic);     /* may be NULL */
} BridgeMqttOps;

typedef struct BridgeZigbeeOps {
        /* Send one action (build it with plug_action_build_frame(a, tsn, ...) and send it to
         * (nwk, a->endpoint, a->cluster)); complete with the plug's answer frame (header included)
         * or an error (-ETIMEDOUT, -EHOSTUNREACH, ...). Every received frame, answers included, must
         * also reach bridge_on_zcl() after the completion: a read's value is taken from there. */
        int (*send_action)(void *userdata, uint64_t ieee, uint16_t nwk, const PlugAction *a, uint64_t token);
        /* Availability check: a read of Basic zclVersion, as herdsman's ping; complete with 0 or error. */
        int (*ping)(void *userdata, uint64_t ieee, uint16_t nwk, uint64_t token);
        int (*permit_join)(void *userdata, unsigned seconds, uint64_t token);
        /* Leave request; complete with 0 once the device answered. */
        int (*remove_device)(void *userdata, uint64_t ieee, uint16_t nwk, uint64_t token);
} BridgeZigbeeOps;

typedef struct BridgeOwnerOps {
        uint64_t (*now)(void *userdata);                /* CLOCK_REALTIME, usec */
        void (*restart)(void *userdata);                /* bridge/request/restart, after the response */
        void (*devdb_changed)(void *userdata, bool urgent);     /* urgent: rename, remove, interview */
        void (*plugs_changed)(void *userdata);  /* a plug was added or dropped, or went online/offline; may be NULL */
} BridgeOwnerOps;

/* A plug named or configured in the INI ([device 0x...]). The name is given when the device joins
 * and at start while it still has its default name (a rename over MQTT wins and persists); the
 * options override the stored ones of the same key at start and at join. */
/* The plug settings lumiplugd reads back (and, with enforce_settings, writes back): property names,
 * in the order of BridgeDeviceConfig.settings. */
#define BRIDGE_SETTINGS_MAX 4u
extern const char *const bridge_setting_names[BRIDGE_SETTINGS_MAX];

typedef struct BridgeSettingValue {
        bool set;
        double value;                           /* 0/1 for the switches, watts for overload_protection */
} BridgeSettingValue;

typedef struct BridgeDeviceConfig {
        uint64_t ieee;
        const char *friendly_name;              /* NULL: none */
        json_object *options;                   /* Zigbee2MQTT device options, or NULL; borrowed */
        /* Beyond Zigbee2MQTT (issue 12; bridge-energy.c, bridge-poll.c, bridge-settings.c) */
        bool energy_monotonic;                  /* energy = counter + offset kept across counter drops */
        unsigned power_poll_interval;           /* seconds between power reads; 0: none */
        bool enforce_settings;                  /* write settings[] back when the plug lost them */
        BridgeSettingValue settings[BRIDGE_SETTINGS_MAX];
} BridgeDeviceConfig;

typedef struct BridgeConfig {
        const char *base_topic;                 /* "zigbee2mqtt" */
        bool retain_state;                      /* <base>/<name> retained (the default: true) */
        int state_qos;                          /* 0 */
        bool availability;                      /* publish <base>/<name>/availability */
        uint64_t availability_timeout_usec;     /* 0: BRIDGE_AVAILABILITY_TIMEOUT_USEC */
        bool homeassistant;                     /* discovery on (also makes the state carry nulls) */
        const char *discovery_prefix;           /* "homeassistant" */
        const char *ha_status_topic;            /* "homeassistant/status" */
        const char *log_level;                  /* for bridge/info: "info" */
        const char *version;                    /* NULL: PACKAGE_VERSION */
        const BridgeDeviceConfig *devices;      /* borrowed, outlives the bridge */
        size_t n_devices;
} BridgeConfig;

typedef struct BridgeCoordinator {
        uint64_t ieee;
        const char *type;                       /* "ZStack3x0" */
        int transportrev, product, majorrel, minorrel, maintrel;
        uint32_t revision;                      /* firmware date, 20240710 */
        uint8_t channel;
        uint16_t pan_id;
        uint64_t ext_pan_id;                    /* as displayed, most significant byte first */
        size_t n_endpoints;                     /* for bridge/devices */
        DevEndpoint endpoints[BRIDGE_COORDINATOR_ENDPOINTS_MAX];
} BridgeCoordinator;

/* Loads every supported plug of db (state and options restored from the records). db, ops and
 * strings in cfg must outlive the bridge. */
int bridge_new(Bridge **ret, const BridgeConfig *cfg, DevDb *db,
               const BridgeMqttOps *mqtt, const BridgeZigbeeOps *zigbee, const BridgeOwnerOps *owner,
               void *userdata);
Bridge *bridge_free(Bridge *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Bridge *, bridge_free);

void bridge_set_coordinator(Bridge *b, const BridgeCoordinator *c);
/* Called (with the bridge's userdata) when a device leaves our records, by device/remove or a leave,
 * so that the owner drops it from the host's address table too. */
void bridge_set_forget_callback(Bridge *b, void (*fn)(void *userdata, uint64_t ieee));
/* How many published messages the MQTT client still holds (written or acknowledged not yet). With it the
 * discovery configs of every plug (about 20 messages each) go out a few plugs at a time as the broker
 * acknowledges them, instead of all at once into the client's memory; bridge_next_background_wakeup()
 * is then "now" while plugs wait. Without it (NULL) they go out at once. */
void bridge_set_mqtt_backlog_callback(Bridge *b, size_t (*fn)(void *userdata));

/* MQTT connected (also after a reconnect): publishes bridge/info, bridge/devices, every plug's
 * retained state and availability. The first time it also subscribes, in this order: during the
 * discovery wait <prefix>/+/+/+/config (QoS 0), then <base>/# and the Home Assistant status topic;
 * the MQTT client is expected to renew subscriptions itself, in the order they were made. With Home
 * Assistant on, every connect starts the discovery wait: retained configs are collected (stale ones of
 * ours cleared, identical ones not published again) until the broker acknowledged the status topic's
 * SUBSCRIBE (bridge_on_mqtt_subscribed) and none came for BRIDGE_DISCOVERY_QUIET_USEC, or at most
 * BRIDGE_DISCOVERY_WAIT_USEC; then the wildcard is dropped and the configs go out (bridge_tick() at
 * bridge_next_background_wakeup()). bridge/state is the MQTT client's (its last will and the "online"
 * of every connect); the bridge publishes it only after Home Assistant's birth. */
int bridge_on_mqtt_connected(Bridge *b);
/* Also puts the config wildcard first in the subscriptions again, for the reconnect. */
void bridge_on_mqtt_disconnected(Bridge *b);
/* The broker acknowledged the SUBSCRIBE of filter (a SUBACK). */
void bridge_on_mqtt_subscribed(Bridge *b, const char *filter);
int bridge_republish_all(Bridge *b);
/* An MQTT message; bad input is logged and answered, never fatal. Returns 0 or -ENOMEM. */
int bridge_on_mqtt_message(Bridge *b, const char *topic, const void *payload, size_t len);

/* Zigbee side. */
int bridge_on_zcl(Bridge *b, uint64_t ieee, uint8_t endpoint, uint16_t cluster,
                  const uint8_t *zcl, size_t len, uint8_t lqi);
int bridge_on_device_joined(Bridge *b, uint64_t ieee, uint16_t nwk);
int bridge_on_device_announced(Bridge *b, uint64_t ieee, uint16_t nwk);
int bridge_on_device_left(Bridge *b, uint64_t ieee);
int bridge_on_interview_started(Bridge *b, uint64_t ieee, uint16_t nwk);
int bridge_on_interview_done(Bridge *b, const InterviewResult *r);
int bridge_on_address_changed(Bridge *b, uint64_t ieee, uint16_t nwk);        /* a retry found a new address */
/* Coordinator reset or port lost: every plug offline; restored: every plug checked at once. */
void bridge_on_coordinator_lost(Bridge *b);
void bridge_on_coordinator_restored(Bridge *b);
void bridge_on_permit_join_changed(Bridge *b, unsigned seconds);
/* End of the work started with `token` (zcl: the answer of a send_action, else NULL). */
void bridge_complete(Bridge *b, uint64_t token, int error, const uint8_t *zcl, size_t len);

/* OTA (bridge-ota.c): the server that bridge/request/device/ota_update/{check,update} start,
 * and its events (the owner routes them here). */
typedef struct OtaServer OtaServer;
typedef struct OtaEvent OtaEvent;
void bridge_set_ota_server(Bridge *b, OtaServer *s);
void bridge_on_ota_event(Bridge *b, uint64_t ieee, const OtaEvent *ev);

/* Timers: availability checks, the discovery wait, delayed republishes. */
void bridge_tick(Bridge *b);
uint64_t bridge_next_wakeup(const Bridge *b);   /* realtime usec, UINT64_MAX: nothing due */
/* The part of it that needs finer than the 1 s tick: background reads (power polls, settings
 * read-back), spaced BRIDGE_BACKGROUND_GAP_USEC apart, the end of the discovery wait, and discovery
 * configs waiting for the MQTT backlog (then 0: now). Never in the past unless something can be sent. */
uint64_t bridge_next_background_wakeup(const Bridge *b);

/* How many plugs there are and how many of them are online (as availability last said). */
void bridge_count_plugs(const Bridge *b, unsigned *ret_plugs, unsigned *ret_online);

/* Reasons of rejected input, most recent last (also logged). */
const char *bridge_last_error(const Bridge *b);
unsigned bridge_error_count(const Bridge *b);

/* JSON payloads (serialised as Zigbee2MQTT's stringify: sorted keys). Caller frees. */
char *bridge_devices_payload(Bridge *b);
char *bridge_info_payload(Bridge *b);
char *bridge_state_payload(Bridge *b, uint64_t ieee);  /* NULL if not a known plug */

/*
 * The local control socket (src/control) drives the bridge through calls: the same code paths as
 * the MQTT requests, with the outcome also delivered to a callback. The response handed to fn is
 * borrowed and shaped like a bridge response: {"status":"ok","data":{...}} or {"status":"error",
 * "error":"<text>"} and, for set/get, "code" (bad-argument, bad-value, timeout, busy, failed,
 * unknown-device, internal). The caller names each call with an id of its own (non-zero, never
 * reused, so that a bridge built again after a restart cannot confuse them). fn may run before the
 * starting function returns; a cancelled call never runs it; late completions are ignored.
 */
#define BRIDGE_CALLS_MAX 64u
typedef void (*BridgeCallFn)(void *userdata, uint64_t call, json_object *response);

/* <device>/set or <device>/get with payload as over MQTT (a JSON object text). -ENOENT unknown device,
 * -EOPNOTSUPP not a supported plug, -EBUSY too many calls. */
int bridge_call_set_get(Bridge *b, const char *device, bool is_get, const char *payload, size_t len,
                        uint64_t call, BridgeCallFn fn, void *userdata);
/* bridge/request/<name> with payload (a JSON object; a "transaction" is added): what the request
 * answers on bridge/response/<name>, at once or later, goes to fn too. -EBUSY too many calls. */
int bridge_call_request(Bridge *b, const char *name, json_object *payload, uint64_t call, BridgeCallFn fn,
                        void *userdata);
void bridge_call_cancel(Bridge *b, uint64_t call);

/* Read-only views for the control socket and the metrics endpoint. */
typedef struct BridgeSummary {
        size_t n_devices, n_plugs, n_online;
        unsigned permit_join_remaining;         /* seconds, 0 closed */
        bool coordinator;                       /* the coordinator has been seen */
        bool mqtt_connected;
} BridgeSummary;
void bridge_get_summary(const Bridge *b, BridgeSummary *ret);
/* [{"name","ieee","model","supported","interview","availability","last_seen","linkquality","state"}]:
 * availability "online"/"offline"/"unknown", last_seen ms since the epoch or null. NULL: no memory. */
json_object *bridge_devices_view(Bridge *b);
/* One device by friendly name or IEEE address; NULL if unknown (or no memory). */
json_object *bridge_device_view(Bridge *b, const char *id);

/* Herdsman's cluster name ("genOnOff") or the id in decimal for clusters it does not know. */
const char *bridge_cluster_name(uint16_t id, char buf[static 8]);
