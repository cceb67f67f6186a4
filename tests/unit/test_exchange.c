/*
 * test_exchange.c: the whole pipeline with real parts: a real event base,
 * a real LMDB journal in a temp dir, a real compiled policy, and
 * tests/fake-wecom as the upstream over real TLS.  Nothing mocked.
 */
#include "config.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/evp.h>

#include "ww.h"
#include "policy/policy.h"
#include "store/journal.h"
#include "store/record.h"
#include "proxy/accesslog.h"
#include "proxy/exchange.h"
#include "proxy/identity.h"
#include "proxy/metrics.h"
#include "proxy/upstream.h"
#include "tests/unit/pipeline_fixture.h"

static const char x_policy[] =
    "version: 1\n"
    "rules:\n"
    "  - id: no-project-falcon\n"
    "    match: {keywords: [falcon]}\n"
    "    action: block\n"
    "    message: project names may not leave the company\n"
    "  - id: mask-codeword\n"
    "    match: {keywords: [bluebird]}\n"
    "    action: redact\n";

#define X_TOKEN "TOKEN-9f8e7d6c5b4a"

struct x_state {
	char dir[512], ca[600], jdir[600];
	struct fixture_fake fake;
	struct event_base *base;
	struct journal *journal;
	struct policy *policy;
	struct policy_scratch *scratch;
	struct upstream *up;
	struct metrics *metrics;
	struct identity *identity;
	struct accesslog *alog;
	struct exchange_env env;
	int jn;
};

struct x_reply {
	int done;
	int status;
	char *body;
};

static void
x_reply_cb(const struct http_response *resp, void *arg)
{
	struct x_reply *r = arg;

	r->done++;
	r->status = resp->status;
	r->body = calloc(1, resp->body_len + 1);
	if (r->body != NULL && resp->body_len > 0)
		memcpy(r->body, resp->body, resp->body_len);
}

static void
x_open_journal(struct x_state *s)
{
	struct journal_opts o = {0};
	char err[256];

	snprintf(s->jdir, sizeof(s->jdir), "%s/journal%d", s->dir, ++s->jn);
	o.path = s->jdir;
	o.gateway_id = "test-gw";
	o.sync = JOURNAL_SYNC_FULL;
	assert_int_equal(journal_open(&o, &s->journal, err, sizeof(err)),
	                 WW_OK);
	s->env.journal = s->journal;
}

static int
x_group_setup(void **state)
{
	struct x_state *s = calloc(1, sizeof(*s));
	const char *resolve[2] = {NULL, NULL};
	struct upstream_opts uo = {0};
	char err[700];

	assert_non_null(s);
	assert_int_equal(fixture_dir(s->dir, sizeof(s->dir)), 0);
	snprintf(s->ca, sizeof(s->ca), "%s/ca.crt", s->dir);
	assert_int_equal(fixture_fake_start(s->dir, NULL, &s->fake), 0);
	s->base = event_base_new();
	assert_non_null(s->base);
	assert_int_equal(policy_load_buf("test", x_policy, strlen(x_policy),
	                                 &s->policy, NULL),
	                 WW_OK);
	assert_int_equal(policy_scratch_new(s->policy, &s->scratch), WW_OK);
	resolve[0] = s->fake.resolve;
	uo.url = s->fake.url;
	uo.ca_file = s->ca;
	uo.timeout_ms = 5000;
	uo.resolve = resolve;
	assert_int_equal(upstream_new(s->base, &uo, &s->up, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(metrics_new(&s->metrics), WW_OK);
	assert_int_equal(identity_new(16, &s->identity), WW_OK);
	snprintf(err, sizeof(err), "%s/access.log", s->dir);
	assert_int_equal(accesslog_open(err, &s->alog), WW_OK);
	s->env.base = s->base;
	s->env.policy = s->policy;
	s->env.scratch = s->scratch;
	s->env.upstream = s->up;
	s->env.metrics = s->metrics;
	s->env.identity = s->identity;
	s->env.accesslog = s->alog;
	s->env.gateway_id = "test-gw";
	s->env.block_errcode = 985001;
	s->env.busy_errcode = -1;
	*state = s;
	return 0;
}

static int
x_group_teardown(void **state)
{
	struct x_state *s = *state;

	upstream_free(s->up);
	policy_scratch_free(s->scratch);
	policy_unref(s->policy);
	metrics_free(s->metrics);
	identity_free(s->identity);
	accesslog_close(s->alog);
	event_base_free(s->base);
	fixture_fake_stop(&s->fake);
	fixture_rmrf(s->dir);
	free(s);
	return 0;
}

static int
x_setup(void **state)
{
	x_open_journal(*state);
	return 0;
}

static int
x_teardown(void **state)
{
	struct x_state *s = *state;

	journal_close(s->journal); /* idempotent with a test's own close */
	s->journal = NULL;
	return 0;
}

/* Close the journal: LMDB readers may only open it afterwards. */
static void
x_close_journal(struct x_state *s)
{
	int never = 0;

	journal_close(s->journal);
	s->journal = NULL;
	/* OUTCOME callbacks ran on the writer: nothing left to wake */
	fixture_loop(s->base, &never, 50);
}

static void
x_run(struct x_state *s, const char *path, const char *query, const char *body,
      struct x_reply *r)
{
	const struct http_header h[] = {
	    {"Content-Type", "application/json; charset=utf-8"},
	    {"Host", "evil.example"},
	    {"X-Forwarded-Host", "evil.example"}};
	struct exchange_client c = {"127.0.0.1", 40000, "qyapi.weixin.qq.com",
	                            NULL,        NULL,  NULL};
	struct http_request req = {0};
	struct exchange *ex = NULL;

	memset(r, 0, sizeof(*r));
	req.method = "POST";
	req.path = path;
	req.query = query;
	req.headers = h;
	req.n_headers = 3;
	req.body = (const uint8_t *)body;
	req.body_len = strlen(body);
	assert_int_equal(exchange_start(&s->env, &c, &req, x_reply_cb, r, &ex),
	                 WW_OK);
	assert_int_equal(fixture_loop(s->base, &r->done, 15000), 0);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->status, 200);
	assert_non_null(r->body);
}

/* What the journal holds, read back after close. */
struct x_seen {
	size_t requests, outcomes;
	uint64_t req_seq, out_req_seq;
	int action, forwarded, status;
	int64_t errcode;
	char msgid[64], endpoint[64], query[256], decode_error[128];
	size_t fwd_len;
	char fwd[512];
	char refusal[128];
	char out_endpoint[64], out_corp[256]; /* OUTCOME.message */
};

static int
x_visit(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct x_seen *v = arg;

	(void)err;
	if (rec == NULL)
		return 1;
	if (rec->kind == WW__KIND__REQUEST) {
		v->requests++;
		v->req_seq = seq;
		v->action =
		    rec->verdict != NULL ? (int)rec->verdict->action : -1;
		if (rec->verdict != NULL)
			snprintf(v->refusal, sizeof(v->refusal), "%s",
			         rec->verdict->refusal_message);
		snprintf(v->endpoint, sizeof(v->endpoint), "%s",
		         rec->message != NULL ? rec->message->endpoint : "");
		snprintf(v->decode_error, sizeof(v->decode_error), "%s",
		         rec->message != NULL ? rec->message->decode_error
		                              : "");
		snprintf(v->query, sizeof(v->query), "%s", rec->query);
		v->fwd_len = rec->forwarded_body.len;
		snprintf(v->fwd, sizeof(v->fwd), "%.*s",
		         (int)rec->forwarded_body.len,
		         (const char *)rec->forwarded_body.data);
	} else if (rec->kind == WW__KIND__OUTCOME && rec->outcome != NULL) {
		v->outcomes++;
		v->out_req_seq = rec->outcome->request_seq;
		v->forwarded = rec->outcome->forwarded;
		v->status = (int)rec->outcome->http_status;
		v->errcode = rec->outcome->errcode;
		snprintf(v->msgid, sizeof(v->msgid), "%s", rec->outcome->msgid);
		if (rec->message != NULL) {
			snprintf(v->out_endpoint, sizeof(v->out_endpoint), "%s",
			         rec->message->endpoint);
			snprintf(v->out_corp, sizeof(v->out_corp), "%s",
			         rec->message->corp_id);
		}
	}
	return 0;
}

static void
x_read(struct x_state *s, struct x_seen *v)
{
	struct journal_reader *r;
	char err[256];

	memset(v, 0, sizeof(*v));
	x_close_journal(s);
	assert_int_equal(journal_reader_open(s->jdir, &r, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(journal_scan(r, 1, 0, x_visit, v), 0);
	journal_reader_close(r);
}

/* Does any file below dir contain needle (raw bytes)? */
static int
x_grep(const char *dir, const char *needle)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "grep -rqa -- '%s' '%s'", needle, dir);
	return system(cmd) == 0;
}

static const char x_allowed[] =
    "{\"touser\":\"zhangsan|lisi\",\"msgtype\":\"text\",\"agentid\":1000002,"
    "\"text\":{\"content\":\"lunch at noon \xe5\x8d\x88\xe9\xa4\x90\"},"
    "\"safe\":0}";

static void
test_allowed(void **state)
{
	struct x_state *s = *state;
	size_t before = fixture_lines(s->fake.record);
	struct x_reply r;
	struct x_seen v;
	char *rec, alog[600];

	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN, x_allowed,
	      &r);
	assert_non_null(strstr(r.body, "\"errcode\":0"));
	assert_int_equal(fixture_lines(s->fake.record), before + 1);
	/* byte-identical upstream: the fake recorded the very body */
	rec = fixture_slurp(s->fake.record, NULL);
	assert_non_null(rec);
	assert_non_null(strstr(rec, "lunch at noon \xe5\x8d\x88\xe9\xa4\x90"));
	assert_null(strstr(rec, "evil.example"));
	free(rec);
	x_read(s, &v);
	assert_int_equal(v.requests, 1);
	assert_int_equal(v.outcomes, 1);
	assert_int_equal(v.out_req_seq, v.req_seq);
	assert_int_equal(v.action, WW__ACTION__ALLOW);
	assert_string_equal(v.endpoint, "message/send");
	assert_true(v.forwarded);
	assert_int_equal(v.status, 200);
	assert_int_equal(v.errcode, 0);
	assert_true(v.msgid[0] != '\0');
	assert_int_equal(v.fwd_len, 0);
	/* the token never reaches the journal, the access log or metrics */
	assert_null(strstr(v.query, X_TOKEN));
	assert_false(x_grep(s->jdir, X_TOKEN));
	snprintf(alog, sizeof(alog), "%s/access.log", s->dir);
	assert_true(fixture_lines(alog) > 0);
	assert_false(x_grep(alog, X_TOKEN));
	assert_int_equal(
	    metrics_requests(s->metrics, "message/send", METRICS_ALLOW, 200),
	    1);
	free(r.body);
}

static void
test_blocked(void **state)
{
	struct x_state *s = *state;
	size_t before = fixture_lines(s->fake.record);
	struct x_reply r;
	struct x_seen v;
	char hint[64];

	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN,
	      "{\"touser\":\"a\",\"msgtype\":\"text\",\"agentid\":1,"
	      "\"text\":{\"content\":\"the Falcon roadmap\"}}",
	      &r);
	/* never reached upstream */
	assert_int_equal(fixture_lines(s->fake.record), before);
	assert_non_null(strstr(r.body, "\"errcode\":985001"));
	assert_non_null(strstr(r.body, "project names may not leave"));
	assert_null(strstr(r.body, "alcon")); /* no matched text echoed */
	x_read(s, &v);
	assert_int_equal(v.requests, 1);
	assert_int_equal(v.outcomes, 1);
	assert_int_equal(v.action, WW__ACTION__BLOCK);
	assert_false(v.forwarded);
	assert_int_equal(v.errcode, 985001);
	/* the reference in hint: [...] is the REQUEST's sequence number */
	snprintf(hint, sizeof(hint), "hint: [%llu]",
	         (unsigned long long)v.req_seq);
	assert_non_null(strstr(r.body, hint));
	assert_int_equal(
	    metrics_requests(s->metrics, "message/send", METRICS_BLOCK, 200),
	    1);
	free(r.body);
}

static void
test_redacted(void **state)
{
	struct x_state *s = *state;
	size_t before = fixture_lines(s->fake.record);
	struct x_reply r;
	struct x_seen v;
	char *rec, *last;

	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN,
	      "{\"touser\":\"a\",\"msgtype\":\"text\",\"agentid\":1,"
	      "\"text\":{\"content\":\"meet at bluebird gate\"}}",
	      &r);
	assert_non_null(strstr(r.body, "\"errcode\":0"));
	assert_int_equal(fixture_lines(s->fake.record), before + 1);
	rec = fixture_slurp(s->fake.record, NULL);
	assert_non_null(rec);
	last = rec;
	for (char *p = strchr(rec, '\n'); p != NULL && p[1] != '\0';
	     p = strchr(p + 1, '\n'))
		last = p + 1;
	/* upstream got the masked text, the rest intact */
	assert_null(strstr(last, "bluebird"));
	assert_non_null(strstr(last, "meet at "));
	assert_non_null(strstr(last, " gate"));
	assert_non_null(strstr(last, "msgtype"));
	free(rec);
	x_read(s, &v);
	assert_int_equal(v.action, WW__ACTION__REDACT);
	assert_true(v.fwd_len > 0); /* both versions journaled */
	assert_null(strstr(v.fwd, "bluebird"));
	assert_true(v.forwarded);
	free(r.body);
}

static void
test_undecodable(void **state)
{
	struct x_state *s = *state;
	size_t before = fixture_lines(s->fake.record);
	struct x_reply r;
	struct x_seen v;

	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN,
	      "{\"touser\":\"a\",\"msgtype\":\"text\",\"text\":{\"content\":",
	      &r);
	assert_int_equal(fixture_lines(s->fake.record), before);
	assert_non_null(strstr(r.body, "\"errcode\":985005"));
	x_read(s, &v);
	assert_int_equal(v.requests, 1);
	assert_int_equal(v.outcomes, 1);
	assert_true(v.decode_error[0] != '\0');
	assert_false(v.forwarded);
	free(r.body);
}

/* An unknown endpoint whose body carries a msgtype must be judged too. */
static void
test_undecodable_unknown_endpoint(void **state)
{
	struct x_state *s = *state;
	size_t before = fixture_lines(s->fake.record);
	size_t cap = 16 * 6000, o = 0;
	char *body = malloc(cap);
	struct x_reply r;

	assert_non_null(body);
	/* more text parts than the decoder keeps: it cannot judge them all */
	o += (size_t)snprintf(body + o, cap - o, "{\"msgtype\":\"text\"");
	for (int i = 0; i < 5000; i++)
		o += (size_t)snprintf(body + o, cap - o, ",\"k%d\":\"t\"", i);
	snprintf(body + o, cap - o, "}");
	x_run(s, "/cgi-bin/newthing/send", "access_token=" X_TOKEN, body, &r);
	assert_int_equal(fixture_lines(s->fake.record), before);
	assert_non_null(strstr(r.body, "\"errcode\":985005"));
	free(r.body);
	free(body);
}

/* gettoken teaches token -> corp; the next call names the app. */
static void
test_gettoken_identity(void **state)
{
	struct x_state *s = *state;
	struct x_reply r;
	char *tok = NULL, q[600];
	const char *p, *e;

	x_run(s, "/cgi-bin/gettoken",
	      "corpid=ww0123456789abcdef&corpsecret=SECRET-s3cr3t-value", "",
	      &r);
	p = strstr(r.body, "\"access_token\":\"");
	assert_non_null(p); /* the client gets the real token */
	p += strlen("\"access_token\":\"");
	e = strchr(p, '"');
	assert_non_null(e);
	tok = strndup(p, (size_t)(e - p));
	free(r.body);
	snprintf(q, sizeof(q), "access_token=%s", tok);
	x_run(s, "/cgi-bin/message/send", q, x_allowed, &r);
	free(r.body);
	x_close_journal(s);
	/* neither the secret nor the minted token is in the journal */
	assert_false(x_grep(s->jdir, "SECRET-s3cr3t-value"));
	assert_false(x_grep(s->jdir, tok));
	/* the corp id learned from gettoken is (in clear, not a secret) */
	assert_true(x_grep(s->jdir, "ww0123456789abcdef"));
	free(tok);
}

/*
 * What the exchange keeps from the decoded message (endpoint, token
 * digest, app, corp id) outlives the message, which the journal frees:
 * short ones sit inside the exchange, longer ones in a block of their
 * own.  Both reach the OUTCOME intact.
 */
static void
test_decoded_copies(void **state)
{
	struct x_state *s = *state;
	struct x_reply r;
	struct x_seen v;
	char q[400], corp[161];

	memset(corp, 'c', sizeof(corp) - 1);
	corp[sizeof(corp) - 1] = '\0';
	memcpy(corp, "ww", 2);
	snprintf(q, sizeof(q), "corpid=%s&corpsecret=S", corp);
	x_run(s, "/cgi-bin/gettoken", q, "", &r);
	assert_int_equal(r.status, 200);
	free(r.body);
	x_read(s, &v);
	assert_int_equal(v.outcomes, 1);
	assert_string_equal(v.out_endpoint, v.endpoint);
	assert_non_null(strstr(v.out_endpoint, "gettoken"));
	assert_string_equal(v.out_corp, corp);
}

/* The size of the largest file below the journal (its LMDB data file). */
static off_t x_biggest;
static int
x_size_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)path;
	(void)f;
	if (flag == FTW_F && st->st_size > x_biggest)
		x_biggest = st->st_size;
	return 0;
}

static char *
x_big_message(size_t n)
{
	static const char head[] =
	    "{\"touser\":\"a\",\"msgtype\":\"text\",\"agentid\":1,"
	    "\"text\":{\"content\":\"big\"},\"pad\":\"";
	char *big = malloc(n + 3);

	assert_non_null(big);
	memcpy(big, head, sizeof(head) - 1);
	memset(big + sizeof(head) - 1, 'y', n - (sizeof(head) - 1));
	strcpy(big + n, "\"}");
	return big;
}

/*
 * The journal cannot grow (RLIMIT_FSIZE at its current size, as a full
 * disk would do): once its preallocated room is used up, requests are
 * refused with the retryable busy shape and not forwarded; when room comes
 * back, traffic flows again without a restart.
 */
static void
test_journal_failure(void **state)
{
	struct x_state *s = *state;
	size_t before = fixture_lines(s->fake.record), passed = 0;
	struct rlimit old, lim;
	struct x_reply r;
	char *big = x_big_message(512 * 1024);
	int refused = 0;

	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN, x_allowed,
	      &r); /* warm: the segment exists */
	free(r.body);
	x_biggest = 0;
	assert_int_equal(nftw(s->jdir, x_size_cb, 8, FTW_PHYS), 0);
	assert_true(x_biggest > 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)x_biggest;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 64 && !refused; i++) {
		x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN, big,
		      &r);
		if (strcmp(r.body,
		           "{\"errcode\":-1,\"errmsg\":\"system busy\"}") == 0)
			refused = 1;
		else
			passed++;
		free(r.body);
	}
	setrlimit(RLIMIT_FSIZE, &old);
	assert_true(refused);
	/* everything forwarded was journaled first; the refused one never */
	assert_int_equal(fixture_lines(s->fake.record), before + 1 + passed);
	assert_true(metrics_get(s->metrics, METRICS_JOURNAL_FAIL) > 0);
	/* room is back: the same journal takes traffic again */
	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN, x_allowed,
	      &r);
	assert_non_null(strstr(r.body, "\"errcode\":0"));
	assert_int_equal(fixture_lines(s->fake.record), before + 2 + passed);
	free(r.body);
	free(big);
	signal(SIGXFSZ, SIG_DFL);
}

/*
 * A journal slower than journal_timeout_ms: the client is refused at the
 * deadline and the request is never forwarded, even though its record
 * commits later (its OUTCOME says so).  Whether a 1 MiB fsync'ed commit
 * takes longer than 1 ms is up to the disk: when it does not, the test
 * skips rather than pass without exercising the path.
 */
static void
test_journal_deadline(void **state)
{
	struct x_state *s = *state;
	size_t before = fixture_lines(s->fake.record);
	char *big = x_big_message(1024 * 1024);
	struct x_reply r;
	struct x_seen v;
	int busy, never = 0;

	s->env.journal_timeout_ms = 1;
	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN, big, &r);
	s->env.journal_timeout_ms = 0;
	busy =
	    strcmp(r.body, "{\"errcode\":-1,\"errmsg\":\"system busy\"}") == 0;
	free(r.body);
	free(big);
	/* let the late commit arrive and the exchange end */
	fixture_loop(s->base, &never, 500);
	if (!busy)
		skip();
	assert_int_equal(fixture_lines(s->fake.record), before);
	x_read(s, &v);
	assert_int_equal(v.requests, 1);
	assert_int_equal(v.outcomes, 1);
	assert_false(v.forwarded);
	assert_int_equal(v.errcode, -1);
}

static void
x_run_upload(struct x_state *s, const uint8_t *body, size_t len,
             struct x_reply *r)
{
	const struct http_header h[] = {
	    {"Content-Type", "multipart/form-data; boundary=XyZBoundary42"}};
	struct exchange_client c = {"127.0.0.1", 40001, NULL, NULL, NULL, NULL};
	struct http_request req = {0};

	memset(r, 0, sizeof(*r));
	req.method = "POST";
	req.path = "/cgi-bin/media/upload";
	req.query = "access_token=" X_TOKEN "&type=file";
	req.headers = h;
	req.n_headers = 1;
	req.body = body;
	req.body_len = len;
	assert_int_equal(exchange_start(&s->env, &c, &req, x_reply_cb, r, NULL),
	                 WW_OK);
	assert_int_equal(fixture_loop(s->base, &r->done, 15000), 0);
	assert_int_equal(r->status, 200);
}

struct x_att {
	size_t n; /* attachments carrying a SHA-256 */
	unsigned char sha[32];
};

static int
x_visit_att(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct x_att *a = arg;

	(void)seq;
	(void)err;
	if (rec == NULL || rec->kind != WW__KIND__REQUEST ||
	    rec->message == NULL ||
	    strcmp(rec->message->endpoint, "message/send") != 0)
		return 0;
	for (size_t i = 0; i < rec->message->n_attachments; i++)
		if (rec->message->attachments[i]->sha256.len == 32) {
			a->n++;
			memcpy(a->sha,
			       rec->message->attachments[i]->sha256.data, 32);
		}
	return 0;
}

/*
 * media/upload: the file's bytes are journaled as a blob, the media_id
 * of the answer is mapped to it, and a later message sending that
 * media_id links to the very same bytes.
 */
static void
test_upload_then_send(void **state)
{
	struct x_state *s = *state;
	static const uint8_t file[] = "PDF-ish \x00\x01\x02 bytes\r\n\r\n"
	                              "with a blank line inside\xff";
	static const char head[] =
	    "--XyZBoundary42\r\n"
	    "Content-Disposition: form-data; name=\"media\"; "
	    "filename=\"report.pdf\"; filelength=60\r\n"
	    "Content-Type: application/octet-stream\r\n\r\n";
	static const char tail[] = "\r\n--XyZBoundary42--\r\n";
	uint8_t body[1024], *blob = NULL, want[32];
	size_t len = 0, blen = 0;
	unsigned int mdlen;
	struct journal_reader *jr;
	struct x_reply r;
	struct x_att att = {0};
	char *media = NULL, msg[512], err[256];
	const char *p, *e;

	memcpy(body, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	memcpy(body + len, file, sizeof(file) - 1);
	len += sizeof(file) - 1;
	memcpy(body + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	x_run_upload(s, body, len, &r);
	p = strstr(r.body, "\"media_id\":\"");
	assert_non_null(p);
	p += strlen("\"media_id\":\"");
	e = strchr(p, '"');
	assert_non_null(e);
	media = strndup(p, (size_t)(e - p));
	free(r.body);
	snprintf(msg, sizeof(msg),
	         "{\"touser\":\"a\",\"msgtype\":\"file\",\"agentid\":1,"
	         "\"file\":{\"media_id\":\"%s\"}}",
	         media);
	x_run(s, "/cgi-bin/message/send", "access_token=" X_TOKEN, msg, &r);
	free(r.body);
	x_close_journal(s);
	assert_int_equal(EVP_Digest(file, sizeof(file) - 1, want, &mdlen,
	                            EVP_sha256(), NULL),
	                 1);
	assert_int_equal(journal_reader_open(s->jdir, &jr, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(journal_scan(jr, 1, 0, x_visit_att, &att), 0);
	assert_int_equal(att.n, 1); /* the send links to the upload */
	assert_memory_equal(att.sha, want, 32);
	assert_int_equal(journal_get_blob(jr, want, &blob, &blen), WW_OK);
	assert_int_equal(blen, sizeof(file) - 1);
	assert_memory_equal(blob, file, blen); /* byte-identical */
	free(blob);
	journal_reader_close(jr);
	free(media);
}

/* A detached exchange still finishes and journals its outcome. */
static void
test_detached(void **state)
{
	struct x_state *s = *state;
	struct exchange_client c = {"127.0.0.1", 1, NULL, NULL, NULL, NULL};
	struct http_request req = {0};
	struct exchange *ex = NULL;
	struct x_reply r = {0};
	struct x_seen v;
	int never = 0;

	req.method = "POST";
	req.path = "/cgi-bin/message/send";
	req.query = "access_token=" X_TOKEN;
	req.body = (const uint8_t *)x_allowed;
	req.body_len = strlen(x_allowed);
	assert_int_equal(exchange_start(&s->env, &c, &req, x_reply_cb, &r, &ex),
	                 WW_OK);
	assert_non_null(ex);
	exchange_detach(ex);
	fixture_loop(s->base, &never, 1500);
	assert_int_equal(r.done, 0);
	assert_int_equal(upstream_pending(s->up), 0);
	x_read(s, &v);
	assert_int_equal(v.requests, 1);
	assert_int_equal(v.outcomes, 1);
	assert_true(v.forwarded);
}

/*
 * Shutdown (exchange.h): an exchange woken after the upstream is gone
 * refuses instead of forwarding; one woken after the journal is gone
 * ends without touching it (ASan would catch a use after free).
 */
static void
test_shutdown(void **state)
{
	struct x_state *s = *state;
	struct exchange_client c = {"127.0.0.1", 2, NULL, NULL, NULL, NULL};
	struct http_request req = {0};
	struct exchange *ex = NULL;
	struct x_reply r = {0};
	size_t before = fixture_lines(s->fake.record);
	struct x_seen v;
	int never = 0;

	req.method = "POST";
	req.path = "/cgi-bin/message/send";
	req.query = "access_token=" X_TOKEN;
	req.body = (const uint8_t *)x_allowed;
	req.body_len = strlen(x_allowed);
	/* step 2 while the REQUEST commits */
	assert_int_equal(exchange_start(&s->env, &c, &req, x_reply_cb, &r, &ex),
	                 WW_OK);
	s->env.upstream = NULL;
	assert_int_equal(fixture_loop(s->base, &r.done, 15000), 0);
	assert_non_null(strstr(r.body, "\"errcode\":-1"));
	free(r.body);
	/* and new exchanges are refused at once */
	memset(&r, 0, sizeof(r));
	assert_int_equal(exchange_start(&s->env, &c, &req, x_reply_cb, &r, &ex),
	                 WW_OK);
	assert_int_equal(r.done, 1);
	assert_null(ex);
	free(r.body);
	s->env.upstream = s->up;
	assert_int_equal(fixture_lines(s->fake.record), before);
	/* steps 3-4 with a detached exchange still waiting for its commit */
	memset(&r, 0, sizeof(r));
	assert_int_equal(exchange_start(&s->env, &c, &req, x_reply_cb, &r, &ex),
	                 WW_OK);
	assert_non_null(ex);
	exchange_detach(ex);
	s->env.upstream = NULL;
	s->env.journal = NULL;
	journal_close(s->journal);
	s->journal = NULL;
	fixture_loop(s->base, &never, 200);
	s->env.upstream = s->up;
	assert_int_equal(r.done, 0);
	assert_int_equal(fixture_lines(s->fake.record), before);
	/* the first REQUEST has its OUTCOME: not forwarded */
	memset(&v, 0, sizeof(v));
	{
		struct journal_reader *jr;
		char err[256];
		assert_int_equal(
		    journal_reader_open(s->jdir, &jr, err, sizeof(err)), WW_OK);
		assert_int_equal(journal_scan(jr, 1, 0, x_visit, &v), 0);
		journal_reader_close(jr);
	}
	assert_int_equal(v.requests, 2);
	assert_int_equal(v.outcomes, 1);
	assert_false(v.forwarded);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_allowed, x_setup, x_teardown),
	    cmocka_unit_test_setup_teardown(test_blocked, x_setup, x_teardown),
	    cmocka_unit_test_setup_teardown(test_redacted, x_setup, x_teardown),
	    cmocka_unit_test_setup_teardown(test_undecodable_unknown_endpoint,
	                                    x_setup, x_teardown),
	    cmocka_unit_test_setup_teardown(test_undecodable, x_setup,
	                                    x_teardown),
	    cmocka_unit_test_setup_teardown(test_gettoken_identity, x_setup,
	                                    x_teardown),
	    cmocka_unit_test_setup_teardown(test_journal_failure, x_setup,
	                                    x_teardown),
	    cmocka_unit_test_setup_teardown(test_decoded_copies, x_setup,
	                                    x_teardown),
	    cmocka_unit_test_setup_teardown(test_journal_deadline, x_setup,
	                                    x_teardown),
	    cmocka_unit_test_setup_teardown(test_upload_then_send, x_setup,
	                                    x_teardown),
	    cmocka_unit_test_setup_teardown(test_detached, x_setup, x_teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown, x_setup, x_teardown),
	};
	int rc;

	evthread_use_pthreads();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, x_group_setup, x_group_teardown);
	curl_global_cleanup();
	libevent_global_shutdown();
	return rc;
}
