/*
 * host-pair: starts the coordinator on PORT (probe, adopt or form with auto values), opens permit join
 * through the host layer, interviews the first device that joins and prints what it found. A tool for
 * the simulator integration test and for bench work:
 *
 *   host-pair [-v] [--seconds N] [--timeout S] PORT
 *
 * stdout, one event per line: "permit_join=N", "joined ieee=0x... nwk=0x....", "announced ...",
 * then "interview success=1|0 ieee=0x... model=... manufacturer=... power_source=N app_version=N
 * endpoints=1,21,... reason=..." and exit 0 on a successful interview, 1 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "util/macro.h"
#include "znp/zstack.h"

typedef struct Pair {
        sd_event *event;
        Znp *znp;
        Zstack *zstack;
        Host *host;
        unsigned seconds;
        bool interviewing;
        int exit_code;
} Pair;

static bool verbose;

static void finish(Pair *p, int code) {
        p->exit_code = code;
        fflush(stdout);
        (void) sd_event_exit(p->event, 0);
}

static void on_trace(Znp *znp, bool outgoing, const MtFrame *f, bool secret, void *userdata) {
        char name[64];

        if (!verbose)
                return;
        fprintf(stderr, "%s %s", outgoing ? "-->" : "<--", mt_frame_describe(f, name, sizeof(name)));
        if (!secret)
                for (size_t i = 0; i < f->len; i++)
                        fprintf(stderr, " %02x", f->data[i]);
        fputc('\n', stderr);
}

static void on_joined(Host *h, uint64_t ieee, uint16_t nwk, uint16_t parent, void *userdata) {
        Pair *p = userdata;
        int r;

        printf("joined ieee=0x%016" PRIx64 " nwk=0x%04x parent=0x%04x\n", ieee, nwk, parent);
        fflush(stdout);
        if (p->interviewing)
                return;
        r = host_interview_start(h, ieee, nwk);
        if (r < 0) {
                printf("error=%s message=cannot start the interview\n", strerror(-r));
                finish(p, 1);
                return;
        }
        p->interviewing = true;
}

static void on_announced(Host *h, uint64_t ieee, uint16_t nwk, uint16_t old, uint8_t caps, void *userdata) {
        printf("announced ieee=0x%016" PRIx64 " nwk=0x%04x old_nwk=0x%04x capabilities=0x%02x\n", ieee, nwk, old, caps);
        fflush(stdout);
}

static void on_interview(Host *h, const InterviewResult *res, void *userdata) {
        Pair *p = userdata;

        printf("interview success=%d ieee=0x%016" PRIx64 " nwk=0x%04x model=%s manufacturer=%s date_code=%s "
               "power_source=%u zcl_version=%u app_version=%u stack_version=%u hw_version=%u "
               "logical_type=%u manufacturer_code=0x%04x endpoints=",
               res->success, res->ieee, res->nwk, res->model_id, res->manufacturer_name, res->date_code,
               res->power_source, res->zcl_version, res->app_version, res->stack_version, res->hw_version,
               res->node.logical_type, res->node.manufacturer_code);
        for (size_t i = 0; i < res->n_endpoints; i++)
                printf("%s%u", i ? "," : "", res->endpoints[i].endpoint);
        printf(" reason=%s\n", res->success ? "-" : res->reason);
        finish(p, res->success ? 0 : 1);
}

static void on_permit(Host *h, unsigned seconds, void *userdata) {
        printf("permit_join=%u\n", seconds);
        fflush(stdout);
}

static void on_lost(Host *h, HostLossReason reason, int error, void *userdata) {
        printf("error=%s message=%s\n", strerror(-error),
               reason == HOST_LOSS_COORDINATOR_RESET ? "coordinator reset" : "coordinator link lost");
        finish(userdata, 1);
}

static void on_permit_done(Host *h, int error, void *userdata) {
        if (error < 0) {
                printf("error=%s message=permit join refused\n", strerror(-error));
                finish(userdata, 1);
        }
}

static void on_started(Zstack *z, int error, const ZstackInfo *info, void *userdata) {
        static const HostCallbacks cb = {
                .device_joined = on_joined,
                .device_announced = on_announced,
                .interview_done = on_interview,
                .permit_join_changed = on_permit,
                .coordinator_lost = on_lost,
        };
        Pair *p = userdata;
        int r;

        if (error < 0) {
                printf("error=%s message=%s\n", strerror(-error), zstack_error_message(z));
                finish(p, 1);
                return;
        }
        printf("coordinator ieee=0x%016" PRIx64 " pan=0x%04x channel=%u %s\n", info->ieee, info->pan_id,
               info->channel, info->formed ? "formed" : "adopted");
        r = host_new(&p->host, p->event, p->znp, NULL);
        if (r >= 0) {
                host_set_callbacks(p->host, &cb, p);
                r = host_permit_join(p->host, p->seconds, on_permit_done, p);
        }
        if (r < 0) {
                printf("error=%s message=cannot open permit join\n", strerror(-r));
                finish(p, 1);
        }
}

static void on_ready(Znp *znp, int error, void *userdata) {
        static const ZstackConfig cfg = { .pan_id_auto = true, .ext_pan_id_auto = true, .network_key_auto = true };
        Pair *p = userdata;

        if (error == 0)
                error = zstack_start(p->zstack, &cfg, on_started, p);
        if (error < 0) {
                printf("error=%s message=the coordinator does not start\n", strerror(-error));
                finish(p, 1);
        }
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        printf("error=timeout message=nothing joined and was interviewed in time\n");
        finish(userdata, 1);
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "verbose", no_argument, NULL, 'v' },
                { "seconds", required_argument, NULL, 's' },
                { "timeout", required_argument, NULL, 't' },
                {}
        };
        Pair p = { .seconds = 60, .exit_code = 1 };
        TransportConfig tc = {};
        Transport *t = NULL;
        unsigned timeout = 120;
        int c, r;

        while ((c = getopt_long(argc, argv, "v", options, NULL)) >= 0)
                switch (c) {
                case 'v': verbose = true; break;
                case 's': p.seconds = (unsigned) strtoul(optarg, NULL, 10); break;
                case 't': timeout = (unsigned) strtoul(optarg, NULL, 10); break;
                default: return 2;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "usage: %s [-v] [--seconds N] [--timeout S] PORT\n", argv[0]);
                return 2;
        }
        tc.port = argv[optind];

        r = sd_event_default(&p.event);
        if (r >= 0)
                r = transport_open(&t, &tc);
        if (r >= 0)
                r = znp_new(&p.znp, p.event, t);
        if (r >= 0) {
                znp_set_trace(p.znp, on_trace, NULL);
                r = zstack_new(&p.zstack, p.znp);
        }
        if (r >= 0)
                r = znp_start(p.znp, NULL, on_ready, &p);
        if (r >= 0)
                r = sd_event_add_time_relative(p.event, NULL, CLOCK_MONOTONIC, timeout * 1000000ULL, 0, on_timeout, &p);
        if (r < 0) {
                printf("error=%s message=cannot open %s\n", strerror(-r), tc.port);
                p.exit_code = 1;
        } else
                (void) sd_event_loop(p.event);

        host_free(p.host);
        zstack_free(p.zstack);
        znp_free(p.znp);
        sd_event_unref(p.event);
        return p.exit_code;
}
