/*
 * Apply each frame of a cases file (z2m/cases.json) to a fresh ZNCZ04LM state with the case's
 * options and print what was converted, as a JSON list of {name, payload}: the counterpart of
 * z2m/convert.js, which runs Zigbee2MQTT's own converters on the same frames.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/plug.h"

static int unhex(const char *s, uint8_t *out, size_t size, size_t *ret_len) {
        size_t n = 0;
        int hi = -1;

        for (; *s; s++) {
                int v;
                if (*s == ' ')
                        continue;
                if (*s >= '0' && *s <= '9') v = *s - '0';
                else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
                else if (*s >= 'A' && *s <= 'F') v = *s - 'A' + 10;
                else return -EINVAL;
                if (hi < 0) {
                        hi = v;
                        continue;
                }
                if (n >= size)
                        return -ENOBUFS;
                out[n++] = (uint8_t) (hi << 4 | v);
                hi = -1;
        }
        if (hi >= 0)
                return -EINVAL;
        *ret_len = n;
        return 0;
}

int main(int argc, char **argv) {
        const PlugModel *m = &plug_model_zncz04lm;
        json_object *cases, *out;

        if (argc != 2) {
                fprintf(stderr, "usage: %s cases.json\n", argv[0]);
                return 2;
        }
        cases = json_object_from_file(argv[1]);
        if (!cases || !json_object_is_type(cases, json_type_array)) {
                fprintf(stderr, "cannot read %s\n", argv[1]);
                return 1;
        }
        out = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(cases); i++) {
                json_object *c = json_object_array_get_idx(cases, i), *v, *res, *payload, *full;
                PlugState s = {};
                PlugOptions o = {};
                PlugUpdate u;
                uint8_t frame[256];
                size_t len;
                char err[160];
                int r;

                if (unhex(json_object_get_string(json_object_object_get(c, "frame")), frame, sizeof(frame), &len) < 0) {
                        fprintf(stderr, "case %zu: bad hex\n", i);
                        return 1;
                }
                if (json_object_object_get_ex(c, "options", &v)) {
                        json_object_object_foreach(v, key, val) {
                                if (plug_options_set(&o, m, key, val, err, sizeof(err)) < 0) {
                                        fprintf(stderr, "case %zu: %s\n", i, err);
                                        return 1;
                                }
                        }
                }
                r = plug_state_apply_frame(&s, m, &o, (uint8_t) json_object_get_int(json_object_object_get(c, "endpoint")),
                                           (uint16_t) json_object_get_int(json_object_object_get(c, "cluster")),
                                           frame, len, 100, &u);
                if (r < 0)
                        fprintf(stderr, "case %zu: %s\n", i, strerror(-r));
                full = plug_state_to_json(&s, m, false, &u);
                payload = json_object_new_object();
                for (size_t k = 0; k < m->n_properties; k++)
                        if (u.converted & (1u << k))
                                json_object_object_add(payload, m->properties[k].name,
                                                       json_object_get(json_object_object_get(full, m->properties[k].name)));
                if (u.action)
                        json_object_object_add(payload, "action", json_object_new_string(u.action));
                json_object_put(full);
                res = json_object_new_object();
                json_object_object_add(res, "name", json_object_get(json_object_object_get(c, "name")));
                json_object_object_add(res, "payload", payload);
                json_object_array_add(out, res);
        }
        puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(out);
        json_object_put(cases);
        return 0;
}
