/* accesslog.c: JSON access lines, one write(2) each. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ww.h"
#include "proxy/accesslog.h"

struct accesslog {
	int fd;
	int own;
	atomic_uint_fast64_t errors;
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

void
accesslog_close(struct accesslog *a)
{
	if (a == NULL)
		return;
	if (a->own)
		close(a->fd);
	free(a);
}

uint64_t
accesslog_errors(const struct accesslog *a)
{
	return a != NULL ? atomic_load(&a->errors) : 0;
}

/* A JSON string from untrusted bytes: anything not printable ASCII -> '?'
 * (a path is attacker-chosen and need not be UTF-8). */
static json_t *
accesslog_str(const char *s)
{
	char buf[512];
	size_t i;

	if (s == NULL)
		return json_null();
	for (i = 0; s[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return json_string(buf);
}

static json_t *
accesslog_build(const struct accesslog_entry *e)
{
	struct timespec ts;
	json_t *o = json_object();
	char when[40];
	struct tm tm;

	if (o == NULL)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ",
	         ts.tv_nsec / 1000000);
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "client", accesslog_str(e->client));
	json_object_set_new(o, "port", json_integer(e->port));
	json_object_set_new(o, "method", accesslog_str(e->method));
	json_object_set_new(o, "path", accesslog_str(e->path));
	json_object_set_new(o, "action", accesslog_str(e->action));
	json_object_set_new(o, "status", json_integer(e->status));
	json_object_set_new(o, "errcode",
	                    e->has_errcode ? json_integer(e->errcode)
	                                   : json_null());
	json_object_set_new(o, "seq", json_integer((json_int_t)e->request_seq));
	json_object_set_new(o, "forwarded", json_boolean(e->forwarded));
	json_object_set_new(o, "app", accesslog_str(e->app));
	json_object_set_new(o, "token", accesslog_str(e->token_digest));
	json_object_set_new(o, "request_bytes",
	                    json_integer((json_int_t)e->request_bytes));
	json_object_set_new(o, "response_bytes",
	                    json_integer((json_int_t)e->response_bytes));
	json_object_set_new(o, "latency_ms",
	                    json_real((double)e->latency_us / 1000.0));
	json_object_set_new(o, "error", accesslog_str(e->error));
	return o;
}

void
accesslog_write(struct accesslog *a, const struct accesslog_entry *e)
{
	json_t *o;
	char *line = NULL;
	size_t len;

	if (a == NULL)
		return;
	o = accesslog_build(e);
	if (o != NULL)
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
		                         JSON_REAL_PRECISION(10));
	json_decref(o);
	if (line == NULL) {
		atomic_fetch_add(&a->errors, 1);
		return;
	}
	len = strlen(line);
	/* json_dumps allocated len + 1 bytes: the NUL becomes the newline */
	line[len] = '\n';
	if (write(a->fd, line, len + 1) != (ssize_t)(len + 1))
		atomic_fetch_add(&a->errors, 1);
	free(line);
}
