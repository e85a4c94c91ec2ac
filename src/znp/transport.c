/*
 * Serial (libserialport), pty (termios raw) and TCP byte streams behind one interface.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "util/macro.h"
#include "znp/transport.h"

struct Transport {
        TransportKind kind;
        int fd;
        struct sp_port *sp;             /* TRANSPORT_SERIAL only; owns fd */
        bool connecting;                /* TCP connect in progress */
        size_t n_out;
        uint8_t out[TRANSPORT_OUTPUT_MAX];
};

/* TCP keep-alive as zigbee-herdsman sets it: probe after 15 s idle. */
#define TCP_KEEPIDLE_SEC 15
#define TCP_KEEPINTVL_SEC 5
#define TCP_KEEPCNT_PROBES 3

/* UNIX98 pty slaves: majors 136..143 (Documentation/admin-guide/devices.txt). */
#define PTY_SLAVE_MAJOR_FIRST 136u
#define PTY_SLAVE_MAJOR_LAST 143u

static int transport_alloc(Transport **ret, TransportKind kind) {
        Transport *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        t->kind = kind;
        t->fd = -1;
        *ret = t;
        return 0;
}

Transport *transport_free(Transport *t) {
        if (!t)
                return NULL;
        if (t->sp) {
                (void) sp_close(t->sp);
                sp_free_port(t->sp);
        } else if (t->fd >= 0)
                (void) close(t->fd);
        free(t);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Transport *, transport_free);

static int fd_set_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        return 0;
}

bool transport_path_is_pty(const char *path) {
        struct stat st;

        if (!path || stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
                return false;
        return major(st.st_rdev) >= PTY_SLAVE_MAJOR_FIRST && major(st.st_rdev) <= PTY_SLAVE_MAJOR_LAST;
}

static int baudrate_to_speed(uint32_t baud, speed_t *ret) {
        static const struct {
                uint32_t baud;
                speed_t speed;
        } table[] = {
                { 9600, B9600 }, { 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 },
                { 115200, B115200 }, { 230400, B230400 }, { 460800, B460800 }, { 500000, B500000 },
                { 921600, B921600 }, { 1000000, B1000000 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].baud == baud) {
                        *ret = table[i].speed;
                        return 0;
                }
        return -EINVAL;
}

static int open_pty(Transport **ret, const TransportConfig *cfg, uint32_t baud) {
        _cleanup_(transport_freep) Transport *t = NULL;
        struct termios tio;
        speed_t speed;
        int r;

        r = baudrate_to_speed(baud, &speed);
        if (r < 0)
                return r;
        r = transport_alloc(&t, TRANSPORT_PTY);
        if (r < 0)
                return r;

        t->fd = open(cfg->port, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (t->fd < 0)
                return -errno;
        if (tcgetattr(t->fd, &tio) < 0)
                return -errno;
        cfmakeraw(&tio);
        tio.c_cflag |= CLOCAL | CREAD;
        if (cfg->rtscts)
                tio.c_cflag |= CRTSCTS;
        else
                tio.c_cflag &= ~CRTSCTS;
        tio.c_cc[VMIN] = 1;
        tio.c_cc[VTIME] = 0;
        if (cfsetispeed(&tio, speed) < 0 || cfsetospeed(&tio, speed) < 0)
                return -errno;
        if (tcsetattr(t->fd, TCSANOW, &tio) < 0)
                return -errno;
        (void) tcflush(t->fd, TCIOFLUSH);

        *ret = TAKE_PTR(t);
        return 0;
}

static int sp_to_errno(enum sp_return r) {
        int e;

        switch (r) {
        case SP_OK:
                return 0;
        case SP_ERR_MEM:
                return -ENOMEM;
        case SP_ERR_SUPP:
                return -EOPNOTSUPP;
        case SP_ERR_FAIL:
                e = sp_last_error_code();
                return e > 0 ? -e : -EIO;
        case SP_ERR_ARG:
        default:
                return -ENODEV;
        }
}

static int open_serial(Transport **ret, const TransportConfig *cfg, uint32_t baud) {
        _cleanup_(transport_freep) Transport *t = NULL;
        struct sp_port_config *conf = NULL;
        enum sp_return sr;
        int r;

        r = transport_alloc(&t, TRANSPORT_SERIAL);
        if (r < 0)
                return r;

        sr = sp_get_port_by_name(cfg->port, &t->sp);
        if (sr != SP_OK) {
                t->sp = NULL;
                return sp_to_errno(sr);
        }
        sr = sp_open(t->sp, SP_MODE_READ_WRITE);
        if (sr != SP_OK) {
                r = sp_to_errno(sr);
                sp_free_port(t->sp);            /* not open: do not sp_close() it */
                t->sp = NULL;
                return r;
        }

        sr = sp_new_config(&conf);
        if (sr != SP_OK)
                return sp_to_errno(sr);
        if ((sr = sp_set_config_baudrate(conf, (int) baud)) != SP_OK ||
            (sr = sp_set_config_bits(conf, 8)) != SP_OK ||
            (sr = sp_set_config_parity(conf, SP_PARITY_NONE)) != SP_OK ||
            (sr = sp_set_config_stopbits(conf, 1)) != SP_OK ||
            (sr = sp_set_config_flowcontrol(conf, cfg->rtscts ? SP_FLOWCONTROL_RTSCTS : SP_FLOWCONTROL_NONE)) != SP_OK) {
                sp_free_config(conf);
                return sp_to_errno(sr);
        }
        /* Without flow control leave DTR and RTS inactive: on CC2652 boards they drive the reset and
         * bootloader pins, and low/low is the "run" state (zigpy-znp ends its pin sequence there). */
        if (!cfg->rtscts &&
            ((sr = sp_set_config_dtr(conf, SP_DTR_OFF)) != SP_OK ||
             (sr = sp_set_config_rts(conf, SP_RTS_OFF)) != SP_OK)) {
                sp_free_config(conf);
                return sp_to_errno(sr);
        }
        sr = sp_set_config(t->sp, conf);
        sp_free_config(conf);
        if (sr != SP_OK)
                return sp_to_errno(sr);

        sr = sp_get_port_handle(t->sp, &t->fd);
        if (sr != SP_OK)
                return sp_to_errno(sr);
        r = fd_set_nonblock(t->fd);
        if (r < 0)
                return r;
        (void) sp_flush(t->sp, SP_BUF_BOTH);

        *ret = TAKE_PTR(t);
        return 0;
}

int transport_parse_tcp_address(const char *url, char *host, size_t host_size, char *port, size_t port_size) {
        const char *h = url + strlen("tcp://"), *colon, *end;
        size_t hl;

        if (*h == '[') {
                end = strchr(h, ']');
                if (!end || end[1] != ':')
                        return -EINVAL;
                h++;
                hl = (size_t) (end - h);
                colon = end + 1;
        } else {
                colon = strrchr(h, ':');
                if (!colon)
                        return -EINVAL;
                hl = (size_t) (colon - h);
        }
        if (hl == 0 || hl >= host_size)
                return -EINVAL;
        memcpy(host, h, hl);
        host[hl] = 0;

        colon++;
        if (*colon == 0 || strlen(colon) >= port_size || strspn(colon, "0123456789") != strlen(colon))
                return -EINVAL;
        unsigned long p = strtoul(colon, NULL, 10);
        if (p == 0 || p > 65535)
                return -EINVAL;
        strcpy(port, colon);
        return 0;
}

static int open_tcp(Transport **ret, const TransportConfig *cfg) {
        _cleanup_(transport_freep) Transport *t = NULL;
        struct addrinfo hints = {
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG,
        }, *ai = NULL;
        char host[256], port[8];
        int r, one = 1;

        r = transport_parse_tcp_address(cfg->port, host, sizeof(host), port, sizeof(port));
        if (r < 0)
                return r;
        r = transport_alloc(&t, TRANSPORT_TCP);
        if (r < 0)
                return r;

        /* A host name means a (short, blocking) DNS lookup once at open; addresses do not. */
        r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0)
                return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;

        t->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (t->fd < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return r;
        }

        int idle = TCP_KEEPIDLE_SEC, intvl = TCP_KEEPINTVL_SEC, cnt = TCP_KEEPCNT_PROBES;
        if (setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
            setsockopt(t->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
            setsockopt(t->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
            setsockopt(t->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
            setsockopt(t->fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return r;
        }

        r = connect(t->fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (r < 0) {
                if (errno != EINPROGRESS)
                        return -errno;
                t->connecting = true;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

int transport_open(Transport **ret, const TransportConfig *cfg) {
        uint32_t baud;
        int r;

        assert(ret && cfg);

        if (!cfg->port || !*cfg->port)
                return -EINVAL;
        if (strncmp(cfg->port, "tcp://", 6) == 0)
                return open_tcp(ret, cfg);

        baud = cfg->baudrate ? cfg->baudrate : TRANSPORT_BAUDRATE_DEFAULT;
        if (access(cfg->port, F_OK) < 0)
                return -errno;

        r = open_serial(ret, cfg, baud);
        if (r >= 0)
                return r;
        if (transport_path_is_pty(cfg->port))
                return open_pty(ret, cfg, baud);
        return r;
}

int transport_new_fd(Transport **ret, int fd) {
        Transport *t;
        int r;

        assert(ret);
        if (fd < 0)
                return -EBADF;

        r = fd_set_nonblock(fd);
        if (r < 0)
                return r;
        r = transport_alloc(&t, TRANSPORT_FD);
        if (r < 0)
                return r;
        t->fd = fd;
        *ret = t;
        return 0;
}

int transport_fd(const Transport *t) {
        return t->fd;
}

TransportKind transport_kind(const Transport *t) {
        return t->kind;
}

const char *transport_kind_to_string(TransportKind k) {
        switch (k) {
        case TRANSPORT_SERIAL: return "serial";
        case TRANSPORT_PTY: return "pty";
        case TRANSPORT_TCP: return "tcp";
        case TRANSPORT_FD: return "fd";
        }
        return "unknown";
}

int transport_read(Transport *t, void *buf, size_t size) {
        ssize_t n;

        if (t->connecting)
                return -EAGAIN;
        n = read(t->fd, buf, size);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return -EAGAIN;
                return -errno;
        }
        if (n == 0)
                return -EPIPE;
        return (int) n;
}

static int tcp_check_connected(Transport *t) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        int err = 0;
        socklen_t el = sizeof(err);

        if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                return -errno;
        if (err != 0)
                return -err;
        if (getpeername(t->fd, (struct sockaddr *) &sa, &sl) < 0)
                return errno == ENOTCONN ? 0 : -errno;
        t->connecting = false;
        return 0;
}

int transport_flush(Transport *t) {
        size_t done = 0;
        int r = 0;

        if (t->connecting) {
                r = tcp_check_connected(t);
                if (r < 0 || t->connecting)
                        return r;
        }

        while (done < t->n_out) {
                ssize_t n = write(t->fd, t->out + done, t->n_out - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                r = -errno;
                        break;
                }
                done += (size_t) n;
        }

        memmove(t->out, t->out + done, t->n_out - done);
        t->n_out -= done;
        return r;
}

int transport_write(Transport *t, const void *data, size_t n) {
        if (n > sizeof(t->out) - t->n_out)
                return -ENOBUFS;
        memcpy(t->out + t->n_out, data, n);
        t->n_out += n;
        return transport_flush(t);
}

size_t transport_pending(const Transport *t) {
        return t->n_out;
}

bool transport_is_connecting(const Transport *t) {
        return t->connecting;
}

int transport_set_modem_lines(Transport *t, bool dtr, bool rts) {
        enum sp_return sr;

        if (t->kind != TRANSPORT_SERIAL)
                return -EOPNOTSUPP;
        sr = sp_set_dtr(t->sp, dtr ? SP_DTR_ON : SP_DTR_OFF);
        if (sr == SP_OK)
                sr = sp_set_rts(t->sp, rts ? SP_RTS_ON : SP_RTS_OFF);
        return sp_to_errno(sr);
}
