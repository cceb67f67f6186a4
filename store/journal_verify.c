/*
 * journal_verify.c: journal_verify() (journal.h).
 *
 * Walks every stored record in sequence order, straight from the LMDB
 * values (chain.h), and checks: keys are dense; each record says the
 * sequence number it is stored under; it links to the record before it;
 * its hash is SHA-256(prev_hash || stored bytes before the trailer); every
 * CHECKPOINT seals the record before it with a valid Ed25519 signature by
 * the journal's key.  With an external checkpoints file it also checks the
 * records those checkpoints name are present and unchanged.
 *
 * Trust: the external file's key, else the one in signing.pub, else the
 * first checkpoint's.  Records after the last checkpoint are only protected by
 * an external copy (the file or the log).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "store/chain.h"
#include "store/journal.h"
#include "store/journal_reader.h"
#include "store/segment.h"
#include "store/signkey.h"

#define VERIFY_PROGRESS_EVERY 65536

struct vstate {
	struct journal_reader *r;
	struct journal_verify_result *res;
	uint64_t expect; /* the next sequence number, 0 before the first */
	uint8_t prev[RECORD_HASH_LEN];
	uint8_t prevprev[RECORD_HASH_LEN];
	uint8_t trusted[CHAIN_PUB_LEN];
	int have_trusted;
	struct chain_line *lines; /* external checkpoints, by head_seq */
	size_t nlines, li;
	uint8_t *open_req; /* bitmap: requests still without an outcome */
	size_t open_cap;   /* bytes */
	journal_progress_cb progress;
	void *progress_arg;
	uint64_t total;
};

static int verify_bad(struct vstate *vs, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
verify_bad(struct vstate *vs, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	vs->res->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(vs->res->reason, sizeof(vs->res->reason), fmt, ap);
	va_end(ap);
	return WW_ECORRUPT;
}

#define U(x) ((unsigned long long)(x))

/* Request bookkeeping for "outcome unknown". */
static int
verify_outcomes(struct vstate *vs, uint64_t seq, const struct chain_fields *f)
{
	size_t byte = (size_t)(seq / 8);
	uint8_t *grown;

	if (f->kind == WW__KIND__REQUEST) {
		if (byte >= vs->open_cap) {
			size_t cap = vs->open_cap ? vs->open_cap : 4096;
			while (cap <= byte)
				cap *= 2;
			grown = realloc(vs->open_req, cap);
			if (grown == NULL)
				return WW_ENOMEM;
			memset(grown + vs->open_cap, 0, cap - vs->open_cap);
			vs->open_req = grown;
			vs->open_cap = cap;
		}
		vs->open_req[byte] |= (uint8_t)(1u << (seq % 8));
		vs->res->outcome_unknown++;
	} else if (f->kind == WW__KIND__OUTCOME && f->request_seq < seq &&
	           f->request_seq / 8 < vs->open_cap) {
		uint8_t bit = (uint8_t)(1u << (f->request_seq % 8));
		if (vs->open_req[f->request_seq / 8] & bit) {
			vs->open_req[f->request_seq / 8] &= (uint8_t)~bit;
			vs->res->outcome_unknown--;
		}
	}
	return WW_OK;
}

static int
verify_checkpoint(struct vstate *vs, uint64_t seq, const struct chain_fields *f)
{
	Ww__Checkpoint *cp;
	uint8_t msg[CHAIN_SIGNED_LEN];
	int rc = WW_ECORRUPT;

	if (f->checkpoint == NULL)
		return verify_bad(vs, seq, "checkpoint %llu has no body",
		                  U(seq));
	cp = ww__checkpoint__unpack(NULL, f->checkpoint_len, f->checkpoint);
	if (cp == NULL)
		return verify_bad(vs, seq, "checkpoint %llu is unreadable",
		                  U(seq));
	if (cp->head_seq != seq - 1 || cp->head_hash.len != RECORD_HASH_LEN ||
	    memcmp(cp->head_hash.data, vs->prev, RECORD_HASH_LEN) != 0)
		verify_bad(
		    vs, seq,
		    "checkpoint %llu does not seal record %llu of the chain",
		    U(seq), U(seq - 1));
	else if (cp->public_key.len != CHAIN_PUB_LEN ||
	         (vs->have_trusted &&
	          memcmp(cp->public_key.data, vs->trusted, CHAIN_PUB_LEN) != 0))
		verify_bad(
		    vs, seq,
		    "checkpoint %llu is signed by another key than the trusted "
		    "one (checkpoints file, else signing.pub)",
		    U(seq));
	else {
		chain_signed_msg(cp->head_seq, cp->head_hash.data, msg);
		if (signkey_verify(cp->public_key.data, msg, sizeof(msg),
		                   cp->signature.data,
		                   cp->signature.len) != WW_OK)
			verify_bad(
			    vs, seq,
			    "checkpoint %llu: the signature does not verify",
			    U(seq));
		else
			rc = WW_OK;
	}
	if (rc == WW_OK && !vs->have_trusted) {
		memcpy(vs->trusted, cp->public_key.data, CHAIN_PUB_LEN);
		vs->have_trusted = 1;
	}
	if (rc == WW_OK)
		vs->res->checkpoints++;
	ww__checkpoint__free_unpacked(cp, NULL);
	return rc;
}

/* Sequence and linkage of record seq; names the first bad record. */
static int
verify_link(struct vstate *vs, uint64_t seq, const struct chain_fields *f)
{
	int linked = f->prev_hash_len == RECORD_HASH_LEN &&
	             memcmp(f->prev_hash, vs->prev, RECORD_HASH_LEN) == 0;

	if (f->seq == seq && linked)
		return WW_OK;
	if (seq >= 2 && f->prev_hash_len == RECORD_HASH_LEN &&
	    memcmp(f->prev_hash, vs->prevprev, RECORD_HASH_LEN) == 0)
		return verify_bad(
		    vs, seq - 1,
		    "record %llu is not part of the chain (record %llu links "
		    "to %llu): a record was inserted",
		    U(seq - 1), U(seq), U(seq - 2));
	if (f->seq != seq)
		return verify_bad(
		    vs, seq,
		    "record stored as %llu says it is %llu: records were "
		    "moved or reordered",
		    U(seq), U(f->seq));
	return verify_bad(
	    vs, seq,
	    "record %llu does not link to record %llu: modified, or records "
	    "were removed or reordered",
	    U(seq), U(seq - 1));
}

/* The external checkpoints that name record seq as their head. */
static int
verify_external(struct vstate *vs, uint64_t seq, const uint8_t *hash)
{
	while (vs->li < vs->nlines && vs->lines[vs->li].head_seq <= seq) {
		const struct chain_line *l = &vs->lines[vs->li++];
		if (l->head_seq == seq &&
		    memcmp(l->head_hash, hash, RECORD_HASH_LEN) != 0)
			return verify_bad(
			    vs, seq,
			    "record %llu differs from the external checkpoint "
			    "%llu: the chain up to it was rewritten",
			    U(seq), U(l->seq));
	}
	return WW_OK;
}

static int
verify_record(struct vstate *vs, uint64_t seq, const MDB_val *val)
{
	struct chain_fields f;
	uint8_t hash[RECORD_HASH_LEN];
	char why[200];
	int rc;

	if (seq != vs->expect)
		return seq > vs->expect
		           ? verify_bad(
		                 vs, vs->expect,
		                 "record %llu is missing (the next stored "
		                 "record is %llu)",
		                 U(vs->expect), U(seq))
		           : verify_bad(vs, seq, "record %llu is stored twice",
		                        U(seq));
	if (chain_parse(val->mv_data, val->mv_size, &f, why, sizeof(why)))
		return verify_bad(vs, seq, "record %llu is unreadable: %s",
		                  U(seq), why);
	if (f.schema != RECORD_SCHEMA)
		return verify_bad(
		    vs, seq, "record %llu has schema version %u (expected %u)",
		    U(seq), f.schema, RECORD_SCHEMA);
	if ((rc = verify_link(vs, seq, &f)) != WW_OK)
		return rc;
	if (chain_hash(vs->r->hasher, vs->prev, val->mv_data, f.hashed_len,
	               hash) != WW_OK)
		return WW_ECRYPTO;
	if (memcmp(hash, f.hash, RECORD_HASH_LEN) != 0)
		return verify_bad(
		    vs, seq,
		    "record %llu was modified (its hash does not match)",
		    U(seq));
	if (f.kind == WW__KIND__CHECKPOINT &&
	    (rc = verify_checkpoint(vs, seq, &f)) != WW_OK)
		return rc;
	if ((rc = verify_external(vs, seq, hash)) != WW_OK ||
	    (rc = verify_outcomes(vs, seq, &f)) != WW_OK)
		return rc;
	memcpy(vs->prevprev, vs->prev, RECORD_HASH_LEN);
	memcpy(vs->prev, hash, RECORD_HASH_LEN);
	vs->expect = seq + 1;
	vs->res->records++;
	vs->res->bytes += val->mv_size;
	vs->res->head_seq = seq;
	memcpy(vs->res->head_hash, hash, RECORD_HASH_LEN);
	return WW_OK;
}

/*
 * The first record present anchors the chain: sequence 1 (prev_hash zero),
 * or, when retention removed whole old segments, the first record of the
 * oldest remaining segment, which must start where its name says.  (So
 * removing whole segments from the start is indistinguishable from
 * retention; anything else is reported.)
 */
static int
verify_anchor(struct vstate *vs, const struct segment *s, uint64_t seq,
              const MDB_val *val)
{
	struct chain_fields f;

	vs->expect = s->name.first > 1 ? s->name.first : 1;
	if (seq != vs->expect || seq == 1)
		return WW_OK; /* verify_record names what is missing */
	if (chain_parse(val->mv_data, val->mv_size, &f, NULL, 0) != WW_OK ||
	    f.prev_hash_len != RECORD_HASH_LEN)
		return WW_OK; /* verify_record reports it */
	vs->expect = seq;
	memcpy(vs->prev, f.prev_hash, RECORD_HASH_LEN);
	return WW_OK;
}

static int
verify_segment(struct vstate *vs, struct segment *s)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	int rc, mrc;

	rc = segment_begin(s, 1, &txn);
	if (rc == WW_ENOTFOUND)
		return WW_OK; /* nothing committed in it */
	if (rc != WW_OK)
		return verify_bad(vs, vs->expect, "segment %s: %s",
		                  s->name.name, ww_strerror(rc));
	mrc = mdb_cursor_open(txn, s->records, &cur);
	if (mrc == 0)
		mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (mrc == 0) {
		if (k.mv_size != 8) {
			rc = verify_bad(
			    vs, vs->expect,
			    "segment %s: a key of %zu bytes after record %llu",
			    s->name.name, k.mv_size, U(vs->expect - 1));
			break;
		}
		uint64_t seq = chain_key_seq(k.mv_data);
		if (vs->expect == 0)
			verify_anchor(vs, s, seq, &v);
		if ((rc = verify_record(vs, seq, &v)) != WW_OK)
			break;
		if (vs->progress &&
		    vs->res->records % VERIFY_PROGRESS_EVERY == 0)
			vs->progress(vs->res->records, vs->total,
			             vs->progress_arg);
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == WW_OK && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = verify_bad(vs, vs->expect, "segment %s: %s", s->name.name,
		                mdb_strerror(mrc));
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

static int
verify_line_cmp(const void *a, const void *b)
{
	const struct chain_line *x = a, *y = b;

	if (x->head_seq != y->head_seq)
		return x->head_seq < y->head_seq ? -1 : 1;
	return 0;
}

/* One line of the checkpoints file: signed by the trusted key. */
static int
verify_line(struct vstate *vs, const struct chain_line *l, size_t lineno)
{
	uint8_t msg[CHAIN_SIGNED_LEN];

	if (!vs->have_trusted) {
		memcpy(vs->trusted, l->pub, CHAIN_PUB_LEN);
		vs->have_trusted = 1;
	}
	chain_signed_msg(l->head_seq, l->head_hash, msg);
	if (l->seq != l->head_seq + 1 ||
	    memcmp(l->pub, vs->trusted, CHAIN_PUB_LEN) != 0 ||
	    signkey_verify(l->pub, msg, sizeof(msg), l->sig, CHAIN_SIG_LEN)) {
		verify_bad(
		    vs, 0,
		    "checkpoints file line %zu: not a checkpoint signed by "
		    "this journal's key",
		    lineno);
		return WW_ECRYPTO; /* the file is bad, not the journal */
	}
	return WW_OK;
}

static int
verify_load_lines(struct vstate *vs, const char *path)
{
	char *buf = NULL, why[160];
	size_t cap = 0, lineno = 0, lcap = 0;
	struct chain_line l, *grown;
	ssize_t n;
	int rc = WW_OK;
	FILE *fp;

	fp = fopen(path, "re");
	if (fp == NULL) {
		verify_bad(vs, 0, "%s: cannot open the checkpoints file", path);
		return WW_ENOTFOUND;
	}
	while (rc == WW_OK && (n = getline(&buf, &cap, fp)) >= 0) {
		lineno++;
		rc = chain_line_parse(buf, (size_t)n, &l, why, sizeof(why));
		if (rc == WW_ENOTFOUND) {
			rc = WW_OK;
			continue;
		}
		if (rc != WW_OK) {
			verify_bad(vs, 0, "%s line %zu: %s", path, lineno, why);
			break;
		}
		if ((rc = verify_line(vs, &l, lineno)) != WW_OK)
			break;
		if (vs->nlines == lcap) {
			lcap = lcap ? 2 * lcap : 64;
			grown = realloc(vs->lines, lcap * sizeof(*grown));
			if (grown == NULL) {
				rc = WW_ENOMEM;
				break;
			}
			vs->lines = grown;
		}
		vs->lines[vs->nlines++] = l;
	}
	free(buf);
	fclose(fp);
	if (rc == WW_OK && vs->nlines > 1)
		qsort(vs->lines, vs->nlines, sizeof(*vs->lines),
		      verify_line_cmp);
	return rc;
}

/* After the walk: did the external file see records we no longer have? */
static int
verify_tail(struct vstate *vs)
{
	uint64_t covered = 0, by = 0, head = vs->res->head_seq;

	for (size_t i = 0; i < vs->nlines; i++)
		if (vs->lines[i].seq > covered) {
			covered = vs->lines[i].seq;
			by = vs->lines[i].seq;
		}
	if (covered <= head)
		return WW_OK;
	return verify_bad(
	    vs, head + 1,
	    "records %llu..%llu were cut: the external checkpoint %llu "
	    "covers them",
	    U(head + 1), U(covered), U(by));
}

static void
verify_trust(struct vstate *vs)
{
	char path[4096];
	int n;

	n = snprintf(path, sizeof(path), "%s/signing.pub", vs->r->dir);
	if (n > 0 && (size_t)n < sizeof(path) &&
	    signkey_read_public(path, vs->trusted, NULL, 0) == WW_OK)
		vs->have_trusted = 1;
}

int
journal_verify(struct journal_reader *r, const char *checkpoints_file,
               journal_progress_cb progress, void *arg,
               struct journal_verify_result *res)
{
	struct vstate vs;
	int rc = WW_OK;

	memset(res, 0, sizeof(*res));
	memset(&vs, 0, sizeof(vs));
	vs.r = r;
	vs.res = res;
	vs.progress = progress;
	vs.progress_arg = arg;
	/* The external copy is the anchor; signing.pub only without one. */
	if (checkpoints_file != NULL)
		rc = verify_load_lines(&vs, checkpoints_file);
	if (!vs.have_trusted)
		verify_trust(&vs);
	if (rc == WW_OK)
		rc = journal_head(r, &vs.total);
	for (size_t i = 0; rc == WW_OK && i < r->nsegs; i++)
		rc = verify_segment(&vs, r->segs[i]);
	if (rc == WW_OK)
		rc = verify_tail(&vs);
	if (rc == WW_OK && progress != NULL)
		progress(res->records, vs.total, arg);
	free(vs.lines);
	free(vs.open_req);
	return rc;
}
