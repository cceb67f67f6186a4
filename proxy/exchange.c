/*
 * exchange.c: one request's life: decode -> judge -> journal (wait until
 * durable) -> forward -> outcome -> answer (DESIGN.md, "Data flow").
 *
 * The one guarantee lives here: upstream_send() is only ever called from
 * ex_on_journaled(), after the journal said the REQUEST record (with its
 * verdict) is durable, and only when the verdict lets it through.  Every
 * other path answers with a refusal (refuse.h lists the codes).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "log.h"
#include "ww.h"
#include "policy/policy.h"
#include "store/journal.h"
#include "store/record.h"
#include "store/wecom.h"
#include "proxy/accesslog.h"
#include "proxy/exchange.h"
#include "proxy/identity.h"
#include "proxy/metrics.h"
#include "proxy/refuse.h"
#include "proxy/upstream.h"

#define EXCHANGE_JOURNAL_TIMEOUT_MS 5000u
#define EXCHANGE_MAX_JOURNALED_ANSWER (64u << 10)
#define EXCHANGE_MAX_PART_TRIES 256 /* blank lines looked at */
#define EXCHANGE_MAX_PART_HASHES 8  /* delimited spans hashed */

struct exchange {
	const struct exchange_env *env; /* the worker's; outlives us */
	unsigned journal_timeout_ms;
	struct policy *policy; /* the snapshot judged under, ref'd */
	exchange_reply_cb reply_cb;
	void *reply_arg;
	int detached, replied;
	struct timespec t0, t_journal;
	/* the request: copies inside this structure's own allocation,
	   behind it (ex_copy_request); freed with it */
	const char *method, *path, *query;
	struct http_header *headers;
	size_t n_headers;
	uint8_t *body;
	size_t body_len;
	const char *client_addr;
	const char *host; /* intercepted host (explicit/transparent), or NULL */
	unsigned client_port;
	enum wecom_class cls;
	/* what decoding told us: copies (the message goes to the journal
	   writer, which frees it while we still run), all four strings in
	   decoded: decoded_small when they fit (endpoint, a 37-byte token
	   digest, app, corp id usually do), else one malloc'ed block */
	const char *endpoint, *token_digest, *app, *corp_id;
	char *decoded;
	char decoded_small[128];
	int has_upload;
	unsigned char upload_sha[32];
	char *upload_name;
	uint64_t upload_size;
	/* the decision */
	enum metrics_action action;
	long refuse_errcode;     /* 0: forward */
	const char *refuse_text; /* static, or refuse_text_own */
	char *refuse_text_own;
	uint8_t *fwd_body; /* redacted body, or NULL: forward body */
	size_t fwd_len;
	/* the journal wait: jrc and jseq are written by the writer thread
	   before event_active(wake); the base's lock orders that write
	   before ex_on_journaled() reads them.  seq belongs to the loop
	   thread only (ex_on_journaled copies jseq): the deadline's access
	   line reads seq while the writer may be delivering (a data race
	   ThreadSanitizer found in test_exchange, tests/fault/tsan.sh) */
	struct event *wake, *deadline; /* in our block; NULL until assigned */
	int jrc;
	uint64_t jseq;
	uint64_t seq;
	int timed_out;
	struct upstream_call *call;
};

/* How an exchange ends: what the OUTCOME says and what the client gets. */
struct ex_end {
	int journal_outcome; /* the REQUEST is durable: append an OUTCOME */
	int forwarded;
	int http_status;
	int has_errcode;
	int64_t errcode;
	const char *errmsg, *msgid, *local_error;
	const uint8_t *answer; /* scrubbed, for the journal */
	size_t answer_len;
	uint64_t upstream_us;
	const char *learned_token; /* gettoken: digest of the minted token */
	const char *media_id;      /* upload: the id WeCom gave the file */
	const struct http_response *resp; /* NULL: a refusal from below */
	long refuse_errcode;
	const char *refuse_text, *hint;
};

/* When even a refusal cannot be built (out of memory). */
static const struct http_header ex_busy_headers[] = {
    {"Content-Type", "application/json; charset=UTF-8"}};
static const char ex_busy_body[] =
    "{\"errcode\":-1,\"errmsg\":\"system busy\"}";
static const struct http_response ex_busy_resp = {200, ex_busy_headers, 1,
                                                  (const uint8_t *)ex_busy_body,
                                                  sizeof(ex_busy_body) - 1};

static uint64_t
ex_elapsed_us(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000u +
	       (uint64_t)((now.tv_nsec - since->tv_nsec) / 1000);
}

static char *
ex_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static const char *
ex_nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* ---- life cycle ---- */

static void
ex_free(struct exchange *ex)
{
	if (ex == NULL)
		return;
	if (ex->call != NULL)
		upstream_cancel(ex->call);
	/* the events live in ex's block (event_assign): event_del, as
	   event_free would, then only the block is freed */
	if (ex->wake != NULL) {
		event_del(ex->wake);
		event_debug_unassign(ex->wake);
	}
	if (ex->deadline != NULL) {
		event_del(ex->deadline);
		event_debug_unassign(ex->deadline);
	}
	policy_unref(ex->policy);
	/* the request's copy lives in ex's own block (ex_copy_request) */
	if (ex->decoded != ex->decoded_small)
		free(ex->decoded);
	free(ex->upload_name);
	free(ex->refuse_text_own);
	free(ex->fwd_body);
	free(ex);
}

/*
 * One calloc per request for what used to be ~20: the block holds the
 * structure, then room for its two events (libevent's event_assign(),
 * sized at run time with event_get_struct_event_size() as libevent's
 * header recommends, so no dependency on struct event's layout), then the
 * request's copy: the header array, the body, then every string (method,
 * path, query, header names and values, client address, host).
 * Everything dies with ex_free()'s free(ex).  ex_arena hands out the
 * string space in order; ex_size measured it first, so it never runs out.
 */
struct ex_arena {
	char *p;
};

static size_t
ex_strsize(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

static const char *
ex_arena_str(struct ex_arena *a, const char *s)
{
	size_t n = ex_strsize(s);
	char *dst = a->p;

	if (s == NULL)
		return NULL;
	memcpy(dst, s, n);
	a->p += n;
	return dst;
}

/* An offset or size rounded up so that what follows is aligned for
   anything (calloc's own guarantee for the block's start). */
static size_t
ex_align(size_t n)
{
	const size_t a = _Alignof(max_align_t);

	return (n + a - 1) / a * a;
}

static size_t
ex_events_offset(void)
{
	return ex_align(sizeof(struct exchange));
}

/* Where the request's copy starts: behind the two events. */
static size_t
ex_request_offset(void)
{
	return ex_events_offset() + 2 * ex_align(event_get_struct_event_size());
}

/*
 * The size of the block: the structure and the request's copy behind it.
 * WW_EINVAL for a request without method, path or with a NULL header
 * (the parser never makes one), WW_ELIMIT when the sum would overflow.
 */
static int
ex_size(const struct exchange_client *client, const struct http_request *req,
        size_t *out)
{
	size_t n = ex_request_offset();

	if (req->method == NULL || req->path == NULL)
		return WW_EINVAL;
	if (req->n_headers > (SIZE_MAX / 2) / sizeof(*req->headers) ||
	    req->body_len > SIZE_MAX / 4)
		return WW_ELIMIT;
	/* at least one body byte, as malloc(1) gave: never a pointer past
	   the block, even for an empty body */
	n += req->n_headers * sizeof(*req->headers) +
	     (req->body_len > 0 ? req->body_len : 1);
	n += ex_strsize(req->method) + ex_strsize(req->path) +
	     ex_strsize(req->query) + ex_strsize(client->address) +
	     ex_strsize(client->host);
	for (size_t i = 0; i < req->n_headers; i++) {
		if (req->headers[i].name == NULL ||
		    req->headers[i].value == NULL)
			return WW_EINVAL;
		n += strlen(req->headers[i].name) +
		     strlen(req->headers[i].value) + 2;
	}
	*out = n;
	return WW_OK;
}

/* Fills the space ex_size() measured behind ex. */
static void
ex_copy_request(struct exchange *ex, const struct exchange_client *client,
                const struct http_request *req)
{
	unsigned char *block = (unsigned char *)ex;
	/* ex_request_offset() is aligned for anything: so is the array */
	struct http_header *h =
	    (struct http_header *)(block + ex_request_offset());
	struct ex_arena a = {(char *)(h + req->n_headers)};

	if (req->n_headers > 0)
		ex->headers = h;
	ex->n_headers = req->n_headers;
	ex->body = (uint8_t *)a.p;
	if (req->body_len > 0)
		memcpy(ex->body, req->body, req->body_len);
	ex->body_len = req->body_len;
	a.p += req->body_len > 0 ? req->body_len : 1;
	for (size_t i = 0; i < req->n_headers; i++) {
		h[i].name = ex_arena_str(&a, req->headers[i].name);
		h[i].value = ex_arena_str(&a, req->headers[i].value);
	}
	ex->method = ex_arena_str(&a, req->method);
	ex->path = ex_arena_str(&a, req->path);
	ex->query = ex_arena_str(&a, req->query);
	ex->client_addr = ex_arena_str(&a, client->address);
	ex->host = ex_arena_str(&a, client->host);
}

static int
ex_new(const struct exchange_env *env, const struct exchange_client *client,
       const struct http_request *req, exchange_reply_cb reply_cb, void *arg,
       struct exchange **out)
{
	struct exchange *ex;
	size_t size;
	int rc;

	*out = NULL;
	if ((rc = ex_size(client, req, &size)) != WW_OK)
		return rc;
	ex = calloc(1, size);
	if (ex == NULL)
		return WW_ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &ex->t0);
	ex->env = env;
	ex->journal_timeout_ms = env->journal_timeout_ms != 0
	                             ? env->journal_timeout_ms
	                             : EXCHANGE_JOURNAL_TIMEOUT_MS;
	ex->policy = env->policy != NULL ? policy_ref(env->policy) : NULL;
	ex->reply_cb = reply_cb;
	ex->reply_arg = arg;
	ex->client_port = client->port;
	ex_copy_request(ex, client, req);
	*out = ex;
	return WW_OK;
}

static const char *
ex_header(const struct exchange *ex, const char *name)
{
	for (size_t i = 0; i < ex->n_headers; i++)
		if (strcasecmp(ex->headers[i].name, name) == 0)
			return ex->headers[i].value;
	return NULL;
}

/* ---- answering ---- */

static void
ex_access_log(struct exchange *ex, const struct http_response *resp,
              const struct ex_end *end)
{
	struct accesslog_entry e;

	if (ex->env->accesslog == NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.client = ex->client_addr;
	e.port = ex->client_port;
	e.method = ex->method;
	e.path = ex->path;
	e.action = metrics_action_name(ex->action);
	e.status = resp->status;
	if (end != NULL && end->has_errcode) {
		e.has_errcode = 1;
		e.errcode = end->errcode;
	} else if (end == NULL || end->resp == NULL) {
		e.has_errcode = 1;
		e.errcode =
		    end != NULL ? end->refuse_errcode : ex->env->busy_errcode;
	}
	e.request_seq = ex->seq;
	e.app = ex_nonempty(ex->app);
	e.token_digest = ex_nonempty(ex->token_digest);
	e.request_bytes = ex->body_len;
	e.response_bytes = resp->body_len;
	e.latency_us = ex_elapsed_us(&ex->t0);
	e.forwarded = end != NULL && end->forwarded;
	e.error = end != NULL ? end->local_error : "journal deadline passed";
	accesslog_write(ex->env->accesslog, &e);
}

/* Hand resp to the client, once; counted and logged either way. */
static void
ex_reply(struct exchange *ex, const struct http_response *resp,
         const struct ex_end *end)
{
	if (ex->replied)
		return;
	ex->replied = 1;
	metrics_request(ex->env->metrics, ex->endpoint, ex->action,
	                resp->status);
	metrics_observe(ex->env->metrics, METRICS_EXCHANGE,
	                ex_elapsed_us(&ex->t0));
	ex_access_log(ex, resp, end);
	if (!ex->detached && ex->reply_cb != NULL)
		ex->reply_cb(resp, ex->reply_arg);
}

static void
ex_reply_refusal(struct exchange *ex, long errcode, const char *text,
                 const char *hint, const struct ex_end *end)
{
	struct refusal *r = NULL;

	if (refuse_new(200, errcode, text, hint, &r) == WW_OK)
		ex_reply(ex, refuse_response(r), end);
	else
		ex_reply(ex, &ex_busy_resp, end);
	refuse_free(r);
}

/* ---- the OUTCOME record ---- */

static void
ex_outcome_done(int rc, uint64_t seq, void *arg)
{
	(void)seq;
	/* writer thread: only the thread-safe metrics and log */
	if (rc != WW_OK) {
		metrics_add(arg, METRICS_JOURNAL_FAIL, 1);
		log_warnx("exchange: outcome record lost: %s", ww_strerror(rc));
	}
}

/* OUTCOME.message: what this exchange taught us (token, media). */
static int
ex_outcome_message(struct exchange *ex, const struct ex_end *end,
                   Ww__Message **out)
{
	Ww__Message *m;
	Ww__Attachment *a;

	*out = NULL;
	if (end->learned_token == NULL && end->media_id == NULL)
		return WW_OK;
	if ((m = message_new()) == NULL)
		return WW_ENOMEM;
	*out = m;
	if (record_set_str(&m->endpoint, ex->endpoint) != WW_OK ||
	    (end->learned_token != NULL &&
	     (record_set_str(&m->token_digest, end->learned_token) != WW_OK ||
	      record_set_str(&m->corp_id, ex->corp_id) != WW_OK ||
	      record_set_str(&m->app, ex->app) != WW_OK)))
		return WW_ENOMEM;
	if (end->media_id == NULL)
		return WW_OK;
	m->attachments = calloc(1, sizeof(*m->attachments));
	if (m->attachments == NULL || (a = malloc(sizeof(*a))) == NULL)
		return WW_ENOMEM;
	ww__attachment__init(a);
	m->attachments[0] = a;
	m->n_attachments = 1;
	a->size = ex->upload_size;
	if (record_set_str(&a->media_id, end->media_id) != WW_OK ||
	    record_set_str(&a->name, ex->upload_name) != WW_OK ||
	    record_set_bytes(&a->sha256, ex->upload_sha, 32) != WW_OK)
		return WW_ENOMEM;
	return WW_OK;
}

static int
ex_outcome_fill(struct exchange *ex, const struct ex_end *end, Ww__Record *rec)
{
	Ww__Outcome *oc = malloc(sizeof(*oc));

	if (oc == NULL)
		return WW_ENOMEM;
	ww__outcome__init(oc);
	rec->outcome = oc;
	oc->forwarded = end->forwarded != 0;
	oc->http_status = (uint32_t)end->http_status;
	oc->latency_us = end->upstream_us;
	oc->request_seq = ex->seq;
	oc->errcode = end->has_errcode ? end->errcode : end->refuse_errcode;
	if (record_set_str(&rec->method, ex->method) != WW_OK ||
	    record_set_str(&rec->path, ex->path) != WW_OK)
		return WW_ENOMEM;
	if (end->errmsg != NULL || end->resp == NULL)
		if (record_set_str(&oc->errmsg, end->errmsg != NULL
		                                    ? end->errmsg
		                                    : end->refuse_text) !=
		    WW_OK)
			return WW_ENOMEM;
	if ((end->msgid != NULL &&
	     record_set_str(&oc->msgid, end->msgid) != WW_OK) ||
	    (end->local_error != NULL &&
	     record_set_str(&oc->local_error, end->local_error) != WW_OK))
		return WW_ENOMEM;
	if (end->answer != NULL &&
	    record_set_bytes(&oc->response_body, end->answer,
	                     end->answer_len < EXCHANGE_MAX_JOURNALED_ANSWER
	                         ? end->answer_len
	                         : EXCHANGE_MAX_JOURNALED_ANSWER) != WW_OK)
		return WW_ENOMEM;
	return ex_outcome_message(ex, end, &rec->message);
}

static void
ex_append_outcome(struct exchange *ex, const struct ex_end *end)
{
	Ww__Record *rec;
	int rc;

	if (ex->env->journal == NULL) /* closed at shutdown: nowhere to go */
		return;
	rec = record_new(WW__KIND__OUTCOME);
	rc = rec != NULL ? ex_outcome_fill(ex, end, rec) : WW_ENOMEM;

	if (rc == WW_OK) {
		rc = journal_append_take(ex->env->journal, rec, ex_outcome_done,
		                         ex->env->metrics);
		rec = NULL;
	}
	if (rc != WW_OK) {
		metrics_add(ex->env->metrics, METRICS_JOURNAL_FAIL, 1);
		log_warnx("exchange: outcome of request %llu not journaled: %s",
		          (unsigned long long)ex->seq, ww_strerror(rc));
	}
	record_free(rec);
}

/* The end of an exchange: OUTCOME, answer, free. */
static void
ex_finish(struct exchange *ex, const struct ex_end *end)
{
	if (end->journal_outcome)
		ex_append_outcome(ex, end);
	if (end->resp != NULL)
		ex_reply(ex, end->resp, end);
	else
		ex_reply_refusal(ex, end->refuse_errcode, end->refuse_text,
		                 end->hint, end);
	ex_free(ex);
}

/* ---- forwarding: only after the REQUEST is durable ---- */

/* What the answer teaches: token identity (gettoken), media_id (upload). */
static void
ex_learn_answer(struct exchange *ex, const struct wecom_answer *ans,
                struct ex_end *end)
{
	if (ex->cls == WECOM_GETTOKEN && ans->has_token) {
		end->learned_token = ans->token_digest;
		if (ex->env->identity != NULL)
			identity_learn_token(
			    ex->env->identity, ans->token_digest,
			    ex->corp_id != NULL ? ex->corp_id : "", ex->app);
	}
	if (!ex->has_upload || ans->media_id == NULL)
		return;
	end->media_id = ans->media_id;
	if (ex->env->identity != NULL)
		identity_learn_media(ex->env->identity, ans->media_id,
		                     ex->upload_sha);
}

static void
ex_on_upstream(const struct upstream_result *res, void *arg)
{
	struct exchange *ex = arg;
	struct ex_end end = {.journal_outcome = 1};
	const struct secret *key = NULL;
	struct wecom_answer ans;
	struct http_response resp;
	char hint[24];

	ex->call = NULL;
	metrics_observe(ex->env->metrics, METRICS_UPSTREAM, res->latency_us);
	end.forwarded = res->sent;
	end.upstream_us = res->latency_us;
	snprintf(hint, sizeof(hint), "%llu", (unsigned long long)ex->seq);
	if (res->rc != WW_OK) {
		metrics_add(ex->env->metrics, METRICS_UPSTREAM_FAIL, 1);
		end.local_error = res->error;
		end.refuse_errcode = ex->env->busy_errcode;
		end.refuse_text = "system busy";
		end.hint = hint;
		ex_finish(ex, &end);
		return;
	}
	end.http_status = res->status;
	if (ex->env->journal != NULL)
		key = journal_secret(ex->env->journal);
	/* One parse: errcode, errmsg, msgid, the scrubbed answer, the token
	   or media id (the journal copy is res->body when clean). */
	if (wecom_read_answer(key, ex->cls, res->body, res->body_len, &ans) ==
	    WW_OK) {
		end.has_errcode = 1;
		end.errcode = ans.errcode;
		end.errmsg = ans.errmsg;
		end.msgid = ans.msgid;
		end.answer = ans.journal;
		end.answer_len = ans.journal_len;
		if (key != NULL)
			ex_learn_answer(ex, &ans, &end);
	}
	resp.status = res->status;
	resp.headers = res->headers;
	resp.n_headers = res->n_headers;
	resp.body = res->body;
	resp.body_len = res->body_len;
	end.resp = &resp;
	ex_finish(ex, &end);
	wecom_answer_cleanup(&ans);
}

static void
ex_forward(struct exchange *ex)
{
	struct upstream_request r;
	struct ex_end end = {.journal_outcome = 1};
	char hint[24];
	int rc;

	memset(&r, 0, sizeof(r));
	r.method = ex->method;
	r.path = ex->path;
	r.query = ex->query;
	r.headers = ex->headers;
	r.n_headers = ex->n_headers;
	r.body = ex->fwd_body != NULL ? ex->fwd_body : ex->body;
	r.body_len = ex->fwd_body != NULL ? ex->fwd_len : ex->body_len;
	r.host = ex->host;
	/* NULL: the worker is shutting down (exchange.h) */
	rc = ex->env->upstream != NULL
	         ? upstream_send(ex->env->upstream, &r, ex_on_upstream, ex,
	                         &ex->call)
	         : WW_ECLOSED;
	if (rc == WW_OK)
		return;
	snprintf(hint, sizeof(hint), "%llu", (unsigned long long)ex->seq);
	end.local_error =
	    rc == WW_EINVAL ? "request not forwardable" : ww_strerror(rc);
	end.refuse_errcode = ex->env->busy_errcode;
	end.refuse_text = "system busy";
	end.hint = hint;
	ex_finish(ex, &end);
}

/* ---- waiting for the journal ---- */

/* Writer thread: record the result and wake the exchange's own worker. */
static void
ex_journal_done(int rc, uint64_t seq, void *arg)
{
	struct exchange *ex = arg;

	ex->jrc = rc;
	ex->jseq = seq;
	event_active(ex->wake, EV_READ, 0);
}

static void
ex_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *ex = arg;

	(void)fd;
	(void)what;
	/* Refuse now; the exchange lives on until the journal answers. */
	ex->timed_out = 1;
	ex->action = METRICS_REFUSE;
	metrics_add(ex->env->metrics, METRICS_JOURNAL_FAIL, 1);
	log_warnx("exchange: journal missed its %u ms deadline; refused",
	          ex->journal_timeout_ms);
	ex_reply_refusal(ex, ex->env->busy_errcode, "system busy", NULL, NULL);
}

static void
ex_on_journaled(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *ex = arg;
	struct ex_end end = {.journal_outcome = 1};
	char hint[24];

	(void)fd;
	(void)what;
	ex->seq = ex->jseq;
	event_del(ex->deadline);
	metrics_observe(ex->env->metrics, METRICS_COMMIT,
	                ex_elapsed_us(&ex->t_journal));
	if (ex->jrc != WW_OK) {
		metrics_add(ex->env->metrics, METRICS_JOURNAL_FAIL, 1);
		log_warnx("exchange: request record not journaled: %s; refused",
		          ww_strerror(ex->jrc));
		ex->action = METRICS_REFUSE;
		end.journal_outcome = 0;
		end.local_error = ww_strerror(ex->jrc);
		end.refuse_errcode = ex->env->busy_errcode;
		end.refuse_text = "system busy";
		ex_finish(ex, &end);
		return;
	}
	snprintf(hint, sizeof(hint), "%llu", (unsigned long long)ex->seq);
	end.hint = hint;
	if (ex->timed_out || ex->refuse_errcode != 0) {
		end.local_error =
		    ex->timed_out ? "journal deadline passed" : NULL;
		end.refuse_errcode =
		    ex->timed_out ? ex->env->busy_errcode : ex->refuse_errcode;
		end.refuse_text =
		    ex->timed_out ? "system busy" : ex->refuse_text;
		ex_finish(ex, &end);
		return;
	}
	ex_forward(ex);
}

/* The journal's wake-up and deadline, in the room ex_new() left. */
static int
ex_assign_events(struct exchange *ex)
{
	unsigned char *space = (unsigned char *)ex + ex_events_offset();
	struct event *wake = (struct event *)space;
	struct event *deadline =
	    (struct event *)(space + ex_align(event_get_struct_event_size()));

	if (event_assign(wake, ex->env->base, -1, 0, ex_on_journaled, ex) != 0)
		return WW_EINVAL;
	ex->wake = wake;
	if (evtimer_assign(deadline, ex->env->base, ex_on_deadline, ex) != 0)
		return WW_EINVAL;
	ex->deadline = deadline;
	return WW_OK;
}

/*
 * Hand rec to the journal (taking it).  Returns 1 while the exchange
 * waits for it, 0 when it was refused at once and has ended.
 */
static int
ex_append_request(struct exchange *ex, Ww__Record *rec)
{
	struct timeval tv;
	struct ex_end end = {0};
	int rc = WW_ENOMEM;

	tv.tv_sec = ex->journal_timeout_ms / 1000;
	tv.tv_usec = (ex->journal_timeout_ms % 1000) * 1000;
	if (ex_assign_events(ex) == WW_OK &&
	    evtimer_add(ex->deadline, &tv) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ex->t_journal);
		rc = journal_append_take(ex->env->journal, rec, ex_journal_done,
		                         ex);
		rec = NULL;
	}
	record_free(rec);
	if (rc == WW_OK)
		return 1;
	metrics_add(ex->env->metrics, METRICS_JOURNAL_FAIL, 1);
	log_warnx("exchange: journal refused the request record: %s",
	          ww_strerror(rc));
	ex->action = METRICS_REFUSE;
	end.local_error = ww_strerror(rc);
	end.refuse_errcode = ex->env->busy_errcode;
	end.refuse_text = "system busy";
	ex_finish(ex, &end);
	return 0;
}

/* ---- decode and judge ---- */

static void
ex_set_refusal(struct exchange *ex, long errcode, const char *text,
               enum metrics_action action)
{
	ex->refuse_errcode = errcode;
	ex->refuse_text = text;
	ex->action = action;
}

/*
 * Where an uploaded file's bytes are in the multipart body.  The store's
 * decoder parsed the parts and gave each file's size and SHA-256; this only
 * looks for a span of that size that starts after a blank line and ends at
 * a delimiter ("\r\n--"), and takes it when its hash matches, so it
 * interprets nothing and cannot pick wrong bytes.  Blank lines are scanned
 * a bounded number of times and only delimited spans are hashed, so a
 * hostile body costs little.
 */
static int
ex_find_part(const uint8_t *body, size_t len, uint64_t size, const uint8_t *sha,
             size_t *off)
{
	const uint8_t *p = body, *end = body + len;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	int hashed = 0;

	for (int tries = 0; tries < EXCHANGE_MAX_PART_TRIES && p < end &&
	                    hashed < EXCHANGE_MAX_PART_HASHES;
	     tries++) {
		p = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (p == NULL)
			break;
		p += 4;
		if ((uint64_t)(end - p) >= size + 4 &&
		    memcmp(p + size, "\r\n--", 4) == 0) {
			hashed++;
			if (EVP_Digest(p, (size_t)size, md, &mdlen,
			               EVP_sha256(), NULL) == 1 &&
			    mdlen == 32 && memcmp(md, sha, 32) == 0) {
				*off = (size_t)(p - body);
				return WW_OK;
			}
		}
		p -= 2; /* the next blank line may overlap this one */
	}
	return WW_ENOTFOUND;
}

/* Journal each uploaded file as a blob (capped); remember the first. */
static int
ex_store_upload(struct exchange *ex, const Ww__Message *msg)
{
	for (size_t i = 0; i < msg->n_attachments; i++) {
		const Ww__Attachment *a = msg->attachments[i];
		unsigned char sha[32];
		size_t off;
		if (a->sha256.len != 32)
			continue;
		if (!ex->has_upload) {
			ex->has_upload = 1;
			memcpy(ex->upload_sha, a->sha256.data, 32);
			ex->upload_size = a->size;
			if ((ex->upload_name = ex_strdup(a->name)) == NULL)
				return WW_ENOMEM;
		}
		if ((ex->env->max_blob_bytes != 0 &&
		     a->size > ex->env->max_blob_bytes) ||
		    ex_find_part(ex->body, ex->body_len, a->size,
		                 a->sha256.data, &off) != WW_OK)
			continue; /* metadata and hash only */
		/* synchronous: the blob is durable before the REQUEST */
		int rc = journal_put_blob(ex->env->journal, ex->body + off,
		                          (size_t)a->size, sha);
		if (rc != WW_OK && rc != WW_ELIMIT)
			log_warnx("exchange: upload blob not journaled: %s",
			          ww_strerror(rc));
	}
	return WW_OK;
}

/*
 * Copies of what the rest of the exchange needs from msg: the message is
 * handed to the journal writer with the REQUEST record and freed there,
 * possibly before the upstream answers, so nothing may borrow from it.
 * One place for the four strings (a NULL field is kept as "").
 */
static int
ex_keep_decoded(struct exchange *ex, const Ww__Message *msg)
{
	const char *src[4] = {msg->endpoint, msg->token_digest, msg->app,
	                      msg->corp_id};
	const char **dst[4] = {&ex->endpoint, &ex->token_digest, &ex->app,
	                       &ex->corp_id};
	struct ex_arena a;
	size_t n = 0;

	for (size_t i = 0; i < 4; i++)
		n += ex_strsize(src[i] != NULL ? src[i] : "");
	ex->decoded =
	    n <= sizeof(ex->decoded_small) ? ex->decoded_small : malloc(n);
	if (ex->decoded == NULL)
		return WW_ENOMEM;
	a.p = ex->decoded;
	for (size_t i = 0; i < 4; i++)
		*dst[i] = ex_arena_str(&a, src[i] != NULL ? src[i] : "");
	return WW_OK;
}

/* Identity from earlier exchanges: app/corp of a token, files of media. */
static int
ex_learn_request(struct exchange *ex, Ww__Message *msg)
{
	struct identity *id = ex->env->identity;
	char corp[IDENTITY_FIELD_MAX], app[IDENTITY_FIELD_MAX];
	unsigned char sha[32];

	if (id != NULL && ex_nonempty(msg->token_digest) != NULL &&
	    ex->cls != WECOM_GETTOKEN &&
	    identity_lookup_token(id, msg->token_digest, corp, app) == WW_OK) {
		if ((ex_nonempty(msg->app) == NULL &&
		     record_set_str(&msg->app, app) != WW_OK) ||
		    (ex_nonempty(msg->corp_id) == NULL &&
		     record_set_str(&msg->corp_id, corp) != WW_OK))
			return WW_ENOMEM;
	}
	for (size_t i = 0; id != NULL && i < msg->n_attachments; i++) {
		Ww__Attachment *a = msg->attachments[i];
		if (a->sha256.len == 0 && ex_nonempty(a->media_id) != NULL &&
		    identity_lookup_media(id, a->media_id, sha) == WW_OK &&
		    record_set_bytes(&a->sha256, sha, 32) != WW_OK)
			return WW_ENOMEM;
	}
	if (ex_keep_decoded(ex, msg) != WW_OK)
		return WW_ENOMEM;
	return ex->cls == WECOM_UPLOAD ? ex_store_upload(ex, msg) : WW_OK;
}

static int
ex_decode(struct exchange *ex, Ww__Message **out)
{
	const struct secret *key = journal_secret(ex->env->journal);
	char err[256];
	int rc;

	err[0] = '\0';
	ex->cls = wecom_classify(ex->path);
	if (ex->cls == WECOM_UPLOAD)
		rc = wecom_decode_upload(
		    key, ex->path, ex->query, ex_header(ex, "Content-Type"),
		    ex->body, ex->body_len, out, err, sizeof(err));
	else
		rc = wecom_decode(key, ex->path, ex->query, ex->body,
		                  ex->body_len, out, err, sizeof(err));
	if (rc == WW_ENOMEM || *out == NULL)
		return WW_ENOMEM;
	if (rc != WW_OK) {
		/* journaled with the reason (message.decode_error) */
		if (ex_nonempty((*out)->decode_error) == NULL &&
		    record_set_str(&(*out)->decode_error,
		                   err[0] != '\0' ? err : ww_strerror(rc)) !=
		        WW_OK)
			return WW_ENOMEM;
		/*
		 * A message that cannot be read cannot be judged.  The
		 * decoder fails only bodies that carry a message: a
		 * message endpoint, an upload, or any body with a msgtype.
		 */
		ex_set_refusal(ex, REFUSE_UNDECODABLE,
		               "gateway cannot decode body", METRICS_REFUSE);
	}
	return WW_OK;
}

static int
ex_redact(struct exchange *ex, const Ww__Message *msg, char **redacted)
{
	int rc = wecom_redact_body(ex->body, ex->body_len, msg, redacted,
	                           msg->n_texts, &ex->fwd_body, &ex->fwd_len);

	if (rc == WW_ENOMEM)
		return rc;
	if (rc != WW_OK) {
		log_warnx("exchange: redaction failed: %s; refused",
		          ww_strerror(rc));
		ex_set_refusal(ex, REFUSE_INTERNAL, "gateway internal failure",
		               METRICS_REFUSE);
	}
	return WW_OK;
}

static int
ex_judge(struct exchange *ex, const Ww__Message *msg, Ww__Verdict **verdict)
{
	char **redacted = NULL;
	int rc;

	*verdict = NULL;
	ex->action = METRICS_ALLOW;
	if (ex->policy == NULL)
		return WW_OK; /* no policy configured: journal only */
	rc =
	    policy_judge(ex->policy, ex->env->scratch, msg, verdict, &redacted);
	if (rc == WW_ENOMEM)
		return rc;
	if (rc != WW_OK || *verdict == NULL) {
		log_warnx("exchange: policy failed: %s; refused",
		          ww_strerror(rc));
		ex_set_refusal(ex, REFUSE_INTERNAL, "gateway internal failure",
		               METRICS_REFUSE);
		return WW_OK;
	}
	switch ((*verdict)->action) {
	case WW__ACTION__BLOCK:
		/* a copy: the verdict goes to the journal, which frees it */
		ex->refuse_text_own =
		    ex_strdup(ex_nonempty((*verdict)->refusal_message) != NULL
		                  ? (*verdict)->refusal_message
		                  : "blocked by compliance policy");
		if (ex->refuse_text_own == NULL)
			rc = WW_ENOMEM;
		ex_set_refusal(ex, ex->env->block_errcode, ex->refuse_text_own,
		               METRICS_BLOCK);
		break;
	case WW__ACTION__REDACT:
		ex->action = METRICS_REDACT;
		rc = ex_redact(ex, msg, redacted);
		break;
	case WW__ACTION__ALERT:
		ex->action = METRICS_ALERT;
		break;
	default:
		break;
	}
	if (redacted != NULL)
		policy_redacted_free(redacted, msg->n_texts);
	return rc;
}

static int
ex_record_client(const struct exchange_client *client, Ww__Record *rec)
{
	Ww__Client *c = malloc(sizeof(*c));

	if (c == NULL)
		return WW_ENOMEM;
	ww__client__init(c);
	rec->client = c;
	c->port = client->port;
	if ((client->address != NULL &&
	     record_set_str(&c->address, client->address) != WW_OK) ||
	    (client->sni != NULL &&
	     record_set_str(&c->sni, client->sni) != WW_OK) ||
	    (client->cert_subject != NULL &&
	     record_set_str(&c->cert_subject, client->cert_subject) != WW_OK) ||
	    (client->proxy_user != NULL &&
	     record_set_str(&c->proxy_user, client->proxy_user) != WW_OK))
		return WW_ENOMEM;
	return WW_OK;
}

/* The REQUEST record.  Takes msg and verdict on every path. */
static int
ex_request_record(struct exchange *ex, const struct exchange_client *client,
                  Ww__Message *msg, Ww__Verdict *verdict, Ww__Record **out)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
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
	rec->request_bytes = ex->body_len;
	if (ex_record_client(client, rec) != WW_OK ||
	    record_set_str(&rec->method, ex->method) != WW_OK ||
	    record_set_str(&rec->path, ex->path) != WW_OK)
		goto out;
	if (ex->query != NULL &&
	    wecom_scrub_query(journal_secret(ex->env->journal), ex->query,
	                      &rec->query) != WW_OK)
		goto out;
	if (ex->fwd_body != NULL &&
	    record_set_bytes(&rec->forwarded_body, ex->fwd_body, ex->fwd_len) !=
	        WW_OK)
		goto out;
	*out = rec;
	rec = NULL;
	rc = WW_OK;
out:
	record_free(rec);
	return rc;
}

/* Decode, judge, build the REQUEST record. */
static int
ex_prepare(struct exchange *ex, const struct exchange_client *client,
           Ww__Record **out)
{
	Ww__Message *msg = NULL;
	Ww__Verdict *verdict = NULL;
	struct timespec t;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t);
	rc = ex_decode(ex, &msg);
	if (rc == WW_OK)
		rc = ex_learn_request(ex, msg);
	if (rc == WW_OK && ex->refuse_errcode == 0)
		rc = ex_judge(ex, msg, &verdict);
	metrics_observe(ex->env->metrics, METRICS_JUDGE, ex_elapsed_us(&t));
	if (rc != WW_OK) {
		message_free(msg);
		if (verdict != NULL)
			protobuf_c_message_free_unpacked(&verdict->base, NULL);
		return rc;
	}
	return ex_request_record(ex, client, msg, verdict, out);
}

int
exchange_start(const struct exchange_env *env,
               const struct exchange_client *client,
               const struct http_request *req, exchange_reply_cb reply_cb,
               void *arg, struct exchange **out)
{
	struct exchange *ex = NULL;
	Ww__Record *rec = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	rc = ex_new(env, client, req, reply_cb, arg, &ex);
	if (rc != WW_OK)
		return rc;
	if (env->journal == NULL || env->upstream == NULL) {
		/* shutting down: nothing can be journaled or forwarded */
		struct ex_end end = {0};
		ex->action = METRICS_REFUSE;
		end.local_error = "gateway shutting down";
		end.refuse_errcode = env->busy_errcode;
		end.refuse_text = "system busy";
		ex_finish(ex, &end);
		return WW_OK;
	}
	rc = ex_prepare(ex, client, &rec);
	if (rc != WW_OK) {
		ex_free(ex);
		return rc;
	}
	/* From here on reply_cb runs exactly once. */
	if (ex_append_request(ex, rec) && out != NULL)
		*out = ex;
	return WW_OK;
}

void
exchange_detach(struct exchange *ex)
{
	if (ex != NULL)
		ex->detached = 1;
}
