/*
 * The MT request engine against a fake coordinator on a socketpair.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-peer.h"
#include "util/macro.h"
#include "znp/znp.h"

#define MS 1000ULL

static const ZnpStartParams fast_probe = {
        .probe_timeout_usec = 50 * MS,
        .bootloader_wait_usec = 20 * MS,
        .ping_timeout_usec = 50 * MS,
        .ping_attempts = 2,
};

typedef struct Result {
        bool done;
        int error;
        MtFrame frame;
        bool has_frame;
        int calls;
} Result;

static void on_ready(Znp *znp, int error, void *userdata) {
        Result *r = userdata;

        r->done = true;
        r->error = error;
        r->calls++;
}

static void on_reply(Znp *znp, int error, const MtFrame *f, void *userdata) {
        Result *r = userdata;

        r->done = true;
        r->error = error;
        r->calls++;
        r->has_frame = f != NULL;
        if (f)
                r->frame = *f;
}

static void answer_pings(FakePeer *p, const MtFrame *f) {
        if (mt_frame_is(f, 0x21, 0x01))
                fake_peer_reply(p, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
}

static void silent(FakePeer *p, const MtFrame *f) {
}

typedef struct Setup {
        sd_event *e;
        FakePeer peer;
        Znp *znp;
} Setup;

static void setup(Setup *s, FakePeerFn respond) {
        Transport *t;
        Result ready = {};

        assert(sd_event_new(&s->e) >= 0);
        fake_peer_init(&s->peer, s->e, &t);
        s->peer.respond = answer_pings;
        assert(znp_new(&s->znp, s->e, t) == 0);
        assert(znp_start(s->znp, NULL, on_ready, &ready) == 0);  /* herdsman's timeouts: generous */
        RUN_UNTIL(s->e, ready.done);
        assert(ready.error == 0);
        assert(znp_is_ready(s->znp));
        s->peer.n_rx = 0;
        s->peer.respond = respond ? respond : answer_pings;
}

static void teardown(Setup *s) {
        s->znp = znp_free(s->znp);
        fake_peer_close(&s->peer);
        s->e = sd_event_unref(s->e);
}

static void sreq(MtFrame *f, uint8_t subsystem, uint8_t cmd1, const void *data, size_t len) {
        assert(mt_frame_init(f, MT_SREQ, subsystem, cmd1, data, len) == 0);
}

static void test_start_probe_succeeds_on_first_ping(void) {
        Setup s;

        setup(&s, NULL);
        teardown(&s);
}

/* A CC2531 sitting in its serial bootloader ignores frames until it gets 0xEF. */
static bool sbl_left;
static void bootloader_then_pings(FakePeer *p, const MtFrame *f) {
        if (sbl_left)
                answer_pings(p, f);
}

static void test_start_probe_writes_0xEF_when_the_first_ping_is_ignored(void) {
        sd_event *e;
        FakePeer peer;
        Transport *t;
        Znp *znp;
        Result ready = {};

        sbl_left = false;
        assert(sd_event_new(&e) >= 0);
        fake_peer_init(&peer, e, &t);
        peer.respond = bootloader_then_pings;
        assert(znp_new(&znp, e, t) == 0);

        MtFrame ping;
        sreq(&ping, MT_SUBSYS_SYS, 0x01, NULL, 0);
        assert(znp_request(znp, &ping, 0, on_reply, &ready, NULL) == -EAGAIN);     /* not ready yet */

        /* the first ping is meant to time out; the one after 0xEF gets a generous second */
        ZnpStartParams probe = fast_probe;
        probe.probe_timeout_usec = 1000 * MS;
        assert(znp_start(znp, &probe, on_ready, &ready) == 0);
        RUN_UNTIL(e, peer.n_rx == 1);
        RUN_UNTIL(e, peer.parser.stats.dropped_bytes == 1);    /* the lone 0xEF, outside any frame */
        sbl_left = true;
        RUN_UNTIL(e, ready.done);
        assert(ready.error == 0);
        assert(peer.n_rx == 2);
        assert(znp_start(znp, &fast_probe, on_ready, &ready) == -EALREADY);

        znp_free(znp);
        fake_peer_close(&peer);
        sd_event_unref(e);
}

static void test_start_probe_gives_up_on_a_mute_coordinator(void) {
        sd_event *e;
        FakePeer peer;
        Transport *t;
        Znp *znp;
        Result ready = {};

        assert(sd_event_new(&e) >= 0);
        fake_peer_init(&peer, e, &t);
        peer.respond = silent;
        assert(znp_new(&znp, e, t) == 0);
        assert(znp_start(znp, &fast_probe, on_ready, &ready) == 0);
        RUN_UNTIL(e, ready.done);
        assert(ready.error == -ETIMEDOUT);
        assert(ready.calls == 1);
        assert(peer.n_rx == 2 + fast_probe.ping_attempts);     /* ping, ping after 0xEF, final pings */
        assert(!znp_is_ready(znp));

        znp_free(znp);
        fake_peer_close(&peer);
        sd_event_unref(e);
}

static void close_on_first_frame(FakePeer *p, const MtFrame *f) {
        fake_peer_close(p);
}

static void test_start_probe_reports_a_lost_link(void) {
        sd_event *e;
        FakePeer peer;
        Transport *t;
        Znp *znp;
        Result ready = {};

        assert(sd_event_new(&e) >= 0);
        fake_peer_init(&peer, e, &t);
        peer.respond = close_on_first_frame;
        assert(znp_new(&znp, e, t) == 0);
        assert(znp_start(znp, &fast_probe, on_ready, &ready) == 0);
        RUN_UNTIL(e, ready.done);
        assert(ready.error == -EPIPE || ready.error == -ECONNRESET);
        assert(ready.calls == 1);
        run_until_idle(e);
        assert(ready.calls == 1);

        znp_free(znp);
        sd_event_unref(e);
}

static void test_request_gets_its_srsp(void) {
        Setup s;
        Result r = {};
        MtFrame f;
        uint8_t version[] = { 0x02, 0x01, 0x02, 0x07, 0x01, 0x46, 0xD9, 0x34, 0x01, 0x00 };

        setup(&s, silent);
        sreq(&f, MT_SUBSYS_SYS, 0x02, NULL, 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &r, NULL) == 0);
        assert(!r.done);                        /* never called from inside znp_request() */
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        assert(mt_frame_is(&s.peer.rx[0], 0x21, 0x02));
        /* an AREQ and an unrelated SRSP first: neither completes the request */
        fake_peer_reply(&s.peer, 0x45, 0xC0, (const uint8_t[]) { 0x09 }, 1);
        fake_peer_reply(&s.peer, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        fake_peer_reply(&s.peer, 0x61, 0x02, version, sizeof(version));
        RUN_UNTIL(s.e, r.done);
        assert(r.error == 0 && r.has_frame);
        assert(r.frame.len == 10 && memcmp(r.frame.data, version, 10) == 0);

        ZnpStats st;
        znp_get_stats(s.znp, &st);
        assert(st.unexpected_srsp == 1);
        assert(st.unhandled_areq == 1);
        teardown(&s);
}

static void test_only_one_sreq_is_in_flight(void) {
        Setup s;
        Result r[3] = {};
        MtFrame f;

        setup(&s, silent);
        for (uint8_t i = 0; i < 3; i++) {
                sreq(&f, MT_SUBSYS_SYS, 0x13, (const uint8_t[]) { 0x60 + i, 0x00 }, 2);
                assert(znp_request(s.znp, &f, 0, on_reply, &r[i], NULL) == 0);
        }
        for (uint8_t i = 0; i < 3; i++) {
                RUN_UNTIL(s.e, s.peer.n_rx == (size_t) i + 1);
                run_until_idle(s.e);
                assert(s.peer.n_rx == (size_t) i + 1);          /* nothing more until the SRSP */
                assert(s.peer.rx[i].data[0] == 0x60 + i);
                assert(!r[i].done);
                fake_peer_reply(&s.peer, 0x61, 0x13, (const uint8_t[]) { i, 0x00 }, 2);
                RUN_UNTIL(s.e, r[i].done);
                assert(r[i].error == 0 && r[i].frame.data[0] == i);
        }
        teardown(&s);
}

static void test_timeout_fails_the_request_and_frees_the_line(void) {
        Setup s;
        Result r1 = {}, r2 = {};
        MtFrame f;

        setup(&s, silent);
        sreq(&f, MT_SUBSYS_UTIL, 0x0A, (const uint8_t[]) { 0xFF, 0x05 }, 2);  /* LED: may never answer */
        assert(znp_request(s.znp, &f, 30 * MS, on_reply, &r1, NULL) == 0);
        sreq(&f, MT_SUBSYS_SYS, 0x01, NULL, 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &r2, NULL) == 0);
        RUN_UNTIL(s.e, r1.done);
        assert(r1.error == -ETIMEDOUT && !r1.has_frame);
        RUN_UNTIL(s.e, s.peer.n_rx == 2);
        assert(mt_frame_is(&s.peer.rx[1], 0x21, 0x01));
        fake_peer_reply(&s.peer, 0x67, 0x0A, (const uint8_t[]) { 0 }, 1);   /* late: dropped */
        fake_peer_reply(&s.peer, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        RUN_UNTIL(s.e, r2.done);
        assert(r2.error == 0 && mt_le16(r2.frame.data) == 0x0659);

        ZnpStats st;
        znp_get_stats(s.znp, &st);
        assert(st.timeouts == 1 && st.unexpected_srsp == 1);
        teardown(&s);
}

static void test_full_queue_refuses_with_enobufs(void) {
        Setup s;
        Result r[ZNP_QUEUE_MAX + 1] = {};
        MtFrame f;

        setup(&s, silent);
        sreq(&f, MT_SUBSYS_SYS, 0x01, NULL, 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &r[0], NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);                       /* r[0] in flight */
        for (size_t i = 1; i <= ZNP_QUEUE_MAX; i++)
                assert(znp_request(s.znp, &f, 0, on_reply, &r[i], NULL) == 0);
        Result extra = {};
        assert(znp_request(s.znp, &f, 0, on_reply, &extra, NULL) == -ENOBUFS);

        /* an AREQ from the host is refused as well, and an AREQ is not an SREQ */
        MtFrame reset;
        assert(mt_frame_init(&reset, MT_AREQ, MT_SUBSYS_SYS, 0x00, (const uint8_t[]) { 1 }, 1) == 0);
        assert(znp_send(s.znp, &reset, NULL, NULL, NULL) == -ENOBUFS);
        assert(znp_request(s.znp, &reset, 0, on_reply, &extra, NULL) == -EINVAL);

        s.peer.respond = answer_pings;
        fake_peer_reply(&s.peer, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        RUN_UNTIL(s.e, r[ZNP_QUEUE_MAX].done);
        for (size_t i = 0; i <= ZNP_QUEUE_MAX; i++)
                assert(r[i].calls == 1 && r[i].error == 0);
        assert(!extra.done);
        teardown(&s);
}

static void test_rpc_error_fails_the_request_clearly(void) {
        Setup s;
        Result r = {}, r2 = {};
        MtFrame f;

        setup(&s, silent);
        sreq(&f, MT_SUBSYS_SYS, 0x33, (const uint8_t[]) { 1, 4, 0, 0, 0, 0, 0, 0 }, 8);
        assert(znp_request(s.znp, &f, 0, on_reply, &r, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        /* an RPC error about some other command is not ours */
        fake_peer_reply(&s.peer, 0x60, 0x00, (const uint8_t[]) { 0x01, 0xCD, 0xAB }, 3);
        fake_peer_reply(&s.peer, 0x60, 0x00, (const uint8_t[]) { 0x02, 0x21, 0x33 }, 3);
        RUN_UNTIL(s.e, r.done);
        assert(r.error == -EOPNOTSUPP);
        assert(r.has_frame && r.frame.data[0] == 0x02);
        assert(strcmp(mt_rpc_error_string(r.frame.data[0]), "invalid command id") == 0);

        sreq(&f, MT_SUBSYS_SYS, 0x13, (const uint8_t[]) { 0x60 }, 1);
        assert(znp_request(s.znp, &f, 0, on_reply, &r2, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 2);
        fake_peer_reply(&s.peer, 0x60, 0x00, (const uint8_t[]) { 0x04, 0x21, 0x13 }, 3);
        RUN_UNTIL(s.e, r2.done);
        assert(r2.error == -EINVAL);
        teardown(&s);
}

static bool state_is_9(const MtFrame *f, void *userdata) {
        return f->len >= 1 && f->data[0] == 9;
}

static bool trans_id_matches(const MtFrame *f, void *userdata) {
        Result *r = userdata;

        return f->len >= 3 && f->data[2] == (uint8_t) r->calls;    /* the test stores the TransId there */
}

static void on_wait(Znp *znp, int error, const MtFrame *f, void *userdata) {
        Result *r = userdata;

        r->done = true;
        r->error = error;
        r->has_frame = f != NULL;
        if (f)
                r->frame = *f;
}

static int handler_calls;
static void count_state_changes(Znp *znp, const MtFrame *f, void *userdata) {
        handler_calls++;
}

static void test_areq_waits_and_handlers(void) {
        Setup s;
        Result w9 = {}, wconfirm = { .calls = 0xC5 }, wtimeout = {};
        uint32_t hid, wid;
        Result cancelled = {};

        setup(&s, silent);
        handler_calls = 0;
        assert(znp_add_areq_handler(s.znp, 0x45, 0xC0, count_state_changes, NULL, &hid) == 0);
        assert(znp_wait_for(s.znp, 0x45, 0xC0, state_is_9, 5000 * MS, on_wait, &w9, NULL) == 0);
        assert(znp_wait_for(s.znp, 0x44, 0x80, trans_id_matches, 5000 * MS, on_wait, &wconfirm, NULL) == 0);
        assert(znp_wait_for(s.znp, 0x4F, 0x80, NULL, 30 * MS, on_wait, &wtimeout, NULL) == 0);
        assert(znp_wait_for(s.znp, 0x45, 0xC0, NULL, 5000 * MS, on_wait, &cancelled, &wid) == 0);
        znp_cancel(s.znp, wid);

        fake_peer_reply(&s.peer, 0x45, 0xC0, (const uint8_t[]) { 8 }, 1);
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, 0xC4 }, 3);
        fake_peer_reply(&s.peer, 0x45, 0xC0, (const uint8_t[]) { 8 }, 1);
        fake_peer_reply(&s.peer, 0x45, 0xC0, (const uint8_t[]) { 9 }, 1);
        fake_peer_reply(&s.peer, 0x44, 0x80, (const uint8_t[]) { 0x00, 0x01, 0xC5 }, 3);
        RUN_UNTIL(s.e, w9.done && wconfirm.done && wtimeout.done);
        assert(w9.error == 0 && w9.frame.data[0] == 9);
        assert(wconfirm.error == 0 && wconfirm.frame.data[2] == 0xC5);
        assert(wtimeout.error == -ETIMEDOUT && !wtimeout.has_frame);
        assert(!cancelled.done);
        assert(handler_calls == 3);

        /* a removed handler hears nothing more */
        znp_cancel(s.znp, hid);
        fake_peer_reply(&s.peer, 0x45, 0xC0, (const uint8_t[]) { 9 }, 1);
        run_until_idle(s.e);
        ZnpStats st;
        znp_get_stats(s.znp, &st);
        RUN_UNTIL(s.e, (znp_get_stats(s.znp, &st), st.parser.frames >= 7));
        assert(handler_calls == 3);
        teardown(&s);
}

static int events;
static int last_event_error;
static ZnpEvent last_event;
static void on_event(Znp *znp, ZnpEvent ev, int error, const MtFrame *f, void *userdata) {
        events++;
        last_event = ev;
        last_event_error = error;
        if (ev == ZNP_EVENT_COORDINATOR_RESET)
                assert(f && mt_frame_is(f, 0x41, 0x80));
}

static const uint8_t reset_ind[] = { 0x00, 0x02, 0x01, 0x02, 0x07, 0x01 };

static void test_unexpected_reset_is_reported_and_fails_pending_requests(void) {
        Setup s;
        Result r = {}, q = {};
        MtFrame f;

        setup(&s, silent);
        events = 0;
        znp_set_event_handler(s.znp, on_event, NULL);
        sreq(&f, MT_SUBSYS_SYS, 0x02, NULL, 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &r, NULL) == 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &q, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        fake_peer_reply(&s.peer, 0x41, 0x80, reset_ind, sizeof(reset_ind));
        RUN_UNTIL(s.e, events == 1);
        assert(last_event == ZNP_EVENT_COORDINATOR_RESET);
        assert(r.done && r.error == -ECONNRESET);
        assert(q.done && q.error == -ECONNRESET);
        teardown(&s);
}

static void test_expected_reset_is_not_reported(void) {
        Setup s;
        Result w = {}, sent = {};
        MtFrame reset;

        setup(&s, silent);
        events = 0;
        znp_set_event_handler(s.znp, on_event, NULL);
        assert(znp_wait_for(s.znp, 0x41, 0x80, NULL, 5000 * MS, on_wait, &w, NULL) == 0);
        assert(mt_frame_init(&reset, MT_AREQ, MT_SUBSYS_SYS, 0x00, (const uint8_t[]) { 1 }, 1) == 0);
        assert(znp_send(s.znp, &reset, on_reply, &sent, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        assert(mt_frame_is(&s.peer.rx[0], 0x41, 0x00) && s.peer.rx[0].data[0] == 1);
        assert(sent.done && sent.error == 0 && !sent.has_frame);
        fake_peer_send_raw(&s.peer, (const uint8_t[]) { 0x00 }, 1);          /* stray byte seen before resets */
        fake_peer_reply(&s.peer, 0x41, 0x80, reset_ind, sizeof(reset_ind));
        RUN_UNTIL(s.e, w.done);
        assert(w.error == 0 && w.frame.data[2] == 1);
        run_until_idle(s.e);
        assert(events == 0);
        teardown(&s);
}

static void test_peer_closing_is_a_transport_error(void) {
        Setup s;
        Result r = {}, w = {};
        MtFrame f;

        setup(&s, silent);
        events = 0;
        znp_set_event_handler(s.znp, on_event, NULL);
        sreq(&f, MT_SUBSYS_SYS, 0x02, NULL, 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &r, NULL) == 0);
        assert(znp_wait_for(s.znp, 0x45, 0xC0, NULL, 5000 * MS, on_wait, &w, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        fake_peer_close(&s.peer);
        RUN_UNTIL(s.e, events == 1);
        assert(last_event == ZNP_EVENT_TRANSPORT_ERROR);
        assert(last_event_error == -EPIPE || last_event_error == -ECONNRESET);
        assert(r.done && r.error == last_event_error);
        assert(w.done && w.error == last_event_error);
        assert(znp_request(s.znp, &f, 0, on_reply, &r, NULL) == last_event_error);
        teardown(&s);
}

static void free_in_callback(Znp *znp, int error, const MtFrame *f, void *userdata) {
        Setup *s = userdata;

        s->znp = znp_free(znp);
}

static void test_znp_can_be_freed_from_its_own_callback(void) {
        Setup s;
        Result later = {};
        MtFrame f;

        setup(&s, silent);
        sreq(&f, MT_SUBSYS_SYS, 0x01, NULL, 0);
        assert(znp_request(s.znp, &f, 0, free_in_callback, &s, NULL) == 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &later, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        /* the SRSP and more frames in one read: nothing may be touched after the free */
        uint8_t burst[64];
        size_t n = 0;
        MtFrame a;
        assert(mt_frame_init(&a, MT_SRSP, MT_SUBSYS_SYS, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2) == 0);
        n += (size_t) mt_frame_encode(&a, burst + n, sizeof(burst) - n);
        assert(mt_frame_init(&a, MT_AREQ, MT_SUBSYS_SYS, 0x80, reset_ind, sizeof(reset_ind)) == 0);
        n += (size_t) mt_frame_encode(&a, burst + n, sizeof(burst) - n);
        fake_peer_send_raw(&s.peer, burst, n);
        RUN_UNTIL(s.e, s.znp == NULL);
        run_until_idle(s.e);
        assert(!later.done);
        teardown(&s);
}

static void test_cancelled_request_is_not_called_back(void) {
        Setup s;
        Result a = {}, b = {}, c = {};
        uint32_t ida, idb;
        MtFrame f;

        setup(&s, silent);
        sreq(&f, MT_SUBSYS_SYS, 0x01, NULL, 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &a, &ida) == 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &b, &idb) == 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &c, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        znp_cancel(s.znp, ida);                 /* in flight: still holds the line */
        znp_cancel(s.znp, idb);                 /* queued: never sent */
        run_until_idle(s.e);
        assert(s.peer.n_rx == 1);
        fake_peer_reply(&s.peer, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        RUN_UNTIL(s.e, s.peer.n_rx == 2);
        fake_peer_reply(&s.peer, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        RUN_UNTIL(s.e, c.done);
        assert(!a.done && !b.done && c.error == 0);
        teardown(&s);
}

static void test_garbage_and_truncated_frames_from_the_stick_are_survived(void) {
        Setup s;
        Result r = {};
        MtFrame f;
        /* garbage, a frame with a bad FCS, then a truncated SYS_VERSION response */
        static const uint8_t junk[] = { 0x5F, 0x1B, 0x25, 0xFE, 0x00, 0x21, 0x01, 0x21,
                                        0xFE, 0x0A, 0x61, 0x02, 0x02, 0x01 };

        setup(&s, silent);
        sreq(&f, MT_SUBSYS_SYS, 0x01, NULL, 0);
        assert(znp_request(s.znp, &f, 0, on_reply, &r, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        fake_peer_send_raw(&s.peer, junk, sizeof(junk));
        run_until_idle(s.e);
        /* the line goes quiet inside the truncated frame; it is given up and the SRSP parsed */
        fake_peer_reply(&s.peer, 0x61, 0x01, (const uint8_t[]) { 0x59, 0x06 }, 2);
        RUN_UNTIL(s.e, r.done);
        assert(r.error == 0);

        ZnpStats st;
        znp_get_stats(s.znp, &st);
        assert(st.parser.bad_fcs == 1);
        assert(st.parser.truncated == 1);
        assert(st.parser.dropped_bytes == 3 + 5 + 6);
        teardown(&s);
}

typedef struct Traced {
        int out, in, secret;
} Traced;

static void on_trace(Znp *znp, bool outgoing, const MtFrame *f, bool secret, void *userdata) {
        Traced *t = userdata;

        if (outgoing)
                t->out++;
        else
                t->in++;
        if (secret)
                t->secret++;
}

static void test_trace_marks_key_reads_as_secret(void) {
        Setup s;
        Result r = {}, r2 = {};
        Traced t = {};
        MtFrame f;
        uint8_t rsp[18] = { 0x00, 0x10 };

        setup(&s, silent);
        znp_set_trace(s.znp, on_trace, &t);
        sreq(&f, MT_SUBSYS_SYS, 0x1C, (const uint8_t[]) { 0x62, 0x00, 0x00, 0x00 }, 4);  /* PRECFGKEY */
        assert(znp_request(s.znp, &f, 0, on_reply, &r, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 1);
        fake_peer_reply(&s.peer, 0x61, 0x1C, rsp, sizeof(rsp));
        RUN_UNTIL(s.e, r.done);
        assert(t.out == 1 && t.in == 1 && t.secret == 2);

        sreq(&f, MT_SUBSYS_SYS, 0x1C, (const uint8_t[]) { 0x21, 0x00, 0x00, 0x00 }, 4);  /* NIB */
        assert(znp_request(s.znp, &f, 0, on_reply, &r2, NULL) == 0);
        RUN_UNTIL(s.e, s.peer.n_rx == 2);
        fake_peer_reply(&s.peer, 0x61, 0x1C, rsp, 2);
        RUN_UNTIL(s.e, r2.done);
        assert(t.out == 2 && t.in == 2 && t.secret == 2);
        teardown(&s);
}

int main(void) {
        test_start_probe_succeeds_on_first_ping();
        test_start_probe_writes_0xEF_when_the_first_ping_is_ignored();
        test_start_probe_gives_up_on_a_mute_coordinator();
        test_start_probe_reports_a_lost_link();
        test_request_gets_its_srsp();
        test_only_one_sreq_is_in_flight();
        test_timeout_fails_the_request_and_frees_the_line();
        test_full_queue_refuses_with_enobufs();
        test_rpc_error_fails_the_request_clearly();
        test_areq_waits_and_handlers();
        test_unexpected_reset_is_reported_and_fails_pending_requests();
        test_expected_reset_is_not_reported();
        test_peer_closing_is_a_transport_error();
        test_znp_can_be_freed_from_its_own_callback();
        test_cancelled_request_is_not_called_back();
        test_garbage_and_truncated_frames_from_the_stick_are_survived();
        test_trace_marks_key_reads_as_secret();
        return 0;
}
