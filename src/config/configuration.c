/*
 * lumiplugd.ini parser. inih splits the file; one table maps section.key to a parser and the offset
 * of the field it fills, the way timesyncd's gperf table does. Every error is collected (not just the
 * first) so that --check-config shows them all at once.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ini.h>

#include "config/configuration.h"
#include "znp/transport.h"
#include "util/log.h"

#define CONFIG_ERRORS_MAX 50
#define PASSWORD_FILE_MAX 4096

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

/* ---------------- errors ---------------- */

static void config_add_error(ConfigParser *p, unsigned line, const char *format, ...) _printf_(3, 4);
static void config_add_error(ConfigParser *p, unsigned line, const char *format, ...) {
        _cleanup_free_ char *msg = NULL, *full = NULL;
        va_list ap;
        char *n;
        int r;

        if (line > 0)
                p->error_line = line;
        p->n_errors++;
        if (p->n_errors > CONFIG_ERRORS_MAX)
                return;

        va_start(ap, format);
        r = vasprintf(&msg, format, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                p->oom = -ENOMEM;
                return;
        }
        if (line > 0)
                r = asprintf(&full, "%s:%u: %s\n", p->path, line, msg);
        else
                r = asprintf(&full, "%s: %s\n", p->path, msg);
        if (r < 0) {
                full = NULL;
                p->oom = -ENOMEM;
                return;
        }
        n = realloc(p->errors, p->errors_len + (size_t) r + 1);
        if (!n) {
                p->oom = -ENOMEM;
                return;
        }
        memcpy(n + p->errors_len, full, (size_t) r + 1);
        p->errors = n;
        p->errors_len += (size_t) r;
}

static const char *shown(const ConfigKey *k, const char *value, char *buf, size_t size) {
        if (k->secret)
                return "(hidden)";
        (void) snprintf(buf, size, "'%s'", value);
        return buf;
}

static void config_key_error(ConfigParser *p, const ConfigKey *k, const char *value,
                             const char *format, ...) _printf_(4, 5);
static void config_key_error(ConfigParser *p, const ConfigKey *k, const char *value,
                             const char *format, ...) {
        _cleanup_free_ char *what = NULL;
        char buf[256];
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&what, format, ap) < 0)
                what = NULL;
        va_end(ap);
        config_add_error(p, p->line, "[%s] %s = %s: %s", p->section, k->key,
                         shown(k, value, buf, sizeof(buf)), what ?: "invalid");
        p->reported = true;
}

/* ---------------- value parsers ---------------- */

#define FIELD(base, k, type) ((type *) ((uint8_t *) (base) + (k)->offset))

static bool parse_string(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        char **s = field, *copy = NULL;

        /* An empty value leaves an optional string unset. */
        if (*value) {
                copy = strdup(value);
                if (!copy) {
                        p->oom = -ENOMEM;
                        return true;
                }
        }
        free(*s);
        *s = copy;
        return true;
}

static bool parse_nonempty_string(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!*value)
                return false;
        return parse_string(p, k, value, field);
}

static bool parse_integer(const char *value, long long min, long long max, long long *ret) {
        char *end;
        long long v;

        if (!*value || *value == '-' || *value == '+' || *value == ' ')
                return false;
        errno = 0;
        /* Decimal, or hex with 0x (PAN IDs); never octal: "010" is ten. */
        bool hex = strncasecmp(value, "0x", 2) == 0;
        const char *digits = hex ? value + 2 : value;

        if (!isxdigit((unsigned char) digits[0]))
                return false;
        v = strtoll(digits, &end, hex ? 16 : 10);
        if (end == digits)
                return false;
        if (errno != 0 || *end || v < min || v > max)
                return false;
        *ret = v;
        return true;
}

static bool parse_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        long long v;

        if (!parse_integer(value, k->min, k->max, &v))
                return false;
        *(unsigned *) field = (unsigned) v;
        return true;
}

static bool parse_bool_value(const char *value, bool *ret) {
        static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(value, yes[i]) == 0) {
                        *ret = true;
                        return true;
                }
                if (strcasecmp(value, no[i]) == 0) {
                        *ret = false;
                        return true;
                }
        }
        return false;
}

static bool parse_bool(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        return parse_bool_value(value, field);
}

static bool parse_opt_bool(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigOptBool *o = field;

        if (!parse_bool_value(value, &o->value))
                return false;
        o->set = true;
        return true;
}

static bool parse_opt_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigOptUint *o = field;
        long long v;

        if (!parse_integer(value, k->min, k->max, &v))
                return false;
        o->set = true;
        o->value = (unsigned) v;
        return true;
}

static bool parse_opt_double(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigOptDouble *o = field;
        char *end;
        double v;

        if (!*value || strchr(value, 'x') || strchr(value, 'X'))
                return false;
        errno = 0;
        v = strtod(value, &end);
        if (errno != 0 || *end || !isfinite(v))
                return false;
        o->set = true;
        o->value = v;
        return true;
}

static bool topic_is_valid(const char *t) {
        size_t n = strlen(t);

        if (n == 0 || n > 1024 || t[0] == '/' || t[n - 1] == '/')
                return false;
        for (size_t i = 0; i < n; i++)
                if (t[i] == '+' || t[i] == '#' || (unsigned char) t[i] < 0x20 || t[i] == 0x7f)
                        return false;
        return true;
}

static bool parse_topic(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!topic_is_valid(value))
                return false;
        return parse_string(p, k, value, field);
}

static bool parse_readable_file(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!*value)
                return parse_string(p, k, value, field);        /* unset */
        if (value[0] != '/')
                return false;
        if (access(value, R_OK) < 0) {
                config_key_error(p, k, value, "expected a readable file, but: %s", strerror(errno));
                return false;
        }
        return parse_string(p, k, value, field);
}

/* A serial device path, or tcp://host:port for network coordinators and ser2net (as Zigbee2MQTT). */
static bool parse_serial_port(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        char host[256], port[8];

        if (strncmp(value, "tcp://", 6) == 0 &&
            transport_parse_tcp_address(value, host, sizeof(host), port, sizeof(port)) < 0)
                return false;
        if (strncmp(value, "tcp://", 6) != 0 && value[0] != '/')
                return false;
        return parse_string(p, k, value, field);
}

static bool parse_absolute_path(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (value[0] != '/')
                return false;
        return parse_string(p, k, value, field);
}

/* An absolute path, or nothing (the feature is off). */
static bool parse_optional_absolute_path(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (*value && value[0] != '/')
                return false;
        return parse_string(p, k, value, field);
}

/* ADDRESS:PORT with a numeric IPv4 address or a bracketed IPv6 one, or nothing (off). */
static bool parse_listen_address(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        char host[INET6_ADDRSTRLEN + 2];
        const char *colon;
        unsigned char buf[sizeof(struct in6_addr)];
        long long port;
        size_t n;

        if (!*value)
                return parse_string(p, k, value, field);
        colon = strrchr(value, ':');
        if (!colon)
                return false;
        n = (size_t) (colon - value);
        if (n == 0 || n >= sizeof(host))
                return false;
        memcpy(host, value, n);
        host[n] = 0;
        if (!parse_integer(colon + 1, 1, 65535, &port))
                return false;
        if (host[0] == '[') {
                if (n < 3 || host[n - 1] != ']')
                        return false;
                host[n - 1] = 0;
                if (inet_pton(AF_INET6, host + 1, buf) != 1)
                        return false;
        } else if (inet_pton(AF_INET, host, buf) != 1)
                return false;
        return parse_string(p, k, value, field);
}

/* 0 (off) or min..max. */
static bool parse_interval(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        long long v;

        if (!parse_integer(value, 0, k->max, &v) || (v != 0 && v < k->min))
                return false;
        *(unsigned *) field = (unsigned) v;
        return true;
}

static bool parse_password_file(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        _cleanup_free_ char *secret = NULL;
        FILE *f;
        size_t n;

        if (value[0] != '/')
                return false;
        f = fopen(value, "re");
        if (!f) {
                config_key_error(p, k, value, "expected a readable file, but: %s", strerror(errno));
                return false;
        }
        secret = calloc(1, PASSWORD_FILE_MAX + 1);
        if (!secret) {
                fclose(f);
                p->oom = -ENOMEM;
                return true;
        }
        n = fread(secret, 1, PASSWORD_FILE_MAX + 1, f);
        if (ferror(f)) {
                int e = errno;

                fclose(f);
                explicit_bzero(secret, PASSWORD_FILE_MAX + 1);
                config_key_error(p, k, value, "expected a readable file, but: %s", strerror(e));
                return false;
        }
        fclose(f);
        if (n > PASSWORD_FILE_MAX) {
                explicit_bzero(secret, PASSWORD_FILE_MAX + 1);
                config_key_error(p, k, value, "expected a file holding only the password, but it is longer "
                                 "than %d bytes", PASSWORD_FILE_MAX);
                return false;
        }
        /* The password is the first line: editors and `echo` end files with a newline. */
        secret[strcspn(secret, "\r\n")] = 0;
        if (strlen(secret) != strnlen(secret, n) || !*secret) {
                explicit_bzero(secret, PASSWORD_FILE_MAX + 1);
                config_key_error(p, k, value, "expected a file holding the password, but its first line is empty");
                return false;
        }
        if (parse_string(p, k, value, field) && !p->oom) {
                MqttConfig *m = &p->config->mqtt;

                if (m->password) {
                        explicit_bzero(m->password, strlen(m->password));
                        free(m->password);
                }
                m->password = strdup(secret);
                if (!m->password)
                        p->oom = -ENOMEM;
        }
        explicit_bzero(secret, PASSWORD_FILE_MAX + 1);
        return true;
}

static bool parse_password(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        char **s = field;

        if (*s) {
                explicit_bzero(*s, strlen(*s));
                free(*s);
                *s = NULL;
        }
        return parse_string(p, k, value, field);
}

static const char *const tls_verify_names[] = {
        [MQTT_TLS_VERIFY_FULL] = "full",
        [MQTT_TLS_VERIFY_NO_HOSTNAME] = "no-hostname",
        [MQTT_TLS_VERIFY_NONE] = "none",
};

const char *config_tls_verify_to_string(int v) {
        return v >= 0 && (size_t) v < ELEMENTSOF(tls_verify_names) ? tls_verify_names[v] : "?";
}

static bool parse_tls_verify(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        for (size_t i = 0; i < ELEMENTSOF(tls_verify_names); i++)
                if (strcmp(value, tls_verify_names[i]) == 0) {
                        *(int *) field = (int) i;
                        return true;
                }
        return false;
}

/* [mqtt] version: the protocol level of the CONNECT, 4 (MQTT 3.1.1) or 5 (MQTT 5). */
static bool parse_mqtt_version(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (strcmp(value, "4") == 0)
                *(unsigned *) field = 4;
        else if (strcmp(value, "5") == 0)
                *(unsigned *) field = 5;
        else
                return false;
        return true;
}

static bool parse_adapter(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (strcmp(value, "zstack") != 0)
                return false;
        return parse_string(p, k, value, field);
}

static bool parse_baudrate(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        static const unsigned rates[] = { 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600 };
        long long v;

        if (!parse_integer(value, 1, 4000000, &v))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(rates); i++)
                if (rates[i] == v) {
                        *(unsigned *) field = (unsigned) v;
                        return true;
                }
        return false;
}

static bool parse_auto_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (strcmp(value, "auto") == 0) {
                *(unsigned *) field = 0;
                return true;
        }
        return parse_uint(p, k, value, field);
}

static bool parse_hex_bytes(const char *value, uint8_t *out, size_t n) {
        if (strncasecmp(value, "0x", 2) == 0)
                value += 2;
        if (strlen(value) != n * 2)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned b;

                if (!isxdigit((unsigned char) value[2 * i]) || !isxdigit((unsigned char) value[2 * i + 1]))
                        return false;
                if (sscanf(value + 2 * i, "%2x", &b) != 1)
                        return false;
                out[i] = (uint8_t) b;
        }
        return true;
}

static bool parse_extended_pan_id(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigBytes8 *b = field;
        ConfigBytes8 v = {};

        if (strcmp(value, "auto") == 0) {
                *b = (ConfigBytes8) {};
                return true;
        }
        if (!parse_hex_bytes(value, v.bytes, sizeof(v.bytes)))
                return false;
        /* 00..00 and ff..ff are reserved: "any network" in a join request. */
        bool all0 = true, allf = true;
        for (size_t i = 0; i < sizeof(v.bytes); i++) {
                all0 = all0 && v.bytes[i] == 0x00;
                allf = allf && v.bytes[i] == 0xff;
        }
        if (all0 || allf)
                return false;
        v.set = true;
        *b = v;
        return true;
}

static bool parse_network_key(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigBytes16 *b = field;

        if (strcmp(value, "auto") == 0) {
                explicit_bzero(b, sizeof(*b));
                return true;
        }
        if (!parse_hex_bytes(value, b->bytes, sizeof(b->bytes))) {
                explicit_bzero(b, sizeof(*b));
                return false;
        }
        b->set = true;
        return true;
}

static bool parse_log_level(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        int l = log_level_from_string(value);

        if (l < 0)
                return false;
        *(int *) field = l;
        return true;
}

static bool parse_log_target(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        LogTarget t = log_target_from_string(value);

        if (t < 0)
                return false;
        *(int *) field = t;
        return true;
}

/* Friendly names as Zigbee2MQTT accepts them (and as the device database stores them). */
static bool friendly_name_is_valid(const char *name) {
        size_t n = strlen(name);
        const char *slash;

        if (n == 0 || n > CONFIG_FRIENDLY_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) name[i];

                if (c < 0x20 || c == 0x7f || c == '+' || c == '#')
                        return false;
        }
        /* "<name>/<digits>" would address endpoint <digits> of device <name> */
        slash = strrchr(name, '/');
        if (slash && strspn(slash + 1, "0123456789") == strlen(slash + 1))
                return false;
        return true;
}

static bool parse_friendly_name(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!friendly_name_is_valid(value))
                return false;
        return parse_string(p, k, value, field);
}

/* ---------------- the tables ---------------- */

#define G(sec, name, fn, member, ...) \
        { .section = sec, .key = name, .parse = fn, .offset = offsetof(Config, member), \
          .size = sizeof(((Config *) 0)->member), __VA_ARGS__ }
#define D(name, fn, member, ...) \
        { .section = "device", .key = name, .parse = fn, .offset = offsetof(DeviceConfig, member), \
          .size = sizeof(((DeviceConfig *) 0)->member), __VA_ARGS__ }
#define STR .kind = FIELD_STRING

static const ConfigKey global_keys[] = {
        G("mqtt", "host", parse_nonempty_string, mqtt.host, STR, .restart = true,
          .expect = "a host name or address"),
        G("mqtt", "port", parse_uint, mqtt.port, .min = 1, .max = 65535, .restart = true,
          .expect = "an integer from 1 to 65535"),
        G("mqtt", "client_id", parse_string, mqtt.client_id, STR, .restart = true,
          .expect = "a client id"),
        G("mqtt", "username", parse_string, mqtt.username, STR, .restart = true,
          .expect = "a user name"),
        G("mqtt", "password", parse_password, mqtt.password, STR, .restart = true, .secret = true,
          .expect = "a password"),
        G("mqtt", "password_file", parse_password_file, mqtt.password_file, STR, .restart = true,
          .expect = "the absolute path of a file holding the password"),
        G("mqtt", "ca_file", parse_readable_file, mqtt.ca_file, STR, .restart = true,
          .expect = "the absolute path of a readable PEM file"),
        G("mqtt", "cert_file", parse_readable_file, mqtt.cert_file, STR, .restart = true,
          .expect = "the absolute path of a readable PEM file"),
        G("mqtt", "key_file", parse_readable_file, mqtt.key_file, STR, .restart = true,
          .expect = "the absolute path of a readable PEM file"),
        G("mqtt", "tls_verify", parse_tls_verify, mqtt.tls_verify, .restart = true,
          .expect = "full, no-hostname or none"),
        G("mqtt", "keepalive", parse_uint, mqtt.keepalive, .min = 5, .max = 65535, .restart = true,
          .expect = "a number of seconds from 5 to 65535"),
        G("mqtt", "base_topic", parse_topic, mqtt.base_topic, STR, .restart = true,
          .expect = "an MQTT topic without wildcards (+ #) and without a leading or trailing /"),
        G("mqtt", "retain", parse_bool, mqtt.retain, .restart = true,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        G("mqtt", "qos", parse_uint, mqtt.qos, .min = 0, .max = 2, .restart = true,
          .expect = "0, 1 or 2"),
        G("mqtt", "reconnect_max", parse_uint, mqtt.reconnect_max, .min = 1, .max = 3600, .restart = true,
          .expect = "a number of seconds from 1 to 3600"),
        G("mqtt", "version", parse_mqtt_version, mqtt.version, .restart = true,
          .expect = "4 (MQTT 3.1.1) or 5 (MQTT 5)"),

        G("serial", "port", parse_serial_port, serial.port, STR, .restart = true,
          .expect = "the absolute path of a serial device (e.g. /dev/ttyUSB0) or tcp://host:port"),
        G("serial", "baudrate", parse_baudrate, serial.baudrate, .restart = true,
          .expect = "one of 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600"),
        G("serial", "rtscts", parse_bool, serial.rtscts, .restart = true,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        G("serial", "adapter", parse_adapter, serial.adapter, STR, .restart = true,
          .expect = "zstack (the only adapter supported)"),

        G("zigbee", "channel", parse_auto_uint, zigbee.channel, .min = 11, .max = 26, .restart = true,
          .expect = "auto or a channel from 11 to 26"),
        G("zigbee", "pan_id", parse_auto_uint, zigbee.pan_id, .min = 0x0001, .max = 0xfffe, .restart = true,
          .expect = "auto or a PAN ID from 0x0001 to 0xfffe"),
        G("zigbee", "extended_pan_id", parse_extended_pan_id, zigbee.extended_pan_id, .restart = true,
          .expect = "auto or 16 hex digits (8 bytes, not all 00 or all ff)"),
        G("zigbee", "network_key", parse_network_key, zigbee.network_key, .restart = true, .secret = true,
          .expect = "auto or 32 hex digits (16 bytes)"),

        G("homeassistant", "enabled", parse_bool, homeassistant.enabled, .restart = true,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        G("homeassistant", "discovery_prefix", parse_topic, homeassistant.discovery_prefix, STR,
          .restart = true,
          .expect = "an MQTT topic without wildcards (+ #) and without a leading or trailing /"),
        G("homeassistant", "status_topic", parse_topic, homeassistant.status_topic, STR, .restart = true,
          .expect = "an MQTT topic without wildcards (+ #) and without a leading or trailing /"),

        G("log", "level", parse_log_level, log.level,
          .expect = "debug, info, notice, warning or error"),
        G("log", "target", parse_log_target, log.target,
          .expect = "auto, journal or stderr"),

        G("state", "directory", parse_absolute_path, state.directory, STR, .restart = true,
          .expect = "an absolute path"),

        G("control", "socket", parse_optional_absolute_path, control.socket, STR, .restart = true,
          .expect = "the absolute path of the control socket, or nothing to have none"),

        G("metrics", "listen", parse_listen_address, metrics.listen, STR, .restart = true,
          .expect = "ADDRESS:PORT with a numeric address (127.0.0.1:9464, [::1]:9464), or nothing for off"),

        G("ota", "directory", parse_optional_absolute_path, ota.directory, STR, .restart = true,
          .expect = "the absolute path of the directory holding OTA image files"),
        G("ota", "image_block_response_delay", parse_uint, ota.image_block_response_delay,
          .min = 0, .max = 60000, .restart = true, .expect = "a number of milliseconds from 0 to 60000"),
        G("ota", "default_maximum_data_size", parse_uint, ota.default_maximum_data_size,
          .min = 10, .max = 100, .restart = true, .expect = "a number of bytes from 10 to 100"),
        G("ota", "image_block_request_timeout", parse_uint, ota.image_block_request_timeout,
          .min = 1000, .max = 3600000, .restart = true, .expect = "a number of milliseconds from 1000 to 3600000"),
};

/*
 * Per-device options. Later features add a row here (and a member in DeviceConfig); parsing, error
 * messages, the duplicate check and the reload diff need nothing else.
 */
static const ConfigKey device_keys[] = {
        D("friendly_name", parse_friendly_name, friendly_name, STR,
          .expect = "a name of 1 to 128 bytes without +, #, control characters, a leading or trailing /, "
                    "or a trailing /<digits>"),
        D("device_temperature_precision", parse_opt_uint, device_temperature_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("device_temperature_calibration", parse_opt_double, device_temperature_calibration,
          .kind = FIELD_OPT_DOUBLE, .expect = "a number"),
        D("power_precision", parse_opt_uint, power_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("power_calibration", parse_opt_double, power_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("energy_precision", parse_opt_uint, energy_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("energy_calibration", parse_opt_double, energy_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("voltage_precision", parse_opt_uint, voltage_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("voltage_calibration", parse_opt_double, voltage_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("current_precision", parse_opt_uint, current_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("current_calibration", parse_opt_double, current_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("state_action", parse_opt_bool, state_action,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("energy_monotonic", parse_opt_bool, energy_monotonic,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("power_poll_interval", parse_interval, power_poll_interval, .min = 5, .max = 86400,
          .expect = "0 (off) or a number of seconds from 5 to 86400"),
        D("enforce_settings", parse_opt_bool, enforce_settings,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("led_disabled_night", parse_opt_bool, led_disabled_night,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("power_outage_memory", parse_opt_bool, power_outage_memory,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("auto_off", parse_opt_bool, auto_off,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("overload_protection", parse_opt_uint, overload_protection, .min = 100, .max = 2300,
          .expect = "a number of watts from 100 to 2300"),
};

_Static_assert(ELEMENTSOF(global_keys) <= ELEMENTSOF(((Config *) 0)->key_lines), "key_lines too small");
_Static_assert(ELEMENTSOF(device_keys) <= ELEMENTSOF(((DeviceConfig *) 0)->key_lines), "key_lines too small");

static const char *const section_names[] = {
        "mqtt", "serial", "zigbee", "homeassistant", "log", "state", "control", "metrics", "ota",
};

const char *config_key_name(const char *section, size_t i) {
        bool device = strcmp(section, "device") == 0;
        const ConfigKey *keys = device ? device_keys : global_keys;
        size_t n = device ? ELEMENTSOF(device_keys) : ELEMENTSOF(global_keys);

        for (size_t j = 0; j < n; j++)
                if (strcmp(keys[j].section, section) == 0 && i-- == 0)
                        return keys[j].key;
        return NULL;
}

/* ---------------- lifecycle ---------------- */

static void device_config_done(DeviceConfig *d) {
        free(d->friendly_name);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(global_keys); i++)
                if (global_keys[i].kind == FIELD_STRING) {
                        char **s = FIELD(c, &global_keys[i], char *);

                        if (*s && global_keys[i].secret)
                                explicit_bzero(*s, strlen(*s));
                        free(*s);
                }
        explicit_bzero(&c->zigbee.network_key, sizeof(c->zigbee.network_key));
        for (size_t i = 0; i < c->n_devices; i++)
                device_config_done(&c->devices[i]);
        free(c->devices);
        free(c->path);
        free(c);
        return NULL;
}

/* systemd's StateDirectory= hands the directory over in $STATE_DIRECTORY (a colon-separated list,
 * the first is ours); that is how each lumiplugd@NAME instance gets /var/lib/lumiplugd/NAME. */
static char *default_state_directory(void) {
        const char *e = getenv("STATE_DIRECTORY");

        if (e && e[0] == '/')
                return strndup(e, strcspn(e, ":"));
        return strdup("/var/lib/lumiplugd");
}

/* RuntimeDirectory= gives $RUNTIME_DIRECTORY (/run/lumiplugd, or /run/lumiplugd/NAME for an instance). */
static char *default_control_socket(void) {
        const char *e = getenv("RUNTIME_DIRECTORY");
        char *s;

        if (e && e[0] == '/')
                return asprintf(&s, "%.*s/control", (int) strcspn(e, ":"), e) < 0 ? NULL : s;
        return strdup("/run/lumiplugd/control");
}

int config_new(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;

        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        c->mqtt.port = 1883;
        c->mqtt.keepalive = 60;
        c->mqtt.retain = true;
        c->mqtt.qos = 1;
        c->mqtt.reconnect_max = 60;
        c->mqtt.version = 5;
        c->serial.baudrate = 115200;
        c->homeassistant.enabled = true;
        c->log.level = LOG_INFO;
        c->log.target = LOG_TARGET_AUTO;
        c->ota.image_block_response_delay = 250;
        c->ota.default_maximum_data_size = 50;
        c->ota.image_block_request_timeout = 150000;

        if (!(c->mqtt.host = strdup("localhost")) ||
            !(c->mqtt.base_topic = strdup("zigbee2mqtt")) ||
            !(c->serial.port = strdup("/dev/ttyUSB0")) ||
            !(c->serial.adapter = strdup("zstack")) ||
            !(c->homeassistant.discovery_prefix = strdup("homeassistant")) ||
            !(c->homeassistant.status_topic = strdup("homeassistant/status")) ||
            !(c->state.directory = default_state_directory()) ||
            !(c->control.socket = default_control_socket()))
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

/* ---------------- sections ---------------- */

static bool parse_device_section(const char *name, uint64_t *ret) {
        const char *hex;
        uint64_t v = 0;

        if (strncmp(name, "device", 6) != 0 || (name[6] != ' ' && name[6] != '\t'))
                return false;
        hex = name + 6 + strspn(name + 6, " \t");
        if (strncasecmp(hex, "0x", 2) != 0 || strlen(hex) != 18)
                return false;
        for (size_t i = 2; i < 18; i++) {
                int c = (unsigned char) hex[i];

                if (!isxdigit(c))
                        return false;
                v = v << 4 | (uint64_t) (isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
        }
        *ret = v;
        return true;
}

static void config_start_section(ConfigParser *p, const char *name) {
        uint64_t ieee;

        (void) snprintf(p->section, sizeof(p->section), "%s", name);
        p->key_seen_in_section = false;
        p->device = NULL;

        for (size_t i = 0; i < ELEMENTSOF(section_names); i++)
                if (strcmp(name, section_names[i]) == 0) {
                        p->kind = SECTION_GLOBAL;
                        return;
                }

        if (parse_device_section(name, &ieee)) {
                Config *c = p->config;
                DeviceConfig *d;

                /* A repeated section continues the same device. */
                for (size_t i = 0; i < c->n_devices; i++)
                        if (c->devices[i].ieee == ieee) {
                                p->kind = SECTION_DEVICE;
                                p->device = &c->devices[i];
                                return;
                        }
                if (c->n_devices >= CONFIG_DEVICES_MAX) {
                        config_add_error(p, p->line, "[%s]: too many devices; expected at most %d "
                                         "[device ...] sections", name, CONFIG_DEVICES_MAX);
                        p->kind = SECTION_BAD;
                        return;
                }
                d = realloc(c->devices, (c->n_devices + 1) * sizeof(*d));
                if (!d) {
                        p->oom = -ENOMEM;
                        p->kind = SECTION_BAD;
                        return;
                }
                c->devices = d;
                d = &c->devices[c->n_devices++];
                *d = (DeviceConfig) { .ieee = ieee, .line = p->line };
                p->kind = SECTION_DEVICE;
                p->device = d;
                return;
        }

        p->kind = SECTION_BAD;
        if (strncmp(name, "device", 6) == 0)
                config_add_error(p, p->line, "[%s]: bad device section; expected [device 0x<16 hex digits>], "
                                 "e.g. [device 0x00158d0001a2b3c4]", name);
        else
                config_add_error(p, p->line, "[%s]: unknown section; expected [mqtt], [serial], [zigbee], "
                                 "[homeassistant], [log], [state], [control], [metrics], [ota] or "
                                 "[device 0x<16 hex digits>]", name);
}

/* inih hands us one line at a time through this reader: we count lines (inih does not tell the
 * handler which line it is on), refuse lines longer than its buffer, and see section headers. */
static char *config_reader(char *str, int num, void *userdata) {
        ConfigParser *p = userdata;
        char *s, *end;
        size_t n;

        if (!fgets(str, num, p->f))
                return NULL;
        p->line++;
        n = strlen(str);
        if (n > 0 && str[n - 1] != '\n' && !feof(p->f)) {
                config_add_error(p, p->line, "line too long; expected at most %d characters per line", num - 2);
                return NULL;    /* stop: inih would read the rest as another line */
        }

        s = str;
        if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
                s += 3;
        if (*s == ' ' || *s == '\t') {
                const char *t = s + strspn(s, " \t\r\n");

                /* inih appends an indented line to the value of the key above it. */
                if (*t && *t != ';' && *t != '#' && p->key_seen_in_section) {
                        p->continuation_line = p->line;
                        config_add_error(p, p->line, "indented line; expected each key = value on its own "
                                         "line without leading blanks (inih would append it to the value "
                                         "above)");
                }
        }
        if (p->line == p->continuation_line)
                return str;
        s += strspn(s, " \t");
        if (*s == '[') {
                end = strchr(s + 1, ']');
                if (end) {
                        char name[128];
                        const char *b = s + 1 + strspn(s + 1, " \t");
                        size_t len = (size_t) (end - b);

                        while (len > 0 && (b[len - 1] == ' ' || b[len - 1] == '\t'))
                                len--;
                        (void) snprintf(name, sizeof(name), "%.*s", (int) len, b);
                        config_start_section(p, name);
                } else {
                        p->kind = SECTION_BAD;
                        (void) snprintf(p->section, sizeof(p->section), "%s", "");
                        p->n_syntax_errors++;
                        config_add_error(p, p->line, "syntax error: no ] closes the section name; expected "
                                         "[section]");
                }
        } else if (*s && !strchr(";#\r\n", *s)) {
                /* inih: a key line needs = or : before any " ;" inline comment. */
                size_t delim = strcspn(s, "=:");
                const char *comment = strstr(s, " ;") ?: strstr(s, "\t;");

                if (!s[delim] || (comment && comment < s + delim)) {
                        p->n_syntax_errors++;
                        config_add_error(p, p->line, "syntax error; expected [section], key = value, or a "
                                         "comment starting with ; or #");
                }
        }
        return str;
}

static int config_handler(void *userdata, const char *section, const char *name, const char *value) {
        ConfigParser *p = userdata;
        const ConfigKey *keys;
        size_t n_keys;
        unsigned *lines;
        void *base;

        if (p->line == p->continuation_line)
                return 1;               /* already reported */

        switch (p->kind) {
        case SECTION_BAD:
                return 1;               /* the section line was reported */
        case SECTION_NONE:
                /* The value is not shown: without a section we cannot tell whether it is a secret. */
                config_add_error(p, p->line, "%s: key outside of a section; expected a [section] line before it",
                                 name);
                return 1;
        case SECTION_DEVICE:
                keys = device_keys;
                n_keys = ELEMENTSOF(device_keys);
                lines = p->device->key_lines;
                base = p->device;
                break;
        default:
                keys = global_keys;
                n_keys = ELEMENTSOF(global_keys);
                lines = p->config->key_lines;
                base = p->config;
        }
        p->key_seen_in_section = true;

        for (size_t i = 0; i < n_keys; i++) {
                const ConfigKey *k = &keys[i];
                char buf[256];

                if (strcmp(k->section, p->kind == SECTION_DEVICE ? "device" : p->section) != 0 ||
                    strcmp(k->key, name) != 0)
                        continue;

                if (lines[i] > 0) {
                        config_add_error(p, p->line, "[%s] %s = %s: already set on line %u; expected each key "
                                         "once per section", p->section, name, shown(k, value, buf, sizeof(buf)),
                                         lines[i]);
                        return 1;
                }
                lines[i] = p->line;
                p->reported = false;
                if (!k->parse(p, k, value, (uint8_t *) base + k->offset) && !p->reported)
                        config_add_error(p, p->line, "[%s] %s = %s: expected %s", p->section, name,
                                         shown(k, value, buf, sizeof(buf)), k->expect);
                return 1;
        }

        /* Unknown key: list the ones this section has. */
        _cleanup_free_ char *list = NULL;
        size_t len = 0;
        const char *sec = p->kind == SECTION_DEVICE ? "device" : p->section;
        for (size_t i = 0; i < n_keys; i++) {
                char *l;
                size_t kl;

                if (strcmp(keys[i].section, sec) != 0)
                        continue;
                kl = strlen(keys[i].key);
                l = realloc(list, len + kl + 3);
                if (!l) {
                        p->oom = -ENOMEM;
                        return 1;
                }
                list = l;
                if (len > 0) {
                        memcpy(list + len, ", ", 2);
                        len += 2;
                }
                memcpy(list + len, keys[i].key, kl + 1);
                len += kl;
        }
        config_add_error(p, p->line, "[%s] %s: unknown key; expected one of %s", p->section, name,
                         list ?: "(none)");
        return 1;
}

/* Checks that involve more than one key, once the whole file is read. */
static void config_check(ConfigParser *p) {
        Config *c = p->config;
        const unsigned *l = c->key_lines;
        size_t i_password = 0, i_password_file = 0, i_ca = 0, i_cert = 0, i_key = 0, i_verify = 0;

        for (size_t i = 0; i < ELEMENTSOF(global_keys); i++) {
                const char *k = global_keys[i].key;

                if (strcmp(global_keys[i].section, "mqtt") != 0)
                        continue;
                if (strcmp(k, "password") == 0)
                        i_password = i;
                else if (strcmp(k, "password_file") == 0)
                        i_password_file = i;
                else if (strcmp(k, "ca_file") == 0)
                        i_ca = i;
                else if (strcmp(k, "cert_file") == 0)
                        i_cert = i;
                else if (strcmp(k, "key_file") == 0)
                        i_key = i;
                else if (strcmp(k, "tls_verify") == 0)
                        i_verify = i;
        }

        if (l[i_password] && l[i_password_file]) {
                if (l[i_password] > l[i_password_file])
                        config_add_error(p, l[i_password], "[mqtt] password = (hidden): password_file is already "
                                         "set on line %u; expected only one of password and password_file",
                                         l[i_password_file]);
                else
                        config_add_error(p, l[i_password_file], "[mqtt] password_file = '%s': password is already "
                                         "set on line %u; expected only one of password and password_file",
                                         c->mqtt.password_file ?: "", l[i_password]);
        }
        /* MQTT 3.1.1, 3.1.2.9: no password without a user name. */
        if (c->mqtt.password && !c->mqtt.username && !(l[i_password] && l[i_password_file])) {
                if (l[i_password])
                        config_add_error(p, l[i_password], "[mqtt] password = (hidden): username is not set; "
                                         "expected a username with a password");
                else
                        config_add_error(p, l[i_password_file], "[mqtt] password_file = '%s': username is not "
                                         "set; expected a username with a password", c->mqtt.password_file ?: "");
        }
        if (c->mqtt.cert_file && !c->mqtt.key_file)
                config_add_error(p, l[i_cert], "[mqtt] cert_file = '%s': key_file is not set; expected "
                                 "cert_file and key_file together", c->mqtt.cert_file);
        if (c->mqtt.key_file && !c->mqtt.cert_file)
                config_add_error(p, l[i_key], "[mqtt] key_file = '%s': cert_file is not set; expected "
                                 "cert_file and key_file together", c->mqtt.key_file);
        if ((c->mqtt.cert_file || c->mqtt.key_file) && !c->mqtt.ca_file && !l[i_ca])
                config_add_error(p, l[c->mqtt.cert_file ? i_cert : i_key],
                                 "[mqtt] %s = '%s': ca_file is not set; expected ca_file for TLS",
                                 c->mqtt.cert_file ? "cert_file" : "key_file",
                                 c->mqtt.cert_file ?: c->mqtt.key_file);
        if (l[i_verify] && !c->mqtt.ca_file && !l[i_ca])
                config_add_error(p, l[i_verify], "[mqtt] tls_verify = '%s': ca_file is not set, so TLS is off; "
                                 "expected ca_file for TLS", config_tls_verify_to_string(c->mqtt.tls_verify));

        for (size_t j = 0; j < c->n_devices; j++) {
                const DeviceConfig *d = &c->devices[j];

                if (!d->friendly_name)
                        continue;
                for (size_t i = 0; i < j; i++) {
                        const DeviceConfig *o = &c->devices[i];

                        if (o->friendly_name && strcmp(o->friendly_name, d->friendly_name) == 0) {
                                config_add_error(p, d->key_lines[0],
                                                 "[device 0x%016" PRIx64 "] friendly_name = '%s': already the "
                                                 "friendly name of [device 0x%016" PRIx64 "] on line %u; "
                                                 "expected a unique name", d->ieee, d->friendly_name,
                                                 o->ieee, o->key_lines[0]);
                                break;
                        }
                }
        }
}

int config_load(const char *path, Config **ret, char **ret_errors) {
        _cleanup_(config_freep) Config *c = NULL;
        ConfigParser p = { .path = path };
        int r;

        assert(path);
        assert(ret);

        r = config_new(&c);
        if (r < 0)
                return r;
        c->path = strdup(path);
        if (!c->path)
                return -ENOMEM;
        p.config = c;

        p.f = fopen(path, "re");
        if (!p.f) {
                r = -errno;
                config_add_error(&p, 0, "cannot read the configuration: %s", strerror(-r));
                goto finish;
        }

        r = ini_parse_stream(config_reader, &p, config_handler, &p);
        if (ferror(p.f)) {
                int e = errno ?: EIO;

                config_add_error(&p, 0, "cannot read the configuration: %s", strerror(e));
                fclose(p.f);
                r = -e;
                goto finish;
        }
        fclose(p.f);
        if (r > 0 && p.n_syntax_errors == 0)
                /* inih found a line that is neither [section], key = value nor a comment. */
                config_add_error(&p, (unsigned) r, "syntax error; expected [section], key = value, or a "
                                 "comment starting with ; or #");
        r = 0;
        config_check(&p);

finish:
        if (p.oom) {
                free(p.errors);
                return p.oom;
        }
        if (p.n_errors > CONFIG_ERRORS_MAX) {
                char *more = NULL;

                if (asprintf(&more, "%s%s: %u more errors not shown\n", p.errors ?: "", path,
                             p.n_errors - CONFIG_ERRORS_MAX) < 0) {
                        free(p.errors);
                        return -ENOMEM;
                }
                free(p.errors);
                p.errors = more;
        }
        if (p.n_errors > 0) {
                if (ret_errors)
                        *ret_errors = p.errors;
                else
                        free(p.errors);
                return r < 0 ? r : -EINVAL;
        }
        free(p.errors);
        *ret = TAKE_PTR(c);
        return 0;
}

const DeviceConfig *config_find_device(const Config *c, uint64_t ieee) {
        for (size_t i = 0; c && i < c->n_devices; i++)
                if (c->devices[i].ieee == ieee)
                        return &c->devices[i];
        return NULL;
}

const DeviceConfig *config_find_device_by_name(const Config *c, const char *name) {
        for (size_t i = 0; c && name && i < c->n_devices; i++)
                if (c->devices[i].friendly_name && strcmp(c->devices[i].friendly_name, name) == 0)
                        return &c->devices[i];
        return NULL;
}

/* ---------------- reload ---------------- */

static bool field_equal(const ConfigKey *k, const void *a, const void *b) {
        const void *fa = (const uint8_t *) a + k->offset, *fb = (const uint8_t *) b + k->offset;

        switch (k->kind) {
        case FIELD_STRING: {
                const char *sa = *(char *const *) fa, *sb = *(char *const *) fb;

                return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
        }
        case FIELD_OPT_DOUBLE: {
                const ConfigOptDouble *da = fa, *db = fb;

                return da->set == db->set && (!da->set || da->value == db->value);
        }
        default:
                return memcmp(fa, fb, k->size) == 0;
        }
}

void config_diff(const Config *old, const Config *new, ConfigChangeFn fn, void *userdata) {
        char section[64];

        assert(old && new && fn);

        for (size_t i = 0; i < ELEMENTSOF(global_keys); i++)
                if (!field_equal(&global_keys[i], old, new))
                        fn(global_keys[i].section, global_keys[i].key, global_keys[i].restart, userdata);

        for (size_t i = 0; i < old->n_devices; i++) {
                const DeviceConfig *o = &old->devices[i], *n = config_find_device(new, o->ieee);

                (void) snprintf(section, sizeof(section), "device 0x%016" PRIx64, o->ieee);
                if (!n) {
                        fn(section, "*", false, userdata);
                        continue;
                }
                for (size_t j = 0; j < ELEMENTSOF(device_keys); j++)
                        if (!field_equal(&device_keys[j], o, n))
                                fn(section, device_keys[j].key, device_keys[j].restart, userdata);
        }
        for (size_t i = 0; i < new->n_devices; i++)
                if (!config_find_device(old, new->devices[i].ieee)) {
                        (void) snprintf(section, sizeof(section), "device 0x%016" PRIx64, new->devices[i].ieee);
                        fn(section, "*", false, userdata);
                }
}
