/*
 * ZCL frame codec: header, attribute values and the foundation (global) commands this daemon
 * sends and receives. Pure: bytes in, structs out, no I/O, no allocation. Every byte is treated
 * as hostile and bounds-checked. All multi-byte fields on air are little-endian.
 *
 * Errors: -EBADMSG truncated or malformed input, -EOPNOTSUPP unknown data type (its length
 * cannot be known), -ENOBUFS output buffer too small, -EINVAL bad argument.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZCL_MANUFACTURER_LUMI 0x115Fu

/* Frame control bits */
#define ZCL_FC_CLUSTER_SPECIFIC     0x01u
#define ZCL_FC_MANUFACTURER         0x04u
#define ZCL_FC_SERVER_TO_CLIENT     0x08u
#define ZCL_FC_DISABLE_DEFAULT_RSP  0x10u

/* Global (foundation) command ids */
enum {
        ZCL_CMD_READ_ATTRIBUTES             = 0x00,
        ZCL_CMD_READ_ATTRIBUTES_RSP         = 0x01,
        ZCL_CMD_WRITE_ATTRIBUTES            = 0x02,
        ZCL_CMD_WRITE_ATTRIBUTES_UNDIVIDED  = 0x03,
        ZCL_CMD_WRITE_ATTRIBUTES_RSP        = 0x04,
        ZCL_CMD_WRITE_ATTRIBUTES_NO_RSP     = 0x05,
        ZCL_CMD_CONFIGURE_REPORTING         = 0x06,
        ZCL_CMD_CONFIGURE_REPORTING_RSP     = 0x07,
        ZCL_CMD_REPORT_ATTRIBUTES           = 0x0A,
        ZCL_CMD_DEFAULT_RSP                 = 0x0B,
};

/* Status codes used here */
enum {
        ZCL_STATUS_SUCCESS               = 0x00,
        ZCL_STATUS_FAILURE               = 0x01,
        ZCL_STATUS_MALFORMED_COMMAND     = 0x80,
        ZCL_STATUS_UNSUP_COMMAND         = 0x81,
        ZCL_STATUS_UNSUPPORTED_ATTRIBUTE = 0x86,
        ZCL_STATUS_INVALID_VALUE         = 0x87,
        ZCL_STATUS_READ_ONLY             = 0x88,
        ZCL_STATUS_INVALID_DATA_TYPE     = 0x8D,
};

/* Clusters used here */
enum {
        ZCL_CLUSTER_BASIC        = 0x0000,
        ZCL_CLUSTER_DEVICE_TEMP  = 0x0002,
        ZCL_CLUSTER_ON_OFF       = 0x0006,
        ZCL_CLUSTER_ANALOG_INPUT = 0x000C,
        ZCL_CLUSTER_OTA          = 0x0019,
        ZCL_CLUSTER_LUMI         = 0xFCC0,
};

typedef enum ZclType {
        ZCL_TYPE_NO_DATA     = 0x00,
        ZCL_TYPE_DATA8       = 0x08, /* .. DATA64 0x0F */
        ZCL_TYPE_BOOL        = 0x10,
        ZCL_TYPE_BITMAP8     = 0x18, /* .. BITMAP64 0x1F */
        ZCL_TYPE_BITMAP16    = 0x19,
        ZCL_TYPE_UINT8       = 0x20,
        ZCL_TYPE_UINT16      = 0x21,
        ZCL_TYPE_UINT24      = 0x22,
        ZCL_TYPE_UINT32      = 0x23,
        ZCL_TYPE_UINT64      = 0x27,
        ZCL_TYPE_INT8        = 0x28,
        ZCL_TYPE_INT16       = 0x29,
        ZCL_TYPE_INT32       = 0x2B,
        ZCL_TYPE_INT64       = 0x2F,
        ZCL_TYPE_ENUM8       = 0x30,
        ZCL_TYPE_ENUM16      = 0x31,
        ZCL_TYPE_SEMI        = 0x38,
        ZCL_TYPE_SINGLE      = 0x39,
        ZCL_TYPE_DOUBLE      = 0x3A,
        ZCL_TYPE_OCTET_STR   = 0x41,
        ZCL_TYPE_CHAR_STR    = 0x42,
        ZCL_TYPE_LONG_OCTET_STR = 0x43,
        ZCL_TYPE_LONG_CHAR_STR  = 0x44,
        ZCL_TYPE_ARRAY       = 0x48,
        ZCL_TYPE_STRUCT      = 0x4C,
        ZCL_TYPE_SET         = 0x50,
        ZCL_TYPE_BAG         = 0x51,
        ZCL_TYPE_TIME_OF_DAY = 0xE0,
        ZCL_TYPE_DATE        = 0xE1,
        ZCL_TYPE_UTC         = 0xE2,
        ZCL_TYPE_CLUSTER_ID  = 0xE8,
        ZCL_TYPE_ATTRIBUTE_ID = 0xE9,
        ZCL_TYPE_BACNET_OID  = 0xEA,
        ZCL_TYPE_IEEE        = 0xF0,
        ZCL_TYPE_KEY128      = 0xF1,
        ZCL_TYPE_UNKNOWN     = 0xFF,
} ZclType;

typedef enum ZclValueKind {
        ZCL_KIND_NONE,          /* no data */
        ZCL_KIND_BOOL,          /* .b */
        ZCL_KIND_UINT,          /* .u: uintN, enumN, bitmapN, dataN, ids, time/date, IEEE */
        ZCL_KIND_INT,           /* .i */
        ZCL_KIND_FLOAT,         /* .f (semi, single, double) */
        ZCL_KIND_BYTES,         /* .bytes: strings, key128 */
        ZCL_KIND_ARRAY,         /* .items: array, set, bag (elements of .items.element_type) */
        ZCL_KIND_STRUCT,        /* .items: struct (each element is type byte + value) */
} ZclValueKind;

/* A decoded value. Strings and aggregates point into the decoded buffer (no copy). */
typedef struct ZclValue {
        uint8_t type;
        ZclValueKind kind;
        bool invalid;           /* the type's "non-value" (e.g. 0xFF for bool/uint8, NaN, length 0xFF) */
        union {
                bool b;
                uint64_t u;
                int64_t i;
                double f;
                struct {
                        const uint8_t *data;
                        size_t len;
                } bytes;
                struct {
                        const uint8_t *data;    /* encoded elements */
                        size_t len;             /* bytes of encoded elements */
                        uint16_t count;
                        uint8_t element_type;   /* arrays/sets/bags only */
                } items;
        };
} ZclValue;

typedef struct ZclHeader {
        uint8_t frame_control;
        uint16_t manufacturer;  /* valid only with ZCL_FC_MANUFACTURER */
        uint8_t tsn;
        uint8_t command;
} ZclHeader;

/* A record of the attribute commands; which fields are used depends on the command. */
typedef struct ZclAttrRecord {
        uint16_t id;
        uint8_t status;         /* read response / write response; SUCCESS elsewhere */
        ZclValue value;         /* absent (kind NONE, type 0) when status != SUCCESS */
} ZclAttrRecord;

typedef struct ZclReportingConfig {
        uint8_t direction;      /* 0: reported by the server (only direction supported) */
        uint16_t id;
        uint8_t type;
        uint16_t min_interval, max_interval;
        ZclValue reportable_change;     /* only used for analog types */
} ZclReportingConfig;

/* A read position in a payload; parsers advance it. */
typedef struct ZclCursor {
        const uint8_t *p;
        size_t left;
} ZclCursor;

static inline ZclCursor zcl_cursor(const uint8_t *p, size_t len) {
        return (ZclCursor) { .p = p, .left = len };
}

/* Header. decode returns the header length (3 or 5); encode returns bytes written. */
int zcl_header_decode(const uint8_t *buf, size_t len, ZclHeader *ret);
int zcl_header_encode(const ZclHeader *h, uint8_t *buf, size_t size);
static inline bool zcl_header_is_global(const ZclHeader *h) {
        return (h->frame_control & 0x03) == 0;
}

/* Types. Fixed size in bytes (0 for no data / unknown 0xFF), -EMSGSIZE for variable-size types,
 * -EOPNOTSUPP for reserved codes. */
int zcl_type_fixed_size(uint8_t type);
bool zcl_type_is_analog(uint8_t type);
const char *zcl_type_name(uint8_t type);

/* Values. decode returns bytes consumed; encode returns bytes written. */
int zcl_value_decode(uint8_t type, const uint8_t *buf, size_t len, ZclValue *ret);
int zcl_value_encode(const ZclValue *v, uint8_t *buf, size_t size);
/* Iterate the elements of an ARRAY/SET/BAG/STRUCT value: 1 = element returned, 0 = end, <0 error.
 * *pos starts at 0. */
int zcl_value_next_element(const ZclValue *aggregate, size_t *pos, ZclValue *ret);
/* Numeric view: bool/uint/int/float -> double. -EINVAL if not numeric, -ERANGE if invalid. */
int zcl_value_to_double(const ZclValue *v, double *ret);

ZclValue zcl_value_bool(bool b);
ZclValue zcl_value_uint(uint8_t type, uint64_t u);
ZclValue zcl_value_int(uint8_t type, int64_t i);
ZclValue zcl_value_single(float f);
ZclValue zcl_value_bytes(uint8_t type, const uint8_t *data, size_t len);

/* Frame builders: write header + payload, return the frame length. The header (frame control,
 * manufacturer, TSN) is the caller's; the command id is set by the builder. */
int zcl_build_read_attributes(const ZclHeader *h, const uint16_t *ids, size_t n, uint8_t *buf, size_t size);
int zcl_build_read_attributes_rsp(const ZclHeader *h, const ZclAttrRecord *recs, size_t n,
                                  uint8_t *buf, size_t size);
int zcl_build_write_attributes(const ZclHeader *h, const ZclAttrRecord *recs, size_t n,
                               uint8_t *buf, size_t size);
/* Statuses all SUCCESS -> the single 0x00 form, else one {status, id} per failed record. */
int zcl_build_write_attributes_rsp(const ZclHeader *h, const ZclAttrRecord *recs, size_t n,
                                   uint8_t *buf, size_t size);
int zcl_build_report_attributes(const ZclHeader *h, const ZclAttrRecord *recs, size_t n,
                                uint8_t *buf, size_t size);
int zcl_build_configure_reporting(const ZclHeader *h, const ZclReportingConfig *cfgs, size_t n,
                                  uint8_t *buf, size_t size);
int zcl_build_default_rsp(const ZclHeader *h, uint8_t command, uint8_t status, uint8_t *buf, size_t size);
/* Cluster-specific command with an opaque payload (e.g. On/Off 0x00/0x01/0x02, no payload). */
int zcl_build_cluster_command(const ZclHeader *h, const uint8_t *payload, size_t len, uint8_t *buf, size_t size);

/* The header herdsman uses for requests and the one a device answers with. */
ZclHeader zcl_header_global_request(uint16_t manufacturer, uint8_t tsn);
ZclHeader zcl_header_cluster_request(uint16_t manufacturer, uint8_t tsn, uint8_t command, bool want_default_rsp);
ZclHeader zcl_header_response_to(const ZclHeader *request);

/* Payload parsers (the cursor is on the payload after the header). 1 = record, 0 = end, <0 error. */
int zcl_parse_read_attributes_next(ZclCursor *c, uint16_t *ret_id);
int zcl_parse_read_attributes_rsp_next(ZclCursor *c, ZclAttrRecord *ret);
int zcl_parse_write_attributes_next(ZclCursor *c, ZclAttrRecord *ret);
int zcl_parse_write_attributes_rsp_next(ZclCursor *c, ZclAttrRecord *ret);
int zcl_parse_report_attributes_next(ZclCursor *c, ZclAttrRecord *ret);
int zcl_parse_configure_reporting_next(ZclCursor *c, ZclReportingConfig *ret);
/* Configure Reporting Response: a lone SUCCESS (all configured) or {status, direction, id} per failure;
 * ret->id/direction are only meaningful in the second form. */
int zcl_parse_configure_reporting_rsp_next(ZclCursor *c, ZclAttrRecord *ret, uint8_t *ret_direction);
int zcl_parse_default_rsp(const uint8_t *payload, size_t len, uint8_t *ret_command, uint8_t *ret_status);
