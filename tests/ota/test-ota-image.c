/*
 * Unit tests of the OTA file parser and validator and of the image directory index
 * (src/ota/ota-image.h): every field of a good header, each kind of bad file refused with the
 * reason named, and the directory's choice of image for a client.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ota/ota-image.h"

static size_t put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        return 2;
}

static size_t put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
        return 4;
}

/* A ZNCZ04LM-style image: header (+ optional fields), one upgrade image element of n bytes. */
static size_t build(uint8_t *buf, uint16_t fc, uint32_t version, size_t n) {
        size_t hlen = 56 + (fc & 1 ? 1 : 0) + (fc & 2 ? 8 : 0) + (fc & 4 ? 4 : 0), pos = 0, total = hlen + 6 + n;

        pos += put32(buf + pos, 0x0BEEF11E);
        pos += put16(buf + pos, 0x0100);
        pos += put16(buf + pos, (uint16_t) hlen);
        pos += put16(buf + pos, fc);
        pos += put16(buf + pos, 0x115F);
        pos += put16(buf + pos, 0x4018);
        pos += put32(buf + pos, version);
        pos += put16(buf + pos, 2);
        memcpy(buf + pos, "ROUTERX-----JN5180--ENCRYPTED000", 32);
        pos += 32;
        pos += put32(buf + pos, (uint32_t) total);
        if (fc & 1)
                buf[pos++] = 3;
        if (fc & 2)
                for (int i = 0; i < 8; i++)
                        buf[pos++] = (uint8_t) (0x01 + i);
        if (fc & 4) {
                pos += put16(buf + pos, 1);
                pos += put16(buf + pos, 4);
        }
        pos += put16(buf + pos, 0x0000);
        pos += put32(buf + pos, (uint32_t) n);
        for (size_t i = 0; i < n; i++)
                buf[pos++] = (uint8_t) (i * 7);
        assert(pos == total);
        return pos;
}

static void expect_refused(const uint8_t *buf, size_t len, const char *words) {
        char err[OTA_ERROR_MAX] = "";
        OtaHeader h;

        assert(ota_image_validate(buf, len, &h, err, sizeof(err)) == -EBADMSG);
        if (!strstr(err, words)) {
                fprintf(stderr, "expected '%s' in '%s'\n", words, err);
                abort();
        }
}

static void test_good_header_fields_are_read(void) {
        static uint8_t buf[512];
        size_t n = build(buf, 0, 24, 300);
        char err[OTA_ERROR_MAX];
        OtaHeader h;

        assert(ota_image_validate(buf, n, &h, err, sizeof(err)) == 0);
        assert(h.header_version == 0x0100 && h.header_length == 56 && h.field_control == 0);
        assert(h.manufacturer_code == 0x115F && h.image_type == 0x4018 && h.file_version == 24);
        assert(h.stack_version == 2 && h.total_image_size == n && h.n_elements == 1);
        assert(strcmp(h.header_string, "ROUTERX-----JN5180--ENCRYPTED000") == 0);
}

static void test_optional_fields_follow_the_field_control(void) {
        static uint8_t buf[512];
        size_t n = build(buf, 7, 30, 10);
        OtaHeader h;

        assert(ota_image_validate(buf, n, &h, NULL, 0) == 0);
        assert(h.header_length == 56 + 13 && h.security_credential_version == 3);
        assert(h.destination == 0x0807060504030201ull);
        assert(h.min_hw_version == 1 && h.max_hw_version == 4);
}

static void test_each_bad_file_is_refused_with_its_reason(void) {
        static uint8_t buf[512], bad[512];
        size_t n = build(buf, 0, 24, 100);

        memcpy(bad, buf, n);
        bad[0] ^= 1;
        expect_refused(bad, n, "not an OTA file");
        expect_refused(buf, 40, "truncated: 40 bytes");
        expect_refused(buf, n - 1, "truncated: the header says");
        memcpy(bad, buf, n);
        bad[n] = 0;
        expect_refused(bad, n + 1, "size mismatch");
        memcpy(bad, buf, n);
        put16(bad + 4, 0x0200);
        expect_refused(bad, n, "header version 0x0200");
        memcpy(bad, buf, n);
        put16(bad + 8, 0x0008);
        expect_refused(bad, n, "unknown bits in the header field control 0x0008");
        memcpy(bad, buf, n);
        put16(bad + 8, 0x0004);                 /* hardware versions announced, header too short */
        expect_refused(bad, n, "header length 56 is shorter than the 60 bytes");
        memcpy(bad, buf, n);
        put32(bad + 52, 50);
        expect_refused(bad, n, "smaller than the header length");
        memcpy(bad, buf, n);
        put32(bad + 58, 101);                   /* element longer than what is left */
        expect_refused(bad, n, "sub-element 0x0000 at offset 56 claims 101 bytes");
        n = build(buf, 0, 24, 0);
        put32(buf + 52, 56);
        expect_refused(buf, 56, "no sub-element");
        n = build(buf, 4, 24, 10);
        put16(buf + 56, 9);                     /* min hardware above max */
        expect_refused(buf, n, "minimum hardware version 9 above the maximum 4");
}

static void test_vendor_prefix_is_skipped(void) {
        static uint8_t buf[600];
        size_t n;

        memcpy(buf, "VENDOR", 6);
        n = build(buf + 6, 0, 24, 20);
        assert(ota_image_find_identifier(buf, n + 6) == 6);
        assert(ota_image_find_identifier(buf, 5) == -ENOENT);
        assert(ota_image_validate(buf + 6, n, NULL, NULL, 0) == 0);
}

static void write_file(const char *dir, const char *name, const uint8_t *buf, size_t n) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "wb");
        assert(f);
        assert(fwrite(buf, 1, n, f) == n);
        assert(fclose(f) == 0);
}

static void test_directory_offers_the_newest_matching_image(void) {
        static uint8_t buf[512];
        char dir[] = "/tmp/lumi-ota-test-XXXXXX", rejects[512], err[OTA_ERROR_MAX];
        OtaQuery q = { .manufacturer_code = 0x115F, .image_type = 0x4018, .file_version = 22 };
        const OtaDirEntry *best;
        OtaDirIndex idx;
        OtaImage *img;
        size_t n;

        assert(mkdtemp(dir));
        write_file(dir, "v24.ota", buf, build(buf, 0, 24, 50));
        write_file(dir, "v26.ota", buf, build(buf, 0, 26, 50));
        n = build(buf, 0, 28, 50);
        write_file(dir, "v28-truncated.ota", buf, n - 10);
        n = build(buf, 4, 40, 50);              /* hardware 1..4 */
        write_file(dir, "v40-hw.ota", buf, n);
        n = build(buf, 0, 99, 50);
        put16(buf + 10, 0x1234);                /* another manufacturer */
        write_file(dir, "other.ota", buf, n);
        write_file(dir, "index.json", (const uint8_t *) "[]", 2);

        assert(ota_dir_scan(dir, &idx) == 0);
        assert(idx.n == 5);                     /* index.json skipped */
        best = ota_dir_best(&idx, &q, 1);
        assert(best && best->header.file_version == 26 && strstr(best->path, "v26.ota"));
        ota_dir_describe_rejects(&idx, &q, rejects, sizeof(rejects));
        assert(strstr(rejects, "'v28-truncated.ota': truncated"));
        assert(strstr(rejects, "'v40-hw.ota': for hardware versions 1..4"));
        assert(!strstr(rejects, "other.ota"));

        q.has_hw_version = true;
        q.hw_version = 2;
        best = ota_dir_best(&idx, &q, 1);
        assert(best && best->header.file_version == 40);
        q.manufacturer_code = 0x1234;
        q.image_type = 0x4018;
        best = ota_dir_best(&idx, &q, 1);
        assert(best && best->header.file_version == 99);

        assert(ota_image_load(best->path, &img, err, sizeof(err)) == 0);
        assert(img->size == n && img->header.file_version == 99);
        ota_image_free(img);
        for (size_t i = 0; i < idx.n; i++)
                if (strstr(idx.entries[i].path, "truncated"))
                        assert(ota_image_load(idx.entries[i].path, &img, err, sizeof(err)) == -EBADMSG &&
                               strstr(err, "truncated"));

        for (size_t i = 0; i < idx.n; i++)
                unlink(idx.entries[i].path);
        ota_dir_index_done(&idx);
        snprintf(rejects, sizeof(rejects), "%s/index.json", dir);
        unlink(rejects);
        assert(rmdir(dir) == 0);

        assert(ota_dir_scan("/nonexistent/lumi-ota", &idx) == 0 && idx.n == 0);
}

int main(void) {
        test_good_header_fields_are_read();
        test_optional_fields_follow_the_field_control();
        test_each_bad_file_is_refused_with_its_reason();
        test_vendor_prefix_is_skipped();
        test_directory_offers_the_newest_matching_image();
        return 0;
}
