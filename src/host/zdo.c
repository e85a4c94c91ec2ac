/*
 * ZDO through MT: requests whose answer is an AREQ (ZDO_*_RSP), the join / announce / leave / permit-join
 * indications, permit join and management leave, and the parsers of the descriptor responses.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "host/host-private.h"
#include "util/macro.h"

/* Requests */

static void zdo_release(HostZdo *z) {
        z->used = false;
        z->gen++;
        host_disarm(z->timer);
}

static void zdo_finish(HostZdo *z, int error, const MtFrame *rsp) {
        HostZdo copy = *z;

        zdo_release(z);
        copy.fn(z->host, error, rsp, copy.ctx, copy.cookie);
}

static int zdo_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        HostZdo *z = userdata;
        Host *h = z->host;

        if (!z->used)
                return 0;
        host_enter(h);
        zdo_finish(z, -ETIMEDOUT, NULL);
        host_leave(h);
        return 0;
}

static void zdo_on_srsp(Host *h, int error, const MtFrame *srsp, void *ctx, uint32_t cookie) {
        HostZdo *z = ctx;

        if (!z->used || z->gen != cookie)
                return;
        if (error == 0 && (srsp->len < 1 || srsp->data[0] != 0))
                error = -EIO;
        if (error < 0) {
                zdo_finish(z, error, srsp);
                return;
        }
        z->srsp_ok = true;
        if (z->rsp_cmd1 == 0)
                zdo_finish(z, 0, srsp);
}

int host_zdo_request(Host *h, const MtFrame *req, uint8_t rsp_cmd1, uint16_t match_nwk, int match_endpoint,
                     uint64_t match_ieee, HostZdoFn fn, void *ctx, uint32_t cookie) {
        HostZdo *z = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(h->zdos); i++)
                if (!h->zdos[i].used) {
                        z = &h->zdos[i];
                        break;
                }
        if (!z)
                return -ENOBUFS;

        z->used = true;
        z->rsp_cmd1 = rsp_cmd1;
        z->match_nwk = match_nwk;
        z->match_endpoint = match_endpoint;
        z->match_ieee = match_ieee;
        z->srsp_ok = false;
        z->fn = fn;
        z->ctx = ctx;
        z->cookie = cookie;

        /* The answer may follow the SRSP in the same read: the match is armed before sending. */
        r = host_sreq(h, req, 0, zdo_on_srsp, z, z->gen);
        if (r >= 0 && rsp_cmd1 != 0)
                r = host_arm_timer(h, &z->timer, h->params.zdo_timeout_usec, zdo_on_timeout, z);
        if (r < 0) {
                zdo_release(z);
                return r;
        }
        return 0;
}

static bool zdo_matches(const HostZdo *z, const MtFrame *f) {
        if (!z->used || z->rsp_cmd1 != f->cmd1)
                return false;

        switch (f->cmd1) {
        case ZDO_NWK_ADDR_RSP:          /* Status, IEEE, NwkAddr, ... (no SrcAddr) */
                return f->len >= 11 && host_get_ieee(f->data + 1) == z->match_ieee;
        case ZDO_IEEE_ADDR_RSP:
                return f->len >= 11 && mt_le16(f->data + 9) == z->match_nwk;
        case ZDO_SIMPLE_DESC_RSP:       /* SrcAddr, Status, NwkAddr, Len, Endpoint, ... */
                if (f->len < 3 || mt_le16(f->data) != z->match_nwk)
                        return false;
                if (f->data[2] != 0 || z->match_endpoint < 0)
                        return true;
                return f->len >= 7 && f->data[6] == z->match_endpoint;
        default:
                return f->len >= 2 && mt_le16(f->data) == z->match_nwk;
        }
}

static void zdo_on_response(Znp *znp, const MtFrame *f, void *userdata) {
        Host *h = userdata;

        host_enter(h);
        for (size_t i = 0; i < ELEMENTSOF(h->zdos) && !h->freed; i++)
                if (zdo_matches(&h->zdos[i], f)) {
                        zdo_finish(&h->zdos[i], 0, f);
                        break;
                }
        host_leave(h);
}

void host_zdo_fail_all(Host *h, int error) {
        uint32_t gens[HOST_ZDO_MAX];

        for (size_t i = 0; i < ELEMENTSOF(h->zdos); i++)
                gens[i] = h->zdos[i].used ? h->zdos[i].gen : h->zdos[i].gen - 1;
        for (size_t i = 0; i < ELEMENTSOF(h->zdos) && !h->freed; i++)
                if (h->zdos[i].used && h->zdos[i].gen == gens[i])
                        zdo_finish(&h->zdos[i], error, NULL);
        for (size_t i = 0; i < ELEMENTSOF(h->leaves) && !h->freed; i++)
                if (h->leaves[i].used) {
                        HostLeave copy = h->leaves[i];

                        h->leaves[i].used = false;
                        h->leaves[i].gen++;
                        if (copy.done)
                                copy.done(h, error, copy.userdata);
                }
        if (!h->freed && h->pj_busy) {
                HostDoneFn done = h->pj_done;

                h->pj_busy = false;
                h->pj_gen++;
                if (done)
                        done(h, error, h->pj_userdata);
        }
}

void host_zdo_destroy(Host *h) {
        for (size_t i = 0; i < ELEMENTSOF(h->zdos); i++)
                h->zdos[i].timer = sd_event_source_disable_unref(h->zdos[i].timer);
}

/* Indications */

static void on_tc_dev_ind(Znp *znp, const MtFrame *f, void *userdata) {
        Host *h = userdata;
        uint16_t nwk, parent;
        uint64_t ieee;

        /* NwkAddr u16, IEEE, ParentAddr u16 */
        if (f->len < 12)
                return;
        nwk = mt_le16(f->data);
        ieee = host_get_ieee(f->data + 2);
        parent = mt_le16(f->data + 10);
        if (ieee == 0 || ieee == UINT64_MAX)
                return;

        host_enter(h);
        (void) host_device_add(h, ieee, nwk);
        if (h->cb.device_joined)
                h->cb.device_joined(h, ieee, nwk, parent, h->userdata);
        host_leave(h);
}

static void on_announce(Znp *znp, const MtFrame *f, void *userdata) {
        Host *h = userdata;
        HostDevice *d;
        uint16_t nwk, old;
        uint64_t ieee;
        uint8_t caps;
        bool known;

        /* SrcAddr u16, NwkAddr u16, IEEE, Capabilities u8 */
        if (f->len < 13)
                return;
        nwk = mt_le16(f->data + 2);
        ieee = host_get_ieee(f->data + 4);
        caps = f->data[12];
        if (ieee == 0 || ieee == UINT64_MAX)
                return;

        host_enter(h);
        d = host_device_by_ieee(h, ieee);
        known = d != NULL;
        old = d ? d->nwk : nwk;
        (void) host_device_add(h, ieee, nwk);
        host_interview_address_changed(h, ieee, nwk);
        if (known)
                host_af_address_changed(h, old, nwk);
        if (!known && h->cb.unknown_device)
                h->cb.unknown_device(h, ieee, nwk, HOST_UNKNOWN_FROM_ANNOUNCE, h->userdata);
        if (!h->freed && h->cb.device_announced)
                h->cb.device_announced(h, ieee, nwk, old, caps, h->userdata);
        host_leave(h);
}

static void on_leave_ind(Znp *znp, const MtFrame *f, void *userdata) {
        Host *h = userdata;
        uint16_t nwk;
        uint64_t ieee;

        /* SrcAddr u16, IEEE, Request u8, RemoveChildren u8, Rejoin u8 */
        if (f->len < 13)
                return;
        if (f->data[12] != 0)   /* it will be back: zigbee-herdsman ignores these too */
                return;
        nwk = mt_le16(f->data);
        ieee = host_get_ieee(f->data + 2);

        host_enter(h);
        host_device_remove(h, ieee);
        host_interview_device_left(h, ieee);
        if (!h->freed && h->cb.device_left)
                h->cb.device_left(h, ieee, nwk, h->userdata);
        host_leave(h);
}

static void permit_join_set(Host *h, unsigned seconds);

static void on_permit_join_ind(Znp *znp, const MtFrame *f, void *userdata) {
        Host *h = userdata;

        if (f->len < 1)
                return;
        host_enter(h);
        /* The coordinator's own state flipped: trust it over our timer. */
        if (f->data[0] == 0 && h->pj_until > 0)
                permit_join_set(h, 0);
        else if (f->data[0] != 0 && h->pj_until == 0)
                permit_join_set(h, f->data[0]);
        host_leave(h);
}

void host_zdo_register(Host *h) {
        static const uint8_t responses[] = {
                ZDO_NWK_ADDR_RSP, ZDO_IEEE_ADDR_RSP, ZDO_NODE_DESC_RSP, ZDO_SIMPLE_DESC_RSP,
                ZDO_ACTIVE_EP_RSP, ZDO_MGMT_LEAVE_RSP,
        };
        const struct {
                uint8_t cmd1;
                ZnpAreqFn fn;
        } inds[] = {
                { ZDO_TC_DEV_IND, on_tc_dev_ind },
                { ZDO_END_DEVICE_ANNCE_IND, on_announce },
                { ZDO_LEAVE_IND, on_leave_ind },
                { ZDO_PERMIT_JOIN_IND, on_permit_join_ind },
        };

        for (size_t i = 0; i < ELEMENTSOF(responses); i++)
                if (h->n_handlers < ELEMENTSOF(h->handler_ids) &&
                    znp_add_areq_handler(h->znp, CMD0_ZDO_AREQ, responses[i], zdo_on_response, h,
                                         &h->handler_ids[h->n_handlers]) >= 0)
                        h->n_handlers++;
        for (size_t i = 0; i < ELEMENTSOF(inds); i++)
                if (h->n_handlers < ELEMENTSOF(h->handler_ids) &&
                    znp_add_areq_handler(h->znp, CMD0_ZDO_AREQ, inds[i].cmd1, inds[i].fn, h,
                                         &h->handler_ids[h->n_handlers]) >= 0)
                        h->n_handlers++;
}

/* Permit join */

static void permit_join_set(Host *h, unsigned seconds) {
        bool changed = (seconds > 0) != (h->pj_until > 0) || seconds != h->pj_seconds;

        h->pj_seconds = seconds;
        if (seconds == 0) {
                h->pj_until = 0;
                host_disarm(h->pj_timer);
        } else {
                uint64_t now = 0;

                (void) sd_event_now(h->event, CLOCK_MONOTONIC, &now);
                h->pj_until = now + seconds * 1000000ULL;
        }
        if (changed && h->cb.permit_join_changed)
                h->cb.permit_join_changed(h, seconds, h->userdata);
}

static int pj_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Host *h = userdata;

        host_enter(h);
        if (h->pj_until > 0)
                permit_join_set(h, 0);
        host_leave(h);
        return 0;
}

static void pj_finish(Host *h, int error) {
        HostDoneFn done = h->pj_done;
        void *ud = h->pj_userdata;
        unsigned seconds = h->pj_request;

        h->pj_busy = false;
        h->pj_gen++;
        if (error == 0) {
                h->pj_seconds = UINT32_MAX;     /* force the report */
                if (seconds > 0 && host_arm_timer(h, &h->pj_timer, seconds * 1000000ULL, pj_on_timer, h) < 0)
                        error = -ENOMEM;
                permit_join_set(h, error == 0 ? seconds : 0);
        }
        if (!h->freed && done)
                done(h, error, ud);
}

static int pj_send(Host *h, uint8_t addr_mode, uint16_t dst, HostZdoFn fn) {
        MtFrame f;

        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO, ZDO_MGMT_PERMIT_JOIN_REQ, NULL, 0);
        (void) mt_frame_append_u8(&f, addr_mode);
        (void) mt_frame_append_le16(&f, dst);
        (void) mt_frame_append_u8(&f, (uint8_t) h->pj_request);
        (void) mt_frame_append_u8(&f, 1);       /* TC significance */
        return host_zdo_request(h, &f, 0, 0, -1, 0, fn, h, h->pj_gen);
}

static void pj_on_coordinator(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        if (cookie != h->pj_gen || !h->pj_busy)
                return;
        pj_finish(h, error);
}

static void pj_on_broadcast(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        int r;

        if (cookie != h->pj_gen || !h->pj_busy)
                return;
        if (error < 0) {
                pj_finish(h, error);
                return;
        }
        /* And the coordinator itself, as zigpy-znp does (AddrMode 16-bit, DstAddr 0x0000). */
        r = pj_send(h, 0x02, 0x0000, pj_on_coordinator);
        if (r < 0)
                pj_finish(h, r);
}

int host_permit_join(Host *h, unsigned seconds, HostDoneFn done, void *userdata) {
        int r;

        assert(h);
        if (seconds > HOST_PERMIT_JOIN_MAX)
                return -ERANGE;
        if (h->pj_busy)
                return -EBUSY;

        h->pj_busy = true;
        h->pj_request = seconds;
        h->pj_done = done;
        h->pj_userdata = userdata;
        r = pj_send(h, 0x0F, 0xFFFC, pj_on_broadcast);
        if (r < 0) {
                h->pj_busy = false;
                h->pj_gen++;
                return r;
        }
        return 0;
}

unsigned host_permit_join_remaining(const Host *h) {
        uint64_t now = 0;

        if (h->pj_until == 0)
                return 0;
        (void) sd_event_now(h->event, CLOCK_MONOTONIC, &now);
        if (now >= h->pj_until)
                return 0;
        return (unsigned) ((h->pj_until - now + 999999) / 1000000);
}

/* Management leave */

static void leave_on_rsp(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        HostLeave *l = ctx, copy = *l;

        if (!l->used || l->gen != cookie)
                return;
        l->used = false;
        l->gen++;
        /* ZDO_MGMT_LEAVE_RSP: SrcAddr u16, Status u8 */
        if (error == 0 && (rsp->len < 3 || rsp->data[2] != 0))
                error = -EIO;
        if (copy.done)
                copy.done(h, error, copy.userdata);
}

int host_remove_device(Host *h, uint64_t ieee, uint16_t nwk, HostDoneFn done, void *userdata) {
        HostLeave *l = NULL;
        MtFrame f;
        uint8_t ieee_le[8];
        int r;

        assert(h);
        for (size_t i = 0; i < ELEMENTSOF(h->leaves); i++)
                if (!h->leaves[i].used) {
                        l = &h->leaves[i];
                        break;
                }
        if (!l)
                return -ENOBUFS;

        host_put_ieee(ieee_le, ieee);
        (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO, ZDO_MGMT_LEAVE_REQ, NULL, 0);
        (void) mt_frame_append_le16(&f, nwk);
        (void) mt_frame_append(&f, ieee_le, 8);
        (void) mt_frame_append_u8(&f, 0x00);    /* MT flags: bit0 rejoin, bit1 remove children */

        l->used = true;
        l->done = done;
        l->userdata = userdata;
        r = host_zdo_request(h, &f, ZDO_MGMT_LEAVE_RSP, nwk, -1, 0, leave_on_rsp, l, l->gen);
        if (r < 0) {
                l->used = false;
                l->gen++;
                return r;
        }
        return 0;
}

/* Parsers */

static int zdo_head(const uint8_t *d, size_t n, uint16_t *ret_src, uint8_t *ret_status) {
        if (!d || n < 3)
                return -EBADMSG;
        if (ret_src)
                *ret_src = mt_le16(d);
        if (ret_status)
                *ret_status = d[2];
        return d[2] == 0 ? 0 : -EREMOTEIO;
}

int zdo_parse_node_desc_rsp(const uint8_t *d, size_t n, uint16_t *ret_src, uint8_t *ret_status, NodeDescriptor *ret) {
        int r = zdo_head(d, n, ret_src, ret_status);

        if (r < 0)
                return r;
        /* SrcAddr, Status, NwkAddrOfInterest, then 13 descriptor bytes */
        if (n < 5 + 13)
                return -EBADMSG;
        d += 5;
        *ret = (NodeDescriptor) {
                .logical_type = d[0] & 0x07,
                .mac_capabilities = d[2],
                .manufacturer_code = mt_le16(d + 3),
                .server_mask = mt_le16(d + 8),
        };
        return 0;
}

int zdo_parse_active_ep_rsp(const uint8_t *d, size_t n, uint16_t *ret_src, uint8_t *ret_status,
                            uint8_t eps[INTERVIEW_ENDPOINTS_MAX], uint8_t *ret_n) {
        int r = zdo_head(d, n, ret_src, ret_status);
        size_t count;

        if (r < 0)
                return r;
        /* SrcAddr, Status, NwkAddr, Count, Endpoints[] */
        if (n < 6)
                return -EBADMSG;
        count = d[5];
        if (n < 6 + count)
                return -EBADMSG;
        *ret_n = (uint8_t) MIN(count, (size_t) INTERVIEW_ENDPOINTS_MAX);
        memcpy(eps, d + 6, *ret_n);
        return 0;
}

int zdo_parse_simple_desc_rsp(const uint8_t *d, size_t n, uint16_t *ret_src, uint8_t *ret_status,
                              SimpleDescriptor *ret) {
        int r = zdo_head(d, n, ret_src, ret_status);
        SimpleDescriptor sd = {};
        size_t pos, len, count;

        if (r < 0)
                return r;
        /* SrcAddr, Status, NwkAddr, Len, Endpoint, Profile, DeviceId, Version, NumIn, In[], NumOut, Out[] */
        if (n < 6)
                return -EBADMSG;
        len = d[5];
        if (len < 7 || n < 6 + len)
                return -EBADMSG;
        pos = 6;
        sd.endpoint = d[pos];
        sd.profile = mt_le16(d + pos + 1);
        sd.device_id = mt_le16(d + pos + 3);
        sd.device_version = d[pos + 5];
        pos += 6;

        count = d[pos++];
        if (pos + 2 * count + 1 > 6 + len)
                return -EBADMSG;
        for (size_t i = 0; i < count; i++)
                if (i < INTERVIEW_CLUSTERS_MAX)
                        sd.in[sd.n_in++] = mt_le16(d + pos + 2 * i);
        pos += 2 * count;

        count = d[pos++];
        if (pos + 2 * count > 6 + len)
                return -EBADMSG;
        for (size_t i = 0; i < count; i++)
                if (i < INTERVIEW_CLUSTERS_MAX)
                        sd.out[sd.n_out++] = mt_le16(d + pos + 2 * i);

        *ret = sd;
        return 0;
}
