/*
 * The simulated TI Z-Stack 3.x.0 coordinator (CC2652-class ZNP firmware, Koenkk build) and the
 * network of simulated ZNCZ04LM plugs around it. Bytes from the host go in through
 * sim_coordinator_feed(); everything the firmware sends comes out through SimCoordinatorOps.write,
 * in order, each frame when its (simulated) time has come. Time is given by the caller as a
 * monotonic clock in seconds, so unit tests can run it on a virtual clock. No I/O happens here
 * except the optional NV file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim-mt.h"

#define SIM_MAX_PLUGS 200

typedef struct SimCoordinator SimCoordinator;

typedef struct SimCoordinatorOps {
        /* Raw bytes for the host (frames, or garbage on request). */
        void (*write)(const uint8_t *bytes, size_t len, void *userdata);
        /* Every frame in either direction, for the log; may be NULL. */
        void (*frame)(const SimMtFrame *f, bool from_host, void *userdata);
} SimCoordinatorOps;

typedef struct SimCoordinatorConfig {
        uint64_t ieee;                  /* the coordinator's own IEEE address */
        unsigned n_plugs;               /* 0..SIM_MAX_PLUGS */
        bool fast;                      /* no simulated delays */
        const char *nv_path;            /* NULL: NV lives in memory only */
        double report_interval_s;       /* plugs' periodic 0xFCC0 report; <= 0: 300 s */
        uint32_t code_revision;         /* SYS_VERSION CodeRevision; 0: 20240710 */
} SimCoordinatorConfig;

int sim_coordinator_new(SimCoordinator **ret, const SimCoordinatorConfig *cfg,
                        const SimCoordinatorOps *ops, void *userdata, double now);
SimCoordinator *sim_coordinator_free(SimCoordinator *c);

/* Bytes from the host. */
void sim_coordinator_feed(SimCoordinator *c, const uint8_t *bytes, size_t len, double now);
/* Emits everything that is due and ticks the plugs. */
void sim_coordinator_run(SimCoordinator *c, double now);
/* When sim_coordinator_run() has something to do next (absolute time). */
double sim_coordinator_next_due(const SimCoordinator *c);

/* One control-socket command line ("press 1", "state 2", ...). Writes one reply line (without
 * newline) to out: "ok", "ok <payload>" or "error <reason>". Returns 0, or -EINVAL for a bad
 * command (the reply says why). */
int sim_coordinator_control(SimCoordinator *c, const char *line, char *out, size_t size, double now);

/* The IEEE address plug number n (1-based) gets. Odd numbers carry 00:15:8D, even 04:CF:8C. */
uint64_t sim_plug_number_ieee(unsigned n);

/* Queries used by tests. */
uint8_t sim_coordinator_device_state(const SimCoordinator *c);
bool sim_coordinator_plug_joined(const SimCoordinator *c, unsigned n);
uint16_t sim_coordinator_plug_nwk(const SimCoordinator *c, unsigned n);
