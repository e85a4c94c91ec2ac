/*
 * bridge/devices and bridge/info in Zigbee2MQTT's shape (dist/extension/bridge.js publishDevices(),
 * publishInfo(), getDefinitionPayload()), built from the device database and the coordinator.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "bridge/bridge-private.h"
#include "util/macro.h"
#include "util/json-util.h"

/* zigbee-herdsman's cluster names (src/zspec/zcl/definition/cluster.ts) for the ids a plug, a
 * coordinator or a common device shows. */
static const struct {
        uint16_t id;
        const char *name;
} cluster_names[] = {
        { 0x0000, "genBasic" },                 { 0x0001, "genPowerCfg" },
        { 0x0002, "genDeviceTempCfg" },         { 0x0003, "genIdentify" },
        { 0x0004, "genGroups" },                { 0x0005, "genScenes" },
        { 0x0006, "genOnOff" },                 { 0x0007, "genOnOffSwitchCfg" },
        { 0x0008, "genLevelCtrl" },             { 0x0009, "genAlarms" },
        { 0x000A, "genTime" },                  { 0x000B, "genRssiLocation" },
        { 0x000C, "genAnalogInput" },           { 0x000D, "genAnalogOutput" },
        { 0x000E, "genAnalogValue" },           { 0x000F, "genBinaryInput" },
        { 0x0010, "genBinaryOutput" },          { 0x0011, "genBinaryValue" },
        { 0x0012, "genMultistateInput" },       { 0x0013, "genMultistateOutput" },
        { 0x0014, "genMultistateValue" },       { 0x0015, "genCommissioning" },
        { 0x0019, "genOta" },                   { 0x001A, "genPowerProfile" },
        { 0x001B, "genApplianceCtrl" },         { 0x0020, "genPollCtrl" },
        { 0x0021, "greenPower" },               { 0x0101, "closuresDoorLock" },
        { 0x0102, "closuresWindowCovering" },   { 0x0201, "hvacThermostat" },
        { 0x0202, "hvacFanCtrl" },              { 0x0300, "lightingColorCtrl" },
        { 0x0301, "lightingBallastCfg" },       { 0x0400, "msIlluminanceMeasurement" },
        { 0x0402, "msTemperatureMeasurement" }, { 0x0403, "msPressureMeasurement" },
        { 0x0405, "msRelativeHumidity" },       { 0x0406, "msOccupancySensing" },
        { 0x0500, "ssIasZone" },                { 0x0501, "ssIasAce" },
        { 0x0502, "ssIasWd" },                  { 0x0702, "seMetering" },
        { 0x0B04, "haElectricalMeasurement" },  { 0x0B05, "haDiagnostic" },
        { 0x1000, "touchlink" },                { 0xFCC0, "manuSpecificLumi" },
};

const char *bridge_cluster_name(uint16_t id, char buf[static 8]) {
        for (size_t i = 0; i < ELEMENTSOF(cluster_names); i++)
                if (cluster_names[i].id == id)
                        return cluster_names[i].name;
        snprintf(buf, 8, "%u", id);
        return buf;
}

static const char *power_source_name(int ps) {
        static const char *const names[] = {
                "Unknown", "Mains (single phase)", "Mains (3 phase)", "Battery", "DC Source",
                "Emergency mains constantly powered", "Emergency mains and transfer switch",
        };
        return ps >= 0 && (size_t) ps < ELEMENTSOF(names) ? names[ps] : "Unknown";
}

static const char *type_name(DevLogicalType t) {
        switch (t) {
        case DEV_LOGICAL_COORDINATOR: return "Coordinator";
        case DEV_LOGICAL_ROUTER:      return "Router";
        case DEV_LOGICAL_END_DEVICE:  return "EndDevice";
        default:                      return "Unknown";
        }
}

static const char *interview_name(DevInterviewState s) {
        switch (s) {
        case DEV_INTERVIEW_IN_PROGRESS: return "IN_PROGRESS";
        case DEV_INTERVIEW_SUCCESSFUL:  return "SUCCESSFUL";
        case DEV_INTERVIEW_FAILED:      return "FAILED";
        default:                        return "PENDING";
        }
}


static json_object *cluster_list(const uint16_t *ids, size_t n) {
        json_object *a = json_object_new_array();
        char buf[8];

        if (!a)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                json_object *s = json_object_new_string(bridge_cluster_name(ids[i], buf));
                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        return NULL;
                }
        }
        return a;
}

static json_object *endpoints_json(const DevEndpoint *eps, size_t n) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(bridge_json_putp) json_object *ep = json_object_new_object();
                json_object *clusters = json_object_new_object();
                char id[4];

                if (!ep || json_add(ep, "clusters", clusters) < 0 ||
                    json_add(clusters, "input", cluster_list(eps[i].in, eps[i].n_in)) < 0 ||
                    json_add(clusters, "output", cluster_list(eps[i].out, eps[i].n_out)) < 0 ||
                    json_add(ep, "bindings", json_object_new_array()) < 0 ||
                    json_add(ep, "configured_reportings", json_object_new_array()) < 0 ||
                    json_add(ep, "scenes", json_object_new_array()) < 0)
                        return NULL;
                snprintf(id, sizeof(id), "%u", eps[i].id);
                if (json_add(o, id, TAKE_PTR(ep)) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

json_object *bridge_definition_json(const PlugModel *m) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();

        if (!o ||
            json_add(o, "source", json_object_new_string("native")) < 0 ||
            json_add(o, "model", json_object_new_string(m->model)) < 0 ||
            json_add(o, "vendor", json_object_new_string(m->vendor)) < 0 ||
            json_add(o, "description", json_object_new_string(m->description)) < 0 ||
            json_add(o, "exposes", plug_model_exposes_json(m)) < 0 ||
            json_add(o, "supports_ota", json_object_new_boolean(m->ota)) < 0 ||
            json_add(o, "options", plug_model_options_json(m)) < 0 ||
            /* zigbee-herdsman-converters' built-in definitions all say "0.0.0" (checked against the
             * 2.14.1 capture); external converters carry their own */
            json_add(o, "version", json_object_new_string("0.0.0")) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_object *coordinator_json(const Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();

        if (!o ||
            json_add(o, "ieee_address", json_object_new_string(b->coordinator_ieee)) < 0 ||
            json_add(o, "type", json_object_new_string("Coordinator")) < 0 ||
            json_add(o, "network_address", json_object_new_int(0)) < 0 ||
            json_add(o, "supported", json_object_new_boolean(true)) < 0 ||
            json_add(o, "friendly_name", json_object_new_string("Coordinator")) < 0 ||
            json_add(o, "disabled", json_object_new_boolean(false)) < 0 ||
            json_add(o, "interviewing", json_object_new_boolean(false)) < 0 ||
            json_add(o, "interview_completed", json_object_new_boolean(true)) < 0 ||
            json_add(o, "interview_state", json_object_new_string("SUCCESSFUL")) < 0 ||
            json_add(o, "endpoints", endpoints_json(b->coordinator.endpoints, b->coordinator.n_endpoints)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* Every device of a model has the same definition (exposes, options): bridge_devices_payload()
 * builds it once per message and each device holds a reference. One copy per device made the
 * json-c tree of bridge/devices ~60 KiB of heap per plug at its peak (tests/bench/REPORT.md). */
typedef struct DefinitionCache {
        const PlugModel *model[8];
        json_object *json[8];
        size_t n;
} DefinitionCache;

static void definition_cache_done(DefinitionCache *c) {
        for (size_t i = 0; i < c->n; i++)
                json_object_put(c->json[i]);
        c->n = 0;
}

/* A new reference to m's definition (NULL on allocation failure). */
static json_object *definition_ref(DefinitionCache *c, const PlugModel *m) {
        json_object *def;

        for (size_t i = 0; i < c->n; i++)
                if (c->model[i] == m)
                        return json_object_get(c->json[i]);
        def = bridge_definition_json(m);
        if (!def || c->n == ELEMENTSOF(c->model))
                return def;             /* a ninth model: not shared, still correct */
        c->model[c->n] = m;
        c->json[c->n++] = def;
        return json_object_get(def);
}

static json_object *device_json(const Device *d, DefinitionCache *defs) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();
        const PlugModel *m = d->supported ? plug_model_find(d->basic.model_id) : NULL;
        char ieee[19];

        bridge_format_ieee(d->ieee, ieee);
        if (!o ||
            json_add(o, "ieee_address", json_object_new_string(ieee)) < 0 ||
            json_add(o, "type", json_object_new_string(type_name(d->logical_type))) < 0 ||
            json_add(o, "network_address", json_object_new_int(d->nwk)) < 0 ||
            json_add(o, "supported", json_object_new_boolean(m != NULL)) < 0 ||
            json_add(o, "friendly_name", json_object_new_string(d->friendly_name)) < 0 ||
            json_add(o, "disabled", json_object_new_boolean(false)) < 0 ||
            (m && json_add(o, "definition", definition_ref(defs, m)) < 0) ||
            json_add(o, "power_source", json_object_new_string(power_source_name(d->basic.power_source))) < 0 ||
            json_add_string(o, "software_build_id", d->basic.sw_build_id) < 0 ||
            json_add_string(o, "date_code", d->basic.date_code) < 0 ||
            json_add_string(o, "model_id", d->basic.model_id) < 0 ||
            json_add(o, "interviewing", json_object_new_boolean(d->interview == DEV_INTERVIEW_IN_PROGRESS)) < 0 ||
            json_add(o, "interview_completed", json_object_new_boolean(d->interview == DEV_INTERVIEW_SUCCESSFUL)) < 0 ||
            json_add(o, "interview_state", json_object_new_string(interview_name(d->interview))) < 0 ||
            json_add_string(o, "manufacturer", d->basic.manufacturer_name) < 0 ||
            json_add(o, "endpoints", endpoints_json(d->endpoints, d->n_endpoints)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* Appends the sorted JSON text of o (which it takes) to f, after a comma unless first. */
static int append_element(FILE *f, json_object *o, bool *first) {
        _cleanup_(bridge_json_putp) json_object *owned = o;
        _cleanup_free_ char *text = NULL;

        if (!o || !(text = disc_json_sorted(o)))
                return -ENOMEM;
        if (fputs(*first ? "" : ",", f) < 0 || fputs(text, f) < 0)
                return -ENOMEM;
        *first = false;
        return 0;
}

/* bridge/devices, built one device at a time: the json-c tree of a single device lives at once, not
 * the whole list's (with 200 plugs that tree was ~1.7 MB of heap at its peak, on top of the text). */
char *bridge_devices_payload(Bridge *b) {
        _cleanup_(definition_cache_done) DefinitionCache defs = {};
        char *text = NULL;
        size_t size = 0;
        bool first = true;
        FILE *f;
        int r = 0;

        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        if (fputc('[', f) == EOF)
                r = -ENOMEM;
        if (r >= 0 && b->have_coordinator)
                r = append_element(f, coordinator_json(b), &first);
        for (size_t i = 0; r >= 0 && i < devdb_count(b->db); i++)
                r = append_element(f, device_json(devdb_get(b->db, i), &defs), &first);
        if (r >= 0 && fputc(']', f) == EOF)
                r = -ENOMEM;
        if (fclose(f) != 0 || r < 0) {
                free(text);
                return NULL;
        }
        return text;
}

/* The part of Zigbee2MQTT's settings that means something here (its config key names). */
static json_object *config_json(Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();
        json_object *mqtt, *ha, *avail, *active, *passive, *adv, *devices, *ext;
        uint64_t timeout_min = (b->cfg.availability_timeout_usec ?: BRIDGE_AVAILABILITY_TIMEOUT_USEC) / 60000000u;

        if (!o ||
            json_add(o, "version", json_object_new_int(5)) < 0 ||
            json_add(o, "mqtt", mqtt = json_object_new_object()) < 0 ||
            json_add(mqtt, "base_topic", json_object_new_string(b->cfg.base_topic)) < 0 ||
            json_add(mqtt, "force_disable_retain", json_object_new_boolean(false)) < 0 ||
            json_add(mqtt, "include_device_information", json_object_new_boolean(false)) < 0 ||
            json_add(o, "homeassistant", ha = json_object_new_object()) < 0 ||
            json_add(ha, "enabled", json_object_new_boolean(b->cfg.homeassistant)) < 0 ||
            json_add(ha, "discovery_topic", json_object_new_string(b->cfg.discovery_prefix)) < 0 ||
            json_add(ha, "status_topic", json_object_new_string(b->cfg.ha_status_topic)) < 0 ||
            json_add(ha, "legacy_action_sensor", json_object_new_boolean(false)) < 0 ||
            json_add(ha, "experimental_event_entities", json_object_new_boolean(false)) < 0 ||
            json_add(o, "availability", avail = json_object_new_object()) < 0 ||
            json_add(avail, "enabled", json_object_new_boolean(b->cfg.availability)) < 0 ||
            json_add(avail, "active", active = json_object_new_object()) < 0 ||
            json_add(active, "timeout", json_object_new_int64((int64_t) timeout_min)) < 0 ||
            /* no random jitter and no backoff here: checks are deterministic */
            json_add(active, "max_jitter", json_object_new_int(0)) < 0 ||
            json_add(active, "backoff", json_object_new_boolean(true)) < 0 ||
            json_add(active, "pause_on_backoff_gt", json_object_new_int(0)) < 0 ||
            json_add(avail, "passive", passive = json_object_new_object()) < 0 ||
            json_add(passive, "timeout", json_object_new_int(1500)) < 0 ||
            json_add(o, "advanced", adv = json_object_new_object()) < 0 ||
            json_add(adv, "log_level", json_object_new_string(b->cfg.log_level)) < 0 ||
            json_add(adv, "cache_state", json_object_new_boolean(true)) < 0 ||
            json_add(adv, "cache_state_persistent", json_object_new_boolean(true)) < 0 ||
            json_add(adv, "cache_state_send_on_startup", json_object_new_boolean(true)) < 0 ||
            json_add(adv, "last_seen", json_object_new_string("disable")) < 0 ||
            json_add(adv, "output", json_object_new_string("json")) < 0 ||
            json_add(o, "devices", devices = json_object_new_object()) < 0)
                return NULL;

        if (b->have_coordinator) {
                if (json_add(adv, "channel", json_object_new_int(b->coordinator.channel)) < 0 ||
                    json_add(adv, "pan_id", json_object_new_int(b->coordinator.pan_id)) < 0 ||
                    json_add(adv, "ext_pan_id", ext = json_object_new_array()) < 0)
                        return NULL;
                for (int i = 7; i >= 0; i--)
                        if (json_object_array_add(ext, json_object_new_int((int) ((b->coordinator.ext_pan_id >> (8 * i)) & 0xff))) < 0)
                                return NULL;
        }

        for (size_t i = 0; i < devdb_count(b->db); i++) {
                const Device *d = devdb_get(b->db, i);
                _cleanup_(bridge_json_putp) json_object *e = NULL;
                char ieee[19];

                /* the device's options as given, and its name (Zigbee2MQTT's devices section) */
                if (d->options) {
                        if (json_object_deep_copy(d->options, &e, NULL) < 0)
                                return NULL;
                } else
                        e = json_object_new_object();
                bridge_format_ieee(d->ieee, ieee);
                if (!e || json_add(e, "friendly_name", json_object_new_string(d->friendly_name)) < 0 ||
                    json_add(devices, ieee, TAKE_PTR(e)) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

json_object *bridge_info_json(Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *o = json_object_new_object();
        json_object *coord, *meta, *net;
        char ext[19];

        if (!o ||
            json_add(o, "version", json_object_new_string(b->cfg.version ?: PACKAGE_VERSION)) < 0 ||
            json_add(o, "log_level", json_object_new_string(b->cfg.log_level)) < 0 ||
            json_add(o, "permit_join", json_object_new_boolean(b->permit_join_seconds > 0)) < 0 ||
            json_add(o, "restart_required", json_object_new_boolean(false)) < 0 ||
            json_add(o, "config", config_json(b)) < 0)
                return NULL;
        if (b->permit_join_seconds > 0 &&
            json_add(o, "permit_join_end", json_object_new_int64((int64_t) (b->permit_join_end / 1000))) < 0)
                return NULL;

        if (b->have_coordinator) {
                snprintf(ext, sizeof(ext), "0x%016" PRIx64, b->coordinator.ext_pan_id);
                if (json_add(o, "coordinator", coord = json_object_new_object()) < 0 ||
                    json_add(coord, "ieee_address", json_object_new_string(b->coordinator_ieee)) < 0 ||
                    json_add_string(coord, "type", b->coordinator.type) < 0 ||
                    json_add(coord, "meta", meta = json_object_new_object()) < 0 ||
                    json_add(meta, "transportrev", json_object_new_int(b->coordinator.transportrev)) < 0 ||
                    json_add(meta, "product", json_object_new_int(b->coordinator.product)) < 0 ||
                    json_add(meta, "majorrel", json_object_new_int(b->coordinator.majorrel)) < 0 ||
                    json_add(meta, "minorrel", json_object_new_int(b->coordinator.minorrel)) < 0 ||
                    json_add(meta, "maintrel", json_object_new_int(b->coordinator.maintrel)) < 0 ||
                    json_add(meta, "revision", json_object_new_int64(b->coordinator.revision)) < 0 ||
                    json_add(o, "network", net = json_object_new_object()) < 0 ||
                    json_add(net, "channel", json_object_new_int(b->coordinator.channel)) < 0 ||
                    json_add(net, "pan_id", json_object_new_int(b->coordinator.pan_id)) < 0 ||
                    json_add(net, "extended_pan_id", json_object_new_string(ext)) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

char *bridge_info_payload(Bridge *b) {
        _cleanup_(bridge_json_putp) json_object *o = bridge_info_json(b);
        return o ? disc_json_sorted(o) : NULL;
}
