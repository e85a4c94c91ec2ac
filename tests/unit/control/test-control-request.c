/*
 * Unit tests of the control protocol parser and reply builders (src/control/control-request.h).
 */
#undef NDEBUG
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "control/control-request.h"

static const char *parse_error(const char *line, ControlError *err) {
        ControlRequest req;
        int r = control_request_parse(line, strlen(line), &req, err);

        control_request_done(&req);
        return r < 0 ? err->code : NULL;
}

static void test_every_command_with_its_arguments_is_accepted(void) {
        ControlRequest req;
        ControlError err;
        const char *line;

        line = "{\"command\":\"status\"}";
        assert(control_request_parse(line, strlen(line), &req, &err) == 0);
        assert(req.command == CONTROL_STATUS && req.timeout_sec == CONTROL_TIMEOUT_DEFAULT_SEC && !req.id);
        control_request_done(&req);

        line = "{\"command\":\"set\",\"device\":\"kitchen\",\"values\":{\"state\":\"ON\"},\"id\":7}  \r";
        assert(control_request_parse(line, strlen(line), &req, &err) == 0);
        assert(req.command == CONTROL_SET && strcmp(req.device, "kitchen") == 0);
        assert(json_object_object_length(req.values) == 1 && json_object_get_int(req.id) == 7);
        control_request_done(&req);

        line = "{\"command\":\"permit-join\"}";
        assert(control_request_parse(line, strlen(line), &req, &err) == 0 && req.seconds == 254);
        control_request_done(&req);
        line = "{\"command\":\"permit-join\",\"seconds\":0,\"timeout\":5}";
        assert(control_request_parse(line, strlen(line), &req, &err) == 0 && req.seconds == 0 && req.timeout_sec == 5);
        control_request_done(&req);

        line = "{\"command\":\"get\",\"device\":\"kitchen\",\"key\":\"power\"}";
        assert(control_request_parse(line, strlen(line), &req, &err) == 0 && strcmp(req.key, "power") == 0);
        control_request_done(&req);

        line = "{\"command\":\"rename\",\"device\":\"a\",\"name\":\"b\"}";
        assert(control_request_parse(line, strlen(line), &req, &err) == 0 && strcmp(req.name, "b") == 0);
        control_request_done(&req);

        line = "{\"command\":\"remove\",\"device\":\"a\",\"force\":true}";
        assert(control_request_parse(line, strlen(line), &req, &err) == 0 && req.force);
        control_request_done(&req);

        for (int c = 0; c < _CONTROL_COMMAND_MAX; c++)
                assert(control_command_from_string(control_command_to_string((ControlCommand) c)) == c);
        assert(control_command_from_string("ota") == _CONTROL_COMMAND_INVALID);
}

static void test_malformed_json_is_refused_as_malformed(void) {
        ControlError err;

        assert(strcmp(parse_error("{\"command\":\"status\"", &err), CONTROL_E_MALFORMED) == 0);
        assert(strstr(err.message, "ends early"));
        assert(strcmp(parse_error("not json", &err), CONTROL_E_MALFORMED) == 0);
        assert(strcmp(parse_error("[1,2]", &err), CONTROL_E_MALFORMED) == 0);
        assert(strcmp(parse_error("{\"command\":\"status\"} {}", &err), CONTROL_E_MALFORMED) == 0);
        assert(strcmp(parse_error("", &err), CONTROL_E_MALFORMED) == 0);
}

static void test_a_nul_byte_is_refused(void) {
        static const char line[] = "{\"command\":\"status\"}\0x";
        ControlRequest req;
        ControlError err;

        assert(control_request_parse(line, sizeof(line) - 1, &req, &err) == -EINVAL);
        assert(strcmp(err.code, CONTROL_E_MALFORMED) == 0);
        control_request_done(&req);
}

static void test_bad_arguments_name_what_is_wrong(void) {
        ControlError err;

        assert(strcmp(parse_error("{\"command\":\"explode\"}", &err), CONTROL_E_UNKNOWN_COMMAND) == 0);
        assert(strcmp(err.message, "Unknown command 'explode'") == 0);
        assert(strcmp(parse_error("{}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(err.message, "Missing argument 'command'") == 0);
        assert(strcmp(parse_error("{\"command\":1}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"set\",\"device\":\"k\"}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(err.message, "Missing argument 'values'") == 0);
        assert(strcmp(parse_error("{\"command\":\"set\",\"device\":\"k\",\"values\":{}}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"get\",\"device\":\"\"}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"get\",\"device\":\"a\\u0001\"}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"get\",\"device\":\"a\\u0000b\"}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"get\",\"device\":\"k\",\"bogus\":1}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(err.message, "Command 'get' takes no argument 'bogus'") == 0);
        assert(strcmp(parse_error("{\"command\":\"permit-join\",\"seconds\":255}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(err.message, "Argument 'seconds' must be from 0 to 254") == 0);
        assert(strcmp(parse_error("{\"command\":\"permit-join\",\"seconds\":\"5\"}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"status\",\"timeout\":0}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"remove\",\"device\":\"k\",\"force\":1}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
        assert(strcmp(parse_error("{\"command\":\"status\",\"id\":[1]}", &err), CONTROL_E_BAD_ARGUMENT) == 0);
}

static void test_an_oversized_request_is_refused(void) {
        size_t n = CONTROL_REQUEST_MAX + 1;
        char *line = malloc(n);
        ControlRequest req;
        ControlError err;

        assert(line);
        memset(line, ' ', n);
        assert(control_request_parse(line, n, &req, &err) == -EINVAL);
        assert(strcmp(err.code, CONTROL_E_TOO_LARGE) == 0);
        control_request_done(&req);
        free(line);
}

static void test_the_error_reply_echoes_the_id(void) {
        ControlRequest req;
        ControlError err;
        const char *line = "{\"command\":\"explode\",\"id\":\"x1\"}";
        json_object *reply;

        assert(control_request_parse(line, strlen(line), &req, &err) == -EINVAL);
        reply = control_reply_error(req.id, err.code, err.message);
        assert(strcmp(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN),
                      "{\"ok\":false,\"id\":\"x1\",\"error\":{\"code\":\"unknown-command\","
                      "\"message\":\"Unknown command 'explode'\"}}") == 0);
        json_object_put(reply);
        control_request_done(&req);

        reply = control_reply_ok(NULL, NULL);
        assert(strcmp(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN), "{\"ok\":true,\"data\":{}}") == 0);
        json_object_put(reply);
}

int main(void) {
        test_every_command_with_its_arguments_is_accepted();
        test_malformed_json_is_refused_as_malformed();
        test_a_nul_byte_is_refused();
        test_bad_arguments_name_what_is_wrong();
        test_an_oversized_request_is_refused();
        test_the_error_reply_echoes_the_id();
        return 0;
}
