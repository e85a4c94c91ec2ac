/*
 * Byte-stream transport to a Z-Stack coordinator, below the MT codec. Three ways to reach one:
 *
 *   - a serial device, opened and configured through libserialport (baud rate, 8N1, RTS/CTS flow
 *     control or none, DTR/RTS driven low when flow control is off, as zigpy-znp leaves them);
 *   - a pseudo-terminal (the simulator): libserialport 0.1.1 refuses those (its lookup goes through
 *     /sys/class/tty and its open needs modem-control ioctls), so a path libserialport refuses and
 *     that is a pty (UNIX98 slave major 136..143) is opened with plain termios in raw mode;
 *   - "tcp://host:port" (ser2net, network coordinators): non-blocking connect, TCP_NODELAY, keep-alive.
 *
 * Every kind hands out one non-blocking fd for an sd-event io source. Writes go through a bounded
 * output buffer; the owner polls for EPOLLOUT while transport_pending() is non-zero (and while a
 * TCP connect is in progress) and calls transport_flush() then. No logging here.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Transport Transport;

typedef enum TransportKind {
        TRANSPORT_SERIAL,       /* libserialport */
        TRANSPORT_PTY,          /* termios raw mode */
        TRANSPORT_TCP,
        TRANSPORT_FD,           /* an fd handed in by the caller (tests, socket activation) */
} TransportKind;

/* Splits "tcp://host:port" (host may be "[v6 address]", port 1..65535) into host and port strings;
 * -EINVAL if url is not of that form or a part does not fit. */
int transport_parse_tcp_address(const char *url, char *host, size_t host_size, char *port, size_t port_size);

#define TRANSPORT_OUTPUT_MAX 4096u
#define TRANSPORT_BAUDRATE_DEFAULT 115200u

typedef struct TransportConfig {
        const char *port;       /* "/dev/ttyUSB0", "/dev/serial/by-id/...", "/dev/pts/3", "tcp://host:port" */
        uint32_t baudrate;      /* 0 = 115200 */
        bool rtscts;            /* hardware flow control */
} TransportConfig;

/* Opens the port. Errors: -EINVAL bad "tcp://" address or unsupported baud rate, -ENOENT no such
 * device, -EACCES, -EBUSY, -ENODEV libserialport refused a device that is not a pty, others from
 * the OS. A TCP connect may still be in progress on return (transport_is_connecting()). */
int transport_open(Transport **ret, const TransportConfig *cfg);

/* Wraps an already open fd (takes ownership, makes it non-blocking). */
int transport_new_fd(Transport **ret, int fd);

Transport *transport_free(Transport *t);

int transport_fd(const Transport *t);
TransportKind transport_kind(const Transport *t);
const char *transport_kind_to_string(TransportKind k);

/* Reads what is there: > 0 bytes read, -EAGAIN nothing now, -EPIPE the peer closed (EOF),
 * -EIO / -ECONNRESET / ... the link failed. */
int transport_read(Transport *t, void *buf, size_t size);

/* Queues all n bytes or none: -ENOBUFS when they do not fit in the output buffer. Then tries to
 * write immediately. Returns 0 or a link error like transport_flush(). */
int transport_write(Transport *t, const void *data, size_t n);

/* Writes as much of the output buffer as the fd takes; completes a pending TCP connect.
 * Returns 0 (maybe with bytes still pending) or a negative errno of the link. */
int transport_flush(Transport *t);

size_t transport_pending(const Transport *t);
bool transport_is_connecting(const Transport *t);

/* Drives the DTR and RTS lines (serial only; -EOPNOTSUPP otherwise). Used for the bootloader
 * pin sequence of CC2652 sticks. */
int transport_set_modem_lines(Transport *t, bool dtr, bool rts);

/* True if path names a pseudo-terminal slave (following symlinks). */
bool transport_path_is_pty(const char *path);
