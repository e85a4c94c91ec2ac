/*
 * Print the ZNCZ04LM definition (model, vendor, description, supports_ota, exposes, options) as
 * Zigbee2MQTT's bridge/devices carries it.
 */
#include <stdio.h>

#include "devices/plug.h"

int main(void) {
        const PlugModel *m = &plug_model_zncz04lm;
        json_object *o = json_object_new_object();

        json_object_object_add(o, "model", json_object_new_string(m->model));
        json_object_object_add(o, "vendor", json_object_new_string(m->vendor));
        json_object_object_add(o, "description", json_object_new_string(m->description));
        json_object_object_add(o, "supports_ota", json_object_new_boolean(m->ota));
        json_object_object_add(o, "exposes", plug_model_exposes_json(m));
        json_object_object_add(o, "options", plug_model_options_json(m));
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return 0;
}
