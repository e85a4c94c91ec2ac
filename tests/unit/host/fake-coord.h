/*
 * A scripted Z-Stack coordinator at the far end of a socketpair, inside the test process: it answers
 * SYS_PING by itself, records every frame the host writes and hands each to the test's responder.
 * Plus the setup of an sd-event loop, a started Znp and a Host with short test timings.
 */
#pragma once

#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "host/host.h"
#include "znp/mt-frame.h"
#include "znp/transport.h"
#include "znp/znp.h"

#define MS 1000ULL
#define FC_MAX_RX 1024

typedef struct Coord Coord;
typedef void (*CoordFn)(Coord *c, const MtFrame *f);

struct Coord {
        int fd;
        sd_event_source *io;
        MtParser parser;
        MtFrame rx[FC_MAX_RX];
        size_t n_rx;
        CoordFn respond;
        void *userdata;
};

static inline void coord_send(Coord *c, const MtFrame *f) {
        uint8_t buf[MT_FRAME_MAX];
        int n = mt_frame_encode(f, buf, sizeof(buf));

        assert(n > 0);
        assert(write(c->fd, buf, (size_t) n) == n);
}

static inline void coord_reply(Coord *c, uint8_t cmd0, uint8_t cmd1, const void *data, size_t len) {
        MtFrame f;

        assert(mt_frame_init(&f, (MtType) (cmd0 >> 5), cmd0 & 0x1F, cmd1, data, len) == 0);
        coord_send(c, &f);
}

/* coord_replyv(c, 0x45, 0xCA, 3, 0x01, 0x02, 0x03) */
static inline void coord_replyv(Coord *c, uint8_t cmd0, uint8_t cmd1, size_t n, ...) {
        uint8_t d[MT_DATA_MAX];
        va_list ap;

        assert(n <= sizeof(d));
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                d[i] = (uint8_t) va_arg(ap, int);
        va_end(ap);
        coord_reply(c, cmd0, cmd1, d, n);
}

static inline void coord_srsp_status(Coord *c, const MtFrame *req, uint8_t status) {
        coord_reply(c, (uint8_t) (0x60 | (req->cmd0 & 0x1F)), req->cmd1, &status, 1);
}

static inline void coord_on_frame(const MtFrame *f, void *userdata) {
        Coord *c = userdata;

        if (mt_frame_is(f, 0x21, 0x01)) {       /* SYS_PING */
                coord_replyv(c, 0x61, 0x01, 2, 0x59, 0x06);
                return;
        }
        assert(c->n_rx < FC_MAX_RX);
        c->rx[c->n_rx++] = *f;
        if (c->respond)
                c->respond(c, f);
}

static inline int coord_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Coord *c = userdata;
        uint8_t buf[1024];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0) {
                c->io = sd_event_source_disable_unref(c->io);
                return 0;
        }
        mt_parser_feed(&c->parser, buf, (size_t) n, coord_on_frame, c);
        return 0;
}

static inline void coord_close(Coord *c) {
        c->io = sd_event_source_disable_unref(c->io);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

/* Frames the host sent with (cmd0, cmd1) since index from. */
static inline size_t coord_count(const Coord *c, uint8_t cmd0, uint8_t cmd1, size_t from) {
        size_t n = 0;

        for (size_t i = from; i < c->n_rx; i++)
                if (mt_frame_is(&c->rx[i], cmd0, cmd1))
                        n++;
        return n;
}

/* Asserts frame i is exactly cmd0 cmd1 + data. */
static inline void assert_frame(const Coord *c, size_t i, uint8_t cmd0, uint8_t cmd1, const uint8_t *data, size_t len) {
        assert(i < c->n_rx);
        if (!mt_frame_is(&c->rx[i], cmd0, cmd1) || c->rx[i].len != len || memcmp(c->rx[i].data, data, len) != 0) {
                fprintf(stderr, "frame %zu: got %02X %02X [", i, c->rx[i].cmd0, c->rx[i].cmd1);
                for (size_t k = 0; k < c->rx[i].len; k++)
                        fprintf(stderr, " %02X", c->rx[i].data[k]);
                fprintf(stderr, " ], want %02X %02X [", cmd0, cmd1);
                for (size_t k = 0; k < len; k++)
                        fprintf(stderr, " %02X", data[k]);
                fprintf(stderr, " ]\n");
                assert(!"frame mismatch");
        }
}
#define ASSERT_FRAME(c, i, cmd0, cmd1, ...)                                                     \
        do {                                                                                    \
                const uint8_t _d[] = { __VA_ARGS__ };                                           \
                assert_frame((c), (i), (cmd0), (cmd1), _d, sizeof(_d));                         \
        } while (0)

/* The wire bytes the host wrote for frame i (SOF .. FCS). */
static inline int coord_wire(const Coord *c, size_t i, uint8_t *buf, size_t size) {
        assert(i < c->n_rx);
        return mt_frame_encode(&c->rx[i], buf, size);
}

/* Runs until cond holds; generous bound so a bug fails instead of hanging. */
#define RUN_UNTIL(e, cond)                                                              \
        do {                                                                            \
                int _i = 0;                                                             \
                while (!(cond)) {                                                       \
                        assert(_i++ < 200000);                                          \
                        assert(sd_event_run((e), 60 * 1000000ULL) >= 0);                \
                }                                                                       \
        } while (0)

/* Runs what is ready now (timers in the future do not count). */
static inline void run_idle(sd_event *e) {
        for (int i = 0; i < 100000; i++) {
                int r = sd_event_run(e, 0);
                assert(r >= 0);
                if (r == 0)
                        return;
        }
        assert(!"event loop never went idle");
}

typedef struct Rig {
        sd_event *e;
        Coord coord;
        Znp *znp;
        Host *host;
} Rig;

static inline void rig_on_ready(Znp *znp, int error, void *userdata) {
        int *r = userdata;

        *r = error == 0 ? 1 : -1;
}

/* Timings for tests: answers come from this process at once, so waits that must not expire are
 * long (they never run out) and pauses are short. */
static const HostParams rig_params = {
        .confirm_timeout_usec = 30000 * MS,
        .response_timeout_usec = 30000 * MS,
        .zdo_timeout_usec = 30000 * MS,
        .retry_delay_usec = 1 * MS,
        .route_wait_usec = 1 * MS,
        .basic_retry_delay_usec = 1 * MS,
        .lookup_holdoff_usec = 30000 * MS,
};

static inline void rig_setup(Rig *r, const HostParams *params, CoordFn respond) {
        static const ZnpStartParams fast = { .probe_timeout_usec = 5000 * MS, .ping_timeout_usec = 5000 * MS };
        Transport *t;
        int sv[2], ready = 0;

        memset(r, 0, sizeof(*r));
        assert(sd_event_new(&r->e) >= 0);
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        r->coord.fd = sv[1];
        mt_parser_init(&r->coord.parser);
        assert(sd_event_add_io(r->e, &r->coord.io, r->coord.fd, EPOLLIN, coord_on_io, &r->coord) >= 0);
        assert(transport_new_fd(&t, sv[0]) == 0);
        assert(znp_new(&r->znp, r->e, t) == 0);
        assert(znp_start(r->znp, &fast, rig_on_ready, &ready) == 0);
        RUN_UNTIL(r->e, ready != 0);
        assert(ready == 1);
        assert(host_new(&r->host, r->e, r->znp, params ? params : &rig_params) == 0);
        r->coord.respond = respond;
}

static inline void rig_teardown(Rig *r) {
        r->host = host_free(r->host);
        r->znp = znp_free(r->znp);
        coord_close(&r->coord);
        r->e = sd_event_unref(r->e);
}
