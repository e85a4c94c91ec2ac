/*
 * The exposition text (Prometheus text format 0.0.4): "# HELP", "# TYPE", then one sample per line,
 * families grouped, label values escaped.
 */
#include <inttypes.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "app/zigbee.h"
#include "bridge/bridge.h"
#include "manager.h"
#include "metrics/metrics.h"
#include "mqtt/mqtt.h"

typedef struct PlugMetric {
        const char *name, *key, *help;
} PlugMetric;

/* Keys of the state Zigbee2MQTT publishes, in the units it publishes them in. */
static const PlugMetric plug_metrics[] = {
        { "lumiplugd_plug_power_watts", "power", "Instantaneous power of the plug's load (W)." },
        { "lumiplugd_plug_energy_kwh", "energy", "Energy consumed, as the plug counts it (kWh)." },
        { "lumiplugd_plug_voltage_volts", "voltage", "Mains voltage measured by the plug (V)." },
        { "lumiplugd_plug_current_amperes", "current", "Current drawn through the plug (A)." },
        { "lumiplugd_plug_device_temperature_celsius", "device_temperature", "Internal temperature of the plug (degrees C)." },
        { "lumiplugd_plug_linkquality", "linkquality", "Link quality of the plug's last message (0-255)." },
};

void metrics_write_label_value(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '\\': fputs("\\\\", f); break;
                case '"':  fputs("\\\"", f); break;
                case '\n': fputs("\\n", f); break;
                default:   fputc(*s, f);
                }
}

static void write_labels(FILE *f, json_object *dev) {
        json_object *ieee = NULL, *name = NULL;

        (void) json_object_object_get_ex(dev, "ieee", &ieee);
        (void) json_object_object_get_ex(dev, "name", &name);
        fputs("{device=\"", f);
        metrics_write_label_value(f, json_object_get_string(ieee) ?: "");
        fputs("\",name=\"", f);
        metrics_write_label_value(f, json_object_get_string(name) ?: "");
        fputs("\"}", f);
}

static void write_family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_value(FILE *f, double v) {
        if (isnan(v))
                fputs("NaN", f);
        else if (isinf(v))
                fputs(v > 0 ? "+Inf" : "-Inf", f);
        else {
                char buf[32];

                /* the shortest of %.15g and %.17g that reads back as the same double */
                (void) snprintf(buf, sizeof(buf), "%.15g", v);
                if (strtod(buf, NULL) != v)
                        (void) snprintf(buf, sizeof(buf), "%.17g", v);
                fputs(buf, f);
        }
}

static void write_daemon_metric(FILE *f, const char *name, const char *type, const char *help, double v) {
        write_family(f, name, type, help);
        fputs(name, f);
        fputc(' ', f);
        write_value(f, v);
        fputc('\n', f);
}

int metrics_write(Manager *m, uint64_t uptime_sec, FILE *f) {
        Bridge *b = zigbee_service_bridge(m->zigbee);
        json_object *devices = b ? bridge_devices_view(b) : NULL;
        ZigbeeCounters zc;
        size_t n = devices ? json_object_array_length(devices) : 0;

        zigbee_service_get_counters(m->zigbee, &zc);
        write_daemon_metric(f, "lumiplugd_uptime_seconds", "gauge", "Seconds since lumiplugd started.",
                            (double) uptime_sec);
        write_daemon_metric(f, "lumiplugd_znp_frames_received_total", "counter",
                            "MT frames received from the coordinator.", (double) zc.frames_in);
        write_daemon_metric(f, "lumiplugd_znp_frames_sent_total", "counter",
                            "MT frames sent to the coordinator.", (double) zc.frames_out);
        write_daemon_metric(f, "lumiplugd_znp_retries_total", "counter",
                            "Zigbee sends retried (busy radio, no route, no acknowledgement).", (double) zc.retries);
        write_daemon_metric(f, "lumiplugd_mqtt_reconnects_total", "counter",
                            "Connections to the MQTT broker after the first.",
                            (double) mqtt_reconnect_count(m->mqtt));
        write_daemon_metric(f, "lumiplugd_mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
                            mqtt_get_state(m->mqtt) == MQTT_STATE_CONNECTED ? 1 : 0);

        write_family(f, "lumiplugd_plug_available", "gauge", "1 while the plug is online, else 0.");
        for (size_t i = 0; i < n; i++) {
                json_object *dev = json_object_array_get_idx(devices, i), *v, *a;

                if (!json_object_object_get_ex(dev, "supported", &v) || !json_object_get_boolean(v))
                        continue;
                (void) json_object_object_get_ex(dev, "availability", &a);
                fputs("lumiplugd_plug_available", f);
                write_labels(f, dev);
                fprintf(f, " %d\n", a && strcmp(json_object_get_string(a), "online") == 0);
        }
        for (size_t k = 0; k < ELEMENTSOF(plug_metrics); k++) {
                write_family(f, plug_metrics[k].name, "gauge", plug_metrics[k].help);
                for (size_t i = 0; i < n; i++) {
                        json_object *dev = json_object_array_get_idx(devices, i), *state, *v;

                        if (!json_object_object_get_ex(dev, "state", &state) ||
                            !json_object_object_get_ex(state, plug_metrics[k].key, &v) ||
                            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
                                continue;
                        fputs(plug_metrics[k].name, f);
                        write_labels(f, dev);
                        fputc(' ', f);
                        write_value(f, json_object_get_double(v));
                        fputc('\n', f);
                }
        }
        json_object_put(devices);
        return ferror(f) ? -EIO : 0;
}
