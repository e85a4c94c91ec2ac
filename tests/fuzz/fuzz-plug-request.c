/*
 * Fuzz target: an MQTT message to a plug (src/devices/plug.h), topic suffix and payload as the
 * daemon receives them. Input: one line naming what the topic ends with, then the payload bytes
 * (not NUL-terminated, as libmosquitto's length-delimited payload is read):
 *
 *   set\n{"state":"ON"}               <base>/<name>/set
 *   set/overload_protection\n1500     <base>/<name>/set/<key>
 *   get\n{"power":""}                 <base>/<name>/get, get/<key> likewise
 *   options/power_precision\n2        a device option value (INI text and JSON forms)
 *
 * Anything else is a /set payload as a whole. Every resulting action must build a well-formed ZCL
 * frame and be recordable as state; errors must be bounded and NUL-terminated.
 */
#include <errno.h>
#include <string.h>

#include "devices/plug.h"
#include "fuzz.h"
#include "zigbee/zcl.h"

#define KEY_MAX 128

static void check_request(const PlugModel *m, const PlugRequest *req, int r) {
        PlugState s = {};

        FUZZ_CHECK(r == 0 || r == -EINVAL);
        FUZZ_CHECK(req->n_actions <= PLUG_REQUEST_MAX);
        FUZZ_CHECK(req->n_errors <= PLUG_REQUEST_MAX + 1);
        if (r == -EINVAL)
                FUZZ_CHECK(req->n_errors >= 1);
        for (size_t i = 0; i < req->n_errors; i++) {
                FUZZ_CHECK(memchr(req->errors[i].key, 0, sizeof(req->errors[i].key)));
                FUZZ_CHECK(memchr(req->errors[i].message, 0, sizeof(req->errors[i].message)));
                FUZZ_CHECK(req->errors[i].error < 0);
        }
        for (size_t i = 0; i < req->n_actions; i++) {
                const PlugAction *a = &req->actions[i];
                uint8_t frame[256];
                ZclHeader h;
                int n;

                FUZZ_CHECK(a->property && a->index < m->n_properties);
                FUZZ_CHECK(a->property == &m->properties[a->index]);
                n = plug_action_build_frame(a, (uint8_t) i, frame, sizeof(frame));
                FUZZ_CHECK(n >= 3 && n <= (int) sizeof(frame));
                FUZZ_CHECK(zcl_header_decode(frame, (size_t) n, &h) >= 3);
                FUZZ_CHECK(h.tsn == (uint8_t) i);
                (void) plug_state_apply_confirmed(&s, m, a);
        }
}

static void check_option(const PlugModel *m, const char *key, const char *value, size_t len) {
        PlugOptions o = {};
        char err[256];
        json_object *j;
        int r;

        r = plug_options_set_string(&o, m, key, value, err, sizeof(err));
        FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EINVAL || r == -ERANGE);
        if (r < 0)
                FUZZ_CHECK(memchr(err, 0, sizeof(err)));

        j = json_tokener_parse(value);
        if (j || (len == 4 && memcmp(value, "null", 4) == 0)) {
                r = plug_options_set(&o, m, key, j, err, sizeof(err));
                FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EINVAL || r == -ERANGE);
                json_object_put(j);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint16_t ep1[] = { 0x0000, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0009, 0x0702,
                                        0x0B04, 0xFCC0 };
        static const uint16_t ep21[] = { 0x000C };
        const PlugEndpoint eps[] = { { 1, ep1, sizeof(ep1) / sizeof(ep1[0]) }, { 21, ep21, 1 } };
        const PlugModel *m = &plug_model_zncz04lm;
        const uint8_t *nl = memchr(data, '\n', size);
        char key[KEY_MAX + 1];
        const char *payload = (const char *) data;
        size_t len = size, keylen = 0;
        bool get = false, has_key = false, option = false;
        PlugState current = {};
        PlugRequest req;
        int r;

        if (size > 16 * 1024)
                return 0;

        if (nl) {
                const char *line = (const char *) data;
                size_t linelen = (size_t) (nl - data);
                const char *rest = NULL;

                if (linelen >= 3 && (memcmp(line, "set", 3) == 0 || memcmp(line, "get", 3) == 0)) {
                        get = line[0] == 'g';
                        rest = line + 3;
                } else if (linelen >= 7 && memcmp(line, "options", 7) == 0) {
                        option = true;
                        rest = line + 7;
                }
                if (rest) {
                        size_t restlen = linelen - (size_t) (rest - line);

                        if (restlen > 0 && rest[0] == '/' && restlen - 1 <= KEY_MAX) {
                                keylen = restlen - 1;
                                memcpy(key, rest + 1, keylen);
                                has_key = true;
                        } else if (restlen > 0)
                                return 0;       /* not a topic we subscribe to */
                        key[keylen] = 0;
                        payload = (const char *) nl + 1;
                        len = size - linelen - 1;
                }
        }
        /* A key with a NUL cannot come from an MQTT topic (UTF-8 without U+0000). */
        if (has_key && memchr(key, 0, keylen))
                return 0;

        if (option) {
                char *value;

                if (!has_key || memchr(payload, 0, len))
                        return 0;
                value = strndup(payload, len);
                FUZZ_CHECK(value);
                check_option(m, key, value, len);
                free(value);
                return 0;
        }

        /* The state TOGGLE resolves against: on, as a plug that reported ON. */
        {
                size_t idx;

                if (plug_model_property(m, "state", &idx)) {
                        current.value[idx] = 1;
                        current.known[idx] = true;
                }
        }

        if (get)
                r = plug_parse_get(m, has_key ? key : NULL, payload, len, eps, 2, &req);
        else
                r = plug_parse_set(m, has_key ? key : NULL, payload, len, &current, eps, 2, &req);
        check_request(m, &req, r);

        /* and with no state known and no endpoint list */
        if (!get) {
                r = plug_parse_set(m, has_key ? key : NULL, payload, len, NULL, NULL, 0, &req);
                check_request(m, &req, r);
        }
        return 0;
}
