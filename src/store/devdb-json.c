/*
 * Device database files: devices.json and network.json written (devices.json device by device)
 * and read back strictly, a corrupt file set aside. Not the table itself (devdb.c) and not the
 * atomic replacement (atomic-file.c).
 */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/atomic-file.h"
#include "store/devdb-private.h"
#include "util/hex.h"
#include "util/macro.h"
#include "util/json-util.h"

static inline void json_object_putp(json_object **p) {
        if (*p)
                json_object_put(*p);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

_printf_(2, 3)
static void devdb_error(DevDb *db, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(db->error, sizeof(db->error), fmt, ap);
        va_end(ap);
}

/*
 * Serialisation
 */


static int add_int_or_skip(json_object *o, const char *key, int v) {
        return v >= 0 ? json_add(o, key, json_object_new_int(v)) : 0;
}

static json_object *clusters_to_json(const uint16_t *c, size_t n) {
        json_object *a = json_object_new_array_ext((int) n);

        if (!a)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (json_object_array_add(a, json_object_new_int(c[i])) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        return a;
}

static int device_to_json(DevDb *db, Device *d, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object(), *eps = NULL, *basic = NULL;
        char ieee[19];
        int r;

        if (!o)
                return -ENOMEM;
        (void) snprintf(ieee, sizeof(ieee), "0x%016" PRIx64, d->ieee);
        r = json_add(o, "ieee", json_object_new_string(ieee));
        if (r >= 0)
                r = json_add(o, "nwk", json_object_new_int(d->nwk));
        if (r >= 0)
                r = json_add(o, "friendly_name", json_object_new_string(d->friendly_name));
        if (r >= 0)
                r = json_add(o, "logical_type", json_object_new_string(logical_names[d->logical_type]));
        if (r >= 0)
                r = json_add(o, "manufacturer_code", json_object_new_int(d->manufacturer_code));
        if (r >= 0)
                r = json_add(o, "node_power", json_object_new_string(node_power_names[d->node_power]));
        if (r < 0)
                return r;

        eps = json_object_new_array_ext((int) d->n_endpoints);
        if (!eps)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_endpoints; i++) {
                const DevEndpoint *e = &d->endpoints[i];
                _cleanup_json_ json_object *je = json_object_new_object();

                if (!je)
                        return -ENOMEM;
                r = json_add(je, "id", json_object_new_int(e->id));
                if (r >= 0)
                        r = json_add(je, "profile", json_object_new_int(e->profile));
                if (r >= 0)
                        r = json_add(je, "device_id", json_object_new_int(e->device_id));
                if (r >= 0)
                        r = json_add(je, "in", clusters_to_json(e->in, e->n_in));
                if (r >= 0)
                        r = json_add(je, "out", clusters_to_json(e->out, e->n_out));
                if (r < 0)
                        return r;
                if (json_object_array_add(eps, je) < 0)
                        return -ENOMEM;
                je = NULL;
        }
        r = json_add(o, "endpoints", TAKE_PTR(eps));
        if (r < 0)
                return r;

        basic = json_object_new_object();
        if (!basic)
                return -ENOMEM;
        r = json_add_string(basic, "model_id", d->basic.model_id);
        if (r >= 0)
                r = json_add_string(basic, "manufacturer_name", d->basic.manufacturer_name);
        if (r >= 0)
                r = json_add_string(basic, "date_code", d->basic.date_code);
        if (r >= 0)
                r = json_add_string(basic, "sw_build_id", d->basic.sw_build_id);
        if (r >= 0)
                r = add_int_or_skip(basic, "power_source", d->basic.power_source);
        if (r >= 0)
                r = add_int_or_skip(basic, "zcl_version", d->basic.zcl_version);
        if (r >= 0)
                r = add_int_or_skip(basic, "app_version", d->basic.app_version);
        if (r >= 0)
                r = add_int_or_skip(basic, "stack_version", d->basic.stack_version);
        if (r >= 0)
                r = add_int_or_skip(basic, "hw_version", d->basic.hw_version);
        if (r >= 0)
                r = json_add(o, "basic", TAKE_PTR(basic));
        if (r >= 0)
                r = json_add(o, "interview", json_object_new_string(interview_names[d->interview]));
        if (r >= 0)
                r = json_add(o, "supported", json_object_new_boolean(d->supported));
        if (r >= 0)
                r = json_add_string(o, "model", d->model);
        if (r >= 0)
                r = json_add(o, "options", json_object_get(d->options));
        if (r >= 0 && d->state_live && db->state_fn) {
                /* the owner's current state, built for this write only */
                json_object *live = db->state_fn(d, db->state_userdata);

                if (!live || !json_object_is_type(live, json_type_object)) {
                        json_object_put(live);
                        return -ENOMEM;
                }
                r = json_add(o, "state", live);
        } else if (r >= 0)
                r = json_add(o, "state", d->state ? json_object_get(d->state) : json_object_new_object());
        if (r >= 0)
                r = json_add(o, "last_seen", json_object_new_int64((int64_t) (d->last_seen_usec / 1000)));
        if (r >= 0 && d->energy_known) {
                _cleanup_json_ json_object *e = json_object_new_object();

                if (!e)
                        return -ENOMEM;
                r = json_add(e, "offset", json_object_new_double(d->energy_offset));
                if (r >= 0)
                        r = json_add(e, "last_device", json_object_new_double(d->energy_last_device));
                if (r >= 0)
                        r = json_add(o, "energy_counter", TAKE_PTR(e));
        }
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

static int write_file(DevDb *db, const char *path, const char *data, mode_t mode);

/* Writes devices.json device by device: each device's object is built, printed by json-c and
 * written, then freed, so the peak is one device, not a tree of all of them (~1.5 MB at 200
 * plugs). The text is byte for byte what json-c prints for the whole document with
 * JSON_C_TO_STRING_PRETTY | SPACED | NOSLASHESCAPE (two spaces per level, so a device printed
 * on its own gets four more after each newline; strings never hold a raw newline). */
#define DEVICES_FLUSH 32768

typedef struct DevicesWrite {
        DevDb *db;
        char *buf;
        size_t n, size;
} DevicesWrite;

static int buf_append(DevicesWrite *dw, AtomicFileWriter *w, const char *s, size_t len) {
        if (dw->n + len > dw->size) {
                int r = atomic_file_append(w, dw->buf, dw->n);

                if (r < 0)
                        return r;
                dw->n = 0;
                if (len > dw->size)
                        return atomic_file_append(w, s, len);
        }
        memcpy(dw->buf + dw->n, s, len);
        dw->n += len;
        return 0;
}

static int devices_fill(AtomicFileWriter *w, void *userdata) {
        DevicesWrite *dw = userdata;
        DevDb *db = dw->db;
        char head[128];
        int r, n;

        n = snprintf(head, sizeof(head), "{\n  \"format\": \"lumiplugd-devices\",\n  \"version\": %d,\n  \"devices\": [\n",
                     DEVDB_FORMAT_VERSION);
        r = buf_append(dw, w, head, (size_t) n);
        for (size_t i = 0; r >= 0 && i < db->n_devices; i++) {
                _cleanup_json_ json_object *d = NULL;
                const char *s, *line;

                r = device_to_json(db, db->devices[i], &d);
                if (r < 0)
                        return r;
                s = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE);
                if (!s)
                        return -ENOMEM;
                for (line = s; r >= 0 && *line; ) {
                        const char *nl = strchr(line, '\n');
                        size_t len = nl ? (size_t) (nl - line) + 1 : strlen(line);

                        r = buf_append(dw, w, "    ", 4);
                        if (r >= 0)
                                r = buf_append(dw, w, line, len);
                        line += len;
                }
                if (r >= 0)
                        r = buf_append(dw, w, i + 1 < db->n_devices ? ",\n" : "\n", i + 1 < db->n_devices ? 2 : 1);
        }
        if (r >= 0)
                r = buf_append(dw, w, "  ]\n}", 5);
        if (r >= 0)
                r = atomic_file_append(w, dw->buf, dw->n);
        return r;
}

static int devices_write(DevDb *db) {
        char err[512];
        DevicesWrite dw = { .db = db, .size = DEVICES_FLUSH };
        int r;

        dw.buf = malloc(dw.size);
        if (!dw.buf)
                return -ENOMEM;
        r = atomic_file_write_with(db->dir, db->devices_path, 0644, devices_fill, &dw, err, sizeof(err));
        free(dw.buf);
        if (r < 0)
                devdb_error(db, "%s", err);
        return r;
}

static void hex_encode(char *out, const uint8_t *in, size_t n) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * n] = 0;
}

static int hex_decode(const char *s, uint8_t *out, size_t n) {
        if (!s || strlen(s) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < 2 * n; i++) {
                int d = hex_digit_value(s[i]);

                if (d < 0)
                        return -EINVAL;
                if (i % 2 == 0)
                        out[i / 2] = (uint8_t) (d << 4);
                else
                        out[i / 2] |= (uint8_t) d;
        }
        return 0;
}

static int network_to_string(const DevDb *db, char **ret) {
        _cleanup_json_ json_object *root = json_object_new_object();
        const DevNetwork *n = &db->network;
        char buf[33];
        const char *s;
        int r;

        if (!root)
                return -ENOMEM;
        r = json_add(root, "format", json_object_new_string("lumiplugd-network"));
        if (r >= 0)
                r = json_add(root, "version", json_object_new_int(DEVDB_FORMAT_VERSION));
        if (r >= 0 && n->coordinator_ieee != 0) {
                (void) snprintf(buf, sizeof(buf), "0x%016" PRIx64, n->coordinator_ieee);
                r = json_add(root, "coordinator_ieee", json_object_new_string(buf));
        }
        if (r >= 0 && n->valid) {
                r = json_add(root, "pan_id", json_object_new_int(n->pan_id));
                if (r >= 0) {
                        (void) snprintf(buf, sizeof(buf), "0x%016" PRIx64, n->ext_pan_id);
                        r = json_add(root, "ext_pan_id", json_object_new_string(buf));
                }
                if (r >= 0) {
                        hex_encode(buf, n->network_key, sizeof(n->network_key));
                        r = json_add(root, "network_key", json_object_new_string(buf));
                        explicit_bzero(buf, sizeof(buf));
                }
                if (r >= 0)
                        r = json_add(root, "channel", json_object_new_int(n->channel));
        }
        if (r < 0)
                return r;
        s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
        if (!s)
                return -ENOMEM;
        *ret = strdup(s);
        /* json-c keeps its own copy of the text inside root; wipe it before root is freed */
        explicit_bzero((char *) s, strlen(s));
        return *ret ? 0 : -ENOMEM;
}

static int write_file(DevDb *db, const char *path, const char *data, mode_t mode) {
        char err[512];
        int r = atomic_file_write(db->dir, path, data, mode, err, sizeof(err));

        if (r < 0)
                devdb_error(db, "%s", err);
        return r;
}

int devdb_save(DevDb *db) {
        int r;

        if (db->dirty || db->state_dirty) {
                r = devices_write(db);
                if (r < 0)
                        return r;
                db->dirty = db->state_dirty = false;
        }
        if (db->network_dirty) {
                char *s = NULL;

                r = network_to_string(db, &s);
                if (r < 0)
                        return r;
                r = write_file(db, db->network_path, s, 0600);
                explicit_bzero(s, strlen(s));
                free(s);
                if (r < 0)
                        return r;
                db->network_dirty = false;
        }
        return 0;
}

/*
 * Loading
 */

/* Reads a whole file, refusing more than DEVDB_FILE_MAX bytes. -ENOENT if missing. */
int devdb_read_file(const char *path, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 4096;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        char *p;

                        if (cap >= DEVDB_FILE_MAX)
                                return -EFBIG;
                        cap *= 2;
                        p = realloc(buf, cap + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* Parses one complete JSON document; describes the failure in err. */
int devdb_parse_json(const char *text, size_t len, json_object **ret, char *err, size_t errlen) {
        json_tokener *tok;
        json_object *o;
        enum json_tokener_error jerr;
        size_t used;

        if (len > INT32_MAX) {
                (void) snprintf(err, errlen, "too large");
                return -EFBIG;
        }
        const char *nul = memchr(text, 0, len);
        if (nul) {
                (void) snprintf(err, errlen, "contains a NUL byte at offset %zu", (size_t) (nul - text));
                return -EBADMSG;
        }
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, text, (int) len);
        jerr = json_tokener_get_error(tok);
        used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!o || jerr != json_tokener_success) {
                if (jerr == json_tokener_continue)
                        (void) snprintf(err, errlen, "not valid JSON: unexpected end of file");
                else
                        (void) snprintf(err, errlen, "not valid JSON at offset %zu: %s", used,
                                        json_tokener_error_desc(jerr));
                if (o)
                        json_object_put(o);
                return -EBADMSG;
        }
        for (; used < len; used++)
                if (!strchr(" \t\r\n", text[used])) {
                        json_object_put(o);
                        (void) snprintf(err, errlen, "not valid JSON: trailing data at offset %zu", used);
                        return -EBADMSG;
                }
        *ret = o;
        return 0;
}

typedef struct LoadCtx {
        char *err;
        size_t errlen;
} LoadCtx;

_printf_(2, 3)
static int bad(LoadCtx *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

static int get_int(LoadCtx *c, json_object *o, const char *what, const char *key, bool required,
                   int64_t min, int64_t max, int64_t *ret) {
        json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                if (required)
                        return bad(c, "%s has no '%s'", what, key);
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return bad(c, "%s: '%s' is not an integer", what, key);
        errno = 0;
        x = json_object_get_int64(v);
        if (errno != 0 || x < min || x > max)
                return bad(c, "%s: '%s' is out of range (%" PRIi64 "..%" PRIi64 ")", what, key, min, max);
        *ret = x;
        return 1;
}

static int get_string(LoadCtx *c, json_object *o, const char *what, const char *key, bool required,
                      const char **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                if (required)
                        return bad(c, "%s has no '%s'", what, key);
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return bad(c, "%s: '%s' is not a string", what, key);
        if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return bad(c, "%s: '%s' contains a NUL byte", what, key);
        *ret = json_object_get_string(v);
        return 1;
}

static int get_dup_string(LoadCtx *c, json_object *o, const char *what, const char *key, char **ret) {
        const char *s = NULL;
        int r;

        r = get_string(c, o, what, key, false, &s);
        if (r <= 0)
                return r;
        if (strlen(s) > DEVDB_STRING_MAX)
                return bad(c, "%s: '%s' is longer than %d bytes", what, key, DEVDB_STRING_MAX);
        *ret = strdup(s);
        return *ret ? 1 : -ENOMEM;
}

static int get_enum(LoadCtx *c, json_object *o, const char *what, const char *key,
                    const char *const *names, size_t n, int *ret) {
        const char *s;
        int r, v;

        r = get_string(c, o, what, key, true, &s);
        if (r < 0)
                return r;
        v = devdb_lookup_name(names, n, s);
        if (v < 0)
                return bad(c, "%s: unknown %s '%s'", what, key, s);
        *ret = v;
        return 0;
}

static int get_clusters(LoadCtx *c, json_object *o, const char *what, const char *key,
                        uint16_t *out, size_t *ret_n) {
        json_object *a;
        size_t n;

        if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return bad(c, "%s: '%s' is missing or not an array", what, key);
        n = json_object_array_length(a);
        if (n > DEVDB_CLUSTERS_MAX)
                return bad(c, "%s: '%s' lists more than %d clusters", what, key, DEVDB_CLUSTERS_MAX);
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);
                int64_t x;

                if (!json_object_is_type(v, json_type_int))
                        return bad(c, "%s: '%s' holds a non-integer", what, key);
                x = json_object_get_int64(v);
                if (x < 0 || x > 0xffff)
                        return bad(c, "%s: '%s' holds %" PRIi64 ", not a cluster id", what, key, x);
                out[i] = (uint16_t) x;
        }
        *ret_n = n;
        return 0;
}

static int get_object_ref(LoadCtx *c, json_object *o, const char *what, const char *key, json_object **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                *ret = json_object_new_object();
                return *ret ? 0 : -ENOMEM;
        }
        if (!json_object_is_type(v, json_type_object))
                return bad(c, "%s: '%s' is not an object", what, key);
        *ret = json_object_get(v);
        return 0;
}

static int get_kwh(LoadCtx *c, json_object *o, const char *what, const char *key, double *ret) {
        json_object *v;
        double x;

        if (!json_object_object_get_ex(o, key, &v) ||
            !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
                return bad(c, "%s: 'energy_counter.%s' is missing or not a number", what, key);
        x = json_object_get_double(v);
        if (!isfinite(x) || x < 0)
                return bad(c, "%s: 'energy_counter.%s' is not a finite number >= 0", what, key);
        *ret = x;
        return 0;
}

/* Optional: {"offset": kWh, "last_device": kWh}. */
static int get_energy(LoadCtx *c, json_object *o, const char *what, Device *d) {
        json_object *e;
        int r;

        if (!json_object_object_get_ex(o, "energy_counter", &e) || json_object_is_type(e, json_type_null))
                return 0;
        if (!json_object_is_type(e, json_type_object))
                return bad(c, "%s: 'energy_counter' is not an object", what);
        r = get_kwh(c, e, what, "offset", &d->energy_offset);
        if (r >= 0)
                r = get_kwh(c, e, what, "last_device", &d->energy_last_device);
        if (r < 0)
                return r;
        d->energy_known = true;
        return 0;
}

static int device_from_json(LoadCtx *c, json_object *o, size_t index, Device **ret) {
        _cleanup_(device_freep) Device *d = NULL;
        char what[64];
        const char *s;
        json_object *v, *basic;
        int64_t x;
        uint64_t ieee;
        int r, e;

        (void) snprintf(what, sizeof(what), "device #%zu", index + 1);
        if (!json_object_is_type(o, json_type_object))
                return bad(c, "%s is not an object", what);
        r = get_string(c, o, what, "ieee", true, &s);
        if (r < 0)
                return r;
        if (devdb_parse_ieee(s, &ieee) < 0)
                return bad(c, "%s: 'ieee' is not an IEEE address: '%s'", what, s);
        (void) snprintf(what, sizeof(what), "device 0x%016" PRIx64, ieee);
        r = get_int(c, o, what, "nwk", true, 0, 0xffff, &x);
        if (r < 0)
                return r;
        r = devdb_device_new(&d, ieee, (uint16_t) x);
        if (r < 0)
                return r;

        r = get_string(c, o, what, "friendly_name", true, &s);
        if (r < 0)
                return r;
        if (!devdb_name_is_valid(s))
                return bad(c, "%s: 'friendly_name' is not a valid name", what);
        free(d->friendly_name);
        d->friendly_name = strdup(s);
        if (!d->friendly_name)
                return -ENOMEM;

        r = get_enum(c, o, what, "logical_type", logical_names, _DEV_LOGICAL_MAX, &e);
        if (r < 0)
                return r;
        d->logical_type = e;
        r = get_enum(c, o, what, "node_power", node_power_names, _DEV_NODE_POWER_MAX, &e);
        if (r < 0)
                return r;
        d->node_power = e;
        r = get_enum(c, o, what, "interview", interview_names, _DEV_INTERVIEW_MAX, &e);
        if (r < 0)
                return r;
        /* an interview under way when the file was written died with that process: it is pending
         * (zigbee-herdsman saves an interview in progress as pending for the same reason) */
        d->interview = e == DEV_INTERVIEW_IN_PROGRESS ? DEV_INTERVIEW_PENDING : e;
        r = get_int(c, o, what, "manufacturer_code", true, 0, 0xffff, &x);
        if (r < 0)
                return r;
        d->manufacturer_code = (uint16_t) x;

        if (!json_object_object_get_ex(o, "supported", &v) || !json_object_is_type(v, json_type_boolean))
                return bad(c, "%s: 'supported' is missing or not a boolean", what);
        d->supported = json_object_get_boolean(v);
        r = get_dup_string(c, o, what, "model", &d->model);
        if (r < 0)
                return r;
        r = get_int(c, o, what, "last_seen", false, 0, INT64_MAX / 1000, &x);
        if (r < 0)
                return r;
        if (r > 0)
                d->last_seen_usec = (uint64_t) x * 1000;

        r = get_energy(c, o, what, d);
        if (r < 0)
                return r;

        json_object_put(d->options);
        d->options = NULL;
        r = get_object_ref(c, o, what, "options", &d->options);
        if (r < 0)
                return r;
        json_object_put(d->state);
        d->state = NULL;
        r = get_object_ref(c, o, what, "state", &d->state);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(o, "basic", &basic) || !json_object_is_type(basic, json_type_object))
                return bad(c, "%s: 'basic' is missing or not an object", what);
        r = get_dup_string(c, basic, what, "model_id", &d->basic.model_id);
        if (r >= 0)
                r = get_dup_string(c, basic, what, "manufacturer_name", &d->basic.manufacturer_name);
        if (r >= 0)
                r = get_dup_string(c, basic, what, "date_code", &d->basic.date_code);
        if (r >= 0)
                r = get_dup_string(c, basic, what, "sw_build_id", &d->basic.sw_build_id);
        if (r < 0)
                return r;
        {
                static const char *const keys[] = { "power_source", "zcl_version", "app_version",
                                                    "stack_version", "hw_version" };
                int *fields[] = { &d->basic.power_source, &d->basic.zcl_version, &d->basic.app_version,
                                  &d->basic.stack_version, &d->basic.hw_version };

                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        r = get_int(c, basic, what, keys[i], false, 0, 255, &x);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                *fields[i] = (int) x;
                }
        }

        if (!json_object_object_get_ex(o, "endpoints", &v) || !json_object_is_type(v, json_type_array))
                return bad(c, "%s: 'endpoints' is missing or not an array", what);
        d->n_endpoints = json_object_array_length(v);
        if (d->n_endpoints > DEVDB_ENDPOINTS_MAX)
                return bad(c, "%s has more than %d endpoints", what, DEVDB_ENDPOINTS_MAX);
        if (d->n_endpoints > 0) {
                d->endpoints = calloc(d->n_endpoints, sizeof(DevEndpoint));
                if (!d->endpoints)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_endpoints; i++) {
                json_object *je = json_object_array_get_idx(v, i);
                DevEndpoint *ep = &d->endpoints[i];
                char ewhat[96];

                (void) snprintf(ewhat, sizeof(ewhat), "%s endpoint #%zu", what, i + 1);
                if (!json_object_is_type(je, json_type_object))
                        return bad(c, "%s is not an object", ewhat);
                r = get_int(c, je, ewhat, "id", true, 1, 255, &x);
                if (r < 0)
                        return r;
                ep->id = (uint8_t) x;
                for (size_t j = 0; j < i; j++)
                        if (d->endpoints[j].id == ep->id)
                                return bad(c, "%s: endpoint %u is listed twice", what, ep->id);
                r = get_int(c, je, ewhat, "profile", true, 0, 0xffff, &x);
                if (r < 0)
                        return r;
                ep->profile = (uint16_t) x;
                r = get_int(c, je, ewhat, "device_id", true, 0, 0xffff, &x);
                if (r < 0)
                        return r;
                ep->device_id = (uint16_t) x;
                r = get_clusters(c, je, ewhat, "in", ep->in, &ep->n_in);
                if (r < 0)
                        return r;
                r = get_clusters(c, je, ewhat, "out", ep->out, &ep->n_out);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

/* Checks the "format"/"version" header common to both files. */
static int check_header(LoadCtx *c, json_object *root, const char *format, const char *file) {
        const char *s;
        int64_t v;
        int r;

        if (!json_object_is_type(root, json_type_object))
                return bad(c, "the top level is not a JSON object");
        r = get_string(c, root, file, "format", true, &s);
        if (r < 0)
                return r;
        if (strcmp(s, format) != 0)
                return bad(c, "'format' is '%s', expected '%s'", s, format);
        r = get_int(c, root, file, "version", true, 1, INT32_MAX, &v);
        if (r < 0)
                return r;
        if (v > DEVDB_FORMAT_VERSION) {
                (void) snprintf(c->err, c->errlen,
                                "%s was written by a newer lumiplugd (format version %" PRIi64
                                ", this one reads up to %d); refusing to read or overwrite it",
                                file, v, DEVDB_FORMAT_VERSION);
                return -EPROTONOSUPPORT;
        }
        return 0;
}

static int devices_from_json(DevDb *db, LoadCtx *c, json_object *root) {
        json_object *list;
        size_t n;
        int r;

        r = check_header(c, root, "lumiplugd-devices", "devices.json");
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(root, "devices", &list) || !json_object_is_type(list, json_type_array))
                return bad(c, "'devices' is missing or not an array");
        n = json_object_array_length(list);
        if (n > DEVDB_DEVICES_MAX)
                return bad(c, "it lists %zu devices, more than the %d this build keeps", n, DEVDB_DEVICES_MAX);
        for (size_t i = 0; i < n; i++) {
                Device *d;

                r = device_from_json(c, json_object_array_get_idx(list, i), i, &d);
                if (r < 0)
                        return r;
                if (devdb_find_by_ieee(db, d->ieee)) {
                        r = bad(c, "device 0x%016" PRIx64 " is listed twice", d->ieee);
                        device_free(d);
                        return r;
                }
                if (devdb_find_by_name(db, d->friendly_name)) {
                        r = bad(c, "device 0x%016" PRIx64 ": friendly name '%s' is used twice", d->ieee,
                                d->friendly_name);
                        device_free(d);
                        return r;
                }
                r = devdb_insert(db, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int network_from_json(DevDb *db, LoadCtx *c, json_object *root) {
        DevNetwork n = {};
        const char *s;
        int64_t x;
        int r;

        r = check_header(c, root, "lumiplugd-network", "network.json");
        if (r < 0)
                return r;
        r = get_string(c, root, "network.json", "coordinator_ieee", false, &s);
        if (r < 0)
                return r;
        if (r > 0 && devdb_parse_ieee(s, &n.coordinator_ieee) < 0)
                return bad(c, "'coordinator_ieee' is not an IEEE address");
        r = get_int(c, root, "network.json", "pan_id", false, 0, 0xfffe, &x);
        if (r < 0)
                return r;
        if (r > 0) {
                n.valid = true;
                n.pan_id = (uint16_t) x;
                r = get_string(c, root, "network.json", "ext_pan_id", true, &s);
                if (r < 0)
                        return r;
                if (devdb_parse_ieee(s, &n.ext_pan_id) < 0)
                        return bad(c, "'ext_pan_id' is not 16 hex digits");
                r = get_string(c, root, "network.json", "network_key", true, &s);
                if (r < 0)
                        return r;
                if (hex_decode(s, n.network_key, sizeof(n.network_key)) < 0)
                        return bad(c, "'network_key' is not 32 hex digits");
                r = get_int(c, root, "network.json", "channel", true, 11, 26, &x);
                if (r < 0)
                        return r;
                n.channel = (uint8_t) x;
        }
        db->network = n;
        explicit_bzero(&n, sizeof(n));
        return 0;
}

/* Renames a corrupt file to <path>.corrupt-<UTC time>[-N]; the new name goes to ret. */
static int set_aside(DevDb *db, const char *path, char *ret, size_t retlen) {
        char stamp[32];
        struct tm tm;
        time_t now = time(NULL);
        _cleanup_close_ int dfd = -1;

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                (void) snprintf(stamp, sizeof(stamp), "%lld", (long long) now);
        for (unsigned i = 0; i < 1000; i++) {
                struct stat st;

                if (i == 0)
                        (void) snprintf(ret, retlen, "%s.corrupt-%s", path, stamp);
                else
                        (void) snprintf(ret, retlen, "%s.corrupt-%s-%u", path, stamp, i);
                if (lstat(ret, &st) < 0 && errno == ENOENT)
                        break;
        }
        if (rename(path, ret) < 0)
                return -errno;
        dfd = open(db->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

typedef int (*FromJsonFn)(DevDb *db, LoadCtx *c, json_object *root);
typedef void (*ClearFn)(DevDb *db);

static void devdb_clear_network(DevDb *db) {
        explicit_bzero(&db->network, sizeof(db->network));
}

static int load_one(DevDb *db, const char *path, const char *name, FromJsonFn from_json, ClearFn clear,
                    const char *loss) {
        _cleanup_free_ char *text = NULL, *tmp = NULL;
        _cleanup_json_ json_object *root = NULL;
        char why[512] = "", aside[4096];
        LoadCtx c = { .err = why, .errlen = sizeof(why) };
        size_t len = 0;
        int r;

        /* A leftover temp file is an interrupted save: never the truth, never read. */
        if (asprintf(&tmp, "%s.tmp", path) >= 0)
                (void) unlink(tmp);
        else
                tmp = NULL;

        r = devdb_read_file(path, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG)
                (void) snprintf(why, sizeof(why), "larger than %u bytes", DEVDB_FILE_MAX);
        else if (r < 0) {
                devdb_error(db, "Cannot read '%s': %s", path, strerror(-r));
                return r;
        } else
                r = devdb_parse_json(text, len, &root, why, sizeof(why));
        if (text)
                explicit_bzero(text, len);
        if (r >= 0)
                r = from_json(db, &c, root);
        if (r == -EPROTONOSUPPORT) {
                devdb_error(db, "'%s': %s", path, why);
                return r;
        }
        if (r == -ENOMEM) {
                clear(db);
                return r;
        }
        if (r >= 0)
                return 0;

        /* Corrupt: keep the evidence next to it and start without it. */
        clear(db);
        r = set_aside(db, path, aside, sizeof(aside));
        if (r < 0) {
                devdb_error(db, "'%s' is corrupt (%s) and could not be moved aside: %s", path, why,
                            strerror(-r));
                return r;
        }
        devdb_error(db, "%s is corrupt (%s); moved it to '%s' and starting with %s", name, why, aside, loss);
        return DEVDB_LOAD_RECOVERED;
}

int devdb_load(DevDb *db) {
        int r, result = 0;
        char first[sizeof(db->error)];

        devdb_clear(db);
        devdb_clear_network(db);
        db->error[0] = 0;
        first[0] = 0;

        r = load_one(db, db->devices_path, "devices.json", devices_from_json, devdb_clear,
                     "an empty device database");
        if (r < 0)
                return r;
        if (r == DEVDB_LOAD_RECOVERED) {
                result = r;
                memcpy(first, db->error, sizeof(first));
                /* Write a clean file now, so the corrupt one is never mistaken for the state again. */
                db->dirty = true;
        } else
                db->dirty = false;

        r = load_one(db, db->network_path, "network.json", network_from_json, devdb_clear_network,
                     "no stored network parameters (the coordinator's own are adopted)");
        if (r < 0) {
                devdb_clear(db);
                return r;
        }
        if (r == DEVDB_LOAD_RECOVERED) {
                result = r;
                db->network_dirty = true;
                if (first[0]) {
                        /* both files were corrupt: report both, devices.json first */
                        size_t a = strlen(first), b = strlen(db->error);

                        if (a + 2 + b >= sizeof(first))
                                b = sizeof(first) - a - 3;
                        memmove(db->error + a + 2, db->error, b);
                        memcpy(db->error, first, a);
                        memcpy(db->error + a, "; ", 2);
                        db->error[a + 2 + b] = 0;
                }
        } else {
                db->network_dirty = false;
                if (first[0])
                        memcpy(db->error, first, sizeof(first));
        }
        return result;
}
