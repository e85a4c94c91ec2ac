/*
 * A view of AF_INCOMING_MSG with the 3-byte trailer real firmware appends after Data (MacSrcAddr, the
 * last hop, and the radius), which af_parse_incoming() of src/znp/af.h does not expose. The parsing
 * itself is af_parse_incoming()'s; the data path is src/znp/af.h plus host.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct HostAfIncoming {
        uint16_t group;
        uint16_t cluster;
        uint16_t src_addr;
        uint8_t src_endpoint, dst_endpoint;
        bool broadcast;
        uint8_t lqi;
        bool secured;
        uint32_t timestamp;
        uint8_t trans_seq;
        const uint8_t *data;    /* points into d */
        uint8_t len;
        bool has_trailer;
        uint16_t mac_src_addr;  /* last hop, valid with has_trailer */
        uint8_t radius;
} HostAfIncoming;

/* DATA of AF_INCOMING_MSG (AREQ 0x44 0x81) -> *ret. -EBADMSG when malformed or longer than an MT frame. */
int host_af_parse_incoming(const uint8_t *d, size_t n, HostAfIncoming *ret);
