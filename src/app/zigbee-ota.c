/*
 * The Zigbee service's OTA glue: the OTA Upgrade server (src/ota) sends its frames through the Host,
 * its events go to the Bridge, and a device it updated is interviewed again. Not the OTA protocol
 * itself (src/ota/ota-server.c) and not the dispatch of received frames to it (zigbee.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/zigbee-private.h"

static void on_ota_sent(Host *h, int error, uint8_t af_status, const HostZclMessage *response, void *userdata) {
        if (error < 0)
                log_debug_errno(error, "OTA frame not delivered: %m");
}

static int ota_send(void *userdata, uint64_t ieee, uint8_t endpoint, uint16_t cluster, const uint8_t *frame, size_t len) {
        ZigbeeService *z = userdata;
        const Device *d = devdb_find_by_ieee(z->db, ieee);

        if (!zigbee_host_usable(z))
                return -ENETDOWN;
        if (!d || d->nwk == DEVDB_NWK_UNKNOWN)
                return -EHOSTUNREACH;
        return host_zcl_request(z->host, d->nwk, endpoint, cluster, frame, len, on_ota_sent, NULL, NULL);
}

static uint8_t ota_next_tsn(void *userdata) {
        ZigbeeService *z = userdata;

        return z->host ? host_next_tsn(z->host) : 0;
}

/* After an update, as Zigbee2MQTT: interview the device again (new firmware, new Basic
 * attributes, maybe new endpoints). */
static void reinterview(ZigbeeService *z, uint64_t ieee) {
        const Device *d = devdb_find_by_ieee(z->db, ieee);
        int r;

        if (!d || !z->host || d->nwk == DEVDB_NWK_UNKNOWN || host_interview_running(z->host, ieee))
                return;
        r = host_interview_start(z->host, ieee, d->nwk);
        if (r < 0) {
                char buf[19];

                log_fields(LOG_WARNING, r, DEVICE_FIELDS(z, ieee, buf, "interview-failed"),
                           "Cannot interview '%s' again after its update, ignoring: %m", d->friendly_name);
                return;
        }
        (void) bridge_on_interview_started(z->bridge, ieee, d->nwk);
}

static void ota_event(void *userdata, uint64_t ieee, const OtaEvent *ev) {
        ZigbeeService *z = userdata;

        if (z->bridge)
                bridge_on_ota_event(z->bridge, ieee, ev);
        if (ev->kind == OTA_EVENT_INSTALLED)
                reinterview(z, ieee);
}

int ota_setup(ZigbeeService *z) {
        static const OtaServerOps ops = {
                .send = ota_send,
                .next_tsn = ota_next_tsn,
                .event = ota_event,
        };
        const Config *c = z->m->config;
        OtaServerConfig oc;
        int r;

        if (c->ota.directory)
                z->ota_directory = strdup(c->ota.directory);
        else if (asprintf(&z->ota_directory, "%s/ota", c->state.directory) < 0)
                z->ota_directory = NULL;
        if (!z->ota_directory)
                return -ENOMEM;
        oc = (OtaServerConfig) {
                .directory = z->ota_directory,
                .block_response_delay_ms = c->ota.image_block_response_delay,
                .max_data_size = c->ota.default_maximum_data_size,
                .request_timeout_ms = c->ota.image_block_request_timeout,
        };
        r = ota_server_new(&z->ota, z->event, &oc, &ops, z);
        if (r < 0)
                return r;
        bridge_set_ota_server(z->bridge, z->ota);
        log_debug("OTA images are looked for in %s", z->ota_directory);
        return 0;
}
