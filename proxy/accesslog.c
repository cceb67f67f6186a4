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

/* ---- one line, formatted in place (no printf: ~35 fields a line) ---- */

struct line {
	char *p;
	size_t len, cap;
};

/* Append n bytes; a line that would not fit is cut (never overrun). */
static void
line_raw(struct line *l, const char *s, size_t n)
{
	if (n > l->cap - l->len)
		n = l->cap - l->len;
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

#define LINE_LIT(l, lit) line_raw((l), (lit), sizeof(lit) - 1)

static void
line_u64(struct line *l, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do
		d[sizeof(d) - ++n] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	line_raw(l, d + sizeof(d) - n, n);
}

static void
line_i64(struct line *l, long long v)
{
	if (v < 0) {
		LINE_LIT(l, "-");
		line_u64(l, 0 - (uint64_t)v);
	} else {
		line_u64(l, (uint64_t)v);
	}
}

/* ,"key": */
static void
line_key(struct line *l, const char *key)
{
	LINE_LIT(l, ",\"");
	line_raw(l, key, strlen(key));
	LINE_LIT(l, "\":");
}

/*
 * ,"key":"value" from untrusted bytes: anything not printable ASCII
 * becomes '?' (a path is attacker-chosen and need not be UTF-8); quote
 * and backslash are escaped; at most ACCESSLOG_STR_MAX bytes are kept.
 */
static void
line_str(struct line *l, const char *key, const char *s)
{
	line_key(l, key);
	if (s == NULL) {
		LINE_LIT(l, "null");
		return;
	}
	LINE_LIT(l, "\"");
	for (size_t i = 0; s[i] != '\0' && i < ACCESSLOG_STR_MAX; i++) {
		char ch = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
		if (ch == '"' || ch == '\\')
			LINE_LIT(l, "\\");
		line_raw(l, &ch, 1);
	}
	LINE_LIT(l, "\"");
}

static void
line_num(struct line *l, const char *key, uint64_t v)
{
	line_key(l, key);
	line_u64(l, v);
}

/* .ddd: three decimals */
static void
line_frac3(struct line *l, unsigned v)
{
	char f[4] = {'.', (char)('0' + v / 100), (char)('0' + v / 10 % 10),
	             (char)('0' + v % 10)};

	line_raw(l, f, sizeof(f));
}

/* {"time":"2026-11-26T01:02:03.456Z" */
static void
line_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	LINE_LIT(l, "{\"time\":\"");
	line_raw(l, when, n);
	line_frac3(l, (unsigned)(ts.tv_nsec / 1000000));
	LINE_LIT(l, "Z\"");
}

/* The line for e into l (keys in a fixed order), newline included. */
static void
accesslog_format(struct line *l, const struct accesslog_entry *e)
{
	line_time(l);
	line_str(l, "client", e->client);
	line_num(l, "port", e->port);
	line_str(l, "method", e->method);
	line_str(l, "path", e->path);
	line_str(l, "action", e->action);
	line_key(l, "status");
	line_i64(l, e->status);
	line_key(l, "errcode");
	if (e->has_errcode)
		line_i64(l, e->errcode);
	else
		LINE_LIT(l, "null");
	line_num(l, "seq", e->request_seq);
	line_key(l, "forwarded");
	if (e->forwarded)
		LINE_LIT(l, "true");
	else
		LINE_LIT(l, "false");
	line_str(l, "app", e->app);
	line_str(l, "token", e->token_digest);
	line_num(l, "request_bytes", e->request_bytes);
	line_num(l, "response_bytes", e->response_bytes);
	line_num(l, "latency_ms", e->latency_us / 1000);
	line_frac3(l, (unsigned)(e->latency_us % 1000));
	line_str(l, "error", e->error);
	/* a cut line still ends as one line */
	if (l->len > l->cap - 2)
		l->len = l->cap - 2;
	LINE_LIT(l, "}\n");
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
