/*
 * A plug's properties driven by its model table (property.h): ZCL reports/read responses ->
 * state, state -> Zigbee2MQTT's state JSON, set/get requests -> validated ZCL actions, the
 * Zigbee2MQTT device options (calibration/precision, state_action). Pure: no I/O.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/property.h"
#include "zigbee/zcl.h"

/* Models (src/devices/registry.c) */
extern const PlugModel plug_model_zncz04lm;
const PlugModel *plug_model_find(const char *zigbee_model);     /* NULL if unsupported */
/* Row by JSON key; NULL if none. ret_index may be NULL. */
const PlugProperty *plug_model_property(const PlugModel *m, const char *name, size_t *ret_index);

/* Zigbee2MQTT's definition.exposes (with linkquality appended, as its device model does) and
 * definition.options for bridge/devices; keys as its expose classes serialise them. */
json_object *plug_model_exposes_json(const PlugModel *m);
json_object *plug_model_options_json(const PlugModel *m);

/* Per-device options, as Zigbee2MQTT's device options. */
typedef struct PlugOptionValue {
        bool has_calibration, has_precision;
        double calibration;
        int precision;
} PlugOptionValue;

typedef struct PlugOptions {
        PlugOptionValue prop[PLUG_PROPERTIES_MAX];      /* by row index */
        bool state_action;                              /* also publish "action": "on"/"off" */
} PlugOptions;

/* Set one option: "<name>_calibration" (number), "<name>_precision" (integer 0..3) for rows with
 * an option, "state_action" (bool). JSON null clears it. -ENOENT unknown key, -EINVAL wrong type,
 * -ERANGE out of range; err (may be NULL) receives the reason. */
int plug_options_set(PlugOptions *o, const PlugModel *m, const char *key, json_object *value,
                     char *err, size_t errlen);
/* Same from INI text ("1.5", "2", "true"). */
int plug_options_set_string(PlugOptions *o, const PlugModel *m, const char *key, const char *value,
                            char *err, size_t errlen);

/* Last known values, by row index. Booleans/switches are 0/1. */
typedef struct PlugState {
        double value[PLUG_PROPERTIES_MAX];
        bool known[PLUG_PROPERTIES_MAX];
        double raw[PLUG_PROPERTIES_MAX];        /* numeric rows: the value as received, before scale,
                                                 * calibration and rounding (valid where known) */
} PlugState;

/* What one incoming frame converted (Zigbee2MQTT publishes when anything was converted). */
typedef struct PlugUpdate {
        uint32_t converted;     /* bit per row index, set even if the value did not change */
        const char *action;     /* "on"/"off" with state_action, else NULL (not kept in the state) */
} PlugUpdate;

/* Apply a received ZCL frame (header included) from (endpoint, cluster); lqi updates linkquality
 * (which does not by itself count as converted). Report Attributes and Read Attributes Response
 * are applied; other commands are ignored (0, nothing converted). -EBADMSG on malformed frames:
 * records before the bad one are applied, as they were well-formed. */
int plug_state_apply_frame(PlugState *s, const PlugModel *m, const PlugOptions *o,
                           uint8_t endpoint, uint16_t cluster, const uint8_t *zcl, size_t len,
                           uint8_t lqi, PlugUpdate *ret);
/* Apply one decoded attribute record. */
int plug_state_apply_attribute(PlugState *s, const PlugModel *m, const PlugOptions *o,
                               uint16_t cluster, const ZclAttrRecord *rec, PlugUpdate *u);
/* Apply a Lumi TLV blob (0x00F7 flavour if ff01 is false). */
int plug_state_apply_tlv(PlugState *s, const PlugModel *m, const PlugOptions *o,
                         const uint8_t *blob, size_t len, bool ff01, PlugUpdate *u);

/* The published value of row index for a received value raw (scale, offset, calibration and
 * precision of that row and its options), as a report carrying raw would be converted. */
int plug_property_convert(const PlugModel *m, const PlugOptions *o, size_t index, double raw, double *ret);

/* State JSON with Zigbee2MQTT's keys and types. fill_nulls: what Zigbee2MQTT publishes when Home
 * Assistant discovery is on: exposed rows not known are null and, for OTA models, "update" is
 * {"state":null,"installed_version":-1,"latest_version":-1} (replace it once OTA state is known).
 * u (may be NULL) adds "action". */
json_object *plug_state_to_json(const PlugState *s, const PlugModel *m, bool fill_nulls, const PlugUpdate *u);
/* The same state written straight as compact JSON with sorted keys, byte for byte what
 * disc_json_sorted() makes of plug_state_to_json()'s object after update_json (compact sorted JSON,
 * or NULL) was added as its "update" member. Appends to t; returns 0 or -ENOMEM/-EINVAL. */
typedef struct JsonText JsonText;
int plug_state_format_json(const PlugState *s, const PlugModel *m, bool fill_nulls, const PlugUpdate *u,
                           const char *update_json, JsonText *t);
/* Restore from a previously published object (database); unknown keys/types are ignored. */
int plug_state_from_json(PlugState *s, const PlugModel *m, json_object *obj);

/* A JSON number exactly as JavaScript prints it (Number.prototype.toString). */
json_object *plug_json_number(double v);
int plug_format_number(double v, char *buf, size_t size);
/* Zigbee2MQTT's precisionRound (Math.round semantics: halves go up). */
double plug_round(double v, int precision);

/* Requests */
#define PLUG_REQUEST_MAX 16

typedef enum PlugActionKind {
        PLUG_ACTION_COMMAND,    /* cluster-specific command, no payload (On/Off) */
        PLUG_ACTION_WRITE,      /* Write Attributes, one record */
        PLUG_ACTION_READ,       /* Read Attributes, one id */
} PlugActionKind;

typedef struct PlugAction {
        const PlugProperty *property;
        size_t index;                   /* row index */
        PlugActionKind kind;
        uint8_t endpoint;
        uint16_t cluster, manufacturer; /* manufacturer 0: none */
        uint8_t command;                /* COMMAND: cluster command id */
        uint16_t attribute;             /* WRITE/READ */
        ZclValue value;                 /* WRITE: typed value (no pointers) */
        bool want_default_rsp;          /* COMMAND: herdsman waits for the Default Response */
        bool requested_known;           /* the value the action should lead to, if known */
        double requested;
} PlugAction;

typedef struct PlugRequestError {
        char key[64];                   /* "" for whole-payload errors */
        int error;                      /* -ENOENT, -EACCES, -EINVAL, -ERANGE, -E2BIG */
        char message[192];
} PlugRequestError;

typedef struct PlugRequest {
        PlugAction actions[PLUG_REQUEST_MAX];
        size_t n_actions;
        PlugRequestError errors[PLUG_REQUEST_MAX + 1];
        size_t n_errors;
} PlugRequest;

/* The device's endpoints and their input clusters, to pick the endpoint of a get. */
typedef struct PlugEndpoint {
        uint8_t id;
        const uint16_t *in_clusters;
        size_t n_in_clusters;
} PlugEndpoint;

/* Parse <base>/<name>/set (key NULL: payload is a JSON object, or a bare on/off/toggle word) or
 * <base>/<name>/set/<key> (payload is the bare value: JSON, else the raw text). Valid keys become
 * actions, bad ones errors, independently. Returns 0, or -EINVAL when the payload as a whole is
 * unusable (the reason is errors[0]). current (may be NULL) resolves TOGGLE's outcome. */
int plug_parse_set(const PlugModel *m, const char *key, const char *payload, size_t len,
                   const PlugState *current, const PlugEndpoint *eps, size_t n_eps, PlugRequest *ret);
/* Same for /get: the values are ignored; keys without GET access are errors. */
int plug_parse_get(const PlugModel *m, const char *key, const char *payload, size_t len,
                   const PlugEndpoint *eps, size_t n_eps, PlugRequest *ret);

/* The ZCL frame of an action, with herdsman's frame control; returns its length. */
int plug_action_build_frame(const PlugAction *a, uint8_t tsn, uint8_t *buf, size_t size);
/* Judge the plug's answer (a ZCL frame, header included, from the action's cluster) to an action:
 * Default Response for commands (or errors), Write Attributes Response for writes, Read Attributes
 * Response for reads. Returns 0 with the ZCL status in *ret_status (ZCL_STATUS_SUCCESS or the
 * plug's error), -ENOMSG if the frame is not an answer to this kind of action, -EBADMSG if
 * malformed, -EOPNOTSUPP if a read response carries a value of a reserved data type. TSN matching is the caller's. A read's value is applied with plug_state_apply_frame. */
int plug_action_response_status(const PlugAction *a, const uint8_t *zcl, size_t len, uint8_t *ret_status);
/* Record a confirmed action (write acknowledged) as state. */
int plug_state_apply_confirmed(PlugState *s, const PlugModel *m, const PlugAction *a);
