/*
 * Fuzz target: a ZCL frame as a device sends it (src/zigbee/zcl.h). The header is decoded, then
 * the payload is walked with the parser of its command (and, so that every parser sees every
 * input, with all the others too). Each decoded value is taken apart (aggregates element by
 * element, nested), converted to a number, and encoded again: an encoding must decode back to the
 * same length, and integers to the same bytes.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "zigbee/zcl.h"

#define WALK_DEPTH_MAX 8
#define RECORDS_MAX 512

static void check_value(const ZclValue *v, const uint8_t *wire, int wire_len, unsigned depth) {
        uint8_t buf[1024];
        double d;
        int n;

        (void) zcl_type_name(v->type);
        (void) zcl_type_is_analog(v->type);
        (void) zcl_value_to_double(v, &d);

        if (v->kind == ZCL_KIND_ARRAY || v->kind == ZCL_KIND_STRUCT) {
                size_t pos = 0, last = 0;
                ZclValue e;
                int r;

                if (depth >= WALK_DEPTH_MAX)
                        return;
                while ((r = zcl_value_next_element(v, &pos, &e)) > 0) {
                        FUZZ_CHECK(pos <= v->items.len);
                        FUZZ_CHECK(pos > last || pos == v->items.len);
                        last = pos;
                        check_value(&e, NULL, -1, depth + 1);
                }
                return;
        }

        n = zcl_value_encode(v, buf, sizeof(buf));
        if (n > 0 && !v->invalid) {
                ZclValue back;

                FUZZ_CHECK(zcl_value_decode(v->type, buf, (size_t) n, &back) == n);
                FUZZ_CHECK(back.kind == v->kind);
                if (wire && (v->kind == ZCL_KIND_UINT || v->kind == ZCL_KIND_INT)) {
                        FUZZ_CHECK(n == wire_len);
                        FUZZ_CHECK(memcmp(buf, wire, (size_t) n) == 0);
                }
        }
}

static void walk_payload(uint8_t command, const uint8_t *p, size_t len, bool only_this) {
        ZclCursor c;
        ZclAttrRecord rec;
        ZclReportingConfig cfg;
        uint16_t id;
        unsigned k;
        int r;

#define WALK(cmd, call, body)                                                                   \
        if (!only_this || command == (cmd)) {                                                   \
                c = zcl_cursor(p, len);                                                         \
                for (k = 0; k < RECORDS_MAX && (r = (call)) > 0; k++) {                         \
                        FUZZ_CHECK(c.left <= len && c.p >= p && c.p + c.left == p + len);       \
                        body;                                                                   \
                }                                                                               \
        }

        WALK(ZCL_CMD_READ_ATTRIBUTES, zcl_parse_read_attributes_next(&c, &id), (void) id);
        WALK(ZCL_CMD_READ_ATTRIBUTES_RSP, zcl_parse_read_attributes_rsp_next(&c, &rec),
             check_value(&rec.value, NULL, -1, 0));
        WALK(ZCL_CMD_WRITE_ATTRIBUTES, zcl_parse_write_attributes_next(&c, &rec), check_value(&rec.value, NULL, -1, 0));
        WALK(ZCL_CMD_WRITE_ATTRIBUTES_RSP, zcl_parse_write_attributes_rsp_next(&c, &rec), (void) rec);
        WALK(ZCL_CMD_REPORT_ATTRIBUTES, zcl_parse_report_attributes_next(&c, &rec), check_value(&rec.value, NULL, -1, 0));
        WALK(ZCL_CMD_CONFIGURE_REPORTING, zcl_parse_configure_reporting_next(&c, &cfg),
             check_value(&cfg.reportable_change, NULL, -1, 0));
#undef WALK

        if (!only_this || command == ZCL_CMD_DEFAULT_RSP) {
                uint8_t cmd, status;

                (void) zcl_parse_default_rsp(p, len, &cmd, &status);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ZclHeader h;
        uint8_t buf[8];
        int hl;

        /* An AF frame carries at most 233 bytes of ZCL; beyond that the nested-array cost only slows
         * the fuzzer down. */
        if (size > 300)
                return 0;

        hl = zcl_header_decode(data, size, &h);
        if (hl >= 0) {
                ZclHeader back;
                int n;

                FUZZ_CHECK(hl == 3 || hl == 5);
                FUZZ_CHECK((size_t) hl <= size);
                n = zcl_header_encode(&h, buf, sizeof(buf));
                FUZZ_CHECK(n == hl);
                FUZZ_CHECK(zcl_header_decode(buf, (size_t) n, &back) == n);
                FUZZ_CHECK(memcmp(buf, data, (size_t) n) == 0);
                if (zcl_header_is_global(&h))
                        walk_payload(h.command, data + hl, size - (size_t) hl, true);
        }

        /* Every parser on the raw bytes too, and every value type on them. */
        walk_payload(0, data, size, false);
        if (size > 0) {
                ZclValue v;
                int n = zcl_value_decode(data[0], data + 1, size - 1, &v);

                if (n >= 0) {
                        FUZZ_CHECK((size_t) n <= size - 1);
                        check_value(&v, data + 1, n, 0);
                }
                (void) zcl_type_fixed_size(data[0]);
        }
        return 0;
}
