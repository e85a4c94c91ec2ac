/*
 * MT (UNPI) framing for the simulated coordinator: encoder, resynchronising parser, names.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim-mt.h"

uint8_t sim_mt_fcs(uint8_t len, uint8_t cmd0, uint8_t cmd1, const uint8_t *data) {
        uint8_t x = len ^ cmd0 ^ cmd1;
        for (size_t i = 0; i < len; i++)
                x ^= data[i];
        return x;
}

size_t sim_mt_encode(const SimMtFrame *f, uint8_t *out) {
        out[0] = SIM_MT_SOF;
        out[1] = f->len;
        out[2] = f->cmd0;
        out[3] = f->cmd1;
        memcpy(out + 4, f->data, f->len);
        out[4 + f->len] = sim_mt_fcs(f->len, f->cmd0, f->cmd1, f->data);
        return (size_t) f->len + 5;
}

int sim_mt_frame_init(SimMtFrame *f, uint8_t type, uint8_t subsystem, uint8_t cmd1,
                      const uint8_t *data, size_t len) {
        if (len > SIM_MT_MAX_DATA)
                return -EMSGSIZE;
        f->cmd0 = (uint8_t) ((type << 5) | (subsystem & 0x1F));
        f->cmd1 = cmd1;
        f->len = (uint8_t) len;
        if (len > 0)
                memcpy(f->data, data, len);
        return 0;
}

static void drop(SimMtParser *p, size_t k) {
        memmove(p->buf, p->buf + k, p->n - k);
        p->n -= k;
}

/* Drops the byte at position 0 and everything up to the next SOF. */
static void resync(SimMtParser *p) {
        size_t k = 1;
        while (k < p->n && p->buf[k] != SIM_MT_SOF)
                k++;
        p->skipped += k;
        drop(p, k);
}

static void parse(SimMtParser *p, SimMtFrameFn fn, void *userdata) {
        for (;;) {
                if (p->n == 0)
                        return;
                if (p->buf[0] != SIM_MT_SOF) {
                        size_t k = 0;
                        while (k < p->n && p->buf[k] != SIM_MT_SOF)
                                k++;
                        p->skipped += k;
                        drop(p, k);
                        continue;
                }
                if (p->n < 2)
                        return;
                uint8_t len = p->buf[1];
                if (len > SIM_MT_MAX_DATA) {
                        resync(p);
                        continue;
                }
                if (p->n < (size_t) len + 5)
                        return;
                if (sim_mt_fcs(len, p->buf[2], p->buf[3], p->buf + 4) != p->buf[4 + len]) {
                        /* Maybe the SOF was a data byte of a frame we missed: retry from the next SOF. */
                        p->bad_fcs++;
                        resync(p);
                        continue;
                }
                SimMtFrame f = { .cmd0 = p->buf[2], .cmd1 = p->buf[3], .len = len };
                memcpy(f.data, p->buf + 4, len);
                drop(p, (size_t) len + 5);
                fn(&f, userdata);
        }
}

void sim_mt_parser_feed(SimMtParser *p, const uint8_t *bytes, size_t len, SimMtFrameFn fn, void *userdata) {
        while (len > 0) {
                size_t room = sizeof(p->buf) - p->n;
                size_t k = len < room ? len : room;
                memcpy(p->buf + p->n, bytes, k);
                p->n += k;
                bytes += k;
                len -= k;
                parse(p, fn, userdata);
                /* parse() always leaves less than one maximal frame behind, so room > 0 here. */
        }
}

typedef struct Name {
        uint8_t subsystem;
        uint8_t cmd1;
        const char *name;
} Name;

static const Name names[] = {
        { SIM_MT_RPC, 0x00, "RPC_ERROR" },
        { SIM_MT_SYS, 0x00, "SYS_RESET_REQ" },
        { SIM_MT_SYS, 0x01, "SYS_PING" },
        { SIM_MT_SYS, 0x02, "SYS_VERSION" },
        { SIM_MT_SYS, 0x03, "SYS_SET_EXTADDR" },
        { SIM_MT_SYS, 0x04, "SYS_GET_EXTADDR" },
        { SIM_MT_SYS, 0x07, "SYS_OSAL_NV_ITEM_INIT" },
        { SIM_MT_SYS, 0x08, "SYS_OSAL_NV_READ" },
        { SIM_MT_SYS, 0x09, "SYS_OSAL_NV_WRITE" },
        { SIM_MT_SYS, 0x0C, "SYS_RANDOM" },
        { SIM_MT_SYS, 0x0F, "SYS_STACK_TUNE" },
        { SIM_MT_SYS, 0x10, "SYS_SET_TIME" },
        { SIM_MT_SYS, 0x11, "SYS_GET_TIME" },
        { SIM_MT_SYS, 0x12, "SYS_OSAL_NV_DELETE" },
        { SIM_MT_SYS, 0x13, "SYS_OSAL_NV_LENGTH" },
        { SIM_MT_SYS, 0x14, "SYS_SET_TX_POWER" },
        { SIM_MT_SYS, 0x1C, "SYS_OSAL_NV_READ_EXT" },
        { SIM_MT_SYS, 0x1D, "SYS_OSAL_NV_WRITE_EXT" },
        { SIM_MT_SYS, 0x30, "SYS_NV_CREATE" },
        { SIM_MT_SYS, 0x31, "SYS_NV_DELETE" },
        { SIM_MT_SYS, 0x32, "SYS_NV_LENGTH" },
        { SIM_MT_SYS, 0x33, "SYS_NV_READ" },
        { SIM_MT_SYS, 0x34, "SYS_NV_WRITE" },
        { SIM_MT_SYS, 0x35, "SYS_NV_UPDATE" },
        { SIM_MT_SYS, 0x80, "SYS_RESET_IND" },
        { SIM_MT_AF, 0x00, "AF_REGISTER" },
        { SIM_MT_AF, 0x01, "AF_DATA_REQUEST" },
        { SIM_MT_AF, 0x02, "AF_DATA_REQUEST_EXT" },
        { SIM_MT_AF, 0x03, "AF_DATA_REQUEST_SRC_RTG" },
        { SIM_MT_AF, 0x04, "AF_DELETE" },
        { SIM_MT_AF, 0x10, "AF_INTER_PAN_CTL" },
        { SIM_MT_AF, 0x12, "AF_DATA_RETRIEVE" },
        { SIM_MT_AF, 0x80, "AF_DATA_CONFIRM" },
        { SIM_MT_AF, 0x81, "AF_INCOMING_MSG" },
        { SIM_MT_AF, 0x82, "AF_INCOMING_MSG_EXT" },
        { SIM_MT_AF, 0x83, "AF_REFLECT_ERROR" },
        { SIM_MT_ZDO, 0x00, "ZDO_NWK_ADDR_REQ" },
        { SIM_MT_ZDO, 0x01, "ZDO_IEEE_ADDR_REQ" },
        { SIM_MT_ZDO, 0x02, "ZDO_NODE_DESC_REQ" },
        { SIM_MT_ZDO, 0x03, "ZDO_POWER_DESC_REQ" },
        { SIM_MT_ZDO, 0x04, "ZDO_SIMPLE_DESC_REQ" },
        { SIM_MT_ZDO, 0x05, "ZDO_ACTIVE_EP_REQ" },
        { SIM_MT_ZDO, 0x06, "ZDO_MATCH_DESC_REQ" },
        { SIM_MT_ZDO, 0x21, "ZDO_BIND_REQ" },
        { SIM_MT_ZDO, 0x22, "ZDO_UNBIND_REQ" },
        { SIM_MT_ZDO, 0x31, "ZDO_MGMT_LQI_REQ" },
        { SIM_MT_ZDO, 0x32, "ZDO_MGMT_RTG_REQ" },
        { SIM_MT_ZDO, 0x33, "ZDO_MGMT_BIND_REQ" },
        { SIM_MT_ZDO, 0x34, "ZDO_MGMT_LEAVE_REQ" },
        { SIM_MT_ZDO, 0x36, "ZDO_MGMT_PERMIT_JOIN_REQ" },
        { SIM_MT_ZDO, 0x37, "ZDO_MGMT_NWK_UPDATE_REQ" },
        { SIM_MT_ZDO, 0x3E, "ZDO_MSG_CB_REGISTER" },
        { SIM_MT_ZDO, 0x3F, "ZDO_MSG_CB_REMOVE" },
        { SIM_MT_ZDO, 0x40, "ZDO_STARTUP_FROM_APP" },
        { SIM_MT_ZDO, 0x45, "ZDO_EXT_ROUTE_DISC" },
        { SIM_MT_ZDO, 0x46, "ZDO_EXT_ROUTE_CHECK" },
        { SIM_MT_ZDO, 0x4A, "ZDO_EXT_FIND_GROUP" },
        { SIM_MT_ZDO, 0x4B, "ZDO_EXT_ADD_GROUP" },
        { SIM_MT_ZDO, 0x50, "ZDO_EXT_NWK_INFO" },
        { SIM_MT_ZDO, 0x80, "ZDO_NWK_ADDR_RSP" },
        { SIM_MT_ZDO, 0x81, "ZDO_IEEE_ADDR_RSP" },
        { SIM_MT_ZDO, 0x82, "ZDO_NODE_DESC_RSP" },
        { SIM_MT_ZDO, 0x84, "ZDO_SIMPLE_DESC_RSP" },
        { SIM_MT_ZDO, 0x85, "ZDO_ACTIVE_EP_RSP" },
        { SIM_MT_ZDO, 0xA1, "ZDO_BIND_RSP" },
        { SIM_MT_ZDO, 0xA2, "ZDO_UNBIND_RSP" },
        { SIM_MT_ZDO, 0xB1, "ZDO_MGMT_LQI_RSP" },
        { SIM_MT_ZDO, 0xB2, "ZDO_MGMT_RTG_RSP" },
        { SIM_MT_ZDO, 0xB4, "ZDO_MGMT_LEAVE_RSP" },
        { SIM_MT_ZDO, 0xB6, "ZDO_MGMT_PERMIT_JOIN_RSP" },
        { SIM_MT_ZDO, 0xB8, "ZDO_MGMT_NWK_UPDATE_NOTIFY" },
        { SIM_MT_ZDO, 0xC0, "ZDO_STATE_CHANGE_IND" },
        { SIM_MT_ZDO, 0xC1, "ZDO_END_DEVICE_ANNCE_IND" },
        { SIM_MT_ZDO, 0xC4, "ZDO_SRC_RTG_IND" },
        { SIM_MT_ZDO, 0xC9, "ZDO_LEAVE_IND" },
        { SIM_MT_ZDO, 0xCA, "ZDO_TC_DEV_IND" },
        { SIM_MT_ZDO, 0xCB, "ZDO_PERMIT_JOIN_IND" },
        { SIM_MT_UTIL, 0x00, "UTIL_GET_DEVICE_INFO" },
        { SIM_MT_UTIL, 0x01, "UTIL_GET_NV_INFO" },
        { SIM_MT_UTIL, 0x0A, "UTIL_LED_CONTROL" },
        { SIM_MT_UTIL, 0x40, "UTIL_ADDRMGR_EXT_ADDR_LOOKUP" },
        { SIM_MT_UTIL, 0x41, "UTIL_ADDRMGR_NWK_ADDR_LOOKUP" },
        { SIM_MT_UTIL, 0x48, "UTIL_ASSOC_COUNT" },
        { SIM_MT_UTIL, 0x49, "UTIL_ASSOC_FIND_DEVICE" },
        { SIM_MT_UTIL, 0x4A, "UTIL_ASSOC_GET_WITH_ADDRESS" },
        { SIM_MT_UTIL, 0x63, "UTIL_ASSOC_REMOVE" },
        { SIM_MT_UTIL, 0x64, "UTIL_ASSOC_ADD" },
        { SIM_MT_APP_CNF, 0x01, "APP_CNF_SET_DEFAULT_REMOTE_ENDDEVICE_TIMEOUT" },
        { SIM_MT_APP_CNF, 0x04, "APP_CNF_BDB_ADD_INSTALLCODE" },
        { SIM_MT_APP_CNF, 0x05, "APP_CNF_BDB_START_COMMISSIONING" },
        { SIM_MT_APP_CNF, 0x08, "APP_CNF_BDB_SET_CHANNEL" },
        { SIM_MT_APP_CNF, 0x09, "APP_CNF_BDB_SET_TC_REQUIRE_KEY_EXCHANGE" },
        { SIM_MT_APP_CNF, 0x80, "APP_CNF_BDB_COMMISSIONING_NOTIFICATION" },
        { SIM_MT_APP_CNF, 0xFF, "APP_CNF_SET_NWK_FRAME_COUNTER" },
};

const char *sim_mt_name(uint8_t cmd0, uint8_t cmd1) {
        uint8_t sub = cmd0 & 0x1F;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (names[i].subsystem == sub && names[i].cmd1 == cmd1)
                        return names[i].name;
        return NULL;
}

int sim_mt_describe(const SimMtFrame *f, bool from_host, char *out, size_t size) {
        static const char *const types[] = { "POLL", "SREQ", "AREQ", "SRSP", "RES4", "RES5", "RES6", "RES7" };
        uint8_t raw[SIM_MT_MAX_FRAME];
        size_t n = sim_mt_encode(f, raw);
        size_t o = 0;
        int r = snprintf(out, size, "%s", from_host ? "<-" : "->");
        if (r > 0)
                o = (size_t) r;
        for (size_t i = 0; i < n && o < size; i++) {
                r = snprintf(out + o, size - o, " %02X", raw[i]);
                if (r > 0)
                        o += (size_t) r;
        }
        if (o < size) {
                const char *name = sim_mt_name(f->cmd0, f->cmd1);
                if (name)
                        r = snprintf(out + o, size - o, " %s %s", types[sim_mt_type(f)], name);
                else
                        r = snprintf(out + o, size - o, " %s sub 0x%02X cmd 0x%02X (unknown)",
                                     types[sim_mt_type(f)], sim_mt_subsystem(f), f->cmd1);
                if (r > 0)
                        o += (size_t) r;
        }
        return (int) (o < size ? o : (size ? size - 1 : 0));
}
