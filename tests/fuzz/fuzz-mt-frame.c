/*
 * Fuzz target: the MT byte stream from the coordinator (src/znp/mt-frame.h).
 *
 * The input is the raw serial stream. It goes through the incremental parser three ways: all at
 * once, in chunks whose sizes the input itself picks, and byte by byte; each ends with
 * mt_parser_expire() as if the line went quiet. All three must deliver the same frames and the same
 * statistics, and those frames must be exactly the ones a plain scan finds (a SOF with a LEN <= 250
 * and a good FCS is a frame; anything else costs one byte). Every delivered frame must survive an
 * encode/decode round trip, and the one-shot decoder runs on the whole input too.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "znp/mt-frame.h"

typedef struct Seen {
        size_t n;
        uint64_t hash;
} Seen;

static uint64_t hash_frame(uint64_t h, const MtFrame *f) {
        /* FNV-1a over cmd0, cmd1, len, data */
        const uint8_t head[3] = { f->cmd0, f->cmd1, f->len };

        for (size_t i = 0; i < sizeof(head); i++)
                h = (h ^ head[i]) * 0x100000001b3ULL;
        for (size_t i = 0; i < f->len; i++)
                h = (h ^ f->data[i]) * 0x100000001b3ULL;
        return h;
}

static void check_round_trip(const MtFrame *f) {
        uint8_t wire[MT_FRAME_MAX];
        char name[64];
        MtFrame back;
        int n;

        FUZZ_CHECK(f->len <= MT_DATA_MAX);
        n = mt_frame_encode(f, wire, sizeof(wire));
        FUZZ_CHECK(n == f->len + (int) MT_FRAME_MIN);
        FUZZ_CHECK(mt_frame_decode(wire, (size_t) n, &back) == 0);
        FUZZ_CHECK(back.cmd0 == f->cmd0 && back.cmd1 == f->cmd1 && back.len == f->len);
        FUZZ_CHECK(memcmp(back.data, f->data, f->len) == 0);
        FUZZ_CHECK(mt_frame_encode(f, wire, (size_t) n - 1) == -ENOBUFS);

        mt_frame_describe(f, name, sizeof(name));
        FUZZ_CHECK(strlen(name) < sizeof(name) - 1);
        (void) mt_rpc_error_string(f->len > 0 ? f->data[0] : 0);
}

static void on_frame(const MtFrame *f, void *userdata) {
        Seen *s = userdata;

        check_round_trip(f);
        s->n++;
        s->hash = hash_frame(s->hash, f);
}

static void drain(MtParser *p, Seen *s) {
        /* Each expiry drops at least the SOF at the head, so this ends within MT_FRAME_MAX rounds. */
        for (unsigned i = 0; mt_parser_has_partial(p); i++) {
                FUZZ_CHECK(i <= MT_FRAME_MAX);
                (void) mt_parser_expire(p, on_frame, s);
        }
}

/* The specification, written the slow way. */
static void scan(const uint8_t *d, size_t n, Seen *s) {
        size_t i = 0;

        while (i < n) {
                if (d[i] == MT_SOF && i + 1 < n && d[i + 1] <= MT_DATA_MAX && i + d[i + 1] + MT_FRAME_MIN <= n) {
                        size_t len = d[i + 1];

                        if (mt_fcs(d + i + 1, len + 3) == d[i + len + 4]) {
                                MtFrame f = { .cmd0 = d[i + 2], .cmd1 = d[i + 3], .len = (uint8_t) len };

                                memcpy(f.data, d + i + 4, len);
                                on_frame(&f, s);
                                i += len + MT_FRAME_MIN;
                                continue;
                        }
                }
                i++;
        }
}

static void same_stats(const MtParserStats *a, const MtParserStats *b) {
        FUZZ_CHECK(a->frames == b->frames);
        FUZZ_CHECK(a->dropped_bytes == b->dropped_bytes);
        FUZZ_CHECK(a->bad_fcs == b->bad_fcs);
        FUZZ_CHECK(a->oversized == b->oversized);
        FUZZ_CHECK(a->truncated == b->truncated);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Seen whole = {}, chunked = {}, bytewise = {}, spec = {};
        MtParser a, b, c;
        MtFrame f;
        size_t delivered = 0;

        if (size > 64 * 1024)
                return 0;

        if (mt_frame_decode(data, size, &f) == 0) {
                FUZZ_CHECK(size == f.len + MT_FRAME_MIN);
                check_round_trip(&f);
        }

        mt_parser_init(&a);
        delivered = mt_parser_feed(&a, data, size, on_frame, &whole);
        FUZZ_CHECK(delivered == whole.n);
        drain(&a, &whole);

        /* Chunk sizes 1..16 taken from the stream itself, so the fuzzer controls the split. */
        mt_parser_init(&b);
        for (size_t i = 0; i < size;) {
                size_t k = 1 + (data[i] & 0x0F);

                if (k > size - i)
                        k = size - i;
                (void) mt_parser_feed(&b, data + i, k, on_frame, &chunked);
                i += k;
        }
        drain(&b, &chunked);

        mt_parser_init(&c);
        for (size_t i = 0; i < size; i++)
                (void) mt_parser_feed(&c, data + i, 1, on_frame, &bytewise);
        drain(&c, &bytewise);

        scan(data, size, &spec);

        FUZZ_CHECK(whole.n == spec.n && whole.hash == spec.hash);
        FUZZ_CHECK(chunked.n == spec.n && chunked.hash == spec.hash);
        FUZZ_CHECK(bytewise.n == spec.n && bytewise.hash == spec.hash);
        FUZZ_CHECK(a.stats.frames == whole.n);
        same_stats(&a.stats, &b.stats);
        same_stats(&a.stats, &c.stats);
        return 0;
}
