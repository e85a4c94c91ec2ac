/*
 * ZCL transactions on the AF data path of src/znp/af.h: one transaction per device at a time (sent,
 * confirmed and answered), a cap on transactions in progress, the matching of answers by TSN, the
 * recoveries that sit above AF (the device's network address checked once after the last failed send,
 * one more send after a route discovery when a delivered request goes unanswered), and the Default
 * Responses ZCL asks for on what devices send.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/host-private.h"
#include "util/macro.h"

#define ZCL_HEADER_DIRECTION 0x08

const char *host_af_status_to_string(uint8_t status) {
        switch (status) {
        case 0x00: return "success";
        case 0x01: return "failure";
        case 0x02: return "invalid parameter";
        case 0x10: return "memory error";
        case 0x11: return "buffer full";
        case 0x1A: return "MAC no resources";
        case 0xB7: return "APS no ack";
        case 0xC2: return "NWK invalid request";
        case 0xC7: return "NWK table full";
        case 0xCD: return "no network route";
        case 0xE1: return "MAC channel access failure";
        case 0xE9: return "MAC no ack";
        case 0xF0: return "MAC transaction expired";
        case 0xF1: return "MAC transaction overflow";
        default: return "unknown status";
        }
}

/* Global commands that have their own response: the transaction waits for it. */
static int global_response_of(uint8_t command) {
        switch (command) {
        case 0x00: return 0x01;         /* read attributes */
        case 0x02: return 0x04;         /* write attributes */
        case 0x03: return 0x04;         /* write attributes undivided */
        case 0x06: return 0x07;         /* configure reporting */
        case 0x08: return 0x09;         /* read reporting configuration */
        case 0x0C: return 0x0D;         /* discover attributes */
        case 0x11: return 0x12;         /* discover commands received */
        case 0x13: return 0x14;         /* discover commands generated */
        case 0x15: return 0x16;         /* discover attributes extended */
        default: return -1;
        }
}

/* What Af reports, in the host's terms: its verdicts stay, a failed link becomes -ECONNRESET. */
static int af_error(int error) {
        switch (error) {
        case 0:
        case -ETIMEDOUT:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -EBUSY:
        case -EIO:
        case -EBADMSG:
        case -EINVAL:
        case -ENOBUFS:
        case -ENOMEM:
                return error;
        default:
                return -ECONNRESET;
        }
}

static bool txn_active(const HostTxn *t) {
        return t->state != TXN_FREE && t->state != TXN_QUEUED;
}

static void txn_kick(Host *h);

static void txn_finish(HostTxn *t, int error, uint8_t af_status, const HostZclMessage *rsp) {
        Host *h = t->host;
        HostZclDoneFn done = t->done;
        void *ud = t->userdata;

        if (t->af_id != 0 && h->af)
                af_cancel(h->af, t->af_id);
        if (error < 0 && error != -ECONNRESET)
                h->stats.af_failed++;
        t->af_id = 0;
        t->state = TXN_FREE;
        t->id = 0;
        t->gen++;
        host_disarm(t->timer);
        if (h->freed)
                return;
        txn_kick(h);
        if (done)
                done(h, error, af_status, rsp, ud);
}

static void txn_send(HostTxn *t);
static void txn_discover_route(HostTxn *t);

static int txn_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        HostTxn *t = userdata;
        Host *h = t->host;

        host_enter(h);
        switch (t->state) {
        case TXN_RESPONDING:
                if (t->response_retried) {
                        txn_finish(t, -ETIMEDOUT, 0, NULL);
                        break;
                }
                /* Delivered but unanswered: maybe a stale route. zigbee-herdsman discovers the route
                 * and sends once more (the same frame, so a late answer to the first still matches). */
                t->response_retried = true;
                txn_discover_route(t);
                break;
        case TXN_ROUTE_WAIT:
                txn_send(t);
                break;
        default:
                break;
        }
        host_leave(h);
        return 0;
}

static void txn_wait(HostTxn *t, TxnState state, uint64_t usec) {
        int r;

        t->state = state;
        r = host_arm_timer(t->host, &t->timer, usec, txn_on_timer, t);
        if (r < 0)
                txn_finish(t, r, 0, NULL);
}

static void txn_on_route_disc(Host *h, int error, const MtFrame *srsp, void *ctx, uint32_t cookie) {
        HostTxn *t = ctx;

        if (t->gen != cookie || t->state != TXN_ROUTE_DISC)
                return;
        if (error == -ECONNRESET) {
                txn_finish(t, error, t->last_status, NULL);
                return;
        }
        /* Whatever the stick said, give the discovery time to settle, then send. */
        txn_wait(t, TXN_ROUTE_WAIT, h->params.route_wait_usec);
}

static void txn_discover_route(HostTxn *t) {
        MtFrame f;
        int r;

        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO, ZDO_EXT_ROUTE_DISC, NULL, 0);
        (void) mt_frame_append_le16(&f, t->nwk);
        (void) mt_frame_append_u8(&f, 0x00);            /* options */
        (void) mt_frame_append_u8(&f, AF_DEFAULT_RADIUS);
        t->state = TXN_ROUTE_DISC;
        r = host_sreq(t->host, &f, 0, txn_on_route_disc, t, t->gen);
        if (r < 0)
                txn_wait(t, TXN_ROUTE_WAIT, t->host->params.retry_delay_usec);
}

static void txn_on_nwk_addr(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        HostTxn *t = ctx;
        uint64_t ieee;
        uint16_t nwk, old;

        if (t->gen != cookie || t->state != TXN_NWK_LOOKUP)
                return;
        /* NWK_ADDR_RSP: Status, IEEE, NwkAddr, ... Without a new address the send's error stands. */
        if (error < 0 || !rsp || rsp->len < 11 || rsp->data[0] != 0) {
                txn_finish(t, error == -ECONNRESET ? error : t->last_error, t->last_status, NULL);
                return;
        }
        ieee = host_get_ieee(rsp->data + 1);
        nwk = mt_le16(rsp->data + 9);
        old = t->nwk;
        if (nwk == old || nwk == 0x0000 || nwk >= 0xFFF8) {
                txn_finish(t, t->last_error, t->last_status, NULL);
                return;
        }

        /* The device moved: follow it, with everything queued for it, and send there. */
        (void) host_device_add(h, ieee, nwk);
        host_interview_address_changed(h, ieee, nwk);
        host_af_address_changed(h, old, nwk);
        if (h->cb.address_changed) {
                uint32_t gen = t->gen;

                h->cb.address_changed(h, ieee, old, nwk, h->userdata);
                if (h->freed || t->gen != gen)
                        return;
        }
        txn_discover_route(t);
}

/* After Af's last attempt failed for want of a route or an ack: zigbee-herdsman asks once whether the
 * device got a new network address (ZDO_NWK_ADDR_REQ) and, if so, sends there. */
static bool txn_check_address(HostTxn *t) {
        Host *h = t->host;
        HostDevice *d = host_device_by_nwk(h, t->nwk);
        uint8_t ieee_le[8];
        MtFrame f;

        if (!d || t->nwk_checked)
                return false;
        t->nwk_checked = true;
        host_put_ieee(ieee_le, d->ieee);
        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO, ZDO_NWK_ADDR_REQ, NULL, 0);
        (void) mt_frame_append(&f, ieee_le, 8);
        (void) mt_frame_append_u8(&f, 0);       /* single */
        (void) mt_frame_append_u8(&f, 0);       /* start index */
        t->state = TXN_NWK_LOOKUP;
        return host_zdo_request(h, &f, ZDO_NWK_ADDR_RSP, 0, -1, d->ieee, txn_on_nwk_addr, t, t->gen) >= 0;
}

static void txn_on_sent(Af *af, int error, uint8_t status, void *userdata) {
        HostTxn *t = userdata;
        Host *h = t->host;

        host_enter(h);
        t->af_id = 0;
        if (t->state != TXN_SENDING)
                goto out;

        error = af_error(error);
        if (error == 0) {
                if (t->expect == EXPECT_NOTHING)
                        txn_finish(t, 0, 0, NULL);
                else
                        txn_wait(t, TXN_RESPONDING, h->params.response_timeout_usec);
                goto out;
        }

        t->last_error = error;
        t->last_status = status;
        if ((error == -EHOSTUNREACH || error == -ENETUNREACH) && txn_check_address(t))
                goto out;
        txn_finish(t, error, status, NULL);
out:
        host_leave(h);
}

static void txn_send(HostTxn *t) {
        Host *h = t->host;
        AfRequest req = {
                .dst_addr = t->nwk,
                .dst_endpoint = t->dst_ep,
                .src_endpoint = h->params.src_endpoint,
                .cluster = t->cluster,
                .radius = AF_DEFAULT_RADIUS,
                .data = t->data,
                .len = t->len,
        };
        int r;

        if (h->freed)
                return;
        t->state = TXN_SENDING;
        t->sent = true;
        h->stats.af_sent++;
        r = af_send(h->af, &req, txn_on_sent, t, &t->af_id);
        if (r < 0) {
                t->af_id = 0;
                txn_finish(t, af_error(r), 0, NULL);
        }
}

/* The scheduler: oldest first, one ordered transaction per device, at most `concurrency` running. */

static int on_pump(sd_event_source *s, void *userdata) {
        Host *h = userdata;
        unsigned active = 0;

        host_enter(h);
        for (size_t i = 0; i < h->n_txns; i++)
                if (txn_active(h->txns[i]))
                        active++;

        while (active < h->params.concurrency && !h->freed) {
                HostTxn *next = NULL;

                for (size_t i = 0; i < h->n_txns; i++) {
                        HostTxn *t = h->txns[i];
                        bool busy = false;

                        if (t->state != TXN_QUEUED || (next && next->seq < t->seq))
                                continue;
                        if (t->ordered)
                                for (size_t j = 0; j < h->n_txns && !busy; j++)
                                        busy = txn_active(h->txns[j]) && h->txns[j]->ordered &&
                                               h->txns[j]->nwk == t->nwk;
                        if (!busy)
                                next = t;
                }
                if (!next)
                        break;
                active++;
                txn_send(next);
        }
        host_leave(h);
        return 0;
}

static void txn_kick(Host *h) {
        if (!h->pump && sd_event_add_defer(h->event, &h->pump, on_pump, h) < 0)
                return;
        (void) sd_event_source_set_enabled(h->pump, SD_EVENT_ONESHOT);
}

static HostTxn *txn_alloc(Host *h, uint16_t nwk, bool ordered) {
        HostTxn *t = NULL;

        for (size_t i = 0; i < h->n_txns; i++)
                if (h->txns[i]->state == TXN_FREE) {
                        t = h->txns[i];
                        break;
                }
        if (!t) {
                /* a new entry only when all are busy: the pool is as big as the most ever in use */
                if (h->n_txns >= HOST_TXN_MAX || !(t = calloc(1, sizeof(HostTxn))))
                        return NULL;
                t->host = h;
                h->txns[h->n_txns++] = t;
        }

        if (++h->next_txn_id == 0)
                h->next_txn_id = 1;
        t->state = TXN_QUEUED;
        t->id = h->next_txn_id;
        t->seq = ++h->txn_seq;
        t->ordered = ordered;
        t->nwk = nwk;
        t->af_id = 0;
        t->sent = t->nwk_checked = t->response_retried = false;
        t->last_error = 0;
        t->last_status = 0;
        t->done = NULL;
        t->userdata = NULL;
        return t;
}

uint8_t host_next_tsn(Host *h) {
        return ++h->tsn;
}

int host_zcl_request(Host *h, uint16_t nwk, uint8_t endpoint, uint16_t cluster, const uint8_t *frame, size_t len,
                     HostZclDoneFn done, void *userdata, uint32_t *ret_id) {
        ZclHeader hdr;
        HostTxn *t;
        unsigned for_device = 0;
        int r;

        assert(h);
        if (!frame)
                return -EINVAL;
        if (len > HOST_AF_DATA_MAX)
                return -EMSGSIZE;
        if (nwk >= 0xFFF8)
                return -EINVAL;
        r = zcl_header_decode(frame, len, &hdr);
        if (r < 0)
                return -EBADMSG;

        for (size_t i = 0; i < h->n_txns; i++)
                if (h->txns[i]->state != TXN_FREE && h->txns[i]->ordered && h->txns[i]->nwk == nwk)
                        for_device++;
        if (for_device >= HOST_DEVICE_QUEUE_MAX)
                return -ENOBUFS;
        t = txn_alloc(h, nwk, true);
        if (!t)
                return -ENOBUFS;

        t->dst_ep = endpoint;
        t->cluster = cluster;
        memcpy(t->data, frame, len);
        t->len = (uint8_t) len;
        t->tsn = hdr.tsn;
        if (zcl_header_is_global(&hdr) && global_response_of(hdr.command) >= 0) {
                t->expect = EXPECT_RESPONSE;
                t->expect_cmd = (uint8_t) global_response_of(hdr.command);
        } else if (!(hdr.frame_control & ZCL_FC_DISABLE_DEFAULT_RSP))
                t->expect = EXPECT_DEFAULT_RSP;
        else
                t->expect = EXPECT_NOTHING;
        t->done = done;
        t->userdata = userdata;

        if (ret_id)
                *ret_id = t->id;
        txn_kick(h);
        return 0;
}

void host_zcl_cancel(Host *h, uint32_t id) {
        if (!h || id == 0)
                return;
        for (size_t i = 0; i < h->n_txns; i++) {
                HostTxn *t = h->txns[i];

                if (t->state == TXN_FREE || t->id != id)
                        continue;
                if (t->state == TXN_QUEUED) {
                        t->state = TXN_FREE;
                        t->id = 0;
                        t->gen++;
                } else
                        t->done = NULL;         /* let it run out; it keeps the device's order */
                return;
        }
}

void host_af_address_changed(Host *h, uint16_t old, uint16_t nwk) {
        if (old == nwk)
                return;
        for (size_t i = 0; i < h->n_txns; i++)
                if (h->txns[i]->state != TXN_FREE && h->txns[i]->nwk == old)
                        h->txns[i]->nwk = nwk;
}

void host_af_fail_all(Host *h, int error) {
        uint32_t gens[HOST_TXN_MAX];

        /* Only what was pending now: a callback may already queue new work. */
        size_t n = h->n_txns;

        for (size_t i = 0; i < n; i++)
                gens[i] = h->txns[i]->state != TXN_FREE ? h->txns[i]->gen : h->txns[i]->gen - 1;
        for (size_t i = 0; i < n && !h->freed; i++)
                if (h->txns[i]->state != TXN_FREE && h->txns[i]->gen == gens[i])
                        txn_finish(h->txns[i], error, 0, NULL);
}

void host_af_destroy(Host *h) {
        for (size_t i = 0; i < h->n_txns; i++) {
                h->txns[i]->timer = sd_event_source_disable_unref(h->txns[i]->timer);
                free(h->txns[i]);
        }
        h->n_txns = 0;
        h->pump = sd_event_source_disable_unref(h->pump);
}

/* Incoming */

static bool txn_takes(const HostTxn *t, const HostZclMessage *m) {
        bool global = zcl_header_is_global(&m->header);

        /* In any state once sent: a late answer to an earlier attempt ends the recoveries too. */
        if (!txn_active(t) || !t->sent)
                return false;
        if (t->expect == EXPECT_NOTHING || t->nwk != m->nwk || t->cluster != m->cluster ||
            t->dst_ep != m->src_endpoint || t->tsn != m->header.tsn)
                return false;
        /* An answer travels the other way. */
        if (!((t->data[0] ^ m->header.frame_control) & ZCL_HEADER_DIRECTION))
                return false;
        if (global && m->header.command == ZCL_CMD_DEFAULT_RSP)
                return true;
        if (t->expect == EXPECT_RESPONSE)
                return global && m->header.command == t->expect_cmd;
        return !global;         /* a cluster-specific answer to a cluster-specific command */
}

/* ZCL: a Default Response is owed unless the frame is broadcast, is itself a Default Response, is a
 * command that has its own response, or asked for none ("disable default response"). zigbee-herdsman
 * answers the same way (device.ts onZclData) and skips a TSN it has just answered (duplicates). */
static void maybe_default_response(Host *h, HostDevice *d, const HostZclMessage *m) {
        ZclHeader rh;
        HostTxn *t;
        int n;

        if (m->broadcast || m->group != 0 || (m->header.frame_control & ZCL_FC_DISABLE_DEFAULT_RSP))
                return;
        if (zcl_header_is_global(&m->header) &&
            (m->header.command == ZCL_CMD_DEFAULT_RSP || global_response_of(m->header.command) >= 0))
                return;
        if (d && d->dr_valid && d->dr_tsn == m->header.tsn)
                return;

        t = txn_alloc(h, m->nwk, false);
        if (!t)
                return;
        rh = zcl_header_response_to(&m->header);
        n = zcl_build_default_rsp(&rh, m->header.command, ZCL_STATUS_SUCCESS, t->data, sizeof(t->data));
        if (n < 0) {
                t->state = TXN_FREE;
                t->id = 0;
                t->gen++;
                return;
        }
        if (d) {
                d->dr_valid = true;
                d->dr_tsn = m->header.tsn;
        }
        t->dst_ep = m->src_endpoint;
        t->cluster = m->cluster;
        t->len = (uint8_t) n;
        t->tsn = m->header.tsn;
        t->expect = EXPECT_NOTHING;
        h->stats.default_responses++;
        txn_kick(h);
}

static void on_incoming(Af *af, const AfMessage *in, void *userdata) {
        Host *h = userdata;
        HostZclMessage m = {};
        HostDevice *d;
        int hl;

        hl = zcl_header_decode(in->data, in->len, &m.header);
        if (hl < 0) {
                h->stats.frames_dropped++;
                return;
        }
        h->stats.frames_in++;

        host_enter(h);
        d = host_device_by_nwk(h, in->src_addr);
        m.nwk = in->src_addr;
        m.ieee = d ? d->ieee : 0;
        m.group = in->group;
        m.cluster = in->cluster;
        m.src_endpoint = in->src_endpoint;
        m.dst_endpoint = in->dst_endpoint;
        m.lqi = in->link_quality;
        m.broadcast = in->was_broadcast;
        m.frame = in->data;
        m.frame_len = in->len;
        m.payload = in->data + hl;
        m.payload_len = in->len - (size_t) hl;

        for (size_t i = 0; i < h->n_txns; i++)
                if (txn_takes(h->txns[i], &m)) {
                        txn_finish(h->txns[i], 0, 0, &m);
                        break;
                }
        if (!h->freed)
                maybe_default_response(h, d, &m);
        if (!h->freed && h->cb.zcl_received)
                h->cb.zcl_received(h, &m, h->userdata);
        if (!h->freed && !d)
                host_note_unknown(h, in->src_addr);
        host_leave(h);
}

int host_af_start(Host *h) {
        AfParams p = {
                .retry_delay_usec = h->params.retry_delay_usec,
                .route_discovery_delay_usec = h->params.route_wait_usec,
                .confirm_timeout_usec = h->params.confirm_timeout_usec,
                .concurrency = h->params.concurrency,
        };
        int r;

        r = af_new(&h->af, h->znp, &p);
        if (r < 0)
                return r;
        af_set_incoming_handler(h->af, on_incoming, h);
        return 0;
}
