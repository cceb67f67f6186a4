/*
 * accesslog.c: JSON access lines.  Each worker writes through its own
 * buffered view, so a busy gateway makes one write(2) per 32 KiB of lines
 * rather than one per request (and builds no JSON tree per line).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ww.h"
#include "proxy/accesslog.h"

/* Longest line: 7 strings of ACCESSLOG_STR_MAX bytes, each escaped to at
 * most twice that, plus the numbers. */
#define ACCESSLOG_STR_MAX 512
#define ACCESSLOG_LINE_MAX (16 * ACCESSLOG_STR_MAX)
#define ACCESSLOG_BUF_FILE (32 * 1024)

struct accesslog {
	struct accesslog *shared; /* a buffered view: the log it writes to */
	int fd;
	int own;
	atomic_uint_fast64_t errors;
	char *buf; /* views only */
	size_t len, cap;
};

int
accesslog_open(const char *path, struct accesslog **out)
{
	struct accesslog *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return WW_ENOMEM;
	a->fd = STDERR_FILENO;
	if (path != NULL && strcmp(path, "-") != 0) {
		a->fd =
		    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (a->fd < 0) {
			int saved = errno;
			free(a);
			errno = saved;
			return WW_EIO;
		}
		a->own = 1;
	}
	*out = a;
	return WW_OK;
}

/*
 * A view's buffer: 32 KiB for a regular file (O_APPEND writes of whole
 * lines do not interleave); PIPE_BUF for a pipe or terminal, where only
 * writes that small are atomic.
 */
static size_t
accesslog_cap(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return ACCESSLOG_BUF_FILE;
	return PIPE_BUF;
}

int
accesslog_buffered(struct accesslog *shared, struct accesslog **out)
{
	struct accesslog *a;

	*out = NULL;
	if (shared == NULL)
		return WW_OK;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return WW_ENOMEM;
	a->shared = shared;
	a->fd = shared->fd;
	a->cap = accesslog_cap(shared->fd);
	a->buf = malloc(a->cap);
	if (a->buf == NULL) {
		free(a);
		return WW_ENOMEM;
	}
	*out = a;
	return WW_OK;
}

static void
accesslog_put(struct accesslog *a, const char *data, size_t len)
{
	struct accesslog *target = a->shared != NULL ? a->shared : a;

	if (len > 0 && write(a->fd, data, len) != (ssize_t)len)
		atomic_fetch_add(&target->errors, 1);
}

void
accesslog_flush(struct accesslog *a)
{
	if (a == NULL || a->buf == NULL || a->len == 0)
		return;
	accesslog_put(a, a->buf, a->len);
	a->len = 0;
}

void
accesslog_close(struct accesslog *a)
{
	if (a == NULL)
		return;
	accesslog_flush(a);
	if (a->own)
		close(a->fd);
	free(a->buf);
	free(a);
}

uint64_t
accesslog_errors(const struct accesslog *a)
{
	if (a != NULL && a->shared != NULL)
		a = a->shared;
	return a != NULL ? atomic_load(&a->errors) : 0;
}

/* ---- one line, formatted in place ---- */

struct line {
	char *p;
	size_t len, cap;
};

static void
line_printf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->p + l->len, l->cap - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < l->cap - l->len ? (size_t)n
		                                      : l->cap - l->len - 1;
}

/*
 * "key":"value" from untrusted bytes: anything not printable ASCII
 * becomes '?' (a path is attacker-chosen and need not be UTF-8); quote
 * and backslash are escaped; at most ACCESSLOG_STR_MAX bytes are kept.
 */
static void
line_str(struct line *l, const char *key, const char *s)
{
	size_t i;

	if (s == NULL) {
		line_printf(l, ",\"%s\":null", key);
		return;
	}
	line_printf(l, ",\"%s\":\"", key);
	for (i = 0; s[i] != '\0' && i < ACCESSLOG_STR_MAX; i++) {
		char ch = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
		if (l->len + 3 >= l->cap)
			break;
		if (ch == '"' || ch == '\\')
			l->p[l->len++] = '\\';
		l->p[l->len++] = ch;
	}
	line_printf(l, "\"");
}

/* The line for e into l (keys in a fixed order), newline included. */
static void
accesslog_format(struct line *l, const struct accesslog_entry *e)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	line_printf(l, "{\"time\":\"%s.%03ldZ\"", when, ts.tv_nsec / 1000000);
	line_str(l, "client", e->client);
	line_printf(l, ",\"port\":%u", e->port);
	line_str(l, "method", e->method);
	line_str(l, "path", e->path);
	line_str(l, "action", e->action);
	line_printf(l, ",\"status\":%d", e->status);
	if (e->has_errcode)
		line_printf(l, ",\"errcode\":%lld", e->errcode);
	else
		line_printf(l, ",\"errcode\":null");
	line_printf(l, ",\"seq\":%" PRIu64 ",\"forwarded\":%s", e->request_seq,
	            e->forwarded ? "true" : "false");
	line_str(l, "app", e->app);
	line_str(l, "token", e->token_digest);
	line_printf(l,
	            ",\"request_bytes\":%" PRIu64 ",\"response_bytes\":%" PRIu64
	            ",\"latency_ms\":%" PRIu64 ".%03" PRIu64,
	            e->request_bytes, e->response_bytes, e->latency_us / 1000,
	            e->latency_us % 1000);
	line_str(l, "error", e->error);
	line_printf(l, "}\n");
}

void
accesslog_write(struct accesslog *a, const struct accesslog_entry *e)
{
	char tmp[ACCESSLOG_LINE_MAX];
	struct line l = {tmp, 0, sizeof(tmp)};

	if (a == NULL)
		return;
	accesslog_format(&l, e);
	if (a->buf == NULL) {
		accesslog_put(a, l.p, l.len);
		return;
	}
	if (a->len + l.len > a->cap)
		accesslog_flush(a);
	if (l.len > a->cap) { /* longer than a pipe's atomic write */
		accesslog_put(a, l.p, l.len);
		return;
	}
	memcpy(a->buf + a->len, l.p, l.len);
	a->len += l.len;
}
