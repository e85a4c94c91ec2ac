/*
 * Fuzz target: an OTA upgrade file (src/ota/ota-image.h), as read from [ota] directory: the file
 * identifier search, the header parser and the whole-image validation. What is accepted must add
 * up (sizes, header length, sub-elements); what is refused must say why. The same bytes also go
 * to the OTA Upgrade cluster server as a frame from a device (src/ota/ota-server.h), which must
 * answer only with well-formed frames of its own.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "ota/ota-image.h"
#include "ota/ota-server.h"

static int on_send(void *userdata, uint64_t ieee, uint8_t endpoint, uint16_t cluster, const uint8_t *frame,
                   size_t len) {
        FUZZ_CHECK(len >= 3 && len <= 160);
        FUZZ_CHECK(cluster == OTA_CLUSTER);
        FUZZ_CHECK((frame[0] & 0x08) != 0);     /* server to client */
        return 0;
}

static uint8_t on_tsn(void *userdata) {
        return 7;
}

static void on_event(void *userdata, uint64_t ieee, const OtaEvent *ev) {
        FUZZ_CHECK(ev->kind != OTA_EVENT_FAILED || (ev->message && ev->message[0]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const OtaServerOps ops = { .send = on_send, .next_tsn = on_tsn, .event = on_event };
        static const OtaServerConfig cfg = { .directory = "/nonexistent/lumiplugd-fuzz-ota",
                                             .max_data_size = 50, .request_timeout_ms = 1000 };
        char err[OTA_ERROR_MAX];
        OtaHeader h;
        long off;
        int r;

        off = ota_image_find_identifier(data, size);
        FUZZ_CHECK(off == -ENOENT || (off >= 0 && (size_t) off + 4 <= size));
        if (off >= 0) {
                err[0] = 0;
                r = ota_header_parse(data + off, size - (size_t) off, &h, err, sizeof(err));
                FUZZ_CHECK(r == 0 || (r == -EBADMSG && err[0]));
                if (r == 0) {
                        FUZZ_CHECK(h.header_length >= OTA_HEADER_FIXED_SIZE);
                        FUZZ_CHECK(h.header_length <= size - (size_t) off);
                        FUZZ_CHECK(h.total_image_size >= h.header_length);
                        FUZZ_CHECK(strlen(h.header_string) <= 32);
                }
                err[0] = 0;
                r = ota_image_validate(data + off, size - (size_t) off, &h, err, sizeof(err));
                FUZZ_CHECK(r == 0 || (r == -EBADMSG && err[0]));
                if (r == 0) {
                        FUZZ_CHECK(h.total_image_size == size - (size_t) off);
                        FUZZ_CHECK(h.n_elements >= 1);
                        FUZZ_CHECK(ota_header_parse(data + off, size - (size_t) off, NULL, NULL, 0) == 0);
                }
        }

        /* as a frame from a device, outside any session (block requests get ABORT, queries
         * NO_IMAGE_AVAILABLE), then inside a check */
        {
                sd_event *e = NULL;
                OtaServer *s = NULL;

                FUZZ_CHECK(sd_event_new(&e) >= 0);
                FUZZ_CHECK(ota_server_new(&s, e, &cfg, &ops, NULL) >= 0);
                ota_server_on_frame(s, 0x1122334455667788ull, 1, data, size);
                FUZZ_CHECK(ota_server_check(s, 0x1122334455667788ull, 1) == 0);
                ota_server_on_frame(s, 0x1122334455667788ull, 1, data, size);
                ota_server_on_announce(s, 0x1122334455667788ull);
                ota_server_free(s);
                sd_event_unref(e);
        }
        return 0;
}
