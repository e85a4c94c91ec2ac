/*
 * Zigbee2MQTT data directory import on the fixture in z2m-fixture/ (database.db rows in
 * zigbee-herdsman's toDatabaseEntry shape, a js-yaml configuration.yaml with hand edits, an open
 * coordinator backup as herdsman writes it, state.json), variants of it, broken variants with their
 * error texts, and a Zigbee2MQTT data directory captured under tests/peer/ if there is one.
 *
 * argv[1]: the fixture directory; argv[2]: z2m-real-2.14.1, the data directory the real Zigbee2MQTT
 * 2.14.1 left after pairing two plugs on lumiplug-sim (configuration.yaml, database.db,
 * coordinator_backup.json, state.json as it wrote them, copied unchanged); argv[3]: tests/peer
 * (searched for a newer capture).
 */
#undef NDEBUG
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/devdb.h"
#include "store/z2m-import.h"

static const char *fixture;
static const char *const fixture_files[] = {
        "database.db", "configuration.yaml", "coordinator_backup.json", "state.json",
};

static char *read_path(const char *dir, const char *name) {
        char p[1024], *text;
        size_t len;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        assert(devdb_read_file(p, &text, &len) == 0);
        return text;
}

static void write_path(const char *dir, const char *name, const char *text) {
        char p[1024];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        f = fopen(p, "we");
        assert(f);
        assert(fputs(text, f) >= 0);
        assert(fclose(f) == 0);
}

static void remove_path(const char *dir, const char *name) {
        char p[1024];

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        assert(unlink(p) == 0);
}

/* Replaces the first occurrence of old in dir/name. */
static void edit(const char *dir, const char *name, const char *old, const char *new) {
        char *text = read_path(dir, name), *p = strstr(text, old), *out;

        assert(p);
        assert(asprintf(&out, "%.*s%s%s", (int) (p - text), text, new, p + strlen(old)) > 0);
        write_path(dir, name, out);
        free(out);
        free(text);
}

static void remove_tree(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;

        assert(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        remove_path(dir, e->d_name);
        closedir(d);
        assert(rmdir(dir) == 0);
}

static char *copy_fixture(void) {
        char *dir = strdup("/tmp/lumi-test-z2m-XXXXXX");

        assert(dir && mkdtemp(dir));
        for (size_t i = 0; i < sizeof(fixture_files) / sizeof(fixture_files[0]); i++) {
                char *text = read_path(fixture, fixture_files[i]);
                write_path(dir, fixture_files[i], text);
                free(text);
        }
        return dir;
}

static DevDb *empty_db(char **ret_state) {
        char *state = strdup("/tmp/lumi-test-z2m-state-XXXXXX");
        DevDb *db;

        assert(state && mkdtemp(state));
        assert(devdb_new(&db, state) == 0);
        assert(devdb_load(db) == 0);
        *ret_state = state;
        return db;
}

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

static void check_fixture_devices(DevDb *db) {
        Device *d;

        assert(devdb_count(db) == 4);
        d = devdb_find_by_ieee(db, 0x00158d0004a1b2c3);
        assert(d && strcmp(d->friendly_name, "living room/tv plug") == 0);
        assert(d->nwk == 0x5a3e && d->logical_type == DEV_LOGICAL_ROUTER && d->manufacturer_code == 0x115f);
        assert(d->node_power == DEV_NODE_POWER_MAINS && d->basic.power_source == 1);
        assert(strcmp(d->basic.model_id, "lumi.plug.mmeu01") == 0 && strcmp(d->basic.manufacturer_name, "LUMI") == 0);
        assert(strcmp(d->basic.date_code, "09-06-2019") == 0 && !d->basic.sw_build_id);
        assert(d->basic.app_version == 22 && d->basic.zcl_version == 3 && d->basic.stack_version == 2);
        assert(d->basic.hw_version == 1);
        assert(d->n_endpoints == 2 && d->endpoints[0].id == 1 && d->endpoints[0].profile == 260);
        assert(d->endpoints[0].device_id == 81 && d->endpoints[0].n_in == 10 && d->endpoints[0].in[9] == 0xfcc0);
        assert(d->endpoints[0].n_out == 2 && d->endpoints[0].out[1] == 0x0019);
        assert(d->endpoints[1].id == 242 && d->endpoints[1].profile == 0xa1e0 && d->endpoints[1].out[0] == 0x21);
        assert(d->interview == DEV_INTERVIEW_SUCCESSFUL && d->supported && strcmp(d->model, "ZNCZ04LM") == 0);
        assert(d->last_seen_usec == 1764391234567ULL * 1000);
        assert(strcmp(plain(d->options),
                      "{\"retain\":true,\"qos\":1,\"power_precision\":1,\"power_calibration\":-2.5,"
                      "\"energy_precision\":3,\"device_temperature_calibration\":-1,\"voltage_precision\":0,"
                      "\"state_action\":false,\"filtered_attributes\":[\"^linkquality$\"],"
                      "\"homeassistant\":{\"name\":\"TV plug\"}}") == 0);
        assert(strcmp(plain(d->state), "{\"state\":\"ON\",\"power\":61.5,\"energy\":12.34,\"voltage\":231,"
                                       "\"current\":0.27,\"device_temperature\":31,\"linkquality\":120}") == 0);

        d = devdb_find_by_name(db, "Kitchen kettle \xc3\xa9");
        assert(d && d->ieee == 0x00158d0004a1b2c4 && d->nwk == 0x1c07 && d->supported);
        assert(strcmp(plain(d->options), "{\"current_calibration\":0.5,\"optimistic\":true}") == 0);
        assert(strcmp(plain(d->state), "{}") == 0);

        d = devdb_find_by_name(db, "front door");
        assert(d && d->ieee == 0x00158d00045e1a2b && d->logical_type == DEV_LOGICAL_END_DEVICE);
        assert(d->node_power == DEV_NODE_POWER_BATTERY && d->basic.power_source == 3);
        assert(!d->supported && !d->model && strcmp(d->basic.sw_build_id, "3000-0001") == 0);
        assert(d->manufacturer_code == 4151 && d->n_endpoints == 1 && d->endpoints[0].in[2] == 0xffff);

        d = devdb_find_by_ieee(db, 0x00158d0004a1b2c5);
        assert(d && strcmp(d->friendly_name, "0x00158d0004a1b2c5") == 0);
        assert(d->interview == DEV_INTERVIEW_FAILED && d->n_endpoints == 0 && d->supported);
        assert(!devdb_find_by_ieee(db, 0x00124b0024c2a7f1));    /* the coordinator is not a device */
}

static void check_fixture_network(DevDb *db) {
        static const uint8_t key[16] = { 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13 };
        const DevNetwork *n = devdb_get_network(db);

        assert(n->valid && n->coordinator_ieee == 0x00124b0024c2a7f1);
        assert(n->pan_id == 0x1a62 && n->ext_pan_id == 0x123456789abcdef0 && n->channel == 15);
        assert(memcmp(n->network_key, key, 16) == 0);
}

static void test_the_fixture_directory_is_imported(void) {
        char *state;
        DevDb *db = empty_db(&state);
        Z2mImport imp;
        int r;

        r = z2m_import(db, fixture, &imp);
        if (r < 0)
                fprintf(stderr, "import failed: %s\n", imp.error);
        assert(r == 0);
        assert(imp.n_devices == 4 && imp.n_supported == 3 && imp.n_named == 4);
        assert(imp.coordinator_ieee == 0x00124b0024c2a7f1);
        assert(strcmp(imp.network_source, "coordinator_backup.json") == 0);
        assert(imp.n_warnings == 1);
        assert(strcmp(imp.warnings[0], "database.db: 1 group(s) not imported (lumiplugd has no groups)") == 0);
        z2m_import_done(&imp);
        check_fixture_devices(db);
        check_fixture_network(db);

        /* what was imported survives a save and a restart */
        assert(devdb_save(db) == 0);
        devdb_free(db);
        assert(devdb_new(&db, state) == 0);
        assert(devdb_load(db) == 0);
        check_fixture_devices(db);
        check_fixture_network(db);

        /* importing again replaces the same devices instead of duplicating them */
        assert(z2m_import(db, fixture, &imp) == 0);
        z2m_import_done(&imp);
        assert(devdb_count(db) == 4);
        devdb_free(db);
        remove_tree(state);
        free(state);
}

static void test_network_falls_back_to_configuration_yaml(void) {
        char *dir = copy_fixture(), *state;
        DevDb *db = empty_db(&state);
        Z2mImport imp;

        /* same network in both places: the backup's extended PAN id and configuration.yaml's
         * ext_pan_id list are both in display order and must come out equal */
        remove_path(dir, "coordinator_backup.json");
        assert(z2m_import(db, dir, &imp) == 0);
        assert(strcmp(imp.network_source, "configuration.yaml") == 0);
        check_fixture_network(db);
        z2m_import_done(&imp);
        devdb_free(db);
        remove_tree(state);
        free(state);

        /* GENERATE (never written back) and no backup: nothing to import, the coordinator decides */
        db = empty_db(&state);
        edit(dir, "configuration.yaml", "  pan_id: 6754\n", "  pan_id: GENERATE\n");
        assert(z2m_import(db, dir, &imp) == 0);
        assert(!imp.network_source && !devdb_get_network(db)->valid);
        assert(devdb_get_network(db)->coordinator_ieee == 0x00124b0024c2a7f1);
        assert(imp.n_warnings == 2 && strstr(imp.warnings[1], "adopted from the coordinator at start-up"));
        z2m_import_done(&imp);
        devdb_free(db);
        remove_tree(state);
        free(state);
        remove_tree(dir);
        free(dir);
}

static void test_a_mismatching_backup_wins_with_a_warning(void) {
        char *dir = copy_fixture(), *state;
        DevDb *db = empty_db(&state);
        Z2mImport imp;

        edit(dir, "configuration.yaml", "  pan_id: 6754\n", "  pan_id: 0x1234\n");
        assert(z2m_import(db, dir, &imp) == 0);
        check_fixture_network(db);
        assert(imp.n_warnings == 2 && strstr(imp.warnings[1], "the backup (what the coordinator holds) is imported"));
        z2m_import_done(&imp);
        devdb_free(db);
        remove_tree(state);
        free(state);

        /* ext_pan_id dd:..:dd means "use the coordinator's IEEE" to herdsman: no difference to report */
        db = empty_db(&state);
        edit(dir, "configuration.yaml", "  pan_id: 0x1234\n", "  pan_id: 6754\n");
        edit(dir, "configuration.yaml", "    - 18\n    - 52\n    - 86\n    - 120\n    - 154\n    - 188\n    - 222\n    - 240\n",
             "    - 0xdd\n    - 0xdd\n    - 0xdd\n    - 0xdd\n    - 0xdd\n    - 0xdd\n    - 0xdd\n    - 0xdd\n");
        assert(z2m_import(db, dir, &imp) == 0);
        check_fixture_network(db);
        assert(imp.n_warnings == 1);
        z2m_import_done(&imp);
        devdb_free(db);
        remove_tree(state);
        free(state);
        remove_tree(dir);
        free(dir);
}

static void test_devices_in_separate_files(void) {
        char *dir = copy_fixture(), *state, *conf, *cut;
        DevDb *db;
        Z2mImport imp;

        conf = read_path(dir, "configuration.yaml");
        cut = strstr(conf, "devices:\n");
        assert(cut);
        /* the devices map, unindented, in devices.yaml; configuration.yaml names the file */
        {
                char *devs = strdup(cut + strlen("devices:\n")), *out = calloc(1, strlen(devs) + 1), *o = out;
                for (char *line = strtok(devs, "\n"); line; line = strtok(NULL, "\n")) {
                        if (strncmp(line, "groups:", 7) == 0)
                                break;
                        o += sprintf(o, "%s\n", line + 2);
                }
                write_path(dir, "devices.yaml", out);
                free(devs);
                free(out);
        }
        strcpy(cut, "devices: devices.yaml\n");
        write_path(dir, "configuration.yaml", conf);
        free(conf);

        db = empty_db(&state);
        assert(z2m_import(db, dir, &imp) == 0);
        z2m_import_done(&imp);
        check_fixture_devices(db);
        devdb_free(db);
        remove_tree(state);
        free(state);

        /* a list of files: later files override earlier ones */
        write_path(dir, "more.yaml", "'0x00158d0004a1b2c4':\n  friendly_name: renamed later\n");
        edit(dir, "configuration.yaml", "devices: devices.yaml\n", "devices:\n  - devices.yaml\n  - more.yaml\n");
        db = empty_db(&state);
        assert(z2m_import(db, dir, &imp) == 0);
        z2m_import_done(&imp);
        assert(devdb_find_by_name(db, "renamed later")->ieee == 0x00158d0004a1b2c4);
        devdb_free(db);
        remove_tree(state);
        free(state);
        remove_tree(dir);
        free(dir);
}

/* Breaks a copy of the fixture with one edit and expects the import to refuse with message. */
static void expect_refusal(const char *file, const char *old, const char *new, const char *message) {
        char *dir = copy_fixture(), *state;
        DevDb *db = empty_db(&state);
        Z2mImport imp;
        Device *mine;
        int r;

        assert(devdb_add(db, 0x1234, 0x4321, &mine) == 0);
        assert(devdb_rename(db, mine, "already here") == 0);
        assert(devdb_save(db) == 0);
        if (old)
                edit(dir, file, old, new);
        else if (new)
                write_path(dir, file, new);
        else
                remove_path(dir, file);
        r = z2m_import(db, dir, &imp);
        if (r >= 0 || !strstr(imp.error, message))
                fprintf(stderr, "expected '%s', got %d '%s'\n", message, r, imp.error);
        assert(r < 0 && strstr(imp.error, message));
        /* all or nothing: the database did not change */
        assert(devdb_count(db) == 1 && devdb_find_by_name(db, "already here") && !devdb_is_dirty(db));
        assert(!devdb_get_network(db)->valid);
        z2m_import_done(&imp);
        devdb_free(db);
        remove_tree(state);
        free(state);
        remove_tree(dir);
        free(dir);
}

static void test_unreadable_input_is_refused_clearly(void) {
        expect_refusal("database.db", NULL, NULL, "database.db does not exist: is '/tmp/lumi-test-z2m-");
        expect_refusal("database.db", "{\"id\":3,", "{\"id\":3,,", "database.db:3: not valid JSON at offset 8");
        expect_refusal("database.db", "\"ieeeAddr\":\"0x00158d0004a1b2c3\"", "\"ieeeAddr\":\"00:15:8d\"",
                       "database.db:2: 'ieeeAddr' is missing or not an IEEE address");
        expect_refusal("database.db", "\"nwkAddr\":23102", "\"nwkAddr\":\"5a3e\"",
                       "database.db:2: device 0x00158d0004a1b2c3: 'nwkAddr' is not a number");
        expect_refusal("database.db", "\"type\":\"EndDevice\"", "\"type\":\"Sensor\"",
                       "database.db:4: unknown entry type 'Sensor'");
        expect_refusal("database.db", "\"interviewState\":\"FAILED\"", "\"interviewState\":\"MAYBE\"",
                       "database.db:6: device 0x00158d0004a1b2c5: unknown interviewState 'MAYBE'");
        expect_refusal("database.db", "0x00158d0004a1b2c4", "0x00158d0004a1b2c3",
                       "database.db:3: device 0x00158d0004a1b2c3: this IEEE address appears twice");
        expect_refusal("database.db", "\"inClusterList\":[0,2,3", "\"inClusterList\":[0,\"x\",3",
                       "database.db:2: device 0x00158d0004a1b2c3: 'inClusterList' holds something that is not a cluster id");
        expect_refusal("configuration.yaml", NULL, NULL, "configuration.yaml does not exist");
        expect_refusal("configuration.yaml", "    qos: 1\n", "    qos: &q 1\n",
                       "configuration.yaml:61: anchors ('&') are not supported");
        expect_refusal("configuration.yaml", "    power_precision: 1\n", "    power_precision: high\n",
                       "configuration.yaml:62: option 'power_precision' of 0x00158d0004a1b2c3: expected an "
                       "integer from 0 to 3, got high");
        expect_refusal("configuration.yaml", "    retain: true\n", "    retain: yes\n",
                       "configuration.yaml:60: option 'retain' of 0x00158d0004a1b2c3: expected true or false, got yes");
        expect_refusal("configuration.yaml", "friendly_name: front door", "friendly_name: living room/tv plug",
                       "configuration.yaml:77: friendly_name 'living room/tv plug' of 0x00158d00045e1a2b is also "
                       "the name of 0x00158d0004a1b2c3");
        expect_refusal("configuration.yaml", "friendly_name: front door", "friendly_name: front/door/1",
                       "configuration.yaml:77: friendly_name 'front/door/1' of 0x00158d00045e1a2b is not valid");
        expect_refusal("configuration.yaml", "  '0x00158d00045e1a2b':", "  'front-door':",
                       "configuration.yaml:76: device key 'front-door' is not an IEEE address");
        expect_refusal("configuration.yaml", "friendly_name: front door", "friendly_name: 'front door",
                       "configuration.yaml:77: single-quoted string not closed on this line");
        expect_refusal("configuration.yaml", "  '0x00158d0004a1b2c4':\n", "  '0x00158d0004a1b2c4':\n   bad: 1\n",
                       "configuration.yaml:74: unexpected indentation");
        expect_refusal("configuration.yaml", "devices:\n", "devices: missing.yaml\nunused:\n",
                       "/missing.yaml does not exist");
        expect_refusal("configuration.yaml", "  channel: 15\n", "  channel: 27\n",
                       "configuration.yaml:55: advanced.channel must be a number from 11 to 26");
        expect_refusal("configuration.yaml", "  network_key: [1, 3, 5,", "  network_key: [1, 3,",
                       "configuration.yaml:54: advanced.network_key must be a list of 16 bytes or GENERATE");
        expect_refusal("coordinator_backup.json", "\"version\": 1", "\"version\": 2",
                       "coordinator_backup.json: unsupported open coordinator backup version 2 (only 1 is read)");
        expect_refusal("coordinator_backup.json", "\"channel\": 15", "\"channel\": \"15\"",
                       "coordinator_backup.json: 'channel' is missing or not 11..26");
        expect_refusal("coordinator_backup.json", "{", "{{",
                       "coordinator_backup.json: not valid JSON at offset");
        expect_refusal("configuration.yaml", "friendly_name: front door", "friendly_name: already here",
                       "friendly name 'already here' of 0x00158d00045e1a2b is already used by 0x0000000000001234 "
                       "in the device database");
}

static void test_secret_references_are_followed(void) {
        char *dir = copy_fixture(), *state;
        DevDb *db = empty_db(&state);
        Z2mImport imp;

        remove_path(dir, "coordinator_backup.json");
        edit(dir, "configuration.yaml", "  network_key: [1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13]",
             "  network_key: '!secret network_key'");
        write_path(dir, "secret.yaml", "network_key:\n- 1\n- 3\n- 5\n- 7\n- 9\n- 11\n- 13\n- 15\n- 0\n- 2\n"
                                       "- 4\n- 6\n- 8\n- 10\n- 12\n- 13\n");
        assert(z2m_import(db, dir, &imp) == 0);
        check_fixture_network(db);
        z2m_import_done(&imp);
        devdb_free(db);
        remove_tree(state);
        free(state);
        remove_tree(dir);
        free(dir);
}

static void test_the_import_command_reports_and_saves(void) {
        char *state = strdup("/tmp/lumi-test-z2m-cmd-XXXXXX"), *out = NULL, *err = NULL;
        size_t n_out, n_err;
        FILE *fo, *fe;
        DevDb *db;

        assert(state && mkdtemp(state));
        fo = open_memstream(&out, &n_out);
        fe = open_memstream(&err, &n_err);
        assert(z2m_import_command(state, fixture, fo, fe) == 0);
        fclose(fo);
        fclose(fe);
        assert(strstr(out, "Imported 4 device(s) from "));
        assert(strstr(out, ": 3 supported plug(s), 4 friendly name(s) from the configuration.\n"));
        assert(strstr(out, "Coordinator 0x00124b0024c2a7f1.\n"));
        assert(strstr(out, "Network PAN id 0x1a62, extended PAN id 0x123456789abcdef0, channel 15 (and its key) "
                           "taken from coordinator_backup.json.\n"));
        assert(strstr(out, "devices.json; 4 device(s) in the database now.\n"));
        assert(strcmp(err, "lumiplugd: warning: database.db: 1 group(s) not imported (lumiplugd has no groups)\n") == 0);
        assert(!strstr(out, "0103050709") && !strstr(err, "0103050709"));     /* never the key */
        free(out);
        free(err);

        assert(devdb_new(&db, state) == 0);
        assert(devdb_load(db) == 0);
        check_fixture_devices(db);
        check_fixture_network(db);
        devdb_free(db);

        /* a refusal goes to err and changes nothing */
        fo = open_memstream(&out, &n_out);
        fe = open_memstream(&err, &n_err);
        assert(z2m_import_command(state, "/nonexistent", fo, fe) < 0);
        fclose(fo);
        fclose(fe);
        assert(n_out == 0);
        assert(strcmp(err, "lumiplugd: cannot import '/nonexistent': /nonexistent/database.db does not exist: "
                           "is '/nonexistent' a Zigbee2MQTT data directory?\n") == 0);
        free(out);
        free(err);
        remove_tree(state);
        free(state);
}

/* Random damage to each input file: the import either succeeds or refuses naming the file, never
 * crashes (run under ASan/UBSan in CI), and a refusal leaves the database untouched. */
static void test_damaged_inputs_never_crash_the_import(void) {
        static const char alphabet[] = " \n\t:-#'\"[]{},|>&*!?%@`\\0aZx\r\x01\xc3";
        char *dir = copy_fixture(), *state;
        DevDb *db = empty_db(&state);
        unsigned seed = 20261129, refused = 0, accepted = 0;

        for (unsigned it = 0; it < 400; it++) {
                const char *name = fixture_files[it % 4];
                char *orig = read_path(fixture, name), *m;
                size_t n = strlen(orig);
                Z2mImport imp;
                int r;

                m = malloc(n + 16);
                assert(m);
                memcpy(m, orig, n);
                for (int e = 0; e < 1 + (int) (rand_r(&seed) % 4); e++) {
                        size_t pos = (size_t) rand_r(&seed) % n;
                        char c = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];

                        switch (rand_r(&seed) % 3) {
                        case 0: m[pos] = c; break;
                        case 1: memmove(m + pos + 1, m + pos, n - pos); m[pos] = c; n++; break;
                        default: memmove(m + pos, m + pos + 1, n - pos - 1); n--; break;
                        }
                }
                if (rand_r(&seed) % 5 == 0)
                        n = (size_t) rand_r(&seed) % n;
                m[n] = 0;
                write_path(dir, name, m);
                r = z2m_import(db, dir, &imp);
                if (r < 0) {
                        refused++;
                        assert(imp.error[0]);
                        assert(devdb_count(db) == 0 || devdb_count(db) == 4);
                } else
                        accepted++;
                z2m_import_done(&imp);
                write_path(dir, name, orig);
                free(m);
                free(orig);
        }
        fprintf(stderr, "damaged inputs: %u refused, %u imported\n", refused, accepted);
        assert(refused > 0 && accepted > 0);
        devdb_free(db);
        remove_tree(state);
        free(state);
        remove_tree(dir);
        free(dir);
}

static void test_the_real_zigbee2mqtt_directory(const char *real) {
        static const uint8_t key[16] = { 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14 };
        char *state;
        DevDb *db = empty_db(&state);
        const DevNetwork *n;
        Z2mImport imp;
        Device *d;
        int r;

        r = z2m_import(db, real, &imp);
        if (r < 0)
                fprintf(stderr, "import of %s failed: %s\n", real, imp.error);
        assert(r == 0);
        assert(imp.n_devices == 2 && imp.n_supported == 2 && imp.n_named == 2 && imp.n_warnings == 0);
        assert(imp.coordinator_ieee == 0x00124b0029a1b2c3);
        assert(strcmp(imp.network_source, "coordinator_backup.json") == 0);
        z2m_import_done(&imp);
        n = devdb_get_network(db);
        /* the same values Zigbee2MQTT published in bridge/info (tests/peer/reference/bridge-info.json) */
        assert(n->valid && n->pan_id == 6754 && n->ext_pan_id == 0xdddddddddddddd11 && n->channel == 11);
        assert(n->coordinator_ieee == 0x00124b0029a1b2c3 && memcmp(n->network_key, key, 16) == 0);

        d = devdb_find_by_name(db, "plug1");
        assert(d && d->ieee == 0x00158d0001a2b301 && d->nwk == 23878 && d->supported);
        assert(strcmp(d->model, "ZNCZ04LM") == 0 && d->interview == DEV_INTERVIEW_SUCCESSFUL);
        assert(d->logical_type == DEV_LOGICAL_ROUTER && d->manufacturer_code == 4447);
        assert(d->n_endpoints == 4 && d->endpoints[0].id == 1 && d->endpoints[1].id == 21);
        assert(d->endpoints[2].id == 22 && d->endpoints[3].id == 242);
        assert(d->endpoints[0].n_in == 7 && d->endpoints[0].in[6] == 0xfcc0);
        json_object *power;
        assert(json_object_object_get_ex(d->state, "power", &power) && json_object_get_int(power) == 120);
        d = devdb_find_by_name(db, "plug2");
        assert(d && d->ieee == 0x04cf8cdf3c7a5b02 && d->nwk == 47016 && d->supported);
        devdb_free(db);
        remove_tree(state);
        free(state);
}

/* A data directory captured from the real Zigbee2MQTT by the peer tests, if present. */
static int find_captured(const char *dir, int depth, char *ret, size_t n) {
        char p[1024];
        struct stat st;
        DIR *d;
        struct dirent *e;
        int found = 0;

        snprintf(p, sizeof(p), "%s/database.db", dir);
        if (stat(p, &st) == 0) {
                snprintf(p, sizeof(p), "%s/configuration.yaml", dir);
                if (stat(p, &st) == 0) {
                        snprintf(ret, n, "%s", dir);
                        return 1;
                }
        }
        if (depth == 0 || !(d = opendir(dir)))
                return 0;
        while (!found && (e = readdir(d)))
                if (e->d_name[0] != '.' && strcmp(e->d_name, "node_modules") != 0) {
                        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                                found = find_captured(p, depth - 1, ret, n);
                }
        closedir(d);
        return found;
}

static void test_a_captured_zigbee2mqtt_directory(const char *peer) {
        char captured[1024], *state, *text;
        DevDb *db;
        Z2mImport imp;
        size_t rows = 0, plugs = 0;
        int r;

        if (!peer || !find_captured(peer, 3, captured, sizeof(captured))) {
                fprintf(stderr, "no captured Zigbee2MQTT data directory under %s; that part is skipped\n",
                        peer ? peer : "(none)");
                return;
        }
        fprintf(stderr, "importing the captured Zigbee2MQTT directory %s\n", captured);
        text = read_path(captured, "database.db");
        for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
                if (strstr(l, "\"type\":\"Router\"") || strstr(l, "\"type\":\"EndDevice\"")) {
                        rows++;
                        if (strstr(l, "\"modelId\":\"lumi.plug.mmeu01\""))
                                plugs++;
                }
        free(text);
        db = empty_db(&state);
        r = z2m_import(db, captured, &imp);
        if (r < 0)
                fprintf(stderr, "import of %s failed: %s\n", captured, imp.error);
        assert(r == 0);
        for (size_t i = 0; i < imp.n_warnings; i++)
                fprintf(stderr, "warning: %s\n", imp.warnings[i]);
        assert(imp.n_devices == rows && imp.n_supported == plugs && imp.coordinator_ieee != 0);
        for (size_t i = 0; i < devdb_count(db); i++) {
                Device *d = devdb_get(db, i);
                fprintf(stderr, "  0x%016" PRIx64 " nwk 0x%04x '%s' %s\n", d->ieee, d->nwk, d->friendly_name,
                        d->model ? d->model : "(unsupported)");
        }
        z2m_import_done(&imp);
        assert(devdb_save(db) == 0);
        devdb_free(db);
        remove_tree(state);
        free(state);
}

int main(int argc, char **argv) {
        assert(argc >= 2);
        fixture = argv[1];
        test_the_fixture_directory_is_imported();
        test_network_falls_back_to_configuration_yaml();
        test_a_mismatching_backup_wins_with_a_warning();
        test_devices_in_separate_files();
        test_unreadable_input_is_refused_clearly();
        test_secret_references_are_followed();
        test_the_import_command_reports_and_saves();
        test_damaged_inputs_never_crash_the_import();
        if (argc >= 3)
                test_the_real_zigbee2mqtt_directory(argv[2]);
        test_a_captured_zigbee2mqtt_directory(argc >= 4 ? argv[3] : NULL);
        return 0;
}
