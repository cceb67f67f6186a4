/*
 * journal_reader.c: the journal's read side (journal.h): lookups, scans
 * and blobs over every segment, with LMDB read-only transactions that never
 * block the writer.  Verification is in journal_verify.c.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ww.h"
#include "store/chain.h"
#include "store/journal.h"
#include "store/journal_reader.h"
#include "store/segment.h"

static int
reader_has(const struct journal_reader *r, const char *name)
{
	for (size_t i = 0; i < r->nsegs; i++)
		if (strcmp(r->segs[i]->name.name, name) == 0)
			return 1;
	return 0;
}

static int
reader_seg_cmp(const void *a, const void *b)
{
	const struct segment *x = *(struct segment *const *)a;
	const struct segment *y = *(struct segment *const *)b;

	if (x->name.first != y->name.first)
		return x->name.first < y->name.first ? -1 : 1;
	return strcmp(x->name.name, y->name.name);
}

static int64_t
reader_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Can the last listing of dir still be trusted?  A new segment is a new
 * subdirectory: it changes dir's mtime and link count.  File times are
 * coarse (a clock tick), so an mtime close to the listing is re-checked,
 * at most every 50 ms.
 */
static int
reader_listing_fresh(const struct journal_reader *r, const struct stat *st)
{
	if (!r->listed || st->st_mtim.tv_sec != r->dir_mtime.tv_sec ||
	    st->st_mtim.tv_nsec != r->dir_mtime.tv_nsec ||
	    (unsigned long)st->st_nlink != r->dir_nlink)
		return 0;
	return r->listed_at > st->st_mtim.tv_sec + 1 ||
	       reader_mono_ns() - r->listed_mono < 50000000;
}

static int
reader_add(struct journal_reader *r, const struct segment_name *name, char *err,
           size_t errlen)
{
	struct segment **grown, *s;
	int rc;

	rc = segment_open(r->dir, name, 1, 0, 0, &s, err, errlen);
	if (rc != WW_OK)
		return rc;
	grown = realloc(r->segs, (r->nsegs + 1) * sizeof(*grown));
	if (grown == NULL) {
		segment_close(s);
		return WW_ENOMEM;
	}
	r->segs = grown;
	r->segs[r->nsegs++] = s;
	return WW_OK;
}

int
journal_reader_refresh(struct journal_reader *r, char *err, size_t errlen)
{
	struct segment_name *names = NULL;
	struct stat st;
	size_t n = 0;
	int rc, complete = 1;

	memset(&st, 0, sizeof(st));
	if (stat(r->dir, &st) == 0 && reader_listing_fresh(r, &st))
		return WW_OK;
	rc = segment_list(r->dir, &names, &n);
	if (rc != WW_OK)
		return ww_fail(rc, err, errlen, "%s: %s", r->dir,
		               ww_strerror(rc));
	for (size_t i = 0; rc == WW_OK && i < n; i++) {
		if (reader_has(r, names[i].name))
			continue;
		rc = reader_add(r, &names[i], err, errlen);
		if (rc == WW_ENOTFOUND) { /* the writer is creating it */
			complete = 0;
			rc = WW_OK;
		}
	}
	free(names);
	if (rc == WW_OK && complete) {
		r->dir_mtime = st.st_mtim;
		r->dir_nlink = (unsigned long)st.st_nlink;
		r->listed_at = time(NULL);
		r->listed_mono = reader_mono_ns();
		r->listed = 1;
	}
	if (r->nsegs > 1)
		qsort(r->segs, r->nsegs, sizeof(*r->segs), reader_seg_cmp);
	return rc;
}

int
journal_reader_open(const char *dir, struct journal_reader **out, char *err,
                    size_t errlen)
{
	struct journal_reader *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return WW_ENOMEM;
	r->dir = strdup(dir);
	if (r->dir == NULL || chain_hasher_new(&r->hasher) != WW_OK) {
		journal_reader_close(r);
		return WW_ENOMEM;
	}
	rc = journal_reader_refresh(r, err, errlen);
	if (rc != WW_OK) {
		journal_reader_close(r);
		return rc;
	}
	*out = r;
	return WW_OK;
}

void
journal_reader_close(struct journal_reader *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nsegs; i++)
		segment_close(r->segs[i]);
	free(r->segs);
	chain_hasher_free(r->hasher);
	free(r->dir);
	free(r);
}

/* Unpack a stored value of record seq, naming it in err. */
int
journal_reader_unpack(uint64_t seq, const MDB_val *key, const MDB_val *val,
                      Ww__Record **out, char *err, size_t errlen)
{
	char why[200];
	int rc;

	*out = NULL;
	if (key->mv_size != 8)
		return ww_fail(
		    WW_ECORRUPT, err, errlen,
		    "record after %llu: key of %zu bytes (expected 8)",
		    (unsigned long long)seq, key->mv_size);
	rc = record_unpack(val->mv_data, val->mv_size, out, why, sizeof(why));
	if (rc != WW_OK)
		return ww_fail(rc, err, errlen, "record %llu: %s",
		               (unsigned long long)seq, why);
	if ((*out)->seq != seq) {
		rc = ww_fail(WW_ECORRUPT, err, errlen,
		             "record %llu: stored record says it is %llu",
		             (unsigned long long)seq,
		             (unsigned long long)(*out)->seq);
		record_free(*out);
		*out = NULL;
	}
	return rc;
}

/* Record seq from segment s: WW_ENOTFOUND when s does not hold it. */
static int
reader_get_in(struct segment *s, uint64_t seq, Ww__Record **out, char *err,
              size_t errlen)
{
	uint8_t kbuf[8];
	MDB_val k = {8, kbuf}, v;
	MDB_txn *txn;
	int rc;

	rc = segment_begin(s, 1, &txn);
	if (rc != WW_OK)
		return rc;
	chain_key(seq, kbuf);
	rc = mdb_get(txn, s->records, &k, &v);
	if (rc == 0)
		rc = journal_reader_unpack(seq, &k, &v, out, err, errlen);
	else
		rc = segment_err(rc);
	mdb_txn_abort(txn);
	return rc;
}

static int
reader_get(struct journal_reader *r, uint64_t seq, Ww__Record **out, char *err,
           size_t errlen)
{
	int rc = WW_ENOTFOUND;

	for (size_t i = r->nsegs; i-- > 0;) {
		if (r->segs[i]->name.first > seq)
			continue;
		rc = reader_get_in(r->segs[i], seq, out, err, errlen);
		if (rc != WW_ENOTFOUND)
			break;
	}
	return rc;
}

int
journal_get(struct journal_reader *r, uint64_t seq, Ww__Record **out, char *err,
            size_t errlen)
{
	int rc;

	*out = NULL;
	rc = reader_get(r, seq, out, err, errlen);
	if (rc == WW_ENOTFOUND && journal_reader_refresh(r, NULL, 0) == WW_OK)
		rc = reader_get(r, seq, out, err, errlen);
	if (rc == WW_ENOTFOUND)
		ww_fail(rc, err, errlen, "record %llu: not in the journal",
		        (unsigned long long)seq);
	return rc;
}

/* The OUTCOME seq for request_seq from the outcome index of s. */
static int
reader_outcome_in(struct segment *s, uint64_t request_seq, uint64_t *seq)
{
	uint8_t kbuf[8];
	MDB_val k = {8, kbuf}, v;
	MDB_txn *txn;
	int rc;

	rc = segment_begin(s, 1, &txn);
	if (rc != WW_OK)
		return rc;
	chain_key(request_seq, kbuf);
	rc = segment_err(mdb_get(txn, s->outcome, &k, &v));
	if (rc == WW_OK && v.mv_size != 8)
		rc = WW_ECORRUPT;
	if (rc == WW_OK)
		*seq = chain_key_seq(v.mv_data);
	mdb_txn_abort(txn);
	return rc;
}

/* The outcome is in the request's segment or a later one. */
static int
reader_outcome(struct journal_reader *r, uint64_t request_seq, uint64_t *seq)
{
	int rc = WW_ENOTFOUND;

	for (size_t i = r->nsegs; i-- > 0;) {
		rc = reader_outcome_in(r->segs[i], request_seq, seq);
		if (rc != WW_ENOTFOUND || r->segs[i]->name.first <= request_seq)
			break;
	}
	return rc;
}

int
journal_get_outcome(struct journal_reader *r, uint64_t request_seq,
                    Ww__Record **out, char *err, size_t errlen)
{
	uint64_t seq = 0;
	int rc = WW_ENOTFOUND;

	*out = NULL;
	rc = reader_outcome(r, request_seq, &seq);
	/* Not found: it may be in a segment created since we last looked. */
	if (rc == WW_ENOTFOUND && journal_reader_refresh(r, NULL, 0) == WW_OK)
		rc = reader_outcome(r, request_seq, &seq);
	if (rc == WW_OK)
		return journal_get(r, seq, out, err, errlen);
	return ww_fail(rc, err, errlen, "request %llu: no outcome (%s)",
	               (unsigned long long)request_seq, ww_strerror(rc));
}

/* Scan one segment from first to last (0: end). */
static int
reader_scan_seg(struct segment *s, uint64_t first, uint64_t last,
                journal_visit_cb cb, void *arg)
{
	uint8_t kbuf[8];
	MDB_val k = {8, kbuf}, v;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	Ww__Record *rec;
	char err[256];
	int rc, stop = 0;

	rc = segment_begin(s, 1, &txn);
	if (rc != WW_OK)
		return rc == WW_ENOTFOUND ? 0 : rc;
	chain_key(first, kbuf);
	rc = mdb_cursor_open(txn, s->records, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		uint64_t seq = k.mv_size == 8 ? chain_key_seq(k.mv_data) : 0;
		if (last != 0 && seq > last)
			break;
		err[0] = '\0';
		journal_reader_unpack(seq, &k, &v, &rec, err, sizeof(err));
		stop = cb(seq, rec, rec != NULL ? NULL : err, arg);
		record_free(rec);
		if (stop != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (stop != 0)
		return stop;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : segment_err(rc);
}

int
journal_scan(struct journal_reader *r, uint64_t first, uint64_t last,
             journal_visit_cb cb, void *arg)
{
	int rc = 0;

	(void)journal_reader_refresh(r, NULL, 0);
	for (size_t i = 0; rc == 0 && i < r->nsegs; i++) {
		/* Segment i only holds records below the next one's first. */
		if (i + 1 < r->nsegs && r->segs[i + 1]->name.first <= first)
			continue;
		if (last != 0 && r->segs[i]->name.first > last)
			break;
		rc = reader_scan_seg(r->segs[i], first, last, cb, arg);
	}
	return rc;
}

int
journal_head(struct journal_reader *r, uint64_t *seq)
{
	MDB_txn *txn;
	MDB_val v;
	int rc;

	*seq = 0;
	(void)journal_reader_refresh(r, NULL, 0);
	for (size_t i = r->nsegs; i-- > 0;) {
		rc = segment_begin(r->segs[i], 1, &txn);
		if (rc == WW_ENOTFOUND)
			continue;
		if (rc != WW_OK)
			return rc;
		rc = segment_last(r->segs[i], txn, seq, &v);
		mdb_txn_abort(txn);
		if (rc != WW_ENOTFOUND)
			return rc;
	}
	return WW_OK;
}

int
journal_get_blob(struct journal_reader *r, const unsigned char sha256[32],
                 uint8_t **out, size_t *outlen)
{
	MDB_val k = {32, (void *)sha256}, v;
	MDB_txn *txn;
	int rc = WW_ENOTFOUND;

	*out = NULL;
	*outlen = 0;
	(void)journal_reader_refresh(r, NULL, 0);
	for (size_t i = r->nsegs; rc == WW_ENOTFOUND && i-- > 0;) {
		rc = segment_begin(r->segs[i], 1, &txn);
		if (rc != WW_OK)
			continue;
		rc = segment_err(mdb_get(txn, r->segs[i]->blobs, &k, &v));
		if (rc == WW_OK) {
			*out = malloc(v.mv_size ? v.mv_size : 1);
			if (*out == NULL)
				rc = WW_ENOMEM;
			else {
				memcpy(*out, v.mv_data, v.mv_size);
				*outlen = v.mv_size;
			}
		}
		mdb_txn_abort(txn);
	}
	return rc;
}

/* Visit the records listed under key in index dbi of segment s. */
static int
reader_find_seg(struct segment *s, MDB_dbi dbi, MDB_val *key,
                journal_visit_cb cb, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k = *key, v, rk, rv;
	Ww__Record *rec;
	char err[256];
	int rc, mrc, stop = 0;

	rc = segment_begin(s, 1, &txn);
	if (rc != WW_OK)
		return rc == WW_ENOTFOUND ? 0 : rc;
	mrc = mdb_cursor_open(txn, dbi, &cur);
	if (mrc == 0)
		mrc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	while (mrc == 0 && stop == 0) {
		uint64_t seq = v.mv_size == 8 ? chain_key_seq(v.mv_data) : 0;
		rk.mv_size = 8;
		rk.mv_data = v.mv_data;
		err[0] = '\0';
		rec = NULL;
		if (seq == 0 || mdb_get(txn, s->records, &rk, &rv) != 0)
			snprintf(err, sizeof(err),
			         "record %llu: in the index but not stored",
			         (unsigned long long)seq);
		else
			journal_reader_unpack(seq, &rk, &rv, &rec, err,
			                      sizeof(err));
		stop = cb(seq, rec, rec != NULL ? NULL : err, arg);
		record_free(rec);
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (stop != 0)
		return stop;
	return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : segment_err(mrc);
}

int
journal_find(struct journal_reader *r, enum journal_index idx, const char *key,
             journal_visit_cb cb, void *arg)
{
	MDB_val k;
	int rc = 0;

	if (key == NULL || *key == '\0' || (unsigned)idx > JOURNAL_INDEX_CHAT)
		return WW_EINVAL;
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	if (k.mv_size > SEGMENT_KEY_MAX) /* as the writer cut it */
		k.mv_size = SEGMENT_KEY_MAX;
	(void)journal_reader_refresh(r, NULL, 0);
	for (size_t i = 0; rc == 0 && i < r->nsegs; i++)
		rc = reader_find_seg(r->segs[i], r->segs[i]->idx[idx], &k, cb,
		                     arg);
	return rc;
}

int
journal_seq_at_time(struct journal_reader *r, int64_t time_ns, uint64_t *seq)
{
	uint8_t kbuf[8];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc = WW_ENOTFOUND;

	*seq = 0;
	(void)journal_reader_refresh(r, NULL, 0);
	for (size_t i = 0; rc == WW_ENOTFOUND && i < r->nsegs; i++) {
		struct segment *s = r->segs[i];
		if (segment_begin(s, 1, &txn) != WW_OK)
			continue;
		chain_key(time_ns < 0 ? 0 : (uint64_t)time_ns, kbuf);
		k.mv_size = 8;
		k.mv_data = kbuf;
		rc = segment_err(
		    mdb_cursor_open(txn, s->idx[SEGMENT_IDX_TIME], &cur));
		if (rc == WW_OK) {
			rc = segment_err(
			    mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
			if (rc == WW_OK && v.mv_size != 8)
				rc = WW_ECORRUPT;
			if (rc == WW_OK)
				*seq = chain_key_seq(v.mv_data);
			mdb_cursor_close(cur);
		}
		mdb_txn_abort(txn);
	}
	return rc;
}
