/*
 * Device database: the in-memory table of paired devices and the network parameters: create, find,
 * add, rename, remove, the dirty flags. Not the files: devdb-json.c reads and writes devices.json and
 * network.json. See devdb.h for the contract.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/devdb-private.h"
#include "store/ieee-index.h"
#include "util/hex.h"
#include "util/macro.h"

_Static_assert(DEVDB_DEVICES_MAX <= IEEE_INDEX_SLOTS / 2, "the IEEE index must stay at most half full");

const char *const interview_names[_DEV_INTERVIEW_MAX] = {
        [DEV_INTERVIEW_PENDING] = "pending",
        [DEV_INTERVIEW_IN_PROGRESS] = "in_progress",
        [DEV_INTERVIEW_SUCCESSFUL] = "successful",
        [DEV_INTERVIEW_FAILED] = "failed",
};

const char *const logical_names[_DEV_LOGICAL_MAX] = {
        [DEV_LOGICAL_COORDINATOR] = "coordinator",
        [DEV_LOGICAL_ROUTER] = "router",
        [DEV_LOGICAL_END_DEVICE] = "end_device",
        [DEV_LOGICAL_UNKNOWN] = "unknown",
};

const char *const node_power_names[_DEV_NODE_POWER_MAX] = {
        [DEV_NODE_POWER_UNKNOWN] = "unknown",
        [DEV_NODE_POWER_MAINS] = "mains",
        [DEV_NODE_POWER_BATTERY] = "battery",
};

int devdb_lookup_name(const char *const *names, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (names[i] && strcmp(names[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *dev_interview_state_to_string(DevInterviewState s) {
        return s >= 0 && s < _DEV_INTERVIEW_MAX ? interview_names[s] : NULL;
}

DevInterviewState dev_interview_state_from_string(const char *s) {
        return devdb_lookup_name(interview_names, _DEV_INTERVIEW_MAX, s);
}

const char *dev_logical_type_to_string(DevLogicalType t) {
        return t >= 0 && t < _DEV_LOGICAL_MAX ? logical_names[t] : NULL;
}

DevLogicalType dev_logical_type_from_string(const char *s) {
        return devdb_lookup_name(logical_names, _DEV_LOGICAL_MAX, s);
}

int devdb_parse_ieee(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s)
                return -EINVAL;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                s += 2;
        if (strlen(s) != 16)
                return -EINVAL;
        for (size_t i = 0; i < 16; i++) {
                int d = hex_digit_value(s[i]);

                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return 0;
}

bool devdb_name_is_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n > DEVDB_NAME_MAX)
                return false;
        if (name[0] == '/' || name[n - 1] == '/')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) name[i];

                if (c < 0x20 || c == 0x7f || c == '+' || c == '#')
                        return false;
        }
        /* "<name>/<digits>" would address endpoint <digits> of device <name> */
        const char *slash = strrchr(name, '/');
        if (slash && strspn(slash + 1, "0123456789") == strlen(slash + 1))
                return false;
        return true;
}

Device *device_free(Device *d) {
        if (!d)
                return NULL;
        free(d->endpoints);
        free(d->basic.model_id);
        free(d->basic.manufacturer_name);
        free(d->basic.date_code);
        free(d->basic.sw_build_id);
        free(d->model);
        free(d->friendly_name);
        if (d->options)
                json_object_put(d->options);
        if (d->state)
                json_object_put(d->state);
        free(d);
        return NULL;
}

int devdb_device_new(Device **ret, uint64_t ieee, uint16_t nwk) {
        _cleanup_(device_freep) Device *d = NULL;
        char name[19];

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->ieee = ieee;
        d->nwk = nwk;
        d->logical_type = DEV_LOGICAL_UNKNOWN;
        d->node_power = DEV_NODE_POWER_UNKNOWN;
        d->interview = DEV_INTERVIEW_PENDING;
        d->basic.power_source = -1;
        d->basic.zcl_version = d->basic.app_version = d->basic.stack_version = d->basic.hw_version = -1;
        (void) snprintf(name, sizeof(name), "0x%016" PRIx64, ieee);
        d->friendly_name = strdup(name);
        d->options = json_object_new_object();
        d->state = json_object_new_object();
        if (!d->friendly_name || !d->options || !d->state)
                return -ENOMEM;
        *ret = TAKE_PTR(d);
        return 0;
}

void devdb_clear(DevDb *db) {
        for (size_t i = 0; i < db->n_devices; i++)
                device_free(db->devices[i]);
        db->n_devices = 0;
        ieee_index_clear(&db->by_ieee);
}

DevDb *devdb_free(DevDb *db) {
        if (!db)
                return NULL;
        devdb_clear(db);
        free(db->devices);
        free(db->dir);
        free(db->devices_path);
        free(db->network_path);
        explicit_bzero(&db->network, sizeof(db->network));
        free(db);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(DevDb *, devdb_free);

int devdb_new(DevDb **ret, const char *state_dir) {
        _cleanup_(devdb_freep) DevDb *db = NULL;

        assert(ret);
        if (!state_dir || !*state_dir)
                return -EINVAL;

        db = calloc(1, sizeof(*db));
        if (!db)
                return -ENOMEM;
        db->dir = strdup(state_dir);
        db->devices = calloc(DEVDB_DEVICES_MAX, sizeof(Device *));
        if (!db->dir || !db->devices)
                return -ENOMEM;
        if (asprintf(&db->devices_path, "%s/devices.json", state_dir) < 0) {
                db->devices_path = NULL;
                return -ENOMEM;
        }
        if (asprintf(&db->network_path, "%s/network.json", state_dir) < 0) {
                db->network_path = NULL;
                return -ENOMEM;
        }
        *ret = TAKE_PTR(db);
        return 0;
}

bool devdb_is_dirty(const DevDb *db) {
        return db->dirty || db->network_dirty || db->state_dirty;
}

bool devdb_is_dirty_structurally(const DevDb *db) {
        return db->dirty || db->network_dirty;
}

bool devdb_is_dirty_state(const DevDb *db) {
        return db->state_dirty;
}

void devdb_set_state_provider(DevDb *db, DevDbStateFn fn, void *userdata) {
        db->state_fn = fn;
        db->state_userdata = userdata;
}

void devdb_state_changed(DevDb *db, Device *d) {
        /* the owner holds it from now on: no tree per device in memory (~2.5 KB each) */
        if (d->state) {
                json_object_put(d->state);
                d->state = NULL;
        }
        d->state_live = true;
        db->state_dirty = true;
}

void devdb_mark_dirty(DevDb *db) {
        db->dirty = true;
}

const char *devdb_last_error(const DevDb *db) {
        return db->error;
}

const char *devdb_devices_path(const DevDb *db) {
        return db->devices_path;
}

size_t devdb_count(const DevDb *db) {
        return db->n_devices;
}

Device *devdb_get(const DevDb *db, size_t i) {
        return i < db->n_devices ? db->devices[i] : NULL;
}

Device *devdb_find_by_ieee(const DevDb *db, uint64_t ieee) {
        return ieee_index_get(&db->by_ieee, ieee);
}

Device *devdb_find_by_nwk(const DevDb *db, uint16_t nwk) {
        if (nwk == DEVDB_NWK_UNKNOWN)
                return NULL;
        for (size_t i = 0; i < db->n_devices; i++)
                if (db->devices[i]->nwk == nwk)
                        return db->devices[i];
        return NULL;
}

Device *devdb_find_by_name(const DevDb *db, const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < db->n_devices; i++)
                if (strcmp(db->devices[i]->friendly_name, name) == 0)
                        return db->devices[i];
        return NULL;
}

/* Takes d; on failure d is freed. */
int devdb_insert(DevDb *db, Device *d) {
        int r;

        if (db->n_devices >= DEVDB_DEVICES_MAX) {
                device_free(d);
                return -ENOBUFS;
        }
        r = ieee_index_put(&db->by_ieee, d->ieee, d);   /* callers checked the IEEE is new */
        if (r < 0) {
                device_free(d);
                return r;
        }
        db->devices[db->n_devices++] = d;
        return 0;
}

int devdb_add(DevDb *db, uint64_t ieee, uint16_t nwk, Device **ret) {
        Device *d;
        int r;

        if (devdb_find_by_ieee(db, ieee))
                return -EEXIST;
        if (db->n_devices >= DEVDB_DEVICES_MAX)
                return -ENOBUFS;
        r = devdb_device_new(&d, ieee, nwk);
        if (r < 0)
                return r;
        /* The default name is the IEEE string; if someone was renamed to exactly that, keep it
         * unique anyway (the user can rename later). */
        if (devdb_find_by_name(db, d->friendly_name)) {
                char *alt;

                if (asprintf(&alt, "%s-%zu", d->friendly_name, db->n_devices) < 0) {
                        device_free(d);
                        return -ENOMEM;
                }
                free(d->friendly_name);
                d->friendly_name = alt;
        }
        (void) devdb_set_nwk(db, d, nwk);       /* clears a stale holder of the address */
        r = devdb_insert(db, d);
        if (r < 0)
                return r;
        db->dirty = true;
        if (ret)
                *ret = d;
        return 0;
}

int devdb_remove(DevDb *db, uint64_t ieee) {
        for (size_t i = 0; i < db->n_devices; i++)
                if (db->devices[i]->ieee == ieee) {
                        (void) ieee_index_remove(&db->by_ieee, ieee);
                        device_free(db->devices[i]);
                        memmove(db->devices + i, db->devices + i + 1,
                                (db->n_devices - i - 1) * sizeof(Device *));
                        db->n_devices--;
                        db->dirty = true;
                        return 0;
                }
        return -ENOENT;
}

int devdb_steal(DevDb *db, uint64_t ieee, Device **ret) {
        for (size_t i = 0; i < db->n_devices; i++)
                if (db->devices[i]->ieee == ieee) {
                        (void) ieee_index_remove(&db->by_ieee, ieee);
                        *ret = db->devices[i];
                        memmove(db->devices + i, db->devices + i + 1,
                                (db->n_devices - i - 1) * sizeof(Device *));
                        db->n_devices--;
                        db->dirty = true;
                        return 0;
                }
        return -ENOENT;
}

int devdb_adopt(DevDb *db, Device *d) {
        assert(d);
        if (devdb_find_by_ieee(db, d->ieee) || devdb_find_by_name(db, d->friendly_name))
                return -EEXIST;
        if (db->n_devices >= DEVDB_DEVICES_MAX)
                return -ENOBUFS;
        if (ieee_index_put(&db->by_ieee, d->ieee, d) < 0)
                return -ENOBUFS;        /* not reached: the IEEE is new and the table has room */
        (void) devdb_set_nwk(db, d, d->nwk);
        db->devices[db->n_devices++] = d;
        db->dirty = true;
        return 0;
}

int devdb_rename(DevDb *db, Device *d, const char *name) {
        Device *other;
        char *copy;

        assert(d);
        if (!devdb_name_is_valid(name))
                return -EINVAL;
        other = devdb_find_by_name(db, name);
        if (other == d)
                return 0;
        if (other)
                return -EEXIST;
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        free(d->friendly_name);
        d->friendly_name = copy;
        db->dirty = true;
        return 0;
}

int devdb_set_nwk(DevDb *db, Device *d, uint16_t nwk) {
        int changed;

        assert(d);
        for (size_t i = 0; i < db->n_devices; i++)
                if (db->devices[i] != d && db->devices[i]->nwk == nwk && nwk != DEVDB_NWK_UNKNOWN) {
                        db->devices[i]->nwk = DEVDB_NWK_UNKNOWN;
                        db->dirty = true;
                }
        changed = d->nwk != nwk;
        d->nwk = nwk;
        if (changed)
                db->dirty = true;
        return changed;
}

int devdb_set_endpoints(DevDb *db, Device *d, const DevEndpoint *eps, size_t n) {
        DevEndpoint *copy = NULL;

        assert(d);
        if (n > DEVDB_ENDPOINTS_MAX)
                return -ENOBUFS;
        for (size_t i = 0; i < n; i++)
                if (eps[i].n_in > DEVDB_CLUSTERS_MAX || eps[i].n_out > DEVDB_CLUSTERS_MAX)
                        return -ENOBUFS;
        if (n > 0) {
                copy = malloc(n * sizeof(DevEndpoint));
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, eps, n * sizeof(DevEndpoint));
        }
        free(d->endpoints);
        d->endpoints = copy;
        d->n_endpoints = n;
        db->dirty = true;
        return 0;
}

int devdb_set_string(DevDb *db, char **field, const char *value) {
        char *copy = NULL;

        assert(field);
        if (value) {
                if (strlen(value) > DEVDB_STRING_MAX)
                        return -E2BIG;
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        db->dirty = true;
        return 0;
}

static int set_object(DevDb *db, json_object **field, json_object *o) {
        if (!o || !json_object_is_type(o, json_type_object))
                return -EINVAL;
        if (*field)
                json_object_put(*field);
        *field = o;
        db->dirty = true;
        return 0;
}

int devdb_set_state(DevDb *db, Device *d, json_object *state) {
        int r = set_object(db, &d->state, state);

        if (r >= 0)
                d->state_live = false;
        return r;
}

int devdb_set_energy(DevDb *db, Device *d, double offset, double last_device) {
        if (!db || !d || !isfinite(offset) || offset < 0 || !isfinite(last_device) || last_device < 0)
                return -EINVAL;
        if (d->energy_known && d->energy_offset == offset && d->energy_last_device == last_device)
                return 0;
        d->energy_known = true;
        d->energy_offset = offset;
        d->energy_last_device = last_device;
        devdb_mark_dirty(db);
        return 1;
}

int devdb_set_options(DevDb *db, Device *d, json_object *options) {
        return set_object(db, &d->options, options);
}

void devdb_touch(DevDb *db, Device *d, uint64_t realtime_usec) {
        d->last_seen_usec = realtime_usec;
        db->state_dirty = true;
}

const DevNetwork *devdb_get_network(const DevDb *db) {
        return &db->network;
}

void devdb_set_network(DevDb *db, const DevNetwork *net) {
        db->network = *net;
        db->network_dirty = true;
}
