/*
 * Device database: every paired device and the network the host formed or adopted, kept in the
 * state directory as <state>/devices.json and <state>/network.json (0600: it holds the network key).
 *
 * Both files are replaced atomically (temp file in the same directory, fsync, rename, fsync of the
 * directory), so a crash or kill -9 at any moment leaves either the old or the new file. Saves are
 * deferred: mutators only set a dirty flag and devdb_save() writes what is dirty. Structural changes
 * and plain state changes are told apart (devdb_is_dirty_structurally / devdb_is_dirty_state) so
 * the manager can save the first promptly and the second at a slower cadence. devices.json is
 * written device by device (never one JSON tree of all devices).
 *
 * The database never logs: failures come back as -errno and devdb_last_error() holds the sentence
 * for the caller to log.
 */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define DEVDB_DEVICES_MAX 512
#define DEVDB_ENDPOINTS_MAX 32          /* per device */
#define DEVDB_CLUSTERS_MAX 64           /* per endpoint and direction */
#define DEVDB_NAME_MAX 128              /* friendly name, bytes without the NUL */
#define DEVDB_STRING_MAX 255            /* Basic strings: a ZCL character string holds at most 255 */
#define DEVDB_FILE_MAX (16u << 20)      /* a bigger file is refused as corrupt */
#define DEVDB_FORMAT_VERSION 1
#define DEVDB_NWK_UNKNOWN 0xfffe        /* address no longer valid (another device took it) */

/* devdb_load() result: the file was corrupt, set aside, and the database starts empty. */
#define DEVDB_LOAD_RECOVERED 1

typedef enum DevInterviewState {
        DEV_INTERVIEW_PENDING,
        DEV_INTERVIEW_IN_PROGRESS,
        DEV_INTERVIEW_SUCCESSFUL,
        DEV_INTERVIEW_FAILED,
        _DEV_INTERVIEW_MAX,
        _DEV_INTERVIEW_INVALID = -EINVAL,
} DevInterviewState;

typedef enum DevLogicalType {
        DEV_LOGICAL_COORDINATOR = 0,    /* node descriptor values */
        DEV_LOGICAL_ROUTER = 1,
        DEV_LOGICAL_END_DEVICE = 2,
        DEV_LOGICAL_UNKNOWN = 3,
        _DEV_LOGICAL_MAX,
        _DEV_LOGICAL_INVALID = -EINVAL,
} DevLogicalType;

typedef enum DevNodePower {            /* node descriptor MAC capability "mains powered" */
        DEV_NODE_POWER_UNKNOWN,
        DEV_NODE_POWER_MAINS,
        DEV_NODE_POWER_BATTERY,
        _DEV_NODE_POWER_MAX,
        _DEV_NODE_POWER_INVALID = -EINVAL,
} DevNodePower;

typedef struct DevEndpoint {
        uint8_t id;
        uint16_t profile;
        uint16_t device_id;
        size_t n_in, n_out;
        uint16_t in[DEVDB_CLUSTERS_MAX];
        uint16_t out[DEVDB_CLUSTERS_MAX];
} DevEndpoint;

/* Basic cluster attributes; NULL / -1 when never read. */
typedef struct DevBasic {
        char *model_id;
        char *manufacturer_name;
        char *date_code;
        char *sw_build_id;
        int power_source;               /* 0x0007 enum8, with the backup-battery bit 7 stripped */
        int zcl_version, app_version, stack_version, hw_version;
} DevBasic;

/*
 * ieee, nwk and friendly_name are indexed: change them only through devdb_add(), devdb_set_nwk()
 * and devdb_rename(). Every other field belongs to the caller, who calls devdb_mark_dirty()
 * after changing it (or uses the devdb_set_*() helpers, which do).
 */
typedef struct Device {
        uint64_t ieee;
        uint16_t nwk;
        DevLogicalType logical_type;
        uint16_t manufacturer_code;
        DevNodePower node_power;
        size_t n_endpoints;
        DevEndpoint *endpoints;
        DevBasic basic;
        DevInterviewState interview;
        bool supported;
        char *model;                    /* our model name ("ZNCZ04LM") when supported, else NULL */
        char *friendly_name;            /* never NULL; "0x<ieee>" until renamed */
        json_object *options;           /* JSON object, owned by the upper layers' meaning */
        json_object *state;             /* JSON object: last known state; NULL when state_live */
        bool state_live;                /* devdb_state_changed(): the owner holds the state, written
                                         * from the state provider */
        uint64_t last_seen_usec;        /* CLOCK_REALTIME, 0 = never */
        /* [device] energy_monotonic (src/devices/energy.h): kWh counted before the plug's counter
         * dropped, and the highest counter value since. Stored as "energy_counter" when known. */
        bool energy_known;
        double energy_offset, energy_last_device;
} Device;

typedef struct DevNetwork {
        bool valid;                     /* the fields below mean something */
        uint64_t coordinator_ieee;      /* 0 = unknown */
        uint16_t pan_id;
        uint64_t ext_pan_id;            /* as displayed: most significant byte first */
        uint8_t network_key[16];
        uint8_t channel;
} DevNetwork;

typedef struct DevDb DevDb;

int devdb_new(DevDb **ret, const char *state_dir);
DevDb *devdb_free(DevDb *db);

/*
 * Reads devices.json and network.json. A missing file is an empty database. Returns 0, or
 * DEVDB_LOAD_RECOVERED when a file was corrupt and was renamed to <file>.corrupt-<UTC time>
 * (devdb_last_error() says which and why; the database starts without what it held), or
 * -EPROTONOSUPPORT for a file written by a newer format (left untouched), or another -errno.
 */
int devdb_load(DevDb *db);
/* Writes what is dirty. On failure the old files stay in place and the data stays dirty. */
int devdb_save(DevDb *db);
bool devdb_is_dirty(const DevDb *db);          /* anything unsaved */
/* Structural changes (devices, names, options, interview, energy counter, the network): worth
 * saving promptly. Only states and last-seen times: may wait (the manager's cadence). */
bool devdb_is_dirty_structurally(const DevDb *db);
bool devdb_is_dirty_state(const DevDb *db);
void devdb_mark_dirty(DevDb *db);
const char *devdb_last_error(const DevDb *db);
const char *devdb_devices_path(const DevDb *db);

size_t devdb_count(const DevDb *db);
Device *devdb_get(const DevDb *db, size_t i);   /* in insertion order */
Device *devdb_find_by_ieee(const DevDb *db, uint64_t ieee);
Device *devdb_find_by_nwk(const DevDb *db, uint16_t nwk);
Device *devdb_find_by_name(const DevDb *db, const char *name);

Device *device_free(Device *d);
/* Moves a device out of the database (the caller owns it) or into it (taken on success only;
 * -EEXIST if its IEEE or friendly name is already there, -ENOBUFS when full). */
int devdb_steal(DevDb *db, uint64_t ieee, Device **ret);
int devdb_adopt(DevDb *db, Device *d);

/* -EEXIST if the IEEE is known, -ENOBUFS when DEVDB_DEVICES_MAX devices are stored. */
int devdb_add(DevDb *db, uint64_t ieee, uint16_t nwk, Device **ret);
int devdb_remove(DevDb *db, uint64_t ieee);     /* -ENOENT */
/* -EEXIST if another device has the name, -EINVAL if it is not a valid MQTT topic level name. */
int devdb_rename(DevDb *db, Device *d, const char *name);
/* Re-announce: returns 1 if the address changed, 0 if not. Another device holding the same
 * address had a stale one and gets DEVDB_NWK_UNKNOWN. */
int devdb_set_nwk(DevDb *db, Device *d, uint16_t nwk);
int devdb_set_endpoints(DevDb *db, Device *d, const DevEndpoint *eps, size_t n);
int devdb_set_string(DevDb *db, char **field, const char *value);      /* NULL clears */
/* Takes the reference; NULL or a non-object is -EINVAL and nothing is taken. */
int devdb_set_state(DevDb *db, Device *d, json_object *state);
/* The owner of a device's live state (the bridge's PlugState) says it changed, without building
 * JSON: d->state is released and the state is asked from the provider only when devices.json is
 * written (and not kept). The owner hands it back with devdb_set_state() before it goes away.
 * Marks the state dirty, not the structure. */
typedef json_object *(*DevDbStateFn)(const Device *d, void *userdata);        /* new reference or NULL */
void devdb_set_state_provider(DevDb *db, DevDbStateFn fn, void *userdata);
void devdb_state_changed(DevDb *db, Device *d);
int devdb_set_options(DevDb *db, Device *d, json_object *options);
void devdb_touch(DevDb *db, Device *d, uint64_t realtime_usec);        /* last seen; dirty */
/* -EINVAL unless both are finite and >= 0; marks dirty when something changed (returns 1). */
int devdb_set_energy(DevDb *db, Device *d, double offset, double last_device);

const DevNetwork *devdb_get_network(const DevDb *db);
void devdb_set_network(DevDb *db, const DevNetwork *net);

/* Friendly names as Zigbee2MQTT accepts them: non-empty, at most DEVDB_NAME_MAX bytes, no MQTT
 * wildcard ('+', '#'), no control character, no leading or trailing '/', and not ending in
 * "/<digits>" (that suffix addresses an endpoint). */
bool devdb_name_is_valid(const char *name);

const char *dev_interview_state_to_string(DevInterviewState s);
DevInterviewState dev_interview_state_from_string(const char *s);
const char *dev_logical_type_to_string(DevLogicalType t);
DevLogicalType dev_logical_type_from_string(const char *s);

int devdb_parse_ieee(const char *s, uint64_t *ret);
/* Helpers shared with the importer: a whole file (-EFBIG above DEVDB_FILE_MAX, -ENOENT if missing),
 * and one strict JSON document (-EBADMSG with the reason in err). */
int devdb_read_file(const char *path, char **ret, size_t *ret_len);
int devdb_parse_json(const char *text, size_t len, json_object **ret, char *err, size_t errlen);     /* "0x00158d0001a2b3c4" or 16 hex digits */
