/*
 * Monotonic energy from a counter that may drop (see energy.h).
 */
#include <errno.h>
#include <math.h>

#include "devices/energy.h"

double energy_tolerance(double last_device) {
        return ENERGY_NOISE_KWH + fabs(last_device) * ENERGY_NOISE_RELATIVE;
}

int energy_track(EnergyTracker *t, double device_kwh, EnergyStep *ret) {
        EnergyStep s = {};

        if (!t || !ret || !isfinite(device_kwh) || device_kwh < 0)
                return -EINVAL;
        if (!isfinite(t->offset) || t->offset < 0 || !isfinite(t->last_device) || t->last_device < 0)
                *t = (EnergyTracker) {};        /* a damaged record starts over rather than poisoning the total */

        s.previous_device = t->last_device;
        if (!t->known) {
                t->known = true;
                t->last_device = device_kwh;
                s.changed = true;
        } else if (device_kwh < t->last_device - energy_tolerance(t->last_device)) {
                /* a reset: what was counted up to the mark is kept, the counter starts again */
                t->offset += t->last_device;
                t->last_device = device_kwh;
                s.dropped = s.changed = true;
        } else if (device_kwh > t->last_device) {
                t->last_device = device_kwh;
                s.changed = true;
        }
        /* within the noise below the mark the total holds at the mark */
        s.total = t->offset + t->last_device;
        *ret = s;
        return 0;
}

double energy_total(const EnergyTracker *t) {
        return t && t->known ? t->offset + t->last_device : 0;
}
