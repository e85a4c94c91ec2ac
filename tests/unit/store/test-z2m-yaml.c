/*
 * The strict YAML subset reader on the shapes Zigbee2MQTT (js-yaml) writes and users hand-edit,
 * and on what it must refuse, with the error texts.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/z2m-yaml.h"

static YamlNode *parse_ok(const char *text, const char *const *only) {
        YamlNode *n = NULL;
        char err[512];
        int r = yaml_parse(text, strlen(text), "t.yaml", only, &n, err, sizeof(err));

        if (r < 0)
                fprintf(stderr, "unexpected failure: %s\n--\n%s--\n", err, text);
        assert(r == 0 && n);
        return n;
}

static void expect_error(const char *text, const char *message) {
        YamlNode *n = NULL;
        char err[512];
        int r = yaml_parse(text, strlen(text), "t.yaml", NULL, &n, err, sizeof(err));

        if (r != -EBADMSG || !strstr(err, message))
                fprintf(stderr, "expected '%s', got r=%d '%s' for:\n%s--\n", message, r, err, text);
        assert(r == -EBADMSG);
        assert(strstr(err, message));
        assert(!n);
}

static const char *scalar_at(const YamlNode *n, const char *path) {
        char buf[256], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
                if (n->kind == YAML_SEQUENCE) {
                        size_t i = (size_t) atoi(k);
                        assert(i < n->n_items);
                        n = n->items[i];
                } else {
                        n = yaml_mapping_get(n, k);
                        assert(n);
                }
        }
        assert(n->kind == YAML_SCALAR);
        return n->scalar;
}

static void test_block_mappings_sequences_and_scalars(void) {
        YamlNode *n = parse_ok("# comment\n"
                               "a: 1\n"
                               "b:\n"
                               "  c: plain text here   # comment\n"
                               "  'd e': 'it''s'\n"
                               "  \"f\": \"tab\\there \\u00e9 \\\"q\\\"\"\n"
                               "  g:\n"
                               "    - x\n"
                               "    - y: 1\n"
                               "      z: 2\n"
                               "    -\n"
                               "      deep: true\n"
                               "  h:\n"
                               "  - compact\n"
                               "  i: a#b\n"
                               "empty:\n"
                               "url: mqtt://localhost:1883\n", NULL);

        assert(n->kind == YAML_MAPPING && n->n_items == 4);
        assert(strcmp(scalar_at(n, "a"), "1") == 0);
        assert(strcmp(scalar_at(n, "b.c"), "plain text here") == 0);
        assert(strcmp(scalar_at(n, "b.d e"), "it's") == 0);
        assert(strcmp(scalar_at(n, "b.f"), "tab\there \xc3\xa9 \"q\"") == 0);
        assert(strcmp(scalar_at(n, "b.g.0"), "x") == 0);
        assert(strcmp(scalar_at(n, "b.g.1.y"), "1") == 0);
        assert(strcmp(scalar_at(n, "b.g.1.z"), "2") == 0);
        assert(strcmp(scalar_at(n, "b.g.2.deep"), "true") == 0);
        assert(strcmp(scalar_at(n, "b.h.0"), "compact") == 0);
        assert(strcmp(scalar_at(n, "b.i"), "a#b") == 0);
        assert(yaml_scalar_is_null(yaml_mapping_get(n, "empty")));
        assert(strcmp(scalar_at(n, "url"), "mqtt://localhost:1883") == 0);
        assert(yaml_mapping_get(n, "b")->line == 4 && n->key_lines[1] == 3);
        assert(yaml_mapping_get(yaml_mapping_get(n, "b"), "g")->items[1]->line == 9);
        yaml_node_free(n);
}

static void test_flow_collections_and_block_scalars(void) {
        YamlNode *n = parse_ok("key: [1, 3, 0x0f, 'x', \"y\"]\n"
                               "multi: [1,\n"
                               "  2, # comment\n"
                               "  3]\n"
                               "map: {a: 1, 'b': [x, y], c: }\n"
                               "empty: {}\n"
                               "none: []\n"
                               "lit: |\n"
                               "  line one\n"
                               "    indented\n"
                               "\n"
                               "  last\n"
                               "fold: >-\n"
                               "  folded\n"
                               "  together\n"
                               "\n"
                               "  para\n"
                               "after: ok\n", NULL);
        const YamlNode *k = yaml_mapping_get(n, "key");

        assert(k->kind == YAML_SEQUENCE && k->n_items == 5);
        assert(strcmp(k->items[2]->scalar, "0x0f") == 0 && !k->items[2]->quoted);
        assert(k->items[3]->quoted);
        assert(yaml_mapping_get(n, "multi")->n_items == 3);
        assert(strcmp(scalar_at(n, "map.b.1"), "y") == 0);
        assert(yaml_scalar_is_null(yaml_mapping_get(yaml_mapping_get(n, "map"), "c")));
        assert(yaml_mapping_get(n, "empty")->kind == YAML_MAPPING);
        assert(yaml_mapping_get(n, "none")->kind == YAML_SEQUENCE);
        assert(strcmp(scalar_at(n, "lit"), "line one\n  indented\n\nlast\n") == 0);
        assert(strcmp(scalar_at(n, "fold"), "folded together\npara") == 0);
        assert(strcmp(scalar_at(n, "after"), "ok") == 0);
        yaml_node_free(n);
}

static void test_scalar_resolution_follows_js_yaml(void) {
        YamlNode *n = parse_ok("a: 0x1A62\nb: -12\nc: 1_000\nd: 2.5e1\ne: True\nf: ~\ng: '12'\nh: .inf\n"
                               "i: 0o17\nj: 12abc\nk: 9223372036854775808\n", NULL);
        int64_t i;
        double d;
        bool b;
        json_object *j;

        assert(yaml_scalar_int(yaml_mapping_get(n, "a"), &i) == 0 && i == 0x1a62);
        assert(yaml_scalar_int(yaml_mapping_get(n, "b"), &i) == 0 && i == -12);
        assert(yaml_scalar_int(yaml_mapping_get(n, "c"), &i) == 0 && i == 1000);
        assert(yaml_scalar_int(yaml_mapping_get(n, "d"), &i) < 0);
        assert(yaml_scalar_number(yaml_mapping_get(n, "d"), &d) == 0 && d == 25.0);
        assert(yaml_scalar_bool(yaml_mapping_get(n, "e"), &b) == 0 && b);
        assert(yaml_scalar_is_null(yaml_mapping_get(n, "f")));
        assert(yaml_scalar_int(yaml_mapping_get(n, "g"), &i) < 0);     /* quoted: a string */
        assert(yaml_node_to_json(yaml_mapping_get(n, "h"), &j) == -EDOM);
        assert(yaml_scalar_int(yaml_mapping_get(n, "i"), &i) == 0 && i == 15);
        assert(yaml_scalar_number(yaml_mapping_get(n, "j"), &d) < 0);
        assert(yaml_scalar_int(yaml_mapping_get(n, "k"), &i) == -ERANGE);

        assert(yaml_node_to_json(n, &j) == -EDOM);
        yaml_node_free(n);

        n = parse_ok("x: {n: 3, s: 'on', t: yes, f: 1.5, l: [true, null]}\n", NULL);
        assert(yaml_node_to_json(yaml_mapping_get(n, "x"), &j) == 0);
        assert(strcmp(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                      "{\"n\":3,\"s\":\"on\",\"t\":\"yes\",\"f\":1.5,\"l\":[true,null]}") == 0);
        json_object_put(j);
        yaml_node_free(n);
}

static void test_unknown_sections_are_skipped_by_indentation(void) {
        static const char *const only[] = { "devices", NULL };
        YamlNode *n = parse_ok("other:\n"
                               "  anchor: &a {x: 1}\n"
                               "  alias: *a\n"
                               "  tagged: !!str 5\n"
                               "  text: |\n"
                               "    devices:\n"
                               "      not: this\n"
                               "list:\n"
                               "- a\n"
                               "- b: c\n"
                               "flat: 1\n"
                               "devices:\n"
                               "  '0x1': {friendly_name: one}\n"
                               "tail: [unclosed\n", only);

        assert(n->n_items == 5);
        assert(strcmp(scalar_at(n, "devices.0x1.friendly_name"), "one") == 0);
        assert(yaml_scalar_is_null(yaml_mapping_get(n, "other")));
        yaml_node_free(n);
}

static void test_refusals_name_file_line_and_cause(void) {
        expect_error("a: 1\nb: &x 2\n", "t.yaml:2: anchors ('&') are not supported");
        expect_error("a: *x\n", "t.yaml:1: aliases ('*') are not supported");
        expect_error("a: !secret key\n", "t.yaml:1: tags ('!') are not supported");
        expect_error("a:\n  b: 1\n  b: 2\n", "t.yaml:3: duplicate key 'b' (first defined on line 2)");
        expect_error("a: b: c\n", "t.yaml:1: a ':' followed by a space inside a plain value");
        expect_error("a: 'open\n", "t.yaml:1: single-quoted string not closed on this line");
        expect_error("a: \"x\\q\"\n", "t.yaml:1: unknown escape sequence '\\q'");
        expect_error("a: plain\n  continued\n", "t.yaml:2: unexpected indentation");
        expect_error("a:\n\tb: 1\n", "t.yaml:2: tab character used for indentation");
        expect_error("---\na: 1\n", "t.yaml:1: document markers");
        expect_error("a: 1\n? b\n", "t.yaml:2: complex keys");
        expect_error("a: [1, 2\n", "t.yaml:2: flow collection not closed before the end of the file");
        expect_error("a: [1, x: 2]\n", "'key: value' pairs inside a flow sequence are not supported");
        expect_error("a:\n  - 1\n  b: 2\n", "t.yaml:3: unexpected");
        expect_error("just a scalar line\nsecond: 1\n", "t.yaml:2: unexpected");
        expect_error("a: 1\n b: 2\n", "t.yaml:2: unexpected indentation");
}

static void test_nul_byte_is_refused(void) {
        static const char text[] = "a: 1\nb: x\0y\n";
        YamlNode *n = NULL;
        char err[256];

        assert(yaml_parse(text, sizeof(text) - 1, "t.yaml", NULL, &n, err, sizeof(err)) == -EBADMSG);
        assert(strcmp(err, "t.yaml:2: NUL byte in the file") == 0);
}

/* libFuzzer finding: a document marker check read past the end of a text without a NUL. */
static void test_text_without_a_terminating_nul_is_read_within_bounds(void) {
        static const char *const cases[] = { "a:\n\t@: \n-", "---", "--", "a: 1\n..", "a: [1,\n-" };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t n = strlen(cases[i]);
                char *exact = malloc(n), err[256];
                YamlNode *y = NULL;

                assert(exact);
                memcpy(exact, cases[i], n);     /* no NUL: ASan catches any read past n */
                (void) yaml_parse(exact, n, "t.yaml", NULL, &y, err, sizeof(err));
                yaml_node_free(y);
                free(exact);
        }
}

static void test_deep_nesting_is_bounded(void) {
        char buf[4096] = "a: ";
        YamlNode *n = NULL;
        char err[256];

        for (int i = 0; i < 200; i++)
                strcat(buf, "[");
        strcat(buf, "\n");
        assert(yaml_parse(buf, strlen(buf), "t.yaml", NULL, &n, err, sizeof(err)) == -EBADMSG);
        assert(strstr(err, "nested deeper than 64 levels"));
}

static void test_empty_document_is_an_empty_mapping(void) {
        YamlNode *n = parse_ok("# nothing\n\n", NULL);

        assert(n->kind == YAML_MAPPING && n->n_items == 0);
        yaml_node_free(n);
}

int main(void) {
        test_block_mappings_sequences_and_scalars();
        test_flow_collections_and_block_scalars();
        test_scalar_resolution_follows_js_yaml();
        test_unknown_sections_are_skipped_by_indentation();
        test_refusals_name_file_line_and_cause();
        test_nul_byte_is_refused();
        test_text_without_a_terminating_nul_is_read_within_bounds();
        test_deep_nesting_is_bounded();
        test_empty_document_is_an_empty_mapping();
        return 0;
}
