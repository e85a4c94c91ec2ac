/*
 * The simulated coordinator on a virtual clock: answers to the requests a host sends at start-up
 * (compared byte for byte with real captures where znp.md has one), NV quirks, formation, resume
 * from the NV file, and a plug joining, being interviewed and switched.
 */
#undef NDEBUG
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim-coordinator.h"

#define MAX_OUT 512

static uint8_t raw[1 << 16];
static size_t raw_n;
static SimMtFrame out[MAX_OUT];
static size_t n_out;
static double now;

static void collect(const SimMtFrame *f, void *userdata) {
        assert(n_out < MAX_OUT);
        out[n_out++] = *f;
}

static void on_write(const uint8_t *bytes, size_t len, void *userdata) {
        assert(raw_n + len <= sizeof(raw));
        memcpy(raw + raw_n, bytes, len);
        raw_n += len;
}

static size_t hex(const char *s, uint8_t *b) {
        size_t n = 0;
        unsigned v;
        int k;
        while (sscanf(s, " %2x%n", &v, &k) == 1) {
                b[n++] = (uint8_t) v;
                s += k;
        }
        return n;
}

/* Parses everything written so far into out[]. */
static void drain(void) {
        SimMtParser p = { 0 };
        n_out = 0;
        sim_mt_parser_feed(&p, raw, raw_n, collect, NULL);
        assert(p.bad_fcs == 0);
        raw_n = 0;
}

static void advance(SimCoordinator *c, double seconds) {
        double end = now + seconds;
        while (now < end) {
                double due = sim_coordinator_next_due(c);
                now = due < end ? (due > now ? due : now) : end;
                sim_coordinator_run(c, now);
        }
}

/* Sends a frame given as hex (with correct FCS) and lets time pass. */
static void request(SimCoordinator *c, const char *h, double wait) {
        uint8_t b[300];
        size_t n = hex(h, b);
        raw_n = 0;
        sim_coordinator_feed(c, b, n, now);
        advance(c, wait);
        drain();
}

/* Builds and sends an SREQ. */
static void sreq(SimCoordinator *c, uint8_t sub, uint8_t cmd1, const uint8_t *data, size_t len, double wait) {
        SimMtFrame f;
        uint8_t b[SIM_MT_MAX_FRAME];
        assert(sim_mt_frame_init(&f, SIM_MT_SREQ, sub, cmd1, data, len) == 0);
        size_t n = sim_mt_encode(&f, b);
        raw_n = 0;
        sim_coordinator_feed(c, b, n, now);
        advance(c, wait);
        drain();
}

static const SimMtFrame *find(uint8_t cmd0, uint8_t cmd1, size_t from) {
        for (size_t i = from; i < n_out; i++)
                if (out[i].cmd0 == cmd0 && out[i].cmd1 == cmd1)
                        return &out[i];
        return NULL;
}

static size_t index_of(const SimMtFrame *f) {
        return (size_t) (f - out);
}

static void assert_frame(size_t i, const char *h) {
        uint8_t b[300], e[SIM_MT_MAX_FRAME];
        size_t n = hex(h, b);
        assert(i < n_out);
        size_t m = sim_mt_encode(&out[i], e);
        if (m != n || memcmp(b, e, n) != 0) {
                fprintf(stderr, "frame %zu differs from %s:", i, h);
                for (size_t k = 0; k < m; k++)
                        fprintf(stderr, " %02X", e[k]);
                fputc('\n', stderr);
                abort();
        }
}

static uint16_t u16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static void nv_length(SimCoordinator *c, uint16_t id, uint16_t expect) {
        uint8_t d[2] = { (uint8_t) id, (uint8_t) (id >> 8) };
        sreq(c, SIM_MT_SYS, 0x13, d, 2, 0.05);
        assert(n_out == 1 && out[0].cmd0 == 0x61 && out[0].cmd1 == 0x13 && out[0].len == 2);
        assert(u16(out[0].data) == expect);
}

static void nv_write_item(SimCoordinator *c, uint16_t id, const uint8_t *v, uint8_t len) {
        uint8_t d[64] = { (uint8_t) id, (uint8_t) (id >> 8), len, 0, len };
        memcpy(d + 5, v, len);
        sreq(c, SIM_MT_SYS, 0x07, d, 5 + (size_t) len, 0.05);   /* ITEM_INIT creates it (0x09) or 0 */
        assert(n_out == 1 && (out[0].data[0] == 0x09 || out[0].data[0] == 0x00));
        uint8_t w[64] = { (uint8_t) id, (uint8_t) (id >> 8), 0, 0, len, 0 };
        memcpy(w + 6, v, len);
        sreq(c, SIM_MT_SYS, 0x1D, w, 6 + (size_t) len, 0.05);
        assert(n_out == 1 && out[0].cmd1 == 0x1D && out[0].data[0] == 0);
}

static SimCoordinator *start(const char *nv_path, unsigned plugs) {
        SimCoordinatorConfig cfg = { .ieee = 0x00124b0029a1b2c3, .n_plugs = plugs, .nv_path = nv_path,
                                     .report_interval_s = 3600 };
        SimCoordinatorOps ops = { .write = on_write };
        SimCoordinator *c;
        assert(sim_coordinator_new(&c, &cfg, &ops, NULL, now) == 0);
        return c;
}

static void test_startup_answers(void) {
        SimCoordinator *c = start(NULL, 0);

        /* Ping and version exactly as a real 3.x.0 stick (captures §8.2 and #1). */
        request(c, "FE 00 21 01 20", 0.05);
        assert(n_out == 1);
        assert_frame(0, "FE 02 61 01 59 06 3D");
        request(c, "EF FE 00 21 02 23", 0.05);
        assert(n_out == 1);
        assert_frame(0, "FE 0A 61 02 02 01 02 07 01 46 D9 34 01 00 C4");

        /* Alignment: NWKKEY 24 and NIB 116 bytes (aligned CC26xx), consistent with product 1. */
        nv_length(c, 0x0082, 24);
        nv_length(c, 0x0021, 116);
        nv_length(c, 0x0060, 0);

        /* OSAL_NV_ITEM_INIT: 0x09 when it creates the item, 0 afterwards. */
        request(c, "FE 06 21 07 60 00 01 00 01 00 40", 0.05);
        assert(n_out == 1 && out[0].cmd0 == 0x61 && out[0].cmd1 == 0x07 && out[0].data[0] == 0x09);
        request(c, "FE 06 21 07 60 00 01 00 01 00 40", 0.05);
        assert(n_out == 1 && out[0].data[0] == 0x00);
        nv_length(c, 0x0060, 1);
        /* OSAL_NV_DELETE with the wrong length: 0x0C; right length: 0; missing: 0x09. */
        uint8_t del[4] = { 0x60, 0x00, 0x02, 0x00 };
        sreq(c, SIM_MT_SYS, 0x12, del, 4, 0.05);
        assert(out[0].data[0] == 0x0C);
        del[2] = 1;
        sreq(c, SIM_MT_SYS, 0x12, del, 4, 0.05);
        assert(out[0].data[0] == 0x00);
        sreq(c, SIM_MT_SYS, 0x12, del, 4, 0.05);
        assert(out[0].data[0] == 0x09);

        /* Capture #9 shape: PRECFGKEY length 16 and READ_EXT. */
        request(c, "FE 02 21 13 62 00 52", 0.05);
        assert_frame(0, "FE 02 61 13 10 00 60");
        request(c, "FE 04 21 1C 62 00 00 00 5B", 0.05);
        assert(out[0].len == 18 && out[0].data[0] == 0 && out[0].data[1] == 16);

        /* Extended NV: u32 length, 12 bytes per ADDRMGR row (capture #10, #11), 0 past the end. */
        request(c, "FE 05 21 32 01 01 00 05 00 13", 0.05);
        assert_frame(0, "FE 04 61 32 0C 00 00 00 5B");
        uint8_t rd[8] = { 0x01, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 12 };
        sreq(c, SIM_MT_SYS, 0x33, rd, 8, 0.05);
        assert_frame(0, "FE 0E 61 33 00 0C FF FF FF FF FF FF FF FF FF FF FF FF 50");
        uint8_t len_past[5] = { 0x01, 0x01, 0x00, 0x00, 0x10 };
        sreq(c, SIM_MT_SYS, 0x32, len_past, 5, 0.05);
        assert(out[0].len == 4 && out[0].data[0] == 0 && out[0].data[1] == 0);
        /* The APS link key table exists on a fresh stick (backups need it). */
        uint8_t aps[2] = { 0x4C, 0x00 };
        sreq(c, SIM_MT_SYS, 0x13, aps, 2, 0.05);
        assert(u16(out[0].data) > 0);

        /* Unknown command and unknown subsystem: the RPC error SRSP. */
        request(c, "FE 00 21 77 56", 0.05);
        assert_frame(0, "FE 03 60 00 02 21 77 37");
        request(c, "FE 00 22 01 23", 0.05);
        assert_frame(0, "FE 03 60 00 01 22 01 41");
        /* A known command with too little data. */
        request(c, "FE 01 21 13 62 51", 0.05);
        assert_frame(0, "FE 03 60 00 04 21 13 55");

        /* Stack tune (capture #21) and LED control. */
        request(c, "FE 02 21 0F 00 14 38", 0.05);
        assert_frame(0, "FE 01 61 0F 00 6F");
        request(c, "FE 02 27 0A FF 05 D5", 0.05);
        assert(n_out == 1 && out[0].cmd0 == 0x67 && out[0].data[0] == 0);

        /* Device info before start: HOLD, short address 0xFFFE. */
        request(c, "FE 00 27 00 27", 0.05);
        assert(out[0].data[12] == 0 && u16(out[0].data + 9) == 0xFFFE && out[0].data[11] == 7);

        /* Soft reset: nothing for a while, then SYS_RESET_IND (capture #4), frames during reset ignored. */
        raw_n = 0;
        uint8_t b[16];
        size_t n = hex("FE 01 41 00 01 41", b);
        sim_coordinator_feed(c, b, n, now);
        n = hex("FE 00 21 01 20", b);
        sim_coordinator_feed(c, b, n, now);
        drain();
        assert(n_out == 0);
        advance(c, 3.0);
        drain();
        assert(n_out == 1);
        assert_frame(0, "FE 06 41 80 00 02 01 02 07 01 C0");
        sim_coordinator_free(c);
}

static void configure_and_form(SimCoordinator *c) {
        uint8_t pan[2] = { 0x62, 0x1A }, mask[4] = { 0, 0, 0x02, 0 };  /* PAN 0x1A62, channel 17 */
        uint8_t epid[8] = { 0xDD, 0xDD, 0xDD, 0xDD, 0xDD, 0xDD, 0xDD, 0x11 };
        uint8_t key[16] = { 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14 };
        nv_write_item(c, 0x0083, pan, 2);
        nv_write_item(c, 0x0084, mask, 4);
        nv_write_item(c, 0x002D, epid, 8);
        nv_write_item(c, 0x0047, epid, 8);
        nv_write_item(c, 0x0062, key, 16);
        request(c, "FE 05 2F 08 01 00 00 02 00 21", 0.05);     /* capture #8 */
        assert_frame(0, "FE 01 6F 08 00 66");
        /* Commissioning on an unformed stick: SRSP, in progress, state 8 ..., state 9, success. */
        request(c, "FE 01 2F 05 04 2F", 30);
        assert_frame(0, "FE 01 6F 05 00 6B");
        assert_frame(1, "FE 03 4F 80 01 02 04 CB");             /* capture #7 */
        const SimMtFrame *s8 = find(0x45, 0xC0, 0);
        assert(s8 && s8->data[0] == 8);
        const SimMtFrame *s9 = NULL;
        for (size_t i = 0; i < n_out; i++)
                if (out[i].cmd0 == 0x45 && out[i].cmd1 == 0xC0 && out[i].data[0] == 9)
                        s9 = &out[i];
        assert(s9 && index_of(s9) > index_of(s8));
        assert(sim_coordinator_device_state(c) == 9);

        /* NIB and network info agree with what was written. */
        request(c, "FE 00 25 50 75", 0.05);
        assert(out[0].len == 24 && out[0].data[2] == 9 && u16(out[0].data + 3) == 0x1A62);
        assert(memcmp(out[0].data + 7, epid, 8) == 0 && out[0].data[23] == 17);
        uint8_t nib_rd[4] = { 0x21, 0x00, 0x00, 0x00 };
        sreq(c, SIM_MT_SYS, 0x1C, nib_rd, 4, 0.05);
        assert(out[0].data[0] == 0 && out[0].data[1] == 116);
        const uint8_t *nib = out[0].data + 2;
        assert(u16(nib + 36) == 0x1A62 && nib[24] == 17 && memcmp(nib + 57, epid, 8) == 0 && nib[65] == 1);
        assert(nib[40] == 0 && nib[41] == 0 && nib[42] == 2);
        /* Both key infos hold the configured key. */
        uint8_t ak[4] = { 0x3A, 0x00, 0x00, 0x00 };
        sreq(c, SIM_MT_SYS, 0x1C, ak, 4, 0.05);
        assert(out[0].data[1] == 17 && memcmp(out[0].data + 3, key, 16) == 0);
        ak[0] = 0x3B;
        sreq(c, SIM_MT_SYS, 0x1C, ak, 4, 0.05);
        assert(out[0].data[1] == 17 && memcmp(out[0].data + 3, key, 16) == 0);

        /* Self descriptors: nothing registered yet (capture #6), then the registered endpoint. */
        request(c, "FE 04 25 05 00 00 00 00 24", 0.05);
        assert_frame(0, "FE 01 65 05 00 61");
        assert_frame(1, "FE 06 45 85 00 00 00 00 00 00 C6");
        uint8_t reg[] = { 1, 0x04, 0x01, 0x05, 0x00, 0, 0, 1, 0x19, 0x00, 0 };
        sreq(c, SIM_MT_AF, 0x00, reg, sizeof(reg), 0.05);
        assert(out[0].data[0] == 0);
        sreq(c, SIM_MT_AF, 0x00, reg, sizeof(reg), 0.05);
        assert(out[0].data[0] == 0xB8);
        uint8_t sd[5] = { 0, 0, 0, 0, 1 };
        sreq(c, SIM_MT_ZDO, 0x04, sd, 5, 0.05);
        assert(out[0].cmd0 == 0x65 && out[1].cmd0 == 0x45 && out[1].cmd1 == 0x84);
        assert(out[1].data[2] == 0 && out[1].data[5] == 10 && out[1].data[6] == 1 && u16(out[1].data + 7) == 0x0104);
        assert(out[1].data[12] == 1 && u16(out[1].data + 13) == 0x0019);

        /* The Green Power group: not found (19 bytes), added, found, duplicate. */
        uint8_t fg[3] = { 242, 0x84, 0x0B };
        sreq(c, SIM_MT_ZDO, 0x4A, fg, 3, 0.05);
        assert(out[0].len == 19 && out[0].data[0] == 1);
        uint8_t ag[4] = { 242, 0x84, 0x0B, 0 };
        sreq(c, SIM_MT_ZDO, 0x4B, ag, 4, 0.05);
        assert(out[0].data[0] == 0);
        sreq(c, SIM_MT_ZDO, 0x4A, fg, 3, 0.05);
        assert(out[0].len == 19 && out[0].data[0] == 0 && u16(out[0].data + 1) == 0x0B84);
        sreq(c, SIM_MT_ZDO, 0x4B, ag, 4, 0.05);
        assert(out[0].data[0] == 0xB8);
}

static unsigned char zcl_seq = 0x10;

static void af_to_plug(SimCoordinator *c, uint16_t nwk, uint8_t ep, uint16_t cluster, uint8_t trans,
                       const uint8_t *zcl, uint8_t len, double wait) {
        uint8_t d[64] = { (uint8_t) nwk, (uint8_t) (nwk >> 8), ep, 1, (uint8_t) cluster, (uint8_t) (cluster >> 8),
                          trans, 0, 30, len };
        memcpy(d + 10, zcl, len);
        sreq(c, SIM_MT_AF, 0x01, d, 10 + (size_t) len, wait);
}

static void test_network_and_plugs(void) {
        char nv_path[] = "/tmp/test-sim-coord-XXXXXX";
        int fd = mkstemp(nv_path);
        assert(fd >= 0);
        close(fd);
        unlink(nv_path);

        SimCoordinator *c = start(nv_path, 2);
        configure_and_form(c);

        /* Plug 1 cannot join while the network is closed. */
        char reply[8192];
        assert(sim_coordinator_control(c, "press 1", reply, sizeof(reply), now) < 0);
        assert(strstr(reply, "permit join is closed"));

        /* Permit join (broadcast, as herdsman sends it), then the button. */
        request(c, "FE 05 25 36 0F FC FF FE 01 E5", 0.05);
        assert(n_out == 1 && out[0].cmd0 == 0x65 && out[0].cmd1 == 0x36 && out[0].data[0] == 0);
        assert(sim_coordinator_control(c, "press 1", reply, sizeof(reply), now) == 0);
        advance(c, 5);
        drain();
        const SimMtFrame *tc = find(0x45, 0xCA, 0);
        const SimMtFrame *an = find(0x45, 0xC1, 0);
        assert(tc && an && index_of(tc) < index_of(an));
        uint16_t nwk = u16(tc->data);
        assert(nwk == sim_coordinator_plug_nwk(c, 1) && nwk != 0 && nwk < 0xFFF8);
        assert(u16(tc->data + 2) == 0xB301 && tc->data[9] == 0x00 && tc->data[8] == 0x15);     /* 00:15:8D... */
        assert(u16(an->data) == nwk && u16(an->data + 2) == nwk && (an->data[12] & 0x02));
        assert(sim_coordinator_plug_joined(c, 1));

        /* Interview: node descriptor, active endpoints, simple descriptor of EP 1. */
        uint8_t nd[4] = { (uint8_t) nwk, (uint8_t) (nwk >> 8), (uint8_t) nwk, (uint8_t) (nwk >> 8) };
        sreq(c, SIM_MT_ZDO, 0x02, nd, 4, 1);
        assert(out[0].cmd0 == 0x65 && out[0].data[0] == 0);
        const SimMtFrame *ndr = find(0x45, 0x82, 0);
        assert(ndr && u16(ndr->data) == nwk && ndr->data[2] == 0 && ndr->len == 5 + 13);
        assert((ndr->data[5] & 0x07) == 1);     /* router */
        assert(u16(ndr->data + 8) == 0x115F);   /* Lumi */
        sreq(c, SIM_MT_ZDO, 0x05, nd, 4, 1);
        const SimMtFrame *aer = find(0x45, 0x85, 0);
        assert(aer && aer->data[5] >= 1 && aer->data[6] == 1);
        uint8_t sd[5] = { nd[0], nd[1], nd[2], nd[3], 1 };
        sreq(c, SIM_MT_ZDO, 0x04, sd, 5, 1);
        const SimMtFrame *sdr = find(0x45, 0x84, 0);
        assert(sdr && sdr->data[2] == 0 && sdr->data[6] == 1 && u16(sdr->data + 7) == 0x0104);
        sd[4] = 99;
        sreq(c, SIM_MT_ZDO, 0x04, sd, 5, 1);
        sdr = find(0x45, 0x84, 0);
        assert(sdr && sdr->data[2] != 0);

        /* Read Basic modelId: SRSP, confirm with the TransId, then the plug's answer. */
        uint8_t read_model[] = { 0x00, zcl_seq, 0x00, 0x05, 0x00 };
        af_to_plug(c, nwk, 1, 0x0000, 0x21, read_model, sizeof(read_model), 1);
        assert(out[0].cmd0 == 0x64 && out[0].cmd1 == 0x01 && out[0].data[0] == 0);
        assert(out[1].cmd0 == 0x44 && out[1].cmd1 == 0x80);
        assert_frame(1, "FE 03 44 80 00 01 21 E7");
        const SimMtFrame *in = find(0x44, 0x81, 2);
        assert(in && u16(in->data + 2) == 0x0000 && u16(in->data + 4) == nwk && in->data[6] == 1);
        uint8_t zlen = in->data[16];
        assert(in->len == 17 + zlen + 3);                       /* the 3-byte trailer */
        const uint8_t *zcl = in->data + 17;
        assert(zcl[1] == zcl_seq && zcl[2] == 0x01);            /* read attributes response */
        assert(memmem(zcl, zlen, "lumi.plug.mmeu01", 16));

        /* Toggle: default response and a report come back; the plug changed state. */
        assert(sim_coordinator_control(c, "state 1", reply, sizeof(reply), now) == 0);
        bool was_on = strstr(reply, "\"state\":\"ON\"") || strstr(reply, "\"on\":true");
        uint8_t toggle[] = { 0x01, ++zcl_seq, 0x02 };
        af_to_plug(c, nwk, 1, 0x0006, 0x22, toggle, sizeof(toggle), 1);
        assert_frame(1, "FE 03 44 80 00 01 22 E4");
        const SimMtFrame *dr = NULL;
        for (size_t i = 2; i < n_out; i++)
                if (out[i].cmd1 == 0x81 && u16(out[i].data + 2) == 0x0006 && out[i].data[17 + 2] == 0x0B)
                        dr = &out[i];
        assert(dr && dr->data[17 + 1] == zcl_seq && dr->data[17 + 3] == 0x02 && dr->data[17 + 4] == 0);
        assert(sim_coordinator_control(c, "state 1", reply, sizeof(reply), now) == 0);
        bool is_on = strstr(reply, "\"state\":\"ON\"") || strstr(reply, "\"on\":true");
        assert(is_on != was_on);

        /* Out of range: MAC no-ack confirm, no frame from the plug. */
        assert(sim_coordinator_control(c, "offline 1", reply, sizeof(reply), now) == 0);
        af_to_plug(c, nwk, 1, 0x0006, 0x23, toggle, sizeof(toggle), 2);
        assert_frame(1, "FE 03 44 80 E9 01 23 0C");
        assert(!find(0x44, 0x81, 0));
        assert(sim_coordinator_control(c, "online 1", reply, sizeof(reply), now) == 0);
        /* An address nobody has: no route. */
        af_to_plug(c, 0x4321, 1, 0x0006, 0x24, toggle, sizeof(toggle), 2);
        assert(out[1].cmd1 == 0x80 && out[1].data[0] == 0xCD);

        /* Plug 2 is made another product before it joins; a joined plug stays what it is. */
        assert(sim_coordinator_control(c, "model 1 lumi.plug.maeu01", reply, sizeof(reply), now) < 0);
        assert(strstr(reply, "already on the network"));
        assert(sim_coordinator_control(c, "model 2", reply, sizeof(reply), now) < 0);
        assert(sim_coordinator_control(c, "model 2 a\"b", reply, sizeof(reply), now) < 0);
        assert(sim_coordinator_control(c, "model 2 x 0123456789abcdef0123456789abcdefX", reply, sizeof(reply), now) < 0);
        assert(sim_coordinator_control(c, "model 3 lumi.plug.maeu01", reply, sizeof(reply), now) < 0);
        assert(sim_coordinator_control(c, "state 2", reply, sizeof(reply), now) == 0);
        assert(strstr(reply, "\"model\":\"lumi.plug.mmeu01\",\"manufacturer\":\"LUMI\""));
        assert(sim_coordinator_control(c, "model 2 lumi.plug.maeu01 Xiaomi Aqara ", reply, sizeof(reply), now) == 0);
        assert(sim_coordinator_control(c, "state 2", reply, sizeof(reply), now) == 0);
        assert(strstr(reply, "\"model\":\"lumi.plug.maeu01\",\"manufacturer\":\"Xiaomi Aqara\""));

        /* Plug 2 joins with the 04:CF:8C prefix. */
        assert(sim_coordinator_control(c, "press 2", reply, sizeof(reply), now) == 0);
        advance(c, 5);
        drain();
        tc = find(0x45, 0xCA, 0);
        assert(tc && tc->data[9] == 0x04 && tc->data[8] == 0xCF && tc->data[7] == 0x8C);
        uint16_t nwk2 = u16(tc->data);
        assert(nwk2 != nwk);
        /* Its interview finds the other product. */
        uint8_t read_ident[] = { 0x00, ++zcl_seq, 0x00, 0x05, 0x00, 0x04, 0x00 };
        af_to_plug(c, nwk2, 1, 0x0000, 0x25, read_ident, sizeof(read_ident), 1);
        in = find(0x44, 0x81, 2);
        assert(in && u16(in->data + 4) == nwk2);
        zlen = in->data[16];
        zcl = in->data + 17;
        assert(zcl[1] == zcl_seq && zcl[2] == 0x01);
        assert(memmem(zcl, zlen, "\x10lumi.plug.maeu01", 17) && memmem(zcl, zlen, "\x0cXiaomi Aqara", 13));
        assert(!memmem(zcl, zlen, "mmeu01", 6) && !memmem(zcl, zlen, "LUMI", 4));

        /* Management leave of plug 2: SRSP, leave response, leave indication; gone from NV. */
        uint8_t lv[11] = { (uint8_t) nwk2, (uint8_t) (nwk2 >> 8) };
        sreq(c, SIM_MT_ZDO, 0x34, lv, 11, 1);
        assert(out[0].cmd0 == 0x65 && out[0].cmd1 == 0x34);
        assert(find(0x45, 0xB4, 0) && find(0x45, 0xC9, 0));
        assert(!sim_coordinator_plug_joined(c, 2));

        /* Garbage on the wire parses as nothing. */
        raw_n = 0;
        assert(sim_coordinator_control(c, "garbage", reply, sizeof(reply), now) == 0);
        SimMtParser p = { 0 };
        n_out = 0;
        sim_mt_parser_feed(&p, raw, raw_n, collect, NULL);
        assert(n_out == 0 && raw_n > 0);
        raw_n = 0;
        assert(sim_coordinator_control(c, "press 9", reply, sizeof(reply), now) < 0);
        assert(sim_coordinator_control(c, "fly 1", reply, sizeof(reply), now) < 0);
        sim_coordinator_free(c);

        /* Second start from the NV file: state HOLD, STARTUP_FROM_APP resumes at once (capture #5). */
        c = start(nv_path, 2);
        assert(sim_coordinator_device_state(c) == 0);
        assert(sim_coordinator_plug_joined(c, 1) && !sim_coordinator_plug_joined(c, 2));
        assert(sim_coordinator_plug_nwk(c, 1) == nwk);
        request(c, "FE 02 25 40 64 00 03", 1);
        assert(n_out == 3);
        assert_frame(0, "FE 01 65 40 00 24");
        assert_frame(1, "FE 01 45 C0 09 8D");
        assert_frame(2, "FE 03 4F 80 0D 00 04 C5");
        request(c, "FE 00 25 50 75", 0.05);
        assert(u16(out[0].data + 3) == 0x1A62 && out[0].data[23] == 17);
        /* The address manager row of plug 1 survived (type ASSOC|SECURITY, its IEEE). */
        bool found = false;
        for (uint16_t sub = 0; sub < 64 && !found; sub++) {
                uint8_t rd[8] = { 1, 1, 0, (uint8_t) sub, 0, 0, 0, 12 };
                sreq(c, SIM_MT_SYS, 0x33, rd, 8, 0.01);
                if (out[0].data[0] == 0 && out[0].data[2] == 0x03 && u16(out[0].data + 4) == nwk)
                        found = true;
        }
        assert(found);
        sim_coordinator_free(c);
        unlink(nv_path);
}

static SimCoordinator *start_fast(unsigned plugs) {
        SimCoordinatorConfig cfg = { .ieee = 0x00124b0029a1b2c3, .n_plugs = plugs, .fast = true,
                                     .report_interval_s = 3600 };
        SimCoordinatorOps ops = { .write = on_write };
        SimCoordinator *c;
        assert(sim_coordinator_new(&c, &cfg, &ops, NULL, now) == 0);
        return c;
}

static void test_fast_permit_reset(void) {
        SimCoordinator *c = start_fast(1);
        char reply[4096];

        /* --fast: formation from STARTUP_FROM_APP completes without time passing. */
        request(c, "FE 02 25 40 64 00 03", 0);
        assert_frame(0, "FE 01 65 40 00 24");
        assert(sim_coordinator_device_state(c) == 9);
        const SimMtFrame *s9 = find(0x45, 0xC0, 0);
        assert(s9);

        /* Coordinator-only permit join (AddrMode 2, 0xFFFC): the coordinator itself answers. */
        uint8_t pj[5] = { 0x02, 0xFC, 0xFF, 2, 1 };
        sreq(c, SIM_MT_ZDO, 0x36, pj, 5, 0);
        assert(n_out == 2);
        assert_frame(1, "FE 03 45 B6 00 00 00 F0");
        assert(sim_coordinator_control(c, "info", reply, sizeof(reply), now) == 0);
        assert(strstr(reply, "\"permit_join\":true"));
        /* When it runs out, the firmware tells: ZDO_PERMIT_JOIN_IND(0). */
        advance(c, 2.5);
        drain();
        assert(find(0x45, 0xCB, 0) && find(0x45, 0xCB, 0)->data[0] == 0);
        assert(sim_coordinator_control(c, "info", reply, sizeof(reply), now) == 0);
        assert(strstr(reply, "\"permit_join\":false"));

        /* Address look-ups about itself; unknown devices get no answer. */
        uint8_t nr[10] = { 0xC3, 0xB2, 0xA1, 0x29, 0x00, 0x4B, 0x12, 0x00, 0, 0 };
        sreq(c, SIM_MT_ZDO, 0x00, nr, 10, 0);
        assert(n_out == 2 && out[1].cmd1 == 0x80 && out[1].data[0] == 0 && u16(out[1].data + 9) == 0);
        assert(out[1].len == 13 && out[1].data[11] == 0 && out[1].data[12] == 0);
        nr[0] = 0x01;
        sreq(c, SIM_MT_ZDO, 0x00, nr, 10, 0);
        assert(n_out == 1);

        /* Association table: zigpy's 36-byte (aligned) probe; herdsman's "not found" form. */
        uint8_t idx = 0;
        sreq(c, SIM_MT_UTIL, 0x49, &idx, 1, 0);
        assert(out[0].len == 36 && u16(out[0].data) == 0xFFFE);
        uint8_t ga[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 0x34, 0x12 };
        sreq(c, SIM_MT_UTIL, 0x4A, ga, 10, 0);
        assert(out[0].len == 36 && u16(out[0].data) == 0xFFFE && out[0].data[4] == 0xFF);

        /* Join plug 1 (broadcast permit), then address it by IEEE with AF_DATA_REQUEST_EXT. */
        request(c, "FE 05 25 36 0F FC FF FE 01 E5", 0);
        assert(sim_coordinator_control(c, "press 1", reply, sizeof(reply), now) == 0);
        advance(c, 0.01);
        drain();
        assert(find(0x45, 0xCA, 0) && find(0x45, 0xC1, 0));
        uint16_t nwk = sim_coordinator_plug_nwk(c, 1);
        uint8_t reg[] = { 1, 0x04, 0x01, 0x05, 0x00, 0, 0, 0, 0 };
        sreq(c, SIM_MT_AF, 0x00, reg, sizeof(reg), 0);
        uint8_t ext[40] = { 0x03, 0x01, 0xB3, 0xA2, 0x01, 0x00, 0x8D, 0x15, 0x00, 1, 0, 0, 1, 0x06, 0x00, 0x31, 0, 30, 3, 0,
                            0x01, 0x40, 0x01 };      /* On */
        sreq(c, SIM_MT_AF, 0x02, ext, 23, 0);
        assert(out[0].cmd0 == 0x64 && out[0].cmd1 == 0x02 && out[0].data[0] == 0);
        assert(out[1].cmd1 == 0x80 && out[1].data[0] == 0 && out[1].data[2] == 0x31);
        assert(find(0x44, 0x81, 2) && u16(find(0x44, 0x81, 2)->data + 4) == nwk);
        assert(sim_coordinator_control(c, "state 1", reply, sizeof(reply), now) == 0);
        assert(strstr(reply, "\"state\":\"ON\""));

        /* The coordinator resets by itself: SYS_RESET_IND, HOLD, endpoints gone, AF refused. */
        assert(sim_coordinator_control(c, "reset", reply, sizeof(reply), now) == 0);
        advance(c, 0.01);
        drain();
        assert_frame(0, "FE 06 41 80 00 02 01 02 07 01 C0");
        assert(sim_coordinator_device_state(c) == 0);
        uint8_t af[13] = { (uint8_t) nwk, (uint8_t) (nwk >> 8), 1, 1, 0x06, 0x00, 0x32, 0, 30, 3, 0x01, 0x41, 0x00 };
        sreq(c, SIM_MT_AF, 0x01, af, 13, 0.1);
        assert(n_out == 1 && out[0].data[0] == 0xC2);
        assert(sim_coordinator_plug_joined(c, 1));

        /* Leave from the control socket. */
        request(c, "FE 02 25 40 64 00 03", 0);
        assert(sim_coordinator_device_state(c) == 9);
        raw_n = 0;
        assert(sim_coordinator_control(c, "leave 1", reply, sizeof(reply), now) == 0);
        advance(c, 0.01);
        drain();
        const SimMtFrame *lv = find(0x45, 0xC9, 0);
        assert(lv && u16(lv->data) == nwk && lv->data[10] == 0 && lv->data[12] == 0);
        assert(!sim_coordinator_plug_joined(c, 1));
        assert(sim_coordinator_control(c, "leave 1", reply, sizeof(reply), now) < 0);

        /* Startup option 3 + reset wipes the network: NIB back to PAN 0xFFFF, resume impossible. */
        uint8_t so[6] = { 0x03, 0x00, 0x00, 0x00, 0x01, 0x00 }, three = 3;
        uint8_t wr[7];
        memcpy(wr, so, 6);
        wr[6] = three;
        sreq(c, SIM_MT_SYS, 0x1D, wr, 7, 0);
        assert(out[0].data[0] == 0);
        request(c, "FE 01 41 00 01 41", 0.01);
        assert(n_out == 1 && out[0].cmd1 == 0x80);
        uint8_t nib_rd[4] = { 0x21, 0x00, 0x00, 0x00 };
        sreq(c, SIM_MT_SYS, 0x1C, nib_rd, 4, 0);
        assert(out[0].data[1] == 116 && u16(out[0].data + 2 + 36) == 0xFFFF && out[0].data[2 + 24] == 0);
        uint8_t so_rd[3] = { 0x03, 0x00, 0x00 };
        sreq(c, SIM_MT_SYS, 0x08, so_rd, 3, 0);
        assert(out[0].data[0] == 0 && out[0].data[2] == 0);     /* the firmware cleared the bits */
        sim_coordinator_free(c);
}

/* Random requests (valid frames with random headers and data, and raw noise) never crash it and
 * every SREQ gets exactly one SRSP (or RPC error) unless it resets the chip. */
static void test_random_requests(void) {
        SimCoordinator *c = start_fast(2);
        char reply[4096];
        request(c, "FE 02 25 40 64 00 03", 0);
        request(c, "FE 05 25 36 0F FC FF FE 01 E5", 0);
        sim_coordinator_control(c, "press 1", reply, sizeof(reply), now);
        advance(c, 0.1);
        drain();
        static const uint8_t subs[] = { SIM_MT_SYS, SIM_MT_AF, SIM_MT_ZDO, SIM_MT_UTIL, SIM_MT_APP_CNF, SIM_MT_GP, 0x02 };
        srand(7);
        for (int i = 0; i < 100000; i++) {
                uint8_t data[SIM_MT_MAX_DATA];
                size_t len = (size_t) (rand() % 40);
                if (rand() % 10 == 0)
                        len = (size_t) (rand() % (SIM_MT_MAX_DATA + 1));
                for (size_t k = 0; k < len; k++)
                        data[k] = (uint8_t) rand();
                uint8_t sub = subs[rand() % sizeof(subs)], cmd1 = (uint8_t) rand();
                if (rand() % 2)
                        cmd1 &= 0x7F;
                if (sub == SIM_MT_SYS && cmd1 == 0x00)
                        continue;       /* a reset answers nothing now; covered elsewhere */
                if (sub == SIM_MT_ZDO && cmd1 == 0x34)
                        continue;       /* keep the plug in the network */
                sreq(c, sub, cmd1, data, len, 0.0);
                size_t srsps = 0;
                for (size_t k = 0; k < n_out; k++)
                        srsps += (out[k].cmd0 >> 5) == SIM_MT_SRSP;
                if (srsps != 1) {
                        fprintf(stderr, "request %02X %02X len %zu got %zu SRSPs\n", sub, cmd1, len, srsps);
                        abort();
                }
                advance(c, 0.05);
                drain();
        }
        uint8_t noise[4096];
        for (int round = 0; round < 50; round++) {
                for (size_t k = 0; k < sizeof(noise); k++)
                        noise[k] = (uint8_t) (rand() % 3 == 0 ? 0xFE : rand());
                raw_n = 0;
                sim_coordinator_feed(c, noise, sizeof(noise), now);
                advance(c, 2);
                raw_n = 0;
        }
        sim_coordinator_free(c);
}

int main(void) {
        test_startup_answers();
        test_random_requests();
        test_network_and_plugs();
        test_fast_permit_reset();
        puts("test-sim-coordinator: ok");
        return 0;
}
