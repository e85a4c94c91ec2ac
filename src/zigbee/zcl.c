/*
 * ZCL frame codec: header, attribute values, foundation commands. See zcl.h.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "zigbee/zcl.h"

static uint64_t get_le(const uint8_t *p, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

int zcl_header_decode(const uint8_t *buf, size_t len, ZclHeader *ret) {
        ZclHeader h = {};
        size_t n = 0;

        if (!buf || !ret)
                return -EINVAL;
        if (len < 3)
                return -EBADMSG;

        h.frame_control = buf[n++];
        if (h.frame_control & ZCL_FC_MANUFACTURER) {
                if (len < 5)
                        return -EBADMSG;
                h.manufacturer = (uint16_t) get_le(buf + n, 2);
                n += 2;
        }
        h.tsn = buf[n++];
        h.command = buf[n++];

        *ret = h;
        return (int) n;
}

int zcl_header_encode(const ZclHeader *h, uint8_t *buf, size_t size) {
        size_t n = 0;
        size_t need = (h->frame_control & ZCL_FC_MANUFACTURER) ? 5 : 3;

        if (size < need)
                return -ENOBUFS;
        buf[n++] = h->frame_control;
        if (h->frame_control & ZCL_FC_MANUFACTURER) {
                put_le(buf + n, h->manufacturer, 2);
                n += 2;
        }
        buf[n++] = h->tsn;
        buf[n++] = h->command;
        return (int) n;
}

int zcl_type_fixed_size(uint8_t type) {
        switch (type) {
        case ZCL_TYPE_NO_DATA:
        case ZCL_TYPE_UNKNOWN:
                return 0;
        case 0x08 ... 0x0F:                     /* dataN */
                return type - 0x08 + 1;
        case ZCL_TYPE_BOOL:
                return 1;
        case 0x18 ... 0x1F:                     /* bitmapN */
                return type - 0x18 + 1;
        case 0x20 ... 0x27:                     /* uintN */
                return type - 0x20 + 1;
        case 0x28 ... 0x2F:                     /* intN */
                return type - 0x28 + 1;
        case ZCL_TYPE_ENUM8:
                return 1;
        case ZCL_TYPE_ENUM16:
                return 2;
        case ZCL_TYPE_SEMI:
                return 2;
        case ZCL_TYPE_SINGLE:
                return 4;
        case ZCL_TYPE_DOUBLE:
                return 8;
        case ZCL_TYPE_TIME_OF_DAY:
        case ZCL_TYPE_DATE:
        case ZCL_TYPE_UTC:
                return 4;
        case ZCL_TYPE_CLUSTER_ID:
        case ZCL_TYPE_ATTRIBUTE_ID:
                return 2;
        case ZCL_TYPE_BACNET_OID:
                return 4;
        case ZCL_TYPE_IEEE:
                return 8;
        case ZCL_TYPE_KEY128:
                return 16;
        case ZCL_TYPE_OCTET_STR:
        case ZCL_TYPE_CHAR_STR:
        case ZCL_TYPE_LONG_OCTET_STR:
        case ZCL_TYPE_LONG_CHAR_STR:
        case ZCL_TYPE_ARRAY:
        case ZCL_TYPE_STRUCT:
        case ZCL_TYPE_SET:
        case ZCL_TYPE_BAG:
                return -EMSGSIZE;
        default:
                return -EOPNOTSUPP;
        }
}

bool zcl_type_is_analog(uint8_t type) {
        /* ZCL: reportable change is present only for analog types (integers, floats, time). */
        return (type >= 0x20 && type <= 0x2F) || (type >= 0x38 && type <= 0x3A) ||
               (type >= 0xE0 && type <= 0xE2);
}

const char *zcl_type_name(uint8_t type) {
        switch (type) {
        case ZCL_TYPE_NO_DATA: return "no data";
        case 0x08 ... 0x0F: return "data";
        case ZCL_TYPE_BOOL: return "boolean";
        case 0x18 ... 0x1F: return "bitmap";
        case 0x20 ... 0x27: return "unsigned integer";
        case 0x28 ... 0x2F: return "signed integer";
        case ZCL_TYPE_ENUM8: case ZCL_TYPE_ENUM16: return "enum";
        case ZCL_TYPE_SEMI: return "semi-precision float";
        case ZCL_TYPE_SINGLE: return "single-precision float";
        case ZCL_TYPE_DOUBLE: return "double-precision float";
        case ZCL_TYPE_OCTET_STR: return "octet string";
        case ZCL_TYPE_CHAR_STR: return "character string";
        case ZCL_TYPE_LONG_OCTET_STR: return "long octet string";
        case ZCL_TYPE_LONG_CHAR_STR: return "long character string";
        case ZCL_TYPE_ARRAY: return "array";
        case ZCL_TYPE_STRUCT: return "structure";
        case ZCL_TYPE_SET: return "set";
        case ZCL_TYPE_BAG: return "bag";
        case ZCL_TYPE_TIME_OF_DAY: return "time of day";
        case ZCL_TYPE_DATE: return "date";
        case ZCL_TYPE_UTC: return "UTC time";
        case ZCL_TYPE_CLUSTER_ID: return "cluster id";
        case ZCL_TYPE_ATTRIBUTE_ID: return "attribute id";
        case ZCL_TYPE_BACNET_OID: return "BACnet OID";
        case ZCL_TYPE_IEEE: return "IEEE address";
        case ZCL_TYPE_KEY128: return "128-bit key";
        case ZCL_TYPE_UNKNOWN: return "unknown";
        default: return "reserved";
        }
}

/* Half floats are converted with exact bit arithmetic on the double's representation, not
 * ldexp/frexp/lrint: the daemon then needs nothing from libm, whose mapped pages cost ~300 KiB of
 * RSS (tests/bench/REPORT.md). */
static double power_of_two(int k) {
        /* 2^k for -1022 <= k <= 1023 (normal doubles) */
        uint64_t bits = (uint64_t) (k + 1023) << 52;
        double v;

        memcpy(&v, &bits, sizeof(v));
        return v;
}

static long round_half_even(double x) {
        /* 0 <= x < 2^31 */
        long r = (long) x;
        double f = x - (double) r;

        if (f > 0.5 || (f == 0.5 && (r & 1)))
                r++;
        return r;
}

static double half_to_double(uint16_t h) {
        int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
        double v;

        if (exp == 0)
                v = mant * 0x1p-24;
        else if (exp == 31)
                v = mant ? NAN : INFINITY;
        else
                v = (mant | 0x400) * power_of_two(exp - 25);
        return sign ? -v : v;
}

static uint16_t double_to_half(double d) {
        uint16_t sign = signbit(d) ? 0x8000 : 0;
        uint64_t bits;
        int e;
        double m;

        d = fabs(d);
        if (isnan(d))
                return 0x7E00;
        if (isinf(d) || d >= 65520.0)
                return sign | 0x7C00;
        if (d < 0x1p-14) {
                /* subnormal: units of 2^-24 */
                return sign | (uint16_t) round_half_even(d * 0x1p24);
        }
        /* d = m * 2^e with 0.5 <= m < 1: d is a normal double here, so read e from its exponent
         * field and give m the exponent of 0.5 */
        memcpy(&bits, &d, sizeof(bits));
        e = (int) ((bits >> 52) & 0x7FF) - 1022;
        bits = (bits & ~(UINT64_C(0x7FF) << 52)) | (UINT64_C(1022) << 52);
        memcpy(&m, &bits, sizeof(m));
        long mant = round_half_even(m * 2048.0);        /* 11 significant bits */
        if (mant == 2048) {
                mant = 1024;
                e++;
        }
        return sign | (uint16_t) (((e + 14) << 10) | (mant & 0x3FF));
}

static int decode_aggregate(uint8_t type, const uint8_t *buf, size_t len, ZclValue *v) {
        size_t n = 0;

        if (type == ZCL_TYPE_STRUCT) {
                if (len < 2)
                        return -EBADMSG;
                uint16_t count = (uint16_t) get_le(buf, 2);
                n = 2;
                v->kind = ZCL_KIND_STRUCT;
                v->items.count = count;
                v->items.element_type = 0;
                if (count == 0xFFFF) {
                        v->invalid = true;
                        v->items.count = 0;
                        count = 0;
                }
                for (uint16_t k = 0; k < count; k++) {
                        ZclValue e;
                        int r;

                        if (n >= len)
                                return -EBADMSG;
                        r = zcl_value_decode(buf[n], buf + n + 1, len - n - 1, &e);
                        if (r < 0)
                                return r;
                        n += 1 + (size_t) r;
                }
                v->items.data = buf + 2;
                v->items.len = n - 2;
                return (int) n;
        }

        /* array, set, bag: element type, count, elements */
        if (len < 3)
                return -EBADMSG;
        uint8_t et = buf[0];
        uint16_t count = (uint16_t) get_le(buf + 1, 2);
        n = 3;
        v->kind = ZCL_KIND_ARRAY;
        v->items.element_type = et;
        v->items.count = count;
        if (count == 0xFFFF) {
                v->invalid = true;
                v->items.count = 0;
                count = 0;
        }
        for (uint16_t k = 0; k < count; k++) {
                ZclValue e;
                int r = zcl_value_decode(et, buf + n, len - n, &e);
                if (r < 0)
                        return r;
                /* Elements of a type without data (0x00, 0xFF) take no bytes: the rest are the same,
                 * and walking 65534 of them per 3 input bytes would let a small frame burn CPU. */
                if (r == 0)
                        break;
                n += (size_t) r;
        }
        v->items.data = buf + 3;
        v->items.len = n - 3;
        return (int) n;
}

int zcl_value_decode(uint8_t type, const uint8_t *buf, size_t len, ZclValue *ret) {
        ZclValue v = { .type = type };
        int size;

        if (!ret || (!buf && len > 0))
                return -EINVAL;

        size = zcl_type_fixed_size(type);
        if (size == -EOPNOTSUPP)
                return size;

        if (size >= 0) {
                if ((size_t) size > len)
                        return -EBADMSG;
                uint64_t raw = size <= 8 ? get_le(buf, (size_t) size) : 0;

                switch (type) {
                case ZCL_TYPE_NO_DATA:
                case ZCL_TYPE_UNKNOWN:
                        v.kind = ZCL_KIND_NONE;
                        break;
                case ZCL_TYPE_BOOL:
                        v.kind = ZCL_KIND_BOOL;
                        v.b = raw == 1;
                        v.invalid = raw > 1;    /* 0xFF is the non-value; others are not booleans */
                        break;
                case 0x20 ... 0x27: {
                        v.kind = ZCL_KIND_UINT;
                        v.u = raw;
                        uint64_t max = size == 8 ? UINT64_MAX : ((uint64_t) 1 << (8 * size)) - 1;
                        v.invalid = raw == max;
                        break;
                }
                case 0x28 ... 0x2F: {
                        v.kind = ZCL_KIND_INT;
                        unsigned bits = 8u * (unsigned) size;
                        if (bits < 64 && (raw >> (bits - 1)) & 1)
                                raw |= ~(uint64_t) 0 << bits;
                        v.i = (int64_t) raw;
                        v.invalid = bits < 64 ? v.i == -((int64_t) 1 << (bits - 1)) : v.i == INT64_MIN;
                        break;
                }
                case ZCL_TYPE_ENUM8:
                case ZCL_TYPE_ENUM16:
                        v.kind = ZCL_KIND_UINT;
                        v.u = raw;
                        v.invalid = raw == (type == ZCL_TYPE_ENUM8 ? 0xFFu : 0xFFFFu);
                        break;
                case ZCL_TYPE_SEMI:
                        v.kind = ZCL_KIND_FLOAT;
                        v.f = half_to_double((uint16_t) raw);
                        v.invalid = isnan(v.f);
                        break;
                case ZCL_TYPE_SINGLE: {
                        uint32_t u32 = (uint32_t) raw;
                        float f;
                        memcpy(&f, &u32, sizeof(f));
                        v.kind = ZCL_KIND_FLOAT;
                        v.f = (double) f;
                        v.invalid = isnan(f);
                        break;
                }
                case ZCL_TYPE_DOUBLE: {
                        double d;
                        memcpy(&d, &raw, sizeof(d));
                        v.kind = ZCL_KIND_FLOAT;
                        v.f = d;
                        v.invalid = isnan(d);
                        break;
                }
                case ZCL_TYPE_KEY128:
                        v.kind = ZCL_KIND_BYTES;
                        v.bytes.data = buf;
                        v.bytes.len = 16;
                        break;
                default:                        /* data, bitmap, time, ids, IEEE */
                        v.kind = ZCL_KIND_UINT;
                        v.u = raw;
                        break;
                }
                *ret = v;
                return size;
        }

        /* variable size */
        switch (type) {
        case ZCL_TYPE_OCTET_STR:
        case ZCL_TYPE_CHAR_STR:
        case ZCL_TYPE_LONG_OCTET_STR:
        case ZCL_TYPE_LONG_CHAR_STR: {
                /* A 1-byte length (2 for the long strings); all ones is the non-value, no bytes follow. */
                size_t hl = type == ZCL_TYPE_LONG_OCTET_STR || type == ZCL_TYPE_LONG_CHAR_STR ? 2 : 1;
                if (len < hl)
                        return -EBADMSG;
                size_t l = (size_t) get_le(buf, hl);
                v.kind = ZCL_KIND_BYTES;
                v.bytes.data = buf + hl;
                if (l == (hl == 1 ? 0xFFu : 0xFFFFu)) {
                        v.invalid = true;
                        v.bytes.len = 0;
                        *ret = v;
                        return (int) hl;
                }
                if (l > len - hl)
                        return -EBADMSG;
                v.bytes.len = l;
                *ret = v;
                return (int) (hl + l);
        }
        default: {
                int r = decode_aggregate(type, buf, len, &v);
                if (r < 0)
                        return r;
                *ret = v;
                return r;
        }
        }
}

int zcl_value_next_element(const ZclValue *agg, size_t *pos, ZclValue *ret) {
        int r;

        if (!agg || !pos || !ret)
                return -EINVAL;
        if (agg->kind != ZCL_KIND_ARRAY && agg->kind != ZCL_KIND_STRUCT)
                return -EINVAL;
        if (*pos >= agg->items.len)
                return 0;

        if (agg->kind == ZCL_KIND_STRUCT) {
                const uint8_t *p = agg->items.data + *pos;
                size_t left = agg->items.len - *pos;

                r = zcl_value_decode(p[0], p + 1, left - 1, ret);
                if (r < 0)
                        return r;
                *pos += 1 + (size_t) r;
                return 1;
        }

        r = zcl_value_decode(agg->items.element_type, agg->items.data + *pos, agg->items.len - *pos, ret);
        if (r < 0)
                return r;
        if (r == 0)             /* zero-size elements: nothing more to walk */
                *pos = agg->items.len;
        else
                *pos += (size_t) r;
        return 1;
}

int zcl_value_to_double(const ZclValue *v, double *ret) {
        if (!v || !ret)
                return -EINVAL;
        switch (v->kind) {
        case ZCL_KIND_BOOL:
                if (v->invalid)
                        return -ERANGE;
                *ret = v->b ? 1 : 0;
                return 0;
        case ZCL_KIND_UINT:
                if (v->invalid)
                        return -ERANGE;
                *ret = (double) v->u;
                return 0;
        case ZCL_KIND_INT:
                if (v->invalid)
                        return -ERANGE;
                *ret = (double) v->i;
                return 0;
        case ZCL_KIND_FLOAT:
                if (v->invalid || !isfinite(v->f))
                        return -ERANGE;
                *ret = v->f;
                return 0;
        default:
                return -EINVAL;
        }
}

ZclValue zcl_value_bool(bool b) {
        return (ZclValue) { .type = ZCL_TYPE_BOOL, .kind = ZCL_KIND_BOOL, .b = b };
}

ZclValue zcl_value_uint(uint8_t type, uint64_t u) {
        return (ZclValue) { .type = type, .kind = ZCL_KIND_UINT, .u = u };
}

ZclValue zcl_value_int(uint8_t type, int64_t i) {
        return (ZclValue) { .type = type, .kind = ZCL_KIND_INT, .i = i };
}

ZclValue zcl_value_single(float f) {
        return (ZclValue) { .type = ZCL_TYPE_SINGLE, .kind = ZCL_KIND_FLOAT, .f = (double) f };
}

ZclValue zcl_value_bytes(uint8_t type, const uint8_t *data, size_t len) {
        return (ZclValue) { .type = type, .kind = ZCL_KIND_BYTES, .bytes = { .data = data, .len = len } };
}

int zcl_value_encode(const ZclValue *v, uint8_t *buf, size_t size) {
        int fixed;

        if (!v || (!buf && size > 0))
                return -EINVAL;

        fixed = zcl_type_fixed_size(v->type);
        if (fixed == -EOPNOTSUPP)
                return fixed;

        if (fixed >= 0) {
                size_t n = (size_t) fixed;
                uint64_t raw;

                if (size < n)
                        return -ENOBUFS;
                switch (v->type) {
                case ZCL_TYPE_NO_DATA:
                case ZCL_TYPE_UNKNOWN:
                        return 0;
                case ZCL_TYPE_SEMI:
                        raw = double_to_half(v->f);
                        break;
                case ZCL_TYPE_SINGLE: {
                        float f = (float) v->f;
                        uint32_t u32;
                        memcpy(&u32, &f, sizeof(u32));
                        raw = u32;
                        break;
                }
                case ZCL_TYPE_DOUBLE:
                        memcpy(&raw, &v->f, sizeof(raw));
                        break;
                case ZCL_TYPE_KEY128:
                        if (v->kind != ZCL_KIND_BYTES || v->bytes.len != 16)
                                return -EINVAL;
                        memcpy(buf, v->bytes.data, 16);
                        return 16;
                default:
                        switch (v->kind) {
                        case ZCL_KIND_BOOL:
                                raw = v->b ? 1 : 0;
                                break;
                        case ZCL_KIND_UINT:
                                raw = v->u;
                                break;
                        case ZCL_KIND_INT:
                                raw = (uint64_t) v->i;
                                break;
                        default:
                                return -EINVAL;
                        }
                        /* refuse values that do not fit the type instead of truncating them */
                        if (n < 8) {
                                uint64_t mask = ((uint64_t) 1 << (8 * n)) - 1;
                                if (v->kind == ZCL_KIND_INT) {
                                        int64_t lo = -((int64_t) 1 << (8 * n - 1)), hi = ((int64_t) 1 << (8 * n - 1)) - 1;
                                        if (v->i < lo || v->i > hi)
                                                return -ERANGE;
                                } else if (raw > mask)
                                        return -ERANGE;
                                raw &= mask;
                        }
                        break;
                }
                put_le(buf, raw, n);
                return (int) n;
        }

        switch (v->type) {
        case ZCL_TYPE_OCTET_STR:
        case ZCL_TYPE_CHAR_STR:
                if (v->kind != ZCL_KIND_BYTES || v->bytes.len > 254)
                        return -EINVAL;
                if (size < 1 + v->bytes.len)
                        return -ENOBUFS;
                buf[0] = (uint8_t) v->bytes.len;
                if (v->bytes.len)
                        memcpy(buf + 1, v->bytes.data, v->bytes.len);
                return (int) (1 + v->bytes.len);
        case ZCL_TYPE_LONG_OCTET_STR:
        case ZCL_TYPE_LONG_CHAR_STR:
                if (v->kind != ZCL_KIND_BYTES || v->bytes.len > 0xFFFE)
                        return -EINVAL;
                if (size < 2 + v->bytes.len)
                        return -ENOBUFS;
                put_le(buf, v->bytes.len, 2);
                if (v->bytes.len)
                        memcpy(buf + 2, v->bytes.data, v->bytes.len);
                return (int) (2 + v->bytes.len);
        case ZCL_TYPE_STRUCT:
                if (v->kind != ZCL_KIND_STRUCT)
                        return -EINVAL;
                if (size < 2 + v->items.len)
                        return -ENOBUFS;
                put_le(buf, v->items.count, 2);
                if (v->items.len)
                        memcpy(buf + 2, v->items.data, v->items.len);
                return (int) (2 + v->items.len);
        default:                /* array, set, bag */
                if (v->kind != ZCL_KIND_ARRAY)
                        return -EINVAL;
                if (size < 3 + v->items.len)
                        return -ENOBUFS;
                buf[0] = v->items.element_type;
                put_le(buf + 1, v->items.count, 2);
                if (v->items.len)
                        memcpy(buf + 3, v->items.data, v->items.len);
                return (int) (3 + v->items.len);
        }
}

ZclHeader zcl_header_global_request(uint16_t manufacturer, uint8_t tsn) {
        /* herdsman sets "disable default response" on every global request it sends */
        return (ZclHeader) {
                .frame_control = ZCL_FC_DISABLE_DEFAULT_RSP | (manufacturer ? ZCL_FC_MANUFACTURER : 0),
                .manufacturer = manufacturer,
                .tsn = tsn,
        };
}

ZclHeader zcl_header_cluster_request(uint16_t manufacturer, uint8_t tsn, uint8_t command, bool want_default_rsp) {
        return (ZclHeader) {
                .frame_control = ZCL_FC_CLUSTER_SPECIFIC |
                                 (want_default_rsp ? 0 : ZCL_FC_DISABLE_DEFAULT_RSP) |
                                 (manufacturer ? ZCL_FC_MANUFACTURER : 0),
                .manufacturer = manufacturer,
                .tsn = tsn,
                .command = command,
        };
}

ZclHeader zcl_header_response_to(const ZclHeader *request) {
        /* a global response: opposite direction, same TSN and manufacturer code, no default rsp */
        return (ZclHeader) {
                .frame_control = ZCL_FC_DISABLE_DEFAULT_RSP |
                                 ((request->frame_control & ZCL_FC_SERVER_TO_CLIENT) ? 0 : ZCL_FC_SERVER_TO_CLIENT) |
                                 (request->frame_control & ZCL_FC_MANUFACTURER),
                .manufacturer = request->manufacturer,
                .tsn = request->tsn,
        };
}

typedef struct Writer {
        uint8_t *buf;
        size_t size, n;
        int error;
} Writer;

static void w_u8(Writer *w, uint8_t v) {
        if (w->error)
                return;
        if (w->n + 1 > w->size) {
                w->error = -ENOBUFS;
                return;
        }
        w->buf[w->n++] = v;
}

static void w_u16(Writer *w, uint16_t v) {
        w_u8(w, (uint8_t) v);
        w_u8(w, (uint8_t) (v >> 8));
}

static void w_value(Writer *w, const ZclValue *v) {
        int r;

        if (w->error)
                return;
        r = zcl_value_encode(v, w->buf + w->n, w->size - w->n);
        if (r < 0)
                w->error = r;
        else
                w->n += (size_t) r;
}

static int w_header(Writer *w, const ZclHeader *h, uint8_t command, bool global) {
        ZclHeader hh = *h;
        int r;

        if (!w->buf)
                return -EINVAL;
        hh.command = command;
        if (global)
                hh.frame_control &= (uint8_t) ~0x03;
        r = zcl_header_encode(&hh, w->buf, w->size);
        if (r < 0)
                return r;
        w->n = (size_t) r;
        return 0;
}

static int w_done(Writer *w) {
        return w->error ? w->error : (int) w->n;
}

int zcl_build_read_attributes(const ZclHeader *h, const uint16_t *ids, size_t n, uint8_t *buf, size_t size) {
        Writer w = { buf, size, 0, 0 };
        int r = w_header(&w, h, ZCL_CMD_READ_ATTRIBUTES, true);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                w_u16(&w, ids[i]);
        return w_done(&w);
}

int zcl_build_read_attributes_rsp(const ZclHeader *h, const ZclAttrRecord *recs, size_t n, uint8_t *buf, size_t size) {
        Writer w = { buf, size, 0, 0 };
        int r = w_header(&w, h, ZCL_CMD_READ_ATTRIBUTES_RSP, true);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                w_u16(&w, recs[i].id);
                w_u8(&w, recs[i].status);
                if (recs[i].status == ZCL_STATUS_SUCCESS) {
                        w_u8(&w, recs[i].value.type);
                        w_value(&w, &recs[i].value);
                }
        }
        return w_done(&w);
}

static int build_attr_values(const ZclHeader *h, uint8_t command, const ZclAttrRecord *recs, size_t n,
                             uint8_t *buf, size_t size) {
        Writer w = { buf, size, 0, 0 };
        int r = w_header(&w, h, command, true);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                w_u16(&w, recs[i].id);
                w_u8(&w, recs[i].value.type);
                w_value(&w, &recs[i].value);
        }
        return w_done(&w);
}

int zcl_build_write_attributes(const ZclHeader *h, const ZclAttrRecord *recs, size_t n, uint8_t *buf, size_t size) {
        return build_attr_values(h, ZCL_CMD_WRITE_ATTRIBUTES, recs, n, buf, size);
}

int zcl_build_report_attributes(const ZclHeader *h, const ZclAttrRecord *recs, size_t n, uint8_t *buf, size_t size) {
        return build_attr_values(h, ZCL_CMD_REPORT_ATTRIBUTES, recs, n, buf, size);
}

int zcl_build_write_attributes_rsp(const ZclHeader *h, const ZclAttrRecord *recs, size_t n, uint8_t *buf, size_t size) {
        Writer w = { buf, size, 0, 0 };
        bool all_ok = true;
        int r = w_header(&w, h, ZCL_CMD_WRITE_ATTRIBUTES_RSP, true);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (recs[i].status != ZCL_STATUS_SUCCESS)
                        all_ok = false;
        if (all_ok)
                w_u8(&w, ZCL_STATUS_SUCCESS);
        else
                for (size_t i = 0; i < n; i++)
                        if (recs[i].status != ZCL_STATUS_SUCCESS) {
                                w_u8(&w, recs[i].status);
                                w_u16(&w, recs[i].id);
                        }
        return w_done(&w);
}

int zcl_build_configure_reporting(const ZclHeader *h, const ZclReportingConfig *cfgs, size_t n,
                                  uint8_t *buf, size_t size) {
        Writer w = { buf, size, 0, 0 };
        int r = w_header(&w, h, ZCL_CMD_CONFIGURE_REPORTING, true);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (cfgs[i].direction != 0)
                        return -EINVAL;
                w_u8(&w, 0);
                w_u16(&w, cfgs[i].id);
                w_u8(&w, cfgs[i].type);
                w_u16(&w, cfgs[i].min_interval);
                w_u16(&w, cfgs[i].max_interval);
                if (zcl_type_is_analog(cfgs[i].type)) {
                        ZclValue change = cfgs[i].reportable_change;
                        change.type = cfgs[i].type;
                        w_value(&w, &change);
                }
        }
        return w_done(&w);
}

int zcl_build_default_rsp(const ZclHeader *h, uint8_t command, uint8_t status, uint8_t *buf, size_t size) {
        Writer w = { buf, size, 0, 0 };
        int r = w_header(&w, h, ZCL_CMD_DEFAULT_RSP, true);

        if (r < 0)
                return r;
        w_u8(&w, command);
        w_u8(&w, status);
        return w_done(&w);
}

int zcl_build_cluster_command(const ZclHeader *h, const uint8_t *payload, size_t len, uint8_t *buf, size_t size) {
        ZclHeader hh = *h;
        int r;

        if (!buf || (!payload && len > 0))
                return -EINVAL;
        hh.frame_control = (uint8_t) ((hh.frame_control & ~0x03) | ZCL_FC_CLUSTER_SPECIFIC);
        r = zcl_header_encode(&hh, buf, size);
        if (r < 0)
                return r;
        if ((size_t) r + len > size)
                return -ENOBUFS;
        if (len)
                memcpy(buf + r, payload, len);
        return r + (int) len;
}

static int c_u8(ZclCursor *c, uint8_t *ret) {
        if (c->left < 1)
                return -EBADMSG;
        *ret = c->p[0];
        c->p++;
        c->left--;
        return 0;
}

static int c_u16(ZclCursor *c, uint16_t *ret) {
        if (c->left < 2)
                return -EBADMSG;
        *ret = (uint16_t) get_le(c->p, 2);
        c->p += 2;
        c->left -= 2;
        return 0;
}

static int c_value(ZclCursor *c, uint16_t id, uint8_t type, ZclValue *ret) {
        int r;

        /* Lumi quirk (as zha-device-handlers copes with it): the TLV blob in 0x00F7 / 0xFF01 sent as
         * an octet/char string may carry a length byte that is one too large (runs one past the
         * frame) or one too small (leaves a single stray byte that cannot start another record).
         * In both cases the blob is taken to run to the end of the frame. */
        if ((id == 0x00F7 || id == 0xFF01) &&
            (type == ZCL_TYPE_OCTET_STR || type == ZCL_TYPE_CHAR_STR) && c->left >= 1) {
                size_t declared = c->p[0], avail = c->left - 1;

                if (declared != 0xFF && (declared == avail + 1 || declared + 1 == avail)) {
                        *ret = (ZclValue) {
                                .type = type, .kind = ZCL_KIND_BYTES,
                                .bytes = { .data = c->p + 1, .len = avail },
                        };
                        c->p += c->left;
                        c->left = 0;
                        return 0;
                }
        }

        r = zcl_value_decode(type, c->p, c->left, ret);
        if (r < 0)
                return r;
        c->p += r;
        c->left -= (size_t) r;
        return 0;
}

int zcl_parse_read_attributes_next(ZclCursor *c, uint16_t *ret_id) {
        if (c->left == 0)
                return 0;
        if (c_u16(c, ret_id) < 0)
                return -EBADMSG;
        return 1;
}

int zcl_parse_read_attributes_rsp_next(ZclCursor *c, ZclAttrRecord *ret) {
        ZclAttrRecord rec = {};
        uint8_t type;
        int r;

        if (c->left == 0)
                return 0;
        if (c_u16(c, &rec.id) < 0 || c_u8(c, &rec.status) < 0)
                return -EBADMSG;
        if (rec.status == ZCL_STATUS_SUCCESS) {
                if (c_u8(c, &type) < 0)
                        return -EBADMSG;
                r = c_value(c, rec.id, type, &rec.value);
                if (r < 0)
                        return r;
        }
        *ret = rec;
        return 1;
}

static int parse_attr_value_next(ZclCursor *c, ZclAttrRecord *ret) {
        ZclAttrRecord rec = {};
        uint8_t type;
        int r;

        if (c->left == 0)
                return 0;
        if (c_u16(c, &rec.id) < 0 || c_u8(c, &type) < 0)
                return -EBADMSG;
        r = c_value(c, rec.id, type, &rec.value);
        if (r < 0)
                return r;
        *ret = rec;
        return 1;
}

int zcl_parse_write_attributes_next(ZclCursor *c, ZclAttrRecord *ret) {
        return parse_attr_value_next(c, ret);
}

int zcl_parse_report_attributes_next(ZclCursor *c, ZclAttrRecord *ret) {
        return parse_attr_value_next(c, ret);
}

int zcl_parse_write_attributes_rsp_next(ZclCursor *c, ZclAttrRecord *ret) {
        ZclAttrRecord rec = {};

        if (c->left == 0)
                return 0;
        if (c_u8(c, &rec.status) < 0)
                return -EBADMSG;
        /* the "all succeeded" form is a lone SUCCESS byte without attribute id */
        if (rec.status == ZCL_STATUS_SUCCESS && c->left == 0) {
                *ret = rec;
                return 1;
        }
        if (c_u16(c, &rec.id) < 0)
                return -EBADMSG;
        *ret = rec;
        return 1;
}

int zcl_parse_configure_reporting_next(ZclCursor *c, ZclReportingConfig *ret) {
        ZclReportingConfig cfg = {};
        int r;

        if (c->left == 0)
                return 0;
        if (c_u8(c, &cfg.direction) < 0 || c_u16(c, &cfg.id) < 0)
                return -EBADMSG;
        if (cfg.direction == 1) {               /* timeout period only */
                if (c_u16(c, &cfg.max_interval) < 0)
                        return -EBADMSG;
                *ret = cfg;
                return 1;
        }
        if (cfg.direction != 0)
                return -EBADMSG;
        if (c_u8(c, &cfg.type) < 0 || c_u16(c, &cfg.min_interval) < 0 || c_u16(c, &cfg.max_interval) < 0)
                return -EBADMSG;
        if (zcl_type_is_analog(cfg.type)) {
                r = c_value(c, cfg.id, cfg.type, &cfg.reportable_change);
                if (r < 0)
                        return r;
        }
        *ret = cfg;
        return 1;
}

int zcl_parse_configure_reporting_rsp_next(ZclCursor *c, ZclAttrRecord *ret, uint8_t *ret_direction) {
        ZclAttrRecord rec = {};
        uint8_t direction = 0;

        if (c->left == 0)
                return 0;
        if (c_u8(c, &rec.status) < 0)
                return -EBADMSG;
        if (rec.status == ZCL_STATUS_SUCCESS && c->left == 0) {
                *ret = rec;
                if (ret_direction)
                        *ret_direction = 0;
                return 1;
        }
        if (c_u8(c, &direction) < 0 || c_u16(c, &rec.id) < 0)
                return -EBADMSG;
        *ret = rec;
        if (ret_direction)
                *ret_direction = direction;
        return 1;
}

int zcl_parse_default_rsp(const uint8_t *payload, size_t len, uint8_t *ret_command, uint8_t *ret_status) {
        if (!payload || len < 2)
                return -EBADMSG;
        if (ret_command)
                *ret_command = payload[0];
        if (ret_status)
                *ret_status = payload[1];
        return 0;
}
