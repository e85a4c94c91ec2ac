/*
 * AF (application framework) frames through MT: the AF_INCOMING_MSG parser and the statuses the host
 * retries. The data path itself (AF_DATA_REQUEST, confirms, retries, ordering) is reached through
 * host.h (host_zcl_request).
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
        const uint8_t *data;    /* points into the frame */
        uint8_t len;
        bool has_trailer;       /* the 3 bytes real firmware appends after Data */
        uint16_t mac_src_addr;  /* last hop, valid with has_trailer */
        uint8_t radius;
} HostAfIncoming;

/* DATA of AF_INCOMING_MSG (AREQ 0x44 0x81) -> *ret. -EBADMSG when shorter than its Len says. */
int host_af_parse_incoming(const uint8_t *d, size_t n, HostAfIncoming *ret);

typedef enum HostAfRetryKind {
        HOST_AF_RETRY_NONE,          /* fail at once */
        HOST_AF_RETRY_TRANSIENT,     /* busy channel / full buffers: wait, resend */
        HOST_AF_RETRY_ROUTE,         /* no route / no ack / expired: wait, then route discovery, then address check */
} HostAfRetryKind;

HostAfRetryKind host_af_retry_kind(uint8_t status);
