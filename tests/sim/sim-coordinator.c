/*
 * The simulated Z-Stack 3.x.0 coordinator: MT request handling, NV, network formation, the AF
 * data path and the ZDO side of the simulated plugs (join, announce, descriptors, leave).
 *
 * Ordering rule of the firmware kept here: the SRSP of a request always goes out before any AREQ
 * the request triggers. Every outgoing frame is queued with a due time; equal due times keep
 * their queueing order.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-coordinator.h"
#include "sim-ota.h"
#include "sim-nv.h"
#include "sim-plug.h"

/* OSAL NV ids (legacy items). */
enum {
        NV_EXTADDR = 0x0001,
        NV_STARTUP_OPTION = 0x0003,
        NV_NIB = 0x0021,
        NV_EXTENDED_PAN_ID = 0x002D,
        NV_NWK_ACTIVE_KEY_INFO = 0x003A,
        NV_NWK_ALTERN_KEY_INFO = 0x003B,
        NV_APS_USE_EXT_PANID = 0x0047,
        NV_APS_LINK_KEY_TABLE = 0x004C,
        NV_BDBNODEISONANETWORK = 0x0055,
        NV_PRECFGKEY = 0x0062,
        NV_PRECFGKEYS_ENABLE = 0x0063,
        NV_NWKKEY = 0x0082,
        NV_PANID = 0x0083,
        NV_CHANLIST = 0x0084,
        NV_LOGICAL_TYPE = 0x0087,
        NV_ZDO_DIRECT_CB = 0x008F,
        NV_TCLK_SEED = 0x0101,
};

/* Extended NV tables, system id 1 (ZSTACK). */
enum {
        EX_SYS = 1,
        EX_ADDRMGR = 0x0001,
        EX_TCLK_TABLE = 0x0004,
        EX_APS_KEY_DATA_TABLE = 0x0006,
        EX_NWK_SEC_MATERIAL_TABLE = 0x0007,
};

/* Aligned (CC26xx) sizes, kept consistent with each other and with SYS_VERSION product 1. */
enum {
        NIB_LEN = 116,
        NWKKEY_LEN = 24,
        ADDRMGR_ENTRY_LEN = 12,
        TCLK_ENTRY_LEN = 20,
        APS_KEY_DATA_LEN = 24,
        SEC_MATERIAL_LEN = 12,
        SEC_MGR_ENTRIES = 20,
        APS_KEY_DATA_ENTRIES = 4,
        SEC_MATERIAL_ENTRIES = 2,
};

/* Aligned NIB offsets. */
enum {
        NIB_DEV_ADDRESS = 22,
        NIB_LOGICAL_CHANNEL = 24,
        NIB_COORD_ADDRESS = 26,
        NIB_COORD_EXT_ADDRESS = 28,
        NIB_PAN_ID = 36,
        NIB_STATE = 38,
        NIB_CHANNEL_LIST = 40,
        NIB_EXTENDED_PANID = 57,
        NIB_KEY_LOADED = 65,
        NIB_MANAGER_ADDR = 110,
        NIB_UPDATE_ID = 114,
};

enum {
        DEV_HOLD = 0,
        DEV_COORD_STARTING = 8,
        DEV_ZB_COORD = 9,
};

enum {
        ST_SUCCESS = 0x00,
        ST_FAILURE = 0x01,
        ST_INVALID_PARAMETER = 0x02,
        ST_NV_ITEM_UNINIT = 0x09,
        ST_NV_OPER_FAILED = 0x0A,
        ST_NV_BAD_ITEM_LEN = 0x0C,
        ST_APS_DUPLICATE_ENTRY = 0xB8,
        ST_NWK_INVALID_REQUEST = 0xC2,
        ST_NWK_NO_ROUTE = 0xCD,
        ST_MAC_NO_ACK = 0xE9,
};

enum {
        RPC_INVALID_SUBSYSTEM = 1,
        RPC_INVALID_COMMAND = 2,
        RPC_INVALID_LENGTH = 4,
};

#define MAX_ENDPOINTS 24
#define MAX_CLUSTERS 32
#define MAX_GROUPS 32
#define FRAME_RING 256
#define DESCRIBE_LEN 900

typedef enum EventKind {
        EV_FRAME,               /* send ev->frame */
        EV_RESET_DONE,          /* a = reset reason */
        EV_FORM,                /* a = formation step */
        EV_DELIVER,             /* AF data to plug ev->node; a = src ep, b = dst ep, c = trans id */
        EV_TC_DEV_IND,          /* plug ev->node finished joining (trust centre side) */
        EV_ANNOUNCE,            /* plug ev->node announces itself */
} EventKind;

typedef struct Event {
        double due;
        uint64_t seq;
        EventKind kind;
        int node;
        uint8_t a, b, c;
        uint16_t cluster;
        SimMtFrame frame;
} Event;

typedef struct Endpoint {
        uint8_t ep;
        uint16_t profile, device;
        uint8_t version;
        uint8_t n_in, n_out;
        uint16_t in[MAX_CLUSTERS], out[MAX_CLUSTERS];
} Endpoint;

typedef struct Group {
        uint8_t ep;
        uint16_t id;
        uint8_t name_len;
        uint8_t name[16];
} Group;

typedef struct Node {
        SimPlug *plug;
        uint64_t ieee;
        uint16_t nwk;
        bool joined;
        bool joining;
        bool online;
        uint8_t lqi;
} Node;

struct SimCoordinator {
        SimCoordinatorConfig cfg;
        SimCoordinatorOps ops;
        void *userdata;
        char *nv_path;
        SimNv *nv;
        SimMtParser parser;
        double now;

        Event *events;
        size_t n_events, cap_events;
        uint64_t seq;

        uint8_t dev_state;
        bool resetting;
        bool forming;
        uint32_t bdb_primary, bdb_secondary;
        double permit_until;            /* 0: closed; INFINITY: open without limit */
        Endpoint endpoints[MAX_ENDPOINTS];
        size_t n_endpoints;
        Group groups[MAX_GROUPS];
        size_t n_groups;
        uint8_t aps_counter;
        uint32_t nwk_frame_counter;

        Node nodes[SIM_MAX_PLUGS];
        unsigned n_nodes;
        double next_tick;

        char *ring[FRAME_RING];
        size_t ring_next;
        unsigned long frames_in, frames_out;
};

/* Simulated latencies in seconds (all 0 with --fast). */
typedef enum Delay {
        D_SRSP,                 /* request to its SRSP */
        D_LOCAL,                /* an AREQ the coordinator produces itself */
        D_CONFIRM,              /* AF data request to AF_DATA_CONFIRM (MAC ack) */
        D_NO_ACK,               /* ... when the MAC gets no ack (retries) */
        D_AIR,                  /* a frame from a plug, after what caused it */
        D_ZDO_REMOTE,           /* ZDO request to a plug and its answer */
        D_RESET,                /* SYS_RESET_REQ to SYS_RESET_IND */
        D_COMMISSION_SRSP,      /* BDB start commissioning on an unformed stick answers late */
        D_STARTUP_FORMED,       /* STARTUP_FROM_APP on a formed stick to state 9 */
        D_FORM_STEP,            /* one formation step (energy scan, beacons, state 8 ...) */
        D_TC_DEV,               /* button press to ZDO_TC_DEV_IND */
        D_ANNOUNCE,             /* TC_DEV_IND to END_DEVICE_ANNCE_IND */
} Delay;

static double delay(const SimCoordinator *c, Delay d) {
        static const double realistic[] = {
                [D_SRSP] = 0.003,
                [D_LOCAL] = 0.005,
                [D_CONFIRM] = 0.015,
                [D_NO_ACK] = 0.250,
                [D_AIR] = 0.025,
                [D_ZDO_REMOTE] = 0.040,
                [D_RESET] = 1.200,
                [D_COMMISSION_SRSP] = 0.800,
                [D_STARTUP_FORMED] = 0.100,
                [D_FORM_STEP] = 0.600,
                [D_TC_DEV] = 0.400,
                [D_ANNOUNCE] = 0.800,
        };
        return c->cfg.fast ? 0.0 : realistic[d];
}

/*
 * Little helpers: a writer for frame data and a bounds-checked reader for requests.
 */

typedef struct W {
        uint8_t d[SIM_MT_MAX_DATA];
        size_t n;
        bool overflow;
} W;

static void w8(W *w, uint8_t v) {
        if (w->n < sizeof(w->d))
                w->d[w->n++] = v;
        else
                w->overflow = true;
}

static void w16(W *w, uint16_t v) {
        w8(w, (uint8_t) v);
        w8(w, (uint8_t) (v >> 8));
}

static void w32(W *w, uint32_t v) {
        w16(w, (uint16_t) v);
        w16(w, (uint16_t) (v >> 16));
}

static void w64(W *w, uint64_t v) {
        w32(w, (uint32_t) v);
        w32(w, (uint32_t) (v >> 32));
}

static void wbytes(W *w, const uint8_t *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                w8(w, b[i]);
}

typedef struct R {
        const uint8_t *d;
        size_t n, o;
        bool short_read;
} R;

static uint8_t r8(R *r) {
        if (r->o + 1 > r->n) {
                r->short_read = true;
                return 0;
        }
        return r->d[r->o++];
}

static uint16_t r16(R *r) {
        uint16_t lo = r8(r);
        return (uint16_t) (lo | (uint16_t) r8(r) << 8);
}

static uint32_t r32(R *r) {
        uint32_t lo = r16(r);
        return lo | (uint32_t) r16(r) << 16;
}

static uint64_t r64(R *r) {
        uint64_t lo = r32(r);
        return lo | (uint64_t) r32(r) << 32;
}

static const uint8_t *rbytes(R *r, size_t n) {
        if (r->o + n > r->n) {
                r->short_read = true;
                r->o = r->n;
                return NULL;
        }
        const uint8_t *p = r->d + r->o;
        r->o += n;
        return p;
}

static void le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void le32(uint8_t *p, uint32_t v) {
        le16(p, (uint16_t) v);
        le16(p + 2, (uint16_t) (v >> 16));
}

static void le64(uint8_t *p, uint64_t v) {
        le32(p, (uint32_t) v);
        le32(p + 4, (uint32_t) (v >> 32));
}

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) get16(p) | (uint32_t) get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p) {
        return (uint64_t) get32(p) | (uint64_t) get32(p + 4) << 32;
}

/*
 * The event queue.
 */

static Event *push_event(SimCoordinator *c, EventKind kind, double after) {
        if (c->n_events == c->cap_events) {
                size_t cap = c->cap_events ? c->cap_events * 2 : 64;
                Event *e = realloc(c->events, cap * sizeof(Event));
                if (!e)
                        return NULL;
                c->events = e;
                c->cap_events = cap;
        }
        Event *e = &c->events[c->n_events++];
        memset(e, 0, offsetof(Event, frame));
        e->frame.len = 0;
        e->due = c->now + after;
        e->seq = c->seq++;
        e->kind = kind;
        e->node = -1;
        return e;
}

static void send_frame(SimCoordinator *c, uint8_t type, uint8_t sub, uint8_t cmd1, const W *w, double after) {
        Event *e = push_event(c, EV_FRAME, after);
        if (!e)
                return;
        (void) sim_mt_frame_init(&e->frame, type, sub, cmd1, w ? w->d : NULL, w ? w->n : 0);
}

static void srsp(SimCoordinator *c, uint8_t sub, uint8_t cmd1, const W *w) {
        send_frame(c, SIM_MT_SRSP, sub, cmd1, w, delay(c, D_SRSP));
}

static void srsp_status(SimCoordinator *c, uint8_t sub, uint8_t cmd1, uint8_t status) {
        W w = { 0 };
        w8(&w, status);
        srsp(c, sub, cmd1, &w);
}

/* The firmware's answer to an SREQ it cannot handle: SRSP RPC error (0x60 0x00) with the code and
 * the rejected command's header. */
static void rpc_error(SimCoordinator *c, const SimMtFrame *f, uint8_t code) {
        W w = { 0 };

        w8(&w, code);
        w8(&w, f->cmd0);
        w8(&w, f->cmd1);
        srsp(c, SIM_MT_RPC, 0x00, &w);
}

static void areq(SimCoordinator *c, uint8_t sub, uint8_t cmd1, const W *w, double after) {
        /* Never ahead of the SRSP that is being sent for the same request. */
        if (after < delay(c, D_SRSP))
                after = delay(c, D_SRSP);
        send_frame(c, SIM_MT_AREQ, sub, cmd1, w, after);
}

static void remember(SimCoordinator *c, const SimMtFrame *f, bool from_host) {
        char line[DESCRIBE_LEN];
        sim_mt_describe(f, from_host, line, sizeof(line));
        free(c->ring[c->ring_next]);
        c->ring[c->ring_next] = strdup(line);
        c->ring_next = (c->ring_next + 1) % FRAME_RING;
        if (from_host)
                c->frames_in++;
        else
                c->frames_out++;
        if (c->ops.frame)
                c->ops.frame(f, from_host, c->userdata);
}

static void emit(SimCoordinator *c, const SimMtFrame *f) {
        uint8_t raw[SIM_MT_MAX_FRAME];
        size_t n = sim_mt_encode(f, raw);
        remember(c, f, false);
        c->ops.write(raw, n, c->userdata);
}

/*
 * NV defaults, formation state and persistence.
 */

static const uint8_t default_tc_link_key[16] = "ZigBeeAlliance09";
static const uint8_t default_nwk_key[16] = {
        0x01, 0x03, 0x05, 0x07, 0x09, 0x0B, 0x0D, 0x0F, 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0D,
};

static size_t table_size(const SimCoordinator *c) {
        size_t n = (size_t) c->cfg.n_plugs + 8;
        return n < 40 ? 40 : n;
}

static void default_nib(uint8_t nib[NIB_LEN]) {
        memset(nib, 0, NIB_LEN);
        nib[1] = 5;             /* PassiveAckTimeout */
        nib[2] = 2;             /* MaxBroadcastRetries */
        nib[3] = 20;            /* MaxChildren */
        nib[4] = 15;            /* MaxDepth */
        nib[5] = 20;            /* MaxRouters */
        nib[7] = 30;            /* BroadcastDeliveryTime */
        nib[11] = 1;            /* SecureAllFrames */
        nib[12] = 5;            /* SecurityLevel */
        nib[13] = 1;            /* SymLink */
        nib[14] = 0x8F;         /* CapabilityFlags */
        le16(nib + 16, 7);      /* TransactionPersistenceTime */
        nib[18] = 2;            /* nwkProtocolVersion */
        nib[19] = 5;            /* RouteDiscoveryTime */
        nib[20] = 60;           /* RouteExpiryTime */
        le16(nib + NIB_DEV_ADDRESS, 0xFFFE);
        le16(nib + NIB_COORD_ADDRESS, 0x0000);
        le16(nib + NIB_PAN_ID, 0xFFFF);
        le32(nib + NIB_CHANNEL_LIST, 0x00000800);
        nib[44] = 15;           /* beaconOrder */
        nib[45] = 15;           /* superFrameOrder */
        nib[102] = 15;          /* nwkLinkStatusPeriod */
        nib[103] = 3;           /* nwkRouterAgeLimit */
        nib[105] = 1;           /* nwkIsConcentrator */
        nib[106] = 120;         /* nwkConcentratorDiscoveryTime */
        nib[107] = 30;          /* nwkConcentratorRadius */
        nib[108] = 1;           /* nwkAllFresh */
}

static void reset_tables(SimCoordinator *c) {
        uint8_t e[32];
        size_t n = table_size(c);
        for (size_t i = 0; i < n; i++) {
                memset(e, 0xFF, ADDRMGR_ENTRY_LEN);
                sim_nv_ext_set(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) i, e, ADDRMGR_ENTRY_LEN);
                memset(e, 0, TCLK_ENTRY_LEN);
                sim_nv_ext_set(c->nv, EX_SYS, EX_TCLK_TABLE, (uint16_t) i, e, TCLK_ENTRY_LEN);
        }
        for (size_t i = 0; i < APS_KEY_DATA_ENTRIES; i++) {
                memset(e, 0, APS_KEY_DATA_LEN);
                sim_nv_ext_set(c->nv, EX_SYS, EX_APS_KEY_DATA_TABLE, (uint16_t) i, e, APS_KEY_DATA_LEN);
        }
        /* Slot 0 unused, slot 1 the "generic" slot (EPID all 0xFF). */
        memset(e, 0, SEC_MATERIAL_LEN);
        sim_nv_ext_set(c->nv, EX_SYS, EX_NWK_SEC_MATERIAL_TABLE, 0, e, SEC_MATERIAL_LEN);
        memset(e, 0xFF, SEC_MATERIAL_LEN);
        le32(e, 0);
        sim_nv_ext_set(c->nv, EX_SYS, EX_NWK_SEC_MATERIAL_TABLE, 1, e, SEC_MATERIAL_LEN);

        /* APS link key table (security manager): u16 used count, then ami/keyNvId/option rows. */
        uint8_t sm[2 + SEC_MGR_ENTRIES * 6];
        memset(sm, 0, sizeof(sm));
        for (size_t i = 0; i < SEC_MGR_ENTRIES; i++)
                le16(sm + 2 + i * 6, 0xFFFE);
        sim_nv_set(c->nv, NV_APS_LINK_KEY_TABLE, sm, sizeof(sm));
}

/* The network state part of NV, as after a factory reset of the state. */
static void clear_network_state(SimCoordinator *c) {
        uint8_t nib[NIB_LEN], zero[NWKKEY_LEN] = { 0 }, off = 0;
        default_nib(nib);
        sim_nv_set(c->nv, NV_NIB, nib, sizeof(nib));
        sim_nv_set(c->nv, NV_NWKKEY, zero, NWKKEY_LEN);
        sim_nv_set(c->nv, NV_NWK_ACTIVE_KEY_INFO, zero, 17);
        sim_nv_set(c->nv, NV_NWK_ALTERN_KEY_INFO, zero, 17);
        sim_nv_set(c->nv, NV_BDBNODEISONANETWORK, &off, 1);
        reset_tables(c);
        for (unsigned i = 0; i < c->n_nodes; i++) {
                c->nodes[i].joined = false;
                c->nodes[i].joining = false;
        }
}

static void clear_config(SimCoordinator *c) {
        uint8_t b[16] = { 0 };
        uint8_t v;
        v = 0;
        sim_nv_set(c->nv, NV_LOGICAL_TYPE, &v, 1);
        sim_nv_set(c->nv, NV_ZDO_DIRECT_CB, &v, 1);
        uint8_t pan[2] = { 0xFF, 0xFF };
        sim_nv_set(c->nv, NV_PANID, pan, 2);
        uint8_t mask[4];
        le32(mask, 0x00000800);
        sim_nv_set(c->nv, NV_CHANLIST, mask, 4);
        sim_nv_set(c->nv, NV_EXTENDED_PAN_ID, b, 8);
        sim_nv_set(c->nv, NV_APS_USE_EXT_PANID, b, 8);
        sim_nv_set(c->nv, NV_PRECFGKEY, default_nwk_key, 16);
        v = 1;
        sim_nv_set(c->nv, NV_PRECFGKEYS_ENABLE, &v, 1);
}

/* What the firmware creates at boot when it is missing (osal_nv_item_init of every item). */
static void ensure_defaults(SimCoordinator *c) {
        uint8_t ieee[8];
        le64(ieee, c->cfg.ieee);
        sim_nv_init_item(c->nv, NV_EXTADDR, 8, ieee, 8);
        uint8_t zero = 0;
        sim_nv_init_item(c->nv, NV_STARTUP_OPTION, 1, &zero, 1);
        if (!sim_nv_get(c->nv, NV_PANID, NULL))
                clear_config(c);
        if (!sim_nv_get(c->nv, NV_NIB, NULL) && !sim_nv_get(c->nv, NV_NWKKEY, NULL))
                clear_network_state(c);
        if (!sim_nv_get(c->nv, NV_NIB, NULL)) {
                /* Deleted by the host: the stack re-creates it with its defaults at boot. */
                uint8_t nib[NIB_LEN];
                default_nib(nib);
                sim_nv_set(c->nv, NV_NIB, nib, sizeof(nib));
        }
        if (!sim_nv_get(c->nv, NV_TCLK_SEED, NULL)) {
                uint8_t seed[16];
                for (size_t i = 0; i < 16; i++)
                        seed[i] = (uint8_t) (default_tc_link_key[i] ^ (uint8_t) (c->cfg.ieee >> (8 * (i % 8))));
                sim_nv_set(c->nv, NV_TCLK_SEED, seed, 16);
        }
        if (!sim_nv_get(c->nv, NV_APS_LINK_KEY_TABLE, NULL) ||
            sim_nv_ext_count(c->nv, EX_SYS, EX_ADDRMGR) == 0)
                reset_tables(c);
        /* A table smaller than the plug count (older NV file): grow it like a firmware update would. */
        uint8_t e[ADDRMGR_ENTRY_LEN + TCLK_ENTRY_LEN];
        for (size_t i = sim_nv_ext_count(c->nv, EX_SYS, EX_ADDRMGR); i < table_size(c); i++) {
                memset(e, 0xFF, ADDRMGR_ENTRY_LEN);
                sim_nv_ext_set(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) i, e, ADDRMGR_ENTRY_LEN);
        }
        for (size_t i = sim_nv_ext_count(c->nv, EX_SYS, EX_TCLK_TABLE); i < table_size(c); i++) {
                memset(e, 0, TCLK_ENTRY_LEN);
                sim_nv_ext_set(c->nv, EX_SYS, EX_TCLK_TABLE, (uint16_t) i, e, TCLK_ENTRY_LEN);
        }
}

static bool network_formed(const SimCoordinator *c) {
        size_t len;
        const uint8_t *on = sim_nv_get(c->nv, NV_BDBNODEISONANETWORK, &len);
        const uint8_t *nib = sim_nv_get(c->nv, NV_NIB, NULL);
        if (!on || len < 1 || on[0] != 1 || !nib)
                return false;
        return get16(nib + NIB_PAN_ID) != 0xFFFF && nib[NIB_LOGICAL_CHANNEL] != 0;
}

static void save_nv(SimCoordinator *c) {
        if (!c->nv_path || !sim_nv_dirty(c->nv))
                return;
        int r = sim_nv_save(c->nv, c->nv_path);
        if (r < 0)
                fprintf(stderr, "lumiplug-sim: cannot save NV to %s: %s\n", c->nv_path, strerror(-r));
        else
                sim_nv_clear_dirty(c->nv);
}

static uint16_t nib_pan(const SimCoordinator *c) {
        const uint8_t *nib = sim_nv_get(c->nv, NV_NIB, NULL);
        return nib ? get16(nib + NIB_PAN_ID) : 0xFFFF;
}

static uint8_t nib_channel(const SimCoordinator *c) {
        const uint8_t *nib = sim_nv_get(c->nv, NV_NIB, NULL);
        return nib ? nib[NIB_LOGICAL_CHANNEL] : 0;
}

static void nib_epid(const SimCoordinator *c, uint8_t out[8]) {
        const uint8_t *nib = sim_nv_get(c->nv, NV_NIB, NULL);
        if (nib)
                memcpy(out, nib + NIB_EXTENDED_PANID, 8);
        else
                memset(out, 0, 8);
}

/*
 * Address manager rows: the record of which plugs are in the network (kept in NV).
 */

static int addrmgr_find(const SimCoordinator *c, uint64_t ieee) {
        size_t n = sim_nv_ext_count(c->nv, EX_SYS, EX_ADDRMGR);
        for (size_t i = 0; i < n; i++) {
                size_t len;
                const uint8_t *e = sim_nv_ext_get(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) i, &len);
                if (e && len >= ADDRMGR_ENTRY_LEN && e[0] != 0xFF && e[0] != 0 && get64(e + 4) == ieee)
                        return (int) i;
        }
        return -1;
}

static int addrmgr_add(SimCoordinator *c, uint64_t ieee, uint16_t nwk) {
        int idx = addrmgr_find(c, ieee);
        size_t n = sim_nv_ext_count(c->nv, EX_SYS, EX_ADDRMGR);
        for (size_t i = 0; idx < 0 && i < n; i++) {
                const uint8_t *e = sim_nv_ext_get(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) i, NULL);
                if (e && (e[0] == 0xFF || e[0] == 0))
                        idx = (int) i;
        }
        if (idx < 0)
                return -ENOSPC;
        uint8_t e[ADDRMGR_ENTRY_LEN];
        e[0] = 0x03;            /* user: ASSOC | SECURITY */
        e[1] = 0xFF;            /* alignment padding */
        le16(e + 2, nwk);
        le64(e + 4, ieee);
        sim_nv_ext_set(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) idx, e, sizeof(e));

        /* The trust centre keeps a link key row (key derived from its seed). */
        uint8_t t[TCLK_ENTRY_LEN] = { 0 };
        le64(t + 8, ieee);
        t[16] = 0x02;           /* keyAttributes: verified */
        t[17] = 0x00;           /* keyType */
        t[18] = (uint8_t) (ieee % 16);  /* SeedShift_IcIndex */
        sim_nv_ext_set(c->nv, EX_SYS, EX_TCLK_TABLE, (uint16_t) idx, t, sizeof(t));
        return idx;
}

static void addrmgr_remove(SimCoordinator *c, uint64_t ieee) {
        int idx = addrmgr_find(c, ieee);
        if (idx < 0)
                return;
        uint8_t e[TCLK_ENTRY_LEN];
        memset(e, 0xFF, ADDRMGR_ENTRY_LEN);
        sim_nv_ext_set(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) idx, e, ADDRMGR_ENTRY_LEN);
        memset(e, 0, TCLK_ENTRY_LEN);
        sim_nv_ext_set(c->nv, EX_SYS, EX_TCLK_TABLE, (uint16_t) idx, e, TCLK_ENTRY_LEN);
}

/*
 * Plugs.
 */

uint64_t sim_plug_number_ieee(unsigned n) {
        if (n % 2 == 1)
                return UINT64_C(0x00158d0001a2b300) + n;
        return UINT64_C(0x04cf8cdf3c7a5b00) + n;
}

static int node_by_nwk(const SimCoordinator *c, uint16_t nwk) {
        for (unsigned i = 0; i < c->n_nodes; i++)
                if (c->nodes[i].joined && c->nodes[i].nwk == nwk)
                        return (int) i;
        return -1;
}

static int node_by_ieee(const SimCoordinator *c, uint64_t ieee) {
        for (unsigned i = 0; i < c->n_nodes; i++)
                if (c->nodes[i].ieee == ieee)
                        return (int) i;
        return -1;
}

static int node_by_plug(const SimCoordinator *c, const SimPlug *p) {
        for (unsigned i = 0; i < c->n_nodes; i++)
                if (c->nodes[i].plug == p)
                        return (int) i;
        return -1;
}

static bool node_reachable(const SimCoordinator *c, int i) {
        return i >= 0 && c->nodes[i].joined && c->nodes[i].online;
}

/* A stochastic-looking but reproducible network address, unique in this network. */
static uint16_t pick_nwk(const SimCoordinator *c, uint64_t ieee) {
        uint64_t h = ieee * UINT64_C(0x9E3779B97F4A7C15);
        for (;;) {
                uint16_t a = (uint16_t) (h >> 48);
                h = h * UINT64_C(6364136223846793005) + 1442695040888963407u;
                if (a == 0x0000 || a >= 0xFFF8)
                        continue;
                bool used = false;
                for (unsigned i = 0; i < c->n_nodes; i++)
                        if ((c->nodes[i].joined || c->nodes[i].joining) && c->nodes[i].nwk == a)
                                used = true;
                if (!used)
                        return a;
        }
}

static const Endpoint *find_endpoint(const SimCoordinator *c, uint8_t ep) {
        for (size_t i = 0; i < c->n_endpoints; i++)
                if (c->endpoints[i].ep == ep)
                        return &c->endpoints[i];
        return NULL;
}

static void announce(SimCoordinator *c, int i, double after);

/* A frame the plug puts on the air for the coordinator. */
static void plug_send(SimPlug *p, uint16_t cluster, uint8_t src_ep, uint8_t dst_ep,
                      const uint8_t *zcl, size_t len, void *userdata) {
        SimCoordinator *c = userdata;
        int i = node_by_plug(c, p);
        if (!node_reachable(c, i) || c->resetting || c->dev_state != DEV_ZB_COORD)
                return;
        if (!find_endpoint(c, dst_ep))
                return;         /* AF drops frames for endpoints nobody registered */
        if (len > 230) {
                fprintf(stderr, "lumiplug-sim: plug %d sent %zu ZCL bytes, more than one AF_INCOMING_MSG holds; dropped\n",
                        i + 1, len);
                return;
        }
        Node *n = &c->nodes[i];
        W w = { 0 };
        w16(&w, 0);                     /* group */
        w16(&w, cluster);
        w16(&w, n->nwk);
        w8(&w, src_ep);
        w8(&w, dst_ep);
        w8(&w, 0);                      /* was broadcast */
        w8(&w, n->lqi);
        w8(&w, 0);                      /* security use */
        w32(&w, (uint32_t) (c->now * 62500.0));  /* MAC timestamp, 16 us symbols */
        w8(&w, c->aps_counter++);
        w8(&w, (uint8_t) len);
        wbytes(&w, zcl, len);
        w16(&w, n->nwk);                /* MAC source: a direct neighbour */
        w8(&w, 0x1D);                   /* radius left */
        areq(c, SIM_MT_AF, 0x81, &w, delay(c, D_AIR));
}

/* The plug restarted after an OTA update: a router announces itself again. */
static void plug_reboot(SimPlug *p, void *userdata) {
        SimCoordinator *c = userdata;
        int i = node_by_plug(c, p);

        if (node_reachable(c, i) && c->dev_state == DEV_ZB_COORD)
                announce(c, i, delay(c, D_ANNOUNCE));
}

static const SimPlugOps plug_ops = {
        .send = plug_send,
        .reboot = plug_reboot,
};

/*
 * SYS.
 */

static void sys_version(SimCoordinator *c) {
        W w = { 0 };
        w8(&w, 2);      /* transport revision */
        w8(&w, 1);      /* product: Z-Stack 3.x.0 */
        w8(&w, 2);
        w8(&w, 7);
        w8(&w, 1);
        w32(&w, c->cfg.code_revision);
        w8(&w, 0);      /* bootloader build type; no bootloader revision (as real 3.x.0 builds) */
        srsp(c, SIM_MT_SYS, 0x02, &w);
}

static void start_reset(SimCoordinator *c, uint8_t reason) {
        /* The chip reboots: whatever it was about to send is lost. */
        c->n_events = 0;
        c->resetting = true;
        c->forming = false;
        Event *e = push_event(c, EV_RESET_DONE, delay(c, D_RESET));
        if (e)
                e->a = reason;
}

static void finish_reset(SimCoordinator *c, uint8_t reason) {
        c->resetting = false;
        size_t len;
        uint8_t *opt = sim_nv_get_mut(c->nv, NV_STARTUP_OPTION, &len);
        if (opt && len >= 1) {
                if (opt[0] & 0x01)
                        clear_config(c);
                if (opt[0] & 0x02)
                        clear_network_state(c);
                opt[0] &= (uint8_t) ~0x03;
        }
        ensure_defaults(c);
        c->dev_state = DEV_HOLD;
        c->n_endpoints = 0;
        c->n_groups = 0;
        c->permit_until = 0;
        c->bdb_primary = c->bdb_secondary = 0;
        /* Plugs that are in the address manager are still members of the network. */
        for (unsigned i = 0; i < c->n_nodes; i++) {
                int idx = addrmgr_find(c, c->nodes[i].ieee);
                c->nodes[i].joining = false;
                c->nodes[i].joined = idx >= 0;
                if (idx >= 0)
                        c->nodes[i].nwk = get16(sim_nv_ext_get(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) idx, NULL) + 2);
        }
        W w = { 0 };
        w8(&w, reason);
        w8(&w, 2);
        w8(&w, 1);
        w8(&w, 2);
        w8(&w, 7);
        w8(&w, 1);
        send_frame(c, SIM_MT_AREQ, SIM_MT_SYS, 0x80, &w, 0);
}

static void osal_read(SimCoordinator *c, uint8_t cmd1, uint16_t id, size_t offset) {
        size_t len;
        const uint8_t *v = sim_nv_get(c->nv, id, &len);
        W w = { 0 };
        if (!v || offset > len || (offset == len && len > 0)) {
                w8(&w, ST_NV_OPER_FAILED);
                w8(&w, 0);
        } else {
                size_t n = len - offset;
                if (n > 248)
                        n = 248;
                w8(&w, ST_SUCCESS);
                w8(&w, (uint8_t) n);
                wbytes(&w, v + offset, n);
        }
        srsp(c, SIM_MT_SYS, cmd1, &w);
}

static uint8_t nv_write_status(int r) {
        if (r == -ENOENT)
                return ST_NV_ITEM_UNINIT;
        return r < 0 ? ST_NV_OPER_FAILED : ST_SUCCESS;
}

static void handle_sys(SimCoordinator *c, const SimMtFrame *f, R *r) {
        switch (f->cmd1) {
        case 0x01: {    /* PING */
                W w = { 0 };
                w16(&w, 0x0659);
                srsp(c, SIM_MT_SYS, 0x01, &w);
                return;
        }
        case 0x02:
                sys_version(c);
                return;
        case 0x03: {    /* SET_EXTADDR */
                const uint8_t *ieee = rbytes(r, 8);
                if (!ieee)
                        break;
                sim_nv_set(c->nv, NV_EXTADDR, ieee, 8);
                c->cfg.ieee = get64(ieee);
                srsp_status(c, SIM_MT_SYS, 0x03, ST_SUCCESS);
                return;
        }
        case 0x04: {    /* GET_EXTADDR */
                W w = { 0 };
                w64(&w, c->cfg.ieee);
                srsp(c, SIM_MT_SYS, 0x04, &w);
                return;
        }
        case 0x07: {    /* OSAL_NV_ITEM_INIT */
                uint16_t id = r16(r), len = r16(r);
                uint8_t init_len = r8(r);
                const uint8_t *init = rbytes(r, init_len);
                if (r->short_read)
                        break;
                int k = init_len > len ? -EINVAL : sim_nv_init_item(c->nv, id, len, init, init_len);
                srsp_status(c, SIM_MT_SYS, 0x07, k < 0 ? ST_NV_OPER_FAILED : k == 1 ? ST_NV_ITEM_UNINIT : ST_SUCCESS);
                return;
        }
        case 0x08: {    /* OSAL_NV_READ */
                uint16_t id = r16(r);
                uint8_t off = r8(r);
                if (r->short_read)
                        break;
                osal_read(c, 0x08, id, off);
                return;
        }
        case 0x09: {    /* OSAL_NV_WRITE */
                uint16_t id = r16(r);
                uint8_t off = r8(r), len = r8(r);
                const uint8_t *v = rbytes(r, len);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_SYS, 0x09, nv_write_status(sim_nv_write(c->nv, id, off, v, len)));
                return;
        }
        case 0x0C: {    /* RANDOM */
                W w = { 0 };
                w16(&w, (uint16_t) rand());
                srsp(c, SIM_MT_SYS, 0x0C, &w);
                return;
        }
        case 0x0F: {    /* STACK_TUNE */
                r8(r);
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_SYS, 0x0F, 0);
                return;
        }
        case 0x12: {    /* OSAL_NV_DELETE */
                uint16_t id = r16(r), len = r16(r);
                if (r->short_read)
                        break;
                size_t have;
                const uint8_t *v = sim_nv_get(c->nv, id, &have);
                uint8_t st;
                if (!v)
                        st = ST_NV_ITEM_UNINIT;
                else if (have != len)
                        st = ST_NV_BAD_ITEM_LEN;
                else
                        st = sim_nv_delete(c->nv, id) < 0 ? ST_NV_OPER_FAILED : ST_SUCCESS;
                srsp_status(c, SIM_MT_SYS, 0x12, st);
                return;
        }
        case 0x13: {    /* OSAL_NV_LENGTH */
                uint16_t id = r16(r);
                if (r->short_read)
                        break;
                size_t len;
                const uint8_t *v = sim_nv_get(c->nv, id, &len);
                W w = { 0 };
                w16(&w, v ? (uint16_t) len : 0);
                srsp(c, SIM_MT_SYS, 0x13, &w);
                return;
        }
        case 0x14: {    /* SET_TX_POWER */
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_SYS, 0x14, ST_SUCCESS);
                return;
        }
        case 0x1C: {    /* OSAL_NV_READ_EXT */
                uint16_t id = r16(r), off = r16(r);
                if (r->short_read)
                        break;
                osal_read(c, 0x1C, id, off);
                return;
        }
        case 0x1D: {    /* OSAL_NV_WRITE_EXT: 16-bit length */
                uint16_t id = r16(r), off = r16(r), len = r16(r);
                const uint8_t *v = rbytes(r, len);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_SYS, 0x1D, nv_write_status(sim_nv_write(c->nv, id, off, v, len)));
                return;
        }
        case 0x30: {    /* NV_CREATE */
                uint8_t sys = r8(r);
                uint16_t item = r16(r), sub = r16(r);
                uint32_t len = r32(r);
                if (r->short_read)
                        break;
                uint8_t st = ST_SUCCESS;
                if (!sim_nv_ext_get(c->nv, sys, item, sub, NULL)) {
                        if (len > 4096)
                                st = ST_NV_OPER_FAILED;
                        else {
                                uint8_t *zero = calloc(1, len ? len : 1);
                                st = zero && sim_nv_ext_set(c->nv, sys, item, sub, zero, len) == 0 ? ST_SUCCESS : ST_NV_OPER_FAILED;
                                free(zero);
                        }
                }
                srsp_status(c, SIM_MT_SYS, 0x30, st);
                return;
        }
        case 0x31: {    /* NV_DELETE */
                uint8_t sys = r8(r);
                uint16_t item = r16(r), sub = r16(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_SYS, 0x31,
                            sim_nv_ext_delete(c->nv, sys, item, sub) < 0 ? ST_NV_OPER_FAILED : ST_SUCCESS);
                return;
        }
        case 0x32: {    /* NV_LENGTH: u32, 0 for a missing sub id */
                uint8_t sys = r8(r);
                uint16_t item = r16(r), sub = r16(r);
                if (r->short_read)
                        break;
                size_t len;
                const uint8_t *v = sim_nv_ext_get(c->nv, sys, item, sub, &len);
                W w = { 0 };
                w32(&w, v ? (uint32_t) len : 0);
                srsp(c, SIM_MT_SYS, 0x32, &w);
                return;
        }
        case 0x33: {    /* NV_READ */
                uint8_t sys = r8(r);
                uint16_t item = r16(r), sub = r16(r), off = r16(r);
                uint8_t len = r8(r);
                if (r->short_read)
                        break;
                size_t have;
                const uint8_t *v = sim_nv_ext_get(c->nv, sys, item, sub, &have);
                W w = { 0 };
                if (!v || off > have || len > have - off || len > 248) {
                        w8(&w, ST_NV_OPER_FAILED);
                        w8(&w, 0);
                } else {
                        w8(&w, ST_SUCCESS);
                        w8(&w, len);
                        wbytes(&w, v + off, len);
                }
                srsp(c, SIM_MT_SYS, 0x33, &w);
                return;
        }
        case 0x34: {    /* NV_WRITE */
                uint8_t sys = r8(r);
                uint16_t item = r16(r), sub = r16(r), off = r16(r);
                uint8_t len = r8(r);
                const uint8_t *v = rbytes(r, len);
                if (r->short_read)
                        break;
                size_t have;
                uint8_t *d = sim_nv_ext_get_mut(c->nv, sys, item, sub, &have);
                uint8_t st = ST_SUCCESS;
                if (!d || off > have || len > have - off)
                        st = ST_NV_OPER_FAILED;
                else
                        memcpy(d + off, v, len);
                srsp_status(c, SIM_MT_SYS, 0x34, st);
                return;
        }
        case 0x35: {    /* NV_UPDATE */
                uint8_t sys = r8(r);
                uint16_t item = r16(r), sub = r16(r);
                uint8_t len = r8(r);
                const uint8_t *v = rbytes(r, len);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_SYS, 0x35,
                            sim_nv_ext_set(c->nv, sys, item, sub, v, len) < 0 ? ST_NV_OPER_FAILED : ST_SUCCESS);
                return;
        }
        default: {
                rpc_error(c, f, RPC_INVALID_COMMAND);
                return;
        }
        }
        /* A known command whose data was too short. */
        rpc_error(c, f, RPC_INVALID_LENGTH);
}

/*
 * Network formation / start-up.
 */

static void bdb_notification(SimCoordinator *c, uint8_t status, uint8_t mode, uint8_t remaining, double after) {
        W w = { 0 };
        w8(&w, status);
        w8(&w, mode);
        w8(&w, remaining);
        areq(c, SIM_MT_APP_CNF, 0x80, &w, after);
}

static void state_change(SimCoordinator *c, uint8_t state, double after) {
        W w = { 0 };
        w8(&w, state);
        areq(c, SIM_MT_ZDO, 0xC0, &w, after);
}

static void commit_formation(SimCoordinator *c) {
        size_t len;
        const uint8_t *v;
        uint16_t pan = 0xFFFF;
        if ((v = sim_nv_get(c->nv, NV_PANID, &len)) && len >= 2)
                pan = get16(v);
        if (pan == 0xFFFF || pan == 0x0000) {
                uint64_t h = c->cfg.ieee * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t) (c->now * 1000);
                pan = (uint16_t) (1 + (h >> 40) % 0xFFF6);
        }
        uint32_t mask = c->bdb_primary;
        if (!mask && (v = sim_nv_get(c->nv, NV_CHANLIST, &len)) && len >= 4)
                mask = get32(v);
        uint8_t channel = 11;
        for (unsigned ch = 11; ch <= 26; ch++)
                if (mask & (UINT32_C(1) << ch)) {
                        channel = (uint8_t) ch;
                        break;
                }
        uint8_t epid[8] = { 0 }, zero[8] = { 0 };
        if ((v = sim_nv_get(c->nv, NV_APS_USE_EXT_PANID, &len)) && len >= 8 && memcmp(v, zero, 8) != 0)
                memcpy(epid, v, 8);
        else if ((v = sim_nv_get(c->nv, NV_EXTENDED_PAN_ID, &len)) && len >= 8 && memcmp(v, zero, 8) != 0)
                memcpy(epid, v, 8);
        else
                le64(epid, c->cfg.ieee);
        uint8_t key[16];
        if ((v = sim_nv_get(c->nv, NV_PRECFGKEY, &len)) && len >= 16)
                memcpy(key, v, 16);
        else
                memcpy(key, default_nwk_key, 16);

        uint8_t nib[NIB_LEN];
        if ((v = sim_nv_get(c->nv, NV_NIB, &len)) && len == NIB_LEN)
                memcpy(nib, v, NIB_LEN);
        else
                default_nib(nib);
        le16(nib + NIB_DEV_ADDRESS, 0x0000);
        nib[NIB_LOGICAL_CHANNEL] = channel;
        le16(nib + NIB_COORD_ADDRESS, 0x0000);
        le64(nib + NIB_COORD_EXT_ADDRESS, c->cfg.ieee);
        le16(nib + NIB_PAN_ID, pan);
        nib[NIB_STATE] = 8;
        nib[NIB_STATE + 1] = 0;
        le32(nib + NIB_CHANNEL_LIST, mask ? mask : UINT32_C(1) << channel);
        memcpy(nib + NIB_EXTENDED_PANID, epid, 8);
        nib[NIB_KEY_LOADED] = 1;
        le16(nib + NIB_MANAGER_ADDR, 0x0000);
        nib[NIB_UPDATE_ID] = 0;
        sim_nv_set(c->nv, NV_NIB, nib, NIB_LEN);
        sim_nv_set(c->nv, NV_EXTENDED_PAN_ID, epid, 8);

        uint8_t nwkkey[NWKKEY_LEN] = { 0 };
        nwkkey[0] = 0;
        memcpy(nwkkey + 1, key, 16);
        le32(nwkkey + 20, c->nwk_frame_counter);
        sim_nv_set(c->nv, NV_NWKKEY, nwkkey, NWKKEY_LEN);
        uint8_t info[17];
        info[0] = 0;
        memcpy(info + 1, key, 16);
        sim_nv_set(c->nv, NV_NWK_ACTIVE_KEY_INFO, info, 17);
        sim_nv_set(c->nv, NV_NWK_ALTERN_KEY_INFO, info, 17);
        uint8_t one = 1;
        sim_nv_set(c->nv, NV_BDBNODEISONANETWORK, &one, 1);
        uint8_t sm[SEC_MATERIAL_LEN];
        le32(sm, c->nwk_frame_counter);
        memcpy(sm + 4, epid, 8);
        sim_nv_ext_set(c->nv, EX_SYS, EX_NWK_SEC_MATERIAL_TABLE, 0, sm, SEC_MATERIAL_LEN);
}

/* Formation of a new network, one step per event. */
static void formation_step(SimCoordinator *c, uint8_t step) {
        switch (step) {
        case 0:
                bdb_notification(c, 0x01, 0x02, 0x04, 0);       /* in progress */
                break;
        case 1:
        case 2:
        case 3:
                c->dev_state = DEV_COORD_STARTING;
                state_change(c, DEV_COORD_STARTING, 0);
                break;
        case 4:
                commit_formation(c);
                c->dev_state = DEV_ZB_COORD;
                c->forming = false;
                state_change(c, DEV_ZB_COORD, 0);
                bdb_notification(c, 0x00, 0x02, 0x00, 0);       /* success */
                return;
        default:
                return;
        }
        Event *e = push_event(c, EV_FORM, delay(c, D_FORM_STEP));
        if (e)
                e->a = (uint8_t) (step + 1);
}

static void start_formation(SimCoordinator *c, double after) {
        c->forming = true;
        Event *e = push_event(c, EV_FORM, after);
        if (e)
                e->a = 0;
}

/* Resume a formed network: state 9 and "network restored" back to back. */
static void resume_network(SimCoordinator *c) {
        c->dev_state = DEV_ZB_COORD;
        double d = delay(c, D_STARTUP_FORMED);
        state_change(c, DEV_ZB_COORD, d);
        bdb_notification(c, 0x0D, 0x00, 0x04, d);
}

static void handle_app_cnf(SimCoordinator *c, const SimMtFrame *f, R *r) {
        switch (f->cmd1) {
        case 0x01:      /* SET_DEFAULT_REMOTE_ENDDEVICE_TIMEOUT */
        case 0x09:      /* BDB_SET_TC_REQUIRE_KEY_EXCHANGE */
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_APP_CNF, f->cmd1, ST_SUCCESS);
                return;
        case 0x04:      /* BDB_ADD_INSTALLCODE */
                r8(r);
                rbytes(r, 8);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_APP_CNF, f->cmd1, ST_SUCCESS);
                return;
        case 0xFF:      /* SET_NWK_FRAME_COUNTER */
                c->nwk_frame_counter = r32(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_APP_CNF, f->cmd1, ST_SUCCESS);
                return;
        case 0x08: {    /* BDB_SET_CHANNEL */
                uint8_t primary = r8(r);
                uint32_t mask = r32(r);
                if (r->short_read)
                        break;
                if (primary)
                        c->bdb_primary = mask;
                else
                        c->bdb_secondary = mask;
                srsp_status(c, SIM_MT_APP_CNF, 0x08, ST_SUCCESS);
                return;
        }
        case 0x05: {    /* BDB_START_COMMISSIONING */
                uint8_t mode = r8(r);
                if (r->short_read)
                        break;
                if (c->forming) {
                        srsp_status(c, SIM_MT_APP_CNF, 0x05, ST_SUCCESS);
                        return;
                }
                if (mode & 0x04) {
                        if (network_formed(c)) {
                                srsp_status(c, SIM_MT_APP_CNF, 0x05, ST_SUCCESS);
                                if (c->dev_state != DEV_ZB_COORD)
                                        resume_network(c);
                                bdb_notification(c, 0x00, 0x04, 0x00, delay(c, D_STARTUP_FORMED));
                        } else {
                                /* On an unformed stick the SRSP itself comes late. */
                                double d = delay(c, D_COMMISSION_SRSP);
                                send_frame(c, SIM_MT_SRSP, SIM_MT_APP_CNF, 0x05,
                                           &(W) { .d = { ST_SUCCESS }, .n = 1 }, d);
                                start_formation(c, d);
                        }
                        return;
                }
                srsp_status(c, SIM_MT_APP_CNF, 0x05, ST_SUCCESS);
                if (mode & 0x02 && c->dev_state == DEV_ZB_COORD) {
                        /* Network steering on a coordinator opens the network for 180 s. */
                        c->permit_until = c->now + 180;
                        bdb_notification(c, 0x00, 0x02, 0x00, delay(c, D_LOCAL));
                } else
                        bdb_notification(c, c->dev_state == DEV_ZB_COORD ? 0x00 : 0x02, mode, 0x00, delay(c, D_LOCAL));
                return;
        }
        default: {
                rpc_error(c, f, RPC_INVALID_COMMAND);
                return;
        }
        }
        rpc_error(c, f, RPC_INVALID_LENGTH);
}

/*
 * ZDO.
 */

static void coordinator_node_descriptor(W *w) {
        w8(w, 0x00);            /* logical type coordinator */
        w8(w, 0x40);            /* 2.4 GHz */
        w8(w, 0x8F);            /* MAC capabilities */
        w16(w, 0x0000);         /* manufacturer code (Texas Instruments) */
        w8(w, 0x50);            /* max buffer size */
        w16(w, 0x00A0);         /* max incoming transfer */
        w16(w, 0x2C41);         /* server mask: primary TC, network manager, stack rev 22 */
        w16(w, 0x00A0);         /* max outgoing transfer */
        w8(w, 0x00);
}

static void zdo_node_desc(SimCoordinator *c, uint16_t dst, uint16_t of_interest) {
        srsp_status(c, SIM_MT_ZDO, 0x02, ST_SUCCESS);
        W w = { 0 };
        if (dst == 0x0000) {
                w16(&w, 0x0000);
                w8(&w, 0);
                w16(&w, 0x0000);
                coordinator_node_descriptor(&w);
                areq(c, SIM_MT_ZDO, 0x82, &w, delay(c, D_LOCAL));
                return;
        }
        int i = node_by_nwk(c, dst);
        if (!node_reachable(c, i))
                return;         /* nobody answers over the air */
        uint8_t nd[13];
        size_t n = sim_plug_node_descriptor(c->nodes[i].plug, nd);
        w16(&w, dst);
        w8(&w, 0);
        w16(&w, of_interest);
        wbytes(&w, nd, n);
        areq(c, SIM_MT_ZDO, 0x82, &w, delay(c, D_ZDO_REMOTE));
}

static void zdo_active_ep(SimCoordinator *c, uint16_t dst, uint16_t of_interest) {
        srsp_status(c, SIM_MT_ZDO, 0x05, ST_SUCCESS);
        W w = { 0 };
        if (dst == 0x0000) {
                w16(&w, 0x0000);
                w8(&w, 0);
                w16(&w, 0x0000);
                w8(&w, (uint8_t) c->n_endpoints);
                for (size_t i = 0; i < c->n_endpoints; i++)
                        w8(&w, c->endpoints[i].ep);
                areq(c, SIM_MT_ZDO, 0x85, &w, delay(c, D_LOCAL));
                return;
        }
        int i = node_by_nwk(c, dst);
        if (!node_reachable(c, i))
                return;
        uint8_t eps[32];
        size_t n = sim_plug_active_endpoints(c->nodes[i].plug, eps, sizeof(eps));
        w16(&w, dst);
        w8(&w, 0);
        w16(&w, of_interest);
        w8(&w, (uint8_t) n);
        wbytes(&w, eps, n);
        areq(c, SIM_MT_ZDO, 0x85, &w, delay(c, D_ZDO_REMOTE));
}

static void zdo_simple_desc(SimCoordinator *c, uint16_t dst, uint16_t of_interest, uint8_t ep) {
        srsp_status(c, SIM_MT_ZDO, 0x04, ST_SUCCESS);
        W w = { 0 };
        if (dst == 0x0000) {
                const Endpoint *e = find_endpoint(c, ep);
                w16(&w, 0x0000);
                if (!e) {
                        w8(&w, 0x83);   /* NOT_ACTIVE */
                        w16(&w, 0x0000);
                        w8(&w, 0);
                } else {
                        W d = { 0 };
                        w8(&d, e->ep);
                        w16(&d, e->profile);
                        w16(&d, e->device);
                        w8(&d, e->version);
                        w8(&d, e->n_in);
                        for (size_t k = 0; k < e->n_in; k++)
                                w16(&d, e->in[k]);
                        w8(&d, e->n_out);
                        for (size_t k = 0; k < e->n_out; k++)
                                w16(&d, e->out[k]);
                        w8(&w, 0);
                        w16(&w, 0x0000);
                        w8(&w, (uint8_t) d.n);
                        wbytes(&w, d.d, d.n);
                }
                areq(c, SIM_MT_ZDO, 0x84, &w, delay(c, D_LOCAL));
                return;
        }
        int i = node_by_nwk(c, dst);
        if (!node_reachable(c, i))
                return;
        uint8_t desc[160];
        int n = sim_plug_simple_descriptor(c->nodes[i].plug, ep, desc, sizeof(desc));
        w16(&w, dst);
        if (n < 0) {
                w8(&w, ep == 0 || ep > 240 ? 0x82 : 0x83);
                w16(&w, of_interest);
                w8(&w, 0);
        } else {
                w8(&w, 0);
                w16(&w, of_interest);
                w8(&w, (uint8_t) n);
                wbytes(&w, desc, (size_t) n);
        }
        areq(c, SIM_MT_ZDO, 0x84, &w, delay(c, D_ZDO_REMOTE));
}

/* NWK/IEEE address responses: no SrcAddr, StartIndex before NumAssocDev. Only sent on success. */
static void addr_rsp(SimCoordinator *c, uint8_t cmd1, uint64_t ieee, uint16_t nwk, uint8_t start, double after) {
        W w = { 0 };
        w8(&w, 0);
        w64(&w, ieee);
        w16(&w, nwk);
        w8(&w, start);
        w8(&w, 0);
        areq(c, SIM_MT_ZDO, cmd1, &w, after);
}

static void leave_indication(SimCoordinator *c, int i, bool rejoin, double after) {
        Node *n = &c->nodes[i];
        W w = { 0 };
        w16(&w, n->nwk);
        w64(&w, n->ieee);
        w8(&w, 0);      /* request: the device tells it left */
        w8(&w, 0);      /* remove children */
        w8(&w, rejoin ? 1 : 0);
        areq(c, SIM_MT_ZDO, 0xC9, &w, after);
        if (!rejoin) {
                addrmgr_remove(c, n->ieee);
                n->joined = false;
                n->joining = false;
        }
}

static void announce(SimCoordinator *c, int i, double after) {
        Node *n = &c->nodes[i];
        W w = { 0 };
        w16(&w, n->nwk);
        w16(&w, n->nwk);
        w64(&w, n->ieee);
        w8(&w, sim_plug_capabilities(n->plug));
        areq(c, SIM_MT_ZDO, 0xC1, &w, after);
}

static void zdo_mgmt_lqi(SimCoordinator *c, uint16_t dst, uint8_t start) {
        srsp_status(c, SIM_MT_ZDO, 0x31, ST_SUCCESS);
        int self = -1;
        if (dst != 0x0000) {
                self = node_by_nwk(c, dst);
                if (!node_reachable(c, self))
                        return;
        }
        /* Everyone is one hop from the coordinator in this network. */
        int list[SIM_MAX_PLUGS + 1];
        size_t total = 0;
        if (self >= 0)
                list[total++] = -1;     /* the coordinator */
        else
                for (unsigned i = 0; i < c->n_nodes; i++)
                        if (node_reachable(c, (int) i))
                                list[total++] = (int) i;
        uint8_t epid[8];
        nib_epid(c, epid);
        W w = { 0 };
        w16(&w, dst);
        w8(&w, 0);
        w8(&w, (uint8_t) (total > 255 ? 255 : total));
        w8(&w, start);
        size_t count = 0;
        for (size_t k = start; k < total && count < 3; k++)
                count++;
        w8(&w, (uint8_t) count);
        for (size_t k = start; k < start + count; k++) {
                wbytes(&w, epid, 8);
                if (list[k] < 0) {
                        w64(&w, c->cfg.ieee);
                        w16(&w, 0x0000);
                        w8(&w, 0x00 | 0x04 | 0x00);     /* coordinator, rx on when idle, parent */
                        w8(&w, 0x02);                   /* permit joining unknown */
                        w8(&w, 0);
                        w8(&w, c->nodes[self].lqi);
                } else {
                        Node *n = &c->nodes[list[k]];
                        w64(&w, n->ieee);
                        w16(&w, n->nwk);
                        w8(&w, 0x01 | 0x04 | 0x10);     /* router, rx on when idle, child */
                        w8(&w, 0x02);
                        w8(&w, 1);
                        w8(&w, n->lqi);
                }
        }
        areq(c, SIM_MT_ZDO, 0xB1, &w, dst == 0 ? delay(c, D_LOCAL) : delay(c, D_ZDO_REMOTE));
}

static void zdo_permit_join(SimCoordinator *c, R *r, bool legacy) {
        uint8_t mode = legacy ? 0x02 : r8(r);
        uint16_t dst = r16(r);
        uint8_t duration = r8(r);
        r8(r);  /* TC significance */
        srsp_status(c, SIM_MT_ZDO, 0x36, ST_SUCCESS);
        bool coordinator = mode == 0x0F || dst == 0x0000 || dst == 0xFFFC || dst == 0xFFFF || dst == 0xFFFD;
        if (coordinator) {
                /* The MT request itself does not raise ZDO_PERMIT_JOIN_IND; expiry does. */
                if (duration == 0)
                        c->permit_until = 0;
                else if (duration == 0xFF)
                        c->permit_until = INFINITY;
                else
                        c->permit_until = c->now + duration;
        }
        if (mode != 0x0F) {
                /* Unicast (or "coordinator only"): the addressed node answers. */
                uint16_t src = (dst == 0xFFFC || dst == 0x0000) ? 0x0000 : dst;
                if (src != 0x0000 && !node_reachable(c, node_by_nwk(c, src)))
                        return;
                W w = { 0 };
                w16(&w, src);
                w8(&w, 0);
                areq(c, SIM_MT_ZDO, 0xB6, &w, src == 0 ? delay(c, D_LOCAL) : delay(c, D_ZDO_REMOTE));
        }
}

static void handle_zdo(SimCoordinator *c, const SimMtFrame *f, R *r) {
        switch (f->cmd1) {
        case 0x00: {    /* NWK_ADDR_REQ */
                uint64_t ieee = r64(r);
                r8(r);
                uint8_t start = r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x00, ST_SUCCESS);
                if (ieee == c->cfg.ieee)
                        addr_rsp(c, 0x80, ieee, 0x0000, start, delay(c, D_LOCAL));
                else {
                        int i = node_by_ieee(c, ieee);
                        if (node_reachable(c, i))
                                addr_rsp(c, 0x80, ieee, c->nodes[i].nwk, start, delay(c, D_ZDO_REMOTE));
                }
                return;
        }
        case 0x01: {    /* IEEE_ADDR_REQ */
                uint16_t nwk = r16(r);
                r8(r);
                uint8_t start = r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x01, ST_SUCCESS);
                if (nwk == 0x0000)
                        addr_rsp(c, 0x81, c->cfg.ieee, 0x0000, start, delay(c, D_LOCAL));
                else {
                        int i = node_by_nwk(c, nwk);
                        if (node_reachable(c, i))
                                addr_rsp(c, 0x81, c->nodes[i].ieee, nwk, start, delay(c, D_ZDO_REMOTE));
                }
                return;
        }
        case 0x02: {
                uint16_t dst = r16(r), of = r16(r);
                if (r->short_read)
                        break;
                zdo_node_desc(c, dst, of);
                return;
        }
        case 0x04: {
                uint16_t dst = r16(r), of = r16(r);
                uint8_t ep = r8(r);
                if (r->short_read)
                        break;
                zdo_simple_desc(c, dst, of, ep);
                return;
        }
        case 0x05: {
                uint16_t dst = r16(r), of = r16(r);
                if (r->short_read)
                        break;
                zdo_active_ep(c, dst, of);
                return;
        }
        case 0x21:      /* BIND_REQ */
        case 0x22: {    /* UNBIND_REQ */
                uint16_t dst = r16(r);
                rbytes(r, 8);
                r8(r);
                r16(r);
                uint8_t mode = r8(r);
                rbytes(r, 8);
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, f->cmd1, ST_SUCCESS);
                int i = node_by_nwk(c, dst);
                if (dst != 0x0000 && !node_reachable(c, i))
                        return;
                W w = { 0 };
                w16(&w, dst);
                w8(&w, mode == 0x01 || mode == 0x03 ? 0x00 : 0x80);
                areq(c, SIM_MT_ZDO, (uint8_t) (0x80 | f->cmd1), &w,
                     dst == 0 ? delay(c, D_LOCAL) : delay(c, D_ZDO_REMOTE));
                return;
        }
        case 0x31: {
                uint16_t dst = r16(r);
                uint8_t start = r8(r);
                if (r->short_read)
                        break;
                zdo_mgmt_lqi(c, dst, start);
                return;
        }
        case 0x32: {    /* MGMT_RTG_REQ: no routes kept (everyone is a neighbour) */
                uint16_t dst = r16(r);
                uint8_t start = r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x32, ST_SUCCESS);
                if (dst != 0x0000 && !node_reachable(c, node_by_nwk(c, dst)))
                        return;
                W w = { 0 };
                w16(&w, dst);
                w8(&w, 0);
                w8(&w, 0);
                w8(&w, start);
                w8(&w, 0);
                areq(c, SIM_MT_ZDO, 0xB2, &w, delay(c, D_ZDO_REMOTE));
                return;
        }
        case 0x34: {    /* MGMT_LEAVE_REQ: flags bit0 = rejoin (MT encoding) */
                uint16_t dst = r16(r);
                uint64_t ieee = r64(r);
                uint8_t flags = r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x34, ST_SUCCESS);
                int i = dst == 0x0000 ? node_by_ieee(c, ieee) : node_by_nwk(c, dst);
                if (!node_reachable(c, i))
                        return;
                W w = { 0 };
                w16(&w, c->nodes[i].nwk);
                w8(&w, 0);
                areq(c, SIM_MT_ZDO, 0xB4, &w, delay(c, D_ZDO_REMOTE));
                bool rejoin = flags & 0x01;
                leave_indication(c, i, rejoin, delay(c, D_ZDO_REMOTE) * 2);
                if (rejoin)
                        announce(c, i, delay(c, D_ANNOUNCE) + delay(c, D_ZDO_REMOTE) * 2);
                return;
        }
        case 0x36: {    /* MGMT_PERMIT_JOIN_REQ; 4 bytes = pre-2.6 layout without AddrMode */
                bool legacy = f->len == 4;
                if (f->len < 4)
                        break;
                zdo_permit_join(c, r, legacy);
                return;
        }
        case 0x37: {    /* MGMT_NWK_UPDATE_REQ */
                uint16_t dst = r16(r);
                r8(r);
                uint32_t mask = r32(r);
                uint8_t scan = r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x37, ST_SUCCESS);
                if (scan == 0xFE && (dst == 0xFFFF || dst == 0xFFFD || dst == 0xFFFC || dst == 0x0000)) {
                        size_t len;
                        uint8_t *nib = sim_nv_get_mut(c->nv, NV_NIB, &len);
                        for (unsigned ch = 11; nib && len == NIB_LEN && ch <= 26; ch++)
                                if (mask & (UINT32_C(1) << ch)) {
                                        nib[NIB_LOGICAL_CHANNEL] = (uint8_t) ch;
                                        nib[NIB_UPDATE_ID]++;
                                        break;
                                }
                }
                return;
        }
        case 0x3E:      /* MSG_CB_REGISTER */
        case 0x3F:      /* MSG_CB_REMOVE */
                r16(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, f->cmd1, ST_SUCCESS);
                return;
        case 0x40: {    /* STARTUP_FROM_APP */
                r16(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x40, ST_SUCCESS);
                if (c->dev_state == DEV_ZB_COORD || c->forming)
                        return;
                if (network_formed(c))
                        resume_network(c);
                else
                        start_formation(c, delay(c, D_LOCAL));
                return;
        }
        case 0x45: {    /* EXT_ROUTE_DISC */
                r16(r);
                r8(r);
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x45, c->dev_state == DEV_ZB_COORD ? ST_SUCCESS : ST_NWK_INVALID_REQUEST);
                return;
        }
        case 0x46: {    /* EXT_ROUTE_CHECK */
                uint16_t dst = r16(r);
                r8(r);
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_ZDO, 0x46, node_reachable(c, node_by_nwk(c, dst)) ? ST_SUCCESS : ST_NWK_NO_ROUTE);
                return;
        }
        case 0x4A: {    /* EXT_FIND_GROUP: always 19 bytes */
                uint8_t ep = r8(r);
                uint16_t id = r16(r);
                if (r->short_read)
                        break;
                W w = { 0 };
                const Group *g = NULL;
                for (size_t i = 0; i < c->n_groups; i++)
                        if (c->groups[i].ep == ep && c->groups[i].id == id)
                                g = &c->groups[i];
                w8(&w, g ? ST_SUCCESS : ST_FAILURE);
                w16(&w, g ? g->id : 0);
                w8(&w, g ? g->name_len : 0);
                uint8_t name[16] = { 0 };
                if (g)
                        memcpy(name, g->name, sizeof(name));
                wbytes(&w, name, 16);
                w8(&w, 0);
                w.n = 19;
                srsp(c, SIM_MT_ZDO, 0x4A, &w);
                return;
        }
        case 0x4B: {    /* EXT_ADD_GROUP */
                uint8_t ep = r8(r);
                uint16_t id = r16(r);
                uint8_t name_len = r8(r);
                const uint8_t *name = rbytes(r, name_len);
                if (r->short_read)
                        break;
                uint8_t st = ST_SUCCESS;
                for (size_t i = 0; i < c->n_groups; i++)
                        if (c->groups[i].ep == ep && c->groups[i].id == id)
                                st = ST_APS_DUPLICATE_ENTRY;
                if (st == ST_SUCCESS && c->n_groups == MAX_GROUPS)
                        st = 0xB2;      /* APS table full */
                if (st == ST_SUCCESS) {
                        Group *g = &c->groups[c->n_groups++];
                        memset(g, 0, sizeof(*g));
                        g->ep = ep;
                        g->id = id;
                        g->name_len = name_len > 16 ? 16 : name_len;
                        if (name_len)
                                memcpy(g->name, name, g->name_len);
                }
                srsp_status(c, SIM_MT_ZDO, 0x4B, st);
                return;
        }
        case 0x50: {    /* EXT_NWK_INFO */
                W w = { 0 };
                bool up = c->dev_state == DEV_ZB_COORD;
                w16(&w, up ? 0x0000 : 0xFFFE);
                w8(&w, c->dev_state);
                w16(&w, up ? nib_pan(c) : 0xFFFF);
                w16(&w, 0x0000);
                uint8_t epid[8] = { 0 };
                if (up)
                        nib_epid(c, epid);
                wbytes(&w, epid, 8);
                uint8_t parent[8] = { 0 };
                wbytes(&w, parent, 8);
                w8(&w, up ? nib_channel(c) : 0);
                srsp(c, SIM_MT_ZDO, 0x50, &w);
                return;
        }
        default: {
                rpc_error(c, f, RPC_INVALID_COMMAND);
                return;
        }
        }
        rpc_error(c, f, RPC_INVALID_LENGTH);
}

/*
 * AF.
 */

static void af_register(SimCoordinator *c, R *r) {
        Endpoint e = { 0 };
        e.ep = r8(r);
        e.profile = r16(r);
        e.device = r16(r);
        e.version = r8(r);
        r8(r);  /* latency */
        e.n_in = r8(r);
        for (size_t i = 0; i < e.n_in; i++) {
                uint16_t v = r16(r);
                if (i < MAX_CLUSTERS)
                        e.in[i] = v;
        }
        e.n_out = r8(r);
        for (size_t i = 0; i < e.n_out; i++) {
                uint16_t v = r16(r);
                if (i < MAX_CLUSTERS)
                        e.out[i] = v;
        }
        if (r->short_read) {
                W w = { 0 };
                w8(&w, RPC_INVALID_LENGTH);
                w8(&w, 0x24);
                w8(&w, 0x00);
                srsp(c, SIM_MT_RPC, 0x00, &w);
                return;
        }
        if (e.n_in > MAX_CLUSTERS || e.n_out > MAX_CLUSTERS || e.ep == 0 || e.ep == 0xFF) {
                srsp_status(c, SIM_MT_AF, 0x00, ST_INVALID_PARAMETER);
                return;
        }
        if (find_endpoint(c, e.ep)) {
                srsp_status(c, SIM_MT_AF, 0x00, ST_APS_DUPLICATE_ENTRY);
                return;
        }
        if (c->n_endpoints == MAX_ENDPOINTS) {
                srsp_status(c, SIM_MT_AF, 0x00, 0x10);  /* memory error */
                return;
        }
        c->endpoints[c->n_endpoints++] = e;
        srsp_status(c, SIM_MT_AF, 0x00, ST_SUCCESS);
}

static void data_confirm(SimCoordinator *c, uint8_t status, uint8_t ep, uint8_t trans, double after) {
        W w = { 0 };
        w8(&w, status);
        w8(&w, ep);
        w8(&w, trans);
        areq(c, SIM_MT_AF, 0x80, &w, after);
}

static void deliver_later(SimCoordinator *c, int node, uint16_t cluster, uint8_t src_ep, uint8_t dst_ep,
                          uint8_t trans, const uint8_t *data, size_t len, bool confirm) {
        Event *e = push_event(c, EV_DELIVER, delay(c, D_CONFIRM));
        if (!e)
                return;
        e->node = node;
        e->cluster = cluster;
        e->a = src_ep;
        e->b = dst_ep;
        e->c = trans;
        e->frame.cmd0 = confirm;        /* reused as a flag: send AF_DATA_CONFIRM */
        e->frame.len = (uint8_t) len;
        memcpy(e->frame.data, data, len);
}

/* One AF data request, whichever MT command carried it. */
static void af_data(SimCoordinator *c, uint8_t cmd1, uint8_t mode, uint16_t dst, uint64_t dst_ieee,
                    uint8_t dst_ep, uint8_t src_ep, uint16_t cluster, uint8_t trans,
                    const uint8_t *data, size_t len) {
        if (c->dev_state != DEV_ZB_COORD) {
                srsp_status(c, SIM_MT_AF, cmd1, ST_NWK_INVALID_REQUEST);
                return;
        }
        if (!find_endpoint(c, src_ep) && src_ep != 0) {
                srsp_status(c, SIM_MT_AF, cmd1, ST_INVALID_PARAMETER);
                return;
        }
        srsp_status(c, SIM_MT_AF, cmd1, ST_SUCCESS);
        bool broadcast = mode == 0x0F || (mode == 0x02 && dst >= 0xFFF8);
        if (mode == 0x01 || broadcast) {
                /* Groups and broadcasts: every plug hears it (the plug filters groups). */
                for (unsigned i = 0; i < c->n_nodes; i++)
                        if (node_reachable(c, (int) i))
                                deliver_later(c, (int) i, cluster, src_ep, mode == 0x01 ? 0xFF : dst_ep,
                                              trans, data, len, false);
                data_confirm(c, ST_SUCCESS, src_ep, trans, delay(c, D_CONFIRM));
                return;
        }
        int i = mode == 0x03 ? node_by_ieee(c, dst_ieee) : node_by_nwk(c, dst);
        if (i >= 0 && !c->nodes[i].joined)
                i = -1;
        if (i < 0) {
                data_confirm(c, ST_NWK_NO_ROUTE, src_ep, trans, delay(c, D_NO_ACK));
                return;
        }
        if (!c->nodes[i].online) {
                data_confirm(c, ST_MAC_NO_ACK, src_ep, trans, delay(c, D_NO_ACK));
                return;
        }
        deliver_later(c, i, cluster, src_ep, dst_ep, trans, data, len, true);
}

static void handle_af(SimCoordinator *c, const SimMtFrame *f, R *r) {
        switch (f->cmd1) {
        case 0x00:
                af_register(c, r);
                return;
        case 0x01:      /* DATA_REQUEST */
        case 0x03: {    /* DATA_REQUEST_SRC_RTG */
                uint16_t dst = r16(r);
                uint8_t dst_ep = r8(r), src_ep = r8(r);
                uint16_t cluster = r16(r);
                uint8_t trans = r8(r);
                r8(r);  /* options */
                r8(r);  /* radius */
                if (f->cmd1 == 0x03) {
                        uint8_t relays = r8(r);
                        rbytes(r, (size_t) relays * 2);
                }
                uint8_t len = r8(r);
                const uint8_t *data = rbytes(r, len);
                if (r->short_read)
                        break;
                af_data(c, f->cmd1, 0x02, dst, 0, dst_ep, src_ep, cluster, trans, data, len);
                return;
        }
        case 0x02: {    /* DATA_REQUEST_EXT */
                uint8_t mode = r8(r);
                const uint8_t *addr = rbytes(r, 8);
                uint8_t dst_ep = r8(r);
                uint16_t pan = r16(r);
                uint8_t src_ep = r8(r);
                uint16_t cluster = r16(r);
                uint8_t trans = r8(r);
                r8(r);
                r8(r);
                uint16_t len = r16(r);
                if (r->short_read)
                        break;
                const uint8_t *data = rbytes(r, len);
                if (r->short_read || len > 230)
                        break;
                if (pan != 0 && pan != nib_pan(c)) {
                        /* Inter-PAN: nobody around on other PANs. */
                        srsp_status(c, SIM_MT_AF, 0x02, ST_SUCCESS);
                        return;
                }
                af_data(c, 0x02, mode, get16(addr), get64(addr), dst_ep, src_ep, cluster, trans, data, len);
                return;
        }
        case 0x04: {    /* DELETE */
                uint8_t ep = r8(r);
                if (r->short_read)
                        break;
                uint8_t st = ST_INVALID_PARAMETER;
                for (size_t i = 0; i < c->n_endpoints; i++)
                        if (c->endpoints[i].ep == ep) {
                                c->endpoints[i] = c->endpoints[--c->n_endpoints];
                                st = ST_SUCCESS;
                                break;
                        }
                srsp_status(c, SIM_MT_AF, 0x04, st);
                return;
        }
        case 0x10:      /* INTER_PAN_CTL */
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_AF, 0x10, ST_SUCCESS);
                return;
        case 0x12: {    /* DATA_RETRIEVE: nothing is ever buffered here */
                r32(r);
                r16(r);
                r8(r);
                if (r->short_read)
                        break;
                W w = { 0 };
                w8(&w, ST_INVALID_PARAMETER);
                w8(&w, 0);
                srsp(c, SIM_MT_AF, 0x12, &w);
                return;
        }
        default: {
                rpc_error(c, f, RPC_INVALID_COMMAND);
                return;
        }
        }
        rpc_error(c, f, RPC_INVALID_LENGTH);
}

/*
 * UTIL.
 */

static void assoc_entry(SimCoordinator *c, W *w, int i) {
        /* associated_devices_t, aligned (CC26xx): 36 bytes. */
        uint8_t e[36];
        memset(e, 0, sizeof(e));
        if (i < 0) {
                le16(e, 0xFFFE);
                le16(e + 2, 0xFFFF);
                e[4] = 0xFF;
        } else {
                le16(e, c->nodes[i].nwk);
                le16(e + 2, (uint16_t) addrmgr_find(c, c->nodes[i].ieee));
                e[4] = 4;       /* CHILD_FFD_RX_IDLE */
                e[5] = 1;       /* devStatus */
                e[10] = c->nodes[i].lqi;
        }
        wbytes(w, e, sizeof(e));
}

static void handle_util(SimCoordinator *c, const SimMtFrame *f, R *r) {
        switch (f->cmd1) {
        case 0x00: {    /* GET_DEVICE_INFO */
                W w = { 0 };
                bool up = c->dev_state == DEV_ZB_COORD;
                w8(&w, ST_SUCCESS);
                w64(&w, c->cfg.ieee);
                w16(&w, up ? 0x0000 : 0xFFFE);
                w8(&w, 0x07);
                w8(&w, c->dev_state);
                uint16_t list[SIM_MAX_PLUGS];
                size_t n = 0;
                for (unsigned i = 0; up && i < c->n_nodes; i++)
                        if (c->nodes[i].joined && n < (SIM_MT_MAX_DATA - 14) / 2)
                                list[n++] = c->nodes[i].nwk;
                w8(&w, (uint8_t) n);
                for (size_t k = 0; k < n; k++)
                        w16(&w, list[k]);
                srsp(c, SIM_MT_UTIL, 0x00, &w);
                return;
        }
        case 0x01: {    /* GET_NV_INFO */
                W w = { 0 };
                size_t len;
                const uint8_t *v;
                w8(&w, ST_SUCCESS);
                w64(&w, c->cfg.ieee);
                v = sim_nv_get(c->nv, NV_CHANLIST, &len);
                w32(&w, v && len >= 4 ? get32(v) : 0);
                v = sim_nv_get(c->nv, NV_PANID, &len);
                w16(&w, v && len >= 2 ? get16(v) : 0xFFFF);
                w8(&w, 5);
                v = sim_nv_get(c->nv, NV_PRECFGKEY, &len);
                if (v && len >= 16)
                        wbytes(&w, v, 16);
                else
                        wbytes(&w, default_nwk_key, 16);
                srsp(c, SIM_MT_UTIL, 0x01, &w);
                return;
        }
        case 0x0A:      /* LED_CONTROL */
                r8(r);
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_UTIL, 0x0A, ST_SUCCESS);
                return;
        case 0x40: {    /* ADDRMGR_EXT_ADDR_LOOKUP */
                uint64_t ieee = r64(r);
                if (r->short_read)
                        break;
                int i = node_by_ieee(c, ieee);
                W w = { 0 };
                w16(&w, ieee == c->cfg.ieee ? 0x0000 : (i >= 0 && c->nodes[i].joined) ? c->nodes[i].nwk : 0xFFFE);
                srsp(c, SIM_MT_UTIL, 0x40, &w);
                return;
        }
        case 0x41: {    /* ADDRMGR_NWK_ADDR_LOOKUP */
                uint16_t nwk = r16(r);
                if (r->short_read)
                        break;
                int i = node_by_nwk(c, nwk);
                W w = { 0 };
                w64(&w, nwk == 0 ? c->cfg.ieee : i >= 0 ? c->nodes[i].ieee : 0);
                srsp(c, SIM_MT_UTIL, 0x41, &w);
                return;
        }
        case 0x48: {    /* ASSOC_COUNT */
                r8(r);
                r8(r);
                if (r->short_read)
                        break;
                uint16_t n = 0;
                for (unsigned i = 0; i < c->n_nodes; i++)
                        n += c->nodes[i].joined;
                W w = { 0 };
                w16(&w, n);
                srsp(c, SIM_MT_UTIL, 0x48, &w);
                return;
        }
        case 0x49: {    /* ASSOC_FIND_DEVICE(index) */
                uint8_t index = r8(r);
                if (r->short_read)
                        break;
                int found = -1;
                unsigned k = 0;
                for (unsigned i = 0; i < c->n_nodes; i++)
                        if (c->nodes[i].joined && k++ == index) {
                                found = (int) i;
                                break;
                        }
                W w = { 0 };
                assoc_entry(c, &w, found);
                srsp(c, SIM_MT_UTIL, 0x49, &w);
                return;
        }
        case 0x4A: {    /* ASSOC_GET_WITH_ADDRESS */
                uint64_t ieee = r64(r);
                uint16_t nwk = r16(r);
                if (r->short_read)
                        break;
                int i = ieee ? node_by_ieee(c, ieee) : node_by_nwk(c, nwk);
                if (i >= 0 && !c->nodes[i].joined)
                        i = -1;
                W w = { 0 };
                assoc_entry(c, &w, i);
                srsp(c, SIM_MT_UTIL, 0x4A, &w);
                return;
        }
        case 0x63:      /* ASSOC_REMOVE */
                rbytes(r, 8);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_UTIL, 0x63, ST_SUCCESS);
                return;
        case 0x64:      /* ASSOC_ADD */
                rbytes(r, 8);
                r16(r);
                r8(r);
                if (r->short_read)
                        break;
                srsp_status(c, SIM_MT_UTIL, 0x64, ST_SUCCESS);
                return;
        default: {
                rpc_error(c, f, RPC_INVALID_COMMAND);
                return;
        }
        }
        rpc_error(c, f, RPC_INVALID_LENGTH);
}

/*
 * Dispatch.
 */

static void on_frame(const SimMtFrame *f, void *userdata) {
        SimCoordinator *c = userdata;
        remember(c, f, true);
        if (c->resetting)
                return;         /* rebooting: the UART is not listening */
        uint8_t type = sim_mt_type(f), sub = sim_mt_subsystem(f);
        R r = { .d = f->data, .n = f->len };
        if (type == SIM_MT_AREQ) {
                if (sub == SIM_MT_SYS && f->cmd1 == 0x00) {
                        uint8_t t = r8(&r);
                        start_reset(c, t == 0 ? 0x02 : 0x00);
                }
                return;
        }
        if (type != SIM_MT_SREQ)
                return;
        switch (sub) {
        case SIM_MT_SYS:
                handle_sys(c, f, &r);
                break;
        case SIM_MT_AF:
                handle_af(c, f, &r);
                break;
        case SIM_MT_ZDO:
                handle_zdo(c, f, &r);
                break;
        case SIM_MT_UTIL:
                handle_util(c, f, &r);
                break;
        case SIM_MT_APP_CNF:
                handle_app_cnf(c, f, &r);
                break;
        case SIM_MT_GP: {
                rpc_error(c, f, RPC_INVALID_COMMAND);
                break;
        }
        default: {
                rpc_error(c, f, RPC_INVALID_SUBSYSTEM);
                break;
        }
        }
        save_nv(c);
}

void sim_coordinator_feed(SimCoordinator *c, const uint8_t *bytes, size_t len, double now) {
        if (now > c->now)
                c->now = now;
        sim_mt_parser_feed(&c->parser, bytes, len, on_frame, c);
        sim_coordinator_run(c, now);
}

static void run_event(SimCoordinator *c, Event *e) {
        switch (e->kind) {
        case EV_FRAME:
                emit(c, &e->frame);
                break;
        case EV_RESET_DONE:
                finish_reset(c, e->a);
                save_nv(c);
                break;
        case EV_FORM:
                formation_step(c, e->a);
                save_nv(c);
                break;
        case EV_DELIVER: {
                if (!node_reachable(c, e->node))
                        break;
                if (e->frame.cmd0)
                        data_confirm(c, ST_SUCCESS, e->a, e->c, 0);
                sim_plug_receive(c->nodes[e->node].plug, e->cluster, e->a, e->b, e->frame.data, e->frame.len);
                break;
        }
        case EV_TC_DEV_IND: {
                Node *n = &c->nodes[e->node];
                if (!n->joining)
                        break;
                if (addrmgr_add(c, n->ieee, n->nwk) < 0) {
                        fprintf(stderr, "lumiplug-sim: address manager full, plug %d cannot join\n", e->node + 1);
                        n->joining = false;
                        break;
                }
                n->joining = false;
                n->joined = true;
                W w = { 0 };
                w16(&w, n->nwk);
                w64(&w, n->ieee);
                w16(&w, 0x0000);
                areq(c, SIM_MT_ZDO, 0xCA, &w, 0);
                Event *a = push_event(c, EV_ANNOUNCE, delay(c, D_ANNOUNCE));
                if (a)
                        a->node = e->node;
                save_nv(c);
                break;
        }
        case EV_ANNOUNCE:
                if (node_reachable(c, e->node))
                        announce(c, e->node, 0);
                break;
        }
}

void sim_coordinator_run(SimCoordinator *c, double now) {
        if (now > c->now)
                c->now = now;
        for (;;) {
                size_t best = SIZE_MAX;
                for (size_t i = 0; i < c->n_events; i++)
                        if (c->events[i].due <= c->now &&
                            (best == SIZE_MAX || c->events[i].due < c->events[best].due ||
                             (c->events[i].due == c->events[best].due && c->events[i].seq < c->events[best].seq)))
                                best = i;
                if (best == SIZE_MAX)
                        break;
                Event e = c->events[best];
                memmove(&c->events[best], &c->events[best + 1], (c->n_events - best - 1) * sizeof(Event));
                c->n_events--;
                run_event(c, &e);
        }
        if (c->permit_until > 0 && isfinite(c->permit_until) && c->now >= c->permit_until && !c->resetting) {
                c->permit_until = 0;
                W w = { 0 };
                w8(&w, 0);
                send_frame(c, SIM_MT_AREQ, SIM_MT_ZDO, 0xCB, &w, 0);
                sim_coordinator_run(c, now);
                return;
        }
        if (c->now >= c->next_tick) {
                c->next_tick = c->now + 0.1;
                for (unsigned i = 0; i < c->n_nodes; i++)
                        sim_plug_tick(c->nodes[i].plug, c->now, c->nodes[i].joined);
                if (c->n_events > 0)
                        sim_coordinator_run(c, now);
        }
}

double sim_coordinator_next_due(const SimCoordinator *c) {
        double t = c->n_nodes > 0 ? c->next_tick : INFINITY;
        for (size_t i = 0; i < c->n_events; i++)
                if (c->events[i].due < t)
                        t = c->events[i].due;
        if (c->permit_until > 0 && c->permit_until < t)
                t = c->permit_until;
        return t;
}

/*
 * Control commands.
 */

static int plug_arg(SimCoordinator *c, const char *arg, char *out, size_t size) {
        char *end;
        long n = arg ? strtol(arg, &end, 10) : 0;
        if (!arg || end == arg || (*end != 0 && *end != ' ') || n < 1 || n > (long) c->n_nodes) {
                snprintf(out, size, "error plug number must be 1..%u", c->n_nodes);
                return -1;
        }
        return (int) n - 1;
}

static void dump_nv(SimCoordinator *c, char *out, size_t size) {
        size_t o = (size_t) snprintf(out, size, "ok");
        static const uint16_t ids[] = { NV_EXTADDR, NV_STARTUP_OPTION, NV_NIB, NV_EXTENDED_PAN_ID,
                                        NV_NWK_ACTIVE_KEY_INFO, NV_APS_USE_EXT_PANID, NV_BDBNODEISONANETWORK,
                                        0x0060, NV_PRECFGKEY, NV_NWKKEY, NV_PANID, NV_CHANLIST };
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]) && o < size; i++) {
                size_t len;
                const uint8_t *v = sim_nv_get(c->nv, ids[i], &len);
                if (!v)
                        continue;
                o += (size_t) snprintf(out + o, size - o, " %04x=", ids[i]);
                for (size_t k = 0; k < len && o + 3 < size; k++)
                        o += (size_t) snprintf(out + o, size - o, "%02x", v[k]);
        }
}

static void write_garbage(SimCoordinator *c) {
        /* Line noise without SOF, a complete frame with a wrong FCS, and a lone 0xEF: a host that
         * resynchronises loses nothing else. */
        static const uint8_t noise[] = { 0x5F, 0x1B, 0x25, 0x00, 0xEF, 0x13,
                                         0xFE, 0x03, 0x45, 0xC4, 0xD4, 0x17, 0x00, 0x42,
                                         0x7E, 0x11 };
        c->ops.write(noise, sizeof(noise), c->userdata);
}

int sim_coordinator_control(SimCoordinator *c, const char *line, char *out, size_t size, double now) {
        if (now > c->now)
                c->now = now;
        char cmd[32] = "";
        const char *arg = NULL;
        size_t k = strcspn(line, " \t\r\n");
        if (k == 0 || k >= sizeof(cmd)) {
                snprintf(out, size, "error empty or unknown command");
                return -EINVAL;
        }
        memcpy(cmd, line, k);
        cmd[k] = 0;
        arg = line + k;
        while (*arg == ' ' || *arg == '\t')
                arg++;
        if (*arg == 0 || *arg == '\r' || *arg == '\n')
                arg = NULL;

        int r = 0;
        if (strcmp(cmd, "press") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                Node *n = &c->nodes[i];
                if (n->joined) {
                        sim_plug_toggle_button(n->plug);
                        snprintf(out, size, "ok toggled");
                } else if (n->joining) {
                        snprintf(out, size, "ok joining");
                } else if (!n->online) {
                        snprintf(out, size, "error plug %d is out of range", i + 1);
                        r = -EINVAL;
                } else if (c->dev_state != DEV_ZB_COORD || c->permit_until <= c->now) {
                        snprintf(out, size, "error permit join is closed");
                        r = -EINVAL;
                } else {
                        n->joining = true;
                        n->nwk = pick_nwk(c, n->ieee);
                        Event *e = push_event(c, EV_TC_DEV_IND, delay(c, D_TC_DEV));
                        if (e)
                                e->node = i;
                        snprintf(out, size, "ok joining 0x%04x", n->nwk);
                }
        } else if (strcmp(cmd, "model") == 0) {
                /* model N MODELID [MANUFACTURER...]: plug N becomes another product (its Basic
                 * modelId/manufacturerName), before it joins, as a device is what it is. */
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                char model[64] = "";
                const char *m = strchr(arg, ' ');
                while (m && *m == ' ')
                        m++;
                size_t mlen = m ? strcspn(m, " \r\n") : 0;
                const char *mfr = m ? m + mlen : NULL;
                while (mfr && *mfr == ' ')
                        mfr++;
                if (mlen == 0 || mlen >= sizeof(model)) {
                        snprintf(out, size, "error model needs: model N MODELID [MANUFACTURER]");
                        return -EINVAL;
                }
                memcpy(model, m, mlen);
                char manufacturer[64] = "";
                size_t flen = mfr ? strcspn(mfr, "\r\n") : 0;
                while (flen > 0 && mfr[flen - 1] == ' ')
                        flen--;
                if (flen >= sizeof(manufacturer)) {
                        snprintf(out, size, "error manufacturer name longer than 32 characters");
                        return -EINVAL;
                }
                if (flen > 0)
                        memcpy(manufacturer, mfr, flen);
                if (c->nodes[i].joined || c->nodes[i].joining) {
                        snprintf(out, size, "error plug %d is already on the network", i + 1);
                        return -EINVAL;
                }
                if (sim_plug_set_identity(c->nodes[i].plug, model, flen > 0 ? manufacturer : NULL) < 0) {
                        snprintf(out, size, "error model and manufacturer must be 1..32 printable characters "
                                 "without '\"' or '\\'");
                        return -EINVAL;
                }
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "leave") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                if (!c->nodes[i].joined) {
                        snprintf(out, size, "error plug %d is not joined", i + 1);
                        return -EINVAL;
                }
                if (c->nodes[i].online && c->dev_state == DEV_ZB_COORD)
                        leave_indication(c, i, false, delay(c, D_AIR));
                else {
                        addrmgr_remove(c, c->nodes[i].ieee);
                        c->nodes[i].joined = false;
                }
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "offline") == 0 || strcmp(cmd, "online") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                c->nodes[i].online = cmd[1] == 'n';
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "load") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                const char *w = strchr(arg, ' ');
                char *end;
                double watts = w ? strtod(w, &end) : NAN;
                if (!w || end == w || !isfinite(watts) || watts < 0 || watts > 10000) {
                        snprintf(out, size, "error load needs watts 0..10000");
                        return -EINVAL;
                }
                sim_plug_set_load(c->nodes[i].plug, watts);
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "report") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                sim_plug_report_now(c->nodes[i].plug);
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "powercycle") == 0) {
                /* powercycle N [lose-settings]: mains off and on; with lose-settings the plug boots
                 * with its factory settings (as after a firmware update that wiped them) */
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                const char *opt = strchr(arg, ' ');
                while (opt && *opt == ' ')
                        opt++;
                if (opt && *opt && strcmp(opt, "lose-settings") != 0) {
                        snprintf(out, size, "error powercycle needs: powercycle N [lose-settings]");
                        return -EINVAL;
                }
                if (opt && *opt)
                        sim_plug_forget_settings(c->nodes[i].plug);
                sim_plug_power_cycle(c->nodes[i].plug);
                /* A router that comes back announces itself again. */
                if (node_reachable(c, i) && c->dev_state == DEV_ZB_COORD)
                        announce(c, i, delay(c, D_ANNOUNCE));
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "ota") == 0) {
                /* ota N: the OTA client's state; ota N KEY VALUE: a setting (sim-ota.h) */
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                SimOta *o = sim_plug_ota(c->nodes[i].plug);
                const char *kv = strchr(arg, ' ');
                while (kv && *kv == ' ')
                        kv++;
                if (kv && *kv) {
                        char key[32];
                        double v;
                        if (sscanf(kv, "%31s %lf", key, &v) != 2 || sim_ota_set(o, key, v) < 0) {
                                snprintf(out, size, "error ota needs: ota N [max_data_size 1..255 | request_delay SEC | "
                                         "page_size BYTES | timeout SEC | stall 0|1]");
                                return -EINVAL;
                        }
                }
                char json[1024];
                if (sim_ota_state_json(o, json, sizeof(json)) < 0) {
                        snprintf(out, size, "error state does not fit");
                        return -ENOBUFS;
                }
                snprintf(out, size, "ok %s", json);
        } else if (strcmp(cmd, "energyreset") == 0 || strcmp(cmd, "energyset") == 0) {
                /* energyreset N: the plug's energy counter restarts from 0 (what users see after a
                 * firmware update); energyset N KWH: the counter reads KWH (a plug that has counted
                 * for years). The next TLV report carries the new value. */
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                if (cmd[6] == 's') {
                        const char *w = strchr(arg, ' ');
                        char *end;
                        double kwh = w ? strtod(w, &end) : NAN;
                        if (!w || end == w || !isfinite(kwh) || kwh < 0 || kwh > 1e6) {
                                snprintf(out, size, "error energyset needs kWh 0..1000000");
                                return -EINVAL;
                        }
                        sim_plug_set_energy(c->nodes[i].plug, kwh);
                } else
                        sim_plug_reset_energy(c->nodes[i].plug);
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "autooff") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                const char *w = strchr(arg, ' ');
                sim_plug_set_auto_off_delay(c->nodes[i].plug, w ? strtod(w, NULL) : 0);
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "state") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                char json[4096];
                int n = sim_plug_state_json(c->nodes[i].plug, json, sizeof(json));
                if (n < 0) {
                        snprintf(out, size, "error state does not fit");
                        return -ENOBUFS;
                }
                snprintf(out, size, "ok %s", json);
        } else if (strcmp(cmd, "plug") == 0) {
                int i = plug_arg(c, arg, out, size);
                if (i < 0)
                        return -EINVAL;
                Node *n = &c->nodes[i];
                snprintf(out, size, "ok {\"number\":%d,\"ieee\":\"0x%016llx\",\"nwk\":%u,\"joined\":%s,\"online\":%s,\"lqi\":%u}",
                         i + 1, (unsigned long long) n->ieee, n->nwk, n->joined ? "true" : "false",
                         n->online ? "true" : "false", n->lqi);
        } else if (strcmp(cmd, "reset") == 0) {
                start_reset(c, 0x00);
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "garbage") == 0) {
                write_garbage(c);
                snprintf(out, size, "ok");
        } else if (strcmp(cmd, "frames") == 0) {
                size_t o = (size_t) snprintf(out, size, "ok [");
                bool first = true;
                for (size_t j = 0; j < FRAME_RING && o + 4 < size; j++) {
                        const char *s = c->ring[(c->ring_next + j) % FRAME_RING];
                        if (!s)
                                continue;
                        o += (size_t) snprintf(out + o, size - o, "%s\"%s\"", first ? "" : ",", s);
                        first = false;
                }
                if (o + 2 < size)
                        snprintf(out + o, size - o, "]");
        } else if (strcmp(cmd, "info") == 0) {
                uint8_t epid[8];
                nib_epid(c, epid);
                snprintf(out, size, "ok {\"state\":%u,\"pan\":%u,\"channel\":%u,\"epid\":\"%02x%02x%02x%02x%02x%02x%02x%02x\","
                         "\"permit_join\":%s,\"plugs\":%u,\"frames_in\":%lu,\"frames_out\":%lu,\"bad_fcs\":%lu,\"endpoints\":%zu}",
                         c->dev_state, nib_pan(c), nib_channel(c), epid[7], epid[6], epid[5], epid[4], epid[3],
                         epid[2], epid[1], epid[0], c->permit_until > c->now ? "true" : "false", c->n_nodes,
                         c->frames_in, c->frames_out, c->parser.bad_fcs, c->n_endpoints);
        } else if (strcmp(cmd, "nvdump") == 0) {
                dump_nv(c, out, size);
        } else {
                snprintf(out, size, "error unknown command '%s'", cmd);
                return -EINVAL;
        }
        save_nv(c);
        return r;
}

/*
 * Life cycle.
 */

int sim_coordinator_new(SimCoordinator **ret, const SimCoordinatorConfig *cfg,
                        const SimCoordinatorOps *ops, void *userdata, double now) {
        if (cfg->n_plugs > SIM_MAX_PLUGS)
                return -E2BIG;
        SimCoordinator *c = calloc(1, sizeof(SimCoordinator));
        if (!c)
                return -ENOMEM;
        c->cfg = *cfg;
        if (c->cfg.code_revision == 0)
                c->cfg.code_revision = 20240710;
        if (c->cfg.report_interval_s <= 0)
                c->cfg.report_interval_s = 300;
        c->ops = *ops;
        c->userdata = userdata;
        c->now = now;
        c->next_tick = now;
        c->nv = sim_nv_new();
        if (!c->nv) {
                free(c);
                return -ENOMEM;
        }
        if (cfg->nv_path) {
                c->nv_path = strdup(cfg->nv_path);
                unsigned bad = 0;
                int r = c->nv_path ? sim_nv_load(c->nv, cfg->nv_path, &bad) : -ENOMEM;
                if (r < 0 && r != -ENOENT) {
                        if (r == -EBADMSG)
                                fprintf(stderr, "lumiplug-sim: %s line %u is not an NV item\n", cfg->nv_path, bad);
                        sim_coordinator_free(c);
                        return r;
                }
                size_t len;
                const uint8_t *ext = sim_nv_get(c->nv, NV_EXTADDR, &len);
                if (ext && len == 8)
                        c->cfg.ieee = get64(ext);       /* the stick keeps its address */
        }
        c->n_nodes = cfg->n_plugs;
        for (unsigned i = 0; i < c->n_nodes; i++) {
                SimPlugConfig pc = {
                        .ieee = sim_plug_number_ieee(i + 1),
                        .report_interval_s = c->cfg.report_interval_s,
                        .app_version = 22,
                };
                c->nodes[i].plug = sim_plug_new(&pc, &plug_ops, c);
                if (!c->nodes[i].plug) {
                        sim_coordinator_free(c);
                        return -ENOMEM;
                }
                c->nodes[i].ieee = pc.ieee;
                c->nodes[i].online = true;
                c->nodes[i].lqi = (uint8_t) (120 + (i * 37) % 120);
        }
        ensure_defaults(c);
        for (unsigned i = 0; i < c->n_nodes; i++) {
                int idx = addrmgr_find(c, c->nodes[i].ieee);
                if (idx >= 0) {
                        c->nodes[i].joined = true;
                        c->nodes[i].nwk = get16(sim_nv_ext_get(c->nv, EX_SYS, EX_ADDRMGR, (uint16_t) idx, NULL) + 2);
                }
        }
        c->dev_state = DEV_HOLD;
        save_nv(c);
        *ret = c;
        return 0;
}

SimCoordinator *sim_coordinator_free(SimCoordinator *c) {
        if (!c)
                return NULL;
        save_nv(c);
        for (unsigned i = 0; i < c->n_nodes; i++)
                sim_plug_free(c->nodes[i].plug);
        for (size_t i = 0; i < FRAME_RING; i++)
                free(c->ring[i]);
        sim_nv_free(c->nv);
        free(c->nv_path);
        free(c->events);
        free(c);
        return NULL;
}

uint8_t sim_coordinator_device_state(const SimCoordinator *c) {
        return c->dev_state;
}

bool sim_coordinator_plug_joined(const SimCoordinator *c, unsigned n) {
        return n >= 1 && n <= c->n_nodes && c->nodes[n - 1].joined;
}

uint16_t sim_coordinator_plug_nwk(const SimCoordinator *c, unsigned n) {
        return n >= 1 && n <= c->n_nodes ? c->nodes[n - 1].nwk : 0xFFFE;
}
