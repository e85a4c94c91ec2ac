/*
 * The interview of a device as a non-blocking state machine, in zigbee-herdsman's order (device.ts
 * interviewInternal): node descriptor (6 attempts), active endpoints (2 attempts), then per endpoint its
 * simple descriptor and, where it has Basic, the Basic attributes one read at a time.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host-private.h"
#include "host/interview.h"
#include "util/macro.h"

#define NODE_DESC_ATTEMPTS      6u
#define ACTIVE_EP_ATTEMPTS      2u

static const struct {
        uint16_t id;
        const char *name;
} basic_attrs[_INTERVIEW_ATTR_MAX] = {
        [INTERVIEW_ATTR_MODEL_ID]          = { 0x0005, "modelId" },
        [INTERVIEW_ATTR_MANUFACTURER_NAME] = { 0x0004, "manufacturerName" },
        [INTERVIEW_ATTR_POWER_SOURCE]      = { 0x0007, "powerSource" },
        [INTERVIEW_ATTR_ZCL_VERSION]       = { 0x0000, "zclVersion" },
        [INTERVIEW_ATTR_APP_VERSION]       = { 0x0001, "appVersion" },
        [INTERVIEW_ATTR_STACK_VERSION]     = { 0x0002, "stackVersion" },
        [INTERVIEW_ATTR_HW_VERSION]        = { 0x0003, "hwVersion" },
        [INTERVIEW_ATTR_DATE_CODE]         = { 0x0006, "dateCode" },
        [INTERVIEW_ATTR_SW_BUILD_ID]       = { 0x4000, "swBuildId" },
};

uint16_t interview_attr_id(InterviewAttr a) {
        return a < _INTERVIEW_ATTR_MAX ? basic_attrs[a].id : 0xFFFF;
}

const char *interview_attr_name(InterviewAttr a) {
        return a < _INTERVIEW_ATTR_MAX ? basic_attrs[a].name : NULL;
}

const char *interview_step_name(InterviewStep s) {
        switch (s) {
        case INTERVIEW_NODE_DESCRIPTOR: return "node descriptor";
        case INTERVIEW_ACTIVE_ENDPOINTS: return "active endpoints";
        case INTERVIEW_SIMPLE_DESCRIPTOR: return "simple descriptor";
        case INTERVIEW_BASIC: return "basic attributes";
        case INTERVIEW_DONE: return "done";
        }
        return "unknown";
}

static const char *error_words(int error) {
        switch (error) {
        case -ETIMEDOUT: return "no answer";
        case -EREMOTEIO: return "refused by the device";
        case -EBADMSG: return "malformed answer";
        case -EIO: return "refused by the coordinator";
        case -ECONNRESET: return "coordinator lost";
        case -EHOSTUNREACH: return "device unreachable";
        default: return "failed";
        }
}

static void iv_step(HostInterview *iv);

static void iv_release(HostInterview *iv) {
        iv->state = IV_FREE;
        iv->gen++;
        host_disarm(iv->timer);
        if (iv->txn_id) {
                host_zcl_cancel(iv->host, iv->txn_id);
                iv->txn_id = 0;
        }
}

static void iv_report(HostInterview *iv) {
        Host *h = iv->host;
        InterviewResult result = iv->result;

        iv_release(iv);
        if (h->cb.interview_done)
                h->cb.interview_done(h, &result, h->userdata);
}

static void iv_fail(HostInterview *iv, int error, const char *fmt, ...) _printf_(3, 4);

static void iv_fail(HostInterview *iv, int error, const char *fmt, ...) {
        va_list ap;

        iv->result.success = false;
        iv->result.error = error < 0 ? error : -EIO;
        iv->result.failed_step = iv->step;
        va_start(ap, fmt);
        (void) vsnprintf(iv->result.reason, sizeof(iv->result.reason), fmt, ap);
        va_end(ap);
        iv_report(iv);
}

static void iv_succeed(HostInterview *iv) {
        iv->step = INTERVIEW_DONE;
        iv->result.success = true;
        iv->result.error = 0;
        iv->result.failed_step = INTERVIEW_DONE;
        iv->result.reason[0] = 0;
        iv_report(iv);
}

static bool ep_has_basic(const SimpleDescriptor *sd) {
        for (size_t i = 0; i < sd->n_in; i++)
                if (sd->in[i] == ZCL_CLUSTER_BASIC)
                        return true;
        return false;
}

/* Node descriptor */

static void iv_on_node_desc(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        HostInterview *iv = ctx;
        uint8_t status = 0;

        if (iv->gen != cookie || iv->state != IV_RUNNING || iv->step != INTERVIEW_NODE_DESCRIPTOR)
                return;
        if (error == 0)
                error = zdo_parse_node_desc_rsp(rsp->data, rsp->len, NULL, &status, &iv->result.node);
        if (error == 0) {
                iv->step = INTERVIEW_ACTIVE_ENDPOINTS;
                iv->attempt = 0;
                iv_step(iv);
                return;
        }
        if (error == -ECONNRESET || ++iv->attempt >= NODE_DESC_ATTEMPTS) {
                iv_fail(iv, error, "node descriptor: %s after %u attempts", error_words(error), iv->attempt);
                return;
        }
        iv_step(iv);
}

/* Active endpoints */

static void iv_on_active_ep(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        HostInterview *iv = ctx;
        uint8_t status = 0;

        if (iv->gen != cookie || iv->state != IV_RUNNING || iv->step != INTERVIEW_ACTIVE_ENDPOINTS)
                return;
        if (error == 0)
                error = zdo_parse_active_ep_rsp(rsp->data, rsp->len, NULL, &status, iv->eps, &iv->n_eps);
        if (error == 0) {
                if (iv->n_eps == 0) {
                        iv_fail(iv, -ENODATA, "active endpoints: the device has none");
                        return;
                }
                iv->step = INTERVIEW_SIMPLE_DESCRIPTOR;
                iv->ep_index = 0;
                iv->attempt = 0;
                iv_step(iv);
                return;
        }
        if (error == -ECONNRESET || ++iv->attempt >= ACTIVE_EP_ATTEMPTS) {
                iv_fail(iv, error, "active endpoints: %s after %u attempts", error_words(error), iv->attempt);
                return;
        }
        iv_step(iv);
}

/* Simple descriptors and Basic, endpoint by endpoint */

static void iv_next_endpoint(HostInterview *iv) {
        iv->ep_index++;
        if (iv->ep_index >= iv->n_eps) {
                iv_succeed(iv);
                return;
        }
        iv->step = INTERVIEW_SIMPLE_DESCRIPTOR;
        iv->attempt = 0;
        iv_step(iv);
}

static void iv_on_simple_desc(Host *h, int error, const MtFrame *rsp, void *ctx, uint32_t cookie) {
        HostInterview *iv = ctx;
        SimpleDescriptor *sd;
        uint8_t status = 0;

        if (iv->gen != cookie || iv->state != IV_RUNNING || iv->step != INTERVIEW_SIMPLE_DESCRIPTOR)
                return;
        sd = &iv->result.endpoints[iv->result.n_endpoints];
        if (error == 0)
                error = zdo_parse_simple_desc_rsp(rsp->data, rsp->len, NULL, &status, sd);
        if (error < 0) {
                iv_fail(iv, error, "simple descriptor of endpoint %u: %s", iv->eps[iv->ep_index], error_words(error));
                return;
        }
        iv->result.n_endpoints++;
        if (ep_has_basic(sd)) {
                if (iv->result.basic_endpoint == 0)
                        iv->result.basic_endpoint = sd->endpoint;
                iv->step = INTERVIEW_BASIC;
                iv->attr = 0;
                iv->second_pass = false;
                iv_step(iv);
                return;
        }
        iv_next_endpoint(iv);
}

static void copy_string(char *dst, const ZclValue *v) {
        size_t n = MIN(v->bytes.len, (size_t) INTERVIEW_STRING_MAX);

        memcpy(dst, v->bytes.data, n);
        dst[n] = 0;
        /* Some firmwares pad with NULs; the string ends at the first one. */
        dst[strnlen(dst, n)] = 0;
}

static bool store_attr(InterviewResult *r, InterviewAttr a, const ZclValue *v) {
        switch (a) {
        case INTERVIEW_ATTR_MODEL_ID:
        case INTERVIEW_ATTR_MANUFACTURER_NAME:
        case INTERVIEW_ATTR_DATE_CODE:
        case INTERVIEW_ATTR_SW_BUILD_ID:
                if (v->kind != ZCL_KIND_BYTES || v->invalid)
                        return false;
                copy_string(a == INTERVIEW_ATTR_MODEL_ID ? r->model_id :
                            a == INTERVIEW_ATTR_MANUFACTURER_NAME ? r->manufacturer_name :
                            a == INTERVIEW_ATTR_DATE_CODE ? r->date_code : r->sw_build_id, v);
                return true;
        default:
                if (v->kind != ZCL_KIND_UINT)
                        return false;
                switch (a) {
                case INTERVIEW_ATTR_POWER_SOURCE: r->power_source = (uint8_t) v->u; break;
                case INTERVIEW_ATTR_ZCL_VERSION: r->zcl_version = (uint8_t) v->u; break;
                case INTERVIEW_ATTR_APP_VERSION: r->app_version = (uint8_t) v->u; break;
                case INTERVIEW_ATTR_STACK_VERSION: r->stack_version = (uint8_t) v->u; break;
                case INTERVIEW_ATTR_HW_VERSION: r->hw_version = (uint8_t) v->u; break;
                default: return false;
                }
                return true;
        }
}

static void iv_basic_advance(HostInterview *iv) {
        iv->second_pass = false;
        do
                iv->attr++;
        while (iv->attr < _INTERVIEW_ATTR_MAX && interview_has(&iv->result, iv->attr));
        if (iv->attr >= _INTERVIEW_ATTR_MAX) {
                iv_next_endpoint(iv);
                return;
        }
        iv_step(iv);
}

static int iv_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        HostInterview *iv = userdata;
        Host *h = iv->host;

        if (iv->state != IV_WAITING)
                return 0;
        host_enter(h);
        iv->state = IV_RUNNING;
        iv_step(iv);
        host_leave(h);
        return 0;
}

static void iv_on_basic(Host *h, int error, uint8_t af_status, const HostZclMessage *rsp, void *userdata) {
        HostInterview *iv = userdata;
        bool got = false;

        iv->txn_id = 0;
        if (iv->state != IV_RUNNING || iv->step != INTERVIEW_BASIC)
                return;
        if (error == -ECONNRESET) {
                iv_fail(iv, error, "basic attributes: coordinator lost");
                return;
        }
        if (error == 0 && rsp && rsp->header.command == ZCL_CMD_READ_ATTRIBUTES_RSP) {
                ZclCursor c = zcl_cursor(rsp->payload, rsp->payload_len);
                ZclAttrRecord rec;

                while (zcl_parse_read_attributes_rsp_next(&c, &rec) > 0)
                        if (rec.id == interview_attr_id(iv->attr) && rec.status == ZCL_STATUS_SUCCESS &&
                            store_attr(&iv->result, iv->attr, &rec.value)) {
                                iv->result.have |= 1u << iv->attr;
                                got = true;
                                break;
                        }
        }
        if (!got && !iv->second_pass &&
            (iv->attr == INTERVIEW_ATTR_MODEL_ID || iv->attr == INTERVIEW_ATTR_MANUFACTURER_NAME)) {
                /* The two that identify the device get a second chance after a pause (herdsman: 10 s). */
                iv->second_pass = true;
                iv->state = IV_WAITING;
                if (host_arm_timer(h, &iv->timer, h->params.basic_retry_delay_usec, iv_on_timer, iv) < 0) {
                        iv->state = IV_RUNNING;
                        iv_basic_advance(iv);
                }
                return;
        }
        iv_basic_advance(iv);
}

/* Sends what the current step needs. */
static void iv_step(HostInterview *iv) {
        Host *h = iv->host;
        uint16_t nwk = iv->result.nwk;
        MtFrame f;
        int r;

        switch (iv->step) {
        case INTERVIEW_NODE_DESCRIPTOR:
        case INTERVIEW_ACTIVE_ENDPOINTS:
                (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO,
                                     iv->step == INTERVIEW_NODE_DESCRIPTOR ? ZDO_NODE_DESC_REQ : ZDO_ACTIVE_EP_REQ, NULL, 0);
                (void) mt_frame_append_le16(&f, nwk);   /* DstAddr */
                (void) mt_frame_append_le16(&f, nwk);   /* NwkAddrOfInterest */
                if (iv->step == INTERVIEW_NODE_DESCRIPTOR)
                        r = host_zdo_request(h, &f, ZDO_NODE_DESC_RSP, nwk, -1, 0, iv_on_node_desc, iv, iv->gen);
                else
                        r = host_zdo_request(h, &f, ZDO_ACTIVE_EP_RSP, nwk, -1, 0, iv_on_active_ep, iv, iv->gen);
                break;

        case INTERVIEW_SIMPLE_DESCRIPTOR:
                (void) mt_frame_init(&f, MT_SREQ, MT_SUBSYS_ZDO, ZDO_SIMPLE_DESC_REQ, NULL, 0);
                (void) mt_frame_append_le16(&f, nwk);
                (void) mt_frame_append_le16(&f, nwk);
                (void) mt_frame_append_u8(&f, iv->eps[iv->ep_index]);
                r = host_zdo_request(h, &f, ZDO_SIMPLE_DESC_RSP, nwk, iv->eps[iv->ep_index], 0,
                                     iv_on_simple_desc, iv, iv->gen);
                break;

        case INTERVIEW_BASIC: {
                uint16_t id = interview_attr_id(iv->attr);
                ZclHeader hdr = zcl_header_global_request(0, host_next_tsn(h));
                uint8_t buf[8];
                int n = zcl_build_read_attributes(&hdr, &id, 1, buf, sizeof(buf));

                r = n < 0 ? n : host_zcl_request(h, nwk, iv->eps[iv->ep_index], ZCL_CLUSTER_BASIC, buf, (size_t) n,
                                                 iv_on_basic, iv, &iv->txn_id);
                break;
        }

        default:
                return;
        }

        if (r < 0)
                iv_fail(iv, r, "%s: could not send the request (%s)", interview_step_name(iv->step), strerror(-r));
}

static HostInterview *iv_find(const Host *h, uint64_t ieee) {
        for (size_t i = 0; i < h->n_interviews; i++)
                if (h->interviews[i]->state != IV_FREE && h->interviews[i]->result.ieee == ieee)
                        return h->interviews[i];
        return NULL;
}

/* The first step is sent from a timer so that no callback runs inside host_interview_start(). */
static int iv_on_start(sd_event_source *s, uint64_t usec, void *userdata) {
        return iv_on_timer(s, usec, userdata);
}

int host_interview_start(Host *h, uint64_t ieee, uint16_t nwk) {
        HostInterview *iv = NULL;
        int r;

        assert(h);
        if (iv_find(h, ieee))
                return -EALREADY;
        for (size_t i = 0; i < h->n_interviews; i++)
                if (h->interviews[i]->state == IV_FREE) {
                        iv = h->interviews[i];
                        break;
                }
        if (!iv) {
                /* a new entry only when all are busy (2.7 KiB each, mostly the result) */
                if (h->n_interviews >= HOST_INTERVIEWS_MAX)
                        return -ENOBUFS;
                iv = calloc(1, sizeof(HostInterview));
                if (!iv)
                        return -ENOMEM;
                iv->host = h;
                h->interviews[h->n_interviews++] = iv;
        }

        iv->step = INTERVIEW_NODE_DESCRIPTOR;
        iv->attempt = 0;
        iv->ep_index = 0;
        iv->n_eps = 0;
        iv->attr = 0;
        iv->second_pass = false;
        iv->txn_id = 0;
        iv->result = (InterviewResult) { .ieee = ieee, .nwk = nwk, .failed_step = INTERVIEW_DONE };
        iv->state = IV_WAITING;
        r = host_arm_timer(h, &iv->timer, 0, iv_on_start, iv);
        if (r < 0) {
                iv->state = IV_FREE;
                return r;
        }
        return 0;
}

void host_interview_cancel(Host *h, uint64_t ieee) {
        HostInterview *iv = iv_find(h, ieee);

        if (iv)
                iv_release(iv);
}

bool host_interview_running(const Host *h, uint64_t ieee) {
        return iv_find(h, ieee) != NULL;
}

void host_interview_device_left(Host *h, uint64_t ieee) {
        HostInterview *iv = iv_find(h, ieee);

        if (iv)
                iv_fail(iv, -ENODEV, "%s: the device left the network", interview_step_name(iv->step));
}

/* A device that rejoined mid-interview is followed to its new address; the step in flight may time
 * out and be retried there. */
void host_interview_address_changed(Host *h, uint64_t ieee, uint16_t nwk) {
        HostInterview *iv = iv_find(h, ieee);

        if (iv)
                iv->result.nwk = nwk;
}

void host_interview_fail_all(Host *h, int error, const char *why) {
        uint32_t gens[HOST_INTERVIEWS_MAX];

        /* Only the interviews running now: interview_done may start a new one. */
        size_t n = h->n_interviews;

        for (size_t i = 0; i < n; i++)
                gens[i] = h->interviews[i]->state != IV_FREE ? h->interviews[i]->gen : h->interviews[i]->gen - 1;
        for (size_t i = 0; i < n && !h->freed; i++) {
                HostInterview *iv = h->interviews[i];

                if (iv->state != IV_FREE && iv->gen == gens[i])
                        iv_fail(iv, error, "%s: %s", interview_step_name(iv->step), why);
        }
}

void host_interview_destroy(Host *h) {
        for (size_t i = 0; i < h->n_interviews; i++) {
                h->interviews[i]->timer = sd_event_source_disable_unref(h->interviews[i]->timer);
                free(h->interviews[i]);
        }
        h->n_interviews = 0;
}
