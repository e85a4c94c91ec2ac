/*
 * The wait for retained Home Assistant discovery configs at every MQTT connect (Zigbee2MQTT's
 * onMQTTMessage and discover() in homeassistant.js): while it lasts, the configs the broker holds
 * under <prefix>/+/+/+/config are sorted into stale ones of ours (cleared at once) and current ones
 * (remembered by hash, so bridge_retained_take() spares publishing them again). It ends when the
 * broker has sent them all (the SUBACK fence, then BRIDGE_DISCOVERY_QUIET_USEC without one) or after
 * BRIDGE_DISCOVERY_WAIT_USEC; then the wildcard goes and every config is published as needed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge-private.h"
#include "util/log.h"
#include "util/macro.h"

/* FNV-1a, 64 bits */
static uint64_t text_hash(const char *s) {
        uint64_t h = 0xcbf29ce484222325ull;

        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 0x100000001b3ull;
        return h;
}

void bridge_retained_clear(Bridge *b) {
        free(b->retained);
        b->retained = NULL;
        b->n_retained = b->n_retained_alloc = 0;
}

static void retained_add(Bridge *b, const char *topic, const char *payload) {
        if (b->n_retained == b->n_retained_alloc) {
                size_t n = MAX(b->n_retained_alloc * 2, (size_t) 32);
                BridgeRetained *a = reallocarray(b->retained, n, sizeof(*a));

                if (!a)
                        return;         /* it is then published again: harmless */
                b->retained = a;
                b->n_retained_alloc = n;
        }
        b->retained[b->n_retained++] = (BridgeRetained) { text_hash(topic), text_hash(payload) };
}

static void our_topics_clear(Bridge *b) {
        free(b->our_topics);
        b->our_topics = NULL;
        b->n_our_topics = b->n_our_topics_alloc = 0;
}

static int our_topics_add(Bridge *b, uint64_t ieee, uint64_t topic_hash) {
        if (b->n_our_topics == b->n_our_topics_alloc) {
                size_t n = MAX(b->n_our_topics_alloc * 2, (size_t) 32);
                BridgeOurTopic *a = reallocarray(b->our_topics, n, sizeof(*a));

                if (!a)
                        return -ENOMEM;
                b->our_topics = a;
                b->n_our_topics_alloc = n;
        }
        b->our_topics[b->n_our_topics++] = (BridgeOurTopic) { ieee, topic_hash };
        return 0;
}

/* Whether the broker holds exactly this config (seen during the wait); forgotten once asked. Hashes:
 * two 64-bit ones that both match by chance are not a worry. */
bool bridge_retained_take(Bridge *b, const char *topic, const char *payload) {
        uint64_t th, ph;

        if (b->n_retained == 0)
                return false;
        th = text_hash(topic);
        ph = text_hash(payload);
        for (size_t i = 0; i < b->n_retained; i++)
                if (b->retained[i].topic_hash == th && b->retained[i].payload_hash == ph) {
                        b->retained[i] = b->retained[--b->n_retained];
                        return true;
                }
        return false;
}

static const DiscMessage *find_message(const DiscMessages *msgs, const char *topic) {
        for (size_t i = 0; i < msgs->n; i++)
                if (strcmp(msgs->items[i].topic, topic) == 0)
                        return &msgs->items[i];
        return NULL;
}

/* Whether topic is one of the configs we publish for the bridge (is_bridge) or the plug ieee. */
static bool is_our_topic(Bridge *b, uint64_t ieee, bool is_bridge, const char *topic) {
        _cleanup_(disc_messages_done) DiscMessages msgs = {};
        DiscConfig cfg = bridge_disc_config(b);
        uint64_t th = text_hash(topic);
        bool known = false;
        int r;

        for (size_t i = 0; i < b->n_our_topics; i++)
                if (b->our_topics[i].ieee == ieee) {
                        if (b->our_topics[i].topic_hash == th)
                                return true;
                        known = true;
                }
        if (known)
                return false;
        if (is_bridge)
                r = disc_bridge_messages(&cfg, DISC_BRIDGE_ALL, &msgs);
        else {
                BridgePlug *p = bridge_find_plug(b, ieee);
                Device *d = devdb_find_by_ieee(b->db, ieee);

                r = p && d ? bridge_plug_disc_messages(b, p, d, &msgs) : -ENOENT;
        }
        if (r < 0)
                return false;
        if (our_topics_add(b, ieee, 0) >= 0)
                for (size_t i = 0; i < msgs.n; i++)
                        if (our_topics_add(b, ieee, text_hash(msgs.items[i].topic)) < 0) {
                                b->n_our_topics = 0;    /* no memory: the next config builds them again */
                                break;
                        }
        return find_message(&msgs, topic) != NULL;
}

/* A retained config seen while we wait after connecting: ours but for nothing we would publish ->
 * clear; ours and identical to what we would publish -> not published again (Zigbee2MQTT's
 * onMQTTMessage and discover() in homeassistant.js). */
void bridge_on_discovery_message(Bridge *b, const char *topic, const char *payload) {
        _cleanup_free_ char *node = NULL;
        DiscConfig cfg = bridge_disc_config(b);
        const char *rest = topic + strlen(b->cfg.discovery_prefix) + 1, *s1, *s2, *s3, *id;
        bool mine = false;
        uint64_t ieee;

        if (!b->discovery_due || payload[0] == 0)
                return;         /* an empty one is a config being cleared, never a retained one */
        /* the broker sends a subscription's retained messages in one burst: the wait ends once they
         * stopped coming (bridge_discovery_end) */
        b->discovery_quiet_since = MAX(b->discovery_quiet_since, bridge_now(b));
        b->discovery_seen++;
        if (!disc_payload_is_ours(&cfg, payload))
                return;
        /* <component>/<node_id>/<object_id>/config */
        s1 = strchr(rest, '/');
        s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        s3 = s2 ? strchr(s2 + 1, '/') : NULL;
        if (!s3 || strcmp(s3, "/config") != 0)
                return;
        node = strndup(s1 + 1, (size_t) (s2 - s1 - 1));
        if (!node)
                return;
        id = strchr(node, '_') ? strchr(node, '_') + 1 : node;

        if (b->have_coordinator && strcmp(id, b->coordinator_ieee) == 0)
                mine = is_our_topic(b, b->coordinator.ieee, true, topic);
        else if (devdb_parse_ieee(id, &ieee) >= 0)
                mine = is_our_topic(b, ieee, false, topic);
        if (!mine) {
                log_fields(LOG_DEBUG, 0, &((LogFields) { .topic = topic }), "Clearing outdated Home Assistant config '%s'",
                           topic);
                (void) bridge_publish(b, topic, "", true, 1);
                b->discovery_cleared++;
        } else
                retained_add(b, topic, payload);        /* compared with ours when we publish */
}

uint64_t bridge_discovery_end(const Bridge *b) {
        if (!b->discovery_due || !b->connected)
                return UINT64_MAX;
        if (b->discovery_fenced)
                return MIN(b->discovery_due, b->discovery_quiet_since + BRIDGE_DISCOVERY_QUIET_USEC);
        return b->discovery_due;
}

void bridge_on_mqtt_subscribed(Bridge *b, const char *filter) {
        if (!b->discovery_due || b->discovery_fenced || !b->cfg.homeassistant ||
            strcmp(filter, b->cfg.ha_status_topic) != 0)
                return;
        b->discovery_fenced = true;
        b->discovery_quiet_since = MAX(b->discovery_quiet_since, bridge_now(b));
}

void bridge_discovery_wait_start(Bridge *b) {
        b->discovery_due = bridge_now(b) + BRIDGE_DISCOVERY_WAIT_USEC;
        b->discovery_fenced = false;
        b->discovery_quiet_since = 0;
        b->discovery_seen = b->discovery_cleared = 0;
        bridge_retained_clear(b);
        our_topics_clear(b);
}

void bridge_discovery_wait_end(Bridge *b, uint64_t now) {
        uint64_t took = now - (b->discovery_due - BRIDGE_DISCOVERY_WAIT_USEC);

        if (b->discovery_fenced && now < b->discovery_due)
                log_debug("Retained discovery configs collected: the broker sent them all (%u configs, %u stale "
                          "cleared, %zu current, %" PRIu64 " ms)", b->discovery_seen, b->discovery_cleared,
                          b->n_retained, took / 1000);
        else
                log_debug("Retained discovery configs collected: the %llu s wait is over (%u configs, %u stale "
                          "cleared, %zu current)", BRIDGE_DISCOVERY_WAIT_USEC / 1000000, b->discovery_seen,
                          b->discovery_cleared, b->n_retained);
        b->discovery_due = 0;
        our_topics_clear(b);
        bridge_unsubscribe_wildcard(b);
        bridge_discover_all(b);
}
