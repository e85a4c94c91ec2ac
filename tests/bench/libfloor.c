/* SPDX-License-Identifier: MIT */
/*
 * libfloor: the memory floor of lumiplugd's libraries, for the benchmark (run-bench.py).
 *
 * A program linked against exactly the libraries lumiplugd links (libsystemd, libmosquitto and
 * through it OpenSSL, json-c, libserialport, inih) that does the least a daemon built on them does:
 * an sd-event loop, an MQTT connection to the broker given on the command line driven by that loop
 * for two seconds, one JSON text parsed and printed, one INI text parsed, one serial port looked up,
 * one journal line. Then it prints its own VmHWM and VmRSS in KiB as "VmHWM VmRSS".
 * Whatever lumiplugd holds above this figure is lumiplugd's own memory.
 *
 *   cc -O2 -o libfloor libfloor.c $(pkg-config --cflags --libs libsystemd libmosquitto json-c
 *      libserialport inih)
 *   ./libfloor 127.0.0.1 1883 /dev/pts/3
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ini.h>
#include <json-c/json.h>
#include <libserialport.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

static struct mosquitto *mosq;

static int on_mqtt_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) s, (void) fd, (void) userdata;
        if (revents & EPOLLIN)
                mosquitto_loop_read(mosq, 1);
        if (mosquitto_want_write(mosq))
                mosquitto_loop_write(mosq, 1);
        mosquitto_loop_misc(mosq);
        return 0;
}

static int on_done(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) usec, (void) userdata;
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_ini(void *user, const char *section, const char *name, const char *value) {
        (void) section, (void) name, (void) value;
        ++*(int *) user;
        return 1;
}

static long status_kib(const char *key) {
        char line[256];
        long v = -1;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
                        v = strtol(line + strlen(key) + 1, NULL, 10);
        fclose(f);
        return v;
}

int main(int argc, char **argv) {
        sd_event *e = NULL;
        struct sp_port *port = NULL;
        json_object *o;
        uint64_t now;
        int n_ini = 0;

        if (argc < 4) {
                fprintf(stderr, "usage: libfloor HOST PORT SERIAL-PATH\n");
                return 2;
        }
        if (sd_event_default(&e) < 0)
                return 1;
        mosquitto_lib_init();
        mosq = mosquitto_new("libfloor", true, NULL);
        if (!mosq || mosquitto_connect(mosq, argv[1], atoi(argv[2]), 60) != MOSQ_ERR_SUCCESS) {
                fprintf(stderr, "libfloor: cannot connect to %s:%s\n", argv[1], argv[2]);
                return 1;
        }
        if (sd_event_add_io(e, NULL, mosquitto_socket(mosq), EPOLLIN, on_mqtt_io, NULL) < 0)
                return 1;
        mosquitto_subscribe(mosq, NULL, "libfloor/#", 1);
        mosquitto_publish(mosq, NULL, "libfloor/state", 17, "{\"state\":\"ON\"}", 1, true);
        mosquitto_loop_write(mosq, 1);

        o = json_tokener_parse("{\"state\":\"ON\",\"power\":12.5,\"update\":{\"state\":null}}");
        if (!o || !json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN))
                return 1;
        json_object_put(o);
        if (ini_parse_string("[mqtt]\nserver = mqtt://127.0.0.1\n", on_ini, &n_ini) != 0 || n_ini != 1)
                return 1;
        if (sp_get_port_by_name(argv[3], &port) == SP_OK)
                sp_free_port(port);
        sd_journal_print(LOG_DEBUG, "libfloor: measuring the libraries' memory floor");

        sd_event_now(e, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(e, NULL, CLOCK_MONOTONIC, now + 2000000, 0, on_done, NULL) < 0)
                return 1;
        sd_event_loop(e);
        printf("%ld %ld\n", status_kib("VmHWM"), status_kib("VmRSS"));
        mosquitto_destroy(mosq);
        mosquitto_lib_cleanup();
        sd_event_unref(e);
        return 0;
}
