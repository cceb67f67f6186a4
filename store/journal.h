/*
 * journal.h: the tamper-evident LMDB journal (DESIGN.md, "The journal").
 *
 * One writer thread owns the LMDB write transaction.  Any thread hands it
 * records with journal_append_take(); the writer batches everything pending
 * into one transaction and one fsync (group commit), assigns sequence
 * numbers, chains hashes, and then calls each record's done callback.
 * Readers (struct journal_reader) use read transactions and never block the
 * writer; they work while a gateway is writing.
 *
 * On disk (see store/segment.h and store/chain.h): one LMDB environment per
 * segment under opts->path, plus journal.key (digest key), signing.key
 * (Ed25519, PEM), signing.pub ("ed25519 HEX", for auditors) and writer.lock
 * (one writer per journal).  LMDB allows an environment to be opened only
 * once per process: open readers from another process than the writer
 * (wwjournal), or after journal_close().
 */
#ifndef WW_JOURNAL_H
#define WW_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "store/record.h"
#include "store/secret.h"

struct journal;        /* opaque: an open journal (writer side) */
struct journal_reader; /* opaque: a read-only view */

enum journal_sync {
	JOURNAL_SYNC_FULL = 0, /* fsync every batch before reporting it */
	JOURNAL_SYNC_NONE,     /* no fsync: benchmarks only */
};

struct journal_opts {
	const char *path; /* directory; created if missing */
	enum journal_sync sync;
	const char *gateway_id;    /* stamped on every record */
	const char *segment;       /* "month" (default), "day", "none" */
	uint64_t checkpoint_every; /* records between checkpoints (0: 10000) */
	unsigned checkpoint_secs;  /* seconds between checkpoints (0: 60) */
	const char *checkpoint_file; /* also append checkpoints here, or NULL */
	size_t max_blob_bytes;       /* per blob cap; 0: 20 MiB */
	size_t map_size;             /* initial LMDB map size; 0: 64 MiB */
	/*
	 * Tests only: the wall clock (ns since the epoch) stamped as time_ns
	 * and used to pick the segment period; called on the writer thread.
	 * NULL: CLOCK_REALTIME.
	 */
	int64_t (*clock_ns)(void *arg);
	void *clock_arg;
	/*
	 * Group commit delay: when the writer is busy (its last commit was
	 * still running when a batch's first record came), that batch is
	 * committed this long after its first record was queued (at once
	 * when 4096 records wait, or on close), so that more records share
	 * one commit and its two device flushes: less writer CPU per record
	 * under load, up to this much more latency for each.  An idle writer
	 * commits at once.  Durability is unchanged: done_cb still runs only
	 * after the commit.  0 (the default): commit as soon as the writer
	 * is free.
	 */
	unsigned commit_delay_us;
};

/*
 * Called once per appended record, on the writer thread, after the record
 * is durable (rc == WW_OK, seq its sequence number) or has failed (rc < 0,
 * seq 0).  It must be quick: hand the result to the caller's own thread.
 */
typedef void (*journal_done_cb)(int rc, uint64_t seq, void *arg);
/* (From a done_cb, never call journal_put_blob() or journal_close(): they
 * wait for the writer thread, which is the one running the callback.) */

/*
 * Open (creating if needed) the journal in opts->path and start its writer
 * thread.  Creates the digest key (journal.key) and the Ed25519 signing key
 * (signing.key) with mode 0600 on first open; refuses key files that group
 * or others can read (WW_EPERM).  Errors are explained in err.
 */
int journal_open(const struct journal_opts *opts, struct journal **out,
                 char *err, size_t errlen);

/*
 * Flush everything pending, write a checkpoint, stop the writer and close.
 * journal_close(NULL) is a no-op.
 */
void journal_close(struct journal *j);

/*
 * Queue rec for the next group commit.  Takes rec: it is freed on every
 * path (after done_cb has run).  The writer fills seq, time, gateway id,
 * prev_hash and hash.  done_cb may be NULL.  Returns WW_OK (done_cb will
 * run exactly once), WW_ECLOSED or WW_ENOMEM (done_cb will not run).
 * Append failures (disk full: WW_ENOSPC, I/O: WW_EIO) arrive in done_cb.
 * WW_EINVAL (no done_cb) for a CHECKPOINT or kindless record: checkpoints
 * are written by the writer only.  A record too big to store on its own
 * (RECORD_MAX_PACKED) fails alone with WW_ELIMIT in done_cb.  Callbacks of
 * one batch run in queue order; journal_close() runs every pending one.
 */
int journal_append_take(struct journal *j, Ww__Record *rec,
                        journal_done_cb done_cb, void *arg);

/* The digest key (borrowed; lives as long as j). */
const struct secret *journal_secret(const struct journal *j);

/*
 * Store a blob (e.g. an uploaded file) content-addressed by its SHA-256
 * (deduplicated).  Blobs over max_blob_bytes are not stored (WW_ELIMIT);
 * the caller keeps the hash in the record.  Synchronous and durable.
 * (The blob rides in the next group commit; the calling thread blocks
 * until then.  Deduplication is per segment.)
 */
int journal_put_blob(struct journal *j, const void *data, size_t len,
                     unsigned char sha256[32]);

/* Writable right now (last commit succeeded, not closed)? 1 or 0. */
int journal_healthy(const struct journal *j);

/*
 * Open a reader on the journal in dir.  Errors explained in err.  A reader
 * is used by one thread at a time; it picks up segments the writer creates
 * later by itself.
 */
int journal_reader_open(const char *dir, struct journal_reader **out, char *err,
                        size_t errlen);
void journal_reader_close(struct journal_reader *r);

/*
 * Fetch one record by sequence number.  *out is a new record (record_free).
 * WW_ENOTFOUND, or WW_ECORRUPT / WW_EVERSION with the reason in err.
 */
int journal_get(struct journal_reader *r, uint64_t seq, Ww__Record **out,
                char *err, size_t errlen);

/* Find the OUTCOME record that answers request seq (WW_ENOTFOUND if none). */
int journal_get_outcome(struct journal_reader *r, uint64_t request_seq,
                        Ww__Record **out, char *err, size_t errlen);

/*
 * Visit records with first <= seq <= last (last 0: to the head) in order.
 * cb returns 0 to go on, non-zero to stop (that value is returned).  A
 * record that cannot be read is passed as rec == NULL with its seq and the
 * reason in err, so the caller decides.  rec is borrowed for the call.
 */
typedef int (*journal_visit_cb)(uint64_t seq, const Ww__Record *rec,
                                const char *err, void *arg);
int journal_scan(struct journal_reader *r, uint64_t first, uint64_t last,
                 journal_visit_cb cb, void *arg);

/* The highest sequence number (0 when empty). */
int journal_head(struct journal_reader *r, uint64_t *seq);

/* What journal_verify() found. */
struct journal_verify_result {
	uint64_t records;     /* records checked */
	uint64_t checkpoints; /* checkpoint signatures verified */
	uint64_t bytes;       /* record bytes hashed */
	uint64_t head_seq;
	unsigned char head_hash[RECORD_HASH_LEN];
	uint64_t bad_seq;         /* first bad sequence number, 0 if intact */
	char reason[256];         /* what is wrong at bad_seq */
	uint64_t outcome_unknown; /* requests without an OUTCOME record */
};

/* Progress: called now and then with records done and the total. */
typedef void (*journal_progress_cb)(uint64_t done, uint64_t total, void *arg);

/*
 * Recompute the whole hash chain and every checkpoint signature.  When
 * checkpoints_file is non-NULL, also prove against that external copy that
 * no record it covers was cut or altered.  Returns WW_OK when intact,
 * WW_ECORRUPT with res->bad_seq and res->reason when not.  A checkpoints
 * file that cannot be read (WW_ENOTFOUND), does not parse (WW_EPARSE) or
 * holds a line whose signature does not verify or whose key differs from
 * its first line's (WW_ECRYPTO) fails with res->bad_seq 0 and the reason.
 * Trust: the checkpoints file's key, else the one in DIR/signing.pub, else
 * the first checkpoint's.  Removing whole segments from the start
 * (retention) is not an error: the chain starts at the oldest remaining
 * segment.
 */
int journal_verify(struct journal_reader *r, const char *checkpoints_file,
                   journal_progress_cb progress, void *arg,
                   struct journal_verify_result *res);

/* The secondary indexes (store/segment.h says what goes in them). */
enum journal_index {
	JOURNAL_INDEX_SENDER = 0,
	JOURNAL_INDEX_RECIPIENT, /* ids as they are; "party:ID", "tag:ID",
	                            "@all" */
	JOURNAL_INDEX_CHAT,      /* chat_id and chat_ids */
};

/*
 * Visit, in sequence order and through the index (no full scan), the
 * records whose sender, recipient or chat is key.  cb as for
 * journal_scan(); returns 0, cb's non-zero value, or WW_E*.
 */
int journal_find(struct journal_reader *r, enum journal_index idx,
                 const char *key, journal_visit_cb cb, void *arg);

/*
 * The first record stamped at or after time_ns (ns since the epoch), from
 * the time index: *seq, or WW_ENOTFOUND when none is that recent.
 */
int journal_seq_at_time(struct journal_reader *r, int64_t time_ns,
                        uint64_t *seq);

/* Read a blob back.  *out malloc'ed.  WW_ENOTFOUND when not stored. */
int journal_get_blob(struct journal_reader *r, const unsigned char sha256[32],
                     uint8_t **out, size_t *outlen);

#endif
