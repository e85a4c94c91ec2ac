/*
 * Internal to src/config: the key table's row type, the parser state, and the per-key value parsers
 * (strings, integers, booleans, intervals, paths, addresses, enumerations, Zigbee network values).
 * The loading of the file, the tables of keys and the reload diff are in configuration.c; other
 * modules use configuration.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/configuration.h"
#include "util/macro.h"

typedef struct ConfigParser ConfigParser;
typedef struct ConfigKey ConfigKey;

/* Returns true if value was stored into field; on false the caller reports "expected <k->expect>".
 * A parser may instead report its own error and return false with *p->reported set. */
typedef bool (*ConfigParseFn)(ConfigParser *p, const ConfigKey *k, const char *value, void *field);

typedef enum FieldKind {
        FIELD_BYTES,            /* compared with memcmp over size */
        FIELD_STRING,           /* char * */
        FIELD_OPT_DOUBLE,       /* ConfigOptDouble */
} FieldKind;

struct ConfigKey {
        const char *section;    /* "mqtt", ..., or "device" for every [device 0x...] section */
        const char *key;
        ConfigParseFn parse;
        size_t offset;          /* in Config, or in DeviceConfig for "device" */
        size_t size;
        FieldKind kind;
        long long min, max;     /* for the integer parsers */
        const char *expect;     /* what a good value looks like, for error messages */
        bool restart;           /* a change needs a restart (only logged on reload) */
        bool secret;            /* never echo the value */
};

struct ConfigParser {
        const char *path;
        FILE *f;
        unsigned line;
        Config *config;
        /* current section */
        enum { SECTION_NONE, SECTION_GLOBAL, SECTION_DEVICE, SECTION_BAD } kind;
        char section[128];
        DeviceConfig *device;
        bool key_seen_in_section;       /* inih continues the previous value on indented lines */
        unsigned continuation_line;     /* line flagged as an indented continuation */
        unsigned n_syntax_errors;
        /* errors */
        char *errors;
        size_t errors_len;
        unsigned n_errors;
        unsigned error_line;            /* line of the last error we reported */
        bool reported;                  /* the parser reported its own error */
        int oom;
};

/* Reports an error about key k on the current line, and marks it reported. */
void config_key_error(ConfigParser *p, const ConfigKey *k, const char *value,
                      const char *format, ...) _printf_(4, 5);

#define FIELD(base, k, type) ((type *) ((uint8_t *) (base) + (k)->offset))

/* The parsers of the tables' rows (see ConfigParseFn). */
bool config_parse_string(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_nonempty_string(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_bool(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_opt_bool(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_opt_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_opt_double(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_topic(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_readable_file(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_serial_port(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_absolute_path(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_optional_absolute_path(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_listen_address(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_interval(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_password_file(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_password(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_tls_verify(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_mqtt_version(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_adapter(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_baudrate(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_auto_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_extended_pan_id(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_network_key(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_log_level(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_log_target(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
bool config_parse_friendly_name(ConfigParser *p, const ConfigKey *k, const char *value, void *field);
