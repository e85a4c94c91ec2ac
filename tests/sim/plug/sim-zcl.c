/*
 * The simulator's own ZCL byte helpers (see sim-zcl.h).
 */
#include <errno.h>
#include <string.h>

#include "sim-zcl.h"

void zw_init(ZclWriter *w, uint8_t *buf, size_t size) {
        *w = (ZclWriter) { .buf = buf, .size = size };
}

void zw_bytes(ZclWriter *w, const void *p, size_t n) {
        if (w->overflow || n > w->size - w->len) {
                w->overflow = true;
                return;
        }
        if (n > 0)
                memcpy(w->buf + w->len, p, n);
        w->len += n;
}

void zw_u8(ZclWriter *w, uint8_t v) {
        zw_bytes(w, &v, 1);
}

void zw_u16(ZclWriter *w, uint16_t v) {
        uint8_t b[2] = { v & 0xff, v >> 8 };
        zw_bytes(w, b, sizeof b);
}

void zw_u32(ZclWriter *w, uint32_t v) {
        uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
        zw_bytes(w, b, sizeof b);
}

void zw_u64(ZclWriter *w, uint64_t v) {
        zw_u32(w, (uint32_t) v);
        zw_u32(w, (uint32_t) (v >> 32));
}

void zw_float(ZclWriter *w, float v) {
        uint32_t u;
        memcpy(&u, &v, sizeof u);
        zw_u32(w, u);
}

void zw_str(ZclWriter *w, const void *p, size_t n) {
        if (n > 0xfe) {
                w->overflow = true;
                return;
        }
        zw_u8(w, (uint8_t) n);
        zw_bytes(w, p, n);
}

void zr_init(ZclReader *r, const uint8_t *buf, size_t len) {
        *r = (ZclReader) { .buf = buf, .len = buf ? len : 0 };
}

size_t zr_left(const ZclReader *r) {
        return r->len - r->pos;
}

bool zr_u8(ZclReader *r, uint8_t *v) {
        if (zr_left(r) < 1)
                return false;
        *v = r->buf[r->pos++];
        return true;
}

bool zr_u16(ZclReader *r, uint16_t *v) {
        if (zr_left(r) < 2)
                return false;
        *v = (uint16_t) (r->buf[r->pos] | r->buf[r->pos + 1] << 8);
        r->pos += 2;
        return true;
}

bool zr_skip(ZclReader *r, size_t n) {
        if (zr_left(r) < n)
                return false;
        r->pos += n;
        return true;
}

static int fixed_size(uint8_t type) {
        switch (type) {
        case 0x00: case 0xff:
                return 0;
        case 0x08: case 0x10: case 0x18: case 0x20: case 0x28: case 0x30:
                return 1;
        case 0x09: case 0x19: case 0x21: case 0x29: case 0x31: case 0x38: case 0xe8: case 0xe9:
                return 2;
        case 0x0a: case 0x1a: case 0x22: case 0x2a:
                return 3;
        case 0x0b: case 0x1b: case 0x23: case 0x2b: case 0x39: case 0xe0: case 0xe1: case 0xe2:
        case 0xea:
                return 4;
        case 0x0c: case 0x1c: case 0x24: case 0x2c:
                return 5;
        case 0x0d: case 0x1d: case 0x25: case 0x2d:
                return 6;
        case 0x0e: case 0x1e: case 0x26: case 0x2e:
                return 7;
        case 0x0f: case 0x1f: case 0x27: case 0x2f: case 0x3a: case 0xf0:
                return 8;
        case 0xf1:
                return 16;
        default:
                return -EINVAL;
        }
}

int zcl_value_size(uint8_t type, const uint8_t *buf, size_t len) {
        int n = fixed_size(type);
        if (n >= 0)
                return (size_t) n <= len ? n : -EBADMSG;
        if (n != -EINVAL)
                return n;

        if (type == 0x41 || type == 0x42) {
                if (len < 1)
                        return -EBADMSG;
                n = 1 + (buf[0] == 0xff ? 0 : buf[0]);
        } else if (type == 0x43 || type == 0x44) {
                if (len < 2)
                        return -EBADMSG;
                unsigned l = buf[0] | buf[1] << 8;
                n = 2 + (l == 0xffff ? 0 : (int) l);
        } else
                return -EINVAL;      /* arrays, structures, sets: the plug has none */

        return (size_t) n <= len ? n : -EBADMSG;
}

bool zcl_type_is_analog(uint8_t type) {
        return (type >= 0x20 && type <= 0x2f) || (type >= 0x38 && type <= 0x3a) ||
               (type >= 0xe0 && type <= 0xe2);
}

float zcl_float_from_le(const uint8_t b[4]) {
        uint32_t u = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 |
                     (uint32_t) b[3] << 24;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
}
