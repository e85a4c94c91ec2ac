/*
 * host-pair: starts the coordinator on PORT (probe, adopt or form with auto values), opens permit join
 * through the host layer, interviews the first device that joins and prints what it found. A tool for
 * the simulator integration test and for bench work:
 *
 *   host-pair [-v] [--seconds N] [--timeout S] [--unknown] [--toggle] [--device IEEE:NWK]
 *             [--short-timings] PORT
 *
 * stdout, one event per line: "permit_join=N", "joined ieee=0x... nwk=0x....", "announced ...",
 * "unknown ieee=0x... nwk=0x.... source=message|announce", then "interview success=1|0 ieee=0x...
 * model=... manufacturer=... power_source=N app_version=N endpoints=1,21,... reason=..." and exit 0 on
 * a successful interview, 1 otherwise.
 *
 *   --unknown        no permit join: wait for a device that talks without being known, interview it
 *   --toggle         after the interview, send On/Off Toggle to EP 1 and print
 *                    "toggle error=<errno name> af_status=0x.. default_rsp=0x.." (exit 0 if it completed)
 *   --device I:N     skip pairing: put IEEE I at address N in the table and toggle it at once
 *   --short-timings  100 ms retry pauses and a 2 s ZDO timeout instead of herdsman's 2 s / 3 s / 10 s
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "zigbee/zcl.h"
#include "util/macro.h"
#include "znp/zstack.h"

typedef struct Pair {
        sd_event *event;
        Znp *znp;
        Zstack *zstack;
        Host *host;
        unsigned seconds;
        bool interviewing;
        bool unknown_mode, toggle;
        uint64_t device_ieee;
        uint16_t device_nwk;
        HostParams params;
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
        if (p->interviewing || p->unknown_mode)
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

static void on_toggled(Host *h, int error, uint8_t af_status, const HostZclMessage *rsp, void *userdata) {
        Pair *p = userdata;
        int status = -1;

        if (rsp && rsp->header.command == ZCL_CMD_DEFAULT_RSP && rsp->payload_len >= 2)
                status = rsp->payload[1];
        printf("toggle error=%s af_status=0x%02x default_rsp=0x%02x\n",
               error < 0 ? strerrorname_np(-error) : "0", af_status, status < 0 ? 0xFF : (unsigned) status);
        finish(p, 0);
}

static void toggle(Pair *p, uint16_t nwk) {
        uint8_t frame[3] = { ZCL_FC_CLUSTER_SPECIFIC, host_next_tsn(p->host), 0x02 };
        int r;

        /* As Zigbee2MQTT sends it: cluster-specific, default response wanted. */
        r = host_zcl_request(p->host, nwk, 1, ZCL_CLUSTER_ON_OFF, frame, sizeof(frame), on_toggled, p, NULL);
        if (r < 0) {
                printf("error=%s message=cannot send the toggle\n", strerror(-r));
                finish(p, 1);
        }
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
        fflush(stdout);
        if (res->success && p->toggle) {
                toggle(p, res->nwk);
                return;
        }
        finish(p, res->success ? 0 : 1);
}

static void on_unknown(Host *h, uint64_t ieee, uint16_t nwk, HostUnknownSource source, void *userdata) {
        Pair *p = userdata;
        int r;

        printf("unknown ieee=0x%016" PRIx64 " nwk=0x%04x source=%s\n", ieee, nwk,
               source == HOST_UNKNOWN_FROM_MESSAGE ? "message" : "announce");
        fflush(stdout);
        if (!p->unknown_mode || p->interviewing)
                return;
        r = host_interview_start(h, ieee, nwk);
        if (r < 0) {
                printf("error=%s message=cannot start the interview\n", strerror(-r));
                finish(p, 1);
                return;
        }
        p->interviewing = true;
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
                .unknown_device = on_unknown,
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
        r = host_new(&p->host, p->event, p->znp, &p->params);
        if (r >= 0)
                host_set_callbacks(p->host, &cb, p);
        if (r >= 0 && p->device_ieee != 0) {
                r = host_device_add(p->host, p->device_ieee, p->device_nwk);
                if (r >= 0)
                        toggle(p, p->device_nwk);
        } else if (r >= 0 && !p->unknown_mode)
                r = host_permit_join(p->host, p->seconds, on_permit_done, p);
        fflush(stdout);
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
                { "unknown", no_argument, NULL, 'u' },
                { "toggle", no_argument, NULL, 'T' },
                { "device", required_argument, NULL, 'd' },
                { "short-timings", no_argument, NULL, 'S' },
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
                case 'u': p.unknown_mode = true; break;
                case 'T': p.toggle = true; break;
                case 'd': {
                        char *end;

                        p.device_ieee = strtoull(optarg, &end, 16);
                        if (*end != ':' || p.device_ieee == 0) {
                                fprintf(stderr, "--device needs IEEE:NWK in hex, got '%s'\n", optarg);
                                return 2;
                        }
                        p.device_nwk = (uint16_t) strtoul(end + 1, NULL, 16);
                        break;
                }
                case 'S':
                        p.params.retry_delay_usec = 100 * 1000ULL;
                        p.params.route_wait_usec = 100 * 1000ULL;
                        p.params.zdo_timeout_usec = 2 * 1000000ULL;
                        p.params.basic_retry_delay_usec = 100 * 1000ULL;
                        break;
                default: return 2;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "usage: %s [-v] [--seconds N] [--timeout S] [--unknown] [--toggle] "
                        "[--device IEEE:NWK] [--short-timings] PORT\n", argv[0]);
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
