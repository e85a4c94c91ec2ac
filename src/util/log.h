/*
 * Logging: one call per event, to the journal (native protocol, with structured fields) when we run
 * under journald or are told to, else as one plain line on stderr. Never pass secrets to these.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <syslog.h>

#include "util/macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,        /* the journal if stderr is connected to it (JOURNAL_STREAM), else stderr */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* Structured journal fields a caller may attach; NULL members are left out. */
typedef struct LogFields {
        const char *device;     /* LUMIPLUGD_DEVICE=0x00158d0001a2b3c4 */
        const char *name;       /* LUMIPLUGD_NAME=<friendly name> */
        const char *topic;      /* LUMIPLUGD_TOPIC=<MQTT topic> */
        const char *znp_cmd;    /* LUMIPLUGD_ZNP_CMD=<MT command, e.g. ZDO_STARTUP_FROM_APP> */
        const char *error;      /* LUMIPLUGD_ERROR=<short error kind, e.g. connack-refused> */
        const char *message_id; /* MESSAGE_ID=<128-bit id, 32 hex digits> for events an operator acts on */
} LogFields;

/* Messages above this syslog level (LOG_DEBUG..LOG_ERR) are dropped. Default LOG_INFO. */
void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget target);
LogTarget log_get_target(void);
/* Whether messages currently go to the journal (target journal, or auto with JOURNAL_STREAM matching). */
bool log_uses_journal(void);

const char *log_level_to_string(int level);
int log_level_from_string(const char *s);       /* LOG_* or -EINVAL */
const char *log_target_to_string(LogTarget t);
LogTarget log_target_from_string(const char *s);

/* Returns -abs(error) (or 0 if error is 0), so `return log_error_errno(r, "...: %m");` works; errno is
 * set to abs(error) while formatting so that %m names it. */
int log_internal(int level, int error, const LogFields *fields,
                 const char *file, int line, const char *func, const char *format, ...) _printf_(7, 8);

#define log_full_errno_fields(level, error, fields, ...) \
        log_internal((level), (error), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full_errno(level, error, ...) log_full_errno_fields(level, error, NULL, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...)  log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* With fields: log_fields(LOG_NOTICE, 0, &(LogFields) { .device = ieee }, "Plug %s joined", ieee); */
#define log_fields(level, error, fields, ...) log_full_errno_fields(level, error, fields, __VA_ARGS__)
