/*
 * The daemon context: one Manager owns the event loop, the configuration, the MQTT connection and
 * the signal sources, and tells systemd how things are (READY=1, STATUS=, RELOADING=1, STOPPING=1,
 * and the watchdog through sd-event). The Zigbee side plugs in as one more component: it calls
 * manager_require_component() before start, then reports through manager_set_component_ready();
 * READY=1 waits for every required component. STATUS= ("3 plugs, 3 online, mqtt connected,
 * coordinator ready", app/status.h) is sent whenever its text changes: the Manager knows the MQTT
 * part, the Zigbee side reports the coordinator, the plugs and permit join.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config/configuration.h"
#include "app/status.h"
#include "app/zigbee.h"
#include "mqtt/mqtt.h"
#include "util/macro.h"

typedef enum ManagerComponent {
        MANAGER_COMPONENT_MQTT,
        MANAGER_COMPONENT_ZIGBEE,
        _MANAGER_COMPONENT_MAX,
} ManagerComponent;

#define MANAGER_RELOAD_HOOKS_MAX 8

typedef struct Manager Manager;

/*
 * Called after a successful reload, once the run-time changeable settings are in m's config. The
 * [device ...] sections are replaced only when at least one hook is registered: a component that
 * keeps pointers into m->config->devices must register one and refresh them there, because the
 * previous device sections are freed right after the hooks ran. Without any hook, device changes
 * are logged as needing a restart.
 */
typedef void (*ManagerReloadFn)(Manager *m, void *userdata);

struct Manager {
        sd_event *event;
        Config *config;                 /* what runs; keys that need a restart keep their start value */
        char *config_path;
        int verbosity;                  /* -v count, added to [log] level */

        Mqtt *mqtt;
        ZigbeeService *zigbee;          /* the coordinator, devices and the MQTT bridge (src/app) */
        struct Control *control;        /* the lumiplugctl socket (src/control), NULL: none */
        struct Metrics *metrics;        /* the Prometheus endpoint (src/metrics), NULL: off */
        bool reform;                    /* lumiplugd --reform: replace a mismatching network */

        sd_event_source *sigterm, *sigint, *sighup;

        unsigned components_required, components_ready;         /* bit masks of ManagerComponent */
        DaemonStatus status;
        char status_sent[256];          /* the last STATUS= text, so that only changes are sent */
        bool ready_sent;
        bool stopping;

        struct {
                ManagerReloadFn fn;
                void *userdata;
        } reload_hooks[MANAGER_RELOAD_HOOKS_MAX];
        size_t n_reload_hooks;
};

/* Takes ownership of config. */
int manager_new(Manager **ret, Config *config, const char *config_path, int verbosity);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

int manager_start(Manager *m);
/* Runs the loop until a clean stop; returns the exit code. */
int manager_run(Manager *m);

void manager_require_component(Manager *m, ManagerComponent c);
void manager_set_component_ready(Manager *m, ManagerComponent c, bool ready);
/* The parts of STATUS= the Zigbee side knows; each sends STATUS= if the text changed. reason may be NULL. */
void manager_set_coordinator_status(Manager *m, StatusCoordinator state, unsigned retry_sec, const char *reason);
void manager_set_plug_counts(Manager *m, unsigned plugs, unsigned online, bool online_known);
void manager_set_permit_join(Manager *m, unsigned seconds);
int manager_add_reload_hook(Manager *m, ManagerReloadFn fn, void *userdata);

/* SIGHUP does this: re-read the configuration, apply what can change at run time. */
int manager_reload(Manager *m);
/* SIGTERM/SIGINT do this: publish offline, disconnect, leave the loop with exit code 0. */
void manager_stop(Manager *m);

/* Logs the error lines of config_load() (each with LUMIPLUGD_DEVICE= if about a [device] section). */
void manager_log_config_errors(char *errors);

/* The log level from [log] level and the -v count. */
int manager_effective_log_level(const Config *c, int verbosity);
