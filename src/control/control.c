/*
 * The control socket server (see control.h): listening socket, clients, line framing, replies,
 * timeouts, and the commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "app/zigbee.h"
#include "bridge/bridge.h"
#include "config.h"
#include "control/control-request.h"
#include "control/control.h"
#include "util/stream-server.h"
#include "manager.h"
#include "mqtt/mqtt.h"
#include "util/json-util.h"
#include "util/log.h"

#define USEC_PER_SEC 1000000ull
#define READ_CHUNK 4096u

typedef struct ControlClient ControlClient;

struct Control {
        Manager *m;
        int fd;
        char *path;                     /* created by us: unlinked at the end */
        dev_t dev;
        ino_t ino;
        sd_event_source *listen_source;
        ControlClient *clients[CONTROL_CLIENTS_MAX];
        uint64_t next_call;
        uint64_t start_usec;            /* CLOCK_MONOTONIC */
};

struct ControlClient {
        Control *control;
        int fd;
        sd_event_source *io, *timer, *defer;

        char *in;
        size_t n_in, in_size;
        char *out;
        size_t n_out, out_size;

        uid_t uid;                      /* the peer's credentials, for the log */
        pid_t pid;
        bool eof;                       /* the peer will send nothing more */
        bool closing;                   /* close once the output is written */
        bool draining;                  /* reply written, write side shut: drop input until EOF */

        /* the request being served (requests are served one at a time, in order) */
        bool busy;
        ControlRequest req;
        uint64_t call;                  /* bridge call in flight, 0 none */
        bool have_response;
        json_object *response;          /* the bridge's answer; NULL with have_response: no memory */
        char ieee[19];                  /* set/get: the device, whatever its name is afterwards */
};

static void jputp(json_object **p) {
        if (*p)
                json_object_put(*p);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static Bridge *control_bridge(Control *c) {
        return zigbee_service_bridge(c->m->zigbee);
}

/*
 * Clients: life cycle and I/O
 */

static void client_free(ControlClient *cl) {
        Control *c;

        if (!cl)
                return;
        c = cl->control;
        if (cl->call)
                bridge_call_cancel(control_bridge(c), cl->call);
        for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
                if (c->clients[i] == cl)
                        c->clients[i] = NULL;
        cl->io = sd_event_source_disable_unref(cl->io);
        cl->timer = sd_event_source_disable_unref(cl->timer);
        cl->defer = sd_event_source_disable_unref(cl->defer);
        if (cl->fd >= 0)
                (void) close(cl->fd);
        control_request_done(&cl->req);
        if (cl->response)
                json_object_put(cl->response);
        free(cl->in);
        free(cl->out);
        free(cl);
}

static void client_arm_timer(ControlClient *cl) {
        uint64_t usec = cl->busy ? (uint64_t) cl->req.timeout_sec * USEC_PER_SEC : CONTROL_IDLE_TIMEOUT_USEC;
        int r;

        r = sd_event_source_set_time_relative(cl->timer, usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(cl->timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Control socket: cannot arm a client timer: %m");
}

/* Writes what it can; false if the client is gone. */
static bool client_flush(ControlClient *cl) {
        while (cl->n_out > 0) {
                ssize_t n = send(cl->fd, cl->out, cl->n_out, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return true;
                        log_debug_errno(errno, "Control socket: client gone while writing: %m");
                        return false;
                }
                memmove(cl->out, cl->out + n, cl->n_out - (size_t) n);
                cl->n_out -= (size_t) n;
                if (!cl->busy)
                        client_arm_timer(cl);   /* progress */
        }
        return true;
}

/* Queues one reply line (taking o) and writes what the socket takes now. */
static void client_send(ControlClient *cl, json_object *o) {
        _cleanup_(jputp) json_object *owned = o;
        const char *text;
        size_t len;

        if (!owned) {
                /* out of memory while building the reply: a fixed one still tells the client */
                text = "{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"Out of memory\"}}";
        } else
                text = json_object_to_json_string_ext(owned, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                text = "{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"Out of memory\"}}";
        len = strlen(text);
        if (cl->n_out + len + 1 > CONTROL_OUTPUT_MAX) {
                log_warning("Control socket: a client does not read its replies, closing it");
                cl->closing = true;
                cl->n_out = 0;
                return;
        }
        if (cl->n_out + len + 1 > cl->out_size) {
                size_t size = MAX(cl->n_out + len + 1, cl->out_size * 2);
                char *p = realloc(cl->out, size);

                if (!p) {
                        cl->closing = true;
                        return;
                }
                cl->out = p;
                cl->out_size = size;
        }
        memcpy(cl->out + cl->n_out, text, len);
        cl->out[cl->n_out + len] = '\n';
        cl->n_out += len + 1;
}

static void client_reply_error(ControlClient *cl, const char *code, const char *fmt, ...) _printf_(3, 4);
static void client_reply_error(ControlClient *cl, const char *code, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_debug("Control socket: %s request failed: %s (%s)",
                  control_command_to_string(cl->req.command) ?: "a", msg, code);
        client_send(cl, control_reply_error(cl->req.id, code, msg));
}

static void client_update(ControlClient *cl);

/* The request is answered: ready for the next one. */
static void client_request_end(ControlClient *cl) {
        if (cl->call)
                bridge_call_cancel(control_bridge(cl->control), cl->call);
        cl->call = 0;
        cl->busy = false;
        cl->have_response = false;
        if (cl->response)
                cl->response = (json_object_put(cl->response), NULL);
        control_request_done(&cl->req);
        client_arm_timer(cl);
}

/*
 * Commands
 */

static void on_bridge_call(void *userdata, uint64_t call, json_object *response) {
        ControlClient *cl = userdata;

        if (!cl->busy || cl->have_response || (cl->call && cl->call != call))
                return;
        cl->have_response = true;
        cl->response = response ? json_object_get(response) : NULL;
        /* answered from the loop, not from inside the bridge: a read's value is applied right after
         * its completion, and the client may go away while we write */
        (void) sd_event_source_set_enabled(cl->defer, SD_EVENT_ONESHOT);
}

static json_object *status_data(Control *c) {
        _cleanup_(jputp) json_object *o = json_object_new_object(), *mqtt = NULL, *coord = NULL, *pj = NULL;
        Manager *m = c->m;
        Bridge *b = control_bridge(c);
        BridgeSummary s = {};
        MqttState ms = mqtt_get_state(m->mqtt);

        if (b)
                bridge_get_summary(b, &s);
        mqtt = json_object_new_object();
        coord = json_object_new_object();
        pj = json_object_new_object();
        if (!o || !mqtt || !coord || !pj)
                return NULL;
        if (json_add_string(o, "version", PACKAGE_VERSION) < 0 ||
            json_add(o, "uptime", json_object_new_int64((int64_t) ((now_usec() - c->start_usec) / USEC_PER_SEC))) < 0 ||
            json_add(mqtt, "connected", json_object_new_boolean(ms == MQTT_STATE_CONNECTED)) < 0 ||
            json_add_string(mqtt, "state", mqtt_state_to_string(ms)) < 0 ||
            json_add_string(mqtt, "broker", mqtt_describe(m->mqtt)) < 0 ||
            json_add_string(mqtt, "base_topic", m->config->mqtt.base_topic) < 0 ||
            json_add(o, "mqtt", TAKE_PTR(mqtt)) < 0 ||
            json_add_string(coord, "state", zigbee_service_coordinator_state(m->zigbee)) < 0 ||
            json_add_string(coord, "port", m->config->serial.port) < 0 ||
            json_add(o, "coordinator", TAKE_PTR(coord)) < 0 ||
            json_add(o, "devices", json_object_new_int64((int64_t) s.n_devices)) < 0 ||
            json_add(o, "plugs", json_object_new_int64((int64_t) s.n_plugs)) < 0 ||
            json_add(o, "online", json_object_new_int64((int64_t) s.n_online)) < 0 ||
            json_add(pj, "open", json_object_new_boolean(s.permit_join_remaining > 0)) < 0 ||
            json_add(pj, "remaining", json_object_new_int64(s.permit_join_remaining)) < 0 ||
            json_add(o, "permit_join", TAKE_PTR(pj)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* Starts a bridge request; its answer comes through on_bridge_call. */
static void start_bridge_request(ControlClient *cl, const char *name, json_object *payload) {
        _cleanup_(jputp) json_object *owned = payload;
        Control *c = cl->control;
        Bridge *b = control_bridge(c);
        uint64_t call = ++c->next_call;
        int r;

        if (!owned) {
                client_reply_error(cl, CONTROL_E_INTERNAL, "Out of memory");
                return;
        }
        if (!b) {
                client_reply_error(cl, CONTROL_E_BUSY, "The Zigbee side is restarting, try again");
                return;
        }
        cl->busy = true;
        r = bridge_call_request(b, name, owned, call, on_bridge_call, cl);
        if (r < 0) {
                cl->busy = false;
                if (r == -EBUSY)
                        client_reply_error(cl, CONTROL_E_BUSY, "Too many requests in flight, try again");
                else
                        client_reply_error(cl, CONTROL_E_INTERNAL, "Cannot start the request: %s", strerror(-r));
                return;
        }
        if (!cl->have_response)
                cl->call = call;
}

static json_object *payload_with(const char *k1, json_object *v1, const char *k2, json_object *v2) {
        _cleanup_(jputp) json_object *o = json_object_new_object();

        if (!o || json_add(o, k1, v1) < 0 || (k2 && json_add(o, k2, v2) < 0))
                return NULL;
        return TAKE_PTR(o);
}

static bool device_known(ControlClient *cl, const char *device) {
        _cleanup_(jputp) json_object *v = NULL;
        Bridge *b = control_bridge(cl->control);

        v = b ? bridge_device_view(b, device) : NULL;
        if (v) {
                json_object *ieee;

                if (json_object_object_get_ex(v, "ieee", &ieee))
                        (void) snprintf(cl->ieee, sizeof(cl->ieee), "%s", json_object_get_string(ieee));
                return true;
        }
        if (!b)
                client_reply_error(cl, CONTROL_E_BUSY, "The Zigbee side is restarting, try again");
        else
                client_reply_error(cl, CONTROL_E_UNKNOWN_DEVICE, "No device named '%s'", device);
        return false;
}

static void start_set_get(ControlClient *cl) {
        Control *c = cl->control;
        Bridge *b = control_bridge(c);
        _cleanup_(jputp) json_object *get = NULL;
        uint64_t call = ++c->next_call;
        const char *payload;
        bool is_get = cl->req.command == CONTROL_GET;
        int r;

        if (!device_known(cl, cl->req.device))
                return;
        if (is_get) {
                get = payload_with(cl->req.key, json_object_new_string(""), NULL, NULL);
                payload = get ? json_object_to_json_string_ext(get, JSON_C_TO_STRING_PLAIN) : NULL;
        } else
                payload = json_object_to_json_string_ext(cl->req.values, JSON_C_TO_STRING_PLAIN);
        if (!payload) {
                client_reply_error(cl, CONTROL_E_INTERNAL, "Out of memory");
                return;
        }
        cl->busy = true;
        r = bridge_call_set_get(b, cl->req.device, is_get, payload, strlen(payload), call, on_bridge_call, cl);
        if (r < 0) {
                cl->busy = false;
                if (r == -EOPNOTSUPP)
                        client_reply_error(cl, CONTROL_E_FAILED, "Device '%s' is not a supported plug", cl->req.device);
                else if (r == -ENOENT)
                        client_reply_error(cl, CONTROL_E_UNKNOWN_DEVICE, "No device named '%s'", cl->req.device);
                else if (r == -EBUSY)
                        client_reply_error(cl, CONTROL_E_BUSY, "Too many requests in flight, try again");
                else
                        client_reply_error(cl, CONTROL_E_INTERNAL, "Cannot start the request: %s", strerror(-r));
                return;
        }
        if (!cl->have_response)
                cl->call = call;
}

static void run_request(ControlClient *cl) {
        Control *c = cl->control;
        Bridge *b = control_bridge(c);
        ControlRequest *q = &cl->req;
        int r;

        /* what changes something is logged with who asked for it */
        if (q->command == CONTROL_STATUS || q->command == CONTROL_DEVICES ||
            (q->command == CONTROL_GET && !q->key))
                log_debug("Control socket: %s request", control_command_to_string(q->command));
        else {
                char what[300] = "";

                if (q->device)
                        (void) snprintf(what, sizeof(what), " '%s'%s%s%s", q->device, q->name ? " to '" : "",
                                        q->name ?: "", q->name ? "'" : "");
                bool is_ieee = q->device && strlen(q->device) == 18 && strncmp(q->device, "0x", 2) == 0;

                log_fields(LOG_INFO, 0, &((LogFields) { .device = is_ieee ? q->device : NULL,
                                                        .name = is_ieee ? NULL : q->device }),
                           "Control socket: %s%s (uid %u, pid %d)",
                           control_command_to_string(q->command), what, (unsigned) cl->uid, (int) cl->pid);
        }
        switch (q->command) {
        case CONTROL_STATUS:
                client_send(cl, control_reply_ok(q->id, status_data(c)));
                break;
        case CONTROL_DEVICES:
                if (!b)
                        client_reply_error(cl, CONTROL_E_BUSY, "The Zigbee side is restarting, try again");
                else
                        client_send(cl, control_reply_ok(q->id, bridge_devices_view(b)));
                break;
        case CONTROL_PERMIT_JOIN:
                start_bridge_request(cl, "permit_join", payload_with("time", json_object_new_int(q->seconds), NULL, NULL));
                break;
        case CONTROL_GET:
                if (!q->key) {
                        /* the last known state: no radio traffic */
                        json_object *v = b ? bridge_device_view(b, q->device) : NULL;

                        if (v)
                                client_send(cl, control_reply_ok(q->id, v));
                        else
                                (void) device_known(cl, q->device);
                } else
                        start_set_get(cl);
                break;
        case CONTROL_SET:
                start_set_get(cl);
                break;
        case CONTROL_RENAME:
                if (device_known(cl, q->device))
                        start_bridge_request(cl, "device/rename", payload_with("from", json_object_new_string(q->device),
                                                                               "to", json_object_new_string(q->name)));
                break;
        case CONTROL_REMOVE:
                if (device_known(cl, q->device))
                        start_bridge_request(cl, "device/remove", payload_with("id", json_object_new_string(q->device),
                                                                               "force", json_object_new_boolean(q->force)));
                break;
        case CONTROL_OTA_CHECK:
        case CONTROL_OTA_UPDATE:
                if (device_known(cl, q->device))
                        start_bridge_request(cl, q->command == CONTROL_OTA_CHECK ? "device/ota_update/check" :
                                                                                    "device/ota_update/update",
                                             payload_with("id", json_object_new_string(q->device), NULL, NULL));
                break;
        case CONTROL_RELOAD:
                if (c->m->stopping) {
                        client_reply_error(cl, CONTROL_E_BUSY, "lumiplugd is stopping");
                        break;
                }
                r = manager_reload(c->m);
                if (r < 0)
                        client_reply_error(cl, CONTROL_E_FAILED, "Reload failed, the running configuration is kept: %s",
                                           r == -EINVAL ? "the file has errors (see the log)" : strerror(-r));
                else
                        client_send(cl, control_reply_ok(q->id, payload_with("reloaded", json_object_new_boolean(true),
                                                                             NULL, NULL)));
                break;
        default:
                client_reply_error(cl, CONTROL_E_UNKNOWN_COMMAND, "Unknown command");
        }
}

/* The reply to a request the bridge answered. */
static void finish_bridge_request(ControlClient *cl) {
        Control *c = cl->control;
        ControlRequest *q = &cl->req;
        json_object *resp = cl->response, *v;
        const char *status = NULL, *error = NULL, *code = NULL;

        if (!resp) {
                client_reply_error(cl, CONTROL_E_INTERNAL, "Out of memory");
                return;
        }
        if (json_object_object_get_ex(resp, "status", &v))
                status = json_object_get_string(v);
        if (json_object_object_get_ex(resp, "error", &v))
                error = json_object_get_string(v);
        if (json_object_object_get_ex(resp, "code", &v))
                code = json_object_get_string(v);

        if (!status || strcmp(status, "ok") != 0) {
                if (!code) {
                        /* a bridge request's error: the device was checked before, so what is left
                         * is the value (rename: the new name), the plug not answering, or a refusal */
                        if (q->command == CONTROL_RENAME)
                                code = CONTROL_E_BAD_VALUE;
                        else if (error && strstr(error, "Timeout"))
                                code = CONTROL_E_TIMEOUT;
                        else
                                code = CONTROL_E_FAILED;
                }
                client_reply_error(cl, code, "%s", error ?: "The request failed");
                return;
        }

        if (q->command == CONTROL_GET || q->command == CONTROL_SET) {
                Bridge *b = control_bridge(c);
                _cleanup_(jputp) json_object *view = b ? bridge_device_view(b, cl->ieee) : NULL;
                json_object *state = NULL, *value = NULL;

                if (!view) {
                        client_reply_error(cl, CONTROL_E_UNKNOWN_DEVICE, "Device '%s' was removed meanwhile", q->device);
                        return;
                }
                if (json_object_object_get_ex(view, "state", &state) && q->key)
                        (void) json_object_object_get_ex(state, q->key, &value);
                if (q->command == CONTROL_GET) {
                        _cleanup_(jputp) json_object *o = json_object_new_object();
                        json_object *name = NULL;

                        (void) json_object_object_get_ex(view, "name", &name);
                        if (!o || json_add(o, "name", json_object_get(name)) < 0 ||
                            json_add_string(o, "ieee", cl->ieee) < 0 ||
                            json_add_string(o, "key", q->key) < 0 ||
                            json_object_object_add(o, "value", json_object_get(value)) < 0)
                                client_send(cl, NULL);
                        else
                                client_send(cl, control_reply_ok(q->id, TAKE_PTR(o)));
                } else
                        client_send(cl, control_reply_ok(q->id, TAKE_PTR(view)));
                return;
        }
        if (!json_object_object_get_ex(resp, "data", &v))
                v = NULL;
        client_send(cl, control_reply_ok(q->id, v ? json_object_get(v) : NULL));
}

static int on_client_defer(sd_event_source *s, void *userdata) {
        ControlClient *cl = userdata;

        if (!cl->busy || !cl->have_response)
                return 0;
        cl->call = 0;
        /* get KEY of a value the plug cannot be asked for: its last known value */
        if (cl->req.command == CONTROL_GET && cl->response) {
                json_object *v;

                if (json_object_object_get_ex(cl->response, "code", &v) &&
                    strcmp(json_object_get_string(v), CONTROL_E_BAD_ARGUMENT) == 0) {
                        _cleanup_(jputp) json_object *view = bridge_device_view(control_bridge(cl->control), cl->ieee);
                        json_object *state;

                        if (view && json_object_object_get_ex(view, "state", &state) &&
                            json_object_object_get_ex(state, cl->req.key, NULL)) {
                                json_object_put(cl->response);
                                cl->response = json_tokener_parse("{\"status\":\"ok\"}");
                        }
                }
        }
        finish_bridge_request(cl);
        client_request_end(cl);
        client_update(cl);
        return 0;
}

/*
 * Framing
 */

static void handle_line(ControlClient *cl, const char *line, size_t len) {
        ControlError err;
        int r;

        r = control_request_parse(line, len, &cl->req, &err);
        if (r < 0) {
                client_reply_error(cl, err.code, "%s", err.message);
                control_request_done(&cl->req);
                return;
        }
        run_request(cl);
        if (!cl->busy)
                control_request_done(&cl->req);
        else
                client_arm_timer(cl);   /* the request's own timeout */
}

/* Serves complete lines while no request is in flight. */
static void client_process(ControlClient *cl) {
        while (!cl->busy && !cl->closing) {
                char *nl = cl->n_in ? memchr(cl->in, '\n', cl->n_in) : NULL;
                size_t len;

                if (!nl) {
                        if (cl->n_in > CONTROL_REQUEST_MAX) {
                                client_reply_error(cl, CONTROL_E_TOO_LARGE, "The request is larger than %u bytes",
                                                   CONTROL_REQUEST_MAX);
                                cl->closing = true;     /* the rest of the line cannot be found reliably */
                                cl->n_in = 0;
                                return;
                        }
                        if (cl->eof && cl->n_in > 0) {
                                /* the last request without its newline */
                                nl = cl->in + cl->n_in;
                        } else
                                return;
                }
                len = (size_t) (nl - cl->in);
                if (len > CONTROL_REQUEST_MAX) {
                        client_reply_error(cl, CONTROL_E_TOO_LARGE, "The request is larger than %u bytes",
                                           CONTROL_REQUEST_MAX);
                } else {
                        size_t n = len;

                        while (n > 0 && (cl->in[n - 1] == '\r' || cl->in[n - 1] == ' ' || cl->in[n - 1] == '\t'))
                                n--;
                        size_t start = 0;
                        while (start < n && (cl->in[start] == ' ' || cl->in[start] == '\t'))
                                start++;
                        if (start < n)
                                handle_line(cl, cl->in + start, n - start);
                }
                if (len < cl->n_in) {
                        memmove(cl->in, cl->in + len + 1, cl->n_in - len - 1);
                        cl->n_in -= len + 1;
                } else
                        cl->n_in = 0;
        }
}

/* After anything happened: write, decide what to wait for, or close. */
static void client_update(ControlClient *cl) {
        uint32_t events = 0;
        int r;

        if (!client_flush(cl)) {
                client_free(cl);
                return;
        }
        if (!cl->busy && cl->n_out == 0 && (cl->closing || (cl->eof && cl->n_in == 0))) {
                /* Closing with unread input would reset the connection, and the peer could lose
                 * the error reply (an oversized request): shut our side, drop its input until EOF. */
                if (cl->closing && !cl->eof && !cl->draining && shutdown(cl->fd, SHUT_WR) >= 0 &&
                    sd_event_source_set_io_events(cl->io, EPOLLIN) >= 0) {
                        cl->draining = true;
                        client_arm_timer(cl);
                        return;
                }
                if (!cl->draining)
                        client_free(cl);
                return;
        }
        /* a client that does not read its replies is not read from either (until the idle timeout) */
        if (!cl->busy && !cl->closing && !cl->eof && cl->n_out < CONTROL_BACKLOG_MAX)
                events |= EPOLLIN;
        if (cl->n_out > 0)
                events |= EPOLLOUT;
        r = sd_event_source_set_io_events(cl->io, events);
        if (r < 0) {
                log_warning_errno(r, "Control socket: cannot watch a client: %m");
                client_free(cl);
        }
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ControlClient *cl = userdata;

        if (cl->draining) {
                char buf[4096];
                ssize_t n;

                while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                        ;
                if (n == 0 || (errno != EAGAIN && errno != EINTR))
                        client_free(cl);
                return 0;
        }
        if ((revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) {
                /* the peer is gone in both directions: no reply can reach it */
                client_free(cl);
                return 0;
        }
        if ((revents & EPOLLIN) && !cl->busy && !cl->eof) {
                if (cl->in_size - cl->n_in < READ_CHUNK) {
                        size_t size = cl->in_size + READ_CHUNK * 4;
                        char *p = realloc(cl->in, size);

                        if (!p) {
                                client_free(cl);
                                return 0;
                        }
                        cl->in = p;
                        cl->in_size = size;
                }
                ssize_t n = recv(fd, cl->in + cl->n_in, cl->in_size - cl->n_in, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR) {
                                client_free(cl);
                                return 0;
                        }
                } else if (n == 0)
                        cl->eof = true;
                else {
                        cl->n_in += (size_t) n;
                        client_arm_timer(cl);
                }
                client_process(cl);
        } else if (revents & (EPOLLHUP | EPOLLERR)) {
                if (cl->busy) {
                        client_free(cl);
                        return 0;
                }
        }
        client_update(cl);
        return 0;
}

static int on_client_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ControlClient *cl = userdata;

        if (cl->busy) {
                client_reply_error(cl, CONTROL_E_TIMEOUT, "No answer within %u s", cl->req.timeout_sec);
                client_request_end(cl);
                client_process(cl);
                client_update(cl);
                return 0;
        }
        log_debug("Control socket: closing an idle client");
        client_free(cl);
        return 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *c = userdata;
        ControlClient *cl;
        size_t slot;
        int cfd, r;

        for (slot = 0; slot < CONTROL_CLIENTS_MAX; slot++)
                if (!c->clients[slot])
                        break;
        cfd = stream_server_accept(fd, slot < CONTROL_CLIENTS_MAX,
                                   "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":"
                                   "\"Too many control clients, try again\"}}\n", "Control socket");
        if (cfd < 0)
                return 0;
        cl = calloc(1, sizeof(*cl));
        if (!cl) {
                (void) close(cfd);
                return 0;
        }
        cl->control = c;
        cl->fd = cfd;
        {
                struct ucred cred = {};
                socklen_t len = sizeof(cred);

                if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) >= 0) {
                        cl->uid = cred.uid;
                        cl->pid = cred.pid;
                }
        }
        cl->req.command = _CONTROL_COMMAND_INVALID;
        c->clients[slot] = cl;
        r = sd_event_add_io(sd_event_source_get_event(s), &cl->io, cfd, EPOLLIN, on_client_io, cl);
        if (r >= 0)
                r = sd_event_add_time_relative(sd_event_source_get_event(s), &cl->timer, CLOCK_MONOTONIC,
                                               CONTROL_IDLE_TIMEOUT_USEC, 0, on_client_timer, cl);
        if (r >= 0)
                r = sd_event_add_defer(sd_event_source_get_event(s), &cl->defer, on_client_defer, cl);
        if (r >= 0)
                r = sd_event_source_set_enabled(cl->defer, SD_EVENT_OFF);
        if (r < 0) {
                log_warning_errno(r, "Control socket: cannot serve a client: %m");
                client_free(cl);
        }
        return 0;
}

/*
 * The listening socket
 */

static int create_socket(Control *c, const char *path) {
        union {
                struct sockaddr sa;
                struct sockaddr_un un;
        } addr = { .un.sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *dir = NULL;
        socklen_t len;
        struct stat st;
        char *slash;

        if (strlen(path) >= sizeof(addr.un.sun_path))
                return log_error_errno(-ENAMETOOLONG, "Control socket path %s is too long", path);
        memcpy(addr.un.sun_path, path, strlen(path));
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);

        /* its directory: /run/lumiplugd is RuntimeDirectory= under systemd; make it otherwise */
        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Cannot create the directory of the control socket %s: %m "
                                               "(set [control] socket to another path, or to nothing for none)", path);
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create the control socket: %m");
        if (bind(fd, &addr.sa, len) < 0) {
                _cleanup_close_ int probe = -1;

                if (errno != EADDRINUSE)
                        return log_error_errno(errno, "Cannot create the control socket %s: %m "
                                               "(set [control] socket to another path, or to nothing for none)", path);
                /* someone listening there, or a file left behind by a daemon that died? */
                if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
                        return log_error_errno(-EEXIST, "Cannot create the control socket %s: the path exists "
                                               "and is not a socket", path);
                probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (probe < 0)
                        return log_error_errno(errno, "Cannot create a socket: %m");
                if (connect(probe, &addr.sa, len) >= 0)
                        return log_error_errno(-EADDRINUSE, "Another lumiplugd is already running with the control "
                                               "socket %s; stop it first, or give this one another [control] socket",
                                               path);
                if (errno != ECONNREFUSED)
                        return log_error_errno(errno, "Cannot check the existing control socket %s: %m", path);
                log_info("Replacing the stale control socket %s", path);
                if (unlink(path) < 0 && errno != ENOENT)
                        return log_error_errno(errno, "Cannot remove the stale control socket %s: %m", path);
                if (bind(fd, &addr.sa, len) < 0)
                        return log_error_errno(errno, "Cannot create the control socket %s: %m", path);
        }
        if (chmod(path, 0660) < 0 || lstat(path, &st) < 0) {
                int r = -errno;

                (void) unlink(path);
                return log_error_errno(r, "Cannot set the mode of the control socket %s: %m", path);
        }
        c->path = strdup(path);
        if (!c->path) {
                (void) unlink(path);
                return -ENOMEM;
        }
        c->dev = st.st_dev;
        c->ino = st.st_ino;
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "Cannot listen on the control socket %s: %m", path);
        log_info("Control socket %s", path);
        return TAKE_FD(fd);
}

int control_new(Control **ret, Manager *m, int fd, const char *path) {
        _cleanup_(control_freep) Control *c = NULL;
        int r;

        if (fd < 0 && !path) {
                *ret = NULL;
                return 0;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                if (fd >= 0)
                        (void) close(fd);
                return -ENOMEM;
        }
        c->m = m;
        c->fd = -1;
        c->start_usec = now_usec();
        if (fd >= 0) {
                c->fd = fd;
                r = stream_server_make_nonblocking(fd, "control socket");
                if (r < 0)
                        return r;
                log_info("Control socket passed by systemd");
        } else {
                r = create_socket(c, path);
                if (r < 0)
                        return r;
                c->fd = r;
        }
        r = sd_event_add_io(m->event, &c->listen_source, c->fd, EPOLLIN, on_listen, c);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the control socket: %m");
        *ret = TAKE_PTR(c);
        return 0;
}

Control *control_free(Control *c) {
        struct stat st;

        if (!c)
                return NULL;
        for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
                client_free(c->clients[i]);
        c->listen_source = sd_event_source_disable_unref(c->listen_source);
        if (c->fd >= 0)
                (void) close(c->fd);
        /* ours only: not a socket another daemon has put there since */
        if (c->path && lstat(c->path, &st) >= 0 && st.st_dev == c->dev && st.st_ino == c->ino)
                (void) unlink(c->path);
        free(c->path);
        free(c);
        return NULL;
}
