/*
 * test_journal.c: the LMDB journal (store/journal.h) on a real LMDB in a
 * temporary directory: round trips, group commit, restarts, segments, map
 * growth, secrets, tampering, malformed values and key-file modes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "ww.h"
#include "log.h"
#include "store/chain.h"
#include "store/journal.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/signkey.h"
#include "store/wecom.h"

/* ---- fixtures ---------------------------------------------------------- */

struct fixture {
	char root[64];  /* mkdtemp */
	char dir[128];  /* root/j: the journal */
	char ckpt[128]; /* root/checkpoints.txt */
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/test_journal.XXXXXX");
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/j", f->root);
	snprintf(f->ckpt, sizeof(f->ckpt), "%s/checkpoints.txt", f->root);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
opts_init(struct journal_opts *o, const struct fixture *f)
{
	memset(o, 0, sizeof(*o));
	o->path = f->dir;
	o->gateway_id = "gw-test";
	o->segment = "none";
}

static struct journal *
open_journal(const struct journal_opts *o)
{
	struct journal *j = NULL;
	char err[256] = "";
	int rc = journal_open(o, &j, err, sizeof(err));

	if (rc != WW_OK)
		fail_msg("journal_open: %s (%s)", ww_strerror(rc), err);
	return j;
}

static struct journal_reader *
open_reader(const struct fixture *f)
{
	struct journal_reader *r = NULL;
	char err[256] = "";
	int rc = journal_reader_open(f->dir, &r, err, sizeof(err));

	if (rc != WW_OK)
		fail_msg("journal_reader_open: %s (%s)", ww_strerror(rc), err);
	return r;
}

/* ---- waiting for one append -------------------------------------------- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int rc;
	uint64_t seq;
};

static void
waiter_cb(int rc, uint64_t seq, void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->calls++;
	w->rc = rc;
	w->seq = seq;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Append rec, wait until it is durable, return its seq (or 0 and *rc). */
static uint64_t
append_rc(struct journal *j, Ww__Record *rec, int *rcp)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                   0, 0, 0};
	int rc = journal_append_take(j, rec, waiter_cb, &w);

	if (rc != WW_OK) {
		*rcp = rc;
		return 0;
	}
	pthread_mutex_lock(&w.mu);
	while (w.calls == 0)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	assert_int_equal(w.calls, 1);
	*rcp = w.rc;
	return w.seq;
}

static uint64_t
append(struct journal *j, Ww__Record *rec)
{
	int rc;
	uint64_t seq = append_rc(j, rec, &rc);

	assert_int_equal(rc, WW_OK);
	assert_true(seq > 0);
	return seq;
}

/* ---- records of every kind ---------------------------------------------- */

static void
set(char **field, const char *s)
{
	assert_int_equal(record_set_str(field, s), WW_OK);
}

static Ww__Message *
make_message(const char *sender, const char *text, Ww__Direction dir)
{
	Ww__Message *m = message_new();
	static const char body[] =
	    "{\"touser\":\"u1|u2\",\"msgtype\":\"text\"}";

	assert_non_null(m);
	set(&m->endpoint, "message/send");
	m->direction = dir;
	set(&m->corp_id, "ww-corp");
	m->agent_id = 1000002;
	set(&m->sender, sender);
	set(&m->msgtype, "text");
	assert_int_equal(record_add_str(&m->recipients->n_users,
	                                &m->recipients->users, "u1"),
	                 WW_OK);
	assert_int_equal(record_add_str(&m->recipients->n_users,
	                                &m->recipients->users, "u2"),
	                 WW_OK);
	assert_int_equal(record_add_str(&m->recipients->n_parties,
	                                &m->recipients->parties, "7"),
	                 WW_OK);
	set(&m->recipients->chat_id, "chat-1");
	assert_int_equal(
	    message_add_text(m, "text.content", text, strlen(text)), WW_OK);
	assert_int_equal(record_set_bytes(&m->body, body, sizeof(body) - 1),
	                 WW_OK);
	return m;
}

static Ww__Record *
make_request(const char *sender, const char *text)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	Ww__Client *c = malloc(sizeof(*c));
	Ww__Verdict *v = malloc(sizeof(*v));

	assert_non_null(rec);
	assert_non_null(c);
	assert_non_null(v);
	ww__client__init(c);
	ww__verdict__init(v);
	set(&c->address, "127.0.0.1");
	c->port = 40000;
	set(&c->sni, "qyapi.weixin.qq.com");
	rec->client = c;
	v->action = WW__ACTION__REDACT;
	assert_int_equal(record_add_str(&v->n_rules, &v->rules, "card-number"),
	                 WW_OK);
	set(&v->policy_digest, "abc123");
	rec->verdict = v;
	set(&rec->method, "POST");
	set(&rec->path, "/cgi-bin/message/send");
	set(&rec->query, "access_token=hmac:00112233445566778899aabbccddeeff");
	rec->message = make_message(sender, text, WW__DIRECTION__OUTBOUND);
	assert_int_equal(record_set_bytes(&rec->forwarded_body, "{}", 2),
	                 WW_OK);
	rec->request_bytes = 123;
	return rec;
}

static Ww__Record *
make_outcome(uint64_t request_seq)
{
	Ww__Record *rec = record_new(WW__KIND__OUTCOME);
	Ww__Outcome *o = malloc(sizeof(*o));

	assert_non_null(rec);
	assert_non_null(o);
	ww__outcome__init(o);
	o->forwarded = 1;
	o->http_status = 200;
	o->errcode = 0;
	set(&o->errmsg, "ok");
	set(&o->msgid, "msg-1");
	o->latency_us = 1500;
	o->request_seq = request_seq;
	rec->outcome = o;
	return rec;
}

static Ww__Record *
make_tunnel(void)
{
	Ww__Record *rec = record_new(WW__KIND__TUNNEL);
	Ww__Tunnel *t = malloc(sizeof(*t));

	assert_non_null(rec);
	assert_non_null(t);
	ww__tunnel__init(t);
	set(&t->host, "example.com");
	set(&t->original_dst, "93.184.216.34:443");
	t->bytes_up = 10;
	t->bytes_down = 20;
	set(&t->decision, "refuse");
	rec->tunnel = t;
	return rec;
}

static Ww__Record *
make_callback(void)
{
	Ww__Record *rec = record_new(WW__KIND__CALLBACK);

	assert_non_null(rec);
	rec->message =
	    make_message("zhangsan", "inbound hello", WW__DIRECTION__INBOUND);
	return rec;
}

static Ww__Record *
make_policy(void)
{
	Ww__Record *rec = record_new(WW__KIND__POLICY);
	Ww__PolicyInfo *p = malloc(sizeof(*p));

	assert_non_null(rec);
	assert_non_null(p);
	ww__policy_info__init(p);
	set(&p->digest, "deadbeef");
	set(&p->file, "/etc/wwgate/policy.yaml");
	assert_int_equal(record_set_bytes(&p->text, "rules: []\n", 10), WW_OK);
	rec->policy = p;
	return rec;
}

/* Clear what the writer fills in so a stored record compares to a built one. */
static void
strip_writer_fields(Ww__Record *rec)
{
	rec->seq = 0;
	rec->time_ns = 0;
	rec->mono_ns = 0;
	set(&rec->gateway_id, "");
	free(rec->prev_hash.data);
	free(rec->hash.data);
	rec->prev_hash.data = rec->hash.data = NULL;
	rec->prev_hash.len = rec->hash.len = 0;
}

static void
assert_same_record(Ww__Record *got, Ww__Record *want)
{
	uint8_t *a, *b;
	size_t alen, blen;

	strip_writer_fields(got);
	assert_int_equal(record_pack(got, &a, &alen), WW_OK);
	assert_int_equal(record_pack(want, &b, &blen), WW_OK);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

static Ww__Record *
get_ok(struct journal_reader *r, uint64_t seq)
{
	Ww__Record *rec = NULL;
	char err[256] = "";
	int rc = journal_get(r, seq, &rec, err, sizeof(err));

	if (rc != WW_OK)
		fail_msg("journal_get(%llu): %s (%s)", (unsigned long long)seq,
		         ww_strerror(rc), err);
	return rec;
}

static void
verify_ok(const struct fixture *f, const char *ckpt,
          struct journal_verify_result *res)
{
	struct journal_reader *r = open_reader(f);
	int rc = journal_verify(r, ckpt, NULL, NULL, res);

	if (rc != WW_OK)
		fail_msg("verify: %s at %llu: %s", ww_strerror(rc),
		         (unsigned long long)res->bad_seq, res->reason);
	journal_reader_close(r);
}

struct found {
	uint64_t seqs[8];
	int n;
};

static int
found_cb(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct found *fd = arg;

	assert_non_null(rec);
	assert_null(err);
	if (fd->n < 8)
		fd->seqs[fd->n++] = seq;
	return 0;
}

/* The index lists exactly a and b (0: absent), in order. */
static void
assert_found(struct journal_reader *r, enum journal_index idx, const char *key,
             uint64_t a, uint64_t b)
{
	struct found fd = {{0}, 0};

	assert_int_equal(journal_find(r, idx, key, found_cb, &fd), 0);
	assert_int_equal(fd.n, (a != 0) + (b != 0));
	if (a != 0)
		assert_int_equal(fd.seqs[0], a);
	if (b != 0)
		assert_int_equal(fd.seqs[1], b);
}

/* ---- round trip ---------------------------------------------------------- */

typedef Ww__Record *(*maker)(void);

static Ww__Record *
make_request0(void)
{
	return make_request("lisi", "hello 4111 1111 1111 1111");
}

static Ww__Record *
make_outcome1(void)
{
	return make_outcome(1);
}

static void
test_round_trip_every_kind(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_reader *r;
	static const maker makers[] = {make_request0, make_outcome1,
	                               make_tunnel, make_callback, make_policy};
	uint64_t seqs[WW_NELEM(makers)], head = 0;
	Ww__Record *got, *want;
	struct journal_verify_result res;
	char err[256];

	opts_init(&o, f);
	j = open_journal(&o);
	assert_true(journal_healthy(j));
	for (size_t i = 0; i < WW_NELEM(makers); i++)
		seqs[i] = append(j, makers[i]());
	journal_close(j); /* writes a closing CHECKPOINT */

	r = open_reader(f);
	for (size_t i = 0; i < WW_NELEM(makers); i++) {
		assert_int_equal(seqs[i], i + 1);
		got = get_ok(r, seqs[i]);
		assert_int_equal(got->seq, seqs[i]);
		assert_string_equal(got->gateway_id, "gw-test");
		assert_true(got->time_ns > 0);
		assert_int_equal(got->hash.len, RECORD_HASH_LEN);
		assert_int_equal(got->prev_hash.len, RECORD_HASH_LEN);
		want = makers[i]();
		assert_same_record(got, want);
		record_free(got);
		record_free(want);
	}
	assert_int_equal(journal_head(r, &head), WW_OK);
	assert_int_equal(head, WW_NELEM(makers) + 1);
	got = get_ok(r, head);
	assert_int_equal(got->kind, WW__KIND__CHECKPOINT);
	assert_non_null(got->checkpoint);
	assert_int_equal(got->checkpoint->head_seq, head - 1);
	record_free(got);

	assert_int_equal(journal_get_outcome(r, 1, &got, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(got->kind, WW__KIND__OUTCOME);
	assert_int_equal(got->outcome->request_seq, 1);
	record_free(got);
	assert_int_equal(journal_get_outcome(r, 3, &got, err, sizeof(err)),
	                 WW_ENOTFOUND);
	assert_null(got);
	assert_int_equal(journal_get(r, head + 1, &got, err, sizeof(err)),
	                 WW_ENOTFOUND);
	assert_found(r, JOURNAL_INDEX_SENDER, "lisi", 1, 0);
	assert_found(r, JOURNAL_INDEX_SENDER, "zhangsan", 4, 0);
	assert_found(r, JOURNAL_INDEX_RECIPIENT, "u2", 1, 4);
	assert_found(r, JOURNAL_INDEX_RECIPIENT, "party:7", 1, 4);
	assert_found(r, JOURNAL_INDEX_CHAT, "chat-1", 1, 4);
	assert_found(r, JOURNAL_INDEX_CHAT, "nobody", 0, 0);
	uint64_t at = 0;
	assert_int_equal(journal_seq_at_time(r, 0, &at), WW_OK);
	assert_int_equal(at, 1);
	assert_int_equal(journal_seq_at_time(r, INT64_MAX, &at), WW_ENOTFOUND);
	journal_reader_close(r);

	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, head);
	assert_int_equal(res.checkpoints, 1);
	assert_int_equal(res.outcome_unknown, 0);
}

/* ---- group commit ----------------------------------------------------------
 */

#define GC_THREADS 32
#define GC_PER_THREAD 250

struct slot {
	atomic_int calls;
	int rc;
	uint64_t seq;
};

struct gc_arg {
	struct journal *j;
	struct slot *slots;
};

static void
slot_cb(int rc, uint64_t seq, void *arg)
{
	struct slot *s = arg;

	s->rc = rc;
	s->seq = seq;
	atomic_fetch_add(&s->calls, 1);
}

static void *
gc_thread(void *p)
{
	struct gc_arg *a = p;

	for (int i = 0; i < GC_PER_THREAD; i++) {
		Ww__Record *rec = i % 2 ? make_outcome(1) : make_tunnel();
		if (journal_append_take(a->j, rec, slot_cb, &a->slots[i]) !=
		    WW_OK)
			a->slots[i].rc = -100;
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
test_group_commit_32_threads(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_reader *r;
	struct slot *slots = calloc(GC_THREADS * GC_PER_THREAD, sizeof(*slots));
	uint64_t *seqs = calloc(GC_THREADS * GC_PER_THREAD, sizeof(*seqs));
	struct gc_arg args[GC_THREADS];
	pthread_t th[GC_THREADS];
	size_t n = GC_THREADS * GC_PER_THREAD, k = 0;
	uint64_t head;
	struct journal_verify_result res;

	assert_non_null(slots);
	assert_non_null(seqs);
	opts_init(&o, f);
	o.checkpoint_every = 1000;
	j = open_journal(&o);
	for (int t = 0; t < GC_THREADS; t++) {
		args[t].j = j;
		args[t].slots = slots + t * GC_PER_THREAD;
		assert_int_equal(
		    pthread_create(&th[t], NULL, gc_thread, &args[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		pthread_join(th[t], NULL);
	journal_close(j); /* every callback has run when close returns */

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(atomic_load(&slots[i].calls), 1);
		assert_int_equal(slots[i].rc, WW_OK);
		seqs[i] = slots[i].seq;
	}
	qsort(seqs, n, sizeof(*seqs), cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_true(seqs[i] > seqs[i - 1]); /* unique */

	/* Dense: every seq not handed to a caller is a checkpoint. */
	r = open_reader(f);
	assert_int_equal(journal_head(r, &head), WW_OK);
	assert_true(head >= n);
	for (uint64_t s = 1; s <= head; s++) {
		if (k < n && seqs[k] == s) {
			k++;
			continue;
		}
		Ww__Record *rec = get_ok(r, s);
		assert_int_equal(rec->kind, WW__KIND__CHECKPOINT);
		record_free(rec);
	}
	assert_int_equal(k, n);
	journal_reader_close(r);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, head);
	assert_int_equal(res.checkpoints, n / 1000); /* 8000 % 1000 == 0 */
	free(slots);
	free(seqs);
}

/* Callbacks run so far among slots[0..n). */
static size_t
slots_called(struct slot *slots, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += atomic_load(&slots[i].calls) > 0;
	return k;
}

/* Poll (at most ~30 s) until every one of slots[0..n) has been called. */
static size_t
slots_wait(struct slot *slots, size_t n)
{
	struct timespec pause = {0, 10000000};
	size_t k = 0;

	for (int i = 0; i < 3000 && (k = slots_called(slots, n)) < n; i++)
		nanosleep(&pause, NULL);
	return k;
}

#define DELAY_FULL 4096 /* JOURNAL_BATCH_MAX: a full batch goes at once */

/*
 * commit_delay_us: a record reaching an idle writer is committed; a full
 * batch does not wait for the delay; close does not wait for it either.
 */
static void
test_commit_delay(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_verify_result res;
	size_t n = 2 * DELAY_FULL;
	struct slot *slots = calloc(n, sizeof(*slots));

	assert_non_null(slots);
	opts_init(&o, f);
	o.commit_delay_us = 2000;
	j = open_journal(&o);
	assert_int_equal(
	    journal_append_take(j, make_request("a", "x"), slot_cb, &slots[0]),
	    WW_OK);
	assert_int_equal(slots_wait(slots, 1), 1);
	assert_int_equal(slots[0].rc, WW_OK);
	journal_close(j);

	/*
	 * An hour: the first batch goes at once (idle writer), the records
	 * queued meanwhile only when 4096 wait (at least one full batch of
	 * the rest), the remainder only on close.
	 */
	memset(slots, 0, n * sizeof(*slots));
	o.commit_delay_us = 3600u * 1000000u;
	j = open_journal(&o);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(journal_append_take(
		                     j, i % 2 ? make_outcome(1) : make_tunnel(),
		                     slot_cb, &slots[i]),
		                 WW_OK);
	assert_true(slots_wait(slots, DELAY_FULL) >= DELAY_FULL);
	journal_close(j);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(atomic_load(&slots[i].calls), 1);
		assert_int_equal(slots[i].rc, WW_OK);
		assert_true(i == 0 || slots[i].seq > slots[i - 1].seq);
	}
	verify_ok(f, NULL, &res);
	assert_true(res.records >= n + 1);
	free(slots);
}

static int
count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	int c, n = 0;

	if (fp == NULL)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

static void
test_checkpoint_after_quiet_seconds(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_verify_result res;
	struct timespec pause = {0, 50000000};
	int lines = 0;

	opts_init(&o, f);
	o.checkpoint_secs = 1;
	o.checkpoint_file = f->ckpt;
	j = open_journal(&o);
	append(j, make_request("a", "lonely"));
	/* Nothing else comes: the timer seals it (bounded wait, ~1 s). */
	for (int i = 0; i < 200 && lines == 0; i++) {
		nanosleep(&pause, NULL);
		lines = count_lines(f->ckpt);
	}
	assert_int_equal(lines, 1);
	journal_close(j); /* nothing new: no second checkpoint */
	assert_int_equal(count_lines(f->ckpt), 1);
	verify_ok(f, f->ckpt, &res);
	assert_int_equal(res.records, 2);
	assert_int_equal(res.checkpoints, 1);
}

/* ---- restart, segments, map growth --------------------------------------- */

static void
test_restart_continues_chain(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_verify_result res;
	uint64_t first, second;

	opts_init(&o, f);
	o.checkpoint_file = f->ckpt;
	j = open_journal(&o);
	for (int i = 0; i < 10; i++)
		first = append(j, make_request("a", "one"));
	journal_close(j);
	j = open_journal(&o);
	second = append(j, make_request("b", "two"));
	assert_int_equal(second, first + 2); /* after the closing checkpoint */
	for (int i = 0; i < 9; i++)
		append(j, make_outcome(second));
	journal_close(j);

	verify_ok(f, f->ckpt, &res);
	assert_int_equal(res.records, 22);
	assert_int_equal(res.checkpoints, 2);
	/* 10 requests of the first run and none got an outcome. */
	assert_int_equal(res.outcome_unknown, 10);
}

struct clock {
	atomic_llong ns;
};

static int64_t
test_clock(void *arg)
{
	return atomic_load(&((struct clock *)arg)->ns);
}

static int
count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			n++;
	closedir(d);
	return n;
}

struct scan_state {
	uint64_t next;
	int seals;
	int errors;
};

static int
scan_cb(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct scan_state *s = arg;

	if (rec == NULL) {
		s->errors++;
		assert_non_null(err);
	} else if (rec->kind == WW__KIND__CHECKPOINT && rec->checkpoint->seal)
		s->seals++;
	assert_int_equal(seq, s->next);
	s->next++;
	return 0;
}

static void
test_segment_roll_over(void **state)
{
	struct fixture *f = *state;
	struct clock clk;
	struct journal_opts o;
	struct journal *j;
	struct journal_reader *r;
	struct journal_verify_result res;
	struct scan_state ss = {1, 0, 0};
	const int64_t day = 86400LL * 1000000000;
	uint64_t req = 0;

	atomic_store(&clk.ns, 1769774400LL * 1000000000); /* 2026-01-30 */
	opts_init(&o, f);
	o.segment = "day";
	o.clock_ns = test_clock;
	o.clock_arg = &clk;
	j = open_journal(&o);
	for (int d = 0; d < 3; d++) {
		for (int i = 0; i < 4; i++)
			req = append(j, make_request("a", "x"));
		atomic_fetch_add(&clk.ns, day);
	}
	journal_close(j);
	/* A restart on a later day opens a fifth segment. */
	atomic_fetch_add(&clk.ns, day);
	j = open_journal(&o);
	append(j, make_outcome(req));
	journal_close(j);
	assert_int_equal(count_segments(f->dir), 4);

	r = open_reader(f);
	assert_int_equal(journal_scan(r, 1, 0, scan_cb, &ss), 0);
	assert_int_equal(ss.errors, 0);
	assert_int_equal(ss.seals, 3); /* each older segment was sealed */
	Ww__Record *rec = NULL;
	char err[256];
	assert_int_equal(journal_get_outcome(r, req, &rec, err, sizeof(err)),
	                 WW_OK);
	record_free(rec);
	journal_reader_close(r);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, ss.next - 1);
	assert_int_equal(res.outcome_unknown, 11);

	/* Month segments: the same days share one. */
	(void)o;
}

static void
test_map_growth(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_verify_result res;
	char text[3000];

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	opts_init(&o, f);
	o.map_size = 128 * 1024; /* a few dozen pages */
	j = open_journal(&o);
	for (int i = 0; i < 2000; i++)
		append(j, make_request("grower", text));
	assert_true(journal_healthy(j));
	journal_close(j);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, 2001);
	assert_true(res.bytes > 2000 * sizeof(text));
}

/* ---- secrets ----------------------------------------------------------- */

/* Does any file under dir contain needle? */
static int
tree_contains(const char *dir, const char *needle)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);
	int found = 0;

	assert_non_null(d);
	while (!found && (de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			found = tree_contains(path, needle);
			continue;
		}
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		char *buf = malloc((size_t)st.st_size + 1);
		assert_non_null(buf);
		size_t n = fread(buf, 1, (size_t)st.st_size, fp);
		fclose(fp);
		found = memmem(buf, n, needle, strlen(needle)) != NULL;
		free(buf);
	}
	closedir(d);
	return found;
}

static void
test_secrets_never_stored(void **state)
{
	struct fixture *f = *state;
	static const char secret[] = "S3cr3t-AccessToken-9f8e7d6c5b4a";
	struct journal_opts o;
	struct journal *j;
	char digest[SECRET_DIGEST_LEN], query[128], body[256];
	Ww__Record *rec;

	opts_init(&o, f);
	j = open_journal(&o);
	/* What the decoder does: every secret becomes its keyed digest. */
	secret_digest(journal_secret(j), secret, strlen(secret), digest);
	assert_null(strstr(digest, secret));
	rec = make_request("a", "hello");
	snprintf(query, sizeof(query), "access_token=%s", digest);
	set(&rec->query, query);
	snprintf(body, sizeof(body), "{\"corpsecret\":\"%s\"}", digest);
	assert_int_equal(
	    record_set_bytes(&rec->message->body, body, strlen(body)), WW_OK);
	set(&rec->message->token_digest, digest);
	append(j, rec);
	journal_close(j);

	assert_false(tree_contains(f->dir, secret));
	assert_true(tree_contains(f->dir, digest)); /* the search can succeed */
}

/* The same through the real decoder: query and body secrets digested. */
static void
test_decoded_secrets_never_stored(void **state)
{
	struct fixture *f = *state;
	static const char token[] = "TokenSecret-7f3a9c1e5b2d8a4f";
	static const char secret[] = "BodySecret-0c9e8d7f6a5b4c3d";
	static const char text[] = "quarterly numbers attached";
	struct journal_opts o;
	struct journal *j;
	char query[128], body[512], err[256];
	char *scrubbed = NULL;
	Ww__Message *msg = NULL;
	Ww__Record *rec;

	opts_init(&o, f);
	j = open_journal(&o);
	snprintf(query, sizeof(query), "access_token=%s&debug=1", token);
	snprintf(body, sizeof(body),
	         "{\"touser\":\"u1\",\"msgtype\":\"text\",\"agentid\":1000002,"
	         "\"text\":{\"content\":\"%s\"},\"secret\":\"%s\"}",
	         text, secret);
	assert_int_equal(wecom_decode(journal_secret(j),
	                              "/cgi-bin/message/send", query,
	                              (const uint8_t *)body, strlen(body), &msg,
	                              err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(wecom_scrub_query(journal_secret(j), query, &scrubbed),
	                 WW_OK);
	rec = record_new(WW__KIND__REQUEST);
	assert_non_null(rec);
	rec->message = msg;
	rec->query = scrubbed;
	set(&rec->path, "/cgi-bin/message/send");
	append(j, rec);
	journal_close(j);

	assert_false(tree_contains(f->dir, token));
	assert_false(tree_contains(f->dir, secret));
	assert_true(tree_contains(f->dir, text)); /* the message is there */
}

/* ---- tampering ------------------------------------------------------------
 */

/* Raw access to the single segment of a "none" journal. */
struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
};

static void
raw_open(const struct fixture *f, struct raw *rw)
{
	char path[512] = "";
	struct dirent *de;
	DIR *d = opendir(f->dir);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			snprintf(path, sizeof(path), "%s/%s", f->dir,
			         de->d_name);
	closedir(d);
	assert_int_equal(mdb_env_create(&rw->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(rw->env, 8), 0);
	assert_int_equal(mdb_env_open(rw->env, path, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(rw->env, NULL, 0, &rw->txn), 0);
	assert_int_equal(mdb_dbi_open(rw->txn, "records", 0, &rw->dbi), 0);
}

static void
raw_close(struct raw *rw)
{
	assert_int_equal(mdb_txn_commit(rw->txn), 0);
	mdb_env_close(rw->env);
}

/* A malloc'ed copy of the stored value of seq. */
static uint8_t *
raw_get(struct raw *rw, uint64_t seq, size_t *len)
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, v;
	uint8_t *copy;

	chain_key(seq, kb);
	assert_int_equal(mdb_get(rw->txn, rw->dbi, &k, &v), 0);
	copy = malloc(v.mv_size);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return copy;
}

static void
raw_put(struct raw *rw, uint64_t seq, const void *buf, size_t len)
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, v = {len, (void *)buf};

	chain_key(seq, kb);
	assert_int_equal(mdb_put(rw->txn, rw->dbi, &k, &v, 0), 0);
}

static void
raw_del(struct raw *rw, uint64_t seq)
{
	uint8_t kb[8];
	MDB_val k = {8, kb};

	chain_key(seq, kb);
	assert_int_equal(mdb_del(rw->txn, rw->dbi, &k, NULL), 0);
}

/* The stored hash (trailer) of seq. */
static void
raw_hash(struct raw *rw, uint64_t seq, uint8_t out[RECORD_HASH_LEN])
{
	size_t len;
	uint8_t *v = raw_get(rw, seq, &len);

	memcpy(out, v + len - RECORD_HASH_LEN, RECORD_HASH_LEN);
	free(v);
}

/* Store rec at seq chained onto prev, as a forger who knows SHA-256 would. */
static void
raw_forge(struct raw *rw, uint64_t seq, Ww__Record *rec,
          const uint8_t prev[RECORD_HASH_LEN], uint8_t out[RECORD_HASH_LEN])
{
	struct chain_hasher *h;
	uint8_t *packed, *val, hash[RECORD_HASH_LEN];
	size_t len;

	rec->seq = seq;
	assert_int_equal(
	    record_set_bytes(&rec->prev_hash, prev, RECORD_HASH_LEN), WW_OK);
	free(rec->hash.data);
	rec->hash.data = NULL;
	rec->hash.len = 0;
	assert_int_equal(record_pack(rec, &packed, &len), WW_OK);
	assert_int_equal(chain_hasher_new(&h), WW_OK);
	assert_int_equal(chain_hash(h, prev, packed, len, hash), WW_OK);
	chain_hasher_free(h);
	val = malloc(len + CHAIN_TRAILER_LEN);
	assert_non_null(val);
	memcpy(val, packed, len);
	chain_trailer(val + len, hash);
	raw_put(rw, seq, val, len + CHAIN_TRAILER_LEN);
	if (out != NULL)
		memcpy(out, hash, RECORD_HASH_LEN);
	free(val);
	free(packed);
}

/* Re-link records from..last onto the chain as it now stands. */
static void
raw_rechain(struct raw *rw, uint64_t from, uint64_t last)
{
	uint8_t prev[RECORD_HASH_LEN];
	char err[128];

	raw_hash(rw, from - 1, prev);
	for (uint64_t s = from; s <= last; s++) {
		size_t len;
		uint8_t *v = raw_get(rw, s, &len);
		Ww__Record *rec;
		assert_int_equal(record_unpack(v, len, &rec, err, sizeof(err)),
		                 WW_OK);
		raw_forge(rw, s, rec, prev, prev);
		record_free(rec);
		free(v);
	}
}

#define T_RECORDS 45 /* + checkpoints at 11, 22, 33, 44 and 50 (close) */
#define T_HEAD 50

/* A journal of requests and outcomes, checkpoint every 10, verified. */
static void
build_tamper_journal(const struct fixture *f)
{
	struct journal_opts o;
	struct journal *j;
	struct journal_verify_result res;
	uint64_t req = 0;

	opts_init(&o, f);
	o.checkpoint_every = 10;
	o.checkpoint_file = f->ckpt;
	j = open_journal(&o);
	for (int i = 0; i < T_RECORDS; i++)
		req = i % 2 == 0 ? append(j, make_request("s", "text"))
		                 : append(j, make_outcome(req));
	journal_close(j);
	verify_ok(f, f->ckpt, &res);
	assert_int_equal(res.records, T_HEAD);
	assert_int_equal(res.checkpoints, 5);
	assert_int_equal(res.outcome_unknown, 1); /* the last request */
}

static void
expect_bad(const struct fixture *f, const char *ckpt, uint64_t bad_seq,
           const char *why)
{
	struct journal_reader *r = open_reader(f);
	struct journal_verify_result res;
	int rc = journal_verify(r, ckpt, NULL, NULL, &res);

	journal_reader_close(r);
	if (rc != WW_ECORRUPT || res.bad_seq != bad_seq ||
	    strstr(res.reason, why) == NULL)
		fail_msg("verify: %s, bad_seq %llu (expected %llu): %s",
		         ww_strerror(rc), (unsigned long long)res.bad_seq,
		         (unsigned long long)bad_seq, res.reason);
}

static void
test_tamper_modify_byte(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	size_t len;
	uint8_t *v;

	build_tamper_journal(f);
	raw_open(f, &rw);
	v = raw_get(&rw, 15, &len);
	v[len / 2] ^= 0x01;
	raw_put(&rw, 15, v, len);
	free(v);
	raw_close(&rw);
	expect_bad(f, NULL, 15, "15");
}

static void
test_tamper_modify_and_rechain(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	size_t len;
	uint8_t *v;
	char *at;

	build_tamper_journal(f);
	raw_open(f, &rw);
	v = raw_get(&rw, 14, &len); /* a request */
	at = memmem(v, len, "text", 4);
	assert_non_null(at);
	memcpy(at, "TEXT", 4);
	raw_put(&rw, 14, v, len);
	free(v);
	raw_rechain(&rw, 14, T_HEAD);
	raw_close(&rw);
	/* A consistent rewrite is caught by the checkpoint that covers it. */
	expect_bad(f, NULL, 22, "does not seal");
}

static void
test_tamper_delete(void **state)
{
	struct fixture *f = *state;
	struct raw rw;

	build_tamper_journal(f);
	raw_open(f, &rw);
	raw_del(&rw, 15);
	raw_close(&rw);
	expect_bad(f, NULL, 15, "missing");
}

static void
test_tamper_insert(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	uint8_t prev[RECORD_HASH_LEN];

	build_tamper_journal(f);
	raw_open(f, &rw);
	for (uint64_t s = T_HEAD; s >= 15; s--) {
		size_t len;
		uint8_t *v = raw_get(&rw, s, &len);
		raw_put(&rw, s + 1, v, len);
		free(v);
	}
	raw_hash(&rw, 14, prev);
	Ww__Record *forged = make_request("forger", "never sent");
	raw_forge(&rw, 15, forged, prev, NULL);
	record_free(forged);
	raw_close(&rw);
	expect_bad(f, NULL, 15, "inserted");
}

static void
test_tamper_swap(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	size_t la, lb;
	uint8_t *a, *b;

	build_tamper_journal(f);
	raw_open(f, &rw);
	a = raw_get(&rw, 15, &la);
	b = raw_get(&rw, 17, &lb);
	raw_put(&rw, 15, b, lb);
	raw_put(&rw, 17, a, la);
	free(a);
	free(b);
	raw_close(&rw);
	expect_bad(f, NULL, 15, "reordered");
}

static void
test_tamper_cut_tail(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	struct journal_verify_result res;

	build_tamper_journal(f);
	raw_open(f, &rw);
	for (uint64_t s = 40; s <= T_HEAD; s++)
		raw_del(&rw, s);
	raw_close(&rw);
	/* The journal alone cannot tell a cut tail from a young one ... */
	verify_ok(f, NULL, &res);
	assert_int_equal(res.head_seq, 39);
	/* ... the external copy of the checkpoints can. */
	expect_bad(f, f->ckpt, 40, "cut");
}

static void
progress_cb(uint64_t done, uint64_t total, void *arg)
{
	uint64_t *last = arg;

	assert_true(done <= total);
	*last = done;
}

static void
test_checkpoints_file_of_another_journal(void **state)
{
	struct fixture *f = *state;
	struct journal_reader *r;
	struct journal_verify_result res;
	uint64_t last = 0;
	FILE *fp;
	char line[CHAIN_LINE_MAX];
	struct chain_line l;

	build_tamper_journal(f);
	r = open_reader(f);
	assert_int_equal(journal_verify(r, f->ckpt, progress_cb, &last, &res),
	                 WW_OK);
	assert_int_equal(last, T_HEAD);
	/* A line whose signature is not this journal's key's. */
	memset(&l, 0, sizeof(l));
	l.seq = 2;
	l.head_seq = 1;
	chain_line_format(&l, line);
	fp = fopen(f->ckpt, "a");
	assert_non_null(fp);
	fprintf(fp, "%s\n", line);
	fclose(fp);
	assert_int_equal(journal_verify(r, f->ckpt, NULL, NULL, &res),
	                 WW_ECRYPTO);
	assert_int_equal(res.bad_seq, 0);
	assert_non_null(strstr(res.reason, "line 6"));
	assert_int_equal(
	    journal_verify(r, "/nonexistent/ckpt", NULL, NULL, &res),
	    WW_ENOTFOUND);
	journal_reader_close(r);
}

static void
test_tamper_replace_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	struct signkey *other;
	char path[256], err[256];
	uint8_t prev[RECORD_HASH_LEN], msg[CHAIN_SIGNED_LEN];
	uint8_t sig[CHAIN_SIG_LEN];
	size_t len;
	uint8_t *v;
	Ww__Record *cp;

	build_tamper_journal(f);
	snprintf(path, sizeof(path), "%s/other.key", f->root);
	assert_int_equal(signkey_load_or_create(path, &other, err, sizeof(err)),
	                 WW_OK);
	raw_open(f, &rw);
	v = raw_get(&rw, 22, &len);
	assert_int_equal(record_unpack(v, len, &cp, err, sizeof(err)), WW_OK);
	free(v);
	assert_int_equal(cp->kind, WW__KIND__CHECKPOINT);
	/* Re-sign the same head with the forger's key. */
	chain_signed_msg(cp->checkpoint->head_seq,
	                 cp->checkpoint->head_hash.data, msg);
	assert_int_equal(signkey_sign(other, msg, sizeof(msg), sig), WW_OK);
	assert_int_equal(
	    record_set_bytes(&cp->checkpoint->signature, sig, sizeof(sig)),
	    WW_OK);
	assert_int_equal(record_set_bytes(&cp->checkpoint->public_key,
	                                  signkey_public(other), CHAIN_PUB_LEN),
	                 WW_OK);
	raw_hash(&rw, 21, prev);
	raw_forge(&rw, 22, cp, prev, NULL);
	record_free(cp);
	raw_rechain(&rw, 23, T_HEAD);
	raw_close(&rw);
	signkey_free(other);
	expect_bad(f, NULL, 22, "another key");
}

/* The n-th (0-based) segment directory of the journal, by name. */
static void
segment_path(const struct fixture *f, int n, char *out, size_t len)
{
	struct dirent **list;
	int count = scandir(f->dir, &list, NULL, alphasort), k = 0;

	assert_true(count > 0);
	out[0] = '\0';
	for (int i = 0; i < count; i++) {
		if (list[i]->d_name[0] >= '0' && list[i]->d_name[0] <= '9' &&
		    k++ == n)
			snprintf(out, len, "%s/%s", f->dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	assert_true(out[0] != '\0');
}

static void
test_segment_retention_and_loss(void **state)
{
	struct fixture *f = *state;
	struct clock clk;
	struct journal_opts o;
	struct journal *j;
	struct journal_verify_result res;
	char first[512], middle[512];
	uint64_t middle_first = 0;

	atomic_store(&clk.ns, 1769774400LL * 1000000000);
	opts_init(&o, f);
	o.segment = "day";
	o.clock_ns = test_clock;
	o.clock_arg = &clk;
	j = open_journal(&o);
	for (int d = 0; d < 3; d++) {
		for (int i = 0; i < 3; i++) {
			uint64_t s = append(j, make_request("a", "x"));
			if (d == 1 && i == 0)
				middle_first = s;
		}
		atomic_fetch_add(&clk.ns, 86400LL * 1000000000);
	}
	journal_close(j);
	segment_path(f, 0, first, sizeof(first));
	segment_path(f, 1, middle, sizeof(middle));

	/* Losing a segment in the middle is caught at its first record. */
	nftw(middle, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	expect_bad(f, NULL, middle_first, "missing");
	/* Retention drops whole old segments: the rest still verifies. */
	nftw(first, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, 4); /* 3 records + the closing one */
}

/*
 * The worst case: the forger rewrites a record, re-signs every checkpoint
 * with a key of their own, re-links the whole chain and replaces
 * signing.pub.  The journal alone then looks intact; the external copy of
 * the checkpoints does not agree.
 */
static void
test_tamper_full_forgery(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	struct signkey *other;
	struct journal_verify_result res;
	char path[256], err[256];
	uint8_t prev[RECORD_HASH_LEN] = {0}, msg[CHAIN_SIGNED_LEN];
	uint8_t sig[CHAIN_SIG_LEN];

	build_tamper_journal(f);
	snprintf(path, sizeof(path), "%s/other.key", f->root);
	assert_int_equal(signkey_load_or_create(path, &other, err, sizeof(err)),
	                 WW_OK);
	raw_open(f, &rw);
	for (uint64_t seq = 1; seq <= T_HEAD; seq++) {
		size_t len;
		uint8_t *v = raw_get(&rw, seq, &len);
		Ww__Record *rec;
		assert_int_equal(record_unpack(v, len, &rec, err, sizeof(err)),
		                 WW_OK);
		free(v);
		if (seq == 14)
			set(&rec->message->texts[0]->text, "rewritten");
		if (rec->kind == WW__KIND__CHECKPOINT) {
			Ww__Checkpoint *cp = rec->checkpoint;
			assert_int_equal(record_set_bytes(&cp->head_hash, prev,
			                                  RECORD_HASH_LEN),
			                 WW_OK);
			chain_signed_msg(cp->head_seq, prev, msg);
			assert_int_equal(
			    signkey_sign(other, msg, sizeof(msg), sig), WW_OK);
			assert_int_equal(
			    record_set_bytes(&cp->signature, sig, sizeof(sig)),
			    WW_OK);
			assert_int_equal(record_set_bytes(&cp->public_key,
			                                  signkey_public(other),
			                                  CHAIN_PUB_LEN),
			                 WW_OK);
		}
		raw_forge(&rw, seq, rec, prev, prev);
		record_free(rec);
	}
	raw_close(&rw);
	snprintf(path, sizeof(path), "%s/signing.pub", f->dir);
	assert_int_equal(signkey_write_public(signkey_public(other), path),
	                 WW_OK);
	signkey_free(other);

	verify_ok(f, NULL, &res); /* undetectable from the journal alone */
	expect_bad(f, f->ckpt, 11, "another key");
}

/* ---- malformed values --------------------------------------------------- */

static void
test_malformed_values(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	struct journal_reader *r;
	struct scan_state ss = {1, 0, 0};
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x07, 0x00,
	                                  0x12, 0x99, 0x01, 0xfa};
	uint8_t prev[RECORD_HASH_LEN], *v;
	Ww__Record *rec = NULL;
	char err[256];
	size_t len;

	build_tamper_journal(f);
	raw_open(f, &rw);
	raw_put(&rw, 5, garbage, sizeof(garbage));
	v = raw_get(&rw, 6, &len);
	raw_put(&rw, 6, v, len - 10); /* truncated inside the hash */
	free(v);
	Ww__Record *future = make_request("s", "from the future");
	future->schema = 2;
	raw_hash(&rw, 6, prev);
	raw_forge(&rw, 7, future, prev, NULL);
	record_free(future);
	raw_put(&rw, 8, "", 0); /* empty */
	raw_close(&rw);

	r = open_reader(f);
	assert_int_equal(journal_get(r, 5, &rec, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_null(rec);
	assert_non_null(strstr(err, "record 5"));
	assert_int_equal(journal_get(r, 6, &rec, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_non_null(strstr(err, "record 6"));
	assert_int_equal(journal_get(r, 7, &rec, err, sizeof(err)),
	                 WW_EVERSION);
	assert_non_null(strstr(err, "record 7"));
	assert_non_null(strstr(err, "schema"));
	assert_int_equal(journal_get(r, 8, &rec, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_non_null(strstr(err, "record 8"));
	rec = get_ok(r, 9);
	record_free(rec);
	assert_int_equal(journal_scan(r, 1, 0, scan_cb, &ss), 0);
	assert_int_equal(ss.errors, 4);
	assert_int_equal(ss.next, T_HEAD + 1);
	journal_reader_close(r);
	expect_bad(f, NULL, 5, "record 5");
}

static void
test_wrong_schema_caught_by_verify(void **state)
{
	struct fixture *f = *state;
	struct raw rw;
	uint8_t prev[RECORD_HASH_LEN];

	build_tamper_journal(f);
	raw_open(f, &rw);
	Ww__Record *future = make_request("s", "from the future");
	future->schema = 2;
	raw_hash(&rw, 6, prev);
	raw_forge(&rw, 7, future, prev, NULL);
	record_free(future);
	raw_close(&rw);
	expect_bad(f, NULL, 7, "schema version 2");
}

/* ---- a full disk; a reader in another process ---------------------------- */

static off_t
segment_file_size(const struct fixture *f)
{
	char path[512] = "";
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(f->dir);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			snprintf(path, sizeof(path), "%s/%s/data.mdb", f->dir,
			         de->d_name);
	closedir(d);
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void
test_full_disk_fails_then_recovers(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_verify_result res;
	struct rlimit old, lim;
	static char big[512 * 1024];
	uint64_t ok = 1;
	int rc = WW_OK, tries;

	opts_init(&o, f);
	j = open_journal(&o);
	append(j, make_request("a", "before"));
	/* No room to grow the segment file: as if the disk were full. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)segment_file_size(f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	memset(big, 'b', sizeof(big));
	for (tries = 0; tries < 64; tries++) {
		Ww__Record *rec = make_request("a", "big");
		assert_int_equal(
		    record_set_bytes(&rec->message->body, big, sizeof(big)),
		    WW_OK);
		append_rc(j, rec, &rc);
		if (rc != WW_OK)
			break;
		ok++;
	}
	assert_true(rc == WW_ENOSPC || rc == WW_EIO);
	assert_false(journal_healthy(j));
	/* Space comes back: appends work again, with no gap in the chain. */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	append(j, make_request("a", "after"));
	ok++;
	assert_true(journal_healthy(j));
	journal_close(j);
	signal(SIGXFSZ, SIG_DFL);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, ok + 1);
}

/* The child: append n records one by one, then close.  No cmocka here. */
static int
child_write(const struct fixture *f, int n)
{
	struct journal_opts o;
	struct journal *j;
	char err[256];

	opts_init(&o, f);
	if (journal_open(&o, &j, err, sizeof(err)) != WW_OK)
		return 1;
	for (int i = 0; i < n; i++) {
		struct waiter w = {PTHREAD_MUTEX_INITIALIZER,
		                   PTHREAD_COND_INITIALIZER, 0, 0, 0};
		if (journal_append_take(j, make_tunnel(), waiter_cb, &w))
			return 2;
		pthread_mutex_lock(&w.mu);
		while (w.calls == 0)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		if (w.rc != WW_OK)
			return 3;
	}
	journal_close(j);
	return 0;
}

static int
count_errors(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	(void)seq;
	(void)err;
	if (rec == NULL)
		(*(int *)arg)++;
	return 0;
}

static void
test_reader_while_writing(void **state)
{
	struct fixture *f = *state;
	struct journal_reader *r = NULL;
	struct journal_verify_result res;
	struct timespec pause = {0, 2000000};
	uint64_t head = 0, prev = 0;
	int status = -1, errors = 0, reads = 0;
	char err[256];
	pid_t pid;

	assert_int_equal(mkdir(f->dir, 0750), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_write(f, 400));
	assert_int_equal(journal_reader_open(f->dir, &r, err, sizeof(err)),
	                 WW_OK);
	for (int i = 0; i < 10000; i++) { /* at most ~20 s */
		pid_t done = waitpid(pid, &status, WNOHANG);
		assert_int_equal(journal_head(r, &head), WW_OK);
		assert_true(head >= prev); /* never goes back */
		prev = head;
		assert_int_equal(journal_scan(r, head > 20 ? head - 20 : 1,
		                              head, count_errors, &errors),
		                 0);
		reads++;
		if (done == pid)
			break;
		nanosleep(&pause, NULL);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(errors, 0);
	assert_true(reads > 1);
	assert_int_equal(journal_head(r, &head), WW_OK);
	assert_int_equal(head, 401); /* and the closing checkpoint */
	journal_reader_close(r);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, 401);
}

/* The child: append until killed, telling the parent every durable seq. */
static int
child_append_forever(const struct fixture *f, int fd)
{
	struct journal_opts o;
	struct journal *j;
	char err[256];

	opts_init(&o, f);
	if (journal_open(&o, &j, err, sizeof(err)) != WW_OK)
		return 1;
	for (int i = 0; i < 1000000; i++) {
		struct waiter w = {PTHREAD_MUTEX_INITIALIZER,
		                   PTHREAD_COND_INITIALIZER, 0, 0, 0};
		if (journal_append_take(j, make_request("k", "killed"),
		                        waiter_cb, &w) != WW_OK)
			return 2;
		pthread_mutex_lock(&w.mu);
		while (w.calls == 0)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		if (w.rc != WW_OK ||
		    write(fd, &w.seq, sizeof(w.seq)) != sizeof(w.seq))
			return 3;
	}
	return 4;
}

static void
test_kill_while_writing(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_reader *r;
	struct journal_verify_result res;
	uint64_t acked[4096], seq, head;
	size_t n = 0;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(child_append_forever(f, fds[1]));
	}
	close(fds[1]);
	/* Kill it mid-stream once 300 appends were reported durable. */
	while (n < 300 && read(fds[0], &seq, sizeof(seq)) == sizeof(seq))
		acked[n++] = seq;
	assert_int_equal(n, 300);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	while (n < WW_NELEM(acked) &&
	       read(fds[0], &seq, sizeof(seq)) == sizeof(seq))
		acked[n++] = seq;
	close(fds[0]);

	/* Everything reported durable is there, and the chain is whole. */
	r = open_reader(f);
	for (size_t i = 0; i < n; i++)
		record_free(get_ok(r, acked[i]));
	assert_int_equal(journal_head(r, &head), WW_OK);
	assert_true(head >= acked[n - 1]);
	journal_reader_close(r);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, head);
	/* All are requests without outcome (bar any timed checkpoint). */
	assert_int_equal(res.outcome_unknown, res.records - res.checkpoints);
	/* A new writer continues the chain after the crash. */
	opts_init(&o, f);
	j = open_journal(&o);
	assert_int_equal(append(j, make_tunnel()), head + 1);
	journal_close(j);
	verify_ok(f, NULL, &res);
	assert_int_equal(res.records, head + 2); /* + closing checkpoint */
}

/* ---- keys, blobs ------------------------------------------------------------
 */

static void
test_key_file_modes(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j = NULL;
	char path[256], err[256];
	struct stat st;

	opts_init(&o, f);
	journal_close(open_journal(&o));
	snprintf(path, sizeof(path), "%s/signing.key", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(journal_open(&o, &j, err, sizeof(err)), WW_EPERM);
	assert_null(j);
	assert_non_null(strstr(err, "signing.key"));
	assert_int_equal(chmod(path, 0600), 0);

	snprintf(path, sizeof(path), "%s/journal.key", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(journal_open(&o, &j, err, sizeof(err)), WW_EPERM);
	assert_null(j);
	assert_int_equal(chmod(path, 0600), 0);
	j = open_journal(&o);
	journal_close(j);
}

static void
test_one_writer_per_journal(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j, *j2 = NULL;
	char err[256];

	opts_init(&o, f);
	j = open_journal(&o);
	assert_int_equal(journal_open(&o, &j2, err, sizeof(err)), WW_EEXIST);
	assert_null(j2);
	journal_close(j);
}

static void
test_blobs(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_reader *r;
	unsigned char sha[32], sha2[32], big[32], none[32] = {0};
	static const char data[] = "file contents";
	char large[100];
	uint8_t *out;
	size_t outlen;

	opts_init(&o, f);
	o.max_blob_bytes = 64;
	j = open_journal(&o);
	assert_int_equal(journal_put_blob(j, data, sizeof(data), sha), WW_OK);
	assert_int_equal(journal_put_blob(j, data, sizeof(data), sha2), WW_OK);
	assert_memory_equal(sha, sha2, 32);
	memset(large, 'L', sizeof(large));
	assert_int_equal(journal_put_blob(j, large, sizeof(large), big),
	                 WW_ELIMIT);
	assert_memory_not_equal(big, none, 32); /* the hash is still given */
	journal_close(j);

	r = open_reader(f);
	assert_int_equal(journal_get_blob(r, sha, &out, &outlen), WW_OK);
	assert_int_equal(outlen, sizeof(data));
	assert_memory_equal(out, data, outlen);
	free(out);
	assert_int_equal(journal_get_blob(r, big, &out, &outlen), WW_ENOTFOUND);
	journal_reader_close(r);
}

static void
test_append_refusals(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	char err[256];

	opts_init(&o, f);
	o.segment = "fortnight";
	assert_int_equal(journal_open(&o, &j, err, sizeof(err)), WW_EINVAL);
	opts_init(&o, f);
	j = open_journal(&o);
	assert_int_equal(journal_append_take(j, NULL, NULL, NULL), WW_EINVAL);
	assert_int_equal(journal_append_take(
	                     j, record_new(WW__KIND__CHECKPOINT), NULL, NULL),
	                 WW_EINVAL);
	/* A record without a callback is fine too. */
	assert_int_equal(journal_append_take(j, make_tunnel(), NULL, NULL),
	                 WW_OK);
	journal_close(j);
	journal_close(NULL);
}

/*
 * A data file cut short (a copy that ran out of space) is refused as
 * corrupt by readers and the writer alike, instead of a SIGBUS at the
 * first read of a missing page (found by tests/fault/disk.sh).
 */
static void
test_truncated_file_refused(void **state)
{
	struct fixture *f = *state;
	struct journal_opts o;
	struct journal *j;
	struct journal_reader *r = NULL;
	char path[512] = "", err[512] = "";
	struct dirent *de;
	off_t size;
	DIR *d;

	opts_init(&o, f);
	j = open_journal(&o);
	for (int i = 0; i < 300; i++)
		append(j, make_request("truncated", "a message long enough "
		                                    "to fill some pages"));
	journal_close(j);
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			snprintf(path, sizeof(path), "%s/%s/data.mdb", f->dir,
			         de->d_name);
	closedir(d);
	/* 300 records use about 80 pages; LMDB's file may be longer still */
	size = segment_file_size(f);
	assert_true(size > 16 * 4096);
	assert_int_equal(truncate(path, 16 * 4096), 0);

	assert_int_equal(journal_reader_open(f->dir, &r, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_null(r);
	assert_non_null(strstr(err, "truncated"));
	j = NULL;
	err[0] = '\0';
	assert_int_equal(journal_open(&o, &j, err, sizeof(err)), WW_ECORRUPT);
	assert_null(j);
	/* the segment's own reason, not the head check's (valgrind.sh) */
	assert_non_null(strstr(err, "truncated"));
}

int
main(void)
{
	log_init("test_journal", LOG_LEVEL_WARN, NULL, 0);
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_round_trip_every_kind),
	    T(test_group_commit_32_threads),
	    T(test_commit_delay),
	    T(test_checkpoint_after_quiet_seconds),
	    T(test_restart_continues_chain),
	    T(test_segment_roll_over),
	    T(test_map_growth),
	    T(test_secrets_never_stored),
	    T(test_decoded_secrets_never_stored),
	    T(test_tamper_modify_byte),
	    T(test_tamper_modify_and_rechain),
	    T(test_tamper_delete),
	    T(test_tamper_insert),
	    T(test_tamper_swap),
	    T(test_tamper_cut_tail),
	    T(test_tamper_replace_checkpoint),
	    T(test_checkpoints_file_of_another_journal),
	    T(test_tamper_full_forgery),
	    T(test_segment_retention_and_loss),
	    T(test_malformed_values),
	    T(test_wrong_schema_caught_by_verify),
	    T(test_full_disk_fails_then_recovers),
	    T(test_reader_while_writing),
	    T(test_kill_while_writing),
	    T(test_key_file_modes),
	    T(test_one_writer_per_journal),
	    T(test_blobs),
	    T(test_append_refusals),
	    T(test_truncated_file_refused),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
