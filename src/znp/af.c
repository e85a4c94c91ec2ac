/*
 * AF data path: per-destination ordered unicasts with TransId-matched confirms and retries;
 * incoming AF messages.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "util/macro.h"
#include "znp/af.h"

#define USEC_PER_SEC 1000000ULL
#define RETRY_DELAY_USEC                (2 * USEC_PER_SEC)
#define ROUTE_DISCOVERY_DELAY_USEC      (3 * USEC_PER_SEC)
#define CONFIRM_TIMEOUT_USEC            (10 * USEC_PER_SEC)
#define CONCURRENCY_DEFAULT             16u

#define CMD0_AF_AREQ MT_CMD0(MT_AREQ, MT_SUBSYS_AF)
#define AF_DATA_REQUEST         0x01
#define AF_DATA_CONFIRM         0x80
#define AF_INCOMING_MSG         0x81
#define ZDO_EXT_ROUTE_DISC      0x45

typedef enum SendState {
        SEND_QUEUED,
        SEND_AWAIT_SRSP,
        SEND_AWAIT_CONFIRM,
        SEND_BACKOFF,
} SendState;

typedef struct Send {
        uint32_t id;
        SendState state;
        AfRequest req;
        uint8_t data[AF_DATA_MAX];
        AfSentFn cb;
        void *userdata;
        uint8_t trans_id;
        unsigned attempts;
        bool route_discovered;
        uint32_t znp_id;
        sd_event_source *timer;
        Af *af;
} Send;

struct Af {
        Znp *znp;
        AfParams params;
        sd_event_source *kick;
        Send *sends[AF_PENDING_MAX];    /* in submission order */
        size_t n_sends;
        uint32_t next_id;
        uint8_t next_trans_id;
        uint32_t confirm_handler, incoming_handler;
        AfIncomingFn incoming_fn;
        void *incoming_userdata;
        unsigned depth;                 /* > 0 while in a callback from Znp or sd-event */
        uint64_t retries;               /* sends put back for another attempt, for the metrics */
        bool freed;                     /* af_free() ran during one; finished at the way out */
};

static void af_destroy(Af *af);

static void af_enter(Af *af) {
        af->depth++;
}

static void af_leave(Af *af) {
        assert(af->depth > 0);
        if (--af->depth == 0 && af->freed)
                af_destroy(af);
}

int af_status_to_errno(uint8_t status) {
        switch (status) {
        case AF_STATUS_SUCCESS:
                return 0;
        case AF_STATUS_MAC_NO_ACK:
        case AF_STATUS_APS_NO_ACK:
        case AF_STATUS_MAC_TRANSACTION_EXPIRED:
                return -EHOSTUNREACH;
        case AF_STATUS_NWK_NO_ROUTE:
                return -ENETUNREACH;
        case AF_STATUS_MAC_CHANNEL_ACCESS_FAILURE:
        case AF_STATUS_BUFFER_FULL:
        case AF_STATUS_MAC_NO_RESOURCES:
                return -EBUSY;
        default:
                return -EIO;
        }
}

int af_parse_incoming(const MtFrame *f, AfMessage *ret) {
        const uint8_t *d = f->data;

        /* GroupId, ClusterId, SrcAddr, SrcEp, DstEp, WasBroadcast, LQI, Security, TimeStamp u32,
         * TransSeq, Len, Data[Len], then (undocumented) MacSrcAddr u16, MsgResultRadius u8 */
        if (f->len < 17 || (size_t) f->len < 17u + d[16])
                return -EBADMSG;
        *ret = (AfMessage) {
                .group = mt_le16(d),
                .cluster = mt_le16(d + 2),
                .src_addr = mt_le16(d + 4),
                .src_endpoint = d[6],
                .dst_endpoint = d[7],
                .was_broadcast = d[8] != 0,
                .link_quality = d[9],
                .secure = d[10] != 0,
                .timestamp = mt_le32(d + 11),
                .trans_seq = d[15],
                .len = d[16],
                .data = d + 17,
        };
        return 0;
}

static void send_free(Send *s) {
        if (!s)
                return;
        sd_event_source_disable_unref(s->timer);
        free(s);
}

static size_t find_send(Af *af, const Send *s) {
        for (size_t i = 0; i < af->n_sends; i++)
                if (af->sends[i] == s)
                        return i;
        return SIZE_MAX;
}

static void kick(Af *af) {
        (void) sd_event_source_set_enabled(af->kick, SD_EVENT_ONESHOT);
}

static void complete(Af *af, Send *s, int error, uint8_t status) {
        size_t i = find_send(af, s);
        AfSentFn cb = s->cb;
        void *userdata = s->userdata;

        assert(i != SIZE_MAX);
        memmove(af->sends + i, af->sends + i + 1, (af->n_sends - i - 1) * sizeof(Send *));
        af->n_sends--;
        znp_cancel(af->znp, s->znp_id);
        send_free(s);
        kick(af);
        if (cb)
                cb(af, error, status, userdata);
}

static bool trans_id_in_use(Af *af, uint8_t id) {
        for (size_t i = 0; i < af->n_sends; i++)
                if (af->sends[i]->state != SEND_QUEUED && af->sends[i]->trans_id == id)
                        return true;
        return false;
}

/* herdsman counts 1..255 and wraps to 1; skip ids still awaiting a confirm. */
static uint8_t new_trans_id(Af *af) {
        for (int tries = 0; tries < 256; tries++) {
                if (++af->next_trans_id == 0)
                        af->next_trans_id = 1;
                if (!trans_id_in_use(af, af->next_trans_id))
                        break;
        }
        return af->next_trans_id;
}

static void on_data_request_srsp(Znp *znp, int error, const MtFrame *srsp, void *userdata);
static void retry_or_fail(Af *af, Send *s, uint8_t status);

static void transmit(Af *af, Send *s) {
        MtFrame f;
        int r;

        s->trans_id = new_trans_id(af);
        s->attempts++;
        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_AF, AF_DATA_REQUEST, NULL, 0);
        (void) mt_frame_append_le16(&f, s->req.dst_addr);
        (void) mt_frame_append_u8(&f, s->req.dst_endpoint);
        (void) mt_frame_append_u8(&f, s->req.src_endpoint);
        (void) mt_frame_append_le16(&f, s->req.cluster);
        (void) mt_frame_append_u8(&f, s->trans_id);
        (void) mt_frame_append_u8(&f, s->req.options);
        (void) mt_frame_append_u8(&f, s->req.radius ? s->req.radius : AF_RADIUS_DEFAULT);
        (void) mt_frame_append_u8(&f, (uint8_t) s->req.len);
        (void) mt_frame_append(&f, s->data, s->req.len);

        s->state = SEND_AWAIT_SRSP;
        r = znp_request(af->znp, &f, 0, on_data_request_srsp, s, &s->znp_id);
        if (r < 0) {
                s->znp_id = 0;
                complete(af, s, r, 0xFF);
        }
}

static int on_send_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Send *s = userdata;
        Af *af = s->af;

        af_enter(af);
        s->timer = sd_event_source_disable_unref(s->timer);
        if (s->state == SEND_AWAIT_CONFIRM)
                complete(af, s, -ETIMEDOUT, 0xFF);
        else if (s->state == SEND_BACKOFF)
                transmit(af, s);
        af_leave(af);
        return 0;
}

static int arm(Af *af, Send *s, uint64_t usec) {
        s->timer = sd_event_source_disable_unref(s->timer);
        return sd_event_add_time_relative(znp_get_event(af->znp), &s->timer, CLOCK_MONOTONIC, usec, 0,
                                          on_send_timer, s);
}

static void backoff(Af *af, Send *s, uint64_t usec, uint8_t status) {
        int r;

        s->state = SEND_BACKOFF;
        af->retries++;
        r = arm(af, s, usec);
        if (r < 0)
                complete(af, s, r, status);
}

static void retry_or_fail(Af *af, Send *s, uint8_t status) {
        int error = af_status_to_errno(status);

        if (s->attempts >= AF_ATTEMPTS_MAX || error == -EIO)
                return complete(af, s, error, status);

        switch (status) {
        case AF_STATUS_MAC_CHANNEL_ACCESS_FAILURE:
        case AF_STATUS_BUFFER_FULL:
        case AF_STATUS_MAC_NO_RESOURCES:
                return backoff(af, s, af->params.retry_delay_usec, status);

        default:
                /* No route / no ACK: first just try again; then ask the stack to discover a route. */
                if (s->attempts >= 2 && !s->route_discovered) {
                        MtFrame f;

                        s->route_discovered = true;
                        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO, ZDO_EXT_ROUTE_DISC,
                                             (const uint8_t[]) { s->req.dst_addr & 0xFF, s->req.dst_addr >> 8,
                                                                 0x00, AF_RADIUS_DEFAULT }, 4);
                        (void) znp_request(af->znp, &f, 0, NULL, NULL, NULL);
                        return backoff(af, s, af->params.route_discovery_delay_usec, status);
                }
                return backoff(af, s, af->params.retry_delay_usec, status);
        }
}

static void handle_data_request_srsp(Af *af, Send *s, int error, const MtFrame *srsp) {
        int r;

        s->znp_id = 0;
        if (error < 0)
                return complete(af, s, error, 0xFF);
        if (srsp->len < 1)
                return complete(af, s, -EBADMSG, 0xFF);
        if (srsp->data[0] != AF_STATUS_SUCCESS)
                return retry_or_fail(af, s, srsp->data[0]);

        s->state = SEND_AWAIT_CONFIRM;
        r = arm(af, s, af->params.confirm_timeout_usec);
        if (r < 0)
                complete(af, s, r, 0xFF);
}

static void on_data_request_srsp(Znp *znp, int error, const MtFrame *srsp, void *userdata) {
        Send *s = userdata;
        Af *af = s->af;

        af_enter(af);
        handle_data_request_srsp(af, s, error, srsp);
        af_leave(af);
}

static void on_data_confirm(Znp *znp, const MtFrame *f, void *userdata) {
        Af *af = userdata;

        /* Status, Endpoint, TransId */
        if (f->len < 3)
                return;
        for (size_t i = 0; i < af->n_sends; i++) {
                Send *s = af->sends[i];

                if (s->state != SEND_AWAIT_CONFIRM || s->trans_id != f->data[2])
                        continue;
                s->timer = sd_event_source_disable_unref(s->timer);
                af_enter(af);
                if (f->data[0] == AF_STATUS_SUCCESS)
                        complete(af, s, 0, 0);
                else
                        retry_or_fail(af, s, f->data[0]);
                af_leave(af);
                return;
        }
}

static void on_incoming(Znp *znp, const MtFrame *f, void *userdata) {
        Af *af = userdata;
        AfMessage m;

        if (af_parse_incoming(f, &m) < 0)
                return;         /* malformed input: dropped */
        if (af->incoming_fn) {
                af_enter(af);
                af->incoming_fn(af, &m, af->incoming_userdata);
                af_leave(af);
        }
}

/* Starts queued sends whose destination is idle, within the concurrency limit. */
static int on_kick(sd_event_source *source, void *userdata) {
        Af *af = userdata;
        unsigned active = 0;

        af_enter(af);
        for (size_t i = 0; i < af->n_sends; i++)
                if (af->sends[i]->state != SEND_QUEUED)
                        active++;

        for (size_t i = 0; i < af->n_sends && active < af->params.concurrency; i++) {
                Send *s = af->sends[i];
                bool busy = false;

                if (s->state != SEND_QUEUED)
                        continue;
                for (size_t j = 0; j < i; j++)
                        if (af->sends[j]->req.dst_addr == s->req.dst_addr)
                                busy = true;    /* an earlier send to the same device goes first */
                if (busy)
                        continue;
                active++;
                transmit(af, s);
                if (af->freed)
                        break;
                /* transmit() may have completed (and removed) s: rescan from the start. */
                if (find_send(af, s) == SIZE_MAX) {
                        kick(af);
                        break;
                }
        }
        af_leave(af);
        return 0;
}

int af_new(Af **ret, Znp *znp, const AfParams *params) {
        Af *af;
        int r;

        assert(ret && znp);

        af = calloc(1, sizeof(*af));
        if (!af)
                return -ENOMEM;
        af->znp = znp;
        af->params = params ? *params : (AfParams) {};
        if (!af->params.retry_delay_usec)
                af->params.retry_delay_usec = RETRY_DELAY_USEC;
        if (!af->params.route_discovery_delay_usec)
                af->params.route_discovery_delay_usec = ROUTE_DISCOVERY_DELAY_USEC;
        if (!af->params.confirm_timeout_usec)
                af->params.confirm_timeout_usec = CONFIRM_TIMEOUT_USEC;
        if (!af->params.concurrency)
                af->params.concurrency = CONCURRENCY_DEFAULT;

        r = sd_event_add_defer(znp_get_event(znp), &af->kick, on_kick, af);
        if (r >= 0)
                r = sd_event_source_set_enabled(af->kick, SD_EVENT_OFF);
        if (r >= 0)
                r = znp_add_areq_handler(znp, CMD0_AF_AREQ, AF_DATA_CONFIRM, on_data_confirm, af, &af->confirm_handler);
        if (r >= 0)
                r = znp_add_areq_handler(znp, CMD0_AF_AREQ, AF_INCOMING_MSG, on_incoming, af, &af->incoming_handler);
        if (r < 0) {
                af_free(af);
                return r;
        }
        *ret = af;
        return 0;
}

static void af_destroy(Af *af) {
        sd_event_source_disable_unref(af->kick);
        free(af);
}

Af *af_free(Af *af) {
        if (!af)
                return NULL;
        for (size_t i = 0; i < af->n_sends; i++) {
                znp_cancel(af->znp, af->sends[i]->znp_id);
                send_free(af->sends[i]);
        }
        af->n_sends = 0;
        znp_cancel(af->znp, af->confirm_handler);
        znp_cancel(af->znp, af->incoming_handler);
        af->confirm_handler = af->incoming_handler = 0;
        af->incoming_fn = NULL;
        if (af->depth > 0) {
                /* Called from one of our callbacks: the struct goes once they return. */
                af->freed = true;
                (void) sd_event_source_set_enabled(af->kick, SD_EVENT_OFF);
                return NULL;
        }
        af_destroy(af);
        return NULL;
}

void af_set_incoming_handler(Af *af, AfIncomingFn fn, void *userdata) {
        af->incoming_fn = fn;
        af->incoming_userdata = userdata;
}

int af_send(Af *af, const AfRequest *req, AfSentFn cb, void *userdata, uint32_t *ret_id) {
        Send *s;

        assert(af && req);

        if (req->dst_addr >= 0xFFF8 || req->len > AF_DATA_MAX || (req->len > 0 && !req->data))
                return -EINVAL;
        if (af->n_sends >= AF_PENDING_MAX)
                return -ENOBUFS;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->af = af;
        s->req = *req;
        if (req->len > 0)
                memcpy(s->data, req->data, req->len);
        s->req.data = NULL;
        s->cb = cb;
        s->userdata = userdata;
        if (++af->next_id == 0)
                af->next_id = 1;
        s->id = af->next_id;
        af->sends[af->n_sends++] = s;
        if (ret_id)
                *ret_id = s->id;
        kick(af);
        return 0;
}

void af_cancel(Af *af, uint32_t id) {
        for (size_t i = 0; i < af->n_sends; i++)
                if (af->sends[i]->id == id) {
                        Send *s = af->sends[i];

                        memmove(af->sends + i, af->sends + i + 1, (af->n_sends - i - 1) * sizeof(Send *));
                        af->n_sends--;
                        znp_cancel(af->znp, s->znp_id);
                        send_free(s);
                        kick(af);
                        return;
                }
}

uint64_t af_get_retries(const Af *af) {
        return af ? af->retries : 0;
}
