/*
 * json-c helpers shared by every module that builds JSON: adding a member that may have failed to
 * allocate (json-c returns NULL) without leaking it.
 */
#pragma once

#include <errno.h>
#include <json-c/json.h>

/* Adds v under key; v NULL means an allocation failed. On failure v is released: -ENOMEM. */
static inline int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Adds s as a string under key; a NULL s is left out (Zigbee2MQTT's "undefined"). */
static inline int json_add_string(json_object *o, const char *key, const char *s) {
        return s ? json_add(o, key, json_object_new_string(s)) : 0;
}
