/*
 * Parse each request of a requests file (z2m/requests.json) and print the resulting actions and
 * errors as JSON: the counterpart of z2m/requests.js, which records the Zigbee calls
 * Zigbee2MQTT's own converters make for the same requests.
 */
#include <stdio.h>
#include <string.h>

#include "devices/plug.h"

int main(int argc, char **argv) {
        static const uint16_t ep1[] = { 0x0000, 0x0006, 0xFCC0 }, ep21[] = { 0x000C };
        const PlugEndpoint eps[] = { { 1, ep1, 3 }, { 21, ep21, 1 } };
        const PlugModel *m = &plug_model_zncz04lm;
        json_object *reqs, *out;

        if (argc != 2 || !(reqs = json_object_from_file(argv[1]))) {
                fprintf(stderr, "usage: %s requests.json\n", argv[0]);
                return 2;
        }
        out = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(reqs); i++) {
                json_object *r = json_object_array_get_idx(reqs, i), *v, *res, *acts, *errs;
                const char *type = json_object_get_string(json_object_object_get(r, "type"));
                const char *payload = json_object_get_string(json_object_object_get(r, "payload"));
                const char *key = json_object_object_get_ex(r, "attribute", &v) ? json_object_get_string(v) : NULL;
                PlugState cur = {};
                PlugRequest req;

                if (json_object_object_get_ex(r, "state", &v))
                        (void) plug_state_from_json(&cur, m, v);
                if (strcmp(type, "set") == 0)
                        (void) plug_parse_set(m, key, payload, strlen(payload), &cur, eps, 2, &req);
                else
                        (void) plug_parse_get(m, key, payload, strlen(payload), eps, 2, &req);

                acts = json_object_new_array();
                for (size_t k = 0; k < req.n_actions; k++) {
                        const PlugAction *a = &req.actions[k];
                        json_object *o = json_object_new_object();
                        static const char *kinds[] = { "command", "write", "read" };

                        json_object_object_add(o, "ep", json_object_new_int(a->endpoint));
                        json_object_object_add(o, "op", json_object_new_string(kinds[a->kind]));
                        json_object_object_add(o, "cluster", json_object_new_int(a->cluster));
                        json_object_object_add(o, "manufacturer", json_object_new_int(a->manufacturer));
                        if (a->kind == PLUG_ACTION_COMMAND) {
                                json_object_object_add(o, "command", json_object_new_int(a->command));
                                json_object_object_add(o, "want_default_rsp", json_object_new_boolean(a->want_default_rsp));
                        } else
                                json_object_object_add(o, "attribute", json_object_new_int(a->attribute));
                        if (a->kind == PLUG_ACTION_WRITE) {
                                json_object_object_add(o, "type", json_object_new_int(a->value.type));
                                json_object_object_add(o, "value", a->value.kind == ZCL_KIND_BOOL ?
                                                       json_object_new_int(a->value.b) : plug_json_number(a->value.f));
                        }
                        if (a->requested_known) {
                                PlugState s = {};
                                json_object *st;
                                (void) plug_state_apply_confirmed(&s, m, a);
                                st = plug_state_to_json(&s, m, false, NULL);
                                json_object_object_add(o, "requested", json_object_get(json_object_object_get(st, a->property->name)));
                                json_object_put(st);
                        }
                        json_object_array_add(acts, o);
                }
                errs = json_object_new_array();
                for (size_t k = 0; k < req.n_errors; k++)
                        json_object_array_add(errs, json_object_new_string(req.errors[k].message));
                res = json_object_new_object();
                json_object_object_add(res, "actions", acts);
                json_object_object_add(res, "errors", errs);
                json_object_array_add(out, res);
        }
        puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(out);
        json_object_put(reqs);
        return 0;
}
