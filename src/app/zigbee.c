/*
 * The Zigbee service (see zigbee.h): coordinator link life cycle, Host <-> Bridge glue, saves. The OTA
 * server's glue is in zigbee-ota.c; what both share is in zigbee-private.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "app/zigbee-private.h"
#include "app/zigbee.h"
#include "bridge/bridge.h"
#include "host/host.h"
#include "manager.h"
#include "ota/ota-server.h"
#include "store/devdb.h"
#include "util/log.h"
#include "zigbee/zcl.h"
#include "znp/transport.h"
#include "znp/znp.h"
#include "znp/zstack.h"

#define USEC_PER_SEC 1000000ULL
#define RETRY_MIN_USEC (1 * USEC_PER_SEC)
#define RETRY_MAX_USEC (30 * USEC_PER_SEC)
/* devices.json: structural changes (pairing, rename, remove, interview, options, the energy counter,
 * the network) are written within SAVE_DELAY_USEC; when only states and last-seen times changed,
 * within STATE_SAVE_DELAY_USEC (as Zigbee2MQTT writes its state.json every 5 minutes). A clean stop
 * writes everything; the plugs report their state again after a crash anyway. */
#define SAVE_DELAY_USEC (5 * USEC_PER_SEC)
#define STATE_SAVE_DELAY_USEC (300 * USEC_PER_SEC)

static void link_failed(ZigbeeService *z, int error, const char *kind, const char *cmd, const char *what);
static void coordinator_up(ZigbeeService *z, const ZstackInfo *info);

static char *mfree(char *p) {
        free(p);
        return NULL;
}

static void format_ieee(uint64_t ieee, char buf[static 19]) {
        (void) snprintf(buf, 19, "0x%016" PRIx64, ieee);
}

const char *zigbee_ieee_string(uint64_t ieee, char buf[static 19]) {
        format_ieee(ieee, buf);
        return buf;
}

const char *zigbee_device_name(const ZigbeeService *z, uint64_t ieee) {
        const Device *d = z->db ? devdb_find_by_ieee(z->db, ieee) : NULL;

        return d ? d->friendly_name : NULL;
}

/* The plug counts of STATUS=, from the bridge's availability. */
static void op_plugs_changed(void *userdata) {
        ZigbeeService *z = userdata;
        unsigned plugs, online;

        if (!z->bridge)
                return;         /* bridge_new() loading the database: counted once it is there */
        bridge_count_plugs(z->bridge, &plugs, &online);
        manager_set_plug_counts(z->m, plugs, online, true);    /* the bridge checks availability always */
}

int zigbee_service_save(ZigbeeService *z) {
        int r;

        if (!z || !z->db || !devdb_is_dirty(z->db))
                return 0;
        r = devdb_save(z->db);
        if (r < 0)
                log_fields(LOG_ERR, r, &((LogFields) { .error = "database-save-failed" }),
                           "Cannot save the device database: %s", devdb_last_error(z->db) ?: "");
        return r;
}

/*
 * Work slots
 */

static Op *op_new(ZigbeeService *z, OpKind kind, uint64_t token, uint64_t ieee) {
        for (size_t i = 0; i < OPS_MAX; i++)
                if (z->ops[i].kind == OP_NONE) {
                        z->ops[i] = (Op) { .z = z, .kind = kind, .token = token, .ieee = ieee };
                        return &z->ops[i];
                }
        return NULL;
}

static void tick_soon(ZigbeeService *z);

/* Frees the slot, then tells the Bridge (which may start new work in the freed slot). */
static void op_complete(Op *op, int error, const uint8_t *zcl, size_t len) {
        ZigbeeService *z = op->z;
        uint64_t token = op->token;

        *op = (Op) {};
        if (z->bridge) {
                bridge_complete(z->bridge, token, error, zcl, len);
                tick_soon(z);   /* an answer may make the next background read due (settings read-back) */
        }
}

/* After the Host is gone nothing completes what it held: fail it here. */
static void ops_fail_all(ZigbeeService *z, int error) {
        for (size_t i = 0; i < OPS_MAX; i++)
                if (z->ops[i].kind != OP_NONE)
                        op_complete(&z->ops[i], error, NULL, 0);
}

/*
 * Bridge -> Host
 */

bool zigbee_host_usable(ZigbeeService *z) {
        return z->host && z->link == LINK_UP;
}

static void on_zcl_done(Host *h, int error, uint8_t af_status, const HostZclMessage *response, void *userdata) {
        Op *op = userdata;
        char s[19];

        /* The coordinator's part of a failure, with its status; the bridge logs what it means for the
         * command. An unanswered ping of a plug that is away is routine: debug. */
        if (error < 0 && error != -ECONNRESET && af_status != 0)
                log_fields(op->ping ? LOG_DEBUG : LOG_INFO, error,
                           &((LogFields) { .device = zigbee_ieee_string(op->ieee, s), .name = zigbee_device_name(op->z, op->ieee),
                                           .znp_cmd = "AF_DATA_REQUEST", .error = "af-status" }),
                           "AF_DATA_REQUEST to %s failed: %s (status 0x%02x)", zigbee_device_name(op->z, op->ieee) ?: s,
                           host_af_status_to_string(af_status), af_status);

        op_complete(op, error, response ? response->frame : NULL, response ? response->frame_len : 0);
}

static int send_frame(ZigbeeService *z, uint64_t ieee, uint16_t nwk, uint8_t endpoint, uint16_t cluster,
                      const uint8_t *frame, size_t len, uint64_t token, bool ping) {
        Op *op;
        int r;

        op = op_new(z, OP_ZCL, token, ieee);
        if (!op)
                return -ENOBUFS;
        op->ping = ping;
        r = host_zcl_request(z->host, nwk, endpoint, cluster, frame, len, on_zcl_done, op, &op->zcl_id);
        if (r < 0)
                *op = (Op) {};
        return r;
}

static int op_send_action(void *userdata, uint64_t ieee, uint16_t nwk, const PlugAction *a, uint64_t token) {
        ZigbeeService *z = userdata;
        uint8_t frame[HOST_AF_DATA_MAX];
        int len;

        if (!zigbee_host_usable(z))
                return -ENETDOWN;
        len = plug_action_build_frame(a, host_next_tsn(z->host), frame, sizeof(frame));
        if (len < 0)
                return len;
        return send_frame(z, ieee, nwk, a->endpoint, a->cluster, frame, (size_t) len, token, false);
}

/* The first endpoint with the Basic cluster, as herdsman's ping reads endpoints[0]. */
static uint8_t basic_endpoint(const Device *d) {
        for (size_t i = 0; d && i < d->n_endpoints; i++)
                for (size_t j = 0; j < d->endpoints[i].n_in; j++)
                        if (d->endpoints[i].in[j] == ZCL_CLUSTER_BASIC)
                                return d->endpoints[i].id;
        return d && d->n_endpoints > 0 ? d->endpoints[0].id : 1;
}

static int op_ping(void *userdata, uint64_t ieee, uint16_t nwk, uint64_t token) {
        ZigbeeService *z = userdata;
        static const uint16_t zcl_version = 0x0000;
        uint8_t frame[16];
        ZclHeader hdr;
        int len;

        if (!zigbee_host_usable(z))
                return -ENETDOWN;
        hdr = (ZclHeader) { .frame_control = ZCL_FC_DISABLE_DEFAULT_RSP, .tsn = host_next_tsn(z->host),
                            .command = ZCL_CMD_READ_ATTRIBUTES };
        len = zcl_build_read_attributes(&hdr, &zcl_version, 1, frame, sizeof(frame));
        if (len < 0)
                return len;
        return send_frame(z, ieee, nwk, basic_endpoint(devdb_find_by_ieee(z->db, ieee)), ZCL_CLUSTER_BASIC,
                          frame, (size_t) len, token, true);
}

static void on_host_done(Host *h, int error, void *userdata) {
        Op *op = userdata;

        op_complete(op, error, NULL, 0);
}

static int op_permit_join(void *userdata, unsigned seconds, uint64_t token) {
        ZigbeeService *z = userdata;
        Op *op;
        int r;

        if (!zigbee_host_usable(z))
                return -ENETDOWN;
        op = op_new(z, OP_PERMIT_JOIN, token, 0);
        if (!op)
                return -ENOBUFS;
        r = host_permit_join(z->host, seconds, on_host_done, op);
        if (r < 0)
                *op = (Op) {};
        return r;
}

static int op_remove_device(void *userdata, uint64_t ieee, uint16_t nwk, uint64_t token) {
        ZigbeeService *z = userdata;
        Op *op;
        int r;

        if (!zigbee_host_usable(z))
                return -ENETDOWN;
        op = op_new(z, OP_REMOVE, token, ieee);
        if (!op)
                return -ENOBUFS;
        host_interview_cancel(z->host, ieee);
        r = host_remove_device(z->host, ieee, nwk, on_host_done, op);
        if (r < 0)
                *op = (Op) {};
        return r;
}

/*
 * Bridge -> MQTT and owner
 */

static void on_mqtt_message(Mqtt *mqtt, const char *topic, const void *payload, size_t len, bool retained,
                            void *userdata) {
        ZigbeeService *z = userdata;

        if (z->bridge)
                (void) bridge_on_mqtt_message(z->bridge, topic, payload, len);
}

static int op_publish(void *userdata, const char *topic, const void *payload, size_t len, bool retain, int qos) {
        ZigbeeService *z = userdata;

        return mqtt_publish(z->m->mqtt, topic, payload, len, qos, retain);
}

static int op_subscribe(void *userdata, const char *topic) {
        ZigbeeService *z = userdata;
        size_t i;
        int r;

        for (i = 0; i < SUBSCRIPTIONS_MAX && z->subscriptions[i]; i++)
                ;
        if (i == SUBSCRIPTIONS_MAX)
                return -ENOBUFS;
        z->subscriptions[i] = strdup(topic);
        if (!z->subscriptions[i])
                return -ENOMEM;
        r = mqtt_subscribe(z->m->mqtt, topic, 0, on_mqtt_message, z);
        if (r < 0)
                z->subscriptions[i] = mfree(z->subscriptions[i]);
        return r;
}

static int op_unsubscribe(void *userdata, const char *topic) {
        ZigbeeService *z = userdata;

        for (size_t i = 0; i < SUBSCRIPTIONS_MAX; i++)
                if (z->subscriptions[i] && strcmp(z->subscriptions[i], topic) == 0) {
                        z->subscriptions[i] = mfree(z->subscriptions[i]);
                        break;
                }
        return mqtt_unsubscribe(z->m->mqtt, topic, on_mqtt_message, z);
}

/* A SUBACK may end the wait for retained discovery configs sooner than the armed tick. */
static void on_mqtt_subscribed(Mqtt *mqtt, const char *filter, void *userdata) {
        ZigbeeService *z = userdata;

        if (!z->bridge)
                return;
        bridge_on_mqtt_subscribed(z->bridge, filter);
        tick_soon(z);
}

static size_t op_mqtt_backlog(void *userdata) {
        ZigbeeService *z = userdata;

        return mqtt_in_flight(z->m->mqtt);
}

static uint64_t op_now(void *userdata) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* bridge/request/restart, as Zigbee2MQTT restarts in its process: the Zigbee side (coordinator, host,
 * database, bridge) is stopped and built again from the running configuration; MQTT stays up. */
static int on_restart(sd_event_source *s, void *userdata) {
        ZigbeeService *z = userdata;
        Manager *m = z->m;
        bool reform = z->reform;
        int r;

        log_notice("Restarting the Zigbee side as requested over MQTT");
        m->zigbee = zigbee_service_free(z);     /* also drops this source, safe inside its callback */
        r = zigbee_service_new(&m->zigbee, m);
        if (r >= 0)
                r = zigbee_service_start(m->zigbee, reform);
        if (r < 0) {
                log_error_errno(r, "Restart failed: %m");
                (void) sd_event_exit(m->event, 1);
        }
        return 0;
}

static void op_restart(void *userdata) {
        ZigbeeService *z = userdata;
        int r;

        if (z->restart)
                return;
        r = sd_event_add_defer(z->event, &z->restart, on_restart, z);
        if (r < 0)
                log_error_errno(r, "Cannot restart: %m");
}

static void op_devdb_changed(void *userdata, bool urgent) {
        ZigbeeService *z = userdata;

        if (!urgent)
                return;         /* the tick writes it (SAVE_DELAY_USEC, STATE_SAVE_DELAY_USEC) */
        (void) zigbee_service_save(z);
}

/* A device left our records (device/remove, a leave): the host forgets its address too. */
static void on_bridge_forget(void *userdata, uint64_t ieee) {
        ZigbeeService *z = userdata;

        for (size_t i = 0; i < z->n_interview_queue; i++)
                if (z->interview_queue[i].ieee == ieee) {
                        memmove(z->interview_queue + i, z->interview_queue + i + 1,
                                (z->n_interview_queue - i - 1) * sizeof(z->interview_queue[0]));
                        z->n_interview_queue--;
                        break;
                }
        if (z->host) {
                host_interview_cancel(z->host, ieee);
                host_device_remove(z->host, ieee);
        }
        ota_server_cancel(z->ota, ieee, "the device left the network");
}

/* As Zigbee2MQTT, which connects to MQTT only after the adapter started: the bridge goes on MQTT
 * once the coordinator has been up (bridge/info needs it, and the retained discovery configs seen at
 * start are judged against the coordinator's bridge device). */
static void on_mqtt_connected(Mqtt *mqtt, void *userdata) {
        ZigbeeService *z = userdata;
        int r;

        if (!z->was_up)
                return;         /* coordinator_up() does it */
        r = bridge_on_mqtt_connected(z->bridge);
        if (r < 0)
                log_warning_errno(r, "Cannot publish the bridge after connecting to the broker: %m");
}

void zigbee_service_mqtt_disconnected(ZigbeeService *z) {
        if (z && z->bridge)
                bridge_on_mqtt_disconnected(z->bridge);
}

/*
 * Host -> Bridge
 */

static void interview_next(ZigbeeService *z);

static void interview(ZigbeeService *z, uint64_t ieee, uint16_t nwk) {
        const Device *d = devdb_find_by_ieee(z->db, ieee);
        char s[19];
        int r;

        if (!z->host || (d && d->interview == DEV_INTERVIEW_SUCCESSFUL) || host_interview_running(z->host, ieee))
                return;
        for (size_t i = 0; i < z->n_interview_queue; i++)
                if (z->interview_queue[i].ieee == ieee) {
                        z->interview_queue[i].nwk = nwk;
                        return;
                }
        r = host_interview_start(z->host, ieee, nwk);
        if (r == -ENOBUFS && z->n_interview_queue < INTERVIEW_QUEUE_MAX) {
                /* as many interviews run as the host allows; this one waits for a free place */
                z->interview_queue[z->n_interview_queue].ieee = ieee;
                z->interview_queue[z->n_interview_queue].nwk = nwk;
                z->n_interview_queue++;
                return;
        }
        if (r < 0) {
                log_fields(LOG_WARNING, r, DEVICE_FIELDS(z, ieee, s, "interview-failed"), "Cannot interview %s: %m", s);
                return;
        }
        log_fields(LOG_INFO, 0, DEVICE_FIELDS(z, ieee, s, NULL), "Interviewing %s (0x%04x)", s, nwk);
        (void) bridge_on_interview_started(z->bridge, ieee, nwk);
}

static void interview_next(ZigbeeService *z) {
        while (z->n_interview_queue > 0 && z->host) {
                uint64_t ieee = z->interview_queue[0].ieee;
                uint16_t nwk = z->interview_queue[0].nwk;
                size_t before;

                memmove(z->interview_queue, z->interview_queue + 1,
                        (z->n_interview_queue - 1) * sizeof(z->interview_queue[0]));
                z->n_interview_queue--;
                before = z->n_interview_queue;
                interview(z, ieee, nwk);
                if (z->n_interview_queue > before)
                        break;          /* queued again: still no room */
        }
}

static void on_device_joined(Host *h, uint64_t ieee, uint16_t nwk, uint16_t parent, void *userdata) {
        ZigbeeService *z = userdata;
        char s[19];
        int r;

        r = bridge_on_device_joined(z->bridge, ieee, nwk);      /* records it: the log has its name */
        log_fields(LOG_INFO, 0, DEVICE_FIELDS(z, ieee, s, NULL), "Device %s joined (0x%04x, parent 0x%04x)", s, nwk,
                   parent);
        if (r == -ENOBUFS) {
                log_fields(LOG_ERR, 0, DEVICE_FIELDS(z, ieee, s, "database-full"),
                           "Device %s cannot be added: the database holds its maximum of %d devices", s,
                           DEVDB_DEVICES_MAX);
                return;
        }
        interview(z, ieee, nwk);
}

static void on_device_announced(Host *h, uint64_t ieee, uint16_t nwk, uint16_t old_nwk, uint8_t capabilities,
                                void *userdata) {
        ZigbeeService *z = userdata;

        (void) bridge_on_device_announced(z->bridge, ieee, nwk);
        ota_server_on_announce(z->ota, ieee);   /* back after an update's reboot */
        interview(z, ieee, nwk);
}

static void on_device_left(Host *h, uint64_t ieee, uint16_t nwk, void *userdata) {
        ZigbeeService *z = userdata;

        (void) bridge_on_device_left(z->bridge, ieee);
        on_bridge_forget(z, ieee);      /* also when the bridge did not know it (it then does not call it) */
}

static void on_interview_done(Host *h, const InterviewResult *result, void *userdata) {
        ZigbeeService *z = userdata;
        char s[19];
        int r;

        r = bridge_on_interview_done(z->bridge, result);
        if (r < 0)
                log_fields(LOG_WARNING, r, DEVICE_FIELDS(z, result->ieee, s, "interview-failed"),
                           "Cannot record the interview of %s: %m", s);
        interview_next(z);
}

static void on_zcl_received(Host *h, const HostZclMessage *msg, void *userdata) {
        ZigbeeService *z = userdata;

        if (msg->ieee == 0 || msg->group != 0)
                return;
        if (msg->cluster == OTA_CLUSTER)
                ota_server_on_frame(z->ota, msg->ieee, msg->src_endpoint, msg->frame, msg->frame_len);
        (void) bridge_on_zcl(z->bridge, msg->ieee, msg->src_endpoint, msg->cluster, msg->frame, msg->frame_len,
                             msg->lqi);
}

static void on_unknown_device(Host *h, uint64_t ieee, uint16_t nwk, HostUnknownSource source, void *userdata) {
        ZigbeeService *z = userdata;
        const Device *d = devdb_find_by_ieee(z->db, ieee);
        char s[19];

        format_ieee(ieee, s);
        if (d) {
                log_fields(LOG_INFO, 0, &((LogFields) { .device = s, .name = d->friendly_name }),
                           "Device '%s' talks from 0x%04x", d->friendly_name, nwk);
                (void) bridge_on_address_changed(z->bridge, ieee, nwk);
        } else
                log_fields(LOG_NOTICE, 0, &((LogFields) { .device = s }),
                           "Device %s (0x%04x) is not in the database: interviewing it", s, nwk);
        interview(z, ieee, nwk);
}

static void on_permit_join_changed(Host *h, unsigned seconds, void *userdata) {
        ZigbeeService *z = userdata;

        if (seconds > 0)
                log_info("Permit join open for %u s", seconds);
        else
                log_info("Permit join closed");
        manager_set_permit_join(z->m, seconds);
        bridge_on_permit_join_changed(z->bridge, seconds);
}

static void on_address_changed(Host *h, uint64_t ieee, uint16_t old_nwk, uint16_t nwk, void *userdata) {
        ZigbeeService *z = userdata;

        (void) bridge_on_address_changed(z->bridge, ieee, nwk);
}

static void on_zstack_started(Zstack *zs, int error, const ZstackInfo *info, void *userdata);

static void coordinator_down(ZigbeeService *z) {
        manager_set_component_ready(z->m, MANAGER_COMPONENT_ZIGBEE, false);
        manager_set_permit_join(z->m, 0);      /* a coordinator that starts again has it closed */
        if (z->was_up && z->link == LINK_UP)
                bridge_on_coordinator_lost(z->bridge);
}

static void on_coordinator_lost(Host *h, HostLossReason reason, int error, void *userdata) {
        ZigbeeService *z = userdata;
        int r;

        if (reason == HOST_LOSS_COORDINATOR_RESET) {
                if (z->link != LINK_UP)
                        return;         /* during the start-up: its failed request handles it */
                log_fields(LOG_WARNING, 0, &((LogFields) { .znp_cmd = "SYS_RESET_IND", .error = "coordinator-reset" }),
                           "The coordinator reset unexpectedly (SYS_RESET_IND); starting it again");
                coordinator_down(z);
                z->link = LINK_STARTING;
                manager_set_coordinator_status(z->m, STATUS_COORDINATOR_RESET, 0, NULL);
                r = zstack_start(z->zstack, &z->zcfg, on_zstack_started, z);
                if (r < 0)
                        link_failed(z, r, "coordinator-startup-failed", NULL, "cannot restart the coordinator");
                return;
        }
        /* The Znp is dead: the Host goes now, the rest when the retry timer reopens the port. */
        z->host = host_free(z->host);
        ops_fail_all(z, -ECONNRESET);
        link_failed(z, error < 0 ? error : -EIO, "coordinator-lost", NULL, "lost the coordinator");
}

/*
 * Coordinator link
 */

static void add_link_counters(const ZigbeeService *z, ZigbeeCounters *c) {
        if (z->znp) {
                ZnpStats zs;

                znp_get_stats(z->znp, &zs);
                c->frames_in += zs.parser.frames;
                c->frames_out += zs.frames_out;
        }
        if (z->host) {
                HostStats hs;

                host_get_stats(z->host, &hs);
                c->retries += hs.af_retries;
        }
}

void zigbee_service_get_counters(const ZigbeeService *z, ZigbeeCounters *ret) {
        *ret = z ? z->closed_links : (ZigbeeCounters) {};
        if (z)
                add_link_counters(z, ret);
}

Bridge *zigbee_service_bridge(ZigbeeService *z) {
        return z ? z->bridge : NULL;
}

const char *zigbee_service_coordinator_state(const ZigbeeService *z) {
        if (!z)
                return "down";
        switch (z->link) {
        case LINK_STARTING: return "starting";
        case LINK_UP:       return "ready";
        case LINK_REFUSED:  return "refused";
        default:            return "down";
        }
}

static void link_close(ZigbeeService *z) {
        add_link_counters(z, &z->closed_links);
        z->host = host_free(z->host);
        z->zstack = zstack_free(z->zstack);
        z->znp = znp_free(z->znp);
        ops_fail_all(z, -ECONNRESET);
        z->n_interview_queue = 0;
}

static void link_open(ZigbeeService *z);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        ZigbeeService *z = userdata;

        link_close(z);
        link_open(z);
        return 0;
}

/* kind: LUMIPLUGD_ERROR=; cmd: the MT command it failed at, NULL if none. */
static void link_failed(ZigbeeService *z, int error, const char *kind, const char *cmd, const char *what) {
        uint64_t delay = RETRY_MIN_USEC;
        int r;

        if (z->link == LINK_DOWN || z->link == LINK_REFUSED)
                return;         /* already handled */
        coordinator_down(z);
        z->link = LINK_DOWN;
        for (unsigned i = 0; i < z->failures && delay < RETRY_MAX_USEC; i++)
                delay *= 2;
        delay = MIN(delay, RETRY_MAX_USEC);
        z->failures++;

        log_fields(LOG_WARNING, error, &((LogFields) { .znp_cmd = cmd, .error = kind }),
                   "Zigbee: %s (%s): %m; retrying in %llu s", what, z->m->config->serial.port,
                   (unsigned long long) (delay / USEC_PER_SEC));
        manager_set_coordinator_status(z->m, STATUS_COORDINATOR_LOST, (unsigned) (delay / USEC_PER_SEC),
                                       strerror(-error));

        z->retry = sd_event_source_disable_unref(z->retry);
        r = sd_event_add_time_relative(z->event, &z->retry, CLOCK_MONOTONIC, delay, 0, on_retry, z);
        if (r < 0) {
                log_error_errno(r, "Cannot arm the coordinator retry timer: %m");
                (void) sd_event_exit(z->event, 1);
        }
}

static void refuse(ZigbeeService *z, int error, const char *cmd, const char *message) {
        const char *kind = error == -EEXIST ? "network-mismatch" : "unsupported-coordinator";

        coordinator_down(z);
        z->link = LINK_REFUSED;
        log_fields(LOG_ERR, 0, &((LogFields) { .znp_cmd = cmd, .error = kind }), "Zigbee: %s", message);
        if (error == -EEXIST && z->zcfg_from_state)
                log_fields(LOG_ERR, 0, &((LogFields) { .error = kind }),
                           "Refusing to start: the coordinator's network does not match [zigbee] in %s or the "
                          "network lumiplugd ran before (%s/network.json). To adopt the coordinator's network, "
                          "move network.json away (and set the [zigbee] keys to auto); to replace it, start once "
                          "with 'lumiplugd --reform' (every device must then pair again).",
                          z->m->config_path, z->m->config->state.directory);
        else if (error == -EEXIST)
                log_fields(LOG_ERR, 0, &((LogFields) { .error = kind }),
                           "Refusing to start: the coordinator's network does not match [zigbee] in %s. Fix the "
                          "configuration (or set those keys to auto to adopt the network), or start once with "
                          "'lumiplugd --reform' to replace the network (every device must then pair again).",
                          z->m->config_path);
        manager_set_coordinator_status(z->m, STATUS_COORDINATOR_REFUSED, 0,
                                       error == -EEXIST ? "it holds another network" : "unsupported firmware");
        (void) sd_event_exit(z->event, 1);
}

static void on_zstack_started(Zstack *zs, int error, const ZstackInfo *info, void *userdata) {
        ZigbeeService *z = userdata;

        if (error == -EEXIST || error == -EPROTONOSUPPORT) {
                refuse(z, error, zstack_error_command(zs), zstack_error_message(zs));
                return;
        }
        if (error < 0) {
                link_failed(z, error, "coordinator-startup-failed", zstack_error_command(zs),
                            zstack_error_message(zs) ?: "start-up failed");
                return;
        }
        coordinator_up(z, info);
}

static void on_znp_ready(Znp *znp, int error, void *userdata) {
        ZigbeeService *z = userdata;

        if (error == 0)
                error = zstack_start(z->zstack, &z->zcfg, on_zstack_started, z);
        if (error < 0)
                link_failed(z, error, error == -ETIMEDOUT ? "coordinator-no-answer" : "coordinator-startup-failed",
                            error == -ETIMEDOUT ? "SYS_PING" : NULL,
                            error == -ETIMEDOUT ? "the coordinator does not answer SYS_PING" : "cannot start the coordinator");
}

/* The Znp's own events while no Host holds the slot (during the start-up). */
static void on_znp_event(Znp *znp, ZnpEvent event, int error, const MtFrame *f, void *userdata) {
        ZigbeeService *z = userdata;

        if (event == ZNP_EVENT_TRANSPORT_ERROR)
                link_failed(z, error < 0 ? error : -EIO, "coordinator-lost", NULL, "lost the coordinator during start-up");
        /* a reset during the start-up fails the request in flight, and so the start-up */
}

static void on_znp_trace(Znp *znp, bool outgoing, const MtFrame *f, bool secret, void *userdata) {
        char name[64], hex[3 * 64 + 1];
        size_t n = 0;

        if (log_get_max_level() < LOG_DEBUG)
                return;
        hex[0] = 0;
        if (!secret)
                for (size_t i = 0; i < f->len && n + 4 < sizeof(hex); i++)
                        n += (size_t) snprintf(hex + n, sizeof(hex) - n, " %02x", f->data[i]);
        log_fields(LOG_DEBUG, 0, &((LogFields) { .znp_cmd = mt_command_name(mt_frame_subsystem(f), f->cmd1) }),
                   "MT %s %s%s%s", outgoing ? "-->" : "<--", mt_frame_describe(f, name, sizeof(name)),
                   secret ? " (redacted)" : "", hex);
}

static void link_open(ZigbeeService *z) {
        const SerialConfig *sc = &z->m->config->serial;
        TransportConfig tc = { .port = sc->port, .baudrate = sc->baudrate, .rtscts = sc->rtscts };
        Transport *t = NULL;
        int r;

        z->link = LINK_STARTING;
        manager_set_coordinator_status(z->m, STATUS_COORDINATOR_STARTING, 0, NULL);
        r = transport_open(&t, &tc);
        if (r < 0) {
                link_failed(z, r, "port-open-failed", NULL, "cannot open the coordinator port");
                return;
        }
        log_info("Opened %s (%s)", sc->port, transport_kind_to_string(transport_kind(t)));
        r = znp_new(&z->znp, z->event, t);      /* takes t */
        if (r >= 0) {
                znp_set_event_handler(z->znp, on_znp_event, z);
                znp_set_trace(z->znp, on_znp_trace, z);
                r = zstack_new(&z->zstack, z->znp);
        }
        if (r >= 0)
                r = znp_start(z->znp, NULL, on_znp_ready, z);
        if (r < 0)
                link_failed(z, r, "coordinator-startup-failed", NULL, "cannot set up the coordinator link");
}

static const HostCallbacks host_callbacks = {
        .device_joined = on_device_joined,
        .device_announced = on_device_announced,
        .device_left = on_device_left,
        .interview_done = on_interview_done,
        .zcl_received = on_zcl_received,
        .unknown_device = on_unknown_device,
        .permit_join_changed = on_permit_join_changed,
        .address_changed = on_address_changed,
        .coordinator_lost = on_coordinator_lost,
};

static int host_setup(ZigbeeService *z) {
        int r;

        r = host_new(&z->host, z->event, z->znp, NULL);
        if (r < 0)
                return r;
        host_set_callbacks(z->host, &host_callbacks, z);
        for (size_t i = 0; i < devdb_count(z->db); i++) {
                const Device *d = devdb_get(z->db, i);

                if (d->nwk == DEVDB_NWK_UNKNOWN)
                        continue;
                r = host_device_add(z->host, d->ieee, d->nwk);
                if (r < 0) {
                        char s[19];

                        log_fields(LOG_WARNING, r, DEVICE_FIELDS(z, d->ieee, s, "device-table-full"),
                                   "Cannot add '%s' to the coordinator's device table: %m", d->friendly_name);
                }
        }
        return 0;
}

static void remember_network(ZigbeeService *z, const ZstackInfo *info) {
        const DevNetwork *old = devdb_get_network(z->db);
        DevNetwork net = {
                .valid = true,
                .coordinator_ieee = info->ieee,
                .pan_id = info->pan_id,
                .ext_pan_id = info->ext_pan_id,
                .channel = info->channel,
        };

        if (info->network_key_known)
                memcpy(net.network_key, info->network_key, sizeof(net.network_key));
        else if (old->valid)
                memcpy(net.network_key, old->network_key, sizeof(net.network_key));
        if (old->valid && old->coordinator_ieee == net.coordinator_ieee && old->pan_id == net.pan_id &&
            old->ext_pan_id == net.ext_pan_id && old->channel == net.channel &&
            memcmp(old->network_key, net.network_key, sizeof(net.network_key)) == 0)
                return;
        devdb_set_network(z->db, &net);
        (void) zigbee_service_save(z);
}

/* The coordinator's endpoints as Zigbee2MQTT lists them in bridge/devices (herdsman's database row of
 * the Coordinator, ascending): what src/znp/zstack.c registers. Kept in step with its table by hand
 * until zstack.h exports it. */
static void coordinator_endpoints(BridgeCoordinator *c) {
        static const uint8_t ids[] = { 1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 47, 110, 239, ZSTACK_GP_ENDPOINT };

        c->n_endpoints = 0;
        for (size_t i = 0; i < ELEMENTSOF(ids) && c->n_endpoints < BRIDGE_COORDINATOR_ENDPOINTS_MAX; i++) {
                DevEndpoint *ep = &c->endpoints[c->n_endpoints++];

                /* bridge/devices shows ids and clusters only */
                *ep = (DevEndpoint) { .id = ids[i] };
                if (ids[i] == 11)       /* IAS ACE, Time in; IAS Zone, IAS WD out */
                        *ep = (DevEndpoint) { .id = 11, .n_in = 2, .in = { 0x0501, 0x000A }, .n_out = 2,
                                              .out = { 0x0500, 0x0502 } };
                else if (ids[i] == 13)  /* OTA */
                        *ep = (DevEndpoint) { .id = 13, .n_in = 1, .in = { 0x0019 } };
        }
}

static void coordinator_up(ZigbeeService *z, const ZstackInfo *info) {
        BridgeCoordinator bc;
        char ieee[19];
        int r;

        if (!z->host) {
                r = host_setup(z);
                if (r < 0) {
                        link_failed(z, r, "coordinator-startup-failed", NULL, "cannot set up the Zigbee host");
                        return;
                }
        }
        z->info = *info;
        z->link = LINK_UP;
        z->failures = 0;
        remember_network(z, info);

        format_ieee(info->ieee, ieee);
        /* the coordinator is a device of bridge/devices too, named "Coordinator" there */
        if (info->formed)
                log_fields(LOG_NOTICE, 0, &((LogFields) { .device = ieee, .name = "Coordinator" }),
                           "Formed a new Zigbee network: PAN ID 0x%04x, extended PAN ID 0x%016" PRIx64
                           ", channel %u, coordinator %s (kept in the state directory)",
                           info->pan_id, info->ext_pan_id, info->channel, ieee);
        else
                log_fields(LOG_INFO, 0, &((LogFields) { .device = ieee, .name = "Coordinator" }),
                           "Adopted the coordinator's Zigbee network: PAN ID 0x%04x, extended PAN ID 0x%016" PRIx64
                           ", channel %u, coordinator %s", info->pan_id, info->ext_pan_id, info->channel, ieee);
        log_fields(LOG_INFO, 0, &((LogFields) { .device = ieee, .name = "Coordinator" }),
                   "Coordinator %s firmware %u.%u.%u revision %" PRIu32, zstack_product_name(info->version.product_id),
                   info->version.major, info->version.minor, info->version.maint, info->version.revision);

        bc = (BridgeCoordinator) {
                .ieee = info->ieee,
                .type = zstack_product_name(info->version.product_id),
                .transportrev = info->version.transport_rev,
                .product = info->version.product_id,
                .majorrel = info->version.major,
                .minorrel = info->version.minor,
                .maintrel = info->version.maint,
                .revision = info->version.revision,
                .channel = info->channel,
                .pan_id = info->pan_id,
                .ext_pan_id = info->ext_pan_id,
        };
        coordinator_endpoints(&bc);
        bridge_set_coordinator(z->bridge, &bc);

        manager_set_coordinator_status(z->m, STATUS_COORDINATOR_READY, 0, NULL);
        manager_set_component_ready(z->m, MANAGER_COMPONENT_ZIGBEE, true);
        if (z->was_up) {
                log_notice("The coordinator is back");
                bridge_on_coordinator_restored(z->bridge);
        } else {
                z->was_up = true;
                if (mqtt_get_state(z->m->mqtt) == MQTT_STATE_CONNECTED)
                        on_mqtt_connected(z->m->mqtt, z);
        }
}

/*
 * Timers, set-up
 */

/* Every second, or sooner when a background read is due (power polls are spread finer). */
static uint64_t tick_delay(ZigbeeService *z) {
        uint64_t wake = bridge_next_background_wakeup(z->bridge), now = op_now(z);

        if (wake <= now)
                return 1000;            /* 1 ms: due now, after the other events */
        return MIN(wake - now, USEC_PER_SEC);
}

/* Brings the armed tick forward when a background read became due sooner. */
static void tick_soon(ZigbeeService *z) {
        uint64_t armed, now, at;

        if (!z->tick || sd_event_source_get_time(z->tick, &armed) < 0 ||
            sd_event_now(z->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        at = now + tick_delay(z);
        if (at < armed)
                (void) sd_event_source_set_time(z->tick, at);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        ZigbeeService *z = userdata;
        int r;

        bridge_tick(z->bridge);
        if (z->link == LINK_UP)
                interview_next(z);      /* a place may have been freed without an interview_done */
        /* by time, not by ticks: the tick runs faster while background work is due */
        if (!devdb_is_dirty_structurally(z->db))
                z->dirty_since = 0;
        else if (!z->dirty_since)
                z->dirty_since = usec;
        if (!devdb_is_dirty_state(z->db))
                z->state_dirty_since = 0;
        else if (!z->state_dirty_since)
                z->state_dirty_since = usec;
        if ((z->dirty_since && usec - z->dirty_since >= SAVE_DELAY_USEC) ||
            (z->state_dirty_since && usec - z->state_dirty_since >= STATE_SAVE_DELAY_USEC)) {
                z->dirty_since = z->state_dirty_since = 0;
                (void) zigbee_service_save(z);
        }
        r = sd_event_source_set_time_relative(s, tick_delay(z));
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (r < 0)
                log_warning_errno(r, "Cannot re-arm the Zigbee timer: %m");
        return 0;
}

static uint64_t bytes_to_u64(const uint8_t b[8]) {
        uint64_t v = 0;

        for (size_t i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return v;
}

/* Explicit [zigbee] values win; what is "auto" comes from network.json when it holds a network, so a
 * blank (or replaced) coordinator gets the same network back and the paired devices stay. */
static void zstack_config_from(ZigbeeService *z) {
        const ZigbeeConfig *c = &z->m->config->zigbee;
        const DevNetwork *net = devdb_get_network(z->db);
        ZstackConfig *zc = &z->zcfg;

        *zc = (ZstackConfig) { .pan_id_auto = true, .ext_pan_id_auto = true, .network_key_auto = true };
        z->zcfg_from_state = false;
        if (c->pan_id) {
                zc->pan_id_auto = false;
                zc->pan_id = (uint16_t) c->pan_id;
        } else if (net->valid && net->pan_id) {
                zc->pan_id_auto = false;
                zc->pan_id = net->pan_id;
                z->zcfg_from_state = true;
        }
        if (c->extended_pan_id.set) {
                zc->ext_pan_id_auto = false;
                zc->ext_pan_id = bytes_to_u64(c->extended_pan_id.bytes);
        } else if (net->valid && net->ext_pan_id) {
                zc->ext_pan_id_auto = false;
                zc->ext_pan_id = net->ext_pan_id;
                z->zcfg_from_state = true;
        }
        if (c->network_key.set) {
                zc->network_key_auto = false;
                memcpy(zc->network_key, c->network_key.bytes, 16);
        } else if (net->valid) {
                static const uint8_t zero[16] = {};

                if (memcmp(net->network_key, zero, 16) != 0) {
                        zc->network_key_auto = false;
                        memcpy(zc->network_key, net->network_key, 16);
                        z->zcfg_from_state = true;
                }
        }
        if (c->channel)
                zc->channel = (uint8_t) c->channel;
        else if (net->valid && net->channel >= 11 && net->channel <= 26) {
                zc->channel = net->channel;
                z->zcfg_from_state = true;
        }
        zc->reform = z->reform;
}

static json_object *device_options_json(const DeviceConfig *d) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
#define OPT_UINT(f) if (d->f.set) (void) json_object_object_add(o, #f, json_object_new_int64(d->f.value))
#define OPT_DOUBLE(f) if (d->f.set) (void) json_object_object_add(o, #f, json_object_new_double(d->f.value))
        OPT_UINT(device_temperature_precision);
        OPT_DOUBLE(device_temperature_calibration);
        OPT_UINT(power_precision);
        OPT_UINT(energy_precision);
        OPT_UINT(voltage_precision);
        OPT_UINT(current_precision);
        OPT_DOUBLE(power_calibration);
        OPT_DOUBLE(energy_calibration);
        OPT_DOUBLE(voltage_calibration);
        OPT_DOUBLE(current_calibration);
#undef OPT_UINT
#undef OPT_DOUBLE
        if (d->state_action.set)
                (void) json_object_object_add(o, "state_action", json_object_new_boolean(d->state_action.value));
        return o;
}

/* Issue 12's keys (bridge-energy.c, bridge-poll.c, bridge-settings.c). */
static void device_extras_from(BridgeDeviceConfig *b, const DeviceConfig *d) {
        const ConfigOptBool *flags[] = { &d->led_disabled_night, &d->power_outage_memory, &d->auto_off };

        b->energy_monotonic = d->energy_monotonic.set && d->energy_monotonic.value;
        b->power_poll_interval = d->power_poll_interval;
        b->enforce_settings = d->enforce_settings.set && d->enforce_settings.value;
        for (size_t i = 0; i < ELEMENTSOF(flags); i++)
                b->settings[i] = (BridgeSettingValue) { .set = flags[i]->set, .value = flags[i]->value };
        b->settings[3] = (BridgeSettingValue) { .set = d->overload_protection.set,
                                                .value = d->overload_protection.value };
}

static const char *log_level_name(int level) {
        switch (level) {
        case LOG_DEBUG: return "debug";
        case LOG_INFO: return "info";
        case LOG_NOTICE: return "info";
        case LOG_WARNING: return "warning";
        default: return "error";
        }
}

static int make_state_dir(const char *path) {
        char buf[4096];

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int zigbee_service_new(ZigbeeService **ret, Manager *m) {
        static const BridgeMqttOps mqtt_ops = {
                .publish = op_publish,
                .subscribe = op_subscribe,
                .unsubscribe = op_unsubscribe,
        };
        static const BridgeZigbeeOps zigbee_ops = {
                .send_action = op_send_action,
                .ping = op_ping,
                .permit_join = op_permit_join,
                .remove_device = op_remove_device,
        };
        static const BridgeOwnerOps owner_ops = {
                .now = op_now,
                .restart = op_restart,
                .devdb_changed = op_devdb_changed,
                .plugs_changed = op_plugs_changed,
        };
        _cleanup_(zigbee_service_freep) ZigbeeService *z = NULL;
        const Config *c = m->config;
        BridgeConfig bc;
        int r;

        z = calloc(1, sizeof(*z));
        if (!z)
                return -ENOMEM;
        z->m = m;
        z->event = m->event;

        r = make_state_dir(c->state.directory);
        if (r < 0)
                return log_error_errno(r, "Cannot create the state directory %s: %m", c->state.directory);
        r = devdb_new(&z->db, c->state.directory);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the device database: %m");
        r = devdb_load(z->db);
        if (r == DEVDB_LOAD_RECOVERED)
                log_fields(LOG_ERR, 0, &((LogFields) { .error = "database-recovered" }), "Device database: %s",
                           devdb_last_error(z->db));
        else if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "Device database: %s (written by a newer lumiplugd; refusing to touch it)",
                                       devdb_last_error(z->db) ?: "unknown format");
        else if (r < 0)
                return log_error_errno(r, "Cannot read the device database in %s: %s", c->state.directory,
                                       devdb_last_error(z->db) ?: "");
        log_info("Device database %s: %zu devices", devdb_devices_path(z->db), devdb_count(z->db));

        if (c->n_devices > 0) {
                z->devcfg = calloc(c->n_devices, sizeof(BridgeDeviceConfig));
                if (!z->devcfg)
                        return -ENOMEM;
                for (size_t i = 0; i < c->n_devices; i++) {
                        /* copies: a reload may replace m->config->devices */
                        z->devcfg[i] = (BridgeDeviceConfig) {
                                .ieee = c->devices[i].ieee,
                                .friendly_name = c->devices[i].friendly_name ? strdup(c->devices[i].friendly_name)
                                                                             : NULL,
                                .options = device_options_json(&c->devices[i]),
                        };
                        device_extras_from(&z->devcfg[i], &c->devices[i]);
                        z->n_devcfg++;
                        if (!z->devcfg[i].options || (c->devices[i].friendly_name && !z->devcfg[i].friendly_name))
                                return -ENOMEM;
                }
        }

        bc = (BridgeConfig) {
                .base_topic = c->mqtt.base_topic,
                .retain_state = c->mqtt.retain,
                .state_qos = (int) c->mqtt.qos,
                .availability = true,
                .homeassistant = c->homeassistant.enabled,
                .discovery_prefix = c->homeassistant.discovery_prefix,
                .ha_status_topic = c->homeassistant.status_topic,
                .log_level = log_level_name(c->log.level),
                .devices = z->devcfg,
                .n_devices = z->n_devcfg,
        };
        r = bridge_new(&z->bridge, &bc, z->db, &mqtt_ops, &zigbee_ops, &owner_ops, z);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the MQTT bridge: %m");
        bridge_set_forget_callback(z->bridge, on_bridge_forget);
        bridge_set_mqtt_backlog_callback(z->bridge, op_mqtt_backlog);
        op_plugs_changed(z);
        r = ota_setup(z);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the OTA server: %m");
        manager_set_permit_join(m, 0);         /* after a bridge/request/restart too */

        r = mqtt_add_connect_hook(m->mqtt, on_mqtt_connected, z);
        if (r < 0)
                return r;
        z->connect_hook = true;
        mqtt_set_subscribed_callback(m->mqtt, on_mqtt_subscribed, z);

        r = sd_event_add_time_relative(z->event, &z->tick, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_tick, z);
        if (r < 0)
                return r;
        r = sd_event_source_set_time_accuracy(z->tick, 1000);       /* spread background reads to the ms */
        if (r < 0)
                return r;
        manager_require_component(m, MANAGER_COMPONENT_ZIGBEE);

        *ret = TAKE_PTR(z);
        return 0;
}

int zigbee_service_start(ZigbeeService *z, bool reform) {
        z->reform = reform;
        zstack_config_from(z);
        if (reform)
                log_notice("--reform: a coordinator network that does not match [zigbee] will be replaced");
        link_open(z);
        return 0;
}

ZigbeeService *zigbee_service_free(ZigbeeService *z) {
        if (!z)
                return NULL;
        link_close(z);
        z->retry = sd_event_source_disable_unref(z->retry);
        z->tick = sd_event_source_disable_unref(z->tick);
        z->restart = sd_event_source_disable_unref(z->restart);
        if (z->connect_hook) {
                mqtt_remove_connect_hook(z->m->mqtt, on_mqtt_connected, z);
                mqtt_set_subscribed_callback(z->m->mqtt, NULL, NULL);
        }
        for (size_t i = 0; i < SUBSCRIPTIONS_MAX; i++)
                if (z->subscriptions[i]) {
                        (void) mqtt_unsubscribe(z->m->mqtt, z->subscriptions[i], on_mqtt_message, z);
                        free(z->subscriptions[i]);
                }
        z->ota = ota_server_free(z->ota);
        z->bridge = bridge_free(z->bridge);
        free(z->ota_directory);
        (void) zigbee_service_save(z);
        z->db = devdb_free(z->db);
        for (size_t i = 0; i < z->n_devcfg; i++) {
                json_object_put(z->devcfg[i].options);
                free((char *) z->devcfg[i].friendly_name);
        }
        free(z->devcfg);
        free(z);
        return NULL;
}
