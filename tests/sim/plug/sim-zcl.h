/*
 * The simulator's own tiny ZCL toolkit: a bounded byte writer, a bounded reader and the sizes of
 * the ZCL data types. It is separate from the host's src/zigbee code on purpose: the simulator
 * is the ground truth the host is tested against, so it must not share the host's mistakes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ZCL data types (ZCL spec table 2-10) used by the plug. */
enum {
        ZT_NODATA = 0x00,
        ZT_BOOL = 0x10,
        ZT_BITMAP8 = 0x18,
        ZT_UINT8 = 0x20,
        ZT_UINT16 = 0x21,
        ZT_UINT32 = 0x23,
        ZT_UINT64 = 0x27,
        ZT_INT8 = 0x28,
        ZT_INT16 = 0x29,
        ZT_ENUM8 = 0x30,
        ZT_ENUM16 = 0x31,
        ZT_SINGLE = 0x39,
        ZT_OCTSTR = 0x41,
        ZT_CHARSTR = 0x42,
        ZT_IEEE = 0xF0,
};

/* ZCL status codes. */
enum {
        ZS_SUCCESS = 0x00,
        ZS_FAILURE = 0x01,
        ZS_MALFORMED_COMMAND = 0x80,
        ZS_UNSUP_COMMAND = 0x81,
        ZS_UNSUP_GENERAL_COMMAND = 0x82,
        ZS_UNSUP_MANUF_CLUSTER_COMMAND = 0x83,
        ZS_UNSUP_MANUF_GENERAL_COMMAND = 0x84,
        ZS_INVALID_FIELD = 0x85,
        ZS_UNSUPPORTED_ATTRIBUTE = 0x86,
        ZS_INVALID_VALUE = 0x87,
        ZS_READ_ONLY = 0x88,
        ZS_INSUFFICIENT_SPACE = 0x89,
        ZS_DUPLICATE_EXISTS = 0x8A,
        ZS_NOT_FOUND = 0x8B,
        ZS_UNREPORTABLE_ATTRIBUTE = 0x8C,
        ZS_INVALID_DATA_TYPE = 0x8D,
        ZS_UNSUPPORTED_CLUSTER = 0xC3,
};

/* Frame control bits. */
enum {
        ZFC_CLUSTER_SPECIFIC = 0x01,
        ZFC_MANUFACTURER = 0x04,
        ZFC_SERVER_TO_CLIENT = 0x08,
        ZFC_DISABLE_DEFAULT_RSP = 0x10,
};

typedef struct ZclWriter {
        uint8_t *buf;
        size_t size, len;
        bool overflow;          /* something did not fit: the frame must not be sent */
} ZclWriter;

void zw_init(ZclWriter *w, uint8_t *buf, size_t size);
void zw_u8(ZclWriter *w, uint8_t v);
void zw_u16(ZclWriter *w, uint16_t v);
void zw_u32(ZclWriter *w, uint32_t v);
void zw_u64(ZclWriter *w, uint64_t v);
void zw_float(ZclWriter *w, float v);
void zw_bytes(ZclWriter *w, const void *p, size_t n);
/* One-byte length prefixed string (octet or character string). */
void zw_str(ZclWriter *w, const void *p, size_t n);

typedef struct ZclReader {
        const uint8_t *buf;
        size_t len, pos;
} ZclReader;

void zr_init(ZclReader *r, const uint8_t *buf, size_t len);
size_t zr_left(const ZclReader *r);
/* Each returns false (and reads nothing) when fewer bytes than needed are left. */
bool zr_u8(ZclReader *r, uint8_t *v);
bool zr_u16(ZclReader *r, uint16_t *v);
bool zr_skip(ZclReader *r, size_t n);

/* Size of a value of this type as it sits at buf (strings include their length prefix);
 * -EINVAL for a type whose size cannot be known, -EBADMSG if buf is too short. */
int zcl_value_size(uint8_t type, const uint8_t *buf, size_t len);
/* True for the "analog" types whose Configure Reporting record carries a reportable change. */
bool zcl_type_is_analog(uint8_t type);

float zcl_float_from_le(const uint8_t b[4]);
