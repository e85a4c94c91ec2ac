/*
 * Fuzz target: the YAML subset reader for Zigbee2MQTT's configuration.yaml (src/store/z2m-yaml.h).
 * Every input is parsed whole and again restricted to the sections the importer reads; a parsed
 * tree is walked (every scalar resolved as null, bool, int and number, as the importer asks) and
 * converted to JSON. A failure must say where ("<file>:<line>: ...").
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "store/z2m-yaml.h"

static void walk(const YamlNode *n, unsigned depth) {
        FUZZ_CHECK(depth <= YAML_DEPTH_MAX + 1);
        FUZZ_CHECK(n->line >= 1);
        switch (n->kind) {
        case YAML_SCALAR: {
                bool b;
                int64_t i;
                double d;

                FUZZ_CHECK(n->scalar);
                (void) yaml_scalar_is_null(n);
                (void) yaml_scalar_bool(n, &b);
                (void) yaml_scalar_int(n, &i);
                (void) yaml_scalar_number(n, &d);
                break;
        }
        case YAML_MAPPING:
                for (size_t k = 0; k < n->n_items; k++) {
                        FUZZ_CHECK(n->keys[k]);
                        FUZZ_CHECK(yaml_mapping_get(n, n->keys[k]) != NULL);
                        walk(n->items[k], depth + 1);
                }
                break;
        case YAML_SEQUENCE:
                for (size_t k = 0; k < n->n_items; k++)
                        walk(n->items[k], depth + 1);
                break;
        }
}

static void parse(const char *text, size_t len, const char *const *only_keys) {
        YamlNode *root = NULL;
        char err[512] = "";
        int r;

        r = yaml_parse(text, len, "configuration.yaml", only_keys, &root, err, sizeof(err));
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG);
                FUZZ_CHECK(!root);
                FUZZ_CHECK(strncmp(err, "configuration.yaml:", 19) == 0);
                return;
        }
        FUZZ_CHECK(root);
        if (only_keys)
                FUZZ_CHECK(root->kind == YAML_MAPPING);
        walk(root, 0);
        {
                json_object *j = NULL;

                if (yaml_node_to_json(root, &j) >= 0) {
                        FUZZ_CHECK(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
                        json_object_put(j);
                }
        }
        yaml_node_free(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const importer_keys[] = { "devices", "advanced", NULL };

        if (size > 64 * 1024)
                return 0;
        parse((const char *) data, size, NULL);
        parse((const char *) data, size, importer_keys);
        return 0;
}
