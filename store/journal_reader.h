/*
 * journal_reader.h: what journal_reader.c shares with journal_verify.c
 * (store-internal; the public interface is journal.h).
 */
#ifndef WW_JOURNAL_READER_H
#define WW_JOURNAL_READER_H

#include <stddef.h>
#include <stdint.h>

#include <time.h>

#include <lmdb.h>

#include "store/chain.h"
#include "store/record.h"
#include "store/segment.h"

struct journal_reader {
	char *dir;
	struct segment **segs; /* sorted by first sequence number */
	size_t nsegs;
	struct chain_hasher *hasher;
	struct timespec dir_mtime; /* of dir when last listed */
	unsigned long dir_nlink;   /* subdirectories change it */
	time_t listed_at;          /* wall clock of that listing */
	int64_t listed_mono;       /* and monotonic, in ns */
	int listed;
};

/* Open segments created since the last call (the writer rolled). */
int journal_reader_refresh(struct journal_reader *r, char *err, size_t errlen);

/*
 * Unpack the stored value of record seq (key, val from LMDB) into a new
 * record; errors name the record in err.
 */
int journal_reader_unpack(uint64_t seq, const MDB_val *key, const MDB_val *val,
                          Ww__Record **out, char *err, size_t errlen);

#endif
