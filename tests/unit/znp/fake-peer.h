/*
 * The far end of a socketpair playing a Z-Stack coordinator inside the test process: it parses
 * what the host writes and hands each frame to a responder the test supplies. Header-only helper
 * for the znp unit tests.
 */
#pragma once

#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "znp/mt-frame.h"
#include "znp/transport.h"
#include "znp/znp.h"

typedef struct FakePeer FakePeer;
typedef void (*FakePeerFn)(FakePeer *p, const MtFrame *f);

struct FakePeer {
        int fd;
        /* Damage: the mangle_at-th frame sent (1-based) loses DATA bytes beyond mangle_len. */
        unsigned sent, mangle_at;
        uint8_t mangle_len;
        sd_event_source *io;
        MtParser parser;
        MtFrame rx[512];
        size_t n_rx;
        FakePeerFn respond;
        void *userdata;
};

static inline void fake_peer_send(FakePeer *p, const MtFrame *f) {
        uint8_t buf[MT_FRAME_MAX];
        MtFrame damaged;
        int n;

        if (++p->sent == p->mangle_at && f->len > p->mangle_len) {
                damaged = *f;
                damaged.len = p->mangle_len;
                f = &damaged;
        }
        n = mt_frame_encode(f, buf, sizeof(buf));

        assert(n > 0);
        assert(write(p->fd, buf, (size_t) n) == n);
}

static inline void fake_peer_send_raw(FakePeer *p, const void *data, size_t n) {
        assert(write(p->fd, data, n) == (ssize_t) n);
}

static inline void fake_peer_reply(FakePeer *p, uint8_t cmd0, uint8_t cmd1, const void *data, size_t len) {
        MtFrame f;

        assert(mt_frame_init(&f, (MtType) (cmd0 >> 5), cmd0 & 0x1F, cmd1, data, len) == 0);
        fake_peer_send(p, &f);
}

static inline void fake_peer_on_frame(const MtFrame *f, void *userdata) {
        FakePeer *p = userdata;

        assert(p->n_rx < sizeof(p->rx) / sizeof(p->rx[0]));
        p->rx[p->n_rx++] = *f;
        if (p->respond)
                p->respond(p, f);
}

static inline int fake_peer_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        FakePeer *p = userdata;
        uint8_t buf[1024];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0) {
                p->io = sd_event_source_disable_unref(p->io);
                return 0;
        }
        mt_parser_feed(&p->parser, buf, (size_t) n, fake_peer_on_frame, p);
        return 0;
}

/* Creates the socketpair: the host side becomes a Transport, the peer side is watched on e. */
static inline void fake_peer_init(FakePeer *p, sd_event *e, Transport **ret_host) {
        int sv[2];

        memset(p, 0, sizeof(*p));
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        p->fd = sv[1];
        mt_parser_init(&p->parser);
        assert(sd_event_add_io(e, &p->io, p->fd, EPOLLIN, fake_peer_on_io, p) >= 0);
        assert(transport_new_fd(ret_host, sv[0]) == 0);
}

static inline void fake_peer_close(FakePeer *p) {
        p->io = sd_event_source_disable_unref(p->io);
        if (p->fd >= 0)
                close(p->fd);
        p->fd = -1;
}

/* Runs the loop until nothing is pending right now (timers in the future do not count). */
static inline void run_until_idle(sd_event *e) {
        for (int i = 0; i < 100000; i++) {
                int r = sd_event_run(e, 0);
                assert(r >= 0);
                if (r == 0)
                        return;
        }
        assert(!"event loop never went idle");
}

/* Runs the loop until cond holds; a bound on iterations so a bug fails rather than spins. */
#define RUN_UNTIL(e, cond)                                                              \
        do {                                                                            \
                int _i = 0;                                                             \
                while (!(cond)) {                                                       \
                        assert(_i++ < 100000);                                          \
                        assert(sd_event_run((e), 60 * 1000000ULL) >= 0);                \
                }                                                                       \
        } while (0)
