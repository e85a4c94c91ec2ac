/*
 * Logging backend: the journal's native protocol through sd_journal_sendv(), or plain stderr lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
/* We send CODE_FILE/LINE/FUNC of the caller ourselves, not those of this file. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "util/log.h"

static int log_max_level = LOG_INFO;
static LogTarget log_target = LOG_TARGET_AUTO;
static int log_journal_stream = -1;     /* -1: not checked yet; 0/1: stderr is (not) the journal */

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

static const char *const target_names[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_STDERR] = "stderr",
};

void log_set_max_level(int level) {
        log_max_level = level < LOG_EMERG ? LOG_EMERG : level > LOG_DEBUG ? LOG_DEBUG : level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_set_target(LogTarget target) {
        log_target = target;
}

LogTarget log_get_target(void) {
        return log_target;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return NULL;
        return level_names[level];
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        /* Only the levels the configuration offers; "err" is the syslog spelling of "error". */
        for (int l = LOG_ERR; l <= LOG_DEBUG; l++)
                if (strcmp(s, level_names[l]) == 0)
                        return l;
        return -EINVAL;
}

const char *log_target_to_string(LogTarget t) {
        if (t < 0 || t >= _LOG_TARGET_MAX)
                return NULL;
        return target_names[t];
}

LogTarget log_target_from_string(const char *s) {
        if (!s)
                return _LOG_TARGET_INVALID;
        for (LogTarget t = 0; t < _LOG_TARGET_MAX; t++)
                if (strcmp(s, target_names[t]) == 0)
                        return t;
        return _LOG_TARGET_INVALID;
}

/* systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected stdout/stderr to; it only
 * counts if our stderr is still that very stream (a shell redirect would make it another file). */
static bool stderr_is_journal(void) {
        const char *e;
        unsigned long long dev, ino;
        struct stat st;

        if (log_journal_stream >= 0)
                return log_journal_stream;

        log_journal_stream = 0;
        e = getenv("JOURNAL_STREAM");
        if (e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
            (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino)
                log_journal_stream = 1;
        return log_journal_stream;
}

bool log_uses_journal(void) {
        switch (log_target) {
        case LOG_TARGET_JOURNAL:
                return true;
        case LOG_TARGET_STDERR:
                return false;
        default:
                return stderr_is_journal();
        }
}

static void log_to_stderr(int level, const char *message) {
        char buf[2048];
        int n;

        n = snprintf(buf, sizeof(buf), "%s: %s\n", log_level_to_string(level) ?: "log", message);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof(buf)) {
                n = sizeof(buf) - 1;
                buf[n - 1] = '\n';
        }
        /* One write per message, so lines from concurrent writers do not interleave. */
        (void) !write(STDERR_FILENO, buf, (size_t) n);
}

static int log_to_journal(int level, int error, const LogFields *fields, const char *file, int line,
                          const char *func, const char *message) {
        char *items[16] = {};
        struct iovec iov[16];
        size_t n = 0;
        int r = 0;

#define ADD(...)                                                        \
        do {                                                            \
                if (asprintf(&items[n], __VA_ARGS__) < 0) {             \
                        items[n] = NULL;                                \
                        r = -ENOMEM;                                    \
                        goto finish;                                    \
                }                                                       \
                n++;                                                    \
        } while (0)

        ADD("PRIORITY=%i", level);
        ADD("SYSLOG_IDENTIFIER=%s", "lumiplugd");
        ADD("MESSAGE=%s", message);
        ADD("CODE_FILE=%s", file);
        ADD("CODE_LINE=%i", line);
        ADD("CODE_FUNC=%s", func);
        if (error != 0)
                ADD("ERRNO=%i", abs(error));
        if (fields) {
                if (fields->device)
                        ADD("LUMIPLUGD_DEVICE=%s", fields->device);
                if (fields->name)
                        ADD("LUMIPLUGD_NAME=%s", fields->name);
                if (fields->topic)
                        ADD("LUMIPLUGD_TOPIC=%s", fields->topic);
                if (fields->znp_cmd)
                        ADD("LUMIPLUGD_ZNP_CMD=%s", fields->znp_cmd);
                if (fields->error)
                        ADD("LUMIPLUGD_ERROR=%s", fields->error);
                if (fields->message_id)
                        ADD("MESSAGE_ID=%s", fields->message_id);
        }
#undef ADD

        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec) { .iov_base = items[i], .iov_len = strlen(items[i]) };
        r = sd_journal_sendv(iov, (int) n);
finish:
        for (size_t i = 0; i < n; i++)
                free(items[i]);
        return r;
}

int log_internal(int level, int error, const LogFields *fields,
                 const char *file, int line, const char *func, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        int saved_errno = errno;
        va_list ap;
        int r;

        if (error < 0)
                error = -error;

        if (level > log_max_level) {
                errno = saved_errno;
                return -error;
        }

        errno = error;          /* for %m */
        va_start(ap, format);
        r = vasprintf(&message, format, ap);
        va_end(ap);
        if (r < 0)
                message = NULL;

        if (!log_uses_journal() ||
            log_to_journal(level, error, fields, file, line, func, message ?: format) < 0)
                log_to_stderr(level, message ?: format);

        errno = saved_errno;
        return -error;
}
