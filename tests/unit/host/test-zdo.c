/*
 * ZDO, pairing and the interview against a scripted coordinator with a ZNCZ04LM behind it (variant B of
 * zncz04lm.md: EP 1 Basic..OnOff+0xFCC0, EP 21/31 Analog Input, EP 242 Green Power), plus permit join,
 * join/announce/leave indications, unknown-device lookup, management leave and coordinator loss.
 */
#include "fake-coord.h"
#include "host/interview.h"
#include "util/macro.h"

#define PLUG_NWK  0x3F26
#define PLUG_IEEE 0x04CF8CDF3C77B3BDULL

/* What the simulated plug and coordinator do. */
typedef struct Plug {
        unsigned drop_node_desc;        /* ignore this many node descriptor requests */
        unsigned drop_active_ep;
        bool silent;                    /* answer no ZDO request over the air */
        unsigned model_id_unsupported;  /* answer modelId with UNSUPPORTED_ATTRIBUTE this many times */
        bool util_lookup_rpc_error;     /* UTIL_ADDRMGR_NWK_ADDR_LOOKUP not implemented */
        bool util_lookup_knows;         /* the address manager knows PLUG_NWK */
        bool ieee_rsp;                  /* answer ZDO_IEEE_ADDR_REQ */
        bool defer_af;                  /* swallow AF_DATA_REQUESTs */
        bool no_confirm;                /* accept AF_DATA_REQUESTs, never confirm them */
        uint8_t permit_status;
        unsigned reads;
} Plug;

static Plug plug;

static void put16(uint8_t **p, uint16_t v) {
        *(*p)++ = (uint8_t) v;
        *(*p)++ = (uint8_t) (v >> 8);
}

static void send_simple_desc(Coord *c, uint16_t nwk, uint8_t ep) {
        static const uint16_t ep1_in[] = { 0x0000, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0xFCC0 };
        static const uint16_t ep1_out[] = { 0x000A, 0x0019 };
        static const uint16_t ai_in[] = { 0x000C };
        static const uint16_t gp_out[] = { 0x0021 };
        const uint16_t *in = NULL, *out = NULL;
        size_t n_in = 0, n_out = 0;
        uint16_t profile = 0x0104, device = 0x0051;
        uint8_t d[64], *p = d, *lenp;

        switch (ep) {
        case 1: in = ep1_in; n_in = ELEMENTSOF(ep1_in); out = ep1_out; n_out = ELEMENTSOF(ep1_out); break;
        case 21: case 31: in = ai_in; n_in = 1; device = 0x0009; break;
        case 242: out = gp_out; n_out = 1; profile = 0xA1E0; device = 0x0061; break;
        default: break;
        }
        put16(&p, nwk);
        if (!in && !out) {
                *p++ = 0x82;    /* INVALID_EP */
                put16(&p, nwk);
                *p++ = 0;
                coord_reply(c, 0x45, 0x84, d, (size_t) (p - d));
                return;
        }
        *p++ = 0;
        put16(&p, nwk);
        lenp = p++;
        *p++ = ep;
        put16(&p, profile);
        put16(&p, device);
        *p++ = 1;
        *p++ = (uint8_t) n_in;
        for (size_t i = 0; i < n_in; i++)
                put16(&p, in[i]);
        *p++ = (uint8_t) n_out;
        for (size_t i = 0; i < n_out; i++)
                put16(&p, out[i]);
        *lenp = (uint8_t) (p - lenp - 1);
        coord_reply(c, 0x45, 0x84, d, (size_t) (p - d));
}

static void send_af_incoming(Coord *c, uint16_t nwk, uint8_t ep, uint16_t cluster, const uint8_t *zcl, size_t len) {
        MtFrame f;

        assert(mt_frame_init(&f, MT_AREQ, MT_SUBSYS_AF, 0x81, NULL, 0) == 0);
        mt_frame_append_le16(&f, 0);
        mt_frame_append_le16(&f, cluster);
        mt_frame_append_le16(&f, nwk);
        mt_frame_append_u8(&f, ep);
        mt_frame_append_u8(&f, 1);
        mt_frame_append_u8(&f, 0);
        mt_frame_append_u8(&f, 0x60);
        mt_frame_append_u8(&f, 0);
        mt_frame_append_le32(&f, 0);
        mt_frame_append_u8(&f, 0);
        mt_frame_append_u8(&f, (uint8_t) len);
        mt_frame_append(&f, zcl, len);
        mt_frame_append_le16(&f, nwk);
        mt_frame_append_u8(&f, 0x1E);
        coord_send(c, &f);
}

/* Read Attributes on Basic, answered like the plug (fw 22; swBuildId unsupported). */
static void answer_basic_read(Coord *c, uint16_t nwk, uint8_t ep, const uint8_t *zcl, size_t len) {
        uint8_t rsp[64] = { 0x18, zcl[1], 0x01 }, *p = rsp + 3;
        uint16_t attr = (uint16_t) (zcl[3] | (zcl[4] << 8));
        const char *str = NULL;
        int u8 = -1, type = 0x20;

        plug.reads++;
        put16(&p, attr);
        switch (attr) {
        case 0x0005:
                if (plug.model_id_unsupported > 0) {
                        plug.model_id_unsupported--;
                        break;
                }
                str = "lumi.plug.mmeu01";
                break;
        case 0x0004: str = "LUMI"; break;
        case 0x0006: str = "09-06-2019"; break;
        case 0x0007: u8 = 1; type = 0x30; break;
        case 0x0000: u8 = 3; break;
        case 0x0001: u8 = 22; break;
        case 0x0002: u8 = 2; break;
        case 0x0003: u8 = 1; break;
        default: break;
        }
        if (str) {
                *p++ = 0x00;
                *p++ = 0x42;
                *p++ = (uint8_t) strlen(str);
                memcpy(p, str, strlen(str));
                p += strlen(str);
        } else if (u8 >= 0) {
                *p++ = 0x00;
                *p++ = (uint8_t) type;
                *p++ = (uint8_t) u8;
        } else
                *p++ = 0x86;    /* UNSUPPORTED_ATTRIBUTE */
        send_af_incoming(c, nwk, ep, 0x0000, rsp, (size_t) (p - rsp));
}

static void respond(Coord *c, const MtFrame *f) {
        uint16_t nwk = f->len >= 2 ? mt_le16(f->data) : 0;

        if (mt_frame_is(f, 0x25, 0x02)) {               /* ZDO_NODE_DESC_REQ */
                coord_srsp_status(c, f, 0);
                if (plug.silent || (plug.drop_node_desc > 0 && plug.drop_node_desc--))
                        return;
                /* router; 2.4 GHz; MAC caps 0x8E; manufacturer 0x115F; buffers; server mask 0x2C00 */
                coord_replyv(c, 0x45, 0x82, 18, nwk & 0xFF, nwk >> 8, 0x00, nwk & 0xFF, nwk >> 8,
                             0x01, 0x40, 0x8E, 0x5F, 0x11, 0x7F, 0x64, 0x00, 0x00, 0x2C, 0x64, 0x00, 0x00);
        } else if (mt_frame_is(f, 0x25, 0x05)) {        /* ZDO_ACTIVE_EP_REQ */
                coord_srsp_status(c, f, 0);
                if (plug.silent || (plug.drop_active_ep > 0 && plug.drop_active_ep--))
                        return;
                coord_replyv(c, 0x45, 0x85, 10, nwk & 0xFF, nwk >> 8, 0x00, nwk & 0xFF, nwk >> 8, 4, 1, 21, 31, 242);
        } else if (mt_frame_is(f, 0x25, 0x04)) {        /* ZDO_SIMPLE_DESC_REQ */
                coord_srsp_status(c, f, 0);
                if (!plug.silent)
                        send_simple_desc(c, nwk, f->data[4]);
        } else if (mt_frame_is(f, 0x24, 0x01)) {        /* AF_DATA_REQUEST */
                if (plug.defer_af)
                        return;
                coord_srsp_status(c, f, 0);
                if (plug.no_confirm)
                        return;
                coord_replyv(c, 0x44, 0x80, 3, 0x00, 1, f->data[6]);
                if (mt_le16(f->data + 4) == 0x0000 && f->data[9] >= 5 && f->data[12] == 0x00)
                        answer_basic_read(c, nwk, f->data[2], f->data + 10, f->data[9]);
        } else if (mt_frame_is(f, 0x25, 0x36)) {        /* ZDO_MGMT_PERMIT_JOIN_REQ */
                coord_srsp_status(c, f, plug.permit_status);
        } else if (mt_frame_is(f, 0x27, 0x41)) {        /* UTIL_ADDRMGR_NWK_ADDR_LOOKUP */
                if (plug.util_lookup_rpc_error)
                        coord_replyv(c, 0x60, 0x00, 3, 0x02, 0x27, 0x41);
                else if (plug.util_lookup_knows && nwk == PLUG_NWK)
                        coord_replyv(c, 0x67, 0x41, 8, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04);
                else
                        coord_replyv(c, 0x67, 0x41, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
        } else if (mt_frame_is(f, 0x25, 0x01)) {        /* ZDO_IEEE_ADDR_REQ */
                coord_srsp_status(c, f, 0);
                if (plug.ieee_rsp && nwk == PLUG_NWK)
                        coord_replyv(c, 0x45, 0x81, 13, 0x00, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04,
                                     nwk & 0xFF, nwk >> 8, 0x00, 0x00);
        } else if (mt_frame_is(f, 0x25, 0x34)) {        /* ZDO_MGMT_LEAVE_REQ */
                coord_srsp_status(c, f, 0);
                coord_replyv(c, 0x45, 0xB4, 3, nwk & 0xFF, nwk >> 8, 0x00);
        }
}

/* What the host reported. */
typedef struct Events {
        int interviews;
        InterviewResult result;
        int joined, announced, left, unknown, pj_changes, lost;
        uint64_t ieee;
        uint16_t nwk, old_nwk, parent;
        uint8_t caps;
        HostUnknownSource unknown_source;
        unsigned pj_seconds;
        HostLossReason loss;
        int loss_error;
        bool free_on_loss;
        Rig *rig;
} Events;

static void ev_interview(Host *h, const InterviewResult *r, void *userdata) {
        Events *e = userdata;

        e->interviews++;
        e->result = *r;
}

static void ev_joined(Host *h, uint64_t ieee, uint16_t nwk, uint16_t parent, void *userdata) {
        Events *e = userdata;

        e->joined++;
        e->ieee = ieee;
        e->nwk = nwk;
        e->parent = parent;
}

static void ev_announced(Host *h, uint64_t ieee, uint16_t nwk, uint16_t old, uint8_t caps, void *userdata) {
        Events *e = userdata;

        e->announced++;
        e->ieee = ieee;
        e->nwk = nwk;
        e->old_nwk = old;
        e->caps = caps;
}

static void ev_left(Host *h, uint64_t ieee, uint16_t nwk, void *userdata) {
        Events *e = userdata;

        e->left++;
        e->ieee = ieee;
        e->nwk = nwk;
}

static void ev_unknown(Host *h, uint64_t ieee, uint16_t nwk, HostUnknownSource src, void *userdata) {
        Events *e = userdata;

        e->unknown++;
        e->ieee = ieee;
        e->nwk = nwk;
        e->unknown_source = src;
}

static void ev_pj(Host *h, unsigned seconds, void *userdata) {
        Events *e = userdata;

        e->pj_changes++;
        e->pj_seconds = seconds;
}

static void ev_lost(Host *h, HostLossReason reason, int error, void *userdata) {
        Events *e = userdata;

        e->lost++;
        e->loss = reason;
        e->loss_error = error;
        if (e->free_on_loss)
                e->rig->host = host_free(e->rig->host);
}

static const HostCallbacks callbacks = {
        .device_joined = ev_joined,
        .device_announced = ev_announced,
        .device_left = ev_left,
        .interview_done = ev_interview,
        .unknown_device = ev_unknown,
        .permit_join_changed = ev_pj,
        .coordinator_lost = ev_lost,
};

static void setup(Rig *r, Events *e, const HostParams *p) {
        *e = (Events) { .rig = r };
        rig_setup(r, p, respond);
        host_set_callbacks(r->host, &callbacks, e);
}

static bool has_cluster(const SimpleDescriptor *sd, bool in, uint16_t cluster) {
        for (size_t i = 0; i < (in ? sd->n_in : sd->n_out); i++)
                if ((in ? sd->in : sd->out)[i] == cluster)
                        return true;
        return false;
}

static void test_zncz04lm_interview_finds_the_plug(void) {
        HostParams p = rig_params;
        Rig r;
        Events e;
        const InterviewResult *res = &e.result;
        size_t i;

        /* The first node descriptor and active endpoint requests go unanswered, as often with Lumi. */
        plug = (Plug) { .drop_node_desc = 1, .drop_active_ep = 1 };
        p.zdo_timeout_usec = 50 * MS;
        setup(&r, &e, &p);
        assert(host_device_add(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == -EALREADY);
        assert(host_interview_running(r.host, PLUG_IEEE));
        RUN_UNTIL(r.e, e.interviews > 0);
        assert(!host_interview_running(r.host, PLUG_IEEE));

        assert(res->success && res->error == 0 && res->reason[0] == 0 && res->failed_step == INTERVIEW_DONE);
        assert(res->ieee == PLUG_IEEE && res->nwk == PLUG_NWK);
        assert(res->node.logical_type == 1 && res->node.manufacturer_code == 0x115F && res->node.mac_capabilities == 0x8E);
        assert(res->n_endpoints == 4);
        assert(res->endpoints[0].endpoint == 1 && res->endpoints[0].profile == 0x0104 && res->endpoints[0].device_id == 0x0051);
        assert(res->endpoints[0].n_in == 7 && has_cluster(&res->endpoints[0], true, 0xFCC0));
        assert(has_cluster(&res->endpoints[0], false, 0x0019) && has_cluster(&res->endpoints[0], false, 0x000A));
        assert(res->endpoints[1].endpoint == 21 && has_cluster(&res->endpoints[1], true, 0x000C));
        assert(res->endpoints[2].endpoint == 31);
        assert(res->endpoints[3].endpoint == 242 && res->endpoints[3].profile == 0xA1E0 &&
               has_cluster(&res->endpoints[3], false, 0x0021));
        assert(res->basic_endpoint == 1);
        assert(strcmp(res->model_id, "lumi.plug.mmeu01") == 0);
        assert(strcmp(res->manufacturer_name, "LUMI") == 0);
        assert(strcmp(res->date_code, "09-06-2019") == 0);
        assert(res->power_source == 1 && res->zcl_version == 3 && res->app_version == 22);
        assert(res->stack_version == 2 && res->hw_version == 1);
        assert(!interview_has(res, INTERVIEW_ATTR_SW_BUILD_ID) && res->sw_build_id[0] == 0);
        assert(interview_has(res, INTERVIEW_ATTR_MODEL_ID) && interview_has(res, INTERVIEW_ATTR_HW_VERSION));

        /* The frames, in herdsman's order. */
        assert(coord_count(&r.coord, 0x25, 0x02, 0) >= 2);
        ASSERT_FRAME(&r.coord, 0, 0x25, 0x02, 0x26, 0x3F, 0x26, 0x3F);
        for (i = 0; mt_frame_is(&r.coord.rx[i], 0x25, 0x02); i++)
                ;
        ASSERT_FRAME(&r.coord, i, 0x25, 0x05, 0x26, 0x3F, 0x26, 0x3F);
        for (; mt_frame_is(&r.coord.rx[i], 0x25, 0x05); i++)
                ;
        ASSERT_FRAME(&r.coord, i, 0x25, 0x04, 0x26, 0x3F, 0x26, 0x3F, 0x01);
        i++;
        /* nine Basic reads on EP 1, one attribute each: modelId first */
        {
                static const uint16_t order[] = { 0x0005, 0x0004, 0x0007, 0x0000, 0x0001, 0x0002, 0x0003, 0x0006, 0x4000 };

                for (size_t k = 0; k < ELEMENTSOF(order); k++, i++) {
                        const MtFrame *f = &r.coord.rx[i];

                        assert(mt_frame_is(f, 0x24, 0x01));
                        assert(mt_le16(f->data) == PLUG_NWK && f->data[2] == 1 && f->data[3] == 1);
                        assert(mt_le16(f->data + 4) == 0x0000 && f->data[9] == 5);
                        assert(f->data[10] == 0x10 && f->data[12] == 0x00 && mt_le16(f->data + 13) == order[k]);
                }
        }
        ASSERT_FRAME(&r.coord, i, 0x25, 0x04, 0x26, 0x3F, 0x26, 0x3F, 21);
        ASSERT_FRAME(&r.coord, i + 1, 0x25, 0x04, 0x26, 0x3F, 0x26, 0x3F, 31);
        ASSERT_FRAME(&r.coord, i + 2, 0x25, 0x04, 0x26, 0x3F, 0x26, 0x3F, 242);
        assert(r.coord.n_rx == i + 3);
        rig_teardown(&r);
}

static void test_silent_device_fails_after_six_node_descriptor_attempts(void) {
        HostParams p = rig_params;
        Rig r;
        Events e;

        plug = (Plug) { .silent = true };
        p.zdo_timeout_usec = 10 * MS;
        setup(&r, &e, &p);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        RUN_UNTIL(r.e, e.interviews > 0);
        assert(!e.result.success && e.result.error == -ETIMEDOUT);
        assert(e.result.failed_step == INTERVIEW_NODE_DESCRIPTOR);
        assert(strcmp(e.result.reason, "node descriptor: no answer after 6 attempts") == 0);
        assert(coord_count(&r.coord, 0x25, 0x02, 0) == 6 && r.coord.n_rx == 6);
        rig_teardown(&r);
}

static void test_active_endpoints_are_asked_twice_then_the_interview_fails(void) {
        HostParams p = rig_params;
        Rig r;
        Events e;

        plug = (Plug) { .drop_active_ep = 2 };
        p.zdo_timeout_usec = 10 * MS;
        setup(&r, &e, &p);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        RUN_UNTIL(r.e, e.interviews > 0);
        assert(!e.result.success && e.result.failed_step == INTERVIEW_ACTIVE_ENDPOINTS);
        assert(strcmp(e.result.reason, "active endpoints: no answer after 2 attempts") == 0);
        assert(coord_count(&r.coord, 0x25, 0x05, 0) == 2);
        assert(e.result.node.manufacturer_code == 0x115F);     /* what was found is kept */
        rig_teardown(&r);
}

static void test_model_id_is_read_again_after_a_pause(void) {
        Rig r;
        Events e;

        plug = (Plug) { .model_id_unsupported = 1 };
        setup(&r, &e, NULL);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        RUN_UNTIL(r.e, e.interviews > 0);
        assert(e.result.success && strcmp(e.result.model_id, "lumi.plug.mmeu01") == 0);
        assert(plug.reads == 10);
        rig_teardown(&r);

        /* Unsupported twice: the interview still succeeds, without a model. */
        plug = (Plug) { .model_id_unsupported = 2 };
        setup(&r, &e, NULL);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        RUN_UNTIL(r.e, e.interviews > 0);
        assert(e.result.success && !interview_has(&e.result, INTERVIEW_ATTR_MODEL_ID) && e.result.model_id[0] == 0);
        assert(strcmp(e.result.manufacturer_name, "LUMI") == 0);
        assert(plug.reads == 10);
        rig_teardown(&r);
}

static void test_interview_follows_a_device_that_rejoins(void) {
        HostParams p = rig_params;
        Rig r;
        Events e;
        size_t n;

        plug = (Plug) { .drop_node_desc = 1 };
        p.zdo_timeout_usec = 500 * MS;
        setup(&r, &e, &p);
        assert(host_device_add(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        RUN_UNTIL(r.e, r.coord.n_rx >= 1);
        coord_replyv(&r.coord, 0x45, 0xC1, 13, 0x01, 0x52, 0x01, 0x52, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0x8E);
        RUN_UNTIL(r.e, e.announced > 0);
        assert(e.old_nwk == PLUG_NWK && e.nwk == 0x5201);
        RUN_UNTIL(r.e, e.interviews > 0);
        assert(e.result.success && e.result.nwk == 0x5201);
        n = 0;
        while (!mt_frame_is(&r.coord.rx[++n], 0x25, 0x02))
                ;
        ASSERT_FRAME(&r.coord, n, 0x25, 0x02, 0x01, 0x52, 0x01, 0x52);
        rig_teardown(&r);
}

static void test_permit_join_opens_network_and_coordinator_then_closes(void) {
        Rig r;
        Events e;

        plug = (Plug) {};
        setup(&r, &e, NULL);
        assert(host_permit_join(r.host, 255, NULL, NULL) == -ERANGE);
        assert(host_permit_join(r.host, 60, NULL, NULL) == 0);
        assert(host_permit_join(r.host, 60, NULL, NULL) == -EBUSY);
        RUN_UNTIL(r.e, e.pj_changes > 0);
        assert(e.pj_seconds == 60);
        ASSERT_FRAME(&r.coord, 0, 0x25, 0x36, 0x0F, 0xFC, 0xFF, 0x3C, 0x01);
        ASSERT_FRAME(&r.coord, 1, 0x25, 0x36, 0x02, 0x00, 0x00, 0x3C, 0x01);
        {
                uint8_t wire[16];

                assert(coord_wire(&r.coord, 0, wire, sizeof(wire)) == 10);
                assert(wire[9] == (0x05 ^ 0x25 ^ 0x36 ^ 0x0F ^ 0xFC ^ 0xFF ^ 0x3C ^ 0x01));
        }
        assert(host_permit_join_remaining(r.host) > 50 && host_permit_join_remaining(r.host) <= 60);

        /* Closing. */
        assert(host_permit_join(r.host, 0, NULL, NULL) == 0);
        RUN_UNTIL(r.e, e.pj_changes > 1);
        assert(e.pj_seconds == 0 && host_permit_join_remaining(r.host) == 0);
        ASSERT_FRAME(&r.coord, 2, 0x25, 0x36, 0x0F, 0xFC, 0xFF, 0x00, 0x01);

        /* The timer closes it by itself. */
        assert(host_permit_join(r.host, 1, NULL, NULL) == 0);
        RUN_UNTIL(r.e, e.pj_changes > 2);
        assert(e.pj_seconds == 1);
        RUN_UNTIL(r.e, e.pj_changes > 3);
        assert(e.pj_seconds == 0);

        /* The coordinator says it closed early (ZDO_PERMIT_JOIN_IND 0). */
        assert(host_permit_join(r.host, 100, NULL, NULL) == 0);
        RUN_UNTIL(r.e, e.pj_changes > 4);
        coord_replyv(&r.coord, 0x45, 0xCB, 1, 0x00);
        RUN_UNTIL(r.e, e.pj_changes > 5);
        assert(e.pj_seconds == 0);

        rig_teardown(&r);
}

static void on_done(Host *h, int error, void *userdata) {
        int *d = userdata;

        *d = error == 0 ? 1 : error;
}

static void test_refused_permit_join_reports_eio_and_no_change(void) {
        Rig r;
        Events e;
        int d = 0;

        plug = (Plug) { .permit_status = 0xC2 };
        setup(&r, &e, NULL);
        assert(host_permit_join(r.host, 30, on_done, &d) == 0);
        RUN_UNTIL(r.e, d != 0);
        assert(d == -EIO && e.pj_changes == 0 && r.coord.n_rx == 1);
        rig_teardown(&r);
}

static void test_join_announce_and_leave_are_reported(void) {
        Rig r;
        Events e;
        uint64_t ieee = 0;
        uint16_t nwk = 0;

        plug = (Plug) {};
        setup(&r, &e, NULL);

        /* znp.md §8 #12, a captured ZDO_TC_DEV_IND of a Lumi device */
        coord_replyv(&r.coord, 0x45, 0xCA, 12, 0x26, 0x3F, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0x00, 0x00);
        RUN_UNTIL(r.e, e.joined > 0);
        assert(e.ieee == PLUG_IEEE && e.nwk == 0x3F26 && e.parent == 0x0000);
        assert(host_device_lookup_nwk(r.host, 0x3F26, &ieee) == 0 && ieee == PLUG_IEEE);

        /* #13, its announce: known, same address */
        coord_replyv(&r.coord, 0x45, 0xC1, 13, 0x26, 0x3F, 0x26, 0x3F, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0x84);
        RUN_UNTIL(r.e, e.announced > 0);
        assert(e.ieee == PLUG_IEEE && e.nwk == 0x3F26 && e.old_nwk == 0x3F26 && e.caps == 0x84 && e.unknown == 0);

        /* Back with a new address. */
        coord_replyv(&r.coord, 0x45, 0xC1, 13, 0x01, 0x52, 0x01, 0x52, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0x8E);
        RUN_UNTIL(r.e, e.announced > 1);
        assert(e.nwk == 0x5201 && e.old_nwk == 0x3F26);
        assert(host_device_lookup_ieee(r.host, PLUG_IEEE, &nwk) == 0 && nwk == 0x5201);

        /* A leave with rejoin is ignored; without, reported and forgotten. */
        coord_replyv(&r.coord, 0x45, 0xC9, 13, 0x01, 0x52, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0, 0, 1);
        coord_replyv(&r.coord, 0x45, 0xC9, 13, 0x01, 0x52, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0, 0, 0);
        RUN_UNTIL(r.e, e.left > 0);
        run_idle(r.e);
        assert(e.left == 1 && e.ieee == PLUG_IEEE && e.nwk == 0x5201);
        assert(host_device_lookup_ieee(r.host, PLUG_IEEE, NULL) == -ENOENT);

        /* An announce of a device we do not know: unknown_device, then the announce. */
        coord_replyv(&r.coord, 0x45, 0xC1, 13, 0x01, 0x52, 0x01, 0x52, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0x8E);
        RUN_UNTIL(r.e, e.announced > 2);
        assert(e.unknown == 1 && e.unknown_source == HOST_UNKNOWN_FROM_ANNOUNCE);

        /* Malformed indications are dropped. */
        coord_replyv(&r.coord, 0x45, 0xCA, 3, 0x26, 0x3F, 0xBD);
        coord_replyv(&r.coord, 0x45, 0xC1, 2, 0x26, 0x3F);
        run_idle(r.e);
        assert(e.joined == 1 && e.announced == 3);
        assert(r.coord.n_rx == 0);
        rig_teardown(&r);
}

static void test_unknown_sender_is_looked_up_in_the_address_manager(void) {
        static const uint8_t report[] = { 0x18, 0x10, 0x0A, 0x00, 0x00, 0x10, 0x01 };
        Rig r;
        Events e;

        plug = (Plug) { .util_lookup_knows = true };
        setup(&r, &e, NULL);
        send_af_incoming(&r.coord, PLUG_NWK, 1, 0x0006, report, sizeof(report));
        RUN_UNTIL(r.e, e.unknown > 0);
        assert(e.ieee == PLUG_IEEE && e.nwk == PLUG_NWK && e.unknown_source == HOST_UNKNOWN_FROM_MESSAGE);
        ASSERT_FRAME(&r.coord, 0, 0x27, 0x41, 0x26, 0x3F);
        assert(r.coord.n_rx == 1);

        /* Known now: the next frame starts nothing. */
        send_af_incoming(&r.coord, PLUG_NWK, 1, 0x0006, report, sizeof(report));
        run_idle(r.e);
        assert(r.coord.n_rx == 1 && e.unknown == 1);
        rig_teardown(&r);
}

static void test_unknown_sender_is_asked_over_the_air_when_the_stick_cannot_tell(void) {
        static const uint8_t report[] = { 0x18, 0x10, 0x0A, 0x00, 0x00, 0x10, 0x01 };
        HostParams p = rig_params;
        Rig r;
        Events e;

        plug = (Plug) { .util_lookup_rpc_error = true, .ieee_rsp = true };
        setup(&r, &e, NULL);
        send_af_incoming(&r.coord, PLUG_NWK, 1, 0x0006, report, sizeof(report));
        RUN_UNTIL(r.e, e.unknown > 0);
        assert(e.ieee == PLUG_IEEE && e.nwk == PLUG_NWK);
        ASSERT_FRAME(&r.coord, 0, 0x27, 0x41, 0x26, 0x3F);
        ASSERT_FRAME(&r.coord, 1, 0x25, 0x01, 0x26, 0x3F, 0x00, 0x00);
        rig_teardown(&r);

        /* Nobody answers: given up, and not asked again for a while. */
        plug = (Plug) {};
        p.zdo_timeout_usec = 10 * MS;
        setup(&r, &e, &p);
        send_af_incoming(&r.coord, PLUG_NWK, 1, 0x0006, report, sizeof(report));
        {
                HostStats st = {};

                RUN_UNTIL(r.e, (host_get_stats(r.host, &st), st.lookups_failed == 1));
        }
        ASSERT_FRAME(&r.coord, 0, 0x27, 0x41, 0x26, 0x3F);
        ASSERT_FRAME(&r.coord, 1, 0x25, 0x01, 0x26, 0x3F, 0x00, 0x00);
        send_af_incoming(&r.coord, PLUG_NWK, 1, 0x0006, report, sizeof(report));
        run_idle(r.e);
        assert(r.coord.n_rx == 2 && e.unknown == 0);
        rig_teardown(&r);
}

static void test_device_removal_sends_mgmt_leave(void) {
        Rig r;
        Events e;
        int d = 0;

        plug = (Plug) {};
        setup(&r, &e, NULL);
        assert(host_remove_device(r.host, PLUG_IEEE, PLUG_NWK, on_done, &d) == 0);
        RUN_UNTIL(r.e, d != 0);
        assert(d == 1);
        ASSERT_FRAME(&r.coord, 0, 0x25, 0x34, 0x26, 0x3F, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0x00);
        rig_teardown(&r);
}

typedef struct Zcl {
        int calls, error;
} Zcl;

static void on_zcl_done(Host *h, int error, uint8_t af_status, const HostZclMessage *rsp, void *userdata) {
        Zcl *z = userdata;

        z->calls++;
        z->error = error;
}

static void test_coordinator_reset_fails_everything_pending(void) {
        Rig r;
        Events e;
        Zcl z = {};
        int pj = 0;
        uint8_t frame[] = { 0x10, 0x01, 0x00, 0x00, 0x00 };

        plug = (Plug) { .silent = true, .no_confirm = true };
        setup(&r, &e, NULL);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        assert(host_zcl_request(r.host, 0x1234, 1, 6, frame, sizeof(frame), on_zcl_done, &z, NULL) == 0);
        RUN_UNTIL(r.e, coord_count(&r.coord, 0x25, 0x02, 0) > 0 && coord_count(&r.coord, 0x24, 0x01, 0) > 0);
        run_idle(r.e);
        assert(host_permit_join(r.host, 10, on_done, &pj) == 0);
        RUN_UNTIL(r.e, e.pj_changes > 0);

        /* SYS_RESET_IND, as in znp.md §8 #4 */
        coord_replyv(&r.coord, 0x41, 0x80, 6, 0x00, 0x02, 0x01, 0x02, 0x07, 0x01);
        RUN_UNTIL(r.e, e.lost > 0);
        assert(e.loss == HOST_LOSS_COORDINATOR_RESET && e.loss_error == -ECONNRESET);
        assert(z.calls == 1 && z.error == -ECONNRESET);
        assert(e.interviews == 1 && !e.result.success && e.result.error == -ECONNRESET);
        assert(strstr(e.result.reason, "coordinator") != NULL);
        assert(e.pj_seconds == 0);
        rig_teardown(&r);
}

static void test_transport_loss_is_reported_and_host_can_be_freed_in_the_callback(void) {
        Rig r;
        Events e;
        Zcl z = {};
        uint8_t frame[] = { 0x10, 0x01, 0x00, 0x00, 0x00 };

        plug = (Plug) { .defer_af = true };
        setup(&r, &e, NULL);
        e.free_on_loss = true;
        assert(host_zcl_request(r.host, 0x1234, 1, 6, frame, sizeof(frame), on_zcl_done, &z, NULL) == 0);
        RUN_UNTIL(r.e, r.coord.n_rx > 0);
        coord_close(&r.coord);
        RUN_UNTIL(r.e, e.lost > 0);
        assert(e.loss == HOST_LOSS_TRANSPORT && e.loss_error < 0);
        assert(z.calls == 1 && z.error == -ECONNRESET);
        assert(r.host == NULL);
        run_idle(r.e);
        rig_teardown(&r);
}

static void free_in_zcl(Host *h, const HostZclMessage *m, void *userdata) {
        Rig *r = userdata;

        r->host = host_free(r->host);
}

static void test_host_freed_from_a_callback_gets_nothing_more(void) {
        static const uint8_t report[] = { 0x08, 0x10, 0x0A, 0x00, 0x00, 0x10, 0x01 };
        Rig r;
        Events e;

        plug = (Plug) {};
        setup(&r, &e, NULL);
        host_set_callbacks(r.host, &(HostCallbacks) { .zcl_received = free_in_zcl }, &r);
        assert(host_device_add(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        send_af_incoming(&r.coord, PLUG_NWK, 1, 0x0006, report, sizeof(report));
        send_af_incoming(&r.coord, PLUG_NWK, 1, 0x0006, report, sizeof(report));
        RUN_UNTIL(r.e, r.host == NULL);
        run_idle(r.e);
        rig_teardown(&r);
}

static void test_descriptor_parsers_reject_short_input(void) {
        static const uint8_t nd[] = { 0x26, 0x3F, 0x00, 0x26, 0x3F, 0x01, 0x40, 0x8E, 0x5F, 0x11, 0x7F, 0x64, 0x00,
                                      0x00, 0x2C, 0x64, 0x00, 0x00 };
        /* znp.md §8 #18: simple descriptor of a GP endpoint */
        static const uint8_t sd[] = { 0xB1, 0x6B, 0x00, 0xB1, 0x6B, 0x0A, 0xF2, 0xE0, 0xA1, 0x61, 0x00, 0x01, 0x00,
                                      0x01, 0x21, 0x00 };
        static const uint8_t ae[] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
        NodeDescriptor n;
        SimpleDescriptor s;
        uint8_t eps[INTERVIEW_ENDPOINTS_MAX], n_eps = 9, status = 0;
        uint16_t src = 0;

        assert(zdo_parse_node_desc_rsp(nd, sizeof(nd), &src, &status, &n) == 0);
        assert(src == 0x3F26 && n.logical_type == 1 && n.manufacturer_code == 0x115F && n.server_mask == 0x2C00);
        assert(zdo_parse_node_desc_rsp(nd, sizeof(nd) - 1, NULL, NULL, &n) == -EBADMSG);
        assert(zdo_parse_simple_desc_rsp(sd, sizeof(sd), &src, &status, &s) == 0);
        assert(src == 0x6BB1 && s.endpoint == 242 && s.profile == 0xA1E0 && s.device_id == 0x0061);
        assert(s.n_in == 0 && s.n_out == 1 && s.out[0] == 0x0021);
        assert(zdo_parse_simple_desc_rsp(sd, sizeof(sd) - 1, NULL, NULL, &s) == -EBADMSG);
        {
                uint8_t lying[sizeof(sd)];

                memcpy(lying, sd, sizeof(sd));
                lying[13] = 40;         /* NumOut larger than the descriptor */
                assert(zdo_parse_simple_desc_rsp(lying, sizeof(lying), NULL, NULL, &s) == -EBADMSG);
                lying[2] = 0x82;        /* INVALID_EP */
                assert(zdo_parse_simple_desc_rsp(lying, 3, NULL, &status, &s) == -EREMOTEIO && status == 0x82);
        }
        assert(zdo_parse_active_ep_rsp(ae, sizeof(ae), NULL, NULL, eps, &n_eps) == 0 && n_eps == 0);
        assert(zdo_parse_active_ep_rsp(ae, 5, NULL, NULL, eps, &n_eps) == -EBADMSG);
}

static uint32_t rng_state = 0x12345678u;

static uint32_t rng(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 17;
        rng_state ^= rng_state << 5;
        return rng_state;
}

/* Garbage in every indication and response the host listens to: nothing crashes, nothing leaks, and
 * the host still works afterwards. */
static void test_random_frames_are_survived(void) {
        static const uint8_t areqs[][2] = {
                { 0x44, 0x80 }, { 0x44, 0x81 }, { 0x45, 0x80 }, { 0x45, 0x81 }, { 0x45, 0x82 }, { 0x45, 0x84 },
                { 0x45, 0x85 }, { 0x45, 0xB4 }, { 0x45, 0xC1 }, { 0x45, 0xC9 }, { 0x45, 0xCA }, { 0x45, 0xCB },
        };
        HostParams p = rig_params;
        Rig r;
        Events e;
        uint8_t frame[] = { 0x10, 0x01, 0x00, 0x00, 0x00 };

        plug = (Plug) { .silent = true, .no_confirm = true };
        p.zdo_timeout_usec = 20 * MS;
        p.lookup_holdoff_usec = 1 * MS;
        setup(&r, &e, &p);
        assert(host_device_add(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        assert(host_interview_start(r.host, PLUG_IEEE, PLUG_NWK) == 0);
        for (int i = 0; i < 4; i++)
                assert(host_zcl_request(r.host, (uint16_t) (PLUG_NWK + i), 1, 0x0006, frame, sizeof(frame),
                                        NULL, NULL, NULL) == 0);

        for (int i = 0; i < 20000; i++) {
                const uint8_t *c = areqs[rng() % ELEMENTSOF(areqs)];
                uint8_t d[MT_DATA_MAX];
                size_t len = rng() % 40;

                if (rng() % 4 == 0)
                        len = rng() % MT_DATA_MAX;
                for (size_t k = 0; k < len; k++)
                        d[k] = (uint8_t) rng();
                if (len >= 6 && rng() % 2) {            /* often about the plug, with little counts */
                        d[0] = (uint8_t) PLUG_NWK;
                        d[1] = (uint8_t) (PLUG_NWK >> 8);
                        d[5] &= 0x0F;
                }
                if (c[1] == 0x81 && c[0] == 0x44 && len >= 17)
                        d[16] = (uint8_t) (rng() % (len - 16 + 4));     /* Len near the truth */
                coord_reply(&r.coord, c[0], c[1], d, len);
                if (i % 64 == 0)
                        run_idle(r.e);
        }
        run_idle(r.e);

        /* Still answering: a permit join goes through. */
        plug = (Plug) {};
        {
                int d = 0;

                assert(host_permit_join(r.host, 0, on_done, &d) == 0);
                RUN_UNTIL(r.e, d != 0);
                assert(d == 1);
        }
        rig_teardown(&r);
}

int main(void) {
        test_descriptor_parsers_reject_short_input();
        test_zncz04lm_interview_finds_the_plug();
        test_silent_device_fails_after_six_node_descriptor_attempts();
        test_active_endpoints_are_asked_twice_then_the_interview_fails();
        test_model_id_is_read_again_after_a_pause();
        test_interview_follows_a_device_that_rejoins();
        test_permit_join_opens_network_and_coordinator_then_closes();
        test_refused_permit_join_reports_eio_and_no_change();
        test_join_announce_and_leave_are_reported();
        test_unknown_sender_is_looked_up_in_the_address_manager();
        test_unknown_sender_is_asked_over_the_air_when_the_stick_cannot_tell();
        test_device_removal_sends_mgmt_leave();
        test_coordinator_reset_fails_everything_pending();
        test_transport_loss_is_reported_and_host_can_be_freed_in_the_callback();
        test_host_freed_from_a_callback_gets_nothing_more();
        test_random_frames_are_survived();
        return 0;
}
