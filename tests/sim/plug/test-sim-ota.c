/*
 * The simulated plug's OTA client (sim-ota.h) against a scripted server: the query after an
 * Image Notify, a whole download at the client's block size, the checks it makes (wrong offset,
 * more bytes than asked, a bad image), ABORT, retries, and the reboot into the new version.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sim-ota.h"

static uint8_t sent[64][64];
static size_t sent_len[64], n_sent;
static uint32_t rebooted;
static uint8_t tsn;

static void on_send(const uint8_t *zcl, size_t len, void *userdata) {
        assert(n_sent < 64 && len <= 64);
        memcpy(sent[n_sent], zcl, len);
        sent_len[n_sent++] = len;
}

static void on_reboot(uint32_t version, void *userdata) {
        rebooted = version;
}

static uint8_t on_tsn(void *userdata) {
        return tsn++;
}

static const SimOtaOps ops = { .send = on_send, .reboot = on_reboot, .next_tsn = on_tsn };

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t) v; p[1] = (uint8_t) (v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t) (v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24; }

static uint8_t image[200];

static void make_image(uint32_t version) {
        memset(image, 0xab, sizeof(image));
        put32(image, 0x0BEEF11E);
        put16(image + 4, 0x0100);
        put16(image + 6, 56);
        put16(image + 8, 0);
        put16(image + 10, 0x115F);
        put16(image + 12, 0x4018);
        put32(image + 14, version);
        put32(image + 52, sizeof(image));
}

static void server_frame(SimOta *o, uint8_t cmd, const uint8_t *payload, size_t len, double now) {
        uint8_t f[128] = { 0x19, 0x42, cmd };

        memcpy(f + 3, payload, len);
        sim_ota_receive(o, f, 3 + len, now);
}

static void query_response(SimOta *o, uint32_t version, uint32_t size) {
        uint8_t p[13] = { 0x00 };

        put16(p + 1, 0x115F);
        put16(p + 3, 0x4018);
        put32(p + 5, version);
        put32(p + 9, size);
        server_frame(o, 0x02, p, sizeof(p), 0);
}

/* Answers the last block request from image (n bytes at most, at `offset` if >= 0). */
static void block_response(SimOta *o, uint32_t version, long offset, size_t n) {
        const uint8_t *rq = sent[n_sent - 1];
        uint32_t off = offset >= 0 ? (uint32_t) offset : get32(rq + 3 + 9);
        uint8_t p[100] = { 0x00 };

        assert(rq[2] == 0x03);
        if (off + n > sizeof(image))
                n = sizeof(image) - off;
        put16(p + 1, 0x115F);
        put16(p + 3, 0x4018);
        put32(p + 5, version);
        put32(p + 9, off);
        p[13] = (uint8_t) n;
        memcpy(p + 14, image + off, n);
        server_frame(o, 0x05, p, 14 + n, 0);
}

static void test_whole_update_and_reboot(void) {
        SimOta *o = sim_ota_new(0x115F, 0x4018, 22, &ops, NULL);
        uint8_t end_rsp[16];
        unsigned blocks = 0;

        n_sent = 0;
        rebooted = 0;
        make_image(24);
        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 0);            /* Image Notify */
        assert(n_sent == 1 && sent[0][0] == 0x11 && sent[0][2] == 0x01);
        assert(get32(sent[0] + 3 + 5) == 22);                                   /* its version */
        sim_ota_free(o);

        o = sim_ota_new(0x115F, 0x4018, 22, &ops, NULL);
        n_sent = 0;
        assert(sim_ota_set(o, "max_data_size", 40) == 0);
        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 0);
        query_response(o, 24, sizeof(image));
        while (sent[n_sent - 1][2] == 0x03) {
                assert(sent[n_sent - 1][3 + 13] == 40);
                block_response(o, 24, -1, 40);
                blocks++;
        }
        assert(blocks == (sizeof(image) + 39) / 40);
        assert(sent[n_sent - 1][2] == 0x06 && sent[n_sent - 1][3] == 0x00);    /* Upgrade End SUCCESS */
        put16(end_rsp, 0x115F);
        put16(end_rsp + 2, 0x4018);
        put32(end_rsp + 4, 24);
        put32(end_rsp + 8, 0);
        put32(end_rsp + 12, 1);
        server_frame(o, 0x07, end_rsp, sizeof(end_rsp), 10.0);
        sim_ota_tick(o, 10.5);
        assert(rebooted == 0);
        sim_ota_tick(o, 11.0);
        assert(rebooted == 24 && sim_ota_version(o) == 24);
        sim_ota_free(o);
}

static void test_too_big_block_is_refused(void) {
        SimOta *o = sim_ota_new(0x115F, 0x4018, 22, &ops, NULL);
        char json[512];

        n_sent = 0;
        make_image(24);
        assert(sim_ota_set(o, "max_data_size", 40) == 0);
        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 0);
        query_response(o, 24, sizeof(image));
        block_response(o, 24, -1, 50);
        assert(sim_ota_state_json(o, json, sizeof(json)) > 0);
        assert(strstr(json, "\"state\":\"idle\"") && strstr(json, "\"rejected\":1"));
        sim_ota_free(o);
}

static void test_wrong_offset_is_refused(void) {
        SimOta *o = sim_ota_new(0x115F, 0x4018, 22, &ops, NULL);
        char json[512];

        n_sent = 0;
        make_image(24);
        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 0);
        query_response(o, 24, sizeof(image));
        block_response(o, 24, 10, 40);
        assert(sim_ota_state_json(o, json, sizeof(json)) > 0 && strstr(json, "\"rejected\":1"));
        sim_ota_free(o);
}

static void test_bad_image_ends_with_invalid_image(void) {
        SimOta *o = sim_ota_new(0x115F, 0x4018, 22, &ops, NULL);

        n_sent = 0;
        make_image(24);
        put32(image + 52, 999);                 /* total size in the header does not match */
        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 0);
        query_response(o, 24, sizeof(image));
        while (sent[n_sent - 1][2] == 0x03)
                block_response(o, 24, -1, 64);
        assert(sent[n_sent - 1][2] == 0x06 && sent[n_sent - 1][3] == 0x96);    /* INVALID_IMAGE */
        sim_ota_free(o);
}

static void test_abort_and_retries(void) {
        SimOta *o = sim_ota_new(0x115F, 0x4018, 22, &ops, NULL);
        char json[512];
        size_t before;

        n_sent = 0;
        make_image(24);
        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 0);
        query_response(o, 24, sizeof(image));
        /* unanswered: the same request again after the timeout, three times, then it gives up */
        before = n_sent;
        sim_ota_tick(o, 5.1);
        assert(n_sent == before + 1 && sent[n_sent - 1][2] == 0x03);
        sim_ota_tick(o, 10.2);
        sim_ota_tick(o, 15.3);
        sim_ota_tick(o, 20.4);
        assert(n_sent == before + 3);
        assert(sim_ota_state_json(o, json, sizeof(json)) > 0 && strstr(json, "\"state\":\"idle\""));

        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 30);
        query_response(o, 24, sizeof(image));
        server_frame(o, 0x05, (const uint8_t[]) { 0x95 }, 1, 30);             /* ABORT */
        assert(sim_ota_state_json(o, json, sizeof(json)) > 0 && strstr(json, "\"state\":\"idle\"") &&
               strstr(json, "\"aborts\":1") && strstr(json, "\"version\":22"));
        sim_ota_free(o);
}

static void test_stalled_plug_asks_nothing_until_released(void) {
        SimOta *o = sim_ota_new(0x115F, 0x4018, 22, &ops, NULL);
        size_t before;

        n_sent = 0;
        make_image(24);
        assert(sim_ota_set(o, "stall", 1) == 0);
        assert(sim_ota_set(o, "stall", 2) == -EINVAL && sim_ota_set(o, "nonsense", 1) == -EINVAL);
        server_frame(o, 0x00, (const uint8_t[]) { 0, 100 }, 2, 0);
        query_response(o, 24, sizeof(image));
        before = n_sent;
        sim_ota_tick(o, 1);
        sim_ota_tick(o, 60);
        assert(n_sent == before);               /* hangs: no request, no retry */
        assert(sim_ota_set(o, "stall", 0) == 0);
        sim_ota_tick(o, 61);
        assert(n_sent == before + 1 && sent[n_sent - 1][2] == 0x03 && get32(sent[n_sent - 1] + 3 + 9) == 0);
        sim_ota_free(o);
}

int main(void) {
        test_whole_update_and_reboot();
        test_too_big_block_is_refused();
        test_wrong_offset_is_refused();
        test_bad_image_ends_with_invalid_image();
        test_abort_and_retries();
        test_stalled_plug_asks_nothing_until_released();
        return 0;
}
