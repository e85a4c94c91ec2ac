/*
 * Encoder of the ZNCZ04LM's Lumi TLV status blob (see sim-lumi-tlv.h).
 */
#include <errno.h>

#include "sim-lumi-tlv.h"
#include "sim-zcl.h"

int sim_lumi_tlv_encode(const SimLumiTlv *v, uint8_t *out, size_t max) {
        bool fw24 = v->app_version >= 24;
        ZclWriter w;

        zw_init(&w, out, max);
        zw_u8(&w, 0x64); zw_u8(&w, ZT_BOOL); zw_u8(&w, v->on);
        zw_u8(&w, 0x03); zw_u8(&w, ZT_INT8); zw_u8(&w, (uint8_t) v->temperature_c);
        zw_u8(&w, 0x98); zw_u8(&w, ZT_SINGLE); zw_float(&w, v->power_w);
        if (!fw24) {
                zw_u8(&w, 0x95); zw_u8(&w, ZT_SINGLE); zw_float(&w, v->energy_kwh);
        }
        zw_u8(&w, 0x96); zw_u8(&w, ZT_SINGLE); zw_float(&w, v->voltage_dv);
        zw_u8(&w, 0x97); zw_u8(&w, ZT_SINGLE); zw_float(&w, v->current_ma);
        zw_u8(&w, 0x05); zw_u8(&w, ZT_UINT16); zw_u16(&w, v->boot_count);
        /* Tags Z2M ignores; values as in the captures (0x08 carries the firmware version). */
        zw_u8(&w, 0x9a); zw_u8(&w, ZT_UINT8); zw_u8(&w, fw24 ? 0x10 : 0);
        zw_u8(&w, 0x08); zw_u8(&w, ZT_UINT16); zw_u16(&w, 0x0100 | v->app_version);
        if (!fw24) {
                zw_u8(&w, 0x07); zw_u8(&w, ZT_UINT64); zw_u64(&w, 0);
        }
        zw_u8(&w, 0x09); zw_u8(&w, ZT_UINT16); zw_u16(&w, fw24 ? 0x0700 : 0x0400);
        zw_u8(&w, 0x0b); zw_u8(&w, ZT_UINT8); zw_u8(&w, 0);
        zw_u8(&w, 0x9b); zw_u8(&w, ZT_BOOL); zw_u8(&w, v->consumer_connected);
        if (fw24) {
                zw_u8(&w, 0x0a); zw_u8(&w, ZT_UINT16); zw_u16(&w, 0);
                zw_u8(&w, 0x0c); zw_u8(&w, ZT_UINT8); zw_u8(&w, 1);
        }

        if (w.overflow)
                return -ENOBUFS;
        return (int) w.len;
}
