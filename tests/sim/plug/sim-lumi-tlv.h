/*
 * The Lumi TLV blob a ZNCZ04LM sends as attribute 0x00F7 (octet string) of cluster 0xFCC0:
 * records [tag u8][ZCL type u8][value, little-endian], in the order the real plug uses.
 * Firmware 22 (sprut/Hub issue #192, 61 bytes) and firmware 24 (Koenkk/zigbee2mqtt #17975,
 * 52 bytes: no energy tag 0x95 and no tag 0x07, extra tags 0x0A and 0x0C) differ.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct SimLumiTlv {
        bool on;                        /* tag 0x64 bool */
        int8_t temperature_c;           /* tag 0x03 int8 */
        float power_w;                  /* tag 0x98 single */
        float energy_kwh;               /* tag 0x95 single */
        float voltage_dv;               /* tag 0x96 single, volts x 10 */
        float current_ma;               /* tag 0x97 single, mA */
        uint16_t boot_count;            /* tag 0x05 uint16: power outages + 1 */
        uint8_t app_version;            /* tag 0x08 uint16 = 0x0100 | app version (278 on fw 22,
                                         * 280 on fw 24); >= 24 selects the fw 24 layout */
        bool consumer_connected;        /* tag 0x9B bool (Z2M ignores it) */
} SimLumiTlv;

/* Length of the blob: 61 bytes (fw 22), 52 bytes (fw 24). */
#define SIM_LUMI_TLV_LEN 61
#define SIM_LUMI_TLV_LEN_FW24 52

/* Writes the blob (without the octet-string length byte); returns its length or -ENOBUFS. */
int sim_lumi_tlv_encode(const SimLumiTlv *v, uint8_t *out, size_t max);
