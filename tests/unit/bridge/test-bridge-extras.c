/*
 * Issue 12 at the bridge layer, against fake ops: energy_monotonic (the database is saved before the
 * corrected value is published; totals across a counter drop and a restart), power polls (spread,
 * limited, never faster than the interval, paused while unavailable, a failed one changes nothing
 * else) and the settings read-back with write-back. The cached earliest poll / read-back times
 * (Bridge.background) and the bound on the plugs' timers (Bridge.plug_timers_min) against a
 * recomputation over every plug, through random schedules.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bridge/bridge.h"
#include "bridge/bridge-private.h"
#include "util/log.h"
#include "../test-random.h"

#define BASE "zigbee2mqtt"
#define PLUG(i) (0x00158d0001a2b300ull + (i))
#define COORD 0x00124b0029a1b2c3ull
#define SEC 1000000ull
#define MS 1000ull

typedef struct Msg {
        char *topic, *payload;
} Msg;

typedef struct Sent {
        uint64_t token, ieee, at;
        PlugAction a;
        bool done;
} Sent;

static struct {
        Msg msgs[20000];
        size_t n_msgs;
        Sent actions[4096];
        size_t n_actions;
        uint64_t now;
        size_t saved_at;                /* n_msgs at the last urgent save */
        char dir[64];
        DevDb *db;
        Bridge *b;
        BridgeConfig cfg;
        BridgeDeviceConfig devs[16];
        bool record_pings;
        uint64_t pings[4096];           /* tokens of pings not answered yet (when recorded) */
        size_t n_pings;
} E;

static int fake_publish(void *u, const char *topic, const void *payload, size_t len, bool retain, int qos) {
        assert(E.n_msgs < ELEMENTSOF(E.msgs));
        E.msgs[E.n_msgs++] = (Msg) { .topic = strdup(topic), .payload = strndup(payload, len) };
        return 0;
}

static int fake_subscribe(void *u, const char *topic) {
        return 0;
}

static int fake_send_action(void *u, uint64_t ieee, uint16_t nwk, const PlugAction *a, uint64_t token) {
        assert(E.n_actions < ELEMENTSOF(E.actions));
        E.actions[E.n_actions++] = (Sent) { .token = token, .ieee = ieee, .a = *a, .at = E.now };
        return 0;
}

static int fake_ping(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) {
        if (E.record_pings) {
                assert(E.n_pings < ELEMENTSOF(E.pings));
                E.pings[E.n_pings++] = token;
        }
        return 0;
}

static int fake_permit_join(void *u, unsigned seconds, uint64_t token) {
        return 0;
}

static int fake_remove(void *u, uint64_t ieee, uint16_t nwk, uint64_t token) {
        return 0;
}

static uint64_t fake_now(void *u) {
        return E.now;
}

static void fake_restart(void *u) {
}

/* as the daemon's owner: an urgent change is written at once */
static void fake_devdb_changed(void *u, bool urgent) {
        if (urgent) {
                assert(devdb_save(E.db) == 0);
                E.saved_at = E.n_msgs;
        }
}

static const BridgeMqttOps mqtt_ops = { fake_publish, fake_subscribe, NULL };
static const BridgeZigbeeOps zigbee_ops = { fake_send_action, fake_ping, fake_permit_join, fake_remove };
static const BridgeOwnerOps owner_ops = { .now = fake_now, .restart = fake_restart, .devdb_changed = fake_devdb_changed };

static void start(size_t n_devs) {
        BridgeCoordinator c = { .ieee = COORD, .type = "ZStack3x0", .revision = 20240710, .channel = 11, .pan_id = 1 };

        E.cfg = (BridgeConfig) { .base_topic = BASE, .retain_state = true, .availability = true,
                                 .devices = E.devs, .n_devices = n_devs };
        assert(bridge_new(&E.b, &E.cfg, E.db, &mqtt_ops, &zigbee_ops, &owner_ops, NULL) == 0);
        bridge_set_coordinator(E.b, &c);
        assert(bridge_on_mqtt_connected(E.b) == 0);
}

static void stop(void) {
        E.b = bridge_free(E.b);
        E.record_pings = false;
        E.n_pings = 0;
        for (size_t i = 0; i < E.n_msgs; i++) {
                free(E.msgs[i].topic);
                free(E.msgs[i].payload);
        }
        E.n_msgs = E.n_actions = 0;
}

static void env_new(void) {
        snprintf(E.dir, sizeof(E.dir), "/tmp/test-bridge-extras-XXXXXX");
        assert(mkdtemp(E.dir));
        assert(devdb_new(&E.db, E.dir) == 0);
        E.now = 1700000000ull * SEC;
        memset(E.devs, 0, sizeof(E.devs));
}

static void env_free(void) {
        char cmd[128];

        stop();
        E.db = devdb_free(E.db);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
        assert(system(cmd) == 0);
}

static void pair(uint64_t ieee, uint16_t nwk) {
        InterviewResult r = {
                .ieee = ieee, .nwk = nwk, .success = true, .failed_step = INTERVIEW_DONE,
                .node = { .logical_type = 1, .mac_capabilities = 0x8e, .manufacturer_code = 0x115f },
                .n_endpoints = 3, .basic_endpoint = 1,
                .endpoints = {
                        { .endpoint = 1, .profile = 260, .device_id = 0x51, .n_in = 7,
                          .in = { 0x0000, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0xFCC0 } },
                        { .endpoint = 21, .profile = 260, .device_id = 0x51, .n_in = 1, .in = { 0x000C } },
                        { .endpoint = 22, .profile = 260, .device_id = 0x51, .n_in = 1, .in = { 0x000C } },
                },
                .power_source = 1, .have = 1u << INTERVIEW_ATTR_MODEL_ID,
        };

        snprintf(r.model_id, sizeof(r.model_id), "lumi.plug.mmeu01");
        assert(bridge_on_device_joined(E.b, ieee, nwk) == 0);
        assert(bridge_on_interview_started(E.b, ieee, nwk) == 0);
        assert(bridge_on_interview_done(E.b, &r) == 0);
}

static size_t last_index(const char *topic) {
        for (size_t i = E.n_msgs; i > 0; i--)
                if (strcmp(E.msgs[i - 1].topic, topic) == 0)
                        return i - 1;
        assert(!"no message on the topic");
        return 0;
}

static double state_number(uint64_t ieee, const char *key, bool *ret_present) {
        char topic[64];
        json_object *o, *v;
        double d = 0;

        snprintf(topic, sizeof(topic), BASE "/0x%016llx", (unsigned long long) ieee);
        o = json_tokener_parse(E.msgs[last_index(topic)].payload);
        assert(o);
        *ret_present = json_object_object_get_ex(o, key, &v) && v;
        if (*ret_present)
                d = json_object_get_double(v);
        json_object_put(o);
        return d;
}

/* A 0xFCC0 report of the TLV blob with only the energy tag (0x95, single). */
static void report_energy(uint64_t ieee, float kwh) {
        uint8_t f[] = { 0x1C, 0x5F, 0x11, 0x01, 0x0A, 0xF7, 0x00, 0x41, 6, 0x95, 0x39, 0, 0, 0, 0 };

        memcpy(f + 11, &kwh, 4);        /* little-endian host */
        assert(bridge_on_zcl(E.b, ieee, 1, 0xFCC0, f, sizeof(f), 100) == 0);
}

static bool near(double a, double b) {
        return a - b < 1e-4 && b - a < 1e-4;
}

static void test_energy_monotonic(void) {
        bool present;
        size_t before;
        char *text;
        char path[128];
        FILE *f;
        long n;

        env_new();
        E.devs[0] = (BridgeDeviceConfig) { .ieee = PLUG(1), .energy_monotonic = true };
        E.devs[1] = (BridgeDeviceConfig) { .ieee = PLUG(2) };
        start(2);
        pair(PLUG(1), 0x1001);
        pair(PLUG(2), 0x1002);

        report_energy(PLUG(1), 5.0f);
        assert(near(state_number(PLUG(1), "energy", &present), 5.0) && present);
        assert(near(state_number(PLUG(1), "energy_device", &present), 5.0) && present);
        /* the option off: Zigbee2MQTT's payload, no energy_device */
        report_energy(PLUG(2), 5.0f);
        report_energy(PLUG(2), 0.25f);
        assert(near(state_number(PLUG(2), "energy", &present), 0.25));
        state_number(PLUG(2), "energy_device", &present);
        assert(!present);

        /* the drop: saved first, published after */
        before = E.n_msgs;
        report_energy(PLUG(1), 0.25f);
        assert(E.saved_at >= before && E.saved_at <= last_index(BASE "/0x00158d0001a2b301"));
        assert(near(state_number(PLUG(1), "energy", &present), 5.25));
        assert(near(state_number(PLUG(1), "energy_device", &present), 0.25));
        assert(near(state_number(PLUG(1), "consumption", &present), 5.25));
        snprintf(path, sizeof(path), "%s/devices.json", E.dir);
        assert((f = fopen(path, "re")));
        text = calloc(1, 1 << 20);
        n = (long) fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
        assert(n > 0 && strstr(text, "\"energy_counter\"") && strstr(text, "\"offset\": 5"));
        assert(strstr(text, "\"energy\": 5.25"));   /* the state that is published is the saved one */
        free(text);

        /* a restart keeps the offset: counting goes on from the total */
        stop();
        start(2);
        report_energy(PLUG(1), 0.5f);
        assert(near(state_number(PLUG(1), "energy", &present), 5.5));
        /* noise just below the mark: the total holds */
        report_energy(PLUG(1), 0.4999f);
        assert(near(state_number(PLUG(1), "energy", &present), 5.5));
        /* the option turned off: the raw counter is no longer published */
        stop();
        E.devs[0].energy_monotonic = false;
        start(2);
        report_energy(PLUG(1), 0.6f);
        assert(near(state_number(PLUG(1), "energy", &present), 0.6));
        state_number(PLUG(1), "energy_device", &present);
        assert(!present);
        env_free();
}

static bool is_poll(const Sent *s) {
        return s->a.cluster == 0x000C && s->a.kind == PLUG_ACTION_READ;
}

/* Advance the clock in 5 ms steps, ticking as an owner that honours bridge_next_wakeup(); answer
 * polls at once (unless fail), leave the settings reads unanswered (they stay in flight). */
static void run(uint64_t usec, bool fail) {
        uint64_t end = E.now + usec;

        while (E.now < end) {
                E.now += 5 * MS;
                if (bridge_next_wakeup(E.b) <= E.now)
                        bridge_tick(E.b);
                for (size_t i = 0; i < E.n_actions; i++) {
                        Sent *s = &E.actions[i];
                        uint8_t rsp[] = { 0x08, 0x01, 0x01, 0x55, 0x00, 0x00, 0x39, 0, 0, 0x48, 0x42 };  /* 50 W */

                        if (s->done || !is_poll(s))
                                continue;
                        s->done = true;
                        if (fail)
                                bridge_complete(E.b, s->token, -ETIMEDOUT, NULL, 0);
                        else {
                                bridge_complete(E.b, s->token, 0, rsp, sizeof(rsp));
                                assert(bridge_on_zcl(E.b, s->ieee, s->a.endpoint, 0x000C, rsp, sizeof(rsp), 90) == 0);
                        }
                }
        }
}

static size_t polls_of(uint64_t ieee, uint64_t *times, size_t max) {
        size_t n = 0;

        for (size_t i = 0; i < E.n_actions; i++)
                if (is_poll(&E.actions[i]) && E.actions[i].ieee == ieee) {
                        assert(E.actions[i].a.endpoint == 21 && E.actions[i].a.attribute == 0x0055);
                        if (n < max)
                                times[n] = E.actions[i].at;
                        n++;
                }
        return n;
}

static void test_power_polls(void) {
        const size_t N = 12;
        uint64_t t[64];
        size_t before;

        env_new();
        for (size_t i = 0; i < N; i++)
                E.devs[i] = (BridgeDeviceConfig) { .ieee = PLUG(i + 1), .power_poll_interval = i < N - 1 ? 5 : 0 };
        start(N);
        for (size_t i = 0; i < N; i++)
                pair(PLUG(i + 1), (uint16_t) (0x2000 + i));
        run(31 * SEC, false);

        /* background reads (polls and settings reads) never closer than 50 ms */
        for (size_t i = 1; i < E.n_actions; i++)
                assert(E.actions[i].at - E.actions[i - 1].at >= BRIDGE_BACKGROUND_GAP_USEC);
        for (size_t i = 0; i < N - 1; i++) {
                size_t n = polls_of(PLUG(i + 1), t, ELEMENTSOF(t));

                assert(n >= 5 && n <= 7);
                for (size_t k = 1; k < n; k++)
                        assert(t[k] - t[k - 1] >= 5 * SEC && t[k] - t[k - 1] < 6 * SEC);
        }
        assert(polls_of(PLUG(N), t, ELEMENTSOF(t)) == 0);
        /* spread: the first polls of the plugs are not all in one second */
        {
                uint64_t lo = UINT64_MAX, hi = 0;
                for (size_t i = 0; i < N - 1; i++) {
                        assert(polls_of(PLUG(i + 1), t, 1) > 0);
                        lo = t[0] < lo ? t[0] : lo;
                        hi = t[0] > hi ? t[0] : hi;
                }
                /* phases i/12 of 5 s: 0 .. 4.2 s (the settings reads go first at the start) */
                assert(hi - lo >= 3 * SEC);
        }

        /* failed polls: logged, nothing else (no offline) */
        before = E.n_msgs;
        run(12 * SEC, true);
        for (size_t i = before; i < E.n_msgs; i++)
                assert(!strstr(E.msgs[i].topic, "/availability") || !strstr(E.msgs[i].payload, "offline"));

        /* unavailable: no polls */
        bridge_on_coordinator_lost(E.b);
        before = E.n_actions;
        run(12 * SEC, false);
        for (size_t i = before; i < E.n_actions; i++)
                assert(!is_poll(&E.actions[i]));
        env_free();
}

static void test_settings_read_back_and_enforced(void) {
        bool present;
        size_t reads = 0;

        env_new();
        E.devs[0] = (BridgeDeviceConfig) { .ieee = PLUG(1), .enforce_settings = true,
                                           .settings = { [0] = { true, 1 }, [3] = { true, 1000 } } };
        start(1);
        pair(PLUG(1), 0x3001);
        /* answer each read with the factory value, as a plug that lost its settings */
        for (int round = 0; round < 400 && reads < 6; round++) {
                E.now += 10 * MS;
                bridge_tick(E.b);
                for (size_t i = 0; i < E.n_actions; i++) {
                        Sent *s = &E.actions[i];

                        if (s->done)
                                continue;
                        s->done = true;
                        if (s->a.kind == PLUG_ACTION_READ) {
                                uint16_t at = s->a.attribute;
                                uint8_t b[] = { 0x1C, 0x5F, 0x11, 0x01, 0x01, at & 0xff, at >> 8, 0x00, 0x10, 0 };
                                uint8_t fl[] = { 0x1C, 0x5F, 0x11, 0x01, 0x01, at & 0xff, at >> 8, 0x00, 0x39,
                                                 0x00, 0xC0, 0x0F, 0x45 };       /* 2300.0 */

                                reads++;
                                if (at == 0x020B) {
                                        bridge_complete(E.b, s->token, 0, fl, sizeof(fl));
                                        assert(bridge_on_zcl(E.b, s->ieee, 1, 0xFCC0, fl, sizeof(fl), 90) == 0);
                                } else {
                                        bridge_complete(E.b, s->token, 0, b, sizeof(b));
                                        assert(bridge_on_zcl(E.b, s->ieee, 1, 0xFCC0, b, sizeof(b), 90) == 0);
                                }
                        } else {
                                uint8_t ok[] = { 0x1C, 0x5F, 0x11, 0x01, 0x04, 0x00 };

                                assert(s->a.kind == PLUG_ACTION_WRITE);
                                reads += 1;
                                bridge_complete(E.b, s->token, 0, ok, sizeof(ok));
                        }
                }
        }
        /* 4 reads, then the 2 writes the configuration asks for; nothing more */
        assert(E.n_actions == 6);
        assert(E.actions[4].a.kind == PLUG_ACTION_WRITE && E.actions[4].a.attribute == 0x0203);
        assert(E.actions[5].a.kind == PLUG_ACTION_WRITE && E.actions[5].a.attribute == 0x020B);
        assert(near(state_number(PLUG(1), "led_disabled_night", &present), 1) && present);     /* true */
        assert(near(state_number(PLUG(1), "overload_protection", &present), 1000) && present);
        assert(near(state_number(PLUG(1), "auto_off", &present), 0) && present);
        env_free();
}

/* The wakeups as they were computed before the cache: a look at every plug. */
static bool brute_may_poll(const Bridge *b, const BridgePlug *p) {
        return p->config && p->config->power_poll_interval > 0 && !p->poll_unsupported && b->have_coordinator &&
               bridge_plug_available(b, p);
}

static uint64_t brute_poll_wakeup(const Bridge *b) {
        uint64_t t = UINT64_MAX;
        unsigned in_flight = 0;

        for (size_t i = 0; i < BRIDGE_PENDING_MAX; i++)
                if (b->pending[i] && b->pending[i]->kind == PENDING_POLL)
                        in_flight++;
        if (in_flight >= BRIDGE_POLLS_IN_FLIGHT_MAX)
                return t;
        for (size_t i = 0; i < b->n_plugs; i++) {
                const BridgePlug *p = b->plugs[i];

                if (!p->poll_pending && brute_may_poll(b, p))
                        t = MIN(t, p->poll_due ? p->poll_due : E.now);
        }
        return t == UINT64_MAX ? t : MAX(t, b->background_next);
}

static uint64_t brute_settings_wakeup(const Bridge *b) {
        uint64_t t = UINT64_MAX;

        for (size_t i = 0; i < b->n_plugs; i++) {
                const BridgePlug *p = b->plugs[i];

                if (p->settings_needed && !p->settings_busy && b->have_coordinator && bridge_plug_available(b, p))
                        t = MIN(t, p->settings_due);
        }
        return t == UINT64_MAX ? t : MAX(t, b->background_next);
}

/* The cache agrees with the recomputation, and a skipped tick would have had nothing to do. */
static void check_background(Bridge *b) {
        uint64_t poll_tick = UINT64_MAX;

        assert(bridge_poll_next_wakeup(b) == brute_poll_wakeup(b));
        assert(bridge_settings_next_wakeup(b) == brute_settings_wakeup(b));
        assert(!b->background.stale);
        for (size_t i = 0; i < b->n_plugs; i++) {
                const BridgePlug *p = b->plugs[i];

                if (brute_may_poll(b, p) && (p->poll_due == 0 || !p->poll_pending))
                        poll_tick = MIN(poll_tick, p->poll_due);
                /* without a rescan pending, paused plugs were already set back to "no phase" */
                if (!b->background.poll_rescan && !brute_may_poll(b, p))
                        assert(p->poll_due == 0);
                assert(bridge_find_plug(b, p->ieee) == p);     /* the index by IEEE */
                /* the tick's bound on the plugs' own timers holds: a skipped look had nothing due */
                assert(!p->rediscover_at || p->rediscover_at >= b->plug_timers_min);
                assert(!p->retrieve_at || p->retrieve_at >= b->plug_timers_min);
                assert(!p->next_check || p->next_check >= b->plug_timers_min);
        }
        assert(b->background.poll_tick == poll_tick);
}

static void test_background_cache_random(void) {
        const size_t N = 16;
        uint64_t rng = 88172645463325252ull;
        size_t polls = 0, settings = 0, answered = 0;
        bool coordinator = true;

        log_set_max_level(LOG_CRIT);    /* the unanswered state reads are logged as errors */
        env_new();
        for (size_t i = 0; i < N; i++)
                E.devs[i] = (BridgeDeviceConfig) { .ieee = PLUG(i + 1), .power_poll_interval = (unsigned) (i % 4),
                                                   .enforce_settings = i % 3 == 0,
                                                   .settings = { [0] = { true, 1 } } };
        start(N);
        E.record_pings = true;
        for (size_t i = 0; i < N; i++) {
                pair(PLUG(i + 1), (uint16_t) (0x4000 + i));
                check_background(E.b);
        }
        for (unsigned step = 0; step < 6000; step++) {
                unsigned op;

                (void) test_random(&rng);
                op = (unsigned) (rng % 16);
                if (op < 7) {
                        E.now += rng % 2 ? (rng >> 8) % (800 * MS) : bridge_poll_next_wakeup(E.b) > E.now ?
                                 MIN(bridge_poll_next_wakeup(E.b) - E.now, 3 * SEC) : 0;
                        bridge_tick(E.b);
                } else if (op < 11) {
                        /* answer (or fail) an action in flight */
                        for (size_t k = 0; k < E.n_actions; k++) {
                                Sent *s = &E.actions[(k + (rng >> 16)) % E.n_actions];

                                if (s->done)
                                        continue;
                                s->done = true;
                                answered++;
                                if (is_poll(s))
                                        polls++;
                                else if (s->a.cluster == 0xFCC0)
                                        settings++;
                                bridge_complete(E.b, s->token, (rng >> 20) % 3 == 0 ? -ETIMEDOUT : 0, NULL, 0);
                                break;
                        }
                } else if (op < 13 && E.n_pings > 0) {
                        /* a ping answered or timed out: the plug comes online or goes offline */
                        size_t k = (rng >> 16) % E.n_pings;
                        uint64_t token = E.pings[k];

                        E.pings[k] = E.pings[--E.n_pings];
                        bridge_complete(E.b, token, (rng >> 24) % 2 ? -ETIMEDOUT : 0, NULL, 0);
                } else if (op == 13) {
                        report_energy(PLUG(1 + (rng >> 16) % N), 1.5f);
                } else if (op == 14) {
                        bridge_settings_request(E.b, E.b->plugs[(rng >> 16) % E.b->n_plugs], (rng >> 24) % (3 * SEC));
                } else if ((rng >> 16) % 8 == 0) {
                        BridgeCoordinator c = { .ieee = COORD, .type = "ZStack3x0", .revision = 20240710,
                                                .channel = 11, .pan_id = 1 };

                        if (coordinator)
                                bridge_on_coordinator_lost(E.b);
                        else {
                                bridge_set_coordinator(E.b, &c);
                                bridge_on_coordinator_restored(E.b);
                        }
                        coordinator = !coordinator;
                }
                check_background(E.b);
        }
        /* the schedule did exercise polls, read-backs and their answers */
        assert(polls > 50 && settings > 20 && answered > 100);
        env_free();
        log_set_max_level(LOG_ERR);
}

int main(void) {
        log_set_max_level(LOG_ERR);
        test_energy_monotonic();
        test_power_polls();
        test_settings_read_back_and_enforced();
        test_background_cache_random();
        printf("ok\n");
        return 0;
}
