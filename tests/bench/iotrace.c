/*
 * iotrace: an LD_PRELOAD shim for the benchmark (tests/bench/run-bench.py) that time-stamps the
 * I/O system calls of the program under test, so the time spent inside it can be measured without
 * the broker, the serial wire or a tracer's overhead: CLOCK_MONOTONIC (vDSO, ~30 ns) at entry and
 * return of read/write/recv/send(msg)/readv/writev and epoll_wait/epoll_pwait, with the fd's kind
 * (TCP socket, UNIX socket, character device = serial port, other) and the first 8 bytes of the
 * data. Records go to a lazily mapped array (1M records, pages touched as used; not meant for
 * memory measurements) and are written to $LUMI_IOTRACE when the process exits.
 *
 * Built by run-bench.py: cc -O2 -shared -fPIC -o iotrace.so iotrace.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { OP_READ = 1, OP_WRITE, OP_EPOLL };
enum { KIND_OTHER = 0, KIND_TCP, KIND_UNIX, KIND_CHR };

typedef struct Record {
        uint64_t t0, t1;        /* ns, CLOCK_MONOTONIC, entry and return */
        int32_t ret;
        int32_t fd;
        uint8_t op, kind, nbytes, pad;
        uint8_t bytes[8];
        uint32_t pad2;
} Record;                       /* 40 bytes */

#define MAX_RECORDS (1u << 20)

static Record *records;
static atomic_uint n_records;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* Classified at every call, not cached: libuv (inside node) closes descriptors with a raw
 * syscall(SYS_close), so a cache keyed by fd would go stale when the number is reused. The fstat
 * (+ getsockname for a socket) costs ~0.3 us per recorded call, for both programs alike. */
static uint8_t kind_of(int fd) {
        struct stat st;
        uint8_t k = KIND_OTHER;

        if (fstat(fd, &st) == 0) {
                if (S_ISCHR(st.st_mode))
                        k = KIND_CHR;
                else if (S_ISSOCK(st.st_mode)) {
                        struct sockaddr_storage a;
                        socklen_t len = sizeof(a);
                        if (getsockname(fd, (struct sockaddr *) &a, &len) == 0)
                                k = a.ss_family == AF_UNIX ? KIND_UNIX : KIND_TCP;
                }
        }
        return k;
}

static void record(uint8_t op, int fd, uint64_t t0, long ret, const void *buf) {
        if (!records)
                return;
        unsigned i = atomic_fetch_add(&n_records, 1);
        if (i >= MAX_RECORDS)
                return;
        Record *r = &records[i];
        r->t0 = t0;
        r->t1 = now_ns();
        r->ret = (int32_t) ret;
        r->fd = fd;
        r->op = op;
        r->kind = op == OP_EPOLL ? KIND_OTHER : kind_of(fd);
        r->nbytes = 0;
        if (buf && ret > 0) {
                r->nbytes = ret < 8 ? (uint8_t) ret : 8;
                memcpy(r->bytes, buf, r->nbytes);
        }
}

__attribute__((constructor)) static void iotrace_init(void) {
        if (!getenv("LUMI_IOTRACE"))
                return;
        void *p = mmap(NULL, sizeof(Record) * (size_t) MAX_RECORDS, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED)
                records = p;
}

__attribute__((destructor)) static void iotrace_dump(void) {
        const char *path = getenv("LUMI_IOTRACE");
        if (!records || !path)
                return;
        unsigned n = atomic_load(&n_records);
        if (n > MAX_RECORDS)
                n = MAX_RECORDS;
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.%d", path, (int) getpid());
        FILE *f = fopen(tmp, "we");
        if (!f)
                return;
        fwrite(records, sizeof(Record), n, f);
        fclose(f);
}

#define REAL(name) \
        static __typeof__(name) *real_##name; \
        if (!real_##name) \
                real_##name = (__typeof__(name) *) dlsym(RTLD_NEXT, #name)

ssize_t read(int fd, void *buf, size_t count) {
        REAL(read);
        uint64_t t0 = now_ns();
        ssize_t r = real_read(fd, buf, count);
        record(OP_READ, fd, t0, r, buf);
        return r;
}

ssize_t write(int fd, const void *buf, size_t count) {
        REAL(write);
        uint64_t t0 = now_ns();
        ssize_t r = real_write(fd, buf, count);
        record(OP_WRITE, fd, t0, r, buf);
        return r;
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
        REAL(recv);
        uint64_t t0 = now_ns();
        ssize_t r = real_recv(fd, buf, len, flags);
        record(OP_READ, fd, t0, r, buf);
        return r;
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
        REAL(send);
        uint64_t t0 = now_ns();
        ssize_t r = real_send(fd, buf, len, flags);
        record(OP_WRITE, fd, t0, r, buf);
        return r;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a, socklen_t *al) {
        REAL(recvfrom);
        uint64_t t0 = now_ns();
        ssize_t r = real_recvfrom(fd, buf, len, flags, a, al);
        record(OP_READ, fd, t0, r, buf);
        return r;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a, socklen_t al) {
        REAL(sendto);
        uint64_t t0 = now_ns();
        ssize_t r = real_sendto(fd, buf, len, flags, a, al);
        record(OP_WRITE, fd, t0, r, buf);
        return r;
}

ssize_t readv(int fd, const struct iovec *iov, int n) {
        REAL(readv);
        uint64_t t0 = now_ns();
        ssize_t r = real_readv(fd, iov, n);
        record(OP_READ, fd, t0, r, n > 0 && (size_t) r >= iov[0].iov_len ? iov[0].iov_base : NULL);
        return r;
}

/* The first 8 bytes of an iovec array (node writes an MQTT header and its payload as two). */
static const void *gather8(const struct iovec *iov, int n, uint8_t out[8]) {
        size_t k = 0;

        for (int i = 0; i < n && k < 8; i++) {
                size_t take = iov[i].iov_len < 8 - k ? iov[i].iov_len : 8 - k;
                memcpy(out + k, iov[i].iov_base, take);
                k += take;
        }
        return k == 8 ? out : NULL;
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
        REAL(writev);
        uint8_t first[8];
        uint64_t t0 = now_ns();
        ssize_t r = real_writev(fd, iov, n);
        record(OP_WRITE, fd, t0, r, gather8(iov, n, first));
        return r;
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
        REAL(recvmsg);
        uint64_t t0 = now_ns();
        ssize_t r = real_recvmsg(fd, m, flags);
        record(OP_READ, fd, t0, r, m->msg_iovlen > 0 && (size_t) r >= 8 && m->msg_iov[0].iov_len >= 8 ?
               m->msg_iov[0].iov_base : NULL);
        return r;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
        REAL(sendmsg);
        uint64_t t0 = now_ns();
        ssize_t r = real_sendmsg(fd, m, flags);
        uint8_t first[8];
        record(OP_WRITE, fd, t0, r, gather8(m->msg_iov, (int) m->msg_iovlen, first));
        return r;
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout) {
        REAL(epoll_wait);
        uint64_t t0 = now_ns();
        int r = real_epoll_wait(epfd, ev, max, timeout);
        record(OP_EPOLL, epfd, t0, r, NULL);
        return r;
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *ss) {
        REAL(epoll_pwait);
        uint64_t t0 = now_ns();
        int r = real_epoll_pwait(epfd, ev, max, timeout, ss);
        record(OP_EPOLL, epfd, t0, r, NULL);
        return r;
}
