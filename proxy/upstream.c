/* upstream.c: libcurl multi on a libevent base, to one configured host. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "ww.h"
#include "proxy/upstream.h"

#define UPSTREAM_DEFAULT_TIMEOUT_MS 30000L
#define UPSTREAM_DEFAULT_MAX_RESPONSE (32u << 20)
#define UPSTREAM_DEFAULT_IDLE 64
#define UPSTREAM_MAX_HEADERS 128
/* A finished call's buffers are kept for the next one up to these sizes. */
#define UPSTREAM_KEEP_BODY (64 * 1024)
#define UPSTREAM_KEEP_HBUF (16 * 1024)

/*
 * One socket curl asked us to watch.  When curl stops watching a socket
 * it keeps open (a connection back in its cache) the socket is "parked":
 * its event stays as it was, so reusing the connection for the next
 * request costs no epoll_ctl; it is freed when curl closes the socket
 * (CURLOPT_CLOSESOCKETFUNCTION), before the descriptor can be reused.
 */
struct upstream_sock {
	struct upstream *up;
	curl_socket_t fd;
	struct event *ev;
	int what;   /* CURL_POLL_* the event watches; 0: none */
	int parked; /* curl does not watch it now */
};

/*
 * Calls are recycled (up->spare) with their buffers, so a request costs
 * no allocation here beyond curl's own.
 */
struct upstream_call {
	struct upstream *up;
	CURL *easy;
	struct curl_slist *req_headers;
	uint8_t *req_body;
	size_t req_cap;
	upstream_cb cb;
	void *arg;
	struct timespec start;
	char *url;
	/* The answer as it arrives: header lines "name\0value\0" in hbuf,
	 * their offsets in hoff; resp_headers point into hbuf at the end. */
	char *hbuf;
	size_t hlen, hcap;
	size_t hoff[UPSTREAM_MAX_HEADERS][2];
	struct http_header resp_headers[UPSTREAM_MAX_HEADERS];
	size_t n_resp_headers;
	uint8_t *resp_body;
	size_t resp_len, resp_cap;
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
	struct upstream_call *prev, *next;
};

struct upstream {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	char *scheme, *host, *port, *prefix; /* the configured URL's parts */
	char *ca_file, *proxy;
	struct curl_slist *resolve, *connect_to;
	int (*host_ok)(const char *host, void *arg); /* or NULL */
	void *host_arg;
	long timeout_ms;
	size_t max_response;
	CURL **idle;
	size_t n_idle, max_idle;
	struct upstream_sock **socks; /* by descriptor */
	size_t n_socks;
	struct upstream_call *calls;
	size_t n_calls;
	struct upstream_call *spare; /* finished calls kept for reuse */
	size_t n_spare;
	int reachable;
	uint64_t connects; /* new connections made (reuse shows as few) */
};

static uint64_t
upstream_elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start->tv_sec) * 1000000u +
	       (uint64_t)((now.tv_nsec - start->tv_nsec) / 1000);
}

/* Headers that describe one hop, not the message (RFC 9110 7.6.1). */
static int
upstream_hop_by_hop(const char *name, size_t len)
{
	static const char *const hop[] = {"connection",
	                                  "keep-alive",
	                                  "proxy-connection",
	                                  "proxy-authorization",
	                                  "proxy-authenticate",
	                                  "te",
	                                  "trailer",
	                                  "transfer-encoding",
	                                  "upgrade",
	                                  "content-length"};

	for (size_t i = 0; i < WW_NELEM(hop); i++)
		if (strlen(hop[i]) == len &&
		    strncasecmp(name, hop[i], len) == 0)
			return 1;
	return 0;
}

/* An RFC 9110 token: what a header name must be to be passed on. */
static int
upstream_token(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && strchr("!#$%&'*+-.^_`|~", ch) == NULL)
			return 0;
	}
	return 1;
}

/* ---- event glue: curl tells us what to watch, libevent tells curl ---- */

static void upstream_check_done(struct upstream *up);

static void
upstream_on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_sock *s = arg;
	struct upstream *up = s->up;
	int flags = 0, running;

	if (s->parked) {
		/* An idle connection closed or spoke out of turn: curl sees
		 * it when it next checks the connection; stop hearing it. */
		event_del(s->ev);
		s->what = 0;
		return;
	}
	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	/* arg may be freed inside: curl can drop the socket here. */
	curl_multi_socket_action(up->multi, fd, flags, &running);
	upstream_check_done(up);
}

static void
upstream_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	upstream_check_done(up);
}

static struct upstream_sock *
upstream_sock_find(const struct upstream *up, curl_socket_t fd)
{
	return fd >= 0 && (size_t)fd < up->n_socks ? up->socks[fd] : NULL;
}

static struct upstream_sock *
upstream_sock_new(struct upstream *up, curl_socket_t fd)
{
	struct upstream_sock *s;

	if (fd < 0)
		return NULL;
	if ((size_t)fd >= up->n_socks) {
		size_t n = (size_t)fd * 2 + 16;
		struct upstream_sock **v = realloc(up->socks, n * sizeof(*v));

		if (v == NULL)
			return NULL;
		memset(v + up->n_socks, 0, (n - up->n_socks) * sizeof(*v));
		up->socks = v;
		up->n_socks = n;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->up = up;
	s->fd = fd;
	up->socks[fd] = s;
	return s;
}

static void
upstream_sock_free(struct upstream_sock *s)
{
	s->up->socks[s->fd] = NULL;
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/*
 * Watch what curl asks for.  The event is changed only when the direction
 * changes (curl repeats itself on every action), so a reused connection
 * costs no epoll_ctl per request beyond the real IN/OUT switches.
 */
static int
upstream_sock_watch(struct upstream *up, struct upstream_sock *s, int what)
{
	short ev = EV_PERSIST;

	if (s->ev != NULL && s->what == what)
		return 0;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EV_WRITE;
	if (s->ev == NULL)
		s->ev = event_new(up->base, s->fd, ev, upstream_on_socket, s);
	else if (event_del(s->ev) != 0 ||
	         event_assign(s->ev, up->base, s->fd, ev, upstream_on_socket,
	                      s) != 0)
		return -1;
	s->what = 0;
	if (s->ev == NULL || event_add(s->ev, NULL) != 0)
		return -1;
	s->what = what;
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION.  Must not call back into curl. */
static int
upstream_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
                   void *sockp)
{
	struct upstream *up = userp;
	struct upstream_sock *s = sockp;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			s->parked = 1;
		return 0;
	}
	if (s == NULL) {
		/* new to curl's socket hash: maybe a parked connection */
		s = upstream_sock_find(up, fd);
		if (s == NULL && (s = upstream_sock_new(up, fd)) == NULL)
			return -1;
		s->parked = 0;
		curl_multi_assign(up->multi, fd, s);
	}
	return upstream_sock_watch(up, s, what);
}

/*
 * CURLOPT_CLOSESOCKETFUNCTION: curl closes a socket, parked or not (it
 * has already said CURL_POLL_REMOVE for it if it was watched).
 */
static int
upstream_close_cb(void *clientp, curl_socket_t fd)
{
	struct upstream_sock *s = upstream_sock_find(clientp, fd);

	if (s != NULL)
		upstream_sock_free(s);
	return close(fd) == 0 ? 0 : 1;
}

/* CURLMOPT_TIMERFUNCTION.  Must not call back into curl. */
static int
upstream_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream *up = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(up->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(up->timer, &tv) == 0 ? 0 : -1;
}

/* ---- the answer as it arrives ---- */

static void
upstream_call_clear_answer(struct upstream_call *c)
{
	c->n_resp_headers = 0;
	c->hlen = 0;
}

/* Append s[0..len) and a NUL to c->hbuf; its offset in *off. */
static int
upstream_hbuf_put(struct upstream_call *c, const char *s, size_t len,
                  size_t *off)
{
	if (c->hlen + len + 1 > c->hcap) {
		size_t ncap = c->hcap != 0 ? c->hcap : 1024;
		char *nb;
		while (ncap < c->hlen + len + 1)
			ncap *= 2;
		if ((nb = realloc(c->hbuf, ncap)) == NULL)
			return -1;
		c->hbuf = nb;
		c->hcap = ncap;
	}
	memcpy(c->hbuf + c->hlen, s, len);
	c->hbuf[c->hlen + len] = '\0';
	*off = c->hlen;
	c->hlen += len + 1;
	return 0;
}

static size_t
upstream_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct upstream_call *c = arg;
	size_t len = size * n, nlen, vlen, *off;
	const char *colon, *v;

	/* A new status line (after 1xx): forget the previous block. */
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		upstream_call_clear_answer(c);
		return len;
	}
	colon = memchr(buf, ':', len);
	if (colon == NULL)
		return len; /* the blank line ending the block */
	nlen = (size_t)(colon - buf);
	if (!upstream_token(buf, nlen) || upstream_hop_by_hop(buf, nlen) ||
	    c->n_resp_headers >= UPSTREAM_MAX_HEADERS)
		return len;
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	off = c->hoff[c->n_resp_headers];
	if (upstream_hbuf_put(c, buf, nlen, &off[0]) != 0 ||
	    upstream_hbuf_put(c, v, vlen, &off[1]) != 0)
		return 0; /* abort the transfer: out of memory */
	c->n_resp_headers++;
	return len;
}

/* Point resp_headers into hbuf, now that it no longer moves. */
static void
upstream_call_headers(struct upstream_call *c)
{
	for (size_t i = 0; i < c->n_resp_headers; i++) {
		c->resp_headers[i].name = c->hbuf + c->hoff[i][0];
		c->resp_headers[i].value = c->hbuf + c->hoff[i][1];
	}
}

static size_t
upstream_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct upstream_call *c = arg;
	size_t len = size * n;

	if (len > c->up->max_response - c->resp_len) {
		c->too_big = 1;
		return 0;
	}
	if (c->resp_len + len > c->resp_cap) {
		size_t ncap = c->resp_cap != 0 ? c->resp_cap : 4096;
		while (ncap < c->resp_len + len)
			ncap *= 2;
		uint8_t *nb = realloc(c->resp_body, ncap);
		if (nb == NULL)
			return 0;
		c->resp_body = nb;
		c->resp_cap = ncap;
	}
	memcpy(c->resp_body + c->resp_len, buf, len);
	c->resp_len += len;
	return len;
}

/* ---- calls ---- */

static void
upstream_call_unlink(struct upstream_call *c)
{
	struct upstream *up = c->up;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		up->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	up->n_calls--;
}

static void
upstream_call_destroy(struct upstream_call *c)
{
	free(c->req_body);
	free(c->hbuf);
	free(c->resp_body);
	free(c);
}

/*
 * Detach the easy handle from multi and keep it for the next call; keep
 * the call itself (and its buffers, when not grown too big) likewise.
 */
static void
upstream_call_free(struct upstream_call *c)
{
	struct upstream *up = c->up;

	if (c->easy != NULL) {
		curl_multi_remove_handle(up->multi, c->easy);
		if (up->n_idle < up->max_idle)
			up->idle[up->n_idle++] = c->easy;
		else
			curl_easy_cleanup(c->easy);
		c->easy = NULL;
	}
	curl_slist_free_all(c->req_headers);
	c->req_headers = NULL;
	free(c->url);
	c->url = NULL;
	if (up->n_spare >= up->max_idle || c->resp_cap > UPSTREAM_KEEP_BODY ||
	    c->hcap > UPSTREAM_KEEP_HBUF || c->req_cap > UPSTREAM_KEEP_BODY) {
		upstream_call_destroy(c);
		return;
	}
	c->next = up->spare;
	up->spare = c;
	up->n_spare++;
}

/* A call ready for use: a spare one, reset, or a new one. */
static struct upstream_call *
upstream_call_get(struct upstream *up)
{
	struct upstream_call *c = up->spare;

	if (c == NULL)
		return calloc(1, sizeof(*c));
	up->spare = c->next;
	up->n_spare--;
	upstream_call_clear_answer(c);
	c->resp_len = 0;
	c->too_big = 0;
	c->errbuf[0] = '\0';
	c->prev = c->next = NULL;
	return c;
}

/* The error text without anything after a '?' (no query, no token). */
static void
upstream_error_text(struct upstream_call *c, CURLcode code, char *out,
                    size_t outlen)
{
	const char *src =
	    c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(code);

	if (c->too_big)
		src = "upstream answer too large";
	snprintf(out, outlen, "%.*s", (int)strcspn(src, "?\r\n"), src);
}

static int
upstream_result_rc(struct upstream_call *c, CURLcode code)
{
	if (code == CURLE_OK)
		return WW_OK;
	if (c->too_big || code == CURLE_FILESIZE_EXCEEDED)
		return WW_ELIMIT;
	if (code == CURLE_OPERATION_TIMEDOUT)
		return WW_ETIMEDOUT;
	if (code == CURLE_OUT_OF_MEMORY)
		return WW_ENOMEM;
	return WW_EUPSTREAM;
}

static void
upstream_call_finish(struct upstream_call *c, CURLcode code)
{
	struct upstream_result res;
	char errtext[CURL_ERROR_SIZE];
	long status = 0, reqsize = 0, connects = 0;

	memset(&res, 0, sizeof(res));
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &reqsize);
	if (curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects) ==
	        CURLE_OK &&
	    connects > 0)
		c->up->connects += (uint64_t)connects;
	res.rc = upstream_result_rc(c, code);
	errtext[0] = '\0';
	if (res.rc != WW_OK)
		upstream_error_text(c, code, errtext, sizeof(errtext));
	res.error = errtext;
	res.sent = reqsize > 0;
	res.status = res.rc == WW_OK ? (int)status : 0;
	if (res.rc == WW_OK) {
		upstream_call_headers(c);
		res.headers = c->resp_headers;
		res.n_headers = c->n_resp_headers;
		res.body = c->resp_body;
		res.body_len = c->resp_len;
	}
	res.latency_us = upstream_elapsed_us(&c->start);
	c->up->reachable = res.rc == WW_OK || status > 0;
	upstream_call_unlink(c);
	c->cb(&res, c->arg);
	upstream_call_free(c);
}

/* End a call that will not complete: its callback learns why. */
static void
upstream_call_abort(struct upstream_call *c)
{
	struct upstream_result res;
	long reqsize = 0;

	memset(&res, 0, sizeof(res));
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &reqsize);
	res.sent = reqsize > 0;
	res.rc = WW_ECLOSED;
	res.error = "gateway shutting down";
	res.latency_us = upstream_elapsed_us(&c->start);
	upstream_call_unlink(c);
	c->cb(&res, c->arg);
	upstream_call_free(c);
}

/* Hand every finished transfer to its caller. */
static void
upstream_check_done(struct upstream *up)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(up->multi, &left)) != NULL) {
		char *priv = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv != NULL)
			upstream_call_finish((struct upstream_call *)priv,
			                     msg->data.result);
	}
}

/* ---- building the URL: the configured host and nothing else ---- */

static int
upstream_url_char_ok(unsigned char ch, int in_query)
{
	if (ch <= 0x20 || ch >= 0x7f || ch == '#')
		return 0;
	if (in_query)
		return 1; /* forwarded as is, already percent-encoded */
	return isalnum(ch) || strchr("-._~!$&'()*+,;=:@/", ch) != NULL;
}

/* Append s, percent-encoding what may not appear raw. */
static void
upstream_url_append(char *dst, size_t *o, const char *s, int in_query)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (upstream_url_char_ok(ch, in_query)) {
			dst[(*o)++] = (char)ch;
		} else {
			dst[(*o)++] = '%';
			dst[(*o)++] = hex[ch >> 4];
			dst[(*o)++] = hex[ch & 15];
		}
	}
	dst[*o] = '\0';
}

/* Does url name exactly the configured scheme, host and port? */
static int
upstream_url_check(const struct upstream *up, const char *url,
                   const char *want_host)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	int ok = 0;

	if (u == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	        CURLUE_OK &&
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER)
		ok = want_host != NULL ? strcasecmp(scheme, "https") == 0 &&
		                             strcasecmp(host, want_host) == 0 &&
		                             strcmp(port, "443") == 0
		                       : strcasecmp(scheme, up->scheme) == 0 &&
		                             strcasecmp(host, up->host) == 0 &&
		                             strcmp(port, up->port) == 0;
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

static int
upstream_build_url(const struct upstream *up, const char *path,
                   const char *query, const char *ihost, char **out)
{
	size_t plen = strlen(path), qlen = query != NULL ? strlen(query) : 0;
	size_t cap, o = 0;
	char *url;
	int n;

	*out = NULL;
	if (path[0] != '/')
		return WW_EINVAL;
	/* An intercepted host: only one the configuration lists. */
	if (ihost != NULL &&
	    (up->host_ok == NULL || ihost[0] == '\0' || strlen(ihost) > 253 ||
	     strspn(ihost, "abcdefghijklmnopqrstuvwxyz0123456789.-_") !=
	         strlen(ihost) ||
	     !up->host_ok(ihost, up->host_arg)))
		return WW_EINVAL;
	cap = strlen(up->scheme) + strlen(up->host) + strlen(up->port) +
	      strlen(up->prefix) + 3 * (plen + qlen) + 16 +
	      (ihost != NULL ? strlen(ihost) : 0);
	url = malloc(cap);
	if (url == NULL)
		return WW_ENOMEM;
	/* host comes from curl's parser (IPv6 keeps its brackets) */
	if (ihost != NULL)
		n = snprintf(url, cap, "https://%s:443", ihost);
	else
		n = snprintf(url, cap, "%s://%s:%s%s", up->scheme, up->host,
		             up->port, up->prefix);
	o = (size_t)n;
	upstream_url_append(url, &o, path, 0);
	if (query != NULL && query[0] != '\0') {
		url[o++] = '?';
		upstream_url_append(url, &o, query, 1);
	}
	if (!upstream_url_check(up, url, ihost)) {
		free(url);
		return WW_EINVAL;
	}
	*out = url;
	return WW_OK;
}

/* ---- sending ---- */

/* Request headers the client sent that must not travel upstream. */
static int
upstream_drop_request_header(const char *name)
{
	static const char *const drop[] = {"host", "expect", "accept-encoding",
	                                   "x-forwarded-host", "forwarded"};
	size_t len = strlen(name);

	if (upstream_hop_by_hop(name, len))
		return 1;
	for (size_t i = 0; i < WW_NELEM(drop); i++)
		if (strcasecmp(name, drop[i]) == 0)
			return 1;
	return 0;
}

static int
upstream_header_value_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\r' || *s == '\n')
			return 0;
	return 1;
}

static int
upstream_add_header(struct curl_slist **list, const char *name,
                    const char *value)
{
	size_t len = strlen(name) + strlen(value) + 3;
	char *line = malloc(len);
	struct curl_slist *n;

	if (line == NULL)
		return WW_ENOMEM;
	/* "Name;" sends an empty header; "Name:" would remove it. */
	if (value[0] == '\0')
		snprintf(line, len, "%s;", name);
	else
		snprintf(line, len, "%s: %s", name, value);
	n = curl_slist_append(*list, line);
	free(line);
	if (n == NULL)
		return WW_ENOMEM;
	*list = n;
	return WW_OK;
}

static int
upstream_build_headers(const struct upstream_request *req,
                       struct curl_slist **out)
{
	struct curl_slist *list = NULL, *n;
	int have_ctype = 0, rc = WW_OK;

	for (size_t i = 0; i < req->n_headers && rc == WW_OK; i++) {
		const struct http_header *h = &req->headers[i];
		if (upstream_drop_request_header(h->name) ||
		    !upstream_token(h->name, strlen(h->name)) ||
		    !upstream_header_value_ok(h->value))
			continue;
		if (strcasecmp(h->name, "content-type") == 0)
			have_ctype = 1;
		rc = upstream_add_header(&list, h->name, h->value);
	}
	/* No 100-continue round trip; no curl-invented Content-Type. */
	if (rc == WW_OK && (n = curl_slist_append(list, "Expect:")) == NULL)
		rc = WW_ENOMEM;
	else if (rc == WW_OK)
		list = n;
	if (rc == WW_OK && !have_ctype) {
		if ((n = curl_slist_append(list, "Content-Type:")) == NULL)
			rc = WW_ENOMEM;
		else
			list = n;
	}
	if (rc != WW_OK) {
		curl_slist_free_all(list);
		list = NULL;
	}
	*out = list;
	return rc;
}

static int
upstream_method_ok(const char *m)
{
	if (m[0] == '\0' || strlen(m) > 16)
		return 0;
	for (; *m != '\0'; m++)
		if (!isupper((unsigned char)*m))
			return 0;
	return 1;
}

/* Everything that is the same for every call. */
static void
upstream_easy_common(struct upstream *up, struct upstream_call *c)
{
	CURL *e = c->easy;

	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, up->scheme);
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, up->scheme);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, up->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, up->timeout_ms);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (up->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, up->ca_file);
	/* "" disables proxies, including the *_proxy environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, up->proxy != NULL ? up->proxy : "");
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	if (up->resolve != NULL)
		curl_easy_setopt(e, CURLOPT_RESOLVE, up->resolve);
	if (up->connect_to != NULL)
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, up->connect_to);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	                 (curl_off_t)up->max_response);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upstream_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	/* a connection keeps these from the handle that opened it */
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, upstream_close_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, up);
}

static void
upstream_easy_method(struct upstream_call *c, const struct upstream_request *r)
{
	CURL *e = c->easy;

	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->req_headers);
	if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		return;
	}
	if (strcmp(r->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if (strcmp(r->method, "POST") == 0 || r->body_len > 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)r->body_len);
		/* a zero-length body still needs a non-NULL pointer */
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		                 c->req_body != NULL ? (char *)c->req_body
		                                     : "");
	}
}

static int
upstream_call_prepare(struct upstream *up, struct upstream_call *c,
                      const struct upstream_request *req)
{
	int rc;

	if (!upstream_method_ok(req->method))
		return WW_EINVAL;
	rc = upstream_build_url(up, req->path, req->query, req->host, &c->url);
	if (rc != WW_OK)
		return rc;
	rc = upstream_build_headers(req, &c->req_headers);
	if (rc != WW_OK)
		return rc;
	if (req->body_len > c->req_cap) {
		uint8_t *nb = realloc(c->req_body, req->body_len);
		if (nb == NULL)
			return WW_ENOMEM;
		c->req_body = nb;
		c->req_cap = req->body_len;
	}
	if (req->body_len > 0)
		memcpy(c->req_body, req->body, req->body_len);
	if (up->n_idle > 0) {
		c->easy = up->idle[--up->n_idle];
		/* keeps the multi's connection and TLS session caches */
		curl_easy_reset(c->easy);
	} else if ((c->easy = curl_easy_init()) == NULL) {
		return WW_ENOMEM;
	}
	upstream_easy_common(up, c);
	upstream_easy_method(c, req);
	return WW_OK;
}

int
upstream_send(struct upstream *up, const struct upstream_request *req,
              upstream_cb cb, void *arg, struct upstream_call **out)
{
	struct upstream_call *c;
	int rc;

	if (out != NULL)
		*out = NULL;
	c = upstream_call_get(up);
	if (c == NULL)
		return WW_ENOMEM;
	c->up = up;
	c->cb = cb;
	c->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	rc = upstream_call_prepare(up, c, req);
	if (rc != WW_OK)
		goto out;
	if (curl_multi_add_handle(up->multi, c->easy) != CURLM_OK) {
		rc = WW_ENOMEM;
		goto out;
	}
	c->next = up->calls;
	if (up->calls != NULL)
		up->calls->prev = c;
	up->calls = c;
	up->n_calls++;
	if (out != NULL)
		*out = c;
	c = NULL;
out:
	if (c != NULL)
		upstream_call_free(c); /* also returns an easy handle */
	return rc;
}

void
upstream_cancel(struct upstream_call *call)
{
	if (call == NULL)
		return;
	upstream_call_unlink(call);
	upstream_call_free(call);
}

size_t
upstream_pending(const struct upstream *up)
{
	return up->n_calls;
}

uint64_t
upstream_connects(const struct upstream *up)
{
	return up->connects;
}

int
upstream_reachable(const struct upstream *up)
{
	return up->reachable;
}

/* ---- life cycle ---- */

static int
upstream_parse_url(struct upstream *up, const char *url, char *err,
                   size_t errlen)
{
	CURLU *u = curl_url();
	char *path = NULL, *q = NULL, *user = NULL;
	int rc = WW_EINVAL;
	size_t n;

	if (u == NULL)
		return WW_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &up->scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &up->host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &up->port, CURLU_DEFAULT_PORT) !=
	        CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		snprintf(err, errlen, "upstream.url: not a valid URL");
		goto out;
	}
	if (strcmp(up->scheme, "https") != 0 &&
	    strcmp(up->scheme, "http") != 0) {
		snprintf(err, errlen, "upstream.url: scheme must be https");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &q, 0) != CURLUE_NO_QUERY ||
	    curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER) {
		snprintf(err, errlen,
		         "upstream.url: no query or credentials allowed");
		goto out;
	}
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	up->prefix = strndup(path, n);
	rc = up->prefix != NULL ? WW_OK : WW_ENOMEM;
out:
	curl_free(path);
	curl_free(q);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/*
 * "host:port:addr:port2" (an address with its own port, as a test or a
 * relay needs) is curl's CONNECT_TO; "host:port:addr" is RESOLVE.
 */
static int
upstream_resolve_has_port(const char *line)
{
	const char *a = strchr(line, ':'), *last;

	if (a == NULL || (a = strchr(a + 1, ':')) == NULL)
		return 0;
	a++; /* the address part */
	last = strrchr(a, ':');
	if (last == NULL || last[1] == '\0' ||
	    strspn(last + 1, "0123456789") != strlen(last + 1))
		return 0;
	/* "[v6]:port", or IPv4/name with one colon */
	return a[0] == '[' ? last[-1] == ']' : strchr(a, ':') == last;
}

static int
upstream_copy_opts(struct upstream *up, const struct upstream_opts *opts)
{
	up->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms
	                                      : UPSTREAM_DEFAULT_TIMEOUT_MS;
	up->max_response = opts->max_response_bytes > 0
	                       ? opts->max_response_bytes
	                       : UPSTREAM_DEFAULT_MAX_RESPONSE;
	up->max_idle = opts->max_idle_handles > 0 ? opts->max_idle_handles
	                                          : UPSTREAM_DEFAULT_IDLE;
	up->idle = calloc(up->max_idle, sizeof(*up->idle));
	if (up->idle == NULL)
		return WW_ENOMEM;
	if (opts->ca_file != NULL &&
	    (up->ca_file = strdup(opts->ca_file)) == NULL)
		return WW_ENOMEM;
	if (opts->proxy != NULL && opts->proxy[0] != '\0' &&
	    (up->proxy = strdup(opts->proxy)) == NULL)
		return WW_ENOMEM;
	up->host_ok = opts->host_ok;
	up->host_arg = opts->host_arg;
	for (size_t i = 0; opts->resolve != NULL && opts->resolve[i] != NULL;
	     i++) {
		int to = upstream_resolve_has_port(opts->resolve[i]);
		struct curl_slist **l = to ? &up->connect_to : &up->resolve;
		struct curl_slist *n = curl_slist_append(*l, opts->resolve[i]);
		if (n == NULL)
			return WW_ENOMEM;
		*l = n;
	}
	return WW_OK;
}

int
upstream_new(struct event_base *base, const struct upstream_opts *opts,
             struct upstream **out, char *err, size_t errlen)
{
	struct upstream *up;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (opts->url == NULL) {
		snprintf(err, errlen, "upstream.url: missing");
		return WW_EINVAL;
	}
	up = calloc(1, sizeof(*up));
	if (up == NULL)
		return WW_ENOMEM;
	up->base = base;
	up->reachable = -1;
	rc = upstream_parse_url(up, opts->url, err, errlen);
	if (rc == WW_OK)
		rc = upstream_copy_opts(up, opts);
	if (rc != WW_OK)
		goto out;
	up->multi = curl_multi_init();
	up->timer = evtimer_new(base, upstream_on_timer, up);
	if (up->multi == NULL || up->timer == NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION,
	                  upstream_socket_cb);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, upstream_timer_cb);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS,
	                  opts->max_conns > 0 ? opts->max_conns : 1024L);
	*out = up;
	up = NULL;
out:
	upstream_free(up);
	return rc;
}

void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	while (up->calls != NULL)
		upstream_call_abort(up->calls);
	/* cleanup may still call the socket callback: free events after */
	if (up->multi != NULL)
		curl_multi_cleanup(up->multi);
	for (size_t i = 0; i < up->n_socks; i++)
		if (up->socks[i] != NULL)
			upstream_sock_free(up->socks[i]);
	free(up->socks);
	for (size_t i = 0; i < up->n_idle; i++)
		curl_easy_cleanup(up->idle[i]);
	while (up->spare != NULL) {
		struct upstream_call *c = up->spare;
		up->spare = c->next;
		upstream_call_destroy(c);
	}
	if (up->timer != NULL)
		event_free(up->timer);
	curl_slist_free_all(up->resolve);
	curl_slist_free_all(up->connect_to);
	free(up->idle);
	free(up->ca_file);
	free(up->proxy);
	curl_free(up->scheme);
	curl_free(up->host);
	curl_free(up->port);
	free(up->prefix);
	free(up);
}
