/* test_chain.c: the wire-level record reader and checkpoint lines. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "store/chain.h"
#include "store/record.h"

/* A stored value for a small record: packed + trailer. */
static uint8_t *
stored(uint64_t seq, size_t *len, size_t extra)
{
	Ww__Record *rec = record_new(WW__KIND__OUTCOME);
	Ww__Outcome *o = malloc(sizeof(*o));
	uint8_t prev[RECORD_HASH_LEN] = {1}, hash[RECORD_HASH_LEN] = {2};
	uint8_t *packed, *buf;
	size_t plen;

	assert_non_null(rec);
	assert_non_null(o);
	ww__outcome__init(o);
	o->request_seq = 77;
	rec->outcome = o;
	rec->seq = seq;
	assert_int_equal(record_set_bytes(&rec->prev_hash, prev, sizeof(prev)),
	                 WW_OK);
	assert_int_equal(record_pack(rec, &packed, &plen), WW_OK);
	record_free(rec);
	buf = calloc(1, plen + CHAIN_TRAILER_LEN + extra);
	assert_non_null(buf);
	memcpy(buf, packed, plen);
	chain_trailer(buf + plen, hash);
	free(packed);
	*len = plen + CHAIN_TRAILER_LEN + extra;
	return buf;
}

static void
test_parse_stored_record(void **state)
{
	struct chain_fields f;
	char err[128];
	size_t len;
	uint8_t *buf = stored(42, &len, 0);
	Ww__Record *rec;

	(void)state;
	assert_int_equal(chain_parse(buf, len, &f, err, sizeof(err)), WW_OK);
	assert_int_equal(f.seq, 42);
	assert_int_equal(f.kind, WW__KIND__OUTCOME);
	assert_int_equal(f.schema, RECORD_SCHEMA);
	assert_int_equal(f.request_seq, 77);
	assert_int_equal(f.prev_hash_len, RECORD_HASH_LEN);
	assert_int_equal(f.hashed_len + CHAIN_TRAILER_LEN, len);
	assert_int_equal(f.hash[0], 2);
	/* Any protobuf reader takes the trailer as field 31. */
	assert_int_equal(record_unpack(buf, len, &rec, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(rec->hash.len, RECORD_HASH_LEN);
	assert_int_equal(rec->hash.data[0], 2);
	record_free(rec);
	free(buf);
}

static void
test_parse_refuses_malformed(void **state)
{
	struct chain_fields f;
	char err[128];
	size_t len;
	uint8_t *buf = stored(1, &len, 3);

	(void)state;
	/* Bytes after the trailer: the hash is not last. */
	buf[len - 3] = 0x08;
	buf[len - 2] = 0x01;
	assert_int_equal(chain_parse(buf, len - 1, &f, err, sizeof(err)),
	                 WW_ECORRUPT);
	/* Cut inside the trailer. */
	assert_int_equal(chain_parse(buf, len - 10, &f, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_int_equal(chain_parse(buf, 3, &f, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_non_null(strstr(err, "too short"));
	/* seq (field 3) as a length-delimited field. */
	buf[0] = (3 << 3) | 2;
	assert_int_equal(chain_parse(buf, len - 3, &f, err, sizeof(err)),
	                 WW_ECORRUPT);
	free(buf);
}

static void
test_keys_sort_by_seq(void **state)
{
	uint8_t a[8], b[8];

	(void)state;
	chain_key(255, a);
	chain_key(256, b);
	assert_true(memcmp(a, b, 8) < 0);
	assert_int_equal(chain_key_seq(b), 256);
	chain_key(UINT64_MAX, a);
	assert_int_equal(chain_key_seq(a), UINT64_MAX);
}

static void
test_checkpoint_lines(void **state)
{
	struct chain_line l, back;
	char buf[CHAIN_LINE_MAX], wrapped[CHAIN_LINE_MAX + 100], err[128];

	(void)state;
	memset(&l, 0, sizeof(l));
	l.seq = 11;
	l.head_seq = 10;
	memset(l.head_hash, 0xab, sizeof(l.head_hash));
	memset(l.sig, 0xcd, sizeof(l.sig));
	memset(l.pub, 0xef, sizeof(l.pub));
	l.seal = 1;
	chain_line_format(&l, buf);
	assert_int_equal(
	    chain_line_parse(buf, strlen(buf), &back, err, sizeof(err)), WW_OK);
	assert_memory_equal(&l, &back, sizeof(l));
	/* As a plain log line and inside a JSON log line. */
	snprintf(wrapped, sizeof(wrapped),
	         "2026-11-25T00:00:00Z wwgate[info]: journal checkpoint: %s\n",
	         buf);
	assert_int_equal(
	    chain_line_parse(wrapped, strlen(wrapped), &back, err, sizeof(err)),
	    WW_OK);
	assert_memory_equal(&l, &back, sizeof(l));
	snprintf(wrapped, sizeof(wrapped), "{\"msg\":\"%s\"}", buf);
	assert_int_equal(
	    chain_line_parse(wrapped, strlen(wrapped), &back, err, sizeof(err)),
	    WW_OK);
	assert_memory_equal(&l, &back, sizeof(l));
	/* Noise, damage, missing fields. */
	assert_int_equal(chain_line_parse("hello", 5, &back, err, sizeof(err)),
	                 WW_ENOTFOUND);
	buf[strlen(CHAIN_CHECKPOINT_TAG) + 5] = 'x'; /* seq=1x */
	assert_int_equal(
	    chain_line_parse(buf, strlen(buf), &back, err, sizeof(err)),
	    WW_EPARSE);
	assert_int_equal(chain_line_parse(CHAIN_CHECKPOINT_TAG " seq=3",
	                                  strlen(CHAIN_CHECKPOINT_TAG " seq=3"),
	                                  &back, err, sizeof(err)),
	                 WW_EPARSE);
	assert_non_null(strstr(err, "missing"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_stored_record),
	    cmocka_unit_test(test_parse_refuses_malformed),
	    cmocka_unit_test(test_keys_sort_by_seq),
	    cmocka_unit_test(test_checkpoint_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
