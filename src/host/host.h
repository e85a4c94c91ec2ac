/*
 * Zigbee host layer on the MT request engine and its AF data path (src/znp/af.h: AF_DATA_REQUEST /
 * AF_DATA_CONFIRM by TransId with the AF-level retries): ZCL transactions (TSN, one per device at a
 * time, a concurrency cap, wait for the matching response, default responses), ZDO (permit join,
 * join/announce/leave indications, management leave, address lookups) and the interview of a new
 * device.
 *
 * It reports upward only through HostCallbacks. Nothing here blocks or logs. While a Host exists it
 * owns the Znp event handler slot (znp_set_event_handler) and reports coordinator loss through
 * coordinator_lost. host_free() must run before znp_free(); it may be called from any callback, and
 * nothing is delivered after it. Callbacks never run inside the call that started the work.
 *
 * After coordinator_lost(HOST_LOSS_TRANSPORT) the Znp is dead: free the Host, then the Znp, and build
 * both again on the reopened port (the device table is the owner's to re-add). After
 * HOST_LOSS_COORDINATOR_RESET the Znp still works; run the Z-Stack start-up again before new requests.
 *
 * The Host owns the Af of src/znp/af.h on its Znp; do not create a second one on the same Znp (each
 * registers for AF_DATA_CONFIRM / AF_INCOMING_MSG and counts its own TransIds).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "host/interview.h"
#include "zigbee/zcl.h"
#include "znp/znp.h"

typedef struct Host Host;

#define HOST_DEVICES_MAX        256u    /* IEEE <-> network address table */
#define HOST_TXN_MAX            128u    /* ZCL transactions queued or running, all devices */
#define HOST_DEVICE_QUEUE_MAX   8u      /* per device, queued + running; beyond: -ENOBUFS */
#define HOST_CONCURRENCY_3X0    16u     /* zigbee-herdsman: 16 on Z-Stack 3.x.0, 2 on older stacks */
#define HOST_AF_DATA_MAX        240u    /* 250-byte MT payload minus the AF_DATA_REQUEST fields */
#define HOST_INTERVIEWS_MAX     8u
#define HOST_PERMIT_JOIN_MAX    254u

/* Timings; zero fields take the defaults in brackets (zigbee-herdsman's values). */
typedef struct HostParams {
        unsigned concurrency;           /* [16] ZCL transactions in progress at once (also Af's cap) */
        uint64_t confirm_timeout_usec;  /* [10 s] AF_DATA_CONFIRM after the SRSP (passed to Af) */
        uint64_t response_timeout_usec; /* [10 s] the ZCL response after the confirm */
        uint64_t retry_delay_usec;      /* [2 s] before resending after a failed confirm (passed to Af) */
        uint64_t route_wait_usec;       /* [3 s] after ZDO_EXT_ROUTE_DISC (passed to Af) */
        uint64_t zdo_timeout_usec;      /* [10 s] a ZDO response AREQ */
        uint64_t basic_retry_delay_usec;/* [10 s] before re-reading modelId / manufacturerName */
        uint64_t lookup_holdoff_usec;   /* [30 s] no new IEEE lookup for an address that just failed */
        uint8_t src_endpoint;           /* [1] our endpoint for ZCL */
} HostParams;

typedef enum HostLossReason {
        HOST_LOSS_COORDINATOR_RESET,    /* unexpected SYS_RESET_IND */
        HOST_LOSS_TRANSPORT,            /* the port died; the Znp is dead */
} HostLossReason;

typedef enum HostUnknownSource {
        HOST_UNKNOWN_FROM_MESSAGE,      /* an AF_INCOMING_MSG from an unknown address */
        HOST_UNKNOWN_FROM_ANNOUNCE,     /* a device announce carrying an unknown IEEE */
} HostUnknownSource;

/* A ZCL frame received from a device. Pointers are valid during the callback only. */
typedef struct HostZclMessage {
        uint16_t nwk;
        uint64_t ieee;                  /* 0 when the address is not (yet) known */
        uint16_t group;                 /* 0 unless group-addressed */
        uint16_t cluster;
        uint8_t src_endpoint, dst_endpoint;
        uint8_t lqi;
        bool broadcast;
        ZclHeader header;
        const uint8_t *frame;           /* the whole ZCL frame */
        size_t frame_len;
        const uint8_t *payload;         /* after the header */
        size_t payload_len;
} HostZclMessage;

typedef struct HostCallbacks {
        void (*device_joined)(Host *h, uint64_t ieee, uint16_t nwk, uint16_t parent, void *userdata);
        /* old_nwk != nwk when a known device came back with a new address */
        void (*device_announced)(Host *h, uint64_t ieee, uint16_t nwk, uint16_t old_nwk, uint8_t capabilities,
                                 void *userdata);
        void (*device_left)(Host *h, uint64_t ieee, uint16_t nwk, void *userdata);
        void (*interview_done)(Host *h, const InterviewResult *result, void *userdata);
        void (*zcl_received)(Host *h, const HostZclMessage *msg, void *userdata);
        /* A device not in the table talked; its IEEE was resolved and it is now in the table. */
        void (*unknown_device)(Host *h, uint64_t ieee, uint16_t nwk, HostUnknownSource source, void *userdata);
        /* seconds > 0: open for that long; 0: closed (by request, by the timer or by the coordinator) */
        void (*permit_join_changed)(Host *h, unsigned seconds, void *userdata);
        /* A retry learned a device's new network address (ZDO_NWK_ADDR_REQ). */
        void (*address_changed)(Host *h, uint64_t ieee, uint16_t old_nwk, uint16_t nwk, void *userdata);
        /* Pending work has been failed with -ECONNRESET before this is called. */
        void (*coordinator_lost)(Host *h, HostLossReason reason, int error, void *userdata);
} HostCallbacks;

int host_new(Host **ret, sd_event *event, Znp *znp, const HostParams *params);
Host *host_free(Host *h);
void host_set_callbacks(Host *h, const HostCallbacks *cb, void *userdata);

/* The device table: the owner adds what its database holds; joins and announces add by themselves.
 * -ENOBUFS when full. */
int host_device_add(Host *h, uint64_t ieee, uint16_t nwk);
void host_device_remove(Host *h, uint64_t ieee);
/* 0 and the other address, or -ENOENT. */
int host_device_lookup_nwk(const Host *h, uint16_t nwk, uint64_t *ret_ieee);
int host_device_lookup_ieee(const Host *h, uint64_t ieee, uint16_t *ret_nwk);

/* ZCL. The caller builds the frame with a TSN from host_next_tsn(). The host sends it in per-device
 * order and completes it when it is done:
 *   - a global Read/Write/Configure Reporting (and other commands with a response): on the response
 *     with the same TSN from that device and cluster (or a Default Response with that TSN);
 *   - otherwise, if "disable default response" is clear: on the Default Response;
 *   - otherwise: on a successful AF_DATA_CONFIRM.
 * Sending, confirms and the AF-level retries are src/znp/af.h's (Af, owned by the Host). Above it:
 * after Af's last failed attempt for want of a route or an ack, the device's address is asked once
 * (ZDO_NWK_ADDR_REQ) and a device that moved is followed; a delivered request that is not answered is
 * sent once more after a route discovery (both as zigbee-herdsman does).
 * done gets error 0 and the response (NULL when none is expected), or, with af_status saying why,
 *   -EHOSTUNREACH (no ack / expired), -ENETUNREACH (no route), -EBUSY (channel or buffers busy),
 *   -EIO (any other status), -ETIMEDOUT (no confirm / no response), -ECONNRESET (coordinator reset or
 *   link lost). host_zcl_cancel() drops a request without calling done.
 * host_zcl_request returns 0 (an id in *ret_id), -ENOBUFS (queue full for the device or overall),
 * -EMSGSIZE (frame > 240 bytes), -EBADMSG (not a ZCL frame), or the link error. */
typedef void (*HostZclDoneFn)(Host *h, int error, uint8_t af_status, const HostZclMessage *response, void *userdata);

uint8_t host_next_tsn(Host *h);
int host_zcl_request(Host *h, uint16_t nwk, uint8_t endpoint, uint16_t cluster, const uint8_t *frame, size_t len,
                     HostZclDoneFn done, void *userdata, uint32_t *ret_id);
void host_zcl_cancel(Host *h, uint32_t id);

/* Permit join network-wide (ZDO_MGMT_PERMIT_JOIN_REQ to 0xFFFC, AddrMode 0x0F) and on the coordinator
 * itself (AddrMode 0x02 to 0x0000), TC significance 1. seconds 0 closes; > 254 is -ERANGE. done gets 0
 * or the error of either request (-EIO for a refusing status). permit_join_changed follows. */
typedef void (*HostDoneFn)(Host *h, int error, void *userdata);
int host_permit_join(Host *h, unsigned seconds, HostDoneFn done, void *userdata);
unsigned host_permit_join_remaining(const Host *h);

/* Asks the device to leave (ZDO_MGMT_LEAVE_REQ, MT flags: no rejoin, keep children) and waits for its
 * ZDO_MGMT_LEAVE_RSP. done: 0, -EIO (a non-zero status), -ETIMEDOUT, -ECONNRESET. */
int host_remove_device(Host *h, uint64_t ieee, uint16_t nwk, HostDoneFn done, void *userdata);

/* Interview (see interview.h). -EALREADY if one is running for ieee, -ENOBUFS if too many run. */
int host_interview_start(Host *h, uint64_t ieee, uint16_t nwk);
void host_interview_cancel(Host *h, uint64_t ieee);
bool host_interview_running(const Host *h, uint64_t ieee);

/* What the host does when the Znp reports an event (exposed for owners that keep the slot). */
void host_handle_znp_event(Host *h, ZnpEvent event, int error);

typedef struct HostStats {
        uint64_t frames_in, frames_dropped;     /* AF messages with / without a ZCL header */
        uint64_t af_sent, af_failed;                    /* sends handed to Af; transactions failed */
        uint64_t af_retries;                            /* Af's resends */
        uint64_t default_responses;
        uint64_t lookups, lookups_resolved, lookups_failed;    /* IEEE lookups of unknown senders */
} HostStats;
void host_get_stats(const Host *h, HostStats *ret);

/* "MAC no ack", ... for an AF/MT status; "unknown status" otherwise. */
const char *host_af_status_to_string(uint8_t status);
