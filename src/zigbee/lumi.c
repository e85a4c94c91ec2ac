/*
 * Lumi TLV blob decoder. See lumi.h for the rules and where they differ from Zigbee2MQTT.
 */
#include <errno.h>
#include <string.h>

#include "zigbee/lumi.h"

static int push(LumiTlv *ret, size_t max, size_t *n, const LumiTlv *t) {
        if (*n >= max)
                return -ENOBUFS;
        ret[(*n)++] = *t;
        return 0;
}

static uint64_t get_be64(const uint8_t *p) {
        uint64_t v = 0;

        for (size_t i = 0; i < 8; i++)
                v = (v << 8) | p[i];
        return v;
}

static int decode_f7(const uint8_t *buf, size_t len, LumiTlv *ret, size_t max, size_t *n) {
        size_t i = 0;

        /* buffer2DataObject walks while a tag and a type byte are left; a lone last byte is ignored */
        while (i + 1 < len) {
                LumiTlv t = { .tag = buf[i], .type = buf[i + 1] };
                const uint8_t *val = buf + i + 2;
                size_t avail = len - i - 2;
                int size, r;

                switch (t.type) {
                case ZCL_TYPE_BOOL:
                case 0x20 ... 0x26:
                case 0x28 ... 0x2E:
                case ZCL_TYPE_SINGLE:
                case ZCL_TYPE_DOUBLE:
                        r = zcl_value_decode(t.type, val, avail, &t.value);
                        if (r < 0)
                                return r;
                        t.has_value = true;
                        size = r;
                        break;
                case ZCL_TYPE_UINT64:
                case ZCL_TYPE_INT64:
                        /* Z2M reads these big-endian; kept for identical values */
                        if (avail < 8)
                                return -EBADMSG;
                        t.value.type = t.type;
                        if (t.type == ZCL_TYPE_UINT64) {
                                t.value.kind = ZCL_KIND_UINT;
                                t.value.u = get_be64(val);
                        } else {
                                t.value.kind = ZCL_KIND_INT;
                                t.value.i = (int64_t) get_be64(val);
                        }
                        t.has_value = true;
                        size = 8;
                        break;
                case ZCL_TYPE_CHAR_STR:
                        /* Z2M: "unknown, moving length 1", no value and nothing read */
                        size = 1;
                        break;
                case 0x5F:
                        /* Z2M: "unknown, moving length 4" */
                        size = 4;
                        break;
                default:
                        size = zcl_type_fixed_size(t.type);
                        if (size < 0)
                                return LUMI_TLV_STOPPED;        /* length unknowable: stop here */
                        if ((size_t) size > avail)
                                return -EBADMSG;
                        break;
                }

                r = push(ret, max, n, &t);
                if (r < 0)
                        return r;
                i += 2 + (size_t) size;
        }
        return 0;
}

static int decode_ff01(const uint8_t *buf, size_t len, LumiTlv *ret, size_t max, size_t *n) {
        size_t i = 0;

        while (len - i >= 2) {
                LumiTlv t = { .tag = buf[i], .type = buf[i + 1] };
                int r;

                r = zcl_value_decode(t.type, buf + i + 2, len - i - 2, &t.value);
                if (r == -EOPNOTSUPP)
                        return LUMI_TLV_STOPPED;
                if (r < 0)
                        return r;
                t.has_value = t.value.kind == ZCL_KIND_BOOL || t.value.kind == ZCL_KIND_UINT ||
                              t.value.kind == ZCL_KIND_INT || t.value.kind == ZCL_KIND_FLOAT;
                if (push(ret, max, n, &t) < 0)
                        return -ENOBUFS;
                i += 2 + (size_t) r;
                /* readMiStruct: stop when one byte or nothing is left (a trailing byte is skipped) */
                if (len - i <= 1)
                        break;
        }
        return 0;
}

int lumi_tlv_decode(LumiTlvFlavor flavor, const uint8_t *buf, size_t len,
                    LumiTlv *ret, size_t max, size_t *ret_n) {
        size_t n = 0;
        int r;

        if ((!buf && len > 0) || (!ret && max > 0) || !ret_n)
                return -EINVAL;

        switch (flavor) {
        case LUMI_TLV_F7:
                r = decode_f7(buf, len, ret, max, &n);
                break;
        case LUMI_TLV_FF01:
                r = decode_ff01(buf, len, ret, max, &n);
                break;
        default:
                return -EINVAL;
        }
        if (r == -EBADMSG) {
                *ret_n = 0;
                return r;
        }
        *ret_n = n;
        return r;
}
