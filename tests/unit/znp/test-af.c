/*
 * AF data path against a fake coordinator: confirms matched by TransId, per-device order,
 * herdsman-style retries, incoming messages from captured frames.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fake-peer.h"
#include "util/macro.h"
#include "znp/af.h"

#define MS 1000ULL

/* Short retry delays; the confirm timeout stays herdsman's 10 s except where a test wants it. */
static const AfParams fast = {
        .retry_delay_usec = 1 * MS,
        .route_discovery_delay_usec = 1 * MS,
};

typedef struct Sent {
        bool done;
        int error;
        uint8_t status;
        int order;
} Sent;

static int completions;

static void on_sent(Af *af, int error, uint8_t status, void *userdata) {
        Sent *s = userdata;

        assert(!s->done);
        s->done = true;
        s->error = error;
        s->status = status;
        s->order = ++completions;
}

/* The stick: SRSP 0 to every AF_DATA_REQUEST; confirms are sent by the test, or automatically
 * with the statuses in `script` (then success). */
static uint8_t script[8];
static size_t script_len, script_pos;
static bool auto_confirm;

static void respond(FakePeer *p, const MtFrame *f) {
        if (mt_frame_is(f, 0x21, 0x01))
                return fake_peer_reply(p, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        if (mt_frame_is(f, 0x25, 0x45))
                return fake_peer_reply(p, 0x65, 0x45, (const uint8_t[]) { 0x00 }, 1);
        if (!mt_frame_is(f, 0x24, 0x01))
                return;
        fake_peer_reply(p, 0x64, 0x01, (const uint8_t[]) { 0x00 }, 1);
        if (auto_confirm) {
                uint8_t st = script_pos < script_len ? script[script_pos++] : 0;
                fake_peer_reply(p, 0x44, 0x80, (const uint8_t[]) { st, f->data[3], f->data[6] }, 3);
        }
}

typedef struct Setup {
        sd_event *e;
        FakePeer peer;
        Znp *znp;
        Af *af;
} Setup;

static void on_ready(Znp *znp, int error, void *userdata) {
        *(int *) userdata = error == 0 ? 1 : error;
}

static void setup(Setup *s) {
        Transport *t;
        int ready = 0;

        assert(sd_event_new(&s->e) >= 0);
        fake_peer_init(&s->peer, s->e, &t);
        s->peer.respond = respond;
        assert(znp_new(&s->znp, s->e, t) == 0);
        assert(znp_start(s->znp, NULL, on_ready, &ready) == 0);
        RUN_UNTIL(s->e, ready != 0);
        assert(ready == 1);
        assert(af_new(&s->af, s->znp, &fast) == 0);
        s->peer.n_rx = 0;
        script_len = script_pos = 0;
        auto_confirm = false;
        completions = 0;
}

static void teardown(Setup *s) {
        af_free(s->af);
        znp_free(s->znp);
        fake_peer_close(&s->peer);
        sd_event_unref(s->e);
}

static const uint8_t zcl_on[] = { 0x01, 0x05, 0x01 };          /* cluster-specific, seq 5, On */

static AfRequest req_to(uint16_t dst) {
        return (AfRequest) {
                .dst_addr = dst, .dst_endpoint = 1, .src_endpoint = 1, .cluster = 0x0006,
                .data = zcl_on, .len = sizeof(zcl_on),
        };
}

static size_t count_rx(Setup *s, uint8_t cmd0, uint8_t cmd1) {
        size_t n = 0;

        for (size_t i = 0; i < s->peer.n_rx; i++)
                if (mt_frame_is(&s->peer.rx[i], cmd0, cmd1))
                        n++;
        return n;
}

static void test_request_layout_and_confirm_by_trans_id(void) {
        Setup s;
        Sent a = {}, b = {};
        AfRequest r;

        setup(&s);
        assert(af_send(s.af, (r = req_to(0x3F26), &r), on_sent, &a, NULL) == 0);
        assert(af_send(s.af, (r = req_to(0x6BB1), &r), on_sent, &b, NULL) == 0);
        assert(!a.done && !b.done);
        RUN_UNTIL(s.e, s.peer.n_rx == 2);

        const MtFrame *f = &s.peer.rx[0];
        /* DstAddr, DstEp, SrcEp, Cluster, TransId, Options, Radius, Len, Data */
        assert(f->len == 10 + 3);
        assert(mt_le16(f->data) == 0x3F26 && f->data[2] == 1 && f->data[3] == 1);
        assert(mt_le16(f->data + 4) == 0x0006);
        assert(f->data[7] == 0 && f->data[8] == 30 && f->data[9] == 3);
        assert(memcmp(f->data + 10, zcl_on, 3) == 0);
        uint8_t tid_a = s.peer.rx[0].data[6], tid_b = s.peer.rx[1].data[6];
        assert(tid_a != tid_b && tid_a != 0 && tid_b != 0);

        /* confirms out of order, plus one nobody asked for */
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, (uint8_t) (tid_b + 7) }, 3);
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, tid_b }, 3);
        RUN_UNTIL(s.e, b.done);
        assert(!a.done && b.error == 0);
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, tid_a }, 3);
        RUN_UNTIL(s.e, a.done);
        assert(a.error == 0 && a.status == 0);
        teardown(&s);
}

static void test_same_device_is_served_in_order(void) {
        Setup s;
        Sent a = {}, b = {}, c = {};
        AfRequest r;

        setup(&s);
        assert(af_send(s.af, (r = req_to(0x1111), &r), on_sent, &a, NULL) == 0);
        assert(af_send(s.af, (r = req_to(0x1111), &r), on_sent, &b, NULL) == 0);
        assert(af_send(s.af, (r = req_to(0x2222), &r), on_sent, &c, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 2);
        run_until_idle(s.e);
        assert(s.peer.n_rx == 2);                       /* the second to 0x1111 waits */
        assert(mt_le16(s.peer.rx[0].data) == 0x1111 && mt_le16(s.peer.rx[1].data) == 0x2222);
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, s.peer.rx[0].data[6] }, 3);
        RUN_UNTIL(s.e, a.done && s.peer.n_rx == 3);
        assert(mt_le16(s.peer.rx[2].data) == 0x1111);
        auto_confirm = true;
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, s.peer.rx[1].data[6] }, 3);
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, s.peer.rx[2].data[6] }, 3);
        RUN_UNTIL(s.e, b.done && c.done);
        assert(a.order < b.order);
        teardown(&s);
}

static void test_no_ack_is_retried_with_a_route_discovery(void) {
        Setup s;
        Sent a = {};
        AfRequest r;

        setup(&s);
        auto_confirm = true;
        script[0] = AF_STATUS_MAC_NO_ACK;
        script[1] = AF_STATUS_NWK_NO_ROUTE;
        script[2] = AF_STATUS_MAC_CHANNEL_ACCESS_FAILURE;
        script_len = 3;
        assert(af_send(s.af, (r = req_to(0x4242), &r), on_sent, &a, NULL) == 0);
        RUN_UNTIL(s.e, a.done);
        assert(a.error == 0);
        assert(count_rx(&s, 0x24, 0x01) == 4);
        assert(count_rx(&s, 0x25, 0x45) == 1);
        /* the route discovery targets the device and comes before the third attempt */
        size_t i_disc = 0, n_req = 0;
        for (size_t i = 0; i < s.peer.n_rx; i++) {
                if (mt_frame_is(&s.peer.rx[i], 0x25, 0x45)) {
                        i_disc = i;
                        assert(mt_le16(s.peer.rx[i].data) == 0x4242 && s.peer.rx[i].data[3] == 30);
                        assert(n_req == 2);
                }
                if (mt_frame_is(&s.peer.rx[i], 0x24, 0x01))
                        n_req++;
        }
        assert(i_disc > 0);
        teardown(&s);
}

static void test_gives_up_after_five_attempts_with_a_clear_error(void) {
        Setup s;
        Sent a = {}, b = {};
        AfRequest r;

        setup(&s);
        auto_confirm = true;
        for (size_t i = 0; i < 5; i++)
                script[i] = AF_STATUS_NWK_NO_ROUTE;
        script_len = 5;
        assert(af_send(s.af, (r = req_to(0x0101), &r), on_sent, &a, NULL) == 0);
        RUN_UNTIL(s.e, a.done);
        assert(a.error == -ENETUNREACH && a.status == AF_STATUS_NWK_NO_ROUTE);
        assert(count_rx(&s, 0x24, 0x01) == AF_ATTEMPTS_MAX);

        /* a status nobody retries fails at once */
        script[script_len++] = 0x02;
        s.peer.n_rx = 0;
        assert(af_send(s.af, (r = req_to(0x0101), &r), on_sent, &b, NULL) == 0);
        RUN_UNTIL(s.e, b.done);
        assert(b.error == -EIO && b.status == 0x02);
        assert(count_rx(&s, 0x24, 0x01) == 1);
        teardown(&s);
}

static void test_missing_confirm_times_out(void) {
        Setup s;
        Sent a = {};
        AfRequest r;

        setup(&s);
        af_free(s.af);
        assert(af_new(&s.af, s.znp, &(AfParams) { .confirm_timeout_usec = 50 * MS }) == 0);
        assert(af_send(s.af, (r = req_to(0x0202), &r), on_sent, &a, NULL) == 0);
        RUN_UNTIL(s.e, a.done);
        assert(a.error == -ETIMEDOUT);
        teardown(&s);
}

static void test_bad_requests_are_refused(void) {
        Setup s;
        AfRequest r = req_to(0xFFFD);
        uint8_t big[AF_DATA_MAX + 1] = {};
        Sent sent[AF_PENDING_MAX] = {};

        setup(&s);
        assert(af_send(s.af, &r, on_sent, NULL, NULL) == -EINVAL);
        r = req_to(0x1234);
        r.data = big;
        r.len = sizeof(big);
        assert(af_send(s.af, &r, on_sent, NULL, NULL) == -EINVAL);
        r.len = AF_DATA_MAX;
        for (size_t i = 0; i < AF_PENDING_MAX; i++)
                assert(af_send(s.af, &r, on_sent, &sent[i], NULL) == 0);
        assert(af_send(s.af, &r, on_sent, NULL, NULL) == -ENOBUFS);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        assert(s.peer.rx[0].len == 250);                /* the largest AF_DATA_REQUEST fits a frame */
        teardown(&s);                                   /* pending sends dropped without callbacks */
}

typedef struct Got {
        int n;
        AfMessage m;
        uint8_t data[256];
} Got;

static void on_incoming(Af *af, const AfMessage *m, void *userdata) {
        Got *g = userdata;

        g->n++;
        g->m = *m;
        memcpy(g->data, m->data, m->len);
        g->m.data = g->data;
}

static void test_incoming_messages_from_captured_frames(void) {
        Setup s;
        Got g = {};
        /* znp.md 8.1 row 14 (CC1352P-2) and row 23 */
        static const uint8_t row14[] = { 0x00, 0x00, 0x00, 0x04, 0x3E, 0x02, 0x02, 0x01, 0x00, 0x0F, 0x00, 0x79, 0x07,
                                         0x91, 0x00, 0x00, 0x08, 0x08, 0x8D, 0x0A, 0x00, 0x00, 0x21, 0xD6, 0x78,
                                         0x48, 0x60, 0x1B };
        static const uint8_t row23[] = { 0x00, 0x00, 0x08, 0x00, 0xD4, 0x17, 0x01, 0x01, 0x00, 0x37, 0x00, 0x99, 0xB2,
                                         0xDB, 0x00, 0x00, 0x07, 0x08, 0x7A, 0x0A, 0x00, 0x00, 0x20, 0xF3, 0xD4,
                                         0x17, 0x1D };

        setup(&s);
        af_set_incoming_handler(s.af, on_incoming, &g);
        fake_peer_reply(&s.peer, 0x44, 0x81, row14, sizeof(row14));
        RUN_UNTIL(s.e, g.n == 1);
        assert(g.m.group == 0 && g.m.cluster == 0x0400 && g.m.src_addr == 0x023E);
        assert(g.m.src_endpoint == 2 && g.m.dst_endpoint == 1 && !g.m.was_broadcast);
        assert(g.m.link_quality == 15 && !g.m.secure && g.m.timestamp == 0x00910779 && g.m.trans_seq == 0);
        assert(g.m.len == 8 && g.data[0] == 0x08 && g.data[1] == 0x8D && g.data[7] == 0x78);

        fake_peer_reply(&s.peer, 0x44, 0x81, row23, sizeof(row23));
        RUN_UNTIL(s.e, g.n == 2);
        assert(g.m.cluster == 0x0008 && g.m.src_addr == 0x17D4 && g.m.link_quality == 0x37);
        assert(g.m.len == 7 && g.data[6] == 0xF3);

        /* Len claims more than the frame holds: dropped */
        uint8_t bad[sizeof(row23)];
        memcpy(bad, row23, sizeof(bad));
        bad[16] = 0xF0;
        fake_peer_reply(&s.peer, 0x44, 0x81, bad, sizeof(bad));
        fake_peer_reply(&s.peer, 0x44, 0x81, row23, 10);
        fake_peer_reply(&s.peer, 0x44, 0x81, row14, sizeof(row14));
        RUN_UNTIL(s.e, g.n == 3);
        assert(g.m.cluster == 0x0400);
        teardown(&s);
}

static int free_calls;
static void free_af_on_sent(Af *af, int error, uint8_t status, void *userdata) {
        Setup *s = userdata;

        free_calls++;
        assert(error < 0);
        s->af = af_free(af);
}

static void test_af_can_be_freed_from_its_callback_when_the_link_dies(void) {
        Setup s;
        AfRequest r;

        setup(&s);
        free_calls = 0;
        for (int i = 0; i < 4; i++)
                assert(af_send(s.af, (r = req_to((uint16_t) (0x0100 + i)), &r), free_af_on_sent, &s, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx >= 1);
        fake_peer_close(&s.peer);
        RUN_UNTIL(s.e, free_calls > 0);
        run_until_idle(s.e);
        assert(free_calls == 1);
        assert(s.af == NULL);
        teardown(&s);
}

int main(void) {
        test_request_layout_and_confirm_by_trans_id();
        test_same_device_is_served_in_order();
        test_no_ack_is_retried_with_a_route_discovery();
        test_gives_up_after_five_attempts_with_a_clear_error();
        test_missing_confirm_times_out();
        test_bad_requests_are_refused();
        test_incoming_messages_from_captured_frames();
        test_af_can_be_freed_from_its_callback_when_the_link_dies();
        return 0;
}
