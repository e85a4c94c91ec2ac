/*
 * Unit tests of the metrics endpoint's HTTP request parser (src/metrics/metrics-http.h) and of the
 * label value escaping of the exposition text.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics-http.h"
#include "metrics/metrics.h"

static int parse(const char *s, HttpRequest *req) {
        return http_request_parse(s, strlen(s), req);
}

static void test_a_get_of_metrics_is_parsed(void) {
        static const char s[] = "GET /metrics?x=1 HTTP/1.1\r\nHost: localhost:9464\r\nAccept: */*\r\n\r\n";
        HttpRequest req;

        assert(parse(s, &req) == (int) strlen(s));
        assert(req.method == HTTP_GET && strcmp(req.path, "/metrics") == 0 && req.minor == 1);
        assert(parse("HEAD /metrics HTTP/1.0\n\n", &req) > 0 && req.method == HTTP_HEAD && req.minor == 0);
        assert(parse("POST /metrics HTTP/1.1\r\n\r\n", &req) > 0 && req.method == HTTP_OTHER);
}

static void test_an_incomplete_head_asks_for_more(void) {
        HttpRequest req;

        assert(parse("", &req) == 0);
        assert(parse("GET /metrics HTTP/1.1\r\n", &req) == 0);
        assert(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r", &req) == 0);
}

static void test_the_head_ends_at_the_empty_line(void) {
        static const char s[] = "GET / HTTP/1.1\r\n\r\nGARBAGE";
        HttpRequest req;

        assert(parse(s, &req) == (int) (strlen(s) - strlen("GARBAGE")));
        assert(strcmp(req.path, "/") == 0);
}

static void test_malformed_requests_are_refused(void) {
        static const char *const bad[] = {
                "garbage\r\n\r\n",
                "GET\r\n\r\n",
                "GET /metrics\r\n\r\n",
                "GET /metrics HTTP/2.0\r\n\r\n",
                "GET /metrics HTTP/1.1 x\r\n\r\n",
                "GET metrics HTTP/1.1\r\n\r\n",
                "GET http://x/metrics HTTP/1.1\r\n\r\n",
                "G(T /metrics HTTP/1.1\r\n\r\n",
                "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
                "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
                "GET /metrics HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
                "GET /metrics HTTP/1.1\r\nBad Name: a\r\n\r\n",
                "GET /met\rrics HTTP/1.1\r\n\r\n",
                "\r\n\r\n",
        };
        HttpRequest req;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert(parse(bad[i], &req) == -EBADMSG);
}

static void test_a_nul_byte_is_refused(void) {
        static const char s[] = "GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n";
        HttpRequest req;

        assert(http_request_parse(s, sizeof(s) - 1, &req) == -EBADMSG);
}

static void test_an_oversized_head_is_refused(void) {
        size_t n = HTTP_HEAD_MAX + 100;
        char *s = malloc(n);
        HttpRequest req;

        assert(s);
        memcpy(s, "GET /metrics HTTP/1.1\r\nX: ", 26);
        memset(s + 26, 'y', n - 26);
        assert(http_request_parse(s, HTTP_HEAD_MAX - 1, &req) == 0);        /* not yet */
        assert(http_request_parse(s, n, &req) == -EMSGSIZE);
        free(s);

        s = malloc(HTTP_PATH_MAX + 64);
        assert(s);
        strcpy(s, "GET /");
        memset(s + 5, 'p', HTTP_PATH_MAX + 1);
        strcpy(s + 5 + HTTP_PATH_MAX + 1, " HTTP/1.1\r\n\r\n");
        assert(parse(s, &req) == -EBADMSG);
        free(s);
}

static void test_label_values_are_escaped(void) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert(f);
        metrics_write_label_value(f, "desk \"lamp\" \\ 1\nx");
        assert(fclose(f) == 0);
        assert(strcmp(buf, "desk \\\"lamp\\\" \\\\ 1\\nx") == 0);
        free(buf);
}

int main(void) {
        test_a_get_of_metrics_is_parsed();
        test_an_incomplete_head_asks_for_more();
        test_the_head_ends_at_the_empty_line();
        test_malformed_requests_are_refused();
        test_a_nul_byte_is_refused();
        test_an_oversized_head_is_refused();
        test_label_values_are_escaped();
        return 0;
}
