/*
 * Control protocol requests: strict parsing of one line (see control-request.h). Every member is
 * checked for presence, type and range; an unknown member is an error rather than silently ignored,
 * so that a typo in a script is reported instead of doing something else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/control-request.h"
#include "util/json-util.h"
#include "util/macro.h"

static void jputp(json_object **p) {
        if (*p)
                json_object_put(*p);
}

static const char *const command_names[_CONTROL_COMMAND_MAX] = {
        [CONTROL_STATUS] = "status",
        [CONTROL_DEVICES] = "devices",
        [CONTROL_PERMIT_JOIN] = "permit-join",
        [CONTROL_GET] = "get",
        [CONTROL_SET] = "set",
        [CONTROL_RENAME] = "rename",
        [CONTROL_REMOVE] = "remove",
        [CONTROL_RELOAD] = "reload",
        [CONTROL_OTA_CHECK] = "ota-check",
        [CONTROL_OTA_UPDATE] = "ota-update",
};

/* Members each command accepts besides "command", "id" and "timeout". */
static const char *const command_members[_CONTROL_COMMAND_MAX][4] = {
        [CONTROL_PERMIT_JOIN] = { "seconds" },
        [CONTROL_GET] = { "device", "key" },
        [CONTROL_SET] = { "device", "values" },
        [CONTROL_RENAME] = { "device", "name" },
        [CONTROL_REMOVE] = { "device", "force" },
        [CONTROL_OTA_CHECK] = { "device" },
        [CONTROL_OTA_UPDATE] = { "device" },
};

const char *control_command_to_string(ControlCommand c) {
        return c >= 0 && c < _CONTROL_COMMAND_MAX ? command_names[c] : NULL;
}

ControlCommand control_command_from_string(const char *s) {
        if (!s)
                return _CONTROL_COMMAND_INVALID;
        for (int i = 0; i < _CONTROL_COMMAND_MAX; i++)
                if (strcmp(command_names[i], s) == 0)
                        return (ControlCommand) i;
        return _CONTROL_COMMAND_INVALID;
}

static int fail(ControlError *err, const char *code, const char *fmt, ...) _printf_(3, 4);
static int fail(ControlError *err, const char *code, const char *fmt, ...) {
        va_list ap;

        err->code = code;
        va_start(ap, fmt);
        (void) vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool member_allowed(ControlCommand c, const char *key) {
        if (strcmp(key, "command") == 0 || strcmp(key, "id") == 0 || strcmp(key, "timeout") == 0)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(command_members[c]) && command_members[c][i]; i++)
                if (strcmp(command_members[c][i], key) == 0)
                        return true;
        return false;
}

/* A name: non-empty string of at most CONTROL_NAME_MAX bytes, no NUL or control characters. */
static int get_name(json_object *root, const char *member, bool required, const char **ret, ControlError *err) {
        json_object *v;
        const char *s;
        int len;

        if (!json_object_object_get_ex(root, member, &v) || !v) {
                if (required)
                        return fail(err, CONTROL_E_BAD_ARGUMENT, "Missing argument '%s'", member);
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument '%s' must be a string", member);
        s = json_object_get_string(v);
        len = json_object_get_string_len(v);
        if (len == 0 || (size_t) len > CONTROL_NAME_MAX || strlen(s) != (size_t) len)
                return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument '%s' must be 1 to %u bytes long", member,
                            CONTROL_NAME_MAX);
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument '%s' contains a control character",
                                    member);
        *ret = s;
        return 0;
}

static int get_int(json_object *root, const char *member, int min, int max, int def, int *ret, ControlError *err) {
        json_object *v;
        int64_t n;

        if (!json_object_object_get_ex(root, member, &v) || !v) {
                *ret = def;
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument '%s' must be an integer", member);
        n = json_object_get_int64(v);
        if (n < min || n > max)
                return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument '%s' must be from %d to %d", member, min, max);
        *ret = (int) n;
        return 0;
}

int control_request_parse(const char *line, size_t len, ControlRequest *ret, ControlError *err) {
        struct json_tokener *tok;
        json_object *root, *v;
        const char *command;
        size_t end;
        int r, n;

        *ret = (ControlRequest) { .command = _CONTROL_COMMAND_INVALID };
        *err = (ControlError) {};
        if (len > CONTROL_REQUEST_MAX)
                return fail(err, CONTROL_E_TOO_LARGE, "The request is larger than %u bytes", CONTROL_REQUEST_MAX);
        if (memchr(line, 0, len))
                return fail(err, CONTROL_E_MALFORMED, "The request contains a NUL byte");

        tok = json_tokener_new_ex(32);
        if (!tok)
                return fail(err, CONTROL_E_INTERNAL, "Out of memory"), -ENOMEM;
        root = json_tokener_parse_ex(tok, line, (int) len);
        if (json_tokener_get_error(tok) == json_tokener_continue) {
                json_object_put(root);
                json_tokener_free(tok);
                return fail(err, CONTROL_E_MALFORMED, "Malformed JSON: the request ends early");
        }
        if (json_tokener_get_error(tok) != json_tokener_success) {
                (void) snprintf(err->message, sizeof(err->message), "Malformed JSON at byte %zu: %s",
                                json_tokener_get_parse_end(tok),
                                json_tokener_error_desc(json_tokener_get_error(tok)));
                err->code = CONTROL_E_MALFORMED;
                json_object_put(root);
                json_tokener_free(tok);
                return -EINVAL;
        }
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        while (end < len && strchr(" \t\r", line[end]))
                end++;
        if (end != len) {
                json_object_put(root);
                return fail(err, CONTROL_E_MALFORMED, "Malformed JSON: more after the object at byte %zu", end);
        }
        if (!json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                return fail(err, CONTROL_E_MALFORMED, "The request must be a JSON object");
        }
        ret->root = root;

        if (json_object_object_get_ex(root, "id", &v) && v) {
                if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_string))
                        return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument 'id' must be an integer or a string");
                if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > (int) CONTROL_NAME_MAX)
                        return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument 'id' is longer than %u bytes",
                                    CONTROL_NAME_MAX);
                ret->id = v;
        }
        if (!json_object_object_get_ex(root, "command", &v) || !v)
                return fail(err, CONTROL_E_BAD_ARGUMENT, "Missing argument 'command'");
        if (!json_object_is_type(v, json_type_string))
                return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument 'command' must be a string");
        command = json_object_get_string(v);
        ret->command = control_command_from_string(command);
        if (ret->command < 0)
                return fail(err, CONTROL_E_UNKNOWN_COMMAND, "Unknown command '%.64s'", command);

        json_object_object_foreach(root, key, val) {
                (void) val;
                if (!member_allowed(ret->command, key))
                        return fail(err, CONTROL_E_BAD_ARGUMENT, "Command '%s' takes no argument '%.64s'",
                                    command_names[ret->command], key);
        }

        r = get_int(root, "timeout", 1, (int) CONTROL_TIMEOUT_MAX_SEC, (int) CONTROL_TIMEOUT_DEFAULT_SEC, &n, err);
        if (r < 0)
                return r;
        ret->timeout_sec = (unsigned) n;

        switch (ret->command) {
        case CONTROL_PERMIT_JOIN:
                return get_int(root, "seconds", 0, 254, 254, &ret->seconds, err);
        case CONTROL_GET:
                r = get_name(root, "device", true, &ret->device, err);
                if (r >= 0)
                        r = get_name(root, "key", false, &ret->key, err);
                return r;
        case CONTROL_SET:
                r = get_name(root, "device", true, &ret->device, err);
                if (r < 0)
                        return r;
                if (!json_object_object_get_ex(root, "values", &v) || !v)
                        return fail(err, CONTROL_E_BAD_ARGUMENT, "Missing argument 'values'");
                if (!json_object_is_type(v, json_type_object) || json_object_object_length(v) == 0)
                        return fail(err, CONTROL_E_BAD_ARGUMENT,
                                    "Argument 'values' must be an object with at least one key");
                json_object_object_foreach(v, k, kv) {
                        (void) kv;
                        if (strlen(k) == 0 || strlen(k) > CONTROL_NAME_MAX)
                                return fail(err, CONTROL_E_BAD_ARGUMENT, "A key in 'values' must be 1 to %u bytes long",
                                            CONTROL_NAME_MAX);
                }
                ret->values = v;
                return 0;
        case CONTROL_RENAME:
                r = get_name(root, "device", true, &ret->device, err);
                if (r >= 0)
                        r = get_name(root, "name", true, &ret->name, err);
                return r;
        case CONTROL_REMOVE:
                r = get_name(root, "device", true, &ret->device, err);
                if (r < 0)
                        return r;
                if (json_object_object_get_ex(root, "force", &v) && v) {
                        if (!json_object_is_type(v, json_type_boolean))
                                return fail(err, CONTROL_E_BAD_ARGUMENT, "Argument 'force' must be true or false");
                        ret->force = json_object_get_boolean(v);
                }
                return 0;
        case CONTROL_OTA_CHECK:
        case CONTROL_OTA_UPDATE:
                return get_name(root, "device", true, &ret->device, err);
        default:
                return 0;
        }
}

void control_request_done(ControlRequest *r) {
        json_object_put(r->root);
        *r = (ControlRequest) { .command = _CONTROL_COMMAND_INVALID };
}

static json_object *reply_new(json_object *id, bool ok) {
        _cleanup_(jputp) json_object *o = json_object_new_object();

        if (!o || json_add(o, "ok", json_object_new_boolean(ok)) < 0)
                return NULL;
        if (id && json_add(o, "id", json_object_get(id)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_object *control_reply_ok(json_object *id, json_object *data) {
        _cleanup_(jputp) json_object *owned = data;
        _cleanup_(jputp) json_object *o = reply_new(id, true);

        if (!o)
                return NULL;
        if (json_add(o, "data", owned ? TAKE_PTR(owned) : json_object_new_object()) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_object *control_reply_error(json_object *id, const char *code, const char *message) {
        _cleanup_(jputp) json_object *o = reply_new(id, false);
        _cleanup_(jputp) json_object *e = json_object_new_object();

        if (!o || !e || json_add_string(e, "code", code) < 0 || json_add_string(e, "message", message ?: code) < 0 ||
            json_add(o, "error", TAKE_PTR(e)) < 0)
                return NULL;
        return TAKE_PTR(o);
}
