/*
 * The state message written straight from a PlugState (bridge_state_text) against the json-c path
 * it replaced: disc_json_sorted(plug_state_to_json() + bridge_ota_decorate_state()), byte for byte,
 * over many random states, fill_nulls, actions and OTA decorations.
 */
#undef NDEBUG
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge-private.h"
#include "devices/plug.h"
#include "ha-discovery.h"
#include "../test-random.h"

static uint64_t state = 88172645463325252u;
static uint64_t rnd(void) {
        return test_random(&state);
}

static double random_value(const PlugProperty *p) {
        uint64_t r = rnd();
        double v;

        if (p->kind != PROP_KIND_NUMERIC)
                return (double) (r % 2);
        switch (r % 5) {
        case 0: return (double) (int64_t) (rnd() % 100000) - 50000;
        case 1: return plug_round((double) (rnd() % 10000000) / 997.0, (int) (rnd() % 4));
        case 2: memcpy(&v, &r, sizeof(v)); return v;       /* any bits, NaN included */
        case 3: return (double) (rnd() % 1000) * 1e-7;
        default: return -(double) (rnd() % 100000) / 100.0;
        }
}

static const char *const strings[] = { "available", "idle", "updating", "sc\"h\\ed\n", "", "\x01\x1f" };

int main(void) {
        const PlugModel *m = &plug_model_zncz04lm;
        unsigned long compared = 0;

        for (int round = 0; round < 200000; round++) {
                BridgePlug p = { .model = m };
                PlugUpdate u = {};
                bool fill = rnd() % 2, db = rnd() % 3 == 0;
                json_object *o;
                char *want, *got;

                for (size_t i = 0; i < m->n_properties; i++)
                        if (rnd() % 3) {
                                p.state.known[i] = true;
                                p.state.value[i] = random_value(&m->properties[i]);
                        }
                if (rnd() % 3 == 0)
                        u.action = rnd() % 2 ? "on" : "off";
                if (rnd() % 2) {
                        p.ota.known = true;
                        snprintf(p.ota.state, sizeof(p.ota.state), "%s", strings[rnd() % 6]);
                        p.ota.installed = rnd() % 3 ? (int64_t) (rnd() % 0x7fffffff) : -1;
                        p.ota.latest = rnd() % 3 ? (int64_t) (rnd() % 0x7fffffff) : -1;
                        snprintf(p.ota.source, sizeof(p.ota.source), "%s", rnd() % 2 ? "" : "/var/lib/ota/plug \"1\".ota");
                        p.ota.have_progress = rnd() % 2;
                        p.ota.progress = rnd() % 2 ? (double) (rnd() % 10000) / 100.0 : (double) (rnd() % 101);
                        p.ota.remaining = (double) (rnd() % 5000);
                }

                o = plug_state_to_json(&p.state, m, fill, u.action ? &u : NULL);
                assert(o);
                assert(bridge_ota_decorate_state(&p, o, db) >= 0);
                want = disc_json_sorted(o);
                got = bridge_state_text(&p, fill, u.action ? &u : NULL, db);
                assert(want && got);
                if (strcmp(want, got) != 0) {
                        fprintf(stderr, "round %d:\n want %s\n got  %s\n", round, want, got);
                        abort();
                }
                compared++;
                free(want);
                free(got);
                json_object_put(o);
        }
        printf("%lu state messages identical\n", compared);
        return 0;
}
