/*
 * Secret files others can read: lumiplugd.ini holding a password or the network key, password_file
 * and key_file each draw one warning naming the file, its mode and the fix; 0640 and 0600 do not.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/configuration.h"
#include "config/secret-files.h"

static char dir[] = "/tmp/lumi-secret-files-test.XXXXXX";

static char *path_of(const char *name) {
        char *p;

        assert(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static void write_file(const char *path, const char *text, mode_t mode) {
        FILE *f = fopen(path, "we");

        assert(f);
        assert(fputs(text, f) >= 0);
        assert(fclose(f) == 0);
        assert(chmod(path, mode) == 0);
}

/* Loads text as lumiplugd.ini (mode ini_mode); returns the warnings (NULL: none) and their count. */
static char *warnings_of(const char *text, mode_t ini_mode, int *ret_count) {
        char *ini = path_of("lumiplugd.ini"), *errors = NULL, *warnings = NULL;
        Config *c = NULL;

        write_file(ini, text, ini_mode);
        assert(config_load(ini, &c, &errors) == 0);
        assert(!errors);
        *ret_count = config_check_secret_files(c, &warnings);
        assert(*ret_count >= 0);
        assert((*ret_count == 0) == (warnings == NULL));
        config_free(c);
        free(ini);
        return warnings;
}

int main(void) {
        char *ini = NULL, *pwfile = NULL, *text = NULL, *w, *expect;
        int n;

        assert(mkdtemp(dir));
        ini = path_of("lumiplugd.ini");
        pwfile = path_of("password");

        /* nothing secret: any mode is fine */
        w = warnings_of("[mqtt]\nhost = broker\n", 0644, &n);
        assert(n == 0 && !w);

        /* a password in the INI */
        w = warnings_of("[mqtt]\nusername = u\npassword = hunter2\n", 0644, &n);
        assert(n == 1);
        assert(asprintf(&expect, "%s holds the MQTT password and every user can read it (mode 0644); "
                        "run: chmod 0640 %s\n", ini, ini) > 0);
        assert(strcmp(w, expect) == 0);
        assert(!strstr(w, "hunter2"));
        free(w);
        free(expect);
        w = warnings_of("[mqtt]\nusername = u\npassword = hunter2\n", 0640, &n);
        assert(n == 0 && !w);
        w = warnings_of("[mqtt]\nusername = u\npassword = hunter2\n", 0600, &n);
        assert(n == 0 && !w);

        /* the network key, and both */
        w = warnings_of("[zigbee]\nnetwork_key = 0102030405060708090a0b0c0d0e0f10\n", 0604, &n);
        assert(n == 1 && strstr(w, " holds the network key and every user can read it (mode 0604)"));
        assert(!strstr(w, "0102030405"));
        free(w);
        w = warnings_of("[mqtt]\nusername = u\npassword = p\n[zigbee]\nnetwork_key = auto\n", 0644, &n);
        assert(n == 1 && strstr(w, " holds the MQTT password and every user"));
        free(w);
        w = warnings_of("[mqtt]\nusername = u\npassword = p\n[zigbee]\nnetwork_key = 0102030405060708090a0b0c0d0e0f10\n",
                        0666, &n);
        assert(n == 1 && strstr(w, " holds the MQTT password and the network key and every user can read it (mode 0666)"));
        free(w);

        /* password_file: the file with the password is what matters, not the INI */
        write_file(pwfile, "hunter2\n", 0644);
        assert(asprintf(&text, "[mqtt]\nusername = u\npassword_file = %s\n", pwfile) > 0);
        w = warnings_of(text, 0644, &n);
        assert(n == 1);
        assert(asprintf(&expect, "%s holds the MQTT password (password_file) and every user can read it (mode 0644); "
                        "run: chmod 0640 %s\n", pwfile, pwfile) > 0);
        assert(strcmp(w, expect) == 0);
        free(w);
        free(expect);
        assert(chmod(pwfile, 0640) == 0);
        w = warnings_of(text, 0644, &n);
        assert(n == 0 && !w);
        free(text);

        assert(config_check_secret_files(NULL, &w) == -EINVAL);

        (void) unlink(pwfile);
        (void) unlink(ini);
        (void) rmdir(dir);
        free(pwfile);
        free(ini);
        return 0;
}
