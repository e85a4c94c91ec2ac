/*
 * Compact JSON text; see json-text.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/js-number.h"
#include "util/json-text.h"

void json_text_grow_add(JsonText *t, const char *s, size_t len) {
        if (t->error)
                return;
        if (t->n + len + 1 > t->size) {
                size_t ns = t->size ? t->size * 2 : 512;
                char *p;

                while (ns < t->n + len + 1)
                        ns *= 2;
                p = realloc(t->s, ns);
                if (!p) {
                        t->error = -ENOMEM;
                        return;
                }
                t->s = p;
                t->size = ns;
        }
        memcpy(t->s + t->n, s, len);
        t->n += len;
        t->s[t->n] = 0;
}

void json_text_puts(JsonText *t, const char *s) {
        json_text_add(t, s, strlen(s));
}

void json_text_string(JsonText *t, const char *s, size_t len) {
        static const char hex[] = "0123456789abcdef";
        size_t plain = 0;       /* start of the run of characters copied as they are */

        json_text_add(t, "\"", 1);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[6] = { '\\', 'u', '0', '0' };

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                json_text_add(t, s + plain, i - plain);
                plain = i + 1;
                switch (c) {
                case '"': json_text_add(t, "\\\"", 2); break;
                case '\\': json_text_add(t, "\\\\", 2); break;
                case '\b': json_text_add(t, "\\b", 2); break;
                case '\f': json_text_add(t, "\\f", 2); break;
                case '\n': json_text_add(t, "\\n", 2); break;
                case '\r': json_text_add(t, "\\r", 2); break;
                case '\t': json_text_add(t, "\\t", 2); break;
                default:
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        json_text_add(t, esc, 6);
                }
        }
        json_text_add(t, s + plain, len - plain);
        json_text_add(t, "\"", 1);
}

void json_text_number(JsonText *t, double v) {
        char buf[JS_NUMBER_MAX];
        int n = js_number_format(v, buf, sizeof(buf));

        if (n < 0)
                json_text_add(t, "null", 4);
        else
                json_text_add(t, buf, (size_t) n);
}

void json_text_int(JsonText *t, int64_t v) {
        char buf[24];
        int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

        json_text_add(t, buf, (size_t) n);
}

char *json_text_steal(JsonText *t) {
        char *s = t->error ? NULL : t->s ? t->s : strdup("");

        if (t->error)
                free(t->s);
        *t = (JsonText) {};
        return s;
}

void json_text_done(JsonText *t) {
        free(t->s);
        *t = (JsonText) {};
}
