/*
 * Fuzz target: the whole host stack over a coordinator whose every byte is the fuzzer's. The MT
 * engine (src/znp/znp.h) runs on a socketpair in an sd-event loop; once the stick answers the
 * start probe's SYS_PING, either the Zigbee host layer (src/host/host.h, with one known plug whose
 * ZCL frames go on into the ZNCZ04LM conversion) or the Z-Stack start-up (src/znp/zstack.h) drives
 * it, as the daemon would.
 *
 * Input: a mode byte (bit 0: 0 host layer, 1 start-up; bit 1: the start-up's network settings
 * given explicitly instead of "auto", so that forming uses no random values), then the
 * coordinator's byte stream. The
 * stream is written in turns, one from each SOF to the next (a frame, or garbage), and the loop runs
 * until idle after each turn, so answers arrive after the requests they answer. Everything the host
 * writes is read and dropped. All timeouts are an hour: no timer fires within an input, which keeps
 * runs deterministic (the 1 s partial-frame expiry could only fire on a machine stalled that long).
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "devices/plug.h"
#include "fuzz.h"
#include "host/host.h"
#include "znp/mt-frame.h"
#include "znp/transport.h"
#include "znp/znp.h"
#include "znp/zstack.h"

#define HOUR (3600ULL * 1000000ULL)
#define PLUG_IEEE 0x00158d0004a1b2c3ULL
#define PLUG_NWK 0x5a3e

typedef struct Rig {
        sd_event *e;
        int peer;
        sd_event_source *drain;
        Znp *znp;
        Host *host;
        Zstack *zstack;
        bool startup;
        bool explicit_network;
        bool started;
        PlugState state;
} Rig;

static int on_host_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint8_t buf[4096];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        return 0;
}

static void on_zcl(Host *h, const HostZclMessage *m, void *userdata) {
        Rig *r = userdata;
        PlugOptions o = {};
        PlugUpdate u = {};

        FUZZ_CHECK(m->frame && m->payload >= m->frame && m->payload + m->payload_len == m->frame + m->frame_len);
        (void) plug_state_apply_frame(&r->state, &plug_model_zncz04lm, &o, m->src_endpoint, m->cluster, m->frame,
                                      m->frame_len, m->lqi, &u);
}

static void on_interview(Host *h, const InterviewResult *res, void *userdata) {
        FUZZ_CHECK(res->n_endpoints <= INTERVIEW_ENDPOINTS_MAX);
        FUZZ_CHECK(memchr(res->model_id, 0, sizeof(res->model_id)));
        FUZZ_CHECK(memchr(res->reason, 0, sizeof(res->reason)));
}

static void on_joined(Host *h, uint64_t ieee, uint16_t nwk, uint16_t parent, void *userdata) {
        /* a real manager interviews every new device */
        (void) host_interview_start(h, ieee, nwk);
}

static void on_started(Zstack *z, int error, const ZstackInfo *info, void *userdata) {
        Rig *r = userdata;

        r->started = true;
        if (error < 0)
                FUZZ_CHECK(zstack_error_message(z) && zstack_error_message(z)[0]);
}

static void on_ready(Znp *znp, int error, void *userdata) {
        static const HostParams params = {
                .confirm_timeout_usec = HOUR, .response_timeout_usec = HOUR, .zdo_timeout_usec = HOUR,
                .retry_delay_usec = HOUR, .route_wait_usec = HOUR, .basic_retry_delay_usec = HOUR,
                .lookup_holdoff_usec = HOUR,
        };
        static const ZstackConfig cfg_auto = {
                .pan_id_auto = true, .ext_pan_id_auto = true, .network_key_auto = true,
                .formation_timeout_usec = HOUR, .startup_timeout_usec = HOUR, .nib_poll_interval_usec = HOUR,
        };
        static const ZstackConfig cfg_explicit = {
                .pan_id = 0x1a62, .ext_pan_id = 0x00124b0001020304ULL, .channel = 15,
                .network_key = { 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13 },
                .formation_timeout_usec = HOUR, .startup_timeout_usec = HOUR, .nib_poll_interval_usec = HOUR,
        };
        const HostCallbacks cb = { .zcl_received = on_zcl, .interview_done = on_interview, .device_joined = on_joined };
        Rig *r = userdata;

        if (error < 0)
                return;
        if (r->startup) {
                FUZZ_CHECK(zstack_new(&r->zstack, znp) == 0);
                FUZZ_CHECK(zstack_start(r->zstack, r->explicit_network ? &cfg_explicit : &cfg_auto, on_started, r) == 0);
                return;
        }
        FUZZ_CHECK(host_new(&r->host, r->e, znp, &params) == 0);
        host_set_callbacks(r->host, &cb, r);
        FUZZ_CHECK(host_device_add(r->host, PLUG_IEEE, PLUG_NWK) == 0);
}

static void run_until_idle(sd_event *e) {
        for (unsigned i = 0; i < 100000; i++) {
                int k = sd_event_run(e, 0);

                FUZZ_CHECK(k >= 0);
                if (k == 0)
                        return;
        }
        FUZZ_CHECK(!"the event loop never went idle");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const ZnpStartParams probe = {
                .probe_timeout_usec = HOUR, .bootloader_wait_usec = HOUR, .pin_step_usec = HOUR,
                .ping_timeout_usec = HOUR, .ping_attempts = 1,
        };
        Rig r = { .peer = -1 };
        Transport *t = NULL;
        int sv[2];

        if (size < 1 || size > 16 * 1024)
                return 0;
        r.startup = data[0] & 1;
        r.explicit_network = data[0] & 2;
        data++;
        size--;

        FUZZ_CHECK(sd_event_new(&r.e) >= 0);
        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
        r.peer = sv[1];
        FUZZ_CHECK(sd_event_add_io(r.e, &r.drain, r.peer, EPOLLIN, on_host_output, &r) >= 0);
        FUZZ_CHECK(transport_new_fd(&t, sv[0]) == 0);
        FUZZ_CHECK(znp_new(&r.znp, r.e, t) == 0);
        FUZZ_CHECK(znp_start(r.znp, &probe, on_ready, &r) == 0);
        run_until_idle(r.e);

        for (size_t i = 0; i < size;) {
                size_t k = 1;

                while (i + k < size && data[i + k] != MT_SOF)
                        k++;
                FUZZ_CHECK(write(r.peer, data + i, k) == (ssize_t) k);
                i += k;
                run_until_idle(r.e);
        }

        r.host = host_free(r.host);
        r.zstack = zstack_free(r.zstack);
        r.znp = znp_free(r.znp);
        r.drain = sd_event_source_disable_unref(r.drain);
        close(r.peer);
        r.e = sd_event_unref(r.e);
        return 0;
}
