/*
 * What the interview of a device found, in the order zigbee-herdsman asks for it: node descriptor (up to
 * 6 attempts), active endpoints (2 attempts), a simple descriptor per endpoint, then the Basic cluster
 * attributes read one at a time on the first endpoint that has Basic (a failed or unsupported attribute
 * is tolerated; modelId and manufacturerName are asked a second time after a pause).
 *
 * The Lumi join workaround of zigbee-herdsman (advertising manufacturer code 0x115F in the coordinator's
 * node descriptor while a 04:CF:8C / 54:EF:44 device is interviewed) exists only in its ember and zboss
 * adapters; MT has no command to change the coordinator's node descriptor and herdsman's z-stack adapter
 * does not do it. So neither do we.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INTERVIEW_ENDPOINTS_MAX         16u
#define INTERVIEW_CLUSTERS_MAX          32u
#define INTERVIEW_STRING_MAX            64u     /* bytes, without the terminating NUL */

typedef struct SimpleDescriptor {
        uint8_t endpoint;
        uint16_t profile;
        uint16_t device_id;
        uint8_t device_version;
        uint8_t n_in, n_out;
        uint16_t in[INTERVIEW_CLUSTERS_MAX];
        uint16_t out[INTERVIEW_CLUSTERS_MAX];
} SimpleDescriptor;

typedef struct NodeDescriptor {
        uint8_t logical_type;           /* 0 coordinator, 1 router, 2 end device */
        uint8_t mac_capabilities;
        uint16_t manufacturer_code;
        uint16_t server_mask;
} NodeDescriptor;

typedef enum InterviewStep {
        INTERVIEW_NODE_DESCRIPTOR,
        INTERVIEW_ACTIVE_ENDPOINTS,
        INTERVIEW_SIMPLE_DESCRIPTOR,
        INTERVIEW_BASIC,
        INTERVIEW_DONE,
} InterviewStep;

/* Basic attributes read by the interview, in reading order. */
typedef enum InterviewAttr {
        INTERVIEW_ATTR_MODEL_ID,
        INTERVIEW_ATTR_MANUFACTURER_NAME,
        INTERVIEW_ATTR_POWER_SOURCE,
        INTERVIEW_ATTR_ZCL_VERSION,
        INTERVIEW_ATTR_APP_VERSION,
        INTERVIEW_ATTR_STACK_VERSION,
        INTERVIEW_ATTR_HW_VERSION,
        INTERVIEW_ATTR_DATE_CODE,
        INTERVIEW_ATTR_SW_BUILD_ID,
        _INTERVIEW_ATTR_MAX,
} InterviewAttr;

typedef struct InterviewResult {
        uint64_t ieee;
        uint16_t nwk;
        bool success;
        int error;                      /* 0, or why it failed (-ETIMEDOUT, -ECONNRESET, ...) */
        InterviewStep failed_step;      /* INTERVIEW_DONE on success */
        char reason[96];                /* "" on success, else e.g. "node descriptor: no answer after 6 attempts" */

        NodeDescriptor node;
        uint8_t n_endpoints;
        SimpleDescriptor endpoints[INTERVIEW_ENDPOINTS_MAX];

        uint8_t basic_endpoint;         /* 0 if no endpoint has Basic */
        unsigned have;                  /* bit (1 << InterviewAttr) per attribute read */
        char model_id[INTERVIEW_STRING_MAX + 1];
        char manufacturer_name[INTERVIEW_STRING_MAX + 1];
        char date_code[INTERVIEW_STRING_MAX + 1];
        char sw_build_id[INTERVIEW_STRING_MAX + 1];
        uint8_t power_source;
        uint8_t zcl_version, app_version, stack_version, hw_version;
} InterviewResult;

static inline bool interview_has(const InterviewResult *r, InterviewAttr a) {
        return r->have & (1u << a);
}

/* Basic attribute id of an interview attribute. */
uint16_t interview_attr_id(InterviewAttr a);
const char *interview_attr_name(InterviewAttr a);
const char *interview_step_name(InterviewStep s);

/* Parsers of the ZDO response AREQs (DATA after cmd0/cmd1). 0 or -EBADMSG; a ZDP status != 0 gives
 * -EREMOTEIO with *ret_status set. Over-long lists are cut to the INTERVIEW_*_MAX bounds. */
int zdo_parse_node_desc_rsp(const uint8_t *d, size_t n, uint16_t *ret_src, uint8_t *ret_status, NodeDescriptor *ret);
int zdo_parse_active_ep_rsp(const uint8_t *d, size_t n, uint16_t *ret_src, uint8_t *ret_status,
                            uint8_t eps[INTERVIEW_ENDPOINTS_MAX], uint8_t *ret_n);
int zdo_parse_simple_desc_rsp(const uint8_t *d, size_t n, uint16_t *ret_src, uint8_t *ret_status,
                              SimpleDescriptor *ret);
