/*
 * connect.c: the CONNECT phase of an explicit-mode connection.  The head
 * is read into a fixed buffer (no allocation per byte a client sends);
 * once complete, the connection leaves this module: to a struct conn
 * (intercept), a tunnel (passthrough) or closed after a refusal.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "ww.h"
#include "log.h"
#include "proxy/auth.h"
#include "proxy/conn.h"
#include "proxy/connect.h"
#include "proxy/hostclass.h"
#include "proxy/pending.h"
#include "proxy/tunnel.h"

static const char connect_ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

/* A connection's CONNECT phase: pending_data of its entry. */
struct connecting {
	struct pending *pend; /* owns the socket until it is handed over */
	struct connect_set *set;
	struct auth *auth;
	SSL_CTX *tls; /* the listener's intercepting context */
	struct evdns_getaddrinfo_request *dns;
	int in_dns_call, dns_done, dns_err;
	struct sockaddr_storage target;
	socklen_t tlen;
	char host[HOSTLIST_NAME_MAX];
	char user[AUTH_USER_MAX];
	size_t len;
	char buf[CONNECT_MAX_HEAD];
};

struct connect_set {
	struct connect_env env;
	struct pending_set *pend;
	struct evdns_base *dns; /* made on the first name to resolve */
};

/* ---- parsing ---- */

static int
connect_fail(struct connect_req *out, int status, const char *why)
{
	out->status = status;
	out->error = why;
	return WW_EINVAL;
}

static int
connect_tchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

/* Copy a host of n visible ASCII bytes into out->host, or refuse it. */
static int
connect_set_host(const char *h, size_t n, struct connect_req *out)
{
	if (n == 0 || n >= sizeof(out->host))
		return connect_fail(out, 400, "bad host");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f)
			return connect_fail(out, 400, "bad host");
	memcpy(out->host, h, n);
	out->host[n] = '\0';
	return WW_OK;
}

/* "host:port" (a name, or "[v6]" which hostclass then refuses). */
static int
connect_authority(const char *a, size_t n, struct connect_req *out)
{
	const char *colon = NULL;
	unsigned long port = 0;

	for (size_t i = 0; i < n; i++)
		if (a[i] == ':')
			colon = a + i;
	if (colon == NULL || colon == a ||
	    (size_t)(colon - a) >= sizeof(out->host))
		return connect_fail(out, 400, "CONNECT needs host:port");
	if (colon + 1 == a + n || a + n - colon - 1 > 5)
		return connect_fail(out, 400, "bad port");
	for (const char *p = colon + 1; p < a + n; p++) {
		if (*p < '0' || *p > '9')
			return connect_fail(out, 400, "bad port");
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return connect_fail(out, 400, "bad port");
	if (connect_set_host(a, (size_t)(colon - a), out) != WW_OK)
		return WW_EINVAL;
	out->port = (unsigned)port;
	return WW_OK;
}

/* "http://host[:port]/..." (absolute form, RFC 9112 section 3.2.2). */
static int
connect_absolute(const char *t, size_t n, struct connect_req *out)
{
	size_t a;

	if (n < 8 || strncasecmp(t, "http://", 7) != 0)
		return connect_fail(out, 405,
		                    "only CONNECT and http:// "
		                    "requests are served here");
	t += 7;
	n -= 7;
	a = strcspn(t, "/?#");
	if (a > n)
		a = n;
	if (memchr(t, '@', a) != NULL)
		return connect_fail(out, 400, "user info in the URL");
	if (memchr(t, ':', a) == NULL) {
		if (connect_set_host(t, a, out) != WW_OK)
			return WW_EINVAL;
		out->port = 80;
	} else if (connect_authority(t, a, out) != WW_OK) {
		return WW_EINVAL;
	}
	out->absolute = 1;
	return WW_OK;
}

static int
connect_request_line(const char *l, size_t n, struct connect_req *out)
{
	const char *sp1 = memchr(l, ' ', n), *sp2;

	if (sp1 == NULL || sp1 == l)
		return connect_fail(out, 400, "bad request line");
	for (const char *m = l; m < sp1; m++)
		if (*m < 'A' || *m > 'Z')
			return connect_fail(out, 400, "bad method");
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - l));
	if (sp2 == NULL || (size_t)(l + n - sp2 - 1) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 &&
	     memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
		return connect_fail(out, 400, "bad request line");
	if ((size_t)(sp1 - l) != 7 || memcmp(l, "CONNECT", 7) != 0)
		return connect_absolute(sp1 + 1, (size_t)(sp2 - sp1 - 1), out);
	return connect_authority(sp1 + 1, (size_t)(sp2 - sp1 - 1), out);
}

static int
connect_header(const char *l, size_t n, struct connect_req *out)
{
	const char *colon = memchr(l, ':', n), *v, *end = l + n;

	if (colon == NULL || colon == l)
		return connect_fail(out, 400, "bad header line");
	for (const char *p = l; p < colon; p++)
		if (!connect_tchar((unsigned char)*p))
			return connect_fail(out, 400, "bad header name");
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *p = v; p < end; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return connect_fail(out, 400, "bad header value");
	if ((size_t)(colon - l) != 19 ||
	    strncasecmp(l, "Proxy-Authorization", 19) != 0)
		return WW_OK;
	if (out->auth[0] != '\0')
		return connect_fail(out, 400,
		                    "two Proxy-Authorization headers");
	if ((size_t)(end - v) >= sizeof(out->auth) || end == v)
		return connect_fail(out, 400, "bad Proxy-Authorization");
	memcpy(out->auth, v, (size_t)(end - v));
	out->auth[end - v] = '\0';
	return WW_OK;
}

int
connect_parse(const char *buf, size_t len, struct connect_req *out)
{
	const char *p = buf, *end = buf + len, *eol;
	size_t nh = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
		return connect_fail(out, 400, "incomplete request");
	end -= 2; /* the last line is the empty one */
	for (int first = 1; p < end; first = 0, p = eol + 2) {
		eol = p;
		while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
			eol++;
		if (eol + 1 >= end || memchr(p, '\n', (size_t)(eol - p)) ||
		    memchr(p, '\r', (size_t)(eol - p)) ||
		    memchr(p, '\0', (size_t)(eol - p)))
			return connect_fail(out, 400, "bad line ending");
		if (first)
			rc = connect_request_line(p, (size_t)(eol - p), out);
		else if (*p == ' ' || *p == '\t')
			return connect_fail(out, 400, "folded header");
		else if (++nh > CONNECT_MAX_HEADERS)
			return connect_fail(out, 400, "too many headers");
		else
			rc = connect_header(p, (size_t)(eol - p), out);
		if (rc != WW_OK)
			return rc;
	}
	return WW_OK;
}

/* ---- the connection's CONNECT phase ---- */

/* The entry's last step (pending_env.release): no answer may come now. */
static void
connect_release(struct pending *pend, void *arg)
{
	struct connecting *p = pending_data(pend);

	(void)arg;
	if (p->dns != NULL)
		evdns_getaddrinfo_cancel(p->dns); /* its callback ignores p */
}

static void
connect_info(const struct connecting *p, const char *host, const char *decision,
             const char *dst, struct tunnel_info *in)
{
	*in = (struct tunnel_info){.client_addr = pending_addr(p->pend),
	                           .client_port = pending_port(p->pend),
	                           .proxy_user = p->user[0] ? p->user : NULL,
	                           .host = host,
	                           .original_dst = dst,
	                           .decision = decision};
}

/* Answer status and close; a policy refusal is journaled (reason). */
static void
connect_refuse(struct connecting *p, int status, const char *text,
               const char *reason)
{
	int fd = pending_fd(p->pend);
	char resp[512];
	struct tunnel_info in;
	int n;

	n = snprintf(resp, sizeof(resp),
	             "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	             "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	             status, text,
	             status == 407 ? "Proxy-Authenticate: Basic "
	                             "realm=\"wwgate\"\r\n"
	                           : "",
	             strlen(reason) + 1, reason);
	if (send(fd, resp, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		shutdown(fd, SHUT_WR);
	log_info("connect %s:%u %s: %d %s", pending_addr(p->pend),
	         pending_port(p->pend), p->host[0] ? p->host : "-", status,
	         reason);
	if (status == 403 || status == 407) {
		connect_info(p, p->host,
		             hostclass_decision_name(HOSTCLASS_REFUSE), NULL,
		             &in);
		tunnel_record(*p->set->env.journal, &in, 0, 0, 0, reason);
	}
	pending_close(p->pend);
}

/*
 * Hand the socket to a struct conn as an HTTP connection to host; tls is
 * the intercepting context, or NULL for plain HTTP.
 */
static void
connect_to_conn(struct connecting *p, SSL_CTX *tls, const char *what)
{
	struct conn_origin o = {.host = p->host,
	                        .proxy_user = p->user[0] ? p->user : NULL};
	const struct sockaddr *sa;
	socklen_t salen;
	int fd = pending_take_fd(p->pend);

	sa = pending_sa(p->pend, &salen);
	if (conn_accept_origin(p->set->env.conns, fd, sa, salen, tls, &o) !=
	    WW_OK)
		log_warnx("connect: out of memory for %s", what);
	pending_close(p->pend);
}

static void
connect_intercept(struct connecting *p)
{
	if (send(pending_fd(p->pend), connect_ok, sizeof(connect_ok) - 1,
	         MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(connect_ok) - 1) {
		log_info("connect %s:%u %s: client gone", pending_addr(p->pend),
		         pending_port(p->pend), p->host);
		pending_close(p->pend);
		return;
	}
	connect_to_conn(p, p->tls, "an intercepted connection");
}

/*
 * A plain-HTTP proxy request to an intercepted host: the connection, its
 * request still unread, becomes an HTTP connection like reverse mode's,
 * sent to https://host.
 */
static void
connect_plain(struct connecting *p)
{
	connect_to_conn(p, NULL, "a plain connection");
}

static void
connect_splice(struct connecting *p)
{
	static const char fail[] =
	    "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n";
	char dst[INET6_ADDRSTRLEN + 8], a[INET6_ADDRSTRLEN];
	struct tunnel_info in;
	unsigned port;
	int fd;

	pending_addr_text(&p->target, a, sizeof(a), &port);
	snprintf(dst, sizeof(dst),
	         p->target.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
	         port);
	connect_info(p, p->host, hostclass_decision_name(HOSTCLASS_PASSTHROUGH),
	             dst, &in);
	fd = pending_take_fd(p->pend);
	if (tunnel_start(p->set->env.tunnels, fd, (struct sockaddr *)&p->target,
	                 p->tlen, &in, connect_ok, fail) != WW_OK)
		log_warnx("connect: out of memory for a tunnel");
	pending_close(p->pend);
}

static void
connect_on_dns(int err, struct evutil_addrinfo *res, void *arg)
{
	struct connecting *p = arg;

	if (err == EVUTIL_EAI_CANCEL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return; /* p is gone */
	}
	p->dns = NULL;
	p->dns_done = 1;
	p->dns_err =
	    err != 0 || res == NULL || res->ai_addrlen > sizeof(p->target);
	if (!p->dns_err) {
		memcpy(&p->target, res->ai_addr, res->ai_addrlen);
		p->tlen = (socklen_t)res->ai_addrlen;
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (p->in_dns_call)
		return; /* connect_resolve goes on */
	if (p->dns_err)
		connect_refuse(p, 502, "Bad Gateway", "cannot resolve host");
	else
		connect_splice(p);
}

static void
connect_resolve(struct connecting *p, unsigned port)
{
	struct connect_set *s = p->set;
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
	                                .ai_socktype = SOCK_STREAM,
	                                .ai_flags = EVUTIL_AI_ADDRCONFIG};
	char service[8];

	if (s->dns == NULL &&
	    (s->dns = evdns_base_new(
	         s->env.base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		connect_refuse(p, 502, "Bad Gateway", "no resolver");
		return;
	}
	snprintf(service, sizeof(service), "%u", port);
	p->in_dns_call = 1;
	p->dns = evdns_getaddrinfo(s->dns, p->host, service, &hints,
	                           connect_on_dns, p);
	p->in_dns_call = 0;
	if (!p->dns_done)
		return;
	p->dns = NULL;
	if (p->dns_err)
		connect_refuse(p, 502, "Bad Gateway", "cannot resolve host");
	else
		connect_splice(p);
}

static void
connect_decide(struct connecting *p, const struct connect_req *req)
{
	struct connect_set *s = p->set;
	char canon[HOSTLIST_NAME_MAX];
	enum hostclass_decision d;

	snprintf(p->host, sizeof(p->host), "%s", req->host);
	if (p->auth != NULL &&
	    auth_check(p->auth, req->auth, p->user) != WW_OK) {
		connect_refuse(p, 407, "Proxy Authentication Required",
		               "proxy authentication required");
		return;
	}
	if (req->port != (req->absolute ? 80u : 443u)) {
		connect_refuse(p, 403, "Forbidden", "port not allowed");
		return;
	}
	d = hostclass_decide(s->env.hc, req->host, canon);
	if (canon[0] != '\0')
		snprintf(p->host, sizeof(p->host), "%s", canon);
	if (req->absolute) {
		/* Plain HTTP: only intercepted hosts (never a generic proxy).
		 */
		if (d == HOSTCLASS_INTERCEPT)
			connect_plain(p);
		else
			connect_refuse(p, 403, "Forbidden",
			               "host not allowed for plain HTTP");
		return;
	}
	if (d == HOSTCLASS_REFUSE) {
		connect_refuse(p, 403, "Forbidden", "host not allowed");
		return;
	}
	if (d == HOSTCLASS_INTERCEPT) {
		connect_intercept(p);
		return;
	}
	if (hostclass_target(s->env.hc, p->host, req->port, &p->target,
	                     &p->tlen) == WW_OK)
		connect_splice(p);
	else
		connect_resolve(p, req->port);
}

/* The head is complete at p->buf[0..len) (peeked, not yet read). */
static void
connect_head(struct connecting *p, size_t len)
{
	struct connect_req req;
	char junk[256];

	pending_stop(p->pend);
	if (connect_parse(p->buf, len, &req) != WW_OK) {
		connect_refuse(p, req.status,
		               req.status == 405 ? "Method Not Allowed"
		                                 : "Bad Request",
		               req.error);
		return;
	}
	/* A CONNECT head is ours: read it out of the socket. */
	for (size_t done = 0; !req.absolute && done < len;) {
		size_t want =
		    len - done < sizeof(junk) ? len - done : sizeof(junk);
		ssize_t n = recv(pending_fd(p->pend), junk, want, MSG_DONTWAIT);
		if (n <= 0) {
			pending_close(p->pend);
			return;
		}
		done += (size_t)n;
	}
	connect_decide(p, &req);
	explicit_bzero(req.auth, sizeof(req.auth));
}

/*
 * The head is only peeked at: a CONNECT's head is consumed once it is
 * complete (what follows it, e.g. an early ClientHello, stays in the
 * socket for the TLS handshake or the tunnel); a plain http:// request is
 * left whole for the HTTP connection that will read it.  The read event
 * is edge-triggered (pending.h), so an incomplete head waits for the next
 * bytes without spinning.
 */
static void
connect_on_read(struct pending *pend, void *arg)
{
	struct connecting *p = pending_data(pend);
	const char *end;
	ssize_t n;

	(void)arg;
	n = recv(pending_fd(pend), p->buf, sizeof(p->buf), MSG_PEEK);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		pending_close(pend);
		return;
	}
	if ((size_t)n == p->len)
		return; /* nothing new (an EOF after a partial head): the
		           header timer ends it */
	p->len = (size_t)n;
	end = memmem(p->buf, p->len, "\r\n\r\n", 4);
	if (end != NULL)
		connect_head(p, (size_t)(end + 4 - p->buf));
	else if (p->len == sizeof(p->buf))
		connect_refuse(p, 431, "Request Header Fields Too Large",
		               "CONNECT request too large");
}

static void
connect_on_timer(struct pending *pend, void *arg)
{
	(void)arg;
	connect_refuse(pending_data(pend), 408, "Request Timeout",
	               "CONNECT request too slow");
}

int
connect_accept(struct connect_set *s, int fd, const struct sockaddr *sa,
               socklen_t salen, struct auth *auth, SSL_CTX *tls)
{
	struct pending *pend;
	struct connecting *p;
	int rc;

	rc = pending_add(s->pend, fd, sa, salen,
	                 s->env.limits->header_timeout_ms, &pend);
	if (rc != WW_OK)
		return rc;
	p = pending_data(pend);
	p->pend = pend;
	p->set = s;
	p->auth = auth;
	p->tls = tls;
	return WW_OK;
}

int
connect_set_new(const struct connect_env *env, struct connect_set **out)
{
	struct connect_set *s = calloc(1, sizeof(*s));
	struct pending_env penv = {.base = env->base,
	                           .metrics = env->metrics,
	                           .data_size = sizeof(struct connecting),
	                           .on_read = connect_on_read,
	                           .on_timeout = connect_on_timer,
	                           .release = connect_release};
	int rc;

	*out = NULL;
	if (s == NULL)
		return WW_ENOMEM;
	s->env = *env;
	penv.arg = s;
	if ((rc = pending_set_new(&penv, &s->pend)) != WW_OK) {
		free(s);
		return rc;
	}
	*out = s;
	return WW_OK;
}

void
connect_set_close_all(struct connect_set *s)
{
	pending_close_all(s->pend);
}

void
connect_set_free(struct connect_set *s)
{
	if (s == NULL)
		return;
	/* The entries first: each cancels its lookup on s->dns. */
	pending_set_free(s->pend);
	if (s->dns != NULL)
		evdns_base_free(s->dns, 0);
	free(s);
}

size_t
connect_set_count(const struct connect_set *s)
{
	return pending_count(s->pend);
}
