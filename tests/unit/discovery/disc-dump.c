/*
 * Print the discovery messages of a fixed scenario as a JSON list of {topic, payload, retain}
 * (the input format of ha_validate.py). Used by the golden-file and validator tests.
 *   disc-dump plug | plug-availability | plug-clear | bridge | bridge-clear
 *   disc-dump device IEEE COORDINATOR_IEEE FRIENDLY_NAME HW_VERSION|- SW_VERSION|-
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/plug.h"
#include "ha-discovery.h"

int main(int argc, char **argv) {
        const DiscConfig cfg = {
                .base_topic = "zigbee2mqtt", .discovery_prefix = "homeassistant",
                .bridge_ieee = "0x00124b00120144ae",
                .coordinator_type = "z-Stack", .coordinator_revision = "20190425",
        };
        DiscDevice dev = {
                .ieee = "0x00158d0001a2b3c4", .friendly_name = "plug1",
                .sw_version = "09-06-2019", .hw_version = 1,
        };
        DiscMessages msgs = {};
        json_object *list;
        int r;

        if (argc == 7 && strcmp(argv[1], "device") == 0) {
                DiscConfig c = cfg;
                c.bridge_ieee = argv[3];
                dev = (DiscDevice) {
                        .ieee = argv[2], .friendly_name = argv[4],
                        .hw_version = strcmp(argv[5], "-") ? atoi(argv[5]) : -1,
                        .sw_version = strcmp(argv[6], "-") ? argv[6] : NULL,
                };
                r = disc_device_messages(&c, &plug_model_zncz04lm, &dev, &msgs);
        } else if (argc != 2) {
                fprintf(stderr, "usage: %s plug|plug-availability|plug-clear|bridge|bridge-clear\n", argv[0]);
                return 2;
        }
        else if (strcmp(argv[1], "plug") == 0)
                r = disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &msgs);
        else if (strcmp(argv[1], "plug-availability") == 0) {
                dev.availability = true;
                dev.friendly_name = "Living Room/Plug  2";
                r = disc_device_messages(&cfg, &plug_model_zncz04lm, &dev, &msgs);
        } else if (strcmp(argv[1], "plug-clear") == 0)
                r = disc_device_clear_messages(&cfg, &plug_model_zncz04lm, dev.ieee, &msgs);
        else if (strcmp(argv[1], "bridge") == 0)
                r = disc_bridge_messages(&cfg, DISC_BRIDGE_ALL, &msgs);
        else if (strcmp(argv[1], "bridge-clear") == 0)
                r = disc_bridge_clear_messages(&cfg, DISC_BRIDGE_ALL, &msgs);
        else {
                fprintf(stderr, "unknown scenario '%s'\n", argv[1]);
                return 2;
        }
        if (r < 0) {
                fprintf(stderr, "failed: %s\n", strerror(-r));
                return 1;
        }

        list = json_object_new_array();
        for (size_t i = 0; i < msgs.n; i++) {
                json_object *m = json_object_new_object();
                json_object_object_add(m, "topic", json_object_new_string(msgs.items[i].topic));
                json_object_object_add(m, "payload", json_object_new_string(msgs.items[i].payload));
                json_object_object_add(m, "retain", json_object_new_boolean(1));
                json_object_array_add(list, m);
        }
        puts(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(list);
        disc_messages_done(&msgs);
        return 0;
}
