/*
 * MT (UNPI) framing for the simulated coordinator: SOF, length, command header, data, XOR FCS.
 * The parser accepts a byte stream in arbitrary pieces, drops anything outside a frame (garbage,
 * the 0xEF bootloader-skip byte), discards frames with a wrong FCS and resynchronises on the next
 * SOF. This is the firmware side of the link and shares no code with the host in src/znp.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MT_SOF 0xFE
#define SIM_MT_MAX_DATA 250
#define SIM_MT_MAX_FRAME (SIM_MT_MAX_DATA + 5)

enum {
        SIM_MT_POLL = 0,
        SIM_MT_SREQ = 1,
        SIM_MT_AREQ = 2,
        SIM_MT_SRSP = 3,
};

enum {
        SIM_MT_RPC = 0x00,
        SIM_MT_SYS = 0x01,
        SIM_MT_MAC = 0x02,
        SIM_MT_NWK = 0x03,
        SIM_MT_AF = 0x04,
        SIM_MT_ZDO = 0x05,
        SIM_MT_SAPI = 0x06,
        SIM_MT_UTIL = 0x07,
        SIM_MT_DEBUG = 0x08,
        SIM_MT_APP = 0x09,
        SIM_MT_APP_CNF = 0x0F,
        SIM_MT_GP = 0x15,
};

typedef struct SimMtFrame {
        uint8_t cmd0;
        uint8_t cmd1;
        uint8_t len;
        uint8_t data[SIM_MT_MAX_DATA];
} SimMtFrame;

static inline uint8_t sim_mt_type(const SimMtFrame *f) {
        return f->cmd0 >> 5;
}

static inline uint8_t sim_mt_subsystem(const SimMtFrame *f) {
        return f->cmd0 & 0x1F;
}

/* XOR of len, cmd0, cmd1 and data. */
uint8_t sim_mt_fcs(uint8_t len, uint8_t cmd0, uint8_t cmd1, const uint8_t *data);

/* Encodes f into out (at least SIM_MT_MAX_FRAME bytes); returns the byte count. */
size_t sim_mt_encode(const SimMtFrame *f, uint8_t *out);

/* Builds a frame; returns -EMSGSIZE when len exceeds SIM_MT_MAX_DATA. */
int sim_mt_frame_init(SimMtFrame *f, uint8_t type, uint8_t subsystem, uint8_t cmd1,
                      const uint8_t *data, size_t len);

typedef struct SimMtParser {
        uint8_t buf[SIM_MT_MAX_FRAME * 2];
        size_t n;
        unsigned long bad_fcs;          /* frames dropped for a wrong FCS */
        unsigned long skipped;          /* bytes dropped outside frames */
} SimMtParser;

typedef void (*SimMtFrameFn)(const SimMtFrame *f, void *userdata);

/* Feeds bytes; calls fn for every complete, valid frame in order. */
void sim_mt_parser_feed(SimMtParser *p, const uint8_t *bytes, size_t len, SimMtFrameFn fn, void *userdata);

/* "SYS_PING" etc. for a frame header; NULL when unknown. AREQ and SRSP names are resolved by the
 * subsystem and command id, SRSP frames map to the request's name. */
const char *sim_mt_name(uint8_t cmd0, uint8_t cmd1);

/* One log line: direction arrow, hex bytes and the decoded name, e.g.
 * "<- FE 00 21 01 20 SREQ SYS_PING". Returns the length written (truncated to size). */
int sim_mt_describe(const SimMtFrame *f, bool from_host, char *out, size_t size);
