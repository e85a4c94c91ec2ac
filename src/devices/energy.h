/*
 * A plug's energy counter made monotonic (issue 12, [device] energy_monotonic): the plug counts
 * kWh in a float that drops back to zero after a firmware update or some power losses. The
 * tracker keeps the highest counter value seen since the last drop and an offset (the kWh counted
 * before the drops); the published total is offset + counter and never goes backwards.
 *
 * A counter lower than the high-water mark by at most the tolerance is rounding noise (the float's
 * last bits, a re-read value): the total holds until the counter passes the mark again. A larger
 * fall is a reset: the mark joins the offset and counting starts again from the new value (the
 * counter restarted at 0 and has counted that much since). Pure: no I/O, no clock.
 */
#pragma once

#include <stdbool.h>

#define ENERGY_NOISE_KWH 0.01           /* absolute part of the tolerance */
#define ENERGY_NOISE_RELATIVE 1e-6      /* relative part: a few float32 steps of the counter */

typedef struct EnergyTracker {
        bool known;                     /* a counter value has been seen (or restored) */
        double offset;                  /* kWh counted before the last drop(s) */
        double last_device;             /* highest counter value since the last drop */
} EnergyTracker;

typedef struct EnergyStep {
        bool dropped;                   /* the counter fell: offset changed */
        bool changed;                   /* offset or high-water mark changed: persist before publishing */
        double previous_device;         /* the high-water mark before this value */
        double total;                   /* kWh to publish: offset + max(counter, mark) */
} EnergyStep;

/* The drop that counts as a reset below a high-water mark. */
double energy_tolerance(double last_device);

/* Feed one counter value (kWh). -EINVAL for a value that is not finite or negative (nothing
 * changes); 0 otherwise, with *ret filled. */
int energy_track(EnergyTracker *t, double device_kwh, EnergyStep *ret);

/* What to publish for the tracker as it is (restored, no new value): offset + mark. */
double energy_total(const EnergyTracker *t);
