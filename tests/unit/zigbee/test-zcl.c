/*
 * ZCL codec: header, every data type both ways, foundation builders/parsers, hostile input.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/macro.h"
#include "zigbee/zcl.h"

static void test_header_without_and_with_manufacturer_code(void) {
        static const uint8_t plain[] = { 0x18, 0x42, 0x0A, 0xAA };
        static const uint8_t mfr[] = { 0x1C, 0x5F, 0x11, 0x07, 0x0A };
        ZclHeader h;
        uint8_t out[8];

        assert(zcl_header_decode(plain, sizeof(plain), &h) == 3);
        assert(h.frame_control == 0x18 && h.tsn == 0x42 && h.command == 0x0A && zcl_header_is_global(&h));
        assert(zcl_header_decode(mfr, sizeof(mfr), &h) == 5);
        assert(h.manufacturer == 0x115F && h.tsn == 7 && h.command == 0x0A);
        assert(zcl_header_encode(&h, out, sizeof(out)) == 5 && memcmp(out, mfr, 5) == 0);
        assert(zcl_header_encode(&h, out, 4) == -ENOBUFS);
}

static void test_truncated_header_is_rejected(void) {
        static const uint8_t two[] = { 0x18, 0x01 };
        static const uint8_t mfr_short[] = { 0x14, 0x5F, 0x11, 0x01 };
        ZclHeader h;

        assert(zcl_header_decode(two, sizeof(two), &h) == -EBADMSG);
        assert(zcl_header_decode(mfr_short, sizeof(mfr_short), &h) == -EBADMSG);
        assert(zcl_header_decode(NULL, 0, &h) == -EINVAL);
}

typedef struct TypeCase {
        uint8_t type;
        uint8_t bytes[12];
        size_t len;
        ZclValueKind kind;
        uint64_t u;
        int64_t i;
        double f;
        bool invalid;
} TypeCase;

static const TypeCase type_cases[] = {
        { ZCL_TYPE_BOOL, { 0x01 }, 1, ZCL_KIND_BOOL, .u = 1 },
        { ZCL_TYPE_BOOL, { 0x00 }, 1, ZCL_KIND_BOOL, .u = 0 },
        { ZCL_TYPE_BOOL, { 0xFF }, 1, ZCL_KIND_BOOL, .u = 0, .invalid = true },
        { ZCL_TYPE_DATA8, { 0x5A }, 1, ZCL_KIND_UINT, .u = 0x5A },
        { ZCL_TYPE_BITMAP8, { 0x81 }, 1, ZCL_KIND_UINT, .u = 0x81 },
        { ZCL_TYPE_BITMAP16, { 0x34, 0x12 }, 2, ZCL_KIND_UINT, .u = 0x1234 },
        { ZCL_TYPE_UINT8, { 0x16 }, 1, ZCL_KIND_UINT, .u = 22 },
        { ZCL_TYPE_UINT8, { 0xFF }, 1, ZCL_KIND_UINT, .u = 255, .invalid = true },
        { ZCL_TYPE_UINT16, { 0xBF, 0x06 }, 2, ZCL_KIND_UINT, .u = 1727 },
        { ZCL_TYPE_UINT24, { 0x01, 0x02, 0x03 }, 3, ZCL_KIND_UINT, .u = 0x030201 },
        { ZCL_TYPE_UINT32, { 0x78, 0x56, 0x34, 0x12 }, 4, ZCL_KIND_UINT, .u = 0x12345678 },
        { 0x24, { 1, 2, 3, 4, 5 }, 5, ZCL_KIND_UINT, .u = 0x0504030201 },
        { 0x25, { 1, 2, 3, 4, 5, 6 }, 6, ZCL_KIND_UINT, .u = 0x060504030201 },
        { 0x26, { 1, 2, 3, 4, 5, 6, 7 }, 7, ZCL_KIND_UINT, .u = 0x07060504030201 },
        { ZCL_TYPE_UINT64, { 1, 2, 3, 4, 5, 6, 7, 8 }, 8, ZCL_KIND_UINT, .u = 0x0807060504030201 },
        { ZCL_TYPE_INT8, { 0x1A }, 1, ZCL_KIND_INT, .i = 26 },
        { ZCL_TYPE_INT8, { 0xE6 }, 1, ZCL_KIND_INT, .i = -26 },
        { ZCL_TYPE_INT8, { 0x80 }, 1, ZCL_KIND_INT, .i = -128, .invalid = true },
        { ZCL_TYPE_INT16, { 0x18, 0xFC }, 2, ZCL_KIND_INT, .i = -1000 },
        { 0x2A, { 0xFE, 0xFF, 0xFF }, 3, ZCL_KIND_INT, .i = -2 },
        { ZCL_TYPE_INT32, { 0x00, 0x00, 0x00, 0x80 }, 4, ZCL_KIND_INT, .i = INT32_MIN, .invalid = true },
        { 0x2C, { 0xFF, 0xFF, 0xFF, 0xFF, 0x7F }, 5, ZCL_KIND_INT, .i = 0x7FFFFFFFFFLL },
        { ZCL_TYPE_INT64, { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF }, 8, ZCL_KIND_INT, .i = -1 },
        { ZCL_TYPE_ENUM8, { 0x01 }, 1, ZCL_KIND_UINT, .u = 1 },
        { ZCL_TYPE_ENUM16, { 0x01, 0x02 }, 2, ZCL_KIND_UINT, .u = 0x0201 },
        { ZCL_TYPE_SEMI, { 0x00, 0x3C }, 2, ZCL_KIND_FLOAT, .f = 1.0 },
        { ZCL_TYPE_SEMI, { 0x00, 0xC0 }, 2, ZCL_KIND_FLOAT, .f = -2.0 },
        { ZCL_TYPE_SEMI, { 0x01, 0x00 }, 2, ZCL_KIND_FLOAT, .f = 5.9604644775390625e-08 },
        { ZCL_TYPE_SINGLE, { 0x00, 0xC0, 0x0F, 0x45 }, 4, ZCL_KIND_FLOAT, .f = 2300.0 },
        { ZCL_TYPE_SINGLE, { 0x00, 0x80, 0x13, 0x45 }, 4, ZCL_KIND_FLOAT, .f = 2360.0 },
        { ZCL_TYPE_SINGLE, { 0x00, 0x00, 0xC0, 0x7F }, 4, ZCL_KIND_FLOAT, .invalid = true },
        { ZCL_TYPE_DOUBLE, { 0, 0, 0, 0, 0, 0, 0xF0, 0x3F }, 8, ZCL_KIND_FLOAT, .f = 1.0 },
        { ZCL_TYPE_UTC, { 0x01, 0x00, 0x00, 0x00 }, 4, ZCL_KIND_UINT, .u = 1 },
        { ZCL_TYPE_CLUSTER_ID, { 0xC0, 0xFC }, 2, ZCL_KIND_UINT, .u = 0xFCC0 },
        { ZCL_TYPE_IEEE, { 0xC4, 0xB3, 0xA2, 0x01, 0x00, 0x8D, 0x15, 0x00 }, 8, ZCL_KIND_UINT, .u = 0x00158d0001a2b3c4ULL },
};

static void test_every_fixed_type_decodes_and_reencodes(void) {
        for (size_t k = 0; k < ELEMENTSOF(type_cases); k++) {
                const TypeCase *t = &type_cases[k];
                ZclValue v;
                uint8_t out[16];

                assert(zcl_type_fixed_size(t->type) == (int) t->len);
                assert(zcl_value_decode(t->type, t->bytes, t->len, &v) == (int) t->len);
                assert(v.kind == t->kind);
                assert(v.invalid == t->invalid);
                switch (t->kind) {
                case ZCL_KIND_BOOL: assert(v.b == (t->u == 1)); break;
                case ZCL_KIND_UINT: assert(v.u == t->u); break;
                case ZCL_KIND_INT: assert(v.i == t->i); break;
                case ZCL_KIND_FLOAT: assert(t->invalid ? isnan(v.f) : v.f == t->f); break;
                default: assert(false);
                }
                /* one byte short is a truncation, never a read past the end */
                assert(zcl_value_decode(t->type, t->bytes, t->len - 1, &v) == -EBADMSG);

                if (t->invalid || t->type == ZCL_TYPE_BOOL)
                        continue;
                assert(zcl_value_decode(t->type, t->bytes, t->len, &v) == (int) t->len);
                assert(zcl_value_encode(&v, out, sizeof(out)) == (int) t->len);
                assert(memcmp(out, t->bytes, t->len) == 0);
                assert(zcl_value_encode(&v, out, t->len - 1) == -ENOBUFS);
        }
}

static void test_strings_decode_in_place(void) {
        static const uint8_t octet[] = { 0x03, 'a', 'b', 'c', 0x99 };
        static const uint8_t chars[] = { 0x04, 'L', 'U', 'M', 'I' };
        static const uint8_t long_octet[] = { 0x02, 0x00, 0xAA, 0xBB };
        static const uint8_t long_chars[] = { 0x01, 0x00, 'x' };
        static const uint8_t invalid[] = { 0xFF };
        static const uint8_t overrun[] = { 0x05, 'a', 'b' };
        ZclValue v;
        uint8_t out[8];

        assert(zcl_value_decode(ZCL_TYPE_OCTET_STR, octet, sizeof(octet), &v) == 4);
        assert(v.kind == ZCL_KIND_BYTES && v.bytes.len == 3 && v.bytes.data == octet + 1);
        assert(zcl_value_encode(&v, out, sizeof(out)) == 4 && memcmp(out, octet, 4) == 0);
        assert(zcl_value_decode(ZCL_TYPE_CHAR_STR, chars, sizeof(chars), &v) == 5);
        assert(v.bytes.len == 4 && memcmp(v.bytes.data, "LUMI", 4) == 0);
        assert(zcl_value_decode(ZCL_TYPE_LONG_OCTET_STR, long_octet, sizeof(long_octet), &v) == 4);
        assert(v.bytes.len == 2 && v.bytes.data[1] == 0xBB);
        assert(zcl_value_encode(&v, out, sizeof(out)) == 4 && memcmp(out, long_octet, 4) == 0);
        assert(zcl_value_decode(ZCL_TYPE_LONG_CHAR_STR, long_chars, sizeof(long_chars), &v) == 3);
        assert(zcl_value_decode(ZCL_TYPE_CHAR_STR, invalid, sizeof(invalid), &v) == 1 && v.invalid && v.bytes.len == 0);
        assert(zcl_value_decode(ZCL_TYPE_OCTET_STR, overrun, sizeof(overrun), &v) == -EBADMSG);
        assert(zcl_value_decode(ZCL_TYPE_OCTET_STR, overrun, 0, &v) == -EBADMSG);
        assert(zcl_value_decode(ZCL_TYPE_LONG_CHAR_STR, long_chars, 1, &v) == -EBADMSG);
        assert(zcl_value_decode(ZCL_TYPE_LONG_CHAR_STR, long_chars, 2, &v) == -EBADMSG);
}

static void test_struct_and_array_walk_their_elements(void) {
        /* struct { uint8 5, single 1.0, char string "ab" } */
        static const uint8_t st[] = { 0x03, 0x00, 0x20, 0x05, 0x39, 0x00, 0x00, 0x80, 0x3F, 0x42, 0x02, 'a', 'b' };
        /* array of 3 x uint16 */
        static const uint8_t arr[] = { 0x21, 0x03, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00 };
        ZclValue v, e;
        size_t pos = 0;
        uint8_t out[16];

        assert(zcl_value_decode(ZCL_TYPE_STRUCT, st, sizeof(st), &v) == (int) sizeof(st));
        assert(v.kind == ZCL_KIND_STRUCT && v.items.count == 3);
        assert(zcl_value_next_element(&v, &pos, &e) == 1 && e.type == ZCL_TYPE_UINT8 && e.u == 5);
        assert(zcl_value_next_element(&v, &pos, &e) == 1 && e.type == ZCL_TYPE_SINGLE && e.f == 1.0);
        assert(zcl_value_next_element(&v, &pos, &e) == 1 && e.kind == ZCL_KIND_BYTES && e.bytes.len == 2);
        assert(zcl_value_next_element(&v, &pos, &e) == 0);
        assert(zcl_value_encode(&v, out, sizeof(out)) == (int) sizeof(st) && memcmp(out, st, sizeof(st)) == 0);
        for (size_t l = 0; l < sizeof(st); l++)
                assert(zcl_value_decode(ZCL_TYPE_STRUCT, st, l, &v) == -EBADMSG);

        assert(zcl_value_decode(ZCL_TYPE_ARRAY, arr, sizeof(arr), &v) == (int) sizeof(arr));
        assert(v.kind == ZCL_KIND_ARRAY && v.items.count == 3 && v.items.element_type == ZCL_TYPE_UINT16);
        pos = 0;
        for (uint64_t want = 1; want <= 3; want++)
                assert(zcl_value_next_element(&v, &pos, &e) == 1 && e.u == want);
        assert(zcl_value_next_element(&v, &pos, &e) == 0);
        assert(zcl_value_encode(&v, out, sizeof(out)) == (int) sizeof(arr) && memcmp(out, arr, sizeof(arr)) == 0);
        for (size_t l = 0; l < sizeof(arr); l++)
                assert(zcl_value_decode(ZCL_TYPE_ARRAY, arr, l, &v) == -EBADMSG);
}

static void test_reserved_type_is_not_guessed(void) {
        static const uint8_t b[] = { 0x00, 0x00 };
        ZclValue v;

        assert(zcl_value_decode(0x5F, b, sizeof(b), &v) == -EOPNOTSUPP);
        assert(zcl_value_decode(0x48 + 1, b, sizeof(b), &v) == -EOPNOTSUPP);
        assert(zcl_type_fixed_size(0x07) == -EOPNOTSUPP);
        assert(zcl_type_fixed_size(ZCL_TYPE_OCTET_STR) == -EMSGSIZE);
}

static void test_encode_refuses_values_that_do_not_fit(void) {
        ZclValue v = zcl_value_uint(ZCL_TYPE_UINT8, 256);
        uint8_t out[8];

        assert(zcl_value_encode(&v, out, sizeof(out)) == -ERANGE);
        v = zcl_value_int(ZCL_TYPE_INT8, -129);
        assert(zcl_value_encode(&v, out, sizeof(out)) == -ERANGE);
        v = zcl_value_int(ZCL_TYPE_INT8, -128);
        assert(zcl_value_encode(&v, out, sizeof(out)) == 1 && out[0] == 0x80);
}

static void test_semi_float_encodes_like_ieee_half(void) {
        ZclValue v = { .type = ZCL_TYPE_SEMI, .kind = ZCL_KIND_FLOAT, .f = 1.0 };
        uint8_t out[2];

        assert(zcl_value_encode(&v, out, sizeof(out)) == 2 && out[0] == 0x00 && out[1] == 0x3C);
        v.f = -2.0;
        assert(zcl_value_encode(&v, out, sizeof(out)) == 2 && out[0] == 0x00 && out[1] == 0xC0);
        v.f = 65504.0;
        assert(zcl_value_encode(&v, out, sizeof(out)) == 2 && out[0] == 0xFF && out[1] == 0x7B);
}

/* zncz04lm.md section 5: the frames Zigbee2MQTT sends */
static void test_builders_match_the_frames_zigbee2mqtt_sends(void) {
        uint8_t buf[32];
        ZclHeader h;
        ZclAttrRecord rec;
        uint16_t id;
        int n;

        h = zcl_header_cluster_request(0, 0x21, 0x01, true);
        n = zcl_build_cluster_command(&h, NULL, 0, buf, sizeof(buf));
        assert(n == 3 && memcmp(buf, "\x01\x21\x01", 3) == 0);

        h = zcl_header_global_request(0, 0x22);
        id = 0x0000;
        n = zcl_build_read_attributes(&h, &id, 1, buf, sizeof(buf));
        assert(n == 5 && memcmp(buf, "\x10\x22\x00\x00\x00", 5) == 0);
        id = 0x0055;
        n = zcl_build_read_attributes(&h, &id, 1, buf, sizeof(buf));
        assert(n == 5 && memcmp(buf, "\x10\x22\x00\x55\x00", 5) == 0);

        h = zcl_header_global_request(ZCL_MANUFACTURER_LUMI, 0x23);
        rec = (ZclAttrRecord) { .id = 0x0201, .value = zcl_value_bool(true) };
        n = zcl_build_write_attributes(&h, &rec, 1, buf, sizeof(buf));
        assert(n == 9 && memcmp(buf, "\x14\x5F\x11\x23\x02\x01\x02\x10\x01", 9) == 0);

        rec = (ZclAttrRecord) { .id = 0x020B, .value = zcl_value_single(2300.0f) };
        n = zcl_build_write_attributes(&h, &rec, 1, buf, sizeof(buf));
        assert(n == 12 && memcmp(buf, "\x14\x5F\x11\x23\x02\x0B\x02\x39\x00\xC0\x0F\x45", 12) == 0);

        id = 0x020B;
        n = zcl_build_read_attributes(&h, &id, 1, buf, sizeof(buf));
        assert(n == 7 && memcmp(buf, "\x14\x5F\x11\x23\x00\x0B\x02", 7) == 0);

        assert(zcl_build_write_attributes(&h, &rec, 1, buf, 11) == -ENOBUFS);
}

static void test_default_response_answers_in_the_other_direction(void) {
        uint8_t buf[16];
        ZclHeader req = zcl_header_cluster_request(0, 0x31, 0x01, true), rsp;

        rsp = zcl_header_response_to(&req);
        /* the plug's answer to "on": 18 tt 0B 01 00 */
        assert(zcl_build_default_rsp(&rsp, 0x01, ZCL_STATUS_SUCCESS, buf, sizeof(buf)) == 5);
        assert(memcmp(buf, "\x18\x31\x0B\x01\x00", 5) == 0);

        req = zcl_header_global_request(ZCL_MANUFACTURER_LUMI, 0x32);
        rsp = zcl_header_response_to(&req);
        assert(rsp.frame_control == 0x1C && rsp.manufacturer == ZCL_MANUFACTURER_LUMI && rsp.tsn == 0x32);

        uint8_t cmd, status;
        assert(zcl_parse_default_rsp(buf + 3, 2, &cmd, &status) == 0 && cmd == 0x01 && status == 0);
        assert(zcl_parse_default_rsp(buf + 3, 1, &cmd, &status) == -EBADMSG);
}

static void test_read_response_with_failed_and_good_records(void) {
        static const uint8_t payload[] = {
                0x03, 0x02, 0x86,                       /* 0x0203 UNSUPPORTED_ATTRIBUTE */
                0x0B, 0x02, 0x00, 0x39, 0x00, 0xC0, 0x0F, 0x45,  /* 0x020B = 2300.0 */
        };
        ZclCursor c = zcl_cursor(payload, sizeof(payload));
        ZclAttrRecord rec;
        uint8_t buf[32];
        ZclHeader h = { .frame_control = 0x1C, .manufacturer = 0x115F, .tsn = 9 };
        ZclAttrRecord recs[2];
        int n;

        assert(zcl_parse_read_attributes_rsp_next(&c, &rec) == 1);
        assert(rec.id == 0x0203 && rec.status == 0x86 && rec.value.kind == ZCL_KIND_NONE);
        recs[0] = rec;
        assert(zcl_parse_read_attributes_rsp_next(&c, &rec) == 1);
        assert(rec.id == 0x020B && rec.status == 0 && rec.value.f == 2300.0);
        recs[1] = rec;
        assert(zcl_parse_read_attributes_rsp_next(&c, &rec) == 0);

        n = zcl_build_read_attributes_rsp(&h, recs, 2, buf, sizeof(buf));
        assert(n == 5 + (int) sizeof(payload) && buf[4] == ZCL_CMD_READ_ATTRIBUTES_RSP);
        assert(memcmp(buf + 5, payload, sizeof(payload)) == 0);

        for (size_t l = 1; l < sizeof(payload); l++) {
                int r = 0;
                c = zcl_cursor(payload, l);
                while ((r = zcl_parse_read_attributes_rsp_next(&c, &rec)) > 0)
                        ;
                assert(l == 3 ? r == 0 : r == -EBADMSG);
        }
}

static void test_report_with_two_records_roundtrips(void) {
        ZclHeader h = { .frame_control = 0x18, .tsn = 5 };
        ZclAttrRecord in[2] = {
                { .id = 0x0000, .value = zcl_value_bool(true) },
                { .id = 0x0055, .value = zcl_value_single(112.7f) },
        };
        uint8_t buf[32];
        ZclCursor c;
        ZclAttrRecord rec;
        ZclHeader d;
        int n, hl;

        n = zcl_build_report_attributes(&h, in, 2, buf, sizeof(buf));
        assert(n == 3 + 4 + 7);
        hl = zcl_header_decode(buf, (size_t) n, &d);
        assert(hl == 3 && d.command == ZCL_CMD_REPORT_ATTRIBUTES);
        c = zcl_cursor(buf + hl, (size_t) (n - hl));
        assert(zcl_parse_report_attributes_next(&c, &rec) == 1 && rec.id == 0 && rec.value.b);
        assert(zcl_parse_report_attributes_next(&c, &rec) == 1 && rec.id == 0x55 && rec.value.f == (double) 112.7f);
        assert(zcl_parse_report_attributes_next(&c, &rec) == 0);
}

static void test_write_response_forms(void) {
        static const uint8_t ok[] = { 0x00 };
        static const uint8_t failed[] = { 0x87, 0x0B, 0x02, 0x88, 0x07, 0x02 };
        ZclCursor c = zcl_cursor(ok, sizeof(ok));
        ZclAttrRecord rec, recs[3] = {
                { .id = 0x0201, .status = 0 }, { .id = 0x020B, .status = 0x87 }, { .id = 0x0207, .status = 0x88 },
        };
        ZclHeader h = { .frame_control = 0x18, .tsn = 1 };
        uint8_t buf[16];

        assert(zcl_parse_write_attributes_rsp_next(&c, &rec) == 1 && rec.status == 0);
        assert(zcl_parse_write_attributes_rsp_next(&c, &rec) == 0);
        c = zcl_cursor(failed, sizeof(failed));
        assert(zcl_parse_write_attributes_rsp_next(&c, &rec) == 1 && rec.status == 0x87 && rec.id == 0x020B);
        assert(zcl_parse_write_attributes_rsp_next(&c, &rec) == 1 && rec.status == 0x88 && rec.id == 0x0207);
        assert(zcl_parse_write_attributes_rsp_next(&c, &rec) == 0);
        c = zcl_cursor(failed, 2);
        assert(zcl_parse_write_attributes_rsp_next(&c, &rec) == -EBADMSG);

        assert(zcl_build_write_attributes_rsp(&h, recs, 1, buf, sizeof(buf)) == 4 && buf[3] == 0x00);
        assert(zcl_build_write_attributes_rsp(&h, recs, 3, buf, sizeof(buf)) == 3 + 6);
        assert(memcmp(buf + 3, failed, sizeof(failed)) == 0);
}

static void test_write_attributes_parse(void) {
        static const uint8_t p[] = { 0x02, 0x02, 0x10, 0x00 };
        ZclCursor c = zcl_cursor(p, sizeof(p));
        ZclAttrRecord rec;

        assert(zcl_parse_write_attributes_next(&c, &rec) == 1 && rec.id == 0x0202 && rec.value.kind == ZCL_KIND_BOOL && !rec.value.b);
        assert(zcl_parse_write_attributes_next(&c, &rec) == 0);
}

static void test_read_attributes_parse(void) {
        static const uint8_t p[] = { 0x55, 0x00, 0x01 };
        ZclCursor c = zcl_cursor(p, sizeof(p));
        uint16_t id;

        assert(zcl_parse_read_attributes_next(&c, &id) == 1 && id == 0x0055);
        assert(zcl_parse_read_attributes_next(&c, &id) == -EBADMSG);
}

static void test_configure_reporting_roundtrip(void) {
        ZclReportingConfig cfg[2] = {
                { .id = 0x0055, .type = ZCL_TYPE_SINGLE, .min_interval = 10, .max_interval = 3600,
                  .reportable_change = { .kind = ZCL_KIND_FLOAT, .f = 5 } },
                { .id = 0x0000, .type = ZCL_TYPE_BOOL, .min_interval = 0, .max_interval = 600 },
        }, out;
        ZclHeader h = zcl_header_global_request(0, 3);
        uint8_t buf[32];
        ZclCursor c;
        int n;

        n = zcl_build_configure_reporting(&h, cfg, 2, buf, sizeof(buf));
        assert(n == 3 + (1 + 2 + 1 + 2 + 2 + 4) + (1 + 2 + 1 + 2 + 2));
        assert(buf[2] == ZCL_CMD_CONFIGURE_REPORTING);
        c = zcl_cursor(buf + 3, (size_t) n - 3);
        assert(zcl_parse_configure_reporting_next(&c, &out) == 1);
        assert(out.id == 0x55 && out.min_interval == 10 && out.max_interval == 3600 && out.reportable_change.f == 5);
        assert(zcl_parse_configure_reporting_next(&c, &out) == 1 && out.type == ZCL_TYPE_BOOL && out.max_interval == 600);
        assert(zcl_parse_configure_reporting_next(&c, &out) == 0);
}

static void test_configure_reporting_response_forms(void) {
        static const uint8_t ok[] = { 0x00 };
        static const uint8_t failed[] = { 0x8C, 0x00, 0x55, 0x00, 0x86, 0x00, 0x00, 0x00 };
        ZclCursor c = zcl_cursor(ok, sizeof(ok));
        ZclAttrRecord rec;
        uint8_t dir = 9;

        assert(zcl_parse_configure_reporting_rsp_next(&c, &rec, &dir) == 1 && rec.status == 0 && dir == 0);
        assert(zcl_parse_configure_reporting_rsp_next(&c, &rec, &dir) == 0);
        c = zcl_cursor(failed, sizeof(failed));
        assert(zcl_parse_configure_reporting_rsp_next(&c, &rec, &dir) == 1 && rec.status == 0x8C && rec.id == 0x0055);
        assert(zcl_parse_configure_reporting_rsp_next(&c, &rec, &dir) == 1 && rec.status == 0x86 && rec.id == 0);
        assert(zcl_parse_configure_reporting_rsp_next(&c, &rec, &dir) == 0);
        c = zcl_cursor(failed, 3);
        assert(zcl_parse_configure_reporting_rsp_next(&c, &rec, &dir) == -EBADMSG);
}

/* zha-device-handlers' Lumi quirk: the 0x00F7/0xFF01 length byte off by one */
static void test_lumi_blob_length_off_by_one_is_tolerated(void) {
        static const uint8_t too_long[] = { 0xF7, 0x00, 0x41, 0x04, 0x64, 0x10, 0x01 };         /* 3 bytes follow */
        static const uint8_t too_short[] = { 0xF7, 0x00, 0x41, 0x02, 0x64, 0x10, 0x01 };        /* 3 bytes follow */
        static const uint8_t other_attr[] = { 0x01, 0x00, 0x41, 0x04, 0x64, 0x10, 0x01 };
        ZclCursor c;
        ZclAttrRecord rec;

        c = zcl_cursor(too_long, sizeof(too_long));
        assert(zcl_parse_report_attributes_next(&c, &rec) == 1 && rec.value.bytes.len == 3);
        assert(zcl_parse_report_attributes_next(&c, &rec) == 0);
        c = zcl_cursor(too_short, sizeof(too_short));
        assert(zcl_parse_report_attributes_next(&c, &rec) == 1 && rec.value.bytes.len == 3);
        assert(zcl_parse_report_attributes_next(&c, &rec) == 0);
        c = zcl_cursor(other_attr, sizeof(other_attr));
        assert(zcl_parse_report_attributes_next(&c, &rec) == -EBADMSG);
}

static void test_random_bytes_never_read_out_of_bounds(void) {
        uint32_t seed = 0x12345678;
        uint8_t buf[64];

        for (int round = 0; round < 20000; round++) {
                size_t len = (size_t) (seed % sizeof(buf));
                ZclCursor c;
                ZclAttrRecord rec;
                ZclReportingConfig cfg;
                ZclValue v;
                uint16_t id;
                ZclHeader h;

                for (size_t i = 0; i < len; i++) {
                        seed = seed * 1103515245u + 12345u;
                        buf[i] = (uint8_t) (seed >> 16);
                }
                seed = seed * 1103515245u + 12345u;
                (void) zcl_header_decode(buf, len, &h);
                (void) zcl_value_decode(len ? buf[0] : 0, buf + (len ? 1 : 0), len ? len - 1 : 0, &v);
                c = zcl_cursor(buf, len);
                while (zcl_parse_report_attributes_next(&c, &rec) > 0)
                        ;
                c = zcl_cursor(buf, len);
                while (zcl_parse_read_attributes_rsp_next(&c, &rec) > 0)
                        ;
                c = zcl_cursor(buf, len);
                while (zcl_parse_write_attributes_rsp_next(&c, &rec) > 0)
                        ;
                c = zcl_cursor(buf, len);
                while (zcl_parse_configure_reporting_next(&c, &cfg) > 0)
                        ;
                c = zcl_cursor(buf, len);
                while (zcl_parse_read_attributes_next(&c, &id) > 0)
                        ;
                c = zcl_cursor(buf, len);
                while (zcl_parse_configure_reporting_rsp_next(&c, &rec, NULL) > 0)
                        ;
        }
}

int main(void) {
        test_header_without_and_with_manufacturer_code();
        test_truncated_header_is_rejected();
        test_every_fixed_type_decodes_and_reencodes();
        test_strings_decode_in_place();
        test_struct_and_array_walk_their_elements();
        test_reserved_type_is_not_guessed();
        test_encode_refuses_values_that_do_not_fit();
        test_semi_float_encodes_like_ieee_half();
        test_builders_match_the_frames_zigbee2mqtt_sends();
        test_default_response_answers_in_the_other_direction();
        test_read_response_with_failed_and_good_records();
        test_report_with_two_records_roundtrips();
        test_write_response_forms();
        test_write_attributes_parse();
        test_read_attributes_parse();
        test_configure_reporting_roundtrip();
        test_configure_reporting_response_forms();
        test_lumi_blob_length_off_by_one_is_tolerated();
        test_random_bytes_never_read_out_of_bounds();
        return 0;
}
