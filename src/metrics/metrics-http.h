/*
 * The little HTTP/1.x the metrics endpoint needs: parse a request head (request line and header
 * lines up to the empty line). Pure, no I/O; bodies are not read (GET and HEAD have none).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define HTTP_HEAD_MAX 8192u             /* bytes of request line + headers */
#define HTTP_PATH_MAX 256u

typedef enum HttpMethod {
        HTTP_GET,
        HTTP_HEAD,
        HTTP_OTHER,                     /* well-formed, but not served: 405 */
} HttpMethod;

typedef struct HttpRequest {
        HttpMethod method;
        char path[HTTP_PATH_MAX + 1];   /* without the query string */
        int minor;                      /* HTTP/1.<minor> */
} HttpRequest;

/* Looks at the first len bytes received. Returns 0 while the head is incomplete (read more), the
 * length of the head once complete (*ret filled), -EBADMSG for a malformed request (400) and
 * -EMSGSIZE when the head exceeds HTTP_HEAD_MAX (400 too; the rest is not read). */
int http_request_parse(const char *buf, size_t len, HttpRequest *ret);
