/*
 * The OTA Upgrade cluster server (see ota-server.h). Payloads (ZCL spec 11.13, herdsman's
 * cluster.ts genOta), little-endian:
 *   Image Notify (s->c 0x00)            payload type u8 (0: jitter only), query jitter u8
 *   Query Next Image Request (0x01)     field control u8, manufacturer u16, image type u16,
 *                                       file version u32, [hardware version u16 if fc & 1]
 *   Query Next Image Response (0x02)    status u8, [manufacturer u16, image type u16,
 *                                       file version u32, image size u32 if SUCCESS]
 *   Image Block Request (0x03)          field control u8, manufacturer, type, version,
 *                                       file offset u32, maximum data size u8,
 *                                       [IEEE u64 if fc & 1], [minimum block period u16 if fc & 2]
 *   Image Page Request (0x04)           as the block request, then page size u16,
 *                                       response spacing u16, [IEEE u64 if fc & 1]
 *   Image Block Response (0x05)         status u8, [manufacturer, type, version, file offset u32,
 *                                       data size u8, data if SUCCESS]
 *   Upgrade End Request (0x06)          status u8, manufacturer, type, version
 *   Upgrade End Response (0x07)         manufacturer, type, version, current time u32,
 *                                       upgrade time u32
 * Server -> client frames go out as herdsman's commandResponse builds them: cluster-specific,
 * server to client, default response disabled (frame control 0x19); answers carry the TSN of
 * the request they answer.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota/ota-image.h"
#include "ota/ota-server.h"
#include "util/log.h"
#include "util/round.h"
#include "zigbee/zcl.h"

#define USEC_PER_MSEC 1000ull
#define USEC_PER_SEC 1000000ull
#define NOTIFY_TIMEOUT_USEC (60ull * USEC_PER_SEC)      /* herdsman: 60 s for the query */
#define REBOOT_TIMEOUT_USEC (120ull * USEC_PER_SEC)     /* herdsman: 120 s for the announce */
#define PROGRESS_INTERVAL_USEC (30ull * USEC_PER_SEC)   /* herdsman's progress period */
#define QUERY_JITTER 100
#define FC_SERVER_RESPONSE 0x19         /* cluster specific | server to client | no default rsp */
#define ZCL_FC_TYPE_MASK 0x03

typedef enum Phase {
        PHASE_FREE,
        PHASE_NOTIFY,           /* Image Notify sent, waiting for the query */
        PHASE_DOWNLOAD,         /* serving blocks until the Upgrade End Request */
        PHASE_REBOOT,           /* Upgrade End Response sent, waiting for the announce */
        PHASE_VERIFY,           /* Image Notify sent again, waiting for the query with the new version */
} Phase;

typedef struct Session {
        OtaServer *server;
        Phase phase;
        bool update;
        uint64_t ieee;
        uint8_t endpoint;
        OtaImage *image;
        uint32_t from_version;
        sd_event_source *deadline;
        sd_event_source *send_timer;

        /* the block response due (a block request, or what is left of a page) */
        bool pending;
        uint8_t pending_tsn;
        uint32_t pending_offset;        /* next byte to send */
        uint32_t page_end;              /* page requests: end of the page; else 0 */
        uint8_t pending_max;            /* the plug's maximum data size */

        uint64_t start_usec, last_block_usec, last_progress_usec;
        double last_progress;
} Session;

struct OtaServer {
        sd_event *event;
        OtaServerConfig cfg;
        OtaServerOps ops;
        void *userdata;
        Session sessions[OTA_SESSIONS_MAX];
};

static uint64_t now_usec(const OtaServer *s) {
        uint64_t t = 0;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

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
        for (size_t i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static Session *session_find(const OtaServer *s, uint64_t ieee) {
        for (size_t i = 0; i < OTA_SESSIONS_MAX; i++)
                if (s->sessions[i].phase != PHASE_FREE && s->sessions[i].ieee == ieee)
                        return (Session *) &s->sessions[i];
        return NULL;
}

bool ota_server_busy(const OtaServer *s, uint64_t ieee) {
        return s && session_find(s, ieee);
}

static void session_clear(Session *se) {
        se->deadline = sd_event_source_disable_unref(se->deadline);
        se->send_timer = sd_event_source_disable_unref(se->send_timer);
        se->image = ota_image_free(se->image);
        *se = (Session) {};
}

static void emit(OtaServer *s, uint64_t ieee, const OtaEvent *ev) {
        if (s->ops.event)
                s->ops.event(s->userdata, ieee, ev);
}

/* Ends the session (freed first: the owner may start another from the event). */
static void session_fail(Session *se, bool no_image, const char *fmt, ...) _printf_(3, 4);
static void session_fail(Session *se, bool no_image, const char *fmt, ...) {
        OtaServer *s = se->server;
        uint64_t ieee = se->ieee;
        OtaEvent ev = { .kind = OTA_EVENT_FAILED, .update = se->update, .no_image = no_image,
                        .current_version = se->from_version, .have_current = se->phase > PHASE_NOTIFY };
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        ev.message = msg;
        session_clear(se);
        emit(s, ieee, &ev);
}

static int send_frame(Session *se, uint16_t cluster, const uint8_t *frame, size_t len) {
        OtaServer *s = se->server;

        if (!s->ops.send)
                return -ENOTCONN;
        return s->ops.send(s->userdata, se->ieee, se->endpoint, cluster, frame, len);
}

static int send_to(OtaServer *s, uint64_t ieee, uint8_t endpoint, const uint8_t *frame, size_t len) {
        if (!s->ops.send)
                return -ENOTCONN;
        return s->ops.send(s->userdata, ieee, endpoint, OTA_CLUSTER, frame, len);
}

static size_t response_header(uint8_t *buf, uint8_t tsn, uint8_t cmd) {
        buf[0] = FC_SERVER_RESPONSE;
        buf[1] = tsn;
        buf[2] = cmd;
        return 3;
}

static int send_simple_status(OtaServer *s, uint64_t ieee, uint8_t endpoint, uint8_t tsn, uint8_t cmd, uint8_t status) {
        uint8_t buf[4];
        size_t n = response_header(buf, tsn, cmd);

        buf[n++] = status;
        return send_to(s, ieee, endpoint, buf, n);
}

static int send_default_response(OtaServer *s, uint64_t ieee, uint8_t endpoint, uint8_t tsn, uint8_t cmd, uint8_t status) {
        /* global, server to client, no default response */
        uint8_t buf[5] = { 0x18, tsn, ZCL_CMD_DEFAULT_RSP, cmd, status };

        return send_to(s, ieee, endpoint, buf, sizeof(buf));
}

static int arm(Session *se, sd_event_source **src, uint64_t usec, sd_event_time_handler_t handler) {
        OtaServer *s = se->server;
        int r;

        if (*src) {
                r = sd_event_source_set_time(*src, now_usec(s) + usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(*src, SD_EVENT_ONESHOT);
                return r;
        }
        return sd_event_add_time(s->event, src, CLOCK_MONOTONIC, now_usec(s) + usec, 1 /* no coalescing: block pacing */, handler, se);
}

static uint64_t request_timeout(const OtaServer *s) {
        return (uint64_t) s->cfg.request_timeout_ms * USEC_PER_MSEC;
}

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata);
static int on_send_timer(sd_event_source *src, uint64_t usec, void *userdata);

static int send_image_notify(Session *se) {
        OtaServer *s = se->server;
        uint8_t buf[5];
        size_t n = response_header(buf, s->ops.next_tsn ? s->ops.next_tsn(s->userdata) : 0, OTA_CMD_IMAGE_NOTIFY);
        int r;

        buf[n++] = 0;                   /* payload type: query jitter only */
        buf[n++] = QUERY_JITTER;
        r = send_frame(se, OTA_CLUSTER, buf, n);
        if (r < 0)
                return r;
        return arm(se, &se->deadline, NOTIFY_TIMEOUT_USEC, on_deadline);
}

static int session_start(OtaServer *s, uint64_t ieee, uint8_t endpoint, bool update) {
        Session *se = NULL;
        int r;

        if (!s)
                return -EINVAL;
        if (session_find(s, ieee))
                return -EBUSY;
        for (size_t i = 0; i < OTA_SESSIONS_MAX && !se; i++)
                if (s->sessions[i].phase == PHASE_FREE)
                        se = &s->sessions[i];
        if (!se)
                return -ENOBUFS;
        *se = (Session) { .server = s, .phase = PHASE_NOTIFY, .update = update, .ieee = ieee, .endpoint = endpoint };
        r = send_image_notify(se);
        if (r < 0) {
                session_clear(se);
                return r;
        }
        return 0;
}

int ota_server_check(OtaServer *s, uint64_t ieee, uint8_t endpoint) {
        return session_start(s, ieee, endpoint, false);
}

int ota_server_update(OtaServer *s, uint64_t ieee, uint8_t endpoint) {
        return session_start(s, ieee, endpoint, true);
}

/*
 * Timers
 */

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *se = userdata;
        char ieee[19];

        snprintf(ieee, sizeof(ieee), "0x%016" PRIx64, se->ieee);
        switch (se->phase) {
        case PHASE_NOTIFY:
                session_fail(se, false, "Device didn't respond to OTA request");
                break;
        case PHASE_DOWNLOAD:
                session_fail(se, false, "Device %s did not start/finish firmware download after being notified. "
                             "(Timeout: no request for %u ms)", ieee, se->server->cfg.request_timeout_ms);
                break;
        case PHASE_REBOOT:
                /* herdsman considers the update done without the announce; we ask the plug */
                se->phase = PHASE_VERIFY;
                if (send_image_notify(se) < 0)
                        session_fail(se, false, "Device %s did not come back after the update", ieee);
                break;
        case PHASE_VERIFY:
                session_fail(se, false, "Device %s did not come back after the update (no answer to the image notify)",
                             ieee);
                break;
        default:
                break;
        }
        return 0;
}

static void report_progress(Session *se, uint32_t offset, bool force) {
        OtaServer *s = se->server;
        uint64_t now = now_usec(s);
        uint32_t total = se->image->header.total_image_size;
        double pct = round_half_away((double) offset / total * 10000.0) / 100.0;
        double elapsed = (double) (now - se->start_usec) / USEC_PER_SEC;
        OtaEvent ev = { .kind = OTA_EVENT_PROGRESS, .update = true };

        if (!force && pct < se->last_progress + OTA_PROGRESS_STEP && now - se->last_progress_usec < PROGRESS_INTERVAL_USEC)
                return;
        if (offset == 0 || elapsed <= 0)
                return;         /* the start's estimate stands until data flowed (as herdsman) */
        se->last_progress = pct;
        se->last_progress_usec = now;
        ev.progress = pct;
        ev.remaining = round_half_away((double) (total - offset) / ((double) offset / elapsed));
        emit(s, se->ieee, &ev);
}

/* Sends the block due now; for a page, arms the next one. */
static void send_block(Session *se) {
        OtaServer *s = se->server;
        const OtaHeader *h = &se->image->header;
        uint8_t buf[160];
        uint32_t offset = se->pending_offset;
        size_t size, n;
        int r;

        size = MIN((size_t) se->pending_max, (size_t) s->cfg.max_data_size);
        size = MIN(size, sizeof(buf) - 17);
        if (se->page_end)
                size = MIN(size, (size_t) (se->page_end - offset));
        if (offset >= se->image->size)
                size = 0;
        else
                size = MIN(size, se->image->size - offset);

        n = response_header(buf, se->pending_tsn, OTA_CMD_IMAGE_BLOCK_RSP);
        buf[n++] = OTA_STATUS_SUCCESS;
        put16(buf + n, h->manufacturer_code);
        put16(buf + n + 2, h->image_type);
        put32(buf + n + 4, h->file_version);
        put32(buf + n + 8, offset);
        buf[n + 12] = (uint8_t) size;
        n += 13;
        memcpy(buf + n, se->image->data + offset, size);
        n += size;

        se->last_block_usec = now_usec(s);
        r = send_frame(se, OTA_CLUSTER, buf, n);
        /* as herdsman: the plug asks again (or the update times out) */
        if (r < 0) {
                char ieee_s[19];

                snprintf(ieee_s, sizeof(ieee_s), "0x%016" PRIx64, se->ieee);
                log_fields(LOG_DEBUG, r, &((LogFields) { .device = ieee_s, .error = "delivery-failed" }),
                           "OTA: image block response to %s failed, ignoring: %m", ieee_s);
        }
        se->pending_offset += (uint32_t) size;
        if (se->page_end && size > 0 && se->pending_offset < se->page_end && se->pending_offset < se->image->size) {
                r = arm(se, &se->send_timer, (uint64_t) s->cfg.block_response_delay_ms * USEC_PER_MSEC, on_send_timer);
                if (r < 0)
                        se->pending = false;
                return;
        }
        se->pending = false;
}

static int on_send_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *se = userdata;

        if (se->phase == PHASE_DOWNLOAD && se->pending)
                send_block(se);
        return 0;
}

/* Sends at once or after image_block_response_delay since the previous block. */
static void schedule_block(Session *se) {
        OtaServer *s = se->server;
        uint64_t delay = (uint64_t) s->cfg.block_response_delay_ms * USEC_PER_MSEC, now = now_usec(s), wait = 0;

        if (se->last_block_usec && now < se->last_block_usec + delay)
                wait = se->last_block_usec + delay - now;
        if (wait == 0) {
                if (se->send_timer)
                        (void) sd_event_source_set_enabled(se->send_timer, SD_EVENT_OFF);
                send_block(se);
                return;
        }
        if (arm(se, &se->send_timer, wait, on_send_timer) < 0)
                send_block(se);
}

/*
 * Requests from the plug
 */

static void answer_query(OtaServer *s, Session *se, uint64_t ieee, uint8_t endpoint, uint8_t tsn, const OtaQuery *q) {
        _cleanup_(ota_dir_index_done) OtaDirIndex idx = {};
        char rejects[1024] = "", ieee_s[19];
        const OtaDirEntry *best = NULL;
        OtaEvent ev = { .kind = OTA_EVENT_CHECKED, .current_version = q->file_version, .have_current = true,
                        .latest_version = q->file_version };
        int r;

        snprintf(ieee_s, sizeof(ieee_s), "0x%016" PRIx64, ieee);
        r = ota_dir_scan(s->cfg.directory, &idx);
        if (r < 0)
                log_warning_errno(r, "OTA: cannot read the image directory %s, ignoring: %m", s->cfg.directory);
        else {
                best = ota_dir_best(&idx, q, ieee);
                ota_dir_describe_rejects(&idx, q, rejects, sizeof(rejects));
                if (rejects[0])
                        log_fields(LOG_WARNING, 0, &((LogFields) { .device = ieee_s, .error = "ota-bad-image" }), "OTA: image files refused for %s (manufacturer 0x%04x, image type 0x%04x): %s", ieee_s,
                                    q->manufacturer_code, q->image_type, rejects);
        }

        if (se && se->update && se->phase == PHASE_NOTIFY) {
                OtaImage *img = NULL;
                char err[OTA_ERROR_MAX];

                se->from_version = q->file_version;
                if (!best || best->header.file_version <= q->file_version) {
                        (void) send_simple_status(s, ieee, endpoint, tsn, OTA_CMD_QUERY_NEXT_IMAGE_RSP,
                                                  OTA_STATUS_NO_IMAGE_AVAILABLE);
                        se->phase = PHASE_DOWNLOAD;     /* the plug's version is known */
                        if (rejects[0])
                                session_fail(se, true, "No image currently available; refused: %s", rejects);
                        else
                                session_fail(se, true, "No image currently available");
                        return;
                }
                /* read it again: the file may have changed since the scan */
                r = ota_image_load(best->path, &img, err, sizeof(err));
                if (r >= 0 && !(img->header.file_version > q->file_version && ota_header_matches(&img->header, q, ieee))) {
                        snprintf(err, sizeof(err), "changed while it was read");
                        img = ota_image_free(img);
                        r = -EBADMSG;
                }
                if (r < 0) {
                        (void) send_simple_status(s, ieee, endpoint, tsn, OTA_CMD_QUERY_NEXT_IMAGE_RSP,
                                                  OTA_STATUS_NO_IMAGE_AVAILABLE);
                        se->phase = PHASE_DOWNLOAD;
                        session_fail(se, true, "No image currently available; refused: '%s': %s", best->path, err);
                        return;
                }
                se->image = img;
                se->phase = PHASE_DOWNLOAD;
                se->start_usec = now_usec(s);
                {
                        uint8_t buf[16];
                        size_t n = response_header(buf, tsn, OTA_CMD_QUERY_NEXT_IMAGE_RSP);
                        double blocks = (double) (((uint64_t) img->header.total_image_size + s->cfg.max_data_size - 1) /
                                                  s->cfg.max_data_size);
                        double per_sec = s->cfg.block_response_delay_ms > 0 ?
                                         round_half_away(1000.0 / s->cfg.block_response_delay_ms * 100.0) / 100.0 : 20.0;
                        OtaEvent pe = { .kind = OTA_EVENT_PROGRESS, .update = true, .progress = 0,
                                        .remaining = blocks / per_sec, .have_current = true,
                                        .current_version = q->file_version,
                                        .latest_version = img->header.file_version, .source = img->path };

                        buf[n++] = OTA_STATUS_SUCCESS;
                        put16(buf + n, img->header.manufacturer_code);
                        put16(buf + n + 2, img->header.image_type);
                        put32(buf + n + 4, img->header.file_version);
                        put32(buf + n + 8, img->header.total_image_size);
                        n += 12;
                        r = send_to(s, ieee, endpoint, buf, n);
                        if (r < 0) {
                                session_fail(se, false, "Cannot answer the query of %s: %s", ieee_s, strerror(-r));
                                return;
                        }
                        if (arm(se, &se->deadline, request_timeout(s), on_deadline) < 0) {
                                session_fail(se, false, "Cannot arm the OTA timer");
                                return;
                        }
                        log_fields(LOG_INFO, 0, &((LogFields) { .device = ieee_s }), "OTA: updating %s from file version %" PRIu32 " to %" PRIu32 " with '%s' (%" PRIu32
                                 " bytes, %.0f blocks)", ieee_s, q->file_version, img->header.file_version, img->path,
                                 img->header.total_image_size, blocks);
                        emit(s, ieee, &pe);
                }
                return;
        }

        /* a check, the verification after a reboot, or a query nobody asked for: nothing to
         * download now (Zigbee2MQTT answers every query so, to stop the plug asking) */
        (void) send_simple_status(s, ieee, endpoint, tsn, OTA_CMD_QUERY_NEXT_IMAGE_RSP, OTA_STATUS_NO_IMAGE_AVAILABLE);
        if (se && (se->phase == PHASE_VERIFY || se->phase == PHASE_REBOOT)) {
                OtaEvent ie = { .kind = OTA_EVENT_INSTALLED, .update = true, .from_version = se->from_version,
                                .to_version = se->image->header.file_version, .current_version = q->file_version,
                                .have_current = true };
                char path[512];

                if (q->file_version != se->image->header.file_version) {
                        session_fail(se, false, "Device %s came back with file version %" PRIu32 ", not %" PRIu32
                                     " (the update did not take)", ieee_s, q->file_version, se->image->header.file_version);
                        return;
                }
                snprintf(path, sizeof(path), "%s", se->image->path);
                ie.source = path;
                if (best) {
                        ie.available = best->header.file_version > q->file_version;
                        ie.latest_version = ie.available ? best->header.file_version : q->file_version;
                } else
                        ie.latest_version = q->file_version;
                log_fields(LOG_INFO, 0, &((LogFields) { .device = ieee_s }), "OTA: %s runs file version %" PRIu32 " now (was %" PRIu32 ", %.0f s)", ieee_s, q->file_version,
                         se->from_version, (double) (now_usec(s) - se->start_usec) / USEC_PER_SEC);
                session_clear(se);
                emit(s, ieee, &ie);
                return;
        }
        if (best) {
                ev.available = best->header.file_version > q->file_version;
                if (ev.available)
                        ev.latest_version = best->header.file_version;
                ev.source = best->path;
        }
        ev.unsolicited = !se;
        if (se)
                session_clear(se);
        emit(s, ieee, &ev);
}

static bool parse_query(const uint8_t *p, size_t len, OtaQuery *q) {
        if (len < 9)
                return false;
        *q = (OtaQuery) { .manufacturer_code = get16(p + 1), .image_type = get16(p + 3), .file_version = get32(p + 5) };
        if (p[0] & 0x01) {
                if (len < 11)
                        return false;
                q->has_hw_version = true;
                q->hw_version = get16(p + 9);
        }
        return true;
}

static void on_block_request(OtaServer *s, Session *se, uint64_t ieee, uint8_t endpoint, uint8_t tsn, bool page,
                             const uint8_t *p, size_t len) {
        uint16_t mfr, type, page_size = 0;
        uint32_t version, offset;
        uint8_t max;
        char ieee_s[19];

        snprintf(ieee_s, sizeof(ieee_s), "0x%016" PRIx64, ieee);
        if (len < 14 || (page && len < 18)) {
                (void) send_default_response(s, ieee, endpoint, tsn, page ? OTA_CMD_IMAGE_PAGE_REQ : OTA_CMD_IMAGE_BLOCK_REQ,
                                             OTA_STATUS_MALFORMED_COMMAND);
                return;
        }
        mfr = get16(p + 1);
        type = get16(p + 3);
        version = get32(p + 5);
        offset = get32(p + 9);
        max = p[13];
        if (page)
                page_size = get16(p + 14);

        if (!se || se->phase != PHASE_DOWNLOAD || !se->image) {
                /* no download of ours (a restart cut it): tell the plug to give up */
                log_fields(LOG_INFO, 0, &((LogFields) { .device = ieee_s }), "OTA: %s asks for image data outside an update (offset %" PRIu32 "), answering ABORT", ieee_s,
                         offset);
                (void) send_simple_status(s, ieee, endpoint, tsn, OTA_CMD_IMAGE_BLOCK_RSP, OTA_STATUS_ABORT);
                return;
        }
        if (mfr != se->image->header.manufacturer_code || type != se->image->header.image_type ||
            version != se->image->header.file_version || offset >= se->image->size || max == 0 || (page && page_size == 0)) {
                (void) send_simple_status(s, ieee, endpoint, tsn, OTA_CMD_IMAGE_BLOCK_RSP, OTA_STATUS_ABORT);
                session_fail(se, false, "Device %s asked for something else than the image offered (manufacturer 0x%04x, "
                             "image type 0x%04x, file version %" PRIu32 ", offset %" PRIu32 ", size %u)", ieee_s, mfr, type,
                             version, offset, max);
                return;
        }
        if (arm(se, &se->deadline, request_timeout(s), on_deadline) < 0) {
                session_fail(se, false, "Cannot arm the OTA timer");
                return;
        }
        se->pending = true;
        se->pending_tsn = tsn;
        se->pending_offset = offset;
        se->pending_max = max;
        se->page_end = page ? (uint32_t) MIN((uint64_t) offset + page_size, (uint64_t) se->image->size) : 0;
        report_progress(se, offset, false);
        schedule_block(se);
}

static void on_upgrade_end(OtaServer *s, Session *se, uint64_t ieee, uint8_t endpoint, uint8_t tsn, const uint8_t *p,
                           size_t len) {
        static const char *const names[] = {
                [OTA_STATUS_ABORT - 0x95] = "ABORT",
                [OTA_STATUS_INVALID_IMAGE - 0x95] = "INVALID_IMAGE",
                [OTA_STATUS_WAIT_FOR_DATA - 0x95] = "WAIT_FOR_DATA",
                [OTA_STATUS_NO_IMAGE_AVAILABLE - 0x95] = "NO_IMAGE_AVAILABLE",
                [OTA_STATUS_REQUIRE_MORE_IMAGE - 0x95] = "REQUIRE_MORE_IMAGE",
        };
        const OtaHeader *h;
        uint8_t buf[24];
        char ieee_s[19], status_name[16];
        size_t n;

        snprintf(ieee_s, sizeof(ieee_s), "0x%016" PRIx64, ieee);
        if (len < 9) {
                (void) send_default_response(s, ieee, endpoint, tsn, OTA_CMD_UPGRADE_END_REQ, OTA_STATUS_MALFORMED_COMMAND);
                return;
        }
        if (!se || se->phase != PHASE_DOWNLOAD || !se->image) {
                (void) send_default_response(s, ieee, endpoint, tsn, OTA_CMD_UPGRADE_END_REQ, OTA_STATUS_ABORT);
                return;
        }
        if (p[0] != OTA_STATUS_SUCCESS) {
                /* ZCL 11.13.9.4: no Upgrade End Response, a Default Response SUCCESS, and the client
                 * starts over if it wants */
                (void) send_default_response(s, ieee, endpoint, tsn, OTA_CMD_UPGRADE_END_REQ, OTA_STATUS_SUCCESS);
                if (p[0] >= 0x95 && p[0] <= 0x99)
                        snprintf(status_name, sizeof(status_name), "%s", names[p[0] - 0x95]);
                else
                        snprintf(status_name, sizeof(status_name), "0x%02x", p[0]);
                session_fail(se, false, "OTA update of %s failed with reason: %s", ieee_s, status_name);
                return;
        }
        h = &se->image->header;
        n = response_header(buf, tsn, OTA_CMD_UPGRADE_END_RSP);
        put16(buf + n, h->manufacturer_code);
        put16(buf + n + 2, h->image_type);
        put32(buf + n + 4, h->file_version);
        put32(buf + n + 8, 0);          /* current time 0: upgrade time is an offset (herdsman) */
        put32(buf + n + 12, 1);         /* upgrade in 1 s */
        n += 16;
        if (send_frame(se, OTA_CLUSTER, buf, n) < 0) {
                session_fail(se, false, "OTA upgrade end response failed");
                return;
        }
        se->phase = PHASE_REBOOT;
        se->send_timer = sd_event_source_disable_unref(se->send_timer);
        if (arm(se, &se->deadline, MIN(REBOOT_TIMEOUT_USEC, request_timeout(s)), on_deadline) < 0) {
                session_fail(se, false, "Cannot arm the OTA timer");
                return;
        }
        log_fields(LOG_INFO, 0, &((LogFields) { .device = ieee_s }), "OTA: %s downloaded the whole image (%.0f s), it installs it now", ieee_s,
                 (double) (now_usec(s) - se->start_usec) / USEC_PER_SEC);
        emit(s, ieee, &(OtaEvent) { .kind = OTA_EVENT_PROGRESS, .update = true, .progress = 100, .remaining = 0 });
}

void ota_server_on_frame(OtaServer *s, uint64_t ieee, uint8_t src_endpoint, const uint8_t *zcl, size_t len) {
        Session *se;
        ZclHeader h;
        const uint8_t *p;
        OtaQuery q;
        size_t plen;
        int hl;

        if (!s || !zcl)
                return;
        hl = zcl_header_decode(zcl, len, &h);
        if (hl < 0)
                return;
        p = zcl + hl;
        plen = len - (size_t) hl;
        se = session_find(s, ieee);
        if (se && se->endpoint != src_endpoint)
                se->endpoint = src_endpoint;    /* answers go where the requests come from */

        if ((h.frame_control & ZCL_FC_TYPE_MASK) == 0) {
                /* a Default Response refusing our Image Notify: no OTA client there */
                if (h.command == ZCL_CMD_DEFAULT_RSP && plen >= 2 && p[0] == OTA_CMD_IMAGE_NOTIFY && p[1] != 0 && se &&
                    (se->phase == PHASE_NOTIFY || se->phase == PHASE_VERIFY))
                        session_fail(se, false, "Device didn't respond to OTA request (status 0x%02x)", p[1]);
                return;
        }
        if ((h.frame_control & ZCL_FC_TYPE_MASK) != 1 || (h.frame_control & ZCL_FC_SERVER_TO_CLIENT) ||
            (h.frame_control & ZCL_FC_MANUFACTURER))
                return;

        switch (h.command) {
        case OTA_CMD_QUERY_NEXT_IMAGE_REQ:
                if (!parse_query(p, plen, &q)) {
                        (void) send_default_response(s, ieee, src_endpoint, h.tsn, h.command, OTA_STATUS_MALFORMED_COMMAND);
                        return;
                }
                if (se && se->phase == PHASE_DOWNLOAD) {
                        /* the plug started over: offer the same image again */
                        se->image = ota_image_free(se->image);
                        se->phase = PHASE_NOTIFY;
                }
                answer_query(s, se, ieee, src_endpoint, h.tsn, &q);
                return;
        case OTA_CMD_IMAGE_BLOCK_REQ:
        case OTA_CMD_IMAGE_PAGE_REQ:
                on_block_request(s, se, ieee, src_endpoint, h.tsn, h.command == OTA_CMD_IMAGE_PAGE_REQ, p, plen);
                return;
        case OTA_CMD_UPGRADE_END_REQ:
                on_upgrade_end(s, se, ieee, src_endpoint, h.tsn, p, plen);
                return;
        default:
                (void) send_default_response(s, ieee, src_endpoint, h.tsn, h.command, ZCL_STATUS_UNSUP_COMMAND);
                return;
        }
}

void ota_server_on_announce(OtaServer *s, uint64_t ieee) {
        Session *se = s ? session_find(s, ieee) : NULL;

        if (!se || se->phase != PHASE_REBOOT)
                return;
        se->phase = PHASE_VERIFY;
        if (send_image_notify(se) < 0)
                session_fail(se, false, "Device 0x%016" PRIx64 " did not come back after the update", ieee);
}

void ota_server_cancel(OtaServer *s, uint64_t ieee, const char *reason) {
        Session *se = s ? session_find(s, ieee) : NULL;

        if (se)
                session_fail(se, false, "%s", reason ? reason : "cancelled");
}

int ota_server_new(OtaServer **ret, sd_event *event, const OtaServerConfig *cfg, const OtaServerOps *ops,
                   void *userdata) {
        OtaServer *s;

        if (!ret || !event || !cfg || !ops || !cfg->directory)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->cfg = *cfg;
        if (s->cfg.max_data_size == 0)
                s->cfg.max_data_size = 50;
        if (s->cfg.request_timeout_ms == 0)
                s->cfg.request_timeout_ms = 150000;
        s->ops = *ops;
        s->userdata = userdata;
        *ret = s;
        return 0;
}

OtaServer *ota_server_free(OtaServer *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < OTA_SESSIONS_MAX; i++)
                if (s->sessions[i].phase != PHASE_FREE)
                        session_clear(&s->sessions[i]);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
