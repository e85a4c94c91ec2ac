/*
 * Coordinator start-up against a scripted stick on a socketpair: a formed CC2652 (real NV dump)
 * is adopted, a blank one gets a random network and is adopted after a restart, mismatches are
 * refused unless reform is asked, Z-Stack 1.2 is refused.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-stick.h"
#include "util/macro.h"
#include "znp/zstack.h"

static const uint8_t well_known_key[16] = {
        0x01, 0x03, 0x05, 0x07, 0x09, 0x0B, 0x0D, 0x0F, 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0D,
};

static const ZstackConfig config_auto = {
        .pan_id_auto = true,
        .ext_pan_id_auto = true,
        .network_key_auto = true,
};

typedef struct Outcome {
        bool done;
        int error;
        ZstackInfo info;
        char message[256];
} Outcome;

static void on_started(Zstack *z, int error, const ZstackInfo *info, void *userdata) {
        Outcome *o = userdata;

        assert(!o->done);
        o->done = true;
        o->error = error;
        if (info)
                o->info = *info;
        else
                snprintf(o->message, sizeof(o->message), "%s", zstack_error_message(z));
}

static void on_ready(Znp *znp, int error, void *userdata) {
        int *r = userdata;
        *r = error == 0 ? 1 : error;
}

static unsigned mangle_at;
static uint8_t mangle_len;

/* Connects a fresh host (Znp + Zstack) to the stick and runs the start-up to its end. */
static Outcome run_startup(FakeStick *s, const ZstackConfig *cfg) {
        sd_event *e;
        Transport *t;
        Znp *znp;
        Zstack *z;
        Outcome o = {};
        int ready = 0;

        assert(sd_event_new(&e) >= 0);
        fake_peer_init(&s->peer, e, &t);
        s->peer.respond = fake_stick_respond;
        assert(znp_new(&znp, e, t) == 0);
        assert(znp_start(znp, NULL, on_ready, &ready) == 0);
        RUN_UNTIL(e, ready != 0);
        assert(ready == 1);
        s->peer.sent = 0;
        s->peer.mangle_at = mangle_at;
        s->peer.mangle_len = mangle_len;

        assert(zstack_new(&z, znp) == 0);
        assert(zstack_start(z, cfg, on_started, &o) == 0);
        assert(zstack_start(z, cfg, on_started, &o) == -EBUSY);
        RUN_UNTIL(e, o.done);
        run_until_idle(e);

        zstack_free(z);
        znp_free(znp);
        fake_peer_close(&s->peer);
        sd_event_unref(e);
        return o;
}

static size_t count_rx(const FakeStick *s, uint8_t cmd0, uint8_t cmd1) {
        size_t n = 0;

        for (size_t i = 0; i < s->peer.n_rx; i++)
                if (mt_frame_is(&s->peer.rx[i], cmd0, cmd1))
                        n++;
        return n;
}

static void check_all_endpoints_registered(const FakeStick *s) {
        static const uint8_t expected[] = { 1, 2, 3, 4, 5, 6, 8, 10, 11, 110, 12, 13, 47, 239, 242 };

        assert(s->n_eps == ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                assert(s->eps[i] == expected[i]);
        assert(s->gp_group);
}

static void test_formed_cc2652_is_adopted_with_auto_config(void) {
        FakeStick s;
        Outcome o;

        fake_stick_formed_cc2652(&s);
        o = run_startup(&s, &config_auto);
        assert(o.error == 0);
        assert(!o.info.formed);
        assert(o.info.ieee == 0x00124b001caaac5cULL);
        assert(o.info.pan_id == 0x1C0E);
        assert(o.info.channel == 15);
        assert(o.info.ext_pan_id == 0xca4ec6acc3c86301ULL);
        assert(o.info.version.product_id == 1);
        assert(o.info.version.revision == 20240710);
        assert(o.info.network_key_known);
        assert(o.info.network_key[0] == 0x0a && o.info.network_key[15] == 0x66);
        assert(s.nv_writes == 0 && s.resets == 0 && s.commissionings == 0);
        assert(count_rx(&s, 0x21, 0x12) == 0);                 /* nothing deleted either */
        assert(s.startups == 1 && s.state == 9);                /* it was in HOLD: STARTUP_FROM_APP */
        check_all_endpoints_registered(&s);
        assert(s.af_registers == 15);
        assert(s.rpc_errors == 0);
}

static void test_running_coordinator_is_not_restarted_nor_reregistered(void) {
        FakeStick s;
        Outcome o;

        fake_stick_formed_cc2652(&s);
        o = run_startup(&s, &config_auto);
        assert(o.error == 0);
        /* reconnect without a power cycle: state 9, endpoints and group already there */
        s.startups = s.af_registers = 0;
        o = run_startup(&s, &config_auto);
        assert(o.error == 0 && !o.info.formed);
        assert(s.startups == 0);
        assert(s.af_registers == 0);
        assert(count_rx(&s, 0x25, 0x4B) == 0);                 /* GP group found, not added */
        assert(count_rx(&s, 0x27, 0x00) == 1);
}

static void test_formed_cc2531_with_packed_structs_is_adopted(void) {
        FakeStick s;
        Outcome o;

        fake_stick_formed_cc2531(&s);
        o = run_startup(&s, &config_auto);
        assert(o.error == 0 && !o.info.formed);
        assert(o.info.version.product_id == 2);
        assert(o.info.pan_id == 0x1A62);
        assert(o.info.channel == 11);
        assert(o.info.ext_pan_id == 0x00124b000fea8e05ULL);    /* derived from the IEEE */
        assert(o.info.ieee == 0x00124b000fea8e05ULL);
        assert(s.nv_writes == 0);
}

static void test_dd_ext_pan_id_means_the_coordinator_ieee(void) {
        ZstackConfig cfg = config_auto;
        FakeStick s;
        Outcome o;

        /* the CC2531 dump was formed by Zigbee2MQTT with ext_pan_id dd:dd:..:dd: EPID = its IEEE */
        cfg.ext_pan_id_auto = false;
        cfg.ext_pan_id = 0xDDDDDDDDDDDDDDDDULL;
        fake_stick_formed_cc2531(&s);
        o = run_startup(&s, &cfg);
        assert(o.error == 0 && !o.info.formed);
        assert(o.info.ext_pan_id == 0x00124b000fea8e05ULL);
        assert(count_rx(&s, 0x21, 0x04) == 1);

        /* and a blank stick forms with its IEEE as EPID */
        fake_stick_blank_cc2652(&s);
        o = run_startup(&s, &cfg);
        assert(o.error == 0 && o.info.formed);
        assert(o.info.ext_pan_id == 0x00124b001caaac5cULL);
        {       /* the EPID in NV is the IEEE, both little-endian */
                FakeNv *e = fake_nv(&s, 0x002D);
                assert(e && memcmp(e->data, fake_nv(&s, 0x0001)->data, 8) == 0);
        }
}

static void test_explicit_matching_config_is_adopted(void) {
        ZstackConfig cfg = {
                .pan_id = 0x1C0E,
                .ext_pan_id = 0xca4ec6acc3c86301ULL,
                .channel = 15,
        };
        FakeStick s;
        Outcome o;

        memcpy(cfg.network_key, (const uint8_t[]) { 0x0a, 0x0a, 0x73, 0xb4, 0x99, 0x0d, 0xc6, 0xe2,
                                                     0xf4, 0x6a, 0x51, 0x19, 0x86, 0x52, 0x8b, 0x66 }, 16);
        fake_stick_formed_cc2652(&s);
        o = run_startup(&s, &cfg);
        assert(o.error == 0 && !o.info.formed);
        assert(s.nv_writes == 0);
}

static void test_mismatch_is_refused_without_reform(void) {
        FakeStick s;
        Outcome o;
        ZstackConfig cfg = config_auto;

        fake_stick_formed_cc2652(&s);
        cfg.pan_id_auto = false;
        cfg.pan_id = 0x1234;
        o = run_startup(&s, &cfg);
        assert(o.error == -EEXIST);
        assert(strstr(o.message, "PAN id 0x1c0e, config says 0x1234"));
        assert(strstr(o.message, "--reform"));
        assert(s.nv_writes == 0 && s.resets == 0);

        cfg = config_auto;
        cfg.channel = 20;
        o = run_startup(&s, &cfg);
        assert(o.error == -EEXIST && strstr(o.message, "channel 15, config says 20"));

        cfg = config_auto;
        cfg.network_key_auto = false;
        memcpy(cfg.network_key, well_known_key, 16);
        o = run_startup(&s, &cfg);
        assert(o.error == -EEXIST && strstr(o.message, "network key"));
        assert(!strstr(o.message, "0a0a"));                    /* no key material in messages */

        cfg = config_auto;
        cfg.ext_pan_id_auto = false;
        cfg.ext_pan_id = 0xDDDDDDDDDDDDDDDDULL;
        o = run_startup(&s, &cfg);
        assert(o.error == -EEXIST && strstr(o.message, "extended PAN id"));
        assert(s.nv_writes == 0);
}

static void check_nv(FakeStick *s, uint16_t id, const void *data, size_t len) {
        FakeNv *e = fake_nv(s, id);

        assert(e);
        assert(e->len == len);
        assert(memcmp(e->data, data, len) == 0);
}

static void test_mismatch_with_reform_forms_the_configured_network(void) {
        ZstackConfig cfg = {
                .pan_id = 0x1234,
                .ext_pan_id = 0x0011223344556677ULL,
                .channel = 25,
                .reform = true,
        };
        FakeStick s;
        Outcome o;

        memcpy(cfg.network_key, (const uint8_t[]) { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, 16);
        fake_stick_formed_cc2652(&s);
        o = run_startup(&s, &cfg);
        assert(o.error == 0);
        assert(o.info.formed);
        assert(o.info.pan_id == 0x1234 && o.info.channel == 25 && o.info.ext_pan_id == 0x0011223344556677ULL);
        assert(memcmp(o.info.network_key, cfg.network_key, 16) == 0);

        /* the NV items herdsman writes, in NV byte order */
        check_nv(&s, 0x0083, (const uint8_t[]) { 0x34, 0x12 }, 2);
        check_nv(&s, 0x0084, (const uint8_t[]) { 0x00, 0x00, 0x00, 0x02 }, 4);        /* 1 << 25 */
        check_nv(&s, 0x002D, (const uint8_t[]) { 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00 }, 8);
        check_nv(&s, 0x0047, (const uint8_t[]) { 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00 }, 8);
        check_nv(&s, 0x0062, cfg.network_key, 16);
        check_nv(&s, 0x0087, (const uint8_t[]) { 0x00 }, 1);
        check_nv(&s, 0x008F, (const uint8_t[]) { 0x01 }, 1);
        check_nv(&s, 0x0063, (const uint8_t[]) { 0x00 }, 1);
        check_nv(&s, 0x0003, (const uint8_t[]) { 0x00 }, 1);
        check_nv(&s, 0x0060, (const uint8_t[]) { 0x55 }, 1);
        assert(s.resets == 1 && s.commissionings == 1);
        assert(count_rx(&s, 0x21, 0x12) == 1);                 /* the old NIB deleted */

        /* BDB set channel: primary = the mask, secondary = none; formation mode 0x04 */
        bool primary = false, secondary = false, formation = false;
        for (size_t i = 0; i < s.peer.n_rx; i++) {
                const MtFrame *f = &s.peer.rx[i];
                if (mt_frame_is(f, 0x2F, 0x08) && f->data[0] == 1 && mt_le32(f->data + 1) == (UINT32_C(1) << 25))
                        primary = true;
                if (mt_frame_is(f, 0x2F, 0x08) && f->data[0] == 0 && mt_le32(f->data + 1) == 0)
                        secondary = true;
                if (mt_frame_is(f, 0x2F, 0x05) && f->len == 1 && f->data[0] == 0x04)
                        formation = true;
        }
        assert(primary && secondary && formation);
        check_all_endpoints_registered(&s);
}

static void test_blank_stick_gets_a_random_network_then_keeps_it(void) {
        FakeStick s;
        Outcome first, second, other;

        fake_stick_blank_cc2652(&s);
        first = run_startup(&s, &config_auto);
        assert(first.error == 0);
        assert(first.info.formed);
        assert(first.info.channel == ZSTACK_CHANNEL_DEFAULT);
        assert(first.info.pan_id != 0xFFFF && first.info.pan_id != 0x0000);
        assert(first.info.ext_pan_id != 0 && first.info.ext_pan_id != UINT64_MAX);
        assert(memcmp(first.info.network_key, well_known_key, 16) != 0);
        check_nv(&s, 0x0062, first.info.network_key, 16);
        check_nv(&s, 0x0060, (const uint8_t[]) { 0x55 }, 1);
        assert(s.state == 9);
        check_all_endpoints_registered(&s);

        /* restart (power cycle): the same network is adopted, nothing written */
        fake_stick_power_cycle(&s);
        s.nv_writes = s.resets = s.commissionings = 0;
        second = run_startup(&s, &config_auto);
        assert(second.error == 0 && !second.info.formed);
        assert(second.info.pan_id == first.info.pan_id);
        assert(second.info.ext_pan_id == first.info.ext_pan_id);
        assert(second.info.channel == first.info.channel);
        assert(memcmp(second.info.network_key, first.info.network_key, 16) == 0);
        assert(s.nv_writes == 0 && s.resets == 0 && s.commissionings == 0);
        assert(s.startups == 1);

        /* another blank stick gets other random values */
        FakeStick s2;
        fake_stick_blank_cc2652(&s2);
        other = run_startup(&s2, &config_auto);
        assert(other.error == 0 && other.info.formed);
        assert(memcmp(other.info.network_key, first.info.network_key, 16) != 0);
        assert(other.info.ext_pan_id != first.info.ext_pan_id);
}

static void test_unreadable_keys_do_not_stop_an_adoption(void) {
        FakeStick s;
        Outcome o;
        ZstackConfig cfg = config_auto;

        fake_stick_formed_cc2652(&s);
        s.refuse_key_reads = true;
        o = run_startup(&s, &config_auto);
        assert(o.error == 0 && !o.info.formed);
        assert(!o.info.network_key_known);
        assert(o.info.pan_id == 0x1C0E);

        /* an explicit key cannot be verified: refused as a mismatch, never silently accepted */
        cfg.network_key_auto = false;
        memcpy(cfg.network_key, (const uint8_t[]) { 0x0a, 0x0a, 0x73, 0xb4, 0x99, 0x0d, 0xc6, 0xe2,
                                                     0xf4, 0x6a, 0x51, 0x19, 0x86, 0x52, 0x8b, 0x66 }, 16);
        o = run_startup(&s, &cfg);
        assert(o.error == -EEXIST);

        /* with only the active key unreadable, the pre-configured key stands in */
        fake_stick_formed_cc2652(&s);
        for (size_t i = 0; i < FAKE_NV_MAX; i++)
                if (s.nv[i].id == 0x003A)
                        s.nv[i].present = false;
        o = run_startup(&s, &cfg);
        assert(o.error == 0 && o.info.network_key_known);
        assert(memcmp(o.info.network_key, cfg.network_key, 16) == 0);
}

static void test_formation_that_never_finishes_times_out_clearly(void) {
        FakeStick s;
        Outcome o;
        ZstackConfig cfg = config_auto;

        fake_stick_blank_cc2652(&s);
        s.formation_hangs = true;
        cfg.formation_timeout_usec = 100 * 1000;
        o = run_startup(&s, &cfg);
        assert(o.error == -ETIMEDOUT);
        assert(strstr(o.message, "formation timed out"));
        assert(!fake_nv(&s, 0x0060));                           /* never marked as configured */
}

static void test_nib_that_settles_late_is_polled(void) {
        FakeStick s;
        Outcome o;
        ZstackConfig cfg = config_auto;

        cfg.nib_poll_interval_usec = 1000;
        fake_stick_blank_cc2652(&s);
        s.nib_delay = 4;
        o = run_startup(&s, &cfg);
        assert(o.error == 0 && o.info.formed);
        assert(o.info.pan_id != 0xFFFF && o.info.channel == 11);

        /* never settles: a clear error after herdsman's ten reads */
        fake_stick_blank_cc2652(&s);
        s.nib_delay = 100;
        o = run_startup(&s, &cfg);
        assert(o.error == -ETIMEDOUT && strstr(o.message, "NIB"));
        assert(!fake_nv(&s, 0x0060));
}

static void test_zstack_1_2_is_refused(void) {
        FakeStick s;
        Outcome o;

        fake_stick_formed_cc2531(&s);
        s.product = 0;
        o = run_startup(&s, &config_auto);
        assert(o.error == -EPROTONOSUPPORT);
        assert(strstr(o.message, "Z-Stack 1.2"));
        assert(s.peer.n_rx == 2);                               /* ping, version: nothing else */
}

static void test_bad_config_is_refused_before_talking(void) {
        sd_event *e;
        FakeStick s;
        Transport *t;
        Znp *znp;
        Zstack *z;
        ZstackConfig cfg = config_auto;

        fake_stick_blank_cc2652(&s);
        assert(sd_event_new(&e) >= 0);
        fake_peer_init(&s.peer, e, &t);
        s.peer.respond = fake_stick_respond;
        assert(znp_new(&znp, e, t) == 0);
        assert(zstack_new(&z, znp) == 0);
        assert(zstack_start(z, &cfg, on_started, NULL) == -EAGAIN);   /* Znp not started */
        cfg.channel = 27;
        assert(zstack_start(z, &cfg, on_started, NULL) == -EINVAL);
        cfg.channel = 11;
        cfg.pan_id_auto = false;
        cfg.pan_id = 0xFFFF;
        assert(zstack_start(z, &cfg, on_started, NULL) == -EINVAL);
        zstack_free(z);
        znp_free(znp);
        fake_peer_close(&s.peer);
        sd_event_unref(e);
}

static void test_decoders_on_captured_bytes(void) {
        ZstackVersion v;
        ZstackNib nib;
        MtFrame f;
        uint8_t raw[128];
        size_t n = 0;
        const char *h = CC2652R_NIB;

        /* znp.md 8.1 row 3: 14-byte SYS_VERSION of a 1.2 build */
        assert(mt_frame_init(&f, MT_SRSP, MT_SUBSYS_SYS, 0x02,
                             (const uint8_t[]) { 0x02, 0x00, 0x02, 0x06, 0x03, 0xD9, 0x14, 0x34, 0x01, 0x02, 0, 0, 0, 0 }, 14) == 0);
        assert(zstack_parse_version(&f, &v) == 0);
        assert(v.product_id == 0 && v.major == 2 && v.minor == 6 && v.maint == 3 && v.revision == 20190425);
        f.len = 4;
        assert(zstack_parse_version(&f, &v) == -EBADMSG);

        for (; h[0]; h += 2) {
                unsigned x;
                assert(sscanf(h, "%2x", &x) == 1);
                raw[n++] = (uint8_t) x;
        }
        assert(zstack_parse_nib(raw, n, &nib) == 0);
        assert(nib.aligned && nib.pan_id == 0x1C0E && nib.channel == 15 && nib.channel_list == 0x02108000);
        assert(nib.ext_pan_id == 0xca4ec6acc3c86301ULL && nib.key_loaded == 1 && nib.dev_address == 0);
        assert(zstack_parse_nib(raw, 100, &nib) == -EBADMSG);

        uint64_t ieee;
        uint16_t nwk;
        uint8_t state;
        assert(mt_frame_init(&f, MT_SRSP, MT_SUBSYS_UTIL, 0x00,
                             (const uint8_t[]) { 0, 0x5c, 0xac, 0xaa, 0x1c, 0x00, 0x4b, 0x12, 0x00, 0, 0, 7, 9, 0 }, 14) == 0);
        assert(zstack_parse_device_info(&f, &ieee, &nwk, &state) == 0);
        assert(ieee == 0x00124b001caaac5cULL && nwk == 0 && state == 9);
        f.data[0] = 1;
        assert(zstack_parse_device_info(&f, &ieee, &nwk, &state) == -EBADMSG);

        assert(strcmp(zstack_product_name(1), "zStack3x0") == 0);
        assert(strcmp(zstack_product_name(2), "zStack30x") == 0);
        assert(strcmp(zstack_product_name(0), "zStack12") == 0);
}

static void test_random_values_are_random_and_never_the_default_key(void) {
        uint8_t a[16], b[16];
        uint16_t p;
        uint64_t x, y;

        assert(zstack_random_network_key(a) == 0 && zstack_random_network_key(b) == 0);
        assert(memcmp(a, b, 16) != 0 && memcmp(a, well_known_key, 16) != 0);
        for (int i = 0; i < 1000; i++) {
                assert(zstack_random_pan_id(&p) == 0);
                assert(p != 0 && p != 0xFFFF);
        }
        assert(zstack_random_ext_pan_id(&x) == 0 && zstack_random_ext_pan_id(&y) == 0 && x != y);
}

/* Every answer of a whole formation, in turn, cut short: the start-up ends with a clean error
 * (or succeeds when the bytes lost did not matter), never crashes or hangs. */
static void test_short_answers_anywhere_fail_cleanly(void) {
        ZstackConfig cfg = config_auto;
        unsigned total, failures = 0;
        FakeStick s;
        Outcome o;

        cfg.formation_timeout_usec = cfg.startup_timeout_usec = 200 * 1000;
        cfg.nib_poll_interval_usec = 1000;
        fake_stick_blank_cc2652(&s);
        o = run_startup(&s, &cfg);
        assert(o.error == 0);
        total = s.peer.sent;
        assert(total > 50);

        for (unsigned k = 1; k <= total; k++)
                for (uint8_t len = 0; len <= 1; len++) {
                        mangle_at = k;
                        mangle_len = len;
                        fake_stick_blank_cc2652(&s);
                        o = run_startup(&s, &cfg);
                        assert(o.done);
                        if (o.error < 0) {
                                failures++;
                                assert(o.message[0] != 0);
                        }
                }
        mangle_at = 0;
        assert(failures > total);       /* most damage is noticed */
}

int main(void) {
        test_decoders_on_captured_bytes();
        test_random_values_are_random_and_never_the_default_key();
        test_formed_cc2652_is_adopted_with_auto_config();
        test_running_coordinator_is_not_restarted_nor_reregistered();
        test_formed_cc2531_with_packed_structs_is_adopted();
        test_explicit_matching_config_is_adopted();
        test_dd_ext_pan_id_means_the_coordinator_ieee();
        test_mismatch_is_refused_without_reform();
        test_mismatch_with_reform_forms_the_configured_network();
        test_blank_stick_gets_a_random_network_then_keeps_it();
        test_unreadable_keys_do_not_stop_an_adoption();
        test_formation_that_never_finishes_times_out_clearly();
        test_nib_that_settles_late_is_polled();
        test_zstack_1_2_is_refused();
        test_bad_config_is_refused_before_talking();
        test_short_answers_anywhere_fail_cleanly();
        return 0;
}
