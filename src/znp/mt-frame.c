/*
 * MT frame codec, resynchronising parser and command-name table.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "znp/mt-frame.h"
#include "util/macro.h"

uint8_t mt_fcs(const uint8_t *p, size_t n) {
        uint8_t x = 0;

        for (size_t i = 0; i < n; i++)
                x ^= p[i];
        return x;
}

int mt_frame_init(MtFrame *f, MtType type, uint8_t subsystem, uint8_t cmd1, const void *data, size_t len) {
        if ((unsigned) type > 3 || subsystem > 0x1F)
                return -EINVAL;
        if (len > MT_DATA_MAX)
                return -EMSGSIZE;

        f->cmd0 = MT_CMD0(type, subsystem);
        f->cmd1 = cmd1;
        f->len = (uint8_t) len;
        if (len > 0)
                memcpy(f->data, data, len);
        return 0;
}

int mt_frame_append(MtFrame *f, const void *data, size_t len) {
        if (len > MT_DATA_MAX - f->len)
                return -EMSGSIZE;
        if (len > 0)
                memcpy(f->data + f->len, data, len);
        f->len += (uint8_t) len;
        return 0;
}

int mt_frame_append_u8(MtFrame *f, uint8_t v) {
        return mt_frame_append(f, &v, 1);
}

int mt_frame_append_le16(MtFrame *f, uint16_t v) {
        uint8_t b[2] = { v & 0xFF, v >> 8 };

        return mt_frame_append(f, b, sizeof(b));
}

int mt_frame_append_le32(MtFrame *f, uint32_t v) {
        uint8_t b[4] = { v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24 };

        return mt_frame_append(f, b, sizeof(b));
}

int mt_frame_encode(const MtFrame *f, uint8_t *buf, size_t size) {
        size_t total = (size_t) f->len + MT_FRAME_MIN;

        if (f->len > MT_DATA_MAX)
                return -EMSGSIZE;
        if (size < total)
                return -ENOBUFS;

        buf[0] = MT_SOF;
        buf[1] = f->len;
        buf[2] = f->cmd0;
        buf[3] = f->cmd1;
        memcpy(buf + MT_HEADER_SIZE, f->data, f->len);
        buf[total - 1] = mt_fcs(buf + 1, total - 2);
        return (int) total;
}

int mt_frame_decode(const uint8_t *buf, size_t n, MtFrame *ret) {
        size_t total;

        if (n < 1 || buf[0] != MT_SOF)
                return -EINVAL;
        if (n < 2)
                return -ENODATA;
        if (buf[1] > MT_DATA_MAX)
                return -EMSGSIZE;

        total = (size_t) buf[1] + MT_FRAME_MIN;
        if (n < total)
                return -ENODATA;
        if (n > total)
                return -E2BIG;
        if (mt_fcs(buf + 1, total - 2) != buf[total - 1])
                return -EBADMSG;

        ret->len = buf[1];
        ret->cmd0 = buf[2];
        ret->cmd1 = buf[3];
        memcpy(ret->data, buf + MT_HEADER_SIZE, ret->len);
        return 0;
}

void mt_parser_init(MtParser *p) {
        *p = (MtParser) {};
}

static void parser_drop(MtParser *p, size_t k) {
        assert(k <= p->n);
        memmove(p->buf, p->buf + k, p->n - k);
        p->n -= k;
        p->stats.dropped_bytes += k;
}

/* Drop the bad candidate up to the next SOF after its own, which may begin the real frame. */
static void parser_skip_candidate(MtParser *p) {
        const uint8_t *sof = p->n > 1 ? memchr(p->buf + 1, MT_SOF, p->n - 1) : NULL;

        parser_drop(p, sof ? (size_t) (sof - p->buf) : p->n);
}

static size_t parser_process(MtParser *p, MtFrameFn on_frame, void *userdata) {
        size_t delivered = 0;

        while (p->n > 0) {
                size_t total;
                MtFrame f;

                if (p->buf[0] != MT_SOF) {
                        const uint8_t *sof = memchr(p->buf, MT_SOF, p->n);

                        parser_drop(p, sof ? (size_t) (sof - p->buf) : p->n);
                        continue;
                }
                if (p->n < 2)
                        break;
                if (p->buf[1] > MT_DATA_MAX) {
                        p->stats.oversized++;
                        parser_skip_candidate(p);
                        continue;
                }

                total = (size_t) p->buf[1] + MT_FRAME_MIN;
                if (p->n < total)
                        break;

                if (mt_frame_decode(p->buf, total, &f) < 0) {
                        p->stats.bad_fcs++;
                        parser_skip_candidate(p);
                        continue;
                }

                memmove(p->buf, p->buf + total, p->n - total);
                p->n -= total;
                p->stats.frames++;
                delivered++;
                if (on_frame)
                        on_frame(&f, userdata);
        }

        return delivered;
}

size_t mt_parser_feed(MtParser *p, const void *data, size_t n, MtFrameFn on_frame, void *userdata) {
        const uint8_t *d = data;
        size_t delivered = 0;

        /* After processing, the buffer holds at most an incomplete frame (< 255 bytes), so there is
         * always room for at least one more byte. */
        while (n > 0) {
                size_t k = MIN(n, sizeof(p->buf) - p->n);

                memcpy(p->buf + p->n, d, k);
                p->n += k;
                d += k;
                n -= k;
                delivered += parser_process(p, on_frame, userdata);
        }

        return delivered;
}

size_t mt_parser_expire(MtParser *p, MtFrameFn on_frame, void *userdata) {
        if (p->n == 0)
                return 0;

        p->stats.truncated++;
        parser_skip_candidate(p);
        return parser_process(p, on_frame, userdata);
}

typedef struct MtCommandName {
        uint8_t subsystem, cmd1;
        const char *name;
} MtCommandName;

static const MtCommandName command_names[] = {
        { MT_SUBSYS_RPC_ERROR, 0x00, "RPC_ERROR" },

        { MT_SUBSYS_SYS, 0x00, "SYS_RESET_REQ" },
        { MT_SUBSYS_SYS, 0x01, "SYS_PING" },
        { MT_SUBSYS_SYS, 0x02, "SYS_VERSION" },
        { MT_SUBSYS_SYS, 0x03, "SYS_SET_EXTADDR" },
        { MT_SUBSYS_SYS, 0x04, "SYS_GET_EXTADDR" },
        { MT_SUBSYS_SYS, 0x07, "SYS_OSAL_NV_ITEM_INIT" },
        { MT_SUBSYS_SYS, 0x08, "SYS_OSAL_NV_READ" },
        { MT_SUBSYS_SYS, 0x09, "SYS_OSAL_NV_WRITE" },
        { MT_SUBSYS_SYS, 0x0F, "SYS_STACK_TUNE" },
        { MT_SUBSYS_SYS, 0x12, "SYS_OSAL_NV_DELETE" },
        { MT_SUBSYS_SYS, 0x13, "SYS_OSAL_NV_LENGTH" },
        { MT_SUBSYS_SYS, 0x14, "SYS_SET_TX_POWER" },
        { MT_SUBSYS_SYS, 0x1C, "SYS_OSAL_NV_READ_EXT" },
        { MT_SUBSYS_SYS, 0x1D, "SYS_OSAL_NV_WRITE_EXT" },
        { MT_SUBSYS_SYS, 0x30, "SYS_NV_CREATE" },
        { MT_SUBSYS_SYS, 0x31, "SYS_NV_DELETE" },
        { MT_SUBSYS_SYS, 0x32, "SYS_NV_LENGTH" },
        { MT_SUBSYS_SYS, 0x33, "SYS_NV_READ" },
        { MT_SUBSYS_SYS, 0x34, "SYS_NV_WRITE" },
        { MT_SUBSYS_SYS, 0x35, "SYS_NV_UPDATE" },
        { MT_SUBSYS_SYS, 0x80, "SYS_RESET_IND" },

        { MT_SUBSYS_AF, 0x00, "AF_REGISTER" },
        { MT_SUBSYS_AF, 0x01, "AF_DATA_REQUEST" },
        { MT_SUBSYS_AF, 0x02, "AF_DATA_REQUEST_EXT" },
        { MT_SUBSYS_AF, 0x03, "AF_DATA_REQUEST_SRC_RTG" },
        { MT_SUBSYS_AF, 0x04, "AF_DELETE" },
        { MT_SUBSYS_AF, 0x10, "AF_INTER_PAN_CTL" },
        { MT_SUBSYS_AF, 0x12, "AF_DATA_RETRIEVE" },
        { MT_SUBSYS_AF, 0x80, "AF_DATA_CONFIRM" },
        { MT_SUBSYS_AF, 0x81, "AF_INCOMING_MSG" },
        { MT_SUBSYS_AF, 0x82, "AF_INCOMING_MSG_EXT" },
        { MT_SUBSYS_AF, 0x83, "AF_REFLECT_ERROR" },

        { MT_SUBSYS_ZDO, 0x00, "ZDO_NWK_ADDR_REQ" },
        { MT_SUBSYS_ZDO, 0x01, "ZDO_IEEE_ADDR_REQ" },
        { MT_SUBSYS_ZDO, 0x02, "ZDO_NODE_DESC_REQ" },
        { MT_SUBSYS_ZDO, 0x04, "ZDO_SIMPLE_DESC_REQ" },
        { MT_SUBSYS_ZDO, 0x05, "ZDO_ACTIVE_EP_REQ" },
        { MT_SUBSYS_ZDO, 0x21, "ZDO_BIND_REQ" },
        { MT_SUBSYS_ZDO, 0x22, "ZDO_UNBIND_REQ" },
        { MT_SUBSYS_ZDO, 0x31, "ZDO_MGMT_LQI_REQ" },
        { MT_SUBSYS_ZDO, 0x32, "ZDO_MGMT_RTG_REQ" },
        { MT_SUBSYS_ZDO, 0x34, "ZDO_MGMT_LEAVE_REQ" },
        { MT_SUBSYS_ZDO, 0x36, "ZDO_MGMT_PERMIT_JOIN_REQ" },
        { MT_SUBSYS_ZDO, 0x37, "ZDO_MGMT_NWK_UPDATE_REQ" },
        { MT_SUBSYS_ZDO, 0x3E, "ZDO_MSG_CB_REGISTER" },
        { MT_SUBSYS_ZDO, 0x40, "ZDO_STARTUP_FROM_APP" },
        { MT_SUBSYS_ZDO, 0x45, "ZDO_EXT_ROUTE_DISC" },
        { MT_SUBSYS_ZDO, 0x46, "ZDO_EXT_ROUTE_CHECK" },
        { MT_SUBSYS_ZDO, 0x4A, "ZDO_EXT_FIND_GROUP" },
        { MT_SUBSYS_ZDO, 0x4B, "ZDO_EXT_ADD_GROUP" },
        { MT_SUBSYS_ZDO, 0x50, "ZDO_EXT_NWK_INFO" },
        { MT_SUBSYS_ZDO, 0x80, "ZDO_NWK_ADDR_RSP" },
        { MT_SUBSYS_ZDO, 0x81, "ZDO_IEEE_ADDR_RSP" },
        { MT_SUBSYS_ZDO, 0x82, "ZDO_NODE_DESC_RSP" },
        { MT_SUBSYS_ZDO, 0x84, "ZDO_SIMPLE_DESC_RSP" },
        { MT_SUBSYS_ZDO, 0x85, "ZDO_ACTIVE_EP_RSP" },
        { MT_SUBSYS_ZDO, 0xA1, "ZDO_BIND_RSP" },
        { MT_SUBSYS_ZDO, 0xA2, "ZDO_UNBIND_RSP" },
        { MT_SUBSYS_ZDO, 0xB1, "ZDO_MGMT_LQI_RSP" },
        { MT_SUBSYS_ZDO, 0xB2, "ZDO_MGMT_RTG_RSP" },
        { MT_SUBSYS_ZDO, 0xB4, "ZDO_MGMT_LEAVE_RSP" },
        { MT_SUBSYS_ZDO, 0xB6, "ZDO_MGMT_PERMIT_JOIN_RSP" },
        { MT_SUBSYS_ZDO, 0xB8, "ZDO_MGMT_NWK_UPDATE_NOTIFY" },
        { MT_SUBSYS_ZDO, 0xC0, "ZDO_STATE_CHANGE_IND" },
        { MT_SUBSYS_ZDO, 0xC1, "ZDO_END_DEVICE_ANNCE_IND" },
        { MT_SUBSYS_ZDO, 0xC4, "ZDO_SRC_RTG_IND" },
        { MT_SUBSYS_ZDO, 0xC8, "ZDO_CONCENTRATOR_IND" },
        { MT_SUBSYS_ZDO, 0xC9, "ZDO_LEAVE_IND" },
        { MT_SUBSYS_ZDO, 0xCA, "ZDO_TC_DEV_IND" },
        { MT_SUBSYS_ZDO, 0xCB, "ZDO_PERMIT_JOIN_IND" },
        { MT_SUBSYS_ZDO, 0xFF, "ZDO_MSG_CB_INCOMING" },

        { MT_SUBSYS_SAPI, 0x04, "ZB_READ_CONFIGURATION" },
        { MT_SUBSYS_SAPI, 0x05, "ZB_WRITE_CONFIGURATION" },
        { MT_SUBSYS_SAPI, 0x06, "ZB_GET_DEVICE_INFO" },
        { MT_SUBSYS_SAPI, 0x08, "ZB_PERMIT_JOINING_REQUEST" },
        { MT_SUBSYS_SAPI, 0x09, "ZB_SYSTEM_RESET" },

        { MT_SUBSYS_UTIL, 0x00, "UTIL_GET_DEVICE_INFO" },
        { MT_SUBSYS_UTIL, 0x01, "UTIL_GET_NV_INFO" },
        { MT_SUBSYS_UTIL, 0x0A, "UTIL_LED_CONTROL" },
        { MT_SUBSYS_UTIL, 0x40, "UTIL_ADDRMGR_EXT_ADDR_LOOKUP" },
        { MT_SUBSYS_UTIL, 0x41, "UTIL_ADDRMGR_NWK_ADDR_LOOKUP" },
        { MT_SUBSYS_UTIL, 0x49, "UTIL_ASSOC_FIND_DEVICE" },
        { MT_SUBSYS_UTIL, 0x4A, "UTIL_ASSOC_GET_WITH_ADDRESS" },
        { MT_SUBSYS_UTIL, 0x63, "UTIL_ASSOC_REMOVE" },
        { MT_SUBSYS_UTIL, 0x64, "UTIL_ASSOC_ADD" },

        { MT_SUBSYS_APP_CNF, 0x01, "APP_CNF_SET_DEFAULT_REMOTE_ENDDEVICE_TIMEOUT" },
        { MT_SUBSYS_APP_CNF, 0x04, "APP_CNF_BDB_ADD_INSTALLCODE" },
        { MT_SUBSYS_APP_CNF, 0x05, "APP_CNF_BDB_START_COMMISSIONING" },
        { MT_SUBSYS_APP_CNF, 0x08, "APP_CNF_BDB_SET_CHANNEL" },
        { MT_SUBSYS_APP_CNF, 0x09, "APP_CNF_BDB_SET_TC_REQUIRE_KEY_EXCHANGE" },
        { MT_SUBSYS_APP_CNF, 0x80, "APP_CNF_BDB_COMMISSIONING_NOTIFICATION" },
        { MT_SUBSYS_APP_CNF, 0xFF, "APP_CNF_SET_NWK_FRAME_COUNTER" },
};

const char *mt_command_name(uint8_t subsystem, uint8_t cmd1) {
        for (size_t i = 0; i < ELEMENTSOF(command_names); i++)
                if (command_names[i].subsystem == subsystem && command_names[i].cmd1 == cmd1)
                        return command_names[i].name;
        return NULL;
}

const char *mt_frame_describe(const MtFrame *f, char *buf, size_t size) {
        static const char *const types[] = { "POLL", "SREQ", "AREQ", "SRSP" };
        const char *type = mt_frame_type(f) < ELEMENTSOF(types) ? types[mt_frame_type(f)] : "RSVD";
        const char *name = mt_command_name(mt_frame_subsystem(f), f->cmd1);

        if (name)
                (void) snprintf(buf, size, "%s %s", type, name);
        else
                (void) snprintf(buf, size, "%s 0x%02X/0x%02X", type, mt_frame_subsystem(f), f->cmd1);
        return buf;
}

const char *mt_rpc_error_string(uint8_t code) {
        switch (code) {
        case 1: return "invalid subsystem";
        case 2: return "invalid command id";
        case 3: return "invalid parameter";
        case 4: return "invalid length";
        default: return "unknown RPC error";
        }
}
