/*
 * The daemon's one-line status, as systemd shows it (STATUS=): the plugs, the MQTT connection and
 * the coordinator, e.g. "3 plugs, 3 online, mqtt connected, coordinator ready". Pure: it formats
 * what it is given; the Manager collects the parts and sends the text only when it changes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum StatusMqtt {
        STATUS_MQTT_CONNECTING,         /* the first attempt is under way */
        STATUS_MQTT_CONNECTED,
        STATUS_MQTT_DOWN,               /* waiting retry_sec before the next attempt */
} StatusMqtt;

typedef enum StatusCoordinator {
        STATUS_COORDINATOR_STARTING,    /* opening the port, probing, starting the network */
        STATUS_COORDINATOR_READY,
        STATUS_COORDINATOR_RESET,       /* it reset by itself: starting it again */
        STATUS_COORDINATOR_LOST,        /* port gone or start-up failed: reopening in retry_sec */
        STATUS_COORDINATOR_REFUSED,     /* it holds another network: the daemon stops */
} StatusCoordinator;

typedef struct DaemonStatus {
        unsigned plugs, online;
        bool online_known;              /* false: availability is not tracked, the online count is left out */

        StatusMqtt mqtt;
        uint64_t mqtt_retry_usec;
        char mqtt_reason[64];           /* why it is down, "" if unknown */

        StatusCoordinator coordinator;
        unsigned coordinator_retry_sec;
        char coordinator_reason[64];    /* why it is lost or refused, "" if unknown */

        unsigned permit_join_sec;       /* 0: closed; else how long it was opened for */
} DaemonStatus;

/* Writes the text into buf (truncated to size); returns buf. */
const char *daemon_status_format(const DaemonStatus *s, char *buf, size_t size);
