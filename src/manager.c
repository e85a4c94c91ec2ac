/*
 * The Manager (see manager.h): start-up, readiness, reload and stop, and what systemd is told.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "control/control.h"
#include "control/listen-fds.h"
#include "manager.h"
#include "metrics/metrics.h"
#include "util/log.h"

#define USEC_PER_SEC 1000000ULL

int manager_effective_log_level(const Config *c, int verbosity) {
        int level = c->log.level + MAX(verbosity, 0);

        return MIN(level, LOG_DEBUG);
}

void manager_log_config_errors(char *errors) {
        char *line, *save = NULL;

        for (line = errors ? strtok_r(errors, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                /* "file:line: [device 0x...] key ...": the section the error is in is its first bracket */
                const char *b = strchr(line, '[');
                unsigned long long ieee;
                char device[19];
                int n = 0;

                if (b && strncmp(b, "[device 0x", 10) == 0 && strspn(b + 10, "0123456789abcdefABCDEF") == 16 &&
                    sscanf(b, "[device 0x%16llx]%n", &ieee, &n) == 1 && n == 27) {
                        (void) snprintf(device, sizeof(device), "0x%016llx", ieee);
                        log_fields(LOG_ERR, 0, &((LogFields) { .device = device, .error = "bad-configuration" }),
                                   "%s", line);
                } else
                        log_fields(LOG_ERR, 0, &((LogFields) { .error = "bad-configuration" }), "%s", line);
        }
}

static void manager_apply_logging(Manager *m) {
        log_set_max_level(manager_effective_log_level(m->config, m->verbosity));
        log_set_target((LogTarget) m->config->log.target);
}

static void manager_format_status(Manager *m, char *buf, size_t size) {
        daemon_status_format(&m->status, buf, size);
}

/* extra (e.g. "READY=1\n") if given, and STATUS= if its text changed. */
static void manager_notify_status(Manager *m, const char *extra) {
        char status[sizeof(m->status_sent)], msg[sizeof(status) + 64];

        if (m->stopping)
                return;
        manager_format_status(m, status, sizeof(status));
        if (strcmp(status, m->status_sent) == 0) {
                if (extra)
                        (void) sd_notify(false, extra);
                return;
        }
        memcpy(m->status_sent, status, sizeof(status));
        (void) snprintf(msg, sizeof(msg), "%sSTATUS=%s", extra ?: "", status);
        (void) sd_notify(false, msg);
}

static void manager_check_ready(Manager *m) {
        if (m->stopping || m->ready_sent)
                return;
        if ((m->components_ready & m->components_required) != m->components_required)
                return;
        m->ready_sent = true;
        log_info("Ready");
        manager_notify_status(m, "READY=1\n");
}

void manager_require_component(Manager *m, ManagerComponent c) {
        m->components_required |= 1U << c;
}

void manager_set_component_ready(Manager *m, ManagerComponent c, bool ready) {
        if (ready)
                m->components_ready |= 1U << c;
        else
                m->components_ready &= ~(1U << c);
        manager_check_ready(m);
}

void manager_set_coordinator_status(Manager *m, StatusCoordinator state, unsigned retry_sec, const char *reason) {
        m->status.coordinator = state;
        m->status.coordinator_retry_sec = retry_sec;
        (void) snprintf(m->status.coordinator_reason, sizeof(m->status.coordinator_reason), "%s", reason ?: "");
        manager_notify_status(m, NULL);
}

void manager_set_plug_counts(Manager *m, unsigned plugs, unsigned online, bool online_known) {
        m->status.plugs = plugs;
        m->status.online = online;
        m->status.online_known = online_known;
        manager_notify_status(m, NULL);
}

void manager_set_permit_join(Manager *m, unsigned seconds) {
        m->status.permit_join_sec = seconds;
        manager_notify_status(m, NULL);
}

int manager_add_reload_hook(Manager *m, ManagerReloadFn fn, void *userdata) {
        if (m->n_reload_hooks >= MANAGER_RELOAD_HOOKS_MAX)
                return -ENOBUFS;
        m->reload_hooks[m->n_reload_hooks].fn = fn;
        m->reload_hooks[m->n_reload_hooks].userdata = userdata;
        m->n_reload_hooks++;
        return 0;
}

static void manager_on_mqtt_state(Mqtt *mqtt, MqttState state, uint64_t retry_usec, const char *reason,
                                  void *userdata) {
        Manager *m = userdata;

        switch (state) {
        case MQTT_STATE_CONNECTED:
                m->status.mqtt = STATUS_MQTT_CONNECTED;
                manager_notify_status(m, NULL);
                manager_set_component_ready(m, MANAGER_COMPONENT_MQTT, true);
                break;
        case MQTT_STATE_WAITING:
                m->status.mqtt = STATUS_MQTT_DOWN;
                m->status.mqtt_retry_usec = retry_usec;
                (void) snprintf(m->status.mqtt_reason, sizeof(m->status.mqtt_reason), "%s", reason ?: "");
                manager_set_component_ready(m, MANAGER_COMPONENT_MQTT, false);
                manager_notify_status(m, NULL);
                zigbee_service_mqtt_disconnected(m->zigbee);
                break;
        case MQTT_STATE_CONNECTING:
                /* a retry keeps saying why the previous attempt failed until this one ends */
                manager_notify_status(m, NULL);
                break;
        default:
                break;
        }
}

static void manager_on_mqtt_stopped(Mqtt *mqtt, void *userdata) {
        Manager *m = userdata;

        (void) sd_event_exit(m->event, 0);
}

void manager_stop(Manager *m) {
        if (m->stopping)
                return;
        m->stopping = true;
        log_info("Stopping");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        if (m->mqtt)
                (void) mqtt_shutdown(m->mqtt, manager_on_mqtt_stopped, m);
        else
                (void) sd_event_exit(m->event, 0);
}

static int manager_on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->stopping) {
                /* A second signal: do not wait for the broker any longer. */
                log_notice("Received %s again, exiting now", strsignal((int) si->ssi_signo));
                (void) sd_event_exit(m->event, 0);
                return 0;
        }
        log_info("Received %s", strsignal((int) si->ssi_signo));
        manager_stop(m);
        return 0;
}

static void manager_on_config_change(const char *section, const char *key, bool needs_restart, void *userdata) {
        Manager *m = userdata;
        const char *device = strncmp(section, "device ", 7) == 0 ? section + 7 : NULL;

        /* Device sections are only swapped when some component takes them over in a reload hook
         * (it may keep pointers into them); without one they wait for a restart like other keys. */
        if (device && m->n_reload_hooks == 0)
                log_fields(LOG_WARNING, 0, &((LogFields) { .device = device }),
                           "Reload: [%s] %s; it takes effect only after a restart (systemctl restart "
                           "lumiplugd), keeping the running value", section,
                           strcmp(key, "*") == 0 ? "added or removed" : key);
        else if (strcmp(key, "*") == 0)
                log_fields(LOG_INFO, 0, &((LogFields) { .device = device }), "Reload: [%s] added or removed",
                           section);
        else if (device)
                log_fields(LOG_INFO, 0, &((LogFields) { .device = device }), "Reload: [%s] %s changed, applied",
                           section, key);
        else if (needs_restart)
                log_warning("Reload: [%s] %s changed; it takes effect only after a restart "
                            "(systemctl restart lumiplugd), keeping the running value", section, key);
        else
                log_info("Reload: [%s] %s changed, applied", section, key);
}

static void manager_reload_status(Manager *m, const char *result) {
        char status[sizeof(m->status_sent)], msg[sizeof(status) + 128];

        manager_format_status(m, status, sizeof(status));
        /* Before the first READY=1 a reload must not claim readiness: that still waits for the
         * components. */
        (void) snprintf(msg, sizeof(msg), "%sSTATUS=%s%s%s", m->ready_sent ? "READY=1\n" : "", status,
                        *status ? "; " : "", result);
        (void) sd_notify(false, msg);
        (void) snprintf(m->status_sent, sizeof(m->status_sent), "%s", strstr(msg, "STATUS=") + 7);
}

int manager_reload(Manager *m) {
        _cleanup_(config_freep) Config *new = NULL;
        _cleanup_free_ char *errors = NULL;
        struct timespec ts;
        char msg[128];
        int r;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        /* MONOTONIC_USEC lets Type=notify-reload (systemd 253+) match this to its SIGHUP. */
        if (m->ready_sent)
                (void) snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                                (unsigned long long) ts.tv_sec * USEC_PER_SEC +
                                (unsigned long long) ts.tv_nsec / 1000);
        else
                (void) snprintf(msg, sizeof(msg), "STATUS=reloading");
        (void) sd_notify(false, msg);
        (void) snprintf(m->status_sent, sizeof(m->status_sent), "reloading");
        log_info("Reloading %s", m->config_path);

        r = config_load(m->config_path, &new, &errors);
        if (r < 0) {
                manager_log_config_errors(errors);
                log_error_errno(r, "Reload failed, keeping the running configuration: %s",
                                r == -EINVAL ? "the file has errors" : strerror(-r));
                manager_reload_status(m, "reload failed, running configuration kept");
                return r;
        }

        config_diff(m->config, new, manager_on_config_change, m);

        /* Take over exactly what the table marks as changeable at run time. */
        m->config->log = new->log;
        m->config->mqtt.retain = new->mqtt.retain;
        m->config->mqtt.qos = new->mqtt.qos;
        if (m->n_reload_hooks > 0) {
                DeviceConfig *d = m->config->devices;
                size_t n = m->config->n_devices;

                m->config->devices = new->devices;
                m->config->n_devices = new->n_devices;
                new->devices = d;
                new->n_devices = n;
        }
        manager_apply_logging(m);

        for (size_t i = 0; i < m->n_reload_hooks; i++)
                m->reload_hooks[i].fn(m, m->reload_hooks[i].userdata);

        log_info("Reloaded %s", m->config_path);
        manager_reload_status(m, "configuration reloaded");
        return 0;
}

static int manager_on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (!m->stopping)
                (void) manager_reload(m);
        return 0;
}

int manager_new(Manager **ret, Config *config, const char *config_path, int verbosity) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        assert(ret && config && config_path);

        m = calloc(1, sizeof(*m));
        if (!m) {
                config_free(config);
                return -ENOMEM;
        }
        m->config = config;
        m->verbosity = verbosity;
        m->config_path = strdup(config_path);
        if (!m->config_path)
                return -ENOMEM;
        manager_apply_logging(m);

        r = sd_event_new(&m->event);
        if (r < 0)
                return r;

        /* The signals must be blocked for sd-event's signalfd to see them (main() does that). */
        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, manager_on_stop_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, manager_on_stop_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, manager_on_sighup, m);
        if (r < 0)
                return r;

        /* WATCHDOG=1 at half of WATCHDOG_USEC while the loop turns; nothing without a watchdog. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog, ignoring: %m");

        r = mqtt_new(&m->mqtt, m->event, &m->config->mqtt);
        if (r < 0)
                return r;
        mqtt_set_state_callback(m->mqtt, manager_on_mqtt_state, m);
        manager_require_component(m, MANAGER_COMPONENT_MQTT);

        r = zigbee_service_new(&m->zigbee, m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->control = control_free(m->control);
        m->metrics = metrics_free(m->metrics);
        m->zigbee = zigbee_service_free(m->zigbee);
        m->mqtt = mqtt_free(m->mqtt);
        m->sigterm = sd_event_source_disable_unref(m->sigterm);
        m->sigint = sd_event_source_disable_unref(m->sigint);
        m->sighup = sd_event_source_disable_unref(m->sighup);
        m->event = sd_event_unref(m->event);
        m->config = config_free(m->config);
        free(m->config_path);
        free(m);
        return NULL;
}

int manager_start(Manager *m) {
        int r, control_fd, metrics_fd;

        /* the local interfaces first: a control socket already in use stops us before anything */
        r = listen_fds_take(&control_fd, &metrics_fd);
        if (r < 0)
                return r;
        r = control_new(&m->control, m, control_fd, m->config->control.socket);
        if (r >= 0)
                r = metrics_new(&m->metrics, m, metrics_fd, m->config->metrics.listen);
        else if (metrics_fd >= 0)
                (void) close(metrics_fd);
        if (r < 0)
                return r;

        for (size_t i = 0; i < m->config->n_devices; i++) {
                const DeviceConfig *d = &m->config->devices[i];
                char ieee[19];

                (void) snprintf(ieee, sizeof(ieee), "0x%016" PRIx64, d->ieee);
                log_fields(LOG_DEBUG, 0, &((LogFields) { .device = ieee, .name = d->friendly_name }),
                           "Device %s is configured%s%s%s", ieee, d->friendly_name ? " as '" : "",
                           d->friendly_name ?: "", d->friendly_name ? "'" : "");
        }
        log_info("lumiplugd starting with %s: MQTT broker %s, base topic '%s'", m->config_path,
                 mqtt_describe(m->mqtt), m->config->mqtt.base_topic);
        r = mqtt_start(m->mqtt);
        if (r < 0)
                return r;
        return zigbee_service_start(m->zigbee, m->reform);
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), 1;
        log_info("Stopped");
        return r;
}
