/*
 * Fresher power ([device] power_poll_interval, issue 12): the plug reports its power rarely, so a
 * plug with an interval gets a Read Attributes of Analog Input presentValue (0x000C/0x0055) on its
 * power endpoint (the first endpoint with the cluster, as Zigbee2MQTT's /get power: EP 21) every
 * that many seconds. The answer is published like any read response (bridge_on_zcl).
 *
 * Spreading: a plug's first poll comes at interval * (its index / number of plugs), so plugs that
 * start together are spread over one interval; after each poll the next is one interval later.
 * Every background read (these polls and the settings read-back of bridge-settings.c) goes through
 * one limiter: at least BRIDGE_BACKGROUND_GAP_USEC apart, so never more than 20 in a second, and
 * at most BRIDGE_POLLS_IN_FLIGHT_MAX polls wait for answers. When more is asked (200 plugs every
 * 5 s would be 40 reads a second) the polls come as fast as the limiter allows, most overdue
 * first: the interval stretches, the coordinator is never flooded.
 *
 * Polls pause while the plug is unavailable (and restart with a new phase when it is back); a poll
 * that fails is logged at debug level and changes nothing else: availability is the ping's
 * business (bridge-availability.c), not the poll's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bridge/bridge-private.h"
#include "util/log.h"

#define SECOND_USEC 1000000ull

bool bridge_plug_available(const Bridge *b, const BridgePlug *p) {
        if (!b->cfg.availability)
                return true;
        return p->published == AVAILABILITY_ONLINE;
}

bool bridge_background_may_send(const Bridge *b, uint64_t now) {
        return now >= b->background_next;
}

void bridge_background_sent(Bridge *b, uint64_t now) {
        b->background_next = now + BRIDGE_BACKGROUND_GAP_USEC;
}

void bridge_background_changed(Bridge *b) {
        b->background.stale = true;
        b->background.poll_rescan = true;
}

void bridge_background_times_changed(Bridge *b) {
        b->background.stale = true;
}

static unsigned polls_in_flight(const Bridge *b) {
        unsigned n = 0;

        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (b->pending[i] && b->pending[i]->kind == PENDING_POLL)
                        n++;
        return n;
}

static unsigned interval_of(const BridgePlug *p) {
        return p->config ? p->config->power_poll_interval : 0;
}

static bool has_analog_input(const Device *d) {
        for (size_t i = 0; i < d->n_endpoints; i++)
                for (size_t j = 0; j < d->endpoints[i].n_in; j++)
                        if (d->endpoints[i].in[j] == ZCL_CLUSTER_ANALOG_INPUT)
                                return true;
        return false;
}

static int poll_action(const BridgePlug *p, const Device *d, PlugAction *ret) {
        static const char payload[] = "{\"power\":\"\"}";
        PlugEndpoint eps[DEVDB_ENDPOINTS_MAX];
        size_t n = 0;
        PlugRequest req;
        int r;

        for (size_t i = 0; i < d->n_endpoints && i < DEVDB_ENDPOINTS_MAX; i++)
                eps[n++] = (PlugEndpoint) { .id = d->endpoints[i].id, .in_clusters = d->endpoints[i].in,
                                            .n_in_clusters = d->endpoints[i].n_in };
        r = plug_parse_get(p->model, NULL, payload, strlen(payload), eps, n, &req);
        if (r < 0)
                return r;
        if (req.n_actions != 1)
                return -EINVAL;
        *ret = req.actions[0];
        return 0;
}

static bool may_poll(const Bridge *b, const BridgePlug *p) {
        return interval_of(p) > 0 && !p->poll_unsupported && b->have_coordinator && bridge_plug_available(b, p);
}

static bool settings_waiting(const Bridge *b, const BridgePlug *p) {
        return p->settings_needed && !p->settings_busy && b->have_coordinator && bridge_plug_available(b, p);
}

/* The one look at every plug, after something changed. The cache is not part of the Bridge's
 * meaning (the same answers with or without it), so the const wakeup queries may refresh it. */
static void background_refresh(const Bridge *cb) {
        Bridge *b = (Bridge *) cb;
        uint64_t poll_wake = UINT64_MAX, poll_tick = UINT64_MAX, settings_wake = UINT64_MAX;
        bool poll_wake_now = false;

        if (!b->background.stale)
                return;
        for (size_t i = 0; i < b->n_plugs; i++) {
                const BridgePlug *p = b->plugs[i];

                if (may_poll(b, p)) {
                        if (p->poll_due == 0)
                                poll_tick = 0;
                        else if (!p->poll_pending)
                                poll_tick = MIN(poll_tick, p->poll_due);
                        if (!p->poll_pending) {
                                if (p->poll_due == 0)
                                        poll_wake_now = true;
                                else
                                        poll_wake = MIN(poll_wake, p->poll_due);
                        }
                }
                if (settings_waiting(b, p))
                        settings_wake = MIN(settings_wake, p->settings_due);
        }
        b->background.poll_wake = poll_wake;
        b->background.poll_wake_now = poll_wake_now;
        b->background.poll_tick = poll_tick;
        b->background.settings_wake = settings_wake;
        b->background.stale = false;
}

uint64_t bridge_settings_earliest(const Bridge *b) {
        background_refresh(b);
        return b->background.settings_wake;
}

static void send_poll(Bridge *b, BridgePlug *p, uint64_t now) {
        Device *d = bridge_plug_device(b, p);
        char ieee[19];
        Pending *pd;
        PlugAction a;
        int r;

        p->poll_due = now + (uint64_t) interval_of(p) * SECOND_USEC;
        bridge_background_changed(b);
        if (!d || !b->zigbee.send_action)
                return;
        bridge_format_ieee(p->ieee, ieee);
        if (!has_analog_input(d) || poll_action(p, d, &a) < 0) {
                p->poll_unsupported = true;
                log_fields(LOG_WARNING, 0, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "'%s' has no Analog Input endpoint: power_poll_interval is ignored", d->friendly_name);
                return;
        }
        pd = bridge_pending_new(b, PENDING_POLL, p->ieee);
        if (!pd)
                return;         /* busy: the next interval */
        pd->action = a;
        pd->is_get = true;
        snprintf(pd->key, sizeof(pd->key), "power");
        bridge_background_sent(b, now);
        p->poll_pending = true;
        r = b->zigbee.send_action(b->userdata, p->ieee, d->nwk, &a, pd->token);
        if (r < 0) {
                p->poll_pending = false;
                bridge_pending_free(pd);
                log_fields(LOG_DEBUG, r, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Power poll of '%s' not sent: %s", d->friendly_name, bridge_error_text(r));
        }
}

void bridge_poll_tick(Bridge *b, uint64_t now) {
        BridgePlug *next = NULL;

        /* Nothing due and nothing changed since the last look: that look would change nothing
         * (paused plugs already have poll_due 0, the others are phased and not due). */
        background_refresh(b);
        if (!b->background.poll_rescan && b->background.poll_tick > now)
                return;
        b->background.poll_rescan = false;
        b->background.stale = true;     /* phases given and pauses set below */
        for (size_t i = 0; i < b->n_plugs; i++) {
                BridgePlug *p = b->plugs[i];

                if (!may_poll(b, p)) {
                        p->poll_due = 0;        /* paused; a new phase when it is back */
                        continue;
                }
                if (p->poll_due == 0)
                        p->poll_due = now + (uint64_t) interval_of(p) * SECOND_USEC * i / b->n_plugs;
                if (p->poll_due <= now && !p->poll_pending && (!next || p->poll_due < next->poll_due))
                        next = p;
        }
        /* one poll per call: the limiter spaces them, the owner comes back at the next wakeup */
        if (next && bridge_background_may_send(b, now) && polls_in_flight(b) < BRIDGE_POLLS_IN_FLIGHT_MAX)
                send_poll(b, next, now);
}

uint64_t bridge_poll_next_wakeup(const Bridge *b) {
        uint64_t t;

        background_refresh(b);
        t = b->background.poll_wake;
        if (b->background.poll_wake_now)
                t = MIN(t, bridge_now(b));
        if (t == UINT64_MAX)
                return t;
        if (polls_in_flight(b) >= BRIDGE_POLLS_IN_FLIGHT_MAX)
                return UINT64_MAX;      /* an answer frees a place; the regular tick picks it up */
        if (t != UINT64_MAX)
                t = MAX(t, b->background_next);
        return t;
}

void bridge_complete_poll(Bridge *b, Pending *pd, int error, const uint8_t *zcl, size_t len) {
        BridgePlug *p = bridge_find_plug(b, pd->ieee);
        Device *d = devdb_find_by_ieee(b->db, pd->ieee);
        uint8_t status;
        char ieee[19];

        if (!p || !d)
                return;
        p->poll_pending = false;
        bridge_background_times_changed(b);
        bridge_format_ieee(p->ieee, ieee);
        if (error < 0) {
                /* not a verdict on availability: the ping decides that */
                log_fields(LOG_DEBUG, error, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Power poll of '%s' failed: %s", d->friendly_name, bridge_error_text(error));
                return;
        }
        if (zcl && plug_action_response_status(&pd->action, zcl, len, &status) >= 0 && status != ZCL_STATUS_SUCCESS)
                log_fields(LOG_DEBUG, 0, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Power poll of '%s' answered with status 0x%02x", d->friendly_name, status);
        /* the value itself reaches bridge_on_zcl() and is published there */
}

uint64_t bridge_next_background_wakeup(const Bridge *b) {
        uint64_t t = MIN(bridge_poll_next_wakeup(b), bridge_settings_next_wakeup(b));

        if (bridge_discovery_queued(b))
                return 0;                       /* more discovery configs as soon as the loop is idle */
        t = MIN(t, bridge_discovery_end(b));    /* the end of the wait for retained configs, on time */
        return t;
}
