/*
 * lumiplugd.ini parser: a table of good and bad files, with the exact error text for each bad one,
 * then defaults, values, the reload diff, and the shipped default configuration.
 * Usage: test-configuration [PATH-OF-SHIPPED-lumiplugd.ini]
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config/configuration.h"
#include "util/log.h"

static char tmpdir[] = "/tmp/lumi-config-test.XXXXXX";
static char ini_path[256];

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        assert(f);
        assert(fputs(text, f) >= 0);
        assert(fclose(f) == 0);
}

/* Replaces @F@ by the INI path and @D@ by the temporary directory. */
static char *expand(const char *s) {
        size_t size = strlen(s) * 8 + 1024;
        char *out = malloc(size), *o = out;

        assert(out);
        while (*s) {
                if (strncmp(s, "@F@", 3) == 0) {
                        o += sprintf(o, "%s", ini_path);
                        s += 3;
                } else if (strncmp(s, "@D@", 3) == 0) {
                        o += sprintf(o, "%s", tmpdir);
                        s += 3;
                } else
                        *o++ = *s++;
        }
        *o = 0;
        return out;
}

static Config *load_text(const char *text, char **ret_errors) {
        _cleanup_free_ char *expanded = expand(text);
        Config *c = NULL;
        int r;

        write_file(ini_path, expanded);
        *ret_errors = NULL;
        r = config_load(ini_path, &c, ret_errors);
        if (r < 0) {
                assert(!c);
                assert(*ret_errors);
                return NULL;
        }
        assert(c);
        assert(!*ret_errors);
        return c;
}

typedef struct BadCase {
        const char *name;
        const char *ini;
        const char *errors;     /* exact, every line */
} BadCase;

static const BadCase bad_cases[] = {
        { "unknown section",
          "[mqqt]\nhost = x\n",
          "@F@:1: [mqqt]: unknown section; expected [mqtt], [serial], [zigbee], [homeassistant], [log], [state], "
          "[control], [metrics], [ota] or [device 0x<16 hex digits>]\n" },
        { "unknown key lists the keys of the section",
          "[log]\nlevle = debug\n",
          "@F@:2: [log] levle: unknown key; expected one of level, target\n" },
        { "port not a number",
          "[mqtt]\nport = abc\n",
          "@F@:2: [mqtt] port = 'abc': expected an integer from 1 to 65535\n" },
        { "port out of range",
          "[mqtt]\nport = 65536\n",
          "@F@:2: [mqtt] port = '65536': expected an integer from 1 to 65535\n" },
        { "port zero",
          "[mqtt]\n\nport = 0\n",
          "@F@:3: [mqtt] port = '0': expected an integer from 1 to 65535\n" },
        { "negative keepalive",
          "[mqtt]\nkeepalive = -5\n",
          "@F@:2: [mqtt] keepalive = '-5': expected a number of seconds from 5 to 65535\n" },
        { "MQTT version 3 (3.1) is not spoken",
          "[mqtt]\nversion = 3\n",
          "@F@:2: [mqtt] version = '3': expected 4 (MQTT 3.1.1) or 5 (MQTT 5)\n" },
        { "MQTT version as Zigbee2MQTT never spells it",
          "[mqtt]\nversion = 5.0\n",
          "@F@:2: [mqtt] version = '5.0': expected 4 (MQTT 3.1.1) or 5 (MQTT 5)\n" },
        { "MQTT version empty",
          "[mqtt]\nversion =\n",
          "@F@:2: [mqtt] version = '': expected 4 (MQTT 3.1.1) or 5 (MQTT 5)\n" },
        { "hex prefix without digits",
          "[zigbee]\npan_id = 0x\n",
          "@F@:2: [zigbee] pan_id = '0x': expected auto or a PAN ID from 0x0001 to 0xfffe\n" },
        { "port with a sign",
          "[mqtt]\nport = +1883\n",
          "@F@:2: [mqtt] port = '+1883': expected an integer from 1 to 65535\n" },
        { "qos 3",
          "[mqtt]\nqos = 3\n",
          "@F@:2: [mqtt] qos = '3': expected 0, 1 or 2\n" },
        { "retain not a boolean",
          "[mqtt]\nretain = maybe\n",
          "@F@:2: [mqtt] retain = 'maybe': expected a boolean (true, false, yes, no, on, off, 1, 0)\n" },
        { "reconnect_max too large",
          "[mqtt]\nreconnect_max = 7200\n",
          "@F@:2: [mqtt] reconnect_max = '7200': expected a number of seconds from 1 to 3600\n" },
        { "empty host",
          "[mqtt]\nhost =\n",
          "@F@:2: [mqtt] host = '': expected a host name or address\n" },
        { "base topic with a wildcard",
          "[mqtt]\nbase_topic = zigbee/#\n",
          "@F@:2: [mqtt] base_topic = 'zigbee/#': expected an MQTT topic without wildcards (+ #) and without a "
          "leading or trailing /\n" },
        { "base topic with a trailing slash",
          "[mqtt]\nbase_topic = zigbee2mqtt/\n",
          "@F@:2: [mqtt] base_topic = 'zigbee2mqtt/': expected an MQTT topic without wildcards (+ #) and "
          "without a leading or trailing /\n" },
        { "unreadable ca_file",
          "[mqtt]\nca_file = @D@/missing.pem\n",
          "@F@:2: [mqtt] ca_file = '@D@/missing.pem': expected a readable file, but: No such file or directory\n" },
        { "relative ca_file",
          "[mqtt]\nca_file = ca.pem\n",
          "@F@:2: [mqtt] ca_file = 'ca.pem': expected the absolute path of a readable PEM file\n" },
        { "cert_file without key_file",
          "[mqtt]\nca_file = @D@/ca.pem\ncert_file = @D@/ca.pem\n",
          "@F@:3: [mqtt] cert_file = '@D@/ca.pem': key_file is not set; expected cert_file and key_file together\n" },
        { "client certificate without ca_file",
          "[mqtt]\ncert_file = @D@/ca.pem\nkey_file = @D@/ca.pem\n",
          "@F@:2: [mqtt] cert_file = '@D@/ca.pem': ca_file is not set; expected ca_file for TLS\n" },
        { "password without username",
          "[mqtt]\npassword = s3cret\n",
          "@F@:2: [mqtt] password = (hidden): username is not set; expected a username with a password\n" },
        { "password_file without username",
          "[mqtt]\npassword_file = @D@/password\n",
          "@F@:2: [mqtt] password_file = '@D@/password': username is not set; expected a username with a "
          "password\n" },
        { "password and password_file, file second",
          "[mqtt]\nusername = u\npassword = s3cret\npassword_file = @D@/password\n",
          "@F@:4: [mqtt] password_file = '@D@/password': password is already set on line 3; expected only one "
          "of password and password_file\n" },
        { "password and password_file, password second: the password is not shown",
          "[mqtt]\npassword_file = @D@/password\npassword = s3cret\nusername = u\n",
          "@F@:3: [mqtt] password = (hidden): password_file is already set on line 2; expected only one of "
          "password and password_file\n" },
        { "missing password_file",
          "[mqtt]\npassword_file = @D@/nope\n",
          "@F@:2: [mqtt] password_file = '@D@/nope': expected a readable file, but: No such file or directory\n" },
        { "empty password_file",
          "[mqtt]\npassword_file = @D@/empty\n",
          "@F@:2: [mqtt] password_file = '@D@/empty': expected a file holding the password, but its first line "
          "is empty\n" },
        { "key set twice",
          "[mqtt]\nport = 1883\nhost = a\nport = 1884\n",
          "@F@:4: [mqtt] port = '1884': already set on line 2; expected each key once per section\n" },
        { "baudrate not standard",
          "[serial]\nbaudrate = 115201\n",
          "@F@:2: [serial] baudrate = '115201': expected one of 9600, 19200, 38400, 57600, 115200, 230400, "
          "460800, 921600\n" },
        { "adapter other than zstack",
          "[serial]\nadapter = ezsp\n",
          "@F@:2: [serial] adapter = 'ezsp': expected zstack (the only adapter supported)\n" },
        { "relative serial port",
          "[serial]\nport = ttyUSB0\n",
          "@F@:2: [serial] port = 'ttyUSB0': expected the absolute path of a serial device (e.g. /dev/ttyUSB0) "
          "or tcp://host:port\n" },
        { "tcp serial port without a port number",
          "[serial]\nport = tcp://192.168.1.5\n",
          "@F@:2: [serial] port = 'tcp://192.168.1.5': expected the absolute path of a serial device "
          "(e.g. /dev/ttyUSB0) or tcp://host:port\n" },
        { "tcp serial port out of range",
          "[serial]\nport = tcp://zigbee.lan:65536\n",
          "@F@:2: [serial] port = 'tcp://zigbee.lan:65536': expected the absolute path of a serial device "
          "(e.g. /dev/ttyUSB0) or tcp://host:port\n" },
        { "channel 10",
          "[zigbee]\nchannel = 10\n",
          "@F@:2: [zigbee] channel = '10': expected auto or a channel from 11 to 26\n" },
        { "channel 27",
          "[zigbee]\nchannel = 27\n",
          "@F@:2: [zigbee] channel = '27': expected auto or a channel from 11 to 26\n" },
        { "pan_id 0xffff",
          "[zigbee]\npan_id = 0xffff\n",
          "@F@:2: [zigbee] pan_id = '0xffff': expected auto or a PAN ID from 0x0001 to 0xfffe\n" },
        { "pan_id 0",
          "[zigbee]\npan_id = 0\n",
          "@F@:2: [zigbee] pan_id = '0': expected auto or a PAN ID from 0x0001 to 0xfffe\n" },
        { "extended_pan_id too short",
          "[zigbee]\nextended_pan_id = 0xdddddddddddddd\n",
          "@F@:2: [zigbee] extended_pan_id = '0xdddddddddddddd': expected auto or 16 hex digits (8 bytes, not all "
          "00 or all ff)\n" },
        { "extended_pan_id all ff",
          "[zigbee]\nextended_pan_id = ffffffffffffffff\n",
          "@F@:2: [zigbee] extended_pan_id = 'ffffffffffffffff': expected auto or 16 hex digits (8 bytes, not "
          "all 00 or all ff)\n" },
        { "network key not hex: the key is not shown",
          "[zigbee]\nnetwork_key = 01030507090b0d0f00020406080a0c0g\n",
          "@F@:2: [zigbee] network_key = (hidden): expected auto or 32 hex digits (16 bytes)\n" },
        { "network key too short",
          "[zigbee]\nnetwork_key = 0102\n",
          "@F@:2: [zigbee] network_key = (hidden): expected auto or 32 hex digits (16 bytes)\n" },
        { "homeassistant enabled not a boolean",
          "[homeassistant]\nenabled = sometimes\n",
          "@F@:2: [homeassistant] enabled = 'sometimes': expected a boolean (true, false, yes, no, on, off, 1, 0)\n" },
        { "status_topic with +",
          "[homeassistant]\nstatus_topic = homeassistant/+/status\n",
          "@F@:2: [homeassistant] status_topic = 'homeassistant/+/status': expected an MQTT topic without "
          "wildcards (+ #) and without a leading or trailing /\n" },
        { "log level trace",
          "[log]\nlevel = trace\n",
          "@F@:2: [log] level = 'trace': expected debug, info, notice, warning or error\n" },
        { "log target syslog",
          "[log]\ntarget = syslog\n",
          "@F@:2: [log] target = 'syslog': expected auto, journal or stderr\n" },
        { "relative state directory",
          "[state]\ndirectory = var/lib\n",
          "@F@:2: [state] directory = 'var/lib': expected an absolute path\n" },
        { "device section without 0x",
          "[device 00158d0001a2b3c4]\nfriendly_name = a\n",
          "@F@:1: [device 00158d0001a2b3c4]: bad device section; expected [device 0x<16 hex digits>], e.g. "
          "[device 0x00158d0001a2b3c4]\n" },
        { "device section too short",
          "[device 0x00158d]\n",
          "@F@:1: [device 0x00158d]: bad device section; expected [device 0x<16 hex digits>], e.g. "
          "[device 0x00158d0001a2b3c4]\n" },
        { "device precision 4",
          "[device 0x00158d0001a2b3c4]\ndevice_temperature_precision = 4\n",
          "@F@:2: [device 0x00158d0001a2b3c4] device_temperature_precision = '4': expected an integer from 0 to 3\n" },
        { "device calibration not a number",
          "[device 0x00158d0001a2b3c4]\ndevice_temperature_calibration = warm\n",
          "@F@:2: [device 0x00158d0001a2b3c4] device_temperature_calibration = 'warm': expected a number\n" },
        { "device calibration infinite",
          "[device 0x00158d0001a2b3c4]\npower_calibration = inf\n",
          "@F@:2: [device 0x00158d0001a2b3c4] power_calibration = 'inf': expected a number (percent)\n" },
        { "unknown device key",
          "[device 0x00158d0001a2b3c4]\ncolour = red\n",
          "@F@:2: [device 0x00158d0001a2b3c4] colour: unknown key; expected one of friendly_name, "
          "device_temperature_precision, device_temperature_calibration, power_precision, power_calibration, "
          "energy_precision, energy_calibration, voltage_precision, voltage_calibration, current_precision, "
          "current_calibration, state_action, energy_monotonic, power_poll_interval, enforce_settings, "
          "led_disabled_night, power_outage_memory, auto_off, overload_protection\n" },
        { "power_poll_interval below 5",
          "[device 0x00158d0001a2b3c4]\npower_poll_interval = 4\n",
          "@F@:2: [device 0x00158d0001a2b3c4] power_poll_interval = '4': expected 0 (off) or a number of seconds "
          "from 5 to 86400\n" },
        { "overload_protection above 2300",
          "[device 0x00158d0001a2b3c4]\noverload_protection = 2400\n",
          "@F@:2: [device 0x00158d0001a2b3c4] overload_protection = '2400': expected a number of watts from 100 "
          "to 2300\n" },
        { "relative control socket",
          "[control]\nsocket = run/control\n",
          "@F@:2: [control] socket = 'run/control': expected the absolute path of the control socket, or nothing "
          "to have none\n" },
        { "metrics on a host name",
          "[metrics]\nlisten = localhost:9464\n",
          "@F@:2: [metrics] listen = 'localhost:9464': expected ADDRESS:PORT with a numeric address "
          "(127.0.0.1:9464, [::1]:9464), or nothing for off\n" },
        { "metrics without a port",
          "[metrics]\nlisten = 127.0.0.1\n",
          "@F@:2: [metrics] listen = '127.0.0.1': expected ADDRESS:PORT with a numeric address "
          "(127.0.0.1:9464, [::1]:9464), or nothing for off\n" },
        { "metrics IPv6 without brackets",
          "[metrics]\nlisten = ::1:9464\n",
          "@F@:2: [metrics] listen = '::1:9464': expected ADDRESS:PORT with a numeric address "
          "(127.0.0.1:9464, [::1]:9464), or nothing for off\n" },
        { "ota block size 200",
          "[ota]\ndefault_maximum_data_size = 200\n",
          "@F@:2: [ota] default_maximum_data_size = '200': expected a number of bytes from 10 to 100\n" },
        { "friendly name with a wildcard",
          "[device 0x00158d0001a2b3c4]\nfriendly_name = plug/#\n",
          "@F@:2: [device 0x00158d0001a2b3c4] friendly_name = 'plug/#': expected a name of 1 to 128 bytes without "
          "+, #, control characters, a leading or trailing /, or a trailing /<digits>\n" },
        { "friendly name ending in /digits",
          "[device 0x00158d0001a2b3c4]\nfriendly_name = kitchen/2\n",
          "@F@:2: [device 0x00158d0001a2b3c4] friendly_name = 'kitchen/2': expected a name of 1 to 128 bytes "
          "without +, #, control characters, a leading or trailing /, or a trailing /<digits>\n" },
        { "duplicate friendly name",
          "[device 0x00158d0001a2b3c4]\nfriendly_name = lamp\n\n[device 0x00158d0001a2b3c5]\nfriendly_name = lamp\n",
          "@F@:5: [device 0x00158d0001a2b3c5] friendly_name = 'lamp': already the friendly name of "
          "[device 0x00158d0001a2b3c4] on line 2; expected a unique name\n" },
        { "key outside of a section",
          "host = x\n[mqtt]\n",
          "@F@:1: host: key outside of a section; expected a [section] line before it\n" },
        { "a password outside of a section is not shown",
          "password = s3cret\n[mqtt]\n",
          "@F@:1: password: key outside of a section; expected a [section] line before it\n" },
        { "line without =",
          "[mqtt]\nhost\n",
          "@F@:2: syntax error; expected [section], key = value, or a comment starting with ; or #\n" },
        { "unclosed section",
          "[mqtt\nhost = x\n",
          "@F@:1: syntax error: no ] closes the section name; expected [section]\n" },
        { "indented line",
          "[mqtt]\nhost = x\n  port = 1884\n",
          "@F@:3: indented line; expected each key = value on its own line without leading blanks (inih would "
          "append it to the value above)\n" },
        { "several errors are all reported, in order",
          "[mqtt]\nport = x\nqos = 9\n[log]\nlevel = loud\n[nope]\n",
          "@F@:2: [mqtt] port = 'x': expected an integer from 1 to 65535\n"
          "@F@:3: [mqtt] qos = '9': expected 0, 1 or 2\n"
          "@F@:5: [log] level = 'loud': expected debug, info, notice, warning or error\n"
          "@F@:6: [nope]: unknown section; expected [mqtt], [serial], [zigbee], [homeassistant], [log], [state], "
          "[control], [metrics], [ota] or [device 0x<16 hex digits>]\n" },
};

static void test_bad_files_give_exact_errors(void) {
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                _cleanup_free_ char *errors = NULL, *expected = expand(bad_cases[i].errors);
                Config *c = load_text(bad_cases[i].ini, &errors);

                if (c || strcmp(errors, expected) != 0) {
                        fprintf(stderr, "case '%s':\n  expected: %s  got:      %s\n", bad_cases[i].name, expected,
                                errors ?: "(no error)\n");
                        assert(false);
                }
        }
}

static void test_unreadable_file_is_an_error(void) {
        _cleanup_free_ char *errors = NULL, *path = NULL, *expected = NULL;
        Config *c = NULL;

        assert(asprintf(&path, "%s/does-not-exist.ini", tmpdir) > 0);
        assert(config_load(path, &c, &errors) == -ENOENT);
        assert(!c);
        assert(asprintf(&expected, "%s: cannot read the configuration: No such file or directory\n", path) > 0);
        assert(strcmp(errors, expected) == 0);

        /* A directory opens but does not read. */
        free(errors);
        errors = NULL;
        assert(config_load(tmpdir, &c, &errors) == -EISDIR);
        free(expected);
        assert(asprintf(&expected, "%s: cannot read the configuration: Is a directory\n", tmpdir) > 0);
        assert(strcmp(errors, expected) == 0);
}

static void test_overlong_line_is_an_error(void) {
        _cleanup_free_ char *errors = NULL, *text = NULL;
        char value[300];

        memset(value, 'a', sizeof(value) - 1);
        value[sizeof(value) - 1] = 0;
        assert(asprintf(&text, "[mqtt]\nhost = %s\n", value) > 0);
        assert(!load_text(text, &errors));
        _cleanup_free_ char *expected = expand("@F@:2: line too long; expected at most 198 characters per line\n");
        assert(strcmp(errors, expected) == 0);
}

static void test_empty_file_gives_defaults(void) {
        _cleanup_(config_freep) Config *c = NULL;
        char *errors;

        c = load_text("", &errors);
        assert(c);
        assert(strcmp(c->mqtt.host, "localhost") == 0);
        assert(c->mqtt.port == 1883);
        assert(!c->mqtt.client_id && !c->mqtt.username && !c->mqtt.password && !c->mqtt.ca_file);
        assert(c->mqtt.keepalive == 60);
        assert(strcmp(c->mqtt.base_topic, "zigbee2mqtt") == 0);
        assert(c->mqtt.retain == true);
        assert(c->mqtt.qos == 1);
        assert(c->mqtt.reconnect_max == 60);
        assert(c->mqtt.version == 5);
        assert(strcmp(c->serial.port, "/dev/ttyUSB0") == 0);
        assert(c->serial.baudrate == 115200);
        assert(!c->serial.rtscts);
        assert(strcmp(c->serial.adapter, "zstack") == 0);
        assert(c->zigbee.channel == 0 && c->zigbee.pan_id == 0);
        assert(!c->zigbee.extended_pan_id.set && !c->zigbee.network_key.set);
        assert(c->homeassistant.enabled);
        assert(strcmp(c->homeassistant.discovery_prefix, "homeassistant") == 0);
        assert(strcmp(c->homeassistant.status_topic, "homeassistant/status") == 0);
        assert(c->log.level == LOG_INFO);
        assert(c->log.target == LOG_TARGET_AUTO);
        assert(strcmp(c->state.directory, "/var/lib/lumiplugd") == 0);
        assert(strcmp(c->control.socket, "/run/lumiplugd/control") == 0);
        assert(!c->metrics.listen);
        assert(!c->ota.directory && c->ota.image_block_response_delay == 250 && c->ota.default_maximum_data_size == 50);
        assert(c->n_devices == 0);
}

/* Runtime paths follow systemd's RuntimeDirectory=, and an empty value turns the control socket off. */
static void test_control_socket_default_and_off(void) {
        _cleanup_(config_freep) Config *c = NULL, *off = NULL;
        char *errors;

        assert(setenv("RUNTIME_DIRECTORY", "/run/lumiplugd/kitchen", 1) == 0);
        c = load_text("", &errors);
        assert(c && strcmp(c->control.socket, "/run/lumiplugd/kitchen/control") == 0);
        assert(unsetenv("RUNTIME_DIRECTORY") == 0);
        off = load_text("[control]\nsocket =\n", &errors);
        assert(off && !off->control.socket);
}

static void test_serial_port_may_be_a_tcp_address(void) {
        static const char *const ports[] = { "tcp://192.168.1.5:6638", "tcp://zigbee.lan:8888", "tcp://[::1]:6638" };

        for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
                _cleanup_(config_freep) Config *c = NULL;
                char text[128], *errors;

                snprintf(text, sizeof(text), "[serial]\nport = %s\n", ports[i]);
                c = load_text(text, &errors);
                assert(c && !errors);
                assert(strcmp(c->serial.port, ports[i]) == 0);
        }
}

static void test_good_file_gives_its_values(void) {
        _cleanup_(config_freep) Config *c = NULL;
        const DeviceConfig *d;
        char *errors;

        c = load_text("; a comment\n"
                      "# another comment\n"
                      "[mqtt]\n"
                      "host = broker.lan\n"
                      "port = 8883\n"
                      "client_id = lumi-1\n"
                      "username = lumi\n"
                      "password_file = @D@/password\n"
                      "ca_file = @D@/ca.pem\n"
                      "cert_file = @D@/ca.pem\n"
                      "key_file = @D@/ca.pem\n"
                      "keepalive = 030\n"
                      "base_topic = home/zigbee ; inline comment\n"
                      "retain = no\n"
                      "qos = 0\n"
                      "reconnect_max = 10\n"
                      "version = 4\n"
                      "[serial]\n"
                      "port = /dev/ttyACM0\n"
                      "baudrate = 460800\n"
                      "rtscts = yes\n"
                      "adapter = zstack\n"
                      "[zigbee]\n"
                      "channel = 15\n"
                      "pan_id = 0x1a62\n"
                      "extended_pan_id = 0xDDDDDDDDDDDDDDDD\n"
                      "network_key = 01030507090B0D0F00020406080A0C0D\n"
                      "[homeassistant]\n"
                      "enabled = false\n"
                      "discovery_prefix = ha\n"
                      "status_topic = ha/status\n"
                      "[log]\n"
                      "level = debug\n"
                      "target = journal\n"
                      "[state]\n"
                      "directory = /srv/lumi\n"
                      "[control]\n"
                      "socket = /run/lumi/ctl\n"
                      "[metrics]\n"
                      "listen = [::1]:9100\n"
                      "[ota]\n"
                      "directory = /srv/ota\n"
                      "image_block_response_delay = 0\n"
                      "default_maximum_data_size = 64\n"
                      "[device 0x00158D0001A2B3C4]\n"
                      "friendly_name = living room/lamp\n"
                      "device_temperature_precision = 2\n"
                      "device_temperature_calibration = -1.5\n"
                      "power_calibration = 10\n"
                      "state_action = true\n"
                      "energy_monotonic = yes\n"
                      "power_poll_interval = 5\n"
                      "enforce_settings = on\n"
                      "led_disabled_night = true\n"
                      "power_outage_memory = false\n"
                      "auto_off = 0\n"
                      "overload_protection = 1000\n"
                      "[ device 0x00158d0001a2b3c5 ]\n"
                      "friendly_name = desk\n", &errors);
        if (!c)
                fprintf(stderr, "%s", errors);
        assert(c);
        assert(strcmp(c->mqtt.host, "broker.lan") == 0);
        assert(c->mqtt.port == 8883);
        assert(strcmp(c->mqtt.client_id, "lumi-1") == 0);
        assert(strcmp(c->mqtt.username, "lumi") == 0);
        assert(strcmp(c->mqtt.password, "pass word") == 0);    /* first line only, newline stripped */
        assert(c->mqtt.keepalive == 30);
        assert(strcmp(c->mqtt.base_topic, "home/zigbee") == 0);
        assert(!c->mqtt.retain && c->mqtt.qos == 0 && c->mqtt.reconnect_max == 10);
        assert(c->mqtt.version == 4);
        assert(strcmp(c->serial.port, "/dev/ttyACM0") == 0 && c->serial.baudrate == 460800 && c->serial.rtscts);
        assert(c->zigbee.channel == 15 && c->zigbee.pan_id == 0x1a62);
        assert(c->zigbee.extended_pan_id.set && c->zigbee.extended_pan_id.bytes[0] == 0xdd);
        assert(c->zigbee.network_key.set && c->zigbee.network_key.bytes[0] == 0x01 &&
               c->zigbee.network_key.bytes[15] == 0x0d);
        assert(!c->homeassistant.enabled);
        assert(strcmp(c->homeassistant.discovery_prefix, "ha") == 0);
        assert(c->log.level == LOG_DEBUG && c->log.target == LOG_TARGET_JOURNAL);
        assert(strcmp(c->state.directory, "/srv/lumi") == 0);
        assert(c->n_devices == 2);
        d = config_find_device(c, UINT64_C(0x00158d0001a2b3c4));
        assert(d && d->line == 45);
        assert(strcmp(d->friendly_name, "living room/lamp") == 0);
        assert(d->device_temperature_precision.set && d->device_temperature_precision.value == 2);
        assert(d->device_temperature_calibration.set && d->device_temperature_calibration.value == -1.5);
        assert(d->power_calibration.set && d->power_calibration.value == 10);
        assert(!d->power_precision.set && !d->energy_calibration.set);
        assert(d->state_action.set && d->state_action.value);
        assert(d->energy_monotonic.set && d->energy_monotonic.value);
        assert(d->power_poll_interval == 5);
        assert(d->enforce_settings.set && d->enforce_settings.value);
        assert(d->led_disabled_night.set && d->led_disabled_night.value);
        assert(d->power_outage_memory.set && !d->power_outage_memory.value);
        assert(d->auto_off.set && !d->auto_off.value);
        assert(d->overload_protection.set && d->overload_protection.value == 1000);
        assert(strcmp(c->control.socket, "/run/lumi/ctl") == 0);
        assert(strcmp(c->metrics.listen, "[::1]:9100") == 0);
        assert(strcmp(c->ota.directory, "/srv/ota") == 0);
        assert(c->ota.image_block_response_delay == 0 && c->ota.default_maximum_data_size == 64);
        d = config_find_device(c, UINT64_C(0x00158d0001a2b3c5));
        assert(d && !d->energy_monotonic.set && d->power_poll_interval == 0 && !d->overload_protection.set);
        assert(config_find_device_by_name(c, "desk") == config_find_device(c, UINT64_C(0x00158d0001a2b3c5)));
        assert(!config_find_device_by_name(c, "nobody"));
}

/* Mangled files never crash the parser, and every error names the file. */
static void test_garbage_gives_errors_not_crashes(void) {
        static const char good[] = "[mqtt]\nhost = a\nport = 1883\nusername = u\npassword = x\n[zigbee]\nchannel = 11\n"
                                   "[device 0x00158d0001a2b3c4]\nfriendly_name = n\n";
        static const char alphabet[] = "[]=:;# \t\n\r0x\\\"'+/\x01\xff\xef\xbb\xbf" "azAZ09";
        uint32_t seed = 12345;

        for (unsigned round = 0; round < 1000; round++) {
                char text[512];
                size_t n = strlen(good);
                FILE *f;

                memcpy(text, good, n);
                for (unsigned k = 0; k < 1 + round % 8; k++) {
                        seed = seed * 1103515245u + 12345u;
                        size_t at = (seed >> 8) % n;
                        char ch = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];

                        if ((seed >> 4) % 3 == 0 && n < sizeof(text) - 1) {
                                memmove(text + at + 1, text + at, n - at);
                                n++;
                        }
                        text[at] = ch;
                }
                if (round % 97 == 0) {          /* an embedded NUL */
                        text[n / 2] = 0;
                }
                f = fopen(ini_path, "we");
                assert(f);
                assert(fwrite(text, 1, n, f) == n);
                assert(fclose(f) == 0);

                _cleanup_(config_freep) Config *c = NULL;
                _cleanup_free_ char *errors = NULL;
                int r = config_load(ini_path, &c, &errors);

                if (r < 0) {
                        assert(!c && errors && *errors);
                        for (char *line = errors; *line; line = strchr(line, '\n') + 1) {
                                assert(strncmp(line, ini_path, strlen(ini_path)) == 0);
                                assert(strchr(line, '\n'));
                        }
                        assert(!strstr(errors, "= 'x'"));       /* the password value is never shown */
                } else
                        assert(c && !errors);
        }
}

typedef struct Change {
        char what[16][80];
        size_t n;
} Change;

static void record_change(const char *section, const char *key, bool needs_restart, void *userdata) {
        Change *ch = userdata;

        assert(ch->n < ELEMENTSOF(ch->what));
        snprintf(ch->what[ch->n++], sizeof(ch->what[0]), "%s.%s%s", section, key, needs_restart ? " restart" : "");
}

static void test_diff_tells_what_needs_a_restart(void) {
        _cleanup_(config_freep) Config *a = NULL, *b = NULL;
        Change ch = {};
        char *errors;

        a = load_text("[mqtt]\nhost = a\nqos = 1\n[log]\nlevel = info\n"
                      "[device 0x0000000000000001]\nfriendly_name = one\n"
                      "[device 0x0000000000000002]\nfriendly_name = two\n", &errors);
        b = load_text("[mqtt]\nhost = b\nqos = 0\n[log]\nlevel = debug\n"
                      "[device 0x0000000000000001]\nfriendly_name = uno\ndevice_temperature_calibration = 1\n"
                      "[device 0x0000000000000003]\nfriendly_name = three\n", &errors);
        assert(a && b);
        config_diff(a, a, record_change, &ch);
        assert(ch.n == 0);
        config_diff(a, b, record_change, &ch);
        assert(ch.n == 7);
        assert(strcmp(ch.what[0], "mqtt.host restart") == 0);
        assert(strcmp(ch.what[1], "mqtt.qos restart") == 0);
        assert(strcmp(ch.what[2], "log.level") == 0);
        assert(strcmp(ch.what[3], "device 0x0000000000000001.friendly_name") == 0);
        assert(strcmp(ch.what[4], "device 0x0000000000000001.device_temperature_calibration") == 0);
        assert(strcmp(ch.what[5], "device 0x0000000000000002.*") == 0);
        assert(strcmp(ch.what[6], "device 0x0000000000000003.*") == 0);
}

/* The shipped lumiplugd.ini must be valid and mention every key of every section. */
static void test_shipped_configuration(const char *path) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *errors = NULL, *text = NULL;
        static const char *const sections[] = { "mqtt", "serial", "zigbee", "homeassistant", "log", "state",
                                                "device" };
        FILE *f;
        long size;

        assert(config_load(path, &c, &errors) == 0);
        f = fopen(path, "re");
        assert(f);
        assert(fseek(f, 0, SEEK_END) == 0);
        size = ftell(f);
        assert(size > 0);
        rewind(f);
        text = calloc(1, (size_t) size + 1);
        assert(text && fread(text, 1, (size_t) size, f) == (size_t) size);
        fclose(f);

        for (size_t s = 0; s < ELEMENTSOF(sections); s++)
                for (size_t i = 0; config_key_name(sections[s], i); i++) {
                        char needle[128];

                        snprintf(needle, sizeof(needle), "\n;%s =", config_key_name(sections[s], i));
                        if (!strstr(text, needle)) {
                                snprintf(needle, sizeof(needle), "\n%s =", config_key_name(sections[s], i));
                                if (!strstr(text, needle)) {
                                        fprintf(stderr, "%s does not document [%s] %s\n", path, sections[s],
                                                config_key_name(sections[s], i));
                                        assert(false);
                                }
                        }
                }
}

int main(int argc, char *argv[]) {
        char path[300];

        log_set_target(LOG_TARGET_STDERR);
        unsetenv("STATE_DIRECTORY");
        unsetenv("RUNTIME_DIRECTORY");
        assert(mkdtemp(tmpdir));
        snprintf(ini_path, sizeof(ini_path), "%s/lumiplugd.ini", tmpdir);
        snprintf(path, sizeof(path), "%s/password", tmpdir);
        write_file(path, "pass word\nsecond line is ignored\n");
        snprintf(path, sizeof(path), "%s/empty", tmpdir);
        write_file(path, "\n");
        snprintf(path, sizeof(path), "%s/ca.pem", tmpdir);
        write_file(path, "not checked by the parser\n");

        test_bad_files_give_exact_errors();
        test_unreadable_file_is_an_error();
        test_overlong_line_is_an_error();
        test_empty_file_gives_defaults();
        test_control_socket_default_and_off();
        test_good_file_gives_its_values();
        test_serial_port_may_be_a_tcp_address();
        test_diff_tells_what_needs_a_restart();
        test_garbage_gives_errors_not_crashes();
        if (argc > 1)
                test_shipped_configuration(argv[1]);

        (void) unlink(ini_path);
        for (const char *f = "password\0empty\0ca.pem\0"; *f; f += strlen(f) + 1) {
                snprintf(path, sizeof(path), "%s/%s", tmpdir, f);
                (void) unlink(path);
        }
        (void) rmdir(tmpdir);
        return 0;
}
