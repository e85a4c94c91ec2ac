/*
 * Z-Stack MT request engine on sd-event: frames in, frames out; knows nothing of ZCL.
 *
 * MT: an SREQ is answered by exactly one SRSP, and the host must not send the next SREQ before it
 * arrives; AREQs may interleave. Hence one request in flight, the rest in a bounded queue.
 * AREQs from the coordinator go to one-shot waits (znp_wait_for) and to the handler table
 * (znp_add_areq_handler). An unexpected SYS_RESET_IND (one no wait asked for) and a dead link are
 * reported through the event callback. Nothing here blocks; nothing here logs (see znp_set_trace).
 *
 * Callbacks are never called from inside the function that registered them. znp_free() may be
 * called from any callback; nothing more is delivered after it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "znp/mt-frame.h"
#include "znp/transport.h"

typedef struct Znp Znp;

#define ZNP_QUEUE_MAX           64u             /* queued requests besides the one in flight */
#define ZNP_WAITS_MAX           64u
#define ZNP_HANDLERS_MAX        64u

#define ZNP_SREQ_TIMEOUT_USEC   (6 * 1000000ULL)        /* zigbee-herdsman's SREQ timeout */
#define ZNP_PARTIAL_FRAME_USEC  (1 * 1000000ULL)        /* a frame cut short by a quiet line is given up */

/* Result of a request: error 0 and the SRSP, or
 *   -ETIMEDOUT    no SRSP within the timeout,
 *   -EOPNOTSUPP   RPC error SRSP "invalid subsystem/command id" (srsp is that 0x60 0x00 frame),
 *   -EINVAL       RPC error SRSP "invalid parameter/length" (srsp is that frame),
 *   -ECONNRESET   the coordinator reset before answering,
 *   -ENOBUFS      the output buffer was full,
 *   other         the link failed (as reported by ZNP_EVENT_TRANSPORT_ERROR).
 * For an AREQ sent with znp_send(), the callback (if any) runs once it is written, with srsp NULL. */
typedef void (*ZnpReplyFn)(Znp *znp, int error, const MtFrame *srsp, void *userdata);

/* AREQ handler: called for every matching AREQ. */
typedef void (*ZnpAreqFn)(Znp *znp, const MtFrame *areq, void *userdata);

/* Wait predicate (NULL = any frame with the command) and its completion: error 0 and the frame,
 * -ETIMEDOUT, or a link error. */
typedef bool (*ZnpMatchFn)(const MtFrame *f, void *userdata);
typedef void (*ZnpWaitFn)(Znp *znp, int error, const MtFrame *f, void *userdata);

typedef enum ZnpEvent {
        ZNP_EVENT_COORDINATOR_RESET,    /* unexpected SYS_RESET_IND (frame given); pending requests failed */
        ZNP_EVENT_TRANSPORT_ERROR,      /* EOF / EIO / HUP / write error (error given); Znp is dead */
} ZnpEvent;

typedef void (*ZnpEventFn)(Znp *znp, ZnpEvent event, int error, const MtFrame *f, void *userdata);

/* Every frame in and out, for debug logs. secret = the frame carries key material (an NV write or
 * read of a key item), so log only its name. */
typedef void (*ZnpTraceFn)(Znp *znp, bool outgoing, const MtFrame *f, bool secret, void *userdata);

/* Bootloader skip at open, as zigbee-herdsman does it: ping (short timeout); if silent, write 0xEF
 * (leave a CC253x serial bootloader), wait, ping again; if silent and on a serial port, the CC2652
 * DTR/RTS pin sequence; then ordinary pings. Zero fields take the defaults in brackets. */
typedef struct ZnpStartParams {
        uint64_t probe_timeout_usec;    /* [250 ms] the two short pings */
        uint64_t bootloader_wait_usec;  /* [1 s] after writing 0xEF */
        uint64_t pin_step_usec;         /* [150 ms] per DTR/RTS step */
        uint64_t ping_timeout_usec;     /* [6 s] the final pings */
        unsigned ping_attempts;         /* [3] */
} ZnpStartParams;

typedef void (*ZnpReadyFn)(Znp *znp, int error, void *userdata);

/* Takes ownership of the transport (also on failure). */
int znp_new(Znp **ret, sd_event *event, Transport *transport);
Znp *znp_free(Znp *znp);

void znp_set_event_handler(Znp *znp, ZnpEventFn fn, void *userdata);
void znp_set_trace(Znp *znp, ZnpTraceFn fn, void *userdata);

/* Probes the coordinator; on_ready(0) once it answers SYS_PING, -ETIMEDOUT if it never does.
 * znp_request()/znp_send() return -EAGAIN before that. */
int znp_start(Znp *znp, const ZnpStartParams *params, ZnpReadyFn on_ready, void *userdata);
bool znp_is_ready(const Znp *znp);

/* Queues an SREQ. timeout_usec 0 = ZNP_SREQ_TIMEOUT_USEC. Returns 0 (and an id for znp_cancel in
 * *ret_id if non-NULL), -ENOBUFS when the queue is full, -EINVAL if f is not an SREQ, -EAGAIN
 * before the start probe succeeded, the link error once it failed. */
int znp_request(Znp *znp, const MtFrame *sreq, uint64_t timeout_usec, ZnpReplyFn cb, void *userdata,
                uint32_t *ret_id);

/* Queues an AREQ from the host (e.g. SYS_RESET_REQ) in order with the SREQs; cb may be NULL. */
int znp_send(Znp *znp, const MtFrame *areq, ZnpReplyFn cb, void *userdata, uint32_t *ret_id);

/* One-shot wait for an AREQ (cmd0, cmd1) accepted by match, armed now (so arm it before sending the
 * request that triggers it). A wait for SYS_RESET_IND makes that reset expected. */
int znp_wait_for(Znp *znp, uint8_t cmd0, uint8_t cmd1, ZnpMatchFn match, uint64_t timeout_usec,
                 ZnpWaitFn cb, void *userdata, uint32_t *ret_id);

/* Permanent AREQ handler for (cmd0, cmd1); -ENOBUFS when the table is full. */
int znp_add_areq_handler(Znp *znp, uint8_t cmd0, uint8_t cmd1, ZnpAreqFn fn, void *userdata, uint32_t *ret_id);

/* Drops a request, wait or handler without calling it. A cancelled request already in flight still
 * holds the line until its SRSP or timeout. Unknown ids are ignored. */
void znp_cancel(Znp *znp, uint32_t id);

typedef struct ZnpStats {
        MtParserStats parser;
        uint64_t frames_out;
        uint64_t unexpected_srsp;       /* SRSP with no matching request in flight */
        uint64_t unhandled_areq;        /* AREQ no wait or handler took */
        uint64_t timeouts;
} ZnpStats;

void znp_get_stats(const Znp *znp, ZnpStats *ret);
Transport *znp_get_transport(Znp *znp);
sd_event *znp_get_event(Znp *znp);
