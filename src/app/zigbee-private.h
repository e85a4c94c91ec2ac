/*
 * Internals shared by the Zigbee service's files: zigbee.c (the link, the Host <-> Bridge glue, saves)
 * and zigbee-ota.c (the OTA server's glue). Not for other modules: they use zigbee.h.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "app/zigbee.h"
#include "bridge/bridge.h"
#include "host/host.h"
#include "manager.h"
#include "ota/ota-server.h"
#include "store/devdb.h"
#include "util/log.h"
#include "znp/znp.h"
#include "znp/zstack.h"

#define OPS_MAX BRIDGE_PENDING_MAX
/* every device the database can hold may wait for its interview (200 plugs pressed at once) */
#define INTERVIEW_QUEUE_MAX DEVDB_DEVICES_MAX
#define SUBSCRIPTIONS_MAX 8u

typedef enum OpKind {
        OP_NONE,
        OP_ZCL,
        OP_PERMIT_JOIN,
        OP_REMOVE,
} OpKind;

/* Work handed to the Host for the Bridge: the Host's userdata points at one of these. */
typedef struct Op {
        ZigbeeService *z;
        OpKind kind;
        uint64_t token;
        uint64_t ieee;
        uint32_t zcl_id;
        bool ping;              /* an availability check */
} Op;

typedef enum LinkState {
        LINK_DOWN,              /* waiting for the retry timer */
        LINK_STARTING,          /* opened, probe / start-up under way */
        LINK_UP,
        LINK_REFUSED,           /* the coordinator holds another network: we stop */
} LinkState;

struct ZigbeeService {
        Manager *m;
        sd_event *event;
        DevDb *db;
        Bridge *bridge;
        BridgeDeviceConfig *devcfg;
        size_t n_devcfg;

        Znp *znp;               /* owns the Transport */
        Zstack *zstack;
        Host *host;
        LinkState link;
        bool reform;
        bool was_up;            /* the coordinator has been up before: a return is a recovery */
        unsigned failures;      /* in a row, for the backoff */
        ZstackConfig zcfg;
        bool zcfg_from_state;   /* some values came from network.json, not from [zigbee] */
        ZstackInfo info;

        sd_event_source *tick, *retry, *restart;
        bool connect_hook;
        uint64_t dirty_since;           /* CLOCK_MONOTONIC usec of the first unsaved structural change; 0: none */
        uint64_t state_dirty_since;     /* same for the first unsaved state change */
        char *subscriptions[SUBSCRIPTIONS_MAX];        /* the bridge's filters, dropped at free */

        ZigbeeCounters closed_links;    /* counters of the links closed so far */
        OtaServer *ota;
        char *ota_directory;

        Op ops[OPS_MAX];
        struct {
                uint64_t ieee;
                uint16_t nwk;
        } interview_queue[INTERVIEW_QUEUE_MAX];
        size_t n_interview_queue;
};

const char *zigbee_ieee_string(uint64_t ieee, char buf[static 19]);
/* The friendly name the database knows for ieee, NULL if none. */
const char *zigbee_device_name(const ZigbeeService *z, uint64_t ieee);
/* The journal fields of a log line about the device ieee (buf: 19 chars for the address); err may be NULL. */
#define DEVICE_FIELDS(z, ieee, buf, err) \
        (&(LogFields) { .device = zigbee_ieee_string((ieee), (buf)), .name = zigbee_device_name((z), (ieee)), .error = (err) })

bool zigbee_host_usable(ZigbeeService *z);

/* zigbee-ota.c: the OTA server on z->event, sending through the Host, telling the Bridge. */
int ota_setup(ZigbeeService *z);
