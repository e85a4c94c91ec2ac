/*
 * lumiplug-sim: a simulated TI Z-Stack 3.x.0 coordinator with simulated ZNCZ04LM plugs, on a
 * pseudo-terminal or on TCP 127.0.0.1, with a line-protocol control socket. One sd-event loop;
 * the simulation itself lives in sim-coordinator.c and runs on the loop's monotonic clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim-coordinator.h"

#define MAX_CONTROL_CLIENTS 16

typedef struct Control {
        int fd;
        sd_event_source *src;
        char buf[4096];
        size_t n;
} Control;

typedef struct Sim {
        sd_event *event;
        SimCoordinator *coord;
        double t0;

        /* Host link: a pty master, or a TCP client. */
        int host_fd;
        bool host_is_pty;
        bool host_present;
        sd_event_source *host_src;
        sd_event_source *hup_src;       /* pty without a reader: poll until one opens it */
        int listen_fd;
        sd_event_source *listen_src;
        uint8_t *out;
        size_t out_n, out_cap;

        int control_fd;
        sd_event_source *control_src;
        char *control_path;
        Control clients[MAX_CONTROL_CLIENTS];

        sd_event_source *timer;
        FILE *log;
        char *link_path;

        /* Frame time stamps for the benchmark (tests/bench): off until the first "stamps"
         * control command, then a ring of the last STAMP_RING frames that "stamps" drains. */
        struct Stamp *stamps;
        size_t stamp_head, stamp_count;
        unsigned long stamps_lost;
} Sim;

#define STAMP_RING (1u << 18)
#define STAMPS_PER_REPLY 16000u

/* One frame: CLOCK_MONOTONIC ns when it was parsed (from the host) or just before its bytes were
 * written (to the host); for AF frames the peer's network address, cluster and ZCL command. */
typedef struct Stamp {
        uint64_t ns;
        bool from_host;
        uint8_t cmd0, cmd1;
        uint8_t zcl_cmd;        /* 0xFF: not a ZCL frame */
        uint16_t nwk, cluster;
} Stamp;

static double mono_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double sim_now(const Sim *s) {
        return mono_now() - s->t0;
}

static void update_host_events(Sim *s) {
        if (!s->host_src)
                return;
        sd_event_source_set_io_events(s->host_src, EPOLLIN | (s->out_n > 0 ? EPOLLOUT : 0));
}

static void flush_out(Sim *s) {
        while (s->out_n > 0 && s->host_fd >= 0) {
                ssize_t k = write(s->host_fd, s->out, s->out_n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                s->out_n = 0;   /* the reader went away: bytes are lost, as on a wire */
                        break;
                }
                memmove(s->out, s->out + k, s->out_n - (size_t) k);
                s->out_n -= (size_t) k;
        }
        update_host_events(s);
}

static void host_write(const uint8_t *bytes, size_t len, void *userdata) {
        Sim *s = userdata;
        if (s->host_fd < 0 || !s->host_present)
                return;         /* nobody listening on the line */
        if (s->out_n + len > s->out_cap) {
                size_t cap = (s->out_n + len) * 2;
                uint8_t *o = realloc(s->out, cap);
                if (!o)
                        return;
                s->out = o;
                s->out_cap = cap;
        }
        memcpy(s->out + s->out_n, bytes, len);
        s->out_n += len;
        flush_out(s);
}

static uint64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void stamp_frame(Sim *s, const SimMtFrame *f, bool from_host) {
        Stamp st = { .ns = mono_ns(), .from_host = from_host, .cmd0 = f->cmd0, .cmd1 = f->cmd1,
                     .zcl_cmd = 0xFF, .nwk = 0xFFFF, .cluster = 0xFFFF };
        const uint8_t *zcl = NULL;
        size_t zlen = 0;
        if (f->cmd0 == 0x24 && f->cmd1 == 0x01 && f->len >= 10) {              /* AF_DATA_REQUEST */
                st.nwk = (uint16_t) (f->data[0] | f->data[1] << 8);
                st.cluster = (uint16_t) (f->data[4] | f->data[5] << 8);
                zcl = f->data + 10;
                zlen = f->data[9] <= f->len - 10 ? f->data[9] : 0;
        } else if (f->cmd0 == 0x44 && f->cmd1 == 0x81 && f->len >= 17) {       /* AF_INCOMING_MSG */
                st.cluster = (uint16_t) (f->data[2] | f->data[3] << 8);
                st.nwk = (uint16_t) (f->data[4] | f->data[5] << 8);
                zcl = f->data + 17;
                zlen = f->data[16] <= f->len - 17 ? f->data[16] : 0;
        }
        if (zcl && zlen >= 3) {
                size_t at = (zcl[0] & 0x04) ? 4 : 2;    /* manufacturer-specific: 2 more bytes */
                if (at < zlen)
                        st.zcl_cmd = zcl[at];
        }
        if (s->stamp_count == STAMP_RING) {
                s->stamp_head = (s->stamp_head + 1) % STAMP_RING;
                s->stamp_count--;
                s->stamps_lost++;
        }
        s->stamps[(s->stamp_head + s->stamp_count) % STAMP_RING] = st;
        s->stamp_count++;
}

/* "stamps": turns recording on (first call) and returns, oldest first, up to STAMPS_PER_REPLY
 * recorded frames as [ns, from_host, cmd0, cmd1, nwk, cluster, zcl_cmd], removing them; "more" says
 * whether more are waiting, "lost" how many the full ring dropped. */
static void stamps_reply(Sim *s, char *out, size_t size) {
        if (!s->stamps) {
                s->stamps = calloc(STAMP_RING, sizeof(Stamp));
                snprintf(out, size, s->stamps ? "ok {\"stamps\":[],\"more\":false,\"lost\":0}"
                                              : "error out of memory");
                return;
        }
        size_t o = (size_t) snprintf(out, size, "ok {\"stamps\":[");
        unsigned n = 0;
        while (s->stamp_count > 0 && n < STAMPS_PER_REPLY && o + 96 < size) {
                const Stamp *st = &s->stamps[s->stamp_head];
                o += (size_t) snprintf(out + o, size - o, "%s[%llu,%d,%u,%u,%u,%u,%u]", n ? "," : "",
                                       (unsigned long long) st->ns, st->from_host, st->cmd0, st->cmd1,
                                       st->nwk, st->cluster, st->zcl_cmd);
                s->stamp_head = (s->stamp_head + 1) % STAMP_RING;
                s->stamp_count--;
                n++;
        }
        snprintf(out + o, size - o, "],\"more\":%s,\"lost\":%lu}", s->stamp_count ? "true" : "false",
                 s->stamps_lost);
}

static void log_frame(const SimMtFrame *f, bool from_host, void *userdata) {
        Sim *s = userdata;
        /* A frame from the host is stamped before the log line is written, one to the host after
         * it (its bytes are written right after this returns): the log costs no measured time. */
        if (s->stamps && from_host)
                stamp_frame(s, f, from_host);
        if (s->log) {
                char line[1024];
                sim_mt_describe(f, from_host, line, sizeof(line));
                fprintf(s->log, "%10.3f %s\n", sim_now(s), line);
                fflush(s->log);
        }
        if (s->stamps && !from_host)
                stamp_frame(s, f, from_host);
}

static void rearm(Sim *s) {
        double due = sim_coordinator_next_due(s->coord);
        if (!isfinite(due)) {
                sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        double at = due + s->t0;
        if (at < 0)
                at = 0;
        sd_event_source_set_time(s->timer, (uint64_t) (at * 1e6));
        sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Sim *s = userdata;
        sim_coordinator_run(s->coord, sim_now(s));
        rearm(s);
        return 0;
}

static int on_hup_poll(sd_event_source *src, uint64_t usec, void *userdata);

static void host_gone(Sim *s) {
        s->host_present = false;
        s->out_n = 0;
        if (s->host_is_pty) {
                sd_event_source_set_enabled(s->host_src, SD_EVENT_OFF);
                sd_event_source_set_enabled(s->hup_src, SD_EVENT_ON);
        } else {
                s->host_src = sd_event_source_disable_unref(s->host_src);
                close(s->host_fd);
                s->host_fd = -1;
        }
}

static int on_host_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Sim *s = userdata;
        if (revents & EPOLLIN) {
                uint8_t buf[4096];
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k > 0)
                        sim_coordinator_feed(s->coord, buf, (size_t) k, sim_now(s));
                else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                        host_gone(s);
                        rearm(s);
                        return 0;
                }
        }
        if (revents & EPOLLOUT)
                flush_out(s);
        if ((revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN))
                host_gone(s);
        rearm(s);
        return 0;
}

static int on_hup_poll(sd_event_source *src, uint64_t usec, void *userdata) {
        Sim *s = userdata;
        struct pollfd p = { .fd = s->host_fd, .events = POLLIN };
        if (poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP)) {
                s->host_present = true;
                sd_event_source_set_enabled(s->host_src, SD_EVENT_ON);
                sd_event_source_set_enabled(s->hup_src, SD_EVENT_OFF);
                return 0;
        }
        sd_event_source_set_time(src, usec + 50000);
        sd_event_source_set_enabled(src, SD_EVENT_ON);
        return 0;
}

static int open_pty(Sim *s, const char *link) {
        int fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
                fprintf(stderr, "lumiplug-sim: cannot create a pseudo-terminal: %m\n");
                return -errno;
        }
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
                cfmakeraw(&t);
                cfsetspeed(&t, B115200);
                tcsetattr(fd, TCSANOW, &t);
        }
        const char *slave = ptsname(fd);
        if (!slave) {
                close(fd);
                return -EIO;
        }
        if (link) {
                unlink(link);
                if (symlink(slave, link) < 0) {
                        fprintf(stderr, "lumiplug-sim: cannot link %s to %s: %m\n", link, slave);
                        close(fd);
                        return -errno;
                }
                s->link_path = strdup(link);
        }
        s->host_fd = fd;
        s->host_is_pty = true;
        s->host_present = false;
        int r = sd_event_add_io(s->event, &s->host_src, fd, EPOLLIN, on_host_io, s);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(s->host_src, SD_EVENT_OFF);
        r = sd_event_add_time(s->event, &s->hup_src, CLOCK_MONOTONIC, 0, 1000, on_hup_poll, s);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(s->hup_src, SD_EVENT_ON);
        printf("%s\n", slave);
        fflush(stdout);
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Sim *s = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
                return 0;
        if (s->host_fd >= 0) {
                /* One host at a time: a new connection replaces the old one. */
                s->host_src = sd_event_source_disable_unref(s->host_src);
                close(s->host_fd);
        }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        s->host_fd = c;
        s->host_present = true;
        s->out_n = 0;
        if (sd_event_add_io(s->event, &s->host_src, c, EPOLLIN, on_host_io, s) < 0) {
                close(c);
                s->host_fd = -1;
                s->host_present = false;
        }
        return 0;
}

static int open_tcp(Sim *s, unsigned port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
                int r = -errno;
                fprintf(stderr, "lumiplug-sim: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(-r));
                close(fd);
                return r;
        }
        socklen_t len = sizeof(a);
        getsockname(fd, (struct sockaddr *) &a, &len);
        s->listen_fd = fd;
        s->host_fd = -1;
        int r = sd_event_add_io(s->event, &s->listen_src, fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return r;
        printf("tcp://127.0.0.1:%u\n", ntohs(a.sin_port));
        fflush(stdout);
        return 0;
}

static void control_close(Control *c) {
        c->src = sd_event_source_disable_unref(c->src);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->n = 0;
}

static void control_reply(Control *c, const char *text) {
        size_t len = strlen(text);
        /* Replies are small or the client reads them at once; a blocking write keeps it simple. */
        int flags = fcntl(c->fd, F_GETFL);
        fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
        while (len > 0) {
                ssize_t k = write(c->fd, text, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                text += k;
                len -= (size_t) k;
        }
        (void) !write(c->fd, "\n", 1);
        fcntl(c->fd, F_SETFL, flags);
}

static int on_control_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Sim *s = userdata;
        Control *c = NULL;
        for (size_t i = 0; i < MAX_CONTROL_CLIENTS; i++)
                if (s->clients[i].src == src)
                        c = &s->clients[i];
        if (!c)
                return 0;
        ssize_t k = read(fd, c->buf + c->n, sizeof(c->buf) - 1 - c->n);
        if (k <= 0) {
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                control_close(c);
                return 0;
        }
        c->n += (size_t) k;
        for (;;) {
                char *nl = memchr(c->buf, '\n', c->n);
                if (!nl) {
                        if (c->n == sizeof(c->buf) - 1) {
                                control_reply(c, "error line too long");
                                c->n = 0;
                        }
                        break;
                }
                *nl = 0;
                char line[sizeof(c->buf)];
                strcpy(line, c->buf);
                size_t used = (size_t) (nl - c->buf) + 1;
                memmove(c->buf, c->buf + used, c->n - used);
                c->n -= used;
                size_t ll = strlen(line);
                if (ll > 0 && line[ll - 1] == '\r')
                        line[ll - 1] = 0;
                if (s->log) {
                        fprintf(s->log, "%10.3f control: %s\n", sim_now(s), line);
                        fflush(s->log);
                }
                if (strcmp(line, "quit") == 0) {
                        control_reply(c, "ok");
                        sd_event_exit(s->event, 0);
                        return 0;
                }
                size_t outsz = 1 << 20;
                char *out = malloc(outsz);
                if (!out)
                        return 0;
                if (strcmp(line, "stamps") == 0)
                        stamps_reply(s, out, outsz);
                else
                        sim_coordinator_control(s->coord, line, out, outsz, sim_now(s));
                control_reply(c, out);
                free(out);
                rearm(s);
        }
        return 0;
}

static int on_control_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Sim *s = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
                return 0;
        for (size_t i = 0; i < MAX_CONTROL_CLIENTS; i++)
                if (s->clients[i].fd < 0) {
                        s->clients[i].fd = c;
                        s->clients[i].n = 0;
                        if (sd_event_add_io(s->event, &s->clients[i].src, c, EPOLLIN, on_control_io, s) < 0)
                                control_close(&s->clients[i]);
                        return 0;
                }
        (void) !write(c, "error too many control clients\n", 31);
        close(c);
        return 0;
}

static int open_control(Sim *s, const char *path) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(a.sun_path)) {
                fprintf(stderr, "lumiplug-sim: control socket path too long: %s\n", path);
                return -ENAMETOOLONG;
        }
        strcpy(a.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        unlink(path);
        if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 8) < 0) {
                int r = -errno;
                fprintf(stderr, "lumiplug-sim: cannot listen on %s: %s\n", path, strerror(-r));
                close(fd);
                return r;
        }
        s->control_fd = fd;
        s->control_path = strdup(path);
        return sd_event_add_io(s->event, &s->control_src, fd, EPOLLIN, on_control_accept, s);
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        Sim *s = userdata;
        sd_event_exit(s->event, 0);
        return 0;
}

static void usage(void) {
        printf("Usage: lumiplug-sim [OPTIONS]\n"
               "A simulated TI Z-Stack 3.x.0 coordinator with simulated Xiaomi ZNCZ04LM plugs.\n\n"
               "  --link PATH            symlink PATH to the pseudo-terminal (default transport)\n"
               "  --tcp PORT             listen on 127.0.0.1:PORT instead (0 = any free port)\n"
               "  --control PATH         line-protocol control socket (AF_UNIX)\n"
               "  --nv PATH              keep the coordinator's NV memory in this file\n"
               "  --plugs N              simulate N plugs (0..%d)\n"
               "  --log PATH             log every frame (hex and name) and control command\n"
               "  --fast                 no simulated delays\n"
               "  --ieee HEX             coordinator IEEE address (default 0x00124b0029a1b2c3)\n"
               "  --report-interval SEC  period of the plugs' 0xFCC0 report (default 300)\n"
               "The first line on stdout is the pty path or tcp://127.0.0.1:PORT.\n",
               SIM_MAX_PLUGS);
}

int main(int argc, char **argv) {
        enum { O_LINK = 256, O_TCP, O_CONTROL, O_NV, O_PLUGS, O_LOG, O_FAST, O_IEEE, O_REPORT };
        static const struct option opts[] = {
                { "link", required_argument, NULL, O_LINK },
                { "tcp", required_argument, NULL, O_TCP },
                { "control", required_argument, NULL, O_CONTROL },
                { "nv", required_argument, NULL, O_NV },
                { "plugs", required_argument, NULL, O_PLUGS },
                { "log", required_argument, NULL, O_LOG },
                { "fast", no_argument, NULL, O_FAST },
                { "ieee", required_argument, NULL, O_IEEE },
                { "report-interval", required_argument, NULL, O_REPORT },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *link = NULL, *control = NULL, *log_path = NULL;
        long tcp_port = -1;
        SimCoordinatorConfig cfg = { .ieee = UINT64_C(0x00124b0029a1b2c3) };
        int o;
        while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                char *end;
                switch (o) {
                case O_LINK:
                        link = optarg;
                        break;
                case O_TCP:
                        tcp_port = strtol(optarg, &end, 10);
                        if (*end || tcp_port < 0 || tcp_port > 65535) {
                                fprintf(stderr, "lumiplug-sim: --tcp needs a port 0..65535, got '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case O_CONTROL:
                        control = optarg;
                        break;
                case O_NV:
                        cfg.nv_path = optarg;
                        break;
                case O_PLUGS: {
                        long n = strtol(optarg, &end, 10);
                        if (*end || n < 0 || n > SIM_MAX_PLUGS) {
                                fprintf(stderr, "lumiplug-sim: --plugs needs 0..%d, got '%s'\n", SIM_MAX_PLUGS, optarg);
                                return 2;
                        }
                        cfg.n_plugs = (unsigned) n;
                        break;
                }
                case O_LOG:
                        log_path = optarg;
                        break;
                case O_FAST:
                        cfg.fast = true;
                        break;
                case O_IEEE:
                        cfg.ieee = strtoull(optarg, &end, 16);
                        if (*end || cfg.ieee == 0) {
                                fprintf(stderr, "lumiplug-sim: --ieee needs a hex EUI-64, got '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case O_REPORT:
                        cfg.report_interval_s = strtod(optarg, &end);
                        if (*end || !(cfg.report_interval_s > 0)) {
                                fprintf(stderr, "lumiplug-sim: --report-interval needs seconds > 0, got '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        usage();
                        return 0;
                default:
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "lumiplug-sim: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }

        Sim s = { .host_fd = -1, .listen_fd = -1, .control_fd = -1, .t0 = mono_now() };
        for (size_t i = 0; i < MAX_CONTROL_CLIENTS; i++)
                s.clients[i].fd = -1;
        int r = sd_event_default(&s.event);
        if (r < 0) {
                fprintf(stderr, "lumiplug-sim: sd-event: %s\n", strerror(-r));
                return 1;
        }
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        sd_event_add_signal(s.event, NULL, SIGTERM, on_signal, &s);
        sd_event_add_signal(s.event, NULL, SIGINT, on_signal, &s);

        if (log_path) {
                s.log = fopen(log_path, "ae");
                if (!s.log) {
                        fprintf(stderr, "lumiplug-sim: cannot open log %s: %m\n", log_path);
                        return 1;
                }
        }
        SimCoordinatorOps ops = { .write = host_write, .frame = log_frame };
        r = sim_coordinator_new(&s.coord, &cfg, &ops, &s, sim_now(&s));
        if (r < 0) {
                fprintf(stderr, "lumiplug-sim: cannot start the coordinator: %s\n", strerror(-r));
                return 1;
        }
        r = sd_event_add_time(s.event, &s.timer, CLOCK_MONOTONIC, 0, 1, on_timer, &s);
        if (r >= 0 && control)
                r = open_control(&s, control);
        if (r >= 0)
                r = tcp_port >= 0 ? open_tcp(&s, (unsigned) tcp_port) : open_pty(&s, link);
        if (r < 0) {
                fprintf(stderr, "lumiplug-sim: setup failed: %s\n", strerror(-r));
                sim_coordinator_free(s.coord);
                return 1;
        }
        rearm(&s);
        r = sd_event_loop(s.event);

        sim_coordinator_free(s.coord);
        for (size_t i = 0; i < MAX_CONTROL_CLIENTS; i++)
                control_close(&s.clients[i]);
        sd_event_source_disable_unref(s.control_src);
        sd_event_source_disable_unref(s.host_src);
        sd_event_source_disable_unref(s.hup_src);
        sd_event_source_disable_unref(s.listen_src);
        sd_event_source_disable_unref(s.timer);
        if (s.host_fd >= 0)
                close(s.host_fd);
        if (s.listen_fd >= 0)
                close(s.listen_fd);
        if (s.control_fd >= 0)
                close(s.control_fd);
        if (s.control_path)
                unlink(s.control_path);
        if (s.link_path)
                unlink(s.link_path);
        free(s.control_path);
        free(s.link_path);
        free(s.out);
        free(s.stamps);
        if (s.log)
                fclose(s.log);
        sd_event_unref(s.event);
        return r < 0 ? 1 : 0;
}
