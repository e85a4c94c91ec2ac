/* Index by IEEE address: see ieee-index.h. */
#include <errno.h>
#include <string.h>

#include "store/ieee-index.h"

#define MASK (IEEE_INDEX_SLOTS - 1)

size_t ieee_index_home(uint64_t key) {
        /* Fibonacci hashing: IEEE addresses share their vendor prefix, the multiply spreads the
         * low bytes into the top bits, which are the ones kept. */
        return (size_t) ((key * UINT64_C(0x9e3779b97f4a7c15)) >> 54) & MASK;
}

void ieee_index_clear(IeeeIndex *x) {
        memset(x, 0, sizeof(*x));
}

static size_t find_slot(const IeeeIndex *x, uint64_t key, bool *found) {
        size_t i = ieee_index_home(key);

        /* never full (at most half), so a free slot ends every probe */
        while (x->slots[i].value) {
                if (x->slots[i].key == key) {
                        *found = true;
                        return i;
                }
                i = (i + 1) & MASK;
        }
        *found = false;
        return i;
}

void *ieee_index_get(const IeeeIndex *x, uint64_t key) {
        bool found;
        size_t i = find_slot(x, key, &found);

        return found ? x->slots[i].value : NULL;
}

int ieee_index_put(IeeeIndex *x, uint64_t key, void *value) {
        bool found;
        size_t i;

        if (!value)
                return -EINVAL;
        i = find_slot(x, key, &found);
        if (found)
                return -EEXIST;
        if (x->n >= IEEE_INDEX_SLOTS / 2)
                return -ENOBUFS;
        x->slots[i] = (IeeeIndexEntry) { .key = key, .value = value };
        x->n++;
        return 0;
}

void *ieee_index_remove(IeeeIndex *x, uint64_t key) {
        bool found;
        size_t hole = find_slot(x, key, &found), j;
        void *value;

        if (!found)
                return NULL;
        value = x->slots[hole].value;
        x->slots[hole].value = NULL;
        x->n--;
        /* Backward shift: an entry after the hole moves into it unless its home lies cyclically in
         * (hole, j], where a probe for it never passes the hole. */
        for (j = (hole + 1) & MASK; x->slots[j].value; j = (j + 1) & MASK) {
                size_t home = ieee_index_home(x->slots[j].key);

                if (((j - home) & MASK) >= ((j - hole) & MASK)) {
                        x->slots[hole] = x->slots[j];
                        x->slots[j].value = NULL;
                        hole = j;
                }
        }
        return value;
}

size_t ieee_index_count(const IeeeIndex *x) {
        return x->n;
}
