/*
 * test_filter.c: filter_first_seq, the --since seek, against a real
 * journal written with a test clock: its answer is checked against a
 * full scan (the lowest seq stamped at or after the time), with stamps in
 * order and with a clock that was set back.
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
#include <unistd.h>

#include <cmocka.h>

#include "ww.h"
#include "store/filter.h"
#include "store/journal.h"
#include "store/record.h"

#define SEC INT64_C(1000000000)
#define BASE (INT64_C(1795165200) * SEC) /* 2026-11-20T09:00:00Z */

struct fixture {
	char dir[64];
	int64_t now; /* what the test clock says (set between appends) */
	struct journal *j;
	struct journal_reader *r;
};

static int64_t
fixture_clock(void *arg)
{
	return ((struct fixture *)arg)->now;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc;
};

static void
waiter_cb(int rc, uint64_t seq, void *arg)
{
	struct waiter *w = arg;

	(void)seq;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->rc = rc;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Append one record stamped at sec seconds after BASE; wait for it. */
static void
append_at(struct fixture *f, int64_t sec)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                   0, 0};
	Ww__Record *rec = record_new(WW__KIND__TUNNEL);

	assert_non_null(rec);
	f->now = BASE + sec * SEC;
	assert_int_equal(journal_append_take(f->j, rec, waiter_cb, &w), WW_OK);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	assert_int_equal(w.rc, WW_OK);
}

static int
setup(void **state)
{
	static struct fixture f;
	struct journal_opts o = {.gateway_id = "gw-test",
	                         .segment = "none",
	                         .sync = JOURNAL_SYNC_NONE,
	                         .checkpoint_every = 1000000,
	                         .checkpoint_secs = 3600,
	                         .clock_ns = fixture_clock};
	char err[256] = "";

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/test_filter.XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	o.path = f.dir;
	o.clock_arg = &f;
	f.now = BASE;
	if (journal_open(&o, &f.j, err, sizeof(err)) != WW_OK)
		fail_msg("journal_open: %s", err);
	*state = &f;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	journal_reader_close(f->r);
	journal_close(f->j);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Close the writer (one LMDB open per process), open a reader. */
static void
reopen(struct fixture *f)
{
	char err[256] = "";

	journal_close(f->j);
	f->j = NULL;
	if (journal_reader_open(f->dir, &f->r, err, sizeof(err)) != WW_OK)
		fail_msg("journal_reader_open: %s", err);
}

struct oracle {
	int64_t since;
	uint64_t low; /* lowest seq stamped at or after since, 0: none */
};

static int
oracle_visit(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct oracle *o = arg;

	(void)err;
	assert_non_null(rec);
	if (rec->time_ns >= o->since && o->low == 0)
		o->low = seq;
	return 0;
}

/* What a scan from 1 finds: the lowest seq stamped at or after sec. */
static uint64_t
scan_low(struct fixture *f, int64_t sec)
{
	struct oracle o = {.since = BASE + sec * SEC};
	uint64_t head;

	assert_int_equal(journal_scan(f->r, 1, 0, oracle_visit, &o), 0);
	assert_int_equal(journal_head(f->r, &head), WW_OK);
	return o.low != 0 ? o.low : head + 1;
}

/* filter_first_seq for --since sec: never past the scan's answer. */
static uint64_t
first_for(struct fixture *f, int64_t sec)
{
	struct filter flt;
	uint64_t first = 0;

	filter_init(&flt);
	flt.since_ns = BASE + sec * SEC;
	assert_int_equal(filter_first_seq(&flt, f->r, &first), WW_OK);
	assert_true(first >= 1);
	assert_true(first <= scan_low(f, sec));
	return first;
}

static void
test_in_order(void **state)
{
	struct fixture *f = *state;
	struct filter flt;
	uint64_t first = 0, head;

	for (int64_t i = 1; i <= 400; i++)
		append_at(f, i);
	reopen(f);
	assert_int_equal(journal_head(f->r, &head), WW_OK);
	/* No --since: from the start. */
	filter_init(&flt);
	assert_int_equal(filter_first_seq(&flt, f->r, &first), WW_OK);
	assert_int_equal(first, 1);
	/* A few recent ones: exactly where they begin. */
	assert_int_equal(first_for(f, 390), scan_low(f, 390));
	assert_int_equal(first_for(f, 390), 390);
	/* Half the journal is that recent: a scan from 1 is cheaper. */
	assert_int_equal(first_for(f, 200), 1);
	/* Everything, nothing. */
	assert_int_equal(first_for(f, -5), 1);
	assert_int_equal(first_for(f, 100000), head + 1);
}

/*
 * The clock jumps ahead for seq 401..410, then is set back for
 * 411..420: the smallest stamp at or after 505 s is seq 415's, yet 401
 * (stamped 1401 s) is the first record --since 505 s selects.
 */
static void
test_clock_set_back(void **state)
{
	struct fixture *f = *state;

	for (int64_t i = 1; i <= 400; i++)
		append_at(f, i);
	for (int64_t i = 401; i <= 410; i++)
		append_at(f, 1000 + i);
	for (int64_t i = 411; i <= 420; i++)
		append_at(f, 500 + (i - 410));
	reopen(f);
	assert_int_equal(scan_low(f, 505), 401);
	assert_int_equal(first_for(f, 505), 401);
	assert_int_equal(first_for(f, 1405), 405);
	assert_int_equal(first_for(f, 395), 395);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clock_set_back, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
