/*
 * log.h: the process's log sink.
 *
 * main() configures the sink once, before any thread starts (log_init);
 * after that it is read-only and every function here is thread-safe (one
 * fprintf per line).  Message bodies and secrets never go to the log: log
 * digests, sequence numbers and sizes instead.
 */
#ifndef WW_LOG_H
#define WW_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/*
 * Send lines of at most level to fp (borrowed: it must outlive every log
 * call; NULL means stderr), prefixed with name (static string, e.g.
 * "wwgate").  json != 0 writes one JSON object per line.
 */
void log_init(const char *name, enum log_level level, FILE *fp, int json);

/* Parse "error", "warn", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *s);

/* The level in force: guard costly debug-only work with it. */
enum log_level log_get_level(void);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Only before the event loops run: log and exit(1). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
