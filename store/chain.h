/*
 * chain.h: the journal's hash chain, seen at the wire level.
 *
 * A stored record is its protobuf encoding with the hash field left empty,
 * followed by a fixed 35-byte trailer that encodes field 31 (hash): tag
 * 0xFA 0x01, length 0x20 and the 32 hash bytes.  That is exactly what
 * protobuf-c produces for the full record while 31 is the highest field
 * number, and any protobuf reader accepts it regardless.  So
 *
 *	hash = SHA-256(prev_hash || stored bytes before the trailer)
 *
 * can be recomputed from the stored bytes without unpacking or re-packing,
 * which keeps verify fast and makes the hash cover exactly what is stored.
 *
 * chain_parse() reads the few top-level fields the chain needs straight from
 * the wire, without allocating; it is the reader of untrusted journal bytes
 * in verify and is fuzzed (tests/fuzz/fuzz_record.c).
 */
#ifndef WW_CHAIN_H
#define WW_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "store/record.h"

#define CHAIN_TRAILER_LEN 35
#define CHAIN_CHECKPOINT_TAG "wwgate-checkpoint-v1"
/* What a checkpoint signs: the tag, head_seq (big-endian) and head_hash. */
#define CHAIN_SIGNED_LEN                                                       \
	(sizeof(CHAIN_CHECKPOINT_TAG) - 1 + 8 + RECORD_HASH_LEN)
#define CHAIN_SIG_LEN 64
#define CHAIN_PUB_LEN 32

/* The top-level fields of a stored record that the chain needs. */
struct chain_fields {
	uint32_t schema;
	uint32_t kind;
	uint64_t seq;
	const uint8_t *prev_hash; /* into the buffer; prev_hash_len bytes */
	size_t prev_hash_len;
	const uint8_t *hash;       /* into the buffer; RECORD_HASH_LEN bytes */
	size_t hashed_len;         /* bytes before the trailer */
	const uint8_t *checkpoint; /* embedded Checkpoint, or NULL */
	size_t checkpoint_len;
	uint64_t request_seq; /* outcome.request_seq, 0 when none */
};

/*
 * Parse buf[0..len) as a stored record.  Pointers in f borrow buf.
 * WW_ECORRUPT with the reason in err when it is not a well-formed stored
 * record (bad wire format, wrong wire type for a known field, no trailer).
 */
int chain_parse(const uint8_t *buf, size_t len, struct chain_fields *f,
                char *err, size_t errlen);

struct chain_hasher; /* opaque: a reusable SHA-256 context */

int chain_hasher_new(struct chain_hasher **out); /* WW_OK, WW_ENOMEM */
void chain_hasher_free(struct chain_hasher *h);

/* out = SHA-256(prev || data[0..len)).  WW_OK or WW_ECRYPTO. */
int chain_hash(struct chain_hasher *h, const uint8_t prev[RECORD_HASH_LEN],
               const uint8_t *data, size_t len, uint8_t out[RECORD_HASH_LEN]);

/* Write the 35-byte trailer carrying hash into dst. */
void chain_trailer(uint8_t *dst, const uint8_t hash[RECORD_HASH_LEN]);

/* Sequence numbers as LMDB keys: 8 bytes big-endian, so key order = seq. */
void chain_key(uint64_t seq, uint8_t key[8]);
uint64_t chain_key_seq(const uint8_t key[8]);

/* The bytes a checkpoint signs (CHAIN_SIGNED_LEN). */
void chain_signed_msg(uint64_t head_seq, const uint8_t hash[RECORD_HASH_LEN],
                      uint8_t out[CHAIN_SIGNED_LEN]);

/*
 * A checkpoint as one line of text, for the log and the external
 * checkpoints file:
 *   wwgate-checkpoint-v1 seq=S head_seq=H head_hash=HEX sig=HEX key=HEX
 * seal=0|1 seq is the CHECKPOINT record's own sequence number; it signs
 * head_seq, the record before it.
 */
struct chain_line {
	uint64_t seq;
	uint64_t head_seq;
	uint8_t head_hash[RECORD_HASH_LEN];
	uint8_t sig[CHAIN_SIG_LEN];
	uint8_t pub[CHAIN_PUB_LEN];
	int seal;
};

#define CHAIN_LINE_MAX 400

/* Format l into buf (CHAIN_LINE_MAX bytes, no newline). */
void chain_line_format(const struct chain_line *l, char buf[CHAIN_LINE_MAX]);

/*
 * Parse a line.  Lines without the tag (log noise, comments, blank) give
 * WW_ENOTFOUND; a line with the tag that does not parse gives WW_EPARSE
 * with the reason in err.  The tag may be preceded by anything and the
 * fields end at a '"', so a log file (plain or JSON lines) can serve as a
 * checkpoints file.
 */
int chain_line_parse(const char *s, size_t len, struct chain_line *l, char *err,
                     size_t errlen);

/* Lower-case hex of buf into out (2 * len + 1 bytes). */
void chain_hex(const uint8_t *buf, size_t len, char *out);

#endif
