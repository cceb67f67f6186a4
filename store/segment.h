/*
 * segment.h: one LMDB environment of the journal (store-internal).
 *
 * The journal directory holds one subdirectory per segment, named
 * "FIRST-LABEL": FIRST is the 20-digit sequence number of the segment's
 * first record (so name order = sequence order whatever the period) and
 * LABEL its period ("2026-11", "2026-11-25" or "all").  Each is an LMDB
 * environment with these named sub-databases, written in one transaction:
 *
 *   records    seq (be64)            -> stored record (chain.h)
 *   sender     sender id             -> seq (be64), duplicates sorted
 *   recipient  recipient id (*)      -> seq
 *   chat       chat id               -> seq
 *   time       time_ns (be64)        -> seq
 *   outcome    request seq (be64)    -> OUTCOME seq (be64)
 *   blobs      SHA-256               -> blob bytes
 *
 * (*) users, external users, customer-service ids and mentioned ids as
 * they are; "party:ID", "tag:ID"; "@all" for messages to everyone.
 * Index keys longer than LMDB's key limit are cut to SEGMENT_KEY_MAX bytes.
 *
 * struct segment is shared by journal.c (writer) and journal_reader.c; it
 * is not part of any public interface.
 */
#ifndef WW_SEGMENT_H
#define WW_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#define SEGMENT_LABEL_MAX 16
#define SEGMENT_NAME_MAX 48
#define SEGMENT_KEY_MAX 511

enum segment_period {
	SEGMENT_MONTH = 0,
	SEGMENT_DAY,
	SEGMENT_NONE,
};

enum segment_index {
	SEGMENT_IDX_SENDER = 0,
	SEGMENT_IDX_RECIPIENT,
	SEGMENT_IDX_CHAT,
	SEGMENT_IDX_TIME,
	SEGMENT_IDX_COUNT,
};

struct segment_name {
	uint64_t first;
	char label[SEGMENT_LABEL_MAX];
	char name[SEGMENT_NAME_MAX];
};

struct segment {
	MDB_env *env;
	MDB_dbi records;
	MDB_dbi idx[SEGMENT_IDX_COUNT];
	MDB_dbi outcome;
	MDB_dbi blobs;
	int dbs_open; /* the dbis above are valid */
	int rdonly;
	long long file_size; /* writer: data file size last seen (prealloc) */
	struct segment_name name;
};

/* "month" (or NULL/""), "day", "none".  WW_EINVAL otherwise. */
int segment_period_parse(const char *s, enum segment_period *out);

/* The label of the period that contains time_ns (UTC). */
void segment_label(enum segment_period p, int64_t time_ns,
                   char out[SEGMENT_LABEL_MAX]);

/* Fill name for a segment starting at first in period label. */
void segment_name_make(uint64_t first, const char *label,
                       struct segment_name *name);

/*
 * The segments in dir, sorted by first sequence number (*out malloc'ed,
 * *n entries; empty when dir has none).  WW_ENOTFOUND when dir is missing.
 */
int segment_list(const char *dir, struct segment_name **out, size_t *n);

/*
 * Open (rdonly: read-only, else creating the directory and databases) the
 * segment name in dir.  env_flags are added to the LMDB flags; mapsize 0
 * keeps the environment's own.  A read-only open that may not use the
 * lock file (EACCES, EROFS: an archived copy) reads without it.
 */
int segment_open(const char *dir, const struct segment_name *name, int rdonly,
                 unsigned env_flags, size_t mapsize, struct segment **out,
                 char *err, size_t errlen);
void segment_close(struct segment *s);

/*
 * Begin a transaction (read-only when rdonly), adopting a map that another
 * process grew.  For read-only segments whose databases do not exist yet
 * (nothing committed) returns WW_ENOTFOUND.
 */
int segment_begin(struct segment *s, int rdonly, MDB_txn **txn);

/* Double the map size.  No transaction of this process may be open. */
int segment_grow(struct segment *s);

/*
 * Keep at least ahead/2 bytes of zero-filled file beyond what LMDB uses,
 * extending by ahead when short.  A commit that stays inside allocated,
 * initialized blocks makes fdatasync a pure data flush; one that grows the
 * file also waits for a filesystem journal commit (ext4), which under
 * other I/O costs milliseconds.  Writer only, outside transactions.
 */
int segment_prealloc(struct segment *s, size_t ahead);

/* The last record (seq and value borrowed from txn); WW_ENOTFOUND if none. */
int segment_last(struct segment *s, MDB_txn *txn, uint64_t *seq, MDB_val *val);

/* fsync a directory, so entries created in it survive a crash. */
int segment_sync_dir(const char *path);

/* An LMDB or errno code as WW_E*. */
int segment_err(int mdb_rc);

#endif
