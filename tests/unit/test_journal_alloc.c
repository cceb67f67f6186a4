/*
 * test_journal_alloc.c: allocation-failure sweep over the journal (STYLE.md,
 * "fail the Nth allocation").  For every N the Nth allocation made by
 * libstore fails; every call must report WW_ENOMEM (directly or through
 * its callback), never crash and leave no leak (ASan).  The failing
 * allocator is tests/unit/alloc_fixture.c, so LMDB's and OpenSSL's own
 * allocations are not swept.
 */
#include "config.h"

#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "log.h"
#include "store/journal.h"
#include "store/record.h"
#include "tests/unit/alloc_fixture.h"

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct ctx {
	char root[64];
	char dir[128];
	char ckpt[128];
};

typedef int (*scenario_fn)(struct ctx *c);

/* Run fn failing allocation 0, 1, 2... until it runs clean. */
static void
sweep(const char *name, scenario_fn fn, struct ctx *c)
{
	long n;
	int rc = WW_OK;

	for (n = 0; n < 20000; n++) {
		alloc_fixture_arm(n);
		rc = fn(c);
		alloc_fixture_disarm();
		if (!alloc_fixture_failed())
			break;
		if (rc != WW_ENOMEM)
			fail_msg("%s: allocation %ld failed but rc = %d (%s)",
			         name, n, rc, ww_strerror(rc));
	}
	assert_int_equal(rc, WW_OK);
	assert_true(n > 0);
	print_message("%s: %ld allocations swept\n", name, n);
}

static Ww__Record *
request(void)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	Ww__Message *m = message_new();

	assert_non_null(rec);
	assert_non_null(m);
	rec->message = m;
	assert_int_equal(record_set_str(&m->sender, "zhangsan"), WW_OK);
	assert_int_equal(record_add_str(&m->recipients->n_users,
	                                &m->recipients->users, "lisi"),
	                 WW_OK);
	assert_int_equal(message_add_text(m, "text.content", "hello", 5),
	                 WW_OK);
	return rec;
}

static Ww__Record *
outcome(uint64_t request_seq)
{
	Ww__Record *rec = record_new(WW__KIND__OUTCOME);
	Ww__Outcome *o = malloc(sizeof(*o));

	assert_non_null(rec);
	assert_non_null(o);
	ww__outcome__init(o);
	o->request_seq = request_seq;
	rec->outcome = o;
	return rec;
}

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int rc;
};

static void
done_cb(int rc, uint64_t seq, void *arg)
{
	struct done *d = arg;

	(void)seq;
	pthread_mutex_lock(&d->mu);
	if (d->rc == WW_OK)
		d->rc = rc;
	d->calls++;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* Open, append two records built beforehand, store a blob, close. */
static int
write_scenario(struct ctx *c)
{
	struct journal_opts o;
	struct journal *j = NULL;
	struct done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0,
	                 WW_OK};
	Ww__Record *recs[2];
	unsigned char sha[32];
	char err[256];
	int rc, queued = 0;

	alloc_fixture_pause(); /* the inputs are not under test */
	recs[0] = request();
	recs[1] = outcome(1);
	alloc_fixture_resume();
	memset(&o, 0, sizeof(o));
	o.path = c->dir;
	o.segment = "none";
	o.gateway_id = "gw";
	o.checkpoint_every = 2;
	o.checkpoint_file = c->ckpt;
	rc = journal_open(&o, &j, err, sizeof(err));
	for (size_t i = 0; i < 2; i++) {
		int arc = rc == WW_OK
		              ? journal_append_take(j, recs[i], done_cb, &d)
		              : (record_free(recs[i]), rc);
		queued += arc == WW_OK;
		if (rc == WW_OK)
			rc = arc;
	}
	if (j != NULL && rc == WW_OK)
		rc = journal_put_blob(j, "blob", 4, sha);
	journal_close(j); /* runs every callback */
	assert_int_equal(d.calls, queued);
	return rc != WW_OK ? rc : d.rc;
}

static int
visit(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	(void)seq;
	(void)err;
	(void)arg;
	return rec == NULL ? WW_ENOMEM : 0; /* only an injected failure */
}

/* Every reader entry point on the journal write_scenario left. */
static int
read_scenario(struct ctx *c)
{
	struct journal_reader *r = NULL;
	struct journal_verify_result res;
	Ww__Record *rec = NULL;
	unsigned char sha[32];
	uint8_t *blob = NULL;
	size_t len;
	uint64_t head;
	char err[256];
	int rc;

	rc = journal_reader_open(c->dir, &r, err, sizeof(err));
	if (rc == WW_OK)
		rc = journal_verify(r, c->ckpt, NULL, NULL, &res);
	if (rc == WW_OK)
		rc = journal_head(r, &head);
	if (rc == WW_OK)
		rc = journal_scan(r, 1, 0, visit, NULL);
	if (rc == WW_OK)
		rc = journal_get(r, 1, &rec, err, sizeof(err));
	record_free(rec);
	rec = NULL;
	if (rc == WW_OK)
		rc = journal_get_outcome(r, 1, &rec, err, sizeof(err));
	record_free(rec);
	if (rc == WW_OK)
		rc = journal_find(r, JOURNAL_INDEX_SENDER, "zhangsan", visit,
		                  NULL);
	if (rc == WW_OK) {
		/* SHA-256("blob") as journal_put_blob computed it. */
		static const char hex[] = "fa2c8cc4f28176bbeed4b736df569a34"
		                          "c79cd3723e9ec42f9674b4d46ac6b8b8";
		for (size_t i = 0; i < 32; i++)
			sscanf(hex + 2 * i, "%2hhx", &sha[i]);
		rc = journal_get_blob(r, sha, &blob, &len);
		free(blob);
	}
	journal_reader_close(r);
	return rc;
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	snprintf(c->root, sizeof(c->root), "/tmp/test_journal_alloc.XXXXXX");
	if (mkdtemp(c->root) == NULL) {
		free(c);
		return -1;
	}
	snprintf(c->dir, sizeof(c->dir), "%s/j", c->root);
	snprintf(c->ckpt, sizeof(c->ckpt), "%s/checkpoints", c->root);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	nftw(c->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

static void
test_sweep_writer(void **state)
{
	sweep("writer", write_scenario, *state);
}

static void
test_sweep_reader(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(write_scenario(c), WW_OK);
	sweep("reader", read_scenario, c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sweep_writer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_reader, setup, teardown),
	};

	log_init("test_journal_alloc", LOG_LEVEL_ERROR, NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
