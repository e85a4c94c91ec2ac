/*
 * Settings that stay true (issue 12): the plug's four settings (led_disabled_night,
 * power_outage_memory, auto_off, overload_protection: Lumi 0xFCC0 attributes, read with the
 * manufacturer code) are read back after pairing, after every start of the daemon (once the
 * coordinator is up and the plug available) and after the plug announces itself again (a power
 * cycle, a rejoin). The answers are published like any read response, so the state never shows
 * a stale or missing setting. With [device] enforce_settings, a setting the INI gives and the plug
 * no longer has is written back (and logged).
 *
 * One plug does one step at a time (read 1..4, then the writes), each through the background
 * limiter of bridge-poll.c, so 200 plugs coming back together never burst the coordinator. A read
 * that fails is retried later with a growing delay; it does not make the plug unavailable.
 *
 * Order of events: the host completes a read (bridge_complete) before handing the same answer to
 * bridge_on_zcl, so a step's value is in the state only after this dispatch; the next step (and the
 * comparison for write-back) waits for the next tick.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bridge/bridge-private.h"
#include "util/log.h"

#define SECOND_USEC 1000000ull
#define RETRY_MIN_USEC (15 * SECOND_USEC)
#define RETRY_MAX_USEC (600 * SECOND_USEC)

const char *const bridge_setting_names[BRIDGE_SETTINGS_MAX] = {
        "led_disabled_night", "power_outage_memory", "auto_off", "overload_protection",
};

void bridge_settings_request(Bridge *b, BridgePlug *p, uint64_t delay_usec) {
        uint64_t due = bridge_now(b) + delay_usec;

        /* a read-back already under way starts over (the plug may have lost what was read) */
        p->settings_needed = true;
        p->settings_round++;
        p->settings_step = 0;
        p->settings_failures = 0;
        p->settings_due = due;
        bridge_background_times_changed(b);
}

/* Pending.seconds of a step: which read-back round and which step it belongs to. */
static unsigned tag_of(const BridgePlug *p, unsigned step) {
        return (p->settings_round & 0xffffffu) << 8 | (step & 0xffu);
}

static void device_endpoints(const Device *d, PlugEndpoint *eps, size_t *n) {
        *n = 0;
        for (size_t i = 0; i < d->n_endpoints && i < DEVDB_ENDPOINTS_MAX; i++)
                eps[(*n)++] = (PlugEndpoint) { .id = d->endpoints[i].id, .in_clusters = d->endpoints[i].in,
                                               .n_in_clusters = d->endpoints[i].n_in };
}

static bool differs(const PlugProperty *prop, double have, double want) {
        if (prop->kind == PROP_KIND_NUMERIC)
                return fabs(have - want) >= 0.5;
        return (have != 0) != (want != 0);
}

/* The next write-back after step (index into bridge_setting_names), or BRIDGE_SETTINGS_MAX. */
static unsigned next_write(const BridgePlug *p, unsigned from) {
        const BridgeDeviceConfig *c = p->config;

        if (!c || !c->enforce_settings)
                return BRIDGE_SETTINGS_MAX;
        for (unsigned i = from; i < BRIDGE_SETTINGS_MAX; i++) {
                size_t row;
                const PlugProperty *prop = plug_model_property(p->model, bridge_setting_names[i], &row);

                if (c->settings[i].set && prop && p->state.known[row] &&
                    differs(prop, p->state.value[row], c->settings[i].value))
                        return i;
        }
        return BRIDGE_SETTINGS_MAX;
}

static void format_value(const PlugProperty *prop, double v, char *buf, size_t size) {
        if (prop->kind == PROP_KIND_NUMERIC)
                (void) plug_format_number(v, buf, size);
        else
                snprintf(buf, size, "%s", v != 0 ? "true" : "false");
}

static void send_step(Bridge *b, BridgePlug *p, Device *d, uint64_t now) {
        PlugEndpoint eps[DEVDB_ENDPOINTS_MAX];
        unsigned step = p->settings_step;
        bool write = step >= BRIDGE_SETTINGS_MAX;
        unsigned which = write ? step - BRIDGE_SETTINGS_MAX : step;
        const char *name = bridge_setting_names[which];
        char payload[96], have[32], want[32], ieee[19];
        const PlugProperty *prop;
        PlugRequest req;
        Pending *pd;
        size_t n, row;
        int r;

        prop = plug_model_property(p->model, name, &row);
        if (!prop) {
                p->settings_step++;
                return;
        }
        device_endpoints(d, eps, &n);
        bridge_format_ieee(p->ieee, ieee);
        if (write) {
                format_value(prop, p->config->settings[which].value, want, sizeof(want));
                format_value(prop, p->state.value[row], have, sizeof(have));
                snprintf(payload, sizeof(payload), "{\"%s\": %s}", name, want);
                r = plug_parse_set(p->model, NULL, payload, strlen(payload), &p->state, eps, n, &req);
        } else {
                snprintf(payload, sizeof(payload), "{\"%s\": \"\"}", name);
                r = plug_parse_get(p->model, NULL, payload, strlen(payload), eps, n, &req);
        }
        if (r < 0 || req.n_actions != 1) {
                log_fields(LOG_WARNING, 0, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Cannot %s '%s' of '%s': %s", write ? "write" : "read", name, d->friendly_name,
                           req.n_errors > 0 ? req.errors[0].message : "no request");
                p->settings_step++;
                return;
        }
        pd = bridge_pending_new(b, PENDING_SETTINGS, p->ieee);
        if (!pd) {
                p->settings_due = now + SECOND_USEC;    /* every slot busy: a bit later */
                return;
        }
        pd->action = req.actions[0];
        pd->is_get = !write;
        pd->seconds = tag_of(p, step);
        snprintf(pd->key, sizeof(pd->key), "%s", name);
        bridge_background_sent(b, now);
        if (write)
                log_fields(LOG_NOTICE, 0, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "'%s' lost its setting %s (it has %s, the configuration says %s): writing it back",
                           d->friendly_name, name, have, want);
        p->settings_busy = true;
        r = b->zigbee.send_action(b->userdata, p->ieee, d->nwk, &pd->action, pd->token);
        if (r < 0) {
                Pending copy = *pd;

                bridge_pending_free(pd);
                bridge_complete_settings(b, &copy, r, NULL, 0);
        }
}

static bool settings_ready(const Bridge *b, const BridgePlug *p, uint64_t now) {
        return p->settings_needed && !p->settings_busy && now >= p->settings_due && b->have_coordinator &&
               bridge_plug_available(b, p);
}

void bridge_settings_tick(Bridge *b, uint64_t now) {
        if (!b->zigbee.send_action)
                return;
        /* no plug ready before the earliest due time: the look at every plug would do nothing */
        if (bridge_settings_earliest(b) > now || !bridge_background_may_send(b, now))
                return;
        bridge_background_times_changed(b);   /* steps sent, read-backs finished below */
        for (size_t i = 0; i < b->n_plugs && bridge_background_may_send(b, now); i++) {
                BridgePlug *p = b->plugs[i];
                Device *d;

                if (!settings_ready(b, p, now))
                        continue;
                d = bridge_plug_device(b, p);
                if (!d) {
                        p->settings_needed = false;
                        continue;
                }
                /* after the reads: the writes that are needed, then done */
                if (p->settings_step >= BRIDGE_SETTINGS_MAX) {
                        unsigned w = next_write(p, p->settings_step - BRIDGE_SETTINGS_MAX);

                        if (w >= BRIDGE_SETTINGS_MAX) {
                                p->settings_needed = false;
                                p->settings_due = 0;
                                continue;
                        }
                        p->settings_step = BRIDGE_SETTINGS_MAX + w;
                }
                send_step(b, p, d, now);
        }
}

uint64_t bridge_settings_next_wakeup(const Bridge *b) {
        uint64_t t = UINT64_MAX;

        if (!b->zigbee.send_action)
                return t;
        t = bridge_settings_earliest(b);
        if (t != UINT64_MAX)
                t = MAX(t, b->background_next);
        return t;
}

void bridge_complete_settings(Bridge *b, Pending *pd, int error, const uint8_t *zcl, size_t len) {
        BridgePlug *p = bridge_find_plug(b, pd->ieee);
        Device *d = devdb_find_by_ieee(b->db, pd->ieee);
        uint64_t now = bridge_now(b), delay;
        uint8_t status = ZCL_STATUS_SUCCESS;
        char ieee[19];
        int r;

        if (!p || !d)
                return;
        p->settings_busy = false;
        bridge_background_times_changed(b);
        bridge_format_ieee(p->ieee, ieee);
        if (error >= 0 && zcl) {
                r = plug_action_response_status(&pd->action, zcl, len, &status);
                if (r < 0)
                        error = r;
        } else if (error >= 0)
                error = -EBADMSG;
        if (error < 0) {
                /* try this step again later; availability is not judged here */
                delay = RETRY_MIN_USEC << MIN(p->settings_failures, 6u);
                p->settings_failures++;
                p->settings_due = now + MIN(delay, RETRY_MAX_USEC);
                if (tag_of(p, p->settings_step) != pd->seconds)
                        return;         /* a new read-back started meanwhile: it goes on as planned */
                log_fields(LOG_INFO, error, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Could not %s '%s' of '%s' (%s), trying again in %u s",
                           pd->is_get ? "read" : "write", pd->key, d->friendly_name, bridge_error_text(error),
                           (unsigned) (MIN(delay, RETRY_MAX_USEC) / SECOND_USEC));
                return;
        }
        p->settings_failures = 0;
        if (status != ZCL_STATUS_SUCCESS)
                log_fields(LOG_INFO, 0, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "'%s' answered status 0x%02x to %s '%s'", d->friendly_name, status,
                           pd->is_get ? "reading" : "writing", pd->key);
        else if (!pd->is_get && plug_state_apply_confirmed(&p->state, p->model, &pd->action) >= 0)
                (void) bridge_publish_state(b, p, NULL);
        /* a read's value is published by bridge_on_zcl() right after this; the next step at the next tick */
        if (tag_of(p, p->settings_step) == pd->seconds) {      /* unless a new read-back started meanwhile */
                p->settings_step++;
                p->settings_due = now;
        }
}
