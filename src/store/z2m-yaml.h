/*
 * A small, strict reader for the YAML that Zigbee2MQTT writes (js-yaml dump) and that its users
 * hand-edit in configuration.yaml: block mappings and sequences, flow collections, plain, single-
 * and double-quoted scalars on one line, literal/folded block scalars, comments. Anchors, aliases,
 * tags, multi-line plain or quoted scalars, complex keys and multiple documents are refused with
 * "<file>:<line>: <what was unexpected>". Scalars keep their text; the yaml_scalar_*() helpers
 * resolve it the way js-yaml's default schema does.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define YAML_DEPTH_MAX 64
#define YAML_ITEMS_MAX 10000            /* per mapping or sequence (duplicate keys are checked pairwise) */

typedef enum YamlKind {
        YAML_SCALAR,
        YAML_MAPPING,
        YAML_SEQUENCE,
} YamlKind;

typedef struct YamlNode YamlNode;
struct YamlNode {
        YamlKind kind;
        unsigned line;                  /* 1-based line where the node starts */
        char *scalar;                   /* YAML_SCALAR: text after unquoting/unescaping */
        bool quoted;                    /* quoted or block scalar: always a string */
        size_t n_items;
        char **keys;                    /* YAML_MAPPING: n_items keys, in file order */
        unsigned *key_lines;
        YamlNode **items;
};

YamlNode *yaml_node_free(YamlNode *n);

/*
 * Parses a whole document. If only_keys is non-NULL (NULL-terminated list), the document must be a
 * mapping and top-level sections not listed are skipped by indentation without being interpreted.
 * An empty document gives an empty mapping. On failure returns -EBADMSG (or -ENOMEM) and writes
 * "<file>:<line>: <reason>" to err.
 */
int yaml_parse(const char *text, size_t len, const char *file, const char *const *only_keys,
               YamlNode **ret, char *err, size_t errlen);

const YamlNode *yaml_mapping_get(const YamlNode *map, const char *key);

bool yaml_scalar_is_null(const YamlNode *n);
int yaml_scalar_bool(const YamlNode *n, bool *ret);             /* -EINVAL if not a bool */
int yaml_scalar_int(const YamlNode *n, int64_t *ret);           /* -EINVAL if not an int */
int yaml_scalar_number(const YamlNode *n, double *ret);         /* int or float */
/* Converts a node to JSON with js-yaml's scalar resolution. */
int yaml_node_to_json(const YamlNode *n, json_object **ret);
