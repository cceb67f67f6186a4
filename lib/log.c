/* log.c: a line-oriented log sink, plain or JSON. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Set once by log_init() before threads start; read-only afterwards. */
static struct {
	const char *name;
	enum log_level level;
	FILE *fp;
	int json;
} log_sink = {"wwgate", LOG_LEVEL_INFO, NULL, 0};

static const char *const log_names[] = {"error", "warn", "info", "debug"};

void
log_init(const char *name, enum log_level level, FILE *fp, int json)
{
	log_sink.name = name != NULL ? name : "wwgate";
	log_sink.level = level;
	log_sink.fp = fp;
	log_sink.json = json;
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

enum log_level
log_get_level(void)
{
	return log_sink.level;
}

/* Escape msg into a JSON string body; truncates rather than overflow. */
static void
log_json_escape(char *dst, size_t dstlen, const char *msg)
{
	size_t o = 0;

	for (; *msg != '\0' && o + 7 < dstlen; msg++) {
		unsigned char ch = (unsigned char)*msg;
		if (ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)ch;
		} else if (ch < 0x20) {
			o += (size_t)snprintf(dst + o, dstlen - o, "\\u%04x",
			                      ch);
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = '\0';
}

void
log_vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	char msg[2048], esc[4200], ts[32];
	int saved = errno;
	FILE *fp = log_sink.fp != NULL ? log_sink.fp : stderr;
	struct timespec now;
	struct tm tm;

	if (level > log_sink.level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_sink.json) {
		log_json_escape(esc, sizeof(esc), msg);
		fprintf(
		    fp,
		    "{\"time\":\"%s.%03ldZ\",\"prog\":\"%s\",\"level\":\"%s\","
		    "\"msg\":\"%s\"}\n",
		    ts, now.tv_nsec / 1000000, log_sink.name, log_names[level],
		    esc);
	} else {
		fprintf(fp, "%s.%03ldZ %s[%s]: %s\n", ts, now.tv_nsec / 1000000,
		        log_sink.name, log_names[level], msg);
	}
	fflush(fp);
	errno = saved;
}

#define LOG_FN(fn, level, with_errno)                                          \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vlog(level, with_errno, fmt, ap);                          \
		va_end(ap);                                                    \
	}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
