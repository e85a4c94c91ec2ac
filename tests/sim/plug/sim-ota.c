/*
 * The simulated plug's OTA client (see sim-ota.h). Frames it sends: cluster specific, client to
 * server, default response disabled (frame control 0x11), its own TSN.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-ota.h"

#define FC_REQUEST 0x11
#define RETRIES 3

enum { IDLE, QUERYING, DOWNLOADING, ENDING, REBOOTING };
static const char *const state_names[] = { "idle", "querying", "downloading", "ending", "rebooting" };

struct SimOta {
        SimOtaOps ops;
        void *userdata;
        uint16_t manufacturer, image_type;
        uint32_t version;

        int state;
        uint32_t offered_version, size, offset, page_end;
        uint8_t *flash;
        uint8_t end_status;
        double next_at;                 /* the next request goes out then (<0: none due) */
        double deadline;                /* an unanswered request is sent again then */
        unsigned retries;
        double reboot_at;
        uint32_t reboot_version;

        /* settings */
        unsigned max_data_size, page_size;
        double request_delay, timeout;
        bool stall;

        /* counters for tests */
        unsigned blocks, aborts, rejected, updates;
        char last_error[96];
};

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static size_t header(SimOta *o, uint8_t *buf, uint8_t cmd) {
        buf[0] = FC_REQUEST;
        buf[1] = o->ops.next_tsn ? o->ops.next_tsn(o->userdata) : 0;
        buf[2] = cmd;
        return 3;
}

static void send(SimOta *o, const uint8_t *buf, size_t len) {
        if (o->ops.send)
                o->ops.send(buf, len, o->userdata);
}

static void give_up(SimOta *o, const char *why) {
        snprintf(o->last_error, sizeof(o->last_error), "%s", why);
        free(o->flash);
        o->flash = NULL;
        o->state = IDLE;
        o->next_at = -1;
        o->deadline = -1;
}

void sim_ota_query(SimOta *o, double now) {
        uint8_t buf[16];
        size_t n = header(o, buf, 0x01);

        buf[n++] = 0x00;                /* field control: no hardware version */
        put16(buf + n, o->manufacturer);
        put16(buf + n + 2, o->image_type);
        put32(buf + n + 4, o->version);
        n += 8;
        if (o->state == IDLE)
                o->state = QUERYING;
        o->deadline = now + o->timeout;
        o->retries = 0;
        send(o, buf, n);
}

static void send_data_request(SimOta *o, double now) {
        uint8_t buf[32];
        size_t n = header(o, buf, o->page_size ? 0x04 : 0x03);

        buf[n++] = 0x00;                /* field control: no IEEE, no block period */
        put16(buf + n, o->manufacturer);
        put16(buf + n + 2, o->image_type);
        put32(buf + n + 4, o->offered_version);
        put32(buf + n + 8, o->offset);
        buf[n + 12] = (uint8_t) o->max_data_size;
        n += 13;
        if (o->page_size) {
                put16(buf + n, (uint16_t) o->page_size);
                put16(buf + n + 2, 0);  /* response spacing */
                n += 4;
                o->page_end = o->offset + o->page_size;
        }
        o->next_at = -1;
        o->deadline = now + o->timeout;
        send(o, buf, n);
}

static void send_end(SimOta *o, double now) {
        uint8_t buf[16];
        size_t n = header(o, buf, 0x06);

        buf[n++] = o->end_status;
        put16(buf + n, o->manufacturer);
        put16(buf + n + 2, o->image_type);
        put32(buf + n + 4, o->offered_version);
        n += 8;
        o->deadline = now + o->timeout;
        send(o, buf, n);
}

/* What the bootloader checks before it takes the image. */
static bool image_ok(const SimOta *o) {
        if (o->size < 56 || get32(o->flash) != 0x0BEEF11Eu)
                return false;
        return get32(o->flash + 52) == o->size && get16(o->flash + 10) == o->manufacturer &&
               get16(o->flash + 12) == o->image_type && get32(o->flash + 14) == o->offered_version;
}

static void next_step(SimOta *o, double now) {
        if (o->offset >= o->size) {
                o->end_status = image_ok(o) ? 0x00 : 0x96;      /* SUCCESS / INVALID_IMAGE */
                if (o->end_status)
                        snprintf(o->last_error, sizeof(o->last_error), "downloaded image is invalid");
                o->state = ENDING;
                o->retries = 0;
                send_end(o, now);
                return;
        }
        if (o->page_size && o->offset < o->page_end) {
                o->deadline = now + o->timeout;         /* more blocks of this page to come */
                return;
        }
        o->retries = 0;
        o->deadline = -1;
        if (o->request_delay > 0)
                o->next_at = now + o->request_delay;
        else if (!o->stall)
                send_data_request(o, now);
        else
                o->next_at = now;
}

static void on_query_response(SimOta *o, const uint8_t *p, size_t len, double now) {
        if (o->state != QUERYING || len < 1)
                return;
        if (p[0] != 0x00) {
                o->state = IDLE;                /* NO_IMAGE_AVAILABLE and friends */
                o->deadline = -1;
                return;
        }
        if (len < 13 || get16(p + 1) != o->manufacturer || get16(p + 3) != o->image_type) {
                o->rejected++;
                give_up(o, "query response for another product");
                return;
        }
        o->size = get32(p + 9);
        if (o->size < 56 || o->size > SIM_OTA_FLASH_MAX) {
                o->rejected++;
                give_up(o, "image size does not fit the flash");
                return;
        }
        free(o->flash);
        o->flash = calloc(1, o->size);
        if (!o->flash) {
                give_up(o, "out of memory");
                return;
        }
        o->offered_version = get32(p + 5);
        o->offset = 0;
        o->page_end = 0;
        o->state = DOWNLOADING;
        o->last_error[0] = 0;
        o->retries = 0;
        if (o->stall)
                o->next_at = now;
        else
                send_data_request(o, now);
}

static void on_block_response(SimOta *o, const uint8_t *p, size_t len, double now) {
        uint32_t offset;
        uint8_t size;

        if (o->state != DOWNLOADING || len < 1)
                return;
        if (p[0] == 0x95) {                     /* ABORT */
                o->aborts++;
                give_up(o, "the server aborted the download");
                return;
        }
        if (p[0] == 0x97) {                     /* WAIT_FOR_DATA: ask again later */
                o->next_at = now + (len >= 13 ? (double) get32(p + 9) - (double) get32(p + 5) : 1.0);
                return;
        }
        if (p[0] != 0x00 || len < 14) {
                o->rejected++;
                give_up(o, "bad image block response");
                return;
        }
        offset = get32(p + 9);
        size = p[13];
        if (get16(p + 1) != o->manufacturer || get16(p + 3) != o->image_type || get32(p + 5) != o->offered_version) {
                o->rejected++;
                give_up(o, "block of another image");
                return;
        }
        if (offset != o->offset || size == 0 || size > o->max_data_size || (size_t) size + 14 > len ||
            (uint64_t) offset + size > o->size) {
                o->rejected++;
                give_up(o, "block at the wrong offset or of the wrong size");
                return;
        }
        memcpy(o->flash + offset, p + 14, size);
        o->offset += size;
        o->blocks++;
        next_step(o, now);
}

static void on_end_response(SimOta *o, const uint8_t *p, size_t len, double now) {
        uint32_t current, upgrade;

        if (o->state != ENDING || o->end_status != 0 || len < 16)
                return;
        if (get16(p) != o->manufacturer || get16(p + 2) != o->image_type || get32(p + 4) != o->offered_version)
                return;
        current = get32(p + 8);
        upgrade = get32(p + 12);
        /* current time 0: upgrade time is an offset in seconds; 0xFFFFFFFF: wait for a command */
        if (upgrade == 0xFFFFFFFFu)
                return;
        o->state = REBOOTING;
        o->deadline = -1;
        o->reboot_at = now + (current == 0 ? (double) upgrade : (upgrade > current ? (double) (upgrade - current) : 0));
        o->reboot_version = o->offered_version;
}

void sim_ota_receive(SimOta *o, const uint8_t *zcl, size_t len, double now) {
        const uint8_t *p;
        size_t hl = 3;

        if (!o || len < 3)
                return;
        if (zcl[0] & 0x04)
                hl = 5;
        if (len < hl)
                return;
        if ((zcl[0] & 0x03) == 0) {
                /* a Default Response to our Upgrade End Request (after a failure): start over */
                if (zcl[hl - 1] == 0x0b && o->state == ENDING) {
                        give_up(o, o->end_status ? "image refused" : "upgrade end not answered");
                        o->deadline = -1;
                }
                return;
        }
        p = zcl + hl;
        len -= hl;
        switch (zcl[hl - 1]) {
        case 0x00:                      /* Image Notify */
                if (o->state == IDLE || o->state == QUERYING)
                        sim_ota_query(o, now);
                else if (o->state == DOWNLOADING) {
                        /* a new offer while downloading: start over, as after a restart */
                        give_up(o, "new image notify");
                        sim_ota_query(o, now);
                }
                break;
        case 0x02:
                on_query_response(o, p, len, now);
                break;
        case 0x05:
                on_block_response(o, p, len, now);
                break;
        case 0x07:
                on_end_response(o, p, len, now);
                break;
        default:
                break;
        }
}

void sim_ota_tick(SimOta *o, double now) {
        if (!o)
                return;
        if (o->state == REBOOTING && now >= o->reboot_at) {
                free(o->flash);
                o->flash = NULL;
                o->version = o->reboot_version;
                o->state = IDLE;
                o->updates++;
                if (o->ops.reboot)
                        o->ops.reboot(o->version, o->userdata);
                return;
        }
        if (o->state == DOWNLOADING && !o->stall && o->next_at >= 0 && now >= o->next_at) {
                send_data_request(o, now);
                return;
        }
        if (o->deadline >= 0 && now >= o->deadline && !(o->state == DOWNLOADING && o->stall)) {
                if (++o->retries > RETRIES) {
                        give_up(o, "the server stopped answering");
                        return;
                }
                if (o->state == QUERYING)
                        o->state = IDLE, o->deadline = -1;      /* the next notify asks again */
                else if (o->state == DOWNLOADING)
                        send_data_request(o, now);
                else if (o->state == ENDING)
                        send_end(o, now);
        }
}

uint32_t sim_ota_version(const SimOta *o) {
        return o->version;
}

void sim_ota_set_version(SimOta *o, uint32_t version) {
        o->version = version;
}

int sim_ota_set(SimOta *o, const char *key, double v) {
        if (!isfinite(v))
                return -EINVAL;
        if (strcmp(key, "max_data_size") == 0 && v >= 1 && v <= 255)
                o->max_data_size = (unsigned) v;
        else if (strcmp(key, "request_delay") == 0 && v >= 0 && v <= 60)
                o->request_delay = v;
        else if (strcmp(key, "page_size") == 0 && v >= 0 && v <= 65535)
                o->page_size = (unsigned) v;
        else if (strcmp(key, "timeout") == 0 && v > 0 && v <= 3600)
                o->timeout = v;
        else if (strcmp(key, "stall") == 0 && (v == 0 || v == 1))
                o->stall = v != 0;
        else
                return -EINVAL;
        return 0;
}

int sim_ota_state_json(const SimOta *o, char *buf, size_t size) {
        int n = snprintf(buf, size,
                         "{\"state\":\"%s\",\"version\":%u,\"offered_version\":%u,\"offset\":%u,\"size\":%u,"
                         "\"blocks\":%u,\"aborts\":%u,\"rejected\":%u,\"updates\":%u,\"max_data_size\":%u,"
                         "\"page_size\":%u,\"request_delay\":%.3f,\"timeout\":%.3f,\"stall\":%s,\"last_error\":\"%s\"}",
                         state_names[o->state], o->version, o->offered_version, o->offset, o->size, o->blocks,
                         o->aborts, o->rejected, o->updates, o->max_data_size, o->page_size, o->request_delay,
                         o->timeout, o->stall ? "true" : "false", o->last_error);
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return n;
}

SimOta *sim_ota_new(uint16_t manufacturer, uint16_t image_type, uint32_t version, const SimOtaOps *ops,
                    void *userdata) {
        SimOta *o = calloc(1, sizeof(*o));

        if (!o)
                return NULL;
        o->manufacturer = manufacturer;
        o->image_type = image_type;
        o->version = version;
        if (ops)
                o->ops = *ops;
        o->userdata = userdata;
        o->max_data_size = 64;
        o->timeout = 5;
        o->next_at = o->deadline = -1;
        return o;
}

SimOta *sim_ota_free(SimOta *o) {
        if (o) {
                free(o->flash);
                free(o);
        }
        return NULL;
}
