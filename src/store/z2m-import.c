/*
 * Zigbee2MQTT data directory import; see z2m-import.h. Key names follow zigbee-herdsman
 * (controller/model/device.ts toDatabaseEntry, endpoint.ts toDatabaseRecord), Zigbee2MQTT's
 * settings (lib/util/settings.ts) and herdsman's open coordinator backup writer (utils/backup.ts).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devices/plug.h"
#include "store/z2m-import.h"
#include "store/z2m-yaml.h"
#include "util/macro.h"

static inline void json_object_putp(json_object **p) {
        if (*p)
                json_object_put(*p);
}
#define _cleanup_json_ _cleanup_(json_object_putp)
DEFINE_TRIVIAL_CLEANUP_FUNC(YamlNode *, yaml_node_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(DevDb *, devdb_free);

/* Zigbee2MQTT's default: devices are named by their IEEE string until renamed. */
typedef struct Ctx {
        Z2mImport *imp;
        const char *dir;
        DevDb *stage;                   /* a database that is never saved */
        DevNetwork config_net;          /* from configuration.yaml `advanced:` */
        bool config_net_valid;
        int config_has;                 /* bitmask of explicit advanced values */
        size_t n_groups;
} Ctx;

_printf_(2, 3)
static int refuse(Ctx *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(c->imp->error, sizeof(c->imp->error), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

_printf_(2, 3)
static void warn(Ctx *c, const char *fmt, ...) {
        va_list ap;
        char *s;

        if (c->imp->n_warnings >= Z2M_WARNINGS_MAX)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) >= 0)
                c->imp->warnings[c->imp->n_warnings++] = s;
        va_end(ap);
}

void z2m_import_done(Z2mImport *imp) {
        for (size_t i = 0; i < imp->n_warnings; i++)
                free(imp->warnings[i]);
        imp->n_warnings = 0;
}

static int read_in_dir(Ctx *c, const char *name, char **ret, size_t *ret_len, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", c->dir, name) < 0)
                return -ENOMEM;
        r = devdb_read_file(path, ret, ret_len);
        if (r < 0)
                return r;
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

/*
 * database.db
 */

static const char *const power_sources[] = {    /* herdsman zspec/zcl/definition/consts POWER_SOURCES */
        "Unknown", "Mains (single phase)", "Mains (3 phase)", "Battery", "DC Source",
        "Emergency mains constantly powered", "Emergency mains and transfer switch",
};

typedef struct Row {
        Ctx *c;
        unsigned line;
        json_object *o;
        char what[64];
} Row;

_printf_(2, 3)
static int row_bad(Row *w, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return refuse(w->c, "database.db:%u: %s%s%s", w->line, w->what, w->what[0] ? ": " : "", msg);
}

/* 1 if present with a value, 0 if absent or null. */
static int row_int(Row *w, json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret) {
        json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (json_object_is_type(v, json_type_double)) {
                double d = json_object_get_double(v);
                if (d != floor(d) || d < (double) min || d > (double) max)
                        return row_bad(w, "'%s' is not an integer in %" PRIi64 "..%" PRIi64, key, min, max);
                *ret = (int64_t) d;
                return 1;
        }
        if (!json_object_is_type(v, json_type_int))
                return row_bad(w, "'%s' is not a number", key);
        errno = 0;
        x = json_object_get_int64(v);
        if (errno != 0 || x < min || x > max)
                return row_bad(w, "'%s' is out of range (%" PRIi64 "..%" PRIi64 ")", key, min, max);
        *ret = x;
        return 1;
}

static int row_string(Row *w, json_object *o, const char *key, const char **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return row_bad(w, "'%s' is not a string", key);
        if ((size_t) json_object_get_string_len(v) > DEVDB_STRING_MAX ||
            strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return row_bad(w, "'%s' is longer than %d bytes or holds a NUL", key, DEVDB_STRING_MAX);
        *ret = json_object_get_string(v);
        return 1;
}

static int row_clusters(Row *w, json_object *ep, const char *key, uint16_t *out, size_t *ret_n) {
        json_object *a;
        size_t n;

        *ret_n = 0;
        if (!json_object_object_get_ex(ep, key, &a) || json_object_is_type(a, json_type_null))
                return 0;
        if (!json_object_is_type(a, json_type_array))
                return row_bad(w, "'%s' is not an array", key);
        n = json_object_array_length(a);
        if (n > DEVDB_CLUSTERS_MAX)
                return row_bad(w, "'%s' lists %zu clusters, more than %d", key, n, DEVDB_CLUSTERS_MAX);
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);
                int64_t x;

                if (!json_object_is_type(v, json_type_int) ||
                    (x = json_object_get_int64(v)) < 0 || x > 0xffff)
                        return row_bad(w, "'%s' holds something that is not a cluster id", key);
                out[i] = (uint16_t) x;
        }
        *ret_n = n;
        return 0;
}

static int row_endpoints(Row *w, Device *d) {
        DevEndpoint eps[DEVDB_ENDPOINTS_MAX];
        json_object *o;
        size_t n = 0;
        int r;

        if (!json_object_object_get_ex(w->o, "endpoints", &o) || json_object_is_type(o, json_type_null))
                return 0;
        if (!json_object_is_type(o, json_type_object))
                return row_bad(w, "'endpoints' is not an object");
        json_object_object_foreach(o, key, ep) {
                DevEndpoint *e;
                int64_t x;
                char *end;
                long id;

                if (n >= DEVDB_ENDPOINTS_MAX)
                        return row_bad(w, "more than %d endpoints", DEVDB_ENDPOINTS_MAX);
                e = &eps[n];
                memset(e, 0, sizeof(*e));
                errno = 0;
                id = strtol(key, &end, 10);
                if (errno != 0 || *end || end == key || id < 1 || id > 255)
                        return row_bad(w, "endpoint key '%s' is not an endpoint number", key);
                if (!json_object_is_type(ep, json_type_object))
                        return row_bad(w, "endpoint %ld is not an object", id);
                e->id = (uint8_t) id;
                r = row_int(w, ep, "epId", 1, 255, &x);
                if (r < 0)
                        return r;
                if (r > 0 && x != id)
                        return row_bad(w, "endpoint %ld says epId %" PRIi64, id, x);
                r = row_int(w, ep, "profId", 0, 0xffff, &x);
                if (r < 0)
                        return r;
                if (r > 0)
                        e->profile = (uint16_t) x;
                r = row_int(w, ep, "devId", 0, 0xffff, &x);
                if (r < 0)
                        return r;
                if (r > 0)
                        e->device_id = (uint16_t) x;
                r = row_clusters(w, ep, "inClusterList", e->in, &e->n_in);
                if (r < 0)
                        return r;
                r = row_clusters(w, ep, "outClusterList", e->out, &e->n_out);
                if (r < 0)
                        return r;
                n++;
        }
        return devdb_set_endpoints(w->c->stage, d, eps, n);
}

static int set_str(Row *w, Device *d, char **field, const char *key) {
        const char *s = NULL;
        int r;

        r = row_string(w, w->o, key, &s);
        if (r <= 0)
                return r;
        return devdb_set_string(w->c->stage, field, s);
}

static int import_device_row(Row *w, const char *type) {
        Ctx *c = w->c;
        Device *d;
        const char *s = NULL;
        uint64_t ieee;
        int64_t x, nwk;
        json_object *v;
        int r;

        r = row_string(w, w->o, "ieeeAddr", &s);
        if (r < 0)
                return r;
        if (r == 0 || devdb_parse_ieee(s, &ieee) < 0)
                return row_bad(w, "'ieeeAddr' is missing or not an IEEE address");
        (void) snprintf(w->what, sizeof(w->what), "device 0x%016" PRIx64, ieee);
        r = row_int(w, w->o, "nwkAddr", 0, 0xffff, &nwk);
        if (r < 0)
                return r;
        if (r == 0)
                return row_bad(w, "'nwkAddr' is missing");

        if (strcmp(type, "Coordinator") == 0) {
                if (c->imp->coordinator_ieee != 0 && c->imp->coordinator_ieee != ieee)
                        return row_bad(w, "a second Coordinator row");
                c->imp->coordinator_ieee = ieee;
                return 0;
        }

        r = devdb_add(c->stage, ieee, (uint16_t) nwk, &d);
        if (r == -EEXIST)
                return row_bad(w, "this IEEE address appears twice");
        if (r == -ENOBUFS)
                return row_bad(w, "more than %d devices; lumiplugd keeps at most that many", DEVDB_DEVICES_MAX);
        if (r < 0)
                return r;

        d->logical_type = strcmp(type, "Router") == 0 ? DEV_LOGICAL_ROUTER :
                          strcmp(type, "EndDevice") == 0 ? DEV_LOGICAL_END_DEVICE : DEV_LOGICAL_UNKNOWN;
        r = row_int(w, w->o, "manufId", 0, 0xffff, &x);
        if (r < 0)
                return r;
        if (r > 0)
                d->manufacturer_code = (uint16_t) x;

        if ((r = set_str(w, d, &d->basic.manufacturer_name, "manufName")) < 0 ||
            (r = set_str(w, d, &d->basic.model_id, "modelId")) < 0 ||
            (r = set_str(w, d, &d->basic.date_code, "dateCode")) < 0 ||
            (r = set_str(w, d, &d->basic.sw_build_id, "swBuildId")) < 0)
                return r;

        /* herdsman stores the power source as its descriptive string (older versions: a number) */
        if (json_object_object_get_ex(w->o, "powerSource", &v) && !json_object_is_type(v, json_type_null)) {
                int ps = -1;

                if (json_object_is_type(v, json_type_int)) {
                        x = json_object_get_int64(v);
                        if (x >= 0 && x <= 0xff)
                                ps = (int) (x & 0x7f);
                } else if (json_object_is_type(v, json_type_string)) {
                        for (size_t i = 0; i < ELEMENTSOF(power_sources); i++)
                                if (strcmp(json_object_get_string(v), power_sources[i]) == 0)
                                        ps = (int) i;
                } else
                        return row_bad(w, "'powerSource' is neither a string nor a number");
                if (ps < 0)
                        warn(c, "database.db:%u: %s: unknown powerSource %s, recorded as unknown", w->line,
                             w->what, json_object_to_json_string(v));
                d->basic.power_source = ps;
                d->node_power = ps == 3 ? DEV_NODE_POWER_BATTERY :
                                ps >= 1 ? DEV_NODE_POWER_MAINS : DEV_NODE_POWER_UNKNOWN;
        }

        {
                static const char *const keys[] = { "zclVersion", "appVersion", "stackVersion", "hwVersion" };
                int *fields[] = { &d->basic.zcl_version, &d->basic.app_version, &d->basic.stack_version,
                                  &d->basic.hw_version };

                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        r = row_int(w, w->o, keys[i], 0, 255, &x);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                *fields[i] = (int) x;
                }
        }

        r = row_endpoints(w, d);
        if (r < 0)
                return r;

        /* interviewState (herdsman >= 3) wins over the older boolean interviewCompleted */
        r = row_string(w, w->o, "interviewState", &s);
        if (r < 0)
                return r;
        if (r > 0) {
                static const char *const states[] = { "PENDING", "IN_PROGRESS", "SUCCESSFUL", "FAILED" };
                int st = -1;

                for (size_t i = 0; i < ELEMENTSOF(states); i++)
                        if (strcmp(s, states[i]) == 0)
                                st = (int) i;
                if (st < 0)
                        return row_bad(w, "unknown interviewState '%s'", s);
                d->interview = (DevInterviewState) st;
        } else {
                bool done = false;

                if (json_object_object_get_ex(w->o, "interviewCompleted", &v) &&
                    !json_object_is_type(v, json_type_null)) {
                        if (!json_object_is_type(v, json_type_boolean))
                                return row_bad(w, "'interviewCompleted' is not a boolean");
                        done = json_object_get_boolean(v);
                }
                d->interview = done ? DEV_INTERVIEW_SUCCESSFUL : DEV_INTERVIEW_FAILED;
        }

        r = row_int(w, w->o, "lastSeen", 0, INT64_MAX / 1000, &x);
        if (r < 0)
                return r;
        if (r > 0)
                d->last_seen_usec = (uint64_t) x * 1000;

        const PlugModel *m = plug_model_find(d->basic.model_id);
        if (m) {
                d->supported = true;
                r = devdb_set_string(c->stage, &d->model, m->model);
                if (r < 0)
                        return r;
                c->imp->n_supported++;
        }
        return 0;
}

static bool one_of(const char *s, const char *const *list) {
        for (; *list; list++)
                if (strcmp(s, *list) == 0)
                        return true;
        return false;
}

static const char *const row_types[] = { "Coordinator", "Router", "EndDevice", "GreenPower", "Unknown", NULL };

static int import_database(Ctx *c) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        unsigned line = 0;
        int r;

        r = read_in_dir(c, "database.db", &text, &len, NULL);
        if (r == -ENOENT)
                return refuse(c, "%s/database.db does not exist: is '%s' a Zigbee2MQTT data directory?",
                              c->dir, c->dir);
        if (r == -EFBIG)
                return refuse(c, "database.db is larger than %u bytes", DEVDB_FILE_MAX);
        if (r < 0)
                return refuse(c, "cannot read %s/database.db: %s", c->dir, strerror(-r)), r;
        if (strlen(text) != len)
                return refuse(c, "database.db holds a NUL byte");

        for (char *p = text, *eol; p && *p; p = eol ? eol + 1 : NULL) {
                _cleanup_json_ json_object *o = NULL;
                char why[256];
                Row w = { .c = c };
                const char *type = NULL;
                size_t n;

                line++;
                eol = strchr(p, '\n');
                n = eol ? (size_t) (eol - p) : strlen(p);
                if (n > 0 && p[n - 1] == '\r')
                        n--;
                if (strspn(p, " \t\r") >= n)
                        continue;
                w.line = line;
                r = devdb_parse_json(p, n, &o, why, sizeof(why));
                if (r == -EBADMSG)
                        return refuse(c, "database.db:%u: %s", line, why);
                if (r < 0)
                        return r;
                if (!json_object_is_type(o, json_type_object))
                        return row_bad(&w, "not a JSON object");
                w.o = o;
                r = row_string(&w, o, "type", &type);
                if (r < 0)
                        return r;
                if (r == 0)
                        return row_bad(&w, "entry has no 'type'");
                if (strcmp(type, "Group") == 0) {
                        c->n_groups++;
                        continue;
                }
                if (!one_of(type, row_types))
                        return row_bad(&w, "unknown entry type '%s'", type);
                r = import_device_row(&w, type);
                if (r < 0)
                        return r;
        }
        if (c->n_groups > 0)
                warn(c, "database.db: %zu group(s) not imported (lumiplugd has no groups)", c->n_groups);
        return 0;
}

/*
 * configuration.yaml
 */

static const char *const bool_options[] = {
        "retain", "disabled", "optimistic", "state_action", "disable_automatic_update_check", NULL,
};
static const char *const number_options[] = { "retention", "throttle", "debounce", NULL };
static const char *const list_options[] = {
        "debounce_ignore", "filtered_attributes", "filtered_cache", "filtered_optimistic", NULL,
};
static const char *const string_options[] = { "icon", "description", NULL };

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Checks the options Zigbee2MQTT defines for this plug (and every device) have their types. */
static int check_option(Ctx *c, const char *file, uint64_t ieee, const char *key, const YamlNode *v) {
        const char *expected = NULL;
        int64_t i;
        double d;
        bool b;

        if (yaml_scalar_is_null(v))
                return 0;
        if (one_of(key, bool_options)) {
                if (yaml_scalar_bool(v, &b) < 0)
                        expected = "true or false";
        } else if (strcmp(key, "qos") == 0) {
                if (yaml_scalar_int(v, &i) < 0 || i < 0 || i > 2)
                        expected = "0, 1 or 2";
        } else if (ends_with(key, "_precision")) {
                if (yaml_scalar_int(v, &i) < 0 || i < 0 || i > 3)
                        expected = "an integer from 0 to 3";
        } else if (ends_with(key, "_calibration") || one_of(key, number_options)) {
                if (yaml_scalar_number(v, &d) < 0 || !isfinite(d))
                        expected = "a number";
        } else if (one_of(key, list_options)) {
                if (v->kind != YAML_SEQUENCE)
                        expected = "a list of strings";
                else
                        for (size_t k = 0; k < v->n_items; k++)
                                if (v->items[k]->kind != YAML_SCALAR)
                                        expected = "a list of strings";
        } else if (one_of(key, string_options)) {
                if (v->kind != YAML_SCALAR)
                        expected = "a string";
        } else if (strcmp(key, "homeassistant") == 0) {
                if (v->kind != YAML_MAPPING)
                        expected = "a mapping";
        }
        if (!expected)
                return 0;
        return refuse(c, "%s:%u: option '%s' of 0x%016" PRIx64 ": expected %s, got %s", file, v->line, key,
                      ieee, expected, v->kind == YAML_SCALAR ? v->scalar :
                                      v->kind == YAML_MAPPING ? "a mapping" : "a list");
}

static int apply_device_settings(Ctx *c, const char *file, const YamlNode *devices) {
        int r;

        if (yaml_scalar_is_null(devices))
                return 0;
        if (devices->kind != YAML_MAPPING)
                return refuse(c, "%s:%u: 'devices' must map IEEE addresses to settings", file, devices->line);
        for (size_t k = 0; k < devices->n_items; k++) {
                const YamlNode *e = devices->items[k];
                unsigned line = devices->key_lines[k];
                const YamlNode *name;
                uint64_t ieee;
                Device *d;

                if (devdb_parse_ieee(devices->keys[k], &ieee) < 0)
                        return refuse(c, "%s:%u: device key '%s' is not an IEEE address like 0x00158d0001a2b3c4",
                                      file, line, devices->keys[k]);
                if (e->kind != YAML_MAPPING)
                        return refuse(c, "%s:%u: the settings of %s must be a mapping", file, line, devices->keys[k]);
                d = devdb_find_by_ieee(c->stage, ieee);
                if (!d) {
                        warn(c, "%s:%u: %s has settings but is not in database.db; skipped", file, line,
                             devices->keys[k]);
                        continue;
                }
                name = yaml_mapping_get(e, "friendly_name");
                if (name && !yaml_scalar_is_null(name)) {
                        Device *other;

                        if (name->kind != YAML_SCALAR)
                                return refuse(c, "%s:%u: friendly_name of %s is not a string", file, name->line,
                                              devices->keys[k]);
                        if (!devdb_name_is_valid(name->scalar))
                                return refuse(c, "%s:%u: friendly_name '%s' of %s is not valid (empty, longer than "
                                              "%d bytes, '+', '#', a control character, a leading or trailing "
                                              "'/', or ending in '/<digits>')", file, name->line, name->scalar,
                                              devices->keys[k], DEVDB_NAME_MAX);
                        other = devdb_find_by_name(c->stage, name->scalar);
                        if (other && other != d)
                                return refuse(c, "%s:%u: friendly_name '%s' of %s is also the name of 0x%016" PRIx64,
                                              file, name->line, name->scalar, devices->keys[k], other->ieee);
                        r = devdb_rename(c->stage, d, name->scalar);
                        if (r < 0)
                                return r;
                        c->imp->n_named++;
                }
                for (size_t o = 0; o < e->n_items; o++) {
                        json_object *v;

                        if (strcmp(e->keys[o], "friendly_name") == 0)
                                continue;
                        r = check_option(c, file, ieee, e->keys[o], e->items[o]);
                        if (r < 0)
                                return r;
                        r = yaml_node_to_json(e->items[o], &v);
                        if (r == -EDOM)
                                return refuse(c, "%s:%u: option '%s' of %s: infinity and NaN cannot be stored",
                                              file, e->key_lines[o], e->keys[o], devices->keys[k]);
                        if (r < 0)
                                return r;
                        if (json_object_object_add(d->options, e->keys[o], v) < 0) {
                                json_object_put(v);
                                return -ENOMEM;
                        }
                }
        }
        return 0;
}

/* A YAML file in the data directory, parsed whole. */
static int parse_yaml_file(Ctx *c, const char *name, const char *const *only, YamlNode **ret) {
        _cleanup_free_ char *text = NULL;
        char err[512];
        size_t len;
        int r;

        if (strstr(name, "..") || name[0] == '/')
                return refuse(c, "'%s': only files inside the data directory are read", name);
        r = read_in_dir(c, name, &text, &len, NULL);
        if (r == -ENOENT)
                return refuse(c, "%s/%s does not exist", c->dir, name);
        if (r < 0)
                return refuse(c, "cannot read %s/%s: %s", c->dir, name, strerror(-r)), r;
        r = yaml_parse(text, len, name, only, ret, err, sizeof(err));
        if (r == -EBADMSG)
                return refuse(c, "%s", err);
        if (r < 0)
                return r;
        if ((*ret)->kind != YAML_MAPPING && !yaml_scalar_is_null(*ret)) {
                unsigned line = (*ret)->line;
                *ret = yaml_node_free(*ret);
                return refuse(c, "%s:%u: expected a mapping at the top level", name, line);
        }
        return 0;
}

static int apply_devices_file(Ctx *c, const char *name) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        int r;

        r = parse_yaml_file(c, name, NULL, &root);
        if (r < 0)
                return r;
        return apply_device_settings(c, name, root);
}

enum { HAS_PAN = 1, HAS_EXT_PAN = 2, HAS_KEY = 4, HAS_CHANNEL = 8, HAS_ALL = 15 };

static bool is_generate(const YamlNode *v) {
        return v->kind == YAML_SCALAR && strcmp(v->scalar, "GENERATE") == 0;
}

static int byte_list(Ctx *c, const char *file, const char *key, const YamlNode *v, uint8_t *out, size_t n) {
        if (v->kind != YAML_SEQUENCE || v->n_items != n)
                return refuse(c, "%s:%u: advanced.%s must be a list of %zu bytes or GENERATE", file, v->line, key, n);
        for (size_t i = 0; i < n; i++) {
                int64_t x;

                if (yaml_scalar_int(v->items[i], &x) < 0 || x < 0 || x > 255)
                        return refuse(c, "%s:%u: advanced.%s[%zu] is not a byte (0..255)", file,
                                      v->items[i]->line, key, i);
                out[i] = (uint8_t) x;
        }
        return 0;
}

/* "!secret network_key": key network_key of secret.yaml (Zigbee2MQTT's value reference). */
static int resolve_secret(Ctx *c, const YamlNode *v, YamlNode **ret_root, const YamlNode **ret) {
        _cleanup_free_ char *file = NULL;
        const char *sp;
        int r;

        if (v->kind != YAML_SCALAR || v->scalar[0] != '!' || !(sp = strchr(v->scalar, ' ')))
                return 0;
        file = strndup(v->scalar + 1, (size_t) (sp - v->scalar - 1));
        if (!file)
                return -ENOMEM;
        if (!ends_with(file, ".yaml") && !ends_with(file, ".yml")) {
                char *f;
                if (asprintf(&f, "%s.yaml", file) < 0)
                        return -ENOMEM;
                free(file);
                file = f;
        }
        r = parse_yaml_file(c, file, NULL, ret_root);
        if (r < 0)
                return r;
        *ret = yaml_mapping_get(*ret_root, sp + 1);
        if (!*ret)
                return refuse(c, "%s has no key '%s' (referenced by configuration.yaml:%u)", file, sp + 1, v->line);
        return 1;
}

static int import_advanced(Ctx *c, const char *file, const YamlNode *adv) {
        _cleanup_(yaml_node_freep) YamlNode *secret_root = NULL;
        const YamlNode *v;
        int64_t x;
        int r;

        if (!adv || yaml_scalar_is_null(adv))
                return 0;
        if (adv->kind != YAML_MAPPING)
                return refuse(c, "%s:%u: 'advanced' is not a mapping", file, adv->line);

        v = yaml_mapping_get(adv, "pan_id");
        if (v && !is_generate(v) && !yaml_scalar_is_null(v)) {
                if (yaml_scalar_int(v, &x) < 0 || x < 1 || x > 0xfffe)
                        return refuse(c, "%s:%u: advanced.pan_id must be a number from 1 to 0xFFFE or GENERATE",
                                      file, v->line);
                c->config_net.pan_id = (uint16_t) x;
                c->config_has |= HAS_PAN;
        }
        v = yaml_mapping_get(adv, "ext_pan_id");
        if (v && !is_generate(v) && !yaml_scalar_is_null(v)) {
                uint8_t b[8];

                r = byte_list(c, file, "ext_pan_id", v, b, 8);
                if (r < 0)
                        return r;
                /* written as displayed: most significant byte first */
                for (size_t i = 0; i < 8; i++)
                        c->config_net.ext_pan_id = c->config_net.ext_pan_id << 8 | b[i];
                c->config_has |= HAS_EXT_PAN;
        }
        v = yaml_mapping_get(adv, "network_key");
        if (v && !is_generate(v) && !yaml_scalar_is_null(v)) {
                r = resolve_secret(c, v, &secret_root, &v);
                if (r < 0)
                        return r;
                r = byte_list(c, r > 0 ? "secret" : file, "network_key", v, c->config_net.network_key, 16);
                if (r < 0)
                        return r;
                c->config_has |= HAS_KEY;
        }
        v = yaml_mapping_get(adv, "channel");
        if (v && !yaml_scalar_is_null(v)) {
                if (yaml_scalar_int(v, &x) < 0 || x < 11 || x > 26)
                        return refuse(c, "%s:%u: advanced.channel must be a number from 11 to 26", file, v->line);
                c->config_net.channel = (uint8_t) x;
                c->config_has |= HAS_CHANNEL;
        }
        return 0;
}

static int import_configuration(Ctx *c) {
        static const char *const sections[] = { "devices", "advanced", NULL };
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        const YamlNode *devices;
        int r;

        r = parse_yaml_file(c, "configuration.yaml", sections, &root);
        if (r < 0)
                return r;
        devices = yaml_mapping_get(root, "devices");
        if (devices && devices->kind == YAML_SCALAR && !yaml_scalar_is_null(devices))
                r = apply_devices_file(c, devices->scalar);     /* devices: devices.yaml */
        else if (devices && devices->kind == YAML_SEQUENCE) {
                for (size_t i = 0; i < devices->n_items && r >= 0; i++) {
                        if (devices->items[i]->kind != YAML_SCALAR)
                                return refuse(c, "configuration.yaml:%u: 'devices' lists something that is not "
                                              "a file name", devices->items[i]->line);
                        r = apply_devices_file(c, devices->items[i]->scalar);
                }
        } else if (devices)
                r = apply_device_settings(c, "configuration.yaml", devices);
        if (r < 0)
                return r;
        return import_advanced(c, "configuration.yaml", yaml_mapping_get(root, "advanced"));
}

/*
 * coordinator_backup.json (zigpy/open-coordinator-backup, version 1)
 */

static int hex_bytes(const char *s, uint8_t *out, size_t n) {
        if (!s || strlen(s) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                char pair[3] = { s[2 * i], s[2 * i + 1], 0 };

                if (strspn(pair, "0123456789abcdefABCDEF") != 2 || sscanf(pair, "%2x", &v) != 1)
                        return -EINVAL;
                out[i] = (uint8_t) v;
        }
        return 0;
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int import_backup(Ctx *c, DevNetwork *net, bool *have) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *root = NULL;
        json_object *meta = NULL, *v, *key = NULL;
        const char *s;
        char why[256];
        uint8_t b[8];
        size_t len;
        int64_t x;
        int r;

        r = read_in_dir(c, "coordinator_backup.json", &text, &len, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return refuse(c, "cannot read %s/coordinator_backup.json: %s", c->dir, strerror(-r)), r;
        r = devdb_parse_json(text, len, &root, why, sizeof(why));
        explicit_bzero(text, len);
        if (r == -EBADMSG)
                return refuse(c, "coordinator_backup.json: %s", why);
        if (r < 0)
                return r;
        if (!json_object_is_type(root, json_type_object))
                return refuse(c, "coordinator_backup.json: not a JSON object");
        if (json_object_object_get_ex(root, "adapterType", &v)) {
                warn(c, "coordinator_backup.json is in Zigbee2MQTT's old Z-Stack NV format and was not read; "
                     "the network is adopted from the coordinator itself");
                return 0;
        }
        if (!json_object_object_get_ex(root, "metadata", &meta) ||
            !(s = jstr(meta, "format")) || strcmp(s, "zigpy/open-coordinator-backup") != 0)
                return refuse(c, "coordinator_backup.json: not a zigpy/open-coordinator-backup file "
                              "(metadata.format)");
        if (!json_object_object_get_ex(meta, "version", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) != 1)
                return refuse(c, "coordinator_backup.json: unsupported open coordinator backup version %s "
                              "(only 1 is read)", v ? json_object_to_json_string(v) : "(missing)");

        s = jstr(root, "coordinator_ieee");
        if (!s || devdb_parse_ieee(s, &net->coordinator_ieee) < 0)
                return refuse(c, "coordinator_backup.json: 'coordinator_ieee' is missing or not 16 hex digits");
        s = jstr(root, "pan_id");
        if (!s || strlen(s) < 1 || strlen(s) > 4 || strspn(s, "0123456789abcdefABCDEF") != strlen(s))
                return refuse(c, "coordinator_backup.json: 'pan_id' is missing or not a hex number of 1-4 digits");
        net->pan_id = (uint16_t) strtoul(s, NULL, 16);
        s = jstr(root, "extended_pan_id");
        if (!s || hex_bytes(s, b, 8) < 0)
                return refuse(c, "coordinator_backup.json: 'extended_pan_id' is missing or not 16 hex digits");
        /* As displayed, most significant byte first, by zigpy and by zigbee-herdsman alike: herdsman's
         * NIB struct reads extendedPANID "uint8array-reversed" (NV holds it little-endian), so its hex
         * is the display order, the same order as `advanced.ext_pan_id` in configuration.yaml. */
        net->ext_pan_id = 0;
        for (size_t i = 0; i < 8; i++)
                net->ext_pan_id = net->ext_pan_id << 8 | b[i];
        if (!json_object_object_get_ex(root, "channel", &v) || !json_object_is_type(v, json_type_int) ||
            (x = json_object_get_int64(v)) < 11 || x > 26)
                return refuse(c, "coordinator_backup.json: 'channel' is missing or not 11..26");
        net->channel = (uint8_t) x;
        if (!json_object_object_get_ex(root, "network_key", &key) || !(s = jstr(key, "key")) ||
            hex_bytes(s, net->network_key, 16) < 0)
                return refuse(c, "coordinator_backup.json: 'network_key.key' is missing or not 32 hex digits");
        net->valid = true;
        *have = true;
        return 0;
}

/* state.json: Zigbee2MQTT's cached last state per device (optional). */
static int import_state(Ctx *c) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *root = NULL;
        char why[256];
        size_t len;
        int r;

        r = read_in_dir(c, "state.json", &text, &len, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                warn(c, "state.json could not be read (%s); last known states not imported", strerror(-r));
                return 0;
        }
        r = devdb_parse_json(text, len, &root, why, sizeof(why));
        if (r == -EBADMSG || (r >= 0 && !json_object_is_type(root, json_type_object))) {
                warn(c, "state.json: %s; last known states not imported", r < 0 ? why : "not a JSON object");
                return 0;
        }
        if (r < 0)
                return r;
        json_object_object_foreach(root, k, v) {
                uint64_t ieee;
                Device *d;

                if (devdb_parse_ieee(k, &ieee) < 0 || !(d = devdb_find_by_ieee(c->stage, ieee)) ||
                    !json_object_is_type(v, json_type_object))
                        continue;
                r = devdb_set_state(c->stage, d, json_object_get(v));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int merge_into(Ctx *c, DevDb *db) {
        size_t overlap = 0, n = devdb_count(c->stage);

        for (size_t i = 0; i < n; i++) {
                Device *s = devdb_get(c->stage, i), *o;

                if (devdb_find_by_ieee(db, s->ieee))
                        overlap++;
                o = devdb_find_by_name(db, s->friendly_name);
                if (o && o->ieee != s->ieee && !devdb_find_by_ieee(c->stage, o->ieee))
                        return refuse(c, "friendly name '%s' of 0x%016" PRIx64 " is already used by 0x%016" PRIx64
                                      " in the device database; rename one of them first",
                                      s->friendly_name, s->ieee, o->ieee);
        }
        if (devdb_count(db) - overlap + n > DEVDB_DEVICES_MAX) {
                refuse(c, "importing %zu devices would exceed the %d devices lumiplugd keeps", n, DEVDB_DEVICES_MAX);
                return -ENOBUFS;
        }
        for (size_t i = 0; i < n; i++)
                (void) devdb_remove(db, devdb_get(c->stage, i)->ieee);
        while (devdb_count(c->stage) > 0) {
                Device *d;
                int r;

                r = devdb_steal(c->stage, devdb_get(c->stage, 0)->ieee, &d);
                if (r < 0)
                        return r;
                r = devdb_adopt(db, d);
                if (r < 0) {
                        device_free(d);
                        return refuse(c, "internal error: adopting 0x%016" PRIx64 " failed: %s", d->ieee,
                                      strerror(-r)), r;
                }
        }
        return 0;
}

int z2m_import(DevDb *db, const char *dir, Z2mImport *imp) {
        _cleanup_(devdb_freep) DevDb *stage = NULL;
        Ctx c = { .imp = imp, .dir = dir };
        DevNetwork backup = {}, net;
        bool have_backup = false;
        int r;

        memset(imp, 0, sizeof(*imp));
        r = devdb_new(&stage, dir);
        if (r < 0)
                return r;
        c.stage = stage;

        r = import_database(&c);
        if (r >= 0)
                r = import_configuration(&c);
        if (r >= 0)
                r = import_backup(&c, &backup, &have_backup);
        if (r >= 0)
                r = import_state(&c);
        if (r < 0)
                goto finish;

        net = *devdb_get_network(db);
        if (have_backup) {
                if (imp->coordinator_ieee != 0 && backup.coordinator_ieee != imp->coordinator_ieee)
                        warn(&c, "coordinator_backup.json is of coordinator 0x%016" PRIx64 " but database.db of "
                             "0x%016" PRIx64 "; the backup's network parameters are imported",
                             backup.coordinator_ieee, imp->coordinator_ieee);
                /* dd:dd:dd:dd:dd:dd:dd:dd in the configuration means "the coordinator's IEEE" to
                 * zigbee-herdsman, so the backup holds something else there by design */
                if (((c.config_has & HAS_PAN) && c.config_net.pan_id != backup.pan_id) ||
                    ((c.config_has & HAS_EXT_PAN) && c.config_net.ext_pan_id != backup.ext_pan_id &&
                     c.config_net.ext_pan_id != UINT64_C(0xdddddddddddddddd)) ||
                    ((c.config_has & HAS_KEY) &&
                     memcmp(c.config_net.network_key, backup.network_key, 16) != 0))
                        warn(&c, "configuration.yaml's advanced network settings differ from "
                             "coordinator_backup.json; the backup (what the coordinator holds) is imported");
                net = backup;
                imp->network_source = "coordinator_backup.json";
        } else if (c.config_has == HAS_ALL) {
                net = c.config_net;
                net.valid = true;
                net.coordinator_ieee = imp->coordinator_ieee;
                imp->network_source = "configuration.yaml";
        } else if (imp->coordinator_ieee != 0)
                warn(&c, "no coordinator_backup.json and no explicit network settings: the network is "
                     "adopted from the coordinator at start-up");
        if (imp->coordinator_ieee != 0 && net.coordinator_ieee == 0)
                net.coordinator_ieee = imp->coordinator_ieee;
        if (imp->coordinator_ieee == 0)
                imp->coordinator_ieee = net.coordinator_ieee;

        imp->n_devices = devdb_count(stage);
        r = merge_into(&c, db);
        if (r < 0)
                goto finish;
        if (imp->network_source || net.coordinator_ieee != devdb_get_network(db)->coordinator_ieee)
                devdb_set_network(db, &net);
        r = 0;
finish:
        explicit_bzero(&backup, sizeof(backup));
        explicit_bzero(&net, sizeof(net));
        explicit_bzero(&c.config_net, sizeof(c.config_net));
        if (r < 0) {
                if (!imp->error[0])
                        (void) snprintf(imp->error, sizeof(imp->error), "import failed: %s", strerror(-r));
                imp->n_devices = imp->n_supported = imp->n_named = 0;
        }
        return r;
}

int z2m_import_command(const char *state_dir, const char *z2m_dir, FILE *out, FILE *err) {
        _cleanup_(devdb_freep) DevDb *db = NULL;
        Z2mImport imp;
        const DevNetwork *net;
        int r;

        r = devdb_new(&db, state_dir);
        if (r < 0) {
                fprintf(err, "lumiplugd: cannot use state directory '%s': %s\n", state_dir, strerror(-r));
                return r;
        }
        r = devdb_load(db);
        if (r < 0) {
                fprintf(err, "lumiplugd: %s\n", devdb_last_error(db)[0] ? devdb_last_error(db) : strerror(-r));
                return r;
        }
        if (r == DEVDB_LOAD_RECOVERED)
                fprintf(err, "lumiplugd: warning: %s\n", devdb_last_error(db));

        r = z2m_import(db, z2m_dir, &imp);
        if (r < 0) {
                fprintf(err, "lumiplugd: cannot import '%s': %s\n", z2m_dir, imp.error);
                z2m_import_done(&imp);
                return r;
        }
        r = devdb_save(db);
        if (r < 0) {
                fprintf(err, "lumiplugd: import read, but saving it failed: %s\n", devdb_last_error(db));
                z2m_import_done(&imp);
                return r;
        }
        for (size_t i = 0; i < imp.n_warnings; i++)
                fprintf(err, "lumiplugd: warning: %s\n", imp.warnings[i]);
        fprintf(out, "Imported %zu device(s) from %s: %zu supported plug(s), %zu friendly name(s) from the "
                "configuration.\n", imp.n_devices, z2m_dir, imp.n_supported, imp.n_named);
        net = devdb_get_network(db);
        if (net->coordinator_ieee)
                fprintf(out, "Coordinator 0x%016" PRIx64 ".\n", net->coordinator_ieee);
        if (imp.network_source)
                fprintf(out, "Network PAN id 0x%04x, extended PAN id 0x%016" PRIx64 ", channel %u (and its key) "
                        "taken from %s.\n", net->pan_id, net->ext_pan_id, net->channel, imp.network_source);
        fprintf(out, "Written to %s; %zu device(s) in the database now.\n", devdb_devices_path(db), devdb_count(db));
        z2m_import_done(&imp);
        return 0;
}
