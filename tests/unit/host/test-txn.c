/*
 * ZCL transactions on the AF data path against a scripted coordinator: exact AF_DATA_REQUEST frames,
 * confirm matching by TransId, every retry status with the recoveries above Af (address check, route
 * discovery when unanswered), timeouts, per-device ordering, the queue bound, the concurrency cap and
 * default responses.
 */
#include "fake-coord.h"
#include "host/af.h"
#include "util/macro.h"

#define PLUG_NWK  0x3F26
#define PLUG_IEEE 0x04CF8CDF3C77B3BDULL

typedef struct Done {
        int calls;
        int error;
        uint8_t af_status;
        bool has_rsp;
        uint8_t rsp_cmd;
        uint8_t rsp_payload[64];
        size_t rsp_len;
} Done;

static void on_done(Host *h, int error, uint8_t af_status, const HostZclMessage *rsp, void *userdata) {
        Done *d = userdata;

        d->calls++;
        d->error = error;
        d->af_status = af_status;
        d->has_rsp = rsp != NULL;
        if (rsp) {
                d->rsp_cmd = rsp->header.command;
                d->rsp_len = MIN(rsp->payload_len, sizeof(d->rsp_payload));
                memcpy(d->rsp_payload, rsp->payload, d->rsp_len);
        }
}

/* What the scripted coordinator does with AF_DATA_REQUESTs. */
typedef struct Script {
        uint8_t confirm[16];            /* status of the Nth confirm; index past n_confirm: 0x00 */
        size_t n_confirm;
        size_t n_requests;
        uint8_t srsp_status;
        bool no_confirm;
        bool answer_reads;              /* answer a Read Attributes with the value below */
        bool defer;                     /* record, answer nothing */
        uint16_t moved_to;              /* NWK_ADDR_RSP answers with this address (0: same) */
} Script;

static Script script;

static void send_incoming(Coord *c, uint16_t nwk, uint8_t src_ep, uint16_t cluster, bool broadcast,
                          const uint8_t *zcl, size_t len) {
        MtFrame f;

        assert(mt_frame_init(&f, MT_AREQ, MT_SUBSYS_AF, 0x81, NULL, 0) == 0);
        mt_frame_append_le16(&f, 0);            /* group */
        mt_frame_append_le16(&f, cluster);
        mt_frame_append_le16(&f, nwk);
        mt_frame_append_u8(&f, src_ep);
        mt_frame_append_u8(&f, 1);              /* dst ep */
        mt_frame_append_u8(&f, broadcast);
        mt_frame_append_u8(&f, 0x4C);           /* lqi */
        mt_frame_append_u8(&f, 0);
        mt_frame_append_le32(&f, 0x00910779);
        mt_frame_append_u8(&f, 0);
        mt_frame_append_u8(&f, (uint8_t) len);
        mt_frame_append(&f, zcl, len);
        mt_frame_append_le16(&f, nwk);          /* trailer: mac src, radius */
        mt_frame_append_u8(&f, 0x1B);
        coord_send(c, &f);
}

static void respond(Coord *c, const MtFrame *f) {
        if (script.defer)
                return;

        if (mt_frame_is(f, 0x24, 0x01)) {       /* AF_DATA_REQUEST */
                uint16_t nwk = mt_le16(f->data), cluster = mt_le16(f->data + 4);
                uint8_t ep = f->data[2], trans = f->data[6], len = f->data[9];
                const uint8_t *zcl = f->data + 10;
                size_t i = script.n_requests++;

                coord_srsp_status(c, f, script.srsp_status);
                if (script.srsp_status != 0 || script.no_confirm)
                        return;
                coord_replyv(c, 0x44, 0x80, 3, i < script.n_confirm ? script.confirm[i] : 0x00, 1, trans);
                if (i < script.n_confirm && script.confirm[i] != 0)
                        return;
                if (script.answer_reads && len >= 5 && zcl[2] == 0x00) {
                        /* read response: attr, status 0, uint8 7 */
                        uint8_t rsp[] = { 0x18, zcl[1], 0x01, zcl[3], zcl[4], 0x00, 0x20, 0x07 };
                        send_incoming(c, nwk, ep, cluster, false, rsp, sizeof(rsp));
                }
                return;
        }
        if (mt_frame_is(f, 0x25, 0x45)) {       /* ZDO_EXT_ROUTE_DISC */
                coord_srsp_status(c, f, 0);
                return;
        }
        if (mt_frame_is(f, 0x25, 0x00)) {       /* ZDO_NWK_ADDR_REQ */
                uint8_t rsp[13] = { 0x00 };

                coord_srsp_status(c, f, 0);
                memcpy(rsp + 1, f->data, 8);
                rsp[9] = (uint8_t) (script.moved_to ? script.moved_to : PLUG_NWK);
                rsp[10] = (uint8_t) ((script.moved_to ? script.moved_to : PLUG_NWK) >> 8);
                coord_reply(c, 0x45, 0x80, rsp, sizeof(rsp));
                return;
        }
        if (mt_frame_is(f, 0x27, 0x41)) {       /* UTIL_ADDRMGR_NWK_ADDR_LOOKUP: unknown here */
                coord_replyv(c, 0x67, 0x41, 8, 0, 0, 0, 0, 0, 0, 0, 0);
                return;
        }
        if (mt_frame_is(f, 0x25, 0x01))         /* ZDO_IEEE_ADDR_REQ: nobody answers over the air */
                coord_srsp_status(c, f, 0);
}

/* The rig with the plug in the device table (an unknown sender would start an address lookup). */
static void af_setup(Rig *r, const HostParams *p) {
        rig_setup(r, p, respond);
        assert(host_device_add(r->host, PLUG_IEEE, PLUG_NWK) == 0);
}

static void reset_script(void) {
        script = (Script) {};
}

static size_t send_read(Rig *r, uint16_t nwk, uint16_t attr, Done *d, uint8_t *ret_tsn) {
        uint8_t tsn = host_next_tsn(r->host);
        uint8_t frame[] = { 0x10, tsn, 0x00, (uint8_t) attr, (uint8_t) (attr >> 8) };

        if (ret_tsn)
                *ret_tsn = tsn;
        return (size_t) host_zcl_request(r->host, nwk, 1, 0x0006, frame, sizeof(frame), on_done, d, NULL);
}

static void test_incoming_msg_view_has_the_trailer(void) {
        /* znp.md §8 #14 (CC1352P-2 capture): cluster 0x0400, src 0x023E, ep 2 -> 1, LQI 15 */
        static const uint8_t d14[] = { 0x00, 0x00, 0x00, 0x04, 0x3E, 0x02, 0x02, 0x01, 0x00, 0x0F, 0x00,
                                       0x79, 0x07, 0x91, 0x00, 0x00, 0x08, 0x08, 0x8D, 0x0A, 0x00, 0x00,
                                       0x21, 0xD6, 0x78, 0x48, 0x60, 0x1B };
        HostAfIncoming in;

        assert(host_af_parse_incoming(d14, sizeof(d14), &in) == 0);
        assert(in.group == 0 && in.cluster == 0x0400 && in.src_addr == 0x023E);
        assert(in.src_endpoint == 2 && in.dst_endpoint == 1 && !in.broadcast && in.lqi == 15);
        assert(in.timestamp == 0x00910779 && in.len == 8 && in.data == d14 + 17);
        assert(in.data[0] == 0x08 && in.data[1] == 0x8D && in.data[2] == 0x0A);
        assert(in.has_trailer && in.mac_src_addr == 0x6048 && in.radius == 0x1B);

        /* Without the trailer (herdsman's table stops after Data). */
        assert(host_af_parse_incoming(d14, sizeof(d14) - 3, &in) == 0);
        assert(!in.has_trailer && in.len == 8);

        /* Shorter than Len says, or than the fixed part. */
        assert(host_af_parse_incoming(d14, sizeof(d14) - 4, &in) == -EBADMSG);
        assert(host_af_parse_incoming(d14, 16, &in) == -EBADMSG);
}

static void test_read_sends_exact_frame_and_completes_on_response(void) {
        Rig r;
        Done d = {};
        uint8_t tsn, wire[64];
        int n;

        reset_script();
        script.answer_reads = true;
        af_setup(&r, NULL);

        assert(send_read(&r, PLUG_NWK, 0x0000, &d, &tsn) == 0);
        assert(d.calls == 0);           /* never from inside the call */
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == 0 && d.has_rsp && d.rsp_cmd == 0x01);
        assert(d.rsp_len == 5 && d.rsp_payload[2] == 0x00 && d.rsp_payload[3] == 0x20 && d.rsp_payload[4] == 0x07);

        /* AF_DATA_REQUEST: dst 0x3F26, ep 1, src ep 1, cluster 6, TransId 1, options 0, radius 30, len 5 */
        ASSERT_FRAME(&r.coord, 0, 0x24, 0x01, 0x26, 0x3F, 0x01, 0x01, 0x06, 0x00, 0x01, 0x00, 0x1E, 0x05,
                     0x10, tsn, 0x00, 0x00, 0x00);
        n = coord_wire(&r.coord, 0, wire, sizeof(wire));
        assert(n == 20 && wire[0] == 0xFE && wire[1] == 15 && wire[2] == 0x24 && wire[3] == 0x01);
        assert(wire[19] == mt_fcs(wire + 1, 18));

        /* The report of the answer was a read response with "disable default response": no DR. */
        run_idle(r.e);
        assert(r.coord.n_rx == 1);

        /* TransId counts on, independent of the TSN. */
        d = (Done) {};
        assert(send_read(&r, PLUG_NWK, 0x0000, &d, NULL) == 0);
        RUN_UNTIL(r.e, d.calls > 0);
        assert(r.coord.rx[1].data[6] == 0x02);
        rig_teardown(&r);
}

static void test_trans_id_wraps_from_255_to_1(void) {
        Rig r;

        reset_script();
        script.answer_reads = true;
        af_setup(&r, NULL);
        for (int i = 0; i < 256; i++) {
                Done d = {};

                assert(send_read(&r, PLUG_NWK, 0x0000, &d, NULL) == 0);
                RUN_UNTIL(r.e, d.calls > 0);
                assert(d.error == 0);
                assert(r.coord.rx[r.coord.n_rx - 1].data[6] == (i < 255 ? i + 1 : 1));
        }
        rig_teardown(&r);
}

static void test_confirms_are_matched_by_trans_id(void) {
        Rig r;
        Done a = {}, b = {};
        MtFrame req_a, req_b;

        reset_script();
        script.defer = true;
        af_setup(&r, NULL);
        assert(send_read(&r, 0x1111, 0x0000, &a, NULL) == 0);
        assert(send_read(&r, 0x2222, 0x0000, &b, NULL) == 0);
        /* Two devices: both go out; answer each SRSP. */
        RUN_UNTIL(r.e, r.coord.n_rx >= 1);
        req_a = r.coord.rx[0];
        coord_srsp_status(&r.coord, &req_a, 0);
        RUN_UNTIL(r.e, r.coord.n_rx >= 2);
        req_b = r.coord.rx[1];
        coord_srsp_status(&r.coord, &req_b, 0);
        run_idle(r.e);
        assert(req_a.data[6] != req_b.data[6]);

        /* A confirm for an unknown TransId changes nothing; b's confirm fails b only. */
        coord_replyv(&r.coord, 0x44, 0x80, 3, 0x00, 1, 0x77);
        coord_replyv(&r.coord, 0x44, 0x80, 3, 0x02, 1, req_b.data[6]);
        RUN_UNTIL(r.e, b.calls > 0);
        assert(b.error == -EIO && b.af_status == 0x02);
        assert(a.calls == 0);
        rig_teardown(&r);
}

/* One retry status: the frames after the first AF_DATA_REQUEST, as herdsman sends them. */
static void run_failures(uint8_t status, unsigned failures, Done *d, Rig *r) {
        reset_script();
        for (unsigned i = 0; i < failures; i++)
                script.confirm[i] = status;
        script.n_confirm = failures;
        script.answer_reads = true;
        af_setup(r, NULL);
        assert(send_read(r, PLUG_NWK, 0x0000, d, NULL) == 0);
        RUN_UNTIL(r->e, d->calls > 0);
}

static void test_transient_statuses_are_resent_after_a_pause(void) {
        static const uint8_t statuses[] = { 0xE1, 0x11, 0x1A };

        for (size_t k = 0; k < ELEMENTSOF(statuses); k++) {
                Rig r;
                Done d = {};

                run_failures(statuses[k], 3, &d, &r);
                assert(d.error == 0 && d.has_rsp);
                /* four AF_DATA_REQUESTs, nothing else, each with a fresh TransId */
                assert(r.coord.n_rx == 4 && coord_count(&r.coord, 0x24, 0x01, 0) == 4);
                for (size_t i = 1; i < 4; i++)
                        assert(r.coord.rx[i].data[6] == r.coord.rx[i - 1].data[6] + 1);
                rig_teardown(&r);
        }
}

static void test_routing_statuses_are_resent_with_a_route_discovery(void) {
        static const uint8_t statuses[] = { 0xCD, 0xE9, 0xF0, 0xB7 };

        for (size_t k = 0; k < ELEMENTSOF(statuses); k++) {
                Rig r;
                Done d = {};

                run_failures(statuses[k], 4, &d, &r);
                assert(d.error == 0 && d.has_rsp);
                /* 1st failure: resend; 2nd: route discovery, resend; then resends; the 5th succeeds. */
                assert(mt_frame_is(&r.coord.rx[0], 0x24, 0x01));
                assert(mt_frame_is(&r.coord.rx[1], 0x24, 0x01));
                ASSERT_FRAME(&r.coord, 2, 0x25, 0x45, 0x26, 0x3F, 0x00, 0x1E);
                for (size_t i = 3; i < 6; i++)
                        assert(mt_frame_is(&r.coord.rx[i], 0x24, 0x01));
                assert(r.coord.n_rx == 6);
                rig_teardown(&r);
        }
}

static void test_fifth_failure_checks_the_address_then_is_a_clear_error(void) {
        static const struct {
                uint8_t status;
                int error;
        } cases[] = {
                { 0xE9, -EHOSTUNREACH }, { 0xF0, -EHOSTUNREACH }, { 0xB7, -EHOSTUNREACH }, { 0xCD, -ENETUNREACH },
        };

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                Rig r;
                Done d = {};
                HostStats st;

                run_failures(cases[k].status, 5, &d, &r);
                assert(d.error == cases[k].error && d.af_status == cases[k].status && !d.has_rsp);
                assert(coord_count(&r.coord, 0x24, 0x01, 0) == 5);
                /* the address is asked once (it did not change), then the error stands */
                ASSERT_FRAME(&r.coord, r.coord.n_rx - 1, 0x25, 0x00, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04,
                             0x00, 0x00);
                host_get_stats(r.host, &st);
                assert(st.af_sent == 1 && st.af_failed == 1);
                rig_teardown(&r);
        }
        {
                Rig r;
                Done d = {};

                run_failures(0xE9, 5, &d, &r);
                assert(strcmp(host_af_status_to_string(d.af_status), "MAC no ack") == 0);
                rig_teardown(&r);
        }
        {
                /* Busy to the end: no address check. */
                Rig r;
                Done d = {};

                run_failures(0xE1, 5, &d, &r);
                assert(d.error == -EBUSY && d.af_status == 0xE1);
                assert(r.coord.n_rx == 5);
                rig_teardown(&r);
        }
}

static void test_other_statuses_fail_at_once(void) {
        Rig r;
        Done d = {};

        run_failures(0xC2, 1, &d, &r);
        assert(d.error == -EIO && d.af_status == 0xC2);
        assert(r.coord.n_rx == 1);
        rig_teardown(&r);
}

typedef struct Moved {
        int calls;
        uint64_t ieee;
        uint16_t old_nwk, nwk;
} Moved;

static void on_address_changed(Host *h, uint64_t ieee, uint16_t old_nwk, uint16_t nwk, void *userdata) {
        Moved *m = userdata;

        m->calls++;
        m->ieee = ieee;
        m->old_nwk = old_nwk;
        m->nwk = nwk;
}

static void test_a_changed_address_is_learned_and_followed(void) {
        Rig r;
        Done d = {};
        Moved m = {};
        uint16_t nwk = 0;

        reset_script();
        for (size_t i = 0; i < 5; i++)
                script.confirm[i] = 0xCD;
        script.n_confirm = 5;
        script.answer_reads = true;
        script.moved_to = 0x4455;
        af_setup(&r, NULL);
        host_set_callbacks(r.host, &(HostCallbacks) { .address_changed = on_address_changed }, &m);
        assert(send_read(&r, PLUG_NWK, 0x0000, &d, NULL) == 0);
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == 0);
        assert(m.calls == 1 && m.ieee == PLUG_IEEE && m.old_nwk == PLUG_NWK && m.nwk == 0x4455);
        assert(host_device_lookup_ieee(r.host, PLUG_IEEE, &nwk) == 0 && nwk == 0x4455);
        /* five sends to the old address (one route discovery among them), the address asked, a route
         * discovery to the new one, and the request goes there */
        assert(coord_count(&r.coord, 0x24, 0x01, 0) == 6 && r.coord.n_rx == 9);
        assert(mt_frame_is(&r.coord.rx[6], 0x25, 0x00));
        ASSERT_FRAME(&r.coord, 7, 0x25, 0x45, 0x55, 0x44, 0x00, 0x1E);
        assert(mt_frame_is(&r.coord.rx[8], 0x24, 0x01) && mt_le16(r.coord.rx[8].data) == 0x4455);
        rig_teardown(&r);
}

static void test_late_answer_ends_the_retries(void) {
        HostParams p = rig_params;
        Rig r;
        Done d = {};
        uint8_t tsn;
        MtFrame req;

        p.retry_delay_usec = 30000 * MS;        /* still waiting to resend when the answer comes */
        reset_script();
        script.defer = true;
        af_setup(&r, &p);
        assert(send_read(&r, PLUG_NWK, 0x0000, &d, &tsn) == 0);
        RUN_UNTIL(r.e, r.coord.n_rx >= 1);
        req = r.coord.rx[0];
        coord_srsp_status(&r.coord, &req, 0);
        coord_replyv(&r.coord, 0x44, 0x80, 3, 0xE1, 1, req.data[6]);
        run_idle(r.e);
        assert(d.calls == 0);
        {
                uint8_t rsp[] = { 0x18, tsn, 0x01, 0x00, 0x00, 0x00, 0x10, 0x01 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, rsp, sizeof(rsp));
        }
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == 0 && d.has_rsp);
        run_idle(r.e);
        assert(r.coord.n_rx == 1);
        rig_teardown(&r);
}

static void test_refusing_srsp_fails_with_eio(void) {
        Rig r;
        Done d = {};

        reset_script();
        script.srsp_status = 0x02;
        af_setup(&r, NULL);
        assert(send_read(&r, PLUG_NWK, 0x0000, &d, NULL) == 0);
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == -EIO && d.af_status == 0x02);
        assert(r.coord.n_rx == 1);
        rig_teardown(&r);
}

static void test_missing_confirm_and_missing_response_time_out(void) {
        HostParams p = rig_params;
        Rig r;
        Done d = {};

        p.confirm_timeout_usec = 20 * MS;
        p.response_timeout_usec = 20 * MS;

        reset_script();
        script.no_confirm = true;
        af_setup(&r, &p);
        assert(send_read(&r, PLUG_NWK, 0x0000, &d, NULL) == 0);
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == -ETIMEDOUT && !d.has_rsp);
        rig_teardown(&r);

        /* Confirmed, but the device never answers the read: route discovery, the same frame once
         * more, then the timeout. */
        d = (Done) {};
        reset_script();
        af_setup(&r, &p);
        assert(send_read(&r, PLUG_NWK, 0x0000, &d, NULL) == 0);
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == -ETIMEDOUT && !d.has_rsp);
        assert(r.coord.n_rx == 3);
        assert(mt_frame_is(&r.coord.rx[0], 0x24, 0x01));
        ASSERT_FRAME(&r.coord, 1, 0x25, 0x45, 0x26, 0x3F, 0x00, 0x1E);
        assert(mt_frame_is(&r.coord.rx[2], 0x24, 0x01));
        assert(memcmp(r.coord.rx[0].data + 10, r.coord.rx[2].data + 10, 5) == 0);
        assert(r.coord.rx[2].data[6] == r.coord.rx[0].data[6] + 1);
        rig_teardown(&r);

        /* The answer to the second send completes it. */
        d = (Done) {};
        reset_script();
        af_setup(&r, &p);
        assert(send_read(&r, PLUG_NWK, 0x0000, &d, NULL) == 0);
        RUN_UNTIL(r.e, r.coord.n_rx >= 2);
        script.answer_reads = true;
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == 0 && d.has_rsp);
        rig_teardown(&r);
}

static void test_one_transaction_per_device_at_a_time(void) {
        Rig r;
        Done a = {}, b = {}, c = {};
        uint8_t tsn_a;
        MtFrame req;

        reset_script();
        script.defer = true;
        af_setup(&r, NULL);
        assert(send_read(&r, PLUG_NWK, 0x0000, &a, &tsn_a) == 0);
        assert(send_read(&r, PLUG_NWK, 0x0001, &b, NULL) == 0);
        assert(send_read(&r, 0x1234, 0x0000, &c, NULL) == 0);   /* another device: not held back */
        RUN_UNTIL(r.e, r.coord.n_rx >= 1);
        req = r.coord.rx[0];
        coord_srsp_status(&r.coord, &req, 0);
        RUN_UNTIL(r.e, r.coord.n_rx >= 2);
        coord_srsp_status(&r.coord, &r.coord.rx[1], 0);
        run_idle(r.e);
        assert(r.coord.n_rx == 2);
        assert(mt_le16(r.coord.rx[0].data) == PLUG_NWK && mt_le16(r.coord.rx[1].data) == 0x1234);

        /* a: confirm, then its response; only then b goes out. */
        coord_replyv(&r.coord, 0x44, 0x80, 3, 0x00, 1, req.data[6]);
        run_idle(r.e);
        assert(r.coord.n_rx == 2);
        {
                uint8_t rsp[] = { 0x18, tsn_a, 0x01, 0x00, 0x00, 0x00, 0x10, 0x01 };
                uint8_t wrong_tsn[] = { 0x18, (uint8_t) (tsn_a + 100), 0x01, 0x00, 0x00, 0x00, 0x10, 0x01 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, wrong_tsn, sizeof(wrong_tsn));
                run_idle(r.e);
                assert(a.calls == 0 && r.coord.n_rx == 2);
                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, rsp, sizeof(rsp));
        }
        RUN_UNTIL(r.e, a.calls > 0 && r.coord.n_rx >= 3);
        assert(a.error == 0);
        assert(mt_le16(r.coord.rx[2].data) == PLUG_NWK && r.coord.rx[2].data[13] == 0x01);     /* attr 0x0001 */
        assert(b.calls == 0);
        rig_teardown(&r);
}

static void test_queued_requests_follow_a_device_that_rejoins(void) {
        Rig r;
        Done a = {}, b = {};
        MtFrame req;

        reset_script();
        script.defer = true;
        af_setup(&r, NULL);
        assert(send_read(&r, PLUG_NWK, 0x0000, &a, NULL) == 0);
        assert(send_read(&r, PLUG_NWK, 0x0001, &b, NULL) == 0);
        RUN_UNTIL(r.e, r.coord.n_rx >= 1);
        req = r.coord.rx[0];
        /* The plug announces itself at a new address while b waits behind a. */
        coord_replyv(&r.coord, 0x45, 0xC1, 13, 0x01, 0x52, 0x01, 0x52, 0xBD, 0xB3, 0x77, 0x3C, 0xDF, 0x8C, 0xCF, 0x04, 0x8E);
        run_idle(r.e);
        coord_srsp_status(&r.coord, &req, 0);
        coord_replyv(&r.coord, 0x44, 0x80, 3, 0x02, 1, req.data[6]);   /* a fails for good */
        RUN_UNTIL(r.e, a.calls > 0 && r.coord.n_rx >= 2);
        assert(a.error == -EIO);
        assert(mt_frame_is(&r.coord.rx[1], 0x24, 0x01) && mt_le16(r.coord.rx[1].data) == 0x5201);
        rig_teardown(&r);
}

static void test_queue_per_device_is_bounded(void) {
        Rig r;
        Done d[HOST_DEVICE_QUEUE_MAX + 1] = {};
        uint8_t big[HOST_AF_DATA_MAX + 1] = { 0x10, 0x01, 0x00 };

        reset_script();
        script.defer = true;
        af_setup(&r, NULL);
        for (size_t i = 0; i < HOST_DEVICE_QUEUE_MAX; i++)
                assert(send_read(&r, PLUG_NWK, 0x0000, &d[i], NULL) == 0);
        assert((int) send_read(&r, PLUG_NWK, 0x0000, &d[HOST_DEVICE_QUEUE_MAX], NULL) == -ENOBUFS);
        assert((int) send_read(&r, 0x0001, 0x0000, &d[HOST_DEVICE_QUEUE_MAX], NULL) == 0);
        assert(host_zcl_request(r.host, 1, 1, 6, big, sizeof(big), on_done, NULL, NULL) == -EMSGSIZE);
        assert(host_zcl_request(r.host, 1, 1, 6, big, 2, on_done, NULL, NULL) == -EBADMSG);
        rig_teardown(&r);
}

static void test_concurrency_is_capped(void) {
        HostParams p = rig_params;
        Rig r;
        Done d[4] = {};

        p.concurrency = 2;
        reset_script();
        script.no_confirm = true;
        af_setup(&r, &p);
        for (size_t i = 0; i < 4; i++)
                assert(send_read(&r, (uint16_t) (0x100 + i), 0x0000, &d[i], NULL) == 0);
        RUN_UNTIL(r.e, r.coord.n_rx >= 2);
        run_idle(r.e);
        assert(r.coord.n_rx == 2);
        /* One completes: the third starts. */
        coord_replyv(&r.coord, 0x44, 0x80, 3, 0x02, 1, r.coord.rx[0].data[6]);
        RUN_UNTIL(r.e, r.coord.n_rx >= 3);
        run_idle(r.e);
        assert(r.coord.n_rx == 3 && mt_le16(r.coord.rx[2].data) == 0x102);
        rig_teardown(&r);
}

typedef struct Seen {
        int calls;
        HostZclMessage last;
        uint8_t frame[64];
        uint64_t ieee;
} Seen;

static void on_zcl(Host *h, const HostZclMessage *m, void *userdata) {
        Seen *s = userdata;

        s->calls++;
        s->last = *m;
        memcpy(s->frame, m->frame, MIN(m->frame_len, sizeof(s->frame)));
        s->ieee = m->ieee;
}

static void test_default_responses_where_zcl_requires_them(void) {
        Rig r;
        Seen s = {};
        size_t n;

        reset_script();
        af_setup(&r, NULL);
        host_set_callbacks(r.host, &(HostCallbacks) { .zcl_received = on_zcl }, &s);

        /* A report without "disable default response" (FC 0x08, server to client): Default Response
         * 10 tsn 0B 0A 00 (client to server, no default response). */
        {
                uint8_t report[] = { 0x08, 0x42, 0x0A, 0x00, 0x00, 0x10, 0x01 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, report, sizeof(report));
        }
        RUN_UNTIL(r.e, r.coord.n_rx >= 1);
        assert(s.calls == 1 && s.ieee == PLUG_IEEE && s.last.cluster == 0x0006 && s.last.lqi == 0x4C);
        assert(s.last.header.command == 0x0A && s.last.payload_len == 4);
        ASSERT_FRAME(&r.coord, 0, 0x24, 0x01, 0x26, 0x3F, 0x01, 0x01, 0x06, 0x00, r.coord.rx[0].data[6], 0x00, 0x1E,
                     0x05, 0x10, 0x42, 0x0B, 0x0A, 0x00);

        /* The same TSN again (a duplicate): not answered twice. */
        {
                uint8_t report[] = { 0x08, 0x42, 0x0A, 0x00, 0x00, 0x10, 0x01 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, report, sizeof(report));
        }
        RUN_UNTIL(r.e, s.calls == 2);
        run_idle(r.e);
        assert(r.coord.n_rx == 1);

        /* Not answered: "disable default response" set, a Default Response, a broadcast, a Read
         * Attributes from the device (it has its own response, the owner's business). */
        {
                uint8_t ddr[] = { 0x18, 0x43, 0x0A, 0x00, 0x00, 0x10, 0x01 };
                uint8_t dr[] = { 0x08, 0x44, 0x0B, 0x01, 0x00 };
                uint8_t bc[] = { 0x08, 0x45, 0x0A, 0x00, 0x00, 0x10, 0x01 };
                uint8_t rd[] = { 0x00, 0x46, 0x00, 0x00, 0x00 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, ddr, sizeof(ddr));
                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, dr, sizeof(dr));
                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, true, bc, sizeof(bc));
                send_incoming(&r.coord, PLUG_NWK, 1, 0x000A, false, rd, sizeof(rd));
        }
        RUN_UNTIL(r.e, s.calls == 6);
        run_idle(r.e);
        assert(r.coord.n_rx == 1);

        /* A Read Attributes Response without the bit is answered too (ZCL: no other command answers it;
         * zigbee-herdsman does the same). */
        {
                uint8_t rr[] = { 0x08, 0x49, 0x01, 0x00, 0x00, 0x86 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, rr, sizeof(rr));
        }
        RUN_UNTIL(r.e, r.coord.n_rx >= 2);
        n = r.coord.n_rx - 1;
        ASSERT_FRAME(&r.coord, n, 0x24, 0x01, 0x26, 0x3F, 0x01, 0x01, 0x06, 0x00, r.coord.rx[n].data[6], 0x00, 0x1E,
                     0x05, 0x10, 0x49, 0x0B, 0x01, 0x00);

        /* Manufacturer-specific report from 0xFCC0 (FC 0x0C, code 0x115F): answered with the code,
         * server->client becomes client->server. A cluster-specific command (FC 0x09) too. */
        {
                uint8_t lumi[] = { 0x0C, 0x5F, 0x11, 0x47, 0x0A, 0x07, 0x02, 0x10, 0x01 };
                uint8_t specific[] = { 0x09, 0x48, 0x02 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0xFCC0, false, lumi, sizeof(lumi));
                RUN_UNTIL(r.e, r.coord.n_rx >= 3);
                n = r.coord.n_rx - 1;
                ASSERT_FRAME(&r.coord, n, 0x24, 0x01, 0x26, 0x3F, 0x01, 0x01, 0xC0, 0xFC, r.coord.rx[n].data[6], 0x00,
                             0x1E, 0x07, 0x14, 0x5F, 0x11, 0x47, 0x0B, 0x0A, 0x00);
                send_incoming(&r.coord, PLUG_NWK, 21, 0x000C, false, specific, sizeof(specific));
                RUN_UNTIL(r.e, r.coord.n_rx >= 4);
                n = r.coord.n_rx - 1;
                ASSERT_FRAME(&r.coord, n, 0x24, 0x01, 0x26, 0x3F, 0x15, 0x01, 0x0C, 0x00, r.coord.rx[n].data[6], 0x00,
                             0x1E, 0x05, 0x10, 0x48, 0x0B, 0x02, 0x00);
        }
        rig_teardown(&r);
}

static void test_on_command_waits_for_the_default_response(void) {
        Rig r;
        Done d = {};
        uint8_t tsn;

        reset_script();
        af_setup(&r, NULL);
        tsn = host_next_tsn(r.host);
        {
                uint8_t on[] = { 0x01, tsn, 0x01 };

                assert(host_zcl_request(r.host, PLUG_NWK, 1, 0x0006, on, sizeof(on), on_done, &d, NULL) == 0);
        }
        RUN_UNTIL(r.e, r.coord.n_rx >= 1);
        run_idle(r.e);
        assert(d.calls == 0);           /* confirmed, waiting for the Default Response */
        {
                uint8_t dr[] = { 0x18, tsn, 0x0B, 0x01, 0x00 };

                send_incoming(&r.coord, PLUG_NWK, 1, 0x0006, false, dr, sizeof(dr));
        }
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == 0 && d.has_rsp && d.rsp_cmd == 0x0B && d.rsp_payload[0] == 0x01 && d.rsp_payload[1] == 0);

        /* "disable default response" set: done on the confirm. */
        d = (Done) {};
        tsn = host_next_tsn(r.host);
        {
                uint8_t off[] = { 0x11, tsn, 0x00 };

                assert(host_zcl_request(r.host, PLUG_NWK, 1, 0x0006, off, sizeof(off), on_done, &d, NULL) == 0);
        }
        RUN_UNTIL(r.e, d.calls > 0);
        assert(d.error == 0 && !d.has_rsp);
        rig_teardown(&r);
}

static void test_cancelled_request_is_silent(void) {
        Rig r;
        Done a = {}, b = {};
        uint32_t id_b = 0;
        uint8_t tsn = 0x33;
        uint8_t frame[] = { 0x10, tsn, 0x00, 0x00, 0x00 };

        reset_script();
        script.answer_reads = true;
        af_setup(&r, NULL);
        assert(send_read(&r, PLUG_NWK, 0x0000, &a, NULL) == 0);
        assert(host_zcl_request(r.host, PLUG_NWK, 1, 6, frame, sizeof(frame), on_done, &b, &id_b) == 0);
        host_zcl_cancel(r.host, id_b);
        RUN_UNTIL(r.e, a.calls > 0);
        run_idle(r.e);
        assert(b.calls == 0 && coord_count(&r.coord, 0x24, 0x01, 0) == 1);
        rig_teardown(&r);
}

int main(void) {
        test_incoming_msg_view_has_the_trailer();
        test_read_sends_exact_frame_and_completes_on_response();
        test_trans_id_wraps_from_255_to_1();
        test_confirms_are_matched_by_trans_id();
        test_transient_statuses_are_resent_after_a_pause();
        test_routing_statuses_are_resent_with_a_route_discovery();
        test_fifth_failure_checks_the_address_then_is_a_clear_error();
        test_other_statuses_fail_at_once();
        test_a_changed_address_is_learned_and_followed();
        test_late_answer_ends_the_retries();
        test_refusing_srsp_fails_with_eio();
        test_missing_confirm_and_missing_response_time_out();
        test_one_transaction_per_device_at_a_time();
        test_queued_requests_follow_a_device_that_rejoins();
        test_queue_per_device_is_bounded();
        test_concurrency_is_capped();
        test_default_responses_where_zcl_requires_them();
        test_on_command_waits_for_the_default_response();
        test_cancelled_request_is_silent();
        return 0;
}
