/*
 * Host lifecycle, the device table, SREQ bookkeeping, coordinator loss and the lookup of devices that
 * talk without being known.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/host-private.h"
#include "util/macro.h"

#define SEC 1000000ULL

static void host_destroy(Host *h);

void host_enter(Host *h) {
        h->depth++;
}

void host_leave(Host *h) {
        assert(h->depth > 0);
        if (--h->depth == 0 && h->freed)
                host_destroy(h);
}

void host_disarm(sd_event_source *s) {
        if (s)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

int host_arm_timer(Host *h, sd_event_source **s, uint64_t usec, sd_event_time_handler_t fn, void *userdata) {
        int r;

        if (*s) {
                r = sd_event_source_set_time_relative(*s, usec);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
        }
        /* 1 ms accuracy: sd-event's default (0 = 250 ms) would stretch the short pauses. */
        return sd_event_add_time_relative(h->event, s, CLOCK_MONOTONIC, usec, 1000, fn, userdata);
}

void host_put_ieee(uint8_t *p, uint64_t ieee) {
        for (size_t i = 0; i < 8; i++)
                p[i] = (uint8_t) (ieee >> (8 * i));
}

uint64_t host_get_ieee(const uint8_t *p) {
        uint64_t v = 0;

        for (size_t i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static uint64_t now_usec(Host *h) {
        uint64_t t = 0;

        (void) sd_event_now(h->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* SREQs */

/* What the Znp reports for a request, in the host's terms: its own verdicts stay, anything else means
 * the link or the coordinator went away. */
static int sreq_error(int error) {
        switch (error) {
        case 0:
        case -ETIMEDOUT:
        case -EOPNOTSUPP:
        case -EINVAL:
        case -ENOBUFS:
        case -EMSGSIZE:
                return error;
        default:
                return -ECONNRESET;
        }
}

static void sreq_on_reply(Znp *znp, int error, const MtFrame *srsp, void *userdata) {
        HostSreq *s = userdata, copy = *s;
        Host *h = s->host;

        error = sreq_error(error);
        s->znp_id = 0;
        host_enter(h);
        if (!h->freed)
                copy.fn(h, error, srsp, copy.ctx, copy.cookie);
        host_leave(h);
}

int host_sreq(Host *h, const MtFrame *f, uint64_t timeout_usec, HostSreqFn fn, void *ctx, uint32_t cookie) {
        for (size_t i = 0; i < ELEMENTSOF(h->sreqs); i++) {
                HostSreq *s = &h->sreqs[i];
                int r;

                if (s->znp_id != 0)
                        continue;
                *s = (HostSreq) { .host = h, .fn = fn, .ctx = ctx, .cookie = cookie };
                r = znp_request(h->znp, f, timeout_usec, sreq_on_reply, s, &s->znp_id);
                if (r < 0) {
                        s->znp_id = 0;
                        return r == -EAGAIN ? r : sreq_error(r);        /* a dead link: -ECONNRESET */
                }
                return 0;
        }
        return -ENOBUFS;
}

/* The device table */

HostDevice *host_device_by_nwk(Host *h, uint16_t nwk) {
        for (size_t i = 0; i < ELEMENTSOF(h->devices); i++)
                if (h->devices[i].ieee != 0 && h->devices[i].nwk == nwk)
                        return &h->devices[i];
        return NULL;
}

HostDevice *host_device_by_ieee(Host *h, uint64_t ieee) {
        if (ieee == 0)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(h->devices); i++)
                if (h->devices[i].ieee == ieee)
                        return &h->devices[i];
        return NULL;
}

int host_device_add(Host *h, uint64_t ieee, uint16_t nwk) {
        HostDevice *d, *other;

        assert(h);
        if (ieee == 0 || ieee == UINT64_MAX)
                return -EINVAL;

        /* An address belongs to one device: a newer claim wins. */
        other = host_device_by_nwk(h, nwk);
        if (other && other->ieee != ieee)
                other->nwk = 0xFFFE;

        d = host_device_by_ieee(h, ieee);
        if (d) {
                d->nwk = nwk;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(h->devices); i++)
                if (h->devices[i].ieee == 0) {
                        h->devices[i] = (HostDevice) { .ieee = ieee, .nwk = nwk };
                        return 0;
                }
        return -ENOBUFS;
}

void host_device_remove(Host *h, uint64_t ieee) {
        HostDevice *d = host_device_by_ieee(h, ieee);

        if (d)
                *d = (HostDevice) {};
}

int host_device_lookup_nwk(const Host *h, uint16_t nwk, uint64_t *ret_ieee) {
        HostDevice *d = host_device_by_nwk((Host *) h, nwk);

        if (!d)
                return -ENOENT;
        if (ret_ieee)
                *ret_ieee = d->ieee;
        return 0;
}

int host_device_lookup_ieee(const Host *h, uint64_t ieee, uint16_t *ret_nwk) {
        HostDevice *d = host_device_by_ieee((Host *) h, ieee);

        if (!d)
                return -ENOENT;
        if (ret_nwk)
                *ret_nwk = d->nwk;
        return 0;
}

/* Devices that talk without being known: resolve the IEEE from the coordinator's address manager,
 * else ask the network (ZDO_IEEE_ADDR_REQ), then report upward. */

static void lookup_release(HostLookup *l) {
        l->state = LOOKUP_FREE;
        l->gen++;
}

static void lookup_failed(Host *h, HostLookup *l) {
        uint16_t nwk = l->nwk;
        HostHoldoff *slot = &h->holdoffs[0];

        h->stats.lookups_failed++;
        lookup_release(l);
        for (size_t i = 0; i < ELEMENTSOF(h->holdoffs); i++)
                if (h->holdoffs[i].until < slot->until)
                        slot = &h->holdoffs[i];
        slot->nwk = nwk;
        slot->until = now_usec(h) + h->params.lookup_holdoff_usec;
}

static void lookup_resolved(Host *h, HostLookup *l, uint64_t ieee) {
        uint16_t nwk = l->nwk;
        HostDevice *d = host_device_by_ieee(h, ieee);

        h->stats.lookups_resolved++;
        lookup_release(l);
        if (d) {
                /* Known under another address: an address change we missed. */
                uint16_t old = d->nwk;

                (void) host_device_add(h, ieee, nwk);
                host_interview_address_changed(h, ieee, nwk);
                host_af_address_changed(h, old, nwk);
                if (old != nwk && h->cb.address_changed)
                        h->cb.address_changed(h, ieee, old, nwk, h->userdata);
                return;
        }
        if (host_device_add(h, ieee, nwk) < 0)
                return;
        if (h->cb.unknown_device)
                h->cb.unknown_device(h, ieee, nwk, HOST_UNKNOWN_FROM_MESSAGE, h->userdata);
}

static bool ieee_is_valid(uint64_t ieee) {
        return ieee != 0 && ieee != UINT64_MAX;
}

static void lookup_on_ieee_rsp(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        HostLookup *l = ctx;
        uint64_t ieee;

        if (l->gen != cookie || l->state != LOOKUP_ZDO)
                return;
        /* Status u8, IEEE, NwkAddr u16, ... */
        if (error < 0 || !rsp || rsp->len < 11 || rsp->data[0] != 0) {
                lookup_failed(h, l);
                return;
        }
        ieee = host_get_ieee(rsp->data + 1);
        if (!ieee_is_valid(ieee)) {
                lookup_failed(h, l);
                return;
        }
        lookup_resolved(h, l, ieee);
}

static void lookup_ask_network(Host *h, HostLookup *l) {
        MtFrame f;
        int r;

        l->state = LOOKUP_ZDO;
        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO, ZDO_IEEE_ADDR_REQ, NULL, 0);
        (void) mt_frame_append_le16(&f, l->nwk);
        (void) mt_frame_append_u8(&f, 0);       /* single device */
        (void) mt_frame_append_u8(&f, 0);       /* start index */
        r = host_zdo_request(h, &f, ZDO_IEEE_ADDR_RSP, l->nwk, -1, 0, lookup_on_ieee_rsp, l, l->gen);
        if (r < 0)
                lookup_failed(h, l);
}

static void lookup_on_util(Host *h, int error, const MtFrame *srsp, void *ctx, uint32_t cookie) {
        HostLookup *l = ctx;
        uint64_t ieee;

        if (l->gen != cookie || l->state != LOOKUP_UTIL)
                return;
        if (error == -ECONNRESET || (error < 0 && error != -ETIMEDOUT && error != -EOPNOTSUPP && error != -EINVAL)) {
                lookup_failed(h, l);
                return;
        }
        if (error == 0 && srsp->len >= 8) {
                ieee = host_get_ieee(srsp->data);
                if (ieee_is_valid(ieee)) {
                        lookup_resolved(h, l, ieee);
                        return;
                }
        }
        lookup_ask_network(h, l);
}

void host_note_unknown(Host *h, uint16_t nwk) {
        uint64_t now = now_usec(h);
        HostLookup *free_slot = NULL;
        MtFrame f;

        if (nwk == 0x0000 || nwk >= 0xFFF8)     /* the coordinator itself, broadcast addresses */
                return;
        for (size_t i = 0; i < ELEMENTSOF(h->holdoffs); i++)
                if (h->holdoffs[i].until > now && h->holdoffs[i].nwk == nwk)
                        return;
        for (size_t i = 0; i < ELEMENTSOF(h->lookups); i++) {
                if (h->lookups[i].state != LOOKUP_FREE && h->lookups[i].nwk == nwk)
                        return;
                if (h->lookups[i].state == LOOKUP_FREE && !free_slot)
                        free_slot = &h->lookups[i];
        }
        if (!free_slot)
                return;

        free_slot->nwk = nwk;
        free_slot->state = LOOKUP_UTIL;
        h->stats.lookups++;
        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_UTIL, UTIL_ADDRMGR_NWK_ADDR_LOOKUP, NULL, 0);
        (void) mt_frame_append_le16(&f, nwk);
        if (host_sreq(h, &f, 0, lookup_on_util, free_slot, free_slot->gen) < 0)
                lookup_release(free_slot);
}

/* Coordinator loss */

void host_handle_znp_event(Host *h, ZnpEvent event, int error) {
        HostLossReason reason = event == ZNP_EVENT_COORDINATOR_RESET ? HOST_LOSS_COORDINATOR_RESET : HOST_LOSS_TRANSPORT;

        assert(h);
        host_enter(h);

        /* Nothing sent before the loss will be answered. */
        for (size_t i = 0; i < ELEMENTSOF(h->lookups); i++)
                if (h->lookups[i].state != LOOKUP_FREE)
                        lookup_release(&h->lookups[i]);
        host_zdo_fail_all(h, -ECONNRESET);
        if (!h->freed)
                host_af_fail_all(h, -ECONNRESET);
        if (!h->freed)
                host_interview_fail_all(h, -ECONNRESET,
                                        reason == HOST_LOSS_COORDINATOR_RESET ? "coordinator reset" : "coordinator lost");
        if (!h->freed && h->pj_timer) {
                host_disarm(h->pj_timer);
                if (h->pj_seconds > 0 || h->pj_until > 0) {
                        h->pj_seconds = 0;
                        h->pj_until = 0;
                        if (h->cb.permit_join_changed)
                                h->cb.permit_join_changed(h, 0, h->userdata);
                }
        }
        if (!h->freed && h->cb.coordinator_lost)
                h->cb.coordinator_lost(h, reason, event == ZNP_EVENT_COORDINATOR_RESET ? -ECONNRESET : error,
                                       h->userdata);
        host_leave(h);
}

static void on_znp_event(Znp *znp, ZnpEvent event, int error, const MtFrame *f, void *userdata) {
        host_handle_znp_event(userdata, event, error);
}

/* Lifecycle */

int host_new(Host **ret, sd_event *event, Znp *znp, const HostParams *params) {
        Host *h;
        int r;

        assert(ret && event && znp);

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->znp = znp;
        h->params = params ? *params : (HostParams) {};
        if (!h->params.concurrency)
                h->params.concurrency = HOST_CONCURRENCY_3X0;
        if (!h->params.confirm_timeout_usec)
                h->params.confirm_timeout_usec = 10 * SEC;
        if (!h->params.response_timeout_usec)
                h->params.response_timeout_usec = 10 * SEC;
        if (!h->params.retry_delay_usec)
                h->params.retry_delay_usec = 2 * SEC;
        if (!h->params.route_wait_usec)
                h->params.route_wait_usec = 3 * SEC;
        if (!h->params.zdo_timeout_usec)
                h->params.zdo_timeout_usec = 10 * SEC;
        if (!h->params.basic_retry_delay_usec)
                h->params.basic_retry_delay_usec = 10 * SEC;
        if (!h->params.lookup_holdoff_usec)
                h->params.lookup_holdoff_usec = 30 * SEC;
        if (!h->params.src_endpoint)
                h->params.src_endpoint = 1;
        h->tsn = (uint8_t) (time(NULL) & 0xFF);

        for (size_t i = 0; i < ELEMENTSOF(h->zdos); i++)
                h->zdos[i].host = h;

        r = host_af_start(h);
        if (r < 0) {
                host_free(h);
                return r;
        }
        host_zdo_register(h);
        if (h->n_handlers < HOST_HANDLERS) {    /* the handler table of the Znp was full */
                host_free(h);
                return -ENOBUFS;
        }
        znp_set_event_handler(znp, on_znp_event, h);

        *ret = h;
        return 0;
}

static void host_destroy(Host *h) {
        host_af_destroy(h);
        host_zdo_destroy(h);
        host_interview_destroy(h);
        sd_event_source_disable_unref(h->pj_timer);
        sd_event_unref(h->event);
        free(h);
}

Host *host_free(Host *h) {
        if (!h)
                return NULL;

        /* Detach from the Znp now, so nothing more reaches us. */
        h->af = af_free(h->af);
        for (size_t i = 0; i < h->n_handlers; i++)
                znp_cancel(h->znp, h->handler_ids[i]);
        h->n_handlers = 0;
        for (size_t i = 0; i < ELEMENTSOF(h->sreqs); i++)
                if (h->sreqs[i].znp_id != 0) {
                        znp_cancel(h->znp, h->sreqs[i].znp_id);
                        h->sreqs[i].znp_id = 0;
                }
        znp_set_event_handler(h->znp, NULL, NULL);

        if (h->depth > 0) {
                h->freed = true;
                return NULL;
        }
        host_destroy(h);
        return NULL;
}

void host_set_callbacks(Host *h, const HostCallbacks *cb, void *userdata) {
        h->cb = cb ? *cb : (HostCallbacks) {};
        h->userdata = userdata;
}

void host_get_stats(const Host *h, HostStats *ret) {
        *ret = h->stats;
        ret->af_retries = af_get_retries(h->af);
}
