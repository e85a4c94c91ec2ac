/*
 * The OTA Upgrade cluster (0x0019) server: the coordinator's side of a plug's firmware update,
 * as zigbee-herdsman 2.x runs it for Zigbee2MQTT (src/controller/model/device.ts checkOta /
 * updateOta, src/controller/helpers/ota.ts OtaSession), with images from [ota] directory.
 *
 *   check:  Image Notify (payload type 0, jitter 100) -> the plug's Query Next Image Request ->
 *           Query Next Image Response NO_IMAGE_AVAILABLE; the directory says whether a newer
 *           image exists (OTA_EVENT_CHECKED).
 *   update: Image Notify -> Query Next Image Request -> the best image of the directory for its
 *           manufacturer code, image type (and hardware version) -> Query Next Image Response
 *           SUCCESS (or NO_IMAGE_AVAILABLE and OTA_EVENT_FAILED) -> Image Block / Image Page
 *           Requests answered with Image Block Responses of min(asked, default_maximum_data_size)
 *           bytes, each image_block_response_delay ms after the previous one -> Upgrade End
 *           Request SUCCESS -> Upgrade End Response (current time 0, upgrade time 1: "now") ->
 *           the plug reboots and announces itself -> Image Notify again: its Query Next Image
 *           Request must carry the new file version (OTA_EVENT_INSTALLED), otherwise the update
 *           failed. Progress (OTA_EVENT_PROGRESS) at the start with herdsman's estimate, then
 *           at every 5 % (herdsman: every 30 s; both here) and 100 % at the end response.
 *   Silence longer than image_block_request_timeout (60 s for the answer to a notify), an
 *   Upgrade End Request with another status, the plug leaving, or a failed send end the update
 *   (OTA_EVENT_FAILED); the plug is then not updated. Block requests outside an update (after a
 *   daemon restart, say) get ABORT so that the plug drops its half download; queries outside a
 *   check or update get NO_IMAGE_AVAILABLE and an OTA_EVENT_CHECKED (unsolicited).
 *
 * One session per device, at most OTA_SESSIONS_MAX at once; sd-event timers; no logging of
 * frames above debug. The owner logs the events.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "util/macro.h"

#define OTA_CLUSTER 0x0019u
#define OTA_SESSIONS_MAX 8u
#define OTA_PROGRESS_STEP 5.0           /* percent between progress events */

enum {
        OTA_CMD_IMAGE_NOTIFY = 0x00,
        OTA_CMD_QUERY_NEXT_IMAGE_REQ = 0x01,
        OTA_CMD_QUERY_NEXT_IMAGE_RSP = 0x02,
        OTA_CMD_IMAGE_BLOCK_REQ = 0x03,
        OTA_CMD_IMAGE_PAGE_REQ = 0x04,
        OTA_CMD_IMAGE_BLOCK_RSP = 0x05,
        OTA_CMD_UPGRADE_END_REQ = 0x06,
        OTA_CMD_UPGRADE_END_RSP = 0x07,
};

enum {
        OTA_STATUS_SUCCESS = 0x00,
        OTA_STATUS_MALFORMED_COMMAND = 0x80,
        OTA_STATUS_ABORT = 0x95,
        OTA_STATUS_INVALID_IMAGE = 0x96,
        OTA_STATUS_WAIT_FOR_DATA = 0x97,
        OTA_STATUS_NO_IMAGE_AVAILABLE = 0x98,
        OTA_STATUS_REQUIRE_MORE_IMAGE = 0x99,
};

typedef struct OtaServer OtaServer;

typedef struct OtaServerConfig {
        const char *directory;                  /* borrowed; must outlive the server */
        unsigned block_response_delay_ms;       /* Zigbee2MQTT image_block_response_delay */
        unsigned max_data_size;                 /* Zigbee2MQTT default_maximum_data_size */
        unsigned request_timeout_ms;            /* Zigbee2MQTT image_block_request_timeout */
} OtaServerConfig;

typedef enum OtaEventKind {
        OTA_EVENT_CHECKED,      /* check finished, or an unsolicited query was answered */
        OTA_EVENT_PROGRESS,
        OTA_EVENT_INSTALLED,
        OTA_EVENT_FAILED,       /* check or update */
} OtaEventKind;

typedef struct OtaEvent {
        OtaEventKind kind;
        bool update;                    /* the session was an update (else a check or unsolicited) */
        bool unsolicited;               /* CHECKED for a query nobody asked for */
        uint32_t current_version;       /* what the plug runs (its query), when known */
        bool have_current;
        bool available;                 /* CHECKED: a newer image exists */
        uint32_t latest_version;        /* CHECKED: best image's version (current if none);
                                         * the first PROGRESS (have_current): the image's */
        const char *source;             /* CHECKED/INSTALLED/first PROGRESS: the image file, or NULL */
        double progress;                /* PROGRESS: percent, 2 decimals */
        double remaining;               /* PROGRESS: seconds */
        uint32_t from_version, to_version;      /* INSTALLED */
        bool no_image;                  /* FAILED: nothing to install (Zigbee2MQTT's own text) */
        const char *message;            /* FAILED: why, a sentence */
} OtaEvent;

typedef struct OtaServerOps {
        /* Send a ZCL frame (cluster 0x0019, or the Basic cluster) to the device's endpoint, without
         * waiting for any answer; 0 or -errno. */
        int (*send)(void *userdata, uint64_t ieee, uint8_t endpoint, uint16_t cluster, const uint8_t *frame,
                    size_t len);
        uint8_t (*next_tsn)(void *userdata);
        void (*event)(void *userdata, uint64_t ieee, const OtaEvent *ev);
} OtaServerOps;

int ota_server_new(OtaServer **ret, sd_event *event, const OtaServerConfig *cfg, const OtaServerOps *ops,
                   void *userdata);
OtaServer *ota_server_free(OtaServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(OtaServer *, ota_server_free);

/* Start a check / an update of a device whose OTA client is on endpoint. -EBUSY if it has a
 * session, -ENOBUFS if OTA_SESSIONS_MAX are running; the events report the end. */
int ota_server_check(OtaServer *s, uint64_t ieee, uint8_t endpoint);
int ota_server_update(OtaServer *s, uint64_t ieee, uint8_t endpoint);
bool ota_server_busy(const OtaServer *s, uint64_t ieee);

/* A ZCL frame of cluster 0x0019 from a device (header included). */
void ota_server_on_frame(OtaServer *s, uint64_t ieee, uint8_t src_endpoint, const uint8_t *zcl, size_t len);
/* The device announced itself (after its reboot). */
void ota_server_on_announce(OtaServer *s, uint64_t ieee);
/* The device is gone (left, removed): its session fails with reason. */
void ota_server_cancel(OtaServer *s, uint64_t ieee, const char *reason);
