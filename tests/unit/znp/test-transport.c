/*
 * Transports: a pty (libserialport refuses it, termios raw takes over), tcp:// on loopback,
 * and clear errors for bad ports.
 */
#undef NDEBUG
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "znp/transport.h"

static void wait_fd(int fd, short events) {
        struct pollfd p = { .fd = fd, .events = events };

        assert(poll(&p, 1, 10000) == 1);
}

static void test_pty_is_detected_and_opened_in_raw_mode(void) {
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        char buf[64];
        Transport *t;
        int n;

        assert(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
        const char *slave = ptsname(master);
        assert(slave);
        assert(transport_path_is_pty(slave));
        assert(!transport_path_is_pty("/dev/null"));
        assert(!transport_path_is_pty("/nonexistent"));

        assert(transport_open(&t, &(TransportConfig) { .port = slave, .baudrate = 115200 }) == 0);
        assert(transport_kind(t) == TRANSPORT_PTY);
        assert(transport_set_modem_lines(t, false, true) == -EOPNOTSUPP);

        /* raw mode: 0xFE, 0x0D, 0x03 (^C), 0x11 (XON) pass untouched both ways */
        static const uint8_t bytes[] = { 0xFE, 0x0D, 0x0A, 0x03, 0x11, 0x13, 0x7F, 0x00, 0xEF };
        assert(transport_write(t, bytes, sizeof(bytes)) == 0);
        assert(transport_pending(t) == 0);
        wait_fd(master, POLLIN);
        n = (int) read(master, buf, sizeof(buf));
        assert(n == (int) sizeof(bytes) && memcmp(buf, bytes, sizeof(bytes)) == 0);

        assert(write(master, bytes, sizeof(bytes)) == (ssize_t) sizeof(bytes));
        wait_fd(transport_fd(t), POLLIN);
        n = transport_read(t, buf, sizeof(buf));
        assert(n == (int) sizeof(bytes) && memcmp(buf, bytes, sizeof(bytes)) == 0);
        assert(transport_read(t, buf, sizeof(buf)) == -EAGAIN);

        /* the far side going away is an error, not a silent EAGAIN */
        close(master);
        n = transport_read(t, buf, sizeof(buf));
        assert(n == -EIO || n == -EPIPE);
        transport_free(t);
}

static void test_tcp_connects_and_carries_bytes(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cfd;
        char url[64], buf[16];
        Transport *t;
        int n;

        assert(lfd >= 0);
        assert(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        assert(listen(lfd, 1) == 0);
        assert(getsockname(lfd, (struct sockaddr *) &sa, &sl) == 0);
        snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", ntohs(sa.sin_port));

        assert(transport_open(&t, &(TransportConfig) { .port = url }) == 0);
        assert(transport_kind(t) == TRANSPORT_TCP);
        /* bytes written while connecting wait in the output buffer */
        assert(transport_write(t, "\xFE\x00\x21\x01\x20", 5) == 0);
        while (transport_is_connecting(t) || transport_pending(t) > 0) {
                wait_fd(transport_fd(t), POLLOUT);
                assert(transport_flush(t) == 0);
        }
        cfd = accept(lfd, NULL, NULL);
        assert(cfd >= 0);
        wait_fd(cfd, POLLIN);
        assert(read(cfd, buf, sizeof(buf)) == 5 && memcmp(buf, "\xFE\x00\x21\x01\x20", 5) == 0);

        assert(write(cfd, "\xFE\x02", 2) == 2);
        wait_fd(transport_fd(t), POLLIN);
        assert(transport_read(t, buf, sizeof(buf)) == 2);

        close(cfd);
        wait_fd(transport_fd(t), POLLIN);
        n = transport_read(t, buf, sizeof(buf));
        assert(n == -EPIPE || n == -ECONNRESET);
        transport_free(t);

        /* nobody listening any more: the connect fails when it completes */
        close(lfd);
        assert(transport_open(&t, &(TransportConfig) { .port = url }) == 0);
        for (;;) {
                wait_fd(transport_fd(t), POLLOUT);
                n = transport_flush(t);
                if (n < 0 || !transport_is_connecting(t))
                        break;
        }
        assert(n == -ECONNREFUSED);
        transport_free(t);
}

static void test_output_buffer_is_bounded(void) {
        int sv[2];
        static uint8_t chunk[1024];
        Transport *t;
        int r = 0;

        assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        int small = 4096;
        (void) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        assert(transport_new_fd(&t, sv[0]) == 0);
        for (int i = 0; i < 10000 && r == 0; i++)
                r = transport_write(t, chunk, sizeof(chunk));
        assert(r == -ENOBUFS);
        assert(transport_pending(t) > TRANSPORT_OUTPUT_MAX - sizeof(chunk));
        assert(transport_pending(t) <= TRANSPORT_OUTPUT_MAX);
        transport_free(t);
        close(sv[1]);
}

static void test_bad_ports_are_refused_clearly(void) {
        Transport *t = NULL;

        assert(transport_open(&t, &(TransportConfig) { .port = "" }) == -EINVAL);
        assert(transport_open(&t, &(TransportConfig) { .port = "/dev/does-not-exist" }) == -ENOENT);
        assert(transport_open(&t, &(TransportConfig) { .port = "tcp://" }) == -EINVAL);
        assert(transport_open(&t, &(TransportConfig) { .port = "tcp://host" }) == -EINVAL);
        assert(transport_open(&t, &(TransportConfig) { .port = "tcp://host:" }) == -EINVAL);
        assert(transport_open(&t, &(TransportConfig) { .port = "tcp://host:99999" }) == -EINVAL);
        assert(transport_open(&t, &(TransportConfig) { .port = "tcp://host:12ab" }) == -EINVAL);
        assert(transport_open(&t, &(TransportConfig) { .port = "tcp://[::1" }) == -EINVAL);
        /* not a serial port and not a pty: libserialport's refusal stands */
        assert(transport_open(&t, &(TransportConfig) { .port = "/dev/null" }) < 0);
        assert(t == NULL);
}

int main(void) {
        test_pty_is_detected_and_opened_in_raw_mode();
        test_tcp_connects_and_carries_bytes();
        test_output_buffer_is_bounded();
        test_bad_ports_are_refused_clearly();
        return 0;
}
