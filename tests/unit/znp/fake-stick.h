/*
 * A scripted Z-Stack coordinator for the start-up tests: NV items, reset, BDB formation, device
 * state, endpoints and groups, answering the way znp.md (sections 2-4, 8) describes real sticks.
 * NV contents come from real NVRAM dumps (zigpy-znp tests/nvram, CC2652R Z-Stack 4 and CC2531
 * Z-Stack 3). Header-only helper for the znp unit tests.
 */
#pragma once

#include "fake-peer.h"
#include "util/macro.h"

#define FAKE_NV_MAX 40

typedef struct FakeNv {
        bool present;
        uint16_t id;
        uint16_t len;
        uint8_t data[128];
} FakeNv;

typedef struct FakeStick {
        FakePeer peer;                  /* first: the responder casts back */
        uint8_t product;                /* SYS_VERSION product id */
        bool aligned;
        FakeNv nv[FAKE_NV_MAX];
        uint8_t state;                  /* device state, 0 = HOLD after power-up */
        uint8_t eps[32];
        size_t n_eps;
        bool gp_group;
        unsigned read_chunk;            /* bytes per OSAL_NV_READ_EXT answer */
        bool refuse_key_reads;          /* firmware built without MT key management */
        bool formation_hangs;           /* BDB formation never reaches state 9 (PAN conflict nearby) */
        unsigned nib_delay;             /* the formed NIB shows up only at this NIB length query */
        bool nib_pending;
        /* what the host did */
        unsigned nv_writes, resets, af_registers, startups, commissionings, rpc_errors;
} FakeStick;

static inline FakeNv *fake_nv(FakeStick *s, uint16_t id) {
        for (size_t i = 0; i < FAKE_NV_MAX; i++)
                if (s->nv[i].present && s->nv[i].id == id)
                        return &s->nv[i];
        return NULL;
}

static inline FakeNv *fake_nv_set(FakeStick *s, uint16_t id, const void *data, size_t len) {
        FakeNv *e = fake_nv(s, id);

        assert(len <= sizeof(e->data));
        for (size_t i = 0; !e && i < FAKE_NV_MAX; i++)
                if (!s->nv[i].present)
                        e = &s->nv[i];
        assert(e);
        e->present = true;
        e->id = id;
        e->len = (uint16_t) len;
        memcpy(e->data, data, len);
        return e;
}

static inline void fake_nv_set_hex(FakeStick *s, uint16_t id, const char *hexstr) {
        uint8_t buf[128];
        size_t n = 0;

        for (; hexstr[0] && hexstr[1]; hexstr += 2) {
                unsigned v;
                assert(sscanf(hexstr, "%2x", &v) == 1);
                buf[n++] = (uint8_t) v;
        }
        fake_nv_set(s, id, buf, n);
}

/* Real dumps. */
#define CC2652R_NIB "870502331433001e0000000105018f00070002051e0000000f00000000000000000000000e1c0800008010020f0f04000100000001000000000163c8c3acc64eca010000000000000000000000000000000000000000000000000000000000000000000000000f030001780a0100000000000000"
#define CC2652R_KEY "0a0a73b4990dc6e2f46a511986528b66"
#define CC2531_NIB "2f050210141000140000000105018f070002051e00000b00000000000000000000621a08000800000f0f0400010000000100000000058eea0f004b1200010000000000000000000000000000000000000000000000000000000000000000000000003c030001780a010000000000"

static inline void fake_stick_formed_cc2652(FakeStick *s) {
        memset(s, 0, sizeof(*s));
        s->product = 1;
        s->aligned = true;
        s->read_chunk = 64;
        fake_nv_set_hex(s, 0x0001, "5cacaa1c004b1200");                        /* EXTADDR */
        fake_nv_set_hex(s, 0x0060, "55");                                      /* HAS_CONFIGURED */
        fake_nv_set_hex(s, 0x0003, "00");
        fake_nv_set_hex(s, 0x0021, CC2652R_NIB);
        fake_nv_set_hex(s, 0x002D, "0163c8c3acc64eca");
        fake_nv_set_hex(s, 0x003A, "00" CC2652R_KEY);
        fake_nv_set_hex(s, 0x0062, CC2652R_KEY);
        fake_nv_set_hex(s, 0x0082, "00" CC2652R_KEY "e4010001000000");         /* 24 bytes: aligned */
        fake_nv_set_hex(s, 0x0083, "0e1c");
        fake_nv_set_hex(s, 0x0084, "00801002");
}

static inline void fake_stick_formed_cc2531(FakeStick *s) {
        memset(s, 0, sizeof(*s));
        s->product = 2;                 /* Z-Stack 3.0.x */
        s->aligned = false;
        s->read_chunk = 64;
        fake_nv_set_hex(s, 0x0001, "058eea0f004b1200");
        fake_nv_set_hex(s, 0x0060, "55");
        fake_nv_set_hex(s, 0x0003, "00");
        fake_nv_set_hex(s, 0x0021, CC2531_NIB);
        fake_nv_set_hex(s, 0x002D, "dddddddddddddddd");
        fake_nv_set_hex(s, 0x003A, "0001030507090b0d0f00020406080a0c0d");
        fake_nv_set_hex(s, 0x0062, "01030507090b0d0f00020406080a0c0d");
        fake_nv_set_hex(s, 0x0082, "0001030507090b0d0f00020406080a0c0d01000000");   /* 21 bytes */
        fake_nv_set_hex(s, 0x0083, "621a");
        fake_nv_set_hex(s, 0x0084, "00080000");
}

/* NIB field offsets (aligned, unaligned), checked against the dumps above. */
static inline void nib_patch(uint8_t *nib, bool aligned, uint16_t pan, uint8_t channel, uint32_t mask,
                             const uint8_t epid[8], uint8_t key_loaded) {
        nib[aligned ? 24 : 22] = channel;
        nib[aligned ? 36 : 33] = pan & 0xFF;
        nib[(aligned ? 36 : 33) + 1] = pan >> 8;
        for (int i = 0; i < 4; i++)
                nib[(aligned ? 40 : 36) + i] = (mask >> (8 * i)) & 0xFF;
        memcpy(nib + (aligned ? 57 : 53), epid, 8);
        nib[aligned ? 65 : 61] = key_loaded;
}

/* A CC2652 that never formed a network: factory NV, NIB without PAN or channel. */
static inline void fake_stick_blank_cc2652(FakeStick *s) {
        static const uint8_t zero8[8] = {};
        FakeNv *nib;

        fake_stick_formed_cc2652(s);
        for (size_t i = 0; i < FAKE_NV_MAX; i++)
                if (s->nv[i].id == 0x0060 || s->nv[i].id == 0x003A || s->nv[i].id == 0x0062)
                        s->nv[i].present = false;
        nib = fake_nv(s, 0x0021);
        nib_patch(nib->data, true, 0xFFFF, 0, 0x07FFF800, zero8, 0);
        fake_nv_set_hex(s, 0x0082, "000000000000000000000000000000000000000000000000");
        fake_nv_set_hex(s, 0x0083, "ffff");
        fake_nv_set_hex(s, 0x0084, "00f8ff07");
}

static inline bool fake_stick_network_formed(FakeStick *s) {
        FakeNv *nib = fake_nv(s, 0x0021);

        if (!nib)
                return false;
        uint16_t pan = mt_le16(nib->data + (s->aligned ? 36 : 33));
        return pan != 0xFFFF && nib->data[s->aligned ? 24 : 22] != 0;
}

/* Power cycle: RAM state is lost, NV stays. */
static inline void fake_stick_power_cycle(FakeStick *s) {
        s->state = 0;
        s->n_eps = 0;
        s->gp_group = false;
}

static inline void fake_stick_form(FakeStick *s) {
        FakeNv *pan = fake_nv(s, 0x0083), *chan = fake_nv(s, 0x0084), *epid = fake_nv(s, 0x002D);
        FakeNv *key = fake_nv(s, 0x0062), *nib = fake_nv(s, 0x0021), *ext = fake_nv(s, 0x0001);
        uint8_t template_nib[128], active[17] = {};
        size_t nib_len = s->aligned ? 116 : 110;
        uint32_t mask;
        uint8_t channel = 0;

        assert(pan && chan && epid && key && ext);
        mask = mt_le32(chan->data);
        for (uint8_t c = 11; c <= 26; c++)
                if (mask & (UINT32_C(1) << c)) {
                        channel = c;
                        break;
                }
        if (nib)
                memcpy(template_nib, nib->data, nib_len);
        else {
                uint8_t tmp[128];
                size_t n = 0;
                const char *h = s->aligned ? CC2652R_NIB : CC2531_NIB;
                for (; h[0]; h += 2) {
                        unsigned v;
                        assert(sscanf(h, "%2x", &v) == 1);
                        tmp[n++] = (uint8_t) v;
                }
                memcpy(template_nib, tmp, nib_len);
        }
        static const uint8_t zero8[8] = {};
        nib_patch(template_nib, s->aligned, mt_le16(pan->data), channel, mask,
                  memcmp(epid->data, zero8, 8) ? epid->data : ext->data, 1);
        fake_nv_set(s, 0x0021, template_nib, nib_len);
        memcpy(active + 1, key->data, 16);
        fake_nv_set(s, 0x003A, active, 17);
}

static inline void fake_stick_respond(FakePeer *p, const MtFrame *f) {
        FakeStick *s = (FakeStick *) p;
        const uint8_t *d = f->data;
        uint8_t out[MT_DATA_MAX];
        FakeNv *e;

        if (mt_frame_is(f, 0x21, 0x01))
                return fake_peer_reply(p, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        if (mt_frame_is(f, 0x21, 0x02)) {
                /* znp.md 8.1 rows 1 (3.x.0) and 3 (1.2); 3.0.x: product 2, 2.6.3 */
                uint8_t v[10] = { 0x02, s->product, 0x02, 0x07, 0x01, 0x46, 0xD9, 0x34, 0x01, 0x00 };
                if (s->product != 1) {
                        v[3] = 0x06;
                        v[4] = 0x03;
                }
                return fake_peer_reply(p, 0x61, 0x02, v, sizeof(v));
        }
        if (mt_frame_is(f, 0x21, 0x04)) {               /* SYS_GET_EXTADDR */
                e = fake_nv(s, 0x0001);
                return fake_peer_reply(p, 0x61, 0x04, e->data, 8);
        }
        if (mt_frame_is(f, 0x21, 0x13)) {               /* OSAL_NV_LENGTH */
                if (mt_le16(d) == 0x0021 && s->nib_pending && --s->nib_delay == 0) {
                        s->nib_pending = false;
                        fake_stick_form(s);
                }
                e = fake_nv(s, mt_le16(d));
                uint16_t len = e ? e->len : 0;
                return fake_peer_reply(p, 0x61, 0x13, (const uint8_t[]) { len & 0xFF, len >> 8 }, 2);
        }
        if (mt_frame_is(f, 0x21, 0x1C)) {               /* OSAL_NV_READ_EXT */
                uint16_t off = mt_le16(d + 2);
                e = fake_nv(s, mt_le16(d));
                if (!e || off >= e->len ||
                    (s->refuse_key_reads && (e->id == 0x003A || e->id == 0x0062 || e->id == 0x0082)))
                        return fake_peer_reply(p, 0x61, 0x1C, (const uint8_t[]) { 0x0A, 0 }, 2);
                size_t n = MIN((size_t) (e->len - off), (size_t) s->read_chunk);
                out[0] = 0;
                out[1] = (uint8_t) n;
                memcpy(out + 2, e->data + off, n);
                return fake_peer_reply(p, 0x61, 0x1C, out, 2 + n);
        }
        if (mt_frame_is(f, 0x21, 0x07)) {               /* OSAL_NV_ITEM_INIT */
                uint16_t id = mt_le16(d), len = mt_le16(d + 2);
                if (fake_nv(s, id))
                        return fake_peer_reply(p, 0x61, 0x07, (const uint8_t[]) { 0x00 }, 1);
                uint8_t init[128] = {};
                memcpy(init, d + 5, d[4]);
                fake_nv_set(s, id, init, len);
                return fake_peer_reply(p, 0x61, 0x07, (const uint8_t[]) { 0x09 }, 1);
        }
        if (mt_frame_is(f, 0x21, 0x1D)) {               /* OSAL_NV_WRITE_EXT: Id, Offset u16, Len u16 */
                uint16_t off = mt_le16(d + 2), len = mt_le16(d + 4);
                e = fake_nv(s, mt_le16(d));
                s->nv_writes++;
                if (!e || off + len > e->len || f->len != 6 + len)
                        return fake_peer_reply(p, 0x61, 0x1D, (const uint8_t[]) { 0x0A }, 1);
                memcpy(e->data + off, d + 6, len);
                return fake_peer_reply(p, 0x61, 0x1D, (const uint8_t[]) { 0x00 }, 1);
        }
        if (mt_frame_is(f, 0x21, 0x12)) {               /* OSAL_NV_DELETE */
                e = fake_nv(s, mt_le16(d));
                if (!e)
                        return fake_peer_reply(p, 0x61, 0x12, (const uint8_t[]) { 0x09 }, 1);
                if (e->len != mt_le16(d + 2))
                        return fake_peer_reply(p, 0x61, 0x12, (const uint8_t[]) { 0x0C }, 1);
                e->present = false;
                return fake_peer_reply(p, 0x61, 0x12, (const uint8_t[]) { 0x00 }, 1);
        }
        if (mt_frame_is(f, 0x41, 0x00)) {               /* SYS_RESET_REQ */
                FakeNv *opt = fake_nv(s, 0x0003);
                s->resets++;
                if (opt && (opt->data[0] & 0x02)) {     /* clear network state */
                        FakeNv *nib = fake_nv(s, 0x0021);
                        if (nib)
                                nib->present = false;
                }
                fake_stick_power_cycle(s);
                fake_peer_send_raw(p, (const uint8_t[]) { 0x00 }, 1);   /* stray byte seen on real resets */
                return fake_peer_reply(p, 0x41, 0x80, (const uint8_t[]) { 0x00, 0x02, s->product, 0x02, 0x07, 0x01 }, 6);
        }
        if (mt_frame_is(f, 0x2F, 0x08))                 /* BDB_SET_CHANNEL */
                return fake_peer_reply(p, 0x6F, 0x08, (const uint8_t[]) { 0x00 }, 1);
        if (mt_frame_is(f, 0x2F, 0x05)) {               /* BDB_START_COMMISSIONING */
                s->commissionings++;
                fake_peer_reply(p, 0x6F, 0x05, (const uint8_t[]) { 0x00 }, 1);
                if (fake_stick_network_formed(s)) {
                        s->state = 9;
                        fake_peer_reply(p, 0x45, 0xC0, (const uint8_t[]) { 9 }, 1);
                        return fake_peer_reply(p, 0x4F, 0x80, (const uint8_t[]) { 0x0D, 0x00, 0x04 }, 3);
                }
                fake_peer_reply(p, 0x45, 0xC0, (const uint8_t[]) { 8 }, 1);
                fake_peer_reply(p, 0x4F, 0x80, (const uint8_t[]) { 0x01, 0x02, 0x04 }, 3);
                fake_peer_reply(p, 0x45, 0xC0, (const uint8_t[]) { 8 }, 1);
                if (s->formation_hangs)
                        return;
                if (s->nib_delay > 0)
                        s->nib_pending = true;  /* NV catches up later, as on some platforms */
                else
                        fake_stick_form(s);
                s->state = 9;
                fake_peer_reply(p, 0x45, 0xC0, (const uint8_t[]) { 9 }, 1);
                return fake_peer_reply(p, 0x4F, 0x80, (const uint8_t[]) { 0x00, 0x02, 0x00 }, 3);
        }
        if (mt_frame_is(f, 0x27, 0x00)) {               /* UTIL_GET_DEVICE_INFO */
                FakeNv *ext = fake_nv(s, 0x0001);
                out[0] = 0;
                memcpy(out + 1, ext->data, 8);
                out[9] = 0x00;
                out[10] = 0x00;
                out[11] = 0x07;
                out[12] = s->state;
                out[13] = 0;
                return fake_peer_reply(p, 0x67, 0x00, out, 14);
        }
        if (mt_frame_is(f, 0x25, 0x40)) {               /* ZDO_STARTUP_FROM_APP, znp.md 8.1 row 5 */
                s->startups++;
                if (!fake_stick_network_formed(s))
                        return fake_peer_reply(p, 0x65, 0x40, (const uint8_t[]) { 0x01 }, 1);
                fake_peer_reply(p, 0x65, 0x40, (const uint8_t[]) { 0x00 }, 1);
                s->state = 9;
                fake_peer_reply(p, 0x45, 0xC0, (const uint8_t[]) { 9 }, 1);
                return fake_peer_reply(p, 0x4F, 0x80, (const uint8_t[]) { 0x0D, 0x00, 0x04 }, 3);
        }
        if (mt_frame_is(f, 0x25, 0x05)) {               /* ZDO_ACTIVE_EP_REQ about itself, row 6 */
                assert(f->len == 4 && mt_le16(d) == 0 && mt_le16(d + 2) == 0);
                fake_peer_reply(p, 0x65, 0x05, (const uint8_t[]) { 0x00 }, 1);
                memset(out, 0, 6);
                out[5] = (uint8_t) s->n_eps;
                memcpy(out + 6, s->eps, s->n_eps);
                return fake_peer_reply(p, 0x45, 0x85, out, 6 + s->n_eps);
        }
        if (mt_frame_is(f, 0x24, 0x00)) {               /* AF_REGISTER */
                s->af_registers++;
                for (size_t i = 0; i < s->n_eps; i++)
                        if (s->eps[i] == d[0])
                                return fake_peer_reply(p, 0x64, 0x00, (const uint8_t[]) { 0xB8 }, 1);
                /* Endpoint, Profile, DeviceId, DevVer, Latency, NumIn, In[], NumOut, Out[] */
                assert(f->len == 9 + 2 * d[7] + 2 * d[8 + 2 * d[7]]);
                s->eps[s->n_eps++] = d[0];
                return fake_peer_reply(p, 0x64, 0x00, (const uint8_t[]) { 0x00 }, 1);
        }
        if (mt_frame_is(f, 0x25, 0x4A)) {               /* ZDO_EXT_FIND_GROUP */
                memset(out, 0, 19);
                out[0] = s->gp_group && d[0] == 242 && mt_le16(d + 1) == 0x0B84 ? 0 : 1;
                out[1] = d[1];
                out[2] = d[2];
                return fake_peer_reply(p, 0x65, 0x4A, out, 19);
        }
        if (mt_frame_is(f, 0x25, 0x4B)) {               /* ZDO_EXT_ADD_GROUP */
                assert(d[0] == 242 && mt_le16(d + 1) == 0x0B84);
                s->gp_group = true;
                return fake_peer_reply(p, 0x65, 0x4B, (const uint8_t[]) { 0x00 }, 1);
        }
        if (mt_frame_type(f) == MT_SREQ) {
                s->rpc_errors++;
                return fake_peer_reply(p, 0x60, 0x00, (const uint8_t[]) { 0x02, f->cmd0, f->cmd1 }, 3);
        }
}
