/*
 * test_upstream.c: the libcurl-on-libevent upstream against a real
 * tests/fake-wecom over real TLS (nothing mocked).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "ww.h"
#include "proxy/upstream.h"
#include "tests/unit/pipeline_fixture.h"

struct t_state {
	char dir[512];
	char ca[600];
	struct event_base *base;
};

/* What one call's callback saw (copied out). */
struct t_result {
	int done;
	int rc, sent, status;
	char error[256];
	char *body;
	size_t body_len;
	char ctype[128];
	int saw_hop; /* a hop-by-hop header leaked through */
};

static void
t_cb(const struct upstream_result *res, void *arg)
{
	struct t_result *r = arg;

	r->done++;
	r->rc = res->rc;
	r->sent = res->sent;
	r->status = res->status;
	snprintf(r->error, sizeof(r->error), "%s", res->error);
	r->body = malloc(res->body_len + 1);
	if (r->body != NULL) {
		if (res->body_len > 0)
			memcpy(r->body, res->body, res->body_len);
		r->body[res->body_len] = '\0';
	}
	r->body_len = res->body_len;
	for (size_t i = 0; i < res->n_headers; i++) {
		if (strcasecmp(res->headers[i].name, "Content-Type") == 0)
			snprintf(r->ctype, sizeof(r->ctype), "%s",
			         res->headers[i].value);
		if (strcasecmp(res->headers[i].name, "Connection") == 0 ||
		    strcasecmp(res->headers[i].name, "Content-Length") == 0 ||
		    strcasecmp(res->headers[i].name, "Transfer-Encoding") == 0)
			r->saw_hop = 1;
	}
}

static int
t_setup(void **state)
{
	struct t_state *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(fixture_dir(s->dir, sizeof(s->dir)), 0);
	snprintf(s->ca, sizeof(s->ca), "%s/ca.crt", s->dir);
	s->base = event_base_new();
	assert_non_null(s->base);
	*state = s;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_state *s = *state;

	event_base_free(s->base);
	fixture_rmrf(s->dir);
	free(s);
	return 0;
}

static struct upstream *
t_upstream(struct t_state *s, const struct fixture_fake *f, const char *ca,
           long timeout_ms)
{
	const char *resolve[] = {f->resolve, NULL};
	struct upstream_opts o = {0};
	struct upstream *up = NULL;
	char err[256];

	o.url = f->url;
	o.ca_file = ca;
	o.timeout_ms = timeout_ms;
	o.resolve = resolve;
	assert_int_equal(upstream_new(s->base, &o, &up, err, sizeof(err)),
	                 WW_OK);
	return up;
}

static const char t_body[] =
    "{\"touser\":\"zhangsan\",\"msgtype\":\"text\",\"agentid\":1,"
    "\"text\":{\"content\":\"hello \xe4\xbd\xa0\xe5\xa5\xbd\"}}";

static void
t_send(struct upstream *up, struct t_result *r, const char *path,
       const struct http_header *h, size_t nh)
{
	struct upstream_request req = {0};

	req.method = "POST";
	req.path = path;
	req.query = "access_token=TOKEN-abc%2B1&debug=1";
	req.headers = h;
	req.n_headers = nh;
	req.body = (const uint8_t *)t_body;
	req.body_len = strlen(t_body);
	assert_int_equal(upstream_send(up, &req, t_cb, r, NULL), WW_OK);
	assert_int_equal(r->done, 0); /* never before send returns */
}

static void
test_success(void **state)
{
	struct t_state *s = *state;
	struct fixture_fake f;
	struct t_result r = {0};
	struct upstream *up;
	const struct http_header h[] = {{"Content-Type", "application/json"},
	                                {"Host", "evil.example"},
	                                {"X-Forwarded-Host", "evil.example"},
	                                {"Connection", "keep-alive"},
	                                {"Content-Length", "999"}};
	char *rec;

	assert_int_equal(fixture_fake_start(s->dir, NULL, &f), 0);
	up = t_upstream(s, &f, s->ca, 5000);
	t_send(up, &r, "/cgi-bin/message/send", h, 5);
	assert_int_equal(upstream_pending(up), 1);
	assert_int_equal(fixture_loop(s->base, &r.done, 10000), 0);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.rc, WW_OK);
	assert_int_equal(r.status, 200);
	assert_true(r.sent);
	assert_non_null(strstr(r.body, "\"errcode\":0"));
	assert_non_null(strstr(r.body, "msgid"));
	assert_non_null(strstr(r.ctype, "json"));
	assert_false(r.saw_hop);
	assert_int_equal(upstream_pending(up), 0);
	assert_int_equal(upstream_reachable(up), 1);
	fixture_fake_stop(&f);
	/* the fake saw exactly our bytes, our query, and our host only */
	rec = fixture_slurp(f.record, NULL);
	assert_non_null(rec);
	assert_int_equal(fixture_lines(f.record), 1);
	assert_non_null(strstr(rec, "hello \xe4\xbd\xa0\xe5\xa5\xbd"));
	assert_non_null(strstr(
	    rec, "/cgi-bin/message/send?access_token=TOKEN-abc%2B1&debug=1"));
	assert_null(strstr(rec, "evil.example"));
	assert_non_null(strstr(rec, "\"" FIXTURE_HOST));
	assert_null(strstr(rec, "\"999\"")); /* the client's Content-Length */
	free(rec);
	free(r.body);
	upstream_free(up);
}

static void
test_errcode_answer(void **state)
{
	struct t_state *s = *state;
	const char *extra[] = {"--mode", "error", "--errcode", "60020", NULL};
	struct fixture_fake f;
	struct t_result r = {0};
	struct upstream *up;

	assert_int_equal(fixture_fake_start(s->dir, extra, &f), 0);
	up = t_upstream(s, &f, s->ca, 5000);
	t_send(up, &r, "/cgi-bin/message/send", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r.done, 10000), 0);
	assert_int_equal(r.rc, WW_OK); /* an answer is an answer */
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "60020"));
	free(r.body);
	upstream_free(up);
	fixture_fake_stop(&f);
}

static void
test_timeout(void **state)
{
	struct t_state *s = *state;
	const char *extra[] = {"--mode", "stall", NULL};
	struct fixture_fake f;
	struct t_result r = {0};
	struct upstream *up;

	assert_int_equal(fixture_fake_start(s->dir, extra, &f), 0);
	up = t_upstream(s, &f, s->ca, 400);
	t_send(up, &r, "/cgi-bin/message/send", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r.done, 10000), 0);
	assert_int_equal(r.rc, WW_ETIMEDOUT);
	assert_int_equal(r.status, 0);
	assert_true(r.sent);
	assert_true(r.error[0] != '\0');
	assert_null(strstr(r.error, "TOKEN")); /* no query in errors */
	free(r.body);
	upstream_free(up);
	fixture_fake_stop(&f);
}

static void
test_refused(void **state)
{
	struct t_state *s = *state;
	struct fixture_fake f = {0};
	struct t_result r = {0};
	struct upstream *up;

	f.port = fixture_dead_port();
	assert_true(f.port != 0);
	snprintf(f.url, sizeof(f.url), "https://%s:%u", FIXTURE_HOST, f.port);
	snprintf(f.resolve, sizeof(f.resolve), "%s:%u:127.0.0.1", FIXTURE_HOST,
	         f.port);
	up = t_upstream(s, &f, s->ca, 5000);
	t_send(up, &r, "/cgi-bin/message/send", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r.done, 10000), 0);
	assert_int_equal(r.rc, WW_EUPSTREAM);
	assert_false(r.sent);
	assert_int_equal(upstream_reachable(up), 0);
	free(r.body);
	upstream_free(up);
}

static void
test_bad_certificate(void **state)
{
	struct t_state *s = *state;
	struct fixture_fake f;
	struct t_result r = {0};
	struct upstream *up;
	char other[512], otherca[600];

	/* a CA that did not sign the fake's certificate */
	assert_int_equal(fixture_dir(other, sizeof(other)), 0);
	snprintf(otherca, sizeof(otherca), "%s/ca.crt", other);
	assert_int_equal(fixture_fake_start(s->dir, NULL, &f), 0);
	up = t_upstream(s, &f, otherca, 5000);
	t_send(up, &r, "/cgi-bin/message/send", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r.done, 10000), 0);
	assert_int_equal(r.rc, WW_EUPSTREAM);
	assert_int_equal(r.status, 0);
	upstream_free(up);
	fixture_fake_stop(&f);
	/* nothing reached the fake */
	assert_int_equal(fixture_lines(f.record), 0);
	free(r.body);
	fixture_rmrf(other);
}

static void
test_reuse_and_paths(void **state)
{
	struct t_state *s = *state;
	struct fixture_fake f;
	struct t_result r[3] = {{0}};
	struct upstream *up;
	struct upstream_request bad = {0};
	char *rec;

	assert_int_equal(fixture_fake_start(s->dir, NULL, &f), 0);
	up = t_upstream(s, &f, s->ca, 5000);
	/* a path that tries to name another host stays a path */
	t_send(up, &r[0], "//evil.example/cgi-bin/x", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r[0].done, 10000), 0);
	t_send(up, &r[1], "/cgi-bin/a b#c?d", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r[1].done, 10000), 0);
	assert_int_equal(r[0].rc, WW_OK);
	assert_int_equal(r[1].rc, WW_OK);
	/* two calls, one after the other: one connection, reused */
	assert_int_equal(upstream_connects(up), 1);
	bad.method = "POST";
	bad.path = "evil.example/x"; /* not absolute */
	assert_int_equal(upstream_send(up, &bad, t_cb, &r[2], NULL), WW_EINVAL);
	bad.path = "/x";
	bad.method = "GET\r\nX: y";
	assert_int_equal(upstream_send(up, &bad, t_cb, &r[2], NULL), WW_EINVAL);
	assert_int_equal(r[2].done, 0);
	fixture_fake_stop(&f);
	rec = fixture_slurp(f.record, NULL);
	assert_non_null(rec);
	assert_non_null(strstr(rec, "\"//evil.example/cgi-bin/x?"));
	assert_non_null(strstr(rec, "/cgi-bin/a%20b%23c%3Fd?"));
	free(rec);
	free(r[0].body);
	free(r[1].body);
	upstream_free(up);
}

/*
 * Between calls a connection's socket stays registered ("parked"); when
 * the upstream closes it while idle, the next call must open a new one,
 * and the one after must reuse that.
 */
static void
test_idle_close(void **state)
{
	struct t_state *s = *state;
	const char *const extra[] = {"--timeout", "1", NULL};
	struct fixture_fake f;
	struct t_result r[3] = {{0}};
	struct upstream *up;
	int never = 0;

	assert_int_equal(fixture_fake_start(s->dir, extra, &f), 0);
	up = t_upstream(s, &f, s->ca, 5000);
	t_send(up, &r[0], "/cgi-bin/message/send", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r[0].done, 10000), 0);
	assert_int_equal(r[0].rc, WW_OK);
	/* the fake drops idle connections after 1 s; the loop runs on */
	assert_int_equal(fixture_loop(s->base, &never, 2500), -1);
	for (int i = 1; i < 3; i++) {
		t_send(up, &r[i], "/cgi-bin/message/send", NULL, 0);
		assert_int_equal(fixture_loop(s->base, &r[i].done, 10000), 0);
		assert_int_equal(r[i].rc, WW_OK);
		assert_int_equal(r[i].status, 200);
	}
	assert_int_equal(upstream_connects(up), 2);
	fixture_fake_stop(&f);
	for (int i = 0; i < 3; i++)
		free(r[i].body);
	upstream_free(up);
}

static void
test_cancel_and_free(void **state)
{
	struct t_state *s = *state;
	const char *extra[] = {"--mode", "stall", NULL};
	struct fixture_fake f;
	struct t_result r[2] = {{0}};
	struct upstream_call *call = NULL;
	struct upstream_request req = {0};
	struct upstream *up;
	int never = 0;

	assert_int_equal(fixture_fake_start(s->dir, extra, &f), 0);
	up = t_upstream(s, &f, s->ca, 5000);
	req.method = "GET";
	req.path = "/cgi-bin/gettoken";
	assert_int_equal(upstream_send(up, &req, t_cb, &r[0], &call), WW_OK);
	assert_int_equal(upstream_send(up, &req, t_cb, &r[1], NULL), WW_OK);
	fixture_loop(s->base, &never, 300); /* let both get going */
	upstream_cancel(call);
	assert_int_equal(upstream_pending(up), 1);
	/* freeing ends the other one through its callback */
	upstream_free(up);
	assert_int_equal(r[0].done, 0);
	assert_int_equal(r[1].done, 1);
	assert_int_equal(r[1].rc, WW_ECLOSED);
	free(r[1].body);
	fixture_fake_stop(&f);
}

/*
 * A minimal HTTP CONNECT egress proxy on a thread: it serves one tunnel,
 * records the CONNECT line, and splices to the fake (whatever was asked).
 */
struct t_proxy {
	int lfd;
	unsigned port, fake_port;
	char connect_line[256];
	pthread_t th;
};

static int
t_proxy_dial(unsigned port)
{
	struct sockaddr_in sin = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void
t_proxy_splice(int a, int b)
{
	struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
	char buf[16384];

	for (int rounds = 0; rounds < 10000 && poll(p, 2, 5000) > 0; rounds++) {
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n)
				return;
		}
	}
}

static void *
t_proxy_run(void *arg)
{
	struct t_proxy *px = arg;
	char req[2048];
	size_t n = 0;
	int c = accept(px->lfd, NULL, NULL), up = -1;

	if (c < 0)
		return NULL;
	/* read the CONNECT request up to its blank line */
	while (n < sizeof(req) - 1) {
		ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[n] = '\0';
	snprintf(px->connect_line, sizeof(px->connect_line), "%.*s",
	         (int)strcspn(req, "\r\n"), req);
	up = t_proxy_dial(px->fake_port);
	if (up >= 0) {
		static const char ok[] =
		    "HTTP/1.1 200 Connection established\r\n\r\n";
		if (write(c, ok, sizeof(ok) - 1) == (ssize_t)(sizeof(ok) - 1))
			t_proxy_splice(c, up);
		close(up);
	}
	close(c);
	return NULL;
}

static void
t_proxy_start(struct t_proxy *px, unsigned fake_port)
{
	struct sockaddr_in sin = {0};
	socklen_t len = sizeof(sin);

	memset(px, 0, sizeof(*px));
	px->fake_port = fake_port;
	px->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(px->lfd >= 0);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(px->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	                 0);
	assert_int_equal(listen(px->lfd, 4), 0);
	assert_int_equal(getsockname(px->lfd, (struct sockaddr *)&sin, &len),
	                 0);
	px->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&px->th, NULL, t_proxy_run, px), 0);
}

static void
test_egress_proxy(void **state)
{
	struct t_state *s = *state;
	struct fixture_fake f;
	struct t_result r = {0};
	struct upstream_opts o = {0};
	struct upstream *up = NULL;
	struct t_proxy px;
	char purl[64], err[256], want[128];

	assert_int_equal(fixture_fake_start(s->dir, NULL, &f), 0);
	t_proxy_start(&px, f.port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%u", px.port);
	o.url = f.url;
	o.ca_file = s->ca;
	o.timeout_ms = 5000;
	o.proxy = purl;
	assert_int_equal(upstream_new(s->base, &o, &up, err, sizeof(err)),
	                 WW_OK);
	t_send(up, &r, "/cgi-bin/message/send", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r.done, 10000), 0);
	assert_int_equal(r.rc, WW_OK);
	assert_int_equal(r.status, 200);
	upstream_free(up); /* closes the tunnel: the proxy thread ends */
	pthread_join(px.th, NULL);
	close(px.lfd);
	/* through the proxy, to the configured host (TLS kept end to end) */
	snprintf(want, sizeof(want), "CONNECT %s:%u HTTP/1.1", FIXTURE_HOST,
	         f.port);
	assert_string_equal(px.connect_line, want);
	free(r.body);
	fixture_fake_stop(&f);
}

static void
test_plain_http(void **state)
{
	struct t_state *s = *state;
	const char *extra[] = {"--plain", NULL};
	struct fixture_fake f;
	struct t_result r = {0};
	struct upstream_opts o = {0};
	struct upstream *up = NULL;
	char url[64], err[256];

	/* fixture_fake_start adds --cert/--key; --plain wins */
	assert_int_equal(fixture_fake_start(s->dir, extra, &f), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", f.port);
	o.url = url;
	assert_int_equal(upstream_new(s->base, &o, &up, err, sizeof(err)),
	                 WW_OK);
	t_send(up, &r, "/cgi-bin/message/send", NULL, 0);
	assert_int_equal(fixture_loop(s->base, &r.done, 10000), 0);
	assert_int_equal(r.rc, WW_OK);
	assert_non_null(strstr(r.body, "\"errcode\":0"));
	free(r.body);
	upstream_free(up);
	fixture_fake_stop(&f);
}

static void
test_bad_url(void **state)
{
	struct t_state *s = *state;
	struct upstream_opts o = {0};
	struct upstream *up = NULL;
	char err[256];

	o.url = "ftp://example.com/";
	assert_int_equal(upstream_new(s->base, &o, &up, err, sizeof(err)),
	                 WW_EINVAL);
	assert_null(up);
	assert_true(err[0] != '\0');
	o.url = "https://user:pw@example.com/";
	assert_int_equal(upstream_new(s->base, &o, &up, err, sizeof(err)),
	                 WW_EINVAL);
	o.url = "https://example.com/?a=b";
	assert_int_equal(upstream_new(s->base, &o, &up, err, sizeof(err)),
	                 WW_EINVAL);
	o.url = "https://example.com/prefix/";
	assert_int_equal(upstream_new(s->base, &o, &up, err, sizeof(err)),
	                 WW_OK);
	upstream_free(up);
	upstream_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_url),
	    cmocka_unit_test(test_success),
	    cmocka_unit_test(test_errcode_answer),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_bad_certificate),
	    cmocka_unit_test(test_reuse_and_paths),
	    cmocka_unit_test(test_idle_close),
	    cmocka_unit_test(test_cancel_and_free),
	    cmocka_unit_test(test_egress_proxy),
	    cmocka_unit_test(test_plain_http),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, t_setup, t_teardown);
	curl_global_cleanup();
	return rc;
}
