/*
 * Crash safety: a child renames, adds and updates devices and saves in a tight loop; the parent
 * kills it with SIGKILL at a random moment, 200 times. After every kill the database must load
 * cleanly, hold every device whose save had completed, and no friendly name may go back to an
 * older one than the last completed save gave it.
 */
#undef NDEBUG
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/devdb.h"

#define ROUNDS 200
#define DEVICES_MAX 100
#define IEEE_BASE 0x00158d0000000000ULL

typedef struct Record {
        uint32_t k, count, target;
} Record;

static char dir[] = "/tmp/lumi-test-devdb-crash-XXXXXX";

static void name_of(char *buf, size_t n, uint32_t i, uint32_t k) {
        snprintf(buf, n, "plug-%u-gen-%u", i, k);
}

/* The child: never returns. Every record written means that save completed. */
_Noreturn static void child(int fd, uint32_t k) {
        DevDb *db;
        char name[64];
        uint32_t count;

        if (devdb_new(&db, dir) < 0 || devdb_load(db) != 0)
                _exit(3);
        count = (uint32_t) devdb_count(db);
        for (;; k++) {
                Record rec;
                Device *d;
                json_object *state;

                if (count == 0 || (k % 5 == 0 && count < DEVICES_MAX)) {
                        if (devdb_add(db, IEEE_BASE + count, (uint16_t) (0x1000 + count), &d) < 0)
                                _exit(4);
                        name_of(name, sizeof(name), count, k);
                        if (devdb_rename(db, d, name) < 0)
                                _exit(5);
                        count++;
                }
                rec = (Record) { .k = k, .count = count, .target = k % count };
                d = devdb_find_by_ieee(db, IEEE_BASE + rec.target);
                if (!d)
                        _exit(6);
                name_of(name, sizeof(name), rec.target, k);
                if (devdb_rename(db, d, name) < 0)
                        _exit(7);
                state = json_object_new_object();
                json_object_object_add(state, "k", json_object_new_int64(k));
                json_object_object_add(state, "power", json_object_new_double(k * 0.5));
                if (devdb_set_state(db, d, state) < 0)
                        _exit(8);
                if (devdb_set_nwk(db, d, (uint16_t) (0x1000 + rec.target + (k % 7) * 0x100)) < 0)
                        _exit(9);
                if (devdb_save(db) < 0)
                        _exit(10);
                if (write(fd, &rec, sizeof(rec)) != sizeof(rec))
                        _exit(11);
        }
}

static int32_t committed_gen[DEVICES_MAX];
static uint32_t committed_count;

static void apply(const Record *rec) {
        assert(rec->count <= DEVICES_MAX && rec->target < rec->count);
        for (uint32_t i = committed_count; i < rec->count; i++)
                committed_gen[i] = (int32_t) rec->k;
        if (rec->count > committed_count)
                committed_count = rec->count;
        committed_gen[rec->target] = (int32_t) rec->k;
}

static void check_database(unsigned round) {
        DevDb *db;
        int r;

        assert(devdb_new(&db, dir) == 0);
        r = devdb_load(db);
        if (r != 0)
                fprintf(stderr, "round %u: load returned %d: %s\n", round, r, devdb_last_error(db));
        assert(r == 0);
        assert(devdb_count(db) >= committed_count);
        for (uint32_t i = 0; i < committed_count; i++) {
                Device *d = devdb_find_by_ieee(db, IEEE_BASE + i);
                unsigned ii, g;

                if (!d)
                        fprintf(stderr, "round %u: device %u lost\n", round, i);
                assert(d);
                assert(sscanf(d->friendly_name, "plug-%u-gen-%u", &ii, &g) == 2);
                if (ii != i || (int32_t) g < committed_gen[i])
                        fprintf(stderr, "round %u: device %u is '%s', last saved as generation %d\n", round, i,
                                d->friendly_name, committed_gen[i]);
                assert(ii == i && (int32_t) g >= committed_gen[i]);
                assert(json_object_is_type(d->state, json_type_object));
        }
        devdb_free(db);
}

static void remove_dir(void) {
        DIR *d = opendir(dir);
        struct dirent *e;

        assert(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.') {
                        char p[512];

                        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                        /* a corrupt-* file would mean a load had failed */
                        assert(!strstr(e->d_name, "corrupt"));
                        assert(unlink(p) == 0);
                }
        closedir(d);
        assert(rmdir(dir) == 0);
}

int main(void) {
        unsigned seed = (unsigned) time(NULL) ^ (unsigned) getpid();
        uint32_t next_k = 0;
        unsigned long total_saves = 0;

        assert(mkdtemp(dir));
        fprintf(stderr, "seed %u, state directory %s\n", seed, dir);
        srand(seed);
        for (unsigned round = 0; round < ROUNDS; round++) {
                int fds[2], status;
                unsigned want = (unsigned) rand() % 4, got = 0;
                Record rec;
                ssize_t n;
                pid_t pid;

                assert(pipe(fds) == 0);
                pid = fork();
                assert(pid >= 0);
                if (pid == 0) {
                        close(fds[0]);
                        child(fds[1], next_k);
                }
                close(fds[1]);
                /* let it complete a few saves, then kill it at a random point of the next one */
                while (got < want && (n = read(fds[0], &rec, sizeof(rec))) == sizeof(rec)) {
                        apply(&rec);
                        next_k = rec.k + 1;
                        got++;
                }
                if (got == want)
                        usleep((useconds_t) (rand() % 4000));
                assert(kill(pid, SIGKILL) == 0);
                while ((n = read(fds[0], &rec, sizeof(rec))) == sizeof(rec)) {
                        apply(&rec);
                        next_k = rec.k + 1;
                        got++;
                }
                assert(n == 0);
                close(fds[0]);
                assert(waitpid(pid, &status, 0) == pid);
                if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
                        fprintf(stderr, "round %u: the child ended by itself, status 0x%x\n", round, status);
                assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                total_saves += got;
                check_database(round);
        }
        fprintf(stderr, "%u kills, %lu completed saves, %u devices\n", ROUNDS, total_saves, committed_count);
        remove_dir();
        return 0;
}
