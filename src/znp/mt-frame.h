/*
 * MT (Z-Stack Monitor and Test) frames: the codec, an incremental parser that survives garbage,
 * and the command-name table used in logs.
 *
 *   SOF 0xFE | LEN u8 | CMD0 u8 | CMD1 u8 | DATA[LEN] (LEN <= 250) | FCS = XOR(LEN .. last DATA)
 *
 * CMD0 = (type << 5) | subsystem. Pure code: no I/O, no allocation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_SOF          0xFE
#define MT_DATA_MAX     250u
#define MT_HEADER_SIZE  4u                              /* SOF, LEN, CMD0, CMD1 */
#define MT_FRAME_MIN    5u                              /* LEN = 0 */
#define MT_FRAME_MAX    (MT_DATA_MAX + MT_FRAME_MIN)    /* 255 */

typedef enum MtType {
        MT_POLL = 0,
        MT_SREQ = 1,
        MT_AREQ = 2,
        MT_SRSP = 3,
} MtType;

typedef enum MtSubsystem {
        MT_SUBSYS_RPC_ERROR  = 0x00,
        MT_SUBSYS_SYS        = 0x01,
        MT_SUBSYS_MAC        = 0x02,
        MT_SUBSYS_NWK        = 0x03,
        MT_SUBSYS_AF         = 0x04,
        MT_SUBSYS_ZDO        = 0x05,
        MT_SUBSYS_SAPI       = 0x06,
        MT_SUBSYS_UTIL       = 0x07,
        MT_SUBSYS_DEBUG      = 0x08,
        MT_SUBSYS_APP        = 0x09,
        MT_SUBSYS_APP_CNF    = 0x0F,
        MT_SUBSYS_GREENPOWER = 0x15,
} MtSubsystem;

#define MT_CMD0(type, subsys) ((uint8_t) (((unsigned) (type) << 5) | ((unsigned) (subsys) & 0x1F)))

typedef struct MtFrame {
        uint8_t cmd0;
        uint8_t cmd1;
        uint8_t len;
        uint8_t data[MT_DATA_MAX];
} MtFrame;

static inline MtType mt_frame_type(const MtFrame *f) {
        return (MtType) (f->cmd0 >> 5);
}

static inline uint8_t mt_frame_subsystem(const MtFrame *f) {
        return f->cmd0 & 0x1F;
}

static inline bool mt_frame_is(const MtFrame *f, uint8_t cmd0, uint8_t cmd1) {
        return f->cmd0 == cmd0 && f->cmd1 == cmd1;
}

/* XOR of n bytes: the FCS when p points at LEN. */
uint8_t mt_fcs(const uint8_t *p, size_t n);

/* Fills *f. -EMSGSIZE if len > 250, -EINVAL on a type > 3 or subsystem > 0x1F. */
int mt_frame_init(MtFrame *f, MtType type, uint8_t subsystem, uint8_t cmd1, const void *data, size_t len);

/* Appends bytes to the data of f; -EMSGSIZE when it would exceed 250 bytes. */
int mt_frame_append(MtFrame *f, const void *data, size_t len);
int mt_frame_append_u8(MtFrame *f, uint8_t v);
int mt_frame_append_le16(MtFrame *f, uint16_t v);
int mt_frame_append_le32(MtFrame *f, uint32_t v);

/* Wire encoding into buf. Returns the number of bytes (len + 5), or -ENOBUFS if size is too small. */
int mt_frame_encode(const MtFrame *f, uint8_t *buf, size_t size);

/* Decodes exactly one complete frame occupying all n bytes of buf.
 * -EINVAL: no SOF at buf[0]; -EMSGSIZE: LEN > 250; -ENODATA: fewer bytes than LEN announces;
 * -E2BIG: more bytes than LEN announces; -EBADMSG: FCS mismatch. */
int mt_frame_decode(const uint8_t *buf, size_t n, MtFrame *ret);

/* Incremental parser: feed it whatever the transport read, it calls back once per good frame.
 * On a frame with a bad FCS or LEN > 250 it drops only up to the next 0xFE after the bad SOF and
 * retries there (a stray 0xFE taken for a SOF costs one byte, not a frame), as zigpy-znp does. */
typedef void (*MtFrameFn)(const MtFrame *f, void *userdata);

typedef struct MtParserStats {
        uint64_t frames;                /* good frames delivered */
        uint64_t dropped_bytes;         /* bytes discarded while resynchronising */
        uint64_t bad_fcs;               /* candidate frames with an FCS mismatch */
        uint64_t oversized;             /* candidate frames with LEN > 250 */
        uint64_t truncated;             /* partial frames given up by mt_parser_expire() */
} MtParserStats;

typedef struct MtParser {
        uint8_t buf[MT_FRAME_MAX];
        size_t n;
        MtParserStats stats;
} MtParser;

void mt_parser_init(MtParser *p);

/* Consumes all n bytes; callback for each frame completed. Returns the number of frames delivered. */
size_t mt_parser_feed(MtParser *p, const void *data, size_t n, MtFrameFn on_frame, void *userdata);

/* True while bytes of an incomplete frame are buffered. */
static inline bool mt_parser_has_partial(const MtParser *p) {
        return p->n > 0;
}

/* Gives up the incomplete frame at the head of the buffer (the line went quiet in the middle of
 * it), counts it as truncated and resynchronises on any later SOF among the buffered bytes,
 * delivering frames found there. Returns the number of frames delivered. */
size_t mt_parser_expire(MtParser *p, MtFrameFn on_frame, void *userdata);

/* "SYS_PING", "ZDO_STATE_CHANGE_IND", ... or NULL if unknown. Keyed by subsystem and cmd1. */
const char *mt_command_name(uint8_t subsystem, uint8_t cmd1);

/* "SREQ SYS_PING" or "AREQ 0x15/0x42" into buf; returns buf. size >= 48 is always enough. */
const char *mt_frame_describe(const MtFrame *f, char *buf, size_t size);

/* Meaning of the RPC error SRSP (0x60 0x00) error code: "invalid subsystem", ... */
const char *mt_rpc_error_string(uint8_t code);

/* Little-endian readers for frame data; callers check lengths first. */
static inline uint16_t mt_le16(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t mt_le32(const uint8_t *p) {
        return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}
