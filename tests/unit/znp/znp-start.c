/*
 * znp-start: runs the host's coordinator start-up (probe, adopt or form, endpoints) against a port
 * and prints what it found. A test tool for the simulator integration tests and for bench work:
 *
 *   znp-start [-v] [--baud N] [--rtscts] [--pan auto|0xNNNN] [--epid auto|0xNNNNNNNNNNNNNNNN]
 *             [--channel 0|11..26] [--reform] PORT
 *
 * Prints one line "result=formed|adopted ieee=0x... pan=0x.... epid=0x... channel=N product=P
 * revision=R" and exits 0, or "error=<errno name> message=<why>" and exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "znp/zstack.h"

static bool verbose;
static int exit_code = 1;

static void on_trace(Znp *znp, bool outgoing, const MtFrame *f, bool secret, void *userdata) {
        char name[64];

        if (!verbose)
                return;
        fprintf(stderr, "%s %s", outgoing ? "-->" : "<--", mt_frame_describe(f, name, sizeof(name)));
        if (!secret)
                for (size_t i = 0; i < f->len; i++)
                        fprintf(stderr, " %02x", f->data[i]);
        else
                fprintf(stderr, " (%u bytes, redacted)", f->len);
        fputc('\n', stderr);
}

static void on_event(Znp *znp, ZnpEvent ev, int error, const MtFrame *f, void *userdata) {
        fprintf(stderr, "znp event %s: %s\n", ev == ZNP_EVENT_COORDINATOR_RESET ? "coordinator reset" : "link lost",
                error < 0 ? strerror(-error) : "-");
}

static void on_started(Zstack *z, int error, const ZstackInfo *info, void *userdata) {
        sd_event *e = userdata;

        if (error < 0)
                printf("error=%s message=%s\n", strerrorname_np(-error) ?: "?", zstack_error_message(z));
        else {
                printf("result=%s ieee=0x%016" PRIx64 " pan=0x%04x epid=0x%016" PRIx64 " channel=%u product=%u revision=%" PRIu32 "\n",
                       info->formed ? "formed" : "adopted", info->ieee, info->pan_id, info->ext_pan_id, info->channel,
                       info->version.product_id, info->version.revision);
                exit_code = 0;
        }
        fflush(stdout);
        (void) sd_event_exit(e, 0);
}

static ZstackConfig cfg = { .pan_id_auto = true, .ext_pan_id_auto = true, .network_key_auto = true };

/* The coordinator answered the probe: run the start-up. */
static void on_ready(Znp *znp, int error, void *userdata) {
        Zstack *z = userdata;
        sd_event *e = znp_get_event(znp);

        if (error == 0)
                error = zstack_start(z, &cfg, on_started, e);
        if (error < 0) {
                printf("error=%s message=%s\n", strerrorname_np(-error) ?: "?",
                       error == -ETIMEDOUT ? "coordinator does not answer SYS_PING" : zstack_error_message(z));
                (void) sd_event_exit(e, 0);
        }
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "verbose", no_argument, NULL, 'v' },
                { "baud", required_argument, NULL, 'b' },
                { "rtscts", no_argument, NULL, 'r' },
                { "pan", required_argument, NULL, 'p' },
                { "epid", required_argument, NULL, 'e' },
                { "channel", required_argument, NULL, 'c' },
                { "reform", no_argument, NULL, 'R' },
                {}
        };
        TransportConfig tc = {};
        sd_event *e = NULL;
        Transport *t = NULL;
        Znp *znp = NULL;
        Zstack *z = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "v", options, NULL)) >= 0)
                switch (c) {
                case 'v': verbose = true; break;
                case 'b': tc.baudrate = (uint32_t) strtoul(optarg, NULL, 10); break;
                case 'r': tc.rtscts = true; break;
                case 'p':
                        if (strcmp(optarg, "auto") != 0) {
                                cfg.pan_id_auto = false;
                                cfg.pan_id = (uint16_t) strtoul(optarg, NULL, 0);
                        }
                        break;
                case 'e':
                        if (strcmp(optarg, "auto") != 0) {
                                cfg.ext_pan_id_auto = false;
                                cfg.ext_pan_id = strtoull(optarg, NULL, 0);
                        }
                        break;
                case 'c': cfg.channel = (uint8_t) strtoul(optarg, NULL, 10); break;
                case 'R': cfg.reform = true; break;
                default: return 2;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "usage: %s [options] PORT\n", argv[0]);
                return 2;
        }
        tc.port = argv[optind];

        r = sd_event_default(&e);
        if (r >= 0)
                r = transport_open(&t, &tc);
        if (r < 0) {
                printf("error=%s message=cannot open %s: %s\n", strerrorname_np(-r) ?: "?", tc.port, strerror(-r));
                sd_event_unref(e);
                return 1;
        }
        fprintf(stderr, "opened %s as %s\n", tc.port, transport_kind_to_string(transport_kind(t)));

        r = znp_new(&znp, e, t);
        if (r >= 0) {
                znp_set_trace(znp, on_trace, NULL);
                znp_set_event_handler(znp, on_event, NULL);
                r = zstack_new(&z, znp);
        }
        if (r >= 0)
                r = znp_start(znp, NULL, on_ready, z);
        if (r < 0) {
                printf("error=%s message=%s\n", strerrorname_np(-r) ?: "?", strerror(-r));
                return 1;
        }

        (void) sd_event_loop(e);
        zstack_free(z);
        znp_free(znp);
        sd_event_unref(e);
        return exit_code;
}
