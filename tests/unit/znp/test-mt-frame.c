/*
 * MT frame codec and resynchronising parser, on the byte vectors of znp.md section 8
 * (captured from real sticks or taken from zigbee-herdsman's parser fixtures).
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "znp/mt-frame.h"

static size_t hex(const char *s, uint8_t *out, size_t max) {
        size_t n = 0;

        while (*s) {
                unsigned v;
                int k;

                if (*s == ' ') {
                        s++;
                        continue;
                }
                assert(sscanf(s, "%2x%n", &v, &k) == 1 && k == 2);
                assert(n < max);
                out[n++] = (uint8_t) v;
                s += 2;
        }
        return n;
}

typedef struct Vector {
        const char *hex;
        uint8_t cmd0, cmd1, len;
        const char *data;       /* expected DATA, hex */
        const char *name;
} Vector;

/* Every complete frame of znp.md 8.1 (row number in the comment) and the constructed ones of 8.2. */
static const Vector vectors[] = {
        /* 1 */ { "FE 00 21 02 23", 0x21, 0x02, 0, "", "SYS_VERSION" },
        /* 1 */ { "FE 0A 61 02 02 01 02 07 01 46 D9 34 01 00 C4", 0x61, 0x02, 10,
                  "02 01 02 07 01 46 D9 34 01 00", "SYS_VERSION" },
        /* 2 */ { "FE 0A 61 02 02 01 02 07 01 2A 8D 34 01 00 FC", 0x61, 0x02, 10,
                  "02 01 02 07 01 2A 8D 34 01 00", "SYS_VERSION" },
        /* 3 */ { "FE 0E 61 02 02 00 02 06 03 D9 14 34 01 02 00 00 00 00 92", 0x61, 0x02, 14,
                  "02 00 02 06 03 D9 14 34 01 02 00 00 00 00", "SYS_VERSION" },
        /* 4 */ { "FE 01 41 00 01 41", 0x41, 0x00, 1, "01", "SYS_RESET_REQ" },
        /* 4 */ { "FE 06 41 80 00 02 01 02 07 01 C0", 0x41, 0x80, 6, "00 02 01 02 07 01", "SYS_RESET_IND" },
        /* 5 */ { "FE 01 65 40 00 24", 0x65, 0x40, 1, "00", "ZDO_STARTUP_FROM_APP" },
        /* 5 */ { "FE 01 45 C0 09 8D", 0x45, 0xC0, 1, "09", "ZDO_STATE_CHANGE_IND" },
        /* 5 */ { "FE 03 4F 80 0D 00 04 C5", 0x4F, 0x80, 3, "0D 00 04", "APP_CNF_BDB_COMMISSIONING_NOTIFICATION" },
        /* 6 */ { "FE 04 25 05 00 00 00 00 24", 0x25, 0x05, 4, "00 00 00 00", "ZDO_ACTIVE_EP_REQ" },
        /* 6 */ { "FE 01 65 05 00 61", 0x65, 0x05, 1, "00", "ZDO_ACTIVE_EP_REQ" },
        /* 6 */ { "FE 06 45 85 00 00 00 00 00 00 C6", 0x45, 0x85, 6, "00 00 00 00 00 00", "ZDO_ACTIVE_EP_RSP" },
        /* 7 */ { "FE 01 2F 05 04 2F", 0x2F, 0x05, 1, "04", "APP_CNF_BDB_START_COMMISSIONING" },
        /* 7 */ { "FE 01 6F 05 00 6B", 0x6F, 0x05, 1, "00", "APP_CNF_BDB_START_COMMISSIONING" },
        /* 7 */ { "FE 03 4F 80 01 02 04 CB", 0x4F, 0x80, 3, "01 02 04", "APP_CNF_BDB_COMMISSIONING_NOTIFICATION" },
        /* 8 */ { "FE 05 2F 08 01 00 00 02 00 21", 0x2F, 0x08, 5, "01 00 00 02 00", "APP_CNF_BDB_SET_CHANNEL" },
        /* 8 */ { "FE 01 6F 08 00 66", 0x6F, 0x08, 1, "00", "APP_CNF_BDB_SET_CHANNEL" },
        /* 9 */ { "FE 02 21 13 62 00 52", 0x21, 0x13, 2, "62 00", "SYS_OSAL_NV_LENGTH" },
        /* 9 */ { "FE 02 61 13 10 00 60", 0x61, 0x13, 2, "10 00", "SYS_OSAL_NV_LENGTH" },
        /* 9 */ { "FE 04 21 1C 62 00 00 00 5B", 0x21, 0x1C, 4, "62 00 00 00", "SYS_OSAL_NV_READ_EXT" },
        /* 10 */ { "FE 05 21 32 01 01 00 45 00 53", 0x21, 0x32, 5, "01 01 00 45 00", "SYS_NV_LENGTH" },
        /* 10 */ { "FE 04 61 32 0C 00 00 00 5B", 0x61, 0x32, 4, "0C 00 00 00", "SYS_NV_LENGTH" },
        /* 11 */ { "FE 0E 61 33 00 0C FF FF FF FF FF FF FF FF FF FF FF FF 50", 0x61, 0x33, 14,
                   "00 0C FF FF FF FF FF FF FF FF FF FF FF FF", "SYS_NV_READ" },
        /* 12 */ { "FE 0C 45 CA 26 3F BD B3 77 3C DF 8C CF 04 00 00 47", 0x45, 0xCA, 12,
                   "26 3F BD B3 77 3C DF 8C CF 04 00 00", "ZDO_TC_DEV_IND" },
        /* 13 */ { "FE 0D 45 C1 26 3F 26 3F BD B3 77 3C DF 8C CF 04 84 D0", 0x45, 0xC1, 13,
                   "26 3F 26 3F BD B3 77 3C DF 8C CF 04 84", "ZDO_END_DEVICE_ANNCE_IND" },
        /* 14 */ { "FE 1C 44 81 00 00 00 04 3E 02 02 01 00 0F 00 79 07 91 00 00 08 08 8D 0A 00 00 21 D6 78 48 60 1B 39",
                   0x44, 0x81, 28,
                   "00 00 00 04 3E 02 02 01 00 0F 00 79 07 91 00 00 08 08 8D 0A 00 00 21 D6 78 48 60 1B",
                   "AF_INCOMING_MSG" },
        /* 15 */ { "FE 23 44 81 00 00 00 00 D5 AF 01 01 00 4C 00 28 FC 3D 00 00 0F 08 85 0A 01 00 20 C0 E2 FF 20 36 E4 FF 20 00 AF 71 1B A5",
                   0x44, 0x81, 35,
                   "00 00 00 00 D5 AF 01 01 00 4C 00 28 FC 3D 00 00 0F 08 85 0A 01 00 20 C0 E2 FF 20 36 E4 FF 20 00 AF 71 1B",
                   "AF_INCOMING_MSG" },
        /* 16 */ { "FE 07 45 C4 D5 AF 02 09 58 AF 71 71", 0x45, 0xC4, 7, "D5 AF 02 09 58 AF 71", "ZDO_SRC_RTG_IND" },
        /* 17 */ { "FE 05 25 04 B1 6B B1 6B 04 20", 0x25, 0x04, 5, "B1 6B B1 6B 04", "ZDO_SIMPLE_DESC_REQ" },
        /* 17 */ { "FE 01 65 04 00 60", 0x65, 0x04, 1, "00", "ZDO_SIMPLE_DESC_REQ" },
        /* 18 */ { "FE 10 45 84 B1 6B 00 B1 6B 0A F2 E0 A1 61 00 01 00 01 21 00 28", 0x45, 0x84, 16,
                   "B1 6B 00 B1 6B 0A F2 E0 A1 61 00 01 00 01 21 00", "ZDO_SIMPLE_DESC_RSP" },
        /* 19 */ { "FE 03 44 80 00 01 C5 03", 0x44, 0x80, 3, "00 01 C5", "AF_DATA_CONFIRM" },
        /* 20: 0xFE inside DATA */
        /* 20 */ { "FE 0B 45 C8 AE 91 9E 2D 45 FE FF 5F 32 50 03 70", 0x45, 0xC8, 11,
                   "AE 91 9E 2D 45 FE FF 5F 32 50 03", "ZDO_CONCENTRATOR_IND" },
        /* 21 */ { "FE 02 21 0F 00 14 38", 0x21, 0x0F, 2, "00 14", "SYS_STACK_TUNE" },
        /* 21 */ { "FE 01 61 0F 00 6F", 0x61, 0x0F, 1, "00", "SYS_STACK_TUNE" },
        /* 22 */ { "FE 03 61 08 00 01 55 3E", 0x61, 0x08, 3, "00 01 55", "SYS_OSAL_NV_READ" },
        /* 23 */ { "FE 03 45 C4 D4 17 00 41", 0x45, 0xC4, 3, "D4 17 00", "ZDO_SRC_RTG_IND" },
        /* 23 */ { "FE 1B 44 81 00 00 08 00 D4 17 01 01 00 37 00 99 B2 DB 00 00 07 08 7A 0A 00 00 20 F3 D4 17 1D A0",
                   0x44, 0x81, 27,
                   "00 00 08 00 D4 17 01 01 00 37 00 99 B2 DB 00 00 07 08 7A 0A 00 00 20 F3 D4 17 1D",
                   "AF_INCOMING_MSG" },
        /* 8.2 */ { "FE 00 21 01 20", 0x21, 0x01, 0, "", "SYS_PING" },
        /* 8.2 */ { "FE 02 61 01 59 06 3D", 0x61, 0x01, 2, "59 06", "SYS_PING" },
        /* 8.2 */ { "FE 02 25 40 64 00 03", 0x25, 0x40, 2, "64 00", "ZDO_STARTUP_FROM_APP" },
        /* 8.2 */ { "FE 00 27 00 27", 0x27, 0x00, 0, "", "UTIL_GET_DEVICE_INFO" },
        /* 8.2 */ { "FE 05 25 36 0F FC FF 00 01 1B", 0x25, 0x36, 5, "0F FC FF 00 01", "ZDO_MGMT_PERMIT_JOIN_REQ" },
        /* 8.2 */ { "FE 02 27 0A FF 05 D5", 0x27, 0x0A, 2, "FF 05", "UTIL_LED_CONTROL" },
        /* 8.2 */ { "FE 03 60 00 01 CD AB 04", 0x60, 0x00, 3, "01 CD AB", "RPC_ERROR" },
        /* 8.2 */ { "FE 02 61 03 06 01 67", 0x61, 0x03, 2, "06 01", "SYS_SET_EXTADDR" },
};

static void check_vector(const Vector *v, const MtFrame *f) {
        uint8_t data[MT_DATA_MAX];
        size_t n = hex(v->data, data, sizeof(data));

        assert(f->cmd0 == v->cmd0);
        assert(f->cmd1 == v->cmd1);
        assert(f->len == v->len);
        assert(n == v->len);
        assert(memcmp(f->data, data, n) == 0);
        assert(strcmp(mt_command_name(mt_frame_subsystem(f), f->cmd1), v->name) == 0);
}

static void test_every_captured_frame_decodes_to_its_documented_fields(void) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                uint8_t raw[MT_FRAME_MAX];
                size_t n = hex(vectors[i].hex, raw, sizeof(raw));
                MtFrame f;

                assert(mt_frame_decode(raw, n, &f) == 0);
                check_vector(&vectors[i], &f);
        }
}

static void test_every_captured_frame_encodes_back_to_the_same_bytes(void) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                uint8_t raw[MT_FRAME_MAX], out[MT_FRAME_MAX];
                size_t n = hex(vectors[i].hex, raw, sizeof(raw));
                uint8_t data[MT_DATA_MAX];
                size_t dn = hex(vectors[i].data, data, sizeof(data));
                MtFrame f;

                assert(mt_frame_init(&f, (MtType) (vectors[i].cmd0 >> 5), vectors[i].cmd0 & 0x1F,
                                     vectors[i].cmd1, data, dn) == 0);
                assert(mt_frame_encode(&f, out, sizeof(out)) == (int) n);
                assert(memcmp(out, raw, n) == 0);
        }
}

static void test_encoder_matches_herdsman_vector(void) {
        static const uint8_t expected[] = { 0xFE, 0x02, 0x61, 0x03, 0x06, 0x01, 0x67 };
        uint8_t out[16];
        MtFrame f;

        assert(mt_frame_init(&f, MT_SRSP, MT_SUBSYS_SYS, 0x03, (const uint8_t[]) { 0x06, 0x01 }, 2) == 0);
        assert(mt_frame_encode(&f, out, sizeof(out)) == 7);
        assert(memcmp(out, expected, 7) == 0);
        assert(mt_frame_encode(&f, out, 6) == -ENOBUFS);
}

static void test_builders_refuse_more_than_250_bytes(void) {
        uint8_t big[251] = {};
        MtFrame f;

        assert(mt_frame_init(&f, MT_SREQ, MT_SUBSYS_AF, 0x01, big, 251) == -EMSGSIZE);
        assert(mt_frame_init(&f, MT_SREQ, MT_SUBSYS_AF, 0x01, big, 250) == 0);
        assert(mt_frame_append_u8(&f, 1) == -EMSGSIZE);
        assert(mt_frame_init(&f, MT_SREQ, MT_SUBSYS_AF, 0x01, NULL, 0) == 0);
        assert(mt_frame_append_le16(&f, 0x1234) == 0);
        assert(mt_frame_append_le32(&f, 0xA1B2C3D4) == 0);
        assert(f.len == 6 && f.data[0] == 0x34 && f.data[1] == 0x12 && f.data[2] == 0xD4 && f.data[5] == 0xA1);
        assert(mt_le16(f.data) == 0x1234 && mt_le32(f.data + 2) == 0xA1B2C3D4);
        assert(mt_frame_init(&f, 4, MT_SUBSYS_AF, 0x01, NULL, 0) == -EINVAL);
}

static void test_decode_reports_each_kind_of_bad_input(void) {
        uint8_t raw[MT_FRAME_MAX + 1];
        MtFrame f;
        size_t n;

        n = hex("FE 00 21 01 21", raw, sizeof(raw));           /* correct FCS is 0x20 */
        assert(mt_frame_decode(raw, n, &f) == -EBADMSG);
        n = hex("FF 00 21 01 20", raw, sizeof(raw));
        assert(mt_frame_decode(raw, n, &f) == -EINVAL);
        n = hex("FE 02 61 01 59", raw, sizeof(raw));
        assert(mt_frame_decode(raw, n, &f) == -ENODATA);
        n = hex("FE 00 21 01 20 00", raw, sizeof(raw));
        assert(mt_frame_decode(raw, n, &f) == -E2BIG);
        n = hex("FE FB 21 01", raw, sizeof(raw));
        assert(mt_frame_decode(raw, n, &f) == -EMSGSIZE);
}

typedef struct Collected {
        MtFrame frames[16];
        size_t n;
} Collected;

static void collect(const MtFrame *f, void *userdata) {
        Collected *c = userdata;

        assert(c->n < ELEMENTSOF(c->frames));
        c->frames[c->n++] = *f;
}

static void test_garbage_before_frames_is_skipped_vector_23(void) {
        uint8_t raw[128];
        size_t n = hex("5F 1B 25 FE 03 45 C4 D4 17 00 41 "
                       "FE 1B 44 81 00 00 08 00 D4 17 01 01 00 37 00 99 B2 DB 00 00 07 08 7A 0A 00 00 20 F3 D4 17 1D A0",
                       raw, sizeof(raw));
        Collected c = {};
        MtParser p;

        mt_parser_init(&p);
        assert(mt_parser_feed(&p, raw, n, collect, &c) == 2);
        assert(c.n == 2);
        check_vector(&vectors[36], &c.frames[0]);
        check_vector(&vectors[37], &c.frames[1]);
        assert(p.stats.dropped_bytes == 3);
        assert(p.stats.frames == 2);
        assert(!mt_parser_has_partial(&p));
}

static void test_frame_split_across_reads_is_reassembled(void) {
        uint8_t raw[256];
        size_t n = hex("FE 0B 45 C8 AE 91 9E 2D 45 FE FF 5F 32 50 03 70 FE 01 45 C0 09 8D", raw, sizeof(raw));

        /* every split point, and one byte at a time */
        for (size_t cut = 0; cut <= n; cut++) {
                Collected c = {};
                MtParser p;

                mt_parser_init(&p);
                mt_parser_feed(&p, raw, cut, collect, &c);
                mt_parser_feed(&p, raw + cut, n - cut, collect, &c);
                assert(c.n == 2);
                check_vector(&vectors[32], &c.frames[0]);
                assert(c.frames[1].cmd1 == 0xC0 && c.frames[1].data[0] == 9);
                assert(p.stats.dropped_bytes == 0);
        }

        Collected c = {};
        MtParser p;
        mt_parser_init(&p);
        for (size_t i = 0; i < n; i++) {
                mt_parser_feed(&p, raw + i, 1, collect, &c);
                assert(mt_parser_has_partial(&p) == (i != 15 && i != n - 1));
        }
        assert(c.n == 2);
}

static void test_frame_with_bad_fcs_is_dropped_and_the_next_one_parsed(void) {
        uint8_t raw[64];
        size_t n = hex("FE 00 21 01 21 FE 01 45 C0 09 8D", raw, sizeof(raw));
        Collected c = {};
        MtParser p;

        mt_parser_init(&p);
        assert(mt_parser_feed(&p, raw, n, collect, &c) == 1);
        assert(c.frames[0].cmd0 == 0x45 && c.frames[0].cmd1 == 0xC0);
        assert(p.stats.bad_fcs == 1);
        assert(p.stats.dropped_bytes == 5);
}

static void test_stray_sof_costs_one_byte_not_the_following_frame(void) {
        /* a lone 0xFE then a real frame: the bogus candidate "FE FE 01 45 .." claims LEN 0xFE > 250 */
        uint8_t raw[64];
        size_t n = hex("FE FE 01 45 C0 09 8D", raw, sizeof(raw));
        Collected c = {};
        MtParser p;

        mt_parser_init(&p);
        assert(mt_parser_feed(&p, raw, n, collect, &c) == 1);
        assert(c.frames[0].cmd1 == 0xC0 && c.frames[0].data[0] == 9);
        assert(p.stats.oversized == 1);
        assert(p.stats.dropped_bytes == 1);

        /* a stray 0xFE whose "LEN" is plausible: the candidate fails its FCS and we resync at the real SOF */
        n = hex("FE 03 FE 00 21 01 20", raw, sizeof(raw));
        c.n = 0;
        mt_parser_init(&p);
        assert(mt_parser_feed(&p, raw, n, collect, &c) == 0);
        assert(mt_parser_has_partial(&p));                      /* waiting for 8 bytes */
        n = hex("FE 01 45 C0 09 8D", raw, sizeof(raw));
        assert(mt_parser_feed(&p, raw, n, collect, &c) == 2);
        assert(c.frames[0].cmd0 == 0x21 && c.frames[0].cmd1 == 0x01);
        assert(c.frames[1].cmd0 == 0x45);
        assert(p.stats.bad_fcs == 1);
}

static void test_len_251_is_rejected_and_parsing_continues(void) {
        uint8_t raw[300];
        size_t n = 0;
        Collected c = {};
        MtParser p;

        raw[n++] = 0xFE;
        raw[n++] = 0xFB;                /* 251 */
        raw[n++] = 0x44;
        raw[n++] = 0x81;
        for (size_t i = 0; i < 251; i++)
                raw[n++] = 0x00;
        raw[n++] = 0x00;
        n += hex("FE 03 44 80 00 01 C5 03", raw + n, sizeof(raw) - n);

        mt_parser_init(&p);
        assert(mt_parser_feed(&p, raw, n, collect, &c) == 1);
        assert(c.frames[0].cmd1 == 0x80 && c.frames[0].data[2] == 0xC5);
        assert(p.stats.oversized == 1);
        assert(p.stats.dropped_bytes == 256);
}

static void test_largest_frame_parses(void) {
        uint8_t raw[MT_FRAME_MAX];
        uint8_t data[MT_DATA_MAX];
        Collected c = {};
        MtParser p;
        MtFrame f;

        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t) (0xF0 + i);         /* includes 0xFE bytes */
        assert(mt_frame_init(&f, MT_AREQ, MT_SUBSYS_AF, 0x81, data, sizeof(data)) == 0);
        assert(mt_frame_encode(&f, raw, sizeof(raw)) == MT_FRAME_MAX);
        mt_parser_init(&p);
        assert(mt_parser_feed(&p, raw, sizeof(raw), collect, &c) == 1);
        assert(c.frames[0].len == 250 && memcmp(c.frames[0].data, data, 250) == 0);
}

static void test_truncated_frame_is_expired_and_the_next_one_recovered(void) {
        uint8_t raw[64];
        size_t n = hex("FE 0A 61 02 02 01 02 FE 01 45 C0 09 8D", raw, sizeof(raw));
        Collected c = {};
        MtParser p;

        /* the SYS_VERSION response is cut after 7 bytes; its LEN swallows the next frame */
        mt_parser_init(&p);
        assert(mt_parser_feed(&p, raw, n, collect, &c) == 0);
        assert(mt_parser_has_partial(&p));
        assert(mt_parser_expire(&p, collect, &c) == 1);
        assert(c.frames[0].cmd1 == 0xC0 && c.frames[0].data[0] == 9);
        assert(p.stats.truncated == 1);
        assert(p.stats.dropped_bytes == 7);
        assert(!mt_parser_has_partial(&p));
        assert(mt_parser_expire(&p, collect, &c) == 0);
}

static void test_only_garbage_is_all_dropped(void) {
        uint8_t junk[1000];
        MtParser p;

        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (uint8_t) (i * 7 + 1) == 0xFE ? 0 : (uint8_t) (i * 7 + 1);
        mt_parser_init(&p);
        assert(mt_parser_feed(&p, junk, sizeof(junk), NULL, NULL) == 0);
        assert(p.stats.dropped_bytes == sizeof(junk));
        assert(!mt_parser_has_partial(&p));
}

static void test_random_noise_never_overflows_and_valid_frames_survive(void) {
        uint8_t buf[4096];
        uint8_t ping[] = { 0xFE, 0x00, 0x21, 0x01, 0x20 };
        unsigned seed = 12345;
        MtParser p;

        mt_parser_init(&p);
        for (int round = 0; round < 200; round++) {
                size_t n = 0;
                for (size_t i = 0; i < sizeof(buf) - 5; i++) {
                        seed = seed * 1103515245u + 12345u;
                        buf[n++] = (seed >> 16) & 3 ? (uint8_t) (seed >> 8) : 0xFE;
                }
                mt_parser_feed(&p, buf, n, NULL, NULL);
                assert(p.n < MT_FRAME_MAX);
        }
        /* flush whatever candidate is pending, then a clean frame comes through */
        while (mt_parser_has_partial(&p))
                mt_parser_expire(&p, NULL, NULL);
        Collected c = {};
        assert(mt_parser_feed(&p, ping, sizeof(ping), collect, &c) == 1);
}

static void test_describe_names_known_and_unknown_commands(void) {
        char buf[64];
        MtFrame f;

        assert(mt_frame_init(&f, MT_SREQ, MT_SUBSYS_SYS, 0x01, NULL, 0) == 0);
        assert(strcmp(mt_frame_describe(&f, buf, sizeof(buf)), "SREQ SYS_PING") == 0);
        assert(mt_frame_init(&f, MT_AREQ, MT_SUBSYS_GREENPOWER, 0x42, NULL, 0) == 0);
        assert(strcmp(mt_frame_describe(&f, buf, sizeof(buf)), "AREQ 0x15/0x42") == 0);
        assert(mt_command_name(MT_SUBSYS_ZDO, 0xC0) && !mt_command_name(0x1F, 0x00));
        assert(strcmp(mt_rpc_error_string(2), "invalid command id") == 0);
}

int main(void) {
        test_every_captured_frame_decodes_to_its_documented_fields();
        test_every_captured_frame_encodes_back_to_the_same_bytes();
        test_encoder_matches_herdsman_vector();
        test_builders_refuse_more_than_250_bytes();
        test_decode_reports_each_kind_of_bad_input();
        test_garbage_before_frames_is_skipped_vector_23();
        test_frame_split_across_reads_is_reassembled();
        test_frame_with_bad_fcs_is_dropped_and_the_next_one_parsed();
        test_stray_sof_costs_one_byte_not_the_following_frame();
        test_len_251_is_rejected_and_parsing_continues();
        test_largest_frame_parses();
        test_truncated_frame_is_expired_and_the_next_one_recovered();
        test_only_garbage_is_all_dropped();
        test_random_noise_never_overflows_and_valid_frames_survive();
        test_describe_names_known_and_unknown_commands();
        return 0;
}
