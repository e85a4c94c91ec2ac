/*
 * lumiplugd.ini: the parsed configuration. Parsing is table driven (configuration.c: section.key → parser →
 * offsetof(field)); every bad line becomes one "file:line: [section] key = 'value': expected ..." error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

#define CONFIG_DEVICES_MAX 256
#define CONFIG_FRIENDLY_NAME_MAX 128    /* bytes, as the device database allows */

/* An option that may be left out (Zigbee2MQTT applies it only when given). */
typedef struct ConfigOptUint {
        bool set;
        unsigned value;
} ConfigOptUint;

typedef struct ConfigOptDouble {
        bool set;
        double value;
} ConfigOptDouble;

typedef struct ConfigOptBool {
        bool set;
        bool value;
} ConfigOptBool;

/* Byte strings given as hex digits, or "auto" (set = false). */
typedef struct ConfigBytes8 {
        bool set;
        uint8_t bytes[8];
} ConfigBytes8;

typedef struct ConfigBytes16 {
        bool set;
        uint8_t bytes[16];
} ConfigBytes16;

/* How much of the broker's TLS certificate is checked ([mqtt] tls_verify). */
typedef enum MqttTlsVerify {
        MQTT_TLS_VERIFY_FULL,           /* chains to ca_file and names host: the default */
        MQTT_TLS_VERIFY_NO_HOSTNAME,    /* chains to ca_file, any host name (insecure) */
        MQTT_TLS_VERIFY_NONE,           /* nothing checked, like Zigbee2MQTT's reject_unauthorized: false */
} MqttTlsVerify;

typedef struct MqttConfig {
        char *host;
        unsigned port;
        char *client_id;                /* NULL: libmosquitto makes one up */
        char *username;
        char *password;                 /* from password= or the contents of password_file= */
        char *password_file;
        char *ca_file, *cert_file, *key_file;   /* TLS is on iff ca_file is set */
        int tls_verify;                 /* MqttTlsVerify */
        unsigned keepalive;             /* seconds */
        char *base_topic;
        bool retain;
        unsigned qos;
        unsigned reconnect_max;         /* seconds: cap of the reconnect backoff */
        unsigned version;               /* MQTT protocol level: 5 (the default, falls back to 4) or 4 */
} MqttConfig;

typedef struct SerialConfig {
        char *port;
        unsigned baudrate;
        bool rtscts;
        char *adapter;                  /* "zstack" */
} SerialConfig;

typedef struct ZigbeeConfig {
        unsigned channel;               /* 0: auto, else 11..26 */
        unsigned pan_id;                /* 0: auto, else 0x0001..0xfffe */
        ConfigBytes8 extended_pan_id;   /* as written, most significant byte first */
        ConfigBytes16 network_key;      /* secret: never logged */
} ZigbeeConfig;

typedef struct HomeAssistantConfig {
        bool enabled;
        char *discovery_prefix;
        char *status_topic;
} HomeAssistantConfig;

typedef struct LogConfig {
        int level;                      /* LOG_ERR..LOG_DEBUG */
        int target;                     /* LogTarget */
} LogConfig;

typedef struct StateConfig {
        char *directory;
} StateConfig;

/* The local control socket (lumiplugctl). Under systemd it comes from lumiplugd.socket instead. */
typedef struct ControlConfig {
        char *socket;                   /* absolute path; NULL (empty value): no control socket */
} ControlConfig;

/* The Prometheus text endpoint, off unless configured (or passed by systemd as "metrics"). */
typedef struct MetricsConfig {
        char *listen;                   /* "127.0.0.1:9464", "[::1]:9464"; NULL: off */
} MetricsConfig;

/* OTA images served from local files (Zigbee2MQTT's ota.* settings of the same names). */
typedef struct OtaConfig {
        char *directory;                /* NULL: <[state] directory>/ota */
        unsigned image_block_response_delay;    /* ms between image blocks, Zigbee2MQTT's default 250 */
        unsigned default_maximum_data_size;     /* bytes per image block at most, Zigbee2MQTT's 50 */
        unsigned image_block_request_timeout;   /* ms without a request before an update fails, 150000 */
} OtaConfig;

/* [device 0x00158d0001a2b3c4]: per-plug options, named as Zigbee2MQTT's device options. */
typedef struct DeviceConfig {
        uint64_t ieee;
        unsigned line;                  /* of its section header */
        char *friendly_name;
        ConfigOptUint device_temperature_precision;
        ConfigOptDouble device_temperature_calibration;
        ConfigOptUint power_precision, energy_precision, voltage_precision, current_precision;
        ConfigOptDouble power_calibration;      /* percent */
        ConfigOptDouble energy_calibration, voltage_calibration, current_calibration;
        ConfigOptBool state_action;
        /* Beyond Zigbee2MQTT (issue 12): */
        ConfigOptBool energy_monotonic;         /* default off: energy as the plug counts it */
        unsigned power_poll_interval;           /* seconds between power reads, 0: off, else >= 5 */
        ConfigOptBool enforce_settings;         /* write the settings below back when the plug lost them */
        /* The plug's settings, as its MQTT values: written when enforce_settings is on. */
        ConfigOptBool led_disabled_night, power_outage_memory, auto_off;
        ConfigOptUint overload_protection;      /* W, 100..2300 */
        unsigned key_lines[32];         /* line of each key set, by table row; 0: not set */
} DeviceConfig;

typedef struct Config {
        char *path;
        MqttConfig mqtt;
        SerialConfig serial;
        ZigbeeConfig zigbee;
        HomeAssistantConfig homeassistant;
        LogConfig log;
        StateConfig state;
        ControlConfig control;
        MetricsConfig metrics;
        OtaConfig ota;
        DeviceConfig *devices;
        size_t n_devices;
        unsigned key_lines[64];         /* line of each global key set, by table row; 0: not set */
} Config;

/* "full", "no-hostname", "none": the [mqtt] tls_verify values. */
const char *config_tls_verify_to_string(int v);

/* A configuration with every default. */
int config_new(Config **ret);
Config *config_free(Config *c);

/*
 * Reads and checks path. On success *ret is the configuration; on failure *ret_errors (if not NULL)
 * is every error found, one per line, each naming file:line, the key, the value and what was
 * expected (secrets are shown as "(hidden)"), and -EINVAL (bad content) or -errno (unreadable) is
 * returned.
 */
int config_load(const char *path, Config **ret, char **ret_errors);

const DeviceConfig *config_find_device(const Config *c, uint64_t ieee);
const DeviceConfig *config_find_device_by_name(const Config *c, const char *name);

/* The keys of a section in table order, for documentation checks: NULL after the last one. */
const char *config_key_name(const char *section, size_t i);

/*
 * What changed between two configurations. For each changed key calls fn(section, key, restart,
 * userdata), restart telling whether the daemon must be restarted for it to take effect. The device
 * sections are reported as section "device 0x..." and key "*" when added, removed or changed.
 */
typedef void (*ConfigChangeFn)(const char *section, const char *key, bool needs_restart, void *userdata);
void config_diff(const Config *old, const Config *new, ConfigChangeFn fn, void *userdata);

DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);
