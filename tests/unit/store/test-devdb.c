/*
 * Device database: round trips, lookups, rename and address rules, bounds, atomic saves, corrupt
 * and too-new files.
 */
#undef NDEBUG
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/devdb.h"
#include "util/macro.h"

static char dir[] = "/tmp/lumi-test-devdb-XXXXXX";

static void path_of(char *buf, size_t n, const char *name) {
        snprintf(buf, n, "%s/%s", dir, name);
}

static void write_text(const char *name, const char *text) {
        char p[512];
        FILE *f;

        path_of(p, sizeof(p), name);
        f = fopen(p, "we");
        assert(f);
        assert(fputs(text, f) >= 0);
        assert(fclose(f) == 0);
}

static char *read_text(const char *name) {
        char p[512], *buf;
        size_t len;

        path_of(p, sizeof(p), name);
        if (devdb_read_file(p, &buf, &len) < 0)
                return NULL;
        return buf;
}

static void clean_dir(void) {
        DIR *d = opendir(dir);
        struct dirent *e;

        assert(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.') {
                        char p[512];
                        path_of(p, sizeof(p), e->d_name);
                        assert(unlink(p) == 0);
                }
        closedir(d);
}

/* The name of the one file starting with prefix, or NULL. */
static char *find_file(const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char *found = NULL;

        assert(d);
        while ((e = readdir(d)))
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
                        assert(!found);
                        found = strdup(e->d_name);
                }
        closedir(d);
        return found;
}

static DevDb *open_db(int expect) {
        DevDb *db;
        int r;

        assert(devdb_new(&db, dir) == 0);
        r = devdb_load(db);
        if (r != expect)
                fprintf(stderr, "load: %d (%s), expected %d\n", r, devdb_last_error(db), expect);
        assert(r == expect);
        return db;
}

static void fill_plug(DevDb *db, Device *d) {
        DevEndpoint eps[2] = {
                { .id = 1, .profile = 0x0104, .device_id = 0x0051, .n_in = 3, .in = { 0x0000, 0x0006, 0xfcc0 },
                  .n_out = 2, .out = { 0x000a, 0x0019 } },
                { .id = 242, .profile = 0xa1e0, .device_id = 0x0061, .n_out = 1, .out = { 0x0021 } },
        };

        d->logical_type = DEV_LOGICAL_ROUTER;
        d->manufacturer_code = 0x115f;
        d->node_power = DEV_NODE_POWER_MAINS;
        assert(devdb_set_endpoints(db, d, eps, 2) == 0);
        assert(devdb_set_string(db, &d->basic.model_id, "lumi.plug.mmeu01") == 0);
        assert(devdb_set_string(db, &d->basic.manufacturer_name, "LUMI") == 0);
        assert(devdb_set_string(db, &d->basic.date_code, "09-06-2019") == 0);
        d->basic.power_source = 1;
        d->basic.zcl_version = 3;
        d->basic.app_version = 22;
        d->basic.stack_version = 2;
        d->basic.hw_version = 1;
        d->interview = DEV_INTERVIEW_SUCCESSFUL;
        d->supported = true;
        assert(devdb_set_string(db, &d->model, "ZNCZ04LM") == 0);
        assert(devdb_set_options(db, d, json_tokener_parse("{\"power_precision\":1,\"retain\":true}")) == 0);
        assert(devdb_set_state(db, d, json_tokener_parse("{\"state\":\"ON\",\"power\":12.5}")) == 0);
        devdb_touch(db, d, 1764391234567000ULL);
}

static void test_round_trip_keeps_every_field(void) {
        DevDb *db = open_db(0);
        DevNetwork net = { .valid = true, .coordinator_ieee = 0x00124b0024c2a7f1, .pan_id = 0x1a62,
                           .ext_pan_id = 0x123456789abcdef0, .channel = 15,
                           .network_key = { 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13 } };
        Device *d, *e;
        struct stat st;
        char p[512];

        assert(devdb_count(db) == 0 && !devdb_is_dirty(db));
        assert(devdb_add(db, 0x00158d0004a1b2c3, 0x5a3e, &d) == 0);
        assert(strcmp(d->friendly_name, "0x00158d0004a1b2c3") == 0);
        fill_plug(db, d);
        assert(devdb_rename(db, d, "living room/tv plug") == 0);
        assert(devdb_add(db, 0x00158d00045e1a2b, 0x7a69, &e) == 0);
        devdb_set_network(db, &net);
        assert(devdb_is_dirty(db));
        assert(devdb_save(db) == 0);
        assert(!devdb_is_dirty(db));
        devdb_free(db);

        path_of(p, sizeof(p), "network.json");
        assert(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
        path_of(p, sizeof(p), "devices.json");
        assert(stat(p, &st) == 0 && (st.st_mode & 0777) == 0644);

        db = open_db(0);
        assert(devdb_count(db) == 2);
        d = devdb_find_by_name(db, "living room/tv plug");
        assert(d && d == devdb_find_by_ieee(db, 0x00158d0004a1b2c3) && d == devdb_find_by_nwk(db, 0x5a3e));
        assert(d->logical_type == DEV_LOGICAL_ROUTER && d->manufacturer_code == 0x115f);
        assert(d->node_power == DEV_NODE_POWER_MAINS);
        assert(d->n_endpoints == 2 && d->endpoints[0].id == 1 && d->endpoints[0].n_in == 3);
        assert(d->endpoints[0].in[2] == 0xfcc0 && d->endpoints[1].id == 242 && d->endpoints[1].profile == 0xa1e0);
        assert(d->endpoints[1].n_in == 0 && d->endpoints[1].out[0] == 0x0021);
        assert(strcmp(d->basic.model_id, "lumi.plug.mmeu01") == 0);
        assert(strcmp(d->basic.manufacturer_name, "LUMI") == 0);
        assert(strcmp(d->basic.date_code, "09-06-2019") == 0 && !d->basic.sw_build_id);
        assert(d->basic.power_source == 1 && d->basic.zcl_version == 3 && d->basic.app_version == 22);
        assert(d->basic.stack_version == 2 && d->basic.hw_version == 1);
        assert(d->interview == DEV_INTERVIEW_SUCCESSFUL && d->supported && strcmp(d->model, "ZNCZ04LM") == 0);
        assert(strcmp(json_object_to_json_string_ext(d->options, JSON_C_TO_STRING_PLAIN),
                      "{\"power_precision\":1,\"retain\":true}") == 0);
        assert(strcmp(json_object_to_json_string_ext(d->state, JSON_C_TO_STRING_PLAIN),
                      "{\"state\":\"ON\",\"power\":12.5}") == 0);
        assert(d->last_seen_usec == 1764391234567000ULL);
        e = devdb_find_by_ieee(db, 0x00158d00045e1a2b);
        assert(e && e->interview == DEV_INTERVIEW_PENDING && !e->supported && !e->model);
        assert(e->basic.power_source == -1 && e->basic.app_version == -1 && e->n_endpoints == 0);
        const DevNetwork *got = devdb_get_network(db);
        assert(got->valid && got->coordinator_ieee == net.coordinator_ieee && got->pan_id == net.pan_id);
        assert(got->ext_pan_id == net.ext_pan_id && got->channel == net.channel);
        assert(memcmp(got->network_key, net.network_key, 16) == 0);
        /* the key is stored, but only in the 0600 file */
        char *text = read_text("devices.json");
        assert(text && !strstr(text, "01030507090b0d0f"));
        free(text);
        text = read_text("network.json");
        assert(text && strstr(text, "\"network_key\": \"01030507090b0d0f00020406080a0c0d\""));
        assert(strstr(text, "\"ext_pan_id\": \"0x123456789abcdef0\""));
        free(text);
        devdb_free(db);
        clean_dir();
}

static void test_duplicate_and_invalid_names_are_refused(void) {
        DevDb *db = open_db(0);
        Device *a, *b;

        assert(devdb_add(db, 1, 0x1001, &a) == 0);
        assert(devdb_add(db, 2, 0x1002, &b) == 0);
        assert(devdb_add(db, 1, 0x1003, NULL) == -EEXIST);
        assert(devdb_rename(db, a, "kettle") == 0);
        assert(devdb_rename(db, b, "kettle") == -EEXIST);
        assert(strcmp(b->friendly_name, "0x0000000000000002") == 0);
        assert(devdb_rename(db, a, "kettle") == 0);             /* its own name: fine */
        assert(devdb_rename(db, b, "") == -EINVAL);
        assert(devdb_rename(db, b, "a/b/") == -EINVAL);
        assert(devdb_rename(db, b, "/a") == -EINVAL);
        assert(devdb_rename(db, b, "plug/2") == -EINVAL);
        assert(devdb_rename(db, b, "plug+") == -EINVAL);
        assert(devdb_rename(db, b, "pl#ug") == -EINVAL);
        assert(devdb_rename(db, b, "tab\there") == -EINVAL);
        assert(devdb_rename(db, b, "room/plug 2") == 0);
        assert(devdb_find_by_name(db, "room/plug 2") == b);
        assert(devdb_remove(db, 1) == 0 && devdb_remove(db, 1) == -ENOENT);
        assert(!devdb_find_by_name(db, "kettle"));
        devdb_free(db);
}

static void test_address_change_on_reannounce_is_tracked(void) {
        DevDb *db = open_db(0);
        Device *a, *b;

        assert(devdb_add(db, 0xa, 0x1111, &a) == 0);
        assert(devdb_add(db, 0xb, 0x2222, &b) == 0);
        assert(devdb_save(db) == 0);
        assert(devdb_set_nwk(db, a, 0x1111) == 0 && !devdb_is_dirty(db));
        assert(devdb_set_nwk(db, a, 0x3333) == 1 && devdb_is_dirty(db));
        assert(devdb_find_by_nwk(db, 0x3333) == a && !devdb_find_by_nwk(db, 0x1111));
        /* b re-announces with the address a used to have... and a then takes b's old one */
        assert(devdb_set_nwk(db, b, 0x3333) == 1);
        assert(a->nwk == DEVDB_NWK_UNKNOWN && devdb_find_by_nwk(db, 0x3333) == b);
        assert(!devdb_find_by_nwk(db, DEVDB_NWK_UNKNOWN));
        assert(devdb_save(db) == 0);
        devdb_free(db);

        db = open_db(0);
        assert(devdb_find_by_ieee(db, 0xb)->nwk == 0x3333);
        assert(devdb_find_by_ieee(db, 0xa)->nwk == DEVDB_NWK_UNKNOWN);
        devdb_free(db);
        clean_dir();
}

static void test_the_table_is_bounded(void) {
        DevDb *db = open_db(0);
        DevEndpoint many[DEVDB_ENDPOINTS_MAX + 1] = {};
        Device *d;

        for (uint64_t i = 0; i < DEVDB_DEVICES_MAX; i++)
                assert(devdb_add(db, 0x1000 + i, (uint16_t) i, NULL) == 0);
        assert(devdb_add(db, 0x9999, 0x9999, NULL) == -ENOBUFS);
        d = devdb_get(db, 0);
        assert(devdb_set_endpoints(db, d, many, ELEMENTSOF(many)) == -ENOBUFS);
        many[0].n_in = DEVDB_CLUSTERS_MAX + 1;
        assert(devdb_set_endpoints(db, d, many, 1) == -ENOBUFS);
        char big[DEVDB_STRING_MAX + 2];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        assert(devdb_set_string(db, &d->basic.model_id, big) == -E2BIG);
        json_object *array = json_object_new_array();
        assert(devdb_set_state(db, d, array) == -EINVAL);      /* not taken */
        json_object_put(array);
        assert(devdb_save(db) == 0);
        devdb_free(db);
        db = open_db(0);
        assert(devdb_count(db) == DEVDB_DEVICES_MAX);
        devdb_free(db);
        clean_dir();
}

static void test_interrupted_save_never_replaces_the_file(void) {
        DevDb *db = open_db(0);
        Device *d;
        char *before;

        assert(devdb_add(db, 0x00158d0004a1b2c3, 0x5a3e, &d) == 0);
        assert(devdb_rename(db, d, "kept") == 0);
        assert(devdb_save(db) == 0);
        devdb_free(db);
        before = read_text("devices.json");

        /* a crash in the middle of writing leaves a truncated temp file behind */
        write_text("devices.json.tmp", "{ \"format\": \"lumiplugd-devices\", \"version\": 1, \"devi");
        db = open_db(0);
        assert(devdb_count(db) == 1 && devdb_find_by_name(db, "kept"));
        char *tmp = find_file("devices.json.tmp");
        assert(!tmp);   /* removed as the leftover it is */

        /* a save that cannot be written completely (file size limit -> EFBIG) changes nothing */
        pid_t pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                struct rlimit rl = { .rlim_cur = 64, .rlim_max = 64 };

                signal(SIGXFSZ, SIG_IGN);
                assert(setrlimit(RLIMIT_FSIZE, &rl) == 0);
                assert(devdb_rename(db, devdb_get(db, 0), "renamed in a failed save") == 0);
                for (int i = 0; i < 20; i++)
                        assert(devdb_add(db, 0x100 + (uint64_t) i, (uint16_t) i, NULL) == 0);
                int r = devdb_save(db);
                if (r != -EFBIG || !strstr(devdb_last_error(db), "devices.json.tmp': File too large"))
                        _exit(1);
                if (!devdb_is_dirty(db))
                        _exit(2);
                _exit(0);
        }
        int status;
        assert(waitpid(pid, &status, 0) == pid);
        assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        char *after = read_text("devices.json");
        assert(after && strcmp(before, after) == 0);
        assert(!find_file("devices.json.tmp"));
        free(after);
        free(before);
        devdb_free(db);

        db = open_db(0);
        assert(devdb_count(db) == 1 && devdb_find_by_name(db, "kept"));
        devdb_free(db);
        clean_dir();
}

static void expect_set_aside(const char *content, const char *reason) {
        DevDb *db;
        char *aside, *text;

        write_text("devices.json", content);
        db = open_db(DEVDB_LOAD_RECOVERED);
        assert(devdb_count(db) == 0);
        aside = find_file("devices.json.corrupt-");
        assert(aside);
        if (!strstr(devdb_last_error(db), reason))
                fprintf(stderr, "message: %s\nexpected: %s\n", devdb_last_error(db), reason);
        assert(strstr(devdb_last_error(db), reason));
        assert(strstr(devdb_last_error(db), "devices.json is corrupt ("));
        assert(strstr(devdb_last_error(db), aside));
        assert(strstr(devdb_last_error(db), "and starting with an empty device database"));
        /* the evidence is kept byte for byte */
        text = read_text(aside);
        assert(text && strcmp(text, content) == 0);
        free(text);
        /* and a clean file replaces the corrupt one at the next save */
        assert(devdb_is_dirty(db));
        assert(devdb_save(db) == 0);
        devdb_free(db);
        db = open_db(0);
        assert(devdb_count(db) == 0);
        devdb_free(db);
        free(aside);
        clean_dir();
}

/* energy_monotonic's record: absent until set, kept exactly, bad values refused. */
static void test_energy_counter_round_trip(void) {
        DevDb *db = open_db(0);
        Device *d;
        char *text;

        assert(devdb_add(db, 0x00158d0004a1b2c3, 0x5a3e, &d) == 0);
        assert(devdb_save(db) == 0);
        text = read_text("devices.json");
        assert(text && !strstr(text, "energy_counter"));
        free(text);
        assert(!d->energy_known);
        assert(devdb_set_energy(db, d, NAN, 1) == -EINVAL && devdb_set_energy(db, d, 1, -1) == -EINVAL);
        assert(!devdb_is_dirty(db) && !d->energy_known);
        assert(devdb_set_energy(db, d, 13.4297, 0.1234567890123) == 1 && devdb_is_dirty(db));
        assert(devdb_save(db) == 0);
        assert(devdb_set_energy(db, d, 13.4297, 0.1234567890123) == 0 && !devdb_is_dirty(db));
        devdb_free(db);

        db = open_db(0);
        d = devdb_find_by_ieee(db, 0x00158d0004a1b2c3);
        assert(d && d->energy_known && d->energy_offset == 13.4297 && d->energy_last_device == 0.1234567890123);
        devdb_free(db);
        clean_dir();
        expect_set_aside("{\"format\":\"lumiplugd-devices\",\"version\":1,\"devices\":[{\"ieee\":\"0x0000000000000001\","
                         "\"nwk\":1,\"friendly_name\":\"a\",\"logical_type\":\"router\",\"node_power\":\"mains\","
                         "\"interview\":\"successful\",\"manufacturer_code\":0,\"supported\":true,"
                         "\"energy_counter\":{\"offset\":-1,\"last_device\":0}}]}",
                         "device 0x0000000000000001: 'energy_counter.offset' is not a finite number >= 0");
}

static void test_corrupt_files_are_set_aside_with_the_reason(void) {
        expect_set_aside("{ \"format\": \"lumiplugd-devices\", \"version\": 1, \"devices\": [ { \"ieee\": ",
                         "not valid JSON: unexpected end of file");
        expect_set_aside("garbage\n", "not valid JSON at offset 0");
        expect_set_aside("{\"format\":\"lumiplugd-devices\",\"version\":1,\"devices\":[]} x",
                         "not valid JSON at offset 56");
        expect_set_aside("[]", "the top level is not a JSON object");
        expect_set_aside("{\"format\":\"something-else\",\"version\":1,\"devices\":[]}",
                         "'format' is 'something-else', expected 'lumiplugd-devices'");
        expect_set_aside("{\"format\":\"lumiplugd-devices\",\"version\":1,\"devices\":[{\"ieee\":\"0x12\"}]}",
                         "device #1: 'ieee' is not an IEEE address: '0x12'");
        expect_set_aside("{\"format\":\"lumiplugd-devices\",\"version\":1,\"devices\":[{\"ieee\":\"0x0000000000000001\","
                         "\"nwk\":70000}]}",
                         "device 0x0000000000000001: 'nwk' is out of range (0..65535)");
}

static void test_duplicate_entries_in_the_file_are_corruption(void) {
        DevDb *db = open_db(0);
        Device *a, *b;
        char *text, *p;

        assert(devdb_add(db, 1, 1, &a) == 0);
        assert(devdb_add(db, 2, 2, &b) == 0);
        assert(devdb_rename(db, a, "same") == 0 && devdb_rename(db, b, "other") == 0);
        assert(devdb_save(db) == 0);
        devdb_free(db);
        text = read_text("devices.json");
        p = strstr(text, "\"other\"");
        assert(p);
        memcpy(p, "\"same\" ", 7);      /* same length as "other" + quotes */
        write_text("devices.json", text);
        free(text);
        db = open_db(DEVDB_LOAD_RECOVERED);
        assert(strstr(devdb_last_error(db), "device 0x0000000000000002: friendly name 'same' is used twice"));
        devdb_free(db);
        clean_dir();
}

static void test_an_interview_cut_short_loads_as_pending(void) {
        DevDb *db = open_db(0);
        Device *a;

        assert(devdb_add(db, 1, 1, &a) == 0);
        a->interview = DEV_INTERVIEW_IN_PROGRESS;      /* the process was killed in the middle */
        devdb_mark_dirty(db);
        assert(devdb_save(db) == 0);
        devdb_free(db);
        db = open_db(0);
        a = devdb_find_by_ieee(db, 1);
        assert(a && a->interview == DEV_INTERVIEW_PENDING);
        devdb_free(db);
        clean_dir();
}

static void test_a_newer_format_is_refused_and_left_alone(void) {
        static const char newer[] = "{\"format\":\"lumiplugd-devices\",\"version\":2,\"devices\":[],\"new\":1}";
        DevDb *db;
        char *text;

        write_text("devices.json", newer);
        assert(devdb_new(&db, dir) == 0);
        assert(devdb_load(db) == -EPROTONOSUPPORT);
        assert(strstr(devdb_last_error(db), "devices.json was written by a newer lumiplugd (format version 2, "
                                            "this one reads up to 1); refusing to read or overwrite it"));
        devdb_free(db);
        text = read_text("devices.json");
        assert(text && strcmp(text, newer) == 0);
        free(text);
        assert(!find_file("devices.json.corrupt"));
        clean_dir();
}

static void test_a_corrupt_network_file_keeps_the_devices(void) {
        DevDb *db = open_db(0);

        assert(devdb_add(db, 7, 7, NULL) == 0);
        assert(devdb_save(db) == 0);
        devdb_free(db);
        write_text("network.json", "{\"format\":\"lumiplugd-network\",\"version\":1,\"pan_id\":4660,"
                                   "\"ext_pan_id\":\"0x1\",\"network_key\":\"00\",\"channel\":11}");
        db = open_db(DEVDB_LOAD_RECOVERED);
        assert(devdb_count(db) == 1);
        assert(!devdb_get_network(db)->valid);
        assert(strstr(devdb_last_error(db), "network.json is corrupt ('ext_pan_id' is not 16 hex digits)"));
        devdb_free(db);
        clean_dir();
}

static void test_files_belong_to_the_state_directory_owner(void) {
        DevDb *db;
        struct stat st;
        char p[512];

        if (geteuid() != 0) {
                fprintf(stderr, "not root: file ownership not tested\n");
                return;
        }
        /* as when root runs lumiplugd --import-z2m in the daemon user's state directory */
        assert(chown(dir, 65534, 65534) == 0);
        db = open_db(0);
        assert(devdb_add(db, 1, 1, NULL) == 0);
        devdb_set_network(db, &(DevNetwork) { .valid = true, .pan_id = 1, .channel = 11 });
        assert(devdb_save(db) == 0);
        devdb_free(db);
        path_of(p, sizeof(p), "devices.json");
        assert(stat(p, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534);
        path_of(p, sizeof(p), "network.json");
        assert(stat(p, &st) == 0 && st.st_uid == 65534 && (st.st_mode & 0777) == 0600);
        assert(chown(dir, 0, 0) == 0);
        clean_dir();
}

/* Random damage to a saved devices.json: loading either succeeds or sets the file aside, never
 * crashes, and what was set aside is exactly the damaged file. */
static void test_damaged_files_load_or_are_set_aside(void) {
        static const char alphabet[] = " \n:,\"[]{}0x9a-\\\x01";
        unsigned seed = 7, recovered = 0, loaded = 0;
        DevDb *db = open_db(0);
        char *good;

        for (uint64_t i = 0; i < 3; i++) {
                Device *d;
                assert(devdb_add(db, 0x00158d0000000000 + i, (uint16_t) (0x100 + i), &d) == 0);
                fill_plug(db, d);
        }
        assert(devdb_save(db) == 0);
        devdb_free(db);
        good = read_text("devices.json");

        for (unsigned it = 0; it < 300; it++) {
                size_t n = strlen(good);
                char *m = strdup(good), *aside;
                int r;

                for (int e = 0; e < 1 + (int) (rand_r(&seed) % 3); e++) {
                        size_t pos = (size_t) rand_r(&seed) % n;
                        if (rand_r(&seed) % 2)
                                m[pos] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
                        else {
                                memmove(m + pos, m + pos + 1, n - pos);
                                n--;
                        }
                }
                write_text("devices.json", m);
                assert(devdb_new(&db, dir) == 0);
                r = devdb_load(db);
                assert(r == 0 || r == DEVDB_LOAD_RECOVERED);
                if (r == DEVDB_LOAD_RECOVERED) {
                        char *text;

                        recovered++;
                        aside = find_file("devices.json.corrupt-");
                        assert(aside && devdb_count(db) == 0);
                        text = read_text(aside);
                        assert(strcmp(text, m) == 0);
                        free(text);
                        char p[512];
                        path_of(p, sizeof(p), aside);
                        assert(unlink(p) == 0);
                        free(aside);
                } else
                        loaded++;
                devdb_free(db);
                free(m);
        }
        fprintf(stderr, "damaged files: %u set aside, %u still loadable\n", recovered, loaded);
        assert(recovered > 0);
        free(good);
        clean_dir();
}

static void test_helpers(void) {
        uint64_t v;

        assert(devdb_parse_ieee("0x00158D0004a1b2c3", &v) == 0 && v == 0x00158d0004a1b2c3);
        assert(devdb_parse_ieee("00158d0004a1b2c3", &v) == 0);
        assert(devdb_parse_ieee("0x00158d0004a1b2c", &v) == -EINVAL);
        assert(devdb_parse_ieee("0x00158d0004a1b2cg", &v) == -EINVAL);
        assert(dev_interview_state_from_string("in_progress") == DEV_INTERVIEW_IN_PROGRESS);
        assert(dev_interview_state_from_string("bogus") == _DEV_INTERVIEW_INVALID);
        assert(strcmp(dev_logical_type_to_string(DEV_LOGICAL_END_DEVICE), "end_device") == 0);
        assert(dev_logical_type_from_string("router") == DEV_LOGICAL_ROUTER);
}

/* The file is written device by device; it must be byte for byte what json-c prints for the
 * whole document (the format before streaming), with 0, 1 and many devices, odd strings included. */
static void check_file_is_json_c_pretty(void) {
        char *text = read_text("devices.json");
        json_object *o;
        const char *again;

        assert(text);
        o = json_tokener_parse(text);
        assert(o);
        again = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
        assert(strlen(text) == strlen(again) + 1 && strncmp(text, again, strlen(again)) == 0 &&
               text[strlen(again)] == '\n');
        json_object_put(o);
        free(text);
}

static int provider_calls;
static json_object *test_provider(const Device *d, void *userdata) {
        provider_calls++;
        return json_tokener_parse(userdata);
}

static void test_streamed_file_and_live_states(void) {
        DevDb *db = open_db(0);
        Device *d;

        clean_dir();
        devdb_free(db);
        db = open_db(0);
        devdb_mark_dirty(db);
        assert(devdb_save(db) == 0);
        check_file_is_json_c_pretty();                 /* no device */
        for (uint64_t i = 1; i <= 40; i++) {
                assert(devdb_add(db, 0x00158d0000000000 + i, (uint16_t) i, &d) == 0);
                fill_plug(db, d);
                if (i == 3)
                        assert(devdb_rename(db, d, "kitchen/\"odd\" \\ name\u00e9") == 0);
                if (i == 1) {
                        assert(devdb_save(db) == 0);
                        check_file_is_json_c_pretty();  /* one device */
                }
        }
        assert(devdb_save(db) == 0);
        check_file_is_json_c_pretty();

        /* state changes and last-seen times are not structural; the provider's state is written */
        devdb_set_state_provider(db, test_provider, (void *) "{\"state\":\"OFF\",\"power\":0.25}");
        d = devdb_find_by_nwk(db, 2);
        assert(!devdb_is_dirty(db));
        devdb_state_changed(db, d);
        devdb_touch(db, devdb_find_by_nwk(db, 5), 1764391234568000ULL);
        assert(devdb_is_dirty(db) && devdb_is_dirty_state(db) && !devdb_is_dirty_structurally(db));
        assert(provider_calls == 0);                    /* nothing built until the file is written */
        assert(devdb_save(db) == 0);
        assert(provider_calls == 1 && !devdb_is_dirty(db));
        check_file_is_json_c_pretty();
        assert(!d->state && d->state_live);             /* not kept in memory */
        {
                char *text = read_text("devices.json");
                assert(text && strstr(text, "\"state\": \"OFF\",\n        \"power\": 0.25\n"));
                free(text);
        }
        assert(devdb_set_energy(db, d, 1.5, 2.5) == 1 && devdb_is_dirty_structurally(db));
        assert(devdb_save(db) == 0 && provider_calls == 2);
        /* a state set directly (the importer) is no longer the provider's */
        assert(devdb_set_state(db, d, json_tokener_parse("{\"state\":\"ON\"}")) == 0);
        assert(devdb_save(db) == 0 && provider_calls == 2);
        devdb_free(db);

        db = open_db(0);
        d = devdb_find_by_nwk(db, 2);
        assert(strcmp(json_object_to_json_string_ext(d->state, JSON_C_TO_STRING_PLAIN), "{\"state\":\"ON\"}") == 0);
        assert(strcmp(devdb_find_by_nwk(db, 3)->friendly_name, "kitchen/\"odd\" \\ name\u00e9") == 0);
        assert(devdb_find_by_nwk(db, 5)->last_seen_usec == 1764391234568000ULL);
        devdb_free(db);
        clean_dir();
}

int main(void) {
        assert(mkdtemp(dir));
        test_helpers();
        test_round_trip_keeps_every_field();
        test_duplicate_and_invalid_names_are_refused();
        test_address_change_on_reannounce_is_tracked();
        test_the_table_is_bounded();
        test_interrupted_save_never_replaces_the_file();
        test_energy_counter_round_trip();
        test_corrupt_files_are_set_aside_with_the_reason();
        test_duplicate_entries_in_the_file_are_corruption();
        test_an_interview_cut_short_loads_as_pending();
        test_a_newer_format_is_refused_and_left_alone();
        test_a_corrupt_network_file_keeps_the_devices();
        test_files_belong_to_the_state_directory_owner();
        test_damaged_files_load_or_are_set_aside();
        test_streamed_file_and_live_states();
        clean_dir();
        assert(rmdir(dir) == 0);
        return 0;
}
