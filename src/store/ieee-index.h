/*
 * An index of values by 64-bit IEEE address: open addressing with linear probing in a fixed table
 * of IEEE_INDEX_SLOTS slots (twice DEVDB_DEVICES_MAX, so at most half full and a lookup touches a
 * slot or two). Removal shifts the following entries of the run back, so there are no tombstones
 * and the table never degrades however often devices come and go. The index holds pointers it does
 * not own; the owner keeps it in step with its own list (add, remove, load, clear).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IEEE_INDEX_SLOTS 1024u          /* a power of two */

typedef struct IeeeIndexEntry {
        uint64_t key;
        void *value;                    /* NULL: the slot is free */
} IeeeIndexEntry;

typedef struct IeeeIndex {
        size_t n;
        IeeeIndexEntry slots[IEEE_INDEX_SLOTS];
} IeeeIndex;

/* The slot a key's probe starts at (exposed so tests can build colliding keys). */
size_t ieee_index_home(uint64_t key);

void ieee_index_clear(IeeeIndex *x);
void *ieee_index_get(const IeeeIndex *x, uint64_t key);
/* -EINVAL for a NULL value, -EEXIST if the key is there, -ENOBUFS when the table is half full. */
int ieee_index_put(IeeeIndex *x, uint64_t key, void *value);
/* The value that was stored, or NULL when the key was not there. */
void *ieee_index_remove(IeeeIndex *x, uint64_t key);
size_t ieee_index_count(const IeeeIndex *x);
