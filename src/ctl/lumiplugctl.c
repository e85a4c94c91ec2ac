/*
 * lumiplugctl: the administrator's command line for a running lumiplugd, over its control socket
 * (line-delimited JSON, see src/control/control-request.h and lumiplugctl(1)). Plain-text tables by
 * default, the daemon's JSON with --json; distinct exit codes for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"

#define DEFAULT_SOCKET "/run/lumiplugd/control"
#define REPLY_MAX (16u << 20)

enum {
        EXIT_OK = 0,
        EXIT_FAILURE_ = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_RUNNING = 3,
        EXIT_PERMISSION = 4,
        EXIT_UNKNOWN_DEVICE = 5,
        EXIT_BAD_VALUE = 6,
        EXIT_TIMEOUT = 7,
};

static const char *arg_socket;
static bool arg_json;
static long arg_timeout = -1;           /* seconds; -1: the command's default */
static bool arg_force;

static void help(void) {
        printf("Usage: lumiplugctl [OPTIONS] COMMAND [ARGUMENTS]\n"
               "\n"
               "Control a running lumiplugd through its control socket.\n"
               "\n"
               "Commands:\n"
               "  status                    daemon, MQTT and coordinator state, plug counts\n"
               "  devices                   every paired device with its availability and state\n"
               "  permit-join [SECONDS]     let devices join for SECONDS (default 254; 0 closes)\n"
               "  get NAME [KEY]            the last known state of a plug; with KEY, read that\n"
               "                            value from the plug and print it\n"
               "  set NAME KEY=VALUE...     set values, as <base_topic>/NAME/set does\n"
               "  rename OLD NEW            give a device a new friendly name\n"
               "  remove NAME               make a device leave the network and forget it\n"
               "  reload                    re-read the configuration (as SIGHUP)\n"
               "  ota check NAME            ask whether a firmware update is available\n"
               "  ota update NAME           update the firmware of a device\n"
               "\n"
               "Options:\n"
               "  -s, --socket PATH         control socket (default $LUMIPLUGD_CONTROL_SOCKET,\n"
               "                            else %s)\n"
               "  -j, --json                print the daemon's JSON instead of text\n"
               "  -t, --timeout SECONDS     how long to wait for the answer (default 30;\n"
               "                            ota update: 3600)\n"
               "  -f, --force               remove: forget the device without asking it to leave\n"
               "  -h, --help                show this help\n"
               "      --version             show the version\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 lumiplugd is not running,\n"
               "4 permission denied, 5 unknown device, 6 bad value, 7 timeout.\n", DEFAULT_SOCKET);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("lumiplugctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'lumiplugctl --help'.\n", stderr);
        return EXIT_USAGE;
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...) {
        va_list ap;

        fputs("lumiplugctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return code;
}

/*
 * Talking to the daemon
 */

static long long now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_socket(const char *path, int *ret_fd) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(addr.sun_path))
                return fail(EXIT_USAGE, "socket path %s is too long", path);
        memcpy(addr.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return fail(EXIT_FAILURE_, "cannot create a socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
                int e = errno;

                (void) close(fd);
                if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
                        return fail(EXIT_NOT_RUNNING, "lumiplugd is not running (cannot connect to %s: %s)", path,
                                    strerror(e));
                if (e == EACCES || e == EPERM)
                        return fail(EXIT_PERMISSION, "permission denied on %s (run as root or as a member of "
                                    "the group that owns it, usually _lumiplugd)", path);
                return fail(EXIT_FAILURE_, "cannot connect to %s: %s", path, strerror(e));
        }
        *ret_fd = fd;
        return 0;
}

/* Sends the request, returns the parsed reply in *ret. */
static int transact(json_object *request, long timeout_sec, json_object **ret) {
        const char *text = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
        long long deadline = now_ms() + (timeout_sec + 5) * 1000LL;
        char *buf = NULL;
        size_t n = 0, size = 0;
        int fd = -1, r;

        r = connect_socket(arg_socket, &fd);
        if (r != 0)
                return r;
        for (size_t off = 0, len = strlen(text) + 1; off < len;) {
                const char *p = off < len - 1 ? text + off : "\n";
                size_t chunk = off < len - 1 ? len - 1 - off : 1;
                ssize_t k = send(fd, p, chunk, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = fail(EXIT_FAILURE_, "cannot send the request: %s", strerror(errno));
                        goto out;
                }
                off += (size_t) k;
        }
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                long long left = deadline - now_ms();
                char *nl;
                ssize_t k;

                if (left <= 0) {
                        r = fail(EXIT_TIMEOUT, "no answer from lumiplugd within %ld s", timeout_sec + 5);
                        goto out;
                }
                k = poll(&pfd, 1, (int) (left > 60000 ? 60000 : left));
                if (k < 0 && errno != EINTR) {
                        r = fail(EXIT_FAILURE_, "poll: %s", strerror(errno));
                        goto out;
                }
                if (k <= 0)
                        continue;
                if (size - n < 65536) {
                        char *p = realloc(buf, size + 65536);

                        if (!p) {
                                r = fail(EXIT_FAILURE_, "out of memory");
                                goto out;
                        }
                        buf = p;
                        size += 65536;
                }
                k = recv(fd, buf + n, size - n - 1, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = fail(EXIT_FAILURE_, "cannot read the answer: %s", strerror(errno));
                        goto out;
                }
                if (k == 0) {
                        r = fail(EXIT_FAILURE_, "lumiplugd closed the connection without an answer");
                        goto out;
                }
                n += (size_t) k;
                buf[n] = 0;
                nl = memchr(buf, '\n', n);
                if (nl) {
                        *nl = 0;
                        *ret = json_tokener_parse(buf);
                        if (!*ret || !json_object_is_type(*ret, json_type_object)) {
                                json_object_put(*ret);
                                r = fail(EXIT_FAILURE_, "lumiplugd sent an answer that is not a JSON object");
                                goto out;
                        }
                        r = 0;
                        goto out;
                }
                if (n > REPLY_MAX) {
                        r = fail(EXIT_FAILURE_, "the answer is larger than %u bytes", REPLY_MAX);
                        goto out;
                }
        }
out:
        free(buf);
        (void) close(fd);
        return r;
}

static int exit_code_of(const char *code) {
        static const struct {
                const char *code;
                int exit;
        } map[] = {
                { "unknown-device", EXIT_UNKNOWN_DEVICE },
                { "bad-value", EXIT_BAD_VALUE },
                { "timeout", EXIT_TIMEOUT },
                { "bad-argument", EXIT_USAGE },
                { "unknown-command", EXIT_USAGE },
                { "malformed-request", EXIT_USAGE },
                { "request-too-large", EXIT_USAGE },
        };

        for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(map[i].code, code) == 0)
                        return map[i].exit;
        return EXIT_FAILURE_;
}

/* Runs one request; *ret_data: the reply's data (a new reference) on success. */
static int call(json_object *request, long default_timeout, json_object **ret_data) {
        json_object *reply = NULL, *ok, *data, *err, *code, *msg;
        long timeout = arg_timeout > 0 ? arg_timeout : default_timeout;
        int r;

        if (arg_timeout > 0 || default_timeout != 30)
                json_object_object_add(request, "timeout", json_object_new_int((int) timeout));
        r = transact(request, timeout, &reply);
        json_object_put(request);
        if (r != 0)
                return r;
        if (json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok)) {
                if (!json_object_object_get_ex(reply, "data", &data))
                        data = NULL;
                *ret_data = data ? json_object_get(data) : json_object_new_object();
                json_object_put(reply);
                return 0;
        }
        code = msg = NULL;
        if (json_object_object_get_ex(reply, "error", &err)) {
                (void) json_object_object_get_ex(err, "code", &code);
                (void) json_object_object_get_ex(err, "message", &msg);
        }
        r = fail(exit_code_of(code ? json_object_get_string(code) : NULL), "%s",
                 msg ? json_object_get_string(msg) : "lumiplugd answered with an error");
        json_object_put(reply);
        return r;
}

static json_object *request_new(const char *command) {
        json_object *o = json_object_new_object();

        if (o)
                json_object_object_add(o, "command", json_object_new_string(command));
        return o;
}

/*
 * Text output
 */

static const char *str(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

static void format_duration(long long s, char *buf, size_t size) {
        if (s >= 86400)
                snprintf(buf, size, "%lldd %lldh %lldm", s / 86400, s % 86400 / 3600, s % 3600 / 60);
        else if (s >= 3600)
                snprintf(buf, size, "%lldh %lldm %llds", s / 3600, s % 3600 / 60, s % 60);
        else if (s >= 60)
                snprintf(buf, size, "%lldm %llds", s / 60, s % 60);
        else
                snprintf(buf, size, "%llds", s);
}

static void value_text(json_object *v, char *buf, size_t size) {
        if (!v)
                snprintf(buf, size, "-");
        else if (json_object_is_type(v, json_type_string))
                snprintf(buf, size, "%s", json_object_get_string(v));
        else
                snprintf(buf, size, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}

/* Aligned columns: rows of n_cols cells, the first row the header. */
static void print_table(char ***rows, size_t n_rows, size_t n_cols) {
        size_t width[16] = {};

        for (size_t r = 0; r < n_rows; r++)
                for (size_t c = 0; c < n_cols; c++)
                        if (strlen(rows[r][c]) > width[c])
                                width[c] = strlen(rows[r][c]);
        for (size_t r = 0; r < n_rows; r++) {
                for (size_t c = 0; c < n_cols; c++) {
                        if (c == n_cols - 1)
                                printf("%s", rows[r][c]);
                        else
                                printf("%-*s  ", (int) width[c], rows[r][c]);
                }
                putchar('\n');
        }
}

static void print_key_values(json_object *o) {
        size_t width = 0;
        char buf[512];

        json_object_object_foreach(o, k, v) {
                (void) v;
                if (strlen(k) > width)
                        width = strlen(k);
        }
        json_object_object_foreach(o, k2, v2) {
                value_text(v2, buf, sizeof(buf));
                printf("%-*s  %s\n", (int) width, k2, buf);
        }
}

static void print_status(json_object *d) {
        json_object *mqtt = NULL, *coord = NULL, *pj = NULL, *v;
        char up[64];
        long long remaining = 0;

        (void) json_object_object_get_ex(d, "mqtt", &mqtt);
        (void) json_object_object_get_ex(d, "coordinator", &coord);
        (void) json_object_object_get_ex(d, "permit_join", &pj);
        format_duration(json_object_object_get_ex(d, "uptime", &v) ? json_object_get_int64(v) : 0, up, sizeof(up));
        if (pj && json_object_object_get_ex(pj, "remaining", &v))
                remaining = json_object_get_int64(v);
        printf("Version:      lumiplugd %s\n", str(d, "version") ?: "?");
        printf("Uptime:       %s\n", up);
        printf("MQTT:         %s (%s, base topic %s)\n", str(mqtt, "state") ?: "?", str(mqtt, "broker") ?: "?",
               str(mqtt, "base_topic") ?: "?");
        printf("Coordinator:  %s (%s)\n", str(coord, "state") ?: "?", str(coord, "port") ?: "?");
        printf("Plugs:        %s, %s online (%s device%s paired)\n", str(d, "plugs") ?: "0", str(d, "online") ?: "0",
               str(d, "devices") ?: "0", strcmp(str(d, "devices") ?: "0", "1") == 0 ? "" : "s");
        if (remaining > 0)
                printf("Permit join:  open, %llds left\n", remaining);
        else
                printf("Permit join:  closed\n");
}

static void print_devices(json_object *a) {
        static const char *const header[] = { "NAME", "IEEE", "MODEL", "AVAILABILITY", "LAST SEEN", "LQI", "STATE", "POWER" };
        size_t n = json_object_array_length(a), n_cols = sizeof(header) / sizeof(header[0]);
        char ***rows = calloc(n + 1, sizeof(char **));
        long long now = (long long) time(NULL) * 1000;

        if (!rows)
                return;
        rows[0] = (char **) header;
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(a, i), *state = NULL, *v;
                char buf[64];

                rows[i + 1] = calloc(n_cols, sizeof(char *));
                if (!rows[i + 1])
                        return;
                (void) json_object_object_get_ex(d, "state", &state);
                rows[i + 1][0] = strdup(str(d, "name") ?: "-");
                rows[i + 1][1] = strdup(str(d, "ieee") ?: "-");
                rows[i + 1][2] = strdup(str(d, "model") ?: "-");
                rows[i + 1][3] = strdup(str(d, "availability") ?: "-");
                if (json_object_object_get_ex(d, "last_seen", &v) && v) {
                        long long ago = (now - json_object_get_int64(v)) / 1000;
                        char dur[48];

                        format_duration(ago < 0 ? 0 : ago, dur, sizeof(dur));
                        snprintf(buf, sizeof(buf), "%s ago", dur);
                } else
                        snprintf(buf, sizeof(buf), "never");
                rows[i + 1][4] = strdup(buf);
                rows[i + 1][5] = strdup(str(d, "linkquality") ?: "-");
                rows[i + 1][6] = strdup(str(state, "state") ?: "-");
                if (json_object_object_get_ex(state, "power", &v) && v)
                        snprintf(buf, sizeof(buf), "%s W", json_object_get_string(v));
                else
                        snprintf(buf, sizeof(buf), "-");
                rows[i + 1][7] = strdup(buf);
                for (size_t c = 0; c < n_cols; c++)
                        if (!rows[i + 1][c])
                                rows[i + 1][c] = (char *) "?";
        }
        if (n == 0)
                printf("No devices. Pair one with 'lumiplugctl permit-join' and its button.\n");
        else
                print_table(rows, n + 1, n_cols);
        for (size_t i = 1; i <= n; i++) {
                if (!rows[i])
                        continue;
                for (size_t c = 0; c < n_cols; c++)
                        if (rows[i][c] && strcmp(rows[i][c], "?") != 0)
                                free(rows[i][c]);
                free(rows[i]);
        }
        free(rows);
}

static void print_device(json_object *d) {
        json_object *state = NULL;

        printf("%s (%s), %s, %s\n", str(d, "name") ?: "?", str(d, "ieee") ?: "?", str(d, "model") ?: "unknown model",
               str(d, "availability") ?: "?");
        if (json_object_object_get_ex(d, "state", &state) && json_object_object_length(state) > 0)
                print_key_values(state);
}

/* KEY=VALUE: the value as JSON when it is JSON (numbers, true/false, quoted strings), else the text. */
static int parse_assignment(const char *arg, json_object *values) {
        const char *eq = strchr(arg, '=');
        char *key;
        json_object *v;

        if (!eq || eq == arg)
                return usage_error("'%s' is not KEY=VALUE", arg);
        key = strndup(arg, (size_t) (eq - arg));
        if (!key)
                return fail(EXIT_FAILURE_, "out of memory");
        v = NULL;
        if (*(eq + 1)) {
                struct json_tokener *tok = json_tokener_new();

                if (tok) {
                        /* the whole text, not a prefix of it ("12abc" is text); the NUL is
                         * passed too, so that a number at the very end is complete */
                        v = json_tokener_parse_ex(tok, eq + 1, (int) strlen(eq + 1) + 1);
                        if (json_tokener_get_error(tok) != json_tokener_success ||
                            json_tokener_get_parse_end(tok) < strlen(eq + 1)) {
                                json_object_put(v);
                                v = NULL;
                        }
                        json_tokener_free(tok);
                }
        }
        if (!v || json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array)) {
                json_object_put(v);
                v = json_object_new_string(eq + 1);
        }
        json_object_object_add(values, key, v);
        free(key);
        return 0;
}

static int parse_seconds(const char *s, long *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > 254)
                return usage_error("'%s': expected a number of seconds from 0 to 254", s);
        *ret = v;
        return 0;
}

static void print_json(json_object *data) {
        printf("%s\n", json_object_to_json_string_ext(data, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int run(int argc, char **argv) {
        const char *cmd = argv[0];
        json_object *req, *data = NULL;
        long default_timeout = 30;
        int r;

#define NEED_ARGS(min, max, what)                                                                \
        do {                                                                                     \
                if (argc - 1 < (min) || ((max) >= 0 && argc - 1 > (max)))                        \
                        return usage_error("usage: lumiplugctl %s", what);                        \
        } while (0)

        if (strcmp(cmd, "status") == 0) {
                NEED_ARGS(0, 0, "status");
                req = request_new("status");
        } else if (strcmp(cmd, "devices") == 0) {
                NEED_ARGS(0, 0, "devices");
                req = request_new("devices");
        } else if (strcmp(cmd, "permit-join") == 0) {
                long seconds = 254;

                NEED_ARGS(0, 1, "permit-join [SECONDS]");
                if (argc == 2 && (r = parse_seconds(argv[1], &seconds)) != 0)
                        return r;
                req = request_new("permit-join");
                json_object_object_add(req, "seconds", json_object_new_int((int) seconds));
        } else if (strcmp(cmd, "get") == 0) {
                NEED_ARGS(1, 2, "get NAME [KEY]");
                req = request_new("get");
                json_object_object_add(req, "device", json_object_new_string(argv[1]));
                if (argc == 3)
                        json_object_object_add(req, "key", json_object_new_string(argv[2]));
        } else if (strcmp(cmd, "set") == 0) {
                json_object *values;

                NEED_ARGS(2, -1, "set NAME KEY=VALUE...");
                values = json_object_new_object();
                if (!values)
                        return fail(EXIT_FAILURE_, "out of memory");
                for (int i = 2; i < argc; i++)
                        if ((r = parse_assignment(argv[i], values)) != 0) {
                                json_object_put(values);
                                return r;
                        }
                req = request_new("set");
                json_object_object_add(req, "device", json_object_new_string(argv[1]));
                json_object_object_add(req, "values", values);
        } else if (strcmp(cmd, "rename") == 0) {
                NEED_ARGS(2, 2, "rename OLD NEW");
                req = request_new("rename");
                json_object_object_add(req, "device", json_object_new_string(argv[1]));
                json_object_object_add(req, "name", json_object_new_string(argv[2]));
        } else if (strcmp(cmd, "remove") == 0) {
                NEED_ARGS(1, 1, "remove NAME");
                req = request_new("remove");
                json_object_object_add(req, "device", json_object_new_string(argv[1]));
                if (arg_force)
                        json_object_object_add(req, "force", json_object_new_boolean(true));
        } else if (strcmp(cmd, "reload") == 0) {
                NEED_ARGS(0, 0, "reload");
                req = request_new("reload");
        } else if (strcmp(cmd, "ota") == 0) {
                NEED_ARGS(2, 2, "ota check|update NAME");
                if (strcmp(argv[1], "check") == 0)
                        req = request_new("ota-check");
                else if (strcmp(argv[1], "update") == 0) {
                        req = request_new("ota-update");
                        default_timeout = 3600;
                } else
                        return usage_error("unknown ota command '%s' (check or update)", argv[1]);
                json_object_object_add(req, "device", json_object_new_string(argv[2]));
        } else
                return usage_error("unknown command '%s'", cmd);
        if (!req)
                return fail(EXIT_FAILURE_, "out of memory");

        r = call(req, default_timeout, &data);
        if (r != 0)
                return r;
        if (arg_json)
                print_json(data);
        else if (strcmp(cmd, "status") == 0)
                print_status(data);
        else if (strcmp(cmd, "devices") == 0)
                print_devices(data);
        else if (strcmp(cmd, "permit-join") == 0) {
                json_object *t;
                int secs = json_object_object_get_ex(data, "time", &t) ? json_object_get_int(t) : 0;

                if (secs > 0)
                        printf("Permit join open for %d s\n", secs);
                else
                        printf("Permit join closed\n");
        } else if (strcmp(cmd, "get") == 0 && argc == 3) {
                char buf[512];
                json_object *v = NULL;

                (void) json_object_object_get_ex(data, "value", &v);
                value_text(v, buf, sizeof(buf));
                printf("%s\n", buf);
        } else if (strcmp(cmd, "get") == 0 || strcmp(cmd, "set") == 0)
                print_device(data);
        else if (strcmp(cmd, "rename") == 0)
                printf("Renamed '%s' to '%s'\n", str(data, "from") ?: argv[1], str(data, "to") ?: argv[2]);
        else if (strcmp(cmd, "remove") == 0)
                printf("Removed '%s'\n", argv[1]);
        else if (strcmp(cmd, "reload") == 0)
                printf("Configuration reloaded\n");
        else
                print_key_values(data);
        json_object_put(data);
        return EXIT_OK;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "socket",  required_argument, NULL, 's' },
                { "json",    no_argument,       NULL, 'j' },
                { "timeout", required_argument, NULL, 't' },
                { "force",   no_argument,       NULL, 'f' },
                { "help",    no_argument,       NULL, 'h' },
                { "version", no_argument,       NULL, ARG_VERSION },
                {}
        };
        char *end;
        int c;

        argv[0] = (char *) "lumiplugctl";     /* getopt's messages start with it */
        arg_socket = getenv("LUMIPLUGD_CONTROL_SOCKET");
        if (!arg_socket || !*arg_socket)
                arg_socket = DEFAULT_SOCKET;
        /* "+": options end at the command, so that "set x power=-1" is not an option */
        while ((c = getopt_long(argc, argv, "+s:jt:fh", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        arg_socket = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 't':
                        errno = 0;
                        arg_timeout = strtol(optarg, &end, 10);
                        if (errno || end == optarg || *end || arg_timeout < 1 || arg_timeout > 86400)
                                return usage_error("--timeout '%s': expected seconds from 1 to 86400", optarg);
                        break;
                case 'f':
                        arg_force = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("lumiplugctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                default:
                        fputs("Try 'lumiplugctl --help'.\n", stderr);
                        return EXIT_USAGE;
                }
        if (optind >= argc)
                return usage_error("no command given");
        /* options may also follow the command's arguments: "remove kitchen --force" */
        for (int i = optind + 1; i < argc; i++)
                if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0 ||
                    strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
                        if (argv[i][1] == 'f' || argv[i][2] == 'f')
                                arg_force = true;
                        else
                                arg_json = true;
                        memmove(argv + i, argv + i + 1, (size_t) (argc - i - 1) * sizeof(char *));
                        argc--;
                        i--;
                }
        return run(argc - optind, argv + optind);
}
