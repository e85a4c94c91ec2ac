/*
 * Fuzz target: an HTTP request head as the metrics endpoint receives it (src/metrics/metrics-http.h),
 * fed whole and in every prefix a slow client could send. A complete head has a path of at most
 * HTTP_PATH_MAX bytes starting with "/", and its length never exceeds what was given; a prefix of
 * an accepted head is never refused.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "metrics/metrics-http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        HttpRequest req;
        int r, rp;

        r = http_request_parse((const char *) data, size, &req);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EMSGSIZE || (r > 0 && (size_t) r <= size));
        if (r > 0) {
                FUZZ_CHECK(req.path[0] == '/' && strlen(req.path) <= HTTP_PATH_MAX);
                FUZZ_CHECK(req.minor >= 0 && req.minor <= 9);
                /* the same head, cut short, only asks for more */
                for (size_t n = 0; n < (size_t) r; n += 1 + n / 8) {
                        rp = http_request_parse((const char *) data, n, &req);
                        FUZZ_CHECK(rp == 0);
                }
        }
        return 0;
}
