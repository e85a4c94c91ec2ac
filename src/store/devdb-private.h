/*
 * Internals shared by the device database's two halves: the table (devdb.c) and its JSON files
 * (devdb-json.c). Not for other modules: they use devdb.h.
 */
#pragma once

#include "store/devdb.h"
#include "store/ieee-index.h"
#include "util/macro.h"

struct DevDb {
        char *dir;
        char *devices_path, *network_path;
        Device **devices;
        size_t n_devices;
        IeeeIndex by_ieee;              /* the same devices by IEEE: lookups per message stay O(1) */
        bool dirty, network_dirty;
        bool state_dirty;               /* only states or last-seen times changed */
        DevDbStateFn state_fn;          /* the owner's live state of devices marked state_live */
        void *state_userdata;
        DevNetwork network;
        char error[1024];
};

DEFINE_TRIVIAL_CLEANUP_FUNC(Device *, device_free);

/* The names the files use for the enumerations, indexed by value. */
extern const char *const interview_names[_DEV_INTERVIEW_MAX];
extern const char *const logical_names[_DEV_LOGICAL_MAX];
extern const char *const node_power_names[_DEV_NODE_POWER_MAX];
/* The index of s in names, or -EINVAL. */
int devdb_lookup_name(const char *const *names, size_t n, const char *s);

int devdb_device_new(Device **ret, uint64_t ieee, uint16_t nwk);
void devdb_clear(DevDb *db);
int devdb_insert(DevDb *db, Device *d);
