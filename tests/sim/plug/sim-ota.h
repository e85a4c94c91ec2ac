/*
 * The simulated plug's OTA Upgrade client (cluster 0x0019, client on endpoint 1), as a ZCL OTA
 * client behaves (ZCL spec 11.13): an Image Notify makes it send a Query Next Image Request with
 * its manufacturer code 0x115F, image type 0x4018 and current file version; a Query Next Image
 * Response SUCCESS for its manufacturer and image type starts a download into its "flash" (at
 * most SIM_OTA_FLASH_MAX bytes): Image Block Requests (or Image Page Requests when page_size is
 * set) at its own maximum data size, each answer checked (same file, the offset asked, no more
 * bytes than asked, nothing past the announced size); at the end it checks the image (file
 * identifier, total image size = the size announced and downloaded, manufacturer/type/version as
 * offered) and sends Upgrade End Request SUCCESS or INVALID_IMAGE; an Upgrade End Response
 * makes it reboot upgrade-time seconds later (relative when current time is 0) into the new
 * version. ABORT gives up the download; an unanswered request is sent again after `timeout`
 * seconds, three times, then the download is given up. It knows nothing of MT or the network.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_OTA_FLASH_MAX (1024u * 1024u)

typedef struct SimOta SimOta;

typedef struct SimOtaOps {
        /* A client -> server OTA frame (ZCL header included) for the coordinator. */
        void (*send)(const uint8_t *zcl, size_t len, void *userdata);
        /* The new image is installed: the device restarts as file version `version`. */
        void (*reboot)(uint32_t version, void *userdata);
        /* Its own transaction sequence number for the requests it starts. */
        uint8_t (*next_tsn)(void *userdata);
} SimOtaOps;

SimOta *sim_ota_new(uint16_t manufacturer, uint16_t image_type, uint32_t version, const SimOtaOps *ops,
                    void *userdata);
SimOta *sim_ota_free(SimOta *o);

/* A server -> client OTA frame (header included); now in seconds (the plug's clock). */
void sim_ota_receive(SimOta *o, const uint8_t *zcl, size_t len, double now);
/* Pacing, retries, the reboot. */
void sim_ota_tick(SimOta *o, double now);
/* Send a Query Next Image Request now (as after an Image Notify). */
void sim_ota_query(SimOta *o, double now);

uint32_t sim_ota_version(const SimOta *o);
void sim_ota_set_version(SimOta *o, uint32_t version);

/* Settings: "max_data_size" (1..255, default 64), "request_delay" (seconds between a block and
 * the next request, default 0), "page_size" (0 = block requests, else bytes per page request),
 * "timeout" (seconds before a request is sent again, default 5), "stall" (1: stop requesting,
 * as a plug that hangs mid-download). -EINVAL for unknown keys or bad values. */
int sim_ota_set(SimOta *o, const char *key, double value);

/* {"state":"idle|querying|downloading|ending|rebooting","version":N,"offset":N,"size":N,...} */
int sim_ota_state_json(const SimOta *o, char *buf, size_t size);
