/*
 * The per-key value parsers of lumiplugd.ini: each checks one value against its row of the key tables
 * (range, form, file access) and stores it in the field the row names. Not the file reading, the
 * sections or the checks across keys (configuration.c).
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

#include "config/config-parsers.h"
#include "znp/transport.h"
#include "util/log.h"

#define PASSWORD_FILE_MAX 4096

bool config_parse_string(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
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

bool config_parse_nonempty_string(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!*value)
                return false;
        return config_parse_string(p, k, value, field);
}

static bool config_parse_integer(const char *value, long long min, long long max, long long *ret) {
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

bool config_parse_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        long long v;

        if (!config_parse_integer(value, k->min, k->max, &v))
                return false;
        *(unsigned *) field = (unsigned) v;
        return true;
}

static bool config_parse_bool_value(const char *value, bool *ret) {
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

bool config_parse_bool(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        return config_parse_bool_value(value, field);
}

bool config_parse_opt_bool(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigOptBool *o = field;

        if (!config_parse_bool_value(value, &o->value))
                return false;
        o->set = true;
        return true;
}

bool config_parse_opt_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigOptUint *o = field;
        long long v;

        if (!config_parse_integer(value, k->min, k->max, &v))
                return false;
        o->set = true;
        o->value = (unsigned) v;
        return true;
}

bool config_parse_opt_double(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
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

bool config_parse_topic(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!topic_is_valid(value))
                return false;
        return config_parse_string(p, k, value, field);
}

bool config_parse_readable_file(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!*value)
                return config_parse_string(p, k, value, field);        /* unset */
        if (value[0] != '/')
                return false;
        if (access(value, R_OK) < 0) {
                config_key_error(p, k, value, "expected a readable file, but: %s", strerror(errno));
                return false;
        }
        return config_parse_string(p, k, value, field);
}

/* A serial device path, or tcp://host:port for network coordinators and ser2net (as Zigbee2MQTT). */
bool config_parse_serial_port(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        char host[256], port[8];

        if (strncmp(value, "tcp://", 6) == 0 &&
            transport_parse_tcp_address(value, host, sizeof(host), port, sizeof(port)) < 0)
                return false;
        if (strncmp(value, "tcp://", 6) != 0 && value[0] != '/')
                return false;
        return config_parse_string(p, k, value, field);
}

bool config_parse_absolute_path(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (value[0] != '/')
                return false;
        return config_parse_string(p, k, value, field);
}

/* An absolute path, or nothing (the feature is off). */
bool config_parse_optional_absolute_path(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (*value && value[0] != '/')
                return false;
        return config_parse_string(p, k, value, field);
}

/* ADDRESS:PORT with a numeric IPv4 address or a bracketed IPv6 one, or nothing (off). */
bool config_parse_listen_address(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        char host[INET6_ADDRSTRLEN + 2];
        const char *colon;
        unsigned char buf[sizeof(struct in6_addr)];
        long long port;
        size_t n;

        if (!*value)
                return config_parse_string(p, k, value, field);
        colon = strrchr(value, ':');
        if (!colon)
                return false;
        n = (size_t) (colon - value);
        if (n == 0 || n >= sizeof(host))
                return false;
        memcpy(host, value, n);
        host[n] = 0;
        if (!config_parse_integer(colon + 1, 1, 65535, &port))
                return false;
        if (host[0] == '[') {
                if (n < 3 || host[n - 1] != ']')
                        return false;
                host[n - 1] = 0;
                if (inet_pton(AF_INET6, host + 1, buf) != 1)
                        return false;
        } else if (inet_pton(AF_INET, host, buf) != 1)
                return false;
        return config_parse_string(p, k, value, field);
}

/* 0 (off) or min..max. */
bool config_parse_interval(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        long long v;

        if (!config_parse_integer(value, 0, k->max, &v) || (v != 0 && v < k->min))
                return false;
        *(unsigned *) field = (unsigned) v;
        return true;
}

bool config_parse_password_file(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
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
        if (config_parse_string(p, k, value, field) && !p->oom) {
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

bool config_parse_password(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        char **s = field;

        if (*s) {
                explicit_bzero(*s, strlen(*s));
                free(*s);
                *s = NULL;
        }
        return config_parse_string(p, k, value, field);
}

static const char *const tls_verify_names[] = {
        [MQTT_TLS_VERIFY_FULL] = "full",
        [MQTT_TLS_VERIFY_NO_HOSTNAME] = "no-hostname",
        [MQTT_TLS_VERIFY_NONE] = "none",
};

const char *config_tls_verify_to_string(int v) {
        return v >= 0 && (size_t) v < ELEMENTSOF(tls_verify_names) ? tls_verify_names[v] : "?";
}

bool config_parse_tls_verify(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        for (size_t i = 0; i < ELEMENTSOF(tls_verify_names); i++)
                if (strcmp(value, tls_verify_names[i]) == 0) {
                        *(int *) field = (int) i;
                        return true;
                }
        return false;
}

/* [mqtt] version: the protocol level of the CONNECT, 4 (MQTT 3.1.1) or 5 (MQTT 5). */
bool config_parse_mqtt_version(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (strcmp(value, "4") == 0)
                *(unsigned *) field = 4;
        else if (strcmp(value, "5") == 0)
                *(unsigned *) field = 5;
        else
                return false;
        return true;
}

bool config_parse_adapter(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (strcmp(value, "zstack") != 0)
                return false;
        return config_parse_string(p, k, value, field);
}

bool config_parse_baudrate(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        static const unsigned rates[] = { 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600 };
        long long v;

        if (!config_parse_integer(value, 1, 4000000, &v))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(rates); i++)
                if (rates[i] == v) {
                        *(unsigned *) field = (unsigned) v;
                        return true;
                }
        return false;
}

bool config_parse_auto_uint(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (strcmp(value, "auto") == 0) {
                *(unsigned *) field = 0;
                return true;
        }
        return config_parse_uint(p, k, value, field);
}

static bool config_parse_hex_bytes(const char *value, uint8_t *out, size_t n) {
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

bool config_parse_extended_pan_id(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigBytes8 *b = field;
        ConfigBytes8 v = {};

        if (strcmp(value, "auto") == 0) {
                *b = (ConfigBytes8) {};
                return true;
        }
        if (!config_parse_hex_bytes(value, v.bytes, sizeof(v.bytes)))
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

bool config_parse_network_key(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        ConfigBytes16 *b = field;

        if (strcmp(value, "auto") == 0) {
                explicit_bzero(b, sizeof(*b));
                return true;
        }
        if (!config_parse_hex_bytes(value, b->bytes, sizeof(b->bytes))) {
                explicit_bzero(b, sizeof(*b));
                return false;
        }
        b->set = true;
        return true;
}

bool config_parse_log_level(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        int l = log_level_from_string(value);

        if (l < 0)
                return false;
        *(int *) field = l;
        return true;
}

bool config_parse_log_target(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
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

bool config_parse_friendly_name(ConfigParser *p, const ConfigKey *k, const char *value, void *field) {
        if (!friendly_name_is_valid(value))
                return false;
        return config_parse_string(p, k, value, field);
}
