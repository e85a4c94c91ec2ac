/*
 * Fuzz target: one control socket request line (src/control/control-request.h), as a client may
 * send it: any bytes, any length. The parser must accept or refuse it with an error code and a
 * message, never crash; an accepted request must carry what its command needs, and both reply
 * builders must produce JSON that parses back with the same "ok" and echoed "id".
 */
#include <string.h>

#include <json-c/json.h>

#include "control/control-request.h"
#include "fuzz.h"

static void check_reply(json_object *reply, bool ok, json_object *id) {
        json_object *back, *v;
        const char *text;

        FUZZ_CHECK(reply);
        text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
        FUZZ_CHECK(text && !strchr(text, '\n'));        /* one reply, one line */
        back = json_tokener_parse(text);
        FUZZ_CHECK(back);
        FUZZ_CHECK(json_object_object_get_ex(back, "ok", &v) && json_object_get_boolean(v) == ok);
        if (id)
                FUZZ_CHECK(json_object_object_get_ex(back, "id", &v) && json_object_equal(v, id));
        json_object_put(back);
        json_object_put(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ControlRequest req;
        ControlError err;
        int r;

        r = control_request_parse((const char *) data, size, &req, &err);
        if (r < 0) {
                FUZZ_CHECK(err.code && err.message[0]);
                check_reply(control_reply_error(req.id, err.code, err.message), false, req.id);
                control_request_done(&req);
                return 0;
        }
        FUZZ_CHECK(r == 0 && req.root && control_command_to_string(req.command));
        FUZZ_CHECK(req.timeout_sec >= 1 && req.timeout_sec <= CONTROL_TIMEOUT_MAX_SEC);
        switch (req.command) {
        case CONTROL_GET:
        case CONTROL_REMOVE:
        case CONTROL_OTA_CHECK:
        case CONTROL_OTA_UPDATE:
                FUZZ_CHECK(req.device && *req.device && strlen(req.device) <= CONTROL_NAME_MAX);
                break;
        case CONTROL_SET:
                FUZZ_CHECK(req.device && json_object_is_type(req.values, json_type_object) &&
                           json_object_object_length(req.values) > 0);
                break;
        case CONTROL_RENAME:
                FUZZ_CHECK(req.device && req.name && *req.name);
                break;
        case CONTROL_PERMIT_JOIN:
                FUZZ_CHECK(req.seconds >= 0 && req.seconds <= 254);
                break;
        default:
                break;
        }
        check_reply(control_reply_ok(req.id, json_object_new_object()), true, req.id);
        control_request_done(&req);
        return 0;
}
