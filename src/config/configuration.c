/*
 * lumiplugd.ini parser. inih splits the file; one table maps section.key to a parser and the offset
 * of the field it fills, the way timesyncd's gperf table does. Every error is collected (not just the
 * first) so that --check-config shows them all at once. The value parsers the tables name are in
 * config-parsers.c.
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

#include "config/config-parsers.h"
#include "config/configuration.h"
#include "znp/transport.h"
#include "util/log.h"

#define CONFIG_ERRORS_MAX 50

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

void config_key_error(ConfigParser *p, const ConfigKey *k, const char *value,
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

/* ---------------- the tables ---------------- */

#define G(sec, name, fn, member, ...) \
        { .section = sec, .key = name, .parse = fn, .offset = offsetof(Config, member), \
          .size = sizeof(((Config *) 0)->member), __VA_ARGS__ }
#define D(name, fn, member, ...) \
        { .section = "device", .key = name, .parse = fn, .offset = offsetof(DeviceConfig, member), \
          .size = sizeof(((DeviceConfig *) 0)->member), __VA_ARGS__ }
#define STR .kind = FIELD_STRING

static const ConfigKey global_keys[] = {
        G("mqtt", "host", config_parse_nonempty_string, mqtt.host, STR, .restart = true,
          .expect = "a host name or address"),
        G("mqtt", "port", config_parse_uint, mqtt.port, .min = 1, .max = 65535, .restart = true,
          .expect = "an integer from 1 to 65535"),
        G("mqtt", "client_id", config_parse_string, mqtt.client_id, STR, .restart = true,
          .expect = "a client id"),
        G("mqtt", "username", config_parse_string, mqtt.username, STR, .restart = true,
          .expect = "a user name"),
        G("mqtt", "password", config_parse_password, mqtt.password, STR, .restart = true, .secret = true,
          .expect = "a password"),
        G("mqtt", "password_file", config_parse_password_file, mqtt.password_file, STR, .restart = true,
          .expect = "the absolute path of a file holding the password"),
        G("mqtt", "ca_file", config_parse_readable_file, mqtt.ca_file, STR, .restart = true,
          .expect = "the absolute path of a readable PEM file"),
        G("mqtt", "cert_file", config_parse_readable_file, mqtt.cert_file, STR, .restart = true,
          .expect = "the absolute path of a readable PEM file"),
        G("mqtt", "key_file", config_parse_readable_file, mqtt.key_file, STR, .restart = true,
          .expect = "the absolute path of a readable PEM file"),
        G("mqtt", "tls_verify", config_parse_tls_verify, mqtt.tls_verify, .restart = true,
          .expect = "full, no-hostname or none"),
        G("mqtt", "keepalive", config_parse_uint, mqtt.keepalive, .min = 5, .max = 65535, .restart = true,
          .expect = "a number of seconds from 5 to 65535"),
        G("mqtt", "base_topic", config_parse_topic, mqtt.base_topic, STR, .restart = true,
          .expect = "an MQTT topic without wildcards (+ #) and without a leading or trailing /"),
        G("mqtt", "retain", config_parse_bool, mqtt.retain, .restart = true,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        G("mqtt", "qos", config_parse_uint, mqtt.qos, .min = 0, .max = 2, .restart = true,
          .expect = "0, 1 or 2"),
        G("mqtt", "reconnect_max", config_parse_uint, mqtt.reconnect_max, .min = 1, .max = 3600, .restart = true,
          .expect = "a number of seconds from 1 to 3600"),
        G("mqtt", "version", config_parse_mqtt_version, mqtt.version, .restart = true,
          .expect = "4 (MQTT 3.1.1) or 5 (MQTT 5)"),

        G("serial", "port", config_parse_serial_port, serial.port, STR, .restart = true,
          .expect = "the absolute path of a serial device (e.g. /dev/ttyUSB0) or tcp://host:port"),
        G("serial", "baudrate", config_parse_baudrate, serial.baudrate, .restart = true,
          .expect = "one of 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600"),
        G("serial", "rtscts", config_parse_bool, serial.rtscts, .restart = true,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        G("serial", "adapter", config_parse_adapter, serial.adapter, STR, .restart = true,
          .expect = "zstack (the only adapter supported)"),

        G("zigbee", "channel", config_parse_auto_uint, zigbee.channel, .min = 11, .max = 26, .restart = true,
          .expect = "auto or a channel from 11 to 26"),
        G("zigbee", "pan_id", config_parse_auto_uint, zigbee.pan_id, .min = 0x0001, .max = 0xfffe, .restart = true,
          .expect = "auto or a PAN ID from 0x0001 to 0xfffe"),
        G("zigbee", "extended_pan_id", config_parse_extended_pan_id, zigbee.extended_pan_id, .restart = true,
          .expect = "auto or 16 hex digits (8 bytes, not all 00 or all ff)"),
        G("zigbee", "network_key", config_parse_network_key, zigbee.network_key, .restart = true, .secret = true,
          .expect = "auto or 32 hex digits (16 bytes)"),

        G("homeassistant", "enabled", config_parse_bool, homeassistant.enabled, .restart = true,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        G("homeassistant", "discovery_prefix", config_parse_topic, homeassistant.discovery_prefix, STR,
          .restart = true,
          .expect = "an MQTT topic without wildcards (+ #) and without a leading or trailing /"),
        G("homeassistant", "status_topic", config_parse_topic, homeassistant.status_topic, STR, .restart = true,
          .expect = "an MQTT topic without wildcards (+ #) and without a leading or trailing /"),

        G("log", "level", config_parse_log_level, log.level,
          .expect = "debug, info, notice, warning or error"),
        G("log", "target", config_parse_log_target, log.target,
          .expect = "auto, journal or stderr"),

        G("state", "directory", config_parse_absolute_path, state.directory, STR, .restart = true,
          .expect = "an absolute path"),

        G("control", "socket", config_parse_optional_absolute_path, control.socket, STR, .restart = true,
          .expect = "the absolute path of the control socket, or nothing to have none"),

        G("metrics", "listen", config_parse_listen_address, metrics.listen, STR, .restart = true,
          .expect = "ADDRESS:PORT with a numeric address (127.0.0.1:9464, [::1]:9464), or nothing for off"),

        G("ota", "directory", config_parse_optional_absolute_path, ota.directory, STR, .restart = true,
          .expect = "the absolute path of the directory holding OTA image files"),
        G("ota", "image_block_response_delay", config_parse_uint, ota.image_block_response_delay,
          .min = 0, .max = 60000, .restart = true, .expect = "a number of milliseconds from 0 to 60000"),
        G("ota", "default_maximum_data_size", config_parse_uint, ota.default_maximum_data_size,
          .min = 10, .max = 100, .restart = true, .expect = "a number of bytes from 10 to 100"),
        G("ota", "image_block_request_timeout", config_parse_uint, ota.image_block_request_timeout,
          .min = 1000, .max = 3600000, .restart = true, .expect = "a number of milliseconds from 1000 to 3600000"),
};

/*
 * Per-device options. Later features add a row here (and a member in DeviceConfig); parsing, error
 * messages, the duplicate check and the reload diff need nothing else.
 */
static const ConfigKey device_keys[] = {
        D("friendly_name", config_parse_friendly_name, friendly_name, STR,
          .expect = "a name of 1 to 128 bytes without +, #, control characters, a leading or trailing /, "
                    "or a trailing /<digits>"),
        D("device_temperature_precision", config_parse_opt_uint, device_temperature_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("device_temperature_calibration", config_parse_opt_double, device_temperature_calibration,
          .kind = FIELD_OPT_DOUBLE, .expect = "a number"),
        D("power_precision", config_parse_opt_uint, power_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("power_calibration", config_parse_opt_double, power_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("energy_precision", config_parse_opt_uint, energy_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("energy_calibration", config_parse_opt_double, energy_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("voltage_precision", config_parse_opt_uint, voltage_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("voltage_calibration", config_parse_opt_double, voltage_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("current_precision", config_parse_opt_uint, current_precision, .min = 0, .max = 3,
          .expect = "an integer from 0 to 3"),
        D("current_calibration", config_parse_opt_double, current_calibration, .kind = FIELD_OPT_DOUBLE,
          .expect = "a number (percent)"),
        D("state_action", config_parse_opt_bool, state_action,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("energy_monotonic", config_parse_opt_bool, energy_monotonic,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("power_poll_interval", config_parse_interval, power_poll_interval, .min = 5, .max = 86400,
          .expect = "0 (off) or a number of seconds from 5 to 86400"),
        D("enforce_settings", config_parse_opt_bool, enforce_settings,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("led_disabled_night", config_parse_opt_bool, led_disabled_night,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("power_outage_memory", config_parse_opt_bool, power_outage_memory,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("auto_off", config_parse_opt_bool, auto_off,
          .expect = "a boolean (true, false, yes, no, on, off, 1, 0)"),
        D("overload_protection", config_parse_opt_uint, overload_protection, .min = 100, .max = 2300,
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

static bool config_parse_device_section(const char *name, uint64_t *ret) {
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

        if (config_parse_device_section(name, &ieee)) {
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
