/*
 * Z-Stack coordinator start-up: version, NV, adopt or form, resume, endpoints, GP group.
 * Each step consumes the answer of the previous one and issues exactly one request (or one
 * request plus the AREQ it triggers); answers come back through on_srsp()/on_areq().
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/macro.h"
#include "znp/zstack.h"

#define USEC_PER_SEC 1000000ULL

/* zigbee-herdsman's timeouts (znp.ts, manager.ts). */
#define LONG_SREQ_TIMEOUT_USEC          (40 * USEC_PER_SEC)     /* STARTUP_FROM_APP, BDB commissioning */
#define FORMATION_TIMEOUT_USEC          (100 * USEC_PER_SEC)
#define STARTUP_TIMEOUT_USEC            (60 * USEC_PER_SEC)
#define RESET_TIMEOUT_USEC              (30 * USEC_PER_SEC)
#define AREQ_TIMEOUT_USEC               (10 * USEC_PER_SEC)
#define NIB_POLL_INTERVAL_USEC          (3 * USEC_PER_SEC)
#define NIB_POLLS_MAX                   10

/* MT commands used here (subsystem, cmd1). */
#define SYS_RESET_REQ           0x00
#define SYS_VERSION             0x02
#define SYS_GET_EXTADDR         0x04
#define SYS_OSAL_NV_ITEM_INIT   0x07
#define SYS_OSAL_NV_DELETE      0x12
#define SYS_OSAL_NV_LENGTH      0x13
#define SYS_OSAL_NV_READ_EXT    0x1C
#define SYS_OSAL_NV_WRITE_EXT   0x1D
#define SYS_RESET_IND           0x80
#define AF_REGISTER             0x00
#define ZDO_ACTIVE_EP_REQ       0x05
#define ZDO_STARTUP_FROM_APP    0x40
#define ZDO_EXT_FIND_GROUP      0x4A
#define ZDO_EXT_ADD_GROUP       0x4B
#define ZDO_ACTIVE_EP_RSP       0x85
#define ZDO_STATE_CHANGE_IND    0xC0
#define UTIL_GET_DEVICE_INFO    0x00
#define APP_CNF_BDB_START_COMMISSIONING 0x05
#define APP_CNF_BDB_SET_CHANNEL 0x08

/* NV items (OSAL ids). */
#define NV_STARTUP_OPTION       0x0003
#define NV_NIB                  0x0021
#define NV_EXTENDED_PAN_ID      0x002D
#define NV_NWK_ACTIVE_KEY_INFO  0x003A
#define NV_APS_USE_EXT_PANID    0x0047
#define NV_HAS_CONFIGURED_3     0x0060
#define NV_PRECFGKEY            0x0062
#define NV_PRECFGKEYS_ENABLE    0x0063
#define NV_NWKKEY               0x0082
#define NV_PANID                0x0083
#define NV_CHANLIST             0x0084
#define NV_LOGICAL_TYPE         0x0087
#define NV_ZDO_DIRECT_CB        0x008F

#define HAS_CONFIGURED_MAGIC    0x55
#define EXT_PAN_ID_USE_IEEE     UINT64_C(0xDDDDDDDDDDDDDDDD)
#define NWKKEY_UNALIGNED_LEN    21
#define NIB_UNALIGNED_LEN       110
#define NIB_ALIGNED_LEN         116
#define DEV_ZB_COORD            9
#define STATUS_NV_ITEM_UNINIT   0x09
#define STATUS_APS_DUPLICATE    0xB8
#define NV_WRITE_CHUNK          (MT_DATA_MAX - 6)       /* OSAL_NV_WRITE_EXT: 6 header bytes + value */

/* The key every Zigbee tutorial shows (Z-Stack's DEFAULT_KEY); a generated key must never be it. */
static const uint8_t well_known_key[16] = {
        0x01, 0x03, 0x05, 0x07, 0x09, 0x0B, 0x0D, 0x0F, 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0D,
};

/* The endpoints a Zigbee2MQTT (zigbee-herdsman) coordinator registers, adapter/endpoints.ts. */
typedef struct Endpoint {
        uint8_t endpoint;
        uint16_t profile;
        uint16_t device_id;
        uint8_t n_in, n_out;
        uint16_t in[2], out[2];
} Endpoint;

static const Endpoint endpoints[] = {
        { .endpoint = 1, .profile = 0x0104, .device_id = 0x0005 },
        { .endpoint = 2, .profile = 0x0101, .device_id = 0x0005 },
        { .endpoint = 3, .profile = 0x0104, .device_id = 0x0005 },
        { .endpoint = 4, .profile = 0x0107, .device_id = 0x0005 },
        { .endpoint = 5, .profile = 0x0108, .device_id = 0x0005 },
        { .endpoint = 6, .profile = 0x0109, .device_id = 0x0005 },
        { .endpoint = 8, .profile = 0x0104, .device_id = 0x0005 },
        { .endpoint = 10, .profile = 0x0104, .device_id = 0x0005 },
        { .endpoint = 11, .profile = 0x0104, .device_id = 0x0400, .n_in = 2, .in = { 0x0501, 0x000A },
          .n_out = 2, .out = { 0x0500, 0x0502 } },  /* IAS ACE, Time / IAS Zone, WD */
        { .endpoint = 110, .profile = 0x0104, .device_id = 0x0005 },
        { .endpoint = 12, .profile = 0xC05E, .device_id = 0x0005 },
        { .endpoint = 13, .profile = 0x0104, .device_id = 0x0005, .n_in = 1, .in = { 0x0019 } },     /* OTA */
        { .endpoint = 47, .profile = 0x0104, .device_id = 0x0005 },
        { .endpoint = 239, .profile = 0xC001, .device_id = 0x0005 },
        { .endpoint = ZSTACK_GP_ENDPOINT, .profile = 0xA1E0, .device_id = 0x0005 },
};

typedef enum Step {
        S_IDLE,
        S_GOT_VERSION,
        S_GOT_EXTADDR,
        S_GOT_NWKKEY_LENGTH,
        S_GOT_HAS_CONFIGURED,
        S_GOT_NIB,
        S_GOT_ACTIVE_KEY,
        S_GOT_PRECFGKEY,
        /* formation */
        S_CLEARED_NIB,
        S_WROTE_CLEAR_OPTION,
        S_RESET_DONE,
        S_WROTE_NV,
        S_SET_PRIMARY_CHANNEL,
        S_SET_SECONDARY_CHANNEL,
        S_COMMISSIONING_SRSP,
        S_COMMISSIONED,
        S_POLLED_NIB,
        S_WROTE_HAS_CONFIGURED,
        /* resume */
        S_GOT_DEVICE_INFO,
        S_STARTUP_SRSP,
        S_STARTED,
        /* endpoints and group */
        S_GOT_ACTIVE_EP_SRSP,
        S_GOT_ACTIVE_EPS,
        S_REGISTERED_ENDPOINT,
        S_FOUND_GROUP,
        S_ADDED_GROUP,
        S_GOT_FINAL_NIB,
        /* NV sub-steps: return to nv.then */
        S_NV_READ_LENGTH,
        S_NV_READ_CHUNK,
        S_NV_WRITE_LENGTH,
        S_NV_WRITE_INIT,
        S_NV_WRITE_CHUNK,
        S_NV_DELETE_LENGTH,
        S_NV_DELETE,
        /* waiting for an AREQ after its SRSP */
        S_WAIT_AREQ,
        S_WAIT_TIMER,
        S_DONE,
} Step;

typedef struct NvItem {
        uint16_t id;
        uint8_t len;
        uint8_t data[16];
} NvItem;

struct Zstack {
        Znp *znp;
        ZstackConfig cfg;
        ZstackStartFn cb;
        void *userdata;

        Step step;                      /* what to do with the next answer */
        uint32_t req_id, wait_id;
        sd_event_source *timer;
        MtFrame last;                   /* the answer step() consumes */

        /* a request whose AREQ must also arrive before going on to after_areq */
        bool srsp_seen, areq_seen;
        Step after_areq;
        MtFrame areq;
        const char *areq_timeout_message;

        struct {
                uint16_t id;
                uint8_t data[256];
                size_t len, off;
                Step then;
                bool optional;          /* a failed read yields an empty item instead of an error */
        } nv;

        bool aligned, aligned_known;
        bool configured;
        bool nib_valid;
        ZstackNib nib;
        uint8_t active_key[16];
        bool have_active_key;

        /* formation parameters */
        uint16_t pan_id;
        uint64_t ext_pan_id;
        uint8_t key[16];
        uint8_t channel;
        NvItem writes[10];
        size_t n_writes, write_index;
        unsigned nib_polls;

        uint8_t active_eps[256];
        size_t n_active_eps;
        size_t ep_index;

        ZstackInfo info;
        char error[256];
        const char *cmd;                /* the MT command the start-up is at (a static name), NULL none */
        const char *areq_cmd;           /* the indication expect_areq() waits for */
        const char *error_cmd;          /* cmd when the start-up failed */
};

static void step(Zstack *z);

const char *zstack_error_message(const Zstack *z) {
        return z->error[0] ? z->error : "no error";
}

const char *zstack_error_command(const Zstack *z) {
        return z->error[0] ? z->error_cmd : NULL;
}

static void cancel_pending(Zstack *z) {
        znp_cancel(z->znp, z->req_id);
        znp_cancel(z->znp, z->wait_id);
        z->req_id = z->wait_id = 0;
        z->timer = sd_event_source_disable_unref(z->timer);
}

_printf_(3, 4)
static void fail(Zstack *z, int error, const char *fmt, ...) {
        ZstackStartFn cb = z->cb;
        va_list ap;

        assert(error < 0);
        va_start(ap, fmt);
        (void) vsnprintf(z->error, sizeof(z->error), fmt, ap);
        va_end(ap);
        z->error_cmd = z->cmd;

        cancel_pending(z);
        z->step = S_DONE;
        z->cb = NULL;
        explicit_bzero(z->key, sizeof(z->key));
        if (cb)
                cb(z, error, NULL, z->userdata);
}

static const char *command_name(const MtFrame *f) {
        const char *n = mt_command_name(mt_frame_subsystem(f), f->cmd1);
        return n ? n : "MT command";
}

static void on_srsp(Znp *znp, int error, const MtFrame *f, void *userdata) {
        Zstack *z = userdata;

        z->req_id = 0;
        if (error < 0) {
                if (f && mt_frame_is(f, MT_CMD0(MT_SRSP, MT_SUBSYS_RPC_ERROR), 0x00) && f->len >= 3) {
                        z->cmd = mt_command_name(f->data[1] & 0x1F, f->data[2]) ?: z->cmd;
                        fail(z, error, "Coordinator rejected %s: %s", mt_command_name(f->data[1] & 0x1F, f->data[2]) ?: "a command",
                             mt_rpc_error_string(f->data[0]));
                } else
                        fail(z, error, "No answer from the coordinator during start-up: %s", strerror(-error));
                return;
        }
        z->last = *f;
        step(z);
}

/* Issue one SREQ; its SRSP goes to step() as z->last with z->step = next. */
static void request(Zstack *z, uint8_t subsystem, uint8_t cmd1, const void *data, size_t len, uint64_t timeout, Step next) {
        MtFrame f;
        int r;

        r = mt_frame_init(&f, MT_SREQ, subsystem, cmd1, data, len);
        z->cmd = mt_command_name(subsystem, cmd1);
        if (r >= 0)
                r = znp_request(z->znp, &f, timeout, on_srsp, z, &z->req_id);
        if (r < 0)
                return fail(z, r, "Failed to send %s: %s", command_name(&f), strerror(-r));
        z->step = next;
}

static void areq_arrived(Zstack *z) {
        if (z->srsp_seen && z->areq_seen) {
                z->cmd = z->areq_cmd;
                z->step = z->after_areq;
                z->last = z->areq;
                step(z);
        }
}

static void on_areq(Znp *znp, int error, const MtFrame *f, void *userdata) {
        Zstack *z = userdata;

        z->wait_id = 0;
        if (error < 0) {
                z->cmd = z->areq_cmd;
                if (error == -ETIMEDOUT)
                        fail(z, error, "%s", z->areq_timeout_message);
                else
                        fail(z, error, "Lost the coordinator while waiting: %s", strerror(-error));
                return;
        }
        z->areq = *f;
        z->areq_seen = true;
        areq_arrived(z);
}

/* Arms a wait for an AREQ; call before the request that triggers it. */
static int expect_areq(Zstack *z, uint8_t subsystem, uint8_t cmd1, ZnpMatchFn match, uint64_t timeout, Step after,
                       const char *timeout_message) {
        int r;

        z->srsp_seen = z->areq_seen = false;
        z->after_areq = after;
        z->areq_timeout_message = timeout_message;
        z->areq_cmd = mt_command_name(subsystem, cmd1);
        r = znp_wait_for(z->znp, MT_CMD0(MT_AREQ, subsystem), cmd1, match, timeout, on_areq, z, &z->wait_id);
        if (r < 0)
                fail(z, r, "Failed to wait for an indication: %s", strerror(-r));
        return r;
}

/* The SRSP of the triggering request was fine: go on once the AREQ is there too. */
static void srsp_then_areq(Zstack *z) {
        z->srsp_seen = true;
        z->step = S_WAIT_AREQ;
        areq_arrived(z);
}

static bool state_is_coordinator(const MtFrame *f, void *userdata) {
        return f->len >= 1 && f->data[0] == DEV_ZB_COORD;
}

static bool active_ep_rsp_about_self(const MtFrame *f, void *userdata) {
        /* A frame too short to name its source is taken, to be rejected as malformed at once. */
        return f->len < 2 || mt_le16(f->data) == 0x0000;
}

/* NV helpers: each ends in step() with z->step = then. */

static void nv_read_full(Zstack *z, uint16_t id, bool optional, Step then) {
        uint8_t d[2] = { id & 0xFF, id >> 8 };

        z->nv.id = id;
        z->nv.len = z->nv.off = 0;
        z->nv.then = then;
        z->nv.optional = optional;
        request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_LENGTH, d, sizeof(d), 0, S_NV_READ_LENGTH);
}

static void nv_read(Zstack *z, uint16_t id, Step then) {
        nv_read_full(z, id, false, then);
}

/* Key items: a firmware built without MT key management refuses to read them; that only means
 * the key is unknown to us. */
static void nv_read_optional(Zstack *z, uint16_t id, Step then) {
        nv_read_full(z, id, true, then);
}

static void nv_read_next_chunk(Zstack *z) {
        uint8_t d[4] = { z->nv.id & 0xFF, z->nv.id >> 8, z->nv.off & 0xFF, z->nv.off >> 8 };

        request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_READ_EXT, d, sizeof(d), 0, S_NV_READ_CHUNK);
}

static void nv_write(Zstack *z, uint16_t id, const void *data, size_t len, Step then) {
        uint8_t d[2] = { id & 0xFF, id >> 8 };

        assert(len <= sizeof(z->nv.data));
        z->nv.id = id;
        memcpy(z->nv.data, data, len);
        z->nv.len = len;
        z->nv.off = 0;
        z->nv.then = then;
        request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_LENGTH, d, sizeof(d), 0, S_NV_WRITE_LENGTH);
}

static void nv_write_next_chunk(Zstack *z) {
        size_t n = MIN(z->nv.len - z->nv.off, (size_t) NV_WRITE_CHUNK);
        uint8_t d[6 + NV_WRITE_CHUNK] = {
                z->nv.id & 0xFF, z->nv.id >> 8, z->nv.off & 0xFF, z->nv.off >> 8, n & 0xFF, n >> 8,
        };

        memcpy(d + 6, z->nv.data + z->nv.off, n);
        z->nv.off += n;
        request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_WRITE_EXT, d, 6 + n, 0, S_NV_WRITE_CHUNK);
}

static void nv_delete(Zstack *z, uint16_t id, Step then) {
        uint8_t d[2] = { id & 0xFF, id >> 8 };

        z->nv.id = id;
        z->nv.then = then;
        request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_LENGTH, d, sizeof(d), 0, S_NV_DELETE_LENGTH);
}

static void nv_done(Zstack *z) {
        z->step = z->nv.then;
        step(z);
}

/* Decoders. */

int zstack_parse_version(const MtFrame *f, ZstackVersion *ret) {
        if (f->len < 5)
                return -EBADMSG;
        *ret = (ZstackVersion) {
                .transport_rev = f->data[0],
                .product_id = f->data[1],
                .major = f->data[2],
                .minor = f->data[3],
                .maint = f->data[4],
                .revision = f->len >= 9 ? mt_le32(f->data + 5) : 0,
        };
        return 0;
}

static uint64_t le64(const uint8_t *p) {
        uint64_t v = 0;

        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

static void put_le64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++, v >>= 8)
                p[i] = v & 0xFF;
}

int zstack_parse_nib(const uint8_t *nib, size_t len, ZstackNib *ret) {
        bool aligned;

        if (len == NIB_ALIGNED_LEN)
                aligned = true;
        else if (len == NIB_UNALIGNED_LEN)
                aligned = false;
        else
                return -EBADMSG;

        /* Offsets from znp.md 3.3 (Z-Stack nwk.h as encoded by herdsman's nib.ts). */
        *ret = (ZstackNib) {
                .aligned = aligned,
                .dev_address = mt_le16(nib + (aligned ? 22 : 20)),
                .channel = nib[aligned ? 24 : 22],
                .pan_id = mt_le16(nib + (aligned ? 36 : 33)),
                .channel_list = mt_le32(nib + (aligned ? 40 : 36)),
                .ext_pan_id = le64(nib + (aligned ? 57 : 53)),
                .key_loaded = nib[aligned ? 65 : 61],
        };
        return 0;
}

int zstack_parse_device_info(const MtFrame *f, uint64_t *ret_ieee, uint16_t *ret_nwk, uint8_t *ret_state) {
        /* Status, IEEE, ShortAddr, DeviceType, DeviceState, NumAssocDevices, ... */
        if (f->len < 13 || f->data[0] != 0)
                return -EBADMSG;
        if (ret_ieee)
                *ret_ieee = le64(f->data + 1);
        if (ret_nwk)
                *ret_nwk = mt_le16(f->data + 9);
        if (ret_state)
                *ret_state = f->data[12];
        return 0;
}

int zstack_random_network_key(uint8_t key[16]) {
        do {
                if (getrandom(key, 16, 0) != 16)
                        return -errno ?: -EIO;
        } while (memcmp(key, well_known_key, 16) == 0);
        return 0;
}

int zstack_random_pan_id(uint16_t *ret) {
        uint16_t v;

        do {
                if (getrandom(&v, sizeof(v), 0) != sizeof(v))
                        return -errno ?: -EIO;
        } while (v == 0x0000 || v == 0xFFFF);
        *ret = v;
        return 0;
}

int zstack_random_ext_pan_id(uint64_t *ret) {
        uint64_t v;

        do {
                if (getrandom(&v, sizeof(v), 0) != sizeof(v))
                        return -errno ?: -EIO;
        } while (v == 0 || v == UINT64_MAX || v == 0xDDDDDDDDDDDDDDDDULL);
        *ret = v;
        return 0;
}

/* Decisions. */

static bool has_mismatch(Zstack *z, char *why, size_t size) {
        const ZstackConfig *c = &z->cfg;

        if (!c->pan_id_auto && c->pan_id != z->nib.pan_id) {
                snprintf(why, size, "PAN id 0x%04x, config says 0x%04x", z->nib.pan_id, c->pan_id);
                return true;
        }
        if (!c->ext_pan_id_auto && c->ext_pan_id != z->nib.ext_pan_id) {
                snprintf(why, size, "extended PAN id 0x%016" PRIx64 ", config says 0x%016" PRIx64,
                         z->nib.ext_pan_id, c->ext_pan_id);
                return true;
        }
        if (c->channel != 0 && c->channel != z->nib.channel) {
                snprintf(why, size, "channel %u, config says %u", z->nib.channel, c->channel);
                return true;
        }
        if (!c->network_key_auto && (!z->have_active_key || memcmp(c->network_key, z->active_key, 16) != 0)) {
                snprintf(why, size, "a different network key than the config");
                return true;
        }
        return false;
}

static int choose_formation_parameters(Zstack *z) {
        const ZstackConfig *c = &z->cfg;
        int r;

        z->channel = c->channel ? c->channel : ZSTACK_CHANNEL_DEFAULT;
        if (c->pan_id_auto) {
                r = zstack_random_pan_id(&z->pan_id);
                if (r < 0)
                        return r;
        } else
                z->pan_id = c->pan_id;
        if (c->ext_pan_id_auto) {
                r = zstack_random_ext_pan_id(&z->ext_pan_id);
                if (r < 0)
                        return r;
        } else
                z->ext_pan_id = c->ext_pan_id;
        if (c->network_key_auto) {
                r = zstack_random_network_key(z->key);
                if (r < 0)
                        return r;
        } else
                memcpy(z->key, c->network_key, 16);
        return 0;
}

static void add_write(Zstack *z, uint16_t id, const void *data, size_t len) {
        assert(z->n_writes < ELEMENTSOF(z->writes) && len <= sizeof(z->writes[0].data));
        z->writes[z->n_writes].id = id;
        z->writes[z->n_writes].len = (uint8_t) len;
        memcpy(z->writes[z->n_writes].data, data, len);
        z->n_writes++;
}

/* The items herdsman's commissioning writes (manager.ts), in its order. */
static void plan_formation_writes(Zstack *z) {
        uint32_t mask = UINT32_C(1) << z->channel;
        uint8_t zero = 0, one = 1;
        uint8_t chanlist[4] = { mask & 0xFF, (mask >> 8) & 0xFF, (mask >> 16) & 0xFF, mask >> 24 };
        uint8_t pan[2] = { z->pan_id & 0xFF, z->pan_id >> 8 };
        uint8_t epid[8];

        put_le64(epid, z->ext_pan_id);  /* NV holds the EPID little-endian: display order reversed */
        z->n_writes = z->write_index = 0;
        add_write(z, NV_STARTUP_OPTION, &zero, 1);
        add_write(z, NV_LOGICAL_TYPE, &zero, 1);                /* coordinator */
        add_write(z, NV_ZDO_DIRECT_CB, &one, 1);
        add_write(z, NV_CHANLIST, chanlist, 4);
        add_write(z, NV_PANID, pan, 2);
        add_write(z, NV_EXTENDED_PAN_ID, epid, 8);
        add_write(z, NV_APS_USE_EXT_PANID, epid, 8);
        add_write(z, NV_PRECFGKEYS_ENABLE, &zero, 1);           /* never send the key in the clear */
        add_write(z, NV_PRECFGKEY, z->key, 16);
}

static void write_next_planned(Zstack *z) {
        const NvItem *w;

        if (z->write_index >= z->n_writes) {
                uint8_t d[5] = { 1, 0, 0, 0, 0 };
                uint32_t mask = UINT32_C(1) << z->channel;

                d[1] = mask & 0xFF;
                d[2] = (mask >> 8) & 0xFF;
                d[3] = (mask >> 16) & 0xFF;
                d[4] = mask >> 24;
                request(z, MT_SUBSYS_APP_CNF, APP_CNF_BDB_SET_CHANNEL, d, sizeof(d), 0, S_SET_PRIMARY_CHANNEL);
                return;
        }
        w = &z->writes[z->write_index++];
        nv_write(z, w->id, w->data, w->len, S_WROTE_NV);
}

static bool status_ok(Zstack *z, const char *what) {
        if (z->last.len < 1) {
                fail(z, -EBADMSG, "Malformed answer to %s", what);
                return false;
        }
        if (z->last.data[0] != 0) {
                fail(z, -EIO, "%s failed with status 0x%02x", what, z->last.data[0]);
                return false;
        }
        return true;
}

static void start_resume(Zstack *z) {
        request(z, MT_SUBSYS_UTIL, UTIL_GET_DEVICE_INFO, NULL, 0, 0, S_GOT_DEVICE_INFO);
}

static void register_next_endpoint(Zstack *z) {
        while (z->ep_index < ELEMENTSOF(endpoints)) {
                const Endpoint *ep = &endpoints[z->ep_index++];
                bool active = false;
                MtFrame f;

                for (size_t i = 0; i < z->n_active_eps; i++)
                        if (z->active_eps[i] == ep->endpoint)
                                active = true;
                if (active)
                        continue;

                (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_AF, AF_REGISTER, NULL, 0);
                (void) mt_frame_append_u8(&f, ep->endpoint);
                (void) mt_frame_append_le16(&f, ep->profile);
                (void) mt_frame_append_le16(&f, ep->device_id);
                (void) mt_frame_append_u8(&f, 0);               /* device version */
                (void) mt_frame_append_u8(&f, 0);               /* latency: none */
                (void) mt_frame_append_u8(&f, ep->n_in);
                for (size_t i = 0; i < ep->n_in; i++)
                        (void) mt_frame_append_le16(&f, ep->in[i]);
                (void) mt_frame_append_u8(&f, ep->n_out);
                for (size_t i = 0; i < ep->n_out; i++)
                        (void) mt_frame_append_le16(&f, ep->out[i]);
                request(z, MT_SUBSYS_AF, AF_REGISTER, f.data, f.len, 0, S_REGISTERED_ENDPOINT);
                return;
        }

        uint8_t d[3] = { ZSTACK_GP_ENDPOINT, ZSTACK_GP_GROUP & 0xFF, ZSTACK_GP_GROUP >> 8 };
        request(z, MT_SUBSYS_ZDO, ZDO_EXT_FIND_GROUP, d, sizeof(d), 0, S_FOUND_GROUP);
}

static int on_nib_poll_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Zstack *z = userdata;

        z->timer = sd_event_source_disable_unref(z->timer);
        nv_read(z, NV_NIB, S_POLLED_NIB);
        return 0;
}

static void finish(Zstack *z) {
        ZstackStartFn cb = z->cb;
        ZstackInfo info = z->info;

        z->step = S_DONE;
        z->cb = NULL;
        explicit_bzero(z->key, sizeof(z->key));
        explicit_bzero(&z->info.network_key, sizeof(z->info.network_key));
        if (cb)
                cb(z, 0, &info, z->userdata);
        explicit_bzero(&info, sizeof(info));
}

const char *zstack_product_name(uint8_t product_id) {
        /* zigbee-herdsman's ZnpVersion names, as Zigbee2MQTT shows them in bridge/info */
        switch (product_id) {
        case 0: return "zStack12";
        case 1: return "zStack3x0";
        case 2: return "zStack30x";
        default: return "unknown";
        }
}

static void step(Zstack *z) {
        const MtFrame *f = &z->last;
        char why[160];
        int r;

        switch (z->step) {

        case S_GOT_VERSION:
                if (zstack_parse_version(f, &z->info.version) < 0)
                        return fail(z, -EBADMSG, "Malformed SYS_VERSION answer (%u bytes)", f->len);
                if (z->info.version.product_id == 0)
                        return fail(z, -EPROTONOSUPPORT,
                                    "Coordinator runs Z-Stack 1.2 (product id 0), which is not supported; "
                                    "flash a Z-Stack 3.x.0 or 3.0.x firmware");
                if (!z->cfg.ext_pan_id_auto && z->cfg.ext_pan_id == EXT_PAN_ID_USE_IEEE) {
                        request(z, MT_SUBSYS_SYS, SYS_GET_EXTADDR, NULL, 0, 0, S_GOT_EXTADDR);
                        return;
                }
                z->step = S_GOT_EXTADDR;
                z->last.len = 0;
                return step(z);

        case S_GOT_EXTADDR:
                if (!z->cfg.ext_pan_id_auto && z->cfg.ext_pan_id == EXT_PAN_ID_USE_IEEE) {
                        /* Zigbee2MQTT's dd:dd:dd:dd:dd:dd:dd:dd means "the coordinator's IEEE address". */
                        if (f->len < 8)
                                return fail(z, -EBADMSG, "Malformed SYS_GET_EXTADDR answer");
                        z->cfg.ext_pan_id = le64(f->data);
                }
                request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_LENGTH,
                        (const uint8_t[]) { NV_NWKKEY & 0xFF, NV_NWKKEY >> 8 }, 2, 0, S_GOT_NWKKEY_LENGTH);
                return;

        case S_GOT_NWKKEY_LENGTH:
                if (f->len < 2)
                        return fail(z, -EBADMSG, "Malformed SYS_OSAL_NV_LENGTH answer");
                /* herdsman decides struct alignment from this item: 21 bytes = packed CC253x build. */
                if (mt_le16(f->data) != 0) {
                        z->aligned = mt_le16(f->data) != NWKKEY_UNALIGNED_LEN;
                        z->aligned_known = true;
                }
                nv_read(z, NV_HAS_CONFIGURED_3, S_GOT_HAS_CONFIGURED);
                return;

        case S_GOT_HAS_CONFIGURED:
                z->configured = z->nv.len >= 1 && z->nv.data[0] == HAS_CONFIGURED_MAGIC;
                nv_read(z, NV_NIB, S_GOT_NIB);
                return;

        case S_GOT_NIB:
                z->nib_valid = zstack_parse_nib(z->nv.data, z->nv.len, &z->nib) >= 0 &&
                               (!z->aligned_known || z->nib.aligned == z->aligned) &&
                               z->nib.pan_id != 0xFFFF && z->nib.channel != 0;
                nv_read_optional(z, NV_NWK_ACTIVE_KEY_INFO, S_GOT_ACTIVE_KEY);
                return;

        case S_GOT_ACTIVE_KEY:
                /* nwkKeyDesc: KeySeqNum u8, Key[16] */
                z->have_active_key = z->nv.len >= 17;
                if (z->have_active_key)
                        memcpy(z->active_key, z->nv.data + 1, 16);
                explicit_bzero(z->nv.data, sizeof(z->nv.data));
                if (!z->have_active_key) {
                        /* Fall back to the key the network was formed with. */
                        nv_read_optional(z, NV_PRECFGKEY, S_GOT_PRECFGKEY);
                        return;
                }
                z->step = S_GOT_PRECFGKEY;
                return step(z);

        case S_GOT_PRECFGKEY:
                if (!z->have_active_key && z->nv.len == 16) {
                        z->have_active_key = true;
                        memcpy(z->active_key, z->nv.data, 16);
                        explicit_bzero(z->nv.data, sizeof(z->nv.data));
                }

                if (z->configured && z->nib_valid) {
                        if (!has_mismatch(z, why, sizeof(why))) {
                                z->info.formed = false;
                                z->info.network_key_known = z->have_active_key;
                                memcpy(z->info.network_key, z->active_key, 16);
                                return start_resume(z);
                        }
                        if (!z->cfg.reform)
                                return fail(z, -EEXIST,
                                            "Coordinator holds a different network (%s); refusing to replace it "
                                            "without --reform", why);
                }

                r = choose_formation_parameters(z);
                if (r < 0)
                        return fail(z, r, "Failed to generate network parameters: %s", strerror(-r));
                plan_formation_writes(z);
                nv_delete(z, NV_NIB, S_CLEARED_NIB);
                return;

        case S_CLEARED_NIB:
                /* STARTUP_OPTION 0x03 (clear config and state) takes effect at the next reset. */
                nv_write(z, NV_STARTUP_OPTION, (const uint8_t[]) { 0x03 }, 1, S_WROTE_CLEAR_OPTION);
                return;

        case S_WROTE_CLEAR_OPTION: {
                MtFrame reset;

                if (expect_areq(z, MT_SUBSYS_SYS, SYS_RESET_IND, NULL, RESET_TIMEOUT_USEC, S_RESET_DONE,
                                "The coordinator did not come back (no SYS_RESET_IND) after a reset") < 0)
                        return;
                (void) mt_frame_init(&reset, MT_AREQ, MT_SUBSYS_SYS, SYS_RESET_REQ, (const uint8_t[]) { 1 }, 1);
                r = znp_send(z->znp, &reset, NULL, NULL, NULL);
                if (r < 0)
                        return fail(z, r, "Failed to send SYS_RESET_REQ: %s", strerror(-r));
                srsp_then_areq(z);     /* an AREQ has no SRSP */
                return;
        }

        case S_RESET_DONE:
                write_next_planned(z);
                return;

        case S_WROTE_NV:
                write_next_planned(z);
                return;

        case S_SET_PRIMARY_CHANNEL:
                if (!status_ok(z, "APP_CNF_BDB_SET_CHANNEL"))
                        return;
                request(z, MT_SUBSYS_APP_CNF, APP_CNF_BDB_SET_CHANNEL, (const uint8_t[]) { 0, 0, 0, 0, 0 }, 5, 0,
                        S_SET_SECONDARY_CHANNEL);
                return;

        case S_SET_SECONDARY_CHANNEL:
                if (!status_ok(z, "APP_CNF_BDB_SET_CHANNEL"))
                        return;
                if (expect_areq(z, MT_SUBSYS_ZDO, ZDO_STATE_CHANGE_IND, state_is_coordinator,
                                z->cfg.formation_timeout_usec ?: FORMATION_TIMEOUT_USEC, S_COMMISSIONED,
                                "Network formation timed out (no coordinator state 9); a network with the same "
                                "PAN id or extended PAN id may already exist nearby") < 0)
                        return;
                request(z, MT_SUBSYS_APP_CNF, APP_CNF_BDB_START_COMMISSIONING, (const uint8_t[]) { 0x04 }, 1,
                        LONG_SREQ_TIMEOUT_USEC, S_COMMISSIONING_SRSP);
                return;

        case S_COMMISSIONING_SRSP:
                if (!status_ok(z, "APP_CNF_BDB_START_COMMISSIONING (formation)"))
                        return;
                srsp_then_areq(z);
                return;

        case S_COMMISSIONED:
                z->nib_polls = 0;
                nv_read(z, NV_NIB, S_POLLED_NIB);
                return;

        case S_POLLED_NIB:
                z->nib_valid = zstack_parse_nib(z->nv.data, z->nv.len, &z->nib) >= 0 &&
                               z->nib.pan_id != 0xFFFF && z->nib.channel != 0;
                if (!z->nib_valid) {
                        if (++z->nib_polls >= NIB_POLLS_MAX)
                                return fail(z, -ETIMEDOUT, "Network formed but the NIB never showed it");
                        z->step = S_WAIT_TIMER;
                        r = sd_event_add_time_relative(znp_get_event(z->znp), &z->timer, CLOCK_MONOTONIC,
                                                       z->cfg.nib_poll_interval_usec ?: NIB_POLL_INTERVAL_USEC, 0,
                                                       on_nib_poll_timer, z);
                        if (r < 0)
                                return fail(z, r, "Failed to arm the NIB poll timer: %s", strerror(-r));
                        return;
                }
                if (z->nib.pan_id != z->pan_id)
                        return fail(z, -EADDRINUSE,
                                    "Formed network has PAN id 0x%04x instead of 0x%04x (PAN id collision?)",
                                    z->nib.pan_id, z->pan_id);
                nv_write(z, NV_HAS_CONFIGURED_3, (const uint8_t[]) { HAS_CONFIGURED_MAGIC }, 1, S_WROTE_HAS_CONFIGURED);
                return;

        case S_WROTE_HAS_CONFIGURED:
                z->info.formed = true;
                z->info.network_key_known = true;
                memcpy(z->info.network_key, z->key, 16);
                start_resume(z);
                return;

        case S_GOT_DEVICE_INFO: {
                uint8_t state;

                if (zstack_parse_device_info(f, &z->info.ieee, &z->info.nwk_address, &state) < 0)
                        return fail(z, -EBADMSG, "Malformed UTIL_GET_DEVICE_INFO answer");
                if (state == DEV_ZB_COORD) {
                        z->step = S_STARTED;
                        return step(z);
                }
                if (expect_areq(z, MT_SUBSYS_ZDO, ZDO_STATE_CHANGE_IND, state_is_coordinator,
                                z->cfg.startup_timeout_usec ?: STARTUP_TIMEOUT_USEC, S_STARTED,
                                "The coordinator did not start its network (no coordinator state 9 after "
                                "ZDO_STARTUP_FROM_APP)") < 0)
                        return;
                request(z, MT_SUBSYS_ZDO, ZDO_STARTUP_FROM_APP, (const uint8_t[]) { 100, 0 }, 2,
                        LONG_SREQ_TIMEOUT_USEC, S_STARTUP_SRSP);
                return;
        }

        case S_STARTUP_SRSP:
                /* 3.x: 0 ZSuccess / 1 ZFailure; herdsman accepts both and waits for state 9. */
                if (f->len < 1 || f->data[0] > 1)
                        return fail(z, -EIO, "ZDO_STARTUP_FROM_APP failed with status 0x%02x", f->len ? f->data[0] : 0xFF);
                srsp_then_areq(z);
                return;

        case S_STARTED:
                /* Which endpoints does the coordinator already have? It answers about itself. */
                if (expect_areq(z, MT_SUBSYS_ZDO, ZDO_ACTIVE_EP_RSP, active_ep_rsp_about_self, AREQ_TIMEOUT_USEC,
                                S_GOT_ACTIVE_EPS, "The coordinator did not answer ZDO_ACTIVE_EP_REQ about itself") < 0)
                        return;
                request(z, MT_SUBSYS_ZDO, ZDO_ACTIVE_EP_REQ, (const uint8_t[]) { 0, 0, 0, 0 }, 4, 0, S_GOT_ACTIVE_EP_SRSP);
                return;

        case S_GOT_ACTIVE_EP_SRSP:
                if (!status_ok(z, "ZDO_ACTIVE_EP_REQ"))
                        return;
                srsp_then_areq(z);
                return;

        case S_GOT_ACTIVE_EPS:
                /* SrcAddr u16, Status u8, NwkAddr u16, Count u8, Endpoints[Count] */
                if (f->len < 6 || f->len < 6 + f->data[5])
                        return fail(z, -EBADMSG, "Malformed ZDO_ACTIVE_EP_RSP");
                if (f->data[2] != 0)
                        return fail(z, -EIO, "ZDO_ACTIVE_EP_RSP about the coordinator failed with status 0x%02x",
                                    f->data[2]);
                z->n_active_eps = f->data[5];
                memcpy(z->active_eps, f->data + 6, z->n_active_eps);
                z->ep_index = 0;
                register_next_endpoint(z);
                return;

        case S_REGISTERED_ENDPOINT:
                if (f->len < 1 || (f->data[0] != 0 && f->data[0] != STATUS_APS_DUPLICATE))
                        return fail(z, -EIO, "AF_REGISTER of endpoint %u failed with status 0x%02x",
                                    endpoints[z->ep_index - 1].endpoint, f->len ? f->data[0] : 0xFF);
                register_next_endpoint(z);
                return;

        case S_FOUND_GROUP:
                if (f->len < 1)
                        return fail(z, -EBADMSG, "Malformed ZDO_EXT_FIND_GROUP answer");
                if (f->data[0] == 0) {
                        nv_read(z, NV_NIB, S_GOT_FINAL_NIB);
                        return;
                }
                request(z, MT_SUBSYS_ZDO, ZDO_EXT_ADD_GROUP,
                        (const uint8_t[]) { ZSTACK_GP_ENDPOINT, ZSTACK_GP_GROUP & 0xFF, ZSTACK_GP_GROUP >> 8, 0 }, 4, 0,
                        S_ADDED_GROUP);
                return;

        case S_ADDED_GROUP:
                if (!status_ok(z, "ZDO_EXT_ADD_GROUP (Green Power group)"))
                        return;
                nv_read(z, NV_NIB, S_GOT_FINAL_NIB);
                return;

        case S_GOT_FINAL_NIB:
                if (zstack_parse_nib(z->nv.data, z->nv.len, &z->nib) < 0)
                        return fail(z, -EBADMSG, "Malformed NIB (%zu bytes)", z->nv.len);
                z->info.channel = z->nib.channel;
                z->info.pan_id = z->nib.pan_id;
                z->info.ext_pan_id = z->nib.ext_pan_id;
                finish(z);
                return;

        /* NV sub-steps */

        case S_NV_READ_LENGTH:
                if (f->len < 2)
                        return fail(z, -EBADMSG, "Malformed SYS_OSAL_NV_LENGTH answer");
                z->nv.len = mt_le16(f->data);
                if (z->nv.len > sizeof(z->nv.data))
                        return fail(z, -EBADMSG, "NV item 0x%04x is %zu bytes long, more than expected",
                                    z->nv.id, z->nv.len);
                if (z->nv.len == 0)
                        return nv_done(z);
                nv_read_next_chunk(z);
                return;

        case S_NV_READ_CHUNK:
                /* Status u8, Len u8, Value[Len] */
                if (f->len < 2 || f->len < 2 + f->data[1])
                        return fail(z, -EBADMSG, "Malformed SYS_OSAL_NV_READ_EXT answer");
                if (f->data[0] != 0 && z->nv.optional) {
                        z->nv.len = 0;
                        return nv_done(z);
                }
                if (f->data[0] != 0)
                        return fail(z, -EIO, "Reading NV item 0x%04x failed with status 0x%02x", z->nv.id, f->data[0]);
                if (f->data[1] == 0 || z->nv.off + f->data[1] > z->nv.len)
                        return fail(z, -EBADMSG, "NV item 0x%04x read returned %u bytes at offset %zu of %zu",
                                    z->nv.id, f->data[1], z->nv.off, z->nv.len);
                memcpy(z->nv.data + z->nv.off, f->data + 2, f->data[1]);
                z->nv.off += f->data[1];
                if (z->nv.off < z->nv.len)
                        return nv_read_next_chunk(z);
                nv_done(z);
                return;

        case S_NV_WRITE_LENGTH:
                if (f->len < 2)
                        return fail(z, -EBADMSG, "Malformed SYS_OSAL_NV_LENGTH answer");
                if (mt_le16(f->data) == 0) {
                        uint8_t d[5 + 16];
                        size_t init = MIN(z->nv.len, (size_t) 16);

                        /* Create it: Id, ItemLen, InitLen, InitData */
                        d[0] = z->nv.id & 0xFF;
                        d[1] = z->nv.id >> 8;
                        d[2] = z->nv.len & 0xFF;
                        d[3] = z->nv.len >> 8;
                        d[4] = (uint8_t) init;
                        memcpy(d + 5, z->nv.data, init);
                        request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_ITEM_INIT, d, 5 + init, 0, S_NV_WRITE_INIT);
                        return;
                }
                nv_write_next_chunk(z);
                return;

        case S_NV_WRITE_INIT:
                /* 0x09 = the item did not exist and was created; 0x00 = it existed after all */
                if (f->len < 1 || (f->data[0] != STATUS_NV_ITEM_UNINIT && f->data[0] != 0))
                        return fail(z, -EIO, "Creating NV item 0x%04x failed with status 0x%02x",
                                    z->nv.id, f->len ? f->data[0] : 0xFF);
                nv_write_next_chunk(z);
                return;

        case S_NV_WRITE_CHUNK:
                if (f->len < 1 || f->data[0] != 0)
                        return fail(z, -EIO, "Writing NV item 0x%04x failed with status 0x%02x",
                                    z->nv.id, f->len ? f->data[0] : 0xFF);
                if (z->nv.off < z->nv.len)
                        return nv_write_next_chunk(z);
                explicit_bzero(z->nv.data, sizeof(z->nv.data));
                nv_done(z);
                return;

        case S_NV_DELETE_LENGTH:
                if (f->len < 2)
                        return fail(z, -EBADMSG, "Malformed SYS_OSAL_NV_LENGTH answer");
                if (mt_le16(f->data) == 0)
                        return nv_done(z);
                request(z, MT_SUBSYS_SYS, SYS_OSAL_NV_DELETE,
                        (const uint8_t[]) { z->nv.id & 0xFF, z->nv.id >> 8, f->data[0], f->data[1] }, 4, 0, S_NV_DELETE);
                return;

        case S_NV_DELETE:
                if (f->len < 1 || (f->data[0] != 0 && f->data[0] != STATUS_NV_ITEM_UNINIT))
                        return fail(z, -EIO, "Deleting NV item 0x%04x failed with status 0x%02x",
                                    z->nv.id, f->len ? f->data[0] : 0xFF);
                nv_done(z);
                return;

        case S_IDLE:
        case S_WAIT_AREQ:
        case S_WAIT_TIMER:
        case S_DONE:
                return;
        }
}

int zstack_new(Zstack **ret, Znp *znp) {
        Zstack *z;

        assert(ret && znp);
        z = calloc(1, sizeof(*z));
        if (!z)
                return -ENOMEM;
        z->znp = znp;
        *ret = z;
        return 0;
}

Zstack *zstack_free(Zstack *z) {
        if (!z)
                return NULL;
        cancel_pending(z);
        explicit_bzero(z, sizeof(*z));
        free(z);
        return NULL;
}

int zstack_start(Zstack *z, const ZstackConfig *cfg, ZstackStartFn cb, void *userdata) {
        assert(z && cfg);

        if (z->step != S_IDLE && z->step != S_DONE)
                return -EBUSY;
        if (cfg->channel != 0 && (cfg->channel < 11 || cfg->channel > 26))
                return -EINVAL;
        if (!cfg->pan_id_auto && (cfg->pan_id == 0xFFFF || cfg->pan_id == 0x0000))
                return -EINVAL;
        if (!znp_is_ready(z->znp))
                return -EAGAIN;

        cancel_pending(z);
        z->cfg = *cfg;
        z->cb = NULL;           /* a failure to queue the first request is returned, not called back */
        z->userdata = userdata;
        z->info = (ZstackInfo) {};
        z->error[0] = 0;
        z->cmd = z->error_cmd = NULL;
        z->aligned_known = false;
        z->step = S_IDLE;
        request(z, MT_SUBSYS_SYS, SYS_VERSION, NULL, 0, 0, S_GOT_VERSION);
        if (z->step == S_DONE)
                return -EIO;    /* z->error says why */
        z->cb = cb;
        return 0;
}
