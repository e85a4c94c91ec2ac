/*
 * Fuzz target: lumiplugd.ini as config_load() reads it (src/config/configuration.h), written to a
 * fresh file in /tmp. A load either succeeds with a configuration that can be compared with the
 * defaults and searched, or fails with -EINVAL and at least one error line naming the file.
 *
 * Inputs naming paths under /dev, /proc or /sys are skipped: password_file opens and reads the path
 * it is given, and a tty or a pipe there would make the run hang on something that is not input.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <string.h>

#include "config/configuration.h"
#include "fuzz.h"

static void on_change(const char *section, const char *key, bool needs_restart, void *userdata) {
        unsigned *n = userdata;

        FUZZ_CHECK(section && key);
        (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const special[] = { "/dev", "/proc", "/sys", "/run", "/tmp" };
        char dir[64], path[96], *errors = NULL;
        Config *c = NULL, *defaults = NULL;
        unsigned changes = 0;
        int r;

        if (size > 64 * 1024)
                return 0;
        for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
                if (memmem(data, size, special[i], strlen(special[i])))
                        return 0;

        fuzz_tmpdir_new(dir);
        fuzz_write_file(dir, "lumiplugd.ini", data, size);
        FUZZ_CHECK(snprintf(path, sizeof(path), "%s/lumiplugd.ini", dir) < (int) sizeof(path));

        r = config_load(path, &c, &errors);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
                FUZZ_CHECK(!c);
                if (r == -EINVAL)
                        FUZZ_CHECK(errors && strstr(errors, path));
        } else {
                FUZZ_CHECK(c);
                FUZZ_CHECK(c->n_devices <= CONFIG_DEVICES_MAX);
                for (size_t i = 0; i < c->n_devices; i++) {
                        FUZZ_CHECK(config_find_device(c, c->devices[i].ieee));
                        if (c->devices[i].friendly_name)
                                FUZZ_CHECK(config_find_device_by_name(c, c->devices[i].friendly_name));
                }
                FUZZ_CHECK(config_new(&defaults) == 0);
                config_diff(defaults, c, on_change, &changes);
                changes = 0;
                config_diff(c, c, on_change, &changes);
                FUZZ_CHECK(changes == 0);
                config_free(defaults);
                config_free(c);
        }
        free(errors);

        fuzz_tmpdir_remove(dir);
        return 0;
}
