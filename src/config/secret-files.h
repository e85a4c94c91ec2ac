/*
 * Files holding a secret that every user of the machine can read: lumiplugd.ini when it holds the
 * MQTT password or the network key, [mqtt] password_file and key_file. They are warned about, not
 * refused (an editor or a copy may have left the mode; the fix is one chmod).
 */
#pragma once

#include "config/configuration.h"

/*
 * Checks the files of c (c->path is the INI). Returns the number of warnings (0: none) and, when
 * there are any and ret_warnings is not NULL, one line per file ending in '\n', naming the file, its
 * mode, what it holds and the fix; or -errno (out of memory). A file that cannot be stat'ed is
 * skipped: the configuration loader has reported it already.
 */
int config_check_secret_files(const Config *c, char **ret_warnings);
