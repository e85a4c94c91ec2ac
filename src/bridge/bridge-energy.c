/*
 * Energy that never goes backwards ([device] energy_monotonic, issue 12). The plug's own counter
 * (TLV tag 0x95) drops to zero after a firmware update or some power losses; with the option on,
 * energy (and its deprecated copy consumption) is the counter plus an offset kept in the device
 * database (src/devices/energy.h decides what a drop is), and the counter itself is published as
 * energy_device. Off (the default), nothing here touches the state: Zigbee2MQTT's payload.
 *
 * Crash safety: whenever the offset or the counter's high-water mark changes, the record and the
 * state are saved (atomically, devdb) before the state is published (save_before_publish, acted on
 * by bridge_publish_state), so a kill -9 at any point can never let a restart publish less than
 * what was already published, nor lose a drop.
 */
#include <inttypes.h>
#include <stdio.h>

#include "bridge/bridge-private.h"
#include "util/log.h"

static bool monotonic(const BridgePlug *p) {
        return p->config && p->config->energy_monotonic;
}

static bool row(const BridgePlug *p, const char *name, size_t *ret) {
        return plug_model_property(p->model, name, ret) != NULL;
}

void bridge_energy_plug_added(Bridge *b, BridgePlug *p, const Device *d) {
        size_t i;

        (void) b;
        if (!monotonic(p)) {
                /* a raw counter restored from a time the option was on is not Zigbee2MQTT's payload */
                if (row(p, "energy_device", &i))
                        p->state.known[i] = false;
                return;
        }
        if (d->energy_known)
                p->energy = (EnergyTracker) { .known = true, .offset = d->energy_offset,
                                              .last_device = d->energy_last_device };
}

uint32_t bridge_energy_discovery_extras(const Bridge *b, const BridgePlug *p) {
        size_t i;

        (void) b;
        if (!monotonic(p) || !row(p, "energy_device", &i) || i >= 32)
                return 0;
        return UINT32_C(1) << i;
}

static void set_row(BridgePlug *p, size_t i, double raw, double published, PlugUpdate *u) {
        p->state.raw[i] = raw;
        p->state.value[i] = published;
        p->state.known[i] = true;
        if (u)
                u->converted |= UINT32_C(1) << i;
}

void bridge_energy_apply(Bridge *b, BridgePlug *p, PlugUpdate *u) {
        size_t ie, idev, icons;
        Device *d = bridge_plug_device(b, p);
        EnergyStep step;
        double raw, v;
        char ieee[19];
        int r;

        if (!monotonic(p) || !d || !u || !row(p, "energy", &ie) || !(u->converted & (UINT32_C(1) << ie)))
                return;
        raw = p->state.raw[ie];
        bridge_format_ieee(p->ieee, ieee);
        r = energy_track(&p->energy, raw, &step);
        if (r < 0) {
                log_fields(LOG_WARNING, r, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Energy counter of '%s' reads %g kWh, not a count; publishing it unchanged",
                           d->friendly_name, raw);
                return;
        }
        if (step.changed) {
                r = devdb_set_energy(b->db, d, p->energy.offset, p->energy.last_device);
                if (r < 0)
                        log_fields(LOG_ERR, r, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                                   "Cannot record the energy counter of '%s': %m", d->friendly_name);
                p->save_before_publish = true;
        }
        if (step.dropped)
                log_fields(LOG_NOTICE, 0, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Energy counter of '%s' dropped from %.4f to %.4f kWh: offset now %.4f kWh, "
                           "energy continues at %.4f kWh", d->friendly_name, step.previous_device, raw,
                           p->energy.offset, step.total);

        /* energy_device: the counter as Zigbee2MQTT would publish energy (already converted) */
        if (row(p, "energy_device", &idev))
                set_row(p, idev, raw, p->state.value[ie], u);
        if (plug_property_convert(p->model, bridge_plug_options(p), ie, step.total, &v) >= 0)
                set_row(p, ie, step.total, v, u);
        if (row(p, "consumption", &icons) && (u->converted & (UINT32_C(1) << icons)) &&
            plug_property_convert(p->model, bridge_plug_options(p), icons, step.total, &v) >= 0)
                set_row(p, icons, step.total, v, u);
}
