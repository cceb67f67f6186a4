/* admin.c: /healthz, /readyz and /metrics over libevent's evhttp. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "ww.h"
#include "log.h"
#include "proxy/admin.h"
#include "proxy/conf.h"
#include "proxy/metrics.h"

struct admin {
	struct evhttp *http;
	struct metrics *metrics;
	admin_ready_cb ready;
	void *arg;
};

static void
admin_reply(struct evhttp_request *req, int status, const char *reason,
            const char *ctype, const char *body, size_t len)
{
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL || evbuffer_add(buf, body, len) != 0) {
		evhttp_send_error(req, 503, "out of memory");
		if (buf != NULL)
			evbuffer_free(buf);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Cache-Control", "no-store");
	evhttp_send_reply(req, status, reason, buf);
	evbuffer_free(buf);
}

static void
admin_text(struct evhttp_request *req, int status, const char *reason,
           const char *text)
{
	admin_reply(req, status, reason, "text/plain; charset=utf-8", text,
	            strlen(text));
}

static void
admin_on_metrics(struct admin *a, struct evhttp_request *req)
{
	char *text = NULL;
	size_t len = 0;

	if (metrics_render(a->metrics, &text, &len) != WW_OK) {
		admin_text(req, 503, "Service Unavailable", "out of memory\n");
		return;
	}
	admin_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	            text, len);
	free(text);
}

static void
admin_on_ready(struct admin *a, struct evhttp_request *req)
{
	char why[200], line[256];

	if (a->ready(a->arg, why, sizeof(why))) {
		admin_text(req, 200, "OK", "ready\n");
		return;
	}
	snprintf(line, sizeof(line), "not ready: %s\n", why);
	admin_text(req, 503, "Service Unavailable", line);
}

static void
admin_on_request(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		admin_text(req, 405, "Method Not Allowed", "GET only\n");
		return;
	}
	if (path == NULL)
		path = "/";
	if (strcmp(path, "/healthz") == 0)
		admin_text(req, 200, "OK", "ok\n");
	else if (strcmp(path, "/readyz") == 0)
		admin_on_ready(a, req);
	else if (strcmp(path, "/metrics") == 0)
		admin_on_metrics(a, req);
	else
		admin_text(req, 404, "Not Found",
		           "try /healthz, /readyz or /metrics\n");
}

int
admin_new(struct event_base *base, const char *address, struct metrics *metrics,
          admin_ready_cb ready, void *arg, struct admin **out, char *err,
          size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	evutil_socket_t fd = -1;
	struct admin *a;
	int one = 1;

	*out = NULL;
	if (conf_parse_address(address, &ss, &sslen) != WW_OK) {
		snprintf(err, errlen, "bad admin address %s", address);
		return WW_EINVAL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return WW_ENOMEM;
	a->metrics = metrics;
	a->ready = ready;
	a->arg = arg;
	if ((a->http = evhttp_new(base)) == NULL) {
		free(a);
		return WW_ENOMEM;
	}
	fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) != 0 ||
	    listen(fd, 64) != 0 || evhttp_accept_socket(a->http, fd) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", address,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		admin_free(a);
		return WW_EIO;
	}
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(a->http, 8192);
	evhttp_set_max_body_size(a->http, 0);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_gencb(a->http, admin_on_request, a);
	*out = a;
	return WW_OK;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	evhttp_free(a->http);
	free(a);
}
