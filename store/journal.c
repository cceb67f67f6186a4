/*
 * journal.c: the journal's writer side (journal.h).
 *
 * One writer thread owns the current segment.  Appenders queue items under
 * j->mu; the writer takes everything pending (up to JOURNAL_BATCH_MAX),
 * writes it in one LMDB transaction with one durable commit (group
 * commit), and then reports every item.  The chain head (seq, hash) is
 * writer-thread state, advanced only after a successful commit, so a
 * failed or retried batch leaves no gap in the chain.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ww.h"
#include "log.h"
#include "store/chain.h"
#include "store/journal.h"
#include "store/segment.h"
#include "store/signkey.h"

#define JOURNAL_BATCH_MAX 4096
#define JOURNAL_BATCH_BLOB_BYTES (64u << 20)
#define JOURNAL_PREALLOC (8u << 20) /* see segment_prealloc() */
#define JOURNAL_GROW_MAX 40         /* map doublings tried for one batch */

/* One queued append (rec != NULL) or blob put (caller waits for done). */
struct jitem {
	struct jitem *next;
	Ww__Record *rec;
	journal_done_cb cb;
	void *arg;
	const void *blob;
	size_t bloblen;
	const unsigned char *sha;
	int done;
	int rc;
	uint64_t seq;
};

/* The chain head as a transaction sees it. */
struct chainstate {
	uint64_t seq;
	uint8_t hash[RECORD_HASH_LEN];
	uint64_t since_cp; /* records since the last checkpoint */
	size_t nlines;     /* checkpoints written in this txn (j->lines) */
};

struct journal {
	char *dir;
	char *ckpt_file;
	char *gateway_id;
	enum journal_sync sync;
	enum segment_period period;
	uint64_t cp_every;
	int64_t cp_ns;
	size_t max_blob;
	size_t map_size;
	int64_t (*clock_ns)(void *arg);
	void *clock_arg;
	int lock_fd;
	struct secret *secret;
	struct signkey *key;
	struct chain_hasher *hasher;

	/* Writer thread only (after journal_open returns). */
	struct segment *seg;
	struct chainstate head;
	int64_t last_cp_mono;
	struct chain_line *lines; /* checkpoints of the current txn */
	size_t lines_cap;

	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* wakes the writer */
	pthread_cond_t done_cv; /* wakes blob waiters */
	struct jitem *q;
	struct jitem **qtail;
	size_t q_len;
	int64_t q_since;  /* when the oldest queued item was queued (mono) */
	int q_busy;       /* and the writer was committing then */
	int committing;   /* the writer commits a batch taken from q */
	int64_t delay_ns; /* opts->commit_delay_us */
	int closing;
	atomic_int healthy;
	int prealloc_rc; /* writer thread: the last segment_prealloc() */
};

static int64_t
journal_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
journal_now_ns(const struct journal *j)
{
	struct timespec ts;

	if (j->clock_ns != NULL)
		return j->clock_ns(j->clock_arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
journal_errf(char *err, size_t errlen, const char *what, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, why);
}

/* Put one (key, seq) pair into a duplicate-sorted index. */
static int
journal_index_put(MDB_txn *txn, MDB_dbi dbi, const char *prefix, const char *id,
                  const uint8_t be[8])
{
	char buf[SEGMENT_KEY_MAX];
	size_t plen = strlen(prefix), ilen;
	MDB_val k, v = {8, (void *)be};
	int rc;

	if (id == NULL || *id == '\0')
		return 0;
	ilen = strlen(id);
	if (plen + ilen > sizeof(buf))
		ilen = sizeof(buf) - plen;
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, id, ilen);
	k.mv_size = plen + ilen;
	k.mv_data = buf;
	rc = mdb_put(txn, dbi, &k, &v, MDB_NODUPDATA);
	return rc == MDB_KEYEXIST ? 0 : rc;
}

static int
journal_index_list(MDB_txn *txn, MDB_dbi dbi, const char *prefix, char **ids,
                   size_t n, const uint8_t be[8])
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = journal_index_put(txn, dbi, prefix, ids[i], be);
	return rc;
}

/* Recipient and chat index entries of msg (segment.h lists the keys). */
static int
journal_index_message(const struct segment *s, MDB_txn *txn,
                      const Ww__Message *msg, const uint8_t be[8])
{
	const Ww__Recipients *r = msg->recipients;
	MDB_dbi rcpt = s->idx[SEGMENT_IDX_RECIPIENT];
	MDB_dbi chat = s->idx[SEGMENT_IDX_CHAT];
	int rc;

	rc = journal_index_put(txn, s->idx[SEGMENT_IDX_SENDER], "", msg->sender,
	                       be);
	if (rc != 0 || r == NULL)
		return rc;
	if ((rc = journal_index_list(txn, rcpt, "", r->users, r->n_users,
	                             be)) != 0 ||
	    (rc = journal_index_list(txn, rcpt, "party:", r->parties,
	                             r->n_parties, be)) != 0 ||
	    (rc = journal_index_list(txn, rcpt, "tag:", r->tags, r->n_tags,
	                             be)) != 0 ||
	    (rc = journal_index_list(txn, rcpt, "", r->external_users,
	                             r->n_external_users, be)) != 0 ||
	    (rc = journal_index_list(txn, rcpt, "", r->kf_ids, r->n_kf_ids,
	                             be)) != 0 ||
	    (rc = journal_index_list(txn, rcpt, "", r->mentioned,
	                             r->n_mentioned, be)) != 0 ||
	    (rc = journal_index_list(txn, chat, "", r->chat_ids, r->n_chat_ids,
	                             be)) != 0)
		return rc;
	if (r->all && (rc = journal_index_put(txn, rcpt, "", "@all", be)) != 0)
		return rc;
	return journal_index_put(txn, chat, "", r->chat_id, be);
}

/*
 * Put key -> val at the end of an index whose keys mostly grow (time,
 * request seq): MDB_APPEND skips the search and splits a full last page
 * into a full and a new one instead of two half-empty ones.  A key that
 * does not sort last (an equal time, a clock stepped back, an outcome of
 * an older request) is refused with MDB_KEYEXIST and put the usual way
 * with flags.  Returns 0 also when flags refuse it as existing.
 */
static int
journal_index_append(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val,
                     unsigned flags)
{
	int rc;

	rc = mdb_put(txn, dbi, key, val, MDB_APPEND);
	if (rc == MDB_KEYEXIST)
		rc = mdb_put(txn, dbi, key, val, flags);
	return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Every index entry for rec (seq be), in the record's transaction. */
static int
journal_index(const struct segment *s, MDB_txn *txn, const Ww__Record *rec,
              const uint8_t be[8])
{
	uint8_t tkey[8], rkey[8];
	MDB_val k = {8, tkey}, v = {8, (void *)be};
	int rc;

	chain_key((uint64_t)rec->time_ns, tkey);
	rc = journal_index_append(txn, s->idx[SEGMENT_IDX_TIME], &k, &v,
	                          MDB_NODUPDATA);
	if (rc != 0)
		return rc;
	if (rec->kind == WW__KIND__OUTCOME && rec->outcome != NULL &&
	    rec->outcome->request_seq != 0) {
		/* The first outcome of a request is the one that counts. */
		chain_key(rec->outcome->request_seq, rkey);
		k.mv_data = rkey;
		rc = journal_index_append(txn, s->outcome, &k, &v,
		                          MDB_NOOVERWRITE);
		if (rc != 0)
			return rc;
	}
	if (rec->message == NULL)
		return 0;
	return journal_index_message(s, txn, rec->message, be);
}

/*
 * Chain rec onto st and store it.  The writer's fields are lent to rec
 * only while it is packed, so rec stays the caller's to free.  Returns an
 * LMDB code, or WW_ELIMIT (negative) when rec alone is too big.
 */
static int
journal_put_record(struct journal *j, MDB_txn *txn, struct chainstate *st,
                   Ww__Record *rec)
{
	char *saved_gw = rec->gateway_id;
	ProtobufCBinaryData saved_prev = rec->prev_hash, saved_hash = rec->hash;
	uint8_t kbuf[8], hash[RECORD_HASH_LEN];
	MDB_val k = {8, kbuf}, v;
	size_t size;
	int rc;

	rec->schema = RECORD_SCHEMA;
	rec->seq = st->seq + 1;
	rec->time_ns = journal_now_ns(j);
	rec->mono_ns = journal_mono_ns();
	rec->gateway_id = j->gateway_id;
	rec->prev_hash.data = st->hash;
	rec->prev_hash.len = RECORD_HASH_LEN;
	rec->hash.data = NULL;
	rec->hash.len = 0;
	size = ww__record__get_packed_size(rec);
	rc = WW_ELIMIT;
	if (size + CHAIN_TRAILER_LEN > RECORD_MAX_PACKED)
		goto out;
	chain_key(rec->seq, kbuf);
	v.mv_size = size + CHAIN_TRAILER_LEN;
	rc = mdb_put(txn, j->seg->records, &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc != 0)
		goto out;
	ww__record__pack(rec, v.mv_data);
	if (chain_hash(j->hasher, st->hash, v.mv_data, size, hash) != WW_OK) {
		rc = EINVAL;
		goto out;
	}
	chain_trailer((uint8_t *)v.mv_data + size, hash);
	rc = journal_index(j->seg, txn, rec, kbuf);
	if (rc != 0)
		goto out;
	st->seq = rec->seq;
	memcpy(st->hash, hash, RECORD_HASH_LEN);
	st->since_cp = rec->kind == WW__KIND__CHECKPOINT ? 0 : st->since_cp + 1;
out:
	rec->gateway_id = saved_gw;
	rec->prev_hash = saved_prev;
	rec->hash = saved_hash;
	return rc;
}

/* Append a signed CHECKPOINT sealing st's head; remembered in st->line. */
static int
journal_put_checkpoint(struct journal *j, MDB_txn *txn, struct chainstate *st,
                       int seal)
{
	Ww__Record rec = WW__RECORD__INIT;
	Ww__Checkpoint cp = WW__CHECKPOINT__INIT;
	uint8_t msg[CHAIN_SIGNED_LEN], head[RECORD_HASH_LEN];
	struct chain_line *l, *grown;
	int rc;

	if (st->nlines == j->lines_cap) {
		size_t cap = j->lines_cap ? 2 * j->lines_cap : 4;
		grown = realloc(j->lines, cap * sizeof(*grown));
		if (grown == NULL)
			return ENOMEM;
		j->lines = grown;
		j->lines_cap = cap;
	}
	l = &j->lines[st->nlines];

	memcpy(head, st->hash, RECORD_HASH_LEN);
	chain_signed_msg(st->seq, head, msg);
	if (signkey_sign(j->key, msg, sizeof(msg), l->sig) != WW_OK)
		return EINVAL;
	rec.kind = WW__KIND__CHECKPOINT;
	rec.checkpoint = &cp;
	cp.head_seq = st->seq;
	cp.head_hash.data = head;
	cp.head_hash.len = RECORD_HASH_LEN;
	cp.signature.data = l->sig;
	cp.signature.len = CHAIN_SIG_LEN;
	cp.public_key.data = (uint8_t *)signkey_public(j->key);
	cp.public_key.len = CHAIN_PUB_LEN;
	cp.seal = seal != 0;
	rc = journal_put_record(j, txn, st, &rec);
	if (rc != 0)
		return rc;
	l->seq = st->seq;
	l->head_seq = cp.head_seq;
	memcpy(l->head_hash, head, RECORD_HASH_LEN);
	memcpy(l->pub, signkey_public(j->key), CHAIN_PUB_LEN);
	l->seal = seal != 0;
	st->nlines++;
	return 0;
}

/* Log the checkpoint and append it to the external file. */
static void
journal_emit_line(struct journal *j, const struct chain_line *l)
{
	char line[CHAIN_LINE_MAX + 1];
	size_t len;
	int fd;

	chain_line_format(l, line);
	log_info("journal checkpoint: %s", line);
	if (j->ckpt_file == NULL)
		return;
	len = strlen(line);
	line[len++] = '\n';
	fd =
	    open(j->ckpt_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, len) != (ssize_t)len ||
	    fdatasync(fd) != 0)
		log_warn("journal: cannot append checkpoint to %s",
		         j->ckpt_file);
	if (fd >= 0)
		close(fd);
}

static int
journal_put_blob_txn(struct journal *j, MDB_txn *txn, struct jitem *it)
{
	MDB_val k = {32, (void *)it->sha}, v = {it->bloblen, NULL};
	int rc;

	rc = mdb_put(txn, j->seg->blobs, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
	if (rc == MDB_KEYEXIST)
		return 0; /* content-addressed: already there */
	if (rc == 0 && it->bloblen > 0)
		memcpy(v.mv_data, it->blob, it->bloblen);
	return rc;
}

/* An internal result (WW_E*, LMDB or errno code) as WW_E*. */
static int
journal_rc(int rc)
{
	if (rc <= 0 && rc >= WW_EVERSION - 10)
		return rc; /* already WW_E* (LMDB's own codes are far below) */
	return segment_err(rc);
}

/* Is a checkpoint due in this transaction (cp: 0 when due, 1 now, 2 seal)? */
static int
journal_cp_due(const struct journal *j, const struct chainstate *st, int cp)
{
	if (st->seq == 0)
		return 0;
	if (cp == 2)
		return 1;
	return st->since_cp > 0 && (cp == 1 || st->since_cp >= j->cp_every);
}

/*
 * Write batch (may be NULL) and, when due or asked (cp: 0 when due, 1 now,
 * 2 seal), a checkpoint, in one transaction from j->head.  Returns 0,
 * MDB_MAP_FULL (grow and retry) or an error (see journal_rc).  *st: the head
 * after it.
 */
static int
journal_txn(struct journal *j, struct jitem *batch, int cp,
            struct chainstate *st)
{
	MDB_txn *txn = NULL;
	int rc;

	*st = j->head;
	st->nlines = 0;
	rc = segment_begin(j->seg, 0, &txn);
	if (rc != WW_OK)
		return rc;
	for (struct jitem *it = batch; it != NULL; it = it->next) {
		it->seq = 0;
		it->rc = WW_OK;
		rc = it->rec != NULL ? journal_put_record(j, txn, st, it->rec)
		                     : journal_put_blob_txn(j, txn, it);
		if (rc == WW_ELIMIT) { /* this record alone is refused */
			it->rc = WW_ELIMIT;
			rc = 0;
		} else if (rc != 0)
			goto out;
		else if (it->rec != NULL)
			it->seq = st->seq;
		/* Every checkpoint_every records, even inside a batch. */
		if (st->since_cp >= j->cp_every &&
		    (rc = journal_put_checkpoint(j, txn, st, 0)) != 0)
			goto out;
	}
	if (journal_cp_due(j, st, cp))
		rc = journal_put_checkpoint(j, txn, st, cp == 2);
	if (rc != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL; /* commit frees the txn even when it fails */
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

/* journal_txn, growing the map while it is full.  WW_OK or WW_E*. */
static int
journal_commit(struct journal *j, struct jitem *batch, int cp)
{
	struct chainstate st;
	int rc;

	for (int tries = 0;; tries++) {
		rc = journal_txn(j, batch, cp, &st);
		if (rc != MDB_MAP_FULL)
			break;
		if (tries == JOURNAL_GROW_MAX ||
		    segment_grow(j->seg) != WW_OK) {
			rc = MDB_MAP_FULL;
			break;
		}
	}
	if (rc != 0) {
		rc = journal_rc(rc);
		/*
		 * LMDB reports a short write as EIO; right after the space
		 * reserved ahead could not be written for want of space,
		 * that short write is a full disk: say so (found by
		 * tests/fault/disk.sh, where most refusals read "input/output
		 * error" on a full tmpfs).
		 */
		if (rc == WW_EIO && j->prealloc_rc == WW_ENOSPC)
			rc = WW_ENOSPC;
		log_warnx("journal: commit failed: %s", ww_strerror(rc));
		return rc;
	}
	j->head = st;
	if (st.nlines > 0)
		j->last_cp_mono = journal_mono_ns();
	for (size_t i = 0; i < st.nlines; i++)
		journal_emit_line(j, &j->lines[i]);
	return WW_OK;
}

/* Make j->seg the segment of the current period, sealing the old one. */
static int
journal_roll(struct journal *j)
{
	char label[SEGMENT_LABEL_MAX], err[256];
	struct segment_name name;
	struct segment *s;
	unsigned flags;
	int rc;

	segment_label(j->period, journal_now_ns(j), label);
	if (j->seg != NULL && strcmp(j->seg->name.label, label) == 0)
		return WW_OK;
	if (j->seg != NULL && j->head.seq >= j->seg->name.first) {
		rc = journal_commit(j, NULL, 2);
		if (rc != WW_OK)
			return rc;
	}
	flags = j->sync == JOURNAL_SYNC_NONE ? MDB_NOSYNC | MDB_NOMETASYNC : 0;
	segment_name_make(j->head.seq + 1, label, &name);
	rc = segment_open(j->dir, &name, 0, flags, j->map_size, &s, err,
	                  sizeof(err));
	if (rc != WW_OK) {
		log_warnx("journal: cannot open segment: %s", err);
		return rc;
	}
	segment_close(j->seg);
	j->seg = s;
	log_info("journal: segment %s opened", name.name);
	return WW_OK;
}

/*
 * Report every item of a finished batch (it->rc), then free the records:
 * the waiting exchanges go on while the writer frees.
 */
static void
journal_deliver(struct journal *j, struct jitem *batch)
{
	struct jitem *it, *next;
	int blobs = 0;

	for (it = batch; it != NULL; it = it->next)
		if (it->rec != NULL && it->cb != NULL)
			it->cb(it->rc, it->rc == WW_OK ? it->seq : 0, it->arg);
	for (it = batch; it != NULL; it = next) {
		next = it->next;
		if (it->rec == NULL) {
			pthread_mutex_lock(&j->mu);
			it->done = 1; /* the waiter owns it from here */
			pthread_mutex_unlock(&j->mu);
			blobs = 1;
			continue;
		}
		record_free(it->rec);
		free(it);
	}
	if (blobs) {
		pthread_mutex_lock(&j->mu);
		pthread_cond_broadcast(&j->done_cv);
		pthread_mutex_unlock(&j->mu);
	}
}

static void
journal_fail_items(struct jitem *batch, int rc)
{
	for (struct jitem *it = batch; it != NULL; it = it->next) {
		it->rc = rc;
		it->seq = 0;
	}
}

/*
 * Commit batch.  When LMDB finds the transaction too big (MDB_TXN_FULL,
 * WW_ELIMIT) each half is committed on its own.  Every item's rc says how
 * it went; returns the last commit's result.
 */
static int
journal_commit_split(struct journal *j, struct jitem *batch)
{
	struct jitem *mid = batch, *rest;
	size_t n = 0;
	int rc;

	rc = journal_commit(j, batch, 0);
	for (struct jitem *it = batch; it != NULL; it = it->next)
		n++;
	if (rc != WW_ELIMIT || n < 2) {
		if (rc != WW_OK)
			journal_fail_items(batch, rc);
		return rc;
	}
	for (size_t i = 1; i < n / 2; i++)
		mid = mid->next;
	rest = mid->next;
	mid->next = NULL;
	rc = journal_commit_split(j, batch);
	if (rc == WW_OK)
		rc = journal_commit_split(j, rest);
	else
		journal_fail_items(rest, rc);
	mid->next = rest;
	return rc;
}

static void
journal_run_batch(struct journal *j, struct jitem *batch)
{
	int rc;

	rc = journal_roll(j);
	j->prealloc_rc = WW_OK;
	if (rc == WW_OK && j->sync == JOURNAL_SYNC_FULL)
		j->prealloc_rc = segment_prealloc(j->seg, JOURNAL_PREALLOC);
	if (rc == WW_OK)
		rc = journal_commit_split(j, batch);
	else
		journal_fail_items(batch, rc);
	atomic_store(&j->healthy, rc == WW_OK);
	if (j->delay_ns > 0) { /* see journal_batch_due() */
		pthread_mutex_lock(&j->mu);
		j->committing = 0;
		pthread_mutex_unlock(&j->mu);
	}
	journal_deliver(j, batch);
}

/* Detach up to a batch's worth of pending items; j->mu held. */
static struct jitem *
journal_take(struct journal *j)
{
	struct jitem *batch = j->q, *it = batch, *last = NULL;
	size_t n = 0, bytes = 0;

	while (it != NULL && n < JOURNAL_BATCH_MAX &&
	       (n == 0 || bytes + it->bloblen <= JOURNAL_BATCH_BLOB_BYTES)) {
		bytes += it->bloblen;
		last = it;
		it = it->next;
		n++;
	}
	if (last == NULL)
		return NULL;
	last->next = NULL;
	j->q_len -= n;
	j->q = it;
	if (it == NULL)
		j->qtail = &j->q;
	return batch;
}

/*
 * Is the queue to be committed now (j->mu held)?  The commit delay holds
 * back only a batch whose first item came while the writer was committing
 * the one before: a writer that waits or reports commits at once, so a
 * quiet gateway adds no latency.
 */
static int
journal_batch_due(const struct journal *j, int64_t now)
{
	return j->q != NULL && (j->delay_ns == 0 || !j->q_busy || j->closing ||
	                        j->q_len >= JOURNAL_BATCH_MAX ||
	                        now - j->q_since >= j->delay_ns);
}

/*
 * Wait for work: a batch, a due timed checkpoint (NULL, *stop 0), or
 * closing with nothing left (NULL, *stop 1).
 */
static struct jitem *
journal_wait(struct journal *j, int *stop)
{
	struct jitem *batch = NULL;
	struct timespec ts;
	int64_t now, due;

	*stop = 0;
	pthread_mutex_lock(&j->mu);
	for (;;) {
		now = journal_mono_ns();
		if (journal_batch_due(j, now)) {
			batch = journal_take(j);
			j->committing = j->delay_ns > 0;
			break;
		}
		if (j->closing) {
			*stop = 1;
			break;
		}
		due = j->q != NULL ? j->q_since + j->delay_ns : 0;
		if (j->head.since_cp > 0) {
			if (now >= j->last_cp_mono + j->cp_ns)
				break;
			if (due == 0 || j->last_cp_mono + j->cp_ns < due)
				due = j->last_cp_mono + j->cp_ns;
		}
		if (due == 0) {
			pthread_cond_wait(&j->cv, &j->mu);
			continue;
		}
		ts.tv_sec = (time_t)(due / 1000000000);
		ts.tv_nsec = (long)(due % 1000000000);
		pthread_cond_timedwait(&j->cv, &j->mu, &ts);
	}
	pthread_mutex_unlock(&j->mu);
	return batch;
}

static void *
journal_writer(void *arg)
{
	struct journal *j = arg;
	struct jitem *batch;
	int stop;

	pthread_setname_np(pthread_self(), "wwjournal"); /* for top, perf */
	for (;;) {
		batch = journal_wait(j, &stop);
		if (batch != NULL)
			journal_run_batch(j, batch);
		else if (stop)
			break;
		else if (journal_commit(j, NULL, 1) != WW_OK)
			j->last_cp_mono = journal_mono_ns(); /* retry later */
	}
	/* Closing: seal what was written since the last checkpoint. */
	if (j->seg != NULL && j->head.since_cp > 0)
		(void)journal_commit(j, NULL, 1);
	return NULL;
}

/* Read the chain head from the newest non-empty segment. */
static int
journal_load_head(struct journal *j, char *err, size_t errlen)
{
	struct segment_name *names = NULL;
	struct chain_fields f;
	char why[200];
	size_t n = 0;
	int rc;

	rc = segment_list(j->dir, &names, &n);
	for (size_t i = n; rc == WW_OK && i-- > 0;) {
		struct segment *s = NULL;
		MDB_txn *txn = NULL;
		MDB_val val;
		uint64_t seq = 0;
		unsigned flags = j->sync == JOURNAL_SYNC_NONE
		                     ? MDB_NOSYNC | MDB_NOMETASYNC
		                     : 0;

		/* why is set only by the head checks below: a segment that
		   fails to open (e.g. truncated) has written err itself */
		why[0] = '\0';
		rc = segment_open(j->dir, &names[i], 0, flags, j->map_size, &s,
		                  err, errlen);
		if (rc == WW_OK)
			rc = segment_begin(s, 1, &txn);
		if (rc == WW_OK)
			rc = segment_last(s, txn, &seq, &val);
		if (rc == WW_ENOTFOUND) { /* empty: look further back */
			mdb_txn_abort(txn);
			segment_close(s);
			rc = WW_OK;
			continue;
		}
		if (rc == WW_OK &&
		    (rc = chain_parse(val.mv_data, val.mv_size, &f, why,
		                      sizeof(why))) == WW_OK &&
		    f.seq != seq) {
			snprintf(why, sizeof(why), "stored as %llu",
			         (unsigned long long)seq);
			rc = WW_ECORRUPT;
		}
		if (rc == WW_ECORRUPT && err != NULL && why[0] != '\0')
			snprintf(err, errlen,
			         "journal head, record %llu in %s: %s",
			         (unsigned long long)seq, names[i].name, why);
		if (rc == WW_OK) {
			j->head.seq = seq;
			memcpy(j->head.hash, f.hash, RECORD_HASH_LEN);
			j->head.since_cp =
			    f.kind == WW__KIND__CHECKPOINT ? 0 : 1;
			j->seg = s;
			s = NULL;
		}
		if (txn != NULL)
			mdb_txn_abort(txn);
		segment_close(s);
		break;
	}
	free(names);
	return rc == WW_ENOTFOUND ? WW_OK : rc;
}

static int
journal_path(const struct journal *j, const char *file, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", j->dir, file);

	return n < 0 || (size_t)n >= len ? WW_EINVAL : WW_OK;
}

/* Keys: the digest key, the signing key and its public half. */
static int
journal_keys(struct journal *j, char *err, size_t errlen)
{
	char path[4096];
	uint8_t pub[SIGNKEY_PUB_LEN];
	int rc;

	if ((rc = journal_path(j, "journal.key", path, sizeof(path))) != WW_OK)
		return rc;
	rc = secret_load_or_create(path, &j->secret, err, errlen);
	if (rc != WW_OK)
		return rc;
	if ((rc = journal_path(j, "signing.key", path, sizeof(path))) != WW_OK)
		return rc;
	rc = signkey_load_or_create(path, &j->key, err, errlen);
	if (rc != WW_OK)
		return rc;
	if ((rc = journal_path(j, "signing.pub", path, sizeof(path))) != WW_OK)
		return rc;
	if (signkey_read_public(path, pub, NULL, 0) != WW_OK ||
	    memcmp(pub, signkey_public(j->key), sizeof(pub)) != 0) {
		rc = signkey_write_public(signkey_public(j->key), path);
		if (rc != WW_OK)
			journal_errf(err, errlen, path, "cannot write");
	}
	return rc;
}

/* One writer per journal directory, across processes. */
static int
journal_lock(struct journal *j, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	if ((rc = journal_path(j, "writer.lock", path, sizeof(path))) != WW_OK)
		return rc;
	j->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lock_fd < 0) {
		journal_errf(err, errlen, path, strerror(errno));
		return segment_err(errno);
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		journal_errf(err, errlen, j->dir,
		             "another process writes this journal");
		return WW_EEXIST;
	}
	return WW_OK;
}

static int
journal_init(struct journal *j, const struct journal_opts *opts)
{
	j->lock_fd = -1;
	j->qtail = &j->q;
	j->sync = opts->sync;
	j->cp_every = opts->checkpoint_every ? opts->checkpoint_every : 10000;
	j->cp_ns =
	    (int64_t)(opts->checkpoint_secs ? opts->checkpoint_secs : 60) *
	    1000000000;
	j->max_blob = opts->max_blob_bytes ? opts->max_blob_bytes : 20u << 20;
	j->map_size = opts->map_size ? opts->map_size : 64u << 20;
	j->clock_ns = opts->clock_ns;
	j->clock_arg = opts->clock_arg;
	j->delay_ns = (int64_t)opts->commit_delay_us * 1000;
	j->dir = strdup(opts->path);
	j->gateway_id = strdup(opts->gateway_id ? opts->gateway_id : "");
	if (opts->checkpoint_file != NULL)
		j->ckpt_file = strdup(opts->checkpoint_file);
	if (j->dir == NULL || j->gateway_id == NULL ||
	    (opts->checkpoint_file != NULL && j->ckpt_file == NULL))
		return WW_ENOMEM;
	return chain_hasher_new(&j->hasher);
}

static int
journal_start(struct journal *j)
{
	pthread_condattr_t ca;
	int rc = WW_ENOMEM;

	if (pthread_condattr_init(&ca) != 0)
		return WW_ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&j->mu, NULL) != 0)
		goto out;
	if (pthread_cond_init(&j->cv, &ca) != 0) {
		pthread_mutex_destroy(&j->mu);
		goto out;
	}
	if (pthread_cond_init(&j->done_cv, NULL) != 0) {
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		goto out;
	}
	j->last_cp_mono = journal_mono_ns();
	atomic_store(&j->healthy, 1);
	if (pthread_create(&j->thread, NULL, journal_writer, j) != 0) {
		pthread_cond_destroy(&j->done_cv);
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		goto out;
	}
	j->started = 1;
	rc = WW_OK;
out:
	pthread_condattr_destroy(&ca);
	return rc;
}

static void
journal_free(struct journal *j)
{
	segment_close(j->seg);
	free(j->lines);
	chain_hasher_free(j->hasher);
	signkey_free(j->key);
	secret_free(j->secret);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	free(j->ckpt_file);
	free(j->gateway_id);
	free(j->dir);
	free(j);
}

int
journal_open(const struct journal_opts *opts, struct journal **out, char *err,
             size_t errlen)
{
	struct journal *j;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (opts == NULL || opts->path == NULL || *opts->path == '\0') {
		journal_errf(err, errlen, "journal", "no directory given");
		return WW_EINVAL;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return WW_ENOMEM;
	rc = journal_init(j, opts);
	if (rc == WW_OK && segment_period_parse(opts->segment, &j->period)) {
		journal_errf(err, errlen, opts->segment,
		             "segment period must be month, day or none");
		rc = WW_EINVAL;
	}
	if (rc == WW_OK && mkdir(j->dir, 0750) != 0 && errno != EEXIST) {
		journal_errf(err, errlen, j->dir, strerror(errno));
		rc = segment_err(errno);
	}
	if (rc == WW_OK)
		rc = journal_lock(j, err, errlen);
	if (rc == WW_OK)
		rc = journal_keys(j, err, errlen);
	if (rc == WW_OK && segment_sync_dir(j->dir) != WW_OK) /* new keys */
		log_warn("journal: cannot sync %s", j->dir);
	if (rc == WW_OK)
		rc = journal_load_head(j, err, errlen);
	if (rc == WW_OK)
		rc = journal_start(j);
	if (rc != WW_OK) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			journal_errf(err, errlen, opts->path, ww_strerror(rc));
		journal_free(j);
		return rc;
	}
	*out = j;
	return WW_OK;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->closing = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	atomic_store(&j->healthy, 0);
	pthread_cond_destroy(&j->done_cv);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	journal_free(j);
}

/*
 * Queue it; j->mu must not be held.  WW_ECLOSED once closing.  With a
 * commit delay the writer already waits for the queued batch's deadline,
 * so only the first item (it starts the clock) or a full batch wakes it.
 */
static int
journal_enqueue(struct journal *j, struct jitem *it)
{
	int wake;

	pthread_mutex_lock(&j->mu);
	if (j->closing) {
		pthread_mutex_unlock(&j->mu);
		return WW_ECLOSED;
	}
	wake = j->delay_ns == 0 || j->q == NULL ||
	       j->q_len + 1 >= JOURNAL_BATCH_MAX;
	if (j->q == NULL && j->delay_ns > 0) {
		j->q_since = journal_mono_ns();
		j->q_busy = j->committing;
	}
	*j->qtail = it;
	j->qtail = &it->next;
	j->q_len++;
	if (wake)
		pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return WW_OK;
}

int
journal_append_take(struct journal *j, Ww__Record *rec, journal_done_cb done_cb,
                    void *arg)
{
	struct jitem *it;
	int rc;

	/* Checkpoints are the writer's alone: only it holds the key. */
	if (j == NULL || rec == NULL || rec->kind == WW__KIND__CHECKPOINT ||
	    rec->kind == WW__KIND__KIND_UNSPECIFIED) {
		record_free(rec);
		return WW_EINVAL;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		record_free(rec);
		return WW_ENOMEM;
	}
	it->rec = rec;
	it->cb = done_cb;
	it->arg = arg;
	rc = journal_enqueue(j, it);
	if (rc != WW_OK) {
		record_free(rec);
		free(it);
	}
	return rc;
}

const struct secret *
journal_secret(const struct journal *j)
{
	return j->secret;
}

int
journal_put_blob(struct journal *j, const void *data, size_t len,
                 unsigned char sha256[32])
{
	struct jitem it;
	int rc;

	if (EVP_Digest(data, len, sha256, NULL, EVP_sha256(), NULL) != 1)
		return WW_ECRYPTO;
	if (len > j->max_blob)
		return WW_ELIMIT;
	memset(&it, 0, sizeof(it));
	it.blob = data;
	it.bloblen = len;
	it.sha = sha256;
	rc = journal_enqueue(j, &it);
	if (rc != WW_OK)
		return rc;
	pthread_mutex_lock(&j->mu);
	while (!it.done)
		pthread_cond_wait(&j->done_cv, &j->mu);
	rc = it.rc;
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int
journal_healthy(const struct journal *j)
{
	return j != NULL && atomic_load(&((struct journal *)j)->healthy);
}
