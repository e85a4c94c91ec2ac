/*
 * Migration from Zigbee2MQTT: `lumiplugd --import-z2m DIR` reads a Zigbee2MQTT data directory into
 * the device database.
 *
 *   database.db              zigbee-herdsman's device table (one JSON object per line): IEEE and
 *                            network addresses, node/simple descriptors, Basic attributes,
 *                            interview state, last seen; the Coordinator row gives the
 *                            coordinator IEEE. Groups are not imported.
 *   configuration.yaml       `devices:` (inline, or the file(s) it names): friendly names and the
 *                            per-device options; `advanced:` pan_id/ext_pan_id/network_key/channel.
 *   coordinator_backup.json  optional, zigpy/open-coordinator-backup v1: network key, PAN id,
 *                            extended PAN id, channel, coordinator IEEE (wins over `advanced:`).
 *   state.json               optional: last known state per device.
 *
 * All or nothing: everything is read and checked first; on any error nothing in the database
 * changes and Z2mImport.error says what and where ("configuration.yaml:12: ..."). Imported devices
 * replace database entries with the same IEEE. The caller saves the database afterwards.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "store/devdb.h"

#define Z2M_WARNINGS_MAX 64

typedef struct Z2mImport {
        char error[1024];               /* set when z2m_import() fails */
        char *warnings[Z2M_WARNINGS_MAX];       /* imported with a caveat, or skipped */
        size_t n_warnings;
        size_t n_devices;               /* devices imported */
        size_t n_supported;             /* of which this daemon drives (lumi.plug.mmeu01) */
        size_t n_named;                 /* of which got a friendly name from the configuration */
        uint64_t coordinator_ieee;      /* 0 if database.db has no Coordinator row */
        const char *network_source;     /* "coordinator_backup.json", "configuration.yaml", or NULL */
} Z2mImport;

void z2m_import_done(Z2mImport *imp);
int z2m_import(DevDb *db, const char *dir, Z2mImport *imp);

/*
 * The whole `lumiplugd --import-z2m DIR` command, for main(): loads the database in state_dir,
 * imports DIR, saves, and prints a summary and the warnings to out, or the reason to err. Run it
 * with the daemon stopped (the daemon would overwrite the files with its own table). Returns 0 or
 * a negative errno.
 */
int z2m_import_command(const char *state_dir, const char *z2m_dir, FILE *out, FILE *err);
