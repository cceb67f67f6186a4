/*
 * callback.c: the WeCom callback exchange (callback.h).
 *
 *   parse query + envelope -> verify -> decrypt -> window -> decode ->
 *   judge -> CALLBACK record (durable) -> forward original -> passive
 *   reply: decrypt, judge, CALLBACK record (durable) -> answer
 *
 * Every refusal is recorded in the CALLBACK record itself (its outcome
 * says what failed); the record of a forwarded callback is followed by an
 * OUTCOME record, as for API requests.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "log.h"
#include "ww.h"
#include "policy/policy.h"
#include "store/callback.h"
#include "store/journal.h"
#include "store/record.h"
#include "proxy/callback.h"
#include "proxy/metrics.h"
#include "proxy/upstream.h"
#include "proxy/wxcrypt.h"

#define CB_MAX_SECRET 256
#define CB_SEEN 4096                 /* retry table entries per worker */
#define CB_JOURNAL_MS 3000u          /* well inside WeCom's 5 s */
#define CB_UPSTREAM_MS 4000L         /* the receiver's share of them */
#define CB_MAX_JOURNALED_ANSWER 4096 /* receiver answer bytes kept */

struct cb_route {
	char *path;
	char *origin;   /* http://host:port */
	char *fwd_path; /* /path on the receiver */
	int forward_bad_sig;
	struct wxcrypt *crypt;
	struct upstream *up; /* NULL once stopped */
};

struct cb_seen {
	char sig[WXCRYPT_SIG_HEX + 1];
	int64_t expires; /* unix seconds */
};

/* Signatures journaled recently: one table for every worker. */
struct callback_seen {
	pthread_mutex_t lock;
	struct cb_seen *ring; /* CB_SEEN entries */
	size_t next;
};

struct callback_worker {
	struct cb_route *routes;
	size_t n_routes;
	unsigned max_skew;
	int forward_on_journal_failure;
	struct callback_seen *seen; /* shared, or own_seen */
	struct callback_seen *own_seen;
};

typedef void (*cb_next)(struct callback_exchange *x);

struct callback_exchange {
	const struct exchange_env *env;
	struct callback_worker *cw;
	struct cb_route *route;
	struct policy *policy; /* ref'd */
	exchange_reply_cb reply_cb;
	void *reply_arg;
	int detached, replied;
	struct timespec t0;
	uint64_t upstream_us;
	/* the request (owned copies) */
	char *method, *query, *sig, *ts, *nonce, *echostr;
	struct http_header *headers;
	size_t n_headers;
	uint8_t *body;
	size_t body_len;
	Ww__Client *client; /* template for records */
	/* the decision */
	int refuse_status; /* 0: forward */
	const char *refuse_text;
	int blocked, dedup;
	const char *endpoint;
	/* the journal wait: the writer thread writes only wjrc and wseq,
	   before event_active(wake) (the base's lock orders them);
	   cbx_on_journaled copies them on the loop thread, which alone
	   reads and writes jrc and seq (the deadline sets jrc meanwhile:
	   the race exchange.c had, found by ThreadSanitizer) */
	struct event *wake, *deadline;
	cb_next next;
	int jrc, wjrc, jpending, timed_out;
	uint64_t seq, wseq, req_seq;
	/* the receiver's answer, kept while a passive reply is journaled */
	struct upstream_call *call;
	int status;
	struct http_header *rheaders;
	size_t n_rheaders;
	uint8_t *rbody;
	size_t rbody_len;
	int reply_drop;
};

/* ---- the retry table ---- */

int
callback_seen_new(struct callback_seen **out)
{
	struct callback_seen *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL ||
	    (t->ring = calloc(CB_SEEN, sizeof(*t->ring))) == NULL) {
		free(t);
		return WW_ENOMEM;
	}
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t->ring);
		free(t);
		return WW_ENOMEM;
	}
	*out = t;
	return WW_OK;
}

void
callback_seen_free(struct callback_seen *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->ring);
	free(t);
}

static int
cb_seen(struct callback_seen *t, const char *sig, int64_t now)
{
	int found = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < CB_SEEN && !found; i++)
		found = t->ring[i].expires > now &&
		        strcmp(t->ring[i].sig, sig) == 0;
	pthread_mutex_unlock(&t->lock);
	return found;
}

static void
cb_remember(struct callback_seen *t, const char *sig, int64_t expires)
{
	struct cb_seen *s;

	pthread_mutex_lock(&t->lock);
	s = &t->ring[t->next];
	t->next = (t->next + 1) % CB_SEEN;
	snprintf(s->sig, sizeof(s->sig), "%s", sig);
	s->expires = expires;
	pthread_mutex_unlock(&t->lock);
}

/* ---- set-up: secrets and routes ---- */

/* A secret from a file (refused when others may read it) or a variable. */
static int
cb_secret(const char *file, const char *env, char **out, char *err,
          size_t errlen)
{
	char buf[CB_MAX_SECRET + 1];
	struct stat st;
	ssize_t n;
	int fd;

	*out = NULL;
	if (env != NULL) {
		const char *v = getenv(env);
		if (v == NULL || v[0] == '\0')
			return ww_fail(WW_ENOTFOUND, err, errlen,
			               "environment variable %s is not set",
			               env);
		snprintf(buf, sizeof(buf), "%s", v);
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return ww_fail(errno == ENOENT ? WW_ENOTFOUND : WW_EIO,
			               err, errlen, "%s: %s", file,
			               strerror(errno));
		if (fstat(fd, &st) != 0 || (st.st_mode & S_IRWXO) != 0) {
			close(fd);
			return ww_fail(WW_EPERM, err, errlen,
			               "%s: others may read it (chmod o-rwx)",
			               file);
		}
		n = read(fd, buf, CB_MAX_SECRET);
		close(fd);
		if (n < 0)
			return ww_fail(WW_EIO, err, errlen, "%s: read failed",
			               file);
		buf[n] = '\0';
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return *out != NULL ? WW_OK
	                    : ww_fail(WW_ENOMEM, err, errlen, "no memory");
}

static void
cb_secret_free(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static int
cb_route_init(struct event_base *base, const struct conf_callback_route *c,
              struct cb_route *r, char *err, size_t errlen)
{
	const char *host = strstr(c->forward_to, "://") + 3;
	const char *slash = strchr(host, '/');
	char *token = NULL, *key = NULL;
	struct upstream_opts opts = {.timeout_ms = CB_UPSTREAM_MS};
	int rc;

	r->forward_bad_sig = c->on_bad_signature == CONF_CB_FORWARD;
	r->path = strdup(c->path);
	r->origin = slash != NULL ? strndup(c->forward_to,
	                                    (size_t)(slash - c->forward_to))
	                          : strdup(c->forward_to);
	r->fwd_path = strdup(slash != NULL ? slash : "/");
	if (r->path == NULL || r->origin == NULL || r->fwd_path == NULL)
		return ww_fail(WW_ENOMEM, err, errlen, "out of memory");
	rc = cb_secret(c->token_file, c->token_env, &token, err, errlen);
	if (rc == WW_OK)
		rc = cb_secret(c->aes_key_file, c->aes_key_env, &key, err,
		               errlen);
	if (rc == WW_OK)
		rc = wxcrypt_new(token, key, c->receive_id, &r->crypt, err,
		                 errlen);
	cb_secret_free(token);
	cb_secret_free(key);
	if (rc != WW_OK)
		return rc;
	opts.url = r->origin;
	return upstream_new(base, &opts, &r->up, err, errlen);
}

int
callback_worker_new(struct event_base *base, const struct conf *conf,
                    struct callback_seen *seen, struct callback_worker **out,
                    char *err, size_t errlen)
{
	struct callback_worker *cw;
	char why[256] = "";
	int rc = WW_ENOMEM;

	*out = NULL;
	if (conf->n_callbacks == 0)
		return WW_OK;
	cw = calloc(1, sizeof(*cw));
	if (cw == NULL)
		return ww_fail(WW_ENOMEM, err, errlen, "out of memory");
	cw->max_skew = conf->callback.max_skew;
	cw->forward_on_journal_failure =
	    conf->callback.on_journal_failure == CONF_CB_FORWARD;
	cw->seen = seen;
	if (seen == NULL && callback_seen_new(&cw->own_seen) != WW_OK)
		goto out;
	if (seen == NULL)
		cw->seen = cw->own_seen;
	cw->routes = calloc(conf->n_callbacks, sizeof(*cw->routes));
	if (cw->routes == NULL)
		goto out;
	for (size_t i = 0; i < conf->n_callbacks; i++) {
		cw->n_routes++;
		rc = cb_route_init(base, &conf->callbacks[i], &cw->routes[i],
		                   why, sizeof(why));
		if (rc != WW_OK) {
			ww_fail(rc, err, errlen, "callbacks[%zu] (%s): %s", i,
			        conf->callbacks[i].path, why);
			goto out;
		}
	}
	*out = cw;
	return WW_OK;
out:
	if (rc == WW_ENOMEM && why[0] == '\0')
		ww_fail(rc, err, errlen, "out of memory");
	callback_worker_free(cw);
	return rc;
}

void
callback_worker_stop(struct callback_worker *cw)
{
	for (size_t i = 0; cw != NULL && i < cw->n_routes; i++) {
		struct upstream *up = cw->routes[i].up;
		cw->routes[i].up = NULL; /* late wake-ups refuse */
		upstream_free(up);
	}
}

void
callback_worker_free(struct callback_worker *cw)
{
	if (cw == NULL)
		return;
	callback_worker_stop(cw);
	for (size_t i = 0; i < cw->n_routes; i++) {
		free(cw->routes[i].path);
		free(cw->routes[i].origin);
		free(cw->routes[i].fwd_path);
		wxcrypt_free(cw->routes[i].crypt);
	}
	free(cw->routes);
	callback_seen_free(cw->own_seen);
	free(cw);
}

size_t
callback_worker_pending(const struct callback_worker *cw)
{
	size_t n = 0;

	for (size_t i = 0; cw != NULL && i < cw->n_routes; i++)
		if (cw->routes[i].up != NULL)
			n += upstream_pending(cw->routes[i].up);
	return n;
}

static struct cb_route *
cb_find(const struct callback_worker *cw, const char *path)
{
	for (size_t i = 0; cw != NULL && path != NULL && i < cw->n_routes; i++)
		if (strcmp(cw->routes[i].path, path) == 0)
			return &cw->routes[i];
	return NULL;
}

int
callback_match(const struct callback_worker *cw, const char *path)
{
	return cb_find(cw, path) != NULL;
}

/* ---- helpers ---- */

static char *
cb_strdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static uint64_t
cb_elapsed_us(const struct timespec *since)
{
	struct timespec now;

	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - since->tv_sec) * 1000000 +
	     (int64_t)(now.tv_nsec - since->tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

static int
cb_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * The percent-decoded value of name in query (a literal '+' stays '+':
 * base64 travels in echostr), or NULL when absent or undecodable.
 */
static char *
cb_param(const char *query, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = query; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '&');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			char *v = malloc(len), *o = v;
			if (v == NULL)
				return NULL;
			for (size_t i = nl + 1; i < len; i++) {
				int hi, lo;
				if (p[i] != '%') {
					*o++ = p[i];
					continue;
				}
				if (i + 2 >= len) {
					free(v);
					return NULL;
				}
				hi = cb_hex((unsigned char)p[i + 1]);
				lo = hi < 0 ? -1
				            : cb_hex((unsigned char)p[i + 2]);
				if (lo < 0 || hi * 16 + lo == 0) {
					free(v);
					return NULL;
				}
				*o++ = (char)(hi * 16 + lo);
				i += 2;
			}
			*o = '\0';
			return v;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

/* ---- the exchange's life ---- */

static void
cb_headers_free(struct http_header *h, size_t n)
{
	for (size_t i = 0; h != NULL && i < n; i++) {
		free((char *)h[i].name);
		free((char *)h[i].value);
	}
	free(h);
}

static int
cb_headers_copy(const struct http_header *in, size_t n,
                struct http_header **out)
{
	struct http_header *h = calloc(n + 1, sizeof(*h));

	*out = h;
	if (h == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		h[i].name = strdup(in[i].name);
		h[i].value = strdup(in[i].value);
		if (h[i].name == NULL || h[i].value == NULL)
			return WW_ENOMEM;
	}
	return WW_OK;
}

static void
cbx_free(struct callback_exchange *x)
{
	if (x->wake != NULL)
		event_free(x->wake);
	if (x->deadline != NULL)
		event_free(x->deadline);
	policy_unref(x->policy);
	free(x->method);
	free(x->query);
	free(x->sig);
	free(x->ts);
	free(x->nonce);
	free(x->echostr);
	cb_headers_free(x->headers, x->n_headers);
	cb_headers_free(x->rheaders, x->n_rheaders);
	free(x->body);
	free(x->rbody);
	if (x->client != NULL)
		protobuf_c_message_free_unpacked(&x->client->base, NULL);
	free(x);
}

/* Free once answered (or detached) and nothing is pending any more. */
static void
cbx_done(struct callback_exchange *x)
{
	if ((x->replied || x->detached) && !x->jpending && x->call == NULL)
		cbx_free(x);
}

static void
cbx_reply(struct callback_exchange *x, const struct http_response *resp)
{
	uint64_t total = cb_elapsed_us(&x->t0);
	uint64_t own = total > x->upstream_us ? total - x->upstream_us : 0;

	if (!x->replied && !x->detached)
		x->reply_cb(resp, x->reply_arg);
	x->replied = 1;
	metrics_observe(x->env->metrics, METRICS_EXCHANGE, total);
	/* What the gateway itself added: WeCom allows 5 s (1 s to verify). */
	log_info("callback %s %s: status %d, gateway %llu us, receiver %llu us",
	         x->method, x->route->path, resp->status,
	         (unsigned long long)own, (unsigned long long)x->upstream_us);
}

static void
cbx_answer(struct callback_exchange *x, int status, const char *text)
{
	static const struct http_header h[] = {
	    {"Content-Type", "text/plain; charset=UTF-8"}};
	struct http_response r = {status, h, 1, (const uint8_t *)text,
	                          strlen(text)};

	cbx_reply(x, &r);
}

static int
cbx_new(const struct exchange_env *env, const struct exchange_client *client,
        const struct http_request *req, struct callback_exchange **out)
{
	struct callback_exchange *x = calloc(1, sizeof(*x));

	*out = x;
	if (x == NULL)
		return WW_ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &x->t0);
	x->env = env;
	x->cw = env->callbacks;
	x->route = cb_find(env->callbacks, req->path);
	x->policy = env->policy != NULL ? policy_ref(env->policy) : NULL;
	x->method = cb_strdup(req->method);
	x->query = cb_strdup(req->query);
	x->body = malloc(req->body_len + 1);
	x->client = malloc(sizeof(*x->client));
	if (x->method == NULL || x->query == NULL || x->body == NULL ||
	    x->client == NULL)
		return WW_ENOMEM;
	ww__client__init(x->client);
	x->client->port = client->port;
	if (client->address != NULL &&
	    record_set_str(&x->client->address, client->address) != WW_OK)
		return WW_ENOMEM;
	if (client->sni != NULL &&
	    record_set_str(&x->client->sni, client->sni) != WW_OK)
		return WW_ENOMEM;
	if (req->body_len > 0)
		memcpy(x->body, req->body, req->body_len);
	x->body_len = req->body_len;
	x->n_headers = req->n_headers;
	return cb_headers_copy(req->headers, req->n_headers, &x->headers);
}

/* ---- records ---- */

static int
cb_outcome(Ww__Record *rec, int forwarded, int status, const char *local)
{
	Ww__Outcome *o = malloc(sizeof(*o));

	if (o == NULL)
		return WW_ENOMEM;
	ww__outcome__init(o);
	rec->outcome = o;
	o->forwarded = forwarded != 0;
	o->http_status = (uint32_t)status;
	return local != NULL ? record_set_str(&o->local_error, local) : WW_OK;
}

/* A CALLBACK record around msg and verdict (taken on every path). */
static int
cbx_record(struct callback_exchange *x, Ww__Message *msg, Ww__Verdict *verdict,
           Ww__Record **out)
{
	Ww__Record *rec = record_new(WW__KIND__CALLBACK);
	int rc = WW_ENOMEM;

	*out = NULL;
	if (rec == NULL) {
		message_free(msg);
		if (verdict != NULL)
			protobuf_c_message_free_unpacked(&verdict->base, NULL);
		return WW_ENOMEM;
	}
	rec->message = msg;
	rec->verdict = verdict;
	rec->request_bytes = x->body_len;
	rec->client = malloc(sizeof(*rec->client));
	if (rec->client == NULL)
		goto out;
	ww__client__init(rec->client);
	rec->client->port = x->client->port;
	if (record_set_str(&rec->client->address, x->client->address) ||
	    record_set_str(&rec->client->sni, x->client->sni) ||
	    record_set_str(&rec->method, x->method) ||
	    record_set_str(&rec->path, x->route->path) ||
	    record_set_str(&rec->query, x->query))
		goto out;
	*out = rec;
	rec = NULL;
	rc = WW_OK;
out:
	record_free(rec);
	return rc;
}

/* A message that says only what could not be read. */
static int
cb_error_message(const char *endpoint, const char *reason, Ww__Message **out)
{
	Ww__Message *m = message_new();

	*out = m;
	if (m == NULL)
		return WW_ENOMEM;
	m->direction = WW__DIRECTION__INBOUND;
	if (record_set_str(&m->endpoint, endpoint) != WW_OK ||
	    record_set_str(&m->decode_error, reason) != WW_OK)
		return WW_ENOMEM;
	return WW_OK;
}

/* ---- waiting for the journal ---- */

static void
cbx_journal_done(int rc, uint64_t seq, void *arg)
{
	struct callback_exchange *x = arg;

	x->wjrc = rc;
	x->wseq = seq;
	event_active(x->wake, EV_READ, 0);
}

static void
cbx_on_journaled(evutil_socket_t fd, short what, void *arg)
{
	struct callback_exchange *x = arg;
	cb_next next = x->next;

	(void)fd;
	(void)what;
	x->jpending = 0;
	event_del(x->deadline);
	x->next = NULL;
	if (next != NULL) { /* a late commit (deadline passed) only frees us */
		x->jrc = x->wjrc;
		x->seq = x->wseq;
	}
	if (x->env->journal == NULL && x->jrc == WW_OK)
		x->jrc = WW_ECLOSED;
	if (next != NULL)
		next(x);
	cbx_done(x);
}

static void
cbx_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct callback_exchange *x = arg;
	cb_next next = x->next;

	(void)fd;
	(void)what;
	/* Go on as a failure; the late commit only frees us. */
	x->timed_out = 1;
	x->jrc = WW_ETIMEDOUT;
	x->next = NULL;
	if (next != NULL)
		next(x);
}

/* Append rec (taken) and run next when it is durable or has failed. */
static void
cbx_journal(struct callback_exchange *x, Ww__Record *rec, cb_next next)
{
	struct timeval tv = {CB_JOURNAL_MS / 1000,
	                     (CB_JOURNAL_MS % 1000) * 1000};
	int rc = WW_ENOMEM;

	x->timed_out = 0;
	if (x->wake == NULL)
		x->wake = event_new(x->env->base, -1, 0, cbx_on_journaled, x);
	if (x->deadline == NULL)
		x->deadline = evtimer_new(x->env->base, cbx_on_deadline, x);
	if (x->env->journal == NULL)
		rc = WW_ECLOSED;
	else if (x->jpending) /* an earlier record missed its deadline */
		rc = WW_ETIMEDOUT;
	else if (x->wake != NULL && x->deadline != NULL &&
	         evtimer_add(x->deadline, &tv) == 0) {
		x->next = next;
		x->jpending = 1;
		rc = journal_append_take(x->env->journal, rec, cbx_journal_done,
		                         x);
		rec = NULL;
		if (rc == WW_OK)
			return;
		x->jpending = 0;
		x->next = NULL;
		event_del(x->deadline);
	}
	record_free(rec);
	x->jrc = rc;
	next(x);
}

/* The OUTCOME of a forwarded callback; nobody waits for it. */
static void
cbx_outcome(struct callback_exchange *x, int forwarded, int status,
            const char *local, const uint8_t *answer, size_t len)
{
	Ww__Record *rec;

	if (x->req_seq == 0 || x->env->journal == NULL)
		return;
	rec = record_new(WW__KIND__OUTCOME);
	if (rec == NULL || cb_outcome(rec, forwarded, status, local) != WW_OK)
		goto fail;
	rec->outcome->request_seq = x->req_seq;
	rec->outcome->latency_us = x->upstream_us;
	if (len > CB_MAX_JOURNALED_ANSWER)
		len = CB_MAX_JOURNALED_ANSWER;
	/* Answers are "success", "" or an encrypted reply: no secrets. */
	if (len > 0 && record_set_bytes(&rec->outcome->response_body, answer,
	                                len) != WW_OK)
		goto fail;
	if (journal_append_take(x->env->journal, rec, NULL, NULL) != WW_OK)
		metrics_add(x->env->metrics, METRICS_JOURNAL_FAIL, 1);
	return;
fail:
	record_free(rec);
	metrics_add(x->env->metrics, METRICS_JOURNAL_FAIL, 1);
}

/* ---- decode, check, judge ---- */

static void
cbx_refuse(struct callback_exchange *x, int status, const char *text)
{
	if (x->refuse_status == 0) {
		x->refuse_status = status;
		x->refuse_text = text;
	}
}

static int
cbx_judge(struct callback_exchange *x, const struct policy *policy,
          const Ww__Message *msg, Ww__Verdict **verdict, int *blocked)
{
	int rc;

	*verdict = NULL;
	*blocked = 0;
	if (policy == NULL)
		return WW_OK;
	rc = policy_judge(policy, x->env->scratch, msg, verdict, NULL);
	if (rc != WW_OK || *verdict == NULL) {
		log_warnx("callback: policy failed: %s", ww_strerror(rc));
		if (*verdict != NULL)
			protobuf_c_message_free_unpacked(&(*verdict)->base,
			                                 NULL);
		*verdict = NULL;
		return rc != WW_OK ? rc : WW_EINVAL;
	}
	*blocked = (*verdict)->action == WW__ACTION__BLOCK;
	return WW_OK;
}

/* Check the time window; 1 when the callback is fresh. */
static int
cbx_fresh(const struct callback_exchange *x, int64_t now)
{
	char *end;
	long long ts;

	errno = 0;
	ts = strtoll(x->ts, &end, 10);
	if (errno != 0 || end == x->ts || *end != '\0')
		return 0;
	return ts >= now - (int64_t)x->cw->max_skew &&
	       ts <= now + (int64_t)x->cw->max_skew;
}

/*
 * Verify, decrypt and check the window of what the request carries
 * (encrypt: echostr or the envelope's Encrypt).  On a failure the
 * refusal is set and *reason says why; *plain is the decrypted payload.
 */
static void
cbx_open(struct callback_exchange *x, const char *encrypt, uint8_t **plain,
         size_t *len, const char **reason)
{
	const struct wxcrypt *c = x->route->crypt;
	enum wxcrypt_fail why = WXCRYPT_FAIL_NONE;
	int bad_sig;

	*plain = NULL;
	*len = 0;
	*reason = NULL;
	bad_sig =
	    wxcrypt_verify(c, x->ts, x->nonce, encrypt, x->sig, &why) != WW_OK;
	if (bad_sig) {
		*reason = wxcrypt_fail_name(why);
		if (!x->route->forward_bad_sig)
			cbx_refuse(x, 403, "invalid signature");
	}
	if (wxcrypt_decrypt(c, encrypt, strlen(encrypt), plain, len, NULL,
	                    &why) != WW_OK) {
		if (*reason == NULL)
			*reason = wxcrypt_fail_name(why);
		if (!bad_sig || !x->route->forward_bad_sig)
			cbx_refuse(x, why == WXCRYPT_FAIL_INTERNAL ? 503 : 400,
			           wxcrypt_fail_name(why));
		return;
	}
	if (!cbx_fresh(x, (int64_t)time(NULL))) {
		/* recorded as a replay (outcome.local_error) */
		cbx_refuse(x, 403, "replay: timestamp outside the window");
	}
}

/* The URL verification: the message is the echo string. */
static int
cbx_prepare_get(struct callback_exchange *x, Ww__Message **msg)
{
	const char *reason;
	uint8_t *plain;
	size_t len;
	int rc;

	x->endpoint = "callback/verify";
	cbx_open(x, x->echostr, &plain, &len, &reason);
	free(plain);
	rc = cb_error_message(x->endpoint, "", msg);
	if (rc == WW_OK && reason != NULL)
		rc = record_set_str(&(*msg)->decode_error, reason);
	return rc;
}

static int
cbx_prepare_post(struct callback_exchange *x, Ww__Message **msg,
                 Ww__Verdict **verdict)
{
	struct callback_envelope envl;
	const char *reason = NULL;
	char err[200] = "";
	uint8_t *plain = NULL;
	size_t len = 0;
	int rc;

	x->endpoint = "callback";
	if (callback_parse_envelope(x->body, x->body_len, &envl, err,
	                            sizeof(err)) != WW_OK) {
		cbx_refuse(x, 400, "bad envelope");
		return cb_error_message(x->endpoint, err, msg);
	}
	cbx_open(x, envl.encrypt, &plain, &len, &reason);
	callback_envelope_clear(&envl);
	if (plain == NULL)
		return cb_error_message(x->endpoint, reason, msg);
	rc = callback_decode(journal_secret(x->env->journal), plain, len,
	                     WW__DIRECTION__INBOUND, msg, err, sizeof(err));
	free(plain);
	if (rc == WW_ENOMEM)
		return rc;
	if (rc != WW_OK) {
		cbx_refuse(x, 400, "undecodable callback");
		return WW_OK;
	}
	if (reason != NULL &&
	    record_set_str(&(*msg)->decode_error, reason) != WW_OK)
		return WW_ENOMEM;
	if (x->refuse_status == 0)
		if (cbx_judge(x, x->policy, *msg, verdict, &x->blocked) !=
		    WW_OK) /* not judged: fail closed, WeCom retries later */
			cbx_refuse(x, 503, "gateway internal failure");
	return WW_OK;
}

/* Decode and judge; the CALLBACK record, or NULL for a known retry. */
static int
cbx_prepare(struct callback_exchange *x, Ww__Record **out)
{
	Ww__Message *msg = NULL;
	Ww__Verdict *verdict = NULL;
	int get = strcmp(x->method, "GET") == 0, rc;

	*out = NULL;
	x->sig = cb_param(x->query, "msg_signature");
	x->ts = cb_param(x->query, "timestamp");
	x->nonce = cb_param(x->query, "nonce");
	x->echostr = get ? cb_param(x->query, "echostr") : NULL;
	if (x->sig == NULL || x->ts == NULL || x->nonce == NULL ||
	    (get && x->echostr == NULL) ||
	    (!get && strcmp(x->method, "POST"))) {
		cbx_refuse(x, 400, "not a WeCom callback");
		x->endpoint = "callback";
		rc = cb_error_message(x->endpoint, "missing query parameters",
		                      &msg);
	} else if (get) {
		rc = cbx_prepare_get(x, &msg);
	} else {
		rc = cbx_prepare_post(x, &msg, &verdict);
	}
	if (rc == WW_OK && x->refuse_status == 0 && x->sig != NULL &&
	    cb_seen(x->cw->seen, x->sig, (int64_t)time(NULL))) {
		x->dedup = 1; /* WeCom retrying: journaled already */
		message_free(msg);
		if (verdict != NULL)
			protobuf_c_message_free_unpacked(&verdict->base, NULL);
		return WW_OK;
	}
	if (rc != WW_OK) {
		message_free(msg);
		if (verdict != NULL)
			protobuf_c_message_free_unpacked(&verdict->base, NULL);
		return rc;
	}
	return cbx_record(x, msg, verdict, out);
}

/* ---- the receiver's answer and passive replies ---- */

static void
cbx_pass_answer(struct callback_exchange *x)
{
	struct http_response r = {x->status, x->rheaders, x->n_rheaders,
	                          x->rbody, x->rbody_len};

	if (x->reply_drop) {
		/* WeCom's "no reply": the user gets nothing */
		r.body = (const uint8_t *)"";
		r.body_len = 0;
	}
	cbx_reply(x, &r);
}

static void
cbx_after_reply(struct callback_exchange *x)
{
	if (x->jrc != WW_OK) {
		metrics_add(x->env->metrics, METRICS_JOURNAL_FAIL, 1);
		log_warnx("callback: passive reply not journaled: %s; dropped",
		          ww_strerror(x->jrc));
		x->reply_drop = 1;
	}
	cbx_pass_answer(x);
}

/*
 * An encrypted passive reply: decrypt, judge (outbound) and journal it
 * before it goes back.  Returns 1 when a journal wait started.
 */
static int
cbx_passive_reply(struct callback_exchange *x)
{
	struct callback_envelope envl;
	Ww__Message *msg = NULL;
	Ww__Verdict *verdict = NULL;
	Ww__Record *rec = NULL;
	uint8_t *plain = NULL;
	size_t len = 0;
	enum wxcrypt_fail why = WXCRYPT_FAIL_NONE;
	char err[200] = "";
	int rc;

	/* XML or JSON (wecom-api.md 5.6, 5.7) */
	if (x->rbody_len == 0 ||
	    (memmem(x->rbody, x->rbody_len, "<Encrypt>", 9) == NULL &&
	     memmem(x->rbody, x->rbody_len, "\"encrypt\"", 9) == NULL))
		return 0;
	rc = callback_parse_envelope(x->rbody, x->rbody_len, &envl, err,
	                             sizeof(err));
	if (rc == WW_OK &&
	    wxcrypt_open(x->route->crypt, envl.timestamp ? envl.timestamp : "",
	                 envl.nonce ? envl.nonce : "", envl.encrypt,
	                 envl.msg_signature, &plain, &len, &why) != WW_OK)
		snprintf(err, sizeof(err), "reply: %s", wxcrypt_fail_name(why));
	callback_envelope_clear(&envl);
	if (plain != NULL) {
		rc = callback_decode(journal_secret(x->env->journal), plain,
		                     len, WW__DIRECTION__OUTBOUND, &msg, err,
		                     sizeof(err));
		free(plain);
		if (msg != NULL && rc == WW_OK)
			/* the policy in force now: the scratch follows it */
			if (cbx_judge(x, x->env->policy, msg, &verdict,
			              &x->reply_drop) != WW_OK)
				x->reply_drop = 1; /* not judged: not sent */
	} else if (cb_error_message("callback/reply", err, &msg) == WW_OK) {
		msg->direction = WW__DIRECTION__OUTBOUND;
	}
	if (msg != NULL && record_set_str(&msg->endpoint, "callback/reply"))
		log_warnx("callback: out of memory");
	if (cbx_record(x, msg, verdict, &rec) != WW_OK || rec == NULL)
		return 0;
	cbx_journal(x, rec, cbx_after_reply);
	return 1;
}

static void
cbx_on_upstream(const struct upstream_result *res, void *arg)
{
	struct callback_exchange *x = arg;

	x->call = NULL;
	x->upstream_us = res->latency_us;
	if (res->rc != WW_OK) {
		metrics_add(x->env->metrics, METRICS_UPSTREAM_FAIL, 1);
		log_warnx("callback %s: receiver failed: %s", x->route->path,
		          res->error);
		cbx_outcome(x, res->sent, 0, res->error, NULL, 0);
		cbx_answer(x, 502, "receiver unavailable");
		cbx_done(x);
		return;
	}
	cbx_outcome(x, 1, res->status, NULL, res->body, res->body_len);
	x->status = res->status;
	x->n_rheaders = res->n_headers;
	x->rbody = malloc(res->body_len + 1);
	if (x->rbody == NULL || cb_headers_copy(res->headers, res->n_headers,
	                                        &x->rheaders) != WW_OK) {
		cbx_answer(x, 503, "out of memory");
		cbx_done(x);
		return;
	}
	if (res->body_len > 0)
		memcpy(x->rbody, res->body, res->body_len);
	x->rbody_len = res->body_len;
	if (!cbx_passive_reply(x))
		cbx_pass_answer(x);
	cbx_done(x);
}

static void
cbx_forward(struct callback_exchange *x)
{
	struct upstream_request r = {
	    .method = x->method,
	    .path = x->route->fwd_path,
	    .query = x->query[0] != '\0' ? x->query : NULL,
	    .headers = x->headers,
	    .n_headers = x->n_headers,
	    .body = x->body, /* the original, still encrypted */
	    .body_len = x->body_len,
	};
	int rc =
	    x->route->up != NULL
	        ? upstream_send(x->route->up, &r, cbx_on_upstream, x, &x->call)
	        : WW_ECLOSED;

	if (rc != WW_OK) {
		x->call = NULL;
		cbx_outcome(x, 0, 0, ww_strerror(rc), NULL, 0);
		cbx_answer(x, 503, "gateway shutting down");
	}
}

/* The CALLBACK record is durable (or failed): answer or forward. */
static void
cbx_after_request(struct callback_exchange *x)
{
	if (x->jrc == WW_OK && !x->dedup) {
		x->req_seq = x->seq;
		if (x->refuse_status == 0)
			cb_remember(x->cw->seen, x->sig,
			            (int64_t)time(NULL) +
			                2 * (int64_t)x->cw->max_skew);
		/* Not forwarded: its OUTCOME says why (replay, signature...) */
		if (x->refuse_status != 0 || x->blocked)
			cbx_outcome(x, 0,
			            x->refuse_status ? x->refuse_status : 200,
			            x->refuse_text, NULL, 0);
	}
	if (x->jrc != WW_OK) {
		metrics_add(x->env->metrics, METRICS_JOURNAL_FAIL, 1);
		if (x->refuse_status == 0 &&
		    !x->cw->forward_on_journal_failure) {
			log_warnx("callback %s: not journaled (%s); refused, "
			          "WeCom will retry",
			          x->route->path, ww_strerror(x->jrc));
			cbx_refuse(x, 503, "journal unavailable");
		} else if (x->refuse_status == 0) {
			log_warnx("callback %s: not journaled (%s); forwarded "
			          "(on_journal_failure: forward)",
			          x->route->path, ww_strerror(x->jrc));
		}
	}
	metrics_request(x->env->metrics, x->endpoint,
	                x->refuse_status ? METRICS_REFUSE
	                : x->blocked     ? METRICS_BLOCK
	                                 : METRICS_ALLOW,
	                x->refuse_status ? x->refuse_status : 200);
	if (x->refuse_status != 0)
		cbx_answer(x, x->refuse_status, x->refuse_text);
	else if (x->blocked)
		cbx_answer(x, 200, "success"); /* so WeCom does not retry */
	else
		cbx_forward(x);
}

int
callback_start(const struct exchange_env *env,
               const struct exchange_client *client,
               const struct http_request *req, exchange_reply_cb reply_cb,
               void *arg, struct callback_exchange **out)
{
	struct callback_exchange *x = NULL;
	Ww__Record *rec = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (cb_find(env->callbacks, req->path) == NULL)
		return WW_ENOTFOUND;
	rc = cbx_new(env, client, req, &x);
	if (rc == WW_OK)
		rc = env->journal != NULL ? cbx_prepare(x, &rec) : WW_OK;
	if (rc != WW_OK) {
		if (x != NULL)
			cbx_free(x);
		return rc;
	}
	x->reply_cb = reply_cb;
	x->reply_arg = arg;
	/* From here on reply_cb runs exactly once. */
	if (env->journal == NULL) {
		cbx_answer(x, 503, "gateway shutting down");
	} else if (rec != NULL) {
		cbx_journal(x, rec, cbx_after_request);
	} else {
		x->jrc = WW_OK;
		cbx_after_request(x);
	}
	if (out != NULL && !x->replied)
		*out = x;
	cbx_done(x);
	return WW_OK;
}

void
callback_detach(struct callback_exchange *x)
{
	if (x == NULL)
		return;
	x->detached = 1;
	cbx_done(x);
}
