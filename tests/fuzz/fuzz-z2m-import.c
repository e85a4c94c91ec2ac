/*
 * Fuzz target: `lumiplugd --import-z2m DIR` on a hostile Zigbee2MQTT data directory
 * (src/store/z2m-import.h).
 *
 * Input: up to five files separated by NUL bytes, in this order: database.db,
 * configuration.yaml, coordinator_backup.json, state.json, devices.yaml (an empty part: that file
 * is absent). They are written to a fresh directory in /tmp and imported into an empty database.
 * The import is all or nothing: on failure the database must still be empty and the error must
 * say what; on success the counts must add up.
 */
#include <errno.h>

#include "fuzz.h"
#include "store/devdb.h"
#include "store/z2m-import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const names[] = {
                "database.db", "configuration.yaml", "coordinator_backup.json", "state.json", "devices.yaml",
        };
        const uint8_t *part[5];
        size_t len[5];
        char dir[64];
        DevDb *db = NULL;
        Z2mImport imp = {};
        int r;

        if (size > 256 * 1024)
                return 0;
        (void) fuzz_split(data, size, part, len, 5);

        fuzz_tmpdir_new(dir);
        for (size_t i = 0; i < 5; i++)
                if (len[i] > 0)
                        fuzz_write_file(dir, names[i], part[i], len[i]);

        FUZZ_CHECK(devdb_new(&db, dir) == 0);
        r = z2m_import(db, dir, &imp);
        if (r < 0) {
                FUZZ_CHECK(imp.error[0] != 0);
                FUZZ_CHECK(memchr(imp.error, 0, sizeof(imp.error)));
                FUZZ_CHECK(devdb_count(db) == 0);
                FUZZ_CHECK(!devdb_get_network(db)->valid);
        } else {
                FUZZ_CHECK(imp.n_supported <= imp.n_devices && imp.n_named <= imp.n_devices);
                FUZZ_CHECK(devdb_count(db) <= imp.n_devices);
                FUZZ_CHECK(imp.n_warnings <= Z2M_WARNINGS_MAX);
                for (size_t i = 0; i < devdb_count(db); i++) {
                        Device *d = devdb_get(db, i);

                        FUZZ_CHECK(devdb_find_by_ieee(db, d->ieee) == d);
                        FUZZ_CHECK(devdb_name_is_valid(d->friendly_name));
                }
        }
        z2m_import_done(&imp);
        devdb_free(db);

        fuzz_tmpdir_remove(dir);
        return 0;
}
