/*
 * Lumi (Xiaomi/Aqara) TLV blob decoder: the periodic status record carried in cluster 0xFCC0
 * attribute 0x00F7 (octet string) and, on older devices, Basic attribute 0xFF01 (char string).
 * Layout: a run of [tag u8][ZCL type u8][value] records.
 *
 * Two flavours, matching what Zigbee2MQTT does with each:
 *  - LUMI_TLV_F7 follows zigbee-herdsman-converters buffer2DataObject() (src/lib/lumi.ts):
 *    uint64/int64 read big-endian (its quirk, kept: only an ignored tag uses it), type 0x42 and
 *    0x5F skipped with ad-hoc lengths 1 and 4 and no value, a single trailing byte ignored.
 *    Deliberate differences, so we never misparse: a record whose value runs past the end
 *    rejects the whole blob with -EBADMSG (Z2M throws and drops the message: same outcome);
 *    double 0x3A advances 8 bytes (Z2M advances 4, a bug); other ZCL fixed-size types Z2M does
 *    not list (enum, bitmap, data, semi, time, ids, IEEE) are skipped by their true size and
 *    returned without a value, where Z2M would slide one byte and decode garbage; an unknown
 *    or variable-size type ends the walk (records so far are kept and LUMI_TLV_STOPPED is
 *    returned), where Z2M slides one byte.
 *  - LUMI_TLV_FF01 follows zigbee-herdsman's readMiStruct (the 0xFF01 char-string workaround):
 *    true ZCL types (little-endian), the walk ends when at most one byte remains.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zigbee/zcl.h"

#define LUMI_TLV_MAX 64

typedef enum LumiTlvFlavor {
        LUMI_TLV_F7,
        LUMI_TLV_FF01,
} LumiTlvFlavor;

typedef struct LumiTlv {
        uint8_t tag;
        uint8_t type;
        bool has_value;         /* false: skipped (Z2M gives this record no value) */
        ZclValue value;         /* numeric kinds only when has_value */
} LumiTlv;

/* Positive return flag: the walk stopped early at an unknown type; the records before it are valid. */
#define LUMI_TLV_STOPPED 1

/* Decode into ret[0..max); *ret_n gets the count. Returns 0, LUMI_TLV_STOPPED, -EBADMSG (a record
 * truncated: nothing usable), -ENOBUFS (more than max records; the first max are returned). */
int lumi_tlv_decode(LumiTlvFlavor flavor, const uint8_t *buf, size_t len,
                    LumiTlv *ret, size_t max, size_t *ret_n);
