/* The IEEE index against a brute-force list: random puts and removes over random keys and over
 * keys crafted to collide (long runs that wrap around the table's end), and the device database's
 * lookups against a scan of its list after add, remove, steal, adopt, save and reload. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/devdb.h"
#include "store/ieee-index.h"
#include "util/macro.h"
#include "../test-random.h"

#define MAXN (IEEE_INDEX_SLOTS / 2)

static uint64_t rng = 0x1234567887654321ull;
static uint64_t next_random(void) {
        return test_random(&rng);
}

static uint64_t keys[MAXN];             /* the reference: a plain list */
static size_t n_keys;

static bool ref_has(uint64_t key) {
        for (size_t i = 0; i < n_keys; i++)
                if (keys[i] == key)
                        return true;
        return false;
}

static void *value_of(uint64_t k) {
        return (void *) (uintptr_t) (k | 1);
}

/* keys whose probe starts in the last few slots: every one collides, runs wrap to slot 0 */
static uint64_t crafted_seed = 1;
static uint64_t colliding_key(void) {
        size_t want = IEEE_INDEX_SLOTS - 1 - next_random() % 4;

        for (;;) {
                uint64_t k = crafted_seed++;

                if (ieee_index_home(k) == want)
                        return k;
        }
}

static uint64_t random_key(void) {
        /* a shared vendor prefix as real addresses have, sometimes a tiny range to repeat keys */
        return next_random() % 5 == 0 ? 0x00158d0000000000ull + next_random() % 64
                                      : 0x00158d0000000000ull + (next_random() & 0xffffffffffull);
}

static void run_random(uint64_t (*gen)(void), unsigned rounds, size_t cap) {
        static IeeeIndex x;

        ieee_index_clear(&x);
        n_keys = 0;
        for (unsigned r = 0; r < rounds; r++) {
                if (n_keys == 0 || (n_keys < cap && next_random() % 3 != 0)) {
                        uint64_t k = gen();
                        int e = ieee_index_put(&x, k, value_of(k));

                        if (ref_has(k))
                                assert(e == -EEXIST);
                        else {
                                assert(e == 0);
                                keys[n_keys++] = k;
                        }
                } else {
                        size_t i = next_random() % n_keys;
                        uint64_t k = keys[i];

                        assert(ieee_index_remove(&x, k) == value_of(k));
                        assert(ieee_index_remove(&x, k) == NULL);
                        assert(ieee_index_get(&x, k) == NULL);
                        keys[i] = keys[--n_keys];
                }
                assert(ieee_index_count(&x) == n_keys);
                for (size_t i = 0; i < n_keys; i++)
                        assert(ieee_index_get(&x, keys[i]) == value_of(keys[i]));
                for (unsigned i = 0; i < 16; i++) {
                        uint64_t k = gen();

                        assert((ieee_index_get(&x, k) != NULL) == ref_has(k));
                }
        }
}

static void test_bounds(void) {
        static IeeeIndex x;

        ieee_index_clear(&x);
        assert(ieee_index_put(&x, 1, NULL) == -EINVAL);
        for (uint64_t k = 0; k < MAXN; k++)
                assert(ieee_index_put(&x, k, value_of(k)) == 0);
        assert(ieee_index_put(&x, MAXN, value_of(MAXN)) == -ENOBUFS);
        assert(ieee_index_put(&x, 3, value_of(3)) == -EEXIST);
        assert(ieee_index_get(&x, 0) == value_of(0));          /* key 0 is a key like any other */
        assert(ieee_index_remove(&x, 0) == value_of(0));
        assert(ieee_index_put(&x, MAXN, value_of(MAXN)) == 0);
        ieee_index_clear(&x);
        assert(ieee_index_count(&x) == 0 && ieee_index_get(&x, 5) == NULL);
}

static Device *scan(DevDb *db, uint64_t ieee) {
        for (size_t i = 0; i < devdb_count(db); i++)
                if (devdb_get(db, i)->ieee == ieee)
                        return devdb_get(db, i);
        return NULL;
}

static void check_db(DevDb *db) {
        for (size_t i = 0; i < devdb_count(db); i++)
                assert(devdb_find_by_ieee(db, devdb_get(db, i)->ieee) == devdb_get(db, i));
        for (unsigned i = 0; i < 64; i++) {
                uint64_t k = random_key();

                assert(devdb_find_by_ieee(db, k) == scan(db, k));
        }
}

static void test_devdb(void) {
        char dir[] = "/tmp/lumi-test-ieee-index-XXXXXX", cmd[128];
        DevDb *db = NULL, *other = NULL;
        Device *d;

        assert(mkdtemp(dir));
        assert(devdb_new(&db, dir) == 0);
        for (unsigned r = 0; r < 3000; r++) {
                uint64_t k = random_key();
                unsigned op = next_random() % 8;

                if (op < 4) {
                        bool known = scan(db, k) != NULL;
                        size_t n = devdb_count(db);
                        int e = devdb_add(db, k, (uint16_t) (r % 0xfff0), &d);

                        if (known)
                                assert(e == -EEXIST);
                        else if (n == DEVDB_DEVICES_MAX)
                                assert(e == -ENOBUFS);
                        else
                                assert(e == 0 && devdb_find_by_ieee(db, k) == d && d->ieee == k);
                } else if (op < 6 && devdb_count(db)) {
                        k = devdb_get(db, next_random() % devdb_count(db))->ieee;
                        assert(devdb_remove(db, k) == 0);
                        assert(!devdb_find_by_ieee(db, k));
                        assert(devdb_remove(db, k) == -ENOENT);
                } else if (op == 6 && devdb_count(db)) {
                        k = devdb_get(db, next_random() % devdb_count(db))->ieee;
                        assert(devdb_steal(db, k, &d) == 0);
                        assert(!devdb_find_by_ieee(db, k) && d->ieee == k);
                        assert(devdb_adopt(db, d) == 0);
                        assert(devdb_find_by_ieee(db, k) == d);
                } else if (op == 7 && r % 50 == 0) {
                        /* save and load into a fresh database: the index is rebuilt from the file */
                        assert(devdb_save(db) == 0);
                        assert(devdb_new(&other, dir) == 0);
                        assert(devdb_load(other) == 0);
                        assert(devdb_count(other) == devdb_count(db));
                        check_db(other);
                        for (size_t i = 0; i < devdb_count(db); i++)
                                assert(devdb_find_by_ieee(other, devdb_get(db, i)->ieee));
                        /* and a second load into the same database starts from a clean index */
                        assert(devdb_load(other) == 0);
                        check_db(other);
                        other = devdb_free(other);
                }
                check_db(db);
        }
        /* full: -ENOBUFS and the index still right */
        while (devdb_count(db) < DEVDB_DEVICES_MAX)
                (void) devdb_add(db, random_key(), 0x1234, NULL);
        assert(devdb_add(db, 0x1ull, 1, NULL) == -ENOBUFS);
        assert(!devdb_find_by_ieee(db, 0x1ull));
        check_db(db);
        devdb_free(db);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert(system(cmd) == 0);
}

int main(void) {
        test_bounds();
        run_random(random_key, 20000, MAXN);
        run_random(colliding_key, 20000, 200);         /* runs of up to 200 around the wrap */
        test_devdb();
        printf("ieee-index: ok\n");
        return 0;
}
