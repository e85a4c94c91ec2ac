/*
 * Availability, as Zigbee2MQTT's availability extension for "active" devices: a plug not heard for
 * the timeout is pinged (twice if it was online, 3 s apart); a failed check makes it offline and
 * pushes the next check further out (backoff x1.5 / x2); any message makes it online again.
 * No random jitter: the owner's clock alone decides, so tests are deterministic.
 */
#include <errno.h>
#include <stdio.h>

#include "bridge/bridge-private.h"
#include "util/log.h"
#include "util/macro.h"

#define SECOND_USEC 1000000ull
#define PING_RETRY_USEC (3 * SECOND_USEC)       /* Zigbee2MQTT sleeps 3 s between ping attempts */

uint64_t bridge_availability_timeout(const Bridge *b) {
        return b->cfg.availability_timeout_usec ?: BRIDGE_AVAILABILITY_TIMEOUT_USEC;
}

void bridge_plugs_changed(Bridge *b) {
        bridge_background_changed(b);   /* a plug added, removed or its availability changed */
        if (b->owner.plugs_changed)
                b->owner.plugs_changed(b->userdata);
}

void bridge_count_plugs(const Bridge *b, unsigned *ret_plugs, unsigned *ret_online) {
        unsigned online = 0;

        for (size_t i = 0; i < b->n_plugs; i++)
                if (b->plugs[i]->availability == AVAILABILITY_ONLINE)
                        online++;
        *ret_plugs = (unsigned) b->n_plugs;
        *ret_online = online;
}

int bridge_publish_availability(Bridge *b, BridgePlug *p, Availability a, bool force) {
        Device *d = bridge_plug_device(b, p);
        _cleanup_free_ char *suffix = NULL;

        if (p->availability != a) {
                p->availability = a;
                bridge_plugs_changed(b);
        }

        if (!b->cfg.availability || !d)
                return 0;
        if (!force && p->published == a)
                return 0;
        /* back after being offline: its state may have changed meanwhile (Zigbee2MQTT's retrieveState) */
        if (a == AVAILABILITY_ONLINE && p->published == AVAILABILITY_OFFLINE)
                bridge_retrieve_state(b, p);
        p->published = a;
        bridge_background_changed(b);   /* polls and read-backs pause while it is offline */
        if (asprintf(&suffix, "%s/availability", d->friendly_name) < 0)
                return -ENOMEM;
        return bridge_publish_under_base(b, suffix, a == AVAILABILITY_ONLINE ? "{\"state\":\"online\"}" : "{\"state\":\"offline\"}",
                                  true, 1);
}

static void schedule_check(Bridge *b, BridgePlug *p, uint64_t now) {
        p->next_check = now + (uint64_t) ((double) (bridge_availability_timeout(b) + SECOND_USEC) * p->backoff);
        bridge_plug_timer_armed(b, p->next_check);
}

/* Anything received from the plug: it is there. */
void bridge_plug_seen(Bridge *b, BridgePlug *p) {
        uint64_t now = bridge_now(b);
        Device *d = bridge_plug_device(b, p);

        p->last_seen = now;
        p->backoff = 1;
        p->ping_attempts_left = 0;
        schedule_check(b, p, now);
        if (d)
                devdb_touch(b->db, d, now);
        (void) bridge_publish_availability(b, p, AVAILABILITY_ONLINE, false);
}

bool bridge_plug_recently_seen(const Bridge *b, const BridgePlug *p, uint64_t now) {
        return p->last_seen != 0 && now >= p->last_seen && now - p->last_seen < bridge_availability_timeout(b);
}

void bridge_start_ping(Bridge *b, BridgePlug *p) {
        Device *d = bridge_plug_device(b, p);
        Pending *pd;
        int r;

        if (!d || !b->zigbee.ping)
                return;
        if (p->ping_attempts_left == 0)
                p->ping_attempts_left = p->published == AVAILABILITY_ONLINE ? 2 : 1;
        pd = bridge_pending_new(b, PENDING_PING, p->ieee);
        if (!pd)
                return;         /* tried again at the next tick */
        p->ping_pending = true;
        r = b->zigbee.ping(b->userdata, p->ieee, d->nwk, pd->token);
        if (r < 0) {
                /* a link that refuses to send counts as a failed check */
                Pending copy = *pd;

                bridge_pending_free(pd);
                bridge_complete_ping(b, &copy, r);
        }
}

void bridge_complete_ping(Bridge *b, Pending *pd, int error) {
        BridgePlug *p = bridge_find_plug(b, pd->ieee);
        uint64_t now = bridge_now(b);
        bool was_online;

        if (!p)
                return;
        p->ping_pending = false;
        if (error >= 0) {
                bridge_plug_seen(b, p);
                return;
        }
        if (p->ping_attempts_left > 1) {
                p->ping_attempts_left--;
                p->next_check = now + PING_RETRY_USEC;
                bridge_plug_timer_armed(b, p->next_check);
                return;
        }
        p->ping_attempts_left = 0;
        was_online = p->published == AVAILABILITY_ONLINE;
        if (!bridge_plug_recently_seen(b, p, now))
                (void) bridge_publish_availability(b, p, AVAILABILITY_OFFLINE, false);
        /* Zigbee2MQTT's backoff: the next check comes later after each failure */
        p->backoff *= was_online ? 1.5 : 2;
        schedule_check(b, p, now);
}

void bridge_on_coordinator_lost(Bridge *b) {
        for (size_t i = 0; i < b->n_plugs; i++) {
                b->plugs[i]->ping_attempts_left = 0;
                (void) bridge_publish_availability(b, b->plugs[i], AVAILABILITY_OFFLINE, false);
        }
}

void bridge_on_coordinator_restored(Bridge *b) {
        uint64_t now = bridge_now(b);

        /* every plug is checked at once; its answer (or any message) brings it back */
        for (size_t i = 0; i < b->n_plugs; i++) {
                b->plugs[i]->backoff = 1;
                b->plugs[i]->next_check = now;
                bridge_plug_timer_armed(b, now);
        }
}
