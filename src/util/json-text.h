/*
 * Compact JSON text written piece by piece into a growing buffer, with strings escaped and numbers
 * printed as JSON.stringify does (js-number.h): for messages written straight from C structures,
 * without building a json-c tree first. Errors are sticky: check .error once at the end.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct JsonText {
        char *s;                /* NUL-terminated; the caller frees it */
        size_t n, size;
        int error;              /* -ENOMEM once any append failed */
} JsonText;

void json_text_grow_add(JsonText *t, const char *s, size_t len);
/* Appends len bytes (inline: a state message is a few dozen small pieces). */
static inline void json_text_add(JsonText *t, const char *s, size_t len) {
        if (t->n + len + 1 > t->size) {
                json_text_grow_add(t, s, len);
                return;
        }
        memcpy(t->s + t->n, s, len);
        t->n += len;
        t->s[t->n] = 0;
}
void json_text_puts(JsonText *t, const char *s);
/* A JSON string, escaped as JSON.stringify escapes (", \, and control characters). */
void json_text_string(JsonText *t, const char *s, size_t len);
/* A number as JavaScript prints it; NaN and infinities are null. */
void json_text_number(JsonText *t, double v);
void json_text_int(JsonText *t, int64_t v);
/* The text (ownership passes to the caller), or NULL after an error (-ENOMEM); resets t. */
char *json_text_steal(JsonText *t);
void json_text_done(JsonText *t);
