/*
 * journal-fill.c: write a journal with known content through
 * store/journal.h, for the wwjournal end-to-end test and export runs.
 *
 *   journal-fill -j DIR [-s SEGMENT] [-c CHECKPOINT_FILE]
 *       the scenario below: several senders, chats and days, a policy
 *       record, allowed, alerted, blocked and redacted messages, an
 *       attachment with a stored blob, a callback, a tunnel, and one
 *       request whose outcome is unknown
 *   journal-fill -j DIR -n N
 *       N requests, each followed by its outcome (2N records), fast
 *
 * The journal's test clock (journal_opts.clock_ns) stamps the times the
 * scenario asks for, starting 2026-11-20T09:00:00Z.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ww.h"
#include "store/journal.h"

#define NS INT64_C(1000000000)
#define BASE_NS (INT64_C(1795165200) * NS) /* 2026-11-20T09:00:00Z */
#define DAY_NS (86400 * NS)
#define WINDOW 1024

struct fill {
	struct journal *j;
	_Atomic int64_t now; /* what the test clock says */
	int64_t step;        /* added after each reading (bulk mode) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	int failed;
};

struct slot {
	struct fill *f;
	uint64_t seq;
};

static int64_t
fill_clock(void *arg)
{
	struct fill *f = arg;

	return atomic_fetch_add(&f->now, f->step);
}

static void
fill_done(int rc, uint64_t seq, void *arg)
{
	struct slot *s = arg;
	struct fill *f = s->f;

	pthread_mutex_lock(&f->mu);
	s->seq = seq;
	if (rc != WW_OK)
		f->failed = rc;
	if (--f->pending == 0)
		pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void
fill_die(const char *what, int rc)
{
	fprintf(stderr, "journal-fill: %s: %s\n", what, ww_strerror(rc));
	exit(1);
}

static void
fill_append(struct fill *f, Ww__Record *rec, struct slot *s)
{
	int rc;

	if (rec == NULL)
		fill_die("record", WW_ENOMEM);
	s->f = f;
	pthread_mutex_lock(&f->mu);
	f->pending++;
	pthread_mutex_unlock(&f->mu);
	rc = journal_append_take(f->j, rec, fill_done, s);
	if (rc != WW_OK)
		fill_die("append", rc);
}

static void
fill_wait(struct fill *f)
{
	pthread_mutex_lock(&f->mu);
	while (f->pending > 0)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	if (f->failed != WW_OK)
		fill_die("commit", f->failed);
}

/* Append rec at time t and wait for it: its sequence number. */
static uint64_t
fill_one(struct fill *f, Ww__Record *rec, int64_t t)
{
	struct slot s = {0};

	atomic_store(&f->now, t);
	fill_append(f, rec, &s);
	fill_wait(f);
	return s.seq;
}

static void
check(int rc)
{
	if (rc != WW_OK)
		fill_die("build", rc);
}

/* Everything the scenario's requests have in common. */
static Ww__Record *
request(const char *endpoint, const char *msgtype, const char *sender,
        const char *text, Ww__Action action, const char *rule)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	Ww__Message *m = message_new();
	char path[128];

	if (rec == NULL || m == NULL)
		fill_die("record", WW_ENOMEM);
	rec->message = m;
	m->direction = WW__DIRECTION__OUTBOUND;
	snprintf(path, sizeof(path), "/cgi-bin/%s", endpoint);
	check(record_set_str(&rec->method, "POST"));
	check(record_set_str(&rec->path, path));
	check(record_set_str(&rec->query, "access_token=hmac:0123456789abcdef"
	                                  "0123456789abcdef"));
	check(record_set_str(&m->endpoint, endpoint));
	check(record_set_str(&m->msgtype, msgtype));
	check(record_set_str(&m->sender, sender));
	check(record_set_str(&m->corp_id, "ww0123456789"));
	m->agent_id = 1000002;
	if (text != NULL)
		check(message_add_text(m, "text.content", text, strlen(text)));
	if ((rec->verdict = malloc(sizeof(*rec->verdict))) == NULL ||
	    (rec->client = malloc(sizeof(*rec->client))) == NULL)
		fill_die("record", WW_ENOMEM);
	ww__verdict__init(rec->verdict);
	ww__client__init(rec->client);
	rec->verdict->action = action;
	check(record_set_str(&rec->verdict->policy_digest, "9f2c"));
	if (rule != NULL)
		check(record_add_str(&rec->verdict->n_rules,
		                     &rec->verdict->rules, rule));
	check(record_set_str(&rec->client->address, "127.0.0.1"));
	rec->client->port = 51000;
	check(record_set_str(&rec->client->sni, "qyapi.weixin.qq.com"));
	if (text != NULL) {
		char body[512];
		snprintf(body, sizeof(body),
		         "{\"msgtype\":\"%s\",\"text\":{\"content\":\"%s\"}}",
		         msgtype, text);
		check(record_set_bytes(&m->body, body, strlen(body)));
		rec->request_bytes = strlen(body);
	}
	return rec;
}

static Ww__Record *
outcome(uint64_t request_seq, int forwarded, const char *msgid)
{
	Ww__Record *rec = record_new(WW__KIND__OUTCOME);

	if (rec == NULL ||
	    (rec->outcome = malloc(sizeof(*rec->outcome))) == NULL)
		fill_die("record", WW_ENOMEM);
	ww__outcome__init(rec->outcome);
	rec->outcome->request_seq = request_seq;
	rec->outcome->forwarded = forwarded;
	if (forwarded) {
		rec->outcome->http_status = 200;
		check(record_set_str(&rec->outcome->errmsg, "ok"));
		check(record_set_str(&rec->outcome->msgid, msgid));
		rec->outcome->latency_us = 23456;
	} else {
		check(record_set_str(&rec->outcome->local_error,
		                     "blocked by policy"));
	}
	return rec;
}

static void
users(Ww__Record *rec, const char *a, const char *b)
{
	Ww__Recipients *r = rec->message->recipients;

	check(record_add_str(&r->n_users, &r->users, a));
	if (b != NULL)
		check(record_add_str(&r->n_users, &r->users, b));
}

static void
chat(Ww__Record *rec, const char *id)
{
	check(record_set_str(&rec->message->recipients->chat_id, id));
}

/* Send rec at t; when msgid is non-NULL, its outcome one second later. */
static uint64_t
exchange(struct fill *f, Ww__Record *rec, int64_t t, int forwarded,
         const char *msgid)
{
	uint64_t seq = fill_one(f, rec, t);

	if (msgid != NULL)
		fill_one(f, outcome(seq, forwarded, msgid), t + NS);
	return seq;
}

static void
scenario_policy(struct fill *f)
{
	static const char text[] = "rules:\n  - id: dlp.card\n    action: "
	                           "block\n";
	Ww__Record *rec = record_new(WW__KIND__POLICY);

	if (rec == NULL || (rec->policy = malloc(sizeof(*rec->policy))) == NULL)
		fill_die("record", WW_ENOMEM);
	ww__policy_info__init(rec->policy);
	check(record_set_str(&rec->policy->digest, "9f2c"));
	check(record_set_str(&rec->policy->file, "/etc/wwgate/policy.yaml"));
	check(record_set_bytes(&rec->policy->text, text, strlen(text)));
	fill_one(f, rec, BASE_NS);
}

/* carol's phone number redacted on the way out. */
static void
scenario_redact(struct fill *f, int64_t t)
{
	static const char fwd[] = "{\"msgtype\":\"text\",\"text\":{\"content\":"
	                          "\"my phone is ***********\"}}";
	Ww__Record *rec =
	    request("message/send", "text", "carol", "my phone is 13800138000",
	            WW__ACTION__REDACT, "dlp.phone");
	Ww__Span *sp = malloc(sizeof(*sp));

	users(rec, "dave", NULL);
	if (sp == NULL || (rec->verdict->spans = malloc(sizeof(sp))) == NULL)
		fill_die("record", WW_ENOMEM);
	ww__span__init(sp);
	sp->start = 12;
	sp->end = 23;
	check(record_set_str(&sp->rule_id, "dlp.phone"));
	rec->verdict->spans[0] = sp;
	rec->verdict->n_spans = 1;
	check(record_set_bytes(&rec->forwarded_body, fwd, strlen(fwd)));
	exchange(f, rec, t, 1, "msg-4");
}

/* dave sends a file: the blob is stored, the record keeps its hash. */
static void
scenario_file(struct fill *f, int64_t t)
{
	static const char data[] = "%PDF-1.4 quarterly figures\n";
	Ww__Record *rec = request("message/send", "file", "dave", NULL,
	                          WW__ACTION__ALLOW, NULL);
	Ww__Message *m = rec->message;
	Ww__Attachment *a = malloc(sizeof(*a));
	unsigned char sha[32];

	users(rec, "alice", NULL);
	check(journal_put_blob(f->j, data, strlen(data), sha));
	if (a == NULL || (m->attachments = malloc(sizeof(a))) == NULL)
		fill_die("record", WW_ENOMEM);
	ww__attachment__init(a);
	check(record_set_str(&a->kind, "file"));
	check(record_set_str(&a->name, "q3-figures.pdf"));
	check(record_set_str(&a->media_id, "3a8asd892asd8asd"));
	a->size = strlen(data);
	check(record_set_bytes(&a->sha256, sha, sizeof(sha)));
	m->attachments[0] = a;
	m->n_attachments = 1;
	exchange(f, rec, t, 1, "msg-5");
}

static void
scenario_inbound(struct fill *f, int64_t t)
{
	static const char text[] = "Hi, a question about the contract";
	Ww__Record *rec = record_new(WW__KIND__CALLBACK);
	Ww__Message *m = message_new();

	if (rec == NULL || m == NULL)
		fill_die("record", WW_ENOMEM);
	rec->message = m;
	m->direction = WW__DIRECTION__INBOUND;
	check(record_set_str(&m->endpoint, "callback"));
	check(record_set_str(&m->msgtype, "text"));
	check(record_set_str(&m->sender, "wmExt001"));
	check(record_add_str(&m->recipients->n_users, &m->recipients->users,
	                     "alice"));
	check(message_add_text(m, "Content", text, strlen(text)));
	fill_one(f, rec, t);
	rec = record_new(WW__KIND__TUNNEL);
	if (rec == NULL || (rec->tunnel = malloc(sizeof(*rec->tunnel))) == NULL)
		fill_die("record", WW_ENOMEM);
	ww__tunnel__init(rec->tunnel);
	check(record_set_str(&rec->tunnel->host, "example.org"));
	check(record_set_str(&rec->tunnel->decision, "refuse"));
	fill_one(f, rec, t + NS);
}

static void
scenario(struct fill *f)
{
	Ww__Record *rec;

	scenario_policy(f);
	rec = request("message/send", "text", "alice",
	              "hello team, lunch at noon?", WW__ACTION__ALLOW, NULL);
	users(rec, "bob", "carol");
	exchange(f, rec, BASE_NS + 60 * NS, 1, "msg-1");
	rec = request("appchat/send", "text", "alice", "deploy tonight",
	              WW__ACTION__ALLOW, NULL);
	chat(rec, "chat-ops");
	exchange(f, rec, BASE_NS + 120 * NS, 1, "msg-2");
	rec = request("appchat/send", "text", "bob", "card 4111 1111 1111 1111",
	              WW__ACTION__BLOCK, "dlp.card");
	chat(rec, "chat-ops");
	exchange(f, rec, BASE_NS + 180 * NS, 0, "");
	scenario_redact(f, BASE_NS + DAY_NS);
	scenario_file(f, BASE_NS + DAY_NS + 3600 * NS);
	/* Full-width "Contract": search must find it as "contract". */
	rec = request(
	    "message/send", "text", "alice",
	    "\xef\xbc\xa3\xef\xbd\x8f\xef\xbd\x8e\xef\xbd\x94\xef\xbd\x92"
	    "\xef\xbd\x81\xef\xbd\x83\xef\xbd\x94 draft attached",
	    WW__ACTION__ALERT, "kw.contract");
	users(rec, "bob", NULL);
	exchange(f, rec, BASE_NS + 2 * DAY_NS, 1, NULL); /* outcome unknown */
	scenario_inbound(f, BASE_NS + 2 * DAY_NS + 60 * NS);
}

/* n requests, each answered, in windows of WINDOW concurrent appends. */
static void
bulk(struct fill *f, uint64_t n)
{
	struct slot *slots = calloc(2 * WINDOW, sizeof(*slots));
	struct slot *ign = slots + WINDOW;
	char text[96], msgid[32];
	uint64_t done = 0;
	size_t w, i;
	Ww__Record *rec;

	if (slots == NULL)
		fill_die("bulk", WW_ENOMEM);
	f->step = 1000000; /* 1 ms per record */
	while (done < n) {
		w = n - done < WINDOW ? (size_t)(n - done) : WINDOW;
		for (i = 0; i < w; i++) {
			snprintf(
			    text, sizeof(text),
			    "bulk message %llu about the quarterly numbers",
			    (unsigned long long)(done + i));
			rec = request("message/send", "text",
			              (done + i) % 3 == 0 ? "alice" : "bob",
			              text, WW__ACTION__ALLOW, NULL);
			users(rec, "carol", NULL);
			fill_append(f, rec, &slots[i]);
		}
		fill_wait(f);
		for (i = 0; i < w; i++) {
			snprintf(msgid, sizeof(msgid), "bulk-%llu",
			         (unsigned long long)(done + i));
			fill_append(f, outcome(slots[i].seq, 1, msgid),
			            &ign[i]);
		}
		fill_wait(f);
		done += w;
	}
	free(slots);
}

int
main(int argc, char **argv)
{
	struct journal_opts o = {.sync = JOURNAL_SYNC_FULL,
	                         .gateway_id = "gw-test"};
	struct fill f = {.now = BASE_NS};
	unsigned long long n = 0;
	char err[256] = "";
	int opt, rc;

	while ((opt = getopt(argc, argv, "j:n:s:c:")) != -1) {
		if (opt == 'j')
			o.path = optarg;
		else if (opt == 'n')
			n = strtoull(optarg, NULL, 10);
		else if (opt == 's')
			o.segment = optarg;
		else if (opt == 'c')
			o.checkpoint_file = optarg;
		else
			return 2;
	}
	if (o.path == NULL) {
		fprintf(stderr,
		        "usage: journal-fill -j DIR [-n N] [-s SEGMENT] "
		        "[-c CHECKPOINT_FILE]\n");
		return 2;
	}
	if (n > 0)
		o.sync = JOURNAL_SYNC_NONE;
	o.clock_ns = fill_clock;
	o.clock_arg = &f;
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.cv, NULL);
	if ((rc = journal_open(&o, &f.j, err, sizeof(err))) != WW_OK) {
		fprintf(stderr, "journal-fill: %s: %s\n", o.path, err);
		return 1;
	}
	if (n > 0)
		bulk(&f, n);
	else
		scenario(&f);
	journal_close(f.j);
	pthread_cond_destroy(&f.cv);
	pthread_mutex_destroy(&f.mu);
	return 0;
}
