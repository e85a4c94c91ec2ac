/*
 * lumiplugd: argv, configuration, and the Manager's loop.
 * Exit codes: 0 clean stop or a good --check-config, 1 configuration error or failure, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "config/configuration.h"
#include "config/secret-files.h"
#include "manager.h"
#include "store/z2m-import.h"
#include "util/log.h"
#ifdef LUMIPLUGD_DEBUG_HOOKS
#include "debug-hooks.h"    /* lumiplugd-debug only (tests/debug): never in the installed daemon */
#endif

#define DEFAULT_CONFIG_PATH SYSCONFDIR "/lumiplugd/lumiplugd.ini"

static const char *arg_config = DEFAULT_CONFIG_PATH;
static bool arg_check_config;
static int arg_verbosity;
static bool arg_reform;
static const char *arg_import_z2m;

static void help(void) {
        printf("Usage: lumiplugd [OPTIONS]\n"
               "\n"
               "Xiaomi ZNCZ04LM Zigbee plugs on MQTT through a Z-Stack coordinator.\n"
               "\n"
               "  -c, --config PATH   configuration file (default %s)\n"
               "      --check-config  check the configuration, print every error, exit 0 or 1\n"
               "      --reform        replace a coordinator network that does not match [zigbee]\n"
               "                      (every device must pair again)\n"
               "      --import-z2m DIR  import a Zigbee2MQTT data directory (database.db,\n"
               "                      configuration.yaml) into the device database, then exit\n"
               "  -v, --verbose       log more (each -v one level more, up to debug)\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n"
               "\n"
               "Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop cleanly.\n"
               "See %s\n", DEFAULT_CONFIG_PATH, PACKAGE_URL);
}

enum {
        ARG_CHECK_CONFIG = 0x100,
        ARG_VERSION,
        ARG_REFORM,
        ARG_IMPORT_Z2M,
};

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config",       required_argument, NULL, 'c' },
                { "check-config", no_argument,       NULL, ARG_CHECK_CONFIG },
                { "verbose",      no_argument,       NULL, 'v' },
                { "help",         no_argument,       NULL, 'h' },
                { "version",      no_argument,       NULL, ARG_VERSION },
                { "reform",       no_argument,       NULL, ARG_REFORM },
                { "import-z2m",   required_argument, NULL, ARG_IMPORT_Z2M },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_CHECK_CONFIG:
                        arg_check_config = true;
                        break;
                case 'v':
                        arg_verbosity++;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_REFORM:
                        arg_reform = true;
                        break;
                case ARG_IMPORT_Z2M:
                        arg_import_z2m = optarg;
                        break;
                case ARG_VERSION:
                        printf("lumiplugd %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'lumiplugd --help'.\n");
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "lumiplugd: unexpected argument '%s'. Try 'lumiplugd --help'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *errors = NULL, *warnings = NULL;
        char *line, *save = NULL;
        Config *config = NULL;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        r = config_load(arg_config, &config, &errors);
        if (arg_check_config) {
                if (r < 0) {
                        fputs(errors ?: "", stderr);
                        if (!errors)
                                fprintf(stderr, "%s: %s\n", arg_config, strerror(-r));
                        return 1;
                }
                if (config_check_secret_files(config, &warnings) > 0)
                        for (line = strtok_r(warnings, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                                fprintf(stderr, "warning: %s\n", line);
                printf("%s: configuration OK\n", arg_config);
                config_free(config);
                return 0;
        }
        if (r < 0) {
                log_set_max_level(LOG_INFO);
                manager_log_config_errors(errors);
                log_error_errno(r, "Refusing to start with a broken configuration (%s)", arg_config);
                (void) sd_notifyf(false, "STATUS=configuration error in %s", arg_config);
                return 1;
        }

        if (arg_import_z2m) {
                r = z2m_import_command(config->state.directory, arg_import_z2m, stdout, stderr);
                config_free(config);
                return r < 0 ? 1 : 0;
        }

        /* glibc raises its mmap threshold to the size of any mmapped block that is freed: after the
         * first bridge/devices (~1.3 MB with 200 plugs) every later big buffer came from the heap,
         * whose freed top stayed resident up to twice that. Fixed thresholds keep big buffers in
         * mmap (given back when freed) and trim the heap's top. */
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        (void) mallopt(M_TRIM_THRESHOLD, 128 * 1024);

        /* sd-event sees signals through a signalfd: they must be blocked. A dropped broker
         * connection must not kill us through SIGPIPE. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m"), 1;
        (void) signal(SIGPIPE, SIG_IGN);

        r = manager_new(&m, config, arg_config, arg_verbosity);
        if (r < 0) {
                log_error_errno(r, "Cannot set up: %m");
                return 1;
        }

#ifdef LUMIPLUGD_DEBUG_HOOKS
        r = debug_hooks_install(m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot install the debug hooks: %m"), 1;
#endif
        /* a secret others can read is worth a warning, not a refusal to start (logged where [log]
         * says, now that the manager has applied it) */
        if (config_check_secret_files(m->config, &warnings) > 0)
                for (line = strtok_r(warnings, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                        log_warning("%s", line);

        m->reform = arg_reform;
        r = manager_start(m);
        if (r < 0) {
                log_error_errno(r, "Cannot start: %m");
                return 1;
        }

        r = manager_run(m);
        (void) sd_notify(false, "STOPPING=1");
        return r == 0 ? 0 : 1;
}
