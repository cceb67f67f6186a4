/*
 * fake-wecom: a small stand-in for the WeCom API server, for tests.
 *
 * It answers every /cgi-bin/... request the way qyapi.weixin.qq.com does
 * (HTTP 200, {"errcode":0,"errmsg":"ok",...} with the endpoint's fields:
 * msgid for message endpoints, access_token for gettoken, media_id for
 * uploads; see ../shared/wecom-api.md sections 1.2, 2 and 3), over TLS or
 * plain HTTP, with keep-alive.  Each request it receives is appended to the
 * --record file as one JSON line before it is answered, so a test can prove
 * what did (or did not) reach upstream.
 *
 * Its behaviour ("mode") is set on the command line and changed at run time
 * with POST /__fake/mode {"mode":"error","errcode":60020,...}:
 *   ok | error (errcode, errmsg) | http500 | stall (never answer, or answer
 *   ok after delay_ms) | close (close without answering) | reset (TCP RST)
 *   | garbage (HTTP 200 with a non-JSON body).
 * delay_ms delays any answer; times N applies the mode to the next N
 * recorded requests only, then falls back to ok.  /__fake/... requests are
 * never recorded.  Paths outside /cgi-bin/ answer "success" (text/plain),
 * or the echostr query parameter when there is one: the shape of an
 * internal callback receiver; there, error and garbage answer the same,
 * while http500, stall, close and reset behave as for /cgi-bin/.
 *
 * A test helper, not part of the product: single-threaded, one event base.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define FAKE_ERRMSG_MAX 256
#define FAKE_CTL_MAX 4096

enum fake_kind {
	FAKE_OK = 0,
	FAKE_ERROR,
	FAKE_HTTP500,
	FAKE_STALL,
	FAKE_CLOSE,
	FAKE_RESET,
	FAKE_GARBAGE,
};

static const char *const fake_kind_names[] = {
    "ok", "error", "http500", "stall", "close", "reset", "garbage",
};

struct fake_mode {
	enum fake_kind kind;
	long errcode;
	char errmsg[FAKE_ERRMSG_MAX];
	long delay_ms;
	long times; /* 0: until changed */
};

struct fake_opts {
	const char *listen;
	const char *port_file;
	const char *pid_file;
	const char *record;
	const char *cert;
	const char *key;
	int plain;
	long max_body;
	long timeout_s;
	char portaddr[32]; /* storage for --port */
};

struct fake {
	struct event_base *base;
	struct evhttp *http;
	struct event *sigterm;
	struct event *sigint;
	SSL_CTX *ctx;
	int record_fd;
	struct fake_mode mode;
	unsigned long seq;
	const char *pid_file;
};

/* A request whose answer (or whose connection's end) is deferred. */
struct fake_pending {
	struct event *timer;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct fake_mode mode;
	unsigned long seq;
};

static int
fake_kind_parse(const char *s, enum fake_kind *out)
{
	for (size_t i = 0; i < sizeof(fake_kind_names) / sizeof(char *); i++) {
		if (strcmp(s, fake_kind_names[i]) == 0) {
			*out = (enum fake_kind)i;
			return 0;
		}
	}
	return -1;
}

static const char *
fake_method(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "UNKNOWN";
}

/* The path of uri without its query, into buf (truncated to size). */
static void
fake_path(const char *uri, char *buf, size_t size)
{
	size_t n = strcspn(uri, "?#");

	if (n >= size)
		n = size - 1;
	memcpy(buf, uri, n);
	buf[n] = '\0';
}

/* The value of query parameter name in uri, or NULL; free() it. */
static char *
fake_query_param(const char *uri, const char *name)
{
	const char *q = strchr(uri, '?');
	struct evkeyvalq params;
	const char *v;
	char *copy = NULL;

	if (q == NULL)
		return NULL;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(q + 1, &params) == 0) {
		v = evhttp_find_header(&params, name);
		if (v != NULL)
			copy = strdup(v);
	}
	evhttp_clear_headers(&params);
	return copy;
}

/* Body bytes as a JSON string: UTF-8 text when valid, else base64. */
static int
fake_record_body(json_t *o, const unsigned char *p, size_t n)
{
	json_t *s = json_stringn((const char *)p, n);
	unsigned char *b64;
	int rc;

	if (s != NULL) {
		json_object_set_new(o, "body_base64", json_false());
		return json_object_set_new(o, "body", s);
	}
	b64 = malloc(4 * ((n + 2) / 3) + 1);
	if (b64 == NULL)
		return -1;
	EVP_EncodeBlock(b64, p, (int)n);
	json_object_set_new(o, "body_base64", json_true());
	rc = json_object_set_new(o, "body", json_string((char *)b64));
	free(b64);
	return rc;
}

static json_t *
fake_record_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	json_t *a = json_array();
	struct evkeyval *kv;

	if (a == NULL)
		return NULL;
	TAILQ_FOREACH(kv, h, next)
	{
		json_array_append_new(a, json_pack("[ss]", kv->key, kv->value));
	}
	return a;
}

static const char *
fake_sni(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL)
		return NULL;
	return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

/* Append one JSON line for req to the record file (one write(2)). */
static void
fake_record(struct fake *f, struct evhttp_request *req, unsigned long seq)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const char *sni = fake_sni(req);
	json_t *o;
	char *line = NULL;

	if (f->record_fd < 0)
		return;
	o = json_pack("{sI sI ss ss so* sb}", "seq", (json_int_t)seq, "time",
	              (json_int_t)time(NULL), "method",
	              fake_method(evhttp_request_get_command(req)), "path",
	              evhttp_request_get_uri(req), "headers",
	              fake_record_headers(req), "tls", f->ctx != NULL);
	if (o == NULL)
		goto out;
	json_object_set_new(o, "sni", sni ? json_string(sni) : json_null());
	json_object_set_new(o, "mode",
	                    json_string(fake_kind_names[f->mode.kind]));
	if (fake_record_body(o, evbuffer_pullup(in, -1), n) != 0)
		goto out;
	line = json_dumps(o, JSON_COMPACT);
	if (line != NULL) {
		size_t len = strlen(line);
		line[len] = '\n'; /* json_dumps gave len + 1 bytes */
		if (write(f->record_fd, line, len + 1) != (ssize_t)(len + 1))
			fprintf(stderr, "fake-wecom: record: %s\n",
			        strerror(errno));
	}
out:
	free(line);
	json_decref(o);
}

static void
fake_send_json(struct evhttp_request *req, int code, json_t *o)
{
	struct evbuffer *buf = evbuffer_new();
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json; charset=UTF-8");
	if (buf != NULL && s != NULL)
		evbuffer_add(buf, s, strlen(s));
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", buf);
	if (buf != NULL)
		evbuffer_free(buf);
	free(s);
	json_decref(o);
}

static void
fake_set_msgid(json_t *o, json_t *body, unsigned long seq, int echo)
{
	json_t *m = echo ? json_object_get(body, "msgid") : NULL;
	char id[64];

	if (json_is_string(m)) {
		json_object_set(o, "msgid", m);
		return;
	}
	snprintf(id, sizeof(id), "fake-msgid-%ld-%lu", (long)getpid(), seq);
	json_object_set_new(o, "msgid", json_string(id));
}

static void
fake_set_invalid(json_t *o, int arrays)
{
	static const char *const keys[] = {"invaliduser", "invalidparty",
	                                   "invalidtag"};

	for (size_t i = 0; i < 3; i++)
		json_object_set_new(o, keys[i],
		                    arrays ? json_array() : json_string(""));
}

static void
fake_fill_media(json_t *o, const char *uri, unsigned long seq)
{
	char *type = fake_query_param(uri, "type");
	char id[64], ts[32];

	snprintf(id, sizeof(id), "fake-media-%lu", seq);
	snprintf(ts, sizeof(ts), "%ld", (long)time(NULL));
	json_object_set_new(o, "type", json_string(type ? type : "file"));
	json_object_set_new(o, "media_id", json_string(id));
	json_object_set_new(o, "created_at", json_string(ts));
	free(type);
}

/* Endpoint-shaped success fields (wecom-api.md sections 1.2 and 2). */
static void
fake_fill_ok(json_t *o, const char *uri, json_t *body, unsigned long seq)
{
	char path[512], tok[64];

	fake_path(uri, path, sizeof(path));
	if (strcmp(path, "/cgi-bin/gettoken") == 0) {
		snprintf(tok, sizeof(tok), "fake-token-%ld", (long)getpid());
		json_object_set_new(o, "access_token", json_string(tok));
		json_object_set_new(o, "expires_in", json_integer(7200));
	} else if (strcmp(path, "/cgi-bin/message/send") == 0) {
		fake_set_invalid(o, 0);
		json_object_set_new(o, "unlicenseduser", json_string(""));
		fake_set_msgid(o, body, seq, 0);
	} else if (strcmp(path, "/cgi-bin/linkedcorp/message/send") == 0) {
		fake_set_invalid(o, 1);
		fake_set_msgid(o, body, seq, 0);
	} else if (strcmp(path, "/cgi-bin/message/update_template_card") == 0) {
		json_object_set_new(o, "invaliduser", json_array());
	} else if (strcmp(path, "/cgi-bin/externalcontact/add_msg_template") ==
	           0) {
		json_object_set_new(o, "fail_list", json_array());
		fake_set_msgid(o, body, seq, 0);
	} else if (strncmp(path, "/cgi-bin/kf/send_msg", 20) == 0) {
		fake_set_msgid(o, body, seq, 1);
	} else if (strcmp(path, "/cgi-bin/appchat/send") == 0 ||
	           strcmp(path, "/cgi-bin/webhook/send") == 0 ||
	           strcmp(path, "/cgi-bin/externalcontact/message/send") == 0) {
		fake_set_msgid(o, body, seq, 0);
	} else if (strcmp(path, "/cgi-bin/appchat/create") == 0) {
		json_t *c = json_object_get(body, "chatid");
		json_object_set_new(o, "chatid",
		                    json_is_string(c)
		                        ? json_copy(c)
		                        : json_string("fakechat0001"));
	} else if (strcmp(path, "/cgi-bin/media/upload") == 0 ||
	           strcmp(path, "/cgi-bin/webhook/upload_media") == 0) {
		fake_fill_media(o, uri, seq);
	} else if (strcmp(path, "/cgi-bin/media/uploadimg") == 0) {
		json_object_set_new(
		    o, "url",
		    json_string("http://p.qpic.cn/pic_wework/fake/0"));
	}
}

static void
fake_answer_ok(struct evhttp_request *req, unsigned long seq)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	json_t *body =
	    json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, NULL);
	json_t *o = json_pack("{si ss}", "errcode", 0, "errmsg", "ok");

	if (o != NULL)
		fake_fill_ok(o, evhttp_request_get_uri(req), body, seq);
	json_decref(body);
	fake_send_json(req, 200, o);
}

/* The answer to a request outside /cgi-bin/: a callback receiver's. */
static void
fake_answer_receiver(struct evhttp_request *req)
{
	char *echo = fake_query_param(evhttp_request_get_uri(req), "echostr");
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "text/plain; charset=UTF-8");
	if (buf != NULL)
		evbuffer_add_printf(buf, "%s", echo ? echo : "success");
	evhttp_send_reply(req, 200, "OK", buf);
	if (buf != NULL)
		evbuffer_free(buf);
	free(echo);
}

static void
fake_answer_now(struct evhttp_request *req, const struct fake_mode *m,
                unsigned long seq)
{
	struct evbuffer *buf;

	if (strncmp(evhttp_request_get_uri(req), "/cgi-bin/", 9) != 0 &&
	    m->kind != FAKE_HTTP500) {
		fake_answer_receiver(req);
		return;
	}
	switch (m->kind) {
	case FAKE_ERROR:
		fake_send_json(req, 200,
		               json_pack("{si ss}", "errcode", (int)m->errcode,
		                         "errmsg", m->errmsg));
		return;
	case FAKE_HTTP500:
		fake_send_json(req, 500,
		               json_pack("{si ss}", "errcode", -1, "errmsg",
		                         "system error"));
		return;
	case FAKE_GARBAGE:
		buf = evbuffer_new();
		if (buf != NULL)
			evbuffer_add_printf(buf,
			                    "<html>fake-wecom garbage "
			                    "{\"errcode\":0,\n\x01\x02</html>");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "Content-Type",
		                  "application/json; charset=UTF-8");
		evhttp_send_reply(req, 200, "OK", buf);
		if (buf != NULL)
			evbuffer_free(buf);
		return;
	default:
		fake_answer_ok(req, seq);
		return;
	}
}

static void
fake_pending_free(struct fake_pending *p)
{
	if (p == NULL)
		return;
	if (p->timer != NULL)
		event_free(p->timer);
	free(p);
}

/* The connection went away before the deferred action ran. */
static void
fake_pending_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	fake_pending_free(arg);
}

/*
 * Abort the connection: a TCP RST when rst, else a TLS close and FIN.
 * evhttp_connection_free() shuts the socket down for writing (a FIN)
 * before closing it, so for a RST the socket is closed first with a zero
 * linger, by dup2()ing a fresh unconnected socket over its descriptor:
 * evhttp then shuts down and closes that one instead.
 */
static void
fake_drop(struct evhttp_connection *evcon, int rst)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);
	int spare;

	if (rst && fd >= 0) {
		spare = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (spare >= 0) {
			dup2(spare, fd);
			close(spare);
		}
	} else if (ssl != NULL) {
		SSL_shutdown(ssl);
	}
	evhttp_connection_free(evcon);
}

static void
fake_pending_fire(evutil_socket_t fd, short what, void *arg)
{
	struct fake_pending *p = arg;

	(void)fd;
	(void)what;
	evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	if (p->mode.kind == FAKE_CLOSE || p->mode.kind == FAKE_RESET)
		fake_drop(p->evcon, p->mode.kind == FAKE_RESET);
	else
		fake_answer_now(p->req, &p->mode, p->seq);
	fake_pending_free(p);
}

/* Run req's answer (or its connection's end) later, off this callback. */
static void
fake_defer(struct fake *f, struct evhttp_request *req,
           const struct fake_mode *m, unsigned long seq, long delay_ms)
{
	struct fake_pending *p = calloc(1, sizeof(*p));
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	if (p == NULL)
		goto fail;
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	p->mode = *m;
	p->seq = seq;
	p->timer = evtimer_new(f->base, fake_pending_fire, p);
	if (p->timer == NULL || evtimer_add(p->timer, &tv) != 0)
		goto fail;
	evhttp_connection_set_closecb(p->evcon, fake_pending_closed, p);
	return;
fail:
	fake_pending_free(p);
	evhttp_send_error(req, 500, "fake-wecom: out of memory");
}

static void
fake_answer(struct fake *f, struct evhttp_request *req,
            const struct fake_mode *m, unsigned long seq)
{
	if (m->kind == FAKE_STALL) {
		if (m->delay_ms > 0)
			fake_defer(f, req, &(struct fake_mode){.kind = FAKE_OK},
			           seq, m->delay_ms);
		return; /* held until the client or the idle timeout ends it */
	}
	if (m->kind == FAKE_CLOSE || m->kind == FAKE_RESET || m->delay_ms > 0) {
		fake_defer(f, req, m, seq, m->delay_ms);
		return;
	}
	fake_answer_now(req, m, seq);
}

static json_t *
fake_mode_json(const struct fake_mode *m)
{
	return json_pack("{ss si ss si si}", "mode", fake_kind_names[m->kind],
	                 "errcode", (int)m->errcode, "errmsg", m->errmsg,
	                 "delay_ms", (int)m->delay_ms, "times", (int)m->times);
}

/* POST /__fake/mode: parse {"mode","errcode","errmsg","delay_ms","times"}. */
static int
fake_mode_from_json(json_t *o, struct fake_mode *m)
{
	const char *kind = NULL, *msg = NULL;
	json_int_t code = 45009, delay = 0, times = 0;

	if (json_unpack(o, "{s:s, s?I, s?s, s?I, s?I !}", "mode", &kind,
	                "errcode", &code, "errmsg", &msg, "delay_ms", &delay,
	                "times", &times) != 0)
		return -1;
	memset(m, 0, sizeof(*m));
	if (fake_kind_parse(kind, &m->kind) != 0 || delay < 0 || times < 0 ||
	    delay > 3600000)
		return -1;
	m->errcode = (long)code;
	snprintf(m->errmsg, sizeof(m->errmsg), "%s",
	         msg ? msg : "fake-wecom error");
	m->delay_ms = (long)delay;
	m->times = (long)times;
	return 0;
}

static void
fake_control(struct fake *f, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	struct fake_mode m;
	json_t *o;
	char path[64];

	fake_path(evhttp_request_get_uri(req), path, sizeof(path));
	if (strcmp(path, "/__fake/mode") != 0) {
		evhttp_send_error(req, 404, "no such control");
		return;
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		if (n > FAKE_CTL_MAX)
			goto bad;
		o = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0,
		               NULL);
		if (o == NULL || fake_mode_from_json(o, &m) != 0) {
			json_decref(o);
			goto bad;
		}
		json_decref(o);
		f->mode = m;
	}
	fake_send_json(req, 200, fake_mode_json(&f->mode));
	return;
bad:
	evhttp_send_error(req, 400, "bad mode");
}

static void
fake_request(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct fake_mode m;
	unsigned long seq;

	if (strncmp(uri, "/__fake/", 8) == 0) {
		fake_control(f, req);
		return;
	}
	seq = ++f->seq;
	fake_record(f, req, seq);
	m = f->mode;
	if (f->mode.times > 0 && --f->mode.times == 0)
		f->mode = (struct fake_mode){.kind = FAKE_OK};
	fake_answer(f, req, &m, seq);
}

static struct bufferevent *
fake_bevcb(struct event_base *base, void *arg)
{
	struct fake *f = arg;
	SSL *ssl = SSL_new(f->ctx);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *
fake_tls_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	return ctx;
}

/* Write s to path atomically (temp file + rename): readers never see half. */
static int
fake_write_file(const char *path, const char *s)
{
	char tmp[PATH_MAX];
	FILE *fp;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	fp = fopen(tmp, "w");
	if (fp == NULL)
		return -1;
	rc = fputs(s, fp) < 0 ? -1 : 0;
	if (fclose(fp) != 0)
		rc = -1;
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* Split "HOST:PORT" or "[V6]:PORT" into host (in buf) and port. */
static int
fake_split_addr(const char *addr, char *buf, size_t size, unsigned *port)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	unsigned long p;
	size_t n;

	if (colon == NULL)
		return -1;
	p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p > 65535)
		return -1;
	n = (size_t)(colon - addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (n == 0 || n >= size)
		return -1;
	memcpy(buf, addr, n);
	buf[n] = '\0';
	*port = (unsigned)p;
	return 0;
}

static int
fake_bind(struct fake *f, const struct fake_opts *o)
{
	struct evhttp_bound_socket *h;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[256], line[32];
	unsigned port;

	if (fake_split_addr(o->listen, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "fake-wecom: bad --listen %s\n", o->listen);
		return -1;
	}
	h = evhttp_bind_socket_with_handle(f->http, host, (ev_uint16_t)port);
	if (h == NULL) {
		fprintf(stderr, "fake-wecom: cannot listen on %s\n", o->listen);
		return -1;
	}
	/* Accepted sockets inherit it: answers are not held back by Nagle. */
	setsockopt(evhttp_bound_socket_get_fd(h), IPPROTO_TCP, TCP_NODELAY,
	           &(int){1}, sizeof(int));
	if (getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&ss,
	                &len) != 0)
		return -1;
	port = ntohs(ss.ss_family == AF_INET6
	                 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                 : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(line, sizeof(line), "%u\n", port);
	if (o->port_file != NULL && fake_write_file(o->port_file, line) != 0) {
		fprintf(stderr, "fake-wecom: %s: %s\n", o->port_file,
		        strerror(errno));
		return -1;
	}
	return 0;
}

static void
fake_signal(evutil_socket_t sig, short what, void *arg)
{
	struct fake *f = arg;

	(void)sig;
	(void)what;
	event_base_loopexit(f->base, NULL);
}

static int
fake_setup(struct fake *f, const struct fake_opts *o)
{
	char pid[32];

	f->base = event_base_new();
	f->http = f->base ? evhttp_new(f->base) : NULL;
	if (f->http == NULL)
		return -1;
	if (!o->plain) {
		f->ctx = fake_tls_ctx(o->cert, o->key);
		if (f->ctx == NULL)
			return -1;
		evhttp_set_bevcb(f->http, fake_bevcb, f);
	}
	evhttp_set_allowed_methods(f->http, 0x1ff & ~EVHTTP_REQ_CONNECT);
	evhttp_set_max_body_size(f->http, o->max_body);
	evhttp_set_max_headers_size(f->http, 64 * 1024);
	evhttp_set_timeout(f->http, (int)o->timeout_s);
	evhttp_set_gencb(f->http, fake_request, f);
	if (o->record != NULL) {
		f->record_fd = open(
		    o->record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (f->record_fd < 0) {
			fprintf(stderr, "fake-wecom: %s: %s\n", o->record,
			        strerror(errno));
			return -1;
		}
	}
	f->sigterm = evsignal_new(f->base, SIGTERM, fake_signal, f);
	f->sigint = evsignal_new(f->base, SIGINT, fake_signal, f);
	if (f->sigterm == NULL || f->sigint == NULL ||
	    evsignal_add(f->sigterm, NULL) != 0 ||
	    evsignal_add(f->sigint, NULL) != 0)
		return -1;
	if (fake_bind(f, o) != 0)
		return -1;
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (o->pid_file != NULL && fake_write_file(o->pid_file, pid) != 0)
		return -1;
	f->pid_file = o->pid_file;
	return 0;
}

static void
fake_cleanup(struct fake *f)
{
	if (f->http != NULL)
		evhttp_free(f->http); /* frees held requests and connections */
	if (f->sigterm != NULL)
		event_free(f->sigterm);
	if (f->sigint != NULL)
		event_free(f->sigint);
	if (f->base != NULL)
		event_base_free(f->base);
	SSL_CTX_free(f->ctx);
	if (f->record_fd >= 0)
		close(f->record_fd);
	if (f->pid_file != NULL)
		unlink(f->pid_file);
}

static void
fake_usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: fake-wecom [--listen HOST:PORT | --port N] [--port-file "
	    "F]\n"
	    "         (--cert F --key F | --plain) [--record F] [--pid-file "
	    "F]\n"
	    "         [--mode ok|error|http500|stall|close|reset|garbage]\n"
	    "         [--errcode N] [--errmsg S] [--delay-ms N] [--times N]\n"
	    "         [--max-body BYTES] [--timeout SECONDS]\n"
	    "run-time control: POST /__fake/mode {\"mode\":\"error\","
	    "\"errcode\":N,\"errmsg\":S,\"delay_ms\":N,\"times\":N}\n");
}

static long
fake_num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max) {
		fprintf(stderr, "fake-wecom: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static const struct option fake_longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"port-file", required_argument, NULL, 'P'},
    {"cert", required_argument, NULL, 'c'},
    {"key", required_argument, NULL, 'k'},
    {"plain", no_argument, NULL, 'n'},
    {"record", required_argument, NULL, 'r'},
    {"pid-file", required_argument, NULL, 'i'},
    {"mode", required_argument, NULL, 'm'},
    {"errcode", required_argument, NULL, 'e'},
    {"errmsg", required_argument, NULL, 'E'},
    {"delay-ms", required_argument, NULL, 'd'},
    {"times", required_argument, NULL, 't'},
    {"max-body", required_argument, NULL, 'b'},
    {"timeout", required_argument, NULL, 'T'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The behaviour options; 0 when ch is not one of them. */
static int
fake_opt_mode(int ch, const char *arg, struct fake_mode *m)
{
	switch (ch) {
	case 'm':
		if (fake_kind_parse(arg, &m->kind) != 0) {
			fake_usage(stderr);
			exit(2);
		}
		return 1;
	case 'e':
		m->errcode = fake_num(arg, INT32_MIN, INT32_MAX);
		return 1;
	case 'E':
		snprintf(m->errmsg, sizeof(m->errmsg), "%s", arg);
		return 1;
	case 'd':
		m->delay_ms = fake_num(arg, 0, 3600000);
		return 1;
	case 't':
		m->times = fake_num(arg, 0, LONG_MAX);
		return 1;
	}
	return 0;
}

/* The server options; 0 when ch is not one of them. */
static int
fake_opt_server(int ch, const char *arg, struct fake_opts *o)
{
	switch (ch) {
	case 'l':
		o->listen = arg;
		return 1;
	case 'p':
		snprintf(o->portaddr, sizeof(o->portaddr), "127.0.0.1:%ld",
		         fake_num(arg, 0, 65535));
		o->listen = o->portaddr;
		return 1;
	case 'P':
		o->port_file = arg;
		return 1;
	case 'c':
		o->cert = arg;
		return 1;
	case 'k':
		o->key = arg;
		return 1;
	case 'n':
		o->plain = 1;
		return 1;
	case 'r':
		o->record = arg;
		return 1;
	case 'i':
		o->pid_file = arg;
		return 1;
	case 'b':
		o->max_body = fake_num(arg, 1, 1L << 30);
		return 1;
	case 'T':
		o->timeout_s = fake_num(arg, 1, 86400);
		return 1;
	}
	return 0;
}

static void
fake_parse_args(int argc, char **argv, struct fake_opts *o, struct fake_mode *m)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "", fake_longopts, NULL)) != -1) {
		if (fake_opt_mode(ch, optarg, m) ||
		    fake_opt_server(ch, optarg, o))
			continue;
		fake_usage(ch == 'h' ? stdout : stderr);
		exit(ch == 'h' ? 0 : 2);
	}
	if (optind != argc ||
	    (!o->plain && (o->cert == NULL || o->key == NULL))) {
		fake_usage(stderr);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	struct fake_opts o = {.listen = "127.0.0.1:0",
	                      .max_body = 32L * 1024 * 1024,
	                      .timeout_s = 60};
	struct fake f = {.record_fd = -1};
	int rc = 1;

	f.mode.errcode = 45009;
	snprintf(f.mode.errmsg, sizeof(f.mode.errmsg), "fake-wecom error");
	fake_parse_args(argc, argv, &o, &f.mode);
	signal(SIGPIPE, SIG_IGN);
	if (fake_setup(&f, &o) == 0) {
		event_base_dispatch(f.base);
		rc = 0;
	}
	fake_cleanup(&f);
	return rc;
}
