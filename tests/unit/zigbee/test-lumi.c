/*
 * Lumi TLV decoder on the real blobs of zncz04lm.md section 4 and on hostile input.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "util/macro.h"
#include "zigbee/lumi.h"

/* Example 1: sprut/Hub issue #192, firmware 22, 61 bytes */
static const uint8_t example1[] = {
        0x64, 0x10, 0x00, 0x03, 0x28, 0x1A, 0x98, 0x39, 0x00, 0x00, 0x00, 0x00,
        0x95, 0x39, 0x44, 0x1D, 0x34, 0x3F, 0x96, 0x39, 0x00, 0x80, 0x13, 0x45,
        0x97, 0x39, 0x00, 0x00, 0x00, 0x00, 0x05, 0x21, 0x01, 0x00, 0x9A, 0x20, 0x00,
        0x08, 0x21, 0x16, 0x01, 0x07, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x09, 0x21, 0x00, 0x04, 0x0B, 0x20, 0x00, 0x9B, 0x10, 0x00,
};

/* Example 2: Koenkk/zigbee2mqtt issue #17975, 52 bytes */
static const uint8_t example2[] = {
        0x64, 0x10, 0x01, 0x03, 0x28, 0x1E, 0x98, 0x39, 0x00, 0x00, 0x00, 0x00,
        0x96, 0x39, 0x00, 0x00, 0x00, 0x00, 0x97, 0x39, 0x00, 0x00, 0x00, 0x00,
        0x05, 0x21, 0xBF, 0x06, 0x9A, 0x20, 0x10, 0x08, 0x21, 0x18, 0x01, 0x09, 0x21, 0x00, 0x07,
        0x0B, 0x20, 0x00, 0x9B, 0x10, 0x01, 0x0A, 0x21, 0x00, 0x00, 0x0C, 0x20, 0x01,
};

static const LumiTlv *find(const LumiTlv *t, size_t n, uint8_t tag) {
        const LumiTlv *found = NULL;

        for (size_t i = 0; i < n; i++)
                if (t[i].tag == tag)
                        found = &t[i];  /* the last one wins, as in a JS object */
        return found;
}

static double num(const LumiTlv *t) {
        double d = NAN;

        assert(t && t->has_value);
        assert(zcl_value_to_double(&t->value, &d) == 0);
        return d;
}

static void test_example_1_decodes_every_record(void) {
        LumiTlv t[LUMI_TLV_MAX];
        size_t n;

        assert(sizeof(example1) == 61);
        assert(lumi_tlv_decode(LUMI_TLV_F7, example1, sizeof(example1), t, ELEMENTSOF(t), &n) == 0);
        assert(n == 13);
        assert(num(find(t, n, 0x64)) == 0);
        assert(num(find(t, n, 0x03)) == 26);
        assert(num(find(t, n, 0x98)) == 0);
        assert(num(find(t, n, 0x95)) == 0.7035715579986572);
        assert(fabs(num(find(t, n, 0x95)) - 0.7036) < 1e-4);
        assert(num(find(t, n, 0x96)) == 2360);
        assert(num(find(t, n, 0x97)) == 0);
        assert(num(find(t, n, 0x05)) == 1);
        assert(num(find(t, n, 0x9A)) == 0);
        assert(num(find(t, n, 0x08)) == 278);
        assert(num(find(t, n, 0x07)) == 0);
        assert(num(find(t, n, 0x09)) == 1024);
        assert(num(find(t, n, 0x0B)) == 0);
        assert(num(find(t, n, 0x9B)) == 0);
}

/* Z2M's own decode: {3:30, 5:1727, 8:280, 9:1792, 10:0, 11:0, 12:1, 100:1, 150:0, 151:0, 152:0, 154:16, 155:1} */
static void test_example_2_matches_zigbee2mqtts_decode(void) {
        static const struct { uint8_t tag; double v; } want[] = {
                { 3, 30 }, { 5, 1727 }, { 8, 280 }, { 9, 1792 }, { 10, 0 }, { 11, 0 }, { 12, 1 },
                { 100, 1 }, { 150, 0 }, { 151, 0 }, { 152, 0 }, { 154, 16 }, { 155, 1 },
        };
        LumiTlv t[LUMI_TLV_MAX];
        size_t n;

        assert(sizeof(example2) == 52);
        assert(lumi_tlv_decode(LUMI_TLV_F7, example2, sizeof(example2), t, ELEMENTSOF(t), &n) == 0);
        assert(n == ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert(num(find(t, n, want[i].tag)) == want[i].v);
        assert(!find(t, n, 0x95));      /* no energy in this report */
}

static void test_truncated_record_rejects_the_blob(void) {
        LumiTlv t[LUMI_TLV_MAX];
        size_t n = 99;

        /* every cut inside a record's value is a truncation; a cut after a tag alone is not */
        for (size_t l = 0; l < sizeof(example1); l++) {
                int r = lumi_tlv_decode(LUMI_TLV_F7, example1, l, t, ELEMENTSOF(t), &n);
                assert(r == 0 || r == -EBADMSG);
                if (r == -EBADMSG)
                        assert(n == 0);
        }
        assert(lumi_tlv_decode(LUMI_TLV_F7, example1, 5, t, ELEMENTSOF(t), &n) == -EBADMSG && n == 0);
        /* 3 bytes: one whole record; 4: a lone trailing byte is ignored as Z2M does */
        assert(lumi_tlv_decode(LUMI_TLV_F7, example1, 4, t, ELEMENTSOF(t), &n) == 0 && n == 1);
}

static void test_uint64_is_read_big_endian_like_zigbee2mqtt(void) {
        static const uint8_t b[] = { 0x07, 0x27, 0, 0, 0, 0, 0, 0, 0x01, 0x02 };
        LumiTlv t[4];
        size_t n;

        assert(lumi_tlv_decode(LUMI_TLV_F7, b, sizeof(b), t, ELEMENTSOF(t), &n) == 0 && n == 1);
        assert(t[0].value.u == 0x0102);
        /* herdsman's struct reader (0xFF01) reads little-endian */
        assert(lumi_tlv_decode(LUMI_TLV_FF01, b, sizeof(b), t, ELEMENTSOF(t), &n) == 0 && n == 1);
        assert(t[0].value.u == 0x0201000000000000ULL);
}

static void test_ad_hoc_types_are_skipped_without_value(void) {
        /* 0x42 moves 1 byte, 0x5F moves 4, enum8 its real size; none gets a value */
        static const uint8_t b[] = { 0x10, 0x42, 0xAA, 0x11, 0x5F, 1, 2, 3, 4, 0x12, 0x30, 0x07, 0x03, 0x28, 0x19 };
        LumiTlv t[8];
        size_t n;

        assert(lumi_tlv_decode(LUMI_TLV_F7, b, sizeof(b), t, ELEMENTSOF(t), &n) == 0);
        assert(n == 4);
        assert(!t[0].has_value && !t[1].has_value && !t[2].has_value);
        assert(t[3].tag == 3 && num(&t[3]) == 25);
}

static void test_unknown_type_stops_the_walk_keeping_earlier_records(void) {
        static const uint8_t b[] = { 0x03, 0x28, 0x19, 0x44, 0x41, 0x02, 0x64, 0x10, 0x01 };
        LumiTlv t[8];
        size_t n;

        assert(lumi_tlv_decode(LUMI_TLV_F7, b, sizeof(b), t, ELEMENTSOF(t), &n) == LUMI_TLV_STOPPED);
        assert(n == 1 && t[0].tag == 3);
}

static void test_double_advances_eight_bytes(void) {
        static const uint8_t b[] = { 0x20, 0x3A, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x03, 0x28, 0x05 };
        LumiTlv t[4];
        size_t n;

        assert(lumi_tlv_decode(LUMI_TLV_F7, b, sizeof(b), t, ELEMENTSOF(t), &n) == 0 && n == 2);
        assert(num(&t[0]) == 1.0 && num(&t[1]) == 5);
}

static void test_too_many_records_is_reported(void) {
        LumiTlv t[4];
        size_t n;

        assert(lumi_tlv_decode(LUMI_TLV_F7, example1, sizeof(example1), t, ELEMENTSOF(t), &n) == -ENOBUFS);
        assert(n == 4 && t[3].tag == 0x95);
}

static void test_ff01_struct_flavour_walks_true_zcl_types(void) {
        /* a char string value inside is length-prefixed; a trailing byte is skipped */
        static const uint8_t b[] = { 0x01, 0x21, 0xB8, 0x0B, 0x02, 0x42, 0x02, 'h', 'i', 0x64, 0x10, 0x01, 0xEE };
        LumiTlv t[8];
        size_t n;

        assert(lumi_tlv_decode(LUMI_TLV_FF01, b, sizeof(b), t, ELEMENTSOF(t), &n) == 0);
        assert(n == 3);
        assert(num(&t[0]) == 3000);
        assert(!t[1].has_value && t[1].value.bytes.len == 2);
        assert(t[2].tag == 0x64 && num(&t[2]) == 1);
        assert(lumi_tlv_decode(LUMI_TLV_FF01, b, 7, t, ELEMENTSOF(t), &n) == -EBADMSG);
}

static void test_random_blobs_are_safe(void) {
        uint32_t seed = 7;
        uint8_t b[80];
        LumiTlv t[LUMI_TLV_MAX];
        size_t n;

        for (int round = 0; round < 20000; round++) {
                size_t len = seed % sizeof(b);
                for (size_t i = 0; i < len; i++) {
                        seed = seed * 1664525u + 1013904223u;
                        b[i] = (uint8_t) (seed >> 24);
                }
                seed = seed * 1664525u + 1013904223u;
                int r = lumi_tlv_decode(LUMI_TLV_F7, b, len, t, ELEMENTSOF(t), &n);
                assert(r == 0 || r == LUMI_TLV_STOPPED || r == -EBADMSG || r == -ENOBUFS);
                r = lumi_tlv_decode(LUMI_TLV_FF01, b, len, t, ELEMENTSOF(t), &n);
                assert(r == 0 || r == LUMI_TLV_STOPPED || r == -EBADMSG || r == -ENOBUFS);
        }
}

int main(void) {
        test_example_1_decodes_every_record();
        test_example_2_matches_zigbee2mqtts_decode();
        test_truncated_record_rejects_the_blob();
        test_uint64_is_read_big_endian_like_zigbee2mqtt();
        test_ad_hoc_types_are_skipped_without_value();
        test_unknown_type_stops_the_walk_keeping_earlier_records();
        test_double_advances_eight_bytes();
        test_too_many_records_is_reported();
        test_ff01_struct_flavour_walks_true_zcl_types();
        test_random_blobs_are_safe();
        return 0;
}
