/*
 * The metrics HTTP server (see metrics.h): listening socket, connections, replies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "manager.h"
#include "metrics/metrics-http.h"
#include "metrics/metrics.h"
#include "util/stream-server.h"
#include "util/log.h"

#define USEC_PER_SEC 1000000ull

typedef struct MetricsClient MetricsClient;

struct Metrics {
        Manager *m;
        int fd;
        sd_event_source *listen_source;
        MetricsClient *clients[METRICS_CLIENTS_MAX];
        uint64_t start_usec;
};

struct MetricsClient {
        Metrics *metrics;
        int fd;
        sd_event_source *io, *timer;
        char in[HTTP_HEAD_MAX];
        size_t n_in;
        char *out;                      /* the whole reply, written as the socket takes it */
        size_t n_out, done;
};

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void client_free(MetricsClient *cl) {
        if (!cl)
                return;
        for (size_t i = 0; i < METRICS_CLIENTS_MAX; i++)
                if (cl->metrics->clients[i] == cl)
                        cl->metrics->clients[i] = NULL;
        cl->io = sd_event_source_disable_unref(cl->io);
        cl->timer = sd_event_source_disable_unref(cl->timer);
        if (cl->fd >= 0)
                (void) close(cl->fd);
        free(cl->out);
        free(cl);
}

/* Builds the whole reply; the body is left out for HEAD. */
static int client_respond(MetricsClient *cl, int status, const char *reason, const char *type, const char *body,
                          size_t body_len, bool head_only) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                status, reason, type, body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
        if (!head_only)
                fwrite(body, 1, body_len, f);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        free(cl->out);
        cl->out = buf;
        cl->n_out = size;
        cl->done = 0;
        return 0;
}

static int client_respond_text(MetricsClient *cl, int status, const char *reason, const char *text) {
        return client_respond(cl, status, reason, "text/plain; charset=utf-8", text, strlen(text), false);
}

static int client_handle(MetricsClient *cl, const HttpRequest *req) {
        Metrics *x = cl->metrics;
        _cleanup_free_ char *body = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        if (strcmp(req->path, "/metrics") != 0)
                return client_respond_text(cl, 404, "Not Found", "Not found; the metrics are at /metrics\n");
        if (req->method == HTTP_OTHER)
                return client_respond_text(cl, 405, "Method Not Allowed", "Only GET and HEAD\n");
        f = open_memstream(&body, &size);
        if (!f)
                return -ENOMEM;
        r = metrics_write(x->m, (now_usec() - x->start_usec) / USEC_PER_SEC, f);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return client_respond_text(cl, 500, "Internal Server Error", "Cannot build the metrics\n");
        return client_respond(cl, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, size,
                              req->method == HTTP_HEAD);
}

/* After the reply: the write side is closed and what the client still sends is read and dropped
 * until it closes too (or the timer ends it). Closing with unread input would reset the connection
 * and could destroy the reply before the client read it (an oversized request, say). */
static int client_drain(MetricsClient *cl) {
        char buf[4096];
        ssize_t n;

        for (;;) {
                n = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n > 0)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                client_free(cl);        /* EOF or error: done */
                return 0;
        }
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        MetricsClient *cl = userdata;
        HttpRequest req;
        ssize_t n;
        int r;

        if (cl->out && cl->done == cl->n_out)
                return client_drain(cl);
        if (!cl->out) {
                n = recv(fd, cl->in + cl->n_in, sizeof(cl->in) - cl->n_in, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        client_free(cl);
                        return 0;
                }
                cl->n_in += (size_t) n;
                r = http_request_parse(cl->in, cl->n_in, &req);
                if (r == 0 && n == 0) {
                        client_free(cl);        /* closed before a whole request */
                        return 0;
                }
                if (r == 0)
                        return 0;
                if (r < 0)
                        r = client_respond_text(cl, 400, "Bad Request",
                                                r == -EMSGSIZE ? "Request header too large\n" : "Bad request\n");
                else
                        r = client_handle(cl, &req);
                if (r < 0) {
                        client_free(cl);
                        return 0;
                }
                r = sd_event_source_set_io_events(cl->io, EPOLLOUT);
                if (r < 0) {
                        client_free(cl);
                        return 0;
                }
        }
        while (cl->done < cl->n_out) {
                n = send(fd, cl->out + cl->done, cl->n_out - cl->done, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        client_free(cl);
                        return 0;
                }
                cl->done += (size_t) n;
        }
        /* the whole reply is out: the connection closes (one request per connection) */
        if (shutdown(fd, SHUT_WR) < 0 || sd_event_source_set_io_events(cl->io, EPOLLIN) < 0) {
                client_free(cl);
                return 0;
        }
        return client_drain(cl);
}

static int on_client_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        client_free(userdata);
        return 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Metrics *x = userdata;
        MetricsClient *cl;
        size_t slot;
        int cfd, r;

        for (slot = 0; slot < METRICS_CLIENTS_MAX; slot++)
                if (!x->clients[slot])
                        break;
        cfd = stream_server_accept(fd, slot < METRICS_CLIENTS_MAX,
                                   "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                   "Metrics");
        if (cfd < 0)
                return 0;
        cl = calloc(1, sizeof(*cl));
        if (!cl) {
                (void) close(cfd);
                return 0;
        }
        cl->metrics = x;
        cl->fd = cfd;
        x->clients[slot] = cl;
        r = sd_event_add_io(x->m->event, &cl->io, cfd, EPOLLIN, on_client_io, cl);
        if (r >= 0)
                r = sd_event_add_time_relative(x->m->event, &cl->timer, CLOCK_MONOTONIC, METRICS_TIMEOUT_USEC, 0,
                                               on_client_timer, cl);
        if (r < 0) {
                log_warning_errno(r, "Metrics: cannot serve a client: %m");
                client_free(cl);
        }
        return 0;
}

static int bind_listen(const char *listen_addr) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } addr = {};
        _cleanup_close_ int fd = -1;
        char host[64];
        const char *colon = strrchr(listen_addr, ':');
        socklen_t len;
        long port;
        size_t n;

        if (!colon || (n = (size_t) (colon - listen_addr)) == 0 || n >= sizeof(host))
                return log_error_errno(-EINVAL, "[metrics] listen = '%s': expected ADDRESS:PORT", listen_addr);
        memcpy(host, listen_addr, n);
        host[n] = 0;
        port = strtol(colon + 1, NULL, 10);
        if (port < 1 || port > 65535)
                return log_error_errno(-EINVAL, "[metrics] listen = '%s': bad port", listen_addr);
        if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
                host[n - 1] = 0;
                addr.in6.sin6_family = AF_INET6;
                addr.in6.sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, host + 1, &addr.in6.sin6_addr) != 1)
                        return log_error_errno(-EINVAL, "[metrics] listen = '%s': bad IPv6 address", listen_addr);
                len = sizeof(addr.in6);
        } else {
                addr.in.sin_family = AF_INET;
                addr.in.sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, host, &addr.in.sin_addr) != 1)
                        return log_error_errno(-EINVAL, "[metrics] listen = '%s': bad IPv4 address", listen_addr);
                len = sizeof(addr.in);
        }
        fd = socket(addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create the metrics socket: %m");
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int));
        if (addr.sa.sa_family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int) { 1 }, sizeof(int));
        if (bind(fd, &addr.sa, len) < 0)
                return log_error_errno(errno, "Cannot listen for metrics on %s: %m", listen_addr);
        if (listen(fd, 16) < 0)
                return log_error_errno(errno, "Cannot listen for metrics on %s: %m", listen_addr);
        log_info("Metrics at http://%s/metrics", listen_addr);
        return TAKE_FD(fd);
}

int metrics_new(Metrics **ret, Manager *m, int fd, const char *listen_addr) {
        _cleanup_(metrics_freep) Metrics *x = NULL;
        int r;

        if (fd < 0 && (!listen_addr || !*listen_addr)) {
                *ret = NULL;
                return 0;
        }
        x = calloc(1, sizeof(*x));
        if (!x) {
                if (fd >= 0)
                        (void) close(fd);
                return -ENOMEM;
        }
        x->m = m;
        x->start_usec = now_usec();
        if (fd >= 0) {
                x->fd = fd;
                r = stream_server_make_nonblocking(fd, "metrics socket");
                if (r < 0)
                        return r;
                log_info("Metrics socket passed by systemd");
        } else {
                x->fd = -1;
                r = bind_listen(listen_addr);
                if (r < 0)
                        return r;
                x->fd = r;
        }
        r = sd_event_add_io(m->event, &x->listen_source, x->fd, EPOLLIN, on_listen, x);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the metrics socket: %m");
        *ret = TAKE_PTR(x);
        return 0;
}

Metrics *metrics_free(Metrics *x) {
        if (!x)
                return NULL;
        for (size_t i = 0; i < METRICS_CLIENTS_MAX; i++)
                client_free(x->clients[i]);
        x->listen_source = sd_event_source_disable_unref(x->listen_source);
        if (x->fd >= 0)
                (void) close(x->fd);
        free(x);
        return NULL;
}
