/*
 * AF data path on top of the MT engine: unicast AF_DATA_REQUESTs matched with their
 * AF_DATA_CONFIRM by TransId, kept in order per destination, bounded in concurrency, and retried
 * the way zigbee-herdsman retries (busy radio or buffers: wait and resend; no route / no ACK: wait
 * and resend, then an extended route discovery). AF_INCOMING_MSG is parsed and handed upward with
 * its link quality. ZCL itself (sequence numbers, default responses) lives a layer above.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "znp/znp.h"

typedef struct Af Af;

#define AF_DATA_MAX             240u    /* AF_DATA_REQUEST: 10 header bytes in a 250-byte frame */
#define AF_PENDING_MAX          64u
#define AF_ATTEMPTS_MAX         5u
#define AF_RADIUS_DEFAULT       30u     /* herdsman: 2 * 0x0F */

/* Z-Stack statuses the retry policy knows (znp.md section 7). */
#define AF_STATUS_SUCCESS                       0x00
#define AF_STATUS_BUFFER_FULL                   0x11
#define AF_STATUS_MAC_NO_RESOURCES              0x1A
#define AF_STATUS_APS_NO_ACK                    0xB7
#define AF_STATUS_NWK_NO_ROUTE                  0xCD
#define AF_STATUS_MAC_CHANNEL_ACCESS_FAILURE    0xE1
#define AF_STATUS_MAC_NO_ACK                    0xE9
#define AF_STATUS_MAC_TRANSACTION_EXPIRED       0xF0

typedef struct AfRequest {
        uint16_t dst_addr;              /* unicast network address (< 0xFFF8) */
        uint8_t dst_endpoint;
        uint8_t src_endpoint;
        uint16_t cluster;
        uint8_t options;                /* AF options bits; 0 as herdsman sends ZCL */
        uint8_t radius;                 /* 0 = AF_RADIUS_DEFAULT */
        const uint8_t *data;            /* copied */
        size_t len;                     /* <= AF_DATA_MAX */
} AfRequest;

/* Delivery result: error 0 (status 0), or after the last attempt -EHOSTUNREACH (no ACK,
 * transaction expired), -ENETUNREACH (no route), -EBUSY (channel/buffers busy), -EIO (any other
 * status, see status), -ETIMEDOUT (no AF_DATA_CONFIRM), or a link error. */
typedef void (*AfSentFn)(Af *af, int error, uint8_t status, void *userdata);

typedef struct AfMessage {
        uint16_t group;                 /* 0 unless group-addressed */
        uint16_t cluster;
        uint16_t src_addr;
        uint8_t src_endpoint;
        uint8_t dst_endpoint;
        bool was_broadcast;
        uint8_t link_quality;
        bool secure;
        uint32_t timestamp;
        uint8_t trans_seq;
        const uint8_t *data;            /* the ZCL frame, valid during the callback */
        size_t len;
} AfMessage;

typedef void (*AfIncomingFn)(Af *af, const AfMessage *m, void *userdata);

/* Timing, zero = herdsman's values: 2 s between retries, 3 s after a route discovery, 10 s for the
 * confirm; at most 16 requests on the air at once (Z-Stack 3.x.0; herdsman uses 2 for older stacks). */
typedef struct AfParams {
        uint64_t retry_delay_usec;
        uint64_t route_discovery_delay_usec;
        uint64_t confirm_timeout_usec;
        unsigned concurrency;
} AfParams;

int af_new(Af **ret, Znp *znp, const AfParams *params);
Af *af_free(Af *af);            /* drops pending sends without calling back; fine inside an Af callback */

void af_set_incoming_handler(Af *af, AfIncomingFn fn, void *userdata);

/* Queues a unicast. Returns 0 (id in *ret_id for af_cancel), -EINVAL (broadcast address, too much
 * data), -ENOBUFS (AF_PENDING_MAX pending). The callback never runs inside af_send(). */
int af_send(Af *af, const AfRequest *req, AfSentFn cb, void *userdata, uint32_t *ret_id);
void af_cancel(Af *af, uint32_t id);

/* AF_INCOMING_MSG (AREQ 0x44 0x81) DATA into m (m->data points into f). -EBADMSG if malformed. */
int af_parse_incoming(const MtFrame *f, AfMessage *ret);

int af_status_to_errno(uint8_t status);
/* Sends retried so far (busy radio, no route, no ACK), for the metrics. */
uint64_t af_get_retries(const Af *af);
