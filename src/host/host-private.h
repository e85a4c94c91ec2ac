/*
 * Internals shared by the host modules (host.c, af.c, zdo.c, interview.c). Not for other directories.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "host/host.h"
#include "znp/af.h"
#include "znp/mt-frame.h"
#include "znp/znp.h"

/* MT commands used here */
#define CMD0_ZDO_SREQ   MT_CMD0(MT_SREQ, MT_SUBSYS_ZDO)
#define CMD0_ZDO_AREQ   MT_CMD0(MT_AREQ, MT_SUBSYS_ZDO)
#define CMD0_UTIL_SREQ  MT_CMD0(MT_SREQ, MT_SUBSYS_UTIL)

#define ZDO_NWK_ADDR_REQ        0x00
#define ZDO_IEEE_ADDR_REQ       0x01
#define ZDO_NODE_DESC_REQ       0x02
#define ZDO_SIMPLE_DESC_REQ     0x04
#define ZDO_ACTIVE_EP_REQ       0x05
#define ZDO_MGMT_LEAVE_REQ      0x34
#define ZDO_MGMT_PERMIT_JOIN_REQ 0x36
#define ZDO_EXT_ROUTE_DISC      0x45
#define ZDO_NWK_ADDR_RSP        0x80
#define ZDO_IEEE_ADDR_RSP       0x81
#define ZDO_NODE_DESC_RSP       0x82
#define ZDO_SIMPLE_DESC_RSP     0x84
#define ZDO_ACTIVE_EP_RSP       0x85
#define ZDO_MGMT_LEAVE_RSP      0xB4
#define ZDO_END_DEVICE_ANNCE_IND 0xC1
#define ZDO_LEAVE_IND           0xC9
#define ZDO_TC_DEV_IND          0xCA
#define ZDO_PERMIT_JOIN_IND     0xCB

#define UTIL_ADDRMGR_NWK_ADDR_LOOKUP 0x41

#define AF_DEFAULT_RADIUS       30      /* zigbee-herdsman: 2 x 0x0F */

#define HOST_HANDLERS           10u     /* ZDO responses 6, ZDO indications 4 */
#define HOST_SREQ_MAX           64u
#define HOST_ZDO_MAX            32u
#define HOST_LOOKUPS_MAX        8u
#define HOST_HOLDOFF_MAX        8u

/* An SREQ the host has in the Znp queue; userdata of the znp callback. */
typedef void (*HostSreqFn)(Host *h, int error, const MtFrame *srsp, void *ctx, uint32_t cookie);

typedef struct HostSreq {
        Host *host;
        uint32_t znp_id;                /* 0: free */
        HostSreqFn fn;
        void *ctx;
        uint32_t cookie;
} HostSreq;

/* A ZDO request and the AREQ that answers it. */
typedef void (*HostZdoFn)(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie);

typedef struct HostZdo {
        Host *host;
        bool used;
        uint32_t gen;
        uint8_t rsp_cmd1;               /* the AREQ awaited; 0 = only the SRSP */
        uint16_t match_nwk;             /* SrcAddr (or the NwkAddr of an IEEE_ADDR_RSP) */
        uint64_t match_ieee;            /* NWK_ADDR_RSP */
        int match_endpoint;             /* SIMPLE_DESC_RSP, else -1 */
        bool srsp_ok;
        HostZdoFn fn;
        void *ctx;
        uint32_t cookie;
        sd_event_source *timer;
} HostZdo;

typedef enum TxnState {
        TXN_FREE,
        TXN_QUEUED,
        TXN_SENDING,            /* with Af: AF_DATA_REQUEST, its confirm, Af's own retries */
        TXN_RESPONDING,         /* the ZCL response awaited */
        TXN_ROUTE_DISC,         /* ZDO_EXT_ROUTE_DISC SRSP awaited, then route_wait */
        TXN_ROUTE_WAIT,
        TXN_NWK_LOOKUP,         /* ZDO_NWK_ADDR_REQ and its answer */
} TxnState;

typedef enum TxnExpect {
        EXPECT_NOTHING,         /* done on the confirm */
        EXPECT_RESPONSE,        /* the command's response (expect_cmd) or a Default Response */
        EXPECT_DEFAULT_RSP,
} TxnExpect;

typedef struct HostTxn {
        Host *host;
        TxnState state;
        uint32_t id;            /* public id, never 0 while used */
        uint32_t gen;           /* bumped whenever the entry is released */
        uint64_t seq;           /* FIFO order */
        bool ordered;           /* counts for per-device ordering (default responses do not) */

        uint16_t nwk;
        uint8_t dst_ep;
        uint16_t cluster;
        uint8_t data[HOST_AF_DATA_MAX];
        uint8_t len;
        uint8_t tsn;
        TxnExpect expect;
        uint8_t expect_cmd;
        bool expect_global;

        uint32_t af_id;         /* the Af send in progress, 0 if none */
        bool sent;              /* sent at least once: answers may match */
        bool nwk_checked, response_retried;
        int last_error;         /* of the last failed send */
        uint8_t last_status;

        HostZclDoneFn done;
        void *userdata;
        sd_event_source *timer;
} HostTxn;

typedef struct HostDevice {
        uint64_t ieee;          /* 0: free */
        uint16_t nwk;
        bool dr_valid;          /* last TSN we sent a Default Response for (duplicates) */
        uint8_t dr_tsn;
} HostDevice;

typedef enum LookupState {
        LOOKUP_FREE,
        LOOKUP_UTIL,            /* UTIL_ADDRMGR_NWK_ADDR_LOOKUP */
        LOOKUP_ZDO,             /* ZDO_IEEE_ADDR_REQ over the air */
} LookupState;

typedef struct HostLookup {
        LookupState state;
        uint32_t gen;
        uint16_t nwk;
} HostLookup;

typedef struct HostHoldoff {
        uint16_t nwk;
        uint64_t until;         /* CLOCK_MONOTONIC usec; 0 = free */
} HostHoldoff;

typedef enum InterviewState {
        IV_FREE,
        IV_RUNNING,
        IV_WAITING,             /* the pause before re-reading modelId/manufacturerName */
} InterviewState;

typedef struct HostInterview {
        Host *host;
        InterviewState state;
        uint32_t gen;
        InterviewStep step;
        unsigned attempt;
        unsigned ep_index;              /* simple descriptors */
        InterviewAttr attr;             /* Basic reads */
        bool second_pass;               /* re-reading the missing modelId/manufacturerName */
        uint32_t txn_id;
        sd_event_source *timer;
        uint8_t eps[INTERVIEW_ENDPOINTS_MAX];
        uint8_t n_eps;
        InterviewResult result;
} HostInterview;

typedef struct HostLeave {
        bool used;
        uint32_t gen;
        HostDoneFn done;
        void *userdata;
} HostLeave;

struct Host {
        sd_event *event;
        Znp *znp;
        HostParams params;
        HostCallbacks cb;
        void *userdata;

        unsigned depth;
        bool freed;

        uint32_t handler_ids[HOST_HANDLERS];
        size_t n_handlers;

        HostSreq sreqs[HOST_SREQ_MAX];
        HostZdo zdos[HOST_ZDO_MAX];

        HostDevice devices[HOST_DEVICES_MAX];

        /* Allocated as needed and kept (entries are reused; a callback may still hold one): the
         * fixed array of 128 was 43 KiB, with a few in use at a time. */
        HostTxn *txns[HOST_TXN_MAX];
        size_t n_txns;
        uint64_t txn_seq;
        uint32_t next_txn_id;
        Af *af;                 /* the AF data path (TransIds, confirms, AF-level retries) */
        uint8_t tsn;            /* ZCL TSN */

        HostLookup lookups[HOST_LOOKUPS_MAX];
        HostHoldoff holdoffs[HOST_HOLDOFF_MAX];

        HostInterview *interviews[HOST_INTERVIEWS_MAX];        /* as txns: allocated as needed, kept */
        size_t n_interviews;

        /* permit join */
        bool pj_busy;
        uint32_t pj_gen;
        unsigned pj_seconds;            /* the state reported upward */
        unsigned pj_request;            /* the duration being requested */
        HostDoneFn pj_done;
        void *pj_userdata;
        sd_event_source *pj_timer;
        uint64_t pj_until;

        HostLeave leaves[4];

        sd_event_source *pump;          /* deferred scheduler run of the transactions */

        HostStats stats;
};

/* host.c */
void host_enter(Host *h);
void host_leave(Host *h);
int host_sreq(Host *h, const MtFrame *f, uint64_t timeout_usec, HostSreqFn fn, void *ctx, uint32_t cookie);
int host_arm_timer(Host *h, sd_event_source **s, uint64_t usec, sd_event_time_handler_t fn, void *userdata);
void host_disarm(sd_event_source *s);
HostDevice *host_device_by_nwk(Host *h, uint16_t nwk);
HostDevice *host_device_by_ieee(Host *h, uint64_t ieee);
void host_put_ieee(uint8_t *p, uint64_t ieee);
uint64_t host_get_ieee(const uint8_t *p);
void host_note_unknown(Host *h, uint16_t nwk);

/* zdo.c */
int host_zdo_request(Host *h, const MtFrame *req, uint8_t rsp_cmd1, uint16_t match_nwk, int match_endpoint,
                     uint64_t match_ieee, HostZdoFn fn, void *ctx, uint32_t cookie);
void host_zdo_register(Host *h);
void host_zdo_fail_all(Host *h, int error);
void host_zdo_destroy(Host *h);

/* txn.c */
int host_af_start(Host *h);
void host_af_fail_all(Host *h, int error);
/* Queued and running transactions for a device that moved follow it to its new address. */
void host_af_address_changed(Host *h, uint16_t old, uint16_t nwk);
void host_af_destroy(Host *h);

/* interview.c */
void host_interview_fail_all(Host *h, int error, const char *why);
void host_interview_destroy(Host *h);
void host_interview_device_left(Host *h, uint64_t ieee);
void host_interview_address_changed(Host *h, uint64_t ieee, uint16_t nwk);
