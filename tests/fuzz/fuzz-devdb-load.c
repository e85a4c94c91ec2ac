/*
 * Fuzz target: the device database files as devdb_load() reads them at start-up
 * (src/store/devdb.h). A disk can hand back anything after a crash, an editor or a bad sector.
 *
 * Input: devices.json, a NUL byte, network.json (no NUL: devices.json only; an empty part: that
 * file is absent). Both are written to a fresh directory in /tmp and loaded. Whatever loads must
 * be a consistent database: every device findable by its IEEE, address and name, names valid, and
 * a ZNCZ04LM's saved state restorable into the plug model.
 */
#include <errno.h>

#include "devices/plug.h"
#include "fuzz.h"
#include "store/devdb.h"

static void check_loaded(DevDb *db) {
        for (size_t i = 0; i < devdb_count(db); i++) {
                Device *d = devdb_get(db, i);

                FUZZ_CHECK(d);
                FUZZ_CHECK(devdb_find_by_ieee(db, d->ieee) == d);
                FUZZ_CHECK(d->friendly_name);
                FUZZ_CHECK(devdb_find_by_name(db, d->friendly_name) == d);
                FUZZ_CHECK(d->n_endpoints <= DEVDB_ENDPOINTS_MAX);
                for (size_t e = 0; e < d->n_endpoints; e++)
                        FUZZ_CHECK(d->endpoints[e].n_in <= DEVDB_CLUSTERS_MAX &&
                                   d->endpoints[e].n_out <= DEVDB_CLUSTERS_MAX);
                if (d->nwk != DEVDB_NWK_UNKNOWN)
                        FUZZ_CHECK(devdb_find_by_nwk(db, d->nwk) != NULL);
                (void) dev_interview_state_to_string(d->interview);
                (void) dev_logical_type_to_string(d->logical_type);
                if (d->state) {
                        const PlugModel *m = d->basic.model_id ? plug_model_find(d->basic.model_id) : NULL;
                        PlugState s = {};

                        FUZZ_CHECK(json_object_is_type(d->state, json_type_object));
                        if (m)
                                (void) plug_state_from_json(&s, m, d->state);
                }
                if (d->options)
                        FUZZ_CHECK(json_object_is_type(d->options, json_type_object));
        }
        (void) devdb_get_network(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *part[2];
        size_t len[2];
        char dir[64];
        DevDb *db = NULL;
        int r;

        if (size > 256 * 1024)
                return 0;
        (void) fuzz_split(data, size, part, len, 2);

        fuzz_tmpdir_new(dir);
        if (len[0] > 0)
                fuzz_write_file(dir, "devices.json", part[0], len[0]);
        if (len[1] > 0)
                fuzz_write_file(dir, "network.json", part[1], len[1]);

        FUZZ_CHECK(devdb_new(&db, dir) == 0);
        r = devdb_load(db);
        FUZZ_CHECK(r == 0 || r == DEVDB_LOAD_RECOVERED || r == -EPROTONOSUPPORT);
        if (r != 0)
                FUZZ_CHECK(devdb_last_error(db)[0] != 0);
        check_loaded(db);
        devdb_free(db);

        fuzz_tmpdir_remove(dir);
        return 0;
}
