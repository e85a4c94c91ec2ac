/*
 * World-readable secrets: see secret-files.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/secret-files.h"

typedef struct Warnings {
        char *text;
        size_t size;
        FILE *f;
        int count;
} Warnings;

static void check_file(Warnings *w, const char *path, const char *holds) {
        struct stat st;

        if (!path || stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IROTH))
                return;
        fprintf(w->f, "%s holds %s and every user can read it (mode %04o); run: chmod 0640 %s\n",
                path, holds, (unsigned) (st.st_mode & 07777), path);
        w->count++;
}

int config_check_secret_files(const Config *c, char **ret_warnings) {
        Warnings w = {};
        bool ini_password, ini_key;
        int r;

        if (!c)
                return -EINVAL;
        w.f = open_memstream(&w.text, &w.size);
        if (!w.f)
                return -ENOMEM;

        /* password_file leaves the password out of the INI; the loader fills mqtt.password from it */
        ini_password = c->mqtt.password && !c->mqtt.password_file;
        ini_key = c->zigbee.network_key.set;
        if (ini_password || ini_key)
                check_file(&w, c->path,
                           ini_password && ini_key ? "the MQTT password and the network key" :
                           ini_password ? "the MQTT password" : "the network key");
        check_file(&w, c->mqtt.password_file, "the MQTT password (password_file)");
        check_file(&w, c->mqtt.key_file, "the TLS private key (key_file)");

        r = fclose(w.f) == 0 ? w.count : -ENOMEM;
        if (r > 0 && ret_warnings)
                *ret_warnings = w.text;
        else
                free(w.text);
        return r;
}
