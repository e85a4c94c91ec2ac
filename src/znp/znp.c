/*
 * MT request engine: one SREQ in flight, a bounded queue, AREQ waits and handlers, the start probe.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "util/macro.h"
#include "znp/znp.h"

#define CMD0_SYS_SREQ MT_CMD0(MT_SREQ, MT_SUBSYS_SYS)
#define CMD0_SYS_AREQ MT_CMD0(MT_AREQ, MT_SUBSYS_SYS)
#define CMD0_RPC_ERROR MT_CMD0(MT_SRSP, MT_SUBSYS_RPC_ERROR)
#define SYS_PING 0x01
#define SYS_RESET_IND 0x80

/* Bytes read per io dispatch before giving the loop back to others (epoll is level-triggered). */
#define READ_BUDGET 65536u

/* Probe defaults: zigbee-herdsman znp.ts skipBootloader() and its three start pings. */
#define PROBE_TIMEOUT_USEC      (250 * 1000ULL)
#define BOOTLOADER_WAIT_USEC    (1000 * 1000ULL)
#define PIN_STEP_USEC           (150 * 1000ULL)
#define PING_ATTEMPTS           3u
#define SBL_FORCE_RUN           0xEF    /* 0x10 ^ 0xFF: CC253x serial bootloader "run the image" */

typedef struct ZnpRequest {
        uint32_t id;
        MtFrame frame;
        uint64_t timeout;
        ZnpReplyFn cb;
        void *userdata;
        bool secret;
} ZnpRequest;

typedef struct ZnpWait {
        Znp *znp;
        uint32_t id;                    /* 0: free slot */
        uint8_t cmd0, cmd1;
        ZnpMatchFn match;
        ZnpWaitFn cb;
        void *userdata;
        sd_event_source *timer;
} ZnpWait;

typedef struct ZnpHandler {
        uint32_t id;                    /* 0: free slot */
        uint8_t cmd0, cmd1;
        ZnpAreqFn fn;
        void *userdata;
} ZnpHandler;

typedef enum ProbeStep {
        PROBE_IDLE,
        PROBE_PING_FIRST,
        PROBE_BOOTLOADER_WAIT,
        PROBE_PING_AFTER_SBL,
        PROBE_PIN_1,
        PROBE_PIN_2,
        PROBE_PIN_3,
        PROBE_PING_FINAL,
        PROBE_DONE,
} ProbeStep;

struct Znp {
        sd_event *event;
        Transport *transport;
        sd_event_source *io, *request_timer, *partial_timer, *kick, *probe_timer;
        MtParser parser;

        bool have_inflight;
        ZnpRequest inflight;
        ZnpRequest *queue;              /* grown as needed up to ZNP_QUEUE_MAX (64 were 19 KiB) */
        size_t n_queue, queue_size;

        ZnpWait waits[ZNP_WAITS_MAX];
        ZnpHandler handlers[ZNP_HANDLERS_MAX];
        uint32_t next_id;

        ZnpEventFn event_fn;
        void *event_userdata;
        ZnpTraceFn trace_fn;
        void *trace_userdata;

        int link_error;                 /* < 0 once the link failed */
        bool ready;

        unsigned depth;                 /* > 0 while dispatching an sd-event callback */
        bool freed;                     /* znp_free() was called during dispatch */

        ProbeStep probe_step;
        ZnpStartParams probe;
        unsigned pings_left;
        ZnpReadyFn ready_fn;
        void *ready_userdata;

        ZnpStats stats;
};

static void znp_destroy(Znp *znp);

static void source_enable(sd_event_source *s, int m) {
        if (s)
                (void) sd_event_source_set_enabled(s, m);
}

static void dispatch_enter(Znp *znp) {
        znp->depth++;
}

static void dispatch_leave(Znp *znp) {
        assert(znp->depth > 0);
        if (--znp->depth == 0 && znp->freed)
                znp_destroy(znp);
}

static uint32_t znp_new_id(Znp *znp) {
        if (++znp->next_id == 0)
                znp->next_id = 1;
        return znp->next_id;
}

/* NV items that hold key material: PRECFGKEY, NWKKEY, NWK_ACTIVE/ALTERN_KEY_INFO, TCLK_SEED,
 * APS_LINK_KEY_TABLE; extended tables TCLK, TCLK_IC and APS_KEY_DATA. */
static bool frame_is_secret(const MtFrame *f) {
        static const uint16_t osal_ids[] = { 0x0062, 0x0082, 0x003A, 0x003B, 0x0101, 0x004C };

        if (f->cmd0 == MT_CMD0(MT_SREQ, MT_SUBSYS_UTIL) && f->cmd1 == 0x01)    /* UTIL_GET_NV_INFO */
                return true;
        if (f->cmd0 == MT_CMD0(MT_SREQ, MT_SUBSYS_SAPI) && (f->cmd1 == 0x04 || f->cmd1 == 0x05))
                return f->len >= 1 && f->data[0] == 0x62;
        if (f->cmd0 != CMD0_SYS_SREQ)
                return false;
        switch (f->cmd1) {
        case 0x07: case 0x08: case 0x09: case 0x1C: case 0x1D:
                if (f->len < 2)
                        return false;
                for (size_t i = 0; i < ELEMENTSOF(osal_ids); i++)
                        if (mt_le16(f->data) == osal_ids[i])
                                return true;
                return false;
        case 0x33: case 0x34: case 0x35:
                if (f->len < 3)
                        return false;
                return mt_le16(f->data + 1) >= 0x0004 && mt_le16(f->data + 1) <= 0x0006;
        default:
                return false;
        }
}

static void trace(Znp *znp, bool out, const MtFrame *f, bool secret) {
        if (znp->trace_fn)
                znp->trace_fn(znp, out, f, secret, znp->trace_userdata);
}

static int update_io_events(Znp *znp) {
        uint32_t events = EPOLLIN;

        if (!znp->io || znp->link_error < 0)
                return 0;
        if (transport_pending(znp->transport) > 0 || transport_is_connecting(znp->transport))
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(znp->io, events);
}

static void kick(Znp *znp) {
        if (znp->kick && znp->link_error == 0)
                source_enable(znp->kick, SD_EVENT_ONESHOT);
}

static int write_frame(Znp *znp, const MtFrame *f, bool secret) {
        uint8_t buf[MT_FRAME_MAX];
        int n, r;

        n = mt_frame_encode(f, buf, sizeof(buf));
        if (n < 0)
                return n;
        r = transport_write(znp->transport, buf, (size_t) n);
        if (r == -ENOBUFS)
                return r;
        trace(znp, true, f, secret);
        znp->stats.frames_out++;
        (void) update_io_events(znp);
        return r;
}

/* Fails every pending request and wait with error; returns false if znp was freed meanwhile. */
static bool fail_pending(Znp *znp, int error, bool waits_too) {
        if (znp->have_inflight) {
                ZnpRequest req = znp->inflight;

                znp->have_inflight = false;
                source_enable(znp->request_timer, SD_EVENT_OFF);
                if (req.cb) {
                        req.cb(znp, error, NULL, req.userdata);
                        if (znp->freed)
                                return false;
                }
        }

        while (znp->n_queue > 0) {
                ZnpRequest req = znp->queue[0];

                memmove(znp->queue, znp->queue + 1, (znp->n_queue - 1) * sizeof(ZnpRequest));
                znp->n_queue--;
                if (req.cb) {
                        req.cb(znp, error, NULL, req.userdata);
                        if (znp->freed)
                                return false;
                }
        }

        if (!waits_too)
                return true;

        for (size_t i = 0; i < ELEMENTSOF(znp->waits); i++) {
                ZnpWait w = znp->waits[i];

                if (w.id == 0)
                        continue;
                znp->waits[i].timer = sd_event_source_disable_unref(znp->waits[i].timer);
                znp->waits[i].id = 0;
                w.cb(znp, error, NULL, w.userdata);
                if (znp->freed)
                        return false;
        }
        return true;
}

static void probe_finish(Znp *znp, int error);

static void fail_link(Znp *znp, int error) {
        assert(error < 0);

        if (znp->link_error < 0)
                return;
        znp->link_error = error;
        source_enable(znp->io, SD_EVENT_OFF);
        source_enable(znp->partial_timer, SD_EVENT_OFF);
        source_enable(znp->probe_timer, SD_EVENT_OFF);
        source_enable(znp->kick, SD_EVENT_OFF);

        if (!fail_pending(znp, error, true))
                return;
        /* A probe waiting on a timer (not on a request) learns of it here. */
        if (znp->probe_step != PROBE_IDLE && znp->probe_step != PROBE_DONE) {
                probe_finish(znp, error);
                if (znp->freed)
                        return;
        }
        if (znp->event_fn)
                znp->event_fn(znp, ZNP_EVENT_TRANSPORT_ERROR, error, NULL, znp->event_userdata);
}

static int arm_timer(Znp *znp, sd_event_source **s, uint64_t usec, sd_event_time_handler_t fn, void *userdata) {
        int r;

        if (*s) {
                r = sd_event_source_set_time_relative(*s, usec);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
        }
        return sd_event_add_time_relative(znp->event, s, CLOCK_MONOTONIC, usec, 0, fn, userdata);
}

static int on_request_timeout(sd_event_source *s, uint64_t usec, void *userdata);

/* Sends queued requests until one SREQ is in flight. Runs in dispatch context. */
static void pump(Znp *znp) {
        while (!znp->have_inflight && znp->n_queue > 0 && znp->link_error == 0 && !znp->freed) {
                ZnpRequest req = znp->queue[0];
                int r;

                memmove(znp->queue, znp->queue + 1, (znp->n_queue - 1) * sizeof(ZnpRequest));
                znp->n_queue--;

                r = write_frame(znp, &req.frame, req.secret);
                if (r == -ENOBUFS || r == -EMSGSIZE) {
                        if (req.cb)
                                req.cb(znp, r, NULL, req.userdata);
                        continue;
                }

                if (mt_frame_type(&req.frame) == MT_SREQ) {
                        znp->inflight = req;
                        znp->have_inflight = true;
                        if (r >= 0)
                                r = arm_timer(znp, &znp->request_timer, req.timeout, on_request_timeout, znp);
                        if (r < 0)
                                fail_link(znp, r);
                        continue;
                }

                if (r < 0) {
                        if (req.cb)
                                req.cb(znp, r, NULL, req.userdata);
                        if (!znp->freed)
                                fail_link(znp, r);
                        continue;
                }
                if (req.cb)
                        req.cb(znp, 0, NULL, req.userdata);
        }
}

static int on_kick(sd_event_source *s, void *userdata) {
        Znp *znp = userdata;

        dispatch_enter(znp);
        pump(znp);
        dispatch_leave(znp);
        return 0;
}

static int on_request_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Znp *znp = userdata;
        ZnpRequest req;

        if (!znp->have_inflight)
                return 0;

        dispatch_enter(znp);
        req = znp->inflight;
        znp->have_inflight = false;
        znp->stats.timeouts++;
        kick(znp);
        if (req.cb)
                req.cb(znp, -ETIMEDOUT, NULL, req.userdata);
        dispatch_leave(znp);
        return 0;
}

static void handle_srsp(Znp *znp, const MtFrame *f) {
        ZnpRequest req;
        int error = 0;

        if (!znp->have_inflight) {
                znp->stats.unexpected_srsp++;
                return;
        }

        if (mt_frame_is(f, CMD0_RPC_ERROR, 0x00)) {
                /* DATA: ErrorCode, then CMD0 and CMD1 of the rejected request. */
                if (f->len >= 3 && (f->data[1] != znp->inflight.frame.cmd0 || f->data[2] != znp->inflight.frame.cmd1)) {
                        znp->stats.unexpected_srsp++;
                        return;
                }
                error = f->len >= 1 && f->data[0] <= 2 ? -EOPNOTSUPP : -EINVAL;
        } else if (mt_frame_subsystem(f) != mt_frame_subsystem(&znp->inflight.frame) ||
                   f->cmd1 != znp->inflight.frame.cmd1) {
                znp->stats.unexpected_srsp++;
                return;
        }

        req = znp->inflight;
        znp->have_inflight = false;
        source_enable(znp->request_timer, SD_EVENT_OFF);
        kick(znp);
        if (req.cb)
                req.cb(znp, error, f, req.userdata);
}

static void handle_areq(Znp *znp, const MtFrame *f) {
        uint32_t limit = znp->next_id;  /* only waits and handlers registered before this frame */
        bool consumed = false, waited = false;

        for (size_t i = 0; i < ELEMENTSOF(znp->waits); i++) {
                ZnpWait *w = &znp->waits[i], copy;

                if (w->id == 0 || w->id > limit || w->cmd0 != f->cmd0 || w->cmd1 != f->cmd1)
                        continue;
                if (w->match && !w->match(f, w->userdata))
                        continue;

                copy = *w;
                w->timer = sd_event_source_disable_unref(w->timer);
                w->id = 0;
                consumed = waited = true;
                copy.cb(znp, 0, f, copy.userdata);
                if (znp->freed || znp->link_error < 0)
                        return;
        }

        for (size_t i = 0; i < ELEMENTSOF(znp->handlers); i++) {
                ZnpHandler *h = &znp->handlers[i];

                if (h->id == 0 || h->id > limit || h->cmd0 != f->cmd0 || h->cmd1 != f->cmd1)
                        continue;
                consumed = true;
                h->fn(znp, f, h->userdata);
                if (znp->freed || znp->link_error < 0)
                        return;
        }

        if (mt_frame_is(f, CMD0_SYS_AREQ, SYS_RESET_IND) && !waited && znp->ready) {
                /* The coordinator rebooted on its own: nothing in flight will be answered. */
                if (!fail_pending(znp, -ECONNRESET, false))
                        return;
                if (znp->event_fn)
                        znp->event_fn(znp, ZNP_EVENT_COORDINATOR_RESET, 0, f, znp->event_userdata);
                return;
        }

        if (!consumed)
                znp->stats.unhandled_areq++;
}

static void on_frame(const MtFrame *f, void *userdata) {
        Znp *znp = userdata;

        if (znp->freed || znp->link_error < 0)
                return;

        trace(znp, false, f, mt_frame_type(f) == MT_SRSP && znp->have_inflight && znp->inflight.secret);

        switch (mt_frame_type(f)) {
        case MT_SRSP:
                handle_srsp(znp, f);
                break;
        case MT_AREQ:
                handle_areq(znp, f);
                break;
        default:
                znp->stats.unexpected_srsp++;
                break;
        }
}

static void update_partial_timer(Znp *znp);

static int on_partial_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Znp *znp = userdata;

        dispatch_enter(znp);
        (void) mt_parser_expire(&znp->parser, on_frame, znp);
        if (!znp->freed && znp->link_error == 0)
                update_partial_timer(znp);
        dispatch_leave(znp);
        return 0;
}

static void update_partial_timer(Znp *znp) {
        if (mt_parser_has_partial(&znp->parser)) {
                if (arm_timer(znp, &znp->partial_timer, ZNP_PARTIAL_FRAME_USEC, on_partial_timeout, znp) < 0)
                        (void) mt_parser_expire(&znp->parser, on_frame, znp);
        } else if (znp->partial_timer)
                source_enable(znp->partial_timer, SD_EVENT_OFF);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Znp *znp = userdata;
        size_t budget = READ_BUDGET;
        bool got_data = false;
        int r;

        dispatch_enter(znp);

        if ((revents & EPOLLOUT) || transport_is_connecting(znp->transport)) {
                r = transport_flush(znp->transport);
                if (r < 0) {
                        fail_link(znp, r);
                        goto finish;
                }
                (void) update_io_events(znp);
        }

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                while (budget > 0 && !znp->freed && znp->link_error == 0) {
                        uint8_t buf[1024];

                        r = transport_read(znp->transport, buf, MIN(sizeof(buf), budget));
                        if (r == -EAGAIN)
                                break;
                        if (r < 0) {
                                fail_link(znp, r);
                                goto finish;
                        }
                        got_data = true;
                        budget -= (size_t) r;
                        (void) mt_parser_feed(&znp->parser, buf, (size_t) r, on_frame, znp);
                }
                if (znp->freed || znp->link_error < 0)
                        goto finish;

                if ((revents & (EPOLLHUP | EPOLLERR)) && !got_data && !transport_is_connecting(znp->transport)) {
                        fail_link(znp, (revents & EPOLLERR) ? -EIO : -EPIPE);
                        goto finish;
                }
                if (got_data)
                        update_partial_timer(znp);
        }

finish:
        dispatch_leave(znp);
        return 0;
}

int znp_new(Znp **ret, sd_event *event, Transport *transport) {
        Znp *znp;
        int r;

        assert(ret && event && transport);

        znp = calloc(1, sizeof(*znp));
        if (!znp) {
                transport_free(transport);
                return -ENOMEM;
        }
        znp->event = sd_event_ref(event);
        znp->transport = transport;
        mt_parser_init(&znp->parser);

        r = sd_event_add_io(event, &znp->io, transport_fd(transport), EPOLLIN, on_io, znp);
        if (r >= 0)
                r = update_io_events(znp);
        if (r >= 0)
                r = sd_event_add_defer(event, &znp->kick, on_kick, znp);
        if (r >= 0)
                r = sd_event_source_set_enabled(znp->kick, SD_EVENT_OFF);
        if (r < 0) {
                znp_destroy(znp);
                return r;
        }

        *ret = znp;
        return 0;
}

static void znp_destroy(Znp *znp) {
        for (size_t i = 0; i < ELEMENTSOF(znp->waits); i++)
                sd_event_source_disable_unref(znp->waits[i].timer);
        sd_event_source_disable_unref(znp->io);
        sd_event_source_disable_unref(znp->request_timer);
        sd_event_source_disable_unref(znp->partial_timer);
        sd_event_source_disable_unref(znp->kick);
        sd_event_source_disable_unref(znp->probe_timer);
        transport_free(znp->transport);
        sd_event_unref(znp->event);
        free(znp->queue);
        free(znp);
}

Znp *znp_free(Znp *znp) {
        if (!znp)
                return NULL;
        if (znp->depth > 0) {
                /* Called from one of our callbacks: finish unwinding first. */
                znp->freed = true;
                source_enable(znp->io, SD_EVENT_OFF);
                return NULL;
        }
        znp_destroy(znp);
        return NULL;
}

void znp_set_event_handler(Znp *znp, ZnpEventFn fn, void *userdata) {
        znp->event_fn = fn;
        znp->event_userdata = userdata;
}

void znp_set_trace(Znp *znp, ZnpTraceFn fn, void *userdata) {
        znp->trace_fn = fn;
        znp->trace_userdata = userdata;
}

static int enqueue(Znp *znp, const MtFrame *f, uint64_t timeout_usec, ZnpReplyFn cb, void *userdata, uint32_t *ret_id) {
        ZnpRequest *req;

        if (znp->link_error < 0)
                return znp->link_error;
        if (znp->n_queue >= ZNP_QUEUE_MAX)
                return -ENOBUFS;
        if (znp->n_queue == znp->queue_size) {
                size_t n = MIN(MAX(znp->queue_size * 2, (size_t) 4), (size_t) ZNP_QUEUE_MAX);
                ZnpRequest *q = reallocarray(znp->queue, n, sizeof(ZnpRequest));

                if (!q)
                        return -ENOMEM;
                znp->queue = q;
                znp->queue_size = n;
        }

        req = &znp->queue[znp->n_queue++];
        *req = (ZnpRequest) {
                .id = znp_new_id(znp),
                .frame = *f,
                .timeout = timeout_usec ? timeout_usec : ZNP_SREQ_TIMEOUT_USEC,
                .cb = cb,
                .userdata = userdata,
                .secret = frame_is_secret(f),
        };
        if (ret_id)
                *ret_id = req->id;
        kick(znp);
        return 0;
}

int znp_request(Znp *znp, const MtFrame *sreq, uint64_t timeout_usec, ZnpReplyFn cb, void *userdata, uint32_t *ret_id) {
        assert(znp && sreq);

        if (mt_frame_type(sreq) != MT_SREQ || sreq->len > MT_DATA_MAX)
                return -EINVAL;
        if (znp->link_error < 0)
                return znp->link_error;
        if (!znp->ready)
                return -EAGAIN;
        return enqueue(znp, sreq, timeout_usec, cb, userdata, ret_id);
}

int znp_send(Znp *znp, const MtFrame *areq, ZnpReplyFn cb, void *userdata, uint32_t *ret_id) {
        assert(znp && areq);

        if (mt_frame_type(areq) != MT_AREQ || areq->len > MT_DATA_MAX)
                return -EINVAL;
        if (znp->link_error < 0)
                return znp->link_error;
        if (!znp->ready)
                return -EAGAIN;
        return enqueue(znp, areq, 0, cb, userdata, ret_id);
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ZnpWait *w = userdata, copy = *w;
        Znp *znp = w->znp;

        dispatch_enter(znp);
        w->timer = sd_event_source_disable_unref(w->timer);
        w->id = 0;
        znp->stats.timeouts++;
        copy.cb(znp, -ETIMEDOUT, NULL, copy.userdata);
        dispatch_leave(znp);
        return 0;
}

int znp_wait_for(Znp *znp, uint8_t cmd0, uint8_t cmd1, ZnpMatchFn match, uint64_t timeout_usec,
                 ZnpWaitFn cb, void *userdata, uint32_t *ret_id) {
        int r;

        assert(znp && cb);

        if (znp->link_error < 0)
                return znp->link_error;

        for (size_t i = 0; i < ELEMENTSOF(znp->waits); i++) {
                ZnpWait *w = &znp->waits[i];

                if (w->id != 0)
                        continue;

                r = sd_event_add_time_relative(znp->event, &w->timer, CLOCK_MONOTONIC,
                                               timeout_usec ? timeout_usec : ZNP_SREQ_TIMEOUT_USEC, 0,
                                               on_wait_timeout, w);
                if (r < 0)
                        return r;
                w->znp = znp;
                w->id = znp_new_id(znp);
                w->cmd0 = cmd0;
                w->cmd1 = cmd1;
                w->match = match;
                w->cb = cb;
                w->userdata = userdata;
                if (ret_id)
                        *ret_id = w->id;
                return 0;
        }
        return -ENOBUFS;
}

int znp_add_areq_handler(Znp *znp, uint8_t cmd0, uint8_t cmd1, ZnpAreqFn fn, void *userdata, uint32_t *ret_id) {
        assert(znp && fn);

        for (size_t i = 0; i < ELEMENTSOF(znp->handlers); i++) {
                ZnpHandler *h = &znp->handlers[i];

                if (h->id != 0)
                        continue;
                *h = (ZnpHandler) {
                        .id = znp_new_id(znp),
                        .cmd0 = cmd0,
                        .cmd1 = cmd1,
                        .fn = fn,
                        .userdata = userdata,
                };
                if (ret_id)
                        *ret_id = h->id;
                return 0;
        }
        return -ENOBUFS;
}

void znp_cancel(Znp *znp, uint32_t id) {
        if (!znp || id == 0)
                return;

        if (znp->have_inflight && znp->inflight.id == id) {
                znp->inflight.cb = NULL;
                return;
        }
        for (size_t i = 0; i < znp->n_queue; i++)
                if (znp->queue[i].id == id) {
                        memmove(znp->queue + i, znp->queue + i + 1, (znp->n_queue - i - 1) * sizeof(ZnpRequest));
                        znp->n_queue--;
                        return;
                }
        for (size_t i = 0; i < ELEMENTSOF(znp->waits); i++)
                if (znp->waits[i].id == id) {
                        znp->waits[i].timer = sd_event_source_disable_unref(znp->waits[i].timer);
                        znp->waits[i].id = 0;
                        return;
                }
        for (size_t i = 0; i < ELEMENTSOF(znp->handlers); i++)
                if (znp->handlers[i].id == id) {
                        znp->handlers[i].id = 0;
                        return;
                }
}

void znp_get_stats(const Znp *znp, ZnpStats *ret) {
        *ret = znp->stats;
        ret->parser = znp->parser.stats;
}

Transport *znp_get_transport(Znp *znp) {
        return znp->transport;
}

sd_event *znp_get_event(Znp *znp) {
        return znp->event;
}

bool znp_is_ready(const Znp *znp) {
        return znp->ready;
}

/* The start probe. */

static void probe_step(Znp *znp, ProbeStep step);

static void probe_finish(Znp *znp, int error) {
        ZnpReadyFn fn = znp->ready_fn;

        znp->probe_step = PROBE_DONE;
        znp->ready_fn = NULL;
        if (error == 0) {
                znp->ready = true;
                kick(znp);
        }
        if (fn)
                fn(znp, error, znp->ready_userdata);
}

static void probe_on_ping(Znp *znp, int error, const MtFrame *srsp, void *userdata) {
        if (znp->probe_step == PROBE_DONE || znp->probe_step == PROBE_IDLE)
                return;

        /* Any answer, even "command not recognised", proves the firmware is running. */
        if (error == 0 || ((error == -EOPNOTSUPP || error == -EINVAL) && srsp)) {
                probe_finish(znp, 0);
                return;
        }
        if (error != -ETIMEDOUT) {
                probe_finish(znp, error);
                return;
        }

        switch (znp->probe_step) {
        case PROBE_PING_FIRST:
                probe_step(znp, PROBE_BOOTLOADER_WAIT);
                break;
        case PROBE_PING_AFTER_SBL:
                probe_step(znp, transport_kind(znp->transport) == TRANSPORT_SERIAL ? PROBE_PIN_1 : PROBE_PING_FINAL);
                break;
        case PROBE_PING_FINAL:
                if (znp->pings_left > 0)
                        probe_step(znp, PROBE_PING_FINAL);
                else
                        probe_finish(znp, -ETIMEDOUT);
                break;
        default:
                break;
        }
}

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Znp *znp = userdata;

        dispatch_enter(znp);
        switch (znp->probe_step) {
        case PROBE_BOOTLOADER_WAIT:
                probe_step(znp, PROBE_PING_AFTER_SBL);
                break;
        case PROBE_PIN_1:
                probe_step(znp, PROBE_PIN_2);
                break;
        case PROBE_PIN_2:
                probe_step(znp, PROBE_PIN_3);
                break;
        case PROBE_PIN_3:
                probe_step(znp, PROBE_PING_FINAL);
                break;
        default:
                break;
        }
        dispatch_leave(znp);
        return 0;
}

static void probe_step(Znp *znp, ProbeStep step) {
        static const uint8_t force_run = SBL_FORCE_RUN;
        MtFrame ping;
        uint64_t timeout = znp->probe.probe_timeout_usec;
        int r = 0;

        znp->probe_step = step;
        switch (step) {
        case PROBE_PING_FINAL:
                timeout = znp->probe.ping_timeout_usec;
                znp->pings_left--;
                __attribute__((fallthrough));
        case PROBE_PING_FIRST:
        case PROBE_PING_AFTER_SBL:
                (void) mt_frame_init(&ping, MT_SREQ, MT_SUBSYS_SYS, SYS_PING, NULL, 0);
                r = enqueue(znp, &ping, timeout, probe_on_ping, NULL, NULL);
                break;

        case PROBE_BOOTLOADER_WAIT:
                r = transport_write(znp->transport, &force_run, 1);
                if (r >= 0) {
                        (void) update_io_events(znp);
                        r = arm_timer(znp, &znp->probe_timer, znp->probe.bootloader_wait_usec, on_probe_timer, znp);
                }
                break;

        case PROBE_PIN_1:
        case PROBE_PIN_3:
        case PROBE_PIN_2:
                /* CC2652 boards: DTR 0/0/0 with an RTS pulse 0/1/0 resets the chip into its image. */
                r = transport_set_modem_lines(znp->transport, false, step == PROBE_PIN_2);
                if (r >= 0)
                        r = arm_timer(znp, &znp->probe_timer, znp->probe.pin_step_usec, on_probe_timer, znp);
                break;

        default:
                break;
        }

        if (r < 0) {
                if (r == -ENOBUFS || r == -EOPNOTSUPP)
                        probe_finish(znp, r);
                else
                        fail_link(znp, r);      /* finishes the probe too */
        }
}

int znp_start(Znp *znp, const ZnpStartParams *params, ZnpReadyFn on_ready, void *userdata) {
        assert(znp);

        if (znp->link_error < 0)
                return znp->link_error;
        if (znp->probe_step != PROBE_IDLE)
                return -EALREADY;

        znp->probe = params ? *params : (ZnpStartParams) {};
        if (!znp->probe.probe_timeout_usec)
                znp->probe.probe_timeout_usec = PROBE_TIMEOUT_USEC;
        if (!znp->probe.bootloader_wait_usec)
                znp->probe.bootloader_wait_usec = BOOTLOADER_WAIT_USEC;
        if (!znp->probe.pin_step_usec)
                znp->probe.pin_step_usec = PIN_STEP_USEC;
        if (!znp->probe.ping_timeout_usec)
                znp->probe.ping_timeout_usec = ZNP_SREQ_TIMEOUT_USEC;
        if (!znp->probe.ping_attempts)
                znp->probe.ping_attempts = PING_ATTEMPTS;
        znp->pings_left = znp->probe.ping_attempts;
        znp->ready_fn = on_ready;
        znp->ready_userdata = userdata;

        MtFrame ping;
        int r;

        (void) mt_frame_init(&ping, MT_SREQ, MT_SUBSYS_SYS, SYS_PING, NULL, 0);
        r = enqueue(znp, &ping, znp->probe.probe_timeout_usec, probe_on_ping, NULL, NULL);
        if (r < 0)
                return r;
        znp->probe_step = PROBE_PING_FIRST;
        return 0;
}
