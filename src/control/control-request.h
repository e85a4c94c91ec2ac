/*
 * The control socket protocol (lumiplugctl <-> lumiplugd): one JSON object per line in each
 * direction, one reply per request, in order. Pure: parsing and validating a request line and
 * building reply objects; no I/O. Documented in lumiplugctl(1) and the README.
 *
 *   request  {"command":"set","device":"kitchen","values":{"state":"ON"},"id":7}
 *   reply    {"ok":true,"data":{...},"id":7}
 *            {"ok":false,"error":{"code":"unknown-device","message":"No device named 'kitchen'"},"id":7}
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#define CONTROL_REQUEST_MAX (64u * 1024u)       /* bytes of one request line, newline excluded */
#define CONTROL_NAME_MAX 128u                   /* device names, keys */
#define CONTROL_TIMEOUT_DEFAULT_SEC 30u
#define CONTROL_TIMEOUT_MAX_SEC 86400u

typedef enum ControlCommand {
        CONTROL_STATUS,
        CONTROL_DEVICES,
        CONTROL_PERMIT_JOIN,
        CONTROL_GET,
        CONTROL_SET,
        CONTROL_RENAME,
        CONTROL_REMOVE,
        CONTROL_RELOAD,
        CONTROL_OTA_CHECK,
        CONTROL_OTA_UPDATE,
        _CONTROL_COMMAND_MAX,
        _CONTROL_COMMAND_INVALID = -EINVAL,
} ControlCommand;

/* Error codes of replies (also the lumiplugctl exit code mapping, see lumiplugctl(1)). */
#define CONTROL_E_MALFORMED "malformed-request"
#define CONTROL_E_TOO_LARGE "request-too-large"
#define CONTROL_E_UNKNOWN_COMMAND "unknown-command"
#define CONTROL_E_BAD_ARGUMENT "bad-argument"
#define CONTROL_E_UNKNOWN_DEVICE "unknown-device"
#define CONTROL_E_BAD_VALUE "bad-value"
#define CONTROL_E_TIMEOUT "timeout"
#define CONTROL_E_BUSY "busy"
#define CONTROL_E_FAILED "failed"
#define CONTROL_E_INTERNAL "internal"

typedef struct ControlRequest {
        json_object *root;              /* owns everything below */
        json_object *id;                /* echoed in the reply; NULL if not given */
        ControlCommand command;
        const char *device;             /* get, set, rename, remove, ota-* */
        const char *key;                /* get: one key, or NULL */
        const char *name;               /* rename: the new name */
        json_object *values;            /* set: non-empty object */
        int seconds;                    /* permit-join: 0..254 (0 closes) */
        bool force;                     /* remove */
        unsigned timeout_sec;           /* how long the daemon waits for the Zigbee side */
} ControlRequest;

typedef struct ControlError {
        const char *code;               /* CONTROL_E_* */
        char message[256];
} ControlError;

const char *control_command_to_string(ControlCommand c);
ControlCommand control_command_from_string(const char *s);

/* Parses one line (without its newline). 0 and *ret filled (free with control_request_done), or
 * -EINVAL/-ENOMEM with err saying why; ret->id is kept even then when it could be read, so that the
 * error reply can echo it. */
int control_request_parse(const char *line, size_t len, ControlRequest *ret, ControlError *err);
void control_request_done(ControlRequest *r);

/* {"ok":true,"data":data} (data taken; NULL becomes {}) / {"ok":false,"error":{...}}, with "id" if
 * given. NULL on allocation failure. */
json_object *control_reply_ok(json_object *id, json_object *data);
json_object *control_reply_error(json_object *id, const char *code, const char *message);
