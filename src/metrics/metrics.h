/*
 * The Prometheus endpoint: GET /metrics in the text exposition format 0.0.4, on a TCP socket passed
 * by systemd (lumiplugd-metrics.socket, FileDescriptorName=metrics) or bound at [metrics] listen;
 * off otherwise. One request per connection, closed after the reply; bounded clients, request size
 * and time.
 *
 * Per plug (labels device="0x<ieee>", name="<friendly name>"): power, energy, voltage, current,
 * device temperature, link quality, availability. Daemon: MT frames in and out, AF retries, MQTT
 * reconnects and connection, uptime.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "util/macro.h"

#define METRICS_CLIENTS_MAX 8u
#define METRICS_TIMEOUT_USEC (10ull * 1000000ull)

typedef struct Manager Manager;
typedef struct Metrics Metrics;

/* fd >= 0: a listening socket from systemd (taken). fd < 0: bind listen ("127.0.0.1:9464",
 * "[::1]:9464"). fd < 0 and listen NULL or empty: off, *ret = NULL. */
int metrics_new(Metrics **ret, Manager *m, int fd, const char *listen);
Metrics *metrics_free(Metrics *x);
DEFINE_TRIVIAL_CLEANUP_FUNC(Metrics *, metrics_free);

/* The exposition text of m's current state. */
int metrics_write(Manager *m, uint64_t uptime_sec, FILE *f);

/* A label value escaped as the text format wants (\\, \", \n). */
void metrics_write_label_value(FILE *f, const char *s);
