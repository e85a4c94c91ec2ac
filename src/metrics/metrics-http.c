/*
 * HTTP request heads (see metrics-http.h), after RFC 9112: request-line = method SP
 * request-target SP HTTP-version CRLF; header fields "name: value" CRLF; an empty line ends the
 * head. A bare LF is accepted as a line end (RFC 9112 section 2.2 allows it).
 */
#include <errno.h>
#include <string.h>

#include "metrics/metrics-http.h"

static bool is_tchar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the head: the index after the empty line, 0 if not there yet. */
static size_t head_end(const char *buf, size_t len) {
        for (size_t i = 0; i < len; i++) {
                if (buf[i] != '\n')
                        continue;
                if (i + 1 < len && buf[i + 1] == '\n')
                        return i + 2;
                if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
                        return i + 3;
        }
        return 0;
}

static int parse_request_line(const char *line, size_t n, HttpRequest *ret) {
        const char *sp1, *sp2, *target, *version;
        size_t mlen, tlen, plen;

        sp1 = memchr(line, ' ', n);
        if (!sp1 || sp1 == line)
                return -EBADMSG;
        mlen = (size_t) (sp1 - line);
        for (size_t i = 0; i < mlen; i++)
                if (!is_tchar(line[i]))
                        return -EBADMSG;
        target = sp1 + 1;
        sp2 = memchr(target, ' ', n - (size_t) (target - line));
        if (!sp2 || sp2 == target)
                return -EBADMSG;
        tlen = (size_t) (sp2 - target);
        version = sp2 + 1;
        if ((size_t) (line + n - version) != 8 || memcmp(version, "HTTP/1.", 7) != 0 ||
            version[7] < '0' || version[7] > '9')
                return -EBADMSG;
        if (target[0] != '/')
                return -EBADMSG;        /* origin-form only: no proxies, no "*" */
        for (size_t i = 0; i < tlen; i++)
                if ((unsigned char) target[i] <= 0x20 || (unsigned char) target[i] >= 0x7f)
                        return -EBADMSG;
        plen = strcspn(target, "? ");
        if (plen > tlen)
                plen = tlen;
        if (plen > HTTP_PATH_MAX)
                return -EBADMSG;

        if (mlen == 3 && memcmp(line, "GET", 3) == 0)
                ret->method = HTTP_GET;
        else if (mlen == 4 && memcmp(line, "HEAD", 4) == 0)
                ret->method = HTTP_HEAD;
        else
                ret->method = HTTP_OTHER;
        memcpy(ret->path, target, plen);
        ret->path[plen] = 0;
        ret->minor = version[7] - '0';
        return 0;
}

int http_request_parse(const char *buf, size_t len, HttpRequest *ret) {
        HttpRequest req = {};
        size_t end, pos, n;
        bool first = true;
        int r;

        end = head_end(buf, len > HTTP_HEAD_MAX ? HTTP_HEAD_MAX : len);
        if (end == 0)
                return len >= HTTP_HEAD_MAX ? -EMSGSIZE : 0;

        for (pos = 0; pos < end; pos += n + 1) {
                const char *line = buf + pos, *nl = memchr(line, '\n', end - pos);
                const char *colon;

                n = (size_t) (nl - line);
                if (n > 0 && line[n - 1] == '\r')
                        n--;
                if (memchr(line, 0, n) || memchr(line, '\r', n))
                        return -EBADMSG;
                if (first) {
                        r = parse_request_line(line, n, &req);
                        if (r < 0)
                                return r;
                        first = false;
                } else if (n > 0) {
                        /* field-name ":" OWS field-value OWS; no obsolete line folding */
                        if (line[0] == ' ' || line[0] == '\t')
                                return -EBADMSG;
                        colon = memchr(line, ':', n);
                        if (!colon || colon == line)
                                return -EBADMSG;
                        for (const char *c = line; c < colon; c++)
                                if (!is_tchar(*c))
                                        return -EBADMSG;
                }
                n = (size_t) (nl - line);
        }
        *ret = req;
        return (int) end;
}
