/*
 * MT codec of the simulator on real frames (reference znp.md §8): encoding, FCS, parsing in
 * pieces, resynchronisation after garbage, bad FCS and the bootloader-skip byte.
 */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sim-mt.h"

static SimMtFrame got[16];
static size_t n_got;

static void collect(const SimMtFrame *f, void *userdata) {
        assert(n_got < 16);
        got[n_got++] = *f;
}

static size_t hex(const char *s, uint8_t *out) {
        size_t n = 0;
        unsigned v;
        int k;
        while (sscanf(s, " %2x%n", &v, &k) == 1) {
                out[n++] = (uint8_t) v;
                s += k;
        }
        return n;
}

static void feed_hex(SimMtParser *p, const char *s, bool bytewise) {
        uint8_t b[1024];
        size_t n = hex(s, b);
        if (bytewise)
                for (size_t i = 0; i < n; i++)
                        sim_mt_parser_feed(p, b + i, 1, collect, NULL);
        else
                sim_mt_parser_feed(p, b, n, collect, NULL);
}

static void assert_encodes(uint8_t type, uint8_t sub, uint8_t cmd1, const char *data, const char *expect) {
        uint8_t d[256], e[256], out[SIM_MT_MAX_FRAME];
        size_t dn = hex(data, d), en = hex(expect, e);
        SimMtFrame f;
        assert(sim_mt_frame_init(&f, type, sub, cmd1, d, dn) == 0);
        size_t n = sim_mt_encode(&f, out);
        assert(n == en);
        assert(memcmp(out, e, n) == 0);
}

int main(void) {
        /* Encoder vectors. */
        assert_encodes(SIM_MT_SREQ, SIM_MT_SYS, 0x01, "", "FE 00 21 01 20");
        assert_encodes(SIM_MT_SRSP, SIM_MT_SYS, 0x01, "59 06", "FE 02 61 01 59 06 3D");
        assert_encodes(SIM_MT_SRSP, SIM_MT_SYS, 0x03, "06 01", "FE 02 61 03 06 01 67");
        assert_encodes(SIM_MT_SRSP, SIM_MT_SYS, 0x02, "02 01 02 07 01 46 D9 34 01 00",
                       "FE 0A 61 02 02 01 02 07 01 46 D9 34 01 00 C4");
        assert_encodes(SIM_MT_AREQ, SIM_MT_SYS, 0x80, "00 02 01 02 07 01", "FE 06 41 80 00 02 01 02 07 01 C0");
        assert_encodes(SIM_MT_SRSP, SIM_MT_RPC, 0x00, "01 CD AB", "FE 03 60 00 01 CD AB 04");
        SimMtFrame big;
        uint8_t zero[251] = { 0 };
        assert(sim_mt_frame_init(&big, SIM_MT_AREQ, SIM_MT_AF, 0x81, zero, 251) < 0);
        assert(sim_mt_frame_init(&big, SIM_MT_AREQ, SIM_MT_AF, 0x81, zero, 250) == 0);

        /* Capture #5: three frames in one read. */
        SimMtParser p = { 0 };
        n_got = 0;
        feed_hex(&p, "FE 01 65 40 00 24 FE 01 45 C0 09 8D FE 03 4F 80 0D 00 04 C5", false);
        assert(n_got == 3);
        assert(got[0].cmd0 == 0x65 && got[0].cmd1 == 0x40 && got[0].len == 1 && got[0].data[0] == 0);
        assert(got[1].cmd0 == 0x45 && got[1].cmd1 == 0xC0 && got[1].data[0] == 9);
        assert(got[2].cmd0 == 0x4F && got[2].len == 3 && got[2].data[0] == 0x0D && got[2].data[2] == 0x04);

        /* Capture #23: garbage before two frames, fed one byte at a time. */
        memset(&p, 0, sizeof(p));
        n_got = 0;
        feed_hex(&p, "5F 1B 25 FE 03 45 C4 D4 17 00 41 "
                     "FE 1B 44 81 00 00 08 00 D4 17 01 01 00 37 00 99 B2 DB 00 00 07 08 7A 0A 00 00 20 F3 D4 17 1D A0",
                 true);
        assert(n_got == 2);
        assert(p.skipped == 3);
        assert(got[0].cmd1 == 0xC4 && got[0].data[0] == 0xD4 && got[0].data[1] == 0x17);
        assert(got[1].cmd0 == 0x44 && got[1].cmd1 == 0x81 && got[1].len == 0x1B && got[1].data[9] == 0x37);

        /* Bootloader-skip byte and a frame with a broken FCS, then a good frame. */
        memset(&p, 0, sizeof(p));
        n_got = 0;
        feed_hex(&p, "EF FE 00 21 01 21 FE 00 21 01 20", false);
        assert(n_got == 1);
        assert(p.bad_fcs == 1);
        assert(got[0].cmd0 == 0x21 && got[0].cmd1 == 0x01 && got[0].len == 0);

        /* A stray SOF with an impossible length does not swallow the next frame. */
        memset(&p, 0, sizeof(p));
        n_got = 0;
        feed_hex(&p, "FE FF FE 00 21 02 23", false);
        assert(n_got == 1 && got[0].cmd1 == 0x02);

        /* A stray SOF whose length covers the next frame: the FCS fails, the frame inside survives. */
        memset(&p, 0, sizeof(p));
        n_got = 0;
        feed_hex(&p, "FE 04 FE 00 21 01 20 00 00", false);
        assert(n_got == 1 && got[0].cmd1 == 0x01);

        /* 0xFE inside data is data once synchronised. */
        memset(&p, 0, sizeof(p));
        n_got = 0;
        feed_hex(&p, "FE 02 61 01 FE FE 62", false);
        assert(n_got == 1 && got[0].data[0] == 0xFE && got[0].data[1] == 0xFE);

        /* Names. */
        assert(strcmp(sim_mt_name(0x21, 0x01), "SYS_PING") == 0);
        assert(strcmp(sim_mt_name(0x61, 0x01), "SYS_PING") == 0);
        assert(strcmp(sim_mt_name(0x44, 0x81), "AF_INCOMING_MSG") == 0);
        assert(sim_mt_name(0x2A, 0x77) == NULL);
        char line[200];
        SimMtFrame ping;
        sim_mt_frame_init(&ping, SIM_MT_SREQ, SIM_MT_SYS, 0x01, NULL, 0);
        sim_mt_describe(&ping, true, line, sizeof(line));
        assert(strcmp(line, "<- FE 00 21 01 20 SREQ SYS_PING") == 0);
        puts("test-sim-mt: ok");
        return 0;
}
