/*
 * Plug properties driven by the model table: ZCL -> state, state -> JSON, set/get -> actions.
 * Conversion and rounding follow zigbee-herdsman-converters as used by zigbee2mqtt 2.14.1:
 * converters in src/lib/lumi.ts and src/converters, then postProcessConvertedFromZigbeeMessage()
 * (calibration, then precisionRound with the option or the default precision).
 *
 * Deliberate differences from Zigbee2MQTT (everything else is checked against its own code by
 * tests/unit/devices/test-z2m-*.py):
 *  - Basic 0xFF01 (char string TLV) is applied; Zigbee2MQTT ignores Basic for this model.
 *  - set checks types strictly (booleans must be JSON true/false, numbers JSON numbers) and
 *    overload_protection's range 100..2300; Zigbee2MQTT writes any truthy value / any number.
 *  - on_time/off_wait_time (accepted by Zigbee2MQTT's generic on_off converter) are unknown keys.
 *  - numeric non-values (NaN floats, all-ones integers) leave the state unchanged (booleans follow
 *    Zigbee2MQTT: anything but 1 is OFF/false).
 *  - only the TLV tags and 0xFCC0 attributes this plug sends are mapped; Zigbee2MQTT's
 *    model-independent mappings of other tags (0, 1, 240, ...) are not reproduced.
 *  - <name>_precision options must be integers 0..3 (Zigbee2MQTT takes any number).
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "devices/plug.h"
#include "util/js-number.h"
#include "util/macro.h"
#include "zigbee/lumi.h"
#include "util/json-text.h"
#include "util/json-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

/*
 * Numbers
 */

static double js_math_round(double x) {
        double r;

        if (!isfinite(x) || fabs(x) >= 4503599627370496.0)     /* 2^52: already an integer */
                return x;
        r = floor(x);
        /* x - floor(x) is exact here; ties go up as in Math.round */
        return (x - r >= 0.5) ? r + 1 : r;
}

double plug_round(double v, int precision) {
        double factor;

        /* Exact powers of ten; a table instead of pow() keeps libm out of the process (its pages
         * cost ~300 KiB of RSS, see tests/bench/REPORT.md). Precisions are 0..3 in practice. */
        static const double powers_of_ten[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
                                                1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };

        if (precision < 0)
                return v;
        if ((size_t) precision >= ELEMENTSOF(powers_of_ten))
                return v;       /* beyond double's 15-16 significant digits: nothing to round */
        factor = powers_of_ten[precision];
        return js_math_round(v * factor) / factor;
}

int plug_format_number(double v, char *buf, size_t size) {
        return js_number_format(v, buf, size);
}

json_object *plug_json_number(double v) {
        char buf[64];

        if (plug_format_number(v, buf, sizeof(buf)) < 0)
                return NULL;            /* NaN/Infinity: JSON null, as JSON.stringify does */
        return json_object_new_double_s(v, buf);
}

/*
 * Exposes and options as Zigbee2MQTT describes them (zhc src/lib/exposes.ts)
 */


static json_object *expose_base(const char *type, const char *name, const char *label, uint8_t access,
                                const char *description, const char *category) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "type", type) < 0 || json_add_string(o, "name", name) < 0 ||
            json_add_string(o, "label", label) < 0 || json_add(o, "access", json_object_new_int(access)) < 0 ||
            json_add_string(o, "property", name) < 0)
                return NULL;
        if (description && json_add_string(o, "description", description) < 0)
                return NULL;
        if (category && json_add_string(o, "category", category) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_object *property_expose(const PlugProperty *p) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        switch (p->kind) {
        case PROP_KIND_SWITCH: {
                _cleanup_(json_object_putp) json_object *f = NULL;
                json_object *features;

                f = expose_base("binary", p->name, p->label, p->access, p->description, p->category);
                if (!f || json_add_string(f, "value_on", "ON") < 0 || json_add_string(f, "value_off", "OFF") < 0 ||
                    json_add_string(f, "value_toggle", "TOGGLE") < 0)
                        return NULL;
                o = json_object_new_object();
                features = json_object_new_array();
                if (!o || json_add_string(o, "type", "switch") < 0 || json_add(o, "features", features) < 0 ||
                    json_object_array_add(features, f) < 0)
                        return NULL;
                f = NULL;
                return TAKE_PTR(o);
        }
        case PROP_KIND_BINARY:
                o = expose_base("binary", p->name, p->label, p->access, p->description, p->category);
                if (!o || json_add(o, "value_on", json_object_new_boolean(1)) < 0 ||
                    json_add(o, "value_off", json_object_new_boolean(0)) < 0)
                        return NULL;
                return TAKE_PTR(o);
        default:
                o = expose_base("numeric", p->name, p->label, p->access, p->description, p->category);
                if (!o)
                        return NULL;
                if (p->unit && json_add_string(o, "unit", p->unit) < 0)
                        return NULL;
                if (p->has_range && (json_add(o, "value_min", plug_json_number(p->min)) < 0 ||
                                     json_add(o, "value_max", plug_json_number(p->max)) < 0))
                        return NULL;
                return TAKE_PTR(o);
        }
}

json_object *plug_model_exposes_json(const PlugModel *m) {
        _cleanup_(json_object_putp) json_object *list = NULL;

        if (!m)
                return NULL;
        list = json_object_new_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < m->n_properties; i++) {
                json_object *e;

                if (!plug_property_is_exposed(&m->properties[i]))
                        continue;
                e = property_expose(&m->properties[i]);
                if (!e || json_object_array_add(list, e) < 0) {
                        json_object_put(e);
                        return NULL;
                }
        }
        return TAKE_PTR(list);
}

static char *label_from_name(const char *name) {
        char *s = strdup(name);

        if (!s)
                return NULL;
        for (char *c = s; *c; c++)
                if (*c == '_')
                        *c = ' ';
        if (s[0] >= 'a' && s[0] <= 'z')
                s[0] = (char) (s[0] - 'a' + 'A');
        return s;
}

static int options_add(json_object *list, const char *type, const char *name, const char *description,
                       bool precision, bool binary) {
        _cleanup_free_ char *label = label_from_name(name);
        json_object *o;

        if (!label)
                return -ENOMEM;
        o = expose_base(type, name, label, PROP_ACCESS_SET, description, NULL);
        if (!o)
                return -ENOMEM;
        if ((precision && (json_add(o, "value_min", json_object_new_int(0)) < 0 ||
                           json_add(o, "value_max", json_object_new_int(3)) < 0)) ||
            (!precision && !binary && json_add(o, "value_step", plug_json_number(0.1)) < 0) ||
            (binary && (json_add(o, "value_on", json_object_new_boolean(1)) < 0 ||
                        json_add(o, "value_off", json_object_new_boolean(0)) < 0)) ||
            json_object_array_add(list, o) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        return 0;
}

json_object *plug_model_options_json(const PlugModel *m) {
        _cleanup_(json_object_putp) json_object *list = NULL;
        char name[96], description[256];

        if (!m)
                return NULL;
        list = json_object_new_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < m->n_properties; i++) {
                const PlugProperty *p = &m->properties[i];

                if (p->option == PROP_OPTION_NONE)
                        continue;
                snprintf(name, sizeof(name), "%s_calibration", p->name);
                snprintf(description, sizeof(description),
                         "Calibrates the %s value (%s offset), takes into effect on next report of device.",
                         p->name, p->option == PROP_OPTION_PERCENT ? "percentual" : "absolute");
                if (options_add(list, "numeric", name, description, false, false) < 0)
                        return NULL;
                /* zhc lists no precision option where the default precision is 0 (it still honours one) */
                if (p->precision == 0)
                        continue;
                snprintf(name, sizeof(name), "%s_precision", p->name);
                snprintf(description, sizeof(description),
                         "Number of digits after decimal point for %s, takes into effect on next report of device. "
                         "This option can only decrease the precision, not increase it.", p->name);
                if (options_add(list, "numeric", name, description, true, false) < 0)
                        return NULL;
        }
        for (size_t i = 0; i < m->n_properties; i++)
                if (m->properties[i].kind == PROP_KIND_SWITCH) {
                        if (options_add(list, "binary", "state_action",
                                        "State actions will also be published as 'action' when true (default false).",
                                        false, true) < 0)
                                return NULL;
                        break;
                }
        return TAKE_PTR(list);
}

/*
 * Options
 */

static void set_err(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        if (!err || errlen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static const char *json_text(json_object *v) {
        return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null";
}

static bool json_is_number(json_object *v) {
        return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* A number, or a string that is entirely a number (Zigbee2MQTT's toNumber accepts both). */
static int json_to_number(json_object *v, double *ret) {
        if (json_is_number(v)) {
                double d = json_object_get_double(v);
                if (!isfinite(d))
                        return -EINVAL;
                *ret = d;
                return 0;
        }
        if (json_object_is_type(v, json_type_string)) {
                const char *s = json_object_get_string(v);
                char *end;
                double d;

                errno = 0;
                d = strtod(s, &end);
                if (end == s || errno != 0 || !isfinite(d))
                        return -EINVAL;
                while (isspace((unsigned char) *end))
                        end++;
                if (*end)
                        return -EINVAL;
                *ret = d;
                return 0;
        }
        return -EINVAL;
}

int plug_options_set(PlugOptions *o, const PlugModel *m, const char *key, json_object *value,
                     char *err, size_t errlen) {
        static const char suffix_cal[] = "_calibration", suffix_prec[] = "_precision";
        const char *suffix = NULL;
        size_t klen, plen;
        double d;

        if (!o || !m || !key)
                return -EINVAL;

        if (strcmp(key, "state_action") == 0) {
                if (!value) {
                        o->state_action = false;
                        return 0;
                }
                if (!json_object_is_type(value, json_type_boolean)) {
                        set_err(err, errlen, "option 'state_action' expects true or false, got %s", json_text(value));
                        return -EINVAL;
                }
                o->state_action = json_object_get_boolean(value);
                return 0;
        }

        klen = strlen(key);
        if (klen > strlen(suffix_cal) && strcmp(key + klen - strlen(suffix_cal), suffix_cal) == 0)
                suffix = suffix_cal;
        else if (klen > strlen(suffix_prec) && strcmp(key + klen - strlen(suffix_prec), suffix_prec) == 0)
                suffix = suffix_prec;
        if (suffix) {
                plen = klen - strlen(suffix);
                for (size_t i = 0; i < m->n_properties; i++) {
                        const PlugProperty *p = &m->properties[i];
                        PlugOptionValue *ov = &o->prop[i];

                        if (p->option == PROP_OPTION_NONE || strlen(p->name) != plen ||
                            strncmp(p->name, key, plen) != 0)
                                continue;

                        if (suffix == suffix_cal) {
                                if (!value) {
                                        ov->has_calibration = false;
                                        ov->calibration = 0;
                                        return 0;
                                }
                                if (json_to_number(value, &d) < 0) {
                                        set_err(err, errlen, "option '%s' expects a number, got %s", key, json_text(value));
                                        return -EINVAL;
                                }
                                ov->has_calibration = true;
                                ov->calibration = d;
                                return 0;
                        }

                        if (!value) {
                                ov->has_precision = false;
                                return 0;
                        }
                        if (json_to_number(value, &d) < 0 || d != floor(d)) {
                                set_err(err, errlen, "option '%s' expects an integer 0..3, got %s", key, json_text(value));
                                return -EINVAL;
                        }
                        if (d < 0 || d > 3) {
                                set_err(err, errlen, "option '%s' must be between 0 and 3, got %s", key, json_text(value));
                                return -ERANGE;
                        }
                        ov->has_precision = true;
                        ov->precision = (int) d;
                        return 0;
                }
        }

        set_err(err, errlen, "unknown option '%s' for %s", key, m->model);
        return -ENOENT;
}

int plug_options_set_string(PlugOptions *o, const PlugModel *m, const char *key, const char *value,
                            char *err, size_t errlen) {
        _cleanup_(json_object_putp) json_object *v = NULL;

        if (!value)
                return -EINVAL;
        v = json_tokener_parse(value);
        if (!v || json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array)) {
                json_object_put(v);
                v = json_object_new_string(value);
                if (!v)
                        return -ENOMEM;
        }
        return plug_options_set(o, m, key, v, err, errlen);
}

/*
 * ZCL -> state
 */

static const PlugOptionValue no_option = {};

static int convert_value(const PlugProperty *p, const PlugOptionValue *ov, const ZclValue *v, double *ret) {
        double d;
        int r, precision;

        if (p->kind != PROP_KIND_NUMERIC) {
                /* Zigbee2MQTT tests `value === 1`: anything else is OFF/false */
                if (v->kind == ZCL_KIND_BOOL) {
                        *ret = v->b ? 1 : 0;
                        return 0;
                }
                if (v->kind == ZCL_KIND_UINT || v->kind == ZCL_KIND_INT) {
                        *ret = (v->kind == ZCL_KIND_UINT ? v->u == 1 : v->i == 1) ? 1 : 0;
                        return 0;
                }
                return -EINVAL;
        }

        r = zcl_value_to_double(v, &d);
        if (r < 0)
                return r;
        d = d * p->scale + p->offset;

        if (p->option != PROP_OPTION_NONE) {
                double cal = ov->has_calibration ? ov->calibration : 0;
                if (p->option == PROP_OPTION_PERCENT)
                        cal = (d * cal) / 100;  /* linear calibration: +/- percent */
                d = d + cal;
        }
        precision = ov->has_precision && p->option != PROP_OPTION_NONE ? ov->precision : p->precision;
        *ret = plug_round(d, precision);
        return 0;
}

static void store(PlugState *s, size_t i, double v, PlugUpdate *u) {
        s->raw[i] = v;
        s->value[i] = v;
        s->known[i] = true;
        if (u)
                u->converted |= (uint32_t) 1 << i;
}

/* The received value itself (store() put the converted one there, right for non-numeric kinds). */
static void store_raw(PlugState *s, size_t i, const ZclValue *v) {
        double d;

        if (zcl_value_to_double(v, &d) >= 0)
                s->raw[i] = d;
}

static const PlugOptionValue *option_of(const PlugOptions *o, size_t i) {
        return o ? &o->prop[i] : &no_option;
}

static void note_state_action(const PlugModel *m, const PlugOptions *o, size_t i, double v, PlugUpdate *u) {
        if (u && o && o->state_action && m->properties[i].kind == PROP_KIND_SWITCH)
                u->action = v != 0 ? "on" : "off";
}

/* A model's rows by TLV tag (a report carries ~15 tags; comparing each with every row was most
 * of the decode). Computed once per model; models are static tables. */
#define TAG_NONE 0xff

typedef struct TagIndex {
        const PlugModel *model;
        uint8_t first[256];                     /* row index of the first row with the tag */
        uint8_t next[PLUG_PROPERTIES_MAX];      /* the next row with the same tag */
} TagIndex;

/* The slot of a small per-model cache (tag_index(), key_order()): an array of n structs of the
 * given size whose first member is the model. Returns the slot holding m (*ret_found true), else
 * the slot to compute m in: the first free one, or the first when all are taken (more models than
 * slots: recomputed there). */
static void *model_cache_slot(void *slots, size_t n, size_t size, const PlugModel *m, bool *ret_found) {
        for (size_t i = 0; i < n; i++) {
                const PlugModel **model = (const PlugModel **) ((char *) slots + i * size);

                if (*model == m || !*model) {
                        *ret_found = *model == m;
                        return model;
                }
        }
        *ret_found = false;
        return slots;
}

_Static_assert(offsetof(TagIndex, model) == 0, "model_cache_slot() finds the model first");

static const TagIndex *tag_index(const PlugModel *m) {
        static TagIndex cache[4];
        bool found;
        TagIndex *t = model_cache_slot(cache, ELEMENTSOF(cache), sizeof(cache[0]), m, &found);

        if (found)
                return t;
        memset(t->first, TAG_NONE, sizeof(t->first));
        memset(t->next, TAG_NONE, sizeof(t->next));
        for (size_t i = m->n_properties; i-- > 0; ) {   /* backwards: the chains end up in table order */
                int16_t tag = m->properties[i].tlv_tag;

                if (tag < 0 || tag > 255)
                        continue;
                t->next[i] = t->first[tag];
                t->first[tag] = (uint8_t) i;
        }
        t->model = m;
        return t;
}

int plug_state_apply_tlv(PlugState *s, const PlugModel *m, const PlugOptions *o,
                         const uint8_t *blob, size_t len, bool ff01, PlugUpdate *u) {
        LumiTlv tlv[LUMI_TLV_MAX];
        const TagIndex *tags;
        size_t n = 0;
        int r;

        if (!s || !m || m->n_properties > PLUG_PROPERTIES_MAX)
                return -EINVAL;
        r = lumi_tlv_decode(ff01 ? LUMI_TLV_FF01 : LUMI_TLV_F7, blob, len, tlv, ELEMENTSOF(tlv), &n);
        if (r == -EBADMSG)
                return r;

        tags = tag_index(m);
        for (size_t k = 0; k < n; k++) {
                if (!tlv[k].has_value)
                        continue;
                /* the rows with this tag, in table order */
                for (uint8_t i = tags->first[tlv[k].tag]; i != TAG_NONE; i = tags->next[i]) {
                        const PlugProperty *p = &m->properties[i];
                        double v;

                        if (convert_value(p, option_of(o, i), &tlv[k].value, &v) < 0)
                                continue;
                        store(s, i, v, u);
                        store_raw(s, i, &tlv[k].value);
                        /* fz.on_off's state_action only applies to On/Off cluster reports */
                }
        }
        return 0;
}

int plug_state_apply_attribute(PlugState *s, const PlugModel *m, const PlugOptions *o,
                               uint16_t cluster, const ZclAttrRecord *rec, PlugUpdate *u) {
        if (!s || !m || !rec)
                return -EINVAL;
        if (rec->status != ZCL_STATUS_SUCCESS)
                return 0;

        if (cluster == ZCL_CLUSTER_LUMI && rec->id == 0x00F7) {
                if (rec->value.kind != ZCL_KIND_BYTES)
                        return 0;
                return plug_state_apply_tlv(s, m, o, rec->value.bytes.data, rec->value.bytes.len, false, u);
        }
        if ((cluster == ZCL_CLUSTER_LUMI || cluster == ZCL_CLUSTER_BASIC) && rec->id == 0xFF01) {
                /* Only the string-typed form carries tagged records; a 0x4C struct is positional
                 * and has no known meaning for this plug, so it is ignored. */
                if (rec->value.kind != ZCL_KIND_BYTES)
                        return 0;
                return plug_state_apply_tlv(s, m, o, rec->value.bytes.data, rec->value.bytes.len, true, u);
        }

        for (size_t i = 0; i < m->n_properties; i++) {
                const PlugProperty *p = &m->properties[i];
                double v;

                if (p->source != PROP_SOURCE_ATTRIBUTE || p->cluster != cluster || p->attribute != rec->id)
                        continue;
                if (convert_value(p, option_of(o, i), &rec->value, &v) < 0)
                        continue;
                store(s, i, v, u);
                store_raw(s, i, &rec->value);
                if (cluster == ZCL_CLUSTER_ON_OFF)
                        note_state_action(m, o, i, v, u);
        }
        return 0;
}

int plug_state_apply_frame(PlugState *s, const PlugModel *m, const PlugOptions *o,
                           uint8_t endpoint, uint16_t cluster, const uint8_t *zcl, size_t len,
                           uint8_t lqi, PlugUpdate *ret) {
        PlugUpdate u = {};
        ZclHeader h;
        ZclCursor c;
        int r, hl;

        if (!s || !m || (!zcl && len > 0))
                return -EINVAL;

        for (size_t i = 0; i < m->n_properties; i++)
                if (m->properties[i].source == PROP_SOURCE_LQI) {
                        s->value[i] = lqi;
                        s->known[i] = true;
                }

        hl = zcl_header_decode(zcl, len, &h);
        if (hl < 0) {
                if (ret)
                        *ret = u;
                return hl;
        }
        r = 0;
        if (zcl_header_is_global(&h) &&
            (h.command == ZCL_CMD_REPORT_ATTRIBUTES || h.command == ZCL_CMD_READ_ATTRIBUTES_RSP)) {
                c = zcl_cursor(zcl + hl, len - (size_t) hl);
                for (;;) {
                        ZclAttrRecord rec;

                        if (h.command == ZCL_CMD_REPORT_ATTRIBUTES)
                                r = zcl_parse_report_attributes_next(&c, &rec);
                        else
                                r = zcl_parse_read_attributes_rsp_next(&c, &rec);
                        if (r <= 0)
                                break;
                        r = plug_state_apply_attribute(s, m, o, cluster, &rec, &u);
                        if (r < 0)
                                break;
                }
                if (r > 0)
                        r = 0;
        }
        if (ret)
                *ret = u;
        return r;
}

int plug_property_convert(const PlugModel *m, const PlugOptions *o, size_t index, double raw, double *ret) {
        const PlugProperty *p;
        ZclValue v;

        if (!m || !ret || index >= m->n_properties || !isfinite(raw))
                return -EINVAL;
        p = &m->properties[index];
        if (p->kind != PROP_KIND_NUMERIC)
                return -EINVAL;
        v = zcl_value_single((float) raw);
        v.f = raw;              /* the double itself, not its float32 rounding */
        return convert_value(p, option_of(o, index), &v, ret);
}

int plug_state_apply_confirmed(PlugState *s, const PlugModel *m, const PlugAction *a) {
        const PlugProperty *p;
        ZclValue v;
        double d;
        int r;

        if (!s || !m || !a || a->index >= m->n_properties)
                return -EINVAL;
        if (!a->requested_known)
                return 0;
        p = &m->properties[a->index];
        if (p->kind == PROP_KIND_NUMERIC) {
                v = zcl_value_single((float) a->requested);
                v.f = a->requested;
        } else
                v = zcl_value_bool(a->requested != 0);
        r = convert_value(p, &no_option, &v, &d);
        if (r < 0)
                return r;
        store(s, a->index, d, NULL);
        return 0;
}

/*
 * state <-> JSON
 */

static json_object *value_json(const PlugProperty *p, double v) {
        switch (p->kind) {
        case PROP_KIND_SWITCH:
                return json_object_new_string(v != 0 ? "ON" : "OFF");
        case PROP_KIND_BINARY:
                return json_object_new_boolean(v != 0);
        default:
                return plug_json_number(v);
        }
}

json_object *plug_state_to_json(const PlugState *s, const PlugModel *m, bool fill_nulls, const PlugUpdate *u) {
        _cleanup_(json_object_putp) json_object *obj = NULL;

        if (!s || !m)
                return NULL;
        obj = json_object_new_object();
        if (!obj)
                return NULL;

        for (size_t i = 0; i < m->n_properties; i++) {
                const PlugProperty *p = &m->properties[i];
                json_object *v;

                if (s->known[i]) {
                        v = value_json(p, s->value[i]);
                        if (!v && p->kind != PROP_KIND_NUMERIC)
                                return NULL;
                } else if (fill_nulls && plug_property_is_exposed(p))
                        v = NULL;
                else
                        continue;
                if (json_object_object_add(obj, p->name, v) < 0) {
                        json_object_put(v);
                        return NULL;
                }
        }
        if (fill_nulls && m->ota) {
                /* Zigbee2MQTT's Home Assistant mock for the update entity, completed by
                 * adjustMessageBeforePublish() because no latest_version is known */
                _cleanup_(json_object_putp) json_object *up = json_object_new_object();
                if (!up || json_object_object_add(up, "state", NULL) < 0 ||
                    json_add(up, "installed_version", json_object_new_int(-1)) < 0 ||
                    json_add(up, "latest_version", json_object_new_int(-1)) < 0 ||
                    json_object_object_add(obj, "update", up) < 0)
                        return NULL;
                up = NULL;
        }
        if (u && u->action) {
                json_object *v = json_object_new_string(u->action);
                if (!v || json_object_object_add(obj, "action", v) < 0) {
                        json_object_put(v);
                        return NULL;
                }
        }
        return TAKE_PTR(obj);
}

/* The order in which plug_state_format_json() writes a model's keys: its rows, "action" (index
 * n_properties) and "update" (n_properties + 1) sorted by strcmp, as disc_json_sorted() sorts.
 * Computed once per model; models are static tables. */
typedef struct KeyOrder {
        const PlugModel *model;
        uint8_t order[PLUG_PROPERTIES_MAX + 2];
        bool plain[PLUG_PROPERTIES_MAX];        /* the row's name needs no escaping and is short */
} KeyOrder;
#define PLAIN_KEY_MAX 60

static const char *order_key(const PlugModel *m, size_t i) {
        return i < m->n_properties ? m->properties[i].name : i == m->n_properties ? "action" : "update";
}

_Static_assert(offsetof(KeyOrder, model) == 0, "model_cache_slot() finds the model first");

static const KeyOrder *key_order(const PlugModel *m) {
        static KeyOrder cache[4];
        size_t n = m->n_properties + 2;
        bool found;
        KeyOrder *k = model_cache_slot(cache, ELEMENTSOF(cache), sizeof(cache[0]), m, &found);

        if (found)
                return k;
        for (size_t i = 0; i < n; i++) {        /* insertion sort: a few dozen keys */
                size_t j = i;

                while (j > 0 && strcmp(order_key(m, k->order[j - 1]), order_key(m, i)) > 0) {
                        k->order[j] = k->order[j - 1];
                        j--;
                }
                k->order[j] = (uint8_t) i;
        }
        for (size_t i = 0; i < m->n_properties; i++) {
                k->plain[i] = strlen(m->properties[i].name) <= PLAIN_KEY_MAX;
                for (const char *c = m->properties[i].name; *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == '"' || *c == '\\')
                                k->plain[i] = false;
        }
        k->model = m;
        return k;
}

static void write_value(JsonText *t, const PlugProperty *p, double v) {
        switch (p->kind) {
        case PROP_KIND_SWITCH:
                json_text_puts(t, v != 0 ? "\"ON\"" : "\"OFF\"");
                break;
        case PROP_KIND_BINARY:
                json_text_puts(t, v != 0 ? "true" : "false");
                break;
        default:
                json_text_number(t, v);
                break;
        }
}

int plug_state_format_json(const PlugState *s, const PlugModel *m, bool fill_nulls, const PlugUpdate *u,
                           const char *update_json, JsonText *t) {
        const KeyOrder *keys;
        bool first = true;

        if (!s || !m || !t || m->n_properties > PLUG_PROPERTIES_MAX)
                return -EINVAL;
        keys = key_order(m);
        json_text_add(t, "{", 1);
        for (size_t k = 0; k < m->n_properties + 2; k++) {
                size_t i = keys->order[k];
                const char *key = order_key(m, i);
                bool action = u && u->action, update = update_json || (fill_nulls && m->ota);

                if (i < m->n_properties) {
                        const PlugProperty *p = &m->properties[i];

                        /* a row named like an added key is replaced by it, as json_object_object_add does */
                        if ((action && strcmp(key, "action") == 0) || (update && strcmp(key, "update") == 0))
                                continue;
                        if (!s->known[i] && !(fill_nulls && plug_property_is_exposed(p)))
                                continue;
                        if (keys->plain[i]) {   /* ,"key": in one piece */
                                size_t len = strlen(key);
                                char piece[PLAIN_KEY_MAX + 4];

                                piece[0] = ',';
                                piece[1] = '"';
                                memcpy(piece + 2, key, len);
                                piece[len + 2] = '"';
                                piece[len + 3] = ':';
                                json_text_add(t, piece + first, len + 4 - first);
                        } else {
                                json_text_add(t, first ? "" : ",", first ? 0 : 1);
                                json_text_string(t, key, strlen(key));
                                json_text_add(t, ":", 1);
                        }
                        if (s->known[i])
                                write_value(t, p, s->value[i]);
                        else
                                json_text_add(t, "null", 4);
                } else if (i == m->n_properties) {
                        if (!action)
                                continue;
                        json_text_add(t, first ? "" : ",", first ? 0 : 1);
                        json_text_puts(t, "\"action\":");
                        json_text_string(t, u->action, strlen(u->action));
                } else {
                        if (!update)
                                continue;
                        json_text_add(t, first ? "" : ",", first ? 0 : 1);
                        json_text_puts(t, "\"update\":");
                        /* Zigbee2MQTT's Home Assistant mock of the update entity (plug_state_to_json) */
                        json_text_puts(t, update_json ?: "{\"installed_version\":-1,\"latest_version\":-1,\"state\":null}");
                }
                first = false;
        }
        json_text_add(t, "}", 1);
        return t->error;
}

int plug_state_from_json(PlugState *s, const PlugModel *m, json_object *obj) {
        if (!s || !m)
                return -EINVAL;
        if (!json_object_is_type(obj, json_type_object))
                return -EINVAL;

        for (size_t i = 0; i < m->n_properties; i++) {
                const PlugProperty *p = &m->properties[i];
                json_object *v;

                if (!json_object_object_get_ex(obj, p->name, &v) || !v)
                        continue;
                switch (p->kind) {
                case PROP_KIND_SWITCH:
                        if (!json_object_is_type(v, json_type_string))
                                continue;
                        if (strcmp(json_object_get_string(v), "ON") == 0)
                                store(s, i, 1, NULL);
                        else if (strcmp(json_object_get_string(v), "OFF") == 0)
                                store(s, i, 0, NULL);
                        break;
                case PROP_KIND_BINARY:
                        if (json_object_is_type(v, json_type_boolean))
                                store(s, i, json_object_get_boolean(v) ? 1 : 0, NULL);
                        break;
                default:
                        if (json_is_number(v) && isfinite(json_object_get_double(v)))
                                store(s, i, json_object_get_double(v), NULL);
                        break;
                }
        }
        return 0;
}

/*
 * Requests
 */

static void add_error(PlugRequest *req, const char *key, int error, const char *fmt, ...) _printf_(4, 5);
static void add_error(PlugRequest *req, const char *key, int error, const char *fmt, ...) {
        PlugRequestError *e;
        va_list ap;

        if (req->n_errors >= ELEMENTSOF(req->errors))
                return;
        e = &req->errors[req->n_errors++];
        snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
        e->error = error;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
}

/* JSON.parse semantics: the whole text is one JSON value, surrounded by optional whitespace. */
static int parse_json_text(const char *payload, size_t len, json_object **ret) {
        _cleanup_free_ char *copy = NULL;
        struct json_tokener *tok;
        json_object *v;
        size_t end;

        if (memchr(payload, 0, len))
                return -EINVAL;
        copy = strndup(payload, len);
        if (!copy)
                return -ENOMEM;

        tok = json_tokener_new_ex(32);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        v = json_tokener_parse_ex(tok, copy, (int) len + 1);     /* the NUL ends numbers and literals */
        if (!v && json_tokener_get_error(tok) != json_tokener_success) {
                json_tokener_free(tok);
                return -EINVAL;
        }
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        for (; end < len; end++)
                if (!isspace((unsigned char) copy[end])) {
                        json_object_put(v);
                        return -EINVAL;
                }
        *ret = v;               /* may be NULL for the literal null */
        return 0;
}

static bool is_state_word(const char *s) {
        return strcasecmp(s, "on") == 0 || strcasecmp(s, "off") == 0 || strcasecmp(s, "toggle") == 0;
}

static uint8_t resolve_endpoint(const PlugProperty *p, const PlugEndpoint *eps, size_t n_eps) {
        if (p->endpoint != PROP_ENDPOINT_FIRST_WITH_CLUSTER)
                return p->endpoint;
        for (size_t e = 0; e < n_eps; e++)
                for (size_t c = 0; c < eps[e].n_in_clusters; c++)
                        if (eps[e].in_clusters[c] == p->cluster)
                                return eps[e].id;
        return 1;
}

static PlugAction *new_action(PlugRequest *req, const PlugModel *m, size_t index, const char *key) {
        PlugAction *a;

        if (req->n_actions >= ELEMENTSOF(req->actions)) {
                add_error(req, key, -E2BIG, "too many properties in one request (at most %d)", PLUG_REQUEST_MAX);
                return NULL;
        }
        a = &req->actions[req->n_actions++];
        *a = (PlugAction) {
                .property = &m->properties[index],
                .index = index,
                .cluster = m->properties[index].cluster,
                .manufacturer = m->properties[index].manufacturer,
                .attribute = m->properties[index].attribute,
        };
        return a;
}

static void parse_set_key(const PlugModel *m, const char *key, json_object *v, const PlugState *current,
                          const PlugEndpoint *eps, size_t n_eps, PlugRequest *req) {
        const PlugProperty *p;
        PlugAction *a;
        size_t i;

        p = plug_model_property(m, key, &i);
        if (!p) {
                add_error(req, key, -ENOENT, "unknown property '%s' for %s", key, m->model);
                return;
        }
        if (!(p->access & PROP_ACCESS_SET)) {
                add_error(req, key, -EACCES, "property '%s' is read-only", key);
                return;
        }

        switch (p->kind) {
        case PROP_KIND_SWITCH: {
                const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
                uint8_t cmd;

                if (!s || !is_state_word(s)) {
                        add_error(req, key, -EINVAL, "property '%s' expects ON, OFF or TOGGLE, got %s", key, json_text(v));
                        return;
                }
                a = new_action(req, m, i, key);
                if (!a)
                        return;
                cmd = strcasecmp(s, "off") == 0 ? 0x00 : strcasecmp(s, "on") == 0 ? 0x01 : 0x02;
                a->kind = PLUG_ACTION_COMMAND;
                a->command = cmd;
                a->want_default_rsp = true;     /* On/Off commands have no response of their own */
                a->endpoint = resolve_endpoint(p, eps, n_eps);
                if (cmd == 0x02) {
                        a->requested_known = current && current->known[i];
                        a->requested = a->requested_known ? (current->value[i] != 0 ? 0 : 1) : 0;
                } else {
                        a->requested_known = true;
                        a->requested = cmd;
                }
                return;
        }
        case PROP_KIND_BINARY:
                if (!json_object_is_type(v, json_type_boolean)) {
                        add_error(req, key, -EINVAL, "property '%s' expects true or false, got %s", key, json_text(v));
                        return;
                }
                a = new_action(req, m, i, key);
                if (!a)
                        return;
                a->kind = PLUG_ACTION_WRITE;
                a->endpoint = resolve_endpoint(p, eps, n_eps);
                a->value = zcl_value_bool(json_object_get_boolean(v));
                a->value.type = p->zcl_type;
                a->requested_known = true;
                a->requested = json_object_get_boolean(v) ? 1 : 0;
                return;
        case PROP_KIND_NUMERIC: {
                double d;
                char lo[32], hi[32];

                if (!json_is_number(v) || !isfinite(json_object_get_double(v))) {
                        add_error(req, key, -EINVAL, "property '%s' expects a number, got %s", key, json_text(v));
                        return;
                }
                d = json_object_get_double(v);
                if (p->has_range && (d < p->min || d > p->max)) {
                        (void) plug_format_number(p->min, lo, sizeof(lo));
                        (void) plug_format_number(p->max, hi, sizeof(hi));
                        add_error(req, key, -ERANGE, "property '%s' must be between %s and %s, got %s",
                                  key, lo, hi, json_text(v));
                        return;
                }
                if (p->zcl_type != ZCL_TYPE_SINGLE) {
                        add_error(req, key, -EOPNOTSUPP, "property '%s' cannot be written", key);
                        return;
                }
                a = new_action(req, m, i, key);
                if (!a)
                        return;
                a->kind = PLUG_ACTION_WRITE;
                a->endpoint = resolve_endpoint(p, eps, n_eps);
                a->value = zcl_value_single((float) d);
                a->requested_known = true;
                a->requested = d;
                return;
        }
        }
}

static void parse_get_key(const PlugModel *m, const char *key, const PlugEndpoint *eps, size_t n_eps,
                          PlugRequest *req) {
        const PlugProperty *p;
        PlugAction *a;
        size_t i;

        p = plug_model_property(m, key, &i);
        if (!p) {
                add_error(req, key, -ENOENT, "unknown property '%s' for %s", key, m->model);
                return;
        }
        if (!(p->access & PROP_ACCESS_GET) || p->source != PROP_SOURCE_ATTRIBUTE) {
                add_error(req, key, -EACCES, "property '%s' cannot be read (get)", key);
                return;
        }
        a = new_action(req, m, i, key);
        if (!a)
                return;
        a->kind = PLUG_ACTION_READ;
        a->endpoint = resolve_endpoint(p, eps, n_eps);
}

typedef void (*KeyFn)(const PlugModel *m, const char *key, json_object *v, const PlugState *current,
                      const PlugEndpoint *eps, size_t n_eps, PlugRequest *req);

static void get_key_adapter(const PlugModel *m, const char *key, json_object *v, const PlugState *current,
                            const PlugEndpoint *eps, size_t n_eps, PlugRequest *req) {
        parse_get_key(m, key, eps, n_eps, req);
}

static int parse_request(const PlugModel *m, const char *key, const char *payload, size_t len,
                         const PlugState *current, const PlugEndpoint *eps, size_t n_eps,
                         PlugRequest *req, KeyFn fn) {
        _cleanup_(json_object_putp) json_object *obj = NULL;
        int r;

        if (!m || !req || (!payload && len > 0))
                return -EINVAL;
        *req = (PlugRequest) {};
        if (!payload)
                payload = "";

        r = parse_json_text(payload, len, &obj);
        if (r == -ENOMEM)
                return r;

        if (key) {
                /* /set/<key>: the JSON value, or else the raw text */
                if (r < 0) {
                        if (memchr(payload, 0, len)) {
                                add_error(req, key, -EINVAL, "payload contains a NUL byte");
                                return -EINVAL;
                        }
                        obj = json_object_new_string_len(payload, (int) len);
                        if (!obj)
                                return -ENOMEM;
                }
                fn(m, key, obj, current, eps, n_eps, req);
                return 0;
        }

        if (r < 0) {
                /* a bare state word, as Home Assistant's switch sends it */
                _cleanup_free_ char *word = strndup(payload, len);
                if (!word)
                        return -ENOMEM;
                if (strlen(word) == len && is_state_word(word)) {
                        _cleanup_(json_object_putp) json_object *s = json_object_new_string(word);
                        if (!s)
                                return -ENOMEM;
                        fn(m, "state", s, current, eps, n_eps, req);
                        return 0;
                }
                add_error(req, NULL, -EINVAL, "payload is not valid JSON");
                return -EINVAL;
        }
        if (!json_object_is_type(obj, json_type_object)) {
                add_error(req, NULL, -EINVAL, "payload must be a JSON object, got %s", json_text(obj));
                return -EINVAL;
        }
        if (json_object_object_length(obj) > PLUG_REQUEST_MAX) {
                add_error(req, NULL, -E2BIG, "too many properties in one request (at most %d)", PLUG_REQUEST_MAX);
                return -EINVAL;
        }
        json_object_object_foreach(obj, k, v)
                fn(m, k, v, current, eps, n_eps, req);
        return 0;
}

int plug_parse_set(const PlugModel *m, const char *key, const char *payload, size_t len,
                   const PlugState *current, const PlugEndpoint *eps, size_t n_eps, PlugRequest *ret) {
        return parse_request(m, key, payload, len, current, eps, n_eps, ret, parse_set_key);
}

int plug_parse_get(const PlugModel *m, const char *key, const char *payload, size_t len,
                   const PlugEndpoint *eps, size_t n_eps, PlugRequest *ret) {
        return parse_request(m, key, payload, len, NULL, eps, n_eps, ret, get_key_adapter);
}

int plug_action_build_frame(const PlugAction *a, uint8_t tsn, uint8_t *buf, size_t size) {
        ZclHeader h;
        ZclAttrRecord rec;

        if (!a || !buf)
                return -EINVAL;
        switch (a->kind) {
        case PLUG_ACTION_COMMAND:
                h = zcl_header_cluster_request(a->manufacturer, tsn, a->command, a->want_default_rsp);
                return zcl_build_cluster_command(&h, NULL, 0, buf, size);
        case PLUG_ACTION_WRITE:
                h = zcl_header_global_request(a->manufacturer, tsn);
                rec = (ZclAttrRecord) { .id = a->attribute, .value = a->value };
                return zcl_build_write_attributes(&h, &rec, 1, buf, size);
        case PLUG_ACTION_READ:
                h = zcl_header_global_request(a->manufacturer, tsn);
                return zcl_build_read_attributes(&h, &a->attribute, 1, buf, size);
        default:
                return -EINVAL;
        }
}

int plug_action_response_status(const PlugAction *a, const uint8_t *zcl, size_t len, uint8_t *ret_status) {
        ZclHeader h;
        ZclCursor c;
        ZclAttrRecord rec;
        uint8_t cmd, status;
        int hl, r;

        if (!a || !ret_status || (!zcl && len > 0))
                return -EINVAL;
        hl = zcl_header_decode(zcl, len, &h);
        if (hl < 0)
                return hl;
        if (!zcl_header_is_global(&h))
                return -ENOMSG;
        c = zcl_cursor(zcl + hl, len - (size_t) hl);

        if (h.command == ZCL_CMD_DEFAULT_RSP) {
                uint8_t expected = a->kind == PLUG_ACTION_COMMAND ? a->command :
                                   a->kind == PLUG_ACTION_WRITE ? ZCL_CMD_WRITE_ATTRIBUTES : ZCL_CMD_READ_ATTRIBUTES;
                r = zcl_parse_default_rsp(c.p, c.left, &cmd, &status);
                if (r < 0)
                        return r;
                /* for a global request only an error status makes sense as a Default Response */
                if (cmd != expected || (a->kind != PLUG_ACTION_COMMAND && status == ZCL_STATUS_SUCCESS))
                        return -ENOMSG;
                *ret_status = status;
                return 0;
        }

        if (a->kind == PLUG_ACTION_WRITE && h.command == ZCL_CMD_WRITE_ATTRIBUTES_RSP) {
                /* failures are listed per attribute; a lone SUCCESS means all were written */
                status = ZCL_STATUS_SUCCESS;
                while ((r = zcl_parse_write_attributes_rsp_next(&c, &rec)) > 0)
                        if (rec.status != ZCL_STATUS_SUCCESS && rec.id == a->attribute)
                                status = rec.status;
                if (r < 0)
                        return r;
                *ret_status = status;
                return 0;
        }

        if (a->kind == PLUG_ACTION_READ && h.command == ZCL_CMD_READ_ATTRIBUTES_RSP) {
                while ((r = zcl_parse_read_attributes_rsp_next(&c, &rec)) > 0)
                        if (rec.id == a->attribute) {
                                *ret_status = rec.status;
                                return 0;
                        }
                return r < 0 ? r : -ENOMSG;
        }
        return -ENOMSG;
}
