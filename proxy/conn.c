/*
 * conn.c: one client connection: bufferevent (OpenSSL or plain), the
 * HTTP/1.1 reader, and a queue of slots, one per request, so answers
 * leave in request order whatever order the exchanges finish in.
 *
 * Callbacks are deferred (BEV_OPT_DEFER_CALLBACKS): an exchange may answer
 * from inside exchange_start(), and nothing frees a connection except a
 * callback that runs from the event loop (read, write, event, timer).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "ww.h"
#include "log.h"
#include "certs/hostlist.h"
#include "proxy/callback.h"
#include "proxy/conn.h"
#include "proxy/http1.h"
#include "proxy/metrics.h"
#include "proxy/tls.h"

#define CONN_MAX_PIPELINE 32     /* requests in flight per connection */
#define CONN_OUT_HIGH (4u << 20) /* stop reading while this much is owed */
#define CONN_MIN_BODY_RATE                                                     \
	1024 /* bytes/s a body must average past its grace                     \
	      */

struct slot {
	TAILQ_ENTRY(slot) link;
	struct conn *c;
	struct exchange *ex;           /* while the exchange runs */
	struct callback_exchange *cbx; /* or a callback exchange */
	struct evbuffer *out;          /* the answer, once ready */
	int ready, close_after, head;
	int http10; /* an HTTP/1.0 client asked for keep-alive */
};

struct conn {
	TAILQ_ENTRY(conn) link;
	struct conn_set *set;
	uint64_t id;
	struct bufferevent *bev;
	struct http1 *reader;
	struct event *timer, *kick;
	TAILQ_HEAD(slotq_, slot) slots;
	size_t nslots;
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	char sni[256];
	char host[256];    /* conn_origin: intercepted host, or "" */
	char user[128];    /* conn_origin: proxy user, or "" */
	char subject[256]; /* verified client certificate (client_ca), or "" */
	int tls, handshaken;
	int no_more;   /* read no further request */
	int closing;   /* close once the owed answers are written */
	int in_header; /* header timer armed for the current request */
	int in_body;   /* body_t0_ms and body_rx0 describe the current body */
	uint64_t rx;   /* request bytes consumed from the client */
	uint64_t body_rx0;   /* rx when the current body began */
	uint64_t body_t0_ms; /* CLOCK_MONOTONIC when it began */
};

struct conn_set {
	struct conn_env env;
	TAILQ_HEAD(connq_, conn) conns;
	size_t count;
	uint64_t next_id;
	int draining;
};

static void conn_close(struct conn *c);
static void conn_read_input(struct conn *c);

static void conn_vlog(const struct conn *c, enum log_level level,
                      const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
conn_vlog(const struct conn *c, enum log_level level, const char *fmt,
          va_list ap)
{
	char msg[1024];

	if (level > log_get_level())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (level == LOG_LEVEL_DEBUG)
		log_debug("conn %u-%llu %s:%u%s%s: %s", c->set->env.worker,
		          (unsigned long long)c->id, c->addr, c->port,
		          c->sni[0] ? " sni " : "", c->sni, msg);
	else if (level == LOG_LEVEL_INFO)
		log_info("conn %u-%llu %s:%u%s%s: %s", c->set->env.worker,
		         (unsigned long long)c->id, c->addr, c->port,
		         c->sni[0] ? " sni " : "", c->sni, msg);
	else
		log_warnx("conn %u-%llu %s:%u%s%s: %s", c->set->env.worker,
		          (unsigned long long)c->id, c->addr, c->port,
		          c->sni[0] ? " sni " : "", c->sni, msg);
}

void
conn_log_warnx(const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_vlog(c, LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void
conn_log_info(const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_vlog(c, LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void
conn_log_debug(const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_vlog(c, LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

static void
conn_count(struct conn *c, enum metrics_counter k, int64_t delta)
{
	if (c->set->env.metrics != NULL)
		metrics_add(c->set->env.metrics, k, delta);
}

static void
conn_timer_ms(struct conn *c, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(c->timer, &tv);
}

static uint64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * How long to wait for more body: body_timeout_ms between reads, and past
 * that grace the body must average CONN_MIN_BODY_RATE, or a client
 * trickling a byte now and then would hold its connection (and a
 * max_connections slot) forever: tests/fault/abuse.sh, "slow bodies".
 */
static unsigned
conn_body_wait_ms(struct conn *c, unsigned idle_ms)
{
	uint64_t now = conn_now_ms(), spent, earned;

	if (!c->in_body) {
		c->in_body = 1;
		c->body_t0_ms = now;
		c->body_rx0 = c->rx;
	}
	spent = now - c->body_t0_ms;
	earned = idle_ms + (c->rx - c->body_rx0) * 1000 / CONN_MIN_BODY_RATE;
	if (spent >= earned)
		return 1; /* too slow: time out now */
	return earned - spent < idle_ms ? (unsigned)(earned - spent) : idle_ms;
}

/*
 * One timer per connection, armed for what the connection waits for: the
 * handshake, the rest of the headers (from the first byte: slowloris),
 * the next body bytes (idle), or the next request (keep-alive idle).
 * While answers are owed, the exchange's own deadlines apply.
 */
static void
conn_arm_timer(struct conn *c)
{
	const struct conf_limits *lim = c->set->env.limits;

	if (c->tls && !c->handshaken)
		return; /* armed once at accept */
	if (c->no_more) {
		/* Nothing more is read: wait for the answers, then the write.
		 */
		if (c->nslots > 0)
			evtimer_del(c->timer);
		else
			conn_timer_ms(c, lim->keepalive_timeout_ms);
		return;
	}
	switch (http1_phase(c->reader)) {
	case HTTP1_HEADERS:
		c->in_body = 0;
		if (!c->in_header)
			conn_timer_ms(c, lim->header_timeout_ms);
		c->in_header = 1;
		return;
	case HTTP1_BODY:
		c->in_header = 0;
		conn_timer_ms(c, conn_body_wait_ms(c, lim->body_timeout_ms));
		return;
	case HTTP1_IDLE:
		c->in_header = c->in_body = 0;
		if (c->nslots == 0)
			conn_timer_ms(c, lim->keepalive_timeout_ms);
		else
			evtimer_del(c->timer);
		return;
	}
}

/* Hop-by-hop and framing headers are ours to write (RFC 9110 §7.6.1). */
static int
conn_skip_header(const struct http_header *h)
{
	static const char *const hop[] = {"connection",
	                                  "keep-alive",
	                                  "transfer-encoding",
	                                  "content-length",
	                                  "proxy-connection",
	                                  "upgrade",
	                                  "te",
	                                  "trailer"};

	if (strpbrk(h->name, "\r\n:") != NULL || strpbrk(h->value, "\r\n"))
		return 1;
	for (size_t i = 0; i < WW_NELEM(hop); i++)
		if (strcasecmp(h->name, hop[i]) == 0)
			return 1;
	return 0;
}

static int
conn_serialize(struct evbuffer *out, const struct http_response *resp,
               const struct slot *s)
{
	const char *conn = s->close_after ? "Connection: close\r\n"
	                   : s->http10    ? "Connection: keep-alive\r\n"
	                                  : "";
	int rc = 0;

	rc |= evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", resp->status,
	                          http1_reason(resp->status)) < 0;
	for (size_t i = 0; i < resp->n_headers; i++) {
		if (conn_skip_header(&resp->headers[i]))
			continue;
		rc |= evbuffer_add_printf(out, "%s: %s\r\n",
		                          resp->headers[i].name,
		                          resp->headers[i].value) < 0;
	}
	rc |= evbuffer_add_printf(out, "Content-Length: %zu\r\n%s\r\n",
	                          resp->body_len, conn) < 0;
	if (!s->head && resp->body_len > 0)
		rc |= evbuffer_add(out, resp->body, resp->body_len);
	return rc ? WW_ENOMEM : WW_OK;
}

static void
conn_slot_free(struct slot *s)
{
	if (s->ex != NULL)
		exchange_detach(s->ex);
	if (s->cbx != NULL)
		callback_detach(s->cbx);
	if (s->out != NULL)
		evbuffer_free(s->out);
	free(s);
}

static struct slot *
conn_slot_new(struct conn *c)
{
	struct slot *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if ((s->out = evbuffer_new()) == NULL) {
		free(s);
		return NULL;
	}
	s->c = c;
	TAILQ_INSERT_TAIL(&c->slots, s, link);
	c->nslots++;
	return s;
}

/* Write every answer that is ready and owed next. */
static void
conn_flush(struct conn *c)
{
	struct evbuffer *output = bufferevent_get_output(c->bev);
	struct slot *s;

	while ((s = TAILQ_FIRST(&c->slots)) != NULL && s->ready) {
		evbuffer_add_buffer(output, s->out);
		if (s->close_after) {
			c->closing = 1;
			c->no_more = 1;
		}
		TAILQ_REMOVE(&c->slots, s, link);
		c->nslots--;
		conn_slot_free(s);
	}
	conn_arm_timer(c);
	/* Requests may wait in the input buffer: read them from the loop. */
	if (!c->no_more)
		event_active(c->kick, EV_TIMEOUT, 1);
}

static void
conn_on_reply(const struct http_response *resp, void *arg)
{
	struct slot *s = arg;

	s->ex = NULL;
	s->cbx = NULL;
	s->ready = 1;
	if (conn_serialize(s->out, resp, s) != WW_OK) {
		conn_log_warnx(s->c, "out of memory writing an answer");
		s->close_after = 1;
	}
	conn_flush(s->c);
}

/* A protocol error: answered after what is owed, then the end. */
static void
conn_queue_error(struct conn *c, int status, long code, const char *msg)
{
	struct slot *s = conn_slot_new(c);
	struct http_header ct = {"Content-Type",
	                         "application/json; charset=UTF-8"};
	char body[256];
	struct http_response resp = {.status = status,
	                             .headers = &ct,
	                             .n_headers = 1,
	                             .body = (const uint8_t *)body};

	c->no_more = 1;
	if (s == NULL) {
		/* No memory for an answer: close once what is owed is out. */
		c->closing = 1;
		return;
	}
	resp.body_len = http1_error_body(body, sizeof(body), code, msg);
	s->close_after = 1;
	conn_log_info(c, "%d %s", status, msg);
	conn_on_reply(&resp, s);
}

/*
 * An intercepted connection serves its one host: a request whose Host
 * (or absolute-form URL, which http1.c turns into Host's place) names
 * another would be sent to the wrong server.
 */
static int
conn_host_ok(const struct conn *c, const struct http_request *req)
{
	char host[HOSTLIST_NAME_MAX];
	size_t n;

	for (size_t i = 0; i < req->n_headers; i++) {
		if (strcasecmp(req->headers[i].name, "host") != 0)
			continue;
		n = strcspn(req->headers[i].value, ":");
		if (n >= sizeof(host))
			return 0;
		memcpy(host, req->headers[i].value, n);
		host[n] = '\0';
		return hostlist_pattern_match(c->host, host);
	}
	return 1; /* HTTP/1.0 without Host: the connection's host */
}

static void
conn_dispatch(struct conn *c)
{
	const struct http_request *req = http1_request(c->reader);
	struct exchange_client client = {
	    .address = c->addr,
	    .port = c->port,
	    .sni = c->sni[0] ? c->sni : NULL,
	    .cert_subject = c->subject[0] ? c->subject : NULL,
	    .host = c->host[0] ? c->host : NULL,
	    .proxy_user = c->user[0] ? c->user : NULL};
	struct exchange *ex = NULL;
	struct callback_exchange *cbx = NULL;
	struct slot *s;
	int rc;

	if (c->host[0] != '\0' && !conn_host_ok(c, req)) {
		conn_queue_error(c, 400, HTTP1_ERRCODE_MALFORMED,
		                 "Host does not name the intercepted host");
		return;
	}
	if ((s = conn_slot_new(c)) == NULL) {
		conn_queue_error(c, 503, -1, "system busy");
		return;
	}
	s->head = strcmp(req->method, "HEAD") == 0;
	s->close_after = !http1_keep_alive(c->reader) || c->set->draining;
	if (s->close_after)
		c->no_more = 1;
	else
		s->http10 = http1_version(c->reader) == 10;
	/* A configured WeCom callback route (reverse mode only). */
	if (client.host == NULL &&
	    callback_match(c->set->env.xenv->callbacks, req->path))
		rc = callback_start(c->set->env.xenv, &client, req,
		                    conn_on_reply, s, &cbx);
	else
		rc = exchange_start(c->set->env.xenv, &client, req,
		                    conn_on_reply, s, &ex);
	if (rc != WW_OK) {
		/* Its place at the tail goes to the refusal. */
		TAILQ_REMOVE(&c->slots, s, link);
		c->nslots--;
		conn_slot_free(s);
		conn_queue_error(c, 503, -1, "system busy");
		return;
	}
	if (!s->ready) {
		s->ex = ex;
		s->cbx = cbx;
	}
}

static void
conn_send_continue(struct conn *c)
{
	/* An interim answer may not overtake final ones still owed. */
	if (c->nslots == 0)
		bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Feed one event's worth of input; 0 to go on, -1 to stop reading. */
static int
conn_feed(struct conn *c, struct evbuffer *input)
{
	struct evbuffer_iovec v;
	enum http1_event ev;
	size_t used;
	int status;
	long code;
	const char *msg;

	if (evbuffer_peek(input, -1, NULL, &v, 1) < 1)
		return -1;
	ev = http1_feed(c->reader, v.iov_base, v.iov_len, &used);
	evbuffer_drain(input, used);
	switch (ev) {
	case HTTP1_MORE:
		return used > 0 ? 0 : -1;
	case HTTP1_CONTINUE:
		conn_send_continue(c);
		return 0;
	case HTTP1_REQUEST:
		conn_dispatch(c);
		return 0;
	case HTTP1_ERROR:
		http1_error(c->reader, &status, &code, &msg);
		conn_queue_error(c, status, code, msg);
		return -1;
	}
	return -1;
}

/*
 * TLS connections read ahead (one read(2) for a record's header and body,
 * or for several records), so OpenSSL may hold whole records that no
 * socket event will announce: bufferevent_openssl only drains the record
 * it is in (SSL_pending).  Move them to the input buffer.  Returns 1 when
 * something was added.  A close_notify or an error found here ends the
 * reading, as the bufferevent would have.
 */
static int
conn_pull_tls(struct conn *c, struct evbuffer *input)
{
	SSL *ssl = c->tls ? bufferevent_openssl_get_ssl(c->bev) : NULL;
	int added = 0;

	while (ssl != NULL && c->handshaken && SSL_has_pending(ssl)) {
		struct evbuffer_iovec v;
		int n;

		if (evbuffer_reserve_space(input, 16384, &v, 1) < 1)
			break;
		n = SSL_read(ssl, v.iov_base, (int)v.iov_len);
		if (n <= 0) {
			int e = SSL_get_error(ssl, n);

			evbuffer_commit_space(input, &v, 0);
			if (e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE) {
				conn_log_debug(c, "client ended TLS");
				c->no_more = 1;
				c->closing = 1; /* once what is owed is out */
			}
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(input, &v, 1);
		added = 1;
	}
	return added;
}

static void
conn_read_input(struct conn *c)
{
	struct evbuffer *input = bufferevent_get_input(c->bev);
	struct evbuffer *output = bufferevent_get_output(c->bev);

	while (!c->no_more &&
	       (evbuffer_get_length(input) > 0 || conn_pull_tls(c, input))) {
		size_t had = evbuffer_get_length(input);

		if (c->nslots >= CONN_MAX_PIPELINE ||
		    evbuffer_get_length(output) > CONN_OUT_HIGH) {
			/* Backpressure: conn_flush kicks us again. */
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		if (conn_feed(c, input) != 0)
			break;
		c->rx += had - evbuffer_get_length(input);
	}
	if (c->closing && c->nslots == 0 && evbuffer_get_length(output) == 0) {
		conn_close(c); /* nothing owed: conn_on_write will not run */
		return;
	}
	if (c->no_more)
		bufferevent_disable(c->bev, EV_READ);
	else
		bufferevent_enable(c->bev, EV_READ);
	conn_arm_timer(c);
}

static void
conn_on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_read_input(arg);
}

static void
conn_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->no_more)
		conn_read_input(c);
}

static void
conn_on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing && c->nslots == 0 &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		conn_close(c);
		return;
	}
	if (!c->no_more && c->nslots < CONN_MAX_PIPELINE)
		event_active(c->kick, EV_TIMEOUT, 1);
}

/*
 * A client certificate is only there when the listener has client_ca,
 * which makes OpenSSL verify it during the handshake: its subject is then
 * the client's identity for the journal.
 */
static void
conn_peer_subject(struct conn *c, SSL *ssl)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	BIO *b;
	int n;

	if (peer == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    (b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
	                       XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(b, c->subject, (int)sizeof(c->subject) - 1);
		c->subject[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

static void
conn_on_handshake(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	const char *sni = NULL;

	c->handshaken = 1;
	if (ssl != NULL)
		sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni != NULL)
		snprintf(c->sni, sizeof(c->sni), "%s", sni);
	if (ssl != NULL)
		conn_peer_subject(c, ssl);
	if (c->host[0] != '\0' &&
	    (sni == NULL || !hostlist_pattern_match(c->host, sni))) {
		conn_log_info(c, "SNI does not name the intercepted host %s",
		              c->host);
		conn_close(c);
		return;
	}
	conn_log_debug(c, "TLS %s established",
	               ssl != NULL ? SSL_get_version(ssl) : "?");
	evtimer_del(c->timer);
	conn_arm_timer(c);
	/* the first request may have come with the handshake's last flight */
	if (ssl != NULL && SSL_has_pending(ssl))
		conn_read_input(c);
}

/*
 * Plain HTTP to a TLS port: say so in plain HTTP (as nginx does), after
 * reading what the client sent, so that the close is a FIN and not a
 * reset that would swallow the answer.
 */
static void
conn_answer_plain(struct conn *c)
{
	static const char resp[] =
	    "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: application/json; charset=UTF-8\r\n"
	    "Content-Length: 61\r\n"
	    "Connection: close\r\n\r\n"
	    "{\"errcode\":985011,\"errmsg\":\"plain HTTP sent to the TLS "
	    "port\"}";
	int fd = bufferevent_getfd(c->bev);
	char junk[4096];

	for (int i = 0;
	     i < 16 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	if (send(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		shutdown(fd, SHUT_WR);
}

static void
conn_on_gone(struct conn *c, short what)
{
	char why[256];
	unsigned long e;

	if (c->tls && !c->handshaken) {
		/* Plain HTTP or garbage to a TLS port ends here. */
		e = bufferevent_get_openssl_error(c->bev);
		if (e != 0)
			ERR_error_string_n(e, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s",
			         what & BEV_EVENT_EOF ? "closed" : "error");
		conn_count(c, METRICS_TLS_FAIL, 1);
		conn_log_debug(c, "TLS handshake failed: %s", why);
		if (ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST)
			conn_answer_plain(c);
	} else if (what & BEV_EVENT_TIMEOUT) {
		conn_log_debug(c, "client stopped reading; closing");
	} else {
		conn_log_debug(c, "client %s",
		               what & BEV_EVENT_EOF ? "closed"
		                                    : "connection error");
	}
	conn_close(c);
}

static void
conn_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		conn_on_handshake(arg);
	else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_on_gone(arg, what);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->tls && !c->handshaken) {
		conn_count(c, METRICS_TLS_FAIL, 1);
		conn_log_debug(c, "TLS handshake timed out");
		conn_close(c);
	} else if (c->closing || c->no_more) {
		conn_close(c);
	} else if (http1_phase(c->reader) != HTTP1_IDLE) {
		http1_fail(c->reader, 408, HTTP1_ERRCODE_TIMEOUT,
		           "request timeout");
		bufferevent_disable(c->bev, EV_READ);
		conn_queue_error(c, 408, HTTP1_ERRCODE_TIMEOUT,
		                 "request timeout");
	} else if (c->nslots == 0) {
		/*
		 * Keep-alive idle: close without a 408, which could cross a
		 * request the client is sending right now (RFC 9112 §9.5).
		 */
		conn_log_debug(c, "idle; closing");
		conn_close(c);
	}
}

static void
conn_close(struct conn *c)
{
	struct conn_set *set = c->set;
	struct slot *s;
	SSL *ssl;

	while ((s = TAILQ_FIRST(&c->slots)) != NULL) {
		TAILQ_REMOVE(&c->slots, s, link);
		conn_slot_free(s);
	}
	if (c->bev != NULL) {
		ssl = c->tls ? bufferevent_openssl_get_ssl(c->bev) : NULL;
		if (ssl != NULL && c->handshaken)
			SSL_shutdown(ssl); /* best effort close_notify */
		bufferevent_free(c->bev);
		conn_count(c, METRICS_CONN_OPEN, -1);
	}
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->kick != NULL)
		event_free(c->kick);
	http1_free(c->reader);
	TAILQ_REMOVE(&set->conns, c, link);
	set->count--;
	free(c);
}

static void
conn_peer(struct conn *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(in6->sin6_port);
	} else {
		snprintf(c->addr, sizeof(c->addr), "local");
	}
}

static struct bufferevent *
conn_bev_new(struct conn *c, int fd, SSL_CTX *tls)
{
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct event_base *base = c->set->env.base;
	SSL *ssl;

	if (tls == NULL)
		return bufferevent_socket_new(base, fd, opts);
	if ((ssl = SSL_new(tls)) == NULL)
		return NULL;
	SSL_set_read_ahead(ssl, 1); /* see conn_pull_tls */
	return bufferevent_openssl_socket_new(base, fd, ssl,
	                                      BUFFEREVENT_SSL_ACCEPTING, opts);
}

int
conn_accept(struct conn_set *set, int fd, const struct sockaddr *sa,
            socklen_t salen, SSL_CTX *tls)
{
	const struct conf_limits *lim = set->env.limits;
	struct http1_limits hl = {lim->max_header_bytes, lim->max_body_bytes,
	                          lim->max_upload_bytes};
	struct timeval wtv = {lim->keepalive_timeout_ms / 1000,
	                      (lim->keepalive_timeout_ms % 1000) * 1000};
	struct conn *c = calloc(1, sizeof(*c));

	(void)salen;
	if (c == NULL) {
		close(fd);
		return WW_ENOMEM;
	}
	c->set = set;
	c->id = ++set->next_id;
	c->tls = tls != NULL;
	TAILQ_INIT(&c->slots);
	TAILQ_INSERT_TAIL(&set->conns, c, link);
	set->count++;
	conn_peer(c, sa);
	c->timer = evtimer_new(set->env.base, conn_on_timer, c);
	c->kick = event_new(set->env.base, -1, 0, conn_on_kick, c);
	if (c->timer == NULL || c->kick == NULL ||
	    http1_new(&hl, &c->reader) != WW_OK ||
	    (c->bev = conn_bev_new(c, fd, tls)) == NULL) {
		if (c->bev == NULL)
			close(fd);
		conn_close(c);
		return WW_ENOMEM;
	}
	conn_count(c, METRICS_CONN_OPEN, 1);
	conn_count(c, METRICS_CONN_TOTAL, 1);
	bufferevent_setcb(c->bev, conn_on_read, conn_on_write, conn_on_event,
	                  c);
	bufferevent_set_timeouts(c->bev, NULL, &wtv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (c->tls)
		conn_timer_ms(c, lim->handshake_timeout_ms);
	else
		conn_arm_timer(c);
	conn_log_debug(c, "accepted");
	return WW_OK;
}

int
conn_accept_origin(struct conn_set *set, int fd, const struct sockaddr *sa,
                   socklen_t salen, SSL_CTX *tls,
                   const struct conn_origin *origin)
{
	struct conn *c;
	int rc;

	if (origin == NULL || origin->host == NULL) {
		close(fd);
		return WW_EINVAL;
	}
	rc = conn_accept(set, fd, sa, salen, tls);
	if (rc != WW_OK)
		return rc;
	/* conn_accept() put it last; its callbacks are deferred. */
	c = TAILQ_LAST(&set->conns, connq_);
	snprintf(c->host, sizeof(c->host), "%s", origin->host);
	if (origin->proxy_user != NULL)
		snprintf(c->user, sizeof(c->user), "%s", origin->proxy_user);
	return WW_OK;
}

int
conn_set_new(const struct conn_env *env, struct conn_set **out)
{
	struct conn_set *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return WW_ENOMEM;
	s->env = *env;
	TAILQ_INIT(&s->conns);
	*out = s;
	return WW_OK;
}

void
conn_set_close_all(struct conn_set *s)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_close(c);
}

void
conn_set_free(struct conn_set *s)
{
	if (s == NULL)
		return;
	conn_set_close_all(s);
	free(s);
}

size_t
conn_set_count(const struct conn_set *s)
{
	return s->count;
}

void
conn_set_drain(struct conn_set *s)
{
	struct conn *c, *next;

	s->draining = 1;
	for (c = TAILQ_FIRST(&s->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if ((c->tls && !c->handshaken) ||
		    (c->nslots == 0 && http1_phase(c->reader) == HTTP1_IDLE)) {
			conn_close(c);
			continue;
		}
		/* The answer owed last closes the connection. */
		if (c->nslots > 0) {
			TAILQ_LAST(&c->slots, slotq_)->close_after = 1;
			c->no_more = 1;
		}
	}
}
