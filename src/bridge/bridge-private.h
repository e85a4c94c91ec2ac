/*
 * Bridge internals shared by bridge.c (messages, requests, availability) and bridge-json.c
 * (bridge/devices and bridge/info payloads).
 */
#pragma once

#include <json-c/json.h>

#include "bridge/bridge.h"
#include "devices/energy.h"
#include "discovery/ha-discovery.h"
#include "store/ieee-index.h"
#include "util/log.h"

static inline void bridge_json_putp(json_object **p) {
        if (*p)
                json_object_put(*p);
}

typedef enum PendingKind {
        PENDING_NONE,
        PENDING_ACTION,         /* set / get */
        PENDING_PING,
        PENDING_PERMIT_JOIN,
        PENDING_REMOVE,
        PENDING_POLL,           /* power poll (bridge-poll.c) */
        PENDING_SETTINGS,       /* settings read-back / write-back (bridge-settings.c) */
} PendingKind;

typedef struct Pending Pending;
struct Pending {
        Pending **slot;                 /* its place in Bridge.pending[] */
        uint64_t token;
        PendingKind kind;
        uint64_t ieee;
        PlugAction action;
        bool is_get;
        char key[64];
        json_object *request;           /* bridge requests: the parsed request (transaction) */
        char topic_suffix[64];          /* bridge requests: "permit_join", "device/remove" */
        unsigned seconds;
        bool time_is_nan;               /* permit_join: answer "time": null, as JSON.stringify(NaN) */
        bool block, force;
        char name[DEVDB_NAME_MAX + 1];
        char id[DEVDB_NAME_MAX + 1];
        uint64_t call;                  /* set/get from the control socket (bridge-control.c); 0 none */
};

typedef enum Availability {
        AVAILABILITY_UNKNOWN,
        AVAILABILITY_ONLINE,
        AVAILABILITY_OFFLINE,
} Availability;

/* The plug's "update" state object (bridge-ota.c). */
typedef struct BridgePlugOta {
        bool known;                     /* published once a check, query or update said something */
        char state[12];                 /* "available", "updating", "idle" */
        int64_t installed, latest;      /* file versions, -1 unknown */
        char source[256];               /* latest_source: the image file, "" none */
        bool have_progress;
        double progress, remaining;
        uint64_t last_checked;          /* realtime usec of the last check (asked or by the plug) */
} BridgePlugOta;

typedef struct BridgePlug {
        uint64_t ieee;
        const PlugModel *model;
        PlugState state;
        PlugState published_state;      /* as of the last state message: what devices.json keeps */
        PlugOptions *options;           /* NULL: none set; read it with bridge_plug_options() (776 bytes a plug
                                         * when every plug had its own, almost always empty) */
        bool have_state;                /* something known: publish at connect */

        Availability published;
        Availability availability;      /* what the checks say, also with availability publishing off */
        uint64_t last_seen;             /* realtime usec, 0 never */
        uint64_t next_check;            /* ping due */
        double backoff;
        bool ping_pending;
        unsigned ping_attempts_left;

        uint64_t rediscover_at;         /* delayed discovery after a homeassistant_rename; 0 none */
        bool discover_queued;           /* its configs wait for the MQTT backlog to shrink */
        uint64_t retrieve_at;           /* read the state (after a reconnect or an announce); 0 none */
        BridgePlugOta ota;

        /* Beyond Zigbee2MQTT (issue 12) */
        const BridgeDeviceConfig *config;       /* its [device] section, NULL: none */
        EnergyTracker energy;                   /* energy_monotonic (bridge-energy.c) */
        bool save_before_publish;               /* the database holds what the next publish says */
        uint64_t poll_due;                      /* next power poll; 0: not scheduled (bridge-poll.c) */
        bool poll_unsupported;                  /* no Analog Input endpoint: never polled */
        bool poll_pending;                      /* one poll per plug at a time */
        bool settings_needed;                   /* read-back due (bridge-settings.c) */
        uint64_t settings_due;
        unsigned settings_step;                 /* reads 0..BRIDGE_SETTINGS_MAX-1, then writes */
        unsigned settings_round;                /* read-backs started: tells an old answer from a new one */
        bool settings_busy;                     /* a read or write is in flight */
        unsigned settings_failures;
} BridgePlug;

/* A retained config of ours the broker holds (hashes of its topic and payload): the publication after
 * the wait leaves it out if it is what we would send, as Zigbee2MQTT does. */
typedef struct BridgeRetained {
        uint64_t topic_hash, payload_hash;
} BridgeRetained;

/* One of the config topics we publish for a device (the bridge's or a plug's), hashed; topic_hash 0
 * marks the device as done. Built at its first retained config of the wait (a broker holds about 20 of
 * them per plug: building its configs again for each of them would cost seconds with 200 plugs). */
typedef struct BridgeOurTopic {
        uint64_t ieee, topic_hash;
} BridgeOurTopic;

struct Bridge {
        BridgeConfig cfg;
        DevDb *db;
        BridgeMqttOps mqtt;
        BridgeZigbeeOps zigbee;
        BridgeOwnerOps owner;
        void (*forget)(void *userdata, uint64_t ieee);
        size_t (*mqtt_backlog)(void *userdata);         /* bridge_set_mqtt_backlog_callback */
        void *userdata;

        bool have_coordinator;
        BridgeCoordinator coordinator;
        char coordinator_ieee[19];
        char coordinator_revision[16];

        bool connected;
        bool subscribed;
        unsigned permit_join_seconds;
        uint64_t permit_join_end;       /* realtime usec, 0 when closed */
        uint64_t last_joined;           /* for device/rename {"last": true} */

        BridgePlug **plugs;
        size_t n_plugs;

        /* Allocated per use: a fixed array of the structs was 137 KiB, all of it made resident by the
         * scans for a free slot, with one or two in flight most of the time. */
        Pending *pending[BRIDGE_PENDING_MAX];
        uint64_t next_token;

        uint64_t background_next;       /* earliest next background read (poll, settings) */
        /* What the polls and settings read-backs wait for, kept so that a wakeup or a tick does not
         * look at every plug (bridge-poll.c). Every change of what decides it (a plug added or
         * removed, its availability, the coordinator, a poll or settings field) calls
         * bridge_background_changed(), which marks it for one recomputation. */
        struct {
                bool stale;             /* recompute the three figures below */
                bool poll_rescan;       /* the poll tick looks at every plug once (new phases, pauses) */
                uint64_t poll_wake;     /* earliest poll_due != 0 of plugs that may poll, no answer awaited */
                bool poll_wake_now;     /* one of those has no phase yet: due now */
                uint64_t poll_tick;     /* the poll tick has work from then: 0 when a plug needs a phase */
                uint64_t settings_wake; /* earliest settings_due of plugs ready but for the time */
        } background;
        unsigned n_discover_queued;     /* plugs with discover_queued set */
        IeeeIndex plug_index;           /* the plugs by IEEE (bridge_find_plug() once per message) */
        bool plug_index_incomplete;     /* more plugs than the index holds: look them up one by one */
        /* No plug's rediscover_at, retrieve_at or next_check is before this (a lower bound: every
         * assignment goes through bridge_plug_timer_armed(), bridge_tick() recomputes it when it
         * looks at the plugs), so the tick skips that look while nothing can be due. */
        uint64_t plug_timers_min;
        /* The wait for retained discovery configs, at every connect (bridge_discovery_end()) */
        uint64_t discovery_due;         /* its cap (connect + BRIDGE_DISCOVERY_WAIT_USEC); 0: no wait */
        bool discovery_fenced;          /* the SUBACK of a SUBSCRIBE sent after the wildcard's came */
        uint64_t discovery_quiet_since; /* that SUBACK or the last config seen, the later */
        bool discovery_wildcard;        /* <prefix>/+/+/+/config is among our subscriptions */
        unsigned discovery_seen, discovery_cleared;     /* configs seen during the wait, stale ones cleared */
        BridgeRetained *retained;       /* configs of ours on the broker: not sent again if identical */
        size_t n_retained, n_retained_alloc;
        BridgeOurTopic *our_topics;     /* the config topics we publish, of the devices seen in the wait */
        size_t n_our_topics, n_our_topics_alloc;
        uint64_t ha_online_due;         /* republish after HA's birth; 0 none */

        char last_error[512];
        unsigned n_errors;

        struct BridgeCalls *calls;      /* control socket calls in flight (bridge-control.c) */
        struct BridgeOta *ota;          /* bridge-ota.c */
};

uint64_t bridge_now(const Bridge *b);
BridgePlug *bridge_find_plug(const Bridge *b, uint64_t ieee);
void bridge_format_ieee(uint64_t ieee, char buf[static 19]);
const char *bridge_ieee_string(uint64_t ieee, char buf[static 19]);     /* buf, formatted */
/* The journal fields of a log line about the Device d (buf: 19 chars for its address); err may be NULL. */
#define bridge_device_fields(d, buf, err) \
        (&(LogFields) { .device = bridge_ieee_string((d)->ieee, (buf)), .name = (d)->friendly_name, .error = (err) })
DiscConfig bridge_disc_config(const Bridge *b);

/* bridge.c */
int bridge_publish(Bridge *b, const char *topic, const char *payload, bool retain, int qos);
int bridge_publish_under_base(Bridge *b, const char *suffix, const char *payload, bool retain, int qos);
int bridge_publish_json(Bridge *b, const char *suffix, json_object *o, bool retain, int qos);
int bridge_publish_devices(Bridge *b);
int bridge_publish_info(Bridge *b);
int bridge_publish_state(Bridge *b, BridgePlug *p, const PlugUpdate *u);
Device *bridge_resolve_device(Bridge *b, const char *id);
Device *bridge_plug_device(const Bridge *b, const BridgePlug *p);
Pending *bridge_pending_new(Bridge *b, PendingKind kind, uint64_t ieee);
void bridge_pending_free(Pending *p);
/* Logs an error (with the device, the MQTT topic it concerns and a short kind, each NULL if none)
 * and keeps it as bridge_last_error(). */
void bridge_record_error(Bridge *b, const Device *d, const char *topic, const char *kind, const char *fmt, ...)
        _printf_(5, 6);
const char *bridge_error_text(int error);
const char *bridge_error_kind(int error);
#define BRIDGE_TOPIC_MAX 384
void bridge_command_topic(const Bridge *b, const Device *d, bool is_get, char *buf, size_t size);
void bridge_devdb_changed(Bridge *b, bool urgent);
void bridge_discover_plug(Bridge *b, BridgePlug *p);
void bridge_undiscover_plug(Bridge *b, const PlugModel *m, uint64_t ieee);
void bridge_plug_drop(Bridge *b, uint64_t ieee);
void bridge_plug_load_options(BridgePlug *p, const Device *d);
const PlugOptions *bridge_plug_options(const BridgePlug *p);    /* never NULL */
void bridge_plug_free(BridgePlug *p);
void bridge_retrieve_state(Bridge *b, BridgePlug *p);

/* bridge-availability.c */
uint64_t bridge_availability_timeout(const Bridge *b);
int bridge_publish_availability(Bridge *b, BridgePlug *p, Availability a, bool force);
void bridge_plug_seen(Bridge *b, BridgePlug *p);
void bridge_plugs_changed(Bridge *b);
bool bridge_plug_recently_seen(const Bridge *b, const BridgePlug *p, uint64_t now);
void bridge_start_ping(Bridge *b, BridgePlug *p);
void bridge_complete_ping(Bridge *b, Pending *pd, int error);

/* bridge-request.c */
int bridge_handle_request(Bridge *b, const char *name, const char *payload, size_t len);
void bridge_complete_permit_join(Bridge *b, Pending *pd, int error);
void bridge_complete_remove(Bridge *b, Pending *pd, int error);

/* bridge.c: <name>/set and <name>/get of a resolved plug; call (0: none) is told the outcome */
void bridge_set_get(Bridge *b, Device *d, BridgePlug *p, bool is_get, const char *key, const char *payload,
                    size_t len, uint64_t call);

/* bridge-control.c: a call waits until every hold is released; the first error is its answer */
void bridge_call_hold(Bridge *b, uint64_t call);
void bridge_call_release(Bridge *b, uint64_t call, const char *code, const char *message);
void bridge_call_error(Bridge *b, uint64_t call, const char *code, const char *message);
void bridge_call_on_publish(Bridge *b, const char *topic, const char *payload);
void bridge_calls_free(Bridge *b);
int bridge_respond(Bridge *b, const char *name, json_object *request, json_object *data, const char *error);

/* bridge-ota.c */
int bridge_handle_ota_request(Bridge *b, const char *name, json_object *req);
int bridge_ota_decorate_state(const BridgePlug *p, json_object *o, bool for_database);
/* The same "update" object as compact sorted JSON appended to t: 1, or 0 when there is none. */
typedef struct JsonText JsonText;
int bridge_ota_update_text(const BridgePlug *p, bool for_database, JsonText *t);
/* A plug's state message (fill_nulls, u: plug_state_to_json; for_database: without OTA progress)
 * as compact sorted JSON; NULL on -ENOMEM. */
char *bridge_state_text(const BridgePlug *p, bool fill_nulls, const PlugUpdate *u, bool for_database);
void bridge_ota_load(BridgePlug *p, const Device *d);
void bridge_ota_free(Bridge *b);
/* bridge-energy.c */
void bridge_energy_plug_added(Bridge *b, BridgePlug *p, const Device *d);
void bridge_energy_apply(Bridge *b, BridgePlug *p, PlugUpdate *u);
uint32_t bridge_energy_discovery_extras(const Bridge *b, const BridgePlug *p);

/* bridge.c: plugs whose discovery waits for the MQTT backlog (bridge_set_mqtt_backlog_callback) */
bool bridge_discovery_queued(const Bridge *b);
/* bridge.c: a plug's discovery configs; every config of the bridge and the plugs, as needed (the
 * plugs through bridge_tick()); the config wildcard unsubscribed */
int bridge_plug_disc_messages(Bridge *b, const BridgePlug *p, const Device *d, DiscMessages *out);
void bridge_discover_all(Bridge *b);
void bridge_unsubscribe_wildcard(Bridge *b);

/* bridge-discovery.c: the wait for retained discovery configs at every connect */
void bridge_discovery_wait_start(Bridge *b);
void bridge_discovery_wait_end(Bridge *b, uint64_t now);
/* When the wait ends (realtime usec); UINT64_MAX: no wait, or the broker is away (the reconnect
 * starts it over) */
uint64_t bridge_discovery_end(const Bridge *b);
/* A retained message under the discovery prefix, while the wait lasts */
void bridge_on_discovery_message(Bridge *b, const char *topic, const char *payload);
/* Whether the broker holds exactly this config (seen during the wait); forgotten once asked */
bool bridge_retained_take(Bridge *b, const char *topic, const char *payload);
void bridge_retained_clear(Bridge *b);

/* bridge-poll.c: power polls and the background-read limiter shared with the settings read-back */
bool bridge_plug_available(const Bridge *b, const BridgePlug *p);
bool bridge_background_may_send(const Bridge *b, uint64_t now);
void bridge_background_sent(Bridge *b, uint64_t now);
/* Something that decides whether a plug may poll or read back changed (plugs, availability,
 * coordinator, poll_unsupported, a new phase) / only a due time or a busy flag changed. */
void bridge_background_changed(Bridge *b);
void bridge_background_times_changed(Bridge *b);
void bridge_plug_timer_armed(Bridge *b, uint64_t at);  /* after setting a plug's timer to at */
void bridge_poll_tick(Bridge *b, uint64_t now);
uint64_t bridge_poll_next_wakeup(const Bridge *b);
void bridge_complete_poll(Bridge *b, Pending *pd, int error, const uint8_t *zcl, size_t len);

/* bridge-settings.c */
void bridge_settings_request(Bridge *b, BridgePlug *p, uint64_t delay_usec);
void bridge_settings_tick(Bridge *b, uint64_t now);
uint64_t bridge_settings_next_wakeup(const Bridge *b);
/* Earliest settings_due of the plugs whose read-back waits only for its time (cached, see
 * Bridge.background); UINT64_MAX: none. */
uint64_t bridge_settings_earliest(const Bridge *b);
void bridge_complete_settings(Bridge *b, Pending *pd, int error, const uint8_t *zcl, size_t len);

/* bridge-json.c */
json_object *bridge_info_json(Bridge *b);
json_object *bridge_definition_json(const PlugModel *m);
